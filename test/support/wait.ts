/** Polling for what a test waits on: a process, a file, a line in a log. */

/** Resolves once `cond()` holds, checking every `everyMs`; throws naming `what` after `ms`. */
export async function waitFor(what: string, cond: () => boolean, ms = 10_000, everyMs = 50): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

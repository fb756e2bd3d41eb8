/**
 * `s6-rc -l LIVE -a list`: the atomic services s6-rc has up, one name a
 * line. The one reading of that list, for apply (which services to bring
 * back) and the admin commands (what is already running).
 */
import type { CommandResult, CommandRunner } from '../util/command-runner.js';

export type UpList =
  | { readonly ok: true; readonly up: Set<string> }
  /** `argv` failed: `result` says how, for the caller's message. */
  | { readonly ok: false; readonly argv: readonly string[]; readonly result: CommandResult };

/** `blocking`: -b, wait for s6-rc's lock rather than fail while a change holds it. */
export function upList(runner: CommandRunner, rc: string, live: string, blocking: boolean): UpList {
  const argv = [rc, '-l', live, ...(blocking ? ['-b'] : []), '-a', 'list'];
  const result = runner.run(argv);
  if (result.code !== 0) return { ok: false, argv, result };
  return { ok: true, up: new Set(result.stdout.split('\n').filter((l) => l !== '')) };
}

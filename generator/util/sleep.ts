/** Blocks the thread: for the synchronous commands (generate, apply, console before it attaches), which have nothing else to do meanwhile. */
export function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

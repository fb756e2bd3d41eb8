/**
 * What a step returns when it can fail: its value, or why not, in words the
 * user reads. Errors stay values until the CLI edge (command/shell.ts), so
 * the caller decides what a failure costs: a warning, undoing what it did,
 * or the exit code.
 */
export type Result<T, E = string> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: E };

export function ok<T>(value: T): Result<T, never> {
  return { ok: true, value };
}

export function fail<E>(error: E): Result<never, E> {
  return { ok: false, error };
}

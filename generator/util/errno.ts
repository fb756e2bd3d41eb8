/** The errno name of a failed system call (ENOENT, EACCES, ...), or undefined for any other error. */
export function errnoOf(e: unknown): string | undefined {
  return e instanceof Error && 'code' in e && typeof e.code === 'string' ? e.code : undefined;
}

/** An errno for every failure: one without is reported as an I/O error. */
export function errnoCode(e: unknown): string {
  return errnoOf(e) ?? 'EIO';
}

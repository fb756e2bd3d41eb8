/**
 * The failures a command reports as a one-line message and exit 2 (errors as
 * values end here): what scanning, templates and writing throw, and any failed
 * system call. Anything else is a bug and propagates with its stack.
 */
import { printable } from '../util/bytes.js';
import { errnoOf } from '../util/errno.js';
import { ScanError } from '../pipeline/scan.js';
import { TemplateError } from '../pipeline/templates.js';
import { WriteError } from '../pipeline/write-tree.js';

/** A failure whose command says it in one line and exits with its own code (usage, apply, admin). */
export class CommandError extends Error {
  constructor(message: string, readonly exitCode: number) {
    super(message);
  }
}

/**
 * Says `e` on `err` as one line and returns the exit code: a CommandError's
 * own, `fallback` for the failures failureMessage knows. Anything else is a
 * bug and is rethrown with its stack.
 */
export function reportFailure(e: unknown, err: (s: string) => void, fallback: number): number {
  if (e instanceof CommandError) {
    err(`vmsvc: ${e.message}\n`);
    return e.exitCode;
  }
  const message = failureMessage(e);
  if (message === null) throw e;
  err(message);
  return fallback;
}

export function failureMessage(e: unknown): string | null {
  if (e instanceof ScanError || e instanceof WriteError || e instanceof TemplateError) return `vmsvc: ${printable(e.message)}\n`;
  if (e instanceof Error && errnoOf(e) !== undefined) return `vmsvc: I/O error: ${printable(e.message)}\n`;
  return null;
}

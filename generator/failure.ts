/**
 * The failures a command reports as a one-line message and exit 2 (errors as
 * values end here): what scanning, templates and writing throw, and any failed
 * system call. Anything else is a bug: still one line and exit 2, because a
 * stack trace on a user's terminal or in the boot log explains nothing to the
 * user; VMSVC_DEBUG=1 adds the stack for whoever debugs it.
 */
import { printable } from './bytes.js';
import { errnoOf } from './errno.js';
import { ScanError } from './scan.js';
import { TemplateError } from './templates.js';
import { WriteError } from './write-tree.js';

/** A failure whose command says it in one line and exits with its own code (usage, apply, admin). */
export class CommandError extends Error {
  constructor(message: string, readonly exitCode: number) {
    super(message);
  }
}

/**
 * Says `e` on `err` as one line and returns the exit code: a CommandError's
 * own, `fallback` for the failures failureMessage knows, and 2 for a bug
 * (internalErrorMessage).
 */
export function reportFailure(e: unknown, err: (s: string) => void, fallback: number): number {
  if (e instanceof CommandError) {
    err(`vmsvc: ${e.message}\n`);
    return e.exitCode;
  }
  const message = failureMessage(e);
  if (message === null) {
    err(internalErrorMessage(e, process.env['VMSVC_DEBUG'] === '1'));
    return INTERNAL_ERROR_EXIT;
  }
  err(message);
  return fallback;
}

/** Usage or I/O error: 1 would mean "invalid configuration", which a bug is not. */
export const INTERNAL_ERROR_EXIT = 2;

/** One line naming the error, or with `debug` the stack trace after it. */
export function internalErrorMessage(e: unknown, debug: boolean): string {
  const what = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  const line = `vmsvc: internal error: ${printable(what)} (a bug in vmsvc; VMSVC_DEBUG=1 shows where)\n`;
  if (!debug || !(e instanceof Error) || e.stack === undefined) return line;
  return `${line}${e.stack.split('\n').map(printable).join('\n')}\n`;
}

export function failureMessage(e: unknown): string | null {
  if (e instanceof ScanError || e instanceof WriteError || e instanceof TemplateError) return `vmsvc: ${printable(e.message)}\n`;
  if (e instanceof Error && errnoOf(e) !== undefined) return `vmsvc: I/O error: ${printable(e.message)}\n`;
  return null;
}

/**
 * The failures a command reports as a one-line message and exit 2 (errors as
 * values end here): what scanning, templates and writing throw, and any failed
 * system call. Anything else is a bug and propagates with its stack.
 */
import { errnoOf } from './errno.js';
import { ScanError } from './scan.js';
import { TemplateError } from './templates.js';
import { WriteError } from './write-tree.js';

export function failureMessage(e: unknown): string | null {
  if (e instanceof ScanError || e instanceof WriteError || e instanceof TemplateError) return `vmsvc: ${e.message}\n`;
  if (e instanceof Error && errnoOf(e) !== undefined) return `vmsvc: I/O error: ${e.message}\n`;
  return null;
}

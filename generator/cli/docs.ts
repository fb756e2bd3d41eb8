/**
 * Where each command is documented: the page of doc/ (with the anchor of its
 * section) that its --help names, and what its exit code 1 means there. One
 * table each, so that a new command gets a page and its exit codes with its
 * declaration; test/unit/docs-links.test.ts checks that every page and
 * anchor here exists.
 */
import { EXIT } from '../command/shell.js';

/** Every command vmsvc has, as yargs declares it (yargs.ts). */
export const COMMAND_DOCS = {
  check: 'doc/commands.md#checks',
  generate: 'doc/commands.md#output-guarantees',
  apply: 'doc/boot-and-apply.md',
  'check-s6rc': 'doc/commands.md#overview',
  ls: 'doc/commands.md#overview',
  show: 'doc/commands.md#overview',
  graph: 'doc/commands.md#overview',
  start: 'doc/commands.md#overview',
  stop: 'doc/commands.md#overview',
  restart: 'doc/commands.md#overview',
  console: 'doc/commands.md#overview',
  logs: 'doc/commands.md#vmsvc-logs',
} as const;

export type DocumentedCommand = keyof typeof COMMAND_DOCS;

/** The top-level --help's pointer: the README, which links every page of doc/. */
export const TOP_DOCS = 'Docs: README.md, and doc/ (each command\'s --help names its page)';

/** What exit 1 says for each command: what it checked or asked for is not fine. */
const NOT_FINE: Readonly<Record<DocumentedCommand, string>> = {
  check: 'errors found',
  generate: 'invalid VMs, nothing written (without --keep-going)',
  apply: 's6-rc-compile refused the tree, the host cannot run apply, services or VMs did not come up (the database is loaded), or a running VM is held on its last good definition (its new one is invalid)',
  'check-s6rc': 'problems s6-rc-compile would reject',
  ls: 'no live system on the scandir, or a tree vmsvc did not write',
  show: 'a tree vmsvc did not write',
  graph: 'a tree vmsvc did not write',
  start: 'some did not come up, or a VM was skipped',
  stop: 'some did not go down, or a VM was skipped',
  restart: 'some did not come back up, or a VM was skipped',
  console: 'no console socket, or it is in use or refused',
  logs: 'no log yet, or a log or tree vmsvc did not write',
};

/** The exit codes every command shares (EXIT), `notFine` saying what 1 means. */
export function exitCodes(notFine: string): string {
  return `Exit codes: ${EXIT.ok} ok (warnings allowed), ${EXIT.failed} ${notFine}, ${EXIT.usage} wrong usage, `
    + `${EXIT.system} could not do it (a program failed, I/O error, disk full, a limit refused, a bug).`;
}

/** A command's --help epilogue: its exit codes and its page. */
export function commandDocs(command: DocumentedCommand): string {
  return `${exitCodes(NOT_FINE[command])}\nDocs: ${COMMAND_DOCS[command]} (all pages: README.md)`;
}

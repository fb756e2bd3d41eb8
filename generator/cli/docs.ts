/**
 * Where each command is documented: the page of doc/ (with the anchor of its
 * section) that its --help names. One table, so that a new command gets a
 * page with its declaration; test/unit/docs-links.test.ts checks that every
 * page and anchor here exists.
 */

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

/** A command's --help pointer to its page. */
export function commandDocs(command: DocumentedCommand): string {
  return `Docs: ${COMMAND_DOCS[command]} (all pages: README.md)`;
}

/**
 * The exit codes doc/commands.md lists (Exit codes) are the code's EXIT
 * table (generator/command/shell.ts), and each command's --help names them
 * all: a code added, dropped or renumbered shows here before a boot script
 * reads it wrong.
 */
import test from 'ava';
import * as fs from 'node:fs';
import { EXIT } from '../../generator/command/shell.js';
import { COMMAND_DOCS, commandDocs, type DocumentedCommand } from '../../generator/cli/docs.js';

const PAGE = 'doc/commands.md';
const DOC = fs.readFileSync(new URL(`../../${PAGE}`, import.meta.url), 'utf8');

/** The codes of the "## Exit codes" section's list: its items that start with a bold number. */
function documentedCodes(): number[] {
  const start = DOC.indexOf('\n## Exit codes\n');
  if (start === -1) throw new Error(`${PAGE} has no "## Exit codes" section`);
  const end = DOC.indexOf('\n## ', start + 1);
  const section = DOC.slice(start, end === -1 ? undefined : end);
  return [...section.matchAll(/^- \*\*(\d+)\*\* /gm)].map((m) => Number(m[1]));
}

test(`${PAGE} lists exactly the EXIT table's codes, once each, in order`, (t) => {
  t.deepEqual(documentedCodes(), Object.values(EXIT).sort((a, b) => a - b));
});

test(`${PAGE} names the table it follows`, (t) => {
  t.true(DOC.includes('(`generator/command/shell.ts`, `EXIT`)'));
});

test('every command\'s --help epilogue names every exit code', (t) => {
  for (const command of Object.keys(COMMAND_DOCS) as DocumentedCommand[]) {
    const said = [...commandDocs(command).matchAll(/(?:Exit codes: |, )(\d+) /g)].map((m) => Number(m[1]));
    t.deepEqual(said, Object.values(EXIT).sort((a, b) => a - b), command);
  }
});

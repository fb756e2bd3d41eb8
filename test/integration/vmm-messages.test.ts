/**
 * `show` prints the last lines of the VM's VMM log (<log dir>/vmm/current,
 * which the log user writes), escaped, and in --json as written; a link or
 * a FIFO put there by the log user is refused, never followed or waited on.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { vmsvc } from '../support/cli.js';
import { dataDirWith } from '../support/data-dir.js';

function setup(t: { teardown(fn: () => void): void }) {
  const f = dataDirWith({ vm: {} });
  t.teardown(() => fs.rmSync(f.root, { recursive: true, force: true }));
  const logRoot = path.join(f.root, 'log');
  const out = path.join(f.root, 'out');
  const scandir = path.join(f.root, 'scan');
  fs.mkdirSync(scandir);
  const g = vmsvc(['generate', '--data', f.data, '--out', out, '--log-dir', logRoot]);
  if (g.code !== 0) throw new Error(g.stderr);
  const vmmDir = path.join(logRoot, 'vm', 'vmm');
  fs.mkdirSync(vmmDir, { recursive: true });
  const show = (json = false) => vmsvc(['show', 'vm', '--source', out, '--scandir', scandir, ...(json ? ['--json'] : [])]);
  return { root: f.root, vmmDir, show };
}

test('show: the last 5 lines of the VMM log, escaped on the terminal, as written in --json', (t) => {
  const s = setup(t);
  const none = s.show();
  t.is(none.code, 0, none.stderr);
  t.regex(none.stdout, /VMM messages \(the last 5, from .*\/vm\/vmm\/current\):\n {2}none\n/);
  const lines = Array.from({ length: 8 }, (_, i) => `2026-12-06 07:00:0${i}.000000000  cloud-hypervisor: error ${i}`);
  lines[7] = '2026-12-06 07:00:07.000000000  evil \x1b[2J';
  fs.writeFileSync(path.join(s.vmmDir, 'current'), `${lines.join('\n')}\n`);
  const r = s.show();
  t.is(r.code, 0, r.stderr);
  const shown = r.stdout.slice(r.stdout.indexOf('VMM messages'));
  t.is(shown.split('\n').slice(1, -1).join('\n'), [...lines.slice(3, 7), '2026-12-06 07:00:07.000000000  evil \\x1b[2J'].map((l) => `  ${l}`).join('\n'));
  t.false(r.stdout.includes('\x1b'));
  const j = JSON.parse(s.show(true).stdout) as { vmmMessages: { file: string; lines: string[] } };
  t.deepEqual(j.vmmMessages.lines, lines.slice(3));
});

test('show: a link or a FIFO at vmm/current is refused in one line, not followed or waited on', (t) => {
  const s = setup(t);
  const secret = path.join(s.root, 'secret');
  fs.writeFileSync(secret, 'root-only secret\n', { mode: 0o600 });
  fs.symlinkSync(secret, path.join(s.vmmDir, 'current'));
  const r = s.show();
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /unreadable: .*current is a symbolic link/);
  t.false(r.stdout.includes('root-only secret'));
  fs.rmSync(path.join(s.vmmDir, 'current'));
  execFileSync('mkfifo', [path.join(s.vmmDir, 'current')]);
  const fifo = s.show();
  t.regex(fifo.stdout, /unreadable: .*current is a FIFO/);
});

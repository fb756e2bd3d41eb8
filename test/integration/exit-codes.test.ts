/**
 * Each exit code of the EXIT table (generator/command/shell.ts), from the
 * real CLI: 0 ok, 1 what was checked is not fine, 100 wrong usage, 111 the
 * command could not do its job. A boot script tells a typo in its command
 * line from a host that failed by these alone, so each is asserted where a
 * user meets it, apply's through a real s6-svscan.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EXIT } from '../../generator/command/shell.js';
import { vmsvc } from '../support/cli.js';
import { dataDirWith, tempDir } from '../support/data-dir.js';
import { realS6rcTest } from '../support/real-s6rc.js';
import { waitFor } from '../support/wait.js';

function fixture(t: { teardown(fn: () => void): void }) {
  const f = dataDirWith({ vm: {} });
  t.teardown(() => fs.rmSync(f.root, { recursive: true, force: true }));
  return f;
}

test('0: a check that finds nothing wrong', (t) => {
  const { data } = fixture(t);
  const r = vmsvc(['check', '--data', data]);
  t.is(r.code, EXIT.ok, r.stderr);
  t.is(EXIT.ok, 0);
});

test('1: a check that finds errors, and generate refusing invalid VMs', (t) => {
  const { root, data } = fixture(t);
  fs.mkdirSync(path.join(data, 'nokernel', 'blk'), { recursive: true });
  const r = vmsvc(['check', '--data', data]);
  t.is(r.code, EXIT.failed, r.stderr);
  t.is(EXIT.failed, 1);
  const g = vmsvc(['generate', '--data', data, '--out', path.join(root, 'out')]);
  t.is(g.code, 1, g.stderr);
  t.regex(g.stderr, /nothing written/);
});

test('100: an unknown command or flag, a bad value, a missing argument', (t) => {
  const { root, data } = fixture(t);
  t.is(EXIT.usage, 100);
  for (const args of [
    ['frobnicate'],
    ['check', '--data', data, '--bogus'],
    ['check', '--data', data, '--memory', 'lots'],
    ['generate', '--data', data],
    ['apply', '--data', data, '--state', path.join(root, 'state'), '--scandir', path.join(root, 'scan'), '--rc-timeout', '0'],
  ]) {
    const r = vmsvc(args);
    t.is(r.code, 100, `${args.join(' ')}: ${r.stderr}`);
    t.regex(r.stderr, /^vmsvc: /, args.join(' '));
  }
  t.false(fs.existsSync(path.join(root, 'state')), 'apply did nothing');
});

test('111: a data dir that cannot be read, an out path another generate holds', (t) => {
  const { root, data } = fixture(t);
  t.is(EXIT.system, 111);
  const missing = vmsvc(['check', '--data', path.join(root, 'nope')]);
  t.is(missing.code, 111, missing.stderr);
  t.regex(missing.stderr, /cannot read data directory/);
  fs.writeFileSync(path.join(root, '.out.vmsvc-lock'), `${process.pid}\n`);
  const busy = vmsvc(['generate', '--data', data, '--out', path.join(root, 'out')]);
  t.is(busy.code, 111, busy.stderr);
  t.regex(busy.stderr, /is writing/);
});

const asRoot = process.getuid?.() === 0;

/** An s6-rc-compile that exits `code`, as the real one does when it refuses a tree (1) or fails otherwise (111). */
function compileExiting(dir: string, code: number): string {
  const file = path.join(dir, `s6-rc-compile-${code}`);
  fs.writeFileSync(file, `#!/bin/sh\necho "s6-rc-compile: fatal: exiting ${code}" >&2\nexit ${code}\n`, { mode: 0o755 });
  return file;
}

realS6rcTest(`apply: 1 when s6-rc-compile refuses the tree, 111 when it fails otherwise${asRoot ? '' : ' [skipped: needs root]'}`, async (t, s6rc) => {
  if (!asRoot) {
    t.pass();
    return;
  }
  const { root, data } = fixture(t);
  const scan = path.join(root, 'scan');
  fs.mkdirSync(scan);
  const svscan = spawn(s6rc.bin('s6-svscan'), [scan], { stdio: 'ignore' });
  t.teardown(() => svscan.kill('SIGKILL'));
  await waitFor('s6-svscan', () => fs.existsSync(path.join(scan, '.s6-svscan', 'control')));
  const state = path.join(tempDir(), 'state');
  t.teardown(() => fs.rmSync(path.dirname(state), { recursive: true, force: true }));
  const apply = (compile: string) => vmsvc(['apply', '--data', data, '--state', state, '--scandir', scan, '--s6-rc-compile', compile], s6rc.env(), 60_000);
  const refused = apply(compileExiting(root, 1));
  t.is(refused.code, 1, refused.stderr);
  t.regex(refused.stderr, /the refused tree is in /);
  const failed = apply(compileExiting(root, 111));
  t.is(failed.code, 111, failed.stderr);
  t.regex(failed.stderr, /s6-rc-compile-111 failed \(exit 111\)/);
  t.false(fs.existsSync(path.join(state, 'current')), 'nothing started');
});

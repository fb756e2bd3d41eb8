/**
 * The two argument parsers must agree: a plain check/generate line is parsed by
 * parseArgs (generator/cli/fast.ts), anything with a --no-* flag goes to yargs. Adding
 * --no-writable-disks (the default anyway) forces yargs without changing the
 * meaning, so both paths must produce the same output.
 */
import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fastArgs } from '../../generator/cli/fast.js';
import { vmsvc } from '../support/cli.js';
import { dataDirWith } from '../support/data-dir.js';

function files(dir: string, rel = ''): Record<string, string> {
  const out: Record<string, string> = {};
  for (const d of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    const child = path.join(rel, d.name);
    if (d.isDirectory()) Object.assign(out, files(dir, child));
    else out[child] = fs.readFileSync(path.join(dir, child), 'utf8');
  }
  return out;
}

const lines: string[][] = [
  [],
  ['--vmm', 'qemu', '--memory', '512M', '--cpus', '2', '--timeout-up', '5000', '--cmdline', 'console=ttyS0 quiet'],
  ['--cpus=3', '--bundle=all-vms', '--runtime-dir', '/run/x', '--log-dir=/var/log/y', '--log-max-files', '3'],
  ['--vmm-user', 'nobody', '--keep-going', '--show-links', '--live-prefix', 'ext-'],
];

for (const extra of lines) {
  test(`fast and yargs paths agree: generate ${extra.join(' ') || '(defaults)'}`, (t) => {
    const { root, data } = dataDirWith({ netvm: {}, app: { providers: ['netvm'] } });
    t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
    const base = ['generate', '--data', data, ...extra];
    t.not(fastArgs([...base, '--out', 'x']), null, 'the plain line takes the fast path');
    t.is(fastArgs([...base, '--out', 'x', '--no-writable-disks']), null, 'a --no-* line goes to yargs');
    const fast = vmsvc([...base, '--out', path.join(root, 'fast')]);
    const slow = vmsvc([...base, '--out', path.join(root, 'slow'), '--no-writable-disks']);
    t.is(fast.stdout.replace(/fast|slow/g, ''), slow.stdout.replace(/fast|slow/g, ''));
    t.is(fast.code, 0, fast.stderr);
    t.is(slow.code, 0, slow.stderr);
    t.deepEqual(files(path.join(root, 'fast')), files(path.join(root, 'slow')));
  });
}

test('fast and yargs paths agree on check --json and on usage errors', (t) => {
  const { root, data } = dataDirWith({ a: { providers: ['b'] }, b: { providers: ['a'] } });
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  const fast = vmsvc(['check', '--json', '--data', data]);
  const slow = vmsvc(['check', '--json', '--data', data, '--no-writable-disks']);
  t.is(fast.code, 1);
  t.is(slow.code, 1);
  t.is(fast.stdout, slow.stdout);
  // Lines the fast parser does not take are explained by yargs.
  for (const bad of [['generate', '--data', data], ['check', '--data', data, '--bogus'], ['check', '--data', data, '--cpus', 'two']]) {
    const r = vmsvc(bad);
    t.is(r.code, 100, bad.join(' '));
    t.regex(r.stderr, /^vmsvc: /);
  }
});

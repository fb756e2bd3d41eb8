/**
 * The VmName brand means "passed every naming rule": checkVmName is its only
 * maker, and it makes one exactly when it finds nothing wrong with the name.
 */
import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ANY_VMM_UNSAFE, checkVmName, type NameLimits } from '../../generator/rules/vm-name.js';

const GENERATOR = fileURLToPath(new URL('../../generator', import.meta.url));
const limits: NameLimits = { livePrefix: '', longestSocketPath: (name) => `/run/vmsvc/${name}/control.sock`, unsafe: ANY_VMM_UNSAFE };

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []);
}

test('a name that breaks no naming rule comes back as the VmName, with no problems', (t) => {
  const checked = checkVmName('web-1', '/svc/data/web-1', limits);
  t.deepEqual(checked.problems, []);
  t.is<string | null, string>(checked.name, 'web-1');
});

for (const [name, rule] of [['a-log', 'name-reserved-suffix'], ['a,b', 'name-vmm-unsafe'], ['a\nb', 'name-control-char'], ['x'.repeat(100), 'name-too-long']] as const) {
  test(`a name breaking ${rule} gets no VmName`, (t) => {
    const checked = checkVmName(name, `/svc/data/${name}`, limits);
    t.true(checked.problems.some((d) => d.rule === rule), checked.problems.map((d) => d.rule).join(', '));
    t.is(checked.name, null);
  });
}

test('no module of generator/ makes a VmName by a cast', (t) => {
  const casts = sources(GENERATOR).filter((f) => /\bas\s+(readonly\s+)?VmName\b/.test(fs.readFileSync(f, 'utf8'))).map((f) => path.relative(GENERATOR, f));
  t.deepEqual(casts, []);
});

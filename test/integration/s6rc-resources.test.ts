/**
 * Sizing of what s6-rc and s6-svscan need (generator/s6rc-resources.ts):
 * the parsers, and the figures checked against what the real s6-rc-compile
 * writes.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { desiredTree } from '../../generator/apply/apply.js';
import { defaultOptions } from '../../generator/pipeline/options.js';
import { dbSize, fdholderFds, parseLimit, shortfalls, stackBytes, supervisionNeeds, svscanLimits } from '../../generator/s6rc/resources.js';
import { writeEntries } from '../../generator/pipeline/write-tree.js';
import { dataDirWith, makeVm } from '../support/data-dir.js';
import { realS6rcTest } from '../support/real-s6rc.js';

test('svscanLimits reads -C and -L as s6-svscan parses them, with its defaults and clamping', (t) => {
  t.deepEqual(svscanLimits(['/run/service']), { servicesMax: 1000, nameMax: 251 });
  t.deepEqual(svscanLimits(['-C', '5000', '/s']), { servicesMax: 5000, nameMax: 251 });
  t.deepEqual(svscanLimits(['-C4004', '-L300', '/s']), { servicesMax: 4004, nameMax: 300 });
  t.deepEqual(svscanLimits(['-d3', '-C', '20', '/s']), { servicesMax: 20, nameMax: 251 }, 'the value of -d is not -C');
  t.deepEqual(svscanLimits(['--services-max=200000', '--name-max', '5', '/s']), { servicesMax: 160000, nameMax: 11 });
  t.deepEqual(svscanLimits(['-C', '1', '/s']), { servicesMax: 4, nameMax: 251 });
  t.deepEqual(svscanLimits(['--', '-C', '20']), { servicesMax: 1000, nameMax: 251 }, 'nothing after --');
});

test('parseLimit reads /proc/PID/limits lines, unlimited as Infinity', (t) => {
  const limits = [
    'Limit                     Soft Limit           Hard Limit           Units     ',
    'Max stack size            8388608              unlimited            bytes     ',
    'Max open files            20000                20000                files     ',
  ].join('\n');
  t.deepEqual(parseLimit(limits, 'Max stack size'), { soft: 8388608, hard: Infinity });
  t.deepEqual(parseLimit(limits, 'Max open files'), { soft: 20000, hard: 20000 });
  t.is(parseLimit(limits, 'Max processes'), null);
});

test('sizes of a tree: two longruns per VM plus s6-rc\'s two, a pipeline bundle per VM; the needs follow', (t) => {
  const { root, data } = dataDirWith({ a: {}, b: { providers: ['a'] } });
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  const { tree } = desiredTree({ data, prefix: 'ext-', generator: defaultOptions });
  const size = dbSize(tree);
  t.deepEqual([...size.longruns].sort(), ['s6rc-fdholder', 's6rc-oneshot-runner', 'vm-a', 'vm-a-log', 'vm-b', 'vm-b-log']);
  t.is(size.atoms, 7, 'and the link oneshot');
  t.is(size.bundles, 4, 'vms, autostart and the two pipelines');
  t.is(size.consumers, 2);
  const init = supervisionNeeds(size, 'ext-', 3);
  t.deepEqual(init, { servicesMax: 9, openFiles: 262, nameMax: 'ext-s6rc-oneshot-runner'.length });
  t.is(supervisionNeeds(size, 'ext-', 0, size.longruns).servicesMax, 12, 'an update holds both databases');
  t.deepEqual(shortfalls(init, { servicesMax: 8, nameMax: 251 }, { soft: 100, hard: 100 }), [
    'it supervises at most 8 service directories and this database needs 9: run it with -C 9 or more',
    'its open files limit is 100 and s6rc-fdholder needs 262: raise it (ulimit -n, s6-softlimit -o) to 262 or more',
  ]);
  t.deepEqual(shortfalls(init, { servicesMax: 9, nameMax: 251 }, null), []);
});

test('stack: the default 8 MiB does up to ~2000 VMs; 3500 VMs (where s6-rc-compile dies on 8 MiB) get more', (t) => {
  const vms = (n: number) => ({ atoms: 2 * n + 2, longruns: [], bundles: n + 2, consumers: n });
  t.is(stackBytes([vms(2)]), 2 * 1024 * 1024);
  t.true(stackBytes([vms(2000)]) <= 8 * 1024 * 1024);
  t.true(stackBytes([vms(3500)]) > 2 * 9.3e6, 'twice the matrices s6-rc-compile puts on the stack');
  t.true(stackBytes([vms(3500), vms(3500)]) > stackBytes([vms(3500)]), 'an update reads two databases');
});

realS6rcTest('fdholderFds is the -n the real s6-rc-compile gives s6rc-fdholder', (t, real) => {
  for (const n of [3, 300]) {
    const { root, data } = dataDirWith({});
    t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
    for (let i = 0; i < n; i++) makeVm(data, `v${i}`);
    const { tree } = desiredTree({ data, prefix: '', generator: defaultOptions });
    writeEntries(path.join(root, 'src'), tree);
    const r = spawnSync(real.bin('s6-rc-compile'), [path.join(root, 'db'), path.join(root, 'src')], { encoding: 'utf8' });
    t.is(r.status, 0, r.stderr);
    const run = fs.readFileSync(path.join(root, 'db', 'servicedirs', 's6rc-fdholder', 'run'), 'utf8');
    t.is(Number(/s6-fdholder-daemon -1 -n (\d+) /.exec(run)?.[1]), fdholderFds(dbSize(tree)), `${n} VMs`);
  }
});

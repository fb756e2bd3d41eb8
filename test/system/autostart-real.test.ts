/**
 * Autostart under the real s6-rc (test/support/real-rig.ts: a private
 * s6-svscan, the stub VMM): at first load `vmsvc apply` brings up the VMs
 * with config/autostart and what they need, and nothing else; a live apply
 * starts the VMs marked since, and leaves the running ones alone (the same
 * pids, from s6-supervise); a marked VM stopped by hand stays stopped;
 * --no-autostart starts nothing.
 */
import type { ExecutionContext } from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { makeVm, type VmSpec } from '../support/data-dir.js';
import { realS6rcTest, type RealS6rc } from '../support/real-s6rc.js';
import { startRig, type Rig } from '../support/real-rig.js';
import { installStubVmm, recordedArgv } from '../support/stub-vmm.js';

async function rig(t: ExecutionContext, real: RealS6rc, vms: Record<string, VmSpec>): Promise<Rig> {
  const r = await startRig(t, real, { bin: (bin) => installStubVmm(bin) });
  for (const [name, spec] of Object.entries(vms)) makeVm(r.data, name, spec);
  return r;
}

const S6RC_OWN = ['s6rc-fdholder', 's6rc-oneshot-runner'];
const mark = (r: Rig, vm: string): void => {
  fs.mkdirSync(path.join(r.data, vm, 'config'), { recursive: true });
  fs.writeFileSync(path.join(r.data, vm, 'config', 'autostart'), '');
};

realS6rcTest('real s6-rc: apply brings up a marked client and its unmarked provider, not an unrelated VM; a live apply starts a newly marked VM and keeps the running pids', async (t, real) => {
  const r = await rig(t, real, { net: {}, app: { providers: ['net'], config: { autostart: '', memory: '512M', cpus: '2' } }, other: {}, later: {} });
  const first = r.apply();
  t.is(first.code, 0, first.stderr);
  t.regex(first.stdout, /started .* \(4 VMs, .*autostart 1 VM \(app\) and what they need; the others down until/);
  t.regex(first.stdout, /\nvmsvc: autostart: up: app\n$/);
  const link = r.up().find((s) => s.startsWith('vmnet-')) ?? '';
  t.not(link, '');
  t.deepEqual(r.up(), [...S6RC_OWN, 'vm-app', 'vm-app-log', 'vm-net', 'vm-net-log', link].sort(), 'the provider and the link came up for the marked client; other and later did not');
  t.is(r.pid('vm-other'), null);
  t.is(r.pid('vm-later'), null);
  // The per-VM settings reached the VMM that s6 runs.
  const argv = recordedArgv(path.join(r.runtime, 'app'));
  t.deepEqual([argv[argv.indexOf('--memory') + 1], argv[argv.indexOf('--cpus') + 1]], ['size=512M', 'boot=2']);
  const before = Object.fromEntries(['vm-app', 'vm-app-log', 'vm-net', 'vm-net-log'].map((s) => [s, r.pid(s)]));
  for (const [s, pid] of Object.entries(before)) t.not(pid, null, `${s} runs`);

  // Mark `later` and apply live: it starts; what runs keeps its pids.
  mark(r, 'later');
  const second = r.apply();
  t.is(second.code, 0, second.stderr);
  t.regex(second.stdout, /switched .* \(4 VMs\): 0 added, 0 removed, 0 restarted\nvmsvc: autostart: up: later\n$/);
  t.not(r.pid('vm-later'), null, 'the newly marked VM runs');
  t.deepEqual(Object.fromEntries(Object.keys(before).map((s) => [s, r.pid(s)])), before, 'the running VMs and loggers kept their pids');
  t.is(r.pid('vm-other'), null, 'the unmarked VM is still down');

  // A marked VM stopped by hand stays stopped: an unchanged apply starts nothing, and
  // a change elsewhere brings up only what was newly marked (none here).
  t.is(r.s6('s6-rc', ['-l', r.live, '-d', 'change', 'vm-later']).code, 0);
  const third = r.apply();
  t.is(third.code, 0, third.stderr);
  t.regex(third.stdout, /nothing to do\n$/);
  fs.writeFileSync(path.join(r.data, 'other', 'blk', 'data.img'), 'more\n');
  const fourth = r.apply();
  t.is(fourth.code, 0, fourth.stderr);
  t.notRegex(fourth.stdout, /autostart/);
  t.is(r.pid('vm-later'), null);
  t.is(r.pid('vm-other'), null);
  t.deepEqual(Object.fromEntries(Object.keys(before).map((s) => [s, r.pid(s)])), before);

  // ls tells which VMs autostart, from the live tree.
  const ls = r.admin(['ls', '--json']);
  t.is(ls.code, 0, ls.stderr);
  const rows = (JSON.parse(ls.stdout) as { vms: Array<{ name: string; autostart: boolean; state: string }> }).vms;
  t.deepEqual(rows.map((x) => [x.name, x.autostart, x.state === 'up' || x.state === 'ready']),
    [['app', true, true], ['later', true, false], ['net', false, true], ['other', false, false]]);
});

realS6rcTest('real s6-rc: --no-autostart loads the database and starts nothing, at first load and live; the marks it loaded wait for a hand-run change', async (t, real) => {
  const r = await rig(t, real, { a: { config: { autostart: '' } }, b: {} });
  const first = r.apply(['--no-autostart']);
  t.is(first.code, 0, first.stderr);
  t.notRegex(first.stdout, /autostart: up/);
  t.deepEqual(r.up(), []);
  // Live, --no-autostart still: a changed tree, nothing started.
  makeVm(r.data, 'c', { config: { autostart: '' } });
  const second = r.apply(['--no-autostart']);
  t.is(second.code, 0, second.stderr);
  t.deepEqual(r.up(), []);
  // Without it, only the VMs marked since the database it replaces start (d): a and c were
  // marked in the database --no-autostart loaded, so they wait for a hand-run change.
  makeVm(r.data, 'd', { config: { autostart: '' } });
  const third = r.apply();
  t.is(third.code, 0, third.stderr);
  t.regex(third.stdout, /autostart: up: d\n$/);
  // No oneshot in this tree: s6-rc brings up only its fdholder of its own.
  t.deepEqual(r.up(), ['s6rc-fdholder', 'vm-d', 'vm-d-log']);
  const pid = r.pid('vm-d');
  t.is(r.s6('s6-rc', ['-l', r.live, '-u', 'change', 'autostart']).code, 0);
  t.deepEqual(r.up(), ['s6rc-fdholder', 'vm-a', 'vm-a-log', 'vm-c', 'vm-c-log', 'vm-d', 'vm-d-log']);
  t.is(r.pid('vm-d'), pid);
});

realS6rcTest('real s6-rc: at first load with no VM marked, the empty autostart bundle is compiled and nothing is run for it', async (t, real) => {
  const r = await rig(t, real, { a: {} });
  const first = r.apply();
  t.is(first.code, 0, first.stderr);
  t.regex(first.stdout, /all down until/);
  t.deepEqual(r.up(), []);
  const contents = r.s6('s6-rc-db', ['-l', r.live, 'contents', 'autostart']);
  t.is(contents.code, 0, contents.stderr);
  t.is(contents.stdout, '');
});

/**
 * A running VM whose new definition is invalid keeps running on the one it
 * was last applied with (pipeline/holds.ts, apply/last-good.ts), under the
 * real s6-rc with the stub VMM: apply exits 1 and says so, no service is
 * restarted (the pids s6-supervise reports stay), ls and show mark it, and
 * it goes only when its directory does or with --drop-invalid.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ExecutionContext } from 'ava';
import { makeVm } from '../support/data-dir.js';
import { realS6rcTest } from '../support/real-s6rc.js';
import { startRig, type Rig } from '../support/real-rig.js';
import { installStubVmm } from '../support/stub-vmm.js';
import type { LsRow } from '../../generator/admin/ls.js';

const LONGRUNS = ['vm-netvm', 'vm-netvm-log', 'vm-app', 'vm-app-log', 'vm-db', 'vm-db-log'];

const pids = (r: Rig, services: readonly string[]): Record<string, number | null> => Object.fromEntries(services.map((s) => [s, r.pid(s)]));
const memory = (r: Rig, vm: string): string => path.join(r.data, vm, 'config', 'memory');
const lsRows = (r: Rig): LsRow[] => {
  const ls = r.admin(['ls', '--json']);
  if (ls.code !== 0) throw new Error(ls.stderr);
  return (JSON.parse(ls.stdout) as { vms: LsRow[] }).vms;
};
const heldIn = (r: Rig): string[] => lsRows(r).flatMap((row) => (!row.skipped && row.held !== null ? [row.name] : []));

/** apply, which must hold `vm` (its memory file broken): exit 1, the VM, rule and file named, nothing restarted. */
function appliedHolding(t: ExecutionContext, r: Rig, vm: string, before: Record<string, number | null>): void {
  const held = r.apply();
  t.is(held.code, 1, held.stderr);
  t.true(held.stderr.includes(`vmsvc: VM ${vm}: held on its last good definition, which keeps running: its new one is invalid (setting-invalid: ${memory(r, vm)}); `
    + `fix that, or remove ${path.join(r.data, vm)} (or apply --drop-invalid) to remove the VM\n`), held.stderr);
  t.regex(held.stderr, new RegExp(`${memory(r, vm)}: error\\[setting-invalid\\]`), 'the diagnostic is printed as ever');
  t.regex(held.stdout, /: 0 added, 0 removed, 0 restarted\n$|; nothing to do\n$/, 'nothing to restart, add or remove');
  t.deepEqual(pids(r, Object.keys(before)), before, 'no service restarted');
}

realS6rcTest('real s6-rc: a running VM whose definition breaks keeps its last good one until fixed or removed; --drop-invalid removes it', async (t, real) => {
  const r = await startRig(t, real, { bin: (bin) => installStubVmm(bin) });
  makeVm(r.data, 'netvm', { config: { memory: '256M' } });
  makeVm(r.data, 'app', { providers: ['netvm'], config: { memory: '256M' } });
  makeVm(r.data, 'db', { providers: ['netvm'] });
  makeVm(r.data, 'idle');
  const first = r.apply();
  t.is(first.code, 0, first.stderr);
  const up = r.s6('s6-rc', ['-l', r.live, '-u', 'change', 'vm-app-pipeline', 'vm-db-pipeline']);
  t.is(up.code, 0, up.stderr);
  const before = pids(r, LONGRUNS);
  for (const [s, pid] of Object.entries(before)) t.not(pid, null, `${s} runs`);

  // A typo in a running client: the dry run says it is held, then the run holds it.
  fs.writeFileSync(memory(r, 'app'), 'lots\n');
  const dry = r.apply(['--dry-run']);
  t.is(dry.code, 1, dry.stderr);
  t.true(dry.stdout.includes(`  VM app: held on its last good definition: its new one is invalid (setting-invalid: ${memory(r, 'app')})\n`), dry.stdout);
  t.regex(dry.stdout, /: 0 added, 0 removed, 0 restarted; nothing run, nothing written\n$/);
  appliedHolding(t, r, 'app', before);
  t.deepEqual(heldIn(r), ['app']);
  const ls = r.admin(['ls']);
  t.regex(ls.stdout, /\napp +(up|ready) .* HELD on its last good definition: its new one is invalid \(setting-invalid: /);
  const show = r.admin(['show', 'app']);
  t.is(show.code, 0, show.stderr);
  t.regex(show.stdout, /\n {2}state: .*\n {2}definition: +its last good one, held: /);
  t.true(show.stdout.includes(`its new one is invalid (setting-invalid: ${memory(r, 'app')}); apply keeps the old one until that is fixed`), show.stdout);
  const shown = r.admin(['show', 'app', '--json']);
  t.like(JSON.parse(shown.stdout), { held: { name: 'app', needs: null, problems: [{ rule: 'setting-invalid', path: memory(r, 'app') }] } });
  // Still held on the next run, which has nothing else to do.
  appliedHolding(t, r, 'app', before);

  // Fixed back to what it was: the new definition is the last good one, nothing restarts.
  fs.writeFileSync(memory(r, 'app'), '256M');
  const fixed = r.apply();
  t.is(fixed.code, 0, fixed.stderr);
  t.deepEqual(pids(r, LONGRUNS), before);
  t.deepEqual(heldIn(r), []);

  // Broken again, then its directory removed: then it goes, and only it.
  fs.writeFileSync(memory(r, 'app'), 'lots\n');
  appliedHolding(t, r, 'app', before);
  fs.rmSync(path.join(r.data, 'app'), { recursive: true });
  const removed = r.apply();
  t.is(removed.code, 0, removed.stderr);
  t.false(r.up().includes('vm-app'));
  t.false(fs.existsSync(path.join(r.scandir, 'vm-app')));
  // (netvm restarts here, as for any client removed: its tap to app goes.)
  const rest = ['vm-netvm', 'vm-netvm-log', 'vm-db', 'vm-db-log'];
  const stay = pids(r, rest);
  for (const [s, pid] of Object.entries(stay)) t.not(pid, null, `${s} runs`);

  // A running provider broken: it and its client keep running as they were.
  fs.writeFileSync(memory(r, 'netvm'), 'lots\n');
  appliedHolding(t, r, 'netvm', stay);
  t.deepEqual(lsRows(r).filter((row) => row.skipped).map((row) => row.name), [], 'its client is not skipped');
  fs.writeFileSync(memory(r, 'netvm'), '256M');
  t.is(r.apply().code, 0);

  // A VM that does not run is skipped as ever: apply exits 0.
  fs.writeFileSync(path.join(r.data, 'idle', 'vmlinux'), '');
  const skipped = r.apply();
  t.is(skipped.code, 0, skipped.stderr);
  t.regex(skipped.stderr, /vmsvc: skipped VM idle: invalid \(/);
  t.notRegex(skipped.stderr, /held/);

  // --drop-invalid: a broken running VM goes, as before holds.
  fs.mkdirSync(path.join(r.data, 'db', 'config'));
  fs.writeFileSync(memory(r, 'db'), 'lots\n');
  const dropped = r.apply(['--drop-invalid']);
  t.is(dropped.code, 0, dropped.stderr);
  t.regex(dropped.stderr, /vmsvc: skipped VM db: invalid \(setting-invalid\)/);
  t.false(r.up().includes('vm-db'));
  t.is(r.pid('vm-netvm-log'), stay['vm-netvm-log'] ?? -1, 'its provider\'s logger runs on');
});

/**
 * `vmsvc apply` under the real s6-rc-compile, s6-rc-init, s6-rc-update and
 * s6-rc, on a private s6-svscan (test/support/real-rig.ts) with the stub
 * VMM: first boot, a live change, an unchanged run, a refused tree, a
 * broken VM. Checked through the real state: `s6-rc -a list`, the pids
 * s6-supervise reports, the argv each stub VMM recorded, LIVE/compiled.
 * Failures the real programs cannot be made to produce on demand stay in
 * test/apply.test.ts (the recording stand-in).
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

const liveDb = (r: Rig): string => path.basename(fs.realpathSync(path.join(r.live, 'compiled')));
const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
const S6RC_OWN = ['s6rc-fdholder', 's6rc-oneshot-runner'];

/** Every path below `dir` with its mtime (dirs and files) or link target. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    for (const name of fs.readdirSync(path.join(dir, rel)).sort()) {
      const child = path.join(rel, name);
      const st = fs.lstatSync(path.join(dir, child));
      out[child] = st.isSymbolicLink() ? `-> ${fs.readlinkSync(path.join(dir, child))}` : String(st.mtimeMs);
      if (st.isDirectory() && !name.startsWith('live:')) walk(child);
    }
  };
  walk('');
  return out;
}

realS6rcTest('real s6-rc: first boot, then a live change (add, change, remove), then an unchanged run', async (t, real) => {
  const r = await rig(t, real, { net: {}, app: { providers: ['net'] }, old: {} });
  const first = r.apply();
  t.is(first.code, 0, first.stderr);
  const h1 = /started .* on compiled\/([0-9a-f]+) \(3 VMs, 7 services/.exec(first.stdout)?.[1] ?? '';
  t.not(h1, '', first.stdout);
  t.is(liveDb(r), h1, 'LIVE/compiled resolves to the database apply compiled');
  t.is(fs.readlinkSync(path.join(r.live, 'compiled')), path.join(r.state, 'current'), 's6-rc-init keeps the -c link, not its target');
  t.deepEqual(r.up(), [], 'nothing starts by itself, not even s6-rc\'s own services');
  t.deepEqual(fs.readdirSync(r.scandir).filter((n) => !n.startsWith('.')).sort(),
    [...S6RC_OWN, 'vm-app', 'vm-app-log', 'vm-net', 'vm-net-log', 'vm-old', 'vm-old-log'].sort());

  const change = r.s6('s6-rc', ['-l', r.live, '-u', 'change', 'vms']);
  t.is(change.code, 0, change.stderr);
  const link = r.up().find((s) => s.startsWith('vmnet-')) ?? '';
  t.deepEqual(r.up(), [...S6RC_OWN, 'vm-app', 'vm-app-log', 'vm-net', 'vm-net-log', 'vm-old', 'vm-old-log', link].sort());
  const before = Object.fromEntries(['vm-app', 'vm-app-log', 'vm-net', 'vm-net-log', 'vm-old'].map((s) => [s, r.pid(s)]));
  for (const [s, pid] of Object.entries(before)) t.true(pid !== null && alive(pid), `${s} runs`);
  t.false(recordedArgv(path.join(r.runtime, 'app')).some((a) => a.includes('data.img')));

  // Change app (a second disk), remove old, add fresh.
  fs.writeFileSync(path.join(r.data, 'app', 'blk', 'data.img'), 'more\n');
  fs.rmSync(path.join(r.data, 'old'), { recursive: true });
  makeVm(r.data, 'fresh');
  const second = r.apply();
  t.is(second.code, 0, second.stderr);
  t.regex(second.stdout, /restart {2}vm-app \(changed: finish, run\)/);
  t.regex(second.stdout, /switched .* \(3 VMs\): 2 added, 2 removed, 1 restarted\n$/);
  t.is(fs.readFileSync(path.join(r.state, 'conversion'), 'utf8'), '# vmsvc: restart the services whose definition changed\nvm-app restart\n');
  const h2 = liveDb(r);
  t.not(h2, h1);
  t.is(fs.readlinkSync(path.join(r.state, 'current')), `compiled/${h2}`);
  t.is(fs.readlinkSync(path.join(r.state, 'previous')), `compiled/${h1}`);
  t.is(fs.readlinkSync(path.join(r.state, 'source')), `compiled/${h2}.source`);

  t.deepEqual(r.up(), [...S6RC_OWN, 'vm-app', 'vm-app-log', 'vm-net', 'vm-net-log', link].sort(), 'old stopped, fresh added but down');
  const appPid = r.pid('vm-app');
  t.true(appPid !== null && appPid !== before['vm-app'], 'the changed VM was restarted');
  t.true(recordedArgv(path.join(r.runtime, 'app')).some((a) => a.includes('data.img')), 'with its new definition');
  t.is(r.pid('vm-net'), before['vm-net'] ?? -1, 'the unchanged provider kept running');
  t.is(r.pid('vm-app-log'), before['vm-app-log'] ?? -1, 'the changed VM\'s logger kept running (the pipe is held)');
  t.is(r.pid('vm-net-log'), before['vm-net-log'] ?? -1);
  t.false(alive(before['vm-old'] ?? 0), 'the removed VM\'s VMM is gone');
  t.false(fs.existsSync(path.join(r.scandir, 'vm-old')), 'and its service directory is unlinked');
  t.is(r.pid('vm-fresh'), null);
  const upFresh = r.s6('s6-rc', ['-l', r.live, '-u', 'change', 'vm-fresh']);
  t.is(upFresh.code, 0, upFresh.stderr);
  t.not(r.pid('vm-fresh'), null);

  // Unchanged input: nothing compiled, nothing updated, nothing written.
  const state = snapshot(r.state);
  const pids = ['vm-app', 'vm-net', 'vm-fresh'].map((s) => r.pid(s));
  const third = r.apply();
  t.is(third.code, 0, third.stderr);
  t.is(third.stdout, `vmsvc: ${r.live} already runs compiled/${h2} (3 VMs); nothing to do\n`);
  t.deepEqual(snapshot(r.state), state);
  t.deepEqual(['vm-app', 'vm-net', 'vm-fresh'].map((s) => r.pid(s)), pids);
});

realS6rcTest('real s6-rc: a tree s6-rc-compile refuses changes nothing, and the admin commands keep seeing the live VMs', async (t, real) => {
  const r = await rig(t, real, { a: {}, b: { providers: ['a'] } });
  t.is(r.apply().code, 0);
  t.is(r.s6('s6-rc', ['-l', r.live, '-u', 'change', 'vms']).code, 0);
  const h1 = liveDb(r);
  const pids = [r.pid('vm-a'), r.pid('vm-b')];
  const up = r.up();

  // The next input drops b, adds c, and its link oneshot is one s6-rc-compile cannot lex.
  const templates = path.join(r.root, 'templates');
  fs.mkdirSync(path.join(templates, 'common'), { recursive: true });
  fs.writeFileSync(path.join(templates, 'common', 'net-up.hbs'), 'foreground { echo "unterminated }\n');
  const b = path.join(r.root, 'b-away');
  fs.renameSync(path.join(r.data, 'b'), b);
  makeVm(r.data, 'c', { providers: ['a'] });
  const refused = r.apply(['--templates', templates]);
  t.is(refused.code, 1, refused.stdout);
  t.regex(refused.stderr, /s6-rc-compile: fatal: syntax error in .*\/vmnet-[0-9a-f]{4}\/up\n/);
  t.regex(refused.stderr, /vmsvc: s6-rc-compile failed \(exit 1\): s6-rc-compile /);
  t.regex(refused.stderr, new RegExp(`nothing changed: the live system still runs compiled/${h1}, current unchanged, .* removed; the refused tree is in ${r.state}/rejected`));
  t.is(liveDb(r), h1);
  t.deepEqual(fs.readdirSync(path.join(r.state, 'compiled')).sort(), [h1, `${h1}.source`]);
  t.true(fs.existsSync(path.join(r.state, 'rejected', 'vm-c', 'run')));
  t.deepEqual([r.pid('vm-a'), r.pid('vm-b')], pids);
  t.deepEqual(r.up(), up);

  const showB = r.admin(['show', 'b']);
  t.is(showB.code, 0, `show reads the live tree, not the refused one: ${showB.stderr}`);
  t.regex(showB.stdout, /vm-b/);

  // Back to the input that is live: nothing to do, and every admin command sees b running.
  fs.rmSync(path.join(r.data, 'c'), { recursive: true });
  fs.renameSync(b, path.join(r.data, 'b'));
  const back = r.apply();
  t.is(back.code, 0, back.stderr);
  t.regex(back.stdout, /nothing to do/);
  const ls = r.admin(['ls', '--json']);
  t.is(ls.code, 0, ls.stderr);
  t.regex(ls.stdout, /"b"/);
  const show = r.admin(['show', 'b', '--json']);
  t.is(show.code, 0, show.stderr);
  t.regex(show.stdout, new RegExp(`"pid": ?${pids[1] ?? 0}\\b`));
  const stop = r.admin(['stop', 'b']);
  t.is(stop.code, 0, stop.stderr);
  t.is(r.pid('vm-b'), null, 'stop took b down');
  t.not(r.pid('vm-a'), null);
});

realS6rcTest('real s6-rc: keep-going: a broken VM and the VM needing it are skipped, the rest boots', async (t, real) => {
  const r = await rig(t, real, { good: {}, bad: { kernel: null }, needsBad: { providers: ['bad'] } });
  const res = r.apply();
  t.is(res.code, 0, res.stderr);
  t.regex(res.stderr, /vmlinux-missing/);
  t.regex(res.stderr, /skipped VM bad/);
  t.regex(res.stderr, /skipped VM needsBad/);
  t.regex(res.stdout, /\(1 VM, 2 services/);
  t.deepEqual(fs.readdirSync(r.scandir).filter((n) => !n.startsWith('.')).sort(), [...S6RC_OWN, 'vm-good', 'vm-good-log'].sort());
  const change = r.s6('s6-rc', ['-l', r.live, '-u', 'change', 'vms']);
  t.is(change.code, 0, change.stderr);
  // No oneshot: s6rc-oneshot-runner is not needed, so not started.
  t.deepEqual(r.up(), ['s6rc-fdholder', 'vm-good', 'vm-good-log']);
  const pid = r.pid('vm-good');
  t.true(pid !== null && alive(pid));
  t.true(fs.existsSync(path.join(r.runtime, 'good', 'argv')), 'the stub VMM ran');
});

realS6rcTest('real s6-rc: live updates with many stopped VMs leave every longrun one supervisor, and restart the changed VM', async (t, real) => {
  // s6-rc-update swaps the directory of every longrun that is down, and its
  // swap races s6-svscan's restart of the old supervisor (apply/supervisors.ts):
  // with 24 stopped longruns nearly every update lost a supervisor, or
  // s6-rc-update itself died, before apply unsupervised them first.
  const stopped = Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`s${String(i).padStart(2, '0')}`, {}]));
  const r = await rig(t, real, { app: { config: { autostart: '' } }, ...stopped });
  const first = r.apply();
  t.is(first.code, 0, first.stderr);
  const log = path.join(r.root, 'svscan.log');
  const supervised = (): string[] => fs.readdirSync(path.join(r.live, 'servicedirs'))
    .filter((n) => r.s6('s6-svok', [path.join(r.scandir, n)]).code !== 0);
  for (const round of [1, 2, 3]) {
    const before = r.pid('vm-app');
    t.not(before, null);
    fs.writeFileSync(path.join(r.data, 'app', 'blk', `d${round}.img`), 'more\n');
    // The last round also marks a stopped VM: apply brings it up after the swap.
    if (round === 3) {
      fs.mkdirSync(path.join(r.data, 's05', 'config'));
      fs.writeFileSync(path.join(r.data, 's05', 'config', 'autostart'), '');
    }
    // s6-svscan restarts a dead supervisor at once only if it started more
    // than a second ago, as on any host where apply runs long after boot.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const u = r.apply();
    t.is(u.code, 0, `round ${round}: ${u.stderr}`);
    t.regex(u.stdout, /: 0 added, 0 removed, 1 restarted\n/);
    t.deepEqual(supervised(), [], `round ${round}: every longrun of the live database has a supervisor`);
    const after = r.pid('vm-app');
    t.true(after !== null && after !== before, `round ${round}: the changed VM runs again, restarted`);
  }
  t.not(r.pid('vm-s05'), null, 'the VM marked in the last round came up');
  t.deepEqual(r.up().filter((s) => s.startsWith('vm-s') && !s.endsWith('-log')), ['vm-s05'], 'the others stayed down');
  const svscan = fs.readFileSync(log, 'utf8');
  t.notRegex(svscan, /another instance of s6-supervise|unable to chdir/, svscan);

  // A run killed after unsupervising (link gone, supervisor stopped): the next run, with nothing to do, links it back.
  fs.rmSync(path.join(r.scandir, 'vm-s07'));
  t.is(r.s6('s6-svscanctl', ['-an', r.scandir]).code, 0);
  for (let i = 0; r.s6('s6-svok', [path.join(r.live, 'servicedirs', 'vm-s07')]).code === 0; i++) {
    t.true(i < 200, 'the unlinked supervisor exits');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  const again = r.apply();
  t.is(again.code, 0, again.stderr);
  t.regex(again.stdout, /nothing to do\n$/);
  t.deepEqual(supervised(), []);
  t.is(r.s6('s6-rc', ['-l', r.live, '-u', 'change', 'vm-s07']).code, 0, 'and s6-rc can start it');
});

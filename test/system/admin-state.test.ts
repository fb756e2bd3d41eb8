/**
 * The admin commands find what `vmsvc apply` started from its state dir
 * alone (STATE/where.json): after a plain apply (no --prefix), with
 * --state or $VMSVC_STATE and no other flag, under the real s6-rc with the
 * tiny stub VMM. Before apply recorded where things are, `ls` looked for
 * `ext-` services in /run/service and reported every VM missing, exit 0.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { vmsvc } from '../support/cli.js';
import { makeVm } from '../support/data-dir.js';
import { realS6rcTest } from '../support/real-s6rc.js';
import { installTinyVmm, startRig, TINY_VMM_FLAGS } from '../support/real-rig.js';
import type { LsVmRow } from '../../generator/admin/ls.js';

interface Row { readonly name: string; readonly state?: string; readonly skipped: boolean; readonly lastMessage?: string | null }
const names = (stdout: string): string[] => (JSON.parse(stdout) as { vms: Row[] }).vms.map((r) => r.name);

realS6rcTest('after a plain apply every admin command finds the live system from --state or $VMSVC_STATE alone', async (t, real) => {
  const r = await startRig(t, real, { bin: (bin) => installTinyVmm(bin, real), flags: TINY_VMM_FLAGS });
  makeVm(r.data, 'net', {});
  makeVm(r.data, 'app', { providers: ['net'] });
  makeVm(r.data, 'bad', { kernel: null });
  const where = path.join(r.state, 'where.json');

  // No name: one usage line, before anything is looked for.
  const nameless = r.admin(['start']);
  t.is(nameless.code, 100);
  t.is(nameless.stderr, 'vmsvc: start: name one or more VMs, or give --all\n');
  // No apply yet: nothing to find, said in one line, exit 1.
  const none = r.admin(['ls']);
  t.is(none.code, 1);
  t.is(none.stderr, `vmsvc: no live system found: ${where} does not exist (vmsvc apply writes it; --state or $VMSVC_STATE names the state dir apply used), or name a generated tree with --source\n`);
  const noStart = r.admin(['start', 'app']);
  t.is(noStart.code, 1);
  t.is(noStart.stdout, '', 'no "starting VM" before it fails');

  const applied = r.apply();
  t.is(applied.code, 0, applied.stderr);
  t.like(JSON.parse(fs.readFileSync(where, 'utf8')), { scandir: r.scandir, prefix: '', live: r.live, source: path.join(r.state, 'source'), logDir: path.join(r.root, 'log') });

  const started = r.admin(['start', 'app']);
  t.is(started.code, 0, started.stderr);
  t.deepEqual(r.up().filter((s) => s.startsWith('vm-')), ['vm-app', 'vm-app-log', 'vm-net', 'vm-net-log']);
  const again = r.admin(['start', 'app']);
  t.is(again.code, 0, again.stderr);
  t.is(again.stdout, 'vmsvc: VM app is already running\n');

  // $VMSVC_STATE alone, no flag at all.
  const ls = vmsvc(['ls', '--json'], { ...r.env, VMSVC_STATE: r.state });
  t.is(ls.code, 0, ls.stderr);
  const rows = (JSON.parse(ls.stdout) as { vms: Row[] }).vms;
  t.deepEqual(rows.map((x) => [x.name, x.skipped ? 'skipped' : x.state]), [['app', 'ready'], ['bad', 'skipped'], ['net', 'ready']]);
  // No cgroup here (this machine's v2 has no controllers): what a VM uses comes from /proc, the
  // service's process and its descendants, at least the RSS of its own process; no limit is shown as none.
  const app = (JSON.parse(ls.stdout) as { vms: LsVmRow[] }).vms.find((x) => x.name === 'app')!;
  const ownRss = Number(/^VmRSS:\s+(\d+) kB$/m.exec(fs.readFileSync(`/proc/${app.pid!}/status`, 'utf8'))![1]) * 1024;
  t.like(app, { memoryMax: null, usage: { from: 'proc', tasks: null } });
  t.true(app.usage!.memoryBytes! >= ownRss && app.usage!.cpuSeconds! >= 0, JSON.stringify(app.usage));
  t.regex(r.admin(['ls']).stdout, /\napp +ready +no +\d+ +\S+ +\d+M\/none +\d+\.\ds /);
  t.regex(r.admin(['show', 'app']).stdout, /\nresources:\n {2}no cgroup: nothing but the guest's size limits it \(--cgroup none\)\n {2}uses: memory \d+ MiB, CPU \d+\.\d s \(from \/proc\)\n/);
  t.deepEqual(names(r.admin(['ls', '--json', '--status', 'running']).stdout), ['app', 'net']);
  t.deepEqual(names(r.admin(['ls', '--json', '--status', 'invalid']).stdout), ['bad']);
  t.deepEqual(names(r.admin(['ls', '--json', '--status', 'stopped']).stdout), []);
  t.regex(r.admin(['ls']).stdout, new RegExp(`\\nbad +skipped .*invalid \\(vmlinux-missing\\): vmlinux-missing: ${r.data}/bad/vmlinux\\n`));

  t.regex(r.admin(['show', 'app']).stdout, /\n {2}state: +ready \(pid \d+/);
  t.regex(r.admin(['show', 'bad']).stdout, new RegExp(`log dir: +${r.root}/log/bad `));
  t.regex(r.admin(['logs', 'app']).stdout, /serial: tiny stub on /);
  t.is(r.admin(['graph']).code, 0);

  // A restart of the provider brings its running client back too, each with a new process.
  const before = [r.pid('vm-net'), r.pid('vm-app')];
  const restarted = r.admin(['restart', 'net']);
  t.is(restarted.code, 0, restarted.stderr);
  t.regex(restarted.stdout, /restarted VM net and app\n$/);
  const after = [r.pid('vm-net'), r.pid('vm-app')];
  t.true(after.every((p, i) => p !== null && p !== before[i]), `${String(before)} -> ${String(after)}`);

  const stopped = r.admin(['stop', '--all']);
  t.is(stopped.code, 0, stopped.stderr);
  t.deepEqual(r.up().filter((s) => s.startsWith('vm-')), ['vm-app-log', 'vm-net-log']);
  t.is(r.admin(['stop', 'app', 'net']).stdout, 'vmsvc: VM app is already stopped\nvmsvc: VM net is already stopped\n');

  // The VMM gone: its start fails after the crash-loop limit, and ls and show say why, not only "code 127".
  fs.renameSync(path.join(r.root, 'bin', 'cloud-hypervisor'), path.join(r.root, 'bin', 'cloud-hypervisor.away'));
  const broken = r.admin(['start', 'net']);
  t.is(broken.code, 1);
  const why = 'code 127 (the VMM (or a program of the run script) was not found: is it installed, in the supervision tree\'s PATH?)';
  // s6-rc took it down when the crash-loop limit ended its start: down, with the deaths not cleared by a stop.
  const rows2 = (JSON.parse(r.admin(['ls', '--json']).stdout) as { vms: Array<Row & { lastExit: string | null; deaths: number }> }).vms;
  t.like(rows2.find((x) => x.name === 'net'), { state: 'down', lastExit: why, deaths: 5 });
  t.regex(r.admin(['ls']).stdout, new RegExp(`\\nnet +down .* its start failed after 5 deaths; last exit: ${why.replace(/[()?]/g, '\\$&')}; `));
  // Its client went down with the stop before, by s6-rc's SIGTERM, passed on by trap as 143.
  t.is(rows2.find((x) => x.name === 'app')?.lastExit, 'code 143 (128 + 15: SIGTERM: stopped)');
  t.true(r.admin(['show', 'net']).stdout.includes(`last exit ${why}`));
  // Its VMM's own words, from its own log: what execline said when the exec failed.
  t.regex(r.admin(['ls']).stdout, /\nnet +down .*; last VMM message: [^\n]*unable to exec [^\n]*cloud-hypervisor/);
  t.regex(rows2.find((x) => x.name === 'net')?.lastMessage ?? '', /cloud-hypervisor/);

  // Told a scandir with nothing of this tree in it: no live system there, exit 1.
  const empty = path.join(r.root, 'empty-scan');
  fs.mkdirSync(empty);
  const wrong = r.admin(['ls', '--scandir', empty]);
  t.is(wrong.code, 1);
  t.regex(wrong.stderr, /^vmsvc: no live system on .*empty-scan: none of the 2 VMs' services is there/);
});

realS6rcTest('a VM whose VMM runs and never says so is up, not ready, and ls says its start was given up at timeout-up', async (t, real) => {
  // s6-rc answers a failed start with s6-svc -d (s6-rc.c failure_longrun), and mute's VMM
  // ignores the power button: it stays up for the whole stop timeout, not ready, which ls must say.
  const r = await startRig(t, real, { bin: (bin) => installTinyVmm(bin, real), flags: [...TINY_VMM_FLAGS, '--timeout-up', '2000', '--stop-timeout', '8000'] });
  makeVm(r.data, 'mute', {});
  makeVm(r.data, 'fine', {});
  t.is(r.apply().code, 0);
  t.is(r.admin(['start', 'fine']).code, 0);
  t.is(r.admin(['start', 'mute']).code, 1, 'its start fails at timeout-up');
  const rows = (JSON.parse(r.admin(['ls', '--json']).stdout) as { vms: Array<Row & { notReadyAfterMs: number | null }> }).vms;
  t.like(rows.find((x) => x.name === 'mute'), { state: 'up', notReadyAfterMs: 2000 });
  t.like(rows.find((x) => x.name === 'fine'), { state: 'ready', notReadyAfterMs: null, lastMessage: null });
  t.regex(r.admin(['ls']).stdout, /\nmute +up .*not ready after its timeout-up \(2 s\)/);
});

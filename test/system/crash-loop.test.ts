/**
 * Crash loops end (issue 11, item 3), under the real s6-svscan, s6-supervise
 * and s6-rc (test/support/real-rig.ts): a VMM that dies at once is restarted
 * only --crash-deaths times, then stays down; s6-rc still believes it up (so
 * its own -u does nothing); `vmsvc ls` / `show` say failed, with the death
 * count and the last exit code; its running client is told its provider
 * failed; `vmsvc start` brings it back.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { makeVm } from '../support/data-dir.js';
import { realS6rcTest, type RealS6rc } from '../support/real-s6rc.js';
import { installTinyVmm, startRig, TINY_VMM_FLAGS } from '../support/real-rig.js';
import { waitFor } from '../support/wait.js';

/**
 * A cloud-hypervisor stand-in: records each start in the VM's runtime dir,
 * and exits 3 at once while RUNTIME/<vm>.crash exists; else binds the API
 * socket and stays up.
 */
function installCrashingVmm(binDir: string, real: RealS6rc): void {
  // Its ch-remote, which answers readiness and the power button.
  installTinyVmm(binDir, real);
  fs.writeFileSync(path.join(binDir, 'cloud-hypervisor'), [
    '#!/bin/sh',
    '# argv: --api-socket path=SOCKET ...',
    'sock=${2#path=}',
    'dir=${sock%/*}',
    'echo start >> "$dir/starts"',
    'if [ -e "$dir.crash" ]; then echo "serial: crashing on purpose"; exit 3; fi',
    'echo $$ > "$dir/pid"',
    `exec ${real.bin('s6-ipcserver-socketbinder')} -- "$sock" sleep infinity`,
    '',
  ].join('\n'), { mode: 0o755 });
}

const starts = (runtime: string, vm: string): number => {
  try {
    return fs.readFileSync(path.join(runtime, vm, 'starts'), 'utf8').split('\n').filter((l) => l !== '').length;
  } catch {
    return 0;
  }
};

interface Row { name: string; state: string; deaths: number | null; pid: number | null; vm: { lastExit: { code: number | null } | null }; providersNotRunning: Array<{ name: string; state: string }> }

realS6rcTest('crash loop: a provider VMM that keeps dying is restarted --crash-deaths times, reported, and vmsvc start brings it back', async (t, real) => {
  const r = await startRig(t, real, { bin: (bin) => installCrashingVmm(bin, real), flags: [...TINY_VMM_FLAGS, '--crash-deaths', '3', '--crash-window', '60'] });
  makeVm(r.data, 'net');
  makeVm(r.data, 'app', { providers: ['net'] });
  const applied = r.apply();
  t.is(applied.code, 0, applied.stderr);
  const finish = fs.readFileSync(path.join(r.state, 'source', 'vm-net', 'finish'), 'utf8');
  t.regex(finish, /^s6-permafailon 60 3 0-255,SIGHUP,.*,SIGSYS\nexit 0\n$/m);
  const up = r.s6('s6-rc', ['-l', r.live, '-u', 'change', 'vms']);
  t.is(up.code, 0, up.stderr);
  const appPid = r.pid('vm-app');
  t.not(appPid, null);
  t.is(starts(r.runtime, 'net'), 1);

  // From now on net's VMM exits 3 at once; the kill is its first death.
  fs.writeFileSync(path.join(r.runtime, 'net.crash'), '');
  t.is(r.s6('s6-svc', ['-k', path.join(r.scandir, 'vm-net')]).code, 0);
  const status = () => r.s6('s6-svstat', ['-o', 'up,wantedup,normallyup,exitcode', path.join(r.scandir, 'vm-net')]).stdout.trim();
  await waitFor('net to give up', () => status() === 'false false true 3', 20_000);
  // Three deaths (the kill and two crashes): two restarts, then no more.
  t.is(starts(r.runtime, 'net'), 3);
  await new Promise((res) => setTimeout(res, 2500));
  t.is(starts(r.runtime, 'net'), 3, 'not restarted after giving up');
  t.is(status(), 'false false true 3');

  // s6-rc 0.7 does not notice: vm-net still counts as up, and so its -u does nothing.
  t.true(r.up().includes('vm-net'));
  const again = r.s6('s6-rc', ['-l', r.live, '-u', 'change', 'vm-net']);
  t.is(again.code, 0, again.stderr);
  t.is(starts(r.runtime, 'net'), 3, 's6-rc -u does not restart a service it believes up');
  // The client is left running, its link leading nowhere.
  t.is(r.pid('vm-app'), appPid);

  const ls = r.admin(['ls', '--json']);
  t.is(ls.code, 0, ls.stderr);
  const rows = (JSON.parse(ls.stdout) as { vms: Row[] }).vms;
  const net = rows.find((x) => x.name === 'net')!;
  const app = rows.find((x) => x.name === 'app')!;
  t.is(net.state, 'failed');
  t.is(net.deaths, 3);
  t.is(net.pid, null);
  t.is(net.vm.lastExit?.code, 3);
  t.is(app.state, 'ready');
  t.deepEqual(app.providersNotRunning, [{ name: 'net', state: 'failed' }]);
  const table = r.admin(['ls']).stdout;
  t.regex(table, /^net +failed .*not restarted after 3 deaths: vmsvc start tries again; last exit: code 3/m);
  t.regex(table, /^app +ready .*provider net failed: no network through it/m);
  const show = r.admin(['show', 'net']).stdout;
  t.regex(show, /state: +failed \(for \d+s, last exit code 3, deaths 3, not restarted: vmsvc start tries again/);
  t.regex(r.admin(['show', 'app']).stdout, /providers: +net \(failed: no network through it\)/);

  // Fixed, and started again: vmsvc start clears the tally and restarts it, s6-rc's state unchanged.
  fs.rmSync(path.join(r.runtime, 'net.crash'));
  const start = r.admin(['start', 'net']);
  t.is(start.code, 0, start.stderr);
  t.regex(start.stdout, /VM net had stopped restarting after 3 deaths; restarting it/);
  t.is(starts(r.runtime, 'net'), 4);
  const after = (JSON.parse(r.admin(['ls', '--json']).stdout) as { vms: Row[] }).vms;
  t.is(after.find((x) => x.name === 'net')!.state, 'ready', 'start returns once the VM is ready');
  t.is(after.find((x) => x.name === 'net')!.deaths, 0, 'the tally was cleared');
  t.deepEqual(after.find((x) => x.name === 'app')!.providersNotRunning, []);
  t.is(r.pid('vm-app'), appPid, 'its client was not restarted');
});

realS6rcTest('crash loop: stops and restarts by s6-rc are not crashes: after --crash-deaths - 1 restarts one crash is restarted', async (t, real) => {
  const r = await startRig(t, real, { bin: (bin) => installCrashingVmm(bin, real), flags: [...TINY_VMM_FLAGS, '--crash-deaths', '3', '--crash-window', '60'] });
  makeVm(r.data, 'a');
  t.is(r.apply().code, 0);
  const dir = path.join(r.scandir, 'vm-a');
  t.is(r.s6('s6-rc', ['-l', r.live, '-u', 'change', 'vms']).code, 0);
  // Two restarts by s6-rc (as an admin, or a live apply of a changed VM, does): deaths the supervisor did not want.
  for (let i = 0; i < 2; i++) {
    t.is(r.s6('s6-rc', ['-l', r.live, '-d', 'change', 'vm-a']).code, 0);
    t.is(r.s6('s6-rc', ['-l', r.live, '-u', 'change', 'vm-a']).code, 0);
  }
  t.is(starts(r.runtime, 'a'), 3);
  t.is(r.s6('s6-svdt', [dir]).stdout, '', 'a stop clears the tally');
  // One crash (with the two stops it would have been the third death): restarted.
  const crashed = r.pid('vm-a');
  t.is(r.s6('s6-svc', ['-k', dir]).code, 0);
  await waitFor('the restart', () => starts(r.runtime, 'a') === 4 && r.pid('vm-a') !== null && r.pid('vm-a') !== crashed, 20_000);
  t.is(r.s6('s6-svstat', ['-o', 'up,wantedup', dir]).stdout.trim(), 'true true');
  t.is(r.s6('s6-svdt', [dir]).stdout.trim().split('\n').length, 1, 'the crash is counted');
  // A stop by hand, outside s6-rc: down and not wanted up, as a crash loop leaves it, but no deaths.
  t.is(r.s6('s6-svc', ['-dwD', '-T', '20000', dir]).code, 0);
  t.regex(r.admin(['ls']).stdout, /^a +failed .*stopped outside s6-rc \(s6-svc -d\): vmsvc start starts it again; last exit: code 143 \(128 \+ 15: SIGTERM: stopped\)$/m);
  t.regex(r.admin(['start', 'a']).stdout, /VM a was stopped outside s6-rc; starting it/);
});

realS6rcTest('crash loop: it still ends when the finish script cannot ask s6-svstat whether the death was a stop', async (t, real) => {
  const r = await startRig(t, real, { bin: (bin) => installCrashingVmm(bin, real), flags: [...TINY_VMM_FLAGS, '--crash-deaths', '2', '--s6-svstat', '/nonexistent/s6-svstat'] });
  makeVm(r.data, 'a');
  t.is(r.apply().code, 0);
  t.is(r.s6('s6-rc', ['-l', r.live, '-u', 'change', 'vms']).code, 0);
  fs.writeFileSync(path.join(r.runtime, 'a.crash'), '');
  const dir = path.join(r.scandir, 'vm-a');
  t.is(r.s6('s6-svc', ['-k', dir]).code, 0);
  await waitFor('a to give up', () => r.s6('s6-svstat', ['-o', 'up,wantedup', dir]).stdout.trim() === 'false false', 20_000);
  t.is(starts(r.runtime, 'a'), 2, 'the kill and one crash: two deaths, one restart');
});

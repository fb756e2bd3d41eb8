/**
 * Clean stop (issue 11, item 2) under the real s6-svscan, s6-supervise and
 * s6-rc with the stub VMM (test/support/stub-vmm.ts), which answers the
 * power button as each VMM's API does: a stop presses it and returns once
 * the VMM has exited, well before the stop timeout; a guest that ignores it
 * is killed at the bound, not before, by s6-svc -K (s6 2.15) or, with
 * Debian's s6-svc 2.11 which has no -K, by the SIGINT trap forwards. The
 * same under a real guest: test/system/guest-stop.test.ts.
 */
import test, { type ExecutionContext } from 'ava';
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { VMSVC, vmsvc, withoutCgroup } from '../support/cli.js';
import { makeVm, tempDir } from '../support/data-dir.js';
import { realS6rc, realS6rcTest } from '../support/real-s6rc.js';
import { startRig, type Rig } from '../support/real-rig.js';
import { installStubVmm, stubVmmPid } from '../support/stub-vmm.js';
import { alive } from '../support/processes.js';
import { waitFor } from '../support/wait.js';

/** The stub VMM's host pid (in its sandbox it has another); -1 when none runs. */
const vmmPid = (r: Rig, vm: string): number => stubVmmPid(path.join(r.runtime, vm)) ?? -1;
const serial = (r: Rig, vm: string): string => fs.readFileSync(path.join(r.root, 'log', vm, 'current'), 'utf8');

for (const vmm of ['cloud-hypervisor', 'qemu', 'crosvm'] as const) {
  realS6rcTest(`clean stop (${vmm}): s6-rc -d presses the power button and returns once the VMM exited, before the bound`, async (t, real) => {
    const program = { 'cloud-hypervisor': 'cloud-hypervisor', qemu: 'qemu-system-x86_64', crosvm: 'crosvm' }[vmm];
    const r = await startRig(t, real, {
      bin: (bin) => installStubVmm(bin, program),
      flags: ['--vmm', vmm, '--stop-timeout', '20000', ...(vmm === 'crosvm' ? ['--no-user-console'] : [])],
    });
    makeVm(r.data, 'a');
    t.is(r.apply().code, 0);
    t.is(r.s6('s6-rc', ['-l', r.live, '-u', 'change', 'vms']).code, 0);
    const pid = vmmPid(r, 'a');
    t.true(alive(pid));
    t.not(r.pid('vm-a'), pid, 's6-supervise\'s child is trap, the VMM\'s parent');
    const began = Date.now();
    const down = r.s6('s6-rc', ['-l', r.live, '-d', 'change', 'vm-a']);
    const took = Date.now() - began;
    t.is(down.code, 0, down.stderr);
    t.false(alive(pid), 'the VMM is gone when the stop returns');
    t.true(took < 10_000, `stopped in ${took} ms, not at the 20 s bound`);
    t.true(fs.existsSync(path.join(r.runtime, 'a', 'powered-off')), 'the stub powered off on the button');
    await waitFor('the serial log', () => serial(r, 'a').includes('serial: clean shutdown'));
    const log = serial(r, 'a');
    t.true(log.indexOf('serial: power button pressed') < log.indexOf('serial: clean shutdown'));
    t.is(r.s6('s6-svstat', ['-o', 'up,exitcode', path.join(r.scandir, 'vm-a')]).stdout.trim(), 'false 0', 'trap exits with the VMM\'s status');
  });
}

for (const svc of ['s6 2.15 s6-svc -K', 'Debian s6-svc 2.11, no -K: SIGINT through trap'] as const) {
  realS6rcTest(`a guest that ignores the power button is killed at the bound, not before (${svc})`, async (t, real) => {
    const debian = svc.startsWith('Debian');
    if (debian && !fs.existsSync('/usr/bin/s6-svc')) {
      t.pass('no /usr/bin/s6-svc here');
      return;
    }
    const r = await startRig(t, real, {
      bin: (bin) => installStubVmm(bin),
      flags: ['--stop-timeout', '4000', ...(debian ? ['--s6-svc', '/usr/bin/s6-svc'] : [])],
    });
    makeVm(r.data, 'hung');
    t.is(r.apply().code, 0);
    t.is(r.s6('s6-rc', ['-l', r.live, '-u', 'change', 'vms']).code, 0);
    fs.writeFileSync(path.join(r.runtime, 'hung', 'ignore-power-button'), '');
    const pid = vmmPid(r, 'hung');
    const began = Date.now();
    const stopping = r.s6('s6-svc', ['-d', path.join(r.scandir, 'vm-hung')]);
    t.is(stopping.code, 0);
    await new Promise((res) => setTimeout(res, 2500));
    t.true(alive(pid), 'still running halfway to the bound');
    await waitFor('the VMM to be killed', () => !alive(pid), 15_000, 20);
    const took = Date.now() - began;
    t.true(took >= 4000, `killed after ${took} ms, not before the 4 s bound`);
    t.true(took < 9000, `killed after ${took} ms, before s6-supervise's timeout-kill`);
    await waitFor('the service to be down', () => r.pid('vm-hung') === null);
    const log = serial(r, 'hung');
    t.true((log.match(/serial: power button pressed/g) ?? []).length >= 1);
    t.false(log.includes('serial: clean shutdown'));
    t.false(fs.existsSync(path.join(r.runtime, 'hung', 'powered-off')));
    // What killed it: SIGKILL to the process group (2.15), SIGINT forwarded (2.11).
    const status = r.s6('s6-svstat', ['-o', 'up,signal', path.join(r.scandir, 'vm-hung')]).stdout.trim();
    t.is(status, debian ? 'false NA' : 'false SIGKILL', 'trap dies with the group (-K), or exits as the VMM did on SIGINT');
  });
}

for (const [vmm, sandbox] of [['cloud-hypervisor', 'none'], ['qemu', 'none'], ['crosvm', 'none'], ['qemu', 'bwrap']] as const) {
  const how = sandbox === 'none' ? 'the finish script tells it to exit' : 'in the sandbox, bwrap takes it along (--die-with-parent)';
  realS6rcTest(`the VMM does not outlive a SIGKILLed trap (${vmm}, --sandbox ${sandbox}): ${how}`, async (t, real) => {
    const program = { 'cloud-hypervisor': 'cloud-hypervisor', qemu: 'qemu-system-x86_64', crosvm: 'crosvm' }[vmm];
    const r = await startRig(t, real, {
      bin: (bin) => installStubVmm(bin, program),
      flags: ['--vmm', vmm, '--sandbox', sandbox, ...(vmm === 'crosvm' ? ['--no-user-console'] : [])],
    });
    makeVm(r.data, 'a');
    t.is(r.apply().code, 0);
    t.is(r.s6('s6-rc', ['-l', r.live, '-u', 'change', 'vms']).code, 0);
    const pid = vmmPid(r, 'a');
    // s6-svc -k: SIGKILL to the service's process, trap, which cannot pass it on.
    const began = Date.now();
    t.is(r.s6('s6-svc', ['-k', path.join(r.scandir, 'vm-a')]).code, 0);
    await waitFor('the orphaned VMM to exit', () => !alive(pid), 10_000, 20);
    if (sandbox === 'none') t.true(fs.existsSync(path.join(r.runtime, 'a', 'quit')), 'it exited because it was told to');
    else {
      // bwrap's parent died: bwrap SIGKILLs what it runs at once, before the finish script could ask.
      t.true(Date.now() - began < 1000, `gone in ${Date.now() - began} ms`);
      t.false(fs.existsSync(path.join(r.runtime, 'a', 'quit')), 'killed with bwrap, not told to quit');
    }
    // s6 restarts the service, with a new VMM.
    await waitFor('the restart', () => fs.existsSync(path.join(r.runtime, 'a', 'pid')) && vmmPid(r, 'a') !== pid && alive(vmmPid(r, 'a')), 10_000);
  });
}

realS6rcTest('a hung VMM (no answer on its socket, SIGINT ignored) does not outlive its service when s6-svc has no -K: timeout-kill takes the group', async (t, real) => {
  if (!fs.existsSync('/usr/bin/s6-svc')) {
    t.pass('no /usr/bin/s6-svc here');
    return;
  }
  // Debian's s6-svc 2.11 (no -K) with the prefix's s6-supervise: trap's kill is SIGINT, which this VMM ignores.
  // Unsandboxed: in the sandbox SIGINT ends bwrap, and bwrap the VMM (--die-with-parent), whatever the VMM does.
  const r = await startRig(t, real, { bin: (bin) => installStubVmm(bin), flags: ['--stop-timeout', '2000', '--s6-svc', '/usr/bin/s6-svc', '--sandbox', 'none'] });
  makeVm(r.data, 'stuck');
  t.is(r.apply().code, 0);
  t.true(fs.existsSync(path.join(r.state, 'source', 'vm-stuck', 'flag-timeout-killpg')));
  const up = r.s6('s6-rc', ['-l', r.live, '-u', 'change', 'vms']);
  t.is(up.code, 0, up.stderr + fs.readFileSync(path.join(r.root, 'svscan.log'), 'utf8'));
  fs.writeFileSync(path.join(r.runtime, 'stuck', 'hung'), '');
  const pid = vmmPid(r, 'stuck');
  const down = r.s6('s6-rc', ['-l', r.live, '-d', 'change', 'vm-stuck']);
  t.is(down.code, 0, down.stderr);
  t.true(serial(r, 'stuck').includes('serial: hung: SIGINT ignored'), 'trap did forward SIGINT, in vain');
  await waitFor('the hung VMM to be gone', () => !alive(pid), 10_000, 50);
  t.false(fs.existsSync(path.join(r.runtime, 'stuck', 'quit')), 'it never answered the finish script');
});

realS6rcTest('vmsvc stop while the VM is still starting waits for s6-rc\'s lock, then stops it; a second stop meanwhile too', async (t, real) => {
  // The VMM binds its control socket, so the VM is ready, only after 4 s.
  process.env.STUB_READY_DELAY_MS = '4000';
  t.teardown(() => { delete process.env.STUB_READY_DELAY_MS; });
  const r = await startRig(t, real, { bin: (bin) => installStubVmm(bin), flags: ['--stop-timeout', '20000'] });
  makeVm(r.data, 'slow');
  t.is(r.apply().code, 0);
  const starting = spawn(real.bin('s6-rc'), ['-l', r.live, '-u', 'change', 'vm-slow'], { env: r.env, stdio: 'ignore' });
  const started = new Promise<number | null>((res) => starting.once('exit', (code) => res(code)));
  await waitFor('the VMM to run', () => fs.existsSync(path.join(r.runtime, 'slow', 'pid')), 10_000);
  const args = ['--source', path.join(r.state, 'source'), '--live', r.live, '--s6rc', real.bin('s6-rc')];
  const cli = (extra: readonly string[]) => new Promise<{ code: number | null; err: string }>((res) => {
    const p = spawn(process.execPath, [VMSVC, ...extra, ...withoutCgroup(args)], { env: r.env, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    p.once('exit', (code) => res({ code, err }));
  });
  const [first, second] = await Promise.all([cli(['stop', 'slow']), cli(['stop', 'slow'])]);
  t.is(await started, 0, 'the start it waited for succeeded');
  t.is(first.code, 0, first.err);
  t.is(second.code, 0, second.err);
  t.false(r.up().includes('vm-slow'));
  t.is(r.pid('vm-slow'), null);
  t.true(fs.existsSync(path.join(r.runtime, 'slow', 'powered-off')), 'a clean stop, once it was up');
});

const DEBIAN = { svscan: '/usr/bin/s6-svscan', execlineb: '/usr/lib/execline/bin/execlineb' };
const debianHere = fs.existsSync(DEBIAN.svscan) && fs.existsSync(DEBIAN.execlineb);

/** A temporary root with one VM `a` in data/ and the stub VMM in bin/; removed with the test. */
function oneStubVm(t: ExecutionContext, prefix: string): { root: string; bin: string; vmm: string; data: string; out: string; runtime: string } {
  const root = tempDir(prefix);
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  const bin = path.join(root, 'bin');
  const vmm = installStubVmm(bin);
  const data = path.join(root, 'data');
  makeVm(data, 'a');
  return { root, bin, vmm, data, out: path.join(root, 'out'), runtime: path.join(root, 'run') };
}

/**
 * The generated vm-a of `out`, copied into a scandir of Debian's own
 * s6-svscan; `s6` runs Debian's s6 programs. Torn down with the test.
 */
function underDebianSvscan(t: ExecutionContext, root: string, out: string, env: NodeJS.ProcessEnv): { dir: string; s6: (program: string, args: readonly string[]) => SpawnSyncReturns<string> } {
  const scandir = path.join(root, 'scan');
  fs.mkdirSync(scandir);
  fs.cpSync(path.join(out, 'vm-a'), path.join(scandir, 'vm-a'), { recursive: true, dereference: true });
  const log = fs.openSync(path.join(root, 'svscan.log'), 'a');
  const svscan = spawn(DEBIAN.svscan, [scandir], { env, stdio: ['ignore', log, log] });
  fs.closeSync(log);
  const exited = new Promise<void>((res) => svscan.once('exit', () => res()));
  const dir = path.join(scandir, 'vm-a');
  const s6 = (program: string, args: readonly string[]) => spawnSync(`/usr/bin/${program}`, args, { env, encoding: 'utf8', timeout: 60_000 });
  t.teardown(async () => {
    s6('s6-svc', ['-dx', dir]);
    s6('s6-svscanctl', ['-t', scandir]);
    const timer = setTimeout(() => svscan.kill('SIGKILL'), 20_000);
    await exited;
    clearTimeout(timer);
  });
  return { dir, s6 };
}

/**
 * The same service directory under Debian 12's s6 2.11 and execline 2.9.3
 * (what a host without the newer skarnet stack runs): no s6-rc, a bare
 * s6-svscan on a copy of the generated longrun. A stop, a stop at the bound
 * (SIGINT through trap, since this s6-svc has no -K), and a crash loop that
 * ends.
 */
(debianHere ? test.serial : test.serial.skip)('under Debian s6 2.11 / execline 2.9.3: clean stop, kill at the bound, crash loop ends', async (t) => {
  const { root, bin, vmm, data, out, runtime } = oneStubVm(t, 'vmsvc-s6-211-');
  const gen = vmsvc(['generate', '--data', data, '--out', out, '--runtime-dir', runtime, '--log-dir', path.join(root, 'log'), '--vmm-bin', vmm,
    '--execlineb', DEBIAN.execlineb, '--stop-timeout', '3000', '--crash-deaths', '3']);
  t.is(gen.code, 0, gen.stderr);
  const env = { ...process.env, PATH: `${bin}:/usr/lib/execline/bin:/usr/bin:/bin` };
  const { dir, s6 } = underDebianSvscan(t, root, out, env);
  const pid = () => stubVmmPid(path.join(runtime, 'a')) ?? -1;
  const ready = () => t.is(s6('s6-svwait', ['-U', '-t', '30000', dir]).status, 0, fs.readFileSync(path.join(root, 'svscan.log'), 'utf8'));
  await waitFor('s6-supervise', () => fs.existsSync(path.join(dir, 'supervise', 'status')));
  ready();

  // Clean: the button, and down well before the 3 s bound.
  const first = pid();
  let began = Date.now();
  t.is(s6('s6-svc', ['-dwD', '-T', '20000', dir]).status, 0);
  t.true(Date.now() - began < 2500, `${Date.now() - began} ms`);
  t.false(alive(first));
  t.true(fs.existsSync(path.join(runtime, 'a', 'powered-off')));

  // Ignored: killed at the bound by the SIGINT trap forwards.
  fs.writeFileSync(path.join(runtime, 'a', 'ignore-power-button'), '');
  t.is(s6('s6-svc', ['-u', dir]).status, 0);
  ready();
  const second = pid();
  began = Date.now();
  t.is(s6('s6-svc', ['-dwD', '-T', '20000', dir]).status, 0);
  const took = Date.now() - began;
  t.true(took >= 3000 && took < 8000, `${took} ms for a 3 s bound`);
  t.false(alive(second));

  // Crash loop: three deaths in the window (SIGKILLs of the VMM), then no restart.
  t.is(s6('s6-svdt-clear', [dir]).status, 0);
  t.is(s6('s6-svc', ['-u', dir]).status, 0);
  for (let i = 0; i < 3; i++) {
    ready();
    process.kill(pid(), 'SIGKILL');
    await waitFor('the death', () => s6('s6-svstat', ['-o', 'up', dir]).stdout.trim() === 'false', 10_000, 20);
  }
  await new Promise((res) => setTimeout(res, 2500));
  t.is(s6('s6-svstat', ['-o', 'up,wantedup', dir]).stdout.trim(), 'false false', 'given up after 3 deaths');
});

/**
 * A supervision tree of Debian's s6-supervise 2.11 running services whose
 * PATH finds the prefix's s6-svc 2.15 (a host with a newer s6 beside the
 * distribution's): that s6-svc sends -K without complaint and the old
 * s6-supervise ignores it, so trap's handler must not take its exit status
 * for a kill. A guest that ignores the power button is killed about a second
 * after the bound, by the SIGINT that follows, not at timeout-kill.
 */
(debianHere && realS6rc !== null ? test.serial : test.serial.skip)('Debian s6-supervise 2.11 with a newer s6-svc: a hung guest is still killed at the bound, not at timeout-kill', async (t) => {
  const { root, bin, vmm, data, out, runtime } = oneStubVm(t, 'vmsvc-s6-mixed-');
  const prefixBin = realS6rc!.bin('');
  const gen = vmsvc(['generate', '--data', data, '--out', out, '--runtime-dir', runtime, '--log-dir', path.join(root, 'log'), '--vmm-bin', vmm,
    '--execlineb', realS6rc!.bin('execlineb'), '--stop-timeout', '3000']);
  t.is(gen.code, 0, gen.stderr);
  // The services find the prefix's programs first; the supervisors are Debian's.
  const env = { ...process.env, PATH: `${bin}:${prefixBin}:/usr/bin:/bin` };
  const { dir, s6 } = underDebianSvscan(t, root, out, env);
  await waitFor('s6-supervise', () => fs.existsSync(path.join(dir, 'supervise', 'status')));
  t.is(s6('s6-svwait', ['-U', '-t', '30000', dir]).status, 0, fs.readFileSync(path.join(root, 'svscan.log'), 'utf8'));
  fs.writeFileSync(path.join(runtime, 'a', 'ignore-power-button'), '');
  const pid = stubVmmPid(path.join(runtime, 'a')) ?? -1;
  const began = Date.now();
  t.is(s6('s6-svc', ['-dwD', '-T', '20000', dir]).status, 0);
  const took = Date.now() - began;
  t.false(alive(pid));
  t.true(took >= 3000 && took < 7000, `${took} ms for a 3 s bound (timeout-kill is at 8 s)`);
  t.false(fs.existsSync(path.join(runtime, 'a', 'quit')), 'killed by the stop, not told to quit by finish after timeout-kill');
});

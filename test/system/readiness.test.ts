/**
 * Readiness that means the VM runs, under the real s6-rc: a VM is up only
 * once its VMM answers that the VM runs (and, with guest readiness, once the
 * guest said READY=1); a VMM that is paused, silent or dead fails
 * `s6-rc -u change` at timeout-up. Real QEMU (TCG) with the test guest; the
 * stand-ins of test/support/stub-vmm.ts for cloud-hypervisor and crosvm,
 * which cannot run here.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { startS6rc, type S6rcHarness } from '../support/s6rc-harness.js';
import { guestAccel, makeExt2Disk, prepareGuest, REPO_ROOT } from '../support/guest/guest.js';
import { vmsvc } from '../support/cli.js';
import { dataDirWith, tempDir } from '../support/data-dir.js';
import { realS6rcTest } from '../support/real-s6rc.js';
import { installStubVmm } from '../support/stub-vmm.js';
import { waitFor } from '../support/wait.js';

const read = (p: string): string => (fs.existsSync(p) ? fs.readFileSync(p, 'utf8') : '');

/** How long an up takes, and whether it failed (with s6-rc's words). */
async function timedUp(emu: S6rcHarness, name: string, timeoutMs: number): Promise<{ ms: number; error: string | null }> {
  const at = Date.now();
  try {
    await emu.up([name], { timeoutMs });
    return { ms: Date.now() - at, error: null };
  } catch (e) {
    return { ms: Date.now() - at, error: e instanceof Error ? e.message : String(e) };
  }
}

/** QEMU's own answer to query-status, asked on the VM's QMP socket by this test. */
async function qmpStatus(sock: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const c = net.connect(sock);
    c.on('connect', () => c.write('{"execute":"qmp_capabilities"}\n{"execute":"query-status"}\n'));
    c.on('data', (d) => {
      got += d.toString('utf8');
      const m = /"status": "([a-z-]+)"/.exec(got);
      if (m !== null) {
        c.destroy();
        resolve(m[1]!);
      }
    });
    c.on('error', reject);
  });
}

/**
 * The real QEMU, behind a test-only wrapper that changes one VM by its
 * -name: "paused" starts with -S (the board exists, the vCPUs never run),
 * "dies" gets an option QEMU refuses (it exits at once), "says-ready"
 * has vmsvc.ready=1 appended to its kernel command line (guest-init.sh then
 * writes READY=1 to org.vmsvc.ready).
 */
function installQemuWrapper(binDir: string): string {
  fs.mkdirSync(binDir, { recursive: true });
  const file = path.join(binDir, 'qemu-wrapper');
  fs.writeFileSync(file, [
    '#!/bin/sh',
    'name=',
    'prev=',
    'for a in "$@"; do [ "$prev" = -name ] && name=${a#guest=}; prev=$a; done',
    'case "$name" in',
    '  paused) exec qemu-system-x86_64 -S "$@" ;;',
    '  dies) exec qemu-system-x86_64 -no-such-option "$@" ;;',
    '  says-ready)',
    '    n=$#',
    '    while [ $n -gt 0 ]; do',
    '      a=$1; shift; n=$((n - 1))',
    '      if [ "$prev2" = -append ]; then set -- "$@" "$a vmsvc.ready=1"; else set -- "$@" "$a"; fi',
    '      prev2=$a',
    '    done',
    '    exec qemu-system-x86_64 "$@" ;;',
    '  *) exec qemu-system-x86_64 "$@" ;;',
    'esac',
    '',
  ].join('\n'), { mode: 0o755 });
  return file;
}

interface QemuSetup { out: string; run: string; log: string }

async function qemuVms(t: Parameters<Parameters<typeof realS6rcTest>[1]>[0], names: readonly string[], extra: readonly string[]): Promise<QemuSetup> {
  const guest = await prepareGuest();
  const root = tempDir('ready-', path.join(REPO_ROOT, '.cache'));
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  const data = path.join(root, 'data');
  for (const vm of names) {
    fs.mkdirSync(path.join(data, vm, 'blk'), { recursive: true });
    // The label is what the guest finds; it need not be the VM's name, which may hold any character.
    makeExt2Disk(path.join(data, vm, 'blk', 'root.img'), vm.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 16));
    fs.linkSync(guest.vmlinux, path.join(data, vm, 'vmlinux'));
    fs.linkSync(guest.initramfs, path.join(data, vm, 'initramfs'));
  }
  const s = { out: path.join(root, 'out'), run: path.join(root, 'run'), log: path.join(root, 'log') };
  const wrapper = installQemuWrapper(path.join(root, 'bin'));
  const accel = await guestAccel(guest);
  const gen = vmsvc(['generate', '--vmm', 'qemu', '--vmm-bin', wrapper, '--accel', accel, '--data', data, '--out', s.out, '--runtime-dir', s.run, '--log-dir', s.log,
    '--cmdline', 'console=ttyS0', '--no-user-console', ...extra]);
  t.is(gen.code, 0, gen.stderr);
  return s;
}

/**
 * The VM that runs has a name with = and a space: QEMU's QMP chardev takes an
 * = in its path (an explicit path= key, not -qmp unix:, whose keyless first
 * element QemuOpts splits at the =), and the real kernel, booted by PVH,
 * gets the initramfs whose path holds the space whole.
 */
const RUNS = 'runs=a b';

realS6rcTest('QEMU: up only once query-status says running (a VM named with = and a space); a paused QEMU fails at timeout-up; one that exits at once fails too', async (t, s6rc) => {
  t.timeout(300_000);
  const s = await qemuVms(t, [RUNS, 'paused', 'dies'], ['--timeout-up', '15000', '--stop-timeout', '2000']);
  const emu = await startS6rc(s6rc, [s.out]);
  t.teardown(() => emu.stop());

  const runs = await timedUp(emu, `vm-${RUNS}`, 60_000);
  t.is(runs.error, null);
  t.is(await qmpStatus(path.join(s.run, RUNS, 'qmp.sock')), 'running');

  // -S: the QMP socket exists and answers at once, the VM never runs.
  const pausedUp = timedUp(emu, 'vm-paused', 60_000);
  const pausedSock = path.join(s.run, 'paused', 'qmp.sock');
  await waitFor('the paused QEMU\'s QMP socket, what the old check trusted', () => fs.existsSync(pausedSock), 10_000);
  t.is(await qmpStatus(pausedSock), 'prelaunch');
  const paused = await pausedUp;
  t.not(paused.error, null, 'a paused QEMU must not count as up');
  t.true(paused.ms >= 14_000, `failed after ${paused.ms} ms, before timeout-up (15000)`);
  t.false(emu.isUp('vm-paused'));

  // Exits at once (and again on every restart): not ready, and not hanging past timeout-up.
  const dies = await timedUp(emu, 'vm-dies', 60_000);
  t.not(dies.error, null);
  t.true(dies.ms < 40_000, `took ${dies.ms} ms`);
  t.false(emu.isUp('vm-dies'));
  // QEMU's own words go to the VM's VMM log, not the catch-all log.
  await waitFor('QEMU\'s refusal in the VM\'s VMM log', () => read(path.join(s.log, 'dies', 'vmm', 'current')).includes('no-such-option'));
});

realS6rcTest('QEMU guest readiness: a guest that writes READY=1 makes its VM up; one that never does fails at timeout-up', async (t, s6rc) => {
  t.timeout(400_000);
  const s = await qemuVms(t, ['says-ready', 'mute'], ['--guest-ready', '--timeout-up', '90000', '--stop-timeout', '2000']);
  const check = read(path.join(s.out, 'vm-mute', 'data', 'check'));
  t.regex(check, /ringbuf-read/);
  const emu = await startS6rc(s6rc, [s.out]);
  t.teardown(() => emu.stop());

  const ready = await timedUp(emu, 'vm-says-ready', 120_000);
  t.is(ready.error, null);
  await waitFor('the guest\'s word in its serial log', () => read(path.join(s.log, 'says-ready', 'current')).includes('vmsvc-guest: sent READY=1'), 30_000);

  const muteUp = timedUp(emu, 'vm-mute', 150_000);
  // It boots, and its VMM says it runs: only the guest's word is missing.
  await waitFor('the mute guest to boot', () => read(path.join(s.log, 'mute', 'current')).includes('vmsvc-guest: no ping targets'), 80_000);
  t.is(await qmpStatus(path.join(s.run, 'mute', 'qmp.sock')), 'running');
  const mute = await muteUp;
  t.not(mute.error, null, 'a guest that never says READY=1 must not count as up');
  t.true(mute.ms >= 89_000, `failed after ${mute.ms} ms`);
  t.false(emu.isUp('vm-mute'));
  t.false(read(path.join(s.log, 'mute', 'current')).includes('READY=1'));
});

for (const vmm of ['cloud-hypervisor', 'crosvm', 'qemu'] as const) {
  realS6rcTest(`${vmm} (stub): up when the VMM says the VM runs; paused, silent or exiting at once fails at timeout-up`, async (t, s6rc) => {
    t.timeout(200_000);
    const { root, data } = dataDirWith({ solo: {} });
    t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
    const bin = path.join(root, 'bin');
    // By path: the VMM's sandbox shows /usr and --vmm-bin's own dir, not PATH's other dirs.
    const stub = installStubVmm(bin, { 'cloud-hypervisor': 'cloud-hypervisor', crosvm: 'crosvm', qemu: 'qemu-system-x86_64' }[vmm]);
    const out = path.join(root, 'out');
    const run = path.join(root, 'run');
    const gen = vmsvc(['generate', '--vmm', vmm, '--vmm-bin', stub, '--data', data, '--out', out, '--runtime-dir', run, '--log-dir', path.join(root, 'log'),
      '--no-user-console', '--timeout-up', '4000', '--execlineb', s6rc.bin('execlineb')]);
    t.is(gen.code, 0, gen.stderr);
    for (const [env, wantUp] of [[{}, true], [{ STUB_VM_STATE: 'paused' }, false], [{ STUB_VM_STATE: 'silent' }, false], [{ STUB_EXIT_AT_ONCE: '1' }, false]] as const) {
      const emu = await startS6rc(s6rc, [out], { env: { PATH: `${bin}:${process.env.PATH ?? ''}`, ...env } });
      try {
        const up = await timedUp(emu, 'vm-solo', 30_000);
        t.is(up.error === null, wantUp, `${JSON.stringify(env)}: ${up.error ?? 'up'}`);
        if (!wantUp) t.true(up.ms >= 3_500 && up.ms < 25_000, `${JSON.stringify(env)}: failed after ${up.ms} ms`);
        t.is(emu.isUp('vm-solo'), wantUp);
      } finally {
        await emu.stop();
      }
      fs.rmSync(run, { recursive: true, force: true });
    }
  });
}

/**
 * The generated QEMU check, run by hand with each execline and s6 the
 * scripts must work with (Debian's execline 2.9.3 and s6 2.11.3, and the
 * prefix's), against a real QEMU with no guest at all: SeaBIOS runs, or
 * nothing runs under -S.
 */
realS6rcTest('QEMU check under Debian\'s and the prefix\'s execline and s6: exit 0 only while query-status says running', async (t, s6rc) => {
  t.timeout(120_000);
  const { root, data } = dataDirWith({ solo: {} });
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  const run = path.join(root, 'run');
  const out = path.join(root, 'out');
  const gen = vmsvc(['generate', '--vmm', 'qemu', '--data', data, '--out', out, '--runtime-dir', run, '--log-dir', path.join(root, 'log'), '--no-user-console']);
  t.is(gen.code, 0, gen.stderr);
  const body = read(path.join(out, 'vm-solo', 'data', 'check')).replace(/^#![^\n]*\n/, '');
  const sock = path.join(run, 'solo', 'qmp.sock');
  fs.mkdirSync(path.dirname(sock), { recursive: true });
  // The check runs as the VM's own uid: QEMU does too, in a runtime dir of that uid's, as the run script has it.
  const ids = /s6-applyuidgid\s+-u\s+(\d+)\s+-g\s+(\d+)/.exec(body);
  if (ids === null) throw new Error('the check does not drop to the VM\'s own uid');
  const [uid, gid] = [Number(ids[1]), Number(ids[2])];
  fs.chownSync(path.dirname(sock), uid, gid);
  const stacks = [
    { name: 'Debian', execlineb: '/usr/lib/execline/bin/execlineb', path: '/usr/lib/execline/bin:/usr/bin:/bin' },
    { name: 'prefix', execlineb: s6rc.bin('execlineb'), path: `${path.dirname(s6rc.bin('execlineb'))}:/usr/bin:/bin` },
  ].filter((s) => fs.existsSync(s.execlineb));
  t.true(stacks.length >= 1);
  for (const paused of [false, true]) {
    fs.rmSync(sock, { force: true });
    const qemu = spawn('qemu-system-x86_64', ['-machine', 'q35', '-accel', 'tcg', '-nodefaults', '-display', 'none', '-qmp', `unix:${sock},server=on,wait=off`, ...(paused ? ['-S'] : [])], { stdio: 'ignore', uid, gid });
    try {
      await waitFor('QEMU\'s QMP socket', () => fs.existsSync(sock), 20_000);
      for (const stack of stacks) {
        const file = path.join(root, `check-${stack.name}`);
        fs.writeFileSync(file, `#!${stack.execlineb} -P\n${body}`, { mode: 0o755 });
        const r = spawnSync(file, [], { env: { PATH: stack.path }, encoding: 'utf8', timeout: 30_000 });
        t.is(r.status, paused ? 1 : 0, `${stack.name}, ${paused ? '-S' : 'running'}: ${r.stderr}`);
      }
    } finally {
      qemu.kill('SIGKILL');
    }
  }
  // No QEMU at all: the check fails at once.
  fs.rmSync(sock, { force: true });
  for (const stack of stacks) {
    const r = spawnSync(path.join(root, `check-${stack.name}`), [], { env: { PATH: stack.path }, encoding: 'utf8', timeout: 30_000 });
    t.not(r.status, 0, stack.name);
  }
});

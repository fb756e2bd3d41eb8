/**
 * The cgroup limits, where a kernel enforces them. This machine's cgroup v2
 * hierarchy has no controllers (they are bound to v1), so the generated
 * services run inside the test guest (test/support/guest/guest.ts), whose Debian
 * kernel has cgroup v2 with memory, pids and cpu: its initramfs, with
 * test/support/guest/cgroup-init.sh as /init, skarnet's programs from the prefix, a
 * stub VMM (test/support/guest/vmm-stub-cgroup.sh) and the service dirs of two VMs
 * that vmsvc generated, appended (the kernel unpacks concatenated archives
 * in order, later files over earlier ones). The guest runs them under
 * s6-svscan and reports what the kernel did.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { guestAccel, Newc, prepareGuest } from '../support/guest/guest.js';
import { vmsvc } from '../support/cli.js';
import { makeVm } from '../support/data-dir.js';
import { realS6rcTest } from '../support/real-s6rc.js';

const GUEST_FILES = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'support', 'guest');
/** TCG boots the guest in about 20 s here; the trials take about 15 s more. */
const GUEST_BOUND_MS = 240_000;

/** Every file below `dir`, as the appended archive holds it below `at`. */
function addTree(cpio: Newc, dir: string, at: string): void {
  cpio.dir(at);
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const from = path.join(dir, e.name);
    const to = `${at}/${e.name}`;
    if (e.isDirectory()) addTree(cpio, from, to);
    else if (e.isSymbolicLink()) cpio.symlink(to, fs.readlinkSync(from));
    else cpio.file(to, fs.readFileSync(from), fs.statSync(from).mode & 0o7777);
  }
}

/** The prefix's programs link only libc dynamically (skalibs is static): it and its loader go along. */
function addLibc(cpio: Newc): void {
  for (const dir of ['lib', 'lib64', 'lib/x86_64-linux-gnu']) cpio.dir(dir);
  cpio.file('lib/x86_64-linux-gnu/libc.so.6', fs.readFileSync('/lib/x86_64-linux-gnu/libc.so.6'), 0o755);
  cpio.file('lib64/ld-linux-x86-64.so.2', fs.readFileSync(fs.realpathSync('/lib64/ld-linux-x86-64.so.2')), 0o755);
}

realS6rcTest('cgroups, enforced by a real kernel: a VM past its memory.max is OOM-killed, past its pids.max cannot fork, held to its cpu.max; its uid cannot leave or lift them; a stop kills what it left and removes its cgroup; the other VM runs on', async (t, real) => {
  const guest = await prepareGuest();
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'vmsvc-cgroup-guest-'));
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  const data = path.join(root, 'data');
  makeVm(data, 'hog', { config: { memory: '32M', 'pids-max': '20', 'cpu-max': '10' } });
  makeVm(data, 'steady', { config: { memory: '64M' } });
  const out = path.join(root, 'out');
  // Root VMMs and no sandbox: the guest has no bwrap; the cage is tried with a VM uid by hand (cgroup-init.sh).
  const gen = vmsvc(['generate', '--data', data, '--out', out, '--data-at-runtime', '/data', '--vmm-user', 'root', '--log-user', 'root', '--sandbox', 'none',
    '--vmm-bin', '/bin/vmm-stub', '--execlineb', '/opt/skarnet/bin/execlineb', '--no-user-console', '--stop-timeout', '1000',
    '--memory', '64M', '--vmm-memory-overhead', '32M', '--cgroup', '/sys/fs/cgroup/vmsvc']);
  t.is(gen.code, 0, gen.stderr);

  const cpio = new Newc();
  cpio.file('init', fs.readFileSync(path.join(GUEST_FILES, 'cgroup-init.sh')), 0o755);
  cpio.file('bin/vmm-stub', fs.readFileSync(path.join(GUEST_FILES, 'vmm-stub-cgroup.sh')), 0o755);
  cpio.dir('opt');
  cpio.dir('opt/skarnet');
  // libexec: s6-ftrigrd, which s6-svwait and s6-notifyoncheck start by its absolute path.
  for (const d of ['bin', 'libexec']) addTree(cpio, path.join(real.prefix, d), `opt/skarnet/${d}`);
  addLibc(cpio);
  cpio.dir('scan');
  for (const vm of ['hog', 'steady']) addTree(cpio, path.join(out, `vm-${vm}`), `scan/vm-${vm}`);
  const initramfs = path.join(root, 'initramfs.cpio.gz');
  fs.writeFileSync(initramfs, Buffer.concat([fs.readFileSync(guest.initramfs), gzipSync(cpio.finish())]));

  const accel = await guestAccel(guest);
  const qemu = spawn('qemu-system-x86_64', [
    '-machine', 'q35', '-accel', accel, '-cpu', 'max', '-m', '512', '-smp', '1',
    '-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot',
    '-kernel', guest.vmlinux, '-initrd', initramfs, '-append', 'console=ttyS0 quiet panic=-1',
    '-serial', 'stdio',
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => qemu.kill('SIGKILL'));
  let serial = '';
  qemu.stdout.on('data', (b: Buffer) => { serial += b.toString('latin1'); });
  qemu.stderr.resume();
  const ended = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), GUEST_BOUND_MS);
    qemu.once('exit', () => { clearTimeout(timer); resolve(true); });
  });
  if (process.env.VMSVC_CGROUP_SERIAL !== undefined) fs.writeFileSync(process.env.VMSVC_CGROUP_SERIAL, serial);
  const said = serial.split(/\r?\n/).filter((l) => l.startsWith('vmsvc-cg: '));
  t.log(said.join('\n'));
  t.true(ended && said.includes('vmsvc-cg: end'), `the guest ran to its end within ${GUEST_BOUND_MS / 1000} s:\n${serial.slice(-3000)}`);
  const line = (re: RegExp): RegExpExecArray | null => said.map((l) => re.exec(l)).find((m) => m !== null) ?? null;
  const number = (re: RegExp): number => Number(line(re)?.[1] ?? NaN);

  t.truthy(line(/^vmsvc-cg: parent controllers cpu memory pids$/), 'the parent gives memory, pids and cpu');
  t.truthy(line(/^vmsvc-cg: hog: runs in \/vmsvc\/vm-hog$/), 'the run script entered the VM\'s cgroup before the VMM');
  t.truthy(line(/^vmsvc-cg: steady: runs in \/vmsvc\/vm-steady$/));
  // What the run script wrote: memory + --vmm-memory-overhead; config/pids-max; config/cpu-max 10% of a 100 ms period; no swap.
  t.truthy(line(/^vmsvc-cg: hog memory\.max 67108864 pids\.max 20 cpu\.max 10000 100000 swap\.max 0$/));

  // Memory: 100M in a 64M cgroup is OOM-killed (128 + SIGKILL), and the kernel counts the kill; 40M in the other's 96M is not.
  t.is(number(/^vmsvc-cg: hog: dd of 100M exited (\d+)/), 137);
  t.true(number(/oom_kill (\d+)$/) >= 1);
  t.is(number(/^vmsvc-cg: steady: dd of 40M exited (\d+)$/), 0);
  // Tasks: never more than pids.max, and the refused forks counted.
  t.true(number(/^vmsvc-cg: hog: pids\.current (\d+) of pids\.max 20/) <= 20);
  t.true(number(/pids\.events max (\d+)$/) >= 1);
  // CPU: 3 s of spinning at 10% is about 0.3 s, throttled; the other, uncapped, spins for well over a second.
  const hogCpu = number(/^vmsvc-cg: hog: cpu used (\d+) usec/);
  const steadyCpu = number(/^vmsvc-cg: steady: cpu used (\d+) usec/);
  t.true(hogCpu < 600_000 && number(/^vmsvc-cg: hog: cpu used \d+ usec in 3 s, throttled (\d+) times$/) > 0, `hog used ${hogCpu} usec`);
  t.true(steadyCpu > 1_200_000, `steady used ${steadyCpu} usec`);

  // The cage, and its control.
  t.truthy(line(/^vmsvc-cg: cage: uid move out refused$/));
  t.truthy(line(/^vmsvc-cg: cage: uid memory\.max write refused$/));
  t.truthy(line(/^vmsvc-cg: control: root moved itself$/));

  // The stop: the daemon that left the VMM's session ran in the VM's cgroup, and is gone with it.
  t.truthy(line(/^vmsvc-cg: before stop: daemon \d+ runs in \/vmsvc\/vm-hog$/));
  t.truthy(line(/^vmsvc-cg: after stop: daemon gone$/));
  t.truthy(line(/^vmsvc-cg: after stop: cgroup removed$/));
  t.truthy(line(/^vmsvc-cg: steady pid \d+, still true$/), 'the other VM runs on');
});

/**
 * A first VM in five minutes: two real guests (a netvm and a client that
 * pings it) under s6, from a data dir vmsvc checks and applies, with QEMU
 * under the accelerator that boots here; then the admin commands against
 * them; then everything gone again.
 *
 *   npm run first-vm            build the guest, start the VMs, say what to try
 *   npm run first-vm -- down    stop them and remove everything this made
 *
 * Needs root, what ./scripts/setup-tests.sh installs (QEMU, busybox-static,
 * e2fsprogs, iproute2, ...), `npm run build`, and skarnet's s6-rc built under
 * VMSVC_S6RC_PREFIX (default /opt/skarnet; see README, "A first VM in five minutes"). The guest
 * is the test suite's (test/support/guest/guest.ts: Debian's cloud kernel and a
 * busybox initramfs), built once into .cache/guest. Everything else lives in
 * one directory, VMSVC_FIRST_VM_DIR (default /tmp/vmsvc-first-vm), and one
 * network namespace, VMSVC_FIRST_VM_NETNS (default vmsvc-first-vm): the
 * host's own interfaces are never touched.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { guestAccel, makeExt2Disk, prepareGuest } from '../test/support/guest/guest.js';
import { withOpenTun } from '../test/support/tun.js';
import { probeCgroup } from '../generator/pipeline/host-probe.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const VMSVC = path.join(REPO, 'bin', 'vmsvc.cjs');
const PREFIX = process.env.VMSVC_S6RC_PREFIX ?? '/opt/skarnet';
const DIR = process.env.VMSVC_FIRST_VM_DIR ?? '/tmp/vmsvc-first-vm';
const NETNS = process.env.VMSVC_FIRST_VM_NETNS ?? 'vmsvc-first-vm';
const VMS = ['netvm', 'client'] as const;
const CGROUP_ROOT = '/sys/fs/cgroup';
const CGROUP = path.join(CGROUP_ROOT, 'vmsvc-first-vm');

const at = {
  data: path.join(DIR, 'data'),
  state: path.join(DIR, 'state'),
  scandir: path.join(DIR, 'scan'),
  runtime: path.join(DIR, 'run'),
  log: path.join(DIR, 'log'),
  svscanLog: path.join(DIR, 'svscan.log'),
};
const bin = (program: string): string => path.join(PREFIX, 'bin', program);
const env = { ...process.env, PATH: `${path.join(PREFIX, 'bin')}:${process.env.PATH ?? '/usr/bin:/bin'}` };

class Refused extends Error {}

function run(program: string, args: readonly string[], timeoutMs = 120_000): { code: number; out: string } {
  const r = spawnSync(program, args, { encoding: 'utf8', env, timeout: timeoutMs });
  return { code: r.status ?? -1, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

function netnsExists(): boolean {
  return run('ip', ['netns', 'list']).out.split('\n').some((l) => l.split(' ')[0] === NETNS);
}

async function up(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Refused('run it as root: it creates a network namespace, taps and bridges');
  for (const p of ['s6-svscan', 's6-rc', 's6-rc-init', 's6-rc-compile', 'execlineb']) {
    if (!fs.existsSync(bin(p))) throw new Refused(`no ${bin(p)}: build skalibs, execline, s6 and s6-rc under ${PREFIX} (README, "A first VM in five minutes"), or set VMSVC_S6RC_PREFIX`);
  }
  if (!fs.existsSync(path.join(REPO, 'dist', 'vmsvc.cjs'))) throw new Refused('no dist/vmsvc.cjs: run npm run build first');
  if (netnsExists()) throw new Refused(`network namespace ${NETNS} is there already: npm run first-vm -- down`);
  // Made here, root's alone, or refused: a directory someone else made
  // first (in /tmp, say) would let them change what root applies and runs.
  // 0755: each VM's own uid reaches its files, run and log dirs below it.
  try {
    fs.mkdirSync(DIR, { mode: 0o755 });
  } catch (e) {
    throw new Refused(`cannot make ${DIR} (${e instanceof Error ? e.message : String(e)}): if a first VM runs, npm run first-vm -- down`);
  }

  say('preparing the guest (the first time: Debian\'s cloud kernel is downloaded and unpacked, about a minute)');
  const guest = await prepareGuest();
  const accel = await guestAccel(guest);
  say(`guest: ${guest.kernelPackage}; accelerator that boots it here: ${accel}`);

  // The data dir, as on a Spectrum user partition: one directory per VM.
  for (const vm of VMS) {
    fs.mkdirSync(path.join(at.data, vm, 'blk'), { recursive: true });
    fs.copyFileSync(guest.vmlinux, path.join(at.data, vm, 'vmlinux'));
    fs.copyFileSync(guest.initramfs, path.join(at.data, vm, 'initramfs'));
    makeExt2Disk(path.join(at.data, vm, 'blk', 'root.img'), vm);
    fs.mkdirSync(path.join(at.data, vm, 'config'));
    fs.writeFileSync(path.join(at.data, vm, 'config', 'autostart'), '');
    fs.writeFileSync(path.join(at.data, vm, 'config', 'cmdline'), `vmsvc.name=${vm}`);
  }
  fs.mkdirSync(path.join(at.data, 'client', 'providers', 'net'), { recursive: true });
  fs.writeFileSync(path.join(at.data, 'client', 'providers', 'net', 'netvm'), '');

  // A private s6-svscan in its own network namespace: the link oneshots make
  // their bridge and taps there.
  for (const d of [at.scandir, at.state]) fs.mkdirSync(d, { recursive: true });
  if (run('ip', ['netns', 'add', NETNS]).code !== 0) throw new Refused(`cannot create network namespace ${NETNS}`);
  const log = fs.openSync(at.svscanLog, 'a');
  // Each VMM runs as a uid of its own and opens /dev/net/tun: Debian makes it
  // 0666; where it is not (a container's 0600), this tree alone gets a 0666
  // node of the same device (test/support/tun.ts).
  const svscan = spawn('ip', ['netns', 'exec', NETNS, ...withOpenTun(DIR, [bin('s6-svscan'), at.scandir], true)], { env, stdio: ['ignore', log, log], detached: true });
  svscan.unref();
  fs.closeSync(log);
  for (let i = 0; !fs.existsSync(path.join(at.scandir, '.s6-svscan', 'control')); i++) {
    if (i > 400) throw new Refused(`s6-svscan did not start: ${fs.readFileSync(at.svscanLog, 'utf8')}`);
    await new Promise((r) => setTimeout(r, 25));
  }

  const cgroup = cgroupParent();
  say('checking and applying the data dir (both VMs are marked config/autostart)');
  const check = run(process.execPath, [VMSVC, 'check', '--vmm', 'qemu', '--data', at.data]);
  process.stdout.write(check.out);
  const apply = run(process.execPath, [
    VMSVC, 'apply', '--vmm', 'qemu', '--accel', accel, '--data', at.data, '--state', at.state, '--scandir', at.scandir,
    '--runtime-dir', at.runtime, '--log-dir', at.log, '--execlineb', bin('execlineb'),
    // By path: apply records them for the admin commands, run from a shell whose PATH may not have them.
    ...['s6-rc', 's6-rc-compile', 's6-rc-init', 's6-rc-update', 's6-softlimit'].flatMap((p) => [`--${p}`, bin(p)]),
    '--cmdline', 'console=ttyS0 quiet', '--timeout-up', '120000', '--cgroup', cgroup,
  ], 600_000);
  process.stdout.write(apply.out);
  if (apply.code !== 0) throw new Refused(`apply failed (exit ${apply.code}); s6-svscan's log: ${at.svscanLog}; clean up with npm run first-vm -- down`);

  const vmsvc = path.relative(process.cwd(), VMSVC) || VMSVC;
  say(`two VMs run under s6 in network namespace ${NETNS}. Try:

  export VMSVC_STATE=${at.state}
  ${vmsvc} ls                    # both ready, with pids, addresses, the link
  ${vmsvc} logs -f client        # the client's serial console: it pings its netvm
  ${vmsvc} console client        # a shell in the guest (Ctrl-] leaves)
  ${vmsvc} restart netvm         # the client, which needs it, restarts too; both ping again
  ${vmsvc} show client           # its settings, VMM argv, disks, links

When done: npm run first-vm -- down`);
}

async function down(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Refused('run it as root');
  const live = path.join(at.state, 'live');
  if (fs.existsSync(live)) {
    say('stopping the VMs (their guests power off)');
    run(bin('s6-rc'), ['-l', live, '-da', 'change'], 180_000);
  }
  if (fs.existsSync(path.join(at.scandir, '.s6-svscan', 'control'))) run(bin('s6-svscanctl'), ['-q', at.scandir]);
  // What is left of the supervision tree (s6-svscan does not wait for its supervisors), by cwd below DIR.
  for (let i = 0; i < 100 && processesUnder(DIR).length > 0; i++) await new Promise((r) => setTimeout(r, 100));
  for (const pid of processesUnder(DIR)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Gone meanwhile.
    }
  }
  if (netnsExists()) run('ip', ['netns', 'del', NETNS]);
  // The VMs' finish scripts removed their cgroups; the parent goes now that it is empty.
  if (fs.existsSync(CGROUP)) fs.rmdirSync(CGROUP);
  fs.rmSync(DIR, { recursive: true, force: true });
  say(`removed ${DIR} and network namespace ${NETNS}; unset VMSVC_STATE if you exported it`);
}

/**
 * The --cgroup parent for these VMs: made below the cgroup2 root, with
 * memory, pids and cpu given to it and its children, as a host's boot would
 * (doc/resources.md); where the kernel offers them no cgroup v2 (they are
 * bound to v1, as on some CI machines), none, said: the VMs then run
 * without limits.
 */
function cgroupParent(): string {
  const wanted = '+memory +pids +cpu';
  try {
    const controllers = fs.readFileSync(path.join(CGROUP_ROOT, 'cgroup.controllers'), 'latin1').split(/\s+/);
    if (['memory', 'pids', 'cpu'].every((c) => controllers.includes(c))) {
      fs.writeFileSync(path.join(CGROUP_ROOT, 'cgroup.subtree_control'), wanted);
      fs.mkdirSync(CGROUP, { recursive: true });
      fs.writeFileSync(path.join(CGROUP, 'cgroup.subtree_control'), wanted);
    }
  } catch {
    // Said below, as the host check sees it.
  }
  const found = probeCgroup(CGROUP);
  if (found.kind === 'usable') {
    say(`each VM gets a cgroup below ${CGROUP}, with its memory, task and CPU limits`);
    return CGROUP;
  }
  say(`no cgroup limits here (--cgroup none): ${found.kind === 'unusable' ? found.why.join('; ') : 'not asked'}`);
  return 'none';
}

/** Processes whose working directory lies below `root`: the supervisors, the VMMs, the loggers. */
function processesUnder(root: string): number[] {
  const out: number[] = [];
  for (const pid of fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      const cwd = fs.readlinkSync(`/proc/${pid}/cwd`);
      if (cwd === root || cwd.startsWith(`${root}/`)) out.push(Number(pid));
    } catch {
      // Gone, or not ours to read.
    }
  }
  return out;
}

function say(text: string): void {
  process.stdout.write(`first-vm: ${text}\n`);
}

const command = process.argv[2] ?? 'up';
try {
  if (command === 'up') await up();
  else if (command === 'down') await down();
  else throw new Refused(`usage: npm run first-vm [-- up|down] (not ${command})`);
} catch (e) {
  if (!(e instanceof Refused)) throw e;
  process.stderr.write(`first-vm: ${e.message}\n`);
  process.exitCode = 1;
}

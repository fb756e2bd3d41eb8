/**
 * The host rules (`check --host`, and `apply` before it runs anything):
 * whether this host can run what the tree asks of it. Pure: the facts are
 * gathered by pipeline/host-probe.ts, which runs the probes; this module
 * only judges them. The data directory may be perfect and every VM still
 * fail to start for a missing VMM, a KVM that cannot create a VM, or no
 * s6-svscan on the scandir; until now that showed only once a start failed.
 */
import * as path from 'node:path';
import { printable } from '../util/bytes.js';
import { error, warning, type Diagnostic, type RuleId } from './diagnostic.js';
import type { Untrusted } from '../util/trusted-path.js';

/** A program vmsvc or the generated services run, by the flag that names it. */
export interface ProgramFact {
  /** `--s6-log`. */
  readonly flag: string;
  /** The flag's value: a name looked up in PATH, or an absolute path. */
  readonly program: string;
  /** Where it was found (a regular file), or null. */
  readonly found: string | null;
}

/** What running the accelerator probe said. */
export type AccelFact =
  /** Nothing to probe: --accel is not kvm. */
  | { readonly kind: 'not-asked' }
  /** The probe opened /dev/kvm and created a VM. */
  | { readonly kind: 'works' }
  | { readonly kind: 'fails'; readonly probe: readonly string[]; readonly said: string }
  /** No program to probe with. */
  | { readonly kind: 'unprobed'; readonly program: string };

/** What trying the VMM's sandbox as the VMM's user said. */
export type SandboxFact =
  /** Nothing to try: --sandbox none, or no bwrap (host-program-missing says so). */
  | { readonly kind: 'not-asked' }
  | { readonly kind: 'works' }
  /** `program`: where bwrap was found. */
  | { readonly kind: 'fails'; readonly program: string; readonly probe: readonly string[]; readonly said: string };

/** What the cgroup parent (--cgroup) offers the VMs' cgroups. */
export type CgroupFact =
  /** --cgroup none. */
  | { readonly kind: 'not-asked' }
  | { readonly kind: 'usable' }
  /** `why`: each thing missing, in words. */
  | { readonly kind: 'unusable'; readonly parent: string; readonly why: readonly string[] };

export interface HostFacts {
  /** The VMM program; `executable` is null when it was not found, else what the VMM's user was told. */
  readonly vmm: ProgramFact & { readonly user: string; readonly executable: { readonly ok: true } | { readonly ok: false; readonly said: string } | null };
  /** Programs the generated scripts run (s6, execline, iproute2, the VMM's client). */
  readonly services: readonly ProgramFact[];
  /** Programs apply itself runs (s6-rc's and s6-svscanctl, s6-softlimit). */
  readonly apply: readonly ProgramFact[];
  readonly accel: AccelFact;
  readonly sandbox: SandboxFact;
  /**
   * With --sandbox bwrap and the VMM found, what its sandbox shows of it:
   * `real`, the VMM found with every link resolved, and `shows`, each
   * place the sandbox shows (pipeline/sandbox.ts sandboxShows) with its host
   * side resolved (one this host lacks left out). Null: --sandbox none, or
   * no VMM found (host-vmm-missing).
   */
  readonly vmmSandbox: { readonly real: string; readonly shows: readonly { readonly at: string; readonly real: string }[] } | null;
  /** The scandir and the pid of the s6-svscan watching it; null when no scandir was given. */
  readonly svscan: { readonly scandir: string; readonly pid: number | null } | null;
  /**
   * The data dir as the services open it (--data-at-runtime, else --data),
   * and where another user could make the way to it lead elsewhere
   * (util/trusted-path.ts untrustedRoute), or null; `sharesFs`: a host
   * directory on the data dir's file system (the first of a fixed list), or
   * null (none, or the data dir does not exist here).
   */
  readonly dataDir: { readonly path: string; readonly untrusted: Untrusted | null; readonly sharesFs: string | null };
  readonly cgroup: CgroupFact;
}

/**
 * The rules whose failure makes `apply` itself fail or hang: without the
 * s6-rc programs it can run nothing, and without an s6-svscan on the
 * scandir s6-rc-init and s6-rc-update fail after the compile (s6-rc-init:
 * "s6-svscan is not running"), so better before anything. The others
 * (a VMM, KVM, a program the services run) fail the VMs' starts, not
 * apply: at boot the database still loads, and `ls` says why a VM is down.
 * Nor does host-data-ancestor-untrusted: apply works, and refusing it would
 * not close the way: the loaded database's VMs go on (re)starting through
 * it under s6-supervise, while apply is what removes or changes a VM. It is
 * the host's to fix, and check --host and every apply say so.
 * host-cgroup-unusable stops it too: every VM's start would fail where its
 * run script writes a limit, and running them unlimited is --cgroup none's
 * to say, never a fallback.
 */
export const STOPS_APPLY: ReadonlySet<RuleId> = new Set<RuleId>(['host-s6rc-missing', 'host-svscan-missing', 'host-cgroup-unusable']);

export function hostDiagnostics(f: HostFacts): Diagnostic[] {
  const out: Diagnostic[] = [];
  if (f.vmm.found === null) {
    out.push(error('host-vmm-missing', f.vmm.program, null, `the VMM program ${f.vmm.program}${byFlag(f.vmm)} is not ${inPath(f.vmm.program)}`,
      'install the VMM, or name it with --vmm-bin (an absolute path, or a name in the PATH the supervision tree runs with)'));
  } else if (f.vmm.executable !== null && !f.vmm.executable.ok) {
    out.push(error('host-vmm-not-executable', f.vmm.found, null,
      `the VMM program is not executable by the VMM's user ${f.vmm.user} (--vmm-user): ${f.vmm.executable.said}`,
      `give ${f.vmm.user} execute permission on it and search permission on every directory above it`));
  }
  const box = f.vmmSandbox;
  const found = f.vmm.found === null ? null : path.resolve(f.vmm.found);
  if (box !== null && found !== null && !inSandbox(box, found)) {
    out.push(error('host-vmm-hidden', found, null,
      `the VMM program ${printable(found)}${box.real === found ? '' : `, which is ${printable(box.real)},`} is not in the VMM's sandbox (--sandbox bwrap), which shows /usr and the directory of a --vmm-bin given as an absolute path: bwrap would not find it there, and the VMs would not start`,
      `name it by where it is, --vmm-bin ${printable(box.real)} (the sandbox then shows its directory, read-only), or run the VMMs unsandboxed with --sandbox none`));
  }
  for (const p of f.services.filter((s) => s.found === null)) {
    out.push(error('host-program-missing', p.program, null, `${p.program}${byFlag(p)}, which the generated services run, is not ${inPath(p.program)}`,
      `install it (s6, execline, iproute2 or the VMM's package), or name it with ${p.flag}`));
  }
  for (const p of f.apply.filter((s) => s.found === null)) {
    out.push(error('host-s6rc-missing', p.program, null, `${p.program}${byFlag(p)}, which apply runs, is not ${inPath(p.program)}`,
      `install s6-rc and s6, or name it with ${p.flag}`));
  }
  const accel = f.accel;
  if (accel.kind === 'fails') {
    out.push(error('host-accel-unusable', '/dev/kvm', null,
      `KVM cannot create a VM for the VMM's user ${f.vmm.user} (--accel kvm): ${accel.probe.join(' ')} said: ${accel.said}`,
      'load the kvm module and give the VMM\'s user access to /dev/kvm (the kvm group); a paravirtual KVM that cannot run a guest needs --accel tcg (QEMU only)'));
  } else if (accel.kind === 'unprobed') {
    out.push(warning('host-accel-unprobed', accel.program, null, `cannot tell whether KVM works: the probe program ${accel.program} (--kvm-probe) is not ${inPath(accel.program)}`,
      'install QEMU (qemu-system-x86_64) or name a QEMU with --kvm-probe: it opens /dev/kvm and creates a VM, which the VMMs need'));
  }
  if (f.sandbox.kind === 'fails') {
    out.push(error('host-sandbox-unusable', f.sandbox.program, null,
      `bwrap cannot make the VMM's sandbox as the VMM's user ${f.vmm.user} (--sandbox bwrap): ${f.sandbox.probe.join(' ')} said: ${f.sandbox.said}`,
      'allow unprivileged user namespaces (user.max_user_namespaces above 0; on Debian kernels kernel.unprivileged_userns_clone=1), or run the VMMs unsandboxed with --sandbox none'));
  }
  const data = f.dataDir.untrusted;
  if (data !== null) {
    out.push(error('host-data-ancestor-untrusted', data.at, null,
      `a user other than root can change the way to the data dir ${printable(f.dataDir.path)}: ${printable(data.why)}; root reads the data dir by it at each apply and, at each start, binds it and opens below it the files a VMM gets as descriptors, so that user could lead root to files of their choice`,
      `make ${printable(data.at)} and every directory above the data dir root's and writable by root alone (chown root:root, chmod go-w), or keep the data dir below such directories; the data dir itself may stay the user's`));
  }
  if (f.dataDir.sharesFs !== null) {
    // Root's grants and opens act on whatever inode a path reaches: a hard link is one, and only a file system of its own keeps host files out (EXDEV).
    out.push(warning('host-data-shared-fs', f.dataDir.path, null,
      `the data dir is on the file system that also holds ${printable(f.dataDir.sharesFs)}: whoever writes the user partition can hard-link a file of that file system into a VM's directory (any file with fs.protected_hardlinks=0), and root's opens and ACL grants for the VM would then act on it`,
      'mount the user partition as a file system of its own (and keep fs.protected_hardlinks=1)'));
  }
  if (f.cgroup.kind === 'unusable') {
    out.push(error('host-cgroup-unusable', f.cgroup.parent, null,
      `the VMs' cgroups cannot be made below ${printable(f.cgroup.parent)} (--cgroup): ${f.cgroup.why.map(printable).join('; ')}`,
      `on a cgroup v2 host (Linux 5.14 or later, cgroup2 mounted on /sys/fs/cgroup): mkdir ${printable(f.cgroup.parent)}, then enable the controllers for it and in it: echo +memory +pids +cpu into the cgroup.subtree_control of its parent and of itself (doc/resources.md); or run the VMs without limits with --cgroup none`));
  }
  if (f.svscan !== null && f.svscan.pid === null) {
    out.push(error('host-svscan-missing', f.svscan.scandir, null, 'no s6-svscan runs on this scan directory',
      'start s6-svscan on it first (at boot, the supervision tree s6-rc is loaded into): s6-rc-init and s6-rc-update need it to supervise the VMs'));
  }
  return out;
}

/**
 * Whether the sandbox shows the VMM found at `found`: there at that path
 * (bwrap's execvp looks a name up in PATH inside, where only what the
 * sandbox shows is), and the file it leads to inside what is shown (a link
 * in /usr/bin to /opt is in the sandbox, leading nowhere). Links are
 * resolved as the host has them: one that leaves what is shown on the way
 * and comes back into it passes, which no install does.
 */
function inSandbox(box: NonNullable<HostFacts['vmmSandbox']>, found: string): boolean {
  return box.shows.some((s) => within(found, s.at)) && box.shows.some((s) => within(box.real, s.real));
}

function within(p: string, dir: string): boolean {
  return p === dir || p.startsWith(dir === '/' ? dir : `${dir}/`);
}

function byFlag(p: ProgramFact): string {
  return ` (${p.flag})`;
}

function inPath(program: string): string {
  return program.startsWith('/') ? 'a regular file' : 'found in PATH';
}

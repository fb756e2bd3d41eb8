/**
 * Gathers the facts the host rules judge (rules/host.ts): where each program
 * is, whether the VMM's user may execute the VMM, whether KVM creates a VM,
 * whether an s6-svscan watches the scandir, who may change the way to the
 * data dir. Runs as root at boot, like apply; it runs only host programs
 * vmsvc's flags name, never anything of the data directory.
 */
import { describeRunAs, dropArgv, sampleVmmRunAs } from './identities.js';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { printable } from '../util/bytes.js';
import type { CommandRunner } from '../util/command-runner.js';
import { errnoOf } from '../util/errno.js';
import { untrustedRoute } from '../util/trusted-path.js';
import { hostDiagnostics, type AccelFact, type CgroupFact, type HostFacts, type ProgramFact, type SandboxFact } from '../rules/host.js';
import { baseOptions, sandboxShows } from './sandbox.js';
import type { Diagnostic } from '../rules/diagnostic.js';
import { findSvscan } from '../s6rc/resources.js';
import { VMM_FACTS, type VmmRequest } from '../vmm/index.js';
import { SERVICE_PROGRAMS, type GeneratorOptions, type ServiceProgram } from './options.js';
import { CGROUP_CONTROLLERS } from './cgroup.js';

export interface HostRequest {
  readonly options: GeneratorOptions;
  /** --data, as given; the services open --data-at-runtime instead, when set. */
  readonly dataDir: string;
  /** The programs apply runs, by the flag that names them (`--s6-rc-init`). */
  readonly applyPrograms: readonly { readonly flag: string; readonly program: string }[];
  /** The scandir whose s6-svscan to look for; null: not asked. */
  readonly scandir: string | null;
  /** The QEMU that probes KVM; null: --vmm-bin when the VMM is QEMU, else qemu-system-x86_64. */
  readonly kvmProbe: string | null;
  /** Where names are looked up: vmsvc's own PATH, which at boot is the supervision tree's. */
  readonly pathEnv: string;
}

/** QEMU's own default binary name, the probe when the VMM is not QEMU. */
const DEFAULT_KVM_PROBE = 'qemu-system-x86_64';
/** QEMU with no board starts in well under a second; a hung probe must not hang apply at boot. */
const PROBE_TIMEOUT_MS = 10_000;
/** What of a probe's complaint goes into a diagnostic. */
const SAID_BYTES = 400;

export function hostPreflight(req: HostRequest, runner: CommandRunner): Diagnostic[] {
  return hostDiagnostics(probeHost(req, runner));
}

export function probeHost(req: HostRequest, runner: CommandRunner): HostFacts {
  const o = req.options;
  const look = (flag: string, program: string, mustRun: boolean): ProgramFact => ({ flag, program, found: locate(program, req.pathEnv, mustRun) });
  const vmm = look('--vmm-bin', o.programs.vmm, false);
  const kvmProbe = req.kvmProbe ?? defaultKvmProbe(o);
  return {
    vmm: { ...vmm, user: describeRunAs(sampleVmmRunAs(o)), executable: vmm.found === null ? null : executableBy(o, vmm.found, runner) },
    services: servicePrograms(o).map((p) => look(`--${SERVICE_PROGRAMS[p].flag}`, o.programs[p], true)),
    apply: req.applyPrograms.map((p) => look(p.flag, p.program, true)),
    accel: o.accel === 'kvm' ? probeKvm(o, locate(kvmProbe, req.pathEnv, true), kvmProbe, runner) : { kind: 'not-asked' },
    sandbox: o.sandbox === 'bwrap' ? probeSandbox(o, locate(o.programs.bwrap, req.pathEnv, true), runner) : { kind: 'not-asked' },
    vmmSandbox: o.sandbox === 'bwrap' && vmm.found !== null ? vmmInSandbox(o.programs.vmm, vmm.found) : null,
    svscan: req.scandir === null ? null : { scandir: req.scandir, pid: findSvscan(path.resolve(req.scandir))?.pid ?? null },
    dataDir: dataDirWay(o, req.dataDir),
    cgroup: o.cgroup === null ? { kind: 'not-asked' } : probeCgroup(o.cgroup),
  };
}

/**
 * Who may change the way to the data dir the services open. Root binds it
 * onto itself nosymfollow before it opens the VMs' files below it
 * (templates/common/open-files.hbs), so no link inside leads it elsewhere,
 * but the bind follows whatever is above. The data dir itself is not
 * judged: it is on the user's partition, theirs by design, and what is in
 * it is check's to judge; what is above it must be root's alone.
 */
function dataDirWay(o: GeneratorOptions, given: string): HostFacts['dataDir'] {
  const at = o.dataDirAtRuntime ?? path.resolve(given);
  return { path: at, untrusted: untrustedRoute(at), sharesFs: sharedWith(at) };
}

/** Host directories whose files must not be reachable by a hard link from the data dir. */
const HOST_DIRS = ['/', '/etc', '/usr', '/var', '/root', '/home', '/boot', '/opt', '/srv'];

/** The first of HOST_DIRS on the same file system as `dir`; null when none is, or `dir` cannot be examined here. */
function sharedWith(dir: string): string | null {
  const dev = (p: string): bigint | null => {
    try {
      return fs.statSync(p, { bigint: true }).dev;
    } catch {
      return null;
    }
  };
  const own = dev(dir);
  return own === null ? null : HOST_DIRS.find((d) => dev(d) === own) ?? null;
}

/** statfs(2) f_type of cgroup2 (include/uapi/linux/magic.h CGROUP2_SUPER_MAGIC). */
const CGROUP2_SUPER_MAGIC = 0x63677270;

/**
 * Whether the VMs' cgroups can be made below `parent` with every limit the
 * run script writes: a cgroup2 directory, root's and writable by root
 * alone, whose children get memory, pids and cpu, with cgroup.kill
 * (Linux 5.14) and memory.swap.max (swap accounting).
 */
export function probeCgroup(parent: string): CgroupFact {
  const why: string[] = [];
  let st: fs.Stats;
  try {
    st = fs.statSync(parent);
    if (fs.statfsSync(parent).type !== CGROUP2_SUPER_MAGIC) why.push('it is not on a cgroup2 file system (cgroup v2)');
  } catch (e) {
    return { kind: 'unusable', parent, why: [`it cannot be examined (${errnoOf(e) ?? 'error'})`] };
  }
  if (why.length > 0) return { kind: 'unusable', parent, why };
  if (st.uid !== 0 || (st.mode & 0o022) !== 0) why.push('it is not root\'s alone (owner root, not writable by group or others): another user could change the VMs\' limits');
  const words = (file: string): string[] | null => {
    try {
      return fs.readFileSync(path.join(parent, file), 'latin1').trim().split(/\s+/);
    } catch {
      return null;
    }
  };
  const available = words('cgroup.controllers') ?? [];
  const enabled = words('cgroup.subtree_control') ?? [];
  const absent = CGROUP_CONTROLLERS.filter((c) => !available.includes(c));
  if (absent.length > 0) why.push(`${absent.join(', ')} ${absent.length === 1 ? 'is' : 'are'} not among its controllers (cgroup.controllers: ${available.join(' ') || 'none'}): not enabled in its parent, or bound to cgroup v1`);
  const off = CGROUP_CONTROLLERS.filter((c) => available.includes(c) && !enabled.includes(c));
  if (off.length > 0) why.push(`${off.join(', ')} ${off.length === 1 ? 'is' : 'are'} not enabled for its children (cgroup.subtree_control)`);
  if (!fs.existsSync(path.join(parent, 'cgroup.kill'))) why.push('it has no cgroup.kill (Linux 5.14 and later), with which a VM\'s stop kills all it left');
  if (available.includes('memory') && !fs.existsSync(path.join(parent, 'memory.swap.max'))) why.push('it has no memory.swap.max (the kernel does not account swap: swapaccount=0?)');
  return why.length === 0 ? { kind: 'usable' } : { kind: 'unusable', parent, why };
}

function defaultKvmProbe(o: GeneratorOptions): string {
  return o.vmm === 'qemu' ? o.programs.vmm : DEFAULT_KVM_PROBE;
}

/** The programs the generated scripts of this VMM run (templates/ and pipeline/vmm-request.ts). */
function servicePrograms(o: GeneratorOptions): ServiceProgram[] {
  const caps = VMM_FACTS[o.vmm];
  const requests: VmmRequest[] = [caps.running, caps.powerButton, caps.quit];
  const list: ServiceProgram[] = ['execlineb', 's6Log', 's6Notifyoncheck', 's6Svc', 's6Svwait', 's6Permafailon', 's6Svstat', 's6SvdtClear', 'ip'];
  const principals = [o.vmmUser.kind, o.logUser.kind];
  if (principals.includes('shared')) list.push('s6Setuidgid');
  if (principals.includes('per-vm')) list.push('s6Applyuidgid');
  const handovers = [caps.handover.disks, caps.handover.kernel];
  const grants = handovers.includes('path') && o.vmmUser.kind !== 'root';
  // Root opens a VM's files to hand them over, or to grant them.
  if (grants || handovers.some((h) => h !== 'path')) list.push('unshare', 'mount');
  if (grants) list.push('setfacl');
  if (o.sandbox === 'bwrap') list.push('bwrap');
  if (requests.some((r) => r.via === 'socket')) list.push('s6Ipcclient', 's6Ioconnect');
  if (requests.some((r) => r.via === 'client' && r.client === 'ch-remote')) list.push('chRemote');
  return list;
}

/**
 * Where `program` is: itself when it holds a slash, else the first match in
 * PATH, as execvp finds it (a regular file, and one this process may run
 * when `mustRun`; the VMM is judged for its own user instead). Null if none.
 */
function locate(program: string, pathEnv: string, mustRun: boolean): string | null {
  const candidates = program.includes('/') ? [program] : pathEnv.split(':').filter((d) => d !== '').map((d) => path.join(d, program));
  for (const c of candidates) {
    try {
      if (!fs.statSync(c).isFile()) continue;
      if (mustRun) fs.accessSync(c, fs.constants.X_OK);
      return c;
    } catch (e) {
      if (!['ENOENT', 'ENOTDIR', 'EACCES', 'ELOOP'].includes(errnoOf(e) ?? '')) throw e;
    }
  }
  return null;
}

/**
 * What the VMM's sandbox shows of the VMM found: the places it shows
 * (sandbox.ts), each with its host side resolved as bwrap resolves a bind's
 * source, and the VMM with its links resolved: a link in /usr/bin is in the
 * sandbox, but not the /opt it leads to.
 */
function vmmInSandbox(program: string, found: string): HostFacts['vmmSandbox'] {
  const real = realOf(found);
  if (real === null) return null;
  return { real, shows: sandboxShows(program).flatMap((s) => {
    const host = realOf(s.host);
    return host === null ? [] : [{ at: s.at, real: host }];
  }) };
}

/** `p` with every link resolved, or null when there is nothing there to resolve. */
function realOf(p: string): string | null {
  try {
    return fs.realpathSync(p);
  } catch (e) {
    if (['ENOENT', 'ENOTDIR', 'EACCES', 'ELOOP'].includes(errnoOf(e) ?? '')) return null;
    throw e;
  }
}

/** Runs argv as a VMM runs (a VM's own ids: the first of the range's), when this process can switch to it. */
function asVmmUser(o: GeneratorOptions, argv: readonly string[]): readonly string[] {
  return process.getuid?.() !== 0 ? argv : [...dropArgv(sampleVmmRunAs(o), o.programs), ...argv];
}

/**
 * Whether the VMM's user may execute `file`: the kernel's own answer
 * (access(2) as that user: its groups, every directory above, a noexec
 * mount), through `test -x` run as that user; for root, this process asks.
 */
function executableBy(o: GeneratorOptions, file: string, runner: CommandRunner): { ok: true } | { ok: false; said: string } {
  const argv = asVmmUser(o, ['test', '-x', file]);
  if (argv[0] === 'test') {
    try {
      fs.accessSync(file, fs.constants.X_OK);
      return { ok: true };
    } catch (e) {
      return { ok: false, said: errnoOf(e) ?? 'not executable' };
    }
  }
  const r = runner.run(argv, { timeoutMs: PROBE_TIMEOUT_MS });
  return r.code === 0 ? { ok: true } : { ok: false, said: said(r.stderr) || `${argv.join(' ')} exited ${r.code}` };
}

/**
 * Whether KVM works for the VMM's user: QEMU with no board (`-machine
 * none`) still initialises its accelerator, which opens /dev/kvm, checks
 * KVM_GET_API_VERSION and issues KVM_CREATE_VM, and exits 1 when any of it
 * fails; over QMP on stdin it is then told to quit. Node cannot ioctl, and
 * QEMU is on the hosts that run it anyway; a /dev/kvm that merely exists
 * proves nothing (a paravirtual KVM opens and still cannot run a guest).
 */
function probeKvm(o: GeneratorOptions, found: string | null, program: string, runner: CommandRunner): AccelFact {
  if (found === null) return { kind: 'unprobed', program };
  const probe = asVmmUser(o, [found, '-machine', 'none', '-accel', 'kvm', '-nodefaults', '-no-user-config', '-display', 'none', '-qmp', 'stdio']);
  const r = runner.run(probe, { input: '{"execute":"qmp_capabilities"}\n{"execute":"quit"}\n', timeoutMs: PROBE_TIMEOUT_MS });
  return r.code === 0 ? { kind: 'works' } : { kind: 'fails', probe, said: said(r.stderr) || `exit ${r.code}` };
}

/**
 * Whether bwrap makes the VMM's sandbox for the VMM's user: the sandbox's
 * own namespaces and mounts (sandbox.ts baseOptions) around `true`. It
 * fails where unprivileged user namespaces are off (Debian's
 * kernel.unprivileged_userns_clone=0, user.max_user_namespaces=0, an
 * AppArmor policy), which a look at bwrap's file cannot tell.
 */
function probeSandbox(o: GeneratorOptions, found: string | null, runner: CommandRunner): SandboxFact {
  if (found === null) return { kind: 'not-asked' };
  const probe = asVmmUser(o, [found, ...baseOptions(VMM_FACTS[o.vmm].makesUserNamespaces).flat(), '--chdir', '/', '--', 'true']);
  const r = runner.run(probe, { timeoutMs: PROBE_TIMEOUT_MS });
  return r.code === 0 ? { kind: 'works' } : { kind: 'fails', program: found, probe, said: said(r.stderr) || `exit ${r.code}` };
}

/** A program's complaint as one bounded, printable line. */
function said(stderr: string): string {
  const line = stderr.split('\n').map((l) => l.trim()).filter((l) => l !== '').join('; ');
  return printable(line.length > SAID_BYTES ? `${line.slice(0, SAID_BYTES)}...` : line);
}

/**
 * Turns command-line flags into GeneratorOptions, refusing values that could not
 * be written into a script or passed to s6-rc exactly. A refusal is a usage
 * error (exit 100), reported with the flag's name.
 */
import * as path from 'node:path';
import { CONTROL_CHAR, printable } from '../util/bytes.js';
import { CommandError, EXIT, UsageError } from '../command/shell.js';
import { fail, type Result } from '../util/result.js';
import { defaultOptions, SERVICE_PROGRAMS, type Admission, type GeneratorOptions } from '../pipeline/options.js';
import { APPLY_PROGRAMS } from '../apply/programs.js';
import { programPaths, type ProgramTable } from '../util/programs.js';
import { VMM_UNSAFE } from '../rules/vm-name.js';
import { vmsInRange, type IdRange, type Principal } from '../pipeline/identities.js';
import { SANDBOXES } from '../pipeline/sandbox.js';
import { groupId } from '../util/account-db.js';
import { DEFAULT_STATE_DIR, defaultStateDir, STATE_ENV } from '../command/where.js';
import { ACCELS, sizeBytes, VMM_FACTS, VMMS, type Accel, type Vmm } from '../vmm/index.js';
import { boundSpec, isBounded, SETTING_KEYS, settingSpec, type SETTINGS, type SettingKey } from '../rules/setting-registry.js';
import { settingsFromFlags } from '../rules/setting-defaults.js';
import * as read from '../rules/flag-values.js';
import type { FlagValueOf, SettingFlag } from '../rules/flag-values.js';
import { autostartShare, DEFAULT_CPU_OVERCOMMIT, readHostCapacity, type HostCapacity } from '../pipeline/host-capacity.js';

/** One flag, as both parsers read it: yargs takes these objects as they are. */
export interface FlagSpec {
  readonly type: 'string' | 'boolean' | 'number';
  readonly default?: string | boolean | number;
  readonly demandOption?: boolean;
  readonly choices?: readonly string[];
  readonly describe: string;
}

type FlagValue<F> = F extends { readonly type: 'boolean' } ? boolean : F extends { readonly type: 'number' } ? number : string;

/**
 * The parsed arguments a flag table gives, derived from the table itself (as
 * yargs infers them): a flag with a default or demanded is always there.
 * Choices are not narrowed here: optionsFromFlags checks them with its own
 * message, whichever parser ran.
 */
export type ArgsOf<T> = {
  readonly [K in keyof T]: T[K] extends { readonly default: unknown } | { readonly demandOption: true } ? FlagValue<T[K]> : FlagValue<T[K]> | undefined;
};

/** "a, b or c". */
function programs(names: readonly string[]): string {
  return names.length < 2 ? names.join('') : `${names.slice(0, -1).join(', ')} or ${names[names.length - 1]!}`;
}

type ProgramFlags<T extends ProgramTable> = { readonly [K in keyof T as T[K]['flag']]: { readonly type: 'string'; readonly default: string; readonly describe: string } };

/** A table's programs as flags, each defaulting to the program's path. */
function programFlags<T extends ProgramTable>(table: T): ProgramFlags<T> {
  const flags: Record<string, FlagSpec> = {};
  for (const decl of Object.values(table)) flags[decl.flag] = { type: 'string', default: decl.path, describe: decl.describe };
  // Each program became the flag it names, as ProgramFlags says.
  return flags as ProgramFlags<T>;
}

type SettingEntry = (typeof SETTINGS)[SettingKey];
type SettingFlagOf = Exclude<SettingEntry['flag'], null> | Exclude<SettingEntry['bound'], null>['flag'];
type SettingFlags = { readonly [F in SettingFlagOf as F['name']]: { readonly type: F['type']; readonly default: FlagValueOf<F['type']>; readonly describe: string } };

/** The settings' flags, each beside its bound's (--memory, --max-memory), defaulting to the registry's defaults. */
function settingFlags(): SettingFlags {
  const flags: Record<string, FlagSpec> = {};
  const declare = <T>(flag: SettingFlag<T> | null, value: T): void => {
    if (flag !== null) flags[flag.name] = { type: flag.type, default: flag.written(value), describe: flag.describe };
  };
  for (const k of SETTING_KEYS) {
    declare(settingSpec(k).flag, settingSpec(k).default);
    if (isBounded(k)) declare(boundSpec(k).flag, boundSpec(k).default);
  }
  // Each setting's flags became the flags they name, as SettingFlags says.
  return flags as SettingFlags;
}

const PER_VM = 'per-vm';
const KVM_GROUP = 'kvm';

export const optionFlags = {
  vmm: { type: 'string', choices: [...VMMS], default: defaultOptions.vmm, describe: `the VMM: ${VMMS.map((v) => `${v} (${VMM_FACTS[v].version})`).join(', ')}` },
  'vmm-bin': { type: 'string', describe: `VMM program (name looked up in PATH, or absolute path); default: ${programs(VMMS.map((v) => VMM_FACTS[v].program))}` },
  ...programFlags(SERVICE_PROGRAMS),
  'vmm-user': { type: 'string', default: PER_VM, describe: 'who the VMMs run as: per-vm (each VM its own uid from --id-base; it owns the VM\'s runtime dir and its taps), an account all VMMs share (s6-setuidgid), or root' },
  'log-user': { type: 'string', default: PER_VM, describe: 'who the serial loggers run as: per-vm (each VM a second uid of its own; it owns the VM\'s log dir), an account all loggers share, or root' },
  'id-base': { type: 'number', default: defaultOptions.idRange.base, describe: 'the first uid and gid of the per-vm range (default 0x70000000: unused by Debian and systemd)' },
  'id-count': { type: 'number', default: defaultOptions.idRange.count, describe: 'how many uids the per-vm range holds: two per VM' },
  'kvm-group': { type: 'string', default: KVM_GROUP, describe: 'the group, by name or number, that may open /dev/kvm: a per-vm VMM\'s one supplementary group (none: no group; the default kvm is left out when the host has no such group)' },
  sandbox: { type: 'string', choices: [...SANDBOXES], default: defaultOptions.sandbox, describe: 'what each VMM runs in: bwrap (bubblewrap, as the VMM\'s user: own pid, user, ipc and uts namespaces, only /usr, its runtime dir and its own kernel and disks visible) or none' },
  'runtime-dir': { type: 'string', default: defaultOptions.runtimeDir, describe: 'per-VM runtime dirs (API socket) are created below this' },
  'log-dir': { type: 'string', default: defaultOptions.logDir, describe: 'per-VM serial log dirs are created below this' },
  'live-prefix': { type: 'string', default: defaultOptions.livePrefix, describe: 'the s6-rc-init -p prefix the tree will be loaded with (for the name length check)' },
  bundle: { type: 'string', default: defaultOptions.bundle, describe: 'name of the bundle holding every VM and link' },
  'autostart-bundle': { type: 'string', default: defaultOptions.autostartBundle, describe: 'name of the bundle of the VMs with config/autostart (apply brings it up)' },
  cmdline: { type: 'string', default: defaultOptions.cmdline, describe: 'guest kernel command line (a VM\'s config/cmdline is appended)' },
  ...settingFlags(),
  cgroup: { type: 'string', default: defaultOptions.cgroup ?? 'none', describe: 'the cgroup v2 directory each VM gets a cgroup below (memory.max, memory.swap.max, pids.max, cpu.weight, cpu.max; the host makes it and delegates memory, pids and cpu to it), or none: no cgroup and no limits (ls says so)' },
  'vmm-memory-overhead': { type: 'string', default: 'auto', describe: 'added to a VM\'s memory for its cgroup\'s memory.max: what the VMM itself takes (number with K, M or G; auto: the VMM\'s figure for --accel, doc/resources.md)' },
  'autostart-memory': { type: 'string', default: 'auto', describe: 'the memory the autostart VMs may take together, each with --vmm-memory-overhead (number with K, M or G; auto: MemTotal in /proc/meminfo less an eighth for the host); a VM that does not fit is not autostarted' },
  'cpu-overcommit': { type: 'number', default: DEFAULT_CPU_OVERCOMMIT, describe: 'the autostart VMs may have this many vCPUs per host CPU together; a VM that does not fit is not autostarted' },
  accel: { type: 'string', choices: [...ACCELS], default: defaultOptions.accel, describe: 'how guests run: kvm; tcg (emulation, QEMU only); kvm-or-tcg (QEMU: KVM when /dev/kvm opens, else emulation)' },
  'user-console': { type: 'boolean', default: defaultOptions.userConsole, describe: 'give each VM the user\'s virtio-console (--no-user-console: none)' },
  'timeout-up': { type: 'number', default: defaultOptions.timeoutUpMs, describe: 'ms s6-rc waits for a VM to be ready before failing its start (0 = forever)' },
  'crash-deaths': { type: 'number', default: defaultOptions.crashDeaths, describe: 'a VMM that dies this many times within --crash-window seconds is not restarted again until vmsvc start' },
  'crash-window': { type: 'number', default: defaultOptions.crashWindowSeconds, describe: 'seconds over which --crash-deaths counts' },
  'log-max-size': { type: 'number', default: defaultOptions.logMaxFileBytes, describe: 'serial log: rotate current at this many bytes' },
  'log-max-files': { type: 'number', default: defaultOptions.logMaxFiles, describe: 'serial log: archived files kept' },
  'max-vms': { type: 'number', default: defaultOptions.maxVms, describe: 'refuse a data directory with more entries than this (checked before any VM is read)' },
  'data-at-runtime': { type: 'string', describe: 'absolute path the data directory will have when the services run, if not --data (image builds)' },
  templates: { type: 'string', describe: 'directory of your own templates (same layout as templates/; missing ones fall back to the bundled ones)' },
} as const;

export type OptionFlags = ArgsOf<typeof optionFlags>;

/** Flags of the commands that read a data dir, besides the generator options. */
export const dataFlags = {
  data: { type: 'string', demandOption: true, describe: 'the data directory holding one directory per VM' },
  'show-links': { type: 'boolean', default: false, describe: 'print every network link: number, MACs, client IP, bridge and taps' },
} as const;

/** The programs apply runs; check --host looks for them too. */
export const s6rcProgramFlags = programFlags(APPLY_PROGRAMS);

/** The host preflight (pipeline/host-probe.ts), which check --host and apply run. */
export const hostFlags = {
  'kvm-probe': { type: 'string', describe: 'the QEMU that probes whether KVM creates a VM, for --accel kvm (default: --vmm-bin with --vmm qemu, else qemu-system-x86_64)' },
} as const;

export const checkFlags = {
  ...dataFlags,
  json: { type: 'boolean', default: false, describe: 'print the result as JSON on stdout (with the links)' },
  host: { type: 'boolean', default: false, describe: 'also check this host: the VMM and the s6, s6-rc and execline programs are there, the VMM\'s user may run the VMM, KVM creates a VM (--accel kvm), an s6-svscan runs on --scandir' },
  scandir: { type: 'string', describe: 'with --host: the directory s6-svscan must be watching' },
  ...s6rcProgramFlags,
  ...hostFlags,
} as const;

export const generateFlags = {
  ...dataFlags,
  out: { type: 'string', demandOption: true, describe: 'the source tree to write: a symbolic link to a version directory beside it' },
  'keep-going': { type: 'boolean', default: false, describe: 'write the tree without invalid VMs and the VMs that need them (for boot)' },
} as const;

export const applyFlags = {
  data: dataFlags.data,
  state: { type: 'string', default: defaultStateDir(), describe: `where apply keeps the source tree, the compiled databases, the current/previous links and where.json, which tells the admin commands where everything is (default: $${STATE_ENV}, else ${DEFAULT_STATE_DIR})` },
  scandir: { type: 'string', demandOption: true, describe: 'the directory s6-svscan watches (s6-rc-init\'s argument)' },
  live: { type: 'string', describe: 's6-rc\'s live directory (default: STATE/live)' },
  prefix: { type: 'string', default: '', describe: 's6-rc-init -p prefix for the VM services (e.g. ext-)' },
  'dry-run': { type: 'boolean', default: false, describe: 'print what would start, stop and restart; run and write nothing' },
  'drop-invalid': { type: 'boolean', default: false, describe: 'stop and remove a running VM whose new definition is invalid, instead of keeping it on the one it was last applied with (exit 1)' },
  ...s6rcProgramFlags,
  ...hostFlags,
  autostart: { type: 'boolean', default: true, describe: 'bring the autostart bundle up after loading the database (--no-autostart: leave every VM as it is)' },
  'rc-timeout': { type: 'number', default: 600000, describe: 'ms s6-rc-init, s6-rc-update and each s6-rc transition apply runs may take before they give up (their -t)' },
} as const;

/** The commands the boot path runs, each with every flag it takes. */
export const COMMAND_FLAGS = {
  check: { ...checkFlags, ...optionFlags },
  generate: { ...generateFlags, ...optionFlags },
  apply: { ...applyFlags, ...optionFlags },
} as const;

export type CheckArgs = ArgsOf<typeof COMMAND_FLAGS.check>;
export type GenerateArgs = ArgsOf<typeof COMMAND_FLAGS.generate>;
export type ApplyArgs = ArgsOf<typeof COMMAND_FLAGS.apply>;

/**
 * Where every admin command looks: the record apply left in its state dir
 * (admin/locate.ts), the same --state default as apply's. The others
 * override one thing the record says, or name a tree that no apply runs
 * (--source: generate's --out).
 */
export const locationFlags = {
  state: { type: 'string', default: defaultStateDir(), describe: `apply's state dir, whose where.json says where the tree, scandir, prefix, live dir and logs are (default: $${STATE_ENV}, else ${DEFAULT_STATE_DIR})` },
  source: { type: 'string', describe: 'the generated source tree, instead of the one apply runs (e.g. generate\'s --out)' },
  scandir: { type: 'string', describe: 'the scandir the VM services are linked into, instead of apply\'s' },
  prefix: { type: 'string', describe: 'the s6-rc-init -p prefix of the VM services, instead of apply\'s' },
  live: { type: 'string', describe: 's6-rc\'s live directory, instead of apply\'s' },
  s6rc: { type: 'string', describe: 's6-rc program, instead of the one apply used' },
} as const;

export const adminFlags = {
  ...locationFlags,
  json: { type: 'boolean', default: false, describe: 'print JSON instead of text' },
} as const;

/**
 * Refuses a path flag given as "": every file call would take it as the
 * current directory (path.resolve('') is the cwd), so `--data ""` would
 * quietly scan wherever vmsvc was started. Flags left out are undefined.
 */
export function nonEmptyPaths(flags: Readonly<Record<string, string | undefined>>): void {
  for (const [flag, value] of Object.entries(flags)) {
    if (value === '') throw new UsageError(`--${flag} must not be empty (an empty path would mean the current directory)`);
  }
}

/** s6-log's own bounds for the s and n directives. */
const S6LOG_MIN_SIZE = 4096;
const S6LOG_MAX_SIZE = 268435455;
/** s6-supervise keeps at most this many deaths (S6_MAX_DEATH_TALLY in s6/supervise.h). */
const S6_MAX_DEATH_TALLY = 4096;
export const U32_MAX = 4294967295;
/** A POSIX-portable user name: it is written unquoted into ip(8) and s6-setuidgid command lines. */
const USER_NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

export function optionsFromFlags(f: OptionFlags, host: HostCapacity = readHostCapacity()): GeneratorOptions {
  const o = flagOptions(f, host);
  if (o.bundle === o.autostartBundle) throw new UsageError(`--autostart-bundle and --bundle are both "${printable(o.bundle)}": they must be two bundles`);
  if ((o.vmmUser.kind === 'per-vm' || o.logUser.kind === 'per-vm') && vmsInRange(o.idRange) < o.maxVms) {
    throw new UsageError(`--id-count ${o.idRange.count} has room for ${vmsInRange(o.idRange)} VMs (two ids each), fewer than --max-vms ${o.maxVms}`);
  }
  return o;
}

function flagOptions(f: OptionFlags, host: HostCapacity): GeneratorOptions {
  nonEmptyPaths({ templates: f.templates });
  const vmm = VMMS.find((v) => v === f.vmm);
  if (vmm === undefined) throw new UsageError(`--vmm must be one of ${VMMS.join(', ')}`);
  const accel = oneOf('accel', f.accel, ACCELS);
  const overhead = f['vmm-memory-overhead'] === 'auto' ? autoOverheadBytes(vmm, accel) : bytesOf(size('vmm-memory-overhead', f['vmm-memory-overhead']));
  return {
    vmm,
    programs: {
      vmm: program('vmm-bin', f['vmm-bin'] ?? VMM_FACTS[vmm].program),
      ...programPaths(SERVICE_PROGRAMS, (p) => program(p.flag, f[p.flag])),
      // The #! line takes neither a name to look up in PATH nor a space.
      execlineb: absolute('execlineb', f.execlineb, /\s/),
    },
    vmmUser: principal('vmm-user', f['vmm-user']),
    logUser: principal('log-user', f['log-user']),
    idRange: idRange(f['id-base'], f['id-count']),
    kvmGid: kvmGroup(f['kvm-group']),
    sandbox: oneOf('sandbox', f.sandbox, SANDBOXES),
    runtimeDir: absolute('runtime-dir', f['runtime-dir'], VMM_UNSAFE),
    logDir: absolute('log-dir', f['log-dir'], null),
    livePrefix: plain('live-prefix', f['live-prefix']),
    bundle: bundleName('bundle', f.bundle),
    autostartBundle: bundleName('autostart-bundle', f['autostart-bundle']),
    cmdline: plain('cmdline', f.cmdline),
    ...usage(settingsFromFlags(f)),
    cgroup: f.cgroup === 'none' ? null : absolute('cgroup', f.cgroup, null),
    vmmMemoryOverheadBytes: overhead,
    admission: admission(f['autostart-memory'], integer('cpu-overcommit', f['cpu-overcommit'], 1, 1000), host),
    accel,
    userConsole: f['user-console'],
    timeoutUpMs: integer('timeout-up', f['timeout-up'], 0, U32_MAX),
    crashDeaths: integer('crash-deaths', f['crash-deaths'], 1, S6_MAX_DEATH_TALLY),
    crashWindowSeconds: integer('crash-window', f['crash-window'], 1, 86400),
    logMaxFileBytes: integer('log-max-size', f['log-max-size'], S6LOG_MIN_SIZE, S6LOG_MAX_SIZE),
    logMaxFiles: integer('log-max-files', f['log-max-files'], 0, 1000),
    dataDirAtRuntime: f['data-at-runtime'] === undefined ? null : absolute('data-at-runtime', f['data-at-runtime'], null),
    maxVms: integer('max-vms', f['max-vms'], 1, 1_000_000),
    templatesDir: f.templates === undefined ? null : path.resolve(f.templates),
  };
}

/** A flag's value as read, or the usage error that says what the flag must be. */
function usage<T>(r: Result<T>): T {
  if (!r.ok) throw new UsageError(r.error);
  return r.value;
}

function size(flag: string, value: string): string {
  return usage(named(flag, read.sizeOrZero(value)));
}

const named = <T>(flag: string, r: Result<T>): Result<T> => (r.ok ? r : fail(`--${flag} ${r.error}`));

/** A size flag's bytes; its form was checked by size(). */
const bytesOf = (v: string): number => sizeBytes(v) ?? 0;

function autoOverheadBytes(vmm: Vmm, accel: Accel): number {
  const mib = VMM_FACTS[vmm].memoryOverheadMiB;
  return (accel === 'kvm' ? mib.kvm : Math.max(mib.kvm, mib.tcg)) * 1024 ** 2;
}

function admission(memory: string, overcommit: number, host: HostCapacity): Admission {
  const fromHost = memory === 'auto';
  if (fromHost && host.memoryBytes === null) throw new CommandError('--autostart-memory auto: /proc/meminfo says no MemTotal here; give --autostart-memory a size', EXIT.system);
  const budget = fromHost ? autostartShare(host.memoryBytes ?? 0) : bytesOf(size('autostart-memory', memory));
  return {
    memoryBytes: budget,
    memoryFrom: fromHost ? `--autostart-memory auto (${mibOf(budget)} MiB: /proc/meminfo's MemTotal less an eighth)` : `--autostart-memory ${memory}`,
    vcpus: host.cpus * overcommit,
    vcpusFrom: `${host.cpus} host CPUs x --cpu-overcommit ${overcommit}`,
  };
}

const mibOf = (bytes: number): number => Math.floor(bytes / 1024 ** 2);

function principal(flag: string, value: string): Principal {
  if (value === PER_VM) return { kind: 'per-vm' };
  if (value === 'root') return { kind: 'root' };
  return { kind: 'shared', name: matching(flag, value, USER_NAME, 'per-vm, root or a user name') };
}

/** Above every 16-bit uid (Debian's system and user ranges, nobody) and below 2^31, which some programs take as negative. */
const ID_FLOOR = 65536;
const ID_CEILING = 0x7fffffff;

function idRange(base: number, count: number): IdRange {
  integer('id-base', base, ID_FLOOR, ID_CEILING - 1);
  integer('id-count', count, 2, ID_CEILING - base + 1);
  return { base, count };
}

/** The default group name is optional (a host without KVM has none); a name asked for by hand must exist. */
function kvmGroup(value: string): number | null {
  if (value === 'none') return null;
  if (/^[0-9]+$/.test(value)) return integer('kvm-group', Number(value), 1, U32_MAX - 1);
  matching('kvm-group', value, USER_NAME, 'a group name, a number or none');
  const gid = groupId(value);
  if (gid === null && value !== KVM_GROUP) throw new UsageError(`--kvm-group: the host has no group "${value}" (/etc/group)`);
  return gid;
}

function plain(flag: string, value: string): string {
  if (CONTROL_CHAR.test(value)) throw new UsageError(`--${flag} must not contain control characters`);
  return value;
}

function program(flag: string, value: string): string {
  if (plain(flag, value) === '') throw new UsageError(`--${flag} must not be empty`);
  return value;
}

function absolute(flag: string, value: string, forbidden: RegExp | null): string {
  plain(flag, value);
  if (!path.isAbsolute(value)) throw new UsageError(`--${flag} must be an absolute path, got "${printable(value)}"`);
  if (forbidden?.test(value) === true) throw new UsageError(`--${flag} "${printable(value)}" contains a character that cannot be used there`);
  return value.length > 1 ? value.replace(/\/+$/, '') : value;
}

function oneOf<T extends string>(flag: string, value: string, choices: readonly T[]): T {
  const found = choices.find((c) => c === value);
  if (found === undefined) throw new UsageError(`--${flag} must be one of ${choices.join(', ')}, got ${JSON.stringify(value)}`);
  return found;
}

function matching(flag: string, value: string, re: RegExp, what: string): string {
  return usage(named(flag, read.matching(value, re, what)));
}

export function integer(flag: string, value: number, min: number, max: number): number {
  return usage(named(flag, read.wholeNumber(value, min, max)));
}

/** A bundle shares the namespace with the vm-* and vmnet-* services and s6-rc's reserved names. */
function bundleName(flag: string, value: string): string {
  plain(flag, value);
  if (value === '' || value.includes('/') || value.startsWith('.')) throw new UsageError(`--${flag} must be a non-empty name without / that does not start with .`);
  if (value.startsWith('vm-') || value.startsWith('vmnet-') || value.startsWith('s6rc-') || value.startsWith('s6-rc-')) {
    throw new UsageError(`--${flag} "${printable(value)}" would collide with VM services (vm-*), link services (vmnet-*) or s6-rc's reserved names`);
  }
  return value;
}

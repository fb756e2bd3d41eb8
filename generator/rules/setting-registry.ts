/**
 * Every per-VM setting, one entry each: its file in `<vm>/config/`, the
 * field of VmSettings it sets, how its value is read and bounded, how it is
 * shown, its default and the host flag that sets it, and the host flag that
 * bounds it. Reading config/ (settings.ts), the CLI's flags and options
 * (cli/setting-flags.ts), `show`, apply's change lines and the manifest
 * check all go through this table, so a new setting is an entry here plus
 * its use.
 */
import { printable } from '../util/bytes.js';
import { memoryBytes, memoryMiB, sizeBytes, VMM_FACTS, type Vmm } from '../vmm/index.js';
import { settingRefusal } from './vmm-rules.js';
import { countFlag, countOrNoneFlag, memoryFlag, onOffFlag, sizeFlag, type AmountFlag, type SettingFlag } from './flag-values.js';

export interface VmSettings {
  /** Guest memory, VMM-neutral as --memory takes it: a number with an optional K, M or G. */
  readonly memory: string;
  readonly cpus: number;
  /** Appended to --cmdline, after a space; null: nothing. */
  readonly cmdlineExtra: string | null;
  readonly writableDisks: boolean;
  /** How long a stop waits for the guest to power off before the VMM is killed (ms). */
  readonly stopTimeoutMs: number;
  /** The VM counts as up only once the guest itself says READY=1. */
  readonly guestReady: boolean;
  /** A member of the autostart bundle, which the boot oneshot brings up. */
  readonly autostart: boolean;
  /** The VM cgroup's cpu.weight: its share of contended CPU time (the kernel's default is 100). */
  readonly cpuWeight: number;
  /** The VM cgroup's cpu.max, in percent of one CPU; null: no cap. */
  readonly cpuMaxPercent: number | null;
  /** The VM cgroup's pids.max: tasks (processes and threads) its VMM may have. */
  readonly pidsMax: number;
  /** The VM cgroup's memory.swap.max, as --memory takes sizes; "0": none. */
  readonly swapMax: string;
}

/**
 * What the host allows a VM's files to ask for: the bound flags (--max-*),
 * every VM's defaults (--cpu-max is also the most a VM's own cap may be),
 * and what the VMM and the kernel take. GeneratorOptions is one.
 */
export interface SettingLimits {
  readonly settings: VmSettings;
  readonly bounds: SettingBounds;
  /** The VMM's unit for guest memory (crosvm and QEMU take whole MiB). */
  readonly vmm: Vmm;
  /** --cmdline, which config/cmdline is appended to. */
  readonly cmdline: string;
}

/**
 * The x86 kernel copies at most COMMAND_LINE_SIZE bytes of its command line,
 * the terminating NUL included, and cuts the rest silently
 * (arch/x86/include/asm/setup.h: `#define COMMAND_LINE_SIZE 2048`; the boot
 * protocol's cmdline_size field, Documentation/arch/x86/boot.rst, is 2047,
 * the size without the NUL).
 */
export const CMDLINE_MAX_BYTES = 2047;

/** cgroup v2's bounds on cpu.weight (Documentation/admin-guide/cgroup-v2.rst, "cpu.weight"). */
export const CPU_WEIGHT_MIN = 1;
export const CPU_WEIGHT_MAX = 10000;

/**
 * The largest cpu.max cap, in percent of one CPU, that --cpu-max takes and a
 * VM's config/cpu-max may ask for when the host sets none: all of 255 CPUs
 * (the most vCPUs vmsvc gives a VM). Above it a cap caps nothing, and the
 * quota it makes would reach the kernel as a number it refuses (past 2^53
 * written in exponent form), failing every start of the VM that check passed.
 */
export const CPU_MAX_PERCENT_LIMIT = 255 * 100;

/** What vmsvc passes as a vCPU count: cloud-hypervisor's boot= takes a u8. */
const MAX_VCPUS = 255;

/** cgroup v2's pids.max is a 32-bit count on most hosts; far above any VMM's threads. */
const PIDS_LIMIT = 4_194_304;

/**
 * The longest stop timeout any flag may set (one hour). The stop presses the
 * power button every 5 s, one forx value per press, all on the run script's
 * command line: at 10^9 ms (200000 values) execlineb cannot even exec it
 * (E2BIG) and the VM never starts; near 2^32 ms timeout-kill and
 * timeout-down (the stop timeout + 5 s and + 10 s) overflow s6's uint32
 * and s6-rc-compile refuses the whole tree. One hour is 720 values.
 */
export const STOP_TIMEOUT_LIMIT_MS = 3_600_000;

/**
 * The settings a host flag bounds (--max-*). Spelt out rather than computed
 * from SETTINGS because the entries' read functions take the bounds, which
 * would make SETTINGS's type depend on itself; SettingSpec ties each entry's
 * `bound` to this list, so the two cannot disagree.
 */
export type BoundedKey = 'memory' | 'cpus' | 'stopTimeoutMs' | 'cpuWeight' | 'pidsMax' | 'swapMax';

/** The host's bounds (the --max-* flags), each in its setting's own form. */
export type SettingBounds = { readonly [K in BoundedKey]: VmSettings[K] };

export interface SettingBound<T> {
  readonly flag: AmountFlag<T>;
  readonly default: T;
}

export type SettingRule = 'setting-invalid' | 'setting-out-of-bounds' | 'setting-vmm-unsupported';
export interface SettingProblem { readonly rule: SettingRule; readonly message: string; readonly hint: string }
export type SettingRead<T> = { readonly value: T } | SettingProblem;

export interface SettingSpec<K extends keyof VmSettings> {
  /** Its file in config/. */
  readonly file: string;
  /** flag: on by being there, empty; value: one line. */
  readonly form: 'flag' | 'value';
  /** What apply's change lines call it. */
  readonly label: string;
  /** Its value without the file, unless its flag says another. */
  readonly default: VmSettings[K];
  /** The host flag that sets every VM's default; null: none does. */
  readonly flag: SettingFlag<VmSettings[K]> | null;
  /** The host flag that bounds what the file may ask for, and its default: the BoundedKey settings have one. */
  readonly bound: K extends BoundedKey ? SettingBound<VmSettings[K]> : null;
  /** The value's form, for hints (value settings). */
  readonly format: string;
  /** The value its file's line (a flag file: "") sets, or why not. */
  readonly read: (line: string, limits: SettingLimits) => SettingRead<VmSettings[K]>;
  readonly show: (value: VmSettings[K]) => string;
  /** Whether a manifest's JSON value is one of its values. */
  readonly isValue: (v: unknown) => boolean;
}

/** What the guest kernel's parser and the VMM's argv take as they are: printable ASCII. */
const PRINTABLE_ASCII = /^[\x20-\x7e]+$/;

const invalid = (message: string, hint: string): SettingProblem => ({ rule: 'setting-invalid', message, hint });
const outOfBounds = (message: string, hint: string): SettingProblem => ({ rule: 'setting-out-of-bounds', message, hint });

/**
 * What is wrong with a count that must be at least 1, written in decimal
 * digits only, or null when it is one. 0 is a whole number: saying it is
 * not would send the writer looking for the wrong mistake.
 */
function notCount(v: string, unit: string, atLeastOne: string): string | null {
  if (/^[1-9][0-9]*$/.test(v)) return null;
  if (/^0+$/.test(v)) return `is ${printable(v)}: ${atLeastOne}`;
  if (/^[0-9]+$/.test(v)) return `"${printable(v)}" starts with 0: write the number without leading zeros`;
  return `"${printable(v)}" is not a whole number of ${unit}`;
}

/** A count from 1 up to a host bound (a --max-* flag), as config/<file> gives it. */
function boundedCount(file: string, unit: string, atLeastOne: string, format: string, bound: (l: SettingLimits) => { flag: string; max: number }) {
  return (v: string, limits: SettingLimits): SettingRead<number> => {
    const wrong = notCount(v, unit, atLeastOne);
    if (wrong !== null) return invalid(`config/${file} ${wrong}`, `write ${format}`);
    const n = Number(v);
    const { flag, max } = bound(limits);
    if (n > max) return outOfBounds(`config/${file} ${v} is more ${unit} than this host allows a VM (--${flag} ${max})`, `give the VM at most ${max}, or raise --${flag} on the host`);
    return { value: n };
  };
}

/** A flag setting: the file being there turns it on. */
function onFlag(label: string, refusal: (vmm: Vmm) => { readonly why: string; readonly hint: string } | null) {
  return (_line: string, limits: SettingLimits): SettingRead<boolean> => {
    const refused = refusal(limits.vmm);
    return refused === null ? { value: true } : { rule: 'setting-vmm-unsupported', message: `${label}: ${refused.why}`, hint: refused.hint };
  };
}

const onOff = (b: boolean): string => (b ? 'on' : 'off');
const isBool = (v: unknown): boolean => typeof v === 'boolean';
const isCount = (v: unknown): boolean => Number.isInteger(v);
const isSize = (v: unknown): boolean => typeof v === 'string' && sizeBytes(v) !== null;

const MEMORY_FORMAT = 'a number with an optional K, M or G, e.g. 512M, as --memory takes it';
const CPUS_FORMAT = 'a whole number of vCPUs, e.g. 2';
const STOP_TIMEOUT_FORMAT = 'a whole number of milliseconds, e.g. 60000';
const CPU_MAX_FORMAT = 'a whole number of percent of one CPU, e.g. 150 for one and a half';
const PIDS_FORMAT = 'a whole number of tasks (processes and threads), e.g. 512';

/**
 * The entries in the order they were added, which is the order a manifest
 * records a VM's settings in (setting-defaults.ts): a new one goes
 * last, so that the trees of unchanged VMs stay byte-identical.
 * SETTING_KEYS is the order they are shown in.
 */
export const SETTINGS = {
  memory: {
    file: 'memory', form: 'value', label: 'memory', format: MEMORY_FORMAT,
    default: '256M', flag: memoryFlag('memory', '256M', 'guest memory (number with K, M or G; a VM\'s config/memory overrides it)'),
    bound: { flag: memoryFlag('max-memory', '4G', 'the most memory a VM\'s config/memory may ask for (number with K, M or G)'), default: '4G' },
    read: (v, limits) => {
      const bytes = memoryBytes(v);
      if (bytes === null) return invalid(`config/memory "${printable(v)}" is not a memory size`, `write ${MEMORY_FORMAT}`);
      const max = limits.bounds.memory;
      // The flag parser has checked the form; a hand-built bound that is not a size allows nothing.
      if (bytes > (memoryBytes(max) ?? 0)) {
        return outOfBounds(`config/memory ${v} is more than this host allows a VM (--max-memory ${max})`,
          `give the VM at most ${max}, or raise --max-memory on the host`);
      }
      if (VMM_FACTS[limits.vmm].memoryUnit === 'MiB' && memoryMiB(v) === null) {
        return { rule: 'setting-vmm-unsupported', message: `${limits.vmm} takes guest memory in whole MiB; config/memory ${v} is not`, hint: 'write a whole number of M or G, e.g. 512M' };
      }
      return { value: v };
    },
    show: (v) => v, isValue: (v) => typeof v === 'string',
  },
  cpus: {
    file: 'cpus', form: 'value', label: 'cpus', format: CPUS_FORMAT,
    default: 1, flag: countFlag('cpus', 1, MAX_VCPUS, 'guest vCPUs (a VM\'s config/cpus overrides it)'),
    bound: { flag: countFlag('max-cpus', 1, MAX_VCPUS, 'the most vCPUs a VM\'s config/cpus may ask for'), default: 8 },
    read: boundedCount('cpus', 'vCPUs', 'a VM needs at least 1 vCPU', CPUS_FORMAT, (l) => ({ flag: 'max-cpus', max: l.bounds.cpus })),
    show: String, isValue: isCount,
  },
  cmdlineExtra: {
    file: 'cmdline', form: 'value', label: 'extra kernel command line', format: 'kernel parameters appended to --cmdline, e.g. quiet loglevel=3',
    default: null, flag: null, bound: null,
    read: (v, limits) => {
      if (!PRINTABLE_ASCII.test(v)) {
        return invalid('config/cmdline holds a byte that is not printable ASCII (a control character, or a non-ASCII letter)',
          'the guest kernel and the VMM take its words as they are: write plain ASCII parameters separated by spaces');
      }
      const total = Buffer.byteLength(limits.cmdline) + 1 + v.length;
      if (total > CMDLINE_MAX_BYTES) {
        return outOfBounds(`--cmdline and config/cmdline make a kernel command line of ${total} bytes; an x86 kernel takes ${CMDLINE_MAX_BYTES} and cuts the rest`,
          `shorten config/cmdline to at most ${Math.max(0, CMDLINE_MAX_BYTES - Buffer.byteLength(limits.cmdline) - 1)} bytes`);
      }
      return { value: v };
    },
    show: (v) => (v === null ? '-' : v), isValue: (v) => v === null || typeof v === 'string',
  },
  writableDisks: {
    file: 'writable-disks', form: 'flag', label: 'writable disks', format: '',
    default: false, flag: onOffFlag('writable-disks', 'give the guest writable disks (default: read-only; a VM\'s config/writable-disks turns it on for that VM)'), bound: null,
    read: onFlag('writable disks', (vmm) => settingRefusal(vmm, 'writable-disks')), show: onOff, isValue: isBool,
  },
  stopTimeoutMs: {
    file: 'stop-timeout', form: 'value', label: 'stop timeout', format: STOP_TIMEOUT_FORMAT,
    default: 30000, flag: countFlag('stop-timeout', 1, STOP_TIMEOUT_LIMIT_MS, 'ms a stop waits for the guest to power off before the VMM is killed (a VM\'s config/stop-timeout overrides it)'),
    bound: { flag: countFlag('max-stop-timeout', 1, STOP_TIMEOUT_LIMIT_MS, 'the longest ms a VM\'s config/stop-timeout may ask a stop to wait'), default: 300000 },
    read: (v, limits) => {
      const wrong = notCount(v, 'milliseconds', 'a stop must wait at least 1 ms');
      if (wrong !== null) return invalid(`config/stop-timeout ${wrong}`, `write ${STOP_TIMEOUT_FORMAT}`);
      const n = Number(v);
      const max = limits.bounds.stopTimeoutMs;
      if (n > max) {
        return outOfBounds(`config/stop-timeout ${v} ms is longer than this host lets a stop wait (--max-stop-timeout ${max})`,
          `wait at most ${max} ms, or raise --max-stop-timeout on the host`);
      }
      return { value: n };
    },
    show: (v) => `${v} ms`, isValue: isCount,
  },
  guestReady: {
    file: 'guest-ready', form: 'flag', label: 'guest readiness', format: '',
    default: false, flag: onOffFlag('guest-ready', 'a VM is up only once its guest writes READY=1 to the virtio-serial port org.vmsvc.ready (QEMU only)'), bound: null,
    read: onFlag('guest readiness', (vmm) => settingRefusal(vmm, 'guest-ready')), show: onOff, isValue: isBool,
  },
  autostart: {
    file: 'autostart', form: 'flag', label: 'autostart', format: '',
    default: false, flag: null, bound: null,
    read: onFlag('autostart', () => null), show: onOff, isValue: isBool,
  },
  cpuWeight: {
    file: 'cpu-weight', form: 'value', label: 'cpu weight', format: `a whole number from ${CPU_WEIGHT_MIN} to ${CPU_WEIGHT_MAX}, e.g. 200 (the default share is 100)`,
    default: 100, flag: countFlag('cpu-weight', CPU_WEIGHT_MIN, CPU_WEIGHT_MAX, 'each VM cgroup\'s cpu.weight, its share of contended CPU (a VM\'s config/cpu-weight overrides it)'),
    bound: { flag: countFlag('max-cpu-weight', CPU_WEIGHT_MIN, CPU_WEIGHT_MAX, 'the largest cpu.weight a VM\'s config/cpu-weight may ask for'), default: 1000 },
    read: boundedCount('cpu-weight', 'weight', 'the least share is 1', 'a whole number, e.g. 200 (the default share is 100)', (l) => ({ flag: 'max-cpu-weight', max: l.bounds.cpuWeight })),
    show: String, isValue: isCount,
  },
  cpuMaxPercent: {
    file: 'cpu-max', form: 'value', label: 'cpu cap', format: CPU_MAX_FORMAT,
    // The host's cap is its own bound: a VM may lower it, never raise it.
    default: null, bound: null,
    flag: countOrNoneFlag('cpu-max', CPU_MAX_PERCENT_LIMIT, 'a whole number of percent', 'cap each VM at this many percent of one CPU (cpu.max), or none; a VM\'s config/cpu-max may lower it, never raise it'),
    read: (v, limits) => {
      const wrong = notCount(v, 'percent', 'a VM needs some CPU');
      if (wrong !== null) return invalid(`config/cpu-max ${wrong}`, `write ${CPU_MAX_FORMAT}`);
      const n = Number(v);
      const cap = limits.settings.cpuMaxPercent;
      if (cap !== null && n > cap) {
        return outOfBounds(`config/cpu-max ${v}% is more than this host's cap (--cpu-max ${cap}): a VM may lower its cap, not raise it`,
          `give the VM at most ${cap}, or raise --cpu-max on the host`);
      }
      if (n > CPU_MAX_PERCENT_LIMIT) {
        return outOfBounds(`config/cpu-max ${v}% is more than any cap vmsvc writes (${CPU_MAX_PERCENT_LIMIT}%, all of 255 CPUs)`,
          `give the VM at most ${CPU_MAX_PERCENT_LIMIT}, or remove config/cpu-max for no cap`);
      }
      return { value: n };
    },
    show: (v) => (v === null ? 'none' : `${v}%`), isValue: (v) => v === null || Number.isInteger(v),
  },
  pidsMax: {
    file: 'pids-max', form: 'value', label: 'task limit', format: PIDS_FORMAT,
    default: 512, flag: countFlag('pids-max', 1, PIDS_LIMIT, 'each VM cgroup\'s pids.max: the VMM\'s processes and threads (a VM\'s config/pids-max overrides it)'),
    bound: { flag: countFlag('max-pids', 1, PIDS_LIMIT, 'the largest pids.max a VM\'s config/pids-max may ask for'), default: 4096 },
    read: boundedCount('pids-max', 'tasks', 'a VMM is at least one task', PIDS_FORMAT, (l) => ({ flag: 'max-pids', max: l.bounds.pidsMax })),
    show: String, isValue: isCount,
  },
  swapMax: {
    file: 'swap-max', form: 'value', label: 'swap', format: `0, or ${MEMORY_FORMAT}`,
    default: '0', flag: sizeFlag('swap-max', 'each VM cgroup\'s memory.swap.max: 0, or a number with K, M or G (a VM\'s config/swap-max overrides it)'),
    bound: { flag: sizeFlag('max-swap', 'the most swap a VM\'s config/swap-max may ask for'), default: '0' },
    read: (v, limits) => {
      const bytes = sizeBytes(v);
      if (bytes === null) return invalid(`config/swap-max "${printable(v)}" is not a memory size`, `write 0, or ${MEMORY_FORMAT}`);
      const max = limits.bounds.swapMax;
      if (bytes > (sizeBytes(max) ?? 0)) {
        return outOfBounds(`config/swap-max ${v} is more swap than this host allows a VM (--max-swap ${max})`,
          `give the VM at most ${max}, or raise --max-swap on the host`);
      }
      return { value: v };
    },
    show: (v) => v, isValue: isSize,
  },
} as const satisfies { readonly [K in keyof VmSettings]: SettingSpec<K> };

export type SettingKey = keyof VmSettings;
export type SettingFile = (typeof SETTINGS)[SettingKey]['file'];

/** The settings in their stable order: value files, then flag files, as config/ lists them in the docs. */
export const SETTING_KEYS: readonly SettingKey[] = [
  'memory', 'cpus', 'cmdlineExtra', 'stopTimeoutMs', 'cpuWeight', 'cpuMaxPercent', 'pidsMax', 'swapMax', 'writableDisks', 'guestReady', 'autostart',
];

/**
 * The line of its config/ file that gives `value`, as `read` takes it: a
 * value setting's value written out (every read gives back what its line
 * says), a flag setting's empty line when on; null when no file gives it (a
 * value of null, a flag off).
 */
function lineOf(key: SettingKey, value: VmSettings[SettingKey]): string | null {
  if (SETTINGS[key].form === 'flag') return value === true ? '' : null;
  return value === null ? null : String(value);
}

/**
 * What this run's limits (bounds, caps, the VMM) refuse in settings made
 * under others, as if each were written in its config/ file; null when
 * nothing: how a running VM's last good definition is judged again
 * (pipeline/check.ts), so that lowering a bound is not escaped by a hold.
 */
export function refusedNow(settings: VmSettings, limits: SettingLimits): SettingProblem | null {
  for (const key of SETTING_KEYS) {
    const line = lineOf(key, settings[key]);
    if (line === null) continue;
    const read = settingSpec(key).read(line, limits);
    if ('rule' in read) return read;
  }
  return null;
}

export function isBounded(key: SettingKey): key is BoundedKey {
  return SETTINGS[key].bound !== null;
}

/** The settings a host flag bounds, in SETTING_KEYS order. */
export const BOUNDED_KEYS: readonly BoundedKey[] = SETTING_KEYS.filter(isBounded);

/** Where a setting's value comes from without its file, as `show` says it: its flag, or "default". */
export function defaultFrom(key: SettingKey): string {
  const flag = settingSpec(key).flag;
  return flag === null ? 'default' : `--${flag.name}`;
}

/** A setting's bound, typed by its key. */
export function boundSpec<K extends BoundedKey>(key: K): SettingBound<VmSettings[K]> {
  const bounded: { readonly [J in BoundedKey]: { readonly bound: SettingBound<VmSettings[J]> } } = SETTINGS;
  return bounded[key].bound;
}

/** A setting's entry, typed by its key (the table's own type widens each entry's functions to the union). */
export function settingSpec<K extends SettingKey>(key: K): SettingSpec<K> {
  const spec: { readonly [J in SettingKey]: SettingSpec<J> } = SETTINGS;
  return spec[key];
}

export const SETTING_FILES: readonly SettingFile[] = SETTING_KEYS.map((k) => SETTINGS[k].file);

export function isSettingFile(name: string): name is SettingFile {
  return (SETTING_FILES as readonly string[]).includes(name);
}

export function settingKeyOf(file: SettingFile): SettingKey {
  return SETTING_KEYS.find((k) => SETTINGS[k].file === file)!;
}

/** A setting's value as `show` and apply's change lines print it. */
export function shownSetting<K extends SettingKey>(key: K, value: VmSettings[K]): string {
  return settingSpec(key).show(value);
}

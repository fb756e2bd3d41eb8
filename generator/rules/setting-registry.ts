/**
 * Every per-VM setting, one entry each: its file in `<vm>/config/`, the
 * field of VmSettings it sets, how its value is read and bounded, how it is
 * shown, and where its default comes from. Reading config/ (settings.ts),
 * `show`, apply's change lines and the manifest check all go through this
 * table, so a new setting is an entry here plus its use.
 */
import { printable } from '../util/bytes.js';
import { memoryBytes, memoryMiB, sizeBytes, VMM_FACTS, type Vmm } from '../vmm/index.js';
import { settingRefusal } from './vmm-rules.js';

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
 * What the host allows a VM's files to ask for: the --max-* flags (and
 * --cpu-max, which a VM may only lower), and what the VMM and the kernel take.
 */
export interface SettingLimits {
  /** --max-memory, in bytes, and as given (for messages). */
  readonly maxMemoryBytes: number;
  readonly maxMemory: string;
  readonly maxCpus: number;
  readonly maxStopTimeoutMs: number;
  readonly maxCpuWeight: number;
  /** --cpu-max: a VM's own cap may be lower, never higher or none; null: the host sets none. */
  readonly cpuMaxPercent: number | null;
  readonly maxPids: number;
  readonly maxSwapBytes: number;
  readonly maxSwap: string;
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
  /** Where its value comes from without the file, as `show` says it: a flag, or "default". */
  readonly defaultFrom: string;
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

export const SETTINGS = {
  memory: {
    file: 'memory', form: 'value', label: 'memory', defaultFrom: '--memory', format: MEMORY_FORMAT,
    read: (v, limits) => {
      const bytes = memoryBytes(v);
      if (bytes === null) return invalid(`config/memory "${printable(v)}" is not a memory size`, `write ${MEMORY_FORMAT}`);
      if (bytes > limits.maxMemoryBytes) {
        return outOfBounds(`config/memory ${v} is more than this host allows a VM (--max-memory ${limits.maxMemory})`,
          `give the VM at most ${limits.maxMemory}, or raise --max-memory on the host`);
      }
      if (VMM_FACTS[limits.vmm].memoryUnit === 'MiB' && memoryMiB(v) === null) {
        return { rule: 'setting-vmm-unsupported', message: `${limits.vmm} takes guest memory in whole MiB; config/memory ${v} is not`, hint: 'write a whole number of M or G, e.g. 512M' };
      }
      return { value: v };
    },
    show: (v) => v, isValue: (v) => typeof v === 'string',
  },
  cpus: {
    file: 'cpus', form: 'value', label: 'cpus', defaultFrom: '--cpus', format: CPUS_FORMAT,
    read: boundedCount('cpus', 'vCPUs', 'a VM needs at least 1 vCPU', CPUS_FORMAT, (l) => ({ flag: 'max-cpus', max: l.maxCpus })),
    show: String, isValue: isCount,
  },
  cmdlineExtra: {
    file: 'cmdline', form: 'value', label: 'extra kernel command line', defaultFrom: 'default', format: 'kernel parameters appended to --cmdline, e.g. quiet loglevel=3',
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
  stopTimeoutMs: {
    file: 'stop-timeout', form: 'value', label: 'stop timeout', defaultFrom: '--stop-timeout', format: STOP_TIMEOUT_FORMAT,
    read: (v, limits) => {
      const wrong = notCount(v, 'milliseconds', 'a stop must wait at least 1 ms');
      if (wrong !== null) return invalid(`config/stop-timeout ${wrong}`, `write ${STOP_TIMEOUT_FORMAT}`);
      const n = Number(v);
      if (n > limits.maxStopTimeoutMs) {
        return outOfBounds(`config/stop-timeout ${v} ms is longer than this host lets a stop wait (--max-stop-timeout ${limits.maxStopTimeoutMs})`,
          `wait at most ${limits.maxStopTimeoutMs} ms, or raise --max-stop-timeout on the host`);
      }
      return { value: n };
    },
    show: (v) => `${v} ms`, isValue: isCount,
  },
  cpuWeight: {
    file: 'cpu-weight', form: 'value', label: 'cpu weight', defaultFrom: '--cpu-weight', format: `a whole number from ${CPU_WEIGHT_MIN} to ${CPU_WEIGHT_MAX}, e.g. 200 (the default share is 100)`,
    read: boundedCount('cpu-weight', 'weight', 'the least share is 1', 'a whole number, e.g. 200 (the default share is 100)', (l) => ({ flag: 'max-cpu-weight', max: l.maxCpuWeight })),
    show: String, isValue: isCount,
  },
  cpuMaxPercent: {
    file: 'cpu-max', form: 'value', label: 'cpu cap', defaultFrom: '--cpu-max', format: CPU_MAX_FORMAT,
    read: (v, limits) => {
      const wrong = notCount(v, 'percent', 'a VM needs some CPU');
      if (wrong !== null) return invalid(`config/cpu-max ${wrong}`, `write ${CPU_MAX_FORMAT}`);
      const n = Number(v);
      if (limits.cpuMaxPercent !== null && n > limits.cpuMaxPercent) {
        return outOfBounds(`config/cpu-max ${v}% is more than this host's cap (--cpu-max ${limits.cpuMaxPercent}): a VM may lower its cap, not raise it`,
          `give the VM at most ${limits.cpuMaxPercent}, or raise --cpu-max on the host`);
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
    file: 'pids-max', form: 'value', label: 'task limit', defaultFrom: '--pids-max', format: PIDS_FORMAT,
    read: boundedCount('pids-max', 'tasks', 'a VMM is at least one task', PIDS_FORMAT, (l) => ({ flag: 'max-pids', max: l.maxPids })),
    show: String, isValue: isCount,
  },
  swapMax: {
    file: 'swap-max', form: 'value', label: 'swap', defaultFrom: '--swap-max', format: `0, or ${MEMORY_FORMAT}`,
    read: (v, limits) => {
      const bytes = sizeBytes(v);
      if (bytes === null) return invalid(`config/swap-max "${printable(v)}" is not a memory size`, `write 0, or ${MEMORY_FORMAT}`);
      if (bytes > limits.maxSwapBytes) {
        return outOfBounds(`config/swap-max ${v} is more swap than this host allows a VM (--max-swap ${limits.maxSwap})`,
          `give the VM at most ${limits.maxSwap}, or raise --max-swap on the host`);
      }
      return { value: v };
    },
    show: (v) => v, isValue: isSize,
  },
  writableDisks: {
    file: 'writable-disks', form: 'flag', label: 'writable disks', defaultFrom: '--writable-disks', format: '',
    read: onFlag('writable disks', (vmm) => settingRefusal(vmm, 'writable-disks')), show: onOff, isValue: isBool,
  },
  guestReady: {
    file: 'guest-ready', form: 'flag', label: 'guest readiness', defaultFrom: '--guest-ready', format: '',
    read: onFlag('guest readiness', (vmm) => settingRefusal(vmm, 'guest-ready')), show: onOff, isValue: isBool,
  },
  autostart: {
    file: 'autostart', form: 'flag', label: 'autostart', defaultFrom: 'default', format: '',
    read: onFlag('autostart', () => null), show: onOff, isValue: isBool,
  },
} as const satisfies { readonly [K in keyof VmSettings]: SettingSpec<K> };

export type SettingKey = keyof VmSettings;
export type SettingFile = (typeof SETTINGS)[SettingKey]['file'];

/** The settings in their stable order: value files, then flag files, as config/ lists them in the docs. */
export const SETTING_KEYS: readonly SettingKey[] = [
  'memory', 'cpus', 'cmdlineExtra', 'stopTimeoutMs', 'cpuWeight', 'cpuMaxPercent', 'pidsMax', 'swapMax', 'writableDisks', 'guestReady', 'autostart',
];

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

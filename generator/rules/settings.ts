/**
 * Per-VM settings: what may differ between VMs. The global flags are the
 * defaults; optional files in the VM's directory override them, within the
 * host's bounds, and the rules here judge those files.
 */
import * as path from 'node:path';
import { decodeUtf8, printable } from '../util/bytes.js';
import { memoryBytes, memoryMiB, VMM_FACTS, type Vmm } from '../vmm/index.js';
import { describe } from './describe.js';
import { error, warning, type Diagnostic } from './diagnostic.js';
import { CONFIG_MAX_BYTES, type ScannedSetting, type ScannedVm } from './scanned.js';
import { symlinkDiagnostic } from './symlinks.js';
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
}

/** VmSettings as a manifest records them (JSON read back by the admin commands and apply's dry run). */
export function isVmSettings(v: unknown): v is VmSettings {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const o = new Map(Object.entries(v));
  const cmdline = o.get('cmdlineExtra');
  return typeof o.get('memory') === 'string' && Number.isInteger(o.get('cpus')) && (cmdline === null || typeof cmdline === 'string')
    && typeof o.get('writableDisks') === 'boolean' && Number.isInteger(o.get('stopTimeoutMs'))
    && typeof o.get('guestReady') === 'boolean' && typeof o.get('autostart') === 'boolean';
}

/**
 * The files of `<vm>/config/`, one per setting, as s6 service directories
 * have one file per property. Value files hold one line; flag files are on
 * by being there, like s6's `down` file.
 */
export const VALUE_FILES = ['memory', 'cpus', 'cmdline', 'stop-timeout'] as const;
export const FLAG_FILES = ['writable-disks', 'guest-ready', 'autostart'] as const;
export type SettingFile = (typeof VALUE_FILES)[number] | (typeof FLAG_FILES)[number];
export const SETTING_FILES: readonly SettingFile[] = [...VALUE_FILES, ...FLAG_FILES];

export function isSettingFile(name: string): name is SettingFile {
  return (SETTING_FILES as readonly string[]).includes(name);
}

/** The defaults, from the host's flags. */
export interface SettingDefaults {
  readonly memory: string;
  readonly cpus: number;
  readonly writableDisks: boolean;
  readonly stopTimeoutMs: number;
  readonly guestReady: boolean;
}

export function defaultSettings(d: SettingDefaults): VmSettings {
  return { memory: d.memory, cpus: d.cpus, cmdlineExtra: null, writableDisks: d.writableDisks, stopTimeoutMs: d.stopTimeoutMs, guestReady: d.guestReady, autostart: false };
}

/**
 * What the host allows a VM's files to ask for: the --max-* flags, and what
 * the VMM and the kernel take.
 */
export interface SettingLimits {
  /** --max-memory, in bytes. */
  readonly maxMemoryBytes: number;
  /** --max-memory as given, for messages. */
  readonly maxMemory: string;
  readonly maxCpus: number;
  readonly maxStopTimeoutMs: number;
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

export interface VmSettingsResult {
  readonly settings: VmSettings;
  /** The settings a file of config/ set (the rest are the defaults), in SETTING_FILES order. */
  readonly fromFiles: readonly SettingFile[];
  readonly problems: readonly Diagnostic[];
}

/** Shared by every VM without config/: one empty list, not one per VM. */
const NO_FILES: readonly SettingFile[] = Object.freeze([]);

/** A value file's one line: UTF-8, one optional trailing newline, no other newline. Else why not. */
function oneLine(content: Buffer): { line: string } | { why: string } {
  const text = decodeUtf8(content);
  if (text === null) return { why: 'is not valid UTF-8' };
  const line = text.endsWith('\n') ? text.slice(0, -1) : text;
  if (line === '') return { why: 'is empty' };
  if (line.includes('\n')) return { why: 'holds more than one line' };
  return { line };
}

/** What the guest kernel's parser and the VMM's argv take as they are: printable ASCII. */
const PRINTABLE_ASCII = /^[\x20-\x7e]+$/;

/**
 * The VM's settings: the defaults, overridden by the files of config/ that
 * pass their rules. Every problem names the file; a VM with an error here is
 * invalid (its other settings are not used), an unknown file is a warning.
 */
export function vmSettings(vm: ScannedVm, defaults: VmSettings, limits: SettingLimits): VmSettingsResult {
  const configPath = path.join(vm.dir, 'config');
  const none = { settings: defaults, fromFiles: NO_FILES };
  if (vm.configDir.kind === 'missing') return { ...none, problems: [] };
  if (vm.configDir.kind !== 'directory') {
    const what = vm.configDir.kind === 'unstatable' ? `cannot be examined (${vm.configDir.code})` : `is a ${describe(vm.configDir)}, not a directory`;
    return { ...none, problems: [error('config-not-directory', configPath, vm.name, `config ${what}`,
      'config must be a real directory holding one file per setting (symbolic links are not followed here); see doc/data-directory.md, "Per-VM settings"')] };
  }
  const problems: Diagnostic[] = [];
  const set: { -readonly [K in keyof VmSettings]: VmSettings[K] } = { ...defaults };
  const fromFiles = new Set<SettingFile>();
  for (const file of vm.config) {
    if (!isSettingFile(file.name)) {
      problems.push(warning('setting-unknown', file.path, vm.name, `config/ holds "${printable(file.name)}", which is no setting vmsvc knows; it is ignored`,
        `the settings are ${SETTING_FILES.join(', ')}; rename or remove it (a misspelt setting would silently be the default)`));
      continue;
    }
    const content = settingContent(vm.name, file);
    if (!('content' in content)) {
      problems.push(content.problem);
      continue;
    }
    const r = applySetting(file.name, content.content, set, limits);
    if (r === null) fromFiles.add(file.name);
    else problems.push(error(r.rule, file.path, vm.name, r.message, r.hint));
  }
  return { settings: set, fromFiles: fromFiles.size === 0 ? NO_FILES : SETTING_FILES.filter((f) => fromFiles.has(f)), problems };
}

/** The bytes of a setting file, or the problem that it is not a small regular file inside the data dir. */
function settingContent(vm: string, file: ScannedSetting): { content: Buffer } | { problem: Diagnostic } {
  const linkProblem = symlinkDiagnostic(vm, file.path, file.node, 'setting-not-file');
  if (linkProblem !== null) return { problem: linkProblem };
  const node = file.node;
  const shown = printable(file.name);
  if (node.kind === 'unstatable') return { problem: error('setting-not-file', file.path, vm, `config/${shown} cannot be examined (${node.code})`, 'check the file') };
  if (node.kind !== 'file') {
    return { problem: error('setting-not-file', file.path, vm, `config/${shown} is a ${describe(node)}, not a regular file`,
      'a setting is a regular file (or a link to one inside the data directory); FIFOs and devices are never opened') };
  }
  if (!node.readable) return { problem: error('setting-not-file', file.path, vm, `config/${shown} cannot be read`, 'make it readable (chmod a+r)') };
  if (file.content === null) {
    return { problem: error('setting-too-large', file.path, vm, `config/${shown} has ${node.size} bytes, more than the ${CONFIG_MAX_BYTES} a setting may have; it was not read`,
      'a setting is one short line (a flag file is empty): write just the value') };
  }
  return { content: file.content };
}

type SettingProblem = { readonly rule: 'setting-invalid' | 'setting-out-of-bounds' | 'setting-vmm-unsupported'; readonly message: string; readonly hint: string };

/** Sets one setting from its file's bytes, or says why not. */
function applySetting(name: SettingFile, content: Buffer, set: { -readonly [K in keyof VmSettings]: VmSettings[K] }, limits: SettingLimits): SettingProblem | null {
  const invalid = (message: string, hint: string): SettingProblem => ({ rule: 'setting-invalid', message, hint });
  switch (name) {
    case 'writable-disks':
    case 'guest-ready':
    case 'autostart': {
      // Content is refused, not ignored: a `writable-disks` holding "no" must not mean yes.
      if (content.length > 1 || (content.length === 1 && content[0] !== 0x0a)) {
        return invalid(`config/${name} is a flag file, on by being there, and must be empty; it holds ${content.length} bytes`,
          `leave it empty (touch config/${name}) to turn it on, or remove it to turn it off`);
      }
      const refused = name === 'autostart' ? null : settingRefusal(limits.vmm, name);
      if (refused !== null) return { rule: 'setting-vmm-unsupported', message: `${name === 'guest-ready' ? 'guest readiness' : 'writable disks'}: ${refused.why}`, hint: refused.hint };
      if (name === 'writable-disks') set.writableDisks = true;
      else if (name === 'guest-ready') set.guestReady = true;
      else set.autostart = true;
      return null;
    }
    default:
      break;
  }
  const one = oneLine(content);
  if ('why' in one) return invalid(`config/${name} ${one.why}`, `write the value on one line (${VALUE_HINT[name]})`);
  const v = one.line;
  switch (name) {
    case 'memory': {
      const bytes = memoryBytes(v);
      if (bytes === null) return invalid(`config/memory "${printable(v)}" is not a memory size`, `write ${VALUE_HINT.memory}`);
      if (bytes > limits.maxMemoryBytes) {
        return { rule: 'setting-out-of-bounds', message: `config/memory ${v} is more than this host allows a VM (--max-memory ${limits.maxMemory})`,
          hint: `give the VM at most ${limits.maxMemory}, or raise --max-memory on the host` };
      }
      if (VMM_FACTS[limits.vmm].memoryUnit === 'MiB' && memoryMiB(v) === null) {
        return { rule: 'setting-vmm-unsupported', message: `${limits.vmm} takes guest memory in whole MiB; config/memory ${v} is not`,
          hint: 'write a whole number of M or G, e.g. 512M' };
      }
      set.memory = v;
      return null;
    }
    case 'cpus': {
      const wrong = notCount(v, 'vCPUs', 'a VM needs at least 1 vCPU');
      if (wrong !== null) return invalid(`config/cpus ${wrong}`, `write ${VALUE_HINT.cpus}`);
      const n = Number(v);
      if (n > limits.maxCpus) {
        return { rule: 'setting-out-of-bounds', message: `config/cpus ${v} is more vCPUs than this host allows a VM (--max-cpus ${limits.maxCpus})`,
          hint: `give the VM at most ${limits.maxCpus}, or raise --max-cpus on the host` };
      }
      set.cpus = n;
      return null;
    }
    case 'stop-timeout': {
      const wrong = notCount(v, 'milliseconds', 'a stop must wait at least 1 ms');
      if (wrong !== null) return invalid(`config/stop-timeout ${wrong}`, `write ${VALUE_HINT['stop-timeout']}`);
      const n = Number(v);
      if (n > limits.maxStopTimeoutMs) {
        return { rule: 'setting-out-of-bounds', message: `config/stop-timeout ${v} ms is longer than this host lets a stop wait (--max-stop-timeout ${limits.maxStopTimeoutMs})`,
          hint: `wait at most ${limits.maxStopTimeoutMs} ms, or raise --max-stop-timeout on the host` };
      }
      set.stopTimeoutMs = n;
      return null;
    }
    case 'cmdline': {
      if (!PRINTABLE_ASCII.test(v)) {
        return invalid('config/cmdline holds a byte that is not printable ASCII (a control character, or a non-ASCII letter)',
          'the guest kernel and the VMM take its words as they are: write plain ASCII parameters separated by spaces');
      }
      const total = Buffer.byteLength(limits.cmdline) + 1 + v.length;
      if (total > CMDLINE_MAX_BYTES) {
        return { rule: 'setting-out-of-bounds', message: `--cmdline and config/cmdline make a kernel command line of ${total} bytes; an x86 kernel takes ${CMDLINE_MAX_BYTES} and cuts the rest`,
          hint: `shorten config/cmdline to at most ${Math.max(0, CMDLINE_MAX_BYTES - Buffer.byteLength(limits.cmdline) - 1)} bytes` };
      }
      set.cmdlineExtra = v;
      return null;
    }
  }
}

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

const VALUE_HINT: Readonly<Record<(typeof VALUE_FILES)[number], string>> = {
  memory: 'a number with an optional K, M or G, e.g. 512M, as --memory takes it',
  cpus: 'a whole number of vCPUs, e.g. 2',
  cmdline: 'kernel parameters appended to --cmdline, e.g. quiet loglevel=3',
  'stop-timeout': 'a whole number of milliseconds, e.g. 60000',
};

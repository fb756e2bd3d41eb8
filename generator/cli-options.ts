/**
 * Turns command-line flags into GeneratorOptions, refusing values that could not
 * be written into a script or passed to s6-rc exactly. A refusal is a usage
 * error (exit 2), reported with the flag's name.
 */
import * as path from 'node:path';
import { CONTROL_CHAR } from './bytes.js';
import { defaultOptions, type GeneratorOptions } from './options.js';
import { VMM_UNSAFE } from './vm-name.js';

export interface OptionFlags {
  readonly 'vmm-bin': string;
  readonly execlineb: string;
  readonly 's6-log': string;
  readonly 's6-notifyoncheck': string;
  readonly ip: string;
  readonly 'tap-owner': string;
  readonly 'runtime-dir': string;
  readonly 'log-dir': string;
  readonly 'live-prefix': string;
  readonly bundle: string;
  readonly cmdline: string;
  readonly memory: string;
  readonly cpus: number;
  readonly 'writable-disks': boolean;
  readonly 'timeout-up': number;
  readonly 'log-max-size': number;
  readonly 'log-max-files': number;
  readonly templates: string | undefined;
  readonly 'data-at-runtime': string | undefined;
}

export const optionFlags = {
  'vmm-bin': { type: 'string', default: defaultOptions.programs.vmm, describe: 'VMM program run by each VM service (name looked up in PATH, or absolute path)' },
  execlineb: { type: 'string', default: defaultOptions.programs.execlineb, describe: 'execlineb path for the #! line of every script' },
  's6-log': { type: 'string', default: defaultOptions.programs.s6Log, describe: 's6-log program' },
  's6-notifyoncheck': { type: 'string', default: defaultOptions.programs.s6Notifyoncheck, describe: 's6-notifyoncheck program' },
  ip: { type: 'string', default: defaultOptions.programs.ip, describe: 'iproute2 ip program, for the link oneshots' },
  'tap-owner': { type: 'string', default: defaultOptions.tapOwner, describe: 'user (name or uid) owning the taps: the user the VMMs run as' },
  'runtime-dir': { type: 'string', default: defaultOptions.runtimeDir, describe: 'per-VM runtime dirs (API socket) are created below this' },
  'log-dir': { type: 'string', default: defaultOptions.logDir, describe: 'per-VM serial log dirs are created below this' },
  'live-prefix': { type: 'string', default: defaultOptions.livePrefix, describe: 'the s6-rc-init -p prefix the tree will be loaded with (for the name length check)' },
  bundle: { type: 'string', default: defaultOptions.bundle, describe: 'name of the bundle holding every VM' },
  cmdline: { type: 'string', default: defaultOptions.cmdline, describe: 'guest kernel command line' },
  memory: { type: 'string', default: defaultOptions.memory, describe: 'guest memory (number with K, M or G)' },
  cpus: { type: 'number', default: defaultOptions.cpus, describe: 'guest vCPUs' },
  'writable-disks': { type: 'boolean', default: defaultOptions.writableDisks, describe: 'give the guest writable disks (default: read-only)' },
  'timeout-up': { type: 'number', default: defaultOptions.timeoutUpMs, describe: 'ms s6-rc waits for a VM to be ready before failing its start (0 = forever)' },
  'log-max-size': { type: 'number', default: defaultOptions.logMaxFileBytes, describe: 'serial log: rotate current at this many bytes' },
  'log-max-files': { type: 'number', default: defaultOptions.logMaxFiles, describe: 'serial log: archived files kept' },
  'data-at-runtime': { type: 'string', describe: 'absolute path the data directory will have when the services run, if not --data (image builds)' },
  templates: { type: 'string', describe: 'directory of your own templates (same layout as templates/; missing ones fall back to the bundled ones)' },
} as const;

export class UsageError extends Error {}

/** s6-log's own bounds for the s and n directives. */
const S6LOG_MIN_SIZE = 4096;
const S6LOG_MAX_SIZE = 268435455;
const U32_MAX = 4294967295;

export function optionsFromFlags(f: OptionFlags): GeneratorOptions {
  return {
    programs: {
      vmm: program('vmm-bin', f['vmm-bin']),
      execlineb: absolute('execlineb', f.execlineb, /\s/),
      s6Log: program('s6-log', f['s6-log']),
      s6Notifyoncheck: program('s6-notifyoncheck', f['s6-notifyoncheck']),
      ip: program('ip', f.ip),
    },
    tapOwner: matching('tap-owner', f['tap-owner'], /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/, 'a user name or uid'),
    runtimeDir: absolute('runtime-dir', f['runtime-dir'], VMM_UNSAFE),
    logDir: absolute('log-dir', f['log-dir'], null),
    livePrefix: plain('live-prefix', f['live-prefix']),
    bundle: bundleName(f.bundle),
    cmdline: plain('cmdline', f.cmdline),
    memory: matching('memory', f.memory, /^[1-9][0-9]*[KMG]?$/, 'a number with an optional K, M or G suffix, e.g. 256M'),
    cpus: integer('cpus', f.cpus, 1, 255),
    writableDisks: f['writable-disks'],
    timeoutUpMs: integer('timeout-up', f['timeout-up'], 0, U32_MAX),
    logMaxFileBytes: integer('log-max-size', f['log-max-size'], S6LOG_MIN_SIZE, S6LOG_MAX_SIZE),
    logMaxFiles: integer('log-max-files', f['log-max-files'], 0, 1000),
    dataDirAtRuntime: f['data-at-runtime'] === undefined ? null : absolute('data-at-runtime', f['data-at-runtime'], null),
    templatesDir: f.templates === undefined ? null : path.resolve(f.templates),
  };
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
  if (!path.isAbsolute(value)) throw new UsageError(`--${flag} must be an absolute path, got ${JSON.stringify(value)}`);
  if (forbidden?.test(value) === true) throw new UsageError(`--${flag} ${JSON.stringify(value)} contains a character that cannot be used there`);
  return value.length > 1 ? value.replace(/\/+$/, '') : value;
}

function matching(flag: string, value: string, re: RegExp, what: string): string {
  if (!re.test(value)) throw new UsageError(`--${flag} must be ${what}, got ${JSON.stringify(value)}`);
  return value;
}

function integer(flag: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new UsageError(`--${flag} must be a whole number from ${min} to ${max}, got ${value}`);
  }
  return value;
}

/** The bundle shares the namespace with the vm-* services and s6-rc's reserved names. */
function bundleName(value: string): string {
  plain('bundle', value);
  if (value === '' || value.includes('/') || value.startsWith('.')) throw new UsageError('--bundle must be a non-empty name without / that does not start with .');
  if (value.startsWith('vm-') || value.startsWith('s6rc-') || value.startsWith('s6-rc-')) {
    throw new UsageError(`--bundle ${JSON.stringify(value)} would collide with VM services (vm-*) or s6-rc's reserved names`);
  }
  return value;
}

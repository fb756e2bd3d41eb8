/**
 * What the s6-rc programs and the supervision tree under them need for a
 * database of a given size, and whether this host gives it. Sizing is pure;
 * the readers of /proc are at the bottom.
 *
 * Facts from the sources of s6-rc 0.7.0.0 and s6 2.15.0 this relies on:
 * - s6-rc-compile keeps its dependency matrices on the stack (variable-length
 *   arrays in main(): services x services bits, plus bundles x services bits),
 *   and so does s6-rc-update (old x new services bits, plus both databases);
 *   past ~3300 VMs that outgrows the default 8 MiB stack and they die with
 *   SIGSEGV. s6-rc and s6-rc-init only need memory linear in the services.
 * - s6-svscan supervises at most `-C` service directories (default 1000,
 *   at most 160000) and ignores names longer than `-L` (default 251); the
 *   directories past that are never supervised, and s6-rc-init or
 *   s6-rc-update then waits for them forever. An update needs room for
 *   both databases for a moment (supervisionNeeds).
 * - s6-rc-init and s6-rc-update wait for those supervisors through
 *   s6-ftrigrd, 2 fds per longrun (openFiles).
 * - s6-rc-compile gives s6rc-fdholder `-n` fds: 2 per pipeline consumer, plus
 *   1/16 and 2 (at least 256); s6-fdholderd cuts that to its RLIMIT_NOFILE
 *   minus 6, which it inherits from s6-svscan through s6-supervise. A pipe
 *   it cannot hold is a VM whose console reaches no logger.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { servicesOf } from './conversion.js';
import type { FileTree } from '../util/file-tree.js';

/** The services s6-rc-compile adds to every database: s6rc-fdholder and s6rc-oneshot-runner. */
export const S6RC_OWN_LONGRUNS = ['s6rc-fdholder', 's6rc-oneshot-runner'] as const;

export interface DbSize {
  /** Atomic services, s6-rc's own two included. */
  readonly atoms: number;
  /** Longruns, s6-rc's own two included: one service directory each in the scandir. */
  readonly longruns: readonly string[];
  /** Bundles, the ones s6-rc-compile makes from pipeline-name included. */
  readonly bundles: number;
  /** Longruns reading a pipeline (consumer-for). */
  readonly consumers: number;
}

export function dbSize(tree: FileTree): DbSize {
  const longruns: string[] = [...S6RC_OWN_LONGRUNS];
  let atoms = S6RC_OWN_LONGRUNS.length;
  let bundles = 0;
  let consumers = 0;
  for (const [name, svc] of servicesOf(tree)) {
    if (svc.type === 'bundle') bundles++;
    if (svc.type !== 'longrun' && svc.type !== 'oneshot') continue;
    atoms++;
    if (svc.type !== 'longrun') continue;
    longruns.push(name);
    if (svc.entries.has('consumer-for')) consumers++;
    if (svc.entries.has('pipeline-name')) bundles++;
  }
  return { atoms, longruns, bundles, consumers };
}

const MIB = 1024 * 1024;

/**
 * Stack for s6-rc-compile and s6-rc-update on databases of these sizes
 * (both databases for an update): twice their matrices plus 1 MiB for the
 * rest, in whole MiB. Up to ~2000 VMs that is within Linux's default 8 MiB.
 */
export function stackBytes(sizes: readonly DbSize[]): number {
  const n = Math.max(0, ...sizes.map((s) => s.atoms));
  const nb = Math.max(0, ...sizes.map((s) => s.bundles));
  const matrices = Math.ceil(n / 8) * (n + nb) * sizes.length;
  return Math.ceil((2 * matrices) / MIB) * MIB + MIB;
}

/**
 * Open files for s6-rc-init and s6-rc-update: they wait for a supervisor on
 * every longrun of the (new) database through one s6-ftrigrd, which holds 2 fds
 * per subscription (s6-ftrigrd.c); plus room for the rest. At 5000 VMs
 * s6-rc-init fails with EMFILE under a 20000 limit.
 */
export function openFiles(sizes: readonly DbSize[]): number {
  return 2 * Math.max(0, ...sizes.map((s) => s.longruns.length)) + 256;
}

/** s6-rc-compile's `-n` for s6rc-fdholder (write_fdholder in s6-rc-compile.c). */
export function fdholderFds(size: DbSize): number {
  const nfds = 2 * size.consumers;
  return nfds < 240 ? 256 : nfds + (nfds >> 4) + 2;
}

/** What the s6-svscan on the scandir must allow for the database to be supervised. */
export interface SupervisionNeeds {
  /** Service directories in the scandir once the database is live: `-C` at least this. */
  readonly servicesMax: number;
  /** Open files the fd holder needs: s6-svscan's soft RLIMIT_NOFILE at least this. */
  readonly openFiles: number;
  /** Longest name in the scandir: `-L` at least this. */
  readonly nameMax: number;
}

/**
 * `others`: service directories in the scandir that are not this database's
 * nor the live one's. `live`: the longruns of the database being replaced
 * (none for s6-rc-init). s6-rc-update gives every longrun that is not up
 * and kept a new directory (make_new_livedir in s6-rc-update.c: the kept
 * ones are renamed, the others copied), and has s6-svscan supervise those
 * before it lets go of the old supervisors ("an" at the end). With nothing
 * up that is every new longrun on top of every old one, so that is what
 * an update needs.
 */
export function supervisionNeeds(size: DbSize, prefix: string, others: number, live: readonly string[] = []): SupervisionNeeds {
  return {
    servicesMax: others + live.length + size.longruns.length,
    openFiles: fdholderFds(size) + 6,
    nameMax: Math.max(0, ...[...live, ...size.longruns].map((n) => Buffer.byteLength(prefix + n))),
  };
}

export interface Limit {
  /** Infinity for unlimited. */
  readonly soft: number;
  readonly hard: number;
}

/** One line of /proc/PID/limits ("Max stack size  8388608  unlimited  bytes"); null when absent. */
export function parseLimit(limits: string, what: string): Limit | null {
  const line = limits.split('\n').find((l) => l.startsWith(`${what} `));
  if (line === undefined) return null;
  const [soft, hard] = line.slice(what.length).trim().split(/\s+/);
  const num = (s: string | undefined): number | null => (s === 'unlimited' ? Infinity : s !== undefined && /^\d+$/.test(s) ? Number(s) : null);
  const s = num(soft);
  const h = num(hard);
  return s === null || h === null ? null : { soft: s, hard: h };
}

export interface SvscanLimits {
  readonly servicesMax: number;
  readonly nameMax: number;
}

const SVSCAN_DEFAULTS: SvscanLimits = { servicesMax: 1000, nameMax: 251 };
/** s6-svscan's options that take a value, short and long (gol_main in s6-svscan.c). */
const SVSCAN_VALUED: Readonly<Record<string, string>> = {
  C: 'services-max', L: 'name-max', t: 'timeout', d: 'notification-fd', X: 'console-holder',
};

/** `-C` and `-L` from s6-svscan's argv (without argv[0]), with s6-svscan's clamping. */
export function svscanLimits(args: readonly string[]): SvscanLimits {
  const values = new Map<string, string>();
  const longNames = new Set(Object.values(SVSCAN_VALUED));
  for (let i = 0; i < args.length; i++) {
    const a = args[i] ?? '';
    if (a === '--' || !a.startsWith('-') || a === '-') break;
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = a.slice(2, eq === -1 ? undefined : eq);
      if (!longNames.has(name)) continue;
      values.set(name, eq === -1 ? args[++i] ?? '' : a.slice(eq + 1));
      continue;
    }
    for (let j = 1; j < a.length; j++) {
      const long = SVSCAN_VALUED[a[j] ?? ''];
      if (long === undefined) continue;
      values.set(long, j + 1 < a.length ? a.slice(j + 1) : args[++i] ?? '');
      break;
    }
  }
  const clamp = (v: string | undefined, dflt: number, lo: number, hi: number): number =>
    v === undefined || !/^\d+$/.test(v) ? dflt : Math.min(hi, Math.max(lo, Number(v)));
  return {
    servicesMax: clamp(values.get('services-max'), SVSCAN_DEFAULTS.servicesMax, 4, 160000),
    nameMax: clamp(values.get('name-max'), SVSCAN_DEFAULTS.nameMax, 11, 1019),
  };
}

/** Why the s6-svscan found falls short, one sentence each; empty when it does not. */
export function shortfalls(needs: SupervisionNeeds, limits: SvscanLimits, openFiles: Limit | null): string[] {
  const out: string[] = [];
  if (needs.servicesMax > limits.servicesMax) {
    out.push(`it supervises at most ${limits.servicesMax} service directories and this database needs ${needs.servicesMax}: run it with -C ${needs.servicesMax} or more`);
  }
  if (needs.nameMax > limits.nameMax) out.push(`it ignores names longer than ${limits.nameMax} bytes and this database has one of ${needs.nameMax}: run it with -L ${needs.nameMax} or more`);
  if (openFiles !== null && openFiles.soft < needs.openFiles) {
    out.push(`its open files limit is ${openFiles.soft} and s6rc-fdholder needs ${needs.openFiles}: raise it (ulimit -n, s6-softlimit -o) to ${needs.openFiles} or more`);
  }
  return out;
}

/** The s6-svscan process watching `scandir` (its cwd), found through /proc. */
export interface Svscan {
  readonly pid: number;
  readonly limits: SvscanLimits;
  readonly openFiles: Limit | null;
}

/** Null when no s6-svscan runs on it or /proc does not say (not Linux, no permission). */
export function findSvscan(scandir: string): Svscan | null {
  let want: string;
  let pids: string[];
  try {
    want = fs.realpathSync(scandir);
    pids = fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n));
  } catch {
    return null;
  }
  for (const pid of pids) {
    const dir = path.join('/proc', pid);
    try {
      if (fs.readFileSync(path.join(dir, 'comm'), 'utf8') !== 's6-svscan\n' || fs.readlinkSync(path.join(dir, 'cwd')) !== want) continue;
      const argv = fs.readFileSync(path.join(dir, 'cmdline'), 'utf8').split('\0').slice(1, -1);
      return { pid: Number(pid), limits: svscanLimits(argv), openFiles: parseLimit(fs.readFileSync(path.join(dir, 'limits'), 'utf8'), 'Max open files') };
    } catch {
      // The process ended while we looked, or is not ours to read.
    }
  }
  return null;
}

/** One of this process's limits (children inherit them), by its /proc name; null when /proc does not say. */
export function ownLimit(what: 'Max stack size' | 'Max open files'): Limit | null {
  try {
    return parseLimit(fs.readFileSync('/proc/self/limits', 'utf8'), what);
  } catch {
    return null;
  }
}

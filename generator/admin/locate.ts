/**
 * How every admin command finds what it reads: the record `vmsvc apply`
 * left in its state dir (STATE/where.json, command/where.ts), with any of
 * --source, --scandir, --prefix, --live and --s6rc given on the command
 * line taking the place of what the record says. One set of flags for all
 * commands, one default (apply's --state), and a command that needs a live
 * system and finds none says so and exits 1 instead of reporting every VM
 * as missing.
 */
import * as path from 'node:path';
import { printable } from '../util/bytes.js';
import { isDir } from '../util/fs-probe.js';
import { readUntrusted } from '../util/untrusted.js';
import { CommandError, EXIT } from '../command/shell.js';
import { parseWhere, STATE_ENV, WHERE_FILE, type Where } from '../command/where.js';
import { untrustedPath, untrustedStat } from '../util/trusted-path.js';

/** The location flags, as parsed: each undefined when not given. */
export interface LocateFlags {
  readonly state: string;
  readonly source?: string | undefined;
  readonly scandir?: string | undefined;
  readonly prefix?: string | undefined;
  readonly live?: string | undefined;
  readonly s6rc?: string | undefined;
}

/** What the admin commands read: the tree always; the live parts when known. */
export interface Located {
  readonly source: string;
  readonly scandir: string | null;
  readonly prefix: string;
  readonly live: string | null;
  readonly s6rc: string;
  /** The roots of the VMs' log dirs: known from the record only (a skipped VM's log is NAME below it). */
  readonly logDir: string | null;
}

/** A record far larger than this was not written by apply. */
const WHERE_MAX_BYTES = 64 * 1024;

/** The record in `state`, null when there is none; a record apply did not write is a usage error. */
export function readWhere(state: string): Where | null {
  // It names the s6-rc program start and stop run as root: only a record no other user could have written counts.
  const unsafe = untrustedPath(state);
  if (unsafe !== null) throw new CommandError(`the state dir ${printable(state)} is not root's alone (${printable(unsafe)}): its record is not trusted`, EXIT.failed);
  const read = readUntrusted(state, [WHERE_FILE], WHERE_MAX_BYTES);
  if (read.kind === 'missing') return null;
  if (read.kind === 'refused') throw new CommandError(`cannot read where apply put things: ${printable(read.why)}`, EXIT.failed);
  const file = path.join(state, WHERE_FILE);
  const unsafeFile = untrustedStat(read.stat, file);
  if (unsafeFile !== null) throw new CommandError(`${printable(file)} is not root's alone (${printable(unsafeFile)}): not trusted`, EXIT.failed);
  const where = parseWhere(read.data.toString('utf8'));
  if (typeof where === 'string') throw new CommandError(`${printable(file)}: ${printable(where)}`, EXIT.failed);
  return where;
}

export function locate(flags: LocateFlags): Located {
  const where = readWhere(flags.state);
  const source = flags.source ?? where?.source;
  if (source === undefined) throw new CommandError(`${noRecord(flags.state)}, or name a generated tree with --source`, EXIT.failed);
  return {
    source,
    scandir: flags.scandir ?? where?.scandir ?? null,
    prefix: flags.prefix ?? where?.prefix ?? '',
    live: flags.live ?? where?.live ?? null,
    s6rc: flags.s6rc ?? where?.s6rc ?? 's6-rc',
    logDir: where?.logDir ?? null,
  };
}

/** The scandir of a command that reads the live state (ls, show); exit 1 without one. */
export function scandirOf(at: Located, state: string): string {
  if (at.scandir !== null) return at.scandir;
  throw new CommandError(`${noRecord(state)}, or give --scandir`, EXIT.failed);
}

/**
 * s6-rc's live dir, for a command that changes the live state (start,
 * stop, restart): exit 1 when there is none, or when it is not a live dir
 * (s6-rc-init makes LIVE/compiled; without it s6-rc only says it cannot
 * take its locks).
 */
export function liveOf(at: Located, state: string): string {
  if (at.live === null) throw new CommandError(`${noRecord(state)}, or give --live`, EXIT.failed);
  if (!isDir(path.join(at.live, 'compiled'))) {
    throw new CommandError(`no live s6-rc system at ${printable(at.live)} (no ${printable(path.join(at.live, 'compiled'))}): has vmsvc apply run, and with this --state?`, EXIT.failed);
  }
  return at.live;
}

function noRecord(state: string): string {
  return `no live system found: ${printable(path.join(state, WHERE_FILE))} does not exist (vmsvc apply writes it; --state or $${STATE_ENV} names the state dir apply used)`;
}

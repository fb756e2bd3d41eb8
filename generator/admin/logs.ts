/**
 * `vmsvc logs NAME [-f] [-n N] [--since TIME]`: the VM's serial console log, as its s6-log
 * logger writes it: `<logDir>/current`, each line prefixed with an ISO 8601
 * time (s6-log's T directive) and two spaces.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { printable } from '../util/bytes.js';
import { findAnyVm, readTree } from './tree.js';
import { CommandError, EXIT, UsageError, guard, type Io } from '../command/shell.js';
import { openUntrusted } from '../util/untrusted.js';
import { jsonLines, textLines } from './log-format.js';
import { LineSplitter, type LineSink } from './log-lines.js';
import { firstStampedFrom, lastLinesStart, parseSince } from './log-seek.js';

/**
 * Arguments of `vmsvc logs NAME`.
 *
 * - `source`: the generated source tree (the --out path); the manifest gives
 *   the VM's log dir.
 * - `logDir`: the root of the log dirs apply recorded (null: unknown): a VM
 *   skipped as invalid has no entry of its own, and its log from before is NAME below it.
 * - `name`: the VM.
 * - `follow`: after printing the log's last lines (10, or `lines`), keep
 *   printing lines as they are written, across s6-log's rotations, until
 *   SIGINT (or `opts.signal` aborts), as `tail -f` does. A log that appears
 *   only while following is printed whole.
 * - `lines`: print only the last N lines (a last line without its newline
 *   counts); default all of them, 10 with `follow` unless `since` is given.
 * - `since`: print from the first line whose s6-log stamp is at or after
 *   this ISO 8601 time (see parseSince): s6-log stamps lines as they come,
 *   so those are the lines of that time and later. A line without a stamp
 *   goes with the lines around it: left out before that first line,
 *   printed after it. With `lines`: of the last N lines, those from there.
 * - `json`: JSON Lines, one `{"time": "...", "text": "..."}` per log line
 *   (time null when a line has no s6-log timestamp), instead of the text.
 *
 * The text is printed through printable() (controls, bidi and invisible characters escaped):
 * the serial console carries whatever the guest writes, and it must not drive
 * the terminal. Exit codes: 0 printed (or followed until interrupted); 1 no
 * log yet (without -f), or the log dir or `current` is not what s6-log
 * writes (a link, a FIFO, too big: the log user may have put it there), or
 * a manifest vmsvc did not write; 100 an unknown VM, a bad -n or --since;
 * 111 an unreadable manifest.
 */
export interface LogsArgs {
  readonly source: string;
  readonly logDir?: string | null;
  readonly name: string;
  readonly follow: boolean;
  readonly json: boolean;
  readonly lines?: number;
  readonly since?: string;
}

export interface LogsOptions {
  /** Ends -f; default: SIGINT. */
  readonly signal?: AbortSignal;
  /** How often -f looks for new data, in ms (default 200). */
  readonly pollMs?: number;
}

export function logs(args: LogsArgs, io: Io, opts: LogsOptions = {}): Promise<number> {
  return guard(io, async () => {
    if (args.lines !== undefined && !(Number.isSafeInteger(args.lines) && args.lines >= 0)) throw new UsageError('-n takes a whole number of lines, 0 or more');
    const since = args.since === undefined ? null : parseSince(args.since);
    if (args.since !== undefined && since === null) throw new UsageError(`--since ${printable(args.since)} is not a time vmsvc reads: give ISO 8601, 2026-01-31, 2026-01-31T08:00, 2026-01-31 08:00:00.5, with Z or +01:00 when not in this host's local time`);
    const lastLines = args.lines ?? (args.follow && since === null ? FOLLOW_LINES : null);
    const startAt = (fd: number, size: number): number => {
      const tail = lastLines === null ? 0 : lastLinesStart(fd, size, lastLines);
      return since === null ? tail : firstStampedFrom(fd, tail, size, since);
    };
    const vm = logsOf(args);
    const file = path.join(vm.logDir, 'current');
    const open = () => openCurrent(vm.logDir);
    const out = new BatchedOut(io.out);
    const sink = args.json ? jsonLines(out.write) : textLines(out.write);
    const writable = io.writable ?? (() => Promise.resolve(true));
    if (!args.follow) {
      const opened = open();
      if (opened === null) {
        throw new CommandError(`no serial log for VM ${printable(vm.name)} yet: ${printable(file)} does not exist (has its logger run?)`, EXIT.failed);
      }
      // What it held when opened, and no more: a log written on meanwhile is for -f.
      const lines = new LineSplitter(sink);
      try {
        if (await pump(opened.fd, startAt(opened.fd, opened.stat.size), opened.stat.size, lines, out, writable) === null) return EXIT.ok;
      } finally {
        fs.closeSync(opened.fd);
      }
      lines.end();
      out.flush();
      return EXIT.ok;
    }
    await follow(file, open, startAt, sink, out, writable, io, opts);
    return EXIT.ok;
  });
}

/** What -f prints of the log before following it, as tail -f. */
const FOLLOW_LINES = 10;

/** The VM's name and log dir; a skipped VM's only when apply recorded the log root and a log is there. */
function logsOf(args: LogsArgs): { name: string; logDir: string } {
  const found = findAnyVm(readTree(args.source), args.name, args.logDir ?? null);
  if ('vm' in found) return found.vm;
  const s = found.skipped;
  const why = `VM ${printable(s.name)} was skipped when the tree was generated (${printable(s.reason)})`;
  if (s.logDir === null) throw new CommandError(`${why}, and where its log would be is unknown (no apply record)`, EXIT.failed);
  return { name: s.name, logDir: s.logDir };
}

/** Twice s6-log's largest rotation size (its s directive's maximum, 268435455): a bigger `current` is not its log. */
const CURRENT_MAX_BYTES = 2 * 268435455;

/**
 * `<logDir>/current`, opened as untrusted (the log user writes the log dir):
 * neither the log dir nor `current` may be a link, `current` must be a
 * regular file of a size s6-log writes. Null when it does not exist (yet).
 */
function openCurrent(logDir: string): { fd: number; stat: fs.Stats } | null {
  const opened = openUntrusted(path.dirname(logDir), [path.basename(logDir), 'current']);
  if (opened.kind === 'missing') return null;
  if (opened.kind === 'refused') throw new CommandError(`${printable(opened.why)}; vmsvc reads only the log s6-log writes`, EXIT.failed);
  if (opened.stat.size > CURRENT_MAX_BYTES) {
    fs.closeSync(opened.fd);
    throw tooBig(path.join(logDir, 'current'), opened.stat.size);
  }
  return opened;
}

const READ_CHUNK = 64 * 1024;

/**
 * What is printed, gathered and written once per read: a log of short lines
 * is not one write(2) per line, and a long line is written as it is read,
 * never held whole.
 */
class BatchedOut {
  private parts: string[] = [];

  constructor(private readonly out: (s: string) => void) {}

  readonly write = (s: string): void => {
    this.parts.push(s);
  };

  flush(): void {
    if (this.parts.length === 0) return;
    const text = this.parts.join('');
    this.parts = [];
    this.out(text);
  }
}

/**
 * Prints `fd` from `offset` up to `end`, a read at a time, each written
 * before the next is read. Always bounded: the log user can make a file
 * grow (or truncate it to a sparse 100 GiB) while it is read, so "to its
 * end" would never end. Stops early once `signal` aborts: a drain of
 * hundreds of MiB must not outlast Ctrl-C. The offset reached, or null when
 * no one reads stdout any more.
 */
async function pump(fd: number, offset: number, end: number, lines: LineSplitter, out: BatchedOut, writable: () => Promise<boolean>, signal?: AbortSignal): Promise<number | null> {
  const buf = Buffer.allocUnsafe(READ_CHUNK);
  let at = offset;
  while (at < end) {
    const n = fs.readSync(fd, buf, 0, Math.min(buf.length, end - at), at);
    if (n === 0) break;
    at += n;
    lines.push(buf.subarray(0, n));
    out.flush();
    if (!await writable()) return null;
    if (signal?.aborted === true) break;
  }
  return at;
}

/** The refusal for a `current` bigger than s6-log writes, at open or while followed. */
function tooBig(file: string, size: number): CommandError {
  return new CommandError(`${printable(file)} is ${size} bytes, more than s6-log ever writes (${CURRENT_MAX_BYTES}); vmsvc reads only the log s6-log writes`, EXIT.failed);
}

/**
 * Prints `file` from `startAt` and then whatever is appended to it, until
 * aborted. s6-log rotates by renaming `current` and starting a new one: the
 * old file is read to its end before the new one is opened, so no line is
 * lost or repeated. Only the file there at the start starts at `startAt`: a
 * file that appears later (the first, or after a rotation) is all new.
 */
async function follow(file: string, open: () => { fd: number; stat: fs.Stats } | null, startAt: (fd: number, size: number) => number, sink: LineSink, out: BatchedOut, writable: () => Promise<boolean>, io: Io, opts: LogsOptions): Promise<void> {
  const controller = new AbortController();
  const onSigint = () => controller.abort();
  const signal = opts.signal ?? controller.signal;
  if (opts.signal === undefined) process.once('SIGINT', onSigint);
  const pollMs = opts.pollMs ?? 200;
  let fd: number | null = null;
  let ino = -1;
  let offset = 0;
  let waitingSaid = false;
  let first = true;
  let lines = new LineSplitter(sink);
  /**
   * Prints what the open file holds past `offset`, up to its size now: what
   * is written meanwhile waits for the next drain, and the size is checked
   * against the bound each time (openCurrent checks it only at open, and the
   * followed inode can grow after). False when no one reads stdout any more.
   */
  const drain = async (): Promise<boolean> => {
    if (fd === null) return true;
    const size = fs.fstatSync(fd).size;
    if (size > CURRENT_MAX_BYTES) throw tooBig(file, size);
    const reached = await pump(fd, offset, size, lines, out, writable, signal);
    if (reached === null) return false;
    offset = reached;
    return true;
  };
  const close = () => {
    if (fd === null) return;
    fs.closeSync(fd);
    fd = null;
    // A rotated file ends with a full line (s6-log writes whole lines); flush anyway.
    lines.end();
    out.flush();
    lines = new LineSplitter(sink);
  };
  try {
    while (!signal.aborted) {
      if (!await drain()) return;
      // Opened afresh each time, never by a followed link: a rotation shows as a new inode.
      const now = open();
      if (now !== null && now.stat.ino !== ino) {
        // New file (first open or rotation): finish the old one first.
        if (!await drain()) return;
        close();
        fd = now.fd;
        ino = now.stat.ino;
        offset = first ? startAt(now.fd, now.stat.size) : 0;
        if (!await drain()) return;
      } else if (now !== null) {
        fs.closeSync(now.fd);
        if (now.stat.size < offset) {
          offset = 0; // truncated in place
          if (!await drain()) return;
        }
      } else if (fd === null && !waitingSaid) {
        io.err(`vmsvc: waiting for ${printable(file)}\n`);
        waitingSaid = true;
      }
      first = false;
      // A reader gone while no line came is noticed at the next write, as by tail -f.
      await sleep(pollMs, signal);
    }
    // Aborted: stop here, as tail -f on Ctrl-C, rather than drain on (up to CURRENT_MAX_BYTES).
  } finally {
    close();
    process.removeListener('SIGINT', onSigint);
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done);
  });
}

/**
 * `vmsvc logs NAME [-f]`: the VM's serial console log, as its s6-log logger
 * writes it: `<logDir>/current`, each line prefixed with an ISO 8601 time
 * (s6-log's T directive) and two spaces.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { printable, terminalJson } from '../util/bytes.js';
import { findAnyVm, readTree } from './inventory.js';
import { CommandError, EXIT, guard, type Io } from '../command/shell.js';
import { openUntrusted } from '../util/untrusted.js';

/**
 * Arguments of `vmsvc logs NAME`.
 *
 * - `source`: the generated source tree (the --out path); the manifest gives
 *   the VM's log dir.
 * - `logDir`: the root of the log dirs apply recorded (null: unknown): a VM
 *   skipped as invalid has no entry of its own, and its log from before is NAME below it.
 * - `name`: the VM.
 * - `follow`: after printing the log, keep printing lines as they are written,
 *   across s6-log's rotations, until SIGINT (or `opts.signal` aborts).
 * - `json`: JSON Lines, one `{"time": "...", "text": "..."}` per log line
 *   (time null when a line has no s6-log timestamp), instead of the text.
 *
 * The text is printed through printable() (controls, bidi and invisible characters escaped):
 * the serial console carries whatever the guest writes, and it must not drive
 * the terminal. Exit codes: 0 printed (or followed until interrupted); 1 no
 * log yet (without -f), or the log dir or `current` is not what s6-log
 * writes (a link, a FIFO, too big: the log user may have put it there); 2
 * unknown VM or unreadable manifest.
 */
export interface LogsArgs {
  readonly source: string;
  readonly logDir?: string | null;
  readonly name: string;
  readonly follow: boolean;
  readonly json: boolean;
}

export interface LogsOptions {
  /** Ends -f; default: SIGINT. */
  readonly signal?: AbortSignal;
  /** How often -f looks for new data, in ms (default 200). */
  readonly pollMs?: number;
}

const TIMESTAMPED = /^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+) {2}(.*)$/s;

export function logs(args: LogsArgs, io: Io, opts: LogsOptions = {}): Promise<number> {
  return guard(io, async () => {
    const vm = logsOf(args);
    const file = path.join(vm.logDir, 'current');
    const open = () => openCurrent(vm.logDir);
    const emit = (line: string) => io.out(args.json ? `${terminalJson(parseLine(line))}\n` : `${printable(line)}\n`);
    if (!args.follow) {
      const opened = open();
      if (opened === null) {
        throw new CommandError(`no serial log for VM ${printable(vm.name)} yet: ${printable(file)} does not exist (has its logger run?)`, EXIT.failed);
      }
      // What it held when opened, and no more: a log written on meanwhile is for -f.
      const lines = new LineSplitter();
      const buf = Buffer.alloc(64 * 1024);
      try {
        for (let offset = 0; offset < opened.stat.size;) {
          const n = fs.readSync(opened.fd, buf, 0, Math.min(buf.length, opened.stat.size - offset), offset);
          if (n === 0) break;
          offset += n;
          lines.push(buf.subarray(0, n)).forEach(emit);
        }
      } finally {
        fs.closeSync(opened.fd);
      }
      lines.end().forEach(emit);
      return EXIT.ok;
    }
    await follow(file, open, emit, io, opts);
    return EXIT.ok;
  });
}

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
    throw new CommandError(`${printable(path.join(logDir, 'current'))} is ${opened.stat.size} bytes, more than s6-log ever writes (${CURRENT_MAX_BYTES}); vmsvc reads only the log s6-log writes`, EXIT.failed);
  }
  return opened;
}

export function parseLine(line: string): { time: string | null; text: string } {
  const m = TIMESTAMPED.exec(line);
  return m === null ? { time: null, text: line } : { time: m[1]!, text: m[2]! };
}

/** Bytes in, complete lines out (UTF-8 decoded across chunk boundaries). */
class LineSplitter {
  private readonly decoder = new StringDecoder('utf8');
  private pending = '';

  push(chunk: Buffer): string[] {
    this.pending += this.decoder.write(chunk);
    const parts = this.pending.split('\n');
    this.pending = parts.pop()!;
    return parts;
  }

  end(): string[] {
    const rest = this.pending + this.decoder.end();
    this.pending = '';
    return rest === '' ? [] : [rest];
  }
}

/**
 * Prints `file` and then whatever is appended to it, until aborted. s6-log
 * rotates by renaming `current` and starting a new one: the old file is read
 * to its end before the new one is opened, so no line is lost or repeated.
 */
async function follow(file: string, open: () => { fd: number; stat: fs.Stats } | null, emit: (line: string) => void, io: Io, opts: LogsOptions): Promise<void> {
  const controller = new AbortController();
  const onSigint = () => controller.abort();
  const signal = opts.signal ?? controller.signal;
  if (opts.signal === undefined) process.once('SIGINT', onSigint);
  const pollMs = opts.pollMs ?? 200;
  let fd: number | null = null;
  let ino = -1;
  let offset = 0;
  let waitingSaid = false;
  let lines = new LineSplitter();
  const buf = Buffer.alloc(64 * 1024);
  const drain = () => {
    if (fd === null) return;
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, offset);
      if (n === 0) return;
      offset += n;
      lines.push(buf.subarray(0, n)).forEach(emit);
    }
  };
  const close = () => {
    if (fd === null) return;
    fs.closeSync(fd);
    fd = null;
    // A rotated file ends with a full line (s6-log writes whole lines); flush anyway.
    lines.end().forEach(emit);
    lines = new LineSplitter();
  };
  try {
    while (!signal.aborted) {
      drain();
      // Opened afresh each time, never by a followed link: a rotation shows as a new inode.
      const now = open();
      if (now !== null && now.stat.ino !== ino) {
        // New file (first open or rotation): finish the old one first.
        drain();
        close();
        fd = now.fd;
        ino = now.stat.ino;
        offset = 0;
        drain();
      } else if (now !== null) {
        fs.closeSync(now.fd);
        if (now.stat.size < offset) {
          offset = 0; // truncated in place
          drain();
        }
      } else if (fd === null && !waitingSaid) {
        io.err(`vmsvc: waiting for ${printable(file)}\n`);
        waitingSaid = true;
      }
      await sleep(pollMs, signal);
    }
    drain();
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

/**
 * The shell every command runs in (check, generate, apply and the admin
 * commands): where it writes, its exit codes, its one error type and the guard
 * where errors as values end. The failures a command reports as a one-line
 * message and exit 111: what scanning, templates and writing throw, and any
 * failed system call. Anything else is a bug: still one line and exit 111,
 * because a stack trace on a user's terminal or in the boot log explains
 * nothing to the user; VMSVC_DEBUG=1 adds the stack for whoever debugs it.
 */
import { printable } from '../util/bytes.js';
import { errnoOf } from '../util/errno.js';
import { ScanError } from '../pipeline/scan.js';
import { TemplateError } from '../pipeline/templates.js';
import { WriteError } from '../pipeline/write-tree.js';

/** Where a command writes: the CLI passes stdout and stderr, tests collect strings. */
export interface Io {
  readonly out: (s: string) => void;
  readonly err: (s: string) => void;
  /**
   * Resolves once stdout has taken what out() was given: false when no one
   * reads it any more (`vmsvc logs | head` after head has exited). A command
   * that prints without bound (logs) awaits it between writes, so that a slow
   * reader (a pager) holds it back rather than its output filling memory,
   * and it ends when the reader is gone. Absent (tests): always true.
   */
  readonly writable?: () => Promise<boolean>;
}

/** stdout's reader has gone (EPIPE): what is printed after that is dropped. */
let stdoutGone = false;
let stdoutWatched = false;

/**
 * process.stdout, with EPIPE taken as the end of the output: Node ignores
 * SIGPIPE, so a write to a pipe whose reader exited fails with EPIPE, and the
 * unhandled 'error' event killed vmsvc with a stack trace. coreutils' tail
 * dies of SIGPIPE there without a word; vmsvc stops printing without a word,
 * and the command ends with its own status (a check that found problems
 * still exits 1). Any other write error stays fatal, as before.
 */
function stdout(): NodeJS.WriteStream {
  if (!stdoutWatched) {
    stdoutWatched = true;
    process.stdout.on('error', (e) => {
      if (errnoOf(e) !== 'EPIPE') throw e;
      stdoutGone = true;
    });
  }
  return process.stdout;
}

export const processIo: Io = {
  out: (s) => {
    if (!stdoutGone) stdout().write(s);
  },
  err: (s) => process.stderr.write(s),
  // Through setImmediate: the EPIPE of the last write is reported on a
  // later tick, which a command awaiting only resolved promises would never reach.
  writable: () => new Promise((resolve) => setImmediate(() => {
    const s = stdout();
    if (stdoutGone || !s.writableNeedDrain) {
      resolve(!stdoutGone);
      return;
    }
    const done = (): void => {
      s.off('drain', done);
      s.off('close', done);
      resolve(!stdoutGone);
    };
    s.on('drain', done);
    s.on('close', done);
  })),
};

/**
 * Every command's exit codes, skarnet's convention (s6 and s6-rc, which
 * vmsvc runs among, and the boot scripts that run it, read them so):
 * 0 ok, warnings allowed; 1 what the command checked or asked for is not
 * fine: invalid configuration, a tree s6-rc-compile refused, services or
 * VMs that did not come up, a file vmsvc reads that it did not write as it
 * is; 100 wrong usage: a flag or argument; 111 the command could not do
 * its job: a program failed, an I/O error, a full disk, a limit the host
 * refuses, another run holding the lock, a bug. doc/commands.md lists
 * them (test/unit/exit-codes-doc.test.ts keeps the two in step).
 */
export const EXIT = { ok: 0, failed: 1, usage: 100, system: 111 } as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/**
 * A failure as a value, until the command's edge says it (sayFailure): its
 * one line and the exit code it costs. A CommandError is one.
 */
export interface Failure {
  readonly message: string;
  readonly exitCode: ExitCode;
}

export function failure(message: string, exitCode: ExitCode): Failure {
  return { message, exitCode };
}

/** Says `f` on `err` in one line and returns its exit code. */
export function sayFailure(f: Failure, err: (s: string) => void): ExitCode {
  err(`vmsvc: ${f.message}\n`);
  return f.exitCode;
}

/** A failure a command says in one line, exiting with its code. */
export class CommandError extends Error {
  constructor(message: string, readonly exitCode: ExitCode) {
    super(message);
  }
}

/** A wrong flag or argument: exit 100, before the command does anything. */
export class UsageError extends CommandError {
  constructor(message: string) {
    super(message, EXIT.usage);
  }
}

/**
 * Errors as values end here: runs a command, and turns a CommandError or a
 * known failure into its message and exit code (111 for the known failures),
 * for synchronous and asynchronous commands alike.
 */
export function guard(io: Io, fn: () => number): number;
export function guard(io: Io, fn: () => Promise<number>): Promise<number>;
export function guard(io: Io, fn: () => number | Promise<number>): number | Promise<number> {
  try {
    const code = fn();
    return typeof code === 'number' ? code : code.catch((e: unknown) => reportFailure(e, io.err));
  } catch (e) {
    return reportFailure(e, io.err);
  }
}

/**
 * Says `e` on `err` as one line and returns the exit code: a CommandError's
 * own, else 111, for the failures failureMessage knows and for a bug
 * (internalErrorMessage) alike.
 */
export function reportFailure(e: unknown, err: (s: string) => void): number {
  if (e instanceof CommandError) return sayFailure(e, err);
  err(failureMessage(e) ?? internalErrorMessage(e, process.env['VMSVC_DEBUG'] === '1'));
  return EXIT.system;
}

/** One line naming the error, or with `debug` the stack trace after it. */
export function internalErrorMessage(e: unknown, debug: boolean): string {
  const what = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  const line = `vmsvc: internal error: ${printable(what)} (a bug in vmsvc; VMSVC_DEBUG=1 shows where)\n`;
  if (!debug || !(e instanceof Error) || e.stack === undefined) return line;
  return `${line}${e.stack.split('\n').map(printable).join('\n')}\n`;
}

export function failureMessage(e: unknown): string | null {
  if (e instanceof ScanError || e instanceof WriteError || e instanceof TemplateError) return `vmsvc: ${printable(e.message)}\n`;
  if (e instanceof Error && errnoOf(e) !== undefined) return `vmsvc: I/O error: ${printable(e.message)}\n`;
  return null;
}

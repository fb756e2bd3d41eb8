/**
 * The s6-rc calls apply makes on the live system (`-a list`, `-u listall`, `-u change`,
 * `-d change`) and how a failed program is reported: shared by the run
 * itself (first-start.ts, live-update.ts), the recovery of an interrupted one (recover.ts) and the
 * repair of s6rc-fdholder's pipes (pipe-repair.ts).
 *
 * Every transition carries `-t`: s6-rc otherwise waits without end for a
 * service that never comes up (a logger whose pipe s6rc-fdholder lost waits
 * on s6-fdholder-retrieve forever), and apply runs in the boot path.
 */
import * as path from 'node:path';
import { printable } from '../util/bytes.js';
import { showArgv, type CommandResult, type CommandRunner } from '../util/command-runner.js';
import type { Io } from '../command/shell.js';
import { oneshotGroups } from '../s6rc/oneshots-first.js';
import { upList } from '../s6rc/up-list.js';
import { fail, ok, type Result } from '../util/result.js';

/** s6-rc on one live directory. */
export interface LiveRc {
  /** The s6-rc program. */
  readonly rc: string;
  readonly live: string;
  /** s6-rc's -t for every transition: how long one may take before s6-rc gives up (ms, more than 0). */
  readonly timeoutMs: number;
  readonly runner: CommandRunner;
  readonly io: Io;
}

/**
 * `s6-rc -u change NAMES`, the oneshots they need brought up first
 * (oneshots-first.ts says why); false when some did not come up (s6-rc's
 * stderr and the failed command passed on). A group of oneshots that fails
 * does not stop the rest: the last change tries it again and starts what
 * does not need it. Nothing to run for no names.
 */
export function upChange(s: LiveRc, names: readonly string[]): boolean {
  const first = oneshotGroups(s.runner, s.rc, s.live, names, false);
  let ok = true;
  if (!first.ok) {
    passStderr(s.io, first.result);
    failed(s.io, [s.rc], first.argv, first.result);
    ok = false;
  } else {
    for (const group of first.groups) ok = change(s, '-u', group) && ok;
  }
  return change(s, '-u', names) && ok;
}

/** `s6-rc -d change NAMES` (and, as s6-rc does, what depends on them); false when some did not go down. */
export function downChange(s: LiveRc, names: readonly string[]): boolean {
  return change(s, '-d', names);
}

function change(s: LiveRc, way: '-u' | '-d', names: readonly string[]): boolean {
  if (names.length === 0) return true;
  const argv = [s.rc, '-l', s.live, '-t', String(s.timeoutMs), way, 'change', ...names];
  const r = s.runner.run(argv);
  passStderr(s.io, r);
  if (r.code !== 0) failed(s.io, [s.rc], argv, r);
  return r.code === 0;
}

/** The atomic services s6-rc says are up (`s6-rc -a list`), or why it could not tell. */
export function upServices(s: LiveRc): Result<Set<string>> {
  const listed = upList(s.runner, s.rc, s.live, false);
  if (listed.ok) return ok(listed.up);
  passStderr(s.io, listed.result);
  return fail(`cannot tell which services are up: ${showArgv(listed.argv)} failed (exit ${listed.result.code})`);
}

/** `program`: the s6-rc program and its arguments; `argv`: what was run (maybe through s6-softlimit). */
export function failed(io: Io, program: readonly string[], argv: readonly string[], r: CommandResult): void {
  io.err(`vmsvc: ${printable(path.basename(program[0] ?? ''))} failed (exit ${r.code}): ${showArgv(argv)}\n`);
}

/** A program's stderr, indented, so warnings and errors are not lost. */
export function passStderr(io: Io, r: CommandResult): void {
  if (r.stderr === '') return;
  io.err(r.stderr.replace(/\n$/, '').split('\n').map((l) => `  ${printable(l)}\n`).join(''));
}

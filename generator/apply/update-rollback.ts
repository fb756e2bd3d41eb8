/**
 * Undoes what s6-rc-update leaves beside the live directory when it is
 * killed, as its own rollback would have (s6-rc 0.7.0.0,
 * src/s6-rc/s6-rc-update.c: make_new_livedir and rollback_servicedirs;
 * s6rc_livedir_create.c; skalibs atomic_symlink4.c).
 *
 * make_new_livedir makes a new live directory beside LIVE, named
 * `LIVE:s6-rc-update:XXXXXX` (mkdtemp), with its compiled and scandir links,
 * prefix, state and lock; then, longrun by longrun of the new database, it
 * MOVES the directory of every service that stays up from LIVE/servicedirs
 * into it (rename, so the supervisor and its process keep running) and
 * copies the new definition over it (copy_online), and makes a new
 * directory for every other one (copy_offline). Only then does it switch
 * LIVE to the new directory (atomic_symlink4: a link
 * `LIVE:skalibs-atomic_symlink4:XXXXXX` renamed over LIVE) and remove the
 * old one. The scandir's links name LIVE/servicedirs/NAME, through LIVE:
 * killed before the switch, the moved services' links dangle, and s6-svscan
 * gives up every scan at a link it cannot stat, so no supervisor is started
 * again and every later s6-rc-update fails. On its own failures s6-rc-update
 * rolls back: for each moved service, the old definition copied back
 * (copy_online from LIVE/compiled/servicedirs/NAME) and the directory renamed
 * back into LIVE/servicedirs; then the new directory removed. This does the
 * same on the next run, from what is on disk:
 *
 * - a directory beside LIVE named `LIVE:s6-rc-update:XXXXXX` (or
 *   `:s6-rc-init:`) that is not the one LIVE points at is a leftover. Before
 *   the switch it is the new one, with none, some or all of the moved
 *   directories (a rename is atomic: each is in one place or the other), the
 *   last maybe half through copy_online; after the switch it is the old one
 *   s6-rc-update did not get to remove, and holds nothing the live system
 *   needs;
 * - the directories in its servicedirs/ that LIVE/servicedirs lacks and the
 *   live database (LIVE/compiled) has as a longrun are moved back, their
 *   definition restored first (servicedir-copy.ts); apply never renames
 *   a service in its conversion files, so the name is the same in both;
 * - then it is removed, with a leftover `LIVE:skalibs-atomic_symlink4:XXXXXX`
 *   link.
 *
 * Idempotent: killed in the middle, the next run finds the rest and does it.
 * It relies on apply's lock for no s6-rc-update to be running meanwhile (one
 * run by hand on the same live directory is not guarded against).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { printable } from '../util/bytes.js';
import { errnoOf } from '../util/errno.js';
import { isDir, lexists } from '../util/fs-probe.js';
import { plural } from '../util/plural.js';
import { restoreDefinition } from '../s6rc/servicedir-copy.js';

/** What a killed s6-rc-update (or s6-rc-init) left beside the live directory. */
export interface LeftBeside {
  /** Its name, beside LIVE. */
  readonly name: string;
  /** The live database's longruns whose directory it holds: moved out of LIVE/servicedirs, to move back. */
  readonly moved: readonly string[];
}

/** The suffixes s6rc_livedir_create and atomic_symlink4 give their temporary entries (mkdtemp, mkltemp: six characters). */
const LEFTOVER = /^:(s6-rc-update|s6-rc-init|skalibs-atomic_symlink4):[^/]{6}$/;

/** What is beside `live` that a killed s6-rc-update or s6-rc-init left, sorted; none without a live directory. */
export function leftBesideLive(live: string): LeftBeside[] {
  if (!lexists(live)) return [];
  const dir = path.dirname(live);
  const base = path.basename(live);
  let current: string;
  try {
    current = fs.realpathSync(live);
  } catch {
    // A live link to nothing: the caller's reading of LIVE/compiled says so.
    return [];
  }
  return fs.readdirSync(dir)
    .filter((n) => n.startsWith(base) && LEFTOVER.test(n.slice(base.length)))
    .sort()
    .filter((n) => realpathOrNull(path.join(dir, n)) !== current)
    .map((name) => ({ name, moved: movedOut(live, path.join(dir, name)) }));
}

/** Moves back what `left` holds of the live system and removes the leftovers (see above). Throws the system call's error. */
export function rollBack(live: string, left: readonly LeftBeside[]): void {
  for (const l of left) {
    const beside = path.join(path.dirname(live), l.name);
    for (const name of l.moved) {
      const dir = path.join(beside, 'servicedirs', name);
      restoreDefinition(path.join(live, 'compiled', 'servicedirs', name), dir);
      fs.renameSync(dir, path.join(live, 'servicedirs', name));
    }
    fs.rmSync(beside, { recursive: true, force: true });
  }
}

/** One line saying what `left` is and what is (or with `dryRun`, would be) done with it. */
export function describeLeft(live: string, left: readonly LeftBeside[], dryRun: boolean): string {
  const moved = left.flatMap((l) => l.moved);
  const names = left.map((l) => printable(l.name)).join(', ');
  const where = printable(path.join(live, 'servicedirs'));
  if (moved.length === 0) return `${dryRun ? 'would remove' : 'removed'} what an interrupted s6-rc-update left beside ${printable(live)}: ${names}`;
  const dirs = `the directories of ${plural(moved.length, 'running service')}`;
  const shown = moved.slice(0, 12).map(printable).join(', ') + (moved.length > 12 ? `, and ${moved.length - 12} more` : '');
  return dryRun
    ? `would move back ${dirs} an interrupted s6-rc-update left in ${names}, outside the live dir (their scandir links dangle), into ${where}: ${shown}; and remove ${names}`
    : `an interrupted s6-rc-update left ${dirs} in ${names}, outside the live dir (their scandir links dangled): moved them back into ${where}: ${shown}; removed ${names}`;
}

function movedOut(live: string, beside: string): string[] {
  // The atomic_symlink4 link points at the new directory: what it holds is counted there.
  if (!fs.lstatSync(beside).isDirectory()) return [];
  let names: string[];
  try {
    names = fs.readdirSync(path.join(beside, 'servicedirs'));
  } catch (e) {
    // Killed before s6rc_livedir_create made servicedirs/.
    if (errnoOf(e) === 'ENOENT') return [];
    throw e;
  }
  return names
    .filter((n) => !lexists(path.join(live, 'servicedirs', n)) && isDir(path.join(live, 'compiled', 'servicedirs', n)))
    .filter((n) => fs.lstatSync(path.join(beside, 'servicedirs', n)).isDirectory())
    .sort();
}

function realpathOrNull(p: string): string | null {
  try {
    return fs.realpathSync(p);
  } catch {
    return null;
  }
}

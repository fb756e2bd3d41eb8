/**
 * One holder at a time for a lock file that names its owner's pid: generate's
 * out path, apply's state dir and a VM's console (in the VMM user's runtime
 * dir). The pid is written to a private file first and then linked into
 * place, so a lock vmsvc made always names its owner; a lock whose owner died
 * (SIGKILL) is taken over.
 *
 * The lock's directory is opened once and held: every step names the lock
 * through it (`/proc/self/fd/N/name`, see untrusted.ts), never as a link
 * followed, and the lock is read O_NONBLOCK, must be a regular file and is
 * read up to 32 bytes. So a link, FIFO, device or huge file put where the
 * lock goes is refused, naming it, rather than followed, waited on or read
 * without end, even in a directory another user can write.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { errnoOf } from './errno.js';
import { TEMP_SUFFIX_PATTERN, tempSuffix } from './temp-name.js';
import { atDir } from './at-dir.js';
import { openUntrusted, readUntrusted } from './untrusted.js';
import { sleepSync } from './sleep.js';

export type LockOutcome =
  | { readonly ok: true; readonly release: () => void }
  /** holder: the live owner's pid, or null when the lock kept changing hands (busy all the same). */
  | { readonly ok: false; readonly holder: number | null }
  /**
   * The lock's directory cannot be opened as one (`at: 'dir'`), or the lock is
   * not a file vmsvc wrote (`at: 'lock'`). why: one line naming the file, raw:
   * print it through printable().
   */
  | { readonly ok: false; readonly refused: string; readonly at: 'dir' | 'lock' };

export interface LockOptions {
  /** The pid the lock names (default this process's; tests name others). */
  readonly pid?: number;
  /**
   * The lock's directory is writable by someone vmsvc does not trust (the VMM
   * user's runtime dir): it is not followed as a link either, only its parent
   * is. Otherwise it is the caller's own (--out's parent, --state) and links
   * to it are followed as the user gave them.
   */
  readonly untrustedDir?: boolean;
}

/** A pid and a newline; a longer lock is not one vmsvc wrote. */
const LOCK_MAX_BYTES = 32;

/**
 * A lock that holds no pid was not written by this vmsvc (its pid comes with
 * the link), but an older one created the console lock empty and wrote the
 * pid after: give such a lock this long before taking it over.
 */
const EMPTY_LOCK_GRACE_MS = 2000;
const EMPTY_LOCK_POLL_MS = 50;

/** Alive as far as kill(pid, 0) can tell (EPERM: alive, someone else's). */
export function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return errnoOf(e) === 'EPERM';
  }
}

/**
 * Private files (the pid before it is linked, a stale lock moved aside) are
 * named `<lock>-<pid>-<random>`: cleanup code can recognise them (see
 * privateLockOwner). release() removes the lock only while it is still the
 * one this call linked.
 */
export function takeLock(lockPath: string, opts: LockOptions = {}): LockOutcome {
  const dirPath = path.dirname(lockPath);
  const opened = opts.untrustedDir === true
    ? openUntrusted(path.dirname(dirPath), [path.basename(dirPath)], true)
    : openUntrusted(dirPath, [], true);
  if (opened.kind === 'missing') return { ok: false, refused: `${dirPath} does not exist`, at: 'dir' };
  if (opened.kind === 'refused') return { ok: false, refused: opened.why, at: 'dir' };
  const dirFd = opened.fd;
  let outcome: LockOutcome | null = null;
  try {
    outcome = takeIn(dirFd, dirPath, path.basename(lockPath), opts.pid ?? process.pid);
    return outcome;
  } finally {
    if (outcome === null || !outcome.ok) fs.closeSync(dirFd);
  }
}

function takeIn(dirFd: number, dirPath: string, name: string, pid: number): LockOutcome {
  const held = `/proc/self/fd/${dirFd}`;
  const at = atDir(dirFd, name);
  const mine = atDir(dirFd, `${name}-${tempSuffix()}`);
  const mineIno = writePrivate(mine, pid);
  try {
    // Rounds: the holder may release, or another run take over, between two
    // steps. Each is a few syscalls; a lock that changes hands this often is busy.
    for (let attempt = 0; attempt < 200; attempt++) {
      try {
        fs.linkSync(mine, at);
        let released = false;
        return {
          ok: true,
          release: () => {
            if (released) return;
            released = true;
            release(dirFd, at, mineIno);
          },
        };
      } catch (e) {
        if (!(errnoOf(e) === 'EEXIST')) throw e;
      }
      const read = readUntrusted(held, [name], LOCK_MAX_BYTES, dirPath);
      if (read.kind === 'missing') continue; // released meanwhile: try again
      if (read.kind === 'refused') return { ok: false, refused: read.why, at: 'lock' };
      const m = /^(\d+)\n?$/.exec(read.data.toString('latin1'));
      const holder = m === null ? null : Number(m[1]);
      if (holder !== null && isAlive(holder)) return { ok: false, holder };
      if (holder === null && Date.now() - read.stat.mtimeMs < EMPTY_LOCK_GRACE_MS) {
        sleepSync(EMPTY_LOCK_POLL_MS);
        continue;
      }
      removeStale(at, atDir(dirFd, `${name}-${tempSuffix()}`), read.stat.ino);
    }
    return { ok: false, holder: null };
  } finally {
    fs.rmSync(mine, { force: true });
  }
}

/** The pid in a file only this run can have made (O_EXCL, no link followed); its inode. */
function writePrivate(file: string, pid: number): number {
  const O = fs.constants;
  const fd = fs.openSync(file, O.O_WRONLY | O.O_CREAT | O.O_EXCL | O.O_NOFOLLOW, 0o644);
  try {
    fs.writeSync(fd, `${pid}\n`);
    return fs.fstatSync(fd).ino;
  } catch (e) {
    // Out of space or I/O: an empty private file would be left for every later run to step over.
    fs.rmSync(file, { force: true });
    throw e;
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Removes the stale lock read as inode `ino`. It is moved aside first (atomic)
 * and only then compared: another run may have taken the stale lock over
 * between the read and now, and its lock is put back.
 */
function removeStale(at: string, aside: string, ino: number): void {
  try {
    fs.renameSync(at, aside);
  } catch (e) {
    if (errnoOf(e) === 'ENOENT') return;
    throw e;
  }
  try {
    if (fs.lstatSync(aside).ino !== ino) fs.linkSync(aside, at);
  } catch { /* a third run holds the lock now: the next round names it */ }
  fs.rmSync(aside, { force: true });
}

function release(dirFd: number, at: string, ino: number): void {
  try {
    if (fs.lstatSync(at).ino === ino) fs.unlinkSync(at);
  } catch { /* already gone */ }
  fs.closeSync(dirFd);
}

/**
 * The pid in the name of a private lock file a run left behind (killed before
 * its cleanup), or null when `name` is not one for `lockName`.
 */
export function privateLockOwner(name: string, lockName: string): number | null {
  const m = new RegExp(`^${lockName.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}-${TEMP_SUFFIX_PATTERN}$`).exec(name);
  return m === null ? null : Number(m[1]);
}

/**
 * One holder at a time for a lock file that names its owner's pid. The pid is
 * written to a private file first and then linked into place, so a lock that
 * exists always names its owner; a lock whose owner died (SIGKILL) is taken
 * over. Used by generate (per out path) and apply (per state dir).
 */
import * as fs from 'node:fs';
import { errnoOf } from './errno.js';
import { TEMP_SUFFIX_PATTERN, tempSuffix } from './temp-name.js';

export type LockOutcome =
  | { readonly ok: true; readonly release: () => void }
  /** holder: the live owner's pid, or null when the lock kept changing hands (busy all the same). */
  | { readonly ok: false; readonly holder: number | null };

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

/** Private files are named `<lockPath>-<pid>-<random>`: cleanup code can recognise them (see privateLockOwner). */
export function takeLock(lockPath: string): LockOutcome {
  const mine = `${lockPath}-${tempSuffix()}`;
  fs.writeFileSync(mine, `${process.pid}\n`, { mode: 0o644 });
  try {
    // Rounds: the holder may release, or another run take over, between two
    // steps. Each is a few syscalls; a lock that changes hands this often is busy.
    for (let attempt = 0; attempt < 200; attempt++) {
      try {
        fs.linkSync(mine, lockPath);
        return { ok: true, release: () => fs.rmSync(lockPath, { force: true }) };
      } catch (e) {
        if (!(errnoOf(e) === 'EEXIST')) throw e;
      }
      const seen = readLock(lockPath);
      if (seen === null) continue; // released meanwhile: try again
      if (isAlive(seen.pid)) return { ok: false, holder: seen.pid };
      // Its owner died. Remove it only if it is still the file we read: another
      // run may have taken over the stale lock in between.
      try {
        if (fs.lstatSync(lockPath).ino === seen.ino) fs.unlinkSync(lockPath);
      } catch {
        // gone already
      }
    }
    return { ok: false, holder: null };
  } finally {
    fs.rmSync(mine, { force: true });
  }
}

function readLock(lockPath: string): { pid: number; ino: number } | null {
  let fd: number;
  try {
    fd = fs.openSync(lockPath, 'r');
  } catch {
    return null;
  }
  try {
    const pid = Number.parseInt(fs.readFileSync(fd, 'utf8'), 10);
    return { pid, ino: fs.fstatSync(fd).ino };
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * The pid in the name of a private lock file a run left behind (killed before
 * its cleanup), or null when `name` is not one for `lockName`.
 */
export function privateLockOwner(name: string, lockName: string): number | null {
  const m = new RegExp(`^${lockName.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}-${TEMP_SUFFIX_PATTERN}$`).exec(name);
  return m === null ? null : Number(m[1]);
}

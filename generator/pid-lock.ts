/**
 * One holder at a time for a lock file that names its owner's pid. The pid is
 * written to a private file first and then linked into place, so a lock that
 * exists always names its owner; a lock whose owner died (SIGKILL) is taken
 * over. Used by generate (per out path) and apply (per state dir).
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';

export type LockOutcome =
  | { readonly ok: true; readonly release: () => void }
  /** holder: the live owner's pid, or null when the lock kept changing hands. */
  | { readonly ok: false; readonly holder: number | null };

/** Alive as far as kill(pid, 0) can tell (EPERM: alive, someone else's). */
export function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e instanceof Error && 'code' in e && e.code === 'EPERM';
  }
}

/** Private files are named `<lockPath>-<pid>-<random>`: cleanup code can recognise them. */
export function takeLock(lockPath: string): LockOutcome {
  const mine = `${lockPath}-${process.pid}-${randomBytes(4).toString('hex')}`;
  fs.writeFileSync(mine, `${process.pid}\n`, { mode: 0o644 });
  try {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        fs.linkSync(mine, lockPath);
        return { ok: true, release: () => fs.rmSync(lockPath, { force: true }) };
      } catch (e) {
        if (!(e instanceof Error && 'code' in e && e.code === 'EEXIST')) throw e;
      }
      const owner = readOwner(lockPath);
      if (owner !== null && isAlive(owner)) return { ok: false, holder: owner };
      fs.rmSync(lockPath, { force: true });
    }
    return { ok: false, holder: null };
  } finally {
    fs.rmSync(mine, { force: true });
  }
}

function readOwner(lockPath: string): number | null {
  try {
    const pid = Number.parseInt(fs.readFileSync(lockPath, 'utf8'), 10);
    return Number.isInteger(pid) ? pid : null;
  } catch {
    return null;
  }
}

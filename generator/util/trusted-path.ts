/**
 * Whether a path is root's to decide: the state directory, which apply
 * writes and the admin commands take programs and paths from, must not be
 * one another user can change. A path is that when the file and every
 * directory above it belong to root (or to whoever runs vmsvc) and no one
 * else can write them, but for sticky directories such as /tmp, where only
 * an entry's owner can rename or remove it. Checked component by component
 * on the path with its links resolved: if none can be changed by another
 * user, neither can what the path leads to.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { errnoOf } from './errno.js';

const GROUP_OR_OTHER_WRITE = 0o022;
/** The sticky bit (S_ISVTX), which Node's fs.constants lacks. */
const STICKY = 0o1000;

/**
 * Why another user could change the file or directory `st` describes (shown
 * as `at`), or null when only root or the caller can: owned by one of them,
 * and not writable by group or others, unless `stickyAbove` and it is a
 * sticky directory (where others may add entries but not touch ours).
 */
export function untrustedStat(st: fs.Stats, at: string, stickyAbove = false): string | null {
  if (st.uid !== 0 && st.uid !== (process.geteuid?.() ?? 0)) return `${at} belongs to uid ${st.uid}, not to root`;
  const sticky = st.isDirectory() && (st.mode & STICKY) !== 0;
  if ((st.mode & GROUP_OR_OTHER_WRITE) !== 0 && !(stickyAbove && sticky)) return `${at} can be written by users other than its owner (mode ${(st.mode & 0o7777).toString(8)})`;
  return null;
}

/** Why another user could change what `p` leads to, or null when none can (or `p` does not exist yet, with a safe parent). */
export function untrustedPath(p: string): string | null {
  let real: string;
  try {
    real = fs.realpathSync(p);
  } catch (e) {
    if (errnoOf(e) !== 'ENOENT') return `${p} cannot be resolved (${errnoOf(e) ?? 'EIO'})`;
    // Not made yet: whoever can write its parent decides what it will be.
    const parent = path.dirname(path.resolve(p));
    return parent === path.resolve(p) ? null : untrustedPath(parent);
  }
  const parts = real.split('/').filter((c) => c !== '');
  for (let i = 0; i <= parts.length; i++) {
    const at = `/${parts.slice(0, i).join('/')}`;
    let st: fs.Stats;
    try {
      st = fs.lstatSync(at);
    } catch (e) {
      return `${at} cannot be examined (${errnoOf(e) ?? 'EIO'})`;
    }
    const why = untrustedStat(st, at, i < parts.length);
    if (why !== null) return why;
  }
  return null;
}

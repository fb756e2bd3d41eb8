/**
 * Whether a path is root's to decide: the state directory, which apply
 * writes and the admin commands take programs and paths from, must not be
 * one another user can change, nor may the way root goes to the data
 * directory. A path is that when the file and every directory above it
 * belong to root (or to whoever runs vmsvc) and no one else can write them,
 * but for sticky directories such as /tmp, where only an entry's owner can
 * rename or remove it. Checked the way the kernel resolves the path: every
 * directory it enters and every symbolic link it follows, with the
 * directory that link sits in; a link's target alone would miss a link
 * another user may swap (one in their home leading to root's /srv).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { errnoCode, errnoOf } from './errno.js';

const GROUP_OR_OTHER_WRITE = 0o022;
/** The sticky bit (S_ISVTX), which Node's fs.constants lacks. */
const STICKY = 0o1000;
/** Links followed before giving up, as the kernel's own limit (ELOOP). */
const MAX_LINKS = 40;

/** Where another user could change the way, and why (`why` names `at`). */
export interface Untrusted {
  readonly at: string;
  readonly why: string;
}

/**
 * Why another user could change the file or directory `st` describes (shown
 * as `at`), or null when only root or the caller can: owned by one of them,
 * and not writable by group or others, unless `stickyAbove` and it is a
 * sticky directory (where others may add entries but not touch ours).
 * `rootOnly`: the caller is not trusted either (a way root's services take,
 * whoever runs vmsvc).
 */
export function untrustedStat(st: fs.Stats, at: string, stickyAbove = false, rootOnly = false): string | null {
  if (st.uid !== 0 && (rootOnly || st.uid !== (process.geteuid?.() ?? 0))) return `${at} belongs to uid ${st.uid}, not to root`;
  // A link's mode is always 0777 and means nothing: it is never written, only replaced by whoever may write its directory.
  if (st.isSymbolicLink()) return null;
  const sticky = st.isDirectory() && (st.mode & STICKY) !== 0;
  if ((st.mode & GROUP_OR_OTHER_WRITE) !== 0 && !(stickyAbove && sticky)) return `${at} can be written by users other than its owner (mode ${(st.mode & 0o7777).toString(8)})`;
  return null;
}

/** Why another user could change what `p` leads to, or null when none can (or `p` does not exist yet, with a safe parent). */
export function untrustedPath(p: string): string | null {
  return walk(p, true)?.why ?? null;
}

/**
 * Where a user other than root could make `p` lead elsewhere: a directory
 * on the way or a link followed; what `p` itself is (its owner, its mode)
 * is not judged. Its own directory is judged without the sticky exception,
 * as `p` may be another user's, which a sticky directory lets them rename.
 * Root's alone, even when vmsvc runs as another user: the way is root's
 * services' (the data dir's, host-probe.ts), and that user is one who could
 * change it.
 */
export function untrustedRoute(p: string): Untrusted | null {
  return walk(p, false, true);
}

function walk(p: string, judgeEnd: boolean, rootOnly = false): Untrusted | null {
  const pending = components(p.startsWith('/') ? p : `${process.cwd()}/${p}`);
  // `dir` is always a directory reached without a link, so its parent is what `..` leads to.
  let dir = '/';
  let links = 0;
  const top = judge('/', true, rootOnly);
  if (top !== null) return top;
  for (let name = pending.shift(); name !== undefined; name = pending.shift()) {
    if (name === '.' || name === '..') {
      if (name === '..') dir = path.dirname(dir);
      continue;
    }
    const next = path.join(dir, name);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(next);
    } catch (e) {
      // Not made yet: whoever can write its parent decides what it will be.
      if (errnoOf(e) === 'ENOENT') return judge(dir, false, rootOnly);
      return { at: next, why: `${next} cannot be examined (${errnoCode(e)})` };
    }
    if (st.isSymbolicLink()) {
      const why = untrustedStat(st, next, true, rootOnly);
      if (why !== null) return { at: next, why };
      if (++links > MAX_LINKS) return { at: p, why: `${p} cannot be resolved (ELOOP)` };
      const target = fs.readlinkSync(next);
      if (target.startsWith('/')) dir = '/';
      pending.unshift(...components(target));
      continue;
    }
    if (pending.length === 0) {
      if (!judgeEnd) return judge(dir, false, rootOnly);
      const why = untrustedStat(st, next, false, rootOnly);
      return why === null ? null : { at: next, why };
    }
    if (!st.isDirectory()) return { at: p, why: `${p} cannot be resolved (ENOTDIR)` };
    const why = untrustedStat(st, next, true, rootOnly);
    if (why !== null) return { at: next, why };
    dir = next;
  }
  // The path ended on `.`, `..` or a link to /: it is `dir` itself.
  if (judgeEnd) return judge(dir, false, rootOnly);
  return dir === '/' ? null : judge(path.dirname(dir), false, rootOnly);
}

/** untrustedStat of the directory `at`, which the walk has reached. */
function judge(at: string, stickyAbove: boolean, rootOnly: boolean): Untrusted | null {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(at);
  } catch (e) {
    return { at, why: `${at} cannot be examined (${errnoCode(e)})` };
  }
  const why = untrustedStat(st, at, stickyAbove, rootOnly);
  return why === null ? null : { at, why };
}

function components(p: string): string[] {
  return p.split('/').filter((c) => c !== '');
}

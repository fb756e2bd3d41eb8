/**
 * Reading what the admin commands must not trust: the runtime dirs (writable
 * by --vmm-user), the log dirs (writable by --log-user) and the generated
 * tree (which may be edited). The commands run as root, so a link planted
 * there must not make them read a root-only file, and a FIFO or device must
 * not make them block or read without end.
 *
 * A path is a trusted root (the --source the admin gave, or a directory the
 * manifest names the parent of) and names below it. The root is followed;
 * below it every name is opened through the descriptor of the directory
 * above (`/proc/self/fd/N/name`: Node has no openat) with O_NOFOLLOW, so no
 * name is a symbolic link, not even one swapped in between two steps. The
 * last is opened O_NONBLOCK (a FIFO opens at once and is then refused, never
 * waited on), must be a regular file, and is read up to a limit.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { atDir } from './at-dir.js';
import { errnoOf } from './errno.js';

const O = fs.constants;
const READ_CHUNK = 64 * 1024;

export type Opened =
  | { readonly kind: 'ok'; readonly fd: number; readonly stat: fs.Stats }
  | { readonly kind: 'missing' }
  /** why: one line naming the file and what is wrong with it, raw: print it through printable(). */
  | { readonly kind: 'refused'; readonly why: string };

export type Listed =
  | { readonly kind: 'ok'; readonly names: string[] }
  | { readonly kind: 'missing' }
  | { readonly kind: 'refused'; readonly why: string };

export type Read =
  /** stat: the file read, as fstat saw it when opened. */
  | { readonly kind: 'ok'; readonly data: Buffer; readonly stat: fs.Stats }
  | { readonly kind: 'missing' }
  | { readonly kind: 'refused'; readonly why: string };

/** What a file is, for a message. */
export function kindOf(st: fs.Stats): string {
  if (st.isSymbolicLink()) return 'a symbolic link';
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'a regular file';
}

/** A socket there itself: a link (in the VMM user's runtime dir, say) is not followed. */
export function isSocket(p: string): boolean {
  try {
    return fs.lstatSync(p).isSocket();
  } catch {
    return false;
  }
}


/** Why opening `at` (the /proc path) failed, as a sentence about `shown`. */
function refusal(at: string, shown: string, e: unknown, wanted: 'a directory' | 'a regular file'): Opened {
  const code = errnoOf(e) ?? 'EIO';
  if (code === 'ENOENT') return { kind: 'missing' };
  let what: string | null = null;
  try {
    what = kindOf(fs.lstatSync(at));
  } catch { /* gone meanwhile: say the errno */ }
  if (what === null || what === wanted) return { kind: 'refused', why: `${shown} cannot be opened (${code})` };
  return { kind: 'refused', why: `${shown} is ${what}, not ${wanted}${what === 'a symbolic link' ? ' (links are not followed here)' : ''}` };
}

/**
 * Opens `root/names...` as described above: a directory when `directory`,
 * else a regular file. The caller closes `fd`. Messages name the file under
 * `shownRoot` (for a root given as /proc/self/fd/N).
 */
export function openUntrusted(root: string, names: readonly string[], directory = false, shownRoot = root): Opened {
  let shown = shownRoot;
  for (const n of names) {
    if (n === '' || n === '.' || n === '..' || n.includes('/') || n.includes('\0')) {
      return { kind: 'refused', why: `${path.join(shown, n)}: "${n}" is not a file name` };
    }
  }
  let fd: number;
  try {
    fd = fs.openSync(root, O.O_RDONLY | O.O_DIRECTORY);
  } catch (e) {
    return errnoOf(e) === 'ENOENT' ? { kind: 'missing' } : { kind: 'refused', why: `${shownRoot} is not a directory vmsvc can open (${errnoOf(e) ?? 'EIO'})` };
  }
  for (const [i, n] of names.entries()) {
    const last = i === names.length - 1;
    const at = atDir(fd, n);
    shown = path.join(shown, n);
    const asDir = !last || directory;
    let next: number;
    try {
      next = fs.openSync(at, O.O_RDONLY | O.O_NOFOLLOW | O.O_NOCTTY | (asDir ? O.O_DIRECTORY : O.O_NONBLOCK));
    } catch (e) {
      const r = refusal(at, shown, e, asDir ? 'a directory' : 'a regular file');
      fs.closeSync(fd);
      return r;
    }
    fs.closeSync(fd);
    fd = next;
  }
  const stat = fs.fstatSync(fd);
  if (!directory && !stat.isFile()) {
    fs.closeSync(fd);
    return { kind: 'refused', why: `${shown} is ${kindOf(stat)}, not a regular file` };
  }
  return { kind: 'ok', fd, stat };
}

/** The whole of `root/names...` (see openUntrusted), if it holds at most `limit` bytes. */
export function readUntrusted(root: string, names: readonly string[], limit: number, shownRoot = root): Read {
  const opened = openUntrusted(root, names, false, shownRoot);
  if (opened.kind !== 'ok') return opened;
  const shown = path.join(shownRoot, ...names);
  try {
    if (opened.stat.size > limit) return tooBig(shown, opened.stat.size, limit);
    // It may grow after fstat: read up to one byte past the limit to know.
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const chunk = Buffer.allocUnsafe(Math.min(READ_CHUNK, limit + 1 - total));
      const n = fs.readSync(opened.fd, chunk, 0, chunk.length, null);
      if (n === 0) return { kind: 'ok', data: Buffer.concat(chunks, total), stat: opened.stat };
      chunks.push(chunk.subarray(0, n));
      total += n;
      if (total > limit) return tooBig(shown, null, limit);
    }
  } finally {
    fs.closeSync(opened.fd);
  }
}

function tooBig(shown: string, size: number | null, limit: number): Read {
  return { kind: 'refused', why: `${shown} is ${size === null ? 'growing past' : `${size} bytes, more than`} the ${limit} bytes vmsvc reads of it` };
}

/** The entries of the directory `root/names...` (see openUntrusted), dot entries left out. */
export function listUntrusted(root: string, names: readonly string[]): Listed {
  const opened = openUntrusted(root, names, true);
  if (opened.kind !== 'ok') return opened;
  try {
    if (!opened.stat.isDirectory()) return { kind: 'refused', why: `${path.join(root, ...names)} is ${kindOf(opened.stat)}, not a directory` };
    return { kind: 'ok', names: fs.readdirSync(`/proc/self/fd/${opened.fd}`).filter((n) => !n.startsWith('.')) };
  } finally {
    fs.closeSync(opened.fd);
  }
}

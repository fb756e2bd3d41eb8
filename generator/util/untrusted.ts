/**
 * The one way vmsvc reads a tree it does not trust: the data dir (the scan
 * runs as root over a user partition) and what the admin commands read (the
 * runtime dirs, writable by --vmm-user, the log dirs, by --log-user, and the
 * generated tree, which may be edited). A link planted there must not make
 * root read another file, and a FIFO or device must not make it block, read
 * without end or reach a driver.
 *
 * Every name is looked up in a directory already open, through
 * `/proc/self/fd/N/name` (atDir: Node has no openat), with O_PATH|O_NOFOLLOW:
 * that opens nothing a driver sees and follows no link, not even one swapped
 * in between two steps. What it found is fstat'ed, and only a regular file is
 * then opened for reading, through that descriptor (`/proc/self/fd/N`,
 * O_NONBLOCK), so the bytes read are those of the inode that was checked.
 * Raw names stay bytes here. util/path-walk.ts resolves links on these steps
 * as the kernel does (the scan); openUntrusted below follows none at all (the
 * admin commands).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { atDir } from './at-dir.js';
import { decodeUtf8 } from './bytes.js';
import { errnoCode } from './errno.js';

/** Linux's value on every architecture Node runs on; node:fs does not export it. */
const O_PATH = 0o10000000;
const { O_DIRECTORY, O_NOCTTY, O_NOFOLLOW, O_NONBLOCK, O_RDONLY } = fs.constants;
const READ_CHUNK = 64 * 1024;

export type FileKind = 'file' | 'directory' | 'symlink' | 'fifo' | 'socket' | 'char-device' | 'block-device' | 'other';

/** What a file is, by its stat or its directory entry. */
export function fileKind(st: fs.Stats | fs.Dirent<Buffer>): FileKind {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'directory';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isFIFO()) return 'fifo';
  if (st.isSocket()) return 'socket';
  if (st.isCharacterDevice()) return 'char-device';
  if (st.isBlockDevice()) return 'block-device';
  return 'other';
}

const KIND_TEXT: Readonly<Record<FileKind, string>> = {
  file: 'a regular file',
  directory: 'a directory',
  symlink: 'a symbolic link',
  fifo: 'a FIFO',
  socket: 'a socket',
  'char-device': 'a character device',
  'block-device': 'a block device',
  other: 'a file of no known type',
};

/** A directory held by descriptor, with its identity and its name in its parent. */
export interface Dir {
  fd: number;
  readonly dev: number;
  readonly ino: number;
  readonly name: Buffer;
  /** Opened by the walk holding it (closed by it), or lent by its caller. */
  readonly owned: boolean;
}

function heldDir(fd: number, name: Buffer): Dir {
  const st = fs.fstatSync(fd);
  return { fd, dev: st.dev, ino: st.ino, name, owned: true };
}

/** A directory given by a trusted path (links in it followed), or the errno. */
export function openDirPath(p: string): Dir | string {
  try {
    return heldDir(fs.openSync(p, O_PATH | O_DIRECTORY), Buffer.from(p));
  } catch (e) {
    return errnoCode(e);
  }
}

/** The entry `name` of the directory open as `parentFd`, if it is a real directory, never a link to one; else the errno. */
export function openDirAt(parentFd: number, name: string | Buffer): Dir | string {
  let fd: number;
  try {
    fd = fs.openSync(atDir(parentFd, name), O_PATH | O_NOFOLLOW | O_DIRECTORY);
  } catch (e) {
    return errnoCode(e);
  }
  return heldDir(fd, typeof name === 'string' ? Buffer.from(name) : name);
}

export function closeDir(d: Dir): void {
  if (!d.owned || d.fd < 0) return;
  fs.closeSync(d.fd);
  d.fd = -1;
}

/** The entry `name` of the directory open as `dirFd`, whatever it is, a link itself: its O_PATH descriptor and fstat, or the errno. */
export function lookAt(dirFd: number, name: string | Buffer): { readonly fd: number; readonly st: fs.Stats } | string {
  let fd = -1;
  try {
    fd = fs.openSync(atDir(dirFd, name), O_PATH | O_NOFOLLOW);
    return { fd, st: fs.fstatSync(fd) };
  } catch (e) {
    if (fd >= 0) fs.closeSync(fd);
    return errnoCode(e);
  }
}

/** A regular file lookAt found, opened for reading through its descriptor; or the errno. */
export function openLooked(pathFd: number): number | string {
  try {
    return fs.openSync(`/proc/self/fd/${pathFd}`, O_RDONLY | O_NONBLOCK | O_NOCTTY);
  } catch (e) {
    return errnoCode(e);
  }
}

/**
 * The entries of the directory open as `fd`, by their raw bytes, or the
 * errno. A glob is no help here: it decodes names lossily and its patterns
 * skip names starting with a newline, a carriage return or U+2028/U+2029
 * (found by the hostile corpus), while every entry must be seen exactly.
 */
export function listDirFd(fd: number): Array<fs.Dirent<Buffer>> | string {
  try {
    return fs.readdirSync(`/proc/self/fd/${fd}`, { withFileTypes: true, encoding: 'buffer' });
  } catch (e) {
    return errnoCode(e);
  }
}

/** Fills `buf` from the start of `fd` until it is full or the file ends: a read may return less than asked. */
export function readUpTo(fd: number, buf: Buffer): number {
  let n = 0;
  while (n < buf.length) {
    const got = fs.readSync(fd, buf, n, buf.length - n, n);
    if (got === 0) break;
    n += got;
  }
  return n;
}

/** A raw name for messages: itself when UTF-8, else its bytes outside printable ASCII (and backslashes) as \xNN. */
export function showRaw(raw: Buffer): string {
  return decodeUtf8(raw) ?? [...raw].map((b) => (b >= 0x20 && b < 0x7f && b !== 0x5c ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`)).join('');
}

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

/** A socket there itself: a link (in the VMM user's runtime dir, say) is not followed. */
export function isSocket(p: string): boolean {
  try {
    return fs.lstatSync(p).isSocket();
  } catch {
    return false;
  }
}

type Wanted = 'directory' | 'file';

function notWanted(shown: string, kind: FileKind, wanted: Wanted): Opened {
  return { kind: 'refused', why: `${shown} is ${KIND_TEXT[kind]}, not ${KIND_TEXT[wanted]}${kind === 'symlink' ? ' (links are not followed here)' : ''}` };
}

/** Why looking up `at` (the /proc path) failed with `code`, as a sentence about `shown`. */
function refusal(at: string, shown: string, code: string, wanted: Wanted): Opened {
  if (code === 'ENOENT') return { kind: 'missing' };
  let kind: FileKind | null = null;
  try {
    kind = fileKind(fs.lstatSync(at));
  } catch { /* gone meanwhile: say the errno */ }
  if (kind === null || kind === wanted) return { kind: 'refused', why: `${shown} cannot be opened (${code})` };
  return notWanted(shown, kind, wanted);
}

/**
 * Opens `root/names...`: the root (trusted) is followed, every name below it
 * is looked up as above and is never a link. The last is a directory when
 * `directory` (an O_PATH descriptor, to look names up in), else a regular
 * file opened for reading. The caller closes `fd`. Messages name the file
 * under `shownRoot` (for a root given as /proc/self/fd/N).
 */
export function openUntrusted(root: string, names: readonly string[], directory = false, shownRoot = root): Opened {
  for (const n of names) {
    if (n === '' || n === '.' || n === '..' || n.includes('/') || n.includes('\0')) {
      return { kind: 'refused', why: `${path.join(shownRoot, n)}: "${n}" is not a file name` };
    }
  }
  const top = openDirPath(root);
  if (typeof top === 'string') return top === 'ENOENT' ? { kind: 'missing' } : { kind: 'refused', why: `${shownRoot} is not a directory vmsvc can open (${top})` };
  let fd = top.fd;
  let shown = shownRoot;
  try {
    for (const [i, n] of names.entries()) {
      shown = path.join(shown, n);
      const wanted: Wanted = i < names.length - 1 || directory ? 'directory' : 'file';
      const next = wanted === 'directory' ? openDirAt(fd, n) : lookAt(fd, n);
      if (typeof next === 'string') return refusal(atDir(fd, n), shown, next, wanted);
      fs.closeSync(fd);
      fd = next.fd;
    }
    const stat = fs.fstatSync(fd);
    if (directory) {
      const held = fd;
      fd = -1;
      return { kind: 'ok', fd: held, stat };
    }
    if (!stat.isFile()) return notWanted(shown, fileKind(stat), 'file');
    const opened = openLooked(fd);
    if (typeof opened === 'string') return { kind: 'refused', why: `${shown} cannot be opened (${opened})` };
    return { kind: 'ok', fd: opened, stat };
  } finally {
    if (fd >= 0) fs.closeSync(fd);
  }
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
    const listed = listDirFd(opened.fd);
    if (typeof listed === 'string') return { kind: 'refused', why: `${path.join(root, ...names)} cannot be listed (${listed})` };
    return { kind: 'ok', names: listed.map((d) => d.name.toString('utf8')).filter((n) => !n.startsWith('.')) };
  } finally {
    fs.closeSync(opened.fd);
  }
}

/**
 * The kernel's path walk (fs/namei.c), done step by step on util/untrusted.ts
 * below a root that is not trusted (the data dir), so that a link there is
 * resolved as the kernel would resolve it for the VMM, and what it reaches is
 * known to be inside the root or not. Node's JavaScript fs.realpathSync
 * applies `..` to the text instead, so a link through a linked directory
 * followed by `..` looked inside the data dir while the kernel reached a
 * file outside it.
 */
import * as fs from 'node:fs';
import { atDir } from './at-dir.js';
import { decodeUtf8 } from './bytes.js';
import { errnoCode } from './errno.js';
import { closeDir, lookAt, openDirAt, openDirPath, showRaw, type Dir } from './untrusted.js';

/** The kernel's own bound on the links one path lookup follows (MAXSYMLINKS, then ELOOP). */
export const MAX_SYMLINKS = 40;
const SLASH = 0x2f;
const DOT = Buffer.from('.');
const DOTDOT = Buffer.from('..');

/**
 * The chain of directories from `/` down to the root, each opened by name in
 * the one before without following links, so `..` out of the root and
 * absolute link targets are resolved against the same directories the kernel
 * would use. The root's path itself is trusted (it is a flag).
 */
export interface RootChain {
  readonly dirs: readonly Dir[];
  /** Index of the root in `dirs`. */
  readonly depth: number;
}

/**
 * Why a chain could not be opened: `open`, the root itself (errno); `proc`,
 * /proc/self/fd is not there to walk it by; `moved`, its path changed while
 * it was opened.
 */
export interface ChainError {
  readonly stage: 'open' | 'proc' | 'moved';
  readonly code: string;
}

export function openRootChain(root: string): RootChain | ChainError {
  const want = openDirPath(root);
  if (typeof want === 'string') return { stage: 'open', code: want };
  const dirs: Dir[] = [];
  let done = false;
  try {
    let real: Buffer;
    try {
      real = fs.readlinkSync(`/proc/self/fd/${want.fd}`, { encoding: 'buffer' });
    } catch (e) {
      return { stage: 'proc', code: errnoCode(e) };
    }
    const slash = openDirPath('/');
    if (typeof slash === 'string') return { stage: 'moved', code: slash };
    dirs.push({ ...slash, name: Buffer.alloc(0) });
    for (const name of splitPath(real)) {
      if (name.length === 0) continue;
      const next = openDirAt(dirs[dirs.length - 1]!.fd, name);
      if (typeof next === 'string') return { stage: 'moved', code: next };
      dirs.push(next);
    }
    if (!sameDir(dirs[dirs.length - 1]!, want)) return { stage: 'moved', code: 'ESTALE' };
    done = true;
    return { dirs, depth: dirs.length - 1 };
  } finally {
    closeDir(want);
    if (!done) for (const d of dirs) closeDir(d);
  }
}

export function closeChain(chain: RootChain): void {
  for (const d of chain.dirs) closeDir(d);
}

export function sameDir(a: { readonly dev: number; readonly ino: number }, b: { readonly dev: number; readonly ino: number }): boolean {
  return a.dev === b.dev && a.ino === b.ino;
}

/** Where a walk reached nothing it could say more of. */
export type Unreached =
  | { readonly kind: 'missing' }
  | { readonly kind: 'dangling-symlink' }
  | { readonly kind: 'symlink-loop' }
  | { readonly kind: 'symlink-escapes'; readonly target: string }
  /** A link to a file inside whose path there has a name that is not UTF-8: the VMM cannot be given it. */
  | { readonly kind: 'symlink-undecodable'; readonly target: string }
  | { readonly kind: 'unstatable'; readonly code: string };

/** A file the walk reached inside the root (never a link, which it followed). */
export interface Reached {
  readonly kind: 'reached';
  readonly st: fs.Stats;
  readonly viaSymlink: boolean;
  /** Reached through a link: its path below the root, with no link left in it. */
  readonly resolved: string | null;
  /** Its O_PATH descriptor, open while the walk's callback runs; -1 when it was only lstat'ed. */
  readonly fd: number;
  /** Its name through the directory it is in (for access(2)), valid while the callback runs. */
  readonly at: string | Buffer;
}

export type WalkEnd =
  | Unreached
  /** `.` or `..` last: a directory inside the root. */
  | { readonly kind: 'directory'; readonly viaSymlink: boolean }
  | Reached;

/**
 * Resolves the entry `name` of the directory at the top of `base` (the chain
 * and directories below the root it holds open) exactly as the kernel's path
 * walk does: one component at a time; a link's target replaces it and is
 * walked from the link's directory (or from `/`); `..` is taken from where
 * the walk is, after links, not from the text; at most MAX_SYMLINKS links in
 * all. `at` is called with where it ended, while that is still open, and its
 * value returned. With `lstatOnly` a final file is only lstat'ed, not looked
 * up by descriptor.
 *
 * The walk holds the directory it is in open (and the caller's), goes down by
 * lookups in it and up by the kernel's `..` of it, checked against the
 * directory it came down from: a tree changed under the walk is reported, not
 * followed elsewhere. A file is reached only when its directory is the root
 * or below it along the chain. Outside the root the walk only looks up
 * directories and reads links, as the kernel would; a file there is never
 * opened.
 */
export function resolveEntry<T>(chain: RootChain, base: readonly Dir[], name: string, lstatOnly: boolean, at: (end: WalkEnd) => T): T {
  // Copies that this walk does not own: the caller's descriptors stay open.
  const stack: Dir[] = base.map((d) => ({ ...d, owned: false }));
  /** Components left, the next one last. */
  const pending: Array<string | Buffer> = [name];
  let links = 0;
  try {
    while (pending.length > 0) {
      const comp = pending.pop()!;
      const last = pending.length === 0;
      if (isDot(comp)) {
        if (last) return at(finalDir(chain, stack, links > 0));
        continue;
      }
      if (isDotDot(comp)) {
        const moved = up(stack);
        if (moved !== null) return at(moved);
        if (last) return at(finalDir(chain, stack, links > 0));
        continue;
      }
      const cur = stack[stack.length - 1]!;
      const found = last && lstatOnly ? lstatAt(cur.fd, comp) : lookAt(cur.fd, comp);
      if (typeof found === 'string') return at(found === 'ENOENT' ? (links === 0 ? { kind: 'missing' } : { kind: 'dangling-symlink' }) : { kind: 'unstatable', code: found });
      const { fd, st } = found;
      if (st.isSymbolicLink()) {
        if (fd >= 0) fs.closeSync(fd);
        if (++links > MAX_SYMLINKS) return at({ kind: 'symlink-loop' });
        let target: Buffer;
        try {
          target = fs.readlinkSync(atDir(cur.fd, comp), { encoding: 'buffer' });
        } catch (e) {
          // EINVAL: no longer a link; the entry changed under the walk.
          return at({ kind: 'unstatable', code: errnoCode(e) });
        }
        if (target.length === 0) return at({ kind: 'dangling-symlink' });
        if (target[0] === SLASH) {
          while (stack.length > 1) closeDir(stack.pop()!);
          if (stack[0]!.fd < 0) return at({ kind: 'unstatable', code: 'EBADF' });
        }
        const parts = splitPath(target);
        for (let i = parts.length - 1; i >= 0; i--) pending.push(parts[i]!);
        continue;
      }
      if (!last) {
        if (!st.isDirectory()) {
          fs.closeSync(fd);
          return at({ kind: 'unstatable', code: 'ENOTDIR' });
        }
        // Only the directory the walk is in stays open: a deep path costs no descriptors.
        closeDir(cur);
        stack.push({ fd, dev: st.dev, ino: st.ino, name: typeof comp === 'string' ? Buffer.from(comp) : comp, owned: true });
        continue;
      }
      try {
        return at(finalFile(chain, stack, comp, st, fd, links > 0));
      } finally {
        if (fd >= 0) fs.closeSync(fd);
      }
    }
    return at({ kind: 'dangling-symlink' });
  } finally {
    for (const d of stack) closeDir(d);
  }
}

/** lookAt's answer without a descriptor: for a file of which nothing is read. */
function lstatAt(dirFd: number, name: string | Buffer): { readonly fd: number; readonly st: fs.Stats } | string {
  try {
    return { fd: -1, st: fs.lstatSync(atDir(dirFd, name)) };
  } catch (e) {
    return errnoCode(e);
  }
}

/** `..`: to the directory the walk came down from, as the kernel sees it; `/` stays `/`. */
function up(stack: Dir[]): Unreached | null {
  if (stack.length === 1) return null;
  const from = stack.pop()!;
  const to = stack[stack.length - 1]!;
  if (to.fd >= 0) {
    closeDir(from);
    return null;
  }
  const parent = openDirAt(from.fd, '..');
  closeDir(from);
  if (typeof parent === 'string') return { kind: 'unstatable', code: parent };
  to.fd = parent.fd;
  // Moved since the walk came down: the kernel's `..` is now somewhere else.
  if (!sameDir(parent, to)) return { kind: 'unstatable', code: 'ESTALE' };
  return null;
}

/** Whether the walk's directories pass through the root, the same one it was opened as. */
function withinRoot(chain: RootChain, stack: readonly Dir[], below: number): boolean {
  if (stack.length <= chain.depth + below) return false;
  for (let i = 0; i <= chain.depth; i++) {
    if (!sameDir(stack[i]!, chain.dirs[i]!)) return false;
  }
  return true;
}

/** The walk's path, from `/`, for messages. */
function walkPath(stack: readonly Dir[], last: string | Buffer | null): string {
  const parts = stack.slice(1).map((d) => d.name);
  if (last !== null) parts.push(typeof last === 'string' ? Buffer.from(last) : last);
  return `/${parts.map(showRaw).join('/')}`;
}

/** The walk's path below the root: exact when every name is UTF-8. */
function resolvedPath(chain: RootChain, stack: readonly Dir[], last: string | Buffer): string | null {
  let out = '';
  for (let i = chain.depth + 1; i < stack.length; i++) {
    const name = decodeUtf8(stack[i]!.name);
    if (name === null) return null;
    out += `${name}/`;
  }
  const name = typeof last === 'string' ? last : decodeUtf8(last);
  return name === null ? null : out + name;
}

/** The walk ended on a directory (`.` or `..` last): a directory inside, or an escape. */
function finalDir(chain: RootChain, stack: readonly Dir[], viaSymlink: boolean): WalkEnd {
  if (!withinRoot(chain, stack, 1)) return { kind: 'symlink-escapes', target: walkPath(stack, null) };
  return { kind: 'directory', viaSymlink };
}

function finalFile(chain: RootChain, stack: readonly Dir[], name: string | Buffer, st: fs.Stats, fd: number, viaSymlink: boolean): WalkEnd {
  if (!withinRoot(chain, stack, 0)) return { kind: 'symlink-escapes', target: walkPath(stack, name) };
  let resolved: string | null = null;
  if (viaSymlink) {
    resolved = resolvedPath(chain, stack, name);
    if (resolved === null) return { kind: 'symlink-undecodable', target: walkPath(stack, name) };
  }
  return { kind: 'reached', st, viaSymlink, resolved, fd, at: atDir(stack[stack.length - 1]!.fd, name) };
}

function isDot(c: string | Buffer): boolean {
  return typeof c === 'string' ? c === '.' || c === '' : c.length === 0 || c.equals(DOT);
}

function isDotDot(c: string | Buffer): boolean {
  return typeof c === 'string' ? c === '..' : c.equals(DOTDOT);
}

/**
 * A path's components; a leading `/` gives none of its own, but a trailing
 * one gives an empty last component, which the walk takes as `.`: the name
 * before it must then be a directory, as the kernel requires.
 */
function splitPath(p: Buffer): Buffer[] {
  const parts: Buffer[] = [];
  let from = p[0] === SLASH ? 1 : 0;
  for (let i = from; i <= p.length; i++) {
    if (i === p.length || p[i] === SLASH) {
      parts.push(p.subarray(from, i));
      from = i + 1;
    }
  }
  return parts;
}

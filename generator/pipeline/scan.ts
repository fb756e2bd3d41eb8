/**
 * Step 1 of the pipeline, and its only reader of the data directory: collects
 * the facts `check` needs, without judging them. Nothing found here is ever
 * executed or followed outside the data directory; only the first bytes of
 * each vmlinux are read (to tell an ELF image from a compressed kernel),
 * for a VMM that probes image formats the first bytes of each blk/*.img (as
 * many as its longest signature: 15 for crosvm), and the small setting files
 * of config/, each at most CONFIG_MAX_BYTES.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { atDir } from '../util/at-dir.js';
import { decodeUtf8 } from '../util/bytes.js';
import { errnoOf } from '../util/errno.js';
import { headBytesFor, imageSignatureOf, type ImageSignature } from '../util/image-format.js';
import { KERNEL_HEAD_BYTES, kernelFormat, type KernelFormat } from '../util/kernel-format.js';
import { CONFIG_MAX_BYTES, type Node, type NodeKind, type ScannedFile, type ScannedImage, type ScannedSetting, type ScannedTree, type ScannedVm } from '../rules/scanned.js';
import { isSettingFile } from '../rules/settings.js';

/** One buffer for every vmlinux head: only the format read from it is kept. */
const head = Buffer.allocUnsafe(KERNEL_HEAD_BYTES);
/** One buffer for every config/ file, a byte past the cap so that a file grown since its fstat is still caught. */
const settingBuf = Buffer.allocUnsafe(CONFIG_MAX_BYTES + 1);

/**
 * The signatures a VMM that probes image formats would open an image by, and
 * one buffer for every image's first bytes: only the signature matched is kept.
 */
interface ImageProbe {
  readonly signatures: readonly ImageSignature[];
  readonly head: Buffer;
}

/** What resolveEntry reads of a regular file it reaches inside the data dir. */
type Want = 'stat' | 'head' | 'content' | ImageProbe;

/**
 * Nodes that carry nothing but their kind are shared, not made per entry: a
 * large data dir has several per VM. Frozen, since every VM points at them.
 */
const MISSING: Node = Object.freeze({ kind: 'missing' });
const LISTED = new Map<NodeKind, Node>((['file', 'directory', 'symlink', 'fifo', 'socket', 'char-device', 'block-device', 'other'] as const)
  .map((kind) => [kind, Object.freeze({ kind, viaSymlink: kind === 'symlink', size: 0, readable: true, resolved: null })]));
const NONE: readonly never[] = Object.freeze([]);

/**
 * `path.join(dir, name)` for an entry name read from `dir`, where `dir` is
 * already absolute and normalised. path.join returns a rope of several small
 * strings for every path (its normaliser concatenates slices), about four
 * times the memory of this plain concatenation, which shares `dir`.
 */
function child(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`;
}

export class ScanError extends Error {
  constructor(readonly path: string, readonly code: string, message: string) {
    super(message);
  }
}

/**
 * The data dir is walked by file descriptor, never by path: every directory is
 * opened with O_PATH|O_NOFOLLOW (which opens nothing a driver sees, not even a
 * device) and fstat'ed, and every name is looked up in a directory already
 * open, through `/proc/self/fd/<fd>/<name>`: the kernel resolves that magic
 * link to the open directory itself, so it is openat(fd, name), the call Node
 * does not have. A directory swapped for a link while the scan runs is then
 * found as a link, not followed; what was checked is what is read.
 */
const O_PATH = 0o10000000; // Linux's value on every architecture Node runs on; node:fs does not export it.
const { O_DIRECTORY, O_NOFOLLOW, O_RDONLY, O_NONBLOCK } = fs.constants;
/** The kernel's own bound on the links one path lookup follows (MAXSYMLINKS, then ELOOP). */
export const MAX_SYMLINKS = 40;
const SLASH = 0x2f;
const DOT = Buffer.from('.');
const DOTDOT = Buffer.from('..');

/** A directory on a walk: its identity, its name in its parent, and a descriptor while one is held. */
interface Dir {
  fd: number;
  readonly dev: number;
  readonly ino: number;
  readonly name: Buffer;
  /** Opened by this walk (closed by it), or held by the caller. */
  readonly owned: boolean;
}


/** Opens a directory entry that must be a real directory, never following a link; an errno if it is not one. */
function openDirAt(parent: Dir, name: string | Buffer): Dir | string {
  let fd: number;
  try {
    fd = fs.openSync(atDir(parent.fd, name), O_PATH | O_NOFOLLOW | O_DIRECTORY);
  } catch (e) {
    return errnoCode(e);
  }
  const st = fs.fstatSync(fd);
  return { fd, dev: st.dev, ino: st.ino, name: typeof name === 'string' ? Buffer.from(name) : name, owned: true };
}

function closeDir(d: Dir): void {
  if (!d.owned || d.fd < 0) return;
  fs.closeSync(d.fd);
  d.fd = -1;
}

/**
 * The chain of directories from `/` down to the data dir, each opened by name
 * in the one before without following links, so `..` out of the data dir and
 * absolute link targets are resolved against the same directories the kernel
 * would use. The data dir's path itself is trusted (it is a flag).
 */
interface RootChain {
  readonly dirs: readonly Dir[];
  /** Index of the data dir in `dirs`. */
  readonly depth: number;
}

function openRootChain(root: string): RootChain {
  let rootFd: number;
  try {
    rootFd = fs.openSync(root, O_PATH | O_DIRECTORY);
  } catch (e) {
    const code = errnoCode(e);
    if (code === 'ENOTDIR') throw new ScanError(root, code, `data directory ${root} is not a directory`);
    throw new ScanError(root, code, `cannot read data directory ${root}: ${code}`);
  }
  const dirs: Dir[] = [];
  try {
    let real: Buffer;
    try {
      real = fs.readlinkSync(`/proc/self/fd/${rootFd}`, { encoding: 'buffer' });
    } catch (e) {
      throw new ScanError(root, errnoCode(e), `cannot read data directory ${root}: /proc/self/fd is needed to walk it safely (${errnoCode(e)}); mount /proc first`);
    }
    const slash = fs.openSync('/', O_PATH | O_DIRECTORY);
    const st = fs.fstatSync(slash);
    dirs.push({ fd: slash, dev: st.dev, ino: st.ino, name: Buffer.alloc(0), owned: true });
    for (const name of splitPath(real)) {
      if (name.length === 0) continue;
      const next = openDirAt(dirs[dirs.length - 1]!, name);
      if (typeof next === 'string') throw new ScanError(root, next, `cannot read data directory ${root}: its path changed while it was opened (${next})`);
      dirs.push(next);
    }
    const want = fs.fstatSync(rootFd);
    const got = dirs[dirs.length - 1]!;
    if (got.dev !== want.dev || got.ino !== want.ino) throw new ScanError(root, 'ESTALE', `cannot read data directory ${root}: its path changed while it was opened`);
  } catch (e) {
    for (const d of dirs) closeDir(d);
    throw e;
  } finally {
    fs.closeSync(rootFd);
  }
  return { dirs, depth: dirs.length - 1 };
}

function closeChain(chain: RootChain): void {
  for (const d of chain.dirs) closeDir(d);
}

/**
 * Scans the data dir; with more than `maxEntries` entries at its top it stops
 * there (no VM is examined), so a hostile tree cannot make the boot crawl.
 * With `imageSignatures` (a VMM that probes image formats) each image's
 * first bytes are read and matched; without, images are only stat'ed.
 */
export function scanDataDir(dataDir: string, maxEntries = Number.POSITIVE_INFINITY, imageSignatures: readonly ImageSignature[] = NONE): ScannedTree {
  const probe: ImageProbe | null = imageSignatures.length === 0 ? null : { signatures: imageSignatures, head: Buffer.alloc(headBytesFor(imageSignatures)) };
  const root = path.resolve(dataDir);
  const chain = openRootChain(root);
  const rootDir = chain.dirs[chain.depth]!;
  const identity = { dev: rootDir.dev, ino: rootDir.ino };
  try {
    const top = listDir(rootDir.fd, root);
    if (top.error !== null) throw new ScanError(root, top.error, `cannot read data directory ${root}: ${top.error}`);
    if (top.count > maxEntries) return { root, vmNames: [], vms: [], others: [], undecodable: [], entryCount: top.count };
    const vmNames: string[] = [];
    const others: ScannedFile[] = [];
    for (const [name, entry] of top.entries) {
      if (entry.isDirectory()) vmNames.push(name);
      else others.push({ name, path: child(root, name), node: describeLstat(atDir(rootDir.fd, name)) });
    }
    // Descriptors are held while an iteration runs, and closed when it ends.
    const vms = {
      *[Symbol.iterator]() {
        const walkChain = openRootChain(root);
        try {
          const again = walkChain.dirs[walkChain.depth]!;
          if (again.dev !== identity.dev || again.ino !== identity.ino) throw new ScanError(root, 'ESTALE', `data directory ${root} was replaced during the scan`);
          for (const name of vmNames) yield scanVm(root, walkChain, name, probe);
        } finally {
          closeChain(walkChain);
        }
      },
    };
    return { root, vmNames, vms, others, undecodable: top.undecodable, entryCount: top.count };
  } finally {
    closeChain(chain);
  }
}

/** A directory's entries by decoded name, hidden ones left out; names that are not UTF-8 apart. */
interface Listing {
  readonly entries: ReadonlyMap<string, fs.Dirent<Buffer>>;
  /** Paths of entries whose raw names are not UTF-8, shown with \xNN escapes. */
  readonly undecodable: readonly string[];
  /** Entries before anything was left out. */
  readonly count: number;
  /** The errno when the directory could not be read. */
  readonly error: string | null;
}

/**
 * Lists the directory open as `fd` (shown as `dir`) by its raw bytes. A glob
 * is no help here: it decodes names lossily and its patterns skip names
 * starting with a newline, a carriage return or U+2028/U+2029 (found by the
 * hostile corpus), while every entry of the data dir must be seen exactly or
 * reported.
 */
function listDir(fd: number, dir: string): Listing {
  let raw: Array<fs.Dirent<Buffer>>;
  try {
    raw = fs.readdirSync(`/proc/self/fd/${fd}`, { withFileTypes: true, encoding: 'buffer' });
  } catch (e) {
    return { entries: new Map(), undecodable: [], count: 0, error: errnoCode(e) };
  }
  const entries = new Map<string, fs.Dirent<Buffer>>();
  const undecodable: string[] = [];
  for (const d of raw) {
    const name = decodeUtf8(d.name);
    if (name === null) undecodable.push(path.join(dir, escapeRaw(d.name)));
    else if (!name.startsWith('.')) entries.set(name, d);
  }
  return { entries, undecodable, count: raw.length, error: null };
}

/** What a listed entry is, without a syscall. */
function entryNode(listing: Listing, name: string): Node {
  const d = listing.entries.get(name);
  if (d === undefined) return MISSING;
  return LISTED.get(d.isSymbolicLink() ? 'symlink' : kindOf(d))!;
}

/** A subdirectory its parent's listing says is a real directory, opened and listed; or what it is instead. */
function openSub(parent: Dir, name: string, dir: string, node: Node): { readonly dir: Dir; readonly listing: Listing } | Node {
  if (node.kind !== 'directory') return node;
  const opened = openDirAt(parent, name);
  if (typeof opened === 'string') return { kind: 'unstatable', code: opened };
  const listing = listDir(opened.fd, dir);
  if (listing.error === null) return { dir: opened, listing };
  closeDir(opened);
  return { kind: 'unstatable', code: listing.error };
}

function scanVm(root: string, chain: RootChain, name: string, probe: ImageProbe | null): ScannedVm {
  const dir = child(root, name);
  const vmDir = openDirAt(chain.dirs[chain.depth]!, name);
  // Listed as a directory, but not one now (swapped for a link mid-scan): nothing below it is read.
  if (typeof vmDir === 'string') return unreadableVm(name, dir, vmDir === 'ENOENT' ? MISSING : { kind: 'unstatable', code: vmDir });
  const open: Dir[] = [vmDir];
  try {
    const base = [...chain.dirs, vmDir];
    const top = listDir(vmDir.fd, dir);
    // An unreadable VM dir: lstat says what it can, with the errno, for each path.
    const entry = (rel: string): Node => (top.error === null ? entryNode(top, rel) : describeLstat(atDir(vmDir.fd, rel)));
    const fileEntry = (rel: string, want: Want): Resolved =>
      (top.error === null && !top.entries.has(rel) ? nodeOnly(MISSING) : resolveEntry(chain, base, rel, want));

    // A VM dir entry that is not UTF-8 cannot be vmlinux, initramfs, blk or providers: ignored.
    const undecodable: string[] = [];
    const images: ScannedImage[] = [];
    const blkPath = child(dir, 'blk');
    let blk = entry('blk');
    const blkSub = openSub(vmDir, 'blk', blkPath, blk);
    if ('listing' in blkSub) {
      open.push(blkSub.dir);
      const blkBase = [...base, blkSub.dir];
      for (const imgName of blkSub.listing.entries.keys()) {
        if (!imgName.endsWith('.img')) continue;
        const r = resolveEntry(chain, blkBase, imgName, probe ?? 'stat');
        images.push({ name: imgName, path: child(blkPath, imgName), node: r.node, signature: r.image });
      }
      // Only names that would be images matter; other files in blk/ are ignored.
      for (const p of blkSub.listing.undecodable) if (p.endsWith('.img')) undecodable.push(p);
    } else {
      blk = blkSub;
    }

    let providersDir = entry('providers');
    let providersNetDir: Node = MISSING;
    const providers: ScannedFile[] = [];
    const providersSub = openSub(vmDir, 'providers', child(dir, 'providers'), providersDir);
    if ('listing' in providersSub) {
      open.push(providersSub.dir);
      providersNetDir = entryNode(providersSub.listing, 'net');
      const netPath = child(dir, 'providers/net');
      const netSub = openSub(providersSub.dir, 'net', netPath, providersNetDir);
      if ('listing' in netSub) {
        open.push(netSub.dir);
        for (const [provider] of netSub.listing.entries) {
          providers.push({ name: provider, path: child(netPath, provider), node: entryNode(netSub.listing, provider) });
        }
        for (const p of netSub.listing.undecodable) undecodable.push(p);
      } else {
        providersNetDir = netSub;
      }
    } else {
      providersDir = providersSub;
    }

    const configPath = child(dir, 'config');
    let configDir = entry('config');
    const config: ScannedSetting[] = [];
    const configSub = openSub(vmDir, 'config', configPath, configDir);
    if ('listing' in configSub) {
      open.push(configSub.dir);
      const configBase = [...base, configSub.dir];
      for (const settingName of configSub.listing.entries.keys()) {
        const settingPath = child(configPath, settingName);
        // Only known settings are opened; anything else is reported from its listing alone.
        if (!isSettingFile(settingName)) {
          config.push({ name: settingName, path: settingPath, node: entryNode(configSub.listing, settingName), content: null });
          continue;
        }
        const r = resolveEntry(chain, configBase, settingName, 'content');
        config.push({ name: settingName, path: settingPath, node: r.node, content: r.content });
      }
      // No setting has such a name: reported as unknown files, never opened.
      for (const p of configSub.listing.undecodable) config.push({ name: path.basename(p), path: p, node: LISTED.get('other')!, content: null });
    } else {
      configDir = configSub;
    }

    const vmlinux = fileEntry('vmlinux', 'head');
    return {
      name,
      dir,
      vmlinux: vmlinux.node,
      vmlinuxFormat: vmlinux.format,
      initramfs: fileEntry('initramfs', 'stat').node,
      blk,
      images: images.length > 0 ? images : NONE,
      providersDir,
      providersNetDir,
      providers: providers.length > 0 ? providers : NONE,
      configDir,
      config: config.length > 0 ? config : NONE,
      undecodable: undecodable.length > 0 ? undecodable : NONE,
    };
  } finally {
    for (const d of open) closeDir(d);
  }
}

/** A VM dir that could not be opened as one: every entry is reported with why. */
function unreadableVm(name: string, dir: string, node: Node): ScannedVm {
  return {
    name, dir, vmlinux: node, vmlinuxFormat: null, initramfs: MISSING, blk: node, images: NONE,
    providersDir: MISSING, providersNetDir: MISSING, providers: NONE, configDir: MISSING, config: NONE, undecodable: NONE,
  };
}

/** The node at a path without following a final symbolic link. */
function describeLstat(p: string | Buffer): Node {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(p);
  } catch (e) {
    return errnoCode(e) === 'ENOENT' ? MISSING : { kind: 'unstatable', code: errnoCode(e) };
  }
  if (st.isSymbolicLink()) return { kind: 'symlink', viaSymlink: true, size: st.size, readable: false, resolved: null };
  return { kind: kindOf(st), viaSymlink: false, size: st.size, readable: true, resolved: null };
}

interface Resolved {
  readonly node: Node;
  /** vmlinux only: what its first bytes say, read from the very file that was judged. */
  readonly format: KernelFormat | null;
  /** config/ files only: the whole file, when it is a readable regular file of at most CONFIG_MAX_BYTES. */
  readonly content: Buffer | null;
  /** Images probed for a VMM that probes formats: the signature their first bytes match, or null (raw). */
  readonly image: ImageSignature | null;
}

/** A path's node and nothing read from it. */
function nodeOnly(node: Node): Resolved {
  return { node, format: null, content: null, image: null };
}

/**
 * Resolves the entry `name` of the directory at the top of `base` exactly as
 * the kernel's path walk does (fs/namei.c): one component at a time; a link's
 * target replaces it and is walked from the link's directory (or from `/`);
 * `..` is taken from where the walk is, after links, not from the text; at
 * most MAX_SYMLINKS links in all. Node's JavaScript fs.realpathSync applies
 * `..` to the text instead, so a link through a linked directory followed by
 * `..` looked inside the data dir while the kernel reached a file outside it.
 *
 * The walk holds the directory it is in open (and the caller's), goes down by
 * lookups in it and up by the kernel's `..` of it, checked against the
 * directory it came down from: a tree changed under the walk is reported, not
 * followed elsewhere. The result is inside the data dir only when the final
 * file's directory is the data dir or below it along the root chain; then
 * `resolved` is its link-free path below the data dir, what the VMM is given.
 * Outside the data dir the walk only looks up directories and reads links,
 * as the kernel would; a file there is never opened.
 */
function resolveEntry(chain: RootChain, base: readonly Dir[], name: string, want: Want): Resolved {
  // Copies that this walk does not own: the caller's descriptors stay open.
  const stack: Dir[] = base.map((d) => ({ ...d, owned: false }));
  /** Components left, the next one last. */
  const pending: Array<string | Buffer> = [name];
  let links = 0;
  const top = (): Dir => stack[stack.length - 1]!;
  try {
    while (pending.length > 0) {
      const comp = pending.pop()!;
      const last = pending.length === 0;
      if (isDot(comp)) {
        if (last) return nodeOnly(finalDir(chain, stack, links > 0));
        continue;
      }
      if (isDotDot(comp)) {
        const moved = up(stack);
        if (moved !== null) return nodeOnly(moved);
        if (last) return nodeOnly(finalDir(chain, stack, links > 0));
        continue;
      }
      const cur = top();
      let pathFd = -1;
      let st: fs.Stats;
      try {
        if (last && want === 'stat') {
          st = fs.lstatSync(atDir(cur.fd, comp));
        } else {
          pathFd = fs.openSync(atDir(cur.fd, comp), O_PATH | O_NOFOLLOW);
          st = fs.fstatSync(pathFd);
        }
      } catch (e) {
        if (pathFd >= 0) fs.closeSync(pathFd);
        const code = errnoCode(e);
        if (code === 'ENOENT') return nodeOnly(links === 0 ? MISSING : { kind: 'dangling-symlink' });
        return nodeOnly({ kind: 'unstatable', code });
      }
      if (st.isSymbolicLink()) {
        if (pathFd >= 0) fs.closeSync(pathFd);
        if (++links > MAX_SYMLINKS) return nodeOnly({ kind: 'symlink-loop' });
        let target: Buffer;
        try {
          target = fs.readlinkSync(atDir(cur.fd, comp), { encoding: 'buffer' });
        } catch (e) {
          // EINVAL: no longer a link; the entry changed under the walk.
          return nodeOnly({ kind: 'unstatable', code: errnoCode(e) });
        }
        if (target.length === 0) return nodeOnly({ kind: 'dangling-symlink' });
        if (target[0] === SLASH) {
          while (stack.length > 1) closeDir(stack.pop()!);
          if (stack[0]!.fd < 0) return nodeOnly({ kind: 'unstatable', code: 'EBADF' });
        }
        const parts = splitPath(target);
        for (let i = parts.length - 1; i >= 0; i--) pending.push(parts[i]!);
        continue;
      }
      if (!last) {
        if (!st.isDirectory()) {
          fs.closeSync(pathFd);
          return nodeOnly({ kind: 'unstatable', code: 'ENOTDIR' });
        }
        // Only the directory the walk is in stays open: a deep path costs no descriptors.
        if (cur.owned) closeDir(cur);
        stack.push({ fd: pathFd, dev: st.dev, ino: st.ino, name: typeof comp === 'string' ? Buffer.from(comp) : comp, owned: true });
        continue;
      }
      try {
        return finalFile(chain, stack, comp, st, pathFd, links > 0, want);
      } finally {
        if (pathFd >= 0) fs.closeSync(pathFd);
      }
    }
    return nodeOnly({ kind: 'dangling-symlink' });
  } finally {
    for (const d of stack) closeDir(d);
  }
}

/** `..`: to the directory the walk came down from, as the kernel sees it; `/` stays `/`. */
function up(stack: Dir[]): Node | null {
  if (stack.length === 1) return null;
  const from = stack.pop()!;
  const to = stack[stack.length - 1]!;
  if (to.fd >= 0) {
    closeDir(from);
    return null;
  }
  let fd: number;
  try {
    fd = fs.openSync(atDir(from.fd, '..'), O_PATH | O_NOFOLLOW | O_DIRECTORY);
  } catch (e) {
    closeDir(from);
    return { kind: 'unstatable', code: errnoCode(e) };
  }
  closeDir(from);
  const st = fs.fstatSync(fd);
  to.fd = fd;
  // Moved since the walk came down: the kernel's `..` is now somewhere else.
  if (st.dev !== to.dev || st.ino !== to.ino) return { kind: 'unstatable', code: 'ESTALE' };
  return null;
}

/** Whether the walk's directories pass through the data dir, the same one it was opened as. */
function withinRoot(chain: RootChain, stack: readonly Dir[], below: number): boolean {
  if (stack.length <= chain.depth + below) return false;
  for (let i = 0; i <= chain.depth; i++) {
    const a = stack[i]!;
    const b = chain.dirs[i]!;
    if (a.dev !== b.dev || a.ino !== b.ino) return false;
  }
  return true;
}

/** The walk's path, from `/`, for messages. */
function walkPath(stack: readonly Dir[], last: string | Buffer | null): string {
  const parts = stack.slice(1).map((d) => d.name);
  if (last !== null) parts.push(typeof last === 'string' ? Buffer.from(last) : last);
  return `/${parts.map(showRaw).join('/')}`;
}

/** The walk's path below the data dir: exact when every name is UTF-8. */
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
function finalDir(chain: RootChain, stack: readonly Dir[], viaSymlink: boolean): Node {
  if (!withinRoot(chain, stack, 1)) return { kind: 'symlink-escapes', target: walkPath(stack, null) };
  return { kind: 'directory', viaSymlink, size: 0, readable: false, resolved: null };
}

function finalFile(chain: RootChain, stack: readonly Dir[], name: string | Buffer, st: fs.Stats, pathFd: number, viaSymlink: boolean, want: Want): Resolved {
  if (!withinRoot(chain, stack, 0)) return nodeOnly({ kind: 'symlink-escapes', target: walkPath(stack, name) });
  let resolved: string | null = null;
  if (viaSymlink) {
    resolved = resolvedPath(chain, stack, name);
    if (resolved === null) return nodeOnly({ kind: 'symlink-undecodable', target: walkPath(stack, name) });
  }
  // A FIFO or a device is never opened: opening one can block, or reach a driver.
  const kind = kindOf(st);
  if (kind !== 'file') return nodeOnly({ kind, viaSymlink, size: st.size, readable: false, resolved });
  if (pathFd < 0) return nodeOnly({ kind, viaSymlink, size: st.size, readable: canRead(atDir(stack[stack.length - 1]!.fd, name)), resolved });
  // Too large by its fstat: refused unread.
  if (want === 'content' && st.size > CONFIG_MAX_BYTES) return nodeOnly({ kind, viaSymlink, size: st.size, readable: true, resolved });
  // Reopened through the O_PATH descriptor: the same inode that was fstat'ed, whatever the path says now.
  let fd: number;
  try {
    fd = fs.openSync(`/proc/self/fd/${pathFd}`, O_RDONLY | O_NONBLOCK);
  } catch {
    return nodeOnly({ kind, viaSymlink, size: st.size, readable: false, resolved });
  }
  try {
    if (want === 'head') {
      return { node: { kind, viaSymlink, size: st.size, readable: true, resolved }, format: kernelFormat(head.subarray(0, readUpTo(fd, head))), content: null, image: null };
    }
    if (typeof want === 'object') {
      const image = imageSignatureOf(want.head.subarray(0, readUpTo(fd, want.head)), want.signatures);
      return { node: { kind, viaSymlink, size: st.size, readable: true, resolved }, format: null, content: null, image };
    }
    const n = readUpTo(fd, settingBuf);
    // Grown past the cap since the fstat (or a file whose size the kernel does not report): refused all the same.
    if (n > CONFIG_MAX_BYTES) return nodeOnly({ kind, viaSymlink, size: Math.max(st.size, n), readable: true, resolved });
    return { node: { kind, viaSymlink, size: n, readable: true, resolved }, format: null, content: Buffer.from(settingBuf.subarray(0, n)), image: null };
  } catch (e) {
    return nodeOnly({ kind: 'unstatable', code: errnoCode(e) });
  } finally {
    fs.closeSync(fd);
  }
}

/** Fills `buf` from `fd` until it is full or the file ends: a read may return less than asked. */
function readUpTo(fd: number, buf: Buffer): number {
  let n = 0;
  while (n < buf.length) {
    const got = fs.readSync(fd, buf, n, buf.length - n, n);
    if (got === 0) break;
    n += got;
  }
  return n;
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

/**
 * root reads every file whatever its mode, so only other users ask the
 * kernel. Asked per call: a process may drop root after loading vmsvc.
 */
function canRead(p: string | Buffer): boolean {
  if (process.getuid?.() === 0) return true;
  try {
    fs.accessSync(p, fs.constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

function kindOf(st: fs.Stats | fs.Dirent<Buffer>): NodeKind {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'directory';
  if (st.isFIFO()) return 'fifo';
  if (st.isSocket()) return 'socket';
  if (st.isCharacterDevice()) return 'char-device';
  if (st.isBlockDevice()) return 'block-device';
  return 'other';
}

/** Shows a raw name with its non-UTF-8 bytes as \xNN, for messages only. */
function escapeRaw(raw: Buffer): string {
  return [...raw].map((b) => (b >= 0x20 && b < 0x7f && b !== 0x5c ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`)).join('');
}

/** An errno for every failure: one without is reported as an I/O error. */
function errnoCode(e: unknown): string {
  return errnoOf(e) ?? 'EIO';
}

/** A raw name for messages: itself when UTF-8, else with \xNN escapes. */
function showRaw(raw: Buffer): string {
  return decodeUtf8(raw) ?? escapeRaw(raw);
}

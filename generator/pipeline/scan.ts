/**
 * Step 1 of the pipeline, and its only reader of the data directory: collects
 * the facts `check` needs, without judging them. Nothing found here is ever
 * executed or followed outside the data directory; only the first bytes of
 * each vmlinux are read (to tell an ELF image from a compressed kernel).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { errnoOf } from '../util/errno.js';
import { kernelFormat, type KernelFormat } from '../util/kernel-format.js';

export type NodeKind = 'file' | 'directory' | 'symlink' | 'fifo' | 'socket' | 'char-device' | 'block-device' | 'other';

/** What a path turned out to be, symbolic links resolved inside the data dir only. */
export type Node =
  | { readonly kind: 'missing' }
  | { readonly kind: 'dangling-symlink' }
  | { readonly kind: 'symlink-loop' }
  | { readonly kind: 'symlink-escapes'; readonly target: string }
  | { readonly kind: 'unstatable'; readonly code: string }
  | {
      readonly kind: NodeKind;
      readonly viaSymlink: boolean;
      readonly size: number;
      readonly readable: boolean;
    };

export interface ScannedFile {
  readonly name: string;
  readonly path: string;
  readonly node: Node;
}

export interface ScannedVm {
  readonly name: string;
  readonly dir: string;
  readonly vmlinux: Node;
  /**
   * What the first bytes of vmlinux say it is, when it is a readable regular
   * file. The bytes themselves are not kept: a 1 KiB buffer per VM was 10 MB
   * of native memory at 10000 VMs.
   */
  readonly vmlinuxFormat: KernelFormat | null;
  /** The optional initramfs beside vmlinux. */
  readonly initramfs: Node;
  /** blk/, lstat'ed: a symbolic link here is reported, not followed. */
  readonly blk: Node;
  readonly images: readonly ScannedFile[];
  readonly providersDir: Node;
  readonly providersNetDir: Node;
  readonly providers: readonly ScannedFile[];
  /** Entries below the VM dir whose names are not valid UTF-8 (raw bytes shown escaped). */
  readonly undecodable: readonly string[];
}

export interface ScannedTree {
  /** The data dir as given, made absolute: every generated path starts with it. */
  readonly root: string;
  /** The VM dirs' names, in directory order: known before any VM is read. */
  readonly vmNames: readonly string[];
  /**
   * The VMs in the order of vmNames, each read from disk only when the
   * iteration reaches it (again on every iteration): check walks them once
   * and keeps what it needs, so a VM's facts die young. Scanned all up front,
   * 10000 VMs' facts outlived their check as ~10 MB of old-generation garbage
   * that no collection came back for before the tree was written.
   */
  readonly vms: Iterable<ScannedVm>;
  /** Top-level entries that cannot be VMs: non-directories and symbolic links. */
  readonly others: readonly ScannedFile[];
  readonly undecodable: readonly string[];
  /** Entries at the top of the data dir, hidden ones included. */
  readonly entryCount: number;
}

/** Enough for an ELF header and a bzImage setup header (magic at 0x202). */
const HEAD_BYTES = 1024;
/** One buffer for every vmlinux head: only the format read from it is kept. */
const head = Buffer.allocUnsafe(HEAD_BYTES);
// ignoreBOM: a leading U+FEFF is part of the name, not a byte-order mark to drop.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Nodes that carry nothing but their kind are shared, not made per entry: a
 * large data dir has several per VM. Frozen, since every VM points at them.
 */
const MISSING: Node = Object.freeze({ kind: 'missing' });
const LISTED = new Map<NodeKind, Node>((['file', 'directory', 'symlink', 'fifo', 'socket', 'char-device', 'block-device', 'other'] as const)
  .map((kind) => [kind, Object.freeze({ kind, viaSymlink: kind === 'symlink', size: 0, readable: true })]));
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
 * Scans the data dir; with more than `maxEntries` entries at its top it stops
 * there (no VM is examined), so a hostile tree cannot make the boot crawl.
 */
export function scanDataDir(dataDir: string, maxEntries = Number.POSITIVE_INFINITY): ScannedTree {
  const root = path.resolve(dataDir);
  let rootStat: fs.Stats;
  try {
    rootStat = fs.statSync(root);
  } catch (e) {
    throw new ScanError(root, errnoCode(e), `cannot read data directory ${root}: ${errnoCode(e)}`);
  }
  if (!rootStat.isDirectory()) throw new ScanError(root, 'ENOTDIR', `data directory ${root} is not a directory`);
  const realRoot = fs.realpathSync(root);

  const top = listDir(root);
  if (top.error !== null) throw new ScanError(root, top.error, `cannot read data directory ${root}: ${top.error}`);
  if (top.count > maxEntries) return { root, vmNames: [], vms: [], others: [], undecodable: [], entryCount: top.count };
  const vmNames: string[] = [];
  const others: ScannedFile[] = [];
  for (const [name, entry] of top.entries) {
    const entryPath = child(root, name);
    if (entry.isDirectory()) vmNames.push(name);
    else others.push({ name, path: entryPath, node: describeLstat(entryPath) });
  }
  const vms = { *[Symbol.iterator]() { for (const name of vmNames) yield scanVm(root, realRoot, name); } };
  return { root, vmNames, vms, others, undecodable: top.undecodable, entryCount: top.count };
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
 * Lists a directory by its raw bytes. A glob is no help here: it decodes names
 * lossily and its patterns skip names starting with a newline, a carriage
 * return or U+2028/U+2029 (found by the hostile corpus), while every entry of
 * the data dir must be seen exactly or reported.
 */
function listDir(dir: string): Listing {
  let raw: Array<fs.Dirent<Buffer>>;
  try {
    raw = fs.readdirSync(dir, { withFileTypes: true, encoding: 'buffer' });
  } catch (e) {
    return { entries: new Map(), undecodable: [], count: 0, error: errnoCode(e) };
  }
  const entries = new Map<string, fs.Dirent<Buffer>>();
  const undecodable: string[] = [];
  for (const d of raw) {
    const name = decode(d.name);
    if (name === null) undecodable.push(path.join(dir, escapeRaw(d.name)));
    else if (!name.startsWith('.')) entries.set(name, d);
  }
  return { entries, undecodable, count: raw.length, error: null };
}

/** What a listed entry is, without a syscall; a directory that could not be listed is unstatable. */
function entryNode(listing: Listing, name: string): Node {
  const d = listing.entries.get(name);
  if (d === undefined) return MISSING;
  return LISTED.get(d.isSymbolicLink() ? 'symlink' : kindOf(d))!;
}

/** Lists a subdirectory that its parent's listing says is a real directory. */
function listSub(dir: string, node: Node): Listing | Node {
  if (node.kind !== 'directory') return node;
  const listing = listDir(dir);
  return listing.error === null ? listing : { kind: 'unstatable', code: listing.error };
}

function scanVm(root: string, realRoot: string, name: string): ScannedVm {
  const dir = child(root, name);
  const top = listDir(dir);
  // An unreadable VM dir: lstat says what it can, with the errno, for each path.
  const entry = (rel: string): Node => (top.error === null ? entryNode(top, rel) : describeLstat(child(dir, rel)));
  const fileEntry = (p: string, rel: string): Node => (top.error === null && !top.entries.has(rel) ? MISSING : resolveInside(p, realRoot));

  // A VM dir entry that is not UTF-8 cannot be vmlinux, initramfs, blk or providers: ignored.
  const undecodable: string[] = [];
  const images: ScannedFile[] = [];
  let blk = entry('blk');
  const blkDir = child(dir, 'blk');
  const blkListing = listSub(blkDir, blk);
  if ('entries' in blkListing) {
    for (const imgName of blkListing.entries.keys()) {
      if (!imgName.endsWith('.img')) continue;
      const imgPath = child(blkDir, imgName);
      images.push({ name: imgName, path: imgPath, node: resolveInside(imgPath, realRoot) });
    }
    // Only names that would be images matter; other files in blk/ are ignored.
    for (const p of blkListing.undecodable) if (p.endsWith('.img')) undecodable.push(p);
  } else {
    blk = blkListing;
  }

  let providersDir = entry('providers');
  let providersNetDir: Node = MISSING;
  const providers: ScannedFile[] = [];
  const providersListing = listSub(child(dir, 'providers'), providersDir);
  if ('entries' in providersListing) {
    providersNetDir = entryNode(providersListing, 'net');
    const netDir = child(dir, 'providers/net');
    const netListing = listSub(netDir, providersNetDir);
    if ('entries' in netListing) {
      for (const [provider] of netListing.entries) {
        providers.push({ name: provider, path: child(netDir, provider), node: entryNode(netListing, provider) });
      }
      undecodable.push(...netListing.undecodable);
    } else {
      providersNetDir = netListing;
    }
  } else {
    providersDir = providersListing;
  }

  const vmlinuxPath = child(dir, 'vmlinux');
  const vmlinux = fileEntry(vmlinuxPath, 'vmlinux');
  return {
    name,
    dir,
    vmlinux,
    vmlinuxFormat: readFormat(vmlinuxPath, vmlinux),
    initramfs: fileEntry(child(dir, 'initramfs'), 'initramfs'),
    blk,
    images: images.length > 0 ? images : NONE,
    providersDir,
    providersNetDir,
    providers: providers.length > 0 ? providers : NONE,
    undecodable: undecodable.length > 0 ? undecodable : NONE,
  };
}

/** lstat, or the node a failed lstat means: missing, or unstatable with its errno. */
function lstatOr(p: string): fs.Stats | Node {
  try {
    return fs.lstatSync(p);
  } catch (e) {
    return errnoCode(e) === 'ENOENT' ? MISSING : { kind: 'unstatable', code: errnoCode(e) };
  }
}

/** The node at `p` without following a final symbolic link. */
function describeLstat(p: string): Node {
  const st = lstatOr(p);
  if (!(st instanceof fs.Stats)) return st;
  if (st.isSymbolicLink()) return { kind: 'symlink', viaSymlink: true, size: st.size, readable: false };
  return { kind: kindOf(st), viaSymlink: false, size: st.size, readable: true };
}

/**
 * Follows symbolic links, but only to targets inside the data dir: the user
 * partition must not be able to hand a VM the host's own files as a disk.
 */
function resolveInside(p: string, realRoot: string): Node {
  const lst = lstatOr(p);
  if (!(lst instanceof fs.Stats)) return lst;
  const viaSymlink = lst.isSymbolicLink();
  let st = lst;
  if (viaSymlink) {
    let target: string;
    try {
      target = fs.realpathSync(p);
      st = fs.statSync(target);
    } catch (e) {
      const code = errnoCode(e);
      if (code === 'ENOENT') return { kind: 'dangling-symlink' };
      if (code === 'ELOOP') return { kind: 'symlink-loop' };
      return { kind: 'unstatable', code };
    }
    if (!target.startsWith(realRoot + path.sep)) return { kind: 'symlink-escapes', target };
  }
  const kind = kindOf(st);
  return { kind, viaSymlink, size: st.size, readable: kind === 'file' ? canRead(p) : false };
}

function readFormat(p: string, node: Node): KernelFormat | null {
  if (node.kind !== 'file' || !node.readable) return null;
  let fd: number;
  try {
    // O_NONBLOCK: if the file was swapped for a FIFO since the stat, open must not hang.
    fd = fs.openSync(p, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch {
    return null;
  }
  try {
    if (!fs.fstatSync(fd).isFile()) return null;
    return kernelFormat(head.subarray(0, fs.readSync(fd, head, 0, HEAD_BYTES, 0)));
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * root reads every file whatever its mode, so only other users ask the
 * kernel. Asked per call: a process may drop root after loading vmsvc.
 */
function canRead(p: string): boolean {
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

function decode(raw: Buffer): string | null {
  try {
    return utf8.decode(raw);
  } catch {
    return null;
  }
}

/** Shows a raw name with its non-UTF-8 bytes as \xNN, for messages only. */
function escapeRaw(raw: Buffer): string {
  return [...raw].map((b) => (b >= 0x20 && b < 0x7f && b !== 0x5c ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`)).join('');
}

/** An errno for every failure: one without is reported as an I/O error. */
function errnoCode(e: unknown): string {
  return errnoOf(e) ?? 'EIO';
}

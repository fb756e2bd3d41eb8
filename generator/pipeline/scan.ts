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
import { errnoCode } from '../util/errno.js';
import { headBytesFor, imageSignatureOf, type ImageSignature } from '../util/image-format.js';
import { KERNEL_HEAD_BYTES, kernelFormat, type KernelFormat } from '../util/kernel-format.js';
import { CONFIG_MAX_BYTES, type Node, type ScannedFile, type ScannedImage, type ScannedSetting, type ScannedTree, type ScannedVm } from '../rules/scanned.js';
import { isSettingFile } from '../rules/settings.js';
import { closeChain, openRootChain, resolveEntry, sameDir, type ChainError, type RootChain, type WalkEnd } from '../util/path-walk.js';
import { closeDir, fileKind, listDirFd, openDirAt, openLooked, readUpTo, showRaw, type Dir, type FileKind } from '../util/untrusted.js';

/** The bound on the links one lookup follows, which the scan's callers may test against. */
export { MAX_SYMLINKS } from '../util/path-walk.js';

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

/** What resolveFile reads of a regular file it reaches inside the data dir. */
type Want = 'stat' | 'head' | 'content' | ImageProbe;

/**
 * Nodes that carry nothing but their kind are shared, not made per entry: a
 * large data dir has several per VM. Frozen, since every VM points at them.
 */
const MISSING: Node = Object.freeze({ kind: 'missing' });
const LISTED = new Map<FileKind, Node>((['file', 'directory', 'symlink', 'fifo', 'socket', 'char-device', 'block-device', 'other'] as const)
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
 * The data dir is walked by file descriptor, never by path (util/untrusted.ts,
 * util/path-walk.ts): a directory swapped for a link while the scan runs is
 * found as a link, not followed, and what was checked is what is read.
 */
function rootChain(root: string): RootChain {
  const chain = openRootChain(root);
  if ('dirs' in chain) return chain;
  throw new ScanError(root, chain.code, chainProblem(root, chain));
}

function chainProblem(root: string, e: ChainError): string {
  if (e.stage === 'open') return e.code === 'ENOTDIR' ? `data directory ${root} is not a directory` : `cannot read data directory ${root}: ${e.code}`;
  if (e.stage === 'proc') return `cannot read data directory ${root}: /proc/self/fd is needed to walk it safely (${e.code}); mount /proc first`;
  return `cannot read data directory ${root}: its path changed while it was opened${e.code === 'ESTALE' ? '' : ` (${e.code})`}`;
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
  const chain = rootChain(root);
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
        const walkChain = rootChain(root);
        try {
          if (!sameDir(walkChain.dirs[walkChain.depth]!, identity)) throw new ScanError(root, 'ESTALE', `data directory ${root} was replaced during the scan`);
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

/** Lists the directory open as `fd` (shown as `dir`) by its raw bytes: every entry is seen exactly or reported. */
function listDir(fd: number, dir: string): Listing {
  const raw = listDirFd(fd);
  if (typeof raw === 'string') return { entries: new Map(), undecodable: [], count: 0, error: raw };
  const entries = new Map<string, fs.Dirent<Buffer>>();
  const undecodable: string[] = [];
  for (const d of raw) {
    const name = decodeUtf8(d.name);
    if (name === null) undecodable.push(path.join(dir, showRaw(d.name)));
    else if (!name.startsWith('.')) entries.set(name, d);
  }
  return { entries, undecodable, count: raw.length, error: null };
}

/** What a listed entry is, without a syscall. */
function entryNode(listing: Listing, name: string): Node {
  const d = listing.entries.get(name);
  return d === undefined ? MISSING : LISTED.get(fileKind(d))!;
}

/**
 * `read` on the subdirectory `name` of `parent`, opened and listed, when its
 * parent's listing says (`node`) it is a real directory; it is closed after.
 * `node` then, or what it is instead; what `read` gave, else `none`.
 */
function inSubdir<T>(parent: Dir, name: string, shown: string, node: Node, none: T, read: (dir: Dir, listing: Listing) => T): { readonly node: Node; readonly found: T } {
  if (node.kind !== 'directory') return { node, found: none };
  const opened = openDirAt(parent.fd, name);
  if (typeof opened === 'string') return { node: { kind: 'unstatable', code: opened }, found: none };
  try {
    const listing = listDir(opened.fd, shown);
    if (listing.error !== null) return { node: { kind: 'unstatable', code: listing.error }, found: none };
    return { node, found: read(opened, listing) };
  } finally {
    closeDir(opened);
  }
}

function scanVm(root: string, chain: RootChain, name: string, probe: ImageProbe | null): ScannedVm {
  const dir = child(root, name);
  const vmDir = openDirAt(chain.dirs[chain.depth]!.fd, name);
  // Listed as a directory, but not one now (swapped for a link mid-scan): nothing below it is read.
  if (typeof vmDir === 'string') return unreadableVm(name, dir, vmDir === 'ENOENT' ? MISSING : { kind: 'unstatable', code: vmDir });
  try {
    const base = [...chain.dirs, vmDir];
    const top = listDir(vmDir.fd, dir);
    // An unreadable VM dir: lstat says what it can, with the errno, for each path.
    const entry = (rel: string): Node => (top.error === null ? entryNode(top, rel) : describeLstat(atDir(vmDir.fd, rel)));
    const fileEntry = (rel: string, want: Want): Resolved =>
      (top.error === null && !top.entries.has(rel) ? nodeOnly(MISSING) : resolveFile(chain, base, rel, want));

    // A VM dir entry that is not UTF-8 cannot be vmlinux, initramfs, blk or providers: ignored.
    const undecodable: string[] = [];
    const blkPath = child(dir, 'blk');
    const blk = inSubdir(vmDir, 'blk', blkPath, entry('blk'), NONE, (blkDir, listing): readonly ScannedImage[] => {
      const images: ScannedImage[] = [];
      const blkBase = [...base, blkDir];
      for (const imgName of listing.entries.keys()) {
        if (!imgName.endsWith('.img')) continue;
        const r = resolveFile(chain, blkBase, imgName, probe ?? 'stat');
        images.push({ name: imgName, path: child(blkPath, imgName), node: r.node, signature: r.image });
      }
      // Only names that would be images matter; other files in blk/ are ignored.
      for (const p of listing.undecodable) if (p.endsWith('.img')) undecodable.push(p);
      return images.length > 0 ? images : NONE;
    });

    const netPath = child(dir, 'providers/net');
    const providers = inSubdir(vmDir, 'providers', child(dir, 'providers'), entry('providers'), { node: MISSING, found: NONE }, (providersDir, listing) =>
      inSubdir(providersDir, 'net', netPath, entryNode(listing, 'net'), NONE, (_netDir, net): readonly ScannedFile[] => {
        for (const p of net.undecodable) undecodable.push(p);
        return net.entries.size === 0 ? NONE : [...net.entries.keys()].map((provider) => ({ name: provider, path: child(netPath, provider), node: entryNode(net, provider) }));
      }));

    const configPath = child(dir, 'config');
    const config = inSubdir(vmDir, 'config', configPath, entry('config'), NONE, (configDir, listing): readonly ScannedSetting[] => {
      const settings: ScannedSetting[] = [];
      const configBase = [...base, configDir];
      for (const settingName of listing.entries.keys()) {
        const settingPath = child(configPath, settingName);
        // Only known settings are opened; anything else is reported from its listing alone.
        if (!isSettingFile(settingName)) {
          settings.push({ name: settingName, path: settingPath, node: entryNode(listing, settingName), content: null });
          continue;
        }
        const r = resolveFile(chain, configBase, settingName, 'content');
        settings.push({ name: settingName, path: settingPath, node: r.node, content: r.content });
      }
      // No setting has such a name: reported as unknown files, never opened.
      for (const p of listing.undecodable) settings.push({ name: path.basename(p), path: p, node: LISTED.get('other')!, content: null });
      return settings.length > 0 ? settings : NONE;
    });

    const vmlinux = fileEntry('vmlinux', 'head');
    return {
      name,
      dir,
      vmlinux: vmlinux.node,
      vmlinuxFormat: vmlinux.format,
      initramfs: fileEntry('initramfs', 'stat').node,
      blk: blk.node,
      images: blk.found,
      providersDir: providers.node,
      providersNetDir: providers.found.node,
      providers: providers.found.found,
      configDir: config.node,
      config: config.found,
      undecodable: undecodable.length > 0 ? undecodable : NONE,
    };
  } finally {
    closeDir(vmDir);
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
function describeLstat(p: string): Node {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(p);
  } catch (e) {
    const code = errnoCode(e);
    return code === 'ENOENT' ? MISSING : { kind: 'unstatable', code };
  }
  if (st.isSymbolicLink()) return { kind: 'symlink', viaSymlink: true, size: st.size, readable: false, resolved: null };
  return { kind: fileKind(st), viaSymlink: false, size: st.size, readable: true, resolved: null };
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

/** The entry `name` of the directory at the top of `base`, links resolved as the kernel does, and what `want` reads of it. */
function resolveFile(chain: RootChain, base: readonly Dir[], name: string, want: Want): Resolved {
  return resolveEntry(chain, base, name, want === 'stat', (end) => readEnd(end, want));
}

function readEnd(end: WalkEnd, want: Want): Resolved {
  if (end.kind === 'directory') return nodeOnly({ kind: 'directory', viaSymlink: end.viaSymlink, size: 0, readable: false, resolved: null });
  if (end.kind !== 'reached') return nodeOnly(end);
  const { st, viaSymlink, resolved } = end;
  // A FIFO or a device is never opened: opening one can block, or reach a driver.
  const kind = fileKind(st);
  if (kind !== 'file') return nodeOnly({ kind, viaSymlink, size: st.size, readable: false, resolved });
  if (end.fd < 0) return nodeOnly({ kind, viaSymlink, size: st.size, readable: canRead(end.at), resolved });
  // Too large by its fstat: refused unread.
  if (want === 'content' && st.size > CONFIG_MAX_BYTES) return nodeOnly({ kind, viaSymlink, size: st.size, readable: true, resolved });
  const fd = openLooked(end.fd);
  if (typeof fd === 'string') return nodeOnly({ kind, viaSymlink, size: st.size, readable: false, resolved });
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

/**
 * Step 1 of the pipeline, and its only reader of the data directory: collects
 * the facts `check` needs, without judging them. Nothing found here is ever
 * executed or followed outside the data directory; only the first bytes of
 * each vmlinux are read (to tell an ELF image from a compressed kernel).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import fg from 'fast-glob';

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
  /** The first bytes of vmlinux, when it is a readable regular file. */
  readonly vmlinuxHead: Uint8Array | null;
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
  readonly vms: readonly ScannedVm[];
  /** Top-level entries that cannot be VMs: non-directories and symbolic links. */
  readonly others: readonly ScannedFile[];
  readonly undecodable: readonly string[];
  /** Entries at the top of the data dir, hidden ones included. */
  readonly entryCount: number;
}

/** Enough for an ELF header and a bzImage setup header (magic at 0x202). */
const HEAD_BYTES = 1024;
const utf8 = new TextDecoder('utf-8', { fatal: true });

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

  const vmNames: string[] = [];
  const others: ScannedFile[] = [];
  const undecodable: string[] = [];
  const entries = fs.readdirSync(root, { withFileTypes: true, encoding: 'buffer' });
  if (entries.length > maxEntries) return { root, vms: [], others: [], undecodable: [], entryCount: entries.length };
  for (const entry of entries) {
    const raw = entry.name as unknown as Buffer;
    const name = decode(raw);
    if (name === null) {
      undecodable.push(path.join(root, escapeRaw(raw)));
      continue;
    }
    if (name.startsWith('.')) continue;
    const entryPath = path.join(root, name);
    if (entry.isDirectory()) vmNames.push(name);
    else others.push({ name, path: entryPath, node: describeLstat(entryPath) });
  }

  const byVm = globVmContents(root);
  const vms = vmNames.map((name) => scanVm(root, realRoot, name, byVm.get(name) ?? null));
  return { root, vms, others, undecodable, entryCount: entries.length };
}

/**
 * One glob over the whole tree rather than one per VM: at boot the data dir can
 * hold thousands of VMs. Symbolic links are not followed, so a linked blk/ or
 * providers/net/ is seen as a link (and refused by check), never descended into.
 * The entries' types come with the listing, which saves a stat for most paths.
 */
function globVmContents(root: string): Map<string, Map<string, fs.Dirent>> {
  const entries = fg.sync(['*/vmlinux', '*/initramfs', '*/blk', '*/blk/*.img', '*/providers', '*/providers/net', '*/providers/net/*'], {
    cwd: root,
    dot: false,
    onlyFiles: false,
    followSymbolicLinks: false,
    suppressErrors: true,
    unique: true,
    objectMode: true,
  });
  const byVm = new Map<string, Map<string, fs.Dirent>>();
  for (const { path: rel, dirent } of entries) {
    const slash = rel.indexOf('/');
    const vm = rel.slice(0, slash);
    let found = byVm.get(vm);
    if (found === undefined) byVm.set(vm, (found = new Map()));
    found.set(rel.slice(slash + 1), dirent as fs.Dirent);
  }
  return byVm;
}

/** How a path inside a VM dir is examined: from the glob's listing, or (for a dir the glob could not read) by lstat. */
interface Examiner {
  /** Not followed: directories and providers/net entries. */
  entry(rel: string): Node;
  /** Followed inside the data dir: vmlinux, initramfs, images. */
  file(rel: string): Node;
}

function listedExaminer(dir: string, realRoot: string, found: ReadonlyMap<string, fs.Dirent>): Examiner {
  const entry = (rel: string): Node => {
    const d = found.get(rel);
    if (d === undefined) return { kind: 'missing' };
    return { kind: d.isSymbolicLink() ? 'symlink' : kindOf(d), viaSymlink: d.isSymbolicLink(), size: 0, readable: true };
  };
  return {
    entry,
    file: (rel) => {
      const listed = entry(rel);
      if (listed.kind === 'symlink') return resolveInside(path.join(dir, rel), realRoot);
      if (listed.kind !== 'file') return listed;
      // The size still needs a stat (empty images are refused).
      return resolveInside(path.join(dir, rel), realRoot);
    },
  };
}

function lstatExaminer(dir: string, realRoot: string): Examiner {
  return {
    entry: (rel) => describeLstat(path.join(dir, rel)),
    file: (rel) => resolveInside(path.join(dir, rel), realRoot),
  };
}

function scanVm(root: string, realRoot: string, name: string, found: ReadonlyMap<string, fs.Dirent> | null): ScannedVm {
  const dir = path.join(root, name);
  // Nothing listed: an empty or unreadable VM dir; lstat says which, with its errno.
  const examine = found === null ? lstatExaminer(dir, realRoot) : listedExaminer(dir, realRoot, found);
  const vmlinuxPath = path.join(dir, 'vmlinux');
  const vmlinux = examine.file('vmlinux');
  const images: ScannedFile[] = [];
  const providers: ScannedFile[] = [];
  const undecodable: string[] = [];
  for (const rel of found?.keys() ?? []) {
    const full = path.join(dir, rel);
    if (rel.startsWith('blk/') && rel.endsWith('.img')) {
      images.push({ name: rel.slice(4), path: full, node: examine.file(rel) });
    } else if (rel.startsWith('providers/net/')) {
      providers.push({ name: rel.slice(14), path: full, node: examine.entry(rel) });
    }
  }
  // fast-glob decodes names lossily; a U+FFFD means the raw name may not be
  // UTF-8, which vmsvc cannot reproduce exactly in argv, so it is reported.
  for (const sub of ['blk', 'providers/net']) {
    const list = sub === 'blk' ? images : providers;
    if (list.some((f) => f.name.includes('\uFFFD'))) {
      const bad = undecodableNames(path.join(dir, sub));
      undecodable.push(...bad);
      if (bad.length > 0) removeWhere(list, (f) => f.name.includes('\uFFFD'));
    }
  }
  return {
    name,
    dir,
    vmlinux,
    vmlinuxHead: readHead(vmlinuxPath, vmlinux),
    initramfs: examine.file('initramfs'),
    blk: examine.entry('blk'),
    images,
    providersDir: examine.entry('providers'),
    providersNetDir: examine.entry('providers/net'),
    providers,
    undecodable,
  };
}

function removeWhere<T>(list: T[], drop: (item: T) => boolean): void {
  const kept = list.filter((item) => !drop(item));
  list.splice(0, list.length, ...kept);
}

function undecodableNames(dir: string): string[] {
  return fs
    .readdirSync(dir, { encoding: 'buffer' })
    .filter((raw) => decode(raw) === null)
    .map((raw) => path.join(dir, escapeRaw(raw)));
}

/** The node at `p` without following a final symbolic link. */
function describeLstat(p: string): Node {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(p);
  } catch (e) {
    return errnoCode(e) === 'ENOENT' ? { kind: 'missing' } : { kind: 'unstatable', code: errnoCode(e) };
  }
  if (st.isSymbolicLink()) return { kind: 'symlink', viaSymlink: true, size: st.size, readable: false };
  return { kind: kindOf(st), viaSymlink: false, size: st.size, readable: true };
}

/**
 * Follows symbolic links, but only to targets inside the data dir: the user
 * partition must not be able to hand a VM the host's own files as a disk.
 */
function resolveInside(p: string, realRoot: string): Node {
  let lst: fs.Stats;
  try {
    lst = fs.lstatSync(p);
  } catch (e) {
    return errnoCode(e) === 'ENOENT' ? { kind: 'missing' } : { kind: 'unstatable', code: errnoCode(e) };
  }
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

function readHead(p: string, node: Node): Uint8Array | null {
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
    const buf = Buffer.alloc(HEAD_BYTES);
    const n = fs.readSync(fd, buf, 0, HEAD_BYTES, 0);
    return buf.subarray(0, n);
  } finally {
    fs.closeSync(fd);
  }
}

/** root reads every file whatever its mode, so only other users ask the kernel. */
const IS_ROOT = process.getuid?.() === 0;

function canRead(p: string): boolean {
  if (IS_ROOT) return true;
  try {
    fs.accessSync(p, fs.constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

function kindOf(st: fs.Stats | fs.Dirent): NodeKind {
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

function errnoCode(e: unknown): string {
  return e instanceof Error && 'code' in e && typeof e.code === 'string' ? e.code : 'EIO';
}

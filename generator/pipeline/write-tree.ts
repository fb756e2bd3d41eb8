/**
 * Step 5, the only writer. The out path is a symbolic link to a complete,
 * never-modified version directory beside it, named by its content hash:
 *
 *   out -> .out.vmsvc-3f2a9c...        (the tree readers see)
 *
 * A new tree is written in full under a temporary name, renamed to its version
 * name, and then the link is replaced with rename(2), which is atomic. So a
 * kill at any moment leaves `out` pointing at the complete old tree or the
 * complete new one; whatever a killed run left beside it is removed next time.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isAlive, privateLockOwner, takeLock } from '../util/pid-lock.js';
import { compareBytes } from '../util/bytes.js';
import type { FileTree, StreamedEntry, TreeEntry } from './render.js';
import { TEMP_SUFFIX_PATTERN, tempSuffix } from '../util/temp-name.js';

export type WriteOutcome =
  | { readonly kind: 'unchanged'; readonly version: string }
  | { readonly kind: 'written'; readonly version: string; readonly files: number };

export class WriteError extends Error {
  constructor(readonly path: string, message: string) {
    super(message);
  }
}

/** Hex digits of a hash in a version or database name. */
export const HASH_CHARS = 16;

interface Layout {
  readonly out: string;
  readonly parent: string;
  /** Every file vmsvc keeps beside `out` starts with this. */
  readonly prefix: string;
}

function layoutOf(outDir: string): Layout {
  const out = path.resolve(outDir);
  return { out, parent: path.dirname(out), prefix: `.${path.basename(out)}.vmsvc-` };
}

/**
 * Hidden at the top of each version dir (s6-rc skips dot entries): the key of
 * the input the tree was made from. A run whose input has the same key as the
 * current tree's is "unchanged" and writes nothing, without rendering.
 */
export const KEY_FILE = '.vmsvc-key';

type Entries = Iterable<readonly [string, TreeEntry]>;

function entryDigest(entry: TreeEntry): Buffer {
  const h = createHash('sha256');
  if (entry.kind === 'dir') h.update('d\0');
  else h.update(`f${entry.mode.toString(8)}\0${Buffer.byteLength(entry.content)}\0`).update(entry.content);
  return h.digest();
}

/** The content hash of a tree held in memory, independent of the order of its entries. */
export function treeHash(tree: Entries): string {
  const digests = [...tree].map(([rel, entry]) => [rel, entryDigest(entry)] as const);
  digests.sort(([a], [b]) => compareBytes(a, b));
  const h = createHash('sha256');
  for (const [rel, digest] of digests) h.update(rel).update('\0').update(digest);
  return h.digest('hex').slice(0, HASH_CHARS);
}

/** Writes a tree held in memory; its key (and so its version name) is its content hash. */
export function writeTreeAtomically(outDir: string, tree: FileTree): WriteOutcome {
  return writeStreamAtomically(outDir, tree, treeHash(tree));
}

/**
 * Writes entries as they come (a large tree is never held in memory), under
 * the lock. `key` identifies the input: equal keys mean equal trees.
 */
export function writeStreamAtomically(outDir: string, entries: StreamedEntries, key: string): WriteOutcome {
  const layout = layoutOf(outDir);
  fs.mkdirSync(layout.parent, { recursive: true });
  const release = lock(layout);
  try {
    return replaceTree(layout, entries, key);
  } finally {
    release();
  }
}

/** One writer per out path: a second run fails at once with the first one's pid rather than interleave. */
function lock(layout: Layout): () => void {
  const lockPath = path.join(layout.parent, `${layout.prefix}lock`);
  const taken = takeLock(lockPath);
  if (taken.ok) return taken.release;
  if ('refused' in taken) {
    throw new WriteError(lockPath, taken.at === 'dir'
      ? `cannot take the lock ${lockPath}: ${taken.refused}`
      : `${taken.refused}: not a lock vmsvc wrote; remove it if no vmsvc is writing ${layout.out}`);
  }
  const who = taken.holder === null ? 'another vmsvc' : `another vmsvc (pid ${taken.holder})`;
  throw new WriteError(lockPath, `${who} is writing ${layout.out}; run again when it has finished`);
}

/**
 * The version dir is named by the key, so an unchanged input is recognised
 * before anything is rendered, and nothing about the entries needs to be
 * kept while they stream to disk.
 */
function replaceTree(layout: Layout, entries: StreamedEntries, key: string): WriteOutcome {
  const current = currentVersion(layout);
  const version = `${layout.prefix}${key.slice(0, HASH_CHARS)}`;
  const versionPath = path.join(layout.parent, version);
  if (current === version && readKey(versionPath) === key) {
    removeLeftovers(layout, version);
    return { kind: 'unchanged', version };
  }
  const tmp = path.join(layout.parent, `${layout.prefix}tmp-${tempSuffix()}`);
  let files: number;
  try {
    files = writeEntries(tmp, entries);
    fs.writeFileSync(path.join(tmp, KEY_FILE), `${key}\n`, { mode: 0o644 });
  } catch (e) {
    // A template that fails halfway (entries are rendered as they are
    // written) or a full disk: the failed run removes its own half tree.
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  // A dir of that name is a tree some killed run renamed but never linked.
  if (fs.existsSync(versionPath)) fs.rmSync(versionPath, { recursive: true, force: true });
  fs.renameSync(tmp, versionPath);
  if (current === null && isEmptyDir(layout.out)) fs.rmdirSync(layout.out);
  const link = path.join(layout.parent, `${layout.prefix}link-${tempSuffix()}`);
  fs.symlinkSync(version, link);
  fs.renameSync(link, layout.out);
  removeLeftovers(layout, version);
  return { kind: 'written', version, files };
}

function readKey(versionPath: string): string | null {
  try {
    return fs.readFileSync(path.join(versionPath, KEY_FILE), 'utf8').trimEnd();
  } catch {
    return null;
  }
}

/** The version `out` links to, or null when it does not exist yet. Refuses anything vmsvc did not make. */
function currentVersion(layout: Layout): string | null {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(layout.out);
  } catch {
    return null;
  }
  if (st.isSymbolicLink()) {
    const target = fs.readlinkSync(layout.out);
    if (target.startsWith(layout.prefix) && !target.includes('/')) return target;
    throw new WriteError(layout.out, `${layout.out} is a symbolic link to ${target}, which vmsvc did not make; refusing to replace it`);
  }
  if (isEmptyDir(layout.out)) return null;
  throw new WriteError(layout.out,
    `${layout.out} exists and is not a tree written by vmsvc (vmsvc's out path is a symbolic link to a version directory); remove it or choose another --out`);
}

function isEmptyDir(p: string): boolean {
  try {
    return fs.lstatSync(p).isDirectory() && fs.readdirSync(p).length === 0;
  } catch {
    return false;
  }
}

/**
 * Writes entries into a new directory `root` (which must not exist), with
 * exact modes; parents must come before their children. Returns the number
 * of files written.
 */
export function writeEntries(root: string, entries: StreamedEntries): number {
  // With the umask cleared, each file is created with its exact mode in one
  // call; a chmod per file doubled the syscalls of a large tree.
  const umask = process.umask(0);
  let files = 0;
  try {
    fs.mkdirSync(root, { mode: 0o755 });
    for (const [rel, entry] of entries) {
      // Entries are relative paths the renderer built (no '.', '..' or '//'):
      // path.join would only normalise, and cold it was a tenth of a 10-VM run.
      const p = `${root}/${rel}`;
      if (entry.kind === 'dir') {
        fs.mkdirSync(p, { mode: 0o755 });
      } else {
        writePieces(p, entry.kind === 'pieces' ? entry.pieces : [entry.content], entry.mode);
        files++;
      }
    }
  } finally {
    process.umask(umask);
  }
  return files;
}

type StreamedEntries = Iterable<readonly [string, StreamedEntry]>;

/** Pieces of a file are gathered up to this many characters per write(2). */
const WRITE_CHUNK = 64 * 1024;

/** A new file from its pieces, a few of them per write: the whole text never exists at once. */
function writePieces(p: string, pieces: Iterable<string>, mode: number): void {
  const fd = fs.openSync(p, 'wx', mode);
  try {
    let pending = '';
    for (const piece of pieces) {
      pending += piece;
      if (pending.length >= WRITE_CHUNK) {
        writeAll(fd, pending);
        pending = '';
      }
    }
    if (pending.length > 0) writeAll(fd, pending);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * A string is written as it is (node encodes it without a Buffer of ours:
 * a tree of 15000 files made as many Buffers, and garbage); only after a
 * short write(2) are the remaining bytes written from a Buffer.
 */
function writeAll(fd: number, text: string): void {
  const size = Buffer.byteLength(text, 'utf8');
  let off = fs.writeSync(fd, text, null, 'utf8');
  if (off === size) return;
  const bytes = Buffer.from(text, 'utf8');
  while (off < size) off += fs.writeSync(fd, bytes, off, size - off);
}

/** True when the directory holds exactly `tree`: same entries, kinds, modes and bytes. */
export function sameTree(root: string, tree: FileTree): boolean {
  const onDisk = new Map<string, string>();
  try {
    for (const rel of listTree(root, '')) if (rel !== KEY_FILE) onDisk.set(rel, rel);
  } catch {
    return false;
  }
  if (onDisk.size !== tree.size) return false;
  for (const [rel, entry] of tree) {
    if (!onDisk.has(rel) || !sameEntry(path.join(root, rel), entry)) return false;
  }
  return true;
}

function sameEntry(p: string, entry: TreeEntry): boolean {
  const st = fs.lstatSync(p);
  if (entry.kind === 'dir') return st.isDirectory() && (st.mode & 0o7777) === 0o755;
  if (!st.isFile() || (st.mode & 0o7777) !== entry.mode) return false;
  if (st.size !== Buffer.byteLength(entry.content)) return false;
  return fs.readFileSync(p, 'utf8') === entry.content;
}

function listTree(root: string, rel: string): string[] {
  const out: string[] = [];
  for (const d of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
    const child = rel === '' ? d.name : `${rel}/${d.name}`;
    out.push(child);
    if (d.isDirectory()) for (const below of listTree(root, child)) out.push(below);
  }
  return out;
}

/** Old versions and whatever killed runs left (temporary trees and links). */
function removeLeftovers(layout: Layout, keep: string): void {
  // Only names vmsvc makes: old versions, and temporary trees and links of any
  // run (none other runs while we hold the lock).
  const ours = new RegExp(`^(?:[0-9a-f]{${HASH_CHARS}}|(?:tmp|link)-${TEMP_SUFFIX_PATTERN})$`);
  for (const name of fs.readdirSync(layout.parent)) {
    if (!name.startsWith(layout.prefix) || name === keep) continue;
    // A private lock file is another run's (keep it) unless its owner is dead.
    const owner = privateLockOwner(name, `${layout.prefix}lock`);
    if (owner !== null ? isAlive(owner) : !ours.test(name.slice(layout.prefix.length))) continue;
    fs.rmSync(path.join(layout.parent, name), { recursive: true, force: true });
  }
}

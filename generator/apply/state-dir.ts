/**
 * The state directory of `vmsvc apply` (layout: db-rotation.ts): where each
 * entry is, the links read and switched with rename(2), the databases'
 * source copies read back, the removal of what is no longer kept or was left
 * by a killed run, and the one-writer lock.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { compareBytes, printable } from '../util/bytes.js';
import { isDir, lexists } from '../util/fs-probe.js';
import { COMPILED_DIR, hashOfTarget, isHash, leftoverEntries, linkTarget, obsoleteEntries, SOURCE_SUFFIX, TEMP_PREFIX, type DbLinks } from './db-rotation.js';
import type { FileTree, TreeEntry } from '../pipeline/render.js';
import { takeLock } from '../util/pid-lock.js';
import { errnoOf } from '../util/errno.js';
import { tempSuffix } from '../util/temp-name.js';
import { EXIT, failure, type Failure } from '../command/shell.js';
import { fail, ok, type Result } from '../util/result.js';
import { untrustedPath } from '../util/trusted-path.js';

const p = printable;
/** Absolute paths of everything apply reads and writes. */
export interface StateLayout {
  readonly state: string;
  /** -> compiled/HASH.source of the database the live system runs: what the admin commands read. */
  readonly source: string;
  /** The last tree s6-rc-compile refused, kept to look at. */
  readonly rejected: string;
  readonly compiled: string;
  readonly current: string;
  readonly previous: string;
  readonly conversion: string;
  readonly lock: string;
  readonly live: string;
  readonly scandir: string;
}

export function stateLayout(opts: { readonly state: string; readonly live?: string; readonly scandir: string }): StateLayout {
  const state = path.resolve(opts.state);
  return {
    state,
    source: path.join(state, 'source'),
    rejected: path.join(state, 'rejected'),
    compiled: path.join(state, COMPILED_DIR),
    current: path.join(state, 'current'),
    previous: path.join(state, 'previous'),
    conversion: path.join(state, 'conversion'),
    lock: path.join(state, '.vmsvc-apply.lock'),
    live: path.resolve(opts.live ?? path.join(state, 'live')),
    scandir: path.resolve(opts.scandir),
  };
}
export function dbPath(L: StateLayout, hash: string): string {
  return path.join(L.compiled, hash);
}

export function removeDb(L: StateLayout, hash: string): void {
  const db = dbPath(L, hash);
  fs.rmSync(db, { recursive: true, force: true });
  fs.rmSync(`${db}${SOURCE_SUFFIX}`, { recursive: true, force: true });
}

/** The hash `current` / `previous` names; null when absent. Refuses links vmsvc did not make. */
function readDbLink(link: string): Result<string | null, Failure> {
  let target: string;
  try {
    target = fs.readlinkSync(link);
  } catch (e) {
    if (errnoOf(e) === 'ENOENT') return ok(null);
    return fail(failure(`${p(link)} is not a symbolic link vmsvc made; move it away`, EXIT.failed));
  }
  const hash = hashOfTarget(target);
  if (hash === null) return fail(failure(`${p(link)} points at ${p(target)}, not at a database in ${COMPILED_DIR}/; move it away`, EXIT.failed));
  return ok(hash);
}

/** What a run starts from: the `current` and `previous` links, and the database the live system runs (liveDb). */
export function readState(L: StateLayout): Result<{ readonly links: DbLinks; readonly from: string | null }, Failure> {
  const current = readDbLink(L.current);
  if (!current.ok) return current;
  const previous = readDbLink(L.previous);
  if (!previous.ok) return previous;
  const from = liveDb(L);
  if (!from.ok) return from;
  return ok({ links: { current: current.value, previous: previous.value }, from: from.value });
}

/**
 * The database the live system runs, from s6-rc's LIVE/compiled link (to
 * STATE/current after s6-rc-init, to the database itself after
 * s6-rc-update); null when there is no live directory.
 */
export function liveDb(L: StateLayout): Result<string | null, Failure> {
  if (!lexists(L.live)) return ok(null);
  let real: string;
  try {
    real = fs.realpathSync(path.join(L.live, 'compiled'));
  } catch (e) {
    return fail(failure(`cannot tell which database ${p(L.live)} runs: ${p(e instanceof Error ? e.message : String(e))}`, EXIT.system));
  }
  let compiledDir: string | null = null;
  try {
    compiledDir = fs.realpathSync(L.compiled);
  } catch {
    // No compiled/ at all: the live system cannot run one of ours.
  }
  const hash = path.basename(real);
  if (compiledDir === null || path.dirname(real) !== compiledDir || !isHash(hash)) {
    return fail(failure(`${p(L.live)} runs ${p(real)}, which is not a database vmsvc compiled in ${p(L.compiled)}; use another --state or live directory`, EXIT.failed));
  }
  return ok(hash);
}

/** The database the live system runs; null also when that cannot be told. */
export function runsSafely(L: StateLayout): string | null {
  const live = liveDb(L);
  return live.ok ? live.value : null;
}

/** The source tree database `hash` was compiled from, as a FileTree. */
export function readSourceCopy(L: StateLayout, hash: string): Result<FileTree, Failure> {
  const copy = `${dbPath(L, hash)}${SOURCE_SUFFIX}`;
  if (!isDir(copy)) {
    return fail(failure(`${p(copy)} is missing: it is the source of the database ${p(L.live)} runs, and without it vmsvc cannot tell which services changed`, EXIT.failed));
  }
  return ok(readFileTree(copy));
}

/** A directory written by writeEntries, read back; entries bytewise-sorted like render's. */
function readFileTree(root: string): FileTree {
  const entries: Array<[string, TreeEntry]> = [];
  const walk = (rel: string): void => {
    for (const d of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
      const child = rel === '' ? d.name : `${rel}/${d.name}`;
      const full = path.join(root, child);
      if (d.isDirectory()) {
        entries.push([child, { kind: 'dir' }]);
        walk(child);
      } else {
        const mode = (fs.statSync(full).mode & 0o111) !== 0 ? 0o755 : 0o644;
        entries.push([child, { kind: 'file', content: fs.readFileSync(full, 'utf8'), mode }]);
      }
    }
  };
  walk('');
  entries.sort(([a], [b]) => compareBytes(a, b));
  return new Map(entries);
}

/**
 * Points `previous`, `source` (at current's source copy) and then `current`
 * (the commit point) at their databases, each with symlink + rename.
 */
export function setLinks(L: StateLayout, links: DbLinks): void {
  setLink(L, L.previous, links.previous === null ? null : linkTarget(links.previous));
  setLink(L, L.source, links.current === null ? null : sourceTarget(links.current));
  setLink(L, L.current, links.current === null ? null : linkTarget(links.current));
}

function sourceTarget(hash: string): string {
  return `${linkTarget(hash)}${SOURCE_SUFFIX}`;
}

/** Whether STATE/source is the source copy of database `hash`. */
export function sourceLinkIs(L: StateLayout, hash: string): boolean {
  try {
    return fs.readlinkSync(L.source) === sourceTarget(hash);
  } catch {
    return false;
  }
}

function setLink(L: StateLayout, link: string, target: string | null): void {
  if (target === null) {
    fs.rmSync(link, { force: true });
    return;
  }
  const tmp = tempPath(L, path.basename(link));
  fs.symlinkSync(target, tmp);
  fs.renameSync(tmp, link);
}

export function writeAtomically(L: StateLayout, file: string, content: string): void {
  const tmp = tempPath(L, path.basename(file));
  try {
    fs.writeFileSync(tmp, content, { mode: 0o644 });
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

function tempPath(L: StateLayout, what: string): string {
  return path.join(L.state, `${TEMP_PREFIX}${what}-${tempSuffix()}`);
}

const OLD_SOURCE_PREFIX = '.source.vmsvc-';

/** Deletes databases not kept, and whatever killed runs left in compiled/ and the state directory. */
export function prune(L: StateLayout, keep: ReadonlySet<string>): void {
  for (const name of obsoleteEntries(fs.readdirSync(L.compiled), keep)) fs.rmSync(path.join(L.compiled, name), { recursive: true, force: true });
  for (const name of fs.readdirSync(L.state)) {
    // `.source.vmsvc-*`: version dirs of STATE/source from before it was a link into compiled/.
    if (name.startsWith(TEMP_PREFIX) || name.startsWith(OLD_SOURCE_PREFIX)) fs.rmSync(path.join(L.state, name), { recursive: true, force: true });
  }
}

/**
 * Removes (or with `dryRun` only lists) what a failed or killed run left in
 * compiled/ and the state directory (leftoverEntries, and the state dir's
 * temporary entries), before this run writes anything: on a small /run
 * they would keep every later compile out of space. Paths relative to STATE.
 */
export function sweepLeftovers(L: StateLayout, keep: ReadonlySet<string>, dryRun: boolean): string[] {
  const found = [
    ...leftoverEntries(readdirOrEmpty(L.compiled), keep).map((n) => path.join(COMPILED_DIR, n)),
    ...readdirOrEmpty(L.state).filter((n) => n.startsWith(TEMP_PREFIX)).sort(),
  ];
  if (!dryRun) for (const rel of found) fs.rmSync(path.join(L.state, rel), { recursive: true, force: true });
  return found;
}

function readdirOrEmpty(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch (e) {
    if (errnoOf(e) === 'ENOENT') return [];
    throw e;
  }
}

/**
 * What apply writes in the state dir (the record start and stop trust, the
 * journal, the databases) must be root's alone, whatever umask it was
 * started with: refuses a state dir another user could change, and sets
 * the umask for what apply makes.
 */
export function refuseUntrustedState(state: string): Result<void, Failure> {
  process.umask(0o022);
  const unsafe = untrustedPath(state);
  if (unsafe !== null) return fail(failure(`the state dir ${p(state)} is not root's alone (${p(unsafe)}); apply writes what start and stop run as root there`, EXIT.failed));
  return ok(undefined);
}

/** One apply per state directory; a lock whose owner died is taken over. `fn` runs only with the lock. */
export function withLock<T>(L: StateLayout, fn: () => T): Result<T, Failure> {
  const trusted = refuseUntrustedState(L.state);
  if (!trusted.ok) return trusted;
  let taken: ReturnType<typeof takeLock>;
  try {
    fs.mkdirSync(L.state, { recursive: true });
    taken = takeLock(L.lock);
  } catch (e) {
    // A full or failing state dir: nothing has been done yet, and the message says where.
    if (errnoOf(e) === undefined) throw e;
    return fail(failure(`cannot take the lock ${p(L.lock)}: ${p(e instanceof Error ? e.message : String(e))}; nothing changed`, EXIT.system));
  }
  if (!taken.ok && 'refused' in taken) {
    return fail(failure(taken.at === 'dir'
      ? `cannot take the lock ${p(L.lock)}: ${p(taken.refused)}`
      : `${p(taken.refused)}: not a lock vmsvc wrote; remove it if no vmsvc apply is using ${p(L.state)}`, EXIT.failed));
  }
  if (!taken.ok) {
    const who = taken.holder === null ? 'another vmsvc apply' : `another vmsvc apply (pid ${taken.holder})`;
    return fail(failure(`${who} is using ${p(L.state)}; run again when it has finished`, EXIT.system));
  }
  try {
    return ok(fn());
  } finally {
    taken.release();
  }
}



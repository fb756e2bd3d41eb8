/**
 * Which compiled databases `vmsvc apply` keeps. Pure: names in, names out;
 * state-dir.ts does the renames and removals.
 *
 * Layout of the state directory:
 *
 *   STATE/source -> .source.vmsvc-HASH    the tree last written (write-tree.ts)
 *   STATE/compiled/HASH/                  a database, from s6-rc-compile
 *   STATE/compiled/HASH.source/           the source tree it was compiled from
 *   STATE/current  -> compiled/HASH       what s6-rc-init boots and the live system runs
 *   STATE/previous -> compiled/HASH       what it ran before, for rollback
 *   STATE/conversion                      the last conversion file given to s6-rc-update
 *
 * HASH.source is written (under a temporary name, then renamed) only after
 * s6-rc-compile succeeded, so a database whose .source exists is complete,
 * and one without it is a leftover of a killed run. Only the databases of
 * `current`, `previous` and the live system are kept.
 */

import { HASH_CHARS } from '../pipeline/write-tree.js';

export const COMPILED_DIR = 'compiled';
export const SOURCE_SUFFIX = '.source';
/** Temporary entries of compiled/ start with this; whatever a killed run left is removed later. */
export const TEMP_PREFIX = '.vmsvc-tmp-';

/** treeHash's output. */
const HASH = new RegExp(`^[0-9a-f]{${HASH_CHARS}}$`);

export function isHash(s: string): boolean {
  return HASH.test(s);
}

export interface DbLinks {
  readonly current: string | null;
  readonly previous: string | null;
}

/** The target of `current` / `previous`: relative, so the state directory can be moved. */
export function linkTarget(hash: string): string {
  return `${COMPILED_DIR}/${hash}`;
}

/** The hash a `current` / `previous` target names, or null when it is not one vmsvc wrote. */
export function hashOfTarget(target: string): string | null {
  const prefix = `${COMPILED_DIR}/`;
  if (!target.startsWith(prefix)) return null;
  const hash = target.slice(prefix.length);
  return isHash(hash) ? hash : null;
}

/**
 * The links after the live system switched to `next`. `replaced` is the
 * database it ran until then (null: none, e.g. first start); it becomes
 * `previous`. Switching to what already runs keeps `previous`.
 */
export function afterSwitch(links: DbLinks, next: string, replaced: string | null): DbLinks {
  const before = replaced ?? links.current;
  if (before !== null && before !== next) return { current: next, previous: before };
  return { current: next, previous: links.previous === next ? null : links.previous };
}

/** The databases to keep: those of the links and the one the live system runs. */
export function keptHashes(links: DbLinks, live: string | null): Set<string> {
  return new Set([links.current, links.previous, live].filter((h): h is string => h !== null));
}

/**
 * Entries of compiled/ to delete: every database and source copy whose hash
 * is not kept, and temporary entries. Names vmsvc does not make are left alone.
 */
export function obsoleteEntries(entries: readonly string[], keep: ReadonlySet<string>): string[] {
  return entries.filter((name) => {
    if (name.startsWith(TEMP_PREFIX)) return true;
    const hash = name.endsWith(SOURCE_SUFFIX) ? name.slice(0, -SOURCE_SUFFIX.length) : name;
    return isHash(hash) && !keep.has(hash);
  }).sort();
}

/**
 * Entries of compiled/ a failed or killed run left: temporary entries, and
 * a database without its source copy (s6-rc-compile did not finish, or its
 * copy was never renamed in) or a source copy without its database (a
 * removal cut short). Databases of `keep` are left alone.
 */
export function leftoverEntries(entries: readonly string[], keep: ReadonlySet<string>): string[] {
  const present = new Set(entries);
  return entries.filter((name) => {
    if (name.startsWith(TEMP_PREFIX)) return true;
    const source = name.endsWith(SOURCE_SUFFIX);
    const hash = source ? name.slice(0, -SOURCE_SUFFIX.length) : name;
    return isHash(hash) && !keep.has(hash) && !present.has(source ? hash : `${hash}${SOURCE_SUFFIX}`);
  }).sort();
}

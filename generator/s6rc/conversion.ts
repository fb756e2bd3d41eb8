/**
 * What `s6-rc-update` must be told when the live system moves from one source
 * tree to the next, and what it will do by itself. Pure: two FileTrees in,
 * a plan and the conversion file's text out.
 *
 * Facts about s6-rc-update this relies on (skarnet.org/software/s6-rc/
 * s6-rc-update.html, "Restarts" and "The conversion file"; and
 * src/s6-rc/s6-rc-update.c):
 * - It restarts a service only when it disappeared (then it is just stopped),
 *   changed type, depends on a service that restarts or stops or on a new
 *   service, or the conversion file says `NAME restart`. A changed `run`
 *   script, `up`/`down` file, `data/` file or dependency list alone restarts
 *   nothing: the old process keeps running, and a oneshot that is up stays up
 *   without its new `up` ever running.
 * - Restart and dependency closure concern services that are UP; a restart
 *   line for a service that is down does nothing.
 * - Each conversion file line is lexed by the execline lexer; its first word
 *   must be an ATOMIC service of the OLD (live) database: an unknown name is
 *   exit 3, a bundle exit 5, a name listed twice exit 6.
 * - New services are not started: only old up services carry over.
 *
 * Rules chosen here:
 * - Every atomic service (longrun or oneshot) that exists with the same type
 *   in both trees and whose directory differs in any entry (content, mode,
 *   presence) gets `NAME restart`. For a oneshot, s6-rc-update runs the OLD
 *   `down` (from the old database, while stopping) and then the NEW `up`,
 *   which is what a link oneshot whose address changed needs.
 * - A type change is restarted by s6-rc-update itself: not listed.
 * - No renames (`OLD -> NEW`): vmsvc derives service names from VM names and
 *   link numbers, so a "renamed" service is a different VM or a different
 *   link (other interfaces, other addresses). Removing the old one (stopped,
 *   its old `down` runs) and adding the new one is exactly right.
 * - Bundles and the manifest (a plain file, which s6-rc-compile skips) never
 *   appear: bundles are not in the live state.
 */
import { compareBytes, printable, sortedBytewise } from '../util/bytes.js';
import { quoteExeclineWord } from './execline-lex.js';
import type { FileTree, TreeEntry } from '../util/file-tree.js';
import { nameList, serviceType, type ServiceType } from './format.js';

export interface ServiceDir {
  /** Null when `type` is missing or not one of the three types. */
  readonly type: ServiceType | null;
  /** Entries below the service directory, by relative path. */
  readonly entries: ReadonlyMap<string, TreeEntry>;
}

/** A service the conversion file restarts, with the entries that differ. */
export interface Restart {
  readonly name: string;
  readonly type: 'longrun' | 'oneshot';
  /** Relative paths inside the service directory, bytewise-sorted. */
  readonly changed: readonly string[];
}

/** A service s6-rc-update restarts (when up) without being told. */
export interface Knock {
  readonly name: string;
  readonly reason: string;
}

export interface ConversionPlan {
  /** Atomic services only in the new tree: compiled in, left down by s6-rc-update. */
  readonly added: readonly string[];
  /** Atomic services only in the old tree: s6-rc-update stops them. */
  readonly removed: readonly string[];
  /** The conversion file's `NAME restart` lines. */
  readonly restarted: readonly Restart[];
  /** Type changed (e.g. oneshot -> longrun): s6-rc-update restarts these itself. */
  readonly retyped: readonly string[];
  /** Unchanged services s6-rc-update also restarts, when up, because of a dependency. */
  readonly knockOn: readonly Knock[];
}

/** What s6-rc-update restarts under the plan (when up): the restart lines, the retyped, the knock-on. */
export function restartedBy(p: ConversionPlan): string[] {
  return [...p.restarted.map((x) => x.name), ...p.retyped, ...p.knockOn.map((x) => x.name)];
}

export function isEmptyPlan(p: ConversionPlan): boolean {
  return p.added.length + p.removed.length + p.restarted.length + p.retyped.length + p.knockOn.length === 0;
}

/** The service directories of a source tree, as s6-rc-compile sees them. */
export function servicesOf(tree: FileTree): Map<string, ServiceDir> {
  const out = new Map<string, { type: ServiceType | null; entries: Map<string, TreeEntry> }>();
  for (const [rel, entry] of tree) {
    const slash = rel.indexOf('/');
    if (slash === -1) {
      // Plain files and dot entries at the top are not services.
      if (entry.kind === 'dir' && !rel.startsWith('.') && !out.has(rel)) out.set(rel, { type: null, entries: new Map() });
      continue;
    }
    const svc = out.get(rel.slice(0, slash));
    if (svc === undefined) continue;
    const inner = rel.slice(slash + 1);
    svc.entries.set(inner, entry);
    if (inner === 'type' && entry.kind === 'file') svc.type = serviceType(Buffer.from(entry.content));
  }
  return out;
}

const isAtomic = (s: ServiceDir | undefined): s is ServiceDir & { type: 'longrun' | 'oneshot' } =>
  s !== undefined && (s.type === 'longrun' || s.type === 'oneshot');

function sameEntry(a: TreeEntry | undefined, b: TreeEntry | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  if (a.kind === 'dir' || b.kind === 'dir') return a.kind === b.kind;
  return a.mode === b.mode && a.content === b.content;
}

/** Relative paths whose entry differs between two versions of one service directory. */
export function changedEntries(before: ServiceDir, after: ServiceDir): string[] {
  const paths = new Set([...before.entries.keys(), ...after.entries.keys()]);
  return sortedBytewise([...paths].filter((p) => !sameEntry(before.entries.get(p), after.entries.get(p))));
}

export function planConversion(before: FileTree, after: FileTree): ConversionPlan {
  const oldSvcs = servicesOf(before);
  const newSvcs = servicesOf(after);
  const added: string[] = [];
  const removed: string[] = [];
  const restarted: Restart[] = [];
  const retyped: string[] = [];
  for (const [name, svc] of newSvcs) {
    if (isAtomic(svc) && !isAtomic(oldSvcs.get(name))) added.push(name);
  }
  for (const [name, old] of oldSvcs) {
    if (!isAtomic(old)) continue;
    const now = newSvcs.get(name);
    if (now === undefined) removed.push(name);
    else if (now.type !== old.type) retyped.push(name);
    else {
      const changed = changedEntries(old, now);
      if (changed.length > 0) restarted.push({ name, type: old.type, changed });
    }
  }
  restarted.sort((a, b) => compareBytes(a.name, b.name));
  const plan = { added: sortedBytewise(added), removed: sortedBytewise(removed), restarted, retyped: sortedBytewise(retyped) };
  return { ...plan, knockOn: knockOn(oldSvcs, newSvcs, plan) };
}

/**
 * s6-rc-update's own closure, assuming every old service is up: whatever
 * depends (in the OLD database) on a service that stops or restarts goes
 * down and comes back; whatever depends (in the NEW database) on a service
 * that was not there before is restarted. Repeated until nothing changes.
 */
function knockOn(
  oldSvcs: ReadonlyMap<string, ServiceDir>,
  newSvcs: ReadonlyMap<string, ServiceDir>,
  plan: Omit<ConversionPlan, 'knockOn'>,
): Knock[] {
  const oldDeps = dependencyGraph(oldSvcs);
  const newDeps = dependencyGraph(newSvcs);
  const bouncing = new Set([...plan.removed, ...plan.retyped, ...plan.restarted.map((r) => r.name)]);
  const fresh = new Set(plan.added);
  const out = new Map<string, string>();
  for (let grew = true; grew;) {
    grew = false;
    for (const [name, deps] of oldDeps) {
      if (bouncing.has(name) || !isAtomic(newSvcs.get(name))) continue;
      const dep = [...deps].find((d) => bouncing.has(d));
      const newDep = dep === undefined ? [...(newDeps.get(name) ?? [])].find((d) => fresh.has(d)) : undefined;
      if (dep === undefined && newDep === undefined) continue;
      out.set(name, dep !== undefined ? `depends on ${dep}` : `now depends on the new ${newDep ?? ''}`);
      bouncing.add(name);
      grew = true;
    }
  }
  return sortedBytewise(out.keys()).map((name) => ({ name, reason: out.get(name) ?? '' }));
}

/**
 * Atomic service -> the atomic services it directly depends on: its
 * dependencies (bundles expanded) plus, for a producer, its consumer
 * (s6-rc-compile makes a producer depend on its consumer).
 */
export function dependencyGraph(svcs: ReadonlyMap<string, ServiceDir>): Map<string, Set<string>> {
  const graph = new Map<string, Set<string>>();
  for (const [name, svc] of svcs) {
    if (!isAtomic(svc)) continue;
    const deps = new Set<string>();
    for (const d of listed(svc, 'dependencies')) for (const atom of atomsOf(d, svcs, new Set())) deps.add(atom);
    const consumer = svc.entries.get('producer-for');
    if (consumer?.kind === 'file') {
      const c = consumer.content.replace(/\n+$/, '');
      if (c !== '') deps.add(c);
    }
    deps.delete(name);
    graph.set(name, deps);
  }
  return graph;
}

/**
 * The members of bundle `name` in a source tree, bytewise-sorted, read as
 * s6-rc-compile reads them; none when the tree has no such service.
 */
export function bundleMembers(tree: FileTree, name: string): string[] {
  const prefix = `${name}/`;
  const entries = new Map<string, TreeEntry>();
  for (const [rel, entry] of tree) if (rel.startsWith(prefix)) entries.set(rel.slice(prefix.length), entry);
  return sortedBytewise(listed({ type: 'bundle', entries }, 'contents'));
}

/** Names in `<what>.d/` (which wins) or the deprecated `<what>` list file. */
function listed(svc: ServiceDir, what: 'dependencies' | 'contents'): string[] {
  const prefix = `${what}.d/`;
  if (svc.entries.get(`${what}.d`)?.kind === 'dir') {
    return [...svc.entries.keys()].filter((p) => p.startsWith(prefix) && !p.slice(prefix.length).includes('/')).map((p) => p.slice(prefix.length));
  }
  const file = svc.entries.get(what);
  if (file?.kind !== 'file') return [];
  return nameList(Buffer.from(file.content)).names;
}

function atomsOf(name: string, svcs: ReadonlyMap<string, ServiceDir>, seen: Set<string>): string[] {
  const svc = svcs.get(name);
  if (svc === undefined || seen.has(name)) return [];
  if (svc.type !== 'bundle') return [name];
  seen.add(name);
  return listed(svc, 'contents').flatMap((m) => atomsOf(m, svcs, seen));
}

/**
 * The conversion file for `s6-rc-update -f`: a comment, then one
 * `NAME restart` line per restarted service, names quoted for the execline
 * lexer. No restarts gives just the comment (s6-rc-update skips it).
 */
export function conversionFile(plan: ConversionPlan): string {
  const lines = ['# vmsvc: restart the services whose definition changed'];
  for (const r of plan.restarted) lines.push(`${quoteExeclineWord(r.name)} restart`);
  return `${lines.join('\n')}\n`;
}

/** One line per change, for people: what the update starts, stops and restarts. */
export function describePlan(plan: ConversionPlan): string[] {
  const p = printable;
  return [
    ...plan.added.map((n) => `add      ${p(n)}`),
    ...plan.removed.map((n) => `stop     ${p(n)} (removed)`),
    ...plan.restarted.map((r) => `restart  ${p(r.name)} (changed: ${r.changed.map(p).join(', ')})`),
    ...plan.retyped.map((n) => `restart  ${p(n)} (type changed)`),
    ...plan.knockOn.map((k) => `restart  ${p(k.name)} (if up: ${p(k.reason)})`),
  ];
}

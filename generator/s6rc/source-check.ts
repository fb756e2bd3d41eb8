/**
 * Checks s6-rc source directories against everything s6-rc-compile rejects,
 * as its documentation (skarnet.org/software/s6-rc/s6-rc-compile.html) lists it, and reports ALL
 * problems at once (s6-rc-compile stops at the first one and names a cycle
 * only by two of its services).
 *
 * Reasons are worded like s6-rc-compile's fatal messages (see skarnet/s6-rc
 * src/s6-rc/s6-rc-compile.c), with the full cycle path added. A problem is
 * what the real s6-rc-compile (0.7.0.0) refuses, read the way it reads: where
 * it is more lenient than the format doc (it reads only the first 8 bytes of
 * `type`, and only the first line of `timeout-kill` and its kin), the tree
 * compiles, so the doc's stricter contract is a warning, not a problem.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { lexExeclineBytes } from './execline-lex.js';
import { LONGRUN_NAME_MAX_BYTES, longrunNameFits, nameList, serviceType, type ServiceType } from './format.js';

export { LONGRUN_NAME_MAX_BYTES, longrunNameFits } from './format.js';
import { compareBytes } from '../util/bytes.js';
import { errnoOf } from '../util/errno.js';
import { shortestCycle, stronglyConnected, type Digraph, type Step } from '../util/cycles.js';

export interface S6rcProblem {
  /** The service the problem belongs to, or null for a whole source dir. */
  service: string | null;
  /** The file or directory at fault. */
  file: string;
  reason: string;
}

export interface S6rcCheckOptions {
  /** The `s6-rc-init -p PREFIX` the live instance will use (default none). */
  prefix?: string;
}

export interface S6rcAnalysis {
  /** What s6-rc-compile (or s6-rc-init) would reject. */
  problems: S6rcProblem[];
  /** What compiles but is probably a mistake. */
  warnings: S6rcProblem[];
}

const RESERVED_PREFIXES = ['s6rc-', 's6-rc-'] as const;
const UINT32_MAX = 0xffffffff;

/** The fatal problems of the source dirs, compiled together as one namespace. */
export function checkS6rcSource(dirs: string[], options: S6rcCheckOptions = {}): S6rcProblem[] {
  return analyzeS6rcSource(dirs, options).problems;
}

/** The non-fatal notes only (s6-rc-compile warnings and doc advice). */
export function s6rcWarnings(dirs: string[], options: S6rcCheckOptions = {}): S6rcProblem[] {
  return analyzeS6rcSource(dirs, options).warnings;
}

export function analyzeS6rcSource(dirs: string[], options: S6rcCheckOptions = {}): S6rcAnalysis {
  const report = new Report();
  const services: Service[] = [];
  const unusable = new Set<string>(); // defined, but with a broken type: not "undefined"
  for (const src of dirs) {
    for (const name of scanSourceDir(src, report)) {
      const service = readService(src, name, options.prefix ?? '', report);
      if (service) services.push(service);
      else unusable.add(name);
    }
  }
  const defs = defineNames(services, report);
  checkReferences(services, defs, unusable, report);
  checkPipelines(services, defs, unusable, report);
  const graph = buildGraph(services, defs);
  checkBundleCycles(graph, defs, report);
  checkDependencyCycles(graph, defs, report);
  return { problems: report.problems, warnings: report.warnings };
}

/* ------------------------------------------------------------------ */
/* Model                                                                */
/* ------------------------------------------------------------------ */

/** A name read from a list file or a .d directory, with where it came from. */
interface NameRef {
  name: string;
  file: string;
}

interface Service {
  name: string;
  type: ServiceType;
  dir: string;
  /** Oneshot/longrun dependencies; bundle members. */
  names: NameRef[];
  /** Longruns only. */
  producerFor: NameRef | null;
  consumerFor: NameRef[];
  /** Only when honoured: on a last consumer. */
  pipelineName: NameRef | null;
}

/** What a name resolves to once every source dir is read. */
interface Definition {
  type: ServiceType;
  dir: string;
  /** For a pipeline bundle: the last consumer that names it. */
  pipelineOf: Service | null;
  service: Service | null;
}

class Report {
  readonly problems: S6rcProblem[] = [];
  readonly warnings: S6rcProblem[] = [];

  fatal(service: string | null, file: string, reason: string): void {
    this.problems.push({ service, file, reason });
  }

  warn(service: string | null, file: string, reason: string): void {
    this.warnings.push({ service, file, reason });
  }
}

/* ------------------------------------------------------------------ */
/* File system helpers                                                  */
/* ------------------------------------------------------------------ */

type Stat = fs.Stats | 'missing' | 'error';

/** stat() following symlinks, as s6-rc-compile does; a dangling link is missing. */
function statOf(file: string): Stat {
  try {
    return fs.statSync(file);
  } catch (e) {
    return errnoOf(e) === 'ENOENT' || errnoOf(e) === 'ENOTDIR' ? 'missing' : 'error';
  }
}

/** A service's optional file: its bytes, 'missing', or 'unreadable' (a directory, or reading failed). */
function serviceFile(file: string): Buffer | 'missing' | 'unreadable' {
  const st = statOf(file);
  if (st === 'missing') return 'missing';
  const raw = st === 'error' || st.isDirectory() ? 'error' : readFile(file);
  return typeof raw === 'string' ? 'unreadable' : raw;
}

/** Read a whole file, or say why not ('missing' covers dangling symlinks). */
function readFile(file: string): Buffer | 'missing' | 'error' {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    return errnoOf(e) === 'ENOENT' ? 'missing' : 'error';
  }
}

function reservedPrefix(name: string): boolean {
  return RESERVED_PREFIXES.some((p) => name.startsWith(p));
}

/* ------------------------------------------------------------------ */
/* Source dirs and services                                             */
/* ------------------------------------------------------------------ */

/** The service names of one source dir, sorted; reports bad entries. */
function scanSourceDir(src: string, report: Report): string[] {
  let entries: string[];
  try {
    entries = fs.readdirSync(src);
  } catch {
    report.fatal(null, src, `unable to opendir ${src}`);
    return [];
  }
  const names: string[] = [];
  for (const entry of entries) {
    if (entry.startsWith('.')) continue;
    const file = path.join(src, entry);
    // Both checks run on every entry, plain files included, before the
    // directory test (add_sources in s6-rc-compile).
    if (entry.includes('\n')) {
      report.fatal(entry, file, `subdirectory of ${src} contains a newline character`);
      continue;
    }
    if (reservedPrefix(entry)) {
      report.fatal(entry, file, `in ${src}: identifier ${entry} starts with reserved prefix`);
      continue;
    }
    const st = statOf(file);
    if (st === 'error') report.fatal(entry, file, `unable to stat ${file}`);
    else if (st !== 'missing' && st.isDirectory()) names.push(entry);
  }
  if (names.length === 0) report.warn(null, src, `source ${src} is empty`);
  // Bytewise, as the strcmp-based qsort of s6-rc-compile orders them.
  return names.sort(compareBytes);
}

/** Read and check one service dir; null when its type is unusable. */
function readService(src: string, name: string, prefix: string, report: Report): Service | null {
  const dir = path.join(src, name);
  const typeFile = path.join(dir, 'type');
  const raw = readFile(typeFile);
  if (typeof raw === 'string') {
    report.fatal(name, typeFile, `unable to read ${typeFile}`);
    return null;
  }
  const type = serviceType(raw);
  if (!type) {
    report.fatal(name, typeFile, `invalid ${typeFile}: must be oneshot, longrun, or bundle`);
    return null;
  }
  if (!/^(oneshot|longrun|bundle)\n?$/.test(raw.toString('latin1'))) {
    report.warn(name, typeFile, `${typeFile} holds more than "${type}" and a newline: s6-rc-compile reads only its first 8 bytes`);
  }
  adviseName(name, dir, report);
  const service: Service = { name, type, dir, names: [], producerFor: null, consumerFor: [], pipelineName: null };
  if (type === 'bundle') {
    readBundle(service, report);
  } else {
    service.names = readNameListOrDir(service, 'dependencies', report) ?? [];
    for (const t of ['timeout-up', 'timeout-down']) checkUint32File(service, t, 'timeout', report);
    if (type === 'oneshot') readOneshot(service, report);
    else readLongrun(service, prefix, report);
  }
  return service;
}

/** The doc discourages exotic names even though they compile. */
function adviseName(name: string, dir: string, report: Report): void {
  if (!/^[A-Za-z0-9_.][A-Za-z0-9_.-]*$/.test(name)) {
    report.warn(name, dir, `name "${name}" compiles but is discouraged: use letters, digits, '.', '_' and '-' (not leading)`);
  }
}

function readBundle(service: Service, report: Report): void {
  const members = readNameListOrDir(service, 'contents', report);
  if (members === null) {
    const file = path.join(service.dir, 'contents');
    report.fatal(service.name, file, `unable to open ${file}: bundle ${service.name} needs contents.d/ or contents`);
    return;
  }
  service.names = members;
}

function readOneshot(service: Service, report: Report): void {
  checkExeclineFile(service, 'up', true, report);
  checkExeclineFile(service, 'down', false, report);
}

/** up/down are not scripts: s6-rc-compile lexes each into one argv. */
function checkExeclineFile(service: Service, base: string, mandatory: boolean, report: Report): void {
  const file = path.join(service.dir, base);
  const raw = serviceFile(file);
  if (raw === 'missing') {
    if (mandatory) report.fatal(service.name, file, `unable to open ${file}: a oneshot needs an ${base} file`);
    return;
  }
  if (raw === 'unreadable') {
    report.fatal(service.name, file, `unable to parse ${file}`);
    return;
  }
  const lexed = lexExeclineBytes(raw);
  if (!lexed.ok) {
    const detail = lexed.error.startsWith('unmatched')
      ? `: ${lexed.error} (at byte ${lexed.offset})`
      : ` (${lexed.error.replace(/^syntax error: ?/, '') || 'syntax error'} at byte ${lexed.offset})`;
    report.fatal(service.name, file, `syntax error in ${file}${detail}`);
  } else if (raw.subarray(0, 2).toString('latin1') === '#!') {
    report.warn(service.name, file, `${file} starts with #!, which is only a comment: the file is lexed into ONE execline command line, not run as a script`);
  }
}

function readLongrun(service: Service, prefix: string, report: Report): void {
  const { name, dir } = service;
  const run = path.join(dir, 'run');
  const st = statOf(run);
  if (st === 'missing') report.fatal(name, run, `unable to find a run script in ${run}`);
  else if (st === 'error' || !st.isFile()) report.fatal(name, run, `${run} is not a regular file`);

  if (!longrunNameFits(name, prefix)) {
    const bytes = Buffer.byteLength(prefix + name, 'utf8');
    report.fatal(name, dir, `longrun name ${name} is too long: with prefix "${prefix}" it takes ${bytes} bytes, more than ${LONGRUN_NAME_MAX_BYTES} (s6-svscan ignores it and s6-rc-init fails)`);
  }

  readPipelineFiles(service, report);

  const notif = checkUint32File(service, 'notification-fd', 'first-line', report);
  const lock = checkUint32File(service, 'lock-fd', 'first-line', report);
  for (const base of ['timeout-kill', 'timeout-finish', 'max-death-tally']) checkUint32File(service, base, 'first-line', report);
  if (notif !== null && notif < 3) report.warn(name, path.join(dir, 'notification-fd'), `longrun ${name} has a notification-fd of ${notif}`);
  if (lock !== null && lock < 3) report.warn(name, path.join(dir, 'lock-fd'), `longrun ${name} has a lock-fd of ${lock}`);
  // The doc makes equal values fatal outright (the compiler only compares
  // values >= 3, but an fd shared by both is a mistake either way).
  if (notif !== null && lock !== null && notif === lock) {
    report.fatal(name, path.join(dir, 'lock-fd'), `longrun ${name} has the same value for notification-fd and lock-fd`);
  }

  for (const base of ['data', 'env']) {
    const file = path.join(dir, base);
    const s = statOf(file);
    if (s !== 'missing' && (s === 'error' || !s.isDirectory())) report.fatal(name, file, `${file} is not a directory`);
  }
  const log = statOf(path.join(dir, 'log'));
  if (log !== 'missing' && log !== 'error' && log.isDirectory()) {
    report.warn(name, path.join(dir, 'log'), `${name}/log is ignored by s6-rc: a logger is a separate longrun joined by producer-for/consumer-for`);
  }
  if (statOf(path.join(dir, 'down')) !== 'missing') {
    report.warn(name, path.join(dir, 'down'), `${name}/down is ignored by s6-rc-compile for a longrun`);
  }
}

/** producer-for, consumer-for, and pipeline-name when it is honoured. */
function readPipelineFiles(service: Service, report: Report): void {
  const { name, dir } = service;
  const producerFor = readListFile(service, 'producer-for', report);
  if (producerFor !== null) {
    const file = path.join(dir, 'producer-for');
    if (producerFor.length !== 1) report.fatal(name, file, `${file} should only contain one service name`);
    service.producerFor = producerFor[0] ?? null;
  }
  service.consumerFor = readListFile(service, 'consumer-for', report) ?? [];
  const pipelineFile = path.join(dir, 'pipeline-name');
  // Only a last consumer (consumers, no producer-for file) reads pipeline-name.
  if (service.consumerFor.length > 0 && producerFor === null) {
    const names = readListFile(service, 'pipeline-name', report);
    if (names !== null && names.length !== 1) report.fatal(name, pipelineFile, `${pipelineFile} should only contain one name`);
    else if (names !== null) service.pipelineName = names[0] ?? null;
  } else if (statOf(pipelineFile) !== 'missing') {
    report.warn(name, pipelineFile, `${dir} contains a pipeline-name file despite not being a last consumer; this file will be ignored`);
  }
}

/**
 * `BASE.d/` if it exists (it wins), else the `BASE` list file, else null.
 * A BASE.d that is not a directory is fatal: opendir fails with ENOTDIR.
 */
function readNameListOrDir(service: Service, base: string, report: Report): NameRef[] | null {
  const dirFile = path.join(service.dir, `${base}.d`);
  const st = statOf(dirFile);
  if (st === 'missing') return readListFile(service, base, report);
  if (st === 'error' || !st.isDirectory()) {
    report.fatal(service.name, dirFile, `unable to opendir ${dirFile}`);
    return [];
  }
  let entries: string[];
  try {
    entries = fs.readdirSync(dirFile);
  } catch {
    report.fatal(service.name, dirFile, `unable to opendir ${dirFile}`);
    return [];
  }
  // Every entry not starting with '.' is a name, whatever its file type.
  const refs = entries.filter((e) => !e.startsWith('.')).sort(compareBytes).map((e) => ({ name: e, file: dirFile }));
  for (const ref of refs) checkListedName(service, ref, report);
  return refs;
}

/** A list file (format.ts's nameList); a name listed again is a warning, as s6-rc-compile gives. */
function readListFile(service: Service, base: string, report: Report): NameRef[] | null {
  const file = path.join(service.dir, base);
  const raw = serviceFile(file);
  if (raw === 'missing') return null;
  if (raw === 'unreadable') {
    report.fatal(service.name, file, `unable to read ${file}`);
    return [];
  }
  const { names, repeated } = nameList(raw);
  for (const name of repeated) report.warn(service.name, file, `in ${file}: name listed more than once: ${name}`);
  const refs = names.map((name) => ({ name, file }));
  for (const ref of refs) checkListedName(service, ref, report);
  return refs;
}

function checkListedName(service: Service, ref: NameRef, report: Report): void {
  if (ref.name.includes('\n')) {
    report.fatal(service.name, ref.file, `in ${ref.file}: identifier "${ref.name}" contains a newline character`);
  } else if (reservedPrefix(ref.name)) {
    report.fatal(service.name, ref.file, `in ${ref.file}: identifier ${ref.name} starts with reserved prefix`);
  } else if (ref.name.includes('/')) {
    report.fatal(service.name, ref.file, `in ${ref.file}: identifier ${ref.name} contains a /`);
  }
}

/**
 * How s6-rc-compile reads a number file. 'timeout' (timeout-up, timeout-down,
 * its read_timeout): up to 63 bytes, trailing newlines dropped, the rest all
 * digits. 'first-line' (the *-fd files, timeout-kill, timeout-finish,
 * max-death-tally, its s6rc_read_uint): up to 11 bytes, cut at the first
 * newline, the rest all digits. Either way at most 2^32-1, and an empty file
 * holds no number.
 */
type NumberReader = 'timeout' | 'first-line';

/** Returns the value, or null when absent or refused. */
function checkUint32File(service: Service, base: string, reader: NumberReader, report: Report): number | null {
  const file = path.join(service.dir, base);
  const raw = serviceFile(file);
  if (raw === 'missing') return null;
  if (raw === 'unreadable') {
    report.fatal(service.name, file, `unable to read ${file}`);
    return null;
  }
  const text = reader === 'timeout'
    ? raw.subarray(0, 63).toString('latin1').replace(/\n+$/, '')
    : raw.subarray(0, 11).toString('latin1').split('\n')[0] ?? '';
  const value = /^[0-9]+$/.test(text) ? Number(text) : NaN;
  if (!(value <= UINT32_MAX)) {
    report.fatal(service.name, file, `invalid ${file}: must be a decimal number up to ${UINT32_MAX}, ${reader === 'timeout' ? 'followed only by newlines' : 'on its first line'}`);
    return null;
  }
  if (!/^[0-9]{1,10}\n*$/.test(raw.toString('latin1'))) {
    report.warn(service.name, file, `${file} holds more than a number and newlines: s6-rc-compile reads it as ${value}`);
  }
  return value;
}

/* ------------------------------------------------------------------ */
/* Names across all source dirs                                         */
/* ------------------------------------------------------------------ */

function defineNames(services: Service[], report: Report): Map<string, Definition> {
  const defs = new Map<string, Definition>();
  for (const service of services) {
    const prior = defs.get(service.name);
    if (prior) {
      report.fatal(service.name, service.dir, `duplicate service definition: ${service.name} defined in ${path.dirname(service.dir)} is already defined (in ${path.dirname(prior.dir)}) and has type ${prior.type}`);
      continue;
    }
    defs.set(service.name, { type: service.type, dir: service.dir, pipelineOf: null, service });
  }
  // Pipeline bundles are added after every source dir is read, like
  // add_pipeline_bundles does; they clash with services and with each other.
  for (const service of services) {
    const ref = service.pipelineName;
    if (!ref || badName(ref.name)) continue;
    const prior = defs.get(ref.name);
    if (prior) {
      const what = prior.pipelineOf ? `the pipeline-name of ${prior.pipelineOf.name}` : `a ${prior.type} in ${path.dirname(prior.dir)}`;
      report.fatal(service.name, ref.file, `duplicate service definition: pipeline-name ${ref.name} of ${service.name} is already defined as ${what}`);
      continue;
    }
    defs.set(ref.name, { type: 'bundle', dir: service.dir, pipelineOf: service, service: null });
  }
  return defs;
}

/** Names checkListedName rejects: they are reported once, not again as undefined. */
function badName(name: string): boolean {
  return reservedPrefix(name) || name.includes('\n') || name.includes('/');
}

/** Whether a reference should be resolved (bad or unusable names were reported already). */
function resolvable(ref: NameRef, unusable: Set<string>): boolean {
  return !badName(ref.name) && !unusable.has(ref.name);
}

function checkReferences(services: Service[], defs: Map<string, Definition>, unusable: Set<string>, report: Report): void {
  for (const service of services) {
    for (const ref of service.names) {
      if (!resolvable(ref, unusable) || defs.has(ref.name)) continue;
      const reason = service.type === 'bundle'
        ? `during resolution of bundle ${service.name}: undefined service name ${ref.name}`
        : `during dependency resolution for service ${service.name}: undefined service name ${ref.name}`;
      report.fatal(service.name, ref.file, reason);
    }
  }
}

/* ------------------------------------------------------------------ */
/* Pipelines                                                            */
/* ------------------------------------------------------------------ */

function checkPipelines(services: Service[], defs: Map<string, Definition>, unusable: Set<string>, report: Report): void {
  for (const service of services) {
    if (service.type !== 'longrun') continue;
    const partners = [
      ...(service.producerFor ? [{ ref: service.producerFor, role: 'producer' as const }] : []),
      ...service.consumerFor.map((ref) => ({ ref, role: 'consumer' as const })),
    ];
    for (const { ref, role } of partners) {
      if (resolvable(ref, unusable)) checkPartner(service, ref, role, defs, report);
    }
  }
}

/** `service` says it is the `role` (producer/consumer) of `ref`: check the other side. */
function checkPartner(service: Service, ref: NameRef, role: 'producer' | 'consumer', defs: Map<string, Definition>, report: Report): void {
  const claim = role === 'producer'
    ? `longrun service ${service.name} declares being a producer for a service named ${ref.name}`
    : `longrun service ${service.name} declares being the consumer for a service named ${ref.name}`;
  const def = defs.get(ref.name);
  if (!def) {
    report.fatal(service.name, ref.file, `${claim}, which is not defined (undefined service name ${ref.name})`);
    return;
  }
  if (def.type !== 'longrun' || !def.service) {
    report.fatal(service.name, ref.file, `${claim} of type ${def.type}`);
    return;
  }
  const other = def.service;
  const declaredBack = role === 'producer'
    ? other.consumerFor.some((r) => r.name === service.name)
    : other.producerFor?.name === service.name;
  if (!declaredBack) report.fatal(service.name, ref.file, `${claim} that does not declare it back`);
}

/** The longruns of the pipeline ending at `last`: it and all its producers, recursively. */
function pipelineMembers(last: Service, defs: Map<string, Definition>): string[] {
  const seen = new Set<string>([last.name]);
  const queue: Service[] = [last];
  for (let s = queue.shift(); s; s = queue.shift()) {
    for (const ref of s.consumerFor) {
      const def = defs.get(ref.name);
      if (def?.type === 'longrun' && def.service && !seen.has(ref.name)) {
        seen.add(ref.name);
        queue.push(def.service);
      }
    }
  }
  return [...seen];
}

/* ------------------------------------------------------------------ */
/* Graph and cycles                                                     */
/* ------------------------------------------------------------------ */

interface Edge {
  to: string;
  /** Set for the edge s6-rc adds itself: a producer depends on its consumer. */
  implicit: boolean;
}

type Graph = Map<string, Edge[]>;

/**
 * One node per defined name. Edges: a service to its dependencies, a bundle
 * to its members (a pipeline bundle to its longruns), and a producer to its
 * consumer. A dependency on a bundle reaches the bundle's members through
 * the bundle node, so cycles through bundles show up as paths.
 */
function buildGraph(services: Service[], defs: Map<string, Definition>): Graph {
  const graph: Graph = new Map();
  const add = (from: string, to: string, implicit: boolean): void => {
    if (!defs.has(to)) return;
    const edges = graph.get(from) ?? [];
    if (!edges.some((e) => e.to === to && e.implicit === implicit)) edges.push({ to, implicit });
    graph.set(from, edges);
  };
  for (const [name, def] of defs) {
    graph.set(name, graph.get(name) ?? []);
    if (def.pipelineOf) for (const member of pipelineMembers(def.pipelineOf, defs)) add(name, member, false);
  }
  for (const service of services) {
    if (defs.get(service.name)?.service !== service) continue; // a duplicate
    for (const ref of service.names) add(service.name, ref.name, false);
    const consumer = service.producerFor ? defs.get(service.producerFor.name) : undefined;
    if (service.producerFor && consumer?.type === 'longrun') add(service.name, service.producerFor.name, true);
  }
  return graph;
}

/** Bundles containing themselves, directly or through other bundles. */
function checkBundleCycles(graph: Graph, defs: Map<string, Definition>, report: Report): void {
  const isBundle = (n: string): boolean => defs.get(n)?.type === 'bundle';
  const bundleGraph: Graph = new Map();
  for (const [from, edges] of graph) {
    if (isBundle(from)) bundleGraph.set(from, edges.filter((e) => isBundle(e.to)));
  }
  const g = digraph(bundleGraph);
  for (const scc of cyclicComponents(g)) {
    const start = [...scc].sort(compareBytes)[0] as string;
    const cycle = shortestCycle(g, start, (n) => scc.has(n));
    const def = defs.get(start) as Definition;
    report.fatal(start, def.dir, `cyclic bundle definition: ${formatCycle(start, cycle)}`);
  }
}

/** Any cycle that goes through a oneshot or longrun (self-dependency included). */
function checkDependencyCycles(graph: Graph, defs: Map<string, Definition>, report: Report): void {
  const isAtomic = (n: string): boolean => defs.get(n)?.type !== 'bundle';
  const g = digraph(graph);
  for (const scc of cyclicComponents(g)) {
    const atomics = [...scc].filter(isAtomic).sort(compareBytes);
    const start = atomics[0];
    if (start === undefined) continue; // only bundles: reported as a bundle cycle
    const cycle = shortestCycle(g, start, (n) => scc.has(n));
    const implicit = cycle.filter((step) => step.edge.implicit).map((step) => `${step.from} is a producer for ${step.edge.to}, so it depends on it`);
    const why = implicit.length > 0 ? ` (${implicit.join('; ')})` : '';
    const def = defs.get(start) as Definition;
    report.fatal(start, def.dir, `cyclic service dependency: ${formatCycle(start, cycle)}${why}`);
  }
}

function formatCycle(start: string, cycle: readonly Step<Edge>[]): string {
  return [start, ...cycle.map((s) => s.edge.to)].join(' -> ');
}

/** Roots in bytewise order: it fixes the order the cycles are reported in. */
function digraph(graph: Graph): Digraph<Edge> {
  return { nodes: [...graph.keys()].sort(compareBytes), edges: (n) => graph.get(n) ?? [], target: (e) => e.to };
}

/**
 * Strongly connected components that contain a cycle: more than one node,
 * or one node with an edge to itself.
 */
function cyclicComponents(g: Digraph<Edge>): Set<string>[] {
  return stronglyConnected(g)
    .filter((scc) => scc.length > 1 || g.edges(scc[0]!).some((e) => e.to === scc[0]))
    .map((scc) => new Set(scc));
}

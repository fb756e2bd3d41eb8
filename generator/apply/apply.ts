/**
 * `vmsvc apply`: generate the source tree (keep-going), compile it into a
 * database named by the tree's hash, and make the live s6-rc system run it:
 * `s6-rc-init` the first time (no live directory), `s6-rc-update` with a
 * conversion file afterwards. Programs run through an injected CommandRunner;
 * everything written lives in the state directory (layout: db-rotation.ts).
 *
 * Crash safety: the databases and their source copies are never modified
 * once complete; `current` and `previous` are replaced with rename(2); which
 * database the live system runs is read back from s6-rc's own
 * LIVE/compiled link, so a run killed between `s6-rc-update` and the switch
 * of `current` is repaired by the next one. One apply at a time per state
 * directory (a lock file naming its pid).
 *
 * Failures: a failed s6-rc-compile, s6-rc-init, or an s6-rc-update that did
 * not switch databases leaves `current` as it was and removes the new
 * database. s6-rc-update can also fail AFTER switching (its exit codes 1 and
 * 2: some transitions failed or timed out, "but the database was switched",
 * skarnet.org/software/s6-rc/s6-rc-update.html); then the live system runs
 * the new database, so `current` follows it and it is kept. apply checks
 * LIVE/compiled rather than trusting exit codes.
 *
 * Autostart: once the live system runs the new database, apply brings up
 * the VMs marked with config/autostart (`s6-rc -u change`; s6-rc starts
 * their providers and links first): at first load the whole autostart
 * bundle, on a live update only the VMs the old database's bundle did not
 * hold. Running VMs are left alone, and a marked VM someone stopped stays
 * stopped: the mark is what happens at boot, not a guard.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { compareBytes, printable } from '../util/bytes.js';
import type { CommandResult, CommandRunner } from '../util/command-runner.js';
import { downChange, failed, passStderr, upChange, upServices, type LiveRc } from './live-rc.js';
import { defaultPipePrograms, pipelinesOf, repairPipes, type PipePrograms } from './pipe-repair.js';
import { boundary } from './pause-hook.js';
import { clearIntent, writeIntent } from './intent.js';
import { finishInterrupted } from './recover.js';
import { reclaimDirs, type OwnedDirs } from './reclaim.js';
import { assignIdentities, type Principal, type VmIdentities } from '../pipeline/identities.js';
import { userId } from '../util/account-db.js';
import { describeLeft, leftBesideLive, rollBack } from './update-rollback.js';
import { manifestOf, vmChanges } from './vm-changes.js';
import type { CheckResult } from '../pipeline/check.js';
import { bundleMembers, conversionFile, describePlan, planConversion, restartedBy, servicesOf, type ConversionPlan } from '../s6rc/conversion.js';
import { downLongruns, dropDangling, relink, unsupervise, type Supervision } from './supervisors.js';
import { isDir, lexists } from '../util/fs-probe.js';
import {
  afterSwitch, COMPILED_DIR, keptHashes, SOURCE_SUFFIX, TEMP_PREFIX, type DbLinks,
} from './db-rotation.js';
import type { GeneratorOptions } from '../pipeline/options.js';
import { buildTree, checkDataDir } from '../pipeline/index.js';
import type { FileTree } from '../pipeline/render.js';
import { formatDiagnostics, formatSkipped } from '../pipeline/report.js';
import {
  dbSize, findSvscan, openFiles, ownLimit, S6RC_OWN_LONGRUNS, shortfalls, stackBytes, supervisionNeeds, type DbSize, type SupervisionNeeds,
} from '../s6rc/resources.js';
import { sameTree, treeHash, writeEntries } from '../pipeline/write-tree.js';
import { errnoOf } from '../util/errno.js';
import { serviceName, type VmName } from '../rules/vm-name.js';
import { tempSuffix } from '../util/temp-name.js';
import { CommandError, EXIT, guard, type Io } from '../command/shell.js';
import { WHERE_FILE, whereJson } from '../command/where.js';
import {
  dbPath, liveDb, prune, sweepLeftovers, readDbLink, readSourceCopy, removeDb, runsSafely, setLinks, sourceLinkIs, stateLayout, withLock, writeAtomically, type StateLayout,
} from './state-dir.js';

export interface S6rcPrograms {
  readonly compile: string;
  readonly init: string;
  readonly update: string;
  /** Raises the stack limit for s6-rc-compile and s6-rc-update when a large database needs it (s6-rc-resources.ts). */
  readonly softlimit: string;
  /** Brings the autostart VMs up, and stops and starts what an update restarts. */
  readonly rc: string;
  /** Makes s6-svscan scan, and stop the supervisors of unlinked services (supervisors.ts). */
  readonly svscanctl: string;
  /** List and refill s6rc-fdholder's pipes after a killed s6-rc-update (pipe-repair.ts). */
  readonly pipes: PipePrograms;
}

export const defaultS6rcPrograms: S6rcPrograms = {
  compile: 's6-rc-compile', init: 's6-rc-init', update: 's6-rc-update', softlimit: 's6-softlimit', rc: 's6-rc', svscanctl: 's6-svscanctl',
  pipes: defaultPipePrograms,
};

export interface ApplyOptions {
  readonly data: string;
  /** Everything apply writes lives here. */
  readonly state: string;
  /** The directory s6-svscan watches (s6-rc-init's argument). */
  readonly scandir: string;
  /** s6-rc's live directory; default STATE/live. */
  readonly live?: string;
  /** s6-rc-init's -p prefix ('' for none); also the generator's livePrefix, for the name length check. */
  readonly prefix: string;
  /** Print what would be added, stopped and restarted; run nothing, write nothing. */
  readonly dryRun: boolean;
  /** Bring up the VMs marked config/autostart once the database is loaded (--no-autostart: false). */
  readonly autostart: boolean;
  /**
   * The -t of every s6-rc-init, s6-rc-update and s6-rc transition apply runs
   * (ms, more than 0): apply runs in the boot path and must end even when a
   * service never comes up.
   */
  readonly rcTimeoutMs: number;
  readonly generator: GeneratorOptions;
  /** Program names; the defaults are s6-rc-compile, s6-rc-init and s6-rc-update. */
  readonly programs?: Partial<S6rcPrograms>;
}

/** The tree apply would compile, and its hash (the database's name). */
export function desiredTree(opts: Pick<ApplyOptions, 'data' | 'prefix' | 'generator'>): { check: CheckResult; tree: FileTree; hash: string } {
  const gen: GeneratorOptions = { ...opts.generator, livePrefix: opts.prefix };
  const { root, result } = checkDataDir(opts.data, gen);
  const tree = buildTree(root, result, gen);
  return { check: result, tree, hash: treeHash(tree) };
}

/** Exit codes: 1 a program rejected the tree or services failed to start; 111 I/O, or a program failed otherwise. */
export function runApply(opts: ApplyOptions, runner: CommandRunner, io: Io): number {
  return guard(io, () => apply(opts, runner, io));
}

interface Ctx {
  readonly opts: ApplyOptions;
  readonly L: StateLayout;
  readonly programs: S6rcPrograms;
  readonly runner: CommandRunner;
  readonly io: Io;
  readonly tree: FileTree;
  readonly hash: string;
  readonly vms: string;
  readonly size: DbSize;
  /** The VMs marked config/autostart, by name. */
  readonly marked: readonly Marked[];
  readonly rc: LiveRc;
  /** The runtime and log dirs and who must own each VM's: what reclaim() takes back. */
  readonly dirs: readonly OwnedDirs[];
}

function apply(opts: ApplyOptions, runner: CommandRunner, io: Io): number {
  const L = stateLayout(opts);
  const { check, tree, hash } = desiredTree(opts);
  for (const line of formatDiagnostics(check.diagnostics)) io.err(line);
  io.err(formatSkipped(check));
  const programs = { ...defaultS6rcPrograms, ...opts.programs };
  const ctx: Ctx = {
    opts, L, runner, io, tree, hash, programs,
    rc: { rc: programs.rc, live: L.live, timeoutMs: opts.rcTimeoutMs, runner, io },
    vms: plural(check.vms.length, 'VM'),
    size: dbSize(tree),
    marked: check.vms.filter((vm) => vm.settings.autostart).map((vm) => ({ vm: vm.name, pipeline: serviceName.pipeline(vm.name) })),
    dirs: ownedDirs(opts.generator, check.vms.map((vm) => vm.name)),
  };
  return opts.dryRun ? step(ctx) : withLock(L, () => step(ctx));
}

function step(ctx: Ctx): number {
  const { L, io, opts } = ctx;
  // First: until the directories a killed s6-rc-update moved out are back, s6-svscan scans no more.
  undoUpdateLeftovers(ctx);
  const links: DbLinks = { current: readDbLink(L.current), previous: readDbLink(L.previous) };
  const from = liveDb(L);
  const swept = sweepLeftovers(L, keptHashes(links, from), opts.dryRun);
  if (swept.length > 0) io.out(`vmsvc: ${opts.dryRun ? 'dry run: would remove' : 'removed'} what an interrupted run left: ${swept.map(p).join(', ')}\n`);
  if (from !== null && !opts.dryRun) {
    // A run killed inside s6-rc-update may leave links to the service dirs of services it removed.
    const dropped = dropDangling(supervision(ctx), new Set([...servicesOf(readSourceCopy(L, from)).keys(), ...S6RC_OWN_LONGRUNS]));
    if (typeof dropped === 'string') io.err(`vmsvc: warning: ${dropped}\n`);
    else if (dropped.length > 0) io.out(`vmsvc: removed the links an interrupted s6-rc-update left in ${p(L.scandir)} to service dirs the live database no longer has: ${dropped.map(p).join(', ')}\n`);
    // A run killed after it unsupervised the stopped longruns (supervisors.ts) left them without a link.
    const why = relink(supervision(ctx));
    if (why !== null) io.err(`vmsvc: warning: ${why}\n`);
    // A run killed inside s6-rc-update left pipelines without their pipe: whatever starts them would wait forever.
    const pipes = repairPipes({ rc: ctx.rc, programs: ctx.programs.pipes, pipelines: pipelinesOf(readSourceCopy(L, from)) });
    if (typeof pipes === 'string') io.err(`vmsvc: warning: ${pipes}\n`);
    else if (pipes.length > 0) io.out(`vmsvc: an interrupted s6-rc-update left ${plural(pipes.length, 'pipeline')} without a pipe in s6rc-fdholder; gave them a new one: ${pipes.map(p).join(', ')}\n`);
  }
  const recovered = finishInterrupted(ctx.rc, L, ctx.tree, opts.dryRun);
  const code = Math.max(recovered.code, from === null ? start(ctx, links) : onLive(ctx, links, from, recovered.deferred));
  if (!opts.dryRun && runsSafely(L) !== null) record(ctx);
  return code;
}

/**
 * Who must own each VM's runtime and log dir in the applied tree: its VMM's
 * and its loggers' uid (a shared account's from /etc/passwd; root 0).
 */
function ownedDirs(gen: GeneratorOptions, names: readonly VmName[]): OwnedDirs[] {
  // By any name read from a base dir: a name that is no VM's finds nothing.
  const ids: ReadonlyMap<string, VmIdentities> = assignIdentities(names, gen);
  // A shared account is every VM's: looked up once, not once a VM.
  const account = (p: Principal): number | null => (p.kind === 'shared' ? userId(p.name) : null);
  const shared = { vmm: account(gen.vmmUser), log: account(gen.logUser) };
  const owner = (role: keyof VmIdentities) => (name: string): number | null | undefined => {
    const r = ids.get(name)?.[role];
    return r === undefined ? undefined : r.kind === 'ids' ? r.uid : r.kind === 'root' ? 0 : shared[role];
  };
  return [{ base: gen.runtimeDir, ownerOf: owner('vmm') }, { base: gen.logDir, ownerOf: owner('log') }];
}

/** The dirs of gone or moved VMs given back to root (reclaim.ts) before anything starts, saying so. */
function reclaim(ctx: Ctx): void {
  const r = reclaimDirs(ctx.dirs);
  if ('error' in r) ctx.io.err(`vmsvc: warning: ${printable(r.error)}\n`);
  else if (r.reclaimed.length > 0) {
    ctx.io.out(`vmsvc: took back ${plural(r.reclaimed.length, 'dir')} whose owner no longer runs that VM (gone, or its uid moved): ${r.reclaimed.map(p).join(', ')}\n`);
  }
}

/** What a killed s6-rc-update left beside the live dir, moved back and removed (update-rollback.ts), saying so; a dry run only says. */
function undoUpdateLeftovers(ctx: Ctx): void {
  const { L, io, opts } = ctx;
  const left = leftBesideLive(L.live);
  if (left.length === 0) return;
  if (!opts.dryRun) rollBack(L.live, left);
  io.out(`vmsvc: ${opts.dryRun ? 'dry run: ' : ''}${describeLeft(L.live, left, opts.dryRun)}\n`);
}

/**
 * Writes down where this live system is (command/where.ts), so that every
 * admin command finds it from --state alone. Checked by every run on a
 * live system, also an unchanged one (a state dir from before the record
 * gets one then), and written only when it differs: an unchanged run
 * writes nothing.
 */
function record(ctx: Ctx): void {
  const { L, opts, programs } = ctx;
  const file = path.join(L.state, WHERE_FILE);
  const content = whereJson({
    state: L.state, source: L.source, scandir: L.scandir, prefix: opts.prefix, live: L.live, s6rc: programs.rc,
    logDir: opts.generator.logDir, runtimeDir: opts.generator.runtimeDir,
  });
  let now: string | null = null;
  try {
    now = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if (errnoOf(e) !== 'ENOENT') throw e;
  }
  if (now !== content) writeAtomically(L, file, content);
}

/** The live system runs database `from`: nothing to do, links to repair after a killed run, or an update. */
function onLive(ctx: Ctx, links: DbLinks, from: string, deferred: readonly string[]): number {
  const { L, hash, io, opts } = ctx;
  if (from === hash) {
    if (links.current === hash && sourceLinkIs(L, hash)) {
      io.out(`vmsvc: ${p(L.live)} already runs ${COMPILED_DIR}/${hash} (${ctx.vms}); nothing to do\n`);
      return EXIT.ok;
    }
    // A run was killed after s6-rc-update switched and before `current` and `source` followed.
    if (opts.dryRun) {
      io.out(`vmsvc: dry run: ${p(L.live)} already runs ${COMPILED_DIR}/${hash} (${ctx.vms}); would point current and source at it\n`);
      return EXIT.ok;
    }
    const next = links.current === hash ? links : afterSwitch(links, hash, links.current);
    setLinks(L, next);
    prune(L, keptHashes(next, hash));
    io.out(`vmsvc: ${p(L.live)} already runs ${COMPILED_DIR}/${hash} (${ctx.vms}); current and source now point at it\n`);
    return EXIT.ok;
  }
  return update(ctx, links, from, deferred);
}

/** No live directory: compile, point `current` at the database, s6-rc-init on it. */
function start(ctx: Ctx, links: DbLinks): number {
  const { L, hash, io, opts, tree } = ctx;
  const plan = planConversion(new Map(), tree);
  const db = dbPath(L, hash);
  const autostart = opts.autostart ? ctx.marked : [];
  const rest = autostart.length === 0 ? 'all' : 'the others';
  const downHint = `${autostart.length === 0 ? '' : `${autostartLine(autostart)}; `}${rest} down until \`s6-rc -l ${p(L.live)} -u change ${p(opts.generator.bundle)}\``;
  if (opts.dryRun) {
    io.out(`vmsvc: dry run: would compile ${p(db)} and start a live s6-rc on ${p(L.scandir)} (${ctx.vms}, ${plural(plan.added.length, 'service')}, ${downHint}):\n`);
    for (const line of describePlan(plan)) io.out(`  ${line}\n`);
    io.out(`vmsvc: dry run: ${needsLine(ctx, [ctx.size], [])}\n`);
    io.out('vmsvc: dry run: nothing run, nothing written\n');
    return EXIT.ok;
  }
  const compiled = ensureCompiled(ctx, null);
  if (typeof compiled === 'number') return compiled;
  boundary('compiled');
  const short = supervisionShortfall(ctx, []);
  const init = short === null
    ? withLimits(ctx, [ctx.programs.init, '-t', String(opts.rcTimeoutMs), '-c', L.current, '-l', L.live, ...(opts.prefix === '' ? [] : ['-p', opts.prefix]), L.scandir], [ctx.size], { files: true })
    : short;
  if (typeof init === 'string') {
    if (compiled.fresh) removeDb(L, hash);
    io.err(`vmsvc: ${init}\nvmsvc: nothing started, current unchanged${compiled.fresh ? `, ${p(db)} removed` : ''}\n`);
    return EXIT.system;
  }
  journal(ctx, null, [], autostart.length === 0 ? [] : [opts.generator.autostartBundle]);
  const next = afterSwitch(links, hash, null);
  setLinks(L, next);
  const r = ctx.runner.run(init.argv);
  passStderr(io, r);
  if (r.code !== 0) {
    setLinks(L, links);
    clearIntent(L.state);
    if (compiled.fresh) removeDb(L, hash);
    failed(io, init.program, init.argv, r);
    const undo = links.current === null ? 'current removed' : `current points at ${COMPILED_DIR}/${links.current} again`;
    io.err(`vmsvc: nothing started; ${undo}${compiled.fresh ? `, ${p(db)} removed` : ''}\n`);
    if (lexists(L.live)) io.err(`vmsvc: ${p(L.live)} exists after the failed s6-rc-init; check it and remove it before running apply again\n`);
    return EXIT.system;
  }
  boundary('switched');
  prune(L, keptHashes(next, hash));
  boundary('linked');
  io.out(`vmsvc: started ${p(L.live)} on ${COMPILED_DIR}/${hash} (${ctx.vms}, ${plural(plan.added.length, 'service')}, ${downHint})\n`);
  reclaim(ctx);
  // The whole bundle by name: what the boot oneshot would run by hand.
  return done(ctx, autostart.length === 0 ? EXIT.ok : bringUp(ctx, [opts.generator.autostartBundle], autostart));
}

/**
 * Records in the journal what the run is about to change live (intent.ts):
 * the services up before it stops any, and what it autostarts. Nothing to
 * record when there is neither.
 */
function journal(ctx: Ctx, from: string | null, up: Iterable<string>, autostart: readonly string[]): void {
  const restore = [...up].sort(compareBytes);
  if (restore.length > 0 || autostart.length > 0) writeIntent(ctx.L.state, { from, to: ctx.hash, restore, autostart });
  boundary('intent');
}

/** The run brought back everything it had to: the journal goes. Otherwise it stays, and the next run tries once more. */
function done(ctx: Ctx, code: number): number {
  boundary('autostarted');
  if (code === EXIT.ok) clearIntent(ctx.L.state);
  return code;
}

interface Marked {
  readonly vm: string;
  readonly pipeline: string;
}

function vmsOf(marked: readonly Marked[]): string {
  return marked.map((m) => p(m.vm)).join(', ');
}

function autostartLine(marked: readonly Marked[]): string {
  return `autostart ${plural(marked.length, 'VM')} (${vmsOf(marked)}) and what they need`;
}

/**
 * `s6-rc -u change` on `names` (the autostart bundle, or the newly marked
 * pipelines): s6-rc starts what is down among them and their dependencies,
 * and leaves what is up alone. Exit 1 when some did not come up: the
 * database is loaded all the same.
 */
function bringUp(ctx: Ctx, names: readonly string[], pipelines: readonly Marked[]): number {
  if (upChange(ctx.rc, names)) {
    ctx.io.out(`vmsvc: autostart: up: ${vmsOf(pipelines)}\n`);
    return EXIT.ok;
  }
  ctx.io.err(`vmsvc: autostart: not every VM came up (${vmsOf(pipelines)}); the database is loaded: see \`s6-rc -l ${p(ctx.L.live)} -a list\`\n`);
  return EXIT.failed;
}

/**
 * A live system runs database `from`: compile, then s6-rc-update with a
 * conversion file. Around it (supervisors.ts says why): the services
 * s6-rc-update would restart are stopped first, on the old database, and
 * every longrun then down is unsupervised; after the switch the stopped
 * services are brought up on the new one. If s6-rc-update does not switch,
 * the old database gets its supervisors and its stopped services back.
 * `deferred`: services an interrupted run stopped that are to come up as
 * if they had been up (recover.ts).
 */
function update(ctx: Ctx, links: DbLinks, from: string, deferred: readonly string[]): number {
  const { L, hash, io, opts, tree } = ctx;
  const before = readSourceCopy(L, from);
  const plan = planConversion(before, tree);
  const db = dbPath(L, hash);
  const sizes = [dbSize(before), ctx.size];
  const oldLongruns = sizes[0]?.longruns ?? [];
  const wasMarked = new Set(bundleMembers(before, opts.generator.autostartBundle));
  const newlyMarked = opts.autostart ? ctx.marked.filter((m) => !wasMarked.has(m.pipeline)) : [];
  if (opts.dryRun) {
    io.out(`vmsvc: dry run: would compile ${p(db)} and switch ${p(L.live)} to it from ${COMPILED_DIR}/${from} (${ctx.vms}):\n`);
    for (const line of describePlan(plan)) io.out(`  ${line}\n`);
    const was = manifestOf(before);
    const will = manifestOf(tree);
    const changes = was === null || will === null ? [] : vmChanges(was, will);
    if (changes.length > 0) io.out(`vmsvc: dry run: what changes in the VMs:\n${changes.map((line) => `  ${line}\n`).join('')}`);
    if (newlyMarked.length > 0) io.out(`vmsvc: dry run: would then bring up the newly marked ${autostartLine(newlyMarked)}\n`);
    io.out(`vmsvc: dry run: ${needsLine(ctx, sizes, oldLongruns)}\n`);
    io.out(`vmsvc: dry run: ${summary(plan)}; nothing run, nothing written\n`);
    return EXIT.ok;
  }
  const compiled = ensureCompiled(ctx, from);
  if (typeof compiled === 'number') return compiled;
  boundary('compiled');
  const unchanged = `nothing changed: ${p(L.live)} still runs ${COMPILED_DIR}/${from}, current unchanged${compiled.fresh ? `, ${p(db)} removed` : ''}`;
  const short = supervisionShortfall(ctx, oldLongruns);
  const run = short === null ? withLimits(ctx, [ctx.programs.update, '-t', String(opts.rcTimeoutMs), '-l', L.live, '-f', L.conversion, db], sizes, { stack: true, files: true }) : short;
  if (typeof run === 'string') {
    if (compiled.fresh) removeDb(L, hash);
    io.err(`vmsvc: ${run}\nvmsvc: ${unchanged}\n`);
    return EXIT.system;
  }
  // What an interrupted run stopped and recovery left to this update counts as up: it is brought up on the new database.
  const listed = upServices(ctx.rc);
  const up = typeof listed === 'string' ? listed : new Set([...listed, ...deferred]);
  const handover = typeof up === 'string' ? up : handOver(ctx, plan, from, up, newlyMarked.map((m) => m.pipeline));
  if (typeof handover === 'string') {
    if (compiled.fresh) removeDb(L, hash);
    // handOver brought back what it stopped.
    clearIntent(L.state);
    io.err(`vmsvc: ${handover}\nvmsvc: ${unchanged}\n`);
    return EXIT.system;
  }
  writeAtomically(L, L.conversion, conversionFile(plan));
  const r = ctx.runner.run(run.argv);
  passStderr(io, r);
  // s6-rc-update killed alone (apply lives on) leaves what a kill of both leaves: undone before relinking, which needs s6-svscan to scan.
  if (r.code !== 0) undoUpdateLeftovers(ctx);
  // Also after a switch: s6-rc-update may have died before linking the new directories.
  const unlinked = relink(supervision(ctx));
  if (unlinked !== null) io.err(`vmsvc: warning: ${unlinked}\n`);
  if (r.code === 0 || runsSafely(L) === hash) {
    boundary('switched');
    const next = afterSwitch(links, hash, from);
    setLinks(L, next);
    prune(L, keptHashes(next, hash));
    boundary('linked');
    for (const line of describePlan(plan)) io.out(`  ${line}\n`);
    reclaim(ctx);
    const inNew = new Set(servicesOf(tree).keys());
    const back = upChange(ctx.rc, handover.filter((name) => inNew.has(name)));
    boundary('restored');
    if (r.code === 0 && back) {
      io.out(`vmsvc: switched ${p(L.live)} to ${COMPILED_DIR}/${hash} (${ctx.vms}): ${summary(plan)}\n`);
      return done(ctx, newlyMarked.length === 0 ? EXIT.ok : bringUp(ctx, newlyMarked.map((m) => m.pipeline), newlyMarked));
    }
    if (r.code !== 0) failed(io, run.program, run.argv, r);
    io.err(`vmsvc: s6-rc-update did switch ${p(L.live)} to ${COMPILED_DIR}/${hash}, so current points at it (previous: ${COMPILED_DIR}/${from}); `
      + `some services did not come up: see \`s6-rc -l ${p(L.live)} -a list\`\n`);
    return EXIT.failed;
  }
  if (compiled.fresh) removeDb(L, hash);
  failed(io, run.program, run.argv, r);
  const back = upChange(ctx.rc, handover);
  if (back) clearIntent(L.state);
  io.err(`vmsvc: ${unchanged}${back ? '' : '; the services stopped for the update did not all come back up (the next apply tries again)'}\n`);
  return EXIT.system;
}

/**
 * Records the journal (the services `up` now, the newly marked ones), then
 * stops, on the old database, the services s6-rc-update would restart (and,
 * as s6-rc does, what depends on them), then unsupervises every longrun that
 * is down. Returns the services it stopped, to bring up again after the
 * update; or why it could not (the stopped ones are then up again).
 */
function handOver(ctx: Ctx, plan: ConversionPlan, from: string, up: ReadonlySet<string>, autostart: readonly string[]): string[] | string {
  journal(ctx, from, up, autostart);
  const restarting = restartedBy(plan).filter((n) => up.has(n));
  let stillUp = up;
  if (restarting.length > 0) {
    const down = downChange(ctx.rc, restarting);
    const after = upServices(ctx.rc);
    if (!down || typeof after === 'string') {
      // s6-rc -u on what is up does nothing: ask for everything that was.
      upChange(ctx.rc, [...up].sort(compareBytes));
      return down && typeof after === 'string' ? after : 'stopping the services the update restarts failed (above)';
    }
    stillUp = after;
    boundary('stopped');
  }
  const stopped = [...up].filter((n) => !stillUp.has(n)).sort(compareBytes);
  const why = unsupervise(supervision(ctx), downLongruns(ctx.L.live, stillUp));
  if (why === null) {
    boundary('unsupervised');
    return stopped;
  }
  upChange(ctx.rc, stopped);
  return `cannot take the stopped services out of supervision before s6-rc-update: ${why}`;
}

function supervision(ctx: Ctx): Supervision {
  return { live: ctx.L.live, scandir: ctx.L.scandir, prefix: ctx.opts.prefix, svscanctl: ctx.programs.svscanctl, runner: ctx.runner };
}

function summary(plan: ConversionPlan): string {
  const restarts = plan.restarted.length + plan.retyped.length;
  const knock = plan.knockOn.length === 0 ? '' : ` (+${plan.knockOn.length} if up)`;
  return `${plan.added.length} added, ${plan.removed.length} removed, ${restarts} restarted${knock}`;
}

/** A program to run, and the argv that runs it (with s6-softlimit in front when it needs higher limits). */
interface Invocation {
  readonly program: readonly string[];
  readonly argv: readonly string[];
}

/** What one s6-rc program needs for databases of these sizes (s6rc-resources.ts). */
interface Needs {
  readonly stack?: boolean;
  readonly files?: boolean;
}

/**
 * `program` with the stack and open files it needs for databases of these
 * sizes: as is when this process's soft limits (which children inherit) are
 * enough, else through `s6-softlimit -s/-o` (node cannot raise its own
 * limits, and s6-softlimit comes with s6, which every host running s6-rc
 * has). A message when even a hard limit is too low.
 */
function withLimits(ctx: Ctx, program: readonly string[], sizes: readonly DbSize[], needs: Needs): Invocation | string {
  const name = p(path.basename(program[0] ?? ''));
  const services = plural(Math.max(...sizes.map((s) => s.atoms)), 'service');
  const raise: string[] = [];
  const wanted = [
    ...(needs.stack === true ? [{ flag: '-s', need: stackBytes(sizes), own: ownLimit('Max stack size'), what: (n: number) => `a stack of ${mib(n)}`, unit: mib, how: 'ulimit -Hs, or s6-softlimit -H -s at boot' }] : []),
    ...(needs.files === true ? [{ flag: '-o', need: openFiles(sizes), own: ownLimit('Max open files'), what: (n: number) => `${n} open files`, unit: String, how: 'ulimit -Hn, or s6-softlimit -H -o at boot' }] : []),
  ];
  for (const w of wanted) {
    if (w.own !== null && w.own.soft >= w.need) continue;
    if (w.own !== null && w.own.hard < w.need) {
      return `${name} needs ${w.what(w.need)} for this database (${services}) and the hard limit is ${w.unit(w.own.hard)}: `
        + `raise it (${w.how}) to ${w.need} or more`;
    }
    raise.push(w.flag, String(w.need));
  }
  return { program, argv: raise.length === 0 ? program : [ctx.programs.softlimit, ...raise, ...program] };
}

function mib(bytes: number): string {
  return `${Math.ceil(bytes / (1024 * 1024))} MiB`;
}

/**
 * Why the s6-svscan on the scandir cannot supervise the new database, or
 * null. `oldLongruns`: the live database's, whose directories the update
 * replaces. Without an s6-svscan to look at (none yet, or no /proc), a
 * database larger than s6-svscan's defaults gets a warning naming the flags.
 */
function supervisionShortfall(ctx: Ctx, oldLongruns: readonly string[]): string | null {
  const { L, io, opts } = ctx;
  const needs = supervisionNeedsOf(ctx, oldLongruns);
  const svscan = findSvscan(L.scandir);
  if (svscan === null) {
    if (needs.servicesMax > 1000 || needs.nameMax > 251) io.err(`vmsvc: warning: no s6-svscan found on ${p(L.scandir)} to check; ${needsLine(ctx, [ctx.size], oldLongruns)}\n`);
    return null;
  }
  const why = shortfalls(needs, svscan.limits, svscan.openFiles);
  if (why.length === 0) return null;
  return `the s6-svscan on ${p(L.scandir)} (pid ${svscan.pid}) cannot supervise ${COMPILED_DIR}/${ctx.hash} (${ctx.vms}): ${why.join('; ')} `
    + `(prefix ${JSON.stringify(opts.prefix)}; see \`vmsvc apply --dry-run\`)`;
}

function supervisionNeedsOf(ctx: Ctx, oldLongruns: readonly string[]): SupervisionNeeds {
  const ours = new Set(oldLongruns.map((n) => `${ctx.opts.prefix}${n}`));
  let others = 0;
  try {
    others = fs.readdirSync(ctx.L.scandir).filter((n) => !n.startsWith('.') && !ours.has(n)).length;
  } catch (e) {
    if (errnoOf(e) !== 'ENOENT') throw e;
  }
  return supervisionNeeds(ctx.size, ctx.opts.prefix, others, oldLongruns);
}

/** What the supervision tree and the s6-rc programs need for the new database, in one sentence. */
function needsLine(ctx: Ctx, sizes: readonly DbSize[], oldLongruns: readonly string[]): string {
  const n = supervisionNeedsOf(ctx, oldLongruns);
  return `the supervision tree must allow ${n.servicesMax} service directories (s6-svscan -C, default 1000), `
    + `names of ${n.nameMax} bytes (-L, default 251) and ${n.openFiles} open files (s6rc-fdholder); `
    + `s6-rc-compile and s6-rc-update need a stack of ${mib(stackBytes(sizes))}, s6-rc-init and s6-rc-update ${openFiles(sizes)} open files`;
}

/**
 * Makes sure DB(hash) is a complete database of `tree`: reuses one whose
 * source copy matches (e.g. going back to `previous`), else compiles. The
 * tree is compiled from a staged copy that becomes the database's source
 * copy, so nothing the admin commands read ever shows a tree that is not
 * live; a refused tree is kept as STATE/rejected. Returns the exit code on failure.
 */
function ensureCompiled(ctx: Ctx, running: string | null): { fresh: boolean } | number {
  const { L, hash, io, tree } = ctx;
  const db = dbPath(L, hash);
  const copy = `${db}${SOURCE_SUFFIX}`;
  if (isDir(db) && isDir(copy) && sameTree(copy, tree)) return { fresh: false };
  const still = running === null ? 'nothing started' : `nothing changed: the live system still runs ${COMPILED_DIR}/${running}`;
  const staged = path.join(L.compiled, `${TEMP_PREFIX}${hash}${SOURCE_SUFFIX}-${tempSuffix()}`);
  const compile = withLimits(ctx, [ctx.programs.compile, db, staged], [ctx.size], { stack: true });
  if (typeof compile === 'string') {
    io.err(`vmsvc: ${compile}\nvmsvc: ${still}, current unchanged\n`);
    return EXIT.system;
  }
  // A database without its source copy is a leftover of a killed run; s6-rc-compile wants a new directory.
  removeDb(L, hash);
  const argv = compile.argv;
  let r: CommandResult;
  try {
    fs.mkdirSync(L.compiled, { recursive: true });
    writeEntries(staged, tree);
    boundary('staged');
    r = ctx.runner.run(argv);
  } catch (e) {
    // Out of space or I/O: a partial copy would stay in the way of every later run.
    removeDb(L, hash);
    fs.rmSync(staged, { recursive: true, force: true });
    throw new CommandError(`cannot stage the tree to compile in ${p(L.compiled)}: ${p(e instanceof Error ? e.message : String(e))}; ${still}, current unchanged, the partial copy removed`, EXIT.system);
  }
  passStderr(io, r);
  if (r.code !== 0 || !isDir(db)) {
    removeDb(L, hash);
    // s6-rc-compile exits 1 for "error in a source directory": the tree itself was refused, and is kept to look at.
    const refused = r.code === 1;
    if (refused) {
      fs.rmSync(L.rejected, { recursive: true, force: true });
      fs.renameSync(staged, L.rejected);
    } else fs.rmSync(staged, { recursive: true, force: true });
    failed(io, compile.program, argv, r.code === 0 ? { ...r, stderr: `${r.stderr}(exit 0 but ${db} was not created)\n` } : r);
    io.err(`vmsvc: ${still}, current unchanged, ${p(db)} removed; ${refused ? `the refused tree is in ${p(L.rejected)}` : 'the staged copy removed'}\n`);
    return refused ? EXIT.failed : EXIT.system;
  }
  fs.renameSync(staged, copy);
  io.out(`vmsvc: compiled ${p(db)}\n`);
  return { fresh: true };
}

const p = printable;

function plural(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? '' : 's'}`;
}


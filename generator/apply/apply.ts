/**
 * `vmsvc apply`: generate the source tree (keep-going), compile it into a
 * database named by the tree's hash, and make the live s6-rc system run it:
 * `s6-rc-init` the first time (no live directory), `s6-rc-update` with a
 * conversion file afterwards. Programs run through an injected CommandRunner;
 * everything written lives in the state directory (layout: db-rotation.ts).
 * This module is the run's flow: what happened before it (a killed run's
 * leftovers, its journal), then the first start (first-start.ts) or the
 * update (live-update.ts), then the record of where the live system is.
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
import { printable } from '../util/bytes.js';
import type { CommandRunner } from '../util/command-runner.js';
import { errnoOf } from '../util/errno.js';
import { plural } from '../util/plural.js';
import { userId } from '../util/account-db.js';
import { EXIT, guard, sayFailure, type ExitCode, type Io } from '../command/shell.js';
import { WHERE_FILE, whereJson } from '../command/where.js';
import { NO_LAST_GOOD, type CheckResult, type LastGoodVm } from '../pipeline/check.js';
import { assignIdentities, type Principal, type VmIdentities } from '../pipeline/identities.js';
import { buildTree, checkDataDir } from '../pipeline/index.js';
import type { GeneratorOptions } from '../pipeline/options.js';
import { MANIFEST_FILE } from '../pipeline/manifest.js';
import type { FileTree } from '../pipeline/render.js';
import { formatDiagnostics, formatSkipped, whyRefused } from '../pipeline/report.js';
import { treeHash } from '../pipeline/write-tree.js';
import { serviceName, type VmName } from '../rules/vm-name.js';
import { servicesOf } from '../s6rc/conversion.js';
import { dbSize, S6RC_OWN_LONGRUNS } from '../s6rc/resources.js';
import { afterSwitch, COMPILED_DIR, keptHashes, SOURCE_SUFFIX, type DbLinks } from './db-rotation.js';
import { start } from './first-start.js';
import { liveVms, running, type LastGood, type LiveVm } from './last-good.js';
import { upServices } from './live-rc.js';
import { update } from './live-update.js';
import type { ApplyOptions } from './options.js';
import { defaultS6rcPrograms } from './programs.js';
import { pipelinesOf, repairPipes } from './pipe-repair.js';
import type { OwnedDirs } from './reclaim.js';
import { finishInterrupted } from './recover.js';
import { supervision, undoUpdateLeftovers, type Ctx } from './run-context.js';
import {
  dbPath, prune, readSourceCopy, readState, runsSafely, setLinks, sourceLinkIs, stateLayout, sweepLeftovers, withLock, writeAtomically,
} from './state-dir.js';
import { dropDangling, relink } from './supervisors.js';

const p = printable;

/**
 * The tree apply would compile, and its hash (the database's name);
 * `lastGood`: the running VMs' definitions, kept when their new one is refused.
 */
export function desiredTree(
  opts: Pick<ApplyOptions, 'data' | 'prefix' | 'generator'>,
  lastGood: ReadonlyMap<string, LastGoodVm> = NO_LAST_GOOD,
): { check: CheckResult; tree: FileTree; hash: string } {
  const gen: GeneratorOptions = { ...opts.generator, livePrefix: opts.prefix };
  const { root, result } = checkDataDir(opts.data, gen, lastGood);
  const tree = buildTree(root, result, gen);
  return { check: result, tree, hash: treeHash(tree) };
}

/**
 * Exit codes: 1 s6-rc-compile refused the tree, or services failed to come
 * up (the database is loaded all the same); 111 a program could not run or
 * failed otherwise, I/O, a limit the host refuses.
 */
export function runApply(opts: ApplyOptions, runner: CommandRunner, io: Io): number {
  return guard(io, () => apply(opts, runner, io));
}

function apply(opts: ApplyOptions, runner: CommandRunner, io: Io): number {
  const L = stateLayout(opts);
  const programs = { ...defaultS6rcPrograms, ...opts.programs };
  const run: Run = { opts, L, runner, io, programs, rc: { rc: programs.rc, live: L.live, timeoutMs: opts.rcTimeoutMs, runner, io } };
  if (opts.dryRun) return step(run);
  const locked = withLock(L, () => step(run));
  return locked.ok ? locked.value : sayFailure(locked.error, io.err);
}

/** What a run knows before it has read the live system. */
type Run = Pick<Ctx, 'opts' | 'L' | 'runner' | 'io' | 'programs' | 'rc'>;

/**
 * The tree to apply, checked once the live database `from` is known (under
 * the lock), and the VMs held in it. Prints the check's diagnostics and
 * skipped VMs.
 */
function context(run: Run, from: string | null): { ctx: Ctx; held: CheckResult['held'] } {
  const { opts, io, L } = run;
  let desired = desiredTree(opts);
  let last: LastGood | null = null;
  // Only a VM of the live tree that this check leaves out can be held: else
  // neither its manifest nor s6-rc is asked, and the tree checked is the one.
  if (from !== null && !opts.dropInvalid && desired.check.skipped.length > 0) {
    const live = liveVms(path.join(`${dbPath(L, from)}${SOURCE_SUFFIX}`, MANIFEST_FILE));
    if (desired.check.skipped.some((s) => live.has(s.name))) {
      last = runningOf(run, live);
      if (last.vms.size > 0) desired = desiredTree(opts, last.vms);
    }
  }
  const { check, tree, hash } = desired;
  for (const line of formatDiagnostics(check.diagnostics)) io.err(line);
  io.err(formatSkipped(check));
  for (const s of check.skipped) {
    if (last?.unreadable.has(s.name)) io.err(`vmsvc: warning: VM ${p(s.name)} runs, but the live tree's manifest does not hold the whole definition it runs (an older vmsvc wrote it): it cannot be kept on it, and is removed\n`);
  }
  const ctx: Ctx = {
    ...run, tree, hash,
    vms: plural(check.vms.length, 'VM'),
    size: dbSize(tree),
    marked: check.vms.filter((vm) => vm.autostart).map((vm) => ({ vm: vm.name, pipeline: serviceName.pipeline(vm.name) })),
    dirs: ownedDirs(opts.generator, check.vms.map((vm) => vm.name)),
  };
  return { ctx, held: check.held };
}

/** The live VMs that run, with their last good definitions; none, with a warning, when s6-rc cannot tell which run. */
function runningOf(run: Run, live: ReadonlyMap<string, LiveVm>): LastGood {
  const up = upServices(run.rc);
  if (up.ok) return running(live, up.value);
  run.io.err(`vmsvc: warning: ${up.error}: no VM is kept on its last good definition\n`);
  return running(live, new Set());
}

/**
 * A held VM runs on as it was: the update went through, but what was asked
 * for is not fine (exit 1) until its files are fixed or its directory removed.
 */
function heldVerdict(io: Io, held: CheckResult['held'], data: string): ExitCode {
  for (const h of held) {
    io.err(`vmsvc: VM ${p(h.name)}: held on its last good definition, which keeps running: its new one ${p(whyRefused(h))}; `
      + `fix that, or remove ${p(path.resolve(data, h.name))} (or apply --drop-invalid) to remove the VM\n`);
  }
  return held.length === 0 ? EXIT.ok : EXIT.failed;
}

function step(run: Run): number {
  const { L, io, opts } = run;
  // First: until the directories a killed s6-rc-update moved out are back, s6-svscan scans no more.
  undoUpdateLeftovers(run);
  const state = readState(L);
  if (!state.ok) return sayFailure(state.error, io.err);
  const { links, from } = state.value;
  const { ctx, held } = context(run, from);
  const swept = sweepLeftovers(L, keptHashes(links, from), opts.dryRun);
  if (swept.length > 0) io.out(`vmsvc: ${opts.dryRun ? 'dry run: would remove' : 'removed'} what an interrupted run left: ${swept.map(p).join(', ')}\n`);
  if (from !== null && !opts.dryRun) {
    const source = readSourceCopy(L, from);
    if (!source.ok) return sayFailure(source.error, io.err);
    // A run killed inside s6-rc-update may leave links to the service dirs of services it removed.
    const dropped = dropDangling(supervision(ctx), new Set([...servicesOf(source.value).keys(), ...S6RC_OWN_LONGRUNS]));
    if (!dropped.ok) io.err(`vmsvc: warning: ${dropped.error}\n`);
    else if (dropped.value.length > 0) io.out(`vmsvc: removed the links an interrupted s6-rc-update left in ${p(L.scandir)} to service dirs the live database no longer has: ${dropped.value.map(p).join(', ')}\n`);
    // A run killed after it unsupervised the stopped longruns (supervisors.ts) left them without a link.
    const linked = relink(supervision(ctx));
    if (!linked.ok) io.err(`vmsvc: warning: ${linked.error}\n`);
    // A run killed inside s6-rc-update left pipelines without their pipe: whatever starts them would wait forever.
    const pipes = repairPipes({ rc: ctx.rc, programs: ctx.programs.pipes, pipelines: pipelinesOf(source.value) });
    if (!pipes.ok) io.err(`vmsvc: warning: ${pipes.error}\n`);
    else if (pipes.value.length > 0) io.out(`vmsvc: an interrupted s6-rc-update left ${plural(pipes.value.length, 'pipeline')} without a pipe in s6rc-fdholder; gave them a new one: ${pipes.value.map(p).join(', ')}\n`);
  }
  const finished = finishInterrupted(ctx.rc, L, ctx.tree, opts.dryRun);
  if (!finished.ok) return sayFailure(finished.error, io.err);
  const recovered = finished.value;
  const code = Math.max(recovered.code, from === null ? start(ctx, links) : onLive(ctx, links, from, recovered.deferred));
  if (!opts.dryRun && runsSafely(L) !== null) record(ctx);
  return Math.max(code, heldVerdict(io, held, opts.data));
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

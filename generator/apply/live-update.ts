/**
 * An update of a live system that runs database `from`: compile, then
 * s6-rc-update with a conversion file. Around it (supervisors.ts says why):
 * the services s6-rc-update would restart are stopped first, on the old
 * database, and every longrun then down is unsupervised; after the switch
 * the stopped services are brought up on the new one, then the VMs newly
 * marked for autostart. If s6-rc-update does not switch, the old database
 * gets its supervisors and its stopped services back.
 */
import { compareBytes, printable } from '../util/bytes.js';
import { fail, ok, type Result } from '../util/result.js';
import { EXIT, sayFailure, type ExitCode } from '../command/shell.js';
import { bundleMembers, conversionFile, describePlan, planConversion, restartedBy, servicesOf, type ConversionPlan } from '../s6rc/conversion.js';
import { needsLine, supervisionShortfall, withLimits } from '../s6rc/host-limits.js';
import { dbSize } from '../s6rc/resources.js';
import { ensureCompiled } from './compile.js';
import { afterSwitch, COMPILED_DIR, keptHashes, type DbLinks } from './db-rotation.js';
import { clearIntent } from './intent.js';
import { downChange, failed, passStderr, upChange, upServices } from './live-rc.js';
import { boundary } from './pause-hook.js';
import { autostartLine, bringUp, done, journal, reclaim, supervised, supervision, undoUpdateLeftovers, type Ctx } from './run-context.js';
import { dbPath, prune, readSourceCopy, removeDb, runsSafely, setLinks, writeAtomically } from './state-dir.js';
import { downLongruns, relink, unsupervise } from './supervisors.js';
import { manifestOf, vmChanges } from './vm-changes.js';

const p = printable;

/**
 * `deferred`: services an interrupted run stopped that are to come up as if
 * they had been up (recover.ts). Exit 111 when the update could not run or
 * did not switch; 1 when it switched and some services or autostart VMs did
 * not come up.
 */
export function update(ctx: Ctx, links: DbLinks, from: string, deferred: readonly string[]): ExitCode {
  const { L, hash, io, opts, tree } = ctx;
  const source = readSourceCopy(L, from);
  if (!source.ok) return sayFailure(source.error, io.err);
  const before = source.value;
  const plan = planConversion(before, tree);
  const db = dbPath(L, hash);
  const sizes = [dbSize(before), ctx.size];
  const target = supervised(ctx, sizes[0]?.longruns ?? []);
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
    io.out(`vmsvc: dry run: ${needsLine(target, sizes)}\n`);
    io.out(`vmsvc: dry run: ${summary(plan)}; nothing run, nothing written\n`);
    return EXIT.ok;
  }
  const compiled = ensureCompiled(ctx, from);
  if (!compiled.ok) return compiled.error;
  const { fresh } = compiled.value;
  boundary('compiled');
  const unchanged = `nothing changed: ${p(L.live)} still runs ${COMPILED_DIR}/${from}, current unchanged${fresh ? `, ${p(db)} removed` : ''}`;
  const short = supervisionShortfall(target, `${COMPILED_DIR}/${hash} (${ctx.vms})`, (line) => io.err(`vmsvc: warning: ${line}\n`));
  const run = short.ok
    ? withLimits(ctx.programs.softlimit, [ctx.programs.update, '-t', String(opts.rcTimeoutMs), '-l', L.live, '-f', L.conversion, db], sizes, { stack: true, files: true })
    : short;
  if (!run.ok) {
    if (fresh) removeDb(L, hash);
    io.err(`vmsvc: ${run.error}\nvmsvc: ${unchanged}\n`);
    return EXIT.system;
  }
  const { argv, program } = run.value;
  // What an interrupted run stopped and recovery left to this update counts as up: it is brought up on the new database.
  const listed = upServices(ctx.rc);
  const handover = listed.ok ? handOver(ctx, plan, from, new Set([...listed.value, ...deferred]), newlyMarked.map((m) => m.pipeline)) : listed;
  if (!handover.ok) {
    if (fresh) removeDb(L, hash);
    // handOver brought back what it stopped.
    clearIntent(L.state);
    io.err(`vmsvc: ${handover.error}\nvmsvc: ${unchanged}\n`);
    return EXIT.system;
  }
  const stopped = handover.value;
  writeAtomically(L, L.conversion, conversionFile(plan));
  const r = ctx.runner.run(argv);
  passStderr(io, r);
  // s6-rc-update killed alone (apply lives on) leaves what a kill of both leaves: undone before relinking, which needs s6-svscan to scan.
  if (r.code !== 0) undoUpdateLeftovers(ctx);
  // Also after a switch: s6-rc-update may have died before linking the new directories.
  const linked = relink(supervision(ctx));
  if (!linked.ok) io.err(`vmsvc: warning: ${linked.error}\n`);
  if (r.code === 0 || runsSafely(L) === hash) {
    boundary('switched');
    const next = afterSwitch(links, hash, from);
    setLinks(L, next);
    prune(L, keptHashes(next, hash));
    boundary('linked');
    for (const line of describePlan(plan)) io.out(`  ${line}\n`);
    reclaim(ctx);
    const inNew = new Set(servicesOf(tree).keys());
    const back = upChange(ctx.rc, stopped.filter((name) => inNew.has(name)));
    boundary('restored');
    if (r.code === 0 && back) {
      io.out(`vmsvc: switched ${p(L.live)} to ${COMPILED_DIR}/${hash} (${ctx.vms}): ${summary(plan)}\n`);
      return done(ctx, newlyMarked.length === 0 ? EXIT.ok : bringUp(ctx, newlyMarked.map((m) => m.pipeline), newlyMarked));
    }
    if (r.code !== 0) failed(io, program, argv, r);
    io.err(`vmsvc: s6-rc-update did switch ${p(L.live)} to ${COMPILED_DIR}/${hash}, so current points at it (previous: ${COMPILED_DIR}/${from}); `
      + `some services did not come up: see \`s6-rc -l ${p(L.live)} -a list\`\n`);
    return EXIT.failed;
  }
  if (fresh) removeDb(L, hash);
  failed(io, program, argv, r);
  const back = upChange(ctx.rc, stopped);
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
function handOver(ctx: Ctx, plan: ConversionPlan, from: string, up: ReadonlySet<string>, autostart: readonly string[]): Result<string[]> {
  journal(ctx, from, up, autostart);
  const restarting = restartedBy(plan).filter((n) => up.has(n));
  let stillUp = up;
  if (restarting.length > 0) {
    const down = downChange(ctx.rc, restarting);
    const after = upServices(ctx.rc);
    if (!down || !after.ok) {
      // s6-rc -u on what is up does nothing: ask for everything that was.
      upChange(ctx.rc, [...up].sort(compareBytes));
      return down && !after.ok ? after : fail('stopping the services the update restarts failed (above)');
    }
    stillUp = after.value;
    boundary('stopped');
  }
  const stopped = [...up].filter((n) => !stillUp.has(n)).sort(compareBytes);
  const unsupervised = unsupervise(supervision(ctx), downLongruns(ctx.L.live, stillUp));
  if (unsupervised.ok) {
    boundary('unsupervised');
    return ok(stopped);
  }
  upChange(ctx.rc, stopped);
  return fail(`cannot take the stopped services out of supervision before s6-rc-update: ${unsupervised.error}`);
}

function summary(plan: ConversionPlan): string {
  const restarts = plan.restarted.length + plan.retyped.length;
  const knock = plan.knockOn.length === 0 ? '' : ` (+${plan.knockOn.length} if up)`;
  return `${plan.added.length} added, ${plan.removed.length} removed, ${restarts} restarted${knock}`;
}

/**
 * The first start of a live system (no live directory yet): compile, point
 * `current` at the database, `s6-rc-init` on it, then autostart the whole
 * autostart bundle.
 */
import { plural } from '../util/plural.js';
import { printable } from '../util/bytes.js';
import { EXIT, type ExitCode } from '../command/shell.js';
import { describePlan, planConversion } from '../s6rc/conversion.js';
import { needsLine, supervisionShortfall, withLimits } from '../s6rc/host-limits.js';
import { ensureCompiled } from './compile.js';
import { afterSwitch, COMPILED_DIR, keptHashes, type DbLinks } from './db-rotation.js';
import { clearIntent } from './intent.js';
import { failed, passStderr } from './live-rc.js';
import { boundary } from './pause-hook.js';
import { autostartLine, bringUp, done, journal, reclaim, supervised, type Ctx } from './run-context.js';
import { dbPath, prune, removeDb, setLinks } from './state-dir.js';
import { lexists } from '../util/fs-probe.js';

const p = printable;

/** Exit 111 when s6-rc-init could not run or failed; 1 when an autostart VM did not come up. */
export function start(ctx: Ctx, links: DbLinks): ExitCode {
  const { L, hash, io, opts, tree } = ctx;
  const plan = planConversion(new Map(), tree);
  const db = dbPath(L, hash);
  const autostart = opts.autostart ? ctx.marked : [];
  const rest = autostart.length === 0 ? 'all' : 'the others';
  const downHint = `${autostart.length === 0 ? '' : `${autostartLine(autostart)}; `}${rest} down until \`s6-rc -l ${p(L.live)} -u change ${p(opts.generator.bundle)}\``;
  if (opts.dryRun) {
    io.out(`vmsvc: dry run: would compile ${p(db)} and start a live s6-rc on ${p(L.scandir)} (${ctx.vms}, ${plural(plan.added.length, 'service')}, ${downHint}):\n`);
    for (const line of describePlan(plan)) io.out(`  ${line}\n`);
    io.out(`vmsvc: dry run: ${needsLine(supervised(ctx, []), [ctx.size])}\n`);
    io.out('vmsvc: dry run: nothing run, nothing written\n');
    return EXIT.ok;
  }
  const compiled = ensureCompiled(ctx, null);
  if (!compiled.ok) return compiled.error;
  const { fresh } = compiled.value;
  boundary('compiled');
  const short = supervisionShortfall(supervised(ctx, []), `${COMPILED_DIR}/${hash} (${ctx.vms})`, (line) => io.err(`vmsvc: warning: ${line}\n`));
  const init = short.ok
    ? withLimits(ctx.programs.softlimit, [ctx.programs.init, '-t', String(opts.rcTimeoutMs), '-c', L.current, '-l', L.live, ...(opts.prefix === '' ? [] : ['-p', opts.prefix]), L.scandir], [ctx.size], { files: true })
    : short;
  if (!init.ok) {
    if (fresh) removeDb(L, hash);
    io.err(`vmsvc: ${init.error}\nvmsvc: nothing started, current unchanged${fresh ? `, ${p(db)} removed` : ''}\n`);
    return EXIT.system;
  }
  const { argv, program } = init.value;
  journal(ctx, null, [], autostart.length === 0 ? [] : [opts.generator.autostartBundle]);
  const next = afterSwitch(links, hash, null);
  setLinks(L, next);
  const r = ctx.runner.run(argv);
  passStderr(io, r);
  if (r.code !== 0) {
    setLinks(L, links);
    clearIntent(L.state);
    if (fresh) removeDb(L, hash);
    failed(io, program, argv, r);
    const undo = links.current === null ? 'current removed' : `current points at ${COMPILED_DIR}/${links.current} again`;
    io.err(`vmsvc: nothing started; ${undo}${fresh ? `, ${p(db)} removed` : ''}\n`);
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

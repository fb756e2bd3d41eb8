/**
 * The database of a tree, made sure of: one whose source copy matches is
 * reused (going back to `previous`), else the tree is staged in compiled/
 * and s6-rc-compile run on it. The staged copy becomes the database's
 * source copy, so nothing the admin commands read ever shows a tree that
 * is not live; a refused tree is kept as STATE/rejected to look at.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { printable } from '../util/bytes.js';
import type { CommandResult } from '../util/command-runner.js';
import { isDir } from '../util/fs-probe.js';
import { fail, ok, type Result } from '../util/result.js';
import { tempSuffix } from '../util/temp-name.js';
import { EXIT, type ExitCode } from '../command/shell.js';
import { sameTree, writeEntries } from '../pipeline/write-tree.js';
import { withLimits } from '../s6rc/host-limits.js';
import { COMPILED_DIR, SOURCE_SUFFIX, TEMP_PREFIX } from './db-rotation.js';
import { failed, passStderr } from './live-rc.js';
import { boundary } from './pause-hook.js';
import type { Ctx } from './run-context.js';
import { dbPath, removeDb } from './state-dir.js';

const p = printable;

/**
 * DB(hash) as a complete database of the run's tree: whether it was
 * compiled now (`fresh`: a failure after this removes it), or the exit
 * code once the failure is said (1: s6-rc-compile refused the tree; 111:
 * it could not run, or staging failed). `running`: the database the live
 * system runs, for the message.
 */
export function ensureCompiled(ctx: Ctx, running: string | null): Result<{ fresh: boolean }, ExitCode> {
  const { L, hash, io, tree } = ctx;
  const db = dbPath(L, hash);
  const copy = `${db}${SOURCE_SUFFIX}`;
  if (isDir(db) && isDir(copy) && sameTree(copy, tree)) return ok({ fresh: false });
  const still = running === null ? 'nothing started' : `nothing changed: the live system still runs ${COMPILED_DIR}/${running}`;
  const staged = path.join(L.compiled, `${TEMP_PREFIX}${hash}${SOURCE_SUFFIX}-${tempSuffix()}`);
  const compile = withLimits(ctx.programs.softlimit, [ctx.programs.compile, db, staged], [ctx.size], { stack: true });
  if (!compile.ok) {
    io.err(`vmsvc: ${compile.error}\nvmsvc: ${still}, current unchanged\n`);
    return fail(EXIT.system);
  }
  // A database without its source copy is a leftover of a killed run; s6-rc-compile wants a new directory.
  removeDb(L, hash);
  const { argv, program } = compile.value;
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
    io.err(`vmsvc: cannot stage the tree to compile in ${p(L.compiled)}: ${p(e instanceof Error ? e.message : String(e))}; ${still}, current unchanged, the partial copy removed\n`);
    return fail(EXIT.system);
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
    failed(io, program, argv, r.code === 0 ? { ...r, stderr: `${r.stderr}(exit 0 but ${db} was not created)\n` } : r);
    io.err(`vmsvc: ${still}, current unchanged, ${p(db)} removed; ${refused ? `the refused tree is in ${p(L.rejected)}` : 'the staged copy removed'}\n`);
    return fail(refused ? EXIT.failed : EXIT.system);
  }
  fs.renameSync(staged, copy);
  io.out(`vmsvc: compiled ${p(db)}\n`);
  return ok({ fresh: true });
}

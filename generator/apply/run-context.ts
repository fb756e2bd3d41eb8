/**
 * What one apply run knows (Ctx), and the steps its first start
 * (first-start.ts) and its live update (live-update.ts) both take: the
 * journal and its end, autostart, the dirs taken back, the leftovers of a
 * killed s6-rc-update undone, and the supervision tree the limits are
 * judged against.
 */
import { compareBytes, printable } from '../util/bytes.js';
import type { CommandRunner } from '../util/command-runner.js';
import { plural } from '../util/plural.js';
import { EXIT, type ExitCode, type Io } from '../command/shell.js';
import type { FileTree } from '../pipeline/render.js';
import type { Supervised } from '../s6rc/host-limits.js';
import type { DbSize } from '../s6rc/resources.js';
import { clearIntent, writeIntent } from './intent.js';
import { upChange, type LiveRc } from './live-rc.js';
import type { ApplyOptions } from './options.js';
import type { S6rcPrograms } from './programs.js';
import { boundary } from './pause-hook.js';
import { reclaimDirs, type OwnedDirs } from './reclaim.js';
import type { StateLayout } from './state-dir.js';
import type { Supervision } from './supervisors.js';
import { describeLeft, leftBesideLive, rollBack } from './update-rollback.js';

export interface Ctx {
  readonly opts: ApplyOptions;
  readonly L: StateLayout;
  readonly programs: S6rcPrograms;
  readonly runner: CommandRunner;
  readonly io: Io;
  readonly tree: FileTree;
  readonly hash: string;
  /** `N VMs`, for the messages. */
  readonly vms: string;
  readonly size: DbSize;
  /** The VMs marked config/autostart, by name. */
  readonly marked: readonly Marked[];
  readonly rc: LiveRc;
  /** The runtime and log dirs and who must own each VM's: what reclaim() takes back. */
  readonly dirs: readonly OwnedDirs[];
}

export interface Marked {
  readonly vm: string;
  readonly pipeline: string;
}

const p = printable;

/**
 * Records in the journal what the run is about to change live (intent.ts):
 * the services up before it stops any, and what it autostarts. Nothing to
 * record when there is neither.
 */
export function journal(ctx: Ctx, from: string | null, up: Iterable<string>, autostart: readonly string[]): void {
  const restore = [...up].sort(compareBytes);
  if (restore.length > 0 || autostart.length > 0) writeIntent(ctx.L.state, { from, to: ctx.hash, restore, autostart });
  boundary('intent');
}

/** The run brought back everything it had to: the journal goes. Otherwise it stays, and the next run tries once more. */
export function done(ctx: Ctx, code: ExitCode): ExitCode {
  boundary('autostarted');
  if (code === EXIT.ok) clearIntent(ctx.L.state);
  return code;
}

function vmsOf(marked: readonly Marked[]): string {
  return marked.map((m) => p(m.vm)).join(', ');
}

export function autostartLine(marked: readonly Marked[]): string {
  return `autostart ${plural(marked.length, 'VM')} (${vmsOf(marked)}) and what they need`;
}

/**
 * `s6-rc -u change` on `names` (the autostart bundle, or the newly marked
 * pipelines): s6-rc starts what is down among them and their dependencies,
 * and leaves what is up alone. Exit 1 when some did not come up: the
 * database is loaded all the same.
 */
export function bringUp(ctx: Ctx, names: readonly string[], pipelines: readonly Marked[]): ExitCode {
  if (upChange(ctx.rc, names)) {
    ctx.io.out(`vmsvc: autostart: up: ${vmsOf(pipelines)}\n`);
    return EXIT.ok;
  }
  ctx.io.err(`vmsvc: autostart: not every VM came up (${vmsOf(pipelines)}); the database is loaded: see \`s6-rc -l ${p(ctx.L.live)} -a list\`\n`);
  return EXIT.failed;
}

/** The dirs of gone or moved VMs given back to root (reclaim.ts) before anything starts, saying so. */
export function reclaim(ctx: Ctx): void {
  const r = reclaimDirs(ctx.dirs);
  if (!r.ok) ctx.io.err(`vmsvc: warning: ${p(r.error)}\n`);
  else if (r.value.length > 0) {
    ctx.io.out(`vmsvc: took back ${plural(r.value.length, 'dir')} whose owner no longer runs that VM (gone, or its uid moved): ${r.value.map(p).join(', ')}\n`);
  }
}

/** What a killed s6-rc-update left beside the live dir, moved back and removed (update-rollback.ts), saying so; a dry run only says. */
export function undoUpdateLeftovers(ctx: Pick<Ctx, 'L' | 'io' | 'opts'>): void {
  const { L, io, opts } = ctx;
  const left = leftBesideLive(L.live);
  if (left.length === 0) return;
  if (!opts.dryRun) rollBack(L.live, left);
  io.out(`vmsvc: ${opts.dryRun ? 'dry run: ' : ''}${describeLeft(L.live, left, opts.dryRun)}\n`);
}

export function supervision(ctx: Ctx): Supervision {
  return { live: ctx.L.live, scandir: ctx.L.scandir, prefix: ctx.opts.prefix, svscanctl: ctx.programs.svscanctl, runner: ctx.runner };
}

/** The supervision tree the new database is to run under; `oldLongruns`: the live database's, none at first start. */
export function supervised(ctx: Ctx, oldLongruns: readonly string[]): Supervised {
  return { scandir: ctx.L.scandir, prefix: ctx.opts.prefix, size: ctx.size, oldLongruns };
}

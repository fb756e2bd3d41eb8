/**
 * Finishing what an interrupted apply left undone, from its intent journal
 * (intent.ts), before the run does anything else: the services it had
 * stopped are brought up again on whichever database the live system runs
 * now (those it still has), and, when that is the database the interrupted
 * run was switching to, the VMs it was to autostart. When the live system
 * still runs the old database, the run that follows redoes the update and
 * computes the newly marked VMs afresh; the services it stopped that this
 * run's update restarts or removes are left to that update (deferred):
 * their old definition may need files the data dir has no more (a disk
 * removed, a VM's directory gone), and the update brings them up on the
 * new one; until it has, the journal keeps them. With no live directory
 * (killed before s6-rc-init got that far, or a reboot emptied /run) nothing
 * runs that the journal could bring back.
 */
import { printable, sortedBytewise } from '../util/bytes.js';
import { EXIT, failure, type Failure } from '../command/shell.js';
import { fail, ok, type Result } from '../util/result.js';
import { planConversion, restartedBy, servicesOf } from '../s6rc/conversion.js';
import type { FileTree } from '../util/file-tree.js';
import { COMPILED_DIR } from './db-rotation.js';
import { clearIntent, readIntent, writeIntent, type Intent } from './intent.js';
import { upChange, type LiveRc } from './live-rc.js';
import { liveDb, readSourceCopy, type StateLayout } from './state-dir.js';
import { plural } from '../util/plural.js';

export interface Recovery {
  readonly intent: Intent;
  /** The database the live system runs now; null without a live directory. */
  readonly live: string | null;
  /** The services to bring up, sorted. */
  readonly up: readonly string[];
  /** Those left to this run's update, which restarts or removes them, sorted. */
  readonly deferred: readonly string[];
}

/** What the journal left in STATE says is still to do, for a run that applies `desired`; null when no run was interrupted. */
export function pendingRecovery(L: StateLayout, desired: FileTree): Result<Recovery | null, Failure> {
  const read = readIntent(L.state);
  if (read.kind === 'none') return ok(null);
  if (read.kind === 'refused') {
    return fail(failure(`${printable(read.why)}; move it away if no vmsvc apply wrote it (it says what an interrupted apply left to bring back up)`, EXIT.failed));
  }
  const { intent } = read;
  const runs = liveDb(L);
  if (!runs.ok) return runs;
  const live = runs.value;
  if (live === null) return ok({ intent, live, up: [], deferred: [] });
  // Restored services that the live database no longer has were removed by the update.
  const source = readSourceCopy(L, live);
  if (!source.ok) return source;
  const has = servicesOf(source.value);
  const restore = intent.restore.filter((n) => has.has(n));
  // The autostart names (a bundle, pipelines: s6-rc-compile makes these, no source directory) were taken from `to` itself.
  if (live === intent.to) return ok({ intent, live, up: sortedBytewise(new Set([...restore, ...intent.autostart])), deferred: [] });
  const plan = planConversion(source.value, desired);
  const changing = new Set([...plan.removed, ...restartedBy(plan)]);
  return ok({ intent, live, up: sortedBytewise(restore.filter((n) => !changing.has(n))), deferred: sortedBytewise(restore.filter((n) => changing.has(n))) });
}

/** One sentence: which run was interrupted, and what is left to do. */
export function describeRecovery(r: Recovery): string {
  const { from, to } = r.intent;
  const run = `an interrupted apply (${from === null ? 'first start' : `${COMPILED_DIR}/${from}`} to ${COMPILED_DIR}/${to})`;
  if (r.live === null) return `${run} left no live system: nothing to bring back up`;
  const where = r.live === to ? 'on the new database' : r.live === from ? 'on the old database, which is still live' : `on ${COMPILED_DIR}/${r.live}`;
  const list = (names: readonly string[]): string => names.slice(0, 12).map(printable).join(', ') + (names.length > 12 ? `, and ${names.length - 12} more` : '');
  const deferred = r.deferred.length === 0 ? '' : `; ${r.deferred.length} more are this run's update's to restart or remove: ${list(r.deferred)}`;
  if (r.up.length === 0) return `${run} left nothing to bring back up ${where}${deferred}`;
  return `${run} left ${plural(r.up.length, 'service')} to bring back up ${where}: ${list(r.up)}${deferred}`;
}

/**
 * Brings up what `r` names, and leaves in the journal only what is deferred
 * to the update; false when some did not come up (those are dropped from the
 * journal all the same: retrying a VM that cannot start would fail every
 * later run).
 */
export function recover(rc: LiveRc, L: StateLayout, r: Recovery): boolean {
  const ok = upChange(rc, r.up);
  if (r.deferred.length === 0) clearIntent(L.state);
  else writeIntent(L.state, { ...r.intent, restore: [...r.deferred], autostart: [] });
  return ok;
}

/**
 * Before anything else a run does: says what an interrupted run left to do
 * and does it (a dry run only says). Exit 1 when some of it did not come up;
 * `deferred`: what the update that follows must bring up as if it were up.
 * A failure: the journal or the state it names cannot be read, and nothing
 * was done.
 */
export function finishInterrupted(rc: LiveRc, L: StateLayout, desired: FileTree, dryRun: boolean): Result<{ code: number; deferred: readonly string[] }, Failure> {
  const pending = pendingRecovery(L, desired);
  if (!pending.ok) return pending;
  const r = pending.value;
  if (r === null) return ok({ code: EXIT.ok, deferred: [] });
  if (dryRun) {
    rc.io.out(`vmsvc: dry run: ${describeRecovery(r)}; would do that first, and remove ${printable(L.state)}/intent\n`);
    return ok({ code: EXIT.ok, deferred: [] });
  }
  rc.io.out(`vmsvc: ${describeRecovery(r)}; doing that first\n`);
  if (recover(rc, L, r)) return ok({ code: EXIT.ok, deferred: r.deferred });
  rc.io.err(`vmsvc: not everything the interrupted apply left down came back up: see \`s6-rc -l ${printable(L.live)} -a list\`\n`);
  return ok({ code: EXIT.failed, deferred: r.deferred });
}

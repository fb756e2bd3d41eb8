/**
 * Finishing what an interrupted apply left undone, from its intent journal
 * (intent.ts), before the run does anything else: the services it had
 * stopped are brought up again on whichever database the live system runs
 * now (those it still has), and, when that is the database the interrupted
 * run was switching to, the VMs it was to autostart. When the live system
 * still runs the old database, the run that follows redoes the update and
 * computes the newly marked VMs afresh. With no live directory (killed
 * before s6-rc-init got that far, or a reboot emptied /run) nothing runs
 * that the journal could bring back.
 */
import { printable, sortedBytewise } from '../util/bytes.js';
import { CommandError, EXIT } from '../command/shell.js';
import { servicesOf } from '../s6rc/conversion.js';
import { COMPILED_DIR } from './db-rotation.js';
import { clearIntent, readIntent, type Intent } from './intent.js';
import { upChange, type LiveRc } from './live-rc.js';
import { liveDb, readSourceCopy, type StateLayout } from './state-dir.js';

export interface Recovery {
  readonly intent: Intent;
  /** The database the live system runs now; null without a live directory. */
  readonly live: string | null;
  /** The services to bring up, sorted. */
  readonly up: readonly string[];
}

/** What the journal left in STATE says is still to do; null when no run was interrupted. */
export function pendingRecovery(L: StateLayout): Recovery | null {
  const read = readIntent(L.state);
  if (read.kind === 'none') return null;
  if (read.kind === 'refused') {
    throw new CommandError(`${printable(read.why)}; move it away if no vmsvc apply wrote it (it says what an interrupted apply left to bring back up)`);
  }
  const { intent } = read;
  const live = liveDb(L);
  if (live === null) return { intent, live, up: [] };
  // Restored services that the live database no longer has were removed by the update.
  const has = servicesOf(readSourceCopy(L, live));
  const restore = intent.restore.filter((n) => has.has(n));
  // The autostart names (a bundle, pipelines: s6-rc-compile makes these, no source directory) were taken from `to` itself.
  const wanted = live === intent.to ? [...restore, ...intent.autostart] : restore;
  return { intent, live, up: sortedBytewise(new Set(wanted)) };
}

/** One sentence: which run was interrupted, and what is left to do. */
export function describeRecovery(r: Recovery): string {
  const { from, to } = r.intent;
  const run = `an interrupted apply (${from === null ? 'first start' : `${COMPILED_DIR}/${from}`} to ${COMPILED_DIR}/${to})`;
  if (r.live === null) return `${run} left no live system: nothing to bring back up`;
  const where = r.live === to ? 'on the new database' : r.live === from ? 'on the old database, which is still live' : `on ${COMPILED_DIR}/${r.live}`;
  if (r.up.length === 0) return `${run} left nothing to bring back up ${where}`;
  const shown = r.up.slice(0, 12).map(printable).join(', ') + (r.up.length > 12 ? `, and ${r.up.length - 12} more` : '');
  return `${run} left ${r.up.length} service${r.up.length === 1 ? '' : 's'} to bring back up ${where}: ${shown}`;
}

/** Brings up what `r` names and removes the journal; false when some did not come up (the journal is removed all the same: retrying a VM that cannot start would fail every later run). */
export function recover(rc: LiveRc, L: StateLayout, r: Recovery): boolean {
  const ok = upChange(rc, r.up);
  clearIntent(L.state);
  return ok;
}

/**
 * Before anything else a run does: says what an interrupted run left to do
 * and does it (a dry run only says). Exit 1 when some of it did not come up.
 */
export function finishInterrupted(rc: LiveRc, L: StateLayout, dryRun: boolean): number {
  const r = pendingRecovery(L);
  if (r === null) return EXIT.ok;
  if (dryRun) {
    rc.io.out(`vmsvc: dry run: ${describeRecovery(r)}; would do that first, and remove ${printable(L.state)}/intent\n`);
    return EXIT.ok;
  }
  rc.io.out(`vmsvc: ${describeRecovery(r)}; doing that first\n`);
  if (recover(rc, L, r)) return EXIT.ok;
  rc.io.err(`vmsvc: not everything the interrupted apply left down came back up: see \`s6-rc -l ${printable(L.live)} -a list\`\n`);
  return EXIT.failed;
}

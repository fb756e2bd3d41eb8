/**
 * Identities outlive their VMs (attack on doc/identities-and-sandbox.md): a VM's uids
 * are its slot's, and only valid VMs hold slots, so when VM b disappears
 * (removed, renamed, or made invalid by the user partition and skipped with
 * --keep-going) its slot is free, and the next VM whose name hashes there
 * (or that a collision had pushed off it) gets b's VMM and logger uids.
 * Before apply took b's dirs back (generator/apply/reclaim.ts), they stayed
 * owned by those uids: the new VM's logger read and rewrote all of b's
 * serial log, and its VMM's uid owned b's runtime dir.
 *
 * The promise: "Each VM's loggers run as a second uid of its own and own only
 * its log dir"; a VMM "owns only its runtime dir".
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { makeVm } from '../support/data-dir.js';
import { realS6rcTest } from '../support/real-s6rc.js';
import { installTinyVmm, startRig, TINY_VMM_FLAGS } from '../support/real-rig.js';
import { attack } from '../support/attacker.js';
import { waitFor } from '../support/wait.js';
import { DEFAULT_ID_RANGE, preferredSlot, vmsInRange } from '../../generator/pipeline/identities.js';


/** The slot a name hashes to in the default range. */
const slotOf = (name: string): number => preferredSlot(name, vmsInRange(DEFAULT_ID_RANGE));

realS6rcTest('slot reuse: a VM that takes a gone VM\'s slot gets its uids, but not the gone VM\'s log and runtime dirs, which apply took back; b back later gets them again', async (t, real) => {
  // c hashes to b's slot: with b gone it gets b's uids (with b there, the probe would push it up one).
  let c = '';
  for (let i = 0; c === ''; i++) if (slotOf(`c${i}`) === slotOf('b')) c = `c${i}`;
  const r = await startRig(t, real, { bin: (bin) => installTinyVmm(bin, real), flags: TINY_VMM_FLAGS });
  const run = r.runtime;
  const log = path.join(r.root, 'log');
  const read = (f: string): string => (fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : '');

  // b runs and logs.
  makeVm(r.data, 'b', { config: { autostart: '' } });
  t.is(r.apply().code, 0);
  await waitFor('b\'s serial log', () => read(path.join(log, 'b', 'current')).includes('tiny stub'));
  const bLogUid = fs.statSync(path.join(log, 'b')).uid;
  const bVmmUid = fs.statSync(path.join(run, 'b')).uid;
  const bLines = read(path.join(log, 'b', 'current'));

  // b is gone from the data dir (removed, or invalid and skipped); c is new.
  fs.rmSync(path.join(r.data, 'b'), { recursive: true });
  makeVm(r.data, c, { config: { autostart: '' } });
  const second = r.apply();
  t.is(second.code, 0, second.stderr);
  t.regex(second.stdout, /took back 2 dirs whose owner no longer runs that VM/);
  await waitFor('c\'s serial log', () => read(path.join(log, c, 'current')).includes('tiny stub'));
  const cLogUid = fs.statSync(path.join(log, c)).uid;
  const cVmmUid = fs.statSync(path.join(run, c)).uid;
  t.is(cLogUid, bLogUid, 'precondition: c has b\'s old logger uid');
  t.is(cVmmUid, bVmmUid, 'precondition: c has b\'s old VMM uid');

  const as = (uid: number, action: string, target: string): string =>
    attack([real.bin('s6-applyuidgid'), '-u', String(uid), '-g', String(uid), '-G', ''], action, target);
  const REFUSED = /^(EACCES|EPERM|ENOENT)$/;
  // Controls: c's own.
  t.is(as(cLogUid, 'read', path.join(log, c, 'current')), 'ok', 'control: c\'s logger reads its own log');
  t.is(as(cVmmUid, 'create', path.join(run, c)), 'ok', 'control: c\'s VMM uid writes its own runtime dir');
  // Attacks: b's, which c's uids must not reach.
  t.regex(as(cLogUid, 'read', path.join(log, 'b', 'current')), REFUSED, 'attack: c\'s logger reads b\'s serial log');
  t.regex(as(cLogUid, 'write', path.join(log, 'b', 'current')), REFUSED, 'attack: c\'s logger rewrites b\'s serial log');
  t.regex(as(cLogUid, 'create', path.join(log, 'b')), REFUSED, 'attack: c\'s logger writes into b\'s log dir');
  t.regex(as(cVmmUid, 'create', path.join(run, 'b')), REFUSED, 'attack: c\'s VMM uid writes into b\'s runtime dir');
  // b's log is still there for root (vmsvc logs b).
  t.is(read(path.join(log, 'b', 'current')), bLines);
  t.deepEqual([fs.statSync(path.join(log, 'b')).uid, fs.statSync(path.join(log, 'b')).mode & 0o777], [0, 0o700]);

  // b comes back: it sorts before c at their slot, so it has its own uids again and c moves up one:
  // c's dirs are taken back from its old uids and handed to its new ones, what it wrote kept aside.
  const cLines = read(path.join(log, c, 'current'));
  makeVm(r.data, 'b', { config: { autostart: '' } });
  const third = r.apply();
  t.is(third.code, 0, third.stderr);
  await waitFor('b\'s serial lines again', () => read(path.join(log, 'b', 'current')).split('tiny stub').length > bLines.split('tiny stub').length);
  t.is(fs.statSync(path.join(log, 'b')).uid, bLogUid);
  t.is(fs.statSync(path.join(run, 'b')).uid, bVmmUid);
  await waitFor('c under its new uids', () => fs.statSync(path.join(log, c)).uid !== cLogUid && read(path.join(log, c, 'current')).includes('tiny stub'));
  t.not(fs.statSync(path.join(run, c)).uid, cVmmUid);
  t.is(read(path.join(log, c, 'previous-owner.current')), cLines);
  t.regex(as(cLogUid, 'read', path.join(log, c, 'current')), REFUSED, 'attack: c\'s old logger uid (b\'s again) reads c\'s new log');
});

/**
 * Identities outlive their VMs' dirs (attack on README "Identities"): a VM's
 * uids are its slot's, and only valid VMs hold slots (assignIdentities gets
 * planTree's valid VMs), so when VM b disappears (removed, renamed, or made
 * invalid by the user partition and skipped with --keep-going) its slot is
 * free, and the next VM whose name hashes there (or that a collision had
 * pushed off it) gets b's VMM and logger uids. Nothing hands b's dirs back:
 * its log dir (kept on purpose: `vmsvc logs` reads a skipped VM's log) and
 * its runtime dir stay owned by those uids, so the new VM's logger reads and
 * rewrites all of b's serial log, and its VMM's uid owns b's runtime dir.
 *
 * The promise: "Each VM's loggers run as a second uid of its own and own only
 * its log dir"; a VMM "owns only its runtime dir".
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { startS6rc } from '../harness/real-s6rc.js';
import { vmsvc } from '../support/cli.js';
import { dataDirWith, makeVm } from '../support/data-dir.js';
import { createNetns } from '../support/netns.js';
import { realS6rcTest } from '../support/real-s6rc.js';
import { installStubVmm } from '../support/stub-vmm.js';
import { waitFor } from '../support/wait.js';

const ATTACKER = `
import errno, os, sys
action, target = sys.argv[1], sys.argv[2]
try:
    if action == 'read':
        open(target, 'rb').read(1)
    elif action == 'write':
        os.close(os.open(target, os.O_WRONLY | os.O_APPEND))
    elif action == 'create':
        p = os.path.join(target, '.attack')
        os.close(os.open(p, os.O_WRONLY | os.O_CREAT, 0o600))
        os.unlink(p)
    print('ok')
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))
`;

/** identities.ts preferredSlot, default range (32768 slots). */
const slotOf = (name: string): number => createHash('sha256').update('vmsvc-id\0').update(name).digest().readUInt32BE(0) % 32768;

realS6rcTest('slot reuse: a VM that takes a gone VM\'s slot gets its uids, and with them the gone VM\'s log and runtime dirs', async (t, s6rc) => {
  // c hashes to b's slot: with b gone it gets b's uids (with b there, the probe would push it up one).
  let c = '';
  for (let i = 0; c === ''; i++) if (slotOf(`c${i}`) === slotOf('b')) c = `c${i}`;
  const { root, data } = dataDirWith({ b: {} });
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  const bin = path.join(root, 'bin');
  const run = path.join(root, 'run');
  const log = path.join(root, 'log');
  installStubVmm(bin);
  const generate = (out: string) => {
    const gen = vmsvc(['generate', '--data', data, '--out', out, '--runtime-dir', run, '--log-dir', log, '--execlineb', s6rc.bin('execlineb'),
      '--vmm-bin', path.join(bin, 'cloud-hypervisor'), '--sandbox', 'none']);
    t.is(gen.code, 0, gen.stderr);
  };
  const env = { PATH: `${bin}:${process.env.PATH ?? ''}` };

  // b runs, logs, and goes away.
  generate(path.join(root, 'out1'));
  const first = await startS6rc(s6rc, [path.join(root, 'out1')], { netns: createNetns(t), env });
  try {
    await first.up(['vms'], { timeoutMs: 30_000 });
    await waitFor('b\'s serial log', () => fs.existsSync(path.join(log, 'b', 'current')) && fs.statSync(path.join(log, 'b', 'current')).size > 0);
  } finally {
    await first.stop();
  }
  const bLogUid = fs.statSync(path.join(log, 'b')).uid;
  const bVmmUid = fs.statSync(path.join(run, 'b')).uid;

  // b is gone from the data dir (removed, or invalid and skipped); c is new.
  fs.rmSync(path.join(data, 'b'), { recursive: true });
  makeVm(data, c);
  generate(path.join(root, 'out2'));
  const second = await startS6rc(s6rc, [path.join(root, 'out2')], { netns: createNetns(t), env });
  t.teardown(() => second.stop());
  await second.up(['vms'], { timeoutMs: 30_000 });
  await waitFor('c\'s serial log', () => fs.existsSync(path.join(log, c, 'current')));
  const cLogUid = fs.statSync(path.join(log, c)).uid;
  const cVmmUid = fs.statSync(path.join(run, c)).uid;
  t.is(cLogUid, bLogUid, 'precondition: c has b\'s old logger uid');
  t.is(cVmmUid, bVmmUid, 'precondition: c has b\'s old VMM uid');

  const as = (uid: number, action: string, target: string): string => {
    const r = spawnSync(s6rc.bin('s6-applyuidgid'), ['-u', String(uid), '-g', String(uid), '-G', '', '/usr/bin/python3', '-c', ATTACKER, action, target], { encoding: 'utf8', timeout: 20_000 });
    if (r.status !== 0) throw new Error(`attacker ${action} ${target}: exit ${r.status}: ${r.stderr}`);
    return r.stdout.trim();
  };
  const REFUSED = /^(EACCES|EPERM|ENOENT)$/;
  // Controls: c's own.
  t.is(as(cLogUid, 'read', path.join(log, c, 'current')), 'ok', 'control: c\'s logger reads its own log');
  t.is(as(cVmmUid, 'create', path.join(run, c)), 'ok', 'control: c\'s VMM uid writes its own runtime dir');
  // Attacks: b's, which c's uids should not reach.
  t.regex(as(cLogUid, 'read', path.join(log, 'b', 'current')), REFUSED, 'attack: c\'s logger reads b\'s serial log');
  t.regex(as(cLogUid, 'write', path.join(log, 'b', 'current')), REFUSED, 'attack: c\'s logger rewrites b\'s serial log');
  t.regex(as(cLogUid, 'create', path.join(log, 'b')), REFUSED, 'attack: c\'s logger writes into b\'s log dir');
  t.regex(as(cVmmUid, 'create', path.join(run, 'b')), REFUSED, 'attack: c\'s VMM uid writes into b\'s runtime dir');
});

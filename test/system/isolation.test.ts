/**
 * Isolation, proved by attack (issue 22): two VMs, a (client) and b (its
 * provider), under the real s6-rc with stub VMMs, each VMM as the uid the
 * default gives it. From inside a's VMM, with its credentials (uid, gid,
 * groups) and in its namespaces (nsenter on its pid), every attack on b's
 * resources or the host's fails with the kernel's own error; the same
 * action on a's own resources succeeds, so that no attack passes because
 * nothing works.
 */
import type { ExecutionContext } from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startS6rc } from '../support/s6rc-harness.js';
import { vmsvc } from '../support/cli.js';
import { dataDirWith } from '../support/data-dir.js';
import { createNetns } from '../support/netns.js';
import { vmmPid } from '../support/processes.js';
import { realS6rcTest, type RealS6rc } from '../support/real-s6rc.js';
import { installStubVmm } from '../support/stub-vmm.js';
import { attack } from '../support/attacker.js';
import { waitFor } from '../support/wait.js';


interface Creds {
  readonly uid: number;
  readonly gid: number;
  readonly groups: readonly number[];
}

function credsOf(pid: number): Creds {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string): number[] => (new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(status)?.[1] ?? '').trim().split(/\s+/).filter((x) => x !== '').map(Number);
  return { uid: field('Uid')[0]!, gid: field('Gid')[0]!, groups: field('Groups') };
}

async function twoVms(t: ExecutionContext, s6rc: RealS6rc, flags: readonly string[]) {
  const { root, data } = dataDirWith({ a: { providers: ['b'] }, b: {} });
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  const bin = path.join(root, 'bin');
  const run = path.join(root, 'run');
  const log = path.join(root, 'log');
  const out = path.join(root, 'out');
  installStubVmm(bin);
  // By path: the sandbox shows the VMM's own directory, not this test's PATH.
  const gen = vmsvc(['generate', '--data', data, '--out', out, '--runtime-dir', run, '--log-dir', log, '--execlineb', s6rc.bin('execlineb'),
    '--vmm-bin', path.join(bin, 'cloud-hypervisor'), ...flags]);
  t.is(gen.code, 0, gen.stderr);
  const emu = await startS6rc(s6rc, [out], { netns: createNetns(t), env: { PATH: `${bin}:${process.env.PATH ?? ''}` } });
  t.teardown(() => emu.stop());
  await emu.up(['vms'], { timeoutMs: 30_000 });
  const vmm: Record<'a' | 'b', number> = { a: 0, b: 0 };
  for (const vm of ['a', 'b'] as const) {
    await waitFor(`${vm}'s VMM`, () => (vmm[vm] = vmmPid(emu.servicePid(`vm-${vm}`)!) ?? 0) !== 0);
  }
  const manifest = JSON.parse(fs.readFileSync(path.join(out, 'vmsvc-manifest.json'), 'utf8')) as { links: Array<{ clientTap: string; providerTap: string }> };
  return { root, data, run, log, emu, vmm, link: manifest.links[0]! };
}

const REFUSED = /^(EACCES|EPERM)$/;

realS6rcTest('isolation by attack, uids alone (--sandbox none): from a\'s VMM, as its uid, nothing of VM b\'s or of root\'s can be reached; the same on a\'s own works', async (t, s6rc) => {
  const { run, log, emu, vmm, link } = await twoVms(t, s6rc, ['--sandbox', 'none']);
  const a = credsOf(vmm.a);
  t.not(a.uid, 0);
  t.not(a.uid, credsOf(vmm.b).uid);

  /** The attempt, made as a's VMM: in its mount and network namespaces, with its uid, gid and groups. */
  const asA = (action: string, target: string): string => attack(['nsenter', '-t', String(vmm.a), '-m', '-n', '--',
    s6rc.bin('s6-applyuidgid'), '-u', String(a.uid), '-g', String(a.gid), '-G', a.groups.join(',')], action, target);
  const attacks: Array<[string, string, string, string]> = [
    // [what, action, b's or the host's target (refused), a's own target (allowed)]
    ['attach to the other side\'s tap of its own link', 'tap', link.providerTap, link.clientTap],
    ['connect to the VMM\'s API socket', 'connect', path.join(run, 'b', 'api.sock'), path.join(run, 'a', 'api.sock')],
    ['signal the VMM', 'signal', String(vmm.b), String(vmm.a)],
    ['trace the VMM (read its environ)', 'trace', String(vmm.b), String(vmm.a)],
    ['signal the logger', 'signal', String(emu.servicePid('vm-b-log')!), String(vmm.a)],
    ['create a file in the runtime dir', 'create', path.join(run, 'b'), path.join(run, 'a')],
    ['write the serial log', 'write', path.join(log, 'b', 'current'), path.join(run, 'a', 'argv')],
  ];
  for (const [what, action, theirs, own] of attacks) {
    t.is(asA(action, own), 'ok', `control: ${what}, a's own (${own})`);
    t.regex(asA(action, theirs), REFUSED, `attack: ${what}, b's (${theirs})`);
  }
  // Its own logs are not its VMM's to write either: the loggers are another uid.
  t.regex(asA('write', path.join(log, 'a', 'current')), REFUSED, 'attack: a\'s VMM rewrites its own serial log');
  t.regex(asA('create', path.join(log, 'a')), REFUSED, 'attack: a\'s VMM writes into its own log dir');
  // The host: a root-only file, and root's supervision tree.
  t.regex(asA('read', '/etc/shadow'), REFUSED, 'attack: read /etc/shadow');
  t.regex(asA('signal', String(emu.servicePid('vm-a')!)), REFUSED, 'attack: signal its own trap (root)');
  t.regex(asA('signal', String(emu.svscanPid)), REFUSED, 'attack: signal s6-svscan');
  t.is(attack([], 'read', '/etc/shadow'), 'ok', 'control: root reads /etc/shadow');
});

realS6rcTest('isolation by attack, in the sandbox (the default): inside a\'s sandbox, as its uid, b\'s and the host\'s files are not there, no other process is, b\'s tap is refused; a\'s own work', async (t, s6rc) => {
  const { data, run, log, vmm, link } = await twoVms(t, s6rc, []);
  const a = credsOf(vmm.a);
  t.not(a.uid, 0);
  /** The attempt, made inside a's sandbox: every namespace of its VMM's (user, pid, mount, ...), its uid and gid. */
  const inA = (action: string, target: string): string =>
    attack(['nsenter', '-t', String(vmm.a), '--all', '-S', String(a.uid), '-G', String(a.gid), '--'], action, target);
  // Its own world: its runtime dir and socket, its tap, its VMM (pid 2: bwrap is 1).
  t.is(inA('connect', path.join(run, 'a', 'api.sock')), 'ok', 'control: a\'s own API socket');
  t.is(inA('create', path.join(run, 'a')), 'ok', 'control: a\'s own runtime dir');
  t.is(inA('tap', link.clientTap), 'ok', 'control: a\'s own tap');
  t.is(inA('signal', '2'), 'ok', 'control: a\'s own VMM');
  t.is(inA('list', '/proc'), '1 2', 'only bwrap and the VMM are in its pid namespace');
  // b's, and the host's: not there at all, or refused.
  const GONE = /^(ENOENT|EACCES|EPERM)$/;
  t.regex(inA('tap', link.providerTap), REFUSED, 'attack: b\'s side of the link');
  t.regex(inA('connect', path.join(run, 'b', 'api.sock')), GONE, 'attack: b\'s API socket');
  t.regex(inA('create', path.join(run, 'b')), GONE, 'attack: b\'s runtime dir');
  t.regex(inA('read', path.join(data, 'b', 'blk', 'root.img')), GONE, 'attack: b\'s disk');
  t.regex(inA('read', path.join(data, 'b', 'vmlinux')), GONE, 'attack: b\'s kernel');
  t.regex(inA('write', path.join(log, 'a', 'current')), GONE, 'attack: its own serial log');
  t.regex(inA('read', '/etc/shadow'), GONE, 'attack: /etc/shadow');
  t.regex(inA('signal', String(vmm.b)), /^(ESRCH|EPERM)$/, 'attack: b\'s VMM, by its host pid');
});

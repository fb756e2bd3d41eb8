/**
 * Isolation, proved by attack (issue 22): two VMs, a (client) and b (its
 * provider), under the real s6-rc with stub VMMs, each VMM as the uid the
 * default gives it. From inside a's VMM, with its credentials (uid, gid,
 * groups) and in its namespaces (nsenter on its pid), every attack on b's
 * resources or the host's fails with the kernel's own error; the same
 * action on a's own resources succeeds, so that no attack passes because
 * nothing works.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { startS6rc } from '../harness/real-s6rc.js';
import { vmsvc } from '../support/cli.js';
import { dataDirWith } from '../support/data-dir.js';
import { createNetns } from '../support/netns.js';
import { vmmPid } from '../support/processes.js';
import { realS6rcTest } from '../support/real-s6rc.js';
import { installStubVmm } from '../support/stub-vmm.js';
import { waitFor } from '../support/wait.js';

/**
 * One attempt, by name, printing "ok" or the errno's name. TUNSETIFF is
 * what a VMM does to attach to a tap (linux/if_tun.h: IFF_TAP | IFF_NO_PI);
 * /proc/PID/environ needs PTRACE_MODE_READ, the check ptrace's attach makes.
 */
const ATTACKER = `
import errno, fcntl, os, socket, struct, sys
action, target = sys.argv[1], sys.argv[2]
try:
    if action == 'tap':
        fd = os.open('/dev/net/tun', os.O_RDWR)
        fcntl.ioctl(fd, 0x400454ca, struct.pack('16sH', target.encode(), 0x0002 | 0x1000))
    elif action == 'connect':
        socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).connect(target)
    elif action == 'signal':
        os.kill(int(target), 0)
    elif action == 'trace':
        open('/proc/%s/environ' % target, 'rb').read()
    elif action == 'read':
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

realS6rcTest('isolation by attack: from inside VM a\'s VMM, as its uid, nothing of VM b\'s or of root\'s can be reached; the same on a\'s own works', async (t, s6rc) => {
  const { root, data } = dataDirWith({ a: { providers: ['b'] }, b: {} });
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  const bin = path.join(root, 'bin');
  const run = path.join(root, 'run');
  const log = path.join(root, 'log');
  const out = path.join(root, 'out');
  installStubVmm(bin);
  const gen = vmsvc(['generate', '--data', data, '--out', out, '--runtime-dir', run, '--log-dir', log, '--execlineb', s6rc.bin('execlineb')]);
  t.is(gen.code, 0, gen.stderr);
  const attacker = path.join(root, 'attacker.py');
  fs.writeFileSync(attacker, ATTACKER, { mode: 0o644 });
  const emu = await startS6rc(s6rc, [out], { netns: createNetns(t), env: { PATH: `${bin}:${process.env.PATH ?? ''}` } });
  t.teardown(() => emu.stop());
  await emu.up(['vms'], { timeoutMs: 30_000 });

  const vmm: Record<'a' | 'b', number> = { a: 0, b: 0 };
  for (const vm of ['a', 'b'] as const) {
    await waitFor(`${vm}'s VMM`, () => (vmm[vm] = vmmPid(emu.servicePid(`vm-${vm}`)!) ?? 0) !== 0);
  }
  const a = credsOf(vmm.a);
  t.not(a.uid, 0);
  t.not(a.uid, credsOf(vmm.b).uid);
  const manifest = JSON.parse(fs.readFileSync(path.join(out, 'vmsvc-manifest.json'), 'utf8')) as { links: Array<{ clientTap: string; providerTap: string }> };
  const link = manifest.links[0]!;

  /** The attempt, made as a's VMM: in its mount and network namespaces, with its uid, gid and groups. */
  const asA = (action: string, target: string): string => {
    const r = spawnSync('nsenter', ['-t', String(vmm.a), '-m', '-n', '--',
      s6rc.bin('s6-applyuidgid'), '-u', String(a.uid), '-g', String(a.gid), '-G', a.groups.join(','),
      '/usr/bin/python3', attacker, action, target], { encoding: 'utf8', timeout: 20_000 });
    if (r.status !== 0) throw new Error(`attacker ${action} ${target}: exit ${r.status}: ${r.stderr}`);
    return r.stdout.trim();
  };
  const attacks: Array<[string, string, string, string]> = [
    // [what, action, b's or the host's target (refused), a's own target (allowed)]
    ['attach to the other side\'s tap of its own link', 'tap', link.providerTap, link.clientTap],
    ['connect to the VMM\'s API socket', 'connect', path.join(run, 'b', 'api.sock'), path.join(run, 'a', 'api.sock')],
    ['signal the VMM', 'signal', String(vmm.b), String(vmm.a)],
    ['trace the VMM (read its memory\'s neighbour, environ)', 'trace', String(vmm.b), String(vmm.a)],
    ['signal the logger', 'signal', String(emu.servicePid('vm-b-log')!), String(vmm.a)],
    ['create a file in the runtime dir', 'create', path.join(run, 'b'), path.join(run, 'a')],
    ['write the serial log', 'write', path.join(log, 'b', 'current'), path.join(run, 'a', 'pid')],
  ];
  for (const [what, action, theirs, own] of attacks) {
    t.is(asA(action, own), 'ok', `control: ${what}, a's own (${own})`);
    t.regex(asA(action, theirs), /^(EACCES|EPERM)$/, `attack: ${what}, b's (${theirs})`);
  }
  // Its own logs are not its VMM's to write either: the loggers are another uid.
  t.regex(asA('write', path.join(log, 'a', 'current')), /^(EACCES|EPERM)$/, 'attack: a\'s VMM rewrites its own serial log');
  t.regex(asA('create', path.join(log, 'a')), /^(EACCES|EPERM)$/, 'attack: a\'s VMM writes into its own log dir');
  // The host: a root-only file, and root's supervision tree.
  t.regex(asA('read', '/etc/shadow'), /^(EACCES|EPERM)$/, 'attack: read /etc/shadow');
  t.regex(asA('signal', String(emu.servicePid('vm-a')!)), /^(EACCES|EPERM)$/, 'attack: signal its own trap (root)');
  t.regex(asA('signal', String(emu.svscanPid)), /^(EACCES|EPERM)$/, 'attack: signal s6-svscan');
  t.is(spawnSync('/usr/bin/python3', [attacker, 'read', '/etc/shadow'], { encoding: 'utf8' }).stdout.trim(), 'ok', 'control: root reads /etc/shadow');
});

/**
 * Links hot-plugged into a running provider, live: `vmsvc apply` under the
 * real s6-rc with real QEMU guests (the test kernel, TCG here), in a network
 * namespace of the rig's own. A netvm and two clients run and ping; a third
 * client is added and then removed, and the netvm's and the other clients'
 * pids stay the same while they keep pinging through it; a typo in a
 * running client's setting leaves every pid as it was and apply exits 1; the netvm's QEMU
 * is killed, s6 restarts it, its readiness check attaches every recorded
 * link again, and the clients (not restarted) ping again. With
 * HOTPLUG_DUMP=1 it logs the guests' last lines, the services up and the
 * supervision tree's log at the end (for a failure under a slow emulator).
 */
import type { ExecutionContext } from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { guestAccel, makeExt2Disk, prepareGuest, type Guest } from '../support/guest/guest.js';
import { interfaces } from '../support/netns.js';
import { vmmPid } from '../support/processes.js';
import { realS6rcTest } from '../support/real-s6rc.js';
import { startRig, type Rig } from '../support/real-rig.js';
import { waitFor } from '../support/wait.js';

const QEMU = '/usr/bin/qemu-system-x86_64';
const read = (p: string): string => (fs.existsSync(p) ? fs.readFileSync(p, 'utf8') : '');

function addVm(r: Rig, guest: Guest, name: string, providers: readonly string[]): void {
  const dir = path.join(r.data, name);
  fs.mkdirSync(path.join(dir, 'blk'), { recursive: true });
  fs.copyFileSync(guest.vmlinux, path.join(dir, 'vmlinux'));
  fs.copyFileSync(guest.initramfs, path.join(dir, 'initramfs'));
  makeExt2Disk(path.join(dir, 'blk', 'root.img'), name);
  if (providers.length > 0) fs.mkdirSync(path.join(dir, 'providers', 'net'), { recursive: true });
  for (const p of providers) fs.writeFileSync(path.join(dir, 'providers', 'net', p), '');
}

interface Live {
  readonly r: Rig;
  readonly log: (vm: string) => string;
  /** The service's pid and its QEMU's. */
  readonly pids: (vm: string) => { service: number | null; vmm: number | null };
}

/** Waits until `vm`'s serial log, past `from`, says `text`. */
async function logSays(l: Live, vm: string, text: string, from: number, ms: number): Promise<void> {
  await waitFor(`${vm} to log ${JSON.stringify(text)}`, () => read(l.log(vm)).slice(from).includes(text), ms);
}

const clientIp = (r: Rig, client: string): string => {
  const m = JSON.parse(read(path.join(r.state, 'source', 'vmsvc-manifest.json'))) as { links: Array<{ client: string; clientIp: string }> };
  return m.links.find((l) => l.client === client)?.clientIp ?? '';
};

const up = (r: Rig, services: readonly string[]): void => {
  const c = r.s6('s6-rc', ['-l', r.live, '-t', '240000', '-u', 'change', ...services]);
  if (c.code !== 0) throw new Error(`s6-rc -u change ${services.join(' ')}: ${c.code} ${c.stderr}`);
};

realS6rcTest('hot-plugged links under s6-rc with real QEMU guests: clients come and go, the provider keeps its pid, its restart gets every link back', async (t: ExecutionContext, real) => {
  t.timeout(600_000);
  const guest = await prepareGuest();
  const accel = await guestAccel(guest);
  const r = await startRig(t, real, {
    bin: () => QEMU,
    tun: true,
    flags: ['--vmm', 'qemu', '--accel', accel, '--cmdline', 'console=ttyS0 vmsvc.interval=1', '--timeout-up', '180000', '--memory', '192M'],
  });
  const l: Live = {
    r,
    log: (vm) => path.join(r.root, 'log', vm, 'current'),
    pids: (vm) => {
      const service = r.pid(`vm-${vm}`);
      return { service, vmm: service === null ? null : vmmPid(service) };
    },
  };
  addVm(r, guest, 'netvm', []);
  addVm(r, guest, 'app1', ['netvm']);
  addVm(r, guest, 'app2', ['netvm']);

  const first = r.apply();
  t.is(first.code, 0, first.stderr);
  up(r, ['vms']);
  const ip1 = clientIp(r, 'app1');
  const ip2 = clientIp(r, 'app2');
  const dump = () => {
    for (const vm of ['netvm', 'app1', 'app2']) t.log(vm, read(l.log(vm)).split('\n').filter((x) => !x.includes('ping') || x.includes('OK')).slice(-15).join('\n'));
    t.log('up', r.up().join(' '));
    t.log('svscan', read(path.join(r.root, 'svscan.log')).slice(-3000));
    for (const vm of ['netvm', 'app1']) t.log(vm, 'vmm log', read(path.join(r.root, 'log', vm, 'vmm', 'current')).slice(-2000));
  };
  t.teardown(() => { if (process.env.HOTPLUG_DUMP) dump(); });
  await Promise.all([
    logSays(l, 'app1', 'ping OK 169.254.0.1', 0, 180_000),
    logSays(l, 'app2', 'ping OK 169.254.0.1', 0, 180_000),
    logSays(l, 'netvm', `ping OK ${ip1}`, 0, 180_000),
    logSays(l, 'netvm', `ping OK ${ip2}`, 0, 180_000),
  ]);
  // The netvm's QEMU was started without its clients' taps: they came through QMP.
  const netArgv = read(`/proc/${l.pids('netvm').vmm ?? 0}/cmdline`).split('\0');
  t.false(netArgv.some((a) => a.includes('vtp-')), `no provider tap in the netvm's argv: ${netArgv.join(' ')}`);
  t.true(netArgv.some((a) => a.startsWith('pcie-root-port,id=vmsvc-port0,')), 'the netvm has hot-plug ports');
  const before = { netvm: l.pids('netvm'), app1: l.pids('app1'), app2: l.pids('app2') };
  for (const [vm, p] of Object.entries(before)) t.true(p.service !== null && p.vmm !== null, `${vm} runs`);

  // A third client: added, attached to the running netvm, pinging; nobody else restarts.
  addVm(r, guest, 'app3', ['netvm']);
  const added = r.apply(['--dry-run']);
  t.is(added.code, 0, added.stderr);
  t.notRegex(added.stdout, /restart {2}vm-netvm/, added.stdout);
  t.regex(added.stdout, /hot-plug(ged)? .*app3.*netvm|netvm.*hot-plug/i, added.stdout);
  const addRun = r.apply();
  t.is(addRun.code, 0, addRun.stderr);
  t.regex(addRun.stdout, /0 restarted/, addRun.stdout);
  const offsets = { app1: read(l.log('app1')).length, app2: read(l.log('app2')).length, netvm: read(l.log('netvm')).length };
  up(r, ['vms']);
  const ip3 = clientIp(r, 'app3');
  await logSays(l, 'app3', 'ping OK 169.254.0.1', 0, 180_000);
  await logSays(l, 'netvm', `ping OK ${ip3}`, offsets.netvm, 60_000);
  await logSays(l, 'app1', 'ping OK 169.254.0.1', offsets.app1, 30_000);
  await logSays(l, 'app2', 'ping OK 169.254.0.1', offsets.app2, 30_000);
  t.deepEqual({ netvm: l.pids('netvm'), app1: l.pids('app1'), app2: l.pids('app2') }, before, 'adding a client restarted nobody');

  // Removed again: its link is unplugged and its devices go; nobody else restarts.
  const link3 = (JSON.parse(read(path.join(r.state, 'source', 'vmsvc-manifest.json'))) as { links: Array<{ client: string; providerTap: string; service: string }> })
    .links.find((k) => k.client === 'app3')!;
  fs.rmSync(path.join(r.data, 'app3'), { recursive: true });
  const removed = r.apply();
  t.is(removed.code, 0, removed.stderr);
  t.false(interfaces(r.ns).has(link3.providerTap), 'the removed link\'s tap is gone');
  t.false(r.up().includes(link3.service));
  t.false(fs.existsSync(path.join(r.runtime, '.links', 'netvm', link3.service.slice('vmnet-'.length))), 'its record is gone');
  const afterRemove = { app1: read(l.log('app1')).length, app2: read(l.log('app2')).length };
  await logSays(l, 'app1', 'ping OK 169.254.0.1', afterRemove.app1, 30_000);
  await logSays(l, 'app2', 'ping OK 169.254.0.1', afterRemove.app2, 30_000);
  t.deepEqual({ netvm: l.pids('netvm'), app1: l.pids('app1'), app2: l.pids('app2') }, before, 'removing a client restarted nobody');

  // A typo in a running client's setting: apply says so and exits 1, and every VM keeps running as it was.
  fs.mkdirSync(path.join(r.data, 'app1', 'config'), { recursive: true });
  fs.writeFileSync(path.join(r.data, 'app1', 'config', 'memory'), 'lots\n');
  const typo = r.apply();
  t.is(typo.code, 1, typo.stderr);
  t.regex(typo.stderr, /VM app1: held on its last good definition, which keeps running/);
  t.regex(typo.stdout + typo.stderr, /0 added, 0 removed, 0 restarted|nothing to do/);
  t.deepEqual({ netvm: l.pids('netvm'), app1: l.pids('app1'), app2: l.pids('app2') }, before, 'a typo restarted nobody');
  fs.rmSync(path.join(r.data, 'app1', 'config'), { recursive: true });
  const fixed = r.apply();
  t.is(fixed.code, 0, fixed.stderr);
  t.deepEqual({ netvm: l.pids('netvm'), app1: l.pids('app1'), app2: l.pids('app2') }, before, 'fixing it restarted nobody');

  // The netvm's QEMU killed: s6 restarts it, its readiness check attaches both links again.
  const netOffset = read(l.log('netvm')).length;
  const appOffsets = { app1: read(l.log('app1')).length, app2: read(l.log('app2')).length };
  process.kill(before.netvm.vmm!, 'SIGKILL');
  await waitFor('s6 to restart the netvm', () => {
    const p = l.pids('netvm');
    return p.vmm !== null && p.vmm !== before.netvm.vmm;
  }, 60_000);
  await logSays(l, 'netvm', `ping OK ${ip1}`, netOffset, 180_000);
  await logSays(l, 'netvm', `ping OK ${ip2}`, netOffset, 60_000);
  for (const vm of ['app1', 'app2'] as const) {
    await waitFor(`${vm} to fail a ping and then ping OK again`, () => {
      const after = read(l.log(vm)).slice(appOffsets[vm]);
      const fail = after.indexOf('ping FAIL 169.254.0.1');
      return fail >= 0 && after.indexOf('ping OK 169.254.0.1', fail) > fail;
    }, 120_000);
    t.deepEqual(l.pids(vm), before[vm], `${vm} was not restarted`);
  }
});

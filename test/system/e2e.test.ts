/**
 * The whole chain with real guests: generated services -> s6 supervision ->
 * QEMU -> a Linux guest that reads its MAC, configures the address the user
 * guide promises and talks to its network provider. Everything runs inside a
 * network namespace this test creates. The guest (a Debian cloud kernel and a
 * busybox initramfs) is prepared at test time and cached in .cache/guest.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { findProcessesUnder, startS6rc } from '../support/s6rc-harness.js';
import { guestAccel, makeExt2Disk, prepareGuest, REPO_ROOT } from '../support/guest/guest.js';
import { vmsvc } from '../support/cli.js';
import { consoleAnswer } from '../support/console.js';
import { createNetns, interfaces } from '../support/netns.js';
import { realS6rcTest } from '../support/real-s6rc.js';
import { vmmPid } from '../support/processes.js';
import { waitFor } from '../support/wait.js';
import { tempDir } from '../support/data-dir.js';

const read = (p: string): string => (fs.existsSync(p) ? fs.readFileSync(p, 'utf8') : '');

/** Lines after a given offset of a log file: what the guest printed since then. */
const since = (file: string, offset: number): string => read(file).slice(offset);

/** Types a line into a console socket and collects what comes back for a while. */
async function converse(socket: string, line: string, expect: RegExp, ms: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const c = net.connect(socket);
    const timer = setTimeout(() => {
      c.destroy();
      reject(new Error(`no ${String(expect)} from the console within ${ms} ms; got ${JSON.stringify(got)}`));
    }, ms);
    c.on('data', (d) => {
      got += d.toString('utf8');
      if (expect.test(got)) {
        clearTimeout(timer);
        c.destroy();
        resolve(got);
      }
    });
    c.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    // A freshly attached shell may not be reading yet: say it twice.
    c.write(`${line}\n`);
    setTimeout(() => c.write(`${line}\n`), 1500);
  });
}

realS6rcTest('two real VMs under s6: boot logs, addresses from MACs, ping both ways, console, provider restart, clean teardown', async (t, s6rc) => {
  t.timeout(600_000);
  const started = Date.now();
  const guest = await prepareGuest();
  t.log(`guest ${guest.kernelPackage} prepared in ${Date.now() - started} ms`);

  const root = tempDir('e2e-', path.join(REPO_ROOT, '.cache'));
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  const data = path.join(root, 'data');
  for (const vm of ['netvm', 'appvm-lynx']) {
    fs.mkdirSync(path.join(data, vm, 'blk'), { recursive: true });
    fs.linkSync(guest.vmlinux, path.join(data, vm, 'vmlinux'));
    fs.linkSync(guest.initramfs, path.join(data, vm, 'initramfs'));
    makeExt2Disk(path.join(data, vm, 'blk', 'root.img'), vm);
  }
  fs.mkdirSync(path.join(data, 'appvm-lynx', 'providers', 'net'), { recursive: true });
  fs.writeFileSync(path.join(data, 'appvm-lynx', 'providers', 'net', 'netvm'), '');

  const out = path.join(root, 'out');
  const run = path.join(root, 'run');
  const log = path.join(root, 'log');
  const accel = await guestAccel(guest);
  t.log(`accelerator that boots the guest here: ${accel}`);
  const gen = vmsvc(['generate', '--vmm', 'qemu', '--accel', accel, '--data', data, '--out', out, '--runtime-dir', run, '--log-dir', log,
    '--cmdline', 'console=ttyS0 vmsvc.interval=1', '--timeout-up', '60000']);
  t.is(gen.code, 0, gen.stderr);
  const manifest = JSON.parse(read(path.join(out, 'vmsvc-manifest.json'))) as {
    links: Array<{ clientIp: string; service: string; bridge: string; clientTap: string; providerTap: string }>;
  };
  const link = manifest.links[0]!;

  const ns = createNetns(t);
  const emu = await startS6rc(s6rc, [out], { netns: ns });
  t.teardown(() => emu.stop());
  const upAt = Date.now();
  await emu.up(['vms'], { timeoutMs: 120_000 });

  const appLog = path.join(log, 'appvm-lynx', 'current');
  const netLog = path.join(log, 'netvm', 'current');
  await waitFor('the appvm to ping its provider', () => read(appLog).includes('vmsvc-guest: ping OK 169.254.0.1'), 120_000);
  await waitFor('the netvm to ping its client', () => read(netLog).includes(`vmsvc-guest: ping OK ${link.clientIp}`), 60_000);
  t.log(`services up to both pings OK: ${Date.now() - upAt} ms`);

  for (const file of [appLog, netLog]) {
    const text = read(file);
    t.regex(text, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{9} {2}.*Linux version 6\./m, `${file}: kernel boot line, timestamped`);
    t.regex(text, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{9} {2}vmsvc-guest: booted/m);
  }
  t.regex(read(appLog), new RegExp(`vmsvc-guest: configured \\S+ 0a:b3:ec:00:\\S+ ${link.clientIp.replace(/\./g, '\\.')}`));
  t.regex(read(netLog), /vmsvc-guest: configured \S+ 0a:b3:ec:80:\S+ 169\.254\.0\.1/);
  t.regex(read(appLog), /vmsvc-guest: disk vda marker appvm-lynx/);
  t.false(read(appLog).includes('qemu-system'), 'QEMU\'s own messages are not in the serial log');

  const answer = await converse(path.join(run, 'appvm-lynx', 'console.sock'), 'echo hvc-$((40+2))', /hvc-42/, 30_000);
  t.regex(answer, /hvc-42/);

  // The admin commands against the live VMs: ls sees both ready, and
  // `vmsvc console` carries a typed command to the guest's shell and back.
  const listing = vmsvc(['ls', '--json', '--source', out, '--scandir', emu.scandir, '--prefix', '']);
  t.is(listing.code, 0, listing.stderr);
  const rows = (JSON.parse(listing.stdout) as { vms: Array<{ name: string; state: string; pid: number | null }> }).vms;
  t.deepEqual(rows.map((r) => [r.name, r.state]), [['appvm-lynx', 'ready'], ['netvm', 'ready']]);
  t.is(rows.find((r) => r.name === 'netvm')?.pid, emu.servicePid('vm-netvm'));
  const viaCli = await consoleAnswer(['appvm-lynx', '--source', out], 'echo cli-$((80+4))', /cli-84/, process.env, 30_000);
  t.regex(viaCli, /cli-84/);

  // Kill the provider's VMM (trap's child; trap is the service's process): s6
  // restarts it, the client is not restarted, and the pings recover.
  const appPid = emu.servicePid('vm-appvm-lynx');
  const netPid = emu.servicePid('vm-netvm')!;
  const offset = read(appLog).length;
  const killedAt = Date.now();
  const qemu = vmmPid(netPid);
  t.true(qemu !== null && read(`/proc/${qemu}/cmdline`).startsWith('qemu-system'), 'QEMU runs as the child of the service\'s trap');
  process.kill(qemu!, 'SIGKILL');
  await waitFor('s6 to restart the netvm', () => {
    const pid = emu.servicePid('vm-netvm');
    return pid !== null && pid !== netPid;
  }, 30_000);
  await waitFor('a failed ping while the provider is down, then OK again', () => {
    const after = since(appLog, offset);
    const fail = after.indexOf('ping FAIL 169.254.0.1');
    return fail >= 0 && after.indexOf('ping OK 169.254.0.1', fail) > fail;
  }, 120_000);
  t.log(`provider killed to client ping OK again: ${Date.now() - killedAt} ms`);
  t.is(emu.servicePid('vm-appvm-lynx'), appPid, 'the client VM was not restarted');
  await waitFor('the restarted netvm to ping its client', () => since(netLog, 0).split(`ping OK ${link.clientIp}`).length > 2, 60_000);

  // Everything down: the client, then its link (let go by the provider's VMM, then removed), then the provider.
  const ifsUp = interfaces(ns);
  for (const dev of [link.bridge, link.clientTap, link.providerTap]) t.true(ifsUp.has(dev), `${dev} exists while up`);
  await emu.down(['vms']);
  t.deepEqual([...interfaces(ns).keys()], ['lo'], 'taps and bridge removed');
  t.deepEqual(findProcessesUnder(emu.root).filter((pid) => {
    try {
      return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('qemu');
    } catch {
      return false;
    }
  }), [], 'no QEMU left');
  t.log(`e2e total ${Date.now() - started} ms`);
});

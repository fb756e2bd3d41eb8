/**
 * The link oneshots, run for real (execline + iproute2) inside network
 * namespaces the tests create, and under s6 with the stub VMM: the provider
 * side hot-plugged through the VMM's API (cloud-hypervisor's ch-remote here),
 * attached again after a provider restart, and let go when the link goes.
 */
import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startS6rc } from '../support/s6rc-harness.js';
import { vmsvc } from '../support/cli.js';
import { dataDirWith, tempDir } from '../support/data-dir.js';
import { createNetns, inNetns, interfaces } from '../support/netns.js';
import { realS6rcTest, type RealS6rc } from '../support/real-s6rc.js';
import { installStubVmm, recordedArgv } from '../support/stub-vmm.js';
import { waitFor } from '../support/wait.js';

interface Manifest {
  links: Array<{ n: number; client: string; provider: string; clientMac: string; providerMac: string; bridge: string; clientTap: string; providerTap: string; service: string }>;
}

function generateGuide(t: { teardown: (fn: () => void) => void }, extra: string[] = []) {
  const { root, data } = dataDirWith({ netvm: {}, 'appvm-lynx': { providers: ['netvm'] } });
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  const out = path.join(root, 'out');
  const r = vmsvc(['generate', '--data', data, '--out', out, '--runtime-dir', path.join(root, 'run'), '--log-dir', path.join(root, 'log'), ...extra]);
  if (r.code !== 0) throw new Error(r.stderr);
  const manifest = JSON.parse(fs.readFileSync(path.join(out, 'vmsvc-manifest.json'), 'utf8')) as Manifest;
  return { root, data, out, link: manifest.links[0]! };
}

/** The guide's example under the real s6-rc, in a network namespace of its own, with the stub VMM. */
async function superviseGuide(t: { teardown: (fn: () => void) => void }, s6rc: RealS6rc) {
  // By path: the VMM's sandbox shows /usr and --vmm-bin's own dir, not PATH's other dirs.
  const bin = tempDir('vmsvc-net-bin-');
  t.teardown(() => fs.rmSync(bin, { recursive: true, force: true }));
  const { root, out, link } = generateGuide(t, ['--execlineb', s6rc.bin('execlineb'), '--vmm-bin', installStubVmm(bin)]);
  const ns = createNetns(t);
  const emu = await startS6rc(s6rc, [out], { netns: ns, env: { PATH: `${bin}:${process.env.PATH ?? ''}` } });
  t.teardown(() => emu.stop());
  return { root, link, ns, emu };
}

const execline = (ns: string, file: string) => inNetns(ns, '/usr/bin/execlineb', ['-P', file]);

test('up creates the bridge and two owned persistent taps joined to it; down removes them; both are idempotent', (t) => {
  // The plumbing alone: crosvm's links are in its argv, so no VMM is asked anything.
  const { out, link } = generateGuide(t, ['--vmm-user', 'nobody', '--vmm', 'crosvm', '--no-user-console']);
  const ns = createNetns(t);
  const up = path.join(out, link.service, 'up');
  const down = path.join(out, link.service, 'down');

  const assertUp = (when: string) => {
    const ifs = interfaces(ns);
    const br = ifs.get(link.bridge);
    t.is(br?.linkinfo?.info_kind, 'bridge', `${when}: bridge`);
    t.true(br?.flags.includes('UP'), `${when}: bridge up`);
    for (const tap of [link.clientTap, link.providerTap]) {
      const i = ifs.get(tap);
      t.is(i?.linkinfo?.info_kind, 'tun', `${when}: ${tap} is a tun device`);
      t.is(i?.linkinfo?.info_data?.type, 'tap', `${when}: ${tap} is a tap`);
      t.true(i?.linkinfo?.info_data?.persist === true, `${when}: ${tap} persists`);
      t.true(['nobody', 65534, '65534'].includes(i?.linkinfo?.info_data?.user ?? ''), `${when}: ${tap} owned by nobody, got ${String(i?.linkinfo?.info_data?.user)}`);
      t.is(i?.master, link.bridge, `${when}: ${tap} in the bridge`);
      t.true(i?.flags.includes('UP'), `${when}: ${tap} up`);
    }
  };
  const assertGone = (when: string) => {
    const ifs = interfaces(ns);
    for (const name of [link.bridge, link.clientTap, link.providerTap]) t.false(ifs.has(name), `${when}: ${name} removed`);
    t.deepEqual([...ifs.keys()], ['lo'], `${when}: nothing else left`);
  };

  execline(ns, up);
  assertUp('after up');
  execline(ns, up);
  assertUp('after up twice');
  execline(ns, down);
  assertGone('after down');
  execline(ns, down);
  assertGone('after down twice');

  // A crash left a bridge and a tap owned by someone else: up starts clean.
  inNetns(ns, 'ip', ['link', 'add', 'name', link.bridge, 'type', 'bridge']);
  inNetns(ns, 'ip', ['tuntap', 'add', 'dev', link.clientTap, 'mode', 'tap', 'user', 'root']);
  execline(ns, up);
  assertUp('after up over leftovers');
  execline(ns, down);
  assertGone('final down');
});

/** The NICs the stub VMM of the VM whose runtime dir is `dir` has hot-plugged: id -> tap and MAC. */
const nics = (dir: string): Record<string, { tap: string; mac: string }> => JSON.parse(fs.readFileSync(path.join(dir, 'nics'), 'utf8')) as Record<string, { tap: string; mac: string }>;

realS6rcTest('the provider side is hot-plugged into the running provider and recorded; a provider restarted by s6 gets it back, and its client keeps running', async (t, s6rc) => {
  const { root, link, ns, emu } = await superviseGuide(t, s6rc);
  await emu.up(['vms'], { timeoutMs: 30_000 });

  const netRun = path.join(root, 'run', 'netvm');
  const lynxRun = path.join(root, 'run', 'appvm-lynx');
  const netArgv = recordedArgv(netRun);
  const lynxArgv = recordedArgv(lynxRun);
  t.false(netArgv.includes('--net'), `the provider starts without its client's tap: ${netArgv.join(' ')}`);
  t.is(lynxArgv[lynxArgv.indexOf('--net') + 1], `tap=${link.clientTap},mac=${link.clientMac}`);
  const hex = link.service.slice('vmnet-'.length);
  const attached = { [`vmsvc-link-${hex}`]: { tap: link.providerTap, mac: link.providerMac } };
  // cloud-hypervisor v53.0: `ch-remote --api-socket S add-net id=..,tap=..,mac=..` parses the NetConfig
  // client-side and sends PUT /api/v1/vm.add-net with it as JSON (cloud-hypervisor/src/bin/ch-remote.rs:445-455,
  // :898-909; keys vmm/src/config.rs:1683-1717), which the stub's API socket takes as the VMM does
  // (vmm/src/api/http/mod.rs:217-218; 200 with {"id","bdf"}, lib.rs:346-364); `info` then lists the tap
  // in config.net (vmm/src/api/mod.rs:221-228), which the attach's last request asks for.
  t.deepEqual(nics(netRun), attached, 'attached through the API (ch-remote add-net)');
  const record = path.join(root, 'run', '.links', 'netvm', hex);
  t.is(fs.readFileSync(record, 'utf8'), `mac=${link.providerMac}\n`, 'root\'s record of the link');
  t.is(fs.statSync(path.dirname(record)).mode & 0o777, 0o700);
  t.is(fs.statSync(path.dirname(record)).uid, 0);
  // The provider first, then its link, then the client.
  const at = (what: string): number => emu.transitions.indexOf(what);
  t.true(at('up vm-netvm') < at(`up ${link.service}`) && at(`up ${link.service}`) < at('up vm-appvm-lynx'));
  const before = interfaces(ns);
  const lynxPid = emu.servicePid('vm-appvm-lynx');

  process.kill(emu.servicePid('vm-netvm')!, 'SIGKILL');
  await waitFor('netvm restarted', () => fs.readFileSync(path.join(netRun, 'starts'), 'utf8').trim().split('\n').length >= 2, 15_000);
  // Its readiness check attaches the recorded link to the new VMM.
  await waitFor('the link attached to the new VMM', () => JSON.stringify(nics(netRun)) === JSON.stringify(attached), 15_000);
  t.deepEqual(recordedArgv(netRun), netArgv, 'same argv after the restart');
  const after = interfaces(ns);
  for (const name of [link.bridge, link.clientTap, link.providerTap]) {
    t.is(after.get(name)?.ifindex, before.get(name)?.ifindex, `${name} survived (same ifindex)`);
    t.is(after.get(name)?.master, before.get(name)?.master);
  }
  t.is(emu.servicePid('vm-appvm-lynx'), lynxPid, 'the client was not restarted');
  t.is(fs.readFileSync(path.join(lynxRun, 'starts'), 'utf8').trim().split('\n').length, 1);

  // Taking the link down stops the client first, then lets the provider's VMM go of it, then removes the devices; the provider runs on.
  const netPid = emu.servicePid('vm-netvm');
  await emu.down([link.service]);
  t.false(emu.isUp('vm-appvm-lynx'));
  t.true(emu.isUp('vm-netvm'));
  t.is(emu.servicePid('vm-netvm'), netPid, 'the provider was not restarted');
  // `ch-remote remove-device ID`: PUT /api/v1/vm.remove-device {"id": ID}, 204 (ch-remote.rs:385-395, :863-867;
  // vmm/src/api/mod.rs:1508-1533).
  t.deepEqual(nics(netRun), {}, 'detached (ch-remote remove-device)');
  t.false(fs.existsSync(record), 'the record is gone');
  t.deepEqual([...interfaces(ns).keys()], ['lo']);
});

realS6rcTest('s6-rc -d change on the bundle leaves the host as it was before -u change: the links go with the VMs', async (t, s6rc) => {
  const { link, ns, emu } = await superviseGuide(t, s6rc);
  const before = interfaces(ns);

  await emu.up(['vms'], { timeoutMs: 30_000 });
  const up = interfaces(ns);
  for (const name of [link.bridge, link.clientTap, link.providerTap]) t.true(up.has(name), `${name} exists while the bundle is up`);
  // The link comes up after the provider (it is attached to it) and before the client; it goes down after the client, before the provider.
  const at = (what: string): number => emu.transitions.indexOf(what);
  t.true(at('up vm-netvm') >= 0 && at('up vm-netvm') < at(`up ${link.service}`));
  t.true(at(`up ${link.service}`) < at('up vm-appvm-lynx'));

  await emu.down(['vms'], { timeoutMs: 30_000 });
  t.false(emu.isUp('vm-netvm'));
  t.false(emu.isUp('vm-appvm-lynx'));
  t.false(emu.isUp(link.service), 'the link oneshot is down');
  t.deepEqual(interfaces(ns), before, 'the namespace is as it was before the bundle went up');
  t.true(at(`down ${link.service}`) > at('down vm-appvm-lynx'));
  t.true(at(`down ${link.service}`) < at('down vm-netvm'));
});

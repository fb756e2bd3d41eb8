/**
 * Links hot-plugged into a running provider, attacked from the provider's
 * VMM (an escaped guest: it owns its runtime dir and answers its API as it
 * likes), under the real s6-rc with the stub VMM (cloud-hypervisor's API)
 * in the rig's network namespace. Each attack has a control: the same
 * action where it is allowed works.
 *
 * - A failed attach must not leave root's record of the link behind: the
 *   provider's readiness check attaches every record after each start of
 *   its VMM, and stops at the first that fails, so one stale record kept
 *   the provider from ever being ready again and starved the records after
 *   it (found here: net-up wrote the record, then exited on the failed
 *   attach with the record still there).
 * - The records are root's: the provider's VMM uid can write neither them
 *   nor their dir.
 * - A provider VMM that never answers holds a link's up and down only for
 *   the requests' bounds: the client's link fails, or goes, in bounded time,
 *   and its devices go whatever the VMM says.
 */
import type { ExecutionContext } from 'ava';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { makeVm } from '../support/data-dir.js';
import { interfaces } from '../support/netns.js';
import { realS6rcTest } from '../support/real-s6rc.js';
import { startRig, type Rig } from '../support/real-rig.js';
import { installStubVmm, stubVmmPid } from '../support/stub-vmm.js';
import { waitFor } from '../support/wait.js';

interface ManifestLink {
  readonly client: string;
  readonly provider: string;
  readonly service: string;
  readonly providerTap: string;
  readonly clientTap: string;
  readonly bridge: string;
}

const linkOf = (r: Rig, client: string): ManifestLink => {
  const m = JSON.parse(fs.readFileSync(path.join(r.state, 'source', 'vmsvc-manifest.json'), 'utf8')) as { links: ManifestLink[] };
  const l = m.links.find((k) => k.client === client);
  if (l === undefined) throw new Error(`no link of ${client}`);
  return l;
};
const hexOf = (l: ManifestLink): string => l.service.slice('vmnet-'.length);
const records = (r: Rig, provider: string): string[] => {
  const dir = path.join(r.runtime, '.links', provider);
  return fs.existsSync(dir) ? fs.readdirSync(dir).sort() : [];
};
/** The NICs the stub VMM has attached, by device id. */
const nics = (r: Rig, vm: string): string[] => Object.keys(JSON.parse(fs.readFileSync(path.join(r.runtime, vm, 'nics'), 'utf8')) as object).sort();
const change = (r: Rig, how: '-u' | '-d', services: readonly string[]) => r.s6('s6-rc', ['-l', r.live, '-t', '120000', how, 'change', ...services]);
const ready = (r: Rig, service: string): boolean => r.s6('s6-svstat', ['-o', 'ready', path.join(r.scandir, service)]).stdout.trim() === 'true';
/** What the VM's VMM user may do: its runtime dir's owner, as the run script gave it over. */
const asVmm = (r: Rig, vm: string, script: string) => {
  const st = fs.statSync(path.join(r.runtime, vm));
  return spawnSync('/bin/sh', ['-c', script], { uid: st.uid, gid: st.gid, encoding: 'utf8' });
};

async function netvmWithApp(t: ExecutionContext, r: Rig): Promise<ManifestLink> {
  makeVm(r.data, 'netvm');
  makeVm(r.data, 'app', { providers: ['netvm'] });
  const first = r.apply();
  t.is(first.code, 0, first.stderr);
  const up = change(r, '-u', ['vm-app-pipeline']);
  if (up.code !== 0 && process.env.DEBUG_RIG) {
    for (const f of ['svscan.log', 'log/netvm/vmm/current', 'log/netvm/current']) t.log(f, fs.existsSync(path.join(r.root, f)) ? fs.readFileSync(path.join(r.root, f), 'utf8').slice(-3000) : '-');
  }
  t.is(up.code, 0, up.stderr);
  const link = linkOf(r, 'app');
  t.deepEqual(records(r, 'netvm'), [hexOf(link)], 'root recorded the link');
  t.deepEqual(nics(r, 'netvm'), [`vmsvc-link-${hexOf(link)}`], 'and attached it to the running provider');
  return link;
}

/** Kills the provider's VMM; s6 starts it again, and its readiness check runs anew. */
async function restartVmm(r: Rig, vm: string): Promise<void> {
  const runtime = path.join(r.runtime, vm);
  const before = stubVmmPid(runtime);
  if (before === null) throw new Error(`${vm}'s VMM does not run`);
  process.kill(before, 'SIGKILL');
  await waitFor(`s6 to start ${vm}'s VMM again`, () => {
    const now = stubVmmPid(runtime);
    return now !== null && now !== before;
  }, 30_000);
}

realS6rcTest('hot-plug attack: an attach the provider\'s VMM refuses leaves no record, so the provider\'s next start is ready with every other link', async (t, real) => {
  t.timeout(240_000);
  const r = await startRig(t, real, { bin: (bin) => installStubVmm(bin) });
  const app = await netvmWithApp(t, r);

  // The attack: the provider's VMM refuses the next client's tap (as it
  // would a tap that is gone or another uid's, or as a guest that owns it answers).
  makeVm(r.data, 'app2', { providers: ['netvm'] });
  t.is(r.apply().code, 0);
  const app2 = linkOf(r, 'app2');
  const refuse = asVmm(r, 'netvm', `printf '%s\\n' '${app2.providerTap}' > ${path.join(r.runtime, 'netvm', 'refuse-net')}`);
  t.is(refuse.status, 0, `the provider's VMM user writes its own runtime dir: ${refuse.stderr}`);
  const failed = change(r, '-u', ['vm-app2-pipeline']);
  t.not(failed.code, 0, 'the refused link fails, and its client does not start');
  t.false(r.up().includes(app2.service));
  t.deepEqual(records(r, 'netvm'), [hexOf(app)], 'no record of a link that is not up');

  // The provider's VMM restarts: its check attaches what is recorded, and it is ready.
  await restartVmm(r, 'netvm');
  await waitFor('the restarted provider to be ready', () => ready(r, 'vm-netvm'), 20_000);
  t.deepEqual(nics(r, 'netvm'), [`vmsvc-link-${hexOf(app)}`], 'its client\'s link is back, and only it');

  // Control: once the VMM takes the tap, the same link comes up, is recorded and attached.
  fs.rmSync(path.join(r.runtime, 'netvm', 'refuse-net'));
  const upAgain = change(r, '-u', ['vm-app2-pipeline']);
  t.is(upAgain.code, 0, upAgain.stderr);
  t.deepEqual(records(r, 'netvm'), [hexOf(app), hexOf(app2)].sort());
  t.deepEqual(nics(r, 'netvm'), [`vmsvc-link-${hexOf(app)}`, `vmsvc-link-${hexOf(app2)}`].sort());
});

realS6rcTest('hot-plug attack: the provider\'s VMM user can write neither root\'s link records nor their dir; its own runtime dir it can', async (t, real) => {
  t.timeout(180_000);
  const r = await startRig(t, real, { bin: (bin) => installStubVmm(bin) });
  const app = await netvmWithApp(t, r);
  const dir = path.join(r.runtime, '.links', 'netvm');
  const record = path.join(dir, hexOf(app));
  const st = fs.statSync(dir);
  t.is(st.uid, 0, 'the records dir is root\'s');
  t.is(st.mode & 0o777, 0o700);
  t.is(fs.statSync(path.dirname(dir)).uid, 0, '.links is root\'s');
  t.is(fs.statSync(path.dirname(dir)).mode & 0o022, 0, '.links is writable by root alone');
  for (const [what, script] of [
    ['add a record', `echo mac=0a:b3:ec:80:00:01 > ${dir}/0001`],
    ['rewrite a record', `echo vmsvc_sock=/root > ${record}`],
    ['read a record', `cat ${record}`],
    ['replace the records dir', `mv ${dir} ${dir}.x || mkdir ${path.dirname(dir)}/x`],
  ] as const) {
    const tried = asVmm(r, 'netvm', script);
    t.not(tried.status, 0, `the VMM user cannot ${what}`);
  }
  t.is(fs.readFileSync(record, 'utf8'), 'mac=0a:b3:ec:80:' + hexOf(app).slice(0, 2) + ':' + hexOf(app).slice(2) + '\n', 'the record is as root wrote it');
  // Control: the same user writes its own runtime dir.
  t.is(asVmm(r, 'netvm', `echo x > ${path.join(r.runtime, 'netvm', 'mine')}`).status, 0);
});

realS6rcTest('hot-plug attack: a provider VMM that never answers holds a link\'s up and down only for the requests\' bounds, and the devices go', async (t, real) => {
  t.timeout(300_000);
  const r = await startRig(t, real, { bin: (bin) => installStubVmm(bin) });
  const app = await netvmWithApp(t, r);
  makeVm(r.data, 'app2', { providers: ['netvm'] });
  t.is(r.apply().code, 0);
  const app2 = linkOf(r, 'app2');

  // Control: a client goes while its provider answers: its link is detached and its devices gone.
  const started = Date.now();
  t.is(change(r, '-u', ['vm-app2-pipeline']).code, 0);
  t.is(change(r, '-d', [app2.service]).code, 0);
  t.deepEqual(nics(r, 'netvm'), [`vmsvc-link-${hexOf(app)}`], 'detached');
  const normal = Date.now() - started;

  // The attack: the provider's VMM stalls every request (its runtime dir is its user's).
  t.is(asVmm(r, 'netvm', `touch ${path.join(r.runtime, 'netvm', 'hung')}`).status, 0);
  const upAt = Date.now();
  const up = change(r, '-u', ['vm-app2-pipeline']);
  const upMs = Date.now() - upAt;
  t.not(up.code, 0, 'the link cannot be attached');
  // CH's attach is two requests (add-net, then info), each killed at 10 s.
  t.true(upMs < 30_000, `the up failed within the requests' bounds: ${upMs} ms`);
  t.deepEqual(records(r, 'netvm'), [hexOf(app)], 'and left no record');
  const downAt = Date.now();
  const down = change(r, '-d', [app.service]);
  const downMs = Date.now() - downAt;
  t.is(down.code, 0, `the client's link goes though its provider never answers: ${down.stderr}`);
  t.true(downMs < 20_000, `within the detach's bound: ${downMs} ms (${normal} ms with an answering VMM)`);
  const left = interfaces(r.ns);
  for (const dev of [app.providerTap, app.clientTap, app.bridge]) t.false(left.has(dev), `${dev} is gone`);
  t.deepEqual(records(r, 'netvm'), [], 'and so is its record');
  t.true(r.up().includes('vm-netvm'), 'the provider was not stopped for it');
});

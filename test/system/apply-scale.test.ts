/**
 * The whole boot chain at scale under the real s6-rc: generate, compile,
 * s6-rc-init, every VM up, then a live update (one VM changed, one removed,
 * one added), with a one-process stub VMM. 1000 VMs here;
 * VMSVC_SCALE_VMS=5000 runs the same test at 5000 (npm run bench does).
 * Also: apply refuses, before s6-rc-init, an s6-svscan whose -C is too
 * small (s6-rc-init would wait for the missing supervisors forever), and
 * raises the stack of s6-rc-compile when this process's is too small.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { START_WAVE } from '../../generator/admin/start-stop.js';
import { makeVm } from '../support/data-dir.js';
import { realS6rcTest } from '../support/real-s6rc.js';
import { installTinyVmm, startRig, TINY_VMM_FLAGS } from '../support/real-rig.js';

const VMS = Number(process.env.VMSVC_SCALE_VMS ?? 1000);
const name = (i: number): string => `vm${String(i).padStart(5, '0')}`;

realS6rcTest('real s6-rc: apply refuses an s6-svscan whose -C cannot hold the database, naming the -C it needs', async (t, real) => {
  const r = await startRig(t, real, { servicesMax: 30, bin: (bin) => installTinyVmm(bin, real), flags: TINY_VMM_FLAGS });
  for (let i = 0; i < 15; i++) makeVm(r.data, name(i));
  const res = r.apply();
  t.is(res.code, 111, res.stdout);
  t.regex(res.stderr, new RegExp(`the s6-svscan on ${r.scandir} \\(pid ${r.svscan.pid ?? 0}\\) cannot supervise .* \\(15 VMs\\): `
    + 'it supervises at most 30 service directories and this database needs 32: run it with -C 32 or more'));
  t.regex(res.stderr, /nothing started, current unchanged, .* removed/);
  t.false(fs.existsSync(r.live), 's6-rc-init was not run');
  t.false(fs.existsSync(path.join(r.state, 'current')));
  t.regex(r.apply(['--dry-run']).stdout, /the supervision tree must allow 32 service directories \(s6-svscan -C, default 1000\)/);

  // 14 VMs fit exactly (2 each and s6-rc's 2).
  fs.rmSync(path.join(r.data, name(14)), { recursive: true });
  const fits = r.apply();
  t.is(fits.code, 0, fits.stderr);
  t.is(r.s6('s6-rc', ['-l', r.live, '-u', 'change', 'vms']).code, 0);
  const h1 = path.basename(fs.realpathSync(path.join(r.live, 'compiled')));

  // An update needs room for both databases' directories for a moment: without it s6-rc-update waits forever.
  fs.rmSync(path.join(r.data, name(13)), { recursive: true });
  const update = r.apply();
  t.is(update.code, 111, update.stdout);
  t.regex(update.stderr, /this database needs 58: run it with -C 58 or more/);
  t.regex(update.stderr, new RegExp(`nothing changed: ${r.live} still runs compiled/${h1}`));
  t.is(path.basename(fs.realpathSync(path.join(r.live, 'compiled'))), h1);
  t.is(r.up().length, 2 * 14 + 1, 'all 14 VMs and their loggers still up, and s6rc-fdholder');
});

realS6rcTest(`real s6-rc: ${VMS} VMs: generate, compile, init, all up, live update`, async (t, real) => {
  t.timeout(15 * 60_000);
  // An update needs room for both databases' service directories (s6rc-resources.ts).
  const r = await startRig(t, real, { servicesMax: 2 * (2 * VMS + 2), bin: (bin) => installTinyVmm(bin, real), flags: [...TINY_VMM_FLAGS, '--timeout-up', '0'] });
  // Every 100th VM is a client of the one before it: a few link oneshots too.
  for (let i = 0; i < VMS; i++) makeVm(r.data, name(i), i % 100 === 1 ? { providers: [name(i - 1)] } : {});
  const links = Math.floor((VMS + 98) / 100);
  const time = <T>(what: string, fn: () => T): T => {
    const start = process.hrtime.bigint();
    const v = fn();
    t.log(`${what}: ${(Number(process.hrtime.bigint() - start) / 1e9).toFixed(1)} s`);
    return v;
  };
  // Started with a 512 KiB stack, on which s6-rc-compile dies with SIGSEGV on
  // 1000 VMs (as it does on 8 MiB past ~3300): apply must raise it.
  const first = time('apply (generate, compile, init)', () => r.applyWithStack(512 * 1024));
  t.is(first.code, 0, first.stderr);
  t.regex(first.stdout, new RegExp(`\\(${VMS} VMs, ${2 * VMS + links} services`));
  // All at once, as an admin would: the links first, then the VMs in waves.
  // In one s6-rc change the starting loggers starved s6rc-oneshot-runner past
  // s6-rc's 30 s and links failed (seen in CI: 2 of 10, 2 cores), and an
  // s6-ftrigrd its 5 s sync (seen in a full run here).
  const upAll = time('vmsvc start --all', () => r.admin(['start', '--all', '--json']));
  t.is(upAll.code, 0, upAll.stderr);
  const argvs = (JSON.parse(upAll.stdout) as { argv: string[][] }).argv;
  t.is(argvs.length, 1 + Math.ceil(VMS / START_WAVE), 'one change for the links, then the VMs a wave at a time');
  t.true(argvs.slice(1).every((a) => a.length - a.indexOf('change') - 1 <= START_WAVE));
  t.true(argvs[0]!.slice(argvs[0]!.indexOf('change') + 1).every((s) => s.startsWith('vmnet-')), 'links first');
  t.is(argvs[0]!.length - argvs[0]!.indexOf('change') - 1, links);
  const up = r.up();
  t.is(up.length, 2 * VMS + links + 2, 'every VM, logger and link, and s6-rc\'s two');
  const pids = new Map([0, 1, 2, VMS - 1].map((i) => [name(i), r.pid(`vm-${name(i)}`)]));
  for (const [vm, pid] of pids) t.not(pid, null, vm);

  fs.writeFileSync(path.join(r.data, name(2), 'blk', 'data.img'), 'more\n');
  fs.rmSync(path.join(r.data, name(VMS - 1)), { recursive: true });
  makeVm(r.data, 'zz-new');
  const second = time('apply (live update)', () => r.applyWithStack(512 * 1024));
  t.is(second.code, 0, second.stderr);
  t.regex(second.stdout, /switched .*: 2 added, 2 removed, 1 restarted\n$/);
  const p2 = r.pid(`vm-${name(2)}`);
  t.true(p2 !== null && p2 !== pids.get(name(2)), 'the changed VM restarted');
  t.is(r.pid(`vm-${name(0)}`), pids.get(name(0)) ?? -1, 'the others kept running');
  t.is(r.pid(`vm-${name(1)}`), pids.get(name(1)) ?? -1);
  t.false(r.up().includes(`vm-${name(VMS - 1)}`), 'the removed VM is down');
  t.is(r.up().length, up.length - 2);
});

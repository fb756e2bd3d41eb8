/**
 * The host preflight through the CLI: `check --host` fails on the host
 * rules' errors and lists them under `host` with --json; `apply` reports
 * them, and stops before running anything when it could not work (no
 * s6-svscan on the scandir: s6-rc-init would wait forever), not when only
 * the VMs' starts are at stake (the way to the data dir).
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { VMSVC, vmsvc, withoutCgroup } from '../support/cli.js';
import { dataDirWith, tempDir } from '../support/data-dir.js';
import { realS6rc } from '../support/real-s6rc.js';

function setup(t: { teardown(fn: () => void): void }) {
  const f = dataDirWith({ vm: {} });
  t.teardown(() => fs.rmSync(f.root, { recursive: true, force: true }));
  const scandir = path.join(f.root, 'scan');
  fs.mkdirSync(scandir);
  // The prefix's s6-rc when it is here, so that only the s6-svscan is missing.
  const env = realS6rc === null ? process.env : realS6rc.env();
  return { ...f, scandir, env };
}

test('check --host: a missing VMM and no s6-svscan are errors (exit 1), listed under host in --json', (t) => {
  const f = setup(t);
  const flags = ['check', '--data', f.data, '--host', '--scandir', f.scandir, '--vmm-bin', path.join(f.root, 'no-vmm'), '--accel', 'kvm'];
  const r = vmsvc(flags, f.env);
  t.is(r.code, 1, r.stderr);
  t.regex(r.stderr, /no-vmm: error\[host-vmm-missing\]/);
  t.regex(r.stderr, /scan: error\[host-svscan-missing\]/);
  t.regex(r.stdout, /1 valid.*; host: \d+ errors?/);
  const j = vmsvc([...flags, '--json'], f.env);
  t.is(j.code, 1);
  const parsed = JSON.parse(j.stdout) as { ok: boolean; diagnostics: unknown[]; host: Array<{ rule: string; path: string }> };
  t.false(parsed.ok);
  t.deepEqual(parsed.diagnostics, []);
  t.true(parsed.host.some((d) => d.rule === 'host-svscan-missing' && d.path === f.scandir));
  t.false(parsed.host.some((d) => d.rule === 'host-data-ancestor-untrusted'), 'the data dir is below root\'s own 0755 dir');
  // Without --host nothing of the host is looked at, and --scandir alone is a usage error.
  t.is(vmsvc(['check', '--data', f.data, '--vmm-bin', path.join(f.root, 'no-vmm')], f.env).code, 0);
  t.is(vmsvc(['check', '--data', f.data, '--scandir', f.scandir], f.env).code, 100);
});

test('apply on a scandir no s6-svscan watches stops before running anything; --dry-run reports it and goes on', (t) => {
  const f = setup(t);
  const state = path.join(f.root, 'state');
  const flags = ['apply', '--data', f.data, '--state', state, '--scandir', f.scandir, '--accel', 'kvm'];
  const started = Date.now();
  const r = vmsvc(flags, f.env, 30_000);
  t.log(`apply took ${Date.now() - started} ms`);
  t.is(r.code, 1, r.stderr);
  t.regex(r.stderr, /error\[host-svscan-missing\]/);
  t.regex(r.stderr, /nothing run/);
  t.false(fs.existsSync(state), 'apply wrote nothing');
  t.deepEqual(fs.readdirSync(f.scandir), [], 'and linked nothing into the scandir');
  const dry = vmsvc([...flags, '--dry-run'], f.env, 30_000);
  t.is(dry.code, 0, dry.stderr);
  t.regex(dry.stderr, /error\[host-svscan-missing\]/);
  t.regex(dry.stdout, /dry run: would compile/);
});

test('check --host and apply --dry-run judge the way to --data: a directory above it others can write is an error naming it, which apply reports and goes on', (t) => {
  const f = setup(t);
  fs.chmodSync(f.root, 0o777);
  const flags = ['check', '--data', f.data, '--host', '--vmm-bin', '/bin/true', '--sandbox', 'none', '--accel', 'tcg', '--json'];
  const r = vmsvc(flags, f.env);
  t.is(r.code, 1, r.stderr);
  const parsed = JSON.parse(r.stdout) as { host: Array<{ rule: string; path: string }> };
  t.deepEqual(parsed.host.filter((d) => d.rule === 'host-data-ancestor-untrusted').map((d) => d.path), [f.root]);
  // The state dir elsewhere: apply refuses one below a directory others can write before its preflight.
  const state = tempDir('vmsvc-state-');
  t.teardown(() => fs.rmSync(state, { recursive: true, force: true }));
  const dry = vmsvc(['apply', '--data', f.data, '--state', path.join(state, 'state'), '--scandir', f.scandir, '--dry-run', '--accel', 'tcg'], f.env, 30_000);
  t.is(dry.code, 0, dry.stderr);
  t.true(dry.stderr.includes(`${f.root}: error[host-data-ancestor-untrusted]`), dry.stderr);
  t.regex(dry.stdout, /dry run: would compile/);
  fs.chmodSync(f.root, 0o755);
  t.false(vmsvc(flags, f.env).stdout.includes('host-data-ancestor-untrusted'));
});

const NOBODY = 65534;
const asRoot = process.getuid?.() === 0;

test(`check --host run by another user than root judges the way to --data as root's services take it: a directory above it that user owns is theirs to redirect${asRoot ? '' : ' [skipped: needs root]'}`, (t) => {
  if (!asRoot) return t.pass();
  const f = setup(t);
  fs.chownSync(f.root, NOBODY, NOBODY);
  const flags = ['check', '--data', f.data, '--host', '--vmm-bin', '/bin/true', '--sandbox', 'none', '--accel', 'tcg', '--json'];
  const untrusted = (r: { stdout: string }): string[] => (JSON.parse(r.stdout) as { host: Array<{ rule: string; path: string }> }).host.filter((d) => d.rule === 'host-data-ancestor-untrusted').map((d) => d.path);
  t.deepEqual(untrusted(vmsvc(flags, f.env)), [f.root], 'control: root sees the directory above the data dir is another user\'s');
  // The same check, by that user (a partition's owner checking their layout): the services that
  // bind and open below --data still run as root, and that user can still rename or swap what is
  // above it.
  const applyuidgid = ['/opt/skarnet/bin/s6-applyuidgid', '/usr/bin/s6-applyuidgid'].find((p) => fs.existsSync(p));
  if (applyuidgid === undefined) return t.pass('no s6-applyuidgid here');
  const r = spawnSync(applyuidgid, ['-u', String(NOBODY), '-g', String(NOBODY), '-G', '', process.execPath, VMSVC, ...withoutCgroup(flags)], { encoding: 'utf8', env: f.env, timeout: 60_000 });
  t.deepEqual(untrusted(r), [f.root], r.stderr);
});

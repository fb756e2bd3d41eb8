/**
 * The state dir is root's alone: apply writes there the record (where.json)
 * whose s6-rc program start, stop and restart run as root. A state dir
 * another user can write (owned by them, group- or world-writable, below a
 * directory they own, or created under a umask of 000) is refused by the
 * admin commands and by apply; a root-owned one is used as before.
 */
import test from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { whereJson } from '../../generator/command/where.js';
import { withoutCgroup, VMSVC } from '../support/cli.js';
import { dataDirWith, tempDir } from '../support/data-dir.js';
import { realS6rc } from '../support/real-s6rc.js';
import { waitFor } from '../support/wait.js';

const NOBODY = 65534;
/** An s6-svscan to satisfy apply's host preflight: Debian's, else the prefix's. */
const S6_SVSCAN = ['/usr/bin/s6-svscan', ...(realS6rc === null ? [] : [realS6rc.bin('s6-svscan')])].find((p) => fs.existsSync(p));
const asRoot = process.getuid?.() === 0;

function run(args: readonly string[], shell = ''): { code: number; out: string } {
  const r = spawnSync('sh', ['-c', `${shell}exec "$@"`, 'sh', process.execPath, VMSVC, ...withoutCgroup(args)], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

/** A state dir whose where.json names `s6rc` as the s6-rc program, with a live dir start can use. */
function plantedState(root: string, s6rc: string): string {
  const state = path.join(root, 'state');
  fs.mkdirSync(path.join(state, 'live', 'compiled'), { recursive: true });
  fs.writeFileSync(path.join(state, 'where.json'), whereJson({
    state, source: path.join(root, 'out'), scandir: path.join(root, 'scan'), prefix: '', live: path.join(state, 'live'), s6rc, logDir: path.join(root, 'log'), runtimeDir: path.join(root, 'run'),
  }));
  return state;
}

(asRoot ? test : test.skip)('restart --all runs no program from a where.json another user could write; the same record in a root-only state dir is used', (t) => {
  const { root, data } = dataDirWith({ good: {} });
  fs.chmodSync(root, 0o755);
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  t.is(run(['generate', '--data', data, '--out', path.join(root, 'out')]).code, 0);
  const canary = path.join(root, 'ran');
  const evil = path.join(root, 'evil');
  fs.writeFileSync(evil, `#!/bin/sh\necho "$@" >> ${canary}\n`, { mode: 0o755 });
  const state = plantedState(root, evil);

  // The attack: the state dir is nobody's.
  fs.chownSync(state, NOBODY, NOBODY);
  const refused = run(['restart', '--all', '--state', state]);
  t.is(refused.code, 1, refused.out);
  t.regex(refused.out, /not root's alone/);
  t.false(fs.existsSync(canary), 'the planted program never ran');
  // where.json itself group-writable, the dir root's again.
  fs.chownSync(state, 0, 0);
  fs.chmodSync(path.join(state, 'where.json'), 0o664);
  t.regex(run(['ls', '--state', state]).out, /not root's alone/);
  t.false(fs.existsSync(canary));

  // Control: root's own record is followed (its s6-rc program is asked what runs).
  fs.chmodSync(path.join(state, 'where.json'), 0o644);
  run(['restart', '--all', '--state', state]);
  t.true(fs.existsSync(canary), 'a root-only record is used');
});

(asRoot && S6_SVSCAN !== undefined ? test : test.skip)('apply refuses a state dir others can write, and makes its own root\'s alone under umask 000', async (t) => {
  const { root, data } = dataDirWith({ vm: {} });
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  const open = path.join(root, 'open');
  fs.mkdirSync(open);
  fs.chmodSync(open, 0o777);
  const args = (state: string) => ['apply', '--data', data, '--state', state, '--scandir', path.join(root, 'scan'), '--s6-rc-compile', '/bin/false'];
  const refused = run(args(path.join(open, 'state')));
  t.not(refused.code, 0);
  t.regex(refused.out, /not root's alone/);
  t.false(fs.existsSync(path.join(open, 'state')), 'nothing made there');

  // Control: a fresh state dir below root's own, under umask 000, comes out
  // 0755. apply gets that far only past its host preflight: an s6-svscan on
  // the scandir, and s6-rc programs that exist (s6-rc-compile then fails).
  const scan = path.join(root, 'scan');
  fs.mkdirSync(scan);
  const svscan = spawn(S6_SVSCAN ?? 's6-svscan', [scan], { stdio: 'ignore' });
  t.teardown(() => svscan.kill('SIGKILL'));
  await waitFor('s6-svscan', () => fs.existsSync(path.join(scan, '.s6-svscan', 'control')));
  const state = path.join(tempDir(), 'a', 'state');
  t.teardown(() => fs.rmSync(path.dirname(path.dirname(state)), { recursive: true, force: true }));
  const programs = ['s6-rc-init', 's6-rc-update', 's6-rc'].flatMap((p) => [`--${p}`, '/bin/true']);
  run([...args(state), ...programs], 'umask 000; ');
  for (const d of [path.dirname(state), state]) t.is(fs.statSync(d).mode & 0o022, 0, `${d} is not writable by others`);
});

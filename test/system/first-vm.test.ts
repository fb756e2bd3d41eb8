/**
 * The README's first VM in five minutes, walked as a newcomer would:
 * `npm run first-vm` (scripts/first-vm.ts) builds the guest, applies a
 * netvm and a client under a private s6-svscan in a network namespace with
 * QEMU; then the admin commands it suggests, with nothing but VMSVC_STATE;
 * then `npm run first-vm -- down` leaves nothing behind.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { VMSVC } from '../support/cli.js';
import { consoleAnswer } from '../support/console.js';
import { tempDir } from '../support/data-dir.js';
import { realS6rcTest } from '../support/real-s6rc.js';
import { waitFor } from '../support/wait.js';

const SCRIPT = fileURLToPath(new URL('../../scripts/first-vm.ts', import.meta.url));

realS6rcTest('first VM in five minutes: up, ls, logs, console, restart, down, as the walk-through says', async (t, s6rc) => {
  t.timeout(600_000);
  const parent = tempDir('vmsvc-first-');
  const dir = path.join(parent, 'vm');
  const netns = `vmsvc-first-${process.pid}`;
  const env = { ...process.env, VMSVC_S6RC_PREFIX: s6rc.prefix, VMSVC_FIRST_VM_DIR: dir, VMSVC_FIRST_VM_NETNS: netns };
  const script = (command: string) => spawnSync(process.execPath, ['--import=tsx', SCRIPT, command], { encoding: 'utf8', env, timeout: 540_000 });
  t.teardown(() => {
    script('down');
    fs.rmSync(parent, { recursive: true, force: true });
  });
  // A directory someone else made there first is refused, not filled in.
  fs.mkdirSync(dir);
  fs.chownSync(dir, 65534, 65534);
  const squatted = script('up');
  t.is(squatted.status, 1, squatted.stdout);
  t.regex(squatted.stderr, /cannot make/);
  fs.rmdirSync(dir);

  const started = Date.now();
  const up = script('up');
  t.is(up.status, 0, `${up.stdout}${up.stderr}`);
  t.log(`up in ${Date.now() - started} ms`);
  t.regex(up.stdout, new RegExp(`export VMSVC_STATE=${path.join(dir, 'state')}`));

  // What it tells the admin to type, with VMSVC_STATE alone.
  const admin = { ...process.env, VMSVC_STATE: path.join(dir, 'state') };
  const vmsvc = (...args: string[]) => spawnSync(process.execPath, [VMSVC, ...args], { encoding: 'utf8', env: admin, timeout: 240_000 });
  const states = () => (JSON.parse(vmsvc('ls', '--json').stdout) as { vms: Array<{ name: string; state: string }> }).vms.map((v) => [v.name, v.state]);
  t.deepEqual(states(), [['client', 'ready'], ['netvm', 'ready']]);
  await waitFor('the client to ping its netvm', () => vmsvc('logs', '-n', '20', 'client').stdout.includes('vmsvc-guest: ping OK 169.254.0.1'), 120_000);

  const answer = await consoleAnswer(['client'], 'echo first-$((40+2))', /first-42/, admin);
  t.regex(answer, /first-42/);

  const restart = vmsvc('restart', 'netvm');
  t.is(restart.status, 0, restart.stderr);
  t.deepEqual(states(), [['client', 'ready'], ['netvm', 'ready']]);

  const down = script('down');
  t.is(down.status, 0, `${down.stdout}${down.stderr}`);
  t.false(fs.existsSync(dir), 'its directory is gone');
  t.false(spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout.split('\n').some((l) => l.split(' ')[0] === netns), 'its network namespace is gone');
  const left = fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
    try {
      return fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(dir);
    } catch {
      return false;
    }
  });
  t.deepEqual(left, [], 'no process of it is left');
});

/**
 * Clean stop with real guests (issue 11, item 2): QEMU (TCG where KVM cannot
 * run the guest) under the real s6-rc, the test guest of test/support/guest/guest.ts,
 * whose init powers off on the ACPI power button (button.ko, evdev).
 *
 * - A stop presses the button: the guest's "clean shutdown" line is in its
 *   serial log before QEMU exits, and `s6-rc -d` returns after the guest's
 *   power-off and well before the stop timeout.
 * - A guest told to ignore the button (vmsvc.ignore-powerbutton=1) is
 *   killed at the stop timeout: QEMU is there until the bound, gone after.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startS6rc } from '../support/s6rc-harness.js';
import { guestAccel, makeExt2Disk, prepareGuest, REPO_ROOT, type Guest } from '../support/guest/guest.js';
import { vmsvc } from '../support/cli.js';
import { createNetns } from '../support/netns.js';
import { realS6rcTest } from '../support/real-s6rc.js';
import { alive, vmmPid } from '../support/processes.js';
import { waitFor } from '../support/wait.js';
import { tempDir } from '../support/data-dir.js';

const read = (p: string): string => (fs.existsSync(p) ? fs.readFileSync(p, 'utf8') : '');

/** The QEMU below the service's process (trap): its child. */
function qemuPid(trapPid: number): number {
  const qemu = vmmPid(trapPid);
  if (qemu === null || !read(`/proc/${qemu}/cmdline`).startsWith('qemu-system')) throw new Error(`no QEMU below pid ${trapPid}`);
  return qemu;
}

/** s6-log's timestamp (ISO 8601, UTC) of the first line containing `text`, in ms since the epoch. */
function loggedAt(log: string, text: string): number | null {
  const line = read(log).split('\n').find((l) => l.includes(text));
  const m = line === undefined ? null : /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d\.\d{3})/.exec(line);
  return m === null ? null : Date.parse(`${m[1]}T${m[2]}Z`);
}

/** One VM's data dir and a tree for it, in bundle `bundle`. */
function tree(root: string, guest: Guest, vm: string, accel: string, flags: readonly string[]): string {
  const data = path.join(root, `data-${vm}`);
  fs.mkdirSync(path.join(data, vm, 'blk'), { recursive: true });
  fs.linkSync(guest.vmlinux, path.join(data, vm, 'vmlinux'));
  fs.linkSync(guest.initramfs, path.join(data, vm, 'initramfs'));
  makeExt2Disk(path.join(data, vm, 'blk', 'root.img'), vm);
  const out = path.join(root, `out-${vm}`);
  const gen = vmsvc(['generate', '--vmm', 'qemu', '--accel', accel, '--data', data, '--out', out,
    '--runtime-dir', path.join(root, 'run'), '--log-dir', path.join(root, 'log'), '--bundle', `vms-${vm}`, '--autostart-bundle', `autostart-${vm}`, '--timeout-up', '120000', ...flags]);
  if (gen.code !== 0) throw new Error(gen.stderr);
  return out;
}

realS6rcTest('real guests: a stop powers the guest off cleanly before QEMU exits; a guest that ignores the button is killed at the bound', async (t, s6rc) => {
  t.timeout(600_000);
  const guest = await prepareGuest();
  t.true(guest.modules.includes('button') && guest.modules.includes('evdev'), guest.modules.join(' '));
  const accel = await guestAccel(guest);
  t.log(`accelerator: ${accel}`);
  const root = tempDir('stop-', path.join(REPO_ROOT, '.cache'));
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  const BOUND_CLEAN = 90_000;
  const BOUND_HUNG = 8_000;
  const clean = tree(root, guest, 'clean', accel, ['--cmdline', 'console=ttyS0 vmsvc.interval=5', '--stop-timeout', String(BOUND_CLEAN)]);
  const hung = tree(root, guest, 'hung', accel, ['--cmdline', 'console=ttyS0 vmsvc.interval=5 vmsvc.ignore-powerbutton=1', '--stop-timeout', String(BOUND_HUNG)]);
  t.is(read(path.join(clean, 'vm-clean', 'timeout-kill')), `${BOUND_CLEAN + 5000}\n`);
  t.is(read(path.join(clean, 'vm-clean', 'timeout-down')), `${BOUND_CLEAN + 10000}\n`);

  const emu = await startS6rc(s6rc, [clean, hung], { netns: createNetns(t) });
  t.teardown(() => emu.stop());
  await emu.up(['vms-clean', 'vms-hung'], { timeoutMs: 240_000 });
  const cleanLog = path.join(root, 'log', 'clean', 'current');
  const hungLog = path.join(root, 'log', 'hung', 'current');
  await waitFor('the clean guest to watch its power button', () => read(cleanLog).includes('vmsvc-guest: power button at /dev/input/event'), 180_000);
  await waitFor('the hung guest to ignore its power button', () => read(hungLog).includes('vmsvc-guest: ignoring the power button'), 180_000);

  // The clean guest: s6-rc -d presses the button; the guest syncs and powers off.
  const cleanQemu = qemuPid(emu.servicePid('vm-clean')!);
  const began = Date.now();
  await emu.down(['vm-clean'], { timeoutMs: BOUND_CLEAN + 20_000 });
  const returned = Date.now();
  t.log(`clean stop: s6-rc -d returned after ${returned - began} ms (bound ${BOUND_CLEAN} ms)`);
  t.false(alive(cleanQemu), 'QEMU has exited when s6-rc -d returns');
  t.true(returned - began < BOUND_CLEAN / 2, `well before the bound: ${returned - began} ms`);
  const shutdownAt = loggedAt(cleanLog, 'vmsvc-guest: power button: clean shutdown');
  t.not(shutdownAt, null, `the serial log records the clean shutdown:\n${read(cleanLog).split('\n').slice(-15).join('\n')}`);
  t.true(shutdownAt! >= began - 1000 && shutdownAt! <= returned, 'logged during the stop, before QEMU exited and s6-rc returned');
  t.is(emu.servicePid('vm-clean'), null);
  t.is(emu.isUp('vm-clean'), false);

  // The hung guest: pressed, ignored; QEMU runs until the bound, then is killed.
  const hungQemu = qemuPid(emu.servicePid('vm-hung')!);
  const stopAt = Date.now();
  const stopping = emu.down(['vm-hung'], { timeoutMs: BOUND_HUNG + 20_000 });
  await new Promise((r) => setTimeout(r, BOUND_HUNG - 2000));
  t.true(alive(hungQemu), `QEMU still runs ${Date.now() - stopAt} ms into an ${BOUND_HUNG} ms bound`);
  await stopping;
  const killedAfter = Date.now() - stopAt;
  t.log(`hung stop: s6-rc -d returned after ${killedAfter} ms (bound ${BOUND_HUNG} ms)`);
  t.false(alive(hungQemu), 'QEMU is gone once the stop returns');
  t.true(killedAfter >= BOUND_HUNG, `not before the bound: ${killedAfter} ms`);
  t.true(killedAfter < BOUND_HUNG + 5000, `by the trap, before s6-supervise's timeout-kill: ${killedAfter} ms`);
  t.false(read(hungLog).includes('clean shutdown'));
});

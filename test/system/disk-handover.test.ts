/**
 * Disks handed to the VMM as descriptors (issue 22, item 2): real QEMU 7.2
 * (TCG where KVM cannot run the guest) under the real s6-rc, with the test
 * guest of test/support/guest/guest.ts, each VMM as the VM's own uid.
 *
 * - A disk image that is root's, mode 0600, in a blk/ only root may enter,
 *   is read by the guest: root opened it (templates/common/open-files.hbs)
 *   and QEMU took it through an fdset. The control: QEMU given the path, as
 *   that uid, cannot open it (EACCES).
 * - A writable disk is written by the guest, and the host reads the file
 *   back from the image; a read-only one cannot be written.
 * - Attacks after generation: the image swapped for a link to a root-only
 *   file, and blk/ swapped for a link to a directory holding one. Root's
 *   open fails with ELOOP (the data dir is nosymfollow in the run script's
 *   mount namespace), and the VM does not start, instead of its VMM being
 *   handed the file.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startS6rc } from '../support/s6rc-harness.js';
import { guestAccel, makeExt2Disk, prepareGuest, REPO_ROOT, type Guest } from '../support/guest/guest.js';
import { vmsvc } from '../support/cli.js';
import { createNetns } from '../support/netns.js';
import { realS6rcTest } from '../support/real-s6rc.js';
import { waitFor } from '../support/wait.js';
import { tempDir } from '../support/data-dir.js';

const read = (p: string): string => (fs.existsSync(p) ? fs.readFileSync(p, 'utf8') : '');

/** A VM whose one disk is root's and 0600, in a blk/ of mode 0700. */
function makeVm(data: string, guest: Guest, vm: string, config: Readonly<Record<string, string>>): string {
  const blk = path.join(data, vm, 'blk');
  fs.mkdirSync(blk, { recursive: true });
  fs.linkSync(guest.vmlinux, path.join(data, vm, 'vmlinux'));
  fs.linkSync(guest.initramfs, path.join(data, vm, 'initramfs'));
  const image = path.join(blk, 'root.img');
  makeExt2Disk(image, vm);
  fs.chmodSync(image, 0o600);
  fs.chmodSync(blk, 0o700);
  fs.mkdirSync(path.join(data, vm, 'config'));
  for (const [k, v] of Object.entries(config)) fs.writeFileSync(path.join(data, vm, 'config', k), v);
  return image;
}

/** What root reads of a file in an ext2 image (debugfs, e2fsprogs); '' when it is not there. */
function catInImage(image: string, file: string): string {
  const r = spawnSync('debugfs', ['-R', `cat /${file}`, image], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout : '';
}

/** The VM's own uid, as its run script drops to it. */
function vmmUid(out: string, vm: string): number {
  const m = /s6-applyuidgid -u (\d+)/.exec(read(path.join(out, `vm-${vm}`, 'run')));
  if (m === null) throw new Error(`vm-${vm}: no drop to a uid of its own`);
  return Number(m[1]);
}

function generate(data: string, out: string, root: string, accel: string, bundle: string, timeoutUp: number): void {
  const gen = vmsvc(['generate', '--vmm', 'qemu', '--accel', accel, '--data', data, '--out', out, '--runtime-dir', path.join(root, 'run'),
    '--log-dir', path.join(root, 'log'), '--bundle', bundle, '--autostart-bundle', `autostart-${bundle}`, '--timeout-up', String(timeoutUp),
    '--cmdline', 'console=ttyS0 vmsvc.interval=5']);
  if (gen.code !== 0) throw new Error(gen.stderr);
}

realS6rcTest('disks as descriptors: a root-only image boots as the VM\'s uid, a writable one is written, a read-only one is not; links swapped in later fail with ELOOP', async (t, s6rc) => {
  t.timeout(600_000);
  const guest = await prepareGuest();
  const accel = await guestAccel(guest);
  t.log(`accelerator: ${accel}`);
  const root = tempDir('disks-', path.join(REPO_ROOT, '.cache'));
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));

  // Two guests that boot: one read-only disk, one writable.
  const data = path.join(root, 'data');
  const roImage = makeVm(data, guest, 'ro', { cmdline: 'vmsvc.name=ro vmsvc.write=1' });
  const rwImage = makeVm(data, guest, 'rw', { cmdline: 'vmsvc.name=rw vmsvc.write=1', 'writable-disks': '' });
  const out = path.join(root, 'out');
  generate(data, out, root, accel, 'vms-good', 240_000);

  // Two that are attacked after generation.
  const evilData = path.join(root, 'evil-data');
  const fileImage = makeVm(evilData, guest, 'evil-file', { cmdline: 'vmsvc.name=evil-file' });
  makeVm(evilData, guest, 'evil-dir', { cmdline: 'vmsvc.name=evil-dir' });
  const evilOut = path.join(root, 'evil-out');
  generate(evilData, evilOut, root, accel, 'vms-evil', 20_000);

  // The control: by path, as the VM's uid, QEMU cannot open the image.
  const uid = vmmUid(out, 'ro');
  const byPath = spawnSync('qemu-system-x86_64', ['-machine', 'q35', '-accel', 'tcg', '-nodefaults', '-display', 'none', '-S',
    '-drive', `file=${roImage},if=none,id=d0,format=raw,readonly=on`], { uid, gid: uid, encoding: 'utf8', timeout: 30_000 });
  t.not(byPath.status, 0);
  t.regex(byPath.stderr, /Could not open .*root\.img': Permission denied/);

  // The attacks: a secret only root may read, where the image was, and behind blk/.
  const secret = path.join(root, 'secret');
  fs.mkdirSync(path.join(secret, 'blk'), { recursive: true, mode: 0o700 });
  makeExt2Disk(path.join(secret, 'blk', 'root.img'), 'secret');
  fs.chmodSync(path.join(secret, 'blk', 'root.img'), 0o600);
  fs.rmSync(fileImage);
  fs.symlinkSync(path.join(secret, 'blk', 'root.img'), fileImage);
  const evilBlk = path.join(evilData, 'evil-dir', 'blk');
  fs.rmSync(evilBlk, { recursive: true });
  fs.symlinkSync(path.join(secret, 'blk'), evilBlk);

  const emu = await startS6rc(s6rc, [out, evilOut], { netns: createNetns(t) });
  t.teardown(() => emu.stop());
  await emu.up(['vms-good'], { timeoutMs: 300_000 });
  const roLog = path.join(root, 'log', 'ro', 'current');
  const rwLog = path.join(root, 'log', 'rw', 'current');
  await waitFor('the read-only guest to try its write', () => /vmsvc-guest: disk vda write (OK|FAILED)/.test(read(roLog)), 240_000);
  await waitFor('the writable guest to try its write', () => /vmsvc-guest: disk vda write (OK|FAILED)/.test(read(rwLog)), 240_000);
  t.regex(read(roLog), /vmsvc-guest: disk vda marker ro\r?\n/, 'the guest read its root-only disk');
  t.regex(read(rwLog), /vmsvc-guest: disk vda marker rw\r?\n/);
  t.regex(read(roLog), /vmsvc-guest: disk vda write FAILED/, 'a read-only disk cannot be written');
  t.regex(read(rwLog), /vmsvc-guest: disk vda write OK/, 'a writable disk can');
  // The VMM runs as the VM's uid, and holds the image open, not by any path it could reopen.
  // Anchored: bwrap's own command line names QEMU too.
  const qemu = execFileSync('pgrep', ['-f', '-u', String(uid), '^(\\S*/)?qemu-system-x86_64 -name guest=ro'], { encoding: 'utf8' }).trim();
  t.regex(qemu, /^\d+$/);
  await emu.down(['vms-good'], { timeoutMs: 120_000 });
  t.is(catInImage(rwImage, 'vmsvc-written'), 'written by rw\n', 'the host reads the guest\'s write back');
  t.is(catInImage(roImage, 'vmsvc-written'), '');
  // Nothing on the user partition was handed over: the images are still root's, 0600.
  for (const image of [roImage, rwImage]) {
    const st = fs.statSync(image);
    t.deepEqual([st.uid, st.mode & 0o7777], [0, 0o600], image);
  }

  // The attacked VMs never start: root's opens fail on the links.
  await t.throwsAsync(emu.up(['vms-evil'], { timeoutMs: 60_000 }));
  for (const vm of ['evil-file', 'evil-dir']) {
    const said = read(path.join(root, 'log', vm, 'vmm', 'current'));
    t.regex(said, /redirfd: fatal: unable to open .*root\.img: Too many levels of symbolic links/, `${vm}: ${said.split('\n').slice(-5).join('\n')}`);
    t.notRegex(read(path.join(root, 'log', vm, 'current')), /marker secret/, `${vm}: the guest never saw the secret`);
  }
});

/**
 * Check rules: blk/ and its disk images (generator/rules/disks.ts). The
 * helpers and the hook that demands every rule of the family:
 * test/support/check-rules.ts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CheckResult } from '../../../generator/pipeline/check.js';
import { defaultOptions } from '../../../generator/pipeline/options.js';
import { ruleTests, fixture, check, assertDiagnostics, assertOutcome, assertOnlyVmSkipped, vmDir, blkPath, mkfifo, checkInChild } from '../../support/check-rules.js';
import { qcow2Naming } from '../../support/data-dir.js';

const test = ruleTests(import.meta.url);

test('blk-missing: no blk/', (t) => {
  const f = fixture(t, { vm: { disks: null } });
  const result = check(f.data);
  assertDiagnostics(t, result.diagnostics, [{ rule: 'blk-missing', path: path.join(vmDir(f), 'blk'), vm: 'vm', mentions: ['vm', 'blk'] }]);
  assertOnlyVmSkipped(t, result, ['blk-missing']);
});

test('blk-not-directory: blk is a file', (t) => {
  const f = fixture(t, { vm: { disks: null } });
  fs.writeFileSync(path.join(vmDir(f), 'blk'), 'not a dir');
  const result = check(f.data);
  assertDiagnostics(t, result.diagnostics, [{ rule: 'blk-not-directory', path: path.join(vmDir(f), 'blk'), vm: 'vm', mentions: ['blk', 'file'] }]);
  assertOnlyVmSkipped(t, result, ['blk-not-directory']);
});

test('blk-not-directory: blk is a symbolic link to a directory holding images', (t) => {
  const f = fixture(t, { vm: { disks: null } });
  fs.mkdirSync(path.join(vmDir(f), 'real-blk'));
  fs.writeFileSync(path.join(vmDir(f), 'real-blk', 'root.img'), 'disk');
  fs.symlinkSync('real-blk', path.join(vmDir(f), 'blk'));
  const result = check(f.data);
  assertDiagnostics(t, result.diagnostics, [{ rule: 'blk-not-directory', path: path.join(vmDir(f), 'blk'), vm: 'vm', mentions: ['blk', 'symbolic link'] }]);
  assertOnlyVmSkipped(t, result, ['blk-not-directory']);
});

test('blk-no-images: blk/ holds only non-.img files (and a hidden .img)', (t) => {
  const f = fixture(t, { vm: { disks: ['root.raw', 'README', 'root.IMG', 'img', 'root.img.bak', '.hidden.img'] } });
  fs.mkdirSync(path.join(vmDir(f), 'blk', 'sub'));
  fs.writeFileSync(path.join(vmDir(f), 'blk', 'sub', 'deep.img'), 'disk');
  const result = check(f.data);
  assertDiagnostics(t, result.diagnostics, [{ rule: 'blk-no-images', path: path.join(vmDir(f), 'blk'), vm: 'vm', mentions: ['blk', '.img'] }]);
  assertOnlyVmSkipped(t, result, ['blk-no-images']);
});

test('blk-no-images: an empty blk/', (t) => {
  const f = fixture(t, { vm: { disks: [] } });
  const result = check(f.data);
  assertDiagnostics(t, result.diagnostics, [{ rule: 'blk-no-images', path: path.join(vmDir(f), 'blk'), vm: 'vm', mentions: ['blk'] }]);
  assertOnlyVmSkipped(t, result, ['blk-no-images']);
});

test('img-not-file: an .img that is a directory', (t) => {
  const f = fixture(t, { vm: { disks: ['root.img'] } });
  fs.mkdirSync(blkPath(f, 'data.img'));
  const result = check(f.data);
  assertDiagnostics(t, result.diagnostics, [{ rule: 'img-not-file', path: blkPath(f, 'data.img'), vm: 'vm', mentions: ['data.img', 'directory'] }]);
  assertOnlyVmSkipped(t, result, ['img-not-file']);
});

test('img-not-file: an .img that is a FIFO, without hanging', (t) => {
  const f = fixture(t, { vm: { disks: [] }, ok: {} });
  mkfifo(blkPath(f, 'root.img'));
  const child = checkInChild(t, f, false);
  const result = check(f.data);
  t.deepEqual(child, JSON.parse(JSON.stringify(result)) as CheckResult);
  assertDiagnostics(t, result.diagnostics, [{ rule: 'img-not-file', path: blkPath(f, 'root.img'), vm: 'vm', mentions: ['root.img', 'FIFO'] }]);
  assertOutcome(t, result, ['ok'], [['vm', 'invalid (img-not-file)']]);
});

test('img-dangling-symlink: an .img linking to nothing', (t) => {
  const f = fixture(t, { vm: { disks: [] } });
  fs.symlinkSync('gone.raw', blkPath(f, 'root.img'));
  const result = check(f.data);
  assertDiagnostics(t, result.diagnostics, [{ rule: 'img-dangling-symlink', path: blkPath(f, 'root.img'), vm: 'vm', mentions: ['root.img', 'symbolic link'] }]);
  assertOnlyVmSkipped(t, result, ['img-dangling-symlink']);
});

test('img-empty: a zero-byte .img', (t) => {
  const f = fixture(t, { vm: { disks: ['root.img'] } });
  fs.writeFileSync(blkPath(f, 'swap.img'), '');
  const result = check(f.data);
  assertDiagnostics(t, result.diagnostics, [{ rule: 'img-empty', path: blkPath(f, 'swap.img'), vm: 'vm', mentions: ['swap.img', 'empty'] }]);
  assertOnlyVmSkipped(t, result, ['img-empty']);
});

// crosvm f1e797a6 opens every image through detect_image_type
// (disk/src/disk.rs:223-281, called from devices/src/virtio/block/sys/linux.rs:60-70
// by disk::open_disk_file, disk.rs:322-330): it reads min(size, 4096) bytes
// into a zero-filled buffer (:236-247) and opens as another format an image
// whose first bytes are CDISK_MAGIC (:251-256, composite.rs:171), QCOW_MAGIC
// big-endian (:264-267, qcow/mod.rs:147), SPARSE_HEADER_MAGIC little-endian
// (:268-271, android_sparse.rs:58), or a zstd frame or skippable-frame magic
// little-endian (:272-278, zstd.rs:38-42).
/** Images crosvm opens as another format, by the format the message must name. */
const NOT_RAW: ReadonlyArray<readonly [string, string, Buffer]> = [
  ['qcow.img', 'QCOW2', qcow2Naming('/etc/shadow')],
  ['composite.img', 'composite disk', Buffer.concat([Buffer.from('composite_disk\x1d'), Buffer.alloc(64)])],
  ['sparse.img', 'Android sparse', Buffer.from([0x3a, 0xff, 0x26, 0xed, 1, 0, 0, 0])],
  ['zstd.img', 'zstd', Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0, 0])],
  ['skip-lo.img', 'zstd (skippable frame)', Buffer.from([0x50, 0x2a, 0x4d, 0x18, 0, 0, 0, 0])],
  ['skip-hi.img', 'zstd (skippable frame)', Buffer.from([0x5f, 0x2a, 0x4d, 0x18, 0, 0, 0, 0])],
];

/** Images crosvm opens as raw, although they hold a signature's bytes. */
const RAW_LOOKALIKES: ReadonlyArray<readonly [string, Buffer]> = [
  // The magic not at offset 0: crosvm only compares the first bytes.
  ['later.img', Buffer.concat([Buffer.alloc(512), qcow2Naming('/etc/shadow')])],
  // Shorter than the magic: the zero-filled rest of crosvm's buffer makes "QFI\0".
  ['short.img', Buffer.from('QFI', 'latin1')],
  ['short-cdisk.img', Buffer.from('composite_disk')],
  // One past the skippable range (0x184d2a5f), and one below it.
  ['skip-past.img', Buffer.from([0x60, 0x2a, 0x4d, 0x18])],
  ['skip-below.img', Buffer.from([0x4f, 0x2a, 0x4d, 0x18])],
  // QCOW_MAGIC little-endian is not QCOW2 to crosvm.
  ['qcow-le.img', Buffer.from([0xfb, 0x49, 0x46, 0x51])],
];

test('img-not-raw: with crosvm, each image starting with a signature it would open as another format invalidates its VM, naming file and format', (t) => {
  const spec = { disks: ['root.img'] };
  const f = fixture(t, { vm: spec, ok: spec });
  for (const [name, , bytes] of NOT_RAW) fs.writeFileSync(blkPath(f, name), bytes);
  for (const [name, bytes] of RAW_LOOKALIKES) fs.writeFileSync(blkPath(f, name, 'ok'), bytes);
  const crosvm = { ...defaultOptions, vmm: 'crosvm', userConsole: false } as const;
  const result = check(f.data, crosvm);
  const want = NOT_RAW.map(([name, format]) => ({ rule: 'img-not-raw' as const, path: blkPath(f, name), vm: 'vm', mentions: [name, `${format} signature`, 'crosvm'] }))
    .sort((a, b) => Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)));
  assertDiagnostics(t, result.diagnostics, want);
  assertOutcome(t, result, ['ok'], [['vm', 'invalid (img-not-raw)']]);
  const qcow = result.diagnostics.find((d) => d.path === blkPath(f, 'qcow.img'))!;
  t.true(qcow.message.includes('backing file') && qcow.message.includes('51 46 49 fb'), qcow.message);
  t.true(qcow.hint.includes('--vmm qemu'), qcow.hint);
  t.deepEqual(result.vms[0]!.disks, [...RAW_LOOKALIKES.map(([n]) => n), 'root.img'].sort().map((n) => blkPath(f, n, 'ok')));
});

test('img-not-raw: QEMU (format=raw) and cloud-hypervisor (image_type=raw) open every image as raw, so the same images pass', (t) => {
  const f = fixture(t, { vm: { disks: ['root.img'] } });
  for (const [name, , bytes] of NOT_RAW) fs.writeFileSync(blkPath(f, name), bytes);
  for (const vmm of ['qemu', 'cloud-hypervisor'] as const) {
    const result = check(f.data, { ...defaultOptions, vmm });
    assertDiagnostics(t, result.diagnostics, []);
    assertOutcome(t, result, ['vm'], []);
  }
});

test('img-not-raw: a link inside the data dir to a QCOW2 image is judged by the file it reaches', (t) => {
  const f = fixture(t, { vm: { disks: ['root.img'] } });
  fs.writeFileSync(path.join(vmDir(f), 'real'), qcow2Naming('/dev/sda'));
  fs.symlinkSync('../real', blkPath(f, 'link.img'));
  const result = check(f.data, { ...defaultOptions, vmm: 'crosvm', userConsole: false });
  assertDiagnostics(t, result.diagnostics, [{ rule: 'img-not-raw', path: blkPath(f, 'link.img'), vm: 'vm', mentions: ['link.img', 'QCOW2'] }]);
});

test('img-unreadable: mode 000, checked as user nobody', (t) => {
  const f = fixture(t, { vm: { disks: ['root.img', 'data.img'] }, ok: {} });
  fs.chmodSync(blkPath(f, 'data.img'), 0o000);
  const result = checkInChild(t, f, true);
  assertDiagnostics(t, result.diagnostics, [{ rule: 'img-unreadable', path: blkPath(f, 'data.img'), vm: 'vm', mentions: ['data.img'] }]);
  assertOutcome(t, result, ['ok'], [['vm', 'invalid (img-unreadable)']]);
});

test('name-control-char: a disk image name with a tab', (t) => {
  const f = fixture(t, { vm: { disks: ['root.img', 'a\tb.img'] } });
  const result = check(f.data);
  assertDiagnostics(t, result.diagnostics, [{ rule: 'name-control-char', path: blkPath(f, 'a\tb.img'), vm: 'vm', mentions: ['a\\tb.img'] }]);
  assertOnlyVmSkipped(t, result, ['name-control-char']);
});

test('path-vmm-unsafe: a disk image name with a comma', (t) => {
  const f = fixture(t, { vm: { disks: ['root.img', 'a,b.img'] } });
  const result = check(f.data);
  assertDiagnostics(t, result.diagnostics, [{ rule: 'path-vmm-unsafe', path: blkPath(f, 'a,b.img'), vm: 'vm', mentions: ['a,b.img'] }]);
  assertOnlyVmSkipped(t, result, ['path-vmm-unsafe']);
});

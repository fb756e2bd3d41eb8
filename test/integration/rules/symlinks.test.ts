/**
 * Check rules: symbolic links in a VM's files: inside the data dir, resolving,
 * and the file the VMM gets (generator/rules/symlinks.ts). The helpers and the
 * hook that demands every rule of the family: test/support/check-rules.ts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { defaultOptions } from '../../../generator/pipeline/options.js';
import type { VmName } from '../../../generator/rules/vm-name.js';
import { ruleTests, NO_SETTINGS, fixture, check, optsFor, assertDiagnostics, assertOutcome, assertOnlyVmSkipped, vmDir, blkPath, configPath } from '../../support/check-rules.js';
import { ELF_HEADER } from '../../support/data-dir.js';

const test = ruleTests(import.meta.url);

test('symlink-escapes: vmlinux links outside the data dir', (t) => {
  const f = fixture(t, { vm: { kernel: null } });
  fs.symlinkSync('/etc/hostname', path.join(vmDir(f), 'vmlinux'));
  const result = check(f.data);
  assertDiagnostics(t, result.diagnostics, [
    { rule: 'symlink-escapes', path: path.join(vmDir(f), 'vmlinux'), vm: 'vm', mentions: ['vmlinux', fs.realpathSync('/etc/hostname')] },
  ]);
  assertOnlyVmSkipped(t, result, ['symlink-escapes']);
});

test('symlink-loop: a.img -> b.img -> a.img', (t) => {
  const f = fixture(t, { vm: { disks: [] } });
  fs.symlinkSync('b.img', blkPath(f, 'a.img'));
  fs.symlinkSync('a.img', blkPath(f, 'b.img'));
  const result = check(f.data);
  assertDiagnostics(t, result.diagnostics, [
    { rule: 'symlink-loop', path: blkPath(f, 'a.img'), vm: 'vm', mentions: ['a.img', 'loop'] },
    { rule: 'symlink-loop', path: blkPath(f, 'b.img'), vm: 'vm', mentions: ['b.img', 'loop'] },
  ]);
  assertOnlyVmSkipped(t, result, ['symlink-loop']);
});

test('symlink-escapes: an .img linking to /etc/hostname', (t) => {
  const f = fixture(t, { vm: { disks: [] } });
  fs.symlinkSync('/etc/hostname', blkPath(f, 'root.img'));
  const result = check(f.data);
  assertDiagnostics(t, result.diagnostics, [
    { rule: 'symlink-escapes', path: blkPath(f, 'root.img'), vm: 'vm', mentions: ['root.img', fs.realpathSync('/etc/hostname')] },
  ]);
  assertOnlyVmSkipped(t, result, ['symlink-escapes']);
});

test('symlink-escapes: a relative link climbing out of the data dir into a sibling', (t) => {
  const f = fixture(t, { vm: { disks: [] } });
  // root/data-evil/x.raw: shares the prefix "data" with the data dir, but is outside it.
  fs.mkdirSync(path.join(f.root, 'data-evil'));
  fs.writeFileSync(path.join(f.root, 'data-evil', 'x.raw'), 'host file');
  fs.symlinkSync('../../../data-evil/x.raw', blkPath(f, 'root.img'));
  const result = check(f.data);
  assertDiagnostics(t, result.diagnostics, [
    { rule: 'symlink-escapes', path: blkPath(f, 'root.img'), vm: 'vm', mentions: ['root.img', path.join(fs.realpathSync(f.root), 'data-evil', 'x.raw')] },
  ]);
  assertOnlyVmSkipped(t, result, ['symlink-escapes']);
});

test('accepted: symbolic links inside the data dir to regular files; the VMM gets the files they reach, by link-free paths', (t) => {
  const f = fixture(t, { vm: { kernel: null, disks: [] }, other: {} });
  fs.mkdirSync(path.join(vmDir(f), 'images'));
  fs.writeFileSync(path.join(vmDir(f), 'images', 'root.raw'), 'root disk');
  fs.writeFileSync(path.join(vmDir(f), 'images', 'vmlinux-6.1'), ELF_HEADER);
  fs.symlinkSync('../images/root.raw', blkPath(f, 'root.img'));
  fs.symlinkSync(path.join(f.data, 'other', 'blk', 'root.img'), blkPath(f, 'shared.img')); // absolute, still inside
  fs.symlinkSync('images/vmlinux-6.1', path.join(vmDir(f), 'vmlinux'));
  const result = check(f.data);
  assertDiagnostics(t, result.diagnostics, []);
  assertOutcome(t, result, ['other', 'vm'], []);
  const vm = result.vms[1]!;
  t.deepEqual(vm, {
    name: 'vm' as VmName,
    dir: vmDir(f),
    kernel: path.join(vmDir(f), 'images', 'vmlinux-6.1'),
    initramfs: null,
    // In the order of the link names; each the file its link reaches.
    disks: [path.join(vmDir(f), 'images', 'root.raw'), path.join(f.data, 'other', 'blk', 'root.img')],
    providers: [],
    ...NO_SETTINGS,
  });
});

test('--data-at-runtime: a link, absolute into the staging copy, gives the VMM the file it reaches below the run-time dir', (t) => {
  const f = fixture(t, { vm: { kernel: null, disks: [] }, other: {} });
  fs.mkdirSync(path.join(vmDir(f), 'images'));
  fs.writeFileSync(path.join(vmDir(f), 'images', 'vmlinux-6.1'), ELF_HEADER);
  fs.symlinkSync(path.join(vmDir(f), 'images', 'vmlinux-6.1'), path.join(vmDir(f), 'vmlinux'));
  fs.symlinkSync('../../other/blk/root.img', blkPath(f, 'root.img'));
  const result = check(f.data, { ...defaultOptions, dataDirAtRuntime: '/mnt/user/svc/data' });
  assertDiagnostics(t, result.diagnostics, []);
  const vm = result.vms.find((v) => v.name === 'vm')!;
  // The link itself would be followed into the staging copy at run time; its file is named where it will be.
  t.is(vm.kernel, '/mnt/user/svc/data/vm/images/vmlinux-6.1');
  t.deepEqual(vm.disks, ['/mnt/user/svc/data/other/blk/root.img']);
});

test('path-vmm-unsafe: a disk link whose target ends in white space (cloud-hypervisor trims option values); one with a space inside passes', (t) => {
  const f = fixture(t, { vm: { disks: ['root.img'] }, ok: { disks: ['root.img'] } });
  // The attack: blk/a.img -> "../x ", with "x" beside it a link out of the data dir; `path=.../x ,` would open `.../x`.
  for (const [vm, target] of [['vm', 'x '], ['vm', 'y\u00a0'], ['ok', 'in side']] as const) fs.writeFileSync(path.join(vmDir(f, vm), target), 'disk');
  fs.symlinkSync('/etc/shadow', path.join(vmDir(f), 'x'));
  fs.symlinkSync('../x ', blkPath(f, 'a.img'));
  fs.symlinkSync('../y\u00a0', blkPath(f, 'b.img'));
  fs.symlinkSync('../in side', blkPath(f, 'c.img', 'ok'));
  for (const vmm of ['cloud-hypervisor', 'qemu', 'crosvm'] as const) {
    const result = check(f.data, optsFor(vmm));
    assertDiagnostics(t, result.diagnostics, [
      { rule: 'path-vmm-unsafe', path: blkPath(f, 'a.img'), vm: 'vm', mentions: ['a.img', 'white space'] },
      { rule: 'path-vmm-unsafe', path: blkPath(f, 'b.img'), vm: 'vm', mentions: ['b.img', 'white space'] },
    ]);
    assertOutcome(t, result, ['ok'], [['vm', 'invalid (path-vmm-unsafe)']]);
    t.true(result.vms[0]!.disks.includes(path.join(vmDir(f, 'ok'), 'in side')), vmm);
  }
});

test('symlink-escapes: config/cmdline linking to /etc/hostname or climbing out of the data dir is not read', (t) => {
  const f = fixture(t, { vm: { config: {} }, climb: { config: {} } });
  fs.symlinkSync('/etc/hostname', configPath(f, 'cmdline'));
  fs.writeFileSync(path.join(f.root, 'outside'), '8G');
  fs.symlinkSync('../../../outside', configPath(f, 'memory', 'climb'));
  const result = check(f.data);
  assertDiagnostics(t, result.diagnostics, [
    { rule: 'symlink-escapes', path: configPath(f, 'memory', 'climb'), vm: 'climb', mentions: ['memory', path.join(fs.realpathSync(f.root), 'outside')] },
    { rule: 'symlink-escapes', path: configPath(f, 'cmdline'), vm: 'vm', mentions: ['cmdline', fs.realpathSync('/etc/hostname')] },
  ]);
  assertOutcome(t, result, [], [['climb', 'invalid (symlink-escapes)'], ['vm', 'invalid (symlink-escapes)']]);
});

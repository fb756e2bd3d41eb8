/**
 * Check rules: the data directory itself: its entries, its path, names that
 * are not UTF-8, and the order of all diagnostics
 * (generator/rules/data-dir.ts). The helpers and the hook that demands every
 * rule of the family: test/support/check-rules.ts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CheckResult } from '../../../generator/pipeline/check.js';
import { defaultOptions } from '../../../generator/pipeline/options.js';
import type { VmName } from '../../../generator/rules/vm-name.js';
import { ruleTests, NO_SETTINGS, fixture, check, assertDiagnostics, assertOutcome, assertOnlyVmSkipped, vmDir, blkPath, rawPath } from '../../support/check-rules.js';
import { makeVm, tempDir, type VmSpec } from '../../support/data-dir.js';

const test = ruleTests(import.meta.url);

test('data-empty: an empty data dir', (t) => {
  const f = fixture(t);
  const result = check(f.data);
  assertDiagnostics(t, result.diagnostics, [{ severity: 'warning', rule: 'data-empty', path: f.data, vm: null, mentions: ['data directory'] }]);
  assertOutcome(t, result, [], []);
});

test('data-empty: a data dir holding only hidden entries', (t) => {
  const f = fixture(t);
  fs.mkdirSync(path.join(f.data, '.git'));
  fs.writeFileSync(path.join(f.data, '.keep'), '');
  const result = check(f.data);
  assertDiagnostics(t, result.diagnostics, [{ severity: 'warning', rule: 'data-empty', path: f.data, vm: null, mentions: [] }]);
});

test('entry-not-directory: a plain file at the top level is a warning; VMs stay valid', (t) => {
  const f = fixture(t, { ok: {} });
  fs.writeFileSync(path.join(f.data, 'notes.txt'), 'hello');
  const result = check(f.data);
  assertDiagnostics(t, result.diagnostics, [
    { severity: 'warning', rule: 'entry-not-directory', path: path.join(f.data, 'notes.txt'), vm: null, mentions: ['notes.txt', 'file'] },
  ]);
  assertOutcome(t, result, ['ok'], []);
});

test('entry-not-directory: only a plain file is also an empty data dir', (t) => {
  const f = fixture(t);
  fs.writeFileSync(path.join(f.data, 'notes.txt'), 'hello');
  const result = check(f.data);
  assertDiagnostics(t, result.diagnostics, [
    { severity: 'warning', rule: 'data-empty', path: f.data, vm: null, mentions: [] },
    { severity: 'warning', rule: 'entry-not-directory', path: path.join(f.data, 'notes.txt'), vm: null, mentions: ['notes.txt'] },
  ]);
});

test('vm-dir-symlink: a symbolic link at the top level is an error; unrelated VMs stay valid', (t) => {
  const f = fixture(t, { ok: {} });
  fs.symlinkSync('ok', path.join(f.data, 'linked'));
  const result = check(f.data);
  assertDiagnostics(t, result.diagnostics, [{ rule: 'vm-dir-symlink', path: path.join(f.data, 'linked'), vm: 'linked', mentions: ['linked', 'symbolic link'] }]);
  assertOutcome(t, result, ['ok'], []);
});

test('vm-dir-symlink: a VM naming the linked directory as its provider gets provider-unknown', (t) => {
  const f = fixture(t, { real: {}, client: { providers: ['linked'] } });
  fs.symlinkSync('/etc', path.join(f.data, 'linked'));
  const result = check(f.data);
  assertDiagnostics(t, result.diagnostics, [
    { rule: 'provider-unknown', path: path.join(f.data, 'client', 'providers', 'net', 'linked'), vm: 'client', mentions: ['linked'] },
    { rule: 'vm-dir-symlink', path: path.join(f.data, 'linked'), vm: 'linked', mentions: ['linked'] },
  ]);
  assertOutcome(t, result, ['real'], [['client', 'invalid (provider-unknown)']]);
});

test('vm-dir-symlink: only a symbolic link is not reported as an empty data dir', (t) => {
  const f = fixture(t);
  fs.symlinkSync('/etc', path.join(f.data, 'linked'));
  const result = check(f.data);
  assertDiagnostics(t, result.diagnostics, [{ rule: 'vm-dir-symlink', path: path.join(f.data, 'linked'), vm: 'linked', mentions: ['linked'] }]);
  assertOutcome(t, result, [], []);
});

test('hidden entries are ignored silently: .foo/ at the top, blk/.x.img, providers/net/.p', (t) => {
  const f = fixture(t, { vm: { disks: ['root.img'] } });
  fs.mkdirSync(path.join(f.data, '.foo', 'blk'), { recursive: true }); // would be invalid as a VM
  fs.writeFileSync(blkPath(f, '.x.img'), ''); // would be img-empty
  fs.symlinkSync('/etc/hostname', blkPath(f, '.y.img')); // would escape
  fs.mkdirSync(path.join(vmDir(f), 'providers', 'net'), { recursive: true });
  fs.writeFileSync(path.join(vmDir(f), 'providers', 'net', '.p'), ''); // would be provider-unknown
  const result = check(f.data);
  assertDiagnostics(t, result.diagnostics, []);
  assertOutcome(t, result, ['vm'], []);
  t.deepEqual(result.vms[0]!.disks, [blkPath(f, 'root.img')]);
});

test('path-vmm-unsafe: a comma in the data dir path invalidates every VM', (t) => {
  const root = tempDir();
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  const data = path.join(root, 'da,ta');
  fs.mkdirSync(data);
  makeVm(data, 'a');
  makeVm(data, 'b');
  const result = check(data);
  assertDiagnostics(t, result.diagnostics, [{ rule: 'path-vmm-unsafe', path: data, vm: null, mentions: [data] }]);
  assertOutcome(t, result, [], [
    ['a', 'the data directory itself is invalid'],
    ['b', 'the data directory itself is invalid'],
  ]);
  // The same dir is fine when it will be mounted at a plain path at run time.
  const atRuntime = check(data, { ...defaultOptions, dataDirAtRuntime: '/svc/data' });
  assertDiagnostics(t, atRuntime.diagnostics, []);
  t.deepEqual(atRuntime.vms, [
    { name: 'a' as VmName, dir: '/svc/data/a', kernel: '/svc/data/a/vmlinux', initramfs: null, disks: ['/svc/data/a/blk/root.img'], providers: [], ...NO_SETTINGS },
    { name: 'b' as VmName, dir: '/svc/data/b', kernel: '/svc/data/b/vmlinux', initramfs: null, disks: ['/svc/data/b/blk/root.img'], providers: [], ...NO_SETTINGS },
  ]);
});

test('path-vmm-unsafe: a runtime data dir path with a bracket or a newline is refused even if the local one is fine', (t) => {
  const f = fixture(t, { a: {} });
  for (const runtime of ['/svc/[data]', '/svc/da"ta', '/svc/da\nta']) {
    const result = check(f.data, { ...defaultOptions, dataDirAtRuntime: runtime });
    assertDiagnostics(t, result.diagnostics, [{ rule: 'path-vmm-unsafe', path: f.data, vm: null, mentions: [runtime.replace('\n', '\\n')] }]);
    assertOutcome(t, result, [], [['a', 'the data directory itself is invalid']]);
  }
});

test('too-many-vms: more entries than --max-vms is refused before any VM is read', (t) => {
  const f = fixture(t, { a: {}, b: {}, c: { kernel: null } });
  const over = check(f.data, { ...defaultOptions, maxVms: 2 });
  assertDiagnostics(t, over.diagnostics, [{ rule: 'too-many-vms', path: f.data, vm: null, mentions: ['3 entries', '2'] }]);
  t.deepEqual(over.vms, []);
  // At the limit, the VMs are read and judged as usual.
  const at = check(f.data, { ...defaultOptions, maxVms: 3 });
  t.deepEqual(at.diagnostics.map((d) => d.rule), ['vmlinux-missing']);
});

test('name-not-utf8: a VM directory whose name is not UTF-8', (t) => {
  const f = fixture(t);
  fs.mkdirSync(rawPath(f.data, '/', [0xff, 0xfe]));
  const result = check(f.data);
  // With no decodable VM left, the tree is also empty.
  assertDiagnostics(t, result.diagnostics, [
    { severity: 'warning', rule: 'data-empty', path: f.data, vm: null, mentions: ['data directory'] },
    { rule: 'name-not-utf8', path: path.join(f.data, '\\xff\\xfe'), vm: null, mentions: ['\\xff\\xfe'] },
  ]);
  assertOutcome(t, result, [], []);
});

test('name-not-utf8 at the top level blocks a strict run but leaves unrelated VMs valid', (t) => {
  const f = fixture(t, { ok: {} });
  fs.mkdirSync(rawPath(f.data, '/', [0xc3, 0x28]));
  const result = check(f.data);
  assertDiagnostics(t, result.diagnostics, [{ rule: 'name-not-utf8', path: path.join(f.data, '\\xc3('), vm: null, mentions: ['\\xc3('] }]);
  assertOutcome(t, result, ['ok'], []);
});

test('name-not-utf8: a non-UTF-8 .img name in blk/', (t) => {
  const f = fixture(t, { vm: { disks: ['root.img'] } });
  fs.writeFileSync(rawPath(vmDir(f), '/blk/', [0xff, 0xfe], '.img'), 'disk');
  const result = check(f.data);
  assertDiagnostics(t, result.diagnostics, [{ rule: 'name-not-utf8', path: blkPath(f, '\\xff\\xfe.img'), vm: 'vm', mentions: ['\\xff\\xfe.img'] }]);
  assertOnlyVmSkipped(t, result, ['name-not-utf8']);
});

function buildMultiError(data: string, reverse: boolean): void {
  const specs: Array<[string, VmSpec]> = [
    ['a', { kernel: null, disks: null }],
    ['a-log', { kernel: Buffer.alloc(0) }],
    ['b,c-log', {}],
    ['Z', { providers: ['nope'] }],
    ['～', { disks: null }],
    ['🙂', { disks: null }],
    ['fine', {}],
    ['needs-a', { providers: ['a'] }],
  ];
  for (const [name, spec] of reverse ? specs.reverse() : specs) makeVm(data, name, spec);
}

test('diagnostics are sorted bytewise by path, then rule', (t) => {
  const f = fixture(t);
  buildMultiError(f.data, false);
  const result = check(f.data);
  const p = (...parts: string[]): string => path.join(f.data, ...parts);
  assertDiagnostics(t, result.diagnostics, [
    { rule: 'provider-unknown', path: p('Z', 'providers', 'net', 'nope'), vm: 'Z', mentions: ['nope'] },
    // "a-log" sorts before "a/..." because '-' (0x2d) < '/' (0x2f).
    { rule: 'name-reserved-suffix', path: p('a-log'), vm: 'a-log', mentions: ['a-log'] },
    { rule: 'vmlinux-empty', path: p('a-log', 'vmlinux'), vm: 'a-log', mentions: ['vmlinux'] },
    { rule: 'blk-missing', path: p('a', 'blk'), vm: 'a', mentions: ['blk'] },
    { rule: 'vmlinux-missing', path: p('a', 'vmlinux'), vm: 'a', mentions: ['vmlinux'] },
    // Same path: by rule.
    { rule: 'name-reserved-suffix', path: p('b,c-log'), vm: 'b,c-log', mentions: ['b,c-log'] },
    { rule: 'name-vmm-unsafe', path: p('b,c-log'), vm: 'b,c-log', mentions: ['b,c-log'] },
    // U+FF5E (EF BD 9E) before U+1F642 (F0 9F 99 82), unlike UTF-16 order.
    { rule: 'blk-missing', path: p('～', 'blk'), vm: '～', mentions: ['blk'] },
    { rule: 'blk-missing', path: p('🙂', 'blk'), vm: '🙂', mentions: ['blk'] },
  ]);
  assertOutcome(t, result, ['fine'], [
    ['Z', 'invalid (provider-unknown)'],
    ['a', 'invalid (blk-missing, vmlinux-missing)'],
    ['a-log', 'invalid (name-reserved-suffix, vmlinux-empty)'],
    ['b,c-log', 'invalid (name-reserved-suffix, name-vmm-unsafe)'],
    ['needs-a', 'needs provider a, which is skipped'],
    ['～', 'invalid (blk-missing)'],
    ['🙂', 'invalid (blk-missing)'],
  ]);
});

test('determinism: checking twice, or a dir built in another order, gives the same result', (t) => {
  const f1 = fixture(t);
  const f2 = fixture(t);
  buildMultiError(f1.data, false);
  buildMultiError(f2.data, true);
  const first = check(f1.data);
  const second = check(f1.data);
  t.deepEqual(first, second);
  const other = JSON.parse(JSON.stringify(check(f2.data)).split(JSON.stringify(f2.data).slice(1, -1)).join(JSON.stringify(f1.data).slice(1, -1))) as CheckResult;
  t.deepEqual(JSON.parse(JSON.stringify(first)) as CheckResult, other);
});

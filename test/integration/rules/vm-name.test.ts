/**
 * Check rules: VM names: control characters, reserved suffixes, lengths,
 * characters the VMMs split on (generator/rules/vm-name.ts). The helpers and
 * the hook that demands every rule of the family: test/support/check-rules.ts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { defaultOptions } from '../../../generator/pipeline/options.js';
import { serviceName, type VmName } from '../../../generator/rules/vm-name.js';
import { ruleTests, NO_SETTINGS, REPO, fixture, check, optsFor, assertDiagnostics, assertOutcome, vmDir, blkPath } from '../../support/check-rules.js';
import { makeVm } from '../../support/data-dir.js';

const test = ruleTests(import.meta.url);

test('name-vmm-unsafe, path-vmm-unsafe: crosvm\'s key-value parser also ends a value at a single quote; the other VMMs take it', (t) => {
  const f = fixture(t, { "bob's": {}, img: { disks: ['root.img', "it's.img"] }, ok: {} });
  const result = check(f.data, optsFor('crosvm'));
  assertDiagnostics(t, result.diagnostics, [
    { rule: 'name-vmm-unsafe', path: vmDir(f, "bob's"), vm: "bob's", mentions: ["bob's", "'"] },
    { rule: 'path-vmm-unsafe', path: blkPath(f, "it's.img", 'img'), vm: 'img', mentions: ["it's.img", "'"] },
  ]);
  assertOutcome(t, result, ['ok'], [["bob's", 'invalid (name-vmm-unsafe)'], ['img', 'invalid (path-vmm-unsafe)']]);
  for (const vmm of ['qemu', 'cloud-hypervisor'] as const) assertOutcome(t, check(f.data, optsFor(vmm)), ["bob's", 'img', 'ok'], []);
});

test('name-control-char: a newline in a VM name', (t) => {
  const f = fixture(t, { 'a\nb': {}, ok: {} });
  const result = check(f.data);
  assertDiagnostics(t, result.diagnostics, [{ rule: 'name-control-char', path: path.join(f.data, 'a\nb'), vm: 'a\nb', mentions: ['a\\nb'] }]);
  assertOutcome(t, result, ['ok'], [['a\nb', 'invalid (name-control-char)']]);
});

test('name-control-char: DEL and ESC in VM names', (t) => {
  const f = fixture(t, { 'a\u007fb': {}, 'c\u001b[31md': {} });
  const result = check(f.data);
  assertDiagnostics(t, result.diagnostics, [
    { rule: 'name-control-char', path: path.join(f.data, 'a\u007fb'), vm: 'a\u007fb', mentions: ['a\\x7fb'] },
    { rule: 'name-control-char', path: path.join(f.data, 'c\u001b[31md'), vm: 'c\u001b[31md', mentions: ['c\\x1b[31md'] },
  ]);
});

// checkVmName (generator/rules/vm-name.ts) and the image rules (generator/rules/disks.ts) only refuse C0 controls
// and DEL (/[\u0000-\u001f\u007f]/), while bytes.ts printable() also treats the
// C1 controls U+0080..U+009F as control characters and escapes them. So a VM
// named "a\u0085b" (NEL) or containing U+009B (CSI) passes, yet every message
// shows its name differently from the generated service names; RULES says the
// rule covers "another control character". Fix: use /[\u0000-\u001f\u007f-\u009f]/.
test('name-control-char: C1 control characters (U+0085 NEL) are not refused', (t) => {
  const f = fixture(t, { 'a\u0085b': {} });
  const result = check(f.data);
  assertDiagnostics(t, result.diagnostics, [{ rule: 'name-control-char', path: path.join(f.data, 'a\u0085b'), vm: 'a\u0085b', mentions: ['a\\x85b'] }]);
});

test('name-reserved-suffix: names ending in -log and -pipeline', (t) => {
  const f = fixture(t, { 'web-log': {}, 'web-pipeline': {}, web: {}, 'web-logs': {}, log: {} });
  const result = check(f.data);
  assertDiagnostics(t, result.diagnostics, [
    { rule: 'name-reserved-suffix', path: path.join(f.data, 'web-log'), vm: 'web-log', mentions: ['web-log', '-log'] },
    { rule: 'name-reserved-suffix', path: path.join(f.data, 'web-pipeline'), vm: 'web-pipeline', mentions: ['web-pipeline', '-pipeline'] },
  ]);
  assertOutcome(t, result, ['log', 'web', 'web-logs'], [
    ['web-log', 'invalid (name-reserved-suffix)'],
    ['web-pipeline', 'invalid (name-reserved-suffix)'],
  ]);
});

test('name-vmm-unsafe: comma, quote and brackets in VM names', (t) => {
  const f = fixture(t, { 'a,b': {}, 'a"b': {}, 'a[b': {}, 'a]b': {}, ab: {} });
  const result = check(f.data);
  assertDiagnostics(
    t,
    result.diagnostics,
    ['a"b', 'a,b', 'a[b', 'a]b'].map((name) => ({ rule: 'name-vmm-unsafe' as const, path: path.join(f.data, name), vm: name, mentions: [name] })),
  );
  assertOutcome(t, result, ['ab'], [
    ['a"b', 'invalid (name-vmm-unsafe)'],
    ['a,b', 'invalid (name-vmm-unsafe)'],
    ['a[b', 'invalid (name-vmm-unsafe)'],
    ['a]b', 'invalid (name-vmm-unsafe)'],
  ]);
});

test('name-too-long: a 200-byte name hits the socket path limit (107 bytes under /run/vm), not the service name limit', (t) => {
  const long = 'x'.repeat(200);
  const f = fixture(t, { [long]: {} });
  const result = check(f.data);
  // "/run/vm/" + 200 + "/api.sock" = 217 bytes; "vm-" + 200 + "-log" = 207 <= 251.
  assertDiagnostics(t, result.diagnostics, [
    { rule: 'name-too-long', path: path.join(f.data, long), vm: long, mentions: [`/run/vm/${long}/api.sock`, '217 bytes', '107'] },
  ]);
  assertOutcome(t, result, [], [[long, 'invalid (name-too-long)']]);
});

test('name-too-long: the socket limit is exact, and counts bytes, not characters', (t) => {
  const ok90 = 'a'.repeat(90); // 8 + 90 + 9 = 107
  const bad91 = 'b'.repeat(91); // 108
  const ok45u = 'ü'.repeat(45); // 90 bytes, 45 characters
  const bad46u = 'ö'.repeat(46); // 92 bytes, 46 characters
  const f = fixture(t, { [ok90]: {}, [bad91]: {}, [ok45u]: {}, [bad46u]: {} });
  const result = check(f.data);
  assertDiagnostics(t, result.diagnostics, [
    { rule: 'name-too-long', path: path.join(f.data, bad91), vm: bad91, mentions: [bad91, '108 bytes'] },
    { rule: 'name-too-long', path: path.join(f.data, bad46u), vm: bad46u, mentions: [bad46u, '109 bytes'] },
  ]);
  assertOutcome(t, result, [ok90, ok45u], [
    [bad91, 'invalid (name-too-long)'],
    [bad46u, 'invalid (name-too-long)'],
  ]);
});

test('name-too-long: a 245-byte name breaks both limits (service name 252 > 251, and the socket)', (t) => {
  const name = 'y'.repeat(245);
  const f = fixture(t, { [name]: {} });
  const result = check(f.data);
  assertDiagnostics(t, result.diagnostics, [
    { rule: 'name-too-long', path: path.join(f.data, name), vm: name, mentions: [`vm-${name}-log`, '252 bytes', '251'] },
    { rule: 'name-too-long', path: path.join(f.data, name), vm: name, mentions: ['socket', '262 bytes'] },
  ]);
});

test('name-too-long: the service name limit counts the live prefix', (t) => {
  const f = fixture(t, { abc: {} });
  const prefix = 'p'.repeat(241); // 241 + "vm-abc-log" (10) = 251: fits
  assertDiagnostics(t, check(f.data, { ...defaultOptions, livePrefix: prefix }).diagnostics, []);
  const result = check(f.data, { ...defaultOptions, livePrefix: `${prefix}p` });
  assertDiagnostics(t, result.diagnostics, [{ rule: 'name-too-long', path: path.join(f.data, 'abc'), vm: 'abc', mentions: ['vm-abc-log', '252 bytes'] }]);
  // A short runtime dir lifts the socket limit for a 200-byte name.
  const long = 'z'.repeat(200);
  makeVm(f.data, long);
  const short = check(f.data, { ...defaultOptions, runtimeDir: '/r' });
  t.deepEqual(short.diagnostics.map((d) => d.rule), ['name-too-long'], '/r/<200>/api.sock is still 212 bytes');
  makeVm(f.data, 'q'.repeat(95));
  t.false(check(f.data, { ...defaultOptions, runtimeDir: '/r' }).skipped.some((s) => s.name === 'q'.repeat(95)), '/r/<95>/api.sock is 107 bytes');
});

const ACCEPTED_NAMES = [
  's6rc-foo',
  'my vm',
  "a'b",
  '$(touch x)',
  '`id`',
  ';ls',
  '{x}',
  '-dash',
  'ünïcödé',
  '🙂',
  '～',
  'a\\b',
  'a*b',
  '?q',
  '!x',
  '~',
  '<a>|&',
  'log',
  '-',
  'x'.repeat(90),
] as const;

test('accepted names pass through exactly, bytewise-sorted, with exact paths', (t) => {
  const f = fixture(t, Object.fromEntries(ACCEPTED_NAMES.map((n) => [n, { disks: ['root.img', 'data.img'] }])));
  const result = check(f.data);
  assertDiagnostics(t, result.diagnostics, []);
  t.deepEqual(result.skipped, []);
  const sorted = [...ACCEPTED_NAMES].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  t.deepEqual(
    result.vms.map((vm) => vm.name as string),
    sorted,
  );
  t.true(sorted.indexOf('～') < sorted.indexOf('🙂'), 'bytewise, not UTF-16, order');
  for (const vm of result.vms) {
    const dir = path.join(f.data, vm.name);
    t.deepEqual(vm, { name: vm.name, dir, kernel: path.join(dir, 'vmlinux'), initramfs: null, disks: [path.join(dir, 'blk', 'data.img'), path.join(dir, 'blk', 'root.img')], providers: [], ...NO_SETTINGS });
    t.true(fs.existsSync(vm.disks[1]!), `${vm.disks[1]} exists`);
  }
  t.is(serviceName.vm('s6rc-foo' as VmName), 'vm-s6rc-foo');
  t.false(fs.existsSync(path.join(REPO, 'x')), 'nothing was executed');
});

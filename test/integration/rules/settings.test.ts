/**
 * Check rules: per-VM settings in config/ (generator/rules/settings.ts,
 * generator/rules/setting-registry.ts). The helpers and the hook that demands
 * every rule of the family: test/support/check-rules.ts.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CheckResult, LastGoodVm } from '../../../generator/pipeline/check.js';
import { checkDataDir } from '../../../generator/pipeline/index.js';
import { defaultOptions, type GeneratorOptions } from '../../../generator/pipeline/options.js';
import { planCgroup } from '../../../generator/pipeline/cgroup.js';
import { ruleTests, fixture, check, assertDiagnostics, assertOutcome, assertOnlyVmSkipped, configPath, rawPath, mkfifo, checkInChild } from '../../support/check-rules.js';

const test = ruleTests(import.meta.url);

test('settings: every config/ file reaches ValidVm.settings over the flags, with or without a trailing newline; the rest stay the defaults', (t) => {
  const f = fixture(t, {
    vm: { config: {
      memory: '512M\n', cpus: '2', cmdline: 'quiet loglevel=3\n', 'stop-timeout': '60000', 'cpu-weight': '300', 'cpu-max': '150\n', 'pids-max': '64', 'swap-max': '0\n',
      'writable-disks': '', 'guest-ready': '\n', autostart: '',
    } },
    plain: {},
    some: { config: { cpus: '4\n' } },
  });
  // QEMU: the one VMM that carries guest readiness.
  const qemu = { ...defaultOptions, vmm: 'qemu', settings: { ...defaultOptions.settings, cpuMaxPercent: 200 } } as const;
  const result = check(f.data, qemu);
  assertDiagnostics(t, result.diagnostics, []);
  const byName = new Map(result.vms.map((vm) => [vm.name as string, vm]));
  t.deepEqual(byName.get('vm')!.settings, {
    memory: '512M', cpus: 2, cmdlineExtra: 'quiet loglevel=3', writableDisks: true, stopTimeoutMs: 60000, guestReady: true, autostart: true, cpuWeight: 300, cpuMaxPercent: 150, pidsMax: 64, swapMax: '0',
  });
  t.deepEqual(byName.get('vm')!.settingFiles, ['memory', 'cpus', 'cmdline', 'stop-timeout', 'cpu-weight', 'cpu-max', 'pids-max', 'swap-max', 'writable-disks', 'guest-ready', 'autostart']);
  const defaults = { memory: '256M', cpus: 1, cmdlineExtra: null, writableDisks: false, stopTimeoutMs: 30000, guestReady: false, autostart: false, cpuWeight: 100, cpuMaxPercent: 200, pidsMax: 512, swapMax: '0' };
  t.deepEqual(byName.get('plain')!.settings, defaults);
  t.deepEqual(byName.get('plain')!.settingFiles, []);
  t.deepEqual(byName.get('some')!.settings, { ...defaults, cpus: 4 });
  t.deepEqual(byName.get('some')!.settingFiles, ['cpus']);
  // The global flags are the defaults: --writable-disks holds for a VM without the file.
  t.true(check(f.data, { ...qemu, settings: { ...qemu.settings, writableDisks: true, memory: '1G' } }).vms.every((vm) => vm.settings.writableDisks && (vm.name === 'vm' || vm.settings.memory === '1G')));
});

test('setting-vmm-unsupported: config/guest-ready with a VMM that cannot carry READY=1 names the file; --guest-ready is one error for the data dir', (t) => {
  const f = fixture(t, { vm: { config: { 'guest-ready': '' } }, other: {} });
  for (const vmm of ['cloud-hypervisor', 'crosvm'] as const) {
    const result = check(f.data, { ...defaultOptions, vmm, userConsole: vmm !== 'crosvm' });
    assertDiagnostics(t, result.diagnostics, [{ rule: 'setting-vmm-unsupported', path: configPath(f, 'guest-ready'), vm: 'vm', mentions: ['guest readiness', vmm] }]);
    t.deepEqual(result.vms.map((vm) => vm.name as string), ['other']);
    const global = check(f.data, { ...defaultOptions, vmm, userConsole: vmm !== 'crosvm', settings: { ...defaultOptions.settings, guestReady: true } });
    t.deepEqual(global.diagnostics.filter((d) => d.rule === 'vmm-unsupported').map((d) => [d.path, d.vm]), [[f.data, null]]);
  }
});

// crosvm f1e797a6 has no way to say an image is raw: --block's DiskOption has
// no format key (devices/src/virtio/block/mod.rs:83-141), each start probes
// the image (devices/src/virtio/block/sys/linux.rs:60-70 -> disk/src/disk.rs:322-330)
// and opens a QCOW2 header as QCOW2 (disk/src/disk.rs:264-267) with the
// backing file it names (disk/src/qcow/mod.rs:627-644).
test('setting-vmm-unsupported: config/writable-disks with crosvm, which probes image formats, names the file; --writable-disks is one error for the data dir', (t) => {
  const f = fixture(t, { vm: { config: { 'writable-disks': '' } }, other: {} });
  const result = check(f.data, { ...defaultOptions, vmm: 'crosvm', userConsole: false });
  assertDiagnostics(t, result.diagnostics, [{ rule: 'setting-vmm-unsupported', path: configPath(f, 'writable-disks'), vm: 'vm', mentions: ['writable disks', 'crosvm', 'QCOW2'] }]);
  assertOutcome(t, result, ['other'], [['vm', 'invalid (setting-vmm-unsupported)']]);
  const global = check(f.data, { ...defaultOptions, vmm: 'crosvm', userConsole: false, settings: { ...defaultOptions.settings, writableDisks: true } });
  assertDiagnostics(t, global.diagnostics.filter((d) => d.rule === 'vmm-unsupported'), [{ rule: 'vmm-unsupported', path: f.data, vm: null, mentions: ['--writable-disks', 'crosvm', 'raw'] }]);
  t.deepEqual(global.vms, []);
  // QEMU (format=raw) and cloud-hypervisor (image_type=raw) never open guest-written data as QCOW2.
  for (const vmm of ['qemu', 'cloud-hypervisor'] as const) {
    const ok = check(f.data, { ...defaultOptions, vmm, settings: { ...defaultOptions.settings, writableDisks: true } });
    assertDiagnostics(t, ok.diagnostics, []);
    t.true(ok.vms.every((vm) => vm.settings.writableDisks));
  }
});

test('settings: a link inside the data dir to a regular file is read; an empty config/ changes nothing', (t) => {
  const f = fixture(t, { vm: { config: {} }, other: { config: {} } });
  fs.mkdirSync(path.join(f.data, 'vm', 'shared'));
  fs.writeFileSync(path.join(f.data, 'vm', 'shared', 'mem'), '1G\n');
  fs.symlinkSync('../shared/mem', configPath(f, 'memory'));
  const result = check(f.data);
  assertDiagnostics(t, result.diagnostics, []);
  t.deepEqual(result.vms.map((vm) => [vm.name as string, vm.settings.memory]), [['other', '256M'], ['vm', '1G']]);
});

test('config-not-directory: config is a file, or a symbolic link to a directory (not followed)', (t) => {
  const f = fixture(t, { vm: {}, linked: {}, ok: { config: { cpus: '2' } } });
  fs.writeFileSync(path.join(f.data, 'vm', 'config'), 'memory=512M\n');
  fs.symlinkSync('../ok/config', path.join(f.data, 'linked', 'config'));
  const result = check(f.data);
  assertDiagnostics(t, result.diagnostics, [
    { rule: 'config-not-directory', path: path.join(f.data, 'linked', 'config'), vm: 'linked', mentions: ['symbolic link'] },
    { rule: 'config-not-directory', path: path.join(f.data, 'vm', 'config'), vm: 'vm', mentions: ['file'] },
  ]);
  assertOutcome(t, result, ['ok'], [['linked', 'invalid (config-not-directory)'], ['vm', 'invalid (config-not-directory)']]);
});

test('setting-unknown: a misspelt or foreign file is a warning, never opened, and the VM keeps its defaults; hidden files are ignored', (t) => {
  const f = fixture(t, { vm: { config: { memroy: '8G', '.hidden': 'x', cpus: '2' } } });
  mkfifo(configPath(f, 'fifo-unknown'));
  fs.writeFileSync(path.join(f.data, 'vm', 'config', Buffer.concat([Buffer.from('mem'), Buffer.from([0xff])]).toString('latin1')), '1G');
  fs.writeFileSync(rawPath(f.data, '/vm/config/', 'x', [0xff]), '1G');
  const result = check(f.data);
  const unknown = result.diagnostics.filter((d) => d.rule === 'setting-unknown').map((d) => path.basename(d.path)).sort();
  t.deepEqual(unknown, ['fifo-unknown', 'memroy', 'memÿ', 'x\\xff']);
  t.true(result.diagnostics.every((d) => d.rule === 'setting-unknown' && d.severity === 'warning'));
  assertDiagnostics(t, result.diagnostics.filter((d) => path.basename(d.path) === 'memroy'), [
    { severity: 'warning', rule: 'setting-unknown', path: configPath(f, 'memroy'), vm: 'vm', mentions: ['memroy'] },
  ]);
  t.deepEqual(result.vms.map((vm) => [vm.settings.memory, vm.settings.cpus]), [['256M', 2]]);
});

test('setting-not-file: config/memory is a FIFO (never opened: the check does not hang), a directory, a socket or a link to a FIFO', (t) => {
  const f = fixture(t, { vm: { config: {} }, dir: { config: {} }, linked: { config: {} }, ok: {} });
  mkfifo(configPath(f, 'memory'));
  fs.mkdirSync(configPath(f, 'cpus', 'dir'));
  mkfifo(path.join(f.data, 'linked', 'fifo'));
  fs.symlinkSync('../fifo', configPath(f, 'autostart', 'linked'));
  const started = Date.now();
  const child = checkInChild(t, f, false);
  t.true(Date.now() - started < 15_000, 'the child check must finish within seconds');
  const result = check(f.data);
  t.deepEqual(child, JSON.parse(JSON.stringify(result)) as CheckResult, 'same result in the child and here');
  assertDiagnostics(t, result.diagnostics, [
    { rule: 'setting-not-file', path: configPath(f, 'cpus', 'dir'), vm: 'dir', mentions: ['config/cpus', 'directory'] },
    { rule: 'setting-not-file', path: configPath(f, 'autostart', 'linked'), vm: 'linked', mentions: ['config/autostart', 'FIFO'] },
    { rule: 'setting-not-file', path: configPath(f, 'memory'), vm: 'vm', mentions: ['config/memory', 'FIFO'] },
  ]);
  assertOutcome(t, result, ['ok'], [['dir', 'invalid (setting-not-file)'], ['linked', 'invalid (setting-not-file)'], ['vm', 'invalid (setting-not-file)']]);
});

test('setting-not-file: a character device (/dev/zero\'s numbers) is never opened', (t) => {
  if (process.getuid?.() !== 0) {
    t.log('mknod needs root: skipped');
    t.pass();
    return;
  }
  const f = fixture(t, { vm: { config: {} } });
  execFileSync('mknod', [configPath(f, 'cmdline'), 'c', '1', '5']);
  const result = check(f.data);
  assertDiagnostics(t, result.diagnostics, [{ rule: 'setting-not-file', path: configPath(f, 'cmdline'), vm: 'vm', mentions: ['character device'] }]);
  assertOnlyVmSkipped(t, result, ['setting-not-file']);
});

test('setting-not-file: mode 000, checked as user nobody', (t) => {
  const f = fixture(t, { vm: { config: { cpus: '2' } } });
  fs.chmodSync(configPath(f, 'cpus'), 0o000);
  const result = checkInChild(t, f, true);
  assertDiagnostics(t, result.diagnostics, [{ rule: 'setting-not-file', path: configPath(f, 'cpus'), vm: 'vm', mentions: ['config/cpus', 'cannot be read'] }]);
  assertOnlyVmSkipped(t, result, ['setting-not-file']);
});

test('setting-too-large: a 1 GiB sparse config/memory is refused unread, quickly; 4096 bytes is read, 4097 is not', (t) => {
  const f = fixture(t, { vm: { config: {} }, at: { config: { cmdline: Buffer.alloc(4096, 0x61) } }, over: { config: { cmdline: Buffer.alloc(4097, 0x61) } } });
  const fd = fs.openSync(configPath(f, 'memory'), 'w');
  fs.writeSync(fd, '512M\n');
  fs.ftruncateSync(fd, 1024 ** 3);
  fs.closeSync(fd);
  const started = Date.now();
  const result = check(f.data);
  t.true(Date.now() - started < 10_000, 'the check must not read the huge file');
  assertDiagnostics(t, result.diagnostics, [
    // 4096 bytes are read, and then too long a command line: a different rule.
    { rule: 'setting-out-of-bounds', path: configPath(f, 'cmdline', 'at'), vm: 'at', mentions: ['2047'] },
    { rule: 'setting-too-large', path: configPath(f, 'cmdline', 'over'), vm: 'over', mentions: ['4097', '4096'] },
    { rule: 'setting-too-large', path: configPath(f, 'memory'), vm: 'vm', mentions: [String(1024 ** 3), '4096'] },
  ]);
});

const invalidValues: ReadonlyArray<readonly [string, string, string | Buffer, string]> = [
  ['not UTF-8', 'cmdline', Buffer.from([0x71, 0xff, 0xfe]), 'UTF-8'],
  ['empty', 'memory', '', 'empty'],
  ['only a newline', 'cpus', '\n', 'empty'],
  ['two lines', 'memory', '512M\n1G\n', 'more than one line'],
  ['two trailing newlines', 'cpus', '2\n\n', 'more than one line'],
  ['a CRLF line', 'cpus', '2\r\n', '2\\x0d'],
  ['spaces around the value', 'memory', ' 512M', ' 512M'],
  ['a unit with a space', 'memory', '512 M', '512 M'],
  ['a lower-case unit', 'memory', '512m', '512m'],
  ['a T unit', 'memory', '1T', '1T'],
  ['zero memory', 'memory', '0', '"0"'],
  // 0 is a whole number: the message says what is wrong with it.
  ['zero vCPUs', 'cpus', '0', 'is 0: a VM needs at least 1 vCPU'],
  ['negative vCPUs', 'cpus', '-1', '"-1" is not a whole number of vCPUs'],
  ['a leading zero', 'cpus', '02', '"02" starts with 0: write the number without leading zeros'],
  ['a fraction', 'stop-timeout', '1.5', '1.5'],
  ['a zero stop timeout', 'stop-timeout', '0', 'is 0: a stop must wait at least 1 ms'],
  ['a stop timeout with a unit', 'stop-timeout', '30s', '30s'],
  ['a tab in the cmdline', 'cmdline', 'quiet\tx', 'printable ASCII'],
  ['a non-ASCII letter in the cmdline', 'cmdline', 'é', 'printable ASCII'],
  ['an escape sequence in the cmdline', 'cmdline', 'a\u001b[2J', 'printable ASCII'],
  ['a flag file saying no', 'writable-disks', 'no\n', 'must be empty'],
  ['a flag file with two newlines', 'autostart', '\n\n', '2 bytes'],
  ['a flag file holding 0', 'guest-ready', '0', 'must be empty'],
];

for (const [what, file, content, mention] of invalidValues) {
  test(`setting-invalid: config/${file} ${what}`, (t) => {
    const f = fixture(t, { vm: { config: { [file]: content } }, ok: {} });
    const result = check(f.data);
    assertDiagnostics(t, result.diagnostics, [{ rule: 'setting-invalid', path: configPath(f, file), vm: 'vm', mentions: [`config/${file}`, mention] }]);
    assertOutcome(t, result, ['ok'], [['vm', 'invalid (setting-invalid)']]);
  });
}

test('setting-out-of-bounds: memory, vCPUs and stop timeout above the --max-* flags; at the bound is fine', (t) => {
  const f = fixture(t, {
    mem: { config: { memory: '4097M' } }, cpus: { config: { cpus: '9' } }, stop: { config: { 'stop-timeout': '300001' } },
    huge: { config: { memory: `${'9'.repeat(400)}G` } },
    at: { config: { memory: '4G', cpus: '8', 'stop-timeout': '300000' } },
  });
  const result = check(f.data);
  assertDiagnostics(t, result.diagnostics, [
    { rule: 'setting-out-of-bounds', path: configPath(f, 'cpus', 'cpus'), vm: 'cpus', mentions: ['9', '--max-cpus 8'] },
    { rule: 'setting-out-of-bounds', path: configPath(f, 'memory', 'huge'), vm: 'huge', mentions: ['--max-memory 4G'] },
    { rule: 'setting-out-of-bounds', path: configPath(f, 'memory', 'mem'), vm: 'mem', mentions: ['4097M', '--max-memory 4G'] },
    { rule: 'setting-out-of-bounds', path: configPath(f, 'stop-timeout', 'stop'), vm: 'stop', mentions: ['300001', '--max-stop-timeout 300000'] },
  ]);
  t.deepEqual(result.vms.map((vm) => vm.name as string), ['at']);
  // The bounds are flags: raised, the same files pass.
  const raised = check(f.data, { ...defaultOptions, bounds: { ...defaultOptions.bounds, memory: '8G', cpus: 16, stopTimeoutMs: 600000 } });
  t.deepEqual(raised.diagnostics.map((d) => d.vm), ['huge']);
});

test('setting-out-of-bounds: cgroup limits above --max-cpu-weight, --max-pids, --max-swap, and a cpu-max above --cpu-max; at the bound is fine', (t) => {
  const f = fixture(t, {
    weight: { config: { 'cpu-weight': '1001' } }, pids: { config: { 'pids-max': '4097' } }, swap: { config: { 'swap-max': '1M' } },
    cap: { config: { 'cpu-max': '201' } },
    at: { config: { 'cpu-weight': '1000', 'pids-max': '4096', 'swap-max': '0', 'cpu-max': '200' } },
  });
  const opts = { ...defaultOptions, settings: { ...defaultOptions.settings, cpuMaxPercent: 200 } };
  const result = check(f.data, opts);
  assertDiagnostics(t, result.diagnostics, [
    { rule: 'setting-out-of-bounds', path: configPath(f, 'cpu-max', 'cap'), vm: 'cap', mentions: ['201', '--cpu-max 200', 'lower'] },
    { rule: 'setting-out-of-bounds', path: configPath(f, 'pids-max', 'pids'), vm: 'pids', mentions: ['4097', '--max-pids 4096'] },
    { rule: 'setting-out-of-bounds', path: configPath(f, 'swap-max', 'swap'), vm: 'swap', mentions: ['1M', '--max-swap 0'] },
    { rule: 'setting-out-of-bounds', path: configPath(f, 'cpu-weight', 'weight'), vm: 'weight', mentions: ['1001', '--max-cpu-weight 1000'] },
  ]);
  t.deepEqual(result.vms.map((vm) => vm.name as string), ['at']);
  // Raised, the same files pass; with no host cap, any cpu-max up to 25500 is the VM's own.
  const raised = check(f.data, { ...defaultOptions, bounds: { ...defaultOptions.bounds, cpuWeight: 10000, pidsMax: 8192, swapMax: '1G' } });
  t.deepEqual(raised.diagnostics, []);
  t.is(raised.vms.find((vm) => vm.name === 'cap')!.settings.cpuMaxPercent, 201);
});

test('setting-out-of-bounds: with no host cap, a cpu-max above the largest --cpu-max takes (255 CPUs) is refused, not written to cpu.max as 1e+26 for the kernel to refuse at each start; at that bound it is written whole', (t) => {
  const f = fixture(t, {
    huge: { config: { 'cpu-max': '99999999999999999999999' } },
    over: { config: { 'cpu-max': '25501' } },
    at: { config: { 'cpu-max': '25500' } },
  });
  const opts = { ...defaultOptions, settings: { ...defaultOptions.settings, cpuMaxPercent: null }, cgroup: '/sys/fs/cgroup/vmsvc' };
  const result = check(f.data, opts);
  assertDiagnostics(t, result.diagnostics, [
    { rule: 'setting-out-of-bounds', path: configPath(f, 'cpu-max', 'huge'), vm: 'huge', mentions: ['25500'] },
    { rule: 'setting-out-of-bounds', path: configPath(f, 'cpu-max', 'over'), vm: 'over', mentions: ['25501', '25500'] },
  ]);
  t.deepEqual(result.vms.map((vm) => vm.name as string), ['at']);
  const at = result.vms[0]!;
  t.deepEqual(planCgroup('vm-at', at.settings, { cgroup: '/sys/fs/cgroup/vmsvc', vmmMemoryOverheadBytes: 0 })!.limits.find((l) => l.file === 'cpu.max')!.value, '25500000 100000');
});

test('setting-invalid: cgroup settings that are not whole numbers or sizes, and a 0 where the kernel needs at least 1', (t) => {
  const f = fixture(t, {
    w0: { config: { 'cpu-weight': '0' } }, wx: { config: { 'cpu-weight': 'high' } }, c0: { config: { 'cpu-max': '0' } }, cp: { config: { 'cpu-max': '50%' } },
    p0: { config: { 'pids-max': '0' } }, sx: { config: { 'swap-max': 'lots' } }, sneg: { config: { 'swap-max': '-1' } },
  });
  const result = check(f.data);
  t.deepEqual(result.vms, []);
  t.deepEqual(result.diagnostics.map((d) => [d.rule, d.vm]), [
    ['setting-invalid', 'c0'], ['setting-invalid', 'cp'], ['setting-invalid', 'p0'], ['setting-invalid', 'sneg'], ['setting-invalid', 'sx'], ['setting-invalid', 'w0'], ['setting-invalid', 'wx'],
  ]);
});

test('setting-out-of-bounds: --cmdline, a space and config/cmdline must fit the x86 kernel\'s 2047 bytes', (t) => {
  const base = defaultOptions.cmdline;
  const room = 2047 - Buffer.byteLength(base) - 1;
  const f = fixture(t, { fits: { config: { cmdline: 'a'.repeat(room) } }, over: { config: { cmdline: 'a'.repeat(room + 1) } } });
  const result = check(f.data);
  assertDiagnostics(t, result.diagnostics, [{ rule: 'setting-out-of-bounds', path: configPath(f, 'cmdline', 'over'), vm: 'over', mentions: ['2048 bytes', '2047'] }]);
  t.is(`${base} ${result.vms[0]!.settings.cmdlineExtra!}`.length, 2047);
});

test('last-good-refused: a running VM is not kept on a last good definition this run\'s bounds refuse (a lowered --max-memory); the control, one they allow, is kept', (t) => {
  const f = fixture(t, { big: { config: { memory: '1G' } }, small: { config: { memory: '256M' } } });
  // Their last good definitions: what apply applied before the bound was lowered.
  const before = check(f.data);
  const lastGood = new Map(before.vms.map((vm): [string, LastGoodVm] => [vm.name, vm]));
  // Both now refused: memory 1G over the lowered bound; a typo in the other.
  fs.writeFileSync(configPath(f, 'memory', 'small'), 'lots\n');
  const lowered: GeneratorOptions = { ...defaultOptions, bounds: { ...defaultOptions.bounds, memory: '512M' } };
  const result = checkDataDir(f.data, lowered, lastGood).result;
  assertDiagnostics(t, result.diagnostics.filter((d) => d.rule === 'last-good-refused'), [
    { severity: 'warning', rule: 'last-good-refused', path: path.join(f.data, 'big'), vm: 'big', mentions: ['memory 1G', '--max-memory 512M', 'not kept'] },
  ]);
  t.deepEqual(result.held.map((h) => h.name), ['small'], 'the control: a definition the bounds allow is kept');
  t.deepEqual(result.vms.map((vm) => [vm.name, vm.settings.memory]), [['small', '256M']], 'no VM generated with 1G above --max-memory 512M');
});

test('setting-vmm-unsupported: a VM\'s memory QEMU or crosvm cannot take invalidates that VM alone, naming its file', (t) => {
  const f = fixture(t, { vm: { config: { memory: '1000K' } }, ok: { config: { memory: '1G' } } });
  for (const vmm of ['qemu', 'crosvm'] as const) {
    const result = check(f.data, { ...defaultOptions, vmm, userConsole: false });
    assertDiagnostics(t, result.diagnostics, [{ rule: 'setting-vmm-unsupported', path: configPath(f, 'memory'), vm: 'vm', mentions: [vmm, '1000K'] }]);
    assertOutcome(t, result, ['ok'], [['vm', 'invalid (setting-vmm-unsupported)']]);
  }
  assertDiagnostics(t, check(f.data).diagnostics, []);
});

/**
 * One or more real data directories per rule id of generator/rules/diagnostic.ts,
 * checked end to end with checkDataDir: exact diagnostics (severity, rule, path,
 * vm, order), and which VMs end up valid or skipped, and why.
 */
import avaTest, { type ExecutionContext } from 'ava';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CheckResult } from '../../generator/pipeline/check.js';
import { RULES, type Diagnostic, type RuleId, type Severity } from '../../generator/rules/diagnostic.js';
import { defaultOptions, type GeneratorOptions } from '../../generator/pipeline/options.js';
import { checkDataDir } from '../../generator/pipeline/index.js';
import { planTree } from '../../generator/pipeline/plan.js';
import { planCgroup } from '../../generator/pipeline/cgroup.js';
import { hostPreflight, type HostRequest } from '../../generator/pipeline/host-probe.js';
import { STOPS_APPLY } from '../../generator/rules/host.js';
import { sandboxData } from '../../generator/pipeline/sandbox.js';
import { spawnRunner } from '../../generator/util/command-runner.js';
import { serviceName, type VmName } from '../../generator/rules/vm-name.js';
import { defaultSettings } from '../../generator/rules/settings.js';
import { APPLY_PROGRAMS } from '../../generator/apply/programs.js';
import { dataDirWith, ELF_HEADER, makeVm, multibootElf, qcow2Naming, setupHeaderElf, tempDir, type VmSpec } from '../support/data-dir.js';

/**
 * ava's test, counting declared and started tests, so the rule-coverage hook
 * can tell a full run from a --match run.
 */
let declared = 0;
let started = 0;
const test = Object.assign(
  (title: string, fn: (t: ExecutionContext) => void): void => {
    declared++;
    avaTest(title, (t) => {
      started++;
      fn(t);
    });
  },
  { after: avaTest.after },
);


/** What a VM without config/ runs with: the flags' defaults, from no file. */
const NO_SETTINGS = { settings: defaultSettings(defaultOptions), settingFiles: [], autostart: false };

const REPO = path.resolve(fileURLToPath(import.meta.url), '..', '..', '..');

// ------------------------------------------------------------------ helpers

/** Rules some passing assertion has matched; the `after` hook demands all of RULES. */
const covered = new Set<RuleId>();

interface Fixture {
  /** The temp root (removed on teardown). */
  readonly root: string;
  /** root/data, absolute. */
  readonly data: string;
}

function fixture(t: ExecutionContext, vms: Record<string, VmSpec> = {}): Fixture {
  const f = dataDirWith(vms);
  t.teardown(() => fs.rmSync(f.root, { recursive: true, force: true }));
  return f;
}

function check(data: string, opts: GeneratorOptions = defaultOptions): CheckResult {
  return checkDataDir(data, opts).result;
}

interface Want {
  readonly severity?: Severity;
  readonly rule: RuleId;
  readonly path: string;
  readonly vm: string | null;
  /** Substrings the message must contain: the offending name at least. */
  readonly mentions: readonly string[];
}

/** Exact diagnostics, in order; message and hint non-empty, printable, naming the culprit. */
function assertDiagnostics(t: ExecutionContext, actual: readonly Diagnostic[], want: readonly Want[]): void {
  const shape = (d: { severity?: Severity; rule: RuleId; path: string; vm: string | null }) => ({
    severity: d.severity ?? 'error',
    rule: d.rule,
    path: d.path,
    vm: d.vm,
  });
  if (!t.deepEqual(actual.map(shape), want.map(shape))) {
    t.log(actual);
    return;
  }
  actual.forEach((d, i) => {
    t.true(d.message.trim().length > 0, `${d.rule}: empty message`);
    t.true(d.hint.trim().length > 0, `${d.rule}: empty hint`);
    t.false(/[\u0000-\u001f\u007f]/.test(d.message), `${d.rule}: raw control character in message ${JSON.stringify(d.message)}`);
    t.false(/[\u0000-\u001f\u007f]/.test(d.hint), `${d.rule}: raw control character in hint ${JSON.stringify(d.hint)}`);
    for (const m of want[i]!.mentions) {
      t.true(d.message.includes(m), `${d.rule}: message ${JSON.stringify(d.message)} does not mention ${JSON.stringify(m)}`);
    }
    covered.add(d.rule);
  });
}

/** Valid VM names (in result order) and skipped [name, reason] pairs, exactly. */
function assertOutcome(t: ExecutionContext, result: CheckResult, vms: readonly string[], skipped: ReadonlyArray<readonly [string, string]>): void {
  t.deepEqual(
    result.vms.map((vm) => vm.name as string),
    [...vms],
    'valid VMs',
  );
  t.deepEqual(
    result.skipped.map((s) => [s.name, s.reason]),
    skipped.map(([n, r]) => [n, r]),
    'skipped VMs',
  );
}

/** One VM named `vm` with an invalid part: the VM is skipped for exactly `rules`. */
function assertOnlyVmSkipped(t: ExecutionContext, result: CheckResult, rules: readonly RuleId[], vm = 'vm'): void {
  assertOutcome(t, result, [], [[vm, `invalid (${rules.join(', ')})`]]);
}

const vmDir = (f: Fixture, vm = 'vm'): string => path.join(f.data, vm);
const blkPath = (f: Fixture, img: string, vm = 'vm'): string => path.join(f.data, vm, 'blk', img);

function rawPath(...parts: Array<string | readonly number[]>): Buffer {
  return Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(p))));
}

function mkfifo(p: string): void {
  execFileSync('mkfifo', [p]);
}

/**
 * Runs checkDataDir in a child process (optionally as user nobody), with a
 * timeout, and returns its result. The child loads vmsvc as root and only
 * then drops to nobody, so the checkout may sit where nobody cannot enter (a
 * 0700 home); only the data dir is read as nobody.
 */
function checkInChild(t: ExecutionContext, f: Fixture, asNobody: boolean): CheckResult {
  const script = path.join(f.root, 'run-check.mts');
  fs.writeFileSync(
    script,
    [
      `import { checkDataDir } from ${JSON.stringify(path.join(REPO, 'generator', 'pipeline', 'index.ts'))};`,
      `import { defaultOptions } from ${JSON.stringify(path.join(REPO, 'generator', 'pipeline', 'options.ts'))};`,
      `if (process.argv[3] === 'nobody') { process.setgroups([]); process.setgid(${NOBODY}); process.setuid(${NOBODY}); }`,
      `process.stdout.write(JSON.stringify(checkDataDir(process.argv[2]!, defaultOptions).result));`,
      '',
    ].join('\n'),
    { mode: 0o644 },
  );
  if (asNobody) fs.chmodSync(f.root, 0o755);
  const started = Date.now();
  const r = spawnSync(process.execPath, ['--import=tsx', script, f.data, asNobody ? 'nobody' : 'root'], { cwd: REPO, encoding: 'utf8', timeout: 20_000 });
  t.log(`child check took ${Date.now() - started} ms`);
  if (r.error !== undefined) throw r.error;
  t.is(r.status, 0, `child failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as CheckResult;
}

const NOBODY = 65534;

test.after('every rule id in RULES is asserted by some passing test', (t) => {
  if (started < declared) {
    t.log(`only ${started} of ${declared} tests ran (--match?): rule coverage not checked`);
    t.pass();
    return;
  }
  t.deepEqual([...covered].sort(), Object.keys(RULES).sort());
});

// ------------------------------------------------------------------ vmlinux

test('vmlinux-missing: no vmlinux', (t) => {
  const f = fixture(t, { vm: { kernel: null } });
  const result = check(f.data);
  assertDiagnostics(t, result.diagnostics, [{ rule: 'vmlinux-missing', path: path.join(vmDir(f), 'vmlinux'), vm: 'vm', mentions: ['vm', 'vmlinux'] }]);
  assertOnlyVmSkipped(t, result, ['vmlinux-missing']);
});

test('vmlinux-missing: vmlinux is a dangling symbolic link', (t) => {
  const f = fixture(t, { vm: { kernel: null } });
  fs.symlinkSync('bzImage-6.1', path.join(vmDir(f), 'vmlinux'));
  const result = check(f.data);
  assertDiagnostics(t, result.diagnostics, [{ rule: 'vmlinux-missing', path: path.join(vmDir(f), 'vmlinux'), vm: 'vm', mentions: ['vmlinux', 'symbolic link'] }]);
  assertOnlyVmSkipped(t, result, ['vmlinux-missing']);
});

test('vmlinux-not-file: vmlinux is a directory', (t) => {
  const f = fixture(t, { vm: { kernel: null } });
  fs.mkdirSync(path.join(vmDir(f), 'vmlinux'));
  const result = check(f.data);
  assertDiagnostics(t, result.diagnostics, [{ rule: 'vmlinux-not-file', path: path.join(vmDir(f), 'vmlinux'), vm: 'vm', mentions: ['vmlinux', 'directory'] }]);
  assertOnlyVmSkipped(t, result, ['vmlinux-not-file']);
});

test('vmlinux-not-file: vmlinux is a FIFO, and the check does not hang on it', (t) => {
  const f = fixture(t, { vm: { kernel: null }, ok: {} });
  mkfifo(path.join(vmDir(f), 'vmlinux'));
  const started = Date.now();
  // In a child with a timeout first: a blocking open() would hang this worker for good.
  const child = checkInChild(t, f, false);
  t.true(Date.now() - started < 15_000, 'the child check must finish within seconds');
  const result = check(f.data);
  t.deepEqual(child, JSON.parse(JSON.stringify(result)) as CheckResult, 'same result in the child and here');
  assertDiagnostics(t, result.diagnostics, [{ rule: 'vmlinux-not-file', path: path.join(vmDir(f), 'vmlinux'), vm: 'vm', mentions: ['vmlinux', 'FIFO'] }]);
  assertOutcome(t, result, ['ok'], [['vm', 'invalid (vmlinux-not-file)']]);
});

test('vmlinux-not-file: vmlinux is a symbolic link (inside the data dir) to a FIFO', (t) => {
  const f = fixture(t, { vm: { kernel: null } });
  mkfifo(path.join(vmDir(f), 'fifo'));
  fs.symlinkSync('fifo', path.join(vmDir(f), 'vmlinux'));
  const result = check(f.data);
  assertDiagnostics(t, result.diagnostics, [{ rule: 'vmlinux-not-file', path: path.join(vmDir(f), 'vmlinux'), vm: 'vm', mentions: ['vmlinux', 'FIFO'] }]);
  assertOnlyVmSkipped(t, result, ['vmlinux-not-file']);
});

test('vmlinux-empty: a zero-byte vmlinux', (t) => {
  const f = fixture(t, { vm: { kernel: Buffer.alloc(0) } });
  const result = check(f.data);
  assertDiagnostics(t, result.diagnostics, [{ rule: 'vmlinux-empty', path: path.join(vmDir(f), 'vmlinux'), vm: 'vm', mentions: ['vmlinux', 'empty'] }]);
  assertOnlyVmSkipped(t, result, ['vmlinux-empty']);
});

const compressedKernels: ReadonlyArray<readonly [string, Buffer, string]> = [
  ['gzip', Buffer.concat([Buffer.from([0x1f, 0x8b, 0x08, 0x00]), Buffer.alloc(2000, 7)]), 'gzip'],
  ['xz', Buffer.concat([Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]), Buffer.alloc(2000, 7)]), 'xz'],
  ['zstd', Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), Buffer.alloc(100, 7)]), 'zstd'],
  [
    'bzImage',
    (() => {
      const b = Buffer.alloc(4096);
      b.write('MZ', 0, 'latin1');
      b.write('HdrS', 0x202, 'latin1');
      return b;
    })(),
    'bzImage',
  ],
];

for (const [what, kernel, mention] of compressedKernels) {
  test(`vmlinux-compressed: a ${what} vmlinux`, (t) => {
    const f = fixture(t, { vm: { kernel } });
    const result = check(f.data);
    assertDiagnostics(t, result.diagnostics, [{ rule: 'vmlinux-compressed', path: path.join(vmDir(f), 'vmlinux'), vm: 'vm', mentions: ['vmlinux', mention] }]);
    assertOnlyVmSkipped(t, result, ['vmlinux-compressed']);
  });
}

test('vmlinux-not-elf: random non-ELF bytes', (t) => {
  const f = fixture(t, { vm: { kernel: Buffer.from('this is not a kernel\n'.repeat(100)) } });
  const result = check(f.data);
  assertDiagnostics(t, result.diagnostics, [{ rule: 'vmlinux-not-elf', path: path.join(vmDir(f), 'vmlinux'), vm: 'vm', mentions: ['vmlinux', 'ELF'] }]);
  assertOnlyVmSkipped(t, result, ['vmlinux-not-elf']);
});

test('vmlinux-not-elf: a one-byte vmlinux', (t) => {
  const f = fixture(t, { vm: { kernel: Buffer.from([0x7f]) } });
  const result = check(f.data);
  assertDiagnostics(t, result.diagnostics, [{ rule: 'vmlinux-not-elf', path: path.join(vmDir(f), 'vmlinux'), vm: 'vm', mentions: ['vmlinux'] }]);
});

// Which VMM looks for which header before the ELF one: generator/vmm/*.ts kernelProbes, with the upstream lines.
const PROBING = {
  multiboot: { refused: ['qemu', 'crosvm'], accepted: ['cloud-hypervisor'] },
  setup: { refused: ['qemu', 'cloud-hypervisor'], accepted: ['crosvm'] },
} as const;
const optsFor = (vmm: 'qemu' | 'cloud-hypervisor' | 'crosvm'): GeneratorOptions => ({ ...defaultOptions, vmm, userConsole: vmm !== 'crosvm' });

test('vmlinux-multiboot: an ELF with a multiboot header (first and last offsets scanned, any flags) is refused by the VMMs that boot multiboot; cloud-hypervisor takes it', (t) => {
  const f = fixture(t, { vm: { kernel: multibootElf(64) }, last: { kernel: multibootElf(8180) }, flags0: { kernel: multibootElf(4096, 0) }, ok: {} });
  for (const vmm of PROBING.multiboot.refused) {
    const result = check(f.data, optsFor(vmm));
    assertDiagnostics(t, result.diagnostics, [
      { rule: 'vmlinux-multiboot', path: path.join(vmDir(f, 'flags0'), 'vmlinux'), vm: 'flags0', mentions: ['offset 4096', vmm === 'qemu' ? 'QEMU' : 'crosvm'] },
      { rule: 'vmlinux-multiboot', path: path.join(vmDir(f, 'last'), 'vmlinux'), vm: 'last', mentions: ['offset 8180'] },
      { rule: 'vmlinux-multiboot', path: path.join(vmDir(f, 'vm'), 'vmlinux'), vm: 'vm', mentions: ['offset 64'] },
    ]);
    assertOutcome(t, result, ['ok'], [['flags0', 'invalid (vmlinux-multiboot)'], ['last', 'invalid (vmlinux-multiboot)'], ['vm', 'invalid (vmlinux-multiboot)']]);
  }
  const qemu = check(f.data, optsFor('qemu')).diagnostics.find((d) => d.vm === 'vm')!;
  t.true(qemu.message.includes('-initrd') && qemu.message.includes('first space'), qemu.message);
  for (const vmm of PROBING.multiboot.accepted) assertOutcome(t, check(f.data, optsFor(vmm)), ['flags0', 'last', 'ok', 'vm'], []);
});

test('vmlinux-multiboot: look-alikes no loader takes pass (bad checksum, unaligned, past offset 8180, cut short)', (t) => {
  const unaligned = multibootElf(64);
  unaligned.copy(unaligned, 66, 64, 76);
  unaligned.fill(0, 64, 66);
  const f = fixture(t, {
    checksum: { kernel: multibootElf(64, 0x10000, 16384, true) },
    unaligned: { kernel: unaligned },
    past: { kernel: multibootElf(8184) },
    cut: { kernel: multibootElf(64, 0x10000, 16384).subarray(0, 72) },
  });
  assertOutcome(t, check(f.data, optsFor('crosvm')), ['checksum', 'cut', 'past', 'unaligned'], []);
  // QEMU reads 8192 bytes whatever the length: the header cut short would be completed by its stack.
  assertOutcome(t, check(f.data, optsFor('qemu')), ['checksum', 'past', 'unaligned'], [['cut', 'invalid (vmlinux-short)']]);
});

test('vmlinux-short: QEMU refuses a vmlinux shorter than the 8192 bytes it decides the boot protocol on; the other VMMs read only the file', (t) => {
  // The attack that found it: a 122-byte ELF32 whose multiboot header runs past the end of the file.
  const elf32 = Buffer.alloc(122);
  Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0x01, 0x01, 0x01]).copy(elf32);
  elf32.writeUInt32LE(0x1badb002, 112);
  elf32.writeUInt32LE(0xe4520000, 116);
  elf32.writeUInt16LE(0x4ffe, 120);
  const f = fixture(t, { vm: { kernel: elf32 }, tiny: { kernel: ELF_HEADER.subarray(0, 64) }, under: { kernel: ELF_HEADER.subarray(0, 8191) }, ok: { kernel: ELF_HEADER } });
  const result = check(f.data, optsFor('qemu'));
  assertDiagnostics(t, result.diagnostics, [
    { rule: 'vmlinux-short', path: path.join(vmDir(f, 'tiny'), 'vmlinux'), vm: 'tiny', mentions: ['64 bytes', '8192'] },
    { rule: 'vmlinux-short', path: path.join(vmDir(f, 'under'), 'vmlinux'), vm: 'under', mentions: ['8191 bytes'] },
    { rule: 'vmlinux-short', path: path.join(vmDir(f, 'vm'), 'vmlinux'), vm: 'vm', mentions: ['122 bytes'] },
  ]);
  assertOutcome(t, result, ['ok'], [['tiny', 'invalid (vmlinux-short)'], ['under', 'invalid (vmlinux-short)'], ['vm', 'invalid (vmlinux-short)']]);
  for (const vmm of ['cloud-hypervisor', 'crosvm'] as const) assertOutcome(t, check(f.data, optsFor(vmm)), ['ok', 'tiny', 'under', 'vm'], []);
});

test('vmlinux-setup-header: an ELF that also carries "HdrS" at 0x202 is refused by the VMMs that would boot it as a bzImage; crosvm takes it', (t) => {
  const f = fixture(t, { vm: { kernel: setupHeaderElf() }, ok: {} });
  for (const vmm of PROBING.setup.refused) {
    const result = check(f.data, optsFor(vmm));
    assertDiagnostics(t, result.diagnostics, [{ rule: 'vmlinux-setup-header', path: path.join(vmDir(f), 'vmlinux'), vm: 'vm', mentions: ['HdrS', 'bzImage'] }]);
    assertOutcome(t, result, ['ok'], [['vm', 'invalid (vmlinux-setup-header)']]);
  }
  for (const vmm of PROBING.setup.accepted) assertOutcome(t, check(f.data, optsFor(vmm)), ['ok', 'vm'], []);
});

test('vmlinux-unreadable: mode 000, checked as user nobody', (t) => {
  const f = fixture(t, { vm: {}, ok: {} });
  fs.chmodSync(path.join(vmDir(f), 'vmlinux'), 0o000);
  const result = checkInChild(t, f, true);
  assertDiagnostics(t, result.diagnostics, [{ rule: 'vmlinux-unreadable', path: path.join(vmDir(f), 'vmlinux'), vm: 'vm', mentions: ['vmlinux'] }]);
  assertOutcome(t, result, ['ok'], [['vm', 'invalid (vmlinux-unreadable)']]);
});

test('vmlinux-unreadable: a VM dir nobody may search (EACCES), checked as user nobody', (t) => {
  const f = fixture(t, { vm: {}, ok: {} });
  fs.chmodSync(vmDir(f), 0o700);
  const result = checkInChild(t, f, true);
  // Current behaviour; see the BUG test below for the messages.
  assertDiagnostics(t, result.diagnostics, [
    { rule: 'blk-not-directory', path: path.join(vmDir(f), 'blk'), vm: 'vm', mentions: ['blk'] },
    { rule: 'config-not-directory', path: path.join(vmDir(f), 'config'), vm: 'vm', mentions: ['EACCES'] },
    { rule: 'initramfs-not-file', path: path.join(vmDir(f), 'initramfs'), vm: 'vm', mentions: ['EACCES'] },
    { rule: 'providers-not-directory', path: path.join(vmDir(f), 'providers'), vm: 'vm', mentions: ['providers'] },
    { rule: 'vmlinux-unreadable', path: path.join(vmDir(f), 'vmlinux'), vm: 'vm', mentions: ['vmlinux', 'EACCES'] },
  ]);
  assertOutcome(t, result, ['ok'], [['vm', 'invalid (blk-not-directory, config-not-directory, initramfs-not-file, providers-not-directory, vmlinux-unreadable)']]);
});

// diskDiagnostics and providerDiagnostics (generator/pipeline/check.ts) describe an
// 'unstatable' node (lstat failed, e.g. EACCES) with describe(), which calls it an "unusable
// link": a VM dir that cannot be searched yields "blk is a unusable link, not
// a directory" and "providers is a unusable link, not a directory", though
// neither is a link (providers may not even exist) and the errno is dropped.
// Fix: handle kind 'unstatable' first in diskDiagnostics/providerDiagnostics
// with a message naming node.code (as kernelDiagnostics does), and let
// describe() say "a path that cannot be examined" (also fixes "a unusable").
test('an unstatable blk/ or providers/ is called "a unusable link"', (t) => {
  const f = fixture(t, { vm: {} });
  fs.chmodSync(vmDir(f), 0o700);
  const result = checkInChild(t, f, true);
  t.not(result.diagnostics.length, 0);
  for (const d of result.diagnostics) {
    t.false(d.message.includes('link'), d.message);
    t.true(d.message.includes('EACCES'), d.message);
  }
});

test('symlink-escapes: vmlinux links outside the data dir', (t) => {
  const f = fixture(t, { vm: { kernel: null } });
  fs.symlinkSync('/etc/hostname', path.join(vmDir(f), 'vmlinux'));
  const result = check(f.data);
  assertDiagnostics(t, result.diagnostics, [
    { rule: 'symlink-escapes', path: path.join(vmDir(f), 'vmlinux'), vm: 'vm', mentions: ['vmlinux', fs.realpathSync('/etc/hostname')] },
  ]);
  assertOnlyVmSkipped(t, result, ['symlink-escapes']);
});

// ------------------------------------------------------------------ blk/

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

test('name-not-utf8: a non-UTF-8 .img name in blk/', (t) => {
  const f = fixture(t, { vm: { disks: ['root.img'] } });
  fs.writeFileSync(rawPath(vmDir(f), '/blk/', [0xff, 0xfe], '.img'), 'disk');
  const result = check(f.data);
  assertDiagnostics(t, result.diagnostics, [{ rule: 'name-not-utf8', path: blkPath(f, '\\xff\\xfe.img'), vm: 'vm', mentions: ['\\xff\\xfe.img'] }]);
  assertOnlyVmSkipped(t, result, ['name-not-utf8']);
});

// ------------------------------------------------------------------ providers

test('provider-unknown: a provider naming no VM', (t) => {
  const f = fixture(t, { vm: { providers: ['ghost'] }, ok: {} });
  const result = check(f.data);
  assertDiagnostics(t, result.diagnostics, [
    { rule: 'provider-unknown', path: path.join(vmDir(f), 'providers', 'net', 'ghost'), vm: 'vm', mentions: ['ghost'] },
  ]);
  assertOutcome(t, result, ['ok'], [['vm', 'invalid (provider-unknown)']]);
});

test('provider-self: a VM providing for itself', (t) => {
  const f = fixture(t, { vm: { providers: ['vm'] } });
  const result = check(f.data);
  assertDiagnostics(t, result.diagnostics, [{ rule: 'provider-self', path: path.join(vmDir(f), 'providers', 'net', 'vm'), vm: 'vm', mentions: ['vm', 'itself'] }]);
  assertOnlyVmSkipped(t, result, ['provider-self']);
});

test('provider-not-file: a providers/net entry that is a directory', (t) => {
  const f = fixture(t, { vm: {}, router: {} });
  fs.mkdirSync(path.join(vmDir(f), 'providers', 'net', 'router'), { recursive: true });
  const result = check(f.data);
  assertDiagnostics(t, result.diagnostics, [
    { rule: 'provider-not-file', path: path.join(vmDir(f), 'providers', 'net', 'router'), vm: 'vm', mentions: ['router', 'directory'] },
  ]);
  assertOutcome(t, result, ['router'], [['vm', 'invalid (provider-not-file)']]);
});

// checkTree (generator/pipeline/check.ts, the graph.set line) builds the provider graph from every providers/net entry,
// including the directories provider-not-file has just rejected. So a rejected
// directory entry still takes part in cycle detection: here vm's entry
// "router" is a directory (not a provider), so router -> vm is no cycle, yet a
// provider-cycle error is reported and router is skipped as "invalid
// (provider-cycle)" instead of "needs provider vm". Fix: build the graph from
// entries with `p.node.kind !== 'directory'`, as unknownProviderDiagnostics does.
test('provider-not-file: a rejected directory entry still forms a provider cycle', (t) => {
  const f = fixture(t, { vm: {}, router: { providers: ['vm'] } });
  fs.mkdirSync(path.join(vmDir(f), 'providers', 'net', 'router'), { recursive: true });
  const result = check(f.data);
  assertDiagnostics(t, result.diagnostics, [
    { rule: 'provider-not-file', path: path.join(vmDir(f), 'providers', 'net', 'router'), vm: 'vm', mentions: ['router'] },
  ]);
  assertOutcome(t, result, [], [
    ['router', 'needs provider vm, which is skipped'],
    ['vm', 'invalid (provider-not-file)'],
  ]);
});

test('providers-not-directory: providers is a file', (t) => {
  const f = fixture(t, { vm: {} });
  fs.writeFileSync(path.join(vmDir(f), 'providers'), 'router\n');
  const result = check(f.data);
  assertDiagnostics(t, result.diagnostics, [{ rule: 'providers-not-directory', path: path.join(vmDir(f), 'providers'), vm: 'vm', mentions: ['providers', 'file'] }]);
  assertOnlyVmSkipped(t, result, ['providers-not-directory']);
});

test('providers-not-directory: providers/net is a file', (t) => {
  const f = fixture(t, { vm: {} });
  fs.mkdirSync(path.join(vmDir(f), 'providers'));
  fs.writeFileSync(path.join(vmDir(f), 'providers', 'net'), 'router\n');
  const result = check(f.data);
  assertDiagnostics(t, result.diagnostics, [
    { rule: 'providers-not-directory', path: path.join(vmDir(f), 'providers', 'net'), vm: 'vm', mentions: ['providers/net', 'file'] },
  ]);
  assertOnlyVmSkipped(t, result, ['providers-not-directory']);
});

test('providers-not-directory: providers/net is a symbolic link to a directory', (t) => {
  const f = fixture(t, { vm: {}, router: {} });
  fs.mkdirSync(path.join(vmDir(f), 'providers', 'real-net'), { recursive: true });
  fs.writeFileSync(path.join(vmDir(f), 'providers', 'real-net', 'router'), '');
  fs.symlinkSync('real-net', path.join(vmDir(f), 'providers', 'net'));
  const result = check(f.data);
  assertDiagnostics(t, result.diagnostics, [
    { rule: 'providers-not-directory', path: path.join(vmDir(f), 'providers', 'net'), vm: 'vm', mentions: ['providers/net', 'symbolic link'] },
  ]);
  assertOutcome(t, result, ['router'], [['vm', 'invalid (providers-not-directory)']]);
});

test('valid providers are listed bytewise-sorted', (t) => {
  const f = fixture(t, { vm: { providers: ['🙂', '～', 'b', 'B'] }, '🙂': {}, '～': {}, b: {}, B: {} });
  const result = check(f.data);
  assertDiagnostics(t, result.diagnostics, []);
  assertOutcome(t, result, ['B', 'b', 'vm', '～', '🙂'], []);
  t.deepEqual(result.vms.find((vm) => vm.name === 'vm')!.providers, ['B', 'b', '～', '🙂']);
});

test('provider-cycle: two VMs providing for each other', (t) => {
  const f = fixture(t, { a: { providers: ['b'] }, b: { providers: ['a'] }, ok: {} });
  const result = check(f.data);
  assertDiagnostics(t, result.diagnostics, [
    { rule: 'provider-cycle', path: path.join(f.data, 'a', 'providers', 'net', 'b'), vm: 'a', mentions: ['a -> b -> a'] },
  ]);
  assertOutcome(t, result, ['ok'], [
    ['a', 'invalid (provider-cycle)'],
    ['b', 'invalid (provider-cycle)'],
  ]);
});

test('provider-cycle: a cycle of three, reported once from its bytewise-first VM', (t) => {
  const f = fixture(t, { c: { providers: ['a'] }, b: { providers: ['c'] }, a: { providers: ['b'] } });
  const result = check(f.data);
  assertDiagnostics(t, result.diagnostics, [
    { rule: 'provider-cycle', path: path.join(f.data, 'a', 'providers', 'net', 'b'), vm: 'a', mentions: ['a -> b -> c -> a'] },
  ]);
  assertOutcome(t, result, [], [
    ['a', 'invalid (provider-cycle)'],
    ['b', 'invalid (provider-cycle)'],
    ['c', 'invalid (provider-cycle)'],
  ]);
});

test('provider-cycle: a cycle with a tail skips the tail and everything depending on it', (t) => {
  const f = fixture(t, {
    x: { providers: ['a'] },
    a: { providers: ['b'] },
    b: { providers: ['a'] },
    y: { providers: ['x'] },
    z: {},
    w: { providers: ['z'] },
  });
  const result = check(f.data);
  assertDiagnostics(t, result.diagnostics, [
    { rule: 'provider-cycle', path: path.join(f.data, 'a', 'providers', 'net', 'b'), vm: 'a', mentions: ['a -> b -> a'] },
  ]);
  t.false(result.diagnostics[0]!.message.includes('x'), 'the tail is not part of the cycle');
  assertOutcome(t, result, ['w', 'z'], [
    ['a', 'invalid (provider-cycle)'],
    ['b', 'invalid (provider-cycle)'],
    ['x', 'needs provider a, which is skipped'],
    ['y', 'needs provider x, which is skipped'],
  ]);
  t.deepEqual(result.vms[0]!.providers, ['z']);
});

test('provider-cycle: two separate cycles give two diagnostics', (t) => {
  const f = fixture(t, { p: { providers: ['q'] }, q: { providers: ['p'] }, a: { providers: ['b'] }, b: { providers: ['a'] } });
  const result = check(f.data);
  assertDiagnostics(t, result.diagnostics, [
    { rule: 'provider-cycle', path: path.join(f.data, 'a', 'providers', 'net', 'b'), vm: 'a', mentions: ['a -> b -> a'] },
    { rule: 'provider-cycle', path: path.join(f.data, 'p', 'providers', 'net', 'q'), vm: 'p', mentions: ['p -> q -> p'] },
  ]);
  t.is(result.vms.length, 0);
  t.is(result.skipped.length, 4);
});

test('links-exhausted: more providers/net links than the 65534 addresses of 100.64.0.0/16', (t) => {
  const f = fixture(t);
  const name = (prefix: string, i: number): string => `${prefix}${String(i).padStart(3, '0')}`;
  const providers = Array.from({ length: 256 }, (_, i) => name('p', i));
  for (const p of providers) makeVm(f.data, p);
  for (let i = 0; i < 256; i++) makeVm(f.data, name('c', i), { providers });
  const total = 256 * 256; // 65536
  const over = check(f.data);
  assertDiagnostics(t, over.diagnostics, [{ rule: 'links-exhausted', path: f.data, vm: null, mentions: [String(total), '65534'] }]);
  t.is(over.vms.length, 0);
  t.is(over.skipped.length, 512);
  t.deepEqual(new Set(over.skipped.map((s) => s.reason)), new Set(['the data directory itself is invalid']));
  // Two links fewer: exactly 65534 fits; unknown and self entries are not links.
  fs.rmSync(path.join(f.data, 'c000', 'providers', 'net', 'p000'));
  fs.rmSync(path.join(f.data, 'c000', 'providers', 'net', 'p001'));
  fs.writeFileSync(path.join(f.data, 'c000', 'providers', 'net', 'ghost'), ''); // provider-unknown: no link
  fs.writeFileSync(path.join(f.data, 'c001', 'providers', 'net', 'c001'), ''); // provider-self: no link
  const fits = check(f.data);
  assertDiagnostics(t, fits.diagnostics, [
    { rule: 'provider-unknown', path: path.join(f.data, 'c000', 'providers', 'net', 'ghost'), vm: 'c000', mentions: ['ghost'] },
    { rule: 'provider-self', path: path.join(f.data, 'c001', 'providers', 'net', 'c001'), vm: 'c001', mentions: ['c001'] },
  ]);
  t.is(fits.vms.length, 510);
  t.deepEqual(fits.skipped, [
    { name: 'c000', reason: 'invalid (provider-unknown)', needs: null, problems: [{ rule: 'provider-unknown', path: path.join(f.data, 'c000', 'providers', 'net', 'ghost') }] },
    { name: 'c001', reason: 'invalid (provider-self)', needs: null, problems: [{ rule: 'provider-self', path: path.join(f.data, 'c001', 'providers', 'net', 'c001') }] },
  ]);
});

test('a VM whose provider is invalid is skipped, naming the provider; so are its own clients', (t) => {
  const f = fixture(t, { bad: { kernel: null }, client: { providers: ['bad'] }, 'client-of-client': { providers: ['client'] }, ok: {} });
  const result = check(f.data);
  assertDiagnostics(t, result.diagnostics, [{ rule: 'vmlinux-missing', path: path.join(f.data, 'bad', 'vmlinux'), vm: 'bad', mentions: ['bad'] }]);
  assertOutcome(t, result, ['ok'], [
    ['bad', 'invalid (vmlinux-missing)'],
    ['client', 'needs provider bad, which is skipped'],
    ['client-of-client', 'needs provider client, which is skipped'],
  ]);
});

// ------------------------------------------------------------------ names

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

// ------------------------------------------------------------------ the data dir itself

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

// ------------------------------------------------------------------ order and determinism

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

test('vmm-root and vmm-shared-user: a VMM as root or as one shared account is a warning against the data dir; each VM its own uid (the default) says nothing', (t) => {
  const f = fixture(t, { ok: {} });
  assertDiagnostics(t, check(f.data).diagnostics, []);
  assertDiagnostics(t, check(f.data, { ...defaultOptions, vmmUser: { kind: 'root' } }).diagnostics,
    [{ severity: 'warning', rule: 'vmm-root', path: f.data, vm: null, mentions: ['--vmm-user root', 'owns the host'] }]);
  const shared = check(f.data, { ...defaultOptions, vmmUser: { kind: 'shared', name: 'vmm' } });
  assertDiagnostics(t, shared.diagnostics, [{ severity: 'warning', rule: 'vmm-shared-user', path: f.data, vm: null, mentions: ['one account', 'other VMMs'] }]);
  // A warning: the VM stays valid.
  assertOutcome(t, shared, ['ok'], []);
});

test('vmm-unsandboxed: VMMs without the sandbox (--sandbox none) is a warning against the data dir; bwrap (the default) says nothing', (t) => {
  const f = fixture(t, { ok: {} });
  assertDiagnostics(t, check(f.data, { ...defaultOptions, sandbox: 'bwrap' }).diagnostics, []);
  const none = check(f.data, { ...defaultOptions, sandbox: 'none' });
  assertDiagnostics(t, none.diagnostics, [{ severity: 'warning', rule: 'vmm-unsandboxed', path: f.data, vm: null, mentions: ['--sandbox none', 'whole file system'] }]);
  assertOutcome(t, none, ['ok'], []);
});

test('vmm-unsupported: crosvm without a user console it can offer, and memory not in whole MiB, invalidate every VM', (t) => {
  const f = fixture(t, { a: {}, b: { providers: ['a'] } });
  const crosvm = check(f.data, { ...defaultOptions, vmm: 'crosvm' });
  assertDiagnostics(t, crosvm.diagnostics, [{ rule: 'vmm-unsupported', path: f.data, vm: null, mentions: ['crosvm', 'virtio-console'] }]);
  t.deepEqual(crosvm.vms, []);
  const qemu = check(f.data, { ...defaultOptions, vmm: 'qemu', memory: '1000K' });
  assertDiagnostics(t, qemu.diagnostics, [{ rule: 'vmm-unsupported', path: f.data, vm: null, mentions: ['qemu', '1000K'] }]);
  const fine = check(f.data, { ...defaultOptions, vmm: 'crosvm', userConsole: false, memory: '2G' });
  assertDiagnostics(t, fine.diagnostics, []);
  t.deepEqual(fine.vms.map((vm) => vm.name as string), ['a', 'b']);
  // cloud-hypervisor takes any byte size.
  assertDiagnostics(t, check(f.data, { ...defaultOptions, memory: '1000K' }).diagnostics, []);
});

test('initramfs-not-file: an optional initramfs must be a readable, non-empty regular file inside the data dir', (t) => {
  const f = fixture(t, { ok: {}, dir: {}, empty: {}, escapes: {} });
  fs.writeFileSync(path.join(f.data, 'ok', 'initramfs'), 'cpio');
  fs.mkdirSync(path.join(f.data, 'dir', 'initramfs'));
  fs.writeFileSync(path.join(f.data, 'empty', 'initramfs'), '');
  fs.symlinkSync('/etc/hostname', path.join(f.data, 'escapes', 'initramfs'));
  const result = check(f.data);
  assertDiagnostics(t, result.diagnostics, [
    { rule: 'initramfs-not-file', path: path.join(f.data, 'dir', 'initramfs'), vm: 'dir', mentions: ['directory'] },
    { rule: 'initramfs-not-file', path: path.join(f.data, 'empty', 'initramfs'), vm: 'empty', mentions: ['empty'] },
    { rule: 'symlink-escapes', path: path.join(f.data, 'escapes', 'initramfs'), vm: 'escapes', mentions: ['/etc/hostname'] },
  ]);
  t.deepEqual(result.vms.map((vm) => [vm.name as string, vm.initramfs]), [['ok', path.join(f.data, 'ok', 'initramfs')]]);
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

// ------------------------------------------------------------------ per-VM settings (config/)

const configPath = (f: Fixture, file: string, vm = 'vm'): string => path.join(f.data, vm, 'config', file);

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
  const qemu = { ...defaultOptions, vmm: 'qemu', cpuMaxPercent: 200 } as const;
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
  t.true(check(f.data, { ...qemu, writableDisks: true, memory: '1G' }).vms.every((vm) => vm.settings.writableDisks && (vm.name === 'vm' || vm.settings.memory === '1G')));
});

test('setting-vmm-unsupported: config/guest-ready with a VMM that cannot carry READY=1 names the file; --guest-ready is one error for the data dir', (t) => {
  const f = fixture(t, { vm: { config: { 'guest-ready': '' } }, other: {} });
  for (const vmm of ['cloud-hypervisor', 'crosvm'] as const) {
    const result = check(f.data, { ...defaultOptions, vmm, userConsole: vmm !== 'crosvm' });
    assertDiagnostics(t, result.diagnostics, [{ rule: 'setting-vmm-unsupported', path: configPath(f, 'guest-ready'), vm: 'vm', mentions: ['guest readiness', vmm] }]);
    t.deepEqual(result.vms.map((vm) => vm.name as string), ['other']);
    const global = check(f.data, { ...defaultOptions, vmm, userConsole: vmm !== 'crosvm', guestReady: true });
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
  const global = check(f.data, { ...defaultOptions, vmm: 'crosvm', userConsole: false, writableDisks: true });
  assertDiagnostics(t, global.diagnostics.filter((d) => d.rule === 'vmm-unsupported'), [{ rule: 'vmm-unsupported', path: f.data, vm: null, mentions: ['--writable-disks', 'crosvm', 'raw'] }]);
  t.deepEqual(global.vms, []);
  // QEMU (format=raw) and cloud-hypervisor (image_type=raw) never open guest-written data as QCOW2.
  for (const vmm of ['qemu', 'cloud-hypervisor'] as const) {
    const ok = check(f.data, { ...defaultOptions, vmm, writableDisks: true });
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
  const raised = check(f.data, { ...defaultOptions, maxMemory: '8G', maxCpus: 16, maxStopTimeoutMs: 600000 });
  t.deepEqual(raised.diagnostics.map((d) => d.vm), ['huge']);
});

test('setting-out-of-bounds: cgroup limits above --max-cpu-weight, --max-pids, --max-swap, and a cpu-max above --cpu-max; at the bound is fine', (t) => {
  const f = fixture(t, {
    weight: { config: { 'cpu-weight': '1001' } }, pids: { config: { 'pids-max': '4097' } }, swap: { config: { 'swap-max': '1M' } },
    cap: { config: { 'cpu-max': '201' } },
    at: { config: { 'cpu-weight': '1000', 'pids-max': '4096', 'swap-max': '0', 'cpu-max': '200' } },
  });
  const opts = { ...defaultOptions, cpuMaxPercent: 200 };
  const result = check(f.data, opts);
  assertDiagnostics(t, result.diagnostics, [
    { rule: 'setting-out-of-bounds', path: configPath(f, 'cpu-max', 'cap'), vm: 'cap', mentions: ['201', '--cpu-max 200', 'lower'] },
    { rule: 'setting-out-of-bounds', path: configPath(f, 'pids-max', 'pids'), vm: 'pids', mentions: ['4097', '--max-pids 4096'] },
    { rule: 'setting-out-of-bounds', path: configPath(f, 'swap-max', 'swap'), vm: 'swap', mentions: ['1M', '--max-swap 0'] },
    { rule: 'setting-out-of-bounds', path: configPath(f, 'cpu-weight', 'weight'), vm: 'weight', mentions: ['1001', '--max-cpu-weight 1000'] },
  ]);
  t.deepEqual(result.vms.map((vm) => vm.name as string), ['at']);
  // Raised, the same files pass; with no host cap, any cpu-max up to 25500 is the VM's own.
  const raised = check(f.data, { ...defaultOptions, maxCpuWeight: 10000, maxPids: 8192, maxSwap: '1G', cpuMaxPercent: null });
  t.deepEqual(raised.diagnostics, []);
  t.is(raised.vms.find((vm) => vm.name === 'cap')!.settings.cpuMaxPercent, 201);
});

test('setting-out-of-bounds: with no host cap, a cpu-max above the largest --cpu-max takes (255 CPUs) is refused, not written to cpu.max as 1e+26 for the kernel to refuse at each start; at that bound it is written whole', (t) => {
  const f = fixture(t, {
    huge: { config: { 'cpu-max': '99999999999999999999999' } },
    over: { config: { 'cpu-max': '25501' } },
    at: { config: { 'cpu-max': '25500' } },
  });
  const opts = { ...defaultOptions, cpuMaxPercent: null, cgroup: '/sys/fs/cgroup/vmsvc' };
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

test('autostart-over-memory, autostart-over-cpus: marked VMs in name order, each with its providers counted once, until the host\'s bounds; the rest stay out of the autostart bundle', (t) => {
  const f = fixture(t, {
    a: { config: { autostart: '', memory: '1G' } },
    b: { config: { autostart: '', memory: '1G' }, providers: ['net'] },
    c: { config: { autostart: '', cpus: '4' } },
    net: { config: { memory: '512M' } },
  });
  const mib = 1024 ** 2;
  // a: 1024 + 256 overhead; b with net: 1280 + 768; c: 512 and 4 vCPUs.
  const admission = { memoryBytes: 2560 * mib, vcpus: 4, memoryFrom: '--autostart-memory 2560M', vcpusFrom: '1 host CPUs x --cpu-overcommit 4' };
  const result = check(f.data, { ...defaultOptions, admission });
  assertDiagnostics(t, result.diagnostics, [
    { severity: 'warning', rule: 'autostart-over-memory', path: configPath(f, 'autostart', 'b'), vm: 'b', mentions: ['b', 'net', '2048 MiB', '1280 MiB', '2560 MiB', '--autostart-memory 2560M'] },
    { severity: 'warning', rule: 'autostart-over-cpus', path: configPath(f, 'autostart', 'c'), vm: 'c', mentions: ['4 vCPUs', '1 of the 4', '--cpu-overcommit 4'] },
  ]);
  t.true(result.diagnostics.every((d) => d.hint.includes(`vmsvc start ${d.vm!}`)));
  t.deepEqual(result.vms.map((vm) => [vm.name as string, vm.autostart, vm.settings.autostart]), [['a', true, true], ['b', false, true], ['c', false, true], ['net', false, false]]);
  const bundle = [...planTree(f.data, result.vms, [], defaultOptions).services].find((s) => s.name === defaultOptions.autostartBundle);
  t.deepEqual(bundle?.type === 'bundle' ? bundle.contents : null, ['vm-a-pipeline']);
  // The control: room for all, and net, which b and a shared provider would need, counted once.
  const roomy = check(f.data, { ...defaultOptions, admission: { ...admission, memoryBytes: (1280 + 2048 + 512) * mib, vcpus: 7 } });
  t.deepEqual(roomy.diagnostics, []);
  t.deepEqual(roomy.vms.filter((vm) => vm.autostart).map((vm) => vm.name as string), ['a', 'b', 'c']);
  // One MiB less and c, the last, no longer fits.
  const tight = check(f.data, { ...defaultOptions, admission: { ...admission, memoryBytes: (1280 + 2048 + 512 - 1) * mib, vcpus: 7 } });
  t.deepEqual(tight.diagnostics.map((d) => [d.rule, d.vm]), [['autostart-over-memory', 'c']]);
});

test('setting-out-of-bounds: --cmdline, a space and config/cmdline must fit the x86 kernel\'s 2047 bytes', (t) => {
  const base = defaultOptions.cmdline;
  const room = 2047 - Buffer.byteLength(base) - 1;
  const f = fixture(t, { fits: { config: { cmdline: 'a'.repeat(room) } }, over: { config: { cmdline: 'a'.repeat(room + 1) } } });
  const result = check(f.data);
  assertDiagnostics(t, result.diagnostics, [{ rule: 'setting-out-of-bounds', path: configPath(f, 'cmdline', 'over'), vm: 'over', mentions: ['2048 bytes', '2047'] }]);
  t.is(`${base} ${result.vms[0]!.settings.cmdlineExtra!}`.length, 2047);
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

// ------------------------------------------------------------------ host (check --host, apply)

/** Every program the host rules look for, as a stand-in that exits 0 (a QEMU that reads its QMP and quits). */
const HOST_PROGRAMS = [
  'cloud-hypervisor', 'ch-remote', 'qemu-system-x86_64', 'execlineb', 's6-log', 's6-notifyoncheck', 's6-svc', 's6-svwait', 's6-permafailon',
  's6-svstat', 's6-svdt-clear', 's6-setuidgid', 's6-applyuidgid', 's6-ipcclient', 's6-ioconnect', 'ip', 's6-rc-compile', 's6-rc-init', 's6-rc-update', 's6-rc',
  's6-softlimit', 's6-svscanctl', 'unshare', 'mount', 'setfacl', 'bwrap',
];

interface HostFixture {
  readonly bin: string;
  request(options: Partial<GeneratorOptions>, extra?: Partial<HostRequest>): HostRequest;
}

function hostFixture(t: ExecutionContext): HostFixture {
  const bin = tempDir('vmsvc-host-');
  fs.chmodSync(bin, 0o755);
  t.teardown(() => fs.rmSync(bin, { recursive: true, force: true }));
  for (const p of HOST_PROGRAMS) fs.writeFileSync(path.join(bin, p), '#!/bin/sh\ncat >/dev/null\nexit 0\n', { mode: 0o755 });
  return {
    bin,
    request: (options, extra = {}) => ({
      // No cgroup unless a test asks: this machine's cgroup v2 has no controllers (host-cgroup-unusable has tests of its own).
      options: { ...defaultOptions, cgroup: null, ...options, programs: { ...defaultOptions.programs, execlineb: path.join(bin, 'execlineb'), ...options.programs } },
      applyPrograms: Object.values(APPLY_PROGRAMS).map((p) => ({ flag: `--${p.flag}`, program: p.path })),
      // Root's own temp dir above it (/tmp is sticky and root's): the way is root's alone.
      dataDir: path.join(bin, 'data'),
      scandir: null,
      kvmProbe: null,
      pathEnv: bin,
      ...extra,
    }),
  };
}

const asRoot = process.getuid?.() === 0;

/**
 * The host rules but host-vmm-hidden, which every stand-in VMM the fixture
 * finds by name in its temp dir gets (a sandbox shows /usr only), so that
 * each test shows only its own rule; tested on its own below.
 */
const hostRules = (req: HostRequest, runner: typeof spawnRunner): Diagnostic[] => hostPreflight(req, runner).filter((d) => d.rule !== 'host-vmm-hidden' && d.rule !== 'host-data-shared-fs');

test('host-program-missing: setfacl, when a VMM that runs as another uid than root opens a file by path (cloud-hypervisor, QEMU\'s kernel); not as root, nor with crosvm', (t) => {
  const h = hostFixture(t);
  fs.rmSync(path.join(h.bin, 'setfacl'));
  const missing = [{ severity: 'error' as const, rule: 'host-program-missing' as const, path: 'setfacl', vm: null, mentions: ['--setfacl'] }];
  const qemu = { vmm: 'qemu' as const, programs: { ...defaultOptions.programs, vmm: 'qemu-system-x86_64' } };
  assertDiagnostics(t, hostRules(h.request({}), spawnRunner), missing);
  assertDiagnostics(t, hostRules(h.request({ ...qemu }), spawnRunner), missing);
  assertDiagnostics(t, hostRules(h.request({ vmmUser: { kind: 'shared', name: 'nobody' }, accel: 'tcg' }), spawnRunner), missing);
  assertDiagnostics(t, hostRules(h.request({ accel: 'tcg', vmmUser: { kind: 'root' } }), spawnRunner), []);
  assertDiagnostics(t, hostRules(h.request({ vmm: 'crosvm', programs: { ...defaultOptions.programs, vmm: 'cloud-hypervisor' } }), spawnRunner), []);
});

test('host: with every program there and a KVM probe that works, the host rules say nothing', (t) => {
  const h = hostFixture(t);
  assertDiagnostics(t, hostRules(h.request({}), spawnRunner), []);
  assertDiagnostics(t, hostRules(h.request({ vmm: 'qemu', programs: { ...defaultOptions.programs, vmm: 'qemu-system-x86_64' } }), spawnRunner), []);
});

test('host-vmm-missing: the VMM is not in PATH, or not at its absolute path', (t) => {
  const h = hostFixture(t);
  fs.rmSync(path.join(h.bin, 'cloud-hypervisor'));
  assertDiagnostics(t, hostRules(h.request({}), spawnRunner), [{ rule: 'host-vmm-missing', path: 'cloud-hypervisor', vm: null, mentions: ['cloud-hypervisor', '--vmm-bin'] }]);
  const gone = path.join(h.bin, 'gone', 'cloud-hypervisor');
  assertDiagnostics(t, hostRules(h.request({ programs: { ...defaultOptions.programs, vmm: gone } }), spawnRunner), [{ rule: 'host-vmm-missing', path: gone, vm: null, mentions: [gone] }]);
});

test(`host-vmm-not-executable: the VMM's user cannot execute it (mode 0744, user nobody or a VM's own uid); root and 0755 can${asRoot ? '' : ' [skipped: needs root]'}`, (t) => {
  if (!asRoot) return t.pass();
  const h = hostFixture(t);
  const vmm = path.join(h.bin, 'cloud-hypervisor');
  fs.chmodSync(vmm, 0o744);
  const options = { vmmUser: { kind: 'shared', name: 'nobody' } as const, accel: 'tcg' as const, programs: { ...defaultOptions.programs, s6Setuidgid: 's6-setuidgid' } };
  // Debian's s6-setuidgid, so that the switch to nobody is real.
  assertDiagnostics(t, hostRules(h.request(options, { pathEnv: `${h.bin}:/usr/bin:/bin` }), spawnRunner).filter((d) => d.rule !== 'host-program-missing'),
    [{ rule: 'host-vmm-not-executable', path: vmm, vm: null, mentions: ['nobody'] }]);
  fs.rmSync(path.join(h.bin, 's6-setuidgid'));
  assertDiagnostics(t, hostRules(h.request({ accel: 'tcg', vmmUser: { kind: 'root' } }), spawnRunner), []);
  // Each VM's own uid (the default), asked as the first of the range, by Debian's s6-applyuidgid.
  fs.rmSync(path.join(h.bin, 's6-applyuidgid'));
  assertDiagnostics(t, hostRules(h.request({ accel: 'tcg' }, { pathEnv: `${h.bin}:/usr/bin:/bin` }), spawnRunner).filter((d) => d.rule !== 'host-program-missing'),
    [{ rule: 'host-vmm-not-executable', path: vmm, vm: null, mentions: ['uid 1879048192'] }]);
  fs.chmodSync(vmm, 0o755);
  assertDiagnostics(t, hostRules(h.request(options, { pathEnv: `${h.bin}:/usr/bin:/bin` }), spawnRunner).filter((d) => d.rule !== 'host-program-missing'), []);
});

test('host-vmm-hidden: a VMM found by name outside /usr is not in its sandbox; by absolute path its directory is bound, and --sandbox none needs none', (t) => {
  const h = hostFixture(t);
  const found = path.join(h.bin, 'cloud-hypervisor');
  const hidden = (at: string, ...mentions: string[]) => [{ rule: 'host-vmm-hidden' as const, path: at, vm: null, mentions: [at, '--sandbox bwrap', ...mentions] }];
  assertDiagnostics(t, hostPreflight(h.request({ accel: 'tcg', vmmUser: { kind: 'root' } }), spawnRunner), hidden(found));
  assertDiagnostics(t, hostPreflight(h.request({ accel: 'tcg', vmmUser: { kind: 'root' }, sandbox: 'none' }), spawnRunner), []);
  assertDiagnostics(t, hostPreflight(h.request({ accel: 'tcg', vmmUser: { kind: 'root' }, programs: { ...defaultOptions.programs, vmm: found } }), spawnRunner), []);
  // The same with QEMU, whose VMM also probes KVM.
  const qemu = path.join(h.bin, 'qemu-system-x86_64');
  assertDiagnostics(t, hostRules(h.request({ vmm: 'qemu', programs: { ...defaultOptions.programs, vmm: 'qemu-system-x86_64' } }), spawnRunner), []);
  assertDiagnostics(t, hostPreflight(h.request({ vmm: 'qemu', programs: { ...defaultOptions.programs, vmm: 'qemu-system-x86_64' } }), spawnRunner), hidden(qemu));
  assertDiagnostics(t, hostPreflight(h.request({ vmm: 'qemu', programs: { ...defaultOptions.programs, vmm: qemu } }), spawnRunner), []);
});

test('host-vmm-hidden: an absolute --vmm-bin that links beside itself is shown; one that links out of its bound directory is not, named with where it leads', (t) => {
  const h = hostFixture(t);
  const opt = path.join(h.bin, 'opt');
  for (const d of ['bin', 'libexec']) fs.mkdirSync(path.join(opt, d), { recursive: true, mode: 0o755 });
  fs.renameSync(path.join(h.bin, 'cloud-hypervisor'), path.join(opt, 'bin', 'cloud-hypervisor-v40'));
  const vmm = path.join(opt, 'bin', 'cloud-hypervisor');
  fs.symlinkSync('cloud-hypervisor-v40', vmm);
  const request = h.request({ accel: 'tcg', vmmUser: { kind: 'root' }, programs: { ...defaultOptions.programs, vmm } });
  assertDiagnostics(t, hostPreflight(request, spawnRunner), []);
  // A bound directory that is itself a link: bwrap binds where it leads, at the path given.
  fs.symlinkSync(path.join(opt, 'bin'), path.join(opt, 'current'));
  const viaLink = path.join(opt, 'current', 'cloud-hypervisor');
  assertDiagnostics(t, hostPreflight(h.request({ accel: 'tcg', vmmUser: { kind: 'root' }, programs: { ...defaultOptions.programs, vmm: viaLink } }), spawnRunner), []);
  fs.renameSync(path.join(opt, 'bin', 'cloud-hypervisor-v40'), path.join(opt, 'libexec', 'cloud-hypervisor'));
  fs.rmSync(vmm);
  fs.symlinkSync('../libexec/cloud-hypervisor', vmm);
  assertDiagnostics(t, hostPreflight(request, spawnRunner), [{ rule: 'host-vmm-hidden', path: vmm, vm: null, mentions: [vmm, path.join(opt, 'libexec', 'cloud-hypervisor')] }]);
  t.false(STOPS_APPLY.has('host-vmm-hidden'));
});

/** A temp dir below /usr/local, which the sandbox shows: only root may make one. */
function usrDir(t: ExecutionContext): string | null {
  if (!asRoot || !fs.existsSync('/usr/local')) return null;
  const dir = tempDir('vmsvc-usr-', '/usr/local');
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test(`host-vmm-hidden: a name found below /usr is shown, unless it is a link to outside /usr, which the sandbox shows leading nowhere${asRoot ? '' : ' [skipped: needs root]'}`, (t) => {
  const usr = usrDir(t);
  if (usr === null) return t.pass('no root or /usr/local here');
  const h = hostFixture(t);
  const opt = path.join(h.bin, 'cloud-hypervisor');
  const linked = path.join(usr, 'cloud-hypervisor');
  const request = h.request({ accel: 'tcg', vmmUser: { kind: 'root' } }, { pathEnv: `${usr}:${h.bin}` });
  fs.copyFileSync(opt, linked);
  assertDiagnostics(t, hostPreflight(request, spawnRunner), []);
  fs.rmSync(linked);
  fs.symlinkSync(opt, linked);
  const got = hostPreflight(request, spawnRunner);
  assertDiagnostics(t, got, [{ rule: 'host-vmm-hidden', path: linked, vm: null, mentions: [linked, opt] }]);
  t.regex(got[0]?.hint ?? '', new RegExp(`--vmm-bin ${opt}\\b.*--sandbox none`));
  // As named by absolute path: /usr is shown whole, so its directory is not bound either.
  assertDiagnostics(t, hostPreflight(h.request({ accel: 'tcg', vmmUser: { kind: 'root' }, programs: { ...defaultOptions.programs, vmm: linked } }), spawnRunner),
    [{ rule: 'host-vmm-hidden', path: linked, vm: null, mentions: [opt] }]);
  // A link within /usr stays within it.
  fs.rmSync(linked);
  fs.copyFileSync(opt, path.join(usr, 'ch-real'));
  fs.chmodSync(path.join(usr, 'ch-real'), 0o755);
  fs.symlinkSync('ch-real', linked);
  assertDiagnostics(t, hostPreflight(request, spawnRunner), []);
});

/** Whether the real bwrap, with the binds the run script gives it (pipeline/sandbox.ts), runs `program` looked up in `pathEnv`. */
function bwrapRuns(program: string, pathEnv: string, runtimeDir: string): boolean {
  const box = sandboxData({ bwrap: '/usr/bin/bwrap', vmm: program, makesUserNamespaces: false, runtimeDir, sandboxRoot: null, files: [], kvm: false, tun: false });
  const r = spawnSync(box.program, [...box.options.flat(), '--', program], { input: '', env: { PATH: pathEnv }, timeout: 10_000 });
  return r.status === 0;
}

test(`host-vmm-hidden agrees with the real bwrap: a VMM it reports is one the sandbox cannot run, and one it does not report runs${asRoot ? '' : ' [skipped: needs root]'}`, (t) => {
  const h = hostFixture(t);
  // The VM's runtime dir, which the sandbox binds: empty, apart from the programs.
  const runtime = path.join(h.bin, 'run');
  fs.mkdirSync(runtime, { mode: 0o755 });
  if (!asRoot || !fs.existsSync('/usr/bin/bwrap') || !bwrapRuns('true', '/usr/bin', runtime)) return t.pass('no root or no working bwrap here');
  const usr = usrDir(t);
  const opt = path.join(h.bin, 'opt');
  for (const d of ['bin', 'libexec']) fs.mkdirSync(path.join(opt, d), { recursive: true, mode: 0o755 });
  fs.copyFileSync(path.join(h.bin, 'cloud-hypervisor'), path.join(opt, 'bin', 'ch-v40'));
  fs.copyFileSync(path.join(h.bin, 'cloud-hypervisor'), path.join(opt, 'libexec', 'ch'));
  for (const f of [path.join(opt, 'bin', 'ch-v40'), path.join(opt, 'libexec', 'ch')]) fs.chmodSync(f, 0o755);
  fs.symlinkSync('ch-v40', path.join(opt, 'bin', 'ch'));
  fs.symlinkSync('../libexec/ch', path.join(opt, 'bin', 'out'));
  fs.symlinkSync(path.join(opt, 'bin'), path.join(opt, 'current'));
  const cases: Array<readonly [vmm: string, pathEnv: string]> = [
    ['cloud-hypervisor', `${h.bin}:/usr/bin`],
    [path.join(h.bin, 'cloud-hypervisor'), '/usr/bin'],
    [path.join(opt, 'bin', 'ch'), '/usr/bin'],
    [path.join(opt, 'current', 'ch'), '/usr/bin'],
    [path.join(opt, 'bin', 'out'), '/usr/bin'],
    ['true', '/usr/bin'],
  ];
  if (usr !== null) {
    fs.symlinkSync(path.join(opt, 'bin', 'ch-v40'), path.join(usr, 'ch-linked'));
    fs.copyFileSync(path.join(opt, 'bin', 'ch-v40'), path.join(usr, 'ch-copied'));
    fs.chmodSync(path.join(usr, 'ch-copied'), 0o755);
    cases.push(['ch-linked', `${usr}:/usr/bin`], ['ch-copied', `${usr}:/usr/bin`], [path.join(usr, 'ch-linked'), '/usr/bin']);
  }
  const verdicts = cases.map(([vmm, pathEnv]) => {
    const reported = hostPreflight(h.request({ accel: 'tcg', vmmUser: { kind: 'root' }, programs: { ...defaultOptions.programs, vmm } }, { pathEnv: `${pathEnv}:${h.bin}` }), spawnRunner)
      .some((d) => d.rule === 'host-vmm-hidden');
    t.is(reported, !bwrapRuns(vmm, pathEnv, runtime), `${vmm} in PATH ${pathEnv}`);
    t.log(`${vmm} in PATH ${pathEnv}: ${reported ? 'hidden' : 'shown'}`);
    return reported;
  });
  t.deepEqual(new Set(verdicts), new Set([true, false]), 'both verdicts were put to bwrap');
});

test('host-program-missing: a program the generated services run, by its flag; only the VMM\'s own client is asked for', (t) => {
  const h = hostFixture(t);
  fs.rmSync(path.join(h.bin, 's6-log'));
  fs.rmSync(path.join(h.bin, 's6-ipcclient'));
  assertDiagnostics(t, hostRules(h.request({}), spawnRunner), [{ rule: 'host-program-missing', path: 's6-log', vm: null, mentions: ['s6-log', '--s6-log'] }]);
  assertDiagnostics(t, hostRules(h.request({ vmm: 'qemu', programs: { ...defaultOptions.programs, vmm: 'qemu-system-x86_64' } }), spawnRunner), [
    { rule: 'host-program-missing', path: 's6-log', vm: null, mentions: ['--s6-log'] },
    { rule: 'host-program-missing', path: 's6-ipcclient', vm: null, mentions: ['--s6-ipcclient'] },
  ]);
  // A file without an execute bit is not found, as execvp skips it.
  fs.writeFileSync(path.join(h.bin, 's6-log'), '', { mode: 0o644 });
  assertDiagnostics(t, hostRules(h.request({}), spawnRunner), [{ rule: 'host-program-missing', path: 's6-log', vm: null, mentions: ['s6-log'] }]);
});

test('host-program-missing: bwrap, with --sandbox bwrap (the default) only; host-sandbox-unusable: bwrap that cannot make the sandbox, with what it said', (t) => {
  const h = hostFixture(t);
  fs.rmSync(path.join(h.bin, 'bwrap'));
  assertDiagnostics(t, hostRules(h.request({}), spawnRunner), [{ rule: 'host-program-missing', path: 'bwrap', vm: null, mentions: ['bwrap', '--bwrap'] }]);
  assertDiagnostics(t, hostRules(h.request({ sandbox: 'none' }), spawnRunner), []);
  // What bwrap 0.8 says where unprivileged user namespaces are off.
  fs.writeFileSync(path.join(h.bin, 'bwrap'), '#!/bin/sh\necho "bwrap: No permissions to create new namespace, likely because the kernel does not allow non-privileged user namespaces." >&2\nexit 1\n', { mode: 0o755 });
  assertDiagnostics(t, hostRules(h.request({}), spawnRunner), [{ rule: 'host-sandbox-unusable', path: path.join(h.bin, 'bwrap'), vm: null, mentions: ['non-privileged user namespaces', '--sandbox bwrap'] }]);
  assertDiagnostics(t, hostRules(h.request({ sandbox: 'none' }), spawnRunner), []);
  t.false(STOPS_APPLY.has('host-sandbox-unusable'));
});

test(`host-sandbox-unusable: the real bwrap makes the sandbox as a VM's own uid here, and fails where it cannot make a user namespace${asRoot ? '' : ' [skipped: needs root]'}`, (t) => {
  if (!asRoot || !fs.existsSync('/usr/bin/bwrap') || !fs.existsSync('/usr/bin/s6-applyuidgid')) return t.pass('no root, bwrap or s6-applyuidgid here');
  const h = hostFixture(t);
  for (const p of ['bwrap', 's6-applyuidgid']) fs.rmSync(path.join(h.bin, p));
  const pathEnv = `${h.bin}:/usr/bin:/bin`;
  const started = Date.now();
  assertDiagnostics(t, hostRules(h.request({ accel: 'tcg' }, { pathEnv }), spawnRunner).filter((d) => d.rule !== 'host-vmm-not-executable'), []);
  t.log(`the probe took ${Date.now() - started} ms`);
  // bwrap run inside a user namespace that may hold no other (max_user_namespaces 0 in it), as on a host that allows none.
  const wrapper = path.join(h.bin, 'bwrap');
  fs.writeFileSync(wrapper, '#!/bin/sh\nexec unshare --user --map-root-user sh -c \'echo 0 > /proc/sys/user/max_user_namespaces && exec /usr/bin/bwrap "$@"\' sh "$@"\n', { mode: 0o755 });
  assertDiagnostics(t, hostRules(h.request({ accel: 'tcg' }, { pathEnv }), spawnRunner).filter((d) => d.rule !== 'host-vmm-not-executable'),
    [{ rule: 'host-sandbox-unusable', path: wrapper, vm: null, mentions: ['uid 1879048192', 'bwrap'] }]);
});

test('host-data-ancestor-untrusted: a directory above the data dir others can write, not the data dir itself; --data-at-runtime is what is judged', (t) => {
  const h = hostFixture(t);
  const svc = path.join(h.bin, 'svc');
  const data = path.join(svc, 'data');
  fs.mkdirSync(data, { recursive: true });
  fs.chmodSync(svc, 0o755);
  // The data dir is the user's to write: that alone is no fault.
  fs.chmodSync(data, 0o777);
  assertDiagnostics(t, hostRules(h.request({}, { dataDir: data }), spawnRunner), []);
  fs.chmodSync(svc, 0o775);
  const above = [{ rule: 'host-data-ancestor-untrusted' as const, path: svc, vm: null, mentions: [data, svc, 'mode 775'] }];
  assertDiagnostics(t, hostRules(h.request({}, { dataDir: data }), spawnRunner), above);
  // Sticky right above: the data dir's owner, who need not be root, could still rename it away.
  fs.chmodSync(svc, 0o1777);
  assertDiagnostics(t, hostRules(h.request({}, { dataDir: data }), spawnRunner), [{ ...above[0]!, mentions: [data, 'mode 1777'] }]);
  // The services open --data-at-runtime, not --data: the way to that one counts.
  const runtime = path.join(h.bin, 'runtime', 'data');
  fs.mkdirSync(runtime, { recursive: true });
  assertDiagnostics(t, hostRules(h.request({ dataDirAtRuntime: runtime }, { dataDir: data }), spawnRunner), []);
  assertDiagnostics(t, hostRules(h.request({ dataDirAtRuntime: data }, { dataDir: runtime }), spawnRunner), [{ ...above[0]!, mentions: [data] }]);
  t.false(STOPS_APPLY.has('host-data-ancestor-untrusted'));
});

test('host-data-shared-fs: a data dir on the file system of / is a warning naming it; one on a file system of its own (the tmpfs /dev/shm) is not; one that does not exist here is not judged', (t) => {
  const shared = fs.mkdtempSync('/vmsvc-shared-');
  t.teardown(() => fs.rmSync(shared, { recursive: true, force: true }));
  const h = hostFixture(t);
  const only = (req: HostRequest): Diagnostic[] => hostPreflight(req, spawnRunner).filter((d) => d.rule === 'host-data-shared-fs');
  assertDiagnostics(t, only(h.request({}, { dataDir: shared })), [{ severity: 'warning', rule: 'host-data-shared-fs', path: shared, vm: null, mentions: ['holds /:', 'hard-link'] }]);
  const own = fs.mkdtempSync('/dev/shm/vmsvc-own-');
  t.teardown(() => fs.rmSync(own, { recursive: true, force: true }));
  t.not(fs.statSync(own).dev, fs.statSync('/').dev, '/dev/shm is a file system of its own here');
  assertDiagnostics(t, only(h.request({}, { dataDir: own })), []);
  assertDiagnostics(t, only(h.request({ dataDirAtRuntime: '/nonexistent/svc/data' }, { dataDir: shared })), []);
});

test(`host-data-ancestor-untrusted: a directory above owned by another user, or a link on the way in one; sticky higher up is fine${asRoot ? '' : ' [skipped: needs root]'}`, (t) => {
  if (!asRoot) return t.pass();
  const h = hostFixture(t);
  const top = path.join(h.bin, 'mnt');
  const svc = path.join(top, 'svc');
  const data = path.join(svc, 'data');
  fs.mkdirSync(data, { recursive: true });
  fs.chmodSync(top, 0o755);
  fs.chmodSync(svc, 0o755);
  fs.chownSync(data, NOBODY, NOBODY);
  assertDiagnostics(t, hostRules(h.request({}, { dataDir: data }), spawnRunner), []);
  fs.chownSync(top, NOBODY, NOBODY);
  assertDiagnostics(t, hostRules(h.request({}, { dataDir: data }), spawnRunner), [{ rule: 'host-data-ancestor-untrusted', path: top, vm: null, mentions: [data, `uid ${NOBODY}`] }]);
  // Sticky above a root-owned directory: only root may rename that one.
  fs.chownSync(top, 0, 0);
  fs.chmodSync(top, 0o1777);
  assertDiagnostics(t, hostRules(h.request({}, { dataDir: data }), spawnRunner), []);
  // --data through a link in another user's directory: they may point it elsewhere, though where it leads is root's.
  fs.chmodSync(top, 0o755);
  const home = path.join(h.bin, 'home');
  fs.mkdirSync(home, { mode: 0o755 });
  fs.chownSync(home, NOBODY, NOBODY);
  fs.symlinkSync(svc, path.join(home, 'svc'));
  assertDiagnostics(t, hostRules(h.request({}, { dataDir: path.join(home, 'svc', 'data') }), spawnRunner),
    [{ rule: 'host-data-ancestor-untrusted', path: home, vm: null, mentions: [`uid ${NOBODY}`] }]);
});

test('host-s6rc-missing: a program apply runs, with the flag that names another (s6-svscanctl\'s too)', (t) => {
  const h = hostFixture(t);
  fs.rmSync(path.join(h.bin, 's6-rc-init'));
  fs.rmSync(path.join(h.bin, 's6-svscanctl'));
  assertDiagnostics(t, hostRules(h.request({}), spawnRunner), [
    { rule: 'host-s6rc-missing', path: 's6-rc-init', vm: null, mentions: ['s6-rc-init', '--s6-rc-init'] },
    { rule: 'host-s6rc-missing', path: 's6-svscanctl', vm: null, mentions: ['s6-svscanctl', '--s6-svscanctl'] },
  ]);
  t.true(STOPS_APPLY.has('host-s6rc-missing'));
});

test('host-accel-unusable: a probe that fails is reported with what it said; tcg and kvm-or-tcg are not probed', (t) => {
  const h = hostFixture(t);
  fs.writeFileSync(path.join(h.bin, 'qemu-system-x86_64'), '#!/bin/sh\necho "Could not access KVM kernel module: No such file or directory" >&2\nexit 1\n', { mode: 0o755 });
  assertDiagnostics(t, hostRules(h.request({}), spawnRunner), [{ rule: 'host-accel-unusable', path: '/dev/kvm', vm: null, mentions: ['Could not access KVM kernel module', 'uid 1879048192'] }]);
  assertDiagnostics(t, hostRules(h.request({ accel: 'tcg' }), spawnRunner), []);
  assertDiagnostics(t, hostRules(h.request({ accel: 'kvm-or-tcg' }), spawnRunner), []);
  t.false(STOPS_APPLY.has('host-accel-unusable'));
});

/**
 * What the kernel itself says, asked the way a VMM asks: open /dev/kvm,
 * KVM_GET_API_VERSION (0xAE00) must be 12, KVM_CREATE_VM (0xAE01) must
 * give a descriptor. python3 is only this test's oracle.
 */
function kvmCreatesVm(user: string | null): boolean | null {
  const script = 'import fcntl,os\nfd=os.open("/dev/kvm",os.O_RDWR|os.O_CLOEXEC)\nassert fcntl.ioctl(fd,0xAE00)==12\nos.close(fcntl.ioctl(fd,0xAE01,0))\n';
  const py = spawnSync('sh', ['-c', 'command -v python3'], { encoding: 'utf8' }).stdout.trim();
  if (py === '') return null;
  const r = user === null ? spawnSync(py, ['-c', script]) : spawnSync('/usr/bin/s6-setuidgid', [user, py, '-c', script]);
  return r.status === 0;
}

test(`host-accel-unusable: real QEMU probes /dev/kvm as the VMM's user and agrees with the kernel's KVM_CREATE_VM, as root and as nobody${asRoot ? '' : ' [skipped: needs root]'}`, (t) => {
  const qemu = spawnSync('sh', ['-c', 'command -v qemu-system-x86_64'], { encoding: 'utf8' }).stdout.trim();
  if (!asRoot || qemu === '' || !fs.existsSync('/usr/bin/s6-setuidgid')) return t.pass('no root, QEMU or s6-setuidgid here');
  const h = hostFixture(t);
  fs.rmSync(path.join(h.bin, 'qemu-system-x86_64'));
  fs.rmSync(path.join(h.bin, 's6-setuidgid'));
  for (const user of ['root', 'nobody']) {
    const oracle = kvmCreatesVm(user === 'root' ? null : user);
    if (oracle === null) return t.pass('no python3 to ask the kernel with');
    const started = Date.now();
    const got = hostRules(h.request({ vmmUser: user === 'root' ? { kind: 'root' } : { kind: 'shared', name: user } }, { pathEnv: `${h.bin}:${path.dirname(qemu)}:/usr/bin` }), spawnRunner)
      .filter((d) => d.rule !== 'host-vmm-not-executable');
    t.log(`${user}: the kernel says ${oracle ? 'yes' : 'no'}; probe took ${Date.now() - started} ms`);
    assertDiagnostics(t, got, oracle ? [] : [{ rule: 'host-accel-unusable', path: '/dev/kvm', vm: null, mentions: [user] }]);
  }
});

test('host-accel-unprobed: no QEMU to probe KVM with is a warning naming --kvm-probe', (t) => {
  const h = hostFixture(t);
  fs.rmSync(path.join(h.bin, 'qemu-system-x86_64'));
  assertDiagnostics(t, hostRules(h.request({}), spawnRunner), [{ severity: 'warning', rule: 'host-accel-unprobed', path: 'qemu-system-x86_64', vm: null, mentions: ['--kvm-probe'] }]);
  // With QEMU as the VMM, the VMM itself probes: here a stand-in that works.
  assertDiagnostics(t, hostRules(h.request({ vmm: 'qemu', programs: { ...defaultOptions.programs, vmm: 'cloud-hypervisor' } }), spawnRunner), []);
});

test('host-cgroup-unusable: a --cgroup parent that is missing, not cgroup2, or cgroup2 without the controllers (this machine\'s: bound to v1) stops apply; --cgroup none asks nothing', (t) => {
  const h = hostFixture(t);
  const said = (cgroup: string | null): Diagnostic[] => hostRules(h.request({ accel: 'tcg', sandbox: 'none', cgroup }), spawnRunner).filter((d) => d.rule === 'host-cgroup-unusable');
  t.true(STOPS_APPLY.has('host-cgroup-unusable'));
  t.deepEqual(said(null), []);
  const missing = path.join(h.bin, 'no-such-cgroup');
  assertDiagnostics(t, said(missing), [{ rule: 'host-cgroup-unusable', path: missing, vm: null, mentions: ['ENOENT', '--cgroup'] }]);
  assertDiagnostics(t, said(h.bin), [{ rule: 'host-cgroup-unusable', path: h.bin, vm: null, mentions: ['not on a cgroup2 file system'] }]);
  const unified = ['/sys/fs/cgroup/unified', '/sys/fs/cgroup'].find((d) => { try { return fs.statfsSync(d).type === 0x63677270; } catch { return false; } });
  if (unified === undefined) {
    t.log('no cgroup2 mount here: the controller half is left to the guest test (test/system/cgroup-guest.test.ts)');
    return;
  }
  const controllers = fs.readFileSync(path.join(unified, 'cgroup.controllers'), 'latin1').trim().split(/\s+/).filter((c) => c !== '');
  const lacking = ['memory', 'pids', 'cpu'].filter((c) => !controllers.includes(c));
  if (lacking.length === 0) {
    t.log(`${unified} has every controller: the "not among its controllers" half is left to the guest test`);
    return;
  }
  // A child of the cgroup2 root: root's, with cgroup.kill, but the controllers are elsewhere.
  const parent = fs.mkdtempSync(path.join(unified, 'vmsvc-test-'));
  t.teardown(() => fs.rmdirSync(parent));
  const d = said(parent);
  assertDiagnostics(t, d, [{ rule: 'host-cgroup-unusable', path: parent, vm: null, mentions: [...lacking, 'cgroup.controllers', 'bound to cgroup v1'] }]);
  t.true(d[0]!.hint.includes('--cgroup none'));
});

test('host-svscan-missing: no s6-svscan watches the scandir; a running one is found by its working directory', (t) => {
  const h = hostFixture(t);
  const scandir = tempDir('vmsvc-scan-');
  t.teardown(() => fs.rmSync(scandir, { recursive: true, force: true }));
  assertDiagnostics(t, hostRules(h.request({}, { scandir }), spawnRunner), [{ rule: 'host-svscan-missing', path: scandir, vm: null, mentions: ['s6-svscan'] }]);
  t.true(STOPS_APPLY.has('host-svscan-missing'));
  const svscan = spawn('s6-svscan', [scandir], { stdio: 'ignore' });
  t.teardown(() => {
    svscan.kill('SIGKILL');
  });
  const sleep = new Int32Array(new SharedArrayBuffer(4));
  for (let i = 0; i < 200 && !fs.existsSync(path.join(scandir, '.s6-svscan', 'control')); i++) Atomics.wait(sleep, 0, 0, 25);
  assertDiagnostics(t, hostRules(h.request({}, { scandir }), spawnRunner), []);
});

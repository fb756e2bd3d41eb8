/**
 * What the check-rule tests (test/integration/rules/<family>.test.ts) share:
 * real data directories checked end to end with checkDataDir, exact
 * diagnostics (severity, rule, path, vm, order), and which VMs end up valid
 * or skipped, and why.
 *
 * Each family file proves the rules of one module of generator/rules/, listed
 * in RULE_FAMILIES; it gets its `test` from `ruleTests(import.meta.url)`,
 * which adds a hook demanding that every rule of its family is matched by
 * some passing assertion of that file. test/integration/rule-families.test.ts
 * keeps RULE_FAMILIES a partition of RULES and one file per family. (ava runs
 * each file in a process of its own, so no set can be shared across files.)
 */
import avaTest, { type ExecutionContext } from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CheckResult } from '../../generator/pipeline/check.js';
import type { Diagnostic, RuleId, Severity } from '../../generator/rules/diagnostic.js';
import { defaultOptions, type GeneratorOptions } from '../../generator/pipeline/options.js';
import { checkDataDir } from '../../generator/pipeline/index.js';
import { dataDirWith, type VmSpec } from './data-dir.js';

/**
 * The rules each family file proves, by the module of generator/rules/ that
 * owns them (settings: settings.ts with setting-registry.ts). A rule some
 * other module also reports (path-vmm-unsafe, name-not-utf8,
 * name-control-char, symlink-escapes) belongs to one family here; the other
 * files may assert it too.
 */
export const RULE_FAMILIES = {
  'data-dir': ['data-empty', 'too-many-vms', 'entry-not-directory', 'vm-dir-symlink', 'name-not-utf8', 'path-vmm-unsafe'],
  'vm-name': ['name-control-char', 'name-reserved-suffix', 'name-too-long', 'name-vmm-unsafe'],
  kernel: [
    'vmlinux-missing', 'vmlinux-not-file', 'vmlinux-unreadable', 'vmlinux-empty', 'vmlinux-compressed', 'vmlinux-not-elf', 'vmlinux-short',
    'vmlinux-multiboot', 'vmlinux-setup-header', 'initramfs-not-file',
  ],
  disks: ['blk-missing', 'blk-not-directory', 'blk-no-images', 'img-not-file', 'img-dangling-symlink', 'img-unreadable', 'img-empty', 'img-not-raw'],
  symlinks: ['symlink-escapes', 'symlink-loop'],
  providers: ['providers-not-directory', 'provider-not-file', 'provider-unknown', 'provider-self', 'provider-cycle', 'links-exhausted'],
  'vmm-rules': ['vmm-unsupported'],
  settings: ['config-not-directory', 'setting-unknown', 'setting-not-file', 'setting-too-large', 'setting-invalid', 'setting-out-of-bounds', 'setting-vmm-unsupported', 'last-good-refused'],
  identity: ['vmm-root', 'vmm-shared-user'],
  sandbox: ['vmm-unsandboxed'],
  host: [
    'host-vmm-missing', 'host-vmm-not-executable', 'host-vmm-hidden', 'host-program-missing', 'host-s6rc-missing', 'host-accel-unusable',
    'host-accel-unprobed', 'host-sandbox-unusable', 'host-data-shared-fs', 'host-data-ancestor-untrusted', 'host-cgroup-unusable', 'host-svscan-missing',
  ],
  admission: ['autostart-over-memory', 'autostart-over-cpus'],
} as const satisfies Readonly<Record<string, readonly RuleId[]>>;

export type RuleFamily = keyof typeof RULE_FAMILIES;

/** Where the family files are, and how one is named. */
export const RULE_TESTS_DIR = fileURLToPath(new URL('../integration/rules/', import.meta.url));
export const ruleTestFile = (family: RuleFamily): string => path.join(RULE_TESTS_DIR, `${family}.test.ts`);

/** Rules some passing assertion of this process's (so this file's) tests has matched. */
const covered = new Set<RuleId>();
let claimed: RuleFamily | null = null;

/**
 * ava's test for the family file at `fileUrl` (its import.meta.url), counting
 * declared and started tests, so that the coverage hook can tell a full run
 * from a --match run.
 */
export function ruleTests(fileUrl: string): (title: string, fn: (t: ExecutionContext) => void) => void {
  const file = fileURLToPath(fileUrl);
  const family = (Object.keys(RULE_FAMILIES) as RuleFamily[]).find((f) => ruleTestFile(f) === file);
  if (family === undefined) throw new Error(`${file} is no rule family's test file (${ruleTestFile('kernel')} and its siblings, listed in RULE_FAMILIES)`);
  if (claimed !== null) throw new Error(`ruleTests called for ${family} after ${claimed}: one family per file`);
  claimed = family;
  let declared = 0;
  let started = 0;
  avaTest.after(`every rule of the ${family} family is asserted by some passing test of this file`, (t) => {
    if (started < declared) {
      t.log(`only ${started} of ${declared} tests ran (--match?): rule coverage not checked`);
      t.pass();
      return;
    }
    t.deepEqual(RULE_FAMILIES[family].filter((rule) => !covered.has(rule)), [], 'rules of the family no passing assertion matched');
  });
  return (title, fn) => {
    declared++;
    avaTest(title, (t) => {
      started++;
      fn(t);
    });
  };
}

/** What a VM without config/ runs with: the flags' defaults, from no file. */
export const NO_SETTINGS = { settings: defaultOptions.settings, settingFiles: [], autostart: false };

export const REPO = path.resolve(fileURLToPath(import.meta.url), '..', '..', '..');

export const NOBODY = 65534;

export interface Fixture {
  /** The temp root (removed on teardown). */
  readonly root: string;
  /** root/data, absolute. */
  readonly data: string;
}

export function fixture(t: ExecutionContext, vms: Record<string, VmSpec> = {}): Fixture {
  const f = dataDirWith(vms);
  t.teardown(() => fs.rmSync(f.root, { recursive: true, force: true }));
  return f;
}

export function check(data: string, opts: GeneratorOptions = defaultOptions): CheckResult {
  return checkDataDir(data, opts).result;
}

/** The options for one VMM; crosvm offers no user console. */
export const optsFor = (vmm: 'qemu' | 'cloud-hypervisor' | 'crosvm'): GeneratorOptions => ({ ...defaultOptions, vmm, userConsole: vmm !== 'crosvm' });

export interface Want {
  readonly severity?: Severity;
  readonly rule: RuleId;
  readonly path: string;
  readonly vm: string | null;
  /** Substrings the message must contain: the offending name at least. */
  readonly mentions: readonly string[];
}

/** Exact diagnostics, in order; message and hint non-empty, printable, naming the culprit. */
export function assertDiagnostics(t: ExecutionContext, actual: readonly Diagnostic[], want: readonly Want[]): void {
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
export function assertOutcome(t: ExecutionContext, result: CheckResult, vms: readonly string[], skipped: ReadonlyArray<readonly [string, string]>): void {
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
export function assertOnlyVmSkipped(t: ExecutionContext, result: CheckResult, rules: readonly RuleId[], vm = 'vm'): void {
  assertOutcome(t, result, [], [[vm, `invalid (${rules.join(', ')})`]]);
}

export const vmDir = (f: Fixture, vm = 'vm'): string => path.join(f.data, vm);
export const blkPath = (f: Fixture, img: string, vm = 'vm'): string => path.join(f.data, vm, 'blk', img);
export const configPath = (f: Fixture, file: string, vm = 'vm'): string => path.join(f.data, vm, 'config', file);

export function rawPath(...parts: Array<string | readonly number[]>): Buffer {
  return Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(p))));
}

export function mkfifo(p: string): void {
  execFileSync('mkfifo', [p]);
}

/**
 * Runs checkDataDir in a child process (optionally as user nobody), with a
 * timeout, and returns its result. The child loads vmsvc as root and only
 * then drops to nobody, so the checkout may sit where nobody cannot enter (a
 * 0700 home); only the data dir is read as nobody.
 */
export function checkInChild(t: ExecutionContext, f: Fixture, asNobody: boolean): CheckResult {
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

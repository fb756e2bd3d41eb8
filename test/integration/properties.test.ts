/**
 * Property-based tests (fast-check): random data dirs, valid and invalid, with
 * names drawn from an alphabet full of shell and execline syntax, random disks,
 * random provider edges (cycles, dangling names, self) and missing kernels,
 * written to temp dirs. Invariants:
 *
 * - check agrees with an independent model of the rules (which VMs are valid,
 *   whether there is any error);
 * - check and generate agree: generate writes iff check has no error, and with
 *   --keep-going it writes exactly check's valid VMs;
 * - every generated tree passes the s6-rc source checker with zero problems;
 * - generate is deterministic (byte-identical trees, same version name);
 * - argv round-trips names exactly: lexing each run script as execline gives
 *   the kernel and --disk words built from the raw names.
 *
 * Mostly in-process (pipeline.ts) for speed; a few runs through the real CLI.
 */
import test from 'ava';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import { compareBytes } from '../../generator/util/bytes.js';
import { hasErrors, type CheckResult } from '../../generator/pipeline/check.js';
import { defaultOptions } from '../../generator/pipeline/options.js';
import { buildTree, checkDataDir, generate } from '../../generator/pipeline/index.js';
import { checkS6rcSource } from '../../generator/s6rc/source-check.js';
import { sameTree, treeHash } from '../../generator/pipeline/write-tree.js';
import { privateCli, runScriptProblems } from '../support/hostile/corpus.js';
import { ELF_HEADER, tempDir } from '../support/data-dir.js';
import { realCompileProblems } from '../support/real-s6rc.js';

// ------------------------------------------------------------------ the model

/** Shell and execline syntax, multi-byte characters, and '.' (a leading one hides an entry): all allowed in names. */
const SAFE_CHARS = [
  'a', 'b', 'x', '-', '_', ' ', '.', '$', '(', ')', '`', ';', '|', '&', '<', '>', '*', '?', '!', '~', '{', '}', '#', "'", '\\',
  '=', '@', '%', '^', 'é', '🙂',
] as const;
/** The VMM's separators and control characters (C0, DEL, C1): refused in names. */
const BAD_CHARS = [',', '"', '[', ']', '\n', '\t', '\u007f', '\u0085'] as const;

const charsArb = (chars: readonly string[]): fc.Arbitrary<string> =>
  fc.array(fc.constantFrom(...chars), { minLength: 1, maxLength: 6 }).map((a) => a.join(''));

type Kernel = 'elf' | 'none' | 'empty' | 'text';
/** 'earlier': a VM created before this one (no cycle); 'vm': any VM (cycles, self); 'name': any name (mostly dangling). */
type ProviderRef =
  | { readonly kind: 'earlier'; readonly pick: number }
  | { readonly kind: 'vm'; readonly index: number }
  | { readonly kind: 'name'; readonly name: string }
  | { readonly kind: 'self' };

interface DiskGen {
  readonly file: string;
  readonly empty: boolean;
}

interface VmGen {
  readonly name: string;
  readonly kernel: Kernel;
  /** null: no blk/ at all. */
  readonly disks: readonly DiskGen[] | null;
  readonly providers: readonly ProviderRef[];
}

interface TreeGen {
  /** The data dir's own name: its path is part of every kernel and disk path. */
  readonly dataName: string;
  readonly vms: readonly VmGen[];
}

/**
 * The arbitraries, in two flavours. "clean" trees use names from SAFE_CHARS
 * only, good kernels and disks, and providers created earlier (no cycle): they
 * are mostly valid, so many run scripts get their argv checked. "hostile" trees
 * add BAD_CHARS, -log names, bad kernels and disks, and providers that may be
 * dangling, self or cyclic.
 *
 * Names are never "." or ".." (not names a directory can have).
 */
function treeArbitrary(hostile: boolean): fc.Arbitrary<TreeGen> {
  const w = (n: number): number => (hostile ? n : 0);
  const nameArb = fc
    .oneof({ weight: 5, arbitrary: charsArb(SAFE_CHARS) }, { weight: w(1), arbitrary: charsArb([...SAFE_CHARS, ...BAD_CHARS]) })
    .filter((n) => n !== '.' && n !== '..');
  const vmNameArb = fc.oneof({ weight: 19, arbitrary: nameArb }, { weight: w(1), arbitrary: nameArb.map((n) => `${n}-log`) });
  const diskArb: fc.Arbitrary<DiskGen> = fc.record({
    file: fc.tuple(nameArb, fc.constantFrom('.img', '.img', '.img', '.img', '.img', '.raw')).map(([base, ext]) => base + ext),
    empty: fc.integer({ min: 0, max: 29 }).map((n) => hostile && n === 0),
  });
  const providerArb: fc.Arbitrary<ProviderRef> = fc.oneof(
    { weight: 20, arbitrary: fc.nat({ max: 20 }).map((pick): ProviderRef => ({ kind: 'earlier', pick })) },
    { weight: w(3), arbitrary: fc.nat({ max: 20 }).map((index): ProviderRef => ({ kind: 'vm', index })) },
    { weight: w(1), arbitrary: nameArb.map((name): ProviderRef => ({ kind: 'name', name })) },
    { weight: w(1), arbitrary: fc.constant<ProviderRef>({ kind: 'self' }) },
  );
  const vmArb = (name: string): fc.Arbitrary<VmGen> =>
    fc.record({
      name: fc.constant(name),
      kernel: fc.oneof({ weight: 30, arbitrary: fc.constant<Kernel>('elf') }, { weight: w(1), arbitrary: fc.constantFrom<Kernel>('none', 'empty', 'text') }),
      disks: hostile
        ? fc.option(fc.uniqueArray(diskArb, { selector: (d) => d.file, minLength: 1, maxLength: 3 }), { nil: null, freq: 30 })
        : fc.uniqueArray(diskArb, { selector: (d) => d.file, minLength: 1, maxLength: 3 }),
      providers: fc.array(providerArb, { maxLength: 2 }),
    });
  const dataNameArb = fc.oneof(
    { weight: 3, arbitrary: fc.constant('data') },
    { weight: 1, arbitrary: nameArb.filter((n) => !n.startsWith('.')) },
  );
  return fc.record({
    dataName: dataNameArb,
    vms: fc.uniqueArray(vmNameArb, { maxLength: 7 }).chain((names): fc.Arbitrary<readonly VmGen[]> => (names.length === 0 ? fc.constant([]) : fc.tuple(...names.map(vmArb)))),
  });
}

const treeArb: fc.Arbitrary<TreeGen> = fc.oneof(treeArbitrary(false), treeArbitrary(true));

const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const VMM_UNSAFE = /[,"[\]]/;
const bytes = (s: string): number => Buffer.byteLength(s, 'utf8');
const hidden = (name: string): boolean => name.startsWith('.');

function providerNames(vm: VmGen, all: readonly VmGen[]): string[] {
  const at = all.indexOf(vm);
  return vm.providers.flatMap((p) => {
    switch (p.kind) {
      case 'self':
        return [vm.name];
      case 'name':
        return [p.name];
      case 'vm':
        return [all[p.index % all.length]!.name];
      case 'earlier':
        return at > 0 ? [all[p.pick % at]!.name] : [];
    }
  });
}

interface Model {
  readonly valid: string[];
  readonly errors: boolean;
  /** Expected disk paths (bytewise by file name) of each valid VM. */
  readonly disks: Map<string, string[]>;
}

/** The rules of generator/pipeline/check.ts, restated independently for the generated trees. */
function model(tree: TreeGen, data: string): Model {
  const vms = tree.vms.filter((v) => !hidden(v.name));
  const names = new Set(vms.map((v) => v.name));
  const images = (v: VmGen): DiskGen[] => (v.disks ?? []).filter((d) => d.file.endsWith('.img') && !hidden(d.file));
  const localOk = (v: VmGen): boolean => {
    const nameOk = !CONTROL.test(v.name) && !VMM_UNSAFE.test(v.name) && !v.name.endsWith('-log') && !v.name.endsWith('-pipeline')
      && bytes(`vm-${v.name}-log`) <= 251 && bytes(`/run/vm/${v.name}/api.sock`) <= 107;
    const imgs = images(v);
    const disksOk = v.disks !== null && imgs.length > 0 && imgs.every((d) => !CONTROL.test(d.file) && !VMM_UNSAFE.test(d.file) && !d.empty);
    const providersOk = providerNames(v, tree.vms).filter((p) => !hidden(p)).every((p) => p !== v.name && names.has(p));
    return nameOk && v.kernel === 'elf' && disksOk && providersOk;
  };
  const edges = new Map(vms.map((v) => [v.name, [...new Set(providerNames(v, tree.vms))].filter((p) => !hidden(p) && p !== v.name && names.has(p))]));
  const reaches = (from: string, to: string): boolean => {
    const seen = new Set<string>();
    const stack = [...edges.get(from)!];
    while (stack.length > 0) {
      const n = stack.pop()!;
      if (n === to) return true;
      if (seen.has(n)) continue;
      seen.add(n);
      stack.push(...edges.get(n)!);
    }
    return false;
  };
  const onCycle = new Set(vms.filter((v) => reaches(v.name, v.name)).map((v) => v.name));
  const dataUnsafe = CONTROL.test(data) || VMM_UNSAFE.test(data);
  let valid = new Set(dataUnsafe ? [] : vms.filter((v) => localOk(v) && !onCycle.has(v.name)).map((v) => v.name));
  for (;;) {
    const next = new Set([...valid].filter((n) => edges.get(n)!.every((p) => valid.has(p))));
    if (next.size === valid.size) break;
    valid = next;
  }
  const disks = new Map(vms.map((v) => [v.name, images(v).map((d) => d.file).sort(compareBytes).map((f) => `${data}/${v.name}/blk/${f}`)]));
  return {
    valid: [...valid].sort(compareBytes),
    errors: dataUnsafe || onCycle.size > 0 || vms.some((v) => !localOk(v)),
    disks,
  };
}

// ------------------------------------------------------------------ writing and reading trees

function writeTree(root: string, tree: TreeGen): string {
  const data = path.join(root, tree.dataName);
  fs.mkdirSync(data);
  for (const v of tree.vms) {
    const dir = path.join(data, v.name);
    fs.mkdirSync(dir);
    if (v.kernel !== 'none') {
      const content = v.kernel === 'elf' ? ELF_HEADER : v.kernel === 'text' ? Buffer.from('not a kernel\n') : Buffer.alloc(0);
      fs.writeFileSync(path.join(dir, 'vmlinux'), content);
    }
    if (v.disks !== null) {
      fs.mkdirSync(path.join(dir, 'blk'));
      for (const d of v.disks) fs.writeFileSync(path.join(dir, 'blk', d.file), d.empty ? '' : `disk ${d.file}\n`);
    }
    const providers = providerNames(v, tree.vms);
    if (providers.length > 0) {
      fs.mkdirSync(path.join(dir, 'providers', 'net'), { recursive: true });
      for (const p of providers) fs.writeFileSync(path.join(dir, 'providers', 'net', p), '');
    }
  }
  return data;
}

/** Every entry below `dir` (following the out link at the top): kind, mode and bytes. */
function readTree(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (rel: string): void => {
    for (const name of fs.readdirSync(path.join(dir, rel)).sort(compareBytes)) {
      const child = rel === '' ? name : `${rel}/${name}`;
      const st = fs.lstatSync(path.join(dir, child));
      const mode = (st.mode & 0o7777).toString(8);
      if (st.isDirectory()) {
        out.set(child, `dir ${mode}`);
        walk(child);
      } else {
        out.set(child, `${st.isFile() ? 'file' : 'other'} ${mode} ${fs.readFileSync(path.join(dir, child), 'utf8')}`);
      }
    }
  };
  walk('');
  return out;
}

const names = (result: CheckResult): string[] => result.vms.map((v) => v.name);

function withTemp<T>(fn: (root: string) => T): T {
  const root = tempDir('vmsvc-prop-');
  try {
    return fn(root);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

const showTree = (tree: TreeGen): string => JSON.stringify(tree);

// ------------------------------------------------------------------ properties

test('in-process: check matches the model; generate agrees with check; trees are valid s6-rc, deterministic, with exact argv', (t) => {
  let withErrors = 0;
  let validVms = 0;
  const started = performance.now();
  fc.assert(
    fc.property(treeArb, (tree) =>
      withTemp((root) => {
        const data = writeTree(root, tree);
        const want = model(tree, data);
        const { root: scannedRoot, result } = checkDataDir(data, defaultOptions);
        assert.equal(scannedRoot, data);
        assert.deepEqual(names(result), want.valid, 'valid VMs: check vs model');
        assert.equal(hasErrors(result), want.errors, 'errors: check vs model');
        if (want.errors) withErrors++;
        validVms += want.valid.length;

        // generate (plain) writes iff check has no error.
        const strictOut = path.join(root, 'strict');
        const strict = generate(data, strictOut, defaultOptions, false);
        assert.equal(strict.kind, hasErrors(result) ? 'refused' : 'done', 'generate vs check');
        assert.equal(fs.existsSync(strictOut), !hasErrors(result), 'a refused generate writes nothing');

        // generate --keep-going writes exactly check's valid VMs, as a valid s6-rc tree.
        const out = path.join(root, 'out');
        const kept = generate(data, out, defaultOptions, true);
        assert.equal(kept.kind, 'done');
        const manifest = JSON.parse(fs.readFileSync(path.join(out, 'vmsvc-manifest.json'), 'utf8')) as { vms: Array<{ name: string }> };
        assert.deepEqual(manifest.vms.map((v) => v.name), names(result), 'keep-going VMs = check\'s valid VMs');
        const vmServices = fs.readdirSync(out).filter((s) => s.startsWith('vm-') && !s.endsWith('-log')).sort(compareBytes);
        assert.deepEqual(vmServices, names(result).map((n) => `vm-${n}`).sort(compareBytes), 'one vm-<name> service per valid VM');
        assert.deepEqual(checkS6rcSource([out]), [], 'the s6-rc checker finds no problem');
        assert.deepEqual(realCompileProblems([out]), [], 'the real s6-rc-compile (when present) compiles it');
        if (strict.kind === 'done') assert.equal(fs.readlinkSync(strictOut).replace('.strict.', '.out.'), fs.readlinkSync(out));

        // Deterministic: a second run elsewhere, and a second render, give the same bytes.
        const again = path.join(root, 'again');
        generate(data, again, defaultOptions, true);
        assert.equal(fs.readlinkSync(again).replace('.again.', '.out.'), fs.readlinkSync(out), 'same version name');
        assert.deepEqual(readTree(again), readTree(out), 'byte-identical trees');
        const rendered = buildTree(scannedRoot, result, defaultOptions);
        assert.equal(treeHash(buildTree(scannedRoot, checkDataDir(data, defaultOptions).result, defaultOptions)), treeHash(rendered));
        assert.ok(sameTree(path.join(root, fs.readlinkSync(out)), rendered), 'the written tree is the rendered one');

        // argv round-trips the raw names exactly.
        for (const name of names(result)) {
          const script = fs.readFileSync(path.join(out, `vm-${name}`, 'run'), 'utf8');
          assert.deepEqual(runScriptProblems(script, `${data}/${name}/vmlinux`, want.disks.get(name)!), [], `argv of ${JSON.stringify(name)}`);
        }
      })),
    { numRuns: 150, examples: [[{ dataName: 'data', vms: [] }]] },
  );
  t.log(`150 random trees (+1 example) in ${Math.round(performance.now() - started)} ms: ${withErrors} with errors, ${validVms} valid VMs in all`);
  t.pass();
});

test('in-process: provider graphs with cycles of every shape: exactly the VMs that reach no cycle and no invalid VM are valid', (t) => {
  // Dense random graphs over plain names, so that cycles, chords and tails are common.
  const graphArb = fc.integer({ min: 1, max: 9 }).chain((n) =>
    fc.record({
      n: fc.constant(n),
      edges: fc.uniqueArray(fc.tuple(fc.nat({ max: n - 1 }), fc.nat({ max: n - 1 })), { maxLength: 2 * n, selector: ([a, b]) => `${a}>${b}` }),
      broken: fc.uniqueArray(fc.nat({ max: n - 1 }), { maxLength: 2 }),
    }));
  let cycles = 0;
  fc.assert(
    fc.property(graphArb, ({ n, edges, broken }) =>
      withTemp((root) => {
        const vms: VmGen[] = Array.from({ length: n }, (_, i) => ({
          name: `v${i}`,
          kernel: broken.includes(i) ? 'none' : 'elf',
          disks: [{ file: 'root.img', empty: false }],
          providers: edges.filter(([a]) => a === i).map(([, b]): ProviderRef => ({ kind: 'vm', index: b })),
        }));
        const tree = { dataName: 'data', vms };
        const data = writeTree(root, tree);
        const want = model(tree, data);
        const { result } = checkDataDir(data, defaultOptions);
        if (result.diagnostics.some((d) => d.rule === 'provider-cycle')) cycles++;
        assert.deepEqual(names(result), want.valid, showTree(tree));
        assert.equal(hasErrors(result), want.errors);
        // Every skipped VM is either invalid itself or names the skipped provider it needs.
        for (const s of result.skipped) {
          assert.match(s.reason, s.needs === null ? /^invalid \(/ : /^needs provider /);
          if (s.needs !== null) assert.ok(result.skipped.some((p) => p.name === s.needs), `${s.name} needs ${s.needs}, which is skipped`);
        }
        assert.equal(result.vms.length + result.skipped.length, n);
      })),
    { numRuns: 150 },
  );
  t.log(`150 graphs, ${cycles} with a provider cycle`);
  t.true(cycles > 10, 'the generator produced cycles');
});

let privateCopy: ReturnType<typeof privateCli> | null = null;
test.after.always(() => privateCopy?.dispose());

function cli(args: readonly string[]): { code: number | null; stdout: string; stderr: string } {
  privateCopy ??= privateCli();
  const r = spawnSync(process.execPath, [privateCopy.vmsvc, ...args], { encoding: 'utf8', timeout: 60_000, killSignal: 'SIGKILL', maxBuffer: 64 * 1024 * 1024 });
  if (r.error !== undefined) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('the real CLI agrees with the in-process pipeline: check --json, generate, generate --keep-going', (t) => {
  let runs = 0;
  fc.assert(
    fc.property(treeArb, (tree) =>
      withTemp((root) => {
        runs++;
        const data = writeTree(root, tree);
        const { root: scannedRoot, result } = checkDataDir(data, defaultOptions);
        const errors = hasErrors(result);

        const check = cli(['check', '--json', '--data', data]);
        assert.equal(check.code, errors ? 1 : 0, check.stderr);
        const json = JSON.parse(check.stdout) as { vms: string[]; diagnostics: unknown; skipped: unknown };
        assert.deepEqual(json.vms, names(result));
        assert.deepEqual(json.diagnostics, JSON.parse(JSON.stringify(result.diagnostics)), 'the same diagnostics');
        // check --json prints each skipped VM's name and reason, as before skipped VMs carried `needs`.
        assert.deepEqual(json.skipped, result.skipped.map((s) => ({ name: s.name, reason: s.reason })));

        const strict = cli(['generate', '--data', data, '--out', path.join(root, 'strict')]);
        assert.equal(strict.code, errors ? 1 : 0, `generate exits 0 iff check has no error: ${strict.stderr}`);
        assert.equal(fs.existsSync(path.join(root, 'strict')), !errors);

        const kept = cli(['generate', '--keep-going', '--data', data, '--out', path.join(root, 'out')]);
        assert.equal(kept.code, 0, kept.stderr);
        const written = path.join(root, fs.readlinkSync(path.join(root, 'out')));
        assert.ok(sameTree(written, buildTree(scannedRoot, result, defaultOptions)), 'the CLI wrote the tree the pipeline renders');
        assert.deepEqual(checkS6rcSource([path.join(root, 'out')]), []);
        assert.deepEqual(realCompileProblems([path.join(root, 'out')]), []);
      })),
    { numRuns: 10 },
  );
  t.is(runs, 10);
});

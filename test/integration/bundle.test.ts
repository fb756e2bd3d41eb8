/**
 * The installed entry point: bin/vmsvc.cjs runs the bundle with the code
 * cache the build saved, and only with the bundle that cache was made from.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as vm from 'node:vm';

interface Loaded {
  readonly main: unknown;
  readonly script: vm.Script;
}

interface BinModule {
  readonly CODE_CACHE: string;
  readonly loadBundle: (codeCache: Buffer | undefined) => Loaded;
}

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const EXAMPLE = path.join(REPO, 's6-rc-examples', 'user-guide', 'data');
const binAt = (root: string): BinModule => createRequire(import.meta.url)(path.join(root, 'bin', 'vmsvc.cjs')) as BinModule;

/** bin/ and dist/ copied, so a test can change the bundle without touching the build. */
function copyInstall(t: { teardown: (fn: () => void) => void }): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'vmsvc-bundle-'));
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  for (const sub of ['bin', 'dist']) fs.cpSync(path.join(REPO, sub), path.join(root, sub), { recursive: true });
  return root;
}

function run(root: string, args: readonly string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [path.join(root, 'bin', 'vmsvc.cjs'), ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('V8 accepts the code cache npm run build saved (else every boot compiles the bundle afresh)', (t) => {
  const bin = binAt(REPO);
  const { main, script } = bin.loadBundle(fs.readFileSync(bin.CODE_CACHE));
  t.is(typeof main, 'function');
  t.false(script.cachedDataRejected, `rejected: ${bin.CODE_CACHE} is stale or was made by another node (npm run build)`);
});

test('a bundle changed after the build runs as changed: the old cache is not used, even at the same length', (t) => {
  const root = copyInstall(t);
  const bundle = path.join(root, 'dist', 'vmsvc.cjs');
  const before = fs.readFileSync(bundle, 'latin1');
  const after = before.replace('} unchanged (', '} UNCHANGED (');
  t.not(after, before, 'the bundle still holds the "unchanged" message');
  t.is(after.length, before.length);
  fs.writeFileSync(bundle, after, 'latin1');
  const { script } = binAt(root).loadBundle(fs.readFileSync(`${bundle}.v8cache`));
  t.is(script.cachedDataRejected, undefined, 'the cache was not even offered to V8');
  const out = path.join(root, 'out');
  t.is(run(root, ['generate', '--data', EXAMPLE, '--out', out]).code, 0);
  const again = run(root, ['generate', '--data', EXAMPLE, '--out', out]);
  t.is(again.code, 0);
  t.regex(again.stdout, / UNCHANGED \(/);
});

test('the bundle runs in strict mode, as the ES modules it was built from', (t) => {
  const root = copyInstall(t);
  const bundle = path.join(root, 'dist', 'vmsvc.cjs');
  // main, replaced by a probe: in sloppy mode a plain call's `this` is the global object.
  fs.appendFileSync(bundle, ';module.exports = { main: () => (function () { return this === undefined; })() };\n');
  const { main } = binAt(root).loadBundle(undefined);
  t.true((main as () => boolean)());
});

test('without a build: a clear message and exit 111 (1 would mean "the configuration is not fine")', (t) => {
  const root = copyInstall(t);
  fs.rmSync(path.join(root, 'dist'), { recursive: true });
  const r = run(root, ['check', '--data', EXAMPLE]);
  t.is(r.code, 111);
  t.is(r.stderr, `vmsvc: ${path.join(root, 'dist', 'vmsvc.cjs')} is missing: run npm run build\n`);
});

test('--version prints the package version from any working directory', (t) => {
  const { version } = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string };
  const elsewhere = fs.mkdtempSync(path.join(os.tmpdir(), 'vmsvc-cwd-'));
  t.teardown(() => fs.rmSync(elsewhere, { recursive: true, force: true }));
  const r = spawnSync(process.execPath, [path.join(REPO, 'bin', 'vmsvc.cjs'), '--version'], { encoding: 'utf8', cwd: elsewhere, timeout: 60_000 });
  t.is(r.status, 0, r.stderr);
  t.is(r.stdout, `${version}\n`);
});

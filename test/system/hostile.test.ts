/**
 * The hostile corpus (test/support/hostile/corpus.ts), run through the real CLI
 * (bin/vmsvc.cjs, the bundle: `npm run build` first; run from a private copy). For every case:
 *
 * - `vmsvc check --json` gives exactly the expected diagnostics and valid VMs,
 *   within a timeout (a FIFO or a huge file must not stall it);
 * - `vmsvc generate --keep-going` writes the out link and its version dir and
 *   nothing else; the data dir stays byte for byte the same, mtimes and ctimes
 *   included; the tree passes the s6-rc checker, holds exactly the valid VMs,
 *   and each run script hands the VMM the exact kernel and disk paths;
 * - plain `vmsvc generate` exits 1 and writes nothing iff there are errors;
 * - nothing was executed: no file named CANARY appears anywhere.
 */
import { withoutCgroup } from '../support/cli.js';
import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { compareBytes, printable } from '../../generator/util/bytes.js';
import { checkS6rcSource } from '../../generator/s6rc/source-check.js';
import { available, CORPUS, privateCli, runScriptProblems, vmmFlags, type ExpectedDiagnostic, type HostileCase, type Requirement } from '../support/hostile/corpus.js';
import { tempDir } from '../support/data-dir.js';
import { realCompileProblems } from '../support/real-s6rc.js';

const REPO = path.resolve(fileURLToPath(import.meta.url), '..', '..', '..');
const NOBODY = 65534;

/** bin/vmsvc.cjs, copied once (see privateCli): safe from a concurrent npm run build. */
const cli = privateCli();
const VMSVC = cli.vmsvc;
test.after.always(() => cli.dispose());

// ------------------------------------------------------------------ running vmsvc

interface Run {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
  readonly timedOut: boolean;
}

/** At most two vmsvc runs at once from this file: the test machines have two cores. */
const slots = (() => {
  let free = 2;
  const waiting: Array<() => void> = [];
  return async <T>(fn: () => Promise<T>): Promise<T> => {
    if (free > 0) free--;
    else await new Promise<void>((resolve) => waiting.push(resolve));
    try {
      return await fn();
    } finally {
      const next = waiting.shift();
      if (next !== undefined) next();
      else free++;
    }
  };
})();

function vmsvc(args: readonly string[], opts: { cwd: string; asNobody: boolean; timeoutMs: number }): Promise<Run> {
  const [cmd, argv] = opts.asNobody
    ? ['setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', '--', process.execPath, VMSVC, ...withoutCgroup(args)]]
    : [process.execPath, [VMSVC, ...withoutCgroup(args)]];
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(cmd, argv, { cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const errs: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => errs.push(b));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({
        code,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(errs).toString('utf8'),
        ms: performance.now() - started,
        timedOut,
      });
    });
  });
}

// ------------------------------------------------------------------ snapshots

const BIG = 64 * 1024 * 1024;

/**
 * Every path below `dir` (raw bytes, links not followed) with its kind, mode,
 * size, mtime and ctime (ns), and a hash of its bytes or its link target.
 * Never opens anything but regular files up to 64 MiB: no FIFO, no device.
 * Entries at the top whose name `skipTop` accepts are listed but not entered.
 */
function snapshot(dir: string, skipTop: (name: string) => boolean = () => false): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (abs: Buffer, rel: string, top: boolean): void => {
    for (const name of fs.readdirSync(abs, { encoding: 'buffer' })) {
      const childAbs = Buffer.concat([abs, Buffer.from('/'), name]);
      const childRel = rel === '' ? name.toString('latin1') : `${rel}/${name.toString('latin1')}`;
      const st = fs.lstatSync(childAbs, { bigint: true });
      let what: string;
      if (st.isSymbolicLink()) what = `link -> ${fs.readlinkSync(childAbs, { encoding: 'buffer' }).toString('latin1')}`;
      else if (st.isFile() && st.size <= BIG) what = `file ${createHash('sha256').update(fs.readFileSync(childAbs)).digest('hex')}`;
      else if (st.isFile()) what = 'file (big: not read)';
      else if (st.isDirectory()) what = 'dir';
      else what = `special ${st.rdev}`;
      out.set(childRel, `${what} mode=${(st.mode & 0o7777n).toString(8)} size=${st.size} mtime=${st.mtimeNs} ctime=${st.ctimeNs} uid=${st.uid}`);
      if (st.isDirectory() && !(top && skipTop(name.toString('utf8')))) walk(childAbs, childRel, false);
    }
  };
  walk(Buffer.from(dir), '', true);
  return out;
}

const shown = (latin1: string): string => printable(Buffer.from(latin1, 'latin1').toString('utf8'));

/** What changed from `before` to `after`: [added, removed, changed] paths. */
function diff(before: Map<string, string>, after: Map<string, string>): { added: string[]; removed: string[]; changed: string[] } {
  return {
    added: [...after.keys()].filter((k) => !before.has(k)),
    removed: [...before.keys()].filter((k) => !after.has(k)),
    changed: [...before.keys()].filter((k) => after.has(k) && after.get(k) !== before.get(k)),
  };
}

const isVersionDir = (name: string): boolean => name.startsWith('.out.vmsvc-') || name.startsWith('.out2.vmsvc-');

// ------------------------------------------------------------------ canaries

function canaries(root: string): string[] {
  const found: string[] = [];
  const walk = (dir: Buffer, top: boolean): void => {
    for (const d of fs.readdirSync(dir, { encoding: 'buffer', withFileTypes: true })) {
      const name = d.name as unknown as Buffer;
      const abs = Buffer.concat([dir, Buffer.from('/'), name]);
      if (name.toString('latin1').startsWith('CANARY')) found.push(printable(abs.toString('utf8')));
      if (d.isDirectory() && !(top && isVersionDir(name.toString('utf8')))) walk(abs, false);
    }
  };
  walk(Buffer.from(root), true);
  for (const dir of ['/tmp', '/', REPO, process.cwd(), os.homedir(), os.tmpdir()]) {
    if (fs.existsSync(path.join(dir, 'CANARY'))) found.push(path.join(dir, 'CANARY'));
  }
  return found;
}

/** CANARY files that existed before this file ran are not ours to judge, but must not change. */
const canariesBefore = new Map(['/tmp', '/', REPO, os.homedir()].map((d) => [d, fs.existsSync(path.join(d, 'CANARY'))]));

// ------------------------------------------------------------------ the checks

interface CheckJson {
  ok: boolean;
  vms: string[];
  diagnostics: Array<{ severity: string; rule: string; path: string }>;
}

interface ManifestJson {
  vms: Array<{ name: string; kernel: string; disks: string[] }>;
}

function relative(data: string, p: string): string {
  if (p === data) return '';
  return p.startsWith(`${data}/`) ? p.slice(data.length + 1) : `(outside the data dir) ${p}`;
}

const absolute = (data: string, rel: string): string => (rel === '' ? data : `${data}/${rel}`);

function sortedLikeVmsvc(data: string, list: readonly ExpectedDiagnostic[]): ExpectedDiagnostic[] {
  return [...list].sort((a, b) => compareBytes(absolute(data, a.path), absolute(data, b.path)) || compareBytes(a.rule, b.rule));
}

function failIfRunBad(t: ExecutionContext, what: string, r: Run): boolean {
  if (r.timedOut) {
    t.fail(`${what} did not finish within its timeout (${Math.round(r.ms)} ms): it hangs`);
    return true;
  }
  if (r.signal !== null) {
    t.fail(`${what} died of ${r.signal}: ${r.stderr}`);
    return true;
  }
  return false;
}

/** Images of a valid VM as vmsvc must pass them: blk/*.img, hidden ones left out, bytewise order. */
function expectedDisks(data: string, name: string): string[] {
  const blk = path.join(data, name, 'blk');
  return fs.readdirSync(blk)
    .filter((n) => n.endsWith('.img') && !n.startsWith('.'))
    .sort(compareBytes)
    .map((n) => kernelPath(data, `${name}/blk/${n}`));
}

/**
 * Where the VMM must be pointed for `rel`: the file the kernel reaches from
 * it, by its link-free path below the data dir as given. realpath(3) (libc's,
 * which walks as the kernel does) is the judge, not vmsvc's own walk.
 */
function kernelPath(data: string, rel: string): string {
  const real = fs.realpathSync.native(path.join(data, rel));
  return `${data}/${path.relative(fs.realpathSync.native(data), real)}`;
}

async function runCase(t: ExecutionContext, c: HostileCase): Promise<void> {
  const root = tempDir('vmsvc-hostile-');
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  const data = path.join(root, c.dataDir ?? 'data');
  fs.mkdirSync(data);
  const built = performance.now();
  c.build({ root, data });
  const asNobody = c.asNobody === true;
  if (asNobody) fs.chownSync(root, NOBODY, NOBODY);
  const buildMs = performance.now() - built;
  const timeoutMs = c.slow === true ? 240_000 : 30_000;
  const run = (args: string[]) => slots(() => vmsvc([...args, ...vmmFlags(c)], { cwd: root, asNobody, timeoutMs }));
  const expectErrors = c.diagnostics.some((d) => d.severity === 'error');

  const before = snapshot(root);

  // check --json: exact diagnostics, exact valid VMs, no hang, nothing written.
  const check = await run(['check', '--json', '--data', data]);
  if (failIfRunBad(t, 'vmsvc check', check)) return;
  t.is(check.code, expectErrors ? 1 : 0, `check exit code; stderr: ${check.stderr}`);
  let json: CheckJson;
  try {
    json = JSON.parse(check.stdout) as CheckJson;
  } catch {
    t.fail(`check --json printed no JSON (exit ${check.code}): ${check.stderr}`);
    return;
  }
  t.is(json.ok, !expectErrors);
  const actual = json.diagnostics.map((d) => ({ rule: d.rule, path: relative(data, d.path), severity: d.severity }));
  t.deepEqual(actual, sortedLikeVmsvc(data, c.diagnostics), 'diagnostics (rule, path relative to the data dir, severity)');
  t.deepEqual(json.vms, [...c.valid].sort(compareBytes), 'valid VMs, bytewise');
  if (c.maxCheckMs !== undefined) t.true(check.ms < c.maxCheckMs, `check took ${Math.round(check.ms)} ms (limit ${c.maxCheckMs}): it reads what it must not`);
  t.deepEqual(diff(before, snapshot(root)), { added: [], removed: [], changed: [] }, 'check writes nothing');

  // generate --keep-going: only the out link and its version dir appear.
  const out = path.join(root, 'out');
  const gen = await run(['generate', '--keep-going', '--data', data, '--out', out]);
  if (failIfRunBad(t, 'vmsvc generate --keep-going', gen)) return;
  if (!t.is(gen.code, 0, `generate --keep-going: ${gen.stderr}`)) return;
  const version = fs.readlinkSync(out);
  const after = diff(before, snapshot(root, isVersionDir));
  t.deepEqual(after.removed.map(shown), [], 'nothing removed');
  t.deepEqual(after.changed.map(shown), [], 'nothing changed: the data dir is byte for byte the same, mtimes and ctimes too');
  t.deepEqual(after.added.map(shown).sort(), ['out', version].sort(), 'only the out link and its version dir are new');

  // The tree: valid for s6-rc, exactly the valid VMs, exact argv.
  t.deepEqual(checkS6rcSource([out]), [], 'the s6-rc checker finds no problem');
  t.deepEqual(realCompileProblems([out]), [], 'the real s6-rc-compile (when present) compiles it');
  const manifest = JSON.parse(fs.readFileSync(path.join(out, 'vmsvc-manifest.json'), 'utf8')) as ManifestJson;
  t.deepEqual(manifest.vms.map((v) => v.name), json.vms, 'generated VMs = check\'s valid VMs');
  const argvProblems: string[] = [];
  for (const v of manifest.vms) {
    const kernel = kernelPath(data, `${v.name}/vmlinux`);
    if (v.kernel !== kernel) argvProblems.push(`${printable(v.name)}: manifest kernel ${printable(v.kernel)}`);
    const script = fs.readFileSync(path.join(out, `vm-${v.name}`, 'run'), 'utf8');
    for (const p of runScriptProblems(script, kernel, expectedDisks(data, v.name), c.vmm)) argvProblems.push(`${printable(v.name)}: ${printable(p)}`);
  }
  t.deepEqual(argvProblems.slice(0, 10), [], 'the run scripts pass kernel and disk paths exactly');
  if (c.verify !== undefined) t.deepEqual(await c.verify({ root, data, out }), [], 'case-specific checks');

  // Plain generate agrees with check: exit 1 and nothing written iff errors.
  if (c.slow !== true) {
    const topBefore = fs.readdirSync(root).sort();
    const out2 = path.join(root, 'out2');
    const strict = await run(['generate', '--data', data, '--out', out2]);
    if (failIfRunBad(t, 'vmsvc generate', strict)) return;
    t.is(strict.code, expectErrors ? 1 : 0, `plain generate exit code: ${strict.stderr}`);
    if (strict.code === 0) {
      t.is(fs.readlinkSync(out2).replace(/^\.out2\./, '.out.'), version, 'the same tree as --keep-going');
      t.deepEqual(fs.readdirSync(root).sort(), [...topBefore, 'out2', fs.readlinkSync(out2)].sort());
    } else {
      t.deepEqual(fs.readdirSync(root).sort(), topBefore, 'a refused generate writes nothing');
    }
  }

  // Nothing was executed.
  t.deepEqual(canaries(root).filter((p) => !(canariesBefore.get(path.dirname(p)) ?? false)), [], 'no CANARY file anywhere');
  t.log(`build ${Math.round(buildMs)} ms, check ${Math.round(check.ms)} ms, generate ${Math.round(gen.ms)} ms`);
}

// ------------------------------------------------------------------ registration

const availability = new Map<Requirement, boolean>();
const has = (r: Requirement): boolean => {
  if (!availability.has(r)) availability.set(r, available(r));
  return availability.get(r)!;
};

test('the corpus has at least 50 cases, with unique titles', (t) => {
  t.true(CORPUS.length >= 50, `${CORPUS.length} cases`);
  t.is(new Set(CORPUS.map((c) => c.title)).size, CORPUS.length);
});

for (const c of CORPUS) {
  const missing = (c.requires ?? []).filter((r) => !has(r));
  if (missing.length > 0) {
    test.skip(`${c.title} [skipped: needs ${missing.join(', ')}]`, () => undefined);
    continue;
  }
  if (c.slow === true) {
    // Building a big tree blocks this worker for seconds; run alone (ava runs
    // serial tests first), it cannot stall the hang timers of other cases.
    test.serial(c.title, async (t) => runCase(t, c));
  } else {
    test(c.title, async (t) => runCase(t, c));
  }
}

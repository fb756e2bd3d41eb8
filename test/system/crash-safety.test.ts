/**
 * Crash safety and concurrency of `vmsvc generate` (bin/vmsvc.cjs, the bundle:
 * `npm run build` first; run from a private copy), on trees big enough (48 VMs, ~900 files) that a
 * write takes a while:
 *
 * - SIGKILL at random moments, 100 times (VMSVC_CRASH_KILLS, a multiple of
 *   4, for more), alternating between two data dirs:
 *   the out path is always the complete old tree or the complete new one, and
 *   the next unkilled run leaves nothing beside it but the out link and its
 *   version dir;
 * - two runs on the same out path at once, many rounds: each exits 0, or 111
 *   with "another vmsvc (pid N) is writing"; the result is never a mix.
 */
import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { defaultOptions } from '../../generator/pipeline/options.js';
import { buildTree, checkDataDir } from '../../generator/pipeline/index.js';
import type { FileTree } from '../../generator/pipeline/render.js';
import { sameTree, WriteError, writeTreeAtomically } from '../../generator/pipeline/write-tree.js';
import { privateCli } from '../support/hostile/corpus.js';
import { dataDirWith, makeVm, tempDir } from '../support/data-dir.js';

/** bin/vmsvc.cjs, copied once (see privateCli): a concurrent npm run build empties dist/. */
const cli = privateCli();
const VMSVC = cli.vmsvc;

const VMS = 48;
// 200 kills of 120-VM trees took 10 of the suite's 19 minutes; most kills land mid-write either way.
const KILLS = Number(process.env.VMSVC_CRASH_KILLS ?? 100);
/** An unkilled run after every this many kills, to check that it cleans up. */
const CLEAN_EVERY = 10;
const ROUNDS = 20;

// ------------------------------------------------------------------ the two data dirs

type Side = 'A' | 'B';

interface Fixture {
  readonly root: string;
  readonly data: Record<Side, string>;
  readonly tree: Record<Side, FileTree>;
}

/** A: VMS VMs, every third a client of the one before. B: the same VMs with two disks each and other links. */
function buildData(data: string, side: Side): void {
  fs.mkdirSync(data);
  for (let i = 0; i < VMS; i++) {
    const name = `vm${String(i).padStart(3, '0')}`;
    const previous = `vm${String(i - 1).padStart(3, '0')}`;
    if (side === 'A') makeVm(data, name, i % 3 === 1 ? { providers: [previous] } : {});
    else makeVm(data, name, { disks: ['root.img', 'data.img'], providers: i % 2 === 1 ? [previous] : [] });
  }
}

let fixture: Fixture | null = null;

function getFixture(): Fixture {
  if (fixture !== null) return fixture;
  const root = tempDir('vmsvc-crash-');
  const data = { A: path.join(root, 'A'), B: path.join(root, 'B') };
  const tree = {} as Record<Side, FileTree>;
  for (const side of ['A', 'B'] as const) {
    buildData(data[side], side);
    const { root: scanned, result } = checkDataDir(data[side], defaultOptions);
    if (result.diagnostics.length > 0 || result.vms.length !== VMS) throw new Error(`fixture ${side} is not valid`);
    tree[side] = buildTree(scanned, result, defaultOptions);
  }
  fixture = { root, data, tree };
  return fixture;
}

test.after.always(() => {
  if (fixture !== null) fs.rmSync(fixture.root, { recursive: true, force: true });
  cli.dispose();
});

// ------------------------------------------------------------------ running generate

interface Exit {
  readonly pid: number;
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

/** Starts `vmsvc generate`; kills it with SIGKILL after `killAfterMs` (if given) and always after 120 s. */
function generate(data: string, out: string, killAfterMs: number | null = null): { pid: number; exit: Promise<Exit> } {
  const started = performance.now();
  const child = spawn(process.execPath, [VMSVC, 'generate', '--data', data, '--out', out], { stdio: ['ignore', 'pipe', 'pipe'] });
  const pid = child.pid ?? -1;
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  child.stdout.on('data', (b: Buffer) => stdout.push(b));
  child.stderr.on('data', (b: Buffer) => stderr.push(b));
  const killer = killAfterMs === null ? null : setTimeout(() => child.kill('SIGKILL'), killAfterMs);
  const hang = setTimeout(() => child.kill('SIGKILL'), 120_000);
  const exit = new Promise<Exit>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (killer !== null) clearTimeout(killer);
      clearTimeout(hang);
      resolve({ pid, code, signal, stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8'), ms: performance.now() - started });
    });
  });
  return { pid, exit };
}

// ------------------------------------------------------------------ what the out path holds

const other = (side: Side): Side => (side === 'A' ? 'B' : 'A');

/** Whether the run with this pid got as far as the lock: it holds it, or left its own pid file, tree or link. */
function touchedOutDir(outDir: string, leftovers: readonly string[], pid: number): boolean {
  if (leftovers.some((n) => n.includes(`-${pid}-`))) return true;
  try {
    return Number.parseInt(fs.readFileSync(path.join(outDir, '.out.vmsvc-lock'), 'utf8'), 10) === pid;
  } catch {
    return false;
  }
}

interface State {
  /** Which complete tree `out` is, or why it is neither. */
  readonly tree: Side | string;
  /** The link target, when out is a link. */
  readonly target: string | null;
  /** Entries beside out other than out and its target, sorted. */
  readonly leftovers: string[];
}

/** `likely`: the side to compare with first (each comparison reads the whole tree). */
function stateOf(f: Fixture, outDir: string, likely: Side = 'A'): State {
  const out = path.join(outDir, 'out');
  let target: string | null = null;
  let tree: Side | string;
  try {
    if (!fs.lstatSync(out).isSymbolicLink()) tree = 'out is not a symbolic link';
    else {
      target = fs.readlinkSync(out);
      const dir = path.join(outDir, target);
      if (!/^\.out\.vmsvc-[0-9a-f]{16}$/.test(target)) tree = `out links to ${target}, not a version dir beside it`;
      else if (sameTree(dir, f.tree[likely])) tree = likely;
      else if (sameTree(dir, f.tree[other(likely)])) tree = other(likely);
      else tree = `out links to ${target}, which is neither complete tree`;
    }
  } catch (e) {
    tree = `out is unreadable: ${e instanceof Error ? e.message : String(e)}`;
  }
  const leftovers = fs.readdirSync(outDir).filter((n) => n !== 'out' && n !== target).sort();
  return { tree, target, leftovers };
}

/** Deterministic pseudo-random numbers in [0, 1), so a failing run can be replayed. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

async function unkilledRun(t: ExecutionContext, f: Fixture, outDir: string, side: Side): Promise<Exit> {
  const r = await generate(f.data[side], path.join(outDir, 'out')).exit;
  t.is(r.signal, null, `an unkilled run of ${side} died (${r.signal}): ${r.stderr}`);
  t.is(r.code, 0, `an unkilled run of ${side} failed: ${r.stderr}`);
  return r;
}

// ------------------------------------------------------------------ tests

/** State shared by the kill batches (serial tests, in order). */
interface KillRun {
  readonly outDir: string;
  readonly typical: number;
  readonly random: () => number;
  current: Side;
  readonly landed: Record<'before the write' | 'during the write' | 'after the link swap' | 'finished before the kill', number>;
  cleanups: number;
  kills: number;
  readonly started: number;
}

let killRun: KillRun | null = null;

/** The out dir holding tree A or B, and the typical time of an unkilled run, from five such runs. */
async function startKillRun(t: ExecutionContext, f: Fixture): Promise<KillRun> {
  const outDir = path.join(f.root, 'kill');
  fs.mkdirSync(outDir);
  const started = performance.now();
  const times: number[] = [];
  let current: Side = 'A';
  for (const side of ['A', 'B', 'A', 'B', 'A'] as const) {
    const r = await unkilledRun(t, f, outDir, side);
    times.push(r.ms);
    const s = stateOf(f, outDir, side);
    t.is(s.tree, side, 'an unkilled run writes exactly the reference tree (if not: is dist/ stale? npm run build)');
    t.deepEqual(s.leftovers, []);
    current = side;
  }
  times.sort((a, b) => a - b);
  return {
    outDir,
    typical: times[Math.floor(times.length / 2)]!,
    random: lcg(20251127),
    current,
    landed: { 'before the write': 0, 'during the write': 0, 'after the link swap': 0, 'finished before the kill': 0 },
    cleanups: 0,
    kills: 0,
    started,
  };
}

const BATCHES = 4;
const REACH = 1.05;

for (let batch = 1; batch <= BATCHES; batch++) {
  const kills = KILLS / BATCHES;
  test.serial(`SIGKILL at random moments, batch ${batch}/${BATCHES} (${kills} kills): out is always the complete old or new tree; the next run cleans up`, async (t) => {
    const f = getFixture();
    killRun ??= await startKillRun(t, f);
    const k = killRun;
    for (let i = 0; i < kills; i++) {
      const next = other(k.current);
      // A little past the typical run: its end (the link swap, the clean-up) is a short window.
      const delay = k.random() * k.typical * REACH;
      const r = await generate(f.data[next], path.join(k.outDir, 'out'), delay).exit;
      k.kills++;
      const s = stateOf(f, k.outDir, k.current);
      if (s.tree !== 'A' && s.tree !== 'B') {
        t.fail(`kill ${k.kills} after ${Math.round(delay)} ms: ${s.tree} (leftovers: ${s.leftovers.join(' ')})`);
        return;
      }
      if (r.signal === null) {
        t.is(r.code, 0, r.stderr);
        t.is(s.tree, next, 'a run that finished wrote its tree');
        k.landed['finished before the kill']++;
      } else if (s.tree === next) {
        k.landed['after the link swap']++;
      } else if (touchedOutDir(k.outDir, s.leftovers, r.pid)) {
        k.landed['during the write']++;
      } else {
        k.landed['before the write']++;
      }
      k.current = s.tree;

      if ((i + 1) % CLEAN_EVERY === 0 || i === kills - 1) {
        const cleanSide = other(k.current);
        await unkilledRun(t, f, k.outDir, cleanSide);
        const after = stateOf(f, k.outDir, cleanSide);
        t.is(after.tree, cleanSide);
        t.deepEqual(after.leftovers, [], 'the unkilled run removed everything a killed run left, private lock files included');
        k.current = cleanSide;
        k.cleanups++;
      }
    }
    const seconds = Math.round((performance.now() - k.started) / 1000);
    t.log(`${VMS} VMs per tree; typical run ${Math.round(k.typical)} ms; kill delays uniform in [0, ${Math.round(k.typical * REACH)}] ms`);
    t.log(`${k.kills} kills so far, in ${seconds} s: ${Object.entries(k.landed).map(([what, n]) => `${n} ${what}`).join(', ')}; ${k.cleanups} clean-up runs`);
    if (batch === BATCHES) t.true(k.landed['during the write'] + k.landed['after the link swap'] > 0, 'some kills landed mid-write');
  });
}

test.serial(`two generate runs on one out path at once, ${ROUNDS} rounds: one fails clearly or waits; never a mix`, async (t) => {
  const f = getFixture();
  const outDir = path.join(f.root, 'race');
  fs.mkdirSync(outDir);
  const outcomes = { 'one refused (another vmsvc is writing)': 0, 'both wrote, one after the other': 0 };
  for (let round = 0; round < ROUNDS; round++) {
    const sides: [Side, Side] = round % 2 === 0 ? ['A', 'B'] : ['B', 'A'];
    const runs = sides.map((side) => ({ side, ...generate(f.data[side], path.join(outDir, 'out')) }));
    const exits = await Promise.all(runs.map((r) => r.exit));
    const winners: Side[] = [];
    exits.forEach((e, k) => {
      t.is(e.signal, null, `round ${round}: killed by ${e.signal}`);
      t.true(e.code === 0 || e.code === 111, `round ${round}: exit ${e.code}: ${e.stderr}`);
      if (e.code === 0) winners.push(runs[k]!.side);
      else t.regex(e.stderr, new RegExp(`another vmsvc \\(pid ${runs[1 - k]!.pid}\\) is writing`), `round ${round}: the loser names the winner`);
    });
    t.true(winners.length >= 1, `round ${round}: at least one run succeeds`);
    const s = stateOf(f, outDir);
    t.true(s.tree === 'A' || s.tree === 'B', `round ${round}: ${s.tree}`);
    if (winners.length === 1) {
      t.is<string, string>(s.tree, winners[0]!, `round ${round}: the only successful run's tree is in place`);
      outcomes['one refused (another vmsvc is writing)']++;
    } else {
      outcomes['both wrote, one after the other']++;
    }
    t.deepEqual(s.leftovers, [], `round ${round}: nothing left beside out`);
  }
  t.log(Object.entries(outcomes).map(([k, v]) => `${v} rounds: ${k}`).join('; '));
});

// takeLock (generator/util/pid-lock.ts) writes its pid to `.out.vmsvc-lock-<pid>-<hex>`
// before linking it to `.out.vmsvc-lock`, and removes it in a finally. A run
// killed between the two leaves that file behind for good: removeLeftovers
// (generator/pipeline/write-tree.ts, the `name.startsWith(\`${layout.prefix}lock\`)` test)
// skips every name starting with `.out.vmsvc-lock`. Fix: skip only the lock
// itself, and remove `lock-<pid>-<hex>` files whose pid is not alive (isAlive).
test.serial('a pid file a killed run left beside out (.out.vmsvc-lock-<pid>-<hex>) is removed by the next run', async (t) => {
  const f = getFixture();
  const outDir = path.join(f.root, 'stray');
  fs.mkdirSync(outDir);
  await unkilledRun(t, f, outDir, 'A');
  // Exactly what lock() writes first: a run killed right after it leaves this.
  fs.writeFileSync(path.join(outDir, '.out.vmsvc-lock-2147483646-0badc0de'), '2147483646\n');
  await unkilledRun(t, f, outDir, 'B');
  const s = stateOf(f, outDir, 'B');
  t.is(s.tree, 'B');
  t.deepEqual(s.leftovers, [], 'nothing but out and its version dir');
});

// takeLock (generator/util/pid-lock.ts): when linkSync fails with EEXIST it reads the
// lock to name its owner; the owner may release it in between. A lock that
// cannot be read is retried, never removed; a dead owner's lock is removed only
// if it is still the file that was read. Here another process takes and releases the lock in a tight loop (as
// back-to-back vmsvc runs would, much faster), while this process tries to write.
test.serial('a writer that finds the lock just released gets the clear message, never ENOENT or "cannot take the lock"', async (t) => {
  const f = getFixture();
  const outDir = path.join(f.root, 'release');
  fs.mkdirSync(outDir);
  const out = path.join(outDir, 'out');
  const lock = path.join(outDir, '.out.vmsvc-lock');
  const ready = path.join(f.root, 'flapper-ready');
  const flapper = spawn(process.execPath, ['-e', `
    const fs = require('node:fs');
    const lock = process.env.LOCK, mine = process.env.LOCK + '-flapper';
    fs.writeFileSync(mine, process.pid + '\\n');
    fs.writeFileSync(process.env.READY, '');
    const end = Date.now() + 30000;
    while (Date.now() < end && fs.existsSync(process.env.READY)) {
      try { fs.linkSync(mine, lock); fs.unlinkSync(lock); } catch {}
    }
    fs.rmSync(mine, { force: true });
  `], { env: { ...process.env, LOCK: lock, READY: ready }, stdio: 'ignore' });
  const flapperDone = new Promise((resolve) => flapper.on('close', resolve));
  t.teardown(() => flapper.kill('SIGKILL'));
  while (!fs.existsSync(ready)) await new Promise((resolve) => setTimeout(resolve, 10));

  // A one-VM tree: each attempt is quick, so thousands of them meet the other process.
  const small = dataDirWith({ vm: {} });
  t.teardown(() => fs.rmSync(small.root, { recursive: true, force: true }));
  const scanned = checkDataDir(small.data, defaultOptions);
  const tree = buildTree(scanned.root, scanned.result, defaultOptions);
  const messages = new Map<string, number>();
  let written = 0;
  const end = performance.now() + 5000;
  for (let i = 0; i < 3000 && performance.now() < end; i++) {
    try {
      writeTreeAtomically(out, tree);
      written++;
    } catch (e) {
      const key = e instanceof WriteError ? e.message.replace(/pid \d+/, 'pid N') : `${e instanceof Error ? e.message : String(e)}`;
      messages.set(key, (messages.get(key) ?? 0) + 1);
    }
  }
  fs.rmSync(ready, { force: true });
  await flapperDone;
  t.log(`${written} writes succeeded; failures: ${[...messages].map(([m, n]) => `${n} x ${m}`).join('; ')}`);
  t.true(written > 0, 'writes get through between the other holder\'s turns');
  for (const m of messages.keys()) t.regex(m, /^another vmsvc (\(pid N\) )?is writing /);
});

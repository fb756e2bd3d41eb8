/**
 * npm run bench: wall time and peak RSS of whole `vmsvc generate` processes on
 * synthetic data dirs, with `node -e 0` measured in the same run as the floor.
 * Each figure is the median of several runs: wall time measured here, peak
 * RSS from GNU time's %M. The floor is measured between the runs of each
 * size, so that both see the same load from whatever else the machine does.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { preferredSlot } from '../generator/pipeline/links.js';
import { ELF_HEADER } from '../test/support/data-dir.js';
import { alive } from '../test/support/processes.js';

const VMSVC = fileURLToPath(new URL('../bin/vmsvc.cjs', import.meta.url));
const SIZES = [10, 100, 1000, 10000];
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
/** Small trees take a fraction of a second and vary most: more runs. */
const runsFor = (vms: number): number => (vms <= 100 ? 3 * RUNS : RUNS);

/** Deterministic pseudo-random numbers, so every run benchmarks the same trees. */
function lcg(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648;
  };
}

function makeData(root: string, count: number): string {
  const data = path.join(root, `data-${count}`);
  const rnd = lcg(count);
  for (let i = 0; i < count; i++) {
    const dir = path.join(data, `vm${String(i).padStart(5, '0')}`);
    fs.mkdirSync(path.join(dir, 'blk'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'vmlinux'), ELF_HEADER);
    const disks = 1 + Math.floor(rnd() * 3);
    for (let d = 0; d < disks; d++) fs.writeFileSync(path.join(dir, 'blk', `disk${d}.img`), 'x');
    // A quarter have one or two providers, always earlier VMs: acyclic.
    if (i > 0 && rnd() < 0.25) {
      fs.mkdirSync(path.join(dir, 'providers', 'net'), { recursive: true });
      const n = 1 + Math.floor(rnd() * 2);
      for (let p = 0; p < n; p++) {
        fs.writeFileSync(path.join(dir, 'providers', 'net', `vm${String(Math.floor(rnd() * i)).padStart(5, '0')}`), '');
      }
    }
  }
  return data;
}

interface Sample {
  readonly seconds: number;
  readonly rssMb: number;
}

function run(cmd: readonly string[], env: NodeJS.ProcessEnv = process.env): Sample {
  const start = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/time', ['-f', '%M', ...cmd], { encoding: 'utf8', env });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (r.status !== 0) throw new Error(`${cmd.join(' ')} failed: ${r.stderr}`);
  const kb = r.stderr.trim().split('\n').pop()!;
  return { seconds, rssMb: Number(kb) / 1024 };
}

function median(samples: readonly Sample[]): Sample {
  const mid = (xs: number[]): number => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  return { seconds: mid(samples.map((s) => s.seconds)), rssMb: mid(samples.map((s) => s.rssMb)) };
}

const FLOOR = [process.execPath, '-e', '0'];

/** Medians of `runs` runs of cmd and of the floor, taken in turn. */
function measure(cmd: readonly string[], runs: number, before?: () => void): { cmd: Sample; floor: Sample } {
  const samples: Sample[] = [];
  const floor: Sample[] = [];
  for (let i = 0; i < runs; i++) {
    floor.push(run(FLOOR));
    before?.();
    samples.push(run(cmd));
  }
  return { cmd: median(samples), floor: median(floor) };
}

// ------------------------------------------------------------------ hostile sizes

/** Like run, for commands whose expected exit status is `status` (an invalid tree exits 1). */
function runExpecting(cmd: readonly string[], status: number): Sample {
  const start = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/time', ['-f', '%M', ...cmd], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (r.status !== status) throw new Error(`${cmd.join(' ')} exited ${r.status}, not ${status}: ${r.stderr.slice(-2000)}`);
  return { seconds, rssMb: Number(r.stderr.trim().split('\n').pop()!) / 1024 };
}

function emptyFile(p: string): void {
  fs.closeSync(fs.openSync(p, 'w'));
}

/** `count` VM dirs holding nothing: each is invalid twice over (vmlinux-missing, blk-missing). */
function makeBrokenVms(root: string, count: number): string {
  const data = path.join(root, `broken-${count}`);
  for (let i = 0; i < count; i++) fs.mkdirSync(path.join(data, `vm${String(i).padStart(5, '0')}`), { recursive: true });
  return data;
}

/** Valid VMs whose links all hash into slots 1..width: a grid of clients x providers, keeping the pairs that land there. */
function makeClusteredLinks(root: string, side: number, width: number): { data: string; links: number } {
  const data = path.join(root, 'clustered');
  const vm = (name: string): string => {
    const dir = path.join(data, name);
    fs.mkdirSync(path.join(dir, 'blk'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'vmlinux'), ELF_HEADER);
    fs.writeFileSync(path.join(dir, 'blk', 'root.img'), 'x');
    return dir;
  };
  const providers = Array.from({ length: side }, (_, i) => `p${String(i).padStart(4, '0')}`);
  for (const p of providers) vm(p);
  let links = 0;
  for (let i = 0; i < side; i++) {
    const client = `c${String(i).padStart(4, '0')}`;
    const net = path.join(vm(client), 'providers', 'net');
    fs.mkdirSync(net, { recursive: true });
    for (const p of providers) {
      if (preferredSlot(client, p) > width) continue;
      emptyFile(path.join(net, p));
      links++;
    }
  }
  return { data, links };
}

/** An s6-rc source tree of `depth` oneshots, each depending on the next, the last on the first. */
function makeDeepCycle(root: string, depth: number): string {
  const src = path.join(root, 's6rc-chain');
  for (let i = 0; i < depth; i++) {
    const dir = path.join(src, `s${i}`);
    fs.mkdirSync(path.join(dir, 'dependencies.d'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'type'), 'oneshot\n');
    fs.writeFileSync(path.join(dir, 'up'), 'true\n');
    emptyFile(path.join(dir, 'dependencies.d', `s${(i + 1) % depth}`));
  }
  return src;
}

/** One healthy VM and one with `images` empty images: that many problems from one VM. */
function makeFlood(root: string, images: number): string {
  const data = path.join(root, 'flood');
  for (const name of ['good', 'bad']) {
    fs.mkdirSync(path.join(data, name, 'blk'), { recursive: true });
    fs.writeFileSync(path.join(data, name, 'vmlinux'), ELF_HEADER);
  }
  fs.writeFileSync(path.join(data, 'good', 'blk', 'root.img'), 'x');
  for (let i = 0; i < images; i++) emptyFile(path.join(data, 'bad', 'blk', `${i}.img`));
  return data;
}

/**
 * Inputs an attacker on the user partition would pick (issue 10), each a
 * whole vmsvc process: these were quadratic or overflowed the stack.
 */
function hostileBench(root: string): void {
  const runs = Math.max(1, Math.min(RUNS, 3));
  const rows: string[] = [];
  const time = (what: string, cmd: readonly string[], status: number, before?: () => void): void => {
    const samples: Sample[] = [];
    for (let i = 0; i < runs; i++) {
      before?.();
      samples.push(runExpecting(cmd, status));
    }
    const m = median(samples);
    rows.push(`| ${what} | ${m.seconds.toFixed(3)} | ${m.rssMb.toFixed(1)} |`);
    console.log(`hostile: ${what}: ${m.seconds.toFixed(3)} s, peak RSS ${m.rssMb.toFixed(1)} MB; ${runs} runs`);
  };
  const freshOut = (name: string) => () => {
    for (const entry of fs.readdirSync(root)) {
      if (entry === name || entry.startsWith(`.${name}.vmsvc-`)) fs.rmSync(path.join(root, entry), { recursive: true, force: true });
    }
  };
  const broken = makeBrokenVms(root, 16000);
  time('16000 invalid VMs, generate --keep-going', [process.execPath, VMSVC, 'generate', '--keep-going', '--data', broken, '--out', path.join(root, 'out-broken')], 0, freshOut('out-broken'));
  const clustered = makeClusteredLinks(root, 600, 2000);
  time(`${clustered.links} links hashing into 2000 slots, generate`, [process.execPath, VMSVC, 'generate', '--data', clustered.data, '--out', path.join(root, 'out-clustered')], 0, freshOut('out-clustered'));
  const chain = makeDeepCycle(root, 6000);
  time('s6-rc tree: a 6000-deep dependency cycle, check-s6rc', [process.execPath, VMSVC, 'check-s6rc', chain], 1);
  const flood = makeFlood(root, 130_000);
  time('one VM with 130,000 problems, generate --keep-going', [process.execPath, VMSVC, 'generate', '--keep-going', '--data', flood, '--out', path.join(root, 'out-flood')], 0, freshOut('out-flood'));
  console.log(`\n| hostile input | wall s | peak RSS MB |\n|---|---|---|\n${rows.join('\n')}`);
}

/**
 * `vmsvc logs` on what a guest can write to its serial console (s6-log
 * keeps lines whole, however long): 24 MiB in one line, and the same bytes
 * in 80-byte lines, as text and as JSON Lines. Time per MiB should not
 * depend on the shape; one 24 MiB line took 12 times the short lines' time
 * before issue 16 (the splitter re-scanned the growing line at every read).
 */
function logsBench(root: string): void {
  const runs = Math.max(1, Math.min(RUNS, 3));
  const dir = path.join(root, 'logs');
  const data = path.join(dir, 'data');
  fs.mkdirSync(path.join(data, 'a', 'blk'), { recursive: true });
  fs.writeFileSync(path.join(data, 'a', 'vmlinux'), ELF_HEADER);
  fs.writeFileSync(path.join(data, 'a', 'blk', 'root.img'), 'x');
  const out = path.join(dir, 'out');
  runExpecting([process.execPath, VMSVC, 'generate', '--data', data, '--out', out, '--log-dir', path.join(dir, 'log')], 0);
  const current = path.join(dir, 'log', 'a', 'current');
  fs.mkdirSync(path.dirname(current), { recursive: true });
  const mib = 24;
  const size = mib * 1024 * 1024;
  const stamp = Buffer.from('2026-01-01 00:00:00.000000001  ');
  const oneLine = (fill: number): Buffer => Buffer.concat([stamp, Buffer.alloc(size - stamp.length - 1, fill), Buffer.from('\n')]);
  const shortLines = (fill: number): Buffer => {
    const line = Buffer.concat([stamp, Buffer.alloc(80 - stamp.length - 1, fill), Buffer.from('\n')]);
    return Buffer.concat(Array.from({ length: Math.floor(size / line.length) }, () => line));
  };
  const shapes: Array<[string, () => Buffer]> = [
    ['80-byte lines of "a"', () => shortLines(0x61)],
    ['one line of "a"', () => oneLine(0x61)],
    ['80-byte lines of ESC', () => shortLines(0x1b)],
    ['one line of ESC', () => oneLine(0x1b)],
    ['80-byte lines of 0xff (not UTF-8)', () => shortLines(0xff)],
    ['one line of 0xff (not UTF-8)', () => oneLine(0xff)],
  ];
  const rows: string[] = [];
  for (const [shape, make] of shapes) {
    fs.writeFileSync(current, make());
    for (const json of [false, true]) {
      const cmd = [process.execPath, VMSVC, 'logs', 'a', '--source', out, ...(json ? ['--json'] : [])];
      const samples = Array.from({ length: runs }, () => runQuiet(cmd));
      const m = median(samples);
      const what = `${shape}${json ? ', --json' : ''}`;
      rows.push(`| ${what} | ${m.seconds.toFixed(3)} | ${(m.seconds / mib * 1000).toFixed(1)} | ${m.rssMb.toFixed(1)} |`);
      console.log(`logs: ${mib} MiB, ${what}: ${m.seconds.toFixed(3)} s, peak RSS ${m.rssMb.toFixed(1)} MB; ${runs} runs`);
    }
  }
  console.log(`\n| logs, ${mib} MiB | wall s | ms per MiB | peak RSS MB |\n|---|---|---|---|\n${rows.join('\n')}`);
}

/** Like run, with stdout thrown away (logs prints as much as it reads). */
function runQuiet(cmd: readonly string[]): Sample {
  const start = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/time', ['-f', '%M', ...cmd], { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (r.status !== 0) throw new Error(`${cmd.join(' ')} failed: ${r.stderr.slice(-2000)}`);
  return { seconds, rssMb: Number(r.stderr.trim().split('\n').pop()!) / 1024 };
}

/** The real s6-rc's bin dir (VMSVC_S6RC_PREFIX, default /opt/skarnet, as test/support/real-s6rc.ts), or null. */
function s6rcBin(): string | null {
  const bin = path.join(process.env.VMSVC_S6RC_PREFIX ?? '/opt/skarnet', 'bin');
  try {
    for (const p of ['s6-rc-compile', 's6-rc-init', 's6-svscan', 's6-svscanctl', 'execlineb']) fs.accessSync(path.join(bin, p), fs.constants.X_OK);
    return bin;
  } catch {
    return null;
  }
}

const BOOT_SIZES = [10, 100, 1000];

/**
 * The boot path end to end: `vmsvc apply` on a fresh state dir (generate,
 * s6-rc-compile, s6-rc-init) against a fresh s6-svscan, with s6-rc-compile
 * alone on the same tree and `node -e 0` in the same run. The s6-svscan and
 * its supervisors are started and stopped outside the timed part.
 */
function bootPath(root: string): void {
  const bin = s6rcBin();
  if (bin === null) {
    console.log('\nboot path: skipped, no real s6-rc (set VMSVC_S6RC_PREFIX)');
    return;
  }
  const env = { ...process.env, PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}` };
  const rows: string[] = [];
  for (const n of BOOT_SIZES) {
    const data = makeData(path.join(root, 'boot'), n);
    const runs = runsFor(n);
    const apply: Sample[] = [];
    const compile: Sample[] = [];
    const floor: Sample[] = [];
    for (let i = 0; i < runs; i++) {
      const dir = path.join(root, `boot-${n}-${i}`);
      const scandir = path.join(dir, 'scan');
      fs.mkdirSync(scandir, { recursive: true });
      const svscan = spawn(path.join(bin, 's6-svscan'), ['-C', String(2 * n + 10), scandir], { env, stdio: 'ignore' });
      while (!fs.existsSync(path.join(scandir, '.s6-svscan', 'control'))) spawnSync('sleep', ['0.02']);
      try {
        floor.push(run(FLOOR));
        apply.push(run([process.execPath, VMSVC, 'apply', '--data', data, '--state', path.join(dir, 'state'), '--scandir', scandir,
          '--execlineb', path.join(bin, 'execlineb')], env));
        compile.push(run([path.join(bin, 's6-rc-compile'), path.join(dir, 'db'), path.join(dir, 'state', 'source')], env));
      } finally {
        spawnSync(path.join(bin, 's6-svscanctl'), ['-q', scandir], { env });
        // This loop never yields to the event loop, so the child's exitCode is not
        // updated: ask /proc whether it has exited (a zombie until reaped).
        for (let t = 0; t < 1000 && svscan.pid !== undefined && alive(svscan.pid); t++) spawnSync('sleep', ['0.02']);
        if (svscan.pid !== undefined && alive(svscan.pid)) svscan.kill('SIGKILL');
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }
    const a = median(apply);
    const c = median(compile);
    const f = median(floor);
    rows.push(`| ${n} | ${a.seconds.toFixed(3)} | ${c.seconds.toFixed(3)} | ${f.seconds.toFixed(3)} | ${a.rssMb.toFixed(1)} |`);
    console.log(`boot path, ${n} VMs: apply ${a.seconds.toFixed(3)} s, s6-rc-compile alone ${c.seconds.toFixed(3)} s, node -e 0 ${f.seconds.toFixed(3)} s; ${runs} runs each`);
  }
  console.log(`\n| VMs | apply (fresh state) s | s6-rc-compile alone s | node -e 0 s | apply peak RSS MB |\n|---|---|---|---|---|\n${rows.join('\n')}`);
}

/**
 * The whole chain (generate, compile, init, every VM up, live update) at
 * 5000 VMs under the real s6-rc: test/system/apply-scale.test.ts, which the suite
 * runs at 1000, run at 5000 (several minutes here, too long for the suite);
 * BENCH_SCALE_VMS sets the size, 0 skips it.
 */
function scaleChain(): void {
  const vms = process.env.BENCH_SCALE_VMS ?? '5000';
  if (s6rcBin() === null || vms === '0') return;
  const start = process.hrtime.bigint();
  const r = spawnSync('npx', ['ava', '--verbose', 'test/system/apply-scale.test.ts', '--match', '*VMs:*'], {
    encoding: 'utf8', env: { ...process.env, VMSVC_SCALE_VMS: vms }, cwd: fileURLToPath(new URL('..', import.meta.url)),
  });
  const seconds = (Number(process.hrtime.bigint() - start) / 1e9).toFixed(1);
  const lines = `${r.stdout}${r.stderr}`.split('\n').filter((l) => /[✔✘ℹ]/.test(l)).map((l) => l.trim());
  console.log(`\nwhole chain at ${vms} VMs (test/system/apply-scale.test.ts): ${r.status === 0 ? 'passed' : 'FAILED'} in ${seconds} s\n${lines.join('\n')}`);
}

// At boot the tree is written to /run, a tmpfs: /dev/shm is the closest
// stand-in; BENCH_DIR overrides it (e.g. to measure a disk).
const base = process.env.BENCH_DIR ?? (fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir());
const root = fs.mkdtempSync(path.join(base, 'vmsvc-bench-'));
console.log(`data and out dirs in ${base}; load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
try {
  execFileSync('/usr/bin/time', ['-f', '%M', 'true'], { stdio: 'ignore' });
  // BENCH_ONLY=logs: only the serial log shapes (a few minutes, where the whole bench takes many more).
  if (process.env.BENCH_ONLY === 'logs') logsBench(root);
  else everything(root);
} finally {
  fs.rmSync(root, { recursive: true, force: true });
}

/** The whole bench: generate at every size, the hostile inputs, the serial logs, the boot path, the whole chain. */
function everything(root: string): void {
  const rows: string[] = [];
  const results = new Map<number, { cmd: Sample; floor: Sample }>();
  for (const n of SIZES) {
    const data = makeData(root, n);
    const out = path.join(root, `out-${n}`);
    // Nothing from the previous run (link or version dir): each run is a full first write.
    const fresh = () => {
      for (const name of fs.readdirSync(root)) {
        if (name === `out-${n}` || name.startsWith(`.out-${n}.vmsvc-`)) fs.rmSync(path.join(root, name), { recursive: true, force: true });
      }
    };
    const m = measure([process.execPath, VMSVC, 'generate', '--data', data, '--out', out], runsFor(n), fresh);
    results.set(n, m);
    const ratio = (m.cmd.seconds / m.floor.seconds).toFixed(2);
    rows.push(`| ${n} | ${m.cmd.seconds.toFixed(3)} | ${m.floor.seconds.toFixed(3)} | ${ratio}x | ${m.cmd.rssMb.toFixed(1)} |`);
    console.log(`${n} VMs: ${m.cmd.seconds.toFixed(3)} s, node -e 0 ${m.floor.seconds.toFixed(3)} s (${ratio}x), peak RSS ${m.cmd.rssMb.toFixed(1)} MB; ${runsFor(n)} runs each`);
  }
  const unchangedRun = [process.execPath, VMSVC, 'generate', '--data', path.join(root, 'data-1000'), '--out', path.join(root, 'out-1000')];
  const unchanged = median(Array.from({ length: RUNS }, () => run(unchangedRun)));
  console.log(`1000 VMs, unchanged re-run: ${unchanged.seconds.toFixed(3)} s, ${unchanged.rssMb.toFixed(1)} MB`);
  console.log(`\n| VMs | wall s | node -e 0 s | ratio | peak RSS MB |\n|---|---|---|---|---|\n${rows.join('\n')}`);
  const at = (n: number) => results.get(n)!;
  console.log(`\ntargets: 10 VMs <= 1.5x floor: ${at(10).cmd.seconds <= 1.5 * at(10).floor.seconds ? 'met' : 'MISSED'}; ` +
    `1000 VMs < 1 s: ${at(1000).cmd.seconds < 1 ? 'met' : 'MISSED'}; 10000 < 10x 1000: ${at(10000).cmd.seconds < 10 * at(1000).cmd.seconds ? 'met' : 'MISSED'}; ` +
    `RSS at 10000 < 150 MB: ${at(10000).cmd.rssMb < 150 ? 'met' : 'MISSED'}`);
  hostileBench(root);
  logsBench(root);
  bootPath(root);
  scaleChain();
}

/**
 * Test harness: run the services of an s6-rc SOURCE tree under a real
 * s6-svscan, following what s6-rc-compile + s6-rc would do (see
 * /work/shared/docs/s6-rc-source-format.md). s6-rc itself is not available,
 * so this emulates it:
 *
 * - every longrun is copied into a private scandir at start (like
 *   s6-rc-init: present but `down`), then s6-svscan is started on it;
 * - up(names) expands bundles, takes the dependency closure (plus the
 *   implicit "producer depends on its consumer") and starts atoms one by
 *   one in dependency order: longruns with `s6-svc -wU -u` (readiness) when
 *   they have `notification-fd`, else `s6-svc -wu -u`; oneshots by running
 *   their `up` file as ONE execline command line (`execlineb -P`) with
 *   RC_NAME set and the shared oneshot-runner dir as cwd;
 * - down(names) stops the names and everything up that depends on them,
 *   in reverse dependency order (`s6-svc -wD -d`, oneshot `down` files);
 * - pipelines: one named FIFO per consumer (funnels share it). The harness
 *   keeps an O_RDWR fd on every FIFO for its lifetime (as s6-rc's fd holder
 *   does), so neither side sees EOF/SIGPIPE when the other restarts. The
 *   copied service gets the original script as `run.user` (s6-rc's name) and
 *   a wrapper `run` doing `redirfd -rnb 0 FIFO` (consumer) and/or
 *   `redirfd -w 1 FIFO` (producer) before `./run.user`.
 *
 * s6-svscan's stdout/stderr (hence every service's stderr, and the stdout
 * of non-producers) go to `catchAllLog`.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { Readable } from 'node:stream';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export type ServiceType = 'oneshot' | 'longrun' | 'bundle';

export interface EmulatorOptions {
  /** Extra environment for s6-svscan (so every service) and oneshots. */
  env?: Record<string, string>;
  /** Parent directory for the harness's temp dir (default os.tmpdir()). */
  workDir?: string;
  /**
   * A network namespace (made by the test with `ip netns add`) to run the whole
   * supervision tree and every oneshot in, so that services that create
   * interfaces never touch the host's own.
   */
  netns?: string;
}

export interface UpOptions {
  /** Deadline for the whole transition, default 20000 ms. A service's own
   * `timeout-up` (if non-zero) is applied as well. */
  timeoutMs?: number;
}

export interface Emulator {
  /** Harness temp dir; everything the harness creates lives below it. */
  root: string;
  /** The directory s6-svscan watches. */
  scandir: string;
  /** Harness state: FIFOs (pipes/), oneshot copies (oneshots/), oneshot cwd (oneshot-runner/). */
  liveDir: string;
  /** File receiving s6-svscan's stdout and stderr. */
  catchAllLog: string;
  /** pid of s6-svscan. */
  svscanPid: number;
  /** Transitions performed, in order: "up NAME" / "down NAME" (atoms only). */
  readonly transitions: readonly string[];
  up(names: string[], opts?: UpOptions): Promise<void>;
  down(names: string[], opts?: UpOptions): Promise<void>;
  /** Brings everything down, stops s6-svscan, kills leftovers, removes root. Idempotent. */
  stop(): Promise<void>;
  /** True if the atom is up, or every atom of the bundle is up. */
  isUp(name: string): boolean;
  /** pid of a longrun's process, null if down or not a longrun. */
  servicePid(name: string): number | null;
  /** Live dir of a longrun (in scandir) or the copy of a oneshot. */
  serviceDir(name: string): string;
}

interface ServiceDef {
  name: string;
  type: ServiceType;
  src: string;
  deps: string[];
  contents: string[];
  producerFor: string | null;
  consumerFor: string[];
  pipelineName: string | null;
  timeoutUp: number;
  timeoutDown: number;
  notificationFd: number | null;
}

const EXECLINEB = '/usr/bin/execlineb';
const EXECLINE_BIN = '/usr/lib/execline/bin';
const DEFAULT_TIMEOUT_MS = 20000;
const LONGRUN_FILES = [
  'finish', 'notification-fd', 'lock-fd', 'timeout-kill', 'timeout-finish',
  'max-death-tally', 'down-signal',
];

// ---------------------------------------------------------------------------
// Source parsing

function exists(p: string): boolean {
  return fs.existsSync(p);
}

/** List-file syntax: leading whitespace, blank and `#` lines skipped; trailing whitespace kept. */
function readList(file: string): string[] {
  const out: string[] = [];
  for (const raw of fs.readFileSync(file, 'utf8').split('\n')) {
    const line = raw.replace(/^[ \t\r\f\v]+/, '');
    if (line === '' || line.startsWith('#')) continue;
    out.push(line);
  }
  return out;
}

function readDirNames(dir: string): string[] {
  return fs.readdirSync(dir).filter((n) => !n.startsWith('.')).sort();
}

/** `X.d/` wins over the list file `X`. */
function readNameSet(svcDir: string, base: string): string[] | null {
  const d = path.join(svcDir, `${base}.d`);
  if (exists(d) && fs.statSync(d).isDirectory()) return readDirNames(d);
  const f = path.join(svcDir, base);
  if (exists(f)) return readList(f);
  return null;
}

function readUint(file: string, what: string): number | null {
  if (!exists(file)) return null;
  const s = fs.readFileSync(file, 'utf8');
  if (!/^\d+\n*$/.test(s)) throw new Error(`${what}: invalid number ${JSON.stringify(s)}`);
  return Number.parseInt(s, 10);
}

function readOne(file: string, what: string): string | null {
  if (!exists(file)) return null;
  const l = readList(file);
  if (l.length !== 1 || l[0] === undefined) throw new Error(`${what}: must contain exactly one name`);
  return l[0];
}

function loadServices(sourceDirs: string[]): Map<string, ServiceDef> {
  const svcs = new Map<string, ServiceDef>();
  for (const sd of sourceDirs) {
    for (const name of readDirNames(sd)) {
      const src = path.resolve(sd, name);
      if (!fs.statSync(src).isDirectory()) continue;
      if (svcs.has(name)) throw new Error(`duplicate service name ${name}`);
      const t = fs.readFileSync(path.join(src, 'type'), 'utf8');
      const type = t.replace(/\n$/, '');
      if (type !== 'oneshot' && type !== 'longrun' && type !== 'bundle') {
        throw new Error(`${name}: invalid type ${JSON.stringify(t)}`);
      }
      const def: ServiceDef = {
        name, type, src, deps: [], contents: [], producerFor: null, consumerFor: [],
        pipelineName: null, timeoutUp: 0, timeoutDown: 0, notificationFd: null,
      };
      if (type === 'bundle') {
        const c = readNameSet(src, 'contents');
        if (c === null) throw new Error(`${name}: bundle without contents.d/ or contents`);
        def.contents = c;
      } else {
        def.deps = readNameSet(src, 'dependencies') ?? [];
        def.timeoutUp = readUint(path.join(src, 'timeout-up'), `${name}/timeout-up`) ?? 0;
        def.timeoutDown = readUint(path.join(src, 'timeout-down'), `${name}/timeout-down`) ?? 0;
        if (type === 'oneshot') {
          if (!exists(path.join(src, 'up'))) throw new Error(`${name}: oneshot without up`);
        } else {
          const run = path.join(src, 'run');
          if (!exists(run) || !fs.statSync(run).isFile()) throw new Error(`${name}: longrun without regular-file run`);
          def.notificationFd = readUint(path.join(src, 'notification-fd'), `${name}/notification-fd`);
          def.producerFor = readOne(path.join(src, 'producer-for'), `${name}/producer-for`);
          def.consumerFor = exists(path.join(src, 'consumer-for')) ? readList(path.join(src, 'consumer-for')) : [];
          const pn = readOne(path.join(src, 'pipeline-name'), `${name}/pipeline-name`);
          // only honoured on the last consumer
          if (pn !== null && def.consumerFor.length > 0 && def.producerFor === null) def.pipelineName = pn;
        }
      }
      svcs.set(name, def);
    }
  }
  // pipelines: check declarations, then add pipeline bundles
  for (const s of svcs.values()) {
    if (s.producerFor !== null) {
      const c = svcs.get(s.producerFor);
      if (c === undefined || c.type !== 'longrun') throw new Error(`${s.name}: producer-for ${s.producerFor} is not a longrun`);
      if (!c.consumerFor.includes(s.name)) throw new Error(`${s.name}: producer-for ${c.name}, but ${c.name} is not consumer-for ${s.name}`);
    }
    for (const p of s.consumerFor) {
      const pd = svcs.get(p);
      if (pd === undefined || pd.type !== 'longrun') throw new Error(`${s.name}: consumer-for ${p} is not a longrun`);
      if (pd.producerFor !== s.name) throw new Error(`${s.name}: consumer-for ${p}, but ${p} is not producer-for ${s.name}`);
    }
  }
  for (const s of [...svcs.values()]) {
    if (s.pipelineName === null) continue;
    if (svcs.has(s.pipelineName)) throw new Error(`duplicate name: pipeline-name ${s.pipelineName} of ${s.name}`);
    const members: string[] = [];
    const walk = (n: string): void => {
      if (members.includes(n)) throw new Error(`pipeline cycle through ${n}`);
      members.push(n);
      for (const p of svcs.get(n)?.consumerFor ?? []) walk(p);
    };
    walk(s.name);
    svcs.set(s.pipelineName, {
      name: s.pipelineName, type: 'bundle', src: s.src, deps: [], contents: members, producerFor: null,
      consumerFor: [], pipelineName: null, timeoutUp: 0, timeoutDown: 0, notificationFd: null,
    });
  }
  for (const s of svcs.values()) {
    for (const n of [...s.deps, ...s.contents]) {
      if (!svcs.has(n)) throw new Error(`${s.name}: undefined service ${JSON.stringify(n)}`);
    }
  }
  return svcs;
}

// ---------------------------------------------------------------------------
// Graph

class Graph {
  /** atom -> direct atom dependencies (bundles expanded, producer -> consumer added) */
  readonly deps = new Map<string, string[]>();
  /** topological order of all atoms (dependencies first) */
  readonly order: string[] = [];
  private readonly index = new Map<string, number>();

  constructor(readonly svcs: Map<string, ServiceDef>) {
    for (const s of svcs.values()) {
      if (s.type === 'bundle') continue;
      const d = new Set<string>();
      for (const n of s.deps) for (const a of this.expand([n])) d.add(a);
      if (s.producerFor !== null) d.add(s.producerFor);
      this.deps.set(s.name, [...d].sort());
    }
    const state = new Map<string, 'visiting' | 'done'>();
    const stack: string[] = [];
    const visit = (n: string): void => {
      const st = state.get(n);
      if (st === 'done') return;
      if (st === 'visiting') {
        const cyc = [...stack.slice(stack.indexOf(n)), n];
        throw new Error(`dependency cycle: ${cyc.join(' -> ')}`);
      }
      state.set(n, 'visiting');
      stack.push(n);
      for (const d of this.deps.get(n) ?? []) visit(d);
      stack.pop();
      state.set(n, 'done');
      this.index.set(n, this.order.length);
      this.order.push(n);
    };
    for (const n of [...this.deps.keys()].sort()) visit(n);
    for (const s of svcs.values()) if (s.type === 'bundle') this.expand([s.name]); // bundle cycles
  }

  def(name: string): ServiceDef {
    const s = this.svcs.get(name);
    if (s === undefined) throw new Error(`unknown service ${JSON.stringify(name)}`);
    return s;
  }

  /** Names (atoms or bundles) -> atoms. */
  expand(names: string[], seen: string[] = []): string[] {
    const out = new Set<string>();
    for (const n of names) {
      const s = this.def(n);
      if (s.type !== 'bundle') { out.add(n); continue; }
      if (seen.includes(n)) throw new Error(`bundle cycle: ${[...seen, n].join(' -> ')}`);
      for (const a of this.expand(s.contents, [...seen, n])) out.add(a);
    }
    return [...out];
  }

  /** Atoms plus all their dependencies, in start order. */
  upClosure(atoms: string[]): string[] {
    const set = new Set<string>();
    const add = (n: string): void => {
      if (set.has(n)) return;
      set.add(n);
      for (const d of this.deps.get(n) ?? []) add(d);
    };
    atoms.forEach(add);
    return this.sorted(set);
  }

  /** Atoms plus everything that (transitively) depends on them, in stop order. */
  downClosure(atoms: string[]): string[] {
    const set = new Set<string>(atoms);
    let grew = true;
    while (grew) {
      grew = false;
      for (const [n, ds] of this.deps) {
        if (!set.has(n) && ds.some((d) => set.has(d))) { set.add(n); grew = true; }
      }
    }
    return this.sorted(set).reverse();
  }

  private sorted(set: Set<string>): string[] {
    return [...set].sort((a, b) => (this.index.get(a) ?? 0) - (this.index.get(b) ?? 0));
  }
}

// ---------------------------------------------------------------------------
// Processes

interface RunResult { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; timedOut: boolean }

function run(cmd: string, args: string[], o: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: o.cwd, env: o.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    const killer = o.timeoutMs !== undefined && o.timeoutMs > 0
      ? setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, o.timeoutMs)
      : null;
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      if (killer !== null) clearTimeout(killer);
      // Background children may keep the pipes open: do not wait for them.
      child.stdout.destroy();
      child.stderr.destroy();
      resolve({ code: child.exitCode, signal: child.signalCode, stdout, stderr, timedOut });
    };
    child.once('error', (e) => { if (killer !== null) clearTimeout(killer); done = true; reject(e); });
    child.once('close', finish);
    // 'exit' without 'close' (a background child holds the pipes): give them
    // a moment to drain, then go on; setImmediate lets one I/O poll run first.
    child.once('exit', () => { setTimeout(() => setImmediate(finish), 500); });
  });
}

function describe(r: RunResult): string {
  const how = r.timedOut ? 'timed out' : r.signal !== null ? `killed by ${r.signal}` : `exit code ${String(r.code)}`;
  const err = r.stderr.trim();
  return err === '' ? how : `${how}: ${err}`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function isAlive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

function comm(pid: number): string {
  try { return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim(); } catch { return ''; }
}

/**
 * Live (non-zombie) processes, other than this one, whose cwd, command line
 * or open files point below `dir`.
 */
export function findProcessesUnder(dir: string): number[] {
  const root = path.resolve(dir);
  const under = (p: string): boolean => p === root || p.startsWith(root + '/');
  const found: number[] = [];
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const pid = Number(e);
    if (pid === process.pid || !isAlive(pid)) continue;
    try {
      let hit = false;
      try { hit = under(fs.readlinkSync(`/proc/${pid}/cwd`)); } catch { /* gone or kernel thread */ }
      if (!hit) {
        try { hit = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').some((a) => a.includes(root)); } catch { /* gone */ }
      }
      if (!hit) {
        try {
          hit = fs.readdirSync(`/proc/${pid}/fd`).some((fd) => {
            try { return under(fs.readlinkSync(`/proc/${pid}/fd/${fd}`)); } catch { return false; }
          });
        } catch { /* gone */ }
      }
      if (hit) found.push(pid);
    } catch { /* raced with exit */ }
  }
  return found;
}

function killAllUnder(dir: string): void {
  for (let i = 0; i < 5; i++) {
    const pids = findProcessesUnder(dir);
    if (pids.length === 0) return;
    for (const p of pids) {
      try { process.kill(p, 'SIGKILL'); } catch { /* gone */ }
    }
  }
}

/** Emulators not yet stopped: killed synchronously if the process exits first. */
const liveEmulators = new Set<EmulatorImpl>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const e of liveEmulators) e.emergencyCleanup();
  });
}

function execlineQuote(s: string): string {
  return `"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

// ---------------------------------------------------------------------------
// Emulator

class EmulatorImpl implements Emulator {
  readonly scandir: string;
  readonly liveDir: string;
  readonly catchAllLog: string;
  svscanPid = 0;
  readonly transitions: string[] = [];
  private readonly upSet = new Set<string>();
  private readonly fifoFds: number[] = [];
  private svscan: ChildProcess | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private stopped = false;
  readonly env: NodeJS.ProcessEnv;

  constructor(readonly root: string, private readonly g: Graph, env: Record<string, string>, private readonly netns: string | null) {
    this.scandir = path.join(root, 'scandir');
    this.liveDir = path.join(root, 'live');
    this.catchAllLog = path.join(root, 'catch-all.log');
    const merged: NodeJS.ProcessEnv = { ...process.env, ...env };
    const p = merged['PATH'] ?? '/usr/local/bin:/usr/bin:/bin';
    if (fs.existsSync(EXECLINE_BIN) && !p.split(':').includes(EXECLINE_BIN)) merged['PATH'] = `${p}:${EXECLINE_BIN}`;
    this.env = merged;
  }

  /** cmd and args, run inside the test's network namespace when there is one. */
  private inNetns(cmd: string, args: string[]): [string, string[]] {
    return this.netns === null ? [cmd, args] : ['ip', ['netns', 'exec', this.netns, cmd, ...args]];
  }

  fifoFor(consumer: string): string {
    return path.join(this.liveDir, 'pipes', consumer);
  }

  /** Like s6-rc-compile + s6-rc-init: every longrun into the scandir, down. */
  install(): void {
    for (const d of ['pipes', 'oneshots', 'oneshot-runner']) fs.mkdirSync(path.join(this.liveDir, d), { recursive: true });
    fs.mkdirSync(this.scandir, { recursive: true });
    for (const s of this.g.svcs.values()) {
      if (s.type === 'longrun' && s.consumerFor.length > 0) {
        const fifo = this.fifoFor(s.name);
        execFileSync('mkfifo', ['-m', '0600', fifo]);
        // The harness's fd plays s6-rc's fd holder: both ends stay open.
        this.fifoFds.push(fs.openSync(fifo, fs.constants.O_RDWR | fs.constants.O_NONBLOCK));
      }
    }
    for (const s of this.g.svcs.values()) {
      if (s.type === 'oneshot') {
        const dst = path.join(this.liveDir, 'oneshots', s.name);
        fs.mkdirSync(dst);
        for (const f of ['up', 'down']) {
          if (exists(path.join(s.src, f))) fs.copyFileSync(path.join(s.src, f), path.join(dst, f));
        }
      } else if (s.type === 'longrun') {
        this.installLongrun(s);
      }
    }
  }

  private installLongrun(s: ServiceDef): void {
    const dst = path.join(this.scandir, s.name);
    fs.mkdirSync(dst);
    fs.writeFileSync(path.join(dst, 'down'), '');
    for (const f of LONGRUN_FILES) {
      const from = path.join(s.src, f);
      if (!exists(from)) continue;
      fs.copyFileSync(from, path.join(dst, f));
      if (f === 'finish') fs.chmodSync(path.join(dst, f), 0o755);
    }
    for (const d of ['data', 'env']) {
      const from = path.join(s.src, d);
      if (!exists(from)) continue;
      if (!fs.statSync(from).isDirectory()) throw new Error(`${s.name}/${d} is not a directory`);
      fs.cpSync(from, path.join(dst, d), { recursive: true, preserveTimestamps: true });
    }
    const piped = s.consumerFor.length > 0 || s.producerFor !== null;
    const userRun = path.join(dst, piped ? 'run.user' : 'run');
    fs.copyFileSync(path.join(s.src, 'run'), userRun);
    fs.chmodSync(userRun, 0o755);
    if (piped) {
      const lines = ['#!/bin/execlineb -P'];
      if (s.consumerFor.length > 0) lines.push(`redirfd -rnb 0 ${execlineQuote(this.fifoFor(s.name))}`);
      if (s.producerFor !== null) lines.push(`redirfd -w 1 ${execlineQuote(this.fifoFor(s.producerFor))}`);
      lines.push('./run.user', '');
      fs.writeFileSync(path.join(dst, 'run'), lines.join('\n'), { mode: 0o755 });
    }
  }

  async startSvscan(): Promise<void> {
    const logFd = fs.openSync(this.catchAllLog, 'a');
    let child: ChildProcess;
    try {
      child = spawn(...this.inNetns('s6-svscan', ['-d', '3', this.scandir]), {
        cwd: this.root, env: this.env, detached: true, stdio: ['ignore', logFd, logFd, 'pipe'],
      });
    } finally {
      fs.closeSync(logFd);
    }
    this.svscan = child;
    child.unref();
    const notif = child.stdio[3];
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => fail(new Error('s6-svscan: no readiness notification within 10s')), 10000);
      const fail = (e: Error): void => { clearTimeout(timer); reject(e); };
      child.once('error', fail);
      child.once('exit', (code, sig) => fail(new Error(`s6-svscan exited early (${String(code ?? sig)}): ${this.readCatchAll()}`)));
      if (!(notif instanceof Readable)) { fail(new Error('no notification pipe')); return; }
      notif.on('data', () => { clearTimeout(timer); resolve(); });
    });
    if (child.pid === undefined) throw new Error('s6-svscan has no pid');
    this.svscanPid = child.pid;
    notif?.destroy();
    child.removeAllListeners('exit');
    child.removeAllListeners('error');
    child.on('error', () => { /* reported through waits */ });
    // Wait until every supervisor is running.
    const longruns = [...this.g.svcs.values()].filter((s) => s.type === 'longrun').map((s) => s.name);
    const deadline = Date.now() + 10000;
    for (const n of longruns) {
      while (!exists(path.join(this.scandir, n, 'supervise', 'control')) || (await run('s6-svok', [path.join(this.scandir, n)])).code !== 0) {
        if (Date.now() > deadline) throw new Error(`s6-supervise for ${n} did not start: ${this.readCatchAll()}`);
        await sleep(10);
      }
    }
  }

  readCatchAll(): string {
    try { return fs.readFileSync(this.catchAllLog, 'utf8'); } catch { return ''; }
  }

  private serialize<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.queue.then(fn, fn);
    this.queue = p.catch(() => undefined);
    return p;
  }

  private checkRunning(): void {
    if (this.stopped) throw new Error('emulator is stopped');
  }

  up(names: string[], opts: UpOptions = {}): Promise<void> {
    return this.serialize(async () => {
      this.checkRunning();
      const deadline = Date.now() + (opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
      for (const n of this.g.upClosure(this.g.expand(names))) {
        if (this.upSet.has(n)) continue;
        await this.startAtom(this.g.def(n), deadline);
        this.upSet.add(n);
        this.transitions.push(`up ${n}`);
      }
    });
  }

  down(names: string[], opts: UpOptions = {}): Promise<void> {
    return this.serialize(async () => {
      this.checkRunning();
      await this.downAtoms(this.g.expand(names), Date.now() + (opts.timeoutMs ?? DEFAULT_TIMEOUT_MS));
    });
  }

  private async downAtoms(atoms: string[], deadline: number): Promise<void> {
    for (const n of this.g.downClosure(atoms)) {
      if (!this.upSet.has(n)) continue;
      await this.stopAtom(this.g.def(n), deadline);
      this.upSet.delete(n);
      this.transitions.push(`down ${n}`);
    }
  }

  private timeoutFor(own: number, deadline: number, what: string): number {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`${what}: transition deadline exceeded`);
    return own > 0 ? Math.min(own, left) : left;
  }

  private async startAtom(s: ServiceDef, deadline: number): Promise<void> {
    const t = this.timeoutFor(s.timeoutUp, deadline, `up ${s.name}`);
    if (s.type === 'oneshot') {
      const r = await this.runOneshot(s, 'up', t);
      if (r.code !== 0) throw new Error(`oneshot ${s.name} up failed (${describe(r)})`);
      return;
    }
    const dir = this.serviceDir(s.name);
    fs.rmSync(path.join(dir, 'down'), { force: true });
    const wait = s.notificationFd !== null ? '-wU' : '-wu';
    const r = await run('s6-svc', ['-T', String(t), wait, '-u', dir], { env: this.env });
    if (r.code !== 0) {
      // Like a failed s6-rc transition: leave the longrun down.
      fs.writeFileSync(path.join(dir, 'down'), '');
      await run('s6-svc', ['-T', '5000', '-wD', '-d', dir], { env: this.env });
      const why = r.code === 99 ? `not ${wait === '-wU' ? 'ready' : 'up'} within ${t} ms` : describe(r);
      throw new Error(`longrun ${s.name} up failed (${why}); catch-all log:\n${this.readCatchAll().slice(-4000)}`);
    }
  }

  private async stopAtom(s: ServiceDef, deadline: number): Promise<void> {
    const t = this.timeoutFor(s.timeoutDown, deadline, `down ${s.name}`);
    if (s.type === 'oneshot') {
      if (!exists(path.join(this.serviceDir(s.name), 'down'))) return;
      const r = await this.runOneshot(s, 'down', t);
      if (r.code !== 0) throw new Error(`oneshot ${s.name} down failed (${describe(r)})`);
      return;
    }
    const dir = this.serviceDir(s.name);
    fs.writeFileSync(path.join(dir, 'down'), '');
    const r = await run('s6-svc', ['-T', String(t), '-wD', '-d', dir], { env: this.env });
    if (r.code !== 0) {
      const why = r.code === 99 ? `not down within ${t} ms` : describe(r);
      throw new Error(`longrun ${s.name} down failed (${why})`);
    }
  }

  /** The file is lexed as ONE execline command line, like s6-rc-compile does. */
  private runOneshot(s: ServiceDef, which: 'up' | 'down', timeoutMs: number): Promise<RunResult> {
    const file = path.join(this.serviceDir(s.name), which);
    return run(...this.inNetns(EXECLINEB, ['-P', file]), {
      cwd: path.join(this.liveDir, 'oneshot-runner'), env: { ...this.env, RC_NAME: s.name }, timeoutMs,
    });
  }

  isUp(name: string): boolean {
    return this.g.expand([name]).every((a) => this.upSet.has(a));
  }

  servicePid(name: string): number | null {
    const s = this.g.def(name);
    if (s.type !== 'longrun' || this.stopped) return null;
    try {
      const out = execFileSync('s6-svstat', ['-o', 'pid', this.serviceDir(name)], { encoding: 'utf8', env: this.env });
      const pid = Number.parseInt(out.trim(), 10);
      return Number.isFinite(pid) && pid > 0 ? pid : null;
    } catch {
      return null;
    }
  }

  serviceDir(name: string): string {
    const s = this.g.def(name);
    if (s.type === 'longrun') return path.join(this.scandir, name);
    if (s.type === 'oneshot') return path.join(this.liveDir, 'oneshots', name);
    throw new Error(`${name} is a bundle`);
  }

  stop(): Promise<void> {
    return this.serialize(async () => {
      if (this.stopped) return;
      let firstError: unknown = null;
      try {
        if (this.svscan !== null) await this.downAtoms([...this.upSet], Date.now() + DEFAULT_TIMEOUT_MS);
      } catch (e) {
        firstError = e;
      }
      this.stopped = true;
      if (this.svscan !== null && this.svscan.exitCode === null && this.svscan.signalCode === null) {
        await run('s6-svscanctl', ['-t', this.scandir], { env: this.env }).catch(() => undefined);
        const until = Date.now() + 5000;
        while (isAlive(this.svscanPid) && Date.now() < until) await sleep(20);
        if (isAlive(this.svscanPid)) process.kill(this.svscanPid, 'SIGKILL');
      }
      // Let the supervisors finish; whatever else is left (e.g. background
      // children of oneshots) is killed.
      const supervisorLeft = (): boolean => fs.readdirSync('/proc').some((e) => {
        if (!/^\d+$/.test(e) || comm(Number(e)) !== 's6-supervise' || !isAlive(Number(e))) return false;
        try { return fs.readlinkSync(`/proc/${e}/cwd`).startsWith(this.root + '/'); } catch { return false; }
      });
      const until = Date.now() + 5000;
      while (supervisorLeft() && Date.now() < until) await sleep(20);
      this.finalCleanup();
      if (firstError !== null) throw firstError;
    });
  }

  private finalCleanup(): void {
    killAllUnder(this.root);
    for (const fd of this.fifoFds.splice(0)) {
      try { fs.closeSync(fd); } catch { /* already closed */ }
    }
    fs.rmSync(this.root, { recursive: true, force: true });
    liveEmulators.delete(this);
  }

  /** Synchronous last resort, used from process 'exit'. */
  emergencyCleanup(): void {
    this.stopped = true;
    if (this.svscanPid > 0 && isAlive(this.svscanPid)) {
      try { process.kill(this.svscanPid, 'SIGKILL'); } catch { /* gone */ }
    }
    try { this.finalCleanup(); } catch { /* best effort */ }
  }
}

/**
 * Load the source dirs (validated: types, names, pipelines, cycles), install
 * every longrun (down) in a fresh scandir and start s6-svscan on it. Nothing
 * is brought up. Always call stop(), e.g. in t.teardown().
 */
export async function startEmulator(sourceDirs: string[], opts: EmulatorOptions = {}): Promise<Emulator> {
  const g = new Graph(loadServices(sourceDirs));
  const parent = opts.workDir ?? os.tmpdir();
  fs.mkdirSync(parent, { recursive: true });
  const root = fs.mkdtempSync(path.join(fs.realpathSync(parent), 's6rc-emu-'));
  const emu = new EmulatorImpl(root, g, opts.env ?? {}, opts.netns ?? null);
  installExitHook();
  liveEmulators.add(emu);
  try {
    emu.install();
    await emu.startSvscan();
  } catch (e) {
    emu.emergencyCleanup();
    throw e;
  }
  return emu;
}

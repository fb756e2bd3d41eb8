/**
 * Test harness: the services of an s6-rc SOURCE tree, run by the real s6-rc.
 * The tree is compiled with the real s6-rc-compile, the prefix's s6-svscan
 * runs on a private scandir (inside the test's network namespace when it
 * gives one, so oneshots that make interfaces run there too: s6-rc runs them
 * through s6rc-oneshot-runner, a service of that supervision tree), s6-rc-init
 * loads the database, and services go up and down with
 * `s6-rc -l LIVE -u/-d change`. Every state the harness reports is read back
 * from s6-rc (`s6-rc -a list`) or s6 (`s6-svstat`), never kept by the harness.
 *
 * s6-svscan's stdout and stderr (so every service's stderr, and the stdout of
 * longruns that are not producers) go to `catchAllLog`.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { Readable } from 'node:stream';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { realCompile, type RealS6rc } from './real-s6rc.js';
import { tempDir } from './data-dir.js';
import { withOpenTun } from './tun.js';

export interface HarnessOptions {
  /** Extra environment for s6-svscan, so for every service and oneshot. */
  env?: Record<string, string>;
  /** Parent directory for the harness's temp dir (default os.tmpdir()). */
  workDir?: string;
  /** A network namespace (made by the test) to run the supervision tree, so every oneshot, in. */
  netns?: string;
}

export interface ChangeOptions {
  /** Deadline for the whole `s6-rc change` (its -t), default 20000 ms. */
  timeoutMs?: number;
}

export interface S6rcHarness {
  /** Harness temp dir; everything the harness creates lives below it. */
  readonly root: string;
  /** The compiled database. */
  readonly compiled: string;
  /** The directory s6-svscan watches (s6-rc-init links the longruns into it). */
  readonly scandir: string;
  /** s6-rc's live dir (the -l argument). */
  readonly liveDir: string;
  /** File receiving s6-svscan's stdout and stderr. */
  readonly catchAllLog: string;
  readonly svscanPid: number;
  /** Completed transitions as s6-rc reported them (-v 2), in order: "up NAME" / "down NAME". */
  readonly transitions: readonly string[];
  /** `s6-rc -u change NAMES`; rejects with s6-rc's messages when it fails. */
  up(names: readonly string[], opts?: ChangeOptions): Promise<void>;
  /** `s6-rc -d change NAMES`: they and everything that depends on them go down. */
  down(names: readonly string[], opts?: ChangeOptions): Promise<void>;
  /** Everything down, s6-svscan stopped, every process below root gone (checked), root removed. Idempotent. */
  stop(): Promise<void>;
  /** True if s6-rc has the atom, or every atom of the bundle, up. */
  isUp(name: string): boolean;
  /** pid of a longrun's process (s6-svstat), null if it is down or not a longrun. */
  servicePid(name: string): number | null;
  /** A longrun's live service dir, as linked in the scandir. */
  serviceDir(name: string): string;
}

const DEFAULT_TIMEOUT_MS = 20_000;
/** stop() as a whole: bringing everything down, then the supervision tree. */
const STOP_DOWN_MS = 15_000;
const STOP_SVSCAN_MS = 5_000;

interface RunResult { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; timedOut: boolean }

function run(cmd: string, args: readonly string[], o: { env: NodeJS.ProcessEnv; timeoutMs: number }): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: o.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    const killer = setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, o.timeoutMs);
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      clearTimeout(killer);
      // A oneshot's background child inherits s6-rc's stdout and stderr (s6-sudod passes them on).
      child.stdout.destroy();
      child.stderr.destroy();
      resolve({ code: child.exitCode, signal: child.signalCode, stdout, stderr, timedOut });
    };
    child.once('error', (e) => { clearTimeout(killer); done = true; reject(e); });
    child.once('close', finish);
    child.once('exit', () => { setTimeout(() => setImmediate(finish), 500); });
  });
}

function describe(r: RunResult): string {
  const how = r.timedOut ? 'killed after its deadline' : r.signal !== null ? `killed by ${r.signal}` : `exit code ${String(r.code)}`;
  const msg = `${r.stdout}${r.stderr}`.trim();
  return msg === '' ? how : `${how}: ${msg}`;
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

function cmdline(pid: number): string {
  try { return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim(); } catch { return 'gone'; }
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

/** Harnesses not yet stopped: killed synchronously if the test process exits first. */
const live = new Set<Harness>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const h of live) h.emergencyCleanup();
  });
}

const TRANSITION = /^s6-rc: info: service (.*) successfully (started|stopped)$/;

class Harness implements S6rcHarness {
  readonly compiled: string;
  readonly scandir: string;
  /** s6-rc-init makes LIVE a symlink to LIVE:s6-rc-init:XXXX, a sibling: both stay below root. */
  readonly liveDir: string;
  readonly catchAllLog: string;
  svscanPid = 0;
  readonly transitions: string[] = [];
  private stopped = false;
  private readonly env: NodeJS.ProcessEnv;

  constructor(readonly root: string, private readonly s6rc: RealS6rc, env: Record<string, string>, private readonly netns: string | null) {
    this.compiled = path.join(root, 'compiled');
    this.scandir = path.join(root, 'scandir');
    this.liveDir = path.join(root, 'live');
    this.catchAllLog = path.join(root, 'catch-all.log');
    this.env = s6rc.env(env);
  }

  compile(sourceDirs: readonly string[]): void {
    const r = realCompile(this.s6rc, this.compiled, sourceDirs);
    if (r.code !== 0) throw new Error(`s6-rc-compile failed (${r.signal ?? String(r.code)}): ${r.stderr.trim()}`);
  }

  async startSvscan(): Promise<void> {
    fs.mkdirSync(this.scandir);
    // Every VMM runs as a uid of its own: it must be able to open /dev/net/tun, as on a Debian host.
    const argv = withOpenTun(this.root, [this.s6rc.bin('s6-svscan'), '-d', '3', this.scandir], this.netns !== null);
    const [cmd, ...args] = this.netns === null ? argv : ['ip', 'netns', 'exec', this.netns, ...argv];
    const logFd = fs.openSync(this.catchAllLog, 'a');
    let child: ChildProcess;
    try {
      child = spawn(cmd ?? '', args, { cwd: this.root, env: this.env, detached: true, stdio: ['ignore', logFd, logFd, 'pipe'] });
    } finally {
      fs.closeSync(logFd);
    }
    child.unref();
    const notif = child.stdio[3];
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => fail(new Error('s6-svscan: no readiness notification within 10s')), 10_000);
      const fail = (e: Error): void => { clearTimeout(timer); reject(e); };
      child.once('error', fail);
      child.once('exit', (code, sig) => fail(new Error(`s6-svscan exited early (${String(code ?? sig)}): ${this.readCatchAll()}`)));
      if (!(notif instanceof Readable)) { fail(new Error('no notification pipe')); return; }
      notif.on('data', () => { clearTimeout(timer); resolve(); });
    });
    if (child.pid === undefined) throw new Error('s6-svscan has no pid');
    this.svscanPid = child.pid;
    if (notif instanceof Readable) notif.destroy();
    child.removeAllListeners('exit');
    child.removeAllListeners('error');
    child.on('error', () => { /* stop() checks the pid */ });
  }

  async init(): Promise<void> {
    const r = await run(this.s6rc.bin('s6-rc-init'), ['-c', this.compiled, '-l', this.liveDir, '-t', '10000', this.scandir], { env: this.env, timeoutMs: 15_000 });
    if (r.code !== 0) throw new Error(`s6-rc-init failed (${describe(r)}); catch-all log:\n${this.readCatchAll().slice(-4000)}`);
  }

  readCatchAll(): string {
    try { return fs.readFileSync(this.catchAllLog, 'utf8'); } catch { return ''; }
  }

  private async change(flags: readonly string[], names: readonly string[], timeoutMs: number): Promise<void> {
    if (this.stopped) throw new Error('the s6-rc harness is stopped');
    const r = await run(this.s6rc.bin('s6-rc'), ['-l', this.liveDir, '-v', '2', '-t', String(timeoutMs), ...flags, 'change', ...names], {
      env: this.env, timeoutMs: timeoutMs + 5_000,
    });
    for (const line of r.stderr.split('\n')) {
      const m = TRANSITION.exec(line);
      if (m !== null) this.transitions.push(`${m[2] === 'started' ? 'up' : 'down'} ${m[1] ?? ''}`);
    }
    if (r.code !== 0) {
      throw new Error(`s6-rc ${flags.join(' ')} change ${names.join(' ')} failed (${describe(r)}); catch-all log:\n${this.readCatchAll().slice(-4000)}`);
    }
  }

  up(names: readonly string[], opts: ChangeOptions = {}): Promise<void> {
    return this.change(['-u'], names, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  }

  down(names: readonly string[], opts: ChangeOptions = {}): Promise<void> {
    return this.change(['-d'], names, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  }

  private list(args: readonly string[]): string[] {
    const out = execFileSync(this.s6rc.bin('s6-rc'), ['-l', this.liveDir, ...args], { encoding: 'utf8', env: this.env });
    return out.split('\n').filter((l) => l !== '');
  }

  isUp(name: string): boolean {
    if (this.stopped) return false;
    const active = new Set(this.list(['-a', 'list']));
    return this.list(['list', name]).every((atom) => active.has(atom));
  }

  servicePid(name: string): number | null {
    if (this.stopped) return null;
    const dir = path.join(this.scandir, name);
    if (!fs.existsSync(dir)) return null;
    const out = execFileSync(this.s6rc.bin('s6-svstat'), ['-o', 'pid', dir], { encoding: 'utf8', env: this.env });
    const pid = Number.parseInt(out.trim(), 10);
    return Number.isFinite(pid) && pid > 0 ? pid : null;
  }

  serviceDir(name: string): string {
    const dir = path.join(this.scandir, name);
    if (!fs.existsSync(dir)) throw new Error(`${name} is not a longrun of this database`);
    return dir;
  }

  private stopping: Promise<void> | null = null;

  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    const problems: string[] = [];
    if (fs.existsSync(this.liveDir)) {
      // -D: the oneshots' down scripts run too, so the namespace is left as it was.
      await this.change(['-D', '-a'], [], STOP_DOWN_MS).catch((e: unknown) => { problems.push(String(e)); });
    }
    this.stopped = true;
    if (this.svscanPid > 0 && isAlive(this.svscanPid)) {
      await run(this.s6rc.bin('s6-svscanctl'), ['-t', this.scandir], { env: this.env, timeoutMs: STOP_SVSCAN_MS }).catch(() => undefined);
      const until = Date.now() + STOP_SVSCAN_MS;
      while (isAlive(this.svscanPid) && Date.now() < until) await sleep(20);
      if (isAlive(this.svscanPid)) {
        problems.push(`s6-svscan (pid ${this.svscanPid}) did not exit within ${STOP_SVSCAN_MS} ms of s6-svscanctl -t`);
        process.kill(this.svscanPid, 'SIGKILL');
      }
    }
    // Supervisors exit once their service has; give them a moment before the last resort.
    const until = Date.now() + STOP_SVSCAN_MS;
    while (findProcessesUnder(this.root).length > 0 && Date.now() < until) await sleep(20);
    const left = findProcessesUnder(this.root);
    if (left.length > 0) problems.push(`processes left below ${this.root} after s6-svscan exited: ${left.map((p) => `${p} (${cmdline(p)})`).join(', ')}`);
    this.finalCleanup();
    if (problems.length > 0) throw new Error(problems.join('\n'));
  }

  private finalCleanup(): void {
    killAllUnder(this.root);
    fs.rmSync(this.root, { recursive: true, force: true });
    live.delete(this);
  }

  /** Synchronous last resort, used from process 'exit' and after a failed start. */
  emergencyCleanup(): void {
    this.stopped = true;
    if (this.svscanPid > 0 && isAlive(this.svscanPid)) {
      try { process.kill(this.svscanPid, 'SIGKILL'); } catch { /* gone */ }
    }
    try { this.finalCleanup(); } catch { /* best effort */ }
  }
}

/**
 * Compile the source dirs with the real s6-rc-compile, start s6-svscan on a
 * fresh scandir and s6-rc-init it: every service is down. Always call stop(),
 * e.g. in t.teardown().
 */
export async function startS6rc(s6rc: RealS6rc, sourceDirs: readonly string[], opts: HarnessOptions = {}): Promise<S6rcHarness> {
  const parent = opts.workDir ?? os.tmpdir();
  fs.mkdirSync(parent, { recursive: true });
  const root = tempDir('s6rc-real-', fs.realpathSync(parent));
  const h = new Harness(root, s6rc, opts.env ?? {}, opts.netns ?? null);
  installExitHook();
  live.add(h);
  try {
    h.compile(sourceDirs);
    await h.startSvscan();
    await h.init();
  } catch (e) {
    h.emergencyCleanup();
    throw e;
  }
  return h;
}

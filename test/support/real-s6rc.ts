/**
 * The real skarnet s6-rc (with the s6 and execline it was built against),
 * when this machine has it. Debian does not package s6-rc, so it is built by
 * hand under a prefix: VMSVC_S6RC_PREFIX names it, /opt/skarnet by default.
 * Tests that need it register through `realS6rcTest`, which skips them with
 * the reason in the title when it is absent, so the suite's summary counts
 * and names them. Services run under it by s6rc-harness.ts.
 */
import test, { type ExecutionContext } from 'ava';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface RealS6rc {
  readonly prefix: string;
  /** Absolute path of one of the prefix's programs (s6-rc-compile, s6-svscan, execlineb, ...). */
  bin(program: string): string;
  /** An environment whose PATH finds the prefix's programs first, so services run with the same s6 and execline. */
  env(extra?: NodeJS.ProcessEnv): NodeJS.ProcessEnv;
}

const REQUIRED = ['s6-rc-compile', 's6-rc-init', 's6-rc', 's6-rc-update', 's6-svscan', 'execlineb'] as const;

function find(): RealS6rc | string {
  const prefix = process.env.VMSVC_S6RC_PREFIX ?? '/opt/skarnet';
  for (const p of REQUIRED) {
    try {
      fs.accessSync(path.join(prefix, 'bin', p), fs.constants.X_OK);
    } catch {
      return `real s6-rc not found: no executable ${path.join(prefix, 'bin', p)} (set VMSVC_S6RC_PREFIX)`;
    }
  }
  const binDir = path.join(prefix, 'bin');
  return {
    prefix,
    bin: (program) => path.join(binDir, program),
    env: (extra = {}) => ({ ...process.env, ...extra, PATH: `${binDir}:${extra.PATH ?? process.env.PATH ?? '/usr/bin:/bin'}` }),
  };
}

const found = find();

/** The real s6-rc, or null when it is absent (then `realS6rcMissing` says why). */
export const realS6rc: RealS6rc | null = typeof found === 'string' ? null : found;
export const realS6rcMissing: string | null = typeof found === 'string' ? found : null;

/** A serial test that needs the real s6-rc: skipped, with the reason in its title, when it is absent. */
export function realS6rcTest(title: string, fn: (t: ExecutionContext, s6rc: RealS6rc) => Promise<void> | void): void {
  if (realS6rc === null) {
    test.serial.skip(`${title} [skipped: ${realS6rcMissing ?? ''}]`, () => {});
    return;
  }
  const s6rc = realS6rc;
  test.serial(title, (t) => fn(t, s6rc));
}

export interface CompileResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stderr: string;
}

/**
 * The real s6-rc-compile of `sources` into `compiled` (which must not exist).
 * It keeps its dependency matrix on the stack and dies with SIGSEGV past
 * about 3300 VMs under the default 8 MiB, so it runs with no stack limit.
 */
export function realCompile(s6rc: RealS6rc, compiled: string, sources: readonly string[]): CompileResult {
  const r = spawnSync('sh', ['-c', 'ulimit -s unlimited && exec "$@"', 'sh', s6rc.bin('s6-rc-compile'), '--', compiled, ...sources], {
    encoding: 'utf8', env: s6rc.env(), timeout: 300_000, maxBuffer: 64 * 1024 * 1024,
  });
  if (r.error !== undefined) throw r.error;
  return { code: r.status, signal: r.signal, stderr: r.stderr };
}

/**
 * Why the real s6-rc-compile refuses the tree made of `sources`: [] when it
 * compiles, and when the real s6-rc is absent (the TS checker, which every
 * caller also runs, is then the only judge). Compiles into a temp dir,
 * removed after.
 */
export function realCompileProblems(sources: readonly string[]): string[] {
  if (realS6rc === null) return [];
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vmsvc-real-compile-'));
  try {
    const r = realCompile(realS6rc, path.join(tmp, 'compiled'), sources);
    if (r.code === 0) return [];
    return [`s6-rc-compile ${r.signal !== null ? `died of ${r.signal}` : `exited ${String(r.code)}`}`, ...r.stderr.split('\n').filter((l) => l !== '').slice(0, 20)];
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

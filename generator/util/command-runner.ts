/**
 * How vmsvc runs other programs (s6-rc, s6-svstat): through an injected
 * runner, so tests can record instead of running. child_process is loaded
 * only when a program is run: a plain generate at boot never needs it.
 */
import { createRequire } from 'node:module';
import { printable } from './bytes.js';

export interface CommandResult {
  /** Exit code; 127 when the program could not be run, 128 when a signal killed it. */
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** For a program that reads stdin or might not end by itself (a probe). */
export interface RunOptions {
  /** Given on stdin, then EOF; default: stdin is /dev/null. */
  readonly input?: string;
  /** SIGKILLed after this long (it then counts as killed by a signal). */
  readonly timeoutMs?: number;
}

/** Runs one program to completion. argv[0] is the program (looked up in PATH). */
export interface CommandRunner {
  run(argv: readonly string[], opts?: RunOptions): CommandResult;
}

type ChildProcess = typeof import('node:child_process');

export const spawnRunner: CommandRunner = {
  run(argv, opts = {}) {
    const [program, ...args] = argv;
    if (program === undefined) return { code: 127, stdout: '', stderr: 'no program given\n' };
    const { spawnSync } = createRequire(import.meta.url)('node:child_process') as ChildProcess;
    const r = spawnSync(program, args, {
      encoding: 'utf8',
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      maxBuffer: 64 * 1024 * 1024,
      ...(opts.input === undefined ? {} : { input: opts.input }),
      ...(opts.timeoutMs === undefined ? {} : { timeout: opts.timeoutMs, killSignal: 'SIGKILL' as const }),
    });
    // A timeout is an error to spawnSync too, but the program ran: it was killed.
    if (r.signal !== null) {
      const late = opts.timeoutMs !== undefined && r.error !== undefined ? ` after ${opts.timeoutMs} ms` : '';
      return { code: 128, stdout: r.stdout, stderr: `${r.stderr}${program} killed by ${r.signal}${late}\n` };
    }
    // It ran and exited; an error beside that is its stdin closed before it read all of `input` (EPIPE).
    if (r.status !== null) return { code: r.status, stdout: r.stdout, stderr: r.stderr };
    return { code: 127, stdout: '', stderr: `cannot run ${program}: ${r.error?.message ?? 'no exit status'}\n` };
  },
};

/** An argv as one line for messages: plain words as they are, others JSON-quoted, terminal escapes made visible. */
export function showArgv(argv: readonly string[]): string {
  return argv.map((a) => (/^[A-Za-z0-9_./:=@%+,-]+$/.test(a) ? a : printable(JSON.stringify(a)))).join(' ');
}

/**
 * The live state of the services under s6: `s6-svstat` and `s6-svdt` on
 * their directories in s6-rc's scandir.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnRunner, type CommandRunner } from '../util/command-runner.js';

/** Where the live services are: s6-rc's scandir and the s6-rc-init -p prefix of their names. */
export interface LiveLocation {
  readonly scandir: string;
  readonly prefix?: string;
}

export function liveServiceDir(live: LiveLocation, service: string): string {
  return path.join(live.scandir, `${live.prefix ?? ''}${service}`);
}

/**
 * - missing: no such service directory in the scandir (not loaded by s6-rc, or another prefix);
 * - unsupervised: the directory exists but no s6-supervise runs on it;
 * - down / up / ready: as s6-svstat reports (ready: up and readiness notified);
 * - failed: down, and its supervisor will not restart it although the service
 *   is meant to run: s6-rc removes the service's ./down file when it brings it
 *   up and puts it back when it takes it down, so "normally up" is s6-rc's
 *   belief, and "not wanted up" is s6-supervise's. The finish script's
 *   s6-permafailon (a crash loop) gets there; so does an s6-svc -d run by hand,
 *   outside s6-rc. Either way s6-rc still counts it as up, and only
 *   `vmsvc start` brings it back.
 */
export type LiveStateName = 'missing' | 'unsupervised' | 'down' | 'failed' | 'up' | 'ready';

/** Not running, or not known to run: a running client whose provider is so has no network through it. */
export const isStopped = (s: LiveStateName): boolean => s === 'down' || s === 'failed' || s === 'missing' || s === 'unsupervised';

export interface LiveState {
  readonly service: string;
  readonly dir: string;
  readonly state: LiveStateName;
  /** Process id while up. */
  readonly pid: number | null;
  /** Seconds in the current up or down state (s6-svstat updownfor). */
  readonly forSeconds: number | null;
  /** Seconds up; null when not up. */
  readonly uptimeSeconds: number | null;
  readonly wantedUp: boolean | null;
  readonly normallyUp: boolean | null;
  /** How the last process ended, when down: exit code or signal name. */
  readonly lastExit: { readonly code: number | null; readonly signal: string | null } | null;
  /**
   * Process deaths s6-supervise recorded (s6-svdt): every end of the process
   * since the last stop (a VM's finish script clears the tally after a death
   * not wanted up) or since the supervisor started, capped by
   * max-death-tally (default 100). Null when unavailable.
   */
  readonly deaths: number | null;
  /** What s6-svstat said when it could not report. */
  readonly detail: string | null;
}

const SVSTAT_FIELDS = ['up', 'wantedup', 'normallyup', 'ready', 'pid', 'exitcode', 'signal', 'updownfor'] as const;

/** The state of one service, from `s6-svstat -o ...` and `s6-svdt` (s6 2.11). */
export async function liveState(live: LiveLocation, service: string, runner: CommandRunner = spawnRunner): Promise<LiveState> {
  const dir = liveServiceDir(live, service);
  const base = { service, dir, pid: null, forSeconds: null, uptimeSeconds: null, wantedUp: null, normallyUp: null, lastExit: null, deaths: null } as const;
  if (!fs.existsSync(dir)) return { ...base, state: 'missing', detail: `no directory ${dir}` };
  const r = await runner.run(['s6-svstat', '-o', SVSTAT_FIELDS.join(','), dir]);
  if (r.code !== 0) return { ...base, state: 'unsupervised', detail: (r.stderr.trim() || `s6-svstat exited ${r.code}`) };
  const f = r.stdout.trim().split(/\s+/);
  if (f.length !== SVSTAT_FIELDS.length) return { ...base, state: 'unsupervised', detail: `unexpected s6-svstat output: ${r.stdout.trim()}` };
  const [up, wantedUp, normallyUp, ready, pid, exitCode, signal, updownfor] = f as [string, string, string, string, string, string, string, string];
  const isUp = up === 'true';
  const failed = !isUp && wantedUp === 'false' && normallyUp === 'true';
  const forSeconds = Number.parseInt(updownfor, 10);
  const dt = await runner.run(['s6-svdt', dir]);
  const deaths = dt.code === 0 ? dt.stdout.split('\n').filter((l) => l.trim() !== '').length : null;
  return {
    ...base,
    state: isUp ? (ready === 'true' ? 'ready' : 'up') : failed ? 'failed' : 'down',
    pid: isUp && Number.parseInt(pid, 10) > 0 ? Number.parseInt(pid, 10) : null,
    forSeconds: Number.isFinite(forSeconds) ? forSeconds : null,
    uptimeSeconds: isUp && Number.isFinite(forSeconds) ? forSeconds : null,
    wantedUp: wantedUp === 'true',
    normallyUp: normallyUp === 'true',
    lastExit: isUp ? null : {
      code: Number.parseInt(exitCode, 10) >= 0 ? Number.parseInt(exitCode, 10) : null,
      signal: signal === 'NA' ? null : signal,
    },
    deaths,
    detail: null,
  };
}

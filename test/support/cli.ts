/** Runs the built CLI (bin/vmsvc.js, as installed) and captures what a user would see. */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const VMSVC = fileURLToPath(new URL('../../bin/vmsvc.js', import.meta.url));

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export function vmsvc(args: readonly string[], env: NodeJS.ProcessEnv = process.env): CliResult {
  const r = spawnSync(process.execPath, [VMSVC, ...args], { encoding: 'utf8', env, timeout: 60_000 });
  if (r.error !== undefined) throw r.error;
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

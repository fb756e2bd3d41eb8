/** Runs the built CLI (bin/vmsvc.cjs, as installed) and captures what a user would see. */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { checkS6rcSource } from '../../generator/s6rc/source-check.js';
import { realCompileProblems } from './real-s6rc.js';

export const VMSVC = fileURLToPath(new URL('../../bin/vmsvc.cjs', import.meta.url));

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * The commands that make VM services, which run on this machine in the
 * tests: its cgroup v2 hierarchy has no controllers (they are bound to v1),
 * so the VMs run without cgroups (--cgroup none) unless a test asks for one
 * (the cgroup tests, which run the scripts in a guest whose kernel has them).
 */
const MAKES_SERVICES = new Set(['generate', 'apply', 'check']);

export function withoutCgroup(args: readonly string[]): readonly string[] {
  return MAKES_SERVICES.has(args[0] ?? '') && !args.includes('--cgroup') ? [...args, '--cgroup', 'none'] : args;
}

/** `timeoutMs` bounds the run; apply, which brings VMs up, needs more than a check on a loaded machine. */
export function vmsvc(given: readonly string[], env: NodeJS.ProcessEnv = process.env, timeoutMs = 60_000): CliResult {
  const args = withoutCgroup(given);
  const r = spawnSync(process.execPath, [VMSVC, ...args], { encoding: 'utf8', env, timeout: timeoutMs });
  if (r.error !== undefined) throw r.error;
  // Every tree a test generates must also pass the s6-rc source checker, and the real s6-rc-compile when it is here.
  const out = args.includes('--out') ? args[args.indexOf('--out') + 1] : undefined;
  if (args[0] === 'generate' && r.status === 0 && out !== undefined) {
    const problems = checkS6rcSource([out], { prefix: args.includes('--live-prefix') ? args[args.indexOf('--live-prefix') + 1] ?? '' : '' });
    if (problems.length > 0) throw new Error(`generated tree ${out} fails the s6-rc checker: ${JSON.stringify(problems)}`);
    const refused = realCompileProblems([out]);
    if (refused.length > 0) throw new Error(`generated tree ${out} passes the s6-rc checker but the real s6-rc-compile refuses it: ${refused.join('\n')}`);
  }
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

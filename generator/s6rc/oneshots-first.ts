/**
 * The oneshots a `s6-rc -u change NAMES` would start, in groups to start
 * before the rest.
 *
 * s6-rc runs a oneshot through s6-sudo to s6rc-oneshot-runner and gives it
 * 30 s to get the runner's banner (`s6-sudo -t 30000`, s6-rc 0.7.0.0
 * src/s6-rc/s6-rc.c:198-201), and the runner serves 40 clients at once
 * (s6-ipcserverd's default `-c`, s6 2.15.1.0
 * src/conn-tools/s6-ipcserverd.c:30; s6-rc-compile.c:1087 passes none). One change
 * that starts a thousand VMs starts their loggers alongside the links, and
 * on 2 cores the runner was starved past those 30 s: links failed with
 * "unable to connect to the s6-sudod server" and their VMs with them. Started
 * first, in groups no larger than the runner serves, a oneshot competes with
 * nothing the change starts and never waits for a slot.
 */
import * as path from 'node:path';
import { chunks } from '../util/chunks.js';
import { lexists } from '../util/fs-probe.js';
import type { CommandResult, CommandRunner } from '../util/command-runner.js';
import { upList } from './up-list.js';

/** How many clients s6rc-oneshot-runner serves at once. */
export const ONESHOT_RUNNER_SLOTS = 40;

export type OneshotGroups =
  | { readonly ok: true; readonly groups: readonly (readonly string[])[] }
  /** `argv` failed: `result` says how, for the caller's message. */
  | { readonly ok: false; readonly argv: readonly string[]; readonly result: CommandResult };

/**
 * The oneshots among what `s6-rc -u change names` would bring up (`s6-rc -u
 * listall`, atomic services only) that are down, in s6-rc's order, in groups
 * of at most ONESHOT_RUNNER_SLOTS. A oneshot is an atomic service with no
 * directory in LIVE/servicedirs, where s6-rc-init and s6-rc-update put every
 * longrun's. `blocking`: -b, wait for s6-rc's lock rather than fail while a
 * change holds it.
 */
export function oneshotGroups(runner: CommandRunner, rc: string, live: string, names: readonly string[], blocking: boolean): OneshotGroups {
  if (names.length === 0) return { ok: true, groups: [] };
  const argv = [rc, '-l', live, ...(blocking ? ['-b'] : []), '-u', 'listall', ...names];
  const result = runner.run(argv);
  if (result.code !== 0) return { ok: false, argv, result };
  const oneshots = result.stdout.split('\n').filter((s) => s !== '' && !lexists(path.join(live, 'servicedirs', s)));
  if (oneshots.length === 0) return { ok: true, groups: [] };
  const up = upList(runner, rc, live, blocking);
  if (!up.ok) return up;
  return { ok: true, groups: chunks(oneshots.filter((s) => !up.up.has(s)), ONESHOT_RUNNER_SLOTS) };
}

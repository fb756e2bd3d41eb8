/**
 * The programs apply runs itself, each declared once: its key in
 * S6rcPrograms, the flag that names another, and its default, a name
 * looked up in PATH. check --host looks for them too.
 */
import { programPaths, type ProgramTable } from '../util/programs.js';
import { defaultPipePrograms, type PipePrograms } from './pipe-repair.js';

export const APPLY_PROGRAMS = {
  compile: { flag: 's6-rc-compile', path: 's6-rc-compile', describe: 's6-rc-compile program' },
  init: { flag: 's6-rc-init', path: 's6-rc-init', describe: 's6-rc-init program' },
  update: { flag: 's6-rc-update', path: 's6-rc-update', describe: 's6-rc-update program' },
  /** Raises the stack limit for s6-rc-compile and s6-rc-update when a large database needs it (s6rc/resources.ts). */
  softlimit: { flag: 's6-softlimit', path: 's6-softlimit', describe: 'runs s6-rc-compile and s6-rc-update with a larger stack when a large database needs one' },
  /** Brings the autostart VMs up, and stops and starts what an update restarts. */
  rc: { flag: 's6-rc', path: 's6-rc', describe: 's6-rc program, which brings the autostart bundle up' },
  /** Makes s6-svscan scan, and stop the supervisors of unlinked services (supervisors.ts). */
  svscanctl: { flag: 's6-svscanctl', path: 's6-svscanctl', describe: 's6-svscanctl program, which makes s6-svscan supervise the new services and let go of the removed ones' },
} as const satisfies ProgramTable;

export type S6rcPrograms = { readonly [P in keyof typeof APPLY_PROGRAMS]: string } & {
  /** List and refill s6rc-fdholder's pipes after a killed s6-rc-update (pipe-repair.ts); no flag names them. */
  readonly pipes: PipePrograms;
};

export const defaultS6rcPrograms: S6rcPrograms = { ...programPaths(APPLY_PROGRAMS, (p) => p.path), pipes: defaultPipePrograms };

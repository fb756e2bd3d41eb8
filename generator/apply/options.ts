/** What `vmsvc apply` is told: where, how, and which programs it runs. */
import type { GeneratorOptions } from '../pipeline/options.js';
import { defaultPipePrograms, type PipePrograms } from './pipe-repair.js';

export interface S6rcPrograms {
  readonly compile: string;
  readonly init: string;
  readonly update: string;
  /** Raises the stack limit for s6-rc-compile and s6-rc-update when a large database needs it (s6rc/host-limits.ts). */
  readonly softlimit: string;
  /** Brings the autostart VMs up, and stops and starts what an update restarts. */
  readonly rc: string;
  /** Makes s6-svscan scan, and stop the supervisors of unlinked services (supervisors.ts). */
  readonly svscanctl: string;
  /** List and refill s6rc-fdholder's pipes after a killed s6-rc-update (pipe-repair.ts). */
  readonly pipes: PipePrograms;
}

export const defaultS6rcPrograms: S6rcPrograms = {
  compile: 's6-rc-compile', init: 's6-rc-init', update: 's6-rc-update', softlimit: 's6-softlimit', rc: 's6-rc', svscanctl: 's6-svscanctl',
  pipes: defaultPipePrograms,
};

export interface ApplyOptions {
  readonly data: string;
  /** Everything apply writes lives here. */
  readonly state: string;
  /** The directory s6-svscan watches (s6-rc-init's argument). */
  readonly scandir: string;
  /** s6-rc's live directory; default STATE/live. */
  readonly live?: string;
  /** s6-rc-init's -p prefix ('' for none); also the generator's livePrefix, for the name length check. */
  readonly prefix: string;
  /** Print what would be added, stopped and restarted; run nothing, write nothing. */
  readonly dryRun: boolean;
  /** Bring up the VMs marked config/autostart once the database is loaded (--no-autostart: false). */
  readonly autostart: boolean;
  /**
   * The -t of every s6-rc-init, s6-rc-update and s6-rc transition apply runs
   * (ms, more than 0): apply runs in the boot path and must end even when a
   * service never comes up.
   */
  readonly rcTimeoutMs: number;
  readonly generator: GeneratorOptions;
  /** Program names; the defaults are s6-rc-compile, s6-rc-init and s6-rc-update. */
  readonly programs?: Partial<S6rcPrograms>;
}

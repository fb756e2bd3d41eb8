/** What `vmsvc apply` is told: where, how, and which programs it runs (their table: programs.ts). */
import type { GeneratorOptions } from '../pipeline/options.js';
import type { S6rcPrograms } from './programs.js';

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
  /**
   * Remove a running VM whose new definition is refused (--drop-invalid),
   * rather than keep it on the definition it was last applied with.
   */
  readonly dropInvalid: boolean;
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

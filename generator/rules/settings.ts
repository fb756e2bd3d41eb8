/**
 * Per-VM settings: what may differ between VMs. The global flags are the
 * defaults; optional files in the VM's directory override them, within the
 * host's bounds, and the rules here judge those files.
 */

export interface VmSettings {
  /** Guest memory, VMM-neutral as --memory takes it: a number with an optional K, M or G. */
  readonly memory: string;
  readonly cpus: number;
  /** Appended to --cmdline, after a space; null: nothing. */
  readonly cmdlineExtra: string | null;
  readonly writableDisks: boolean;
  /** How long a stop waits for the guest to power off before the VMM is killed (ms). */
  readonly stopTimeoutMs: number;
  /** The VM counts as up only once the guest itself says READY=1. */
  readonly guestReady: boolean;
  /** A member of the autostart bundle, which the boot oneshot brings up. */
  readonly autostart: boolean;
}

/** The defaults, from the host's flags. */
export interface SettingDefaults {
  readonly memory: string;
  readonly cpus: number;
  readonly writableDisks: boolean;
  readonly stopTimeoutMs: number;
  readonly guestReady: boolean;
}

export function defaultSettings(d: SettingDefaults): VmSettings {
  return { memory: d.memory, cpus: d.cpus, cmdlineExtra: null, writableDisks: d.writableDisks, stopTimeoutMs: d.stopTimeoutMs, guestReady: d.guestReady, autostart: false };
}

/**
 * The shapes of what planning makes: each generated script as a named
 * template with its data, and the s6-rc services (longrun, oneshot, bundle)
 * that hold them. Types only, bar the names the scripts and the admin
 * commands share, so every planner and the renderer agree on them.
 */
import type { ValidVm } from './check.js';
import type { Link } from './links.js';
import type { CgroupData } from './cgroup.js';
import type { Vmm } from '../vmm/index.js';
import type { VmmRequestData } from './vmm-request.js';
import type { AttachData } from './hotplug.js';
import type { DiskArg, OpensData } from './handover.js';
import type { SandboxData } from './sandbox.js';
import type { TemplateName } from './templates.js';

/** What a generated file is about and where it came from, for its header comment. */
export interface Origin {
  readonly subject: string;
  readonly source: string;
}

/** One virtio-net device: the tap it is plugged into and the MAC the guest sees. */
export interface NetDevice {
  readonly tap: string;
  readonly mac: string;
}

export interface VmRunData {
  readonly origin: Origin;
  readonly name: string;
  /** The VM's cgroup, which the run script enters first; null: --cgroup none. */
  readonly cgroup: CgroupData | null;
  readonly userConsole: boolean;
  /** The VM has the port org.vmsvc.ready for the guest's READY=1. */
  readonly guestReady: boolean;
  readonly execlineb: string;
  readonly vmm: string;
  readonly notifyoncheck: string;
  readonly logger: string;
  readonly runtimeDir: string;
  readonly controlSocket: string;
  readonly consoleSocket: string | null;
  /** The empty directory the VMM's sandbox pivots into (crosvm --pivot-root), or null. */
  readonly sandboxRoot: string | null;
  /** Owner (chown's OWNER:GROUP) of the runtime dir: the VMM's; null for root. */
  readonly owner: string | null;
  /** The words that drop root before the VMM (identities.ts dropArgv); none for root. */
  readonly drop: readonly string[];
  /** What the VMM runs in after the drop (sandbox.ts): bwrap and its options; null: nothing (--sandbox none). */
  readonly sandbox: SandboxData | null;
  /** s6-notifyoncheck's -T: the checker gives up with s6-rc's timeout-up. 0 = never. */
  readonly readyTimeoutMs: number;
  /** s6-notifyoncheck's -t: a readiness probe that has not ended by then counts as failed (it is given up on, not killed). */
  readonly probeTimeoutMs: number;
  /** What SIGTERM (s6-svc -d, s6-rc -d) does: see VmStopData. */
  readonly stop: VmStopData;
  /** Root's opens before the drop, in a private mount namespace (pipeline/handover.ts); null: none. */
  readonly opens: OpensData | null;
  /** The kernel and initramfs as the VMM is given them: their paths, or /proc/self/fd/N. */
  readonly kernel: string;
  readonly initramfs: string | null;
  /**
   * The data-dir files the VMM gets only as descriptors and never opens by
   * path: a sandbox around the VMM need not show it any of them.
   */
  readonly byDescriptor: readonly string[];
  readonly cmdline: string;
  readonly memory: string;
  readonly memoryMiB: number | null;
  readonly cpus: number;
  /** Where the VMM's stderr goes. */
  readonly vmmLog: VmmLogData;
  /** The accelerators to try, in order (QEMU takes the first that initialises). */
  readonly accels: readonly ('kvm' | 'tcg')[];
  readonly disks: readonly DiskArg[];
  /** Client-side devices (one per provider, by provider name), then provider-side (one per client) when these are not hot-plugged. */
  readonly nets: readonly NetDevice[];
  /** What the VMM needs at start to take hot-plugged links (NetHotplug.bootArgs); empty when they are not. */
  readonly hotplugArgs: ReadonlyArray<readonly string[]>;
  /** Root's record of the links hot-plugged into it, made empty if missing; null when they are not. */
  readonly linkRecords: string | null;
}

/**
 * A clean stop, run by execline's trap (the VMM's parent) when s6-supervise
 * sends SIGTERM: press the VM's power button, and again each time a wait
 * ends with the VMM still there; once the waits (together the stop timeout)
 * are over, kill the VMM: `s6-svc -K` SIGKILLs the service's process group
 * (the VMM with it; s6 >= 2.13); if the service is still up a second later
 * (no -K, or an s6-supervise < 2.13 that ignores it while s6-svc exits 0),
 * `s6-svc -i` has trap forward SIGINT, on which every VMM exits at once.
 */
export interface VmStopData {
  readonly svc: string;
  readonly svwait: string;
  /**
   * The script that presses the power button (POWER_BUTTON in the VM's
   * data/), relative to the service directory, where trap's handler runs.
   * The press is not written into the handler itself: it would be inside
   * forx's substitution scope there, and the socket path holds the VM's name.
   */
  readonly press: string;
  /** ms to wait after each press, for the VMM to exit; they add up to totalMs, the stop timeout. */
  readonly waitsMs: readonly number[];
  readonly totalMs: number;
}

/**
 * The VMM's own messages (its stderr): an s6-log of their own, started by
 * the run script, in VMM_LOG_SUBDIR of the VM's log dir. Apart from the
 * serial log, which the guest writes: a guest must not be able to forge
 * what its VMM says.
 */
export interface VmmLogData {
  /** The VM's log dir, made (and given to the log user) as the logger service's run script does. */
  readonly parent: string;
  /** parent/VMM_LOG_SUBDIR, which s6-log makes itself, as the log user. */
  readonly dir: string;
  readonly s6Log: string;
  /** The log dir's owner (OWNER:GROUP); null for root. */
  readonly owner: string | null;
  /** The words that drop root before s6-log. */
  readonly drop: readonly string[];
  readonly maxFileBytes: number;
  readonly maxFiles: number;
}

/** The VMM's messages below the VM's log dir; s6-log ignores a directory in its own. */
export const VMM_LOG_SUBDIR = 'vmm';

export interface NetLinkData {
  readonly origin: Origin;
  readonly ip: string;
  /** ip tuntap's user of each tap: the VMM on that side, so that no other VMM may attach to it. */
  readonly clientTapUser: string;
  readonly providerTapUser: string;
  readonly link: Link;
  readonly hex: string;
  /** Hot-plugged into the running provider; null: the tap is in the provider VMM's argv. */
  readonly hotplug: LinkHotplugData | null;
}

/**
 * A link's provider side, attached to the provider's running VMM through
 * its API (vmm/capabilities.ts NetHotplug) and recorded for the provider's
 * readiness check, which attaches it again after the VMM restarts.
 */
export interface LinkHotplugData {
  /** The provider (HostPaths.linkRecords) and its record of this link, written first to `temp`. */
  readonly records: string;
  readonly record: string;
  readonly temp: string;
  /** The provider's socket, for the attach (which reads it from the environment). */
  readonly controlSocket: string;
  readonly attach: AttachData;
  /** Each may fail: the host side goes anyway. */
  readonly detach: readonly VmmRequestData[];
  /** The slots the attach tries, in order, recorded for the re-attach loop; empty: the VMM places the NIC. */
  readonly slots: readonly string[];
}

/** The provider's readiness check attaches every link recorded for it, after its VMM answers. */
export interface RelinkData {
  readonly controlSocket: string;
  readonly records: string;
  /** For the link in `${vmsvc_link}` (its hex), `${vmsvc_mac}` and `${vmsvc_slots}`, to `${vmsvc_sock}`. */
  readonly attach: AttachData;
}

export interface LogRunData {
  readonly origin: Origin;
  readonly execlineb: string;
  readonly s6Log: string;
  readonly producer: string;
  readonly logDir: string;
  /** The log dir's owner (OWNER:GROUP); null for root. */
  readonly owner: string | null;
  /** The words that drop root before s6-log. */
  readonly drop: readonly string[];
  readonly maxFileBytes: number;
  readonly maxFiles: number;
}

/**
 * The VM's finish script: after each death of the VMM, s6-permafailon tells
 * s6-supervise to stop restarting it once it died `deaths` times within
 * `windowSeconds` (exit 125: permanent failure).
 */
export interface VmFinishData {
  readonly origin: Origin;
  readonly execlineb: string;
  /** The VM's cgroup, emptied (cgroup.kill) and removed; null: --cgroup none. */
  readonly cgroup: CgroupData | null;
  readonly permafailon: string;
  /** Ask s6-supervise whether the service is wanted up; a death that is not is a stop, which clears the tally. */
  readonly svstat: string;
  readonly svdtClear: string;
  readonly deaths: number;
  readonly windowSeconds: number;
  /** s6-permafailon's event list: which deaths count. */
  readonly events: string;
  /** Tells a VMM left behind by its killed parent to exit (see VmmCapabilities.quit). */
  readonly quit: VmmRequestData;
  /** The bound of `quit`, for the comment (FINISH_QUIT_MS). */
  readonly quitSeconds: number;
  /** The files whose grant to the VMM's uid is taken back, as the run script opened them (pipeline/handover.ts); null: none. */
  readonly revoke: OpensData | null;
}

/** A VMM request as a script of its own, in the service's data/ (see VmStopData.press). */
export interface VmRequestData {
  readonly origin: Origin;
  readonly execlineb: string;
  /** What the request does, for the header comment. */
  readonly purpose: string;
  readonly request: VmmRequestData;
}

export interface ReadyCheckData {
  readonly origin: Origin;
  readonly execlineb: string;
  /** The --vmm value, for the comment. */
  readonly vmm: Vmm;
  /** Asks the VMM whether the VM runs. */
  readonly running: VmmRequestData;
  /** Then takes the guest's READY=1 from it; null: the guest's word is not awaited. */
  readonly guestReady: VmmRequestData | null;
  /** Attaches the links recorded for the VM as a provider; null: its VMM takes them in its argv. */
  readonly relink: RelinkData | null;
}

/** What each template renders; a name templates.ts loads but this lacks does not compile. */
interface TemplateData {
  readonly 'vm-run': VmRunData;
  readonly 'log-run': LogRunData;
  readonly 'ready-check': ReadyCheckData;
  readonly 'vm-finish': VmFinishData;
  readonly 'vm-request': VmRequestData;
  readonly 'net-up': NetLinkData;
  readonly 'net-down': NetLinkData;
}

/** A template and its data, for each name the loader loads (so none is rendered that it did not). */
export type Script = { readonly [T in TemplateName]: { readonly template: T; readonly data: TemplateData[T] } }[TemplateName];

export interface Longrun {
  readonly type: 'longrun';
  readonly name: string;
  readonly run: Script;
  /** Files below data/, by relative path: s6-rc copies data/ into the live service dir. */
  readonly data: ReadonlyMap<string, Script>;
  readonly notificationFd: number;
  readonly timeoutUpMs: number | null;
  /** Run by s6-supervise after each death of `run`; null: none. */
  readonly finish: Script | null;
  /** How many deaths s6-supervise remembers; null: its default (100). */
  readonly maxDeathTally: number | null;
  /** s6-supervise SIGKILLs `run` this long after a stop began; null: never. */
  readonly timeoutKillMs: number | null;
  /**
   * flag-timeout-killpg: that SIGKILL goes to run's whole process group
   * (s6 2.13 and later), not run alone.
   */
  readonly timeoutKillsGroup: boolean;
  /** s6-rc fails a stop that has not ended after this long; null: never. */
  readonly timeoutDownMs: number | null;
  readonly dependencies: readonly string[];
  readonly producerFor: string | null;
  readonly consumerFor: string | null;
  readonly pipelineName: string | null;
}

export interface Bundle {
  readonly type: 'bundle';
  readonly name: string;
  readonly contents: readonly string[];
}

export interface Oneshot {
  readonly type: 'oneshot';
  readonly name: string;
  readonly up: Script;
  readonly down: Script;
  readonly timeoutUpMs: number;
  readonly timeoutDownMs: number;
  readonly dependencies: readonly string[];
}

export type Service = Longrun | Oneshot | Bundle;

/** A VM's longrun and its logger come from the VM's directory. */
export function originOf(vm: ValidVm): Origin {
  return { subject: `VM ${vm.name}`, source: vm.dir };
}

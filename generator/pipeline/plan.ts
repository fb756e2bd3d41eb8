/**
 * Step 3: turns valid VMs into the s6-rc services that run them. Pure, and
 * still abstract: scripts are named templates with their data; `render` makes
 * files of them. Every list is bytewise-sorted so the output is reproducible.
 */
import * as path from 'node:path';
import { compareBytes, sortedBytewise } from '../util/bytes.js';
import type { ValidVm } from './check.js';
import { assignLinks, type Link } from './links.js';
import { hostPaths, type GeneratorOptions } from './options.js';
import { serviceName, type VmName } from '../rules/vm-name.js';
import { aclQualifier, assignIdentities, dropArgv, ownerSpec, tapUser, type RunAs, type VmIdentities } from './identities.js';
import type { SettingFile, VmSettings } from '../rules/settings.js';
import { planCgroup, type CgroupData } from './cgroup.js';
import { memoryMiB, VMM_FACTS, type Vmm } from '../vmm/index.js';
import { vmmRequestData, type RequestLimits, type VmmRequestData } from './vmm-request.js';
import { planHandover, type DiskArg, type OpensData } from './handover.js';
import { sandboxData, type SandboxData } from './sandbox.js';
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
  /** Client-side devices (one per provider, by provider name), then provider-side (one per client). */
  readonly nets: readonly NetDevice[];
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

/**
 * A VMM says little (start-up errors, a crash): the last 4 x 128 KiB are
 * plenty, and a flood costs the disk no more than that per VM.
 */
const VMM_LOG_FILES = 3;
const VMM_LOG_FILE_BYTES = 131072;

export interface NetLinkData {
  readonly origin: Origin;
  readonly ip: string;
  /** ip tuntap's user of each tap: the VMM on that side, so that no other VMM may attach to it. */
  readonly clientTapUser: string;
  readonly providerTapUser: string;
  readonly link: Link;
  readonly hex: string;
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
}

export type Service = Longrun | Oneshot | Bundle;

/**
 * Link oneshots only run ip(8), but each ip waits for the kernel's rtnl lock,
 * which every link of one s6-rc change contends for (s6-rc runs them 40 at a
 * time, its oneshot runner's limit): bringing up 1000 links on two busy CI
 * cores, one waited more than 10 s. Two minutes is stuck.
 */
const LINK_TIMEOUT_MS = 120000;

/** s6-supervise's own max-death-tally when the file is absent. */
const S6_DEFAULT_DEATH_TALLY = 100;

/**
 * Every death counts towards the crash limit: any exit code (0 too: a guest
 * that powers off at once, over and over, loops like one that crashes) and
 * every signal that ends a process by default (SIGSYS: a seccomp kill).
 * A stop is not a crash: the finish script clears the tally after a death
 * the supervisor did not want up (s6-svc -d, s6-rc -d, and the stop half of
 * a restart by s6-rc-update), so restarts never add up to a crash loop.
 */
const CRASH_EVENTS = [
  '0-255', 'SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGILL', 'SIGTRAP', 'SIGABRT', 'SIGBUS', 'SIGFPE', 'SIGKILL',
  'SIGUSR1', 'SIGSEGV', 'SIGUSR2', 'SIGPIPE', 'SIGALRM', 'SIGTERM', 'SIGXCPU', 'SIGXFSZ', 'SIGSYS',
].join(',');

/**
 * A VMM that has said nothing on its control socket for this long is stuck:
 * the request fails, and s6-notifyoncheck asks again.
 */
const REQUEST_SILENCE_MS = 5000;

/**
 * One readiness probe that runs longer is given up on (s6-notifyoncheck -t)
 * and the next one starts; every request is killed at the same bound
 * (vmm-request.ts), so a probe given up on is gone too, whether the VMM
 * trickles a reply or its own client (ch-remote, crosvm) waits on it.
 */
const PROBE_TIMEOUT_MS = 10000;

/**
 * The power button is pressed again this often during a stop: a guest can
 * miss a press that comes while it boots, before its ACPI handler runs.
 */
const PRESS_EVERY_MS = 5000;
/**
 * s6-supervise's timeout-kill comes this long after the stop timeout: the
 * last resort, if trap itself does not end or its kill did not work (it
 * SIGKILLs the process group with flag-timeout-killpg, trap alone on s6 <
 * 2.13). s6-rc's timeout-down is as long again after that.
 */
const KILL_GRACE_MS = 5000;

/**
 * The finish script's quit request (to a VMM its killed trap left behind)
 * ends within this long, and is given up after this much silence: s6-supervise
 * SIGKILLs a finish script still running after 5 s (its default
 * timeout-finish, which vmsvc does not change, so that s6-rc's timeout-down
 * still covers the finish), and the request goes where the VMM's uid points
 * its control socket, so one that holds it must not keep the script from
 * s6-permafailon, which ends a crash loop.
 */
const FINISH_QUIT_MS = 3000;
const FINISH_QUIT_SILENCE_MS = 2000;

/** The power button's script, in the VM service's data/. */
const POWER_BUTTON = 'power-button';

/** Waits of at most PRESS_EVERY_MS that add up to `totalMs`. */
function pressWaits(totalMs: number): number[] {
  const waits: number[] = [];
  for (let left = totalMs; left > 0; left -= PRESS_EVERY_MS) waits.push(Math.min(left, PRESS_EVERY_MS));
  return waits;
}

export interface ManifestVm {
  readonly name: string;
  readonly source: string;
  readonly services: { readonly vm: string; readonly logger: string; readonly pipeline: string };
  readonly kernel: string;
  readonly initramfs: string | null;
  readonly disks: readonly string[];
  readonly providers: readonly string[];
  /** Link numbers, as client then as provider; details in Manifest.links. */
  readonly links: { readonly asClient: readonly number[]; readonly asProvider: readonly number[] };
  readonly runtimeDir: string;
  readonly controlSocket: string;
  readonly consoleSocket: string | null;
  readonly logDir: string;
  /** What the VM runs with: the global flags, overridden by its config/ files. */
  readonly settings: VmSettings;
  /** The config/ files that set a setting; every other setting is the flag's default. */
  readonly settingFiles: readonly SettingFile[];
  /** The VM's cgroup and the limits its run script writes; null: --cgroup none. */
  readonly cgroup: CgroupData | null;
}

export interface Manifest {
  readonly generator: 'vmsvc';
  readonly formatVersion: 1;
  readonly dataDir: string;
  readonly bundle: string;
  readonly vmm: Vmm;
  readonly vms: readonly ManifestVm[];
  readonly links: readonly Link[];
  readonly skipped: ReadonlyArray<{
    readonly name: string;
    readonly reason: string;
    readonly needs: string | null;
    /** The files at fault (check.ts SkippedVm). */
    readonly problems: ReadonlyArray<{ readonly rule: string; readonly path: string }>;
  }>;
}

/** What JSON.stringify turns into a T: a value made only when it is serialised. */
export interface Serialises<T> {
  toJSON(): T;
}

/** The manifest as planned; serialised, it is a Manifest. */
export interface PlannedManifest extends Omit<Manifest, 'vms'> {
  /**
   * Each VM's entry is made when it is serialised for the file, and dropped
   * right after: held for the whole run, 10000 entries with
   * their derived names and paths were ~6 MB of old-generation heap.
   */
  readonly vms: ReadonlyArray<Serialises<ManifestVm>>;
}

export interface TreePlan {
  /**
   * Bytewise-sorted by name. Each service is planned when the iteration
   * reaches it, afresh on every iteration: held all at once, 10000 VMs'
   * services took ~30 MB of heap.
   */
  readonly services: Iterable<Service>;
  readonly manifest: PlannedManifest;
}

/** What a service will be, by name: enough to plan it when its turn comes. */
type ServiceRef =
  | { readonly name: string; readonly role: 'vm' | 'logger'; readonly vm: ValidVm }
  | { readonly name: string; readonly role: 'link'; readonly link: Link }
  | { readonly name: string; readonly role: 'bundle' | 'autostart' };

export function planTree(
  dataDir: string,
  vms: readonly ValidVm[],
  skipped: Manifest['skipped'],
  opts: GeneratorOptions,
): TreePlan {
  const links = linksOf(vms);
  const byVm = linksByVm(links);
  const ids = assignIdentities(vms.map((vm) => vm.name), opts);
  const idsOf = (vm: VmName): VmIdentities => ids.get(vm)!;
  const order: ServiceRef[] = [];
  for (const vm of vms) order.push({ name: serviceName.vm(vm.name), role: 'vm', vm }, { name: serviceName.logger(vm.name), role: 'logger', vm });
  for (const link of links) order.push({ name: link.service, role: 'link', link });
  order.push({ name: opts.bundle, role: 'bundle' }, { name: opts.autostartBundle, role: 'autostart' });
  order.sort((a, b) => compareBytes(a.name, b.name));
  const plan = (ref: ServiceRef): Service => {
    switch (ref.role) {
      case 'vm':
        return planVm(ref.vm, dataDir, byVm.get(ref.vm.name) ?? NO_LINKS, idsOf(ref.vm.name), opts);
      case 'logger':
        return planLogger(ref.vm, idsOf(ref.vm.name).log, opts);
      case 'link':
        return planLink(ref.link, dataDir, idsOf(ref.link.client).vmm, idsOf(ref.link.provider).vmm, opts);
      case 'bundle':
        // The links are members, not only dependencies, so that `s6-rc -d change BUNDLE` takes them down too.
        return { type: 'bundle', name: opts.bundle, contents: sortedBytewise([...vms.map((vm) => serviceName.pipeline(vm.name)), ...links.map((l) => l.service)]) };
      case 'autostart':
        // Only the marked VMs' pipelines: their providers and links are their dependencies, which
        // s6-rc brings up first, marked or not. Empty when none is marked (s6-rc-compile takes an empty contents.d/).
        return { type: 'bundle', name: opts.autostartBundle, contents: sortedBytewise(vms.filter((vm) => vm.autostart).map((vm) => serviceName.pipeline(vm.name))) };
    }
  };
  return {
    services: { *[Symbol.iterator]() { for (const ref of order) yield plan(ref); } },
    manifest: {
      generator: 'vmsvc',
      formatVersion: 1,
      dataDir,
      bundle: opts.bundle,
      vmm: opts.vmm,
      vms: vms.map((vm) => ({ toJSON: () => manifestVm(vm, byVm.get(vm.name) ?? NO_LINKS, opts) })),
      links,
      skipped,
    },
  };
}

/** Every (client, provider) pair among the valid VMs, numbered. */
export function linksOf(vms: readonly ValidVm[]): Link[] {
  return assignLinks(vms.flatMap((vm) => vm.providers.map((provider) => ({ client: vm.name, provider }))));
}

interface VmLinks {
  /** Sorted by provider. */
  readonly asClient: readonly Link[];
  /** Sorted by client. */
  readonly asProvider: readonly Link[];
}

const NO_LINKS: VmLinks = { asClient: [], asProvider: [] };

function linksByVm(links: readonly Link[]): Map<string, VmLinks> {
  const byVm = new Map<string, { asClient: Link[]; asProvider: Link[] }>();
  const entry = (vm: string) => {
    let e = byVm.get(vm);
    if (e === undefined) byVm.set(vm, (e = { asClient: [], asProvider: [] }));
    return e;
  };
  // `links` is sorted by (client, provider), so both lists come out sorted.
  for (const link of links) {
    entry(link.client).asClient.push(link);
  }
  for (const link of [...links].sort((a, b) => compareBytes(a.provider, b.provider) || compareBytes(a.client, b.client))) {
    entry(link.provider).asProvider.push(link);
  }
  return byVm;
}

function planLink(link: Link, dataDir: string, client: RunAs, provider: RunAs, opts: GeneratorOptions): Oneshot {
  const data: NetLinkData = {
    origin: { subject: `link ${link.client} -> ${link.provider}`, source: `${dataDir}/${link.client}/providers/net/${link.provider}` },
    ip: opts.programs.ip,
    clientTapUser: tapUser(client),
    providerTapUser: tapUser(provider),
    link,
    hex: link.n.toString(16).padStart(4, '0'),
  };
  return {
    type: 'oneshot',
    name: link.service,
    up: { template: 'net-up', data },
    down: { template: 'net-down', data },
    timeoutUpMs: LINK_TIMEOUT_MS,
    timeoutDownMs: LINK_TIMEOUT_MS,
  };
}

/** The VMM's longrun, which produces into its logger's. */
function planVm(vm: ValidVm, dataDir: string, links: VmLinks, ids: VmIdentities, opts: GeneratorOptions): Longrun {
  const paths = hostPaths(opts, vm.name);
  const origin = originOf(vm);
  const caps = VMM_FACTS[opts.vmm];
  // check refuses guest readiness with a VMM that has no channel for it.
  const guestReadyRead = vm.settings.guestReady && caps.guestReady.kind === 'request' ? caps.guestReady.read : null;
  const limits: RequestLimits = { silenceMs: REQUEST_SILENCE_MS, totalMs: PROBE_TIMEOUT_MS, runAs: ids.vmm };
  const handover = planHandover({
    handover: caps.handover, dataDir, kernel: vm.kernel, initramfs: vm.initramfs, disks: vm.disks, writable: vm.settings.writableDisks, programs: opts.programs,
    grantee: aclQualifier(ids.vmm),
  });
  const bootFiles = [handover.kernel, ...(handover.initramfs === null ? [] : [handover.initramfs])];
  const cgroup = planCgroup(serviceName.vm(vm.name), vm.settings, opts);
  const accels = opts.accel === 'kvm-or-tcg' ? (['kvm', 'tcg'] as const) : [opts.accel];
  const nets = [
    ...links.asClient.map((l) => ({ tap: l.clientTap, mac: l.clientMac })),
    ...links.asProvider.map((l) => ({ tap: l.providerTap, mac: l.providerMac })),
  ];
  const readiness: Script = {
    template: 'ready-check',
    data: {
      origin,
      execlineb: opts.programs.execlineb,
      vmm: opts.vmm,
      running: vmmRequestData(caps.running, paths.controlSocket, opts.programs, limits),
      guestReady: guestReadyRead === null ? null : vmmRequestData(guestReadyRead, paths.controlSocket, opts.programs, limits),
    },
  };
  const powerButton: Script = {
    template: 'vm-request',
    data: {
      origin,
      execlineb: opts.programs.execlineb,
      purpose: 'Presses the VM\'s power button; a stop runs it every few seconds',
      request: vmmRequestData(caps.powerButton, paths.controlSocket, opts.programs, limits),
    },
  };
  return {
    type: 'longrun',
    name: serviceName.vm(vm.name),
    run: {
      template: 'vm-run',
      data: {
        origin,
        name: vm.name,
        cgroup,
        userConsole: opts.userConsole,
        guestReady: guestReadyRead !== null,
        execlineb: opts.programs.execlineb,
        vmm: opts.programs.vmm,
        notifyoncheck: opts.programs.s6Notifyoncheck,
        logger: serviceName.logger(vm.name),
        runtimeDir: paths.runtimeDir,
        controlSocket: paths.controlSocket,
        consoleSocket: paths.consoleSocket,
        sandboxRoot: paths.sandboxRoot,
        owner: ownerSpec(ids.vmm),
        drop: dropArgv(ids.vmm, opts.programs),
        sandbox: opts.sandbox === 'none' ? null : sandboxData({
          bwrap: opts.programs.bwrap,
          vmm: opts.programs.vmm,
          makesUserNamespaces: caps.makesUserNamespaces,
          runtimeDir: paths.runtimeDir,
          sandboxRoot: paths.sandboxRoot,
          // What the VMM opens by path; what root handed over as a descriptor is not shown.
          files: [
            ...bootFiles.filter((f) => !f.byDescriptor).map((f) => ({ path: f.source, writable: false })),
            ...handover.disks.filter((d) => !d.byDescriptor).map((d) => ({ path: d.source, writable: d.readonly === 'off' })),
          ],
          kvm: accels.includes('kvm'),
          tun: nets.length > 0,
        }),
        readyTimeoutMs: opts.timeoutUpMs,
        probeTimeoutMs: PROBE_TIMEOUT_MS,
        stop: {
          svc: opts.programs.s6Svc,
          svwait: opts.programs.s6Svwait,
          press: `./data/${POWER_BUTTON}`,
          waitsMs: pressWaits(vm.settings.stopTimeoutMs),
          totalMs: vm.settings.stopTimeoutMs,
        },
        opens: handover.opens,
        kernel: handover.kernel.path,
        initramfs: handover.initramfs?.path ?? null,
        byDescriptor: [...bootFiles, ...handover.disks].filter((f) => f.byDescriptor).map((f) => f.source),
        cmdline: vm.settings.cmdlineExtra === null ? opts.cmdline : `${opts.cmdline} ${vm.settings.cmdlineExtra}`,
        memory: vm.settings.memory,
        memoryMiB: memoryMiB(vm.settings.memory),
        cpus: vm.settings.cpus,
        vmmLog: {
          parent: paths.logDir,
          dir: path.join(paths.logDir, VMM_LOG_SUBDIR),
          s6Log: opts.programs.s6Log,
          owner: ownerSpec(ids.log),
          drop: dropArgv(ids.log, opts.programs),
          maxFileBytes: VMM_LOG_FILE_BYTES,
          maxFiles: VMM_LOG_FILES,
        },
        accels,
        disks: handover.disks,
        nets,
      },
    },
    data: new Map<string, Script>([['check', readiness], [POWER_BUTTON, powerButton]]),
    notificationFd: 3,
    timeoutUpMs: opts.timeoutUpMs,
    finish: {
      template: 'vm-finish',
      data: {
        origin,
        execlineb: opts.programs.execlineb,
        cgroup,
        permafailon: opts.programs.s6Permafailon,
        svstat: opts.programs.s6Svstat,
        svdtClear: opts.programs.s6SvdtClear,
        deaths: opts.crashDeaths,
        windowSeconds: opts.crashWindowSeconds,
        events: CRASH_EVENTS,
        quit: vmmRequestData(caps.quit, paths.controlSocket, opts.programs, { ...limits, silenceMs: FINISH_QUIT_SILENCE_MS, totalMs: FINISH_QUIT_MS }),
        quitSeconds: FINISH_QUIT_MS / 1000,
        revoke: handover.revoke,
      },
    },
    maxDeathTally: opts.crashDeaths > S6_DEFAULT_DEATH_TALLY ? opts.crashDeaths : null,
    timeoutKillMs: vm.settings.stopTimeoutMs + KILL_GRACE_MS,
    // The last resort comes when trap's own kill did not work (an s6-svc
    // without -K, whose SIGINT the VMM ignored): SIGKILL to trap alone would
    // leave the VMM running, on the VM's disks, with no service.
    timeoutKillsGroup: true,
    timeoutDownMs: vm.settings.stopTimeoutMs + 2 * KILL_GRACE_MS,
    // A provider's VM needs its links' devices; a client also needs the provider VM up.
    dependencies: sortedBytewise([
      ...vm.providers.map(serviceName.vm),
      ...links.asClient.map((l) => l.service),
      ...links.asProvider.map((l) => l.service),
    ]),
    producerFor: serviceName.logger(vm.name),
    consumerFor: null,
    pipelineName: null,
  };
}

/** The VM's serial logger, the consumer end of its pipeline. */
function planLogger(vm: ValidVm, runAs: RunAs, opts: GeneratorOptions): Longrun {
  return {
    type: 'longrun',
    name: serviceName.logger(vm.name),
    run: {
      template: 'log-run',
      data: {
        origin: originOf(vm),
        execlineb: opts.programs.execlineb,
        s6Log: opts.programs.s6Log,
        producer: serviceName.vm(vm.name),
        logDir: hostPaths(opts, vm.name).logDir,
        owner: ownerSpec(runAs),
        drop: dropArgv(runAs, opts.programs),
        maxFileBytes: opts.logMaxFileBytes,
        maxFiles: opts.logMaxFiles,
      },
    },
    data: new Map(),
    notificationFd: 3,
    timeoutUpMs: null,
    finish: null,
    maxDeathTally: null,
    timeoutKillMs: null,
    timeoutKillsGroup: false,
    timeoutDownMs: null,
    dependencies: [],
    producerFor: null,
    consumerFor: serviceName.vm(vm.name),
    pipelineName: serviceName.pipeline(vm.name),
  };
}

function originOf(vm: ValidVm): Origin {
  return { subject: `VM ${vm.name}`, source: vm.dir };
}

function manifestVm(vm: ValidVm, links: VmLinks, opts: GeneratorOptions): ManifestVm {
  const paths = hostPaths(opts, vm.name);
  return {
    name: vm.name,
    source: vm.dir,
    services: { vm: serviceName.vm(vm.name), logger: serviceName.logger(vm.name), pipeline: serviceName.pipeline(vm.name) },
    kernel: vm.kernel,
    initramfs: vm.initramfs,
    disks: vm.disks,
    providers: vm.providers,
    links: { asClient: links.asClient.map((l) => l.n), asProvider: links.asProvider.map((l) => l.n) },
    runtimeDir: paths.runtimeDir,
    controlSocket: paths.controlSocket,
    consoleSocket: paths.consoleSocket,
    logDir: paths.logDir,
    settings: vm.settings,
    settingFiles: vm.settingFiles,
    cgroup: planCgroup(serviceName.vm(vm.name), vm.settings, opts),
  };
}

/** The manifest's file name: a plain file at the top, which s6-rc-compile skips. */
export const MANIFEST_FILE = 'vmsvc-manifest.json';

import { consoleSocketName, VMM_FACTS, type Accel, type Vmm } from '../vmm/index.js';
import { DEFAULT_ID_RANGE, type IdRange, type Principal } from './identities.js';
import type { Sandbox } from './sandbox.js';
import { programPaths, type ProgramTable } from '../util/programs.js';
import { BOUND_DEFAULTS, SETTING_DEFAULTS } from '../rules/setting-defaults.js';
import type { SettingBounds, VmSettings } from '../rules/setting-registry.js';

/**
 * The programs the generated scripts run, each declared once: its key in
 * Programs, the flag that names another, and its default, a name the
 * scripts look up in PATH at run time (the CLI's flags and the host check
 * derive from this).
 */
export const SERVICE_PROGRAMS = {
  /** Written into every #! line, which no PATH lookup serves: an absolute path. */
  execlineb: { flag: 'execlineb', path: '/bin/execlineb', describe: 'execlineb path for the #! line of every script' },
  s6Log: { flag: 's6-log', path: 's6-log', describe: 's6-log program' },
  s6Notifyoncheck: { flag: 's6-notifyoncheck', path: 's6-notifyoncheck', describe: 's6-notifyoncheck program' },
  /** Connect to a VMM's control socket and carry a request over it (vmm-request.ts). */
  s6Ipcclient: { flag: 's6-ipcclient', path: 's6-ipcclient', describe: 's6-ipcclient program, which connects to a VMM\'s control socket' },
  s6Ioconnect: { flag: 's6-ioconnect', path: 's6-ioconnect', describe: 's6-ioconnect program, which carries a request to a VMM and its reply back' },
  chRemote: { flag: 'ch-remote', path: 'ch-remote', describe: 'cloud-hypervisor\'s ch-remote program, which asks it whether the VM runs' },
  ip: { flag: 'ip', path: 'ip', describe: 'iproute2 ip program, for the link oneshots' },
  /** Drops root before the VMM and s6-log run, for a shared account (--vmm-user NAME). */
  s6Setuidgid: { flag: 's6-setuidgid', path: 's6-setuidgid', describe: 's6-setuidgid program (--vmm-user or --log-user an account)' },
  /** Drops root to a VM's own uid and gid, numbers with no account (the default). */
  s6Applyuidgid: { flag: 's6-applyuidgid', path: 's6-applyuidgid', describe: 's6-applyuidgid program (per-vm ids)' },
  s6Permafailon: { flag: 's6-permafailon', path: 's6-permafailon', describe: 's6-permafailon program, for the crash-loop limit' },
  s6Svc: { flag: 's6-svc', path: 's6-svc', describe: 's6-svc program, with which a stop kills a VMM at the stop timeout' },
  s6Svwait: { flag: 's6-svwait', path: 's6-svwait', describe: 's6-svwait program, with which a stop waits for the guest to power off' },
  s6Svstat: { flag: 's6-svstat', path: 's6-svstat', describe: 's6-svstat program, with which the finish script tells a stop from a crash' },
  s6SvdtClear: { flag: 's6-svdt-clear', path: 's6-svdt-clear', describe: 's6-svdt-clear program, with which a stop clears the crash count' },
  /** The run script opens the VMM's files in a private mount namespace where the data dir is bound nosymfollow (handover.ts). */
  unshare: { flag: 'unshare', path: 'unshare', describe: 'util-linux unshare program: the VMM\'s files are opened in a private mount namespace' },
  mount: { flag: 'mount', path: 'mount', describe: 'util-linux mount program, which binds the data dir nosymfollow in that namespace' },
  /** Grants the VMM's uid the files it opens by path, through root's descriptor (handover.ts). */
  setfacl: { flag: 'setfacl', path: 'setfacl', describe: 'setfacl program (package acl): gives the VMM\'s uid the files it opens by path (cloud-hypervisor\'s disks; every kernel but crosvm\'s), through a descriptor root opened' },
  bwrap: { flag: 'bwrap', path: 'bwrap', describe: 'bubblewrap program (--sandbox bwrap)' },
} as const satisfies ProgramTable;

export type ServiceProgram = keyof typeof SERVICE_PROGRAMS;

export type Programs = { readonly [P in ServiceProgram]: string } & {
  /** The VMM binary: a name looked up in PATH at run time, or an absolute path. */
  readonly vmm: string;
};

export interface Admission {
  readonly memoryBytes: number;
  readonly vcpus: number;
  /** Where each bound came from, for messages: "--autostart-memory 20G", "2 CPUs x --cpu-overcommit 4". */
  readonly memoryFrom: string;
  readonly vcpusFrom: string;
}

/**
 * Everything the generated tree depends on besides the data dir. The CLI fills
 * it from flags; tests and the benchmark build it with `defaultOptions`.
 */
export interface GeneratorOptions {
  readonly vmm: Vmm;
  readonly programs: Programs;
  /** Per-VM runtime dirs (API socket, console) live below this. */
  readonly runtimeDir: string;
  /** Per-VM serial log dirs live below this. */
  readonly logDir: string;
  /** The `s6-rc-init -p` prefix the tree will be loaded with; only its length matters here. */
  readonly livePrefix: string;
  /** The bundle holding every VM's pipeline and every link between them. */
  readonly bundle: string;
  /**
   * The bundle of the VMs whose config/autostart is there (their pipelines;
   * s6-rc brings their providers and links up as dependencies): what apply
   * brings up at boot.
   */
  readonly autostartBundle: string;
  readonly cmdline: string;
  /**
   * Every VM's settings where its config/ sets none (--memory, --cpus, ...:
   * rules/setting-registry.ts); --cpu-max also bounds a VM's own cap.
   */
  readonly settings: VmSettings;
  /** The host's bounds on what a VM's config/ may ask for (--max-memory, --max-cpus, ...). */
  readonly bounds: SettingBounds;
  readonly accel: Accel;
  /** Give every VM the user's virtio-console (a pty or a socket, by VMM). */
  readonly userConsole: boolean;
  /**
   * Who the VMMs run as (pipeline/identities.ts): each VM's own uid by
   * default. It owns the VM's runtime dir and its side of each link's taps,
   * so the VMM needs no CAP_NET_ADMIN.
   */
  readonly vmmUser: Principal;
  /** Who the serial loggers run as; it owns the VM's log dir. */
  readonly logUser: Principal;
  /** Where per-VM uids and gids come from. */
  readonly idRange: IdRange;
  /** The group that may open /dev/kvm, given to per-VM VMMs; null: none. */
  readonly kvmGid: number | null;
  /** What each VMM runs in (pipeline/sandbox.ts): bwrap, or none. */
  readonly sandbox: Sandbox;
  /** s6-rc fails a VM's start after this long without readiness (ms; 0 = never). */
  readonly timeoutUpMs: number;
  /**
   * Where each VM's cgroup (v2) is made, `<cgroup>/<vm service>`, holding its
   * VMM and nothing else, with the limits below; null: no cgroup, no limits
   * (--cgroup none). The host makes this parent and delegates the memory,
   * pids and cpu controllers to it (doc/resources.md).
   */
  readonly cgroup: string | null;
  /** Added to a VM's memory for its cgroup's memory.max: what the VMM itself takes, in bytes. */
  readonly vmmMemoryOverheadBytes: number;
  /**
   * What the autostart VMs together may take (rules/admission.ts): memory
   * (with each VMM's overhead) and vCPUs. null: no bound (the library's
   * default; the CLI derives one from the host).
   */
  readonly admission: Admission | null;
  /**
   * A VMM that died this many times within crashWindowSeconds is not
   * restarted (s6-permafailon in the VM's finish script).
   */
  readonly crashDeaths: number;
  readonly crashWindowSeconds: number;
  /** s6-log rotates `current` at this size and keeps this many archives. */
  readonly logMaxFileBytes: number;
  readonly logMaxFiles: number;
  /**
   * Where the data dir will be when the services run, if not where it is now
   * (an image build generates from a staging copy). Null: where it is now.
   */
  readonly dataDirAtRuntime: string | null;
  /** More entries than this at the top of the data dir is an error, found before any VM is read. */
  readonly maxVms: number;
  /** A directory of the user's own templates, or null for the bundled ones. */
  readonly templatesDir: string | null;
}

export const defaultOptions: GeneratorOptions = {
  vmm: 'cloud-hypervisor',
  programs: { vmm: 'cloud-hypervisor', ...programPaths(SERVICE_PROGRAMS, (p) => p.path) },

  runtimeDir: '/run/vm',
  logDir: '/var/log/vm',
  livePrefix: '',
  bundle: 'vms',
  autostartBundle: 'autostart',
  cmdline: 'console=ttyS0 root=PARTLABEL=root',
  settings: SETTING_DEFAULTS,
  bounds: BOUND_DEFAULTS,
  accel: 'kvm',
  userConsole: true,
  vmmUser: { kind: 'per-vm' },
  logUser: { kind: 'per-vm' },
  idRange: DEFAULT_ID_RANGE,
  kvmGid: null,
  sandbox: 'bwrap',
  timeoutUpMs: 60000,
  cgroup: '/sys/fs/cgroup/vmsvc',
  vmmMemoryOverheadBytes: 256 * 1024 ** 2,
  admission: null,
  crashDeaths: 5,
  crashWindowSeconds: 60,
  logMaxFileBytes: 1000000,
  logMaxFiles: 10,
  dataDirAtRuntime: null,
  maxVms: 16384,
  templatesDir: null,
};

/** Where a VM's files live on the host at run time; one place so check and render agree. */
export interface HostPaths {
  readonly runtimeDir: string;
  /** The VMM's API, control or QMP socket: it exists once the VMM is up. */
  readonly controlSocket: string;
  /** The user's virtio-console socket, for VMMs that offer one. */
  readonly consoleSocket: string | null;
  /** The empty directory the VMM's sandbox pivots into, for VMMs that need one. */
  readonly sandboxRoot: string | null;
  readonly logDir: string;
  /**
   * Root's record of the links hot-plugged into this VM as a provider: one
   * file per link, which its readiness check attaches again after each
   * start of its VMM. In the runtime root under a dot name, which no VM has
   * and apply's reclaim passes over; root's alone (0700): the VMM's uid
   * reaches none of it.
   */
  readonly linkRecords: string;
}

/** The runtime root's dir of every provider's link records (HostPaths.linkRecords). */
const LINK_RECORDS_DIR = '.links';

export function hostPaths(opts: GeneratorOptions, vm: string): HostPaths {
  const runtimeDir = `${opts.runtimeDir}/${vm}`;
  const facts = VMM_FACTS[opts.vmm];
  const consoleSocket = consoleSocketName(facts);
  return {
    runtimeDir,
    controlSocket: `${runtimeDir}/${facts.controlSocket}`,
    consoleSocket: consoleSocket === null ? null : `${runtimeDir}/${consoleSocket}`,
    sandboxRoot: facts.sandboxRoot === null ? null : `${opts.runtimeDir}/${facts.sandboxRoot}`,
    logDir: `${opts.logDir}/${vm}`,
    linkRecords: `${opts.runtimeDir}/${LINK_RECORDS_DIR}/${vm}`,
  };
}

/** The longest socket path vmsvc derives from a VM name: the one the length limit applies to. */
export function longestSocketPath(opts: GeneratorOptions, vm: string): string {
  const p = hostPaths(opts, vm);
  return [p.controlSocket, p.consoleSocket ?? ''].reduce((a, b) => (Buffer.byteLength(b) > Buffer.byteLength(a) ? b : a));
}

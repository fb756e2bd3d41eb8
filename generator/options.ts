/**
 * Everything the generated tree depends on besides the data dir. The CLI fills
 * it from flags; tests and the benchmark build it with `defaultOptions`.
 */
export interface Programs {
  /** The VMM binary: a name looked up in PATH at run time, or an absolute path. */
  readonly vmm: string;
  /** Absolute path written into every #! line. */
  readonly execlineb: string;
  readonly s6Log: string;
  readonly s6Notifyoncheck: string;
  /** iproute2's ip, for the link oneshots. */
  readonly ip: string;
}

export interface GeneratorOptions {
  readonly programs: Programs;
  /** Per-VM runtime dirs (API socket, console) live below this. */
  readonly runtimeDir: string;
  /** Per-VM serial log dirs live below this. */
  readonly logDir: string;
  /** The `s6-rc-init -p` prefix the tree will be loaded with; only its length matters here. */
  readonly livePrefix: string;
  /** The bundle holding every VM's pipeline. */
  readonly bundle: string;
  readonly cmdline: string;
  /** Guest memory, as the VMM takes it: a number with an optional K, M or G suffix. */
  readonly memory: string;
  readonly cpus: number;
  readonly writableDisks: boolean;
  /** User (name or uid) owning the taps: the VMM runs as it and needs no CAP_NET_ADMIN. */
  readonly tapOwner: string;
  /** s6-rc fails a VM's start after this long without readiness (ms; 0 = never). */
  readonly timeoutUpMs: number;
  /** s6-log rotates `current` at this size and keeps this many archives. */
  readonly logMaxFileBytes: number;
  readonly logMaxFiles: number;
  /**
   * Where the data dir will be when the services run, if not where it is now
   * (an image build generates from a staging copy). Null: where it is now.
   */
  readonly dataDirAtRuntime: string | null;
  /** A directory of the user's own templates, or null for the bundled ones. */
  readonly templatesDir: string | null;
}

export const defaultOptions: GeneratorOptions = {
  programs: {
    vmm: 'cloud-hypervisor',
    execlineb: '/bin/execlineb',
    s6Log: 's6-log',
    s6Notifyoncheck: 's6-notifyoncheck',
    ip: 'ip',
  },
  runtimeDir: '/run/vm',
  logDir: '/var/log/vm',
  livePrefix: '',
  bundle: 'vms',
  cmdline: 'console=ttyS0 root=PARTLABEL=root',
  memory: '256M',
  cpus: 1,
  writableDisks: false,
  tapOwner: 'root',
  timeoutUpMs: 60000,
  logMaxFileBytes: 1000000,
  logMaxFiles: 10,
  dataDirAtRuntime: null,
  templatesDir: null,
};

/** Where a VM's files live on the host at run time; one place so check and render agree. */
export interface HostPaths {
  readonly runtimeDir: string;
  readonly apiSocket: string;
  readonly logDir: string;
}

export function hostPaths(opts: GeneratorOptions, vm: string): HostPaths {
  const runtimeDir = `${opts.runtimeDir}/${vm}`;
  return {
    runtimeDir,
    apiSocket: `${runtimeDir}/api.sock`,
    logDir: `${opts.logDir}/${vm}`,
  };
}

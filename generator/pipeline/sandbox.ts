/**
 * The sandbox around each VMM (--sandbox bwrap, the default): the bubblewrap
 * command line the run script puts between the drop of root and the VMM.
 * bwrap runs as the VMM's own uid, unprivileged, and needs unprivileged user
 * namespaces. Inside, the VMM sees /usr read-only, a fresh /proc of its own
 * pid namespace, a minimal /dev, its own runtime dir, and exactly the files
 * it opens by path (kernel, initramfs, disks): no other VM's runtime dir or
 * data, no /etc, /home, /root or /sys. The network namespace stays the
 * host's: QEMU and cloud-hypervisor attach to their taps by name.
 *
 * This is the one place the binds are computed; templates/common/sandbox.hbs
 * only prints them. A file the VMM gets as a descriptor instead of a path is
 * simply not in `files`.
 */

/** --sandbox: bwrap (the default) or none (check warns: vmm-unsandboxed). */
export const SANDBOXES = ['bwrap', 'none'] as const;
export type Sandbox = (typeof SANDBOXES)[number];

/** A file the VMM opens by path, bound at the same path; writable only for a writable disk. */
export interface SandboxFile {
  readonly path: string;
  readonly writable: boolean;
}

export interface SandboxRequest {
  /** The bwrap program (--bwrap). */
  readonly bwrap: string;
  /** The VMM program as the run script names it: a name found in PATH, or an absolute path. */
  readonly vmm: string;
  /** The VMM makes user namespaces itself (crosvm's jails): creating them stays allowed. */
  readonly makesUserNamespaces: boolean;
  /** The VM's own runtime dir, bound writable: its sockets. */
  readonly runtimeDir: string;
  /** The empty, root-owned directory the VMM's own jail pivots into (crosvm), bound read-only; null: none. */
  readonly sandboxRoot: string | null;
  readonly files: readonly SandboxFile[];
  /** The VMM may use KVM: /dev/kvm is bound, where the host has it. */
  readonly kvm: boolean;
  /**
   * The VM has taps: /dev/net/tun is bound, where the host has it. No
   * host devpts: a pty the VMM opens (cloud-hypervisor's console) is in
   * the sandbox's own, reached from the host below /proc/PID/root/dev/pts
   * (binding the host's devpts and /dev/ptmx in made every open of
   * /dev/ptmx fail, bwrap 0.8 on Linux 6.18).
   */
  readonly tun: boolean;
}

/** bwrap and its options, in lines of one or more options with their arguments; the template ends them with `--`. */
export interface SandboxData {
  readonly program: string;
  readonly options: ReadonlyArray<readonly string[]>;
}

/**
 * Debian 12's /usr is merged: /bin, /sbin, /lib and /lib64 are links into
 * it, made again inside the sandbox so that the VMM's interpreter path
 * (/lib64/ld-linux-x86-64.so.2) and #! lines resolve.
 */
const USR_LINKS: ReadonlyArray<readonly [target: string, at: string]> = [
  ['usr/bin', '/bin'], ['usr/sbin', '/sbin'], ['usr/lib', '/lib'], ['usr/lib64', '/lib64'],
];

/** Directories the sandbox shows whole (read-only), so a program below them needs no bind of its own. */
const SHOWN = ['/usr', ...USR_LINKS.map(([, at]) => at)];

/**
 * What every sandbox is, with no VM's files: the namespaces, the signal
 * bond to its parent, /usr, /proc and /dev. Also what check --host tries.
 * - --die-with-parent: bwrap forwards no signal, so a stop's SIGINT (trap
 *   -x) or a timeout-kill of bwrap alone must take the VMM with it.
 * - never --new-session: the VMM would leave the service's process group,
 *   which s6-svc -K and timeout-kill's killpg end.
 * - --disable-userns: a VMM that escapes cannot nest user namespaces to
 *   reach kernel code they expose; crosvm's own jails need them.
 */
export function baseOptions(makesUserNamespaces: boolean): string[][] {
  return [
    ['--unshare-user', '--unshare-pid', '--unshare-ipc', '--unshare-uts', '--unshare-cgroup-try', ...(makesUserNamespaces ? [] : ['--disable-userns'])],
    ['--die-with-parent'],
    ['--ro-bind', '/usr', '/usr'],
    USR_LINKS.flatMap(([target, at]) => ['--symlink', target, at]),
    ['--proc', '/proc', '--dev', '/dev'],
  ];
}

export function sandboxData(r: SandboxRequest): SandboxData {
  const options = baseOptions(r.makesUserNamespaces);
  if (r.kvm) options.push(['--dev-bind-try', '/dev/kvm', '/dev/kvm']);
  if (r.tun) options.push(['--dev-bind-try', '/dev/net/tun', '/dev/net/tun']);
  const programDir = outsideShown(r.vmm);
  if (programDir !== null) options.push(['--ro-bind', programDir, programDir]);
  if (r.sandboxRoot !== null) options.push(['--ro-bind', r.sandboxRoot, r.sandboxRoot]);
  options.push(['--bind', r.runtimeDir, r.runtimeDir]);
  for (const f of r.files) options.push([f.writable ? '--bind' : '--ro-bind', f.path, f.path]);
  options.push(['--chdir', '/']);
  return { program: r.bwrap, options };
}

/**
 * What to bind read-only for a VMM given by absolute path outside what the
 * sandbox shows anyway: its directory (a wrapper may run what lies beside
 * it), or the program alone when that directory is /. Null for one under
 * /usr, or a name (execvp finds it in PATH inside, where only /usr and its
 * links are).
 */
function outsideShown(program: string): string | null {
  if (!program.startsWith('/')) return null;
  const dir = program.slice(0, program.lastIndexOf('/'));
  if (dir === '') return program;
  return SHOWN.some((d) => dir === d || dir.startsWith(`${d}/`)) ? null : dir;
}

/** A place the sandbox shows: at `at` inside, the host's `host` (a directory, or the program alone). */
export interface Shown {
  readonly at: string;
  readonly host: string;
}

/**
 * Where the sandbox of a VMM named `program` shows host files: /usr, the
 * host's /usr/bin at /bin and the other links into /usr, and what is bound
 * for a --vmm-bin outside them. check --host resolves the host side and
 * judges whether the VMM it found is there (rules/host.ts host-vmm-hidden).
 */
export function sandboxShows(program: string): Shown[] {
  const programDir = outsideShown(program);
  return [
    { at: '/usr', host: '/usr' },
    ...USR_LINKS.map(([target, at]) => ({ at, host: `/${target}` })),
    ...(programDir === null ? [] : [{ at: programDir, host: programDir }]),
  ];
}

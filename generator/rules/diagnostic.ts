/**
 * A problem found in the data directory. Every check produces these as values;
 * only the CLI decides how to print them and which exit code they mean.
 */
export type Severity = 'error' | 'warning';

/**
 * Every rule check applies, by stable id (documented in doc/commands.md, safe
 * to match on in scripts; a test keeps that page's list equal to this one):
 * its severity, and whether, reported against the whole tree rather than one
 * VM, it leaves no VM usable (then --keep-going skips every VM).
 */
export const RULES = {
  'data-empty': { severity: 'warning', breaksTree: false, summary: 'the data directory holds no VM directory' },
  'too-many-vms': { severity: 'error', breaksTree: true, summary: 'the data directory holds more entries than --max-vms' },
  'entry-not-directory': { severity: 'warning', breaksTree: false, summary: 'an entry of the data directory is not a directory' },
  'vm-dir-symlink': { severity: 'error', breaksTree: false, summary: 'a VM directory is a symbolic link' },
  'name-not-utf8': { severity: 'error', breaksTree: false, summary: 'a name is not valid UTF-8' },
  'name-control-char': { severity: 'error', breaksTree: false, summary: 'a name contains a newline or another control character' },
  'name-reserved-suffix': { severity: 'error', breaksTree: false, summary: 'a VM name ends in a suffix vmsvc uses for its own services' },
  'name-too-long': { severity: 'error', breaksTree: false, summary: 'a VM name makes a service name or socket path too long' },
  'name-vmm-unsafe': { severity: 'error', breaksTree: false, summary: 'a VM name contains a character the VMM splits options on' },
  'path-vmm-unsafe': { severity: 'error', breaksTree: true, summary: 'a path contains a character the VMM splits options on' },
  'vmlinux-missing': { severity: 'error', breaksTree: false, summary: 'the VM has no vmlinux' },
  'vmlinux-not-file': { severity: 'error', breaksTree: false, summary: 'vmlinux is not a regular file' },
  'vmlinux-unreadable': { severity: 'error', breaksTree: false, summary: 'vmlinux cannot be read' },
  'vmlinux-empty': { severity: 'error', breaksTree: false, summary: 'vmlinux is empty' },
  'vmlinux-compressed': { severity: 'error', breaksTree: false, summary: 'vmlinux is a compressed kernel, not an uncompressed ELF image' },
  'vmlinux-not-elf': { severity: 'error', breaksTree: false, summary: 'vmlinux is not an ELF kernel image' },
  'vmlinux-short': { severity: 'error', breaksTree: false, summary: 'vmlinux is shorter than the bytes the VMM decides its boot protocol on' },
  'vmlinux-multiboot': { severity: 'error', breaksTree: false, summary: 'vmlinux holds a multiboot header, which the VMM would boot it by' },
  'vmlinux-setup-header': { severity: 'error', breaksTree: false, summary: 'vmlinux holds a Linux boot protocol setup header, which the VMM would boot it by' },
  'initramfs-not-file': { severity: 'error', breaksTree: false, summary: 'initramfs is not a readable, non-empty regular file' },
  'blk-missing': { severity: 'error', breaksTree: false, summary: 'the VM has no blk/ directory' },
  'blk-not-directory': { severity: 'error', breaksTree: false, summary: 'blk is not a directory' },
  'blk-no-images': { severity: 'error', breaksTree: false, summary: 'blk/ holds no .img file' },
  'img-not-file': { severity: 'error', breaksTree: false, summary: 'a disk image is not a regular file' },
  'img-dangling-symlink': { severity: 'error', breaksTree: false, summary: 'a disk image is a symbolic link to nothing' },
  'img-unreadable': { severity: 'error', breaksTree: false, summary: 'a disk image cannot be read' },
  'img-empty': { severity: 'error', breaksTree: false, summary: 'a disk image is empty' },
  'img-not-raw': { severity: 'error', breaksTree: false, summary: 'a disk image starts with the signature of a format the VMM (crosvm) would open it as instead of raw' },
  'symlink-escapes': { severity: 'error', breaksTree: false, summary: 'a symbolic link points outside the data directory' },
  'symlink-loop': { severity: 'error', breaksTree: false, summary: 'a symbolic link loops' },
  'providers-not-directory': { severity: 'error', breaksTree: false, summary: 'providers or providers/net is not a directory' },
  'provider-not-file': { severity: 'error', breaksTree: false, summary: 'a providers/net entry is a directory' },
  'provider-unknown': { severity: 'error', breaksTree: false, summary: 'a provider names no VM' },
  'provider-self': { severity: 'error', breaksTree: false, summary: 'a VM names itself as its provider' },
  'provider-cycle': { severity: 'error', breaksTree: false, summary: 'VMs provide for each other in a cycle' },
  'config-not-directory': { severity: 'error', breaksTree: false, summary: 'a VM\'s config is not a directory' },
  'setting-unknown': { severity: 'warning', breaksTree: false, summary: 'config/ holds a file that is no setting' },
  'setting-not-file': { severity: 'error', breaksTree: false, summary: 'a setting file is not a readable regular file' },
  'setting-too-large': { severity: 'error', breaksTree: false, summary: 'a setting file is larger than 4096 bytes (it is not read)' },
  'setting-invalid': { severity: 'error', breaksTree: false, summary: 'a setting file does not hold a valid value (a flag file is not empty)' },
  'setting-out-of-bounds': { severity: 'error', breaksTree: false, summary: 'a setting asks for more than the host allows (--max-memory, --max-cpus, --max-stop-timeout, --max-cpu-weight, --cpu-max, --max-pids, --max-swap, the kernel command line size)' },
  'setting-vmm-unsupported': { severity: 'error', breaksTree: false, summary: 'a VM\'s setting the chosen VMM cannot honour' },
  'last-good-refused': { severity: 'warning', breaksTree: false, summary: 'a running VM whose new definition is refused is not kept on its last good one either: this run\'s limits refuse that (apply)' },
  'autostart-over-memory': { severity: 'warning', breaksTree: false, summary: 'an autostart VM (with its providers) does not fit in the memory the autostart VMs may take (--autostart-memory); it is not autostarted' },
  'autostart-over-cpus': { severity: 'warning', breaksTree: false, summary: 'an autostart VM (with its providers) does not fit in the vCPUs the autostart VMs may have (--cpu-overcommit); it is not autostarted' },
  'vmm-root': { severity: 'warning', breaksTree: false, summary: 'every VMM runs as root (--vmm-user root)' },
  'vmm-shared-user': { severity: 'warning', breaksTree: false, summary: 'every VMM runs as one shared account (--vmm-user NAME)' },
  'vmm-unsandboxed': { severity: 'warning', breaksTree: false, summary: 'the VMMs run without a sandbox (--sandbox none)' },
  'vmm-unsupported': { severity: 'error', breaksTree: true, summary: 'a setting the chosen VMM cannot honour' },
  'links-exhausted': { severity: 'error', breaksTree: true, summary: 'more network links than the 65534 addresses of 100.64.0.0/16' },
  'host-vmm-missing': { severity: 'error', breaksTree: false, summary: 'the VMM program is not on this host (check --host, apply)' },
  'host-vmm-not-executable': { severity: 'error', breaksTree: false, summary: 'the VMM\'s user cannot execute the VMM program (check --host, apply)' },
  'host-vmm-hidden': { severity: 'error', breaksTree: false, summary: 'the VMM program found (or the file it links to) is not in the VMM\'s sandbox, and --sandbox is bwrap (check --host, apply)' },
  'host-program-missing': { severity: 'error', breaksTree: false, summary: 'a program the generated services run is not on this host (check --host, apply)' },
  'host-s6rc-missing': { severity: 'error', breaksTree: false, summary: 'a program apply runs (s6-rc, s6) is not on this host (check --host, apply)' },
  'host-accel-unusable': { severity: 'error', breaksTree: false, summary: 'KVM cannot create a VM for the VMM\'s user, and --accel is kvm (check --host, apply)' },
  'host-accel-unprobed': { severity: 'warning', breaksTree: false, summary: 'no program to probe KVM with (check --host, apply)' },
  'host-sandbox-unusable': { severity: 'error', breaksTree: false, summary: 'bwrap cannot make the VMM\'s sandbox as the VMM\'s user, and --sandbox is bwrap (check --host, apply)' },
  'host-data-shared-fs': { severity: 'warning', breaksTree: false, summary: 'the data directory shares its file system with the host\'s own directories, so hard links can bring host files into it (check --host, apply)' },
  'host-data-ancestor-untrusted': { severity: 'error', breaksTree: false, summary: 'a directory above the data directory (or a link on the way to it) is not root\'s alone (check --host, apply)' },
  'host-cgroup-unusable': { severity: 'error', breaksTree: false, summary: 'the --cgroup parent is not a cgroup v2 directory that is root\'s alone, offering memory, pids and cpu to its children, with cgroup.kill (check --host, apply; apply stops)' },
  'host-svscan-missing': { severity: 'error', breaksTree: false, summary: 'no s6-svscan runs on the scan directory (check --host --scandir, apply)' },
} as const satisfies Readonly<Record<string, { readonly severity: Severity; readonly breaksTree: boolean; readonly summary: string }>>;

export type RuleId = keyof typeof RULES;
export type RuleOf<S extends Severity> = { [K in RuleId]: (typeof RULES)[K]['severity'] extends S ? K : never }[RuleId];

export interface Diagnostic {
  readonly severity: Severity;
  readonly rule: RuleId;
  /** The file or directory at fault, as a path a person can open. */
  readonly path: string;
  /** The VM this problem makes invalid, when it belongs to one. */
  readonly vm: string | null;
  readonly message: string;
  readonly hint: string;
}

export function error(rule: RuleOf<'error'>, path: string, vm: string | null, message: string, hint: string): Diagnostic {
  return { severity: 'error', rule, path, vm, message, hint };
}

export function warning(rule: RuleOf<'warning'>, path: string, vm: string | null, message: string, hint: string): Diagnostic {
  return { severity: 'warning', rule, path, vm, message, hint };
}

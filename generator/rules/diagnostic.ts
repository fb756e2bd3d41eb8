/**
 * A problem found in the data directory. Every check produces these as values;
 * only the CLI decides how to print them and which exit code they mean.
 */
export type Severity = 'error' | 'warning';

/** Stable rule ids: documented in the README, safe to match on in scripts. */
export const RULES = {
  'data-empty': 'the data directory holds no VM directory',
  'too-many-vms': 'the data directory holds more entries than --max-vms',
  'entry-not-directory': 'an entry of the data directory is not a directory',
  'vm-dir-symlink': 'a VM directory is a symbolic link',
  'name-not-utf8': 'a name is not valid UTF-8',
  'name-control-char': 'a name contains a newline or another control character',
  'name-reserved-suffix': 'a VM name ends in a suffix vmsvc uses for its own services',
  'name-too-long': 'a VM name makes a service name or socket path too long',
  'name-vmm-unsafe': 'a VM name contains a character the VMM splits options on',
  'path-vmm-unsafe': 'a path contains a character the VMM splits options on',
  'vmlinux-missing': 'the VM has no vmlinux',
  'vmlinux-not-file': 'vmlinux is not a regular file',
  'vmlinux-unreadable': 'vmlinux cannot be read',
  'vmlinux-empty': 'vmlinux is empty',
  'vmlinux-compressed': 'vmlinux is a compressed kernel, not an uncompressed ELF image',
  'vmlinux-not-elf': 'vmlinux is not an ELF kernel image',
  'initramfs-not-file': 'initramfs is not a readable, non-empty regular file',
  'blk-missing': 'the VM has no blk/ directory',
  'blk-not-directory': 'blk is not a directory',
  'blk-no-images': 'blk/ holds no .img file',
  'img-not-file': 'a disk image is not a regular file',
  'img-dangling-symlink': 'a disk image is a symbolic link to nothing',
  'img-unreadable': 'a disk image cannot be read',
  'img-empty': 'a disk image is empty',
  'symlink-escapes': 'a symbolic link points outside the data directory',
  'symlink-loop': 'a symbolic link loops',
  'providers-not-directory': 'providers or providers/net is not a directory',
  'provider-not-file': 'a providers/net entry is a directory',
  'provider-unknown': 'a provider names no VM',
  'provider-self': 'a VM names itself as its provider',
  'provider-cycle': 'VMs provide for each other in a cycle',
  'vmm-unsupported': 'a setting the chosen VMM cannot honour',
  'links-exhausted': 'more network links than the 65534 addresses of 100.64.0.0/16',
} as const;

export type RuleId = keyof typeof RULES;

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

export function error(rule: RuleId, path: string, vm: string | null, message: string, hint: string): Diagnostic {
  return { severity: 'error', rule, path, vm, message, hint };
}

export function warning(rule: RuleId, path: string, vm: string | null, message: string, hint: string): Diagnostic {
  return { severity: 'warning', rule, path, vm, message, hint };
}

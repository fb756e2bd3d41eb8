/**
 * Which files root opens for the VMM, and what the VMM is given instead of
 * their paths (vmm/capabilities.ts Handover). Root opens them in the run
 * script before it drops to the VMM's uid, so that uid needs no right on the
 * user's files and vmsvc hands it none: the VMM inherits the descriptors.
 *
 * Root's opens happen in a private mount namespace where the data dir is
 * bound onto itself nosymfollow (templates/common/open-files.hbs): execline's
 * redirfd opens with no O_NOFOLLOW, and a link swapped in after the scan
 * would otherwise lead root's open to any file on the host. The paths opened
 * are the scan's link-free ones (README, Symlink policy), so a link met
 * there now is an attack, and the open fails (ELOOP).
 */
import type { Handover } from '../vmm/index.js';

/**
 * The first descriptor handed over: 0-2 are stdio, 3 is the notification fd
 * s6-notifyoncheck may still hold, 4 the serial pipe while the VMM's logger
 * is started (templates/common/vmm-log.hbs).
 */
const FIRST_FD = 5;

/** One open by root: redirfd's mode (r: O_RDONLY, u: O_RDWR, never creating), the descriptor, the file. */
export interface OpenedFile {
  readonly mode: 'r' | 'u';
  readonly fd: number;
  readonly path: string;
}

/** A disk as the VMM is given it. */
export interface DiskArg {
  /** What the VMM's option gets as the file: the image's path, /dev/fdset/M or /proc/self/fd/N. */
  readonly path: string;
  readonly readonly: 'on' | 'off';
  /** The image in the data dir. */
  readonly source: string;
  /** Passed as a descriptor: the VMM never opens `source` by path (a sandbox need not show it). */
  readonly byDescriptor: boolean;
  /** QEMU's fdset (-add-fd fd=N,set=M for each of `fds`); null unless the VMM takes fdsets. */
  readonly fdset: { readonly set: number; readonly fds: readonly number[] } | null;
}

/** A kernel or initramfs as the VMM is given it. */
export interface BootFile {
  readonly path: string;
  readonly source: string;
  readonly byDescriptor: boolean;
}

/** What the run script opens before the drop: the namespace's words and the opens; null when nothing is opened. */
export interface OpensData {
  readonly unshare: string;
  readonly mount: string;
  /** The data dir at run time, re-bound nosymfollow,nodev,nosuid,noexec in the private namespace. */
  readonly dataDir: string;
  readonly files: readonly OpenedFile[];
}

export interface HandoverData {
  readonly opens: OpensData | null;
  readonly kernel: BootFile;
  readonly initramfs: BootFile | null;
  readonly disks: readonly DiskArg[];
}

export interface HandoverInput {
  readonly handover: { readonly disks: Handover; readonly kernel: Exclude<Handover, 'fdset'> };
  readonly dataDir: string;
  readonly kernel: string;
  readonly initramfs: string | null;
  readonly disks: readonly string[];
  readonly writable: boolean;
  readonly programs: { readonly unshare: string; readonly mount: string };
}

export function planHandover(v: HandoverInput): HandoverData {
  const files: OpenedFile[] = [];
  const open = (mode: 'r' | 'u', file: string): number => {
    const fd = FIRST_FD + files.length;
    files.push({ mode, fd, path: file });
    return fd;
  };
  const boot = (file: string): BootFile => {
    if (v.handover.kernel === 'path') return { path: file, source: file, byDescriptor: false };
    return { path: `/proc/self/fd/${open('r', file)}`, source: file, byDescriptor: true };
  };
  const kernel = boot(v.kernel);
  const initramfs = v.initramfs === null ? null : boot(v.initramfs);
  const readonly = v.writable ? 'off' : 'on';
  const disks = v.disks.map((file, i): DiskArg => {
    switch (v.handover.disks) {
      case 'path':
        return { path: file, readonly, source: file, byDescriptor: false, fdset: null };
      case 'proc-fd':
        return { path: `/proc/self/fd/${open(v.writable ? 'u' : 'r', file)}`, readonly, source: file, byDescriptor: true, fdset: null };
      case 'fdset': {
        // Read-only first, as QEMU opens it; read-write beside it only for a writable disk.
        const fds = v.writable ? [open('r', file), open('u', file)] : [open('r', file)];
        return { path: `/dev/fdset/${i}`, readonly, source: file, byDescriptor: true, fdset: { set: i, fds } };
      }
    }
  });
  const opens = files.length === 0 ? null : { unshare: v.programs.unshare, mount: v.programs.mount, dataDir: v.dataDir, files };
  return { opens, kernel, initramfs, disks };
}

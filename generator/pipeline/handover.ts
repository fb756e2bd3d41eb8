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
 * are the scan's link-free ones (doc/data-directory.md, Symlink policy), so a link met
 * there now is an attack, and the open fails (ELOOP).
 *
 * A file the VMM can only take by path (cloud-hypervisor's disks, kernel and
 * initramfs; QEMU's kernel and initramfs) is opened by root the same way, to
 * grant the VMM's uid an ACL entry through that descriptor (setfacl on
 * /proc/self/fd/N acts on the opened file, whatever is at the path by then),
 * and closed again: that uid can then open its own files and no other VM's.
 * The finish script takes the entries away once the VMM is gone.
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
  /** Opened only to grant the VMM's uid these rights (an ACL entry), then closed; null: handed to the VMM. */
  readonly grant: 'r' | 'rw' | null;
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
  readonly setfacl: string;
  /** The data dir at run time, re-bound nosymfollow,nodev,nosuid,noexec in the private namespace. */
  readonly dataDir: string;
  readonly files: readonly OpenedFile[];
  /** setfacl's qualifier for the VMM's user (a uid, or the shared user's name); null when nothing is granted. */
  readonly grantee: string | null;
}

export interface HandoverData {
  readonly opens: OpensData | null;
  /** The files granted to the VMM's uid, for the finish script to take back (same shape; every file has a grant); null: none. */
  readonly revoke: OpensData | null;
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
  /** setfacl's qualifier for the VMM's user (a uid, or the shared user's name); null: the VMM runs as root and needs no grant. */
  readonly grantee: string | null;
  readonly programs: { readonly unshare: string; readonly mount: string; readonly setfacl: string };
}

export function planHandover(v: HandoverInput): HandoverData {
  const files: OpenedFile[] = [];
  const open = (mode: 'r' | 'u', file: string, grant: 'r' | 'rw' | null = null): number => {
    const fd = FIRST_FD + files.length;
    files.push({ mode, fd, path: file, grant });
    return fd;
  };
  // By path: the VMM's uid gets an entry of its own, unless it is root; opened
  // after the files handed over, whose descriptors then do not depend on them.
  const grants: Array<{ readonly file: string; readonly grant: 'r' | 'rw' }> = [];
  const byPath = (file: string, grant: 'r' | 'rw'): void => {
    if (v.grantee !== null) grants.push({ file, grant });
  };
  const boot = (file: string): BootFile => {
    if (v.handover.kernel === 'path') {
      byPath(file, 'r');
      return { path: file, source: file, byDescriptor: false };
    }
    return { path: `/proc/self/fd/${open('r', file)}`, source: file, byDescriptor: true };
  };
  const kernel = boot(v.kernel);
  const initramfs = v.initramfs === null ? null : boot(v.initramfs);
  const readonly = v.writable ? 'off' : 'on';
  const disks = v.disks.map((file, i): DiskArg => {
    switch (v.handover.disks) {
      case 'path':
        byPath(file, v.writable ? 'rw' : 'r');
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
  for (const g of grants) open('r', g.file, g.grant);
  const opensOf = (list: readonly OpenedFile[]): OpensData | null => list.length === 0 ? null : {
    unshare: v.programs.unshare, mount: v.programs.mount, setfacl: v.programs.setfacl, dataDir: v.dataDir, files: list, grantee: v.grantee,
  };
  return { opens: opensOf(files), revoke: opensOf(files.filter((f) => f.grant !== null)), kernel, initramfs, disks };
}

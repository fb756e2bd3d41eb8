/**
 * The facts the scan collects and the rules judge: what each path of the data
 * directory turned out to be. Types only, so that the rules (below the
 * pipeline) can read what pipeline/scan.ts produces without importing it.
 */
import type { ImageSignature } from '../util/image-format.js';
import type { KernelFormat } from '../util/kernel-format.js';
import type { Unreached } from '../util/path-walk.js';
import type { FileKind } from '../util/untrusted.js';

/** What a path turned out to be, symbolic links resolved as the kernel resolves them. */
export type Node =
  | Unreached
  | {
      readonly kind: FileKind;
      readonly viaSymlink: boolean;
      readonly size: number;
      readonly readable: boolean;
      /**
       * For a link: the path below the data dir that the kernel reaches, with
       * no link left in it. The VMM is given this path, so it opens the file
       * that was checked even where the data dir is staged elsewhere.
       */
      readonly resolved: string | null;
    };

export interface ScannedFile {
  readonly name: string;
  readonly path: string;
  readonly node: Node;
}

/** A blk/*.img entry. */
export interface ScannedImage extends ScannedFile {
  /**
   * For a VMM that probes image formats: the signature its first bytes
   * match, which the VMM would open it by instead of as raw; null when they
   * match none, or when the VMM was not one that probes (nothing was read).
   * Only this verdict is kept, a shared object, not the bytes.
   */
  readonly signature: ImageSignature | null;
}

/**
 * One entry of a VM's config/ directory. `content` is the file's bytes when
 * it is a readable regular file (reached inside the data dir) of at most
 * CONFIG_MAX_BYTES; null otherwise, and then `node` says what it is (its
 * size may be larger than the cap: the bytes were never read).
 */
export interface ScannedSetting {
  /** The entry's name; one that is not UTF-8 is shown with \xNN escapes, and has no content. */
  readonly name: string;
  readonly path: string;
  readonly node: Node;
  readonly content: Buffer | null;
}

/** A config/ file larger than this is refused unread: every setting fits in one short line. */
export const CONFIG_MAX_BYTES = 4096;

export interface ScannedVm {
  readonly name: string;
  readonly dir: string;
  readonly vmlinux: Node;
  /**
   * What the first bytes of vmlinux say it is, when it is a readable regular
   * file. The bytes themselves are not kept: a 1 KiB buffer per VM was 10 MB
   * of native memory at 10000 VMs.
   */
  readonly vmlinuxFormat: KernelFormat | null;
  /** The optional initramfs beside vmlinux. */
  readonly initramfs: Node;
  /** blk/, lstat'ed: a symbolic link here is reported, not followed. */
  readonly blk: Node;
  readonly images: readonly ScannedImage[];
  readonly providersDir: Node;
  readonly providersNetDir: Node;
  readonly providers: readonly ScannedFile[];
  /** config/, lstat'ed like blk/: a link here is reported, not followed. */
  readonly configDir: Node;
  /** Its entries (hidden ones left out), in directory order. */
  readonly config: readonly ScannedSetting[];
  /** Entries below the VM dir whose names are not valid UTF-8 (raw bytes shown escaped). */
  readonly undecodable: readonly string[];
}

export interface ScannedTree {
  /** The data dir as given, made absolute: every generated path starts with it. */
  readonly root: string;
  /** The VM dirs' names, in directory order: known before any VM is read. */
  readonly vmNames: readonly string[];
  /**
   * The VMs in the order of vmNames, each read from disk only when the
   * iteration reaches it (again on every iteration): check walks them once
   * and keeps what it needs, so a VM's facts die young. Scanned all up front,
   * 10000 VMs' facts outlived their check as ~10 MB of old-generation garbage
   * that no collection came back for before the tree was written.
   */
  readonly vms: Iterable<ScannedVm>;
  /** Top-level entries that cannot be VMs: non-directories and symbolic links. */
  readonly others: readonly ScannedFile[];
  readonly undecodable: readonly string[];
  /** Entries at the top of the data dir, hidden ones included. */
  readonly entryCount: number;
}

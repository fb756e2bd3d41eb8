/**
 * Tells what kind of kernel file a vmlinux is from its first bytes. The VMMs
 * boot an uncompressed ELF vmlinux directly (PVH entry); a bzImage or a
 * compressed image is the commonest mistake, so it gets its own answer.
 * An ELF file can also carry the headers of other boot protocols, which some
 * VMMs look for before the ELF header (vmm/capabilities.ts KernelProbes):
 * they are reported with it.
 */
export type KernelFormat =
  | { readonly kind: 'elf'; readonly other: OtherBootHeaders }
  | { readonly kind: 'bzimage' }
  | { readonly kind: 'compressed'; readonly codec: string }
  | { readonly kind: 'unknown' };

const COMPRESSED: ReadonlyArray<readonly [string, readonly number[]]> = [
  ['gzip', [0x1f, 0x8b]],
  ['xz', [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
  ['zstd', [0x28, 0xb5, 0x2f, 0xfd]],
  ['lz4', [0x02, 0x21, 0x4c, 0x18]],
  ['bzip2', [0x42, 0x5a, 0x68]],
  ['lzma', [0x5d, 0x00, 0x00]],
  ['lzo', [0x89, 0x4c, 0x5a, 0x4f]],
];

/** The headers of other boot protocols found in an ELF kernel file. */
export interface OtherBootHeaders {
  /** "HdrS" at 0x202: the x86 Linux boot protocol's setup header, a bzImage's. */
  readonly linuxSetupHeader: boolean;
  /** The file offset of the first valid multiboot (v1) header, or null. */
  readonly multibootAt: number | null;
}

/** x86 boot protocol: "HdrS" at offset 0x202 marks a bzImage (EFI-stub ones start with "MZ"). */
const BZIMAGE_MAGIC_OFFSET = 0x202;
const HDRS = [0x48, 0x64, 0x72, 0x53];

/**
 * Multiboot (v1): the magic at a 4-byte-aligned offset, followed by flags
 * and a checksum that make the three add up to 0 modulo 2^32. Loaders look
 * for it in the file's first 8192 bytes: QEMU at offsets below 8144
 * (hw/i386/multiboot.c, load_multiboot), crosvm up to the last whole
 * 12-byte header there, offset 8180 (kernel_loader/src/multiboot.rs,
 * multiboot_header_from_file).
 */
const MULTIBOOT_MAGIC = 0x1badb002;
const MULTIBOOT_LAST_OFFSET = 8180;
/** How much of a vmlinux the decision needs: every multiboot offset any VMM scans, and the setup header. */
export const KERNEL_HEAD_BYTES = 8192;

// Shared answers: the scan keeps one per VM.
const PLAIN_ELF: KernelFormat = Object.freeze({ kind: 'elf', other: Object.freeze({ linuxSetupHeader: false, multibootAt: null }) });
const BZIMAGE: KernelFormat = Object.freeze({ kind: 'bzimage' });
const UNKNOWN: KernelFormat = Object.freeze({ kind: 'unknown' });

/** `head`: the file's first KERNEL_HEAD_BYTES bytes, or all of a shorter file. */
export function kernelFormat(head: Uint8Array): KernelFormat {
  const linuxSetupHeader = startsWith(head, HDRS, BZIMAGE_MAGIC_OFFSET);
  if (startsWith(head, [0x7f, 0x45, 0x4c, 0x46], 0)) {
    const multibootAt = multibootHeaderAt(head);
    return !linuxSetupHeader && multibootAt === null ? PLAIN_ELF : { kind: 'elf', other: { linuxSetupHeader, multibootAt } };
  }
  if (linuxSetupHeader) return BZIMAGE;
  for (const [codec, magic] of COMPRESSED) {
    if (startsWith(head, magic, 0)) return { kind: 'compressed', codec };
  }
  return UNKNOWN;
}

function multibootHeaderAt(head: Uint8Array): number | null {
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  for (let at = 0; at <= MULTIBOOT_LAST_OFFSET && at + 12 <= head.length; at += 4) {
    if (view.getUint32(at, true) !== MULTIBOOT_MAGIC) continue;
    if (((MULTIBOOT_MAGIC + view.getUint32(at + 4, true) + view.getUint32(at + 8, true)) >>> 0) === 0) return at;
  }
  return null;
}

function startsWith(buf: Uint8Array, magic: readonly number[], offset: number): boolean {
  if (buf.length < offset + magic.length) return false;
  return magic.every((b, i) => buf[offset + i] === b);
}

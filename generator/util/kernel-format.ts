/**
 * Tells what kind of kernel file a vmlinux is from its first bytes. The VMMs
 * boot an uncompressed ELF vmlinux directly (PVH entry); a bzImage or a
 * compressed image is the commonest mistake, so it gets its own answer.
 */
export type KernelFormat =
  | { readonly kind: 'elf' }
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

/** x86 boot protocol: "HdrS" at offset 0x202 marks a bzImage (EFI-stub ones start with "MZ"). */
const BZIMAGE_MAGIC_OFFSET = 0x202;

// Shared answers: the scan keeps one per VM.
const ELF: KernelFormat = Object.freeze({ kind: 'elf' });
const BZIMAGE: KernelFormat = Object.freeze({ kind: 'bzimage' });
const UNKNOWN: KernelFormat = Object.freeze({ kind: 'unknown' });

export function kernelFormat(head: Uint8Array): KernelFormat {
  if (startsWith(head, [0x7f, 0x45, 0x4c, 0x46], 0)) return ELF;
  if (startsWith(head, [0x48, 0x64, 0x72, 0x53], BZIMAGE_MAGIC_OFFSET)) return BZIMAGE;
  for (const [codec, magic] of COMPRESSED) {
    if (startsWith(head, magic, 0)) return { kind: 'compressed', codec };
  }
  return UNKNOWN;
}

function startsWith(buf: Uint8Array, magic: readonly number[], offset: number): boolean {
  if (buf.length < offset + magic.length) return false;
  return magic.every((b, i) => buf[offset + i] === b);
}

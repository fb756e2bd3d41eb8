/**
 * Tells from a disk image's first bytes whether a VMM that probes image
 * formats would open it as something other than raw. The signatures are the
 * VMM's own (vmm/<vmm>.ts declares them, with citations); this only matches.
 */

/** One byte of a signature: a value, or an inclusive range of values (zstd's skippable frames). */
export type SignatureByte = number | { readonly from: number; readonly to: number };

export interface ImageSignature {
  /** The format's name, for messages: "QCOW2". */
  readonly format: string;
  /** The bytes at offset 0 that make the VMM open the image as `format`. */
  readonly magic: readonly SignatureByte[];
  /** What the VMM then does, for the message: why the image is refused. */
  readonly why: string;
  readonly hint: string;
}

/** How many first bytes of an image decide among `signatures`: the longest magic. */
export function headBytesFor(signatures: readonly ImageSignature[]): number {
  return signatures.reduce((n, s) => Math.max(n, s.magic.length), 0);
}

/**
 * The first signature `head` matches, or null (raw). Bytes past the end of
 * `head` (an image shorter than a magic) count as zero, as in crosvm, which
 * compares its magics against a zero-filled buffer it read the file into.
 */
export function imageSignatureOf(head: Uint8Array, signatures: readonly ImageSignature[]): ImageSignature | null {
  for (const s of signatures) {
    if (s.magic.every((m, i) => matches(m, i < head.length ? head[i]! : 0))) return s;
  }
  return null;
}

function matches(m: SignatureByte, b: number): boolean {
  return typeof m === 'number' ? m === b : b >= m.from && b <= m.to;
}

/** A signature's bytes as hex, for messages: a range as 50-5f. */
export function showMagic(magic: readonly SignatureByte[]): string {
  const hex = (b: number): string => b.toString(16).padStart(2, '0');
  return magic.map((m) => (typeof m === 'number' ? hex(m) : `${hex(m.from)}-${hex(m.to)}`)).join(' ');
}

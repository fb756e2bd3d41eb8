/**
 * Recover the uncompressed ELF kernel (`vmlinux`) from an x86 bzImage
 * (`/boot/vmlinuz-*`), so that QEMU can boot it with `-kernel vmlinux` through
 * the PVH entry point (ELF note XEN_ELFNOTE_PHYS32_ENTRY).
 *
 * Written for this project from the idea only (not derived from Linux's
 * scripts/extract-vmlinux):
 *  1. If the x86 boot protocol header (>= 2.08) names the payload
 *     (`payload_offset`/`payload_length`), try that slice first.
 *  2. Otherwise scan the image for the magic numbers of every compressor the
 *     kernel supports and try each offset in turn.
 * Each candidate is piped through the matching command-line decompressor; exit
 * codes are ignored (the tools complain about the trailing bytes after the
 * payload), and the first output that is a complete ELF file wins. The result
 * is trimmed to the extent the ELF headers describe, dropping anything the
 * decompressor produced from trailing garbage.
 */
import { spawn } from 'node:child_process';

interface Codec {
  readonly name: string;
  readonly magic: Buffer;
  readonly argv: readonly string[];
  /** Weak magics (lzma) are only tried after every strong one failed. */
  readonly weak?: boolean;
}

const CODECS: readonly Codec[] = [
  { name: 'gzip', magic: Buffer.from([0x1f, 0x8b, 0x08]), argv: ['gzip', '-dc'] },
  { name: 'xz', magic: Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]), argv: ['xz', '-dc', '--single-stream'] },
  { name: 'zstd', magic: Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), argv: ['zstd', '-dc'] },
  // The kernel's lz4 payloads use the legacy frame format.
  { name: 'lz4', magic: Buffer.from([0x02, 0x21, 0x4c, 0x18]), argv: ['lz4', '-dc'] },
  { name: 'bzip2', magic: Buffer.from('BZh'), argv: ['bzip2', '-dc'] },
  { name: 'lzo', magic: Buffer.from([0x89, 0x4c, 0x5a, 0x4f, 0x00, 0x0d, 0x0a, 0x1a, 0x0a]), argv: ['lzop', '-dc'] },
  { name: 'lzma', magic: Buffer.from([0x5d, 0x00, 0x00]), argv: ['xz', '-dc', '--format=lzma'], weak: true },
];

/** At most this many offsets per codec are tried (false positives are common for short magics). */
const MAX_TRIES_PER_CODEC = 32;

export interface ElfInfo {
  /** Bytes from the start of the file covered by headers, segments and sections. */
  readonly extent: number;
  readonly hasInterp: boolean;
  /** Whether a PT_NOTE carries the Xen/PVH entry note (name "Xen", type 18). */
  readonly hasPvhNote: boolean;
}

/**
 * Parse a little-endian ELF64 file's headers. Returns undefined when `buf` is
 * not a complete ELF64 file (bad magic or any table/segment/section beyond the end).
 */
export function inspectElf(buf: Buffer): ElfInfo | undefined {
  if (buf.length < 64 || buf.readUInt32BE(0) !== 0x7f454c46) return undefined;
  if (buf[4] !== 2 || buf[5] !== 1) return undefined; // ELFCLASS64, little-endian
  const num = (v: bigint): number => (v > BigInt(Number.MAX_SAFE_INTEGER) ? Infinity : Number(v));
  const phoff = num(buf.readBigUInt64LE(0x20));
  const shoff = num(buf.readBigUInt64LE(0x28));
  const phentsize = buf.readUInt16LE(0x36);
  const phnum = buf.readUInt16LE(0x38);
  const shentsize = buf.readUInt16LE(0x3a);
  const shnum = buf.readUInt16LE(0x3c);
  let extent = 64;
  let hasInterp = false;
  let hasPvhNote = false;
  if (phnum > 0) {
    if (phentsize < 56) return undefined;
    const end = phoff + phnum * phentsize;
    if (end > buf.length) return undefined;
    extent = Math.max(extent, end);
    for (let i = 0; i < phnum; i++) {
      const p = phoff + i * phentsize;
      const type = buf.readUInt32LE(p);
      const off = num(buf.readBigUInt64LE(p + 8));
      const filesz = num(buf.readBigUInt64LE(p + 32));
      if (off + filesz > buf.length) return undefined;
      extent = Math.max(extent, off + filesz);
      if (type === 3) hasInterp = true; // PT_INTERP
      if (type === 4 && scanNotes(buf.subarray(off, off + filesz))) hasPvhNote = true; // PT_NOTE
    }
  }
  if (shnum > 0) {
    if (shentsize < 64) return undefined;
    const end = shoff + shnum * shentsize;
    if (end > buf.length) return undefined;
    extent = Math.max(extent, end);
    for (let i = 0; i < shnum; i++) {
      const s = shoff + i * shentsize;
      const type = buf.readUInt32LE(s + 4);
      if (type === 0 || type === 8) continue; // SHT_NULL, SHT_NOBITS
      const off = num(buf.readBigUInt64LE(s + 24));
      const size = num(buf.readBigUInt64LE(s + 32));
      if (off + size > buf.length) return undefined;
      extent = Math.max(extent, off + size);
    }
  }
  return { extent, hasInterp, hasPvhNote };
}

function scanNotes(notes: Buffer): boolean {
  const align4 = (n: number) => (n + 3) & ~3;
  let p = 0;
  while (p + 12 <= notes.length) {
    const namesz = notes.readUInt32LE(p);
    const descsz = notes.readUInt32LE(p + 4);
    const type = notes.readUInt32LE(p + 8);
    const name = notes.subarray(p + 12, p + 12 + namesz).toString('latin1').replace(/\0+$/, '');
    if (name === 'Xen' && type === 18) return true; // XEN_ELFNOTE_PHYS32_ENTRY
    p += 12 + align4(namesz) + align4(descsz);
  }
  return false;
}

function indicesOf(buf: Buffer, magic: Buffer, limit: number): number[] {
  const out: number[] = [];
  for (let i = buf.indexOf(magic); i !== -1 && out.length < limit; i = buf.indexOf(magic, i + 1)) out.push(i);
  return out;
}

/** Decompress `input` with the codec's CLI tool; resolves to the trimmed ELF, or undefined. */
function tryCodec(codec: Codec, input: Buffer): Promise<Buffer | undefined> {
  const [cmd, ...args] = codec.argv as [string, ...string[]];
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'ignore'] });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => chunks.push(c));
    child.stdin.on('error', () => {}); // EPIPE: the tool stops reading at the end of its stream
    child.on('error', () => resolve(undefined)); // tool not installed
    child.on('close', () => {
      const out = Buffer.concat(chunks);
      const info = out.length >= 64 ? inspectElf(out) : undefined;
      resolve(info ? out.subarray(0, info.extent) : undefined);
    });
    child.stdin.end(input);
  });
}

export interface Extracted {
  readonly vmlinux: Buffer;
  /** The codec that produced it ('none' if the input already was an ELF file). */
  readonly codec: string;
  readonly offset: number;
}

/** Extract the ELF kernel from a bzImage (or return an ELF input unchanged). Throws if none is found. */
export async function extractVmlinux(image: Buffer): Promise<Extracted> {
  const direct = inspectElf(image);
  if (direct) return { vmlinux: image.subarray(0, direct.extent), codec: 'none', offset: 0 };

  const tried = new Set<string>();
  const attempt = async (codec: Codec, offset: number): Promise<Extracted | undefined> => {
    const key = `${codec.name}@${offset}`;
    if (tried.has(key)) return undefined;
    tried.add(key);
    const vmlinux = await tryCodec(codec, image.subarray(offset));
    return vmlinux ? { vmlinux, codec: codec.name, offset } : undefined;
  };

  // 1. The boot protocol header: "HdrS" at 0x202, version at 0x206.
  if (image.length > 0x250 && image.toString('latin1', 0x202, 0x206) === 'HdrS' && image.readUInt16LE(0x206) >= 0x208) {
    const setupSects = image[0x1f1] || 4;
    const start = (setupSects + 1) * 512 + image.readUInt32LE(0x248);
    const length = image.readUInt32LE(0x24c);
    if (length > 0 && start + length <= image.length) {
      const payload = image.subarray(start, start + length);
      for (const codec of CODECS) {
        if (payload.subarray(0, codec.magic.length).equals(codec.magic)) {
          const r = await attempt(codec, start);
          if (r) return r;
        }
      }
    }
  }

  // 2. Scan for magics, strong codecs first, each in offset order.
  for (const weak of [false, true]) {
    const candidates = CODECS.filter((c) => !!c.weak === weak)
      .flatMap((codec) => indicesOf(image, codec.magic, MAX_TRIES_PER_CODEC).map((offset) => ({ codec, offset })))
      .sort((a, b) => a.offset - b.offset);
    for (const { codec, offset } of candidates) {
      const r = await attempt(codec, offset);
      if (r) return r;
    }
  }
  throw new Error(`extract-vmlinux: no compressed ELF payload found (tried ${tried.size} candidates)`);
}

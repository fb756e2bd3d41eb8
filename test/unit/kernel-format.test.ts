import test from 'ava';
import { kernelFormat, type KernelFormat } from '../../generator/util/kernel-format.js';
import { ELF_HEADER, multibootElf } from '../support/data-dir.js';

/** `magic` at `offset` in a buffer of `size` bytes (zero-filled elsewhere). */
function withMagic(magic: readonly number[] | string, offset = 0, size = 1024): Buffer {
  const buf = Buffer.alloc(Math.max(size, offset + magic.length));
  (typeof magic === 'string' ? Buffer.from(magic, 'latin1') : Buffer.from(magic)).copy(buf, offset);
  return buf;
}

const compressed = (codec: string): KernelFormat => ({ kind: 'compressed', codec });

const MAGICS: ReadonlyArray<readonly [string, readonly number[]]> = [
  ['gzip', [0x1f, 0x8b]],
  ['xz', [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
  ['zstd', [0x28, 0xb5, 0x2f, 0xfd]],
  ['lz4', [0x02, 0x21, 0x4c, 0x18]],
  ['bzip2', [0x42, 0x5a, 0x68]],
  ['lzma', [0x5d, 0x00, 0x00]],
  ['lzo', [0x89, 0x4c, 0x5a, 0x4f]],
];

const ELF: KernelFormat = { kind: 'elf', other: { linuxSetupHeader: false, multibootAt: null } };

test('ELF magic is an ELF image', (t) => {
  t.deepEqual(kernelFormat(ELF_HEADER), ELF);
  t.deepEqual(kernelFormat(withMagic([0x7f, 0x45, 0x4c, 0x46])), ELF);
  // Exactly the four magic bytes and nothing else is still ELF.
  t.deepEqual(kernelFormat(Uint8Array.from([0x7f, 0x45, 0x4c, 0x46])), ELF);
});

test('a truncated ELF magic is unknown', (t) => {
  t.deepEqual(kernelFormat(Uint8Array.from([0x7f, 0x45, 0x4c])), { kind: 'unknown' });
  t.deepEqual(kernelFormat(withMagic('\x7fELf')), { kind: 'unknown' });
});

test('ELF magic at a non-zero offset is not ELF', (t) => {
  t.deepEqual(kernelFormat(withMagic([0x7f, 0x45, 0x4c, 0x46], 1)), { kind: 'unknown' });
});

test('bzImage: "HdrS" at 0x202', (t) => {
  t.deepEqual(kernelFormat(withMagic('HdrS', 0x202)), { kind: 'bzimage' });
  // An EFI-stub bzImage starts with "MZ" and still has the setup header.
  const efi = withMagic('HdrS', 0x202);
  efi.write('MZ', 0, 'latin1');
  t.deepEqual(kernelFormat(efi), { kind: 'bzimage' });
  // Exactly long enough.
  t.deepEqual(kernelFormat(withMagic('HdrS', 0x202, 0x206)), { kind: 'bzimage' });
});

test('bzImage magic one byte off, or cut short, is not a bzImage', (t) => {
  t.deepEqual(kernelFormat(withMagic('HdrS', 0x201)), { kind: 'unknown' });
  t.deepEqual(kernelFormat(withMagic('HdrS', 0x203)), { kind: 'unknown' });
  t.deepEqual(kernelFormat(withMagic('HdrS', 0x202).subarray(0, 0x205)), { kind: 'unknown' });
  t.deepEqual(kernelFormat(withMagic('HdrS', 0)), { kind: 'unknown' });
});

test('ELF wins over a bzImage header, which is reported with it', (t) => {
  const both = withMagic('HdrS', 0x202);
  Buffer.from([0x7f, 0x45, 0x4c, 0x46]).copy(both, 0);
  t.deepEqual(kernelFormat(both), { kind: 'elf', other: { linuxSetupHeader: true, multibootAt: null } });
});

for (const [codec, magic] of MAGICS) {
  test(`${codec} magic is ${codec}-compressed`, (t) => {
    t.deepEqual(kernelFormat(withMagic(magic)), compressed(codec));
    t.deepEqual(kernelFormat(Uint8Array.from(magic)), compressed(codec), 'exactly the magic bytes');
  });

  test(`${codec} magic cut short by one byte is unknown`, (t) => {
    t.deepEqual(kernelFormat(Uint8Array.from(magic.slice(0, -1))), { kind: 'unknown' });
  });

  test(`${codec} magic at offset 1 is unknown`, (t) => {
    t.deepEqual(kernelFormat(withMagic(magic, 1)), { kind: 'unknown' });
  });
}

test('a bzImage whose first bytes look like gzip is a bzImage', (t) => {
  const buf = withMagic('HdrS', 0x202);
  Buffer.from([0x1f, 0x8b]).copy(buf, 0);
  t.deepEqual(kernelFormat(buf), { kind: 'bzimage' });
});

test('empty, zero-filled and text heads are unknown', (t) => {
  t.deepEqual(kernelFormat(new Uint8Array(0)), { kind: 'unknown' });
  t.deepEqual(kernelFormat(new Uint8Array(1024)), { kind: 'unknown' });
  t.deepEqual(kernelFormat(Buffer.from('#!/bin/sh\necho not a kernel\n')), { kind: 'unknown' });
  t.deepEqual(kernelFormat(Buffer.from('this is not a kernel\n'.repeat(100))), { kind: 'unknown' });
});

test('a Uint8Array view with a non-zero byteOffset is read from its own start', (t) => {
  const backing = Buffer.alloc(2048, 0x41);
  Buffer.from([0x1f, 0x8b]).copy(backing, 100);
  t.deepEqual(kernelFormat(new Uint8Array(backing.buffer, backing.byteOffset + 100, 1024)), compressed('gzip'));
});

test('a multiboot header in an ELF: the first 4-aligned offset up to 8180 whose magic, flags and checksum add up to 0', (t) => {
  const at = (kernel: Buffer): number | null => {
    const f = kernelFormat(kernel);
    return f.kind === 'elf' ? f.other.multibootAt : null;
  };
  t.is(at(multibootElf(64)), 64);
  t.is(at(multibootElf(8180)), 8180);
  t.is(at(multibootElf(8184)), null, 'past every loader\'s window');
  t.is(at(multibootElf(64, 0)), 64, 'any flags');
  t.is(at(multibootElf(64, 0xffffffff)), 64, 'flags that wrap the sum');
  t.is(at(multibootElf(64, 0x10000, 16384, true)), null, 'a bad checksum');
  t.is(at(multibootElf(64).subarray(0, 75)), null, 'cut inside the header');
  t.is(at(multibootElf(64).subarray(0, 76)), 64, 'exactly the header');
  const two = multibootElf(4096);
  multibootElf(128).copy(two, 128, 128, 140);
  t.is(at(two), 128, 'the first one wins');
});

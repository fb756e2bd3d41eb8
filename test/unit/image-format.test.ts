import test from 'ava';
import { headBytesFor, imageSignatureOf, showMagic, type ImageSignature } from '../../generator/util/image-format.js';
import { VMM_FACTS, VMMS } from '../../generator/vmm/index.js';

const crosvmSignatures = (): readonly ImageSignature[] => {
  const f = VMM_FACTS.crosvm.imageFormat;
  return f.kind === 'probed' ? f.signatures : [];
};

test('only crosvm probes image formats; QEMU and cloud-hypervisor are told raw', (t) => {
  t.deepEqual(VMMS.filter((v) => VMM_FACTS[v].imageFormat.kind === 'probed'), ['crosvm']);
});

test('crosvm: the scan reads 15 bytes of each image (CDISK_MAGIC, doc/vmm-crosvm.md says so)', (t) => {
  t.is(headBytesFor(crosvmSignatures()), 15);
  t.is(headBytesFor([]), 0);
});

test('crosvm: each signature, by its first bytes; the shared object is the verdict', (t) => {
  const sigs = crosvmSignatures();
  const of = (bytes: readonly number[]): string | null => imageSignatureOf(Uint8Array.from(bytes), sigs)?.format ?? null;
  t.is(of([0x51, 0x46, 0x49, 0xfb, 0, 0, 0, 3]), 'QCOW2');
  t.is(of([...Buffer.from('composite_disk\x1d')]), 'composite disk');
  t.is(of([0x3a, 0xff, 0x26, 0xed]), 'Android sparse');
  t.is(of([0x28, 0xb5, 0x2f, 0xfd]), 'zstd');
  for (let b = 0x50; b <= 0x5f; b++) t.is(of([b, 0x2a, 0x4d, 0x18]), 'zstd (skippable frame)');
  t.is(of([0x4f, 0x2a, 0x4d, 0x18]), null);
  t.is(of([0x60, 0x2a, 0x4d, 0x18]), null);
  t.is(imageSignatureOf(Uint8Array.from([0x51, 0x46, 0x49, 0xfb]), sigs), sigs.find((s) => s.format === 'QCOW2') ?? null);
});

test('an image shorter than a magic is raw: the rest counts as zero bytes, as in crosvm\'s zero-filled buffer', (t) => {
  const sigs = crosvmSignatures();
  t.is(imageSignatureOf(Uint8Array.from([0x51, 0x46, 0x49]), sigs), null);
  t.is(imageSignatureOf(new Uint8Array(0), sigs), null);
  // A magic ending in a zero byte would match a file that stops just before it.
  const zeroTail: ImageSignature = { format: 'z', magic: [0x41, 0x00], why: 'w', hint: 'h' };
  t.is(imageSignatureOf(Uint8Array.from([0x41]), [zeroTail]), zeroTail);
});

test('showMagic: hex bytes, a range as from-to', (t) => {
  t.is(showMagic([0x51, 0x46, 0x49, 0xfb]), '51 46 49 fb');
  t.is(showMagic([{ from: 0x50, to: 0x5f }, 0x2a]), '50-5f 2a');
});

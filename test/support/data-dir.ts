/** Builds data directories for tests: one call per VM, plus a throw-away temp root. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/**
 * The first bytes of an x86-64 ELF64 file (what vmsvc's kernel check looks
 * for), zero-padded to 8192 bytes: QEMU decides how to boot a kernel on its
 * first 8192 bytes, so a shorter one is refused (vmlinux-short).
 */
export const ELF_HEADER = Buffer.concat([
  Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0x02, 0x01, 0x01]),
  Buffer.alloc(9),
  Buffer.from([0x02, 0x00, 0x3e, 0x00]),
  Buffer.alloc(8192 - 20),
]);

export interface VmSpec {
  /** vmlinux contents; null for no vmlinux at all. Default: an ELF header. */
  readonly kernel?: Buffer | null;
  /** blk/ file names (each gets a small non-empty image); null for no blk/. Default: ['root.img']. */
  readonly disks?: readonly string[] | null;
  readonly providers?: readonly string[];
  /** initramfs contents; default: none. */
  readonly initramfs?: string;
  /** Files of config/ (the per-VM settings) by name; default: no config/. */
  readonly config?: Readonly<Record<string, string | Buffer>>;
}

/**
 * A test's own dir: 0755, not mkdtemp's 0700, so that what the generated
 * services run as each VM's own uid (the default) can reach the programs,
 * data and dirs below it, as on a host.
 */
export function tempDir(prefix = 'vmsvc-test-', parent = os.tmpdir()): string {
  const dir = fs.mkdtempSync(path.join(parent, prefix));
  fs.chmodSync(dir, 0o755);
  return dir;
}

export function makeVm(dataDir: string, name: string, spec: VmSpec = {}): string {
  const dir = path.join(dataDir, name);
  fs.mkdirSync(dir, { recursive: true });
  const kernel = spec.kernel === undefined ? ELF_HEADER : spec.kernel;
  if (kernel !== null) fs.writeFileSync(path.join(dir, 'vmlinux'), kernel);
  if (spec.initramfs !== undefined) fs.writeFileSync(path.join(dir, 'initramfs'), spec.initramfs);
  const disks = spec.disks === undefined ? ['root.img'] : spec.disks;
  if (disks !== null) {
    fs.mkdirSync(path.join(dir, 'blk'), { recursive: true });
    for (const d of disks) fs.writeFileSync(path.join(dir, 'blk', d), `disk ${d}\n`);
  }
  if (spec.providers !== undefined && spec.providers.length > 0) {
    fs.mkdirSync(path.join(dir, 'providers', 'net'), { recursive: true });
    for (const p of spec.providers) fs.writeFileSync(path.join(dir, 'providers', 'net', p), '');
  }
  if (spec.config !== undefined) {
    fs.mkdirSync(path.join(dir, 'config'), { recursive: true });
    for (const [name, content] of Object.entries(spec.config)) fs.writeFileSync(path.join(dir, 'config', name), content);
  }
  return dir;
}

/** A data dir in a fresh temp root: { root, data } where data = root/data. */
export function dataDirWith(vms: Record<string, VmSpec>): { root: string; data: string } {
  const root = tempDir();
  const data = path.join(root, 'data');
  fs.mkdirSync(data);
  for (const [name, spec] of Object.entries(vms)) makeVm(data, name, spec);
  return { root, data };
}

/**
 * A QCOW2 v3 header (the fields crosvm's qcow/mod.rs reads) whose backing
 * file is `backing`, at offset 512: what crosvm would open on the host.
 */
export function qcow2Naming(backing: string): Buffer {
  const h = Buffer.alloc(1024);
  h.write('QFI\xfb', 0, 'latin1');
  h.writeUInt32BE(3, 4); // version
  h.writeBigUInt64BE(512n, 8); // backing_file_offset
  h.writeUInt32BE(Buffer.byteLength(backing), 16); // backing_file_size
  h.writeUInt32BE(16, 20); // cluster_bits
  h.writeBigUInt64BE(1n << 30n, 24); // size
  h.write(backing, 512);
  return h;
}

/**
 * An ELF vmlinux with a multiboot (v1) header at `offset`: the magic, `flags`
 * and the checksum that makes the three add up to 0 (or not, with
 * `badChecksum`), in a file of `size` bytes.
 */
export function multibootElf(offset: number, flags = 0x10000, size = 16384, badChecksum = false): Buffer {
  const b = Buffer.alloc(size);
  ELF_HEADER.copy(b);
  b.writeUInt32LE(0x1badb002, offset);
  b.writeUInt32LE(flags, offset + 4);
  b.writeUInt32LE((-(0x1badb002 + flags) + (badChecksum ? 1 : 0)) >>> 0, offset + 8);
  return b;
}

/** An ELF vmlinux that also carries the Linux boot protocol's "HdrS" at 0x202, a bzImage's mark. */
export function setupHeaderElf(): Buffer {
  const b = Buffer.alloc(8192);
  ELF_HEADER.copy(b);
  b.write('HdrS', 0x202, 'latin1');
  return b;
}

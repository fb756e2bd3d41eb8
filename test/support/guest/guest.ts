/**
 * A tiny Linux guest for end-to-end tests, prepared at test time (nothing
 * large is committed):
 *
 *  - `vmlinux`: Debian's cloud kernel (package resolved from the meta-package
 *    linux-image-cloud-amd64, fetched with `apt-get download`, unpacked with
 *    `dpkg-deb -x`), with the ELF extracted from /boot/vmlinuz-* by
 *    ./extract-vmlinux.ts. It carries the PVH ELF note, so QEMU boots it
 *    directly with `-kernel vmlinux` (cloud-hypervisor also boots through PVH;
 *    not tried here).
 *  - `initramfs`: a gzip-compressed newc cpio written here (no cpio tool, no
 *    root-owned files needed) holding static busybox, ./guest-init.sh as
 *    /init, /dev/console, and the virtio modules the cloud kernel builds as
 *    modules (virtio_pci, virtio_net, virtio_blk, virtio_console, button,
 *    evdev and their dependencies, decompressed, in load order).
 *
 * Cache: `<cacheDir>/<package>_<version>/` (default `<repo>/.cache/guest`,
 * git-ignored). Kernel artefacts are keyed by the kernel package and version;
 * the initramfs additionally by a hash of its inputs (init script, busybox,
 * modules), so editing guest-init.sh only rebuilds the initramfs. Every file is
 * written to a temporary name and renamed into place, and builds take a lock
 * directory (stale locks of dead processes are broken), so several ava worker
 * processes may call prepareGuest() at once. A cached entry is re-validated
 * (sizes and SHA-256) on every call and rebuilt if missing or corrupt.
 *
 * Environment overrides:
 *   VMSVC_GUEST_KERNEL_PACKAGE  kernel package name (default: what
 *                               linux-image-cloud-amd64 depends on)
 *   VMSVC_GUEST_KERNEL_DEB      a local .deb to use instead of apt-get download
 *   VMSVC_GUEST_BUSYBOX         path of a statically linked busybox
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { gunzipSync, gzipSync } from 'node:zlib';
import { extractVmlinux, inspectElf } from './extract-vmlinux.js';

export interface Guest {
  /** Uncompressed ELF kernel with the PVH note (for `-kernel`). */
  vmlinux: string;
  /** gzip-compressed newc cpio archive (for `-initrd`). */
  initramfs: string;
  /** Kernel release, as in /lib/modules/<release> and `uname -r` (e.g. 6.1.0-56-cloud-amd64). */
  kernelVersion: string;
  /** The Debian package the kernel came from, `name=version`. */
  kernelPackage: string;
  /** Modules the guest loads at boot, in load order. */
  modules: string[];
}

const execFileAsync = promisify(execFile);
const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = path.resolve(HERE, '..', '..', '..');
export const DEFAULT_GUEST_CACHE = path.join(REPO_ROOT, '.cache', 'guest');
export const GUEST_INIT = path.join(HERE, 'guest-init.sh');

/**
 * Modules the guest needs (plus their dependencies); built-in ones are skipped.
 * button (the ACPI power button) and evdev (its /dev/input/event*) let the
 * guest see the power button a stop presses: the cloud kernel builds both
 * as modules.
 */
export const GUEST_MODULE_ROOTS = ['virtio_pci', 'virtio_net', 'virtio_blk', 'virtio_console', 'button', 'evdev'] as const;

/** Bump when the cache layout or the initramfs contents change in a way the input hash cannot see. */
const FORMAT = 2;
const META_PACKAGE = 'linux-image-cloud-amd64';

// ---------------------------------------------------------------------------
// Public helpers for tests booting the guest

/**
 * The accelerator this machine can really boot the guest with. A /dev/kvm
 * that opens proves nothing: a paravirtual KVM (kvm-pvm) opens, then fails
 * the first emulated instruction ("KVM internal error ... emulation
 * failure"). So the guest's kernel is booted once under KVM with no root
 * device: reaching the "VFS: Unable to mount root fs" panic means KVM ran
 * the whole early boot. Anything else within the bound (QEMU refusing KVM,
 * an internal error, silence) means emulation. The answer is kept for the
 * process.
 */
export function guestAccel(guest: Guest): Promise<'kvm' | 'tcg'> {
  probed ??= probeKvm(guest);
  return probed;
}

let probed: Promise<'kvm' | 'tcg'> | undefined;

const KVM_PROBE_MS = 30_000;

function probeKvm(guest: Guest): Promise<'kvm' | 'tcg'> {
  return new Promise((resolve) => {
    const child = spawn('qemu-system-x86_64', [
      '-machine', 'q35', '-accel', 'kvm', '-cpu', 'max', '-m', '256',
      '-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot',
      '-kernel', guest.vmlinux, '-append', 'console=ttyS0 panic=-1',
      '-serial', 'stdio',
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    let serial = '';
    const done = (accel: 'kvm' | 'tcg') => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      resolve(accel);
    };
    const timer = setTimeout(() => done('tcg'), KVM_PROBE_MS);
    child.stdout.on('data', (b: Buffer) => {
      serial += b.toString('latin1');
      if (serial.includes('Unable to mount root fs')) done('kvm');
    });
    child.stderr.resume();
    child.on('error', () => done('tcg'));
    child.on('exit', () => done(serial.includes('Unable to mount root fs') ? 'kvm' : 'tcg'));
  });
}

/** Kernel command line for the guest; see guest-init.sh for the vmsvc.* parameters. */
export function guestCmdline(name: string, extra: readonly string[] = []): string {
  return ['console=ttyS0', 'quiet', `vmsvc.name=${name}`, ...extra].join(' ');
}

/**
 * Make `file` a raw ext2 filesystem image (no partition table) of `sizeMiB`
 * MiB (default 4), with volume label `label` (at most 16 bytes) and one file,
 * `/vmsvc-disk`, containing `label` and a newline. The guest reports it on
 * boot as `vmsvc-guest: disk vdX marker <label>`. Needs mke2fs (e2fsprogs).
 * Note: the label is the filesystem label, not a GPT PARTLABEL.
 */
export function makeExt2Disk(file: string, label: string, sizeMiB = 4): void {
  if (!/^[A-Za-z0-9._-]{1,16}$/.test(label)) throw new Error(`makeExt2Disk: bad label ${JSON.stringify(label)}`);
  if (!Number.isInteger(sizeMiB) || sizeMiB < 1) throw new Error(`makeExt2Disk: bad size ${sizeMiB}`);
  const content = fs.mkdtempSync(path.join(os.tmpdir(), 'vmsvc-ext2-'));
  try {
    fs.writeFileSync(path.join(content, 'vmsvc-disk'), `${label}\n`);
    fs.rmSync(file, { force: true });
    execFileSync(
      'mke2fs',
      ['-q', '-F', '-t', 'ext2', '-L', label, '-m', '0', '-E', 'root_owner=0:0', '-d', content, file, `${sizeMiB}M`],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
  } finally {
    fs.rmSync(content, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------
// prepareGuest

interface KernelMeta {
  format: number;
  package: string;
  version: string;
  release: string;
  vmlinux: FileSum;
  modules: Array<{ name: string } & FileSum>;
}
interface FileSum {
  size: number;
  sha256: string;
}

/**
 * Download/extract/build the guest into `cacheDir` unless a valid cached copy
 * exists; safe to call from several processes at once (see the file comment).
 */
export async function prepareGuest(cacheDir: string = DEFAULT_GUEST_CACHE): Promise<Guest> {
  fs.mkdirSync(cacheDir, { recursive: true });
  const pkg = await resolveKernelPackage(cacheDir);
  const key = `${pkg.name}_${pkg.version}`.replace(/[^A-Za-z0-9._+-]/g, '_');
  const kdir = path.join(cacheDir, key);

  const cached = readKernelMeta(kdir);
  const guest = cached && guestFrom(kdir, cached);
  if (guest) return guest;
  const unlock = await lock(path.join(cacheDir, `${key}.lock`));
  try {
    // Re-check under the lock: another process may have built it meanwhile.
    let meta = readKernelMeta(kdir);
    if (!meta) {
      await buildKernel(pkg, cacheDir, kdir);
      meta = readKernelMeta(kdir);
      if (!meta) throw new Error(`prepareGuest: kernel cache ${kdir} invalid right after building it`);
    }
    let built = guestFrom(kdir, meta);
    if (!built) {
      buildInitramfs(kdir, meta);
      built = guestFrom(kdir, meta);
    }
    if (!built) throw new Error(`prepareGuest: initramfs in ${kdir} invalid right after building it`);
    return built;
  } finally {
    unlock();
  }
}

async function resolveKernelPackage(cacheDir: string): Promise<{ name: string; version: string }> {
  const deb = process.env.VMSVC_GUEST_KERNEL_DEB;
  if (deb) {
    const { stdout: out } = await execFileAsync('dpkg-deb', ['-f', deb, 'Package', 'Version'], { encoding: 'utf8' });
    const f = Object.fromEntries(out.trim().split('\n').map((l) => l.split(/:\s*/, 2) as [string, string]));
    if (!f.Package || !f.Version) throw new Error(`prepareGuest: cannot read ${deb}`);
    return { name: f.Package, version: f.Version };
  }
  const wanted = process.env.VMSVC_GUEST_KERNEL_PACKAGE ?? META_PACKAGE;
  const stamp = createHash('sha256').update(`${wanted}\n${aptListsState()}`).digest('hex');
  const memoFile = path.join(cacheDir, 'resolved.json');
  const memo = readJson<{ stamp: string; name: string; version: string }>(memoFile);
  if (memo?.stamp === stamp && memo.name && memo.version) return { name: memo.name, version: memo.version };

  const show = await aptCache(['show', '--no-all-versions', wanted]);
  let name = wanted;
  let version = /^Version:\s*(\S+)/m.exec(show)?.[1];
  if (wanted === META_PACKAGE) {
    // "Depends: linux-image-6.1.0-56-cloud-amd64 (= 6.1.192-2)"
    const dep = /^Depends:\s*(linux-image-[^\s,(]+)(?:\s*\(=\s*([^)\s]+)\))?/m.exec(show);
    if (!dep) throw new Error(`prepareGuest: no kernel package in \`apt-cache show ${META_PACKAGE}\`:\n${show}`);
    name = dep[1]!;
    version = dep[2] ?? /^Version:\s*(\S+)/m.exec(await aptCache(['show', '--no-all-versions', name]))?.[1];
  }
  if (!version) throw new Error(`prepareGuest: no version of ${name} known to apt (run apt-get update?)`);
  writeAtomic(memoFile, `${JSON.stringify({ stamp, name, version })}\n`);
  return { name, version };
}

function aptListsState(): string {
  const dir = '/var/lib/apt/lists';
  try {
    return fs
      .readdirSync(dir)
      .filter((f) => f.endsWith('Packages') || f.endsWith('Release') || f.includes('Packages.'))
      .sort()
      .map((f) => {
        const st = fs.statSync(path.join(dir, f));
        return `${f} ${st.size} ${st.mtimeMs}`;
      })
      .join('\n');
  } catch {
    return `unreadable ${Date.now()}`;
  }
}

async function aptCache(args: string[]): Promise<string> {
  return (await execFileAsync('apt-cache', args, { encoding: 'utf8', maxBuffer: 1 << 24 })).stdout;
}

/** The guest if the initramfs for the current inputs is present and intact (`meta` was validated). */
function guestFrom(kdir: string, meta: KernelMeta): Guest | undefined {
  const initramfs = path.join(kdir, `initramfs-${initramfsHash(meta)}.cpio.gz`);
  if (!sumMatches(initramfs, readJson<FileSum>(`${initramfs}.json`))) return undefined;
  return {
    vmlinux: path.join(kdir, 'vmlinux'),
    initramfs,
    kernelVersion: meta.release,
    kernelPackage: `${meta.package}=${meta.version}`,
    modules: meta.modules.map((m) => m.name),
  };
}

/** The kernel entry's metadata if it and the files it lists are complete and intact. */
function readKernelMeta(kdir: string): KernelMeta | undefined {
  const meta = readJson<KernelMeta>(path.join(kdir, 'kernel.json'));
  if (!meta || meta.format !== FORMAT || !Array.isArray(meta.modules)) return undefined;
  if (!sumMatches(path.join(kdir, 'vmlinux'), meta.vmlinux)) return undefined;
  for (const m of meta.modules) if (!sumMatches(path.join(kdir, 'modules', `${m.name}.ko`), m)) return undefined;
  return meta;
}

function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

function fileSum(data: Buffer): FileSum {
  return { size: data.length, sha256: createHash('sha256').update(data).digest('hex') };
}

function sumMatches(file: string, want: FileSum | undefined): boolean {
  if (!want) return false;
  try {
    if (fs.statSync(file).size !== want.size) return false;
    return fileSum(fs.readFileSync(file)).sha256 === want.sha256;
  } catch {
    return false;
  }
}

/** Write `data` to `file` atomically (temporary name in the same directory, then rename). */
function writeAtomic(file: string, data: Buffer | string): void {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  fs.writeFileSync(tmp, data);
  fs.renameSync(tmp, file);
}

// ---------------------------------------------------------------------------
// Kernel: download, unpack, extract vmlinux and the needed modules

async function buildKernel(pkg: { name: string; version: string }, cacheDir: string, kdir: string): Promise<void> {
  const work = fs.mkdtempSync(path.join(cacheDir, '.build-'));
  try {
    let deb = process.env.VMSVC_GUEST_KERNEL_DEB;
    if (!deb) {
      const dl = path.join(work, 'dl');
      fs.mkdirSync(dl);
      const spec = `${pkg.name}=${pkg.version}`;
      try {
        await execFileAsync('apt-get', ['-q', '-o', 'APT::Sandbox::User=root', 'download', spec], { cwd: dl, maxBuffer: 1 << 24 });
      } catch (e) {
        const err = e as { stderr?: string; stdout?: string; message: string };
        throw new Error(`prepareGuest: apt-get download ${spec} failed: ${err.message}\n${err.stderr ?? ''}${err.stdout ?? ''}`);
      }
      const debs = fs.readdirSync(dl).filter((f) => f.endsWith('.deb'));
      if (debs.length !== 1) throw new Error(`prepareGuest: apt-get download ${spec} left ${debs.join(', ') || 'no .deb'}`);
      deb = path.join(dl, debs[0]!);
    }
    const root = path.join(work, 'root');
    await execFileAsync('dpkg-deb', ['-x', deb, root]);

    const vmlinuz = fs.readdirSync(path.join(root, 'boot')).filter((f) => f.startsWith('vmlinuz-'));
    if (vmlinuz.length !== 1) throw new Error(`prepareGuest: expected one /boot/vmlinuz-* in ${pkg.name}, found ${vmlinuz.join(', ')}`);
    const release = vmlinuz[0]!.slice('vmlinuz-'.length);
    const { vmlinux } = await extractVmlinux(await fs.promises.readFile(path.join(root, 'boot', vmlinuz[0]!)));
    if (!inspectElf(vmlinux)?.hasPvhNote) throw new Error(`prepareGuest: ${vmlinuz[0]} has no PVH entry note; QEMU cannot boot it with -kernel`);

    const out = path.join(work, 'out');
    fs.mkdirSync(path.join(out, 'modules'), { recursive: true });
    fs.writeFileSync(path.join(out, 'vmlinux'), vmlinux);
    const modules = resolveModules(path.join(root, 'lib', 'modules', release), GUEST_MODULE_ROOTS).map(({ name, data }) => {
      fs.writeFileSync(path.join(out, 'modules', `${name}.ko`), data);
      return { name, ...fileSum(data) };
    });
    const meta: KernelMeta = { format: FORMAT, package: pkg.name, version: pkg.version, release, vmlinux: fileSum(vmlinux), modules };
    fs.writeFileSync(path.join(out, 'kernel.json'), `${JSON.stringify(meta, null, 2)}\n`);

    // Swap the finished directory into place (we hold the lock; a corrupt old entry is dropped).
    fs.rmSync(kdir, { recursive: true, force: true });
    fs.renameSync(out, kdir);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

const normalise = (name: string) => name.replace(/-/g, '_');

/**
 * The modules `roots` need, with dependencies first, decompressed. Modules
 * listed in modules.builtin are skipped. Dependencies come from modules.dep
 * when the package ships one (Debian's does not: depmod runs at install time),
 * otherwise from each module's own `.modinfo` `depends=` entry.
 */
export function resolveModules(modDir: string, roots: readonly string[]): Array<{ name: string; data: Buffer }> {
  const files = new Map<string, string>(); // name -> path relative to modDir
  const walk = (rel: string) => {
    for (const e of fs.readdirSync(path.join(modDir, rel), { withFileTypes: true })) {
      const r = path.join(rel, e.name);
      if (e.isDirectory()) walk(r);
      else if (/\.ko(\.(xz|zst|gz))?$/.test(e.name)) files.set(normalise(e.name.replace(/\.ko(\.\w+)?$/, '')), r);
    }
  };
  walk('kernel');
  const builtin = new Set(
    readText(path.join(modDir, 'modules.builtin'))
      .split('\n')
      .filter(Boolean)
      .map((l) => normalise(path.basename(l).replace(/\.ko$/, ''))),
  );
  const depFile = new Map<string, string[]>();
  for (const line of readText(path.join(modDir, 'modules.dep')).split('\n')) {
    const m = /^([^:]+):\s*(.*)$/.exec(line);
    if (!m) continue;
    const modName = (p: string) => normalise(path.basename(p).replace(/\.ko(\.\w+)?$/, ''));
    depFile.set(modName(m[1]!), m[2]!.split(/\s+/).filter(Boolean).map(modName));
  }

  const order: Array<{ name: string; data: Buffer }> = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string, chain: string[]) => {
    if (state.get(name) === 'done') return;
    if (state.get(name) === 'visiting') throw new Error(`module dependency cycle: ${[...chain, name].join(' -> ')}`);
    const rel = files.get(name);
    if (!rel) {
      if (builtin.has(name)) {
        state.set(name, 'done');
        return;
      }
      throw new Error(`module ${name} (needed by ${chain.join(' -> ') || 'the guest'}) is neither in ${modDir} nor built in`);
    }
    state.set(name, 'visiting');
    const data = readModule(path.join(modDir, rel));
    // modules.dep lists the whole closure; either way visiting recursively yields a valid order.
    for (const dep of depFile.get(name) ?? modinfoDepends(data)) visit(dep, [...chain, name]);
    state.set(name, 'done');
    order.push({ name, data });
  };
  for (const r of roots) {
    const name = normalise(r);
    if (builtin.has(name) && !files.has(name)) continue;
    visit(name, []);
  }
  return order;
}

function readText(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** A module file's ELF contents, decompressed if it is .ko.xz/.ko.zst/.ko.gz (busybox insmod wants plain ELF). */
function readModule(file: string): Buffer {
  if (file.endsWith('.ko')) return fs.readFileSync(file);
  if (file.endsWith('.gz')) return gunzipSync(fs.readFileSync(file));
  const tool = file.endsWith('.xz') ? 'xz' : 'zstd';
  return execFileSync(tool, ['-dc', file], { maxBuffer: 1 << 28 });
}

/** The `depends=` entry of a module's .modinfo section (comma-separated module names). */
export function modinfoDepends(ko: Buffer): string[] {
  const sec = elfSection(ko, '.modinfo');
  if (!sec) throw new Error('module has no .modinfo section');
  for (const entry of sec.toString('latin1').split('\0')) {
    if (entry.startsWith('depends=')) return entry.slice('depends='.length).split(',').filter(Boolean).map(normalise);
  }
  return [];
}

function elfSection(buf: Buffer, wanted: string): Buffer | undefined {
  if (buf.length < 64 || buf.readUInt32BE(0) !== 0x7f454c46 || buf[4] !== 2) return undefined;
  const shoff = Number(buf.readBigUInt64LE(0x28));
  const shentsize = buf.readUInt16LE(0x3a);
  const shnum = buf.readUInt16LE(0x3c);
  const shstrndx = buf.readUInt16LE(0x3e);
  const hdr = (i: number) => {
    const s = shoff + i * shentsize;
    return { name: buf.readUInt32LE(s), off: Number(buf.readBigUInt64LE(s + 24)), size: Number(buf.readBigUInt64LE(s + 32)) };
  };
  if (shoff + shnum * shentsize > buf.length || shstrndx >= shnum) return undefined;
  const strtab = hdr(shstrndx);
  for (let i = 0; i < shnum; i++) {
    const h = hdr(i);
    const start = strtab.off + h.name;
    const end = buf.indexOf(0, start);
    if (buf.toString('latin1', start, end) === wanted) return buf.subarray(h.off, h.off + h.size);
  }
  return undefined;
}

// ---------------------------------------------------------------------------
// initramfs

function findBusybox(): { file: string; data: Buffer } {
  const candidates = process.env.VMSVC_GUEST_BUSYBOX ? [process.env.VMSVC_GUEST_BUSYBOX] : ['/bin/busybox', '/usr/bin/busybox'];
  for (const file of candidates) {
    let data: Buffer;
    try {
      data = fs.readFileSync(file);
    } catch {
      continue;
    }
    const elf = inspectElf(data);
    if (elf && !elf.hasInterp) return { file, data };
  }
  throw new Error(`prepareGuest: no statically linked busybox in ${candidates.join(', ')} (apt-get install busybox-static)`);
}

function initramfsHash(meta: KernelMeta): string {
  const h = createHash('sha256');
  h.update(`format ${FORMAT}\n`);
  h.update(fs.readFileSync(GUEST_INIT));
  h.update(fileSum(findBusybox().data).sha256);
  for (const m of meta.modules) h.update(`${m.name} ${m.sha256}\n`);
  return h.digest('hex').slice(0, 16);
}

function buildInitramfs(kdir: string, meta: KernelMeta): void {
  const file = path.join(kdir, `initramfs-${initramfsHash(meta)}.cpio.gz`);
  const cpio = new Newc();
  for (const d of ['bin', 'sbin', 'usr', 'usr/bin', 'usr/sbin', 'dev', 'proc', 'sys', 'tmp', 'run', 'mnt', 'root', 'etc', 'lib', 'lib/modules']) {
    cpio.dir(d);
  }
  cpio.node('dev/console', 0o020600, 5, 1);
  cpio.node('dev/null', 0o020666, 1, 3);
  cpio.file('bin/busybox', findBusybox().data, 0o755);
  cpio.symlink('bin/sh', 'busybox');
  cpio.file('init', fs.readFileSync(GUEST_INIT), 0o755);
  cpio.file('etc/vmsvc-modules', meta.modules.map((m) => `${m.name}\n`).join(''), 0o644);
  cpio.file('etc/vmsvc-kernel', `${meta.release} ${meta.package}=${meta.version}\n`, 0o644);
  for (const m of meta.modules) cpio.file(`lib/modules/${m.name}.ko`, fs.readFileSync(path.join(kdir, 'modules', `${m.name}.ko`)), 0o644);
  const data = gzipSync(cpio.finish(), { level: 6 });
  writeAtomic(file, data);
  writeAtomic(`${file}.json`, `${JSON.stringify(fileSum(data))}\n`);
  // Drop initramfs images of older inputs.
  for (const f of fs.readdirSync(kdir)) {
    if (/^initramfs-[0-9a-f]+\.cpio\.gz(\.json)?$/.test(f) && !f.startsWith(path.basename(file))) fs.rmSync(path.join(kdir, f), { force: true });
  }
}

/** Writer for the "newc" (SVR4, no CRC) cpio format the kernel unpacks; all entries root-owned, mtime 0. */
export class Newc {
  private readonly parts: Buffer[] = [];
  private ino = 1;

  dir(name: string, mode = 0o755): void {
    this.entry(name, 0o040000 | mode, Buffer.alloc(0));
  }
  file(name: string, data: Buffer | string, mode: number): void {
    this.entry(name, 0o100000 | mode, Buffer.from(data));
  }
  symlink(name: string, target: string): void {
    this.entry(name, 0o120777, Buffer.from(target));
  }
  /** A device node; `mode` includes the type bits (0o020000 char, 0o060000 block). */
  node(name: string, mode: number, major: number, minor: number): void {
    this.entry(name, mode, Buffer.alloc(0), major, minor);
  }
  finish(): Buffer {
    this.entry('TRAILER!!!', 0, Buffer.alloc(0));
    return Buffer.concat(this.parts);
  }

  private entry(name: string, mode: number, data: Buffer, rdevMajor = 0, rdevMinor = 0): void {
    const nameBuf = Buffer.from(`${name}\0`);
    const hex = (n: number) => n.toString(16).padStart(8, '0');
    const isDir = (mode & 0o170000) === 0o040000;
    const fields = [this.ino++, mode, 0, 0, isDir ? 2 : 1, 0, data.length, 0, 0, rdevMajor, rdevMinor, nameBuf.length, 0];
    const header = Buffer.from(`070701${fields.map(hex).join('')}`, 'latin1');
    const pad = (n: number) => Buffer.alloc((4 - (n % 4)) % 4);
    this.parts.push(header, nameBuf, pad(header.length + nameBuf.length), data, pad(data.length));
  }
}

// ---------------------------------------------------------------------------
// Lock directory shared by processes

async function lock(dir: string): Promise<() => void> {
  const deadline = Date.now() + 20 * 60_000;
  for (;;) {
    try {
      fs.mkdirSync(dir);
      fs.writeFileSync(path.join(dir, 'owner'), `${process.pid} ${os.hostname()} ${Date.now()}\n`);
      return () => fs.rmSync(dir, { recursive: true, force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    if (lockIsStale(dir)) {
      // Rename first so that two processes cannot both remove a fresh lock.
      const gone = `${dir}.stale.${process.pid}.${randomBytes(4).toString('hex')}`;
      try {
        fs.renameSync(dir, gone);
        fs.rmSync(gone, { recursive: true, force: true });
      } catch {
        /* someone else broke it */
      }
      continue;
    }
    if (Date.now() > deadline) throw new Error(`prepareGuest: timed out waiting for lock ${dir}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

function lockIsStale(dir: string): boolean {
  let st: fs.Stats;
  try {
    st = fs.statSync(dir);
  } catch {
    return false; // already gone: just retry
  }
  const [pid, host] = readText(path.join(dir, 'owner')).trim().split(' ');
  if (!pid) return Date.now() - st.mtimeMs > 30_000; // owner not written yet, or crashed in between
  if (host !== os.hostname()) return Date.now() - st.mtimeMs > 15 * 60_000;
  try {
    process.kill(Number(pid), 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

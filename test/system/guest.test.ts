/**
 * The end-to-end test guest (test/support/guest/guest.ts): the kernel extraction, the
 * ext2 disk helper, and two guests booted with QEMU directly (no vmsvc) on a
 * bridge inside a network namespace this test creates, one client and one
 * provider, addressed the Spectrum way from their 0A:B3:EC MACs.
 */
import test from 'ava';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { extractVmlinux, inspectElf } from '../support/guest/extract-vmlinux.js';
import { guestAccel, guestCmdline, makeExt2Disk, prepareGuest, type Guest } from '../support/guest/guest.js';
import { createNetns, inNetns } from '../support/netns.js';
import { waitFor } from '../support/wait.js';

type Teardown = { teardown: (fn: () => void | Promise<void>) => void };

function tempDir(t: Teardown): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmsvc-guest-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A minimal complete ELF64 file: header plus one PT_NOTE holding the Xen PVH entry note. */
function tinyElf(): Buffer {
  const note = Buffer.alloc(12 + 4 + 4);
  note.writeUInt32LE(4, 0); // namesz ("Xen\0")
  note.writeUInt32LE(4, 4); // descsz
  note.writeUInt32LE(18, 8); // XEN_ELFNOTE_PHYS32_ENTRY
  note.write('Xen\0', 12, 'latin1');
  const elf = Buffer.alloc(64 + 56 + note.length);
  elf.writeUInt32BE(0x7f454c46, 0);
  elf[4] = 2; // 64-bit
  elf[5] = 1; // little-endian
  elf[6] = 1;
  elf.writeBigUInt64LE(64n, 0x20); // e_phoff
  elf.writeUInt16LE(56, 0x36); // e_phentsize
  elf.writeUInt16LE(1, 0x38); // e_phnum
  elf.writeUInt32LE(4, 64); // p_type PT_NOTE
  elf.writeBigUInt64LE(120n, 64 + 8); // p_offset
  elf.writeBigUInt64LE(BigInt(note.length), 64 + 32); // p_filesz
  note.copy(elf, 120);
  return elf;
}

test('extractVmlinux finds a compressed ELF after other bytes and trims trailing garbage', async (t) => {
  const elf = tinyElf();
  t.deepEqual(inspectElf(elf), { extent: elf.length, hasInterp: false, hasPvhNote: true });
  t.is(inspectElf(elf.subarray(0, elf.length - 1)), undefined, 'a truncated ELF is rejected');

  const junk = Buffer.from('MZ not a kernel \x1f\x8b\x08 fake gzip magic ', 'latin1');
  const gz = Buffer.concat([junk, gzipSync(elf), Buffer.from('trailing bytes')]);
  const r = await extractVmlinux(gz);
  t.is(r.codec, 'gzip');
  t.is(r.offset, junk.length);
  t.deepEqual(r.vmlinux, elf);

  const zst = Buffer.concat([junk, execFileSync('zstd', ['-q', '-c'], { input: Buffer.concat([elf, Buffer.alloc(100, 0xaa)]) }), junk]);
  const z = await extractVmlinux(zst);
  t.is(z.codec, 'zstd');
  t.deepEqual(z.vmlinux, elf, 'bytes after the ELF extent are dropped');

  await t.throwsAsync(extractVmlinux(junk), { message: /no compressed ELF payload/ });
});

test('makeExt2Disk makes a small labelled ext2 image holding the marker file', (t) => {
  const img = path.join(tempDir(t), 'root.img');
  makeExt2Disk(img, 'root');
  t.is(fs.statSync(img).size, 4 * 1024 * 1024);
  t.is(execFileSync('e2label', [img], { encoding: 'utf8' }).trim(), 'root');
  t.is(execFileSync('debugfs', ['-R', 'cat /vmsvc-disk', img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }), 'root\n');
  t.regex(execFileSync('dumpe2fs', ['-h', img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }), /Filesystem features:(?!.*has_journal)/);
  t.throws(() => makeExt2Disk(img, 'a label that is far too long'));
});

/** A QEMU process and everything it printed on the serial console (its stdout). */
class Vm {
  serial = '';
  stderr = '';
  exit: string | undefined;
  private readonly listeners = new Set<() => void>();

  constructor(
    readonly name: string,
    readonly dir: string,
    readonly child: ChildProcess,
  ) {
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      this.serial += d;
      this.notify();
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
    child.on('exit', (code, signal) => {
      this.exit = `exited with ${signal ?? code}`;
      this.notify();
    });
  }

  private notify() {
    for (const l of [...this.listeners]) l();
  }

  /** Resolves with the first match of `re` in serial output after offset `from`. */
  waitFor(re: RegExp, timeoutMs: number, from = 0): Promise<{ match: RegExpExecArray; end: number }> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const m = re.exec(this.serial.slice(from));
        if (m) {
          done();
          resolve({ match: m, end: from + m.index + m[0].length });
        } else if (this.exit) {
          done();
          reject(new Error(`${this.name}: QEMU ${this.exit} before ${re}\n${this.stderr}\n${this.tail()}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${this.name}: timed out waiting for ${re}\n${this.stderr}\n${this.tail()}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.listeners.delete(check);
      };
      this.listeners.add(check);
      check();
    });
  }

  tail(): string {
    return this.serial.split('\n').slice(-40).join('\n');
  }

  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise((r) => this.child.once('exit', r));
      this.child.kill('SIGKILL');
      await exited;
    }
  }
}

/** The QEMU argv used for every guest: q35 + PVH `-kernel`, serial on stdio, virtio-console on a socket, QMP. */
function qemuArgv(guest: Guest, accel: 'kvm' | 'tcg', vm: { name: string; dir: string; tap: string; mac: string; disk?: string }): string[] {
  const argv = [
    '-machine', 'q35',
    '-accel', accel,
    '-m', '256',
    '-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot',
    '-kernel', guest.vmlinux,
    '-initrd', guest.initramfs,
    '-append', guestCmdline(vm.name, ['vmsvc.interval=1']),
    '-serial', 'stdio',
    '-device', 'virtio-serial-pci',
    '-chardev', `socket,id=con0,path=${vm.dir}/console.sock,server=on,wait=off`,
    '-device', 'virtconsole,chardev=con0',
    '-qmp', `unix:${vm.dir}/qmp.sock,server=on,wait=off`,
    '-netdev', `tap,id=n0,ifname=${vm.tap},script=no,downscript=no`,
    '-device', `virtio-net-pci,netdev=n0,mac=${vm.mac}`,
  ];
  if (vm.disk) {
    argv.push('-drive', `file=${vm.disk},format=raw,if=none,id=d0,readonly=on`, '-device', 'virtio-blk-pci,drive=d0');
  }
  return argv;
}

/** Types `echo hvc-$((40+2))` into the virtio console until the guest's shell answers `hvc-42`. */
async function consoleRoundTrip(sock: string, timeoutMs: number): Promise<string> {
  await waitFor(`socket ${sock}`, () => fs.existsSync(sock), timeoutMs);
  const conn = net.createConnection(sock);
  let received = '';
  conn.setEncoding('utf8').on('data', (d: string) => (received += d));
  try {
    await new Promise<void>((resolve, reject) => conn.once('connect', resolve).once('error', reject));
    const deadline = Date.now() + timeoutMs;
    while (!/hvc-42/.test(received)) {
      if (Date.now() > deadline) throw new Error(`no answer on the virtio console; received: ${JSON.stringify(received)}`);
      conn.write('echo hvc-$((40+2))\n');
      await new Promise((r) => setTimeout(r, 500));
    }
    return received;
  } finally {
    conn.destroy();
  }
}

/** QMP handshake and `query-status`; returns the run state. */
async function qmpStatus(sock: string, timeoutMs: number): Promise<string> {
  await waitFor(`socket ${sock}`, () => fs.existsSync(sock), timeoutMs);
  const conn = net.createConnection(sock);
  const messages: Array<Record<string, unknown>> = [];
  let buf = '';
  const next = (pred: (m: Record<string, unknown>) => boolean) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`QMP timeout; got ${JSON.stringify(messages)}`)), timeoutMs);
      const poll = () => {
        const m = messages.find(pred);
        if (m) {
          clearTimeout(timer);
          conn.off('data', poll);
          resolve(m);
        }
      };
      conn.on('data', poll);
      poll();
    });
  conn.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i).trim();
      buf = buf.slice(i + 1);
      if (line) messages.push(JSON.parse(line) as Record<string, unknown>);
    }
  });
  try {
    await next((m) => 'QMP' in m);
    conn.write('{"execute":"qmp_capabilities","id":1}\n');
    await next((m) => m.id === 1);
    conn.write('{"execute":"query-status","id":2}\n');
    const r = await next((m) => m.id === 2);
    return (r.return as { status: string }).status;
  } finally {
    conn.destroy();
  }
}

test('two guests, client and provider, boot under QEMU, ping each other over a bridge, and recover from a provider restart', async (t) => {
  t.timeout(300_000);

  let t0 = performance.now();
  const guest = await prepareGuest();
  const prepareFirst = performance.now() - t0;
  t0 = performance.now();
  const again = await prepareGuest();
  const prepareCached = performance.now() - t0;
  t.deepEqual(again, guest);
  t.log(`prepareGuest: ${prepareFirst.toFixed(0)} ms (first call), ${prepareCached.toFixed(0)} ms (cached); kernel ${guest.kernelVersion} from ${guest.kernelPackage}`);
  t.true(inspectElf(fs.readFileSync(guest.vmlinux))?.hasPvhNote);
  const accel = await guestAccel(guest);

  const root = tempDir(t);
  const ns = createNetns(t);
  const ip = (...args: string[]) => inNetns(ns, 'ip', args);
  ip('link', 'add', 'br0', 'type', 'bridge');
  ip('link', 'set', 'br0', 'up');
  for (const tap of ['tapc', 'tapp']) {
    ip('tuntap', 'add', 'dev', tap, 'mode', 'tap');
    ip('link', 'set', tap, 'master', 'br0', 'up');
  }

  const specs = [
    { name: 'client', tap: 'tapc', mac: '0a:b3:ec:00:a5:46', disk: 'root.img' },
    { name: 'provider', tap: 'tapp', mac: '0a:b3:ec:80:a5:46' },
  ];
  const vms: Vm[] = [];
  t.teardown(async () => {
    await Promise.all(vms.map((vm) => vm.kill()));
    for (const vm of vms) {
      let alive = true;
      try {
        process.kill(vm.child.pid!, 0);
      } catch {
        alive = false;
      }
      if (alive) throw new Error(`${vm.name}'s QEMU (pid ${vm.child.pid}) is still running`);
    }
  });
  const start = (spec: (typeof specs)[number]): Vm => {
    const dir = path.join(root, spec.name);
    fs.mkdirSync(dir, { recursive: true });
    const disk = spec.disk ? path.join(dir, spec.disk) : undefined;
    if (disk && !fs.existsSync(disk)) makeExt2Disk(disk, 'root');
    for (const sock of ['console.sock', 'qmp.sock']) fs.rmSync(path.join(dir, sock), { force: true });
    const argv = qemuArgv(guest, accel, { ...spec, dir, disk });
    if (spec.name === 'client') t.log(`qemu-system-x86_64 ${argv.map((a) => (/[\s$()]/.test(a) ? `'${a}'` : a)).join(' ')}`);
    const child = spawn('ip', ['netns', 'exec', ns, 'qemu-system-x86_64', ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
    const vm = new Vm(spec.name, dir, child);
    vms.push(vm);
    return vm;
  };
  const bootStart = performance.now();
  for (const spec of specs) start(spec);
  const [client, provider] = vms as [Vm, Vm];

  try {
    const boot = 120_000;
    await Promise.all([client.waitFor(/vmsvc-guest: booted client/, boot), provider.waitFor(/vmsvc-guest: booted provider/, boot)]);
    const booted = performance.now() - bootStart;
    await client.waitFor(/vmsvc-guest: configured eth0 0a:b3:ec:00:a5:46 100\.64\.165\.70\r?\n/, boot);
    await provider.waitFor(/vmsvc-guest: configured eth0 0a:b3:ec:80:a5:46 169\.254\.0\.1 peer 100\.64\.165\.70\r?\n/, boot);
    await client.waitFor(/vmsvc-guest: disk vda marker root\r?\n/, boot);
    await Promise.all([
      client.waitFor(/vmsvc-guest: ping OK 169\.254\.0\.1\r?\n/, boot),
      provider.waitFor(/vmsvc-guest: ping OK 100\.64\.165\.70\r?\n/, boot),
    ]);
    const pinged = performance.now() - bootStart;
    t.log(`boot lines after ${booted.toFixed(0)} ms, both pings OK after ${pinged.toFixed(0)} ms (accel ${accel})`);

    const answer = await consoleRoundTrip(path.join(client.dir, 'console.sock'), 60_000);
    t.regex(answer, /hvc-42/);
    t.is(await qmpStatus(path.join(provider.dir, 'qmp.sock'), 30_000), 'running');

    // The client keeps pinging: after the provider is killed and started again, its pings recover.
    await provider.kill();
    const failed = await client.waitFor(/vmsvc-guest: ping FAIL 169\.254\.0\.1\r?\n/, 30_000, client.serial.length);
    const restart = performance.now();
    const provider2 = start(specs[1]!);
    await client.waitFor(/vmsvc-guest: ping OK 169\.254\.0\.1\r?\n/, boot, failed.end);
    t.log(`client pings recovered ${(performance.now() - restart).toFixed(0)} ms after restarting the provider`);
    await provider2.waitFor(/vmsvc-guest: ping OK 100\.64\.165\.70\r?\n/, boot);
  } catch (e) {
    for (const vm of vms) t.log(`--- ${vm.name} serial ---\n${vm.tail()}\n--- stderr ---\n${vm.stderr}`);
    throw e;
  }
  t.is(client.child.exitCode, null, 'the client never powers off by itself');
});

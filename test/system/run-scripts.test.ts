/**
 * The generated run scripts, run for real: compiled by the real s6-rc-compile,
 * brought up by the real s6-rc under the prefix's s6 and execline, with a stub
 * VMM on PATH.
 */
import type { ExecutionContext } from 'ava';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { once } from 'node:events';
import * as path from 'node:path';
import { startS6rc, type S6rcHarness } from '../support/s6rc-harness.js';
import { vmsvc } from '../support/cli.js';
import { dataDirWith } from '../support/data-dir.js';
import { createNetns, inNetns } from '../support/netns.js';
import { realS6rcTest, type RealS6rc } from '../support/real-s6rc.js';
import { installStubVmm, recordedArgv, recordedFds } from '../support/stub-vmm.js';
import { alive, vmmPid } from '../support/processes.js';
import { spawnSync } from 'node:child_process';
import { waitFor } from '../support/wait.js';

interface Setup {
  root: string;
  data: string;
  out: string;
  run: string;
  log: string;
  bin: string;
}

function setup(t: { teardown: (fn: () => void) => void }, s6rc: RealS6rc, vms: Parameters<typeof dataDirWith>[0], extra: string[] = []): Setup {
  const { root, data } = dataDirWith(vms);
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  const s = { root, data, out: path.join(root, 'out'), run: path.join(root, 'run'), log: path.join(root, 'log'), bin: path.join(root, 'bin') };
  // By path: the VMM's sandbox shows /usr and --vmm-bin's own dir, not PATH's other dirs.
  const vmm = installStubVmm(s.bin);
  const r = vmsvc(['generate', '--data', data, '--out', s.out, '--runtime-dir', s.run, '--log-dir', s.log, '--timeout-up', '20000', '--execlineb', s6rc.bin('execlineb'), '--vmm-bin', vmm, ...extra]);
  if (r.code !== 0) throw new Error(`generate failed: ${r.stderr}`);
  return s;
}

const read = (p: string): string => (fs.existsSync(p) ? fs.readFileSync(p, 'utf8') : '');

/**
 * Brings every VM up under the real s6-rc, with the stub VMM told to look at
 * `look`'s paths (STUB_LOOK), and returns what a's VMM saw of each, by key:
 * readable, exists or absent.
 */
async function upAndLookAsA<K extends string>(t: ExecutionContext, s6rc: RealS6rc, s: Setup, look: Record<K, string>): Promise<{ emu: S6rcHarness; sees: Record<K, string | undefined> }> {
  const emu = await startS6rc(s6rc, [s.out], { netns: createNetns(t), env: { PATH: `${s.bin}:${process.env.PATH ?? ''}`, STUB_LOOK: Object.values<string>(look).join(':') } });
  t.teardown(() => emu.stop());
  await emu.up(['vms'], { timeoutMs: 30_000 });
  await waitFor('what a\'s VMM sees', () => read(path.join(s.run, 'a', 'sees')) !== '');
  const seen = JSON.parse(read(path.join(s.run, 'a', 'sees'))) as Record<string, string>;
  return { emu, sees: Object.fromEntries(Object.entries<string>(look).map(([k, p]) => [k, seen[p]])) as Record<K, string | undefined> };
}

realS6rcTest('the user guide example runs: exact argv, serial log with timestamps, stderr in the VMM log, readiness, provider first', async (t, s6rc) => {
  const s = setup(t, s6rc, { netvm: {}, 'appvm-lynx': { providers: ['netvm'], disks: ['root.img', 'home.img'] } });
  const emu = await startS6rc(s6rc, [s.out], { netns: createNetns(t), env: { PATH: `${s.bin}:${process.env.PATH ?? ''}` } });
  t.teardown(() => emu.stop());
  await emu.up(['vms'], { timeoutMs: 30_000 });

  const lynxRun = path.join(s.run, 'appvm-lynx');
  // The argv cloud-hypervisor v53.0 accepts; the test 'cloud-hypervisor: several disks ...' cites its rules.
  t.deepEqual(recordedArgv(lynxRun), [
    '--api-socket', `path=${lynxRun}/api.sock`,
    '--kernel', `${s.data}/appvm-lynx/vmlinux`,
    '--cmdline=console=ttyS0 root=PARTLABEL=root',
    '--cpus', 'boot=1',
    '--memory', 'size=256M',
    '--disk', `path=${s.data}/appvm-lynx/blk/home.img,readonly=on,image_type=raw`,
    `path=${s.data}/appvm-lynx/blk/root.img,readonly=on,image_type=raw`,
    '--net', 'tap=vtc-b8f6,mac=0a:b3:ec:00:b8:f6',
    '--serial', 'tty',
    '--console', 'pty',
  ]);
  t.is(read(path.join(lynxRun, 'stdin')), '/dev/null');

  // The provider was ready (socket up) before its client's VMM started.
  const netReady = Number(read(path.join(s.run, 'netvm', 'ready-at')).trim());
  const lynxStart = Number(read(path.join(lynxRun, 'starts')).trim());
  t.true(netReady > 0 && lynxStart >= netReady, `netvm ready at ${netReady}, appvm started at ${lynxStart}`);
  t.true(emu.transitions.indexOf('up vm-netvm') < emu.transitions.indexOf('up vm-appvm-lynx'));

  const logFile = path.join(s.log, 'appvm-lynx', 'current');
  await waitFor('serial lines in the log', () => read(logFile).includes('serial: tick 2'));
  const lines = read(logFile).split('\n').filter((l) => l !== '');
  t.regex(lines[0]!, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{9} {2}serial: Linux version 6\.1\.0-stub$/);
  for (const l of lines) t.regex(l, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{9} {2}serial: /);
  t.false(read(logFile).includes('NOT-SERIAL'));
  // The VMM's stderr has a log of its own, stamped by s6-log: not the serial log, not the catch-all log.
  const vmmLog = path.join(s.log, 'appvm-lynx', 'vmm', 'current');
  await waitFor('stderr in the VMM log', () => read(vmmLog).includes('stub-vmm: NOT-SERIAL'));
  t.regex(read(vmmLog), /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{9} {2}stub-vmm: NOT-SERIAL message on stderr$/m);
  t.false(read(vmmLog).includes('serial: tick'));
  t.false(read(emu.catchAllLog).includes('NOT-SERIAL'));
  t.false(read(emu.catchAllLog).includes('serial: tick'));
});

realS6rcTest('readiness waits for the API socket, and a stale socket does not count', async (t, s6rc) => {
  const s = setup(t, s6rc, { solo: {} });
  fs.mkdirSync(path.join(s.run, 'solo'), { recursive: true });
  // A socket file left by a crashed VMM: the run script must remove it first.
  const { createServer } = await import('node:net');
  const stale = createServer().listen(path.join(s.run, 'solo', 'api.sock'));
  await new Promise((r) => stale.once('listening', r));
  stale.close();
  const emu = await startS6rc(s6rc, [s.out], { netns: createNetns(t), env: { PATH: `${s.bin}:${process.env.PATH ?? ''}`, STUB_READY_DELAY_MS: '1500' } });
  t.teardown(() => emu.stop());
  const started = Date.now();
  await emu.up(['vm-solo'], { timeoutMs: 30_000 });
  const readyAt = Number(read(path.join(s.run, 'solo', 'ready-at')).trim());
  t.true(readyAt > 0, 'stub created its socket');
  t.true(Date.now() - started >= 1400, 'up returned only after the delayed socket appeared');
});

realS6rcTest('names with shell and execline metacharacters pass through exactly and nothing is executed', async (t, s6rc) => {
  const names = ['my vm', "a'b", '$(touch canary1)', '`touch canary2`', ';touch canary3', '{x}', '-dash', '#hash', 'ünïcödé 🙂', 'back\\slash', '$HOME'];
  const s = setup(t, s6rc, Object.fromEntries(names.map((n) => [n, {}])));
  const emu = await startS6rc(s6rc, [s.out], { netns: createNetns(t), env: { PATH: `${s.bin}:${process.env.PATH ?? ''}` } });
  t.teardown(() => emu.stop());
  await emu.up(['vms'], { timeoutMs: 60_000 });
  for (const name of names) {
    const argv = recordedArgv(path.join(s.run, name));
    t.is(argv[argv.indexOf('--kernel') + 1], `${s.data}/${name}/vmlinux`, name);
    t.is(argv[argv.indexOf('--disk') + 1], `path=${s.data}/${name}/blk/root.img,readonly=on,image_type=raw`, name);
    await waitFor(`log of ${name}`, () => read(path.join(s.log, name, 'current')).includes('serial: booted'));
  }
  const canaries = fs.readdirSync(s.root, { recursive: true }).map(String).filter((p) => /canary\d$/.test(p) && !p.includes('$(') && !p.includes('`') && !p.includes(';'));
  t.deepEqual(canaries, []);
  for (const dir of [emu.root, process.cwd(), '/']) {
    for (const c of ['canary1', 'canary2', 'canary3']) t.false(fs.existsSync(path.join(dir, c)), `${dir}/${c}`);
  }
  for (const svc of fs.readdirSync(emu.scandir)) {
    for (const c of ['canary1', 'canary2', 'canary3']) t.false(fs.existsSync(path.join(emu.scandir, svc, c)));
  }
});

realS6rcTest('a VMM that dies is restarted by s6 with the same argv, and the logger keeps logging', async (t, s6rc) => {
  const s = setup(t, s6rc, { solo: {} });
  const emu = await startS6rc(s6rc, [s.out], { netns: createNetns(t), env: { PATH: `${s.bin}:${process.env.PATH ?? ''}` } });
  t.teardown(() => emu.stop());
  await emu.up(['vms'], { timeoutMs: 30_000 });
  const first = recordedArgv(path.join(s.run, 'solo'));
  const loggerPid = emu.servicePid('vm-solo-log');
  process.kill(emu.servicePid('vm-solo')!, 'SIGKILL');
  await waitFor('second start', () => read(path.join(s.run, 'solo', 'starts')).trim().split('\n').length >= 2);
  t.deepEqual(recordedArgv(path.join(s.run, 'solo')), first);
  t.is(emu.servicePid('vm-solo-log'), loggerPid);
  const booted = () => read(path.join(s.log, 'solo', 'current')).split('\n').filter((l) => l.includes('serial: booted')).length;
  await waitFor('the restarted VMM\'s lines in the same log', () => booted() >= 2);
  t.pass();
});

realS6rcTest('writable disks and other flags reach the argv; a command line starting with - stays a value', async (t, s6rc) => {
  const s = setup(t, s6rc, { solo: {} }, ['--writable-disks', '--memory', '1G', '--cpus', '2', '--cmdline=-- console=ttyS0 quiet']);
  const emu = await startS6rc(s6rc, [s.out], { netns: createNetns(t), env: { PATH: `${s.bin}:${process.env.PATH ?? ''}` } });
  t.teardown(() => emu.stop());
  await emu.up(['vm-solo'], { timeoutMs: 30_000 });
  t.deepEqual(recordedArgv(path.join(s.run, 'solo')), [
    '--api-socket', `path=${s.run}/solo/api.sock`,
    '--kernel', `${s.data}/solo/vmlinux`,
    // clap 4.6 (cloud-hypervisor v53.0's Cargo.lock) clap_builder/src/parser/parser.rs:148-289: a word
    // after `--cmdline` that starts with - is parsed as an option (long at :148, short at :213), so
    // `--cmdline '-- quiet'` is refused; parser.rs:1061-1068 and clap_lex/src/lib.rs:324-339:
    // in `--cmdline=VALUE` all after the first = is the value.
    '--cmdline=-- console=ttyS0 quiet',
    '--cpus', 'boot=2',
    '--memory', 'size=1G',
    // A single disk and no link: one value after --disk, and no --net at all (main.rs:384 num_args(1..)
    // would refuse a --net with no value, parser.rs:1343).
    '--disk', `path=${s.data}/solo/blk/root.img,readonly=off,image_type=raw`,
    '--serial', 'tty',
    '--console', 'pty',
  ]);
});

realS6rcTest('cloud-hypervisor: several disks follow one --disk and several links one --net, as v53.0 parses them', async (t, s6rc) => {
  const s = setup(t, s6rc, {
    netvm: { initramfs: 'initramfs\n' },
    vpnvm: { providers: ['netvm'] },
    'appvm-secure': { providers: ['netvm', 'vpnvm'], disks: ['root.img', 'home.img', 'Photos 2026.img'] },
  });
  const emu = await startS6rc(s6rc, [s.out], { netns: createNetns(t), env: { PATH: `${s.bin}:${process.env.PATH ?? ''}` } });
  t.teardown(() => emu.stop());
  await emu.up(['vms'], { timeoutMs: 30_000 });
  const common = (vm: string, initramfs = false): string[] => [
    // cloud-hypervisor v53.0 cloud-hypervisor/src/main.rs:193-197: Arg::new("api-socket").num_args(1);
    // main.rs:531-555 parses it with OptionParser: path=<path>.
    '--api-socket', `path=${s.run}/${vm}/api.sock`,
    // main.rs:319-326: Arg::new("kernel").num_args(1); vmm/src/config.rs:3630 takes it as a path, unparsed.
    // Always absolute (vmsvc resolves the data dir), so never a word clap could take for a flag.
    '--kernel', `${s.data}/${vm}/vmlinux`,
    // main.rs:308-312: Arg::new("initramfs").num_args(1); config.rs:3631 takes it as a path. Absolute too.
    ...(initramfs ? ['--initramfs', `${s.data}/${vm}/initramfs`] : []),
    // main.rs:203-207: Arg::new("cmdline").num_args(1); config.rs:3632 takes it verbatim.
    '--cmdline=console=ttyS0 root=PARTLABEL=root',
    // main.rs:213-224 (default action Set: given once); config.rs:713-730 CpusConfig::parse: boot=<n>.
    '--cpus', 'boot=1',
    // main.rs:356-368; config.rs:1083-1104 MemoryConfig::parse: size=<n>[KMG] (option_parser ByteSized).
    '--memory', 'size=256M',
  ];
  const tail = ['--serial', 'tty', '--console', 'pty'];
  const disk = (vm: string, img: string): string => `path=${s.data}/${vm}/blk/${img},readonly=on,image_type=raw`;
  t.deepEqual(recordedArgv(path.join(s.run, 'appvm-secure')), [
    ...common('appvm-secure'),
    // main.rs:256-261: Arg::new("disk").num_args(1..).action(ArgAction::Append). clap 4.6
    // clap_builder/src/parser/parser.rs:291-317: each following word that is not an option
    // (parser.rs:148, :213) is one more value, up to the next option; config.rs:539-541 and
    // 3485-3493: each value is one DiskConfig. (Append, new in v52.0, also allows a repeated --disk;
    // v51.0's default Set refused it, parser.rs:1200-1217, :1199-1216 in its clap_builder 4.5.59;
    // one --disk with several values suits both.)
    // config.rs:1441-1467: path, readonly, image_type are DiskConfig options; option_parser/src/lib.rs:94,138,150:
    // values split at , and the first =, and are trimmed: a path with spaces (not at its ends) or = is kept.
    '--disk', disk('appvm-secure', 'Photos 2026.img'), disk('appvm-secure', 'home.img'), disk('appvm-secure', 'root.img'),
    // main.rs:384-389: Arg::new("net").num_args(1..).action(ArgAction::Append), the same rule;
    // config.rs:542-544, 3503-3511 and 1692-1727 NetConfig::parse: tap, mac.
    '--net', 'tap=vtc-4da8,mac=0a:b3:ec:00:4d:a8', 'tap=vtc-ecf4,mac=0a:b3:ec:00:ec:f4',
    // main.rs:459-463 serial (default action Set), config.rs:2388-2398 and 2328: tty is a valueless mode,
    // vmm/src/console_devices.rs:242-257 writes it to stdout (raw mode only on a terminal, :83-85), and
    // vmm/src/serial_manager.rs:193-222 reads input only when stdin is a terminal (here /dev/null);
    // main.rs:208-212 console, config.rs:2368-2386: pty (off without a user console).
    // No --seccomp: main.rs:454-458 defaults to true, SeccompAction::Trap at :588.
    ...tail,
  ]);
  // A provider has only its own client side in its argv: its clients' links are hot-plugged
  // (ch-remote add-net, generator/vmm/cloud-hypervisor.ts), here into the stub.
  t.deepEqual(recordedArgv(path.join(s.run, 'vpnvm')), [
    ...common('vpnvm'),
    '--disk', disk('vpnvm', 'root.img'),
    '--net', 'tap=vtc-cf22,mac=0a:b3:ec:00:cf:22',
    ...tail,
  ]);
  t.deepEqual(recordedArgv(path.join(s.run, 'netvm')), [
    ...common('netvm', true),
    '--disk', disk('netvm', 'root.img'),
    ...tail,
  ]);
  const hotplugged = (vm: string): unknown => JSON.parse(fs.readFileSync(path.join(s.run, vm, 'nics'), 'utf8'));
  t.deepEqual(hotplugged('netvm'), {
    'vmsvc-link-4da8': { tap: 'vtp-4da8', mac: '0a:b3:ec:80:4d:a8' },
    'vmsvc-link-cf22': { tap: 'vtp-cf22', mac: '0a:b3:ec:80:cf:22' },
  });
  t.deepEqual(hotplugged('vpnvm'), { 'vmsvc-link-ecf4': { tap: 'vtp-ecf4', mac: '0a:b3:ec:80:ec:f4' } });
  // Paths, and no descriptor: DiskConfig has a path= and no fd key (vmm/src/config.rs:1429-1439
  // at v53.0) and open_disk_image reopens it (block/src/lib.rs:530-536), so a /proc/self/fd/N
  // would be checked against the image's own permissions (generator/vmm/cloud-hypervisor.ts).
  // Root's opens are only for the grants, and closed before the VMM starts.
  for (const vm of ['appvm-secure', 'vpnvm', 'netvm']) t.deepEqual(recordedFds(path.join(s.run, vm)), [], vm);
});


realS6rcTest('--vmm qemu: exact argv, QMP readiness, console socket, serial log', async (t, s6rc) => {
  const { root, data } = dataDirWith({ netvm: {}, 'appvm-lynx': { providers: ['netvm'], disks: ['root.img', 'home.img'] } });
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  const s = { out: path.join(root, 'out'), run: path.join(root, 'run'), log: path.join(root, 'log'), bin: path.join(root, 'bin') };
  const qemu = installStubVmm(s.bin, 'qemu-system-x86_64');
  const r = vmsvc(['generate', '--vmm', 'qemu', '--vmm-bin', qemu, '--execlineb', s6rc.bin('execlineb'), '--data', data, '--out', s.out, '--runtime-dir', s.run, '--log-dir', s.log, '--writable-disks']);
  t.is(r.code, 0, r.stderr);
  const emu = await startS6rc(s6rc, [s.out], { netns: createNetns(t), env: { PATH: `${s.bin}:${process.env.PATH ?? ''}` } });
  t.teardown(() => emu.stop());
  await emu.up(['vms'], { timeoutMs: 30_000 });
  const lynx = path.join(s.run, 'appvm-lynx');
  t.deepEqual(recordedArgv(lynx), [
    '-name', 'guest=appvm-lynx',
    '-machine', 'q35',
    '-accel', 'kvm',
    '-cpu', 'max',
    '-m', '256M',
    '-smp', '1',
    '-nodefaults',
    '-no-user-config',
    '-display', 'none',
    '-sandbox', 'on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny',
    '-kernel', `${data}/appvm-lynx/vmlinux`,
    '-append', 'console=ttyS0 root=PARTLABEL=root',
    '-serial', 'stdio',
    '-chardev', `socket,id=qmp,path=${lynx}/qmp.sock,server=on,wait=off`,
    '-mon', 'chardev=qmp,mode=control',
    '-device', 'virtio-serial-pci',
    '-chardev', `socket,id=console,path=${lynx}/console.sock,server=on,wait=off`,
    '-device', 'virtconsole,chardev=console',
    // The ports its clients' links are hot-plugged into (generator/vmm/qemu.ts): pcie-root-port's
    // chassis and io-reserve as `qemu-system-x86_64 -device pcie-root-port,help` lists them in
    // Debian's 7.2 (hw/pci-bridge/gen_pcie_root_port.c; QEMU's tree is too large to fetch here,
    // so no line is cited); 8 functions to a slot from 0x18, the first multifunction.
    ...Array.from({ length: 32 }, (_, k) => ['-device', `pcie-root-port,id=vmsvc-port${k},bus=pcie.0,addr=0x${(0x18 + Math.floor(k / 8)).toString(16)}.${k % 8}${k % 8 === 0 ? ',multifunction=on' : ''},chassis=${k + 1},io-reserve=0`]).flat(),
    // Disks through fdsets (generator/vmm/qemu.ts): -add-fd fd=N,set=M takes an
    // inherited descriptor (vl.c:580-611 in Debian's 7.2, system/vl.c:593-622
    // in 10.2) and /dev/fdset/M opens a dup of the one whose access mode
    // matches (monitor/misc.c:1341 in 7.2, monitor/fds.c:445 in 10.2). A
    // writable disk's set holds a read-only descriptor and a read-write one:
    // file-posix opens read-only first (block/file-posix.c:676 in 7.2, :716 in 10.2).
    '-add-fd', 'fd=5,set=0',
    '-add-fd', 'fd=6,set=0',
    '-drive', 'file=/dev/fdset/0,if=none,id=disk0,format=raw,readonly=off',
    '-device', 'virtio-blk-pci,drive=disk0',
    '-add-fd', 'fd=7,set=1',
    '-add-fd', 'fd=8,set=1',
    '-drive', 'file=/dev/fdset/1,if=none,id=disk1,format=raw,readonly=off',
    '-device', 'virtio-blk-pci,drive=disk1',
    '-netdev', 'tap,id=net0,ifname=vtc-b8f6,script=no,downscript=no',
    '-device', 'virtio-net-pci,netdev=net0,mac=0a:b3:ec:00:b8:f6',
  ]);
  // The descriptors root opened (templates/common/open-files.hbs), in the same order; the kernel stays a path.
  t.deepEqual(recordedFds(lynx), [
    `5 ${data}/appvm-lynx/blk/home.img r`, `6 ${data}/appvm-lynx/blk/home.img u`,
    `7 ${data}/appvm-lynx/blk/root.img r`, `8 ${data}/appvm-lynx/blk/root.img u`,
  ]);
  // The provider's side is not in its argv: QMP netdev_add and device_add put it on the first free port.
  t.false(recordedArgv(path.join(s.run, 'netvm')).includes('-netdev'));
  t.deepEqual(JSON.parse(read(path.join(s.run, 'netvm', 'nics'))), {
    // Link 0xb8f6 = 47350 tries its ports from 47350 mod 32 = 22 on (generator/vmm/qemu.ts place).
    'vmsvc-link-b8f6': { tap: 'vtp-b8f6', mac: '0a:b3:ec:80:b8:f6', bus: 'vmsvc-port22', netdev: 'vmsvc-net-b8f6' },
  });
  await waitFor('serial lines', () => read(path.join(s.log, 'appvm-lynx', 'current')).includes('serial: tick 1'));
  t.false(read(path.join(s.log, 'appvm-lynx', 'current')).includes('NOT-SERIAL'));
});

realS6rcTest('--vmm crosvm: exact argv; the user console it cannot offer is a check error unless --no-user-console', async (t, s6rc) => {
  const { root, data } = dataDirWith({ netvm: {}, 'appvm-lynx': { providers: ['netvm'] } });
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  const s = { out: path.join(root, 'out'), run: path.join(root, 'run'), log: path.join(root, 'log'), bin: path.join(root, 'bin') };
  const refused = vmsvc(['generate', '--vmm', 'crosvm', '--data', data, '--out', s.out]);
  t.is(refused.code, 1);
  t.regex(refused.stderr, /error\[vmm-unsupported\]: crosvm cannot offer the user's virtio-console/);
  t.false(fs.existsSync(s.out));
  const odd = vmsvc(['check', '--vmm', 'crosvm', '--no-user-console', '--memory', '1000K', '--data', data]);
  t.is(odd.code, 1);
  t.regex(odd.stderr, /crosvm takes guest memory in whole MiB; --memory 1000K is not/);
  const writable = vmsvc(['check', '--vmm', 'crosvm', '--no-user-console', '--writable-disks', '--data', data]);
  t.is(writable.code, 1);
  t.regex(writable.stderr, /error\[vmm-unsupported\]: --writable-disks: crosvm cannot be told a disk image is raw/);

  const crosvm = installStubVmm(s.bin, 'crosvm');
  const r = vmsvc(['generate', '--vmm', 'crosvm', '--vmm-bin', crosvm, '--execlineb', s6rc.bin('execlineb'), '--no-user-console', '--memory', '1G', '--cpus', '2',
    '--data', data, '--out', s.out, '--runtime-dir', s.run, '--log-dir', s.log]);
  t.is(r.code, 0, r.stderr);
  const emu = await startS6rc(s6rc, [s.out], { netns: createNetns(t), env: { PATH: `${s.bin}:${process.env.PATH ?? ''}` } });
  t.teardown(() => emu.stop());
  await emu.up(['vms'], { timeoutMs: 30_000 });
  // crosvm main f1e797a6 (2026-08-21), src/crosvm/cmdline.rs unless named:
  t.deepEqual(recordedArgv(path.join(s.run, 'appvm-lynx')), [
    // `run` is RunCommand (:806-811).
    'run',
    // --socket PATH, the control socket (:2001-2003, 2698-2703).
    '--socket', `${s.run}/appvm-lynx/control.sock`,
    // --pivot-root PATH (:1617-1620, 3093-3096): the sandbox (on unless
    // --disable-sandbox, :1079-1081, 3264-3265) pivots devices into it,
    // default /var/empty (jail/src/config.rs:11-13), which must exist
    // (jail/src/helpers.rs:118-122). Seccomp policies are embedded when no
    // --seccomp-policy-dir is given (jail/src/helpers.rs:307, 341-343).
    '--pivot-root', `${s.run}/.crosvm-empty`,
    // --mem size=MiB (:1413-1417, 2428-2429; MemOptions src/crosvm/config.rs:200-204).
    '--mem', 'size=1024',
    // --cpus num-cores=N (:1006-1051, 2333-2334; CpuOptions src/crosvm/config.rs:150-153).
    '--cpus', 'num-cores=2',
    // --params, "extra kernel command line arguments" (:1570-1572, 2326),
    // joined to its value: src/main.rs:696-726 splits it at this first = only.
    '--params=console=ttyS0 root=PARTLABEL=root',
    // --serial type=stdout,hardware=serial,num=1,console (:1821-1863, 2479;
    // SerialParameters devices/src/serial_device.rs:158-185; stdout :251-254).
    '--serial', 'type=stdout,hardware=serial,num=1,console',
    // --block path=,ro= (:867-903, 2557; DiskOption devices/src/virtio/block/mod.rs:83-88).
    // The path is /proc/self/fd/N: open_raw_disk_image (disk/src/sys/linux.rs:22)
    // goes through base::open_file_or_duplicate (base/src/sys/linux/mod.rs:592-600),
    // which takes a /proc/self/fd/N that is not CLOEXEC as a dup of N
    // (safe_descriptor_from_path :555-572, validate_raw_fd :505-524), never a new open.
    '--block', 'path=/proc/self/fd/6,ro=true',
    // --net tap-name=,mac= (:1471-1518, 2960; NetParametersMode::TapName devices/src/virtio/net.rs:160-165).
    '--net', 'tap-name=vtc-b8f6,mac=0a:b3:ec:00:b8:f6',
    // The kernel is the positional KERNEL (:1366-1368, 2295-2296), opened by
    // open_file_or_duplicate too (src/crosvm/sys/linux.rs:1443), so a descriptor.
    '/proc/self/fd/5',
  ]);
  // Root opened them read-only (templates/common/open-files.hbs), kernel first.
  t.deepEqual(recordedFds(path.join(s.run, 'appvm-lynx')), [`5 ${data}/appvm-lynx/vmlinux r`, `6 ${data}/appvm-lynx/blk/root.img r`]);
  // The pivot root is made by the run script, empty and not writable by the VMM.
  const empty = fs.statSync(path.join(s.run, '.crosvm-empty'));
  t.true(empty.isDirectory());
  t.is(empty.mode & 0o777, 0o555);
  t.deepEqual(fs.readdirSync(path.join(s.run, '.crosvm-empty')), []);
  await waitFor('serial lines', () => read(path.join(s.log, 'appvm-lynx', 'current')).includes('serial: booted'));
});

realS6rcTest('each VM its own uids (the default): VMM and loggers as numbers of their own, no supplementary group but kvm, runtime dir 0700, each tap its own side\'s', async (t, s6rc) => {
  const s = setup(t, s6rc, { a: { providers: ['b'] }, b: {} }, ['--kvm-group', '4242']);
  const ns = createNetns(t);
  const emu = await startS6rc(s6rc, [s.out], { netns: ns, env: { PATH: `${s.bin}:${process.env.PATH ?? ''}` } });
  t.teardown(() => emu.stop());
  await emu.up(['vms'], { timeoutMs: 30_000 });
  const status = (pid: number, field: string): string => new RegExp(`^${field}:\\s+(.*)$`, 'm').exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]!.trim();
  const ids: Record<string, { vmm: number; log: number }> = {};
  for (const vm of ['a', 'b']) {
    let pid: number | null = null;
    await waitFor(`${vm}'s VMM below trap`, () => (pid = vmmPid(emu.servicePid(`vm-${vm}`)!)) !== null);
    const uid = Number(status(pid!, 'Uid').split(/\s+/)[0]);
    const runtime = fs.statSync(path.join(s.run, vm));
    // Real, effective, saved and file system uid alike; the gid is the uid; kvm's the only other group.
    t.deepEqual(status(pid!, 'Uid').split(/\s+/), [String(uid), String(uid), String(uid), String(uid)]);
    t.deepEqual(status(pid!, 'Gid').split(/\s+/), [String(uid), String(uid), String(uid), String(uid)]);
    // skalibs' setgroups_and_gid lists the gid among the groups too.
    t.deepEqual(status(pid!, 'Groups').split(/\s+/).sort(), ['4242', String(uid)].sort());
    t.true(uid >= 0x70000000 && uid < 0x70000000 + 65536, `${vm}: ${uid} in the default range`);
    t.is(runtime.uid, uid);
    t.is(runtime.gid, uid);
    t.is(runtime.mode & 0o777, 0o700);
    const logger = emu.servicePid(`vm-${vm}-log`)!;
    t.is(status(logger, 'Uid').split(/\s+/)[0], String(uid + 1), `${vm}: its logger is the next uid`);
    t.is(status(logger, 'Groups'), String(uid + 1));
    await waitFor(`${vm}'s serial lines`, () => read(path.join(s.log, vm, 'current')).includes('serial: booted'));
    for (const f of ['', 'current', 'vmm', 'vmm/current']) t.is(fs.statSync(path.join(s.log, vm, f)).uid, uid + 1, `${vm}: log ${f || 'dir'}`);
    ids[vm] = { vmm: uid, log: uid + 1 };
  }
  t.not(ids.a!.vmm, ids.b!.vmm);
  // The link's taps: the client's side a's, the provider's side b's (the kernel's own record of ip tuntap's user).
  const owner = (dev: string): number => Number(inNetns(ns, 'cat', [`/sys/class/net/${dev}/owner`]).trim());
  const link = JSON.parse(fs.readFileSync(path.join(s.out, 'vmsvc-manifest.json'), 'utf8')).links[0] as { clientTap: string; providerTap: string };
  t.is(owner(link.clientTap), ids.a!.vmm);
  t.is(owner(link.providerTap), ids.b!.vmm);
});

realS6rcTest('each VMM in a sandbox of its own (the default): it sees its own runtime dir, kernel and disk and not another VM\'s, nor /etc, /home or the logs; its pid namespace holds it and bwrap alone; no new privileges; a stop and a kill still end it', async (t, s6rc) => {
  const s = setup(t, s6rc, { a: { disks: ['root.img'] }, b: { disks: ['root.img'] } }, ['--stop-timeout', '20000']);
  const look = {
    ownRuntime: path.join(s.run, 'a'), ownKernel: path.join(s.data, 'a', 'vmlinux'), ownDisk: path.join(s.data, 'a', 'blk', 'root.img'),
    otherRuntime: path.join(s.run, 'b'), otherKernel: path.join(s.data, 'b', 'vmlinux'), otherDisk: path.join(s.data, 'b', 'blk', 'root.img'),
    ownVmDir: path.join(s.data, 'a', 'config'), logs: s.log, shadow: '/etc/shadow', etc: '/etc', home: '/home', root: '/root', sys: '/sys',
  };
  const { emu, sees } = await upAndLookAsA(t, s6rc, s, look);
  t.deepEqual(sees, {
    ownRuntime: 'readable', ownKernel: 'readable', ownDisk: 'readable',
    otherRuntime: 'absent', otherKernel: 'absent', otherDisk: 'absent',
    // Only the files it opens: not even the rest of its own VM dir.
    ownVmDir: 'absent', logs: 'absent', shadow: 'absent', etc: 'absent', home: 'absent', root: 'absent', sys: 'absent',
  });
  const status = (pid: number, field: string): string => new RegExp(`^${field}:\\s+(.*)$`, 'm').exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]!.trim();
  const pids: Record<string, number> = {};
  for (const vm of ['a', 'b']) {
    let pid: number | null = null;
    await waitFor(`${vm}'s VMM below trap and bwrap`, () => (pid = vmmPid(emu.servicePid(`vm-${vm}`)!)) !== null && fs.existsSync(`/proc/${pid}/root${s.run}/${vm}/pid`));
    pids[vm] = pid!;
    t.is(status(pid!, 'NoNewPrivs'), '1', `${vm}: no new privileges`);
    t.is(status(pid!, 'CapEff'), '0000000000000000', `${vm}: no capabilities`);
    t.is(status(pid!, 'Uid').split(/\s+/)[0], String(fs.statSync(path.join(s.run, vm)).uid), `${vm}: still its own uid`);
    // Its pid namespace, as its own /proc shows it: bwrap as 1, the VMM as 2, nothing else.
    const inside = fs.readdirSync(`/proc/${pid}/root/proc`).filter((n) => /^\d+$/.test(n)).sort();
    t.deepEqual(inside, ['1', '2'], `${vm}: its pid namespace`);
    t.is(fs.readFileSync(`/proc/${pid}/root/proc/1/comm`, 'utf8').trim(), 'bwrap');
    t.is(status(pid!, 'NSpid').split(/\s+/).at(-1), '2');
    t.not(fs.readlinkSync(`/proc/${pid}/ns/pid`), fs.readlinkSync('/proc/self/ns/pid'));
    t.not(fs.readlinkSync(`/proc/${pid}/ns/user`), fs.readlinkSync('/proc/self/ns/user'));
    t.not(fs.readlinkSync(`/proc/${pid}/ns/mnt`), fs.readlinkSync('/proc/self/ns/mnt'));
  }
  t.not(fs.readlinkSync(`/proc/${pids.a}/ns/pid`), fs.readlinkSync(`/proc/${pids.b}/ns/pid`));
  t.not(fs.readlinkSync(`/proc/${pids.a}/ns/mnt`), fs.readlinkSync(`/proc/${pids.b}/ns/mnt`));
  // The stop presses the button through the socket the VMM made inside, and returns once it is gone.
  let began = Date.now();
  await emu.down(['vm-a'], { timeoutMs: 30_000 });
  t.true(Date.now() - began < 10_000, `a stopped in ${Date.now() - began} ms, not at the 20 s bound`);
  t.false(alive(pids.a!));
  t.true(fs.existsSync(path.join(s.run, 'a', 'powered-off')));
  // s6-svc -K: SIGKILL to the service's process group, which the VMM is still in (no --new-session).
  began = Date.now();
  const kill = spawnSync(s6rc.bin('s6-svc'), ['-K', emu.serviceDir('vm-b')], { encoding: 'utf8' });
  t.is(kill.status, 0, kill.stderr);
  await waitFor('b\'s VMM to be killed', () => !alive(pids.b!), 5_000, 20);
  t.true(Date.now() - began < 2_000, `b killed in ${Date.now() - began} ms`);
});

realS6rcTest('an owner change hands the dirs over: a log dir root\'s loggers wrote is taken by the VM\'s own log uid, which keeps the old current aside', async (t, s6rc) => {
  const before = setup(t, s6rc, { solo: {} }, ['--vmm-user', 'root', '--log-user', 'root']);
  const ns = createNetns(t);
  const first = await startS6rc(s6rc, [before.out], { netns: ns, env: { PATH: `${before.bin}:${process.env.PATH ?? ''}` } });
  await first.up(['vms'], { timeoutMs: 30_000 });
  const log = path.join(before.log, 'solo');
  await waitFor('root\'s serial lines', () => read(path.join(log, 'current')).includes('serial: booted'));
  await waitFor('root\'s VMM log', () => read(path.join(log, 'vmm', 'current')).includes('NOT-SERIAL'));
  await first.stop();
  t.is(fs.statSync(path.join(log, 'current')).uid, 0);
  const rootLines = read(path.join(log, 'current'));
  // The same dirs, now with the default.
  const out2 = path.join(before.root, 'out2');
  const r = vmsvc(['generate', '--data', before.data, '--out', out2, '--runtime-dir', before.run, '--log-dir', before.log, '--timeout-up', '20000', '--execlineb', s6rc.bin('execlineb'), '--vmm-bin', path.join(before.bin, 'cloud-hypervisor')]);
  t.is(r.code, 0, r.stderr);
  const second = await startS6rc(s6rc, [out2], { netns: ns, env: { PATH: `${before.bin}:${process.env.PATH ?? ''}` } });
  t.teardown(() => second.stop());
  await second.up(['vms'], { timeoutMs: 30_000 });
  await waitFor('the new serial lines', () => read(path.join(log, 'current')).includes('serial: booted'));
  await waitFor('the new VMM log', () => read(path.join(log, 'vmm', 'current')).includes('NOT-SERIAL'));
  const uid = fs.statSync(path.join(before.run, 'solo')).uid;
  t.not(uid, 0);
  t.is(fs.statSync(path.join(before.run, 'solo')).mode & 0o777, 0o700);
  for (const f of ['', 'current', 'lock', 'vmm', 'vmm/current']) t.is(fs.statSync(path.join(log, f)).uid, uid + 1, `log ${f || 'dir'}`);
  // Nothing lost: root's lines are kept beside, as root's.
  t.is(read(path.join(log, 'previous-owner.current')), rootLines);
  t.is(fs.statSync(path.join(log, 'previous-owner.current')).uid, 0);
  t.is(fs.statSync(path.join(log, 'vmm.previous-owner')).uid, 0);
});

realS6rcTest('a link left in the log dir (by a uid that had it before) is moved aside, never followed by s6-log', async (t, s6rc) => {
  const s = setup(t, s6rc, { solo: {} });
  // Somewhere the log uid may write, outside its dir: where the links lead.
  const elsewhere = path.join(s.root, 'elsewhere');
  fs.mkdirSync(elsewhere, { mode: 0o777 });
  fs.chmodSync(elsewhere, 0o777);
  const log = path.join(s.log, 'solo');
  fs.mkdirSync(log, { recursive: true });
  fs.symlinkSync(path.join(elsewhere, 'serial'), path.join(log, 'current'));
  fs.symlinkSync(path.join(elsewhere, 'vmm'), path.join(log, 'vmm'));
  const emu = await startS6rc(s6rc, [s.out], { netns: createNetns(t), env: { PATH: `${s.bin}:${process.env.PATH ?? ''}` } });
  t.teardown(() => emu.stop());
  await emu.up(['vms'], { timeoutMs: 30_000 });
  await waitFor('serial lines', () => read(path.join(log, 'current')).includes('serial: booted'));
  await waitFor('the VMM log', () => read(path.join(log, 'vmm', 'current')).includes('NOT-SERIAL'));
  t.true(fs.lstatSync(path.join(log, 'current')).isFile());
  t.true(fs.lstatSync(path.join(log, 'vmm')).isDirectory());
  t.true(fs.lstatSync(path.join(log, 'previous-owner.current')).isSymbolicLink());
  t.true(fs.lstatSync(path.join(log, 'vmm.previous-owner')).isSymbolicLink());
  t.deepEqual(fs.readdirSync(elsewhere), [], 'nothing written where the links led');
});

realS6rcTest('--vmm-user and --log-user: the VMM and s6-log run as those users and own their dirs', async (t, s6rc) => {
  const s = setup(t, s6rc, { solo: {} }, ['--vmm-user', 'nobody', '--log-user', 'daemon']);
  fs.chmodSync(s.root, 0o755);
  fs.chmodSync(s.bin, 0o755);
  const emu = await startS6rc(s6rc, [s.out], { netns: createNetns(t), env: { PATH: `${s.bin}:${process.env.PATH ?? ''}` } });
  t.teardown(() => emu.stop());
  await emu.up(['vms'], { timeoutMs: 30_000 });
  const uidOf = (pid: number) => /^Uid:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1];
  // The service's process is trap, as root (it runs s6-svc at the stop bound); the VMM below it drops to the user.
  let vmm: number | null = null;
  await waitFor('the VMM below trap', () => (vmm = vmmPid(emu.servicePid('vm-solo')!)) !== null);
  t.is(uidOf(vmm!), '65534', 'VMM runs as nobody');
  t.is(uidOf(emu.servicePid('vm-solo-log')!), '1', 's6-log runs as daemon');
  t.is(fs.statSync(path.join(s.run, 'solo')).uid, 65534);
  t.is(fs.statSync(path.join(s.log, 'solo')).uid, 1);
  await waitFor('serial lines', () => read(path.join(s.log, 'solo', 'current')).includes('serial: booted'));
  t.is(fs.statSync(path.join(s.log, 'solo', 'current')).uid, 1);
  // The VMM's own log: made by its s6-log, as the log user, and nothing of root's in there.
  await waitFor('the VMM log', () => read(path.join(s.log, 'solo', 'vmm', 'current')).includes('NOT-SERIAL'));
  t.is(fs.statSync(path.join(s.log, 'solo', 'vmm')).uid, 1);
  t.is(fs.statSync(path.join(s.log, 'solo', 'vmm', 'current')).uid, 1);
});

realS6rcTest('cloud-hypervisor opens by path only what root granted its uid: its own root-only kernel and disks through an ACL entry set on the file root opened, not another VM\'s; the stop takes the entries back; a link swapped in grants nothing', async (t, s6rc) => {
  // --sandbox none: the uids alone, so that b's files are at a path a's VMM can name.
  const s = setup(t, s6rc, { a: { disks: ['root.img', 'data.img'], config: { 'writable-disks': '' } }, b: { disks: ['root.img'] } }, ['--sandbox', 'none']);
  const files = { aKernel: path.join(s.data, 'a', 'vmlinux'), aRoot: path.join(s.data, 'a', 'blk', 'root.img'), aData: path.join(s.data, 'a', 'blk', 'data.img'), bKernel: path.join(s.data, 'b', 'vmlinux'), bRoot: path.join(s.data, 'b', 'blk', 'root.img') };
  for (const f of Object.values(files)) fs.chmodSync(f, 0o600);
  const victim = path.join(s.root, 'victim');
  fs.writeFileSync(victim, 'root only\n', { mode: 0o600 });
  const acl = (f: string): string => spawnSync('getfacl', ['-cn', f], { encoding: 'utf8' }).stdout.split('\n').filter((l) => /^user:\d/.test(l)).join(' ');
  const { emu, sees } = await upAndLookAsA(t, s6rc, s, files);
  t.deepEqual(sees, {
    aKernel: 'readable', aRoot: 'readable', aData: 'readable', bKernel: 'exists', bRoot: 'exists',
  });
  const uid = { a: fs.statSync(path.join(s.run, 'a')).uid, b: fs.statSync(path.join(s.run, 'b')).uid };
  t.is(acl(files.aKernel), `user:${uid.a}:r--`);
  t.is(acl(files.aData), `user:${uid.a}:rw-`, 'a writable disk: read-write');
  t.is(acl(files.bRoot), `user:${uid.b}:r--`);

  await emu.down(['vm-a'], { timeoutMs: 30_000 });
  await waitFor('the finish script to take a\'s entries back', () => acl(files.aRoot) === '' && acl(files.aData) === '' && acl(files.aKernel) === '');
  for (const f of [files.aKernel, files.aRoot, files.aData]) t.is(fs.statSync(f).mode & 0o777, 0o600, `${f}: its mode as before`);
  t.is(acl(files.bRoot), `user:${uid.b}:r--`, 'b, still running, keeps its own');

  // A link put in place of a's disk: root's open fails (ELOOP), so nothing is granted on what it names, and no VMM starts.
  const starts = read(path.join(s.run, 'a', 'starts'));
  fs.rmSync(files.aData);
  fs.symlinkSync(victim, files.aData);
  await t.throwsAsync(emu.up(['vm-a'], { timeoutMs: 3_000 }));
  t.is(acl(victim), '');
  t.is(read(path.join(s.run, 'a', 'starts')), starts, 'a\'s VMM did not start');
});

/**
 * A socket any user may connect to that holds each connection and answers nothing (as journald's
 * stdout stream socket does with what ch-remote sends): a VM's VMM uid can reach it, as it can its
 * own runtime dir, where it may put a link to it. Then VM a up, and its VMM's uid.
 */
async function upBesideSilentSocket(t: ExecutionContext, s6rc: RealS6rc, s: Setup): Promise<{ silent: string; held: net.Socket[]; emu: S6rcHarness; uid: number }> {
  const silent = path.join(s.root, 'silent.sock');
  const held: net.Socket[] = [];
  const server = net.createServer((c) => { held.push(c); c.on('error', () => undefined); c.resume(); }).listen(silent);
  await once(server, 'listening');
  fs.chmodSync(silent, 0o777);
  t.teardown(() => { for (const c of held) c.destroy(); server.close(); });
  const emu = await startS6rc(s6rc, [s.out], { netns: createNetns(t), env: { PATH: `${s.bin}:${process.env.PATH ?? ''}` } });
  t.teardown(() => emu.stop());
  await emu.up(['vm-a'], { timeoutMs: 30_000 });
  return { silent, held, emu, uid: fs.statSync(path.join(s.run, 'a')).uid };
}

realS6rcTest('a VMM that leaves its control socket leading to one that never answers cannot keep its grants past its death: the finish script takes them back before its quit request, which that socket holds', async (t, s6rc) => {
  const s = setup(t, s6rc, { a: {} });
  const files = [path.join(s.data, 'a', 'vmlinux'), path.join(s.data, 'a', 'blk', 'root.img')];
  for (const f of files) fs.chmodSync(f, 0o600);
  const acl = (f: string): string => spawnSync('getfacl', ['-cn', f], { encoding: 'utf8' }).stdout.split('\n').filter((l) => /^user:\d/.test(l)).join(' ');
  const { silent, held, emu, uid } = await upBesideSilentSocket(t, s6rc, s);
  for (const f of files) t.is(acl(f), `user:${uid}:r--`, `precondition: ${f} granted`);

  // The VMM's uid puts the link in place of its control socket, then its VMM dies; s6 is told not
  // to restart it (-O), so what follows is the finish script alone.
  const ln = spawnSync(s6rc.bin('s6-applyuidgid'), ['-u', String(uid), '-g', String(uid), '-G', '', 'ln', '-sfn', silent, path.join(s.run, 'a', 'api.sock')], { encoding: 'utf8' });
  t.is(ln.status, 0, ln.stderr);
  t.is(spawnSync(s6rc.bin('s6-svc'), ['-O', emu.serviceDir('vm-a')]).status, 0);
  const vmm = vmmPid(emu.servicePid('vm-a')!)!;
  process.kill(vmm, 'SIGKILL');
  // The finish script's quit request reaches the silent socket and hangs there until its bound
  // kills its client, which closes the connection. The revoke once came after it, and the bound
  // was 10 s: s6-supervise's timeout-finish (5 s by default) SIGKILLed the script before the revoke.
  await waitFor('the finish script\'s quit request at the silent socket', () => held.length > 0, 10_000);
  await waitFor('the quit request to be killed', () => held.every((c) => c.closed), 15_000);
  for (const f of files) t.is(acl(f), '', `${f}: a's uid keeps no entry`);
});

realS6rcTest('a VMM that points its control socket at one that never answers, then dies, still ends its crash loop: with --crash-deaths 2 its second death is its last, though the finish script\'s quit request hangs', async (t, s6rc) => {
  const s = setup(t, s6rc, { a: {} }, ['--crash-deaths', '2', '--crash-window', '120']);
  const { silent, held, emu, uid } = await upBesideSilentSocket(t, s6rc, s);
  const starts = (): number => read(path.join(s.run, 'a', 'starts')).split('\n').filter((l) => l !== '').length;
  const status = (): string => spawnSync(s6rc.bin('s6-svstat'), ['-o', 'up,wantedup', emu.serviceDir('vm-a')], { encoding: 'utf8' }).stdout.trim();
  // Each life of the VMM (a guest that escaped into it, every boot) puts the link in place of its
  // control socket, which the run script removes at each start, and dies.
  const die = async (): Promise<void> => {
    await waitFor('the VMM up', () => fs.existsSync(path.join(s.run, 'a', 'ready-at')) && vmmPid(emu.servicePid('vm-a') ?? 0) !== null, 20_000);
    const ln = spawnSync(s6rc.bin('s6-applyuidgid'), ['-u', String(uid), '-g', String(uid), '-G', '', 'ln', '-sfn', silent, path.join(s.run, 'a', 'api.sock')], { encoding: 'utf8' });
    t.is(ln.status, 0, ln.stderr);
    fs.rmSync(path.join(s.run, 'a', 'ready-at'));
    process.kill(vmmPid(emu.servicePid('vm-a')!)!, 'SIGKILL');
  };
  await die();
  await waitFor('the restart after the first death', () => starts() === 2, 20_000);
  await die();
  await waitFor('a to give up after its second death', () => status() === 'false false' || starts() > 2, 20_000);
  t.true(held.length > 0, 'precondition: the finish script\'s quit requests reached the silent socket');
  t.is(status(), 'false false', 'down, and not restarted');
  await new Promise((res) => setTimeout(res, 2000));
  t.is(starts(), 2, 'not restarted after --crash-deaths deaths');
});

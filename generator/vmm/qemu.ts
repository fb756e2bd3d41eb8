/** QEMU: templates/qemu/vm-run.hbs follows qemu-system-x86_64 7.2 (Debian 12). */
import { ACCELS, type HotplugNic, type VmmCapabilities } from './capabilities.js';

/**
 * PCIe root ports the run script gives QEMU for hot-plugged links, 8 to a
 * slot of pcie.0 (multifunction), in slots 0x18 to 0x1b: above what QEMU's
 * automatic placement of the other devices takes first, below the ICH9
 * functions at 0x1f. Each costs a guest under TCG about 20 ms of boot
 * (32 ports: 3.1 s to the test guest's init, against 2.5 s without; doc/vmm-qemu.md).
 * A provider with more live clients than ports fails to attach the next.
 */
const HOTPLUG_PORTS = 32;
const FIRST_PORT_SLOT = 0x18;

const port = (k: number): string => `vmsvc-port${k}`;

/**
 * The ports as -device options. io-reserve=0: the firmware reserves no I/O
 * window behind them (32 would want 128 KiB of the 64 KiB there is);
 * virtio-net-pci on a PCIe port is modern-only, memory-mapped.
 */
function hotplugPorts(): string[][] {
  return Array.from({ length: HOTPLUG_PORTS }, (_, k) => {
    const fn = k % 8;
    const addr = `0x${(FIRST_PORT_SLOT + Math.floor(k / 8)).toString(16)}.${fn}`;
    return ['-device', `pcie-root-port,id=${port(k)},bus=pcie.0,addr=${addr}${fn === 0 ? ',multifunction=on' : ''},chassis=${k + 1},io-reserve=0`];
  });
}

const qmp = (execute: string, args: Record<string, string>): string => `${JSON.stringify({ execute, arguments: args })}\n`;
const CAPABILITIES = '{"execute":"qmp_capabilities"}\n';

/*
 * qom-get of the device's netdev says it is there: QEMU 7.2 answers
 * {"return": "vmsvc-net-HEX"}, or a DeviceNotFound error. Commands in one
 * session are answered in order, one at a time (see `running`).
 */
function present(nic: HotplugNic) {
  return {
    via: 'socket',
    send: `${CAPABILITIES}${qmp('qom-get', { path: `/machine/peripheral/vmsvc-link-${nic.hex}`, property: 'netdev' })}`,
    expect: `"return": "vmsvc-net-${nic.hex}"`,
  } as const;
}

/*
 * netdev_add opens the tap by name as QEMU's uid: a persistent tap root made
 * for that uid needs no CAP_NET_ADMIN (net/tap-linux.c tap_open, TUNSETIFF).
 * A netdev left by an attach that placed no device is there already
 * ("Duplicate ID 'vmsvc-net-HEX'"), which is as good; the id tells this reply
 * from qmp_capabilities' empty one.
 */
function add(nic: HotplugNic) {
  return [{
    via: 'socket',
    send: `${CAPABILITIES}${JSON.stringify({
      execute: 'netdev_add',
      arguments: { type: 'tap', id: `vmsvc-net-${nic.hex}`, ifname: nic.tap, script: 'no', downscript: 'no' },
      id: 'vmsvc-netdev',
    })}\n`,
    expect: `"return": \\{\\}, "id": "vmsvc-netdev"|"id": "vmsvc-netdev", "return": \\{\\}|Duplicate ID 'vmsvc-net-${nic.hex}'`,
  }] as const;
}

/*
 * device_add on one port, at address 0: without it QEMU would take the next
 * free function of a taken port, which the guest never sees. A taken port
 * refuses it ("PCI: slot 0 function 0 not available"). One request a try:
 * each device_add costs QEMU 7.2 under TCG 16 ms when it takes and 40 to
 * 55 ms when it fails, all of it holding the main loop (measured with the
 * test guest), and 32 tries at once starved a booting guest's timer check
 * into a panic. A link tries the ports from its number's own on.
 */
const place = {
  slots: (n: number) => Array.from({ length: HOTPLUG_PORTS }, (_, k) => port((n + k) % HOTPLUG_PORTS)),
  request: (nic: HotplugNic, slot: string) => ({
    via: 'socket',
    send: `${CAPABILITIES}${JSON.stringify({
      execute: 'device_add',
      arguments: { driver: 'virtio-net-pci', id: `vmsvc-link-${nic.hex}`, netdev: `vmsvc-net-${nic.hex}`, mac: nic.mac, bus: slot, addr: '0' },
      id: 'vmsvc-place',
    })}\n`,
    // qmp_capabilities answers an empty return too: the id tells this one apart (as the power button's).
    expect: '"return": \\{\\}, "id": "vmsvc-place"|"id": "vmsvc-place", "return": \\{\\}',
  } as const),
};

/*
 * device_del asks the guest to let the device go (ACPI eject: the test
 * guest lets go within about a second) and returns at once; netdev_del
 * closes QEMU's side of the tap now, whatever the guest does. A guest that
 * keeps the device keeps a NIC with nothing behind it, and its port.
 */
function detach(nic: HotplugNic) {
  return [{
    via: 'socket',
    send: `${CAPABILITIES}${qmp('device_del', { id: `vmsvc-link-${nic.hex}` })}${qmp('netdev_del', { id: `vmsvc-net-${nic.hex}` })}`,
    expect: '"return"',
  }] as const;
}

export const qemu = {
  id: 'qemu',
  program: 'qemu-system-x86_64',
  version: '7.2 (Debian 12)',
  controlSocket: 'qmp.sock',
  /*
   * QMP: leave capabilities negotiation, then query-status, whose reply says
   * "running" only once the board is built and the vCPUs run ("paused" under
   * -S, "prelaunch", "inmigrate", "shutdown", ... otherwise). Both commands
   * are sent at once and the write side is shut down at once: without the
   * out-of-band capability QEMU queues one command and reads nothing more
   * (so not the EOF that would drop the queue) until it has answered it
   * (monitor/qmp.c, handle_qmp_command: "when OOB is disabled, we queue at
   * most one command"; monitor_qmp_dispatcher_co resumes the monitor after
   * the response). The reply's keys come in StatusInfo's order, one line.
   */
  running: {
    via: 'socket',
    send: '{"execute":"qmp_capabilities"}\n{"execute":"query-status"}\n',
    expect: '\\{"return": \\{[^}]*"status": "running"',
  },
  /*
   * QMP system_powerdown presses the ACPI power button (QEMU emits its
   * POWERDOWN event). Its reply, like qmp_capabilities', is an empty return:
   * the id tells the two apart. QEMU 7.2 (Debian 12) answers
   * `{"return": {}, "id": "vmsvc-power-button"}`; the other order is
   * accepted too, since a QDict prints its keys in hash order.
   */
  powerButton: {
    via: 'socket',
    send: '{"execute":"qmp_capabilities"}\n{"execute":"system_powerdown","id":"vmsvc-power-button"}\n',
    expect: '"return": \\{\\}, "id": "vmsvc-power-button"|"id": "vmsvc-power-button", "return": \\{\\}',
  },
  /* QMP quit: QEMU exits at once; its reply is an empty return, told apart by the id. */
  quit: {
    via: 'socket',
    send: '{"execute":"qmp_capabilities"}\n{"execute":"quit","id":"vmsvc-quit"}\n',
    expect: '"id": "vmsvc-quit"',
  },
  /*
   * The port org.vmsvc.ready is backed by a ringbuf chardev of 64 bytes
   * (templates/qemu/vm-run.hbs): always open, so a guest's write never blocks
   * and is never lost for want of a reader, and bounded, so a guest that
   * writes without end costs the host 64 bytes. ringbuf-read returns and
   * removes what it holds, as one JSON string in which every quote the guest
   * wrote is escaped: only the reply itself can begin `{"return": "`.
   */
  guestReady: {
    kind: 'request',
    read: {
      via: 'socket',
      send: '{"execute":"qmp_capabilities"}\n{"execute":"ringbuf-read","arguments":{"device":"vmsvc-ready","size":64,"format":"utf8"}}\n',
      expect: '\\{"return": "[^"]*READY=1\\\\n',
    },
  },
  memoryUnit: 'MiB',
  console: { kind: 'socket', socket: 'console.sock' },
  // -drive format=raw (templates/qemu/vm-run.hbs): QEMU does not probe.
  writableDisks: { kind: 'raw' },
  // format=raw for every image, so the scan reads none of them.
  imageFormat: { kind: 'forced-raw' },
  valueSyntax: '',
  /*
   * x86_load_linux (hw/i386/x86.c in Debian's 7.2, hw/i386/x86-common.c
   * since 9.x) picks the boot protocol before it looks at the ELF header:
   * "HdrS" at 0x202 first (x86.c:813-814 in Debian's 7.2+dfsg-7+deb12u18,
   * x86-common.c:690-691 in 10.2), then load_multiboot (x86.c:823,
   * x86-common.c:700), and only then PVH (load_elfboot). load_multiboot
   * takes the first 4-aligned offset below 8144 whose magic, flags and
   * checksum add up to 0 (hw/i386/multiboot.c:170-179, :171-180 in 10.2),
   * then reads -initrd as a comma-separated module list (:296-308) and opens
   * each module's path cut at its first space (:325-361): `-initrd
   * "/data/a b/initramfs"` loads /data/a into the guest.
   */
  kernelProbes: {
    multiboot: 'QEMU would boot it as a multiboot kernel, not by its ELF (PVH) entry, and then read -initrd as a list of modules, each path cut at its first space',
    linuxSetupHeader: 'QEMU would boot it through the Linux boot protocol (as a bzImage), not by its ELF (PVH) entry',
    // uint8_t header[8192] on the stack, filled with fread(..., MIN(8192,
    // kernel_size)) and then searched whole (x86.c:796-805 in Debian's 7.2,
    // x86-common.c:670-679 in 10.2): a header cut by the file's end is
    // completed by whatever the stack held.
    decidesOnBytes: 8192,
  },
  sandboxRoot: null,
  makesUserNamespaces: false,
  accels: ACCELS,
  // Measured (doc/resources.md): QEMU 7.2 booting the test guest with -m 256M
  // took 141 MiB besides guest RAM under TCG (/proc/PID/smaps: 48 MiB of
  // translation cache, 45 MiB the kernel file's page cache, the rest its
  // heap and threads); without the cache about 93 MiB, rounded up for KVM.
  // TCG's translation cache grows to 1 GiB on a 64-bit host (the 1 GiB rwx
  // mapping in that smaps; tcg/region.c, DEFAULT_CODE_GEN_BUFFER_SIZE),
  // hence 1 GiB more.
  memoryOverheadMiB: { kvm: 256, tcg: 256 + 1024 },
  /*
   * Disks through fdsets: `-add-fd fd=N,set=M` takes an inherited descriptor
   * (vl.c:580-611 in Debian's 7.2, which dups it CLOEXEC; system/vl.c:593-622
   * in 10.2) and `-drive file=/dev/fdset/M` opens a dup of the one in the set
   * whose access mode matches the open's (monitor/misc.c:1341 in 7.2;
   * monitor/fds.c:445 in 10.2, which compares O_DIRECT too, :427-431: vmsvc
   * sets no cache mode, so none is asked for). file-posix opens every image
   * read-only first (raw_parse_flags(..., false), block/file-posix.c:676 in
   * 7.2, :716 in 10.2) and again read-write once a writer needs it, so a
   * writable disk's set holds an O_RDONLY and an O_RDWR descriptor, a
   * read-only disk's the O_RDONLY one alone, and it can never be written.
   * The kernel and initramfs are read by path (fopen in x86_load_linux,
   * hw/i386/x86.c:796 in 7.2, hw/i386/x86-common.c:670 in 10.2; open() in
   * hw/core/loader.c), so they stay paths, which root grants the VMM's uid
   * (pipeline/handover.ts).
   */
  handover: { disks: 'fdset', kernel: 'path' },
  netHotplug: { kind: 'api', present, add, place, detach, bootArgs: hotplugPorts() },
} as const satisfies VmmCapabilities;

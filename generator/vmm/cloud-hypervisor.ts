/** cloud-hypervisor: templates/cloud-hypervisor/vm-run.hbs follows its v53.0 CLI. */
import type { HotplugNic, VmmCapabilities } from './capabilities.js';

/*
 * `ch-remote add-net id=..,tap=..,mac=..` parses the NetConfig on the
 * client side and sends PUT /api/v1/vm.add-net (cloud-hypervisor/src/bin/
 * ch-remote.rs:445-455, :898-909 at v53.0; keys vmm/src/config.rs:1683-1717,
 * id :1367); mac is the guest's. The VMM opens the named tap and attaches
 * to it as its uid (net_util/src/tap.rs:153-228, TUNSETIFF), and brings it
 * up only if it is down (tap.rs:457-476), which needs CAP_NET_ADMIN: the
 * link's oneshot sets it up first. An id that exists is refused
 * ("Identifier ... is not unique", config.rs:3036-3051), hence the check
 * after it: vm.info's config.net holds the entry with its tap until a
 * remove-device takes it out (vmm/src/device_manager.rs:5080-5082); the
 * device tree does not name the tap, so `"tap":"vtp-HEX"` is only there.
 * The VMM places the device itself (a free slot of PCI segment 0).
 */
function present(nic: HotplugNic) {
  return {
    via: 'client',
    client: 'ch-remote',
    args: (controlSocket: string) => ['--api-socket', controlSocket, 'info'],
    expect: `"tap":"${nic.tap}"`,
  } as const;
}

function add(nic: HotplugNic) {
  return [{
    via: 'client',
    client: 'ch-remote',
    args: (controlSocket: string) => ['--api-socket', controlSocket, 'add-net', `id=vmsvc-link-${nic.hex},tap=${nic.tap},mac=${nic.mac}`],
    expect: null,
  }] as const;
}

/*
 * PUT /api/v1/vm.remove-device answers 204 at once (ch-remote.rs:385-395,
 * vmm/src/api/mod.rs:1508-1533) and the device goes when the guest ejects
 * it (device_manager.rs:5090-5328), closing the tap; a guest that never
 * does keeps a tap root then deletes.
 */
function detach(nic: HotplugNic) {
  return [{
    via: 'client',
    client: 'ch-remote',
    args: (controlSocket: string) => ['--api-socket', controlSocket, 'remove-device', `vmsvc-link-${nic.hex}`],
    expect: null,
  }] as const;
}

export const cloudHypervisor = {
  id: 'cloud-hypervisor',
  program: 'cloud-hypervisor',
  version: 'v53.0',
  controlSocket: 'api.sock',
  /*
   * vm.info (GET /api/v1/vm.info) answers once the VM is created, with
   * serde_json::to_string of VmInfoResponse (vmm/src/api/http/http_endpoint.rs:629
   * at v53.0): compact JSON, fields in the struct's order, config, state,
   * memory_actual_size (vmm/src/api/mod.rs:223); state is VmState's variant
   * name, Created, Running, Shutdown, Paused or BreakPoint (vmm/src/vm.rs:406).
   * ch-remote prints the body (api_client/src/lib.rs:194) and fails on a
   * server error, which vm.info is before the VM exists. A quote inside a
   * JSON string is escaped, so only the top-level field can match.
   */
  running: {
    via: 'client',
    client: 'ch-remote',
    args: (controlSocket) => ['--api-socket', controlSocket, 'info'],
    expect: '"state":"Running","memory_actual_size":',
  },
  /*
   * `ch-remote --api-socket SOCKET power-button` sends PUT
   * /api/v1/vm.power-button (cloud-hypervisor/src/bin/ch-remote.rs:300-301
   * and :1068 at v53.0; the endpoint, vmm/src/api/http/mod.rs:252), and
   * exits non-zero on an error reply.
   */
  powerButton: {
    via: 'client',
    client: 'ch-remote',
    args: (controlSocket) => ['--api-socket', controlSocket, 'power-button'],
    expect: null,
  },
  /*
   * `ch-remote shutdown-vmm`: PUT /api/v1/vmm.shutdown, "Shutdown the VMM"
   * (cloud-hypervisor/src/bin/ch-remote.rs:295 and :1145 at v53.0).
   */
  quit: {
    via: 'client',
    client: 'ch-remote',
    args: (controlSocket) => ['--api-socket', controlSocket, 'shutdown-vmm'],
    expect: null,
  },
  guestReady: {
    kind: 'none',
    why: 'cloud-hypervisor has no named virtio-serial port for the guest\'s READY=1 (its one virtio-console is the user\'s), and its vsock hands a guest\'s connection to a Unix socket only while a host program listens on it; vmsvc\'s readiness check polls, it does not listen',
    hint: 'run VMs that need guest readiness with --vmm qemu, or leave guest readiness off for them',
  },
  memoryUnit: 'any',
  console: {
    kind: 'pty',
    flag: '--console',
    /** `controlSocket` comes already escaped for the terminal. */
    // In the sandbox (--sandbox bwrap) the pty is in the VMM's own devpts, which the host reaches through its root.
    find: (controlSocket) => `ch-remote --api-socket ${controlSocket} info\n(config.console.file) and open it with a terminal program, e.g. screen PTY\n(with --sandbox bwrap, PTY /dev/pts/N is /proc/<VMM pid>/root/dev/pts/N)`,
  },
  // image_type=raw: an image whose signature is not raw is refused, never
  // opened as that format (templates/cloud-hypervisor/vm-run.hbs). v53.0
  // still probes (block/src/factory.rs:94) but fails the start on a mismatch
  // with the type given (vmm/src/device_manager.rs:2786-2790), so the scan
  // reads no image for it.
  writableDisks: { kind: 'raw' },
  imageFormat: { kind: 'forced-raw' },
  valueSyntax: '',
  /*
   * load_kernel tries linux-loader's ELF loader and, when it refuses the
   * file, its bzImage loader (vmm/src/vm.rs:1645-1648 at v53.0), which
   * takes "HdrS" at 0x202 (linux-loader 0.13.2 src/loader/bzimage/mod.rs:126).
   * No multiboot: the x86_64 payload path has none. --kernel and --initramfs
   * are each one path, opened as given (vm.rs:1766-1772, :695-703).
   */
  kernelProbes: {
    multiboot: null,
    linuxSetupHeader: 'cloud-hypervisor would boot it as a bzImage wherever its ELF loader refuses the file, not by its ELF (PVH) entry',
    decidesOnBytes: null,
  },
  sandboxRoot: null,
  makesUserNamespaces: false,
  accels: ['kvm'],
  // Not measured here (no cloud-hypervisor on the test machine), and its
  // docs give no figure (README.md:52 at v53.0 says only "Low memory
  // footprint"): QEMU's KVM figure; --vmm-memory-overhead sets another.
  memoryOverheadMiB: { kvm: 256, tcg: 256 },
  /*
   * By path only: --disk has a path= and no descriptor key (DiskConfig,
   * vmm/src/config.rs:1429-1439 at v53.0), and open_disk_image opens it
   * with options.open(path) (block/src/lib.rs:530-536), so a /proc/self/fd/N
   * would be opened anew, checked against the file's own permissions; the
   * kernel and initramfs likewise (vmm/src/vm.rs:1766-1772, :695-703). Root
   * grants the VMM's uid each of them (pipeline/handover.ts).
   */
  handover: { disks: 'path', kernel: 'path' },
  // PCI hot-plug through ACPI needs nothing at boot on x86_64 (the GED is
  // always there, vmm/src/device_manager.rs:1539-1549); one segment has 31
  // device slots for the boot devices and the hot-plugged NICs together.
  netHotplug: { kind: 'api', present, add, place: null, detach, bootArgs: [] },
} as const satisfies VmmCapabilities;

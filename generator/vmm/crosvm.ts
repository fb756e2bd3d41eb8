/**
 * crosvm: templates/crosvm/vm-run.hbs follows its CLI at main commit
 * f1e797a6 (2026-08-21); crosvm has no releases. File:line citations below
 * are at that commit.
 */
import type { ImageSignature } from '../util/image-format.js';
import type { VmmCapabilities } from './capabilities.js';

const NOT_RAW_HINT = 'crosvm cannot be told an image is raw: convert it to a raw image (qemu-img convert -O raw), or run this VM with --vmm qemu or --vmm cloud-hypervisor, which open every image as raw';

/*
 * What crosvm's detect_image_type opens as something other than raw
 * (disk/src/disk.rs:223-281 at f1e797a6): it reads min(size, 4096) bytes into
 * a zero-filled buffer (:236-247) and compares the first bytes, in this
 * order, against each format compiled in. Only qcow is a default feature
 * (Cargo.toml:219), but all-default (:468-500), which all-x86_64 and
 * all-aarch64 take (:504-523), adds android-sparse, composite-disk and
 * zstd-disk; vmsvc cannot tell which a binary has, so it refuses them all.
 */
const SIGNATURES: readonly ImageSignature[] = [
  {
    // CDISK_MAGIC (disk/src/composite.rs:171), matched at disk.rs:251-256.
    // Its protobuf names component files by path, relative to the image's
    // directory or absolute (composite.rs:214-219), which crosvm opens
    // (composite.rs:228).
    format: 'composite disk',
    magic: [...Buffer.from('composite_disk\x1d')],
    why: 'crosvm would open it as a composite disk, whose header names component files by path that crosvm opens on the host',
    hint: NOT_RAW_HINT,
  },
  {
    // QCOW_MAGIC 0x514649fb big-endian, "QFI\xfb" (disk/src/qcow/mod.rs:147),
    // matched at disk.rs:264-267. The header may name a backing file,
    // opened on the host (qcow/mod.rs:627-644).
    format: 'QCOW2',
    magic: [0x51, 0x46, 0x49, 0xfb],
    why: 'crosvm would open it as QCOW2, whose header can name a backing file that crosvm opens on the host',
    hint: NOT_RAW_HINT,
  },
  {
    // SPARSE_HEADER_MAGIC 0xed26ff3a little-endian (disk/src/android_sparse.rs:58), disk.rs:268-271.
    format: 'Android sparse',
    magic: [0x3a, 0xff, 0x26, 0xed],
    why: 'crosvm would open it as an Android sparse image, so the guest would not see the file\'s bytes',
    hint: NOT_RAW_HINT,
  },
  {
    // ZSTD_FRAME_MAGIC 0xfd2fb528 little-endian (disk/src/zstd.rs:38), disk.rs:272-278.
    format: 'zstd',
    magic: [0x28, 0xb5, 0x2f, 0xfd],
    why: 'crosvm would open it as a zstd archive, so the guest would not see the file\'s bytes',
    hint: NOT_RAW_HINT,
  },
  {
    // ZSTD_SKIPPABLE_MAGIC_LOW..HIGH 0x184d2a50..0x184d2a5f little-endian (disk/src/zstd.rs:41-42), disk.rs:274-275.
    format: 'zstd (skippable frame)',
    magic: [{ from: 0x50, to: 0x5f }, 0x2a, 0x4d, 0x18],
    why: 'crosvm would open it as a zstd archive, so the guest would not see the file\'s bytes',
    hint: NOT_RAW_HINT,
  },
];

export const crosvm = {
  id: 'crosvm',
  program: 'crosvm',
  version: 'main at commit f1e797a6 (2026-08-21)',
  controlSocket: 'control.sock',
  /*
   * crosvm's control socket is SOCK_SEQPACKET, which s6-ipcclient does not
   * speak, so crosvm's own client asks. `crosvm resume` is "No-op if already
   * running" and is upstream's way to wait until crosvm processes commands
   * (src/crosvm/cmdline.rs:297-301 at f1e797a6). run_vm binds the socket
   * early (src/crosvm/sys/linux.rs:2281), but only run_control's event loop
   * accepts on it (:4498), after the vCPU threads are started and past their
   * barrier (:4262); until then a request waits unanswered, which
   * s6-notifyoncheck -t bounds. The client succeeds only on VmResponse::Ok
   * (src/main.rs:212-218 resume_vms, vm_control/src/client.rs:59-71).
   */
  running: {
    via: 'client',
    client: 'vmm',
    args: (controlSocket) => ['resume', controlSocket],
    expect: null,
  },
  /*
   * `crosvm powerbtn VM_SOCKET` "Triggers a power button event in the
   * crosvm instance" (src/crosvm/cmdline.rs:398-405 at f1e797a6): it sends
   * VmRequest::Powerbtn over the control socket (src/main.rs:220-222).
   */
  powerButton: {
    via: 'client',
    client: 'vmm',
    args: (controlSocket) => ['powerbtn', controlSocket],
    expect: null,
  },
  /*
   * `crosvm stop VM_SOCKET` "Stops crosvm instances via their control
   * sockets": VmRequest::Exit (src/crosvm/cmdline.rs:312-318, src/main.rs:179-181
   * at f1e797a6).
   */
  quit: {
    via: 'client',
    client: 'vmm',
    args: (controlSocket) => ['stop', controlSocket],
    expect: null,
  },
  guestReady: {
    kind: 'none',
    // A named virtio-console port goes to a file, a datagram socket or a
    // stream socket that crosvm connects to (devices/src/serial_device.rs:81-92, 160-164 at f1e797a6).
    why: 'crosvm sends a named virtio-console port only to a file, which a guest could grow without bound on the host\'s disk, or to a socket a host program already listens on, which vmsvc\'s polling check does not; its vsock is the host kernel\'s vhost-vsock, which no s6 or execline tool speaks',
    hint: 'run VMs that need guest readiness with --vmm qemu, or leave guest readiness off for them',
  },
  memoryUnit: 'MiB',
  /*
   * Every serial type that could carry input connects to a socket another
   * program already listens on, and none listens itself: type=unix-stream
   * calls UnixStream::connect on path= (devices/src/serial_device.rs:287-289;
   * with input-unix-stream, :216-231 and devices/src/sys/linux/serial_device.rs:243-245),
   * type=unix connects an unbound datagram socket and only sends
   * (devices/src/sys/linux/serial_device.rs:200-221, WriteSocket :76-144),
   * and input= is a file it opens for reading (devices/src/serial_device.rs:233-240).
   * `vmsvc console` attaches to a socket the VMM listens on.
   */
  console: {
    kind: 'none',
    why: 'crosvm cannot offer the user\'s virtio-console: its Unix socket serial types (unix-stream with input, unix datagrams) connect to a socket another program already listens on, and crosvm never listens for one that vmsvc console could attach to',
    hint: 'run these VMs with --vmm cloud-hypervisor (pty console) or --vmm qemu (console socket), or pass --no-user-console to run crosvm without one',
  },
  /*
   * --block has no format key (DiskOption, devices/src/virtio/block/mod.rs:83-141):
   * each start opens the image through disk::open_disk_file
   * (devices/src/virtio/block/sys/linux.rs:60-70), which reads its first
   * bytes and opens a QCOW2 signature as QCOW2 (disk/src/disk.rs:322-330,
   * :264-267; qcow is a default feature, Cargo.toml:219), whose header may
   * name a backing file that crosvm then opens on the host
   * (disk/src/qcow/mod.rs:627-644). A guest with a writable disk could write
   * such a header.
   */
  writableDisks: {
    kind: 'none',
    why: 'crosvm cannot be told a disk image is raw: it probes each image\'s format on every start and opens a QCOW2 header as QCOW2, with the backing file on the host that the header names, so a guest with a writable disk could make its next start read a host file',
    hint: 'run VMs that need writable disks with --vmm cloud-hypervisor or --vmm qemu, or leave their disks read-only',
  },
  /*
   * The sandbox is on unless --disable-sandbox (src/crosvm/cmdline.rs:1079-1081,
   * 3264-3265; src/crosvm/config.rs:936-940) and pivots each jailed device
   * into --pivot-root (src/crosvm/cmdline.rs:1617-1620, 3093-3096), by
   * default /var/empty (jail/src/config.rs:11-13), which must be a directory
   * (jail/src/helpers.rs:118-122) and which Debian, for one, does not have.
   * The seccomp policies are compiled in: without --seccomp-policy-dir
   * crosvm uses its embedded ones (jail/src/helpers.rs:307, 341-343, 538-546).
   */
  /*
   * Read-only disks too: a QCOW2 or composite header the data dir's owner
   * wrote names host files that crosvm, often root, opens for the guest.
   */
  imageFormat: { kind: 'probed', signatures: SIGNATURES },
  /*
   * serde_keyvalue (its --block path=... and other device options) ends an
   * unquoted value at a single quote too (serde_keyvalue/src/key_values.rs,
   * any_string), then wants a comma: the VM would never start.
   */
  valueSyntax: "'",
  /*
   * load_kernel looks for a multiboot header first (x86_64/src/lib.rs:1813-1834;
   * kernel_loader/src/multiboot.rs:108-138 scans the first 8192 bytes) and
   * boots the file as multiboot when its flags ask for it, failing on flags
   * it does not know (multiboot.rs:180-192); then ELF, by its entry point;
   * bzImage only for a file without the ELF magic (lib.rs:1857-1869).
   * --initrd stays one file even for multiboot (no modules).
   */
  kernelProbes: {
    multiboot: 'crosvm would boot it as a multiboot kernel (or refuse it for its flags), not by its ELF entry',
    linuxSetupHeader: null,
    // multiboot_header_from_file reads min(file length, 8192) bytes.
    decidesOnBytes: null,
  },
  sandboxRoot: '.crosvm-empty',
  /*
   * Each jailed device gets a new user namespace (jail/src/helpers.rs:195
   * namespace_user at f1e797a6), made by crosvm itself as the VMM's user.
   */
  makesUserNamespaces: true,
  accels: ['kvm'],
  // Not measured here (no crosvm on the test machine), and its book gives no
  // figure: QEMU's KVM figure; its
  // jailed device processes are children of the VMM, in the same cgroup, so
  // a VM with many devices may need more (--vmm-memory-overhead).
  memoryOverheadMiB: { kvm: 256, tcg: 256 },
  /*
   * Disks (disk/src/sys/linux.rs:22), the initrd and the kernel
   * (src/crosvm/sys/linux.rs:1426, :1443) are opened with
   * base::open_file_or_duplicate (base/src/sys/linux/mod.rs:592-600): a
   * path whose parent is /proc/self/fd is parsed as a descriptor number
   * (safe_descriptor_from_path, :555-572), which must not be CLOEXEC, and
   * used through a fresh F_DUPFD_CLOEXEC of it (validate_raw_fd, :505-524),
   * never reopened; the open options (ro=true's read-only) are not applied
   * to it, so the descriptor's own mode is what the guest gets. Each
   * /proc/self/fd/N is given once (their offsets would be shared, :588-591).
   */
  handover: { disks: 'proc-fd', kernel: 'proc-fd' },
  /*
   * `crosvm virtio-net add TAP SOCKET` exists only with the cargo feature
   * pci-hotplug, which is not a default one (Cargo.toml:219, :266-267 at
   * f1e797a6), only on x86_64 (src/crosvm/sys/linux.rs:2249-2254), and takes
   * no MAC: the guest would get a random one, not the link's address.
   */
  netHotplug: {
    kind: 'argv',
    why: 'crosvm hot-plugs virtio-net only when built with the non-default cargo feature pci-hotplug, and then cannot set the guest\'s MAC',
  },
} as const satisfies VmmCapabilities;

/**
 * crosvm: templates/crosvm/vm-run.hbs follows its CLI at main commit
 * f1e797a6 (2026-08-21); crosvm has no releases. File:line citations below
 * are at that commit.
 */
import type { VmmCapabilities } from './capabilities.js';

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
  sandboxRoot: 'empty',
  accels: ['kvm'],
} as const satisfies VmmCapabilities;

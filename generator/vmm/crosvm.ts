/** crosvm: templates/crosvm/vm-run.hbs follows its CLI at commit a8985f0b. */
import type { VmmCapabilities } from './capabilities.js';

export const crosvm = {
  id: 'crosvm',
  program: 'crosvm',
  version: 'main at commit a8985f0b (2023)',
  controlSocket: 'control.sock',
  /*
   * crosvm's control socket is SOCK_SEQPACKET, which s6-ipcclient does not
   * speak, so crosvm's own client asks. `crosvm resume` is "No-op if already
   * running" and is upstream's way to wait until crosvm processes commands
   * (src/crosvm/cmdline.rs:297-301 at f1e797a6): the socket is served only by
   * the run loop, after the devices and vCPUs exist, and the client exits
   * non-zero when nothing answers (src/main.rs:212, vm_control/src/client.rs:60).
   */
  running: {
    via: 'client',
    client: 'vmm',
    args: (controlSocket) => ['resume', controlSocket],
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
  console: {
    kind: 'none',
    why: 'crosvm cannot offer the user\'s virtio-console: its unix serial type only sends datagrams to a socket someone else listens on, with no input',
    hint: 'run these VMs with --vmm cloud-hypervisor (pty console) or --vmm qemu (console socket), or pass --no-user-console to run crosvm without one',
  },
  accels: ['kvm'],
} as const satisfies VmmCapabilities;

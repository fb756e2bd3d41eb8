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
  console: {
    kind: 'none',
    why: 'crosvm cannot offer the user\'s virtio-console: its unix serial type only sends datagrams to a socket someone else listens on, with no input',
    hint: 'run these VMs with --vmm cloud-hypervisor (pty console) or --vmm qemu (console socket), or pass --no-user-console to run crosvm without one',
  },
  accels: ['kvm'],
} as const satisfies VmmCapabilities;

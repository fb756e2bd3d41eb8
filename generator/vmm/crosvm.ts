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
  memoryUnit: 'MiB',
  console: {
    kind: 'none',
    why: 'crosvm cannot offer the user\'s virtio-console: its unix serial type only sends datagrams to a socket someone else listens on, with no input',
    hint: 'run these VMs with --vmm cloud-hypervisor (pty console) or --vmm qemu (console socket), or pass --no-user-console to run crosvm without one',
  },
  accels: ['kvm'],
} as const satisfies VmmCapabilities;

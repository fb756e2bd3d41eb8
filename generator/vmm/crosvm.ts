/** crosvm: templates/crosvm/vm-run.hbs follows its CLI at commit a8985f0b. */
import type { VmmCapabilities } from './capabilities.js';

export const crosvm = {
  id: 'crosvm',
  program: 'crosvm',
  version: 'main at commit a8985f0b (2023)',
  controlSocket: 'control.sock',
  memoryUnit: 'MiB',
  console: {
    kind: 'none',
    why: 'crosvm cannot offer the user\'s virtio-console: its unix serial type only sends datagrams to a socket someone else listens on, with no input',
    hint: 'run these VMs with --vmm cloud-hypervisor (pty console) or --vmm qemu (console socket), or pass --no-user-console to run crosvm without one',
  },
  accels: ['kvm'],
} as const satisfies VmmCapabilities;

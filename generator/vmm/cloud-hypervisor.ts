/** cloud-hypervisor: templates/cloud-hypervisor/vm-run.hbs follows its v53.0 CLI. */
import type { VmmCapabilities } from './capabilities.js';

export const cloudHypervisor = {
  id: 'cloud-hypervisor',
  program: 'cloud-hypervisor',
  version: 'v53.0',
  controlSocket: 'api.sock',
  memoryUnit: 'any',
  console: {
    kind: 'pty',
    flag: '--console',
    /** `controlSocket` comes already escaped for the terminal. */
    find: (controlSocket) => `ch-remote --api-socket ${controlSocket} info\n(config.console.file) and open it with a terminal program, e.g. screen PTY`,
  },
  accels: ['kvm'],
} as const satisfies VmmCapabilities;

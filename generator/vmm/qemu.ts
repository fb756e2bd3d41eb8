/** QEMU: templates/qemu/vm-run.hbs follows qemu-system-x86_64 7.2 (Debian 12). */
import { ACCELS, type VmmCapabilities } from './capabilities.js';

export const qemu = {
  id: 'qemu',
  program: 'qemu-system-x86_64',
  version: '7.2 (Debian 12)',
  controlSocket: 'qmp.sock',
  memoryUnit: 'MiB',
  console: { kind: 'socket', socket: 'console.sock' },
  accels: ACCELS,
} as const satisfies VmmCapabilities;

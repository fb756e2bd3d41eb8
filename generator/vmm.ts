/**
 * What differs between the VMMs vmsvc can run, and what each cannot do.
 * Each has its own template set (templates/<vmm>/); the facts here are the
 * ones check and plan need: program name, socket names, and refusals.
 */
import { error, type Diagnostic } from './diagnostic.js';

export const VMMS = ['cloud-hypervisor', 'crosvm', 'qemu'] as const;
export type Vmm = (typeof VMMS)[number];

export interface VmmFacts {
  /** Program name looked up in PATH when --vmm-bin is not given. */
  readonly program: string;
  /** The version whose CLI the templates follow (README, generated headers). */
  readonly version: string;
  /** The socket whose existence means "ready": API, control or QMP socket. */
  readonly controlSocket: string;
  /** The user's virtio-console, when it is a Unix socket in the runtime dir. */
  readonly consoleSocket: string | null;
}

export const VMM_FACTS: Readonly<Record<Vmm, VmmFacts>> = {
  'cloud-hypervisor': { program: 'cloud-hypervisor', version: 'v53.0', controlSocket: 'api.sock', consoleSocket: null },
  crosvm: { program: 'crosvm', version: 'main at commit a8985f0b (2023)', controlSocket: 'control.sock', consoleSocket: null },
  qemu: { program: 'qemu-system-x86_64', version: '7.2 (Debian 12)', controlSocket: 'qmp.sock', consoleSocket: 'console.sock' },
};

/** Guest memory in MiB, from the VMM-neutral --memory value; null when not a whole number of MiB. */
export function memoryMiB(memory: string): number | null {
  const m = /^([1-9][0-9]*)([KMG]?)$/.exec(memory);
  if (m === null) return null;
  const n = Number(m[1]);
  const bytesPerUnit = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[m[2] as '' | 'K' | 'M' | 'G'];
  const bytes = n * bytesPerUnit;
  return bytes % 1024 ** 2 === 0 ? bytes / 1024 ** 2 : null;
}

/**
 * Settings a VMM cannot honour. They hold for every VM, so they are reported
 * once, against the data dir: a silently different VM would be worse.
 */
export function vmmDiagnostics(vmm: Vmm, memory: string, userConsole: boolean, root: string): Diagnostic[] {
  const out: Diagnostic[] = [];
  if (vmm !== 'cloud-hypervisor' && memoryMiB(memory) === null) {
    out.push(error('vmm-unsupported', root, null, `${vmm} takes guest memory in whole MiB; --memory ${memory} is not`,
      'give --memory as a whole number of M or G, e.g. 256M'));
  }
  if (vmm === 'crosvm' && userConsole) {
    out.push(error('vmm-unsupported', root, null,
      'crosvm cannot offer the user\'s virtio-console: its unix serial type only sends datagrams to a socket someone else listens on, with no input',
      'run these VMs with --vmm cloud-hypervisor (pty console) or --vmm qemu (console socket), or pass --no-user-console to run crosvm without one'));
  }
  return out;
}

/**
 * What differs between the VMMs vmsvc can run, and what each cannot do.
 * Each has its own template set (templates/<vmm>/); the facts here are the
 * ones check and plan need: program name, socket names, and refusals.
 */
import { error, type Diagnostic } from '../rules/diagnostic.js';

export const VMMS = ['cloud-hypervisor', 'crosvm', 'qemu'] as const;
export type Vmm = (typeof VMMS)[number];

/**
 * How the guest's CPU runs: `kvm` only, `tcg` (software emulation) only, or
 * `kvm-or-tcg`: KVM when it opens, else emulation. A KVM that opens but cannot
 * run the guest (a paravirtual one, as under some clouds) still wins there,
 * so the fallback is a choice for hosts known to lack KVM, not a default.
 */
export const ACCELS = ['kvm', 'tcg', 'kvm-or-tcg'] as const;
export type Accel = (typeof ACCELS)[number];

export interface VmmFacts {
  /** Program name looked up in PATH when --vmm-bin is not given. */
  readonly program: string;
  /** The version whose CLI the templates follow (README, generated headers). */
  readonly version: string;
  /** The socket whose existence means "ready": API, control or QMP socket. */
  readonly controlSocket: string;
  /** The user's virtio-console, when it is a Unix socket in the runtime dir. */
  readonly consoleSocket: string | null;
  /** The accelerators it can run a guest with. */
  readonly accels: readonly Accel[];
}

export const VMM_FACTS: Readonly<Record<Vmm, VmmFacts>> = {
  'cloud-hypervisor': { program: 'cloud-hypervisor', version: 'v53.0', controlSocket: 'api.sock', consoleSocket: null, accels: ['kvm'] },
  crosvm: { program: 'crosvm', version: 'main at commit a8985f0b (2023)', controlSocket: 'control.sock', consoleSocket: null, accels: ['kvm'] },
  qemu: { program: 'qemu-system-x86_64', version: '7.2 (Debian 12)', controlSocket: 'qmp.sock', consoleSocket: 'console.sock', accels: ACCELS },
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
export function vmmDiagnostics(vmm: Vmm, memory: string, userConsole: boolean, accel: Accel, root: string): Diagnostic[] {
  const out: Diagnostic[] = [];
  if (!VMM_FACTS[vmm].accels.includes(accel)) {
    out.push(error('vmm-unsupported', root, null, `${vmm} runs guests only with ${VMM_FACTS[vmm].accels.join(', ')}; --accel ${accel} is not one of them`,
      `drop --accel, or run these VMs with a VMM that offers ${accel} (${VMMS.filter((v) => VMM_FACTS[v].accels.includes(accel)).join(', ')})`));
  }
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

/**
 * Settings a VMM cannot honour, derived from its declared capabilities (never
 * from its name). They hold for every VM, so they are reported once, against
 * the data dir: a silently different VM would be worse.
 */
import { error, type Diagnostic } from './diagnostic.js';
import { memoryMiB, VMM_FACTS, VMMS, type Accel, type Vmm } from '../vmm/index.js';

export function vmmDiagnostics(vmm: Vmm, memory: string, userConsole: boolean, accel: Accel, guestReady: boolean, writableDisks: boolean, root: string): Diagnostic[] {
  const caps = VMM_FACTS[vmm];
  const out: Diagnostic[] = [];
  if (!caps.accels.includes(accel)) {
    out.push(error('vmm-unsupported', root, null, `${vmm} runs guests only with ${caps.accels.join(', ')}; --accel ${accel} is not one of them`,
      `drop --accel, or run these VMs with a VMM that offers ${accel} (${VMMS.filter((v) => VMM_FACTS[v].accels.includes(accel)).join(', ')})`));
  }
  if (caps.memoryUnit === 'MiB' && memoryMiB(memory) === null) {
    out.push(error('vmm-unsupported', root, null, `${vmm} takes guest memory in whole MiB; --memory ${memory} is not`,
      'give --memory as a whole number of M or G, e.g. 256M'));
  }
  if (caps.guestReady.kind === 'none' && guestReady) {
    out.push(error('vmm-unsupported', root, null, `--guest-ready: ${caps.guestReady.why}`, caps.guestReady.hint));
  }
  if (caps.writableDisks.kind === 'none' && writableDisks) {
    out.push(error('vmm-unsupported', root, null, `--writable-disks: ${caps.writableDisks.why}`, caps.writableDisks.hint));
  }
  if (caps.console.kind === 'none' && userConsole) {
    out.push(error('vmm-unsupported', root, null, caps.console.why, caps.console.hint));
  }
  return out;
}

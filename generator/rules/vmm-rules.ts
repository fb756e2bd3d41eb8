/**
 * Settings a VMM cannot honour, derived from its declared capabilities (never
 * from its name). They hold for every VM, so they are reported once, against
 * the data dir: a silently different VM would be worse.
 */
import { error, type Diagnostic } from './diagnostic.js';
import type { VmSettings } from './settings.js';
import { memoryMiB, VMM_FACTS, VMMS, type Accel, type Vmm } from '../vmm/index.js';

/** What one VM's settings ask of the VMM: reported against that VM only. */
export function vmSettingsVmmDiagnostics(vmm: Vmm, settings: VmSettings, vmDir: string, vm: string): Diagnostic[] {
  const ready = VMM_FACTS[vmm].guestReady;
  if (settings.guestReady && ready.kind === 'none') return [error('vmm-unsupported', vmDir, vm, `guest readiness: ${ready.why}`, ready.hint)];
  return [];
}

export function vmmDiagnostics(vmm: Vmm, memory: string, userConsole: boolean, accel: Accel, root: string): Diagnostic[] {
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
  if (caps.console.kind === 'none' && userConsole) {
    out.push(error('vmm-unsupported', root, null, caps.console.why, caps.console.hint));
  }
  return out;
}

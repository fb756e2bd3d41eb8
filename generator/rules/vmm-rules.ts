/**
 * Settings a VMM cannot honour, derived from its declared capabilities (never
 * from its name). They hold for every VM, so they are reported once, against
 * the data dir: a silently different VM would be worse.
 */
import { error, type Diagnostic } from './diagnostic.js';
import { memoryMiB, VMM_FACTS, VMMS, type Accel, type Vmm } from '../vmm/index.js';

/**
 * Why the VMM cannot honour a setting that only some VMMs carry, from its
 * capabilities; null when it can. Judged here for the flag (every VM) and in
 * settings.ts for a VM's own config/ file.
 */
export function settingRefusal(vmm: Vmm, setting: 'guest-ready' | 'writable-disks'): { readonly why: string; readonly hint: string } | null {
  const caps = VMM_FACTS[vmm];
  const carried = setting === 'guest-ready' ? caps.guestReady : caps.writableDisks;
  return carried.kind === 'none' ? carried : null;
}

/** The global choices every VM is generated with (the generator options of these names), which the VMM must honour. */
export interface VmmChoices {
  readonly vmm: Vmm;
  readonly userConsole: boolean;
  readonly accel: Accel;
  /** Every VM's defaults, the flags' values. */
  readonly settings: { readonly memory: string; readonly guestReady: boolean; readonly writableDisks: boolean };
  /** The data dir, which the refusals are reported against. */
  readonly root: string;
}

export function vmmDiagnostics({ vmm, userConsole, accel, settings: { memory, guestReady, writableDisks }, root }: VmmChoices): Diagnostic[] {
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
  for (const [flag, on, setting] of [['--guest-ready', guestReady, 'guest-ready'], ['--writable-disks', writableDisks, 'writable-disks']] as const) {
    const refused = on ? settingRefusal(vmm, setting) : null;
    if (refused !== null) out.push(error('vmm-unsupported', root, null, `${flag}: ${refused.why}`, refused.hint));
  }
  if (caps.console.kind === 'none' && userConsole) {
    out.push(error('vmm-unsupported', root, null, caps.console.why, caps.console.hint));
  }
  return out;
}

/**
 * The VMMs vmsvc can run: one module each, declaring its capabilities
 * (capabilities.ts), and one template set each (templates/<vmm>/). This list
 * and the record below are the only places that name them all.
 */
import type { VmmCapabilities } from './capabilities.js';
import { cloudHypervisor } from './cloud-hypervisor.js';
import { crosvm } from './crosvm.js';
import { qemu } from './qemu.js';

export { ACCELS, type Accel, type ConsoleKind, type GuestReadyChannel, type Handover, type HotplugNic, type KernelProbes, type NetHotplug, type VmmCapabilities, type VmmClient, type VmmRequest } from './capabilities.js';

/** In the order --help and messages list them. */
const MODULES = [cloudHypervisor, crosvm, qemu] as const;

export type Vmm = (typeof MODULES)[number]['id'];
export const VMMS: readonly Vmm[] = MODULES.map((m) => m.id);

/** Each VMM's capabilities, by --vmm value (the type makes it list every module). */
export const VMM_FACTS: Readonly<Record<Vmm, VmmCapabilities>> = { 'cloud-hypervisor': cloudHypervisor, crosvm, qemu };

/** The socket name of the user's console in the runtime dir, for a VMM that gives it as one. */
export function consoleSocketName(caps: VmmCapabilities): string | null {
  return caps.console.kind === 'socket' ? caps.console.socket : null;
}

/** The capabilities of a VMM named by untrusted input (a manifest), if vmsvc knows it. */
export function vmmNamed(name: string): VmmCapabilities | undefined {
  return MODULES.find((m) => m.id === name);
}

/** A VMM-neutral memory size, as --memory and config/memory take it: a number with an optional K, M or G. */
export const MEMORY_SIZE = /^([1-9][0-9]*)([KMG]?)$/;
const UNIT_BYTES = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 } as const;

/** Bytes of a memory size; null when it is not one. Imprecise only far above any bound. */
export function memoryBytes(memory: string): number | null {
  const m = MEMORY_SIZE.exec(memory);
  if (m === null) return null;
  return Number(m[1]) * UNIT_BYTES[m[2] as keyof typeof UNIT_BYTES];
}

/** Bytes of a limit that may also be 0 (swap, an overhead, a budget), written as memory sizes are; null when it is neither. */
export function sizeBytes(size: string): number | null {
  return size === '0' ? 0 : memoryBytes(size);
}

/** Guest memory in MiB; null when not a whole number of MiB. */
export function memoryMiB(memory: string): number | null {
  const bytes = memoryBytes(memory);
  return bytes !== null && bytes % 1024 ** 2 === 0 ? bytes / 1024 ** 2 : null;
}

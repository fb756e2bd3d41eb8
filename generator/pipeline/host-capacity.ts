/**
 * What this host has for the VMs that start at boot: its memory and CPUs,
 * read where the kernel says them. The CLI turns them into the admission
 * bounds (--autostart-memory auto, --cpu-overcommit); the rule that judges
 * the autostart VMs against them is rules/admission.ts.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';

export interface HostCapacity {
  /** MemTotal of /proc/meminfo; null when it cannot be read. */
  readonly memoryBytes: number | null;
  /** CPUs this process may run on. */
  readonly cpus: number;
}

/** vCPUs per host CPU the autostart VMs may have together unless --cpu-overcommit says otherwise. */
export const DEFAULT_CPU_OVERCOMMIT = 4;

export function readHostCapacity(): HostCapacity {
  return { memoryBytes: memTotal(), cpus: os.availableParallelism() };
}

function memTotal(): number | null {
  let text: string;
  try {
    text = fs.readFileSync('/proc/meminfo', 'latin1');
  } catch {
    return null;
  }
  const m = /^MemTotal:\s+([0-9]+) kB$/m.exec(text);
  return m === null ? null : Number(m[1]) * 1024;
}

/** What autostart VMs may take of the host's memory by default: all but an eighth, which the host, s6 and the page cache keep. */
export function autostartShare(memTotalBytes: number): number {
  return memTotalBytes - Math.ceil(memTotalBytes / 8);
}

/**
 * A VM's cgroup (v2): where it is and what the kernel holds it to. The run
 * script makes it and moves itself in before anything else, so the VMM and
 * everything it starts stay there; the finish script kills what is left and
 * removes it (templates/common/cgroup-enter.hbs, cgroup-remove.hbs).
 */
import { memoryBytes, sizeBytes } from '../vmm/index.js';
import type { SettingFile, VmSettings } from '../rules/settings.js';
import type { GeneratorOptions } from './options.js';

export interface CgroupData {
  /** The host's parent, for the comment. */
  readonly parent: string;
  readonly dir: string;
  /** Interface files and what the run script writes to each, in this order, with the setting each comes from. */
  readonly limits: readonly CgroupLimit[];
}

export interface CgroupLimit {
  readonly file: string;
  readonly value: string;
  readonly setting: SettingFile;
}

/** cpu.max's period: the kernel's default, 100 ms (cgroup-v2.rst, "cpu.max"). */
const CPU_PERIOD_US = 100_000;

/** The controllers whose files the run script writes below: what the host must give the parent's children. */
export const CGROUP_CONTROLLERS = ['memory', 'pids', 'cpu'] as const;

/** memory.max: the guest's memory and what the VMM itself takes (--vmm-memory-overhead); what admission counts too. */
export function memoryMaxBytes(settings: VmSettings, overheadBytes: number): number {
  return (memoryBytes(settings.memory) ?? 0) + overheadBytes;
}

export function planCgroup(service: string, settings: VmSettings, opts: Pick<GeneratorOptions, 'cgroup' | 'vmmMemoryOverheadBytes'>): CgroupData | null {
  if (opts.cgroup === null) return null;
  const cpuMax = settings.cpuMaxPercent === null ? 'max' : `${settings.cpuMaxPercent * (CPU_PERIOD_US / 100)} ${CPU_PERIOD_US}`;
  return {
    parent: opts.cgroup,
    dir: `${opts.cgroup}/${service}`,
    limits: [
      // The VMM's overhead on top: --vmm-memory-overhead, which show names beside the setting.
      { file: 'memory.max', value: String(memoryMaxBytes(settings, opts.vmmMemoryOverheadBytes)), setting: 'memory' },
      { file: 'memory.swap.max', value: String(sizeBytes(settings.swapMax) ?? 0), setting: 'swap-max' },
      { file: 'pids.max', value: String(settings.pidsMax), setting: 'pids-max' },
      { file: 'cpu.weight', value: String(settings.cpuWeight), setting: 'cpu-weight' },
      { file: 'cpu.max', value: cpuMax, setting: 'cpu-max' },
    ],
  };
}

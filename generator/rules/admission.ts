/**
 * Host-wide admission: the VMs that start at boot must fit the host
 * together. A VM with config/autostart starts with its providers (s6-rc
 * brings them up first, marked or not), so each marked VM, in name order,
 * is admitted with whichever of its providers are not counted yet, or
 * refused: it stays out of the autostart bundle (it can still be started
 * by hand) with a warning naming its config/autostart.
 */
import { printable } from '../util/bytes.js';
import { warning, type Diagnostic } from './diagnostic.js';

export interface AdmissionBounds {
  readonly memoryBytes: number;
  readonly vcpus: number;
  readonly memoryFrom: string;
  readonly vcpusFrom: string;
}

export interface AdmissionVm {
  readonly name: string;
  readonly dir: string;
  readonly autostart: boolean;
  /** Guest memory plus the VMM's overhead: what its cgroup allows it. */
  readonly memoryBytes: number;
  readonly cpus: number;
  readonly providers: readonly string[];
}

export interface AdmissionResult {
  /** Marked VMs that do not fit: not autostarted. */
  readonly refused: ReadonlySet<string>;
  readonly diagnostics: readonly Diagnostic[];
}

/** `vms` in name order; every provider named is one of them. */
export function admit(vms: readonly AdmissionVm[], bounds: AdmissionBounds): AdmissionResult {
  const byName = new Map(vms.map((vm) => [vm.name, vm]));
  const counted = new Set<string>();
  let memory = 0;
  let vcpus = 0;
  const refused = new Set<string>();
  const diagnostics: Diagnostic[] = [];
  for (const vm of vms) {
    if (!vm.autostart) continue;
    const adds = uncounted(vm, byName, counted);
    const needMemory = adds.reduce((n, v) => n + v.memoryBytes, 0);
    const needCpus = adds.reduce((n, v) => n + v.cpus, 0);
    const what = adds.length === 1 ? `VM ${printable(vm.name)}` : `VM ${printable(vm.name)} with its providers ${adds.filter((v) => v !== vm).map((v) => printable(v.name)).join(', ')}`;
    const hint = `it is not started at boot (vmsvc start ${printable(vm.name)} starts it by hand); mark fewer VMs, give them less, or raise the bound`;
    if (memory + needMemory > bounds.memoryBytes) {
      refused.add(vm.name);
      diagnostics.push(warning('autostart-over-memory', `${vm.dir}/config/autostart`, vm.name,
        `${what} takes ${mib(needMemory)} MiB with the VMM's overhead; the autostart VMs before it in name order take ${mib(memory)} MiB of the ${mib(bounds.memoryBytes)} MiB of ${bounds.memoryFrom}`, hint));
    } else if (vcpus + needCpus > bounds.vcpus) {
      refused.add(vm.name);
      diagnostics.push(warning('autostart-over-cpus', `${vm.dir}/config/autostart`, vm.name,
        `${what} has ${needCpus} vCPUs; the autostart VMs before it in name order have ${vcpus} of the ${bounds.vcpus} of ${bounds.vcpusFrom}`, hint));
    } else {
      memory += needMemory;
      vcpus += needCpus;
      for (const v of adds) counted.add(v.name);
    }
  }
  return { refused, diagnostics };
}

/** The VM and its providers, transitively, that are not counted yet. */
function uncounted(vm: AdmissionVm, byName: ReadonlyMap<string, AdmissionVm>, counted: ReadonlySet<string>): AdmissionVm[] {
  const out: AdmissionVm[] = [];
  const seen = new Set<string>();
  const todo = [vm];
  for (let v = todo.pop(); v !== undefined; v = todo.pop()) {
    if (seen.has(v.name) || counted.has(v.name)) continue;
    seen.add(v.name);
    out.push(v);
    for (const p of v.providers) {
      const provider = byName.get(p);
      if (provider !== undefined) todo.push(provider);
    }
  }
  return out;
}

const mib = (bytes: number): number => Math.ceil(bytes / 1024 ** 2);

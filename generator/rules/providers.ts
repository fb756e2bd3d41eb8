/**
 * Network providers: the entries of a VM's providers/net/, each naming a VM
 * that provides its network and each one link with its own address; the
 * cycles they make; and how many links the generated VMs need in all.
 */
import * as path from 'node:path';
import { printable } from '../util/bytes.js';
import { describe } from './describe.js';
import { error, type Diagnostic } from './diagnostic.js';
import type { ScannedVm } from './scanned.js';

export function providerDiagnostics(vm: ScannedVm): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const [node, rel] of [[vm.providersDir, 'providers'], [vm.providersNetDir, 'providers/net']] as const) {
    if (node.kind === 'unstatable') {
      out.push(error('providers-not-directory', path.join(vm.dir, rel), vm.name, `${rel} cannot be examined (${node.code})`,
        'check the permissions of the VM directory'));
      return out;
    }
    if (node.kind !== 'missing' && node.kind !== 'directory') {
      out.push(error('providers-not-directory', path.join(vm.dir, rel), vm.name, `${rel} is a ${describe(node)}, not a directory`,
        `${rel} must be a real directory; each file in providers/net/ names a VM that provides networking`));
      return out;
    }
  }
  for (const p of vm.providers) {
    const shown = printable(p.name);
    if (p.node.kind === 'directory') {
      out.push(error('provider-not-file', p.path, vm.name, `provider entry "${shown}" is a directory`,
        'providers/net/ holds one empty file per provider VM, named after it'));
    } else if (p.name === vm.name) {
      out.push(error('provider-self', p.path, vm.name, `VM "${shown}" names itself as its network provider`, 'remove this file'));
    }
  }
  return out;
}

/** Against the names of all VM dirs, valid or not: an invalid provider is not an unknown one. */
export function unknownProviderDiagnostics(vm: ScannedVm, known: ReadonlySet<string>): Diagnostic[] {
  return vm.providers
    .filter((p) => p.node.kind !== 'directory' && p.name !== vm.name && !known.has(p.name))
    .map((p) => error('provider-unknown', p.path, vm.name, `provider "${printable(p.name)}" names no VM`,
      `there is no directory ${printable(p.name)}/ in the data directory; create that VM or remove this file`));
}

export function cycleDiagnostic(root: string, cycle: readonly string[]): Diagnostic {
  const first = cycle[0]!;
  const second = cycle[1]!;
  const shown = cycle.map(printable).join(' -> ');
  return error('provider-cycle', path.join(root, first, 'providers', 'net', second), first,
    `VMs provide for each other in a cycle: ${shown}`,
    'no VM in a cycle can start before the others; remove one providers/net entry to break it');
}

/**
 * Against the links of the VMs that will be generated only (the caller counts
 * them once validity is known): a skipped VM's links take no address. The
 * capacity is the pipeline's address plan (pipeline/links.ts).
 */
export function linkCountDiagnostics(root: string, linkCount: number, capacity: number): Diagnostic[] {
  if (linkCount <= capacity) return [];
  return [error('links-exhausted', root, null, `${linkCount} network links, but 100.64.0.0/16 gives only ${capacity} client addresses`,
    `each providers/net entry is a link with its own address; remove links until there are at most ${capacity}`)];
}

/**
 * The links among the valid VMs: every (client, provider) pair numbered
 * (links.ts), and each VM's share of them, which both its longrun and its
 * manifest entry need.
 */
import { compareBytes } from '../util/bytes.js';
import type { ValidVm } from './check.js';
import { assignLinks, type Link } from './links.js';

/** Every (client, provider) pair among the valid VMs, numbered. */
export function linksOf(vms: readonly ValidVm[]): Link[] {
  return assignLinks(vms.flatMap((vm) => vm.providers.map((provider) => ({ client: vm.name, provider }))));
}

export interface VmLinks {
  /** Sorted by provider. */
  readonly asClient: readonly Link[];
  /** Sorted by client. */
  readonly asProvider: readonly Link[];
}

export const NO_LINKS: VmLinks = { asClient: [], asProvider: [] };

export function linksByVm(links: readonly Link[]): Map<string, VmLinks> {
  const byVm = new Map<string, { asClient: Link[]; asProvider: Link[] }>();
  const entry = (vm: string) => {
    let e = byVm.get(vm);
    if (e === undefined) byVm.set(vm, (e = { asClient: [], asProvider: [] }));
    return e;
  };
  // `links` is sorted by (client, provider), so both lists come out sorted.
  for (const link of links) {
    entry(link.client).asClient.push(link);
  }
  for (const link of [...links].sort((a, b) => compareBytes(a.provider, b.provider) || compareBytes(a.client, b.client))) {
    entry(link.provider).asProvider.push(link);
  }
  return byVm;
}

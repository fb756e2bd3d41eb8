/**
 * Step 3: turns valid VMs into the s6-rc services that run them. Pure, and
 * still abstract: scripts are named templates with their data; `render` makes
 * files of them. Every list is bytewise-sorted so the output is reproducible.
 */
import { compareBytes, sortedBytewise } from '../util/bytes.js';
import type { ValidVm } from './check.js';
import type { Link } from './links.js';
import type { GeneratorOptions } from './options.js';
import { serviceName, type VmName } from '../rules/vm-name.js';
import { assignIdentities, type VmIdentities } from './identities.js';
import type { Service } from './service-types.js';
import { manifestVm, type ManifestRefused, type PlannedManifest } from './manifest.js';
import { linksByVm, linksOf, NO_LINKS } from './vm-links.js';
import { planVm } from './plan-vm.js';
import { planLogger } from './plan-logger.js';
import { planLink } from './plan-link.js';

export interface TreePlan {
  /**
   * Bytewise-sorted by name. Each service is planned when the iteration
   * reaches it, afresh on every iteration: held all at once, 10000 VMs'
   * services took ~30 MB of heap.
   */
  readonly services: Iterable<Service>;
  readonly manifest: PlannedManifest;
}

/** What a service will be, by name: enough to plan it when its turn comes. */
type ServiceRef =
  | { readonly name: string; readonly role: 'vm' | 'logger'; readonly vm: ValidVm }
  | { readonly name: string; readonly role: 'link'; readonly link: Link }
  | { readonly name: string; readonly role: 'bundle' | 'autostart' };

/** `refused`: the VMs left out and those held on their last good definition (in `vms`), for the manifest. */
export function planTree(
  dataDir: string,
  vms: readonly ValidVm[],
  refused: { readonly skipped: readonly ManifestRefused[]; readonly held: readonly ManifestRefused[] },
  opts: GeneratorOptions,
): TreePlan {
  const links = linksOf(vms);
  const byVm = linksByVm(links);
  const ids = assignIdentities(vms.map((vm) => vm.name), opts);
  const idsOf = (vm: VmName): VmIdentities => ids.get(vm)!;
  const order: ServiceRef[] = [];
  for (const vm of vms) order.push({ name: serviceName.vm(vm.name), role: 'vm', vm }, { name: serviceName.logger(vm.name), role: 'logger', vm });
  for (const link of links) order.push({ name: link.service, role: 'link', link });
  order.push({ name: opts.bundle, role: 'bundle' }, { name: opts.autostartBundle, role: 'autostart' });
  order.sort((a, b) => compareBytes(a.name, b.name));
  const plan = (ref: ServiceRef): Service => {
    switch (ref.role) {
      case 'vm':
        return planVm(ref.vm, dataDir, byVm.get(ref.vm.name) ?? NO_LINKS, idsOf(ref.vm.name), opts);
      case 'logger':
        return planLogger(ref.vm, idsOf(ref.vm.name).log, opts);
      case 'link':
        return planLink(ref.link, dataDir, idsOf(ref.link.client).vmm, idsOf(ref.link.provider).vmm, opts);
      case 'bundle':
        // The links are members, not only dependencies, so that `s6-rc -d change BUNDLE` takes them down too.
        return { type: 'bundle', name: opts.bundle, contents: sortedBytewise([...vms.map((vm) => serviceName.pipeline(vm.name)), ...links.map((l) => l.service)]) };
      case 'autostart':
        // Only the marked VMs' pipelines: their providers and links are their dependencies, which
        // s6-rc brings up first, marked or not. Empty when none is marked (s6-rc-compile takes an empty contents.d/).
        return { type: 'bundle', name: opts.autostartBundle, contents: sortedBytewise(vms.filter((vm) => vm.autostart).map((vm) => serviceName.pipeline(vm.name))) };
    }
  };
  return {
    services: { *[Symbol.iterator]() { for (const ref of order) yield plan(ref); } },
    manifest: {
      generator: 'vmsvc',
      formatVersion: 1,
      dataDir,
      bundle: opts.bundle,
      vmm: opts.vmm,
      vms: vms.map((vm) => ({ toJSON: () => manifestVm(vm, byVm.get(vm.name) ?? NO_LINKS, opts) })),
      links,
      skipped: refused.skipped,
      ...(refused.held.length === 0 ? {} : { held: refused.held }),
    },
  };
}

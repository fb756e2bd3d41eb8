/**
 * Which running VMs keep their last good definition (check.ts LastGoodVm)
 * when their new one would have them skipped: s6-rc-update would otherwise
 * stop and remove a running VM over a typo in one of its files.
 *
 * A held VM counts as valid for its clients, with the providers its last good
 * definition had. It can be held only while those are valid or held too, and
 * while they do not make a cycle with the new definitions of the others: then
 * it is skipped as it would have been. Pure, over the provider graph.
 */
import { dependentsOf, findCycles, type ProviderGraph } from '../util/provider-graph.js';

export interface Holds {
  /** Each held VM -> the skipped provider its new definition needs; null when the new definition is invalid itself. */
  readonly held: ReadonlyMap<string, string | null>;
  /** `graph` with each held VM's providers those of its last good definition. */
  readonly graph: ProviderGraph;
  /** As dependentsOf, over that graph: the VMs skipped because they need a skipped one. */
  readonly dependents: ReadonlyMap<string, string>;
}

/**
 * `graph`: every scanned VM -> its providers by its new definition;
 * `invalid`: the VMs whose new definition is invalid itself; `holdable`: the
 * VMs that may be held (running, their directory still there) -> the
 * providers of their last good definition.
 *
 * Invalid VMs are held first, so that their clients stay valid; then a VM
 * skipped for needing a skipped provider is held too. A held VM that turns
 * out to need a skipped one, or to close a cycle, is let go for good; each VM
 * is taken and let go at most once, so this ends.
 */
export function resolveHolds(graph: ProviderGraph, invalid: ReadonlySet<string>, holdable: ReadonlyMap<string, readonly string[]>): Holds {
  const held = new Map<string, string | null>();
  const letGo = new Set<string>();
  for (const name of invalid) if (holdable.has(name)) held.set(name, null);
  for (;;) {
    const effective = new Map(graph);
    for (const name of held.keys()) effective.set(name, holdable.get(name)!);
    const dependents = dependentsOf(effective, new Set([...invalid].filter((name) => !held.has(name))));
    const onCycle = new Set(findCycles(effective).flat());
    // A provider that is no VM of this scan any more (its directory is gone) can never come back in this run.
    const cannot = [...held.keys()].filter((name) => dependents.has(name) || onCycle.has(name) || holdable.get(name)!.some((p) => !graph.has(p)));
    for (const name of cannot) {
      held.delete(name);
      letGo.add(name);
    }
    if (cannot.length > 0) continue;
    const more = [...dependents].filter(([name]) => holdable.has(name) && !letGo.has(name));
    if (more.length === 0) return { held, graph: effective, dependents };
    for (const [name, needs] of more) held.set(name, needs);
  }
}

/**
 * Pure graph algorithms over "client -> provider" edges. Iterative throughout:
 * a chain of thousands of providers must not overflow the stack. Cycles are
 * found by cycles.ts, shared with the s6-rc source checker.
 */
import { compareBytes } from './bytes.js';
import { shortestCycle, stronglyConnected, type Digraph } from './cycles.js';

/** client -> its providers; every list sorted bytewise, every target a key. */
export type ProviderGraph = ReadonlyMap<string, readonly string[]>;

/**
 * Every cycle, one per strongly connected component, as the shortest path from
 * the component's bytewise-first VM back to itself: [a, b, c, a]. Self-loops are
 * left to the caller (they have their own rule).
 */
export function findCycles(graph: ProviderGraph): string[][] {
  const providers = (vm: string): readonly string[] => graph.get(vm) ?? [];
  const g: Digraph<string> = { nodes: graph.keys(), edges: providers, target: (p) => p };
  return stronglyConnected(g)
    .filter((scc) => scc.length > 1)
    .map((scc) => {
      const inside = new Set(scc);
      const start = [...scc].sort(compareBytes)[0]!;
      // Without self-loops, as documented: a VM naming itself is not part of a longer cycle's path.
      const withoutSelf: Digraph<string> = { ...g, edges: (vm) => providers(vm).filter((p) => p !== vm) };
      return [start, ...shortestCycle(withoutSelf, start, (vm) => inside.has(vm)).map((step) => step.edge)];
    })
    .sort((a, b) => compareBytes(a[0]!, b[0]!));
}

/**
 * For every VM that (transitively) needs a VM in `bad`, the provider through
 * which it does: keep-going drops these along with the bad ones.
 */
export function dependentsOf(graph: ProviderGraph, bad: ReadonlySet<string>): Map<string, string> {
  const clients = clientGraph(graph);
  const because = new Map<string, string>();
  const queue = [...bad].sort(compareBytes);
  for (let i = 0; i < queue.length; i++) {
    const provider = queue[i]!;
    for (const client of clients.get(provider) ?? []) {
      if (bad.has(client) || because.has(client)) continue;
      because.set(client, provider);
      queue.push(client);
    }
  }
  return because;
}

/** The same edges the other way round: provider -> its clients, each list bytewise-sorted. */
export function clientGraph(graph: ProviderGraph): Map<string, string[]> {
  const clients = new Map<string, string[]>();
  for (const [client, providers] of graph) {
    for (const p of providers) {
      let list = clients.get(p);
      if (list === undefined) clients.set(p, (list = []));
      list.push(client);
    }
  }
  for (const list of clients.values()) list.sort(compareBytes);
  return clients;
}

/** Every node reachable from `start` along the edges, breadth-first, `start` itself left out. */
export function reachable(graph: ProviderGraph, start: string): string[] {
  const found = new Set<string>();
  const queue = [start];
  for (let i = 0; i < queue.length; i++) {
    for (const next of graph.get(queue[i]!) ?? []) {
      if (next === start || found.has(next)) continue;
      found.add(next);
      queue.push(next);
    }
  }
  return [...found];
}

/** Start levels: 0 for VMs with no providers, else 1 + the highest provider level. Acyclic graphs only. */
export function startLevels(graph: ProviderGraph): Map<string, number> {
  const level = new Map<string, number>();
  for (const root of graph.keys()) {
    const work = [root];
    while (work.length > 0) {
      const node = work[work.length - 1]!;
      if (level.has(node)) {
        work.pop();
        continue;
      }
      let highest = -1;
      let pending = false;
      for (const p of graph.get(node) ?? []) {
        const l = level.get(p);
        if (l === undefined) {
          work.push(p);
          pending = true;
        } else if (l > highest) {
          highest = l;
        }
      }
      if (pending) continue;
      work.pop();
      level.set(node, highest + 1);
    }
  }
  return level;
}

/**
 * Pure graph algorithms over "client -> provider" edges. Iterative throughout:
 * a chain of thousands of providers must not overflow the stack.
 */
import { compareBytes } from './bytes.js';

/** client -> its providers; every list sorted bytewise, every target a key. */
export type ProviderGraph = ReadonlyMap<string, readonly string[]>;

/**
 * Every cycle, one per strongly connected component, as the shortest path from
 * the component's bytewise-first VM back to itself: [a, b, c, a]. Self-loops are
 * left to the caller (they have their own rule).
 */
export function findCycles(graph: ProviderGraph): string[][] {
  return stronglyConnected(graph)
    .filter((scc) => scc.length > 1)
    .map((scc) => shortestCycle(graph, new Set(scc), [...scc].sort(compareBytes)[0]!))
    .sort((a, b) => compareBytes(a[0]!, b[0]!));
}

function shortestCycle(graph: ProviderGraph, inside: ReadonlySet<string>, start: string): string[] {
  const parent = new Map<string, string>();
  const queue = [start];
  for (let i = 0; i < queue.length; i++) {
    const node = queue[i]!;
    for (const next of graph.get(node) ?? []) {
      if (!inside.has(next) || next === node) continue;
      if (next === start) {
        const path = [start];
        for (let at: string | undefined = node; at !== undefined && at !== start; at = parent.get(at)) path.push(at);
        return [start, ...path.slice(1).reverse(), start];
      }
      if (!parent.has(next)) {
        parent.set(next, node);
        queue.push(next);
      }
    }
  }
  throw new Error(`internal: no cycle through ${start} in its component`);
}

/** Tarjan's algorithm with an explicit stack. */
function stronglyConnected(graph: ProviderGraph): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const result: string[][] = [];
  let counter = 0;
  for (const root of graph.keys()) {
    if (index.has(root)) continue;
    const work: Array<{ node: string; next: number }> = [{ node: root, next: 0 }];
    index.set(root, counter);
    low.set(root, counter++);
    stack.push(root);
    onStack.add(root);
    while (work.length > 0) {
      const frame = work[work.length - 1]!;
      const edges = graph.get(frame.node) ?? [];
      if (frame.next < edges.length) {
        const w = edges[frame.next++]!;
        if (!index.has(w)) {
          index.set(w, counter);
          low.set(w, counter++);
          stack.push(w);
          onStack.add(w);
          work.push({ node: w, next: 0 });
        } else if (onStack.has(w)) {
          low.set(frame.node, Math.min(low.get(frame.node)!, index.get(w)!));
        }
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent !== undefined) low.set(parent.node, Math.min(low.get(parent.node)!, low.get(frame.node)!));
      if (low.get(frame.node) === index.get(frame.node)) {
        const scc: string[] = [];
        let w: string;
        do {
          w = stack.pop()!;
          onStack.delete(w);
          scc.push(w);
        } while (w !== frame.node);
        result.push(scc);
      }
    }
  }
  return result;
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

/**
 * The one cycle finder, for the provider graph (provider-graph.ts) and the
 * s6-rc source checker (s6rc/source-cycles.ts). Iterative throughout: both
 * graphs come from untrusted or hand-edited trees, and a chain of thousands
 * of nodes must not overflow the stack. Linear in nodes plus edges, except
 * that each shortest cycle is a breadth-first search of its own component.
 */

/** A directed graph given by its nodes and each node's outgoing edges, in order. */
export interface Digraph<E> {
  /** Every node, in the order Tarjan's algorithm starts from them: that order fixes the order of the components. */
  readonly nodes: Iterable<string>;
  /** The edges out of `node`; every edge's target is a node. */
  readonly edges: (node: string) => readonly E[];
  readonly target: (edge: E) => string;
}

/** One edge of a path, with the node it leaves. */
export interface Step<E> {
  readonly from: string;
  readonly edge: E;
}

/**
 * Tarjan's algorithm with an explicit stack: every strongly connected
 * component, singletons included, in the order the recursive algorithm
 * completes them (dependencies before their dependents).
 */
export function stronglyConnected<E>(g: Digraph<E>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const result: string[][] = [];
  let counter = 0;
  const enter = (node: string): void => {
    index.set(node, counter);
    low.set(node, counter++);
    stack.push(node);
    onStack.add(node);
  };
  for (const root of g.nodes) {
    if (index.has(root)) continue;
    enter(root);
    const work: Array<{ node: string; edges: readonly E[]; next: number }> = [{ node: root, edges: g.edges(root), next: 0 }];
    while (work.length > 0) {
      const frame = work[work.length - 1]!;
      if (frame.next < frame.edges.length) {
        const w = g.target(frame.edges[frame.next++]!);
        if (!index.has(w)) {
          enter(w);
          work.push({ node: w, edges: g.edges(w), next: 0 });
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
 * A shortest path from `start` back to itself through nodes `inside` accepts
 * (breadth-first, edges tried in order, so the same graph always gives the
 * same path), as its steps; empty if there is none.
 */
export function shortestCycle<E>(g: Digraph<E>, start: string, inside: (node: string) => boolean): Step<E>[] {
  const cameFrom = new Map<string, Step<E>>();
  const queue = [start];
  for (let i = 0; i < queue.length; i++) {
    const from = queue[i]!;
    for (const edge of g.edges(from)) {
      const to = g.target(edge);
      if (!inside(to)) continue;
      if (to === start) {
        const steps: Step<E>[] = [{ from, edge }];
        for (let step = cameFrom.get(from); step !== undefined; step = cameFrom.get(step.from)) steps.push(step);
        return steps.reverse();
      }
      if (!cameFrom.has(to)) {
        cameFrom.set(to, { from, edge });
        queue.push(to);
      }
    }
  }
  return [];
}

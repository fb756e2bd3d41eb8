/**
 * The one cycle finder (generator/cycles.ts) against the recursive Tarjan
 * and the breadth-first cycle search the s6-rc checker had before it, kept
 * here as the reference: same components in the same order, same paths.
 */
import test from 'ava';
import fc from 'fast-check';
import { shortestCycle, stronglyConnected, type Digraph } from '../../generator/util/cycles.js';

type Graph = Map<string, string[]>;

function recursiveComponents(graph: Graph, roots: readonly string[]): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const result: string[][] = [];
  let counter = 0;
  const visit = (v: string): void => {
    index.set(v, counter);
    low.set(v, counter);
    counter++;
    stack.push(v);
    onStack.add(v);
    for (const to of graph.get(v) ?? []) {
      if (!index.has(to)) {
        visit(to);
        low.set(v, Math.min(low.get(v)!, low.get(to)!));
      } else if (onStack.has(to)) {
        low.set(v, Math.min(low.get(v)!, index.get(to)!));
      }
    }
    if (low.get(v) !== index.get(v)) return;
    const scc: string[] = [];
    for (let w = stack.pop(); w !== undefined; w = stack.pop()) {
      onStack.delete(w);
      scc.push(w);
      if (w === v) break;
    }
    result.push(scc);
  };
  for (const v of roots) if (!index.has(v)) visit(v);
  return result;
}

function referenceCycle(graph: Graph, start: string, scc: ReadonlySet<string>): string[] {
  const cameFrom = new Map<string, string>();
  const queue: string[] = [start];
  for (let v = queue.shift(); v !== undefined; v = queue.shift()) {
    for (const to of graph.get(v) ?? []) {
      if (!scc.has(to)) continue;
      if (to === start) {
        const between: string[] = [];
        for (let at: string | undefined = v; at !== undefined && at !== start; at = cameFrom.get(at)) between.unshift(at);
        return [start, ...between, start];
      }
      if (!cameFrom.has(to)) {
        cameFrom.set(to, v);
        queue.push(to);
      }
    }
  }
  return [];
}

const graphs = fc.integer({ min: 1, max: 12 }).chain((n) => fc.array(
  fc.array(fc.integer({ min: 0, max: n - 1 }), { maxLength: 4 }), { minLength: n, maxLength: n },
)).map((lists): Graph => new Map(lists.map((targets, i) => [`n${i}`, [...new Set(targets.map((j) => `n${j}`))]])));

test('components and shortest cycles are exactly the recursive reference\'s, in the same order (property)', (t) => {
  fc.assert(fc.property(graphs, fc.boolean(), (graph, reversed) => {
    const roots = reversed ? [...graph.keys()].reverse() : [...graph.keys()];
    const g: Digraph<string> = { nodes: roots, edges: (n) => graph.get(n) ?? [], target: (e) => e };
    const sccs = stronglyConnected(g);
    t.deepEqual(sccs, recursiveComponents(graph, roots));
    for (const scc of sccs) {
      const inside = new Set(scc);
      for (const start of scc) {
        const steps = shortestCycle(g, start, (n) => inside.has(n));
        const path = steps.length === 0 ? [] : [start, ...steps.map((s) => s.edge)];
        t.deepEqual(path, referenceCycle(graph, start, inside));
        for (const s of steps) t.true(graph.get(s.from)!.includes(s.edge), 'every step is an edge');
      }
    }
  }), { numRuns: 500 });
});

test('a chain of 100000 nodes closed into one cycle: one component, the whole path, no stack overflow', (t) => {
  const n = 100_000;
  const graph: Graph = new Map(Array.from({ length: n }, (_, i) => [`n${i}`, [`n${(i + 1) % n}`]]));
  const g: Digraph<string> = { nodes: graph.keys(), edges: (v) => graph.get(v)!, target: (e) => e };
  const sccs = stronglyConnected(g);
  t.is(sccs.length, 1);
  t.is(sccs[0]!.length, n);
  const steps = shortestCycle(g, 'n0', () => true);
  t.is(steps.length, n);
  t.is(steps[n - 1]!.edge, 'n0');
});

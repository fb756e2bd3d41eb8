/**
 * The dependency graph s6-rc-compile builds (dependencies, bundle members,
 * pipelines, and a producer's implicit dependency on its consumer) and its
 * cycles, each reported with its full path.
 */
import { compareBytes } from '../util/bytes.js';
import { shortestCycle, stronglyConnected, type Digraph, type Step } from '../util/cycles.js';
import type { Definition, Report, Service } from './source-model.js';

/** Every cycle s6-rc-compile refuses: of bundles alone, and through a oneshot or longrun. */
export function checkCycles(services: Service[], defs: Map<string, Definition>, report: Report): void {
  const graph = buildGraph(services, defs);
  checkBundleCycles(graph, defs, report);
  checkDependencyCycles(graph, defs, report);
}

/** The longruns of the pipeline ending at `last`: it and all its producers, recursively. */
function pipelineMembers(last: Service, defs: Map<string, Definition>): string[] {
  const seen = new Set<string>([last.name]);
  const queue: Service[] = [last];
  for (let s = queue.shift(); s; s = queue.shift()) {
    for (const ref of s.consumerFor) {
      const def = defs.get(ref.name);
      if (def?.type === 'longrun' && def.service && !seen.has(ref.name)) {
        seen.add(ref.name);
        queue.push(def.service);
      }
    }
  }
  return [...seen];
}

interface Edge {
  to: string;
  /** Set for the edge s6-rc adds itself: a producer depends on its consumer. */
  implicit: boolean;
}

type Graph = Map<string, Edge[]>;

/**
 * One node per defined name. Edges: a service to its dependencies, a bundle
 * to its members (a pipeline bundle to its longruns), and a producer to its
 * consumer. A dependency on a bundle reaches the bundle's members through
 * the bundle node, so cycles through bundles show up as paths.
 */
function buildGraph(services: Service[], defs: Map<string, Definition>): Graph {
  const graph: Graph = new Map();
  const add = (from: string, to: string, implicit: boolean): void => {
    if (!defs.has(to)) return;
    const edges = graph.get(from) ?? [];
    if (!edges.some((e) => e.to === to && e.implicit === implicit)) edges.push({ to, implicit });
    graph.set(from, edges);
  };
  for (const [name, def] of defs) {
    graph.set(name, graph.get(name) ?? []);
    if (def.pipelineOf) for (const member of pipelineMembers(def.pipelineOf, defs)) add(name, member, false);
  }
  for (const service of services) {
    if (defs.get(service.name)?.service !== service) continue; // a duplicate
    for (const ref of service.names) add(service.name, ref.name, false);
    const consumer = service.producerFor ? defs.get(service.producerFor.name) : undefined;
    if (service.producerFor && consumer?.type === 'longrun') add(service.name, service.producerFor.name, true);
  }
  return graph;
}

/** Bundles containing themselves, directly or through other bundles. */
function checkBundleCycles(graph: Graph, defs: Map<string, Definition>, report: Report): void {
  const isBundle = (n: string): boolean => defs.get(n)?.type === 'bundle';
  const bundleGraph: Graph = new Map();
  for (const [from, edges] of graph) {
    if (isBundle(from)) bundleGraph.set(from, edges.filter((e) => isBundle(e.to)));
  }
  const g = digraph(bundleGraph);
  for (const scc of cyclicComponents(g)) {
    const start = [...scc].sort(compareBytes)[0] as string;
    const cycle = shortestCycle(g, start, (n) => scc.has(n));
    const def = defs.get(start) as Definition;
    report.fatal(start, def.dir, `cyclic bundle definition: ${formatCycle(start, cycle)}`);
  }
}

/** Any cycle that goes through a oneshot or longrun (self-dependency included). */
function checkDependencyCycles(graph: Graph, defs: Map<string, Definition>, report: Report): void {
  const isAtomic = (n: string): boolean => defs.get(n)?.type !== 'bundle';
  const g = digraph(graph);
  for (const scc of cyclicComponents(g)) {
    const atomics = [...scc].filter(isAtomic).sort(compareBytes);
    const start = atomics[0];
    if (start === undefined) continue; // only bundles: reported as a bundle cycle
    const cycle = shortestCycle(g, start, (n) => scc.has(n));
    const implicit = cycle.filter((step) => step.edge.implicit).map((step) => `${step.from} is a producer for ${step.edge.to}, so it depends on it`);
    const why = implicit.length > 0 ? ` (${implicit.join('; ')})` : '';
    const def = defs.get(start) as Definition;
    report.fatal(start, def.dir, `cyclic service dependency: ${formatCycle(start, cycle)}${why}`);
  }
}

function formatCycle(start: string, cycle: readonly Step<Edge>[]): string {
  return [start, ...cycle.map((s) => s.edge.to)].join(' -> ');
}

/** Roots in bytewise order: it fixes the order the cycles are reported in. */
function digraph(graph: Graph): Digraph<Edge> {
  return { nodes: [...graph.keys()].sort(compareBytes), edges: (n) => graph.get(n) ?? [], target: (e) => e.to };
}

/**
 * Strongly connected components that contain a cycle: more than one node,
 * or one node with an edge to itself.
 */
function cyclicComponents(g: Digraph<Edge>): Set<string>[] {
  return stronglyConnected(g)
    .filter((scc) => scc.length > 1 || g.edges(scc[0]!).some((e) => e.to === scc[0]))
    .map((scc) => new Set(scc));
}

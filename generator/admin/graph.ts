/**
 * `vmsvc graph`: the VM/provider graph of a generated tree, as Graphviz DOT
 * or Mermaid. Arrows go from a client to the provider it needs; VMs are
 * grouped by start level (0: no providers; n: 1 + the highest provider
 * level), and VMs the manifest lists as skipped are drawn dashed and grey in
 * a group of their own, with their reason (and a dashed arrow to the skipped
 * provider that got them skipped).
 */
import { compareBytes, printable } from '../util/bytes.js';
import { startLevels } from '../util/provider-graph.js';
import { linksOfVm, providerGraph, readTree, type Tree } from './tree.js';
import { json } from './output.js';
import { EXIT, UsageError, guard, type Io } from '../command/shell.js';

export type GraphFormat = 'dot' | 'mermaid';

/**
 * Arguments of `vmsvc graph`.
 *
 * - `source`: the generated source tree (the --out path); only its manifest is read.
 * - `format`: 'dot' (Graphviz) or 'mermaid' (a flowchart).
 * - `json`: print a GraphResult as JSON instead (format is then ignored).
 *
 * Exit codes: 0 printed; 1 the manifest is not one vmsvc writes (a provider
 * cycle included); 100 an unknown format; 111 the manifest cannot be read.
 */
export interface GraphArgs {
  readonly source: string;
  readonly format: GraphFormat;
  readonly json: boolean;
}

export interface GraphNode {
  readonly name: string;
  /** Start level; null for skipped VMs. */
  readonly level: number | null;
  readonly skipped: boolean;
  /** Why it was skipped; null for VMs in the tree. */
  readonly reason: string | null;
}

export interface GraphEdge {
  readonly client: string;
  readonly provider: string;
  /** The link's client IP; null for the edge of a skipped VM to the skipped provider it needs. */
  readonly clientIp: string | null;
  readonly skipped: boolean;
}

export interface GraphResult {
  /** Bytewise by name. */
  readonly nodes: readonly GraphNode[];
  /** Sorted by client, then provider. */
  readonly edges: readonly GraphEdge[];
  /** VMs by start level: levels[0] start first. */
  readonly levels: readonly (readonly string[])[];
}

export function graph(args: GraphArgs, io: Io): number {
  return guard(io, () => {
    if (!args.json && args.format !== 'dot' && args.format !== 'mermaid') {
      throw new UsageError(`unknown graph format ${printable(String(args.format))}: use dot or mermaid`);
    }
    const g = graphResult(readTree(args.source));
    io.out(args.json ? json(g) : args.format === 'dot' ? toDot(g) : toMermaid(g));
    return EXIT.ok;
  });
}

export function graphResult(tree: Tree): GraphResult {
  const { manifest } = tree;
  // readTree refused self-providers and cycles: the levels are defined.
  const level = startLevels(providerGraph(manifest));
  const nodes: GraphNode[] = [
    ...manifest.vms.map((vm) => ({ name: vm.name, level: level.get(vm.name) ?? 0, skipped: false, reason: null })),
    ...manifest.skipped.map((s) => ({ name: s.name, level: null, skipped: true, reason: s.reason })),
  ].sort((a, b) => compareBytes(a.name, b.name));
  const edges: GraphEdge[] = [];
  for (const vm of manifest.vms) {
    const ips = new Map(linksOfVm(tree, vm).asClient.map((l) => [l.provider as string, l.clientIp]));
    for (const p of vm.providers) edges.push({ client: vm.name, provider: p, clientIp: ips.get(p) ?? null, skipped: false });
  }
  const skippedNames = new Set(manifest.skipped.map((s) => s.name));
  for (const s of manifest.skipped) {
    if (s.needs !== null && skippedNames.has(s.needs)) edges.push({ client: s.name, provider: s.needs, clientIp: null, skipped: true });
  }
  edges.sort((a, b) => compareBytes(a.client, b.client) || compareBytes(a.provider, b.provider));
  const levels: string[][] = [];
  for (const n of nodes) if (n.level !== null) (levels[n.level] ??= []).push(n.name);
  return { nodes, edges, levels: Array.from(levels, (l) => l ?? []) };
}

/**
 * A DOT double-quoted string of a name or reason from the manifest, shown
 * through printable() (the manifest may be edited, and skipped VMs' names hold
 * anything); then only `"` and `\` need escaping for DOT.
 */
function dotString(s: string): string {
  return `"${printable(s).replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

export function toDot(g: GraphResult): string {
  const lines = [
    'digraph vms {',
    '  // client -> provider: the client needs the provider; clusters are start levels',
    '  rankdir=BT;',
    '  node [shape=box];',
  ];
  g.levels.forEach((names, level) => {
    lines.push(`  subgraph "cluster_level_${level}" {`, `    label="start level ${level}";`);
    for (const n of names) lines.push(`    ${dotString(n)};`);
    lines.push('  }');
  });
  const skipped = g.nodes.filter((n) => n.skipped);
  if (skipped.length > 0) {
    lines.push('  subgraph "cluster_skipped" {', '    label="skipped";', '    style=dashed;', '    color=gray50;');
    for (const n of skipped) {
      // `\n` in a DOT label is a line break: escape the text first, then add it.
      const label = `${dotString(n.name).slice(1, -1)}\\nskipped: ${dotString(n.reason ?? '').slice(1, -1)}`;
      lines.push(`    ${dotString(n.name)} [label="${label}", style=dashed, color=gray50, fontcolor=gray50];`);
    }
    lines.push('  }');
  }
  for (const e of g.edges) {
    const attrs = e.skipped ? ' [style=dashed, color=gray50]' : e.clientIp === null ? '' : ` [label=${dotString(e.clientIp)}]`;
    lines.push(`  ${dotString(e.client)} -> ${dotString(e.provider)}${attrs};`);
  }
  lines.push('}');
  return lines.join('\n') + '\n';
}

/** Mermaid label text: printable(), then entity codes (#34; ...) for the characters its parser or HTML would take. */
function mermaidText(s: string): string {
  return printable(s).replace(/["#&<>`]/g, (c) => `#${c.charCodeAt(0)};`);
}

export function toMermaid(g: GraphResult): string {
  // Ids are vm0, vm1, ... in name order: names may hold anything Mermaid parses.
  const id = new Map(g.nodes.map((n, i) => [n.name, `vm${i}`]));
  const lines = ['flowchart BT'];
  g.levels.forEach((names, level) => {
    lines.push(`  subgraph level${level}["start level ${level}"]`);
    for (const n of names) lines.push(`    ${id.get(n)!}["${mermaidText(n)}"]`);
    lines.push('  end');
  });
  const skipped = g.nodes.filter((n) => n.skipped);
  if (skipped.length > 0) {
    lines.push('  subgraph skippedVms["skipped"]');
    for (const n of skipped) lines.push(`    ${id.get(n.name)!}["${mermaidText(n.name)}<br/>skipped: ${mermaidText(n.reason ?? '')}"]`);
    lines.push('  end');
  }
  for (const e of g.edges) {
    const from = id.get(e.client)!;
    const to = id.get(e.provider)!;
    if (e.skipped) lines.push(`  ${from} -.-> ${to}`);
    else if (e.clientIp === null) lines.push(`  ${from} --> ${to}`);
    else lines.push(`  ${from} -->|"${mermaidText(e.clientIp)}"| ${to}`);
  }
  if (skipped.length > 0) {
    lines.push('  classDef skipped stroke-dasharray: 5 5,color:#888,stroke:#888');
    lines.push(`  class ${skipped.map((n) => id.get(n.name)!).join(',')} skipped`);
  }
  return lines.join('\n') + '\n';
}

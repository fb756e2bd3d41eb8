/**
 * Step 4: turns a plan into the exact files of an s6-rc source tree. Pure given
 * the templates. Modes are fixed (scripts 0755, everything else 0644) and the
 * order is fixed, so equal input gives equal bytes.
 */
import { compareBytes } from '../util/bytes.js';
import { MANIFEST_FILE, type Manifest, type PlannedManifest } from './manifest.js';
import type { TreePlan } from './plan.js';
import type { Longrun, Oneshot, Service } from './service-types.js';
import type { Templates } from './templates.js';
import type { FileTree, TreeEntry } from '../util/file-tree.js';

export type { FileTree, TreeEntry } from '../util/file-tree.js';

/**
 * An entry as the tree is streamed to disk: also a file given as pieces of
 * its content, written one after another. The manifest of 10000 VMs is 8.5 MB
 * of JSON; as one string it was also flattened and encoded whole when written,
 * the largest single spike of a run.
 */
export type StreamedEntry = TreeEntry | { readonly kind: 'pieces'; readonly pieces: Iterable<string>; readonly mode: 0o644 };

const DIR: TreeEntry = { kind: 'dir' };
const text = (content: string): TreeEntry => ({ kind: 'file', content, mode: 0o644 });
const script = (content: string): TreeEntry => ({ kind: 'file', content, mode: 0o755 });
const line = (value: string | number): TreeEntry => text(`${value}\n`);

/**
 * The tree's entries one service at a time, so that a large tree can be
 * written without being held in memory: the manifest, then each service
 * (bytewise by name), its directory before its files.
 */
export function* renderEntries(plan: TreePlan, templates: Templates): Generator<[string, StreamedEntry]> {
  yield [MANIFEST_FILE, { kind: 'pieces', pieces: manifestJson(plan.manifest), mode: 0o644 }];
  for (const service of plan.services) yield* renderService(service, templates);
}

/** The whole tree in memory, bytewise-sorted by path (parents precede children). */
export function renderTree(plan: TreePlan, templates: Templates): FileTree {
  const whole = ([rel, entry]: [string, StreamedEntry]): [string, TreeEntry] => [rel, entry.kind === 'pieces' ? text([...entry.pieces].join('')) : entry];
  return new Map([...renderEntries(plan, templates)].map(whole).sort(([a], [b]) => compareBytes(a, b)));
}

function renderService(service: Service, templates: Templates): Array<[string, TreeEntry]> {
  const at = (rel: string): string => `${service.name}/${rel}`;
  const out: Array<[string, TreeEntry]> = [[service.name, DIR], [at('type'), line(service.type)]];
  if (service.type === 'bundle') {
    out.push([at('contents.d'), DIR]);
    for (const member of service.contents) out.push([at(`contents.d/${member}`), text('')]);
    return out;
  }
  if (service.type === 'oneshot') out.push(...renderOneshot(service, templates, at));
  else out.push(...renderLongrun(service, templates, at));
  return out;
}

/** up and down are lexed by s6-rc-compile, never executed as files: mode 0644. */
function renderOneshot(service: Oneshot, templates: Templates, at: (rel: string) => string): Array<[string, TreeEntry]> {
  return [
    [at('up'), text(templates.render(service.up))],
    [at('down'), text(templates.render(service.down))],
    [at('timeout-up'), line(service.timeoutUpMs)],
    [at('timeout-down'), line(service.timeoutDownMs)],
    ...dependencyEntries(service.dependencies, at),
  ];
}

function dependencyEntries(deps: readonly string[], at: (rel: string) => string): Array<[string, TreeEntry]> {
  if (deps.length === 0) return [];
  return [[at('dependencies.d'), DIR], ...deps.map((dep): [string, TreeEntry] => [at(`dependencies.d/${dep}`), text('')])];
}

function renderLongrun(service: Longrun, templates: Templates, at: (rel: string) => string): Array<[string, TreeEntry]> {
  const out: Array<[string, TreeEntry]> = [
    [at('run'), script(templates.render(service.run))],
    [at('notification-fd'), line(service.notificationFd)],
  ];
  if (service.timeoutUpMs !== null) out.push([at('timeout-up'), line(service.timeoutUpMs)]);
  if (service.finish !== null) out.push([at('finish'), script(templates.render(service.finish))]);
  if (service.maxDeathTally !== null) out.push([at('max-death-tally'), line(service.maxDeathTally)]);
  if (service.timeoutKillMs !== null) out.push([at('timeout-kill'), line(service.timeoutKillMs)]);
  if (service.timeoutKillsGroup) out.push([at('flag-timeout-killpg'), text('')]);
  if (service.timeoutDownMs !== null) out.push([at('timeout-down'), line(service.timeoutDownMs)]);
  out.push(...dependencyEntries(service.dependencies, at));
  if (service.data.size > 0) {
    out.push([at('data'), DIR]);
    for (const [rel, s] of service.data) out.push([at(`data/${rel}`), script(templates.render(s))]);
  }
  if (service.producerFor !== null) out.push([at('producer-for'), line(service.producerFor)]);
  if (service.consumerFor !== null) out.push([at('consumer-for'), line(service.consumerFor)]);
  if (service.pipelineName !== null) out.push([at('pipeline-name'), line(service.pipelineName)]);
  return out;
}

/**
 * `${JSON.stringify(manifest, null, 2)}\n` in pieces of about one array
 * element each (a VM, a link, a skipped VM), so the text is never whole in
 * memory. An element is stringified alone and indented to its depth: JSON
 * escapes newlines inside strings, so every newline in it starts a line.
 * Manifest values are plain JSON data: never undefined, functions or symbols
 * (which JSON.stringify would leave out), so each key and element gives text.
 */
export function* manifestJson(manifest: PlannedManifest | Manifest): Generator<string> {
  const indent = (json: string, depth: string): string => json.replaceAll('\n', `\n${depth}`);
  let sep = '{\n';
  for (const [key, value] of Object.entries(manifest)) {
    yield `${sep}  ${JSON.stringify(key)}: `;
    sep = ',\n';
    if (!Array.isArray(value) || value.length === 0) {
      yield indent(JSON.stringify(value, null, 2), '  ');
      continue;
    }
    let itemSep = '[\n';
    for (const item of value as readonly unknown[]) {
      yield `${itemSep}    ${indent(JSON.stringify(item, null, 2), '    ')}`;
      itemSep = ',\n';
    }
    yield '\n  ]';
  }
  yield sep === '{\n' ? '{}\n' : '\n}\n';
}

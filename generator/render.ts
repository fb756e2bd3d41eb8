/**
 * Step 4: turns a plan into the exact files of an s6-rc source tree. Pure given
 * the templates. Modes are fixed (scripts 0755, everything else 0644) and the
 * order is fixed, so equal input gives equal bytes.
 */
import { compareBytes } from './bytes.js';
import { MANIFEST_FILE, type Longrun, type Oneshot, type Service, type TreePlan } from './plan.js';
import type { Templates } from './templates.js';

export type TreeEntry =
  | { readonly kind: 'dir' }
  | { readonly kind: 'file'; readonly content: string; readonly mode: 0o644 | 0o755 };

/** Relative path -> entry, bytewise-sorted by path; parents precede children. */
export type FileTree = ReadonlyMap<string, TreeEntry>;

const DIR: TreeEntry = { kind: 'dir' };
const text = (content: string): TreeEntry => ({ kind: 'file', content, mode: 0o644 });
const script = (content: string): TreeEntry => ({ kind: 'file', content, mode: 0o755 });
const line = (value: string | number): TreeEntry => text(`${value}\n`);

/**
 * The tree's entries one service at a time, so that a large tree can be
 * written without being held in memory: the manifest, then each service
 * (bytewise by name), its directory before its files.
 */
export function* renderEntries(plan: TreePlan, templates: Templates): Generator<[string, TreeEntry]> {
  yield [MANIFEST_FILE, text(`${JSON.stringify(plan.manifest, null, 2)}\n`)];
  for (const service of plan.services) yield* renderService(service, templates);
}

/** The whole tree in memory, bytewise-sorted by path (parents precede children). */
export function renderTree(plan: TreePlan, templates: Templates): FileTree {
  return new Map([...renderEntries(plan, templates)].sort(([a], [b]) => compareBytes(a, b)));
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
  ];
}

function renderLongrun(service: Longrun, templates: Templates, at: (rel: string) => string): Array<[string, TreeEntry]> {
  const out: Array<[string, TreeEntry]> = [
    [at('run'), script(templates.render(service.run))],
    [at('notification-fd'), line(service.notificationFd)],
  ];
  if (service.timeoutUpMs !== null) out.push([at('timeout-up'), line(service.timeoutUpMs)]);
  if (service.dependencies.length > 0) {
    out.push([at('dependencies.d'), DIR]);
    for (const dep of service.dependencies) out.push([at(`dependencies.d/${dep}`), text('')]);
  }
  if (service.data.size > 0) {
    out.push([at('data'), DIR]);
    for (const [rel, s] of service.data) out.push([at(`data/${rel}`), script(templates.render(s))]);
  }
  if (service.producerFor !== null) out.push([at('producer-for'), line(service.producerFor)]);
  if (service.consumerFor !== null) out.push([at('consumer-for'), line(service.consumerFor)]);
  if (service.pipelineName !== null) out.push([at('pipeline-name'), line(service.pipelineName)]);
  return out;
}

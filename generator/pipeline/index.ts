/**
 * The whole job, step by step: scan -> check -> plan -> render -> write.
 * I/O happens only in the first and last steps. Steps hand large sequences on
 * lazily, so a big tree is never held whole: check pulls each VM from the scan
 * as it goes, and the write pulls each service through plan and render.
 */
import { VMM_FACTS } from '../vmm/index.js';
import { checkTree, hasErrors, NO_LAST_GOOD, type CheckResult, type LastGoodVm } from './check.js';
import type { GeneratorOptions } from './options.js';
import { planTree, type TreePlan } from './plan.js';
import { renderEntries, renderTree, type FileTree, type StreamedEntry } from './render.js';
import { scanDataDir } from './scan.js';
import { loadTemplates } from './templates.js';
import { treeKey } from './tree-key.js';
import { writeStreamAtomically, type WriteOutcome } from './write-tree.js';

/** `lastGood`: what running VMs may keep when their new definition is refused (checkTree); only apply has any. */
export function checkDataDir(dataDir: string, opts: GeneratorOptions, lastGood: ReadonlyMap<string, LastGoodVm> = NO_LAST_GOOD): { root: string; result: CheckResult } {
  const format = VMM_FACTS[opts.vmm].imageFormat;
  const tree = scanDataDir(dataDir, opts.maxVms, format.kind === 'probed' ? format.signatures : []);
  return { root: tree.root, result: checkTree(tree, opts, lastGood) };
}

/** The files of the tree for the valid VMs; pure past the scan. */
export function buildTree(root: string, result: CheckResult, opts: GeneratorOptions): FileTree {
  return renderTree(planFor(root, result, opts), loadTemplates(opts.templatesDir, opts.vmm));
}

function planFor(root: string, result: CheckResult, opts: GeneratorOptions): TreePlan {
  return planTree(planRoot(root, opts), result.vms, result, opts);
}

function planRoot(root: string, opts: GeneratorOptions): string {
  return opts.dataDirAtRuntime ?? root;
}

export type GenerateOutcome =
  | { readonly kind: 'refused'; readonly check: CheckResult }
  | { readonly kind: 'done'; readonly check: CheckResult; readonly write: WriteOutcome };

/**
 * Writes nothing when any VM is invalid, unless keepGoing: then the tree holds
 * every VM that is valid and needs only valid providers.
 */
export function generate(dataDir: string, outDir: string, opts: GeneratorOptions, keepGoing: boolean): GenerateOutcome {
  const { root, result } = checkDataDir(dataDir, opts);
  if (hasErrors(result) && !keepGoing) return { kind: 'refused', check: result };
  const templates = loadTemplates(opts.templatesDir, opts.vmm);
  const key = treeKey({ dataDir: planRoot(root, opts), vms: result.vms, skipped: result.skipped, held: result.held, opts }, templates);
  // Planned only if the key is new (the write stops before its first entry
  // otherwise), then rendered one service at a time into the new version dir.
  function* entries(): Generator<[string, StreamedEntry]> {
    yield* renderEntries(planFor(root, result, opts), templates);
  }
  return { kind: 'done', check: result, write: writeStreamAtomically(outDir, entries(), key) };
}

/**
 * The key of a generated tree. Equal keys give byte-equal trees, so a run
 * whose key matches the current tree's plans, renders and writes nothing.
 *
 * The tree is planTree(dataDir, vms, { skipped, held }, opts) rendered with the
 * templates, and both steps are pure: their arguments, the templates'
 * fingerprint and the build id (a hash of vmsvc's sources, set by
 * scripts/build.mjs, so an upgraded vmsvc renders afresh) determine it.
 * Keying these rather than the plan hashes a tenth as much.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { HeldVm, SkippedVm, ValidVm } from './check.js';
import type { GeneratorOptions } from './options.js';
import type { Templates } from './templates.js';

export interface KeyedInput {
  /** Where the services find the data dir at run time (planTree's first argument). */
  readonly dataDir: string;
  readonly vms: readonly ValidVm[];
  readonly skipped: readonly SkippedVm[];
  readonly held: readonly HeldVm[];
  readonly opts: GeneratorOptions;
}

/**
 * Run from source (tsx, the tests), the code may have changed since the
 * tree was written: a key made by another process is never taken as equal.
 */
const BUILD_ID = process.env.VMSVC_BUILD_ID ?? `source ${randomUUID()}`;

export function treeKey(input: KeyedInput, templates: Templates): string {
  const h = createHash('sha256').update(`${BUILD_ID}\0${templates.fingerprint}\0`);
  // Key order is the code's (one function builds the options for either
  // argument parser), and the build id covers the code.
  h.update(JSON.stringify(input));
  return h.digest('hex');
}

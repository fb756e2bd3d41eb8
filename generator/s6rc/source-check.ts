/**
 * Checks s6-rc source directories against everything s6-rc-compile rejects,
 * as its documentation (skarnet.org/software/s6-rc/s6-rc-compile.html) lists it, and reports ALL
 * problems at once (s6-rc-compile stops at the first one and names a cycle
 * only by two of its services).
 *
 * Reasons are worded like s6-rc-compile's fatal messages (see skarnet/s6-rc
 * src/s6-rc/s6-rc-compile.c), with the full cycle path added. A problem is
 * what the real s6-rc-compile (0.7.0.0) refuses, read the way it reads: where
 * it is more lenient than the format doc (it reads only the first 8 bytes of
 * `type`, and only the first line of `timeout-kill` and its kin), the tree
 * compiles, so the doc's stricter contract is a warning, not a problem.
 */
import { readService, scanSourceDir } from './source-read.js';
import { checkPipelines, checkReferences, defineNames } from './source-names.js';
import { checkCycles } from './source-cycles.js';
import { Report, type S6rcProblem, type Service } from './source-model.js';

export { LONGRUN_NAME_MAX_BYTES, longrunNameFits } from './format.js';

export interface S6rcCheckOptions {
  /** The `s6-rc-init -p PREFIX` the live instance will use (default none). */
  prefix?: string;
}

export interface S6rcAnalysis {
  /** What s6-rc-compile (or s6-rc-init) would reject. */
  problems: S6rcProblem[];
  /** What compiles but is probably a mistake. */
  warnings: S6rcProblem[];
}

/** The fatal problems of the source dirs, compiled together as one namespace. */
export function checkS6rcSource(dirs: string[], options: S6rcCheckOptions = {}): S6rcProblem[] {
  return analyzeS6rcSource(dirs, options).problems;
}

/** The non-fatal notes only (s6-rc-compile warnings and doc advice). */
export function s6rcWarnings(dirs: string[], options: S6rcCheckOptions = {}): S6rcProblem[] {
  return analyzeS6rcSource(dirs, options).warnings;
}

export function analyzeS6rcSource(dirs: string[], options: S6rcCheckOptions = {}): S6rcAnalysis {
  const report = new Report();
  const services: Service[] = [];
  const unusable = new Set<string>(); // defined, but with a broken type: not "undefined"
  for (const src of dirs) {
    for (const name of scanSourceDir(src, report)) {
      const service = readService(src, name, options.prefix ?? '', report);
      if (service) services.push(service);
      else unusable.add(name);
    }
  }
  const defs = defineNames(services, report);
  checkReferences(services, defs, unusable, report);
  checkPipelines(services, defs, unusable, report);
  checkCycles(services, defs, report);
  return { problems: report.problems, warnings: report.warnings };
}

/**
 * Step 2: judges the scanned facts. Pure: the same scan and options always give
 * the same diagnostics, in the same order. Whatever passes here is a VM whose
 * name and paths can be passed to s6-rc and the VMM exactly as they are.
 */
import * as path from 'node:path';
import { compareBytes, printable, sortedBytewise } from '../util/bytes.js';
import { findCycles } from '../util/provider-graph.js';
import { dataDirDiagnostics, vmUndecodableDiagnostics } from '../rules/data-dir.js';
import { identityDiagnostics } from '../rules/identity.js';
import { sandboxDiagnostics } from '../rules/sandbox.js';
import { RULES, type Diagnostic } from '../rules/diagnostic.js';
import { diskDiagnostics } from '../rules/disks.js';
import { initramfsDiagnostics, kernelDiagnostics } from '../rules/kernel.js';
import { cycleDiagnostic, linkCountDiagnostics, providerDiagnostics, unknownProviderDiagnostics } from '../rules/providers.js';
import type { Node, ScannedTree, ScannedVm } from '../rules/scanned.js';
import { checkVmName, vmmUnsafe, type NameLimits, type VmName, type VmmUnsafe } from '../rules/vm-name.js';
import { lastGoodRefusal, vmSettings, type SettingFile, type VmSettings } from '../rules/settings.js';
import { vmmDiagnostics } from '../rules/vmm-rules.js';
import { VMM_FACTS, type KernelProbes } from '../vmm/index.js';
import { LINK_CAPACITY } from './links.js';
import { longestSocketPath, type Admission, type GeneratorOptions } from './options.js';
import { admit } from '../rules/admission.js';
import { memoryMaxBytes } from './cgroup.js';
import { resolveHolds } from './holds.js';

export interface ValidVm {
  readonly name: VmName;
  readonly dir: string;
  readonly kernel: string;
  /** The optional initramfs, or null. */
  readonly initramfs: string | null;
  /** Absolute image paths, bytewise-sorted by file name. */
  readonly disks: readonly string[];
  /** Bytewise-sorted. */
  readonly providers: readonly VmName[];
  /** The global flags, overridden by the VM's config/ files. */
  readonly settings: VmSettings;
  /** Which settings a config/ file set; the others are the flags' defaults. */
  readonly settingFiles: readonly SettingFile[];
  /** In the autostart bundle: marked with config/autostart, and admitted (rules/admission.ts). */
  readonly autostart: boolean;
}

export interface SkippedVm {
  readonly name: string;
  /** A person-readable reason: the rules it broke, or the provider it needs. */
  readonly reason: string;
  /** The skipped provider it needs, when that is why it is skipped; null when it is invalid itself. */
  readonly needs: string | null;
  /**
   * The files at fault when it is invalid itself: each rule it broke with the
   * first path (bytewise) that broke it, by rule; empty when it needs a
   * skipped provider. One per rule, so a VM with 100,000 broken images adds a line, not a megabyte.
   */
  readonly problems: readonly SkippedProblem[];
}

/**
 * A running VM's definition as it was last applied (apply reads it back from
 * the live tree's manifest): what it keeps running on while its new one is
 * refused. Its name and providers are checked names only once this run's
 * check has found them valid.
 */
export type LastGoodVm = Omit<ValidVm, 'name' | 'providers'> & { readonly providers: readonly string[] };

/** Nothing to hold: `generate`, a first start, `apply --drop-invalid`. */
export const NO_LAST_GOOD: ReadonlyMap<string, LastGoodVm> = new Map();

/**
 * A VM generated on its last good definition: why its new one is refused,
 * said as a SkippedVm says why a VM is left out.
 */
export type HeldVm = SkippedVm;

export interface SkippedProblem {
  readonly rule: string;
  readonly path: string;
}

export interface CheckResult {
  /** VMs that are valid and need only valid VMs, bytewise-sorted by name. */
  readonly vms: readonly ValidVm[];
  /** Sorted by path, then rule. */
  readonly diagnostics: readonly Diagnostic[];
  /** VMs left out of a keep-going tree, bytewise-sorted by name. */
  readonly skipped: readonly SkippedVm[];
  /** VMs of `vms` on their last good definition, because their new one would have them skipped; bytewise-sorted by name. */
  readonly held: readonly HeldVm[];
}

export function hasErrors(result: CheckResult): boolean {
  return result.diagnostics.some((d) => d.severity === 'error');
}

/**
 * `lastGood`: the running VMs' last good definitions, by name. A VM whose new
 * definition is refused keeps its last good one (holds.ts), as long as its
 * directory is still in the data dir, at the same place: only removing it
 * removes the VM.
 */
export function checkTree(tree: ScannedTree, opts: GeneratorOptions, lastGood: ReadonlyMap<string, LastGoodVm> = NO_LAST_GOOD): CheckResult {
  const outputRoot = opts.dataDirAtRuntime ?? tree.root;
  const unsafe = vmmUnsafe(opts.vmm);
  const diagnostics: Diagnostic[] = [...dataDirDiagnostics(tree, outputRoot, opts.maxVms, unsafe), ...vmmDiagnostics({ ...opts, root: tree.root }), ...identityDiagnostics(opts.vmmUser.kind, tree.root), ...sandboxDiagnostics(opts.sandbox, tree.root)];
  const nameLimits: NameLimits = { livePrefix: opts.livePrefix, longestSocketPath: (name) => longestSocketPath(opts, name), unsafe };
  const vmNames = new Set(tree.vmNames);
  const graph = new Map<string, string[]>();
  // path.join(outputRoot, name) is this prefix + name for any entry name; see candidate.
  const vmPrefix = path.join(outputRoot, 'x').slice(0, -1);
  // One walk over the scanned VMs (each is read from disk as it comes), keeping
  // only diagnostics and what a valid VM will be; validity is known after it.
  // A VM whose name broke a naming rule is invalid, so it has no candidate.
  const candidates = new Map<string, Candidate>();
  for (const vm of tree.vms) {
    const naming = checkVmName(vm.name, vm.dir, nameLimits);
    // One VM can bring any number of problems: push(...list) would pass them
    // all as arguments and overflow the stack past about 100,000.
    for (const d of naming.problems) diagnostics.push(d);
    for (const d of vmDiagnostics(vm, VMM_FACTS[opts.vmm].kernelProbes, unsafe)) diagnostics.push(d);
    const settings = vmSettings(vm, opts.settings, opts);
    for (const d of settings.problems) diagnostics.push(d);
    for (const d of unknownProviderDiagnostics(vm, vmNames)) diagnostics.push(d);
    const providers = sortedBytewise(vm.providers
      .filter((p) => p.node.kind !== 'directory' && p.name !== vm.name && vmNames.has(p.name))
      .map((p) => p.name));
    graph.set(vm.name, providers);
    if (naming.name !== null) candidates.set(vm.name, candidate(vm, naming.name, vmPrefix, settings.settings, settings.fromFiles));
  }
  const cycles = findCycles(graph);
  for (const cycle of cycles) diagnostics.push(cycleDiagnostic(tree.root, cycle));

  const invalid = new Set<string>();
  for (const d of diagnostics) if (d.severity === 'error' && d.vm !== null) invalid.add(d.vm);
  for (const cycle of cycles) for (const vm of cycle) invalid.add(vm);
  const holdable = new Map<string, readonly string[]>();
  for (const [name, vm] of lastGood) {
    if (candidates.get(name)?.dir !== vm.dir) continue;
    const refused = lastGoodRefusal(name, vm.dir, vm.settings, opts);
    if (refused === null) holdable.set(name, vm.providers);
    else if (invalid.has(name)) diagnostics.push(refused);
  }
  const holds = resolveHolds(graph, invalid, holdable);
  const { dependents } = holds;
  const skippedItself = (name: string): boolean => invalid.has(name) && !holds.held.has(name);
  // Only VMs that will be generated get link numbers: the links of a broken
  // VM, or of one that needs a broken provider, take no address.
  let linkCount = 0;
  for (const [name, providers] of holds.graph) if (!skippedItself(name) && !dependents.has(name)) linkCount += providers.length;
  for (const d of linkCountDiagnostics(tree.root, linkCount, LINK_CAPACITY)) diagnostics.push(d);

  // These make every VM unusable; other tree-level errors (an undecodable
  // entry) only block a strict run.
  const treeBroken = diagnostics.some((d) => d.vm === null && RULES[d.rule].breaksTree);
  const { reasons, problems } = invalidReasons(diagnostics);

  const refused = (name: string, needs: string | null): SkippedVm => (needs === null
    ? { name, reason: reasons.get(name) ?? (treeBroken ? 'the data directory itself is invalid' : 'invalid (provider-cycle)'), needs: null, problems: problems.get(name) ?? [] }
    : { name, reason: `needs provider ${printable(needs)}, which is skipped`, needs, problems: [] });
  const skipped: SkippedVm[] = [];
  const held: HeldVm[] = [];
  const vms: ValidVm[] = [];
  for (const name of sortedBytewise(tree.vmNames)) {
    const holding = holds.held.get(name);
    if (skippedItself(name) || treeBroken) {
      skipped.push(refused(name, null));
    } else if (dependents.has(name)) {
      skipped.push(refused(name, dependents.get(name)!));
    } else if (holding !== undefined) {
      held.push(refused(name, holding));
      // Its providers are valid or held (else holds.ts lets it go), so each has its checked name, as its own has.
      vms.push({ ...lastGood.get(name)!, name: candidates.get(name)!.name, providers: holds.graph.get(name)!.map((p) => candidates.get(p)!.name) });
    } else {
      // A valid VM's providers are valid or held VMs (else it would be a dependent), so each has its checked name.
      vms.push({ ...candidates.get(name)!, providers: graph.get(name)!.map((p) => candidates.get(p)!.name) });
    }
  }
  const admitted = opts.admission === null ? vms : withAdmission(vms, opts.admission, opts.vmmMemoryOverheadBytes, diagnostics);
  diagnostics.sort((a, b) => compareBytes(a.path, b.path) || compareBytes(a.rule, b.rule) || compareBytes(a.message, b.message));
  return { vms: admitted, diagnostics, skipped, held };
}

/** The VMs with autostart off where the host cannot take them at boot; the warnings go to `diagnostics`. */
function withAdmission(vms: ValidVm[], bounds: Admission, overheadBytes: number, diagnostics: Diagnostic[]): ValidVm[] {
  const r = admit(vms.map((vm) => ({
    name: vm.name, dir: vm.dir, autostart: vm.autostart, providers: vm.providers, cpus: vm.settings.cpus,
    memoryBytes: memoryMaxBytes(vm.settings, overheadBytes),
  })), bounds);
  for (const d of r.diagnostics) diagnostics.push(d);
  return r.refused.size === 0 ? vms : vms.map((vm) => (r.refused.has(vm.name) ? { ...vm, autostart: false } : vm));
}

/** The rule families that judge one VM's files. Their order only breaks ties of the final sort (path, rule, message), which is stable. */
function vmDiagnostics(vm: ScannedVm, kernelProbes: KernelProbes, unsafe: VmmUnsafe): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const d of vmUndecodableDiagnostics(vm)) out.push(d);
  out.push(...kernelDiagnostics(vm, kernelProbes), ...initramfsDiagnostics(vm));
  // One per image and per provider entry: as many as the VM dir holds.
  for (const d of diskDiagnostics(vm, unsafe)) out.push(d);
  for (const d of providerDiagnostics(vm)) out.push(d);
  return out;
}

/** What a valid VM will be, but its providers: those are known to be valid only after the walk. */
type Candidate = Omit<ValidVm, 'providers'>;

/**
 * Paths are written as they will be at run time: below the output root, whose
 * normalised form with a slash is `vmPrefix`. They are what path.join would
 * give (names are single path components), but built by concatenation:
 * path.join returns each path as a rope of a dozen small strings, and these
 * are kept until the tree is written.
 */
function candidate(vm: ScannedVm, name: VmName, vmPrefix: string, settings: VmSettings, settingFiles: readonly SettingFile[]): Candidate {
  const dir = `${vmPrefix}${name}`;
  return {
    name,
    dir,
    kernel: vmmPath(vmPrefix, vm.vmlinux, `${dir}/vmlinux`),
    initramfs: vm.initramfs.kind === 'missing' ? null : vmmPath(vmPrefix, vm.initramfs, `${dir}/initramfs`),
    disks: [...vm.images].sort((a, b) => compareBytes(a.name, b.name)).map((img) => vmmPath(vmPrefix, img.node, `${dir}/blk/${img.name}`)),
    settings,
    settingFiles,
    autostart: settings.autostart,
  };
}

/**
 * A link's file is given to the VMM by the link-free path the scan resolved,
 * placed below the run-time data dir: the kernel then reaches the file that
 * was checked, where it was checked, and no link is followed again at run time.
 */
function vmmPath(vmPrefix: string, node: Node, asWritten: string): string {
  return 'resolved' in node && node.resolved !== null ? `${vmPrefix}${node.resolved}` : asWritten;
}

/**
 * Each VM with errors of its own -> `invalid (rule, ...)`, and the first
 * path of each rule: one pass over the diagnostics, not one per skipped VM.
 */
function invalidReasons(diagnostics: readonly Diagnostic[]): { reasons: Map<string, string>; problems: Map<string, SkippedProblem[]> } {
  const rules = new Map<string, Map<string, string>>();
  for (const d of diagnostics) {
    if (d.severity !== 'error' || d.vm === null) continue;
    let byRule = rules.get(d.vm);
    if (byRule === undefined) rules.set(d.vm, (byRule = new Map()));
    const first = byRule.get(d.rule);
    if (first === undefined || compareBytes(d.path, first) < 0) byRule.set(d.rule, d.path);
  }
  const reasons = new Map<string, string>();
  const problems = new Map<string, SkippedProblem[]>();
  for (const [vm, byRule] of rules) {
    const sorted = sortedBytewise([...byRule.keys()]);
    reasons.set(vm, `invalid (${sorted.join(', ')})`);
    problems.set(vm, sorted.map((rule) => ({ rule, path: byRule.get(rule)! })));
  }
  return { reasons, problems };
}

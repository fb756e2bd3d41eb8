/**
 * The generated tree as the admin commands read it: the `--out` dir's
 * vmsvc-manifest.json, shape-checked, with older manifests read as current
 * ones, what it says of the VMs and the graph between them, and a service's
 * name lists. Never the data dir: the tree may have been generated elsewhere
 * (an image build), and the data dir may have changed since; what runs is
 * what was generated. Everything is read as untrusted (util/untrusted.ts):
 * anyone may have edited the tree.
 */
import * as path from 'node:path';
import { compareBytes, printable } from '../util/bytes.js';
import { nameList } from '../s6rc/format.js';
import type { Link } from '../pipeline/links.js';
import { MANIFEST_FILE, type Manifest, type ManifestRefused, type ManifestVm } from '../pipeline/manifest.js';
import { clientGraph, findCycles, reachable, startLevels, type ProviderGraph } from '../util/provider-graph.js';
import { CommandError, EXIT, UsageError } from '../command/shell.js';
import { listUntrusted, readUntrusted } from '../util/untrusted.js';
import { isSettingFile, isVmSettings, type SettingFile, type VmSettings } from '../rules/settings.js';
import { SETTING_KEYS, SETTINGS } from '../rules/setting-registry.js';
import type { CgroupData } from '../pipeline/cgroup.js';

/**
 * A generated tree whose manifest was read and checked: every provider is a
 * VM of the manifest, the provider graph has no cycle (so every walk over it
 * ends), and every service name is one file name (so no path built from one
 * leaves the tree).
 */
export interface Tree {
  /** The source dir as given (the --out path). */
  readonly source: string;
  readonly manifest: AdminManifest;
}

/**
 * More than any manifest vmsvc writes: about 1 KiB per VM and 0.3 KiB per
 * link at the default --max-vms (16384) and the 65534 links, with long names.
 */
export const MANIFEST_MAX_BYTES = 256 * 1024 * 1024;
/** A service's list file (dependencies, contents): far more than thousands of names. */
const NAME_LIST_MAX_BYTES = 16 * 1024 * 1024;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');

/**
 * Reads and shape-checks `<source>/vmsvc-manifest.json`. Throws CommandError
 * (exit 1; 111 when it cannot be read). Manifests from before the VMM backends (an `apiSocket`, no
 * `consoleSocket`, no `vmm`) are read as cloud-hypervisor ones whose console
 * socket, if any, would be `<runtimeDir>/console.sock`.
 */
export function readTree(source: string): Tree {
  const file = path.join(source, MANIFEST_FILE);
  const read = readUntrusted(source, [MANIFEST_FILE], MANIFEST_MAX_BYTES);
  if (read.kind === 'missing') throw new CommandError(`cannot read ${printable(file)}: no such file: is this a tree vmsvc generated (the --out dir)?`, EXIT.failed);
  if (read.kind === 'refused') throw new CommandError(`cannot read the manifest: ${printable(read.why)}`, EXIT.failed);
  let parsed: unknown;
  try {
    parsed = JSON.parse(read.data.toString('utf8'));
  } catch (e) {
    throw new CommandError(`${printable(file)} is not valid JSON: ${printable(e instanceof Error ? e.message : String(e))}`, EXIT.failed);
  }
  assertManifest(parsed, file);
  const manifest = normalized(parsed);
  const graphProblem = providerGraphProblem(manifest);
  if (graphProblem !== null) throw new CommandError(`${printable(file)}: ${graphProblem}; no tree vmsvc writes has one, so this one was edited`, EXIT.failed);
  return { source, manifest };
}

/** A self-provider or a cycle: s6-rc could not start such VMs, and walks over the graph would not end. */
function providerGraphProblem(manifest: AdminManifest): string | null {
  const graph = providerGraph(manifest);
  for (const [vm, providers] of graph) {
    if (providers.includes(vm)) return `VM ${printable(vm)} is its own provider`;
  }
  const cycles = findCycles(graph);
  return cycles.length === 0 ? null : `the provider graph has a cycle: ${cycles[0]!.map(printable).join(' -> ')}`;
}

/** One name in the tree's top directory: what a service name must be for a path built from it to stay there. */
function isFileName(v: unknown): v is string {
  return typeof v === 'string' && v !== '' && v !== '.' && v !== '..' && !v.includes('/') && !v.includes('\0');
}

/**
 * A manifest as manifestProblem accepts it: the current spelling or an older
 * one (apiSocket for controlSocket, no consoleSocket, no vmm, no needs).
 */
type ReadManifest = Omit<Manifest, 'vmm' | 'vms' | 'skipped' | 'held'> & {
  readonly vmm?: string;
  readonly vms: ReadonlyArray<Omit<ManifestVm, 'controlSocket' | 'consoleSocket' | 'settings' | 'settingFiles' | 'cgroup'> & {
    readonly controlSocket?: unknown;
    readonly apiSocket?: string;
    readonly consoleSocket?: string | null;
    /** An object without every setting of today's registry: from a vmsvc before some of them (read as unknown). */
    readonly settings?: object;
    readonly cgroup?: CgroupData | null;
    readonly settingFiles?: readonly SettingFile[];
  }>;
  readonly skipped: readonly OlderRefused[];
  readonly held?: readonly ManifestRefused[];
};

/** A skipped entry from before `needs` and `problems`. */
type OlderRefused = Omit<ManifestRefused, 'needs' | 'problems'> & { readonly needs?: string | null; readonly problems?: ManifestRefused['problems'] };

function assertManifest(m: unknown, file: string): asserts m is ReadManifest {
  const problem = manifestProblem(m);
  if (problem !== null) throw new CommandError(`${printable(file)}: ${problem}`, EXIT.failed);
}

/**
 * A VM as a manifest lists it; `settings` null: written by a vmsvc from
 * before per-VM settings (or before one of today's), which did not record
 * what the VM runs with; `cgroup` null: none, or from before cgroups.
 */
export type AdminVm = Omit<ManifestVm, 'settings' | 'settingFiles'> & {
  readonly settings: VmSettings | null;
  readonly settingFiles: readonly SettingFile[];
};

/**
 * A manifest names its VMM as untrusted text: any string, which vmmNamed() may not know.
 * `held`: empty when the manifest has none (a tree nothing was held in, or from before holds).
 */
export type AdminManifest = Omit<Manifest, 'vmm' | 'vms' | 'held'> & { readonly vmm: string; readonly vms: readonly AdminVm[]; readonly held: readonly ManifestRefused[] };

function normalized(m: ReadManifest): AdminManifest {
  const vms = m.vms.map(({ apiSocket, controlSocket, consoleSocket, settings, settingFiles, cgroup, ...vm }): AdminVm => ({
    ...vm,
    settings: isVmSettings(settings) ? settings : null,
    cgroup: cgroup ?? null,
    settingFiles: settingFiles ?? [],
    // manifestProblem makes sure one of the two is a string.
    controlSocket: typeof controlSocket === 'string' ? controlSocket : apiSocket ?? '',
    consoleSocket: consoleSocket === undefined ? path.join(vm.runtimeDir, 'console.sock') : consoleSocket,
  }));
  const skipped = m.skipped.map((s) => ({ ...s, needs: s.needs ?? null, problems: s.problems ?? [] }));
  return { ...m, vmm: m.vmm ?? 'cloud-hypervisor', vms, skipped, held: m.held ?? [] };
}

function manifestProblem(m: unknown): string | null {
  if (!isObject(m) || m['generator'] !== 'vmsvc') return 'not a vmsvc manifest';
  if (m['formatVersion'] !== 1) return `unsupported formatVersion ${printable(String(JSON.stringify(m['formatVersion'])))} (this vmsvc reads 1)`;
  const vms = m['vms'];
  const links = m['links'];
  const skipped = m['skipped'];
  if (!Array.isArray(vms) || !Array.isArray(links) || !Array.isArray(skipped)) return 'vms, links and skipped must be lists';
  const names = new Set<string>();
  for (const vm of vms) {
    if (!isObject(vm) || typeof vm['name'] !== 'string') return 'a VM without a name';
    const services = vm['services'];
    const vmLinks = vm['links'];
    const control = typeof vm['controlSocket'] === 'string' || typeof vm['apiSocket'] === 'string';
    const consoleOk = !('consoleSocket' in vm) || vm['consoleSocket'] === null || typeof vm['consoleSocket'] === 'string';
    if (!isObject(services) || !isFileName(services['vm']) || !isFileName(services['logger']) || !isFileName(services['pipeline'])
      || typeof vm['runtimeDir'] !== 'string' || !control || !consoleOk || typeof vm['logDir'] !== 'string'
      || typeof vm['kernel'] !== 'string' || !isStringArray(vm['disks']) || !isStringArray(vm['providers'])
      || !isObject(vmLinks) || !Array.isArray(vmLinks['asClient']) || !Array.isArray(vmLinks['asProvider'])) {
      return `VM ${printable(vm['name'])}: missing or malformed fields`;
    }
    if (('settings' in vm && !isVmSettings(vm['settings']) && !isOlderSettings(vm['settings'])) || ('settingFiles' in vm && !isSettingFileList(vm['settingFiles']))) {
      return `VM ${printable(vm['name'])}: malformed settings`;
    }
    if ('cgroup' in vm && vm['cgroup'] !== null && !isCgroup(vm['cgroup'])) {
      return `VM ${printable(vm['name'])}: malformed cgroup`;
    }
    if (names.has(vm['name'])) return `VM ${printable(vm['name'])} is listed twice`;
    names.add(vm['name']);
  }
  for (const vm of vms as Array<{ name: string; providers: string[] }>) {
    const unknown = vm.providers.find((p) => !names.has(p));
    if (unknown !== undefined) return `VM ${printable(vm.name)} needs provider ${printable(unknown)}, which the manifest does not list`;
  }
  for (const l of links) {
    if (!isObject(l) || typeof l['n'] !== 'number' || typeof l['client'] !== 'string' || typeof l['provider'] !== 'string'
      || typeof l['clientMac'] !== 'string' || typeof l['providerMac'] !== 'string' || typeof l['clientIp'] !== 'string'
      || typeof l['bridge'] !== 'string' || typeof l['clientTap'] !== 'string' || typeof l['providerTap'] !== 'string' || !isFileName(l['service'])) {
      return 'a malformed link';
    }
  }
  for (const s of skipped) {
    if (!isObject(s) || typeof s['name'] !== 'string' || typeof s['reason'] !== 'string'
      || !(s['needs'] === undefined || s['needs'] === null || typeof s['needs'] === 'string')
      || !(s['problems'] === undefined || isProblemList(s['problems']))) return 'a malformed skipped entry';
  }
  const held = m['held'] ?? [];
  if (!Array.isArray(held)) return 'held must be a list';
  for (const h of held) {
    if (!isObject(h) || typeof h['name'] !== 'string' || typeof h['reason'] !== 'string' || !(h['needs'] === null || typeof h['needs'] === 'string')
      || !isProblemList(h['problems'])) return 'a malformed held entry';
    if (!names.has(h['name'])) return `held VM ${printable(h['name'])} is not a VM of the manifest`;
  }
  return null;
}

function isProblemList(v: unknown): v is Array<{ rule: string; path: string }> {
  return Array.isArray(v) && v.every((x) => isObject(x) && typeof x['rule'] === 'string' && typeof x['path'] === 'string');
}

/** Settings from a vmsvc that had fewer: an object that lacks some of today's, and whose others are right. */
function isOlderSettings(v: unknown): boolean {
  if (!isObject(v)) return false;
  const present = SETTING_KEYS.filter((k) => k in v);
  return present.length < SETTING_KEYS.length && present.every((k) => SETTINGS[k].isValue(v[k]));
}

function isCgroup(v: unknown): v is CgroupData {
  return isObject(v) && typeof v['dir'] === 'string' && typeof v['parent'] === 'string' && Array.isArray(v['limits'])
    && v['limits'].every((l) => isObject(l) && typeof l['file'] === 'string' && typeof l['value'] === 'string' && typeof l['setting'] === 'string' && isSettingFile(l['setting']));
}

function isSettingFileList(v: unknown): v is SettingFile[] {
  return Array.isArray(v) && v.every((f) => typeof f === 'string' && isSettingFile(f));
}

/** A VM the manifest lists as skipped, with where its logs from an earlier run would be. */
export interface SkippedVmEntry {
  readonly name: string;
  readonly reason: string;
  readonly problems: ReadonlyArray<{ readonly rule: string; readonly path: string }>;
  /** NAME below the log root apply recorded; null when that root is unknown (no apply record) or the name is no file name. */
  readonly logDir: string | null;
}

/**
 * The VM called `name`, or the skipped one of that name: show and logs
 * still have something to say about a VM skipped as invalid, whose logs
 * from before it broke are where its log dir was. Unknown: UsageError (exit 100).
 */
export function findAnyVm(tree: Tree, name: string, logRoot: string | null): { vm: AdminVm } | { skipped: SkippedVmEntry } {
  const vm = tree.manifest.vms.find((v) => v.name === name);
  if (vm !== undefined) return { vm };
  const s = tree.manifest.skipped.find((x) => x.name === name);
  if (s === undefined) return { vm: findVm(tree, name) };
  return { skipped: { name: s.name, reason: s.reason, problems: s.problems, logDir: logRoot === null || !isFileName(s.name) ? null : path.join(logRoot, s.name) } };
}

/**
 * The VM called `name`. Unknown: UsageError (exit 100); skipped when the tree
 * was generated (--keep-going): CommandError exit 1 with the reason.
 */
export function findVm(tree: Tree, name: string): AdminVm {
  const vm = tree.manifest.vms.find((v) => v.name === name);
  if (vm !== undefined) return vm;
  const skipped = tree.manifest.skipped.find((s) => s.name === name);
  if (skipped !== undefined) {
    throw new CommandError(`VM ${printable(name)} is not in ${printable(tree.source)}: it was skipped when the tree was generated (${printable(skipped.reason)})`, EXIT.failed);
  }
  const known = tree.manifest.vms.map((v) => printable(v.name)).join(', ');
  throw new UsageError(`no VM ${printable(name)} in ${printable(tree.source)} (VMs: ${known === '' ? 'none' : known})`);
}

/** Why the VM runs its last good definition (apply held it), or null when it runs its newest one. */
export function heldEntry(tree: Tree, vm: AdminVm): ManifestRefused | null {
  return tree.manifest.held.find((h) => h.name === vm.name) ?? null;
}

/** The VM's links in both roles, as recorded in the manifest. */
export function linksOfVm(tree: Tree, vm: AdminVm): { asClient: Link[]; asProvider: Link[] } {
  const byN = new Map(tree.manifest.links.map((l) => [l.n as number, l]));
  const pick = (ns: readonly number[]) => ns.map((n) => byN.get(n)).filter((l): l is Link => l !== undefined);
  return { asClient: pick(vm.links.asClient), asProvider: pick(vm.links.asProvider) };
}

/** The VM's own addresses: the client IP of every link on which it is the client. */
export function addressesOf(tree: Tree, vm: AdminVm): string[] {
  return linksOfVm(tree, vm).asClient.map((l) => l.clientIp);
}

/** client -> providers over the VMs in the tree (skipped VMs are not in it). */
export function providerGraph(manifest: AdminManifest): ProviderGraph {
  return new Map(manifest.vms.map((vm) => [vm.name, [...vm.providers].sort(compareBytes)]));
}

/**
 * Every VM that needs `name`, directly or through other VMs: what s6-rc
 * stops along with it. Ordered as they start (by start level, then name).
 */
export function clientsOf(manifest: AdminManifest, name: string): string[] {
  const graph = providerGraph(manifest);
  return inStartOrder(graph, reachable(clientGraph(graph), name));
}

/** Every VM `name` needs, directly or through other VMs: what s6-rc starts before it, in start order. */
export function providersOf(manifest: AdminManifest, name: string): string[] {
  const graph = providerGraph(manifest);
  return inStartOrder(graph, reachable(graph, name));
}

function inStartOrder(graph: ProviderGraph, names: readonly string[]): string[] {
  const levels = startLevels(graph);
  return [...names].sort((a, b) => (levels.get(a) ?? 0) - (levels.get(b) ?? 0) || compareBytes(a, b));
}

/**
 * One list file or `X.d/` directory of a source service (dependencies,
 * contents): names, sorted. Read as untrusted (the tree may be edited): the
 * service dir and what is in it are never links, the file is bounded.
 */
export function readNameList(serviceDir: string, base: string): string[] {
  const root = path.dirname(serviceDir);
  const service = path.basename(serviceDir);
  const listed = listUntrusted(root, [service, `${base}.d`]);
  if (listed.kind === 'ok') return listed.names.sort(compareBytes);
  if (listed.kind === 'refused') throw new CommandError(printable(listed.why), EXIT.failed);
  const read = readUntrusted(root, [service, base], NAME_LIST_MAX_BYTES);
  if (read.kind === 'missing') return [];
  if (read.kind === 'refused') throw new CommandError(printable(read.why), EXIT.failed);
  return nameList(read.data).names.sort(compareBytes);
}

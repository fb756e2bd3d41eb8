/**
 * What the admin commands know: the manifest of a GENERATED tree (the
 * `--out` dir's vmsvc-manifest.json and its service directories) and the LIVE
 * state of the services under s6 (`s6-svstat`, `s6-svdt` on the service
 * directories in the scandir). Never the data dir: the tree may have been
 * generated elsewhere (an image build), and the data dir may have changed
 * since; what runs is what was generated.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { compareBytes, printable, terminalJson } from '../util/bytes.js';
import { spawnRunner, type CommandRunner } from '../util/command-runner.js';
import { lexExecline } from '../s6rc/execline-lex.js';
import { nameList } from '../s6rc/format.js';
import type { Link } from '../pipeline/links.js';
import { MANIFEST_FILE, type Manifest, type ManifestVm } from '../pipeline/plan.js';
import { clientGraph, findCycles, reachable, startLevels, type ProviderGraph } from '../util/provider-graph.js';
import { CommandError, EXIT, UsageError } from '../command/shell.js';
import { listUntrusted, readUntrusted } from '../util/untrusted.js';
import { isSettingFile, isVmSettings, type SettingFile, type VmSettings } from '../rules/settings.js';

// ---------------------------------------------------------------------------
// The generated tree

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
type ReadManifest = Omit<Manifest, 'vmm' | 'vms' | 'skipped'> & {
  readonly vmm?: string;
  readonly vms: ReadonlyArray<Omit<ManifestVm, 'controlSocket' | 'consoleSocket' | 'settings' | 'settingFiles'> & {
    readonly controlSocket?: unknown;
    readonly apiSocket?: string;
    readonly consoleSocket?: string | null;
    readonly settings?: VmSettings;
    readonly settingFiles?: readonly SettingFile[];
  }>;
  readonly skipped: ReadonlyArray<{ readonly name: string; readonly reason: string; readonly needs?: string | null; readonly problems?: ReadonlyArray<{ readonly rule: string; readonly path: string }> }>;
};

function assertManifest(m: unknown, file: string): asserts m is ReadManifest {
  const problem = manifestProblem(m);
  if (problem !== null) throw new CommandError(`${printable(file)}: ${problem}`, EXIT.failed);
}

/**
 * A VM as a manifest lists it; `settings` null: written by a vmsvc from
 * before per-VM settings, which did not record what the VM runs with.
 */
export type AdminVm = Omit<ManifestVm, 'settings' | 'settingFiles'> & {
  readonly settings: VmSettings | null;
  readonly settingFiles: readonly SettingFile[];
};

/** A manifest names its VMM as untrusted text: any string, which vmmNamed() may not know. */
export type AdminManifest = Omit<Manifest, 'vmm' | 'vms'> & { readonly vmm: string; readonly vms: readonly AdminVm[] };

function normalized(m: ReadManifest): AdminManifest {
  const vms = m.vms.map(({ apiSocket, controlSocket, consoleSocket, settings, settingFiles, ...vm }): AdminVm => ({
    ...vm,
    settings: settings ?? null,
    settingFiles: settingFiles ?? [],
    // manifestProblem makes sure one of the two is a string.
    controlSocket: typeof controlSocket === 'string' ? controlSocket : apiSocket ?? '',
    consoleSocket: consoleSocket === undefined ? path.join(vm.runtimeDir, 'console.sock') : consoleSocket,
  }));
  const skipped = m.skipped.map((s) => ({ ...s, needs: s.needs ?? null, problems: s.problems ?? [] }));
  return { ...m, vmm: m.vmm ?? 'cloud-hypervisor', vms, skipped };
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
    if (('settings' in vm && !isVmSettings(vm['settings'])) || ('settingFiles' in vm && !isSettingFileList(vm['settingFiles']))) {
      return `VM ${printable(vm['name'])}: malformed settings`;
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
  return null;
}

function isProblemList(v: unknown): v is Array<{ rule: string; path: string }> {
  return Array.isArray(v) && v.every((x) => isObject(x) && typeof x['rule'] === 'string' && typeof x['path'] === 'string');
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

// ---------------------------------------------------------------------------
// The VMM command line, read back from the generated run script

/** s6-notifyoncheck's options that take an argument (its usage: -d -3 fd -s -T -t -w -n -c). */
const NOTIFYONCHECK_ARG_OPTIONS = new Set(['3', 's', 'T', 't', 'w', 'n', 'c']);
const NOTIFYONCHECK_FLAGS = new Set(['d']);

export type VmmArgvResult =
  /**
   * user: the account s6-setuidgid switches to before the VMM, or "uid N"
   * (s6-applyuidgid); null when it runs as root. ids: s6-applyuidgid's -u
   * and -g, when both are numbers.
   */
  | { ok: true; argv: string[]; user: string | null; ids: VmmIds | null }
  | { ok: false; error: string };

/**
 * The VMM's argv (program first) from a VM's run script. The script is lexed
 * whole, exactly as execlineb does (lexExecline); the VMM is what
 * s6-notifyoncheck execs: the words after its options. The
 * s6-notifyoncheck word is the first top-level word (words inside `{ }`
 * blocks get leading spaces) whose base name is `s6-notifyoncheck`; its
 * options are read the way skarnet's getopt does (clustered flags, `-w100`
 * or `-w 100`, `--` ends them). The drop of root in front of the VMM
 * (`s6-setuidgid USER`, `s6-applyuidgid -u UID -g GID -G LIST`) is taken
 * off and reported as `user`, and so is the sandbox after it (`bwrap
 * OPTIONS --`). No s6-notifyoncheck, or
 * nothing after it: an error, never a guess.
 */
export function vmmArgvFromRunScript(script: string): VmmArgvResult {
  const lexed = lexExecline(script);
  if (!lexed.ok) return { ok: false, error: `the run script does not lex: ${lexed.error} at offset ${lexed.offset}` };
  const words = lexed.argv;
  const at = words.findIndex((w) => !w.startsWith(' ') && path.posix.basename(w) === 's6-notifyoncheck');
  if (at < 0) return { ok: false, error: 'the run script does not run s6-notifyoncheck, so its VMM command line is unknown' };
  let i = at + 1;
  options: while (i < words.length) {
    const w = words[i]!;
    if (w === '--') {
      i++;
      break;
    }
    if (!w.startsWith('-') || w === '-') break;
    for (let j = 1; j < w.length; j++) {
      const opt = w[j]!;
      if (NOTIFYONCHECK_ARG_OPTIONS.has(opt)) {
        // The rest of the word is the argument, else the next word is.
        i += j + 1 < w.length ? 1 : 2;
        if (i > words.length) return { ok: false, error: `s6-notifyoncheck option -${opt} has no argument` };
        continue options;
      }
      if (!NOTIFYONCHECK_FLAGS.has(opt)) return { ok: false, error: `unknown s6-notifyoncheck option -${opt}` };
    }
    i++;
  }
  const drop = dropOf(words, skipOpens(words, i));
  if ('error' in drop) return { ok: false, error: drop.error };
  const sandbox = sandboxOf(words, drop.next);
  if ('error' in sandbox) return { ok: false, error: sandbox.error };
  const argv = words.slice(sandbox.next);
  if (argv.length === 0) return { ok: false, error: `${sandbox.next > drop.next ? 'bwrap' : drop.user === null ? 's6-notifyoncheck' : drop.program} runs no program` };
  return { ok: true, argv, user: drop.user, ids: drop.ids };
}

/** unshare's options that take their argument as the next word (util-linux). */
const UNSHARE_ARG_OPTIONS = new Set(['--propagation', '--setgroups', '--map-user', '--map-group', '--root', '--wd']);

/**
 * Past root's opens before the drop (templates/common/open-files.hbs): an
 * `unshare` and its options, `if { ... }` blocks, `redirfd -MODE FD FILE`
 * and `fdclose FD`.
 * The VMM's files are handed over there, not part of its argv.
 */
function skipOpens(words: readonly string[], i: number): number {
  for (;;) {
    const program = i < words.length ? path.posix.basename(words[i]!) : '';
    if (program === 'unshare') {
      i++;
      while (i < words.length && words[i]!.startsWith('-')) i += UNSHARE_ARG_OPTIONS.has(words[i]!) ? 2 : 1;
    } else if (program === 'if') {
      // A block's words start with a space; an empty word ends it (lexExecline).
      i++;
      while (i < words.length && !(words[i]!.startsWith(' ') || words[i] === '')) i++;
      while (i < words.length && words[i] !== '') i++;
      i++;
    } else if (program === 'redirfd') {
      i++;
      while (i < words.length && words[i]!.startsWith('-')) i++;
      i += 2;
    } else if (program === 'fdclose') {
      i += 2;
    } else {
      return i;
    }
  }
}

/**
 * bwrap's options by how many arguments each takes (bubblewrap 0.8's
 * usage): read by count, so that an argument is never taken for the `--`
 * that ends them.
 */
const BWRAP_ARITY: ReadonlyMap<string, number> = new Map([
  ...['--unshare-all', '--share-net', '--unshare-user', '--unshare-user-try', '--unshare-ipc', '--unshare-pid', '--unshare-net', '--unshare-uts',
    '--unshare-cgroup', '--unshare-cgroup-try', '--disable-userns', '--assert-userns-disabled', '--clearenv', '--new-session', '--die-with-parent',
    '--as-pid-1'].map((o) => [o, 0] as const),
  ...['--userns', '--userns2', '--pidns', '--uid', '--gid', '--hostname', '--chdir', '--unsetenv', '--lock-file', '--sync-fd', '--remount-ro',
    '--exec-label', '--file-label', '--proc', '--dev', '--tmpfs', '--mqueue', '--dir', '--seccomp', '--add-seccomp-fd', '--block-fd',
    '--userns-block-fd', '--info-fd', '--json-status-fd', '--cap-add', '--cap-drop', '--perms', '--size', '--argv0'].map((o) => [o, 1] as const),
  ...['--setenv', '--bind', '--bind-try', '--dev-bind', '--dev-bind-try', '--ro-bind', '--ro-bind-try', '--bind-fd', '--ro-bind-fd',
    '--file', '--bind-data', '--ro-bind-data', '--symlink', '--chmod'].map((o) => [o, 2] as const),
]);

/**
 * The sandbox the VMM runs in, at words[i], if any (pipeline/sandbox.ts):
 * bwrap and its options up to its `--`. Where the VMM's argv starts after it.
 */
function sandboxOf(words: readonly string[], i: number): { next: number } | { error: string } {
  if (i >= words.length || path.posix.basename(words[i]!) !== 'bwrap') return { next: i };
  for (let j = i + 1; j < words.length;) {
    const w = words[j]!;
    if (w === '--') return { next: j + 1 };
    const arity = BWRAP_ARITY.get(w);
    if (arity === undefined) return { error: `bwrap: unexpected ${w}` };
    if (j + arity >= words.length) return { error: `bwrap option ${w} has too few arguments` };
    j += arity + 1;
  }
  return { error: 'bwrap has no -- before the VMM' };
}

export interface VmmIds {
  readonly uid: number;
  readonly gid: number;
}

/** s6-applyuidgid's options that take an argument, and its flags (its usage: -z -U -u uid -g gid -G gidlist). */
const APPLYUIDGID_ARG_OPTIONS = new Set(['-u', '-g', '-G']);
const APPLYUIDGID_FLAGS = new Set(['-z', '-U']);

/**
 * The drop of root at words[i], if any (pipeline/identities.ts dropArgv):
 * `s6-setuidgid ACCOUNT` gives the account, `s6-applyuidgid -u UID ...`
 * "uid UID". Where the VMM's argv starts after it.
 */
function dropOf(words: readonly string[], i: number): { next: number; user: string | null; ids: VmmIds | null; program: string } | { error: string } {
  const program = i < words.length ? path.posix.basename(words[i]!) : '';
  if (program === 's6-setuidgid') {
    if (i + 1 >= words.length) return { error: 's6-setuidgid has no account' };
    return { next: i + 2, user: words[i + 1]!, ids: null, program };
  }
  if (program !== 's6-applyuidgid') return { next: i, user: null, ids: null, program };
  let uid: string | null = null;
  let gid: string | null = null;
  let j = i + 1;
  for (; j < words.length && words[j]!.startsWith('-'); j++) {
    const w = words[j]!;
    if (APPLYUIDGID_FLAGS.has(w)) continue;
    if (!APPLYUIDGID_ARG_OPTIONS.has(w) || j + 1 >= words.length) return { error: `s6-applyuidgid: unexpected ${w}` };
    if (w === '-u') uid = words[j + 1]!;
    if (w === '-g') gid = words[j + 1]!;
    j++;
  }
  const ids = uid !== null && gid !== null && /^[0-9]+$/.test(uid) && /^[0-9]+$/.test(gid) ? { uid: Number(uid), gid: Number(gid) } : null;
  return { next: j, user: uid === null ? null : `uid ${uid}`, ids, program };
}

// ---------------------------------------------------------------------------
// Live state

/** Where the live services are: s6-rc's scandir and the s6-rc-init -p prefix of their names. */
export interface LiveLocation {
  readonly scandir: string;
  readonly prefix?: string;
}

export function liveServiceDir(live: LiveLocation, service: string): string {
  return path.join(live.scandir, `${live.prefix ?? ''}${service}`);
}

/**
 * - missing: no such service directory in the scandir (not loaded by s6-rc, or another prefix);
 * - unsupervised: the directory exists but no s6-supervise runs on it;
 * - down / up / ready: as s6-svstat reports (ready: up and readiness notified);
 * - failed: down, and its supervisor will not restart it although the service
 *   is meant to run: s6-rc removes the service's ./down file when it brings it
 *   up and puts it back when it takes it down, so "normally up" is s6-rc's
 *   belief, and "not wanted up" is s6-supervise's. The finish script's
 *   s6-permafailon (a crash loop) gets there; so does an s6-svc -d run by hand,
 *   outside s6-rc. Either way s6-rc still counts it as up, and only
 *   `vmsvc start` brings it back.
 */
export type LiveStateName = 'missing' | 'unsupervised' | 'down' | 'failed' | 'up' | 'ready';

/** Not running, or not known to run: a running client whose provider is so has no network through it. */
export const isStopped = (s: LiveStateName): boolean => s === 'down' || s === 'failed' || s === 'missing' || s === 'unsupervised';

export interface LiveState {
  readonly service: string;
  readonly dir: string;
  readonly state: LiveStateName;
  /** Process id while up. */
  readonly pid: number | null;
  /** Seconds in the current up or down state (s6-svstat updownfor). */
  readonly forSeconds: number | null;
  /** Seconds up; null when not up. */
  readonly uptimeSeconds: number | null;
  readonly wantedUp: boolean | null;
  readonly normallyUp: boolean | null;
  /** How the last process ended, when down: exit code or signal name. */
  readonly lastExit: { readonly code: number | null; readonly signal: string | null } | null;
  /**
   * Process deaths s6-supervise recorded (s6-svdt): every end of the process
   * since the last stop (a VM's finish script clears the tally after a death
   * not wanted up) or since the supervisor started, capped by
   * max-death-tally (default 100). Null when unavailable.
   */
  readonly deaths: number | null;
  /** What s6-svstat said when it could not report. */
  readonly detail: string | null;
}

const SVSTAT_FIELDS = ['up', 'wantedup', 'normallyup', 'ready', 'pid', 'exitcode', 'signal', 'updownfor'] as const;

/** The state of one service, from `s6-svstat -o ...` and `s6-svdt` (s6 2.11). */
export async function liveState(live: LiveLocation, service: string, runner: CommandRunner = spawnRunner): Promise<LiveState> {
  const dir = liveServiceDir(live, service);
  const base = { service, dir, pid: null, forSeconds: null, uptimeSeconds: null, wantedUp: null, normallyUp: null, lastExit: null, deaths: null } as const;
  if (!fs.existsSync(dir)) return { ...base, state: 'missing', detail: `no directory ${dir}` };
  const r = await runner.run(['s6-svstat', '-o', SVSTAT_FIELDS.join(','), dir]);
  if (r.code !== 0) return { ...base, state: 'unsupervised', detail: (r.stderr.trim() || `s6-svstat exited ${r.code}`) };
  const f = r.stdout.trim().split(/\s+/);
  if (f.length !== SVSTAT_FIELDS.length) return { ...base, state: 'unsupervised', detail: `unexpected s6-svstat output: ${r.stdout.trim()}` };
  const [up, wantedUp, normallyUp, ready, pid, exitCode, signal, updownfor] = f as [string, string, string, string, string, string, string, string];
  const isUp = up === 'true';
  const failed = !isUp && wantedUp === 'false' && normallyUp === 'true';
  const forSeconds = Number.parseInt(updownfor, 10);
  const dt = await runner.run(['s6-svdt', dir]);
  const deaths = dt.code === 0 ? dt.stdout.split('\n').filter((l) => l.trim() !== '').length : null;
  return {
    ...base,
    state: isUp ? (ready === 'true' ? 'ready' : 'up') : failed ? 'failed' : 'down',
    pid: isUp && Number.parseInt(pid, 10) > 0 ? Number.parseInt(pid, 10) : null,
    forSeconds: Number.isFinite(forSeconds) ? forSeconds : null,
    uptimeSeconds: isUp && Number.isFinite(forSeconds) ? forSeconds : null,
    wantedUp: wantedUp === 'true',
    normallyUp: normallyUp === 'true',
    lastExit: isUp ? null : {
      code: Number.parseInt(exitCode, 10) >= 0 ? Number.parseInt(exitCode, 10) : null,
      signal: signal === 'NA' ? null : signal,
    },
    deaths,
    detail: null,
  };
}

// ---------------------------------------------------------------------------
// Formatting

/** 0s, 59s, 1m05s, 2h03m, 3d04h. */
export function formatDuration(seconds: number | null): string {
  if (seconds === null) return '-';
  const d = Math.floor(seconds / 86400);
  const h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  const two = (n: number) => String(n).padStart(2, '0');
  if (d > 0) return `${d}d${two(h)}h`;
  if (h > 0) return `${h}h${two(m)}m`;
  if (m > 0) return `${m}m${two(s)}s`;
  return `${s}s`;
}

/** `key: value` lines with the values aligned. */
export function keyValues(pairs: ReadonlyArray<readonly [string, string]>, indent = ''): string {
  const width = Math.max(0, ...pairs.map(([k]) => k.length + 1));
  return pairs.map(([k, v]) => `${indent}${`${k}:`.padEnd(width)}  ${v}`.trimEnd() + '\n').join('');
}

/** Every admin command's --json output. */
export function json(value: unknown): string {
  return `${terminalJson(value, 2)}\n`;
}

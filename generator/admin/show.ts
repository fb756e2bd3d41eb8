/** `vmsvc show NAME`: everything the generated tree and the live state say about one VM. */
import * as path from 'node:path';
import { hasTerminalUnsafe, printable } from '../util/bytes.js';
import { clientsOf, findAnyVm, findVm, heldEntry, linksOfVm, readNameList, readTree, type AdminVm, type Tree } from './tree.js';
import type { ManifestRefused } from '../pipeline/manifest.js';
import { whyRefused } from '../pipeline/report.js';
import { vmmArgvFromRunScript, type VmmIds } from './vmm-argv.js';
import { isStopped, liveState, type LiveState, type LiveStateName } from './live-state.js';
import { formatDuration, json, keyValues } from './output.js';
import { spawnRunner, type CommandRunner } from '../util/command-runner.js';
import { alignedTable } from '../util/table.js';
import { describeExit } from './exit-reason.js';
import { VMM_MESSAGE_LINES, vmmMessages, type VmmMessages } from './vmm-messages.js';
import { CommandError, EXIT, guard, type Io } from '../command/shell.js';
import { isSocket, readUntrusted } from '../util/untrusted.js';
import { defaultFrom, SETTING_KEYS, settingKeyOf, SETTINGS, shownSetting, type SettingFile, type VmSettings } from '../rules/setting-registry.js';
import { ProcTable, vmUsage, type VmUsage } from './usage.js';

/**
 * Arguments of `vmsvc show NAME`.
 *
 * - `source`: the generated source tree (the --out path); read: its manifest,
 *   the VM's service directories (type, dependencies.d, run).
 * - `scandir`, `prefix`: where the live service directories are (s6-rc's
 *   scandir and its s6-rc-init -p prefix, default '').
 * - `logDir`: the root of the log dirs apply recorded (null: unknown), where
 *   a VM skipped as invalid had its logs.
 * - `name`: the VM.
 * - `json`: print a ShowResult (a ShowSkipped for a skipped VM) as JSON
 *   instead of the readable report.
 *
 * Exit codes: 0 shown (an unreadable VMM command line is shown as such; a
 * skipped VM with why, the files at fault and its log dir); 1 the VM's or
 * its logger's `type` is missing or not longrun, or a manifest vmsvc did not
 * write (an edited tree); 100 no such VM; 111 the manifest cannot be read.
 */
export interface ShowArgs {
  readonly source: string;
  readonly scandir: string;
  readonly prefix?: string;
  readonly logDir?: string | null;
  readonly name: string;
  readonly json: boolean;
}

export interface ShowService {
  readonly name: string;
  /** From the source dir's `type`; 'bundle' for the pipeline s6-rc-compile makes; 'missing' if absent. */
  readonly type: string;
  /** dependencies.d (or dependencies) of the source service; for the pipeline bundle, its contents. */
  readonly dependencies: readonly string[];
  /** Live state of longruns; null for oneshots and bundles (s6-rc keeps their state in its live dir). */
  readonly live: LiveState | null;
}

export interface ShowLink {
  readonly n: number;
  /** This VM's role on the link. */
  readonly role: 'client' | 'provider';
  readonly peer: string;
  /** This VM's MAC on the link, and the peer's. */
  readonly mac: string;
  readonly peerMac: string;
  /** The client's IP (the client VM's address on this link). */
  readonly clientIp: string;
  readonly bridge: string;
  /** This VM's tap. */
  readonly tap: string;
  readonly service: string;
}

export interface ShowResult {
  readonly name: string;
  readonly source: string;
  readonly kernel: string;
  readonly disks: readonly string[];
  readonly providers: readonly string[];
  /**
   * Each provider's VM service state, in the order of `providers`: a client
   * whose provider failed keeps running (s6-rc does not stop it), without a
   * network through that provider.
   */
  readonly providerStates: ReadonlyArray<{ readonly name: string; readonly state: LiveStateName }>;
  /** VMs that need this one, directly or not (they stop with it). */
  readonly clients: readonly string[];
  /** The VMM the tree runs (manifest `vmm`). */
  readonly vmmKind: string;
  readonly runtimeDir: string;
  /** The VMM's API / control / QMP socket (readiness). */
  readonly controlSocket: string;
  /**
   * The user's virtio-console socket; path null when the VMM offers none (a
   * pty, or no console); present: a Unix socket is there now.
   */
  readonly consoleSocket: { readonly path: string | null; readonly present: boolean };
  readonly logDir: string;
  readonly state: LiveState;
  /** Why it runs its last good definition (apply refused its new one and held it); null when it runs its newest. */
  readonly held: ManifestRefused | null;
  readonly logger: LiveState;
  readonly services: readonly ShowService[];
  /**
   * The VMM's argv (program first) as the run script execs it, and the user it
   * runs as (null: root), or why it could not be read.
   */
  readonly vmm: { readonly argv: readonly string[]; readonly user: string | null } | { readonly error: string };
  readonly links: readonly ShowLink[];
  /** One row per setting, in the order of doc/data-directory.md's table; null for a tree from before per-VM settings. */
  readonly settings: readonly ShowSetting[] | null;
  /** The last lines the VMM wrote to its stderr (its own log), or why they could not be read. */
  readonly vmmMessages: VmmMessages;
  readonly resources: ShowResources;
}

/** The VM's cgroup, the limits its run script writes with where each comes from, and what it uses now. */
export interface ShowResources {
  /** Its cgroup's directory; null: no cgroup (--cgroup none, or a tree from before cgroups), so no limits. */
  readonly cgroup: string | null;
  readonly limits: ReadonlyArray<{ readonly file: string; readonly value: string; readonly from: string }>;
  readonly usage: VmUsage | null;
}

export interface ShowSetting {
  /** The config/ file that sets it. */
  readonly setting: SettingFile;
  /** As the VMM or s6 is given it: memory as written, ms, on/off, the extra cmdline or "-". */
  readonly value: string;
  /** Where the value came from: `config/<file>`, or the flag whose default it is (`--memory`), or `default` for one no flag sets. */
  readonly from: string;
}

/** A VM skipped when the tree was generated: nothing of it runs, but why, and its logs from before, are known. */
export interface ShowSkipped {
  readonly name: string;
  readonly skipped: true;
  readonly reason: string;
  readonly problems: ReadonlyArray<{ readonly rule: string; readonly path: string }>;
  /** Where its logs are from when it last ran; null when unknown (no apply record). */
  readonly logDir: string | null;
}

export function show(args: ShowArgs, io: Io, runner: CommandRunner = spawnRunner): Promise<number> {
  return guard(io, async () => {
    const found = findAnyVm(readTree(args.source), args.name, args.logDir ?? null);
    if ('skipped' in found) {
      const skipped: ShowSkipped = { skipped: true, ...found.skipped };
      io.out(args.json ? json(skipped) : formatSkipped(skipped));
      return 0;
    }
    const result = await showResult(args, runner);
    io.out(args.json ? json(result) : formatShow(result));
    return 0;
  });
}

export async function showResult(args: Omit<ShowArgs, 'json'>, runner: CommandRunner = spawnRunner): Promise<ShowResult> {
  const tree = readTree(args.source);
  const vm = findVm(tree, args.name);
  const live = { scandir: args.scandir, prefix: args.prefix ?? '' };
  const links = linksOfVm(tree, vm);
  const serviceNames = [vm.services.vm, vm.services.logger, ...links.asClient.map((l) => l.service), ...links.asProvider.map((l) => l.service)];
  const services: ShowService[] = [];
  for (const name of serviceNames) services.push(await sourceService(tree, name, live, runner));
  services.push({ name: vm.services.pipeline, type: 'bundle', dependencies: [vm.services.vm, vm.services.logger], live: null });
  const providerStates: Array<{ name: string; state: LiveStateName }> = [];
  for (const p of vm.providers) providerStates.push({ name: p, state: (await liveState(live, findVm(tree, p).services.vm, runner)).state });
  return {
    name: vm.name,
    source: vm.source,
    kernel: vm.kernel,
    disks: vm.disks,
    providers: vm.providers,
    providerStates,
    clients: clientsOf(tree.manifest, vm.name),
    vmmKind: tree.manifest.vmm,
    runtimeDir: vm.runtimeDir,
    controlSocket: vm.controlSocket,
    consoleSocket: { path: vm.consoleSocket, present: vm.consoleSocket !== null && isSocket(vm.consoleSocket) },
    logDir: vm.logDir,
    state: longrunState(tree, services[0]!),
    held: heldEntry(tree, vm),
    logger: longrunState(tree, services[1]!),
    services,
    vmm: vmmOf(tree, vm),
    settings: vm.settings === null ? null : settingRows(vm.settings, vm.settingFiles),
    vmmMessages: vmmMessages(vm.logDir),
    resources: resourcesOf(vm, longrunState(tree, services[0]!).pid),
    links: [
      ...links.asClient.map((l): ShowLink => ({
        n: l.n, role: 'client', peer: l.provider, mac: l.clientMac, peerMac: l.providerMac, clientIp: l.clientIp, bridge: l.bridge, tap: l.clientTap, service: l.service,
      })),
      ...links.asProvider.map((l): ShowLink => ({
        n: l.n, role: 'provider', peer: l.client, mac: l.providerMac, peerMac: l.clientMac, clientIp: l.clientIp, bridge: l.bridge, tap: l.providerTap, service: l.service,
      })),
    ],
  };
}

/**
 * The live state of the VM or logger service, which vmsvc always writes as a
 * longrun. A `type` file missing or saying otherwise was edited (anyone who
 * edits the tree can): refused in one line naming it, rather than a crash.
 */
function longrunState(tree: Tree, s: ShowService): LiveState {
  if (s.live !== null) return s.live;
  const file = printable(path.join(tree.source, s.name, 'type'));
  const says = s.type === 'missing' ? 'does not exist' : `says ${printable(s.type)}`;
  throw new CommandError(`${file} ${says}, not longrun: vmsvc writes a VM and its logger as longruns, so this tree was edited`, EXIT.failed);
}

/** Where a setting's value came from: its file in config/, or the flag (or default) it falls back to. */
function settingFrom(setting: SettingFile, files: readonly SettingFile[]): string {
  return files.includes(setting) ? `config/${setting}` : defaultFrom(settingKeyOf(setting));
}

function settingRows(s: VmSettings, files: readonly SettingFile[]): ShowSetting[] {
  return SETTING_KEYS.map((k) => ({ setting: SETTINGS[k].file, value: shownSetting(k, s[k]), from: settingFrom(SETTINGS[k].file, files) }));
}

function resourcesOf(vm: AdminVm, pid: number | null): ShowResources {
  const cgroup = vm.cgroup;
  const from = (setting: SettingFile): string => settingFrom(setting, vm.settingFiles);
  return {
    cgroup: cgroup?.dir ?? null,
    limits: (cgroup?.limits ?? []).map((l) => ({ file: l.file, value: l.value, from: l.file === 'memory.max' ? `${from(l.setting)} + --vmm-memory-overhead` : from(l.setting) })),
    usage: vmUsage(cgroup?.dir ?? null, pid, new ProcTable()),
  };
}

function formatResources(r: ShowResources): string {
  const use = r.usage === null ? 'nothing runs'
    : [
      r.usage.memoryBytes === null ? null : `memory ${Math.round(r.usage.memoryBytes / 1024 ** 2)} MiB`,
      r.usage.cpuSeconds === null ? null : `CPU ${r.usage.cpuSeconds.toFixed(1)} s`,
      r.usage.tasks === null ? null : `${r.usage.tasks} tasks`,
    ].filter((x) => x !== null).join(', ') + ` (from ${r.usage.from === 'cgroup' ? 'its cgroup' : '/proc'})`;
  if (r.cgroup === null) return `  no cgroup: nothing but the guest's size limits it (--cgroup none)\n  uses: ${use}\n`;
  return `  cgroup: ${printable(r.cgroup)}\n  uses: ${use}\n${indent(alignedTable(['LIMIT', 'VALUE', 'FROM'], r.limits.map((l) => [printable(l.file), printable(l.value), l.from])))}`;
}

/** More than any run script vmsvc writes (a few KiB, plus the VM's paths). */
const RUN_SCRIPT_MAX_BYTES = 1024 * 1024;
/** A service's `type` file: "longrun\n" and the like. */
const TYPE_MAX_BYTES = 64;

/** The VMM argv of a VM, from its generated run script (read as untrusted: see util/untrusted.ts). */
export function vmmOf(tree: Tree, vm: AdminVm): { argv: string[]; user: string | null; ids: VmmIds | null } | { error: string } {
  const run = path.join(tree.source, vm.services.vm, 'run');
  const read = readUntrusted(tree.source, [vm.services.vm, 'run'], RUN_SCRIPT_MAX_BYTES);
  if (read.kind === 'missing') return { error: `cannot read ${run}: it does not exist` };
  if (read.kind === 'refused') return { error: read.why };
  const r = vmmArgvFromRunScript(read.data.toString('utf8'));
  return r.ok ? { argv: r.argv, user: r.user, ids: r.ids } : { error: `${run}: ${r.error}` };
}

async function sourceService(tree: Tree, name: string, live: { scandir: string; prefix: string }, runner: CommandRunner): Promise<ShowService> {
  const dir = path.join(tree.source, name);
  const read = readUntrusted(tree.source, [name, 'type'], TYPE_MAX_BYTES);
  if (read.kind === 'missing') return { name, type: 'missing', dependencies: [], live: null };
  if (read.kind === 'refused') throw new CommandError(printable(read.why), EXIT.failed);
  const type = read.data.toString('utf8').trim();
  return {
    name,
    type,
    dependencies: readNameList(dir, type === 'bundle' ? 'contents' : 'dependencies'),
    live: type === 'longrun' ? await liveState(live, name, runner) : null,
  };
}

export function describeState(s: LiveState): string {
  const parts: string[] = [];
  if (s.pid !== null) parts.push(`pid ${s.pid}`);
  if (s.uptimeSeconds !== null) parts.push(`up ${formatDuration(s.uptimeSeconds)}`);
  else if (s.forSeconds !== null && (s.state === 'down' || s.state === 'failed')) parts.push(`for ${formatDuration(s.forSeconds)}`);
  const exit = s.lastExit === null ? null : describeExit(s.lastExit);
  if (exit !== null) parts.push(`last exit ${exit}`);
  if (s.deaths !== null) parts.push(`deaths ${s.deaths}`);
  if (s.state === 'failed') parts.push('not restarted: vmsvc start tries again');
  if (s.detail !== null) parts.push(s.detail);
  return printable(parts.length === 0 ? s.state : `${s.state} (${parts.join(', ')})`);
}

/** POSIX shell quoting, for a command line a person can paste. */
export function shellQuote(word: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  if (hasTerminalUnsafe(word)) {
    // bash/zsh/ksh ANSI-C quoting: nothing raw reaches the terminal. printable()
    // writes \xNN and \u{...}; in $'...' \xNN is a byte, so above 0x7f (C1,
    // U+00A0) it is \UXXXXXXXX, like \u{...}; and ' is escaped.
    const escaped = printable(word).replace(/'/g, "\\'").replace(/\\(?:u\{([0-9a-f]+)\}|x([89a-f][0-9a-f])|\\)/g,
      (m, hex: string | undefined, byte: string | undefined) => {
        const cp = hex ?? byte;
        return cp === undefined ? m : `\\U${cp.padStart(8, '0')}`;
      });
    return `$'${escaped}'`;
  }
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** The argv as a shell command, one option (with its values) per line. */
export function formatArgv(argv: readonly string[], indent: string): string {
  const lines: string[][] = [];
  for (const [i, w] of argv.entries()) {
    if (i === 0 || w.startsWith('-')) lines.push([w]);
    else lines[lines.length - 1]!.push(w);
  }
  return lines.map((l, i) => `${indent}${i === 0 ? '' : '  '}${l.map(shellQuote).join(' ')}`).join(' \\\n') + '\n';
}

export function formatShow(r: ShowResult): string {
  const none = (xs: readonly string[]) => (xs.length === 0 ? '-' : xs.map(printable).join(', '));
  let out = `VM ${printable(r.name)}\n`;
  out += keyValues([
    ['state', describeState(r.state)],
    ...heldLine(r.held),
    ['logger', describeState(r.logger)],
    ['source', printable(r.source)],
    ['kernel', printable(r.kernel)],
    ['providers', r.providerStates.length === 0 ? '-' : r.providerStates.map((p) => `${printable(p.name)} (${providerNote(p.state)})`).join(', ')],
    ['clients', none(r.clients)],
    ['VMM', `${printable(r.vmmKind)}${'argv' in r.vmm ? `, runs as ${printable(r.vmm.user ?? 'root')}` : ''}`],
    ['runtime dir', printable(r.runtimeDir)],
    ['control socket', printable(r.controlSocket)],
    ['console', consoleLine(r)],
    ['log dir', printable(r.logDir)],
    ['serial log', printable(path.join(r.logDir, 'current'))],
  ], '  ');
  out += '\nsettings:\n';
  out += r.settings === null ? '  unknown (the tree was generated before per-VM settings)\n'
    : indent(alignedTable(['SETTING', 'VALUE', 'FROM'], r.settings.map((x) => [x.setting, printable(x.value), x.from])));
  out += '\nresources:\n';
  out += formatResources(r.resources);
  out += '\ndisks:\n';
  out += r.disks.length === 0 ? '  none\n' : r.disks.map((d) => `  ${printable(d)}\n`).join('');
  out += '\nlinks:\n';
  out += r.links.length === 0 ? '  none\n' : indent(alignedTable(
    ['N', 'ROLE', 'PEER', 'MAC', 'PEER MAC', 'CLIENT IP', 'BRIDGE', 'TAP', 'SERVICE'],
    // All read from the manifest, which anyone who edits the tree can write: escaped, every one.
    r.links.map((l) => [String(l.n), l.role, ...[l.peer, l.mac, l.peerMac, l.clientIp, l.bridge, l.tap, l.service].map(printable)]),
  ));
  out += '\nservices:\n';
  out += indent(alignedTable(
    ['NAME', 'TYPE', 'STATE', 'DEPENDENCIES'],
    // The type is the service's `type` file as written: escaped as the rest.
    r.services.map((s) => [printable(s.name), printable(s.type), s.live === null ? '-' : s.live.state, none(s.dependencies)]),
  ));
  out += '\nVMM command line:\n';
  out += 'argv' in r.vmm ? formatArgv(r.vmm.argv, '  ') : `  unknown: ${printable(r.vmm.error)}\n`;
  const m = r.vmmMessages;
  out += `\nVMM messages (the last ${VMM_MESSAGE_LINES}, from ${printable(m.file)}):\n`;
  if ('error' in m) out += `  unreadable: ${printable(m.error)}\n`;
  else out += m.lines.length === 0 ? '  none\n' : m.lines.map((l) => `  ${printable(l)}\n`).join('');
  return out;
}

/** For a held VM, the line that says it runs its last good definition, and why its new one is refused. */
function heldLine(held: ManifestRefused | null): Array<readonly [string, string]> {
  if (held === null) return [];
  return [['definition', printable(`its last good one, held: its new one ${whyRefused(held)}; apply keeps the old one until that is fixed or the VM's directory is removed`)]];
}

function formatSkipped(r: ShowSkipped): string {
  return `VM ${printable(r.name)}\n${keyValues([
    ['state', `skipped when the tree was generated: ${printable(r.reason)}`],
    ...r.problems.map((x): [string, string] => ['problem', `${printable(x.rule)}: ${printable(x.path)}`]),
    ['log dir', r.logDir === null ? 'unknown (no apply record)' : `${printable(r.logDir)} (from when it last ran: vmsvc logs ${shellQuote(r.name)})`],
  ], '  ')}`;
}

function providerNote(state: LiveStateName): string {
  return isStopped(state) ? `${state}: no network through it` : state;
}

function consoleLine(r: ShowResult): string {
  const c = r.consoleSocket;
  if (c.path === null) return `no console socket (${printable(r.vmmKind)} gives none; see vmsvc console ${printable(r.name)})`;
  return c.present ? printable(c.path) : `${printable(c.path)} (not there now)`;
}

function indent(text: string): string {
  return text.split('\n').map((l) => (l === '' ? l : `  ${l}`)).join('\n');
}

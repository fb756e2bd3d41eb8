/** `vmsvc ls`: every VM of a generated tree with its live state. */
import { compareBytes, printable, tableNames } from '../util/bytes.js';
import { addressesOf, heldEntry, readTree } from './tree.js';
import type { ManifestRefused } from '../pipeline/manifest.js';
import { whyRefused } from '../pipeline/report.js';
import { isStopped, liveState, type LiveState, type LiveStateName } from './live-state.js';
import { formatDuration, json } from './output.js';
import { spawnRunner, type CommandRunner } from '../util/command-runner.js';
import { alignedTable } from '../util/table.js';
import { describeExit } from './exit-reason.js';
import { vmmMessages } from './vmm-messages.js';
import { readUntrusted } from '../util/untrusted.js';
import { plural } from '../util/plural.js';
import { ProcTable, vmUsage, type VmUsage } from './usage.js';
import type { CgroupData } from '../pipeline/cgroup.js';
import { CommandError, EXIT, guard, type Io } from '../command/shell.js';

/** What `ls --status` selects: see statusOf. */
export const LS_STATUSES = ['running', 'stopped', 'failed', 'invalid'] as const;
export type LsStatus = (typeof LS_STATUSES)[number];

/**
 * Arguments of `vmsvc ls`.
 *
 * - `source`: the generated source tree (the --out path of generate); its
 *   vmsvc-manifest.json lists the VMs.
 * - `scandir`: the s6 scandir holding the live service directories (s6-rc's
 *   live scandir, e.g. /run/service).
 * - `prefix`: the s6-rc-init -p prefix of the live service names (default '').
 * - `logDir`: the root of the VMs' log dirs (apply's record), null when unknown.
 * - `json`: print `{ vms: LsRow[] }` (skipped VMs included, `skipped: true`)
 *   instead of the table.
 * - `status`: only the VMs running (up or ready), stopped (down, missing or
 *   unsupervised), failed (not restarted by their supervisor) or invalid
 *   (skipped: invalid, or needing a skipped VM); every VM when undefined.
 */
export interface LsArgs {
  readonly source: string;
  readonly scandir: string;
  readonly prefix?: string;
  readonly logDir?: string | null;
  readonly json: boolean;
  readonly status?: LsStatus | undefined;
}

export interface LsVmRow {
  readonly name: string;
  readonly skipped: false;
  /** The VM service's state (see LiveState): missing, unsupervised, down, failed, up, ready. */
  readonly state: LiveStateName;
  readonly pid: number | null;
  readonly uptimeSeconds: number | null;
  /** Process deaths s6-supervise recorded (s6-svdt); see LiveState.deaths. */
  readonly deaths: number | null;
  /** How its VMM last ended and what that means (exit-reason.ts), while it is down or failed; null otherwise. */
  readonly lastExit: string | null;
  /**
   * While the VM is not ready: the last line its VMM wrote to stderr (its
   * own log, vmm-messages.ts), raw (escape it to print), or why that log
   * cannot be read; null when it is ready or the VMM wrote nothing.
   */
  readonly lastMessage: string | null;
  /** Up but not ready for longer than its timeout-up (ms): s6-rc has given its start up. Null otherwise. */
  readonly notReadyAfterMs: number | null;
  readonly providers: readonly string[];
  /**
   * The providers that do not run, with their state (failed, down, ...):
   * s6-rc does not stop a client whose provider's supervisor gave up, so the
   * client runs on with links that lead nowhere.
   */
  readonly providersNotRunning: ReadonlyArray<{ readonly name: string; readonly state: LiveStateName }>;
  /** Client IPs of the VM's links to its providers. */
  readonly addresses: readonly string[];
  /**
   * Set while the VM runs the definition it was last applied with because
   * apply refused its new one (held): why, as a skipped row says it; null
   * when it runs its newest.
   */
  readonly held: ManifestRefused | null;
  /** Whether the VM has config/autostart (a member of the autostart bundle); null: a tree from before per-VM settings. */
  readonly autostart: boolean | null;
  /** What it uses (admin/usage.ts), while its service has a process or its cgroup holds one; null otherwise. */
  readonly usage: VmUsage | null;
  /** Its cgroup's memory.max in bytes; null: no cgroup (--cgroup none), so nothing but the guest's size holds it. */
  readonly memoryMax: number | null;
  readonly vm: LiveState;
  readonly logger: LiveState;
}

export interface LsSkippedRow {
  readonly name: string;
  readonly skipped: true;
  /** Why generate --keep-going left it out. */
  readonly reason: string;
  /** The files at fault, one per rule broken; empty when it needs a skipped VM. */
  readonly problems: ReadonlyArray<{ readonly rule: string; readonly path: string }>;
}

export type LsRow = LsVmRow | LsSkippedRow;

/**
 * Exit codes: 0 listed; 1 no live system on the scandir (no VM service of
 * the tree is there), or a manifest vmsvc did not write; 111 the manifest
 * cannot be read. Other live-state
 * problems are shown per VM, not failures.
 */
export function ls(args: LsArgs, io: Io, runner: CommandRunner = spawnRunner): Promise<number> {
  return guard(io, async () => {
    const all = await lsRows(args, runner);
    const vms = all.filter((r): r is LsVmRow => !r.skipped);
    if (vms.length > 0 && vms.every((r) => r.state === 'missing')) {
      throw new CommandError(`no live system on ${printable(args.scandir)}: none of the ${vms.length} VMs' services is there `
        + `(no ${printable(vms[0]!.vm.dir)}); is it the scandir and prefix vmsvc apply used?`, EXIT.failed);
    }
    const rows = args.status === undefined ? all : all.filter((r) => statusOf(r) === args.status);
    if (args.json) {
      io.out(json({ vms: rows }));
      return 0;
    }
    if (rows.length === 0) {
      io.out(args.status === undefined ? 'no VMs\n' : `no ${args.status} VMs\n`);
      return 0;
    }
    const header = ['NAME', 'STATE', 'AUTOSTART', 'PID', 'UPTIME', 'MEM', 'CPU', 'DEATHS', 'PROVIDERS', 'ADDRESSES', 'NOTE'];
    const name = tableNames(rows.flatMap((r) => (r.skipped ? [r.name] : [r.name, ...r.providers])));
    const cells = rows.map((r) => r.skipped
      ? [name(r.name), 'skipped', '-', '-', '-', '-', '-', '-', '-', '-', skippedNote(r)]
      : [
          name(r.name),
          r.state,
          r.autostart === null ? '?' : r.autostart ? 'yes' : 'no',
          r.pid === null ? '-' : String(r.pid),
          formatDuration(r.uptimeSeconds),
          memoryCell(r),
          r.usage?.cpuSeconds == null ? '-' : `${r.usage.cpuSeconds.toFixed(1)}s`,
          r.deaths === null ? '-' : String(r.deaths),
          r.providers.length === 0 ? '-' : r.providers.map(name).join(','),
          r.addresses.length === 0 ? '-' : r.addresses.map(printable).join(','), // from the manifest: anyone who edits the tree writes them
          note(r),
        ]);
    io.out(alignedTable(header, cells));
    return 0;
  });
}

/** The --status a row answers to: missing and unsupervised services count as stopped. */
function statusOf(r: LsRow): LsStatus {
  if (r.skipped) return 'invalid';
  if (r.state === 'up' || r.state === 'ready') return 'running';
  return r.state === 'failed' ? 'failed' : 'stopped';
}

/** The reason, and for an invalid VM the file of each problem, so that the fix starts there. */
function skippedNote(r: LsSkippedRow): string {
  const files = r.problems.map((x) => `${x.rule}: ${x.path}`);
  return printable(files.length === 0 ? r.reason : `${r.reason}: ${files.join('; ')}`);
}

export async function lsRows(args: Pick<LsArgs, 'source' | 'scandir' | 'prefix'>, runner: CommandRunner = spawnRunner): Promise<LsRow[]> {
  const tree = readTree(args.source);
  const live = { scandir: args.scandir, prefix: args.prefix ?? '' };
  const proc = new ProcTable();
  const states = new Map<string, LiveState>();
  for (const vm of tree.manifest.vms) states.set(vm.name, await liveState(live, vm.services.vm, runner));
  const rows: LsRow[] = [];
  for (const vm of tree.manifest.vms) {
    const vmState = states.get(vm.name)!;
    const logger = await liveState(live, vm.services.logger, runner);
    rows.push({
      name: vm.name,
      skipped: false,
      state: vmState.state,
      pid: vmState.pid,
      uptimeSeconds: vmState.uptimeSeconds,
      deaths: vmState.deaths,
      lastExit: (vmState.state === 'down' || vmState.state === 'failed') && vmState.lastExit !== null ? describeExit(vmState.lastExit) : null,
      lastMessage: vmState.state === 'ready' ? null : lastMessage(vm.logDir),
      notReadyAfterMs: vmState.state === 'up' ? timedOut(args.source, vm.services.vm, vmState.uptimeSeconds) : null,
      providers: vm.providers,
      providersNotRunning: vm.providers
        .map((p) => ({ name: p, state: states.get(p)!.state }))
        .filter((p) => isStopped(p.state)),
      addresses: addressesOf(tree, vm),
      held: heldEntry(tree, vm),
      autostart: vm.settings === null ? null : vm.settings.autostart,
      usage: vmUsage(vm.cgroup?.dir ?? null, vmState.pid, proc),
      memoryMax: memoryMaxOf(vm.cgroup),
      vm: vmState,
      logger,
    });
  }
  for (const s of tree.manifest.skipped) rows.push({ name: s.name, skipped: true, reason: s.reason, problems: s.problems });
  return rows.sort((a, b) => compareBytes(a.name, b.name));
}

function memoryMaxOf(cgroup: CgroupData | null): number | null {
  const v = cgroup?.limits.find((l) => l.file === 'memory.max')?.value;
  return v === undefined || !/^[0-9]+$/.test(v) ? null : Number(v);
}

/** "312M/512M": use and cgroup limit, in MiB; "-" for either that is not known; "none" where nothing limits it. */
function memoryCell(r: LsVmRow): string {
  const mib = (b: number): string => `${Math.round(b / 1024 ** 2)}M`;
  if (r.usage === null && r.memoryMax === null) return '-';
  const use = r.usage?.memoryBytes == null ? '-' : mib(r.usage.memoryBytes);
  return `${use}/${r.memoryMax === null ? 'none' : mib(r.memoryMax)}`;
}

/** The last line of the VMM's own log, or why it cannot be read; null when there is none. */
function lastMessage(logDir: string): string | null {
  const m = vmmMessages(logDir, 1);
  if ('error' in m) return `its log cannot be read: ${m.error}`;
  return m.lines.at(-1) ?? null;
}

/**
 * The service's timeout-up (ms), from the generated tree, when it has been
 * up that long without being ready; null otherwise. The tree may be edited
 * by anyone: read as untrusted, a few bytes.
 */
function timedOut(source: string, service: string, uptimeSeconds: number | null): number | null {
  if (uptimeSeconds === null) return null;
  const read = readUntrusted(source, [service, 'timeout-up'], 32);
  if (read.kind !== 'ok') return null;
  const ms = Number(read.data.toString('latin1').trim());
  return Number.isSafeInteger(ms) && ms > 0 && uptimeSeconds * 1000 >= ms ? ms : null;
}

function note(r: LsVmRow): string {
  const notes: string[] = [];
  // First: the VM may run as it did, but its files are not what it runs.
  if (r.held !== null) notes.push(`HELD on its last good definition: its new one ${whyRefused(r.held)}`);
  if (r.vm.detail !== null) notes.push(r.vm.detail);
  // A stop clears the tally (the finish script), so no deaths means a stop outside s6-rc, not a crash loop.
  if (r.state === 'failed') notes.push(r.deaths === 0 ? 'stopped outside s6-rc (s6-svc -d): vmsvc start starts it again' : `not restarted after ${r.deaths ?? 'unknown'} deaths: vmsvc start tries again`);
  // Down with deaths still counted: no stop cleared them, so it died while wanted up until s6-rc or the crash-loop limit gave up.
  if (r.state === 'down' && r.deaths !== null && r.deaths > 0) notes.push(`its start failed after ${plural(r.deaths, 'death')}`);
  if (r.notReadyAfterMs !== null) notes.push(`not ready after its timeout-up (${r.notReadyAfterMs / 1000} s): neither the VMM nor, with guest readiness, the guest has said the VM runs, so s6-rc gave its start up`);
  if (r.lastExit !== null) notes.push(`last exit: ${r.lastExit}`);
  if (r.lastMessage !== null) notes.push(`last VMM message: ${r.lastMessage}`);
  // Only a running client is misled; a stopped one has no network to lose.
  if (!isStopped(r.state)) for (const p of r.providersNotRunning) notes.push(`provider ${p.name} ${p.state}: no network through it`);
  if (r.logger.state !== 'up' && r.logger.state !== 'ready') notes.push(`logger ${r.logger.state}`);
  return printable(notes.join('; '));
}

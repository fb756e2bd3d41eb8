/**
 * `vmsvc start|stop|restart NAME... | --all`: s6-rc state changes of VMs.
 *
 *   s6-rc -l LIVE -b -u change vm-NAME    starts its providers first (dependencies)
 *   s6-rc -l LIVE -b -d change vm-NAME    stops its clients first (everything that depends on it)
 *
 * s6-rc does not notice a longrun whose supervisor gave up (the finish
 * script's s6-permafailon after a crash loop): its state still says up, so
 * `s6-rc -u change` does nothing for it. `start` therefore first looks at the
 * VM and every provider it needs in s6-rc's own service dirs
 * (LIVE/servicedirs/NAME): one that is down although s6-rc brought it up
 * (state failed, see LiveState) has its death tally cleared (s6-svdt-clear)
 * and is told to run again (s6-svc -u); one merely down gets a cleared tally
 * so that deaths from before (stops count) do not end its next run early.
 *
 * The service name is the one in the compiled database: the s6-rc-init -p
 * prefix applies to the scandir only, not here. Before stopping, the VMs
 * that go down with it are named, from the manifest's providers. A VM
 * already in the state asked for is said so and left alone: s6-rc would
 * do nothing for it and say nothing. `restart` stops the VMs (and so the
 * VMs that need them), then starts them and the VMs that needed them and
 * were up: s6-rc has no restart of its own.
 */
import { printable } from '../util/bytes.js';
import { chunks } from '../util/chunks.js';
import { clientsOf, findVm, providersOf, readTree, type AdminVm, type Tree } from './tree.js';
import { liveState, type LiveState } from './live-state.js';
import { json } from './output.js';
import * as path from 'node:path';
import { readUntrusted } from '../util/untrusted.js';
import { spawnRunner, type CommandResult, type CommandRunner } from '../util/command-runner.js';
import { CommandError, EXIT, UsageError, guard, type Io } from '../command/shell.js';
import { oneshotGroups } from '../s6rc/oneshots-first.js';
import { upList } from '../s6rc/up-list.js';

export type Action = 'start' | 'stop' | 'restart';

/** The most VMs one `s6-rc -u change` of a start is given (see change()). */
export const START_WAVE = 100;

/**
 * Arguments of `vmsvc start|stop|restart`.
 *
 * - `source`: the generated source tree (STATE/source): which VMs exist,
 *   their services and who needs whom.
 * - `names`: the VMs, or none with `all` (every VM of the tree).
 * - `live`: s6-rc's live dir (`s6-rc -l`).
 * - `s6rc`: the s6-rc program (looked up in PATH when not a path).
 * - `json`: print one JSON object `{action, vms, already, clients, argv, code}`
 *   after s6-rc ran, instead of the text lines (s6-rc's own output is still
 *   passed through to stderr).
 *
 * Exit codes: 0 done, or nothing to do; 1 s6-rc failed (its exit code is
 * printed), a VM was skipped when the tree was generated, or a manifest
 * vmsvc did not write; 100 no name and no --all, or an unknown VM; 111 an
 * unreadable manifest.
 */
export interface StartStopArgs {
  readonly source: string;
  readonly names: readonly string[];
  readonly all: boolean;
  readonly live: string;
  readonly s6rc: string;
  readonly json: boolean;
}

export function start(args: StartStopArgs, io: Io, runner: CommandRunner = spawnRunner): Promise<number> {
  return change('start', args, io, runner);
}

export function stop(args: StartStopArgs, io: Io, runner: CommandRunner = spawnRunner): Promise<number> {
  return change('stop', args, io, runner);
}

export function restart(args: StartStopArgs, io: Io, runner: CommandRunner = spawnRunner): Promise<number> {
  return change('restart', args, io, runner);
}

/** Names, or --all, not both and not neither: a usage error (exit 100), checked by the CLI before it looks for the live system. */
export function namesOrAll(action: Action, args: Pick<StartStopArgs, 'names' | 'all'>): void {
  if (args.all && args.names.length > 0) throw new UsageError(`${action}: name VMs or give --all, not both`);
  if (!args.all && args.names.length === 0) throw new UsageError(`${action}: name one or more VMs, or give --all`);
}

/** The VMs named (each once, in the order given), or all of the tree's. */
function chosen(action: Action, tree: Tree, args: StartStopArgs): AdminVm[] {
  namesOrAll(action, args);
  return args.all ? [...tree.manifest.vms] : [...new Set(args.names)].map((n) => findVm(tree, n));
}

function change(action: Action, args: StartStopArgs, io: Io, runner: CommandRunner): Promise<number> {
  return guard(io, async () => {
    const tree = readTree(args.source);
    const vms = chosen(action, tree, args);
    const say = (line: string) => {
      if (!args.json) io.out(`vmsvc: ${line}\n`);
    };
    const up = upServices(args, runner);
    const servicedirs = { scandir: path.join(args.live, 'servicedirs'), prefix: '' };
    // Running: s6-rc brought it up and its supervisor still runs it (a crash loop's VM is neither).
    const running = new Set<string>();
    const states = new Map<string, LiveState>();
    for (const vm of vms) {
      const state = await liveState(servicedirs, vm.services.vm, runner);
      states.set(vm.services.vm, state);
      if (up.has(vm.services.vm) && (state.state === 'up' || state.state === 'ready')) running.add(vm.name);
    }
    const already = vms.filter((vm) => (action === 'start' ? running.has(vm.name) : action === 'stop' ? !up.has(vm.services.vm) : false));
    for (const vm of already) say(`VM ${printable(vm.name)} is already ${action === 'start' ? 'running' : 'stopped'}`);
    const todo = vms.filter((vm) => !already.includes(vm));
    const names = todo.map((vm) => vm.name);
    // A stop takes down every VM that needs these; a restart brings back those of them that were up.
    const needing = [...new Set(names.flatMap((n) => clientsOf(tree.manifest, n)))].filter((c) => !names.includes(c));
    const clients = action === 'start' ? [] : action === 'stop' ? needing : needing.filter((c) => up.has(findVm(tree, c).services.vm));
    const argvs: string[][] = [];
    const finish = (code: number) => {
      if (args.json) io.out(json({ action, vms: names, already: already.map((vm) => vm.name), clients, argv: argvs, code }));
      return code;
    };
    if (todo.length === 0) return finish(EXIT.ok);
    const shown = names.map(printable).join(', ');
    const plural = names.length === 1 ? 'VM' : 'VMs';
    if (action !== 'start') {
      say(clients.length === 0
        ? `${action === 'stop' ? 'stopping' : 'restarting'} ${plural} ${shown}; no VM needs ${names.length === 1 ? 'it' : 'them'}`
        : `${action === 'stop' ? 'stopping' : 'restarting'} ${plural} ${shown} also ${action === 'stop' ? 'stops' : 'restarts'} the VMs that need ${names.length === 1 ? 'it' : 'them'}${action === 'stop' ? '' : ' and run'}: ${clients.map(printable).join(', ')}`);
    } else {
      const needs = [...new Set(names.flatMap((n) => providersOf(tree.manifest, n)))].filter((p) => !names.includes(p));
      say(`starting ${plural} ${shown}${needs.length === 0 ? '' : ` after the VMs ${names.length === 1 ? 'it needs' : 'they need'}: ${needs.map(printable).join(', ')}`}`);
    }
    // -b: wait for s6-rc's lock rather than fail when another transition
    // holds it (a start waiting for readiness, a stop waiting for the guest).
    const rc = (flag: '-u' | '-d', services: readonly string[]): number => {
      const argv = [args.s6rc, '-l', args.live, '-b', flag, 'change', ...services];
      argvs.push(argv);
      const r = runner.run(argv);
      // s6-rc's own lines name the services, and so the VMs' names.
      if (r.stdout !== '') {
        if (args.json) io.err(printableLines(r.stdout));
        else io.out(printableLines(r.stdout));
      }
      return failedIf(argv, r);
    };
    const failedIf = (argv: readonly string[], r: CommandResult): number => {
      if (r.stderr !== '') io.err(printableLines(r.stderr));
      if (r.code !== 0) io.err(`vmsvc: ${printable(argv.join(' '))} failed (exit code ${r.code})\n`);
      return r.code;
    };
    const services = todo.map((vm) => vm.services.vm);
    if (action !== 'start') {
      if (rc('-d', services) !== 0) return finish(EXIT.failed);
      if (action === 'stop') {
        say(`stopped ${plural} ${shown}`);
        return finish(EXIT.ok);
      }
    }
    // A stop changed what the states read above say.
    const revived = await revive(tree, inStartOrder(tree, names), action === 'start' ? states : new Map(), args, say, io, runner);
    if (revived !== EXIT.ok) return finish(revived);
    const toStart = [...services, ...clients.map((c) => findVm(tree, c).services.vm)];
    // Links first, a runner's worth at a time (oneshots-first.ts says why); one that fails is tried again by the last change.
    const first = oneshotGroups(runner, args.s6rc, args.live, toStart, true);
    const linksUp = first.ok ? first.groups.map((group) => rc('-u', group)).every((code) => code === 0) : failedIf(first.argv, first.result) === 0;
    // Then the VMs, a wave at a time: s6-rc starts a change's services all at
    // once, and past a few hundred on 2 cores s6's own 5 s bounds gave out
    // (s6-ftrigrd's sync with s6-svlisten, s6 src/libs6/s6-ftrigrd.c:161). A
    // wave that fails does not stop the next.
    const vmsUp = chunks(toStart, START_WAVE).map((wave) => rc('-u', wave)).every((code) => code === 0);
    if (!vmsUp || !linksUp) return finish(EXIT.failed);
    say(`${action === 'start' ? 'started' : 'restarted'} ${plural} ${shown}${clients.length === 0 ? '' : ` and ${clients.map(printable).join(', ')}`}`);
    return finish(EXIT.ok);
  });
}

/** The atomic services s6-rc has up; exit 1 when it cannot say (the start or stop would then fail the same way). */
function upServices(args: StartStopArgs, runner: CommandRunner): Set<string> {
  // Blocking: a start or stop under way holds s6-rc's lock; wait for it, as the change that follows does.
  const listed = upList(runner, args.s6rc, args.live, true);
  if (listed.ok) return listed.up;
  const { argv, result: r } = listed;
  throw new CommandError(`cannot tell which VMs run: ${printable(argv.join(' '))} failed (exit code ${r.code})${r.stderr === '' ? '' : `: ${printable(r.stderr.trim())}`}`, EXIT.failed);
}

/** The VMs and every provider they need, each once, providers first. */
function inStartOrder(tree: Tree, names: readonly string[]): string[] {
  const order: string[] = [];
  for (const n of names) for (const x of [...providersOf(tree.manifest, n), n]) if (!order.includes(x)) order.push(x);
  return order;
}

/**
 * Clears the death tally of each named VM's service that is not running and
 * has one, and restarts those whose supervisor gave up, providers first
 * (`names` in start order; `known`: states already read, the others are read
 * here). A failure to do so fails the start: s6-rc would report success for
 * a VM that stays down.
 */
async function revive(tree: Tree, names: readonly string[], known: ReadonlyMap<string, LiveState>, args: StartStopArgs, say: (line: string) => void, io: Io, runner: CommandRunner): Promise<number> {
  const live = { scandir: path.join(args.live, 'servicedirs'), prefix: '' };
  for (const name of names) {
    const service = findVm(tree, name).services.vm;
    const state = known.get(service) ?? await liveState(live, service, runner);
    if (state.state !== 'down' && state.state !== 'failed') continue;
    // -wU: wait until ready, as s6-rc would, within the service's own timeout-up.
    const steps = [
      ...(state.deaths === 0 ? [] : [['s6-svdt-clear', state.dir]]),
      ...(state.state === 'failed' ? [['s6-svc', '-uwU', '-T', String(timeoutUpOf(tree, service)), state.dir]] : []),
    ];
    for (const step of steps) {
      const r = runner.run(step);
      if (r.stderr !== '') io.err(printableLines(r.stderr));
      if (r.code !== 0) {
        io.err(`vmsvc: ${printable(step.join(' '))} failed (exit code ${r.code})\n`);
        return EXIT.failed;
      }
    }
    if (state.state === 'failed') {
      say(state.deaths === 0
        ? `VM ${printable(name)} was stopped outside s6-rc; starting it`
        : `VM ${printable(name)} had stopped restarting after ${state.deaths ?? 'unknown'} deaths; restarting it`);
    }
  }
  return EXIT.ok;
}
/** The service's timeout-up in the source tree (ms; 0, as for s6-svc -T, is no limit). */
function timeoutUpOf(tree: Tree, service: string): number {
  const read = readUntrusted(tree.source, [service, 'timeout-up'], 32);
  if (read.kind !== 'ok') return 0;
  const n = Number(read.data.toString('utf8').trim());
  return Number.isSafeInteger(n) && n >= 0 ? n : 0;
}

/** Another program's output, each line through printable(). */
function printableLines(text: string): string {
  return text.replace(/\n$/, '').split('\n').map(printable).join('\n') + '\n';
}

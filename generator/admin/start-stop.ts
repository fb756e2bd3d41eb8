/**
 * `vmsvc start NAME` / `vmsvc stop NAME`: s6-rc state changes of one VM.
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
 * that go down with it are named, from the manifest's providers.
 */
import { printable } from '../util/bytes.js';
import { clientsOf, findVm, json, liveState, providersOf, readTree, type Tree } from './inventory.js';
import * as path from 'node:path';
import { readUntrusted } from '../util/untrusted.js';
import { spawnRunner, type CommandRunner } from '../util/command-runner.js';
import { EXIT, guard, type Io } from '../command/shell.js';

/**
 * Arguments of `vmsvc start NAME` and `vmsvc stop NAME`.
 *
 * - `source`: the generated source tree (the --out path): which VMs exist,
 *   their services and who needs whom.
 * - `name`: the VM.
 * - `live`: s6-rc's live dir (`s6-rc -l`), default /run/s6-rc.
 * - `s6rc`: the s6-rc program, default 's6-rc' (looked up in PATH).
 * - `json`: print one JSON object `{action, vm, service, clients, argv, code}`
 *   after s6-rc ran, instead of the text lines (s6-rc's own output is still
 *   passed through to stderr).
 *
 * Exit codes: 0 s6-rc succeeded; 1 s6-rc failed (its exit code is printed) or
 * the VM was skipped when the tree was generated; 2 unknown VM or unreadable
 * manifest.
 */
export interface StartStopArgs {
  readonly source: string;
  readonly name: string;
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

function change(action: 'start' | 'stop', args: StartStopArgs, io: Io, runner: CommandRunner): Promise<number> {
  return guard(io, async () => {
    const tree = readTree(args.source);
    const vm = findVm(tree, args.name);
    const service = vm.services.vm;
    const clients = action === 'stop' ? clientsOf(tree.manifest, vm.name) : [];
    // -b: wait for s6-rc's lock rather than fail when another transition
    // holds it (a start waiting for readiness, a stop waiting for the guest).
    const argv = [args.s6rc, '-l', args.live, '-b', action === 'start' ? '-u' : '-d', 'change', service];
    if (!args.json) {
      if (action === 'stop') {
        io.out(clients.length === 0
          ? `vmsvc: stopping VM ${printable(vm.name)}; no VM needs it\n`
          : `vmsvc: stopping VM ${printable(vm.name)} also stops the VMs that need it: ${clients.map(printable).join(', ')}\n`);
      } else {
        const needs = providersOf(tree.manifest, vm.name);
        io.out(`vmsvc: starting VM ${printable(vm.name)}${needs.length === 0 ? '' : ` after the VMs it needs: ${needs.map(printable).join(', ')}`}\n`);
      }
    }
    if (action === 'start') {
      const revived = await revive(tree, [...providersOf(tree.manifest, vm.name), vm.name], args, io, runner);
      if (revived !== EXIT.ok) return revived;
    }
    const r = await runner.run(argv);
    // s6-rc's own lines name the services, and so the VM's name.
    if (r.stdout !== '') {
      if (args.json) io.err(printableLines(r.stdout));
      else io.out(printableLines(r.stdout));
    }
    if (r.stderr !== '') io.err(printableLines(r.stderr));
    if (args.json) io.out(json({ action, vm: vm.name, service, clients, argv, code: r.code }));
    if (r.code !== 0) {
      io.err(`vmsvc: ${printable(argv.join(' '))} failed (exit code ${r.code})\n`);
      return EXIT.failed;
    }
    if (!args.json) io.out(`vmsvc: ${action === 'start' ? 'started' : 'stopped'} VM ${printable(vm.name)}\n`);
    return EXIT.ok;
  });
}

/**
 * Clears the death tally of each named VM's service that is not running, and
 * restarts those whose supervisor gave up, providers first (`names` in start
 * order). A failure to do so fails the start: s6-rc would report success for
 * a VM that stays down.
 */
async function revive(tree: Tree, names: readonly string[], args: StartStopArgs, io: Io, runner: CommandRunner): Promise<number> {
  const live = { scandir: path.join(args.live, 'servicedirs'), prefix: '' };
  for (const name of names) {
    const service = findVm(tree, name).services.vm;
    const state = await liveState(live, service, runner);
    if (state.state !== 'down' && state.state !== 'failed') continue;
    // -wU: wait until ready, as s6-rc would, within the service's own timeout-up.
    const steps = [['s6-svdt-clear', state.dir], ...(state.state === 'failed' ? [['s6-svc', '-uwU', '-T', String(timeoutUpOf(tree, service)), state.dir]] : [])];
    for (const step of steps) {
      const r = await runner.run(step);
      if (r.stderr !== '') io.err(printableLines(r.stderr));
      if (r.code !== 0) {
        io.err(`vmsvc: ${printable(step.join(' '))} failed (exit code ${r.code})\n`);
        return EXIT.failed;
      }
    }
    if (state.state === 'failed' && !args.json) {
      io.out(state.deaths === 0
        ? `vmsvc: VM ${printable(name)} was stopped outside s6-rc; starting it\n`
        : `vmsvc: VM ${printable(name)} had stopped restarting after ${state.deaths ?? 'unknown'} deaths; restarting it\n`);
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

/**
 * `vmsvc start NAME` / `vmsvc stop NAME`: s6-rc state changes of one VM.
 *
 *   s6-rc -l LIVE -u change vm-NAME    starts its providers first (dependencies)
 *   s6-rc -l LIVE -d change vm-NAME    stops its clients first (everything that depends on it)
 *
 * The service name is the one in the compiled database: the s6-rc-init -p
 * prefix applies to the scandir only, not here. Before stopping, the VMs
 * that go down with it are named, from the manifest's providers.
 */
import { printable } from '../util/bytes.js';
import { clientsOf, findVm, json, providersOf, readTree } from './inventory.js';
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
    const argv = [args.s6rc, '-l', args.live, action === 'start' ? '-u' : '-d', 'change', service];
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

/** Another program's output, each line through printable(). */
function printableLines(text: string): string {
  return text.replace(/\n$/, '').split('\n').map(printable).join('\n') + '\n';
}

/**
 * The full command line, with yargs: help, usage errors, every command. The
 * common boot-time invocations never load it (see fast.ts).
 */
import yargs, { type Argv } from 'yargs';
import { EXIT, guard, type Io } from '../command/shell.js';
import { applyCommand, checkCommand, checkS6rcCommand, generateCommand } from './commands.js';
import { commandDocs, exitCodes, TOP_DOCS } from './docs.js';
import { adminFlags, applyFlags, checkFlags, generateFlags, locationFlags, nonEmptyPaths, optionFlags } from './flags.js';
import { liveOf, locate, scandirOf, type LocateFlags, type Located } from '../admin/locate.js';
import { printable } from '../util/bytes.js';
import { consoleCommand } from '../admin/console.js';
import { graph } from '../admin/graph.js';
import { logs } from '../admin/logs.js';
import { LS_STATUSES, ls } from '../admin/ls.js';
import { show } from '../admin/show.js';
import { namesOrAll, restart, start, stop, type StartStopArgs } from '../admin/start-stop.js';

const GENERATED_SERVICES = 'Generated services:';

/** start, stop and restart take the same arguments. */
function changeFlags<T>(y: Argv<T>, command: 'start' | 'stop' | 'restart') {
  return y
    .epilogue(commandDocs(command))
    .positional('names', { type: 'string', array: true, default: [] as string[], describe: 'the VMs' })
    .options(adminFlags)
    .option('all', { type: 'boolean', default: false, describe: 'every VM of the tree' });
}

function changeArgs(a: { readonly names: readonly string[]; readonly all: boolean; readonly json: boolean; readonly state: string }, at: Located): StartStopArgs {
  return { source: at.source, names: a.names, all: a.all, live: liveOf(at, a.state), s6rc: at.s6rc, json: a.json };
}

export async function runWithYargs(argv: readonly string[], io: Io): Promise<number> {
  let code: number = EXIT.ok;
  let failed = false;
  // With exitProcess(false), yargs still calls the handler after a validation failure.
  const run = (fn: () => number) => {
    if (!failed) code = guard(io, fn);
  };
  // The admin commands: path flags refused when empty, then where apply put things (admin/locate.ts).
  // `usage`: the command's own usage check, before anything is looked for.
  const runAdmin = async (flags: LocateFlags, fn: (at: Located) => number | Promise<number>, usage: () => void = () => undefined) => {
    if (failed) return;
    code = await guard(io, async () => {
      nonEmptyPaths({ state: flags.state, source: flags.source, scandir: flags.scandir, live: flags.live, s6rc: flags.s6rc });
      usage();
      return fn(locate(flags));
    });
  };
  const parser = yargs([...argv])
    .scriptName('vmsvc')
    .usage('$0 <command> [options]\n\nTurns VM directories (svc/data/<name>/ with vmlinux, blk/*.img, providers/net/*) into an s6-rc source tree.')
    .command('check', 'validate the data directory and report every problem', (y) => y
      .epilogue(commandDocs('check'))
      .options(checkFlags)
      .options(optionFlags)
      .group(Object.keys(optionFlags), GENERATED_SERVICES),
    (a) => run(() => checkCommand(a, io)))
    .command('generate', 'check, then write the s6-rc source tree (atomically)', (y) => y
      .epilogue(commandDocs('generate'))
      .options(generateFlags)
      .options(optionFlags)
      .group(Object.keys(optionFlags), GENERATED_SERVICES),
    (a) => run(() => generateCommand(a, io)))
    .command('apply', 'generate (keep-going), compile, and start or update the live s6-rc instance', (y) => y
      .epilogue(commandDocs('apply'))
      .options(applyFlags)
      .options(optionFlags)
      .group(Object.keys(optionFlags), GENERATED_SERVICES),
    (a) => run(() => applyCommand(a, io)))
    .command('check-s6rc <dirs..>', 'check any s6-rc source tree against the rules s6-rc-compile enforces', (y) => y
      .epilogue(commandDocs('check-s6rc'))
      .positional('dirs', { type: 'string', array: true, demandOption: true })
      .option('live-prefix', { type: 'string', default: '', describe: 'the s6-rc-init -p prefix, for the name length limit' })
      .option('json', { type: 'boolean', default: false, describe: 'print the result as JSON on stdout' }),
    (a) => run(() => checkS6rcCommand(a.dirs as string[], a['live-prefix'], a.json, io)))
    .command('ls', 'every VM with its live state, why it is down, providers and addresses', (y) => y
      .epilogue(commandDocs('ls'))
      .options(adminFlags)
      .option('status', { choices: LS_STATUSES, describe: 'only the VMs running (up or ready), stopped, failed (not restarted) or invalid (skipped: invalid, or needing an invalid VM)' }),
    (a) => runAdmin(a, (at) => ls({ source: at.source, scandir: scandirOf(at, a.state), prefix: at.prefix, logDir: at.logDir, json: a.json, status: a.status }, io)))
    .command('show <name>', 'everything about one VM: services, dependencies, VMM argv, disks, links, paths, state, why it is down and the VMM\'s last messages', (y) => y
      .epilogue(commandDocs('show'))
      .positional('name', { type: 'string', demandOption: true })
      .options(adminFlags),
    (a) => runAdmin(a, (at) => show({ source: at.source, scandir: scandirOf(at, a.state), prefix: at.prefix, logDir: at.logDir, name: a.name, json: a.json }, io)))
    .command('graph', 'the VM and provider graph with start levels, in DOT or Mermaid', (y) => y
      .epilogue(commandDocs('graph'))
      .options(adminFlags)
      .option('format', { choices: ['dot', 'mermaid'] as const, default: 'dot' as const, describe: 'output format' }),
    (a) => runAdmin(a, (at) => graph({ source: at.source, format: a.format, json: a.json }, io)))
    .command('start [names..]', 'start VMs through s6-rc (their providers first); restarts one that gave up after a crash loop', (y) => changeFlags(y, 'start'),
      (a) => runAdmin(a, (at) => start(changeArgs(a, at), io), () => namesOrAll('start', a)))
    .command('stop [names..]', 'stop VMs through s6-rc; says first which clients go down with them', (y) => changeFlags(y, 'stop'),
      (a) => runAdmin(a, (at) => stop(changeArgs(a, at), io), () => namesOrAll('stop', a)))
    .command('restart [names..]', 'stop, then start VMs, and start again the clients that went down with them', (y) => changeFlags(y, 'restart'),
      (a) => runAdmin(a, (at) => restart(changeArgs(a, at), io), () => namesOrAll('restart', a)))
    .command('console <name>', 'attach this terminal to the VM\'s virtio-console (one at a time; Ctrl-] leaves)', (y) => y
      .epilogue(commandDocs('console'))
      .positional('name', { type: 'string', demandOption: true })
      .options(locationFlags),
    (a) => runAdmin(a, (at) => consoleCommand({ source: at.source, name: a.name }, io)))
    .command('logs <name>', 'the VM\'s serial log (also of a VM skipped as invalid, when it has one)', (y) => y
      .epilogue(commandDocs('logs'))
      .positional('name', { type: 'string', demandOption: true })
      .options(adminFlags)
      .option('follow', { alias: 'f', type: 'boolean', default: false, describe: 'print the last 10 lines (or -n N, or from --since), then keep printing new ones until Ctrl-C, as tail -f' })
      .option('lines', { alias: 'n', type: 'number', describe: 'print only the last N lines (default: all; 10 with -f unless --since)' })
      .option('since', { type: 'string', describe: 'print from the first line stamped at or after TIME, ISO 8601: 2026-01-31, 2026-01-31T08:00, 2026-01-31 08:00:00.5 (the log\'s local time), or with Z, +01:00 or -0500; unstamped lines go with the lines around them' }),
    (a) => runAdmin(a, (at) => logs({ source: at.source, logDir: at.logDir, name: a.name, follow: a.follow, json: a.json, lines: a.lines, since: a.since }, io)))
    .demandCommand(1, 'name a command')
    .strict()
    .epilogue(`${exitCodes('what was checked or asked for is not fine (each command\'s --help says what)')}\n${TOP_DOCS}`)
    .wrap(Math.min(100, process.stdout.columns ?? 100))
    .exitProcess(false)
    .fail((msg, err) => {
      // yargs quotes the arguments it did not understand as they were typed.
      const said = (msg ?? err?.message ?? 'usage error').split('\n').map(printable).join('\n');
      io.err(`vmsvc: ${said}\nRun vmsvc --help for usage.\n`);
      failed = true;
      code = EXIT.usage;
    })
    .help()
    .version(process.env.VMSVC_VERSION ?? 'source (not built)');
  await parser.parseAsync();
  return code;
}

/**
 * The full command line, with yargs: help, usage errors, every command. The
 * common boot-time invocations never load it (see fast.ts).
 */
import yargs from 'yargs';
import { EXIT, guard, type Io } from '../command/shell.js';
import { applyCommand, checkCommand, checkS6rcCommand, generateCommand } from './commands.js';
import { adminFlags, applyFlags, checkFlags, generateFlags, liveFlags, nonEmptyPaths, optionFlags, s6rcFlags } from './flags.js';
import { printable } from '../util/bytes.js';
import { consoleCommand } from '../admin/console.js';
import { graph } from '../admin/graph.js';
import { logs } from '../admin/logs.js';
import { ls } from '../admin/ls.js';
import { show } from '../admin/show.js';
import { start, stop } from '../admin/start-stop.js';

const GENERATED_SERVICES = 'Generated services:';

export async function runWithYargs(argv: readonly string[], io: Io): Promise<number> {
  let code: number = EXIT.ok;
  let failed = false;
  // With exitProcess(false), yargs still calls the handler after a validation failure.
  const run = (fn: () => number) => {
    if (!failed) code = guard(io, fn);
  };
  // The admin commands' path flags: refused when empty before the command runs.
  const runAsync = async (paths: Readonly<Record<string, string | undefined>>, fn: () => number | Promise<number>) => {
    if (failed) return;
    const usage = guard(io, () => {
      nonEmptyPaths(paths);
      return EXIT.ok;
    });
    code = usage === EXIT.ok ? await fn() : usage;
  };
  const parser = yargs([...argv])
    .scriptName('vmsvc')
    .usage('$0 <command> [options]\n\nTurns VM directories (svc/data/<name>/ with vmlinux, blk/*.img, providers/net/*) into an s6-rc source tree.')
    .command('check', 'validate the data directory and report every problem', (y) => y
      .options(checkFlags)
      .options(optionFlags)
      .group(Object.keys(optionFlags), GENERATED_SERVICES),
    (a) => run(() => checkCommand(a, io)))
    .command('generate', 'check, then write the s6-rc source tree (atomically)', (y) => y
      .options(generateFlags)
      .options(optionFlags)
      .group(Object.keys(optionFlags), GENERATED_SERVICES),
    (a) => run(() => generateCommand(a, io)))
    .command('apply', 'generate (keep-going), compile, and start or update the live s6-rc instance', (y) => y
      .options(applyFlags)
      .options(optionFlags)
      .group(Object.keys(optionFlags), GENERATED_SERVICES),
    (a) => run(() => applyCommand(a, io)))
    .command('check-s6rc <dirs..>', 'check any s6-rc source tree against the rules s6-rc-compile enforces', (y) => y
      .positional('dirs', { type: 'string', array: true, demandOption: true })
      .option('live-prefix', { type: 'string', default: '', describe: 'the s6-rc-init -p prefix, for the name length limit' }),
    (a) => run(() => checkS6rcCommand(a.dirs as string[], a['live-prefix'], io)))
    .command('ls', 'every VM with its live state, providers and addresses', (y) => y.options({ ...adminFlags, ...liveFlags }),
      (a) => runAsync({ source: a.source, scandir: a.scandir }, () => ls({ source: a.source, scandir: a.scandir, prefix: a.prefix, json: a.json }, io)))
    .command('show <name>', 'everything about one VM: services, dependencies, VMM argv, disks, links, paths, state', (y) => y
      .positional('name', { type: 'string', demandOption: true })
      .options({ ...adminFlags, ...liveFlags }),
    (a) => runAsync({ source: a.source, scandir: a.scandir }, () => show({ source: a.source, scandir: a.scandir, prefix: a.prefix, name: a.name, json: a.json }, io)))
    .command('graph', 'the VM and provider graph with start levels, in DOT or Mermaid', (y) => y
      .options(adminFlags)
      .option('format', { choices: ['dot', 'mermaid'] as const, default: 'dot' as const, describe: 'output format' }),
    (a) => runAsync({ source: a.source }, () => graph({ source: a.source, format: a.format, json: a.json }, io)))
    .command('start <name>', 'start a VM through s6-rc (its providers first)', (y) => y
      .positional('name', { type: 'string', demandOption: true })
      .options({ ...adminFlags, ...s6rcFlags }),
    (a) => runAsync({ source: a.source, live: a.live, s6rc: a.s6rc }, () => start({ source: a.source, name: a.name, live: a.live, s6rc: a.s6rc, json: a.json }, io)))
    .command('stop <name>', 'stop a VM through s6-rc; says first which clients go down with it', (y) => y
      .positional('name', { type: 'string', demandOption: true })
      .options({ ...adminFlags, ...s6rcFlags }),
    (a) => runAsync({ source: a.source, live: a.live, s6rc: a.s6rc }, () => stop({ source: a.source, name: a.name, live: a.live, s6rc: a.s6rc, json: a.json }, io)))
    .command('console <name>', 'attach this terminal to the VM\'s virtio-console (one at a time; Ctrl-] leaves)', (y) => y
      .positional('name', { type: 'string', demandOption: true })
      .option('source', adminFlags.source),
    (a) => runAsync({ source: a.source }, () => consoleCommand({ source: a.source, name: a.name }, io)))
    .command('logs <name>', 'the VM\'s serial log', (y) => y
      .positional('name', { type: 'string', demandOption: true })
      .options(adminFlags)
      .option('follow', { alias: 'f', type: 'boolean', default: false, describe: 'print the last 10 lines (or -n N, or from --since), then keep printing new ones until Ctrl-C, as tail -f' })
      .option('lines', { alias: 'n', type: 'number', describe: 'print only the last N lines (default: all; 10 with -f unless --since)' })
      .option('since', { type: 'string', describe: 'print from the first line stamped at or after TIME, ISO 8601: 2026-01-31, 2026-01-31T08:00, 2026-01-31 08:00:00.5 (the log\'s local time), or with Z, +01:00 or -0500; unstamped lines go with the lines around them' }),
    (a) => runAsync({ source: a.source }, () => logs({ source: a.source, name: a.name, follow: a.follow, json: a.json, lines: a.lines, since: a.since }, io)))
    .demandCommand(1, 'name a command')
    .strict()
    .epilogue('Exit codes: 0 ok (warnings allowed), 1 invalid configuration, 2 usage or I/O error.\nDocs: README.md')
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

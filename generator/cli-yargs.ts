/**
 * The full command line, with yargs: help, usage errors, every command. The
 * common boot-time invocations never load it (see cli-fast.ts).
 */
import yargs, { type Argv } from 'yargs';
import {
  applyCommand,
  applyFlags,
  checkCommand,
  checkFlags,
  checkS6rcCommand,
  EXIT,
  generateCommand,
  generateFlags,
  guard,
  optionFlags,
  type ApplyArgs,
  type CheckArgs,
  type GenerateArgs,
  type Io,
} from './cli-commands.js';
import type { OptionFlags } from './cli-options.js';

export async function runWithYargs(argv: readonly string[], io: Io): Promise<number> {
  let code: number = EXIT.ok;
  let failed = false;
  // With exitProcess(false), yargs still calls the handler after a validation failure.
  const run = (fn: () => number) => {
    if (!failed) code = guard(fn, io);
  };
  const parser = yargs([...argv])
    .scriptName('vmsvc')
    .usage('$0 <command> [options]\n\nTurns VM directories (svc/data/<name>/ with vmlinux, blk/*.img, providers/net/*) into an s6-rc source tree.')
    .command('check', 'validate the data directory and report every problem', (y) => withOptions(y, checkFlags),
    (a) => run(() => checkCommand(a as unknown as CheckArgs, io)))
    .command('generate', 'check, then write the s6-rc source tree (atomically)', (y) => withOptions(y, generateFlags),
    (a) => run(() => generateCommand(a as unknown as GenerateArgs, io)))
    .command('apply', 'generate (keep-going), compile, and start or update the live s6-rc instance', (y) => y
      .options(applyFlags)
      .options(optionFlags)
      .group(Object.keys(optionFlags), 'Generated services:'),
    (a) => run(() => applyCommand(a as unknown as ApplyArgs, io)))
    .command('check-s6rc <dirs..>', 'check any s6-rc source tree against the rules s6-rc-compile enforces', (y) => y
      .positional('dirs', { type: 'string', array: true, demandOption: true })
      .option('live-prefix', { type: 'string', default: '', describe: 'the s6-rc-init -p prefix, for the name length limit' }),
    (a) => run(() => checkS6rcCommand(a.dirs as string[], a['live-prefix'], io)))
    .demandCommand(1, 'name a command: check, generate, apply or check-s6rc')
    .strict()
    .epilogue('Exit codes: 0 ok (warnings allowed), 1 invalid configuration, 2 usage or I/O error.\nDocs: README.md')
    .wrap(Math.min(100, process.stdout.columns ?? 100))
    .exitProcess(false)
    .fail((msg, err) => {
      io.err(`vmsvc: ${msg ?? err?.message ?? 'usage error'}\nRun vmsvc --help for usage.\n`);
      failed = true;
      code = EXIT.usage;
    })
    .help()
    .version();
  await parser.parseAsync();
  return code;
}

function withOptions(y: Argv, own: typeof checkFlags | typeof generateFlags): Argv<{ data: string } & OptionFlags> {
  return y
    .options(own)
    .options(optionFlags)
    .group(Object.keys(optionFlags), 'Generated services:') as unknown as Argv<{ data: string } & OptionFlags>;
}


/**
 * The command line: wires commands to the pipeline and is the only place that
 * prints or picks an exit code. 0 ok, 1 invalid configuration, 2 usage or I/O.
 */
import yargs, { type Argv } from 'yargs';
import { printable } from './bytes.js';
import { hasErrors } from './check.js';
import { optionFlags, optionsFromFlags, UsageError, type OptionFlags } from './cli-options.js';
import { checkDataDir, generate } from './pipeline.js';
import { linksOf } from './plan.js';
import { checkJson, countLine, formatDiagnostic, formatSkipped, linksTable } from './report.js';
import { ScanError } from './scan.js';
import { checkS6rcSource } from './s6rc-source-check.js';
import { TemplateError } from './templates.js';
import { WriteError } from './write-tree.js';

export const EXIT = { ok: 0, invalid: 1, usage: 2 } as const;

interface Io {
  readonly out: (s: string) => void;
  readonly err: (s: string) => void;
}

const processIo: Io = { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) };

export async function main(argv: readonly string[], io: Io = processIo): Promise<number> {
  let code: number = EXIT.ok;
  const run = (fn: () => number) => {
    code = guard(fn, io);
  };
  const parser = yargs([...argv])
    .scriptName('vmsvc')
    .usage('$0 <command> [options]\n\nTurns VM directories (svc/data/<name>/ with vmlinux, blk/*.img, providers/net/*) into an s6-rc source tree.')
    .command('check', 'validate the data directory and report every problem', (y) => withOptions(y)
      .option('json', { type: 'boolean', default: false, describe: 'print the result as JSON on stdout (with the links)' }),
    (a) => run(() => checkCommand(a as unknown as CheckArgs, io)))
    .command('generate', 'check, then write the s6-rc source tree (atomically)', (y) => withOptions(y)
      .option('out', { type: 'string', demandOption: true, describe: 'the source tree to write: a symbolic link to a version directory beside it' })
      .option('keep-going', { type: 'boolean', default: false, describe: 'write the tree without invalid VMs and the VMs that need them (for boot)' }),
    (a) => run(() => generateCommand(a as unknown as GenerateArgs, io)))
    .command('check-s6rc <dirs..>', 'check any s6-rc source tree against the rules s6-rc-compile enforces', (y) => y
      .positional('dirs', { type: 'string', array: true, demandOption: true })
      .option('live-prefix', { type: 'string', default: '', describe: 'the s6-rc-init -p prefix, for the name length limit' }),
    (a) => run(() => checkS6rcCommand(a.dirs as string[], a['live-prefix'], io)))
    .demandCommand(1, 'name a command: check, generate or check-s6rc')
    .strict()
    .epilogue('Exit codes: 0 ok (warnings allowed), 1 invalid configuration, 2 usage or I/O error.\nDocs: README.md')
    .wrap(Math.min(100, process.stdout.columns ?? 100))
    .exitProcess(false)
    .fail((msg, err) => {
      io.err(`vmsvc: ${msg ?? err?.message ?? 'usage error'}\nRun vmsvc --help for usage.\n`);
      code = EXIT.usage;
    })
    .help()
    .version();
  await parser.parseAsync();
  return code;
}

function withOptions(y: Argv): Argv<{ data: string } & OptionFlags> {
  return y
    .option('data', { type: 'string', demandOption: true, describe: 'the data directory holding one directory per VM' })
    .option('show-links', { type: 'boolean', default: false, describe: 'print every network link: number, MACs, client IP, bridge and taps' })
    .options(optionFlags)
    .group(Object.keys(optionFlags), 'Generated services:') as unknown as Argv<{ data: string } & OptionFlags>;
}

type CheckArgs = OptionFlags & { data: string; json: boolean; 'show-links': boolean };
type GenerateArgs = OptionFlags & { data: string; out: string; 'keep-going': boolean; 'show-links': boolean };

function checkCommand(a: CheckArgs, io: Io): number {
  const { result } = checkDataDir(a.data, optionsFromFlags(a));
  if (a.json) io.out(checkJson(result, linksOf(result.vms)));
  else {
    for (const d of result.diagnostics) io.err(formatDiagnostic(d));
    if (a['show-links']) io.out(linksTable(linksOf(result.vms)));
    io.out(`vmsvc: ${countLine(result)}\n`);
  }
  return hasErrors(result) ? EXIT.invalid : EXIT.ok;
}

function generateCommand(a: GenerateArgs, io: Io): number {
  const outcome = generate(a.data, a.out, optionsFromFlags(a), a['keep-going']);
  for (const d of outcome.check.diagnostics) io.err(formatDiagnostic(d));
  if (outcome.kind === 'refused') {
    io.err(`vmsvc: ${countLine(outcome.check)}\nvmsvc: nothing written; fix the errors above, or use --keep-going to write the valid VMs only\n`);
    return EXIT.invalid;
  }
  io.err(formatSkipped(outcome.check));
  if (a['show-links']) io.out(linksTable(linksOf(outcome.check.vms)));
  const w = outcome.write;
  const vms = `${outcome.check.vms.length} VM${outcome.check.vms.length === 1 ? '' : 's'}`;
  io.out(w.kind === 'unchanged'
    ? `vmsvc: ${printable(a.out)} unchanged (${vms}); nothing written\n`
    : `vmsvc: wrote ${printable(a.out)} (${vms}, ${w.files} files) -> ${w.version}\n`);
  return EXIT.ok;
}

function checkS6rcCommand(dirs: string[], livePrefix: string, io: Io): number {
  const problems = checkS6rcSource(dirs, { prefix: livePrefix });
  for (const p of problems) io.err(`${printable(p.file)}: ${p.service === null ? '' : `${printable(p.service)}: `}${p.reason}\n`);
  io.out(`vmsvc: ${problems.length === 0 ? 'the source tree compiles' : `${problems.length} problem${problems.length === 1 ? '' : 's'} s6-rc-compile would reject`}\n`);
  return problems.length === 0 ? EXIT.ok : EXIT.invalid;
}

/** Errors as values end here: each known failure becomes a message and exit 2. */
function guard(fn: () => number, io: Io): number {
  try {
    return fn();
  } catch (e) {
    if (e instanceof UsageError) io.err(`vmsvc: ${e.message}\n`);
    else if (e instanceof ScanError || e instanceof WriteError || e instanceof TemplateError) io.err(`vmsvc: ${e.message}\n`);
    else if (e instanceof Error && 'code' in e && typeof e.code === 'string') io.err(`vmsvc: I/O error: ${e.message}\n`);
    else throw e;
    return EXIT.usage;
  }
}

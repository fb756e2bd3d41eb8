/**
 * What each command does, as functions of parsed arguments: the fast parser
 * (cli-fast.ts) and yargs (cli-yargs.ts) both call these, so a command behaves
 * the same whichever parsed it. The only place that prints or picks an exit
 * code: 0 ok, 1 invalid configuration, 2 usage or I/O error.
 */
import { runApply, spawnRunner } from '../apply/apply.js';
import { printable } from '../util/bytes.js';
import { hasErrors } from '../pipeline/check.js';
import { optionFlags, optionsFromFlags, type OptionFlags } from './flags.js';
import { checkDataDir, generate } from '../pipeline/index.js';
import { linksOf } from '../pipeline/plan.js';
import { checkJson, countLine, formatDiagnostic, formatSkipped, linksTable } from '../pipeline/report.js';
import { checkS6rcSource } from '../s6rc/source-check.js';
import { reportFailure } from '../command/shell.js';

export const EXIT = { ok: 0, invalid: 1, usage: 2 } as const;

export interface Io {
  readonly out: (s: string) => void;
  readonly err: (s: string) => void;
}

export const processIo: Io = { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) };

/** Flags of the commands that read a data dir, besides the generator options. */
export const dataFlags = {
  data: { type: 'string', demandOption: true, describe: 'the data directory holding one directory per VM' },
  'show-links': { type: 'boolean', default: false, describe: 'print every network link: number, MACs, client IP, bridge and taps' },
} as const;

export const checkFlags = {
  ...dataFlags,
  json: { type: 'boolean', default: false, describe: 'print the result as JSON on stdout (with the links)' },
} as const;

export const generateFlags = {
  ...dataFlags,
  out: { type: 'string', demandOption: true, describe: 'the source tree to write: a symbolic link to a version directory beside it' },
  'keep-going': { type: 'boolean', default: false, describe: 'write the tree without invalid VMs and the VMs that need them (for boot)' },
} as const;

export const applyFlags = {
  data: dataFlags.data,
  state: { type: 'string', demandOption: true, describe: 'where apply keeps the source tree, the compiled databases and the current/previous links' },
  scandir: { type: 'string', demandOption: true, describe: 'the directory s6-svscan watches (s6-rc-init\'s argument)' },
  live: { type: 'string', describe: 's6-rc\'s live directory (default: STATE/live)' },
  prefix: { type: 'string', default: '', describe: 's6-rc-init -p prefix for the VM services (e.g. ext-)' },
  'dry-run': { type: 'boolean', default: false, describe: 'print what would start, stop and restart; run and write nothing' },
  's6-rc-compile': { type: 'string', default: 's6-rc-compile', describe: 's6-rc-compile program' },
  's6-rc-init': { type: 'string', default: 's6-rc-init', describe: 's6-rc-init program' },
  's6-rc-update': { type: 'string', default: 's6-rc-update', describe: 's6-rc-update program' },
} as const;

export { optionFlags };

export type ApplyArgs = OptionFlags & {
  data: string;
  state: string;
  scandir: string;
  live: string | undefined;
  prefix: string;
  'dry-run': boolean;
  's6-rc-compile': string;
  's6-rc-init': string;
  's6-rc-update': string;
};

export function applyCommand(a: ApplyArgs, io: Io): number {
  const generator = { ...optionsFromFlags(a), livePrefix: a.prefix };
  return runApply({
    data: a.data,
    state: a.state,
    scandir: a.scandir,
    ...(a.live === undefined ? {} : { live: a.live }),
    prefix: a.prefix,
    dryRun: a['dry-run'],
    generator,
    programs: { compile: a['s6-rc-compile'], init: a['s6-rc-init'], update: a['s6-rc-update'] },
  }, spawnRunner, io);
}

export type CheckArgs = OptionFlags & { data: string; json: boolean; 'show-links': boolean };
export type GenerateArgs = OptionFlags & { data: string; out: string; 'keep-going': boolean; 'show-links': boolean };

export function checkCommand(a: CheckArgs, io: Io): number {
  const { result } = checkDataDir(a.data, optionsFromFlags(a));
  if (a.json) io.out(checkJson(result, linksOf(result.vms)));
  else {
    for (const d of result.diagnostics) io.err(formatDiagnostic(d));
    if (a['show-links']) io.out(linksTable(linksOf(result.vms)));
    io.out(`vmsvc: ${countLine(result)}\n`);
  }
  return hasErrors(result) ? EXIT.invalid : EXIT.ok;
}

export function generateCommand(a: GenerateArgs, io: Io): number {
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

export function checkS6rcCommand(dirs: string[], livePrefix: string, io: Io): number {
  const problems = checkS6rcSource(dirs, { prefix: livePrefix });
  for (const p of problems) io.err(`${printable(p.file)}: ${p.service === null ? '' : `${printable(p.service)}: `}${printable(p.reason)}\n`);
  io.out(`vmsvc: ${problems.length === 0 ? 'the source tree compiles' : `${problems.length} problem${problems.length === 1 ? '' : 's'} s6-rc-compile would reject`}\n`);
  return problems.length === 0 ? EXIT.ok : EXIT.invalid;
}

/** Errors as values end here: each known failure becomes a message and exit 2. */
export function guard(fn: () => number, io: Io): number {
  try {
    return fn();
  } catch (e) {
    return reportFailure(e, io.err, EXIT.usage);
  }
}

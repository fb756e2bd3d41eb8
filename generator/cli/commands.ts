/**
 * What each command does, as functions of parsed arguments: the fast parser
 * (fast.ts) and yargs (yargs.ts) both call these, so a command behaves
 * the same whichever parsed it. Exit codes: command/shell.ts.
 */
import { runApply } from '../apply/apply.js';
import { spawnRunner } from '../util/command-runner.js';
import { printable, terminalJson } from '../util/bytes.js';
import { hasErrors } from '../pipeline/check.js';
import { integer, nonEmptyPaths, optionsFromFlags, U32_MAX, type ApplyArgs, type CheckArgs, type GenerateArgs } from './flags.js';
import { checkDataDir, generate } from '../pipeline/index.js';
import { linksOf } from '../pipeline/plan.js';
import { checkJson, countLine, formatDiagnostics, formatSkipped, linksTable } from '../pipeline/report.js';
import { checkS6rcSource } from '../s6rc/source-check.js';
import { CommandError, EXIT, type Io } from '../command/shell.js';

export function applyCommand(a: ApplyArgs, io: Io): number {
  nonEmptyPaths({ data: a.data, state: a.state, scandir: a.scandir, live: a.live, 's6-rc-compile': a['s6-rc-compile'], 's6-rc-init': a['s6-rc-init'], 's6-rc-update': a['s6-rc-update'], 's6-rc': a['s6-rc'] });
  const generator = { ...optionsFromFlags(a), livePrefix: a.prefix };
  return runApply({
    data: a.data,
    state: a.state,
    scandir: a.scandir,
    ...(a.live === undefined ? {} : { live: a.live }),
    prefix: a.prefix,
    dryRun: a['dry-run'],
    autostart: a.autostart,
    rcTimeoutMs: integer('rc-timeout', a['rc-timeout'], 1, U32_MAX),
    generator,
    programs: { compile: a['s6-rc-compile'], init: a['s6-rc-init'], update: a['s6-rc-update'], softlimit: a['s6-softlimit'], rc: a['s6-rc'] },
  }, spawnRunner, io);
}

export function checkCommand(a: CheckArgs, io: Io): number {
  nonEmptyPaths({ data: a.data });
  const { result } = checkDataDir(a.data, optionsFromFlags(a));
  if (a.json) io.out(checkJson(result, linksOf(result.vms)));
  else {
    for (const line of formatDiagnostics(result.diagnostics)) io.err(line);
    if (a['show-links']) io.out(linksTable(linksOf(result.vms)));
    io.out(`vmsvc: ${countLine(result)}\n`);
  }
  return hasErrors(result) ? EXIT.failed : EXIT.ok;
}

export function generateCommand(a: GenerateArgs, io: Io): number {
  nonEmptyPaths({ data: a.data, out: a.out });
  const outcome = generate(a.data, a.out, optionsFromFlags(a), a['keep-going']);
  for (const line of formatDiagnostics(outcome.check.diagnostics)) io.err(line);
  if (outcome.kind === 'refused') {
    io.err(`vmsvc: ${countLine(outcome.check)}\nvmsvc: nothing written; fix the errors above, or use --keep-going to write the valid VMs only\n`);
    return EXIT.failed;
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

/** `json`: `{ ok, problems: [{ service, file, reason }] }` on stdout, like check --json, instead of the lines. */
export function checkS6rcCommand(dirs: string[], livePrefix: string, json: boolean, io: Io): number {
  if (dirs.includes('')) throw new CommandError('check-s6rc: a source directory must not be empty (it would mean the current directory)');
  const problems = checkS6rcSource(dirs, { prefix: livePrefix });
  if (json) {
    io.out(`${terminalJson({ ok: problems.length === 0, problems }, 2)}\n`);
    return problems.length === 0 ? EXIT.ok : EXIT.failed;
  }
  for (const p of problems) io.err(`${printable(p.file)}: ${p.service === null ? '' : `${printable(p.service)}: `}${printable(p.reason)}\n`);
  io.out(`vmsvc: ${problems.length === 0 ? 'the source tree compiles' : `${problems.length} problem${problems.length === 1 ? '' : 's'} s6-rc-compile would reject`}\n`);
  return problems.length === 0 ? EXIT.ok : EXIT.failed;
}

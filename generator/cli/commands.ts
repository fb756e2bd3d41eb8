/**
 * What each command does, as functions of parsed arguments: the fast parser
 * (fast.ts) and yargs (yargs.ts) both call these, so a command behaves
 * the same whichever parsed it. Exit codes: command/shell.ts.
 */
import { runApply } from '../apply/apply.js';
import { APPLY_PROGRAMS } from '../apply/programs.js';
import { programPaths } from '../util/programs.js';
import { defaultS6rcPrograms } from '../apply/programs.js';
import { spawnRunner } from '../util/command-runner.js';
import { printable, terminalJson } from '../util/bytes.js';
import { hasErrors } from '../pipeline/check.js';
import { integer, nonEmptyPaths, optionsFromFlags, U32_MAX, type ApplyArgs, type CheckArgs, type GenerateArgs } from './flags.js';
import { hostPreflight } from '../pipeline/host-probe.js';
import { refuseUntrustedState } from '../apply/state-dir.js';
import type { GeneratorOptions } from '../pipeline/options.js';
import type { Diagnostic } from '../rules/diagnostic.js';
import { STOPS_APPLY } from '../rules/host.js';
import { checkDataDir, generate } from '../pipeline/index.js';
import { linksOf } from '../pipeline/vm-links.js';
import { checkJson, countLine, formatDiagnostics, formatSkipped, hostLine, linksTable } from '../pipeline/report.js';
import { checkS6rcSource } from '../s6rc/source-check.js';
import { EXIT, sayFailure, UsageError, type Io } from '../command/shell.js';
import { plural } from '../util/plural.js';

type ApplyProgramFlag = (typeof APPLY_PROGRAMS)[keyof typeof APPLY_PROGRAMS]['flag'];

/** The flags check --host and apply share: the data dir, the programs apply runs and the KVM probe. */
type HostArgs = Pick<CheckArgs, 'data' | ApplyProgramFlag | 'kvm-probe'>;

/** The host rules' diagnostics (rules/host.ts) for these flags; `scandir` null: no s6-svscan looked for. */
function checkHost(a: HostArgs, options: GeneratorOptions, scandir: string | null): Diagnostic[] {
  nonEmptyPaths({ 'kvm-probe': a['kvm-probe'], scandir: scandir ?? undefined });
  return hostPreflight({
    options,
    dataDir: a.data,
    scandir,
    kvmProbe: a['kvm-probe'] ?? null,
    pathEnv: process.env.PATH ?? '',
    applyPrograms: Object.values(APPLY_PROGRAMS).map((p) => ({ flag: `--${p.flag}`, program: a[p.flag] })),
  }, spawnRunner);
}

/**
 * Before apply runs anything, the host preflight: its problems are printed
 * (also with --dry-run), and those that would make apply itself fail or
 * hang (STOPS_APPLY) stop it; a missing VMM or a broken KVM does not, so
 * that at boot the database loads and `ls` says why the VMs are down.
 */
export function applyCommand(a: ApplyArgs, io: Io): number {
  nonEmptyPaths({ data: a.data, state: a.state, scandir: a.scandir, live: a.live, ...Object.fromEntries(Object.values(APPLY_PROGRAMS).map((p) => [p.flag, a[p.flag]])) });
  const generator = { ...optionsFromFlags(a), livePrefix: a.prefix };
  // A usage error is said as one (exit 100) before the preflight can find the host unfit (exit 1).
  const rcTimeoutMs = integer('rc-timeout', a['rc-timeout'], 1, U32_MAX);
  // Before anything else: even the preflight's verdict is no reason to touch a state dir others control.
  const trusted = refuseUntrustedState(a.state);
  if (!trusted.ok) return sayFailure(trusted.error, io.err);
  const host = checkHost(a, generator, a.scandir);
  for (const line of formatDiagnostics(host)) io.err(line);
  if (!a['dry-run'] && host.some((d) => STOPS_APPLY.has(d.rule))) {
    io.err('vmsvc: nothing run: apply cannot work on this host until the problems above are fixed\n');
    return EXIT.failed;
  }
  return runApply({
    data: a.data,
    state: a.state,
    scandir: a.scandir,
    ...(a.live === undefined ? {} : { live: a.live }),
    prefix: a.prefix,
    dryRun: a['dry-run'],
    dropInvalid: a['drop-invalid'],
    autostart: a.autostart,
    rcTimeoutMs,
    generator,
    programs: programPaths(APPLY_PROGRAMS, (p) => a[p.flag]),
  }, spawnRunner, io);
}

export function checkCommand(a: CheckArgs, io: Io): number {
  nonEmptyPaths({ data: a.data });
  if (a.scandir !== undefined && !a.host) throw new UsageError('check: --scandir is for --host (which looks for the s6-svscan watching it)');
  const options = optionsFromFlags(a);
  const { result } = checkDataDir(a.data, options);
  const host = a.host ? checkHost(a, options, a.scandir ?? null) : null;
  if (a.json) io.out(checkJson(result, linksOf(result.vms), host));
  else {
    for (const line of formatDiagnostics([...result.diagnostics, ...(host ?? [])])) io.err(line);
    if (a['show-links']) io.out(linksTable(linksOf(result.vms)));
    io.out(`vmsvc: ${countLine(result)}${host === null ? '' : `; ${hostLine(host)}`}\n`);
  }
  return hasErrors(result) || (host ?? []).some((d) => d.severity === 'error') ? EXIT.failed : EXIT.ok;
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
  const vms = plural(outcome.check.vms.length, 'VM');
  io.out(w.kind === 'unchanged'
    ? `vmsvc: ${printable(a.out)} unchanged (${vms}); nothing written\n`
    : `vmsvc: wrote ${printable(a.out)} (${vms}, ${w.files} files) -> ${w.version}\n`);
  return EXIT.ok;
}

/** `json`: `{ ok, problems: [{ service, file, reason }] }` on stdout, like check --json, instead of the lines. */
export function checkS6rcCommand(dirs: string[], livePrefix: string, json: boolean, io: Io): number {
  if (dirs.includes('')) throw new UsageError('check-s6rc: a source directory must not be empty (it would mean the current directory)');
  const problems = checkS6rcSource(dirs, { prefix: livePrefix });
  if (json) {
    io.out(`${terminalJson({ ok: problems.length === 0, problems }, 2)}\n`);
    return problems.length === 0 ? EXIT.ok : EXIT.failed;
  }
  for (const p of problems) io.err(`${printable(p.file)}: ${p.service === null ? '' : `${printable(p.service)}: `}${printable(p.reason)}\n`);
  io.out(`vmsvc: ${problems.length === 0 ? 'the source tree compiles' : `${plural(problems.length, 'problem')} s6-rc-compile would reject`}\n`);
  return problems.length === 0 ? EXIT.ok : EXIT.failed;
}

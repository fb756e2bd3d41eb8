/**
 * What a VM service's last exit means, in words: `last exit: code 127`
 * alone left the admin to guess that the VMM binary was not there. The
 * codes are the shell's and execline's (126, 127: execlineb and every
 * skarnet exec say so on a failed exec) and skarnet's own conventions
 * (100 usage, 111 a failed system call: s6-setuidgid with an unknown
 * user, a mkdir that failed); a signal is named with its usual cause.
 */
import * as os from 'node:os';

/** How a process ended, as s6-svstat reports it. */
export interface LastExit {
  readonly code: number | null;
  readonly signal: string | null;
}

const CODES: ReadonlyMap<number, string> = new Map([
  [100, 'a program of the run script was called wrongly (usage error)'],
  [111, 'a program of the run script failed a system call (an unknown --vmm-user, a directory it could not make)'],
  [126, 'the VMM (or a program of the run script) was found but could not be executed'],
  [127, 'the VMM (or a program of the run script) was not found: is it installed, in the supervision tree\'s PATH?'],
]);

const SIGNALS: ReadonlyMap<string, string> = new Map([
  ['SIGKILL', 'killed: a stop that reached its timeout, s6-svc -k, or the kernel\'s OOM killer'],
  ['SIGSEGV', 'the VMM crashed'],
  ['SIGABRT', 'the VMM aborted'],
  ['SIGBUS', 'the VMM crashed'],
  ['SIGILL', 'the VMM crashed'],
  ['SIGTERM', 'stopped'],
]);

/** `code 127 (the VMM ... was not found ...)`; null when s6 recorded no exit. */
export function describeExit(e: LastExit): string | null {
  if (e.signal !== null) return withSignal(e.signal, e.signal);
  if (e.code === null) return null;
  const why = CODES.get(e.code);
  if (why !== undefined) return `code ${e.code} (${why})`;
  // A shell or execline's trap passes a child's death by signal N on as 128 + N.
  const signal = e.code > 128 ? signalName(e.code - 128) : null;
  return signal === null ? `code ${e.code}` : withSignal(`code ${e.code}`, signal, `128 + ${e.code - 128}: `);
}

function withSignal(shown: string, signal: string, prefix = ''): string {
  const why = SIGNALS.get(signal);
  return `${shown} (${prefix}${signal}${why === undefined ? '' : `: ${why}`})`;
}

function signalName(n: number): string | null {
  return Object.entries(os.constants.signals).find(([, v]) => v === n)?.[0] ?? null;
}

/**
 * A test hook, documented as one (doc/testing.md): with
 * VMSVC_TEST_PAUSE_AT=STEP in its environment, apply stops itself with
 * SIGSTOP when it reaches that step boundary, after one line on stderr, so
 * that the fault-injection tests can SIGKILL its whole process group exactly
 * there. It can do no more than pause apply (SIGCONT resumes it as if
 * nothing happened), and apply runs as root from the boot service, whose
 * environment whoever could set this controls anyway.
 */

/** The step boundaries, in the order a run reaches them (first boot skips the update's). */
export const BOUNDARIES = [
  /** The source copy is staged in compiled/, s6-rc-compile not run yet. */
  'staged',
  /** The database is compiled; nothing live has changed. */
  'compiled',
  /** The intent journal is written; nothing live has changed. */
  'intent',
  /** Update: the services it restarts are stopped on the old database. */
  'stopped',
  /** Update: the down longruns are out of supervision; s6-rc-update not run yet. */
  'unsupervised',
  /** The live system runs the new database (s6-rc-init or s6-rc-update done); the links not switched yet. */
  'switched',
  /** current, previous and source point at the new database; nothing brought back up yet. */
  'linked',
  /** Update: the services stopped for it are up again; autostart not run yet. */
  'restored',
  /** Autostart done; the journal not removed yet. */
  'autostarted',
] as const;

export type Boundary = (typeof BOUNDARIES)[number];

export const PAUSE_ENV = 'VMSVC_TEST_PAUSE_AT';

export function boundary(step: Boundary): void {
  if (process.env[PAUSE_ENV] !== step) return;
  process.stderr.write(`vmsvc: ${PAUSE_ENV}: pausing at ${step} (pid ${process.pid})\n`);
  process.kill(process.pid, 'SIGSTOP');
}

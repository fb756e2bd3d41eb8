/**
 * Takes the longruns that are down out of supervision before s6-rc-update,
 * and puts back what is missing afterwards, so that s6-rc-update's swap of
 * their service directories cannot race s6-svscan.
 *
 * The race (s6-rc 0.7.0.0 src/s6-rc/s6-rc-update.c make_new_livedir and
 * src/libs6rc/s6rc_servicedir_unsupervise.c; s6 2.15 src/libs6/
 * s6_supervise_link_names.c, src/supervision/s6-svscan.c reap and
 * start_iter): s6-rc-update gives every longrun that is down a NEW directory.
 * It unlinks the old one from the scan directory and writes "x" to its
 * supervisor, which exits at once since its service is down; deletes the old
 * live directory; links the new directories; and only then asks s6-svscan to
 * scan. Until that scan s6-svscan still counts the dead supervisor active, so
 * it restarts it by NAME, at once (it started more than a second ago). When
 * that restarted supervisor's chdir comes after the new link, it takes the new
 * directory; the scan starts a second one there, which dies ("another
 * instance of s6-supervise is already running"), and the `s6-svscanctl -n`
 * s6-rc-update sends next kills the first: for about a second the service has
 * no supervisor and s6-rc fails on it with "supervisor not listening". With
 * about twenty such services the early events also crash s6-ftrigrd (SIGSEGV,
 * s6 d73e657) inside s6-rc-update, which then dies after switching databases
 * and before it moves the fdholder's pipes.
 *
 * So apply unsupervises them itself, the race-free way s6-svunlink does:
 * unlink every one from the scan directory, then one `s6-svscanctl -an` (the
 * `a` makes s6-svscan scan before the `n` kills: handle_control sets the
 * "delay killing until the next scan" flag), and wait for the supervisors to
 * exit. s6-rc-update then has no supervisor to tell "x": it links the new
 * directories and waits for their new supervisors itself.
 *
 * Not race-free: a service brought up by hand between apply reading what is
 * up and the unlink loses its supervisor, which first stops it (SIGTERM to
 * s6-supervise); s6-rc holds its lock only while each program runs, and
 * node cannot take s6-rc's lock across several of them.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { showArgv, type CommandRunner } from '../util/command-runner.js';
import { errnoOf } from '../util/errno.js';
import { printable } from '../util/bytes.js';
import { sleepSync } from '../util/sleep.js';
import { lexists } from '../util/fs-probe.js';
import { fail, ok, type Result } from '../util/result.js';

/** Where s6-rc's live directory and the scan directory its longruns are linked into are. */
export interface Supervision {
  readonly live: string;
  readonly scandir: string;
  /** s6-rc-init's -p prefix: a longrun NAME is linked as SCANDIR/PREFIXNAME. */
  readonly prefix: string;
  readonly svscanctl: string;
  readonly runner: CommandRunner;
}

/** s6-supervise exits at once on SIGTERM when its service is down, and s6-svscan restarts a supervisor one second after its last start. */
const SUPERVISOR_WAIT_MS = 10_000;
const POLL_MS = 20;

/** The live database's longruns (s6-rc's own included) that are not in `up`, sorted. */
export function downLongruns(live: string, up: ReadonlySet<string>): string[] {
  return liveLongruns(live).filter((name) => !up.has(name));
}

/**
 * Unlinks `names` from the scan directory and waits until their supervisors
 * have exited. On failure puts the links back and says why.
 */
export function unsupervise(s: Supervision, names: readonly string[]): Result<void> {
  if (names.length === 0) return ok(undefined);
  for (const name of names) fs.rmSync(linkOf(s, name), { force: true });
  const scanned = svscanctl(s, '-an');
  const gone = scanned.ok ? waitFor(s, names, false) : scanned;
  if (gone.ok) return gone;
  const back = relink(s);
  return back.ok ? gone : fail(`${gone.error}; then ${back.error}`);
}

/**
 * Links every longrun of the live database that has no link in the scan
 * directory (taken out by `unsupervise`, or left out by a killed run) and
 * waits until its supervisor listens.
 */
export function relink(s: Supervision): Result<void> {
  const missing = liveLongruns(s.live).filter((name) => !lexists(linkOf(s, name)));
  if (missing.length === 0) return ok(undefined);
  for (const name of missing) fs.symlinkSync(path.join(s.live, 'servicedirs', name), linkOf(s, name));
  const scanned = svscanctl(s, '-a');
  return scanned.ok ? waitFor(s, missing, true) : scanned;
}

/**
 * Removes the scan directory's links into the live directory whose service
 * directory is gone and which the live database does not have (`live`: its
 * services, by name), and has s6-svscan drop their supervisors (`-an`).
 * s6-rc-update unlinks the services the new database no longer has just
 * after it switched; killed in between, their links dangle, and s6-svscan
 * gives up every scan at a link it cannot stat (check() in s6-svscan.c:
 * "unable to stat"), so no service linked after that gets a supervisor.
 * A dangling link of a service the live database has is left alone: killed
 * before the switch, s6-rc-update has moved that running service's
 * directory into its new live directory (make_new_livedir), and dropping
 * the link would stop a service that should run.
 * Returns the names removed, or why s6-svscanctl failed.
 */
export function dropDangling(s: Supervision, live: ReadonlySet<string>): Result<string[]> {
  const inLive = `${path.join(s.live, 'servicedirs')}/`;
  let names: string[];
  try {
    names = fs.readdirSync(s.scandir).filter((n) => !n.startsWith('.')).sort();
  } catch (e) {
    if (errnoOf(e) === 'ENOENT') return ok([]);
    throw e;
  }
  const dangling = names.filter((n) => {
    const target = linkTarget(path.join(s.scandir, n));
    return target?.startsWith(inLive) === true && !live.has(target.slice(inLive.length)) && !fs.existsSync(path.join(s.scandir, n));
  });
  if (dangling.length === 0) return ok([]);
  for (const name of dangling) fs.rmSync(path.join(s.scandir, name), { force: true });
  const scanned = svscanctl(s, '-an');
  return scanned.ok ? ok(dangling) : scanned;
}

/** A symbolic link's target; null for anything else. */
function linkTarget(p: string): string | null {
  try {
    return fs.readlinkSync(p);
  } catch (e) {
    if (errnoOf(e) === 'EINVAL' || errnoOf(e) === 'ENOENT') return null;
    throw e;
  }
}

function liveLongruns(live: string): string[] {
  try {
    return fs.readdirSync(path.join(live, 'servicedirs')).filter((n) => !n.startsWith('.')).sort();
  } catch (e) {
    if (errnoOf(e) === 'ENOENT') return [];
    throw e;
  }
}

function linkOf(s: Supervision, name: string): string {
  return path.join(s.scandir, `${s.prefix}${name}`);
}

function svscanctl(s: Supervision, flags: string): Result<void> {
  const argv = [s.svscanctl, flags, s.scandir];
  const r = s.runner.run(argv);
  if (r.code === 0) return ok(undefined);
  return fail(`${showArgv(argv)} failed (exit ${r.code})${r.stderr === '' ? '' : `: ${printable(r.stderr.trim())}`}`);
}

/** Polls until each service's supervisor listens (`listening`) or is gone; names the ones that did not get there in time. */
function waitFor(s: Supervision, names: readonly string[], listening: boolean): Result<void> {
  const deadline = Date.now() + SUPERVISOR_WAIT_MS;
  let pending = [...names];
  for (;;) {
    pending = pending.filter((name) => supervised(path.join(s.live, 'servicedirs', name)) !== listening);
    if (pending.length === 0) return ok(undefined);
    if (Date.now() >= deadline) break;
    sleepSync(POLL_MS);
  }
  const shown = pending.slice(0, 5).map(printable).join(', ') + (pending.length > 5 ? `, and ${pending.length - 5} more` : '');
  return fail(listening
    ? `s6-svscan on ${printable(s.scandir)} started no supervisor for ${shown} within ${SUPERVISOR_WAIT_MS / 1000} s`
    : `the supervisors of ${shown} did not exit within ${SUPERVISOR_WAIT_MS / 1000} s of s6-svscanctl -an`);
}

/**
 * Whether a supervisor reads DIR/supervise/control: s6-supervise holds the
 * FIFO open for reading as long as it runs, so a non-blocking open for
 * writing fails with ENXIO when none does (what s6-svc reports as
 * "supervisor not listening"). Opening and closing writes no command.
 */
function supervised(dir: string): boolean {
  let fd: number;
  try {
    fd = fs.openSync(path.join(dir, 'supervise', 'control'), fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
  } catch (e) {
    const errno = errnoOf(e);
    if (errno === 'ENXIO' || errno === 'ENOENT') return false;
    throw e;
  }
  fs.closeSync(fd);
  return true;
}

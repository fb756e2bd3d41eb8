/**
 * Repairs s6rc-fdholder's pipe storage. s6-rc keeps both ends of every
 * pipeline's pipe in s6rc-fdholder (`pipe:s6rc-r-CONSUMER`,
 * `pipe:s6rc-w-CONSUMER`), and each end of a pipeline retrieves its end
 * there when it starts. s6-rc-update deletes, renames and stores those pipes
 * after it switched databases; killed in between, the live database has
 * pipelines whose pipes are missing, and their services wait on
 * s6-fdholder-retrieve without end (found by the random kills of
 * test/system/apply-faults.test.ts: a new VM's logger, then the next apply's
 * `s6-rc -u change` behind it).
 *
 * s6-rc-update itself, when it cannot update the storage, restarts
 * s6rc-fdholder (update_fdholder in s6-rc-update.c: `s6-svc -rwR`), which
 * refills it with a new pipe for every pipeline; the running pipelines keep
 * the old pipe and, as s6-rc-fdholder-filler's page says, are cut off from
 * each other at the next restart of either end. A VMM whose logger restarts
 * would then write into a pipe nobody reads. So this does less: it stores a
 * new pipe for the broken pipelines only (execline's piperw makes it,
 * s6-fdholder-store stores each end), after stopping whichever of their
 * services are up (they hold the old pipe), and brings back what that
 * stopped. Pipelines whose pipes are all there are not touched.
 */
import * as path from 'node:path';
import { printable, sortedBytewise } from '../util/bytes.js';
import { showArgv, type CommandRunner } from '../util/command-runner.js';
import type { FileTree } from '../util/file-tree.js';
import { lexists } from '../util/fs-probe.js';
import { servicesOf } from '../s6rc/conversion.js';
import { nameList } from '../s6rc/format.js';
import { fail, ok, type Result } from '../util/result.js';
import { downChange, passStderr, upChange, upServices, type LiveRc } from './live-rc.js';

/** s6-rc's fd holder service (S6RC_FDHOLDER). */
const FDHOLDER = 's6rc-fdholder';

export interface PipePrograms {
  readonly list: string;
  readonly store: string;
  readonly delete: string;
  /** execline's piperw, and its `if` (looked up in PATH by piperw). */
  readonly piperw: string;
  readonly execlineIf: string;
}

export const defaultPipePrograms: PipePrograms = {
  list: 's6-fdholder-list', store: 's6-fdholder-store', delete: 's6-fdholder-delete', piperw: 'piperw', execlineIf: 'if',
};

/** A consumer and the services writing into its pipe. */
export interface Pipeline {
  readonly consumer: string;
  readonly producers: readonly string[];
}

/** The pipelines of a source tree: every longrun with consumer-for, and the longruns whose producer-for names it. */
export function pipelinesOf(tree: FileTree): Pipeline[] {
  const svcs = servicesOf(tree);
  const producers = new Map<string, string[]>();
  for (const [name, svc] of svcs) {
    const file = svc.entries.get('producer-for');
    if (file?.kind !== 'file') continue;
    for (const consumer of nameList(Buffer.from(file.content)).names) producers.set(consumer, [...(producers.get(consumer) ?? []), name]);
  }
  return sortedBytewise([...svcs].filter(([, s]) => s.entries.has('consumer-for')).map(([name]) => name))
    .map((consumer) => ({ consumer, producers: producers.get(consumer) ?? [] }));
}

/** The fd holder's names for the reading and the writing end of a consumer's pipe (s6-rc-compile.c, s6-rc-fdholder-filler.c). */
export function pipeIds(consumer: string): readonly [string, string] {
  return [`pipe:s6rc-r-${consumer}`, `pipe:s6rc-w-${consumer}`];
}

/** The pipelines missing an end in the holder's list (what s6-fdholder-list printed). */
export function brokenPipelines(pipelines: readonly Pipeline[], held: ReadonlySet<string>): Pipeline[] {
  return pipelines.filter((p) => pipeIds(p.consumer).some((id) => !held.has(id)));
}

export interface PipeRepair {
  readonly rc: LiveRc;
  readonly programs: PipePrograms;
  /** The pipelines of the database the live system runs. */
  readonly pipelines: readonly Pipeline[];
}

/**
 * Finds the live database's pipelines with an end missing from
 * s6rc-fdholder and gives them a new pipe (see above). Returns the consumers
 * repaired (none when the holder is down: s6-rc refills it whole when it
 * starts it), or why it could not look or repair.
 */
export function repairPipes(x: PipeRepair): Result<string[]> {
  const { rc } = x;
  const socket = path.join(rc.live, 'servicedirs', FDHOLDER, 's');
  // No socket: the holder never ran since s6-rc-init made the live directory.
  if (!lexists(socket) || x.pipelines.length === 0) return ok([]);
  const listedUp = upServices(rc);
  if (!listedUp.ok) return listedUp;
  const up = listedUp.value;
  if (!up.has(FDHOLDER)) return ok([]);
  const listArgv = [x.programs.list, '-t', String(rc.timeoutMs), socket];
  const listed = rc.runner.run(listArgv);
  if (listed.code !== 0) {
    passStderr(rc.io, listed);
    return fail(`cannot list the pipes ${FDHOLDER} holds: ${showArgv(listArgv)} failed (exit ${listed.code})`);
  }
  const held = new Set(listed.stdout.split('\n').filter((l) => l !== ''));
  const broken = brokenPipelines(x.pipelines, held);
  if (broken.length === 0) return ok([]);
  // Running ends hold the old pipe: a new one would cut them off from each other.
  const running = sortedBytewise(broken.flatMap((p) => [p.consumer, ...p.producers]).filter((n) => up.has(n)));
  if (!downChange(rc, running)) return fail(`cannot stop ${running.map(printable).join(', ')} to give their pipeline a new pipe`);
  for (const p of broken) {
    const stored = storeNewPipe(rc.runner, x.programs, socket, rc.timeoutMs, p.consumer, held);
    if (!stored.ok) return stored;
  }
  const now = upServices(rc);
  if (!now.ok) return now;
  if (!upChange(rc, sortedBytewise([...up].filter((n) => !now.value.has(n))))) return fail('the pipelines given a new pipe did not all come back up');
  return ok(broken.map((p) => p.consumer));
}

/** Deletes the end still held, if any, then stores both ends of a new pipe under the consumer's names. */
function storeNewPipe(runner: CommandRunner, programs: PipePrograms, socket: string, timeoutMs: number, consumer: string, held: ReadonlySet<string>): Result<void> {
  const [r, w] = pipeIds(consumer);
  const t = String(timeoutMs);
  const steps = [
    ...[r, w].filter((id) => held.has(id)).map((id) => [programs.delete, '-t', t, socket, id]),
    // `if { store -d 3 ... } store -d 4 ...` in execline's argv form: a block is words led by a space, closed by an empty word.
    [programs.piperw, '3', '4', programs.execlineIf, ...[programs.store, '-d', '3', '-t', t, socket, r].map((a) => ` ${a}`), '', programs.store, '-d', '4', '-t', t, socket, w],
  ];
  for (const argv of steps) {
    const done = runner.run(argv);
    if (done.code !== 0) return fail(`cannot give ${printable(consumer)} a new pipe in ${FDHOLDER}: ${showArgv(argv)} failed (exit ${done.code}): ${printable(done.stderr.trim())}`);
  }
  return ok(undefined);
}

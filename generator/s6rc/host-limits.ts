/**
 * Whether this host lets the s6-rc programs and the supervision tree run a
 * database of a given size (the sizes: resources.ts), before apply runs
 * them: the stack and open files of s6-rc-compile, s6-rc-init and
 * s6-rc-update, raised through s6-softlimit when this process's soft limits
 * are short, and what the s6-svscan on the scandir was started to allow.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { printable } from '../util/bytes.js';
import { errnoOf } from '../util/errno.js';
import { plural } from '../util/plural.js';
import { fail, ok, type Result } from '../util/result.js';
import { findSvscan, openFiles, ownLimit, shortfalls, stackBytes, supervisionNeeds, type DbSize, type SupervisionNeeds } from './resources.js';

/** A program to run, and the argv that runs it (with s6-softlimit in front when it needs higher limits). */
export interface Invocation {
  readonly program: readonly string[];
  readonly argv: readonly string[];
}

/** What one s6-rc program needs for databases of these sizes. */
export interface Needs {
  readonly stack?: boolean;
  readonly files?: boolean;
}

/**
 * `program` with the stack and open files it needs for databases of these
 * sizes: as is when this process's soft limits (which children inherit) are
 * enough, else through `softlimit -s/-o` (node cannot raise its own limits,
 * and s6-softlimit comes with s6, which every host running s6-rc has).
 * Fails when even a hard limit is too low.
 */
export function withLimits(softlimit: string, program: readonly string[], sizes: readonly DbSize[], needs: Needs): Result<Invocation> {
  const name = printable(path.basename(program[0] ?? ''));
  const services = plural(Math.max(...sizes.map((s) => s.atoms)), 'service');
  const raise: string[] = [];
  const wanted = [
    ...(needs.stack === true ? [{ flag: '-s', need: stackBytes(sizes), own: ownLimit('Max stack size'), what: (n: number) => `a stack of ${mib(n)}`, unit: mib, how: 'ulimit -Hs, or s6-softlimit -H -s at boot' }] : []),
    ...(needs.files === true ? [{ flag: '-o', need: openFiles(sizes), own: ownLimit('Max open files'), what: (n: number) => `${n} open files`, unit: String, how: 'ulimit -Hn, or s6-softlimit -H -o at boot' }] : []),
  ];
  for (const w of wanted) {
    if (w.own !== null && w.own.soft >= w.need) continue;
    if (w.own !== null && w.own.hard < w.need) {
      return fail(`${name} needs ${w.what(w.need)} for this database (${services}) and the hard limit is ${w.unit(w.own.hard)}: `
        + `raise it (${w.how}) to ${w.need} or more`);
    }
    raise.push(w.flag, String(w.need));
  }
  return ok({ program, argv: raise.length === 0 ? program : [softlimit, ...raise, ...program] });
}

function mib(bytes: number): string {
  return `${Math.ceil(bytes / (1024 * 1024))} MiB`;
}

/** The supervision tree a database is to run under. */
export interface Supervised {
  readonly scandir: string;
  /** s6-rc-init's -p prefix of the services' links in the scandir. */
  readonly prefix: string;
  /** The new database. */
  readonly size: DbSize;
  /** The live database's longruns, whose directories an update replaces; none at first start. */
  readonly oldLongruns: readonly string[];
}

/**
 * Fails when the s6-svscan on the scandir cannot supervise the new database
 * (`db` names it). Without an s6-svscan to look at (none yet, or no /proc),
 * a database larger than s6-svscan's defaults gets a warning naming the flags.
 */
export function supervisionShortfall(x: Supervised, db: string, warn: (line: string) => void): Result<void> {
  const needs = supervisionNeedsOf(x);
  const svscan = findSvscan(x.scandir);
  if (svscan === null) {
    if (needs.servicesMax > 1000 || needs.nameMax > 251) warn(`no s6-svscan found on ${printable(x.scandir)} to check; ${needsLine(x, [x.size])}`);
    return ok(undefined);
  }
  const why = shortfalls(needs, svscan.limits, svscan.openFiles);
  if (why.length === 0) return ok(undefined);
  return fail(`the s6-svscan on ${printable(x.scandir)} (pid ${svscan.pid}) cannot supervise ${db}: ${why.join('; ')} `
    + `(prefix ${JSON.stringify(x.prefix)}; see \`vmsvc apply --dry-run\`)`);
}

/** The scandir's other entries count against s6-svscan's -C too. */
function supervisionNeedsOf(x: Supervised): SupervisionNeeds {
  const ours = new Set(x.oldLongruns.map((n) => `${x.prefix}${n}`));
  let others = 0;
  try {
    others = fs.readdirSync(x.scandir).filter((n) => !n.startsWith('.') && !ours.has(n)).length;
  } catch (e) {
    if (errnoOf(e) !== 'ENOENT') throw e;
  }
  return supervisionNeeds(x.size, x.prefix, others, x.oldLongruns);
}

/** What the supervision tree and the s6-rc programs need for the new database (`sizes`: of every database the programs load), in one sentence. */
export function needsLine(x: Supervised, sizes: readonly DbSize[]): string {
  const n = supervisionNeedsOf(x);
  return `the supervision tree must allow ${n.servicesMax} service directories (s6-svscan -C, default 1000), `
    + `names of ${n.nameMax} bytes (-L, default 251) and ${n.openFiles} open files (s6rc-fdholder); `
    + `s6-rc-compile and s6-rc-update need a stack of ${mib(stackBytes(sizes))}, s6-rc-init and s6-rc-update ${openFiles(sizes)} open files`;
}

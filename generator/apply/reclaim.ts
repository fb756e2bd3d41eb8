/**
 * Takes back the VMs' runtime and log dirs whose owner is not who the
 * applied tree runs that VM as: the dirs of a VM that is gone (removed,
 * renamed, skipped as invalid), or whose identity moved. A VM's uids are
 * its slot's (pipeline/identities.ts), and a slot set free is the next VM's:
 * without this, the VM that takes a gone VM's slot would own the gone VM's
 * dirs, its logger reading and rewriting that VM's serial log.
 *
 * Root gives each such dir itself to root, mode 0700, and touches nothing
 * in it: the base dirs are root's alone (checked), so the entry it lstat'ed
 * is the one it changes. When the VM starts again, its own run scripts give
 * the dir to its uid and hand over what is inside as that uid
 * (templates/common/log-run.hbs, prepare-runtime.hbs). Apply runs this once
 * the database is switched and before it starts anything: what was running
 * as a moved identity has been stopped for the update by then.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { errnoCode, errnoOf } from '../util/errno.js';
import { fail, ok, type Result } from '../util/result.js';
import { untrustedPath } from '../util/trusted-path.js';

/** A base dir (--runtime-dir, --log-dir) and, by VM name, the uid its dir must have; a name it lacks is no VM's now. */
export interface OwnedDirs {
  readonly base: string;
  /** null: the owner cannot be told (a shared account the host does not know): left alone. */
  readonly ownerOf: (name: string) => number | null | undefined;
}

/** The dirs taken back, or why the dirs of a base were not looked at. */
export function reclaimDirs(all: readonly OwnedDirs[]): Result<string[]> {
  const reclaimed: string[] = [];
  for (const { base, ownerOf } of all) {
    let names: string[];
    try {
      names = fs.readdirSync(base);
    } catch (e) {
      if (errnoOf(e) === 'ENOENT') continue;
      return fail(`cannot list ${base} (${errnoCode(e)})`);
    }
    const why = untrustedPath(base);
    if (why !== null) return fail(`${why}: its VMs' dirs are not taken back`);
    // Dot entries are root's own (crosvm's sandbox root), never a VM's.
    for (const name of names.filter((n) => !n.startsWith('.')).sort()) {
      const dir = path.join(base, name);
      const st = fs.lstatSync(dir);
      if (!st.isDirectory()) continue;
      const wanted = ownerOf(name);
      if (wanted === null) continue;
      // No VM's now: root's.
      if (st.uid === (wanted ?? 0)) continue;
      fs.lchownSync(dir, 0, 0);
      fs.chmodSync(dir, 0o700);
      reclaimed.push(dir);
    }
  }
  return ok(reclaimed);
}

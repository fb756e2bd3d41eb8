/**
 * Puts a compiled service definition back into a live service directory
 * whose supervisor keeps running, as s6-rc's s6rc_servicedir_copy_online
 * does (s6-rc 0.7.0.0, src/libs6rc/s6rc_servicedir_copy_online.c, the file
 * list and copy_one of s6rc_servicedir_internal.c): every file of s6-rc's
 * list that the source has is copied in (the type says how), every one it
 * has not is removed, and what is not a definition file (supervise/,
 * event/, down) is left alone.
 *
 * It differs where a SIGKILL makes it: s6-rc-update killed inside
 * copy_online leaves the directory half replaced (its files moved into
 * `old/`, some new ones copied, an empty `run.new` from filecopy_suffix),
 * a state copy_online itself would refuse (it renames `run`, mandatory,
 * into `old/` and fails when it is missing). So no file is expected to be
 * there: each is replaced or removed, and `old/` and the `.new` files go.
 * The block and unblock around the copy (s6-svc Q, then U when the service
 * was wanted up) are left out: s6-supervise 2.15 ignores Q (handle_control
 * reads only the first 24 of "abqhkti12pcyrlPCKoduDUxOQ"), so there is
 * nothing to undo, and U on a service s6-rc brought up only removes a
 * `down` file s6-rc removed already. A template's instances, which
 * copy_online also updates, are not handled: neither s6-rc's own longruns
 * nor vmsvc's have one.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { lexists } from '../util/fs-probe.js';

type Kind = 'normal' | 'empty' | 'uint' | 'dir' | 'template';

interface DefinitionFile {
  readonly name: string;
  readonly kind: Kind;
  /** S6_SVFILE_EXECUTABLE: mode 0755, else 0644. */
  readonly executable?: boolean;
  /** S6_SVFILE_ATOMIC: written to NAME.new and renamed, as a supervisor may exec it at any time. */
  readonly atomic?: boolean;
}

/** s6rc_servicedir_file_list, in its order. */
export const DEFINITION_FILES: readonly DefinitionFile[] = [
  { name: 'finish', kind: 'normal', executable: true, atomic: true },
  { name: 'finish.user', kind: 'normal', executable: true },
  { name: 'run', kind: 'normal', executable: true, atomic: true },
  { name: 'run.user', kind: 'normal', executable: true },
  { name: 'notification-fd', kind: 'uint' },
  { name: 'lock-fd', kind: 'uint' },
  { name: 'timeout-kill', kind: 'uint' },
  { name: 'flag-timeout-killpg', kind: 'empty' },
  { name: 'timeout-finish', kind: 'uint' },
  { name: 'max-death-tally', kind: 'uint' },
  { name: 'down-signal', kind: 'normal' },
  { name: 'reload-signal', kind: 'normal' },
  { name: 'flag-newpidns', kind: 'empty' },
  { name: 'template', kind: 'template' },
  { name: 'data', kind: 'dir' },
  { name: 'env', kind: 'dir' },
];

/**
 * Makes the definition files of live service directory `dst` those of
 * compiled service directory `src` (see above). Throws the system call's
 * error, and on a uint file that is not one (s6rc_read_uint's EINVAL).
 */
export function restoreDefinition(src: string, dst: string): void {
  fs.rmSync(path.join(dst, 'old'), { recursive: true, force: true });
  for (const f of DEFINITION_FILES) {
    const from = path.join(src, f.name);
    const to = path.join(dst, f.name);
    if (f.atomic === true) fs.rmSync(`${to}.new`, { force: true });
    if (!lexists(from)) {
      fs.rmSync(to, { recursive: true, force: true });
      continue;
    }
    copyOne(f, from, to);
  }
}

function copyOne(f: DefinitionFile, from: string, to: string): void {
  switch (f.kind) {
    case 'normal': {
      const mode = f.executable === true ? 0o755 : 0o644;
      const tmp = f.atomic === true ? `${to}.new` : to;
      fs.rmSync(tmp, { recursive: true, force: true });
      fs.writeFileSync(tmp, fs.readFileSync(from), { mode });
      fs.chmodSync(tmp, mode);
      if (tmp !== to) fs.renameSync(tmp, to);
      return;
    }
    case 'empty':
      fs.rmSync(to, { recursive: true, force: true });
      fs.writeFileSync(to, '');
      return;
    case 'uint': {
      // s6rc_read_uint: up to the first newline, all digits.
      const text = fs.readFileSync(from, 'latin1');
      const digits = text.slice(0, text.includes('\n') ? text.indexOf('\n') : text.length);
      if (!/^[0-9]+$/.test(digits)) throw new Error(`${from} is not an unsigned integer`);
      fs.rmSync(to, { recursive: true, force: true });
      fs.writeFileSync(to, `${Number(digits)}\n`, { mode: 0o644 });
      return;
    }
    case 'dir':
    case 'template':
      fs.rmSync(to, { recursive: true, force: true });
      // hiercopy: modes kept, links copied as links.
      fs.cpSync(from, to, { recursive: true, verbatimSymlinks: true, preserveTimestamps: false });
      if (f.kind === 'template') fs.mkdirSync(path.join(path.dirname(to), 'instance'), { recursive: true, mode: 0o755 });
      return;
  }
}


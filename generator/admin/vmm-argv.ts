/**
 * The VMM's command line, read back from a VM's generated run script: what
 * `show` prints and what `console` takes the VMM's uid and gid from. It knows
 * the chain the templates put in front of the VMM (root's opens, the drop of
 * root, the sandbox) so as to take it off.
 */
import * as path from 'node:path';
import { lexExecline } from '../s6rc/execline-lex.js';
import { notifyoncheckProgram } from '../s6rc/notifyoncheck.js';

export type VmmArgvResult =
  /**
   * user: the account s6-setuidgid switches to before the VMM, or "uid N"
   * (s6-applyuidgid); null when it runs as root. ids: s6-applyuidgid's -u
   * and -g, when both are numbers.
   */
  | { ok: true; argv: string[]; user: string | null; ids: VmmIds | null }
  | { ok: false; error: string };

/**
 * The VMM's argv (program first) from a VM's run script. The script is lexed
 * whole, exactly as execlineb does (lexExecline); the VMM is what
 * s6-notifyoncheck execs (notifyoncheckProgram). The drop of root in front of the VMM
 * (`s6-setuidgid USER`, `s6-applyuidgid -u UID -g GID -G LIST`) is taken
 * off and reported as `user`, and so is the sandbox after it (`bwrap
 * OPTIONS --`). No s6-notifyoncheck, or
 * nothing after it: an error, never a guess.
 */
export function vmmArgvFromRunScript(script: string): VmmArgvResult {
  const lexed = lexExecline(script);
  if (!lexed.ok) return { ok: false, error: `the run script does not lex: ${lexed.error} at offset ${lexed.offset}` };
  const words = lexed.argv;
  const program = notifyoncheckProgram(words);
  if (program === null) return { ok: false, error: 'the run script does not run s6-notifyoncheck, so its VMM command line is unknown' };
  if ('error' in program) return { ok: false, error: program.error };
  const drop = dropOf(words, skipOpens(words, program.next));
  if ('error' in drop) return { ok: false, error: drop.error };
  const sandbox = sandboxOf(words, drop.next);
  if ('error' in sandbox) return { ok: false, error: sandbox.error };
  const argv = words.slice(sandbox.next);
  if (argv.length === 0) return { ok: false, error: `${sandbox.next > drop.next ? 'bwrap' : drop.user === null ? 's6-notifyoncheck' : drop.program} runs no program` };
  return { ok: true, argv, user: drop.user, ids: drop.ids };
}

/** unshare's options that take their argument as the next word (util-linux). */
const UNSHARE_ARG_OPTIONS = new Set(['--propagation', '--setgroups', '--map-user', '--map-group', '--root', '--wd']);

/**
 * Past root's opens before the drop (templates/common/open-files.hbs): an
 * `unshare` and its options, `if { ... }` blocks, `redirfd -MODE FD FILE`
 * and `fdclose FD`.
 * The VMM's files are handed over there, not part of its argv.
 */
function skipOpens(words: readonly string[], i: number): number {
  for (;;) {
    const program = i < words.length ? path.posix.basename(words[i]!) : '';
    if (program === 'unshare') {
      i++;
      while (i < words.length && words[i]!.startsWith('-')) i += UNSHARE_ARG_OPTIONS.has(words[i]!) ? 2 : 1;
    } else if (program === 'if') {
      // A block's words start with a space; an empty word ends it (lexExecline).
      i++;
      while (i < words.length && !(words[i]!.startsWith(' ') || words[i] === '')) i++;
      while (i < words.length && words[i] !== '') i++;
      i++;
    } else if (program === 'redirfd') {
      i++;
      while (i < words.length && words[i]!.startsWith('-')) i++;
      i += 2;
    } else if (program === 'fdclose') {
      i += 2;
    } else {
      return i;
    }
  }
}

/**
 * bwrap's options by how many arguments each takes (bubblewrap 0.8's
 * usage): read by count, so that an argument is never taken for the `--`
 * that ends them.
 */
const BWRAP_ARITY: ReadonlyMap<string, number> = new Map([
  ...['--unshare-all', '--share-net', '--unshare-user', '--unshare-user-try', '--unshare-ipc', '--unshare-pid', '--unshare-net', '--unshare-uts',
    '--unshare-cgroup', '--unshare-cgroup-try', '--disable-userns', '--assert-userns-disabled', '--clearenv', '--new-session', '--die-with-parent',
    '--as-pid-1'].map((o) => [o, 0] as const),
  ...['--userns', '--userns2', '--pidns', '--uid', '--gid', '--hostname', '--chdir', '--unsetenv', '--lock-file', '--sync-fd', '--remount-ro',
    '--exec-label', '--file-label', '--proc', '--dev', '--tmpfs', '--mqueue', '--dir', '--seccomp', '--add-seccomp-fd', '--block-fd',
    '--userns-block-fd', '--info-fd', '--json-status-fd', '--cap-add', '--cap-drop', '--perms', '--size', '--argv0'].map((o) => [o, 1] as const),
  ...['--setenv', '--bind', '--bind-try', '--dev-bind', '--dev-bind-try', '--ro-bind', '--ro-bind-try', '--bind-fd', '--ro-bind-fd',
    '--file', '--bind-data', '--ro-bind-data', '--symlink', '--chmod'].map((o) => [o, 2] as const),
]);

/**
 * The sandbox the VMM runs in, at words[i], if any (pipeline/sandbox.ts):
 * bwrap and its options up to its `--`. Where the VMM's argv starts after it.
 */
function sandboxOf(words: readonly string[], i: number): { next: number } | { error: string } {
  if (i >= words.length || path.posix.basename(words[i]!) !== 'bwrap') return { next: i };
  for (let j = i + 1; j < words.length;) {
    const w = words[j]!;
    if (w === '--') return { next: j + 1 };
    const arity = BWRAP_ARITY.get(w);
    if (arity === undefined) return { error: `bwrap: unexpected ${w}` };
    if (j + arity >= words.length) return { error: `bwrap option ${w} has too few arguments` };
    j += arity + 1;
  }
  return { error: 'bwrap has no -- before the VMM' };
}

export interface VmmIds {
  readonly uid: number;
  readonly gid: number;
}

/** s6-applyuidgid's options that take an argument, and its flags (its usage: -z -U -u uid -g gid -G gidlist). */
const APPLYUIDGID_ARG_OPTIONS = new Set(['-u', '-g', '-G']);
const APPLYUIDGID_FLAGS = new Set(['-z', '-U']);

/**
 * The drop of root at words[i], if any (pipeline/identities.ts dropArgv):
 * `s6-setuidgid ACCOUNT` gives the account, `s6-applyuidgid -u UID ...`
 * "uid UID". Where the VMM's argv starts after it.
 */
function dropOf(words: readonly string[], i: number): { next: number; user: string | null; ids: VmmIds | null; program: string } | { error: string } {
  const program = i < words.length ? path.posix.basename(words[i]!) : '';
  if (program === 's6-setuidgid') {
    if (i + 1 >= words.length) return { error: 's6-setuidgid has no account' };
    return { next: i + 2, user: words[i + 1]!, ids: null, program };
  }
  if (program !== 's6-applyuidgid') return { next: i, user: null, ids: null, program };
  let uid: string | null = null;
  let gid: string | null = null;
  let j = i + 1;
  for (; j < words.length && words[j]!.startsWith('-'); j++) {
    const w = words[j]!;
    if (APPLYUIDGID_FLAGS.has(w)) continue;
    if (!APPLYUIDGID_ARG_OPTIONS.has(w) || j + 1 >= words.length) return { error: `s6-applyuidgid: unexpected ${w}` };
    if (w === '-u') uid = words[j + 1]!;
    if (w === '-g') gid = words[j + 1]!;
    j++;
  }
  const ids = uid !== null && gid !== null && /^[0-9]+$/.test(uid) && /^[0-9]+$/.test(gid) ? { uid: Number(uid), gid: Number(gid) } : null;
  return { next: j, user: uid === null ? null : `uid ${uid}`, ids, program };
}

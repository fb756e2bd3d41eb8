/**
 * Runs generated scripts under a real execlineb with every program they call
 * (s6's, the VMM, its client, ip, and mkdir, rm, chown) replaced by a
 * recording stub: what each program received is read back exactly, argv and
 * stdin, whatever execline did to the words on the way (lexing, and the
 * run-time substitution of forx, backtick and the like, which the lexer
 * model cannot show).
 *
 * Each stub is one shell script, linked under each program's name; it writes
 * one record file per call (argv NUL-separated, stdin beside it when the
 * program reads one), answers as the real program would where a script
 * depends on it, and exits as told below.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { waitFor } from './wait.js';

/**
 * How each stub answers. s6-svwait times out (exit 1), so that a stop runs
 * every press and both kills; s6-svstat says the death was not wanted up
 * (a stop), or what STUB_WANTEDUP says;
 * the VMM's clients answer every request as the VMM would when the VM runs
 * (QMP by the request on stdin, ch-remote's `info`, crosvm's exit status;
 * a hot-plugged link is there once this run asked for it: QMP's qom-get
 * names its netdev once a device_add for it was sent, ch-remote's `info`
 * lists the tap of every add-net sent);
 * `ip link show` finds nothing (a link's down checks that its devices are
 * gone); s6-notifyoncheck stays, as the VMM it would exec, until killed;
 * s6-applyuidgid execs what follows its -u -g -G, bwrap what follows its
 * options' --, unshare what follows its options; test is false (no log
 * file left by another owner).
 * A hostile VMM, for the VMM's clients (s6-ipcclient, ch-remote, the VMM's
 * own program) by STUB_ANSWER: `flood` answers without end, `trickle` a byte
 * every 2 s for ever, `hang` never.
 */
const STUB = `#!/bin/sh
name=\${0##*/}
rec="$STUB_RECORDS/$(date +%s%N).$$"
printf '%s\\0' "$name" "$@" > "$rec.argv.tmp"
[ "$name" = s6-ipcclient ] && cat > "$rec.stdin"
mv "$rec.argv.tmp" "$rec.argv"
# A drop of privileges goes on as the program after it would (-u U -g G -G L).
[ "$name" = s6-applyuidgid ] && shift 6 && exec "$@"
# The sandbox runs what follows its options' --.
if [ "$name" = bwrap ]; then
  while [ "$#" -gt 0 ] && [ "$1" != -- ]; do shift; done
  shift
  exec "$@"
fi
# unshare runs what follows its options (-m, --propagation private).
if [ "$name" = unshare ]; then
  while [ "$#" -gt 0 ] && [ "\${1#-}" != "$1" ]; do
    [ "$1" = --propagation ] && shift
    shift
  done
  exec "$@"
fi
case "$name" in
  s6-ipcclient|ch-remote|"$STUB_VMM")
    case "$STUB_ANSWER" in
      flood) exec yes ;;
      trickle) while printf x; do sleep 2; done; exit 1 ;;
      hang) exec sleep 600 ;;
    esac ;;
esac
case "$name" in
  s6-ipcclient)
    printf '{"QMP": {"version": {}, "capabilities": []}}\\n{"return": {}}\\n'
    case "$(cat "$rec.stdin")" in
      *query-status*) printf '{"return": {"status": "running", "singlestep": false, "running": true}}\\n' ;;
      *ringbuf-read*) printf '{"return": "READY=1\\\\n"}\\n' ;;
      *system_powerdown*) printf '{"return": {}, "id": "vmsvc-power-button"}\\n' ;;
      *quit*) printf '{"return": {}, "id": "vmsvc-quit"}\\n' ;;
      *vmsvc-place*) printf '{"return": {}, "id": "vmsvc-place"}\\n' ;;
      *vmsvc-netdev*) printf '{"return": {}, "id": "vmsvc-netdev"}\\n' ;;
      *qom-get*)
        hex=$(sed -n 's/.*"path":"\\/machine\\/peripheral\\/vmsvc-link-\\([0-9a-f]*\\)".*/\\1/p' "$rec.stdin")
        if grep -qs '"device_add".*"id":"vmsvc-link-'"$hex"'"' "$STUB_RECORDS"/*.stdin; then
          printf '{"return": "vmsvc-net-%s"}\\n' "$hex"
        else
          printf '{"error": {"class": "DeviceNotFound", "desc": "not found"}}\\n'
        fi ;;
    esac ;;
  ch-remote)
    if [ "$3" = info ]; then
      taps=$(cat "$STUB_RECORDS"/*.argv | tr '\\0' '\\n' | sed -n 's/^id=[^,]*,tap=\\([^,]*\\),.*/{"tap":"\\1"}/p' | paste -sd, -)
      printf '{"config":{"net":[%s]},"state":"Running","memory_actual_size":268435456,"device_tree":{}}\\n' "$taps"
    fi ;;
  s6-svstat) printf '%s\\n' "\${STUB_WANTEDUP:-false}" ;;
  s6-svwait) exit 1 ;;
  ip) [ "$2" = show ] && exit 1 ;;
  s6-notifyoncheck) exec sleep 600 ;;
  test) exit 1 ;;
esac
exit 0
`;

/** Every program a generated script calls by a configurable path, by the name vmsvc's flag gives it. */
export const STUBBED_PROGRAMS = [
  's6-notifyoncheck', 's6-ipcclient', 's6-ioconnect', 'ch-remote', 'ip', 's6-setuidgid', 's6-applyuidgid', 's6-permafailon',
  's6-svc', 's6-svwait', 's6-svstat', 's6-svdt-clear', 's6-log', 'unshare', 'mount', 'setfacl', 'bwrap',
] as const;

/** Programs the scripts find in PATH: stubbed too, so that their argv is read back as well. */
const PATH_PROGRAMS = ['mkdir', 'rm', 'chown', 'chmod', 'test', 'rmdir'] as const;

export interface Call {
  /** The name the program was called by. */
  readonly program: string;
  readonly args: readonly string[];
  /** What it read on stdin (s6-ipcclient only), else null. */
  readonly stdin: string | null;
}

export interface Stubs {
  readonly dir: string;
  /** The stub's absolute path under a program's name (STUBBED_PROGRAMS, or the VMM's program name). */
  program(name: string): string;
  /** Runs an executable script (or `execlineb -P FILE`, given as argv) in `cwd` and returns what it called. */
  run(argv: readonly string[], cwd: string, env?: NodeJS.ProcessEnv): Promise<{ readonly code: number | null; readonly calls: Call[] }>;
  /**
   * Runs a VM's run script, waits until it has started the VMM (the stub of
   * s6-notifyoncheck), sends SIGTERM as s6-supervise's stop does, waits for
   * the handler's last call (s6-svc -i), then kills what is left.
   */
  runAndStop(serviceDir: string): Promise<{ readonly start: Call[]; readonly stop: Call[] }>;
}

/**
 * Stubs in `root`/stubs for every program in STUBBED_PROGRAMS and PATH_PROGRAMS
 * (unless `stubPathPrograms` is false: then mkdir, rm and chown are the real
 * ones) and for `vmmProgram`; scripts run with PATH = the stubs, then
 * `execlineBin` (the execline whose programs are under test), then the system's.
 */
export function makeStubs(root: string, execlineBin: string, vmmProgram: string, opts: { readonly stubPathPrograms?: boolean } = {}): Stubs {
  const dir = path.join(root, 'stubs');
  fs.mkdirSync(dir, { recursive: true });
  const stub = path.join(dir, '.stub');
  fs.writeFileSync(stub, STUB, { mode: 0o755 });
  for (const name of [...STUBBED_PROGRAMS, ...(opts.stubPathPrograms === false ? [] : PATH_PROGRAMS), vmmProgram]) fs.symlinkSync('.stub', path.join(dir, name));
  let runs = 0;
  const env = (records: string): NodeJS.ProcessEnv => ({ PATH: `${dir}:${execlineBin}:/usr/bin:/bin`, STUB_RECORDS: records, STUB_VMM: vmmProgram });
  const newRecords = (): string => {
    const records = path.join(root, `records-${++runs}`);
    fs.mkdirSync(records);
    return records;
  };

  return {
    dir,
    program: (name) => path.join(dir, name),
    async run(argv, cwd, extra = {}) {
      const records = newRecords();
      // Its own process group, so that what it leaves behind (a hostile stub's loop) goes with it.
      const child = spawn(argv[0]!, argv.slice(1), { cwd, env: { ...env(records), ...extra }, stdio: 'ignore', detached: true });
      const killGroup = (): void => {
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          // already gone
        }
      };
      const code = await new Promise<number | null>((resolve, reject) => {
        const timer = setTimeout(() => {
          killGroup();
          reject(new Error(`${argv.join(' ')} did not end within 20 s`));
        }, 20_000);
        child.on('exit', (c) => {
          clearTimeout(timer);
          resolve(c);
        });
      });
      killGroup();
      return { code, calls: readCalls(records) };
    },
    async runAndStop(serviceDir) {
      const records = newRecords();
      const child = spawn('./run', [], { cwd: serviceDir, env: env(records), stdio: 'ignore', detached: true });
      const pid = child.pid!;
      const killGroup = (): void => {
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {
          // already gone
        }
      };
      const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
      try {
        await waitFor(`${serviceDir}/run to start the VMM`, () => readCalls(records).some((c) => c.program === 's6-notifyoncheck'), 20_000, 20);
        // One listing for both: a call recorded between two listings would be in neither.
        const seen = new Set(fs.readdirSync(records));
        const start = readCalls(records, (f) => seen.has(f));
        process.kill(pid, 'SIGTERM');
        const handlerDone = (): boolean => readCalls(records).some((c) => c.program === 's6-svc' && c.args[0] === '-i');
        await waitFor(`${serviceDir}/run's stop handler to end`, handlerDone, 20_000, 20);
        // The presses run in the background: let the last ones land; and the
        // VMM's own logger, beside the rest, reaches its s6-log in its own time.
        await new Promise((r) => setTimeout(r, 300));
        await waitFor(`${serviceDir}/run's VMM logger to start`, () => readCalls(records).some((c) => c.program === 's6-log'), 20_000, 20);
        killGroup();
        await exited;
        const stop = readCalls(records, (f) => !seen.has(f));
        return { start, stop };
      } finally {
        killGroup();
      }
    },
  };
}

/** The calls recorded in `records`, oldest first; `which`: the record files to read (by name). */
function readCalls(records: string, which: (file: string) => boolean = () => true): Call[] {
  const files = fs.readdirSync(records).filter((f) => f.endsWith('.argv') && which(f)).sort(byCallTime);
  return files.map((f) => {
    const words = fs.readFileSync(path.join(records, f), 'utf8').split('\0').slice(0, -1);
    const stdinFile = path.join(records, f.replace(/\.argv$/, '.stdin'));
    return { program: words[0]!, args: words.slice(1), stdin: fs.existsSync(stdinFile) ? fs.readFileSync(stdinFile, 'utf8') : null };
  });
}

/** Record files are named NANOSECONDS.PID.argv. */
function byCallTime(a: string, b: string): number {
  const ns = (f: string): bigint => BigInt(f.split('.')[0]!);
  return ns(a) < ns(b) ? -1 : ns(a) > ns(b) ? 1 : 0;
}

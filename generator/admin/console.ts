/**
 * `vmsvc console NAME`: attaches the terminal to the VM's virtio-console when
 * the VMM offers it as a Unix socket: the manifest's `consoleSocket` (QEMU's
 * `<runtimeDir>/console.sock`; for manifests without the field,
 * `<runtimeDir>/console.sock` if a socket is there).
 *
 * One session per VM: a lock file `<runtimeDir>/console.lock`, created with
 * O_CREAT|O_EXCL and holding the owner's pid (no flock: the runtime dir may be
 * on any file system, and the holder is shown by pid). A lock whose pid is
 * dead is taken over: it is renamed aside (atomic), checked to still be the
 * dead holder's, and removed; a live holder moved aside meanwhile is put back.
 * The runtime dir is the VMM user's: the dir and the lock are never followed
 * as links, and a lock that is not a small regular file is refused (untrusted.ts).
 *
 * cloud-hypervisor gives the console as a pty (`--console pty`), whose path
 * only the running VMM knows: for it this says how to find the pty
 * (ch-remote info) and does not pretend to attach; crosvm has none.
 */
import * as fs from 'node:fs';
import { isAlive } from '../util/pid-lock.js';
import * as net from 'node:net';
import * as path from 'node:path';
import { printable } from '../util/bytes.js';
import { findVm, readTree } from './inventory.js';
import { CommandError, EXIT, guard, type Io } from '../command/shell.js';
import { isSocket, vmmOf } from './show.js';
import { vmmNamed } from '../vmm/index.js';
import { openUntrusted, readUntrusted } from './untrusted.js';
import { errnoOf } from '../util/errno.js';

/**
 * Arguments of `vmsvc console NAME`.
 *
 * - `source`: the generated source tree (the --out path); the manifest gives
 *   the VM's console socket, runtime dir (console.lock) and API socket.
 * - `name`: the VM.
 *
 * Streams stdin to the socket and the socket to stdout; stdin in raw mode
 * when it is a TTY (restored on exit). Ends on Ctrl-] (detach), end of stdin
 * (the socket is half-closed and its last output is waited for, up to
 * `drainMs`), the VM closing the socket, SIGTERM or SIGHUP.
 *
 * Exit codes: 0 detached or closed; 1 no console socket (pty console: says how
 * to find the pty, or the socket is a link), console in use by another session
 * (names its pid), a lock or runtime dir vmsvc did not make, or the socket
 * refused the connection; 2 unknown VM or unreadable manifest.
 * Takes no `json`: a terminal session has nothing to print as JSON.
 */
export interface ConsoleArgs {
  readonly source: string;
  readonly name: string;
}

/** process.stdin's shape, as far as the console uses it. */
export interface ConsoleInput extends NodeJS.ReadableStream {
  readonly isTTY?: boolean;
  setRawMode?(mode: boolean): unknown;
}

export interface ConsoleOptions {
  /** Default process.stdin / process.stdout. */
  readonly stdin?: ConsoleInput;
  readonly stdout?: NodeJS.WritableStream;
  /** After end of stdin, how long to wait for the socket's last output (ms, default 1000). */
  readonly drainMs?: number;
  /** Ends the session like Ctrl-] (tests). */
  readonly signal?: AbortSignal;
}

/** Ctrl-]: telnet's and virsh's escape character. */
export const DETACH_BYTE = 0x1d;

export function consoleCommand(args: ConsoleArgs, io: Io, opts: ConsoleOptions = {}): Promise<number> {
  return guard(io, async () => {
    const tree = readTree(args.source);
    const vm = findVm(tree, args.name);
    const socketPath = vm.consoleSocket;
    if (socketPath === null || !isSocket(socketPath)) {
      const vmm = vmmOf(tree, vm);
      const argv = 'argv' in vmm ? vmm.argv : [];
      const consoleArg = argv.includes('--console') ? argv[argv.indexOf('--console') + 1] : undefined;
      const kind = vmmNamed(tree.manifest.vmm)?.console;
      const ptyArg = kind?.kind === 'pty' && argv.includes(kind.flag) ? argv[argv.indexOf(kind.flag) + 1] : undefined;
      if (kind?.kind === 'pty' && ptyArg !== undefined && /^pty\b/.test(ptyArg)) {
        throw new CommandError(
          `VM ${printable(vm.name)} has no console socket: ${printable(tree.manifest.vmm)} gives its virtio-console as a pty (${kind.flag} ${printable(ptyArg)}), `
          + `whose path only the running VMM knows. Find it with\n  ${kind.find(printable(vm.controlSocket))}`,
          EXIT.failed);
      }
      if (socketPath === null) {
        throw new CommandError(`VM ${printable(vm.name)} has no console socket: the tree runs ${printable(tree.manifest.vmm)} with none`
          + `${consoleArg === undefined ? '' : ` (--console ${printable(consoleArg)})`}`, EXIT.failed);
      }
      throw new CommandError(`VM ${printable(vm.name)} has no console socket at ${printable(socketPath)} now (is it running?)`, EXIT.failed);
    }
    const lockFile = path.join(vm.runtimeDir, 'console.lock');
    const lock = await acquireLock(lockFile);
    if (!lock.ok) {
      throw new CommandError(
        `the console of VM ${printable(vm.name)} is in use by pid ${lock.holder}; one session at a time`
        + ` (if no console session runs as pid ${lock.holder}, remove ${printable(lockFile)})`,
        EXIT.failed);
    }
    try {
      return await session(vm.name, socketPath, io, opts);
    } finally {
      lock.release();
    }
  });
}

async function session(name: string, socketPath: string, io: Io, opts: ConsoleOptions): Promise<number> {
  const stdin: ConsoleInput = opts.stdin ?? process.stdin;
  const stdout: NodeJS.WritableStream = opts.stdout ?? process.stdout;
  const socket = net.createConnection(socketPath);
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
  } catch (e) {
    socket.destroy();
    throw new CommandError(`cannot connect to ${printable(socketPath)}: ${e instanceof Error ? e.message : String(e)}`, EXIT.failed);
  }
  io.err(`vmsvc: attached to the console of VM ${printable(name)}; Ctrl-] detaches\n`);
  const raw = stdin.isTTY === true && typeof stdin.setRawMode === 'function';
  if (raw) stdin.setRawMode!(true);
  let why = '';
  let code: number = EXIT.ok;
  let finish: () => void = () => undefined;
  const done = new Promise<void>((resolve) => {
    finish = resolve;
  });
  const end = (reason: string, exitCode: number = EXIT.ok) => {
    if (why !== '') return;
    why = reason;
    code = exitCode;
    finish();
  };
  let drainTimer: NodeJS.Timeout | null = null;
  const onInput = (chunk: Buffer | string) => {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    const at = bytes.indexOf(DETACH_BYTE);
    if (at < 0) {
      socket.write(bytes);
      return;
    }
    if (at > 0) socket.write(bytes.subarray(0, at));
    end('detached');
  };
  const onInputEnd = () => {
    // Let the other side answer what it was sent, then go.
    socket.end();
    drainTimer = setTimeout(() => end('end of input'), opts.drainMs ?? 1000);
  };
  const onOutput = (chunk: Buffer) => {
    stdout.write(chunk);
  };
  const onSocketEnd = () => end(drainTimer === null ? 'the console closed' : 'end of input');
  const onSocketError = (e: Error) => end(`console error: ${e.message}`, EXIT.failed);
  const onSignal = () => end('signal');
  const onAbort = () => end('detached');
  stdin.on('data', onInput);
  stdin.on('end', onInputEnd);
  socket.on('data', onOutput);
  socket.on('close', onSocketEnd);
  socket.on('error', onSocketError);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  opts.signal?.addEventListener('abort', onAbort);
  if (opts.signal?.aborted === true) onAbort();
  stdin.resume();
  try {
    await done;
  } finally {
    if (drainTimer !== null) clearTimeout(drainTimer);
    stdin.removeListener('data', onInput);
    stdin.removeListener('end', onInputEnd);
    stdin.pause();
    if (raw) stdin.setRawMode!(false);
    socket.removeListener('data', onOutput);
    socket.removeListener('close', onSocketEnd);
    socket.removeListener('error', onSocketError);
    socket.on('error', () => undefined);
    socket.destroy();
    process.removeListener('SIGTERM', onSignal);
    process.removeListener('SIGHUP', onSignal);
    opts.signal?.removeEventListener('abort', onAbort);
  }
  io.err(`\r\nvmsvc: ${why}; left the console of VM ${printable(name)}\n`);
  return code;
}

// ---------------------------------------------------------------------------
// The lock

export type LockResult =
  | { readonly ok: true; release(): void }
  /** holder: the live pid in the lock. */
  | { readonly ok: false; readonly holder: number };

/** A pid and a newline; a longer lock is not one vmsvc wrote. */
const LOCK_MAX_BYTES = 32;

/**
 * The lock's directory (the VM's runtime dir, writable by the VMM user), held
 * open so every step below names the lock through it (see untrusted.ts):
 * neither the dir nor the lock is ever a link followed.
 */
interface LockDir {
  readonly fd: number;
  /** The lock as the user knows it, for messages. */
  readonly shown: string;
  /** The lock, and the name a stale one is moved aside to, through the held directory. */
  readonly at: string;
  readonly aside: string;
}

function readPid(lock: LockDir): number | null | 'gone' {
  const read = readUntrusted(`/proc/self/fd/${lock.fd}`, [path.basename(lock.at)], LOCK_MAX_BYTES, path.dirname(lock.shown));
  if (read.kind === 'missing') return 'gone';
  if (read.kind === 'refused') {
    throw new CommandError(`${printable(read.why)}: not a console lock vmsvc wrote; remove it if no console session runs`, EXIT.failed);
  }
  const m = /^(\d+)\n?$/.exec(read.data.toString('latin1'));
  return m === null ? null : Number(m[1]);
}

/** A lock file still empty after this long was left by a holder that died before writing its pid. */
const EMPTY_LOCK_GRACE_MS = 2000;

/**
 * Takes `file` for `pid`: O_EXCL create, then the pid. An existing lock with
 * a live pid refuses; a dead pid's is taken over, and so is an empty or
 * garbled one once it is 2 s old (its taker died before writing its pid).
 * A lock that is not a small regular file (a link, a FIFO, a device) was not
 * written by vmsvc: refused, naming it. release() removes the file only while
 * it still holds our pid.
 */
export async function acquireLock(file: string, pid: number = process.pid): Promise<LockResult> {
  const dir = path.dirname(file);
  const opened = openUntrusted(path.dirname(dir), [path.basename(dir)], true);
  if (opened.kind === 'missing') throw new CommandError(`cannot take the console lock ${printable(file)}: ${printable(dir)} does not exist`, EXIT.failed);
  if (opened.kind === 'refused') throw new CommandError(`cannot take the console lock ${printable(file)}: ${printable(opened.why)}`, EXIT.failed);
  const held = `/proc/self/fd/${opened.fd}`;
  const lock: LockDir = { fd: opened.fd, shown: file, at: `${held}/${path.basename(file)}`, aside: `${held}/${path.basename(file)}.stale-${pid}` };
  let result: LockResult | null = null;
  try {
    result = await takeLock(lock, pid);
    return result;
  } finally {
    if (result === null || !result.ok) fs.closeSync(lock.fd);
  }
}

async function takeLock(lock: LockDir, pid: number): Promise<LockResult> {
  for (;;) {
    try {
      const fd = fs.openSync(lock.at, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600);
      try {
        fs.writeSync(fd, `${pid}\n`);
      } finally {
        fs.closeSync(fd);
      }
      return { ok: true, release: () => releaseLock(lock, pid) };
    } catch (e) {
      if (!(errnoOf(e) === 'EEXIST')) throw e;
    }
    const holder = readPid(lock);
    if (holder === 'gone') continue;
    if (holder !== null && isAlive(holder)) return { ok: false, holder };
    if (holder === null) {
      let age = 0;
      try {
        age = Date.now() - fs.lstatSync(lock.at).mtimeMs;
      } catch {
        continue;
      }
      if (age < EMPTY_LOCK_GRACE_MS) {
        await new Promise((r) => setTimeout(r, 50));
        continue;
      }
    }
    // Stale: move it aside, and make sure what we moved is the stale lock.
    try {
      fs.renameSync(lock.at, lock.aside);
    } catch (e) {
      if (errnoOf(e) === 'ENOENT') continue;
      throw e;
    }
    const moved = readPid({ ...lock, at: lock.aside, shown: `${lock.shown}.stale-${pid}` });
    if (typeof moved === 'number' && moved !== holder && isAlive(moved)) {
      // Someone took the lock over between our read and the rename: give it back.
      try {
        fs.linkSync(lock.aside, lock.at);
      } catch { /* a third session holds it now */ }
      fs.rmSync(lock.aside, { force: true });
      return { ok: false, holder: moved };
    }
    fs.rmSync(lock.aside, { force: true });
  }
}

function releaseLock(lock: LockDir, pid: number): void {
  try {
    if (readPid(lock) === pid) fs.unlinkSync(lock.at);
  } catch { /* already gone, or no longer a lock of ours */ }
  fs.closeSync(lock.fd);
}

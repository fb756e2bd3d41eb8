/**
 * `vmsvc console NAME`: attaches the terminal to the VM's virtio-console when
 * the VMM offers it as a Unix socket: the manifest's `consoleSocket` (QEMU's
 * `<runtimeDir>/console.sock`; for manifests without the field,
 * `<runtimeDir>/console.sock` if a socket is there).
 *
 * One session per VM: the pid lock `<runtimeDir>/console.lock` (util/pid-lock.ts;
 * no flock: the runtime dir may be on any file system, and the holder is
 * shown by pid). The runtime dir is the VMM user's: neither it nor the lock
 * is followed as a link, and a lock that is not a small regular file is
 * refused, naming it. The socket is connected to with the VMM's uid and gid
 * (its run script's drop), never root's: the VMM may put anything at that
 * path, a link to another VM's console among them, between the check that
 * it is a socket and the connect, and so it reaches only what it could
 * reach itself.
 *
 * cloud-hypervisor gives the console as a pty (`--console pty`), whose path
 * only the running VMM knows: for it this says how to find the pty
 * (ch-remote info) and does not pretend to attach; crosvm has none.
 */
import * as net from 'node:net';
import * as path from 'node:path';
import { printable } from '../util/bytes.js';
import { findVm, readTree, type AdminVm, type Tree } from './tree.js';
import { type VmmIds } from './vmm-argv.js';
import { userIds } from '../util/account-db.js';
import { CommandError, EXIT, guard, type Io } from '../command/shell.js';
import { vmmOf } from './show.js';
import { vmmNamed } from '../vmm/index.js';
import { isSocket } from '../util/untrusted.js';
import { takeLock } from '../util/pid-lock.js';

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
 * refused the connection, or a manifest vmsvc did not write; 100 an unknown
 * VM; 111 an unreadable manifest.
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
    const lock = takeLock(lockFile, { untrustedDir: true });
    if (!lock.ok && 'refused' in lock) {
      throw new CommandError(lock.at === 'dir'
        ? `cannot take the console lock ${printable(lockFile)}: ${printable(lock.refused)}`
        : `${printable(lock.refused)}: not a console lock vmsvc wrote; remove it if no console session runs`, EXIT.failed);
    }
    if (!lock.ok) {
      throw new CommandError(
        `the console of VM ${printable(vm.name)} is in use by pid ${lock.holder}; one session at a time`
        + ` (if no console session runs as pid ${lock.holder}, remove ${printable(lockFile)})`,
        EXIT.failed);
    }
    try {
      return await session(vm.name, socketPath, vmmIds(tree, vm), io, opts);
    } finally {
      lock.release();
    }
  });
}

/** Who the VMM runs as (its run script's drop): null for root; refused when the run script does not say. */
function vmmIds(tree: Tree, vm: AdminVm): VmmIds | null {
  const vmm = vmmOf(tree, vm);
  if ('error' in vmm) throw new CommandError(`cannot tell who the VMM of VM ${printable(vm.name)} runs as, to connect as it: ${printable(vmm.error)}`, EXIT.failed);
  if (vmm.ids !== null || vmm.user === null) return vmm.ids;
  const ids = userIds(vmm.user);
  if (ids === null) throw new CommandError(`the VMM of VM ${printable(vm.name)} runs as ${printable(vmm.user)}, which /etc/passwd does not have`, EXIT.failed);
  return ids;
}

/**
 * net.createConnection with `ids` as the effective uid and gid (and only
 * group) for the connect(2), which libuv makes at once, then root's back.
 * Unchanged when vmsvc does not run as root (it cannot switch, and reaches
 * no more than its own user does).
 */
function connectAs(socketPath: string, ids: VmmIds | null): net.Socket {
  if (ids === null || process.geteuid?.() !== 0) return net.createConnection(socketPath);
  const groups = process.getgroups!();
  const egid = process.getegid!();
  process.setgroups!([ids.gid]);
  process.setegid!(ids.gid);
  process.seteuid!(ids.uid);
  try {
    return net.createConnection(socketPath);
  } finally {
    process.seteuid!(0);
    process.setegid!(egid);
    process.setgroups!(groups);
  }
}

async function session(name: string, socketPath: string, ids: VmmIds | null, io: Io, opts: ConsoleOptions): Promise<number> {
  const stdin: ConsoleInput = opts.stdin ?? process.stdin;
  const stdout: NodeJS.WritableStream = opts.stdout ?? process.stdout;
  const socket = connectAs(socketPath, ids);
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

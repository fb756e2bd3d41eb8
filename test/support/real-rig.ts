/**
 * A private supervision tree for `vmsvc apply` under the real s6-rc: the
 * prefix's s6-svscan on its own scandir inside a network namespace (the link
 * oneshots create bridges and taps there), a stub VMM first in PATH, and
 * helpers to run apply and s6-rc and read pids. Torn down with every
 * service stopped and every process gone.
 */
import type { ExecutionContext } from 'ava';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { VMSVC, vmsvc, withoutCgroup, type CliResult } from './cli.js';
import { createNetns } from './netns.js';
import { withOpenTun } from './tun.js';
import type { RealS6rc } from './real-s6rc.js';

export interface Rig {
  readonly root: string;
  readonly data: string;
  readonly state: string;
  readonly scandir: string;
  readonly live: string;
  readonly runtime: string;
  readonly env: NodeJS.ProcessEnv;
  readonly svscan: ChildProcess;
  /** The network namespace the tree runs in. */
  readonly ns: string;
  /** `apply` and the rig's flags: the arguments of bin/vmsvc.cjs for a run started by the test itself. */
  readonly applyArgs: readonly string[];
  /** `vmsvc apply` with the rig's directories (and extra flags). */
  apply(extra?: readonly string[]): CliResult;
  /** `vmsvc apply` started with its soft stack limit at `bytes` (s6-softlimit -s), as on a host with a small default. */
  applyWithStack(bytes: number, extra?: readonly string[]): CliResult;
  /** An admin command with the rig's --state, as an admin would run it after apply. */
  admin(args: readonly string[]): CliResult;
  /** Runs a prefix program (s6-rc, s6-svstat, ...) with the rig's environment. */
  s6(program: string, args: readonly string[]): CliResult;
  /** `s6-rc -a list`: the services that are up, sorted. */
  up(): string[];
  /** The pid s6-supervise reports for a longrun, null when it is down. */
  pid(service: string): number | null;
}

export interface RigOptions {
  /** s6-svscan -C. */
  readonly servicesMax?: number;
  /**
   * Scripts in a bin dir first in PATH, by name (the stub VMM); the VMM's
   * path, if returned, is passed as --vmm-bin: the VMM's sandbox shows /usr
   * and a --vmm-bin's own dir, not PATH's other dirs.
   */
  readonly bin: (binDir: string) => string | void;
  /** apply flags added to every run. */
  readonly flags?: readonly string[];
  /** The VMMs open taps for real (QEMU): the tree sees a /dev/net/tun every uid may open (support/tun.ts). */
  readonly tun?: boolean;
}

export async function startRig(t: ExecutionContext, real: RealS6rc, opts: RigOptions): Promise<Rig> {
  // On a tmpfs when there is one, as /run is at boot: this machine's disk makes thousands of files slow.
  const root = fs.mkdtempSync(path.join(fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'vmsvc-real-'));
  // Reachable by the VMs' own uids, which run the stub VMM and the loggers below it.
  fs.chmodSync(root, 0o755);
  const data = path.join(root, 'data');
  const state = path.join(root, 'state');
  const scandir = path.join(root, 'scan');
  const bin = path.join(root, 'bin');
  const runtime = path.join(root, 'run');
  const live = path.join(state, 'live');
  for (const d of [data, scandir, bin]) fs.mkdirSync(d, { recursive: true });
  const vmmBin = opts.bin(bin);
  // A system PATH, as the supervision tree has at boot: not this test's, whose
  // entries (a dir in /root) the VMs' own uids may not search, which turns a
  // missing VMM's 127 into 126.
  const env = real.env({ PATH: `${bin}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin` });
  const ns = createNetns(t);
  const log = fs.openSync(path.join(root, 'svscan.log'), 'a');
  const svscanArgv = [real.bin('s6-svscan'), '-C', String(opts.servicesMax ?? 1000), scandir];
  const svscan = spawn('ip', ['netns', 'exec', ns, ...(opts.tun === true ? withOpenTun(root, svscanArgv, true) : svscanArgv)], { env, stdio: ['ignore', log, log] });
  fs.closeSync(log);
  const exited = new Promise<void>((resolve) => svscan.once('exit', () => resolve()));
  const run = (program: string, args: readonly string[]): CliResult => {
    const r = spawnSync(real.bin(program), args, { encoding: 'utf8', env, timeout: 120_000 });
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  };
  t.teardown(async () => {
    if (fs.existsSync(live)) run('s6-rc', ['-l', live, '-da', 'change']);
    run('s6-svscanctl', ['-q', scandir]);
    const timer = setTimeout(() => svscan.kill('SIGKILL'), 60_000);
    await exited;
    clearTimeout(timer);
    // Supervisors s6-svscan left behind (it does not wait for thousands to exit), by their cwd under root.
    for (const pid of processesUnder(root)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Gone meanwhile.
      }
    }
    fs.rmSync(root, { recursive: true, force: true });
  });
  for (let i = 0; !fs.existsSync(path.join(scandir, '.s6-svscan', 'control')); i++) {
    if (i > 200) throw new Error(`s6-svscan did not start: ${fs.readFileSync(path.join(root, 'svscan.log'), 'utf8')}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  // withoutCgroup: see test/support/cli.ts; every apply of the rig goes through it, whoever spawns it.
  const flags = withoutCgroup(['apply',
    '--data', data, '--state', state, '--scandir', scandir,
    '--runtime-dir', runtime, '--log-dir', path.join(root, 'log'), '--execlineb', real.bin('execlineb'),
    ...(typeof vmmBin === 'string' ? ['--vmm-bin', vmmBin] : []), ...(opts.flags ?? []),
  ]).slice(1);
  return {
    root, data, state, scandir, live, runtime, env, svscan, ns,
    applyArgs: ['apply', ...flags],
    // apply waits for the autostart VMs (each up to its timeout-up): 60 s was
    // too little with the suite's other VMs starting on two cores.
    apply: (extra = []) => vmsvc(['apply', ...flags, ...extra], env, 300_000),
    applyWithStack(bytes, extra = []) {
      const r = spawnSync(real.bin('s6-softlimit'), ['-s', String(bytes), process.execPath, VMSVC, 'apply', ...flags, ...extra], { encoding: 'utf8', env, timeout: 600_000 });
      return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
    },
    // Only --state: the rest is what apply recorded there (STATE/where.json).
    admin: (args) => vmsvc([...args, '--state', state], env, 300_000),
    s6: run,
    up: () => run('s6-rc', ['-l', live, '-a', 'list']).stdout.split('\n').filter((l) => l !== '').sort(),
    pid(service) {
      const r = run('s6-svstat', ['-p', path.join(scandir, service)]);
      const n = Number(r.stdout.trim());
      return r.code === 0 && n > 0 ? n : null;
    },
  };
}

/** Processes whose working directory is below `root`. */
function processesUnder(root: string): number[] {
  const out: number[] = [];
  for (const pid of fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      if (fs.readlinkSync(`/proc/${pid}/cwd`).startsWith(`${root}/`)) out.push(Number(pid));
    } catch {
      // Gone, or not ours to read.
    }
  }
  return out;
}

/**
 * A VMM stand-in light enough for thousands of VMs: binds the API socket,
 * writes one serial line and sleeps; a ch-remote beside it answers readiness.
 * One process per VM, no node. Its rigs run it with --sandbox none
 * (TINY_VMM_FLAGS): it runs the prefix's s6-ipcserver-socketbinder, which
 * the sandbox does not show, and its ch-remote signals it by the pid it
 * wrote, which in the sandbox is its own pid namespace's.
 */
export const TINY_VMM_FLAGS = ['--sandbox', 'none'] as const;

export function installTinyVmm(binDir: string, real: RealS6rc): void {
  fs.writeFileSync(path.join(binDir, 'cloud-hypervisor'), [
    '#!/bin/sh',
    '# argv: --api-socket path=SOCKET ...',
    'sock=${2#path=}',
    'echo "serial: tiny stub on $sock"',
    // exec keeps the pid: the power button below ends it.
    'echo $$ > "${sock%/*}/pid"',
    `exec ${real.bin('s6-ipcserver-socketbinder')} -- "$sock" sleep infinity`,
    '',
  ].join('\n'), { mode: 0o755 });
  // Its readiness answer: light enough for thousands of probes, it says the
  // VM runs once the socket is bound (vm.info's format, see stub-vmm.ts).
  fs.writeFileSync(path.join(binDir, 'ch-remote'), [
    '#!/bin/sh',
    '# argv: --api-socket SOCKET info | power-button | shutdown-vmm | add-net CONFIG | remove-device ID',
    '[ -S "$2" ] || exit 1',
    // A VM named mute: its VMM runs and never says so (readiness never comes).
    'case "$2" in */mute/*) exit 1 ;; esac',
    // The power button: the tiny VM powers off at once.
    'case "$3" in power-button|shutdown-vmm) exec kill -TERM "$(cat "${2%/*}/pid")" ;; esac',
    // Hot-plugged links: one line per NIC (its add-net config) in the VM's runtime dir, listed by info as config.net's taps.
    'nics="${2%/*}/nics"',
    'case "$3" in add-net) echo "$4," >>"$nics"; exit 0 ;; esac',
    'case "$3" in remove-device) grep -v "^id=$4," "$nics" >"$nics.new"; mv -f "$nics.new" "$nics"; exit 0 ;; esac',
    'taps=$(sed -n \'s/.*tap=\\([^,]*\\),.*/"tap":"\\1",/p\' "$nics" 2>/dev/null | tr -d "\\n")',
    'echo "{\\"config\\":{\\"net\\":[{$taps}]},\\"state\\":\\"Running\\",\\"memory_actual_size\\":0}"',
    '',
  ].join('\n'), { mode: 0o755 });
}

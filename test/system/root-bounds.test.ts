/**
 * Root never acts on what a less trusted user controls (issue 22, item 4).
 * The readiness check, the stop's power button and the finish script's quit
 * run as root under s6-supervise and talk to the VMM, which a guest that
 * escapes into it controls; the logger's run script runs as root in the log
 * user's directory; crosvm's sandbox root sat in the VMM user's runtime dir.
 * Each attack here is made as that user would make it, against the generated
 * scripts run by the real execlineb, and each has a control showing the same
 * action works where it is allowed.
 */
import test, { type ExecutionContext } from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { vmsvc } from '../support/cli.js';
import { dataDirWith } from '../support/data-dir.js';
import { makeStubs } from '../support/recording-stubs.js';
import { realS6rc } from '../support/real-s6rc.js';

const NOBODY = 65534;
const DEBIAN_EXECLINE = '/usr/lib/execline/bin';

/** An execline here (Debian's, else the prefix's), with the directory of its programs. */
const EXECLINE = [DEBIAN_EXECLINE, ...(realS6rc === null ? [] : [path.dirname(realS6rc.bin('execlineb'))])]
  .find((dir) => fs.existsSync(path.join(dir, 'forx')));
/** s6-ipcclient, s6-ioconnect and s6-setuidgid, real: Debian's s6, else the prefix's. */
const S6_BIN = ['/usr/bin', ...(realS6rc === null ? [] : [path.dirname(realS6rc.bin('s6-svscan'))])]
  .find((dir) => ['s6-ipcclient', 's6-ioconnect', 's6-setuidgid'].every((p) => fs.existsSync(path.join(dir, p))));
const asRoot = process.getuid?.() === 0;
const missing = EXECLINE === undefined ? 'no execline here' : S6_BIN === undefined ? 'no s6 here' : !asRoot ? 'not root' : null;

function rootTest(title: string, fn: (t: ExecutionContext, execline: string, s6: string) => Promise<void>): void {
  if (missing !== null || EXECLINE === undefined || S6_BIN === undefined) {
    test.skip(`${title} [skipped: ${missing ?? ''}]`, () => {});
    return;
  }
  const [execline, s6] = [EXECLINE, S6_BIN];
  test(title, (t) => fn(t, execline, s6));
}

/** A temp root everyone can traverse (nobody must reach its runtime and log dirs), removed after the test. */
function rig(t: ExecutionContext, vms: Parameters<typeof dataDirWith>[0]): { root: string; data: string } {
  const r = dataDirWith(vms);
  fs.chmodSync(r.root, 0o755);
  t.teardown(() => fs.rmSync(r.root, { recursive: true, force: true }));
  return r;
}

function generate(t: ExecutionContext, root: string, data: string, args: readonly string[]): string {
  const out = path.join(root, 'out');
  const r = vmsvc(['generate', '--data', data, '--out', out, '--runtime-dir', path.join(root, 'run'), '--log-dir', path.join(root, 'log'), ...args]);
  t.is(r.code, 0, r.stderr);
  return out;
}

/** Runs `argv` as user nobody (setpriv), returning its exit status. */
function asNobody(argv: readonly string[]): number | null {
  return spawnSync('setpriv', ['--reuid', String(NOBODY), '--regid', String(NOBODY), '--clear-groups', '--', ...argv]).status;
}

for (const [vmm, args] of [['qemu', ['--vmm', 'qemu']], ['cloud-hypervisor', []]] as const) {
  rootTest(`${vmm}: a VMM that floods its reply costs the root check 64 KiB and ends it; one that trickles it, or never answers, is killed at 10 s`, async (t, execline) => {
    const { root, data } = rig(t, { vm: {} });
    const stubs = makeStubs(root, execline, vmm === 'qemu' ? 'qemu-system-x86_64' : 'cloud-hypervisor');
    const out = generate(t, root, data, [...args, '--ch-remote', stubs.program('ch-remote'), '--s6-ipcclient', stubs.program('s6-ipcclient')]);
    const service = path.join(out, 'vm-vm');
    // Control: a VMM that says the VM runs makes the check pass.
    t.is((await stubs.run(['./data/check'], service)).code, 0, 'an honest VMM');
    for (const answer of ['flood', 'trickle', 'hang']) {
      const started = Date.now();
      const r = await stubs.run(['./data/check'], service, { STUB_ANSWER: answer });
      t.not(r.code, 0, `${answer}: the check fails`);
      t.true(Date.now() - started < 15_000, `${answer}: the check ended after ${Date.now() - started} ms`);
    }
  });
}

rootTest('crosvm: a `crosvm resume` that never returns is killed at 10 s', async (t, execline) => {
  const { root, data } = rig(t, { vm: {} });
  const stubs = makeStubs(root, execline, 'crosvm');
  const service = path.join(generate(t, root, data, ['--vmm', 'crosvm', '--no-user-console', '--vmm-bin', stubs.program('crosvm')]), 'vm-vm');
  t.is((await stubs.run(['./data/check'], service)).code, 0, 'an honest VMM');
  const started = Date.now();
  t.not((await stubs.run(['./data/check'], service, { STUB_ANSWER: 'hang' })).code, 0);
  t.true(Date.now() - started < 15_000, `the check ended after ${Date.now() - started} ms`);
});

/** A QMP server answering every connection with "running"; counts the connections. */
async function qmpServer(t: ExecutionContext, socket: string): Promise<{ connections: () => number }> {
  let connections = 0;
  const server = net.createServer((c) => {
    connections++;
    c.on('data', (d) => {
      if (String(d).includes('query-status')) c.end('{"QMP": {}}\n{"return": {}}\n{"return": {"status": "running", "singlestep": false, "running": true}}\n');
    });
    c.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  t.teardown(() => server.close());
  return { connections: () => connections };
}

rootTest('the readiness check connects as the VMM\'s user: a link its VMM user puts at the socket\'s path reaches no socket that user cannot', async (t, execline, s6) => {
  const { root, data } = rig(t, { vm: {} });
  const out = generate(t, root, data, ['--vmm', 'qemu', '--vmm-user', 'nobody',
    '--s6-ipcclient', path.join(s6, 's6-ipcclient'), '--s6-ioconnect', path.join(s6, 's6-ioconnect'), '--s6-setuidgid', path.join(s6, 's6-setuidgid')]);
  const runtime = path.join(root, 'run', 'vm');
  fs.mkdirSync(runtime, { recursive: true, mode: 0o750 });
  fs.chmodSync(path.join(root, 'run'), 0o755);
  fs.chownSync(runtime, NOBODY, NOBODY);
  const socket = path.join(runtime, 'qmp.sock');
  const env = { ...process.env, PATH: `${execline}:${s6}:/usr/bin:/bin` };
  // Not spawnSync: the QMP servers answer from this process's event loop.
  const check = (): Promise<number | null> => new Promise((resolve) => {
    const child = spawn('./data/check', [], { cwd: path.join(out, 'vm-vm'), env, stdio: 'ignore', timeout: 30_000 });
    child.on('exit', (code) => resolve(code));
  });

  // Control: the VMM's own socket, its user's, answers the check.
  const own = await qmpServer(t, socket);
  fs.chownSync(socket, NOBODY, NOBODY);
  t.is(await check(), 0, 'the VM\'s own socket');
  t.true(own.connections() > 0);

  // Attack: the VMM user replaces its socket with a link to root's own socket.
  const rootOnly = path.join(root, 'root-only');
  fs.mkdirSync(rootOnly, { mode: 0o700 });
  const roots = await qmpServer(t, path.join(rootOnly, 'qmp.sock'));
  fs.rmSync(socket);
  t.is(asNobody(['ln', '-s', path.join(rootOnly, 'qmp.sock'), socket]), 0, 'the VMM user can put a link there');
  t.not(await check(), 0, 'the check does not get root\'s socket to answer for the VM');
  t.is(roots.connections(), 0, 'root\'s socket was never connected to');
});

rootTest('the logger\'s run script gives the log user its directory, never a file the log user linked into it', async (t, execline) => {
  const { root, data } = rig(t, { vm: {} });
  const out = generate(t, root, data, ['--log-user', 'nobody']);
  const stubs = makeStubs(root, execline, 'cloud-hypervisor', { stubPathPrograms: false });
  const logDir = path.join(root, 'log', 'vm');
  fs.mkdirSync(logDir, { recursive: true });
  fs.chownSync(logDir, NOBODY, NOBODY);
  // A root-only file, hard-linked into the log dir: what the log user can do
  // to any file with fs.protected_hardlinks=0 (root makes the link here).
  const secret = path.join(root, 'secret');
  fs.writeFileSync(secret, 'root only\n', { mode: 0o600 });
  fs.linkSync(secret, path.join(logDir, 'planted'));
  const r = await stubs.run(['./run'], path.join(out, 'vm-vm-log'));
  t.is(r.code, 0);
  t.is(fs.statSync(secret).uid, 0, 'the linked file is still root\'s');
  t.is(fs.statSync(secret).mode & 0o777, 0o600);
  // Control: the directory itself is the log user's, and s6-log runs as that user.
  t.is(fs.statSync(logDir).uid, NOBODY);
  t.deepEqual(r.calls.map((c) => c.program), ['s6-setuidgid']);
  // As nobody: its own hand-over of what another owner left (log-run.hbs), then s6-log, a top-level word.
  t.is(r.calls[0]!.args[0], 'nobody');
  t.deepEqual(r.calls[0]!.args.filter((w) => w === 's6-log'), ['s6-log']);
});

rootTest('crosvm\'s sandbox root is root\'s, where the VMM user cannot replace it; the VMM user\'s own runtime dir stays its own', async (t, execline) => {
  const { root, data } = rig(t, { vm: {} });
  const stubs = makeStubs(root, execline, 'crosvm', { stubPathPrograms: false });
  const out = generate(t, root, data, ['--vmm', 'crosvm', '--no-user-console', '--vmm-user', 'nobody']);
  const { start } = await stubs.runAndStop(path.join(out, 'vm-vm'));
  const launch = start.find((c) => c.program === 's6-notifyoncheck')!;
  const pivot = launch.args[launch.args.indexOf('--pivot-root') + 1]!;
  const runtime = path.join(root, 'run', 'vm');
  t.is(path.dirname(pivot), path.join(root, 'run'), 'beside the VMs\' runtime dirs, not in one');
  t.is(fs.statSync(pivot).uid, 0);
  t.is(fs.statSync(pivot).mode & 0o777, 0o555);
  t.is(fs.statSync(path.dirname(pivot)).uid, 0);
  // Attack: as the VMM user, replace the pivot root with a directory of one's own.
  t.not(asNobody(['mv', pivot, `${pivot}.old`]), 0, 'it cannot be moved away');
  t.not(asNobody(['mkdir', path.join(pivot, 'x')]), 0, 'nothing can be put in it');
  t.deepEqual(fs.readdirSync(pivot), []);
  // Control: the same user can do as it likes in its own runtime dir.
  t.is(fs.statSync(runtime).uid, NOBODY);
  t.is(asNobody(['mkdir', path.join(runtime, 'mine')]), 0);
});

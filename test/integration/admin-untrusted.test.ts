/**
 * The admin commands do not trust what they read (issue 10, item 6): the
 * runtime dirs (the VMM user's), the log dirs (the log user's) and the
 * generated tree (which may be edited). Each case runs the built CLI as a
 * user does, with a time limit and a small heap: a hang or a read without
 * end fails the test, never the suite.
 */
import test from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { VMSVC, vmsvc } from '../support/cli.js';
import { dataDirWith } from '../support/data-dir.js';

const LIMIT_MS = 15_000;

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly timedOut: boolean;
}

/** The CLI with a deadline (killed at LIMIT_MS) and a 256 MB heap, stdin from /dev/null. */
function cli(args: readonly string[], onStdout: (soFar: string) => void = () => undefined): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--max-old-space-size=256', VMSVC, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, LIMIT_MS);
    child.stdout.on('data', (b: Buffer) => {
      out.push(b);
      onStdout(Buffer.concat(out).toString('utf8'));
    });
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out).toString('utf8').slice(0, 10_000), stderr: Buffer.concat(err).toString('utf8').slice(0, 10_000), timedOut });
    });
  });
}

type T = { teardown(fn: () => void): void };

interface Tree {
  readonly root: string;
  readonly out: string;
  readonly run: string;
  readonly log: string;
}

/** netvm provides for appvm; QEMU, so each VM has a console socket in its runtime dir. */
function tree(t: T): Tree {
  const { root, data } = dataDirWith({ netvm: {}, appvm: { providers: ['netvm'] } });
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  const g = { root, out: path.join(root, 'out'), run: path.join(root, 'run'), log: path.join(root, 'log') };
  const r = vmsvc(['generate', '--data', data, '--out', g.out, '--vmm', 'qemu', '--runtime-dir', g.run, '--log-dir', g.log]);
  if (r.code !== 0) throw new Error(`generate failed: ${r.stderr}`);
  return g;
}

/** A copy of the generated tree to edit (version dirs are never modified). */
function editedCopy(g: Tree, name: string, edit: (dir: string) => void): string {
  const dir = path.join(g.root, name);
  fs.cpSync(g.out, dir, { recursive: true, dereference: true });
  edit(dir);
  return dir;
}

function editManifest(dir: string, fn: (m: { vms: Array<Record<string, unknown>>; links: Array<Record<string, unknown>> }) => void): void {
  const file = path.join(dir, 'vmsvc-manifest.json');
  const m = JSON.parse(fs.readFileSync(file, 'utf8')) as { vms: Array<Record<string, unknown>>; links: Array<Record<string, unknown>> };
  fn(m);
  fs.writeFileSync(file, JSON.stringify(m, null, 2));
}

/** A file only root may read, standing for /etc/shadow. */
function secret(g: Tree): string {
  const file = path.join(g.root, 'shadow');
  fs.writeFileSync(file, 'root:SECRET-HASH:20000:0:99999:7:::\n', { mode: 0o600 });
  return file;
}

/** A root-only file shaped like a run script, so that show would print its "VMM" if it read it. */
function secretRunScript(g: Tree): string {
  const file = path.join(g.root, 'root-only-run');
  fs.writeFileSync(file, '#!/bin/execlineb -P\ns6-notifyoncheck -d /root/SECRET-HASH\n', { mode: 0o600 });
  return file;
}

function ended(t: { false(v: boolean, m: string): void }, r: Run, what: string): void {
  t.false(r.timedOut, `${what} did not end within ${LIMIT_MS} ms`);
}

test('a provider cycle in an edited manifest: show, start, stop, ls and graph refuse it at once, naming the cycle', async (t) => {
  const g = tree(t);
  const dir = editedCopy(g, 'cycle', (d) => editManifest(d, (m) => {
    for (const vm of m.vms) if (vm['name'] === 'netvm') vm['providers'] = ['appvm'];
  }));
  // A live dir as s6-rc-init makes it (LIVE/compiled): start and stop refuse a missing one first.
  const live = path.join(g.root, 'live');
  fs.mkdirSync(path.join(live, 'compiled'), { recursive: true });
  const rc = ['--s6rc', '/bin/true', '--live', live];
  for (const args of [['show', 'appvm', '--scandir', g.run], ['start', 'appvm', ...rc], ['stop', 'netvm', ...rc], ['ls', '--scandir', g.run], ['graph']]) {
    const r = await cli([...args, '--source', dir]);
    ended(t, r, args[0]!);
    t.is(r.code, 1, `${args[0]}: ${r.stderr}`);
    t.regex(r.stderr, /vmsvc-manifest\.json: the provider graph has a cycle: appvm -> netvm -> appvm/, args[0]);
  }
  const self = editedCopy(g, 'self', (d) => editManifest(d, (m) => {
    for (const vm of m.vms) if (vm['name'] === 'netvm') vm['providers'] = ['netvm'];
  }));
  const r = await cli(['stop', 'netvm', '--source', self, ...rc]);
  ended(t, r, 'stop');
  t.is(r.code, 1);
  t.regex(r.stderr, /VM netvm is its own provider/);
});

test('an edited manifest cannot send show outside the tree, nor be a device, a link or a FIFO', async (t) => {
  const g = tree(t);
  const shadow = secretRunScript(g);
  // A service name that climbs out: show would read <outside>/run and type.
  const outside = path.join(g.root, 'elsewhere');
  fs.mkdirSync(outside);
  fs.writeFileSync(path.join(outside, 'type'), 'longrun\n');
  fs.symlinkSync(shadow, path.join(outside, 'run'));
  const climbing = editedCopy(g, 'climbing', (d) => editManifest(d, (m) => {
    for (const vm of m.vms) if (vm['name'] === 'netvm') (vm['services'] as Record<string, string>)['vm'] = '../elsewhere';
  }));
  const r = await cli(['show', 'netvm', '--source', climbing, '--scandir', g.run]);
  ended(t, r, 'show');
  t.is(r.code, 1, r.stderr);
  t.regex(r.stderr, /VM netvm: missing or malformed fields/);
  t.false(r.stdout.includes('SECRET'));
  for (const [what, make] of [
    ['a link to /dev/zero', (f: string) => fs.symlinkSync('/dev/zero', f)],
    ['a FIFO', (f: string) => spawnSync('mkfifo', [f])],
  ] as const) {
    const src = path.join(g.root, `src-${what.replace(/\W/g, '')}`);
    fs.mkdirSync(src);
    make(path.join(src, 'vmsvc-manifest.json'));
    const m = await cli(['ls', '--source', src, '--scandir', g.run]);
    ended(t, m, `ls on ${what}`);
    t.is(m.code, 1, m.stderr);
    t.regex(m.stderr, /vmsvc-manifest\.json is a (symbolic link|FIFO)/, what);
  }
});

test('show: a run script or dependency list replaced by a link or a FIFO is refused, never followed or waited on', async (t) => {
  const g = tree(t);
  const shadow = secretRunScript(g);
  const linked = editedCopy(g, 'linked', (d) => {
    fs.rmSync(path.join(d, 'vm-netvm', 'run'));
    fs.symlinkSync(shadow, path.join(d, 'vm-netvm', 'run'));
  });
  const r = await cli(['show', 'netvm', '--source', linked, '--scandir', g.run, '--json']);
  ended(t, r, 'show');
  t.is(r.code, 0, r.stderr);
  t.false(r.stdout.includes('SECRET'), 'the run script link is not followed');
  t.regex((JSON.parse(r.stdout) as { vmm: { error: string } }).vmm.error, /vm-netvm\/run is a symbolic link/);
  fs.rmSync(linked, { recursive: true });
  const fifo = editedCopy(g, 'fifo', (d) => {
    const deps = path.join(d, 'vm-appvm', 'dependencies.d');
    fs.rmSync(deps, { recursive: true });
    spawnSync('mkfifo', [path.join(d, 'vm-appvm', 'dependencies')]);
  });
  const f = await cli(['show', 'appvm', '--source', fifo, '--scandir', g.run]);
  ended(t, f, 'show');
  t.is(f.code, 1, f.stderr);
  t.regex(f.stderr, /vm-appvm\/dependencies is a FIFO, not a regular file/);
});

test('show: a VM or logger service whose type is missing or not longrun is refused in one line naming the file', async (t) => {
  // Before, show crashed on it ("internal error: TypeError ... reading 'pid'"):
  // it took the live state of the VM and logger services as always read.
  const g = tree(t);
  for (const [service, edit, says] of [
    ['vm-netvm', (f: string) => fs.rmSync(f), 'does not exist'],
    ['vm-netvm', (f: string) => fs.writeFileSync(f, 'oneshot\n'), 'says oneshot'],
    ['vm-netvm-log', (f: string) => fs.writeFileSync(f, 'bundle\n'), 'says bundle'],
  ] as const) {
    const dir = editedCopy(g, `type-${service}-${says.replace(/\W/g, '')}`, (d) => edit(path.join(d, service, 'type')));
    for (const json of [[], ['--json']]) {
      const r = await cli(['show', 'netvm', '--source', dir, '--scandir', g.run, ...json]);
      ended(t, r, 'show');
      t.is(r.code, 1, `${service} ${says}: ${r.stderr}`);
      t.is(r.stdout, '');
      t.is(r.stderr, `vmsvc: ${path.join(dir, service, 'type')} ${says}, not longrun: vmsvc writes a VM and its logger as longruns, so this tree was edited\n`);
    }
  }
});

/** A listening socket at `file`, closed at teardown; counts connections. */
async function listening(t: T, file: string): Promise<{ connections: () => number }> {
  let n = 0;
  const server = net.createServer((s) => {
    n++;
    s.destroy();
  });
  await new Promise<void>((resolve) => server.listen(file, resolve));
  t.teardown(() => server.close());
  return { connections: () => n };
}

test('console: a console.lock that is a link to /dev/zero, a FIFO or a huge file is refused at once, naming it', async (t) => {
  const g = tree(t);
  const runtime = path.join(g.run, 'netvm');
  fs.mkdirSync(runtime, { recursive: true });
  await listening(t, path.join(runtime, 'console.sock'));
  const lock = path.join(runtime, 'console.lock');
  for (const [what, make, says] of [
    ['a link to /dev/zero', () => fs.symlinkSync('/dev/zero', lock), /console\.lock is a symbolic link/],
    ['a FIFO', () => spawnSync('mkfifo', [lock]), /console\.lock is a FIFO/],
    ['a 64 MiB file', () => fs.writeFileSync(lock, Buffer.alloc(64 * 1024 * 1024, '1')), /console\.lock is 67108864 bytes, more than the 32 bytes/],
  ] as const) {
    make();
    const r = await cli(['console', 'netvm', '--source', g.out]);
    ended(t, r, `console with ${what}`);
    t.is(r.code, 1, `${what}: ${r.stderr}`);
    t.regex(r.stderr, says, what);
    t.regex(r.stderr, /not a console lock vmsvc wrote/, what);
    fs.rmSync(lock);
  }
});

test('console: a console socket that is a link to another socket is not connected to', async (t) => {
  const g = tree(t);
  const runtime = path.join(g.run, 'netvm');
  fs.mkdirSync(runtime, { recursive: true });
  const other = await listening(t, path.join(g.root, 'host-daemon.sock'));
  fs.symlinkSync(path.join(g.root, 'host-daemon.sock'), path.join(runtime, 'console.sock'));
  const r = await cli(['console', 'netvm', '--source', g.out]);
  ended(t, r, 'console');
  t.is(r.code, 1, r.stderr);
  t.regex(r.stderr, /has no console socket at .*console\.sock now/);
  t.is(other.connections(), 0, 'the outside socket was never connected to');
});

test('console: the runtime dir itself may not be a link (the lock would be created where it points)', async (t) => {
  const g = tree(t);
  const elsewhere = path.join(g.root, 'etc');
  fs.mkdirSync(elsewhere);
  await listening(t, path.join(elsewhere, 'console.sock'));
  fs.mkdirSync(g.run, { recursive: true });
  fs.symlinkSync(elsewhere, path.join(g.run, 'netvm'));
  const r = await cli(['console', 'netvm', '--source', g.out]);
  ended(t, r, 'console');
  t.is(r.code, 1, r.stderr);
  t.false(fs.existsSync(path.join(elsewhere, 'console.lock')), 'no lock created through the link');
});

test('logs: a current that is a link to a root-only file, or a log dir that is a link, is refused and the file never printed', async (t) => {
  const g = tree(t);
  const shadow = secret(g);
  const logDir = path.join(g.log, 'netvm');
  fs.mkdirSync(logDir, { recursive: true });
  fs.symlinkSync(shadow, path.join(logDir, 'current'));
  for (const follow of [[], ['-f'], ['--json']]) {
    const r = await cli(['logs', 'netvm', '--source', g.out, ...follow]);
    ended(t, r, `logs ${follow.join(' ')}`);
    t.is(r.code, 1, r.stderr);
    t.false(r.stdout.includes('SECRET'), `logs ${follow.join(' ')} printed the linked file`);
    t.regex(r.stderr, /netvm\/current is a symbolic link, not a regular file/);
  }
  // The whole log dir swapped for a link to a dir holding a root-only current.
  const secretDir = path.join(g.root, 'root-only');
  fs.mkdirSync(secretDir, { mode: 0o700 });
  fs.copyFileSync(shadow, path.join(secretDir, 'current'));
  fs.symlinkSync(secretDir, path.join(g.log, 'appvm'));
  const d = await cli(['logs', 'appvm', '--source', g.out]);
  ended(t, d, 'logs');
  t.is(d.code, 1, d.stderr);
  t.false(d.stdout.includes('SECRET'));
  t.regex(d.stderr, /log\/appvm is a symbolic link, not a directory/);
});

test('logs: a FIFO as current is refused at once, with and without -f', async (t) => {
  const g = tree(t);
  const logDir = path.join(g.log, 'netvm');
  fs.mkdirSync(logDir, { recursive: true });
  spawnSync('mkfifo', [path.join(logDir, 'current')]);
  for (const follow of [[], ['-f']]) {
    const r = await cli(['logs', 'netvm', '--source', g.out, ...follow]);
    ended(t, r, `logs ${follow.join(' ')}`);
    t.is(r.code, 1, r.stderr);
    t.regex(r.stderr, /netvm\/current is a FIFO, not a regular file/);
  }
});

test('logs -f: a current swapped for a link while following is refused, not followed', async (t) => {
  const g = tree(t);
  const shadow = secret(g);
  const logDir = path.join(g.log, 'netvm');
  fs.mkdirSync(logDir, { recursive: true });
  const current = path.join(logDir, 'current');
  fs.writeFileSync(current, '2026-01-01 00:00:00.000000001  first line\n');
  let swapped = false;
  // Once it has printed the first line: what a rotation does, but to a link.
  const r = await cli(['logs', 'netvm', '--source', g.out, '-f'], (soFar) => {
    if (swapped || !soFar.includes('first line')) return;
    swapped = true;
    fs.renameSync(current, path.join(logDir, 'previous'));
    fs.symlinkSync(shadow, current);
  });
  t.true(swapped, 'the first line was printed');
  ended(t, r, 'logs -f');
  t.is(r.code, 1, r.stderr);
  t.true(r.stdout.includes('first line'), r.stdout);
  t.false(r.stdout.includes('SECRET'));
  t.regex(r.stderr, /netvm\/current is a symbolic link/);
});

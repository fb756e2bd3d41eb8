import test, { type ExecutionContext } from 'ava';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { findProcessesUnder, startEmulator, type Emulator, type EmulatorOptions } from './harness/s6rc-emulator.js';

/** service name -> file path (relative, may contain '/') -> content; a trailing '/' makes an empty dir entry file. */
type Tree = Record<string, Record<string, string>>;

function writeTree(dir: string, tree: Tree): void {
  for (const [svc, files] of Object.entries(tree)) {
    for (const [rel, content] of Object.entries(files)) {
      const p = path.join(dir, svc, rel);
      fs.mkdirSync(path.dirname(p), { recursive: true });
      fs.writeFileSync(p, content, { mode: rel === 'run' || rel === 'finish' ? 0o755 : 0o644 });
    }
  }
}

function tmpdir(t: ExecutionContext): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'vmsvc-emu-test-'));
  t.teardown(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

async function emulate(t: ExecutionContext, tree: Tree, opts: EmulatorOptions = {}): Promise<{ emu: Emulator; dir: string }> {
  const dir = tmpdir(t);
  const src = path.join(dir, 'src');
  writeTree(src, tree);
  const emu = await startEmulator([src], { workDir: path.join(dir, 'harness'), ...opts });
  t.teardown(() => emu.stop());
  return { emu, dir };
}

async function waitFor<T>(what: string, probe: () => T | null | undefined | false, timeoutMs = 10000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== null && v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function read(p: string): string {
  try { return fs.readFileSync(p, 'utf8'); } catch { return ''; }
}

function alive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** producer (execline) -> logger (s6-log -d 3, notification-fd 3), bundle "pipe". */
function pipelineTree(logdir: string, producerRun: string): Tree {
  return {
    producer: { type: 'longrun\n', run: producerRun, 'producer-for': 'logger\n' },
    logger: {
      type: 'longrun\n',
      run: `#!/bin/execlineb -P\ns6-log -d 3 t ${logdir}\n`,
      'notification-fd': '3\n',
      'consumer-for': 'producer\n',
      'pipeline-name': 'pipe\n',
    },
  };
}

const TAI64N_LINE = (text: string): RegExp => new RegExp(`^@[0-9a-f]{24} ${text}$`, 'm');

test('pipeline: stdout reaches s6-log with TAI64N stamps, stderr goes to the catch-all log', async (t) => {
  const out = tmpdir(t);
  const logdir = path.join(out, 'logdir');
  const { emu } = await emulate(t, pipelineTree(logdir, [
    '#!/bin/execlineb -P',
    'foreground { echo hello }',
    'foreground { fdmove -c 1 2 echo producer-stderr-marker }',
    'sleep 1000',
    '',
  ].join('\n')));

  await emu.up(['pipe']);
  t.deepEqual(emu.transitions, ['up logger', 'up producer'], 'the consumer starts before its producer');
  t.true(emu.isUp('pipe'));
  const current = path.join(logdir, 'current');
  await waitFor('hello in logdir', () => TAI64N_LINE('hello').test(read(current)));
  await waitFor('stderr in catch-all', () => read(emu.catchAllLog).includes('producer-stderr-marker'));
  t.false(read(current).includes('producer-stderr-marker'));
  t.false(read(emu.catchAllLog).includes('hello'));
});

test('readiness: up waits for the notification-fd newline; timeout-up fails it', async (t) => {
  const out = tmpdir(t);
  const marker = path.join(out, 'ready-marker');
  const { emu } = await emulate(t, {
    slow: {
      type: 'longrun\n',
      'notification-fd': '3\n',
      run: [
        '#!/bin/execlineb -P',
        'foreground { sleep 0.6 }',
        `foreground { touch ${marker} }`,
        'foreground { fdmove 1 3 echo }',
        'fdclose 3',
        'sleep 1000',
        '',
      ].join('\n'),
    },
    never: {
      type: 'longrun\n',
      'notification-fd': '3\n',
      'timeout-up': '300\n',
      run: '#!/bin/execlineb -P\nsleep 1000\n',
    },
    after: { type: 'oneshot\n', up: 'true\n', 'dependencies.d/never': '' },
  });

  const t0 = Date.now();
  await emu.up(['slow']);
  t.true(Date.now() - t0 >= 500, 'up returned before the service was ready');
  t.true(fs.existsSync(marker));
  t.not(emu.servicePid('slow'), null);

  const t1 = Date.now();
  const err = await t.throwsAsync(emu.up(['after']));
  t.regex(err?.message ?? '', /never up failed \(not ready within 300 ms\)/);
  t.true(Date.now() - t1 < 5000);
  t.false(emu.isUp('never'));
  t.false(emu.isUp('after'), 'a dependent is not started when its dependency fails');
  t.is(emu.servicePid('never'), null, 'a failed longrun is left down');
});

test('dependency order: a oneshot runs (one command line, RC_NAME, runner cwd) before the longrun that needs it', async (t) => {
  const out = tmpdir(t);
  const flag = path.join(out, 'flag');
  const { emu } = await emulate(t, {
    init: {
      type: 'oneshot\n',
      // "#!/bin/sh" is only a comment for the execline lexer; newlines are whitespace.
      up: `#!/bin/sh\n/bin/sh -c\n  "echo \\"$RC_NAME $(pwd)\\" > ${flag}"\n`,
    },
    checker: {
      type: 'longrun\n',
      'dependencies.d/init': '',
      'notification-fd': '3\n',
      'timeout-up': '3000\n',
      run: `#!/bin/sh\ntest -f ${flag} || { echo "checker: flag missing" >&2; exit 1; }\necho >&3\nexec 3>&-\nexec sleep 1000\n`,
    },
    all: { type: 'bundle\n', contents: '# members\n  checker\n' },
    unrelated: { type: 'longrun\n', run: '#!/bin/execlineb -P\nsleep 1000\n' },
  });

  await emu.up(['all']);
  t.deepEqual(emu.transitions, ['up init', 'up checker']);
  const [rcName, cwd] = read(flag).trim().split(' ');
  t.is(rcName, 'init');
  t.is(cwd, path.join(emu.liveDir, 'oneshot-runner'));
  t.not(emu.servicePid('checker'), null);
  t.is(emu.servicePid('unrelated'), null);
});

test('oneshot failure rejects with its stderr and blocks dependents', async (t) => {
  const { emu } = await emulate(t, {
    bad: { type: 'oneshot\n', up: 'foreground { fdmove -c 1 2 echo oneshot-boom } exit 3\n' },
    svc: { type: 'longrun\n', 'dependencies.d/bad': '', run: '#!/bin/execlineb -P\nsleep 1000\n' },
  });
  const err = await t.throwsAsync(emu.up(['svc']));
  t.regex(err?.message ?? '', /oneshot bad up failed \(exit code 3: oneshot-boom\)/);
  t.false(emu.isUp('bad'));
  t.is(emu.servicePid('svc'), null);
  await t.throwsAsync(emu.up(['nope']), { message: /unknown service "nope"/ });
});

test('down stops dependents first, in reverse order', async (t) => {
  const out = tmpdir(t);
  const order = path.join(out, 'order');
  const finish = (n: string): string => `#!/bin/sh\necho ${n} >> ${order}\n`;
  const longrun = (n: string, dep: string): Record<string, string> => ({
    type: 'longrun\n', run: '#!/bin/execlineb -P\nsleep 1000\n', finish: finish(n), [`dependencies.d/${dep}`]: '',
  });
  const { emu } = await emulate(t, {
    a: { type: 'oneshot\n', up: 'true\n', down: `/bin/sh -c "echo a >> ${order}"\n` },
    b: longrun('b', 'a'),
    c: longrun('c', 'b'),
    d: longrun('d', 'a'),
    e: { type: 'longrun\n', run: '#!/bin/execlineb -P\nsleep 1000\n' },
  });
  await emu.up(['c', 'e']);
  const pids = ['b', 'c', 'e'].map((n) => emu.servicePid(n));
  t.true(pids.every((p) => p !== null));
  t.is(emu.servicePid('d'), null, 'd was not asked for');

  await emu.down(['b']);
  t.is(read(order), 'c\nb\n');
  t.true(emu.isUp('a'));
  await emu.up(['d']);
  await emu.down(['a']);
  t.deepEqual(read(order).trim().split('\n').slice(2).sort(), ['a', 'd']);
  t.is(read(order).trim().split('\n').at(-1), 'a', 'the oneshot goes down last');
  t.deepEqual(emu.transitions.filter((x) => x.startsWith('down')), ['down c', 'down b', 'down d', 'down a']);
  t.is(emu.servicePid('c'), null);
  t.is(emu.servicePid('b'), null);
  t.not(emu.servicePid('e'), null, 'unrelated services stay up');
});

test('pipeline survives restarts: producer killed, consumer restarted', async (t) => {
  const out = tmpdir(t);
  const logdir = path.join(out, 'logdir');
  const current = path.join(logdir, 'current');
  const { emu } = await emulate(t, pipelineTree(logdir, [
    '#!/bin/sh',
    'echo "start $$"',
    'i=0',
    'while :; do echo "tick $$ $i"; i=$((i+1)); sleep 0.05; done',
    '',
  ].join('\n')));
  await emu.up(['pipe']);
  const logger0 = emu.servicePid('logger');
  const producer0 = emu.servicePid('producer');
  t.truthy(logger0);
  t.truthy(producer0);
  await waitFor('first producer started', () => TAI64N_LINE(`start ${String(producer0)}`).test(read(current)));

  // Producer SIGKILLed: the consumer must not see EOF, the new producer's lines arrive.
  execFileSync('s6-svc', ['-k', emu.serviceDir('producer')]);
  const producer1 = await waitFor('producer restart', () => {
    const p = emu.servicePid('producer');
    return p !== null && p !== producer0 ? p : null;
  });
  await waitFor('new producer lines', () => TAI64N_LINE(`tick ${producer1} 3`).test(read(current)));
  t.is(emu.servicePid('logger'), logger0, 'consumer was not restarted');

  // Consumer restarted: the producer must not get SIGPIPE and no line may be lost.
  execFileSync('s6-svc', ['-t', emu.serviceDir('logger')]);
  const logger1 = await waitFor('logger restart', () => {
    const p = emu.servicePid('logger');
    return p !== null && p !== logger0 ? p : null;
  });
  t.not(logger1, logger0);
  const ticks = (): number[] => [...read(current).matchAll(new RegExp(`^@[0-9a-f]{24} tick ${producer1} (\\d+)$`, 'gm'))]
    .map((m) => Number(m[1]));
  const atRestart = Math.max(...ticks());
  await waitFor('ticks after consumer restart', () => Math.max(...ticks()) >= atRestart + 10);
  const seen = ticks();
  t.deepEqual(seen, seen.map((_, i) => i), 'every tick of the second producer arrived, in order');
  t.is(emu.servicePid('producer'), producer1, 'producer survived the consumer restart');
});

test('stop leaves no process behind and removes the harness dir', async (t) => {
  const out = tmpdir(t);
  const logdir = path.join(out, 'logdir');
  const tree = pipelineTree(logdir, '#!/bin/execlineb -P\nforeground { echo hi }\nsleep 1000\n');
  // a oneshot that leaves a background child behind
  tree['bg'] = { type: 'oneshot\n', up: 'background { sleep 1000 } true\n' };
  const { emu } = await emulate(t, tree);
  await emu.up(['pipe', 'bg']);
  const pids = [emu.svscanPid, emu.servicePid('producer'), emu.servicePid('logger')];
  t.true(pids.every((p) => p !== null && alive(p)));
  t.true(findProcessesUnder(emu.root).length >= 6, 'svscan, 2 supervisors, 2 services, background child');

  await emu.stop();
  for (const p of pids) t.false(alive(p ?? 0), `pid ${String(p)} still alive`);
  t.deepEqual(findProcessesUnder(emu.root), []);
  t.false(fs.existsSync(emu.root));
  let pgrep = '';
  try { pgrep = execFileSync('pgrep', ['-f', emu.root], { encoding: 'utf8' }); } catch { /* exit 1: none */ }
  t.is(pgrep, '');
  await emu.stop(); // idempotent
  await t.throwsAsync(emu.up(['pipe']), { message: /stopped/ });
});

test('invalid trees are rejected before anything starts', async (t) => {
  const dir = tmpdir(t);
  writeTree(path.join(dir, 'src'), {
    x: { type: 'oneshot\n', up: 'true\n', 'dependencies.d/y': '' },
    y: { type: 'longrun\n', run: '#!/bin/sh\n', dependencies: 'z\n' },
    z: { type: 'bundle\n', 'contents.d/x': '' },
  });
  await t.throwsAsync(startEmulator([path.join(dir, 'src')], { workDir: path.join(dir, 'h') }), {
    message: /dependency cycle: x -> y -> x/,
  });
  const h = path.join(dir, 'h');
  t.true(!fs.existsSync(h) || fs.readdirSync(h).length === 0, 'nothing left in workDir');
});

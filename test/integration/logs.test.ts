/**
 * `vmsvc logs` on logs written by hand: what the guest and the log user can
 * put in `current` (issue 16 item 4, issue 19 item 3).
 */
import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { logs } from '../../generator/admin/logs.js';
import type { Io } from '../../generator/command/shell.js';
import { VMSVC, vmsvc } from '../support/cli.js';
import { dataDirWith } from '../support/data-dir.js';
import { waitFor } from '../support/wait.js';

/** A tree with one VM, `a`, whose log dir is made but holds nothing yet. */
function logTree(t: ExecutionContext): { out: string; current: string } {
  const { root, data } = dataDirWith({ a: {} });
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  const out = path.join(root, 'out');
  const log = path.join(root, 'log');
  const r = vmsvc(['generate', '--data', data, '--out', out, '--runtime-dir', path.join(root, 'run'), '--log-dir', log]);
  if (r.code !== 0) throw new Error(`generate failed: ${r.stderr}`);
  fs.mkdirSync(path.join(log, 'a'), { recursive: true });
  return { out, current: path.join(log, 'a', 'current') };
}

/** Runs logs() in process and keeps each io.out() call apart. */
async function writes(out: string, json: boolean): Promise<{ code: number; writes: string[]; err: string }> {
  const said: string[] = [];
  let err = '';
  const code = await logs({ source: out, name: 'a', follow: false, json }, { out: (s) => said.push(s), err: (s) => { err += s; } });
  return { code, writes: said, err };
}

const STAMP = '2026-01-01 00:00:00.000000001';
const MIB = 1024 * 1024;

test('logs: a line of 4 MiB is printed as it is read, in writes of bounded size, never held whole', async (t) => {
  // Before, the whole line was gathered (and re-split at every 64 KiB read:
  // quadratic in its length) and then escaped and written in one piece.
  const g = logTree(t);
  const bound = 7 * 64 * 1024; // a read's worth of text, escaped at most 6 characters for 1 (\u001b)
  for (const [what, body] of [['plain', 'a'], ['escapes', '\u001b']] as const) {
    fs.writeFileSync(g.current, `${STAMP}  ${body.repeat(4 * MIB)}`); // no newline at the end either
    for (const json of [false, true]) {
      const r = await writes(g.out, json);
      t.is(r.code, 0, r.err);
      const longest = Math.max(...r.writes.map((w) => w.length));
      t.true(longest <= bound, `${what}${json ? ' --json' : ''}: a write of ${longest} characters`);
      t.true(r.writes.length >= 4 * MIB / bound, `${what}${json ? ' --json' : ''}: ${r.writes.length} writes`);
      const printed = r.writes.join('');
      if (json) t.deepEqual(JSON.parse(printed), { time: STAMP, text: body.repeat(4 * MIB) });
      else t.is(printed, `${STAMP}  ${body === 'a' ? 'a'.repeat(4 * MIB) : '\\x1b'.repeat(4 * MIB)}\n`);
    }
  }
});

/** `vmsvc ARGS | head -1` in bash: vmsvc's exit status and stderr, and what head printed; `whileRunning` is called every 100 ms once head has printed. */
function intoHead(args: readonly string[], whileRunning?: () => void): Promise<{ status: string; stderr: string; head: string }> {
  const script = '"$@" 2>"$VMSVC_ERR" | head -1; echo "vmsvc exited ${PIPESTATUS[0]}" >&2';
  const errFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'vmsvc-head-')), 'stderr');
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', script, 'bash', process.execPath, VMSVC, ...args], { env: { ...process.env, VMSVC_ERR: errFile }, stdio: ['ignore', 'pipe', 'pipe'] });
    let head = '';
    let status = '';
    let poke: NodeJS.Timeout | undefined;
    child.stdout.on('data', (d: Buffer) => {
      head += d.toString();
      if (whileRunning !== undefined) poke ??= setInterval(whileRunning, 100);
    });
    child.stderr.on('data', (d: Buffer) => { status += d.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', () => {
      clearTimeout(timer);
      if (poke !== undefined) clearInterval(poke);
      const stderr = fs.readFileSync(errFile, 'utf8');
      fs.rmSync(path.dirname(errFile), { recursive: true, force: true });
      resolve({ status: status.trim(), stderr, head });
    });
  });
}

test('logs piped into head ends quietly when head exits: no EPIPE stack trace, exit 0, with and without -f', async (t) => {
  const g = logTree(t);
  // Far more than a pipe holds: head exits while logs still has lines to write.
  fs.writeFileSync(g.current, Array.from({ length: 100_000 }, (_, i) => `${STAMP}  line ${i}\n`).join(''));
  const cases: Array<[string[], string]> = [
    [[], `${STAMP}  line 0\n`],
    [['--json'], `{"time":"${STAMP}","text":"line 0"}\n`],
    [['-f'], `${STAMP}  line 99990\n`], // -f starts at the last 10 lines
  ];
  for (const [args, first] of cases) {
    const what = `logs ${args.join(' ')} | head -1`;
    // -f notices at its next write that head has gone, as tail -f does: lines keep coming.
    const r = await intoHead(['logs', 'a', '--source', g.out, ...args], args[0] === '-f' ? () => fs.appendFileSync(g.current, `${STAMP}  more\n`) : undefined);
    t.is(r.stderr, '', `${what}: stderr`);
    t.is(r.status, 'vmsvc exited 0', what);
    t.is(r.head, first, what);
  }
});

/** `count` stamped lines, `line 0` to `line count-1`. */
function numbered(count: number): string {
  return Array.from({ length: count }, (_, i) => `${STAMP}  line ${i}\n`).join('');
}

test('logs -n N prints the last N lines, as tail -n; -n takes only a whole number', (t) => {
  const g = logTree(t);
  fs.writeFileSync(g.current, `${numbered(30)}no newline`);
  const last = (n: number) => vmsvc(['logs', 'a', '--source', g.out, '-n', String(n)]);
  t.is(last(2).stdout, `${STAMP}  line 29\nno newline\n`);
  t.is(last(0).stdout, '');
  t.is(last(100).stdout.split('\n').length, 32, 'more than there are: all 31 lines');
  const json = vmsvc(['logs', 'a', '--source', g.out, '--lines', '1', '--json']);
  t.is(json.stdout, '{"time":null,"text":"no newline"}\n');
  for (const bad of ['-1', '1.5', 'ten']) {
    const r = vmsvc(['logs', 'a', '--source', g.out, '-n', bad]);
    t.is(r.code, 100, `-n ${bad}: ${r.stderr}`);
    t.is(r.stdout, '');
    t.is(r.stderr, 'vmsvc: -n takes a whole number of lines, 0 or more\n', `-n ${bad}`);
  }
});

test('logs -f starts at the last 10 lines (or -n N), as tail -f, then prints what is appended', async (t) => {
  const g = logTree(t);
  fs.writeFileSync(g.current, numbered(30));
  for (const [lines, first] of [[undefined, 20], [3, 27], [0, 30]] as const) {
    let printed = '';
    const stopper = new AbortController();
    const done = logs({ source: g.out, name: 'a', follow: true, json: false, lines }, { out: (s) => { printed += s; }, err: () => undefined }, { signal: stopper.signal, pollMs: 20 });
    const appended = `${STAMP}  appended with -n ${String(lines)}\n`;
    await waitFor('the start', () => lines === 0 || printed.includes('line 29'));
    fs.appendFileSync(g.current, appended);
    await waitFor('the appended line', () => printed.includes(appended));
    stopper.abort();
    t.is(await done, 0);
    const expected = numbered(30).split('\n').slice(first, 30).map((l) => `${l}\n`).join('');
    t.is(printed, `${expected}${appended}`, `-n ${String(lines)}`);
    fs.writeFileSync(g.current, numbered(30));
  }
});

test('logs --since TIME prints from the first line stamped at or after TIME; unstamped lines go with the lines around them', async (t) => {
  const g = logTree(t);
  const line = (second: number, text: string) => `2026-01-01 00:00:${String(second).padStart(2, '0')}.500000000  ${text}\n`;
  fs.writeFileSync(g.current, `unstamped before\n${line(1, 'one')}${line(2, 'two')}a continuation of two\n${line(3, 'three')}`);
  const since = (...args: string[]) => vmsvc(['logs', 'a', '--source', g.out, '--since', ...args]);
  const env = { ...process.env, TZ: 'UTC' };
  t.is(since('2026-01-01T00:00:02').stdout, `${line(2, 'two')}a continuation of two\n${line(3, 'three')}`);
  t.is(since('2026-01-01 00:00:02.5').stdout, `${line(2, 'two')}a continuation of two\n${line(3, 'three')}`, 'at the stamp: included');
  t.is(since('2026-01-01T00:00:02.500000001').stdout, line(3, 'three'));
  t.is(since('2026-01-01').stdout, `${line(1, 'one')}${line(2, 'two')}a continuation of two\n${line(3, 'three')}`);
  t.is(since('2026-01-02').stdout, '');
  t.is(vmsvc(['logs', 'a', '--source', g.out, '--since', '2026-01-01T00:00:03Z'], env).stdout, line(3, 'three'), 'an offset, converted to local time');
  t.is(since('2026-01-01T00:00:01', '-n', '3').stdout, `${line(2, 'two')}a continuation of two\n${line(3, 'three')}`, 'with -n: of the last 3 lines, those from TIME on');
  t.is(since('2026-01-01T00:00:02', '--json').stdout.split('\n')[1], '{"time":null,"text":"a continuation of two"}');
  const bad = since('last tuesday\u001b[31m');
  t.is(bad.code, 100);
  t.is(bad.stdout, '');
  t.regex(bad.stderr, /^vmsvc: --since last tuesday\\x1b\[31m is not a time vmsvc reads: give ISO 8601, /);
  // -f with --since: from TIME on, not the last 10 lines.
  let printed = '';
  const stopper = new AbortController();
  const done = logs({ source: g.out, name: 'a', follow: true, json: false, since: '2026-01-01T00:00:01' }, { out: (s) => { printed += s; }, err: () => undefined }, { signal: stopper.signal, pollMs: 20 });
  await waitFor('the lines since', () => printed.includes('three'));
  stopper.abort();
  t.is(await done, 0);
  t.is(printed, `${line(1, 'one')}${line(2, 'two')}a continuation of two\n${line(3, 'three')}`);
});

/**
 * An io for logs -f fed a sparse file: counts what is printed rather than
 * keeping it, and throws once past `budget` characters, so that a drain
 * without bound fails the test (as an internal error, exit 111) instead of
 * filling memory for minutes.
 */
function countingIo(budget: number): { io: Io; printed: () => number; err: () => string } {
  let printed = 0;
  let err = '';
  return {
    io: {
      out: (s) => {
        printed += s.length;
        if (printed > budget) throw new Error(`printed ${printed} characters: a drain without bound`);
      },
      err: (s) => { err += s; },
      // As the CLI's stdout: a later tick, so that timers (and the abort) run between reads.
      writable: () => new Promise((resolve) => setImmediate(() => resolve(true))),
    },
    printed: () => printed,
    err: () => err,
  };
}

const CURRENT_MAX_BYTES = 2 * 268435455; // logs.ts: twice s6-log's largest rotation size

test('logs -f stops with a one-line error once the followed current grows past the bound, without reading it', async (t) => {
  // Before, the followed inode was drained to its end, whatever its size:
  // the log user's `truncate -s 100G current` meant 100 GiB of escaped NULs.
  const g = logTree(t);
  fs.writeFileSync(g.current, `${STAMP}  x\n`);
  const c = countingIo(64 * MIB);
  const done = logs({ source: g.out, name: 'a', follow: true, json: false }, c.io, { signal: new AbortController().signal, pollMs: 20 });
  await waitFor('the first line', () => c.printed() > 0);
  fs.truncateSync(g.current, CURRENT_MAX_BYTES + 1); // sparse: no disk used
  t.is(await done, 1, c.err());
  t.is(c.err(), `vmsvc: ${g.current} is ${CURRENT_MAX_BYTES + 1} bytes, more than s6-log ever writes (${CURRENT_MAX_BYTES}); vmsvc reads only the log s6-log writes\n`);
  t.true(c.printed() < MIB, `${c.printed()} characters printed`);
});

test('logs -f aborted in the middle of a large drain ends after the read under way', async (t) => {
  // Before, pump read on to the end of what it was draining (here 400 MiB
  // of NULs, 1.6 G characters escaped) whatever the signal said: SIGINT
  // did not stop `logs -f`.
  const g = logTree(t);
  fs.writeFileSync(g.current, `${STAMP}  x\n`);
  const c = countingIo(64 * MIB);
  const stopper = new AbortController();
  const done = logs({ source: g.out, name: 'a', follow: true, json: false }, c.io, { signal: stopper.signal, pollMs: 20 });
  await waitFor('the first line', () => c.printed() > 0);
  fs.truncateSync(g.current, 400 * MIB);
  await waitFor('the drain to be under way', () => c.printed() > MIB);
  stopper.abort();
  // A hang bound, not a timing assertion: it ends after one more 64 KiB read.
  const ended = await Promise.race([done, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 10_000).unref())]);
  t.is(ended, 0, c.err());
  t.is(c.err(), '');
});

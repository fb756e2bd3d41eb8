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
import { VMSVC, vmsvc } from '../support/cli.js';
import { dataDirWith } from '../support/data-dir.js';

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

/** `vmsvc ARGS | head -1` in bash: vmsvc's exit status and stderr, and what head printed. */
function intoHead(args: readonly string[], whileRunning?: () => void): Promise<{ status: string; stderr: string; head: string }> {
  const script = '"$@" 2>"$VMSVC_ERR" | head -1; echo "vmsvc exited ${PIPESTATUS[0]}" >&2';
  const errFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'vmsvc-head-')), 'stderr');
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', script, 'bash', process.execPath, VMSVC, ...args], { env: { ...process.env, VMSVC_ERR: errFile }, stdio: ['ignore', 'pipe', 'pipe'] });
    let head = '';
    let status = '';
    child.stdout.on('data', (d: Buffer) => { head += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { status += d.toString(); });
    const poke = whileRunning === undefined ? undefined : setInterval(whileRunning, 100);
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
  for (const args of [[], ['--json'], ['-f']]) {
    const what = `logs ${args.join(' ')} | head -1`;
    // -f notices at its next write that head has gone, as tail -f does: lines keep coming.
    const r = await intoHead(['logs', 'a', '--source', g.out, ...args], args[0] === '-f' ? () => fs.appendFileSync(g.current, `${STAMP}  more\n`) : undefined);
    t.is(r.stderr, '', `${what}: stderr`);
    t.is(r.status, 'vmsvc exited 0', what);
    t.regex(r.head, /line 0/, what);
  }
});

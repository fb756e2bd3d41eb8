/**
 * `vmsvc logs` on logs written by hand: what the guest and the log user can
 * put in `current` (issue 16 item 4, issue 19 item 3).
 */
import test, { type ExecutionContext } from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { logs } from '../../generator/admin/logs.js';
import { vmsvc } from '../support/cli.js';
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


/**
 * The harness that runs generated trees under the real s6-rc: what the other
 * tests rely on it for (transitions as s6-rc reports them, failures with
 * s6-rc's reasons, a stop that leaves nothing running).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ExecutionContext } from 'ava';
import { findProcessesUnder, startS6rc } from '../support/s6rc-harness.js';
import { alive } from '../support/processes.js';
import { realS6rcTest, type RealS6rc } from '../support/real-s6rc.js';

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
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'vmsvc-harness-test-'));
  t.teardown(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

const sleeper = (s6rc: RealS6rc, deps: string[] = []): Record<string, string> => ({
  type: 'longrun\n',
  run: `#!${s6rc.bin('execlineb')} -P\nsleep 1000\n`,
  ...Object.fromEntries(deps.map((d) => [`dependencies.d/${d}`, ''])),
});

realS6rcTest('harness: transitions in s6-rc\'s order, state read back from s6-rc, a failure carries s6-rc\'s reason', async (t, s6rc) => {
  const dir = tmpdir(t);
  const flag = path.join(dir, 'flag');
  writeTree(path.join(dir, 'src'), {
    init: { type: 'oneshot\n', up: `importas -i n RC_NAME redirfd -w 1 ${flag} echo $n\n`, down: `rm -f -- ${flag}\n` },
    b: sleeper(s6rc, ['init']),
    c: sleeper(s6rc, ['b']),
    all: { type: 'bundle\n', 'contents.d/c': '' },
    bad: { type: 'oneshot\n', up: 'foreground { fdmove -c 1 2 echo oneshot-boom } exit 3\n' },
    needsbad: sleeper(s6rc, ['bad']),
  });
  const h = await startS6rc(s6rc, [path.join(dir, 'src')], { workDir: path.join(dir, 'h') });
  t.teardown(() => h.stop());

  await h.up(['all']);
  const mine = (): string[] => h.transitions.filter((x) => !x.includes(' s6rc-'));
  t.deepEqual(mine(), ['up init', 'up b', 'up c']);
  t.is(fs.readFileSync(flag, 'utf8'), 'init\n', 'the oneshot ran with RC_NAME');
  t.true(h.isUp('all'));
  t.not(h.servicePid('c'), null);
  t.is(h.servicePid('needsbad'), null);

  await h.down(['b']);
  t.deepEqual(mine().slice(3), ['down c', 'down b'], 'dependents first');
  t.true(h.isUp('init'));
  t.false(h.isUp('all'));
  t.is(h.servicePid('c'), null);

  const err = await t.throwsAsync(h.up(['needsbad']));
  t.regex(err?.message ?? '', /oneshot-boom/);
  t.regex(err?.message ?? '', /exit code 1/);
  t.false(h.isUp('bad'));
  t.false(h.isUp('needsbad'));
  await t.throwsAsync(h.up(['nope']), { message: /exit code 3/ });
});

realS6rcTest('harness: a tree the real s6-rc-compile rejects is refused before anything starts', async (t, s6rc) => {
  const dir = tmpdir(t);
  writeTree(path.join(dir, 'src'), {
    x: { type: 'oneshot\n', up: 'true\n', 'dependencies.d/y': '' },
    y: sleeper(s6rc, ['x']),
  });
  await t.throwsAsync(startS6rc(s6rc, [path.join(dir, 'src')], { workDir: path.join(dir, 'h') }), { message: /s6-rc-compile failed \(1\): .*cyclic service dependency/ });
  t.deepEqual(fs.readdirSync(path.join(dir, 'h')), [], 'nothing left in workDir');
});

realS6rcTest('harness: stop is bounded, runs the down scripts, and a process left behind is named and killed', async (t, s6rc) => {
  const dir = tmpdir(t);
  const downRan = path.join(dir, 'down-ran');
  writeTree(path.join(dir, 'src'), {
    a: sleeper(s6rc),
    // A oneshot that leaves a background child behind, and a longrun that ignores SIGTERM.
    bg: { type: 'oneshot\n', up: 'background { sleep 1001 } true\n', down: `touch ${downRan}\n` },
    stubborn: { type: 'longrun\n', run: '#!/bin/sh\ntrap "" TERM\nexec sleep 1000\n', 'timeout-kill': '500\n' },
  });
  const h = await startS6rc(s6rc, [path.join(dir, 'src')], { workDir: path.join(dir, 'h') });
  await h.up(['a', 'bg', 'stubborn']);
  const pids = [h.svscanPid, h.servicePid('a'), h.servicePid('stubborn')];
  t.true(pids.every((p) => p !== null && alive(p)));
  const before = findProcessesUnder(h.root);
  t.true(before.length >= 8, `svscan, 4 supervisors (2 of s6-rc), 2 services, the background child: ${before.length}`);

  const t0 = Date.now();
  await t.throwsAsync(h.stop(), { message: /processes left below .* after s6-svscan exited: \d+ \(sleep 1001\)$/ });
  t.true(Date.now() - t0 < 30_000, `stop took ${Date.now() - t0} ms`);
  t.true(fs.existsSync(downRan), 'the oneshot went down');
  for (const p of before) t.false(alive(p), `pid ${p} still alive`);
  t.deepEqual(findProcessesUnder(h.root), []);
  t.false(fs.existsSync(h.root));
  let pgrep = '';
  try { pgrep = execFileSync('pgrep', ['-f', h.root], { encoding: 'utf8' }); } catch { /* exit 1: none */ }
  t.is(pgrep, '');
  await t.throwsAsync(h.stop(), { message: /sleep 1001/ }, 'idempotent: the same outcome');
  await t.throwsAsync(h.up(['a']), { message: /stopped/ });
});

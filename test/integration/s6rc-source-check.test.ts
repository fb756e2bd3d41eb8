import test, { type ExecutionContext } from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  analyzeS6rcSource,
  checkS6rcSource,
  longrunNameFits,
  s6rcWarnings,
} from '../../generator/s6rc/source-check.js';
import type { S6rcProblem } from '../../generator/s6rc/source-model.js';
import { realCompileProblems, realS6rc } from '../support/real-s6rc.js';

/* A tiny tree builder: strings/Buffers are files, objects are dirs. */

class Symlink {
  constructor(readonly target: string) {}
}
interface Tree {
  [name: string]: string | Buffer | Symlink | Tree;
}

function build(dir: string, tree: Tree): void {
  fs.mkdirSync(dir, { recursive: true });
  for (const [name, node] of Object.entries(tree)) {
    const p = path.join(dir, name);
    if (node instanceof Symlink) fs.symlinkSync(node.target, p);
    else if (typeof node === 'string' || Buffer.isBuffer(node)) fs.writeFileSync(p, node);
    else build(p, node);
  }
}

/** Build each tree as a source dir in a fresh temp dir; removed after the test. */
function sources(t: ExecutionContext, ...trees: Tree[]): string[] {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 's6rc-check-'));
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  return trees.map((tree, i) => {
    const dir = path.join(root, `src${i}`);
    build(dir, tree);
    return dir;
  });
}

const longrun = (extra: Tree = {}): Tree => ({ type: 'longrun\n', run: '#!/bin/execlineb -P\nsleep 100\n', ...extra });
const oneshot = (up = 'true\n', extra: Tree = {}): Tree => ({ type: 'oneshot\n', up, ...extra });
const bundle = (members: string[], extra: Tree = {}): Tree => ({
  type: 'bundle\n',
  'contents.d': Object.fromEntries(members.map((m) => [m, ''])),
  ...extra,
});
const deps = (...names: string[]): Tree => ({ 'dependencies.d': Object.fromEntries(names.map((n) => [n, ''])) });

/** Exactly one problem whose reason matches. */
function onlyProblem(t: ExecutionContext, problems: S6rcProblem[], reason: RegExp, service?: string | null): S6rcProblem {
  t.is(problems.length, 1, JSON.stringify(problems, null, 1));
  const [p] = problems;
  if (!p) throw new Error('no problem reported');
  t.regex(p.reason, reason);
  if (service !== undefined) t.is(p.service, service);
  return p;
}

/**
 * The checker's verdict on a tree, which must also be the real s6-rc-compile's
 * when it is here: refused iff the checker finds a problem. With a prefix the
 * checker also judges what s6-rc-init will do, which s6-rc-compile cannot.
 */
function judged(t: ExecutionContext, dirs: string[], opts?: { prefix: string }): S6rcProblem[] {
  const problems = checkS6rcSource(dirs, opts);
  if (realS6rc !== null && opts === undefined) {
    const real = realCompileProblems(dirs);
    t.is(real.length > 0, problems.length > 0, `checker: ${JSON.stringify(problems.map((p) => p.reason))}; real s6-rc-compile: ${JSON.stringify(real)}`);
  }
  return problems;
}

/* ------------------------------------------------------------------ */

test('a valid tree with a pipeline, a bundle and an execline oneshot has no problems', (t) => {
  const [a, b, shared] = sources(
    t,
    {
      'app': longrun({ 'producer-for': 'app-log\n', ...deps('setup'), 'timeout-up': '5000\n', 'notification-fd': '3\n', data: { check: 'x' }, env: {} }),
      'app-log': longrun({ 'consumer-for': 'app\n', 'pipeline-name': 'app-pipeline\n', 'notification-fd': '3' }),
      'setup': oneshot(
        '# not a shebang: the whole file is one command line\nif { mkdir -p /run/app }\nforeground { echo "ready\\n" }\n/bin/sh -c "test -d /run/app && echo \\"ok\\""\n',
        { down: 'rm -rf /run/app\n', 'timeout-down': '0' },
      ),
      'all': bundle(['app-pipeline', 'setup']),
      'empty-bundle': bundle([]),
      'manifest.json': '{}\n', // plain files are skipped
      '.hidden': { type: 'nonsense' }, // dot entries are skipped
    },
    {
      'late': oneshot('true', { dependencies: '# list file\n\n  all\n\tsetup\n' }),
      'linked': new Symlink('../src2/linked'), // a symlink to a dir is a service
    },
    {},
  );
  build(path.join(shared as string, 'linked'), longrun({ 'dependencies.d': { late: '' } }));
  t.deepEqual(judged(t, [a as string, b as string]), []);
  t.deepEqual(s6rcWarnings([a as string, b as string]), []);
});

test('reserved prefixes are rejected on every source dir entry, plain files included', (t) => {
  const [src] = sources(t, { 's6rc-x': oneshot(), 's6-rc-y': 'plain file\n', ok: oneshot() });
  const problems = judged(t, [src as string]);
  t.deepEqual(problems.map((p) => p.reason).sort(), [
    `in ${src}: identifier s6-rc-y starts with reserved prefix`,
    `in ${src}: identifier s6rc-x starts with reserved prefix`,
  ]);
});

const listedReserved = test.macro({
  exec(t, make: (name: string) => Tree, file: string) {
    const [src] = sources(t, make('s6rc-bad'));
    const p = onlyProblem(t, judged(t, [src as string]), /identifier s6rc-bad starts with reserved prefix/);
    t.true(p.file.endsWith(file), p.file);
  },
  title: (_title, _make, file: string) => `reserved prefix inside ${file} is rejected`,
});
test(listedReserved, (n) => ({ a: oneshot('true', deps(n)) }), 'dependencies.d');
test(listedReserved, (n) => ({ a: oneshot('true', { dependencies: `${n}\n` }) }), 'dependencies');
test(listedReserved, (n) => ({ b: bundle([n]) }), 'contents.d');
test(listedReserved, (n) => ({ b: { type: 'bundle', contents: n } }), 'contents');
test(listedReserved, (n) => ({ p: longrun({ 'producer-for': n }) }), 'producer-for');
test(listedReserved, (n) => ({ c: longrun({ 'consumer-for': n }) }), 'consumer-for');
test(listedReserved, (n) => ({
  p: longrun({ 'producer-for': 'c' }),
  c: longrun({ 'consumer-for': 'p', 'pipeline-name': n }),
}), 'pipeline-name');

test('a newline in a source dir entry is rejected', (t) => {
  const [src] = sources(t, { 'bad\nname': oneshot(), ok: oneshot() });
  onlyProblem(t, judged(t, [src as string]), /contains a newline character/);
});

test('a name defined in two source dirs is a duplicate', (t) => {
  const dirs = sources(t, { dup: oneshot() }, { dup: longrun() });
  const p = onlyProblem(t, judged(t, dirs), /^duplicate service definition: dup defined in .* is already defined .*has type oneshot$/, 'dup');
  t.is(p.file, path.join(dirs[1] as string, 'dup'));
});

test('a pipeline-name equal to a service name is a duplicate', (t) => {
  const [src] = sources(t, {
    p: longrun({ 'producer-for': 'c' }),
    c: longrun({ 'consumer-for': 'p', 'pipeline-name': 'other' }),
    other: oneshot(),
  });
  onlyProblem(t, judged(t, [src as string]), /duplicate service definition: pipeline-name other of c is already defined as a oneshot/);
});

test('a missing type file is rejected', (t) => {
  const [src] = sources(t, { a: { up: 'true' } });
  onlyProblem(t, judged(t, [src as string]), /^unable to read .*\/a\/type$/, 'a');
});

const badType = test.macro({
  exec(t, content: string) {
    const [src] = sources(t, { a: { type: content, up: 'true', run: 'x', 'contents.d': {} } });
    onlyProblem(t, judged(t, [src as string]), /^invalid .*\/a\/type: must be oneshot, longrun, or bundle$/);
  },
  title: (_t, content: string) => `type ${JSON.stringify(content)} is invalid`,
});
for (const content of ['Oneshot', 'oneshot ', 'longrun\r\n', '', 'bundle\nx', 'bundle\n\n', 'daemon\n', 'bundl']) test(badType, content);

test('a type with more after the word compiles (s6-rc-compile reads 8 bytes), with a warning', (t) => {
  for (const content of ['oneshot\n\n', 'oneshot\nJUNK', 'longrun\n#x\n']) {
    const [src] = sources(t, { a: { type: content, up: 'true\n', run: '#!/bin/execlineb -P\nsleep 100\n' } });
    t.deepEqual(judged(t, [src as string]), [], JSON.stringify(content));
    t.deepEqual(s6rcWarnings([src as string]).map((w) => w.reason.replace(src as string, 'SRC')), [
      `SRC/a/type holds more than "${content.slice(0, 7)}" and a newline: s6-rc-compile reads only its first 8 bytes`,
    ]);
  }
});

test('type without a trailing newline is fine', (t) => {
  const [src] = sources(t, { a: { type: 'oneshot', up: '' }, b: { type: 'longrun', run: 'x' }, c: { type: 'bundle', 'contents.d': {} } });
  t.deepEqual(judged(t, [src as string]), []);
});

test('a longrun needs a run file, and it must be a regular file', (t) => {
  const [src] = sources(t, { a: { type: 'longrun' }, b: { type: 'longrun', run: {} }, c: { type: 'longrun', run: new Symlink('real'), real: 'x' } });
  const problems = judged(t, [src as string]);
  t.deepEqual(problems.map((p) => [p.service, p.reason.replace(src as string, 'SRC')]), [
    ['a', 'unable to find a run script in SRC/a/run'],
    ['b', 'SRC/b/run is not a regular file'],
  ]);
});

test('a oneshot needs an up file', (t) => {
  const [src] = sources(t, { a: { type: 'oneshot', down: 'true' } });
  onlyProblem(t, judged(t, [src as string]), /^unable to open .*\/a\/up/, 'a');
});

test('a bundle needs contents.d or contents', (t) => {
  const [src] = sources(t, { b: { type: 'bundle' } });
  onlyProblem(t, judged(t, [src as string]), /^unable to open .*\/b\/contents: bundle b needs contents.d\/ or contents$/, 'b');
});

const badExecline = test.macro({
  exec(t, file: 'up' | 'down', script: string, reason: RegExp) {
    const [src] = sources(t, { a: oneshot(file === 'up' ? script : 'true', file === 'down' ? { down: script } : {}) });
    const p = onlyProblem(t, judged(t, [src as string]), reason, 'a');
    t.is(p.file, path.join(src as string, 'a', file));
  },
  title: (_t, file: string, script: string) => `execline syntax error in ${file}: ${JSON.stringify(script)}`,
});
test(badExecline, 'up', 'if { true\n', /^syntax error in .*\/up: unmatched \{/);
test(badExecline, 'up', 'true }\n', /^syntax error in .*\/up: unmatched \}/);
test(badExecline, 'up', 'echo "unterminated\n', /^syntax error in .*\/up \(unterminated quoted string/);
test(badExecline, 'down', 'echo trailing\\', /^syntax error in .*\/down \(backslash at end of input/);
test(badExecline, 'down', 'echo "\\256"', /^syntax error in .*\/down \(numeric escape/);

test('a #! first line in up is only a comment: a warning, not an error', (t) => {
  const [src] = sources(t, { a: oneshot('#!/bin/sh\ntrue && false\n') });
  const { problems, warnings } = analyzeS6rcSource([src as string]);
  t.deepEqual(problems, []);
  t.is(warnings.length, 1);
  t.regex(warnings[0]?.reason ?? '', /only a comment/);
});

test('undefined dependencies, bundle members, producers and consumers are rejected', (t) => {
  const [src] = sources(t, {
    a: oneshot('true', deps('ghost1')),
    b: bundle(['ghost2']),
    p: longrun({ 'producer-for': 'ghost3' }),
    c: longrun({ 'consumer-for': 'ghost4' }),
  });
  const reasons = judged(t, [src as string]).map((p) => p.reason);
  t.deepEqual(reasons, [
    'during dependency resolution for service a: undefined service name ghost1',
    'during resolution of bundle b: undefined service name ghost2',
    'longrun service c declares being the consumer for a service named ghost4, which is not defined (undefined service name ghost4)',
    'longrun service p declares being a producer for a service named ghost3, which is not defined (undefined service name ghost3)',
  ]);
});

test('a service depending on itself is a cycle', (t) => {
  const [src] = sources(t, { a: oneshot('true', deps('a')) });
  onlyProblem(t, judged(t, [src as string]), /^cyclic service dependency: a -> a$/, 'a');
});

test('a dependency cycle is reported with its full path', (t) => {
  const [src] = sources(t, { a: oneshot('true', deps('b')), b: oneshot('true', deps('c')), c: longrun(deps('a')), d: oneshot('true', deps('a')) });
  onlyProblem(t, judged(t, [src as string]), /^cyclic service dependency: a -> b -> c -> a$/, 'a');
});

test('a dependency cycle through a bundle is rejected', (t) => {
  const [src] = sources(t, { a: oneshot('true', deps('group')), group: bundle(['b']), b: oneshot('true', deps('a')) });
  onlyProblem(t, judged(t, [src as string]), /^cyclic service dependency: a -> group -> b -> a$/);
});

test('a dependency cycle through a pipeline is rejected: the producer depends on its consumer', (t) => {
  const [src] = sources(t, {
    app: longrun({ 'producer-for': 'log' }),
    log: longrun({ 'consumer-for': 'app', ...deps('app') }),
  });
  onlyProblem(t, judged(t, [src as string]), /^cyclic service dependency: app -> log -> app \(app is a producer for log, so it depends on it\)$/);
});

test('a dependency on a pipeline bundle from inside the pipeline is a cycle', (t) => {
  const [src] = sources(t, {
    app: longrun({ 'producer-for': 'log', ...deps('pipe') }),
    log: longrun({ 'consumer-for': 'app', 'pipeline-name': 'pipe' }),
  });
  onlyProblem(t, judged(t, [src as string]), /^cyclic service dependency: app -> pipe -> app$/);
});

test('a bundle containing itself through another bundle is rejected', (t) => {
  const [src] = sources(t, { x: bundle(['y']), y: bundle(['x', 'z']), z: oneshot() });
  onlyProblem(t, judged(t, [src as string]), /^cyclic bundle definition: x -> y -> x$/, 'x');
});

test('producer-for must name exactly one service', (t) => {
  const [src] = sources(t, {
    p: longrun({ 'producer-for': 'c1\nc2\n' }),
    q: longrun({ 'producer-for': '# nothing\n' }),
    c1: longrun({ 'consumer-for': 'p' }),
    c2: longrun(),
  });
  const reasons = judged(t, [src as string]).map((p) => p.reason.replace(src as string, 'SRC'));
  t.deepEqual(reasons, ['SRC/p/producer-for should only contain one service name', 'SRC/q/producer-for should only contain one service name']);
});

test('pipeline-name must hold exactly one name', (t) => {
  const [src] = sources(t, { p: longrun({ 'producer-for': 'c' }), c: longrun({ 'consumer-for': 'p', 'pipeline-name': 'one\ntwo\n' }) });
  onlyProblem(t, judged(t, [src as string]), /\/c\/pipeline-name should only contain one name$/);
});

test('a producer or consumer that is not declared back is rejected', (t) => {
  const [src] = sources(t, {
    p: longrun({ 'producer-for': 'c' }),
    c: longrun(),
    d: longrun({ 'consumer-for': 'q' }),
    q: longrun(),
  });
  t.deepEqual(judged(t, [src as string]).map((p) => p.reason), [
    'longrun service d declares being the consumer for a service named q that does not declare it back',
    'longrun service p declares being a producer for a service named c that does not declare it back',
  ]);
});

test('producers and consumers must be longruns', (t) => {
  const [src] = sources(t, {
    p: longrun({ 'producer-for': 'o' }),
    o: oneshot(),
    c: longrun({ 'consumer-for': 'b' }),
    b: bundle([]),
  });
  t.deepEqual(judged(t, [src as string]).map((p) => p.reason), [
    'longrun service c declares being the consumer for a service named b of type bundle',
    'longrun service p declares being a producer for a service named o of type oneshot',
  ]);
});

const badNumber = test.macro({
  exec(t, file: string, content: string) {
    const svc = file.startsWith('timeout-up') || file.startsWith('timeout-down') ? oneshot('true', { [file]: content }) : longrun({ [file]: content });
    const [src] = sources(t, { a: svc });
    onlyProblem(t, judged(t, [src as string]), new RegExp(`^invalid .*/a/${file}: must be a decimal number`), 'a');
  },
  title: (_t, file: string, content: string) => `${file} ${JSON.stringify(content)} is rejected`,
});
test(badNumber, 'timeout-up', '10s');
test(badNumber, 'timeout-up', '100 \n');
test(badNumber, 'timeout-down', '-1');
test(badNumber, 'timeout-down', '4294967296');
test(badNumber, 'timeout-up', '5\nx\n');
test(badNumber, 'timeout-kill', 'x\n5\n');
test(badNumber, 'max-death-tally', '4294967296\n');
test(badNumber, 'timeout-finish', '');
test(badNumber, 'notification-fd', 'three');
test(badNumber, 'lock-fd', '3\r\n');
test(badNumber, 'max-death-tally', ' 10');

test('timeout-kill and its kin are read up to the first newline, timeouts with leading zeros: they compile, with a warning', (t) => {
  const [src] = sources(t, {
    a: longrun({ 'timeout-kill': '5\nx\n', 'max-death-tally': '7\n\n\nmore', 'timeout-up': '00000000005\n' }),
  });
  t.deepEqual(judged(t, [src as string]), []);
  t.deepEqual(s6rcWarnings([src as string]).map((w) => w.reason.replace(src as string, 'SRC')).sort(), [
    'SRC/a/max-death-tally holds more than a number and newlines: s6-rc-compile reads it as 7',
    'SRC/a/timeout-kill holds more than a number and newlines: s6-rc-compile reads it as 5',
    'SRC/a/timeout-up holds more than a number and newlines: s6-rc-compile reads it as 5',
  ]);
});

test('numbers may be followed by newlines and go up to 2^32-1', (t) => {
  const [src] = sources(t, {
    a: longrun({ 'timeout-up': '4294967295\n\n', 'timeout-down': '0', 'timeout-kill': '1000\n', 'timeout-finish': '5000', 'max-death-tally': '100\n', 'notification-fd': '4\n', 'lock-fd': '5' }),
  });
  t.deepEqual(judged(t, [src as string]), []);
});

test('lock-fd equal to notification-fd is rejected', (t) => {
  const [src] = sources(t, { a: longrun({ 'notification-fd': '3\n', 'lock-fd': '3' }) });
  onlyProblem(t, judged(t, [src as string]), /^longrun a has the same value for notification-fd and lock-fd$/, 'a');
});

test('data and env must be directories', (t) => {
  const [src] = sources(t, { a: longrun({ data: 'file', env: new Symlink('data') }), b: longrun({ data: new Symlink('real'), real: {} }) });
  t.deepEqual(judged(t, [src as string]).map((p) => p.reason.replace(src as string, 'SRC')), [
    'SRC/a/data is not a directory',
    'SRC/a/env is not a directory',
  ]);
});

test('a longrun name plus the live prefix must fit in 251 bytes', (t) => {
  const name = 'v'.repeat(247);
  const [src] = sources(t, { [name]: longrun(), ['o'.repeat(250)]: oneshot() });
  t.deepEqual(judged(t, [src as string]), []);
  t.deepEqual(judged(t, [src as string], { prefix: 'ext-' }), []);
  onlyProblem(t, judged(t, [src as string], { prefix: 'ext1-' }), /^longrun name v+ is too long: with prefix "ext1-" it takes 252 bytes, more than 251/, name);
  t.true(longrunNameFits(name, 'ext-'));
  t.false(longrunNameFits(name, 'ext1-'));
  t.false(longrunNameFits('é'.repeat(126)));
});

test('dependencies.d wins over dependencies, and contents.d over contents', (t) => {
  const [src] = sources(t, {
    a: oneshot('true', { ...deps('b'), dependencies: 'ghost\n' }),
    b: oneshot(),
    g: bundle(['a'], { contents: 'ghost\n' }),
  });
  t.deepEqual(judged(t, [src as string]), []);
});

test('list files skip leading whitespace, blank and # lines, and keep trailing whitespace', (t) => {
  const [src] = sources(t, { a: oneshot('true', { dependencies: '\n  # comment\n\t b\n c\r\nd \n' }), b: oneshot(), c: oneshot(), d: oneshot() });
  t.deepEqual(judged(t, [src as string]).map((p) => p.reason), [
    'during dependency resolution for service a: undefined service name c\r',
    'during dependency resolution for service a: undefined service name d ',
  ]);
});

test('a dependencies.d that is not a directory is rejected', (t) => {
  const [src] = sources(t, { a: oneshot('true', { 'dependencies.d': 'b\n' }), b: oneshot() });
  onlyProblem(t, judged(t, [src as string]), /^unable to opendir .*\/a\/dependencies\.d$/, 'a');
});

test('pipeline-name outside a last consumer is ignored with a warning', (t) => {
  const [src] = sources(t, {
    p: longrun({ 'producer-for': 'm', 'pipeline-name': 'ignored1' }),
    m: longrun({ 'consumer-for': 'p', 'producer-for': 'c', 'pipeline-name': 'two\nnames\n' }),
    c: longrun({ 'consumer-for': 'm', 'pipeline-name': 'pipe' }),
    user: oneshot('true', deps('pipe')),
  });
  const { problems, warnings } = analyzeS6rcSource([src as string]);
  t.deepEqual(problems, []);
  t.is(warnings.filter((w) => /pipeline-name file despite not being a last consumer/.test(w.reason)).length, 2);
});

test('a source dir that cannot be read is rejected', (t) => {
  const [src] = sources(t, {});
  const missing = path.join(src as string, 'nope');
  t.deepEqual(judged(t, [missing]), [{ service: null, file: missing, reason: `unable to opendir ${missing}` }]);
});

test('a dependency chain 6000 deep compiles, and closed into a cycle is reported with its full path: no stack overflow', (t) => {
  const n = 6000;
  const name = (i: number): string => `s${String(i).padStart(5, '0')}`;
  const chain: Tree = {};
  for (let i = 0; i < n; i++) chain[name(i)] = oneshot('true\n', i + 1 < n ? deps(name(i + 1)) : {});
  const [open] = sources(t, chain);
  t.deepEqual(checkS6rcSource([open as string]), []);
  chain[name(n - 1)] = oneshot('true\n', deps(name(0)));
  const [closed] = sources(t, chain);
  const want = [...Array.from({ length: n }, (_, i) => name(i)), name(0)].join(' -> ');
  const problems = checkS6rcSource([closed as string]);
  t.is(problems.length, 1);
  t.is(problems[0]?.service, name(0));
  t.true(problems[0]?.reason === `cyclic service dependency: ${want}`, 'the whole cycle, in order');
});

import test from 'ava';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { lexExecline, lexExeclineBytes, quoteExeclineArgv, quoteExeclineWord } from '../../generator/s6rc/execline-lex.js';

/* ------------------------------------------------------------------ */
/* The real execlineb, when installed (Debian execline 2.9.3 here)      */
/* ------------------------------------------------------------------ */

const EXECLINEB = '/usr/bin/execlineb';
const PRINTF = '/usr/bin/printf';
const haveExeclineb = fs.existsSync(EXECLINEB) && fs.existsSync(PRINTF);
const realTest = haveExeclineb ? test : test.skip;

type Outcome = { ok: true; argv: Buffer[] } | { ok: false; kind: string };

/**
 * Run `body` as the arguments of `printf "%s\0" X` in a real execlineb -P
 * script and read the argv back, NUL-separated. `X` keeps "no words" and
 * "one empty word" apart.
 */
function realLex(body: Buffer, tmp: string): Outcome {
  const script = path.join(tmp, 'script');
  fs.writeFileSync(script, Buffer.concat([Buffer.from(`#!${EXECLINEB} -P\n${PRINTF} "%s\\\\0" X `), body]));
  const r = spawnSync(EXECLINEB, ['-P', script]);
  if (r.status !== 0) {
    const err = r.stderr.toString();
    const kind = ['unmatched }', 'unmatched {', 'syntax error'].find((k) => err.includes(k)) ?? err;
    return { ok: false, kind };
  }
  const words: Buffer[] = [];
  let start = 0;
  for (let i = 0; i < r.stdout.length; i++) {
    if (r.stdout[i] === 0) {
      words.push(r.stdout.subarray(start, i));
      start = i + 1;
    }
  }
  return { ok: true, argv: words.slice(1) };
}

/** Our lexer on the same body, in the same shape. */
function modelLex(body: Buffer): Outcome {
  const r = lexExeclineBytes(body);
  if (r.ok) return { ok: true, argv: r.argv };
  return { ok: false, kind: r.error.startsWith('syntax error') ? 'syntax error' : r.error };
}

function show(o: Outcome): string {
  return o.ok ? JSON.stringify(o.argv.map((w) => w.toString('latin1'))) : `error: ${o.kind}`;
}

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'execline-lex-'));
}

/* ------------------------------------------------------------------ */
/* Documented cases: the model, and the real execlineb agrees           */
/* ------------------------------------------------------------------ */

type Case = [script: string, expected: string[] | { error: string }];

const CASES: Case[] = [
  ['', []],
  ['a b\tc\nd', ['a', 'b', 'c', 'd']],
  ['a\rb\u0001c', ['a', 'b', 'c']], // every control byte separates words
  ['# comment\na # another\nb', ['a', 'b']],
  ['a#b {#x }x', ['a#b', '{#x', '}x']], // # only starts a comment at a word start
  ['"a b" c"d e"f', ['a b', 'cd ef']],
  ['""', ['']],
  ['\\n\\"\\\\ a\\ b', ['n"\\', 'a b']], // unquoted backslash: next byte literally
  ['a\\\nb', ['a\nb']], // ... even a newline, inside a word
  ['a \\\nb', ['a', 'b']], // between words, backslash-newline is skipped
  ['"\\a\\b\\t\\n\\v\\f\\r"', ['\x07\x08\t\n\x0b\x0c\r']],
  ['"a\\\nb"', ['ab']], // backslash-newline in quotes: line continuation
  ['"a\nb"', ['a\nb']],
  ['"\\65\\101\\0101\\0x41\\0x4g"', ['Ae' + 'A' + 'A' + '\x04g']], // decimal, octal, hex
  ['"\\1234"', ['{4']], // at most 3 decimal digits
  ['"\\x41\\q\\{\\#\\""', ['x41q{#"']], // other escapes are the byte itself
  ['"\\255"', ['\xff']],
  ['"\\5', ['\x05']], // quirk: a numeric escape at end of input ends the word
  ['x { a b } c', ['x', ' a', ' b', '', 'c']],
  ['x { { a } }', ['x', '  a', ' ', '']],
  ['x "{" \\} {a', ['x', '{', '}', '{a']],
  ['a\0b c', ['a']], // a NUL byte ends the script
  ['x }\\', ['x']], // quirk: a pending `}` word is dropped at end of input
  ['{', { error: 'syntax error' }],
  ['x {', { error: 'syntax error' }],
  ['x { a', { error: 'unmatched {' }],
  ['x }', { error: 'unmatched }' }],
  ['x {\\a }', { error: 'unmatched }' }], // `{\a` is not a block opener
  ['"abc', { error: 'syntax error' }],
  ['abc\\', { error: 'syntax error' }],
  ['"\\0"', { error: 'syntax error' }],
  ['"\\08"', { error: 'syntax error' }],
  ['"\\0xg"', { error: 'syntax error' }],
  ['"\\000"', { error: 'syntax error' }],
  ['"\\256"', { error: 'syntax error' }],
  ['"\\0400"', { error: 'syntax error' }],
];

for (const [script, expected] of CASES) {
  test(`lexExecline ${JSON.stringify(script)}`, (t) => {
    const r = lexExeclineBytes(Buffer.from(script, 'latin1'));
    if (Array.isArray(expected)) {
      t.true(r.ok, JSON.stringify(r));
      if (r.ok) t.deepEqual(r.argv.map((w) => w.toString('latin1')), expected);
    } else {
      t.false(r.ok);
      if (!r.ok) t.true(r.error.startsWith(expected.error), r.error);
    }
  });
}

realTest('every documented case matches the real execlineb', (t) => {
  const tmp = tmpDir();
  t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
  for (const [script] of CASES) {
    const body = Buffer.from(script, 'latin1');
    t.is(show(modelLex(body)), show(realLex(body, tmp)), JSON.stringify(script));
  }
});

realTest('random scripts lex exactly like the real execlineb', (t) => {
  const tmp = tmpDir();
  t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
  // The bytes that matter to el_parse, plus some that do not.
  const alphabet = [' ', '\t', '\n', '\r', '\x01', '\0', '#', '"', '\\', '\\', '{', '}', '{', '}', 'a', 'b', 'f', 'n', 't', 'x', 'c', 'F', 'g', '0', '1', '2', '5', '7', '8', '9', 'é', '\xff'];
  let seed = 12345;
  const random = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  for (let i = 0; i < 300; i++) {
    let script = '';
    for (let len = random(24); len > 0; len--) script += alphabet[random(alphabet.length)];
    const body = Buffer.from(script, 'utf8');
    t.is(show(modelLex(body)), show(realLex(body, tmp)), JSON.stringify(script));
  }
});

test('text input reports string offsets', (t) => {
  t.deepEqual(lexExecline('é { "x'), { ok: false, error: 'syntax error: unterminated quoted string', offset: 6 });
  t.deepEqual(lexExecline('ok {\n  é }\n}'), { ok: false, error: 'unmatched }', offset: 11 });
  t.deepEqual(lexExecline('if { a\n'), { ok: false, error: 'unmatched {', offset: 3 });
  t.deepEqual(lexExecline('echo "é€😀"'), { ok: true, argv: ['echo', 'é€😀'] });
});

/* ------------------------------------------------------------------ */
/* quoteExeclineWord                                                    */
/* ------------------------------------------------------------------ */

const NASTY = [
  '', ' ', '  ', 'plain', '-n', '--', '-', '#', '#x', 'a#b', '{', '}', '{}', '{ }', '{a', '}a', '"', '""', "'", '\\', '\\\\',
  '\\n', '\\0', '\\65', 'a b', 'tab\there', 'new\nline', '\r\n', 'ends with\\', '"quoted"', '$x', '${HOME}', '$@', '$1',
  'é', '日本語', '😀', 'mix é "q" \\ {', '\x01\x02\x1f\x7f', '\x07x', '1\x072', 'line1\nline2\n', ' leading', 'trailing ',
  'a=b', 'k:v,w', '/usr/bin/env', './rel', '~user', '*?[]', '<>|&;()', '`cmd`', '%s\\0', '\u0085', '\u00a0',
];

test('quoteExeclineWord keeps readable words plain', (t) => {
  for (const w of ['plain', '-n', '/usr/bin/env', 'a=b', 'k:v,w', '$x', 'a#b', '{a', 'é', '100%']) t.is(quoteExeclineWord(w), w);
  t.is(quoteExeclineWord(''), '""');
  t.is(quoteExeclineWord('{'), '"{"');
  t.is(quoteExeclineWord('#x'), '"#x"');
  t.is(quoteExeclineWord('a b'), '"a b"');
  t.is(quoteExeclineWord('say "hi"\\'), '"say \\"hi\\"\\\\"');
  t.is(quoteExeclineWord('a\nb\tc'), '"a\\nb\\tc"');
  t.is(quoteExeclineWord('\x01'), '"\\0001"');
  t.is(quoteExeclineArgv(['echo', 'a b', '']), 'echo "a b" ""');
});

test('quoteExeclineWord round-trips through the lexer', (t) => {
  for (const w of NASTY) t.deepEqual(lexExecline(quoteExeclineWord(w)), { ok: true, argv: [w] }, JSON.stringify(w));
  t.deepEqual(lexExecline(quoteExeclineArgv(NASTY)), { ok: true, argv: NASTY });
  // Also inside a block: every word gets the block's leading space.
  t.deepEqual(lexExecline(`if { ${quoteExeclineArgv(NASTY)} }`), { ok: true, argv: ['if', ...NASTY.map((w) => ` ${w}`), ''] });
});

test('quoteExeclineWord round-trips random strings', (t) => {
  const chars = [' ', '\t', '\n', '"', '\\', '#', '{', '}', '$', 'a', '0', '1', '5', '9', 'x', 'n', '\x01', '\x7f', 'é', '😀', '-'];
  let seed = 99;
  const random = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  for (let i = 0; i < 2000; i++) {
    let w = '';
    for (let len = random(10); len > 0; len--) w += chars[random(chars.length)];
    t.deepEqual(lexExecline(quoteExeclineWord(w)), { ok: true, argv: [w] }, JSON.stringify(w));
  }
});

test('quoteExeclineWord refuses what no argv word can hold', (t) => {
  t.throws(() => quoteExeclineWord('a\0b'), { message: /NUL/ });
  t.throws(() => quoteExeclineWord('\ud800'), { message: /surrogate/ });
});

realTest('quoteExeclineWord output is read back byte-for-byte by the real execlineb', (t) => {
  const tmp = tmpDir();
  t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const script = path.join(tmp, 'quoted');
  // Each word on its own line too, so comments/newlines between words are exercised.
  fs.writeFileSync(script, `#!${EXECLINEB} -P\n${PRINTF} "%s\\\\0"\n  ${NASTY.map(quoteExeclineWord).join('\n  ')}\n`);
  const r = spawnSync(EXECLINEB, ['-P', script]);
  t.is(r.status, 0, r.stderr.toString());
  const expected = Buffer.concat(NASTY.map((w) => Buffer.concat([Buffer.from(w, 'utf8'), Buffer.from([0])])));
  t.true(r.stdout.equals(expected), `${r.stdout.toString('latin1')}\n!==\n${expected.toString('latin1')}`);
});

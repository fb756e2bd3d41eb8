import test from 'ava';
import fc from 'fast-check';
import { jsonLines, textLines } from '../../generator/admin/log-format.js';
import { LineSplitter } from '../../generator/admin/log-lines.js';
import { printable, terminalJson } from '../../generator/util/bytes.js';

/** The log fed in at `cuts` (byte offsets), as `vmsvc logs` prints it. */
function streamed(bytes: Buffer, cuts: readonly number[], json: boolean): string {
  let out = '';
  const write = (s: string): void => {
    out += s;
  };
  const lines = new LineSplitter(json ? jsonLines(write) : textLines(write));
  let at = 0;
  for (const cut of [...cuts].sort((a, b) => a - b)) {
    lines.push(bytes.subarray(at, cut));
    at = cut;
  }
  lines.push(bytes.subarray(at));
  lines.end();
  return out;
}

const STAMPED = /^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{9}) {2}(.*)$/s;

/** The reference: the whole log decoded, split (a CR before a newline is the line's end) and escaped at once, line by line. */
function whole(bytes: Buffer, json: boolean): string {
  const lines = bytes.toString('utf8').split(/\r?\n/);
  if (lines.at(-1) === '') lines.pop();
  return lines.map((line) => {
    if (!json) return `${printable(line)}\n`;
    const m = STAMPED.exec(line);
    return `${terminalJson(m === null ? { time: null, text: line } : { time: m[1]!, text: m[2]! })}\n`;
  }).join('');
}

/** Pieces a guest or a log user writes: multi-byte characters, invalid UTF-8, controls, bidi, stamps. */
const piece = fc.constantFrom(
  Buffer.from('a'), Buffer.from(' '), Buffer.from('\n'), Buffer.from('\r'), Buffer.from('\r\n'), Buffer.from('\\'),
  Buffer.from('\u001b[31m'), Buffer.from('\u009b'), Buffer.from('\u00e9'), Buffer.from('\u20ac'), Buffer.from('\u{1f600}'),
  Buffer.from('\u202e'), Buffer.from('\ufeff'), Buffer.from([0xff]), Buffer.from([0xc3]), Buffer.from([0xf0, 0x9f]),
  Buffer.from('2026-01-01 00:00:00.000000001  '), Buffer.from('2026-01-01 00:00:00.1  '),
);
const log = fc.array(piece, { maxLength: 40 }).map((ps) => Buffer.concat(ps));

test('a log fed in any chunks prints as the whole log escaped line by line, as text and as JSON Lines', (t) => {
  fc.assert(fc.property(log, fc.array(fc.nat(), { maxLength: 8 }), fc.boolean(), (bytes, cuts, json) => {
    const at = cuts.map((c) => c % (bytes.length + 1));
    return streamed(bytes, at, json) === whole(bytes, json);
  }), { numRuns: 5000 });
  t.pass();
});

test('a line longer than a chunk is handed on as it is read, each byte once', (t) => {
  const chunk = 64 * 1024;
  const pieces: number[] = [];
  let ends = 0;
  const lines = new LineSplitter({ text: (s) => pieces.push(s.length), end: () => ends++ });
  for (let i = 0; i < 16; i++) {
    lines.push(Buffer.alloc(chunk, 'a'));
    t.is(pieces.reduce((a, b) => a + b, 0), (i + 1) * chunk, 'every byte read so far is handed on, none twice');
  }
  lines.push(Buffer.from('\n'));
  t.is(ends, 1);
  t.true(pieces.every((n) => n <= chunk));
});

test('the CR of a CRLF line ending is dropped, wherever the reads split it; any other CR is printed escaped', (t) => {
  const log = Buffer.from('one\r\ntwo\rtwo\r\n\r\nthree\r\r\nlast\r');
  const expected = 'one\ntwo\\x0dtwo\n\nthree\\x0d\nlast\\x0d\n';
  for (let cut = 0; cut <= log.length; cut++) t.is(streamed(log, [cut], false), expected, `split at ${cut}`);
  t.is(streamed(log, [], true).split('\n')[0], '{"time":null,"text":"one"}');
});

import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { firstStampedFrom, lastLinesStart, parseSince } from '../../generator/admin/log-seek.js';
import { tempDir } from '../support/data-dir.js';

/** `content` in a file, open for reading: the fd. */
function opened(t: ExecutionContext, content: Buffer): number {
  const dir = tempDir('vmsvc-seek-');
  const file = path.join(dir, 'current');
  fs.writeFileSync(file, content);
  const fd = fs.openSync(file, 'r');
  t.teardown(() => {
    fs.closeSync(fd);
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return fd;
}

/** The reference: where each line starts, read forwards; the start of the last n of them. */
function lastLinesReference(content: Buffer, n: number): number {
  const starts: number[] = [];
  for (let i = 0; i < content.length; i = content.indexOf(0x0a, i) === -1 ? content.length : content.indexOf(0x0a, i) + 1) starts.push(i);
  return n === 0 ? content.length : n >= starts.length ? 0 : starts[starts.length - n]!;
}

test('lastLinesStart finds where the last n lines start, lines longer and shorter than its reads, with or without a last newline', (t) => {
  // Lines up to 150 KiB: some cross the 64 KiB reads backwards, some are empty.
  const line = fc.tuple(fc.nat({ max: 150 * 1024 }), fc.boolean()).map(([length, crlf]) => Buffer.concat([Buffer.alloc(length, 'x'), Buffer.from(crlf ? '\r\n' : '\n')]));
  const content = fc.tuple(fc.array(line, { maxLength: 12 }), fc.nat({ max: 70 * 1024 })).map(([lines, tail]) => Buffer.concat([...lines, Buffer.alloc(tail, 'y')]));
  fc.assert(fc.property(content, fc.nat({ max: 14 }), (c, n) => lastLinesStart(opened(t, c), c.length, n) === lastLinesReference(c, n)), { numRuns: 300 });
  t.pass();
});

/** Bytes this process has read (read(2) and kin), from /proc/self/io. */
function bytesRead(): number {
  return Number(/^rchar: (\d+)$/m.exec(fs.readFileSync('/proc/self/io', 'utf8'))![1]);
}

test('lastLinesStart reads the end of a log, not all of it', (t) => {
  const lines = Buffer.from(Array.from({ length: 400_000 }, (_, i) => `2026-01-01 00:00:00.000000001  line ${i}\n`).join(''));
  const fd = opened(t, lines);
  const before = bytesRead();
  const start = lastLinesStart(fd, lines.length, 3);
  const read = bytesRead() - before;
  t.is(lines.subarray(start).toString(), '2026-01-01 00:00:00.000000001  line 399997\n2026-01-01 00:00:00.000000001  line 399998\n2026-01-01 00:00:00.000000001  line 399999\n');
  t.true(read < 1024 * 1024, `read ${read} bytes of a ${lines.length}-byte log`);
});

/** A stamp of second `s` of 2026-01-01 (local time, as s6-log writes it). */
const at = (s: number): string => `2026-01-01 00:00:${String(s).padStart(2, '0')}.000000000`;

/** The reference: the lines read forwards, the start of the first at or after `from` stamped at or after `since`. */
function firstStampedReference(content: Buffer, from: number, since: string): number {
  for (let start = from; start < content.length;) {
    const nl = content.indexOf(0x0a, start);
    const line = content.subarray(start, nl === -1 ? content.length : nl).toString('latin1');
    const m = /^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{9}) {2}/.exec(line);
    if (m !== null && m[1]! >= since) return start;
    if (nl === -1) break;
    start = nl + 1;
  }
  return content.length;
}

test('firstStampedFrom finds the first line stamped at or after a time, stamps split across its reads, unstamped and long lines between', (t) => {
  const line = fc.tuple(fc.option(fc.nat({ max: 59 }), { nil: null }), fc.nat({ max: 100 * 1024 }), fc.boolean())
    .map(([second, length, newline]) => Buffer.concat([Buffer.from(second === null ? '' : `${at(second)}  `), Buffer.alloc(length, 'x'), Buffer.from(newline ? '\n' : '')]));
  const log = fc.array(line, { maxLength: 10 }).map((lines) => Buffer.concat(lines));
  fc.assert(fc.property(log, fc.nat({ max: 60 }), fc.nat(), (c, since, fromLine) => {
    // `from` is a line's start, as lastLinesStart gives it.
    const starts = [0, ...[...c.entries()].filter(([, b]) => b === 0x0a).map(([i]) => i + 1)];
    const from = Math.min(starts[fromLine % starts.length]!, c.length);
    return firstStampedFrom(opened(t, c), from, c.length, at(since)) === firstStampedReference(c, from, at(since));
  }), { numRuns: 300 });
  t.pass();
});

test('parseSince takes ISO 8601 dates and times as s6-log stamps, in local time unless an offset says otherwise', (t) => {
  const tz = process.env['TZ'];
  process.env['TZ'] = 'Europe/Berlin'; // +01:00 in winter, +02:00 in summer
  try {
    t.is(parseSince('2026-01-31'), '2026-01-31 00:00:00.000000000');
    t.is(parseSince('2026-01-31T08:05'), '2026-01-31 08:05:00.000000000');
    t.is(parseSince('2026-01-31 08:05:06'), '2026-01-31 08:05:06.000000000');
    t.is(parseSince('2026-01-31T08:05:06.5'), '2026-01-31 08:05:06.500000000');
    t.is(parseSince('2026-01-31T08:05:06,123456789'), '2026-01-31 08:05:06.123456789');
    t.is(parseSince('2026-01-31T08:05Z'), '2026-01-31 09:05:00.000000000');
    t.is(parseSince('2026-07-31T08:05:06.25Z'), '2026-07-31 10:05:06.250000000');
    t.is(parseSince('2026-01-01T00:30:00-05:00'), '2026-01-01 06:30:00.000000000');
    t.is(parseSince('2026-01-01T00:30+0530'), '2025-12-31 20:00:00.000000000');
    t.is(parseSince('2026-01-01T00:30+01'), '2026-01-01 00:30:00.000000000');
    for (const bad of ['', 'yesterday', '2026-1-31', '2026-02-30', '2026-13-01', '2026-01-31T24:00', '2026-01-31T08', '2026-01-31T08:60',
      '2026-01-31T08:00:00.1234567890', '2026-01-31Z', '2026-01-31T08:00 +01:00', '2026-01-31T08:00\n']) {
      t.is(parseSince(bad), null, JSON.stringify(bad));
    }
  } finally {
    if (tz === undefined) delete process.env['TZ'];
    else process.env['TZ'] = tz;
  }
});

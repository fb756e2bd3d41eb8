import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { lastLinesStart } from '../../generator/admin/log-seek.js';
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

/**
 * Where `vmsvc logs` starts printing a serial log: at the last N lines
 * (-n, found reading backwards from the end a chunk at a time, so the end
 * of a 512 MiB log costs a read of its end, not of the log). Offsets are in
 * bytes, always a line's start.
 */
import * as fs from 'node:fs';

const CHUNK = 64 * 1024;
const NEWLINE = 0x0a;

/**
 * The offset of the first of the last `n` lines of `fd`'s first `size`
 * bytes; 0 when it holds no more than `n`. A last line without its newline
 * counts as a line, as tail counts it.
 */
export function lastLinesStart(fd: number, size: number, n: number): number {
  if (n === 0) return size;
  const buf = Buffer.allocUnsafe(CHUNK);
  let seen = 0;
  for (let end = size; end > 0;) {
    const start = Math.max(0, end - CHUNK);
    // A log truncated meanwhile reads short: what was not read is not scanned.
    const got = fs.readSync(fd, buf, 0, end - start, start);
    for (let i = got - 1; i >= 0;) {
      const nl = buf.lastIndexOf(NEWLINE, i);
      if (nl === -1) break;
      // The newline that ends the last line does not start another one.
      if (start + nl !== size - 1 && ++seen === n) return start + nl + 1;
      i = nl - 1;
    }
    end = start;
  }
  return 0;
}

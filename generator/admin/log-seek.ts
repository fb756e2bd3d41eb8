/**
 * Where `vmsvc logs` starts printing a serial log: at the last N lines
 * (-n, found reading backwards from the end a chunk at a time, so the end
 * of a 512 MiB log costs a read of its end, not of the log), and at the
 * first line stamped at or after a time (--since). Offsets are in bytes,
 * always a line's start.
 */
import * as fs from 'node:fs';
import { HEADER_LENGTH, isStamped, STAMP_LENGTH } from './log-format.js';

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

/**
 * The offset of the first line at or after `from` (a line's start) and
 * before `size` whose s6-log stamp is at or after `since` (a stamp, as
 * parseSince makes it); `size` when there is none. Each byte is looked at
 * once: a line's first HEADER_LENGTH bytes, then a search for its newline.
 */
export function firstStampedFrom(fd: number, from: number, size: number, since: string): number {
  const buf = Buffer.allocUnsafe(CHUNK);
  const head = Buffer.alloc(HEADER_LENGTH);
  let headLength = 0;
  let inHead = true;
  let lineStart = from;
  for (let pos = from; pos < size;) {
    const got = fs.readSync(fd, buf, 0, Math.min(CHUNK, size - pos), pos);
    if (got === 0) break;
    const view = buf.subarray(0, got);
    let i = 0;
    while (i < got) {
      if (inHead) {
        while (i < got && headLength < HEADER_LENGTH && view[i] !== NEWLINE) head[headLength++] = view[i++]!;
        if (i === got && headLength < HEADER_LENGTH) break; // the head goes on in the next read
        const stamp = head.toString('latin1', 0, headLength);
        if (headLength === HEADER_LENGTH && isStamped(stamp) && stamp.slice(0, STAMP_LENGTH) >= since) return lineStart;
        inHead = false;
      }
      const nl = view.indexOf(NEWLINE, i);
      if (nl === -1) break;
      i = nl + 1;
      lineStart = pos + i;
      inHead = true;
      headLength = 0;
    }
    pos += got;
  }
  return size;
}

/** `YYYY-MM-DD`, then optionally `THH:MM`, `:SS`, `.fraction` (1 to 9 digits), and an offset `Z`, `+HH:MM`, `-HHMM` or `+HH`. */
const ISO_8601 = /^(\d{4})-(\d\d)-(\d\d)(?:[T ](\d\d):(\d\d)(?::(\d\d)(?:[.,](\d{1,9}))?)?(?:(Z)|([+-])(\d\d)(?::?(\d\d))?)?)?$/;

/**
 * `--since TIME` as an s6-log stamp (`2026-01-01 00:00:00.000000000`), so
 * that comparing stamps as strings compares times; null when TIME is not
 * one of the ISO 8601 forms ISO_8601 takes, or no such day or time. s6-log
 * writes local time without an offset: a TIME without one is taken as
 * that, one with an offset is converted to this host's local time (the
 * TZ vmsvc runs with).
 */
export function parseSince(time: string): string | null {
  const m = ISO_8601.exec(time);
  if (m === null) return null;
  const [, y, mo, d, h = '0', mi = '0', sec = '0', fraction = '', zulu, sign, oh = '0', om = '0'] = m;
  const fields: Fields = [Number(y), Number(mo), Number(d), Number(h), Number(mi), Number(sec)];
  const nanos = fraction.padEnd(9, '0');
  const [year, month, day, hour, minute, second] = fields;
  const utc = new Date(0);
  utc.setUTCFullYear(year, month - 1, day);
  utc.setUTCHours(hour, minute, second);
  // Date rolls 02-30 over into March: a field it changed was out of range.
  const rolled: Fields = [utc.getUTCFullYear(), utc.getUTCMonth() + 1, utc.getUTCDate(), utc.getUTCHours(), utc.getUTCMinutes(), utc.getUTCSeconds()];
  if (rolled.some((v, i) => v !== fields[i])) return null;
  if (zulu === undefined && sign === undefined) return stamp(fields, nanos);
  const offsetMinutes = (sign === '-' ? -1 : 1) * (Number(oh) * 60 + Number(om));
  const local = new Date(utc.getTime() - offsetMinutes * 60_000);
  return stamp([local.getFullYear(), local.getMonth() + 1, local.getDate(), local.getHours(), local.getMinutes(), local.getSeconds()], nanos);
}

/** Year, month, day, hour, minute, second. */
type Fields = readonly [number, number, number, number, number, number];

function stamp([year, month, day, hour, minute, second]: Fields, nanos: string): string {
  const two = (n: number): string => String(n).padStart(2, '0');
  return `${String(year).padStart(4, '0')}-${two(month)}-${two(day)} ${two(hour)}:${two(minute)}:${two(second)}.${nanos}`;
}

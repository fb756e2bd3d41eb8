/**
 * How `vmsvc logs` prints a serial log's lines, from the pieces LineSplitter
 * hands on: terminal text through printable(), or JSON Lines
 * `{"time": ..., "text": ...}`. Each piece is escaped on its own, so a line
 * costs what its pieces cost, and no output string grows with the line; the
 * output is the same as escaping the whole line at once (both escape one
 * character at a time, and no piece splits a surrogate pair).
 */
import { printable, terminalJsonText } from '../util/bytes.js';
import type { LineSink } from './log-lines.js';

/** The length of s6-log's T stamp, `2026-01-01 00:00:00.123456789` (local time, nanoseconds). */
export const STAMP_LENGTH = 29;
/** The stamp and the two spaces s6-log puts after it. */
export const HEADER_LENGTH = STAMP_LENGTH + 2;
const STAMPED = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{9} {2}/;

/** Whether `head` (a line's first characters, at least HEADER_LENGTH of them when there are) starts with s6-log's stamp. */
export function isStamped(head: string): boolean {
  return STAMPED.test(head);
}

/** Lines as text: each through printable(), so the guest cannot drive the terminal. */
export function textLines(write: (s: string) => void): LineSink {
  return { text: (piece) => write(printable(piece)), end: () => write('\n') };
}

/**
 * Lines as JSON Lines, one `{"time":"...","text":"..."}` each, the stamp split
 * off (time null for a line without one). The stamp is known after the
 * line's first HEADER_LENGTH characters: they are held until then, the rest
 * is written as it comes.
 */
export function jsonLines(write: (s: string) => void): LineSink {
  /** The line's first characters while they do not yet say whether it is stamped; null once written. */
  let head: string | null = '';
  const writeHead = (h: string): void => {
    if (isStamped(h)) write(`{"time":"${h.slice(0, STAMP_LENGTH)}","text":"${terminalJsonText(h.slice(HEADER_LENGTH))}`);
    else write(`{"time":null,"text":"${terminalJsonText(h)}`);
  };
  return {
    text(piece) {
      if (head === null) {
        write(terminalJsonText(piece));
        return;
      }
      head += piece;
      if (head.length >= HEADER_LENGTH) {
        writeHead(head);
        head = null;
      }
    },
    end() {
      if (head !== null) writeHead(head);
      write('"}\n');
      head = '';
    },
  };
}

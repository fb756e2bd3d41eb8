/**
 * A serial log's bytes cut into lines, without ever holding a line whole: the
 * guest writes the log (s6-log has no line limit by default), so one line
 * may be the whole 512 MiB file. Text is handed on in pieces as it is read,
 * each byte once: joining the pieces and re-splitting them, as an earlier
 * splitter did, made one long line cost time quadratic in its length.
 */
import { StringDecoder } from 'node:string_decoder';

/** Where the pieces go. */
export interface LineSink {
  /** More text of the current line: never empty, never a newline, never half a UTF-16 surrogate pair. */
  text(piece: string): void;
  /** The current line ended: at its newline, or at the end of the input. */
  end(): void;
}

/**
 * Bytes in (UTF-8, decoded across chunk boundaries; invalid bytes become
 * U+FFFD), line pieces out. A CR right before a newline is dropped: consoles
 * end lines with CRLF, and the CR is the line ending, not text. Any other CR
 * is text (so printable() shows it): one at the end of a chunk is held back
 * until the next byte says which it is.
 */
export class LineSplitter {
  private readonly decoder = new StringDecoder('utf8');
  /** A CR ended what was read so far. */
  private heldCr = false;
  /** Text of a line was handed on (or held) and its end was not. */
  private open = false;

  constructor(private readonly sink: LineSink) {}

  push(chunk: Uint8Array): void {
    this.split(this.decoder.write(chunk));
  }

  /** The input ended: the rest, and the last line's end if it had no newline. */
  end(): void {
    this.split(this.decoder.end());
    this.releaseCr();
    if (this.open) this.lineEnd();
  }

  private split(s: string): void {
    let start = 0;
    for (let nl = s.indexOf('\n'); nl !== -1; nl = s.indexOf('\n', start)) {
      this.segment(s.slice(start, nl), true);
      start = nl + 1;
    }
    this.segment(start === 0 ? s : s.slice(start), false);
  }

  /** `s`: text of the current line, up to its newline when `ended`. */
  private segment(s: string, ended: boolean): void {
    if (s !== '') this.releaseCr();
    let text = s;
    if (text.endsWith('\r')) {
      text = text.slice(0, -1);
      if (!ended) {
        this.heldCr = true;
        this.open = true;
      }
    }
    if (text !== '') {
      this.open = true;
      this.sink.text(text);
    }
    if (ended) {
      this.heldCr = false; // the CR of a CRLF
      this.lineEnd();
    }
  }

  private releaseCr(): void {
    if (!this.heldCr) return;
    this.heldCr = false;
    this.sink.text('\r');
  }

  private lineEnd(): void {
    this.open = false;
    this.sink.end();
  }
}

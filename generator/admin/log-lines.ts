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

/** Bytes in (UTF-8, decoded across chunk boundaries; invalid bytes become U+FFFD), line pieces out. */
export class LineSplitter {
  private readonly decoder = new StringDecoder('utf8');
  /** Text of a line was handed on and its end was not. */
  private open = false;

  constructor(private readonly sink: LineSink) {}

  push(chunk: Uint8Array): void {
    this.split(this.decoder.write(chunk));
  }

  /** The input ended: the rest, and the last line's end if it had no newline. */
  end(): void {
    this.split(this.decoder.end());
    if (this.open) this.lineEnd();
  }

  private split(s: string): void {
    let start = 0;
    for (let nl = s.indexOf('\n'); nl !== -1; nl = s.indexOf('\n', start)) {
      this.text(s.slice(start, nl));
      this.lineEnd();
      start = nl + 1;
    }
    this.text(start === 0 ? s : s.slice(start));
  }

  private text(s: string): void {
    if (s === '') return;
    this.open = true;
    this.sink.text(s);
  }

  private lineEnd(): void {
    this.open = false;
    this.sink.end();
  }
}

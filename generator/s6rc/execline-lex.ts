/**
 * An exact model of the execline lexer (execline's `el_parse`), which is what
 * both `execlineb` and `s6-rc-compile` (for a oneshot's `up` and `down`
 * files) use to turn a script into ONE argv.
 *
 * Sources: skarnet/execline src/libexecline/PARSING.txt (the current
 * transition table; the older table in el_parse.c differs at end of input
 * and for backslashes between words) and src/include/execline/execline.h
 * (block quote char ' ', block end char '\0'). Every rule below was checked
 * against the real execlineb 2.9.3 (Debian) by running `execlineb -P FILE`
 * on a script calling `/usr/bin/printf "%s\\0" ...`, plus a random
 * differential test; test/unit/execline-lex.test.ts repeats both whenever
 * /usr/bin/execlineb is installed.
 *
 * Confirmed facts:
 * - The lexer works on bytes. Every byte 0x01-0x20 (all control characters,
 *   not only space/tab/CR) separates words, as does '\n'. 0x7f and bytes
 *   >= 0x80 are ordinary. A NUL byte ends the script like end of input.
 * - `#` starts a comment to end of line only at the START of a word:
 *   `a#b`, `{#x` and `}x` are plain words.
 * - Outside quotes, a backslash inside a word takes the next byte literally,
 *   whatever it is: `\n` is the letter n, `\"` a quote, backslash-newline a
 *   newline in the word. A backslash at end of input there is a syntax
 *   error. BETWEEN words, backslash-newline is skipped and a backslash at
 *   end of input is ignored.
 * - `"..."` can start or continue a word (`a"b c"d` is the word `ab cd`).
 *   An unterminated quote is a syntax error.
 * - Inside quotes: `\a \b \t \n \v \f \r` are C control characters;
 *   backslash-newline is removed (line continuation); `\ddd` is 1 to 3
 *   DECIMAL digits (`\65` = "A", `\101` = "e"); `\0ooo` is 1 to 3 octal
 *   digits (`\0101` = "A"); `\0xhh` is 1 or 2 hex digits (`\0x41` = "A").
 *   A numeric escape worth 0 or more than 255 is a syntax error (`\000`,
 *   `\256`, `\0400`). `\0` must be followed by an octal digit or `x`, and
 *   `\0x` by a hex digit (`"\0"`, `"\08"`, `"\0xg"` are syntax errors).
 *   Any other escaped byte is itself: `\x41` is the three bytes `x41`, `\q`
 *   is `q`. Quirk: end of input right after a numeric escape ends the word
 *   without error, even though the quote is still open (`"\5`).
 * - A word that is exactly an unquoted `{` opens a block and is not a word;
 *   an unquoted `}` word closes it. Every word inside N nested blocks gets
 *   N leading spaces, and a block's end is a word of N-1 spaces:
 *   `p { a } c` gives `p`, ` a`, ``, `c`; `p { { a } }` gives `p`, `  a`,
 *   ` `, ``. `"{"`, `\}` and `{a` are plain words. A `{` at end of input is
 *   a "syntax error", a `}` with no open block "unmatched }", an open block
 *   at end of input "unmatched {" (the three messages execlineb and
 *   s6-rc-compile print).
 * - No `$` substitution and no positional parameters happen in the lexer.
 */

export type ExeclineLexResult =
  | { ok: true; argv: string[] }
  | { ok: false; error: string; offset: number };

export type ExeclineLexBytesResult =
  | { ok: true; argv: Buffer[] }
  | { ok: false; error: string; offset: number };

/*
 * Byte classes, in el_parse's column order. Class 1 ("space") is every byte
 * 0x01..0x20 except '\n' (0x01, CR and TAB all split words on 2.9.3).
 */
enum ByteClass {
  Nul = 0, Space, Hash, Quote, Newline, Backslash, Normal, Abf, Oct17, Dec89, Zero, Nrtv, X, HexOther, Open, Close,
}

function classify(byte: number): ByteClass {
  if (byte === 0) return ByteClass.Nul;
  if (byte === 0x0a) return ByteClass.Newline;
  if (byte <= 0x20) return ByteClass.Space;
  const ch = String.fromCharCode(byte);
  if (ch === '#') return ByteClass.Hash;
  if (ch === '"') return ByteClass.Quote;
  if (ch === '\\') return ByteClass.Backslash;
  if (ch === '{') return ByteClass.Open;
  if (ch === '}') return ByteClass.Close;
  if (ch === '0') return ByteClass.Zero;
  if (ch >= '1' && ch <= '7') return ByteClass.Oct17;
  if (ch === '8' || ch === '9') return ByteClass.Dec89;
  if ('abf'.includes(ch)) return ByteClass.Abf;
  if ('nrtv'.includes(ch)) return ByteClass.Nrtv;
  if (ch === 'x') return ByteClass.X;
  if ('ABCDEFcde'.includes(ch)) return ByteClass.HexOther;
  return ByteClass.Normal;
}

type StateName =
  | 'START' // between words (initial state)
  | 'COMMENT'
  | 'OPENB' // the current word so far is an unquoted {
  | 'CLOSEB' // the current word so far is an unquoted }
  | 'W' // in an unquoted word
  | 'Q1' // after a backslash between words
  | 'Q2' // after a backslash in an unquoted word
  | 'Q3' // after a backslash in a quoted string
  | 'Q' // in a quoted string
  | 'OCT' // after \0 in quotes
  | 'OCT1' // after \0d
  | 'OCT2' // after \0dd
  | 'DEC1' // after \d
  | 'DEC2' // after \dd
  | 'HEX' // after \0x
  | 'HEX1' // after \0xh
  | 'ENDNUM'; // after \0ddd, \ddd or \0xhh
type Next = StateName | 'END' | 'ERROR';

/*
 * The transition table of el_parse, transcribed from execline's
 * src/libexecline/PARSING.txt (which documents the current table; the
 * 2.9.3 binary agrees, see the file comment). Each row has one cell per
 * byte class, in ByteClass order, written "actions>next". Actions run in
 * this order:
 *   s  scan the digits since the mark as one byte value (1..255, else error)
 *   m  set the mark (start of the digits of a numeric escape)
 *   n  new word: push one space per open block
 *   {  open a block: depth++, then drop the last `depth` bytes (the `{` word)
 *   }  close a block: fail "unmatched }" at depth 0, depth--, drop 2 bytes
 *   p  push the current byte
 *   c  push the control character for \a \b \f \n \r \t \v
 *   0  end the word
 *   b  numeric base from the current byte: x -> 16, 0 -> 8, else 10
 */
const RAW_TABLE: Record<StateName, string> = {
  //         NUL     space    #       "      \n      \       normal  abf     1-7      8-9      0        nrtv    x       A-Fcde  {          }
  START:   '>END    >START   >COMMENT n>Q    >START  >Q1     np>W    np>W    np>W     np>W     np>W     np>W    np>W    np>W    np>OPENB   np>CLOSEB',
  COMMENT: '>END    >COMMENT >COMMENT >COMMENT >START >COMMENT >COMMENT >COMMENT >COMMENT >COMMENT >COMMENT >COMMENT >COMMENT >COMMENT >COMMENT >COMMENT',
  OPENB:   '>ERROR  {>START  p>W     >Q     {>START >Q1     p>W     p>W     p>W      p>W      p>W      p>W     p>W     p>W     p>W        p>W',
  CLOSEB:  '}0>END  }0>START p>W     >Q     }0>START >Q1    p>W     p>W     p>W      p>W      p>W      p>W     p>W     p>W     p>W        p>W',
  W:       '0>END   0>START  p>W     >Q     0>START >Q2     p>W     p>W     p>W      p>W      p>W      p>W     p>W     p>W     p>W        p>W',
  Q1:      '>END    np>W     np>W    np>W   >START  np>W    np>W    np>W    np>W     np>W     np>W     np>W    np>W    np>W    np>W       np>W',
  Q2:      '>ERROR  p>W      p>W     p>W    p>W     p>W     p>W     p>W     p>W      p>W      p>W      p>W     p>W     p>W     p>W        p>W',
  Q3:      '>ERROR  p>Q      p>Q     p>Q    >Q      p>Q     p>Q     c>Q     mpb>DEC1 mpb>DEC1 b>OCT    c>Q     p>Q     p>Q     p>Q        p>Q',
  Q:       '>ERROR  p>Q      p>Q     >W     p>Q     >Q3     p>Q     p>Q     p>Q      p>Q      p>Q      p>Q     p>Q     p>Q     p>Q        p>Q',
  OCT:     '>ERROR  >ERROR   >ERROR  >ERROR >ERROR  >ERROR  >ERROR  >ERROR  mp>OCT1  >ERROR   mp>OCT1  >ERROR  b>HEX   >ERROR  >ERROR     >ERROR',
  OCT1:    's0>END  sp>Q     sp>Q    s>W    sp>Q    s>Q3    sp>Q    sp>Q    p>OCT2   sp>Q     p>OCT2   sp>Q    sp>Q    sp>Q    sp>Q       sp>Q',
  OCT2:    's0>END  sp>Q     sp>Q    s>W    sp>Q    s>Q3    sp>Q    sp>Q    p>ENDNUM sp>Q     p>ENDNUM sp>Q    sp>Q    sp>Q    sp>Q       sp>Q',
  DEC1:    's0>END  sp>Q     sp>Q    s>W    sp>Q    s>Q3    sp>Q    sp>Q    p>DEC2   p>DEC2   p>DEC2   sp>Q    sp>Q    sp>Q    sp>Q       sp>Q',
  DEC2:    's0>END  sp>Q     sp>Q    s>W    sp>Q    s>Q3    sp>Q    sp>Q    p>ENDNUM p>ENDNUM p>ENDNUM sp>Q    sp>Q    sp>Q    sp>Q       sp>Q',
  HEX:     '>ERROR  >ERROR   >ERROR  >ERROR >ERROR  >ERROR  >ERROR  mp>HEX1 mp>HEX1  mp>HEX1  mp>HEX1  >ERROR  >ERROR  mp>HEX1 >ERROR     >ERROR',
  HEX1:    's0>END  sp>Q     sp>Q    s>W    sp>Q    s>Q3    sp>Q    p>ENDNUM p>ENDNUM p>ENDNUM p>ENDNUM sp>Q   sp>Q    p>ENDNUM sp>Q      sp>Q',
  ENDNUM:  's0>END  sp>Q     sp>Q    s>W    sp>Q    s>Q3    sp>Q    sp>Q    sp>Q     sp>Q     sp>Q     sp>Q    sp>Q    sp>Q    sp>Q       sp>Q',
};

interface Cell {
  actions: string;
  next: Next;
}

const TABLE: ReadonlyMap<StateName, readonly Cell[]> = new Map(
  (Object.entries(RAW_TABLE) as [StateName, string][]).map(([state, row]) => {
    const cells = row.trim().split(/\s+/).map((cell): Cell => {
      const [actions = '', next = 'ERROR'] = cell.split('>');
      return { actions, next: next as Next };
    });
    if (cells.length !== 16) throw new Error(`execline-lex: row ${state} has ${cells.length} cells`);
    return [state, cells];
  }),
);

/** The control characters of \a \b \f \n \r \t \v (el_parse: "abtnvfr" -> 7..13). */
const CONTROL_ESCAPES: ReadonlyMap<string, number> = new Map([
  ['a', 0x07], ['b', 0x08], ['t', 0x09], ['n', 0x0a], ['v', 0x0b], ['f', 0x0c], ['r', 0x0d],
]);

const SPACE = 0x20;

type Failure = { error: string; offset: number };

/**
 * Runs the table over the input like el_parse runs it over its stralloc:
 * `buf` holds the finished words, NUL-terminated, followed by the word in
 * progress. Emulating the raw buffer (rather than a cleaner word model)
 * keeps el_parse's quirks, e.g. `{\` + newline leaves a pending `{` that
 * is glued to the next word, and `}\` at end of input is dropped silently.
 */
class Lexer {
  private readonly buf: number[] = [];
  private words = 0;
  private depth = 0;
  /** Offsets of the `{` of each open block, innermost last. */
  private readonly openBraces: number[] = [];
  private mark = 0;
  private base: 8 | 10 | 16 = 10;
  private escapeStart = 0;

  constructor(private readonly input: Uint8Array) {}

  run(): ExeclineLexBytesResult {
    let state: StateName = 'START';
    // el_parse_from_buffer feeds a NUL byte at end of input, so a NUL byte
    // in the file also ends the script.
    for (let at = 0; ; at++) {
      const byte = at < this.input.length ? (this.input[at] as number) : 0;
      const cell = (TABLE.get(state) as readonly Cell[])[classify(byte)] as Cell;
      if (state === 'Q3') this.escapeStart = at - 1;
      const failure = this.act(cell.actions, byte, at);
      if (failure) return { ok: false, ...failure };
      if (cell.next === 'ERROR') return { ok: false, ...this.syntaxError(state, at) };
      if (cell.next === 'END') break;
      state = cell.next;
    }
    if (this.depth > 0) {
      return { ok: false, error: 'unmatched {', offset: this.openBraces[this.openBraces.length - 1] ?? 0 };
    }
    return { ok: true, argv: this.finishedWords() };
  }

  private act(actions: string, byte: number, at: number): Failure | null {
    for (const action of actions) {
      switch (action) {
        case 's': {
          const digits = Buffer.from(this.buf.slice(this.mark)).toString('latin1');
          const value = parseInt(digits, this.base);
          // Observed on execlineb 2.9.3: "\000", "\0x0", "\256", "\0400"
          // are syntax errors (the older el_parse.c silently wrapped them).
          if (value === 0 || value > 255) {
            return { error: 'syntax error: numeric escape out of range 1-255', offset: this.escapeStart };
          }
          this.buf.length = this.mark;
          this.buf.push(value);
          break;
        }
        case 'm':
          this.mark = this.buf.length;
          break;
        case 'n':
          for (let i = 0; i < this.depth; i++) this.buf.push(SPACE);
          break;
        case '{':
          this.depth++;
          this.openBraces.push(at - 1);
          this.buf.length -= this.depth;
          break;
        case '}':
          if (this.depth === 0) return { error: 'unmatched }', offset: at - 1 };
          this.depth--;
          this.openBraces.pop();
          this.buf.length -= 2;
          break;
        case 'p':
          this.buf.push(byte);
          break;
        case 'c':
          this.buf.push(CONTROL_ESCAPES.get(String.fromCharCode(byte)) as number);
          break;
        case '0':
          this.buf.push(0);
          this.words++;
          break;
        case 'b':
          this.base = byte === 0x78 ? 16 : byte === 0x30 ? 8 : 10;
          break;
      }
    }
    return null;
  }

  private syntaxError(state: StateName, at: number): Failure {
    const atEnd = at >= this.input.length || this.input[at] === 0;
    switch (state) {
      case 'Q':
      case 'Q3':
        return { error: 'syntax error: unterminated quoted string', offset: at };
      case 'Q2':
        return { error: 'syntax error: backslash at end of input', offset: at - 1 };
      case 'OPENB':
        return { error: 'syntax error: { at end of input', offset: at - 1 };
      case 'OCT':
        return { error: atEnd ? 'syntax error: unterminated quoted string' : 'syntax error: \\0 must be followed by an octal digit or x', offset: at };
      case 'HEX':
        return { error: atEnd ? 'syntax error: unterminated quoted string' : 'syntax error: \\0x must be followed by a hex digit', offset: at };
      default:
        return { error: 'syntax error', offset: at };
    }
  }

  /** The first `words` NUL-terminated words; an unterminated tail is dropped, as el_parse's callers do. */
  private finishedWords(): Buffer[] {
    const argv: Buffer[] = [];
    let start = 0;
    for (let i = 0; i < this.buf.length && argv.length < this.words; i++) {
      if (this.buf[i] === 0) {
        argv.push(Buffer.from(this.buf.slice(start, i)));
        start = i + 1;
      }
    }
    return argv;
  }
}

/** Lex raw bytes exactly like el_parse; words are returned as raw bytes. */
export function lexExeclineBytes(input: Uint8Array): ExeclineLexBytesResult {
  return new Lexer(input).run();
}

/**
 * Lex a script given as text (encoded as UTF-8, like a file on disk).
 * Words are decoded as UTF-8; a numeric escape that builds invalid UTF-8
 * decodes to U+FFFD, so use lexExeclineBytes when bytes matter. Error
 * offsets are string indices (UTF-16 code units).
 */
export function lexExecline(text: string): ExeclineLexResult {
  const bytes = Buffer.from(text, 'utf8');
  const result = lexExeclineBytes(bytes);
  if (!result.ok) {
    // Errors always sit on a character boundary (an ASCII byte, the first
    // byte of a character, or end of input), so decoding the prefix is exact.
    const offset = bytes.subarray(0, result.offset).toString('utf8').length;
    return { ok: false, error: result.error, offset };
  }
  return { ok: true, argv: result.argv.map((word) => word.toString('utf8')) };
}

/**
 * Characters allowed in a plain (unquoted) word: none of them is special to
 * el_parse anywhere in a word except `#` at its start and a bare `{` or `}`,
 * which quoteExeclineWord checks separately. Non-ASCII is plain too: bytes
 * >= 0x80 are ordinary bytes for el_parse.
 */
const PLAIN_WORD = /^[A-Za-z0-9_@%+=:,./\-#{}$!?*~^[\]()<>|&;'`\u0080-\u{10FFFF}]+$/u;

/** Characters that must be escaped inside "...": the quote and the backslash. */
const QUOTED_ESCAPES: ReadonlyMap<string, string> = new Map([
  ['"', '\\"'],
  ['\\', '\\\\'],
  ['\n', '\\n'], // not required (a raw newline is literal), but readable
  ['\t', '\\t'],
  ['\r', '\\r'],
]);

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Quote `s` so that the execline lexer reads it back as exactly one word
 * equal to `s`. Plain words stay plain; anything else is double-quoted with
 * only `"` and `\` escaped, plus `\n`, `\t`, `\r` and other control
 * characters (as 3-digit octal `\0ooo`, which cannot swallow a following
 * digit) for readability.
 *
 * Throws for strings that no argv word can hold: a NUL character, or a lone
 * UTF-16 surrogate (which has no UTF-8 encoding).
 */
export function quoteExeclineWord(s: string): string {
  if (s.includes('\0')) throw new Error('an execline word cannot contain a NUL character');
  if (LONE_SURROGATE.test(s)) throw new Error('an execline word cannot contain a lone UTF-16 surrogate');
  // A plain word must not start a comment, be a bare block brace, or contain
  // separators (any byte <= 0x20), quotes or backslashes.
  if (PLAIN_WORD.test(s) && !s.startsWith('#') && s !== '{' && s !== '}') return s;
  let out = '"';
  for (const ch of s) {
    const escape = QUOTED_ESCAPES.get(ch);
    if (escape !== undefined) {
      out += escape;
      continue;
    }
    const code = ch.codePointAt(0) as number;
    if (code < 0x20 || code === 0x7f) {
      out += '\\0' + code.toString(8).padStart(3, '0');
    } else {
      out += ch;
    }
  }
  return out + '"';
}

/** Quote every word and join them with spaces: one execline command line. */
export function quoteExeclineArgv(argv: readonly string[]): string {
  return argv.map(quoteExeclineWord).join(' ');
}

/**
 * Bytewise ordering of strings by their UTF-8 encoding. JavaScript's `<` compares
 * UTF-16 code units, which orders characters above U+FFFF differently from `ls`,
 * `LC_ALL=C sort` and s6-rc; every list vmsvc writes uses this order instead.
 */
export function compareBytes(a: string, b: string): number {
  // Without surrogates, code units order as code points, and so as UTF-8
  // bytes: compared in place, since encoding both strings for every comparison
  // made sorting 10000 VMs' services allocate two Buffers per step.
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  const x = i < a.length ? a.charCodeAt(i) : -1;
  const y = i < b.length ? b.charCodeAt(i) : -1;
  // A surrogate where they differ: a pair may outrank U+E000..U+FFFF, and a
  // lone one is written as U+FFFD. The encoder settles it.
  if (isSurrogate(x) || isSurrogate(y)) return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
  return x === y ? 0 : x < y ? -1 : 1;
}

function isSurrogate(unit: number): boolean {
  return unit >= 0xd800 && unit <= 0xdfff;
}

export function sortedBytewise<T extends string>(items: Iterable<T>): T[] {
  return [...items].sort(compareBytes);
}

/**
 * What no terminal line may carry raw: C0, DEL and C1 controls (Cc: ESC, and
 * U+009B, an 8-bit CSI, drive the terminal), format characters (Cf: the bidi
 * overrides and isolates U+202A..U+202E, U+2066..U+2069, U+200E/F, and the
 * zero-width U+200B..U+200D, U+2060, U+FEFF, U+00AD: they reorder or vanish,
 * so two different names print alike), line and paragraph separators (Zl, Zp:
 * a line break to some terminals and viewers), spaces other than U+0020 (Zs:
 * no-break and em spaces look like a space), lone surrogates (Cs: written as
 * U+FFFD, so they would merge), and the rest of Unicode's default-ignorable
 * code points (Hangul fillers, variation selectors, tag characters: drawn as
 * nothing). Letters that merely look alike (Cyrillic a, NFC against NFD) are
 * left as they are: escaping them would mangle every name in those scripts.
 */
const TERMINAL_UNSAFE = /(?! )[\\\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Zs}\p{Cs}\p{Default_Ignorable_Code_Point}]/gu;

/**
 * What terminalJson escapes: TERMINAL_UNSAFE but the newline (JSON.stringify
 * writes one only between values, with an indent) and the backslash (only in
 * JSON.stringify's own escapes). The space (U+0020) is left out of both by
 * the lookahead rather than by the callback, because a callback per space or
 * per backslash made escaping a long text several times slower.
 */
const JSON_UNSAFE = /(?![ \n])[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Zs}\p{Cs}\p{Default_Ignorable_Code_Point}]/gu;

/** Everything but printable ASCII (backslash included): how a lookalike name is spelled out. */
const NOT_PLAIN_ASCII = /[^\x20-\x5b\x5d-\x7e]/gu;

/**
 * How each name shows in a table: printable(), except for names that would
 * still look alike, being equal once NFKC-normalised (é composed or not,
 * fullwidth letters, ligatures): those are spelled out in ASCII, so each row
 * of a lookalike pair visibly differs. Returns how to show a name of the
 * table (any other name: printable()).
 */
export function tableNames(names: Iterable<string>): (name: string) => string {
  const byLook = new Map<string, Set<string>>();
  for (const n of names) {
    const look = printable(n).normalize('NFKC');
    let group = byLook.get(look);
    if (group === undefined) byLook.set(look, (group = new Set()));
    group.add(n);
  }
  const shown = new Map<string, string>();
  for (const group of byLook.values()) for (const n of group) shown.set(n, escaped(n, group.size > 1 ? NOT_PLAIN_ASCII : TERMINAL_UNSAFE));
  return (name) => shown.get(name) ?? printable(name);
}

/** Whether `s` holds a character printable() escapes, backslash aside (a shell word must then be $'...'-quoted). */
export function hasTerminalUnsafe(s: string): boolean {
  for (const m of s.matchAll(TERMINAL_UNSAFE)) if (m[0] !== '\\') return true;
  return false;
}

/**
 * Makes a name, path or message safe to print on one terminal line: every
 * character of TERMINAL_UNSAFE becomes an escape (\n, \t, \xNN up to U+00FF,
 * \u{...} above) and a backslash becomes \\, so the result is injective: two
 * different strings never print alike, and a hostile name cannot forge output
 * lines or reorder them. The one function for terminal text: every message,
 * table and graph goes through it, JSON through terminalJson.
 */
export function printable(s: string): string {
  return escaped(s, TERMINAL_UNSAFE);
}

/** The escape of each code point up to U+00FF, made once: a serial log's line may be millions of them. */
const LATIN1_ESCAPES: readonly string[] = Array.from({ length: 0x100 }, (_, cp) => {
  if (cp === 0x5c) return '\\\\';
  if (cp === 0x0a) return '\\n';
  if (cp === 0x09) return '\\t';
  return `\\x${cp.toString(16).padStart(2, '0')}`;
});

function escaped(s: string, which: RegExp): string {
  return s.replace(which, (c) => {
    const cp = c.codePointAt(0)!;
    return cp <= 0xff ? LATIN1_ESCAPES[cp]! : `\\u{${cp.toString(16)}}`;
  });
}

/**
 * JSON for a terminal (every --json output): JSON.stringify leaves DEL, C1,
 * format and separator characters raw inside strings; they become \uXXXX
 * escapes (pairs above U+FFFF), which any JSON reader turns back into the same
 * text. Outside strings JSON.stringify writes only spaces and newlines, which
 * are kept; inside them it already escapes C0 and lone surrogates.
 */
export function terminalJson(value: unknown, indent?: number): string {
  return unicodeEscaped(JSON.stringify(value, null, indent) ?? 'null');
}

/**
 * The inside of the JSON string of `s`, quotes left out, escaped as
 * terminalJson does: for a text too long to print in one piece (a serial
 * log's line). The pieces of a text, each escaped so, join into the escape of
 * the whole, as long as no piece ends inside a surrogate pair.
 */
export function terminalJsonText(s: string): string {
  return unicodeEscaped(JSON.stringify(s).slice(1, -1));
}

function unicodeEscaped(json: string): string {
  return json.replace(JSON_UNSAFE, (c) => {
    let out = '';
    for (let i = 0; i < c.length; i++) out += `\\u${c.charCodeAt(i).toString(16).padStart(4, '0')}`;
    return out;
  });
}

/** C0, DEL and C1 controls: never accepted in names, since no terminal shows them faithfully. */
export const CONTROL_CHAR = /[\u0000-\u001f\u007f-\u009f]/;

// ignoreBOM: a leading U+FEFF is part of the text (a file name, a setting), not a byte-order mark to drop.
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Bytes as UTF-8 text, exactly; null when they are not valid UTF-8. */
export function decodeUtf8(raw: Uint8Array): string | null {
  try {
    return strictUtf8.decode(raw);
  } catch {
    return null;
  }
}

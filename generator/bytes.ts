/**
 * Bytewise ordering of strings by their UTF-8 encoding. JavaScript's `<` compares
 * UTF-16 code units, which orders characters above U+FFFF differently from `ls`,
 * `LC_ALL=C sort` and s6-rc; every list vmsvc writes uses this order instead.
 */
export function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

export function sortedBytewise<T extends string>(items: Iterable<T>): T[] {
  return [...items].sort(compareBytes);
}

/**
 * Makes a name or path safe to print on one terminal line: control characters
 * and backslashes become escapes, so a hostile name cannot forge output lines.
 */
export function printable(s: string): string {
  return s.replace(/[\\\u0000-\u001f\u007f-\u009f]/g, (c) => {
    if (c === '\\') return '\\\\';
    if (c === '\n') return '\\n';
    if (c === '\t') return '\\t';
    return `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`;
  });
}

/** C0, DEL and C1 controls: never accepted in names, since no terminal shows them faithfully. */
export const CONTROL_CHAR = /[\u0000-\u001f\u007f-\u009f]/;

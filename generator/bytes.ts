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

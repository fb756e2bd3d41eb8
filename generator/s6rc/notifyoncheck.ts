/**
 * s6-notifyoncheck's command line, read back from lexed execline words
 * (execline-lex.ts): where the program it runs begins.
 */
import * as path from 'node:path';

/** s6-notifyoncheck's options that take an argument (its usage: -d -3 fd -s -T -t -w -n -c). */
const ARG_OPTIONS = new Set(['3', 's', 'T', 't', 'w', 'n', 'c']);
const FLAGS = new Set(['d']);

/**
 * The index in `words` of the program s6-notifyoncheck runs: the words after
 * its options. The s6-notifyoncheck word is the first top-level word (words
 * inside `{ }` blocks get leading spaces, see lexExecline) whose base name is
 * `s6-notifyoncheck`; its options are read the way skarnet's getopt does
 * (clustered flags, `-w100` or `-w 100`, `--` ends them). Null when no
 * word is s6-notifyoncheck.
 */
export function notifyoncheckProgram(words: readonly string[]): { readonly next: number } | { readonly error: string } | null {
  const at = words.findIndex((w) => !w.startsWith(' ') && path.posix.basename(w) === 's6-notifyoncheck');
  if (at < 0) return null;
  let i = at + 1;
  options: while (i < words.length) {
    const w = words[i]!;
    if (w === '--') return { next: i + 1 };
    if (!w.startsWith('-') || w === '-') break;
    for (let j = 1; j < w.length; j++) {
      const opt = w[j]!;
      if (ARG_OPTIONS.has(opt)) {
        // The rest of the word is the argument, else the next word is.
        i += j + 1 < w.length ? 1 : 2;
        if (i > words.length) return { error: `s6-notifyoncheck option -${opt} has no argument` };
        continue options;
      }
      if (!FLAGS.has(opt)) return { error: `unknown s6-notifyoncheck option -${opt}` };
    }
    i++;
  }
  return { next: i };
}

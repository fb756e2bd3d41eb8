/**
 * The documentation holds together: the README stays short and leads to
 * every page of doc/, and every relative link in them (and every page a
 * command's --help names) reaches a file that exists, and, for `#anchor`
 * links, a heading of it (GitHub's anchors).
 */
import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { COMMAND_DOCS } from '../../generator/cli/docs.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const README = 'README.md';
const PAGES = fs.readdirSync(path.join(ROOT, 'doc')).filter((f) => f.endsWith('.md')).sort().map((f) => `doc/${f}`);
const read = (file: string): string => fs.readFileSync(path.join(ROOT, file), 'utf8');

/** The lines of a Markdown file outside fenced code blocks. */
function prose(text: string): string[] {
  let fenced = false;
  return text.split('\n').filter((line) => {
    if (/^\s*```/.test(line)) {
      fenced = !fenced;
      return false;
    }
    return !fenced;
  });
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** Every anchor a file's headings make; a repeated one gets -1, -2, ... as GitHub numbers them. */
function anchors(file: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const line of prose(read(file))) {
    const m = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (m === null) continue;
    const base = slug(m[1]!);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

/** The targets of a file's inline links, code spans left out. */
function links(file: string): string[] {
  return prose(read(file)).flatMap((line) =>
    [...line.replace(/`[^`]*`/g, '').matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!));
}

const isExternal = (target: string): boolean => /^[a-z][a-z0-9+.-]*:/i.test(target);

/** What is wrong with one link of `file`, or null. */
function brokenLink(file: string, target: string): string | null {
  if (isExternal(target)) return null;
  const [where, anchor] = target.split('#', 2) as [string, string | undefined];
  const resolved = where === '' ? file : path.posix.normalize(path.posix.join(path.posix.dirname(file), where));
  if (resolved.startsWith('..') || !fs.existsSync(path.join(ROOT, resolved))) return `${file}: ${target}: no such file`;
  if (anchor === undefined) return null;
  if (!resolved.endsWith('.md')) return `${file}: ${target}: an anchor into a file that is not Markdown`;
  return anchors(resolved).has(anchor) ? null : `${file}: ${target}: ${resolved} has no heading with that anchor`;
}

test('README.md is under 200 lines', (t) => {
  const lines = read(README).split('\n').length - (read(README).endsWith('\n') ? 1 : 0);
  t.true(lines < 200, `${lines} lines`);
});

test('doc/ has pages, and README.md links every one of them', (t) => {
  t.true(PAGES.length > 0);
  const linked = new Set(links(README).filter((l) => !isExternal(l)).map((l) => path.posix.normalize(l.split('#')[0]!)));
  t.deepEqual(PAGES.filter((p) => !linked.has(p)), []);
});

test('every relative link in README.md and doc/ reaches a file, and every anchor a heading', (t) => {
  const broken = [README, ...PAGES].flatMap((file) => links(file).map((l) => brokenLink(file, l)).filter((b) => b !== null));
  t.deepEqual(broken, []);
});

test('every page a command\'s --help names (generator/cli/docs.ts) exists, anchor included', (t) => {
  t.deepEqual(Object.entries(COMMAND_DOCS).map(([command, page]) => brokenLink(README, page) === null ? null : `${command}: ${page}`).filter((b) => b !== null), []);
});

test('the checker itself: GitHub anchors, and a broken link is found', (t) => {
  t.is(slug('Readiness: what "up" means'), 'readiness-what-up-means');
  t.is(slug('`vmsvc logs`'), 'vmsvc-logs');
  t.is(slug("The VMM's sandbox"), 'the-vmms-sandbox');
  t.is(slug('Disks as descriptors, or granted through one'), 'disks-as-descriptors-or-granted-through-one');
  t.is(brokenLink(README, 'doc/commands.md#checks'), null);
  t.is(brokenLink(README, 'https://skarnet.org/software/s6-rc/'), null);
  t.regex(brokenLink(README, 'doc/no-such-page.md') ?? '', /no such file/);
  t.regex(brokenLink(README, 'doc/commands.md#no-such-heading') ?? '', /no heading/);
  t.regex(brokenLink('doc/commands.md', '#no-such-heading') ?? '', /no heading/);
});

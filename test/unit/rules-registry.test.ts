/**
 * The list of rule ids in doc/commands.md (Checks) is the rule registry
 * (generator/rules/diagnostic.ts), and its warnings are the registry's
 * warnings; the rules themselves live in the family modules beside it, where
 * doc/architecture.md sends whoever adds one.
 */
import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { RULES, type RuleId } from '../../generator/rules/diagnostic.js';
import { boundSpec, isBounded, SETTING_FILES, SETTING_KEYS, settingSpec } from '../../generator/rules/setting-registry.js';
import { applyFlags, checkFlags, generateFlags, optionFlags } from '../../generator/cli/flags.js';

const PAGE = 'doc/commands.md';
const DOC = fs.readFileSync(new URL(`../../${PAGE}`, import.meta.url), 'utf8');

/** The paragraph that starts "Rules (ids in ...):" and ends with the first full stop after the list. */
function documentedRules(): { ids: string[]; warnings: string[] } {
  const start = DOC.indexOf('Rules (ids in');
  if (start === -1) throw new Error(`${PAGE} has no "Rules (ids in" paragraph`);
  const para = DOC.slice(start, DOC.indexOf('\n\n', start));
  const ids = [...para.matchAll(/`([a-z0-9-]+)`/g)].map((m) => m[1]!);
  const warnings = [...(/^([^(]*?)\(warnings\)/s.exec(para.slice(para.indexOf(':') + 1))?.[1] ?? '').matchAll(/`([a-z0-9-]+)`/g)].map((m) => m[1]!);
  return { ids, warnings };
}

test(`${PAGE} lists exactly the registry's rule ids, once each`, (t) => {
  const { ids } = documentedRules();
  t.deepEqual([...ids].sort(), Object.keys(RULES).sort());
  t.is(new Set(ids).size, ids.length);
});

test(`${PAGE}'s warnings are the registry's warning rules`, (t) => {
  const { warnings } = documentedRules();
  const registry = (Object.keys(RULES) as RuleId[]).filter((r) => RULES[r].severity === 'warning');
  t.deepEqual([...warnings].sort(), registry.sort());
});

test(`${PAGE} names the file the registry is in`, (t) => {
  t.true(DOC.includes('Rules (ids in `generator/rules/diagnostic.ts`)'));
});

const GENERATOR = fileURLToPath(new URL('../../generator', import.meta.url));
const RULES_DIR = path.join(GENERATOR, 'rules');

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []);
}

test('diagnostics are made only in generator/rules/: no other module imports error or warning', (t) => {
  const outside = sources(GENERATOR).filter((f) => path.dirname(f) !== RULES_DIR)
    .filter((f) => /import\s*\{[^}]*\b(error|warning)\b[^}]*\}\s*from\s*'[^']*rules\/diagnostic\.js'/.test(fs.readFileSync(f, 'utf8')))
    .map((f) => path.relative(GENERATOR, f));
  t.deepEqual(outside, []);
});

test('every rule id is raised by a rule family module of generator/rules/', (t) => {
  const families = fs.readdirSync(RULES_DIR).filter((f) => f.endsWith('.ts') && f !== 'diagnostic.ts')
    .map((f) => fs.readFileSync(path.join(RULES_DIR, f), 'utf8')).join('\n');
  t.deepEqual(Object.keys(RULES).filter((id) => !families.includes(`'${id}'`)), []);
});

const SETTINGS_PAGE = 'doc/data-directory.md';

/** The rows of the settings table, each its cells. */
function settingRows(): string[][] {
  const doc = fs.readFileSync(new URL(`../../${SETTINGS_PAGE}`, import.meta.url), 'utf8');
  const table = doc.slice(doc.indexOf('| file | format | default | bound |'));
  return table.slice(0, table.indexOf('\n\n')).split('\n').slice(2).map((r) => r.split(' | ').map((c) => c.replace(/^\| |\s*\|$/g, '')));
}

test(`${SETTINGS_PAGE}'s settings table lists exactly the setting registry's files, in its order`, (t) => {
  t.deepEqual(settingRows().map((r) => /^`([a-z-]+)`$/.exec(r[0]!)?.[1]), [...SETTING_FILES]);
});

test(`${SETTINGS_PAGE}'s settings table names each setting's default flag, and its bound flag with the bound's default, as the registry declares them`, (t) => {
  const rows = settingRows();
  SETTING_KEYS.forEach((k, i) => {
    const [, , from, bound] = rows[i]!;
    const flag = settingSpec(k).flag;
    if (flag === null) t.false(from!.includes('`--'), `${k}: no flag sets its default`);
    else t.true(from!.startsWith(`\`--${flag.name}\``), `${k}: ${from!}`);
    if (isBounded(k)) {
      const b = boundSpec(k);
      t.is(bound, `\`--${b.flag.name}\` (\`${String(b.flag.written(b.default))}\`)`);
    }
  });
});

test(`${PAGE} names every flag of the commands that read a data dir`, (t) => {
  const flags = new Set([...Object.keys(optionFlags), ...Object.keys(checkFlags), ...Object.keys(generateFlags), ...Object.keys(applyFlags)]);
  // A boolean that is on by default is documented by its negation (--no-autostart).
  t.deepEqual([...flags].filter((f) => !new RegExp(`\`--(no-)?${f}\`|--(no-)?${f}[ \\]=]`).test(DOC)), []);
});

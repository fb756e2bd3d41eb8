/**
 * Every rule id in RULES is asserted by some passing test: each family file
 * of test/integration/rules/ demands the rules RULE_FAMILIES gives it (the
 * hook ruleTests adds, test/support/check-rules.ts), and this file keeps
 * those lists a partition of RULES, each family the rules its module of
 * generator/rules/ reports, with one file per family that takes its tests
 * from ruleTests. ava runs each file in a process of its own, so the union
 * is checked here, over the lists, not over what the files recorded.
 */
import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { RULES, type RuleId } from '../../generator/rules/diagnostic.js';
import { RULE_FAMILIES, RULE_TESTS_DIR, ruleTestFile, type RuleFamily } from '../support/check-rules.js';

const FAMILIES = Object.keys(RULE_FAMILIES) as RuleFamily[];
const RULES_DIR = fileURLToPath(new URL('../../generator/rules/', import.meta.url));

test('the families together hold every rule id in RULES, each once, and none is empty', (t) => {
  const all: RuleId[] = FAMILIES.flatMap((f) => [...RULE_FAMILIES[f]]);
  t.deepEqual([...all].sort(), Object.keys(RULES).sort());
  t.is(new Set(all).size, all.length, 'a rule in two families');
  t.deepEqual(FAMILIES.filter((f) => (RULE_FAMILIES[f] as readonly RuleId[]).length === 0), []);
});

test('each family is a module of generator/rules/ that reports its rules (settings: with setting-registry.ts)', (t) => {
  for (const family of FAMILIES) {
    const modules = family === 'settings' ? ['settings.ts', 'setting-registry.ts'] : [`${family}.ts`];
    const source = modules.map((m) => fs.readFileSync(path.join(RULES_DIR, m), 'utf8')).join('\n');
    t.deepEqual(RULE_FAMILIES[family].filter((rule) => !source.includes(`'${rule}'`)), [], `rules ${modules.join(' and ')} never names`);
  }
});

test('test/integration/rules/ holds one file per family, each taking its tests from ruleTests (so its coverage hook runs)', (t) => {
  const files = fs.readdirSync(RULE_TESTS_DIR).filter((f) => f.endsWith('.test.ts')).sort();
  t.deepEqual(files, FAMILIES.map((f) => path.basename(ruleTestFile(f))).sort());
  for (const family of FAMILIES) {
    const source = fs.readFileSync(ruleTestFile(family), 'utf8');
    t.regex(source, /^const test = ruleTests\(import\.meta\.url\);$/m, family);
    // A test registered with ava directly would not be counted, and a --match run would look like a full one.
    t.notRegex(source, /^import (?!type )[^;]*from 'ava';$/m, `${family} imports ava's test itself`);
  }
});

/**
 * The README's list of rule ids is the rule registry (generator/rules/diagnostic.ts),
 * and its warnings are the registry's warnings.
 */
import test from 'ava';
import * as fs from 'node:fs';
import { RULES, type RuleId } from '../../generator/rules/diagnostic.js';

const README = fs.readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

/** The paragraph that starts "Rules (ids in ...):" and ends with the first full stop after the list. */
function readmeRules(): { ids: string[]; warnings: string[] } {
  const start = README.indexOf('Rules (ids in');
  if (start === -1) throw new Error('README has no "Rules (ids in" paragraph');
  const para = README.slice(start, README.indexOf('\n\n', start));
  const ids = [...para.matchAll(/`([a-z0-9-]+)`/g)].map((m) => m[1]!);
  const warnings = [...(/^([^(]*?)\(warnings\)/s.exec(para.slice(para.indexOf(':') + 1))?.[1] ?? '').matchAll(/`([a-z0-9-]+)`/g)].map((m) => m[1]!);
  return { ids, warnings };
}

test('the README lists exactly the registry\'s rule ids, once each', (t) => {
  const { ids } = readmeRules();
  t.deepEqual([...ids].sort(), Object.keys(RULES).sort());
  t.is(new Set(ids).size, ids.length);
});

test('the README\'s warnings are the registry\'s warning rules', (t) => {
  const { warnings } = readmeRules();
  const registry = (Object.keys(RULES) as RuleId[]).filter((r) => RULES[r].severity === 'warning');
  t.deepEqual([...warnings].sort(), registry.sort());
});

test('the README names the file the registry is in', (t) => {
  t.true(README.includes('Rules (ids in `generator/rules/diagnostic.ts`)'));
});

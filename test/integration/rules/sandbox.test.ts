/**
 * Check rules: the VMMs' sandbox (generator/rules/sandbox.ts). The helpers and
 * the hook that demands every rule of the family: test/support/check-rules.ts.
 */
import { defaultOptions } from '../../../generator/pipeline/options.js';
import { ruleTests, fixture, check, assertDiagnostics, assertOutcome } from '../../support/check-rules.js';

const test = ruleTests(import.meta.url);

test('vmm-unsandboxed: VMMs without the sandbox (--sandbox none) is a warning against the data dir; bwrap (the default) says nothing', (t) => {
  const f = fixture(t, { ok: {} });
  assertDiagnostics(t, check(f.data, { ...defaultOptions, sandbox: 'bwrap' }).diagnostics, []);
  const none = check(f.data, { ...defaultOptions, sandbox: 'none' });
  assertDiagnostics(t, none.diagnostics, [{ severity: 'warning', rule: 'vmm-unsandboxed', path: f.data, vm: null, mentions: ['--sandbox none', 'whole file system'] }]);
  assertOutcome(t, none, ['ok'], []);
});

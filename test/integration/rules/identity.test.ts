/**
 * Check rules: the accounts the VMMs run as (generator/rules/identity.ts). The
 * helpers and the hook that demands every rule of the family:
 * test/support/check-rules.ts.
 */
import { defaultOptions } from '../../../generator/pipeline/options.js';
import { ruleTests, fixture, check, assertDiagnostics, assertOutcome } from '../../support/check-rules.js';

const test = ruleTests(import.meta.url);

test('vmm-root and vmm-shared-user: a VMM as root or as one shared account is a warning against the data dir; each VM its own uid (the default) says nothing', (t) => {
  const f = fixture(t, { ok: {} });
  assertDiagnostics(t, check(f.data).diagnostics, []);
  assertDiagnostics(t, check(f.data, { ...defaultOptions, vmmUser: { kind: 'root' } }).diagnostics,
    [{ severity: 'warning', rule: 'vmm-root', path: f.data, vm: null, mentions: ['--vmm-user root', 'owns the host'] }]);
  const shared = check(f.data, { ...defaultOptions, vmmUser: { kind: 'shared', name: 'vmm' } });
  assertDiagnostics(t, shared.diagnostics, [{ severity: 'warning', rule: 'vmm-shared-user', path: f.data, vm: null, mentions: ['one account', 'other VMMs'] }]);
  // A warning: the VM stays valid.
  assertOutcome(t, shared, ['ok'], []);
});

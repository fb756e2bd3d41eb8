/**
 * Check rules: what the chosen VMM cannot honour, for the whole data dir
 * (generator/rules/vmm-rules.ts). The helpers and the hook that demands every
 * rule of the family: test/support/check-rules.ts.
 */
import { defaultOptions } from '../../../generator/pipeline/options.js';
import { ruleTests, fixture, check, assertDiagnostics } from '../../support/check-rules.js';

const test = ruleTests(import.meta.url);

test('vmm-unsupported: crosvm without a user console it can offer, and memory not in whole MiB, invalidate every VM', (t) => {
  const f = fixture(t, { a: {}, b: { providers: ['a'] } });
  const crosvm = check(f.data, { ...defaultOptions, vmm: 'crosvm' });
  assertDiagnostics(t, crosvm.diagnostics, [{ rule: 'vmm-unsupported', path: f.data, vm: null, mentions: ['crosvm', 'virtio-console'] }]);
  t.deepEqual(crosvm.vms, []);
  const qemu = check(f.data, { ...defaultOptions, vmm: 'qemu', settings: { ...defaultOptions.settings, memory: '1000K' } });
  assertDiagnostics(t, qemu.diagnostics, [{ rule: 'vmm-unsupported', path: f.data, vm: null, mentions: ['qemu', '1000K'] }]);
  const fine = check(f.data, { ...defaultOptions, vmm: 'crosvm', userConsole: false, settings: { ...defaultOptions.settings, memory: '2G' } });
  assertDiagnostics(t, fine.diagnostics, []);
  t.deepEqual(fine.vms.map((vm) => vm.name as string), ['a', 'b']);
  // cloud-hypervisor takes any byte size.
  assertDiagnostics(t, check(f.data, { ...defaultOptions, settings: { ...defaultOptions.settings, memory: '1000K' } }).diagnostics, []);
});

/**
 * Check rules: host-wide admission of autostart VMs
 * (generator/rules/admission.ts). The helpers and the hook that demands every
 * rule of the family: test/support/check-rules.ts.
 */
import { defaultOptions } from '../../../generator/pipeline/options.js';
import { planTree } from '../../../generator/pipeline/plan.js';
import { ruleTests, fixture, check, assertDiagnostics, configPath } from '../../support/check-rules.js';

const test = ruleTests(import.meta.url);

test('autostart-over-memory, autostart-over-cpus: marked VMs in name order, each with its providers counted once, until the host\'s bounds; the rest stay out of the autostart bundle', (t) => {
  const f = fixture(t, {
    a: { config: { autostart: '', memory: '1G' } },
    b: { config: { autostart: '', memory: '1G' }, providers: ['net'] },
    c: { config: { autostart: '', cpus: '4' } },
    net: { config: { memory: '512M' } },
  });
  const mib = 1024 ** 2;
  // a: 1024 + 256 overhead; b with net: 1280 + 768; c: 512 and 4 vCPUs.
  const admission = { memoryBytes: 2560 * mib, vcpus: 4, memoryFrom: '--autostart-memory 2560M', vcpusFrom: '1 host CPUs x --cpu-overcommit 4' };
  const result = check(f.data, { ...defaultOptions, admission });
  assertDiagnostics(t, result.diagnostics, [
    { severity: 'warning', rule: 'autostart-over-memory', path: configPath(f, 'autostart', 'b'), vm: 'b', mentions: ['b', 'net', '2048 MiB', '1280 MiB', '2560 MiB', '--autostart-memory 2560M'] },
    { severity: 'warning', rule: 'autostart-over-cpus', path: configPath(f, 'autostart', 'c'), vm: 'c', mentions: ['4 vCPUs', '1 of the 4', '--cpu-overcommit 4'] },
  ]);
  t.true(result.diagnostics.every((d) => d.hint.includes(`vmsvc start ${d.vm!}`)));
  t.deepEqual(result.vms.map((vm) => [vm.name as string, vm.autostart, vm.settings.autostart]), [['a', true, true], ['b', false, true], ['c', false, true], ['net', false, false]]);
  const bundle = [...planTree(f.data, result.vms, { skipped: [], held: [] }, defaultOptions).services].find((s) => s.name === defaultOptions.autostartBundle);
  t.deepEqual(bundle?.type === 'bundle' ? bundle.contents : null, ['vm-a-pipeline']);
  // The control: room for all, and net, which b and a shared provider would need, counted once.
  const roomy = check(f.data, { ...defaultOptions, admission: { ...admission, memoryBytes: (1280 + 2048 + 512) * mib, vcpus: 7 } });
  t.deepEqual(roomy.diagnostics, []);
  t.deepEqual(roomy.vms.filter((vm) => vm.autostart).map((vm) => vm.name as string), ['a', 'b', 'c']);
  // One MiB less and c, the last, no longer fits.
  const tight = check(f.data, { ...defaultOptions, admission: { ...admission, memoryBytes: (1280 + 2048 + 512 - 1) * mib, vcpus: 7 } });
  t.deepEqual(tight.diagnostics.map((d) => [d.rule, d.vm]), [['autostart-over-memory', 'c']]);
});

/**
 * Check rules: providers/net: the provider graph and its links
 * (generator/rules/providers.ts). The helpers and the hook that demands every
 * rule of the family: test/support/check-rules.ts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ruleTests, fixture, check, assertDiagnostics, assertOutcome, assertOnlyVmSkipped, vmDir } from '../../support/check-rules.js';
import { makeVm } from '../../support/data-dir.js';

const test = ruleTests(import.meta.url);

test('provider-unknown: a provider naming no VM', (t) => {
  const f = fixture(t, { vm: { providers: ['ghost'] }, ok: {} });
  const result = check(f.data);
  assertDiagnostics(t, result.diagnostics, [
    { rule: 'provider-unknown', path: path.join(vmDir(f), 'providers', 'net', 'ghost'), vm: 'vm', mentions: ['ghost'] },
  ]);
  assertOutcome(t, result, ['ok'], [['vm', 'invalid (provider-unknown)']]);
});

test('provider-self: a VM providing for itself', (t) => {
  const f = fixture(t, { vm: { providers: ['vm'] } });
  const result = check(f.data);
  assertDiagnostics(t, result.diagnostics, [{ rule: 'provider-self', path: path.join(vmDir(f), 'providers', 'net', 'vm'), vm: 'vm', mentions: ['vm', 'itself'] }]);
  assertOnlyVmSkipped(t, result, ['provider-self']);
});

test('provider-not-file: a providers/net entry that is a directory', (t) => {
  const f = fixture(t, { vm: {}, router: {} });
  fs.mkdirSync(path.join(vmDir(f), 'providers', 'net', 'router'), { recursive: true });
  const result = check(f.data);
  assertDiagnostics(t, result.diagnostics, [
    { rule: 'provider-not-file', path: path.join(vmDir(f), 'providers', 'net', 'router'), vm: 'vm', mentions: ['router', 'directory'] },
  ]);
  assertOutcome(t, result, ['router'], [['vm', 'invalid (provider-not-file)']]);
});

// checkTree (generator/pipeline/check.ts, the graph.set line) builds the provider graph from every providers/net entry,
// including the directories provider-not-file has just rejected. So a rejected
// directory entry still takes part in cycle detection: here vm's entry
// "router" is a directory (not a provider), so router -> vm is no cycle, yet a
// provider-cycle error is reported and router is skipped as "invalid
// (provider-cycle)" instead of "needs provider vm". Fix: build the graph from
// entries with `p.node.kind !== 'directory'`, as unknownProviderDiagnostics does.
test('provider-not-file: a rejected directory entry still forms a provider cycle', (t) => {
  const f = fixture(t, { vm: {}, router: { providers: ['vm'] } });
  fs.mkdirSync(path.join(vmDir(f), 'providers', 'net', 'router'), { recursive: true });
  const result = check(f.data);
  assertDiagnostics(t, result.diagnostics, [
    { rule: 'provider-not-file', path: path.join(vmDir(f), 'providers', 'net', 'router'), vm: 'vm', mentions: ['router'] },
  ]);
  assertOutcome(t, result, [], [
    ['router', 'needs provider vm, which is skipped'],
    ['vm', 'invalid (provider-not-file)'],
  ]);
});

test('providers-not-directory: providers is a file', (t) => {
  const f = fixture(t, { vm: {} });
  fs.writeFileSync(path.join(vmDir(f), 'providers'), 'router\n');
  const result = check(f.data);
  assertDiagnostics(t, result.diagnostics, [{ rule: 'providers-not-directory', path: path.join(vmDir(f), 'providers'), vm: 'vm', mentions: ['providers', 'file'] }]);
  assertOnlyVmSkipped(t, result, ['providers-not-directory']);
});

test('providers-not-directory: providers/net is a file', (t) => {
  const f = fixture(t, { vm: {} });
  fs.mkdirSync(path.join(vmDir(f), 'providers'));
  fs.writeFileSync(path.join(vmDir(f), 'providers', 'net'), 'router\n');
  const result = check(f.data);
  assertDiagnostics(t, result.diagnostics, [
    { rule: 'providers-not-directory', path: path.join(vmDir(f), 'providers', 'net'), vm: 'vm', mentions: ['providers/net', 'file'] },
  ]);
  assertOnlyVmSkipped(t, result, ['providers-not-directory']);
});

test('providers-not-directory: providers/net is a symbolic link to a directory', (t) => {
  const f = fixture(t, { vm: {}, router: {} });
  fs.mkdirSync(path.join(vmDir(f), 'providers', 'real-net'), { recursive: true });
  fs.writeFileSync(path.join(vmDir(f), 'providers', 'real-net', 'router'), '');
  fs.symlinkSync('real-net', path.join(vmDir(f), 'providers', 'net'));
  const result = check(f.data);
  assertDiagnostics(t, result.diagnostics, [
    { rule: 'providers-not-directory', path: path.join(vmDir(f), 'providers', 'net'), vm: 'vm', mentions: ['providers/net', 'symbolic link'] },
  ]);
  assertOutcome(t, result, ['router'], [['vm', 'invalid (providers-not-directory)']]);
});

test('valid providers are listed bytewise-sorted', (t) => {
  const f = fixture(t, { vm: { providers: ['🙂', '～', 'b', 'B'] }, '🙂': {}, '～': {}, b: {}, B: {} });
  const result = check(f.data);
  assertDiagnostics(t, result.diagnostics, []);
  assertOutcome(t, result, ['B', 'b', 'vm', '～', '🙂'], []);
  t.deepEqual(result.vms.find((vm) => vm.name === 'vm')!.providers, ['B', 'b', '～', '🙂']);
});

test('provider-cycle: two VMs providing for each other', (t) => {
  const f = fixture(t, { a: { providers: ['b'] }, b: { providers: ['a'] }, ok: {} });
  const result = check(f.data);
  assertDiagnostics(t, result.diagnostics, [
    { rule: 'provider-cycle', path: path.join(f.data, 'a', 'providers', 'net', 'b'), vm: 'a', mentions: ['a -> b -> a'] },
  ]);
  assertOutcome(t, result, ['ok'], [
    ['a', 'invalid (provider-cycle)'],
    ['b', 'invalid (provider-cycle)'],
  ]);
});

test('provider-cycle: a cycle of three, reported once from its bytewise-first VM', (t) => {
  const f = fixture(t, { c: { providers: ['a'] }, b: { providers: ['c'] }, a: { providers: ['b'] } });
  const result = check(f.data);
  assertDiagnostics(t, result.diagnostics, [
    { rule: 'provider-cycle', path: path.join(f.data, 'a', 'providers', 'net', 'b'), vm: 'a', mentions: ['a -> b -> c -> a'] },
  ]);
  assertOutcome(t, result, [], [
    ['a', 'invalid (provider-cycle)'],
    ['b', 'invalid (provider-cycle)'],
    ['c', 'invalid (provider-cycle)'],
  ]);
});

test('provider-cycle: a cycle with a tail skips the tail and everything depending on it', (t) => {
  const f = fixture(t, {
    x: { providers: ['a'] },
    a: { providers: ['b'] },
    b: { providers: ['a'] },
    y: { providers: ['x'] },
    z: {},
    w: { providers: ['z'] },
  });
  const result = check(f.data);
  assertDiagnostics(t, result.diagnostics, [
    { rule: 'provider-cycle', path: path.join(f.data, 'a', 'providers', 'net', 'b'), vm: 'a', mentions: ['a -> b -> a'] },
  ]);
  t.false(result.diagnostics[0]!.message.includes('x'), 'the tail is not part of the cycle');
  assertOutcome(t, result, ['w', 'z'], [
    ['a', 'invalid (provider-cycle)'],
    ['b', 'invalid (provider-cycle)'],
    ['x', 'needs provider a, which is skipped'],
    ['y', 'needs provider x, which is skipped'],
  ]);
  t.deepEqual(result.vms[0]!.providers, ['z']);
});

test('provider-cycle: two separate cycles give two diagnostics', (t) => {
  const f = fixture(t, { p: { providers: ['q'] }, q: { providers: ['p'] }, a: { providers: ['b'] }, b: { providers: ['a'] } });
  const result = check(f.data);
  assertDiagnostics(t, result.diagnostics, [
    { rule: 'provider-cycle', path: path.join(f.data, 'a', 'providers', 'net', 'b'), vm: 'a', mentions: ['a -> b -> a'] },
    { rule: 'provider-cycle', path: path.join(f.data, 'p', 'providers', 'net', 'q'), vm: 'p', mentions: ['p -> q -> p'] },
  ]);
  t.is(result.vms.length, 0);
  t.is(result.skipped.length, 4);
});

test('links-exhausted: more providers/net links than the 65534 addresses of 100.64.0.0/16', (t) => {
  const f = fixture(t);
  const name = (prefix: string, i: number): string => `${prefix}${String(i).padStart(3, '0')}`;
  const providers = Array.from({ length: 256 }, (_, i) => name('p', i));
  for (const p of providers) makeVm(f.data, p);
  for (let i = 0; i < 256; i++) makeVm(f.data, name('c', i), { providers });
  const total = 256 * 256; // 65536
  const over = check(f.data);
  assertDiagnostics(t, over.diagnostics, [{ rule: 'links-exhausted', path: f.data, vm: null, mentions: [String(total), '65534'] }]);
  t.is(over.vms.length, 0);
  t.is(over.skipped.length, 512);
  t.deepEqual(new Set(over.skipped.map((s) => s.reason)), new Set(['the data directory itself is invalid']));
  // Two links fewer: exactly 65534 fits; unknown and self entries are not links.
  fs.rmSync(path.join(f.data, 'c000', 'providers', 'net', 'p000'));
  fs.rmSync(path.join(f.data, 'c000', 'providers', 'net', 'p001'));
  fs.writeFileSync(path.join(f.data, 'c000', 'providers', 'net', 'ghost'), ''); // provider-unknown: no link
  fs.writeFileSync(path.join(f.data, 'c001', 'providers', 'net', 'c001'), ''); // provider-self: no link
  const fits = check(f.data);
  assertDiagnostics(t, fits.diagnostics, [
    { rule: 'provider-unknown', path: path.join(f.data, 'c000', 'providers', 'net', 'ghost'), vm: 'c000', mentions: ['ghost'] },
    { rule: 'provider-self', path: path.join(f.data, 'c001', 'providers', 'net', 'c001'), vm: 'c001', mentions: ['c001'] },
  ]);
  t.is(fits.vms.length, 510);
  t.deepEqual(fits.skipped, [
    { name: 'c000', reason: 'invalid (provider-unknown)', needs: null, problems: [{ rule: 'provider-unknown', path: path.join(f.data, 'c000', 'providers', 'net', 'ghost') }] },
    { name: 'c001', reason: 'invalid (provider-self)', needs: null, problems: [{ rule: 'provider-self', path: path.join(f.data, 'c001', 'providers', 'net', 'c001') }] },
  ]);
});

test('a VM whose provider is invalid is skipped, naming the provider; so are its own clients', (t) => {
  const f = fixture(t, { bad: { kernel: null }, client: { providers: ['bad'] }, 'client-of-client': { providers: ['client'] }, ok: {} });
  const result = check(f.data);
  assertDiagnostics(t, result.diagnostics, [{ rule: 'vmlinux-missing', path: path.join(f.data, 'bad', 'vmlinux'), vm: 'bad', mentions: ['bad'] }]);
  assertOutcome(t, result, ['ok'], [
    ['bad', 'invalid (vmlinux-missing)'],
    ['client', 'needs provider bad, which is skipped'],
    ['client-of-client', 'needs provider client, which is skipped'],
  ]);
});

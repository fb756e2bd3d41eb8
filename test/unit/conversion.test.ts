/**
 * The conversion plan for s6-rc-update, as a pure function of two source
 * trees: real trees generated from data dirs before and after a change, and
 * small hand-made trees for what a data dir cannot easily produce.
 */
import test, { type ExecutionContext } from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { desiredTree } from '../../generator/apply/apply.js';
import { conversionFile, describePlan, isEmptyPlan, planConversion, type ConversionPlan } from '../../generator/s6rc/conversion.js';
import { lexExecline } from '../../generator/s6rc/execline-lex.js';
import { defaultOptions, type GeneratorOptions } from '../../generator/pipeline/options.js';
import type { FileTree, TreeEntry } from '../../generator/pipeline/render.js';
import { dataDirWith, makeVm, type VmSpec } from '../support/data-dir.js';

const HEADER = '# vmsvc: restart the services whose definition changed\n';

/** A data dir whose tree can be taken before and after changing it. */
function fixture(t: ExecutionContext, vms: Record<string, VmSpec>): { data: string; tree: (opts?: GeneratorOptions) => FileTree } {
  const { root, data } = dataDirWith(vms);
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  return { data, tree: (opts = defaultOptions) => desiredTree({ data, prefix: '', generator: opts }).tree };
}

const names = (plan: ConversionPlan) => ({
  added: plan.added,
  removed: plan.removed,
  restarted: plan.restarted.map((r) => r.name),
  retyped: plan.retyped,
  knockOn: plan.knockOn.map((k) => k.name),
});

const addDisk = (data: string, vm: string, disk = 'data.img') => fs.writeFileSync(path.join(data, vm, 'blk', disk), 'more\n');

test('an unchanged tree restarts nothing and gives an empty conversion file', (t) => {
  const f = fixture(t, { netvm: {}, app: { providers: ['netvm'] } });
  const plan = planConversion(f.tree(), f.tree());
  t.true(isEmptyPlan(plan));
  t.is(conversionFile(plan), HEADER);
  t.deepEqual(describePlan(plan), []);
});

test('a changed run script restarts exactly that VM, not its logger (a disk more: its finish script takes back one grant more)', (t) => {
  const f = fixture(t, { netvm: {}, app: { providers: ['netvm'] } });
  const before = f.tree();
  addDisk(f.data, 'app');
  const plan = planConversion(before, f.tree());
  t.deepEqual(names(plan), { added: [], removed: [], restarted: ['vm-app'], retyped: [], knockOn: [] });
  t.deepEqual(plan.restarted[0]?.changed, ['finish', 'run']);
  t.is(conversionFile(plan), `${HEADER}vm-app restart\n`);
  t.deepEqual(describePlan(plan), ['restart  vm-app (changed: finish, run)']);
});

test('a provider VM that changed is restarted; its links and clients are left to s6-rc-update, which restarts them as dependents', (t) => {
  const f = fixture(t, { netvm: {}, app: { providers: ['netvm'] } });
  const before = f.tree();
  addDisk(f.data, 'netvm');
  const plan = planConversion(before, f.tree());
  const link = plan.knockOn.find((k) => k.name.startsWith('vmnet-'));
  // The link is attached to the running provider (hot-plug), so it depends on it, and the client on the link.
  t.deepEqual(names(plan), { added: [], removed: [], restarted: ['vm-netvm'], retyped: [], knockOn: ['vm-app', link?.name ?? 'a link'] });
  t.is(link?.reason, 'depends on vm-netvm');
  t.is(conversionFile(plan), `${HEADER}vm-netvm restart\n`);
});

test('a VM that gains a provider restarts; the provider that gains a link does not: the link is hot-plugged into it', (t) => {
  const f = fixture(t, { netvm: {}, other: {}, app: { providers: ['netvm'] } });
  const before = f.tree();
  makeVm(f.data, 'app', { providers: ['netvm', 'other'] });
  const after = f.tree();
  const plan = planConversion(before, after);
  const newLink = plan.added[0] ?? '';
  t.regex(newLink, /^vmnet-[0-9a-f]{4}$/);
  t.deepEqual(names(plan), { added: [newLink], removed: [], restarted: ['vm-app'], retyped: [], knockOn: [] });
  t.deepEqual(plan.restarted[0]?.changed, ['dependencies.d/vm-other', `dependencies.d/${newLink}`, 'run']);
  t.is(conversionFile(plan), `${HEADER}vm-app restart\n`);
});

test('where the VMM takes links in its argv (crosvm), the provider that gains a link restarts', (t) => {
  const f = fixture(t, { netvm: {}, other: {}, app: { providers: ['netvm'] } });
  const crosvm: GeneratorOptions = { ...defaultOptions, vmm: 'crosvm', userConsole: false };
  const before = f.tree(crosvm);
  makeVm(f.data, 'app', { providers: ['netvm', 'other'] });
  const plan = planConversion(before, f.tree(crosvm));
  const newLink = plan.added[0] ?? '';
  t.deepEqual(names(plan), { added: [newLink], removed: [], restarted: ['vm-app', 'vm-other'], retyped: [], knockOn: [] });
  t.deepEqual(plan.restarted[1]?.changed, ['dependencies.d', `dependencies.d/${newLink}`, 'run']);
});

test('a dependency change alone (same run script) still restarts', (t) => {
  const before = tree({ a: longrun('run A', ['b']), b: longrun('run B'), c: longrun('run C') });
  const after = tree({ a: longrun('run A', ['b', 'c']), b: longrun('run B'), c: longrun('run C') });
  const plan = planConversion(before, after);
  t.deepEqual(names(plan), { added: [], removed: [], restarted: ['a'], retyped: [], knockOn: [] });
  t.deepEqual(plan.restarted[0]?.changed, ['dependencies.d/c']);
});

test('added and removed VMs: new services are added, old ones stopped by s6-rc-update, nothing restarted', (t) => {
  const f = fixture(t, { a: {}, b: {} });
  const before = f.tree();
  fs.rmSync(path.join(f.data, 'b'), { recursive: true });
  makeVm(f.data, 'c');
  const plan = planConversion(before, f.tree());
  t.deepEqual(names(plan), { added: ['vm-c', 'vm-c-log'], removed: ['vm-b', 'vm-b-log'], restarted: [], retyped: [], knockOn: [] });
  t.is(conversionFile(plan), HEADER, 'the bundle changed, but bundles are never restarted');
  t.deepEqual(describePlan(plan), ['add      vm-c', 'add      vm-c-log', 'stop     vm-b (removed)', 'stop     vm-b-log (removed)']);
});

test('removing a provider\'s client removes its link oneshot, which unplugs it; the provider is not restarted', (t) => {
  const f = fixture(t, { netvm: {}, app: { providers: ['netvm'] } });
  const before = f.tree();
  fs.rmSync(path.join(f.data, 'app'), { recursive: true });
  const plan = planConversion(before, f.tree());
  t.is(plan.removed.length, 3);
  t.deepEqual(plan.removed.slice(0, 2), ['vm-app', 'vm-app-log']);
  t.regex(plan.removed[2] ?? '', /^vmnet-/);
  t.deepEqual(plan.restarted.map((r) => r.name), []);
  t.is(conversionFile(plan), HEADER);
});

test('a link oneshot whose number changed is a new service, not a rename; the VMs using it restart', (t) => {
  const before = tree({
    'vm-a': longrun('tap vtc-0001', ['vmnet-0001']),
    'vmnet-0001': oneshot('ip link add vbr-0001', 'ip link del vbr-0001'),
  });
  const after = tree({
    'vm-a': longrun('tap vtc-0002', ['vmnet-0002']),
    'vmnet-0002': oneshot('ip link add vbr-0002', 'ip link del vbr-0002'),
  });
  const plan = planConversion(before, after);
  t.deepEqual(names(plan), { added: ['vmnet-0002'], removed: ['vmnet-0001'], restarted: ['vm-a'], retyped: [], knockOn: [] });
  t.deepEqual(plan.restarted[0]?.changed, ['dependencies.d/vmnet-0001', 'dependencies.d/vmnet-0002', 'run']);
  t.is(conversionFile(plan), `${HEADER}vm-a restart\n`, 'no "->" line: the old oneshot stops (its down runs), the new one starts');
});

test('a oneshot whose up or down changed is restarted (old down, new up); services depending on it follow', (t) => {
  const before = tree({ 'vm-a': longrun('run', ['vmnet-0001']), 'vmnet-0001': oneshot('ip link add x', 'ip link del x') });
  const upChanged = tree({ 'vm-a': longrun('run', ['vmnet-0001']), 'vmnet-0001': oneshot('ip link add x mtu 9000', 'ip link del x') });
  const downChanged = tree({ 'vm-a': longrun('run', ['vmnet-0001']), 'vmnet-0001': oneshot('ip link add x', 'ip link delete x') });
  for (const after of [upChanged, downChanged]) {
    const plan = planConversion(before, after);
    t.deepEqual(names(plan), { added: [], removed: [], restarted: ['vmnet-0001'], retyped: [], knockOn: ['vm-a'] });
    t.is(conversionFile(plan), `${HEADER}vmnet-0001 restart\n`);
  }
});

test('the logger of a changed VM: untouched when only the VM changed; restarted (and its VM knocked on) when its own script changed', (t) => {
  const f = fixture(t, { a: {}, b: {} });
  const before = f.tree();
  const plan = planConversion(before, f.tree({ ...defaultOptions, logMaxFiles: 3 }));
  t.deepEqual(names(plan), { added: [], removed: [], restarted: ['vm-a-log', 'vm-b-log'], retyped: [], knockOn: ['vm-a', 'vm-b'] });
  t.is(plan.knockOn[0]?.reason, 'depends on vm-a-log', 'a producer depends on its consumer');
  t.is(conversionFile(plan), `${HEADER}vm-a-log restart\nvm-b-log restart\n`);

  addDisk(f.data, 'a');
  const vmOnly = planConversion(before, f.tree());
  t.deepEqual(names(vmOnly).restarted, ['vm-a']);
  t.deepEqual(names(vmOnly).knockOn, []);
});

test('a type change is restarted by s6-rc-update itself and stays out of the conversion file', (t) => {
  const before = tree({ x: oneshot('true', 'true'), y: longrun('run', ['x']) });
  const after = tree({ x: longrun('run x'), y: longrun('run', ['x']) });
  const plan = planConversion(before, after);
  t.deepEqual(names(plan), { added: [], removed: [], restarted: [], retyped: ['x'], knockOn: ['y'] });
  t.is(conversionFile(plan), HEADER);
});

test('a service that now depends on a new one is restarted by s6-rc-update even through an unchanged bundle name', (t) => {
  const before = tree({ a: longrun('run', ['grp']), grp: bundle(['b']), b: longrun('b') });
  const after = tree({ a: longrun('run', ['grp']), grp: bundle(['b', 'c']), b: longrun('b'), c: longrun('c') });
  const plan = planConversion(before, after);
  t.deepEqual(names(plan), { added: ['c'], removed: [], restarted: [], retyped: [], knockOn: ['a'] });
  t.is(plan.knockOn[0]?.reason, 'now depends on the new c');
});

test('names are quoted so the execline lexer reads each line back as NAME restart', (t) => {
  const odd = ['vm-my vm', 'vm-#hash', 'vm-back\\slash', 'vm-{', 'vm-"q"', 'vm-ünï'];
  const before = tree(Object.fromEntries(odd.map((n) => [n, longrun('old')])));
  const after = tree(Object.fromEntries(odd.map((n) => [n, longrun('new')])));
  const file = conversionFile(planConversion(before, after));
  const lines = file.split('\n').filter((l) => l !== '');
  t.is(lines[0], HEADER.trimEnd());
  const lexed = lines.slice(1).map((l) => lexExecline(l));
  t.deepEqual(lexed.map((r) => (r.ok ? r.argv : r.error)), [...odd].sort(byBytes).map((n) => [n, 'restart']));
  const header = lexExecline(lines[0] ?? '');
  t.deepEqual(header.ok ? header.argv : header.error, [], 'the header is a comment');
});

test('the manifest and dot entries are not services', (t) => {
  const base = { a: longrun('run') };
  const before = tree(base, { 'vmsvc-manifest.json': file('{"v":1}\n'), '.hidden': { kind: 'dir' } });
  const after = tree(base, { 'vmsvc-manifest.json': file('{"v":2}\n') });
  t.true(isEmptyPlan(planConversion(before, after)));
});

// --- hand-made trees -------------------------------------------------------

type Svc = Record<string, TreeEntry>;

const file = (content: string, mode: 0o644 | 0o755 = 0o644): TreeEntry => ({ kind: 'file', content, mode });
const DIR: TreeEntry = { kind: 'dir' };
const byBytes = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

function longrun(run: string, deps: string[] = []): Svc {
  const s: Svc = { type: file('longrun\n'), run: file(`#!/bin/execlineb -P\n${run}\n`, 0o755) };
  if (deps.length > 0) s['dependencies.d'] = DIR;
  for (const d of deps) s[`dependencies.d/${d}`] = file('');
  return s;
}

function oneshot(up: string, down: string): Svc {
  return { type: file('oneshot\n'), up: file(`${up}\n`), down: file(`${down}\n`) };
}

function bundle(members: string[]): Svc {
  return { type: file('bundle\n'), 'contents.d': DIR, ...Object.fromEntries(members.map((m) => [`contents.d/${m}`, file('')])) };
}

function tree(services: Record<string, Svc>, top: Record<string, TreeEntry> = {}): FileTree {
  const entries: Array<[string, TreeEntry]> = Object.entries(top);
  for (const [name, svc] of Object.entries(services)) {
    entries.push([name, DIR]);
    for (const [rel, e] of Object.entries(svc)) entries.push([`${name}/${rel}`, e]);
  }
  return new Map(entries.sort(([a], [b]) => byBytes(a, b)));
}

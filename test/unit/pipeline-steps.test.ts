/**
 * Each pipeline step on its own, in process, on one small data dir (client
 * `app` of provider `net`, plus `broken` without a vmlinux): what scan hands
 * check, what check hands plan, what plan hands render.
 */
import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { checkTree } from '../../generator/pipeline/check.js';
import { defaultOptions } from '../../generator/pipeline/options.js';
import { planTree } from '../../generator/pipeline/plan.js';
import type { Service } from '../../generator/pipeline/service-types.js';
import { renderTree } from '../../generator/pipeline/render.js';
import { scanDataDir } from '../../generator/pipeline/scan.js';
import { loadTemplates } from '../../generator/pipeline/templates.js';
import { VMM_FACTS } from '../../generator/vmm/index.js';
import { dataDirWith } from '../support/data-dir.js';

function fixture(): { root: string; data: string } {
  const d = dataDirWith({ app: { providers: ['net'], disks: ['b.img', 'a.img'] }, net: {}, broken: { kernel: null } });
  fs.writeFileSync(path.join(d.data, '.hidden'), '');
  return d;
}

test('scan: lists the VM dirs (hidden entries ignored) before reading any, and reads each when iterated', (t) => {
  const { root, data } = fixture();
  try {
    const tree = scanDataDir(data);
    t.is(tree.root, path.resolve(data));
    t.deepEqual([...tree.vmNames].sort(), ['app', 'broken', 'net']);
    const vms = new Map([...tree.vms].map((vm) => [vm.name, vm]));
    t.is(vms.get('app')!.vmlinux.kind, 'file');
    t.is(vms.get('broken')!.vmlinux.kind, 'missing');
    t.deepEqual(vms.get('app')!.providers.map((p) => p.name), ['net']);
    t.deepEqual(vms.get('app')!.images.map((i) => i.name).sort(), ['a.img', 'b.img']);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('scan: with a probing VMM\'s signatures each image keeps only the signature it matched (the VMM\'s own object); without, none', (t) => {
  const { root, data } = fixture();
  try {
    fs.writeFileSync(path.join(data, 'app', 'blk', 'a.img'), Buffer.from([0x51, 0x46, 0x49, 0xfb, 0, 0, 0, 3]));
    const format = VMM_FACTS.crosvm.imageFormat;
    const signatures = format.kind === 'probed' ? format.signatures : [];
    const images = (tree: ReturnType<typeof scanDataDir>) => [...tree.vms].find((vm) => vm.name === 'app')!.images.slice().sort((a, b) => (a.name < b.name ? -1 : 1));
    const probed = images(scanDataDir(data, Number.POSITIVE_INFINITY, signatures));
    t.is(probed[0]!.signature, signatures.find((s) => s.format === 'QCOW2') ?? null);
    t.is(probed[1]!.signature, null);
    t.deepEqual(images(scanDataDir(data)).map((i) => i.signature), [null, null]);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('check: valid VMs with sorted disks and providers; the invalid one skipped with its rule', (t) => {
  const { root, data } = fixture();
  try {
    const result = checkTree(scanDataDir(data), defaultOptions);
    t.deepEqual(result.vms.map((vm) => vm.name), ['app', 'net']);
    const app = result.vms[0]!;
    t.deepEqual(app.disks, [path.join(path.resolve(data), 'app/blk/a.img'), path.join(path.resolve(data), 'app/blk/b.img')]);
    t.deepEqual(app.providers, ['net']);
    t.deepEqual(result.skipped, [{
      name: 'broken', reason: 'invalid (vmlinux-missing)', needs: null,
      problems: [{ rule: 'vmlinux-missing', path: path.join(path.resolve(data), 'broken', 'vmlinux') }],
    }]);
    t.deepEqual(result.diagnostics.map((d) => d.rule), ['vmlinux-missing']);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('plan: two longruns per VM, one oneshot per link, the two bundles; sorted; the client depends on its provider and link', (t) => {
  const { root, data } = fixture();
  try {
    const result = checkTree(scanDataDir(data), defaultOptions);
    const plan = planTree('/data', result.vms, result, defaultOptions);
    const services: Service[] = [...plan.services];
    const names = services.map((s) => s.name);
    const link = names.find((n) => n.startsWith('vmnet-'))!;
    t.deepEqual(names, [...names].sort());
    t.deepEqual(new Set(names), new Set(['autostart', 'vm-app', 'vm-app-log', 'vm-net', 'vm-net-log', link, 'vms']));
    const app = services.find((s) => s.name === 'vm-app')!;
    t.is(app.type, 'longrun');
    if (app.type === 'longrun') {
      t.deepEqual([...app.dependencies].sort(), [link, 'vm-net'].sort());
      t.is(app.producerFor, 'vm-app-log');
    }
    const bundle = services.find((s) => s.name === 'vms')!;
    t.deepEqual(bundle.type === 'bundle' ? bundle.contents : null, [link, 'vm-app-pipeline', 'vm-net-pipeline'].sort());
    // No VM of the fixture has config/autostart: the autostart bundle is there, and empty.
    const autostart = services.find((s) => s.name === 'autostart')!;
    t.deepEqual(autostart.type === 'bundle' ? autostart.contents : null, []);
    t.deepEqual(plan.manifest.skipped, result.skipped);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('render: every service dir with its files, scripts 0755 and the rest 0644, paths from the plan', (t) => {
  const { root, data } = fixture();
  try {
    const result = checkTree(scanDataDir(data), defaultOptions);
    const tree = renderTree(planTree('/data', result.vms, result, defaultOptions), loadTemplates(null, defaultOptions.vmm));
    const run = tree.get('vm-app/run');
    t.is(run?.kind, 'file');
    if (run?.kind === 'file') {
      t.is(run.mode, 0o755);
      t.true(run.content.startsWith('#!/bin/execlineb -P\n'));
      t.true(run.content.includes('/data/app/blk/a.img'));
      t.true(run.content.indexOf('/data/app/blk/a.img') < run.content.indexOf('/data/app/blk/b.img'));
    }
    t.deepEqual(tree.get('vm-app/type'), { kind: 'file', content: 'longrun\n', mode: 0o644 });
    t.is(tree.get('vm-app/dependencies.d/vm-net')?.kind, 'file');
    t.is(tree.get('vmsvc-manifest.json')?.kind, 'file');
    t.false([...tree.keys()].some((p) => p.startsWith('vm-broken')));
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

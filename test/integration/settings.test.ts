/**
 * Per-VM settings and autostart through the built CLI: a VM's config/ files
 * reach the VMM's argv in the generated run script, the autostart bundle
 * holds exactly the marked VMs (and compiles empty, with the real
 * s6-rc-compile when it is here: vmsvc() compiles every generated tree), the
 * manifest records the settings, and `show` and `ls` print them.
 */
import test, { type ExecutionContext } from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { vmmArgvFromRunScript } from '../../generator/admin/vmm-argv.js';
import type { LsRow } from '../../generator/admin/ls.js';
import type { ShowResult } from '../../generator/admin/show.js';
import { vmsvc } from '../support/cli.js';
import { dataDirWith, type VmSpec } from '../support/data-dir.js';
import { realCompileProblems } from '../support/real-s6rc.js';

function fixture(t: ExecutionContext, vms: Record<string, VmSpec>): { root: string; data: string; out: string } {
  const f = dataDirWith(vms);
  t.teardown(() => fs.rmSync(f.root, { recursive: true, force: true }));
  return { ...f, out: path.join(f.root, 'out') };
}

function generate(t: ExecutionContext, data: string, out: string, extra: readonly string[] = []): void {
  const r = vmsvc(['generate', '--data', data, '--out', out, ...extra]);
  t.is(r.code, 0, r.stderr);
}

function argv(out: string, vm: string): string[] {
  const r = vmmArgvFromRunScript(fs.readFileSync(path.join(out, `vm-${vm}`, 'run'), 'utf8'));
  if (!r.ok) throw new Error(r.error);
  return r.argv;
}

/** The words after `flag` in an argv, up to the next option. */
function after(words: readonly string[], flag: string): string[] {
  const i = words.indexOf(flag);
  if (i < 0) return [];
  const rest = words.slice(i + 1);
  const end = rest.findIndex((w) => w.startsWith('-'));
  return end < 0 ? rest : rest.slice(0, end);
}

const SETTINGS = { memory: '512M\n', cpus: '2\n', cmdline: 'quiet loglevel=3\n', 'writable-disks': '' };

test('a VM\'s config/memory, cpus, cmdline and writable-disks reach its VMM argv under each VMM; a VM without config/ keeps the flags', (t) => {
  const f = fixture(t, { tuned: { config: SETTINGS }, plain: {} });
  const base = 'console=ttyS0 root=PARTLABEL=root';
  const ch = path.join(f.root, 'ch');
  generate(t, f.data, ch);
  const tuned = argv(ch, 'tuned');
  t.deepEqual(after(tuned, '--cpus'), ['boot=2']);
  t.deepEqual(after(tuned, '--memory'), ['size=512M']);
  t.true(tuned.includes(`--cmdline=${base} quiet loglevel=3`));
  t.regex(after(tuned, '--disk')[0] ?? '', /readonly=off/);
  const plain = argv(ch, 'plain');
  t.deepEqual([after(plain, '--cpus'), after(plain, '--memory')], [['boot=1'], ['size=256M']]);
  t.true(plain.includes(`--cmdline=${base}`));
  t.regex(after(plain, '--disk')[0] ?? '', /readonly=on/);

  const qemu = path.join(f.root, 'qemu');
  generate(t, f.data, qemu, ['--vmm', 'qemu']);
  const q = argv(qemu, 'tuned');
  t.deepEqual([after(q, '-m'), after(q, '-smp'), after(q, '-append')], [['512M'], ['2'], [`${base} quiet loglevel=3`]]);
  t.deepEqual([after(argv(qemu, 'plain'), '-m'), after(argv(qemu, 'plain'), '-smp')], [['256M'], ['1']]);

  // crosvm probes image formats (it cannot be told raw), so config/writable-disks
  // is refused for it (generator/vmm/crosvm.ts); the other settings reach its argv.
  const refused = vmsvc(['generate', '--vmm', 'crosvm', '--no-user-console', '--data', f.data, '--out', path.join(f.root, 'refused')]);
  t.is(refused.code, 1);
  t.regex(refused.stderr, /error\[setting-vmm-unsupported\]: writable disks: crosvm cannot be told a disk image is raw/);
  fs.rmSync(path.join(f.data, 'tuned', 'config', 'writable-disks'));
  const crosvm = path.join(f.root, 'crosvm');
  generate(t, f.data, crosvm, ['--vmm', 'crosvm', '--no-user-console']);
  const c = argv(crosvm, 'tuned');
  t.deepEqual([after(c, '--mem'), after(c, '--cpus'), c.filter((w) => w.startsWith('--params='))], [['size=512'], ['num-cores=2'], [`--params=${base} quiet loglevel=3`]]);
  t.regex(after(c, '--block')[0] ?? '', /ro=true/);
});

test('the autostart bundle holds the marked VMs\' pipelines only; their providers are dependencies, not members', (t) => {
  const f = fixture(t, {
    net: {}, app: { providers: ['net'], config: { autostart: '' } }, other: {}, solo: { config: { autostart: '\n' } },
  });
  generate(t, f.data, f.out);
  t.is(fs.readFileSync(path.join(f.out, 'autostart', 'type'), 'utf8'), 'bundle\n');
  t.deepEqual(fs.readdirSync(path.join(f.out, 'autostart', 'contents.d')).sort(), ['vm-app-pipeline', 'vm-solo-pipeline']);
  t.true(fs.existsSync(path.join(f.out, 'vm-app', 'dependencies.d', 'vm-net')));
  const named = path.join(f.root, 'named');
  generate(t, f.data, named, ['--autostart-bundle', 'boot-vms']);
  t.false(fs.existsSync(path.join(named, 'autostart')));
  t.deepEqual(fs.readdirSync(path.join(named, 'boot-vms', 'contents.d')).sort(), ['vm-app-pipeline', 'vm-solo-pipeline']);
});

test('with no VM marked the autostart bundle is empty, and the real s6-rc-compile takes it', (t) => {
  const f = fixture(t, { a: {}, b: { providers: ['a'] } });
  generate(t, f.data, f.out);
  t.deepEqual(fs.readdirSync(path.join(f.out, 'autostart', 'contents.d')), []);
  t.deepEqual(realCompileProblems([f.out]), []);
});

test('bounds and bundle names are flags, refused as usage errors when they contradict each other or clash with services', (t) => {
  const f = fixture(t, { a: {} });
  const usage = (extra: readonly string[], message: RegExp) => {
    const r = vmsvc(['check', '--data', f.data, ...extra]);
    t.is(r.code, 100, extra.join(' '));
    t.regex(r.stderr, message, extra.join(' '));
  };
  usage(['--memory', '8G'], /--memory 8G is more than --max-memory 4G/);
  usage(['--cpus', '9'], /--cpus 9 is more than --max-cpus 8/);
  usage(['--stop-timeout', '300001'], /--stop-timeout 300001 is more than --max-stop-timeout 300000/);
  // A stop timeout near 2^32 ms overflowed timeout-down (s6-rc-compile refused the tree); at 10^9 ms the run script was too long to exec.
  usage(['--max-stop-timeout', '4294967295', '--stop-timeout', '4294967295'], /--max-stop-timeout must be a whole number from 1 to 3600000, got 4294967295/);
  usage(['--max-stop-timeout', '3600000', '--stop-timeout', '1000000000'], /--stop-timeout must be a whole number from 1 to 3600000/);
  t.is(vmsvc(['generate', '--data', f.data, '--out', path.join(f.root, 'at-limit'), '--max-stop-timeout', '3600000', '--stop-timeout', '3600000']).code, 0, 'the limit compiles');
  usage(['--max-memory', 'lots'], /--max-memory must be a number/);
  usage(['--max-cpus', '0'], /--max-cpus must be a whole number from 1 to 255/);
  usage(['--autostart-bundle', 'vms'], /--autostart-bundle and --bundle are both "vms"/);
  usage(['--autostart-bundle', 'vm-a-pipeline'], /--autostart-bundle "vm-a-pipeline" would collide/);
  usage(['--autostart-bundle', 'vmnet-0001'], /would collide with .* link services/);
  usage(['--bundle', 'vmnet-0001'], /--bundle "vmnet-0001" would collide/);
  t.is(vmsvc(['check', '--data', f.data, '--memory', '8G', '--max-memory', '8G', '--cpus', '16', '--max-cpus', '16']).code, 0);
  // A VM's file above a bound is a check error (exit 1), not a usage error.
  fs.mkdirSync(path.join(f.data, 'a', 'config'));
  fs.writeFileSync(path.join(f.data, 'a', 'config', 'memory'), '8G');
  const r = vmsvc(['check', '--data', f.data]);
  t.is(r.code, 1);
  t.regex(r.stderr, /a\/config\/memory: error\[setting-out-of-bounds\]/);
});

test('the manifest records each VM\'s settings and which files set them; show prints each with where it came from; ls says which autostart', (t) => {
  const f = fixture(t, { tuned: { config: { ...SETTINGS, autostart: '', 'stop-timeout': '60000' } }, plain: {} });
  generate(t, f.data, f.out);
  const manifest = JSON.parse(fs.readFileSync(path.join(f.out, 'vmsvc-manifest.json'), 'utf8')) as { vms: Array<{ name: string; settings: unknown; settingFiles: unknown }> };
  const tuned = manifest.vms.find((v) => v.name === 'tuned')!;
  t.deepEqual(tuned.settings, {
    memory: '512M', cpus: 2, cmdlineExtra: 'quiet loglevel=3', writableDisks: true, stopTimeoutMs: 60000, guestReady: false, autostart: true, cpuWeight: 100, cpuMaxPercent: null, pidsMax: 512, swapMax: '0',
  });
  t.deepEqual(tuned.settingFiles, ['memory', 'cpus', 'cmdline', 'stop-timeout', 'writable-disks', 'autostart']);
  t.deepEqual(manifest.vms.find((v) => v.name === 'plain')!.settingFiles, []);

  // One service dir without a supervisor: ls refuses a scandir holding none of the tree's services (no live system).
  const scandir = path.join(f.root, 'scandir');
  fs.mkdirSync(path.join(scandir, 'vm-tuned'), { recursive: true });
  const shown = vmsvc(['show', 'tuned', '--source', f.out, '--scandir', scandir, '--json']);
  t.is(shown.code, 0, shown.stderr);
  t.deepEqual((JSON.parse(shown.stdout) as ShowResult).settings, [
    { setting: 'memory', value: '512M', from: 'config/memory' },
    { setting: 'cpus', value: '2', from: 'config/cpus' },
    { setting: 'cmdline', value: 'quiet loglevel=3', from: 'config/cmdline' },
    { setting: 'stop-timeout', value: '60000 ms', from: 'config/stop-timeout' },
    { setting: 'cpu-weight', value: '100', from: '--cpu-weight' },
    { setting: 'cpu-max', value: 'none', from: '--cpu-max' },
    { setting: 'pids-max', value: '512', from: '--pids-max' },
    { setting: 'swap-max', value: '0', from: '--swap-max' },
    { setting: 'writable-disks', value: 'on', from: 'config/writable-disks' },
    { setting: 'guest-ready', value: 'off', from: '--guest-ready' },
    { setting: 'autostart', value: 'on', from: 'config/autostart' },
  ]);
  const text = vmsvc(['show', 'plain', '--source', f.out, '--scandir', scandir]);
  t.is(text.code, 0, text.stderr);
  t.regex(text.stdout, /settings:\n\s+SETTING\s+VALUE\s+FROM\n\s+memory\s+256M\s+--memory\n\s+cpus\s+1\s+--cpus\n\s+cmdline\s+-\s+default\n\s+stop-timeout\s+30000 ms\s+--stop-timeout\n/);

  const ls = vmsvc(['ls', '--source', f.out, '--scandir', scandir, '--json']);
  t.is(ls.code, 0, ls.stderr);
  t.deepEqual((JSON.parse(ls.stdout) as { vms: LsRow[] }).vms.map((r) => [r.name, r.skipped ? 'skipped' : r.autostart]), [['plain', false], ['tuned', true]]);
  const table = vmsvc(['ls', '--source', f.out, '--scandir', scandir]);
  t.regex(table.stdout, /^NAME\s+STATE\s+AUTOSTART\s/);
  t.regex(table.stdout, /\nplain\s+missing\s+no\s/);
  t.regex(table.stdout, /\ntuned\s+unsupervised\s+yes\s/);
});

test('a manifest from before per-VM settings still reads: show says the settings are unknown, ls shows ? for autostart', (t) => {
  const f = fixture(t, { a: {} });
  generate(t, f.data, f.out);
  const file = path.join(f.out, 'vmsvc-manifest.json');
  const m = JSON.parse(fs.readFileSync(file, 'utf8')) as { vms: Array<Record<string, unknown>> };
  for (const vm of m.vms) {
    delete vm['settings'];
    delete vm['settingFiles'];
  }
  // The tree is a link to its version dir; the manifest is written in place.
  fs.writeFileSync(fs.realpathSync(file), JSON.stringify(m));
  const scandir = path.join(f.root, 'scandir');
  fs.mkdirSync(path.join(scandir, 'vm-a'), { recursive: true });
  const shown = vmsvc(['show', 'a', '--source', f.out, '--scandir', scandir]);
  t.is(shown.code, 0, shown.stderr);
  t.regex(shown.stdout, /settings:\n {2}unknown \(the tree was generated before per-VM settings\)/);
  t.regex(vmsvc(['ls', '--source', f.out, '--scandir', scandir]).stdout, /\na\s+unsupervised\s+\?\s/);
  // Settings of the wrong shape are an edited manifest, refused.
  m.vms[0]!['settings'] = { memory: 5 };
  fs.writeFileSync(fs.realpathSync(file), JSON.stringify(m));
  const bad = vmsvc(['show', 'a', '--source', f.out, '--scandir', scandir]);
  t.is(bad.code, 1);
  t.regex(bad.stderr, /malformed settings/);
});

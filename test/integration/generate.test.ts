/**
 * `vmsvc generate` and `vmsvc check` as a user runs them: exit codes, what is
 * written (and what is not), determinism, modes, idempotence, atomic layout.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { VMSVC, vmsvc } from '../support/cli.js';
import { dataDirWith, makeVm } from '../support/data-dir.js';
import { checkS6rcSource } from '../../generator/s6rc/source-check.js';
import { COMMAND_DOCS, type DocumentedCommand } from '../../generator/cli/docs.js';

function cleanup(t: { teardown: (fn: () => void) => void }, dir: string): void {
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
}

/** Every path below `dir` with its mode and mtime, following the out symlink. */
function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (rel: string) => {
    for (const name of fs.readdirSync(path.join(dir, rel)).sort()) {
      const child = path.join(rel, name);
      const st = fs.lstatSync(path.join(dir, child));
      out.set(child, `${(st.mode & 0o7777).toString(8)} ${st.mtimeMs} ${st.isFile() ? fs.readFileSync(path.join(dir, child), 'utf8') : ''}`);
      if (st.isDirectory()) walk(child);
    }
  };
  walk('');
  return out;
}

const guide = () => dataDirWith({ netvm: {}, 'appvm-lynx': { providers: ['netvm'] } });

test('generate writes a tree that passes the s6-rc checker, with fixed modes', (t) => {
  const { root, data } = guide();
  cleanup(t, root);
  const out = path.join(root, 'out');
  const r = vmsvc(['generate', '--data', data, '--out', out]);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /wrote .*out \(2 VMs, \d+ files\)/);
  t.true(fs.lstatSync(out).isSymbolicLink());
  t.deepEqual(checkS6rcSource([out]), []);
  t.deepEqual(fs.readFileSync(path.join(out, 'vm-appvm-lynx', 'dependencies.d', 'vm-netvm'), 'utf8'), '');
  for (const [rel, info] of snapshot(out)) {
    const mode = info.split(' ')[0];
    const base = path.basename(rel);
    const expected = fs.statSync(path.join(out, rel)).isDirectory() ? '755' : ['run', 'finish', 'check', 'power-button'].includes(base) ? '755' : '644';
    t.is(mode, expected, rel);
  }
});

test('generate is byte-identical for identical input, wherever it writes', (t) => {
  const { root, data } = guide();
  cleanup(t, root);
  t.is(vmsvc(['generate', '--data', data, '--out', path.join(root, 'a')]).code, 0);
  t.is(vmsvc(['generate', '--data', data, '--out', path.join(root, 'b', 'nested')]).code, 0);
  const strip = (m: Map<string, string>) => new Map([...m].map(([k, v]) => [k, v.replace(/ [0-9.]+ /, ' ')]));
  t.deepEqual(strip(snapshot(path.join(root, 'a'))), strip(snapshot(path.join(root, 'b', 'nested'))));
  const hash = (link: string) => fs.readlinkSync(link).replace(/^.*vmsvc-/, '');
  t.is(hash(path.join(root, 'a')), hash(path.join(root, 'b', 'nested')));
});

test('a second run on unchanged input writes nothing and says so', (t) => {
  const { root, data } = guide();
  cleanup(t, root);
  const out = path.join(root, 'out');
  t.is(vmsvc(['generate', '--data', data, '--out', out]).code, 0);
  const before = snapshot(out);
  const linkBefore = fs.lstatSync(out).mtimeMs;
  const r = vmsvc(['generate', '--data', data, '--out', out]);
  t.is(r.code, 0);
  t.regex(r.stdout, /unchanged \(2 VMs\); nothing written/);
  t.deepEqual(snapshot(out), before);
  t.is(fs.lstatSync(out).mtimeMs, linkBefore);
});

test('the same input through either argument parser is the same input', (t) => {
  const { root, data } = guide();
  cleanup(t, root);
  const out = path.join(root, 'out');
  t.is(vmsvc(['generate', '--data', data, '--out', out]).code, 0);
  // A --no-* flag sends the line to yargs, which builds the options in its own order.
  const r = vmsvc(['generate', '--data', data, '--out', out, '--no-writable-disks']);
  t.is(r.code, 0);
  t.regex(r.stdout, /unchanged \(2 VMs\); nothing written/);
});

test('a changed input replaces the tree and leaves only the new version beside it', (t) => {
  const { root, data } = guide();
  cleanup(t, root);
  const out = path.join(root, 'out');
  t.is(vmsvc(['generate', '--data', data, '--out', out]).code, 0);
  const old = fs.readlinkSync(out);
  makeVm(data, 'mailvm', { providers: ['netvm'] });
  // Leftovers of a killed run: a half-written tree and a temporary link.
  fs.mkdirSync(path.join(root, '.out.vmsvc-tmp-999999-deadbeef', 'vm-x'), { recursive: true });
  fs.symlinkSync('nowhere', path.join(root, '.out.vmsvc-link-999999-deadbeef'));
  const r = vmsvc(['generate', '--data', data, '--out', out]);
  t.is(r.code, 0, r.stderr);
  t.not(fs.readlinkSync(out), old);
  t.true(fs.existsSync(path.join(out, 'vm-mailvm', 'run')));
  t.deepEqual(fs.readdirSync(root).sort(), [fs.readlinkSync(out), 'data', 'out'].sort());
});

test('an invalid VM makes generate write nothing and exit 1', (t) => {
  const { root, data } = dataDirWith({ netvm: {}, broken: { kernel: null } });
  cleanup(t, root);
  const out = path.join(root, 'out');
  const r = vmsvc(['generate', '--data', data, '--out', out]);
  t.is(r.code, 1);
  t.regex(r.stderr, /broken\/vmlinux: error\[vmlinux-missing\]/);
  t.regex(r.stderr, /nothing written/);
  t.false(fs.existsSync(out));
  t.deepEqual(fs.readdirSync(root), ['data']);
});

test('--keep-going writes the valid VMs, skips the invalid ones and their clients, and exits 0', (t) => {
  const { root, data } = dataDirWith({
    netvm: { kernel: Buffer.from([0x1f, 0x8b, 8, 0]) },
    // Marked, but skipped: a skipped VM is in no bundle.
    'appvm-lynx': { providers: ['netvm'], config: { autostart: '' } },
    'appvm-deep': { providers: ['appvm-lynx'] },
    offline: {},
  });
  cleanup(t, root);
  const out = path.join(root, 'out');
  const r = vmsvc(['generate', '--keep-going', '--data', data, '--out', out]);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stderr, /error\[vmlinux-compressed\]: vmlinux is gzip-compressed/);
  t.regex(r.stderr, /skipped VM netvm: invalid \(vmlinux-compressed\)/);
  t.regex(r.stderr, /skipped VM appvm-lynx: needs provider netvm, which is skipped/);
  t.regex(r.stderr, /skipped VM appvm-deep: needs provider appvm-lynx, which is skipped/);
  t.deepEqual(fs.readdirSync(out).sort(), ['.vmsvc-key', 'autostart', 'vm-offline', 'vm-offline-log', 'vms', 'vmsvc-manifest.json']);
  t.deepEqual(fs.readdirSync(path.join(out, 'vms', 'contents.d')), ['vm-offline-pipeline']);
  t.deepEqual(fs.readdirSync(path.join(out, 'autostart', 'contents.d')), []);
  const manifest = JSON.parse(fs.readFileSync(path.join(out, 'vmsvc-manifest.json'), 'utf8')) as { skipped: Array<{ name: string }> };
  t.deepEqual(manifest.skipped.map((s) => s.name), ['appvm-deep', 'appvm-lynx', 'netvm']);
  t.deepEqual(checkS6rcSource([out]), []);
});

test('check exits 1 with path, rule and hint; --json gives the same as data', (t) => {
  const { root, data } = dataDirWith({ a: { providers: ['b'] }, b: { providers: ['a'] } });
  cleanup(t, root);
  const r = vmsvc(['check', '--data', data]);
  t.is(r.code, 1);
  t.regex(r.stderr, /a\/providers\/net\/b: error\[provider-cycle\]: VMs provide for each other in a cycle: a -> b -> a\n  hint: /);
  const j = vmsvc(['check', '--json', '--data', data]);
  t.is(j.code, 1);
  const parsed = JSON.parse(j.stdout) as { ok: boolean; diagnostics: Array<{ rule: string; path: string; hint: string }> };
  t.false(parsed.ok);
  t.deepEqual(parsed.diagnostics.map((d) => d.rule), ['provider-cycle']);
  t.is(parsed.diagnostics[0]!.path, path.join(data, 'a', 'providers', 'net', 'b'));
});

test('check exits 0 on a valid tree and 0 with only warnings', (t) => {
  const { root, data } = guide();
  cleanup(t, root);
  fs.writeFileSync(path.join(data, 'README'), 'not a VM');
  const r = vmsvc(['check', '--data', data]);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stderr, /README: warning\[entry-not-directory\]/);
  t.regex(r.stdout, /2 VMs: 2 valid, 0 invalid or blocked; 0 errors, 1 warning/);
});

test('usage errors exit 100 and I/O errors 111, with a message', (t) => {
  const { root, data } = guide();
  cleanup(t, root);
  t.is(vmsvc(['generate', '--data', data]).code, 100);
  t.is(vmsvc(['frobnicate']).code, 100);
  const missing = vmsvc(['check', '--data', path.join(root, 'nope')]);
  t.is(missing.code, 111);
  t.regex(missing.stderr, /cannot read data directory/);
  const badMem = vmsvc(['check', '--data', data, '--memory', 'lots']);
  t.is(badMem.code, 100);
  t.regex(badMem.stderr, /--memory must be a number with an optional K, M or G suffix/);
  t.is(vmsvc(['check', '--data', data, '--bundle', 'vm-x']).code, 100);
  t.is(vmsvc(['check', '--data', data, '--runtime-dir', 'relative']).code, 100);
});

test('generate refuses to replace a directory it did not write', (t) => {
  const { root, data } = guide();
  cleanup(t, root);
  const out = path.join(root, 'out');
  fs.mkdirSync(out);
  fs.writeFileSync(path.join(out, 'precious'), 'keep me');
  const r = vmsvc(['generate', '--data', data, '--out', out]);
  t.is(r.code, 111);
  t.regex(r.stderr, /is not a tree written by vmsvc/);
  t.is(fs.readFileSync(path.join(out, 'precious'), 'utf8'), 'keep me');
});

test('a second writer on the same out path fails with the first one\'s pid; a dead owner\'s lock is taken over', (t) => {
  const { root, data } = guide();
  cleanup(t, root);
  const out = path.join(root, 'out');
  fs.writeFileSync(path.join(root, '.out.vmsvc-lock'), `${process.pid}\n`);
  const busy = vmsvc(['generate', '--data', data, '--out', out]);
  t.is(busy.code, 111);
  t.regex(busy.stderr, new RegExp(`another vmsvc \\(pid ${process.pid}\\) is writing`));
  t.false(fs.existsSync(out));
  fs.writeFileSync(path.join(root, '.out.vmsvc-lock'), '2147483646\n');
  const r = vmsvc(['generate', '--data', data, '--out', out]);
  t.is(r.code, 0, r.stderr);
  t.false(fs.existsSync(path.join(root, '.out.vmsvc-lock')));
});

test('a lock at the out path that is a FIFO or a link is refused at once, naming it, not waited on or followed', (t) => {
  const { root, data } = guide();
  cleanup(t, root);
  const out = path.join(root, 'out');
  const lock = path.join(root, '.out.vmsvc-lock');
  const elsewhere = path.join(root, 'elsewhere');
  fs.writeFileSync(elsewhere, `${process.pid}\n`);
  for (const [what, make, says] of [
    ['a FIFO', () => spawnSync('mkfifo', [lock]), 'is a FIFO, not a regular file'],
    ['a link to a file naming a live pid', () => fs.symlinkSync(elsewhere, lock), 'is a symbolic link'],
  ] as const) {
    make();
    // Not vmsvc(): its time limit is a minute, and a FIFO opened the ordinary way waits for a writer for good.
    const r = spawnSync(process.execPath, [VMSVC, 'generate', '--data', data, '--out', out], { encoding: 'utf8', timeout: 15_000 });
    t.is(r.error, undefined, `${what}: generate did not end within 15 s`);
    t.is(r.status, 111, `${what}: ${r.stderr}`);
    t.true(r.stderr.startsWith(`vmsvc: ${lock} ${says}`), `${what}: ${r.stderr}`);
    t.regex(r.stderr, /: not a lock vmsvc wrote; remove it if no vmsvc is writing /, what);
    t.false(fs.existsSync(out), what);
    fs.rmSync(lock);
  }
  t.is(fs.readFileSync(elsewhere, 'utf8'), `${process.pid}\n`);
});

test('--help names every command and the exit codes', (t) => {
  const r = vmsvc(['--help']);
  t.is(r.code, 0);
  for (const word of ['check', 'generate', 'check-s6rc', 'Exit codes: 0 ok']) t.true(r.stdout.includes(word), word);
  const g = vmsvc(['generate', '--help']);
  for (const flag of ['--keep-going', '--out', '--vmm-bin', '--runtime-dir', '--log-dir', '--writable-disks', '--templates', '--timeout-up']) {
    t.true(g.stdout.includes(flag), flag);
  }
});

test('--help sends to the docs: the top level to README.md and doc/, each command to its page', (t) => {
  const top = vmsvc(['--help']);
  t.regex(top.stdout, /^Docs: README\.md, and doc\//m);
  // Every command the top-level help lists has a page, and no page is kept for a command that is gone.
  const listed = [...top.stdout.matchAll(/^ {2}vmsvc ([a-z0-9-]+)/gm)].map((m) => m[1]!);
  t.deepEqual([...listed].sort(), Object.keys(COMMAND_DOCS).sort());
  for (const command of Object.keys(COMMAND_DOCS) as DocumentedCommand[]) {
    const r = vmsvc([command, '--help']);
    t.is(r.code, 0, command);
    t.true(r.stdout.includes(`Docs: ${COMMAND_DOCS[command]} `), `${command} --help names ${COMMAND_DOCS[command]}`);
  }
});

test('--templates uses the user\'s copy of a template and the bundled ones for the rest', (t) => {
  const { root, data } = guide();
  cleanup(t, root);
  const mine = path.join(root, 'tpl', 'common');
  fs.mkdirSync(mine, { recursive: true });
  fs.writeFileSync(path.join(mine, 'ready-check.hbs'), '#!{{execlineb}} -P\n# mine, for {{vmm}}\n');
  const out = path.join(root, 'out');
  t.is(vmsvc(['generate', '--data', data, '--out', out, '--templates', path.join(root, 'tpl')]).code, 0);
  t.is(fs.readFileSync(path.join(out, 'vm-netvm', 'data', 'check'), 'utf8'), '#!/bin/execlineb -P\n# mine, for cloud-hypervisor\n');
  t.regex(fs.readFileSync(path.join(out, 'vm-netvm', 'run'), 'utf8'), /cloud-hypervisor/);
  fs.writeFileSync(path.join(mine, 'ready-check.hbs'), '{{nosuchfield}}\n');
  const bad = vmsvc(['generate', '--data', data, '--out', out, '--templates', path.join(root, 'tpl')]);
  t.is(bad.code, 111);
  t.regex(bad.stderr, /ready-check\.hbs.*nosuchfield/);
  // It failed halfway through writing: the old tree stays, nothing else is left beside it.
  t.regex(fs.readFileSync(path.join(out, 'vm-netvm', 'data', 'check'), 'utf8'), /# mine/);
  t.is(fs.readdirSync(root).filter((n) => n.startsWith('.out.')).length, 1, fs.readdirSync(root).join(' '));
});

/**
 * Nothing raw reaches a terminal (issue 10, item 5): every message, table,
 * graph and --json output of the CLI, run as a user runs it, carries no
 * control, bidi, invisible or separator character, and different names
 * print differently.
 */
import test from 'ava';
import fc from 'fast-check';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { printable, tableNames, terminalJson } from '../../generator/util/bytes.js';
import { shellQuote } from '../../generator/admin/show.js';
import { vmsvc } from '../support/cli.js';
import { makeVm, tempDir } from '../support/data-dir.js';

/**
 * What must never be written raw, written independently of bytes.ts: C0 but
 * the newline, DEL, C1, bidi controls and isolates, zero-width and other
 * format characters, separators, spaces but U+0020, Hangul fillers, variation
 * selectors, tag characters.
 */
const RAW = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u00a0\u00ad\u034f\u061c\u115f\u1160\u1680\u180b-\u180f\u2000-\u200f\u2028-\u202f\u205f-\u206f\u3000\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufffb\u{e0000}-\u{e0fff}]/u;

function assertNoRaw(t: { fail(m: string): void; pass(): void }, what: string, text: string): void {
  const m = RAW.exec(text);
  if (m === null) t.pass();
  else t.fail(`${what} holds raw U+${m[0].codePointAt(0)!.toString(16).padStart(4, '0')} at ${m.index}: ${JSON.stringify(text.slice(Math.max(0, m.index - 40), m.index + 40))}`);
}

/** Hostile, lookalike and invisible names; the first two are refused (controls), the rest are valid VMs. */
const ESC = 'esc\u001b[31m';
const CSI8 = 'c1\u009b31m';
const LOOKALIKES = ['atxt.exe', 'a\u202etxt.exe', 'b', 'b\ufeff', 'zw\u200bj', 'zwj', 'sp ace', 'sp\u00a0ace', 'ls\u2028sep', 'iso\u2066x\u2069'];

/** Different names that look alike without any invisible character: é composed and not, fullwidth letters. */
const NORMALISED = ['caf\u00e9', 'cafe\u0301', '\uff46\uff57', 'fw'];

function hostileTree(t: { teardown(fn: () => void): void }): { root: string; data: string; out: string; log: string } {
  const root = tempDir('vmsvc-term-');
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  const data = path.join(root, 'data');
  fs.mkdirSync(data);
  for (const n of [...LOOKALIKES, ...NORMALISED, CSI8]) makeVm(data, n);
  makeVm(data, 'net');
  makeVm(data, 'client', { providers: ['net', 'a\u202etxt.exe'] });
  // A refused VM holding a non-UTF-8 name: the message shows both.
  const esc = makeVm(data, ESC);
  fs.writeFileSync(Buffer.concat([Buffer.from(`${esc}/blk/`), Buffer.from([0xff, 0x1b]), Buffer.from('.img')]), 'x');
  return { root, data, out: path.join(root, 'out'), log: path.join(root, 'log') };
}

test('check: diagnostics and --json carry nothing raw; the JSON reads back to the exact names', (t) => {
  const f = hostileTree(t);
  const text = vmsvc(['check', '--data', f.data]);
  t.is(text.code, 1);
  assertNoRaw(t, 'check stderr', text.stderr);
  assertNoRaw(t, 'check stdout', text.stdout);
  t.true(text.stderr.includes(`"${f.data}/esc\\x1b[31m/blk/\\xff\\x1b.img" has a name that is not valid UTF-8`), text.stderr);
  const json = vmsvc(['check', '--data', f.data, '--json']);
  assertNoRaw(t, 'check --json', json.stdout);
  const parsed = JSON.parse(json.stdout) as { vms: string[]; skipped: Array<{ name: string }> };
  t.deepEqual(parsed.skipped.map((s) => s.name).sort(), [CSI8, ESC].sort());
  for (const n of [...LOOKALIKES, ...NORMALISED]) t.true(parsed.vms.includes(n), `check --json lists ${JSON.stringify(n)} exactly`);
});

test('generate --keep-going, ls, show, graph: every table, report and graph escapes, and lookalikes print differently', (t) => {
  const f = hostileTree(t);
  const gen = vmsvc(['generate', '--data', f.data, '--out', f.out, '--keep-going', '--runtime-dir', path.join(f.root, 'run'), '--log-dir', f.log]);
  t.is(gen.code, 0, gen.stderr);
  assertNoRaw(t, 'generate stderr', gen.stderr);
  // One service dir, unsupervised: a scandir holding none of the tree's services is no live system, and ls refuses it.
  const scandir = path.join(f.root, 'scandir');
  fs.mkdirSync(path.join(scandir, `vm-${LOOKALIKES[0]!}`), { recursive: true });
  const ls = vmsvc(['ls', '--source', f.out, '--scandir', scandir]);
  t.is(ls.code, 0, ls.stderr);
  assertNoRaw(t, 'ls', ls.stdout);
  const names = ls.stdout.split('\n').slice(1).filter((l) => l !== '').map((l) => l.split(/ {2,}/)[0]!);
  t.is(new Set(names).size, names.length, `every row's name differs: ${JSON.stringify(names)}`);
  for (const n of [...LOOKALIKES, CSI8, ESC]) t.true(names.includes(printable(n)), `ls shows ${JSON.stringify(n)} as ${printable(n)}`);
  t.true(names.includes('a\\u{202e}txt.exe') && names.includes('b\\u{feff}') && names.includes('sp\\xa0ace'), JSON.stringify(names));
  // Lookalikes up to normalisation are spelled out in ASCII.
  for (const n of ['caf\\xe9', 'cafe\\u{301}', '\\u{ff46}\\u{ff57}', 'fw']) t.true(names.includes(n), `ls shows ${n}: ${JSON.stringify(names)}`);
  t.is(new Set(names.map((n) => n.normalize('NFKC'))).size, names.length, 'no two rows look alike once normalised');
  const lsJson = vmsvc(['ls', '--source', f.out, '--scandir', scandir, '--json']);
  assertNoRaw(t, 'ls --json', lsJson.stdout);
  t.deepEqual((JSON.parse(lsJson.stdout) as { vms: Array<{ name: string }> }).vms.map((v) => v.name).sort(), [...LOOKALIKES, ...NORMALISED, CSI8, ESC, 'client', 'net'].sort());
  for (const format of ['dot', 'mermaid']) {
    const g = vmsvc(['graph', '--source', f.out, '--format', format]);
    t.is(g.code, 0, g.stderr);
    assertNoRaw(t, `graph ${format}`, g.stdout);
    t.true(g.stdout.includes('c1\\\\x9b31m') || g.stdout.includes('c1\\x9b31m'), `graph ${format} names the skipped VM escaped`);
  }
  const gj = vmsvc(['graph', '--source', f.out, '--json']);
  assertNoRaw(t, 'graph --json', gj.stdout);
  t.true((JSON.parse(gj.stdout) as { nodes: Array<{ name: string }> }).nodes.some((n) => n.name === CSI8));
  for (const args of [[], ['--json']]) {
    const s = vmsvc(['show', 'client', '--source', f.out, '--scandir', scandir, ...args]);
    t.is(s.code, 0, s.stderr);
    assertNoRaw(t, `show ${args.join(' ')}`, s.stdout);
  }
  // A skipped VM is shown (why, the file at fault), its name escaped.
  const skipped = vmsvc(['show', CSI8, '--source', f.out, '--scandir', scandir]);
  t.is(skipped.code, 0, skipped.stderr);
  assertNoRaw(t, 'show of a skipped VM', skipped.stdout);
  t.true(skipped.stdout.startsWith('VM c1\\x9b31m\n'), skipped.stdout);
  const unknown = vmsvc(['show', 'nope\u009b\u202e', '--source', f.out, '--scandir', scandir]);
  t.is(unknown.code, 100);
  assertNoRaw(t, 'show of an unknown VM', unknown.stderr);
});

test('ls, show: link fields, addresses and a service type from an edited tree are escaped; a manifest JSON error too', (t) => {
  // The generated tree is untrusted input for the admin commands (doc/threat-model.md,
  // Terminal output): before, show printed the links' MACs, IP, bridge, tap and
  // service and the services' TYPE raw, ls its ADDRESSES, and readTree
  // JSON.parse's message, which quotes the manifest.
  const root = tempDir('vmsvc-term-');
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  const data = path.join(root, 'data');
  fs.mkdirSync(data);
  makeVm(data, 'net');
  makeVm(data, 'client', { providers: ['net'] });
  const out = path.join(root, 'out');
  t.is(vmsvc(['generate', '--data', data, '--out', out, '--runtime-dir', path.join(root, 'run'), '--log-dir', path.join(root, 'log')]).code, 0);
  const manifestFile = path.join(out, 'vmsvc-manifest.json');
  const manifest = JSON.parse(fs.readFileSync(manifestFile, 'utf8')) as { links: Array<Record<string, string>> };
  const link = manifest.links[0]!;
  const service = 'svc\u001b]0;x\u0007';
  fs.renameSync(path.join(out, link['service']!), path.join(out, service));
  fs.writeFileSync(path.join(out, service, 'type'), 'one\u001b[2Jshot\n');
  Object.assign(link, {
    clientMac: 'mac\u001b[7mINV', providerMac: 'p\u009b7m', clientIp: 'ip\u001b[2J\u202e', bridge: 'br\u007f', clientTap: 'tc\u001b[A', providerTap: 'tp\u0008', service,
  });
  fs.writeFileSync(manifestFile, JSON.stringify(manifest));
  const scandir = path.join(root, 'scandir');
  fs.mkdirSync(path.join(scandir, 'vm-net'), { recursive: true });
  for (const args of [['ls'], ['ls', '--json'], ...['client', 'net'].flatMap((vm) => [['show', vm], ['show', vm, '--json']])]) {
    const r = vmsvc([...args, '--source', out, '--scandir', scandir]);
    const what = args.join(' ');
    t.is(r.code, 0, `${what}: ${r.stderr}`);
    assertNoRaw(t, what, r.stdout);
    assertNoRaw(t, `${what} stderr`, r.stderr);
  }
  t.regex(vmsvc(['ls', '--source', out, '--scandir', scandir]).stdout, /ip\\x1b\[2J\\u\{202e\}/);
  const shown = vmsvc(['show', 'client', '--source', out, '--scandir', scandir]).stdout;
  t.true(shown.includes('mac\\x1b[7mINV') && shown.includes('one\\x1b[2Jshot'), shown);
  // An edit that breaks the JSON: Node's message quotes the text around the fault.
  fs.writeFileSync(manifestFile, '{"vms": \u001b[31m}');
  for (const args of [['ls'], ['show', 'net']]) {
    const r = vmsvc([...args, '--source', out, '--scandir', scandir]);
    t.is(r.code, 1, r.stderr);
    t.regex(r.stderr, /vmsvc-manifest\.json is not valid JSON/);
    assertNoRaw(t, `${args.join(' ')} stderr on a broken manifest`, r.stderr);
  }
});

test('logs and logs --json: what the guest wrote to its serial console is escaped, and JSON reads back to it', (t) => {
  const f = hostileTree(t);
  t.is(vmsvc(['generate', '--data', f.data, '--out', f.out, '--keep-going', '--runtime-dir', path.join(f.root, 'run'), '--log-dir', f.log]).code, 0);
  const guest = 'boot \u001b]0;owned\u0007 \u009b2J \u007f \u202eevil\u202c \ufeff\u200b';
  fs.mkdirSync(path.join(f.log, 'net'), { recursive: true });
  fs.writeFileSync(path.join(f.log, 'net', 'current'), `2026-01-01 00:00:00.000000001  ${guest}\n`);
  const text = vmsvc(['logs', 'net', '--source', f.out]);
  t.is(text.code, 0, text.stderr);
  assertNoRaw(t, 'logs', text.stdout);
  t.is(text.stdout, `2026-01-01 00:00:00.000000001  ${printable(guest)}\n`);
  const json = vmsvc(['logs', 'net', '--source', f.out, '--json']);
  assertNoRaw(t, 'logs --json', json.stdout);
  t.deepEqual(JSON.parse(json.stdout), { time: '2026-01-01 00:00:00.000000001', text: guest });
});

test('start/stop: s6-rc\'s own output, which names the services, is escaped too', (t) => {
  const f = hostileTree(t);
  t.is(vmsvc(['generate', '--data', f.data, '--out', f.out, '--keep-going', '--runtime-dir', path.join(f.root, 'run'), '--log-dir', f.log]).code, 0);
  const s6rc = path.join(f.root, 's6-rc');
  // Echoes its service argument the way s6-rc's messages do.
  fs.writeFileSync(s6rc, '#!/bin/sh\nfor a; do last=$a; done\nprintf "s6-rc: info: service %s: starting\\n" "$last"\nprintf "s6-rc: warning: %s\\n" "$last" >&2\n', { mode: 0o755 });
  // A live dir as s6-rc-init makes it: start refuses one without LIVE/compiled.
  fs.mkdirSync(path.join(f.root, 'live', 'compiled'), { recursive: true });
  for (const args of [[], ['--json']]) {
    const r = vmsvc(['start', 'a\u202etxt.exe', '--source', f.out, '--s6rc', s6rc, '--live', path.join(f.root, 'live'), ...args]);
    t.is(r.code, 0, r.stderr);
    assertNoRaw(t, `start ${args.join(' ')} stdout`, r.stdout);
    assertNoRaw(t, `start ${args.join(' ')} stderr`, r.stderr);
    t.true((r.stdout + r.stderr).includes('service vm-a\\u{202e}txt.exe: starting'));
  }
});

test('check-s6rc and usage errors: names in any source tree and in the arguments are escaped', (t) => {
  const root = tempDir('vmsvc-term-');
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  const svc = path.join(root, 'src', 'x\u009bq\u202e');
  fs.mkdirSync(svc, { recursive: true });
  fs.writeFileSync(path.join(svc, 'type'), 'bundle\n');
  fs.writeFileSync(path.join(svc, 'contents'), 'gone\u2066\n');
  const r = vmsvc(['check-s6rc', path.join(root, 'src')]);
  t.is(r.code, 1);
  assertNoRaw(t, 'check-s6rc stderr', r.stderr);
  t.true(r.stderr.includes('x\\x9bq\\u{202e}'), r.stderr);
  // --json, like check's: the problems as values, the name exact once parsed, nothing raw on the terminal.
  const asJson = vmsvc(['check-s6rc', path.join(root, 'src'), '--json']);
  t.is(asJson.code, 1);
  assertNoRaw(t, 'check-s6rc --json', asJson.stdout);
  const parsed = JSON.parse(asJson.stdout) as { ok: boolean; problems: Array<{ service: string | null; file: string; reason: string }> };
  t.false(parsed.ok);
  t.true(parsed.problems.length > 0 && parsed.problems.every((x) => x.service === 'x\u009bq\u202e'), asJson.stdout);
  t.is(asJson.stderr, '');
  const usage = vmsvc(['ls', '--bogus\u009b\u202e']);
  t.is(usage.code, 100);
  assertNoRaw(t, 'usage error', usage.stderr);
  const flag = vmsvc(['check', '--data', root, '--runtime-dir', 'rel\u202e']);
  t.is(flag.code, 100);
  assertNoRaw(t, 'flag error', flag.stderr);
  const io = vmsvc(['check', '--data', path.join(root, 'missing\u009b')]);
  t.is(io.code, 111);
  assertNoRaw(t, 'scan error', io.stderr);
});

// ---------------------------------------------------------------------------
// The functions themselves, over random text

const anyText = fc.string({ unit: 'binary', maxLength: 12 });
const nasty = fc.array(fc.oneof(
  fc.constantFrom('\\', '\n', '\t', ' ', '\u001b', '\u007f', '\u009b', '\u00a0', '\u00ad', '\u202e', '\u2066', '\ufeff', '\u200b', '\u2028', '\u3164', '\ufe0f', '\u{e0041}', '\ud800', 'x{', 'u{', '"', "'", 'a', '\u00e9'),
  fc.string({ unit: 'binary', maxLength: 2 }),
), { maxLength: 10 }).map((a) => a.join(''));

test('printable: nothing raw comes out, and different strings print differently', (t) => {
  // Well-formed too: a lone surrogate would be written as U+FFFD and merge with others.
  const wellFormed = (x: string) => Buffer.from(x, 'utf8').toString('utf8') === x;
  fc.assert(fc.property(fc.oneof(anyText, nasty), (s) => !RAW.test(printable(s)) && !printable(s).includes('\n') && wellFormed(printable(s))), { numRuns: 5000 });
  fc.assert(fc.property(fc.oneof(anyText, nasty), fc.oneof(anyText, nasty), (a, b) => a === b || printable(a) !== printable(b)), { numRuns: 5000 });
  t.is(printable('a\u202eb\ufeff\u00a0\u009b\\'), 'a\\u{202e}b\\u{feff}\\xa0\\x9b\\\\');
});

test('tableNames: no two names of a table show alike, even once NFKC-normalised, and each shows without anything raw', (t) => {
  const lookalike = fc.constantFrom('caf\u00e9', 'cafe\u0301', '\ufb01', 'fi', '\uff46', 'f', 'a\u00a0b', 'a b', 'x\\u{301}', 'x\u0301', '\u212b', '\u00c5', 'A\u030a');
  fc.assert(fc.property(fc.uniqueArray(fc.oneof(lookalike, nasty, anyText), { maxLength: 8 }), (names) => {
    const show = tableNames(names);
    const shown = names.map(show);
    return new Set(shown.map((s) => s.normalize('NFKC'))).size === names.length && shown.every((s) => !RAW.test(s) && !s.includes('\n'));
  }), { numRuns: 5000 });
  t.is(tableNames(['caf\u00e9'])('caf\u00e9'), 'caf\u00e9', 'a name with no lookalike shows as printable() shows it');
});

test('terminalJson: nothing raw comes out and JSON.parse gives the value back', (t) => {
  const value = fc.dictionary(fc.oneof(anyText, nasty), fc.array(fc.oneof(anyText, nasty), { maxLength: 3 }), { maxKeys: 4 });
  fc.assert(fc.property(value, fc.constantFrom(undefined, 2), (v, indent) => {
    const text = terminalJson(v, indent);
    return !RAW.test(text) && JSON.stringify(JSON.parse(text)) === JSON.stringify(v);
  }), { numRuns: 3000 });
  t.is(terminalJson({ n: 'a\u009bb' }), '{"n":"a\\u009bb"}');
});

test('show\'s shell quoting: bash reads every quoted word back exactly, and nothing raw is printed', (t) => {
  const words = fc.sample(fc.oneof(nasty, anyText).filter((w) => !w.includes('\u0000') && !/[\ud800-\udfff]/.test(w)), 300);
  words.push('a\u202eb', 'c1\u009bx', '\\u{41}', "it's", '\u{e0041}');
  const script = words.map((w) => `printf '%s\\0' ${shellQuote(w)}`).join('\n');
  for (const w of words) assertNoRaw(t, `quoted ${JSON.stringify(w)}`, shellQuote(w));
  const r = spawnSync('bash', ['-c', script], { env: { ...process.env, LC_ALL: 'C.UTF-8' } });
  t.is(r.status, 0, r.stderr.toString());
  t.deepEqual(r.stdout.toString('utf8').split('\0').slice(0, -1), words);
});

/**
 * Every run ends, in bounded time and memory, and says what went wrong in
 * one line (issue 10, items 3, 4 and 7): floods of problems from one VM,
 * keep-going over thousands of broken VMs, links of broken VMs, empty path
 * flags, and the fallback for a bug. The CLI cases run the built bundle
 * (`npm run build` first).
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { main } from '../../generator/cli/cli.js';
import { defaultOptions } from '../../generator/pipeline/options.js';
import { checkDataDir } from '../../generator/pipeline/index.js';
import { SHOWN_PER_VM } from '../../generator/pipeline/report.js';
import { VMSVC, withoutCgroup } from '../support/cli.js';
import { makeVm, tempDir } from '../support/data-dir.js';

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** The CLI with room for big outputs, killed after `timeoutMs` (a hang fails, it does not stall the suite). */
function run(args: readonly string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; bin?: string; timeoutMs?: number } = {}): Run {
  const r = spawnSync(process.execPath, [opts.bin ?? VMSVC, ...withoutCgroup(args)], {
    encoding: 'utf8', cwd: opts.cwd, env: opts.env ?? process.env, timeout: opts.timeoutMs ?? 60_000, maxBuffer: 256 * 1024 * 1024,
  });
  if (r.error !== undefined) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function emptyFiles(dir: string, names: Iterable<string>): void {
  fs.mkdirSync(dir, { recursive: true });
  for (const n of names) fs.closeSync(fs.openSync(path.join(dir, n), 'w'));
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

function temp(t: { teardown: (fn: () => void) => void }): string {
  const root = tempDir('vmsvc-bounds-');
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  return root;
}

// ------------------------------------------------------------------ floods of problems

test.serial('one VM with 130,000 empty images: keep-going still writes the healthy VM, one line per problem up to the bound', (t) => {
  const root = temp(t);
  const data = path.join(root, 'data');
  makeVm(data, 'good');
  makeVm(data, 'bad', { disks: [] });
  emptyFiles(path.join(data, 'bad', 'blk'), range(130_000).map((i) => `${i}.img`));
  const out = path.join(root, 'out');
  const r = run(['generate', '--keep-going', '--data', data, '--out', out]);
  t.is(r.code, 0, r.stderr.slice(-2000));
  t.notRegex(r.stderr, /RangeError|\n\s+at /);
  t.deepEqual(fs.readdirSync(out).filter((n) => n.startsWith('vm-')).sort(), ['vm-good', 'vm-good-log']);
  const lines = r.stderr.split('\n');
  t.is(lines.filter((l) => l.includes('error[img-empty]')).length, SHOWN_PER_VM);
  t.true(lines.includes(`vmsvc: ${130_000 - SHOWN_PER_VM} more problems of VM bad not shown (vmsvc check --json lists all 130000)`), r.stderr.slice(-500));
  t.true(lines.includes('vmsvc: skipped VM bad: invalid (img-empty)'));
});

test('check --json lists every problem of a VM; the text output shows the first ones and counts the rest', (t) => {
  const root = temp(t);
  const data = path.join(root, 'data');
  const extra = 30;
  makeVm(data, 'a', { disks: [] });
  emptyFiles(path.join(data, 'a', 'blk'), range(SHOWN_PER_VM + extra).map((i) => `${String(i).padStart(3, '0')}.img`));
  makeVm(data, 'b', { disks: [] });
  emptyFiles(path.join(data, 'b', 'blk'), ['x.img', 'y.img']);
  const json = run(['check', '--json', '--data', data]);
  t.is(json.code, 1);
  const parsed = JSON.parse(json.stdout) as { diagnostics: Array<{ vm: string | null }> };
  t.is(parsed.diagnostics.filter((d) => d.vm === 'a').length, SHOWN_PER_VM + extra);
  const text = run(['check', '--data', data]);
  t.is(text.code, 1);
  const shown = text.stderr.split('\n').filter((l) => l.includes('error[img-empty]'));
  t.is(shown.filter((l) => l.includes('/a/blk/')).length, SHOWN_PER_VM);
  t.is(shown.filter((l) => l.includes('/b/blk/')).length, 2, 'other VMs are not cut short');
  t.true(text.stderr.includes(`vmsvc: ${extra} more problems of VM a not shown (vmsvc check --json lists all ${SHOWN_PER_VM + extra})\n`));
  t.false(text.stderr.includes('of VM b not shown'));
});

// ------------------------------------------------------------------ keep-going over many broken VMs

// ------------------------------------------------------------------ links of broken VMs

test.serial('keep-going: links of broken VMs do not count against the 65534 addresses, so the healthy VMs are kept', (t) => {
  const root = temp(t);
  const data = path.join(root, 'data');
  makeVm(data, 'netvm');
  makeVm(data, 'appvm', { providers: ['netvm'] });
  // 363 VMs without blk/, each a client of every later one (acyclic): 65,703 links.
  const broken = range(363).map((i) => `broken${String(i).padStart(3, '0')}`);
  for (const [i, name] of broken.entries()) {
    makeVm(data, name, { disks: null });
    emptyFiles(path.join(data, name, 'providers', 'net'), broken.slice(i + 1));
  }
  const { result } = checkDataDir(data, defaultOptions);
  t.deepEqual([...new Set(result.diagnostics.map((d) => d.rule))], ['blk-missing']);
  t.deepEqual(result.vms.map((v) => v.name), ['appvm', 'netvm']);
  t.is(result.skipped.length, broken.length);
  t.true(result.skipped.every((s) => s.reason === 'invalid (blk-missing)'));
});

test('links of VMs skipped because they need a broken provider do not count either', (t) => {
  const root = temp(t);
  const data = path.join(root, 'data');
  makeVm(data, 'netvm');
  makeVm(data, 'appvm', { providers: ['netvm'] });
  makeVm(data, 'dead', { kernel: null });
  // 257 healthy-looking VMs that each need `dead` and 255 providers: 65,792 links, all skipped.
  const providers = range(255).map((i) => `p${String(i).padStart(3, '0')}`);
  for (const p of providers) makeVm(data, p);
  for (const i of range(257)) makeVm(data, `c${String(i).padStart(3, '0')}`, { providers: ['dead', ...providers] });
  const { result } = checkDataDir(data, defaultOptions);
  t.deepEqual(result.diagnostics.map((d) => d.rule), ['vmlinux-missing']);
  t.deepEqual(result.vms.map((v) => v.name), ['appvm', 'netvm', ...providers]);
  t.true(result.skipped.filter((s) => s.name !== 'dead').every((s) => s.reason === 'needs provider dead, which is skipped'));
});

// ------------------------------------------------------------------ empty paths

const EMPTY_PATH_LINES: ReadonlyArray<readonly [string, readonly string[]]> = [
  ['data', ['check', '--data', '']],
  ['data', ['check', '--json', '--data', '']],
  ['data', ['check', '--data', '', '--no-user-console']], // yargs, not the fast parser
  ['data', ['generate', '--data', '', '--out', 'OUT']],
  ['out', ['generate', '--data', 'DATA', '--out', '']],
  ['out', ['generate', '--data', 'DATA', '--out', '', '--no-user-console']],
  ['templates', ['generate', '--data', 'DATA', '--out', 'OUT', '--templates', '']],
  ['templates', ['check', '--data', 'DATA', '--templates', '', '--no-user-console']],
  ['data', ['apply', '--data', '', '--state', 'STATE', '--scandir', 'SCAN', '--dry-run']],
  ['state', ['apply', '--data', 'DATA', '--state', '', '--scandir', 'SCAN', '--dry-run']],
  ['scandir', ['apply', '--data', 'DATA', '--state', 'STATE', '--scandir', '', '--dry-run']],
  ['live', ['apply', '--data', 'DATA', '--state', 'STATE', '--scandir', 'SCAN', '--live', '', '--dry-run']],
  ['s6-rc-compile', ['apply', '--data', 'DATA', '--state', 'STATE', '--scandir', 'SCAN', '--s6-rc-compile', '', '--dry-run']],
  ['state', ['apply', '--data', 'DATA', '--state', '', '--scandir', 'SCAN', '--no-user-console']],
  ['source', ['ls', '--source', '']],
  ['scandir', ['ls', '--source', 'OUT', '--scandir', '']],
  ['source', ['show', 'a', '--source', '']],
  ['source', ['graph', '--source', '']],
  ['live', ['start', 'a', '--source', 'OUT', '--live', '']],
  ['s6rc', ['stop', 'a', '--source', 'OUT', '--s6rc', '']],
  ['source', ['console', 'a', '--source', '']],
  ['source', ['logs', 'a', '--source', '']],
];

test('an empty path flag is a usage error for every command and both parsers, and nothing is read from the cwd', (t) => {
  // The cwd is itself a valid data dir holding a generated tree: an empty path taken as "." would succeed.
  const cwd = temp(t);
  makeVm(cwd, 'a');
  const data = path.join(temp(t), 'data');
  makeVm(data, 'a');
  const out = path.join(path.dirname(data), 'out');
  t.is(run(['generate', '--data', data, '--out', out]).code, 0);
  const subst = (a: string): string => ({ DATA: data, OUT: out, STATE: path.join(cwd, 'state'), SCAN: path.join(cwd, 'scan') })[a] ?? a;
  const before = fs.readdirSync(cwd).sort();
  for (const [flag, args] of EMPTY_PATH_LINES) {
    const r = run(args.map(subst), { cwd });
    const line = args.join(' ');
    t.is(r.code, 100, `${line}: ${r.stderr}`);
    t.is(r.stderr, `vmsvc: --${flag} must not be empty (an empty path would mean the current directory)\n`, line);
    t.is(r.stdout, '', line);
  }
  const s6rc = run(['check-s6rc', out, ''], { cwd });
  t.is(s6rc.code, 100);
  t.is(s6rc.stderr, 'vmsvc: check-s6rc: a source directory must not be empty (it would mean the current directory)\n');
  t.deepEqual(fs.readdirSync(cwd).sort(), before, 'nothing written in the cwd');
});

// ------------------------------------------------------------------ the fallback for a bug

test('a bug inside a command is one line and exit 111; VMSVC_DEBUG=1 adds the stack', async (t) => {
  const data = path.join(temp(t), 'data');
  makeVm(data, 'a');
  const failing = (): void => {
    throw new TypeError('a bug\nwith \u001b[31m in it');
  };
  const said: string[] = [];
  const code = await main(['check', '--data', data], { out: failing, err: (s) => said.push(s) });
  t.is(code, 111);
  t.deepEqual(said, ['vmsvc: internal error: TypeError: a bug\\nwith \\x1b[31m in it (a bug in vmsvc; VMSVC_DEBUG=1 shows where)\n']);
  const debugSaid: string[] = [];
  process.env['VMSVC_DEBUG'] = '1';
  try {
    t.is(await main(['check', '--data', data], { out: failing, err: (s) => debugSaid.push(s) }), 111);
  } finally {
    delete process.env['VMSVC_DEBUG'];
  }
  t.is(debugSaid.length, 1);
  t.true(debugSaid[0]!.startsWith(said[0]!), debugSaid[0]);
  t.regex(debugSaid[0]!, /\n {4}at (Object\.)?failing /);
  t.false(debugSaid[0]!.includes('\u001b'), 'the stack is escaped too');
});

test('a bundle that throws is one line and exit 111 from bin/vmsvc.cjs; VMSVC_DEBUG=1 adds the stack', (t) => {
  const root = temp(t);
  fs.cpSync(path.dirname(VMSVC), path.join(root, 'bin'), { recursive: true });
  fs.mkdirSync(path.join(root, 'dist'));
  fs.writeFileSync(path.join(root, 'dist', 'vmsvc.cjs'), 'throw new RangeError("Maximum call stack size exceeded\\u001b");\n');
  const bin = path.join(root, 'bin', 'vmsvc.cjs');
  const plain = run(['check', '--data', root], { bin });
  t.is(plain.code, 111);
  t.is(plain.stderr, 'vmsvc: internal error: RangeError: Maximum call stack size exceeded\\x1b (a bug in vmsvc; VMSVC_DEBUG=1 shows where)\n');
  const debug = run(['check', '--data', root], { bin, env: { ...process.env, VMSVC_DEBUG: '1' } });
  t.is(debug.code, 111);
  t.true(debug.stderr.startsWith(plain.stderr));
  t.regex(debug.stderr, /\n {4}at .*dist\/vmsvc\.cjs:1/);
});

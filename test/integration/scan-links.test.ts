/**
 * The scan's symbolic link verdicts against the kernel's own path walk.
 *
 * fast-check builds random trees of directories, files, FIFOs and links (to
 * directories, through `..`, absolute and relative, inside the data dir and
 * out of it, in chains and loops); vmsvc's verdict on each vmlinux and
 * blk/*.img is then compared with what the kernel reaches when it opens the
 * same path (open(2) with O_PATH, which never opens a FIFO or a device, and
 * fstat): the same file (device and inode), "inside" exactly when that file
 * is below the data dir, dangling exactly on ENOENT, a loop exactly on ELOOP.
 * For a file inside, the link-free path the VMM is given must reach the same
 * file and hold no link.
 */
import test from 'ava';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import { MAX_SYMLINKS, scanDataDir } from '../../generator/pipeline/scan.js';
import type { Node, ScannedVm } from '../../generator/rules/scanned.js';
import { ELF_HEADER, tempDir } from '../support/data-dir.js';

const O_PATH = 0o10000000;
const NAMES = ['a', 'b', 'd', 'e', 'vm', 'blk', 'out', 'data', 'k', 'f'] as const;

type Comp = '..' | '.' | '' | (typeof NAMES)[number];
interface Target {
  /** Where an absolute target starts: the data dir's real path, the temp root's, or /dev/null; null for relative. */
  readonly abs: 'data' | 'root' | 'null' | null;
  readonly comps: readonly Comp[];
}
type Kind = 'dir' | 'file' | 'link';
interface Entry {
  /** Which of DIRS it goes in, and an optional subdirectory made on the way. */
  readonly dir: number;
  readonly sub: (typeof NAMES)[number] | null;
  readonly name: (typeof NAMES)[number];
  readonly kind: Kind;
  readonly target: Target;
}
interface World {
  readonly entries: readonly Entry[];
  readonly vmlinux: Target;
  readonly images: readonly Target[];
}

/** Relative to the temp root: the data dir, a VM in it, and a directory outside it. */
const DIRS = ['data', 'data/vm', 'data/vm/blk', 'data/a', 'out', 'out/a', '.'] as const;

const comp = fc.constantFrom<Comp>('..', '..', '..', '.', '', ...NAMES, 'a', 'd', 'e', 'k');
const target: fc.Arbitrary<Target> = fc.record({
  abs: fc.constantFrom<Target['abs']>(null, null, null, 'data', 'root', 'null'),
  // Mostly ending on a name that exists somewhere, so that few verdicts are "dangling".
  comps: fc.tuple(fc.array(comp, { maxLength: 4 }), fc.constantFrom<Comp>('k', 'k', 'k', 'f', 'a', 'b', '..', ''))
    .map(([init, last]) => [...init, last]),
});
const entry: fc.Arbitrary<Entry> = fc.record({
  dir: fc.nat({ max: DIRS.length - 1 }),
  sub: fc.option(fc.constantFrom(...NAMES), { freq: 3 }),
  name: fc.constantFrom(...NAMES),
  kind: fc.constantFrom<Kind>('dir', 'file', 'link', 'link', 'link'),
  target,
});
const world: fc.Arbitrary<World> = fc.record({
  entries: fc.array(entry, { maxLength: 14 }),
  vmlinux: target,
  images: fc.array(target, { minLength: 1, maxLength: 3 }),
});

function targetText(root: string, t: Target): string {
  const rel = t.comps.join('/');
  switch (t.abs) {
    case 'data':
      return `${path.join(root, 'data')}/${rel}`;
    case 'root':
      return `${root}/${rel}`;
    case 'null':
      return '/dev/null';
    case null:
      return rel === '' ? '.' : rel;
  }
}

/** Files and FIFOs for links to land on, inside and outside. */
const FILES = ['data/vm/k', 'data/a/k', 'out/k', 'out/a/k'] as const;
const FIFOS = ['data/vm/f', 'data/a/f', 'out/f'] as const;
/** Links that loop, for chains to run into, and links to directories in and out, for `..` after them. */
const LOOPS = [
  ['data/a/b', '../a/b'], ['out/b', 'b'], ['data/vm/blk/b', '../blk/b'],
  ['data/vm/d', '../../out/a'], ['data/vm/e', '../a'], ['data/vm/blk/d', '../../../out'], ['out/a/e', '../../data/vm'],
] as const;

function build(root: string, w: World): void {
  for (const d of DIRS) fs.mkdirSync(path.join(root, d), { recursive: true });
  for (const f of FILES) fs.writeFileSync(path.join(root, f), ELF_HEADER);
  if (spawnSync('mkfifo', FIFOS.map((f) => path.join(root, f))).status !== 0) throw new Error('mkfifo failed');
  for (const [link, to] of LOOPS) fs.symlinkSync(to, path.join(root, link));
  for (const e of w.entries) {
    let dir = path.join(root, DIRS[e.dir]!);
    if (e.sub !== null) {
      dir = path.join(dir, e.sub);
      if (!exists(dir)) fs.mkdirSync(dir);
      if (!fs.lstatSync(dir).isDirectory()) continue;
    }
    const p = path.join(dir, e.name);
    if (exists(p)) continue;
    if (e.kind === 'dir') fs.mkdirSync(p);
    else if (e.kind === 'file') fs.writeFileSync(p, ELF_HEADER);
    else fs.symlinkSync(targetText(root, e.target), p);
  }
  const vm = path.join(root, 'data', 'vm');
  if (!exists(path.join(vm, 'vmlinux'))) fs.symlinkSync(targetText(root, w.vmlinux), path.join(vm, 'vmlinux'));
  w.images.forEach((t, i) => {
    const p = path.join(vm, 'blk', `l${i}.img`);
    if (!exists(p)) fs.symlinkSync(targetText(root, t), p);
  });
}

function exists(p: string): boolean {
  try {
    fs.lstatSync(p);
    return true;
  } catch {
    return false;
  }
}


/** Every object below `dir` (not `dir` itself), links not followed: dev:ino. */
function insideSet(dir: string): Set<string> {
  const out = new Set<string>();
  const walk = (d: string): void => {
    for (const name of fs.readdirSync(d)) {
      const p = path.join(d, name);
      const st = fs.lstatSync(p);
      out.add(`${st.dev}:${st.ino}`);
      if (st.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out;
}

type Kernel = { readonly ok: true; readonly id: string; readonly kind: string } | { readonly ok: false; readonly code: string };

/** What the kernel reaches at `p`: open(2) with O_PATH follows every link, and never opens a FIFO or device. */
function kernel(p: string): Kernel {
  let fd: number;
  try {
    fd = fs.openSync(p, O_PATH);
  } catch (e) {
    return { ok: false, code: (e as NodeJS.ErrnoException).code ?? 'EIO' };
  }
  try {
    const st = fs.fstatSync(fd);
    return { ok: true, id: `${st.dev}:${st.ino}`, kind: kindOf(st) };
  } finally {
    fs.closeSync(fd);
  }
}

function kindOf(st: fs.Stats): string {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'directory';
  if (st.isFIFO()) return 'fifo';
  if (st.isCharacterDevice()) return 'char-device';
  if (st.isBlockDevice()) return 'block-device';
  if (st.isSocket()) return 'socket';
  return 'other';
}

/** The problem with vmsvc's verdict on the entry at `p`, or null when it is the kernel's. */
function compare(data: string, inside: ReadonlySet<string>, p: string, node: Node): string | null {
  const k = kernel(p);
  const got = JSON.stringify(node);
  if (!k.ok) {
    const want = k.code === 'ENOENT' ? 'dangling-symlink' : k.code === 'ELOOP' ? 'symlink-loop' : 'unstatable';
    if (node.kind !== want) return `kernel: ${k.code}, vmsvc: ${got}`;
    if (node.kind === 'unstatable' && node.code !== k.code) return `kernel: ${k.code}, vmsvc: ${got}`;
    return null;
  }
  if (!inside.has(k.id)) return node.kind === 'symlink-escapes' ? null : `kernel: ${k.kind} ${k.id} outside the data dir, vmsvc: ${got}`;
  if (node.kind !== k.kind) return `kernel: ${k.kind} ${k.id} inside, vmsvc: ${got}`;
  if (!('resolved' in node)) return `no resolved path: ${got}`;
  if (node.kind === 'directory') return null; // an error for vmlinux and images alike: no path is handed on
  if (node.resolved === null) return `a link without its resolved path: ${got}`;
  const vmmPath = path.join(data, node.resolved);
  const again = kernel(vmmPath);
  if (!again.ok || again.id !== k.id) return `resolved path ${node.resolved} reaches ${JSON.stringify(again)}, not ${k.id}`;
  for (let prefix = vmmPath; prefix !== data; prefix = path.dirname(prefix)) {
    if (fs.lstatSync(prefix).isSymbolicLink()) return `resolved path ${node.resolved} holds a link at ${prefix}`;
  }
  return null;
}

/** The VM named vm; other directories in the data dir are VMs too, and not looked at. */
function vmOf(data: string): ScannedVm {
  const vms = [...scanDataDir(data).vms].filter((v) => v.name === 'vm');
  assert.equal(vms.length, 1);
  return vms[0]!;
}

test('link verdicts are the kernel\'s own, over random trees of links, directories and ..', (t) => {
  let cases = 0;
  const verdicts = new Map<string, number>();
  fc.assert(
    fc.property(world, (w) => {
      const root = fs.realpathSync(tempDir('vmsvc-links-'));
      try {
        build(root, w);
        const data = path.join(root, 'data');
        const inside = insideSet(data);
        const vm = vmOf(data);
        const checks: Array<[string, Node]> = [[path.join(data, 'vm', 'vmlinux'), vm.vmlinux]];
        for (const img of vm.images) checks.push([img.path, img.node]);
        for (const [p, node] of checks) {
          const problem = compare(data, inside, p, node);
          if (problem !== null) throw new Error(`${path.relative(root, p)}: ${problem}`);
          cases++;
          verdicts.set(node.kind, (verdicts.get(node.kind) ?? 0) + 1);
        }
      } finally {
        fs.rmSync(root, { recursive: true, force: true });
      }
    }),
    { numRuns: 400, includeErrorInReport: true },
  );
  t.log(`${cases} entries: ${[...verdicts].sort().map(([k, n]) => `${k} ${n}`).join(', ')}`);
  // The generator must reach every verdict, or the property says little.
  for (const kind of ['file', 'directory', 'fifo', 'symlink-escapes', 'dangling-symlink', 'symlink-loop']) t.true((verdicts.get(kind) ?? 0) > 0, kind);
});

test(`a chain of ${MAX_SYMLINKS} links resolves and one of ${MAX_SYMLINKS + 1} is a loop, as for the kernel`, (t) => {
  for (const length of [MAX_SYMLINKS, MAX_SYMLINKS + 1]) {
    const root = fs.realpathSync(tempDir('vmsvc-chain-'));
    try {
      const vm = path.join(root, 'data', 'vm');
      fs.mkdirSync(path.join(vm, 'blk'), { recursive: true });
      fs.writeFileSync(path.join(vm, 'k'), ELF_HEADER);
      // vmlinux is the first link of the chain: c1 ... c(length-1), then k.
      for (let i = 1; i < length; i++) fs.symlinkSync(i === length - 1 ? 'k' : `c${i + 1}`, path.join(vm, `c${i}`));
      fs.symlinkSync(length === 1 ? 'k' : 'c1', path.join(vm, 'vmlinux'));
      fs.writeFileSync(path.join(vm, 'blk', 'x.img'), 'disk');
      const node = vmOf(path.join(root, 'data')).vmlinux;
      const k = kernel(path.join(vm, 'vmlinux'));
      t.is(node.kind, k.ok ? 'file' : 'symlink-loop', `${length} links: kernel ${JSON.stringify(k)}`);
      t.is(k.ok, length === MAX_SYMLINKS);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  }
});

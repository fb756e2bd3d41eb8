/**
 * The scan against a data dir changed under it: a child process flips a link
 * in a loop while the scan runs over and over, for a bounded time. The scan
 * may see either state, or report the change, but must never read from
 * outside the data dir. Both data dirs make an outside read visible in the
 * scan's own result: the file outside has a different format from the one
 * inside, so a verdict holding the outside format was read from there.
 */
import test, { type ExecutionContext } from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { scanDataDir } from '../../generator/pipeline/scan.js';
import type { ScannedVm } from '../../generator/rules/scanned.js';
import { ELF_HEADER, tempDir } from '../support/data-dir.js';

const GZIP = Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0, 3]);
const SCAN_MS = 2500;
/** On a loaded machine the race may take longer to be met: scanning goes on until it is, up to this. */
const MAX_SCAN_MS = 15_000;

/**
 * Runs `flip` (a loop body over fs, given `dir`) in a child process until
 * killed: renames are atomic, so the scan sees one state or the other.
 */
function flipper(dir: string, body: string): { readonly stop: () => Promise<number> } {
  // In bursts: a signal handler runs only between them.
  const code = `const fs = require('fs'); const path = require('path'); const dir = process.argv[1]; let n = 0;
    process.on('SIGTERM', () => { process.stdout.write(String(n)); process.exit(0); });
    const burst = () => { for (let i = 0; i < 200; i++) { ${body}; n++; } setImmediate(burst); }; burst();`;
  const child = spawn(process.execPath, ['-e', code, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  const done = new Promise<number>((resolve) => child.on('close', () => resolve(Number(out))));
  return {
    stop: async () => {
      child.kill('SIGTERM');
      return done;
    },
  };
}

/**
 * Scans `data` for SCAN_MS, and on until `met` says the race was run (at most
 * MAX_SCAN_MS), classifying each scan of VM `vm`; stops early on an outside read.
 */
async function race(t: ExecutionContext, data: string, classify: (vm: ScannedVm) => string, met: (seen: ReadonlyMap<string, number>) => boolean): Promise<Map<string, number>> {
  const seen = new Map<string, number>();
  const start = performance.now();
  const going = (): boolean => {
    const ms = performance.now() - start;
    return !seen.has('OUTSIDE') && (ms < SCAN_MS || (ms < MAX_SCAN_MS && !met(seen)));
  };
  while (going()) {
    for (const vm of scanDataDir(data).vms) {
      if (vm.name !== 'vm') continue;
      const what = classify(vm);
      seen.set(what, (seen.get(what) ?? 0) + 1);
    }
    // Let the child run on a machine with few cores.
    await new Promise((resolve) => setImmediate(resolve));
  }
  t.log([...seen].sort().map(([k, n]) => `${k}: ${n}`).join(', '));
  return seen;
}

test('a VM dir swapped for a link to an outside dir during the scan is never read from outside', async (t) => {
  const root = fs.realpathSync(tempDir('vmsvc-race-'));
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  const data = path.join(root, 'data');
  // Inside: a compressed vmlinux. Outside, where the link goes: an ELF one.
  for (const [dir, kernel] of [[path.join(data, 'vm'), GZIP], [path.join(root, 'evil'), ELF_HEADER]] as const) {
    fs.mkdirSync(path.join(dir, 'blk'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'vmlinux'), kernel);
    fs.writeFileSync(path.join(dir, 'blk', 'root.img'), 'disk');
  }
  fs.symlinkSync('../evil', path.join(data, '.link'));
  const flip = flipper(data, `fs.renameSync(path.join(dir, 'vm'), path.join(dir, '.real')); fs.renameSync(path.join(dir, '.link'), path.join(dir, 'vm'));
    fs.renameSync(path.join(dir, 'vm'), path.join(dir, '.link')); fs.renameSync(path.join(dir, '.real'), path.join(dir, 'vm'))`);
  const raced = (seen: ReadonlyMap<string, number>): boolean => [...seen.keys()].some((k) => k.startsWith('other'));
  let seen: Map<string, number>;
  try {
    seen = await race(t, data, (vm) => {
      if (vm.vmlinuxFormat?.kind === 'elf') return 'OUTSIDE';
      if (vm.vmlinuxFormat?.kind === 'compressed') return 'inside';
      return `other (${vm.vmlinux.kind})`;
    }, raced);
  } finally {
    t.log(`${await flip.stop()} flips`);
  }
  t.false(seen.has('OUTSIDE'), 'the scan read vmlinux from the outside dir');
  t.true((seen.get('inside') ?? 0) > 0, 'some scans read the VM');
  t.true(raced(seen), 'some scans met the link: the race was run');
});

test('a directory link flipped between the check and the read never makes the scan open an outside FIFO', async (t) => {
  const root = fs.realpathSync(tempDir('vmsvc-race-'));
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  const data = path.join(root, 'data');
  const vm = path.join(data, 'vm');
  // vmlinux -> sub/k, and sub flips between in/ (k: an ELF image) and a directory outside (k: a FIFO).
  fs.mkdirSync(path.join(vm, 'blk'), { recursive: true });
  fs.mkdirSync(path.join(vm, 'in'));
  fs.mkdirSync(path.join(root, 'evil'));
  fs.writeFileSync(path.join(vm, 'in', 'k'), ELF_HEADER);
  fs.writeFileSync(path.join(vm, 'blk', 'root.img'), 'disk');
  t.is(spawnSync('mkfifo', [path.join(root, 'evil', 'k')]).status, 0);
  fs.symlinkSync('sub/k', path.join(vm, 'vmlinux'));
  fs.symlinkSync('in', path.join(vm, 'sub'));
  const flip = flipper(vm, `fs.symlinkSync('../../evil', path.join(dir, '.out')); fs.renameSync(path.join(dir, '.out'), path.join(dir, 'sub'));
    fs.symlinkSync('in', path.join(dir, '.in')); fs.renameSync(path.join(dir, '.in'), path.join(dir, 'sub'))`);
  const escaped = (seen: ReadonlyMap<string, number>): boolean => (seen.get('other (symlink-escapes)') ?? 0) > 0;
  let seen: Map<string, number>;
  try {
    seen = await race(t, data, (v) => {
      const node = v.vmlinux;
      if (node.kind !== 'file') return `other (${node.kind})`;
      // A file judged readable whose first bytes are not the ELF image inside: something else was opened.
      if (!node.readable || v.vmlinuxFormat?.kind !== 'elf') return 'OUTSIDE';
      return 'inside';
    }, escaped);
  } finally {
    t.log(`${await flip.stop()} flips`);
  }
  t.false(seen.has('OUTSIDE'), 'the scan opened something other than the file it judged');
  t.true((seen.get('inside') ?? 0) > 0, 'some scans read vmlinux');
  t.true(escaped(seen), 'some scans met the outside link: the race was run');
});

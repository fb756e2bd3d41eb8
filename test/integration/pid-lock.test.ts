/**
 * The pid lock of generate's out path and apply's state dir against what
 * someone may put where the lock goes: each case runs in a child process with
 * a time limit, since a lock opened the ordinary way blocks on a FIFO and
 * reads a link to /dev/zero without end.
 */
import test, { type ExecutionContext } from 'ava';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const PID_LOCK = fileURLToPath(new URL('../../generator/util/pid-lock.ts', import.meta.url));

/** takeLock(lock) in a child, its outcome as JSON (release left out); null when it did not end in 10 s. */
function takeInChild(lock: string): unknown {
  const script = `import { takeLock } from ${JSON.stringify(PID_LOCK)};
    const taken = takeLock(process.env.LOCK);
    process.stdout.write(JSON.stringify(taken));
    if (taken.ok) taken.release();`;
  const r = spawnSync(process.execPath, ['--import=tsx', '--input-type=module', '-e', script], {
    encoding: 'utf8', env: { ...process.env, LOCK: lock }, timeout: 10_000,
  });
  if (r.error !== undefined || r.signal !== null) return null;
  if (r.status !== 0) throw new Error(`child failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as unknown;
}

function stateDir(t: ExecutionContext): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'vmsvc-pid-lock-'));
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  return root;
}

test('a lock that is a FIFO, a link or a huge file is refused at once, naming it; nothing is followed or removed', (t) => {
  const state = stateDir(t);
  const lock = path.join(state, '.vmsvc-apply.lock');
  // A file naming a live pid: followed, the link would report this test as the holder.
  const elsewhere = path.join(state, 'elsewhere');
  fs.writeFileSync(elsewhere, `${process.pid}\n`);
  for (const [what, make, says] of [
    ['a FIFO', () => spawnSync('mkfifo', [lock]), 'is a FIFO, not a regular file'],
    ['a link to a file naming a live pid', () => fs.symlinkSync(elsewhere, lock), 'is a symbolic link, not a regular file'],
    ['a link to /dev/zero', () => fs.symlinkSync('/dev/zero', lock), 'is a symbolic link, not a regular file'],
    ['a 64 MiB file', () => fs.writeFileSync(lock, Buffer.alloc(64 * 1024 * 1024, '1')), 'is 67108864 bytes, more than the 32 bytes'],
  ] as const) {
    make();
    const taken = takeInChild(lock);
    t.not(taken, null, `${what}: takeLock did not return within 10 s`);
    t.deepEqual(taken, { ok: false, refused: `${lock} ${says}${what.startsWith('a link') ? ' (links are not followed here)' : ''}${what === 'a 64 MiB file' ? ' vmsvc reads of it' : ''}`, at: 'lock' }, what);
    t.notThrows(() => fs.lstatSync(lock), `${what}: left in place`);
    fs.rmSync(lock);
  }
  t.is(fs.readFileSync(elsewhere, 'utf8'), `${process.pid}\n`, 'the link target is untouched');
  t.deepEqual(fs.readdirSync(state), ['elsewhere'], 'no private pid file left');
});

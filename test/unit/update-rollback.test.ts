/**
 * What a killed s6-rc-update leaves beside the live dir, made by hand on a
 * temporary directory (test/system/apply-faults.test.ts kills the real one):
 * finding it, moving the running services' directories back with their old
 * definition, removing the rest; and restoring a definition over a directory
 * left half through copy_online.
 */
import test, { type ExecutionContext } from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { restoreDefinition } from '../../generator/s6rc/servicedir-copy.js';
import { leftBesideLive, rollBack } from '../../generator/apply/update-rollback.js';
import { tempDir } from '../support/data-dir.js';

function scratch(t: ExecutionContext): string {
  const dir = tempDir('vmsvc-rollback-');
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A compiled service directory as s6-rc-compile writes it. */
function compiledService(dir: string, run: string): void {
  fs.mkdirSync(path.join(dir, 'data'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'run'), run, { mode: 0o755 });
  fs.writeFileSync(path.join(dir, 'notification-fd'), '3\n');
  fs.writeFileSync(path.join(dir, 'data', 'rules'), 'allow\n');
}

/** Every file below `dir` with its mode and content, directories with their mode. */
function listing(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true, withFileTypes: true }).map((e) => {
    const full = path.join(e.parentPath, e.name);
    const rel = path.relative(dir, full);
    const mode = (fs.lstatSync(full).mode & 0o777).toString(8);
    return e.isDirectory() ? `${rel}/ ${mode}` : `${rel} ${mode} ${JSON.stringify(fs.readFileSync(full, 'utf8'))}`;
  }).sort();
}

test('restoreDefinition over a directory killed half through copy_online: exactly the compiled files, supervise/ and event/ untouched', (t) => {
  const root = scratch(t);
  const src = path.join(root, 'compiled');
  compiledService(src, '#!/bin/sh\nexec old\n');
  const want = path.join(root, 'want');
  fs.mkdirSync(want);
  fs.cpSync(src, want, { recursive: true });
  const dst = path.join(root, 'live');
  // What SIGKILL inside copy_online of a newer definition leaves: its old files in old/ (run
  // among them), newer ones copied in the list's reverse order, an empty run.new.
  fs.mkdirSync(path.join(dst, 'old'), { recursive: true });
  fs.writeFileSync(path.join(dst, 'old', 'run'), 'older\n', { mode: 0o755 });
  fs.writeFileSync(path.join(dst, 'run.new'), '', { mode: 0o755 });
  fs.writeFileSync(path.join(dst, 'run.user'), 'new only\n', { mode: 0o755 });
  fs.writeFileSync(path.join(dst, 'notification-fd'), '4\n');
  fs.mkdirSync(path.join(dst, 'env'));
  fs.writeFileSync(path.join(dst, 'env', 'X'), 'new\n');
  fs.writeFileSync(path.join(dst, 'flag-newpidns'), '');
  for (const d of ['supervise', 'event']) {
    fs.mkdirSync(path.join(dst, d));
    fs.writeFileSync(path.join(dst, d, 'status'), 'kept');
  }
  restoreDefinition(src, dst);
  const kept = (l: string): boolean => l.startsWith('supervise') || l.startsWith('event');
  t.deepEqual(listing(dst).filter((l) => !kept(l)), listing(want));
  t.deepEqual(listing(dst).filter(kept), ['event/ 755', 'event/status 644 "kept"', 'supervise/ 755', 'supervise/status 644 "kept"']);
  // Twice is once: a run killed while restoring does it again.
  restoreDefinition(src, dst);
  t.deepEqual(listing(dst).filter((l) => !kept(l)), listing(want));
});

test('restoreDefinition refuses a uint file that is not one, as s6rc_read_uint does', (t) => {
  const root = scratch(t);
  const src = path.join(root, 'compiled');
  compiledService(src, 'run\n');
  fs.writeFileSync(path.join(src, 'notification-fd'), 'three\n');
  fs.mkdirSync(path.join(root, 'live'));
  t.throws(() => restoreDefinition(src, path.join(root, 'live')), { message: /notification-fd is not an unsigned integer/ });
});

/**
 * A live dir before s6-rc-update switched: LIVE -> live:s6-rc-init:AAAAAA,
 * whose compiled db has longruns a, b and c; `a` moved into the new dir
 * live:s6-rc-update:BBBBBB beside `n` (new, copied offline); the
 * atomic_symlink4 link made, not renamed; and an old dir a killed earlier
 * update switched away from and did not remove.
 */
function killedBeforeSwitch(root: string): string {
  const live = path.join(root, 'live');
  const initial = path.join(root, 'live:s6-rc-init:AAAAAA');
  const db = path.join(root, 'db');
  for (const n of ['a', 'b', 'c']) compiledService(path.join(db, 'servicedirs', n), `#!/bin/sh\nexec ${n}\n`);
  fs.mkdirSync(path.join(initial, 'servicedirs', 'b'), { recursive: true });
  fs.mkdirSync(path.join(initial, 'servicedirs', 'c'), { recursive: true });
  fs.symlinkSync(db, path.join(initial, 'compiled'));
  fs.symlinkSync('live:s6-rc-init:AAAAAA', live);
  const update = path.join(root, 'live:s6-rc-update:BBBBBB');
  fs.mkdirSync(path.join(update, 'servicedirs', 'a', 'supervise'), { recursive: true });
  fs.writeFileSync(path.join(update, 'servicedirs', 'a', 'run'), 'newer\n', { mode: 0o755 });
  fs.mkdirSync(path.join(update, 'servicedirs', 'n'), { recursive: true });
  fs.symlinkSync('live:s6-rc-update:BBBBBB', path.join(root, 'live:skalibs-atomic_symlink4:CCCCCC'));
  fs.mkdirSync(path.join(root, 'live:s6-rc-update:DDDDDD', 'servicedirs', 'gone'), { recursive: true });
  // Not s6-rc's: left alone.
  fs.mkdirSync(path.join(root, 'live:mine'));
  return live;
}

test('leftBesideLive finds the new dir with the moved service, the switch link and an old dir; the live one is not among them', (t) => {
  const live = killedBeforeSwitch(scratch(t));
  t.deepEqual(leftBesideLive(live), [
    { name: 'live:s6-rc-update:BBBBBB', moved: ['a'] },
    { name: 'live:s6-rc-update:DDDDDD', moved: [] },
    { name: 'live:skalibs-atomic_symlink4:CCCCCC', moved: [] },
  ]);
});

test('rollBack moves the running service back with its old definition and removes the leftovers; a second run finds nothing', (t) => {
  const root = scratch(t);
  const live = killedBeforeSwitch(root);
  rollBack(live, leftBesideLive(live));
  t.deepEqual(fs.readdirSync(path.join(live, 'servicedirs')).sort(), ['a', 'b', 'c']);
  t.is(fs.readFileSync(path.join(live, 'servicedirs', 'a', 'run'), 'utf8'), '#!/bin/sh\nexec a\n');
  t.true(fs.existsSync(path.join(live, 'servicedirs', 'a', 'supervise')), 'its supervise dir moved with it');
  t.deepEqual(fs.readdirSync(root).sort(), ['db', 'live', 'live:mine', 'live:s6-rc-init:AAAAAA']);
  t.deepEqual(leftBesideLive(live), []);
});

test('leftBesideLive without a live dir finds nothing', (t) => {
  t.deepEqual(leftBesideLive(path.join(scratch(t), 'live')), []);
});

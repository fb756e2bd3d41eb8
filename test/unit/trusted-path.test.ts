/**
 * util/trusted-path.ts on directories made here with explicit owners and
 * modes (uid 65534 stands for another user): the way to a path is judged as
 * the kernel walks it, links and the directories they sit in included, and
 * untrustedRoute leaves out the path's own owner and mode.
 */
import test, { type ExecutionContext } from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { untrustedPath, untrustedRoute } from '../../generator/util/trusted-path.js';
import { tempDir } from '../support/data-dir.js';

const NOBODY = 65534;
const asRoot = process.getuid?.() === 0;
const needsRoot = asRoot ? '' : ' [skipped: needs root]';

/** A root-owned 0755 directory below /tmp (root's, sticky), removed after the test. */
function scratch(t: ExecutionContext): string {
  const dir = tempDir('vmsvc-trusted-');
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function dir(at: string, mode: number, uid = 0): string {
  fs.mkdirSync(at);
  fs.chmodSync(at, mode);
  fs.chownSync(at, uid, uid);
  return at;
}

test(`a link in another user's directory makes the path untrusted, though its target is root's alone; the same link in root's directory does not${needsRoot}`, (t) => {
  if (!asRoot) return t.pass();
  const root = scratch(t);
  const target = dir(path.join(root, 'srv'), 0o755);
  const home = dir(path.join(root, 'home'), 0o755, NOBODY);
  fs.symlinkSync(target, path.join(home, 'vms'));
  t.is(untrustedPath(path.join(home, 'vms')), `${home} belongs to uid ${NOBODY}, not to root`);
  t.deepEqual(untrustedRoute(path.join(home, 'vms', 'data')), { at: home, why: `${home} belongs to uid ${NOBODY}, not to root` });
  const safe = dir(path.join(root, 'etc'), 0o755);
  fs.symlinkSync(target, path.join(safe, 'vms'));
  t.is(untrustedPath(path.join(safe, 'vms')), null);
  t.is(untrustedRoute(path.join(safe, 'vms', 'data')), null);
});

test(`a relative link is followed from its own directory, through ..; one that leads through another user's directory is untrusted${needsRoot}`, (t) => {
  if (!asRoot) return t.pass();
  const root = scratch(t);
  const a = dir(path.join(root, 'a'), 0o755);
  const open = dir(path.join(root, 'open'), 0o777);
  dir(path.join(open, 'x'), 0o755);
  fs.symlinkSync('../open/x', path.join(a, 'link'));
  t.deepEqual(untrustedRoute(path.join(a, 'link', 'data')), { at: open, why: `${open} can be written by users other than its owner (mode 777)` });
  const b = dir(path.join(root, 'b'), 0o755);
  dir(path.join(b, 'x'), 0o755);
  fs.symlinkSync('../b/x', path.join(a, 'good'));
  t.is(untrustedRoute(path.join(a, 'good', 'data')), null);
  t.is(untrustedPath(path.join(a, 'good')), null);
});

test(`in a sticky directory, a link another user owns is theirs to replace; root's is not${needsRoot}`, (t) => {
  if (!asRoot) return t.pass();
  const root = scratch(t);
  const sticky = dir(path.join(root, 'tmp'), 0o1777);
  const target = dir(path.join(root, 'srv'), 0o755);
  const theirs = path.join(sticky, 'theirs');
  fs.symlinkSync(target, theirs);
  fs.lchownSync(theirs, NOBODY, NOBODY);
  t.deepEqual(untrustedRoute(path.join(theirs, 'data')), { at: theirs, why: `${theirs} belongs to uid ${NOBODY}, not to root` });
  fs.symlinkSync(target, path.join(sticky, 'mine'));
  t.is(untrustedRoute(path.join(sticky, 'mine', 'data')), null);
});

test(`untrustedRoute: the path's own owner and mode do not count, its directory's do, sticky or not; untrustedPath judges both${needsRoot}`, (t) => {
  if (!asRoot) return t.pass();
  const root = scratch(t);
  const parent = dir(path.join(root, 'svc'), 0o755);
  const data = dir(path.join(parent, 'data'), 0o777, NOBODY);
  t.is(untrustedRoute(data), null);
  t.regex(untrustedPath(data) ?? '', /belongs to uid 65534/);
  fs.chmodSync(parent, 0o1777);
  t.deepEqual(untrustedRoute(data), { at: parent, why: `${parent} can be written by users other than its owner (mode 1777)` });
  // Sticky above the directory, which is root's: only root may rename that.
  fs.chmodSync(parent, 0o755);
  fs.chmodSync(root, 0o1777);
  t.is(untrustedRoute(data), null);
  fs.chmodSync(root, 0o755);
  fs.chownSync(root, NOBODY, NOBODY);
  t.deepEqual(untrustedRoute(data), { at: root, why: `${root} belongs to uid ${NOBODY}, not to root` });
});

test(`a path not made yet is judged by the directory it would be made in${needsRoot}`, (t) => {
  if (!asRoot) return t.pass();
  const root = scratch(t);
  t.is(untrustedPath(path.join(root, 'not', 'yet')), null);
  t.is(untrustedRoute(path.join(root, 'not', 'yet')), null);
  const open = dir(path.join(root, 'open'), 0o1777);
  t.regex(untrustedPath(path.join(open, 'state')) ?? '', /can be written by users other than its owner \(mode 1777\)/);
});

test(`links that loop are untrusted, not followed forever; / is root's${needsRoot}`, (t) => {
  if (!asRoot) return t.pass();
  const root = scratch(t);
  fs.symlinkSync('b', path.join(root, 'a'));
  fs.symlinkSync('a', path.join(root, 'b'));
  t.regex(untrustedPath(path.join(root, 'a')) ?? '', /ELOOP/);
  t.is(untrustedPath('/'), null);
  t.is(untrustedRoute('/'), null);
});

/**
 * The committed example output must be exactly what the code generates now
 * (run `npm run examples` after an intended change), and must compile.
 */
import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildTree, checkDataDir } from '../../generator/pipeline/index.js';
import { checkS6rcSource } from '../../generator/s6rc/source-check.js';
import { EXAMPLES_DIR, exampleNames, exampleOptions } from '../support/examples.js';
import { realCompileProblems, realS6rcTest } from '../support/real-s6rc.js';

function listFiles(root: string, rel = ''): string[] {
  return fs.readdirSync(path.join(root, rel), { withFileTypes: true }).flatMap((d) => {
    const child = rel === '' ? d.name : `${rel}/${d.name}`;
    return d.isDirectory() ? [child, ...listFiles(root, child)] : [child];
  });
}

test('there are at least two examples, the user guide one among them', (t) => {
  t.true(exampleNames().includes('user-guide'));
  t.true(exampleNames().length >= 2);
});

for (const name of exampleNames()) {
  test(`example ${name}: committed source/ is what vmsvc generates`, (t) => {
    const { root, result } = checkDataDir(path.join(EXAMPLES_DIR, name, 'data'), exampleOptions);
    t.deepEqual(result.diagnostics, []);
    const tree = buildTree(root, result, exampleOptions);
    const dir = path.join(EXAMPLES_DIR, name, 'source');
    const onDisk = listFiles(dir).sort();
    t.deepEqual(onDisk, [...tree.keys()].sort(), 'same files (run npm run examples after an intended change)');
    for (const [rel, entry] of tree) {
      const p = path.join(dir, rel);
      if (entry.kind === 'dir') {
        t.true(fs.statSync(p).isDirectory(), rel);
        continue;
      }
      t.is(fs.readFileSync(p, 'utf8'), entry.content, `${rel} differs (run npm run examples after an intended change)`);
      // git keeps only the executable bit, so that is what is compared.
      t.is((fs.statSync(p).mode & 0o100) !== 0, entry.mode === 0o755, `${rel} mode`);
    }
  });

  test(`example ${name}: source/ passes the s6-rc source checker`, (t) => {
    t.deepEqual(checkS6rcSource([path.join(EXAMPLES_DIR, name, 'source')]), []);
  });

  realS6rcTest(`example ${name}: source/ compiles with the real s6-rc-compile`, (t) => {
    t.deepEqual(realCompileProblems([path.join(EXAMPLES_DIR, name, 'source')]), []);
  });
}

// The host's own boot oneshot, as doc/boot-and-apply.md shows it: it lives in the host's
// s6-rc tree, not in a generated one, so only the format is checked here.
test('example host/: the boot oneshot passes the s6-rc source checker', (t) => {
  t.deepEqual(checkS6rcSource([path.join(EXAMPLES_DIR, 'host')]), []);
});

realS6rcTest('example host/: the boot oneshot compiles with the real s6-rc-compile', (t) => {
  t.deepEqual(realCompileProblems([path.join(EXAMPLES_DIR, 'host')]), []);
});

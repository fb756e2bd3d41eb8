// Regenerates s6-rc-examples/*/source from s6-rc-examples/*/data. The examples
// test fails until this has been run after a change to the generated output.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildTree, checkDataDir } from '../generator/pipeline/index.js';
import { writeEntries } from '../generator/pipeline/write-tree.js';
import { EXAMPLES_DIR, exampleNames, exampleOptions } from '../test/support/examples.js';

for (const name of exampleNames()) {
  const { root, result } = checkDataDir(path.join(EXAMPLES_DIR, name, 'data'), exampleOptions);
  const out = path.join(EXAMPLES_DIR, name, 'source');
  fs.rmSync(out, { recursive: true, force: true });
  writeEntries(out, buildTree(root, result, exampleOptions));
  console.log(`${name}: ${result.vms.length} VMs -> ${path.relative(process.cwd(), out)}`);
}

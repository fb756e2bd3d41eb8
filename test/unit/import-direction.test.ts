/**
 * The layers of generator/ (doc/architecture.md): a module imports only from
 * its own folder or from a lower layer, so the pipeline never depends on the
 * commands built on it, and nothing below the CLI imports the CLI or admin/.
 */
import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const GENERATOR = fileURLToPath(new URL('../../generator', import.meta.url));

/** Lower numbers are lower layers; folders of one number may not import each other. */
const LAYERS: Readonly<Record<string, number>> = {
  util: 0,
  vmm: 1,
  s6rc: 1,
  rules: 2,
  pipeline: 3,
  command: 4,
  apply: 5,
  admin: 5,
  cli: 6,
};

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []);
}

const folderOf = (file: string): string => path.relative(GENERATOR, file).split(path.sep)[0]!;

/** [importing file, imported file] for every relative import and import() in generator/. */
function imports(): Array<[string, string]> {
  return sources(GENERATOR).flatMap((file) => [...fs.readFileSync(file, 'utf8').matchAll(/(?:from|import\()\s*'(\.\.?\/[^']+)\.js'/g)]
    .map((m): [string, string] => [file, path.resolve(path.dirname(file), `${m[1]!}.ts`)]));
}

test('every module of generator/ sits in a folder of a known layer', (t) => {
  const unknown = sources(GENERATOR).filter((f) => path.dirname(f) === GENERATOR || !(folderOf(f) in LAYERS));
  t.deepEqual(unknown.map((f) => path.relative(GENERATOR, f)), []);
});

test('imports go to the same folder or a lower layer', (t) => {
  const found = imports();
  t.true(found.length > 100, 'the import scan found the imports');
  const wrong = found.filter(([from, to]) => {
    const a = folderOf(from);
    const b = folderOf(to);
    return a !== b && !(LAYERS[b]! < LAYERS[a]!);
  }).map(([from, to]) => `${path.relative(GENERATOR, from)} -> ${path.relative(GENERATOR, to)}`);
  t.deepEqual(wrong, []);
});

test('every relative import names a file that exists', (t) => {
  const missing = imports().filter(([, to]) => !fs.existsSync(to)).map(([from, to]) => `${path.relative(GENERATOR, from)} -> ${path.relative(GENERATOR, to)}`);
  t.deepEqual(missing, []);
});

test('no double cast (as unknown as) anywhere in generator/', (t) => {
  const casts = sources(GENERATOR).filter((f) => /\bas unknown as\b/.test(fs.readFileSync(f, 'utf8'))).map((f) => path.relative(GENERATOR, f));
  t.deepEqual(casts, []);
});

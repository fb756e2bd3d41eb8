// Bundles the CLI: at boot, resolving and parsing hundreds of node_modules
// files costs more than generating a tree for a few VMs. Two CommonJS
// bundles (node's ESM loader costs ~7 ms more to start): dist/vmsvc.cjs, the
// boot path, and dist/cli-yargs.cjs, which it requires only when the fast
// argument parser hands over (help, errors, the less common commands).
// The bundled templates are precompiled here, so the bundle needs only
// handlebars' runtime (the compiler is required from node_modules only for
// --templates). Last, the boot bundle runs the examples once and its V8 code
// cache is saved beside it, for bin/vmsvc.cjs to load.
import { build } from 'esbuild';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Handlebars from 'handlebars';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import * as os from 'node:os';

const COMPILE_OPTIONS = { noEscape: true, strict: true }; // keep in step with generator/pipeline/templates.ts

function precompiledTemplates() {
  const root = 'templates';
  const entries = [];
  for (const dir of fs.readdirSync(root).sort()) {
    for (const file of fs.readdirSync(path.join(root, dir)).sort()) {
      if (!file.endsWith('.hbs')) continue;
      const spec = Handlebars.precompile(fs.readFileSync(path.join(root, dir, file), 'utf8'), COMPILE_OPTIONS);
      entries.push(`  ${JSON.stringify(`${dir}/${file}`)}: ${spec}`);
    }
  }
  return `export const PRECOMPILED = {\n${entries.join(',\n')}\n};\nexport const TEMPLATES_FROM_MODULE = '../templates';\n`;
}

const precompile = {
  name: 'precompiled-templates',
  setup(b) {
    b.onLoad({ filter: /generator[\\/]pipeline[\\/]precompiled-templates\.ts$/ }, () => ({ contents: precompiledTemplates(), loader: 'js' }));
  },
};

/** A hash of everything the output depends on besides its input: see generator/pipeline/tree-key.ts. */
function buildId() {
  const h = createHash('sha256');
  for (const dir of ['generator', 'templates']) {
    for (const file of fs.readdirSync(dir, { recursive: true }).map(String).sort()) {
      const p = path.join(dir, file);
      if (fs.statSync(p).isFile()) h.update(p).update('\0').update(fs.readFileSync(p));
    }
  }
  return h.digest('hex').slice(0, 16);
}

/** cli.ts loads the yargs front end with import(); in the bundle that is a require of the other bundle. */
const yargsBundle = {
  name: 'cli-yargs-bundle',
  setup(b) {
    b.onResolve({ filter: /^\.\/yargs\.js$/ }, () => ({ path: './cli-yargs.cjs', external: true }));
  },
};

const common = {
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  // import() would need a loader callback under vm.Script (bin/vmsvc.cjs): esbuild makes it a require.
  supported: { 'dynamic-import': false },
  minify: process.env.VMSVC_NO_MINIFY !== '1',
  // bin/vmsvc.cjs reads the bundle as latin1, exact only for ASCII (checked below).
  charset: 'ascii',
  sourcemap: 'linked',
  legalComments: 'linked',
  logLevel: 'warning',
  define: {
    'process.env.VMSVC_BUILD_ID': JSON.stringify(buildId()),
    // yargs would look for package.json above the working directory, not above the program.
    'process.env.VMSVC_VERSION': JSON.stringify(JSON.parse(fs.readFileSync('package.json', 'utf8')).version),
    'import.meta.url': '__vmsvcModuleUrl',
  },
  // "use strict" first: esbuild's own directive would follow the banner and so be no directive.
  banner: { js: "\"use strict\";var __vmsvcModuleUrl = require('node:url').pathToFileURL(__filename).href;" },
};

fs.rmSync('dist', { recursive: true, force: true });
await build({ ...common, entryPoints: { vmsvc: 'generator/cli/cli.ts' }, outdir: 'dist', outExtension: { '.js': '.cjs' }, plugins: [precompile, yargsBundle] });
await build({ ...common, entryPoints: { 'cli-yargs': 'generator/cli/yargs.ts' }, outdir: 'dist', outExtension: { '.js': '.cjs' }, plugins: [precompile] });

/**
 * Runs what a boot runs (check and generate on both examples), so that V8 has
 * compiled the functions the boot path calls, and saves the code cache.
 */
async function warmAndSaveCodeCache() {
  const { loadBundle, saveCodeCache } = createRequire(import.meta.url)('../bin/vmsvc.cjs');
  if (!/^[\x00-\x7f]*$/.test(fs.readFileSync('dist/vmsvc.cjs', 'latin1'))) throw new Error('dist/vmsvc.cjs is not ASCII');
  const loaded = loadBundle(undefined);
  const { main } = loaded;
  const silent = { out: () => {}, err: () => {} };
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vmsvc-build-'));
  try {
    for (const example of ['user-guide', 'multi-provider']) {
      const data = path.join('s6-rc-examples', example, 'data');
      for (const argv of [['check', '--data', data], ['generate', '--data', data, '--out', path.join(tmp, example)]]) {
        const code = await main(argv, silent);
        if (code !== 0) throw new Error(`vmsvc ${argv.join(' ')} exited ${code} while warming the code cache`);
      }
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  saveCodeCache(loaded);
}
await warmAndSaveCodeCache();

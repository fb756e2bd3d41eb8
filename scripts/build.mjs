// Bundles the CLI: at boot, resolving and parsing hundreds of node_modules
// files costs more than generating a tree for a few VMs. The bundled
// templates are precompiled here, so the bundle needs only handlebars'
// runtime (the compiler is required from node_modules only for --templates,
// through createRequire, which esbuild leaves alone); yargs is split into its own chunk, loaded only when the fast
// argument parser hands over (help, errors, the less common commands).
import { build } from 'esbuild';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Handlebars from 'handlebars';
import { createHash } from 'node:crypto';

const COMPILE_OPTIONS = { noEscape: true, strict: true }; // keep in step with generator/templates.ts

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
  return `export const PRECOMPILED = {\n${entries.join(',\n')}\n};\n`;
}

const precompile = {
  name: 'precompiled-templates',
  setup(b) {
    b.onLoad({ filter: /generator[\\/]precompiled-templates\.ts$/ }, () => ({ contents: precompiledTemplates(), loader: 'js' }));
  },
};

/** A hash of everything the output depends on besides its input: see renderKey in generator/render.ts. */
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

fs.rmSync('dist', { recursive: true, force: true });
await build({
  entryPoints: { vmsvc: 'generator/cli.ts' },
  outdir: 'dist',
  bundle: true,
  splitting: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  minify: process.env.VMSVC_NO_MINIFY !== "1",
  sourcemap: 'linked',
  legalComments: 'linked',
  logLevel: 'warning',
  plugins: [precompile],
  define: { 'process.env.VMSVC_BUILD_ID': JSON.stringify(buildId()) },
  // Bundled CommonJS (parts of yargs) needs a require in ESM output.
  banner: { js: "import { createRequire as __vmsvcRequire } from 'node:module'; const require = __vmsvcRequire(import.meta.url);" },
});

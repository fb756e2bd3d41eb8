// Bundles the CLI into one file: at boot, resolving and parsing hundreds of
// node_modules files costs more than generating a tree for a few VMs.
import { build } from 'esbuild';

await build({
  entryPoints: ['generator/cli.ts'],
  outfile: 'dist/vmsvc.js',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  minify: true,
  sourcemap: 'linked',
  legalComments: 'linked',
  logLevel: 'warning',
  // Handlebars and yargs are CommonJS inside; ESM output needs a require for them.
  banner: { js: "import { createRequire as __vmsvcRequire } from 'node:module'; const require = __vmsvcRequire(import.meta.url);" },
});

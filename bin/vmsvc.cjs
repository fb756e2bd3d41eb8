#!/usr/bin/env node
'use strict';
/**
 * Runs dist/vmsvc.cjs, the bundle `npm run build` makes, with the V8 code
 * cache the build saved beside it: vmsvc runs at every boot, and compiling
 * the bundle afresh costs about 15 ms of a 10-VM run's 60. V8 rejects a
 * cache made by another V8 or under other flags, but of the source it checks
 * only the length: the cache file starts with the SHA-256 of the bundle it
 * was made from, and is used only with exactly that bundle. CommonJS,
 * because node's ESM loader costs another 7 ms to start.
 */
const { createHash } = require('node:crypto'); // the bundle loads it anyway
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');
const { createRequire } = require('node:module');

const BUNDLE = path.join(__dirname, '..', 'dist', 'vmsvc.cjs');
const CODE_CACHE = `${BUNDLE}.v8cache`;
const DIGEST_BYTES = 32;
// On a line of its own (lineOffset -1), so stack traces keep the bundle's lines and columns.
const WRAPPER = '(function (exports, require, module, __filename, __dirname) {\n';

/**
 * The bundle's exports; its compiled script and digest are for the build,
 * which saves the code cache (saveCodeCache) after running the boot path.
 */
function loadBundle(codeCache) {
  const bytes = fs.readFileSync(BUNDLE);
  const digest = createHash('sha256').update(bytes).digest();
  const fits = codeCache !== undefined && codeCache.subarray(0, DIGEST_BYTES).equals(digest);
  // esbuild writes ASCII (the build checks it), so latin1 decodes it exactly
  // and without UTF-8 validation: 3 ms less a run.
  const script = new vm.Script(`${WRAPPER}${bytes.toString('latin1')}\n})`, {
    filename: BUNDLE,
    lineOffset: -1,
    cachedData: fits ? codeCache.subarray(DIGEST_BYTES) : undefined,
  });
  const module = { exports: {} };
  script.runInThisContext().call(module.exports, module.exports, createRequire(BUNDLE), module, BUNDLE, path.dirname(BUNDLE));
  return { main: module.exports.main, script, digest };
}

function saveCodeCache(loaded) {
  fs.writeFileSync(CODE_CACHE, Buffer.concat([loaded.digest, loaded.script.createCachedData()]));
}

function readCodeCache() {
  try {
    return fs.readFileSync(CODE_CACHE);
  } catch {
    return undefined; // not built yet: compile as usual
  }
}

/**
 * A missing bundle or a bug: said plainly in one line, and exit 111 (vmsvc
 * could not do its job), never 1 (the thing checked is not fine). The bundle
 * reports its own bugs the same way (generator/command/shell.ts); this catches what escapes it or breaks loading
 * it. The stack only with VMSVC_DEBUG=1: a user's terminal gets one line.
 */
function broken(e) {
  const missing = e !== null && typeof e === 'object' && e.code === 'ENOENT' && e.path === BUNDLE;
  if (missing) {
    process.stderr.write(`vmsvc: ${BUNDLE} is missing: run npm run build\n`);
  } else {
    // Controls escaped as \xNN, as the bundle's printable() does: nothing raw reaches the terminal.
    const shown = (s) => s.replace(/[\\\u0000-\u001f\u007f-\u009f]/g, (c) => (c === '\\' ? '\\\\' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`));
    const what = shown(e instanceof Error ? `${e.name}: ${e.message}` : String(e));
    const debug = process.env.VMSVC_DEBUG === '1' && e instanceof Error && e.stack !== undefined ? `${e.stack.split('\n').map(shown).join('\n')}\n` : '';
    process.stderr.write(`vmsvc: internal error: ${what} (a bug in vmsvc; VMSVC_DEBUG=1 shows where)\n${debug}`);
  }
  process.exitCode = 111;
}

if (require.main === module) {
  try {
    loadBundle(readCodeCache()).main(process.argv.slice(2)).then((code) => {
      process.exitCode = code;
    }, broken);
  } catch (e) {
    broken(e);
  }
} else {
  module.exports = { loadBundle, saveCodeCache, CODE_CACHE };
}

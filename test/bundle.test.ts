/** The installed entry point: bin/vmsvc.cjs runs the bundle with the code cache the build saved. */
import test from 'ava';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import type * as vm from 'node:vm';

interface BinModule {
  readonly CODE_CACHE: string;
  readonly loadBundle: (cachedData: Buffer | undefined) => { readonly main: unknown; readonly script: vm.Script };
}

const bin = createRequire(import.meta.url)('../bin/vmsvc.cjs') as BinModule;

test('V8 accepts the code cache npm run build saved (else every boot compiles the bundle afresh)', (t) => {
  const { main, script } = bin.loadBundle(fs.readFileSync(bin.CODE_CACHE));
  t.is(typeof main, 'function');
  t.false(script.cachedDataRejected, `rejected: ${bin.CODE_CACHE} is stale or was made by another node (npm run build)`);
});

test('a bundle without its code cache still runs', (t) => {
  const { main, script } = bin.loadBundle(undefined);
  t.is(typeof main, 'function');
  t.is(script.cachedDataRejected, undefined);
});

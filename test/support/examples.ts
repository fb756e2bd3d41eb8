/** The bundled examples and the options they are generated with, shared by the test and `npm run examples`. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultOptions, type GeneratorOptions } from '../../generator/pipeline/options.js';

export const EXAMPLES_DIR = fileURLToPath(new URL('../../s6-rc-examples', import.meta.url));

/** Where Spectrum mounts the user partition's data dir; keeps the committed output free of checkout paths. */
export const exampleOptions: GeneratorOptions = { ...defaultOptions, dataDirAtRuntime: '/mnt/user/svc/data' };

export function exampleNames(): string[] {
  return fs.readdirSync(EXAMPLES_DIR).filter((n) => fs.existsSync(path.join(EXAMPLES_DIR, n, 'data'))).sort();
}

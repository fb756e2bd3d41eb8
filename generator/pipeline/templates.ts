/**
 * The handlebars templates every generated script comes from. Bundled ones live
 * in templates/<vmm>/ and templates/common/; `--templates DIR` takes the same
 * layout, and any template missing there falls back to the bundled one.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type Handlebars from 'handlebars';
import RuntimeModule from 'handlebars/runtime.js';
import { printable } from '../util/bytes.js';
import { quoteExeclineWord } from '../s6rc/execline-lex.js';
import { PRECOMPILED, TEMPLATES_FROM_MODULE } from './precompiled-templates.js';
import type { Vmm } from '../vmm/index.js';


/**
 * What render takes: any Script (service-types.ts). Only the name matters
 * here, the data is the template's to read; importing Script would make this
 * module and service-types.ts, whose Script derives from TEMPLATE_NAMES,
 * import each other.
 */
interface Renderable {
  readonly template: TemplateName;
  readonly data: unknown;
}

export interface Templates {
  render(script: Renderable): string;
  /** Changes whenever any template in use changes. */
  readonly fingerprint: string;
}

/** Every template a script is rendered from: service-types.ts's Script is derived from this list. */
const TEMPLATE_NAMES = ['vm-run', 'vm-finish', 'vm-request', 'log-run', 'ready-check', 'net-up', 'net-down'] as const;
export type TemplateName = typeof TEMPLATE_NAMES[number];
const PARTIALS = ['header', 'prepare-runtime', 'vmm-request', 'hotplug-attach', 'vmm-log', 'run-as', 'open-files', 'private-data-view', 'acl-revoke', 'sandbox', 'cgroup-enter', 'cgroup-remove'] as const;

/** templates/ of this package, whether run from source (generator/pipeline/) or the bundle (dist/). */
export const BUNDLED_TEMPLATES = fileURLToPath(new URL(TEMPLATES_FROM_MODULE, import.meta.url));

export class TemplateError extends Error {
  constructor(readonly file: string, message: string) {
    super(message);
  }
}

/** The compile options every template gets: scripts are not HTML, and a missing field is an error. */
export const COMPILE_OPTIONS = { noEscape: true, strict: true } as const;

type Template = (data: unknown) => string;
type HandlebarsEnv = typeof Handlebars;
/**
 * The runtime is the full API minus the compiler, but its own typings declare
 * an empty module: checked at load instead of cast.
 */
const Runtime = handlebarsRuntime(RuntimeModule);

function handlebarsRuntime(m: unknown): HandlebarsEnv {
  if (!isHandlebarsEnv(m)) throw new Error('handlebars/runtime has no create(): not the handlebars runtime');
  return m;
}

function isHandlebarsEnv(m: unknown): m is HandlebarsEnv {
  return typeof m === 'object' && m !== null && 'create' in m && typeof m.create === 'function' && 'template' in m;
}

function registerHelpers(hb: HandlebarsEnv): void {
  hb.registerHelper('q', (value: unknown) => quoteExeclineWord(String(value)));
  hb.registerHelper('printable', (value: unknown) => printable(String(value)));
  hb.registerHelper('concat', (...args: unknown[]) => args.slice(0, -1).map(String).join(''));
  // Equality, for data that says which of several forms it has: (is via "socket").
  hb.registerHelper('is', (a: unknown, b: unknown) => a === b);
  hb.registerHelper('or', (a: unknown, b: unknown) => Boolean(a) || Boolean(b));
  // on/off as another VMM spells it: (onoff readonly "true" "false").
  hb.registerHelper('onoff', (value: unknown, on: unknown, off: unknown) => (value === 'on' ? String(on) : String(off)));
}

export function loadTemplates(userDir: string | null, vmm: Vmm): Templates {
  const precompiled = userDir === null ? PRECOMPILED : null;
  let hb: HandlebarsEnv;
  let load: (file: string) => Template;
  let exists: (file: string) => boolean = fs.existsSync;
  const fingerprint = createHash('sha256');
  if (precompiled !== null) {
    hb = Runtime.create();
    exists = (file) => path.relative(BUNDLED_TEMPLATES, file) in precompiled;
    load = (file) => hb.template(precompiled[path.relative(BUNDLED_TEMPLATES, file)]!);
    // The bundled templates are part of the build, whose id treeKey already covers.
    fingerprint.update('bundled');
  } else {
    // The compiler is loaded only for the user's own templates (or when run from source).
    const full = (createRequire(import.meta.url)('handlebars') as HandlebarsEnv).create();
    hb = full;
    load = (file) => {
      const source = read(file);
      fingerprint.update(file).update('\0').update(source);
      return full.compile(source, COMPILE_OPTIONS);
    };
  }
  registerHelpers(hb);
  for (const partial of PARTIALS) hb.registerPartial(partial, load(find(userDir, vmm, partial, exists)));
  const compiled = new Map<TemplateName, { file: string; fn: Template }>();
  for (const name of TEMPLATE_NAMES) {
    const file = find(userDir, vmm, name, exists);
    compiled.set(name, { file, fn: load(file) });
  }
  return {
    fingerprint: fingerprint.digest('hex'),
    render(script: Renderable): string {
      const t = compiled.get(script.template)!;
      try {
        // Handlebars builds its output by concatenation, a rope of many small
        // strings; a tree of thousands of scripts kept as ropes takes several
        // times its size in memory. Round-tripping through a Buffer flattens it.
        return Buffer.from(t.fn(script.data), 'utf8').toString('utf8');
      } catch (e) {
        throw new TemplateError(t.file, `template ${t.file}: ${e instanceof Error ? e.message : String(e)}`);
      }
    },
  };
}

function find(userDir: string | null, vmm: Vmm, name: string, exists: (file: string) => boolean): string {
  const candidates = [userDir, BUNDLED_TEMPLATES]
    .filter((d): d is string => d !== null)
    .flatMap((d) => [path.join(d, vmm, `${name}.hbs`), path.join(d, 'common', `${name}.hbs`)]);
  const found = candidates.find(exists);
  if (found === undefined) throw new TemplateError(candidates[0]!, `no template ${name}.hbs in ${candidates.join(', ')}`);
  return found;
}

function read(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new TemplateError(file, `cannot read template ${file}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

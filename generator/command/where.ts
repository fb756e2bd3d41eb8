/**
 * Where `vmsvc apply` put a live system, as it records it in its state dir
 * (`STATE/where.json`): the one place the admin commands find the source
 * tree, the scandir and its prefix, s6-rc's live dir, and the log and
 * runtime roots, so that none of them has to be told again (and cannot be
 * told differently) what apply was told. Written by apply (apply/), read
 * by the admin commands (admin/): both sit above this layer.
 */
import * as path from 'node:path';

/** The record's name in the state dir. */
export const WHERE_FILE = 'where.json';

/** apply's --state default, and so every admin command's. */
export const DEFAULT_STATE_DIR = '/run/vmsvc';

/** Names the state dir for apply and the admin commands alike when --state is not given. */
export const STATE_ENV = 'VMSVC_STATE';

/** `$VMSVC_STATE` when set and not empty, else /run/vmsvc. */
export function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env[STATE_ENV];
  return fromEnv === undefined || fromEnv === '' ? DEFAULT_STATE_DIR : fromEnv;
}

/** Every path absolute. */
export interface Where {
  /** STATE itself. */
  readonly state: string;
  /** STATE/source: the source copy of the database the live system runs. */
  readonly source: string;
  /** The directory s6-svscan watches. */
  readonly scandir: string;
  /** The s6-rc-init -p prefix of the services in the scandir ('' for none). */
  readonly prefix: string;
  /** s6-rc's live directory (`s6-rc -l`). */
  readonly live: string;
  /** The s6-rc program apply used. */
  readonly s6rc: string;
  /** --log-dir and --runtime-dir: each VM's dirs are NAME below them, also for VMs skipped since. */
  readonly logDir: string;
  readonly runtimeDir: string;
}

const FIELDS = ['state', 'source', 'scandir', 'prefix', 'live', 's6rc', 'logDir', 'runtimeDir'] as const;
const PATHS = new Set<string>(['state', 'source', 'scandir', 'live', 'logDir', 'runtimeDir']);

export function whereJson(w: Where): string {
  return `${JSON.stringify({ generator: 'vmsvc', formatVersion: 1, ...Object.fromEntries(FIELDS.map((f) => [f, w[f]])) }, null, 2)}\n`;
}

/** The record, or what is wrong with it (raw text: print it through printable()). */
export function parseWhere(text: string): Where | string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    return `not valid JSON: ${e instanceof Error ? e.message : String(e)}`;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return 'not a JSON object';
  const record = new Map(Object.entries(parsed));
  if (record.get('generator') !== 'vmsvc') return 'not written by vmsvc';
  if (record.get('formatVersion') !== 1) return `unsupported formatVersion ${JSON.stringify(record.get('formatVersion'))} (this vmsvc reads 1)`;
  const values = new Map<string, string>();
  for (const f of FIELDS) {
    const v = record.get(f);
    if (typeof v !== 'string') return `${f} is missing or not a string`;
    if (PATHS.has(f) && !path.isAbsolute(v)) return `${f} is not an absolute path`;
    values.set(f, v);
  }
  const get = (f: (typeof FIELDS)[number]) => values.get(f)!;
  return {
    state: get('state'), source: get('source'), scandir: get('scandir'), prefix: get('prefix'),
    live: get('live'), s6rc: get('s6rc'), logDir: get('logDir'), runtimeDir: get('runtimeDir'),
  };
}

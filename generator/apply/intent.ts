/**
 * The intent journal of `vmsvc apply`: STATE/intent says what a run is
 * about to change live and what it must bring back, so that the next run,
 * whatever killed this one, finishes it first (recover.ts). Written before
 * apply stops anything for an update, before s6-rc-init and before
 * autostart; removed once the run has brought everything back.
 *
 * One writer (apply's lock). Written whole to a temporary file, fsynced,
 * renamed over STATE/intent and the directory fsynced, so a kill or a
 * power cut leaves the old journal, the new one or none, never half of one.
 * Read as a regular file, not through a link, up to INTENT_MAX_BYTES, and
 * checked field by field: the state dir is root's, but a journal that is not
 * one vmsvc wrote is refused, naming it, rather than acted on.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { errnoOf } from '../util/errno.js';
import { readUntrusted } from '../util/untrusted.js';
import { tempSuffix } from '../util/temp-name.js';
import { isHash, TEMP_PREFIX } from './db-rotation.js';

export const INTENT_FILE = 'intent';

/** Two service names per VM at most 255 bytes each, for --max-vms 16384, with JSON's quoting: a bigger journal is not ours. */
const INTENT_MAX_BYTES = 16 * 1024 * 1024;

/** The format's tag and version: a journal of another layout is refused, not guessed at. */
const FORMAT = 'vmsvc-apply-intent-1';

export interface Intent {
  /** The database the live system ran when the run began; null at first boot (s6-rc-init). */
  readonly from: string | null;
  /** The database the run switches the live system to. */
  readonly to: string;
  /**
   * The services that were up before the run stopped any: up again once it
   * is done, those the database then live still has. A service stopped by
   * hand before the run is not among them, so it stays down.
   */
  readonly restore: readonly string[];
  /** What to bring up once the live system runs `to`: the autostart bundle at first boot, the newly marked pipelines live. */
  readonly autostart: readonly string[];
}

export type ReadIntent =
  | { readonly kind: 'none' }
  | { readonly kind: 'ok'; readonly intent: Intent }
  /** why: raw, print it through printable(). */
  | { readonly kind: 'refused'; readonly why: string };

/** Records `intent` durably (see above); throws the system call's error, leaving no temporary file. */
export function writeIntent(state: string, intent: Intent): void {
  const body = `${JSON.stringify({ format: FORMAT, ...intent })}\n`;
  const tmp = path.join(state, `${TEMP_PREFIX}${INTENT_FILE}-${tempSuffix()}`);
  try {
    const fd = fs.openSync(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o644);
    try {
      fs.writeFileSync(fd, body);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, path.join(state, INTENT_FILE));
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  syncDir(state);
}

/** Removes the journal: the run it describes is done. */
export function clearIntent(state: string): void {
  try {
    fs.unlinkSync(path.join(state, INTENT_FILE));
  } catch (e) {
    if (errnoOf(e) === 'ENOENT') return;
    throw e;
  }
  syncDir(state);
}

export function readIntent(state: string): ReadIntent {
  const r = readUntrusted(state, [INTENT_FILE], INTENT_MAX_BYTES);
  if (r.kind === 'missing') return { kind: 'none' };
  if (r.kind === 'refused') return r;
  const shown = path.join(state, INTENT_FILE);
  let value: unknown;
  try {
    value = JSON.parse(r.data.toString('utf8'));
  } catch {
    return { kind: 'refused', why: `${shown} is not JSON` };
  }
  const intent = parseIntent(value);
  return intent === null ? { kind: 'refused', why: `${shown} is not an intent journal vmsvc wrote` } : { kind: 'ok', intent };
}

function parseIntent(v: unknown): Intent | null {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return null;
  const o = new Map(Object.entries(v));
  const from = o.get('from');
  const to = o.get('to');
  const restore = names(o.get('restore'));
  const autostart = names(o.get('autostart'));
  if (o.get('format') !== FORMAT || o.size !== 5) return null;
  if (!(from === null || (typeof from === 'string' && isHash(from))) || typeof to !== 'string' || !isHash(to)) return null;
  if (restore === null || autostart === null) return null;
  return { from, to, restore, autostart };
}

/** A list of s6-rc service names: no empty, dot-leading, slash or newline names (s6-rc-compile refuses them). */
function names(v: unknown): string[] | null {
  if (!Array.isArray(v)) return null;
  const out: string[] = [];
  for (const n of v) {
    if (typeof n !== 'string' || n === '' || n.startsWith('.') || /[/\n\0]/.test(n) || Buffer.byteLength(n) > 255) return null;
    out.push(n);
  }
  return out;
}

/** The rename or unlink in `dir` survives a power cut once its directory is on disk. */
function syncDir(dir: string): void {
  const fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

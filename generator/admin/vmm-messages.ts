/**
 * The last lines a VM's VMM wrote to its stderr, from its own log
 * (`<log dir>/vmm/current`, pipeline/service-types.ts VmmLogData): what `show`
 * prints under the VM's state, so that a VM that is down says in the
 * VMM's own words why. The log user writes that directory: it is read as
 * untrusted (util/untrusted.ts), below the log root, no link followed, and
 * only its end, at most MAX_BYTES.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { openUntrusted } from '../util/untrusted.js';
import { VMM_LOG_SUBDIR } from '../pipeline/service-types.js';
import { lastLinesStart } from './log-seek.js';

/** Lines `show` prints. */
export const VMM_MESSAGE_LINES = 5;
/** s6-log cuts lines at 8192 bytes: the last few lines fit, a flood of one line is cut at its end. */
const MAX_BYTES = 64 * 1024;

export type VmmMessages =
  /** `lines`: oldest first, as written (escape them to print), s6-log's stamp kept. */
  | { readonly file: string; readonly lines: readonly string[] }
  | { readonly file: string; readonly error: string };

/** The last `n` lines of the VMM log of the VM whose log dir is `logDir`; none when there is no log (yet). */
export function vmmMessages(logDir: string, n: number = VMM_MESSAGE_LINES): VmmMessages {
  const file = path.join(logDir, VMM_LOG_SUBDIR, 'current');
  const opened = openUntrusted(path.dirname(logDir), [path.basename(logDir), VMM_LOG_SUBDIR, 'current']);
  if (opened.kind === 'missing') return { file, lines: [] };
  if (opened.kind === 'refused') return { file, error: opened.why };
  try {
    const size = opened.stat.size;
    const start = Math.max(lastLinesStart(opened.fd, size, n), size - MAX_BYTES);
    const buf = Buffer.alloc(size - start);
    const got = fs.readSync(opened.fd, buf, 0, buf.length, start);
    const lines = buf.subarray(0, got).toString('utf8').split('\n');
    if (lines.at(-1) === '') lines.pop();
    return { file, lines: lines.slice(-n) };
  } finally {
    fs.closeSync(opened.fd);
  }
}

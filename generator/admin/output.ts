/** How the admin commands print durations, key-value lists and --json. */
import { terminalJson } from '../util/bytes.js';

/** 0s, 59s, 1m05s, 2h03m, 3d04h. */
export function formatDuration(seconds: number | null): string {
  if (seconds === null) return '-';
  const d = Math.floor(seconds / 86400);
  const h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  const two = (n: number) => String(n).padStart(2, '0');
  if (d > 0) return `${d}d${two(h)}h`;
  if (h > 0) return `${h}h${two(m)}m`;
  if (m > 0) return `${m}m${two(s)}s`;
  return `${s}s`;
}

/** `key: value` lines with the values aligned. */
export function keyValues(pairs: ReadonlyArray<readonly [string, string]>, indent = ''): string {
  const width = Math.max(0, ...pairs.map(([k]) => k.length + 1));
  return pairs.map(([k, v]) => `${indent}${`${k}:`.padEnd(width)}  ${v}`.trimEnd() + '\n').join('');
}

/** Every admin command's --json output. */
export function json(value: unknown): string {
  return `${terminalJson(value, 2)}\n`;
}

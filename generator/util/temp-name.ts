import { randomBytes } from 'node:crypto';

/**
 * `<pid>-<8 hex digits>`: the private part of the names of a run's temporary
 * files, dirs and links. The pid tells a dead run's private lock file from a
 * live one's (pid-lock.ts); the random part keeps a reused pid from colliding.
 */
export function tempSuffix(): string {
  return `${process.pid}-${randomBytes(4).toString('hex')}`;
}

/** A regular-expression source matching tempSuffix(), with the pid captured. */
export const TEMP_SUFFIX_PATTERN = '(\\d+)-[0-9a-f]{8}';

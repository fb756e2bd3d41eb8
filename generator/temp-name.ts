import { randomBytes } from 'node:crypto';

/**
 * `<pid>-<8 hex digits>`: the private part of the names of a run's temporary
 * files, dirs and links. Cleanup code recognises a dead run's leftovers by the pid.
 */
export function tempSuffix(): string {
  return `${process.pid}-${randomBytes(4).toString('hex')}`;
}

/**
 * How s6-rc-compile reads each kind of file of a service dir: a file at all
 * (through links, as it does), a list of names or a BASE.d directory of them,
 * and a number, each read the way the compiler reads it, with what it refuses
 * reported as fatal and what it only tolerates as a warning.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { nameList } from './format.js';
import { compareBytes } from '../util/bytes.js';
import { errnoOf } from '../util/errno.js';
import { reservedPrefix, type NameRef, type Report, type Service } from './source-model.js';

const UINT32_MAX = 0xffffffff;

type Stat = fs.Stats | 'missing' | 'error';

/** stat() following symlinks, as s6-rc-compile does; a dangling link is missing. */
export function statOf(file: string): Stat {
  try {
    return fs.statSync(file);
  } catch (e) {
    return errnoOf(e) === 'ENOENT' || errnoOf(e) === 'ENOTDIR' ? 'missing' : 'error';
  }
}

/** A service's optional file: its bytes, 'missing', or 'unreadable' (a directory, or reading failed). */
export function serviceFile(file: string): Buffer | 'missing' | 'unreadable' {
  const st = statOf(file);
  if (st === 'missing') return 'missing';
  const raw = st === 'error' || st.isDirectory() ? 'error' : readFile(file);
  return typeof raw === 'string' ? 'unreadable' : raw;
}

/** Read a whole file, or say why not ('missing' covers dangling symlinks). */
export function readFile(file: string): Buffer | 'missing' | 'error' {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    return errnoOf(e) === 'ENOENT' ? 'missing' : 'error';
  }
}

/**
 * `BASE.d/` if it exists (it wins), else the `BASE` list file, else null.
 * A BASE.d that is not a directory is fatal: opendir fails with ENOTDIR.
 */
export function readNameListOrDir(service: Service, base: string, report: Report): NameRef[] | null {
  const dirFile = path.join(service.dir, `${base}.d`);
  const st = statOf(dirFile);
  if (st === 'missing') return readListFile(service, base, report);
  if (st === 'error' || !st.isDirectory()) {
    report.fatal(service.name, dirFile, `unable to opendir ${dirFile}`);
    return [];
  }
  let entries: string[];
  try {
    entries = fs.readdirSync(dirFile);
  } catch {
    report.fatal(service.name, dirFile, `unable to opendir ${dirFile}`);
    return [];
  }
  // Every entry not starting with '.' is a name, whatever its file type.
  const refs = entries.filter((e) => !e.startsWith('.')).sort(compareBytes).map((e) => ({ name: e, file: dirFile }));
  for (const ref of refs) checkListedName(service, ref, report);
  return refs;
}

/** A list file (format.ts's nameList); a name listed again is a warning, as s6-rc-compile gives. */
export function readListFile(service: Service, base: string, report: Report): NameRef[] | null {
  const file = path.join(service.dir, base);
  const raw = serviceFile(file);
  if (raw === 'missing') return null;
  if (raw === 'unreadable') {
    report.fatal(service.name, file, `unable to read ${file}`);
    return [];
  }
  const { names, repeated } = nameList(raw);
  for (const name of repeated) report.warn(service.name, file, `in ${file}: name listed more than once: ${name}`);
  const refs = names.map((name) => ({ name, file }));
  for (const ref of refs) checkListedName(service, ref, report);
  return refs;
}

function checkListedName(service: Service, ref: NameRef, report: Report): void {
  if (ref.name.includes('\n')) {
    report.fatal(service.name, ref.file, `in ${ref.file}: identifier "${ref.name}" contains a newline character`);
  } else if (reservedPrefix(ref.name)) {
    report.fatal(service.name, ref.file, `in ${ref.file}: identifier ${ref.name} starts with reserved prefix`);
  } else if (ref.name.includes('/')) {
    report.fatal(service.name, ref.file, `in ${ref.file}: identifier ${ref.name} contains a /`);
  }
}

/**
 * How s6-rc-compile reads a number file. 'timeout' (timeout-up, timeout-down,
 * its read_timeout): up to 63 bytes, trailing newlines dropped, the rest all
 * digits. 'first-line' (the *-fd files, timeout-kill, timeout-finish,
 * max-death-tally, its s6rc_read_uint): up to 11 bytes, cut at the first
 * newline, the rest all digits. Either way at most 2^32-1, and an empty file
 * holds no number.
 */
type NumberReader = 'timeout' | 'first-line';

/** Returns the value, or null when absent or refused. */
export function checkUint32File(service: Service, base: string, reader: NumberReader, report: Report): number | null {
  const file = path.join(service.dir, base);
  const raw = serviceFile(file);
  if (raw === 'missing') return null;
  if (raw === 'unreadable') {
    report.fatal(service.name, file, `unable to read ${file}`);
    return null;
  }
  const text = reader === 'timeout'
    ? raw.subarray(0, 63).toString('latin1').replace(/\n+$/, '')
    : raw.subarray(0, 11).toString('latin1').split('\n')[0] ?? '';
  const value = /^[0-9]+$/.test(text) ? Number(text) : NaN;
  if (!(value <= UINT32_MAX)) {
    report.fatal(service.name, file, `invalid ${file}: must be a decimal number up to ${UINT32_MAX}, ${reader === 'timeout' ? 'followed only by newlines' : 'on its first line'}`);
    return null;
  }
  if (!/^[0-9]{1,10}\n*$/.test(raw.toString('latin1'))) {
    report.warn(service.name, file, `${file} holds more than a number and newlines: s6-rc-compile reads it as ${value}`);
  }
  return value;
}

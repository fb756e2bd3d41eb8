/**
 * Reads one source dir and each service dir in it, as s6-rc-compile does:
 * the entries it takes as services, each one's type, and the files that type
 * must or may have.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { lexExeclineBytes } from './execline-lex.js';
import { LONGRUN_NAME_MAX_BYTES, longrunNameFits, serviceType } from './format.js';
import { compareBytes } from '../util/bytes.js';
import { checkUint32File, readFile, readListFile, readNameListOrDir, serviceFile, statOf } from './source-files.js';
import { reservedPrefix, type Report, type Service } from './source-model.js';

/** The service names of one source dir, sorted; reports bad entries. */
export function scanSourceDir(src: string, report: Report): string[] {
  let entries: string[];
  try {
    entries = fs.readdirSync(src);
  } catch {
    report.fatal(null, src, `unable to opendir ${src}`);
    return [];
  }
  const names: string[] = [];
  for (const entry of entries) {
    if (entry.startsWith('.')) continue;
    const file = path.join(src, entry);
    // Both checks run on every entry, plain files included, before the
    // directory test (add_sources in s6-rc-compile).
    if (entry.includes('\n')) {
      report.fatal(entry, file, `subdirectory of ${src} contains a newline character`);
      continue;
    }
    if (reservedPrefix(entry)) {
      report.fatal(entry, file, `in ${src}: identifier ${entry} starts with reserved prefix`);
      continue;
    }
    const st = statOf(file);
    if (st === 'error') report.fatal(entry, file, `unable to stat ${file}`);
    else if (st !== 'missing' && st.isDirectory()) names.push(entry);
  }
  if (names.length === 0) report.warn(null, src, `source ${src} is empty`);
  // Bytewise, as the strcmp-based qsort of s6-rc-compile orders them.
  return names.sort(compareBytes);
}

/** Read and check one service dir; null when its type is unusable. */
export function readService(src: string, name: string, prefix: string, report: Report): Service | null {
  const dir = path.join(src, name);
  const typeFile = path.join(dir, 'type');
  const raw = readFile(typeFile);
  if (typeof raw === 'string') {
    report.fatal(name, typeFile, `unable to read ${typeFile}`);
    return null;
  }
  const type = serviceType(raw);
  if (!type) {
    report.fatal(name, typeFile, `invalid ${typeFile}: must be oneshot, longrun, or bundle`);
    return null;
  }
  if (!/^(oneshot|longrun|bundle)\n?$/.test(raw.toString('latin1'))) {
    report.warn(name, typeFile, `${typeFile} holds more than "${type}" and a newline: s6-rc-compile reads only its first 8 bytes`);
  }
  adviseName(name, dir, report);
  const service: Service = { name, type, dir, names: [], producerFor: null, consumerFor: [], pipelineName: null };
  if (type === 'bundle') {
    readBundle(service, report);
  } else {
    service.names = readNameListOrDir(service, 'dependencies', report) ?? [];
    for (const t of ['timeout-up', 'timeout-down']) checkUint32File(service, t, 'timeout', report);
    if (type === 'oneshot') readOneshot(service, report);
    else readLongrun(service, prefix, report);
  }
  return service;
}

/** The doc discourages exotic names even though they compile. */
function adviseName(name: string, dir: string, report: Report): void {
  if (!/^[A-Za-z0-9_.][A-Za-z0-9_.-]*$/.test(name)) {
    report.warn(name, dir, `name "${name}" compiles but is discouraged: use letters, digits, '.', '_' and '-' (not leading)`);
  }
}

function readBundle(service: Service, report: Report): void {
  const members = readNameListOrDir(service, 'contents', report);
  if (members === null) {
    const file = path.join(service.dir, 'contents');
    report.fatal(service.name, file, `unable to open ${file}: bundle ${service.name} needs contents.d/ or contents`);
    return;
  }
  service.names = members;
}

function readOneshot(service: Service, report: Report): void {
  checkExeclineFile(service, 'up', true, report);
  checkExeclineFile(service, 'down', false, report);
}

/** up/down are not scripts: s6-rc-compile lexes each into one argv. */
function checkExeclineFile(service: Service, base: string, mandatory: boolean, report: Report): void {
  const file = path.join(service.dir, base);
  const raw = serviceFile(file);
  if (raw === 'missing') {
    if (mandatory) report.fatal(service.name, file, `unable to open ${file}: a oneshot needs an ${base} file`);
    return;
  }
  if (raw === 'unreadable') {
    report.fatal(service.name, file, `unable to parse ${file}`);
    return;
  }
  const lexed = lexExeclineBytes(raw);
  if (!lexed.ok) {
    const detail = lexed.error.startsWith('unmatched')
      ? `: ${lexed.error} (at byte ${lexed.offset})`
      : ` (${lexed.error.replace(/^syntax error: ?/, '') || 'syntax error'} at byte ${lexed.offset})`;
    report.fatal(service.name, file, `syntax error in ${file}${detail}`);
  } else if (raw.subarray(0, 2).toString('latin1') === '#!') {
    report.warn(service.name, file, `${file} starts with #!, which is only a comment: the file is lexed into ONE execline command line, not run as a script`);
  }
}

function readLongrun(service: Service, prefix: string, report: Report): void {
  const { name, dir } = service;
  const run = path.join(dir, 'run');
  const st = statOf(run);
  if (st === 'missing') report.fatal(name, run, `unable to find a run script in ${run}`);
  else if (st === 'error' || !st.isFile()) report.fatal(name, run, `${run} is not a regular file`);

  if (!longrunNameFits(name, prefix)) {
    const bytes = Buffer.byteLength(prefix + name, 'utf8');
    report.fatal(name, dir, `longrun name ${name} is too long: with prefix "${prefix}" it takes ${bytes} bytes, more than ${LONGRUN_NAME_MAX_BYTES} (s6-svscan ignores it and s6-rc-init fails)`);
  }

  readPipelineFiles(service, report);

  const notif = checkUint32File(service, 'notification-fd', 'first-line', report);
  const lock = checkUint32File(service, 'lock-fd', 'first-line', report);
  for (const base of ['timeout-kill', 'timeout-finish', 'max-death-tally']) checkUint32File(service, base, 'first-line', report);
  if (notif !== null && notif < 3) report.warn(name, path.join(dir, 'notification-fd'), `longrun ${name} has a notification-fd of ${notif}`);
  if (lock !== null && lock < 3) report.warn(name, path.join(dir, 'lock-fd'), `longrun ${name} has a lock-fd of ${lock}`);
  // The doc makes equal values fatal outright (the compiler only compares
  // values >= 3, but an fd shared by both is a mistake either way).
  if (notif !== null && lock !== null && notif === lock) {
    report.fatal(name, path.join(dir, 'lock-fd'), `longrun ${name} has the same value for notification-fd and lock-fd`);
  }

  for (const base of ['data', 'env']) {
    const file = path.join(dir, base);
    const s = statOf(file);
    if (s !== 'missing' && (s === 'error' || !s.isDirectory())) report.fatal(name, file, `${file} is not a directory`);
  }
  const log = statOf(path.join(dir, 'log'));
  if (log !== 'missing' && log !== 'error' && log.isDirectory()) {
    report.warn(name, path.join(dir, 'log'), `${name}/log is ignored by s6-rc: a logger is a separate longrun joined by producer-for/consumer-for`);
  }
  if (statOf(path.join(dir, 'down')) !== 'missing') {
    report.warn(name, path.join(dir, 'down'), `${name}/down is ignored by s6-rc-compile for a longrun`);
  }
}

/** producer-for, consumer-for, and pipeline-name when it is honoured. */
function readPipelineFiles(service: Service, report: Report): void {
  const { name, dir } = service;
  const producerFor = readListFile(service, 'producer-for', report);
  if (producerFor !== null) {
    const file = path.join(dir, 'producer-for');
    if (producerFor.length !== 1) report.fatal(name, file, `${file} should only contain one service name`);
    service.producerFor = producerFor[0] ?? null;
  }
  service.consumerFor = readListFile(service, 'consumer-for', report) ?? [];
  const pipelineFile = path.join(dir, 'pipeline-name');
  // Only a last consumer (consumers, no producer-for file) reads pipeline-name.
  if (service.consumerFor.length > 0 && producerFor === null) {
    const names = readListFile(service, 'pipeline-name', report);
    if (names !== null && names.length !== 1) report.fatal(name, pipelineFile, `${pipelineFile} should only contain one name`);
    else if (names !== null) service.pipelineName = names[0] ?? null;
  } else if (statOf(pipelineFile) !== 'missing') {
    report.warn(name, pipelineFile, `${dir} contains a pipeline-name file despite not being a last consumer; this file will be ignored`);
  }
}

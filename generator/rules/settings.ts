/**
 * Per-VM settings: what may differ between VMs. The global flags are the
 * defaults; optional files in the VM's directory override them, within the
 * host's bounds. What each setting is lives in setting-registry.ts; this
 * module reads a VM's config/ through it and judges the files.
 */
import * as path from 'node:path';
import { decodeUtf8, printable } from '../util/bytes.js';
import { describe } from './describe.js';
import { error, warning, type Diagnostic } from './diagnostic.js';
import { CONFIG_MAX_BYTES, type ScannedSetting, type ScannedVm } from './scanned.js';
import { symlinkDiagnostic } from './symlinks.js';
import {
  isSettingFile, refusedNow, SETTING_FILES, SETTING_KEYS, settingKeyOf, settingSpec, SETTINGS, type SettingFile, type SettingKey, type SettingLimits, type SettingProblem, type VmSettings,
} from './setting-registry.js';

export {
  CMDLINE_MAX_BYTES, isSettingFile, SETTING_FILES, SETTINGS, type SettingFile, type SettingLimits, type VmSettings,
} from './setting-registry.js';

/** VmSettings as a manifest records them (JSON read back by the admin commands and apply's dry run). */
export function isVmSettings(v: unknown): v is VmSettings {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const o = new Map(Object.entries(v));
  return SETTING_KEYS.every((k) => o.has(k) && SETTINGS[k].isValue(o.get(k)));
}

export interface VmSettingsResult {
  readonly settings: VmSettings;
  /** The settings a file of config/ set (the rest are the defaults), in SETTING_FILES order. */
  readonly fromFiles: readonly SettingFile[];
  readonly problems: readonly Diagnostic[];
}

/** Shared by every VM without config/: one empty list, not one per VM. */
const NO_FILES: readonly SettingFile[] = Object.freeze([]);

/** A value file's one line: UTF-8, one optional trailing newline, no other newline. Else why not. */
function oneLine(content: Buffer): { line: string } | { why: string } {
  const text = decodeUtf8(content);
  if (text === null) return { why: 'is not valid UTF-8' };
  const line = text.endsWith('\n') ? text.slice(0, -1) : text;
  if (line === '') return { why: 'is empty' };
  if (line.includes('\n')) return { why: 'holds more than one line' };
  return { line };
}

/**
 * The VM's settings: the defaults, overridden by the files of config/ that
 * pass their rules. Every problem names the file; a VM with an error here is
 * invalid (its other settings are not used), an unknown file is a warning.
 */
export function vmSettings(vm: ScannedVm, defaults: VmSettings, limits: SettingLimits): VmSettingsResult {
  const configPath = path.join(vm.dir, 'config');
  const none = { settings: defaults, fromFiles: NO_FILES };
  if (vm.configDir.kind === 'missing') return { ...none, problems: [] };
  if (vm.configDir.kind !== 'directory') {
    const what = vm.configDir.kind === 'unstatable' ? `cannot be examined (${vm.configDir.code})` : `is a ${describe(vm.configDir)}, not a directory`;
    return { ...none, problems: [error('config-not-directory', configPath, vm.name, `config ${what}`,
      'config must be a real directory holding one file per setting (symbolic links are not followed here); see doc/data-directory.md, "Per-VM settings"')] };
  }
  const problems: Diagnostic[] = [];
  const set: { -readonly [K in SettingKey]: VmSettings[K] } = { ...defaults };
  const fromFiles = new Set<SettingFile>();
  for (const file of vm.config) {
    if (!isSettingFile(file.name)) {
      problems.push(warning('setting-unknown', file.path, vm.name, `config/ holds "${printable(file.name)}", which is no setting vmsvc knows; it is ignored`,
        `the settings are ${SETTING_FILES.join(', ')}; rename or remove it (a misspelt setting would silently be the default)`));
      continue;
    }
    const content = settingContent(vm.name, file);
    if (!('content' in content)) {
      problems.push(content.problem);
      continue;
    }
    const r = applySetting(settingKeyOf(file.name), content.content, set, limits);
    if (r === null) fromFiles.add(file.name);
    else problems.push(error(r.rule, file.path, vm.name, r.message, r.hint));
  }
  return { settings: set, fromFiles: fromFiles.size === 0 ? NO_FILES : SETTING_FILES.filter((f) => fromFiles.has(f)), problems };
}

/** The bytes of a setting file, or the problem that it is not a small regular file inside the data dir. */
function settingContent(vm: string, file: ScannedSetting): { content: Buffer } | { problem: Diagnostic } {
  const linkProblem = symlinkDiagnostic(vm, file.path, file.node, 'setting-not-file');
  if (linkProblem !== null) return { problem: linkProblem };
  const node = file.node;
  const shown = printable(file.name);
  if (node.kind === 'unstatable') return { problem: error('setting-not-file', file.path, vm, `config/${shown} cannot be examined (${node.code})`, 'check the file') };
  if (node.kind !== 'file') {
    return { problem: error('setting-not-file', file.path, vm, `config/${shown} is a ${describe(node)}, not a regular file`,
      'a setting is a regular file (or a link to one inside the data directory); FIFOs and devices are never opened') };
  }
  if (!node.readable) return { problem: error('setting-not-file', file.path, vm, `config/${shown} cannot be read`, 'make it readable (chmod a+r)') };
  if (file.content === null) {
    return { problem: error('setting-too-large', file.path, vm, `config/${shown} has ${node.size} bytes, more than the ${CONFIG_MAX_BYTES} a setting may have; it was not read`,
      'a setting is one short line (a flag file is empty): write just the value') };
  }
  return { content: file.content };
}

/** Sets one setting from its file's bytes, or says why not. */
function applySetting<K extends SettingKey>(key: K, content: Buffer, set: { -readonly [J in SettingKey]: VmSettings[J] }, limits: SettingLimits): SettingProblem | null {
  const spec = settingSpec(key);
  let line: string;
  if (spec.form === 'flag') {
    // Content is refused, not ignored: a `writable-disks` holding "no" must not mean yes.
    if (content.length > 1 || (content.length === 1 && content[0] !== 0x0a)) {
      return { rule: 'setting-invalid', message: `config/${spec.file} is a flag file, on by being there, and must be empty; it holds ${content.length} bytes`,
        hint: `leave it empty (touch config/${spec.file}) to turn it on, or remove it to turn it off` };
    }
    line = '';
  } else {
    const one = oneLine(content);
    if ('why' in one) return { rule: 'setting-invalid', message: `config/${spec.file} ${one.why}`, hint: `write the value on one line (${spec.format})` };
    line = one.line;
  }
  const r = spec.read(line, limits);
  if (!('value' in r)) return r;
  set[key] = r.value;
  return null;
}

/**
 * A running VM's last good definition (apply keeps a VM on it when its new
 * one is refused), judged by this run's limits: a bound lowered since it was
 * applied is not escaped by a hold. The warning when they refuse it, on the
 * VM's directory; null when they do not.
 */
export function lastGoodRefusal(vm: string, dir: string, settings: VmSettings, limits: SettingLimits): Diagnostic | null {
  const problem = refusedNow(settings, limits);
  if (problem === null) return null;
  return warning('last-good-refused', dir, vm,
    `VM ${printable(vm)} runs a definition this host's limits now refuse (${problem.message.replace(/^config\//, '')}): it is not kept on it`,
    `${problem.hint}; the VM is removed until its directory holds a definition that passes`);
}

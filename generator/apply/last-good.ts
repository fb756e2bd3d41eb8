/**
 * The definitions the running VMs were last applied with, which the check
 * holds when their new one is refused (pipeline/holds.ts): read from the
 * manifest of the live database's source copy, for the VMs whose longrun
 * s6-rc says is up. The state dir is root's alone, but the manifest is still
 * parsed as any JSON: an entry without a whole definition (written by an
 * older vmsvc, or damaged) makes its VM unholdable, not the run fail.
 */
import * as fs from 'node:fs';
import type { LastGoodVm } from '../pipeline/check.js';
import { isSettingFile, isVmSettings, type SettingFile } from '../rules/settings.js';

/** A VM of the live tree: its longrun, and the definition it was applied with (null: the manifest does not hold all of it). */
export interface LiveVm {
  readonly service: string;
  readonly definition: LastGoodVm | null;
}

/**
 * The VMs of the live tree's manifest (`file`), by name: none when it cannot
 * be read or is not a manifest (the update, which needs the whole source
 * copy, says so).
 */
export function liveVms(file: string): ReadonlyMap<string, LiveVm> {
  const out = new Map<string, LiveVm>();
  for (const entry of manifestVms(file)) {
    if (!isObject(entry) || typeof entry['name'] !== 'string') continue;
    const services = entry['services'];
    // The longrun's name as the manifest recorded it: the one the live database has.
    if (isObject(services) && typeof services['vm'] === 'string') out.set(entry['name'], { service: services['vm'], definition: definition(entry) });
  }
  return out;
}

export interface LastGood {
  /** By VM name. */
  readonly vms: ReadonlyMap<string, LastGoodVm>;
  /** Running VMs the manifest lists without a whole definition: they cannot be held. */
  readonly unreadable: ReadonlySet<string>;
}

/** The live VMs that run: whose longrun is among the atomic services `up`. */
export function running(live: ReadonlyMap<string, LiveVm>, up: ReadonlySet<string>): LastGood {
  const vms = new Map<string, LastGoodVm>();
  const unreadable = new Set<string>();
  for (const [name, vm] of live) {
    if (!up.has(vm.service)) continue;
    if (vm.definition === null) unreadable.add(name);
    else vms.set(name, vm.definition);
  }
  return { vms, unreadable };
}

function manifestVms(file: string): unknown[] {
  let v: unknown;
  try {
    v = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    return [];
  }
  return isObject(v) && Array.isArray(v['vms']) ? v['vms'] : [];
}

/** What check.ts's candidate() made of the VM, as manifest.ts's manifestVm() wrote it; null when a part is missing or malformed. */
function definition(e: Record<string, unknown>): LastGoodVm | null {
  const { source, kernel, initramfs, disks, providers, settings, settingFiles } = e;
  if (typeof source !== 'string' || typeof kernel !== 'string' || !(initramfs === null || typeof initramfs === 'string')
    || !strings(disks) || !strings(providers) || !isVmSettings(settings) || !settingFileList(settingFiles)) return null;
  // The admission verdict is not recorded: the check admits it again, with the others.
  return { dir: source, kernel, initramfs, disks, providers, settings, settingFiles, autostart: settings.autostart };
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const strings = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');
const settingFileList = (v: unknown): v is SettingFile[] => Array.isArray(v) && v.every((x) => typeof x === 'string' && isSettingFile(x));

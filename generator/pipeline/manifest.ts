/**
 * The manifest: what was generated from which VM, the links and the skipped
 * VMs, which the admin commands and apply read back instead of the data dir.
 */
import type { ValidVm } from './check.js';
import type { Link } from './links.js';
import { hostPaths, type GeneratorOptions } from './options.js';
import { serviceName } from '../rules/vm-name.js';
import type { SettingFile, VmSettings } from '../rules/settings.js';
import { planCgroup, type CgroupData } from './cgroup.js';
import type { Vmm } from '../vmm/index.js';
import type { VmLinks } from './vm-links.js';

export interface ManifestVm {
  readonly name: string;
  readonly source: string;
  readonly services: { readonly vm: string; readonly logger: string; readonly pipeline: string };
  readonly kernel: string;
  readonly initramfs: string | null;
  readonly disks: readonly string[];
  readonly providers: readonly string[];
  /** Link numbers, as client then as provider; details in Manifest.links. */
  readonly links: { readonly asClient: readonly number[]; readonly asProvider: readonly number[] };
  readonly runtimeDir: string;
  readonly controlSocket: string;
  readonly consoleSocket: string | null;
  readonly logDir: string;
  /** What the VM runs with: the global flags, overridden by its config/ files. */
  readonly settings: VmSettings;
  /** The config/ files that set a setting; every other setting is the flag's default. */
  readonly settingFiles: readonly SettingFile[];
  /** The VM's cgroup and the limits its run script writes; null: --cgroup none. */
  readonly cgroup: CgroupData | null;
}

export interface Manifest {
  readonly generator: 'vmsvc';
  readonly formatVersion: 1;
  readonly dataDir: string;
  readonly bundle: string;
  readonly vmm: Vmm;
  readonly vms: readonly ManifestVm[];
  readonly links: readonly Link[];
  readonly skipped: readonly ManifestRefused[];
  /**
   * The VMs of `vms` that run their last good definition, and why their new
   * one is refused (check.ts HeldVm). Absent when none is: a tree no apply
   * held anything in is written as before holds existed.
   */
  readonly held?: readonly ManifestRefused[];
}

/** A VM whose new definition was refused: left out (skipped), or held on its last good one. */
export interface ManifestRefused {
  readonly name: string;
  readonly reason: string;
  readonly needs: string | null;
  /** The files at fault (check.ts SkippedVm). */
  readonly problems: ReadonlyArray<{ readonly rule: string; readonly path: string }>;
}

/** What JSON.stringify turns into a T: a value made only when it is serialised. */
export interface Serialises<T> {
  toJSON(): T;
}

/** The manifest as planned; serialised, it is a Manifest. */
export interface PlannedManifest extends Omit<Manifest, 'vms'> {
  /**
   * Each VM's entry is made when it is serialised for the file, and dropped
   * right after: held for the whole run, 10000 entries with
   * their derived names and paths were ~6 MB of old-generation heap.
   */
  readonly vms: ReadonlyArray<Serialises<ManifestVm>>;
}

/** A VM's entry, made only when the manifest is serialised (PlannedManifest). */
export function manifestVm(vm: ValidVm, links: VmLinks, opts: GeneratorOptions): ManifestVm {
  const paths = hostPaths(opts, vm.name);
  return {
    name: vm.name,
    source: vm.dir,
    services: { vm: serviceName.vm(vm.name), logger: serviceName.logger(vm.name), pipeline: serviceName.pipeline(vm.name) },
    kernel: vm.kernel,
    initramfs: vm.initramfs,
    disks: vm.disks,
    providers: vm.providers,
    links: { asClient: links.asClient.map((l) => l.n), asProvider: links.asProvider.map((l) => l.n) },
    runtimeDir: paths.runtimeDir,
    controlSocket: paths.controlSocket,
    consoleSocket: paths.consoleSocket,
    logDir: paths.logDir,
    settings: vm.settings,
    settingFiles: vm.settingFiles,
    cgroup: planCgroup(serviceName.vm(vm.name), vm.settings, opts),
  };
}

/** The manifest's file name: a plain file at the top, which s6-rc-compile skips. */
export const MANIFEST_FILE = 'vmsvc-manifest.json';

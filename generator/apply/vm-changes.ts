/**
 * What an update changes in each VM, in the VM's own terms (memory 256M to
 * 384M, a disk added, a link to net removed, autostart on), for
 * `apply --dry-run`: the conversion plan says which services restart and
 * which generated files differ, which an admin has to translate back. Read
 * from the manifests (vmsvc-manifest.json) of the live database's source
 * copy and of the new tree.
 */
import { compareBytes, printable } from '../util/bytes.js';
import type { FileTree } from '../util/file-tree.js';
import { MANIFEST_FILE, type ManifestRefused } from '../pipeline/manifest.js';
import { whyRefused } from '../pipeline/report.js';
import { isVmSettings, type VmSettings } from '../rules/settings.js';
import { SETTING_KEYS, SETTINGS, shownSetting } from '../rules/setting-registry.js';
import { vmmNamed } from '../vmm/index.js';

/** What this reads of a manifest's VM (manifest.ts, ManifestVm); settings null in manifests from before per-VM settings. */
interface VmFacts {
  readonly name: string;
  readonly kernel: string;
  readonly initramfs: string | null;
  readonly disks: readonly string[];
  readonly links: { readonly asClient: readonly number[]; readonly asProvider: readonly number[] };
  /** Not VmSettings when a vmsvc with fewer settings wrote it: then read as not recorded. */
  readonly settings?: VmSettings | object | null;
}

interface Facts {
  /** Hot-plugs links into its providers (vmm/capabilities.ts NetHotplug): read from the manifest's vmm. */
  readonly hotplug: boolean;
  readonly vms: readonly VmFacts[];
  readonly links: ReadonlyArray<{ readonly n: number; readonly client: string; readonly provider: string }>;
  /** The VMs of `vms` held on their last good definition (manifest.ts `held`); none when absent. */
  readonly held: readonly ManifestRefused[];
}

/**
 * The VMs and links of a tree's manifest; null when it has none or it is not
 * shaped as this reads it (then the dry run just names no VM changes: the
 * admin commands are where a bad manifest is reported).
 */
export function manifestOf(tree: FileTree): Facts | null {
  const entry = tree.get(MANIFEST_FILE);
  if (entry?.kind !== 'file') return null;
  let v: unknown;
  try {
    v = JSON.parse(entry.content);
  } catch {
    return null;
  }
  if (!isObject(v) || !Array.isArray(v['vms']) || !v['vms'].every(isVm) || !Array.isArray(v['links']) || !v['links'].every(isLink)) return null;
  const held = v['held'] ?? [];
  const hotplug = typeof v['vmm'] === 'string' && vmmNamed(v['vmm'])?.netHotplug.kind === 'api';
  return Array.isArray(held) && held.every(isRefused) ? { hotplug, vms: v['vms'], links: v['links'], held } : null;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const strings = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');
const numbers = (v: unknown): v is number[] => Array.isArray(v) && v.every((x) => Number.isInteger(x));

function isVm(v: unknown): v is VmFacts {
  if (!isObject(v)) return false;
  const links = v['links'];
  const s = v['settings'];
  return typeof v['name'] === 'string' && typeof v['kernel'] === 'string' && (v['initramfs'] === null || typeof v['initramfs'] === 'string')
    && strings(v['disks']) && isObject(links) && numbers(links['asClient']) && numbers(links['asProvider'])
    && (s === undefined || s === null || isObject(s));
}

function isRefused(v: unknown): v is ManifestRefused {
  return isObject(v) && typeof v['name'] === 'string' && typeof v['reason'] === 'string' && (v['needs'] === null || typeof v['needs'] === 'string')
    && Array.isArray(v['problems']) && v['problems'].every((x) => isObject(x) && typeof x['rule'] === 'string' && typeof x['path'] === 'string');
}

function isLink(v: unknown): v is Facts['links'][number] {
  return isObject(v) && Number.isInteger(v['n']) && typeof v['client'] === 'string' && typeof v['provider'] === 'string';
}

/**
 * One line per VM added, removed, changed or held, bytewise by name: "VM app: memory 256M to 384M; a disk added: /data/app/data.img",
 * "VM db: held on its last good definition: its new one is invalid (setting-invalid: /data/db/config/memory)".
 */
export function vmChanges(before: Facts, after: Facts): string[] {
  const old = new Map(before.vms.map((vm) => [vm.name, vm]));
  const now = new Map(after.vms.map((vm) => [vm.name, vm]));
  const held = new Map(after.held.map((h) => [h.name, printable(`held on its last good definition: its new one ${whyRefused(h)}`)]));
  const names = [...new Set([...old.keys(), ...now.keys()])].sort(compareBytes);
  const out: string[] = [];
  for (const name of names) {
    const a = old.get(name);
    const b = now.get(name);
    const holding = held.get(name);
    const changes = a === undefined ? ['added'] : b === undefined ? ['removed'] : [...(holding === undefined ? [] : [holding]), ...vmDiff(before, a, after, b)];
    if (changes.length > 0) out.push(`VM ${printable(name)}: ${changes.join('; ')}`);
  }
  return out;
}

function vmDiff(before: Facts, a: VmFacts, after: Facts, b: VmFacts): string[] {
  const out: string[] = [];
  const [x, y] = [isVmSettings(a.settings) ? a.settings : null, isVmSettings(b.settings) ? b.settings : null];
  if (x === null || y === null) out.push('settings not recorded by the vmsvc that wrote the live tree');
  else out.push(...settingsDiff(x, y));
  if (a.kernel !== b.kernel) out.push(`kernel ${printable(a.kernel)} to ${printable(b.kernel)}`);
  if (a.initramfs !== b.initramfs) out.push(`initramfs ${shown(a.initramfs)} to ${shown(b.initramfs)}`);
  out.push(...setDiff('disk', a.disks, b.disks));
  out.push(...setDiff('link', linkPeers(before, a.links.asClient, 'to'), linkPeers(after, b.links.asClient, 'to')));
  // A provider's links come and go through its running VMM's API when both trees hot-plug them.
  const served = [linkPeers(before, a.links.asProvider, 'from'), linkPeers(after, b.links.asProvider, 'from')] as const;
  out.push(...(before.hotplug && after.hotplug ? setDiff('link', ...served, HOTPLUG_WORDS) : setDiff('link', ...served)));
  return out;
}

function settingsDiff(a: VmSettings, b: VmSettings): string[] {
  const out: string[] = [];
  for (const k of SETTING_KEYS) {
    if (a[k] === b[k]) continue;
    const spec = SETTINGS[k];
    out.push(spec.form === 'flag' ? `${spec.label} ${shownSetting(k, b[k])}` : `${spec.label} ${printable(shownSetting(k, a[k]))} to ${printable(shownSetting(k, b[k]))}`);
  }
  return out;
}

const shown = (v: string | null): string => (v === null ? 'none' : JSON.stringify(printable(v)));

const CHANGE_WORDS = { added: 'added', removed: 'removed' } as const;
const HOTPLUG_WORDS = { added: 'hot-plugged into its running VMM (no restart)', removed: 'unplugged from its running VMM (no restart)' } as const;

/** "a disk added: X" / "a link removed: to net", one line per kind and way. */
function setDiff(what: string, a: readonly string[], b: readonly string[], words: typeof CHANGE_WORDS | typeof HOTPLUG_WORDS = CHANGE_WORDS): string[] {
  const added = b.filter((x) => !a.includes(x)).map(printable);
  const removed = a.filter((x) => !b.includes(x)).map(printable);
  const n = (k: number): string => (k === 1 ? `a ${what}` : `${k} ${what}s`);
  return [
    ...(added.length === 0 ? [] : [`${n(added.length)} ${words.added}: ${added.join(', ')}`]),
    ...(removed.length === 0 ? [] : [`${n(removed.length)} ${words.removed}: ${removed.join(', ')}`]),
  ];
}

/** Links by the VM at the other end ("to net", "from app"): link numbers shift when others come and go. */
function linkPeers(m: Facts, numbers: readonly number[], way: 'to' | 'from'): string[] {
  const byN = new Map(m.links.map((l) => [l.n, l]));
  return numbers.flatMap((n) => {
    const l = byN.get(n);
    return l === undefined ? [] : [`${way} ${way === 'to' ? l.provider : l.client}`];
  });
}

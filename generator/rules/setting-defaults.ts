/**
 * Every VM's settings and the host's bounds, as GeneratorOptions holds
 * them: the registry's defaults (the library's), or the host flags' values
 * (the CLI's), each read by its entry's flag.
 */
import { fail, ok, type Result } from '../util/result.js';
import type { SettingFlag } from './flag-values.js';
import {
  BOUNDED_KEYS, boundSpec, defaultFrom, SETTING_KEYS, SETTINGS, settingSpec, type SettingBounds, type SettingKey, type VmSettings,
} from './setting-registry.js';

/** The settings in SETTINGS's own order, as a manifest records them. */
const RECORDED_KEYS: readonly SettingKey[] = [...SETTING_KEYS].sort((a, b) => Object.keys(SETTINGS).indexOf(a) - Object.keys(SETTINGS).indexOf(b));

/** One value per key, each made for its own key. */
function byKey<K extends SettingKey>(keys: readonly K[], value: <J extends K>(key: J) => VmSettings[J]): { readonly [J in K]: VmSettings[J] } {
  // Object.fromEntries forgets which value belongs to which key; each was made for its own.
  return Object.fromEntries(keys.map((k) => [k, value(k)])) as { readonly [J in K]: VmSettings[J] };
}

/** Every setting's default, and every bound's: the library's options (pipeline/options.ts) and the flags' defaults. */
export const SETTING_DEFAULTS: VmSettings = byKey(RECORDED_KEYS, (k) => settingSpec(k).default);
export const BOUND_DEFAULTS: SettingBounds = byKey(BOUNDED_KEYS, (k) => boundSpec(k).default);

/**
 * Every VM's settings and the host's bounds from the host flags' values (by
 * flag name, as the argument parser gave them), or the first flag that is
 * wrong: a bound before the default it bounds, and then a default above it.
 */
export function settingsFromFlags(given: Readonly<Record<string, unknown>>): Result<{ readonly settings: VmSettings; readonly bounds: SettingBounds }> {
  let wrong: string | null = null;
  const read = <T>(flag: SettingFlag<T>, otherwise: T): T => {
    const r = flag.parse(given[flag.name]);
    if (r.ok) return r.value;
    wrong ??= `--${flag.name} ${r.error}`;
    return otherwise;
  };
  const bounds = byKey(BOUNDED_KEYS, (k) => read(boundSpec(k).flag, boundSpec(k).default));
  const settings = byKey(RECORDED_KEYS, (k) => {
    const spec = settingSpec(k);
    return spec.flag === null ? spec.default : read(spec.flag, spec.default);
  });
  if (wrong !== null) return fail(wrong);
  // Every VM's default must pass the bound a VM's own file is held to.
  for (const k of BOUNDED_KEYS) {
    const { flag } = boundSpec(k);
    if (flag.amount(settings[k]) > flag.amount(bounds[k])) return fail(`${defaultFrom(k)} ${String(settings[k])} is more than --${flag.name} ${String(bounds[k])}`);
  }
  return ok({ settings, bounds });
}

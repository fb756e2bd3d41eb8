/**
 * How a host flag's value is read: each reader takes the value the argument
 * parser gave and returns what the option holds, or what the flag must be
 * (its caller puts "--<flag> " before that, and the CLI makes it a usage
 * error). The settings' flags are declared with these in
 * setting-registry.ts; cli/flags.ts reads its other flags through them too,
 * so every flag says "must be" alike.
 */
import { printable } from '../util/bytes.js';
import { fail, ok, type Result } from '../util/result.js';
import { MEMORY_SIZE, memoryBytes, sizeBytes } from '../vmm/index.js';

export type FlagType = 'string' | 'number' | 'boolean';
export type FlagValueOf<Y extends FlagType> = Y extends 'boolean' ? boolean : Y extends 'number' ? number : string;

/** A setting's host flag: its name and type as the argument parsers declare it, and how its value is read. */
export interface SettingFlag<T, N extends string = string, Y extends FlagType = FlagType> {
  readonly name: N;
  readonly type: Y;
  readonly describe: string;
  /** The value the argument parser gave, as the setting takes it, or what the flag must be. */
  readonly parse: (given: unknown) => Result<T>;
  /** A value as the flag is written: how the setting's default appears as the flag's default. */
  readonly written: (value: T) => FlagValueOf<Y>;
}

/** A flag whose values are amounts, so that every VM's default can be held to the host's bound. */
export interface AmountFlag<T, N extends string = string, Y extends FlagType = FlagType> extends SettingFlag<T, N, Y> {
  readonly amount: (value: T) => number;
}

const SIZE_FORM = 'a number with an optional K, M or G suffix';

export function wholeNumber(given: unknown, min: number, max: number): Result<number> {
  return typeof given === 'number' && Number.isInteger(given) && given >= min && given <= max
    ? ok(given) : fail(`must be a whole number from ${min} to ${max}, got ${String(given)}`);
}

export function matching(given: unknown, re: RegExp, what: string): Result<string> {
  return typeof given === 'string' && re.test(given) ? ok(given) : fail(`must be ${what}, got "${printable(String(given))}"`);
}

/** 0 or a memory size, as memory.swap.max, the VMM's overhead and the autostart budget take them. */
export function sizeOrZero(given: unknown): Result<string> {
  return given === '0' ? ok(given) : matching(given, MEMORY_SIZE, `0 or ${SIZE_FORM}, e.g. 256M`);
}

const same = <T>(v: T): T => v;

export function countFlag<N extends string>(name: N, min: number, max: number, describe: string): AmountFlag<number, N, 'number'> {
  return { name, type: 'number', describe, parse: (v) => wholeNumber(v, min, max), written: same, amount: same };
}

/** A guest memory size; `example` is the one its message shows. */
export function memoryFlag<N extends string>(name: N, example: string, describe: string): AmountFlag<string, N, 'string'> {
  return { name, type: 'string', describe, parse: (v) => matching(v, MEMORY_SIZE, `${SIZE_FORM}, e.g. ${example}`), written: same, amount: (v) => memoryBytes(v) ?? 0 };
}

export function sizeFlag<N extends string>(name: N, describe: string): AmountFlag<string, N, 'string'> {
  return { name, type: 'string', describe, parse: sizeOrZero, written: same, amount: (v) => sizeBytes(v) ?? 0 };
}

export function onOffFlag<N extends string>(name: N, describe: string): SettingFlag<boolean, N, 'boolean'> {
  return { name, type: 'boolean', describe, parse: (v) => (typeof v === 'boolean' ? ok(v) : fail(`takes no value, got "${printable(String(v))}"`)), written: same };
}

/** A whole number from 1 to `max`, or none (null): the flag is a string so that it can say none. */
export function countOrNoneFlag<N extends string>(name: N, max: number, what: string, describe: string): SettingFlag<number | null, N, 'string'> {
  const parse = (v: unknown): Result<number | null> => {
    if (v === 'none') return ok(null);
    const digits = matching(v, /^[1-9][0-9]*$/, `${what} or none`);
    return digits.ok ? wholeNumber(Number(digits.value), 1, max) : digits;
  };
  return { name, type: 'string', describe, parse, written: (v) => (v === null ? 'none' : String(v)) };
}

/**
 * The boot path's argument parser: node's parseArgs over the same flag tables
 * yargs uses. It only takes a command line it can parse exactly as yargs
 * would — known flags, required ones present, no --help, no --no-* negation —
 * and answers null otherwise, so yargs handles (and explains) the rest. A test
 * checks that both parsers give the same arguments.
 */
import { parseArgs } from 'node:util';
import type { Io } from '../command/shell.js';
import { applyCommand, checkCommand, generateCommand } from './commands.js';
import { COMMAND_FLAGS, type ArgsOf, type FlagSpec } from './flags.js';

type Command = keyof typeof COMMAND_FLAGS;
type Value = string | boolean | number | undefined;

/** The parsed arguments of a `check`, `generate` or `apply` line, or null to let yargs decide. */
export function fastArgs(argv: readonly string[]): { command: Command; args: Record<string, Value> } | null {
  const command = argv[0];
  if (command !== 'check' && command !== 'generate' && command !== 'apply') return null;
  const args = parseFlags(COMMAND_FLAGS[command], argv.slice(1));
  return args === null ? null : { command, args };
}

/**
 * The values of a command line against one flag table, or null when yargs
 * must decide (an unknown or missing flag, --help, a --no-* negation, a value
 * that is not a number).
 */
function parseFlags<T extends Readonly<Record<string, FlagSpec>>>(flags: T, argv: readonly string[]): ArgsOf<T> | null {
  if (argv.some((a) => a.startsWith('--no-') || a === '--help' || a === '-h' || a === '--version')) return null;
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: Object.fromEntries(Object.entries(flags).map(([name, f]) => [name, { type: f.type === 'boolean' ? 'boolean' : 'string' }])),
    });
  } catch {
    return null;
  }
  const args: Record<string, Value> = {};
  for (const [name, flag] of Object.entries(flags)) {
    const raw = parsed.values[name];
    if (raw === undefined) {
      if (flag.demandOption === true) return null;
      args[name] = flag.default;
    } else if (typeof raw !== 'string' && typeof raw !== 'boolean') {
      return null;
    } else if (flag.type === 'number') {
      const n = Number(raw);
      if (raw === '' || !Number.isFinite(n)) return null;
      args[name] = n;
    } else {
      args[name] = raw;
    }
  }
  // Every key of the table was set above from a value of the flag's own type,
  // its default, or undefined when it has neither default nor demand: ArgsOf<T>.
  return args as ArgsOf<T>;
}

/** The command to run for a `check`, `generate` or `apply` line, or null to let yargs decide. */
export function fastParse(argv: readonly string[], io: Io): (() => number) | null {
  const rest = argv.slice(1);
  switch (argv[0]) {
    case 'check': {
      const args = parseFlags(COMMAND_FLAGS.check, rest);
      return args === null ? null : () => checkCommand(args, io);
    }
    case 'generate': {
      const args = parseFlags(COMMAND_FLAGS.generate, rest);
      return args === null ? null : () => generateCommand(args, io);
    }
    case 'apply': {
      const args = parseFlags(COMMAND_FLAGS.apply, rest);
      return args === null ? null : () => applyCommand(args, io);
    }
    default:
      return null;
  }
}

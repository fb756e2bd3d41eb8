/**
 * The boot path's argument parser: node's parseArgs over the same flag tables
 * yargs uses. It only takes a command line it can parse exactly as yargs
 * would — known flags, required ones present, no --help, no --no-* negation —
 * and answers null otherwise, so yargs handles (and explains) the rest. A test
 * checks that both parsers give the same arguments.
 */
import { parseArgs } from 'node:util';
import {
  applyCommand,
  applyFlags,
  checkCommand,
  checkFlags,
  generateCommand,
  generateFlags,
  optionFlags,
  type ApplyArgs,
  type CheckArgs,
  type GenerateArgs,
  type Io,
} from './commands.js';

interface Flag {
  readonly type: 'string' | 'boolean' | 'number';
  readonly default?: string | boolean | number;
  readonly demandOption?: boolean;
}

const COMMANDS = {
  check: { flags: { ...checkFlags, ...optionFlags } },
  generate: { flags: { ...generateFlags, ...optionFlags } },
  apply: { flags: { ...applyFlags, ...optionFlags } },
} as const;

export type ParsedArgs = Record<string, string | boolean | number | undefined>;

/** The parsed arguments of a `check` or `generate` line, or null to let yargs decide. */
export function fastArgs(argv: readonly string[]): { command: keyof typeof COMMANDS; args: ParsedArgs } | null {
  const command = argv[0];
  if (command !== 'check' && command !== 'generate' && command !== 'apply') return null;
  if (argv.some((a) => a.startsWith('--no-') || a === '--help' || a === '-h' || a === '--version')) return null;
  const flags: Readonly<Record<string, Flag>> = COMMANDS[command].flags;
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: argv.slice(1),
      strict: true,
      allowPositionals: false,
      options: Object.fromEntries(Object.entries(flags).map(([name, f]) => [name, { type: f.type === 'boolean' ? 'boolean' : 'string' }])),
    });
  } catch {
    return null;
  }
  const args: ParsedArgs = {};
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
  return { command, args };
}

/** The command to run for a `check`, `generate` or `apply` line, or null to let yargs decide. */
export function fastParse(argv: readonly string[], io: Io): (() => number) | null {
  const parsed = fastArgs(argv);
  if (parsed === null) return null;
  // The flag tables guarantee the shape each command expects.
  const args = parsed.args as unknown as CheckArgs & GenerateArgs & ApplyArgs;
  switch (parsed.command) {
    case 'check':
      return () => checkCommand(args, io);
    case 'generate':
      return () => generateCommand(args, io);
    case 'apply':
      return () => applyCommand(args, io);
  }
}

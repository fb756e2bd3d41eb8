/**
 * Entry point. A run at boot is a plain `generate`, `check` or `apply`: those
 * are parsed with node's own parseArgs and yargs is never loaded (it costs
 * more start-up time than generating a small tree). Anything else — help, a
 * usage error, other commands — goes to yargs, which reads the same flag tables.
 */
import { guard, processIo, type Io } from '../command/shell.js';
import { fastParse } from './fast.js';

export async function main(argv: readonly string[], io: Io = processIo): Promise<number> {
  const fast = fastParse(argv, io);
  if (fast !== null) return guard(io, fast);
  const { runWithYargs } = await import('./yargs.js');
  return runWithYargs(argv, io);
}

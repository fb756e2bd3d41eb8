/**
 * A program vmsvc runs, or writes into the scripts it generates, declared
 * once in a table of them: the flag that names another and what it runs by
 * default. The flags, the defaults and the host check's list all derive
 * from the tables (pipeline/options.ts, apply/programs.ts), so a program
 * cannot have a default without a flag, or a flag the host check misses.
 */
export interface ProgramDecl {
  readonly flag: string;
  /** A name looked up in PATH where it runs, or an absolute path. */
  readonly path: string;
  /** What --help says of it. */
  readonly describe: string;
}

export type ProgramTable = Readonly<Record<string, ProgramDecl>>;

/** One path for each program of `table`, keyed as the table is: its defaults, or what the flags gave. */
export function programPaths<T extends ProgramTable>(table: T, pathOf: (decl: T[keyof T]) => string): { readonly [K in keyof T]: string } {
  const paths: Partial<Record<keyof T, string>> = {};
  for (const key in table) paths[key] = pathOf(table[key]);
  // The loop set every key of the table.
  return paths as { readonly [K in keyof T]: string };
}

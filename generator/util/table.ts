/**
 * Columns padded to their widest cell, two spaces apart, trailing spaces
 * trimmed: every table vmsvc prints. Cells are printed as given, so each
 * caller escapes every cell that holds anything read (printable(), or
 * tableNames() for names): printable() escapes the backslash, so applying it
 * here too would escape the callers' escapes twice.
 */
export function alignedTable(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  // A reduce, not Math.max(...rows): up to 65534 rows would be as many arguments.
  const widths = header.map((h, i) => rows.reduce((w, r) => Math.max(w, (r[i] ?? '').length), h.length));
  return [header, ...rows].map((r) => r.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n') + '\n';
}

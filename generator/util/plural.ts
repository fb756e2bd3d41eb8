/** `1 VM`, `2 VMs`: a count with its noun. */
export function plural(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? '' : 's'}`;
}

/** "1 VM", "2 VMs": a count and its noun, for English messages. */
export function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

/**
 * Linear probing over the numbers first..last, in near-constant time per
 * slot: gives each preferred slot, in order, the first free number at or
 * above it, wrapping from last to first. Probing one number at a time costs
 * O(n) per entry once names hash into one cluster (65534 links: 44 s); here
 * every taken number points at a number above it, and find() follows and
 * shortens those chains (path halving), so the numbers are exactly the
 * linear probe's. At most last - first + 1 slots. Shared by the link numbers
 * and the per-VM uids: both are a hash of a name that a collision moves on.
 */
export function placeInSlots(slots: readonly number[], first: number, last: number): number[] {
  // next[n - first] === n: n is free; else some number above n (wrapping) at which to look on.
  const next = new Int32Array(last - first + 1);
  for (let n = first; n <= last; n++) next[n - first] = n;
  const find = (start: number): number => {
    let n = start;
    while (next[n - first] !== n) {
      const up = next[n - first]!;
      next[n - first] = next[up - first]!;
      n = up;
    }
    return n;
  };
  return slots.map((slot) => {
    const n = find(slot);
    next[n - first] = n === last ? first : n + 1;
    return n;
  });
}

/** Link numbering: the guide's address rule, uniqueness, and stability under change. */
import test from 'ava';
import fc from 'fast-check';
import { compareBytes } from '../../generator/util/bytes.js';
import { placeInSlots } from '../../generator/util/slots.js';
import {
  assignLinks, clientIpFromMac, makeLink, preferredSlot, FIRST_LINK, LAST_LINK, LINK_CAPACITY, type LinkNumber, type LinkRequest,
} from '../../generator/pipeline/links.js';
import type { VmName } from '../../generator/rules/vm-name.js';
import { checkTree } from '../../generator/pipeline/check.js';
import { defaultOptions } from '../../generator/pipeline/options.js';
import type { ScannedTree, ScannedVm } from '../../generator/rules/scanned.js';

const vm = (s: string) => s as VmName;

test('the user guide\'s example: 0A:B3:EC:00:A5:46 means 100.64.165.70', (t) => {
  t.is(clientIpFromMac('0A:B3:EC:00:A5:46'), '100.64.165.70');
  const link = makeLink(0xa546 as LinkNumber, vm('appvm-lynx'), vm('netvm'));
  t.is(link.clientMac as string, '0a:b3:ec:00:a5:46');
  t.is(link.providerMac as string, '0a:b3:ec:80:a5:46');
  t.is(link.clientIp, '100.64.165.70');
  t.is(clientIpFromMac(link.clientMac), link.clientIp);
  t.deepEqual([link.bridge, link.clientTap, link.providerTap, link.service], ['vbr-a546', 'vtc-a546', 'vtp-a546', 'vmnet-a546']);
  for (const name of [link.bridge, link.clientTap, link.providerTap]) t.true(name.length <= 15, `${name} fits IFNAMSIZ`);
});

/** Deterministic pseudo-random numbers so the measurement is repeatable. */
function lcg(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648;
  };
}

function randomRequests(vms: number, rnd: () => number): LinkRequest[] {
  const out: LinkRequest[] = [];
  for (let i = 1; i < vms; i++) {
    const count = rnd() < 0.5 ? 1 + Math.floor(rnd() * 3) : 0;
    const providers = new Set<number>();
    for (let k = 0; k < count; k++) providers.add(Math.floor(rnd() * i));
    for (const p of providers) out.push({ client: vm(`vm${i}`), provider: vm(`vm${p}`) });
  }
  return out;
}

const numbers = (requests: readonly LinkRequest[]) => new Map(assignLinks(requests).map((l) => [`${l.client}>${l.provider}`, l.n]));

test('numbers are unique, in 1..65534, independent of input order, and the same on every run', (t) => {
  const requests = randomRequests(3000, lcg(7));
  const links = assignLinks(requests);
  t.is(links.length, requests.length);
  t.is(new Set(links.map((l) => l.n)).size, links.length);
  t.true(links.every((l) => l.n >= 1 && l.n <= 65534));
  t.deepEqual(numbers([...requests].reverse()), numbers(requests));
  t.deepEqual(numbers(requests), numbers(requests));
});

test('adding or removing 10 VMs moves few existing addresses (measured)', (t) => {
  const rnd = lcg(42);
  const base = randomRequests(2000, rnd);
  const before = numbers(base);
  // Ten new VMs, each a client of one or two existing VMs.
  const added = [...base];
  for (let i = 0; i < 10; i++) {
    for (let k = 0; k < 2; k++) added.push({ client: vm(`new${i}`), provider: vm(`vm${Math.floor(rnd() * 2000)}`) });
  }
  // Ten VMs removed, with every link to or from them.
  const gone = new Set(Array.from({ length: 10 }, (_, i) => `vm${100 + i * 97}`));
  const removed = base.filter((r) => !gone.has(r.client) && !gone.has(r.provider));
  const moved = (after: Map<string, number>) => [...after].filter(([k, n]) => before.has(k) && before.get(k) !== n).length;
  const movedOnAdd = moved(numbers(added));
  const movedOnRemove = moved(numbers(removed));
  t.log(`${before.size} links; +10 VMs (${added.length - base.length} links): ${movedOnAdd} existing links moved; ` +
    `-10 VMs (${base.length - removed.length} links): ${movedOnRemove} moved`);
  // A numbering by position would move about half of them; hashing with probing moves only collisions.
  t.true(movedOnAdd <= 5, `${movedOnAdd} moved on add`);
  t.true(movedOnRemove <= 5, `${movedOnRemove} moved on remove`);
});

test('a full address space still numbers every link; one more is a check error', (t) => {
  const full: LinkRequest[] = [];
  for (let i = 0; i < LINK_CAPACITY; i++) full.push({ client: vm(`c${i}`), provider: vm('p') });
  const links = assignLinks(full);
  t.is(new Set(links.map((l) => l.n)).size, LINK_CAPACITY);
  t.throws(() => assignLinks([...full, { client: vm('extra'), provider: vm('p') }]), { instanceOf: RangeError });

  // The check sees the same limit before anything is numbered.
  const file = { kind: 'file', viaSymlink: false, size: 64, readable: true, resolved: null } as const;
  const dir = { kind: 'directory', viaSymlink: false, size: 0, readable: true, resolved: null } as const;
  const mkVm = (name: string, providers: string[]): ScannedVm => ({
    name, dir: `/d/${name}`, vmlinux: file, vmlinuxFormat: { kind: 'elf', other: { linuxSetupHeader: false, multibootAt: null } }, initramfs: { kind: 'missing' }, blk: dir,
    images: [{ name: 'root.img', path: `/d/${name}/blk/root.img`, node: file, signature: null }],
    providersDir: providers.length > 0 ? dir : { kind: 'missing' }, providersNetDir: providers.length > 0 ? dir : { kind: 'missing' },
    providers: providers.map((p) => ({ name: p, path: `/d/${name}/providers/net/${p}`, node: file })),
    configDir: { kind: 'missing' }, config: [], undecodable: [],
  });
  // 256 providers x 257 clients = 65792 links > 65534.
  const providers = Array.from({ length: 256 }, (_, i) => `p${i}`);
  const vms = [...providers.map((p) => mkVm(p, [])), ...Array.from({ length: 257 }, (_, i) => mkVm(`c${i}`, providers))];
  const tree: ScannedTree = {
    root: '/d',
    vmNames: vms.map((v) => v.name),
    vms,
    others: [],
    undecodable: [],
    entryCount: 513,
  };
  const result = checkTree(tree, defaultOptions);
  t.deepEqual(result.diagnostics.map((d) => d.rule), ['links-exhausted']);
  t.regex(result.diagnostics[0]!.message, /65792 network links, but 100\.64\.0\.0\/16 gives only 65534/);
  t.is(result.vms.length, 0);
});

// ------------------------------------------------------------------ the probe: identical numbers, bounded time

/** The numbering as it was first written (one number at a time): the reference every address must keep. */
function linearProbe(slots: readonly number[]): number[] {
  const taken = new Set<number>();
  return slots.map((slot) => {
    let n = slot;
    while (taken.has(n)) n = n === LAST_LINK ? FIRST_LINK : n + 1;
    taken.add(n);
    return n;
  });
}

/** assignLinks as it was first written, on top of linearProbe. */
function referenceNumbers(requests: readonly LinkRequest[]): Map<string, number> {
  const keyed = requests.map((r) => ({ ...r, slot: preferredSlot(r.client, r.provider) }));
  keyed.sort((a, b) => a.slot - b.slot || compareBytes(a.client, b.client) || compareBytes(a.provider, b.provider));
  const ns = linearProbe(keyed.map((r) => r.slot));
  return new Map(keyed.map((r, i) => [`${r.client}>${r.provider}`, ns[i]!]));
}

const entries = (m: ReadonlyMap<string, number>): Array<[string, number]> => [...m].sort(([a], [b]) => compareBytes(a, b));

const slot = fc.oneof(
  fc.integer({ min: FIRST_LINK, max: LAST_LINK }),
  fc.integer({ min: LAST_LINK - 40, max: LAST_LINK }), // wraps
  fc.integer({ min: FIRST_LINK, max: FIRST_LINK + 40 }),
  fc.constantFrom(FIRST_LINK, 1000, LAST_LINK), // one cluster
);

test('placeInSlots gives exactly the linear probe\'s numbers (property, clusters and wrapping included)', (t) => {
  fc.assert(fc.property(fc.array(slot, { maxLength: 3000 }), (slots) => {
    t.deepEqual(placeInSlots(slots, FIRST_LINK, LAST_LINK), linearProbe(slots));
  }), { numRuns: 300 });
  // Sorted as assignLinks hands them over, and a whole address space of one slot.
  fc.assert(fc.property(fc.array(slot, { maxLength: 3000 }), (slots) => {
    const sorted = [...slots].sort((a, b) => a - b);
    t.deepEqual(placeInSlots(sorted, FIRST_LINK, LAST_LINK), linearProbe(sorted));
  }), { numRuns: 100 });
  const full = Array.from({ length: LINK_CAPACITY }, () => 7);
  t.deepEqual(placeInSlots(full, FIRST_LINK, LAST_LINK), [...Array.from({ length: LAST_LINK - 6 }, (_, i) => 7 + i), 1, 2, 3, 4, 5, 6]);
});

test('assignLinks numbers every link as the old algorithm did (property, up to a full address space)', (t) => {
  const names = fc.array(fc.tuple(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 300 })), { maxLength: 2000 });
  fc.assert(fc.property(names, (pairs) => {
    const requests = [...new Map(pairs.filter(([c, p]) => c !== p).map(([c, p]) => [`${c}>${p}`, { client: vm(`vm${c}`), provider: vm(`vm${p}`) }])).values()];
    t.deepEqual(entries(numbers(requests)), entries(referenceNumbers(requests)));
  }), { numRuns: 100 });
  const full: LinkRequest[] = [];
  for (let i = 0; i < LINK_CAPACITY; i++) full.push({ client: vm(`c${i}`), provider: vm('p') });
  t.deepEqual(entries(numbers(full)), entries(referenceNumbers(full)));
});

/** `n` links whose names all hash into slots 1..`width`: found by trying names, in a fixed order. */
function clusteredRequests(n: number, width: number): LinkRequest[] {
  const out: LinkRequest[] = [];
  for (let i = 0; out.length < n; i++) {
    if (preferredSlot(`c${i}`, 'p') <= width) out.push({ client: vm(`c${i}`), provider: vm('p') });
  }
  return out;
}

test('links whose names all hash into one cluster get the old algorithm\'s numbers (its speed is in npm run bench)', (t) => {
  const clustered = clusteredRequests(3000, 300);
  t.deepEqual(entries(numbers(clustered)), entries(referenceNumbers(clustered)));
});

/**
 * Inter-VM links and their addresses. Each (client, provider) pair gets a
 * number n in 1..65534, unique in the tree, from which everything else derives:
 *
 *   client MAC    0A:B3:EC:00:HH:LL      (HH:LL = n)
 *   provider MAC  0A:B3:EC:80:HH:LL      (top bit of octet 4: the router side)
 *   client IPv4   100.64.HH.LL
 *   interfaces    vbr-hhll, vtc-hhll (client tap), vtp-hhll (provider tap)
 *
 * n is a pure function of the set of links: a hash of the pair picks a slot,
 * and collisions probe upwards in a fixed order. Adding or removing other VMs
 * moves a link's address only when it collided, so addresses survive restarts,
 * reboots and unrelated changes, and two links can never share one.
 */
import { createHash } from 'node:crypto';
import { compareBytes } from '../util/bytes.js';
import { placeInSlots } from '../util/slots.js';
import type { VmName } from '../rules/vm-name.js';

export type LinkNumber = number & { readonly __brand: 'LinkNumber' };
/** Lower-case colon-separated MAC address. */
export type Mac = string & { readonly __brand: 'Mac' };

/** 0 and 65535 would give the 100.64.0.0/16 network and broadcast addresses. */
export const FIRST_LINK = 1;
export const LAST_LINK = 65534;
export const LINK_CAPACITY = LAST_LINK - FIRST_LINK + 1;

export interface Link {
  readonly n: LinkNumber;
  readonly client: VmName;
  readonly provider: VmName;
  readonly clientMac: Mac;
  readonly providerMac: Mac;
  readonly clientIp: string;
  readonly bridge: string;
  readonly clientTap: string;
  readonly providerTap: string;
  /** The oneshot that creates the bridge and taps. */
  readonly service: string;
}

export interface LinkRequest {
  readonly client: VmName;
  readonly provider: VmName;
}

/** The slot a pair hashes to, before probing. */
export function preferredSlot(client: string, provider: string): number {
  const digest = createHash('sha256').update(client).update('\0').update(provider).digest();
  return FIRST_LINK + (digest.readUInt32BE(0) % LINK_CAPACITY);
}

/**
 * Numbers every link. Links are placed in (preferred slot, client, provider)
 * order, each taking its slot or the next free one above it (wrapping), so the
 * result depends only on the set of links, not on scan order. Throws if there
 * are more links than numbers: check reports that case before this is called.
 */
export function assignLinks(requests: readonly LinkRequest[]): Link[] {
  if (requests.length > LINK_CAPACITY) throw new RangeError(`${requests.length} links, only ${LINK_CAPACITY} addresses`);
  const keyed = requests.map((r) => ({ ...r, slot: preferredSlot(r.client, r.provider) }));
  keyed.sort((a, b) => a.slot - b.slot || compareBytes(a.client, b.client) || compareBytes(a.provider, b.provider));
  const numbers = placeInSlots(keyed.map((r) => r.slot), FIRST_LINK, LAST_LINK);
  const links = keyed.map((r, i) => makeLink(numbers[i]! as LinkNumber, r.client, r.provider));
  return links.sort((a, b) => compareBytes(a.client, b.client) || compareBytes(a.provider, b.provider));
}

/** A link number as its names carry it: four lower-case hex digits. */
export function linkHex(n: number): string {
  return n.toString(16).padStart(4, '0');
}

/** The provider-side tap of the link whose number is `hex` (linkHex, or a variable holding it). */
export function providerTapName(hex: string): string {
  return `vtp-${hex}`;
}

export function makeLink(n: LinkNumber, client: VmName, provider: VmName): Link {
  const hh = n >> 8;
  const ll = n & 0xff;
  const suffix = linkHex(n);
  return {
    n,
    client,
    provider,
    clientMac: mac(0x00, hh, ll),
    providerMac: mac(0x80, hh, ll),
    clientIp: `100.64.${hh}.${ll}`,
    bridge: `vbr-${suffix}`,
    clientTap: `vtc-${suffix}`,
    providerTap: providerTapName(suffix),
    service: `vmnet-${suffix}`,
  };
}

function mac(octet4: number, hh: number, ll: number): Mac {
  return [0x0a, 0xb3, 0xec, octet4, hh, ll].map((b) => b.toString(16).padStart(2, '0')).join(':') as Mac;
}

/** The guide's rule, read back from a client MAC: 0a:b3:ec:00:a5:46 -> 100.64.165.70. */
export function clientIpFromMac(m: string): string | null {
  const match = /^0a:b3:ec:00:([0-9a-f]{2}):([0-9a-f]{2})$/i.exec(m);
  return match === null ? null : `100.64.${Number.parseInt(match[1]!, 16)}.${Number.parseInt(match[2]!, 16)}`;
}

/**
 * Who each VM's processes run as. By default every VM has two identities of
 * its own, numbers with no /etc/passwd entry, taken from a host-configured
 * range: one for its VMM (which owns the VM's runtime dir, sockets and its
 * side of each link's taps) and one for its loggers (which own its log dir),
 * so that a guest that escapes into its VMM can neither reach another VM nor
 * rewrite its own VM's logs. The identities are dropped to with
 * s6-applyuidgid, numbers only, so nothing is added to the host's account
 * database at boot.
 *
 * A VM's slot is a hash of its name; a collision probes upwards in a fixed
 * order (as link numbers do), so a VM keeps its uids when other VMs come and
 * go, unless its slot was taken by a collision. Slot s gives the VMM uid
 * base + 2s and the logger uid base + 2s + 1; each gid is its uid.
 */
import { createHash } from 'node:crypto';
import { placeInSlots } from '../util/slots.js';
import type { VmName } from '../rules/vm-name.js';
import type { Programs } from './options.js';

/** What a --vmm-user or --log-user flag asks for. */
export type Principal =
  | { readonly kind: 'per-vm' }
  /** One named account for every VM (s6-setuidgid), as before per-VM ids. */
  | { readonly kind: 'shared'; readonly name: string }
  | { readonly kind: 'root' };

/**
 * The uids (and gids) per-VM identities are taken from: base..base+count-1.
 * Default 0x70000000 and 65536: above Debian's subordinate uid ranges
 * (login.defs SUB_UID_MAX 600100000) and systemd's container ranges
 * (524288..1879048191), below 2^31 (systemd.io/UIDS-GIDS: 1879048192 up to
 * 2147483647 is unused).
 */
export interface IdRange {
  readonly base: number;
  readonly count: number;
}

export const DEFAULT_ID_RANGE: IdRange = { base: 0x70000000, count: 65536 };

/** What one process of a VM runs as. */
export type RunAs =
  | { readonly kind: 'root' }
  | { readonly kind: 'shared'; readonly name: string }
  | { readonly kind: 'ids'; readonly uid: number; readonly gid: number; readonly groups: readonly number[] };

export interface VmIdentities {
  readonly vmm: RunAs;
  readonly log: RunAs;
}

export interface IdentityOptions {
  readonly vmmUser: Principal;
  readonly logUser: Principal;
  readonly idRange: IdRange;
  /** The group that may open /dev/kvm, a per-VM VMM's one supplementary group; null: none. */
  readonly kvmGid: number | null;
}

/** VMs a range has room for: two ids each. */
export const vmsInRange = (range: IdRange): number => Math.floor(range.count / 2);

/** The slot a VM's name hashes to, before probing. */
export function preferredSlot(name: string, slots: number): number {
  return createHash('sha256').update('vmsvc-id\0').update(name).digest().readUInt32BE(0) % slots;
}

/**
 * Every VM's identities, a pure function of the set of names. Throws if the
 * range has no room: the CLI refuses a --max-vms the range cannot hold.
 */
export function assignIdentities(names: readonly VmName[], o: IdentityOptions): Map<VmName, VmIdentities> {
  const slots = vmsInRange(o.idRange);
  const perVm = o.vmmUser.kind === 'per-vm' || o.logUser.kind === 'per-vm';
  const slotOf = new Map<VmName, number>();
  if (perVm) {
    if (names.length > slots) throw new RangeError(`${names.length} VMs, room for ${slots} in the id range`);
    const keyed = names.map((name) => ({ name, slot: preferredSlot(name, slots) }));
    keyed.sort((a, b) => a.slot - b.slot || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const placed = placeInSlots(keyed.map((k) => k.slot), 0, slots - 1);
    keyed.forEach((k, i) => slotOf.set(k.name, placed[i]!));
  }
  const runAs = (role: keyof VmIdentities, name: VmName): RunAs => {
    const p = role === 'vmm' ? o.vmmUser : o.logUser;
    return p.kind === 'per-vm' ? idsAt(o, slotOf.get(name)!, role) : p;
  };
  return new Map(names.map((name) => [name, { vmm: runAs('vmm', name), log: runAs('log', name) }]));
}

/** Slot `slot`'s VMM ids (base + 2 x slot) or logger ids (the next); only the VMM gets the kvm group. */
function idsAt(o: IdentityOptions, slot: number, role: keyof VmIdentities): RunAs {
  const id = o.idRange.base + 2 * slot + (role === 'vmm' ? 0 : 1);
  return { kind: 'ids', uid: id, gid: id, groups: role === 'vmm' && o.kvmGid !== null ? [o.kvmGid] : [] };
}

/** What a VMM runs as, for a probe of the host: a per-vm VMM as the first ids of the range. */
export function sampleVmmRunAs(o: IdentityOptions): RunAs {
  return o.vmmUser.kind === 'per-vm' ? idsAt(o, 0, 'vmm') : o.vmmUser;
}

/**
 * The words that drop root before a program: none for root; s6-setuidgid
 * for a shared account; s6-applyuidgid with numbers for a VM's own ids,
 * whose -G always sets the supplementary groups, so that none of root's
 * are kept (an empty -G clears them).
 */
export function dropArgv(r: RunAs, programs: Pick<Programs, 's6Setuidgid' | 's6Applyuidgid'>): string[] {
  switch (r.kind) {
    case 'root':
      return [];
    case 'shared':
      return [programs.s6Setuidgid, r.name];
    case 'ids':
      return [programs.s6Applyuidgid, '-u', String(r.uid), '-g', String(r.gid), '-G', r.groups.join(',')];
  }
}

/** chown's OWNER[:GROUP] for what the process owns; null for root, which needs no chown. */
export function ownerSpec(r: RunAs): string | null {
  switch (r.kind) {
    case 'root':
      return null;
    case 'shared':
      return `${r.name}:`;
    case 'ids':
      return `${r.uid}:${r.gid}`;
  }
}

/** setfacl's qualifier for the files the VMM opens by path (pipeline/handover.ts); null for root, which needs no entry. */
export function aclQualifier(r: RunAs): string | null {
  return r.kind === 'root' ? null : tapUser(r);
}

/** ip tuntap's `user`: the account that may attach to a tap. */
export function tapUser(r: RunAs): string {
  switch (r.kind) {
    case 'root':
      return 'root';
    case 'shared':
      return r.name;
    case 'ids':
      return String(r.uid);
  }
}

/** How messages name it: "root", the account, or "uid 1879048194". */
export function describeRunAs(r: RunAs): string {
  return r.kind === 'ids' ? `uid ${r.uid}` : tapUser(r);
}

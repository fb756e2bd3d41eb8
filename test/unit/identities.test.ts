/** Per-VM identities: unique, stable when other VMs come and go, and pinned, since a uid that changed across versions would orphan a VM's files. */
import test from 'ava';
import fc from 'fast-check';
import { assignIdentities, dropArgv, ownerSpec, tapUser, DEFAULT_ID_RANGE, type IdentityOptions, type RunAs } from '../../generator/pipeline/identities.js';
import { defaultOptions } from '../../generator/pipeline/options.js';
import type { VmName } from '../../generator/rules/vm-name.js';

const PER_VM: IdentityOptions = { vmmUser: { kind: 'per-vm' }, logUser: { kind: 'per-vm' }, idRange: DEFAULT_ID_RANGE, kvmGid: 994 };
// Names as check hands them over; no name check is needed for the allocation itself.
const names = (xs: readonly string[]): VmName[] => xs.map((x) => x as VmName);
const uid = (r: RunAs | undefined): number => (r?.kind === 'ids' ? r.uid : -1);

test('each VM gets a VMM uid base + 2s and a logger uid base + 2s + 1, gid = uid; only the VMM gets the kvm group', (t) => {
  const ids = assignIdentities(names(['netvm', 'appvm-lynx', 'solo']), PER_VM);
  // Pinned: these numbers are what hosts have on disk (log dirs, taps); a change is a migration.
  t.deepEqual(ids.get('solo' as VmName), {
    vmm: { kind: 'ids', uid: 1879096180, gid: 1879096180, groups: [994] },
    log: { kind: 'ids', uid: 1879096181, gid: 1879096181, groups: [] },
  });
  t.is(uid(ids.get('netvm' as VmName)?.vmm), 1879073634);
  t.is(uid(ids.get('appvm-lynx' as VmName)?.vmm), 1879089858);
});

test('uids are unique, inside the range, and a VM keeps its uids when others come and go unless it collided (property)', (t) => {
  const small: IdentityOptions = { ...PER_VM, idRange: { base: 100000, count: 64 } };
  fc.assert(fc.property(fc.uniqueArray(fc.string({ minLength: 1, maxLength: 6 }), { maxLength: 32 }), fc.uniqueArray(fc.string({ minLength: 1, maxLength: 6 }), { maxLength: 32 }), (a, b) => {
    const all = [...new Set([...a, ...b])].slice(0, 32);
    const ids = assignIdentities(names(all), small);
    const used = [...ids.values()].flatMap((v) => [uid(v.vmm), uid(v.log)]);
    t.is(new Set(used).size, used.length);
    t.true(used.every((u) => u >= 100000 && u < 100064));
    // Alone, a VM sits at its hashed slot; with others it moves only if that slot was taken.
    for (const name of all) {
      const aloneUid = uid(assignIdentities(names([name]), small).get(name as VmName)?.vmm);
      const withOthers = uid(ids.get(name as VmName)?.vmm);
      if (aloneUid !== withOthers) t.true(used.includes(aloneUid), `${name} moved without a collision`);
    }
  }), { numRuns: 200 });
});

test('the order VMs come in does not change anyone\'s uid', (t) => {
  const list = Array.from({ length: 300 }, (_, i) => `vm${i}`);
  const a = assignIdentities(names(list), PER_VM);
  const b = assignIdentities(names([...list].reverse()), PER_VM);
  for (const n of list) t.deepEqual(a.get(n as VmName), b.get(n as VmName));
});

test('the words each identity becomes: numbers for s6-applyuidgid (an empty -G clears root\'s groups), the account for s6-setuidgid, nothing for root', (t) => {
  const p = defaultOptions.programs;
  t.deepEqual(dropArgv({ kind: 'ids', uid: 5, gid: 6, groups: [] }, p), ['s6-applyuidgid', '-u', '5', '-g', '6', '-G', '']);
  t.deepEqual(dropArgv({ kind: 'ids', uid: 5, gid: 6, groups: [994] }, p), ['s6-applyuidgid', '-u', '5', '-g', '6', '-G', '994']);
  t.deepEqual(dropArgv({ kind: 'shared', name: 'vmm' }, p), ['s6-setuidgid', 'vmm']);
  t.deepEqual(dropArgv({ kind: 'root' }, p), []);
  t.is(ownerSpec({ kind: 'ids', uid: 5, gid: 6, groups: [] }), '5:6');
  t.is(ownerSpec({ kind: 'root' }), null);
  t.is(tapUser({ kind: 'ids', uid: 5, gid: 6, groups: [] }), '5');
});

test('the default runs no VMM and no logger as root', (t) => {
  t.is(defaultOptions.vmmUser.kind, 'per-vm');
  t.is(defaultOptions.logUser.kind, 'per-vm');
});

/** Which compiled databases apply keeps: link targets, the current/previous switch, pruning. */
import test from 'ava';
import { afterSwitch, hashOfTarget, keptHashes, linkTarget, obsoleteEntries, type DbLinks } from '../../generator/apply/db-rotation.js';

const H1 = '1111111111111111';
const H2 = '2222222222222222';
const H3 = '3333333333333333';
const H4 = '4444444444444444';

test('link targets are relative compiled/HASH and read back; anything else is not ours', (t) => {
  t.is(linkTarget(H1), `compiled/${H1}`);
  t.is(hashOfTarget(linkTarget(H1)), H1);
  for (const other of [`/state/compiled/${H1}`, `compiled/${H1}/`, `compiled/${H1}.source`, 'compiled/xyz', `../compiled/${H1}`, H1, `compiled/${H1.toUpperCase().replace(/1/g, 'A')}`]) {
    t.is(hashOfTarget(other), null, other);
  }
});

test('switching: the database that was running becomes previous, the older previous is dropped', (t) => {
  const none: DbLinks = { current: null, previous: null };
  const first = afterSwitch(none, H1, null);
  t.deepEqual(first, { current: H1, previous: null });
  const second = afterSwitch(first, H2, H1);
  t.deepEqual(second, { current: H2, previous: H1 });
  const third = afterSwitch(second, H3, H2);
  t.deepEqual(third, { current: H3, previous: H2 });
});

test('switching back to previous swaps the two', (t) => {
  t.deepEqual(afterSwitch({ current: H2, previous: H1 }, H1, H2), { current: H1, previous: H2 });
});

test('a fresh start (no live system) keeps the old current as previous', (t) => {
  t.deepEqual(afterSwitch({ current: H1, previous: H4 }, H2, null), { current: H2, previous: H1 });
  t.deepEqual(afterSwitch({ current: H1, previous: H4 }, H1, null), { current: H1, previous: H4 }, 'same database: previous stays');
});

test('repairing after a killed run: what the live system replaced becomes previous', (t) => {
  // s6-rc-update switched the live system from H1 to H2, then the run was killed before `current` moved.
  t.deepEqual(afterSwitch({ current: H1, previous: H4 }, H2, H1), { current: H2, previous: H1 });
});

test('kept: current, previous and what the live system runs', (t) => {
  t.deepEqual([...keptHashes({ current: H2, previous: H1 }, H2)].sort(), [H1, H2]);
  t.deepEqual([...keptHashes({ current: H1, previous: null }, H3)].sort(), [H1, H3]);
  t.deepEqual([...keptHashes({ current: null, previous: null }, null)], []);
});

test('obsolete: older databases with their source copies, and temporaries; unknown names stay', (t) => {
  const entries = [H1, `${H1}.source`, H2, `${H2}.source`, H3, `${H3}.source`, H4, '.vmsvc-tmp-3333-42-abcd', 'README', 'notahash.source', `${H4}.source.bak`];
  t.deepEqual(obsoleteEntries(entries, keptHashes({ current: H3, previous: H2 }, H3)),
    ['.vmsvc-tmp-3333-42-abcd', H1, `${H1}.source`, H4].sort());
});

test('rotation over several switches keeps exactly current and previous', (t) => {
  let links: DbLinks = { current: null, previous: null };
  let live: string | null = null;
  let onDisk: string[] = [];
  for (const next of [H1, H2, H3, H4]) {
    onDisk.push(next, `${next}.source`);
    links = afterSwitch(links, next, live);
    live = next;
    const drop = new Set(obsoleteEntries(onDisk, keptHashes(links, live)));
    onDisk = onDisk.filter((e) => !drop.has(e));
  }
  t.deepEqual(links, { current: H4, previous: H3 });
  t.deepEqual(onDisk.sort(), [H3, `${H3}.source`, H4, `${H4}.source`]);
});

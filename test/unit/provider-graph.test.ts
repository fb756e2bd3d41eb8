import test from 'ava';
import { compareBytes } from '../../generator/util/bytes.js';
import { dependentsOf, findCycles, startLevels, type ProviderGraph } from '../../generator/util/provider-graph.js';


/** client -> providers, from a literal; provider lists kept in the given order. */
function graph(edges: Record<string, readonly string[]>): Map<string, string[]> {
  const g = new Map<string, string[]>();
  for (const [client, providers] of Object.entries(edges)) g.set(client, [...providers]);
  for (const providers of Object.values(edges)) for (const p of providers) if (!g.has(p)) g.set(p, []);
  return g;
}

/** Same edges as a Map, but with keys inserted in the given order (Object.entries reorders integer-like keys). */
function graphInOrder(edges: ReadonlyArray<readonly [string, readonly string[]]>): Map<string, string[]> {
  const g = new Map<string, string[]>();
  for (const [client, providers] of edges) g.set(client, [...providers]);
  return g;
}

/** A Map's entries sorted by key, so comparisons ignore insertion order. */
function entries<V>(m: ReadonlyMap<string, V>): Array<[string, V]> {
  return [...m].sort((a, b) => compareBytes(a[0], b[0]));
}

function chain(n: number, closed: boolean): Map<string, string[]> {
  const name = (i: number): string => `n${String(i).padStart(5, '0')}`;
  const g = new Map<string, string[]>();
  for (let i = 0; i < n; i++) g.set(name(i), i + 1 < n ? [name(i + 1)] : closed ? [name(0)] : []);
  return g;
}

// ---------------------------------------------------------------- findCycles

test('findCycles: empty graph and acyclic graphs have no cycles', (t) => {
  t.deepEqual(findCycles(new Map()), []);
  t.deepEqual(findCycles(graph({ a: ['b', 'c'], b: ['c'], c: [] })), []);
  t.deepEqual(findCycles(graph({ d: ['b', 'c'], b: ['a'], c: ['a'] })), [], 'a diamond is not a cycle');
});

test('findCycles: a self-loop alone is left to the caller', (t) => {
  t.deepEqual(findCycles(graph({ a: ['a'] })), []);
  t.deepEqual(findCycles(graph({ a: ['a', 'b'], b: [] })), []);
});

test('findCycles: a cycle of two', (t) => {
  t.deepEqual(findCycles(graph({ a: ['b'], b: ['a'] })), [['a', 'b', 'a']]);
});

test('findCycles: a cycle of three, in edge direction, from the bytewise-first node', (t) => {
  t.deepEqual(findCycles(graphInOrder([['c', ['a']], ['b', ['c']], ['a', ['b']]])), [['a', 'b', 'c', 'a']]);
  // The other direction around the same three nodes.
  t.deepEqual(findCycles(graphInOrder([['c', ['b']], ['b', ['a']], ['a', ['c']]])), [['a', 'c', 'b', 'a']]);
});

test('findCycles: a tail into a cycle is not part of it', (t) => {
  t.deepEqual(findCycles(graph({ x: ['a'], a: ['b'], b: ['a'] })), [['a', 'b', 'a']]);
  t.deepEqual(findCycles(graph({ a: ['b'], b: ['c'], c: ['b'] })), [['b', 'c', 'b']]);
});

test('findCycles: the shortest cycle through the first node, one per component', (t) => {
  // a -> b -> c -> d -> a, plus the chord c -> a: the component is {a,b,c,d}, the shortest cycle from a is a b c a.
  t.deepEqual(findCycles(graph({ a: ['b'], b: ['c'], c: ['a', 'd'], d: ['a'] })), [['a', 'b', 'c', 'a']]);
  // Two ways back to a; the BFS finds the two-step one even when the long way is listed first.
  t.deepEqual(findCycles(graph({ a: ['b', 'x'], b: ['c'], c: ['d'], d: ['a'], x: ['a'] })), [['a', 'x', 'a']]);
  // a is not on the short cycle b <-> c, but the answer must still pass through a.
  const g = graph({ a: ['b'], b: ['c'], c: ['b', 'a'] });
  t.deepEqual(findCycles(g), [['a', 'b', 'c', 'a']]);
});

test('findCycles: one cycle per component, sorted bytewise by first node', (t) => {
  const g = graphInOrder([
    ['y', ['x']],
    ['x', ['y']],
    ['b', ['a']],
    ['a', ['b']],
    ['m', ['a', 'x']],
    ['B', ['C']],
    ['C', ['B']],
  ]);
  t.deepEqual(findCycles(g), [['B', 'C', 'B'], ['a', 'b', 'a'], ['x', 'y', 'x']]);
});

test('findCycles: bytewise (UTF-8) order, not UTF-16 order, picks the first node', (t) => {
  // U+FF5E encodes as EF BD 9E, U+1F642 as F0 9F 99 82: bytewise, ～ comes first;
  // in UTF-16 code units (JS default sort), 🙂 (D83D ...) comes first.
  t.true(compareBytes('～', '🙂') < 0);
  t.deepEqual(findCycles(graph({ '🙂': ['～'], '～': ['🙂'] })), [['～', '🙂', '～']]);
  t.deepEqual(
    findCycles(graph({ '🙂': ['🙂x'], '🙂x': ['🙂'], '～': ['～x'], '～x': ['～'] })).map((c) => c[0]),
    ['～', '🙂'],
  );
});

// findCycles documents "Self-loops are left to the caller", and check.ts strips
// them before calling it. But when the bytewise-first node of a multi-node
// component also has a self-loop, the BFS in shortestCycle
// (generator/util/provider-graph.ts) takes the self-edge first and returns
// [a, a], a "cycle" the caller's provider-self rule already covers, instead of
// the component's real cycle [a, b, a]. Fix: skip `next === node` edges
// (self-loops) in shortestCycle.
test('findCycles: a self-loop on the first node of a larger cycle yields [a, a]', (t) => {
  t.deepEqual(findCycles(graph({ a: ['a', 'b'], b: ['a'] })), [['a', 'b', 'a']]);
});

test('findCycles: every cycle follows edges and matches an independent SCC computation (random graphs)', (t) => {
  let seed = 12345;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  for (let round = 0; round < 300; round++) {
    const n = 1 + rand(9);
    const nodes = Array.from({ length: n }, (_, i) => String.fromCharCode(97 + i));
    const g = new Map<string, string[]>();
    for (const v of nodes) {
      const out = new Set<string>();
      const k = rand(3);
      for (let j = 0; j < k; j++) {
        const w = nodes[rand(n)]!;
        if (w !== v) out.add(w);
      }
      g.set(v, [...out].sort(compareBytes));
    }
    // Reachability by brute force.
    const reach = new Map<string, Set<string>>();
    for (const v of nodes) {
      const seen = new Set<string>();
      const todo = [...g.get(v)!];
      while (todo.length > 0) {
        const w = todo.pop()!;
        if (seen.has(w)) continue;
        seen.add(w);
        todo.push(...g.get(w)!);
      }
      reach.set(v, seen);
    }
    const expectedFirsts = new Set<string>();
    for (const v of nodes) {
      if (!reach.get(v)!.has(v)) continue;
      const scc = nodes.filter((w) => w === v || (reach.get(v)!.has(w) && reach.get(w)!.has(v)));
      expectedFirsts.add(scc.sort(compareBytes)[0]!);
    }
    const cycles = findCycles(g);
    t.deepEqual(cycles.map((c) => c[0]), [...expectedFirsts].sort(compareBytes), `round ${round}: ${JSON.stringify([...g])}`);
    for (const c of cycles) {
      t.is(c[0], c[c.length - 1]);
      for (let i = 0; i + 1 < c.length; i++) t.true(g.get(c[i]!)!.includes(c[i + 1]!), `edge ${c[i]} -> ${c[i + 1]}`);
      // Shortest: BFS distance from the first node back to itself.
      const dist = new Map<string, number>([[c[0]!, 0]]);
      const queue = [c[0]!];
      let back = Infinity;
      for (let i = 0; i < queue.length && back === Infinity; i++) {
        const v = queue[i]!;
        for (const w of g.get(v)!) {
          if (w === c[0]) back = Math.min(back, dist.get(v)! + 1);
          else if (!dist.has(w)) {
            dist.set(w, dist.get(v)! + 1);
            queue.push(w);
          }
        }
      }
      t.is(c.length - 1, back, `round ${round}: ${c.join(' -> ')} is not a shortest cycle`);
      t.is(new Set(c.slice(0, -1)).size, c.length - 1, 'a shortest cycle repeats no node');
    }
  }
});

test('findCycles: a 20000-node chain does not overflow the stack', (t) => {
  t.deepEqual(findCycles(chain(20000, false)), []);
  const cycles = findCycles(chain(20000, true));
  t.is(cycles.length, 1);
  t.is(cycles[0]!.length, 20001);
  t.is(cycles[0]![0], 'n00000');
  t.is(cycles[0]![1], 'n00001');
  t.is(cycles[0]![19999], 'n19999');
  t.is(cycles[0]![20000], 'n00000');
});

// ---------------------------------------------------------------- dependentsOf

test('dependentsOf: nothing bad, nothing dependent', (t) => {
  t.deepEqual(dependentsOf(graph({ a: ['b'], b: [] }), new Set()), new Map());
});

test('dependentsOf: transitive, with the direct provider as the reason', (t) => {
  const g = graph({ a: [], b: ['a'], c: ['b'], d: ['c'], e: [], f: ['e'] });
  t.deepEqual(entries(dependentsOf(g, new Set(['a']))), [
    ['b', 'a'],
    ['c', 'b'],
    ['d', 'c'],
  ]);
});

test('dependentsOf: bad VMs themselves are never listed, even when they depend on other bad ones', (t) => {
  const g = graph({ a: [], b: ['a'], c: ['b'] });
  t.deepEqual(dependentsOf(g, new Set(['a', 'b'])), new Map([['c', 'b']]));
  t.deepEqual(dependentsOf(graph({ a: ['b'], b: ['a'], x: ['a'] }), new Set(['a', 'b'])), new Map([['x', 'a']]));
});

test('dependentsOf: with several bad providers, the bytewise-first at the shortest distance is the reason', (t) => {
  const g = graph({ x: ['q', 'p'], p: [], q: [] });
  t.deepEqual(dependentsOf(g, new Set(['q', 'p'])), new Map([['x', 'p']]));
  // y needs bad z directly and bad a only through m: the direct one wins even though a sorts first.
  const h = graph({ y: ['m', 'z'], m: ['a'], a: [], z: [] });
  t.deepEqual(entries(dependentsOf(h, new Set(['a', 'z']))), [
    ['m', 'a'],
    ['y', 'z'],
  ]);
});

test('dependentsOf: a bad name not in the graph is harmless', (t) => {
  t.deepEqual(dependentsOf(graph({ a: ['b'], b: [] }), new Set(['nope'])), new Map());
});

test('dependentsOf: a 20000-node chain', (t) => {
  const g = chain(20000, false);
  const deps = dependentsOf(g, new Set(['n19999']));
  t.is(deps.size, 19999);
  t.is(deps.get('n00000'), 'n00001');
  t.is(deps.get('n19998'), 'n19999');
  t.false(deps.has('n19999'));
});

// ---------------------------------------------------------------- startLevels

test('startLevels: empty graph', (t) => {
  t.deepEqual(startLevels(new Map()), new Map());
});

test('startLevels: no providers is level 0, else 1 + the highest provider', (t) => {
  const g: ProviderGraph = graph({ d: ['b', 'c'], b: ['a'], c: [], a: [], lone: [] });
  t.deepEqual(
    entries(startLevels(g)),
    entries(new Map([
      ['a', 0],
      ['b', 1],
      ['c', 0],
      ['d', 2],
      ['lone', 0],
    ])),
  );
});

test('startLevels: a long and a short path to the same provider take the long one', (t) => {
  const levels = startLevels(graph({ top: ['a', 'z'], a: ['b'], b: ['z'], z: [] }));
  t.is(levels.get('z'), 0);
  t.is(levels.get('b'), 1);
  t.is(levels.get('a'), 2);
  t.is(levels.get('top'), 3);
});

test('startLevels: a ladder DAG (every node needs the next two) is linear, not exponential', (t) => {
  const n = 5000;
  const g = new Map<string, string[]>();
  for (let i = 0; i < n; i++) g.set(`v${i}`, [i + 1, i + 2].filter((j) => j < n).map((j) => `v${j}`));
  const levels = startLevels(g);
  t.is(levels.get('v0'), n - 1);
  t.is(levels.get(`v${n - 1}`), 0);
});

test('startLevels: a 20000-node chain does not overflow the stack', (t) => {
  const levels = startLevels(chain(20000, false));
  t.is(levels.size, 20000);
  t.is(levels.get('n00000'), 19999);
  t.is(levels.get('n19999'), 0);
});

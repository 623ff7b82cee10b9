// Pytrees: flatten/unflatten, paths, mapping, partition/combine, immutable updates and the summary.
import fc from 'fast-check';
import { describe, expect, expectTypeOf, it } from 'vitest';
import * as tree from '../src/tree.js';
import { GradusError, TreeError, ValueError } from '../src/errors.js';
import type { Path, PathKey } from '../src/tree.js';

fc.configureGlobal({ seed: 42, numRuns: 200 });

// ---- fixtures ------------------------------------------------------------------------------------

/** A registered node with named children; the label is aux data. */
class Box {
  constructor(
    readonly label: string,
    readonly a: unknown,
    readonly b: unknown,
  ) {}
}
tree.register(Box, {
  flatten: (x) => [[x.a, x.b], x.label],
  unflatten: (label, [a, b]) => new Box(label, a, b),
  keys: () => ['a', 'b'],
});

/** A registered node without `keys`: its children are named by index. */
class Tup {
  constructor(readonly items: readonly unknown[]) {}
}
tree.register(Tup, { flatten: (x) => [x.items, x.items.length], unflatten: (_n, items) => new Tup(items) });

/** An unregistered class with a shape, standing in for a gradus array: a leaf. */
class Weights {
  data: number[];
  constructor(readonly shape: number[]) {
    this.data = new Array<number>(shape.reduce((a, d) => a * d, 1)).fill(0);
  }
}

const awkwardKeys = ['a', 'b', 'w', 'layers', 'weird key', '0', '10', '2', '', "it's", 'a.b', '[0]', '__proto__', 'constructor', 'é', '\n', '\\', '"'];
const keyArb = fc.oneof(
  fc.constantFrom(...awkwardKeys),
  fc.string({ maxLength: 4 }),
  fc.string({ unit: 'binary', maxLength: 3 }),
  fc.string({ unit: fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)), maxLength: 2 }),
);
const weightsArb = fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 }).map((s) => new Weights(s));
const leafArb = fc.oneof(fc.integer(), fc.double(), weightsArb);

const { node: treeArb } = fc.letrec<{ node: unknown }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leafArb,
    fc.constantFrom(null, undefined),
    fc.array(tie('node'), { maxLength: 4 }),
    fc.dictionary(keyArb, tie('node'), { maxKeys: 4 }),
    fc.dictionary(keyArb, tie('node'), { maxKeys: 4, noNullPrototype: true }),
    fc.tuple(fc.string({ maxLength: 3 }), tie('node'), tie('node')).map(([l, a, b]) => new Box(l, a, b)),
    fc.array(tie('node'), { maxLength: 3 }).map((items) => new Tup(items)),
  ),
}));
/** A tree with at least one leaf, and the index of one of them. */
const treeWithLeafArb = treeArb
  .filter((t) => tree.leaves(t).length > 0)
  .chain((t) => fc.tuple(fc.constant(t), fc.nat({ max: tree.leaves(t).length - 1 })));

const isPlainContainer = (x: unknown): x is object =>
  Array.isArray(x) || (typeof x === 'object' && x !== null && [Object.prototype, null].includes(Object.getPrototypeOf(x)));

/**
 * Deep equality for trees: same container kinds (prototypes included), same own keys, and leaves that
 * are the very same values (Object.is). vitest's toStrictEqual trips over an own `constructor` key.
 */
function sameTree(a: unknown, b: unknown): boolean {
  if (a instanceof Box || a instanceof Tup) {
    if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
    if (a instanceof Box) return a.label === (b as Box).label && sameTree(a.a, (b as Box).a) && sameTree(a.b, (b as Box).b);
    return sameTree(a.items, (b as Tup).items);
  }
  if (!isPlainContainer(a)) return Object.is(a, b);
  if (!isPlainContainer(b) || Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  const ka = Object.keys(a).sort();
  const kb = Object.keys(b).sort();
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  return ka.length === kb.length && ka.every((k, i) => k === kb[i] && sameTree(ra[k], rb[k]));
}
const expectSame = (a: unknown, b: unknown) => expect(sameTree(a, b), `${tree.structure(a)} vs ${tree.structure(b)}`).toBe(true);

/** A deep copy of the containers (leaves shared), so later mutation of the original would show. */
const snapshot = (t: unknown) => tree.unflatten(tree.structure(t), tree.leaves(t));

/** Rebuild plain objects with their keys inserted in a scrambled order. */
function scramble(t: unknown, salt: number): unknown {
  if (Array.isArray(t)) return t.map((x) => scramble(x, salt));
  if (t instanceof Box) return new Box(t.label, scramble(t.a, salt), scramble(t.b, salt));
  if (t instanceof Tup) return new Tup(t.items.map((x) => scramble(x, salt)));
  if (!isPlainContainer(t)) return t;
  const keys = Object.keys(t).sort((x, y) => hash(x, salt) - hash(y, salt));
  const out: Record<string, unknown> = Object.getPrototypeOf(t) === null ? Object.create(null) : {};
  for (const k of keys) {
    Object.defineProperty(out, k, { value: scramble((t as Record<string, unknown>)[k], salt), enumerable: true, writable: true, configurable: true });
  }
  return out;
}
const hash = (s: string, salt: number) => [...s].reduce((h, c) => (h * 31 + c.charCodeAt(0)) % 1000003, salt);

/** Compare two path keys the way the flatten order should: strings by code unit, numbers numerically. */
const cmpKey = (a: PathKey, b: PathKey) => (a < b ? -1 : a > b ? 1 : 0);
function cmpPath(p: Path, q: Path): number {
  for (let i = 0; i < Math.min(p.length, q.length); i++) {
    const c = cmpKey(p[i], q[i]);
    if (c !== 0) return c;
  }
  return p.length - q.length;
}

// ---- flatten / unflatten -----------------------------------------------------------------------

describe('flatten and unflatten', () => {
  it('unflatten(flatten(t)) rebuilds t with the very same leaves', () => {
    fc.assert(
      fc.property(treeArb, (t) => {
        const [ls, def] = tree.flatten(t);
        expect(def.numLeaves).toBe(ls.length);
        const back = tree.unflatten(def, ls);
        expectSame(back, t);
        const again = tree.leaves(back);
        expect(again.length).toBe(ls.length);
        again.forEach((leaf, i) => expect(Object.is(leaf, ls[i])).toBe(true));
        expect(tree.treedefEqual(tree.structure(back), def)).toBe(true);
      }),
    );
  });

  it('leaves come in sorted-key / index order', () => {
    fc.assert(
      fc.property(treeArb, (t) => {
        const paths = tree.flattenWithPath(t)[0].map(([p]) => p);
        for (let i = 1; i < paths.length; i++) expect(cmpPath(paths[i - 1], paths[i])).toBeLessThan(0);
      }),
    );
    const w = new Weights([2]);
    expect(tree.leaves({ b: 1, a: [2, { d: 3, c: 4 }], c: null, B: w, 10: 5, 9: 6 })).toEqual([5, 6, w, 2, 4, 3, 1]);
  });

  it('key insertion order changes neither the structure nor the leaf order', () => {
    fc.assert(
      fc.property(treeArb, fc.nat(), (t, salt) => {
        const s = scramble(t, salt);
        expect(tree.treedefEqual(tree.structure(s), tree.structure(t))).toBe(true);
        expect(tree.structure(s).toString()).toBe(tree.structure(t).toString());
        const a = tree.leaves(t);
        const b = tree.leaves(s);
        expect(b.length).toBe(a.length);
        b.forEach((leaf, i) => expect(Object.is(leaf, a[i])).toBe(true));
      }),
    );
  });

  it('null and undefined are empty nodes that keep their place', () => {
    const t = { a: null, b: [undefined, 1, null], c: { d: undefined } };
    const [ls, def] = tree.flatten(t);
    expect(ls).toEqual([1]);
    expect(def.toString()).toBe('{a: null, b: [undefined, *, null], c: {d: undefined}}');
    expect(tree.unflatten(def, [7])).toStrictEqual({ a: null, b: [undefined, 7, null], c: { d: undefined } });
    expect(tree.treedefEqual(tree.structure([null]), tree.structure([undefined]))).toBe(false);
    expect(tree.treedefEqual(tree.structure({ a: undefined }), tree.structure({}))).toBe(false);
  });

  it('only plain objects, exact arrays and registered classes are nodes', () => {
    class Sub extends Box {}
    class MyArray extends Array<number> {}
    const fn = () => 1;
    const ta = new Float32Array(2);
    const w = new Weights([3]);
    const leaves = [new Sub('s', 1, 2), MyArray.from([1, 2]), fn, ta, w, 'str', true, 3n];
    expect(tree.leaves(leaves)).toEqual(leaves);
    expect(tree.leaves(new Box('x', 1, [2, 3]))).toEqual([1, 2, 3]);
    expect(tree.leaves(new Tup([1, { b: 2, a: 3 }]))).toEqual([1, 3, 2]);
  });

  it('structures print readably and compare custom nodes by class and aux data', () => {
    expect(tree.structure({ b: [1, 2], a: 1, 'weird key': new Box('l', 1, null) }).toString()).toBe(
      "{a: *, b: [*, *], 'weird key': Box(*, null)}",
    );
    expect(tree.structure(5).toString()).toBe('*');
    expect(tree.structure(new Tup([])).toString()).toBe('Tup()');
    const s = (label: string) => tree.structure(new Box(label, 1, 2));
    expect(tree.treedefEqual(s('x'), s('x'))).toBe(true);
    expect(s('x').equals(s('y'))).toBe(false);
    expect(tree.treedefEqual(tree.structure(new Tup([1, 2])), tree.structure([1, 2]))).toBe(false);
  });

  it('unflatten with the wrong number of leaves says how many were expected and given', () => {
    const def = tree.structure({ a: 1, b: [2] });
    expect(() => tree.unflatten(def, [1, 2, 3])).toThrow('tree.unflatten: structure {a: *, b: [*]} expects 2 leaves but 3 were given');
    expect(() => tree.unflatten(def, [])).toThrow('expects 2 leaves but 0 were given');
  });

  it('isLeaf stops the recursion', () => {
    const isVec = (x: unknown) => Array.isArray(x) && x.every((v) => typeof v === 'number');
    const t = { p: [1, 2], q: [[3], null] };
    expect(tree.leaves(t, { isLeaf: isVec })).toEqual([[1, 2], [3]]);
    expect(tree.leaves(t, { isLeaf: (x) => x === null })).toEqual([1, 2, 3, null]);
    const { map } = tree.withOptions({ isLeaf: isVec });
    expect(map((v: number[], w: number[]) => v.length + w.length, t, { p: [0], q: [[], null] })).toEqual({ p: 3, q: [1, null] });
    expect(map((v: unknown, w: unknown) => w, t, { p: 'leaf', q: [[], null] })).toEqual({ p: 'leaf', q: [[], null] });
    // Below the first tree's leaves the others may hold any subtree (JAX's prefix rule).
    expect(map((v: unknown, w: unknown) => w, t, { p: { x: 1 }, q: [[], null] })).toEqual({ p: { x: 1 }, q: [[], null] });
    expect(() => map((v: unknown) => v, t, { p: [1], q: [[3], [4]] })).toThrow(
      "tree.map: structure mismatch at .q[1]: expected null but got [*] (tree argument 2 must have the first tree's structure, or extend it below its leaves)",
    );
    // isLeaf is asked of the first tree only (JAX's tree_map flattens the others up to its cut
    // structure): [1, 2] is a leaf to isVec, but it stands where the first tree has a container.
    expect(map((v: unknown, w: unknown) => [v, w], { p: [1, 'one'] }, { p: [1, 2] })).toEqual({ p: [[1, 1], ['one', 2]] });
  });

  it('isLeaf applies to the first tree only: the others are cut at its structure, whatever isLeaf says of their subtrees (JAX)', () => {
    const numbers = (x: unknown) => Array.isArray(x) && x.every((v) => typeof v === 'number');
    const { map, mapWithPath } = tree.withOptions({ isLeaf: numbers });
    fc.assert(
      fc.property(treeArb, (t) => {
        // Arrays of strings are never cut (but the empty ones); the same arrays of numbers would be.
        const words = tree.map((x: unknown) => `w${String(x)}`, t as never);
        const nums = tree.map(() => 1, t as never);
        expect(map((_w: unknown, n: unknown) => n, words, nums)).toEqual(nums);
        const paths = tree.leaves(mapWithPath((p: Path) => tree.keystr(p), words));
        expect(paths).toEqual(tree.flattenWithPath(words, { isLeaf: numbers })[0].map(([p]) => tree.keystr(p)));
      }),
      { numRuns: 100 },
    );
  });
});

// ---- errors --------------------------------------------------------------------------------------

describe('errors', () => {
  it('are GradusErrors naming the operation, the tree path and what was expected: TreeError for structure, ValueError for a malformed path', () => {
    const cases: [string, () => unknown, typeof GradusError, string | RegExp][] = [
      ['unflatten', () => tree.unflatten(tree.structure({ a: 1, b: [2] }), [1]), TreeError, 'tree.unflatten: structure {a: *, b: [*]} expects 2 leaves but 1 were given'],
      ['map', () => tree.map((x: unknown) => x, { a: [1, 2] }, { a: [1] } as never), TreeError, 'tree.map: structure mismatch at .a: expected [*, *] but got [*]'],
      ['flattenUpTo', () => tree.flattenUpTo(tree.structure({ a: 1, b: [1] }), { a: 1, b: 2 }), TreeError, 'tree.flattenUpTo: structure mismatch at .b'],
      ['combine', () => tree.combine({ a: 1 }, { b: 1 } as never), TreeError, 'tree.combine: structure mismatch at the root'],
      ['getIn, missing key', () => tree.getIn({ a: { b: 1 } }, ['a', 'c']), TreeError, "tree.getIn: no key 'c' at .a (keys: b)"],
      ['getIn, out of range', () => tree.getIn({ a: [1] }, '.a[3]'), TreeError, 'tree.getIn: index 3 out of range for an array of length 1 at .a'],
      ['getIn, key on an array', () => tree.getIn({ a: [1] }, ['a', 'x']), TreeError, "tree.getIn: key 'x' used on an array at .a; an array takes an integer index"],
      ['getIn, into a leaf', () => tree.getIn({ a: 1 }, '.a.b'), TreeError, /tree.getIn: cannot look up .b in 1 at .a; only arrays, plain objects and registered classes/],
      ['setIn, custom node', () => tree.setIn({ box: new Box('l', 1, 2) }, '.box.c', 1), TreeError, 'tree.setIn: Box at .box has no child .c (children: .a, .b)'],
      ['register twice', () => tree.register(Box, { flatten: () => [[], null], unflatten: () => new Box('', 0, 0) }), TreeError, 'tree.register: Box is already registered'],
      ['keystr', () => tree.keystr(['a', -1]), ValueError, 'tree.keystr: the path key -1 at position 1 of the path is not a non-negative integer'],
      ['parseKeystr', () => tree.parseKeystr('.layers[0'), ValueError, /tree.parseKeystr: .* at position \d+ in "\.layers\[0"/],
    ];
    for (const [label, run, cls, message] of cases) {
      expect(run, label).toThrow(cls);
      expect(run, label).toThrow(GradusError);
      expect(run, label).toThrow(message);
    }
  });

  it("a registered class whose keys() does not fit its children is named with its path", () => {
    class Pair {
      constructor(readonly x: unknown, readonly y: unknown) {}
    }
    tree.register(Pair, { flatten: (p) => [[p.x, p.y], null], unflatten: (_aux, [x, y]) => new Pair(x, y), keys: () => ['x'] });
    const t = { outer: [new Pair(1, 2)] };
    expect(() => tree.flattenWithPath(t)).toThrow(TreeError);
    expect(() => tree.flattenWithPath(t)).toThrow('tree.flattenWithPath: keys() of the registered Pair at .outer[0] gave 1 keys for its 2 children; it must give one key per child that flatten returns');
    expect(() => tree.getIn(t, '.outer[0].x')).toThrow('tree.getIn: keys() of the registered Pair at .outer[0] gave 1 keys');
    // flatten (no paths) does not ask for keys
    expect(tree.leaves(t)).toEqual([1, 2]);
  });
});

// ---- register ------------------------------------------------------------------------------------

describe('register', () => {
  it('rejects non-classes, built-in nodes and a second registration', () => {
    const reg = tree.register as (cls: unknown, spec: unknown) => void;
    const spec = { flatten: () => [[], null], unflatten: () => ({}) };
    expect(() => reg(() => 1, spec)).toThrow(TreeError);
    expect(() => reg(() => 1, spec)).toThrow('tree.register: expected a class');
    expect(() => reg(42, spec)).toThrow('tree.register: expected a class');
    expect(() => reg(Object, spec)).toThrow('built-in tree node');
    expect(() => reg(Box, spec)).toThrow('tree.register: Box is already registered');
    class Fresh {}
    expect(() => reg(Fresh, {})).toThrow('needs flatten and unflatten');
    reg(Fresh, spec);
    expect(() => reg(Fresh, spec)).toThrow('Fresh is already registered');
  });
});

// ---- paths ---------------------------------------------------------------------------------------

describe('paths', () => {
  it('keystr is readable and keeps keys and indices apart', () => {
    expect(tree.keystr(['layers', 0, 'weird key', 'b'])).toBe(".layers[0]['weird key'].b");
    expect(tree.keystr(['0', 0, "it's", ''])).toBe("['0'][0]['it\\'s']['']");
    expect(tree.keystr([])).toBe('');
    expect(tree.parseKeystr(".layers[0]['weird key'].b")).toEqual(['layers', 0, 'weird key', 'b']);
    expect(() => tree.parseKeystr('.layers[0')).toThrow('tree.parseKeystr');
    expect(() => tree.parseKeystr('layers')).toThrow('tree.parseKeystr');
    expect(() => tree.keystr([-1])).toThrow('tree.keystr');
  });

  it('any path round-trips through keystr and parseKeystr, and distinct paths give distinct strings', () => {
    const pathArb = fc.array(fc.oneof(keyArb, fc.nat()), { maxLength: 5 });
    fc.assert(
      fc.property(pathArb, pathArb, (p, q) => {
        expect(tree.parseKeystr(tree.keystr(p))).toEqual(p);
        if (tree.keystr(p) === tree.keystr(q)) expect(q).toEqual(p);
      }),
    );
  });

  it('every leaf path round-trips and getIn finds the leaf', () => {
    fc.assert(
      fc.property(treeArb, (t) => {
        const [pairs, def] = tree.flattenWithPath(t);
        expect(pairs.length).toBe(def.numLeaves);
        for (const [path, leaf] of pairs) {
          const s = tree.keystr(path);
          expect(tree.parseKeystr(s)).toEqual(path);
          expect(Object.is(tree.getIn(t, path), leaf)).toBe(true);
          expect(Object.is(tree.getIn(t, s), leaf)).toBe(true);
        }
        expect(new Set(pairs.map(([p]) => tree.keystr(p))).size).toBe(pairs.length);
      }),
    );
  });

  it('mapWithPath passes each leaf its path', () => {
    const t = { layers: [{ w: 1, b: 2 }], 'x y': new Tup([3]) };
    expect(tree.mapWithPath((p, x) => `${tree.keystr(p)}=${x}`, t)).toEqual({
      layers: [{ w: '.layers[0].w=1', b: '.layers[0].b=2' }],
      'x y': new Tup(["['x y'][0]=3"]),
    });
  });

  it('getIn names the missing key', () => {
    expect(() => tree.getIn({ a: { b: 1 } }, ['a', 'c'])).toThrow("tree.getIn: no key 'c' at .a");
    expect(() => tree.getIn({ a: [1] }, '.a[3]')).toThrow('index 3 out of range');
    expect(() => tree.getIn({ a: 1 }, '.a.b')).toThrow('cannot look up .b');
  });
});

// ---- map -------------------------------------------------------------------------------------------

describe('map', () => {
  const g = (x: unknown) => (typeof x === 'number' ? 2 * x + 1 : x);
  const f = (x: unknown) => ({ wrapped: x });

  it('map(identity) is the identity', () => {
    fc.assert(
      fc.property(treeArb, (t) => {
        expectSame(tree.map((x) => x, t), t);
      }),
    );
  });

  it('map(f) after map(g) equals map(f ∘ g)', () => {
    fc.assert(
      fc.property(treeArb, (t) => {
        const twice = tree.map(f, tree.map(g, t));
        const once = tree.map((x) => f(g(x)), t);
        expect(twice).toEqual(once);
        expect(tree.treedefEqual(tree.structure(twice), tree.structure(once))).toBe(true);
        expect(tree.leaves(once)).toEqual(tree.leaves(t).map(g));
      }),
    );
  });

  it('maps several trees leaf by leaf', () => {
    fc.assert(
      fc.property(treeArb, (t) => {
        const doubled = tree.map(g, t);
        const pairs = tree.map((a: unknown, b: unknown, c: unknown) => [a, b, c], t, doubled, scramble(t, 7));
        const [ls] = tree.flatten(t);
        expect(tree.leaves(pairs)).toEqual(ls.flatMap((x) => [x, g(x), x]));
      }),
    );
  });

  it('a structure mismatch names the first differing path and both sub-structures', () => {
    fc.assert(
      fc.property(treeWithLeafArb, ([t, i]) => {
        const path = tree.flattenWithPath(t)[0][i][0];
        const changed = tree.setIn(t, path, [1, { z: 2 }]);
        const at = path.length === 0 ? 'the root' : tree.keystr(path);
        // `changed` extends t below leaf i, so t is a prefix of it; the other way round is a mismatch.
        const seen: unknown[] = [];
        tree.map((_a: unknown, b: unknown) => seen.push(b), t, changed);
        expect(seen[i]).toEqual([1, { z: 2 }]);
        expect(() => tree.mapWithPath((_p: Path, a: unknown) => a, changed, t)).toThrow(
          `tree.mapWithPath: structure mismatch at ${at}: expected [*, {z: *}] but got *`,
        );
      }),
    );
    const params = { layers: [{ w: 1, b: 2 }, { w: 3, b: 4 }] };
    const other = { layers: [{ w: 1, b: 2 }, { w: 3, c: 4 }] };
    // (The types catch these two too: the other tree must have the first one's structure.)
    // @ts-expect-error: other's second layer has c where params' has b
    expect(() => tree.map((a: number, b: number) => a + b, params, other)).toThrow(
      'tree.map: structure mismatch at .layers[1]: expected {b: *, w: *} but got {c: *, w: *}',
    );
    expect(() => tree.map((a: unknown) => a, [1, 2], [1])).toThrow('at the root: expected [*, *] but got [*]');
    expect(() => tree.map((a: unknown) => a, new Box('x', 1, 2), new Box('y', 1, 2))).toThrow('at the root');
    // @ts-expect-error: undefined where the first tree has null
    expect(() => tree.map((a: unknown) => a, { a: null }, { a: undefined })).toThrow('at .a: expected null but got undefined');
  });

  it('keeps the tree type in the common cases', () => {
    const params = { layers: [{ w: 1, b: 2 }], scale: 3, act: null };
    expectTypeOf(tree.map((x) => x * 2, params)).toEqualTypeOf<{ layers: { w: number; b: number }[]; scale: number; act: null }>();
    expectTypeOf(tree.map((x, y) => `${x}${y}`, params, params)).toEqualTypeOf<{
      layers: { w: string; b: string }[];
      scale: string;
      act: null;
    }>();
    expectTypeOf(tree.map((w: Weights) => w.shape, { a: new Weights([1]) })).toEqualTypeOf<{ a: number[] }>();
    expectTypeOf(tree.getIn(params, ['layers', 0, 'w'])).toEqualTypeOf<number>();
    expectTypeOf(tree.leaves(params)).toEqualTypeOf<number[]>();
    // @ts-expect-error: the value at .layers[0].w is a number
    expect(() => tree.setIn(params, ['layers', 0, 'w'], 'x')).not.toThrow();
  });
});

// ---- partition / combine ----------------------------------------------------------------------------

// ---- prefixes (JAX: the other trees of map have the first tree's structure as a prefix) -------------

/**
 * A random tree, and an extension of it: each leaf either kept or replaced by a random subtree
 * (built by unflatten, so the extension is made without the prefix-walking code under test).
 */
const prefixCaseArb = treeWithLeafArb.chain(([t]) =>
  fc
    .array(fc.option(treeArb, { nil: undefined, freq: 2 }), { minLength: tree.leaves(t).length, maxLength: tree.leaves(t).length })
    .map((subs) => {
      const ls = tree.leaves(t);
      const pieces = ls.map((leaf, i) => (subs[i] === undefined ? leaf : subs[i]));
      return { t, pieces, ext: tree.unflatten(tree.structure(t), pieces) };
    }),
);

describe('map with a prefix: the other trees may extend the first below its leaves', () => {
  it('f gets, at each leaf of the first tree (in flatten order, with its path), the whole subtree of the other tree there', () => {
    fc.assert(
      fc.property(prefixCaseArb, ({ t, pieces, ext }) => {
        const calls: [Path, unknown, unknown][] = [];
        const out = tree.mapWithPath((p: Path, a: unknown, b: unknown) => (calls.push([p, a, b]), calls.length - 1), t, ext);
        const [pairs, def] = tree.flattenWithPath(t);
        expect(calls.map(([p]) => p)).toEqual(pairs.map(([p]) => p));
        calls.forEach(([, a, b], i) => {
          expect(Object.is(a, pairs[i][1])).toBe(true);
          expectSame(b, pieces[i]);
        });
        // The result has the first tree's structure, whatever the other trees hold below it.
        expect(tree.treedefIdentical(tree.structure(out), def)).toBe(true);
        expect(tree.leaves(out)).toEqual(pairs.map((_, i) => i));
        // The other tree's leaves are the pieces' leaves, piece by piece: flatten order agrees with the cut.
        expect(tree.leaves(ext)).toEqual(pieces.flatMap((x) => tree.leaves(x)));
      }),
    );
  });

  it('equal structures are the special case: with no extension, f gets the other tree\'s leaves', () => {
    fc.assert(
      fc.property(treeArb, (t) => {
        const copy = scramble(t, 3);
        expectSame(tree.map((a: unknown, b: unknown) => [a, b], t, copy), tree.map((a: unknown) => [a, a], t));
      }),
    );
  });

  it('several other trees are each cut at the first tree\'s leaves; a tree that only the second extends is no prefix', () => {
    const first = { a: 1, b: [2, 3] };
    const second = { a: { x: 10, y: [11] }, b: [20, 30] };
    const third = { a: 100, b: [[200], new Box('k', 300, null)] };
    expect(tree.map((x: unknown, y: unknown, z: unknown) => [x, y, z], first, second, third)).toEqual({
      a: [1, { x: 10, y: [11] }, 100],
      b: [[2, 20, [200]], [3, 30, new Box('k', 300, null)]],
    });
    // second is not a prefix of third: .a is a leaf in third where second has {x, y}.
    expect(() => tree.map((x: unknown) => x, second, third as never)).toThrow(
      "tree.map: structure mismatch at .a: expected {x: *, y: [*]} but got * (tree argument 2 must have the first tree's structure, or extend it below its leaves)",
    );
    // The third tree argument is named as such.
    expect(() => tree.map((x: unknown) => x, first, second, { a: 1, b: [2] } as never)).toThrow('(tree argument 3 must');
  });

  it('null stays an empty node in the first tree; in the others, null under a leaf is a subtree f receives', () => {
    expect(tree.map((a: unknown, b: unknown) => [a, b], { a: 1, n: null }, { a: null, n: null })).toEqual({ a: [1, null], n: null });
    expect(() => tree.map((a: unknown) => a, { a: 1, n: null }, { a: 1, n: [1] } as never)).toThrow('tree.map: structure mismatch at .n: expected null but got [*]');
    expect(() => tree.map((a: unknown) => a, { a: 1, n: null }, { a: 1, n: 2 } as never)).toThrow('at .n: expected null but got *');
  });

  it('registered classes: a leaf above a Box gets the Box; a Box in the first tree needs a Box (same aux) in the others', () => {
    const b = new Box('k', [1, 2], 3);
    expect(tree.map((a: unknown, x: unknown) => x === b, { w: 0 }, { w: b })).toEqual({ w: true });
    expect(tree.map((a: unknown, x: unknown) => [a, x], new Box('k', 1, 2), b)).toEqual(new Box('k', [1, [1, 2]], [2, 3]));
    expect(() => tree.map((a: unknown) => a, new Box('k', 1, 2), new Box('other', [1, 2], 3))).toThrow("tree.map: structure mismatch at the root: expected Box(*, *) but got Box([*, *], *)");
  });

  it('withOptions({ isLeaf }).map cuts at the subtrees isLeaf stops at, and names a true mismatch', () => {
    const isPair = (x: unknown) => Array.isArray(x) && x.length === 2;
    const { map, mapWithPath } = tree.withOptions({ isLeaf: isPair });
    expect(map((p: unknown, q: unknown) => [p, q], { a: [1, 2], b: 3 }, { a: { deep: [4] }, b: [5, [6]] })).toEqual({ a: [[1, 2], { deep: [4] }], b: [3, [5, [6]]] });
    expect(mapWithPath((path: Path, _p: unknown, q: unknown) => `${tree.keystr(path)}=${JSON.stringify(q)}`, { a: [1, 2] }, { a: [[0], 1] })).toEqual({ a: '.a=[[0],1]' });
    // (The other tree's structure is printed without isLeaf: it is not applied to the other trees.)
    expect(() => map((p: unknown) => p, { a: [1, 2, 3] }, { a: [1, 2] })).toThrow('tree.map: structure mismatch at .a: expected [*, *, *] but got [*, *]');
  });
});

describe('broadcast: a prefix tree copied down to the leaves of a fuller tree (jax.tree.broadcast)', () => {
  it('every leaf of the full tree gets the prefix leaf above it, and the full tree\'s structure', () => {
    fc.assert(
      fc.property(prefixCaseArb, ({ t, pieces, ext }) => {
        const out = tree.broadcast(t as never, ext as never);
        const ls = tree.leaves(t);
        expect(tree.treedefIdentical(tree.structure(out), tree.structure(ext))).toBe(true);
        const expected = pieces.flatMap((x, i) => tree.leaves(x).map(() => ls[i]));
        const got = tree.leaves(out);
        expect(got.length).toBe(expected.length);
        got.forEach((x, i) => expect(Object.is(x, expected[i])).toBe(true));
      }),
    );
  });

  it('reads as in JAX, and a tree that is not a prefix is a TreeError naming the path', () => {
    const full = { a: [1, 2], b: { c: 3, d: null }, e: 4 };
    const out = tree.broadcast({ a: 'A', b: 'B', e: 'E' }, full);
    expect(out).toEqual({ a: ['A', 'A'], b: { c: 'B', d: null }, e: 'E' });
    expectTypeOf(out).toEqualTypeOf<{ a: string[]; b: { c: string; d: null }; e: string }>();
    expect(tree.broadcast(7, full)).toEqual({ a: [7, 7], b: { c: 7, d: null }, e: 7 });
    expect(() => tree.broadcast({ a: 1, b: 2 }, full as never)).toThrow(TreeError);
    expect(() => tree.broadcast({ a: [1, 2, 3], b: 2, e: 3 }, full as never)).toThrow('tree.broadcast: structure mismatch at .a: expected [*, *, *] but got [*, *]');
  });

  it('withOptions({ isLeaf }).broadcast counts the leaves isLeaf stops at', () => {
    const { broadcast } = tree.withOptions({ isLeaf: (x) => Array.isArray(x) && x.length === 2 });
    expect(broadcast({ a: 'A', b: 'B' }, { a: [1, 2], b: { c: [3, 4], d: [5, 6, 7] } })).toEqual({ a: 'A', b: { c: 'B', d: ['B', 'B', 'B'] } });
    expect(broadcast({ a: [0, 0], b: 'B' }, { a: [1, 2, 3], b: 1 })).toEqual({ a: [[0, 0], [0, 0], [0, 0]], b: 'B' });
    // Above the prefix's leaves isLeaf is asked of the prefix only (as in every map): the full tree must extend its structure.
    expect(() => broadcast({ a: [0, 0, 0], b: 'B' }, { a: [1, 2], b: 1 })).toThrow('tree.broadcast: structure mismatch at .a: expected [*, *, *] but got [*, *]');
    expect(broadcast({ a: [0, 'x'], b: 'B' }, { a: [1, 2], b: 1 })).toEqual({ a: [0, 'x'], b: 'B' });
  });

  it('walks each tree once: every registered node is flattened once, in the prefix, and in the full tree above the cut or below it', () => {
    let calls = 0;
    class Counted {
      constructor(readonly items: readonly unknown[]) {}
    }
    tree.register(Counted, { flatten: (x) => (calls++, [x.items, null]), unflatten: (_aux, items) => new Counted(items) });
    const full = new Counted([new Counted([1, new Counted([2, 3])]), { k: new Counted([4]) }]);
    const cases: [unknown, number, unknown[]][] = [
      [0, 0, [0, 0, 0, 0]],
      [new Counted([0, 1]), 1, [0, 0, 0, 1]],
      [new Counted([new Counted([0, 1]), { k: 2 }]), 2, [0, 1, 1, 2]],
    ];
    for (const [prefix, prefixNodes, want] of cases) {
      calls = 0;
      const out = tree.broadcast(prefix as never, full as never);
      expect(calls, `prefix with ${prefixNodes} Counted nodes`).toBe(prefixNodes + 4);
      expect(tree.leaves(out)).toEqual(want);
      expect(out).toBeInstanceOf(Counted);
    }
  });
});

describe('partition and combine', () => {
  it('combine(...partition(t, p)) rebuilds t, whichever half comes first', () => {
    fc.assert(
      fc.property(treeArb, fc.func(fc.boolean()), (t, choose) => {
        const pick = (_leaf: unknown, path: Path) => choose(tree.keystr(path));
        const [yes, no] = tree.partition(t, pick);
        expectSame(tree.combine(yes, no), t);
        expectSame(tree.combine(no, yes), t);
        const picked = tree.flattenWithPath(t)[0].filter(([p, x]) => pick(x, p));
        expect(tree.leaves(yes)).toEqual(picked.map(([, x]) => x));
        expect(tree.leaves(yes).length + tree.leaves(no).length).toBe(tree.leaves(t).length);
      }),
    );
  });

  it('puts null where the other half has its leaves', () => {
    const w = new Weights([2]);
    const [frozen, trainable] = tree.partition({ w, b: 1, n: null }, (x: unknown) => x instanceof Weights);
    expect(frozen).toStrictEqual({ w, b: null, n: null });
    expect(trainable).toStrictEqual({ w: null, b: 1, n: null });
    expect(tree.combine({ a: 1, b: null }, { a: 2, b: null }, { a: 3, b: 4 })).toEqual({ a: 1, b: 4 });
    expect(() => tree.combine({ a: 1 }, { b: 1 })).toThrow('tree.combine: structure mismatch at the root');
  });
});

// ---- immutable updates --------------------------------------------------------------------------------

/** Every plain object or array reachable from t without passing through a class instance. */
function plainContainers(t: unknown, out: object[] = []): object[] {
  if (!isPlainContainer(t)) return out;
  out.push(t);
  for (const v of Object.values(t)) plainContainers(v, out);
  return out;
}

describe('setIn, updateIn, getIn', () => {
  it('setIn returns a frozen tree that shares untouched subtrees and leaves the original as it was', () => {
    fc.assert(
      fc.property(treeWithLeafArb, ([t, i]) => {
        const before = snapshot(t);
        const pairs = tree.flattenWithPath(t)[0];
        const [path] = pairs[i];
        const marker = { new: 'value' };
        const result = tree.setIn(t, path, marker);

        expect(tree.getIn(result, path)).toBe(marker);
        expectSame(t, before);
        if (path.length > 0 && isPlainContainer(t)) expect(Object.isFrozen(t)).toBe(false);
        for (const c of plainContainers(result)) expect(Object.isFrozen(c)).toBe(true);
        // Every other leaf hangs off a subtree next to the path, which must be the same object.
        for (const [q] of pairs) {
          if (q === path) continue;
          let c = 0;
          while (c < path.length && q[c] === path[c]) c++;
          const side = q.slice(0, c + 1);
          expect(Object.is(tree.getIn(result, side), tree.getIn(t, side))).toBe(true);
        }
      }),
    );
  });

  it('updateIn applies the function at the path only', () => {
    fc.assert(
      fc.property(treeWithLeafArb, ([t, i]) => {
        const [path, leaf] = tree.flattenWithPath(t)[0][i];
        const result = tree.updateIn(t, path, (x) => [x]);
        expect(tree.getIn(result, path)).toEqual([leaf]);
        const rest = (u: unknown) => tree.flattenWithPath(u)[0].filter(([p]) => !tree.keystr(p).startsWith(tree.keystr(path)));
        expect(rest(result)).toEqual(rest(t));
      }),
    );
  });

  it('never drafts or freezes class-instance leaves', () => {
    const w = new Weights([2, 2]);
    const fresh = new Weights([3]);
    const t = { layer: { w, extra: { deep: 1 } }, step: 0 };
    const r1 = tree.setIn(t, ['step'], 1);
    const r2 = tree.setIn(r1, '.layer.w2', fresh);
    expect(r2.layer.w).toBe(w);
    expect(tree.getIn(r2, '.layer.w2')).toBe(fresh);
    expect(Object.isFrozen(r2) && Object.isFrozen(r2.layer) && Object.isFrozen(r2.layer.extra)).toBe(true);
    expect(Object.isFrozen(w) || Object.isFrozen(w.data) || Object.isFrozen(fresh)).toBe(false);
    w.data[0] = 5;
    expect(r2.layer.w.data[0]).toBe(5);
  });

  it('goes through registered nodes and awkward keys', () => {
    const t = { box: new Box('l', { x: 1 }, [2]), __proto__: 0 } as Record<string, unknown>;
    Object.defineProperty(t, '__proto__', { value: { q: 1 }, enumerable: true, writable: true, configurable: true });
    const r = tree.setIn(t, ".box.a.x", 10);
    expect(r.box).toBeInstanceOf(Box);
    expect((r.box as Box).label).toBe('l');
    expect((r.box as Box).b).toBe((t.box as Box).b);
    expect(tree.getIn(r, '.box.a.x')).toBe(10);
    const r2 = tree.setIn(t, "['__proto__'].q", 2);
    expect(Object.getPrototypeOf(r2)).toBe(Object.prototype);
    expect(tree.getIn(r2, "['__proto__'].q")).toBe(2);
    const r3 = tree.setIn(t, "['__proto__']", 3);
    expect(Object.getPrototypeOf(r3)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(r3, '__proto__')?.value).toBe(3);
    expect(Object.isFrozen(r3)).toBe(true);
    expect(() => tree.setIn(t, '.box.c', 1)).toThrow('tree.setIn: Box at .box has no child .c');
    expect(() => tree.setIn(t, '.nope.x', 1)).toThrow("tree.setIn: no key 'nope' at the root");
  });
});

// ---- flattenUpTo ------------------------------------------------------------------------------------------

describe('flattenUpTo', () => {
  it('cuts a tree at the leaves of a prefix structure', () => {
    const prefix = tree.structure({ a: 0, b: [0, 0] });
    expect(tree.flattenUpTo(prefix, { a: { x: 1 }, b: [[2], 3] })).toEqual([{ x: 1 }, [2], 3]);
    expect(() => tree.flattenUpTo(prefix, { a: 1, b: [2] })).toThrow('tree.flattenUpTo: structure mismatch at .b');
  });
});

// ---- summary -----------------------------------------------------------------------------------------------

describe('summary', () => {
  it('the total equals the sum of the leaf sizes', () => {
    fc.assert(
      fc.property(treeArb, (t) => {
        const ls = tree.leaves(t);
        const expected = ls.reduce((n: number, x) => n + (x instanceof Weights ? x.shape.reduce((a, d) => a * d, 1) : 1), 0);
        const lines = tree.summary(t).split('\n');
        expect(lines.length).toBe(ls.length + 2);
        const total = /^total \((\d+) lea(?:f|ves)\)\s+([\d,]+)$/.exec(lines[lines.length - 1]);
        expect(total).not.toBeNull();
        expect(Number(total![1])).toBe(ls.length);
        expect(Number(total![2].replace(/,/g, ''))).toBe(expected);
      }),
    );
  });

  it('shows paths, shapes and counts', () => {
    const s = tree.summary({ layers: [{ w: new Weights([1024, 1024]), b: 0.5 }], name: 'mlp' });
    expect(s).toBe(
      [
        'path              shape              size',
        '.layers[0].b      scalar                1',
        '.layers[0].w      [1024, 1024]  1,048,576',
        '.name             string                0',
        'total (3 leaves)                1,048,577',
      ].join('\n'),
    );
  });
});

describe('array indices in paths', () => {
  it('must be integers: getIn and setIn refuse 0.5 instead of reading undefined or adding a property the leaves never see', () => {
    const t = { a: [1, 2] };
    expect(() => tree.getIn(t, ['a', 0.5])).toThrow('tree.getIn: index 0.5 is not an integer (array at .a)');
    expect(() => tree.setIn(t, ['a', 0.5], 3)).toThrow(/index 0.5 is not an integer/);
    expect(tree.getIn(t, ['a', 1])).toBe(2);
  });
});

describe('cyclic trees', () => {
  it('are an error naming the function (and the path, where paths are walked), not a stack overflow; shared subtrees are fine', () => {
    const a: Record<string, unknown> = { x: 1 };
    a.self = a;
    // flatten tracks no paths (it runs on every jit call); the error walks again to name where the cycle closes.
    expect(() => tree.leaves(a)).toThrow('tree.leaves: the tree contains a cycle (a container holds itself at .self); trees must be acyclic');
    expect(() => tree.structure([0, [1, a]])).toThrow('tree.structure: the tree contains a cycle (a container holds itself at [1][1].self)');
    expect(() => tree.leaves(a)).toThrow(TreeError);
    // It prints as the exported TreeError, not a private subclass.
    expect(() => tree.leaves(a)).toThrow(expect.objectContaining({ name: 'TreeError' }));
    expect(String((() => { try { tree.leaves(a); } catch (e) { return e; } })())).toMatch(/^TreeError: tree\.leaves: the tree contains a cycle/);
    const b: unknown[] = [1, { c: 2 }];
    (b[1] as Record<string, unknown>).back = b;
    expect(() => tree.flattenWithPath(b)).toThrow(/tree.flattenWithPath: the tree contains a cycle \(a container holds itself at \[1\]\.back\)/);
    const shared = { w: 1 };
    expect(tree.leaves({ p: shared, q: [shared, shared] })).toEqual([1, 1, 1]);
  });
});

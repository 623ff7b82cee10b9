// Functional index updates (np.at, JAX's x.at[...]) and dynamic slices (lax.dynamicSlice,
// lax.dynamicUpdateSlice) against a JS reference that copies nested arrays and mutates the copy:
// values, derivatives by finite differences (first and second order), vmap against a loop, jit
// against eager, traced indices under jit, clear errors. Every check runs on wasm and cpu and
// leaves no tensors behind.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { DTypeError, ShapeError, dispose, grad, jit, lax, np, vmap, type NDArray } from '../src/index.js';
import { checkGrads } from '../src/testing/index.js';
import { FC_SEED, expectClose, numTensors, onEachBackend } from './helpers.js';

type Nested = number | Nested[];
type Spec = number | null | [number | null, number | null, number?] | { arr: number[] };

/** Nested JS array of `shape` with values from `flat`. */
function nest(shape: number[], flat: number[], off = 0): Nested {
  if (shape.length === 0) return flat[off]!;
  const inner = shape.slice(1).reduce((p, d) => p * d, 1);
  return Array.from({ length: shape[0]! }, (_, i) => nest(shape.slice(1), flat, off + i * inner));
}
const deepCopy = (a: Nested): Nested => (Array.isArray(a) ? a.map(deepCopy) : a);
const getAt = (a: Nested, c: number[]): number => c.reduce<Nested>((s, i) => (s as Nested[])[i]!, a) as number;
function setAt(a: Nested, c: number[], v: number): void {
  let s = a as Nested[];
  for (const i of c.slice(0, -1)) s = s[i] as Nested[];
  s[c[c.length - 1]!] = v;
}

/**
 * The reference's view of an index: the x-coordinates of each region entry in region order, or
 * null for an entry an out-of-bounds array index drops; `read` holds the clamped coordinates.
 */
function regionCoords(shape: number[], spec: Spec[]): { coords: (number[] | null)[]; read: number[][] } {
  const perAxis: { c: number; ok: boolean }[][] = [];
  shape.forEach((n, ax) => {
    const s = ax < spec.length ? spec[ax]! : null;
    let choices: { c: number; ok: boolean }[];
    if (s === null) choices = Array.from({ length: n }, (_, i) => ({ c: i, ok: true }));
    else if (typeof s === 'number') choices = [{ c: s < 0 ? s + n : s, ok: true }];
    else if (Array.isArray(s)) {
      // Python's slice.indices.
      const step = s[2] ?? 1;
      const fix = (v: number | null, d: number) => (v === null ? d : v < 0 ? Math.max(v + n, step > 0 ? 0 : -1) : Math.min(v, step > 0 ? n : n - 1));
      const b = fix(s[0], step > 0 ? 0 : n - 1), e = fix(s[1], step > 0 ? n : -1);
      choices = [];
      for (let i = b; step > 0 ? i < e : i > e; i += step) choices.push({ c: i, ok: true });
    } else {
      choices = s.arr.map((raw) => {
        const i = raw < 0 ? raw + n : raw;
        return { c: Math.min(Math.max(i, 0), n - 1), ok: i >= 0 && i < n };
      });
    }
    perAxis.push(choices);
  });
  // NumPy: when an int and the array axis are separated by a slice or null, the array's axis comes
  // first in the region; otherwise the region walks the axes in order.
  const isArr = (s: Spec | undefined) => s !== null && s !== undefined && typeof s === 'object' && !Array.isArray(s);
  const adv = shape.map((_, ax) => ax).filter((ax) => isArr(spec[ax]) || typeof spec[ax] === 'number');
  const arrAx = shape.findIndex((_, ax) => isArr(spec[ax]));
  const order = arrAx >= 0 && adv[adv.length - 1]! - adv[0]! + 1 !== adv.length ? [arrAx, ...shape.map((_, ax) => ax).filter((ax) => ax !== arrAx)] : shape.map((_, ax) => ax);
  let picks: { c: number; ok: boolean }[][] = [[]]; // per region entry: the choice for each axis of `order`
  for (const ax of order) picks = picks.flatMap((p) => perAxis[ax]!.map((ch) => [...p, ch]));
  const byAxis = (p: { c: number; ok: boolean }[]) => shape.map((_, ax) => p[order.indexOf(ax)]!);
  const coords = picks.map((p) => (byAxis(p).every((ch) => ch.ok) ? byAxis(p).map((ch) => ch.c) : null));
  const read = picks.map((p) => byAxis(p).map((ch) => ch.c));
  return { coords, read };
}

/** The reference update: a copy of x with each region entry combined in region order. */
function refUpdate(shape: number[], xs: number[], spec: Spec[], vs: number[], kind: 'set' | 'add' | 'multiply' | 'min' | 'max'): Nested {
  const out = deepCopy(nest(shape, xs));
  regionCoords(shape, spec).coords.forEach((c, k) => {
    if (c === null) return;
    const old = getAt(out, c), v = vs[k]!;
    setAt(out, c, kind === 'set' ? v : kind === 'add' ? old + v : kind === 'multiply' ? old * v : kind === 'min' ? Math.min(old, v) : Math.max(old, v));
  });
  return out;
}

const toIndex = (s: Spec): number | null | [number | null, number | null, number?] | NDArray =>
  s !== null && typeof s === 'object' && !Array.isArray(s) ? np.array(s.arr, 'int32') : s;
const flatOf = (a: Nested): number[] => (Array.isArray(a) ? a.flatMap(flatOf) : [a]);
const KINDS = ['set', 'add', 'multiply', 'min', 'max'] as const;

/** A random shape and an index for it: static ints (also negative), slices (also reversed), nulls, and at most one int array with repeats, negatives and out-of-bounds entries. */
const caseArb = fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 3 }).chain((shape) =>
  fc.tuple(
    fc.constant(shape),
    fc.tuple(...shape.map((n) => fc.oneof(
      fc.constant(null),
      fc.integer({ min: -n, max: n - 1 }),
      fc.tuple(fc.option(fc.integer({ min: -n - 1, max: n + 1 })), fc.option(fc.integer({ min: -n - 1, max: n + 1 })), fc.constantFrom(1, 2, -1, -2)),
      fc.record({ arr: fc.array(fc.integer({ min: -n - 1, max: n }), { minLength: 0, maxLength: 5 }) }),
    ))).map((spec) => {
      // Keep only the first int array: one array-indexed axis.
      let seen = false;
      return spec.map((s) => (s !== null && typeof s === 'object' && !Array.isArray(s) ? (seen ? null : ((seen = true), s)) : s)) as Spec[];
    }),
    fc.integer({ min: 0, max: 1000 }),
  ));

/** Deterministic distinct-ish floats (ties make min/max derivatives ambiguous). */
const floats = (n: number, seed: number): number[] => Array.from({ length: n }, (_, i) => Math.round((Math.sin(seed * 12.9898 + i * 78.233) * 43758.5453 % 1) * 400) / 100 + 0.01 * i);

describe('np.at(x, ...index) equals copying x and mutating the copy (JAX x.at[...])', () => {
  it('get/set/add/multiply/min/max match the nested-array reference; x is unchanged', () =>
    onEachBackend(() => {
      fc.assert(fc.property(caseArb, ([shape, spec, seed]) => {
        const size = shape.reduce((p, d) => p * d, 1);
        const xs = floats(size, seed);
        const x = np.array(nest(shape, xs) as number[], 'float32');
        const idx = spec.map(toIndex);
        const { coords, read } = regionCoords(shape, spec);
        const got = np.at(x, ...idx).get();
        expect(got.size).toBe(read.length);
        expectClose(np.ravel(got), read.map((c) => xs[c.reduce((f, i, ax) => f * shape[ax]! + i, 0)]!), { label: 'get values', atol: 0 });
        const vs = floats(coords.length, seed + 1);
        for (const kind of KINDS) {
          const v = np.array(vs, 'float32').reshape(got.shape);
          const out = np.at(x, ...idx)[kind](v);
          expect(out.shape).toEqual(shape);
          expectClose(np.ravel(out), flatOf(refUpdate(shape, xs, spec, vs, kind)), { label: `${kind} ${JSON.stringify(spec)}`, atol: 1e-5 });
        }
        expectClose(np.ravel(x), xs, { label: 'x unchanged', atol: 0 });
      }), { seed: FC_SEED, numRuns: 40 });
    }));

  it('add leaves the entries it does not write as they are, −0 included (it added a +0 to every entry: −0 + 0 = +0)', () =>
    onEachBackend(() => {
      const x = np.array([-0, 1, -0, 2], 'float32');
      const show = (a: NDArray) => Array.from(a.dataSync()).map((v) => (Object.is(v, -0) ? '-0' : String(v))).join(',');
      const i = np.array([1, 3, 3], 'int32'), v = np.array([1, 2, -0], 'float32');
      const traced = jit((a: NDArray, c: NDArray, b: NDArray) => np.at(a, c).add(b));
      const want = '-0,2,-0,4';
      expect(show(np.at(x, 1).add(1)), 'static int').toBe('-0,2,-0,2');
      expect(show(np.at(x, [1, 4, 2]).add(1)), 'static slice').toBe('-0,2,-0,3');
      expect(show(np.at(x, i).add(v)), 'concrete int array').toBe(want);
      expect(show(traced(x, i, v)), 'traced int array').toBe(want);
      expect(show(vmap((c: NDArray) => np.at(x, c).add(v))(np.stack([i, i]))), 'vmap over the indices').toBe(`${want},${want}`);
      // A −0 written onto −0 stays −0 (NumPy: −0 + −0).
      expect(show(np.at(x, 0).add(np.array(-0, 'float32'))), '−0 + −0').toBe('-0,1,-0,2');
      traced.clearCache();
    }));

  it('repeated array indices: add accumulates, multiply multiplies by every write, set keeps the last write, out-of-bounds updates drop', () =>
    onEachBackend(() => {
      const x = np.array([1, 2, 3, 4], 'float32');
      const i = np.array([1, 1, -1, 7, 1], 'int32');
      const v = np.array([10, 20, 30, 40, 50], 'float32');
      expectClose(np.at(x, i).add(v), [1, 82, 3, 34]);
      expectClose(np.at(x, i).multiply(v), [1, 2 * 10 * 20 * 50, 3, 4 * 30]);
      expectClose(np.at(x, i).set(v), [1, 50, 3, 30]);
      expectClose(np.at(x, i).min(v), [1, 2, 3, 4]);
      expectClose(np.at(x, i).max(v), [1, 50, 3, 30]);
      expectClose(np.at(x, i).get(), [2, 2, 4, 4, 2]); // 7 clamps to 3 on read
      expectClose(np.at(x, [1, 3]).set(9), [1, 9, 9, 4]); // scalar v broadcasts
      // JS-array operands make no array that outlives the call (the count is checked by onEachBackend too).
      expectClose(np.at([[1, 2], [3, 4]], 1, [null, null, -1]).set([7, 8]), [[1, 2], [8, 7]]);
    }));

  it('an int and an int array separated by a slice put the array axis first (NumPy/JAX: x[0, :, i] has shape [len(i), n1]), eager and traced', () =>
    onEachBackend(() => {
      const xs = Array.from({ length: 60 }, (_, f) => f);
      const x = np.array(xs, 'float32').reshape([3, 4, 5]);
      const ii = [1, -1, 1];
      const i = np.array(ii, 'int32');
      const at3 = (a: number, b: number, c: number) => xs[a * 20 + b * 5 + c]!;
      // x[0, :, i][k][j] = x[0][j][i[k]]; x[i, [1, 4], 2][k][j] = x[i[k]][1 + j][2] (wrapped negatives).
      const wantGet = ii.map((c) => [0, 1, 2, 3].map((j) => at3(0, j, (c + 5) % 5)));
      const wantGet2 = ii.map((a) => [1, 2, 3].map((j) => at3((a + 3) % 3, j, 2)));
      const v = np.array(Array.from({ length: 12 }, (_, f) => 100 + f), 'float32').reshape([3, 4]);
      const wantSet = xs.slice();
      ii.forEach((c, k) => [0, 1, 2, 3].forEach((j) => { wantSet[0 * 20 + j * 5 + ((c + 5) % 5)] = 100 + k * 4 + j; }));
      const traced = jit((xx: NDArray, jj: NDArray, vv: NDArray) => [np.at(xx, 0, null, jj).get(), np.at(xx, 0, null, jj).set(vv), np.at(xx, jj, [1, 4], 2).get()]);
      for (const [g, s2, g2] of [[np.at(x, 0, null, i).get(), np.at(x, 0, null, i).set(v), np.at(x, i, [1, 4], 2).get()], traced(x, i, v)] as NDArray[][]) {
        expect(g!.shape).toEqual([3, 4]);
        expectClose(g!, wantGet, { atol: 0 });
        expectClose(np.ravel(s2!), wantSet, { atol: 0 });
        expect(g2!.shape).toEqual([3, 3]);
        expectClose(g2!, wantGet2, { atol: 0 });
      }
      // Adjacent int and array keep the array where its axis was: x[:, 0, i] has shape [3, len(i)].
      expect(np.at(x, null, 0, i).get().shape).toEqual([3, 3]);
      traced.clearCache();
    }));

  it('int32 x keeps its dtype under every update with traced indices (min/max fill with int32 bounds, not Infinity)', () =>
    onEachBackend(() => {
      const x = np.array([5, -7, 2147483600, -2147483600], 'int32');
      const i = np.array([0, 2, 0, 3, 9], 'int32');
      const v = np.array([3, 2147483647, 4, -2147483648, 1], 'int32');
      const want = {
        set: [4, -7, 2147483647, -2147483648],
        min: [3, -7, 2147483600, -2147483648], max: [5, -7, 2147483647, -2147483600],
      };
      for (const kind of ['set', 'min', 'max'] as const) {
        const f = jit((xx: NDArray, jj: NDArray, vv: NDArray) => np.at(xx, jj)[kind](vv));
        const got = f(x, i, v);
        expect(got.dtype, kind).toBe('int32');
        expect(Array.from(got.dataSync()), kind).toEqual(want[kind]);
        expect(Array.from(np.at(x, i)[kind](v).dataSync()), `eager ${kind}`).toEqual(want[kind]);
        f.clearCache();
      }
    }));

  it('bool x stays bool under every update, static and traced indices (add/max are or, multiply/min are and), as JAX keeps x\'s dtype', () =>
    onEachBackend(() => {
      const xb = [false, true, false, true];
      const x = np.array(xb, 'bool');
      const ii = [0, 1, 0, 2, 9];
      const vb = [true, false, false, false, true];
      const i = np.array(ii, 'int32');
      const v = np.array(vb, 'bool');
      const ops = { set: (_o: boolean, w: boolean) => w, add: (o: boolean, w: boolean) => o || w, multiply: (o: boolean, w: boolean) => o && w, min: (o: boolean, w: boolean) => o && w, max: (o: boolean, w: boolean) => o || w };
      for (const kind of KINDS) {
        const want = xb.slice();
        ii.forEach((t, k) => { if (t < want.length) want[t] = ops[kind](want[t]!, vb[k]!); });
        const f = jit((xx: NDArray, jj: NDArray, vv: NDArray) => np.at(xx, jj)[kind](vv));
        for (const [label, got] of [['static', np.at(x, i)[kind](v)], ['traced', f(x, i, v)]] as const) {
          expect(got.dtype, `${label} ${kind}`).toBe('bool');
          expect(Array.from(got.dataSync(), (d) => d !== 0), `${label} ${kind}`).toEqual(want);
        }
        f.clearCache();
      }
    }));

  it('set writes the value itself: −0 stays −0 (JAX\'s scatter replaces; adding the value to zeros made it +0), static and traced, repeats included', () =>
    onEachBackend(() => {
      const x = np.array([1, -0, 3, 4], 'float32');
      const i = np.array([1, 2, 2, 0, 7], 'int32');
      const v = np.array([5, 6, -0, -0, 9], 'float32');
      const want = [-0, 5, -0, 4];
      const f = jit((xx: NDArray, ii: NDArray, vv: NDArray) => np.at(xx, ii).set(vv));
      const cases: [string, NDArray][] = [
        ['static', np.at(x, i).set(v)], ['traced', f(x, i, v)],
        // (A JS -0 is an integer, so np.asArray(-0) is int32 0: the float −0 is given as an array.)
        ['static scalar', np.at(x, 0).set(np.array(-0, 'float32'))], ['static slice', np.at(x, [0, 2]).set(np.array([-0, 2], 'float32'))],
      ];
      const wants = [want, want, [-0, -0, 3, 4], [-0, 2, 3, 4]];
      cases.forEach(([label, got], k) => expect(Array.from(got.dataSync()).map((d) => Object.is(d, -0) ? '-0' : d), label).toEqual(wants[k]!.map((d) => Object.is(d, -0) ? '-0' : d)));
      f.clearCache();
    }));

  it('traced int-array indices under jit equal eager (concrete) indices, repeats and out-of-bounds included', () =>
    onEachBackend(() => {
      fc.assert(fc.property(caseArb, ([shape, spec, seed]) => {
        const arrAxis = spec.findIndex((s) => s !== null && typeof s === 'object' && !Array.isArray(s));
        if (arrAxis < 0) return;
        const size = shape.reduce((p, d) => p * d, 1);
        const x = np.array(nest(shape, floats(size, seed)) as number[], 'float32');
        const idx = spec.map(toIndex);
        const region = np.at(x, ...idx).get();
        const v = np.array(floats(region.size, seed + 2), 'float32').reshape(region.shape);
        for (const kind of [...KINDS, 'get'] as const) {
          const f = jit((xx: NDArray, ii: NDArray, vv: NDArray) => {
            const spec2 = idx.map((s, ax) => (ax === arrAxis ? ii : s));
            return kind === 'get' ? np.at(xx, ...spec2).get() : np.at(xx, ...spec2)[kind](vv);
          });
          const eager = kind === 'get' ? region : np.at(x, ...idx)[kind](v);
          expectClose(f(x, idx[arrAxis] as NDArray, v), eager, { label: `jit ${kind}`, atol: 1e-5 });
          f.clearCache();
        }
      }), { seed: FC_SEED, numRuns: 25 });
    }));
});

describe('derivatives of np.at updates match finite differences (first and second order)', () => {
  it('set/add/multiply/min/max/get in x and v, for static slices and repeated int-array indices', () =>
    onEachBackend(() => {
      const x = np.array(nest([3, 4], floats(12, 3)) as number[], 'float32');
      const cases: { idx: (number | null | [number | null, number | null, number?] | NDArray)[]; v: NDArray }[] = [
        { idx: [[0, 3, 2], [null, null, -1]], v: np.array(nest([2, 4], floats(8, 5)) as number[], 'float32') },
        { idx: [null, np.array([2, 0, 2, -1], 'int32')], v: np.array(nest([3, 4], floats(12, 7)) as number[], 'float32') },
        { idx: [1], v: np.array(floats(1, 9), 'float32') }, // broadcast over the row: ∂/∂v sums
      ];
      for (const { idx, v } of cases) {
        for (const kind of KINDS) {
          // Squaring makes the second derivative in v and x informative for the linear updates.
          checkGrads((xx: NDArray, vv: NDArray) => np.sum(np.square(np.at(xx, ...idx)[kind](vv))), [x, v], { order: 2, atol: 2e-3, rtol: 2e-3 });
        }
        checkGrads((xx: NDArray) => np.sum(np.sin(np.at(xx, ...idx).get())), [x], { order: 2, atol: 2e-3, rtol: 2e-3 });
      }
    }));

  it('∂ set/∂x is 0 at the written entries and 1 elsewhere; ∂ set/∂v sums the cotangent over broadcasting and gets it only from the winning write', () =>
    onEachBackend(() => {
      const x = np.array([1, 2, 3, 4], 'float32');
      const i = np.array([1, 3, 1], 'int32');
      const w = np.array([1, 10, 100, 1000], 'float32');
      // L = Σ w ⊙ set(x, i, v): ∂L/∂x = w off the written entries, 0 on them; ∂L/∂v_k = w[i_k] for the winning (last) write of each target, 0 for overwritten ones.
      const [gx, gv] = grad((xx: NDArray, vv: NDArray) => np.sum(np.multiply(w, np.at(xx, i).set(vv))), { argnums: [0, 1] })(x, np.array([5, 6, 7], 'float32'));
      expectClose(gx, [1, 0, 100, 0], { atol: 0 });
      expectClose(gv, [0, 1000, 10], { atol: 0 });
      // The same with the index traced (the sort-and-gather path), an out-of-range and a negative write included.
      const gt = jit((xx: NDArray, vv: NDArray, ii: NDArray) => grad((a: NDArray, b: NDArray) => np.sum(np.multiply(w, np.at(a, ii).set(b))), { argnums: [0, 1] })(xx, vv));
      const [tx, tv] = gt(x, np.array([5, 6, 7, 8, 9], 'float32'), np.array([1, 3, 1, 9, -3], 'int32')) as unknown as NDArray[];
      expectClose(tx!, [1, 0, 100, 0], { atol: 0 });
      expectClose(tv!, [0, 1000, 0, 0, 10], { atol: 0 });
      gt.clearCache();
      // A scalar v broadcast over a row receives the row's summed cotangent.
      const gs = grad((vv: NDArray) => np.sum(np.multiply(np.reshape(w, [2, 2]), np.at(np.reshape(x, [2, 2]), 1).set(vv))))(np.array(3, 'float32'));
      expectClose(gs, 1100, { atol: 0 });
    }));
});

describe('vmap of np.at equals stacking over the batch', () => {
  it('batched x, batched v and batched int-array indices, separately and together', () =>
    onEachBackend(() => {
      const B = 3;
      const xs = np.array(nest([B, 2, 4], floats(B * 8, 11)) as number[], 'float32');
      const vs = np.array(nest([B, 2, 3], floats(B * 6, 13)) as number[], 'float32');
      const is = np.array([[0, 3, 3], [-1, 5, 1], [2, 2, -4]], 'int32');
      const x0 = xs.at(0), v0 = vs.at(0), i0 = is.at(0);
      for (const kind of [...KINDS, 'get'] as const) {
        const f = (x: NDArray, i: NDArray, v: NDArray) => (kind === 'get' ? np.at(x, null, i).get() : np.at(x, null, i)[kind](v));
        const axesList: [number | null, number | null, number | null][] = [[0, null, null], [null, null, 0], [null, 0, null], [0, 0, 0]];
        for (const inAxes of axesList) {
          const args = [inAxes[0] === null ? x0 : xs, inAxes[1] === null ? i0 : is, inAxes[2] === null ? v0 : vs] as const;
          const loop = np.stack([0, 1, 2].map((b) => f(...(args.map((a, k) => (inAxes[k] === null ? a : a.at(b))) as [NDArray, NDArray, NDArray]))));
          expectClose(vmap(f, { inAxes })(...args), loop, { label: `vmap ${kind} ${JSON.stringify(inAxes)}`, atol: 1e-5 });
        }
      }
    }));
});

/** lax.dynamic_slice's start rule (JAX's default allow_negative_indices): a negative start counts from the end, then moves into [0, n - size]. */
const clampStart = (s: number, n: number, size: number) => Math.min(Math.max(s < 0 ? s + n : s, 0), n - size);

describe('lax.dynamicSlice and lax.dynamicUpdateSlice clamp their starts as JAX does', () => {
  const startArb = fc.tuple(
    fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 3 }),
    fc.integer({ min: 0, max: 1000 }),
  ).chain(([shape, seed]) => fc.tuple(
    fc.constant(shape),
    fc.tuple(...shape.map((n) => fc.integer({ min: 0, max: n }))),
    fc.tuple(...shape.map((n) => fc.integer({ min: -n - 1, max: n + 2 }))),
    fc.constant(seed),
  ));

  it('values equal a reference copy, with starts as JS ints, concrete arrays and traced under jit', () =>
    onEachBackend(() => {
      fc.assert(fc.property(startArb, ([shape, sizes, starts, seed]) => {
        const size = shape.reduce((p, d) => p * d, 1);
        const xs = floats(size, seed);
        const x = np.array(nest(shape, xs) as number[], 'float32');
        const corner = starts.map((s, d) => clampStart(s, shape[d]!, sizes[d]!));
        const spec: Spec[] = corner.map((c, d) => [c, c + sizes[d]!]);
        const want = regionCoords(shape, spec).read.map((c) => getAt(nest(shape, xs), c));
        const got = lax.dynamicSlice(x, starts, sizes);
        expect(got.shape).toEqual(sizes);
        expectClose(np.ravel(got), want, { label: 'dynamicSlice', atol: 0 });
        const startArrays = starts.map((s) => np.array(s, 'int32'));
        const js = jit((xx: NDArray, ...ss: NDArray[]) => lax.dynamicSlice(xx, ss, sizes));
        expectClose(js(x, ...startArrays), got, { label: 'jit dynamicSlice', atol: 0 });
        const u = np.reshape(np.array(floats(want.length, seed + 1), 'float32'), sizes);
        const uflat = floats(want.length, seed + 1);
        const out = deepCopy(nest(shape, xs));
        regionCoords(shape, spec).read.forEach((c, k) => setAt(out, c, uflat[k]!));
        const upd = lax.dynamicUpdateSlice(x, u, startArrays);
        expectClose(np.ravel(upd), flatOf(out), { label: 'dynamicUpdateSlice', atol: 0 });
        const ju = jit((xx: NDArray, uu: NDArray, ...ss: NDArray[]) => lax.dynamicUpdateSlice(xx, uu, ss));
        expectClose(ju(x, u, ...startArrays), upd, { label: 'jit dynamicUpdateSlice', atol: 0 });
        js.clearCache();
        ju.clearCache();
      }), { seed: FC_SEED, numRuns: 30 });
    }));

  it('derivatives in x and the update match finite differences (order 2); vmap with batched starts equals a loop', () =>
    onEachBackend(() => {
      const x = np.array(nest([4, 5], floats(20, 17)) as number[], 'float32');
      const u = np.array(nest([2, 3], floats(6, 19)) as number[], 'float32');
      const s = [np.array(3, 'int32'), np.array(-2, 'int32')];
      checkGrads((xx: NDArray) => np.sum(np.square(lax.dynamicSlice(xx, s, [2, 3]))), [x], { order: 2, atol: 2e-3, rtol: 2e-3 });
      checkGrads((xx: NDArray, uu: NDArray) => np.sum(np.sin(lax.dynamicUpdateSlice(xx, uu, s))), [x, u], { order: 2, atol: 2e-3, rtol: 2e-3 });
      const starts = np.array([[0, 4], [3, 1], [-1, 2]], 'int32');
      const xs = np.stack([x, np.negative(x), np.multiply(x, 2)]);
      const us = np.stack([u, np.add(u, 1), np.multiply(u, 3)]);
      const sl = (xx: NDArray, st: NDArray) => lax.dynamicSlice(xx, [st.at(0), st.at(1)], [2, 3]);
      const up = (xx: NDArray, uu: NDArray, st: NDArray) => lax.dynamicUpdateSlice(xx, uu, [st.at(0), st.at(1)]);
      expectClose(vmap(sl)(xs, starts), np.stack([0, 1, 2].map((b) => sl(xs.at(b), starts.at(b)))), { label: 'vmap dynamicSlice', atol: 0 });
      expectClose(vmap(sl, { inAxes: [null, 0] })(x, starts), np.stack([0, 1, 2].map((b) => sl(x, starts.at(b)))), { label: 'vmap starts only', atol: 0 });
      expectClose(vmap(up)(xs, us, starts), np.stack([0, 1, 2].map((b) => up(xs.at(b), us.at(b), starts.at(b)))), { label: 'vmap dynamicUpdateSlice', atol: 0 });
      expectClose(vmap(up, { inAxes: [null, null, 0] })(x, u, starts), np.stack([0, 1, 2].map((b) => up(x, u, starts.at(b)))), { label: 'vmap update starts only', atol: 0 });
      expectClose(lax.dynamicIndexInDim(x, np.array(-7, 'int32'), 1, false), np.index(x, [null, 0]));
      // JAX's default keeps the indexed axis (keepdims=True).
      expect(lax.dynamicIndexInDim(x, np.array(-7, 'int32'), 1).shape).toEqual([x.shape[0], 1]);
      expectClose(lax.dynamicSliceInDim(x, 9, 2, 0), np.index(x, [[2, 4]]));
      expectClose(lax.dynamicUpdateSliceInDim(x, np.ones([4, 2]), np.array(-3, 'int32'), 1), np.at(x, null, [2, 4]).set(1)); // start −3 is 2
    }));

  it('negative starts count from the end before clamping (JAX allow_negative_indices=True), eager and traced', () =>
    onEachBackend(() => {
      const x = np.arange(5).astype('float32');
      const ds = jit((s: NDArray) => lax.dynamicSlice(x, [s], [2]));
      const dus = jit((s: NDArray) => lax.dynamicUpdateSlice(x, np.array([10, 20], 'float32'), [s]));
      // start -> effective corner for a window of 2 in 5: -1 -> 4 -> 3, -2 -> 3, -4 -> 1, -5 -> 0, -9 -> -4 -> 0.
      for (const [s, c] of [[-1, 3], [-2, 3], [-4, 1], [-5, 0], [-9, 0], [2, 2], [7, 3]] as const) {
        const want = [c, c + 1];
        const wantU = [0, 1, 2, 3, 4].map((k) => (k === c ? 10 : k === c + 1 ? 20 : k));
        expectClose(lax.dynamicSlice(x, [s], [2]), want, { label: `js start ${s}`, atol: 0 });
        expectClose(ds(np.array(s, 'int32')), want, { label: `traced start ${s}`, atol: 0 });
        expectClose(lax.dynamicUpdateSlice(x, np.array([10, 20], 'float32'), [s]), wantU, { label: `update js start ${s}`, atol: 0 });
        expectClose(dus(np.array(s, 'int32')), wantU, { label: `update traced start ${s}`, atol: 0 });
      }
      expectClose(lax.dynamicIndexInDim(x, -1), [4]);
      expectClose(lax.dynamicIndexInDim(x, -1, 0, false), 4);
      expectClose(lax.dynamicSliceInDim(np.reshape(x, [1, 5]), np.array(-2, 'int32'), 2, 1), [[3, 4]]);
      ds.clearCache();
      dus.clearCache();
    }));
});

describe('errors name the op, the shapes and what was expected', () => {
  it('bad index types, out-of-range static ints, value shape mismatches, bad starts', () =>
    onEachBackend(() => {
      const x = np.zeros([2, 3]);
      expect(() => np.at(x, 2).set(1)).toThrow(ShapeError);
      expect(() => np.at(x, 2).set(1)).toThrow(/at\(\.\.\.\)\.set: index 2 is out of bounds for axis 0 with size 2/);
      expect(() => np.at(x, null, -4).get()).toThrow(/out of bounds for axis 1 with size 3/);
      expect(() => np.at(x, np.array([0.5], 'float32')).add(1)).toThrow(DTypeError);
      expect(() => np.at(x, np.array([0], 'int32'), np.array([1], 'int32')).get()).toThrow(/only one axis may be indexed by an array/);
      expect(() => np.at(x, 'a' as unknown as number).get()).toThrow(/expected an integer, null, a \[start, stop, step\] slice/);
      expect(() => np.at(x, 0, 0, 0).get()).toThrow(/3 indices for an array of rank 2/);
      expect(() => np.at(x, 0).set(np.ones([2]))).toThrow(/the value of shape \[2\] does not broadcast to the indexed region of shape \[3\] \(x has shape \[2,3\]\)/);
      expect(() => lax.dynamicSlice(x, [0], [1, 1])).toThrow(/dynamicSlice: got 1 start indices for an array of shape \[2,3\]/);
      expect(() => lax.dynamicSlice(x, [0, 0], [3, 1])).toThrow(/slice sizes \[3,1\] does not fit in the operand of shape \[2,3\]/);
      expect(() => lax.dynamicSlice(x, [0, np.array(0.5, 'float32')], [1, 1])).toThrow(DTypeError);
      expect(() => lax.dynamicUpdateSlice(x, np.ones([3]), [0, 0])).toThrow(/update of shape \[3\] has a different rank than the operand of shape \[2,3\]/);
    }));
});

describe('x.update(...index) is np.at(x, ...index)', () => {
  it('the method alias gives the same results and leaves x.at(...) reading', () =>
    onEachBackend(() => {
      const x = np.array([[1, 2, 3], [4, 5, 6]], 'float32');
      expectClose(x.update(1, [0, 3, 2]).add(10), np.at(x, 1, [0, 3, 2]).add(10));
      expectClose(x.update(1, [0, 3, 2]).add(10), [[1, 2, 3], [14, 5, 16]]);
      expectClose(x.update(null, np.array([2, 2], 'int32')).get(), [[3, 3], [6, 6]]);
      expectClose(x.at(0), [1, 2, 3]);
    }));
});

describe('np.segmentSum (jax.ops.segment_sum) equals summing rows by id', () => {
  it('values against a loop (ids out of range dropped), jit with traced ids, gradient, vmap over data and ids', () =>
    onEachBackend(() => {
      fc.assert(fc.property(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 0, max: 1000 }), (n, k, seed) => {
        const ids = Array.from({ length: n }, (_, i) => (Math.floor(floats(1, seed + i)[0]! * 10) % (k + 2)) - 1); // in [-2, k]
        const rows = Array.from({ length: n }, (_, i) => floats(2, seed * 7 + i));
        const want = Array.from({ length: k }, () => [0, 0]);
        ids.forEach((s, i) => { if (s >= 0 && s < k) { want[s]![0]! += rows[i]![0]!; want[s]![1]! += rows[i]![1]!; } });
        const data = np.array(rows, 'float32'), idArr = np.array(ids, 'int32');
        expectClose(np.segmentSum(data, idArr, k), want, { atol: 1e-5, label: `segmentSum ids ${ids}` });
        const j = jit((dd: NDArray, ii: NDArray) => np.segmentSum(dd, ii, k));
        expectClose(j(data, idArr), want, { atol: 1e-5, label: 'jit' });
        j.clearCache();
      }), { seed: FC_SEED, numRuns: 20 });
      const data = np.array([[1, 2], [3, 4], [5, 6]], 'float32');
      const ids = np.array([1, 0, 1], 'int32');
      checkGrads((d: NDArray) => np.sum(np.square(np.segmentSum(d, ids, 2))), [data], { order: 2, atol: 2e-3, rtol: 2e-3 });
      const dataB = np.stack([data, np.negative(data)]);
      const idsB = np.array([[1, 0, 1], [0, 0, 3]], 'int32');
      expectClose(vmap((d: NDArray, i: NDArray) => np.segmentSum(d, i, 2))(dataB, idsB), np.stack([0, 1].map((b) => np.segmentSum(dataB.at(b), idsB.at(b), 2))), { label: 'vmap' });
      expect(() => np.segmentSum(data, np.array([0, 1], 'int32'), 2)).toThrow(/segment ids of shape \[2\] must be 1-D with one id per row of data \(shape \[3,2\]\)/);
      expect(() => np.segmentSum(data, np.array([0, 1, 0], 'float32'), 2)).toThrow(DTypeError);
    }));
});

describe('no tensor outlives a top-level call (outside any scope)', () => {
  it('np.at, dynamic slices and segmentSum on JS arrays and int32 indices free every intermediate', () => {
    const s = np.array(9, 'int32'), i = np.array([0, 5, 0], 'int32');
    const before = numTensors();
    dispose(np.at([[1, 2], [3, 4]], 1).add([7, 8]));
    dispose(np.at([[1, 2], [3, 4]], 1, i).set([7, 8, 9]));
    dispose(np.at([1, 2, 3], i).get());
    dispose(lax.dynamicUpdateSlice([1, 2, 3], [5], [s]));
    dispose(lax.dynamicSlice([1, 2, 3], [s], [2]));
    dispose(np.segmentSum([1, 2], [0, 0], 1));
    expect(numTensors()).toBe(before);
    dispose([s, i]);
  });
});

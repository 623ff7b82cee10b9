// Functional index updates (np.at, JAX's x.at[...]) and dynamic slices (lax.dynamicSlice,
// lax.dynamicUpdateSlice) against a JS reference that copies nested arrays and mutates the copy:
// values, derivatives by finite differences (first and second order), vmap against a loop, jit
// against eager, traced indices under jit, clear errors. Every check runs on wasm and cpu and
// leaves no tensors behind.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { DTypeError, ShapeError, grad, jit, lax, np, vmap, type NDArray } from '../src/index.js';
import { checkGrads } from '../src/testing/index.js';
import { FC_SEED, expectClose, onEachBackend } from './helpers.js';

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
  let coords: (number[] | null)[] = [[]];
  let read: number[][] = [[]];
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
    coords = coords.flatMap((c) => choices.map((ch) => (c === null || !ch.ok ? null : [...c, ch.c])));
    read = read.flatMap((c) => choices.map((ch) => [...c, ch.c]));
  });
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

  it('repeated array indices: add accumulates, multiply multiplies in turn, set keeps the last write, out-of-bounds updates drop', () =>
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
      // A scalar v broadcast over a row receives the row's summed cotangent.
      const gs = grad((vv: NDArray) => np.sum(np.multiply(np.reshape(w, [2, 2]), np.at(np.reshape(x, [2, 2]), 1).set(vv))))(np.array(3, 'float32'));
      expectClose(gs, 1100, { atol: 0 });
    }));
});

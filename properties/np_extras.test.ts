// np.meshgrid, np.isclose/np.allclose, np.searchsorted, np.xlogy/np.xlog1py and the NaN-ignoring
// reductions (nansum, nanmean, nanmax, nanmin), against plain-JS references with NumPy's semantics:
// values, dtypes and shapes, derivatives (JAX's rules; finite differences), vmap against a loop,
// jit against eager. Every check runs on wasm and cpu and leaves no tensors behind.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { grad, jit, np, vmap, type NDArray } from '../src/index.js';
import { checkGrads } from '../src/testing/index.js';
import { FC_SEED, onEachBackend, values } from './helpers.js';



const f32 = (lo: number, hi: number) => fc.float({ min: Math.fround(lo), max: Math.fround(hi), noNaN: true });
const fr = Math.fround;

describe('np.meshgrid', () => {
  /** NumPy's meshgrid, by index arithmetic: output i at position p holds xs[i][p[axis of i]]. */
  function meshgridRef(xs: number[][], indexing: 'xy' | 'ij'): { shape: number[]; data: number[][] } {
    const swap = indexing === 'xy' && xs.length >= 2;
    const axisOf = (i: number) => (swap && i < 2 ? 1 - i : i);
    const shape = xs.map((_, a) => xs[xs.findIndex((__, i) => axisOf(i) === a)]!.length);
    const size = shape.reduce((p, d) => p * d, 1);
    const data = xs.map((x, i) =>
      Array.from({ length: size }, (_, flat) => {
        let rest = flat;
        const pos: number[] = [];
        for (let a = shape.length - 1; a >= 0; a--) {
          pos[a] = rest % shape[a]!;
          rest = Math.floor(rest / shape[a]!);
        }
        return x[pos[axisOf(i)]!]!;
      }),
    );
    return { shape, data };
  }

  it("matches NumPy's layout for 'xy' (default) and 'ij', 1 to 4 inputs, keeping each dtype", () =>
    onEachBackend(() => {
      fc.assert(
        fc.property(fc.array(fc.array(fc.integer({ min: -50, max: 50 }), { minLength: 0, maxLength: 4 }), { minLength: 1, maxLength: 4 }), fc.constantFrom('xy' as const, 'ij' as const), (xs, indexing) => {
          const want = meshgridRef(xs, indexing);
          const dtypes = xs.map((_, i) => (i % 2 ? 'int32' : 'float32') as 'int32' | 'float32');
          const got = np.meshgrid(xs.map((x, i) => np.array(x, dtypes[i])), indexing);
          expect(got.length).toBe(xs.length);
          got.forEach((g, i) => {
            expect(g.shape).toEqual(want.shape);
            expect(g.dtype).toBe(dtypes[i]);
            expect(values(g)).toEqual(want.data[i]);
          });
          const defaulted = np.meshgrid(xs.map((x) => np.array(x, 'float32')));
          defaulted.forEach((g, i) => expect(values(g)).toEqual(meshgridRef(xs, 'xy').data[i]));
        }),
        { seed: FC_SEED, numRuns: 30 },
      );
    }));

  it('refuses non-1-D inputs and unknown indexing, naming the argument and shape', () =>
    onEachBackend(() => {
      expect(() => np.meshgrid([np.array([1, 2]), np.zeros([2, 2])])).toThrow(/meshgrid: expected 1-D coordinate arrays .* argument 1 has shape \[2,2\]/);
      expect(() => np.meshgrid([np.array([1, 2])], 'yx' as 'xy')).toThrow(/meshgrid: indexing must be 'xy' or 'ij', got "yx"/);
    }));

  it('is differentiable (the cotangents sum over the grid), works under vmap and jit', () =>
    onEachBackend(() => {
      const x = np.array([1, 2, 3], 'float32');
      const y = np.array([4, 5], 'float32');
      const f = (a: NDArray, b: NDArray) => { const [gx, gy] = np.meshgrid([a, b]); return np.sum(np.multiply(np.multiply(gx!, gy!), gx!)); };
      const [dx, dy] = grad(f, { argnums: [0, 1] })(x, y) as [NDArray, NDArray];
      // Σᵢⱼ xᵢ²yⱼ: d/dxᵢ = 2xᵢ·Σy, d/dyⱼ = Σx².
      expect(values(dx)).toEqual([1, 2, 3].map((v) => 2 * v * 9));
      expect(values(dy)).toEqual([14, 14]);
      checkGrads(f, [x, y], { order: 2 });
      const batch = np.array([[1, 2, 3], [4, 5, 6]], 'float32');
      const g = (a: NDArray) => np.meshgrid([a, y], 'ij')[0]!;
      expect(values(vmap(g)(batch))).toEqual([...values(g(np.index(batch, [0]))), ...values(g(np.index(batch, [1])))]);
      const jg = jit((a: NDArray, b: NDArray) => np.meshgrid([a, b]));
      jg(x, y).forEach((o, i) => expect(values(o)).toEqual(values(np.meshgrid([x, y])[i]!)));
      jg.clearCache();
    }));
});

describe('np.isclose and np.allclose', () => {
  /** NumPy's isclose, evaluated in float32 as the operands are: |a − b| ≤ atol + rtol·|b|, infinities equal only to themselves. */
  function iscloseRef(a: number, b: number, rtol = 1e-5, atol = 1e-8, equalNan = false): boolean {
    if (Number.isNaN(a) || Number.isNaN(b)) return equalNan && Number.isNaN(a) && Number.isNaN(b);
    if (!Number.isFinite(a) || !Number.isFinite(b)) return a === b;
    return fr(Math.abs(fr(a - b))) <= fr(fr(atol) + fr(fr(rtol) * Math.abs(b)));
  }
  // Pairs near the tolerance's edge, and the specials.
  const pair = fc.oneof(
    fc.tuple(f32(-1e4, 1e4), fc.double({ min: -3e-5, max: 3e-5, noNaN: true })).map(([a, d]) => [a, fr(a * (1 + d))] as [number, number]),
    fc.tuple(f32(-1e-7, 1e-7), f32(-1e-7, 1e-7)),
    fc.tuple(fc.constantFrom(NaN, Infinity, -Infinity, 0, 1), fc.constantFrom(NaN, Infinity, -Infinity, 0, 1)),
  );

  it('agrees elementwise with a float32 reference, for default and given tolerances and equalNan', () =>
    onEachBackend(() => {
      fc.assert(
        fc.property(fc.array(pair, { minLength: 1, maxLength: 30 }), fc.constantFrom(1e-5, 1e-3, 0), fc.constantFrom(1e-8, 1e-6, 0), fc.boolean(), (pairs, rtol, atol, equalNan) => {
          const a = np.array(Float32Array.from(pairs.map((p) => p[0])));
          const b = np.array(Float32Array.from(pairs.map((p) => p[1])));
          const got = np.isclose(a, b, rtol, atol, equalNan);
          expect(got.dtype).toBe('bool');
          const want = pairs.map(([x, y]) => iscloseRef(fr(x), fr(y), rtol, atol, equalNan));
          expect(values(got).map(Boolean)).toEqual(want);
          const all = np.allclose(a, b, rtol, atol, equalNan);
          expect(all.shape).toEqual([]);
          expect(all.dtype).toBe('bool');
          expect(Boolean(values(all)[0])).toBe(want.every(Boolean));
        }),
        { seed: FC_SEED, numRuns: 60 },
      );
    }));

  it('defaults to rtol 1e-5, atol 1e-8 (asymmetric in b), broadcasts, converts ints and bools, and is a constant under grad, vmap and jit', () =>
    onEachBackend(() => {
      expect(values(np.isclose(np.array([1, 1e-9, NaN, Infinity], 'float32'), np.array([1.000005, 0, NaN, Infinity], 'float32')))).toEqual([1, 1, 0, 1]);
      expect(values(np.isclose(np.array([NaN], 'float32'), NaN, 1e-5, 1e-8, true))).toEqual([1]);
      // |a − b| = 10: within rtol·|b| for b = 1e6 but not for b = 10.
      expect(values(np.isclose(np.array([1e6 + 10, 20], 'float32'), np.array([1e6, 10], 'float32'), 1e-5, 0))).toEqual([1, 0]);
      expect(np.isclose(np.array([[1], [2]], 'int32'), np.array([1, 2, 3], 'int32')).shape).toEqual([2, 3]);
      expect(values(np.isclose(np.array([true, false]), np.array([1, 0], 'int32')))).toEqual([1, 1]);
      expect(values(np.allclose(np.array([1, 2], 'float32'), np.array([1, 2.1], 'float32')))).toEqual([0]);
      const x = np.array([1, 2, 3], 'float32');
      expect(values(grad((a: NDArray) => np.sum(np.multiply(a, np.isclose(a, 2))))(x))).toEqual([0, 1, 0]);
      const rows = np.array([[1, 2], [3, 3]], 'float32');
      expect(values(vmap((r: NDArray) => np.allclose(np.index(r, [0]), np.index(r, [1])))(rows))).toEqual([0, 1]);
      const jf = jit((a: NDArray, b: NDArray) => np.isclose(a, b));
      expect(values(jf(x, np.array([1, 2.5, 3], 'float32')))).toEqual([1, 0, 1]);
      jf.clearCache();
    }));
});

describe('np.searchsorted', () => {
  /** NumPy's searchsorted by counting, with NaN ordered last (as np.sort puts it). */
  function searchsortedRef(a: number[], v: number, side: 'left' | 'right'): number {
    const lt = (p: number, q: number) => (Number.isNaN(q) ? !Number.isNaN(p) : p < q);
    return a.filter((e) => (side === 'left' ? lt(e, v) : !lt(v, e))).length;
  }
  const value = fc.oneof(fc.integer({ min: -5, max: 5 }).map((i) => i / 2), fc.constantFrom(NaN, Infinity, -Infinity, -0));
  /** A sorted float32 array with ties and NaNs last, as np.sort leaves it. */
  const sortedArray = fc.array(value, { maxLength: 12 }).map((xs) => [...xs].sort((p, q) => (Number.isNaN(p) ? 1 : Number.isNaN(q) ? -1 : p - q)));

  it("agrees with counting (side 'left': entries < v, 'right': entries ≤ v; NaN last), int32 with v's shape", () =>
    onEachBackend(() => {
      fc.assert(
        fc.property(sortedArray, fc.array(value, { minLength: 6, maxLength: 6 }), fc.constantFrom('left' as const, 'right' as const), (a, vs, side) => {
          const got = np.searchsorted(np.array(a, 'float32'), np.reshape(np.array(vs, 'float32'), [2, 3]), side);
          expect(got.dtype).toBe('int32');
          expect(got.shape).toEqual([2, 3]);
          expect(values(got)).toEqual(vs.map((v) => searchsortedRef(a, v, side)));
          expect(values(np.searchsorted(np.array(a, 'float32'), np.array(vs[0]!, 'float32'), side))).toEqual([searchsortedRef(a, vs[0]!, side)]);
        }),
        { seed: FC_SEED, numRuns: 60 },
      );
      expect(values(np.searchsorted([1, 2, 2, 3], [2, 5, 0]))).toEqual([1, 4, 0]);
      expect(values(np.searchsorted(np.array([1, 2, 2, 3], 'int32'), [2, 5], 'right'))).toEqual([3, 4]);
    }));

  it('refuses a non-1-D sorted array and an unknown side', () =>
    onEachBackend(() => {
      expect(() => np.searchsorted(np.zeros([2, 2]), 1)).toThrow(/searchsorted: expected a 1-D sorted array a but got shape \[2,2\]/);
      expect(() => np.searchsorted([1, 2], 1, 'middle' as 'left')).toThrow(/searchsorted: side must be 'left' or 'right', got "middle"/);
    }));

  it('has a zero gradient (as JAX), and vmap and jit agree with the loop and eager', () =>
    onEachBackend(() => {
      const a = np.array([0, 1, 2, 3], 'float32');
      const v = np.array([0.5, 2.5], 'float32');
      const f = (s: NDArray, x: NDArray) => np.sum(np.multiply(np.astype(np.searchsorted(s, x), 'float32'), x));
      const [ga, gv] = grad(f, { argnums: [0, 1] })(a, v) as [NDArray, NDArray];
      expect(values(ga)).toEqual([0, 0, 0, 0]);
      expect(values(gv)).toEqual([1, 3]); // only the multiply's own derivative
      const vs = np.array([[0.5, 3.5], [-1, 1]], 'float32');
      expect(values(vmap((x: NDArray) => np.searchsorted(a, x, 'right'))(vs))).toEqual([1, 4, 0, 2]);
      const tables = np.array([[0, 1, 2], [5, 6, 7]], 'float32');
      expect(values(vmap((s: NDArray) => np.searchsorted(s, 5.5))(tables))).toEqual([3, 1]);
      const js = jit((s: NDArray, x: NDArray) => np.searchsorted(s, x, 'left'));
      expect(values(js(a, vs))).toEqual(values(np.searchsorted(a, vs, 'left')));
      js.clearCache();
    }));
});

describe('np.xlogy and np.xlog1py', () => {
  const cases = [
    ['xlogy', np.xlogy, Math.log, (x: number, y: number) => x / y] as const,
    ['xlog1py', np.xlog1py, Math.log1p, (x: number, y: number) => x / (1 + y)] as const,
  ];

  it('are x·log(y) and x·log1p(y), 0 where x = 0 (even where the log is −inf or NaN), float32', () =>
    onEachBackend(() => {
      for (const [name, f, g] of cases) {
        fc.assert(
          fc.property(fc.array(fc.tuple(fc.oneof(f32(-50, 50), fc.constant(0)), fc.oneof(f32(-0.99, 100), fc.constantFrom(0, -1, -2))), { minLength: 1, maxLength: 30 }), (pairs) => {
            const got = values(f(np.array(Float32Array.from(pairs.map((p) => p[0]))), np.array(Float32Array.from(pairs.map((p) => p[1])))));
            pairs.forEach(([x, y], i) => {
              const want = x === 0 ? 0 : fr(x) * g(fr(y));
              if (!Number.isFinite(want)) return void expect(got[i], `${name}(${x}, ${y})`).toBe(want);
              // float32 log is within a few ulp; the product adds one rounding.
              expect(Math.abs(got[i]! - want), `${name}(${x}, ${y}) = ${got[i]}, want ${want}`).toBeLessThanOrEqual(4e-7 * Math.abs(want) + 1e-6 * Math.abs(x) + 1e-36); // (+ subnormals, which backends may flush)
            });
          }),
          { seed: FC_SEED, numRuns: 30 },
        );
        expect(f(np.array([1], 'int32'), 2).dtype).toBe('float32');
        expect(values(f(0, np.array([NaN, -5], 'float32')))).toEqual([0, 0]);
      }
    }));

  it("have JAX's derivatives: g(y) in x (also at x = 0) and x·g′(y) in y (0 at x = 0); finite differences agree to second order", () =>
    onEachBackend(() => {
      for (const [name, f, g, dg] of cases) {
        const xs = [0, 0, 1.5, -2];
        const ys = [0.5, 3, 2, 0.25];
        const x = np.array(xs, 'float32');
        const y = np.array(ys, 'float32');
        const [dx, dy] = grad((a: NDArray, b: NDArray) => np.sum(f(a, b)), { argnums: [0, 1] })(x, y) as [NDArray, NDArray];
        values(dx).forEach((d, i) => expect(d, `${name} d/dx at ${i}`).toBeCloseTo(g(fr(ys[i]!)), 5));
        values(dy).forEach((d, i) => expect(d, `${name} d/dy at ${i}`).toBeCloseTo(dg(xs[i]!, fr(ys[i]!)), 5));
        checkGrads((a: NDArray, b: NDArray) => f(a, b), [np.array([1.5, -2, 0.7], 'float32'), np.array([2, 0.25, 1.3], 'float32')], { order: 2 });
        // vmap is the loop, jit is eager.
        const m = np.array([[0, 1], [2, 3]], 'float32');
        expect(values(vmap((r: NDArray) => f(r, 2))(m))).toEqual([...values(f(np.index(m, [0]), 2)), ...values(f(np.index(m, [1]), 2))]);
        const jf = jit(grad((a: NDArray, b: NDArray) => np.sum(f(a, b))));
        expect(values(jf(x, y))).toEqual(values(dx));
        jf.clearCache();
      }
    }));
});

describe('np.nansum, np.nanmean, np.nanmax, np.nanmin', () => {
  /** The reduction over `axis` (undefined: all) of a [r, c] array given row-major, skipping NaNs, as NumPy. */
  function nanReduce(data: number[], r: number, c: number, axis: 0 | 1 | undefined, op: 'sum' | 'mean' | 'max' | 'min'): number[] {
    const groups: number[][] = axis === undefined ? [data] : axis === 0 ? Array.from({ length: c }, (_, j) => Array.from({ length: r }, (_, i) => data[i * c + j]!)) : Array.from({ length: r }, (_, i) => data.slice(i * c, (i + 1) * c));
    return groups.map((gr) => {
      const kept = gr.filter((v) => !Number.isNaN(v));
      if (op === 'sum') return kept.reduce((s, v) => s + v, 0);
      if (op === 'mean') return kept.length ? kept.reduce((s, v) => s + v, 0) / kept.length : NaN;
      if (!kept.length) return NaN;
      return op === 'max' ? Math.max(...kept) : Math.min(...kept);
    });
  }
  const fns = { sum: np.nansum, mean: np.nanmean, max: np.nanmax, min: np.nanmin } as const;

  it('agree with skipping the NaNs, over all axes, each axis and with keepdims (all-NaN slices: sum 0, mean/max/min NaN)', () =>
    onEachBackend(() => {
      fc.assert(
        fc.property(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }), fc.array(fc.oneof(f32(-100, 100), fc.constant(NaN)), { minLength: 16, maxLength: 16 }), fc.constantFrom(0 as const, 1 as const, undefined), (r, c, pool, axis) => {
          const data = pool.slice(0, r * c).map(fr);
          const x = np.reshape(np.array(Float32Array.from(data)), [r, c]);
          for (const op of ['sum', 'mean', 'max', 'min'] as const) {
            const want = nanReduce(data, r, c, axis, op);
            const got = fns[op](x, axis);
            expect(got.shape).toEqual(axis === undefined ? [] : [axis === 0 ? c : r]);
            values(got).forEach((g, i) => {
              if (Number.isNaN(want[i]!)) return void expect(g, `nan${op}`).toBeNaN();
              expect(Math.abs(g - want[i]!), `nan${op} axis ${axis}: ${g} vs ${want[i]}`).toBeLessThanOrEqual(1e-5 * (Math.abs(want[i]!) + 100));
            });
            expect(fns[op](x, axis, true).shape).toEqual(axis === undefined ? [1, 1] : axis === 0 ? [1, c] : [r, 1]);
          }
        }),
        { seed: FC_SEED, numRuns: 40 },
      );
    }));

  it('take ints (nanmean gives float32) and refuse an empty axis for nanmax/nanmin by name', () =>
    onEachBackend(() => {
      const ints = np.array([[1, 2], [3, 5]], 'int32');
      expect(np.nansum(ints).dtype).toBe('int32');
      expect(values(np.nansum(ints, 0))).toEqual([4, 7]);
      expect(np.nanmean(ints).dtype).toBe('float32');
      expect(values(np.nanmean(ints))).toEqual([2.75]);
      expect(values(np.nanmax(ints, 1))).toEqual([2, 5]);
      expect(() => np.nanmax(np.zeros([0, 2]), 0)).toThrow(/nanmax: cannot reduce over the empty axis 0/);
      expect(() => np.nanmin(np.zeros([0]))).toThrow(/nanmin: cannot reduce over the empty axis 0/);
    }));

  it('have zero gradient at the NaNs, 1/count for nanmean, 1 at the extreme for nanmax/nanmin; finite differences, vmap and jit agree', () =>
    onEachBackend(() => {
      const x = np.array([1, NaN, 3, -2], 'float32');
      expect(values(grad((a: NDArray) => np.nansum(a))(x))).toEqual([1, 0, 1, 1]);
      expect(values(grad((a: NDArray) => np.nanmean(a))(x))).toEqual([1 / 3, 0, 1 / 3, 1 / 3].map(fr));
      expect(values(grad((a: NDArray) => np.nanmax(a))(x))).toEqual([0, 0, 1, 0]);
      expect(values(grad((a: NDArray) => np.nanmin(a))(x))).toEqual([0, 0, 0, 1]);
      const y = np.array([[0.5, -1.2, 2.1], [0.3, 1.7, -0.4]], 'float32');
      for (const f of [np.nansum, np.nanmean, np.nanmax, np.nanmin]) {
        checkGrads((a: NDArray) => f(a, 1), [y], { order: 2 });
        const m = np.array([[1, NaN, 3], [NaN, NaN, NaN]], 'float32');
        const loop = [0, 1].flatMap((i) => values(f(np.index(m, [i]))));
        const got = values(vmap((r: NDArray) => f(r))(m));
        got.forEach((g, i) => (Number.isNaN(loop[i]!) ? expect(g).toBeNaN() : expect(g).toBe(loop[i])));
        const jf = jit((a: NDArray) => f(a, 0));
        const eager = values(f(m, 0));
        values(jf(m)).forEach((g, i) => (Number.isNaN(eager[i]!) ? expect(g).toBeNaN() : expect(g).toBe(eager[i])));
        jf.clearCache();
      }
    }));
});

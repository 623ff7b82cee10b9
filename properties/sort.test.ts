// Sorting (np.sort, argsort, topK) and what is built on it (quantile, median), and cumprod: values
// against plain-JS references (a stable sort with NaN last, float64 products and NumPy's linear
// quantile), derivatives against closed forms and finite differences, and the transformations
// (vmap against a loop, jit against eager, grad of grad, vmap of grad) with no tensors left behind.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { grad, jit, jvp, np, vmap, type NDArray } from '../src/index.js';
import { checkGrads, Rng } from '../src/testing/index.js';
import { assertNoLeak, expectClose, FC_SEED, inScope, values } from './helpers.js';
import { expectTreeClose, loopVmap } from './loop_oracle.js';
import { selectionWork } from '../src/sort_kernels.js';

// ---------------------------------------------------------------------------------------------
// References and data

/** NumPy's order: ascending, NaN after everything, −0 equal to +0; ties left to the caller. */
function compareNumPy(a: number, b: number): number {
  const na = Number.isNaN(a), nb = Number.isNaN(b);
  if (na || nb) return na && nb ? 0 : na ? 1 : -1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** For each row along `axis` of the row-major `data`: the stable sorting permutation (descending flips the comparison, ties still in input order). */
function refArgsort(data: readonly number[], shape: readonly number[], axis: number, descending = false): number[] {
  const n = shape[axis]!;
  const inner = shape.slice(axis + 1).reduce((p, d) => p * d, 1);
  const outer = shape.slice(0, axis).reduce((p, d) => p * d, 1);
  const out = new Array<number>(data.length);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const at = (j: number) => o * n * inner + j * inner + i;
      const order = Array.from({ length: n }, (_, j) => j);
      order.sort((p, q) => (descending ? -1 : 1) * compareNumPy(data[at(p)]!, data[at(q)]!) || p - q);
      order.forEach((from, j) => (out[at(j)] = from));
    }
  }
  return out;
}

/** The values of `data` gathered along `axis` by the permutation `perm` (same layout). */
function gatherAlong(data: readonly number[], perm: readonly number[], shape: readonly number[], axis: number): number[] {
  const n = shape[axis]!;
  const inner = shape.slice(axis + 1).reduce((p, d) => p * d, 1);
  return perm.map((from, f) => {
    const j = Math.floor(f / inner) % n;
    return data[f + (from - j) * inner]!;
  });
}

/** Same values, NaN equal to NaN and −0 distinct from +0 (the sort moves values, it does not compute them). */
function expectSameBits(got: readonly number[], want: readonly number[], label: string): void {
  expect(got.length, label).toBe(want.length);
  got.forEach((g, i) => {
    if (!Object.is(g, want[i])) throw new Error(`${label}: entry ${i} is ${Object.is(g, -0) ? '-0' : g} but expected ${Object.is(want[i], -0) ? '-0' : want[i]} (got ${got.join(', ')}; want ${want.join(', ')})`);
  });
}

/** A float32 value, often a tie, a signed zero, an infinity or NaN. */
const arbValue = fc.oneof(
  fc.constantFrom(-1, 0, -0, 1, 2, NaN, Infinity, -Infinity),
  fc.integer({ min: -4, max: 4 }),
  fc.double({ min: -100, max: 100, noNaN: true }).map(Math.fround),
);

interface Case { shape: number[]; data: number[]; axis: number }

/** An array (rank 1–3, empty dimensions included) and an axis of it, negative half the time. */
const arbCase = (value: fc.Arbitrary<number> = arbValue, maxDim = 5): fc.Arbitrary<Case> =>
  fc.array(fc.integer({ min: 0, max: maxDim }), { minLength: 1, maxLength: 3 }).chain((shape) => {
    const size = shape.reduce((p, d) => p * d, 1);
    return fc.tuple(fc.array(value, { minLength: size, maxLength: size }), fc.integer({ min: 0, max: shape.length - 1 }), fc.boolean())
      .map(([data, axis, negative]) => ({ shape, data, axis: negative ? axis - shape.length : axis }));
  });

const norm = (axis: number, ndim: number) => (axis < 0 ? axis + ndim : axis);
const toArray = (c: Case, dtype: 'float32' | 'int32' = 'float32') => np.reshape(np.array(c.data, dtype), c.shape);

/** Distinct values, at least 0.5 apart (finite differences with steps of ~0.1 never reorder them), in random order. */
function separated(rng: Rng, shape: readonly number[]): NDArray {
  const size = shape.reduce((p, d) => p * d, 1);
  const vals = Array.from({ length: size }, (_, i) => (i - size / 2) * 0.5 + 0.1 * rng.uniform());
  for (let i = size - 1; i > 0; i--) {
    const j = Math.floor(rng.uniform() * (i + 1));
    [vals[i], vals[j]] = [vals[j]!, vals[i]!];
  }
  return np.reshape(np.array(vals, 'float32'), [...shape]);
}

// ---------------------------------------------------------------------------------------------

describe('sort and argsort: a stable sort with NaN last (NumPy and JAX)', () => {
  it('sort and argsort equal a stable JS sort along any axis, with ties, ±0, ±inf and NaN (float32)', () => {
    assertNoLeak(arbCase(), (c) => {
      const x = toArray(c);
      const ax = norm(c.axis, c.shape.length);
      const perm = refArgsort(c.data.map(Math.fround), c.shape, ax);
      expect(np.argsort(x, c.axis).dtype).toBe('int32');
      expectSameBits(values(np.argsort(x, c.axis)), perm, `argsort ${JSON.stringify(c)}`);
      expectSameBits(values(np.sort(x, c.axis)), gatherAlong(c.data.map(Math.fround), perm, c.shape, ax), `sort ${JSON.stringify(c)}`);
      expect(np.sort(x, c.axis).shape).toEqual(c.shape);
    }, 150);
  });

  it('int32 sorts exactly, extremes included, and keeps its dtype', () => {
    const arbInt = fc.oneof(fc.integer({ min: -3, max: 3 }), fc.constantFrom(-2147483648, 2147483647), fc.integer());
    assertNoLeak(arbCase(arbInt), (c) => {
      const x = toArray(c, 'int32');
      const perm = refArgsort(c.data, c.shape, norm(c.axis, c.shape.length));
      const sorted = np.sort(x, c.axis);
      expect(sorted.dtype).toBe('int32');
      expectSameBits(values(np.argsort(x, c.axis)), perm, 'argsort');
      expectSameBits(values(sorted), gatherAlong(c.data, perm, c.shape, norm(c.axis, c.shape.length)), 'sort');
    }, 80);
  });

  it('argsort is a permutation of each row, and takeAlongAxis(x, argsort(x)) is sort(x); ties keep their input order', () => {
    assertNoLeak(arbCase(fc.integer({ min: 0, max: 2 })), (c) => {
      const x = toArray(c);
      const ax = norm(c.axis, c.shape.length);
      const idx = np.argsort(x, c.axis);
      expectSameBits(values(np.takeAlongAxis(x, idx, c.axis)), values(np.sort(x, c.axis)), 'takeAlongAxis(x, argsort) = sort');
      const n = c.shape[ax]!, inner = c.shape.slice(ax + 1).reduce((p, d) => p * d, 1);
      const perm = values(idx), sorted = values(np.sort(x, c.axis));
      for (let f = 0; f < perm.length; f++) {
        if (Math.floor(f / inner) % n === 0) {
          const row = Array.from({ length: n }, (_, j) => perm[f + j * inner]!);
          expect([...row].sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, j) => j));
          // Stability: within a run of equal values the original positions increase.
          for (let j = 1; j < n; j++) if (sorted[f + j * inner] === sorted[f + (j - 1) * inner]) expect(row[j]!).toBeGreaterThan(row[j - 1]!);
        }
      }
    }, 100);
  });

  it('axis null sorts the flattened array; the default axis is the last; bools sort false first', () => {
    inScope(() => {
      const x = np.array([[3, 1], [NaN, -2]], 'float32');
      expectSameBits(values(np.sort(x, null)), [-2, 1, 3, NaN], 'sort(x, null)');
      expectSameBits(values(np.argsort(x, null)), [3, 1, 0, 2], 'argsort(x, null)');
      expectSameBits(values(np.sort(x)), [1, 3, -2, NaN], 'sort(x)');
      const b = np.sort(np.array([true, false, true, false]));
      expect(b.dtype).toBe('bool');
      expect(b.toArray()).toEqual([false, false, true, true]);
      expectSameBits(values(np.argsort(np.array([true, false, true, false]))), [1, 3, 0, 2], 'argsort of bools');
      // −0 and +0 are equal: they keep their input order.
      expectSameBits(values(np.sort(np.array([0, -0, 0, -0], 'float32'))), [0, -0, 0, -0], 'signed zeros');
    });
  });

  it('topK is the k largest along the last axis, largest first, ties in input order, NaN largest (jax.lax.top_k)', () => {
    const arb = arbCase().filter((c) => c.shape.length > 0).chain((c) => fc.integer({ min: 0, max: c.shape[c.shape.length - 1]! }).map((k) => ({ c, k })));
    assertNoLeak(arb, ({ c, k }) => {
      const ax = c.shape.length - 1, n = c.shape[ax]!;
      const data = c.data.map(Math.fround);
      const perm = refArgsort(data, c.shape, ax, true);
      const firstK = (xs: number[]) => xs.filter((_, f) => f % n < k);
      const [v, i] = np.topK(toArray(c), k);
      expect(v.shape).toEqual([...c.shape.slice(0, -1), k]);
      expectSameBits(values(i), firstK(perm), 'topK indices');
      expectSameBits(values(v), firstK(gatherAlong(data, perm, c.shape, ax)), 'topK values');
    }, 100);
  });
});

describe('topK on long rows: the kernel selects the k without sorting (k ≤ n/16), in the same order', () => {
  /** A row of n values: random from a few (many ties), ascending, descending or constant (the selection's worst and best cases). */
  const arbRow = (n: number) => fc.tuple(fc.constantFrom('random', 'ascending', 'descending', 'constant'), fc.array(arbValue, { minLength: n, maxLength: n }))
    .map(([kind, data]) => {
      if (kind === 'random') return data;
      const finite = data.map(Math.fround).filter((v) => !Number.isNaN(v));
      if (kind === 'constant') return data.map(() => finite[0] ?? NaN);
      finite.sort((a, b) => (kind === 'ascending' ? a - b : b - a));
      return [...finite, ...data.filter(Number.isNaN)];
    });
  const arbLong = fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 17, max: 1200 }), fc.boolean()).chain(([rows, n, small]) =>
    fc.tuple(fc.array(arbRow(n), { minLength: rows, maxLength: rows }), small ? fc.integer({ min: 0, max: Math.floor(n / 16) }) : fc.integer({ min: 0, max: n }))
      .map(([data, k]) => ({ shape: [rows, n], data: data.flat(), k })));

  it('float32 with ties, NaN, ±0 and ±inf, and int32 with its extremes: the first k of the stable descending order', () => {
    assertNoLeak(arbLong, ({ shape, data, k }) => {
      const n = shape[1]!;
      const f32 = data.map(Math.fround);
      const firstK = (xs: number[]) => xs.filter((_, f) => f % n < k);
      const perm = refArgsort(f32, shape, 1, true);
      const [v, i] = np.topK(np.reshape(np.array(f32, 'float32'), shape), k);
      expect(v.shape).toEqual([shape[0], k]);
      expectSameBits(values(i), firstK(perm), 'topK indices');
      expectSameBits(values(v), firstK(gatherAlong(f32, perm, shape, 1)), 'topK values');
      const ints = data.map((x) => (Number.isNaN(x) ? 2 ** 31 - 1 : x === Infinity ? 2 ** 31 - 1 : x === -Infinity ? -(2 ** 31) : Math.trunc(x) + 0)); // (+ 0: int32 has no −0)
      const intPerm = refArgsort(ints, shape, 1, true);
      const [vi, ii] = np.topK(np.reshape(np.array(ints, 'int32'), shape), k);
      expect(vi.dtype).toBe('int32');
      expectSameBits(values(ii), firstK(intPerm), 'int32 topK indices');
      expectSameBits(values(vi), firstK(gatherAlong(ints, intPerm, shape, 1)), 'int32 topK values');
    }, 150);
  });

  it('vmap and jit equal eager, and jvp/grad gather the tangent by the selected positions', () => {
    const arb = fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 40, max: 200 }), fc.integer({ min: 1, max: 2 }), fc.nat(1 << 20));
    assertNoLeak(arb, ([b, n, k, seed]) => {
      const rng = new Rng(seed);
      const xs = np.array(Array.from({ length: b * n }, () => Math.round(rng.normal() * 4) / 4), 'float32').reshape([b, n]);
      const f = (v: NDArray) => np.topK(v, k);
      expectTreeClose(vmap(f, { inAxes: 1, outAxes: 1 })(np.transpose(xs)), (() => { const [tv, ti] = f(xs); return [np.transpose(tv), np.transpose(ti)]; })(), { rtol: 0, atol: 0, label: 'vmap over axis 1' });
      const jitted = jit(f);
      expectTreeClose(jitted(xs), f(xs), { rtol: 0, atol: 0, label: 'jit' });
      jitted.clearCache();
      const t = np.array(Array.from({ length: b * n }, () => rng.normal()), 'float32').reshape([b, n]);
      const [, tangent] = jvp((v: NDArray) => np.topK(v, k)[0], [xs], [t]);
      expectTreeClose(tangent, np.takeAlongAxis(t, np.topK(xs, k)[1], 1), { rtol: 0, atol: 0, label: 'jvp' });
      const g = grad((v: NDArray) => np.sum(np.topK(v, k)[0]))(xs);
      // One on each selected entry (the positions are distinct), zero elsewhere.
      const gv = values(g);
      expect(gv.reduce((p, x) => p + x, 0)).toBe(b * k);
      values(np.topK(xs, k)[1]).forEach((j, f) => expect(gv[Math.floor(f / k) * n + j]).toBe(1));
    }, 20);
  });

  /**
   * A row built by McIlroy's adversary ("A killer adversary for quicksort") against the selection's
   * buffer and its median-of-three quickselect: the first k entries are the worst, each buffer's
   * new entries lie below all older ones (so they pass the threshold), and among themselves they
   * are fixed lazily so that every pivot is near the smallest. Returns keys: small = selected first.
   */
  function medianOfThreeKiller(n: number, k: number): Float64Array {
    const BIG = 4 * n, val = new Float64Array(n), gas = new Uint8Array(n).fill(1);
    let round = 0, solid = 0, cand = -1;
    const freeze = (x: number) => { gas[x] = 0; val[x] = -round * BIG + solid++; };
    const cmp = (x: number, y: number) => {
      if (gas[x] && gas[y] && val[x] === val[y]) freeze(x === cand ? x : y);
      if (gas[x]) cand = x; else if (gas[y]) cand = y;
      return val[x]! - val[y]! || x - y;
    };
    const size = 2 * k + 256, buf = new Int32Array(size);
    for (let j = 0; j < k; j++) { gas[j] = 0; val[j] = BIG + j; buf[j] = j; }
    let count = k, threshold = k - 1;
    for (let j = k; j < n; j++) {
      if (gas[j]) val[j] = -round * BIG + BIG / 2;
      if (cmp(j, threshold) >= 0) continue;
      buf[count++] = j;
      if (count < size) continue;
      let lo = 0, hi = count - 1;
      while (hi > lo) {
        let a = lo, b = (lo + hi) >>> 1;
        if (cmp(buf[b]!, buf[a]!) < 0) [a, b] = [b, a];
        if (cmp(buf[hi]!, buf[b]!) < 0) { b = hi; if (cmp(buf[b]!, buf[a]!) < 0) b = a; }
        const pivot = buf[b]!;
        let i = lo, m = hi;
        while (i <= m) {
          while (cmp(buf[i]!, pivot) < 0) i++;
          while (cmp(buf[m]!, pivot) > 0) m--;
          if (i <= m) { const t = buf[i]!; buf[i] = buf[m]!; buf[m] = t; i++; m--; }
        }
        if (k - 1 <= m) hi = m; else if (k - 1 >= i) lo = i; else break;
      }
      count = k;
      threshold = buf[k - 1]!;
      round++;
      solid = 0;
    }
    return val;
  }

  it('a row crafted against median-of-three quickselect costs O(n) partitioning, not O(n·k) (it was quadratic in k: 8× the sort at n = 100000)', () => {
    const n = 100000, k = n / 16;
    const key = medianOfThreeKiller(n, k);
    const order = Array.from(key, (_, i) => i).sort((a, b) => key[a]! - key[b]! || a - b);
    const row = new Float32Array(n);
    order.forEach((p, r) => (row[p] = -r)); // (the smallest key, the largest value)
    inScope(() => {
      const x = np.array(row, 'float32');
      const before = selectionWork.entries;
      const [v, i] = np.topK(x, k);
      // Counted, not timed: each buffer flush partitions at most 8 buffer lengths before it sorts
      // the rest, so the whole row costs about 16·n; the fixed-pivot quickselect took ~2·n·k here.
      expect(selectionWork.entries - before).toBeLessThan(40 * n);
      // The selection is still right: the k largest are −0, −1, …, in the order of `order`.
      expect(values(i)).toEqual(order.slice(0, k));
      expect(values(v)).toEqual(Array.from({ length: k }, (_, r) => -r));
    });
  });

});

describe('the derivative of sort gathers the tangent by the permutation (JAX)', () => {
  it('at ties too: ∇ Σ w·sort(x) puts w[j] on the input the stable order put in slot j, and jvp gathers t', () => {
    assertNoLeak(arbCase(fc.integer({ min: -2, max: 2 }), 4).filter((c) => c.data.length > 0), (c) => {
      const rng = new Rng(c.data.length);
      const w = Array.from({ length: c.data.length }, () => Math.round(rng.normal() * 8) / 8);
      const ax = norm(c.axis, c.shape.length);
      const perm = refArgsort(c.data, c.shape, ax);
      const wArr = np.reshape(np.array(w, 'float32'), c.shape);
      const g = values(grad((x: NDArray) => np.sum(np.multiply(np.sort(x, c.axis), wArr)))(toArray(c)));
      // slot f took the input at f + (perm[f] − j)·inner: that input's gradient is w[f].
      const want = new Array<number>(w.length).fill(0);
      const inner = c.shape.slice(ax + 1).reduce((p, d) => p * d, 1), n = c.shape[ax]!;
      perm.forEach((from, f) => (want[f + (from - (Math.floor(f / inner) % n)) * inner] = w[f]!));
      expectClose(np.array(g), want, { rtol: 0, atol: 0, label: 'grad at ties' });
      const [, tangent] = jvp((x: NDArray) => np.sort(x, c.axis), [toArray(c)], [wArr]);
      expectClose(np.array(values(tangent as NDArray)), gatherAlong(w, perm, c.shape, ax), { rtol: 0, atol: 0, label: 'jvp gathers t' });
    }, 60);
  });

  it('sort, topK and quantile pass checkGrads, forward and reverse, second order (grad of grad)', () => {
    const arb = fc.tuple(fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 3 }), fc.integer({ min: 0, max: 2 }), fc.nat(1 << 20));
    assertNoLeak(arb, ([shape, rawAxis, seed]) => {
      const x = separated(new Rng(seed), shape);
      const axis = rawAxis % shape.length;
      checkGrads((v: NDArray) => np.sort(v, axis), [x], { order: 2, seed });
      checkGrads((v: NDArray) => np.topK(v, Math.min(2, shape[shape.length - 1]!))[0], [x], { order: 1, seed });
      checkGrads((v: NDArray) => np.quantile(v, [0.3, 0.55], axis), [x], { order: 2, seed });
    }, 6);
  });

  it('vmap of grad equals a loop of grad, and jit of grad equals grad', () => {
    const arb = fc.tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 5 }), fc.nat(1 << 20));
    assertNoLeak(arb, ([b, n, seed]) => {
      const rng = new Rng(seed);
      const xs = separated(rng, [b, n]);
      const w = np.array(Array.from({ length: n }, () => rng.normal()), 'float32');
      const loss = (x: NDArray) => np.add(np.sum(np.multiply(np.sort(x), w)), np.multiply(np.median(x), 3));
      const g = grad(loss);
      expectTreeClose(vmap(g)(xs), loopVmap(g, [xs], 0, 0, b), { label: 'vmap(grad)' });
      const jitted = jit(g);
      expectTreeClose(jitted(np.take(xs, 0, 0)), g(np.take(xs, 0, 0)), { rtol: 1e-6, atol: 1e-7, label: 'jit(grad)' });
      jitted.clearCache(); // (its cache holds w, which it closed over)
    }, 15);
  });
});

describe('batching and jit', () => {
  it('vmap of sort, argsort, topK, cumprod and quantile equals a loop, on any batch axis and sort axis', () => {
    const arb = arbCase(fc.oneof(fc.integer({ min: -2, max: 2 }), fc.constantFrom(NaN, -0)), 4)
      .filter((c) => c.shape.length >= 2 && c.shape.every((d) => d > 0))
      .chain((c) => fc.integer({ min: 0, max: c.shape.length - 1 }).map((batchAxis) => ({ c, batchAxis })));
    assertNoLeak(arb, ({ c, batchAxis }) => {
      const x = toArray(c);
      const exampleRank = c.shape.length - 1;
      const axis = norm(c.axis, c.shape.length) % exampleRank; // an axis of one example
      const f = (v: NDArray) => ({
        sorted: np.sort(v, axis), order: np.argsort(v, -1 - axis) /* a negative axis */, top: np.topK(v, 1),
        prods: np.cumprod(v, axis), q: np.quantile(v, [0.25, 1], axis),
      });
      expectTreeClose(vmap(f, { inAxes: batchAxis })(x), loopVmap(f, [x], batchAxis, 0, c.shape[batchAxis]!), { label: `vmap ${JSON.stringify(c)} over ${batchAxis}` });
    }, 60);
  });

  it('jit equals eager', () => {
    assertNoLeak(arbCase(fc.oneof(fc.integer({ min: -3, max: 3 }), fc.constantFrom(NaN, 0.5))).filter((c) => c.data.length > 0), (c) => {
      const f = (v: NDArray) => [np.sort(v, c.axis), np.argsort(v, c.axis), np.topK(v, 1), np.cumprod(v, c.axis), np.median(v, c.axis), np.quantile(v, 0.9)];
      const jitted = jit(f);
      expectTreeClose(jitted(toArray(c)), f(toArray(c)), { rtol: 0, atol: 0, label: 'jit' });
      jitted.clearCache();
    }, 40);
  });
});

describe('cumprod', () => {
  /** Running products along `axis` in float64. */
  function refCumprod(data: readonly number[], shape: readonly number[], axis: number): number[] {
    const n = shape[axis]!, inner = shape.slice(axis + 1).reduce((p, d) => p * d, 1);
    return data.map((_, f) => {
      const j = Math.floor(f / inner) % n;
      let p = 1;
      for (let k = 0; k <= j; k++) p *= data[f + (k - j) * inner]!;
      return p;
    });
  }

  it('equals running float64 products along any axis (zeros, negatives; int32 exact); no axis flattens', () => {
    assertNoLeak(arbCase(fc.oneof(fc.constantFrom(0, -1, 2), fc.double({ min: -2, max: 2, noNaN: true }).map(Math.fround))), (c) => {
      const ax = norm(c.axis, c.shape.length);
      expectClose(np.cumprod(toArray(c), c.axis), { shape: c.shape, data: Float64Array.from(refCumprod(c.data.map(Math.fround), c.shape, ax)) }, { rtol: 1e-5, atol: 1e-6, label: 'cumprod' });
      expectClose(np.cumprod(toArray(c)), refCumprod(c.data.map(Math.fround), [c.data.length], 0), { rtol: 1e-5, atol: 1e-6, label: 'cumprod flattened' });
    }, 80);
    assertNoLeak(arbCase(fc.integer({ min: -2, max: 2 })), (c) => {
      const got = np.cumprod(toArray(c, 'int32'), c.axis);
      expect(got.dtype).toBe('int32');
      expectSameBits(values(got), refCumprod(c.data, c.shape, norm(c.axis, c.shape.length)).map((v) => v + 0), 'int32 cumprod');
    }, 40);
  });

  it('its gradient is right where x holds zeros: ∂/∂x_j Σ_i w_i Π_{k≤i} x_k = Σ_{i≥j} w_i Π_{k≤i, k≠j} x_k', () => {
    const arb = fc.array(fc.oneof(fc.constant(0), fc.integer({ min: -3, max: 3 }).map((v) => v / 2)), { minLength: 1, maxLength: 9 });
    assertNoLeak(arb, (x) => {
      const w = x.map((_, i) => ((i * 7) % 5) - 2);
      const want = x.map((_, j) => {
        let s = 0;
        for (let i = j; i < x.length; i++) {
          let p = w[i]!;
          for (let k = 0; k <= i; k++) if (k !== j) p *= x[k]!;
          s += p;
        }
        return s;
      });
      const g = grad((v: NDArray) => np.sum(np.multiply(np.cumprod(v), np.array(w, 'float32'))))(np.array(x, 'float32'));
      expectClose(g, want, { rtol: 1e-6, atol: 1e-6, label: `grad cumprod at ${x}` });
    }, 80);
  });

  it('passes checkGrads at second order, zeros included (cumprod is a polynomial)', () => {
    const arb = fc.tuple(fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 2 }), fc.nat(1 << 20));
    assertNoLeak(arb, ([shape, seed]) => {
      const rng = new Rng(seed);
      const size = shape.reduce((p, d) => p * d, 1);
      const x = np.reshape(np.array(Array.from({ length: size }, () => (rng.uniform() < 0.3 ? 0 : rng.normal())), 'float32'), shape);
      checkGrads((v: NDArray) => np.cumprod(v, -1), [x], { order: 2, seed });
    }, 10);
  });
});

describe('quantile and median: NumPy\'s linear method', () => {
  it("q's derivative is the slope towards the next sorted value also where q·(n − 1) is whole (it was 0 there: every odd median, q = 0)", () => {
    inScope(() => {
      const x = np.array([4, 0, 3, 1, 2, 10], 'float32'); // sorted: 0 1 2 3 4 10; n − 1 = 5
      const dq = (q: number) => grad((v: NDArray) => np.quantile(x, v))(np.array(q, 'float32')).item();
      expect(dq(0)).toBeCloseTo(5, 5); // (1 − 0)·5
      expect(dq(0.4)).toBeCloseTo(5, 5); // position 2: (3 − 2)·5
      expect(dq(0.8)).toBeCloseTo(30, 4); // position 4: (10 − 4)·5
      expect(dq(0.5)).toBeCloseTo(5, 5); // between 2 and 3
      // The value there is still the sorted entry itself, also next to an infinity.
      expect(np.quantile(np.array([1, Infinity, 2], 'float32'), 0.5).item()).toBe(2);
      expect(grad((v: NDArray) => np.quantile(np.array([1, Infinity, 2], 'float32'), v))(np.array(0.5, 'float32')).item()).toBe(0);
    });
  });

  /** NumPy's quantile (method 'linear') of one slice in float64. */
  function refQuantile(slice: readonly number[], q: number): number {
    if (slice.length === 0 || slice.some(Number.isNaN)) return NaN;
    const s = [...slice].sort((a, b) => a - b);
    const pos = q * (s.length - 1);
    const lo = Math.floor(pos), hi = Math.min(lo + 1, s.length - 1), t = pos - lo;
    const a = s[lo]!, b = s[hi]!;
    return t >= 0.5 ? b - (b - a) * (1 - t) : a + (b - a) * t;
  }

  it('equals NumPy\'s linear interpolation over one axis, several axes or all, for scalar and array q, keepdims too; NaN slices give NaN', () => {
    const arb = arbCase(fc.oneof(fc.integer({ min: -3, max: 3 }), fc.double({ min: -10, max: 10, noNaN: true }).map(Math.fround), fc.constant(NaN)), 4)
      .chain((c) => fc.tuple(
        fc.constant(c),
        fc.oneof(fc.constant<'all' | 'one' | 'two'>('all'), fc.constant<'all' | 'one' | 'two'>('one'), fc.constant<'all' | 'one' | 'two'>('two')),
        fc.oneof(fc.double({ min: 0, max: 1, noNaN: true }), fc.array(fc.constantFrom(0, 0.25, 0.5, 0.9, 1), { minLength: 1, maxLength: 3 })),
        fc.boolean(),
      ));
    assertNoLeak(arb, ([c, which, q, keepdims]) => {
      const ndim = c.shape.length;
      const axes = which === 'all' ? [...c.shape.keys()] : which === 'one' ? [norm(c.axis, ndim)] : [...new Set([norm(c.axis, ndim), 0])];
      const axisArg = which === 'all' ? undefined : which === 'one' ? c.axis : axes;
      const qs = typeof q === 'number' ? [q] : q;
      const kept = [...c.shape.keys()].filter((i) => !axes.includes(i));
      const keptSize = kept.reduce((p, i) => p * c.shape[i]!, 1);
      const strides = c.shape.map((_, i) => c.shape.slice(i + 1).reduce((p, d) => p * d, 1));
      const want: number[] = [];
      for (const qv of qs) {
        for (let r = 0; r < keptSize; r++) {
          // The slice at kept coordinates r: every flat index whose kept coordinates match.
          const slice = c.data.map(Math.fround).filter((_, f) => {
            let rest = r;
            return [...kept].reverse().every((i) => {
              const coord = Math.floor(f / strides[i]!) % c.shape[i]!;
              const ok = coord === rest % c.shape[i]!;
              rest = Math.floor(rest / c.shape[i]!);
              return ok;
            });
          });
          want.push(refQuantile(slice, Math.fround(qv)));
        }
      }
      const got = np.quantile(toArray(c), q, axisArg, keepdims);
      const reduced = keepdims ? c.shape.map((d, i) => (axes.includes(i) ? 1 : d)) : kept.map((i) => c.shape[i]!);
      expect(got.shape).toEqual([...(typeof q === 'number' ? [] : [q.length]), ...reduced]);
      expectClose(np.array(values(got)), want, { rtol: 1e-5, atol: 1e-5, label: `quantile ${JSON.stringify({ c, axisArg, q })}` });
      const med = np.median(toArray(c), axisArg, keepdims);
      expect(med.shape).toEqual(reduced);
      expectClose(np.array(values(med)), Array.from({ length: keptSize }, (_, r) => refMedianAt(r)), { rtol: 1e-5, atol: 1e-5, label: 'median' });

      function refMedianAt(r: number): number {
        const slice = c.data.map(Math.fround).filter((_, f) => {
          let rest = r;
          return [...kept].reverse().every((i) => {
            const ok = Math.floor(f / strides[i]!) % c.shape[i]! === rest % c.shape[i]!;
            rest = Math.floor(rest / c.shape[i]!);
            return ok;
          });
        });
        return refQuantile(slice, 0.5);
      }
    }, 100);
  });

  it('infinite values interpolate without inf − inf where the position is exact; the gradient in q is (n − 1)(above − below)', () => {
    inScope(() => {
      expect(np.median(np.array([1, Infinity, Infinity], 'float32')).item()).toBe(Infinity);
      expect(np.quantile(np.array([-Infinity, 1, 2], 'float32'), 0.5).item()).toBe(1);
      const x = np.array([4, 1, 9, 3, 7], 'float32'); // sorted 1 3 4 7 9
      // q = 0.6: position 2.4, between 4 and 7.
      expect(grad((q: NDArray) => np.quantile(x, q))(np.array(0.6, 'float32')).item()).toBeCloseTo(4 * (7 - 4), 4);
      const gx = values(grad((v: NDArray) => np.quantile(v, 0.6))(x));
      // Weights 0.6 on the 4 (input 0) and 0.4 on the 7 (input 4).
      [0.6, 0, 0, 0, 0.4].forEach((wv, i) => expect(gx[i]).toBeCloseTo(wv, 5));
    });
  });
});

describe('errors name the op, the shapes and what was expected', () => {
  it('bad axes, 0-d operands, k out of range and q outside [0, 1]', () => {
    inScope(() => {
      const x = np.zeros([2, 3]);
      expect(() => np.sort(x, 2)).toThrow(/sort: axis 2 is out of range for an array of rank 2/);
      expect(() => np.argsort(x, -3)).toThrow(/argsort: axis -3 is out of range/);
      expect(() => np.argsort(x, 1.5)).toThrow(/argsort: axis 1.5/);
      expect(() => np.sort(np.array(1, 'float32'))).toThrow(/sort: cannot sort a 0-d array along axis -1.*axis null/);
      expect(values(np.sort(np.array(1, 'float32'), null))).toEqual([1]);
      expect(() => np.topK(x, 4)).toThrow(/topK: k must be an integer in \[0, 3\] for shape \[2,3\]/);
      expect(() => np.topK(x, -1)).toThrow(/topK: k must be/);
      expect(() => np.topK(np.array(2, 'float32'), 1)).toThrow(/topK: expected an array of rank ≥ 1/);
      expect(() => np.cumprod(x, 2)).toThrow(/cumprod: axis 2 is out of range/);
      expect(() => np.quantile(x, 1.5)).toThrow(/quantile: quantile levels q must lie in \[0, 1\], got 1.5/);
      expect(() => np.quantile(x, [0.5, NaN])).toThrow(/quantile: quantile levels q must lie in \[0, 1\], got NaN/);
      expect(() => np.quantile(x, true)).toThrow(/quantile: expected numeric quantile levels/);
      expect(() => np.median(x, 3)).toThrow(/quantile: axis 3 is out of range/);
      expect(() => np.quantile(x, 0.5, [0, 0])).toThrow(/quantile: .*repeated|duplicate/i);
      // An empty slice has no quantile: NaN, as np.median (np.quantile raises; JAX's gather raises).
      expect(values(np.median(np.zeros([0, 2]), 0)).every(Number.isNaN)).toBe(true);
      for (const [got, shape] of [
        [np.quantile(np.zeros([3, 0]), [0.2, 0.7], 1), [2, 3]],
        [np.quantile(np.zeros([3, 0]), 0.5, 1, true), [3, 1]],
        [np.quantile(np.zeros([2, 0, 4]), [[0, 1]], [1, 2]), [1, 2, 2]],
        [np.quantile(np.zeros([0]), 0.3), []],
        [np.median(np.zeros([0, 3]), undefined, true), [1, 1]],
      ] as const) {
        expect(got.shape).toEqual(shape);
        expect(got.dtype).toBe('float32');
        expect(values(got).every(Number.isNaN)).toBe(true);
      }
    });
  });
});

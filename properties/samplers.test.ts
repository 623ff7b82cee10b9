// The samplers built on uniform draws (exponential, laplace, logistic, rademacher, truncatedNormal,
// choice), the Φ and Φ⁻¹ primitives truncatedNormal stands on, and iteration over an array's
// leading axis. Distributions are checked with fixed keys against float64 references: a
// Kolmogorov–Smirnov statistic against the CDF (closed forms; the truncated normal's CDF by
// numerical integration of the density, independent of np.ndtr), chi-square for choice (single
// draws and, without replacement, ordered pairs), a JS ranking of the Gumbel-perturbed
// log-probabilities for choice without replacement with p, moments at
// about 5 standard errors. Samplers are deterministic given a key, jit equals eager bit for bit and
// vmap over keys equals a loop over them.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as tf from '@tensorflow/tfjs-core';
import { NDArray, ValueError, dispose, grad, jit, jvp, np, random, scope, vmap } from '../src/index.js';
import { checkGrads } from '../src/testing/index.js';
import { FC_SEED, expectClose, extraPeakBytes, inScope, numTensors, values, ksStatistic } from './helpers.js';

const N = 20000;
const arbSeed = fc.integer({ min: 0, max: 2 ** 31 - 1 });

function mean(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}
function variance(xs: readonly number[]): number {
  const m = mean(xs);
  return xs.reduce((a, b) => a + (b - m) ** 2, 0) / xs.length;
}
/** P(√N·D > 1.95) ≈ 0.001 (Kolmogorov's limit distribution). */
const ksBound = (n: number) => 1.95 / Math.sqrt(n);
/** Upper critical value of chi-square with `dof` degrees of freedom at z = 5 (Wilson–Hilferty). */
function chiCritical(dof: number, z = 5): number {
  const c = 2 / (9 * dof);
  return dof * (1 - c + z * Math.sqrt(c)) ** 3;
}
const phi = (x: number) => Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI);
/** The CDF of the standard normal truncated to [lo, hi], by the trapezoid rule on a fine grid (independent of ndtr). */
function truncatedCdf(lo: number, hi: number): (x: number) => number {
  const a = Math.max(lo, -40), b = Math.min(hi, 40);
  const steps = 20000, h = (b - a) / steps;
  const cum = new Float64Array(steps + 1);
  for (let i = 1; i <= steps; i++) cum[i] = cum[i - 1]! + (h * (phi(a + (i - 1) * h) + phi(a + i * h))) / 2;
  return (x) => {
    const t = Math.min(steps, Math.max(0, (x - a) / h));
    const i = Math.min(steps - 1, Math.floor(t));
    return (cum[i]! + (t - i) * (cum[i + 1]! - cum[i]!)) / cum[steps]!;
  };
}

describe('np.ndtr and np.ndtri (Φ and Φ⁻¹)', () => {
  it('match published values, far into the lower tail, and invert each other', () => {
    inScope(() => {
      // Φ(−3), Φ(−10), Φ(−30), Φ(1.96) to 16 digits (Wolfram Alpha / scipy.special.ndtr).
      const xs = [-3, -10, -30, 1.96, 0];
      const want = [0.0013498980316300946, 7.619853024160527e-24, 4.906713927148187e-198 /* 0 in float32 */, 0.9750021048517795, 0.5];
      expectClose(np.ndtr(np.array(xs, 'float32')), want.map((v) => Math.fround(v)), { rtol: 1e-6, atol: 0 });
      expectClose(np.ndtri(np.array([0.0013498980316300946, 7.619853024160527e-24, 0.9750021048517795, 0.5, 0, 1], 'float32')), [-3, -10, 1.96, 0, -Infinity, Infinity], { rtol: 1e-5, atol: 1e-6 });
      expect(values(np.ndtri(np.array([-0.1, 1.5], 'float32'))).every(Number.isNaN)).toBe(true);
      fc.assert(
        fc.property(fc.double({ min: -12, max: 5, noNaN: true }), (x) => {
          const y = values(np.ndtri(np.ndtr(np.array([x], 'float32'))))[0]!;
          // One float32 rounding of Φ(x) moves Φ⁻¹ by 2⁻²⁴·Φ/φ, about 6e-8/|x| in the lower tail (more in the upper, where Φ ≈ 1).
          expect(Math.abs(y - Math.fround(x))).toBeLessThan(x > 0 ? 2e-7 / phi(x) : 1e-5);
        }),
        { seed: FC_SEED, numRuns: 40 },
      );
    });
  });

  it('derivatives: φ(x) and 1/φ(Φ⁻¹(p)), second order, under vmap and jit', () => {
    inScope(() => {
      const x = np.array([-2.5, -0.7, 0.3, 1.9], 'float32');
      expectClose(grad((v: NDArray) => np.sum(np.ndtr(v)))(x), values(x).map(phi), { rtol: 1e-5, atol: 1e-7 });
      const p = np.array([0.01, 0.3, 0.6, 0.97], 'float32');
      const y = values(np.ndtri(p));
      expectClose(grad((v: NDArray) => np.sum(np.ndtri(v)))(p), y.map((q) => 1 / phi(q)), { rtol: 1e-5 });
      checkGrads((v: NDArray) => np.ndtr(v), [x], { order: 2 });
      checkGrads((v: NDArray) => np.ndtri(v), [np.array([0.2, 0.45, 0.7], 'float32')], { order: 2 });
      const perElement = vmap(grad((v: NDArray) => np.ndtr(v)))(x);
      expectClose(perElement, values(x).map(phi), { rtol: 1e-5, atol: 1e-7 });
      expectClose(jit(grad((v: NDArray) => np.sum(np.ndtri(v))))(p), y.map((q) => 1 / phi(q)), { rtol: 1e-5 });
    });
  });
});

type Sampler = (k: NDArray, shape: number[]) => NDArray;
const SAMPLERS: [string, Sampler][] = [
  ['exponential', (k, s) => random.exponential(k, s)],
  ['laplace', (k, s) => random.laplace(k, s)],
  ['logistic', (k, s) => random.logistic(k, s)],
  ['rademacher', (k, s) => random.rademacher(k, s)],
  ['truncatedNormal', (k, s) => random.truncatedNormal(k, -0.5, 1.5, s)],
  ['truncatedNormal (far tail)', (k, s) => random.truncatedNormal(k, 7, 9, s)],
  ['choice', (k, s) => random.choice(k, 7, { shape: s })],
  ['choice with p', (k, s) => random.choice(k, 4, { shape: s, p: [0.1, 0, 0.6, 0.3] })],
  ['choice without replacement', (k, s) => random.choice(k, 40, { shape: s, replace: false })],
  ['choice without replacement with p', (k, s) => random.choice(k, np.arange(20), { shape: s, replace: false, p: np.linspace(0, 1, 20) })],
];

describe('every sampler: determinism, jit, vmap', () => {
  for (const [name, sample] of SAMPLERS) {
    it(`${name}: same key same values, other keys other values, jit == eager, vmap over keys == a loop`, () => {
      fc.assert(
        fc.property(arbSeed, arbSeed, fc.integer({ min: 2, max: 6 }), (s1, s2, n) =>
          inScope(() => {
            const k = random.key(s1);
            const x = sample(k, [n]);
            expect(x.shape).toEqual([n]);
            expect(values(sample(random.key(s1), [n]))).toEqual(values(x));
            if (s1 !== s2) expect(values(sample(random.key(s2), [n, 2]))).not.toEqual(values(sample(k, [n, 2])));
            expect(values(jit((kk: NDArray) => sample(kk, [n]))(k))).toEqual(values(x));
            const keys = random.split(k, 3);
            const batched = vmap((kk: NDArray) => sample(kk, [n]))(keys);
            expect(batched.shape).toEqual([3, n]);
            expect(values(batched)).toEqual([...keys].flatMap((kk) => values(sample(kk, [n]))));
          }),
        ),
        { seed: FC_SEED, numRuns: 4 },
      );
    });
  }
});

describe('distributions', () => {
  it('exponential, laplace and logistic follow their CDFs (KS), with their means and variances', () => {
    const cases: [string, Sampler, (x: number) => number, number, number][] = [
      ['exponential', (k, s) => random.exponential(k, s), (x) => (x < 0 ? 0 : 1 - Math.exp(-x)), 1, 1],
      ['laplace', (k, s) => random.laplace(k, s), (x) => (x < 0 ? Math.exp(x) / 2 : 1 - Math.exp(-x) / 2), 0, 2],
      ['logistic', (k, s) => random.logistic(k, s), (x) => 1 / (1 + Math.exp(-x)), 0, Math.PI ** 2 / 3],
    ];
    for (const [name, sample, cdf, m, v] of cases) {
      inScope(() => {
        const x = values(sample(random.key(17), [N]));
        expect(x.every(Number.isFinite), name).toBe(true);
        expect(ksStatistic(x, cdf), name).toBeLessThan(ksBound(N));
        expect(Math.abs(mean(x) - m), name).toBeLessThan(5 * Math.sqrt(v / N));
        expect(Math.abs(variance(x) / v - 1), name).toBeLessThan(0.1);
      });
    }
    inScope(() => expect(Math.min(...values(random.exponential(random.key(3), [N])))).toBeGreaterThanOrEqual(0));
  });

  it('rademacher: only −1 and 1, int32 by default (JAX: dtype=int) or float32, balanced', () => {
    inScope(() => {
      const r = random.rademacher(random.key(8), [N]);
      expect(r.dtype).toBe('int32');
      const v = values(r);
      expect(v.every((x) => x === 1 || x === -1)).toBe(true);
      expect(Math.abs(mean(v))).toBeLessThan(5 / Math.sqrt(N));
      const f = random.rademacher(random.key(8), [N], 'float32');
      expect(f.dtype).toBe('float32');
      expect(values(f)).toEqual(v);
      expect(() => random.rademacher(random.key(8), [2], 'bool')).toThrow(/random.rademacher: expected dtype 'int32' or 'float32', got 'bool'/);
    });
  });

  it('truncatedNormal: within the bounds, distributed as the truncated density (KS), also far in the tails', () => {
    const intervals: [number, number][] = [[-1, 2], [-0.1, 0.1], [7, 9], [-12, -11.5], [-Infinity, 0.5], [1, Infinity], [3, 3.001]];
    for (const [lo, hi] of intervals) {
      inScope(() => {
        const x = values(random.truncatedNormal(random.key(29), lo, hi, [N]));
        const label = `[${lo}, ${hi}]`;
        expect(Math.min(...x), label).toBeGreaterThanOrEqual(Math.fround(lo));
        expect(Math.max(...x), label).toBeLessThanOrEqual(Math.fround(hi));
        expect(ksStatistic(x, truncatedCdf(lo, hi)), label).toBeLessThan(ksBound(N));
      });
    }
  });

  it('truncatedNormal broadcasts array bounds against each other and shape', () => {
    inScope(() => {
      const lo = np.array([[-3], [-2]], 'float32');
      const hi = np.array([-1, 0, 8], 'float32');
      const x = random.truncatedNormal(random.key(4), lo, hi);
      expect(x.shape).toEqual([2, 3]);
      expect(values(x).every((v, i) => v >= [-3, -2][Math.floor(i / 3)]! && v <= [-1, 0, 8][i % 3]!)).toBe(true);
      expect(random.truncatedNormal(random.key(4), lo, hi, [5, 2, 3]).shape).toEqual([5, 2, 3]);
      const many = values(random.truncatedNormal(random.key(5), np.array([-2, 5], 'float32'), np.array([-1, 8], 'float32'), [N / 4, 2]));
      const col = (j: number) => many.filter((_, i) => i % 2 === j);
      expect(ksStatistic(col(0), truncatedCdf(-2, -1))).toBeLessThan(ksBound(N / 4));
      expect(ksStatistic(col(1), truncatedCdf(5, 8))).toBeLessThan(ksBound(N / 4));
    });
  });

  it('choice with replacement: uniform without p, proportional to p with it (chi-square), zero p never drawn', () => {
    inScope(() => {
      const n = 6;
      const u = values(random.choice(random.key(1), n, { shape: [N] }));
      const counts = Array.from({ length: n }, (_, c) => u.filter((v) => v === c).length);
      expect(counts.reduce((a, c) => a + (c - N / n) ** 2 / (N / n), 0)).toBeLessThan(chiCritical(n - 1));
      const p = [0.05, 0, 0.25, 0.5, 0, 0.2];
      const w = values(random.choice(random.key(2), n, { shape: [N], p: np.array(p.map((q) => q * 3), 'float32') })); // unnormalised
      const pc = p.map((_, c) => w.filter((v) => v === c).length);
      expect(pc[1]).toBe(0);
      expect(pc[4]).toBe(0);
      const chi = pc.reduce((a, c, i) => (p[i] === 0 ? a : a + (c - N * p[i]!) ** 2 / (N * p[i]!)), 0);
      expect(chi).toBeLessThan(chiCritical(3));
    });
  });

  it('choice without replacement: distinct entries; with p, the first draw follows p and zero p is never drawn', () => {
    fc.assert(
      fc.property(arbSeed, fc.integer({ min: 1, max: 12 }), fc.integer({ min: 0, max: 12 }), (s, n, k) =>
        inScope(() => {
          const draws = Math.min(n, k);
          const x = values(random.choice(random.key(s), n, { shape: [draws], replace: false }));
          expect(new Set(x).size).toBe(draws);
          expect(x.every((v) => v >= 0 && v < n)).toBe(true);
          const p = Array.from({ length: n }, (_, i) => (i % 3 === 1 ? 0 : i + 1));
          const positive = p.filter((q) => q > 0).length;
          const y = values(random.choice(random.key(s), n, { shape: [Math.min(draws, positive)], replace: false, p }));
          expect(new Set(y).size).toBe(y.length);
          expect(y.every((v) => p[v]! > 0)).toBe(true);
        }),
      ),
      { seed: FC_SEED, numRuns: 30 },
    );
    inScope(() => {
      const p = [0.1, 0.0, 0.2, 0.3, 0.4];
      const trials = 4000;
      const first = values(vmap((kk: NDArray) => random.choice(kk, 5, { shape: [2], replace: false, p: np.array(p, 'float32') }))(random.split(random.key(6), trials)));
      const counts = p.map((_, c) => first.filter((v, i) => i % 2 === 0 && v === c).length);
      expect(counts[1]).toBe(0);
      expect(counts.reduce((a, c, i) => (p[i] === 0 ? a : a + (c - trials * p[i]!) ** 2 / (trials * p[i]!)), 0)).toBeLessThan(chiCritical(3));
      // Sampling without replacement: the second draw of a pair is never the first.
      for (let t = 0; t < trials; t++) expect(first[2 * t]).not.toBe(first[2 * t + 1]);
    });
  });

  it("choice without replacement with p is JAX's Gumbel-top-k: the k largest gumbel(key, [n]) + log p, largest first, zero p last in input order", () => {
    let drawn = 0;
    fc.assert(
      fc.property(arbSeed, fc.array(fc.constantFrom(0, 0.5, 1, 2, 7), { minLength: 1, maxLength: 30 }).chain((p) => fc.tuple(fc.constant(p), fc.integer({ min: 0, max: p.length }))), (s, [p, draws]) =>
        inScope(() => {
          const n = p.length;
          const k = random.key(s);
          // Ranked in JS (a stable sort: equal scores, the −∞ of p = 0 among them, in input order).
          const scores = values(np.add(random.gumbel(k, [n]), np.log(np.array(p, 'float32'))));
          const want = scores.map((v, i) => [v, i] as const).sort((a, b) => (b[0] === a[0] ? a[1] - b[1] : b[0] - a[0])).slice(0, draws).map(([, i]) => i);
          // p as an array (traced or not, its values are not read), so zero-probability entries may fill the draws.
          const got = random.choice(k, n, { shape: [draws], replace: false, p: np.array(p, 'float32') });
          expect(got.dtype).toBe('int32');
          expect(values(got)).toEqual(want);
          drawn += draws;
        }),
      ),
      { seed: FC_SEED, numRuns: 40 },
    );
    expect(drawn).toBeGreaterThan(50); // the cases are not all empty draws
  });

  it('choice without replacement with p: ordered pairs follow P(i, j) = p_i·p_j / (1 − p_i) (chi-square)', () => {
    inScope(() => {
      const p = [0.1, 0.2, 0.3, 0.4];
      const trials = 6000;
      const pairs = values(vmap((kk: NDArray) => random.choice(kk, 4, { shape: [2], replace: false, p }))(random.split(random.key(13), trials)));
      let chi = 0;
      for (let i = 0; i < 4; i++) {
        for (let j = 0; j < 4; j++) {
          if (i === j) continue;
          const expected = (trials * p[i]! * p[j]!) / (1 - p[i]!);
          const count = pairs.filter((v, t) => t % 2 === 0 && v === i && pairs[t + 1] === j).length;
          chi += (count - expected) ** 2 / expected;
        }
      }
      expect(chi).toBeLessThan(chiCritical(11));
    });
  });

  it("choice with replacement and p is JAX's inverse CDF: the first index whose cumsum(p) reaches total·(1 − u), u = uniform(key, [draws])", () => {
    let drawn = 0;
    fc.assert(
      fc.property(arbSeed, fc.array(fc.constantFrom(0, 0.25, 1, 3, 1e-3), { minLength: 1, maxLength: 60 }).filter((p) => p.some((q) => q > 0)), fc.integer({ min: 0, max: 50 }), (s, p, draws) =>
        inScope(() => {
          const k = random.key(s);
          // The same float32 values JAX's construction compares: gradus's cumsum and the key's uniforms.
          const cumulative = values(np.cumsum(np.array(p, 'float32')));
          const total = cumulative[cumulative.length - 1]!;
          const want = values(random.uniform(k, [draws])).map((u) => {
            const r = Math.fround(total * Math.fround(1 - u));
            return cumulative.findIndex((c) => c >= r);
          });
          const got = random.choice(k, p.length, { shape: [draws], p });
          expect(got.dtype).toBe('int32');
          expect(values(got)).toEqual(want);
          expect(values(got).every((i) => p[i]! > 0)).toBe(true);
          drawn += draws;
        }),
      ),
      { seed: FC_SEED, numRuns: 40 },
    );
    expect(drawn).toBeGreaterThan(200);
    // vmap over p (the binary search gathers from a batched cumulative sum) equals a loop, and jit equals eager.
    inScope(() => {
      const ps = np.array([[0.1, 0, 0.9, 0], [0.5, 0.5, 0, 0], [0, 0, 0, 1]], 'float32');
      const f = (p: NDArray) => random.choice(random.key(3), 4, { shape: [50], p });
      const rows = [0, 1, 2].map((i) => values(f(ps.at(i))));
      expect(vmap(f)(ps).toArray()).toEqual(rows);
      const jitted = jit(f);
      expect(values(jitted(ps.at(1)))).toEqual(rows[1]);
      jitted.clearCache();
      expect(rows[2]!.every((i) => i === 3)).toBe(true);
    });
  });

  it('choice with p takes memory O(n + draws), not draws × n (with and without replacement)', async () => {
    const n = 20000, draws = 2000;
    const p = random.uniform(random.key(7), [n]);
    const k = random.key(8);
    // Comparing every draw with every entry held draws·n booleans (40 MB; its peak was 17 bytes a
    // pair) at once. The binary search holds O(n + draws·log₂ n) (about 1.8 MB here, eagerly).
    const compareAll = draws * n;
    const withReplacement = await extraPeakBytes(() => random.choice(k, n, { shape: [draws], p }));
    const without = await extraPeakBytes(() => random.choice(k, n, { shape: [draws], p, replace: false }));
    expect(withReplacement).toBeLessThan(compareAll / 10);
    expect(without).toBeLessThan(compareAll / 10);
    dispose([p, k]);
  });

  it('choice from an empty population: no draws give an empty result (p given too); any draw is a ValueError, as NumPy', () => {
    inScope(() => {
      const k = random.key(0);
      for (const [label, f] of [
        ['count', () => random.choice(k, 0, { shape: [0] })],
        ['count, p', () => random.choice(k, 0, { shape: [0], p: [] })],
        ['count, p array', () => random.choice(k, 0, { shape: [0, 2], p: np.zeros([0]) })],
        ['count, p, no replacement', () => random.choice(k, 0, { shape: [0], p: [], replace: false })],
      ] as const) {
        const r = f();
        expect(r.dtype, label).toBe('int32');
        expect(r.size, label).toBe(0);
      }
      const a = random.choice(k, np.zeros([2, 0, 3]), { shape: [0], p: np.zeros([0]), axis: 1 });
      expect(a.shape).toEqual([2, 0, 3]);
      expect(a.dtype).toBe('float32');
      for (const [label, f] of [
        ['count', () => random.choice(k, 0, { shape: [1] })],
        ['count, p', () => random.choice(k, 0, { shape: [2], p: [] })],
        ['array, p', () => random.choice(k, np.zeros([0]), { shape: [2, 1], p: np.zeros([0]) })],
        ['no replacement', () => random.choice(k, 0, { shape: [1], replace: false })],
      ] as const) {
        expect(f, label).toThrow(ValueError);
        expect(f, label).toThrow(/^random\.choice: a cannot be empty unless no samples are taken \(asked for \d samples, shape \[[\d,]+\], from a population of size 0\)$/);
      }
    });
  });

  it('choice from an array along an axis: shape a.shape[:axis] + shape + a.shape[axis+1:], entries of a', () => {
    inScope(() => {
      const a = np.reshape(np.arange(12), [3, 4]);
      const x = random.choice(random.key(3), a, { shape: [2, 5], axis: 1 });
      expect(x.shape).toEqual([3, 2, 5]);
      const rows = x.toArray() as number[][][];
      // Every picked column is a column of a: row r's entry is 4r + c for the same c in every row.
      for (let i = 0; i < 2; i++) for (let j = 0; j < 5; j++) {
        const c = rows[0]![i]![j]!;
        expect([0, 1, 2].map((r) => rows[r]![i]![j])).toEqual([c, 4 + c, 8 + c]);
      }
      expect(random.choice(random.key(3), a, { shape: [2] }).shape).toEqual([2, 4]);
      expect(random.choice(random.key(3), a, { shape: [3], replace: false, axis: -2 }).shape).toEqual([3, 4]);
      expect(random.choice(random.key(3), a).shape).toEqual([4]);
    });
  });
});

describe('gradients', () => {
  it('truncatedNormal is differentiable in its bounds (pathwise, as JAX), to second order, under vmap and jit', () => {
    inScope(() => {
      const k = random.key(12);
      const f = (lo: NDArray, hi: NDArray) => random.truncatedNormal(k, lo, hi, [6]);
      checkGrads(f, [np.array(-0.4, 'float32'), np.array(1.1, 'float32')], { order: 2, rtol: 2e-2 });
      checkGrads(f, [np.array(1.5, 'float32'), np.array(2.5, 'float32')], { order: 1, rtol: 2e-2 });
      // Closed form: x = Φ⁻¹(Φ(l) + v(Φ(h) − Φ(l))) gives ∂x/∂l = (1 − v)φ(l)/φ(x), ∂x/∂h = vφ(h)/φ(x).
      const [lo, hi] = [-0.4, 1.1];
      const x = values(f(np.array(lo, 'float32'), np.array(hi, 'float32')));
      const cdf = (t: number) => 0.5 * (1 + erfSeries(t / Math.SQRT2));
      const v = x.map((t) => (cdf(t) - cdf(lo)) / (cdf(hi) - cdf(lo)));
      const [gl, gh] = grad((l: NDArray, h: NDArray) => np.sum(f(l, h)), { argnums: [0, 1] })(np.array(lo, 'float32'), np.array(hi, 'float32')) as unknown as NDArray[];
      expectClose(gl!, x.reduce((a, t, i) => a + ((1 - v[i]!) * phi(lo)) / phi(t), 0), { rtol: 1e-3 });
      expectClose(gh!, x.reduce((a, t, i) => a + (v[i]! * phi(hi)) / phi(t), 0), { rtol: 1e-3 });
      const perBound = vmap(grad((l: NDArray) => np.sum(f(l, np.array(hi, 'float32')))))(np.array([lo, lo], 'float32'));
      expectClose(perBound, [values(gl!)[0]!, values(gl!)[0]!], { rtol: 1e-5 });
      expectClose(jit(grad((l: NDArray) => np.sum(f(l, np.array(hi, 'float32')))))(np.array(lo, 'float32')), gl!, { rtol: 1e-5 });
    });
  });

  it('truncatedNormal bound gradients stay finite and right far in the tails (φ(l)/φ(x) overflowed apart: inf and NaN from 13 on)', () => {
    inScope(() => {
      const k = random.key(3);
      for (const [lo, hi] of [[13, 14], [13.5, 14.5], [-14.5, -13.5], [-3, 13]] as const) {
        const meanOf = (l: number, h: number) => random.truncatedNormal(k, np.array(l, 'float32'), np.array(h, 'float32'), [400]).mean().item() as number;
        const [gl, gh] = grad((l: NDArray, h: NDArray) => random.truncatedNormal(k, l, h, [400]).mean(), { argnums: [0, 1] })(np.array(lo, 'float32'), np.array(hi, 'float32')) as unknown as NDArray[];
        const step = 0.05;
        const fdLo = (meanOf(lo + step, hi) - meanOf(lo - step, hi)) / (2 * step);
        const dLo = gl!.item() as number;
        expect(Number.isFinite(dLo) && Number.isFinite(gh!.item() as number), `[${lo}, ${hi}]`).toBe(true);
        expect(Math.abs(dLo - fdLo), `d/dlo on [${lo}, ${hi}]`).toBeLessThan(0.02 + 0.02 * Math.abs(fdLo));
        expect(gh!.item()).toBeGreaterThanOrEqual(0);
      }
    });
  });

  it('choice is differentiable in the population: the gradient counts how often each entry was drawn', () => {
    inScope(() => {
      const k = random.key(7);
      const a = np.array([1, 2, 3, 4, 5], 'float32');
      const picks = values(random.choice(k, 5, { shape: [30] }));
      const g = grad((x: NDArray) => np.sum(random.choice(k, x, { shape: [30] })))(a);
      expectClose(g, [0, 1, 2, 3, 4].map((c) => picks.filter((v) => v === c).length), { rtol: 0, atol: 0 });
      const [, t] = jvp((x: NDArray) => np.sum(random.choice(k, x, { shape: [30] })), [a], [np.onesLike(a)]);
      expectClose(t, 30, { rtol: 0, atol: 0 });
    });
  });
});

/** erf by its Taylor series (a test oracle, |x| ≲ 3). */
function erfSeries(x: number): number {
  let term = x, sum = x;
  for (let n = 1; n < 200; n++) {
    term *= (-x * x) / n;
    sum += term / (2 * n + 1);
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}

describe('bad arguments are errors naming the sampler', () => {
  it('keys, shapes, bounds, p, axes, sample sizes, options', () => {
    inScope(() => {
      const k = random.key(0);
      for (const [name, f] of [
        ['exponential', () => random.exponential(np.zeros([2]), [2])],
        ['laplace', () => random.laplace(np.zeros([2]), [2])],
        ['logistic', () => random.logistic(np.zeros([2]), [2])],
        ['rademacher', () => random.rademacher(np.zeros([2]), [2])],
        ['truncatedNormal', () => random.truncatedNormal(np.zeros([2]), 0, 1, [2])],
        ['choice', () => random.choice(np.zeros([2]), 3)],
      ] as const) expect(f, name).toThrow(new RegExp(`random\\.${name}: expected a key .* got f32\\[2\\]`));
      expect(() => random.exponential(k, [2, -1])).toThrow(/random.exponential/);
      expect(() => random.truncatedNormal(k, 1, 1, [2])).toThrow(/random.truncatedNormal: expected lower < upper, got \[1, 1\]/);
      expect(() => random.truncatedNormal(k, NaN, 1)).toThrow(/random.truncatedNormal: expected lower < upper/);
      expect(() => random.truncatedNormal(k, np.zeros([3]), 1, [1])).toThrow(/random.truncatedNormal: bounds of shapes \[3\] and \[\] do not broadcast to shape \[1\]/);
      expect(() => random.truncatedNormal(k, np.zeros([3]), 1, [2])).toThrow(/random.truncatedNormal: shapes \[3\] and \[2\] cannot be broadcast/);
      expect(() => random.truncatedNormal(k, np.zeros([3]), np.ones([2]))).toThrow(/random.truncatedNormal/);
      // Value problems are ValueErrors (NumPy's and JAX's class), not shape errors.
      expect(() => random.choice(k, 3, { shape: [4], replace: false })).toThrow(ValueError);
      expect(() => random.randint(k, [2], 3, 3)).toThrow(ValueError);
      expect(() => random.randint(k, [2], -(2 ** 31), 2 ** 31)).toThrow(ValueError);
      expect(() => random.permutation(k, -1)).toThrow(ValueError);
      expect(() => random.foldIn(k, 2 ** 40)).toThrow(ValueError);
      expect(() => random.choice(k, 3, { shape: [4], replace: false })).toThrow(/random.choice: cannot take a larger sample \(size 4, shape \[4\]\) than the population \(size 3\) when replace is false/);
      expect(() => random.choice(k, 3, { p: [0.5, 0.5] })).toThrow(/random.choice: p of shape \[2\] must have shape \[3\]/);
      expect(() => random.choice(k, 3, { p: [0.5, -0.1, 0.6] })).toThrow(/random.choice: expected finite probabilities p ≥ 0, got p\[1\] = -0.1/);
      expect(() => random.choice(k, 3, { p: [0, 0, 0] })).toThrow(/random.choice: the probabilities p are all 0/);
      expect(() => random.choice(k, 3, { shape: [2], replace: false, p: [0, 0, 1] })).toThrow(/random.choice: cannot take 2 samples without replacement when only 1 of the probabilities p are positive/);
      expect(() => random.choice(k, np.zeros([2, 3]), { axis: 2 })).toThrow(/random.choice: axis 2 is out of range for an array of shape \[2,3\]/);
      expect(() => random.choice(k, np.array(3))).toThrow(/random.choice: expected a count \(a JS number\) or an array/);
      expect(() => random.choice(k, 0, { shape: [1] })).toThrow(/random.choice: a cannot be empty unless no samples are taken/);
      expect(() => random.choice(k, 3, { size: 2 } as never)).toThrow(/random.choice: unknown option 'size'/);
      // JAX's positional shape (random.choice(key, a, shape)) is named as such, not as "unknown option '0'".
      expect(() => random.choice(k, 3, [2] as never)).toThrow(/random.choice: the third argument is an options object \{ shape, replace, p, axis \}, got \[2\]; pass the shape as random.choice\(key, a, \{ shape: \[2\] \}\)/);
      expect(() => random.choice(k, 3, 2 as never)).toThrow(/random.choice: the third argument is an options object .* got 2;/);
      // keys[i] on split's [n, 2] array is undefined in JS: the sampler says so and how to pick a key.
      const keys = random.split(k, 3) as unknown as NDArray[];
      expect(() => random.normal(keys[0]!, [2])).toThrow(/random.normal: expected a key .* but got undefined; to pick keys from random.split\(key, n\), destructure them .* or use keys.at\(i\)/);
      expect(() => random.split(undefined as never)).toThrow(/random.split: expected a key .* got undefined/);
      expect(() => random.key(1.5)).toThrow(/^random.key: seed must be an integer .*got 1.5$/);
      expect(random.choice(k, 0, { shape: [0] }).shape).toEqual([0]);
    });
  });
});

describe('iterating over the leading axis', () => {
  it('yields x.at(i) for each i, on any rank ≥ 1; a 0-d array is a TypeError', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 3 }), (shape) =>
        inScope(() => {
          const x = np.reshape(np.arange(shape.reduce((a, b) => a * b, 1)), shape);
          const rows = [...x];
          expect(rows.length).toBe(shape[0]);
          rows.forEach((r, i) => {
            expect(r.shape).toEqual(shape.slice(1));
            expect(values(r)).toEqual(values(x.at(i)));
          });
        }),
      ),
      { seed: FC_SEED, numRuns: 20 },
    );
    inScope(() => {
      expect(() => [...np.array(3)]).toThrow(TypeError);
      expect(() => {
        for (const _ of np.array(3)) void _;
      }).toThrow(/iteration over a 0-d array \(i32\[\]\)/);
      expect([...np.zeros([0, 2])]).toEqual([]);
    });
  });

  it('const [k1, k2] = random.split(key) gives split(key)[0] and [1]', () => {
    inScope(() => {
      const key = random.key(5);
      const [k1, k2] = random.split(key);
      expect(values(k1!)).toEqual(values(random.split(key).at(0)));
      expect(values(k2!)).toEqual(values(random.split(key).at(1)));
    });
  });

  it('works on tracers: under jit, vmap and grad (their shapes are known)', () => {
    inScope(() => {
      const x = np.array([[1, 2, 3], [4, 5, 6]], 'float32');
      const rowSums = (m: NDArray) => np.stack([...m].map((r) => np.sum(r)));
      expectClose(jit(rowSums)(x), [6, 15]);
      expectClose(vmap((m: NDArray) => { const [a, b] = m; return np.subtract(b!, a!); })(np.reshape(np.arange(12, undefined, undefined, 'float32'), [3, 2, 2])), [[2, 2], [2, 2], [2, 2]]);
      const weighted = (m: NDArray) => {
        let s = np.array(0, 'float32');
        let i = 1;
        for (const r of m) s = np.add(s, np.multiply(i++, np.sum(np.square(r))));
        return s;
      };
      expectClose(grad(weighted)(x), [[2, 4, 6], [16, 20, 24]]);
      const sampleTwo = jit((key: NDArray) => { const [a, b] = random.split(key); return np.stack([random.normal(a!, []), random.normal(b!, [])]); });
      const [a, b] = random.split(random.key(9));
      expectClose(sampleTwo(random.key(9)), [values(random.normal(a!, []))[0]!, values(random.normal(b!, []))[0]!], { rtol: 0, atol: 0 });
    });
  });

  it('memory: rows are made only as asked, each owns its tensor, and a scope keeps just the two results', () => {
    const before = numTensors();
    const kept = scope(() => {
      const [k1, k2] = random.split(random.key(1), 1000);
      return [k1!, k2!];
    });
    expect(numTensors() - before).toBe(2);
    expect(kept.map((r) => r.shape)).toEqual([[2], [2]]);
    dispose(kept);
    expect(numTensors()).toBe(before);

    // At the top level the parent is the caller's, as every returned array; destructuring adds only the rows it takes.
    const key = random.key(2);
    const keys = random.split(key, 50);
    dispose(key);
    const afterSplit = numTensors();
    const [a, b] = keys;
    expect(numTensors() - afterSplit).toBe(2);
    dispose(keys);
    expect(values(a!)).toHaveLength(2); // a row outlives its parent
    dispose([a, b]);
    expect(numTensors()).toBe(before);
    expect(tf.memory().numTensors).toBe(before);
  });
});

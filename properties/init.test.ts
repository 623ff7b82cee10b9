// Initialisers (algorithms.md §7c): the variance-scaling families have the variances of their
// formulas (fans as TF/JAX count them, conv receptive fields included), a variance-1/m matrix
// nearly preserves norms (E‖WᵀW − I‖²_F = n(n + 1)/m), and `orthogonal` gives the unique Q with
// diag(R) > 0 of the Gaussian it draws, eagerly, under jit and under vmap over keys (an ensemble's
// parameters from one vmapped init).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as init from '../models/init.js';
import * as onLstm from '../models/on_lstm.js';
import { dispose, jit, np, random, tree, vmap, type NDArray } from '../src/index.js';

const FC = { seed: 42 };

/** Rows of a [m, n] array as float64 numbers. */
function rowsOf(a: NDArray): number[][] {
  const [m, n] = a.shape as [number, number];
  const d = a.dataSync();
  return Array.from({ length: m }, (_, i) => Array.from({ length: n }, (_, j) => d[i * n + j]!));
}

/** AᵀB in float64 for row lists A [m, p], B [m, q]. */
function atb(a: number[][], b: number[][]): number[][] {
  const p = a[0]!.length, q = b[0]!.length;
  return Array.from({ length: p }, (_, i) => Array.from({ length: q }, (_, j) => a.reduce((s, row, k) => s + row[i]! * b[k]![j]!, 0)));
}

describe('orthogonal (§7c)', () => {
  const shapes = fc.oneof(
    fc.tuple(fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 7 })).map(([a, b]) => [a, b]),
    fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 6 })).map(([a, b, c]) => [a, b, c]),
  );

  it('is the Q of the Gaussian it draws with diag(R) > 0: QᵀQ = gain²·I and QᵀG upper triangular with a positive diagonal (tall), transposed for wide shapes', () => {
    fc.assert(
      fc.property(shapes, fc.integer({ min: 0, max: 1000 }), fc.constantFrom(1, 0.5, 2), (shape, seed, gain) => {
        const key = random.key(seed);
        const w = init.orthogonal(gain)(key, shape);
        expect(w.shape).toEqual(shape);
        const cols = shape[shape.length - 1]!;
        const rows = shape.slice(0, -1).reduce((a, b) => a * b, 1);
        const tall = rows >= cols;
        // The matrix whose columns are orthonormal, [m, n] with m ≥ n, and the Gaussian it came from.
        const flat = w.reshape(rows, cols);
        const q = rowsOf(tall ? flat : flat.T).map((r) => r.map((v) => v / gain));
        const g = rowsOf(random.normal(key, tall ? [rows, cols] : [cols, rows]));
        const n = q[0]!.length;
        const qtq = atb(q, q);
        const r = atb(q, g);
        for (let i = 0; i < n; i++) {
          for (let j = 0; j < n; j++) {
            expect(Math.abs(qtq[i]![j]! - (i === j ? 1 : 0))).toBeLessThan(1e-5);
            const scale = Math.max(1, Math.abs(r[j]![j]!));
            if (i > j) expect(Math.abs(r[i]![j]!) / scale).toBeLessThan(1e-4);
          }
          expect(r[i]![i]!).toBeGreaterThan(0);
        }
      }),
      { ...FC, numRuns: 40 },
    );
  });

  it('is Haar-distributed (uniform over the orthogonal group / Stiefel manifold): its moments over 2000 keys are the closed-form ones', () => {
    // Closed forms for Haar Q (n×n): E[Q_ij] = 0, E[Q_ij²] = 1/n, E[tr Q] = 0, E[(tr Q)²] = 1,
    // P(det Q > 0) = 1/2 (Diaconis–Shahshahani); for the m×n Stiefel factor (tall, or the transpose
    // of a wide one) E[Q_ij] = 0 and E[Q_ij²] = 1/m. The Q of LAPACK's signs without the diag(R) > 0
    // fix is orthogonal but not Haar (its Q[0][0] = −|g₀₀|/‖g₀‖ < 0 always), which the factor property
    // above also sees; these catch what it cannot, a Gaussian that is not i.i.d. N(0, 1).
    const draws = 2000;
    const keys = random.split(random.key(2026), draws);
    for (const shape of [[3, 3], [4, 2], [2, 4], [2, 1, 3]]) {
      const w = vmap((k: NDArray) => init.orthogonal()(k, shape))(keys);
      const d = w.dataSync();
      dispose(w);
      const per = shape.reduce((a, b) => a * b, 1);
      const big = Math.max(per / shape[shape.length - 1]!, shape[shape.length - 1]!);
      const mean = new Float64Array(per), square = new Float64Array(per);
      for (let s = 0; s < draws; s++) for (let e = 0; e < per; e++) { const v = d[s * per + e]!; mean[e]! += v / draws; square[e]! += (v * v) / draws; }
      // Standard errors: Q_ij has variance 1/big; Q_ij² has variance below 2/big².
      mean.forEach((m, e) => expect(Math.abs(m), `${shape} E[Q] entry ${e}`).toBeLessThan(5 * Math.sqrt(1 / big / draws)));
      square.forEach((m, e) => expect(Math.abs(m - 1 / big), `${shape} E[Q²] entry ${e}`).toBeLessThan(5 * Math.sqrt(2 / draws) / big));
      if (shape.join() !== '3,3') continue;
      let trace = 0, trace2 = 0, positive = 0;
      for (let s = 0; s < draws; s++) {
        const q = Array.from(d.subarray(s * 9, s * 9 + 9));
        const t = q[0]! + q[4]! + q[8]!;
        trace += t / draws;
        trace2 += (t * t) / draws;
        const det = q[0]! * (q[4]! * q[8]! - q[5]! * q[7]!) - q[1]! * (q[3]! * q[8]! - q[5]! * q[6]!) + q[2]! * (q[3]! * q[7]! - q[4]! * q[6]!);
        if (det > 0) positive++;
      }
      // tr Q has variance 1 and (tr Q)² variance below 3 for Haar O(3).
      expect(Math.abs(trace), 'E[tr Q]').toBeLessThan(5 * Math.sqrt(1 / draws));
      expect(Math.abs(trace2 - 1), 'E[(tr Q)²]').toBeLessThan(5 * Math.sqrt(3 / draws));
      expect(Math.abs(positive / draws - 0.5), 'P(det Q > 0)').toBeLessThan(5 * Math.sqrt(0.25 / draws));
    }
    dispose(keys);
  });

  it('a bad shape is a ShapeError naming orthogonal and the shape asked for (not the transposed matrix random.normal draws)', () => {
    const key = random.key(0);
    expect(() => init.orthogonal()(key, [4])).toThrow(/orthogonal: expected a shape of rank >= 2, got \[4\]/);
    expect(() => init.orthogonal()(key, [2.5, 3])).toThrow(/^orthogonal: invalid shape \[2\.5,3\]; expected non-negative integers$/);
    expect(() => init.orthogonal()(key, [-2, 3])).toThrow(/^orthogonal: invalid shape \[-2,3\]/);
    expect(() => jit((k: NDArray) => init.orthogonal()(k, [3, Number.NaN]))(key)).toThrow(/^orthogonal: invalid shape \[3,NaN\]/);
    // Zero-size shapes are valid: an empty array of that shape.
    for (const shape of [[0, 3], [3, 0], [2, 0, 3]]) expect(init.orthogonal()(key, shape).shape).toEqual(shape);
  });

  it('a bad shape given to a variance-scaling initialiser or normal(std) is a ShapeError naming that initialiser and the shape asked for', () => {
    const key = random.key(0);
    const named: [string, init.Initializer][] = [
      ['lecunNormal', init.lecunNormal], ['lecunUniform', init.lecunUniform], ['glorotNormal', init.glorotNormal],
      ['glorotUniform', init.glorotUniform], ['heNormal', init.heNormal], ['heUniform', init.heUniform],
      ["varianceScaling(0.5, 'fanOut', 'uniform')", init.varianceScaling(0.5, 'fanOut', 'uniform')], ['normal(0.1)', init.normal(0.1)],
    ];
    const bad = fc.oneof(fc.integer({ min: -5, max: -1 }), fc.constantFrom(2.5, Number.NaN, 0.1));
    const escape = (t: string) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 }), bad, fc.nat(3), fc.nat(named.length - 1), (good, b, at, which) => {
        const shape = [...good];
        shape.splice(Math.min(at, shape.length), 0, b);
        const [name, initializer] = named[which]!;
        const expected = new RegExp(`^${escape(name)}: invalid shape \\[${escape(shape.join(','))}\\]; expected non-negative integers$`);
        expect(() => initializer(key, shape)).toThrow(expected);
        expect(() => jit((k: NDArray) => initializer(k, shape))(key)).toThrow(expected);
      }),
      { ...FC, numRuns: 40 },
    );
    // Zero-size shapes stay valid.
    for (const shape of [[0, 3], [3, 0], [2, 0, 3]]) expect(init.glorotUniform(key, shape).shape).toEqual(shape);
  });

  it('runs under jit and under vmap over keys, equal to eager (an ensemble of ON-LSTMs from one vmapped init)', () => {
    const keys = random.split(random.key(3), 3);
    for (const shape of [[5, 3], [3, 5], [2, 2, 4]]) {
      const eager = [0, 1, 2].map((i) => init.orthogonal(1.5)(keys.at(i), shape));
      const batched = vmap((k: NDArray) => init.orthogonal(1.5)(k, shape))(keys);
      const compiled = jit((k: NDArray) => init.orthogonal(1.5)(k, shape))(keys.at(1));
      expect(np.max(np.abs(batched.sub(np.stack(eager)))).item()).toBeLessThan(1e-6);
      expect(np.max(np.abs(compiled.sub(eager[1]!))).item()).toBeLessThan(1e-6);
    }
    const ensemble = vmap((k: NDArray) => onLstm.init(k, 3, 4, { chunkSize: 2 }))(keys);
    const one = onLstm.init(keys.at(2), 3, 4, { chunkSize: 2 });
    tree.map((b: NDArray, e: NDArray) => expect(np.max(np.abs(b.at(2).sub(e))).item()).toBeLessThan(1e-6), ensemble, one);
  });
});

describe('variance scaling (§7c)', () => {
  it('each family has its formula variance (fans of dense [in, out] and conv [kh, kw, cin, cout] kernels), uniform ones within ±√(3·var)', () => {
    const cases: [string, init.Initializer, (fin: number, fout: number) => number, boolean][] = [
      ['lecunNormal', init.lecunNormal, (fi) => 1 / fi, false],
      ['lecunUniform', init.lecunUniform, (fi) => 1 / fi, true],
      ['glorotNormal', init.glorotNormal, (fi, fo) => 2 / (fi + fo), false],
      ['glorotUniform', init.glorotUniform, (fi, fo) => 2 / (fi + fo), true],
      ['heNormal', init.heNormal, (fi) => 2 / fi, false],
      ['heUniform', init.heUniform, (fi) => 2 / fi, true],
    ];
    for (const shape of [[300, 200], [3, 3, 40, 60]]) {
      const [fin, fout] = init.fans(shape);
      expect([fin, fout]).toEqual(shape.length === 2 ? [300, 200] : [9 * 40, 9 * 60]);
      const count = shape.reduce((a, b) => a * b, 1);
      cases.forEach(([name, f, variance, uniform], i) => {
        const w = f(random.key(10 + i), shape);
        const v = variance(fin, fout);
        const mean = np.mean(w).item() as number;
        const got = np.mean(np.square(w)).item() as number;
        // Standard errors of the mean and of the second moment (kurtosis 3 normal, 9/5 uniform).
        const seVar = v * Math.sqrt((uniform ? 0.8 : 2) / count);
        expect(Math.abs(mean), name).toBeLessThan(5 * Math.sqrt(v / count));
        expect(Math.abs(got - v), name).toBeLessThan(5 * seVar);
        if (uniform) expect(np.max(np.abs(w)).item(), name).toBeLessThanOrEqual(Math.sqrt(3 * v) * (1 + 1e-6));
      });
    }
  });

  it('a variance-1/m matrix W [m, n] nearly preserves norms: ‖WᵀW − I‖²_F averages n(n + 1)/m', () => {
    const m = 400, n = 8, draws = 40;
    let total = 0;
    for (let s = 0; s < draws; s++) {
      const w = init.lecunNormal(random.key(100 + s), [m, n]);
      total += np.sum(np.square(np.matmul(w.T, w).sub(np.eye(n)))).item() as number;
    }
    // Each draw's ‖·‖²_F is a sum of n² terms of variance ~1/m², so the mean of 40 is within ~10 %.
    expect(total / draws).toBeGreaterThan(0.8 * n * (n + 1) / m);
    expect(total / draws).toBeLessThan(1.2 * n * (n + 1) / m);
  });
});

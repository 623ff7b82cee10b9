// np.linalg.expm under jit and vmap (a traced 1-norm): each matrix gets its own number of squarings,
// so the traced result is as accurate as the eager one for 1-norms from 1e-3 to 1e4. Checked against
// float64 references written here (Taylor series with scaling and squaring; closed forms for
// rotation generators, nilpotent and diagonal matrices), det(expm A) = exp(tr A), and the gradients
// under jit against eager and against finite differences. Every property checks it leaks nothing.
import * as tf from '@tensorflow/tfjs-core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { grad, jit, np, scope, vmap, type NDArray } from '../src/index.js';
import { checkGrads } from '../src/testing/index.js';
import { assertNoLeak, expectClose, FC_SEED } from './helpers.js';
import { type Mat, matmul64, eye64 } from './matrix64.js';

// ---- float64 references ---------------------------------------------------------------------------

/** Padé(7)'s bound on ‖A/2^s‖₁ in single precision (Higham 2005). */
const THETA7 = 3.92572478313866;
const norm1 = (a: Mat): number => Math.max(...a[0]!.map((_, j) => a.reduce((acc, row) => acc + Math.abs(row[j]!), 0)));

/** exp(A) in float64: Taylor series (30 terms) of A/2^s with ‖A/2^s‖₁ ≤ 1/2, squared s times. */
function expm64(a: Mat): Mat {
  const n = a.length;
  const nrm = norm1(a);
  const s = nrm > 0.5 ? Math.ceil(Math.log2(nrm / 0.5)) : 0;
  const b = a.map((row) => row.map((v) => v / 2 ** s));
  let term = eye64(n);
  let sum = eye64(n);
  for (let k = 1; k <= 30; k++) {
    term = matmul64(term, b).map((row) => row.map((v) => v / k));
    sum = sum.map((row, i) => row.map((v, j) => v + term[i]![j]!));
  }
  for (let i = 0; i < s; i++) sum = matmul64(sum, sum);
  return sum;
}

/** ‖got − want‖_F / ‖want‖_F. */
const relErr = (got: Mat, want: Mat): number => {
  const w = want.flat();
  return Math.sqrt(got.flat().reduce((acc, v, i) => acc + (v - w[i]!) ** 2, 0) / w.reduce((acc, v) => acc + v * v, 0));
};

// ---- arbitraries ---------------------------------------------------------------------------------

const entries = (n: number, range = 1) =>
  fc.array(fc.array(fc.double({ min: -range, max: range, noNaN: true }), { minLength: n, maxLength: n }), { minLength: n, maxLength: n });

/**
 * A matrix of 1-norm about `target` whose exponential stays of order one: a skew-symmetric part of
 * that norm (exp of it is orthogonal) plus a general part of norm at most min(target, 1).
 */
function boundedExp(r: Mat, g: Mat, target: number): Mat {
  const skew = r.map((row, i) => row.map((v, j) => v - r[j]![i]!));
  const sn = norm1(skew), gn = norm1(g);
  const small = Math.min(target, 1) * 0.5;
  return skew.map((row, i) => row.map((v, j) => (sn > 0 ? (v * target) / sn : 0) + (gn > 0 ? (g[i]![j]! * small) / gn : 0)));
}

/** log10 of the 1-norm, uniform over [−3, 4]: norms from 1e-3 to 1e4. */
const caseArb = fc.record({
  n: fc.integer({ min: 1, max: 5 }),
  logNorm: fc.double({ min: -3, max: 4, noNaN: true }),
  seed: fc.integer({ min: 0, max: 1 << 20 }),
}).map(({ n, logNorm, seed }) => {
  const [r, g] = fc.sample(fc.tuple(entries(n), entries(n)), { seed, numRuns: 1 })[0]!;
  // A 1×1 matrix has no skew part: its norm comes from the general part, kept where exp is finite.
  return n === 1 ? [[Math.min(10 ** logNorm, 80) * Math.sign(g[0]![0]! || 1)]] : boundedExp(r, g, 10 ** logNorm);
});

/** A fresh jit(expm) per test, so that its cached constants are the test's own. */
const jitExpm = () => jit((m: NDArray) => np.linalg.expm(m));

const rows = (x: NDArray): Mat => x.toArray() as Mat;
const f32 = (a: Mat | Mat[]) => np.array(a, 'float32');
/** The float32 matrix the kernels see, as float64 rows (the reference exponentiates exactly that). */
const rounded = (a: Mat): Mat => rows(f32(a));

describe('expm under jit and vmap is as accurate as eager (per-matrix squarings)', () => {
  it('jit(expm) and vmap(expm) match a float64 reference as closely as eager does, for 1-norms from 1e-3 to 1e4', () => {
    const jexpm = jitExpm();
    const worst = { eager: 0, jit: 0, vmap: 0 };
    assertNoLeak(caseArb, (a) => {
      const ref = expm64(rounded(a));
      const A = f32(a);
      const eager = rows(np.linalg.expm(A));
      const traced = rows(jexpm(A));
      // vmap over a stack whose other matrix needs far fewer squarings: each keeps its own.
      const stacked = vmap((m: NDArray) => np.linalg.expm(m))(np.stack([np.multiply(A, 1e-3), A])).toArray() as Mat[];
      // Same s, same operations: jit is bitwise eager (as jit promises for every program).
      expect(traced).toEqual(eager);
      const eE = relErr(eager, ref), eJ = relErr(traced, ref), eV = relErr(stacked[1]!, ref);
      worst.eager = Math.max(worst.eager, eE); worst.jit = Math.max(worst.jit, eJ); worst.vmap = Math.max(worst.vmap, eV);
      // A bound on eager's own accuracy: in float32 the Padé(7) denominator V − U cancels by up to
      // e^θ7 ≈ 51 (~3e-6 relative), and each squaring doubles a relative error (Padé(13) lost up to
      // 1e-5 here); the main claim tested is that traced ≈ eager.
      const bound = 4e-6 * Math.max(1, norm1(a) / THETA7);
      expect(eE, `eager, ‖A‖₁ = ${norm1(a)}`).toBeLessThan(bound);
      expect(eJ, `jit, ‖A‖₁ = ${norm1(a)} (eager ${eE})`).toBeLessThan(Math.max(2 * eE, 2e-7));
      expect(eV, `vmap, ‖A‖₁ = ${norm1(a)} (eager ${eE})`).toBeLessThan(Math.max(2 * eE, 2e-7));
      const small = np.multiply(A, 1e-3);
      const smallRef = expm64(rows(small));
      expect(relErr(stacked[0]!, smallRef), 'vmap, the smaller matrix').toBeLessThan(Math.max(2 * relErr(rows(np.linalg.expm(small)), smallRef), 2e-7));
    }, 120, () => jexpm.clearCache());
    // The worst relative errors met (eager and traced alike): about 1e-4 at ‖A‖₁ = 1e4.
    expect(worst.jit).toBeLessThan(2 * worst.eager + 1e-7);
  });

  it('eager expm of a stack gives each matrix its own squarings: equal to expm of each alone and to jit, as accurate beside a large matrix as alone', () => {
    const jexpm = jitExpm();
    assertNoLeak(fc.tuple(caseArb, caseArb).filter(([a, b]) => a.length === b.length), ([a, b]) => {
      const stack = f32([a, b]);
      const together = np.linalg.expm(stack).toArray() as Mat[];
      const alone = [rows(np.linalg.expm(f32(a))), rows(np.linalg.expm(f32(b)))];
      // The same s and the same operations per matrix: bitwise equal, and bitwise jit's per-matrix result.
      expect(together).toEqual(alone);
      expect(jexpm(stack).toArray()).toEqual(together);
      // A shared s (the largest) over-scaled the smaller matrix and squared it back: 3e-4 off instead of 1e-7.
      [a, b].forEach((m, i) => {
        const ref = expm64(rounded(m));
        expect(relErr(together[i]!, ref), `matrix ${i}, ‖A‖₁ = ${norm1(m)}`).toBeLessThan(4e-6 * Math.max(1, norm1(m) / THETA7));
      });
    }, 40, () => jexpm.clearCache());
    // A rotation generator (θ = 1000: 9 squarings) beside a matrix of 1-norm 1.3 (none).
    assertNoLeak(fc.constant(null), () => {
      const small = [[0.3, 0.2, -0.3], [0.4, -0.6, 0.5], [0.1, 0.2, 0.3]];
      const rot = [[0, 1000, 0], [-1000, 0, 0], [0, 0, 0]];
      const got = (np.linalg.expm(f32([small, rot])).toArray() as Mat[])[0]!;
      expect(relErr(got, expm64(rounded(small)))).toBeLessThan(4e-7);
      // The per-matrix squarings differentiate as the shared ones do (1-norms 0.65 and 13: 0 and 2 squarings).
      checkGrads((m: NDArray) => np.linalg.expm(m), [f32([small.map((r) => r.map((v) => v / 2)), small.map((r) => r.map((v) => v * 10))])], { order: 2, seed: 5 });
    }, 1);
  });

  it('closed forms under jit and vmap: rotation generators up to θ = 1e4, nilpotent and diagonal matrices', () => {
    const jexpm = jitExpm();
    assertNoLeak(fc.tuple(fc.double({ min: -3, max: 4, noNaN: true }), fc.boolean()), ([logTheta, negative]) => {
      const theta = Math.fround((negative ? -1 : 1) * 10 ** logTheta);
      const G = f32([[0, theta], [-theta, 0]]);
      const want = [[Math.cos(theta), Math.sin(theta)], [-Math.sin(theta), Math.cos(theta)]];
      // float32 rounding of the result's angle: θ·2⁻²⁴ per squaring's worth of growth.
      const tol = 2e-7 * Math.max(1, Math.abs(theta));
      for (const [label, got] of [['eager', np.linalg.expm(G)], ['jit', jexpm(G)], ['vmap', vmap((m: NDArray) => np.linalg.expm(m))(np.stack([G, G]))]] as const) {
        const mats = got.ndim === 3 ? (got.toArray() as Mat[]) : [rows(got)];
        mats.forEach((m) => expect(relErr(m, want), `${label}, θ = ${theta}`).toBeLessThan(tol));
      }
    }, 60, () => jexpm.clearCache());
    assertNoLeak(fc.tuple(fc.integer({ min: 2, max: 5 }), fc.double({ min: -3, max: 3, noNaN: true }), fc.integer({ min: 0, max: 1 << 20 })), ([n, logNorm, seed]) => {
      // Strictly upper triangular N: exp(N) = Σ_{k<n} N^k/k! exactly.
      const raw = fc.sample(entries(n), { seed, numRuns: 1 })[0]!;
      const upper = raw.map((row, i) => row.map((v, j) => (j > i ? v : 0)));
      const scale = 10 ** logNorm / Math.max(norm1(upper), 1e-6);
      const N = rounded(upper.map((row) => row.map((v) => v * scale)));
      let term = eye64(n), want = eye64(n);
      for (let k = 1; k < n; k++) {
        term = matmul64(term, N).map((row) => row.map((v) => v / k));
        want = want.map((row, i) => row.map((v, j) => v + term[i]![j]!));
      }
      const tol = 1e-6 * Math.max(1, norm1(N));
      expect(relErr(rows(jexpm(f32(N))), want), `jit nilpotent ‖N‖₁ = ${norm1(N)}`).toBeLessThan(tol);
      expect(relErr((vmap((m: NDArray) => np.linalg.expm(m))(f32([N])).toArray() as Mat[])[0]!, want), 'vmap nilpotent').toBeLessThan(tol);
      // exp(diag d) = diag(exp d), d within float32's range of exp.
      const d = raw[0]!.map((v) => Math.fround(v * Math.min(10 ** logNorm, 80)));
      const D = d.map((v, i) => d.map((_, j) => (i === j ? v : 0)));
      // Scalar Padé(7) in float32 loses up to ~3e-6 near θ7 (V − U cancels; Padé(13) lost 1e-5), doubled by each squaring; traced equals eager here.
      const rtol = 4e-6 * Math.max(1, Math.max(...d.map(Math.abs)) / THETA7);
      expectClose(jexpm(f32(D)), D.map((row, i) => row.map((_, j) => (i === j ? Math.exp(d[i]!) : 0))), { rtol, atol: 0, label: 'jit diagonal' });
      expect(jexpm(f32(D))).toEqual(np.linalg.expm(f32(D)));
    }, 60, () => jexpm.clearCache());
  });

  it('det(expm A) = exp(tr A) for jit(expm) and vmap(expm), and a 1-norm beyond θ7·2¹⁶ gives infinities under jit (as JAX) but a finite result eagerly', () => {
    const jexpm = jitExpm();
    assertNoLeak(caseArb, (a) => {
      const tr = a.reduce((acc, row, i) => acc + row[i]!, 0);
      const tol = 2e-4 * (1 + Math.abs(tr)) + 1e-6 * a.length * norm1(a);
      for (const E of [jexpm(f32(a)), vmap((m: NDArray) => np.linalg.expm(m))(f32([a])).at(0)]) {
        const [sign, logabs] = np.linalg.slogdet(E);
        expect(sign.item()).toBe(1);
        expect(Math.abs((logabs.item() as number) - tr), `‖A‖₁ = ${norm1(a)}`).toBeLessThan(tol);
      }
    }, 60, () => jexpm.clearCache());
    const before = tf.memory().numTensors;
    scope(() => {
      const big = f32([[0, 4e5], [-4e5, 0]]);
      expect(rows(jexpm(big)).flat().every((v) => v === Infinity)).toBe(true);
      expect(rows(np.linalg.expm(big)).flat().every(Number.isFinite)).toBe(true);
      // Within the limit, and in a stack with a small matrix, both stay finite and equal eager.
      const stack = np.stack([f32([[0, 2e5], [-2e5, 0]]), f32([[0, 1e-3], [-1e-3, 0]])]);
      const v = vmap((m: NDArray) => np.linalg.expm(m))(stack);
      expect(v.toArray()).toEqual([rows(np.linalg.expm(stack.at(0))), rows(np.linalg.expm(stack.at(1)))]);
      return null;
    });
    jexpm.clearCache();
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('gradients of expm under jit and vmap', () => {
  const gradArb = fc.record({
    n: fc.integer({ min: 1, max: 4 }),
    logNorm: fc.double({ min: -1, max: 1.6, noNaN: true }),
    seed: fc.integer({ min: 0, max: 1 << 20 }),
  }).map(({ n, logNorm, seed }) => {
    const [r, g, c] = fc.sample(fc.tuple(entries(n), entries(n), entries(n)), { seed, numRuns: 1 })[0]!;
    return { a: n === 1 ? [[Math.min(10 ** logNorm, 3)]] : boundedExp(r, g, 10 ** logNorm), c, seed };
  });

  it('jit(grad(f)) equals eager grad(f), vmap(grad(f)) equals a loop, and both pass checkGrads (norms 0.1 to 40: 0 to 3 squarings)', () => {
    assertNoLeak(gradArb, ({ a, c, seed }) => {
      const A = f32(a), C = f32(c);
      const f = (m: NDArray) => np.sum(np.multiply(np.linalg.expm(m), C));
      const g = grad(f);
      const jg = jit(g), je = jitExpm();
      try {
        const eager = g(A);
        expectClose(jg(A), eager, { rtol: 1e-5, atol: 1e-5, label: `jit(grad), ‖A‖₁ = ${norm1(a)}` });
        const other = np.multiply(A, 0.25);
        expectClose(vmap(g)(np.stack([A, other])), np.stack([eager, g(other)]), { rtol: 1e-5, atol: 1e-5, label: 'vmap(grad)' });
        // Reverse and forward mode of the traced path against finite differences.
        checkGrads(je, [A], { order: 1, seed, rtol: 5e-3 });
        checkGrads((m: NDArray) => vmap((x: NDArray) => np.linalg.expm(x))(m), [np.stack([A, other])], { order: 1, seed: seed + 1, rtol: 5e-3 });
      } finally {
        jg.clearCache(); je.clearCache();
      }
    }, 16);
  });

  it('∇ tr expm(A) = expm(A)ᵀ (d tr e^A = tr(e^A dA)) under jit, against the float64 reference', () => {
    assertNoLeak(gradArb, ({ a }) => {
      const jg = jit(grad((m: NDArray) => np.linalg.trace(np.linalg.expm(m))));
      try {
        const want = expm64(rounded(a));
        const got = rows(jg(f32(a)));
        expect(relErr(got, want[0]!.map((_, j) => want.map((row) => row[j]!))), `‖A‖₁ = ${norm1(a)}`).toBeLessThan(5e-6);
      } finally {
        jg.clearCache();
      }
    }, 30);
  });
});

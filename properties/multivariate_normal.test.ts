// random.multivariateNormal (jax.random.multivariate_normal; methods 'cholesky', 'svd', 'eigh'). The samples
// are checked against float64 references: JAX's construction mean + L·z (L a float64 Cholesky
// factor of cov's symmetric part, z = random.normal(key, shape + [n]) with the same key), sample
// means and covariances at about 5 standard errors, and a Kolmogorov–Smirnov test of a projection
// aᵀx against N(aᵀμ, aᵀΣa). Gradients: a closed form at a diagonal cov, checkGrads to second order
// elsewhere, under vmap and jit. Then batch-shape broadcasting, jit == eager, vmap == a loop,
// errors and leaks.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { LinAlgError, NDArray, ShapeError, ValueError, dispose, grad, jit, np, random, vmap } from '../src/index.js';
import { Rng, checkGrads } from '../src/testing/index.js';
import { FC_SEED, expectClose, inScope, numTensors, values, ksStatistic } from './helpers.js';
import { type Mat, cholesky64, symmetricPart64 } from './matrix64.js';

const N = 20000;

/** Σ = B·Bᵀ + ridge·I from the entries of B: symmetric positive definite, its conditioning bounded by the ridge. */
function spd(entries: readonly number[], n: number, ridge = 0.5): Mat {
  const b = (i: number, j: number) => entries[i * n + j]!;
  return Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => {
    let s = i === j ? ridge : 0;
    for (let k = 0; k < n; k++) s += b(i, k) * b(j, k);
    return s;
  }));
}
// B's entries come from a seeded uniform generator, not fast-check's doubles, which favour 0 and ±1 (a diagonal Σ would hide a transposed factor).
const arbSpd = (n: number) => fc.integer({ min: 0, max: 2 ** 31 - 1 }).map((seed) => {
  const rng = new Rng(seed);
  return spd(Array.from({ length: n * n }, () => 2 * rng.uniform() - 1), n);
});

/** Rows of `count` consecutive values. */
function rowsOf(flat: readonly number[], count: number): number[][] {
  return Array.from({ length: flat.length / count }, (_, r) => flat.slice(r * count, (r + 1) * count));
}

/** Φ by erfc's Chebyshev fit (Numerical Recipes' erfcc, relative error below 1.2e-7): independent of np.ndtr. */
function normalCdf(x: number): number {
  const z = Math.abs(x) / Math.SQRT2, t = 1 / (1 + 0.5 * z);
  const erfc = t * Math.exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
  return x >= 0 ? 1 - erfc / 2 : erfc / 2;
}

describe('random.multivariateNormal: the distribution', () => {
  it('is JAX\'s construction mean + L·z, z = normal(key, shape + [n]) with the same key (float64 reference), for stacks of means and covs too', () => {
    const arb = fc.integer({ min: 1, max: 4 }).chain((n) =>
      fc.record({
        seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        n: fc.constant(n),
        covs: fc.array(arbSpd(n), { minLength: 1, maxLength: 2 }),
        stackCov: fc.boolean(),
        means: fc.array(fc.double({ min: -3, max: 3, noNaN: true }), { minLength: n, maxLength: n }),
        lead: fc.integer({ min: 1, max: 3 }),
      }),
    );
    fc.assert(
      fc.property(arb, ({ seed, n, covs, stackCov, means, lead }) =>
        inScope(() => {
          const k = random.key(seed);
          // cov either one matrix or a stack [b, n, n]; the samples' shape is [lead, b] or [lead].
          const b = covs.length;
          const cov = stackCov ? np.array(covs, 'float32') : np.array(covs[0]!, 'float32');
          const shape = stackCov ? [lead, b] : [lead];
          const x = random.multivariateNormal(k, np.array(means, 'float32'), cov, shape);
          expect(x.shape).toEqual([...shape, n]);
          const z = rowsOf(values(random.normal(k, [...shape, n])), n);
          const covOf = (row: number) => (stackCov ? covs[row % b]! : covs[0]!);
          const want = z.map((zr, row) => {
            const L = cholesky64(symmetricPart64(covOf(row).map((r) => r.map(Math.fround)))); // the sampler factors the symmetric part
            return L.map((li, i) => Math.fround(means[i]!) + li.reduce((acc, v, j) => acc + v * zr[j]!, 0));
          });
          expectClose(x, np.reshape(np.array(want.flat(), 'float32'), [...shape, n]), { rtol: 2e-5, atol: 2e-5 });
        }),
      ),
      { seed: FC_SEED, numRuns: 25 },
    );
  });

  it('has mean μ and covariance Σ (within 5 standard errors), and aᵀx ~ N(aᵀμ, aᵀΣa) (KS)', () => {
    const mu = [1.5, -2, 0.25];
    const sigma = [[2, 0.9, -0.6], [0.9, 1, 0.3], [-0.6, 0.3, 0.8]];
    for (const seed of [3, 101]) {
      inScope(() => {
        const xs = rowsOf(values(random.multivariateNormal(random.key(seed), np.array(mu, 'float32'), np.array(sigma, 'float32'), [N])), 3);
        const m = [0, 1, 2].map((i) => xs.reduce((a, r) => a + r[i]!, 0) / N);
        m.forEach((mi, i) => expect(Math.abs(mi - mu[i]!), `mean ${i}`).toBeLessThan(5 * Math.sqrt(sigma[i]![i]! / N)));
        for (let i = 0; i < 3; i++) {
          for (let j = 0; j < 3; j++) {
            const s = xs.reduce((a, r) => a + (r[i]! - m[i]!) * (r[j]! - m[j]!), 0) / (N - 1);
            // Var of a sample covariance of a normal: (Σii·Σjj + Σij²)/N.
            const se = Math.sqrt((sigma[i]![i]! * sigma[j]![j]! + sigma[i]![j]! ** 2) / N);
            expect(Math.abs(s - sigma[i]![j]!), `cov ${i},${j}`).toBeLessThan(5 * se);
          }
        }
        const a = [0.7, -1.1, 0.4];
        const center = a.reduce((acc, v, i) => acc + v * mu[i]!, 0);
        const spread = Math.sqrt(a.reduce((acc, ai, i) => acc + a.reduce((s, aj, j) => s + ai * sigma[i]![j]! * aj, 0), 0));
        const projected = xs.map((r) => r.reduce((acc, v, i) => acc + a[i]! * v, 0));
        expect(ksStatistic(projected, (t) => normalCdf((t - center) / spread))).toBeLessThan(1.95 / Math.sqrt(N));
      });
    }
  });

  it('a stack of (mean, cov) pairs: each slice of the samples follows its own pair', () => {
    inScope(() => {
      const mus = [[0, 0], [5, -5]];
      const sigmas = [[[1, 0.8], [0.8, 1]], [[4, -1], [-1, 0.5]]];
      const xs = values(random.multivariateNormal(random.key(11), np.array(mus, 'float32'), np.array(sigmas, 'float32'), [N / 2, 2]));
      for (let b = 0; b < 2; b++) {
        const rows = rowsOf(xs, 2).filter((_, r) => r % 2 === b);
        const count = rows.length;
        const m = [0, 1].map((i) => rows.reduce((a, r) => a + r[i]!, 0) / count);
        m.forEach((mi, i) => expect(Math.abs(mi - mus[b]![i]!)).toBeLessThan(5 * Math.sqrt(sigmas[b]![i]![i]! / count)));
        const c01 = rows.reduce((a, r) => a + (r[0]! - m[0]!) * (r[1]! - m[1]!), 0) / (count - 1);
        const s = sigmas[b]!;
        expect(Math.abs(c01 - s[0]![1]!)).toBeLessThan(5 * Math.sqrt((s[0]![0]! * s[1]![1]! + s[0]![1]! ** 2) / count));
      }
    });
  });
});

describe('random.multivariateNormal: shapes, jit, vmap', () => {
  it('shape defaults to the broadcast of mean.shape[:-1] and cov.shape[:-2]; a given shape must be one they broadcast to', () => {
    inScope(() => {
      const k = random.key(0);
      const I = np.eye(2);
      expect(random.multivariateNormal(k, np.zeros([2]), I).shape).toEqual([2]);
      expect(random.multivariateNormal(k, np.zeros([3, 1, 2]), np.broadcastTo(I, [4, 2, 2])).shape).toEqual([3, 4, 2]);
      expect(random.multivariateNormal(k, np.zeros([3, 1, 2]), np.broadcastTo(I, [4, 2, 2]), [5, 3, 4]).shape).toEqual([5, 3, 4, 2]);
      expect(random.multivariateNormal(k, np.zeros([1, 2]), I, [6, 7]).shape).toEqual([6, 7, 2]);
      expect(random.multivariateNormal(k, np.zeros([2]), I, 4).shape).toEqual([4, 2]);
      expect(random.multivariateNormal(k, [0, 0], [[1, 0], [0, 1]], [0]).shape).toEqual([0, 2]);
      // JS numbers and int arrays are taken as float32.
      const x = random.multivariateNormal(k, [1, 2], [[1, 0], [0, 1]], [3]);
      expect(x.dtype).toBe('float32');
      expectClose(x, random.multivariateNormal(k, np.array([1, 2], 'float32'), np.eye(2), [3]), { rtol: 0, atol: 0 });
    });
  });

  it('jit equals eager bit for bit; vmap over keys, over means and over covs equals a loop', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 31 - 1 }), arbSpd(3), arbSpd(3), (seed, c1, c2) =>
        inScope(() => {
          const k = random.key(seed);
          const mean = np.array([0.5, -1, 2], 'float32');
          const cov = np.array(c1, 'float32');
          const f = (kk: NDArray, m: NDArray, c: NDArray) => random.multivariateNormal(kk, m, c, [4]);
          const x = f(k, mean, cov);
          expect(values(f(random.key(seed), mean, cov))).toEqual(values(x));
          expect(values(jit(f)(k, mean, cov))).toEqual(values(x));
          const keys = random.split(k, 3);
          expect(values(vmap((kk: NDArray) => f(kk, mean, cov))(keys))).toEqual([...keys].flatMap((kk) => values(f(kk, mean, cov))));
          const means = np.array([[0, 0, 0], [1, 2, 3]], 'float32');
          expect(values(vmap((m: NDArray) => f(k, m, cov))(means))).toEqual([...means].flatMap((m) => values(f(k, m, cov))));
          const covs = np.array([c1, c2], 'float32');
          expectClose(vmap((c: NDArray) => f(k, mean, c))(covs), np.stack([...covs].map((c) => f(k, mean, c))), { rtol: 1e-6, atol: 1e-6 });
        }),
      ),
      { seed: FC_SEED, numRuns: 4 },
    );
  });
});

describe('random.multivariateNormal: gradients (reparameterisation)', () => {
  it('closed form at a diagonal cov: ∂Σx/∂μ counts the samples, ∂Σx/∂Σij = Σ_s z_s,m / (2·√Σmm) with m = min(i, j)', () => {
    inScope(() => {
      const k = random.key(21);
      const d = [4, 0.25, 2.25];
      const cov = np.array([[4, 0, 0], [0, 0.25, 0], [0, 0, 2.25]], 'float32');
      const mean = np.array([1, 0, -1], 'float32');
      const S = 7;
      const loss = (m: NDArray, c: NDArray) => np.sum(random.multivariateNormal(k, m, c, [S]));
      const [gm, gc] = grad(loss, { argnums: [0, 1] })(mean, cov) as unknown as [NDArray, NDArray];
      expectClose(gm, [S, S, S], { rtol: 0, atol: 0 });
      const z = rowsOf(values(random.normal(k, [S, 3])), 3);
      const zsum = [0, 1, 2].map((i) => z.reduce((a, r) => a + r[i]!, 0));
      // With L = diag(l), dL = L·Φ(L⁻¹ dΣ L⁻ᵀ) (Φ: lower triangle, diagonal halved) has dL_ij = dΣsym_ij / l_j below the diagonal.
      const want = [0, 1, 2].map((i) => [0, 1, 2].map((j) => zsum[Math.min(i, j)]! / (2 * Math.sqrt(d[Math.min(i, j)]!))));
      expectClose(gc, want, { rtol: 1e-5, atol: 1e-6 });
    });
  });

  it('checkGrads in mean and cov to second order; vmap of grad equals a loop; jit of grad equals grad', () => {
    inScope(() => {
      const k = random.key(5);
      const mean = np.array([0.3, -0.7, 1.2], 'float32');
      const cov = np.array(spd([0.6, -0.2, 0.4, 0.1, 0.8, -0.3, 0.5, 0.2, 0.7], 3, 1), 'float32');
      const f = (m: NDArray, c: NDArray) => random.multivariateNormal(k, m, c, [2]);
      checkGrads(f, [mean, cov], { order: 2, rtol: 2e-2 });
      // A loss that is not linear in x, so the cotangent differs per sample.
      const loss = (c: NDArray) => np.sum(np.square(random.multivariateNormal(k, mean, c, [4])));
      const g = grad(loss)(cov);
      expectClose(jit(grad(loss))(cov), g, { rtol: 1e-6, atol: 1e-6 });
      const covs = np.stack([cov, np.multiply(cov, 2)]);
      expectClose(vmap(grad(loss))(covs), np.stack([...covs].map((c) => grad(loss)(c))), { rtol: 1e-5, atol: 1e-6 });
      // Stacked covs with a broadcast mean, in reverse mode against forward differences of the sum.
      checkGrads((c: NDArray) => random.multivariateNormal(k, mean, c, [2, 2]), [covs], { order: 1, rtol: 2e-2 });
    });
  });
});

describe("random.multivariateNormal: methods 'svd' and 'eigh' (JAX's F = U·√S and V·√W)", () => {
  /** F̂ᵀ from samples x_r − μ = F·z_r (same key): least squares over the rows, in float64 (normal equations). */
  function recoveredFactorGram(x: number[][], z: number[][], mu: number[]): Mat {
    const n = mu.length;
    const d = x.map((r) => r.map((v, i) => v - Math.fround(mu[i]!)));
    const ztz = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => z.reduce((a, r) => a + r[i]! * r[j]!, 0)));
    const ztd = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => z.reduce((a, r, k) => a + r[i]! * d[k]![j]!, 0)));
    // Solve ZᵀZ·Fᵀ = ZᵀD by Gauss–Jordan (ZᵀZ is symmetric positive definite: no pivoting needed).
    const m = ztz.map((r, i) => [...r, ...ztd[i]!]);
    for (let c = 0; c < n; c++) {
      const p = m[c]![c]!;
      for (let j = 0; j < 2 * n; j++) m[c]![j]! /= p;
      for (let r = 0; r < n; r++) if (r !== c) { const f = m[r]![c]!; for (let j = 0; j < 2 * n; j++) m[r]![j]! -= f * m[c]![j]!; }
    }
    const ft = m.map((r) => r.slice(n));
    // F·Fᵀ = (Fᵀ)ᵀ·Fᵀ.
    return Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => ft.reduce((a, r) => a + r[i]! * r[j]!, 0)));
  }

  it('F·Fᵀ = cov, recovered from samples and the same key’s normal draws, for positive definite and singular (rank-one) covariances', () => {
    const arb = fc.integer({ min: 1, max: 4 }).chain((n) => fc.record({
      n: fc.constant(n), seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }), cov: arbSpd(n), singular: fc.boolean(),
      mean: fc.array(fc.double({ min: -3, max: 3, noNaN: true }), { minLength: n, maxLength: n }), method: fc.constantFrom<'svd' | 'eigh'>('svd', 'eigh'),
    }));
    fc.assert(fc.property(arb, ({ n, seed, cov, singular, mean, method }) => inScope(() => {
      // Singular ('svd' only): the rank-one b·bᵀ from cov's first row, which cholesky refuses unless
      // rounding leaves a tiny positive pivot ('eigh' may meet a rounding-level negative eigenvalue
      // there and give NaNs, as in JAX).
      const c = singular && method === 'svd' ? cov[0]!.map((bi) => cov[0]!.map((bj) => bi * bj / cov[0]![0]!)) : cov;
      const c32 = c.map((r) => r.map(Math.fround));
      const k = random.key(seed);
      const count = 40 * n;
      const x = rowsOf(values(random.multivariateNormal(k, np.array(mean, 'float32'), np.array(c32, 'float32'), [count], { method })), n);
      const z = rowsOf(values(random.normal(k, [count, n])), n);
      const got = recoveredFactorGram(x, z, mean);
      const scale = Math.max(...c32.flat().map(Math.abs));
      got.forEach((r, i) => r.forEach((v, j) => expect(Math.abs(v - c32[i]![j]!), `(${i}, ${j}) ${method}`).toBeLessThan(2e-4 * scale)));
    })), { seed: FC_SEED, numRuns: 30 });
  });

  it('is differentiable in mean and cov (checkGrads), and its sample statistics match μ and Σ', () => {
    const mu = [1.5, -2, 0.25];
    const sigma = [[2, 0.9, -0.6], [0.9, 1, 0.3], [-0.6, 0.3, 0.8]];
    for (const method of ['svd', 'eigh'] as const) {
      inScope(() => {
        const k = random.key(7);
        // A cov whose eigenvalues are apart and whose eigenvectors each have one clearly largest
        // entry: the factor's sign convention does not flip within the finite-difference steps.
        const wellSeparated = [[2, 0.5, -0.3], [0.5, 1.2, 0.2], [-0.3, 0.2, 0.6]];
        checkGrads((m: NDArray, c: NDArray) => random.multivariateNormal(k, m, c, [4], { method }), [np.array(mu, 'float32'), np.array(wellSeparated, 'float32')], { order: 1, seed: 3 });
        const xs = rowsOf(values(random.multivariateNormal(random.key(11), np.array(mu, 'float32'), np.array(sigma, 'float32'), [N], { method })), 3);
        const m = [0, 1, 2].map((i) => xs.reduce((a, r) => a + r[i]!, 0) / N);
        m.forEach((mi, i) => expect(Math.abs(mi - mu[i]!), `mean ${i}`).toBeLessThan(5 * Math.sqrt(sigma[i]![i]! / N)));
        for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) {
          const s = xs.reduce((a, r) => a + (r[i]! - m[i]!) * (r[j]! - m[j]!), 0) / (N - 1);
          expect(Math.abs(s - sigma[i]![j]!), `cov ${i},${j}`).toBeLessThan(5 * Math.sqrt((sigma[i]![i]! * sigma[j]![j]! + sigma[i]![j]! ** 2) / N));
        }
      });
    }
  });
});

describe('random.multivariateNormal: errors and memory', () => {
  it('bad arguments are errors naming the sampler, the shapes and what was expected', () => {
    inScope(() => {
      const k = random.key(0);
      const I = np.eye(2);
      const mvn = random.multivariateNormal;
      expect(() => mvn(k, np.zeros([2]), I, [3], { method: 'qr' } as never)).toThrow(ValueError);
      expect(() => mvn(k, np.zeros([2]), I, [3], { method: 'qr' } as never)).toThrow(`random.multivariateNormal: method "qr" is unknown; expected 'cholesky' (the default), 'svd' or 'eigh', as in JAX`);
      expect(() => mvn(k, np.zeros([2]), I, [3], { dtype: 'float32' } as never)).toThrow(/random.multivariateNormal: unknown option 'dtype'/);
      expect(() => mvn(np.zeros([2]), np.zeros([2]), I)).toThrow(/random.multivariateNormal: expected a key .* got f32\[2\]/);
      expect(() => mvn(k, np.array(0, 'float32'), I)).toThrow(/random.multivariateNormal: expected mean of shape \[..., n\] \(rank ≥ 1\), got shape \[\]/);
      expect(() => mvn(k, np.zeros([3]), I)).toThrow(/random.multivariateNormal: expected cov of shape \[..., 3, 3\] for mean of shape \[3\], got cov of shape \[2,2\]/);
      expect(() => mvn(k, np.zeros([2]), np.zeros([2]))).toThrow(/expected cov of shape \[..., 2, 2\] for mean of shape \[2\], got cov of shape \[2\]/);
      expect(() => mvn(k, np.zeros([2, 3]), np.eye(3, 2))).toThrow(ShapeError);
      expect(() => mvn(k, np.zeros([3, 2]), np.broadcastTo(I, [4, 2, 2]))).toThrow(/the batch shapes of mean \[3,2\] and cov \[4,2,2\] cannot be broadcast together \(\[3\] vs \[4\]\)/);
      expect(() => mvn(k, np.zeros([3, 2]), I, [4])).toThrow(/the batch shapes of mean \[3,2\] and cov \[2,2\] \(broadcast: \[3\]\) do not broadcast to shape \[4\]/);
      expect(() => mvn(k, np.zeros([1, 2]), I, [])).toThrow(/do not broadcast to shape \[\]/);
      expect(() => mvn(k, np.zeros([2]), I, [2, -1])).toThrow(/random.multivariateNormal: invalid shape/);
      expect(() => mvn(k, np.array([true, false]), I)).toThrow(/random.multivariateNormal: expected a numeric mean and cov/);
      // A cov that is not positive definite: cholesky's error (JAX gives NaNs), eagerly and under jit.
      const indefinite = np.array([[1, 2], [2, 1]], 'float32');
      expect(() => mvn(k, np.zeros([2]), indefinite)).toThrow(LinAlgError);
      expect(() => jit((c: NDArray) => mvn(k, np.zeros([2]), c))(indefinite)).toThrow(/not positive definite/);
    });
  });

  it('leaves no tensors behind: eager, under grad, jit and vmap, and when it throws', () => {
    const k = random.key(2);
    const mean = np.array([0.1, 0.2], 'float32');
    const cov = np.array([[1, 0.3], [0.3, 2]], 'float32');
    const covs = np.stack([cov, cov]);
    const indefinite = np.array([[1, 2], [2, 1]], 'float32');
    const jitted = jit((c: NDArray) => random.multivariateNormal(k, mean, c, [3]));
    dispose(jitted(cov)); // trace once: the jit function owns its constants
    const before = numTensors();
    const runs: (() => unknown)[] = [
      () => random.multivariateNormal(k, mean, cov, [5]),
      () => random.multivariateNormal(k, mean, covs, [4, 2]),
      () => grad((m: NDArray, c: NDArray) => np.sum(random.multivariateNormal(k, m, c, [3])), { argnums: [0, 1] })(mean, cov),
      () => grad((c: NDArray) => np.sum(grad((c2: NDArray) => np.sum(np.square(random.multivariateNormal(k, mean, c2, [2]))))(c)))(cov),
      () => jitted(cov),
      () => vmap((c: NDArray) => random.multivariateNormal(k, mean, c, [3]))(covs),
      () => grad((c: NDArray) => np.sum(np.sin(random.multivariateNormal(k, mean, c, [3], { method: 'eigh' }))))(cov),
      () => grad((c: NDArray) => np.sum(np.sin(random.multivariateNormal(k, mean, c, [3], { method: 'svd' }))))(cov),
    ];
    for (const run of runs) {
      dispose(run() as never);
      expect(numTensors()).toBe(before);
    }
    expect(() => random.multivariateNormal(k, mean, indefinite, [3])).toThrow(LinAlgError);
    expect(() => random.multivariateNormal(k, mean, cov, [3], { method: 'qr' } as never)).toThrow(ValueError);
    expect(numTensors()).toBe(before);
    dispose([k, mean, cov, covs, indefinite]);
    jitted.clearCache();
  });
});

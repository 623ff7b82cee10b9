// Linear-algebra identities behind the invertible ResNet (algorithms.md §3.2, §3.4, §3.7, §3.8):
// power iteration and spectral normalisation against a float64 SVD, det(exp A) = exp(tr A) and its
// consequences, the log series ln det(I + A) = Σ (−1)^{k+1} tr(A^k)/k within its truncation bound,
// Hutchinson's trace estimator (unbiased, with the variances of §3.8.5), and the derivative rules of
// slogdet / expm / inv / solve. Every property runs in a gradus scope and checks it leaks nothing.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { flows } from '../models/index.js';
import { spectralNorm } from '../models/nn.js';
import { grad, hessian, jit, jvp, np, random, scope, vmap, type NDArray } from '../src/index.js';
import { checkGrads } from '../src/testing/index.js';
import { assertNoLeak } from './helpers.js';
import { type Mat, laplaceDet, matmul64 } from './matrix64.js';

const SEED = 42;

// ---- float64 references ---------------------------------------------------------------------------

/** Singular values of a matrix by one-sided Jacobi (Hestenes) in float64: orthogonalise column pairs. */
function svdValues(a: Mat): number[] {
  const m = a.length, n = a[0]!.length;
  // Work on the orientation with fewer columns.
  const tall = m >= n;
  const cols = tall ? n : m, len = tall ? m : n;
  const u: number[][] = Array.from({ length: cols }, (_, j) => Array.from({ length: len }, (_, i) => (tall ? a[i]![j]! : a[j]![i]!)));
  for (let sweep = 0; sweep < 60; sweep++) {
    let rotated = false;
    for (let p = 0; p < cols; p++) {
      for (let q = p + 1; q < cols; q++) {
        let alpha = 0, beta = 0, gamma = 0;
        for (let i = 0; i < len; i++) {
          alpha += u[p]![i]! ** 2;
          beta += u[q]![i]! ** 2;
          gamma += u[p]![i]! * u[q]![i]!;
        }
        if (Math.abs(gamma) <= 1e-15 * Math.sqrt(alpha * beta) || gamma === 0) continue;
        rotated = true;
        const zeta = (beta - alpha) / (2 * gamma);
        const t = Math.sign(zeta || 1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const c = 1 / Math.sqrt(1 + t * t), s = c * t;
        for (let i = 0; i < len; i++) {
          const up = u[p]![i]!, uq = u[q]![i]!;
          u[p]![i] = c * up - s * uq;
          u[q]![i] = s * up + c * uq;
        }
      }
    }
    if (!rotated) break;
  }
  return u.map((col) => Math.sqrt(col.reduce((acc, v) => acc + v * v, 0))).sort((x, y) => y - x);
}

/** Reads a 2-D gradus array as float64 rows. */
function rows(x: NDArray): Mat {
  return x.toArray() as Mat;
}

function flat(m: Mat): number[] {
  return m.flat();
}

const matrixArb = (minDim = 1, maxDim = 5, range = 1) =>
  fc.tuple(fc.integer({ min: minDim, max: maxDim }), fc.integer({ min: minDim, max: maxDim })).chain(([m, n]) =>
    fc.array(fc.array(fc.double({ min: -range, max: range, noNaN: true }), { minLength: n, maxLength: n }), { minLength: m, maxLength: m }));
const squareArb = (minDim = 1, maxDim = 5, range = 1) =>
  fc.integer({ min: minDim, max: maxDim }).chain((n) =>
    fc.array(fc.array(fc.double({ min: -range, max: range, noNaN: true }), { minLength: n, maxLength: n }), { minLength: n, maxLength: n }));

// ---- the float64 oracles themselves -------------------------------------------------------------

describe('float64 references', () => {
  it('the one-sided Jacobi SVD and the library Gram-matrix Jacobi agree, and both match closed forms', () => {
    // diag(3, -2) has singular values 3, 2; [[1, 1], [0, 1]] has (1 ± √5)/2 in absolute value.
    expect(svdValues([[3, 0], [0, -2]])).toEqual([3, 2]);
    const golden = (1 + Math.sqrt(5)) / 2;
    expect(svdValues([[1, 1], [0, 1]])[0]).toBeCloseTo(golden, 12);
    expect(flows.singularValues([1, 1, 0, 1], 2, 2)[0]).toBeCloseTo(golden, 12);
    fc.assert(fc.property(matrixArb(1, 6), (a) => {
      const mine = svdValues(a);
      const lib = flows.singularValues(flat(a), a.length, a[0]!.length);
      // Both orthogonalise A's columns (no Gram matrix, which squares the condition number): every
      // singular value agrees to float64 rounding against the largest.
      mine.forEach((s, i) => expect(Math.abs(s - lib[i]!)).toBeLessThan(1e-13 * (1 + mine[0]!)));
      // Σσ² = ||A||_F².
      const fro = flat(a).reduce((acc, v) => acc + v * v, 0);
      expect(Math.abs(mine.reduce((acc, s) => acc + s * s, 0) - fro)).toBeLessThan(1e-9 * (1 + fro));
    }), { seed: SEED, numRuns: 100 });
  });

  it('flows.singularValues keeps a singular value 1e-6 times the largest to 1e-12 relative (the Gram matrix AᵀA lost it to ~1e-4)', () => {
    // Exact float64 entries and the 2×2 closed forms: σ_max = √((F² + √(F⁴ − 4·det²))/2) and
    // σ_min = |det|/σ_max, each to a few ulp (F² and det are exact here). Graded matrices (a row or
    // a column scaled by ~1e-6: D·B or B·D with B well conditioned) are where one-sided Jacobi is
    // accurate to ε relative (Demmel & Veselić 1992); two nearly parallel columns of equal size
    // (the last two) are not of that form, and there any SVD loses ε·κ, ~3e-11 here.
    const cases: [number[], number][] = [[[1, 1, 0, 2 ** -20], 1e-12], [[2 ** -21, 1, 0, 1], 1e-12], [[1, 0, 0, 1e-6], 1e-12], [[1, 1, 1, 1 + 2 ** -20], 1e-9], [[0.5, -0.25, 1, -0.5 + 2 ** -22], 1e-9]];
    for (const [[a, b, c, d], tol] of cases) {
      const det = a! * d! - b! * c!, fro2 = a! * a! + b! * b! + c! * c! + d! * d!;
      const sMax = Math.sqrt((fro2 + Math.sqrt(fro2 * fro2 - 4 * det * det)) / 2), sMin = Math.abs(det) / sMax;
      expect(sMin / sMax).toBeLessThan(2e-6);
      // The matrix, a zero row under it (tall), and its transpose (wide).
      for (const [m, rows, cols] of [[[a!, b!, c!, d!], 2, 2], [[a!, b!, c!, d!, 0, 0], 3, 2], [[a!, c!, 0, b!, d!, 0], 2, 3]] as [number[], number, number][]) {
        const [g0, g1, ...rest] = flows.singularValues(m, rows, cols);
        expect(rest).toEqual([]);
        expect(Math.abs(g0! - sMax) / sMax, `σ_max of ${JSON.stringify(m)}`).toBeLessThan(1e-15);
        expect(Math.abs(g1! - sMin) / sMin, `σ_min of ${JSON.stringify(m)}`).toBeLessThan(tol);
      }
    }
    expect(flows.singularValues([1, NaN], 1, 2)).toEqual([NaN]);
    expect(flows.spectralNormExact(np.array([[0, 0], [0, 0]], 'float32'))).toBe(0);
  });
});

// ---- §3.2: power iteration and spectral normalisation --------------------------------------------

describe('power iteration and spectral normalisation (§3.2, §3.8.1)', () => {
  // Power iteration converges like (σ₂/σ₁)^{2k}; the convergence properties assume a spectral gap.
  const gapped = (a: Mat): boolean => {
    const s = svdValues(a);
    return s[0]! > 1e-2 && (s[1] ?? 0) <= 0.95 * s[0]!;
  };

  it('power iteration never overestimates σ₁ (uᵀWv ≤ ||W||₂) and, given a spectral gap, converges to it (float64 SVD)', () => {
    assertNoLeak(fc.property(matrixArb(1, 6, 1), fc.integer({ min: 0, max: 1 << 20 }), (a, seed) => {
      const sigma = svdValues(a)[0]!;
      fc.pre(sigma > 1e-2);
      scope(() => {
        const w = np.array(a, 'float32');
        const s0 = spectralNorm.init(random.key(seed), w);
        const few = spectralNorm.estimate(w, s0, 1).sigma.item() as number;
        const many = spectralNorm.estimate(w, s0, 100).sigma.item() as number;
        expect(few).toBeLessThanOrEqual(sigma * (1 + 1e-5));
        expect(many).toBeLessThanOrEqual(sigma * (1 + 1e-5));
        if (gapped(a)) expect(Math.abs(many - sigma) / sigma).toBeLessThan(1e-4);
        return null;
      });
    }), 40);
  });

  it('after soft or hard normalisation σ(Ŵ) ≤ c(1 + tol); hard normalisation gives σ(Ŵ) ≈ c', () => {
    assertNoLeak(fc.property(matrixArb(1, 6, 2), fc.double({ min: 0.3, max: 0.99, noNaN: true }), fc.integer({ min: 0, max: 1 << 20 }), (a, c, seed) => {
      fc.pre(gapped(a));
      scope(() => {
        const w = np.array(a, 'float32');
        const s0 = spectralNorm.init(random.key(seed), w);
        for (const mode of ['soft', 'hard'] as const) {
          const out = spectralNorm.apply(w, s0, { coeff: c, powerIterations: 100, mode });
          const after = svdValues(rows(out.w))[0]!;
          expect(after).toBeLessThanOrEqual(c * (1 + 1e-4));
          if (mode === 'hard') expect(Math.abs(after - c) / c).toBeLessThan(1e-4);
        }
        return null;
      });
    }), 30);
  });

  it('soft normalisation leaves W unchanged (bit for bit) when σ(W) ≤ c, and shrinks it to σ ≈ c otherwise', () => {
    assertNoLeak(fc.property(matrixArb(1, 6, 1), fc.double({ min: 0.3, max: 0.95, noNaN: true }), fc.double({ min: 0.05, max: 3, noNaN: true }), fc.integer({ min: 0, max: 1 << 20 }),
      (a, c, ratio, seed) => {
        const sigma = svdValues(a)[0]!;
        fc.pre(sigma > 1e-2 && Math.abs(ratio - 1) > 0.02 && (ratio < 1 || gapped(a)));
        // Rescale so that σ(W) = ratio·c.
        const scaled = a.map((r) => r.map((v) => (v * ratio * c) / sigma));
        scope(() => {
          const w = np.array(scaled, 'float32');
          const out = spectralNorm.apply(w, spectralNorm.init(random.key(seed), w), { coeff: c, powerIterations: 100, mode: 'soft' });
          if (ratio < 1) expect(flat(rows(out.w))).toEqual(flat(rows(w)));
          else expect(Math.abs(svdValues(rows(out.w))[0]! - c) / c).toBeLessThan(1e-4);
          return null;
        });
      }), 30);
  });
});

// ---- §3.7: det(exp A) = exp(tr A) ------------------------------------------------------------------

describe('det(exp A) = exp(tr A) and the matrix exponential (§3.7, §3.8.8)', () => {
  it('det(expm A) = exp(tr A) > 0 for random A', () => {
    assertNoLeak(fc.property(squareArb(1, 6, 1.5), (a) => {
      scope(() => {
        const A = np.array(a, 'float32');
        const [sign, logabsdet] = np.linalg.slogdet(np.linalg.expm(A));
        const tr = a.reduce((acc, r, i) => acc + r[i]!, 0);
        expect(sign.item()).toBe(1);
        expect(Math.abs((logabsdet.item() as number) - tr)).toBeLessThan(2e-4 * (1 + Math.abs(tr)));
        return null;
      });
    }), 100);
  });

  it('expm(A)·expm(−A) = I', () => {
    assertNoLeak(fc.property(squareArb(1, 6, 1), (a) => {
      scope(() => {
        const A = np.array(a, 'float32');
        const prod = rows(np.matmul(np.linalg.expm(A), np.linalg.expm(np.negative(A))));
        prod.forEach((r, i) => r.forEach((v, j) => expect(Math.abs(v - (i === j ? 1 : 0))).toBeLessThan(1e-4)));
        return null;
      });
    }), 100);
  });

  it('f(t) = det expm(tA) satisfies f(t + s) = f(t)·f(s) (and f(t) = exp(t·tr A))', () => {
    assertNoLeak(fc.property(squareArb(1, 5, 1), fc.double({ min: -1, max: 1, noNaN: true }), fc.double({ min: -1, max: 1, noNaN: true }), (a, t, s) => {
      scope(() => {
        const A = np.array(a, 'float32');
        const logf = (u: number): number => np.linalg.slogdet(np.linalg.expm(np.multiply(A, u)))[1].item() as number;
        const tr = a.reduce((acc, r, i) => acc + r[i]!, 0);
        const [ft, fs, fts] = [logf(t), logf(s), logf(t + s)];
        expect(Math.abs(fts - (ft + fs))).toBeLessThan(3e-4 * (1 + Math.abs(tr)));
        expect(Math.abs(fts - (t + s) * tr)).toBeLessThan(2e-4 * (1 + Math.abs(tr)));
        return null;
      });
    }), 60);
  });

  it('expm(A + B) = expm(A)·expm(B) when AB = BA (B a polynomial in A), but not in general', () => {
    assertNoLeak(fc.property(squareArb(1, 5, 0.8), fc.double({ min: -1, max: 1, noNaN: true }), fc.double({ min: -0.5, max: 0.5, noNaN: true }), (a, alpha, beta) => {
      scope(() => {
        const A = np.array(a, 'float32');
        const B = np.add(np.multiply(A, alpha), np.multiply(np.matmul(A, A), beta));
        const lhs = flat(rows(np.linalg.expm(np.add(A, B))));
        const rhs = flat(rows(np.matmul(np.linalg.expm(A), np.linalg.expm(B))));
        const scale = Math.max(1, ...rhs.map(Math.abs));
        lhs.forEach((v, i) => expect(Math.abs(v - rhs[i]!)).toBeLessThan(2e-4 * scale));
        return null;
      });
    }), 60);
    // The nilpotent pair E12, E21 does not commute: exp(E12 + E21) has cosh 1 on the diagonal,
    // exp(E12)·exp(E21) = [[2, 1], [1, 1]].
    scope(() => {
      const sum = rows(np.linalg.expm(np.array([[0, 1], [1, 0]], 'float32')));
      const prod = rows(np.matmul(np.linalg.expm(np.array([[0, 1], [0, 0]], 'float32')), np.linalg.expm(np.array([[0, 0], [1, 0]], 'float32'))));
      expect(sum[0]![0]).toBeCloseTo(Math.cosh(1), 5);
      expect(prod).toEqual([[2, 1], [1, 1]]);
      return null;
    });
  });
});

// ---- §3.4: ln det(I + A) as a power series ---------------------------------------------------------

describe('ln det(I + A) = Σ (−1)^{k+1} tr(A^k)/k (§3.4, §3.8.4)', () => {
  it('matches the reference numbers of §3.8.4 (d = 4, L = 0.5, n = 5: bound 1.8e-2)', () => {
    expect(flows.truncationBound(4, 0.5, 5)).toBeCloseTo(4 * (Math.log(2) - (0.5 + 0.125 + 0.125 / 3 + 0.015625 + 0.00625)), 12);
    expect(flows.truncationBound(4, 0.5, 5)).toBeCloseTo(0.0184, 4);
    expect(flows.truncationBound(3, 1, 5)).toBe(Infinity);
  });

  it('the truncated series is within the weak bound d·(−ln(1−L) − Σ_{k≤n} L^k/k) of slogdet(I + A), ||A||₂ = L < 1', () => {
    assertNoLeak(fc.property(squareArb(1, 6, 1), fc.double({ min: 0.05, max: 0.9, noNaN: true }), fc.integer({ min: 1, max: 12 }), (a, L, n) => {
      const sigma = svdValues(a)[0]!;
      fc.pre(sigma > 1e-3);
      const scaled = a.map((r) => r.map((v) => (v * L) / sigma));
      const d = a.length;
      scope(() => {
        const A = np.array(scaled, 'float32');
        const series = flows.powerSeriesLogdet(A, n).item() as number;
        const exact = np.linalg.slogdet(np.add(np.eye(d), A))[1].item() as number;
        expect(Math.abs(series - exact)).toBeLessThanOrEqual(flows.truncationBound(d, L, n) + 1e-5 * d);
        return null;
      });
    }), 100);
  });
});

// ---- §3.4: Hutchinson's estimator -------------------------------------------------------------------

/** Quadratic forms uᵀAu for M probes [M, d], read back as float64. */
function quadraticForms(A: NDArray, u: NDArray): number[] {
  return Array.from(np.sum(np.multiply(np.matmul(u, A), u), -1).dataSync());
}

function meanVar(xs: number[]): [number, number] {
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  return [m, xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1)];
}

describe("Hutchinson's trace estimator (§3.4, §3.8.5)", () => {
  const M = 40_000;
  it('E[uᵀAu] = tr A; for symmetric A, Var = 2||A||_F² (Gaussian) and 2(||A||_F² − Σ A_ii²) (Rademacher)', () => {
    assertNoLeak(fc.property(squareArb(1, 5, 1), fc.integer({ min: 0, max: 1 << 20 }), (a, seed) => {
      const d = a.length;
      const sym = a.map((r, i) => r.map((v, j) => (v + a[j]![i]!) / 2));
      const fro2 = flat(sym).reduce((acc, v) => acc + v * v, 0);
      const diag2 = sym.reduce((acc, r, i) => acc + r[i]! ** 2, 0);
      const tr = sym.reduce((acc, r, i) => acc + r[i]!, 0);
      scope(() => {
        const A = np.array(sym, 'float32');
        for (const probe of ['gaussian', 'rademacher'] as const) {
          const u = np.reshape(flows.probes(random.key(seed), [M, d], 1, probe), [M, d]);
          const [mean, variance] = meanVar(quadraticForms(A, u));
          const expectedVar = probe === 'gaussian' ? 2 * fro2 : 2 * (fro2 - diag2);
          // Unbiased: within 6 standard errors (plus float32 rounding).
          expect(Math.abs(mean - tr)).toBeLessThanOrEqual(6 * Math.sqrt(expectedVar / M) + 1e-4 * (1 + Math.abs(tr)));
          // The sample variance of a quadratic form has relative s.e. ≤ √(14/M) ≈ 1.9 % here.
          expect(Math.abs(variance - expectedVar)).toBeLessThanOrEqual(0.12 * expectedVar + 1e-6 * (1 + fro2));
        }
        return null;
      });
    }), 15);
  });

  it('Rademacher probes are exact for diagonal A (zero variance)', () => {
    scope(() => {
      const A = np.diag(np.array([0.5, -1.25, 2]));
      const forms = quadraticForms(A, np.reshape(flows.probes(random.key(3), [64, 3], 1, 'rademacher'), [64, 3]));
      forms.forEach((v) => expect(v).toBeCloseTo(1.25, 6));
      return null;
    });
  });
});

// ---- derivative rules ---------------------------------------------------------------------------------

describe('derivatives of the linear-algebra primitives', () => {
  const wellConditioned = squareArb(1, 4, 1).map((a) => a.map((r, i) => r.map((v, j) => v * 0.5 + (i === j ? 2 : 0))));

  it('∇_A ln|det A| = A^{-T} and ∇_A ln det expm(A) = I (since ln det expm A = tr A)', () => {
    assertNoLeak(fc.property(wellConditioned, (a) => {
      scope(() => {
        const A = np.array(a, 'float32');
        const g1 = rows(grad((m: NDArray) => np.linalg.slogdet(m)[1])(A));
        const invT = rows(np.transpose(np.linalg.inv(A)));
        flat(g1).forEach((v, i) => expect(Math.abs(v - flat(invT)[i]!)).toBeLessThan(1e-4));
        const g2 = rows(grad((m: NDArray) => np.linalg.slogdet(np.linalg.expm(m))[1])(np.multiply(A, 0.5)));
        g2.forEach((r, i) => r.forEach((v, j) => expect(Math.abs(v - (i === j ? 1 : 0))).toBeLessThan(2e-4)));
        const inv64 = matmul64(a, rows(np.linalg.inv(A)));
        inv64.forEach((r, i) => r.forEach((v, j) => expect(Math.abs(v - (i === j ? 1 : 0))).toBeLessThan(1e-5)));
        return null;
      });
    }), 40);
  });

  it("∇ det A is the adjugate's transpose (the cofactor matrix), at singular matrices of every rank too (JAX's cofactor rule)", () => {
    /** det by Laplace expansion in float64: exact for the small integer matrices below. */
    const cofactors = (m: Mat): Mat => m.map((_, i) => m.map((_, j) => ((i + j) % 2 ? -1 : 1) * laplaceDet(m.filter((_, r) => r !== i).map((r) => r.filter((_, c) => c !== j)))));
    // A = B·C with B n×r and C r×n small integers: rank ≤ r, exact in float32.
    const lowRank = fc.integer({ min: 1, max: 5 }).chain((n) => fc.integer({ min: 0, max: n }).chain((r) => {
      const ints = (rowsN: number, colsN: number) => fc.array(fc.array(fc.integer({ min: -3, max: 3 }), { minLength: colsN, maxLength: colsN }), { minLength: rowsN, maxLength: rowsN });
      return fc.tuple(ints(n, r), ints(r, n)).map(([b, c]) =>
        b.map((row) => Array.from({ length: n }, (_, j) => row.reduce((acc, v, k) => acc + v * c[k]![j]!, 0))));
    }));
    assertNoLeak(fc.property(lowRank, (a) => {
      scope(() => {
        const A = np.array(a, 'float32');
        const want = cofactors(a);
        const scale = Math.max(1, ...flat(want).map(Math.abs));
        expect(np.linalg.det(A).item()).toBeCloseTo(laplaceDet(a), 6);
        const g = rows(grad((m: NDArray) => np.linalg.det(m))(A));
        flat(g).forEach((v, i) => expect(Math.abs(v - flat(want)[i]!)).toBeLessThan(1e-6 * scale));
        return null;
      });
    }), 120);
    scope(() => {
      // The rank-one adjugate of [[0, 1], [0, 0]] (where a first zero pivot stops partial pivoting).
      expect(flat(rows(grad((m: NDArray) => np.linalg.det(m))(np.array([[0, 1], [0, 0]], 'float32')))).map((v) => v + 0)).toEqual([0, 0, -1, 0]);
    });
  });

  it('hessian(det) is finite and exact at singular matrices of every rank: ∂²det/∂A_ij∂A_kl is det(A with rows i and k replaced by e_j and e_l)', () => {
    const unit = (n: number, j: number) => Array.from({ length: n }, (_, c) => (c === j ? 1 : 0));
    /** det is linear in each row: its second derivative in rows i ≠ k replaces both by unit rows (0 for i = k). */
    const hessian64 = (a: Mat): number[] => {
      const n = a.length, out: number[] = [];
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) for (let k = 0; k < n; k++) for (let l = 0; l < n; l++) {
        out.push(i === k ? 0 : laplaceDet(a.map((r, q) => (q === i ? unit(n, j) : q === k ? unit(n, l) : r))));
      }
      return out;
    };
    // A = B·C with B n×r and C r×n small integers (exact in float32), r from n − 2 to n: singular of rank n − 1 and n − 2 mostly.
    const lowRank = fc.integer({ min: 1, max: 4 }).chain((n) => fc.integer({ min: Math.max(0, n - 2), max: n }).chain((r) => {
      const ints = (rowsN: number, colsN: number) => fc.array(fc.array(fc.integer({ min: -3, max: 3 }), { minLength: colsN, maxLength: colsN }), { minLength: rowsN, maxLength: rowsN });
      return fc.tuple(ints(n, r), ints(r, n)).map(([b, c]) => b.map((row) => Array.from({ length: n }, (_, j) => row.reduce((acc, v, k) => acc + v * c[k]![j]!, 0))));
    }));
    assertNoLeak(fc.property(lowRank, fc.integer({ min: 0, max: 1 << 20 }), (a, seed) => {
      scope(() => {
        const A = np.array(a, 'float32');
        const want = hessian64(a);
        const scale = Math.max(1, ...want.map(Math.abs));
        const got = Array.from(hessian((m: NDArray) => np.linalg.det(m))(A).dataSync());
        got.forEach((v, q) => expect(Math.abs(v - want[q]!), `entry ${q} of ${JSON.stringify(a)}: ${v} vs ${want[q]}`).toBeLessThan(2e-5 * scale));
        // (Finite differences of float32 det carry ~1e-5 of noise where the exact Hessian entry is 0.)
        checkGrads((m: NDArray) => np.linalg.det(m), [A], { order: 2, seed, atol: 1e-4 });
        return null;
      });
    }), 40);
    scope(() => {
      // Closed forms: det of 2×2 is ad − bc, whose Hessian is constant, here at the zero matrix and at a rank-one one.
      const h2 = [0, 0, 0, 1, 0, 0, -1, 0, 0, -1, 0, 0, 1, 0, 0, 0];
      for (const a of [[[0, 0], [0, 0]], [[1, 2], [2, 4]]]) {
        expect(Array.from(hessian((m: NDArray) => np.linalg.det(m))(np.array(a, 'float32')).dataSync()).map((v) => Math.round(v * 1e5) / 1e5 + 0)).toEqual(h2);
      }
      return null;
    });
  });

  it("det's Hessian-vector product is exact at rank n, n − 1 and n − 2 and zero below (n ≤ 6): forward-over-reverse, reverse-over-reverse, under jit and vmap", () => {
    const unit = (n: number, j: number) => Array.from({ length: n }, (_, c) => (c === j ? 1 : 0));
    // ∂²det/∂A_ij∂A_kl = det(A with rows i, k replaced by e_j, e_l) (0 for i = k), and det is linear
    // in row k: (H·T)_ij = Σ_{k≠i} det(A with row i replaced by e_j and row k by T's row k).
    const hvp64 = (a: Mat, t: Mat): Mat => a.map((_, i) => a.map((__, j) => a.reduce((acc, ___, k) => (k === i ? acc : acc + laplaceDet(a.map((r, q) => (q === i ? unit(a.length, j) : q === k ? t[k]! : r)))), 0)));
    const ints = (rowsN: number, colsN: number, lim: number) => fc.array(fc.array(fc.integer({ min: -lim, max: lim }), { minLength: colsN, maxLength: colsN }), { minLength: rowsN, maxLength: rowsN });
    // A = B·C (B n×r, C r×n small integers, exact in float32) with r from n − 3 to n; two of them, to stack under vmap.
    const lowRank = (n: number) => fc.integer({ min: Math.max(0, n - 3), max: n }).chain((r) => fc.tuple(ints(n, r, 2), ints(r, n, 2)).map(([b, c]) => b.map((row) => Array.from({ length: n }, (_, j) => row.reduce((acc, v, k) => acc + v * c[k]![j]!, 0)))));
    const cases = fc.integer({ min: 3, max: 6 }).chain((n) => fc.tuple(lowRank(n), lowRank(n), ints(n, n, 2)));
    const hvp = (m: NDArray, t: NDArray) => jvp((x: NDArray) => grad((y: NDArray) => np.linalg.det(y))(x), [m], [t])[1];
    // ⟨∇det(x), T⟩'s gradient is H·T too (H is symmetric): this goes through adjugate_tangent's transpose.
    const revRev = (m: NDArray, t: NDArray) => grad((x: NDArray) => np.sum(np.multiply(grad((y: NDArray) => np.linalg.det(y))(x), t)))(m);
    assertNoLeak(fc.property(cases, ([a1, a2, t]) => {
      scope(() => {
        const jitted = jit(hvp);
        const A1 = np.array(a1, 'float32'), A2 = np.array(a2, 'float32'), T = np.array(t, 'float32');
        const want1 = hvp64(a1, t), want2 = hvp64(a2, t);
        const scale = Math.max(1, ...want1.flat().map(Math.abs), ...want2.flat().map(Math.abs));
        const check = (got: Mat, want: Mat, label: string) => got.forEach((row, i) => row.forEach((v, j) => expect(Math.abs(v - want[i]![j]!), `${label} ${i},${j} at ${JSON.stringify(a1)}: ${v} vs ${want[i]![j]}`).toBeLessThanOrEqual(1e-6 * scale)));
        check(rows(hvp(A1, T)), want1, 'eager');
        check(rows(jitted(A1, T)), want1, 'jit');
        jitted.clearCache(); // the cache holds the traced program's constants
        check(rows(revRev(A1, T)), want1, 'reverse over reverse');
        const stacked = vmap(hvp, { inAxes: [0, null] })(np.stack([A1, A2]), T).toArray() as Mat[];
        check(stacked[0]!, want1, 'vmap 0');
        check(stacked[1]!, want2, 'vmap 1');
        return null;
      });
    }), 30);
  });

  it("det's third derivative is finite and exact at invertible matrices whose singular values repeat (I, rotations, ±1 diagonals), forward and reverse", () => {
    /** D³det(A)[T, S, R]: det(A + aT + bS + cR) has degree ≤ 4 (n ≤ 4), so the abc coefficient is exactly the 8-point mixed central difference at step 1. */
    const third64 = (a: Mat, t: Mat, s: Mat, r: Mat): number => {
      let acc = 0;
      for (const x of [1, -1]) for (const y of [1, -1]) for (const z of [1, -1]) acc += x * y * z * laplaceDet(a.map((row, i) => row.map((v, j) => v + x * t[i]![j]! + y * s[i]![j]! + z * r[i]![j]!)));
      return acc / 8;
    };
    const unitMat = (n: number, i: number, j: number): Mat => Array.from({ length: n }, (_, p) => Array.from({ length: n }, (__, q) => (p === i && q === j ? 1 : 0)));
    const c = 0.6, sn = 0.8;
    const points: Mat[] = [
      [[1, 0, 0], [0, 1, 0], [0, 0, 1]],
      [[c, -sn, 0], [sn, c, 0], [0, 0, 1]],
      [[2, 0, 0], [0, -2, 0], [0, 0, 1]],
      [[0, 1, 0, 0], [-1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]],
      [[1, 2, 0], [0, 1, 3], [1, 0, 1]],
    ];
    const ints = (n: number) => fc.array(fc.array(fc.integer({ min: -2, max: 2 }), { minLength: n, maxLength: n }), { minLength: n, maxLength: n });
    const dirs = fc.tuple(ints(4), ints(4), ints(4));
    assertNoLeak(fc.property(fc.integer({ min: 0, max: points.length - 1 }), dirs, (p, [t4, s4, w4]) => {
      scope(() => {
        const a = points[p]!, n = a.length;
        const cut = (m: Mat) => m.slice(0, n).map((r) => r.slice(0, n));
        const t = cut(t4), s = cut(s4), w = cut(w4);
        const want = a.map((_, i) => a.map((__, j) => third64(a, t, s, unitMat(n, i, j)))); // ∇_A D²det[T, S]
        const scale = Math.max(1, ...want.flat().map(Math.abs));
        const A = np.array(a, 'float32'), T = np.array(t, 'float32'), S = np.array(s, 'float32'), W = np.array(w, 'float32');
        const hvp = (m: NDArray) => jvp((x: NDArray) => grad((y: NDArray) => np.linalg.det(y))(x), [m], [T])[1];
        const fwd = rows(jvp(hvp, [A], [S])[1]);
        fwd.forEach((row, i) => row.forEach((v, j) => expect(Math.abs(v - want[i]![j]!), `forward ${i},${j} at ${JSON.stringify(a)}: ${v} vs ${want[i]![j]}`).toBeLessThanOrEqual(2e-5 * scale)));
        // Reverse: ∇_A ⟨H(A)·T, W⟩ = ∇_A D²det[T, W].
        const wantRev = a.map((_, i) => a.map((__, j) => third64(a, t, w, unitMat(n, i, j))));
        const scaleRev = Math.max(1, ...wantRev.flat().map(Math.abs));
        const rev = rows(grad((m: NDArray) => np.sum(np.multiply(hvp(m), W)))(A));
        rev.forEach((row, i) => row.forEach((v, j) => expect(Math.abs(v - wantRev[i]![j]!), `reverse ${i},${j} at ${JSON.stringify(a)}: ${v} vs ${wantRev[i]![j]}`).toBeLessThanOrEqual(2e-5 * scaleRev)));
        return null;
      });
    }), 25);
  });

  it("det's gradient and Hessian-vector product round to ±∞ or 0, not NaN, where the cofactors overflow even float64 (12×12 at scale 1e35)", () => {
    // adj(cM) = c¹¹·adj(M) and d adj(cM)[T] = c¹⁰·d adj(M)[T]: past 1e308 the kernels' products of
    // pivots were ∞, and ∞·0 made NaNs of every entry (the true values are finite, ±∞ once rounded).
    const n = 12, c = 1e35;
    const eye = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (__, j) => (i === j ? 1 : 0)));
    const ones = eye.map((r) => r.map(() => 1));
    const cases: { m: Mat; adj: (i: number, j: number) => number; tangent: (i: number, j: number) => number }[] = [
      // adj(I) = I; d adj(I)[I] = tr(I)·I − I = (n − 1)·I.
      { m: eye, adj: (i, j) => (i === j ? Infinity : 0), tangent: (i, j) => (i === j ? Infinity : 0) },
      // M = I + J: adj(M + εI) = (1 + ε)ⁿ⁻²((1 + ε + n)·I − J): adj(M) = (n + 1)I − J and d adj(M)[I] = ((n − 2)n + 1)I − (n − 2)J.
      { m: eye.map((r, i) => r.map((v, j) => v + ones[i]![j]!)), adj: (i, j) => (i === j ? Infinity : -Infinity), tangent: (i, j) => (i === j ? Infinity : -Infinity) },
    ];
    assertNoLeak(fc.property(fc.integer({ min: 0, max: cases.length - 1 }), (k) => {
      scope(() => {
        const { m, adj, tangent } = cases[k]!;
        const A = np.multiply(np.array(m, 'float32'), c), T = np.array(eye, 'float32');
        expect(np.linalg.det(A).item()).toBe(Infinity); // (v + 0 below: −0 and +0 alike)
        const g = rows(grad((x: NDArray) => np.linalg.det(x))(A)); // adj(A)ᵀ
        const h = rows(jvp((x: NDArray) => grad((y: NDArray) => np.linalg.det(y))(x), [A], [T])[1]); // d adj(A)[T]ᵀ
        g.forEach((row, i) => row.forEach((v, j) => expect(v + 0, `gradient ${i},${j}`).toBe(adj(j, i))));
        h.forEach((row, i) => row.forEach((v, j) => expect(v + 0, `hvp ${i},${j}`).toBe(tangent(j, i))));
        return null;
      });
    }), 2);
  });

  it("det's third derivative keeps its accuracy near singular 4×4 and 5×5 matrices (a row the sum of the others plus 2⁻⁸ to 2⁻¹⁴), forward, reverse, jit and vmap", () => {
    // Through float32 A⁻¹ = adj/det the O(1/σ²) terms cancelled to O(1) with cond²·6e−8 errors: 60% off at det ≈ 0.008.
    const third64 = (a: Mat, t: Mat, s: Mat, r: Mat): number => {
      // The abc coefficient of det(A + aT + bS + cR): R = E_ij makes it linear in c (so ±1 is exact), and
      // what is left has degree ≤ 4 in a and in b, where f′(0) = (8(f(1) − f(−1)) − (f(2) − f(−2)))/12 is exact.
      let acc = 0;
      const ab: [number, number][] = [[1, 8 / 12], [-1, -8 / 12], [2, -1 / 12], [-2, 1 / 12]];
      for (const [x, wx] of ab) for (const [y, wy] of ab) for (const [z, wz] of [[1, 0.5], [-1, -0.5]] as const) acc += wx * wy * wz * laplaceDet(a.map((row, i) => row.map((v, j) => v + x * t[i]![j]! + y * s[i]![j]! + z * r[i]![j]!)));
      return acc;
    };
    const ints = (n: number) => fc.array(fc.array(fc.integer({ min: -2, max: 2 }), { minLength: n, maxLength: n }), { minLength: n, maxLength: n });
    assertNoLeak(fc.property(fc.integer({ min: 4, max: 5 }).chain((n) => fc.tuple(fc.constant(n), ints(n), ints(n), ints(n), ints(n), fc.integer({ min: 8, max: 14 }))), ([n, b, t, s, w, e]) => {
      scope(() => {
        // Rows 0..n−2 of B + 10I (diagonally dominant: invertible), the last row their sum plus 2⁻ᵉ·e_{n−1}: det = 2⁻ᵉ·det(leading block).
        const top = b.slice(0, n - 1).map((r, i) => r.map((v, j) => v + (i === j ? 10 : 0)));
        const a: Mat = [...top, top[0]!.map((_, j) => top.reduce((acc, r) => acc + r[j]!, 0) + (j === n - 1 ? 2 ** -e : 0))];
        const unitMat = (i: number, j: number): Mat => a.map((_, p) => a.map((__, q) => (p === i && q === j ? 1 : 0)));
        const want = a.map((_, i) => a.map((__, j) => third64(a, t, s, unitMat(i, j))));
        const wantRev = a.map((_, i) => a.map((__, j) => third64(a, t, w, unitMat(i, j))));
        const A = np.array(a, 'float32'), T = np.array(t, 'float32'), S = np.array(s, 'float32'), W = np.array(w, 'float32');
        const hvp = (m: NDArray) => jvp((x: NDArray) => grad((y: NDArray) => np.linalg.det(y))(x), [m], [T])[1];
        const fwd = (m: NDArray) => jvp(hvp, [m], [S])[1];
        const check = (got: Mat, expected: Mat, label: string) => {
          const scale = Math.max(1, ...expected.flat().map(Math.abs));
          got.forEach((row, i) => row.forEach((v, j) => expect(Math.abs(v - expected[i]![j]!), `${label} ${i},${j} at ${JSON.stringify(a)}: ${v} vs ${expected[i]![j]}`).toBeLessThanOrEqual(1e-4 * scale)));
        };
        check(rows(fwd(A)), want, 'forward');
        check(rows(grad((m: NDArray) => np.sum(np.multiply(hvp(m), W)))(A)), wantRev, 'reverse');
        check(rows(jit(fwd)(A)), want, 'jit');
        check((vmap(fwd)(np.stack([A, A])).toArray() as Mat[])[1]!, want, 'vmap');
        // ∇_T ⟨D³det[T, S, ·], W⟩ = D³det[·, S, W]: the transpose in the other tangent.
        const wantT = a.map((_, i) => a.map((__, j) => third64(a, s, w, unitMat(i, j))));
        check(rows(grad((u: NDArray) => np.sum(np.multiply(jvp((x: NDArray) => jvp((y: NDArray) => grad((z: NDArray) => np.linalg.det(z))(y), [x], [u])[1], [A], [S])[1], W)))(T)), wantT, 'reverse in T');
        return null;
      });
    }), 12);
  });

  it("det's fourth derivative at invertible 4×4 and 5×5 matrices (a constant for 4×4)", () => {
    // The abcd coefficient of det(A + aT + bS + cR + dQ) (total degree ≤ 5): f′(0) = (8(f(1) − f(−1)) − (f(2) − f(−2)))/12 in each is exact.
    const ab: [number, number][] = [[1, 8 / 12], [-1, -8 / 12], [2, -1 / 12], [-2, 1 / 12]];
    const fourth64 = (a: Mat, d: Mat[]): number => {
      let acc = 0;
      for (const [x, wx] of ab) for (const [y, wy] of ab) for (const [z, wz] of ab) for (const [u, wu] of ab) acc += wx * wy * wz * wu * laplaceDet(a.map((row, i) => row.map((v, j) => v + x * d[0]![i]![j]! + y * d[1]![i]![j]! + z * d[2]![i]![j]! + u * d[3]![i]![j]!)));
      return acc;
    };
    const ints = (n: number) => fc.array(fc.array(fc.integer({ min: -2, max: 2 }), { minLength: n, maxLength: n }), { minLength: n, maxLength: n });
    assertNoLeak(fc.property(fc.integer({ min: 4, max: 5 }).chain((n) => fc.tuple(ints(n), ints(n), ints(n), ints(n))), ([b, t, s, r]) => {
      scope(() => {
        const a = b.map((row, i) => row.map((v, j) => v + (i === j ? 5 : 0)));
        const unitMat = (i: number, j: number): Mat => a.map((_, p) => a.map((__, q) => (p === i && q === j ? 1 : 0)));
        const want = a.map((_, i) => a.map((__, j) => fourth64(a, [t, s, r, unitMat(i, j)])));
        const scale = Math.max(1, ...want.flat().map(Math.abs));
        const [A, T, S, R] = [a, t, s, r].map((m) => np.array(m, 'float32')) as [NDArray, NDArray, NDArray, NDArray];
        const hvp = (m: NDArray) => jvp((x: NDArray) => grad((y: NDArray) => np.linalg.det(y))(x), [m], [T])[1];
        const third = (m: NDArray) => jvp(hvp, [m], [S])[1];
        rows(jvp(third, [A], [R])[1]).forEach((row, i) => row.forEach((v, j) => expect(Math.abs(v - want[i]![j]!), `${i},${j} at ${JSON.stringify(a)}: ${v} vs ${want[i]![j]}`).toBeLessThanOrEqual(1e-4 * scale)));
        return null;
      });
    }), 8);
  });

  it("det of a 3×3 matrix is cubic: its third derivative is the same finite constant at singular matrices (rank 2, 1, 0) as anywhere, forward and reverse", () => {
    // It went through A⁻¹ = adj/det: NaN at every singular 3×3, where D³det[T, S, R] does not depend on A.
    /** D³det[T, S, R] of a 3×3: the abc coefficient of det(A + aT + bS + cR), exactly the 8-point mixed difference at step 1 (degree 3). */
    const third64 = (t: Mat, s: Mat, r: Mat): number => {
      let acc = 0;
      for (const x of [1, -1]) for (const y of [1, -1]) for (const z of [1, -1]) acc += x * y * z * laplaceDet(t.map((row, i) => row.map((v, j) => x * v + y * s[i]![j]! + z * r[i]![j]!)));
      return acc / 8;
    };
    const unitMat = (i: number, j: number): Mat => [0, 1, 2].map((p) => [0, 1, 2].map((q) => (p === i && q === j ? 1 : 0)));
    const points: Mat[] = [
      [[1, 2, 3], [4, 5, 6], [7, 8, 9]],
      [[1, 2, 3], [2, 4, 6], [-1, -2, -3]],
      [[0, 0, 0], [0, 0, 0], [0, 0, 0]],
      [[1, 0, 0], [0, 0, 0], [0, 0, 0]],
    ];
    const ints = fc.array(fc.array(fc.integer({ min: -3, max: 3 }), { minLength: 3, maxLength: 3 }), { minLength: 3, maxLength: 3 });
    assertNoLeak(fc.property(fc.integer({ min: 0, max: points.length - 1 }), ints, ints, ints, (p, t, s, w) => {
      scope(() => {
        const a = points[p]!;
        const want = a.map((_, i) => a.map((__, j) => third64(t, s, unitMat(i, j))));
        const wantRev = a.map((_, i) => a.map((__, j) => third64(t, w, unitMat(i, j))));
        const A = np.array(a, 'float32'), T = np.array(t, 'float32'), S = np.array(s, 'float32'), W = np.array(w, 'float32');
        const hvp = (m: NDArray) => jvp((x: NDArray) => grad((y: NDArray) => np.linalg.det(y))(x), [m], [T])[1];
        const check = (got: Mat, expected: Mat, label: string) => got.forEach((row, i) => row.forEach((v, j) => expect(Math.abs(v - expected[i]![j]!), `${label} ${i},${j} at ${JSON.stringify(a)}: ${v} vs ${expected[i]![j]}`).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(expected[i]![j]!)))));
        check(rows(jvp(hvp, [A], [S])[1]), want, 'forward');
        check(rows(grad((m: NDArray) => np.sum(np.multiply(hvp(m), W)))(A)), wantRev, 'reverse');
        check(rows(jit((m: NDArray) => jvp(hvp, [m], [S])[1])(A)), want, 'jit forward');
        return null;
      });
    }), 25);
  });

  it('det of a 2×2 matrix is quadratic: its third derivative is 0 everywhere, also at I and at a rotation (repeated singular values), forward, reverse and under vmap', () => {
    // Through the SVD's vectors it was NaN wherever the singular values repeat.
    const H = (m: NDArray) => hessian((x: NDArray) => np.linalg.det(x))(m);
    const W = np.array([[[[1, 2], [3, 4]], [[-1, 0.5], [2, -3]]], [[[0.3, 1], [-2, 1]], [[4, -1], [0, 2]]]], 'float32');
    scope(() => {
      for (const a of [[[1, 0], [0, 1]], [[0, 1], [-1, 0]], [[0.6, 0.8], [-0.8, 0.6]], [[1, 2], [2, 4]], [[1, 2], [3, 4]]]) {
        const A = np.array(a, 'float32');
        expect(Array.from(jvp(H, [A], [np.array([[1, -2], [0.5, 3]], 'float32')])[1].dataSync()).map((v) => v + 0), `jvp of hessian at ${JSON.stringify(a)}`).toEqual(new Array<number>(16).fill(0));
        expect(Array.from(grad((m: NDArray) => np.sum(np.multiply(H(m), W)))(A).dataSync()).map((v) => v + 0), `grad of hessian at ${JSON.stringify(a)}`).toEqual([0, 0, 0, 0]);
        // The Hessian itself: ∂²(ad − bc) is constant.
        expect(Array.from(H(A).dataSync()).map((v) => v + 0)).toEqual([0, 0, 0, 1, 0, 0, -1, 0, 0, -1, 0, 0, 1, 0, 0, 0]);
      }
      const stack = np.array([[[1, 0], [0, 1]], [[0, 1], [-1, 0]]], 'float32');
      const third = vmap((m: NDArray) => jvp(H, [m], [np.ones([2, 2])])[1])(stack);
      expect(Array.from(third.dataSync()).map((v) => v + 0)).toEqual(new Array<number>(32).fill(0));
      return null;
    });
  });

  it('det\'s second derivative stays finite where the running product of the largest singular values leaves float32 (64×64, σ from 1e3 to 1e-3, det ≈ 1)', () => {
    // A diagonal matrix with those entries shuffled and some negated (the SVD sorts them and fixes
    // signs). Its Hessian-vector product has a closed form: with P_ij = Π_{l∉{i,j}} a_l,
    // d adj(A)[T] is −T_ij·P_ij off the diagonal and Σ_{k≠i} T_kk·P_ik on it; jvp(grad det) is its
    // transpose. Every P_ij is at most 1e6, but Π of the 32 largest σ is 1e48: multiplying the
    // singular values in descending order overflowed, and every entry came out NaN.
    const n = 64;
    const a = Array.from({ length: n }, (_, l) => Math.fround((l % 3 === 0 ? -1 : 1) * 10 ** (3 - (6 * ((l * 37) % n)) / (n - 1))));
    const t = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => Math.fround(Math.sin(7 * i + 3 * j + 1))));
    const p = (i: number, j: number) => a.reduce((acc, v, l) => (l === i || l === j ? acc : acc * v), 1);
    const dAdj = t.map((row, i) => row.map((v, j) => (i === j ? t.reduce((acc, r, k) => (k === i ? acc : acc + r[k]! * p(i, k)), 0) : -v * p(i, j))));
    const want = dAdj.map((row, i) => row.map((_, j) => dAdj[j]![i]!));
    const scale = Math.max(...want.flat().map(Math.abs));
    scope(() => {
      const A = np.array(a.map((v, i) => a.map((_, j) => (i === j ? v : 0))), 'float32');
      const hvp = (m: NDArray) => jvp((x: NDArray) => grad((y: NDArray) => np.linalg.det(y))(x), [m], [np.array(t, 'float32')])[1];
      const jitted = jit(hvp);
      for (const [label, f] of [['eager', hvp], ['jit', jitted]] as const) {
        const got = rows(f(A));
        got.forEach((row, i) => row.forEach((v, j) => expect(Math.abs(v - want[i]![j]!), `${label} entry ${i},${j}: ${v} vs ${want[i]![j]}`).toBeLessThan(1e-5 * scale)));
      }
      jitted.clearCache();
      // det = 1e60 is past float32, but every Hessian entry (±1e30, ±1e20, ±1e10 or 0) is not: the
      // products formed must be factors of those entries (a product of two σ, masked by a 0, was NaN).
      const d = [1e30, 1e20, 1e10];
      const h = Array.from(hessian((x: NDArray) => np.linalg.det(x))(np.array(d.map((v, i) => d.map((_, j) => (i === j ? v : 0))), 'float32')).dataSync());
      const rest = (i: number, k: number) => d.reduce((acc, v, l) => (l === i || l === k ? acc : acc * v), 1);
      // ∂²det/∂A_ij∂A_kl at a diagonal matrix: Π_{l∉{i,k}} d_l when j = i and l = k, minus that when j = k and l = i (i ≠ k).
      h.forEach((v, q) => {
        const [i, j, k, l] = [Math.floor(q / 27), Math.floor(q / 9) % 3, Math.floor(q / 3) % 3, q % 3];
        const want = i === k ? 0 : (i === j && k === l ? rest(i, k) : 0) - (j === k && l === i ? rest(i, k) : 0);
        expect(Math.abs(v - want), `entry ${[i, j, k, l].join()}: ${v} vs ${want}`).toBeLessThanOrEqual(1e-6 * Math.abs(want));
      });
      return null;
    });
  });

  it('slogdet, det, inv, solve and expm pass checkGrads (forward and reverse, second order for slogdet, det and expm)', () => {
    assertNoLeak(fc.property(wellConditioned, fc.integer({ min: 0, max: 1 << 20 }), (a, seed) => {
      scope(() => {
        const A = np.array(a, 'float32');
        const b = random.normal(random.key(seed), [a.length]);
        checkGrads((m: NDArray) => np.linalg.slogdet(m)[1], [A], { order: 2, seed });
        checkGrads((m: NDArray) => np.linalg.det(m), [A], { order: 2, seed });
        checkGrads((m: NDArray) => np.linalg.inv(m), [A], { order: 1, seed });
        checkGrads((m: NDArray, v: NDArray) => np.linalg.solve(m, v), [A, b], { order: 1, seed });
        checkGrads((m: NDArray) => np.linalg.expm(m), [np.multiply(A, 0.3)], { order: 2, seed });
        return null;
      });
    }), 8);
  });
});

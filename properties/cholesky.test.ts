// np.linalg.cholesky and np.linalg.solveTriangular (jax.numpy.linalg.cholesky and
// jax.scipy.linalg.solve_triangular): values against float64 references (L·Lᵀ = A, a plain
// Cholesky–Banachiewicz, Gaussian elimination on the explicit triangular matrix), their derivative
// rules (checkGrads to second order, the Gaussian log-likelihood's closed-form gradient), the
// transpose rule, batching (vmap against a loop), jit against eager, and the errors. Every property
// runs in a scope and checks that it leaves no tensors behind.
import * as tf from '@tensorflow/tfjs-core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LinAlgError, ShapeError, ValueError, grad, jit, makeJaxpr, np, scope, vjp, vmap, type NDArray } from '../src/index.js';
import { checkGrads } from '../src/testing/index.js';
import { assertNoLeak, expectClose, FC_SEED } from './helpers.js';
import { type Mat, cholesky64, transpose64, matmul64, solve64 } from './matrix64.js';

// ---- float64 references ---------------------------------------------------------------------------

/** The matrix solveTriangular solves with: a's triangle (ones on the diagonal with unitDiagonal), transposed with trans. */
function effectiveMatrix(a: Mat, lower: boolean, trans: boolean, unitDiagonal: boolean): Mat {
  const t = a.map((row, i) => row.map((v, j) => (i === j ? (unitDiagonal ? 1 : v) : (lower ? i > j : i < j) ? v : 0)));
  return trans ? transpose64(t) : t;
}

// ---- arbitraries -----------------------------------------------------------------------------------

const entries = (rowsN: number, colsN: number, range = 1) =>
  fc.array(fc.array(fc.double({ min: -range, max: range, noNaN: true }), { minLength: colsN, maxLength: colsN }), { minLength: rowsN, maxLength: rowsN });

/** A = B·Bᵀ/n + I: symmetric with eigenvalues in [1, 1 + n], so float32 rounding and finite-difference steps keep it positive definite. */
const spdFrom = (b: Mat): Mat => {
  const n = b.length;
  return matmul64(b, transpose64(b)).map((row, i) => row.map((v, j) => v / n + (i === j ? 1 : 0)));
};
const spdArb = (minN = 1, maxN = 5) => fc.integer({ min: minN, max: maxN }).chain((n) => entries(n, n)).map(spdFrom);

/** A triangular-solve case: a well-conditioned matrix whose unread parts hold garbage (big values), b vector or matrix. */
const triangularCase = fc.integer({ min: 1, max: 5 }).chain((n) => fc.record({
  a: entries(n, n, 0.5),
  garbage: entries(n, n, 100),
  diagonal: fc.array(fc.double({ min: 1, max: 2, noNaN: true }).chain((d) => fc.boolean().map((s) => (s ? d : -d))), { minLength: n, maxLength: n }),
  k: fc.integer({ min: 0, max: 3 }), // 0: a vector right-hand side
  lower: fc.boolean(),
  trans: fc.constantFrom(0, 1, 'N', 'T', 'C') as fc.Arbitrary<0 | 1 | 'N' | 'T' | 'C'>,
  unitDiagonal: fc.boolean(),
  seed: fc.integer({ min: 0, max: 1 << 20 }),
}).chain((c) => entries(n, Math.max(c.k, 1)).map((b) => ({ ...c, n, b }))));

/** a with the unread triangle (and, with unitDiagonal, the diagonal) replaced by garbage: the result must not change. */
function triangularMatrix(c: { n: number; a: Mat; garbage: Mat; diagonal: number[]; lower: boolean; unitDiagonal: boolean }): Mat {
  return c.a.map((row, i) => row.map((v, j) => {
    if (i === j) return c.unitDiagonal ? c.garbage[i]![j]! : c.diagonal[i]!;
    // Off-diagonal entries of the read triangle are scaled down so that the matrix stays well conditioned.
    return (c.lower ? i > j : i < j) ? v / c.n : c.garbage[i]![j]!;
  }));
}

const isTrans = (t: 0 | 1 | 2 | 'N' | 'T' | 'C'): boolean => t === 1 || t === 2 || t === 'T' || t === 'C';

const rows = (x: NDArray): Mat => x.toArray() as Mat;
const closeTo = (got: Mat, want: Mat, tol: number, label: string) => {
  const scale = Math.max(1, ...want.flat().map(Math.abs));
  got.flat().forEach((v, i) => expect(Math.abs(v - want.flat()[i]!), `${label} entry ${i}: ${v} vs ${want.flat()[i]}`).toBeLessThan(tol * scale));
};

// ---- cholesky ---------------------------------------------------------------------------------------

describe('np.linalg.cholesky', () => {
  it('L is lower triangular with a positive diagonal, L·Lᵀ = A, and L equals a float64 Cholesky (stacks too)', () => {
    const stackArb = fc.integer({ min: 1, max: 4 }).chain((n) => fc.array(entries(n, n), { minLength: 1, maxLength: 3 }).map((bs) => bs.map(spdFrom)));
    assertNoLeak(fc.tuple(stackArb, fc.boolean()), ([as, stacked]) => {
      const L = stacked ? np.linalg.cholesky(np.array(as, 'float32')) : np.linalg.cholesky(np.array(as[0]!, 'float32'));
      const Ls = stacked ? (L.toArray() as Mat[]) : [rows(L)];
      expect(L.shape).toEqual(stacked ? [as.length, as[0]!.length, as[0]!.length] : [as[0]!.length, as[0]!.length]);
      Ls.forEach((l, s) => {
        const a = as[s]!;
        l.forEach((row, i) => row.forEach((v, j) => {
          if (j > i) expect(v).toBe(0);
          if (j === i) expect(v).toBeGreaterThan(0);
        }));
        closeTo(matmul64(l, transpose64(l)), a, 2e-6, 'L·Lᵀ');
        closeTo(l, cholesky64(a), 2e-6, 'L against float64');
      });
    }, 60);
  });

  it('factors the symmetric part (A + Aᵀ)/2, as JAX does (symmetrize_input), so the upper triangle is read too', () => {
    assertNoLeak(fc.tuple(spdArb(), fc.integer({ min: 0, max: 1 << 20 })), ([a, seed]) => {
      // A nonsymmetric matrix with symmetric part `a`: add an antisymmetric S.
      const rng = fc.sample(entries(a.length, a.length, 0.5), { seed, numRuns: 1 })[0]!;
      const skew = rng.map((row, i) => row.map((v, j) => v - rng[j]![i]!));
      const nonsym = a.map((row, i) => row.map((v, j) => v + skew[i]![j]!));
      closeTo(rows(np.linalg.cholesky(np.array(nonsym, 'float32'))), cholesky64(a), 2e-6, 'cholesky of the symmetric part');
    }, 30);
  });

  it('log det A = 2·Σ log diag L equals slogdet', () => {
    const stackArb = fc.integer({ min: 1, max: 5 }).chain((n) => fc.array(entries(n, n, 2), { minLength: 2, maxLength: 3 }).map((bs) => bs.map(spdFrom)));
    assertNoLeak(stackArb, (as) => {
      const A = np.array(as, 'float32');
      const L = np.linalg.cholesky(A);
      const logdet = np.multiply(2, np.sum(np.log(np.linalg.diagonal(L)), -1));
      const [sign, logabs] = np.linalg.slogdet(A);
      expectClose(sign, as.map(() => 1), { label: 'sign' });
      expectClose(logdet, logabs, { rtol: 1e-5, atol: 1e-5, label: 'logdet' });
    }, 40);
  });

  it('a matrix that is not positive definite is a LinAlgError naming it (not NaNs as in JAX), under jit and vmap too; NaN input gives NaNs', () => {
    const before = tf.memory().numTensors;
    scope(() => {
      const indefinite = np.array([[1, 2], [2, 1]], 'float32');
      expect(() => np.linalg.cholesky(indefinite)).toThrow(LinAlgError);
      expect(() => np.linalg.cholesky(indefinite)).toThrow(/linalg\.cholesky: matrix \(2×2\) is not positive definite \(its leading 2×2 minor is not/);
      // Positive semidefinite is not enough (a zero pivot), and a negative diagonal fails at once.
      expect(() => np.linalg.cholesky(np.array([[1, 1], [1, 1]], 'float32'))).toThrow(/leading 2×2 minor/);
      expect(() => np.linalg.cholesky(np.array([[-1]], 'float32'))).toThrow(/leading 1×1 minor/);
      const stack = np.stack([np.eye(2), indefinite, np.eye(2)]);
      expect(() => np.linalg.cholesky(stack)).toThrow(/matrix 1 of the stack of 3 \(2×2\) is not positive definite/);
      expect(() => jit((m: NDArray) => np.linalg.cholesky(m))(stack)).toThrow(LinAlgError);
      expect(() => vmap((m: NDArray) => np.linalg.cholesky(m))(stack)).toThrow(LinAlgError);
      expect(() => grad((m: NDArray) => np.sum(np.linalg.cholesky(m)))(indefinite)).toThrow(LinAlgError);
      const withNaN = np.linalg.cholesky(np.array([[[1, NaN], [NaN, 1]], [[4, 0], [0, 9]]], 'float32'));
      expect((withNaN.toArray() as Mat[])[0]!.flat().every(Number.isNaN)).toBe(true);
      expect((withNaN.toArray() as Mat[])[1]).toEqual([[2, 0], [0, 3]]);
      // Empty matrices and empty stacks.
      expect(np.linalg.cholesky(np.zeros([0, 0])).shape).toEqual([0, 0]);
      expect(np.linalg.cholesky(np.zeros([0, 3, 3])).shape).toEqual([0, 3, 3]);
      return null;
    });
    expect(tf.memory().numTensors).toBe(before);
  });

  it('shapes that are not stacks of square matrices are ShapeErrors naming the op and the shape; ints are converted', () => {
    const before = tf.memory().numTensors;
    scope(() => {
      expect(() => np.linalg.cholesky(np.ones([2, 3]))).toThrow(ShapeError);
      expect(() => np.linalg.cholesky(np.ones([2, 3]))).toThrow('linalg.cholesky: expected square matrices [..., n, n] but got [2,3]');
      expect(() => np.linalg.cholesky(np.ones([4]))).toThrow('linalg.cholesky: expected a stack of matrices [..., n, n] (at least 2 dimensions) but got shape [4]');
      expect(() => np.linalg.cholesky(3)).toThrow(/linalg\.cholesky: expected a stack of matrices/);
      expect(rows(np.linalg.cholesky(np.array([[4, 2], [2, 2]])))).toEqual([[2, 0], [1, 1]]);
      return null;
    });
    expect(tf.memory().numTensors).toBe(before);
  });
});

// ---- solveTriangular -------------------------------------------------------------------------------

describe('np.linalg.solveTriangular', () => {
  it('matches elimination on the explicit triangular matrix, reading only its triangle (every lower/trans/unitDiagonal), and matches solve', () => {
    assertNoLeak(triangularCase, (c) => {
      const a = triangularMatrix(c);
      const tr = isTrans(c.trans);
      const m = effectiveMatrix(a, c.lower, tr, c.unitDiagonal);
      const b = c.b;
      const want = solve64(m, b);
      const B = c.k === 0 ? np.array(b.map((r) => r[0]!), 'float32') : np.array(b, 'float32');
      const x = np.linalg.solveTriangular(np.array(a, 'float32'), B, { lower: c.lower, trans: c.trans, unitDiagonal: c.unitDiagonal });
      expect(x.shape).toEqual(B.shape);
      const got = c.k === 0 ? (x.toArray() as number[]).map((v) => [v]) : rows(x);
      closeTo(got, want, 1e-5, 'substitution');
      // np.linalg.solve with the explicit matrix agrees.
      expectClose(x, np.linalg.solve(np.array(m, 'float32'), B), { rtol: 1e-4, atol: 1e-5, label: 'against solve' });
    }, 120);
  });

  it('the default is the upper triangle, untransposed (as SciPy and JAX)', () => {
    const before = tf.memory().numTensors;
    scope(() => {
      const a = np.array([[2, 1], [100, 4]], 'float32');
      expect(np.linalg.solveTriangular(a, np.array([5, 8], 'float32')).toArray()).toEqual([1.5, 2]);
      expect(np.linalg.solveTriangular(a, np.array([5, 8], 'float32'), { trans: 'T' }).toArray()).toEqual([2.5, 1.375]);
      return null;
    });
    expect(tf.memory().numTensors).toBe(before);
  });

  it('stacks broadcast as in solve; b with one axis fewer than a is a stack of vectors (JAX), a 1-D b a vector', () => {
    const arb = fc.record({ n: fc.integer({ min: 1, max: 4 }), s: fc.integer({ min: 1, max: 3 }), k: fc.integer({ min: 1, max: 3 }), seed: fc.integer({ min: 0, max: 1 << 20 }) });
    assertNoLeak(arb, ({ n, s, k, seed }) => {
      const [raw, bs] = fc.sample(fc.tuple(fc.array(entries(n, n, 0.5), { minLength: s, maxLength: s }), entries(s, n * k)), { seed, numRuns: 1 })[0]!;
      const as = raw.map((m) => m.map((row, i) => row.map((v, j) => (i === j ? 2 + v : v))));
      const A = np.array(as, 'float32');
      const ref = (i: number, rhs: Mat) => solve64(effectiveMatrix(as[i]!, true, false, false), rhs);
      // [s, n, n] with [s, n]: one vector per matrix.
      const vecs = np.array(bs.map((r) => r.slice(0, n)), 'float32');
      const xv = np.linalg.solveTriangular(A, vecs, { lower: true });
      expect(xv.shape).toEqual([s, n]);
      (xv.toArray() as number[][]).forEach((x, i) => closeTo(x.map((v) => [v]), ref(i, bs[i]!.slice(0, n).map((v) => [v])), 1e-5, 'vector stack'));
      // [s, n, n] with [n]: one vector for every matrix.
      const x1 = np.linalg.solveTriangular(A, vecs.at(0), { lower: true });
      expect(x1.shape).toEqual([s, n]);
      (x1.toArray() as number[][]).forEach((x, i) => closeTo(x.map((v) => [v]), ref(i, bs[0]!.slice(0, n).map((v) => [v])), 1e-5, 'broadcast vector'));
      // [1, n, n] with [s, n, k]: one matrix for every right-hand side.
      const mats = bs.map((r) => Array.from({ length: n }, (_, i) => r.slice(i * k, i * k + k)));
      const xm = np.linalg.solveTriangular(A.at([0, 1]), np.array(mats, 'float32'), { lower: true });
      expect(xm.shape).toEqual([s, n, k]);
      (xm.toArray() as Mat[]).forEach((x, i) => closeTo(x, ref(0, mats[i]!), 1e-5, 'broadcast matrix'));
    }, 40);
  });

  it('bad shapes and options are errors naming the op, the shapes and what was expected; a zero diagonal is a LinAlgError', () => {
    const before = tf.memory().numTensors;
    scope(() => {
      const L = np.array([[1, 0, 0], [2, 3, 0], [4, 5, 6]], 'float32');
      expect(() => np.linalg.solveTriangular(np.ones([2, 3]), np.ones([2]))).toThrow('linalg.solveTriangular: expected square matrices [..., n, n] but got [2,3]');
      expect(() => np.linalg.solveTriangular(L, np.ones([2]))).toThrow(ShapeError);
      expect(() => np.linalg.solveTriangular(L, np.ones([2]))).toThrow('linalg.solveTriangular: b of shape [2] does not match matrices [3,3]; expected b [..., 3] (one axis fewer than a, or 1-D) or [..., 3, k]');
      expect(() => np.linalg.solveTriangular(L, np.ones([2, 2, 3]))).toThrow(/b of shape \[2,2,3\] does not match matrices \[3,3\]/);
      expect(() => np.linalg.solveTriangular(np.ones([2, 3, 3]), np.ones([4, 3, 1]))).toThrow('linalg.solveTriangular: the stacks of a [2,3,3] and b [4,3,1] cannot be broadcast together ([2] vs [4])');
      expect(() => np.linalg.solveTriangular(L, np.ones([3]), { transA: 'T' } as never)).toThrow(ValueError);
      expect(() => np.linalg.solveTriangular(L, np.ones([3]), { transA: 'T' } as never)).toThrow("linalg.solveTriangular: unknown option 'transA' (did you mean 'trans'?); the options are trans, lower, unitDiagonal");
      expect(() => np.linalg.solveTriangular(L, np.ones([3]), { unit_diagonal: true } as never)).toThrow(/unknown option 'unit_diagonal' \(did you mean 'unitDiagonal'\?\)/);
      expect(() => np.linalg.solveTriangular(L, np.ones([3]), { trans: 'X' } as never)).toThrow(`linalg.solveTriangular: trans must be 0, 1, 2, 'N', 'T' or 'C', got "X"`);
      expect(() => np.linalg.solveTriangular(L, np.ones([3]), { lower: 1 } as never)).toThrow(/lower and unitDiagonal must be booleans, got lower 1/);
      const singular = np.array([[[1, 0], [1, 1]], [[1, 0], [1, 0]]], 'float32');
      expect(() => np.linalg.solveTriangular(singular, np.ones([2, 2]), { lower: true })).toThrow(LinAlgError);
      // The whole message: a hint about another caller (the derivative of qr) is that caller's to give.
      expect(() => np.linalg.solveTriangular(singular, np.ones([2, 2]), { lower: true })).toThrow(/^linalg\.solveTriangular: matrix 1 of the stack of 2 \(2×2\) is singular \(zero at diagonal 1\); expected a triangular matrix with a nonzero diagonal$/);
      expect(() => np.linalg.choSolve([singular, true], np.ones([2, 2, 1]))).toThrow(/nonzero diagonal$/);
      // With unitDiagonal the zero is never read.
      expect(np.linalg.solveTriangular(singular, np.ones([2, 2]), { lower: true, unitDiagonal: true }).toArray()).toEqual([[1, 0], [1, 0]]);
      return null;
    });
    expect(tf.memory().numTensors).toBe(before);
  });
});

// ---- derivatives -----------------------------------------------------------------------------------

describe('derivatives of cholesky and solveTriangular', () => {
  it('cholesky passes checkGrads to second order, on A itself and through a function that symmetrises', () => {
    assertNoLeak(fc.tuple(spdArb(1, 4), fc.integer({ min: 0, max: 1 << 20 })), ([a, seed]) => {
      const A = np.array(a, 'float32');
      checkGrads((m: NDArray) => np.linalg.cholesky(m), [A], { order: 2, seed });
      checkGrads((m: NDArray) => np.linalg.cholesky(np.multiply(0.5, np.add(m, np.swapaxes(m, -1, -2)))), [A], { order: 1, seed: seed + 1 });
    }, 8);
  });

  it('grad of a function of cholesky is symmetric; ∇ Σ log diag L = A⁻¹/2 (float64 inverse)', () => {
    assertNoLeak(spdArb(1, 5), (a) => {
      const g = rows(grad((m: NDArray) => np.sum(np.log(np.linalg.diagonal(np.linalg.cholesky(m)))))(np.array(a, 'float32')));
      const n = a.length;
      const inv = solve64(a, a.map((_, i) => a.map((__, j) => (i === j ? 1 : 0))));
      closeTo(g, inv.map((r) => r.map((v) => v / 2)), 1e-5, '∇ ½ log det');
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) expect(g[i]![j]).toBeCloseTo(g[j]![i]!, 6);
    }, 40);
  });

  it('solveTriangular passes checkGrads to second order in a and b (every lower/trans/unitDiagonal)', () => {
    assertNoLeak(triangularCase, (c) => {
      const a = np.array(triangularMatrix({ ...c, garbage: c.garbage.map((r) => r.map((v) => v / 100)) }), 'float32');
      const b = c.k === 0 ? np.array(c.b.map((r) => r[0]!), 'float32') : np.array(c.b, 'float32');
      const opts = { lower: c.lower, trans: c.trans, unitDiagonal: c.unitDiagonal };
      checkGrads((m: NDArray, v: NDArray) => np.linalg.solveTriangular(m, v, opts), [a, b], { order: 2, seed: c.seed });
    }, 16);
  });

  it('the derivative in a ignores the unread triangle (and the diagonal with unitDiagonal), as the value does', () => {
    assertNoLeak(triangularCase, (c) => {
      const a = triangularMatrix(c);
      const b = np.array(c.b, 'float32');
      const opts = { lower: c.lower, trans: c.trans, unitDiagonal: c.unitDiagonal };
      const g = rows(grad((m: NDArray) => np.sum(np.linalg.solveTriangular(m, b, opts)))(np.array(a, 'float32')));
      g.forEach((row, i) => row.forEach((v, j) => {
        const read = i === j ? !c.unitDiagonal : c.lower ? i > j : i < j;
        if (!read) expect(Math.abs(v), `entry (${i}, ${j})`).toBe(0);
      }));
    }, 40);
  });

  it('the transpose rule: the pullback in b solves with the other orientation of the same triangle, as one triangular_solve', () => {
    assertNoLeak(triangularCase, (c) => {
      const aRows = triangularMatrix(c);
      const a = np.array(aRows, 'float32');
      const b = np.array(c.b, 'float32');
      const tr = isTrans(c.trans);
      const opts = { lower: c.lower, trans: c.trans, unitDiagonal: c.unitDiagonal };
      const u = c.b.map((r) => r.map((v, j) => v * (j + 1) - 0.3));
      const [, pullback] = vjp((v: NDArray) => np.linalg.solveTriangular(a, v, opts), b);
      const [ct] = pullback(np.array(u, 'float32')) as NDArray[];
      closeTo(rows(ct!), solve64(transpose64(effectiveMatrix(aRows, c.lower, tr, c.unitDiagonal)), u), 1e-5, 'op(T)⁻ᵀ u');
      const prog = makeJaxpr(grad((v: NDArray) => np.sum(np.linalg.solveTriangular(a, v, opts))))(b);
      // The traced program keeps the forward solve (jit drops it as dead code); the backward pass is one more solve, nothing else.
      const solves = prog.jaxpr.eqns.filter((e) => e.prim === 'triangular_solve');
      expect(solves.map((e) => e.params), String(prog)).toEqual([
        { lower: c.lower, transposeA: tr, unitDiagonal: c.unitDiagonal },
        { lower: c.lower, transposeA: !tr, unitDiagonal: c.unitDiagonal },
      ]);
      expect(prog.jaxpr.eqns.some((e) => e.prim === 'linear_solve' || e.prim === 'matrix_inverse'), String(prog)).toBe(false);
    }, 30);
  });

  it("a Gaussian log-likelihood through cholesky and solveTriangular has the closed-form gradients ∇μ = Σ⁻¹r and ∇Σ = ½(Σ⁻¹rrᵀΣ⁻¹ − Σ⁻¹), and passes checkGrads", () => {
    const arb = fc.integer({ min: 1, max: 5 }).chain((n) => fc.tuple(entries(n, n), fc.array(fc.double({ min: -2, max: 2, noNaN: true }), { minLength: 2 * n, maxLength: 2 * n }), fc.integer({ min: 0, max: 1 << 20 })));
    assertNoLeak(arb, ([braw, xm, seed]) => {
      const sigma = spdFrom(braw);
      const n = sigma.length;
      const x = xm.slice(0, n), mu = xm.slice(n);
      const logLikelihood = (m: NDArray, s: NDArray) => {
        const L = np.linalg.cholesky(s);
        const z = np.linalg.solveTriangular(L, np.subtract(x, m), { lower: true });
        const halfLogdet = np.sum(np.log(np.linalg.diagonal(L)));
        return np.subtract(np.subtract(np.multiply(-0.5, np.sum(np.square(z))), halfLogdet), (n / 2) * Math.log(2 * Math.PI));
      };
      const M = np.array(mu, 'float32'), S = np.array(sigma, 'float32');
      const r = x.map((v, i) => [v - mu[i]!]);
      const eye = sigma.map((_, i) => sigma.map((__, j) => (i === j ? 1 : 0)));
      const sInv = solve64(sigma, eye);
      const sInvR = solve64(sigma, r);
      // The value against slogdet and solve.
      const [, logabs] = np.linalg.slogdet(S);
      const quad = sInvR.reduce((acc, row, i) => acc + row[0]! * r[i]![0]!, 0);
      expect(logLikelihood(M, S).item()).toBeCloseTo(-0.5 * quad - 0.5 * (logabs.item() as number) - (n / 2) * Math.log(2 * Math.PI), 4);
      const [gMu, gSigma] = grad(logLikelihood, { argnums: [0, 1] })(M, S) as unknown as NDArray[];
      closeTo((gMu!.toArray() as number[]).map((v) => [v]), sInvR, 1e-5, '∇μ');
      const outer = matmul64(sInvR, transpose64(sInvR));
      closeTo(rows(gSigma!), outer.map((row, i) => row.map((v, j) => 0.5 * (v - sInv[i]![j]!))), 1e-5, '∇Σ');
      checkGrads(logLikelihood, [M, S], { order: 2, seed });
    }, 12);
  });
});

// ---- transformations -------------------------------------------------------------------------------

describe('cholesky and solveTriangular under vmap and jit', () => {
  const batchCase = fc.record({
    n: fc.integer({ min: 1, max: 4 }), size: fc.integer({ min: 1, max: 3 }), k: fc.integer({ min: 1, max: 2 }),
    aAxis: fc.constantFrom(null, 0, 1, 2), bAxis: fc.constantFrom(null, 0, 1, 2), lower: fc.boolean(), trans: fc.constantFrom<'N' | 'T'>('N', 'T'), seed: fc.integer({ min: 0, max: 1 << 20 }),
  }).filter((c) => c.aAxis !== null || c.bAxis !== null);

  it('vmap equals a loop over the examples, for the values and their gradients (either operand batched, at any axis)', () => {
    assertNoLeak(batchCase, (c) => {
      const [braw, bs] = fc.sample(fc.tuple(fc.array(entries(c.n, c.n), { minLength: c.size, maxLength: c.size }), fc.array(entries(c.n, c.k), { minLength: c.size, maxLength: c.size })), { seed: c.seed, numRuns: 1 })[0]!;
      const spd = braw.map(spdFrom);
      const opts = { lower: c.lower, trans: c.trans };
      const f = (s: NDArray, v: NDArray) => {
        const L = np.linalg.cholesky(s);
        return np.linalg.solveTriangular(c.lower ? L : np.swapaxes(L, -1, -2), v, opts);
      };
      const loss = (s: NDArray, v: NDArray) => np.sum(np.sin(f(s, v)));
      const gradF = grad(loss, { argnums: [0, 1] });
      // Examples at `axis` of the stacked input; an unbatched input is the first example.
      const input = (xs: Mat[], axis: number | null) => (axis === null ? np.array(xs[0]!, 'float32') : np.moveaxis(np.array(xs, 'float32'), 0, axis));
      const example = (xs: Mat[], axis: number | null, i: number) => np.array(xs[axis === null ? 0 : i]!, 'float32');
      const S = input(spd, c.aAxis), B = input(bs, c.bAxis);
      const loopF = np.stack(Array.from({ length: c.size }, (_, i) => f(example(spd, c.aAxis, i), example(bs, c.bAxis, i))));
      expectClose(vmap(f, { inAxes: [c.aAxis, c.bAxis] })(S, B), loopF, { rtol: 1e-5, atol: 1e-6, label: 'vmap(f)' });
      const [gS, gB] = vmap(gradF, { inAxes: [c.aAxis, c.bAxis] })(S, B) as unknown as NDArray[];
      const loopG = Array.from({ length: c.size }, (_, i) => gradF(example(spd, c.aAxis, i), example(bs, c.bAxis, i)) as unknown as NDArray[]);
      expectClose(gS!, np.stack(loopG.map((g) => g[0]!)), { rtol: 1e-4, atol: 1e-5, label: 'vmap(grad) in Σ' });
      expectClose(gB!, np.stack(loopG.map((g) => g[1]!)), { rtol: 1e-4, atol: 1e-5, label: 'vmap(grad) in b' });
      // The batch of a cholesky stack is the stack itself.
      if (c.aAxis !== null) expectClose(vmap((m: NDArray) => np.linalg.cholesky(m), { inAxes: c.aAxis })(S), np.linalg.cholesky(np.array(spd, 'float32')), { rtol: 0, atol: 0, label: 'vmap(cholesky)' });
    }, 30);
  });

  it('jit equals eager: values, gradients and second derivatives', () => {
    assertNoLeak(fc.tuple(spdArb(1, 4), fc.integer({ min: 0, max: 1 << 20 })), ([a, seed]) => {
      const n = a.length;
      const b = np.array(fc.sample(fc.array(fc.double({ min: -1, max: 1, noNaN: true }), { minLength: n, maxLength: n }), { seed, numRuns: 1 })[0]!, 'float32');
      const A = np.array(a, 'float32');
      const f = (m: NDArray, v: NDArray) => {
        const L = np.linalg.cholesky(m);
        const y = np.linalg.solveTriangular(L, v, { lower: true });
        return np.add(np.sum(np.square(np.linalg.solveTriangular(L, y, { lower: true, trans: 'T' }))), np.sum(np.log(np.linalg.diagonal(L))));
      };
      const g = grad(f, { argnums: [0, 1] });
      const gg = grad((m: NDArray, v: NDArray) => np.sum(np.square((g(m, v) as unknown as NDArray[])[0]!)));
      const jf = jit(f), jg = jit(g), jgg = jit(gg);
      try {
        expectClose(jf(A, b), f(A, b), { rtol: 1e-6, atol: 1e-7, label: 'jit(f)' });
        const [ja, jb] = jg(A, b) as unknown as NDArray[], [ea, eb] = g(A, b) as unknown as NDArray[];
        expectClose(ja!, ea!, { rtol: 1e-6, atol: 1e-7, label: 'jit(grad) in A' });
        expectClose(jb!, eb!, { rtol: 1e-6, atol: 1e-7, label: 'jit(grad) in b' });
        expectClose(jgg(A, b), gg(A, b), { rtol: 1e-5, atol: 1e-6, label: 'jit(grad(grad))' });
      } finally {
        jf.clearCache(); jg.clearCache(); jgg.clearCache();
      }
    }, 10);
  });
});

// np.linalg.qr (numpy.linalg.qr with LAPACK's signs), choFactor/choSolve (jax.scipy.linalg.cho_factor
// and cho_solve), multiDot and matrixPower: values against float64 references written here
// (modified Gram–Schmidt, Gaussian elimination, plain products), the QR derivative rule (checkGrads
// to second order), vmap against a loop, jit against eager, the errors, and no leaks: every property
// runs in a scope and checks that it leaves no tensors behind.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DTypeError, LinAlgError, ShapeError, TransformError, ValueError, grad, jit, jvp, makeJaxpr, np, vmap, type NDArray } from '../src/index.js';
import { bind } from '../src/core.js';
import { checkGrads } from '../src/testing/index.js';
import { assertNoLeak, expectClose, FC_SEED, noLeak, onEachBackend } from './helpers.js';
import { type Mat, gramSchmidt64, transpose64, matmul64, eye64, solve64 } from './matrix64.js';

// ---- float64 references ---------------------------------------------------------------------------

/** QR of any full-rank m×n by Gram–Schmidt: for m < n the square left block is factored and R's right block is Qᵀ·A's. */
function qr64(a: Mat): { q: Mat; r: Mat } {
  const m = a.length, n = a[0]!.length;
  if (m >= n) return gramSchmidt64(a);
  const { q, r } = gramSchmidt64(a.map((row) => row.slice(0, m)));
  const right = matmul64(transpose64(q), a.map((row) => row.slice(m)));
  return { q, r: r.map((row, i) => [...row, ...right[i]!]) };
}

/** Determinant by elimination with partial pivoting in float64. */
function det64(a: Mat): number {
  const n = a.length;
  const m = a.map((r) => [...r]);
  let d = 1;
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r]![c]!) > Math.abs(m[p]![c]!)) p = r;
    if (p !== c) { [m[c], m[p]] = [m[p]!, m[c]!]; d = -d; }
    d *= m[c]![c]!;
    for (let r = c + 1; r < n; r++) {
      const f = m[r]![c]! / m[c]![c]!;
      for (let j = c; j < n; j++) m[r]![j]! -= f * m[c]![j]!;
    }
  }
  return d;
}

// ---- arbitraries and helpers ---------------------------------------------------------------------

const entries = (rowsN: number, colsN: number, range = 1) =>
  fc.array(fc.array(fc.double({ min: -range, max: range, noNaN: true }), { minLength: colsN, maxLength: colsN }), { minLength: rowsN, maxLength: rowsN });

/** A matrix whose leading min(m, n) columns are well conditioned: a random part plus a multiple of the identity's first columns. */
const wellConditioned = (a: Mat, boost = 2): Mat => a.map((row, i) => row.map((v, j) => (i === j ? v + (v >= 0 ? boost : -boost) : v)));

/**
 * No entry near zero: LAPACK's signs jump where a column is exactly zero below the diagonal (no
 * reflection there, so R[j][j] keeps a's sign; any nonzero entry flips it), which the sign and
 * derivative properties must stay away from.
 */
const generic = (a: Mat): Mat => a.map((row) => row.map((v) => (Math.abs(v) < 1e-3 ? 0.375 : v)));

/** m×n shapes, tall, square and wide. */
const shapeArb = (maxDim = 5) => fc.record({ m: fc.integer({ min: 1, max: maxDim }), n: fc.integer({ min: 1, max: maxDim }) });
const matrixArb = (maxDim = 5) => shapeArb(maxDim).chain(({ m, n }) => entries(m, n).map(wellConditioned));

/** A = B·Bᵀ/n + I: symmetric positive definite with eigenvalues in [1, 1 + n]. */
const spdFrom = (b: Mat): Mat => {
  const n = b.length;
  return matmul64(b, transpose64(b)).map((row, i) => row.map((v, j) => v / n + (i === j ? 1 : 0)));
};

const rows = (x: NDArray): Mat => x.toArray() as Mat;
const closeTo = (got: Mat, want: Mat, tol: number, label: string) => {
  expect(got.length, `${label}: rows`).toBe(want.length);
  const scale = Math.max(1, ...want.flat().map(Math.abs));
  got.flat().forEach((v, i) => expect(Math.abs(v - want.flat()[i]!), `${label} entry ${i}: ${v} vs ${want.flat()[i]}`).toBeLessThan(tol * scale));
};
const f32 = (a: Mat | Mat[] | number[]) => np.array(a, 'float32');

/** Checks the defining properties of a QR factorisation of `a`: Q·R = A, orthonormal columns, R upper trapezoidal (exact zeros). */
function checkQr(a: Mat, q: Mat, r: Mat, label: string): void {
  closeTo(matmul64(q, r), a, 2e-6, `${label}: Q·R = A`);
  closeTo(matmul64(transpose64(q), q), eye64(q[0]?.length ?? 0), 2e-6, `${label}: QᵀQ = I`);
  r.forEach((row, i) => row.forEach((v, j) => { if (j < i) expect(v, `${label}: R[${i}][${j}] below the diagonal`).toBe(0); }));
}

// ---- QR values ------------------------------------------------------------------------------------

describe('np.linalg.qr', () => {
  it('reduced QR: Q·R = A, QᵀQ = I, R upper triangular, and equals float64 Gram–Schmidt up to the sign of each column of Q / row of R', () => {
    assertNoLeak(matrixArb(), (a) => {
      const m = a.length, n = a[0]!.length, k = Math.min(m, n);
      const [Q, R] = np.linalg.qr(f32(a));
      expect(Q.shape).toEqual([m, k]);
      expect(R.shape).toEqual([k, n]);
      const q = rows(Q), r = rows(R);
      checkQr(a, q, r, 'reduced');
      const ref = qr64(a);
      const signs = r.map((row, i) => Math.sign(row[i]!));
      signs.forEach((s) => expect(Math.abs(s)).toBe(1));
      closeTo(q.map((row) => row.map((v, j) => v * signs[j]!)), ref.q, 5e-6, 'Q against Gram–Schmidt');
      closeTo(r.map((row, i) => row.map((v) => v * signs[i]!)), ref.r, 5e-6, 'R against Gram–Schmidt');
      // mode 'r' returns the same R alone.
      expect(np.linalg.qr(f32(a), 'r')).toEqual(R);
    }, 120);
  });

  it("NumPy's (LAPACK's) signs: R[0][0] = −sign(a₀₀)·‖a[:, 0]‖, and Q is a product of min(m, n) − [m ≤ n] reflections, so det Q = (−1)^(n−1) for a generic square matrix", () => {
    assertNoLeak(fc.integer({ min: 1, max: 6 }).chain((n) => entries(n, n).map((a) => wellConditioned(generic(a)))), (a) => {
      const n = a.length;
      const [Q, R] = np.linalg.qr(f32(a), 'complete');
      const q = rows(Q), r = rows(R);
      const norm0 = Math.sqrt(a.reduce((acc, row) => acc + row[0]! ** 2, 0));
      // A 1×1 matrix has nothing below the diagonal: no reflection, so R = A.
      const want0 = n === 1 ? a[0]![0]! : -Math.sign(a[0]![0]!) * norm0;
      expect(Math.abs(r[0]![0]! - want0)).toBeLessThan(1e-6 * Math.max(1, norm0));
      expect(Math.abs(det64(q) - (-1) ** (n - 1))).toBeLessThan(1e-5);
      // Hence sign(Π R_ii) = (−1)^(n−1)·sign(det A).
      const prodSign = r.reduce((s, row, i) => s * Math.sign(row[i]!), 1);
      expect(prodSign).toBe((-1) ** (n - 1) * Math.sign(det64(a)));
    }, 60);
    noLeak(() => {
      const [q, r] = np.linalg.qr(f32([[3], [4]]));
      closeTo(rows(q), [[-0.6], [-0.8]], 1e-7, 'q of [3, 4]ᵀ');
      closeTo(rows(r), [[-5]], 1e-7, 'r of [3, 4]ᵀ');
      // Columns already zero below the diagonal are not reflected: a diagonal (or upper triangular)
      // matrix is its own R, with its signs, and Q = I.
      const [qd, rd] = np.linalg.qr(f32([[-1, 2, 3], [0, 2, -1], [0, 0, -3]]));
      expect(rows(qd)).toEqual(eye64(3));
      expect(rows(rd)).toEqual([[-1, 2, 3], [0, 2, -1], [0, 0, -3]]);
    });
  });

  it("complete QR: Q is m×m orthogonal, R is m×n, Q·R = A, and Q's first min(m, n) columns and R's rows are the reduced ones", () => {
    assertNoLeak(matrixArb(), (a) => {
      const m = a.length, n = a[0]!.length, k = Math.min(m, n);
      const [Q, R] = np.linalg.qr(f32(a), 'complete');
      expect(Q.shape).toEqual([m, m]);
      expect(R.shape).toEqual([m, n]);
      const q = rows(Q), r = rows(R);
      checkQr(a, q, r, 'complete');
      closeTo(matmul64(q, transpose64(q)), eye64(m), 2e-6, 'QQᵀ = I');
      const [Qr, Rr] = np.linalg.qr(f32(a));
      closeTo(q.map((row) => row.slice(0, k)), rows(Qr), 1e-6, 'first columns of Q');
      closeTo(r.slice(0, k), rows(Rr), 1e-6, 'first rows of R');
    }, 80);
  });

  it('stacks [..., m, n] factor each matrix; ints are converted; empty matrices have empty factors', () => {
    const arb = fc.record({ s: fc.integer({ min: 1, max: 3 }), t: fc.integer({ min: 1, max: 2 }), m: fc.integer({ min: 1, max: 4 }), n: fc.integer({ min: 1, max: 4 }), seed: fc.integer({ min: 0, max: 1 << 20 }) });
    assertNoLeak(arb, ({ s, t, m, n, seed }) => {
      const mats = fc.sample(fc.array(entries(m, n).map(wellConditioned), { minLength: s * t, maxLength: s * t }), { seed, numRuns: 1 })[0]!;
      const stack = np.reshape(f32(mats), [s, t, m, n]);
      for (const mode of ['reduced', 'complete'] as const) {
        const [Q, R] = np.linalg.qr(stack, mode);
        const k = mode === 'complete' ? m : Math.min(m, n);
        expect(Q.shape).toEqual([s, t, m, k]);
        expect(R.shape).toEqual([s, t, k, n]);
        const qs = np.reshape(Q, [s * t, m, k]).toArray() as Mat[], rs = np.reshape(R, [s * t, k, n]).toArray() as Mat[];
        mats.forEach((a, i) => {
          const [q1, r1] = np.linalg.qr(f32(a), mode);
          expect(qs[i]).toEqual(rows(q1));
          expect(rs[i]).toEqual(rows(r1));
        });
      }
    }, 20);
    noLeak(() => {
      const [qi, ri] = np.linalg.qr(np.array([[1, 2], [3, 4]]));
      expect(qi.dtype).toBe('float32');
      checkQr([[1, 2], [3, 4]], rows(qi), rows(ri), 'int input');
      for (const [shape, mode, qShape, rShape] of [
        [[0, 3], 'reduced', [0, 0], [0, 3]], [[3, 0], 'reduced', [3, 0], [0, 0]], [[3, 0], 'complete', [3, 3], [3, 0]], [[2, 0, 0], 'reduced', [2, 0, 0], [2, 0, 0]],
      ] as const) {
        const [q, r] = np.linalg.qr(np.zeros([...shape]), mode);
        expect([q.shape, r.shape]).toEqual([qShape, rShape]);
      }
      // A 3×0 matrix's complete Q is the identity (no reflections).
      expect(rows(np.linalg.qr(np.zeros([3, 0]), 'complete')[0])).toEqual(eye64(3));
    });
  });

  it('gives the same gradients on the wasm and cpu backends (the factors come from one float64 JS kernel on either; the derivative runs backend kernels)', async () => {
    const a = [[1, 2, 0.5], [-3, 4, 1], [0.25, -1, 2], [2, 0.5, -1]];
    const grads: Record<string, number[]> = {};
    await onEachBackend((backend) => {
      grads[backend] = Array.from(grad((x: NDArray) => np.sum(np.sin(np.linalg.qr(x)[0])))(f32(a)).dataSync());
    });
    grads.cpu!.forEach((v, i) => expect(Math.abs(v - grads.wasm![i]!)).toBeLessThan(1e-5));
  });

  it('bad shapes and modes are errors naming the op, the shape or mode, and what was expected', () => {
    noLeak(() => {
      expect(() => np.linalg.qr(np.ones([3]))).toThrow(ShapeError);
      expect(() => np.linalg.qr(np.ones([3]))).toThrow('linalg.qr: expected a stack of matrices [..., m, n] (at least 2 dimensions) but got shape [3]');
      expect(() => np.linalg.qr(2)).toThrow(/linalg\.qr: expected a stack of matrices \[\.\.\., m, n\] \(at least 2 dimensions\) but got shape \[\]/);
      expect(() => np.linalg.qr(np.ones([2, 2]), 'full' as never)).toThrow(ValueError);
      expect(() => np.linalg.qr(np.ones([2, 2]), 'full' as never)).toThrow(`linalg.qr: mode must be 'reduced', 'complete' or 'r', got "full"`);
      expect(() => np.linalg.qr(np.ones([2, 2]), 'raw' as never)).toThrow(/got "raw" \('raw' returns LAPACK's Householder vectors/);
      // The primitive itself (np.linalg.qr converts ints first): a dtype problem is a DTypeError, as eigh's and svd's.
      expect(() => bind('qr', [np.array([[1, 0], [0, 1]], 'int32')], { fullMatrices: false })).toThrow(DTypeError);
      expect(() => bind('qr', [np.array([[1, 0], [0, 1]], 'int32')], { fullMatrices: false })).toThrow('qr: expected float32 matrices but got i32[2,2]');
      expect(() => bind('qr', [np.ones([3])], { fullMatrices: false })).toThrow(ShapeError);
    });
  });
});

// ---- QR derivatives ---------------------------------------------------------------------------------

describe('derivatives of qr (JAX’s qr_jvp_rule)', () => {
  const tallArb = fc.integer({ min: 1, max: 4 }).chain((n) => fc.integer({ min: n, max: n + 2 }).chain((m) => fc.tuple(entries(m, n).map((x) => wellConditioned(generic(x))), fc.integer({ min: 0, max: 1 << 20 }))));

  it('reduced QR of tall and square matrices and complete QR of square ones pass checkGrads to second order (Q and R); mode r to first order', () => {
    assertNoLeak(tallArb, ([a, seed]) => {
      const A = f32(a);
      checkGrads((x: NDArray) => np.linalg.qr(x), [A], { order: 2, seed });
      if (a.length === a[0]!.length) checkGrads((x: NDArray) => np.linalg.qr(x, 'complete'), [A], { order: 2, seed: seed + 1 });
      checkGrads((x: NDArray) => np.sum(np.multiply(np.linalg.qr(x, 'r'), np.linalg.qr(x, 'r'))), [A], { order: 1, seed: seed + 2 });
    }, 12);
  });

  it('the derivative keeps the factorisation: d(QR) = dA, QᵀdQ is skew-symmetric and dR is upper triangular (jvp in random directions)', () => {
    assertNoLeak(fc.tuple(tallArb, fc.integer({ min: 0, max: 1 << 20 })), ([[a], dseed]) => {
      const m = a.length, n = a[0]!.length;
      const da = fc.sample(entries(m, n), { seed: dseed, numRuns: 1 })[0]!;
      const [[Q, R], [dQ, dR]] = jvpPair(f32(a), f32(da));
      const q = rows(Q), r = rows(R), dq = rows(dQ), dr = rows(dR);
      const dqr = matmul64(dq, r).map((row, i) => row.map((v, j) => v + matmul64(q, dr)[i]![j]!));
      closeTo(dqr, da, 1e-5, 'dQ·R + Q·dR = dA');
      const qtdq = matmul64(transpose64(q), dq);
      closeTo(qtdq, transpose64(qtdq).map((row) => row.map((v) => -v)), 1e-5, 'QᵀdQ skew');
      dr.forEach((row, i) => row.forEach((v, j) => { if (j < i) expect(v).toBe(0); }));
    }, 40);
  });

  it('refuses, naming the case, the derivatives JAX does not define: wide reduced QR and complete QR of non-square matrices', () => {
    noLeak(() => {
      expect(() => grad((x: NDArray) => np.sum(np.linalg.qr(x)[1]))(np.ones([2, 3]))).toThrow(TransformError);
      expect(() => grad((x: NDArray) => np.sum(np.linalg.qr(x)[1]))(np.ones([2, 3]))).toThrow(
        'linalg.qr: the derivative of reduced QR of [2,3] matrices (2×3) is not implemented, as in JAX; it exists for reduced QR with m ≥ n and for complete QR of square matrices',
      );
      expect(() => grad((x: NDArray) => np.sum(np.linalg.qr(x, 'complete')[0]))(f32([[1, 0], [0, 1], [1, 1]]))).toThrow(/derivative of complete QR of \[3,2\] matrices \(3×2\) is not implemented/);
      // Values of the same calls still work.
      expect(np.linalg.qr(np.ones([2, 3]))[1].shape).toEqual([2, 3]);
      // A matrix without full column rank has a zero in R's diagonal: its derivative is a LinAlgError that says so.
      expect(() => grad((x: NDArray) => np.sum(np.linalg.qr(x)[0]))(f32([[1, 0], [0, 0], [0, 0]]))).toThrow(LinAlgError);
      expect(() => grad((x: NDArray) => np.sum(np.linalg.qr(x)[0]))(f32([[1, 0], [0, 0], [0, 0]]))).toThrow(/zero at diagonal 1\); .* \(the derivative of linalg\.qr solves with R: there A must have full column rank\)/);
      // The hint is qr's own (a parameter of its solve), so it holds in forward mode and under jit too,
      // and a plain solveTriangular does not carry it (properties/cholesky.test.ts).
      expect(() => jvp((x: NDArray) => np.linalg.qr(x)[0], [f32([[1, 0], [0, 0], [0, 0]])], [np.ones([3, 2])])).toThrow(/\(the derivative of linalg\.qr solves with R: there A must have full column rank\)$/);
      const jitGrad = jit(grad((x: NDArray) => np.sum(np.linalg.qr(x)[1])));
      expect(() => jitGrad(f32([[1, 0], [2, 0], [3, 0]]))).toThrow(/\(the derivative of linalg\.qr solves with R: there A must have full column rank\)$/);
      jitGrad.clearCache();
    });
  });

  it('vmap equals a loop, for values and gradients (batch at any axis)', () => {
    const arb = fc.record({ n: fc.integer({ min: 1, max: 3 }), extra: fc.integer({ min: 0, max: 2 }), size: fc.integer({ min: 1, max: 3 }), axis: fc.integer({ min: 0, max: 2 }), seed: fc.integer({ min: 0, max: 1 << 20 }) });
    assertNoLeak(arb, ({ n, extra, size, axis, seed }) => {
      const m = n + extra;
      const mats = fc.sample(fc.array(entries(m, n).map((x) => wellConditioned(generic(x))), { minLength: size, maxLength: size }), { seed, numRuns: 1 })[0]!;
      const X = np.moveaxis(f32(mats), 0, axis);
      const f = (x: NDArray) => np.linalg.qr(x);
      const loss = (x: NDArray) => { const [q, r] = np.linalg.qr(x); return np.add(np.sum(np.sin(q)), np.sum(np.square(r))); };
      const [Qv, Rv] = vmap(f, { inAxes: axis })(X) as unknown as NDArray[];
      const loops = mats.map((a) => f(f32(a)));
      expect(Qv).toEqual(np.stack(loops.map((l) => l[0])));
      expect(Rv).toEqual(np.stack(loops.map((l) => l[1])));
      const gv = vmap(grad(loss), { inAxes: axis })(X);
      expectClose(gv, np.stack(mats.map((a) => grad(loss)(f32(a)))), { rtol: 1e-5, atol: 1e-5, label: 'vmap(grad)' });
      const [Qc] = vmap((x: NDArray) => np.linalg.qr(x, 'complete'), { inAxes: axis })(X) as unknown as NDArray[];
      expect(Qc).toEqual(np.stack(mats.map((a) => np.linalg.qr(f32(a), 'complete')[0])));
    }, 30);
  });

  it('jit equals eager: values, gradients and second derivatives', () => {
    assertNoLeak(tallArb, ([a]) => {
      const A = f32(a);
      const loss = (x: NDArray) => { const [q, r] = np.linalg.qr(x); return np.add(np.sum(np.multiply(q, np.cos(q))), np.sum(np.log(np.abs(np.linalg.diagonal(r))))); };
      const g = grad(loss);
      const gg = grad((x: NDArray) => np.sum(np.square(g(x))));
      const jf = jit((x: NDArray) => np.linalg.qr(x)), jg = jit(g), jgg = jit(gg);
      try {
        const [jq, jr] = jf(A) as unknown as NDArray[], [eq, er] = np.linalg.qr(A);
        expect(jq).toEqual(eq);
        expect(jr).toEqual(er);
        expectClose(jg(A), g(A), { rtol: 1e-6, atol: 1e-6, label: 'jit(grad)' });
        expectClose(jgg(A), gg(A), { rtol: 1e-5, atol: 1e-5, label: 'jit(grad(grad))' });
      } finally {
        jf.clearCache(); jg.clearCache(); jgg.clearCache();
      }
    }, 10);
  });
});

/** jvp of reduced qr at `a` in direction `da`: [[Q, R], [dQ, dR]]. */
function jvpPair(a: NDArray, da: NDArray): [[NDArray, NDArray], [NDArray, NDArray]] {
  return jvp((x: NDArray) => np.linalg.qr(x), [a], [da]) as unknown as [[NDArray, NDArray], [NDArray, NDArray]];
}

// ---- choFactor / choSolve ---------------------------------------------------------------------------

describe('np.linalg.choFactor and choSolve', () => {
  const caseArb = fc.integer({ min: 1, max: 5 }).chain((n) => fc.record({
    b: entries(n, n), rhs: entries(n, 3), k: fc.integer({ min: 0, max: 3 }), lower: fc.boolean(), seed: fc.integer({ min: 0, max: 1 << 20 }),
  }));

  it("choFactor gives L (lower) or U = Lᵀ (upper, the default) with zeros in the other triangle and c·cᵀ or cᵀ·c = A; choSolve(choFactor(A), b) equals solve and float64 elimination", () => {
    assertNoLeak(caseArb, ({ b: braw, rhs, k, lower }) => {
      const a = spdFrom(braw);
      const n = a.length;
      const [c, low] = lower ? np.linalg.choFactor(f32(a), { lower: true }) : np.linalg.choFactor(f32(a));
      expect(low).toBe(lower);
      const cm = rows(c);
      cm.forEach((row, i) => row.forEach((v, j) => { if (lower ? j > i : j < i) expect(v).toBe(0); }));
      closeTo(lower ? matmul64(cm, transpose64(cm)) : matmul64(transpose64(cm), cm), a, 2e-6, 'factor product');
      const bm = k === 0 ? rhs.map((r) => [r[0]!]) : rhs.map((r) => r.slice(0, k));
      const B = k === 0 ? f32(bm.map((r) => r[0]!)) : f32(bm);
      const x = np.linalg.choSolve([c, low], B);
      expect(x.shape).toEqual(B.shape);
      const got = k === 0 ? (x.toArray() as number[]).map((v) => [v]) : rows(x);
      closeTo(got, solve64(a, bm), 1e-5, 'against elimination');
      expectClose(x, np.linalg.solve(f32(a), B), { rtol: 1e-4, atol: 1e-5, label: 'against solve' });
      expect(n).toBe(cm.length);
    }, 80);
  });

  it('only the chosen triangle of c is read, and stacks broadcast as in solveTriangular', () => {
    assertNoLeak(fc.tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 3 }), fc.boolean(), fc.integer({ min: 0, max: 1 << 20 })), ([n, s, lower, seed]) => {
      const [braws, rhs, garbage] = fc.sample(fc.tuple(fc.array(entries(n, n), { minLength: s, maxLength: s }), entries(s, n), entries(n, n, 100)), { seed, numRuns: 1 })[0]!;
      const as = braws.map(spdFrom);
      const [c] = np.linalg.choFactor(f32(as), { lower });
      const G = f32(garbage.map((row, i) => row.map((v, j) => ((lower ? j > i : j < i) ? v : 0))));
      const x = np.linalg.choSolve([np.add(c, G), lower], f32(rhs));
      expect(x.shape).toEqual([s, n]);
      (x.toArray() as number[][]).forEach((xi, i) => closeTo(xi.map((v) => [v]), solve64(as[i]!, rhs[i]!.map((v) => [v])), 1e-5, `matrix ${i}`));
      // One right-hand side for every matrix of the stack.
      const x1 = np.linalg.choSolve([c, lower], f32(rhs[0]!));
      (x1.toArray() as number[][]).forEach((xi, i) => closeTo(xi.map((v) => [v]), solve64(as[i]!, rhs[0]!.map((v) => [v])), 1e-5, `broadcast ${i}`));
    }, 30);
  });

  it("derivatives come from cholesky's and solveTriangular's rules: grad in A and b equals solve's, checkGrads to second order, vmap and jit agree", () => {
    assertNoLeak(caseArb, ({ b: braw, rhs, lower, seed }) => {
      const A = f32(spdFrom(braw));
      const B = f32(rhs.map((r) => r[0]!));
      const viaCho = (m: NDArray, v: NDArray) => np.sum(np.sin(np.linalg.choSolve(np.linalg.choFactor(m, { lower }), v)));
      // solve of the symmetric part: choFactor factors (A + Aᵀ)/2, so the gradient is symmetrised.
      const viaSolve = (m: NDArray, v: NDArray) => np.sum(np.sin(np.linalg.solve(np.multiply(0.5, np.add(m, np.swapaxes(m, -1, -2))), v)));
      const [gA, gB] = grad(viaCho, { argnums: [0, 1] })(A, B) as unknown as NDArray[];
      const [sA, sB] = grad(viaSolve, { argnums: [0, 1] })(A, B) as unknown as NDArray[];
      expectClose(gA!, sA!, { rtol: 1e-4, atol: 1e-5, label: '∇A' });
      expectClose(gB!, sB!, { rtol: 1e-4, atol: 1e-5, label: '∇b' });
      checkGrads((m: NDArray, v: NDArray) => np.linalg.choSolve(np.linalg.choFactor(m, { lower }), v), [A, B], { order: 2, seed });
      const jg = jit(grad(viaCho, { argnums: [0, 1] }));
      try {
        const [jA, jB] = jg(A, B) as unknown as NDArray[];
        expectClose(jA!, gA!, { rtol: 1e-6, atol: 1e-6, label: 'jit ∇A' });
        expectClose(jB!, gB!, { rtol: 1e-6, atol: 1e-6, label: 'jit ∇b' });
      } finally {
        jg.clearCache();
      }
      const stackA = np.stack([A, np.multiply(A, 2)]), stackB = np.stack([B, np.negative(B)]);
      expectClose(vmap((m: NDArray, v: NDArray) => np.linalg.choSolve(np.linalg.choFactor(m, { lower }), v))(stackA, stackB),
        np.stack([np.linalg.solve(A, B), np.linalg.solve(np.multiply(A, 2), np.negative(B))]), { rtol: 1e-4, atol: 1e-5, label: 'vmap' });
    }, 8);
  });

  it('errors name the op, the shapes and what was expected; a matrix that is not positive definite is a LinAlgError', () => {
    noLeak(() => {
      expect(() => np.linalg.choFactor(np.ones([2, 3]))).toThrow('linalg.choFactor: expected square matrices [..., n, n] but got [2,3]');
      expect(() => np.linalg.choFactor(f32([[1, 2], [2, 1]]))).toThrow(LinAlgError);
      expect(() => np.linalg.choFactor(np.eye(2), { low: true } as never)).toThrow("linalg.choFactor: unknown option 'low' (did you mean 'lower'?); the options are lower");
      expect(() => np.linalg.choFactor(np.eye(2), { lower: 1 } as never)).toThrow('linalg.choFactor: lower must be a boolean, got 1');
      const cf = np.linalg.choFactor(np.eye(3));
      expect(() => np.linalg.choSolve(cf, np.ones([2]))).toThrow(ShapeError);
      expect(() => np.linalg.choSolve(cf, np.ones([2]))).toThrow('linalg.choSolve: b of shape [2] does not match the factor [3,3]; expected b [..., 3] (one axis fewer than c, or 1-D) or [..., 3, k]');
      expect(() => np.linalg.choSolve(cf[0] as never, np.ones([3]))).toThrow(/linalg\.choSolve: expected the pair \[c, lower\] that choFactor returns/);
      expect(() => np.linalg.choSolve([cf[0], 'lower'] as never, np.ones([3]))).toThrow(ValueError);
    });
  });
});

// ---- multiDot / matrixPower ---------------------------------------------------------------------

/** The fewest scalar multiplications any parenthesisation of the chain needs, by trying them all. */
function bruteForceCost(dims: number[], i = 0, j = dims.length - 2): number {
  if (i === j) return 0;
  let best = Infinity;
  for (let s = i; s < j; s++) best = Math.min(best, bruteForceCost(dims, i, s) + bruteForceCost(dims, s + 1, j) + dims[i]! * dims[s + 1]! * dims[j + 1]!);
  return best;
}

describe('np.linalg.multiDot and matrixPower', () => {
  const chainArb = fc.integer({ min: 2, max: 5 }).chain((count) => fc.record({
    dims: fc.array(fc.integer({ min: 1, max: 6 }), { minLength: count + 1, maxLength: count + 1 }),
    firstVec: fc.boolean(), lastVec: fc.boolean(), seed: fc.integer({ min: 0, max: 1 << 20 }),
  }));

  it('equals the left-to-right float64 product (vectors at the ends drop their axis), in the cheapest order', () => {
    assertNoLeak(chainArb, ({ dims, firstVec, lastVec, seed }) => {
      const d = [...dims];
      if (firstVec) d[0] = 1;
      if (lastVec) d[d.length - 1] = 1;
      const mats = d.slice(0, -1).map((rowsN, i) => fc.sample(entries(rowsN, d[i + 1]!), { seed: seed + i, numRuns: 1 })[0]!);
      const args = mats.map((m, i) => (i === 0 && firstVec ? f32(m[0]!) : i === mats.length - 1 && lastVec ? f32(m.map((r) => r[0]!)) : f32(m)));
      const out = np.linalg.multiDot(args);
      const want = mats.reduce((p, m) => matmul64(p, m));
      const wantShape = [...(firstVec ? [] : [d[0]!]), ...(lastVec ? [] : [d[d.length - 1]!])];
      expect(out.shape).toEqual(wantShape);
      expectClose(out, wantShape.length === 2 ? want : wantShape.length === 1 ? (firstVec ? want[0]! : want.map((r) => r[0]!)) : want[0]![0]!, { rtol: 1e-5, atol: 1e-5, label: 'multiDot' });
      // The traced products cost exactly the brute-force minimum.
      const prog = makeJaxpr((...xs: NDArray[]) => np.linalg.multiDot(xs))(...args);
      const cost = prog.jaxpr.eqns.filter((e) => e.prim === 'dot_general').reduce((acc, e) => {
        const [x, y] = e.inputs.map((v) => v.aval.shape);
        return acc + x![0]! * x![1]! * y![1]!;
      }, 0);
      expect(cost, String(prog)).toBe(bruteForceCost(d));
    }, 60);
  });

  it('multiDot is differentiable (checkGrads) and errors name the arrays and shapes', () => {
    assertNoLeak(fc.integer({ min: 0, max: 1 << 20 }), (seed) => {
      const [a, b, c] = fc.sample(fc.tuple(entries(2, 3), entries(3, 4), entries(4, 2)), { seed, numRuns: 1 })[0]!;
      checkGrads((x: NDArray, y: NDArray, z: NDArray) => np.linalg.multiDot([x, y, z]), [f32(a), f32(b), f32(c)], { order: 1, seed });
    }, 4);
    noLeak(() => {
      expect(() => np.linalg.multiDot([np.ones([2, 2])])).toThrow('linalg.multiDot: expected a list of at least two arrays, got 1');
      expect(() => np.linalg.multiDot([np.ones([2, 3]), np.ones([2, 3])])).toThrow('linalg.multiDot: array 0 [2,3] and array 1 [2,3] are not aligned (3 vs 2)');
      expect(() => np.linalg.multiDot([np.ones([2, 3]), np.ones([3]), np.ones([3, 2])])).toThrow('linalg.multiDot: array 1 has shape [3]; expected 2-D matrices (the first and last may also be 1-D vectors)');
      expect(() => np.linalg.multiDot([np.ones([2, 2]), np.ones([2, 2, 2])])).toThrow(ShapeError);
    });
  });

  it('matrixPower(a, n) equals the n-fold float64 product (the inverse for n < 0, I for n = 0), for stacks too, by repeated squaring', () => {
    const arb = fc.record({ m: fc.integer({ min: 1, max: 4 }), s: fc.integer({ min: 1, max: 2 }), p: fc.integer({ min: -5, max: 9 }), seed: fc.integer({ min: 0, max: 1 << 20 }) });
    assertNoLeak(arb, ({ m, s, p, seed }) => {
      // Spectral radius below ~1.3 keeps the powers of order one; a shifted diagonal keeps them invertible.
      const mats = fc.sample(fc.array(entries(m, m, 0.3).map((a) => wellConditioned(a, 0.8)), { minLength: s, maxLength: s }), { seed, numRuns: 1 })[0]!;
      const out = np.linalg.matrixPower(f32(mats), p);
      expect(out.shape).toEqual([s, m, m]);
      (out.toArray() as Mat[]).forEach((got, i) => {
        const base = p < 0 ? solve64(mats[i]!, eye64(m)) : mats[i]!;
        let want = eye64(m);
        for (let e = 0; e < Math.abs(p); e++) want = matmul64(want, base);
        closeTo(got, want, 1e-4, `power ${p}`);
      });
      if (p > 0) {
        const prog = makeJaxpr((x: NDArray) => np.linalg.matrixPower(x, p))(f32(mats));
        const products = prog.jaxpr.eqns.filter((e) => e.prim === 'dot_general').length;
        // ⌊log2 p⌋ squarings plus (number of one bits − 1) multiplications.
        expect(products).toBe(Math.floor(Math.log2(p)) + p.toString(2).replace(/0/g, '').length - 1);
      }
    }, 60);
  });

  it('matrixPower keeps int dtypes for n ≥ 0, is differentiable, and refuses non-integer exponents and non-square matrices', () => {
    noLeak(() => {
      const fib = np.linalg.matrixPower(np.array([[1, 1], [1, 0]]), 20);
      expect(fib.dtype).toBe('int32');
      expect(fib.toArray()).toEqual([[10946, 6765], [6765, 4181]]);
      expect(np.linalg.matrixPower(np.array([[2, 1], [0, 3]]), 0).toArray()).toEqual([[1, 0], [0, 1]]);
      checkGrads((x: NDArray) => np.linalg.matrixPower(x, 3), [f32([[0.5, 0.2], [-0.3, 0.8]])], { order: 2, seed: 3 });
      checkGrads((x: NDArray) => np.linalg.matrixPower(x, -2), [f32([[1.5, 0.2], [-0.3, 1.2]])], { order: 1, seed: 4 });
      expect(() => np.linalg.matrixPower(np.eye(2), 1.5)).toThrow('linalg.matrixPower: the exponent must be an integer, got 1.5');
      expect(() => np.linalg.matrixPower(np.ones([2, 3]), 2)).toThrow('linalg.matrixPower: expected square matrices [..., m, m] but got [2,3]');
      expect(() => np.linalg.matrixPower(f32([[1, 2], [2, 4]]), -1)).toThrow(LinAlgError);
    });
  });
});

// np.linalg.eigh/eigvalsh and svd/svdvals (jax.numpy.linalg), and pinv, lstsq, matrixRank, cond
// and the spectral matrix norms built on them: values against independent float64 references
// written here (Householder tridiagonalisation with Sturm bisection for eigenvalues, singular
// values as √eig(AᵀA), Gaussian elimination for the normal equations) and closed forms, the
// decompositions' identities (reconstruction, orthonormality, ordering, the sign convention),
// derivatives by finite differences (checkGrads) on gauge-invariant functions and closed forms
// (∇‖A‖_nuc = U·Vh, ∇w_k = v_k·v_kᵀ), vmap against a loop, jit against eager, errors, and leaks.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConcretizationError, DTypeError, ShapeError, TransformError, ValueError, grad, jit, jvp, makeJaxpr, np, scan, vmap, type NDArray } from '../src/index.js';
import { Jaxpr, type JaxprEqn } from '../src/jaxpr.js';
import { deadCodeElimination } from '../src/dce.js';
import { CompiledProgram } from '../src/executor.js';
import { bind } from '../src/core.js';
import { checkGrads } from '../src/testing/index.js';
import { assertNoLeak, FC_SEED, noLeak, onEachBackend, ulp32 } from './helpers.js';
import { type Mat, transpose64, matmul64, eye64, orthogonal64, solve64 } from './matrix64.js';

// ---- float64 references ---------------------------------------------------------------------------

const fro64 = (a: Mat): number => Math.sqrt(a.flat().reduce((acc, v) => acc + v * v, 0));
const f32 = (a: Mat): Mat => a.map((r) => r.map(Math.fround));

/** Householder reduction of a symmetric matrix to tridiagonal form T = QᵀAQ (diagonal d, off-diagonal e), in float64. */
function tridiagonalize(a: Mat): { d: number[]; e: number[] } {
  const n = a.length;
  const A = a.map((r) => [...r]);
  for (let k = 0; k < n - 2; k++) {
    const x = A.slice(k + 1).map((r) => r[k]!);
    const norm = Math.hypot(...x);
    if (norm === 0) continue;
    const v = [...x];
    v[0] = v[0]! + (x[0]! >= 0 ? norm : -norm);
    const vv = v.reduce((acc, t) => acc + t * t, 0);
    // A ← H·A·H with H = I − 2vvᵀ/vᵀv acting on rows and columns k+1…n−1.
    for (let j = 0; j < n; j++) {
      const c = (2 / vv) * v.reduce((acc, t, i) => acc + t * A[k + 1 + i]![j]!, 0);
      v.forEach((t, i) => { A[k + 1 + i]![j]! -= c * t; });
    }
    for (let i = 0; i < n; i++) {
      const c = (2 / vv) * v.reduce((acc, t, j) => acc + t * A[i]![k + 1 + j]!, 0);
      v.forEach((t, j) => { A[i]![k + 1 + j]! -= c * t; });
    }
  }
  return { d: A.map((r, i) => r[i]!), e: A.slice(1).map((r, i) => r[i]!) };
}

/** Eigenvalues of a symmetric matrix, ascending, by Sturm-sequence bisection on its tridiagonal form (float64). */
function eigvalsh64(a: Mat): number[] {
  const n = a.length;
  if (n === 0) return [];
  const { d, e } = tridiagonalize(a);
  const radius = Math.max(...d.map((di, i) => Math.abs(di) + Math.abs(e[i - 1] ?? 0) + Math.abs(e[i] ?? 0)));
  // The number of eigenvalues below x: the negative pivots of T − xI (Sylvester's law of inertia).
  const below = (x: number): number => {
    let count = 0, q = 1;
    for (let i = 0; i < n; i++) {
      q = d[i]! - x - (i > 0 ? e[i - 1]! ** 2 / q : 0);
      if (q === 0) q = -1e-300;
      if (q < 0) count++;
    }
    return count;
  };
  return Array.from({ length: n }, (_, k) => {
    // Halving from ±‖T‖ down to the last bit of the eigenvalue, however small it is against ‖T‖.
    let lo = -radius * (1 + 1e-15) - 1e-300, hi = radius * (1 + 1e-15) + 1e-300;
    for (let it = 0; it < 2200 && hi - lo > 1e-17 * Math.max(Math.abs(lo), Math.abs(hi)) && hi - lo > 1e-320; it++) {
      const mid = (lo + hi) / 2;
      if (below(mid) > k) hi = mid;
      else lo = mid;
    }
    return (lo + hi) / 2;
  });
}

/** Singular values of any m×n matrix, descending: √eig(AᵀA) or √eig(AAᵀ), the smaller Gram matrix, in float64. */
function svdvals64(a: Mat): number[] {
  const m = a.length, n = a[0]?.length ?? 0;
  const gram = m >= n ? matmul64(transpose64(a), a) : matmul64(a, transpose64(a));
  return eigvalsh64(gram).map((v) => Math.sqrt(Math.max(v, 0))).reverse();
}

// ---- arbitraries -----------------------------------------------------------------------------------

/** Matrix entries on a 2⁻¹⁶ grid: no subnormal or tiny values, whose float32 reciprocals overflow (pinv, cond) whatever the algorithm. */
const entries = (rowsN: number, colsN: number, range = 1) =>
  fc.array(fc.array(fc.double({ min: -range, max: range, noNaN: true }).map((v) => Math.round(v * 65536) / 65536), { minLength: colsN, maxLength: colsN }), { minLength: rowsN, maxLength: rowsN });
const symmetricFrom = (b: Mat): Mat => f32(b.map((row, i) => row.map((v, j) => (v + b[j]![i]!) / 2)));
const symmetricArb = (minN = 1, maxN = 6) => fc.integer({ min: minN, max: maxN }).chain((n) => entries(n, n, 2)).map(symmetricFrom);
const matrixArb = (maxM = 5, maxN = 5) => fc.tuple(fc.integer({ min: 1, max: maxM }), fc.integer({ min: 1, max: maxN })).chain(([m, n]) => entries(m, n, 2)).map(f32);

/** Q·diag(d)·Qᵀ with d spaced at least 0.4 apart (Q orthogonal): eigenvector derivatives stay moderate. */
const gappedSymmetricArb = (minN = 1, maxN = 4) => fc.integer({ min: minN, max: maxN }).chain((n) => fc.tuple(entries(n, n), fc.array(fc.double({ min: 0.4, max: 1, noNaN: true }), { minLength: n, maxLength: n }), fc.double({ min: -2, max: 1, noNaN: true })))
  .map(([g, steps, start]) => {
    const q = orthogonal64(g.map((r, i) => r.map((v, j) => v + (i === j ? 3 : 0))));
    let acc = start;
    const d = steps.map((s) => (acc += s));
    return f32(matmul64(matmul64(q, d.map((di, i) => d.map((_, j) => (i === j ? di : 0)))), transpose64(q)));
  });

/** U·diag(s)·Vᵀ (m×n) with distinct singular values at least 0.3 apart and at least 0.3. */
const gappedMatrixArb = (maxM = 4, maxN = 4) => fc.tuple(fc.integer({ min: 1, max: maxM }), fc.integer({ min: 1, max: maxN })).chain(([m, n]) =>
  fc.tuple(entries(m, m), entries(n, n), fc.array(fc.double({ min: 0.3, max: 0.8, noNaN: true }), { minLength: Math.min(m, n), maxLength: Math.min(m, n) })).map(([gu, gv, steps]) => {
    const u = orthogonal64(gu.map((r, i) => r.map((v, j) => v + (i === j ? 3 : 0))));
    const v = orthogonal64(gv.map((r, i) => r.map((x, j) => x + (i === j ? 3 : 0))));
    let acc = 0;
    const s = steps.map((t) => (acc += t));
    const sigma = Array.from({ length: m }, (_, i) => Array.from({ length: n }, (__, j) => (i === j ? s[i]! : 0)));
    return f32(matmul64(matmul64(u, sigma), transpose64(v)));
  }));

const rows = (x: NDArray): Mat => x.toArray() as Mat;
const closeTo = (got: Mat | number[], want: Mat | number[], tol: number, label: string) => {
  const g = (got as unknown[]).flat() as number[], w = (want as unknown[]).flat() as number[];
  expect(g.length, `${label}: length`).toBe(w.length);
  g.forEach((v, i) => expect(Math.abs(v - w[i]!), `${label} entry ${i}: ${v} vs ${w[i]}`).toBeLessThanOrEqual(tol));
};
/** max |entry of QᵀQ − I| for the columns of q. */
const orthonormalityError = (q: Mat): number => Math.max(0, ...matmul64(transpose64(q), q).flatMap((r, i) => r.map((v, j) => Math.abs(v - (i === j ? 1 : 0)))));
/** The sign convention: the entry of largest magnitude (the first on a tie) is positive. */
const largestEntryPositive = (v: number[]): boolean => {
  let at = 0;
  v.forEach((x, i) => { if (Math.abs(x) > Math.abs(v[at]!)) at = i; });
  return v[at]! >= 0;
};
const diagMat = (d: number[], m = d.length, n = d.length): Mat => Array.from({ length: m }, (_, i) => Array.from({ length: n }, (__, j) => (i === j ? d[i]! : 0)));

// ---- the references themselves ---------------------------------------------------------------------

describe('float64 references', () => {
  it('Sturm bisection matches the 2×2 closed form and the trace and Frobenius identities', () => {
    fc.assert(fc.property(symmetricArb(1, 6), (a) => {
      const w = eigvalsh64(a);
      const n = a.length;
      expect(Math.abs(w.reduce((p, q) => p + q, 0) - a.reduce((p, r, i) => p + r[i]!, 0))).toBeLessThan(1e-12 * (1 + fro64(a)));
      expect(Math.abs(w.reduce((p, q) => p + q * q, 0) - fro64(a) ** 2)).toBeLessThan(1e-11 * (1 + fro64(a) ** 2));
      if (n === 2) {
        const [[p, q], [, r]] = a as [[number, number], [number, number]];
        const mid = (p + r) / 2, rad = Math.hypot((p - r) / 2, q);
        closeTo(w, [mid - rad, mid + rad], 1e-14 * (1 + rad + Math.abs(mid)), '2×2');
      }
    }), { seed: FC_SEED, numRuns: 60 });
  });
});

// ---- eigh --------------------------------------------------------------------------------------------

describe('np.linalg.eigh', () => {
  it('w ascending equals float64 Sturm bisection to float32 rounding; v·diag(w)·vᵀ = A, vᵀv = I, the sign convention (stacks too)', () => {
    const arb = fc.integer({ min: 1, max: 6 }).chain((n) => fc.array(entries(n, n, 2).map(symmetricFrom), { minLength: 1, maxLength: 3 })).chain((as) => fc.boolean().map((stacked) => ({ as, stacked })));
    assertNoLeak(arb, ({ as, stacked }) => {
      const n = as[0]!.length;
      const [W, V] = stacked ? np.linalg.eigh(np.array(as, 'float32')) : np.linalg.eigh(np.array(as[0]!, 'float32'));
      expect(W.shape).toEqual(stacked ? [as.length, n] : [n]);
      expect(V.shape).toEqual(stacked ? [as.length, n, n] : [n, n]);
      const ws = stacked ? (W.toArray() as Mat) : [W.toArray() as number[]];
      const vs = stacked ? (V.toArray() as Mat[]) : [rows(V)];
      ws.forEach((w, s) => {
        const a = as[s]!, v = vs[s]!, scale = fro64(a);
        const ref = eigvalsh64(a);
        w.forEach((x, i) => expect(Math.abs(x - ref[i]!), `w[${i}] = ${x} vs ${ref[i]}`).toBeLessThanOrEqual(ulp32(ref[i]!) + 1e-12 * scale));
        for (let i = 1; i < n; i++) expect(w[i]!).toBeGreaterThanOrEqual(w[i - 1]!);
        closeTo(matmul64(matmul64(v, diagMat(w)), transpose64(v)), a, 6e-7 * n * (1 + scale), 'v·diag(w)·vᵀ');
        expect(orthonormalityError(v)).toBeLessThan(4e-7 * n);
        transpose64(v).forEach((col, j) => expect(largestEntryPositive(col), `column ${j}`).toBe(true));
      });
    }, 60);
  });

  it('closed forms: diagonal matrices (permuted identity columns), rotated diagonals, repeated eigenvalues, [[0, 1], [1, 0]]', () => {
    noLeak(() => {
      const [w1, v1] = np.linalg.eigh(np.array([[3, 0, 0], [0, -1, 0], [0, 0, 2]], 'float32'));
      expect(w1.toArray()).toEqual([-1, 2, 3]);
      expect(v1.toArray()).toEqual([[0, 0, 1], [1, 0, 0], [0, 1, 0]]);
      // R·diag(1, 4)·Rᵀ for a rotation R by θ: eigenvectors ±(cos θ, sin θ) and ±(−sin θ, cos θ).
      const th = 0.3, c = Math.cos(th), s = Math.sin(th);
      const a = matmul64(matmul64([[c, -s], [s, c]], diagMat([1, 4])), [[c, s], [-s, c]]);
      const [w2, v2] = np.linalg.eigh(np.array(a, 'float32'));
      closeTo(w2.toArray() as number[], [1, 4], 1e-6, 'rotated diag(1, 4)');
      closeTo(rows(v2), [[c, -s], [s, c]], 1e-6, 'rotation as eigenvectors (largest entries positive)');
      const [w3, v3] = np.linalg.eigh(np.eye(3));
      expect(w3.toArray()).toEqual([1, 1, 1]);
      expect(v3.toArray()).toEqual([[1, 0, 0], [0, 1, 0], [0, 0, 1]]);
      const [w4, v4] = np.linalg.eigh(np.array([[0, 1], [1, 0]], 'float32'));
      expect(w4.toArray()).toEqual([-1, 1]);
      closeTo(rows(v4), [[Math.SQRT1_2, Math.SQRT1_2], [-Math.SQRT1_2, Math.SQRT1_2]], 1e-7, '[[0, 1], [1, 0]]');
      // Empty matrices and stacks, and a NaN, which gives NaNs for its own matrix only.
      expect(np.linalg.eigh(np.zeros([0, 0]))[0].shape).toEqual([0]);
      expect(np.linalg.eigh(np.zeros([2, 0, 0]))[1].shape).toEqual([2, 0, 0]);
      const [wn, vn] = np.linalg.eigh(np.array([[[1, NaN], [NaN, 1]], [[2, 0], [0, 1]]], 'float32'));
      expect((wn.toArray() as Mat)[0]!.every(Number.isNaN)).toBe(true);
      expect((vn.toArray() as Mat[])[0]!.flat().every(Number.isNaN)).toBe(true);
      expect((wn.toArray() as Mat)[1]).toEqual([1, 2]);
    });
  });

  it('symmetrizeInput (default) decomposes (A + Aᵀ)/2; with it off, UPLO picks the triangle read and the other is ignored; eigvalsh = eigh’s w', () => {
    const arb = fc.integer({ min: 1, max: 5 }).chain((n) => fc.tuple(entries(n, n, 2), entries(n, n, 50)));
    assertNoLeak(arb, ([b, garbage]) => {
      const n = b.length;
      const sym = symmetricFrom(b);
      const withGarbage = (lower: boolean) => sym.map((r, i) => r.map((v, j) => ((lower ? j <= i : j >= i) ? v : Math.fround(garbage[i]![j]!))));
      const tol = (a: Mat) => eigvalsh64(a).map((x) => ulp32(x) + 1e-12 * fro64(a));
      for (const lower of [true, false]) {
        const w = np.linalg.eigh(np.array(withGarbage(lower), 'float32'), { UPLO: lower ? 'L' : 'U', symmetrizeInput: false })[0].toArray() as number[];
        const ref = eigvalsh64(sym), t = tol(sym);
        w.forEach((x, i) => expect(Math.abs(x - ref[i]!)).toBeLessThanOrEqual(t[i]!));
      }
      const nonsym = f32(b);
      const symPart = nonsym.map((r, i) => r.map((v, j) => (v + nonsym[j]![i]!) / 2));
      const w = np.linalg.eigvalsh(np.array(nonsym, 'float32')).toArray() as number[];
      const ref = eigvalsh64(symPart), t = tol(symPart);
      expect(w.length).toBe(n);
      // (a + aᵀ)·0.5 is rounded to float32 once more than the reference: allow one more ulp of ‖A‖.
      w.forEach((x, i) => expect(Math.abs(x - ref[i]!)).toBeLessThanOrEqual(t[i]! + 2 * ulp32(fro64(symPart))));
      expect(np.linalg.eigh(np.array(nonsym, 'float32'))[0].toArray()).toEqual(w);
    }, 40);
  });

  it('errors name the op and the shape: not square, fewer than 2 axes, bad options; ints are converted; the primitive refuses non-float input', () => {
    noLeak(() => {
      expect(() => np.linalg.eigh(np.ones([2, 3]))).toThrow(ShapeError);
      expect(() => np.linalg.eigh(np.ones([2, 3]))).toThrow('linalg.eigh: expected square matrices [..., n, n] but got [2,3]');
      expect(() => np.linalg.eigvalsh(np.ones([4]))).toThrow('linalg.eigvalsh: expected a stack of matrices [..., n, n] (at least 2 dimensions) but got shape [4]');
      expect(() => np.linalg.eigh(3)).toThrow(/linalg\.eigh: expected a stack of matrices/);
      expect(() => np.linalg.eigh(np.eye(2), { UPLO: 'X' } as never)).toThrow(ValueError);
      expect(() => np.linalg.eigh(np.eye(2), { UPLO: 'X' } as never)).toThrow(`linalg.eigh: UPLO must be 'L' or 'U', got "X"`);
      expect(() => np.linalg.eigh(np.eye(2), { symmetrize_input: false } as never)).toThrow(/unknown option 'symmetrize_input' \(did you mean 'symmetrizeInput'\?\)/);
      expect(np.linalg.eigh(np.array([[2, 1], [1, 2]], 'int32'))[0].toArray()).toEqual([1, 3]);
      expect(() => bind('eigh', [np.array([[1, 0], [0, 1]], 'int32')], { lower: true, computeVectors: true })).toThrow(DTypeError);
      expect(() => bind('eigh', [np.array([[1, 0], [0, 1]], 'int32')], { lower: true, computeVectors: true })).toThrow('eigh: expected float32 matrices but got i32[2,2]');
      expect(() => bind('svd', [np.array([true], 'bool')], { fullMatrices: false, computeUv: false })).toThrow(DTypeError);
    });
  });
});

// ---- svd --------------------------------------------------------------------------------------------

describe('np.linalg.svd', () => {
  it('s descending equals √eig(AᵀA) in float64; U·diag(s)·Vh = A with orthonormal U and Vh, full and reduced, tall, wide and square, stacks too', () => {
    const arb = fc.tuple(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 3 }), fc.boolean(), fc.boolean())
      .chain(([m, n, b, stacked, full]) => fc.array(entries(m, n, 2).map(f32), { minLength: b, maxLength: b }).map((as) => ({ as, m, n, stacked, full })));
    assertNoLeak(arb, ({ as, m, n, stacked, full }) => {
      const k = Math.min(m, n);
      const A = stacked ? np.array(as, 'float32') : np.array(as[0]!, 'float32');
      const [U, S, Vh] = np.linalg.svd(A, { fullMatrices: full });
      const lead = stacked ? [as.length] : [];
      expect(U.shape).toEqual([...lead, m, full ? m : k]);
      expect(S.shape).toEqual([...lead, k]);
      expect(Vh.shape).toEqual([...lead, full ? n : k, n]);
      const us = stacked ? (U.toArray() as Mat[]) : [rows(U)];
      const ss = stacked ? (S.toArray() as Mat) : [S.toArray() as number[]];
      const vs = stacked ? (Vh.toArray() as Mat[]) : [rows(Vh)];
      as.slice(0, stacked ? as.length : 1).forEach((a, b) => {
        const u = us[b]!, s = ss[b]!, vh = vs[b]!, scale = fro64(a);
        const ref = svdvals64(a);
        s.forEach((x, i) => expect(Math.abs(x - ref[i]!), `s[${i}] = ${x} vs ${ref[i]}`).toBeLessThanOrEqual(ulp32(ref[i]!) + 1e-7 * scale));
        for (let i = 1; i < k; i++) expect(s[i]!).toBeLessThanOrEqual(s[i - 1]!);
        const uk = u.map((r) => r.slice(0, k)), vk = vh.slice(0, k);
        closeTo(matmul64(matmul64(uk, diagMat(s)), vk), a, 6e-7 * Math.max(m, n) * (1 + scale), 'U·diag(s)·Vh');
        expect(orthonormalityError(u)).toBeLessThan(4e-7 * m);
        expect(orthonormalityError(transpose64(vh))).toBeLessThan(4e-7 * n);
        transpose64(u).forEach((col, j) => expect(largestEntryPositive(col), `column ${j} of U`).toBe(true));
      });
      // svdvals and computeUv false give the same singular values.
      expect(np.linalg.svdvals(A).toArray()).toEqual(S.toArray());
      expect(np.linalg.svd(A, { computeUv: false }).toArray()).toEqual(S.toArray());
    }, 80);
  });

  it('keeps small singular values to float32 accuracy (one-sided Jacobi, not eig(AᵀA)): 2×2 closed form σ_min = |det A|/σ_max', () => {
    const arb = fc.tuple(fc.double({ min: 0, max: Math.PI, noNaN: true }), fc.double({ min: 0, max: Math.PI, noNaN: true }), fc.double({ min: 1e-7, max: 1e-3, noNaN: true }));
    assertNoLeak(arb, ([t1, t2, small]) => {
      const rot = (t: number): Mat => [[Math.cos(t), -Math.sin(t)], [Math.sin(t), Math.cos(t)]];
      const a = f32(matmul64(matmul64(rot(t1), diagMat([1, small])), transpose64(rot(t2))));
      // The float32 matrix's own singular values, in float64: exact products of float32 entries.
      const det = Math.abs(a[0]![0]! * a[1]![1]! - a[0]![1]! * a[1]![0]!);
      const f2 = fro64(a) ** 2;
      const smax = Math.sqrt((f2 + Math.sqrt(Math.max(0, f2 * f2 - 4 * det * det))) / 2);
      const s = np.linalg.svdvals(np.array(a, 'float32')).toArray() as number[];
      expect(Math.abs(s[0]! - smax)).toBeLessThanOrEqual(ulp32(smax));
      expect(Math.abs(s[1]! - det / smax), `σ_min ${s[1]} vs ${det / smax}`).toBeLessThanOrEqual(2 * ulp32(det / smax));
    }, 40);
  });

  it('closed forms: rotations (s = 1, 1), diagonals (s = sorted |d|), rank one (s = ‖x‖‖y‖, 0, …), rank deficient and zero matrices (orthonormal completion)', () => {
    noLeak(() => {
      const th = 0.7;
      closeTo(np.linalg.svdvals(np.array([[Math.cos(th), -Math.sin(th)], [Math.sin(th), Math.cos(th)]], 'float32')).toArray() as number[], [1, 1], 1e-7, 'rotation');
      const [u1, s1, vh1] = np.linalg.svd(np.array([[0, -3, 0], [2, 0, 0]], 'float32'));
      expect(s1.toArray()).toEqual([3, 2]);
      expect(u1.toArray()).toEqual([[1, 0], [0, 1]]);
      expect(vh1.toArray()).toEqual([[0, -1, 0], [1, 0, 0], [0, 0, 1]]);
      const x = [1, -2, 2], y = [3, 4];
      const outer = x.map((p) => y.map((q) => p * q));
      const [u2, s2, vh2] = np.linalg.svd(np.array(outer, 'float32'));
      closeTo(s2.toArray() as number[], [15, 0], 2e-6, 'rank one');
      closeTo(rows(u2).map((r) => r[0]!), x.map((p) => p / 3).map((p) => -p), 1e-6, 'u₁ = ±x/‖x‖ (largest entry positive)');
      closeTo(rows(vh2)[0]!, y.map((q) => -q / 5), 1e-6, 'v₁ = ±y/‖y‖');
      expect(orthonormalityError(rows(u2))).toBeLessThan(1e-6);
      const [u3, s3, vh3] = np.linalg.svd(np.zeros([3, 2]));
      expect(s3.toArray()).toEqual([0, 0]);
      expect(orthonormalityError(rows(u3))).toBe(0);
      expect(orthonormalityError(rows(vh3))).toBe(0);
      // Empty matrices.
      const [u4, s4, vh4] = np.linalg.svd(np.zeros([3, 0]));
      expect([u4.shape, s4.shape, vh4.shape]).toEqual([[3, 3], [0], [0, 0]]);
      expect(orthonormalityError(rows(u4))).toBe(0);
      const sn = np.linalg.svdvals(np.array([[[1, NaN]], [[3, 4]]], 'float32')).toArray() as Mat;
      expect(Number.isNaN(sn[0]![0]!)).toBe(true);
      expect(sn[1]).toEqual([5]);
    });
  });

  it('rank-deficient matrices (products of m×r and r×n factors, up to 40 rows): U and Vh stay orthonormal (Householder completion) and U·diag(s)·Vh = A', () => {
    const arb = fc.tuple(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 3 }), fc.boolean())
      .chain(([m, n, r, wide]) => fc.tuple(entries(m, r), entries(r, n)).map(([p, q]) => (wide ? transpose64(f32(matmul64(p, q))) : f32(matmul64(p, q)))));
    assertNoLeak(arb, (a) => {
      const m = a.length, n = a[0]!.length, k = Math.min(m, n);
      const [U, S, Vh] = np.linalg.svd(np.array(a, 'float32'));
      const u = rows(U), s = S.toArray() as number[], vh = rows(Vh);
      expect(orthonormalityError(u)).toBeLessThan(4e-7 * Math.sqrt(m) + 1e-6);
      expect(orthonormalityError(transpose64(vh))).toBeLessThan(4e-7 * Math.sqrt(n) + 1e-6);
      closeTo(matmul64(matmul64(u.map((row) => row.slice(0, k)), diagMat(s)), vh.slice(0, k)), a, 1e-6 * Math.max(m, n) * (1 + fro64(a)), 'U·diag(s)·Vh');
    }, 40);
  });

  it('errors: fewer than 2 axes, bad options; the derivative of a non-square full decomposition is refused by name', () => {
    noLeak(() => {
      expect(() => np.linalg.svd(np.ones([3]))).toThrow(ShapeError);
      expect(() => np.linalg.svd(np.ones([3]))).toThrow('linalg.svd: expected a stack of matrices [..., m, n] (at least 2 dimensions) but got shape [3]');
      expect(() => np.linalg.svdvals(2)).toThrow(/linalg\.svdvals: expected a stack of matrices/);
      expect(() => np.linalg.svd(np.eye(2), { full_matrices: false } as never)).toThrow(/unknown option 'full_matrices' \(did you mean 'fullMatrices'\?\)/);
      expect(() => np.linalg.svd(np.eye(2), { computeUv: 0 } as never)).toThrow(/fullMatrices and computeUv must be booleans/);
      const a = np.array([[1, 2], [3, 4], [5, 7]], 'float32');
      expect(() => grad((m: NDArray) => np.sum(np.linalg.svd(m)[0]))(a)).toThrow(TransformError);
      expect(() => grad((m: NDArray) => np.sum(np.linalg.svd(m)[2]))(np.transpose(a))).toThrow('linalg.svd: the derivative of svd with fullMatrices true is only defined for square matrices, got f32[2,3]');
      // As in JAX, even s alone from a full decomposition is refused (svdvals, or computeUv false, is not).
      expect(() => grad((m: NDArray) => np.sum(np.linalg.svd(m)[1]))(a)).toThrow(TransformError);
      expect(grad((m: NDArray) => np.sum(np.linalg.svdvals(m)))(a).shape).toEqual([3, 2]);
      expect(grad((m: NDArray) => np.sum(np.linalg.svd(m, { fullMatrices: false })[1]))(a).shape).toEqual([3, 2]);
      // Full matrices of a square matrix are differentiable.
      expect(grad((m: NDArray) => np.sum(np.linalg.svd(m)[0]))(np.array([[1, 1], [0, 1]], 'float32')).shape).toEqual([2, 2]);
    });
  });
});

// ---- derivatives ---------------------------------------------------------------------------------------

describe('derivatives of eigh and svd', () => {
  const seedArb = fc.integer({ min: 0, max: 1 << 20 });

  it('eigvalsh passes checkGrads to second order; ∇w_k = v_k·v_kᵀ and ∇Σw = I (the trace)', () => {
    assertNoLeak(fc.tuple(gappedSymmetricArb(1, 4), seedArb), ([a, seed]) => {
      const A = np.array(a, 'float32');
      checkGrads((m: NDArray) => np.linalg.eigvalsh(m), [A], { order: 2, seed });
      const n = a.length;
      const v = rows(np.linalg.eigh(A)[1]);
      for (let k = 0; k < n; k++) {
        const g = rows(grad((m: NDArray) => np.linalg.eigvalsh(m).at(k))(A));
        closeTo(g, v.map((r) => v.map((q) => r[k]! * q[k]!)), 1e-5, `∇w_${k}`);
      }
      closeTo(rows(grad((m: NDArray) => np.sum(np.linalg.eigvalsh(m)))(A)), eye64(n), 1e-6, '∇ trace');
    }, 10);
  });

  it('eigh: V·exp(w)·Vᵀ (gauge invariant) to second order, V∘V and the eigenvalues to first, with and without symmetrizeInput', () => {
    assertNoLeak(fc.tuple(gappedSymmetricArb(2, 4), seedArb, fc.constantFrom<'L' | 'U'>('L', 'U')), ([a, seed, UPLO]) => {
      const A = np.array(a, 'float32');
      const expm = (m: NDArray) => {
        const [w, v] = np.linalg.eigh(m);
        return np.matmul(np.multiply(v, np.exp(np.multiply(0.5, w))), np.swapaxes(v, -1, -2));
      };
      checkGrads(expm, [A], { order: 2, seed });
      checkGrads((m: NDArray) => {
        const [w, v] = np.linalg.eigh(m, { UPLO, symmetrizeInput: false });
        return [w, np.square(v)];
      }, [A], { order: 1, seed: seed + 1 });
    }, 10);
  });

  it('with symmetrizeInput off the derivative is that of the triangle read (the other triangle gets zero gradient)', () => {
    assertNoLeak(fc.tuple(gappedSymmetricArb(2, 4), fc.boolean()), ([a, lower]) => {
      const g = rows(grad((m: NDArray) => np.sum(np.sin(np.linalg.eigvalsh(m, { UPLO: lower ? 'L' : 'U', symmetrizeInput: false }))))(np.array(a, 'float32')));
      g.forEach((r, i) => r.forEach((v, j) => { if (lower ? j > i : j < i) expect(Math.abs(v), `(${i}, ${j})`).toBe(0); }));
      // Off the diagonal the one triangle carries both halves of the symmetric gradient.
      const gs = rows(grad((m: NDArray) => np.sum(np.sin(np.linalg.eigvalsh(m))))(np.array(a, 'float32')));
      g.forEach((r, i) => r.forEach((v, j) => {
        const want = i === j ? gs[i]![i]! : (lower ? j < i : j > i) ? 2 * gs[i]![j]! : 0;
        expect(Math.abs(v - want)).toBeLessThan(1e-5);
      }));
    }, 20);
  });

  it('repeated eigenvalues: dw is finite, dV is not (F = 1/(w_j − w_i) divides by zero, as in JAX)', () => {
    noLeak(() => {
      const dA = np.array([[0.1, 0.2, 0], [0.2, -0.3, 0.1], [0, 0.1, 0.2]], 'float32');
      const [, [dw, dv]] = jvp((m: NDArray) => np.linalg.eigh(m), [np.eye(3)], [dA]) as unknown as [unknown, [NDArray, NDArray]];
      expect((dw.toArray() as number[]).every(Number.isFinite)).toBe(true);
      expect((dv.toArray() as Mat).flat().some((v) => !Number.isFinite(v))).toBe(true);
    });
  });

  it('svdvals and the nuclear norm pass checkGrads to second order; ∇‖A‖_nuc = U·Vh (float64 SVD-free check: U·Vh is the polar factor)', () => {
    assertNoLeak(fc.tuple(gappedMatrixArb(4, 4), seedArb), ([a, seed]) => {
      const A = np.array(a, 'float32');
      checkGrads((m: NDArray) => np.linalg.svdvals(m), [A], { order: 2, seed });
      checkGrads((m: NDArray) => np.linalg.norm(m, 'nuc'), [A], { order: 2, seed: seed + 1 });
      const g = rows(grad((m: NDArray) => np.linalg.norm(m, 'nuc'))(A));
      const [u, , vh] = np.linalg.svd(A, { fullMatrices: false });
      closeTo(g, rows(np.matmul(u, vh)), 1e-5, '∇‖A‖_nuc');
      // The polar factor Q = U·Vh satisfies Qᵀ·A = (AᵀA)^{1/2}, symmetric positive semidefinite: check symmetry in float64.
      const qta = matmul64(transpose64(g), a);
      if (a.length >= a[0]!.length) closeTo(qta, transpose64(qta), 1e-5 * (1 + fro64(a)), 'Qᵀ·A symmetric');
      else { const aqt = matmul64(a, transpose64(g)); closeTo(aqt, transpose64(aqt), 1e-5 * (1 + fro64(a)), 'A·Qᵀ symmetric'); }
    }, 12);
  });

  it('svd (reduced; full for square matrices) passes checkGrads on U·diag(f(s))·Vh, U∘U, Vh∘Vh and s: tall, wide and square', () => {
    assertNoLeak(fc.tuple(gappedMatrixArb(4, 4), seedArb), ([a, seed]) => {
      const A = np.array(a, 'float32');
      const full = a.length === a[0]!.length;
      checkGrads((m: NDArray) => {
        const [u, s, vh] = np.linalg.svd(m, { fullMatrices: full });
        return np.matmul(np.multiply(u, np.tanh(s)), vh);
      }, [A], { order: 2, seed });
      checkGrads((m: NDArray) => {
        const [u, s, vh] = np.linalg.svd(m, { fullMatrices: false });
        return [np.square(u), s, np.square(vh)];
      }, [A], { order: 1, seed: seed + 1 });
    }, 12);
  });

  it('the vectors’ derivative is scale covariant: U and V of cA are those of A, so ∇f(cA)·c = ∇f(A), for c from 1e-25 to 1e30 (tall, wide, square)', () => {
    noLeak(() => {
      // F = 1/(s_j² − s_i²) formed the squares: above s ≈ 1.8e19 they overflowed (F = 0, a silently wrong
      // derivative) and below s ≈ 1e-19 they underflowed (F = ∞, NaN). The singular values' own
      // derivative, diag(Uᵀ·dA·V), is scale invariant already; it is checked alongside.
      const mats = [[[1.2, -0.3], [0.4, 0.9], [-0.7, 0.2]], [[1.2, 0.4, -0.7], [-0.3, 0.9, 0.2]], [[1.2, -0.3, 0.1], [0.4, 0.9, -0.5], [-0.7, 0.2, 0.8]]];
      for (const a of mats) {
        const A = np.array(a, 'float32');
        const W = np.reshape(np.sin(np.arange(A.size)), A.shape);
        const f = (m: NDArray) => {
          const [u, s, vh] = np.linalg.svd(m, { fullMatrices: false });
          const k = s.shape[0]!;
          return np.add(np.sum(np.multiply(np.matmul(np.square(u), np.square(vh)), W)), np.divide(np.sum(np.multiply(s, np.arange(1, k + 1))), np.max(s)));
        };
        const want = rows(grad(f)(A));
        for (const c of [1e-25, 1e-21, 1e-12, 1e12, 1e20, 1e30]) {
          const got = rows(np.multiply(grad(f)(np.multiply(A, c)), c));
          closeTo(got, want, 2e-5 * (1 + fro64(want)), `${a.length}×${a[0]!.length}, c = ${c}`);
        }
      }
    });
  });
});

// ---- vmap and jit -----------------------------------------------------------------------------------

describe('eigh and svd under vmap and jit', () => {
  it('vmap equals a loop over the examples (batch at any axis), for values and gradients; jit equals eager', () => {
    const arb = fc.record({ n: fc.integer({ min: 2, max: 3 }), size: fc.integer({ min: 1, max: 3 }), axis: fc.constantFrom(0, 1, 2), seed: fc.integer({ min: 0, max: 1 << 20 }) });
    assertNoLeak(arb, ({ n, size, axis, seed }) => {
      const as = fc.sample(fc.array(gappedSymmetricArb(n, n), { minLength: size, maxLength: size }), { seed, numRuns: 1 })[0]!;
      const X = np.moveaxis(np.array(as, 'float32'), 0, axis);
      const f = (m: NDArray) => {
        const [w, v] = np.linalg.eigh(m);
        const [u, s, vh] = np.linalg.svd(m, { fullMatrices: false });
        return np.add(np.sum(np.multiply(np.sin(w), np.square(v))), np.sum(np.multiply(np.matmul(np.multiply(u, s), vh), m)));
      };
      const loop = (g: (m: NDArray) => NDArray) => np.stack(as.map((a) => g(np.array(a, 'float32'))));
      const flat = (x: NDArray): number[] => [x.toArray()].flat(4) as number[];
      const close = (got: NDArray, want: NDArray, label: string) => closeTo(flat(got), flat(want), 2e-5, label);
      close(vmap(f, { inAxes: axis })(X), loop(f), 'vmap(f)');
      close(vmap(grad(f), { inAxes: axis })(X), loop(grad(f)), 'vmap(grad f)');
      close(vmap((m: NDArray) => np.linalg.eigh(m)[1], { inAxes: axis })(X), np.linalg.eigh(np.array(as, 'float32'))[1], 'vmap(eigh) = eigh of the stack');
      close(vmap((m: NDArray) => np.linalg.svd(m)[2], { inAxes: axis })(X), np.linalg.svd(np.array(as, 'float32'))[2], 'vmap(svd) = svd of the stack');
      const A = np.array(as[0]!, 'float32');
      const jf = jit(f), jg = jit(grad(f));
      close(jf(A), f(A), 'jit(f)');
      close(jg(A), grad(f)(A), 'jit(grad f)');
      // The jitted functions own their programs' constants until their caches are cleared.
      jf.clearCache();
      jg.clearCache();
    }, 12);
  });

  it('give the same derivatives on both backends (the factors come from one float64 JS kernel on either; derivatives run backend kernels)', async () => {
    const a = [[4, 1, 0.5], [1, 3, -1], [0.5, -1, 2]];
    const results: number[][] = [];
    await onEachBackend(() => {
      const A = np.array(a, 'float32');
      const gNorm = grad((m: NDArray) => np.linalg.norm(m, 2))(A);
      const gEigh = grad((m: NDArray) => np.sum(np.sin(np.linalg.eigh(m)[1])))(A);
      const gSvd = grad((m: NDArray) => np.sum(np.cos(np.linalg.svd(m, { fullMatrices: false })[0])))(np.array([[1, 2], [3, 4], [5, 6]], 'float32'));
      results.push([gNorm, gEigh, gSvd].flatMap((g) => Array.from(g.dataSync())));
    });
    results[0]!.forEach((v, i) => expect(Math.abs(v - results[1]![i]!)).toBeLessThan(1e-5));
  });
});

describe('svd: dead singular vectors', () => {
  /** The svd equations of a program and of the programs nested in it (scan bodies), after dead-code elimination. */
  const svdEqns = (eqns: readonly JaxprEqn[]): JaxprEqn<'svd'>[] => eqns.flatMap((e) => (e.prim === 'svd' ? [e as JaxprEqn<'svd'>] : e.prim === 'scan' ? svdEqns((e as JaxprEqn<'scan'>).params.jaxpr.eqns) : []));
  const prunedSvds = (f: (m: NDArray) => NDArray, A: NDArray) => {
    const program = makeJaxpr(f)(A).jaxpr;
    return { traced: svdEqns(program.eqns), pruned: svdEqns(deadCodeElimination(program).eqns), program };
  };

  it('an svd whose U and Vh are unused becomes the values-only svd when jit compiles it (nested in scan too); results are unchanged', () => {
    assertNoLeak(fc.tuple(matrixArb(5, 5), fc.boolean()), ([a, full]) => {
      const A = np.array(a, 'float32');
      const onlyS = (m: NDArray) => np.multiply(np.linalg.svd(m, { fullMatrices: full })[1], 2);
      const { traced, pruned, program } = prunedSvds(onlyS, A);
      expect(traced.map((e) => e.params.computeUv)).toEqual([true]);
      expect(pruned.map((e) => [e.params.computeUv, e.outBinders.length])).toEqual([[false, 1]]);
      // What jit runs: the compiled program's steps.
      const steps = (new CompiledProgram(program) as unknown as { steps: { prim: string; params: { computeUv?: boolean } }[] }).steps;
      expect(steps.filter((st) => st.prim === 'svd').map((st) => st.params.computeUv)).toEqual([false]);
      const jf = jit(onlyS);
      expect(jf(A).toArray()).toEqual(onlyS(A).toArray());
      jf.clearCache();
      // Inside a scan body, with the vectors of a second svd used: only the first is rewritten.
      const body = (c: NDArray, m: NDArray): [NDArray, NDArray] => [np.add(c, np.sum(np.linalg.svd(m)[1])), np.linalg.svd(m)[0]];
      const scanned = (m: NDArray) => {
        const [c, us] = scan(body, np.zeros([]), np.stack([m, np.multiply(m, 2)]));
        return np.add(c, np.sum(np.abs(us)));
      };
      const inScan = prunedSvds(scanned, A);
      expect(inScan.pruned.map((e) => e.params.computeUv)).toEqual([false, true]);
      const js = jit(scanned);
      expect(js(A).toArray()).toEqual(scanned(A).toArray());
      js.clearCache();
    }, 15);
  });

  it('an svd whose vectors are used keeps them: U alone, Vh alone, and the derivative of s (which needs U and V)', () => {
    noLeak(() => {
      const A = np.array([[3, 1, 0.5], [1, 2, -1]], 'float32');
      expect(prunedSvds((m) => np.linalg.svd(m)[0], A).pruned.map((e) => e.params.computeUv)).toEqual([true]);
      expect(prunedSvds((m) => np.linalg.svd(m)[2], A).pruned.map((e) => e.params.computeUv)).toEqual([true]);
      const g = (m: NDArray) => grad((x: NDArray) => np.sum(np.linalg.svd(x, { fullMatrices: false })[1]))(m);
      expect(prunedSvds(g, A).pruned.map((e) => e.params.computeUv)).toEqual([true]);
      const jg = jit(g);
      closeTo(rows(jg(A)), rows(g(A)), 1e-6, 'jit(grad Σs)');
      jg.clearCache();
    });
  });
});

// ---- pinv, lstsq, matrixRank, cond, norm -------------------------------------------------------------

/** A random m×n matrix of rank at most r: the product of m×r and r×n factors (float32 entries). */
const lowRankArb = fc.tuple(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 }))
  .chain(([m, n, r]) => fc.tuple(entries(m, Math.min(r, m, n)), entries(Math.min(r, m, n), n)).map(([p, q]) => ({ a: f32(matmul64(p, q)), r: Math.min(r, m, n) })));

describe('np.linalg.pinv', () => {
  it('satisfies the four Moore–Penrose conditions (full rank and rank deficient, tall and wide)', () => {
    assertNoLeak(lowRankArb, ({ a }) => {
      const p = rows(np.linalg.pinv(np.array(a, 'float32')));
      const m = a.length, n = a[0]!.length;
      expect([p.length, p[0]!.length]).toEqual([n, m]);
      const scale = fro64(a), pscale = fro64(p);
      const ap = matmul64(a, p), pa = matmul64(p, a);
      const cond = scale * pscale;
      // Rounding in float32 amplifies with the condition number ‖A‖‖A⁺‖.
      closeTo(matmul64(ap, a), a, 2e-5 * cond * (1 + scale), 'A·P·A = A');
      closeTo(matmul64(pa, p), p, 2e-5 * cond * (1 + pscale), 'P·A·P = P');
      closeTo(ap, transpose64(ap), 2e-5 * cond, '(A·P)ᵀ = A·P');
      closeTo(pa, transpose64(pa), 2e-5 * cond, '(P·A)ᵀ = P·A');
    }, 60);
  });

  it('equals (AᵀA)⁻¹Aᵀ in float64 for full-column-rank matrices, passes checkGrads to second order there (JAX’s custom JVP), and honours rtol', () => {
    assertNoLeak(fc.tuple(gappedMatrixArb(4, 4), fc.integer({ min: 0, max: 1 << 20 })), ([a, seed]) => {
      const m = a.length, n = a[0]!.length;
      const A = np.array(a, 'float32');
      const p = rows(np.linalg.pinv(A));
      if (m >= n) {
        const ref = solve64(matmul64(transpose64(a), a), transpose64(a));
        closeTo(p, ref, 1e-5 * (1 + fro64(ref)), '(AᵀA)⁻¹Aᵀ');
      } else {
        const ref = transpose64(solve64(matmul64(a, transpose64(a)), a));
        closeTo(p, ref, 1e-5 * (1 + fro64(ref)), 'Aᵀ(AAᵀ)⁻¹');
      }
      checkGrads((x: NDArray) => np.linalg.pinv(x), [A], { order: 2, seed });
    }, 10);
    noLeak(() => {
      // diag(1, 1e-3): the default cutoff keeps 1e-3; rtol 1e-2 drops it.
      const d = np.array([[1, 0], [0, 1e-3]], 'float32');
      closeTo(rows(np.linalg.pinv(d)), [[1, 0], [0, 1000]], 1e-2, 'kept');
      expect(np.linalg.pinv(d, { rtol: 1e-2 }).toArray()).toEqual([[1, 0], [0, 0]]);
      expect(np.linalg.pinv(np.zeros([2, 3])).toArray()).toEqual([[0, 0], [0, 0], [0, 0]]);
      expect(np.linalg.pinv(np.zeros([2, 0])).shape).toEqual([0, 2]);
      expect(() => np.linalg.pinv(d, { rtol: -1 })).toThrow('linalg.pinv: rtol must be a non-negative number, got -1');
      // NaN and −∞ are named as such (JSON.stringify wrote them as null, which reads as a missing value).
      expect(() => np.linalg.pinv(d, { rtol: NaN })).toThrow('linalg.pinv: rtol must be a non-negative number, got NaN');
      expect(() => np.linalg.pinv(d, { rcond: -Infinity })).toThrow('linalg.pinv: rcond must be a non-negative number, got -Infinity');
      expect(() => np.linalg.matrixRank(d, { rtol: NaN })).toThrow('linalg.matrixRank: rtol must be a non-negative number, got NaN');
      expect(() => np.linalg.matrixRank(d, { tol: NaN })).toThrow('linalg.matrixRank: tol must be a non-negative number, got NaN');
      expect(() => np.linalg.lstsq(d, [1, 1], { rcond: NaN })).toThrow('linalg.lstsq: rcond must be a number or null, got NaN');
      expect(() => np.linalg.lstsq(d, [1, 1], { rcond: '0.1' as unknown as number })).toThrow('linalg.lstsq: rcond must be a number or null, got "0.1"');
    });
  });

  it('the gradient of the scale-invariant projector A·A⁺ is scale covariant: ∇ at cA times c equals ∇ at A, for c from 1e-30 to 1e30, tall, wide and stacks', () => {
    noLeak(() => {
      // The rule's P·Pᵀ ~ 1/c² overflowed float32 below c ≈ 1e-19 (NaN) and underflowed above 1e24.
      // Forward mode carries pinv's own tangent, ~dA/c², which leaves float32 beyond about 1e±19 by itself.
      const a = np.array([[1.2, -0.3], [0.4, 0.9], [-0.7, 0.2]], 'float32');
      for (const A of [a, np.transpose(a), np.stack([a, np.multiply(a, -0.5)])]) {
        const m = A.shape[A.ndim - 2]!;
        const W = np.reshape(np.cos(np.arange(m * m)), [m, m]);
        const f = (x: NDArray) => np.sum(np.multiply(W, np.matmul(x, np.linalg.pinv(x))));
        const want = (grad(f)(A).toArray() as unknown[]).flat(2) as number[];
        const D = np.reshape(np.sin(np.arange(A.size)), A.shape);
        const t = jvp(f, [A], [D])[1].item() as number;
        for (const c of [1e-30, 1e-20, 1e-10, 1e10, 1e20, 1e30]) {
          const got = (np.multiply(grad(f)(np.multiply(A, c)), c).toArray() as unknown[]).flat(2) as number[];
          closeTo(got, want, 1e-5 * (1 + Math.max(...want.map(Math.abs))), `∇, [${A.shape.join(', ')}], c = ${c}`);
          if (Math.abs(Math.log10(c)) <= 10) {
            const tc = (jvp(f, [np.multiply(A, c)], [D])[1].item() as number) * c;
            expect(Math.abs(tc - t), `jvp, c = ${c}`).toBeLessThan(1e-5 * (1 + Math.abs(t)));
          }
        }
      }
    });
  });

  it('vmap equals a loop and jit equals eager, for pinv and its gradient', () => {
    assertNoLeak(fc.integer({ min: 0, max: 1 << 20 }), (seed) => {
      const as = fc.sample(fc.array(gappedMatrixArb(3, 3).filter((a) => a.length === 3 && a[0]!.length === 2), { minLength: 3, maxLength: 3 }), { seed, numRuns: 1 })[0]!;
      const f = (x: NDArray) => np.sum(np.sin(np.linalg.pinv(x)));
      const X = np.array(as, 'float32');
      closeTo((vmap(grad(f))(X).toArray() as Mat[]).flat(2), as.flatMap((a) => rows(grad(f)(np.array(a, 'float32'))).flat()), 1e-5, 'vmap(grad pinv)');
      const jitPinv = jit((x: NDArray) => np.linalg.pinv(x));
      closeTo((jitPinv(X).toArray() as Mat[]).flat(2), (np.linalg.pinv(X).toArray() as Mat[]).flat(2), 1e-6, 'jit(pinv)');
      jitPinv.clearCache();
    }, 6);
  });
});

describe('np.linalg.lstsq', () => {
  it('full-rank tall systems: x solves the normal equations AᵀA x = Aᵀb in float64; residuals ‖b − Ax‖²; rank n; s = svdvals; b 1-D or 2-D', () => {
    const arb = fc.tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 1 << 20 }))
      .chain(([n, extra, k, seed]) => fc.tuple(gappedMatrixArb(n + extra, n).filter((a) => a.length === n + extra && a[0]!.length === n), entries(n + extra, Math.max(k, 1))).map(([a, b]) => ({ a, b: f32(b), k, seed })));
    assertNoLeak(arb, ({ a, b, k }) => {
      const m = a.length, n = a[0]!.length;
      const B = k === 0 ? np.array(b.map((r) => r[0]!), 'float32') : np.array(b, 'float32');
      const [x, res, rank, s] = np.linalg.lstsq(np.array(a, 'float32'), B);
      const bm = k === 0 ? b.map((r) => [r[0]!]) : b;
      const ref = solve64(matmul64(transpose64(a), a), matmul64(transpose64(a), bm));
      expect(x.shape).toEqual(k === 0 ? [n] : [n, k]);
      const xm = k === 0 ? (x.toArray() as number[]).map((v) => [v]) : rows(x);
      closeTo(xm, ref, 2e-5 * (1 + fro64(ref)), 'x');
      const r = bm.map((row, i) => row.map((v, j) => v - a[i]!.reduce((acc, aij, l) => acc + aij * ref[l]![j]!, 0)));
      const wantRes = bm[0]!.map((_, j) => r.reduce((acc, row) => acc + row[j]! ** 2, 0));
      expect(res.shape).toEqual([k === 0 ? 1 : k]);
      closeTo(res.toArray() as number[], wantRes, 1e-5 * (1 + fro64(bm) ** 2), 'residuals');
      expect(rank.dtype).toBe('int32');
      expect(rank.item()).toBe(n);
      expect(s.toArray()).toEqual(np.linalg.svdvals(np.array(a, 'float32')).toArray());
      void m;
    }, 40);
  });

  it('wide or rank-deficient systems: the minimum-norm solution pinv(A)·b, empty residuals (NumPy), rank from the cutoff', () => {
    assertNoLeak(fc.tuple(lowRankArb, fc.integer({ min: 0, max: 1 << 20 })), ([{ a, r }, seed]) => {
      const m = a.length, n = a[0]!.length;
      const b = f32(fc.sample(entries(m, 2), { seed, numRuns: 1 })[0]!);
      const A = np.array(a, 'float32');
      const [x, res, rank] = np.linalg.lstsq(A, np.array(b, 'float32'));
      const rk = rank.item() as number;
      expect(rk).toBeLessThanOrEqual(r);
      expect(rk).toBe(np.linalg.matrixRank(A, { rtol: 1.1920928955078125e-7 * Math.max(m, n) }).item());
      if (rk < n || m <= n) expect(res.shape).toEqual([0]);
      else expect(res.shape).toEqual([2]);
      // The minimum-norm least-squares solution is pinv(A)·b, with lstsq's cutoff.
      const p = rows(np.linalg.pinv(A, { rtol: 1.1920928955078125e-7 * Math.max(m, n) }));
      const want = matmul64(p, b);
      closeTo(rows(x), want, 1e-4 * (1 + fro64(want)), 'x = pinv(A)·b');
    }, 40);
  });

  it('exactly rank-deficient a (a zero column, a repeated column): the derivative is that of the minimum-norm solution at constant rank, finite, not NaN', () => {
    noLeak(() => {
      // x = A⁺b with A's column 1 zero: x₁ = 0 and (x₀, x₂) solve the least-squares problem on the other
      // columns. Perturbing those columns keeps the rank (2), so there the derivative is that of the
      // float64 normal-equation solution; the SVD's vectors (a zero singular value divides dU) made it NaN.
      const a: Mat = f32([[1.2, 0, 0.5], [0.4, 0, -1.1], [-0.7, 0, 0.6], [0.3, 0, 0.2]]);
      const b = [1, 2, 3, 4], w = [0.7, -1.3, 0.4];
      const x64 = (m: Mat): number[] => {
        const ar = m.map((r) => [r[0]!, r[2]!]);
        const sol = solve64(matmul64(transpose64(ar), ar), matmul64(transpose64(ar), b.map((v) => [v])));
        return [sol[0]![0]!, 0, sol[1]![0]!];
      };
      const loss64 = (m: Mat): number => x64(m).reduce((acc, v, i) => acc + v * w[i]!, 0);
      const loss = (m: NDArray, q: NDArray) => np.sum(np.multiply(np.linalg.lstsq(m, q, { numpyResid: false })[0], np.array(w, 'float32')));
      const [gA, gb] = grad(loss, { argnums: [0, 1] })(np.array(a, 'float32'), np.array(b, 'float32')) as [NDArray, NDArray];
      const ga = rows(gA);
      expect(ga.flat().every(Number.isFinite), `grad a ${JSON.stringify(ga)}`).toBe(true);
      const h = 1e-6;
      for (const i of [0, 1, 2, 3]) {
        for (const j of [0, 2]) {
          const plus = a.map((r) => [...r]), minus = a.map((r) => [...r]);
          plus[i]![j]! += h; minus[i]![j]! -= h;
          const fd = (loss64(plus) - loss64(minus)) / (2 * h);
          expect(Math.abs(ga[i]![j]! - fd), `∂/∂a[${i}][${j}]: ${ga[i]![j]} vs ${fd}`).toBeLessThan(1e-4 * (1 + Math.abs(fd)));
        }
      }
      // In b the solution is linear: ∂(w·x)/∂b = (A⁺)ᵀw, from the same normal equations.
      (gb.toArray() as number[]).forEach((g, k) => {
        const plus = [...b]; plus[k]! += 1;
        const ar = a.map((r) => [r[0]!, r[2]!]);
        const sol = solve64(matmul64(transpose64(ar), ar), matmul64(transpose64(ar), plus.map((v) => [v])));
        const want = sol[0]![0]! * w[0]! + sol[1]![0]! * w[2]! - loss64(a);
        expect(Math.abs(g - want), `∂/∂b[${k}]`).toBeLessThan(1e-4 * (1 + Math.abs(want)));
      });
      // A square matrix of rank 1 (two zero singular values: F = 1/(s_j² − s_i²) divided by zero too).
      const sq = np.array([[1, 2], [2, 4]], 'float32');
      const gSq = grad((m: NDArray) => np.sum(np.linalg.lstsq(m, np.array([1, 1], 'float32'), { numpyResid: false })[0]))(sq);
      expect((gSq.toArray() as number[][]).flat().every(Number.isFinite), `grad at rank 1: ${JSON.stringify(gSq.toArray())}`).toBe(true);
      const gPinv = grad((m: NDArray) => np.sum(np.matmul(np.linalg.pinv(m, { rtol: 2 * 2 ** -23 }), np.array([1, 1], 'float32'))))(sq);
      closeTo(rows(gSq), rows(gPinv), 1e-5, 'lstsq and pinv·b agree at rank 1');
      // At full rank the rule is the derivative of x and of s (diag(Uᵀ·dA·V)), to second order, tall and wide.
      for (const m of [np.array([[1, 0.5], [0.2, 2], [1, 1]], 'float32'), np.array([[1, 0.2, 1], [0.5, 2, 1]], 'float32')]) {
        const q = np.array(m.shape[0] === 3 ? [1, 2, 4] : [1, -1], 'float32');
        checkGrads((p: NDArray, r: NDArray) => np.linalg.lstsq(p, r, { numpyResid: false })[0], [m, q], { order: 2, seed: 1 });
        checkGrads((p: NDArray) => np.linalg.lstsq(p, q, { numpyResid: false })[3], [m], { order: 2, seed: 2 });
      }
    });
  });

  it('x(cA, cb) = x(A, b), and so is its derivative: ∇ at (cA, cb) times c equals ∇ at (A, b), for c from 1e-30 to 1e30, tall and wide, jvp and grad', () => {
    noLeak(() => {
      // Golub–Pereyra's dP has P·Pᵀ ~ 1/c², which overflowed float32 below c ≈ 1e-19 (NaN), and the SVD's
      // F = 1/(s_j² − s_i²) overflowed above 1e19; the rule works on A/max|A| and applies dP to b directly.
      for (const [a, b] of [[[[1.2, -0.3], [0.4, 0.9], [-0.7, 0.2]], [1, 2, -1]], [[[1.2, 0.4, -0.7], [-0.3, 0.9, 0.2]], [1, -2]]] as [Mat, number[]][]) {
        const A = np.array(a, 'float32'), B = np.array(b, 'float32');
        const weights = np.array(a[0]!.map((_, i) => Math.cos(i + 1)), 'float32');
        const D = np.reshape(np.sin(np.arange(A.size)), A.shape);
        const f = (m: NDArray, q: NDArray) => np.sum(np.multiply(np.linalg.lstsq(m, q, { numpyResid: false })[0], weights));
        const [gA, gb] = grad(f, { argnums: [0, 1] })(A, B) as [NDArray, NDArray];
        const t = jvp((m: NDArray) => f(m, B), [A], [D])[1].item() as number;
        for (const c of [1e-30, 1e-20, 1e-10, 1e10, 1e20, 1e30]) {
          const [gAc, gbc] = grad(f, { argnums: [0, 1] })(np.multiply(A, c), np.multiply(B, c)) as [NDArray, NDArray];
          closeTo(rows(np.multiply(gAc, c)), rows(gA), 2e-5 * (1 + fro64(rows(gA))), `∇a, c = ${c}`);
          closeTo(np.multiply(gbc, c).toArray() as number[], gb.toArray() as number[], 2e-5, `∇b, c = ${c}`);
          const tc = (jvp((m: NDArray) => f(m, np.multiply(B, c)), [np.multiply(A, c)], [D])[1].item() as number) * c;
          expect(Math.abs(tc - t), `jvp, c = ${c}: ${tc} vs ${t}`).toBeLessThan(2e-5 * (1 + Math.abs(t)));
        }
      }
    });
  });

  it('under jit: numpyResid false gives JAX’s residuals (equal to eager); NumPy’s need a concrete rank and say so; grad passes checkGrads; bad shapes are named', () => {
    noLeak(() => {
      const a = np.array([[1, 0.5], [0.2, 2], [1, 1]], 'float32'), b = np.array([1, 2, 4], 'float32');
      const eager = np.linalg.lstsq(a, b, { numpyResid: false });
      const jitLstsq = jit((p: NDArray, q: NDArray) => np.linalg.lstsq(p, q, { numpyResid: false }));
      const jitted = jitLstsq(a, b);
      eager.forEach((e, i) => expect(jitted[i]!.toArray()).toEqual(e.toArray()));
      jitLstsq.clearCache();
      expect(np.linalg.lstsq(a, b)[1].toArray()).toEqual(eager[1].toArray());
      expect(() => jit((p: NDArray, q: NDArray) => np.linalg.lstsq(p, q))(a, b)).toThrow(ConcretizationError);
      expect(() => jit((p: NDArray, q: NDArray) => np.linalg.lstsq(p, q))(a, b)).toThrow(/numpyResid: false/);
      // Wide systems need no rank for NumPy's (empty) residuals.
      const wide = jit((p: NDArray, q: NDArray) => np.linalg.lstsq(p, q)[1]);
      expect(wide(np.transpose(a), np.array([1, 2], 'float32')).shape).toEqual([0]);
      wide.clearCache();
      checkGrads((p: NDArray, q: NDArray) => np.linalg.lstsq(p, q)[0], [a, b], { order: 1 });
      expect(() => np.linalg.lstsq(np.ones([2, 2, 2]), np.ones([2]))).toThrow('linalg.lstsq: a must be a matrix [m, n], got shape [2,2,2]');
      expect(() => np.linalg.lstsq(np.ones([3, 2]), np.ones([2]))).toThrow('linalg.lstsq: a [3,2] and b [2] have different numbers of rows; expected b.shape[0] == 3');
      expect(() => np.linalg.lstsq(np.ones([3, 2]), np.ones([3, 1, 1]))).toThrow('linalg.lstsq: b must be [m] or [m, k], got shape [3,1,1]');
    });
  });
});

describe('np.linalg.matrixRank, cond and the spectral norms', () => {
  it('matrixRank of a product of m×r and r×n factors is r (generic factors); zeros have rank 0; stacks and vectors', () => {
    assertNoLeak(lowRankArb, ({ a, r }) => {
      // Generic factors give rank r unless the smallest singular value is near the cutoff; check against float64.
      const s = svdvals64(a);
      const tol = s[0]! * Math.max(a.length, a[0]!.length) * 2 ** -23;
      const clear = s.every((x) => Math.abs(x - tol) > 1e-3 * s[0]!);
      if (clear) expect(np.linalg.matrixRank(np.array(a, 'float32')).item()).toBe(s.filter((x) => x > tol).length);
      if (clear && s[r - 1]! > 1e-3 * s[0]!) expect(np.linalg.matrixRank(np.array(a, 'float32')).item()).toBe(r);
    }, 60);
    noLeak(() => {
      expect(np.linalg.matrixRank(np.zeros([3, 4])).item()).toBe(0);
      expect(np.linalg.matrixRank(np.stack([np.eye(3), np.array([[1, 2, 3], [2, 4, 6], [0, 0, 1]], 'float32')])).toArray()).toEqual([3, 2]);
      expect(np.linalg.matrixRank(np.array([0, 0], 'float32')).item()).toBe(0);
      expect(np.linalg.matrixRank(np.array([0, 3], 'float32')).item()).toBe(1);
      expect(np.linalg.matrixRank(np.array([[1, 0], [0, 1e-3]], 'float32'), { rtol: 1e-2 }).item()).toBe(1);
    });
  });

  it('cond = s_max/s_min in float64 (2, the default; −2 its inverse), ‖A‖·‖A⁻¹‖ for the other orders; singular gives ∞', () => {
    assertNoLeak(fc.integer({ min: 1, max: 4 }).chain((n) => entries(n, n, 2)).map(f32), (a) => {
      const s = svdvals64(a);
      fc.pre(s[s.length - 1]! > 1e-2 * s[0]!);
      const want = s[0]! / s[s.length - 1]!;
      expect(Math.abs((np.linalg.cond(np.array(a, 'float32')).item() as number) - want)).toBeLessThan(1e-4 * want);
      expect(Math.abs((np.linalg.cond(np.array(a, 'float32'), -2).item() as number) - 1 / want)).toBeLessThan(1e-4 / want);
      const inv = solve64(a, eye64(a.length));
      const one = (x: Mat) => Math.max(...transpose64(x).map((c) => c.reduce((p, v) => p + Math.abs(v), 0)));
      const condOne = one(a) * one(inv);
      expect(Math.abs((np.linalg.cond(np.array(a, 'float32'), 1).item() as number) - condOne)).toBeLessThan(1e-3 * condOne);
      const condFro = fro64(a) * fro64(inv);
      expect(Math.abs((np.linalg.cond(np.array(a, 'float32'), 'fro').item() as number) - condFro)).toBeLessThan(1e-3 * condFro);
    }, 40);
    noLeak(() => {
      expect(np.linalg.cond(np.eye(3)).item()).toBe(1);
      expect(np.linalg.cond(np.array([[1, 2], [2, 4]], 'float32')).item()).toBe(Infinity);
      expect(np.linalg.cond(np.array([[3, 0], [0, 0.5]], 'float32')).item()).toBe(6);
      expect(() => np.linalg.cond(np.ones([2, 3]), 1)).toThrow('linalg.cond: p 1 needs square matrices (it inverts them), got [2,3]');
      expect(() => np.linalg.cond(np.ones([0, 0]))).toThrow(ShapeError);
      expect(() => np.linalg.cond(np.eye(2), 3 as never)).toThrow(ValueError);
    });
  });

  it('a singular matrix has condition number ∞ for every order (NumPy and JAX), eager, under jit and vmap; NaN input stays NaN', () => {
    noLeak(() => {
      const orders = [null, 2, -2, 1, -1, Infinity, -Infinity, 'fro', 'nuc'] as const;
      // s_max/s_min = 0/0 for the zero matrix, and inv meets a zero pivot for both: NumPy's cond gives ∞ (its NaN from
      // 0/0 or from inverting becomes ∞ where the input has no NaN); for −2, s_min/s_max is 0 unless both are 0.
      const singular = np.stack([np.zeros([2, 2]), np.array([[1, 2], [2, 4]], 'float32'), np.array([[0, 1], [0, 0]], 'float32')]);
      for (const p of orders) {
        const want = p === -2 ? [Infinity, 0, 0] : [Infinity, Infinity, Infinity];
        expect(np.linalg.cond(singular, p).toArray(), `p ${String(p)}`).toEqual(want);
        const jitCond = jit((x: NDArray) => np.linalg.cond(x, p));
        expect(jitCond(singular).toArray(), `jit, p ${String(p)}`).toEqual(want);
        jitCond.clearCache();
        expect(vmap((x: NDArray) => np.linalg.cond(x, p))(singular).toArray(), `vmap, p ${String(p)}`).toEqual(want);
        // A stack mixing singular and invertible matrices: each gets its own value.
        const mixed = np.stack([np.zeros([2, 2]), np.array([[3, 0], [0, 0.5]], 'float32')]);
        const finite = p === -2 ? 0.5 / 3 : p === 1 || p === Infinity || p === null || p === 2 ? 6 : null;
        const got = np.linalg.cond(mixed, p).toArray() as number[];
        expect(got[0], `mixed, p ${String(p)}`).toBe(Infinity);
        if (finite !== null) expect(Math.abs(got[1]! - finite)).toBeLessThan(1e-6);
        const nan = np.linalg.cond(np.array([[NaN, 0], [0, 0]], 'float32'), p).item();
        expect(nan, `NaN input, p ${String(p)}`).toBeNaN();
      }
      // Where the matrix is invertible the singular branch leaves the derivative alone.
      const A = np.array([[2, 0.5, -0.3], [0.4, 1.5, 0.2], [-0.6, 0.1, 1.8]], 'float32');
      for (const p of [1, 'fro', 'nuc', 2] as const) checkGrads((x: NDArray) => np.linalg.cond(x, p), [A], { order: 1, seed: 3 });
    });
  });

  it('norm ord 2, −2 and nuc over any two axes (rows the first axis given) equal the float64 singular values, keepdims too', () => {
    const arb = fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })).chain(([p, q, r]) => fc.tuple(fc.array(entries(q, r, 2).map(f32), { minLength: p, maxLength: p }), fc.constantFrom<[number, number]>([1, 2], [2, 1], [-1, 1])));
    assertNoLeak(arb, ([xs, axis]) => {
      const X = np.array(xs, 'float32');
      const transposed = axis[0] > axis[1] || axis[0] === -1;
      for (const ord of [2, -2, 'nuc'] as const) {
        const got = np.linalg.norm(X, ord, axis).toArray() as number[];
        const want = xs.map((x) => {
          const s = svdvals64(transposed ? transpose64(x) : x);
          return ord === 2 ? s[0]! : ord === -2 ? s[s.length - 1]! : s.reduce((p, v) => p + v, 0);
        });
        closeTo(got, want, 1e-6 * (1 + Math.max(...want)), `ord ${ord}`);
        expect(np.linalg.norm(X, ord, axis, true).shape).toEqual([xs.length, 1, 1]);
      }
    }, 30);
    noLeak(() => {
      expect(np.linalg.norm(np.array([[3, 0], [0, -4]], 'float32'), 2).item()).toBe(4);
      expect(np.linalg.norm(np.array([[3, 0], [0, -4]], 'float32'), 'nuc').item()).toBe(7);
      expect(() => np.linalg.norm(np.ones([3]), 'nuc')).toThrow("linalg.norm: ord 'nuc' is a matrix norm and needs two axes, got 1 ([3], axis undefined)");
    });
  });

  it('matrix norms of empty matrices follow NumPy 2: 0 for 2, nuc, fro, 1 and ∞ (max with initial 0); a ValueError for −2, and for −1 and −∞ when the minimum is over nothing', () => {
    // NumPy 2.4's np.linalg.norm(np.zeros(shape), ord, axis=(-2, -1)): a number, or the ValueError of a
    // minimum over an empty axis ('raise').
    const numpy: [number | 'fro' | 'nuc', number[], number[] | 'raise'][] = [];
    for (const [shape, zero] of [[[0, 3], [0]], [[3, 0], [0]], [[0, 0], [0]], [[2, 0, 3], [0, 0]]] as [number[], number[]][]) {
      for (const ord of [2, 'nuc', 'fro', 1, Infinity] as const) numpy.push([ord, shape, zero]);
      numpy.push([-2, shape, 'raise']);
      numpy.push([-1, shape, shape[shape.length - 1] === 0 ? 'raise' : zero]);
      numpy.push([-Infinity, shape, shape[shape.length - 2] === 0 ? 'raise' : zero]);
    }
    noLeak(() => {
      for (const [ord, shape, want] of numpy) {
        const label = `ord ${ord}, ${JSON.stringify(shape)}`;
        const norm = () => np.linalg.norm(np.zeros(shape), ord, [-2, -1]);
        if (want === 'raise') {
          expect(norm, label).toThrow(ValueError);
          expect(norm, label).toThrow(`linalg.norm: ord ${ord} of empty matrices (${JSON.stringify(shape)} over axes [${shape.length - 2},${shape.length - 1}])`);
        } else {
          expect([norm().toArray()].flat(), label).toEqual(want);
          expect(np.linalg.norm(np.zeros(shape), ord, [-2, -1], true).shape, `${label}, keepdims`).toEqual(shape.map((d, i) => (i >= shape.length - 2 ? 1 : d)));
        }
      }
      expect(() => np.linalg.norm(np.zeros([0, 2]), -2)).toThrow('the smallest singular value of a matrix with no singular values');
    });
  });
});

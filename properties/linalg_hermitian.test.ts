// The `hermitian` option of np.linalg.svd, svdvals, pinv and matrixRank (NumPy's): symmetric
// matrices decomposed by eigh, s = |λ| descending, U the eigenvectors, Vh = (U·sign(λ))ᵀ. Checked
// against NumPy's LAPACK in float64 (fixtures/hermitian_refs.json, made by
// fixtures/make_hermitian_refs.py: random, indefinite, positive-definite and exactly singular
// symmetric matrices), against gradus's own general svd, by the decomposition's identities, and by
// derivatives against finite differences (checkGrads) and against the general svd's gradient.
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ShapeError, ValueError, grad, jit, np, vmap, type NDArray } from '../src/index.js';
import { checkGrads } from '../src/testing/index.js';
import { assertNoLeak, noLeak } from './helpers.js';
import { type Mat, eye64, matmul64, orthogonal64, transpose64 } from './matrix64.js';

interface HermitianRef {
  kind: string;
  a: Mat;
  s: number[];
  sGeneral: number[];
  outer: Mat[];
  pinv: Mat;
  rank: number;
  rankTol: number;
  rankRtol: number;
}
const refs = JSON.parse(readFileSync(new URL('./fixtures/hermitian_refs.json', import.meta.url), 'utf8')) as HermitianRef[];

const rows = (x: NDArray): Mat => x.toArray() as Mat;
const maxAbsDiff = (a: Mat | number[], b: Mat | number[]): number => {
  const x = (a as unknown[]).flat() as number[], y = (b as unknown[]).flat() as number[];
  expect(x.length).toBe(y.length);
  return Math.max(0, ...x.map((v, i) => Math.abs(v - y[i]!)));
};
const orthonormalityError = (q: Mat): number => maxAbsDiff(matmul64(transpose64(q), q), eye64(q.length));

/**
 * Q·diag(λ)·Qᵀ rounded to float32, with |λ| at least 0.4 and their magnitudes at least 0.3 apart,
 * of random signs (indefinite matrices included): the singular vectors' derivatives stay moderate.
 */
const gappedSymmetricArb = (minN = 1, maxN = 4) => fc.integer({ min: minN, max: maxN }).chain((n) => fc.tuple(
  fc.array(fc.array(fc.double({ min: -1, max: 1, noNaN: true }), { minLength: n, maxLength: n }), { minLength: n, maxLength: n }),
  fc.array(fc.double({ min: 0.3, max: 0.8, noNaN: true }), { minLength: n, maxLength: n }),
  fc.array(fc.boolean(), { minLength: n, maxLength: n }),
)).map(([g, steps, negatives]) => {
  const q = orthogonal64(g.map((r, i) => r.map((v, j) => v + (i === j ? 3 : 0)))); // g + 3I: well conditioned
  let acc = 0.1;
  const lambda = steps.map((s, i) => (negatives[i] ? -1 : 1) * (acc += s));
  const a = matmul64(matmul64(q, lambda.map((l, i) => lambda.map((_, j) => (i === j ? l : 0)))), transpose64(q));
  return a.map((r, i) => r.map((_, j) => Math.fround((a[i]![j]! + a[j]![i]!) / 2)));
});

describe('hermitian: against NumPy (LAPACK, float64)', () => {
  it('svd and svdvals: s equals NumPy’s (hermitian and general); each u_j·vh_j equals NumPy’s where |λ_j| is simple; u·diag(s)·vh = A', () => {
    noLeak(() => {
      for (const r of refs) {
        const A = np.array(r.a, 'float32');
        const scale = 1 + r.s[0]!;
        const [u, s, vh] = np.linalg.svd(A, { hermitian: true });
        const got = s.toArray() as number[];
        expect(maxAbsDiff(got, r.s), `${r.kind} ${r.a.length}: s`).toBeLessThan(2e-6 * scale);
        expect(maxAbsDiff(got, r.sGeneral), `${r.kind}: s vs the general SVD`).toBeLessThan(2e-6 * scale);
        expect(maxAbsDiff(np.linalg.svdvals(A, { hermitian: true }).toArray() as number[], r.s), `${r.kind}: svdvals`).toBeLessThan(2e-6 * scale);
        expect(maxAbsDiff(np.linalg.svd(A, { hermitian: true, computeUv: false }).toArray() as number[], got), `${r.kind}: computeUv false`).toBe(0);
        const U = rows(u), Vh = rows(vh), n = r.a.length;
        // The rank-one terms u_j·vh_j are free of the sign choice; with a repeated |λ| only their sum is
        // determined, and with λ_j = 0 the sign of vh_j is that of a rounding error.
        for (let j = 0; j < n; j++) {
          const simple = r.s[j]! > 1e-5 * scale && r.s.every((t, i) => i === j || Math.abs(t - r.s[j]!) > 1e-3 * scale);
          if (!simple) continue;
          const outer = U.map((row) => Vh[j]!.map((x) => row[j]! * x));
          expect(maxAbsDiff(outer, r.outer[j]!), `${r.kind} ${n}: u_${j}·vh_${j}`).toBeLessThan(2e-4);
        }
        const rebuilt = matmul64(U.map((row) => row.map((x, j) => x * got[j]!)), Vh);
        expect(maxAbsDiff(rebuilt, r.a), `${r.kind}: u·diag(s)·vh`).toBeLessThan(3e-6 * scale);
        expect(orthonormalityError(U), `${r.kind}: uᵀu`).toBeLessThan(1e-6);
        expect(orthonormalityError(transpose64(Vh)), `${r.kind}: vh·vhᵀ`).toBeLessThan(1e-6);
      }
    });
  });

  it('pinv and matrixRank (default rtol, absolute tol, relative rtol) equal NumPy’s', () => {
    noLeak(() => {
      for (const r of refs) {
        const A = np.array(r.a, 'float32');
        const p = rows(np.linalg.pinv(A, { hermitian: true, rtol: 1e-5 }));
        const pScale = Math.max(1, ...r.pinv.flat().map(Math.abs));
        const cond = r.s[0]! / Math.min(...r.s.filter((t) => t > 1e-5 * r.s[0]!));
        expect(maxAbsDiff(p, r.pinv), `${r.kind} ${r.a.length}: pinv`).toBeLessThan(2e-6 * pScale * cond);
        expect(maxAbsDiff(rows(np.linalg.pinv(A, { hermitian: true, rcond: 1e-5 })), p), `${r.kind}: rcond is rtol`).toBe(0);
        expect(np.linalg.matrixRank(A, { hermitian: true }).item(), `${r.kind} ${r.a.length}: rank`).toBe(r.rank);
        expect(np.linalg.matrixRank(A, { hermitian: true, tol: 0.5 }).item(), `${r.kind}: rank, tol 0.5`).toBe(r.rankTol);
        expect(np.linalg.matrixRank(A, { hermitian: true, rtol: 0.3 }).item(), `${r.kind}: rank, rtol 0.3`).toBe(r.rankRtol);
        expect(np.linalg.matrixRank(A, { tol: 0.5 }).item(), `${r.kind}: rank, tol 0.5, general svd`).toBe(r.rankTol);
      }
    });
  });
});

describe('hermitian: identities, transforms and errors', () => {
  it('random symmetric (indefinite) matrices: s = |λ| descending = the general svd’s; U and Vh orthonormal and U·diag(s)·Vh = A', () => {
    assertNoLeak(gappedSymmetricArb(1, 5), (a) => {
      const A = np.array(a, 'float32');
      const [u, s, vh] = np.linalg.svd(A, { hermitian: true });
      const lam = np.linalg.eigvalsh(A).toArray() as number[];
      expect(s.toArray()).toEqual(lam.map(Math.abs).sort((x, y) => y - x));
      const U = rows(u), Vh = rows(vh), S = s.toArray() as number[];
      const n = a.length, tol = 2e-5 * (1 + S[0]!);
      expect(maxAbsDiff(matmul64(transpose64(U), U).flat(), eye64(n).flat())).toBeLessThan(2e-5);
      expect(maxAbsDiff(matmul64(Vh, transpose64(Vh)).flat(), eye64(n).flat())).toBeLessThan(2e-5);
      expect(maxAbsDiff(matmul64(U.map((row) => row.map((x, j) => x * S[j]!)), Vh).flat(), a.flat())).toBeLessThan(tol);
      expect(maxAbsDiff(s.toArray() as number[], np.linalg.svdvals(A).toArray() as number[])).toBeLessThan(2e-6 * (1 + (s.toArray() as number[])[0]!));
    }, 40);
  });

  it('a zero eigenvalue keeps vh orthogonal (sign 0 taken as +1; NumPy’s sign(0) = 0 gives a zero row); stacks, vmap and jit equal eager', () => {
    noLeak(() => {
      const [u, s, vh] = np.linalg.svd(np.array([[2, 0, 0], [0, 0, 0], [0, 0, -1]], 'float32'), { hermitian: true });
      expect(s.toArray()).toEqual([2, 1, 0]);
      const plusZero = (m: Mat) => m.map((row) => row.map((x) => x + 0)); // −0 and 0 alike
      expect(plusZero(rows(u))).toEqual([[1, 0, 0], [0, 0, 1], [0, 1, 0]]);
      expect(plusZero(rows(vh))).toEqual([[1, 0, 0], [0, 0, -1], [0, 1, 0]]);
      const stack = np.array(refs.filter((r) => r.a.length === 3).map((r) => r.a), 'float32');
      const eager = np.linalg.svd(stack, { hermitian: true });
      const jitSvd = jit((x: NDArray) => np.linalg.svd(x, { hermitian: true }));
      const viaJit = jitSvd(stack);
      const viaVmap = vmap((x: NDArray) => np.linalg.svd(x, { hermitian: true }))(stack);
      eager.forEach((e, i) => {
        expect(viaJit[i]!.toArray(), `jit output ${i}`).toEqual(e.toArray());
        expect(viaVmap[i]!.toArray(), `vmap output ${i}`).toEqual(e.toArray());
      });
      const jitRank = jit((x: NDArray) => np.linalg.matrixRank(x, { hermitian: true }));
      expect(jitRank(stack).toArray()).toEqual(refs.filter((r) => r.a.length === 3).map((r) => r.rank));
      jitSvd.clearCache();
      jitRank.clearCache(); // (the compiled programs hold their constants)
    });
  });

  it('errors name the op: non-square input, a non-boolean hermitian, rtol with rcond, tol with rtol', () => {
    noLeak(() => {
      expect(() => np.linalg.svd(np.ones([2, 3]), { hermitian: true })).toThrow(ShapeError);
      expect(() => np.linalg.svd(np.ones([2, 3]), { hermitian: true })).toThrow('linalg.svd: hermitian needs square (symmetric) matrices [..., n, n] but got [2,3]');
      expect(() => np.linalg.svdvals(np.ones([3, 2]), { hermitian: true })).toThrow('linalg.svdvals: hermitian needs square');
      expect(() => np.linalg.pinv(np.ones([3, 2]), { hermitian: true })).toThrow('linalg.pinv: hermitian needs square');
      expect(() => np.linalg.matrixRank(np.ones([3, 2]), { hermitian: true })).toThrow('linalg.matrixRank: hermitian needs square');
      expect(() => np.linalg.svd(np.eye(2), { hermitian: 1 as never })).toThrow(ValueError);
      expect(() => np.linalg.svd(np.eye(2), { hermitian: 1 as never })).toThrow('linalg.svd: hermitian must be a boolean, got 1');
      expect(() => np.linalg.pinv(np.eye(2), { rtol: 1e-3, rcond: 1e-3 })).toThrow('linalg.pinv: rtol and rcond are two names for the same cutoff');
      expect(() => np.linalg.matrixRank(np.eye(2), { rtol: 1e-3, tol: 1e-3 })).toThrow('linalg.matrixRank: give tol (absolute) or rtol (relative), not both');
      expect(() => np.linalg.matrixRank(np.eye(2), { tol: -1 })).toThrow('linalg.matrixRank: tol must be a non-negative number, got -1');
    });
  });
});

describe('hermitian: derivatives', () => {
  const seedArb = fc.integer({ min: 0, max: 1 << 20 });

  it('svdvals and u·diag(tanh s)·vh pass checkGrads to second order; pinv to first (its custom rule)', () => {
    assertNoLeak(fc.tuple(gappedSymmetricArb(1, 4), seedArb), ([a, seed]) => {
      const A = np.array(a, 'float32');
      checkGrads((m: NDArray) => np.linalg.svdvals(m, { hermitian: true }), [A], { order: 2, seed });
      checkGrads((m: NDArray) => {
        const [u, s, vh] = np.linalg.svd(m, { hermitian: true });
        return np.matmul(np.multiply(u, np.tanh(s)), vh);
      }, [A], { order: 2, seed: seed + 1 });
      checkGrads((m: NDArray) => np.linalg.pinv(m, { hermitian: true }), [A], { order: 1, seed: seed + 2 });
    }, 10);
  });

  it('at a symmetric matrix the gradient of Σ sin(s) equals the general svd’s (both symmetric: the general one is Σ cos(s_j)·u_j·v_jᵀ)', () => {
    assertNoLeak(gappedSymmetricArb(1, 5), (a) => {
      const A = np.array(a, 'float32');
      const f = (hermitian: boolean) => (m: NDArray) => np.sum(np.sin(np.linalg.svdvals(m, { hermitian })));
      expect(maxAbsDiff(rows(grad(f(true))(A)), rows(grad(f(false))(A)))).toBeLessThan(2e-5);
    }, 30);
  });
});

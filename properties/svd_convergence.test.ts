// svd's one-sided Jacobi has a sweep limit (100) that no matrix met in testing comes near; where it
// would be reached, svd is a LinAlgError naming the matrix (LAPACK's gesdd reports info > 0 and
// NumPy raises LinAlgError), as eigh is where QL does not converge (eigh_convergence.test.ts), not
// the unfinished columns it used to return silently as if they were U·S. The limit is lowered with
// jacobiSweeps.limitedTo to reach that path: at 0 every matrix whose columns (rows, when wide) are
// not already orthogonal fails, and one whose are does not. NaN in is NaN out at any limit.
import * as tf from '@tensorflow/tfjs-core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LinAlgError, grad, jit, np, scope, vmap, type NDArray } from '../src/index.js';
import { svdStack, singularValues64, jacobiSweeps } from '../src/spectral_kernels.js';
import { FC_SEED } from './helpers.js';
import { type Mat, matmul64, orthogonal64, transpose64 } from './matrix64.js';

const NOT_CONVERGED = /^linalg\.svd: the one-sided Jacobi iteration did not converge for matrix/;

/** The fewest rotating sweeps with which svdStack decomposes `a` (m×n, one matrix), by bisection on the limit; Infinity past 100. */
function sweepsNeeded(a: Float32Array, m: number, n: number, computeUv = true): number {
  const passes = (limit: number): boolean => {
    try {
      jacobiSweeps.limitedTo(limit, () => svdStack(a, 1, m, n, { fullMatrices: false, computeUv }));
      return true;
    } catch (e) {
      expect(e).toBeInstanceOf(LinAlgError);
      return false;
    }
  };
  if (!passes(100)) return Infinity;
  let lo = 0, hi = 100;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (passes(mid)) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** U·diag(s)·Vᵀ (m×n, float32 row-major) for random orthogonal U and V drawn from the Gaussian entries `g`. */
function withSingularValues(g: number[], m: number, n: number, s: number[]): Float32Array {
  const take = (rows: number, cols: number, at: number): Mat => Array.from({ length: rows }, (_, i) => Array.from({ length: cols }, (__, j) => g[at + i * cols + j]!));
  const u = orthogonal64(take(m, m, 0)), v = orthogonal64(take(n, n, m * m));
  const us = u.map((row) => row.slice(0, s.length).map((x, k) => x * s[k]!));
  const vt = transpose64(v).slice(0, s.length);
  return Float32Array.from(matmul64(us, vt).flat());
}

/**
 * A 12×12 float32 matrix (3·U·Vᵀ with U and V from Gram–Schmidt on near-zero Gaussians, found by the
 * convergence property below) on which Jacobi cycled forever: orthogonalising drove one column to
 * entries near 1e-162, whose squared norm underflows to 0 in float64, so the test
 * |γ| ≤ ε·‖b_p‖·‖b_q‖ could never hold while γ itself did not underflow. The old kernel stopped at
 * 100 sweeps and returned the unfinished columns silently.
 */
const UNDERFLOWING: number[] = [
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  -2.4369822566178145e-12, 0.9665356278419495, -8.860305982557725e-15, 0.4472135901451111, -1.1263917315935745e-40, -5.9453002416998135e-12, 8.860305982557725e-15, 0, -4.430153075982157e-14, -7.97613286402781e-16, 0.25653234124183655, -2.4369822566178145e-12,
  -0.6123630404472351, 0, -0.0007449430995620787, -1.8146160084265146e-27, -9.470269238925137e-30, -1.365880012512207, -0.3549024760723114, -1.1430544034770451e-37, 0.347734659910202, -1.0411040773380216e-17, 1.1430926822731064e-20, -0.6123630404472351,
  1.2181260774374314e-12, -0.25653234124183655, 7.990279965452984e-11, 0.8944271802902222, 5.633219826585765e-41, 2.5869267665512563e-12, 7.989393868701455e-11, 0, 7.992052852845433e-11, 2.1169793865564242e-16, 0.9665356278419495, 1.2181260774374314e-12,
  0.781471312046051, 0, -0.0007450837874785066, 1.0511358169032144e-26, -9.47205824728754e-30, -0.2112806886434555, -0.3521102964878082, -1.1432703155444283e-37, 0.35052597522735596, 6.034000003677089e-17, -3.8103089409103545e-21, -0.3732292652130127,
  6.051908405111315e-28, 0, -0.5773513913154602, -4.455046019049246e-16, 0, -0.001396007719449699, 0.2886723279953003, 0.7071067690849304, 0.2886723279953003, 0, 6.801446754182631e-32, 6.051913701418662e-28,
  3.9062299336335134e-22, 1.0122508529018695e-15, 0.33435434103012085, -7.168287491365888e-11, 2.802596928649634e-45, -0.0016169241862371564, 0.33435434103012085, 0, 0.33435434103012085, 0.8152416348457336, 9.010543263500155e-17, 3.9062299336335134e-22,
  0.08481919020414352, 0, -0.3305455446243286, 7.102510246603799e-11, 9.490982765940298e-30, 0.2138816863298416, 0.020816683769226074, 1.1455544320412778e-37, -0.6818106770515442, 0.4076208174228668, -8.92763859029866e-17, -0.49253106117248535,
  0.08428905159235, 0, 0.33203572034835815, -7.102669147274199e-11, 9.453132976318397e-30, 0.2086796909570694, 0.6834039092063904, 1.1409860869437017e-37, -0.019241293892264366, -0.4076208174228668, 8.928400919951189e-17, -0.49306121468544006,
  1.2113411793205567e-27, 0, 0.5773513913154602, -8.91716370441688e-16, 0, 0.001396007719449699, -0.2886723279953003, 0.7071067690849304, -0.2886723279953003, 0, 1.3602893508365262e-31, 1.2113406015415734e-27,
  -7.029015407535721e-32, 0, -2.689649799610827e-32, 5.764941882232297e-42, 0, 2.070794011091736e-34, -2.689672721750668e-32, 0, -2.689603955331145e-32, 3.3093510257075483e-32, 0, 7.032985639705623e-32,
  -0.0038991239853203297, 2.382207389352189e-44, -0.045065972954034805, 9.656462261753429e-12, -2.7837572912500874e-31, -0.014475395902991295, -0.04502217844128609, -3.359974603222545e-39, -0.04515356197953224, 0.055422093719244, -1.2138892860008545e-17, -0.0038991239853203297,
];
/**
 * UNDERFLOWING's singular values by mpmath at 60 digits (the float32 entries exactly). NumPy's
 * float64 svd gives 8.8e-17 and 0 for the last two, its rounding noise at ‖A‖·ε64; Jacobi keeps
 * them: both round to float32 exactly.
 */
const UNDERFLOWING_S = [1.7301692037953011, 1.4142135404680746, 1.0001094090694945, 1.0000000176262665, 1.0000000120536869, 0.99999999639002269, 0.99999998288572896, 0.99999998099541853, 0.99672430677095615, 0.0053671838773840035, 1.0671463787409033e-45, 1.3194405524753329e-62];

describe('svd: a Jacobi iteration that does not converge', () => {
  it('is a LinAlgError naming the matrix for svd, svdvals, pinv, lstsq, matrixRank, norm(2), cond, eager, jit, vmap and grad; orthogonal columns, hermitian svd and NaN input still pass; the limit is restored', () => {
    const before = tf.memory().numTensors;
    scope(() => {
      const a = np.array([[2, 1, 0, 1], [1, 3, 1, 0], [0, 1, 4, 2]], 'float32'); // 3×4: Jacobi works on Aᵀ
      const sym = np.array([[2, 1, 0], [1, 3, 1], [0, 1, 4]], 'float32');
      const orth = np.array([[0, 2, 0], [3, 0, 0], [0, 0, -1]], 'float32'); // orthogonal columns already
      const stack = np.stack([orth, sym, orth]);
      const nan = np.array([[1, NaN], [2, 3]], 'float32');
      jacobiSweeps.limitedTo(0, () => {
        expect(() => np.linalg.svd(a)).toThrow(LinAlgError);
        expect(() => np.linalg.svd(a)).toThrow(/^linalg\.svd: the one-sided Jacobi iteration did not converge for matrix \(3×4\) in 0 sweeps/);
        expect(() => np.linalg.svd(stack)).toThrow(/^linalg\.svd: the one-sided Jacobi iteration did not converge for matrix 1 of the stack of 3 \(3×3\)/);
        expect(() => np.linalg.svd(a, { computeUv: false })).toThrow(NOT_CONVERGED);
        expect(() => np.linalg.svdvals(a)).toThrow(NOT_CONVERGED);
        expect(() => np.linalg.pinv(a)).toThrow(NOT_CONVERGED);
        expect(() => np.linalg.lstsq(sym, np.ones([3]))).toThrow(NOT_CONVERGED);
        expect(() => np.linalg.matrixRank(a)).toThrow(NOT_CONVERGED);
        expect(() => np.linalg.norm(a, 2)).toThrow(NOT_CONVERGED);
        expect(() => np.linalg.norm(a, 'nuc')).toThrow(NOT_CONVERGED);
        expect(() => np.linalg.cond(sym)).toThrow(NOT_CONVERGED);
        expect(() => jit((m: NDArray) => np.linalg.svd(m)[0])(stack)).toThrow(NOT_CONVERGED);
        expect(() => jit((m: NDArray) => np.linalg.svdvals(m))(stack)).toThrow(NOT_CONVERGED);
        expect(() => vmap((m: NDArray) => np.linalg.svdvals(m))(stack)).toThrow(NOT_CONVERGED);
        expect(() => grad((m: NDArray) => np.sum(np.linalg.svdvals(m)))(a)).toThrow(NOT_CONVERGED);
        expect(() => singularValues64(Float64Array.from([2, 1, 1, 3]), 2, 2)).toThrow(/^singularValues64: the one-sided Jacobi iteration did not converge for matrix \(2×2\)/);
        // Orthogonal columns need no rotation: s = the column norms, U and Vh signed permutations.
        const [u, s, vh] = np.linalg.svd(orth);
        expect(s.toArray()).toEqual([3, 2, 1]);
        expect(np.matmul(np.multiply(u, s), vh).toArray()).toEqual(orth.toArray());
        // A wide matrix whose rows are orthogonal (Jacobi's columns of Aᵀ) passes too.
        expect(np.linalg.svdvals(np.array([[0, 0, 2], [1, 1, 0]], 'float32')).toArray()).toEqual([2, Math.fround(Math.SQRT2)]);
        // hermitian svd goes through eigh, not Jacobi.
        const sh = np.linalg.svdvals(sym, { hermitian: true }).toArray() as number[];
        [3 + Math.sqrt(3), 3, 3 - Math.sqrt(3)].forEach((x, i) => expect(Math.abs(sh[i]! - x)).toBeLessThan(1e-5));
        // NaN in is NaN out, as eigh and JAX give, not the non-convergence error.
        const [un, sn, vhn] = np.linalg.svd(nan);
        for (const x of [un, sn, vhn]) expect((x.toArray() as number[] | number[][]).flat().every(Number.isNaN)).toBe(true);
        expect((vmap((m: NDArray) => np.linalg.svdvals(m))(np.stack([nan, nan])).toArray() as number[][]).flat().every(Number.isNaN)).toBe(true);
        expect(Array.from(singularValues64([1, Infinity, 0, 1], 2, 2)).every(Number.isNaN)).toBe(true);
        return null;
      });
      // Back at the default limit the same matrices decompose, and an error inside the override
      // still restores it.
      expect(() => jacobiSweeps.limitedTo(0, () => np.linalg.svd(a))).toThrow(LinAlgError);
      const s1 = np.linalg.svdvals(sym).toArray() as number[];
      [3 + Math.sqrt(3), 3, 3 - Math.sqrt(3)].forEach((x, i) => expect(Math.abs(s1[i]! - x)).toBeLessThan(1e-5));
      expect(np.linalg.svdvals(stack).shape).toEqual([3, 3]);
      expect((np.linalg.svdvals(nan).toArray() as number[]).every(Number.isNaN)).toBe(true);
      return null;
    });
    expect(tf.memory().numTensors).toBe(before);
  });

  it('a limit just below what a matrix needs fails and one at it passes, giving the default-limit result bitwise', () => {
    const dims = fc.tuple(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 6 }));
    fc.assert(fc.property(dims.chain(([m, n]) => fc.tuple(fc.constant(m), fc.constant(n), fc.array(fc.float({ min: -4, max: 4, noNaN: true }), { minLength: m * n, maxLength: m * n }))), ([m, n, entries]) => {
      const a = Float32Array.from(entries);
      const needed = sweepsNeeded(a, m, n);
      expect(needed).toBeLessThanOrEqual(12); // a handful of sweeps at these sizes
      const want = svdStack(a, 1, m, n, { fullMatrices: true, computeUv: true });
      const got = jacobiSweeps.limitedTo(needed, () => svdStack(a, 1, m, n, { fullMatrices: true, computeUv: true }));
      got.forEach((x, i) => expect(Array.from(x)).toEqual(Array.from(want[i]!)));
      if (needed > 0) expect(() => jacobiSweeps.limitedTo(needed - 1, () => svdStack(a, 1, m, n, { fullMatrices: true, computeUv: true }))).toThrow(NOT_CONVERGED);
      // Without U and V the rotations are the same: as many sweeps.
      expect(sweepsNeeded(a, m, n, false)).toBe(needed);
    }), { seed: FC_SEED, numRuns: 60 });
  });

  it('random, graded, repeated-singular-value and rank-deficient matrices converge far inside the limit', () => {
    // Measured with this kernel (bisection as here, up to 200×150): random ≤ 12 sweeps, repeated
    // and rank-deficient ≤ 19, graded (s from 1 to 1e-7) ≤ 24. The sizes here are smaller to keep
    // the test quick; half the limit leaves room for a slower-converging family to show up.
    const shapes = [[12, 12], [20, 9], [7, 16]] as const;
    const families: Record<string, (k: number) => number[]> = {
      graded: (k) => Array.from({ length: k }, (_, i) => 10 ** (-7 * i / Math.max(1, k - 1))),
      repeated: (k) => Array.from({ length: k }, (_, i) => (i < k / 2 ? 2 : 1)),
      allEqual: (k) => Array.from({ length: k }, () => 3),
      rankDeficient: (k) => Array.from({ length: k }, (_, i) => (i < k / 3 ? 1 + i : 0)),
      clustered: (k) => Array.from({ length: k }, (_, i) => 1 + 1e-6 * i),
    };
    const worst: Record<string, number> = {};
    fc.assert(fc.property(fc.constantFrom(...shapes), fc.constantFrom(...Object.keys(families)), fc.array(fc.double({ min: -3, max: 3, noNaN: true }), { minLength: 800, maxLength: 800 }), ([m, n], family, g) => {
      const a = withSingularValues(g, m, n, families[family]!(Math.min(m, n)));
      const needed = sweepsNeeded(a, m, n);
      worst[family] = Math.max(worst[family] ?? 0, needed);
      expect(needed).toBeLessThanOrEqual(50);
    }), { seed: FC_SEED, numRuns: 100 });
    // Gaussian entries, and the same scaled over six decades by row and column.
    for (const [m, n] of shapes) {
      for (let seed = 0; seed < 3; seed++) {
        let x = seed + 1;
        const next = (): number => { x = (x * 48271) % 2147483647; return x / 2147483647 - 0.5; };
        const plain = Float32Array.from({ length: m * n }, next);
        const scaled = plain.map((v, idx) => v * 10 ** (-3 * (idx % n) / n - 3 * Math.floor(idx / n) / m));
        expect(sweepsNeeded(plain, m, n)).toBeLessThanOrEqual(50);
        expect(sweepsNeeded(scaled, m, n)).toBeLessThanOrEqual(50);
      }
    }
    expect(Object.keys(worst).length).toBeGreaterThan(1); // the families were all drawn in practice
  });

  it('a column whose squared norm underflows counts as zero: the matrix that cycled forever decomposes, U orthogonal, s as NumPy', () => {
    const a = Float32Array.from(UNDERFLOWING);
    const [s, u, vh] = svdStack(a, 1, 12, 12, { fullMatrices: true, computeUv: true });
    UNDERFLOWING_S.forEach((x, i) => expect(Math.abs(s![i]! - x)).toBeLessThanOrEqual(Math.abs(Math.fround(x) - x) + 2 ** -23 * x));
    expect([s![10], s![11]]).toEqual([Math.fround(UNDERFLOWING_S[10]!), 0]); // 2⁻¹⁴⁹ (the least float32) and 0
    const U: Mat = Array.from({ length: 12 }, (_, i) => Array.from(u!.subarray(i * 12, i * 12 + 12)));
    const Vh: Mat = Array.from({ length: 12 }, (_, i) => Array.from(vh!.subarray(i * 12, i * 12 + 12)));
    for (const q of [U, transpose64(Vh)]) {
      matmul64(transpose64(q), q).forEach((row, i) => row.forEach((x, j) => expect(Math.abs(x - (i === j ? 1 : 0))).toBeLessThan(1e-6)));
    }
    const back = matmul64(U.map((row) => row.map((x, k) => x * s![k]!)), Vh);
    back.forEach((row, i) => row.forEach((x, j) => expect(Math.abs(x - a[i * 12 + j]!)).toBeLessThan(1e-6)));
    expect(sweepsNeeded(a, 12, 12)).toBeLessThanOrEqual(20);
  });
});

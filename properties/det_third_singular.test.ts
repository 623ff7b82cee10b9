// det's third derivative at singular matrices, n ≥ 4: D³det(A)[T, S, R] = ∂³det(A + aT + bS + cR)/∂a∂b∂c
// at 0, the abc coefficient of a polynomial. It went through A⁻¹ and was NaN at every singular A;
// the adjugate_second_tangent kernel is now a polynomial in A (exact at rank n − 1, n − 2, n − 3,
// zero below). The reference is exact: for integer matrices and n ≤ 6 the mixed central difference
// D(h) = Σ_{x,y,z=±1} xyz·det(A + h(xT + yS + zR))/(8h³) equals c_abc + h²·K (the only other terms
// with odd powers of a, b and c have degree 5), so (4·D(1) − D(2))/3 is c_abc, in float64 without
// rounding (Laplace expansion of small integers).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { grad, jit, jvp, np, scope, vmap, type NDArray } from '../src/index.js';
import { adjugateSecondTangentStack } from '../src/adjugate_second_tangent.js';
import { FC_SEED, assertNoLeak } from './helpers.js';
import { type Mat, laplaceDet, matmul64 } from './matrix64.js';

/** D³det(A)[T, S, R], exactly (see above). */
function third64(a: Mat, t: Mat, s: Mat, r: Mat): number {
  const mixed = (h: number): number => {
    let acc = 0;
    for (const x of [1, -1]) for (const y of [1, -1]) for (const z of [1, -1]) {
      acc += x * y * z * laplaceDet(a.map((row, i) => row.map((v, j) => v + h * (x * t[i]![j]! + y * s[i]![j]! + z * r[i]![j]!))));
    }
    return acc / (8 * h ** 3);
  };
  return (4 * mixed(1) - mixed(2)) / 3;
}

const unitMat = (n: number, i: number, j: number): Mat => Array.from({ length: n }, (_, p) => Array.from({ length: n }, (__, q) => (p === i && q === j ? 1 : 0)));
const rows = (x: NDArray): Mat => x.toArray() as Mat;
const ints = (r: number, c: number, lo = -2, hi = 2) => fc.array(fc.array(fc.integer({ min: lo, max: hi }), { minLength: c, maxLength: c }), { minLength: r, maxLength: r });

/** A = B·C with B n×r and C r×n small integers: rank at most r (r from n − 4 to n − 1), and three integer directions. */
const singularArb = fc.integer({ min: 4, max: 5 }).chain((n) => fc.integer({ min: Math.max(n - 4, 0), max: n - 1 }).chain((r) => fc.tuple(
  ints(n, r), ints(r, n), ints(n, n), ints(n, n), ints(n, n),
)));

describe("det's third derivative at singular matrices, n ≥ 4", () => {
  it('is finite and exact (rank n − 1 to n − 4), forward, reverse, jit and vmap', () => {
    assertNoLeak(fc.property(singularArb, ([b, c, t, s, w]) => {
      scope(() => {
        const a = b[0]!.length === 0 ? t.map((row) => row.map(() => 0)) : matmul64(b, c);
        const n = a.length;
        const want = a.map((_, i) => a.map((__, j) => third64(a, t, s, unitMat(n, i, j)))); // ∇_A D²det[T, S]
        const wantRev = a.map((_, i) => a.map((__, j) => third64(a, t, w, unitMat(n, i, j))));
        const scale = Math.max(1, ...want.flat().map(Math.abs), ...wantRev.flat().map(Math.abs));
        const [A, T, S, W] = [a, t, s, w].map((m) => np.array(m, 'float32')) as [NDArray, NDArray, NDArray, NDArray];
        const hvp = (m: NDArray) => jvp((x: NDArray) => grad((y: NDArray) => np.linalg.det(y))(x), [m], [T])[1];
        const check = (got: Mat, expected: Mat, label: string) => got.forEach((row, i) => row.forEach((v, j) => expect(Math.abs(v - expected[i]![j]!), `${label} ${i},${j} at ${JSON.stringify(a)}: ${v} vs ${expected[i]![j]}`).toBeLessThanOrEqual(1e-5 * scale)));
        check(rows(jvp(hvp, [A], [S])[1]), want, 'forward');
        check(rows(grad((m: NDArray) => np.sum(np.multiply(hvp(m), W)))(A)), wantRev, 'reverse');
        check(rows(jit((m: NDArray) => jvp(hvp, [m], [S])[1])(A)), want, 'jit forward');
        check((vmap((m: NDArray) => jvp(hvp, [m], [S])[1])(np.stack([A, A])).toArray() as Mat[])[1]!, want, 'vmap forward');
        return null;
      });
    }), 30);
  });

  it('the kernel, d²adj(A)[T, S] itself: exact at singular A (rank n to n − 4, n 3–5), symmetric in T and S, NaN for a NaN entry', () => {
    fc.assert(fc.property(fc.integer({ min: 3, max: 5 }).chain((n) => fc.tuple(fc.integer({ min: Math.max(n - 4, 0), max: n }), ints(n, n), ints(n, n), ints(n, n, -3, 3), ints(n, n, -3, 3))), ([r, t, s, b, c]) => {
      const n = t.length;
      // rank ≤ r: keep r columns of b and r rows of c.
      const a = matmul64(b.map((row) => row.map((v, j) => (j < r ? v : 0))), c);
      const flat = (m: Mat) => Float32Array.from(m.flat());
      const got = adjugateSecondTangentStack(flat(a), flat(t), flat(s), 1, n);
      const swapped = adjugateSecondTangentStack(flat(a), flat(s), flat(t), 1, n);
      // d²adj[T, S]_{ji} = ∂/∂A_ij D²det[T, S]: the third derivative along T, S and the unit matrix E_ij.
      const want = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (__, j) => third64(a, t, s, unitMat(n, j, i))));
      const scale = Math.max(1, ...want.flat().map(Math.abs));
      want.flat().forEach((v, at) => {
        expect(Math.abs(got[at]! - v), `n ${n} rank ≤ ${r} entry ${at}: ${got[at]} vs ${v} at ${JSON.stringify(a)}`).toBeLessThanOrEqual(1e-6 * scale);
        expect(Math.abs(swapped[at]! - got[at]!)).toBeLessThanOrEqual(1e-6 * scale);
      });
    }), { seed: FC_SEED, numRuns: 40 });
    const withNaN = adjugateSecondTangentStack(Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, NaN, 1, 0, 0, 0, 1, 0, 0]), new Float32Array(16).fill(1), new Float32Array(16).fill(1), 1, 4);
    expect(Array.from(withNaN).every(Number.isNaN)).toBe(true);
  });
});

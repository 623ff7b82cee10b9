// lstsq with a user rcond that cuts nonzero singular values: x = V_k·diag(1/σ_k)·U_kᵀ·b is the
// minimum-norm solution of the rank-k truncation A_k, and moving A rotates the kept singular
// vectors toward the cut ones (by σ_c/(σ_k² − σ_c²)-sized angles), so x's derivative is not pinv's
// constant-rank rule applied to dA (which is right only where the cut values are exactly zero). The
// references are float64 central differences of NumPy's lstsq (LAPACK's gelsd) on the same float32
// matrices (fixtures/lstsq_rcond_refs.json, made by fixtures/make_lstsq_rcond_refs.py), with the
// rank constant near each one; grad is checked against jvp (⟨grad, t⟩ = jvp along t).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { grad, jit, jvp, np, type NDArray } from '../src/index.js';
import { noLeak } from './helpers.js';

interface RcondRef { a: number[][]; b: number[][]; da: number[][]; db: number[][]; rcond: number; rank: number; x: number[][]; dx: number[][] }
const refs = (JSON.parse(readFileSync(new URL('./fixtures/lstsq_rcond_refs.json', import.meta.url), 'utf8')) as { cases: RcondRef[] }).cases;

const maxAbs = (m: number[][]): number => Math.max(...m.flat().map(Math.abs));

describe('lstsq: derivatives when rcond cuts nonzero singular values', () => {
  it('jvp of x equals float64 central differences of NumPy\'s lstsq (tall, wide and square; cut values nonzero, some with an exact zero too)', () => {
    noLeak(() => {
      expect(refs.length).toBeGreaterThanOrEqual(40);
      refs.forEach((c, at) => {
        const sol = (p: NDArray, q: NDArray) => np.linalg.lstsq(p, q, { rcond: c.rcond, numpyResid: false })[0];
        const [x, dx] = jvp(sol, [np.array(c.a, 'float32'), np.array(c.b, 'float32')], [np.array(c.da, 'float32'), np.array(c.db, 'float32')]);
        const rank = np.linalg.lstsq(c.a, c.b, { rcond: c.rcond, numpyResid: false })[2].item();
        expect(rank, `case ${at}: rank`).toBe(c.rank);
        const xs = 1 + maxAbs(c.x), ds = 1 + maxAbs(c.dx);
        (x.toArray() as number[][]).forEach((r, i) => r.forEach((v, j) => expect(Math.abs(v - c.x[i]![j]!), `case ${at}: x[${i}][${j}]`).toBeLessThan(2e-5 * xs)));
        (dx.toArray() as number[][]).forEach((r, i) => r.forEach((v, j) => expect(Math.abs(v - c.dx[i]![j]!), `case ${at}: dx[${i}][${j}] (want ${c.dx[i]![j]!})`).toBeLessThan(2e-5 * ds)));
      });
    });
  });

  it('grad agrees with jvp (⟨∇L, (dA, db)⟩ = dL along them), eager and under jit', () => {
    noLeak(() => {
      for (const c of refs.slice(0, 12)) {
        const loss = (p: NDArray, q: NDArray) => np.sum(np.sin(np.linalg.lstsq(p, q, { rcond: c.rcond, numpyResid: false })[0]));
        const A = np.array(c.a, 'float32'), B = np.array(c.b, 'float32'), dA = np.array(c.da, 'float32'), dB = np.array(c.db, 'float32');
        const [, dl] = jvp(loss, [A, B], [dA, dB]);
        const g = grad(loss, { argnums: [0, 1] });
        const jg = jit(g);
        for (const [ga, gb] of [g(A, B), jg(A, B)] as NDArray[][]) {
          const got = np.add(np.sum(np.multiply(ga!, dA)), np.sum(np.multiply(gb!, dB))).item() as number;
          const want = dl.item() as number;
          expect(Math.abs(got - want)).toBeLessThan(1e-4 * (1 + Math.abs(want) + maxAbs(c.da) * maxAbs(ga!.toArray() as number[][])));
        }
        jg.clearCache();
      }
    });
  });

  it('a kept singular value within rounding of the cutoff is kept by the derivative as by x (the rule rescales by max|A|, and its mask was taken on s/max|A|)', () => {
    noLeak(() => {
      // s₁ = 0.11432001 is one float32 step above 0.1·s₀ (s₀ = 1.1432 = max|A|): x keeps it (rank 2),
      // but fl(s₁/s₀) is not above fl(0.1), so the derivative's cutoff, taken on s/max|A|, cut it:
      // dx₁/dA₁₁ was 0 instead of −x₁/s₁ ≈ −76.5. Square and tall; A is then invertible on its range,
      // so with b in A's range dx = −A⁺·dA·x and ∇ₐ Σx = −A⁺ᵀ·1·xᵀ (−x_i·x_j), exactly.
      const s0 = Math.fround(1.1432), s1 = Math.fround(0.11432001);
      for (const rows of [[[s0, 0], [0, s1]], [[s0, 0], [0, s1], [0, 0]]]) {
        const b = rows.map((_, i) => (i < 2 ? 1 : 0)); // zero residual (tall): A⁺'s derivative is then −A⁺·dA·A⁺
        const sol = (p: NDArray) => np.linalg.lstsq(p, b, { rcond: 0.1, numpyResid: false })[0];
        const A = np.array(rows, 'float32');
        expect(np.linalg.lstsq(A, b, { rcond: 0.1 })[2].item()).toBe(2);
        const x = [1 / s0, 1 / s1];
        expect(sol(A).toArray() as number[]).toEqual(x.map((v) => expect.closeTo(v, 4)));
        const dA = rows.map((r, i) => r.map((_, j) => (i === 1 && j === 1 ? 1 : 0)));
        const [, dx] = jvp(sol, [A], [np.array(dA, 'float32')]);
        (dx.toArray() as number[]).forEach((v, i) => expect(Math.abs(v - [0, -x[1]! / s1][i]!), `dx[${i}] = ${v}`).toBeLessThan(1e-4 * 77));
        const g = grad((p: NDArray) => np.sum(sol(p)))(A).toArray() as number[][];
        g.forEach((r, i) => r.forEach((v, j) => {
          const want = i < 2 ? -x[i]! * x[j]! : 0;
          expect(Math.abs(v - want), `grad[${i}][${j}] = ${v}, want ${want}`).toBeLessThan(1e-4 * 77);
        }));
      }
    });
  });
});

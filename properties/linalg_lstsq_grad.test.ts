// lstsq's derivatives from its one forward SVD: the programs grad and jvp build hold exactly one
// svd (nested programs counted: the custom rules' primal programs included), whether the loss
// reads x, s or both (the rule used to take two more: one for the pseudo-inverse, one for ds).
// The derivatives are checked against float64 central differences of the closed-form solutions
// (normal equations for a tall full-rank A, Aᵀ(AAᵀ)⁻¹b for a wide one), and jit against eager.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { grad, jit, jvp, makeJaxpr, np, type NDArray } from '../src/index.js';
import { ClosedJaxpr, Jaxpr } from '../src/jaxpr.js';
import { deadCodeElimination } from '../src/dce.js';
import { assertNoLeak, noLeak } from './helpers.js';
import { type Mat, matmul64, solve64, transpose64 } from './matrix64.js';

/** How many `prim` equations `jaxpr` holds, counting those in the programs its equations carry. */
function countPrim(jaxpr: Jaxpr, prim: string): number {
  const inParam = (v: unknown): number => {
    if (v instanceof Jaxpr) return countPrim(v, prim);
    if (v instanceof ClosedJaxpr) return countPrim(v.jaxpr, prim);
    if (Array.isArray(v)) return v.reduce((acc: number, x) => acc + inParam(x), 0);
    return 0;
  };
  return jaxpr.eqns.reduce((acc, e) => acc + (e.prim === prim ? 1 : 0) + Object.values(e.params as Record<string, unknown>).reduce((a: number, v) => a + inParam(v), 0), 0);
}

/** The minimum-norm least-squares solution of a full-rank A in float64: (AᵀA)⁻¹Aᵀb (tall) or Aᵀ(AAᵀ)⁻¹b (wide). */
function lstsq64(a: Mat, b: Mat): Mat {
  const at = transpose64(a);
  return a.length >= a[0]!.length ? solve64(matmul64(at, a), matmul64(at, b)) : matmul64(at, solve64(matmul64(a, at), b));
}

const fullRankArb = fc.tuple(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 2 })).chain(([m, n, k]) => fc.tuple(
  // A diagonally dominant block (3 on the diagonal) keeps A well conditioned, tall or wide.
  fc.array(fc.array(fc.double({ min: -1, max: 1, noNaN: true }), { minLength: n, maxLength: n }), { minLength: m, maxLength: m }).map((a) => a.map((r, i) => r.map((v, j) => Math.fround(v + (i === j ? 3 : 0))))),
  fc.array(fc.array(fc.double({ min: -1, max: 1, noNaN: true }), { minLength: k, maxLength: k }), { minLength: m, maxLength: m }).map((b) => b.map((r) => r.map(Math.fround))),
  fc.array(fc.array(fc.double({ min: -1, max: 1, noNaN: true }), { minLength: n, maxLength: n }), { minLength: m, maxLength: m }),
  fc.array(fc.array(fc.double({ min: -1, max: 1, noNaN: true }), { minLength: k, maxLength: k }), { minLength: m, maxLength: m }),
));

describe('lstsq: one SVD for the solution and its derivatives', () => {
  it('grad and jvp programs hold exactly one svd, for losses on x, on s and on both', () => {
    noLeak(() => {
      const A = np.array([[1, 2], [3, 4], [5, 7]], 'float32'), B = np.array([[1], [2], [3]], 'float32');
      const parts = (p: NDArray, q: NDArray) => np.linalg.lstsq(p, q, { numpyResid: false });
      const losses: [string, (p: NDArray, q: NDArray) => NDArray][] = [
        ['x', (p, q) => np.sum(np.sin(parts(p, q)[0]))],
        ['s', (p, q) => np.sum(np.square(parts(p, q)[3]))],
        ['x and s', (p, q) => { const [x, , , s] = parts(p, q); return np.add(np.sum(np.sin(x)), np.sum(np.square(s))); }],
      ];
      for (const [name, loss] of losses) {
        const g = deadCodeElimination(makeJaxpr(grad(loss, { argnums: [0, 1] }))(A, B).jaxpr);
        expect(countPrim(g, 'svd'), `grad, loss on ${name}`).toBe(1);
        const j = deadCodeElimination(makeJaxpr((p: NDArray, q: NDArray) => jvp(loss, [p, q], [np.onesLike(p), np.onesLike(q)]))(A, B).jaxpr);
        expect(countPrim(j, 'svd'), `jvp, loss on ${name}`).toBe(1);
      }
    });
  });

  it('jvp of x equals float64 central differences of the closed-form solution (tall and wide, full rank); jit(grad) equals grad', () => {
    assertNoLeak(fullRankArb, ([a, b, da, db]) => {
      const A = np.array(a, 'float32'), B = np.array(b, 'float32');
      const [x, dx] = jvp((p: NDArray, q: NDArray) => np.linalg.lstsq(p, q, { numpyResid: false })[0], [A, B], [np.array(da, 'float32'), np.array(db, 'float32')]);
      const eps = 1e-6;
      const shift = (m: Mat, d: Mat, e: number): Mat => m.map((r, i) => r.map((v, j) => v + e * d[i]![j]!));
      const plus = lstsq64(shift(a, da, eps), shift(b, db, eps)), minus = lstsq64(shift(a, da, -eps), shift(b, db, -eps));
      const want = plus.map((r, i) => r.map((v, j) => (v - minus[i]![j]!) / (2 * eps)));
      const x64 = lstsq64(a, b);
      const scale = 1 + Math.max(...want.flat().map(Math.abs));
      (dx.toArray() as number[][]).forEach((r, i) => r.forEach((v, j) => expect(Math.abs(v - want[i]![j]!), `dx[${i}][${j}]`).toBeLessThan(2e-4 * scale)));
      (x.toArray() as number[][]).forEach((r, i) => r.forEach((v, j) => expect(Math.abs(v - x64[i]![j]!)).toBeLessThan(1e-5 * (1 + Math.abs(x64[i]![j]!)))));
      const loss = (p: NDArray, q: NDArray) => np.sum(np.sin(np.linalg.lstsq(p, q, { numpyResid: false })[0]));
      const eager = grad(loss, { argnums: [0, 1] })(A, B) as NDArray[];
      const jg = jit(grad(loss, { argnums: [0, 1] }));
      const jitted = jg(A, B) as NDArray[];
      jitted.forEach((t, i) => (t.toArray() as number[][]).forEach((r, p) => r.forEach((v, q) => expect(Math.abs(v - (eager[i]!.toArray() as number[][])[p]![q]!)).toBeLessThan(1e-5))));
      jg.clearCache();
    }, 25);
  });
});

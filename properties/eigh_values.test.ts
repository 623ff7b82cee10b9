// eigh's values-only kernel (src/eigvalsh_kernel.ts: Householder tridiagonalisation and implicit QL,
// no vectors): eigvalsh runs it, eigh takes its values from it, and jit's DCE rewrites an eigh whose
// vectors are unused into it. Checked against the exact eigenvalues of the float32 matrices (mpmath
// at 60 digits) and NumPy's eigvalsh (fixtures/eigvalsh_refs.json, made by
// fixtures/make_eigvalsh_refs.py: random, repeated, clustered, graded either way, Wilkinson,
// singular, extreme scales), against Weyl's bound on random Q·diag(λ)·Qᵀ with repeated and
// clustered λ, and for the DCE rewrite: which eigh jit runs, and that its results do not change.
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ShapeError, grad, jit, jvp, makeJaxpr, np, vmap, type NDArray } from '../src/index.js';
import { type JaxprEqn } from '../src/jaxpr.js';
import { deadCodeElimination } from '../src/dce.js';
import { CompiledProgram } from '../src/executor.js';
import { bind } from '../src/core.js';
import { eigvalshStack, symmetricEigenvalues } from '../src/eigvalsh_kernel.js';
import { assertNoLeak, FC_SEED, noLeak, ulp32 } from './helpers.js';
import { type Mat, matmul64, orthogonal64, transpose64 } from './matrix64.js';

interface EigvalshRef { name: string; n: number; a: number[]; exact: number[]; numpy: number[] }
const refs = JSON.parse(readFileSync(new URL('./fixtures/eigvalsh_refs.json', import.meta.url), 'utf8')) as EigvalshRef[];

const EPS64 = 2 ** -52;
const frobenius = (a: ArrayLike<number>): number => Math.sqrt(Array.from(a).reduce((s, x) => s + x * x, 0));
/** Backward stability's bound for an eigenvalue of an n×n matrix, in float64: a modest multiple of n·ε·‖A‖. */
const normwise = (n: number, a: ArrayLike<number>): number => 8 * Math.max(n, 1) * EPS64 * frobenius(a);

describe('eigvalsh kernel: against the exact eigenvalues (mpmath) and NumPy', () => {
  it('every eigenvalue is within 1 float32 ulp plus the normwise bound of the exact one; graded matrices (either orientation) within 1 ulp', () => {
    noLeak(() => {
      for (const r of refs) {
        const A = np.array(r.a, 'float32').reshape([r.n, r.n]);
        const viaEigvalsh = np.linalg.eigvalsh(A).toArray() as number[];
        const viaEigh = np.linalg.eigh(A)[0].toArray() as number[];
        const viaKernel = Array.from(eigvalshStack(r.a, 1, r.n, true));
        // One kernel behind all three (eigh's w included): the same float32 numbers.
        expect(viaEigh, `${r.name}: eigh's w`).toEqual(viaEigvalsh);
        expect(viaKernel, `${r.name}: the kernel`).toEqual(viaEigvalsh);
        const graded = r.name.startsWith('graded');
        r.exact.forEach((x, i) => {
          const err = Math.abs(viaEigvalsh[i]! - x);
          // Correct rounding is within ½ ulp; 1 ulp leaves room for the float64 error before rounding.
          const bound = graded ? ulp32(x) : ulp32(x) + normwise(r.n, r.a);
          expect(err, `${r.name}: λ_${i} = ${viaEigvalsh[i]} against exact ${x}`).toBeLessThanOrEqual(bound);
          // NumPy's LAPACK (float64) is backward stable too: the two agree to the normwise bound.
          expect(Math.abs(viaEigvalsh[i]! - r.numpy[i]!), `${r.name}: λ_${i} against NumPy ${r.numpy[i]}`).toBeLessThanOrEqual(ulp32(x) + 2 * normwise(r.n, r.a));
        });
      }
    });
  });

  it('Q·diag(λ)·Qᵀ in float64 with repeated and clustered λ: the sorted λ back to Weyl’s bound (the kernel in float64, no rounding to float32)', () => {
    const arb = fc.integer({ min: 1, max: 12 }).chain((n) => fc.tuple(
      fc.array(fc.array(fc.double({ min: -1, max: 1, noNaN: true }), { minLength: n, maxLength: n }), { minLength: n, maxLength: n }),
      // λ drawn from a few values, each maybe nudged by a cluster-sized step: repeats and clusters are common.
      fc.array(fc.tuple(fc.constantFrom(-3, -1, 0, 1e-6, 1, 2.5, 1e4), fc.constantFrom(0, 0, 1e-9, 1e-5)), { minLength: n, maxLength: n }),
      fc.double({ min: 1e-30, max: 1e30, noNaN: true }),
    ));
    fc.assert(fc.property(arb, ([g, picks, scale]) => {
      const n = g.length;
      const q = orthogonal64(g.map((row, i) => row.map((v, j) => v + (i === j ? 3 : 0))));
      const lambda = picks.map(([l, d], i) => scale * (l + d * i));
      const a: Mat = matmul64(matmul64(q, lambda.map((l, i) => lambda.map((_, j) => (i === j ? l : 0)))), transpose64(q));
      const flat = a.flat().map((x, k) => (x + a[k % n]![Math.floor(k / n)]!) / 2); // exactly symmetric
      const got = symmetricEigenvalues(flat, 0, n, true);
      const want = [...lambda].sort((x, y) => x - y);
      // Weyl: |λ_i(A) − λ_i(Ã)| ≤ ‖A − Ã‖₂; forming Q·Λ·Qᵀ in float64 costs a few n·ε·max|λ| more.
      const bound = 16 * n * EPS64 * Math.max(...lambda.map(Math.abs));
      got.forEach((x, i) => expect(Math.abs(x - want[i]!), `λ_${i} of ${JSON.stringify(want)}`).toBeLessThanOrEqual(bound));
    }), { seed: FC_SEED, numRuns: 150 });
  });

  it('reads only the chosen triangle, stacks matrices independently, and gives NaNs for a non-finite entry in it; n = 0 and 1', () => {
    // Two 3×3 matrices: the first's upper triangle is garbage, the second has a NaN below its diagonal.
    const lowerOnly = [2, NaN, Infinity, 1, 3, NaN, 0, -1, 4];
    const withNaN = [1, 2, 3, 2, NaN, 4, 3, 4, 5];
    const w = eigvalshStack([...lowerOnly, ...withNaN], 2, 3, true);
    const clean = [2, 1, 0, 1, 3, -1, 0, -1, 4];
    expect(Array.from(w.slice(0, 3))).toEqual(Array.from(eigvalshStack(clean, 1, 3, true)));
    expect(Array.from(w.slice(3)).every(Number.isNaN)).toBe(true);
    // The upper triangle of the transpose is the lower triangle of the original.
    const transposed = [0, 1, 2, 3, 4, 5, 6, 7, 8].map((k) => lowerOnly[(k % 3) * 3 + Math.floor(k / 3)]!);
    expect(Array.from(eigvalshStack(transposed, 1, 3, false))).toEqual(Array.from(w.slice(0, 3)));
    expect(eigvalshStack([], 3, 0, true).length).toBe(0);
    expect(Array.from(eigvalshStack([-7.5], 1, 1, true))).toEqual([-7.5]);
    noLeak(() => {
      expect(np.linalg.eigvalsh(np.zeros([2, 0, 0])).shape).toEqual([2, 0]);
      expect(np.linalg.eigvalsh(np.array([[1, NaN], [NaN, 1]])).toArray()).toEqual([NaN, NaN]);
    });
  });
});

describe('eigh without vectors: the primitive and the DCE rewrite', () => {
  const eighEqns = (eqns: readonly JaxprEqn[]) => eqns.filter((e) => e.prim === 'eigh') as JaxprEqn<'eigh'>[];
  const prunedEighs = (f: (m: NDArray) => NDArray, A: NDArray) => {
    const program = makeJaxpr(f)(A).jaxpr;
    return { traced: eighEqns(program.eqns), pruned: eighEqns(deadCodeElimination(program).eqns), program };
  };
  const symmetricArb = fc.integer({ min: 1, max: 6 }).chain((n) => fc.array(fc.array(fc.double({ min: -2, max: 2, noNaN: true }), { minLength: n, maxLength: n }), { minLength: n, maxLength: n }));

  it('an eigh whose vectors are unused becomes the values-only eigh when jit compiles it; results are unchanged (eager eigh and eigvalsh too)', () => {
    assertNoLeak(symmetricArb, (a) => {
      const A = np.array(a, 'float32');
      const onlyW = (m: NDArray) => np.multiply(np.linalg.eigh(m)[0], 2);
      const { traced, pruned, program } = prunedEighs(onlyW, A);
      expect(traced.map((e) => e.params.computeVectors)).toEqual([true]);
      expect(pruned.map((e) => [e.params.computeVectors, e.outBinders.length])).toEqual([[false, 1]]);
      const steps = (new CompiledProgram(program) as unknown as { steps: { prim: string; params: { computeVectors?: boolean } }[] }).steps;
      expect(steps.filter((st) => st.prim === 'eigh').map((st) => st.params.computeVectors)).toEqual([false]);
      const jf = jit(onlyW);
      const got = jf(A).toArray();
      expect(got).toEqual(onlyW(A).toArray());
      expect(got).toEqual(np.multiply(np.linalg.eigvalsh(A), 2).toArray());
      jf.clearCache();
    }, 15);
  });

  it('eigvalsh and the hermitian singular values bind the values-only eigh; the vectors stay where used or where a derivative of the values reads them', () => {
    noLeak(() => {
      const A = np.array([[3, 1, 0.5], [1, 2, -1], [0.5, -1, 1]], 'float32');
      expect(prunedEighs((m) => np.linalg.eigvalsh(m), A).traced.map((e) => e.params.computeVectors)).toEqual([false]);
      expect(prunedEighs((m) => np.linalg.svdvals(m, { hermitian: true }), A).traced.map((e) => e.params.computeVectors)).toEqual([false]);
      expect(prunedEighs((m) => np.linalg.matrixRank(m, { hermitian: true }), A).traced.map((e) => e.params.computeVectors)).toEqual([false]);
      expect(prunedEighs((m) => np.linalg.eigh(m)[1], A).pruned.map((e) => e.params.computeVectors)).toEqual([true]);
      const g = (m: NDArray) => grad((x: NDArray) => np.sum(np.sin(np.linalg.eigvalsh(x))))(m);
      expect(prunedEighs(g, A).pruned.map((e) => e.params.computeVectors)).toEqual([true]);
      // ∇Σ sin(λ_k) = V·diag(cos λ)·Vᵀ, from eigh's own factors.
      const [w, v] = np.linalg.eigh(A);
      const want = np.matmul(np.multiply(v, np.cos(w)), np.transpose(v)).toArray() as number[][];
      const jg = jit(g);
      for (const got of [g(A), jg(A)]) {
        (got.toArray() as number[][]).forEach((row, i) => row.forEach((x, j) => expect(Math.abs(x - want[i]![j]!)).toBeLessThan(1e-6)));
      }
      jg.clearCache();
      // jvp through the values-only primitive equals jvp of eigh's w; vmap keeps the single output.
      const dA = np.array([[0.3, -0.2, 0.1], [-0.2, 0.5, 0], [0.1, 0, -0.4]], 'float32');
      const [, tValuesOnly] = jvp((x: NDArray) => np.linalg.eigvalsh(x), [A], [dA]);
      const [, tEigh] = jvp((x: NDArray) => np.linalg.eigh(x)[0], [A], [dA]);
      expect(tValuesOnly.toArray()).toEqual(tEigh.toArray());
      const stack = np.stack([A, np.multiply(A, -2)]);
      expect(vmap((x: NDArray) => np.linalg.eigvalsh(x))(stack).toArray()).toEqual(np.linalg.eigvalsh(stack).toArray());
    });
  });

  it('refuses parameters that are not booleans, naming them', () => {
    noLeak(() => {
      const A = np.eye(2);
      expect(() => bind('eigh', [A], { lower: true } as never)).toThrow(ShapeError);
      expect(() => bind('eigh', [A], { lower: true, computeVectors: 'yes' } as never)).toThrow('eigh: expected boolean parameters lower and computeVectors but got {"lower":true,"computeVectors":"yes"}');
    });
  });
});

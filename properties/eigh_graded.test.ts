// eigh's eigenvectors on graded matrices (D·R·D, entries over many decades): the vectors of the
// tiny eigenvalues must be as accurate as the values, since eigvalsh's derivative is vᵢᵀ·dA·vᵢ.
// Checked against the exact derivatives of the float32 matrices (mpmath at 50 digits,
// fixtures/eigh_graded_refs.json made by fixtures/make_eigh_graded_refs.py; NumPy's float64 eigh is
// no reference here: it is off by up to ~5e3 times the float32 rounding scale on these matrices),
// against float64 central differences of the values-only kernel on random graded matrices, and
// for the residual ‖A·v − λ·v‖, the graded Rayleigh quotient and orthonormality.
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { grad, jvp, np, type NDArray } from '../src/index.js';
import { symmetricEigenvalues } from '../src/eigvalsh_kernel.js';
import { eighStack } from '../src/spectral_kernels.js';
import { FC_SEED, noLeak } from './helpers.js';

interface GradedRef { name: string; n: number; a: number[]; da: number[]; values: number[]; dlambda: number[]; magnitude: number[] }
const refs = JSON.parse(readFileSync(new URL('./fixtures/eigh_graded_refs.json', import.meta.url), 'utf8')) as GradedRef[];

const EPS32 = 2 ** -23;
const f32sym = (m: number[][]): number[] => m.flatMap((row, i) => row.map((x, j) => Math.fround((x + m[j]![i]!) / 2)));

/** A = D·R·D and dA = D·S·D rounded to float32 (exactly symmetric), D = diag(10^(−decades·u)) in shuffled order. */
const gradedArb = fc.integer({ min: 2, max: 16 }).chain((n) => fc.record({
  n: fc.constant(n),
  u: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: n, maxLength: n }),
  decades: fc.constantFrom(3, 6, 9, 12),
  // Multiples of 1/1000 in [−1, 1]: no entry of R or S so small that A or dA would hold float32 subnormals.
  b: fc.array(fc.integer({ min: -1000, max: 1000 }).map((k) => k / 1000), { minLength: n * n, maxLength: n * n }),
  s: fc.array(fc.integer({ min: -1000, max: 1000 }).map((k) => k / 1000), { minLength: n * n, maxLength: n * n }),
  definite: fc.boolean(),
})).map(({ n, u, decades, b, s, definite }) => {
  const d = u.map((x) => 10 ** (-decades * x));
  // R = B·Bᵀ/n + I (positive definite, well conditioned) or (B + Bᵀ)/2 (indefinite).
  const r = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => {
    if (!definite) return (b[i * n + j]! + b[j * n + i]!) / 2;
    let acc = i === j ? 1 : 0;
    for (let k = 0; k < n; k++) acc += (b[i * n + k]! * b[j * n + k]!) / n;
    return acc;
  }));
  const a = f32sym(r.map((row, i) => row.map((x, j) => d[i]! * x * d[j]!)));
  const da = f32sym(r.map((row, i) => row.map((_, j) => d[i]! * s[i * n + j]! * d[j]!)));
  return { n, a, da };
});

/** vᵢᵀ·M·vᵢ and |vᵢ|ᵀ·|M|·|vᵢ| in float64 for column i of the row-major n×n V. */
function quadratic(v: ArrayLike<number>, m: ArrayLike<number>, n: number, i: number): { value: number; abs: number } {
  let value = 0, abs = 0;
  for (let p = 0; p < n; p++) {
    for (let q = 0; q < n; q++) {
      const t = v[p * n + i]! * m[p * n + q]! * v[q * n + i]!;
      value += t;
      abs += Math.abs(t);
    }
  }
  return { value, abs };
}

describe('eigh on graded matrices: vectors as accurate as the values', () => {
  it('eigvalsh’s jvp along a graded direction matches the exact derivative (mpmath) to float32 rounding, for every eigenvalue, tiny ones included; grad agrees', () => {
    noLeak(() => {
      for (const r of refs) {
        const A = np.array(r.a, 'float32').reshape([r.n, r.n]);
        const dA = np.array(r.da, 'float32').reshape([r.n, r.n]);
        const [, dw] = jvp((m: NDArray) => np.linalg.eigvalsh(m), [A], [dA]) as unknown as [NDArray, NDArray];
        const got = dw.toArray() as number[];
        r.dlambda.forEach((want, i) => {
          // Rounding V to float32 and the float32 product Vᵀ·dA·V: a few n·ε₃₂ of |v|ᵀ|dA||v|. Jacobi-style
          // vectors that are only normwise accurate miss the tiny eigenvalues' derivatives by far more.
          const bound = 4 * r.n * EPS32 * r.magnitude[i]!;
          expect(Math.abs(got[i]! - want), `${r.name}: dλ_${i} = ${got[i]} against exact ${want}`).toBeLessThanOrEqual(bound);
        });
      }
      // The reverse mode reads the same vectors: ⟨∂(c·λ)/∂A, dA⟩ = Σ cᵢ·dλᵢ.
      for (const r of refs.filter((_, k) => k % 10 === 0)) {
        const A = np.array(r.a, 'float32').reshape([r.n, r.n]);
        const c = np.array(r.values.map((_, i) => (i % 2 === 0 ? 1 : -0.5)), 'float32');
        const g = grad((m: NDArray) => np.sum(np.multiply(np.linalg.eigvalsh(m), c)))(A).toArray() as number[][];
        const cs = c.toArray() as number[];
        const got = g.flat().reduce((s, x, k) => s + x * r.da[k]!, 0);
        const want = r.dlambda.reduce((s, x, i) => s + cs[i]! * x, 0);
        const scale = r.magnitude.reduce((s, x, i) => s + Math.abs(cs[i]!) * x, 0);
        expect(Math.abs(got - want), `${r.name}: grad`).toBeLessThanOrEqual(8 * r.n * EPS32 * scale);
      }
    });
  });

  it('random graded matrices: float64 central differences of the eigenvalues match vᵢᵀ·dA·vᵢ; residuals, graded Rayleigh quotients and orthonormality at float32 rounding', () => {
    fc.assert(fc.property(gradedArb, ({ n, a, da }) => {
      const [w, v] = eighStack(Float32Array.from(a), 1, n, { lower: true, computeVectors: true });
      // The values are the values-only kernel's, rounded once.
      expect(Array.from(w)).toEqual(Array.from(symmetricEigenvalues(a, 0, n, true), Math.fround));
      const normA = Math.sqrt(a.reduce((s, x) => s + x * x, 0));
      // Central differences in float64 of the values-only kernel (accurate to float64 rounding on graded matrices).
      const normDa = Math.sqrt(da.reduce((s, x) => s + x * x, 0));
      const exactish = symmetricEigenvalues(a, 0, n, true);
      for (let i = 0; i < n; i++) {
        // The step keeps h·‖dA‖ far below λᵢ's gap to its neighbours, so the quotient's h² term
        // (~ (h‖dA‖)²·‖dA‖/gap²) stays negligible; near-degenerate λs get a smaller step and so a looser rounding term.
        const gap = Math.min(i > 0 ? exactish[i]! - exactish[i - 1]! : Infinity, i < n - 1 ? exactish[i + 1]! - exactish[i]! : Infinity);
        const h = Math.min(1e-5, (1e-4 * gap) / (normDa || 1));
        // The values of A ± h·dA are only normwise accurate in general (a small multiple of n·ε₆₄·‖A‖:
        // A ± h·dA need not be graded as nicely as A), divided by 2h in the quotient. The fixture test above
        // holds the tiny eigenvalues to the exact derivatives; this one is the independent normwise check.
        const fdError = (16 * n * 2 ** -52 * normA) / h + (h < 1e-5 ? 1e-8 * normDa : 0);
        // A (near) repeated λᵢ has no derivative of its own: no quotient then.
        if (h >= 1e-9) {
          const plus = symmetricEigenvalues(a.map((x, k) => x + h * da[k]!), 0, n, true);
          const minus = symmetricEigenvalues(a.map((x, k) => x - h * da[k]!), 0, n, true);
          const fd = (plus[i]! - minus[i]!) / (2 * h);
          const dl = quadratic(v, da, n, i);
          // float32 V: a few n·ε₃₂ of |v|ᵀ|dA||v|; the difference quotient's own error is ~h² relative.
          expect(Math.abs(dl.value - fd), `dλ_${i}: vᵀ·dA·v = ${dl.value}, differences ${fd}`).toBeLessThanOrEqual(4 * n * EPS32 * dl.abs + 1e-8 * Math.abs(fd) + fdError);
        }
        // The Rayleigh quotient against the values kernel's λᵢ. Only normwise: with several rows of equal norm
        // beside a tiny one the values kernel can be off by ~ε₆₄·‖A‖ on a tiny λᵢ even for positive definite A
        // (seen: λ = 6.16955e-12 where vᵀAv and a hand perturbation estimate give 6.16966e-12), the vector being right.
        const rq = quadratic(v, a, n, i);
        const valueError = 16 * n * 2 ** -52 * normA;
        expect(Math.abs(rq.value - w[i]!), `λ_${i} = ${w[i]}: vᵀAv = ${rq.value}`).toBeLessThanOrEqual(4 * n * EPS32 * rq.abs + Math.abs(w[i]!) * EPS32 + valueError);
        let res2 = 0;
        for (let p = 0; p < n; p++) {
          let av = 0;
          for (let q = 0; q < n; q++) av += a[p * n + q]! * v[q * n + i]!;
          res2 += (av - w[i]! * v[p * n + i]!) ** 2;
        }
        expect(Math.sqrt(res2), `‖A·v_${i} − λ·v_${i}‖`).toBeLessThanOrEqual(2 * n * EPS32 * normA);
        for (let j = 0; j < n; j++) {
          let dotij = 0;
          for (let p = 0; p < n; p++) dotij += v[p * n + i]! * v[p * n + j]!;
          expect(Math.abs(dotij - (i === j ? 1 : 0)), `v_${i}·v_${j}`).toBeLessThanOrEqual(2 * n * EPS32);
        }
      }
    }), { seed: FC_SEED, numRuns: 150 });
  });
});

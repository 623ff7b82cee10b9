// Exact spectral norms on the host in float64, to certify a Lipschitz bound after spectral
// normalisation: power iteration (models/nn.ts, algorithms.md §3.2) only estimates σ from below
// (uᵀWv ≤ σ), so with too few iterations the normalised weight can exceed c (§3.6). For the small
// matrices of examples and tests, the singular values by one-sided Jacobi in float64.
import type { NDArray } from '../../src/index.js';
import { singularValues64 } from '../../src/spectral_kernels.js';

/** Eigenvalues of a symmetric n×n matrix (row-major, float64) by cyclic Jacobi rotations. */
export function symmetricEigenvalues(a: ArrayLike<number>, n: number, sweeps = 100): number[] {
  const m = Float64Array.from(a);
  for (let sweep = 0; sweep < sweeps; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += m[p * n + q]! ** 2;
    if (off < 1e-30) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = m[p * n + q]!;
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (m[q * n + q]! - m[p * n + p]!) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1), s = t * c;
        for (let k = 0; k < n; k++) {
          // Rotate columns p and q, then rows p and q: m ← Rᵀ m R.
          const mkp = m[k * n + p]!, mkq = m[k * n + q]!;
          m[k * n + p] = c * mkp - s * mkq;
          m[k * n + q] = s * mkp + c * mkq;
        }
        for (let k = 0; k < n; k++) {
          const mpk = m[p * n + k]!, mqk = m[q * n + k]!;
          m[p * n + k] = c * mpk - s * mqk;
          m[q * n + k] = s * mpk + c * mqk;
        }
      }
    }
  }
  return Array.from({ length: n }, (_, i) => m[i * n + i]!);
}

/**
 * Singular values (descending) of a rows×cols matrix given row-major, in float64 by one-sided
 * Jacobi (src/spectral_kernels.ts): it orthogonalises the columns directly, so a singular value
 * 1e-6 times the largest keeps float64 accuracy, where the Gram matrix AᵀA (its square) lost it
 * to ~1e-4 relative.
 */
export function singularValues(w: ArrayLike<number>, rows: number, cols: number): number[] {
  return Array.from(singularValues64(w, rows, cols));
}

/** The exact spectral norm ||W||₂ of a kernel viewed as the matrix [prod(shape[:-1]), shape[-1]]. */
export function spectralNormExact(w: NDArray): number {
  const cols = w.shape[w.ndim - 1]!;
  const rows = w.size / cols;
  return singularValues(w.dataSync(), rows, cols)[0] ?? 0;
}

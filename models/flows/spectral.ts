// Exact spectral norms on the host in float64, to certify a Lipschitz bound after spectral
// normalisation: power iteration (models/nn.ts, algorithms.md §3.2) only estimates σ from below
// (uᵀWv ≤ σ), so with too few iterations the normalised weight can exceed c (§3.6). For the small
// matrices of examples and tests, σ_max = sqrt(λ_max(WᵀW)) with a cyclic Jacobi eigensolver.
import type { NDArray } from '../../src/index.js';

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

/** Singular values (descending) of a rows×cols matrix given row-major, via the smaller Gram matrix. */
export function singularValues(w: ArrayLike<number>, rows: number, cols: number): number[] {
  const tall = rows >= cols;
  const n = tall ? cols : rows;
  const gram = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      let s = 0;
      if (tall) for (let k = 0; k < rows; k++) s += w[k * cols + i]! * w[k * cols + j]!;
      else for (let k = 0; k < cols; k++) s += w[i * cols + k]! * w[j * cols + k]!;
      gram[i * n + j] = s;
      gram[j * n + i] = s;
    }
  }
  return symmetricEigenvalues(gram, n).map((l) => Math.sqrt(Math.max(0, l))).sort((a, b) => b - a);
}

/** The exact spectral norm ||W||₂ of a kernel viewed as the matrix [prod(shape[:-1]), shape[-1]]. */
export function spectralNormExact(w: NDArray): number {
  const cols = w.shape[w.ndim - 1]!;
  const rows = w.size / cols;
  return singularValues(w.dataSync(), rows, cols)[0] ?? 0;
}

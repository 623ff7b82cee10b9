// Symmetric eigendecomposition and singular value decomposition in float64 JavaScript, rounded
// once to float32: Householder tridiagonalisation and QL with accumulated vectors for eigh
// (eigvalsh_kernel.ts) and one-sided Jacobi
// (Hestenes) for svd, which orthogonalises A's columns directly and so keeps the small singular
// values that forming AᵀA would lose. Both converge to float64 precision; the matrices gradus
// meets here are small, as in linalg_kernels.ts.
import { EighWorkspace, eighNotConverged, symmetricEigensystem } from './eigvalsh_kernel.js';
import { IterationLimit } from './iteration_limit.js';
import type { ParamsOf } from './primitives.js';

const EPS64 = 2 ** -52;
/**
 * The smallest normal float64, 2⁻¹⁰²²: a column whose squared norm is below it (norm < 1.5e-154) is
 * taken as zero. Its squared norm has underflowed (to 0, or to a subnormal with few bits), so the
 * orthogonality test |γ| ≤ ε·‖b_p‖·‖b_q‖ against it could never hold while γ did not underflow,
 * and Jacobi cycled forever (UNDERFLOWING in properties/svd_convergence.test.ts). Its singular
 * value rounds to 0 in float32 either way; its U column is completed like a zero column's.
 */
const TINY_SQUARED_NORM = 2 ** -1022;
/**
 * Jacobi converges quadratically (a handful of sweeps); this bounds the work on pathological input:
 * the most sweeps that may rotate, after which one more must find every pair orthogonal. Tests
 * lower it (`jacobiSweeps.limitedTo`) to reach svd's non-convergence error, which no matrix met in
 * testing does at 100; at 0 only matrices whose columns (rows, when wide) are already orthogonal decompose.
 */
export const jacobiSweeps = new IterationLimit(100, { iteration: 'one-sided Jacobi', unit: 'sweeps', lapack: 'gesdd', expected: 'a matrix Jacobi can orthogonalise' });

/**
 * tan of the Jacobi rotation angle that zeroes the off-diagonal entry of the symmetric 2×2
 * [[app, apq], [apq, aqq]] (the smaller of the two angles, so that |t| ≤ 1): with
 * ζ = (aqq − app)/(2·apq), t = sign(ζ)/(|ζ| + √(1 + ζ²)) (Golub & Van Loan, §8.5.2).
 */
function jacobiTangent(app: number, aqq: number, apq: number): number {
  const zeta = (aqq - app) / (2 * apq);
  if (Math.abs(zeta) > 1e150) return 1 / (2 * zeta); // √(1 + ζ²) would overflow; t ≈ 1/(2ζ)
  return (zeta >= 0 ? 1 : -1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
}

/**
 * The sign convention for eigenvectors and singular vectors: −1 when the entry of largest magnitude
 * of `x` (of x[offset…offset + length) when given; the first such entry on an exact tie) is negative, else 1; the vector times it has that
 * entry positive. Magnitudes are compared as the float32 values returned, so that the convention
 * holds exactly for them (entries that differ only in float64 digits are a tie).
 */
function largestEntrySign(x: Float64Array, offset = 0, length = x.length): number {
  let best = -1, at = offset;
  for (let i = offset; i < offset + length; i++) {
    const v = Math.abs(Math.fround(x[i]!));
    if (v > best) { best = v; at = i; }
  }
  return length > 0 && x[at]! < 0 ? -1 : 1;
}

/**
 * Eigenvalues (ascending, [batch, n]) and eigenvectors (as columns, [batch, n, n]) of each
 * symmetric matrix of the stack, read from its lower (or upper) triangle only, as LAPACK's syevd
 * reads UPLO's triangle. Each eigenvector's entry of largest magnitude is positive (the first such
 * entry on an exact tie). A matrix with a NaN or an infinity gives NaNs; one on which QL does not
 * converge is a LinAlgError naming it, as cholesky's kernel treats a matrix it cannot factor. The eigenvalues are the
 * values-only kernel's (eigvalsh_kernel.ts), which eigh without vectors returns, so that dropping
 * the vectors (eigvalsh, or DCE under jit) never changes them; the vectors come from the same
 * reduction and QL run (symmetricEigensystem), 3–6× faster than the cyclic Jacobi used before at
 * n = 32..256 and as accurate on graded matrices (their tiny eigenvalues' derivatives vᵢᵀ·dA·vᵢ
 * against mpmath: properties/eigh_graded.test.ts).
 */
export function eighStack(a: ArrayLike<number>, batch: number, n: number, { lower }: ParamsOf<'eigh'>): [Float32Array, Float32Array] {
  const w = new Float32Array(batch * n);
  const vOut = new Float32Array(batch * n * n);
  const ws = new EighWorkspace(n, true); // one set of buffers for the whole stack
  for (let bi = 0; bi < batch; bi++) {
    const base = bi * n * n;
    const status = symmetricEigensystem(a, base, n, lower, ws);
    if (status === 'unconverged') throw eighNotConverged(n, bi, batch);
    if (status === 'nonfinite') {
      w.fill(NaN, bi * n, (bi + 1) * n);
      vOut.fill(NaN, base, base + n * n);
      continue;
    }
    w.set(ws.values, bi * n);
    for (let j = 0; j < n; j++) {
      const sign = largestEntrySign(ws.vectors, j * n, n);
      for (let r = 0; r < n; r++) vOut[base + r * n + j] = sign * ws.vectors[j * n + r]!;
    }
  }
  return [w, vOut];
}

/** ⟨x, y⟩ of two float64 vectors of equal length. */
function dot(x: Float64Array, y: Float64Array): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i]! * y[i]!;
  return s;
}

/**
 * Extends the orthonormal vectors `basis` (r of them, each of length `dim`) with `count` more,
 * orthonormal to them and to each other: the columns r, r+1, … of Q in the Householder QR
 * factorisation [basis] = Q·R, i.e. H₀·H₁·…·H_{r−1}·e_i. Costs O(r·dim) per vector (Gram–Schmidt
 * against the standard basis would cost O(dim³) per vector).
 */
function completeBasis(basis: Float64Array[], dim: number, count: number): Float64Array[] {
  const r = basis.length;
  const a = basis.map((q) => Float64Array.from(q)); // a[j] is column j, reduced in place
  const reflectors: Float64Array[] = [];
  for (let j = 0; j < r; j++) {
    // v = x + sign(x₀)‖x‖e₀ on rows j…dim−1 of column j, normalised; H_j = I − 2vvᵀ.
    const x = a[j]!;
    let norm = 0;
    for (let i = j; i < dim; i++) norm += x[i]! * x[i]!;
    norm = Math.sqrt(norm);
    const v = new Float64Array(dim);
    for (let i = j; i < dim; i++) v[i] = x[i]!;
    v[j] = v[j]! + (x[j]! >= 0 ? norm : -norm);
    let vn = 0;
    for (let i = j; i < dim; i++) vn += v[i]! * v[i]!;
    vn = Math.sqrt(vn);
    if (vn > 0) for (let i = j; i < dim; i++) v[i]! /= vn;
    reflectors.push(v);
    for (let c = j + 1; c < r; c++) {
      const col = a[c]!;
      let d = 0;
      for (let i = j; i < dim; i++) d += v[i]! * col[i]!;
      for (let i = j; i < dim; i++) col[i]! -= 2 * d * v[i]!;
    }
  }
  return Array.from({ length: count }, (_, k) => {
    const e = new Float64Array(dim);
    e[r + k] = 1;
    for (let j = r - 1; j >= 0; j--) {
      const v = reflectors[j]!;
      let d = 0;
      for (let i = j; i < dim; i++) d += v[i]! * e[i]!;
      for (let i = j; i < dim; i++) e[i]! -= 2 * d * v[i]!;
    }
    return e;
  });
}

/**
 * One-sided Jacobi SVD of the tall rows×cols matrix (rows ≥ cols) given by its columns (float64,
 * overwritten): rotations of column pairs until every pair is orthogonal to working precision
 * (|⟨b_p, b_q⟩| ≤ ε·‖b_p‖·‖b_q‖), accumulated in V when `wantV`. Returns the singular values
 * (descending), the left singular vectors as `uCols` columns (the normalised columns, completed to
 * an orthonormal set where a singular value is zero and up to `uCols` = rows when full), and the
 * right singular vectors as columns of V, in the same order. null when a pair is still not
 * orthogonal after `jacobiSweeps.value` sweeps that rotated (the caller raises svd's LinAlgError).
 */
function hestenesSvd(b: Float64Array[], rows: number, cols: number, wantV: boolean, uCols: number): { s: Float64Array; u: Float64Array[]; v: Float64Array[] } | null {
  const v = Array.from({ length: wantV ? cols : 0 }, (_, j) => {
    const e = new Float64Array(cols);
    e[j] = 1;
    return e;
  });
  // Sweep number jacobiSweeps.value only checks: a pair it would rotate means Jacobi did not converge (the
  // old loop stopped there silently and returned the unfinished columns as if they were U·S).
  for (let sweep = 0; ; sweep++) {
    let rotated = false;
    for (let p = 0; p < cols - 1; p++) {
      for (let q = p + 1; q < cols; q++) {
        const bp = b[p]!, bq = b[q]!;
        const alpha = dot(bp, bp), beta = dot(bq, bq), gamma = dot(bp, bq);
        if (alpha < TINY_SQUARED_NORM || beta < TINY_SQUARED_NORM) continue;
        if (Math.abs(gamma) <= EPS64 * Math.sqrt(alpha) * Math.sqrt(beta)) continue;
        if (sweep >= jacobiSweeps.value) return null;
        rotated = true;
        const t = jacobiTangent(alpha, beta, gamma);
        const c = 1 / Math.sqrt(1 + t * t), s = t * c;
        for (let r = 0; r < rows; r++) {
          const x = bp[r]!, y = bq[r]!;
          bp[r] = c * x - s * y;
          bq[r] = s * x + c * y;
        }
        if (wantV) {
          const vp = v[p]!, vq = v[q]!;
          for (let r = 0; r < cols; r++) {
            const x = vp[r]!, y = vq[r]!;
            vp[r] = c * x - s * y;
            vq[r] = s * x + c * y;
          }
        }
      }
    }
    if (!rotated) break;
  }
  const norms = b.map((col) => {
    const squared = dot(col, col);
    return squared < TINY_SQUARED_NORM ? 0 : Math.sqrt(squared);
  });
  const order = Array.from({ length: cols }, (_, i) => i).sort((x, y) => norms[y]! - norms[x]! || x - y);
  const s = Float64Array.from(order, (j) => norms[j]!);
  if (uCols === 0) return { s, u: [], v: [] };
  const u: (Float64Array | null)[] = order.map((j) => (norms[j]! > 0 ? b[j]!.map((x) => x / norms[j]!) : null));
  const known = u.filter((x): x is Float64Array => x !== null);
  const extra = completeBasis(known, rows, uCols - known.length);
  let next = 0;
  const uFull = u.map((x) => x ?? extra[next++]!);
  while (next < extra.length) uFull.push(extra[next++]!);
  return { s, u: uFull, v: wantV ? order.map((j) => v[j]!) : [] };
}

/**
 * The singular values (descending, float64) of one rows×cols matrix given row-major, by one-sided
 * Jacobi on its tall orientation: for host-side float64 uses that want the small singular values
 * too (models/flows/spectral.ts certifies spectral norms with it). Non-finite entries give NaNs;
 * a matrix on which Jacobi does not converge is svd's LinAlgError.
 */
export function singularValues64(a: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const tall = rows >= cols;
  const r = tall ? rows : cols, c = tall ? cols : rows;
  let finite = true;
  const columns = Array.from({ length: c }, (_, j) => Float64Array.from({ length: r }, (_, i) => {
    const x = tall ? a[i * cols + j]! : a[j * cols + i]!;
    if (!Number.isFinite(x)) finite = false;
    return x;
  }));
  if (!finite) return new Float64Array(c).fill(NaN);
  const result = hestenesSvd(columns, r, c, false, 0);
  if (result === null) throw jacobiSweeps.notConverged('singularValues64', rows, cols, 0, 1);
  return result.s;
}

/**
 * Singular value decomposition of each m×n matrix of the stack: singular values (descending,
 * [batch, k] with k = min(m, n)) and, with computeUv, U ([batch, m, m] when fullMatrices, else
 * [batch, m, k]) and Vᵀ ([batch, n, n] or [batch, k, n]) with A = U·diag(s)·Vᵀ. Each column of U
 * has its entry of largest magnitude positive (the first such entry on an exact tie), the matching
 * row of Vᵀ following it. A matrix with a NaN or an infinity gives NaNs (as eigh's kernel and
 * JAX); one on which Jacobi does not converge is a LinAlgError naming it, as eigh's kernel raises
 * where QL does not.
 */
export function svdStack(a: ArrayLike<number>, batch: number, m: number, n: number, { fullMatrices, computeUv }: ParamsOf<'svd'>): Float32Array[] {
  const k = Math.min(m, n);
  const uc = fullMatrices ? m : k, vr = fullMatrices ? n : k;
  const sOut = new Float32Array(batch * k);
  const uOut = new Float32Array(computeUv ? batch * m * uc : 0);
  const vhOut = new Float32Array(computeUv ? batch * vr * n : 0);
  const tall = m >= n;
  // Work on the tall orientation B (A itself, or Aᵀ for a wide A): rows ≥ cols.
  const rows = tall ? m : n, cols = tall ? n : m;
  for (let bi = 0; bi < batch; bi++) {
    const base = bi * m * n;
    let finite = true;
    const bCols = Array.from({ length: cols }, (_, j) => Float64Array.from({ length: rows }, (_, r) => {
      const x = tall ? a[base + r * n + j]! : a[base + j * n + r]!;
      if (!Number.isFinite(x)) finite = false;
      return x;
    }));
    if (!finite) {
      sOut.fill(NaN, bi * k, (bi + 1) * k);
      uOut.fill(NaN, bi * m * uc, (bi + 1) * m * uc);
      vhOut.fill(NaN, bi * vr * n, (bi + 1) * vr * n);
      continue;
    }
    // B's left vectors are A's left (tall) or right (wide) ones: as many as A's U columns or Vᵀ rows.
    const bLeft = computeUv ? (tall ? uc : vr) : 0;
    const result = hestenesSvd(bCols, rows, cols, computeUv, bLeft);
    if (result === null) throw jacobiSweeps.notConverged('linalg.svd', m, n, bi, batch);
    const { s, u: left, v: right } = result;
    sOut.set(s, bi * k);
    if (!computeUv) continue;
    // A's U as columns and Vᵀ as rows. The short side's V is square (k×k) already: as many columns
    // of U (wide A) or rows of Vᵀ (tall A) as either shape asks for.
    const uColsA = tall ? left : right, vRowsA = tall ? right : left;
    const uBase = bi * m * uc, vBase = bi * vr * n;
    uColsA.forEach((col, j) => {
      // The sign convention: U's column j has its largest entry positive; Vᵀ's row j follows.
      const sign = largestEntrySign(col);
      for (let i = 0; i < m; i++) uOut[uBase + i * uc + j] = sign * col[i]!;
      if (j < k) vRowsA[j]!.forEach((x, i) => { vhOut[vBase + j * n + i] = sign * x; });
    });
    for (let j = k; j < vr; j++) vRowsA[j]!.forEach((x, i) => { vhOut[vBase + j * n + i] = x; });
  }
  return computeUv ? [sOut, uOut, vhOut] : [sOut];
}

// The eigenvalues of a symmetric matrix without its eigenvectors, in float64: Householder
// reduction to tridiagonal form, then the implicit QL iteration with Wilkinson's shift on the
// tridiagonal matrix, no rotation accumulated (Golub & Van Loan §8.3; Numerical Recipes' tred2 and
// tqli without the vector updates). The reduction costs about 2n³ flops once (it updates both
// triangles) and QL O(n²), against cyclic Jacobi's ~6n³ per sweep (vectors included) over several
// sweeps: ~20× faster at n = 256. eigh's values come from here too, so that eigh, eigvalsh and a
// jitted eigh whose vectors DCE dropped all give the same eigenvalues; its vectors come from the same
// run with the reflections and rotations accumulated (symmetricEigensystem, tred2/tql2 style).
//
// Accuracy: backward stable (each eigenvalue within a small multiple of ε·‖A‖). The reduction runs
// on A with rows and columns permuted by descending row norm, so that a graded matrix has its large
// entries at the top left, where the reduction starts; the tridiagonal matrix it gives is graded the
// same way, and QL (which converges at the top) runs on it reversed, from its small end, deflating
// relative to the entries. Graded matrices (D·R·D, D monotone) then keep their small eigenvalues to
// float32 rounding whichever end their large entries sit at (LAPACK's syevd, through NumPy, loses
// them when they sit at the bottom right); with D not monotone some lose them (to the normwise
// bound). QL run from the large end lost them for about a quarter of random graded D·R·D
// (n 12–25): the bulge chase carries rounding errors of the large entries into the small ones.
// LAPACK's steqr picks its direction the same way, small end first.

import type { LinAlgError } from './errors.js';
import { IterationLimit } from './iteration_limit.js';

const EPS64 = 2 ** -52;
/**
 * QL converges in 1–2 iterations per eigenvalue; this bounds the work on pathological input
 * (LAPACK's steqr allows 30 per eigenvalue). Tests lower it (`qlIterations.limitedTo`) to reach the
 * non-convergence error, which no matrix met in testing does at 60.
 */
export const qlIterations = new IterationLimit(60, { iteration: 'QL', unit: 'iterations on one eigenvalue', lapack: 'syev', expected: 'a symmetric matrix QL can diagonalise' });

/** √(x² + y²) without overflow or underflow in the squares. */
function hypot2(x: number, y: number): number {
  const ax = Math.abs(x), ay = Math.abs(y);
  const big = ax > ay ? ax : ay, small = ax > ay ? ay : ax;
  if (big === 0) return 0;
  const r = small / big;
  return big * Math.sqrt(1 + r * r);
}

/**
 * Reduces the symmetric n×n `a` (row-major float64, both triangles, overwritten) to the tridiagonal
 * T = Qᵀ·A·Q by Householder reflections from the first column on: T's diagonal into `d`, its
 * sub-diagonal into e[0..n−2] (e[n−1] = 0). Each reflector is built from its column scaled by the
 * column's largest entry, so that no square overflows or underflows. With `ws.reflectors` kept
 * (eigh's vectors), step k's H = I − β·v·vᵀ goes to reflectors[k·n…] and betas[k] (β = 0, H = I,
 * where the column was zero already).
 */
function tridiagonalize(a: Float64Array, n: number, ws: EighWorkspace, keepReflectors: boolean): void {
  const { d, e, v, w, reflectors, betas } = ws;
  for (let k = 0; k < n - 2; k++) {
    let scale = 0;
    for (let i = k + 1; i < n; i++) scale = Math.max(scale, Math.abs(a[i * n + k]!));
    if (scale === 0) {
      e[k] = 0;
      if (keepReflectors) betas[k] = 0;
      continue;
    }
    let norm2 = 0;
    for (let i = k + 1; i < n; i++) {
      const x = a[i * n + k]! / scale;
      v[i] = x;
      norm2 += x * x;
    }
    // H = I − β·v·vᵀ maps the column below the diagonal onto α·e₁, α of the sign opposite to x₁ (no cancellation in v₁).
    const x1 = v[k + 1]!;
    const alpha = (x1 >= 0 ? -1 : 1) * Math.sqrt(norm2);
    e[k] = alpha * scale;
    v[k + 1] = x1 - alpha;
    const beta = 1 / (norm2 - alpha * x1); // 2/(vᵀv), vᵀv = 2(‖x‖² − α·x₁)
    if (keepReflectors) {
      // eigh's vectors need Q = H₀·H₁·…; entries ≤ k of v are 0 (v itself holds stale ones there).
      const at = k * n;
      for (let i = 0; i <= k; i++) reflectors[at + i] = 0;
      for (let i = k + 1; i < n; i++) reflectors[at + i] = v[i]!;
      betas[k] = beta;
    }
    // A₂₂ ← H·A₂₂·H = A₂₂ − v·wᵀ − w·vᵀ with p = β·A₂₂·v and w = p − (β·pᵀv/2)·v.
    let pv = 0;
    for (let i = k + 1; i < n; i++) {
      let s = 0;
      const row = i * n;
      for (let j = k + 1; j < n; j++) s += a[row + j]! * v[j]!;
      w[i] = beta * s;
      pv += w[i]! * v[i]!;
    }
    const half = (beta * pv) / 2;
    for (let i = k + 1; i < n; i++) w[i] = w[i]! - half * v[i]!;
    for (let i = k + 1; i < n; i++) {
      const vi = v[i]!, wi = w[i]!, row = i * n;
      for (let j = k + 1; j < n; j++) a[row + j] = a[row + j]! - vi * w[j]! - wi * v[j]!;
    }
  }
  for (let i = 0; i < n; i++) d[i] = a[i * n + i]!;
  if (n >= 2) e[n - 2] = a[(n - 1) * n + n - 2]!;
  e[n - 1] = 0;
}

/**
 * The eigenvalues of the symmetric tridiagonal matrix (diagonal `d`, sub-diagonal e[0..n−2], both
 * overwritten; the eigenvalues end in `d`, unsorted) by implicit QL with Wilkinson's shift. An
 * off-diagonal entry is negligible at |e_m| ≤ ε·(|d_m| + |d_{m+1}|), relative to its neighbours
 * (so graded matrices keep their small eigenvalues). False when some eigenvalue did not converge.
 */
function tridiagonalQl(d: Float64Array, e: Float64Array, n: number, z?: Float64Array): boolean {
  for (let l = 0; l < n; l++) {
    let iterations = 0;
    for (;;) {
      let m = l;
      while (m < n - 1 && Math.abs(e[m]!) > EPS64 * (Math.abs(d[m]!) + Math.abs(d[m + 1]!))) m++;
      if (m === l) break; // d[l] has converged
      if (iterations++ === qlIterations.value) return false;
      // The shift: the eigenvalue of the leading 2×2 block nearer d[l]; then chase the bulge up from m to l.
      let g = (d[l + 1]! - d[l]!) / (2 * e[l]!);
      let r = hypot2(g, 1);
      g = d[m]! - d[l]! + e[l]! / (g + (g >= 0 ? r : -r));
      let s = 1, c = 1, p = 0, i = m - 1;
      let underflow = false;
      for (; i >= l; i--) {
        const f = s * e[i]!, b = c * e[i]!;
        r = hypot2(f, g);
        e[i + 1] = r;
        if (r === 0) {
          // The rotation underflowed: the matrix has split at i; deflate and start again.
          d[i + 1] = d[i + 1]! - p;
          e[m] = 0;
          underflow = true;
          break;
        }
        s = f / r;
        c = g / r;
        g = d[i + 1]! - p;
        r = (d[i]! - g) * s + 2 * c * b;
        p = s * r;
        d[i + 1] = g + p;
        g = c * r - b;
        if (z !== undefined) {
          // The same rotation on columns i and i+1 of the accumulated vectors (stored column-contiguous); d and e are untouched.
          const ci = i * n, cj = ci + n;
          for (let k = 0; k < n; k++) {
            const f = z[cj + k]!, zi = z[ci + k]!;
            z[cj + k] = s * zi + c * f;
            z[ci + k] = c * zi - s * f;
          }
        }
      }
      if (underflow) continue;
      d[l] = d[l]! - p;
      e[l] = g;
      e[m] = 0;
    }
  }
  return true;
}

/**
 * The buffers one n×n eigendecomposition needs, made once per stack and reused for each of its
 * matrices: allocating them per matrix (a dozen arrays and closures) cost eigh on stacks of 2×2–4×4
 * matrices 10–15% against the cyclic Jacobi it replaced.
 */
export class EighWorkspace {
  /** The matrix read from its triangle, then permuted (`m`, overwritten by the reduction). */
  readonly full: Float64Array;
  readonly m: Float64Array;
  /** Q, then the unpermuted eigenvectors (column-contiguous); Z, QL's accumulated vectors (column-contiguous). */
  readonly q: Float64Array;
  readonly z: Float64Array;
  /** The eigenvectors in ascending order of their values, vector j at vectors[j·n…]. */
  readonly vectors: Float64Array;
  readonly reflectors: Float64Array;
  readonly betas: Float64Array;
  readonly d: Float64Array;
  readonly e: Float64Array;
  readonly v: Float64Array;
  readonly w: Float64Array;
  readonly sums: Float64Array;
  readonly rowNorm2: Float64Array;
  /** The eigenvalues, ascending. */
  readonly values: Float64Array;
  readonly perm: Int32Array;
  readonly order: Int32Array;
  readonly lead: Int32Array;
  constructor(readonly n: number, withVectors: boolean) {
    const nn = n * n, vn = withVectors ? nn : 0;
    this.full = new Float64Array(nn);
    this.m = new Float64Array(nn);
    this.q = new Float64Array(vn);
    this.z = new Float64Array(vn);
    this.vectors = new Float64Array(vn);
    this.reflectors = new Float64Array(withVectors ? Math.max(n - 2, 0) * n : 0);
    this.betas = new Float64Array(withVectors ? Math.max(n - 2, 0) : 0);
    [this.d, this.e, this.v, this.w, this.sums, this.rowNorm2, this.values] = Array.from({ length: 7 }, () => new Float64Array(n));
    [this.perm, this.order, this.lead] = Array.from({ length: 3 }, () => new Int32Array(n));
  }
}

/** idx[0..n) ← 0…n−1 sorted by `before` (a strict total order), by insertion: n is small, and Array's sort needed a fresh array per matrix. */
function insertionSort(idx: Int32Array, n: number, before: (x: number, y: number) => boolean): void {
  for (let i = 0; i < n; i++) idx[i] = i;
  for (let i = 1; i < n; i++) {
    const x = idx[i]!;
    let j = i - 1;
    while (j >= 0 && before(x, idx[j]!)) { idx[j + 1] = idx[j]!; j--; }
    idx[j + 1] = x;
  }
}

/**
 * Reads the symmetric n×n matrix whose lower triangle (upper when `lower` is false) starts at
 * `base` in the row-major `a` into ws.m, with rows and columns permuted by descending row norm
 * (graded matrices get their large entries at the top left, where the reduction starts), the ties
 * in index order; ws.perm[i] is the input's row that is ws.m's row i. False when an entry read is
 * not finite.
 */
function readPermuted(a: ArrayLike<number>, base: number, n: number, lower: boolean, ws: EighWorkspace): boolean {
  const { full, m, perm, rowNorm2 } = ws;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      const x = lower ? a[base + i * n + j]! : a[base + j * n + i]!;
      if (!Number.isFinite(x)) return false;
      full[i * n + j] = full[j * n + i] = x;
    }
  }
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < n; j++) s += full[i * n + j]! * full[i * n + j]!;
    rowNorm2[i] = s;
  }
  // Descending norm, then index (|| on the difference, so that two infinite norms tie, as they compare).
  insertionSort(perm, n, (x, y) => (rowNorm2[y]! - rowNorm2[x]! || x - y) < 0);
  for (let i = 0; i < n; i++) {
    const src = perm[i]! * n;
    for (let j = 0; j < n; j++) m[i * n + j] = full[src + perm[j]!]!;
  }
  return true;
}

/** T's diagonal and sub-diagonal reversed in place: QL converges at the top, and T's large entries are at its top (the permutation's), so QL gets T small end first (the same eigenvalues). */
function reverseTridiagonal(d: Float64Array, e: Float64Array, n: number): void {
  for (let i = 0, j = n - 1; i < j; i++, j--) { const t = d[i]!; d[i] = d[j]!; d[j] = t; }
  for (let i = 0, j = n - 2; i < j; i++, j--) { const t = e[i]!; e[i] = e[j]!; e[j] = t; }
}

/** Where QL did not converge: the matrix (in its stack) and the eigenvalue it was working on. */
function notConverged(what: string, n: number, at: number, batch: number): LinAlgError {
  return qlIterations.notConverged(`linalg.${what}`, n, n, at, batch);
}

/** ws.d ← the eigenvalues of the matrix at `base`, unsorted: NaNs where an entry is not finite; false when QL did not converge. */
function valuesInto(a: ArrayLike<number>, base: number, n: number, lower: boolean, ws: EighWorkspace): boolean {
  if (!readPermuted(a, base, n, lower, ws)) {
    ws.d.fill(NaN);
    return true;
  }
  tridiagonalize(ws.m, n, ws, false);
  reverseTridiagonal(ws.d, ws.e, n);
  return tridiagonalQl(ws.d, ws.e, n);
}

/**
 * The eigenvalues, ascending (float64), of the n×n symmetric matrix whose lower triangle (upper
 * when `lower` is false) starts at `base` in the row-major `a`; `n` NaNs when an entry there is
 * not finite, as JAX's eigh gives NaNs. A LinAlgError naming matrix `at` of a stack of `batch`
 * when QL does not converge (never met in testing but by lowering the limit: qlIterations.limitedTo).
 * With a workspace `ws` (made for n, without vectors) the result is its own array, overwritten by
 * the next call: eigvalshStack's step per matrix.
 */
export function symmetricEigenvalues(a: ArrayLike<number>, base: number, n: number, lower: boolean, ws = new EighWorkspace(n, false), at = 0, batch = 1): Float64Array {
  if (!valuesInto(a, base, n, lower, ws)) throw notConverged('eigvalsh', n, at, batch);
  return ws.d.sort();
}

/**
 * The eigenvalues (ws.values, ascending, float64, bitwise those of symmetricEigenvalues: d and e go
 * through the same arithmetic) and eigenvectors (ws.vectors[j·n…] is the unit eigenvector of
 * values[j], float64) of the same matrix: the reflections and QL rotations accumulated in the
 * permuted, reversed basis (tred2/tql2), then mapped back. Unlike cyclic Jacobi on A itself, this
 * keeps the vectors of a graded matrix's tiny eigenvalues as accurate as the values (see
 * properties/eigh_graded.test.ts). 'nonfinite' where an entry is not finite, 'unconverged' where QL
 * did not converge, else 'ok'. `ws` is made for n with vectors.
 */
export function symmetricEigensystem(a: ArrayLike<number>, base: number, n: number, lower: boolean, ws: EighWorkspace): 'ok' | 'nonfinite' | 'unconverged' {
  if (!readPermuted(a, base, n, lower, ws)) return 'nonfinite';
  const { d, e, q, z, sums, reflectors, betas, perm, lead, order, vectors, values } = ws;
  tridiagonalize(ws.m, n, ws, true);
  // Q = H₀·H₁·…·H_{n−3}, formed backwards (Q ← H_k·Q from the last reflector), each touching only
  // rows and columns past k: about 4n³/3 flops, row-major.
  q.fill(0);
  for (let i = 0; i < n; i++) q[i * n + i] = 1;
  for (let k = n - 3; k >= 0; k--) {
    const at = k * n, beta = betas[k]!;
    if (beta === 0) continue; // H = I: the column was zero already
    sums.fill(0);
    for (let i = k + 1; i < n; i++) {
      const vi = reflectors[at + i]!, row = i * n;
      if (vi !== 0) for (let c = k + 1; c < n; c++) sums[c] = sums[c]! + vi * q[row + c]!;
    }
    for (let i = k + 1; i < n; i++) {
      const f = beta * reflectors[at + i]!, row = i * n;
      if (f !== 0) for (let c = k + 1; c < n; c++) q[row + c] = q[row + c]! - f * sums[c]!;
    }
  }
  reverseTridiagonal(d, e, n);
  // Z starts as Q·J (J the reversal), column-contiguous: column c is Q's column n−1−c.
  for (let c = 0; c < n; c++) for (let r = 0; r < n; r++) z[c * n + r] = q[r * n + n - 1 - c]!;
  if (!tridiagonalQl(d, e, n, z)) return 'unconverged';
  // Row i of the permuted matrix is the input's row perm[i]: undo the permutation (into q, column-contiguous).
  for (let c = 0; c < n; c++) for (let i = 0; i < n; i++) q[c * n + perm[i]!] = z[c * n + i]!;
  // Ascending values; exactly equal ones by the row of their vector's largest entry (the first on a
  // tie), so that a diagonal matrix's equal values keep their diagonal order (eigh(I) = (1…, I), as
  // NumPy and JAX give), where the reversal and the row-norm permutation would scramble them.
  for (let c = 0; c < n; c++) {
    let at = 0;
    for (let i = 1; i < n; i++) if (Math.abs(q[c * n + i]!) > Math.abs(q[c * n + at]!)) at = i;
    lead[c] = at;
  }
  insertionSort(order, n, (x, y) => (d[x]! - d[y]! || lead[x]! - lead[y]! || x - y) < 0);
  values.set(d);
  values.sort(); // exactly symmetricEigenvalues' result (−0 before 0 included)
  for (let j = 0; j < n; j++) for (let i = 0, src = order[j]! * n; i < n; i++) vectors[j * n + i] = q[src + i]!;
  return 'ok';
}

/** The eigenvalues (ascending, [batch, n], float32) of each symmetric matrix of the stack, read from its lower (or upper) triangle: eigh with computeV false. A LinAlgError naming the matrix where QL does not converge. */
export function eigvalshStack(a: ArrayLike<number>, batch: number, n: number, lower: boolean): Float32Array {
  const w = new Float32Array(batch * n);
  const ws = new EighWorkspace(n, false);
  for (let bi = 0; bi < batch; bi++) w.set(symmetricEigenvalues(a, bi * n * n, n, lower, ws, bi, batch), bi * n);
  return w;
}

/** The eigh kernels' LinAlgError for a matrix of `batch` on which QL did not converge. */
export function eighNotConverged(n: number, at: number, batch: number): LinAlgError {
  return notConverged('eigh', n, at, batch);
}


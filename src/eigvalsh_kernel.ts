// The eigenvalues of a symmetric matrix without its eigenvectors, in float64: Householder
// reduction to tridiagonal form, then the implicit QL iteration with Wilkinson's shift on the
// tridiagonal matrix, no rotation accumulated (Golub & Van Loan §8.3; Numerical Recipes' tred2 and
// tqli without the vector updates). The reduction costs about 2n³ flops once (it updates both
// triangles) and QL O(n²), against cyclic Jacobi's ~6n³ per sweep (vectors included) over several
// sweeps: ~20× faster at n = 256 (eigh's Jacobi kernel is kept for the vectors). eigh's values come from here too, so that eigh,
// eigvalsh and a jitted eigh whose vectors DCE dropped all give the same eigenvalues.
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

const EPS64 = 2 ** -52;
/** QL converges in 1–2 iterations per eigenvalue; this bounds the work on pathological input (LAPACK's steqr allows 30 per eigenvalue). */
const MAX_QL_ITERATIONS = 60;

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
 * column's largest entry, so that no square overflows or underflows.
 */
function tridiagonalize(a: Float64Array, n: number, d: Float64Array, e: Float64Array): void {
  const v = new Float64Array(n), w = new Float64Array(n);
  for (let k = 0; k < n - 2; k++) {
    let scale = 0;
    for (let i = k + 1; i < n; i++) scale = Math.max(scale, Math.abs(a[i * n + k]!));
    if (scale === 0) {
      e[k] = 0;
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
function tridiagonalQl(d: Float64Array, e: Float64Array, n: number): boolean {
  for (let l = 0; l < n; l++) {
    let iterations = 0;
    for (;;) {
      let m = l;
      while (m < n - 1 && Math.abs(e[m]!) > EPS64 * (Math.abs(d[m]!) + Math.abs(d[m + 1]!))) m++;
      if (m === l) break; // d[l] has converged
      if (iterations++ === MAX_QL_ITERATIONS) return false;
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
 * The eigenvalues, ascending (float64), of the n×n symmetric matrix whose lower triangle (upper
 * when `lower` is false) starts at `base` in the row-major `a`; `n` NaNs when an entry there is
 * not finite or (never met in testing) the QL iteration does not converge, as JAX's eigh gives NaNs.
 */
export function symmetricEigenvalues(a: ArrayLike<number>, base: number, n: number, lower: boolean): Float64Array {
  const full = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      const x = lower ? a[base + i * n + j]! : a[base + j * n + i]!;
      if (!Number.isFinite(x)) return new Float64Array(n).fill(NaN);
      full[i * n + j] = full[j * n + i] = x;
    }
  }
  // Rows (and columns) by descending norm: graded matrices get their large entries at the top left.
  const rowNorm2 = Array.from({ length: n }, (_, i) => {
    let s = 0;
    for (let j = 0; j < n; j++) s += full[i * n + j]! * full[i * n + j]!;
    return s;
  });
  const perm = Array.from({ length: n }, (_, i) => i).sort((x, y) => rowNorm2[y]! - rowNorm2[x]! || x - y);
  const m = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const src = perm[i]! * n;
    for (let j = 0; j < n; j++) m[i * n + j] = full[src + perm[j]!]!;
  }
  const d = new Float64Array(n), e = new Float64Array(n);
  tridiagonalize(m, n, d, e);
  // T's large entries are at its top (the permutation's); QL converges at the top, so it gets T with
  // rows and columns reversed (the same eigenvalues), small end first.
  d.reverse();
  e.subarray(0, Math.max(n - 1, 0)).reverse();
  if (!tridiagonalQl(d, e, n)) return new Float64Array(n).fill(NaN);
  return d.sort();
}

/** The eigenvalues (ascending, [batch, n], float32) of each symmetric matrix of the stack, read from its lower (or upper) triangle: eigh with computeV false. */
export function eigvalshStack(a: ArrayLike<number>, batch: number, n: number, lower: boolean): Float32Array {
  const w = new Float32Array(batch * n);
  for (let bi = 0; bi < batch; bi++) w.set(symmetricEigenvalues(a, bi * n * n, n, lower), bi * n);
  return w;
}

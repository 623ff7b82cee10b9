// Float64 matrix helpers shared by the linear-algebra suites: plain nested arrays and textbook
// algorithms, independent of gradus's kernels, as references.

export type Mat = number[][];

export const transpose64 = (a: Mat): Mat => (a.length === 0 ? [] : a[0]!.map((_, j) => a.map((r) => r[j]!)));
export const matmul64 = (a: Mat, b: Mat): Mat => a.map((row) => (b[0] ?? []).map((_, j) => row.reduce((acc, v, k) => acc + v * b[k]![j]!, 0)));
export const eye64 = (n: number): Mat => Array.from({ length: n }, (_, i) => Array.from({ length: n }, (__, j) => (i === j ? 1 : 0)));

/** Gaussian elimination with partial pivoting in float64 (knows nothing of triangles or factorisations). */
export function solve64(a: Mat, b: Mat): Mat {
  const n = a.length, k = b[0]!.length;
  const m = a.map((row, i) => [...row, ...b[i]!]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r]![c]!) > Math.abs(m[p]![c]!)) p = r;
    [m[c], m[p]] = [m[p]!, m[c]!];
    for (let r = c + 1; r < n; r++) {
      const f = m[r]![c]! / m[c]![c]!;
      for (let j = c; j < n + k; j++) m[r]![j]! -= f * m[c]![j]!;
    }
  }
  const x: Mat = Array.from({ length: n }, () => new Array<number>(k).fill(0));
  for (let r = n - 1; r >= 0; r--) {
    for (let j = 0; j < k; j++) {
      let s = m[r]![n + j]!;
      for (let c = r + 1; c < n; c++) s -= m[r]![c]! * x[c]![j]!;
      x[r]![j] = s / m[r]![r]!;
    }
  }
  return x;
}

/** The symmetric part (A + Aᵀ)/2. */
export const symmetricPart64 = (a: Mat): Mat => a.map((row, i) => row.map((v, j) => (v + a[j]![i]!) / 2));

/** Cholesky–Banachiewicz in float64, row by row (the kernel goes column by column); reads A's lower triangle only. */
export function cholesky64(a: Mat): Mat {
  const n = a.length;
  const l: Mat = a.map(() => new Array<number>(n).fill(0));
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[i]![j]!;
      for (let k = 0; k < j; k++) s -= l[i]![k]! * l[j]![k]!;
      l[i]![j] = i === j ? Math.sqrt(s) : s / l[j]![j]!;
    }
  }
  return l;
}

/**
 * Reduced QR of a full-column-rank m×n matrix (m ≥ n) by modified Gram–Schmidt in float64, with
 * R's diagonal positive: knows nothing of reflections.
 */
export function gramSchmidt64(a: Mat): { q: Mat; r: Mat } {
  const m = a.length, n = a[0]!.length;
  const cols = transpose64(a).map((c) => [...c]);
  const r: Mat = Array.from({ length: n }, () => new Array<number>(n).fill(0));
  const q: number[][] = [];
  for (let j = 0; j < n; j++) {
    const v = cols[j]!;
    for (let i = 0; i < j; i++) {
      const d = q[i]!.reduce((acc, x, k) => acc + x * v[k]!, 0);
      r[i]![j] = d;
      for (let k = 0; k < m; k++) v[k]! -= d * q[i]![k]!;
    }
    const norm = Math.sqrt(v.reduce((acc, x) => acc + x * x, 0));
    r[j]![j] = norm;
    q.push(v.map((x) => x / norm));
  }
  return { q: transpose64(q), r };
}

/** The orthogonal factor of a full-rank square matrix (Gram–Schmidt on its columns): a generic orthogonal matrix from generic entries. */
export const orthogonal64 = (g: Mat): Mat => gramSchmidt64(g).q;

/** det by Laplace expansion along the first row, in float64: exact for small integer matrices (n ≤ ~8), an independent reference for det's derivatives. */
export function laplaceDet(m: Mat): number {
  return m.length === 0 ? 1 : m[0]!.reduce((acc, v, j) => acc + (j % 2 ? -1 : 1) * v * laplaceDet(m.slice(1).map((r) => r.filter((_, k) => k !== j))), 0);
}

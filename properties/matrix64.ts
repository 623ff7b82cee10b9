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

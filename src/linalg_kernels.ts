// Small dense linear algebra in float64 JavaScript: LU with partial pivoting, inverse, solve and
// log-determinant over stacks of matrices. TF.js has no LU; these matrices are small (flows and
// tests use n ≤ a few hundred), so running on the CPU in double precision is both simple and accurate.
import { LinAlgError } from './errors.js';

/** In-place LU of the n×n matrix `a` (row-major, float64). Returns the pivot rows and the permutation sign. */
function luInPlace(a: Float64Array, n: number): { piv: Int32Array; sign: number; singular: boolean } {
  const piv = new Int32Array(n);
  let sign = 1;
  let singular = false;
  for (let k = 0; k < n; k++) {
    let p = k;
    let best = Math.abs(a[k * n + k]!);
    for (let i = k + 1; i < n; i++) {
      const v = Math.abs(a[i * n + k]!);
      if (v > best) { best = v; p = i; }
    }
    piv[k] = p;
    if (p !== k) {
      sign = -sign;
      for (let j = 0; j < n; j++) {
        const t = a[k * n + j]!; a[k * n + j] = a[p * n + j]!; a[p * n + j] = t;
      }
    }
    const d = a[k * n + k]!;
    if (d === 0) { singular = true; continue; }
    for (let i = k + 1; i < n; i++) {
      const f = (a[i * n + k]! /= d);
      if (f !== 0) for (let j = k + 1; j < n; j++) a[i * n + j]! -= f * a[k * n + j]!;
    }
  }
  return { piv, sign, singular };
}

/** Solves LU x = P b for the k right-hand sides in `b` (n×k row-major, overwritten with x). */
function luSolveInPlace(lu: Float64Array, piv: Int32Array, n: number, b: Float64Array, k: number): void {
  for (let i = 0; i < n; i++) {
    const p = piv[i]!;
    if (p !== i) for (let j = 0; j < k; j++) { const t = b[i * k + j]!; b[i * k + j] = b[p * k + j]!; b[p * k + j] = t; }
  }
  for (let i = 0; i < n; i++) {
    for (let m = 0; m < i; m++) {
      const f = lu[i * n + m]!;
      if (f !== 0) for (let j = 0; j < k; j++) b[i * k + j]! -= f * b[m * k + j]!;
    }
  }
  for (let i = n - 1; i >= 0; i--) {
    for (let m = i + 1; m < n; m++) {
      const f = lu[i * n + m]!;
      if (f !== 0) for (let j = 0; j < k; j++) b[i * k + j]! -= f * b[m * k + j]!;
    }
    const d = lu[i * n + i]!;
    for (let j = 0; j < k; j++) b[i * k + j]! /= d;
  }
}

/** Solves a_b x_b = rhs_b for every matrix of the stack; a singular matrix is a LinAlgError, as in NumPy (not a silent ∞). */
export function solveStack(a: ArrayLike<number>, rhs: ArrayLike<number>, batch: number, n: number, k: number, op = 'linalg.solve'): Float32Array {
  const out = new Float32Array(batch * n * k);
  for (let bi = 0; bi < batch; bi++) {
    const m = Float64Array.from({ length: n * n }, (_, i) => a[bi * n * n + i]!);
    const x = Float64Array.from({ length: n * k }, (_, i) => rhs[bi * n * k + i]!);
    const { piv, singular } = luInPlace(m, n);
    if (singular) throw new LinAlgError(`${op}: matrix ${batch > 1 ? `${bi} of the stack of ${batch} ` : ''}(${n}×${n}) is singular; expected an invertible matrix`);
    luSolveInPlace(m, piv, n, x, k);
    out.set(x, bi * n * k);
  }
  return out;
}

export function inverseStack(a: ArrayLike<number>, batch: number, n: number): Float32Array {
  const eye = new Float64Array(batch * n * n);
  for (let bi = 0; bi < batch; bi++) for (let i = 0; i < n; i++) eye[bi * n * n + i * n + i] = 1;
  return solveStack(a, eye, batch, n, n, 'linalg.inv');
}

/** Sign and log|det| of each matrix of the stack (sign 0 and -Infinity for singular matrices). */
export function slogdetStack(a: ArrayLike<number>, batch: number, n: number): [Float32Array, Float32Array] {
  const sign = new Float32Array(batch);
  const logabs = new Float32Array(batch);
  for (let bi = 0; bi < batch; bi++) {
    const m = Float64Array.from({ length: n * n }, (_, i) => a[bi * n * n + i]!);
    const lu = luInPlace(m, n);
    let s = lu.sign;
    let l = 0;
    for (let i = 0; i < n; i++) {
      const d = m[i * n + i]!;
      if (d < 0) s = -s;
      l += Math.log(Math.abs(d));
    }
    sign[bi] = lu.singular ? 0 : s;
    logabs[bi] = lu.singular ? -Infinity : l;
  }
  return [sign, logabs];
}

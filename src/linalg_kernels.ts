// Small dense linear algebra in float64 JavaScript: LU with partial pivoting, inverse, solve and
// log-determinant over stacks of matrices. TF.js has no LU; these matrices are small (flows and
// tests use n ≤ a few hundred), so running on the CPU in double precision is both simple and accurate.
import { LinAlgError } from './errors.js';
import type { ParamsOf } from './primitives.js';

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

/**
 * Back substitution with the leading block of the upper triangle of `lu` (row-major, row length n):
 * solves U[0..rows)[0..rows)·x = b in place for the column `col` of `x` (row length `stride`), which
 * holds b on entry. Rows from `rows` on are not read.
 */
function solveLeadingUpperInPlace(lu: Float64Array, n: number, rows: number, x: Float64Array, stride: number, col: number): void {
  for (let i = rows - 1; i >= 0; i--) {
    let s = x[i * stride + col]!;
    for (let k = i + 1; k < rows; k++) s -= lu[i * n + k]! * x[k * stride + col]!;
    x[i * stride + col] = s / lu[i * n + i]!;
  }
}

/**
 * The inverse of the leading m×m block of the upper triangle of `lu` (row-major, row length n) into
 * `out` (row length `outStride`): column j by back substitution on e_j, over its first j + 1 rows
 * (U⁻¹ is upper triangular: zeros below the diagonal).
 */
function invertLeadingUpper(lu: Float64Array, n: number, m: number, out: Float64Array, outStride: number): void {
  for (let j = 0; j < m; j++) {
    for (let i = 0; i < m; i++) out[i * outStride + j] = i === j ? 1 : 0;
    solveLeadingUpperInPlace(lu, n, j + 1, out, outStride, j);
  }
}

/** z = g·L⁻¹ for the n×n `g`, L the unit lower triangle stored below `lu`'s diagonal: z·L = g solved row by row. */
export function solveRightUnitLower(g: Float64Array, lu: Float64Array, n: number, z: Float64Array): void {
  for (let i = 0; i < n; i++) {
    for (let j = n - 1; j >= 0; j--) {
      let s = g[i * n + j]!;
      for (let k = j + 1; k < n; k++) s -= z[i * n + k]! * lu[k * n + j]!;
      z[i * n + j] = s;
    }
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

/**
 * LU with complete pivoting of the n×n matrix `a` (row-major, float64, overwritten): P·A·Q = L·U
 * with `rowPerm[k]` the row of A in row k of P·A and `colPerm[k]` its column in column k of A·Q.
 * Complete pivoting is rank revealing for exact zeros: after `rank` steps the rest of U is zero,
 * which is what the adjugate of a singular matrix needs (partial pivoting can meet a zero pivot
 * early, as in [[0, 1], [0, 0]], and leave nonzeros after it).
 */
export function luCompletePivoting(a: Float64Array, n: number): { rowPerm: Int32Array; colPerm: Int32Array; sign: number; rank: number } {
  const rowPerm = Int32Array.from({ length: n }, (_, i) => i);
  const colPerm = Int32Array.from({ length: n }, (_, i) => i);
  let sign = 1;
  for (let k = 0; k < n; k++) {
    let p = k, q = k, best = 0;
    for (let i = k; i < n; i++) for (let j = k; j < n; j++) {
      const v = Math.abs(a[i * n + j]!);
      if (v > best) { best = v; p = i; q = j; }
    }
    if (best === 0) return { rowPerm, colPerm, sign, rank: k };
    if (p !== k) {
      sign = -sign;
      [rowPerm[k], rowPerm[p]] = [rowPerm[p]!, rowPerm[k]!];
      for (let j = 0; j < n; j++) { const t = a[k * n + j]!; a[k * n + j] = a[p * n + j]!; a[p * n + j] = t; }
    }
    if (q !== k) {
      sign = -sign;
      [colPerm[k], colPerm[q]] = [colPerm[q]!, colPerm[k]!];
      for (let i = 0; i < n; i++) { const t = a[i * n + k]!; a[i * n + k] = a[i * n + q]!; a[i * n + q] = t; }
    }
    const d = a[k * n + k]!;
    for (let i = k + 1; i < n; i++) {
      const f = (a[i * n + k]! /= d);
      if (f !== 0) for (let j = k + 1; j < n; j++) a[i * n + j]! -= f * a[k * n + j]!;
    }
  }
  return { rowPerm, colPerm, sign, rank: n };
}

/**
 * dst = L⁻¹·(P·T·Q) for the n×n matrix T at offset `base` of `t`: its rows and columns permuted as
 * luCompletePivoting pivoted (`rowPerm`, `colPerm`), then forward substitution with the unit lower
 * triangle it left in `lu`. A tangent's image in the pivoted LU's basis, which adjugate's first
 * (adjugateTangentStack) and second (adjugate_second_tangent.ts) derivatives both start from.
 */
export function permutedForwardSubstitution(dst: Float64Array, t: ArrayLike<number>, base: number, lu: Float64Array, rowPerm: Int32Array, colPerm: Int32Array, n: number): void {
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) dst[i * n + j] = t[base + rowPerm[i]! * n + colPerm[j]!]!;
  for (let i = 1; i < n; i++) for (let k = 0; k < i; k++) {
    const f = lu[i * n + k]!;
    if (f !== 0) for (let j = 0; j < n; j++) dst[i * n + j]! -= f * dst[k * n + j]!;
  }
}

/** Determinant of each matrix of the stack (exactly 0 for a singular one; ±inf past float32's range). */
export function detStack(a: ArrayLike<number>, batch: number, n: number): Float32Array {
  const out = new Float32Array(batch);
  for (let bi = 0; bi < batch; bi++) {
    const m = Float64Array.from({ length: n * n }, (_, i) => a[bi * n * n + i]!);
    if (m.some(Number.isNaN)) { out[bi] = NaN; continue; } // pivoting compares magnitudes: NaN would be passed over
    const { sign, rank } = luCompletePivoting(m, n);
    let d = rank < n ? 0 : sign;
    for (let k = 0; k < n && d !== 0; k++) d *= m[k * n + k]!;
    out[bi] = d;
  }
  return out;
}

/**
 * A product of pivots kept as mantissa·2^exponent: the cofactors' products of up to n − 1 pivots
 * pass float64's range long before the result is anything but ±∞ in float32 (30×30 at 1e11), and
 * an ∞ there times a zero entry was NaN. Multiply by `scaleBy` at the end.
 */
export class ScaledProduct {
  mantissa = 1;
  exponent = 0;
  times(v: number): void {
    this.mantissa *= v;
    const m = Math.abs(this.mantissa);
    if (m !== 0 && Number.isFinite(m) && (m > 2 ** 256 || m < 2 ** -256)) {
      const k = Math.round(Math.log2(m));
      this.mantissa *= 2 ** -k; // exact: a power of two, and the mantissa stays normal
      this.exponent += k;
    }
  }
  /** x·2^exponent without an overflow or underflow on the way: 0 stays 0 and ±∞ or NaN stay as they are. */
  scaleBy(x: number): number {
    let e = this.exponent;
    if (x === 0 || !Number.isFinite(x)) return x;
    while (e > 1000) { x *= 2 ** 1000; e -= 1000; if (!Number.isFinite(x)) return x; }
    while (e < -1000) { x *= 2 ** -1000; e += 1000; if (x === 0) return x; }
    return x * 2 ** e;
  }
}

/**
 * Adjugate (transposed cofactor matrix) of each matrix of the stack: det(A)·A⁻¹ where A is
 * invertible, and still defined where it is not — rank n−1 gives a rank-one adjugate, lower rank
 * gives zeros. It is the derivative of det: d det(A) = tr(adj(A) dA).
 *
 * With P·A·Q = L·U, adj(A) = det(P)·det(Q) · Q·adj(U)·L⁻¹·P, and for U = [[U₁, c], [0, d]]
 * (U₁ invertible when rank ≥ n−1) adj(U) = det(U₁)·[[d·U₁⁻¹, −U₁⁻¹c], [0, 1]], a polynomial in d
 * that needs no division by the last pivot.
 */
export function adjugateStack(a: ArrayLike<number>, batch: number, n: number): Float32Array {
  const out = new Float32Array(batch * n * n);
  if (n === 0) return out;
  const adjU = new Float64Array(n * n);
  const z = new Float64Array(n * n);
  for (let bi = 0; bi < batch; bi++) {
    const lu = Float64Array.from({ length: n * n }, (_, i) => a[bi * n * n + i]!);
    if (lu.some(Number.isNaN)) { out.fill(NaN, bi * n * n, (bi + 1) * n * n); continue; }
    const { rowPerm, colPerm, sign, rank } = luCompletePivoting(lu, n);
    if (rank < n - 1) continue; // every (n−1)-minor vanishes: the adjugate is zero
    const m = n - 1;
    const scaled = new ScaledProduct(); // det(U₁) = sign·mantissa·2^exponent
    for (let k = 0; k < m; k++) scaled.times(lu[k * n + k]!);
    const detU1 = sign * scaled.mantissa;
    const d = lu[m * n + m]!;
    adjU.fill(0);
    // U₁⁻¹ into adj(U)'s top-left block (scaled by d·det(U₁) below).
    invertLeadingUpper(lu, n, m, adjU, n);
    // Last column: −U₁⁻¹c (U₁·x = −c by back substitution), then 1; then everything times det(U₁) (and the top-left block times d).
    for (let i = 0; i < m; i++) adjU[i * n + m] = -lu[i * n + m]!;
    solveLeadingUpperInPlace(lu, n, m, adjU, n, m);
    adjU[m * n + m] = 1;
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) adjU[i * n + j]! *= j < m ? d * detU1 : detU1;
    // z = adj(U)·L⁻¹ (L unit lower triangular, stored below lu's diagonal).
    solveRightUnitLower(adjU, lu, n, z);
    // adj(A) = Q·z·P: row k of z goes to row colPerm[k], column k to column rowPerm[k].
    const base = bi * n * n;
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) out[base + colPerm[i]! * n + rowPerm[j]!] = scaled.scaleBy(z[i * n + j]!);
  }
  return out;
}

/**
 * d adj(A)[T] for each matrix pair of the stack: det's second derivative, a polynomial in A, so
 * defined at singular matrices too (zero below rank n−2, where every (n−2)-minor vanishes).
 *
 * With P·A·Q = L·U (complete pivoting) and L, P, Q held fixed, A + εT = Pᵀ·L·(U + εM)·Qᵀ with
 * M = L⁻¹·P·T·Q, so d adj(A)[T] = det(P)·det(Q)·Q·(d adj(U)[M])·L⁻¹·P. For X = U + εM split as
 * [[X₁₁, X₁₂], [X₂₁, X₂₂]] with X₁₁ the leading (n−2)×(n−2) block (the largest pivots, invertible
 * when rank ≥ n−2), W = X₁₁⁻¹, δ = det X₁₁ and the 2×2 Schur complement S = X₂₂ − X₂₁·W·X₁₂:
 *   adj X = δ·[[det S·W + W·X₁₂·adj S·X₂₁·W, −W·X₁₂·adj S], [−adj S·X₂₁·W, adj S]],
 * a polynomial in S (adj of a 2×2 is linear, its det quadratic) that divides by no pivot past the
 * first n−2; differentiating at ε = 0 (where X₂₁ = 0) gives the blocks below. (JAX's cofactor solve
 * excludes one pivot for the first derivative; the second excludes two.)
 */
export function adjugateTangentStack(a: ArrayLike<number>, t: ArrayLike<number>, batch: number, n: number): Float32Array {
  const out = new Float32Array(batch * n * n);
  if (n < 2) {
    // adj of a 1×1 matrix is the constant [[1]]: its tangent is 0 (NaN for a NaN tangent, as 0·NaN).
    for (let i = 0; i < batch * n * n; i++) out[i] = Number.isNaN(t[i]!) || Number.isNaN(a[i]!) ? NaN : 0;
    return out;
  }
  const m = n - 2;
  const mm = new Float64Array(n * n), w = new Float64Array(m * m), wm = new Float64Array(m * m), dw = new Float64Array(m * m);
  const g = new Float64Array(n * n), z = new Float64Array(n * n);
  const wb = new Float64Array(m * 2), m21w = new Float64Array(2 * m);
  for (let bi = 0; bi < batch; bi++) {
    const base = bi * n * n;
    const lu = Float64Array.from({ length: n * n }, (_, i) => a[base + i]!);
    if (lu.some(Number.isNaN)) { out.fill(NaN, base, base + n * n); continue; }
    const { rowPerm, colPerm, sign, rank } = luCompletePivoting(lu, n);
    if (rank < m) {
      // Every (n−2)-minor is zero, so is the derivative of every cofactor (NaN tangents stay NaN).
      for (let i = 0; i < n * n; i++) if (Number.isNaN(t[base + i]!)) out.fill(NaN, base, base + n * n);
      continue;
    }
    permutedForwardSubstitution(mm, t, base, lu, rowPerm, colPerm, n); // mm = L⁻¹·(P·T·Q)
    // W = U₁₁⁻¹ (upper triangular, by columns) and δ = det U₁₁.
    const scaled = new ScaledProduct(); // δ = mantissa·2^exponent; the blocks below take the mantissa
    for (let k = 0; k < m; k++) scaled.times(lu[k * n + k]!);
    const delta = scaled.mantissa;
    invertLeadingUpper(lu, n, m, w, m);
    // wm = W·M₁₁, τ = tr(W·M₁₁) (so δ' = δ·τ), dw = W' = −W·M₁₁·W.
    let tau = 0;
    for (let i = 0; i < m; i++) for (let j = 0; j < m; j++) {
      let s = 0;
      for (let k = i; k < m; k++) s += w[i * m + k]! * mm[k * n + j]!;
      wm[i * m + j] = s;
      if (i === j) tau += s;
    }
    for (let i = 0; i < m; i++) for (let j = 0; j < m; j++) {
      let s = 0;
      for (let k = 0; k <= j; k++) s -= wm[i * m + k]! * w[k * m + j]!;
      dw[i * m + j] = s;
    }
    // wb = W·B (B = U's last two columns above the 2×2 block), m21w = M₂₁·W.
    for (let i = 0; i < m; i++) for (let c = 0; c < 2; c++) {
      let s = 0;
      for (let k = i; k < m; k++) s += w[i * m + k]! * lu[k * n + m + c]!;
      wb[i * 2 + c] = s;
    }
    for (let r = 0; r < 2; r++) for (let j = 0; j < m; j++) {
      let s = 0;
      for (let k = 0; k <= j; k++) s += mm[(m + r) * n + k]! * w[k * m + j]!;
      m21w[r * m + j] = s;
    }
    // S₀ = D = [[d₁, e], [0, d₂]] (U's last 2×2 block), S' = M₂₂ − M₂₁·W·B.
    const d1 = lu[m * n + m]!, e = lu[m * n + m + 1]!, d2 = lu[(m + 1) * n + m + 1]!;
    const sp = [0, 0, 0, 0];
    for (let r = 0; r < 2; r++) for (let c = 0; c < 2; c++) {
      let s = mm[(m + r) * n + m + c]!;
      for (let k = 0; k < m; k++) s -= mm[(m + r) * n + k]! * wb[k * 2 + c]!;
      sp[r * 2 + c] = s;
    }
    const adjS0 = [d2, -e, 0, d1];
    const adjSp = [sp[3]!, -sp[1]!, -sp[2]!, sp[0]!];
    const detS0 = d1 * d2;
    const detSp = adjS0[0]! * sp[0]! + adjS0[1]! * sp[2]! + adjS0[2]! * sp[1]! + adjS0[3]! * sp[3]!; // tr(adj(S₀)·S')
    // g = d adj(U)[M], block by block.
    // A₁₁' = δ(τ·det S₀ + det S')·W + δ·det S₀·W' + δ·W·B·adj S₀·M₂₁·W
    for (let i = 0; i < m; i++) {
      const p0 = wb[i * 2]! * adjS0[0]! + wb[i * 2 + 1]! * adjS0[2]!, p1 = wb[i * 2]! * adjS0[1]! + wb[i * 2 + 1]! * adjS0[3]!; // (W·B·adj S₀)_i
      for (let j = 0; j < m; j++) {
        g[i * n + j] = delta * ((tau * detS0 + detSp) * w[i * m + j]! + detS0 * dw[i * m + j]! + p0 * m21w[j]! + p1 * m21w[m + j]!);
      }
      // A₁₂' = −δ·(τ·W·B·adj S₀ + W'·B·adj S₀ + W·M₁₂·adj S₀ + W·B·adj S')
      let row0 = tau * wb[i * 2]!, row1 = tau * wb[i * 2 + 1]!; // (τ·W·B + W'·B + W·M₁₂)_i
      for (let k = 0; k < m; k++) {
        row0 += dw[i * m + k]! * lu[k * n + m]! + w[i * m + k]! * mm[k * n + m]!;
        row1 += dw[i * m + k]! * lu[k * n + m + 1]! + w[i * m + k]! * mm[k * n + m + 1]!;
      }
      for (let c = 0; c < 2; c++) g[i * n + m + c] = -delta * (row0 * adjS0[c]! + row1 * adjS0[2 + c]! + wb[i * 2]! * adjSp[c]! + wb[i * 2 + 1]! * adjSp[2 + c]!);
    }
    for (let r = 0; r < 2; r++) {
      // A₂₁' = −δ·adj S₀·M₂₁·W; A₂₂' = δ·(τ·adj S₀ + adj S')
      for (let j = 0; j < m; j++) g[(m + r) * n + j] = -delta * (adjS0[r * 2]! * m21w[j]! + adjS0[r * 2 + 1]! * m21w[m + j]!);
      for (let c = 0; c < 2; c++) g[(m + r) * n + m + c] = delta * (tau * adjS0[r * 2 + c]! + adjSp[r * 2 + c]!);
    }
    // z = g·L⁻¹, then Q·z·P with the permutations' sign.
    solveRightUnitLower(g, lu, n, z);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) out[base + colPerm[i]! * n + rowPerm[j]!] = scaled.scaleBy(sign * z[i * n + j]!);
  }
  return out;
}

/**
 * Lower Cholesky factor L (A = L·Lᵀ, positive diagonal, zeros above it) of the symmetric part
 * (A + Aᵀ)/2 of each matrix of the stack, as JAX's cholesky with symmetrize_input: for a symmetric
 * A that is A itself (exactly: (a + a)/2 = a in float64), and the derivative rule, which symmetrises
 * dA, is then the derivative of this very function.
 *
 * A matrix that is not positive definite is a LinAlgError, as in NumPy and as linalg.solve/inv
 * treat a singular matrix (JAX returns NaNs because XLA cannot raise; these kernels run in JS and
 * can say which matrix failed). A matrix with a NaN gives NaNs, as det and slogdet do.
 */
export function choleskyStack(a: ArrayLike<number>, batch: number, n: number): Float32Array {
  const out = new Float32Array(batch * n * n);
  const l = new Float64Array(n * n);
  for (let bi = 0; bi < batch; bi++) {
    const base = bi * n * n;
    let hasNaN = false;
    for (let i = 0; i < n * n; i++) if (Number.isNaN(a[base + i]!)) { hasNaN = true; break; }
    if (hasNaN) { out.fill(NaN, base, base + n * n); continue; }
    l.fill(0);
    for (let j = 0; j < n; j++) {
      let d = a[base + j * n + j]!;
      for (let k = 0; k < j; k++) d -= l[j * n + k]! * l[j * n + k]!;
      if (!(d > 0)) {
        throw new LinAlgError(`linalg.cholesky: matrix ${batch > 1 ? `${bi} of the stack of ${batch} ` : ''}(${n}×${n}) is not positive definite (its leading ${j + 1}×${j + 1} minor is not: pivot ${d}); expected a symmetric positive-definite matrix`);
      }
      const ljj = Math.sqrt(d);
      l[j * n + j] = ljj;
      for (let i = j + 1; i < n; i++) {
        let s = (a[base + i * n + j]! + a[base + j * n + i]!) / 2;
        for (let k = 0; k < j; k++) s -= l[i * n + k]! * l[j * n + k]!;
        l[i * n + j] = s / ljj;
      }
    }
    out.set(l, base);
  }
  return out;
}

/**
 * Solves op(T) x = b for each matrix of the stack by substitution, where T is the lower or upper
 * triangle of A (the other triangle is never read, nor the diagonal with `unitDiagonal`, as in
 * LAPACK's trtrs) and op(T) is T or Tᵀ. `b` holds k right-hand sides (n×k row-major).
 * A zero on the diagonal is a LinAlgError, as in SciPy's solve_triangular and linalg.solve (JAX
 * gives ±inf/NaN), ending with the caller's `singularHint` when it gives one.
 */
export function triangularSolveStack(a: ArrayLike<number>, b: ArrayLike<number>, batch: number, n: number, k: number, { lower, transposeA, unitDiagonal, singularHint }: ParamsOf<'triangular_solve'>): Float32Array {
  const out = new Float32Array(batch * n * k);
  const x = new Float64Array(n * k);
  // op(T) is lower triangular when exactly one of `lower` and `transposeA` holds: forward substitution.
  const forward = lower !== transposeA;
  for (let bi = 0; bi < batch; bi++) {
    const aBase = bi * n * n, bBase = bi * n * k;
    const m = (i: number, j: number): number => (transposeA ? a[aBase + j * n + i]! : a[aBase + i * n + j]!);
    if (!unitDiagonal) {
      for (let i = 0; i < n; i++) {
        if (m(i, i) === 0) throw new LinAlgError(`linalg.solveTriangular: matrix ${batch > 1 ? `${bi} of the stack of ${batch} ` : ''}(${n}×${n}) is singular (zero at diagonal ${i}); expected a triangular matrix with a nonzero diagonal${singularHint === undefined ? '' : ` (${singularHint})`}`);
      }
    }
    for (let s = 0; s < n; s++) {
      const i = forward ? s : n - 1 - s;
      for (let c = 0; c < k; c++) {
        let v = b[bBase + i * k + c]!;
        if (forward) for (let j = 0; j < i; j++) v -= m(i, j) * x[j * k + c]!;
        else for (let j = i + 1; j < n; j++) v -= m(i, j) * x[j * k + c]!;
        x[i * k + c] = unitDiagonal ? v : v / m(i, i);
      }
    }
    out.set(x, bBase);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// QR (Householder), as LAPACK's geqrf + orgqr

/**
 * Householder QR of each m×n matrix of the stack, in float64 and rounded to float32 at the end,
 * with LAPACK's (and so NumPy's) conventions: reflector j = I − τ·v·vᵀ (v_j = 1) zeroes column j
 * below the diagonal and leaves R[j][j] = −sign(a_jj)·‖a_{j:, j}‖ (sign(0) = +); a column already
 * zero below the diagonal gets no reflection (τ = 0), so its diagonal entry keeps its own sign.
 * Q = H_0·H_1·…·H_{p−1} restricted to its first k columns, R its k×n upper trapezoid, where
 * p = min(m, n) and k = m when `complete`, else p. Returns [Q (m×k), R (k×n)], row-major stacks.
 */
export function qrStack(a: ArrayLike<number>, batch: number, m: number, n: number, complete: boolean): [Float32Array, Float32Array] {
  const p = Math.min(m, n);
  const k = complete ? m : p;
  const qOut = new Float32Array(batch * m * k);
  const rOut = new Float32Array(batch * k * n);
  const w = new Float64Array(m * n);
  const q = new Float64Array(m * k);
  const tau = new Float64Array(p);
  const s = new Float64Array(n); // a reflector's products with the columns of w
  const sq = new Float64Array(k); // ... and with the columns of Q
  for (let bi = 0; bi < batch; bi++) {
    for (let i = 0; i < m * n; i++) w[i] = a[bi * m * n + i]!;
    // Factor: after step j, w holds R's row j on and right of the diagonal and v below it.
    for (let j = 0; j < p; j++) {
      const alpha = w[j * n + j]!;
      // Squares of float32 values cannot overflow float64.
      let xnorm2 = 0;
      for (let i = j + 1; i < m; i++) xnorm2 += w[i * n + j]! ** 2;
      if (xnorm2 === 0) { tau[j] = 0; continue; }
      const beta = -(alpha >= 0 ? 1 : -1) * Math.sqrt(alpha * alpha + xnorm2);
      tau[j] = (beta - alpha) / beta;
      const scale = 1 / (alpha - beta);
      for (let i = j + 1; i < m; i++) w[i * n + j]! *= scale;
      w[j * n + j] = beta;
      // Apply H_j to the columns right of j: s_c = τ(w_jc + Σ_i v_i w_ic), then w_ic −= s_c v_i. Rows
      // outermost (w is row-major): the same sums in the same order as column by column, so the same
      // bits, without striding down columns (a 2080×512 QR took 42 s that way, on a loaded machine).
      for (let c = j + 1; c < n; c++) s[c] = w[j * n + c]!;
      for (let i = j + 1; i < m; i++) {
        const v = w[i * n + j]!, row = i * n;
        for (let c = j + 1; c < n; c++) s[c]! += v * w[row + c]!;
      }
      for (let c = j + 1; c < n; c++) {
        s[c]! *= tau[j]!;
        w[j * n + c]! -= s[c]!;
      }
      for (let i = j + 1; i < m; i++) {
        const v = w[i * n + j]!, row = i * n;
        for (let c = j + 1; c < n; c++) w[row + c]! -= s[c]! * v;
      }
    }
    // Q: apply the reflectors, last first, to the first k columns of the identity.
    q.fill(0);
    for (let i = 0; i < k; i++) q[i * k + i] = 1;
    for (let j = p - 1; j >= 0; j--) {
      const t = tau[j]!;
      if (t === 0) continue;
      // (Rows outermost, as in the factorisation.)
      for (let c = 0; c < k; c++) sq[c] = q[j * k + c]!;
      for (let i = j + 1; i < m; i++) {
        const v = w[i * n + j]!, row = i * k;
        for (let c = 0; c < k; c++) sq[c]! += v * q[row + c]!;
      }
      for (let c = 0; c < k; c++) {
        sq[c]! *= t;
        q[j * k + c]! -= sq[c]!;
      }
      for (let i = j + 1; i < m; i++) {
        const v = w[i * n + j]!, row = i * k;
        for (let c = 0; c < k; c++) q[row + c]! -= sq[c]! * v;
      }
    }
    qOut.set(q, bi * m * k);
    const rBase = bi * k * n;
    for (let i = 0; i < k; i++) for (let c = i; c < n; c++) rOut[rBase + i * n + c] = w[i * n + c]!;
  }
  return [qOut, rOut];
}

// d²adj(A)[T, S] (det's third derivative) for stacks of square matrices, in float64, as a
// polynomial in A: finite and exact at singular matrices too, as adjugate_tangent's kernel is for
// the second derivative. It used to go through A⁻¹ (δ·((tr XT·tr XS − tr XSXT)·I − …)·X with
// X = A⁻¹): O(1/σ_min²) terms that cancel to O(1), NaN at every singular A with n ≥ 4.
import { ScaledProduct, luCompletePivoting, permutedForwardSubstitution, solveRightUnitLower } from './linalg_kernels.js';

/**
 * A hyper-dual number r + e·ε + h·η + x·εη with ε² = η² = 0: arithmetic on these carries a value,
 * its derivatives along two directions and their mixed second derivative exactly (no step size).
 */
class HyperDual {
  constructor(readonly r: number, readonly e: number, readonly h: number, readonly x: number) {}
  add(o: HyperDual): HyperDual { return new HyperDual(this.r + o.r, this.e + o.e, this.h + o.h, this.x + o.x); }
  sub(o: HyperDual): HyperDual { return new HyperDual(this.r - o.r, this.e - o.e, this.h - o.h, this.x - o.x); }
  mul(o: HyperDual): HyperDual {
    return new HyperDual(this.r * o.r, this.r * o.e + this.e * o.r, this.r * o.h + this.h * o.r, this.r * o.x + this.e * o.h + this.h * o.e + this.x * o.r);
  }
  /** 1/this, for a nonzero real part: (1/r)' = −1/r², (1/r)'' = 2/r³. */
  inv(): HyperDual {
    const q = 1 / this.r, q2 = q * q;
    return new HyperDual(q, -this.e * q2, -this.h * q2, (2 * this.e * this.h * q - this.x) * q2);
  }
}
const ZERO = new HyperDual(0, 0, 0, 0), ONE = new HyperDual(1, 0, 0, 0);
type HdMat = HyperDual[][];

/** The product of the hyper-dual matrices a (p×q) and b (q×r). */
function hdMatmul(a: HdMat, b: HdMat, q: number, r: number): HdMat {
  return a.map((row) => Array.from({ length: r }, (_, j) => {
    let s = ZERO;
    for (let k = 0; k < q; k++) s = s.add(row[k]!.mul(b[k]![j]!));
    return s;
  }));
}

/** The adjugate and determinant of a 3×3 hyper-dual matrix: its cofactors are products of two entries, so no division. */
function adjugate3(s: HdMat): { adj: HdMat; det: HyperDual } {
  const m = (i: number, j: number) => s[i]![j]!;
  const minor = (r0: number, r1: number, c0: number, c1: number) => m(r0, c0).mul(m(r1, c1)).sub(m(r0, c1).mul(m(r1, c0)));
  // adj[i][j] = (−1)^(i+j)·det(s without row j and column i).
  const rowsWithout = [[1, 2], [0, 2], [0, 1]] as const;
  const adj = [0, 1, 2].map((i) => [0, 1, 2].map((j) => {
    const [r0, r1] = rowsWithout[j]!, [c0, c1] = rowsWithout[i]!;
    const v = minor(r0, r1, c0, c1);
    return (i + j) % 2 === 0 ? v : ZERO.sub(v);
  }));
  const det = m(0, 0).mul(adj[0]![0]!).add(m(0, 1).mul(adj[1]![0]!)).add(m(0, 2).mul(adj[2]![0]!));
  return { adj, det };
}

/**
 * d²adj(A)[T, S] for each matrix triple of the stack (det's third derivative, symmetric in T and S).
 *
 * With P·A·Q = L·U (complete pivoting) and L, P, Q held fixed, A + εT + ηS = Pᵀ·L·X·Qᵀ with
 * X = U + εM + ηN, M = L⁻¹·P·T·Q, N = L⁻¹·P·S·Q, so d²adj(A)[T, S] = det(P)·det(Q)·Q·(∂²adj X/∂ε∂η)·L⁻¹·P,
 * as adjugate_tangent's kernel does with one direction. For X split as [[X₁₁, X₁₂], [X₂₁, X₂₂]]
 * with X₁₁ the leading (n−3)×(n−3) block (U's largest pivots, invertible when rank ≥ n−3),
 * W = X₁₁⁻¹, δ = det X₁₁ and the 3×3 Schur complement S = X₂₂ − X₂₁·W·X₁₂,
 *   adj X = δ·[[det S·W + W·X₁₂·adj S·X₂₁·W, −W·X₁₂·adj S], [−adj S·X₂₁·W, adj S]],
 * a polynomial in S (adj S quadratic, det S cubic) that divides by no pivot past the first n − 3.
 * It is evaluated in hyper-dual numbers (exact first and mixed second derivatives in ε and η), the
 * εη part being the answer: exact at rank n − 1, n − 2 and n − 3, and zero below (every
 * (n−3)-minor vanishes). W comes from Gauss–Jordan without pivoting, whose pivots' real parts are
 * U's (X₁₁'s real part is upper triangular), so it divides by those pivots only. A matrix with a
 * NaN gives NaNs.
 */
export function adjugateSecondTangentStack(a: ArrayLike<number>, t: ArrayLike<number>, s: ArrayLike<number>, batch: number, n: number): Float32Array {
  const out = new Float32Array(batch * n * n);
  if (n < 3) {
    // adj of a 1×1 matrix is constant and of a 2×2 linear: no second derivative (NaN tangents stay NaN, as 0·NaN).
    for (let i = 0; i < batch * n * n; i++) out[i] = Number.isNaN(a[i]!) || Number.isNaN(t[i]!) || Number.isNaN(s[i]!) ? NaN : 0;
    return out;
  }
  const k = n - 3;
  const mm = new Float64Array(n * n), nn = new Float64Array(n * n), g = new Float64Array(n * n), z = new Float64Array(n * n);
  for (let bi = 0; bi < batch; bi++) {
    const base = bi * n * n;
    const lu = Float64Array.from({ length: n * n }, (_, i) => a[base + i]!);
    if (lu.some(Number.isNaN)) { out.fill(NaN, base, base + n * n); continue; }
    const { rowPerm, colPerm, sign, rank } = luCompletePivoting(lu, n);
    if (rank < k) {
      // Every (n−3)-minor is zero, so is every cofactor's second derivative (NaN tangents stay NaN).
      for (let i = 0; i < n * n; i++) if (Number.isNaN(t[base + i]!) || Number.isNaN(s[base + i]!)) out.fill(NaN, base, base + n * n);
      continue;
    }
    permutedForwardSubstitution(mm, t, base, lu, rowPerm, colPerm, n); // mm = L⁻¹·(P·T·Q)
    permutedForwardSubstitution(nn, s, base, lu, rowPerm, colPerm, n); // nn = L⁻¹·(P·S·Q)
    const x: HdMat = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (__, j) => new HyperDual(j >= i ? lu[i * n + j]! : 0, mm[i * n + j]!, nn[i * n + j]!, 0)));
    // δ = det X₁₁ = δ₀·δ_rel: δ₀ = ∏ U's pivots (ScaledProduct, whose mantissa enters g and exponent the end), δ_rel = ∏ pivot/U's pivot.
    const scaled = new ScaledProduct();
    for (let c = 0; c < k; c++) scaled.times(lu[c * n + c]!);
    // W = X₁₁⁻¹ by Gauss–Jordan on [X₁₁ | I].
    const left = x.slice(0, k).map((row) => row.slice(0, k));
    const w: HdMat = Array.from({ length: k }, (_, i) => Array.from({ length: k }, (__, j) => (i === j ? ONE : ZERO)));
    let deltaRel = ONE;
    for (let c = 0; c < k; c++) {
      const pivot = left[c]![c]!;
      deltaRel = deltaRel.mul(pivot.mul(new HyperDual(1 / lu[c * n + c]!, 0, 0, 0)));
      const q = pivot.inv();
      left[c] = left[c]!.map((v) => v.mul(q));
      w[c] = w[c]!.map((v) => v.mul(q));
      for (let r = 0; r < k; r++) {
        if (r === c) continue;
        const f = left[r]![c]!;
        left[r] = left[r]!.map((v, j) => v.sub(f.mul(left[c]![j]!)));
        w[r] = w[r]!.map((v, j) => v.sub(f.mul(w[c]![j]!)));
      }
    }
    const b12 = x.slice(0, k).map((row) => row.slice(k)), c21 = x.slice(k).map((row) => row.slice(0, k)), d22 = x.slice(k).map((row) => row.slice(k));
    const wb = hdMatmul(w, b12, k, 3), cw = hdMatmul(c21, w, k, k);
    const cwb = hdMatmul(c21, wb, k, 3);
    const { adj: adjS, det: detS } = adjugate3(d22.map((row, i) => row.map((v, j) => v.sub(cwb[i]![j]!))));
    const wbAdj = hdMatmul(wb, adjS, 3, 3), adjCw = hdMatmul(adjS, cw, 3, k);
    const g11 = hdMatmul(wbAdj, cw, 3, k);
    const mantissa = sign * scaled.mantissa;
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
      let v: HyperDual;
      if (i < k && j < k) v = detS.mul(w[i]![j]!).add(g11[i]![j]!);
      else if (i < k) v = ZERO.sub(wbAdj[i]![j - k]!);
      else if (j < k) v = ZERO.sub(adjCw[i - k]![j]!);
      else v = adjS[i - k]![j - k]!;
      g[i * n + j] = deltaRel.mul(v).x * mantissa;
    }
    // z = g·L⁻¹, then Q·z·P (the permutations' sign is in the mantissa).
    solveRightUnitLower(g, lu, n, z);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) out[base + colPerm[i]! * n + rowPerm[j]!] = scaled.scaleBy(z[i * n + j]!);
  }
  return out;
}

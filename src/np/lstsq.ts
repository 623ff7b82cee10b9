// Least squares (jax.numpy.linalg.lstsq) from one reduced SVD: the minimum-norm solution with
// pinv's constant-rank derivative, NumPy's residual and rank conventions.
import type { ArrayLike, NDArray } from '../array.js';
import { bind, bind1 } from '../core.js';
import { ConcretizationError, ShapeError, ValueError, fmtShape } from '../errors.js';
import { checkOptions, fmtOptionValue } from '../options.js';
import { customJvp } from '../../transforms/custom.js';
import { batchMatmul, matrixTranspose as mT } from '../../transforms/lax.js';
import { asArray, defop, zeros } from './convert.js';
import { abs, add, divide, greater, logicalXor, maximum, minimum, multiply, negative, square, subtract, where } from './elementwise.js';
import { astypeRaw } from './operands.js';
import { max, sum } from './reductions.js';
import { expandDims, slice, squeeze } from './shape_ops.js';
import { EPS32, keptSingularValues, pinvWithRule } from './decompositions.js';

/** Options of lstsq, named as in jax.numpy.linalg.lstsq. */
export interface LstsqOptions {
  /** Singular values at most rcond·s_max count as zero; default eps(float32)·max(m, n); negative means eps. */
  rcond?: number | null;
  /**
   * NumPy's residuals (true, the default here): empty when rank < n or m ≤ n, which needs a
   * concrete rank (not under jit or vmap). False returns them always, as JAX does by default.
   */
  numpyResid?: boolean;
}
const LSTSQ_OPTIONS = ['rcond', 'numpyResid'] as const satisfies readonly (keyof LstsqOptions)[];

/**
 * Least-squares solution x of a·x ≈ b (jax.numpy.linalg.lstsq): `[x, residuals, rank, s]`, a of
 * shape [m, n] and b [m] or [m, k]; x has shape [n] or [n, k]; residuals are the squared column
 * norms of b − a·x ([1] for a 1-D b, [k] otherwise; [0] when rank < n or m ≤ n, as NumPy); rank is
 * an int32 scalar; s holds a's singular values. Singular values at most rcond·s_max are dropped
 * (the minimum-norm solution; a zero matrix has rank 0 and x = 0, as NumPy). x's derivative is that
 * of pinv(a_k)·b, a_k the rank-k truncation of a, at constant rank: the kept singular vectors'
 * rotation toward cut nonzero ones counted, as JAX's through the SVD, and finite where a is exactly
 * rank deficient (JAX's is NaN there). Second derivatives are exact at full rank; where rcond cuts
 * a singular value (nonzero, or zero too) they miss the rotation's own derivative (the rule holds
 * the SVD's factors constant): for σ = 2, 1, 0.05 and rcond 0.1 entries are 10–45% off float64
 * differences of the truncated solution (3×3, 5×3, 3×5), and off at an exactly rank-2 3×3 as well.
 * With a user rcond this first derivative (the truncation's, as JAX's through the SVD) is not
 * pinv(a, rcond)'s derivative times b: pinv keeps JAX's pinv rule, which ignores the rotation.
 */
export const lstsq = defop((x: ArrayLike, y: ArrayLike, options: LstsqOptions = {}): [NDArray, NDArray, NDArray, NDArray] => {
  checkOptions('linalg.lstsq', options, LSTSQ_OPTIONS);
  const { numpyResid = true } = options;
  let a = asArray(x), b = asArray(y);
  if (a.dtype !== 'float32') a = astypeRaw(a, 'float32');
  if (b.dtype !== 'float32') b = astypeRaw(b, 'float32');
  if (a.ndim !== 2) throw new ShapeError(`linalg.lstsq: a must be a matrix [m, n], got shape ${fmtShape(a.shape)}`);
  if (b.ndim !== 1 && b.ndim !== 2) throw new ShapeError(`linalg.lstsq: b must be [m] or [m, k], got shape ${fmtShape(b.shape)}`);
  const [m, n] = a.shape as [number, number];
  if (b.shape[0] !== m) throw new ShapeError(`linalg.lstsq: a ${fmtShape(a.shape)} and b ${fmtShape(b.shape)} have different numbers of rows; expected b.shape[0] == ${m}`);
  if (typeof numpyResid !== 'boolean') throw new ValueError(`linalg.lstsq: numpyResid must be a boolean, got ${JSON.stringify(numpyResid)}`);
  const vec = b.ndim === 1;
  const B = vec ? expandDims(b, -1) : b;
  let rcond = options.rcond ?? EPS32 * Math.max(m, n);
  if (typeof rcond !== 'number' || Number.isNaN(rcond)) throw new ValueError(`linalg.lstsq: rcond must be a number or null, got ${fmtOptionValue(options.rcond)}`);
  if (rcond < 0) rcond = EPS32;
  let X: NDArray, rank: NDArray, s: NDArray;
  if (m === 0 || n === 0) {
    s = zeros([0]);
    rank = zeros([], 'int32');
    X = zeros([n, B.shape[1]!]);
  } else {
    let kept: NDArray;
    [X, s, kept] = minimumNormSolution(a, B, rcond);
    rank = sum(astypeRaw(kept, 'int32'));
  }
  // NumPy returns no residuals for m ≤ n or a rank below n; JAX always returns them.
  let numpyEmpty = numpyResid && m <= n;
  if (numpyResid && !numpyEmpty) {
    const r = rank.concreteValue();
    if (r === null) {
      throw new ConcretizationError(`linalg.lstsq: NumPy's residuals (numpyResid, the default) depend on the rank, which is not known under jit or vmap (a ${fmtShape(a.shape)}); pass numpyResid: false for JAX's residuals, which are always returned`);
    }
    numpyEmpty = (r.item() as number) < n;
  }
  const residuals = numpyEmpty ? zeros([0]) : sum(square(subtract(B, batchMatmul(a, X))), 0);
  return [vec ? squeeze(X, -1) : X, residuals, rank, s];
});

/**
 * [x, s, kept]: V·diag(1/s)·Uᵀ·B over the singular values above rcond·s_max (`kept` marks them) (LAPACK's gelsd, which NumPy
 * calls; JAX's ≥ would count the zeros of a zero matrix and divide by them), and a's singular values.
 * x's derivative is that of A⁺B at constant rank (pinv's rule applied to B, and A⁺·dB): through the SVD's own
 * derivative (as in JAX) it was NaN wherever a is exactly rank deficient, since a zero singular value
 * divides dU (tall a) or dV (wide) and two of them make F = 1/(s_j² − s_i²) infinite, though the
 * solution there is smooth along a. s's derivative is svd's own (finite there: ds = diag(Uᵀ·dA·V)).
 *
 * One SVD serves the solution and its derivatives: its factors enter x's custom rule (and the
 * pseudo-inverse that rule needs) through stop_gradient, so that x is differentiated by the rule
 * alone, at any order; s comes straight from the svd primitive. (The rule used to recompute the
 * SVD twice: for A⁺, and for ds.) The cutoff mask is taken once, for x and for lstsq's rank.
 */
function minimumNormSolution(a: NDArray, b: NDArray, rcond: number): [NDArray, NDArray, NDArray] {
  const [s, u, vh] = bind('svd', [a], { fullMatrices: false, computeUv: true }) as [NDArray, NDArray, NDArray];
  const sg = (t: NDArray) => bind1('stop_gradient', [t], {});
  const kept = keptSingularValues(s, rcond);
  return [solveFromSvd(rcond)(a, b, sg(u), sg(s), sg(vh), kept), s, kept];
}

/** x = A⁺·B from A's reduced SVD (u, s, vh) and its cutoff mask `kept` (s > rcond·s_max), with the derivative of A⁺·B at constant rank in A and B alone (see minimumNormSolution). */
function solveFromSvd(rcond: number): (a: NDArray, b: NDArray, u: NDArray, s: NDArray, vh: NDArray, kept: NDArray) => NDArray {
  type Solve = (a: NDArray, b: NDArray, u: NDArray, s: NDArray, vh: NDArray, kept: NDArray) => NDArray;
  const solve: Solve = customJvp((_p: NDArray, q: NDArray, u: NDArray, s: NDArray, vh: NDArray, kept: NDArray): NDArray => {
    const sInv = divide(1, where(kept, s, Infinity));
    return batchMatmul(mT(vh), multiply(expandDims(sInv, -1), batchMatmul(mT(u), q)));
  }, ([p, q, u, s, vh, kept]: [NDArray, NDArray, NDArray, NDArray, NDArray, NDArray], [dp, dq]: [NDArray, NDArray, NDArray, NDArray, NDArray, NDArray]): [NDArray, NDArray] => {
    const x = solve(p, q, u, s, vh, kept);
    // x = A_k⁺·b for A_k the rank-k truncation of A (k kept singular values), so
    // dx = dP·b + P·db with dP = dA_k⁺ by Golub–Pereyra at A_k's constant rank k (A·P = A_k·P and P·A = P·A_k),
    // dA_k the truncation's derivative (truncationTangent; dA itself where every cut value is 0):
    // Golub–Pereyra's dP = −P·dA·P + P·Pᵀ·dAᵀ·(I − A·P) + (I − P·A)·dAᵀ·Pᵀ·P,
    // applied to b as matrix–vector products: dx = −P·(dA·x) + P·(Pᵀ·(dAᵀ·r)) + (I − P·A)·(dAᵀ·(Pᵀ·x)),
    // r = b − A·x. With A, P, dA and r taken over σ = max|A| (P̂ = σP is pinv(A/σ)) no intermediate
    // grows like 1/σ² (P·Pᵀ overflowed float32 for σ below 1e-19), in either mode; the result does
    // not depend on σ, which is held constant.
    let sigma = bind1('stop_gradient', [max(abs(p))], {});
    sigma = where(greater(sigma, 0), sigma, 1);
    // Which values are kept is decided on s itself, as x's value does (rank included): on s/σ, a
    // value one rounding step above rcond·s_max could fall to the cutoff (fl(s₁/σ) ≤ fl(rcond·fl(s₀/σ)))
    // and be cut here while x keeps it (dx₁/dA₁₁ 0 instead of −76.5 at diag(1.1432, 0.11432001), rcond 0.1):
    // `kept`, x's own mask.
    const aHat = divide(p, sigma);
    const pHat = multiply(pinvWithRule(rcond)(p, u, s, vh), sigma); // σ·A⁺ = (A/σ)⁺, A⁺ from the same s and cutoff as x (the rule rescales itself)
    const dA = truncationTangent(divide(dp, sigma), u, divide(s, sigma), vh, kept), r = divide(subtract(q, batchMatmul(p, x)), sigma);
    const pHatT = mT(pHat), dAT = mT(dA);
    const w = batchMatmul(dAT, batchMatmul(pHatT, x));
    let dx = negative(batchMatmul(pHat, batchMatmul(dA, x)));
    dx = add(dx, batchMatmul(pHat, batchMatmul(pHatT, batchMatmul(dAT, r))));
    dx = add(dx, subtract(w, batchMatmul(pHat, batchMatmul(aHat, w))));
    dx = add(dx, batchMatmul(pHat, divide(dq, sigma)));
    return [x, dx];
  });
  return solve;
}

/**
 * dA_k, the derivative along dA of A's rank-k truncation A_k = U_k·S_k·V_kᵀ (k the singular values
 * that `kept` marks, x's own cutoff mask, taken on the unscaled s), in the parts pinv's rule reads (so without the cut×cut block, which it never
 * reads). In A's singular bases, C = Uᵀ·dA·V: the kept×kept block is C's; for a kept σ_a and a cut
 * σ_c the 2×2 problem diag(σ_a, σ_c) + C rotates the kept pair (u_a, v_a) toward (u_c, v_c), by
 * (σ_a·C_ca + σ_c·C_ac)/(σ_a² − σ_c²) on the left and (σ_c·C_ca + σ_a·C_ac)/(σ_a² − σ_c²) on the
 * right, so dA_k's (c, a) and (a, c) entries are C's plus (σ_c²·C_pq + σ_a·σ_c·C_qp)/(σ_a² − σ_c²)
 * at (p, q). That correction vanishes where σ_c = 0 (and along A's null spaces beyond the reduced
 * SVD), where constant-rank pinv's rule on dA is already exact; cutting a nonzero σ_c (a user rcond)
 * without it left x's derivative 1–3% off finite differences. σ_a > rcond·s_max ≥ σ_c keeps the
 * denominators positive (but for a kept and a cut value within rounding of each other once
 * scaled, where the derivative, ~1/(σ_a − σ_c), is that large anyway). `s` is A's over max|A| (the ratios are all that enter), so no square
 * overflows. The factors are constants here (stop_gradient), so a second derivative does not see
 * the rotation's own derivative.
 */
function truncationTangent(dA: NDArray, u: NDArray, s: NDArray, vh: NDArray, kept: NDArray): NDArray {
  const mixed = logicalXor(expandDims(kept, -1), expandDims(kept, 0)); // one kept, one cut
  const sp = expandDims(s, -1), sq = expandDims(s, 0);
  const hi = maximum(sp, sq), lo = minimum(sp, sq); // the kept value and the cut one, on mixed pairs
  const den = where(mixed, subtract(square(hi), square(lo)), 1);
  const w1 = where(mixed, divide(square(lo), den), 0), w2 = where(mixed, divide(multiply(hi, lo), den), 0);
  const c = batchMatmul(mT(u), batchMatmul(dA, mT(vh)));
  return add(dA, batchMatmul(u, batchMatmul(add(multiply(w1, c), multiply(w2, mT(c))), vh)));
}

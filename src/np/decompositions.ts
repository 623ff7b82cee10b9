// np.linalg's spectral decompositions and what is built on them: eigh/eigvalsh (the `eigh`
// primitive), svd/svdvals (the `svd` primitive), and pinv, lstsq, matrixRank and cond, as
// jax.numpy.linalg defines them. The kernels are float64 (src/spectral_kernels.ts: one-sided Jacobi for the SVD; src/eigvalsh_kernel.ts: tridiagonal QL for eigh).
import type { ArrayLike, NDArray } from '../array.js';
import { bind, bind1 } from '../core.js';
import { ConcretizationError, ShapeError, ValueError, fmtShape } from '../errors.js';
import { checkOptions, fmtOptionValue } from '../options.js';
import { customJvp } from '../../transforms/custom.js';
import { batchMatmul, matrixTranspose as mT } from '../../transforms/lax.js';
import { asArray, defop, eye, zeros } from './convert.js';
import { abs, add, divide, equal, greater, greaterEqual, isnan, logicalAnd, logicalNot, multiply, negative, notEqual, sqrt, square, subtract, where } from './elementwise.js';
import { astypeRaw } from './operands.js';
import { any, max, min, sum } from './reductions.js';
import { expandDims, flip, reshape, slice, squeeze, takeAlongAxis } from './shape_ops.js';
import { argsort } from './sorting.js';

/** float32's machine epsilon, 2⁻²³: the unit of the default cutoffs (JAX's jnp.finfo(float32).eps). */
export const EPS32 = 2 ** -23;

/** `x` as float32 matrices [..., m, n] (square ones when `square`; ints and bools converted, as JAX promotes them), or a ShapeError naming `op`. */
export function floatMatrices(op: string, x: ArrayLike, square = false): NDArray {
  let a = asArray(x);
  if (a.dtype !== 'float32') a = astypeRaw(a, 'float32');
  if (a.ndim < 2) throw new ShapeError(`linalg.${op}: expected a stack of matrices [..., ${square ? 'n, n' : 'm, n'}] (at least 2 dimensions) but got shape ${fmtShape(a.shape)}`);
  if (square && a.shape[a.ndim - 1] !== a.shape[a.ndim - 2]) throw new ShapeError(`linalg.${op}: expected square matrices [..., n, n] but got ${fmtShape(a.shape)}`);
  return a;
}


// ---------------------------------------------------------------------------------------------
// eigh

/** Options of eigh and eigvalsh, named as in jax.numpy.linalg.eigh. */
export interface EighOptions {
  /** Which triangle is read when the input is not symmetrised: 'L' (lower, the default) or 'U'. */
  UPLO?: 'L' | 'U';
  /** Decompose (A + Aᵀ)/2 (default true, as JAX): then both triangles count, and so does the gradient's. */
  symmetrizeInput?: boolean;
}
const EIGH_OPTIONS = ['UPLO', 'symmetrizeInput'] as const satisfies readonly (keyof EighOptions)[];

/** eigh's [w, v], or [w] alone from the values-only kernel when `computeVectors` is false (eigvalsh, and the hermitian singular values). */
function eighParts(op: string, x: ArrayLike, options: EighOptions, computeVectors = true): NDArray[] {
  checkOptions(`linalg.${op}`, options, EIGH_OPTIONS);
  const { UPLO = 'L', symmetrizeInput = true } = options;
  if (UPLO !== 'L' && UPLO !== 'U') throw new ValueError(`linalg.${op}: UPLO must be 'L' or 'U', got ${JSON.stringify(UPLO)}`);
  if (typeof symmetrizeInput !== 'boolean') throw new ValueError(`linalg.${op}: symmetrizeInput must be a boolean, got ${JSON.stringify(symmetrizeInput)}`);
  let a = floatMatrices(op, x, true);
  if (symmetrizeInput) a = multiply(add(a, mT(a)), 0.5);
  return bind('eigh', [a], { lower: UPLO === 'L', computeVectors });
}

/**
 * Eigenvalues (ascending, [..., n]) and eigenvectors (the columns of v, [..., n, n]) of symmetric
 * matrices, A = v·diag(w)·vᵀ (jax.numpy.linalg.eigh): `[w, v] = eigh(a)`. By default the symmetric
 * part (A + Aᵀ)/2 is decomposed; with symmetrizeInput false only the UPLO triangle is read.
 *
 * Computed in float64 and rounded to float32 by Householder tridiagonalisation and QL with the
 * vectors accumulated (eigvalsh's kernel without them; graded matrices keep their small eigenvalues). Eigenvectors have a sign convention
 * (LAPACK's is arbitrary): each one's entry of largest magnitude is positive (the first such entry
 * on an exact tie). The derivative is JAX's: dw = diag(vᵀ·dA·v), dv = v·(F∘(vᵀ·dA·v)) with
 * F_ij = 1/(w_j − w_i); repeated eigenvalues make dv infinite or NaN, as in JAX, and with it any
 * derivative taken through v (eigvalsh's stays finite).
 *
 * A matrix with a NaN or an infinity gives NaNs (as JAX). One on which the QL iteration does not
 * converge (60 iterations on one eigenvalue; no matrix met in testing needs more than a handful) is
 * a LinAlgError naming it, as NumPy raises (LAPACK's syev reports info > 0), eagerly and under jit,
 * vmap and grad alike: a vmapped or stacked call fails whole, where JAX returns NaNs for that
 * matrix (XLA cannot raise). The same holds for eigvalsh, svd and pinv with `hermitian`, and
 * matrixRank with `hermitian`.
 */
export const eigh = defop((a: ArrayLike, options: EighOptions = {}): [NDArray, NDArray] => eighParts('eigh', a, options) as [NDArray, NDArray]);

/**
 * The eigenvalues of symmetric matrices, ascending (jax.numpy.linalg.eigvalsh), by eigh's
 * values-only kernel (Householder tridiagonalisation and QL, no vectors: the same values as eigh's,
 * ~20× faster at n = 256); their derivative is diag(vᵀ·dA·v), well defined for repeated eigenvalues too.
 * Where QL does not converge it is eigh's LinAlgError (eagerly and under jit and vmap; JAX gives NaNs).
 */
export const eigvalsh = defop((a: ArrayLike, options: EighOptions = {}): NDArray => eighParts('eigvalsh', a, options, false)[0]!);

// ---------------------------------------------------------------------------------------------
// svd

/** Options of svd, named as in jax.numpy.linalg.svd. */
export interface SvdOptions {
  /** U [..., m, m] and Vh [..., n, n] (true, the default) or the reduced U [..., m, k] and Vh [..., k, n], k = min(m, n). */
  fullMatrices?: boolean;
  /** Return [u, s, vh] (true, the default) or only s. */
  computeUv?: boolean;
  /** The matrices are symmetric: decompose them with eigh (NumPy's and JAX's hermitian); see svd. */
  hermitian?: boolean;
}
const SVD_OPTIONS = ['fullMatrices', 'computeUv', 'hermitian'] as const satisfies readonly (keyof SvdOptions)[];

/** svd's overloads: the singular vectors and values, or the values alone with computeUv false. */
export interface SvdFunction {
  (a: ArrayLike, options?: SvdOptions & { computeUv?: true }): [NDArray, NDArray, NDArray];
  (a: ArrayLike, options: SvdOptions & { computeUv: false }): NDArray;
  (a: ArrayLike, options?: SvdOptions): [NDArray, NDArray, NDArray] | NDArray;
}

/** `hermitian` checked as a boolean, naming `op`. */
function hermitianOption(op: string, hermitian: unknown): boolean {
  if (hermitian === undefined) return false;
  if (typeof hermitian !== 'boolean') throw new ValueError(`linalg.${op}: hermitian must be a boolean, got ${JSON.stringify(hermitian)}`);
  return hermitian;
}

/** `x` as float32 square matrices for a hermitian decomposition, or a ShapeError naming `op` and the option. */
function symmetricMatrices(op: string, x: ArrayLike): NDArray {
  const a = floatMatrices(op, x);
  if (a.shape[a.ndim - 1] !== a.shape[a.ndim - 2]) throw new ShapeError(`linalg.${op}: hermitian needs square (symmetric) matrices [..., n, n] but got ${fmtShape(a.shape)}`);
  return a;
}

/**
 * The SVD of symmetric matrices from their eigendecomposition A = V·diag(λ)·Vᵀ, as NumPy's svd with
 * hermitian: s = |λ| sorted descending (ascending argsort reversed, so that equal |λ| come as NumPy
 * orders them: the larger λ first), U = V's columns in that order and Vh = (U·sign(λ))ᵀ. Where
 * λ = 0 exactly the sign is taken as +1 (NumPy's sign(0) = 0 leaves a zero row in vh); A = U·S·Vh
 * either way, and so Vh stays orthogonal. eigh decomposes (A + Aᵀ)/2 (JAX's symmetrize_input), so
 * the derivative is that of the symmetric part. The order is read from the values, not
 * differentiated (a permutation), so the derivative is eigh's, permuted.
 */
function hermitianSvd(op: string, a: NDArray, computeUv: boolean): [NDArray, NDArray, NDArray] | NDArray {
  const [w, v] = eighParts(op, a, {}, computeUv) as [NDArray, NDArray | undefined];
  const order = flip(argsort(abs(w), -1), -1);
  const s = takeAlongAxis(abs(w), order, -1);
  if (!computeUv || v === undefined) return s;
  const cols = expandDims(order, -2); // [..., 1, n]: the same column order for every row
  const u = takeAlongAxis(v, cols, -1);
  const sign = takeAlongAxis(where(greaterEqual(w, 0), 1, -1), order, -1);
  return [u, s, mT(multiply(u, expandDims(sign, -2)))];
}

/**
 * Singular value decomposition A = u·diag(s)·vh of a stack of m×n matrices (jax.numpy.linalg.svd):
 * `[u, s, vh] = svd(a)`, s descending, or `s = svd(a, { computeUv: false })`.
 *
 * Computed in float64 by one-sided Jacobi and rounded to float32. Singular vectors have a sign
 * convention: each column of u has its entry of largest magnitude positive (the first on an exact
 * tie), the matching row of vh following it; where a singular value is zero, and for the extra
 * columns of a full u (rows of a full vh), the vectors are an orthonormal completion. The
 * derivative is JAX's svd_jvp_rule: for s alone, and for u and vh when fullMatrices is false or the
 * matrices are square (a non-square full decomposition's derivative is refused by name, as in JAX);
 * repeated or zero singular values make the vectors' derivative infinite or NaN, as in JAX.
 *
 * A matrix with a NaN or an infinity gives NaNs (as JAX). One on which Jacobi does not converge
 * (100 sweeps that rotate; no matrix met in testing needs more than about 25) is a LinAlgError
 * naming it, as NumPy raises (LAPACK's gesdd reports info > 0) and as eigh does where QL does not
 * converge: eagerly and under jit, vmap and grad alike, a stacked or vmapped call failing whole
 * (JAX returns NaNs there). The same holds for svdvals and what is built on them: pinv, lstsq,
 * matrixRank, cond and norm with ord 2, −2 or 'nuc'.
 *
 * With `hermitian` the (square) matrices are taken as symmetric and decomposed by eigh, as NumPy
 * and JAX do: s = |λ| descending, u the eigenvectors in that order (eigh's sign convention, the
 * same as above), vh = (u·sign(λ))ᵀ, with sign(0) taken as +1. Like eigh, it decomposes (A + Aᵀ)/2.
 */
export const svd: SvdFunction = defop((x: ArrayLike, options: SvdOptions = {}): [NDArray, NDArray, NDArray] | NDArray => {
  checkOptions('linalg.svd', options, SVD_OPTIONS);
  const { fullMatrices = true, computeUv = true } = options;
  if (typeof fullMatrices !== 'boolean' || typeof computeUv !== 'boolean') {
    throw new ValueError(`linalg.svd: fullMatrices and computeUv must be booleans, got fullMatrices ${JSON.stringify(fullMatrices)} and computeUv ${JSON.stringify(computeUv)}`);
  }
  // Square matrices: full and reduced decompositions are the same.
  if (hermitianOption('svd', options.hermitian)) return hermitianSvd('svd', symmetricMatrices('svd', x), computeUv);
  const a = floatMatrices('svd', x);
  if (!computeUv) return bind1('svd', [a], { fullMatrices: false, computeUv: false });
  const [s, u, vh] = bind('svd', [a], { fullMatrices, computeUv: true });
  return [u!, s!, vh!];
}) as SvdFunction;

/** Options of svdvals. */
export interface SvdvalsOptions {
  /** The matrices are symmetric: their singular values are |eigvalsh| (as svd's hermitian; NumPy's and JAX's svdvals lack the option). */
  hermitian?: boolean;
}

/** The singular values of a stack of matrices, descending (jax.numpy.linalg.svdvals): svd(a, { computeUv: false }). */
export const svdvals = defop((a: ArrayLike, options: SvdvalsOptions = {}): NDArray => {
  checkOptions('linalg.svdvals', options, ['hermitian']);
  if (hermitianOption('svdvals', options.hermitian)) return hermitianSvd('svdvals', symmetricMatrices('svdvals', a), false) as NDArray;
  return bind1('svd', [floatMatrices('svdvals', a)], { fullMatrices: false, computeUv: false });
});

// ---------------------------------------------------------------------------------------------
// pinv

/** Options of pinv. */
export interface PinvOptions {
  /** Singular values at most rtol·(the largest) count as zero; default 10·max(m, n)·eps(float32), as JAX. */
  rtol?: number;
  /** NumPy's name for rtol (only one of the two may be given). */
  rcond?: number;
  /** The matrices are symmetric: the SVD comes from eigh (see svd's hermitian), of (A + Aᵀ)/2. */
  hermitian?: boolean;
}
const PINV_OPTIONS = ['rtol', 'rcond', 'hermitian'] as const satisfies readonly (keyof PinvOptions)[];

/**
 * Which singular values a relative cutoff keeps: s > rtol·s_max along the last axis (s descending,
 * so s_max is its first entry). Strictly greater, as LAPACK's gelsd (NumPy's lstsq): a zero
 * matrix keeps none (JAX's ≥ would keep its zeros and divide by them). pinv, lstsq's solution, its
 * rank and its derivative all cut here.
 */
export function keptSingularValues(s: NDArray, rtol: number): NDArray {
  return greater(s, multiply(slice(s, s.shape.map(() => 0), [...s.shape.slice(0, -1), 1]), rtol));
}

/** vhᵀ·diag(1/s)·uᵀ from a reduced SVD, singular values at most rtol·s_max dropped (JAX's _pinv). */
export function pinvFromSvd(u: NDArray, s: NDArray, vh: NDArray, rtol: number): NDArray {
  const kept = where(keptSingularValues(s, rtol), s, Infinity);
  return batchMatmul(mT(vh), divide(mT(u), expandDims(kept, -1)));
}

/**
 * The Moore–Penrose pseudo-inverse [..., n, m] of a stack of m×n matrices (jax.numpy.linalg.pinv),
 * by the SVD with singular values at most rtol·s_max dropped. Its derivative is JAX's custom rule
 * (Golub & Pereyra 1973), the derivative of the pseudo-inverse at constant rank: the SVD's vectors,
 * and their trouble at repeated singular values, do not enter it. With `hermitian` the matrices'
 * symmetric part (A + Aᵀ)/2 is inverted through eigh (NumPy reads the lower triangle instead: the
 * same for a symmetric A), and so is differentiated.
 */
export const pinv = defop((x: ArrayLike, options: PinvOptions = {}): NDArray => {
  checkOptions('linalg.pinv', options, PINV_OPTIONS);
  const hermitian = hermitianOption('pinv', options.hermitian);
  let a = hermitian ? symmetricMatrices('pinv', x) : floatMatrices('pinv', x);
  const m = a.shape[a.ndim - 2]!, n = a.shape[a.ndim - 1]!;
  if (options.rtol !== undefined && options.rcond !== undefined) throw new ValueError(`linalg.pinv: rtol and rcond are two names for the same cutoff; give only one, got rtol ${JSON.stringify(options.rtol)} and rcond ${JSON.stringify(options.rcond)}`);
  const given = options.rtol ?? options.rcond;
  const rtol = given ?? 10 * Math.max(m, n) * EPS32;
  if (typeof rtol !== 'number' || !(rtol >= 0)) throw new ValueError(`linalg.pinv: ${options.rcond !== undefined ? 'rcond' : 'rtol'} must be a non-negative number, got ${fmtOptionValue(given)}`);
  if (m === 0 || n === 0) return zeros([...a.shape.slice(0, -2), n, m]);
  if (hermitian) a = multiply(add(a, mT(a)), 0.5); // before the custom rule, which then differentiates the symmetric part
  let u: NDArray, s: NDArray, vh: NDArray;
  if (hermitian) [u, s, vh] = hermitianSvd('pinv', a, true) as [NDArray, NDArray, NDArray];
  else [s, u, vh] = bind('svd', [a], { fullMatrices: false, computeUv: true }) as [NDArray, NDArray, NDArray];
  const sg = (t: NDArray) => bind1('stop_gradient', [t], {});
  return pinvWithRule(rtol)(a, sg(u), sg(s), sg(vh));
});

/**
 * The pseudo-inverse of `a` with cutoff rtol, given a's reduced SVD (u, s, vh), as a function with
 * JAX's custom derivative (Golub & Pereyra 1973) in `a` alone: the factors only spare recomputing
 * the SVD (pinv's and lstsq's callers pass them through stop_gradient, so the rule alone
 * differentiates the result, at any order). The rule works on each matrix over σ = max|A|
 * (P̂ = σP is pinv(A/σ), dP = dP̂(dA/σ)/σ): unscaled, P·Pᵀ ~ 1/σ² overflowed float32 for σ below
 * 1e-19 (a NaN gradient even for the scale-invariant A·A⁺) and underflowed above 1e24 (a wrong
 * one). σ is held constant; dP does not depend on it.
 */
export function pinvWithRule(rtol: number): (a: NDArray, u: NDArray, s: NDArray, vh: NDArray) => NDArray {
  const core: (a: NDArray, u: NDArray, s: NDArray, vh: NDArray) => NDArray = customJvp(
    (_a: NDArray, u: NDArray, s: NDArray, vh: NDArray) => pinvFromSvd(u, s, vh, rtol),
    ([b, u, s, vh]: [NDArray, NDArray, NDArray, NDArray], [db]: [NDArray, NDArray, NDArray, NDArray]): [NDArray, NDArray] => {
      const p = core(b, u, s, vh);
      let sigma = bind1('stop_gradient', [max(abs(b), [-2, -1], true)], {});
      sigma = where(greater(sigma, 0), sigma, 1);
      return [p, divide(pinvTangent(divide(b, sigma), divide(db, sigma), multiply(p, sigma)), sigma)];
    },
  );
  return core;
}

/** The derivative dP of P = A⁺ along dA at constant rank (Golub & Pereyra 1973), grouped as JAX does so that every product stays n×m or smaller. */
export function pinvTangent(b: NDArray, db: NDArray, p: NDArray): NDArray {
  const m = b.shape[b.ndim - 2]!, n = b.shape[b.ndim - 1]!;
  const pT = mT(p), dbT = mT(db);
  let dp: NDArray;
  if (m >= n) {
    const s = batchMatmul(batchMatmul(p, pT), dbT);
    const t = batchMatmul(batchMatmul(dbT, pT), p);
    dp = negative(batchMatmul(batchMatmul(p, db), p));
    dp = add(dp, subtract(s, batchMatmul(batchMatmul(s, b), p)));
    dp = add(dp, subtract(t, batchMatmul(batchMatmul(p, b), t)));
  } else {
    const s = batchMatmul(p, batchMatmul(pT, dbT));
    const t = batchMatmul(dbT, batchMatmul(pT, p));
    dp = negative(batchMatmul(p, batchMatmul(db, p)));
    dp = add(dp, subtract(s, batchMatmul(s, batchMatmul(b, p))));
    dp = add(dp, subtract(t, batchMatmul(p, batchMatmul(b, t))));
  }
  return dp;
}

// ---------------------------------------------------------------------------------------------
// matrixRank, cond

/** Options of matrixRank, named as in numpy.linalg.matrix_rank. */
export interface MatrixRankOptions {
  /** Singular values at most rtol·(the largest) count as zero; default max(m, n)·eps(float32), as NumPy and JAX. */
  rtol?: number;
  /** An absolute cutoff instead: singular values at most tol count as zero (only one of tol and rtol may be given). */
  tol?: number;
  /** The matrices are symmetric: the singular values are |eigvalsh| (see svd's hermitian). */
  hermitian?: boolean;
}
const MATRIX_RANK_OPTIONS = ['rtol', 'tol', 'hermitian'] as const satisfies readonly (keyof MatrixRankOptions)[];

/**
 * The number of singular values above the cutoff for each matrix of a stack, int32
 * (numpy.linalg.matrix_rank): tol when given, else rtol·s_max (rtol relative, as NumPy 2). A 0-d or
 * 1-D input has rank 1 unless it is all zeros. With `hermitian` the (square) matrices are taken as
 * symmetric and their singular values come from eigvalsh.
 */
export const matrixRank = defop((x: ArrayLike, options: MatrixRankOptions = {}): NDArray => {
  checkOptions('linalg.matrixRank', options, MATRIX_RANK_OPTIONS);
  const hermitian = hermitianOption('matrixRank', options.hermitian);
  if (options.rtol !== undefined && options.tol !== undefined) throw new ValueError(`linalg.matrixRank: give tol (absolute) or rtol (relative), not both (as NumPy), got tol ${JSON.stringify(options.tol)} and rtol ${JSON.stringify(options.rtol)}`);
  let a = asArray(x);
  if (a.dtype !== 'float32') a = astypeRaw(a, 'float32');
  if (a.ndim < 2) return astypeRaw(any(notEqual(a, 0)), 'int32');
  const m = a.shape[a.ndim - 2]!, n = a.shape[a.ndim - 1]!;
  const { tol } = options;
  if (tol !== undefined && (typeof tol !== 'number' || !(tol >= 0))) throw new ValueError(`linalg.matrixRank: tol must be a non-negative number, got ${fmtOptionValue(tol)}`);
  const rtol = options.rtol ?? Math.max(m, n) * EPS32;
  if (typeof rtol !== 'number' || !(rtol >= 0)) throw new ValueError(`linalg.matrixRank: rtol must be a non-negative number, got ${fmtOptionValue(options.rtol)}`);
  if (hermitian) symmetricMatrices('matrixRank', a);
  if (Math.min(m, n) === 0) return zeros(a.shape.slice(0, -2), 'int32');
  const s = svdvals(a, { hermitian });
  const cutoff = tol !== undefined ? tol : multiply(max(s, -1, true), rtol);
  return sum(astypeRaw(greater(s, cutoff), 'int32'), -1);
});

/** The orders cond accepts: the 2-norm ones from the SVD, and the others as ‖A‖·‖A⁻¹‖. */
export type CondOrder = 2 | -2 | 1 | -1 | typeof Infinity | 'fro' | 'nuc';

/**
 * The condition number of each matrix of a stack (numpy.linalg.cond): for p 2 (the default),
 * s_max/s_min; for −2, s_min/s_max; for 1, −1, ±∞, 'fro' and 'nuc' on square matrices, ‖A‖·‖A⁻¹‖.
 * A singular matrix gives ∞ for every order (0 for −2 unless it is zero), as in NumPy: a NaN from a
 * matrix without NaNs (0/0, or an inverse that does not exist) becomes ∞; a matrix with a NaN gives NaN.
 */
export const cond = defop((x: ArrayLike, p: CondOrder | null = null): NDArray => {
  const a = floatMatrices('cond', x);
  const m = a.shape[a.ndim - 2]!, n = a.shape[a.ndim - 1]!;
  if (m === 0 || n === 0) throw new ShapeError(`linalg.cond: expected non-empty matrices but got ${fmtShape(a.shape)}`);
  let r: NDArray;
  if (p === null || p === 2 || p === -2) {
    const s = svdvals(a);
    const first = max(s, -1), last = min(s, -1); // s is sorted descending
    // The zero matrix's 0/0 is NaN here, and ∞ below (JAX returns its NaN for p 2; NumPy and this docstring ∞).
    r = p === -2 ? divide(last, first) : divide(first, last);
  } else {
    if (![1, -1, Infinity, -Infinity, 'fro', 'nuc'].includes(p)) throw new ValueError(`linalg.cond: p must be 2, -2, 1, -1, Infinity, -Infinity, 'fro' or 'nuc', got ${JSON.stringify(p)}`);
    if (m !== n) throw new ShapeError(`linalg.cond: p ${String(p)} needs square matrices (it inverts them), got ${fmtShape(a.shape)}`);
    // inv refuses a matrix whose LU meets a zero pivot, where NumPy's and JAX's inverses hold inf or
    // NaN and cond gives ∞. slogdet's sign is 0 for exactly those matrices (the same LU test, and no
    // throw): they are inverted as I instead, and their result is NaN, made ∞ below.
    const [sign] = bind('slogdet', [bind1('stop_gradient', [a], {})], {});
    const singular = equal(sign!, 0);
    const safe = where(expandDims(expandDims(singular, -1), -1), eye(n), a);
    r = where(singular, NaN, multiply(matrixNorm(a, p), matrixNorm(bind1('matrix_inverse', [safe], {}), p)));
  }
  return where(logicalAnd(isnan(r), logicalNot(any(isnan(a), [-2, -1]))), Infinity, r);
});

/** The norms cond takes of A and A⁻¹, over the last two axes: max/min column (1, −1) or row (±∞) abs sums, Frobenius, nuclear. */
function matrixNorm(a: NDArray, ord: 1 | -1 | number | 'fro' | 'nuc'): NDArray {
  if (ord === 'fro') return sqrt(sum(square(a), [-2, -1]));
  if (ord === 'nuc') return spectralNorm(a, 'nuc');
  const sums = sum(abs(a), Math.abs(ord) === 1 ? -2 : -1);
  return ord > 0 ? max(sums, -1) : min(sums, -1);
}

/** The matrix norms from the singular values of the matrices in the last two axes: 2 (the largest), −2 (the smallest), 'nuc' (their sum). */
export function spectralNorm(a: NDArray, ord: 2 | -2 | 'nuc'): NDArray {
  const s = svdvals(a);
  if (s.shape[s.ndim - 1] === 0) return zeros(s.shape.slice(0, -1)); // an empty matrix: the empty sum (NumPy refuses max of nothing)
  return ord === 2 ? max(s, -1) : ord === -2 ? min(s, -1) : sum(s, -1);
}

// ---------------------------------------------------------------------------------------------
// lstsq

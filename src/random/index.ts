// JAX-style explicit PRNG keys. A key is an int32 array [2] (a batch of keys: [..., 2]); the same
// key always gives the same numbers; `split` and `foldIn` derive independent keys. Keys are
// ordinary arrays, so `vmap` over `split(key, n)` samples independently per example.
import { ConcreteArray, NDArray, type ArrayLike } from '../array.js';
import { bind1 } from '../core.js';
import { DTypeError, ShapeError, ValueError, fmtShape } from '../errors.js';
import * as tf from '@tensorflow/tfjs-core';
import { asArray, defop } from '../np/convert.js';
import { abs, add, divide, exp, floor, greater, less, log, log1p, maximum, minimum, multiply, ndtr, ndtri, negative, remainder, sign, sqrt, subtract, where } from '../np/elementwise.js';
import { astypeRaw } from '../np/operands.js';
import { argmax, cumsum } from '../np/reductions.js';
import { expandDims, reshape, squeeze, swapaxes, take } from '../np/shape_ops.js';
import { cholesky, matmul } from '../np/linalg.js';
import { eigh, svd } from '../np/decompositions.js';
import { searchsorted, topK } from '../np/sorting.js';
import { checkOptions } from '../options.js';
import type { DType } from '../dtype.js';
import { keyFromSeed } from './threefry.js';
// (A custom rule for truncatedNormal's inverse CDF; used at call time only, so the import cycle
// through the package entry is harmless.)
import { customJvp } from '../../transforms/custom.js';
import { broadcastShapes, checkShape, shapesEqual } from '../shape.js';

export type Key = NDArray;

/** A new key from an integer seed (like `jax.random.key` / `PRNGKey`). */
export function key(seed: number): Key {
  const words = keyFromSeed(seed, 'random.key');
  return new ConcreteArray(tf.tensor(new Int32Array(words.buffer, words.byteOffset, 2), [2], 'int32'));
}
export const PRNGKey = key;

function checkKey(op: string, k: Key): NDArray {
  if (k === undefined || k === null) {
    // Usually keys[i] on the [n, 2] array random.split returns (arrays are not indexable in JS).
    throw new DTypeError(`random.${op}: expected a key (int32 [..., 2] from random.key or random.split) but got ${k}; to pick keys from random.split(key, n), destructure them (const [k1, k2] = random.split(key)) or use keys.at(i)`);
  }
  const a = asArray(k);
  if (a.dtype !== 'int32' || a.ndim < 1 || a.shape[a.ndim - 1] !== 2) {
    throw new DTypeError(`random.${op}: expected a key (int32 [..., 2] from random.key or random.split) but got ${a.aval.str()}`);
  }
  return a;
}


/** `num` new keys from one key (shape [num, 2]; batched keys give [..., num, 2]). */
export const split = defop((k: Key, num = 2): NDArray => bind1('random_split', [checkKey('split', k)], { num }));

/** A new key from a key and an integer (e.g. a step counter or a layer index). */
export const foldIn = defop((k: Key, data: ArrayLike): NDArray => {
  const a = checkKey('foldIn', k);
  if (typeof data === 'number') {
    // JAX folds in uint32: a JS number in [2³¹, 2³²) keeps its 32 bits (as the int32 of that pattern).
    if (!Number.isInteger(data) || data < -(2 ** 31) || data >= 2 ** 32) throw new ValueError(`random.foldIn: expected an integer in [-2³¹, 2³²), got ${data}`);
    data = new ConcreteArray(tf.scalar(data | 0, 'int32'));
  }
  let d = asArray(data);
  if (d.dtype === 'float32') throw new DTypeError(`random.foldIn: expected integer data, got ${d.aval.str()}; convert it with np.astype(data, 'int32') if truncation is meant`);
  if (d.dtype !== 'int32') d = astypeRaw(d, 'int32');
  if (d.ndim === 0 && a.ndim > 1) d = bind1('broadcast_in_dim', [d], { shape: a.shape.slice(0, -1), broadcastDimensions: [] });
  return bind1('random_fold_in', [a, d], {});
});

/** Raw uint32 words (as int32). */
export const bits = defop((k: Key, shape: readonly number[] | number = []): NDArray =>
  bind1('random_bits', [checkKey('bits', k)], { shape: checkShape('random.bits', shape), distribution: 'bits' }),
);

/** Uniform samples in [minval, maxval). */
export const uniform = defop((k: Key, shape: readonly number[] | number = [], minval = 0, maxval = 1): NDArray => {
  if (!(Number.isFinite(minval) && Number.isFinite(maxval) && minval <= maxval)) {
    throw new ValueError(`random.uniform: expected finite bounds with minval ≤ maxval, got [${minval}, ${maxval})`);
  }
  const u = bind1('random_bits', [checkKey('uniform', k)], { shape: checkShape('random.uniform', shape), distribution: 'uniform' });
  if (minval === 0 && maxval === 1) return u;
  return add(multiply(u, maxval - minval), minval);
});

/** Standard normal samples. */
export const normal = defop((k: Key, shape: readonly number[] | number = []): NDArray =>
  bind1('random_bits', [checkKey('normal', k)], { shape: checkShape('random.normal', shape), distribution: 'normal' }),
);

/** Integers uniformly in [minval, maxval). */
export const randint = defop((k: Key, shape: readonly number[] | number, minval: number, maxval: number): NDArray => {
  if (!Number.isInteger(minval) || !Number.isInteger(maxval)) throw new ValueError(`random.randint: expected integer bounds, got [${minval}, ${maxval})`);
  if (!(maxval > minval)) throw new ValueError(`random.randint: expected maxval > minval, got [${minval}, ${maxval})`);
  const [lo, hi] = [Math.floor(minval), Math.floor(maxval)];
  const range = hi - lo;
  if (lo < -(2 ** 31) || hi > 2 ** 31 || range > 2 ** 31 - 1) {
    throw new ValueError(`random.randint: the range [${minval}, ${maxval}) must lie in int32 and span at most 2³¹ − 1 values`);
  }
  const offset = new ConcreteArray(tf.scalar(lo, 'int32'));
  if (range <= 2 ** 20) {
    // floor(u·range) with u's 23 random bits: every value is reached, each within range/2²³ of 1/range.
    return add(astypeRaw(floor(multiply(uniform(k, shape), range)), 'int32'), offset);
  }
  // Wide ranges: 32 random bits modulo the range (a float would leave the low bits 0), in int32.
  const r = new ConcreteArray(tf.scalar(range, 'int32'));
  return add(remainder(bits(k, shape), r), offset);
});

/** Booleans that are true with probability p (p may be an array broadcast against shape). */
export const bernoulli = defop((k: Key, p: ArrayLike = 0.5, shape?: readonly number[] | number): NDArray => {
  if (typeof p === 'number' && !(p >= 0 && p <= 1)) throw new ValueError(`random.bernoulli: expected a probability p in [0, 1], got ${p}`);
  const pa = asArray(p);
  const s = shape === undefined ? pa.shape : checkShape('random.bernoulli', shape);
  if (shape !== undefined) {
    if (!shapesEqual(broadcastShapes('random.bernoulli', pa.shape, s), s)) throw new ShapeError(`random.bernoulli: p of shape [${pa.shape.join(',')}] does not broadcast to shape [${s.join(',')}]`);
  }
  return less(uniform(k, s), pa);
});

/** Gumbel(0, 1) samples. */
export const gumbel = defop((k: Key, shape: readonly number[] | number = []): NDArray => {
  // u is in [0, 1), so 1 − u is in (0, 1]; 1 − u = 1 would give −log(−log 1) = +∞, so it is capped
  // at the largest float32 below 1 (a finite sample of about 16.6, as likely as any other).
  const v = minimum(subtract(1, uniform(k, shape)), 1 - 2 ** -24);
  return negative(log(negative(log(v))));
});

/** Samples class indices from unnormalised log-probabilities along `axis` (Gumbel-max). */
export const categorical = defop((k: Key, logits: ArrayLike, axis = -1, shape?: readonly number[]): NDArray => {
  const l = asArray(logits);
  if (!Number.isInteger(axis) || axis < -l.ndim || axis >= l.ndim) throw new ShapeError(`random.categorical: axis ${axis} is out of range for logits of shape [${l.shape.join(',')}]`);
  const ax = axis < 0 ? axis + l.ndim : axis;
  const batch = l.shape.filter((_, i) => i !== ax);
  const s = shape === undefined ? batch : checkShape('random.categorical', shape);
  // As JAX: the logits' batch shape must broadcast to the trailing dimensions of `shape`.
  if (s.length < batch.length || !batch.every((d, i) => d === 1 || s[s.length - batch.length + i] === d)) {
    throw new ShapeError(`random.categorical: shape [${s.join(',')}] must end with a shape the logits' batch shape [${batch.join(',')}] broadcasts to (logits [${l.shape.join(',')}] without axis ${axis})`);
  }
  const lead = s.slice(0, s.length - batch.length);
  // The noise's shape: `shape` with the class axis put back where the logits have it.
  const full = [...s.slice(0, lead.length + ax), l.shape[ax]!, ...s.slice(lead.length + ax)];
  const lb = reshape(l, [...lead.map(() => 1), ...l.shape]);
  return argmax(add(lb, gumbel(k, full)), lead.length + ax);
});

/** A random permutation of 0..n-1, or of the first axis of an array. */
export const permutation = defop((k: Key, x: number | NDArray): NDArray => {
  if (typeof x !== 'number' && x.ndim === 0) throw new ShapeError(`random.permutation: expected a count or an array with a first axis to permute, got a scalar array`);
  const n = typeof x === 'number' ? x : x.shape[0]!;
  if (!Number.isInteger(n) || n < 0) throw new ValueError(`random.permutation: expected a non-negative integer, got ${n}`);
  const perm = bind1('random_bits', [checkKey('permutation', k)], { shape: [n], distribution: 'permutation' });
  return typeof x === 'number' ? perm : take(x, perm, 0);
});

/** Exponential(1) samples: −log(1 − u), as JAX (u in [0, 1), so 1 − u is in (0, 1] and the log finite). */
export const exponential = defop((k: Key, shape: readonly number[] | number = []): NDArray => {
  checkKey('exponential', k);
  return negative(log1p(negative(uniform(k, checkShape('random.exponential', shape)))));
});

/** Laplace(0, 1) samples: sign(u)·log(1 − |u|) with u uniform on (−1, 1), as JAX. */
export const laplace = defop((k: Key, shape: readonly number[] | number = []): NDArray => {
  checkKey('laplace', k);
  // JAX draws u from [−1 + epsneg, 1): |u| < 1, so the log is finite.
  const u = uniform(k, checkShape('random.laplace', shape), -1 + 2 ** -24, 1);
  return multiply(sign(u), log1p(negative(abs(u))));
});

/** Logistic(0, 1) samples: log(u / (1 − u)) with u uniform on [eps, 1), as JAX (so |x| ≤ log(2²³) ≈ 15.9 both ways). */
export const logistic = defop((k: Key, shape: readonly number[] | number = []): NDArray => {
  checkKey('logistic', k);
  const u = uniform(k, checkShape('random.logistic', shape), 2 ** -23, 1);
  return log(divide(u, subtract(1, u)));
});

/**
 * ±1 with equal probability, of `dtype` (int32 by default, as JAX's `dtype=int`): 2·b − 1 for
 * b = bernoulli(key, 0.5, shape), JAX's construction.
 */
export const rademacher = defop((k: Key, shape: readonly number[] | number = [], dtype: DType = 'int32'): NDArray => {
  checkKey('rademacher', k);
  if (dtype !== 'int32' && dtype !== 'float32') throw new DTypeError(`random.rademacher: expected dtype 'int32' or 'float32', got '${dtype}'`);
  const b = astypeRaw(bernoulli(k, 0.5, checkShape('random.rademacher', shape)), dtype);
  return subtract(multiply(b, 2), 1);
});

/**
 * Standard normal samples truncated to [lower, upper] (bounds broadcast against each other and
 * against `shape`; ±Infinity allowed), by JAX's inverse-CDF construction: u uniform between Φ(l)
 * and Φ(u), then Φ⁻¹(u), clipped to the bounds (rounding may step just outside them).
 *
 * Two departures from JAX, both for the tails. JAX takes Φ as (1 + erf(x/√2))/2 in float32, which
 * is 1 for x ≳ 5.5, so every sample of [6, 7] is clipped to 7. Here Φ and Φ⁻¹ are `np.ndtr` and
 * `np.ndtri` (float64, precise in the lower tail), and an interval whose midpoint is positive is
 * drawn mirrored, −TN(−upper, −lower), so Φ is always taken where it is small and precise. That is
 * exact while Φ(−|nearer bound|) is a float32 (|bound| ≲ 14); beyond, Φ underflows to 0 and the
 * samples are clipped to a bound, as JAX's are from 5.5 on.
 *
 * As in JAX, samples are differentiable in the bounds: the pathwise derivative of Φ⁻¹(Φ(l) +
 * v·(Φ(u) − Φ(l))) at the drawn v (JAX's erf/erf_inv route has the same), and the clip holds the
 * bounds themselves constant.
 */
export const truncatedNormal = defop((k: Key, lower: ArrayLike, upper: ArrayLike, shape?: readonly number[] | number): NDArray => {
  checkKey('truncatedNormal', k);
  if (typeof lower === 'number' && typeof upper === 'number' && !(lower < upper)) {
    throw new ValueError(`random.truncatedNormal: expected lower < upper, got [${lower}, ${upper}]`);
  }
  let lo = asArray(lower), hi = asArray(upper);
  if (lo.dtype === 'bool' || hi.dtype === 'bool') throw new DTypeError(`random.truncatedNormal: expected numeric bounds, got ${lo.aval.str()} and ${hi.aval.str()}`);
  if (lo.dtype !== 'float32') lo = astypeRaw(lo, 'float32');
  if (hi.dtype !== 'float32') hi = astypeRaw(hi, 'float32');
  const boundsShape = broadcastShapes('random.truncatedNormal', lo.shape, hi.shape);
  const s = shape === undefined ? boundsShape : checkShape('random.truncatedNormal', shape);
  if (shape !== undefined && !shapesEqual(broadcastShapes('random.truncatedNormal', boundsShape, s), s)) {
    throw new ShapeError(`random.truncatedNormal: bounds of shapes [${lo.shape.join(',')}] and [${hi.shape.join(',')}] do not broadcast to shape [${s.join(',')}]`);
  }
  const mirrored = greater(add(lo, hi), 0);
  const x = truncatedInverseCdf()(where(mirrored, negative(hi), lo), where(mirrored, negative(lo), hi), uniform(k, s));
  const sample = where(mirrored, negative(x), x);
  const stop = (v: NDArray) => bind1('stop_gradient', [v], {});
  return minimum(maximum(sample, stop(lo)), stop(hi));
});

export interface MultivariateNormalOptions {
  /**
   * How cov is factored as F·Fᵀ, as in JAX: 'cholesky' (the default), which needs cov positive
   * definite; 'svd' (F = U·√S) and 'eigh' (F = V·√W), which also take positive semidefinite
   * (singular) covariances. With 'eigh' a cov that is not positive semidefinite gives NaNs (√ of a
   * negative eigenvalue), as in JAX; with 'svd' it gives samples of the wrong covariance, as in JAX.
   */
  method?: 'cholesky' | 'svd' | 'eigh';
}
const MULTIVARIATE_NORMAL_OPTIONS = ['method'] as const satisfies readonly (keyof MultivariateNormalOptions)[];

/**
 * Samples of the multivariate normal N(mean, cov), as `jax.random.multivariate_normal`: mean is
 * [..., n], cov [..., n, n], and the result has shape `shape + [n]`, `shape` defaulting to the
 * broadcast of mean's batch shape (mean.shape[:-1]) and cov's (cov.shape[:-2]); a given `shape`
 * must be one they broadcast to. JAX's construction: mean + L·z with L = linalg.cholesky(cov)
 * (the factor of cov's symmetric part; or U·√S or V·√W with method 'svd' or 'eigh') and
 * z = normal(key, shape + [n]), so the same key gives the normal draws JAX's construction would
 * transform. Differentiable in mean and cov (reparameterisation, through the factor's
 * derivative). A cov that is not positive definite is cholesky's LinAlgError, where JAX gives NaNs.
 */
export const multivariateNormal = defop((k: Key, mean: ArrayLike, cov: ArrayLike, shape?: readonly number[] | number, options: MultivariateNormalOptions = {}): NDArray => {
  const op = 'random.multivariateNormal';
  checkKey('multivariateNormal', k);
  checkOptions(op, options, MULTIVARIATE_NORMAL_OPTIONS);
  const method: string = options.method ?? 'cholesky';
  if (method !== 'cholesky' && method !== 'svd' && method !== 'eigh') {
    throw new ValueError(`${op}: method ${JSON.stringify(method)} is unknown; expected 'cholesky' (the default), 'svd' or 'eigh', as in JAX`);
  }
  let m = asArray(mean), c = asArray(cov);
  if (m.dtype === 'bool' || c.dtype === 'bool') throw new DTypeError(`${op}: expected a numeric mean and cov, got ${m.aval.str()} and ${c.aval.str()}`);
  if (m.dtype !== 'float32') m = astypeRaw(m, 'float32');
  if (c.dtype !== 'float32') c = astypeRaw(c, 'float32');
  if (m.ndim < 1) throw new ShapeError(`${op}: expected mean of shape [..., n] (rank ≥ 1), got shape ${fmtShape(m.shape)}`);
  const n = m.shape[m.ndim - 1]!;
  if (c.ndim < 2 || c.shape[c.ndim - 1] !== n || c.shape[c.ndim - 2] !== n) {
    throw new ShapeError(`${op}: expected cov of shape [..., ${n}, ${n}] for mean of shape ${fmtShape(m.shape)}, got cov of shape ${fmtShape(c.shape)}`);
  }
  const meanBatch = m.shape.slice(0, -1), covBatch = c.shape.slice(0, -2);
  let batch: number[];
  try {
    batch = broadcastShapes(op, meanBatch, covBatch);
  } catch {
    throw new ShapeError(`${op}: the batch shapes of mean ${fmtShape(m.shape)} and cov ${fmtShape(c.shape)} cannot be broadcast together (${fmtShape(meanBatch)} vs ${fmtShape(covBatch)})`);
  }
  const s = shape === undefined ? batch : checkShape(op, shape);
  if (shape !== undefined && !(s.length >= batch.length && batch.every((d, i) => d === 1 || d === s[s.length - batch.length + i]))) {
    throw new ShapeError(`${op}: the batch shapes of mean ${fmtShape(m.shape)} and cov ${fmtShape(c.shape)} (broadcast: ${fmtShape(batch)}) do not broadcast to shape ${fmtShape(s)}`);
  }
  // F with F·Fᵀ = cov: JAX's factor for each method (the svd and eigh ones scale the vectors' columns).
  const columnsTimesSqrt = (vectors: NDArray, scales: NDArray): NDArray => multiply(vectors, expandDims(sqrt(scales), -2));
  let L: NDArray;
  if (method === 'cholesky') L = cholesky(c);
  else if (method === 'svd') {
    const [u, sv] = svd(c);
    L = columnsTimesSqrt(u, sv);
  } else {
    const [w, v] = eigh(c);
    L = columnsTimesSqrt(v, w);
  }
  const z = normal(k, [...s, n]);
  // JAX's einsum('...ij,...j->...i', L, z). With one cov that is z·Lᵀ, one matrix product over all
  // samples; a stack of covs is broadcast against the samples' batch.
  const Lz = c.ndim === 2 ? matmul(z, swapaxes(L, -1, -2)) : squeeze(matmul(L, expandDims(z, -1)), -1);
  return add(m, Lz);
});

let inverseCdf: ((a: NDArray, b: NDArray, v: NDArray) => NDArray) | null = null;

/**
 * x = Φ⁻¹(Φ(a) + v·(Φ(b) − Φ(a))) with its derivative in one rule: dx = e^{(x² − a²)/2}(1 − v)·da +
 * e^{(x² − b²)/2}·v·db, each ratio φ(a)/φ(x) taken as one exponential (with log(1 − v), log v folded
 * in). Through ndtr's and ndtri's own rules the factors φ(a) and 1/φ(x) underflow and overflow
 * apart for bounds past ~13 (0·inf: NaN gradients where the samples are right). Made on first use.
 */
function truncatedInverseCdf(): (a: NDArray, b: NDArray, v: NDArray) => NDArray {
  if (inverseCdf !== null) return inverseCdf;
  const f = (a: NDArray, b: NDArray, v: NDArray): NDArray => {
    const pa = ndtr(a);
    return ndtri(add(pa, multiply(subtract(ndtr(b), pa), v)));
  };
  const ratio = (x: NDArray, bound: NDArray, logWeight: NDArray): NDArray => exp(add(multiply(subtract(multiply(x, x), multiply(bound, bound)), 0.5), logWeight));
  const core = customJvp(f, ([a, b, v]: [NDArray, NDArray, NDArray], [ta, tb]: [NDArray, NDArray, NDArray]): [NDArray, NDArray] => {
    const x = core(a, b, v);
    return [x, add(multiply(ratio(x, a, log1p(negative(v))), ta), multiply(ratio(x, b, log(v)), tb))];
  });
  inverseCdf = core;
  return core;
}

export interface ChoiceOptions {
  /** Shape of the draws (default [], one draw). */
  shape?: readonly number[] | number;
  /** Draw with replacement (default true). */
  replace?: boolean;
  /** Probabilities of the population's entries (shape [n]; nonnegative, normalised by their sum); uniform if absent. */
  p?: ArrayLike;
  /** The axis of `a` to draw along (default 0). */
  axis?: number;
}

const CHOICE_OPTIONS = new Set(['shape', 'replace', 'p', 'axis']);

/**
 * Random entries of `a` along `axis` (`a` a count n draws from 0..n−1), as `jax.random.choice`:
 * the result has shape a.shape[:axis] + shape + a.shape[axis+1:]. Without `p`: randint with
 * replacement, the head of a permutation without. With `p`: with replacement, the first index
 * whose cumulative sum reaches total·(1 − u) (JAX's searchsorted, a binary search: memory
 * O(n + draws·log n); entries with p = 0 are never reached); without, the Gumbel-top-k trick (the
 * k largest log p + Gumbel noise, found by np.topK: JAX's construction with lax.top_k, which
 * selects them in O(n) for k ≤ n/16). As in JAX, without replacement zero-probability
 * entries fill the draws only once the positive ones are used up; when p is given as JS numbers
 * that case is refused. No draws (a shape with a 0) give an empty result, also from an empty
 * population; any draw from one is NumPy's ValueError.
 */
export const choice = defop((k: Key, a: number | ArrayLike, options: ChoiceOptions = {}): NDArray => {
  checkKey('choice', k);
  if (typeof options !== 'object' || options === null || Array.isArray(options) || options instanceof NDArray) {
    // JAX's choice takes the shape third; here it is an option.
    throw new ValueError(`random.choice: the third argument is an options object { shape, replace, p, axis }, got ${options instanceof NDArray ? `an array ${options.aval.str()}` : JSON.stringify(options) ?? String(options)}; pass the shape as random.choice(key, a, { shape: ${Array.isArray(options) || typeof options === 'number' ? JSON.stringify(options) : '[...]'} })`);
  }
  for (const name of Object.keys(options)) {
    if (!CHOICE_OPTIONS.has(name)) throw new ValueError(`random.choice: unknown option '${name}'; expected shape, replace, p or axis`);
  }
  const { replace = true, p, axis = 0 } = options;
  const s = checkShape('random.choice', options.shape ?? []);
  const arr = typeof a === 'number' ? null : asArray(a);
  if (arr !== null && arr.ndim === 0) throw new ShapeError(`random.choice: expected a count (a JS number) or an array with an axis to draw along, got a scalar array ${arr.aval.str()}`);
  if (arr !== null && (!Number.isInteger(axis) || axis < -arr.ndim || axis >= arr.ndim)) {
    throw new ShapeError(`random.choice: axis ${axis} is out of range for an array of shape [${arr.shape.join(',')}]`);
  }
  const ax = arr === null ? 0 : axis < 0 ? axis + arr.ndim : axis;
  const n = arr === null ? (a as number) : arr.shape[ax]!;
  if (arr === null && (!Number.isInteger(n) || n < 0 || n > 2 ** 31 - 1)) throw new ShapeError(`random.choice: expected a count in [0, 2³¹), got ${n}`);
  const draws = s.reduce((x, y) => x * y, 1);
  // NumPy's ValueError and wording (JAX: "a must be greater than 0 unless no samples are taken").
  if (draws > 0 && n === 0) throw new ValueError(`random.choice: a cannot be empty unless no samples are taken (asked for ${draws} samples, shape [${s.join(',')}], from a population of size 0)`);
  if (!replace && draws > n) throw new ValueError(`random.choice: cannot take a larger sample (size ${draws}, shape [${s.join(',')}]) than the population (size ${n}) when replace is false`);
  let indices: NDArray;
  if (draws === 0) {
    // As JAX: no draws, nothing sampled (p's cumulative sum would have no last entry when n is 0); p is still checked.
    if (p !== undefined) checkP(p, n, ax, replace, draws);
    indices = int32Range(0);
  } else if (p === undefined) {
    indices = replace ? randint(k, [draws], 0, Math.max(n, 1)) : take(permutation(k, n), int32Range(draws), 0);
  } else {
    const pa = checkP(p, n, ax, replace, draws);
    if (replace) {
      const cumulative = cumsum(pa);
      const total = reshape(take(cumulative, int32Range(1, n - 1), 0), []);
      // JAX: total·(1 − u) lies in (0, total], so an entry whose cumulative sum does not grow (p = 0)
      // is never the first to reach it. The first index whose sum reaches it is searchsorted's
      // 'left' position, found by binary search (JAX's jnp.searchsorted): memory O(n + draws), where
      // comparing every draw with every entry held draws × n. (Clipped to n − 1: a NaN in an
      // unchecked p makes r NaN, which sorts after every entry.)
      const r = multiply(total, subtract(1, uniform(k, [draws])));
      indices = minimum(searchsorted(cumulative, r, 'left'), n - 1);
    } else {
      // JAX's Gumbel-top-k: the draws are the positions of the k largest log p + Gumbel noise, in
      // decreasing order (ties in input order, as XLA's top_k). Entries with p ≤ 0 or NaN (which
      // only p given as an array can hold: JS numbers are checked) score −∞, below every positive
      // one; JAX's log p would make them NaN, which top_k ranks first. The draws are those of the
      // former k rounds of argmax, which masked each pick to −∞ in turn.
      const scores = where(greater(pa, 0), add(gumbel(k, [n]), log(pa)), -Infinity);
      indices = topK(scores, draws)[1]!;
    }
  }
  if (arr === null) return reshape(indices, s);
  const taken = take(arr, indices, ax);
  return reshape(taken, [...arr.shape.slice(0, ax), ...s, ...arr.shape.slice(ax + 1)]);
});

/** p as float32 [n], checked (its values too when given as JS numbers). */
function checkP(p: ArrayLike, n: number, ax: number, replace: boolean, draws: number): NDArray {
  let pa = asArray(p);
  if (!shapesEqual(pa.shape, [n])) throw new ShapeError(`random.choice: p of shape [${pa.shape.join(',')}] must have shape [${n}], one probability per entry along axis ${ax} of the population`);
  if (pa.dtype === 'bool') throw new DTypeError(`random.choice: expected numeric probabilities p, got ${pa.aval.str()}`);
  if (pa.dtype !== 'float32') pa = astypeRaw(pa, 'float32');
  if (Array.isArray(p)) checkProbabilities(p as readonly unknown[], replace, draws);
  return pa;
}

/** 0..count−1 as int32 (or `count` values from `start`). */
function int32Range(count: number, start = 0): NDArray {
  return new ConcreteArray(tf.range(start, start + count, 1, 'int32'));
}

/** Checks probabilities given as JS numbers (arrays are not read: under jit their values are unknown). */
function checkProbabilities(p: readonly unknown[], replace: boolean, draws: number): void {
  let positive = 0;
  p.forEach((v, i) => {
    if (typeof v !== 'number' || !(v >= 0) || v === Infinity) throw new ValueError(`random.choice: expected finite probabilities p ≥ 0, got p[${i}] = ${String(v)}`);
    if (v > 0) positive++;
  });
  if (draws > 0 && positive === 0) throw new ValueError(`random.choice: the probabilities p are all 0`);
  if (!replace && draws > positive) {
    throw new ValueError(`random.choice: cannot take ${draws} samples without replacement when only ${positive} of the probabilities p are positive (JAX would fill the rest with zero-probability entries)`);
  }
}

// Reductions over axes (`axis` a number, a list, or undefined for all axes; negative axes count
// from the end) with NumPy's keepdims, and cumulative sums.
import type { ArrayLike, Axis, NDArray } from '../array.js';
import { bind1 } from '../core.js';
import { normalizeAxes, normalizeAxis } from '../shape.js';
import { ShapeError } from '../errors.js';
import { asArray, defop, full } from './convert.js';
import { isclose, where, isfinite, isnan, subtract, multiply, divide, sqrt, exp, log, add, equal, greater, logicalNot } from './elementwise.js';
import { astypeRaw } from './operands.js';

function withKeepdims(y: NDArray, x: NDArray, axes: number[], keepdims: boolean): NDArray {
  if (!keepdims) return y;
  return bind1('reshape', [y], { shape: x.shape.map((d, i) => (axes.includes(i) ? 1 : d)) });
}

export const sum = defop((x: ArrayLike, axis?: Axis, keepdims = false): NDArray => {
  let a = asArray(x);
  if (a.dtype === 'bool') a = astypeRaw(a, 'int32');
  const axes = normalizeAxes('sum', axis, a.ndim);
  return withKeepdims(bind1('reduce_sum', [a], { axes }), a, axes, keepdims);
});

/** max and min have no identity element, so (as NumPy) they refuse to reduce an empty axis. */
function checkNonEmpty(op: string, a: NDArray, axes: number[]): void {
  const empty = axes.find((i) => a.shape[i] === 0);
  if (empty !== undefined) throw new ShapeError(`${op}: cannot reduce over the empty axis ${empty} of ${a.aval.str()} (no identity element)`);
}

export const max = defop((x: ArrayLike, axis?: Axis, keepdims = false): NDArray => {
  let a = asArray(x);
  if (a.dtype === 'bool') a = astypeRaw(a, 'int32');
  const axes = normalizeAxes('max', axis, a.ndim);
  checkNonEmpty('max', a, axes);
  return withKeepdims(bind1('reduce_max', [a], { axes }), a, axes, keepdims);
});

export const min = defop((x: ArrayLike, axis?: Axis, keepdims = false): NDArray => {
  let a = asArray(x);
  if (a.dtype === 'bool') a = astypeRaw(a, 'int32');
  const axes = normalizeAxes('min', axis, a.ndim);
  checkNonEmpty('min', a, axes);
  return withKeepdims(bind1('reduce_min', [a], { axes }), a, axes, keepdims);
});

export const mean = defop((x: ArrayLike, axis?: Axis, keepdims = false): NDArray => {
  let a = asArray(x);
  if (a.dtype !== 'float32') a = astypeRaw(a, 'float32');
  const axes = normalizeAxes('mean', axis, a.ndim);
  const n = axes.reduce((acc, i) => acc * a.shape[i]!, 1);
  return divide(sum(a, axes, keepdims), n);
});

/** Variance with `ddof` delta degrees of freedom (0: the biased estimator, 1: Bessel's correction). */
export const variance = defop((x: ArrayLike, axis?: Axis, keepdims = false, ddof = 0): NDArray => {
  let a = asArray(x);
  if (a.dtype !== 'float32') a = astypeRaw(a, 'float32');
  const axes = normalizeAxes('var', axis, a.ndim);
  const n = axes.reduce((acc, i) => acc * a.shape[i]!, 1);
  const centered = subtract(a, mean(a, axes, true));
  // As NumPy, the divisor is max(n − ddof, 0): too few values give inf (or NaN), never a negative variance.
  return divide(sum(multiply(centered, centered), axes, keepdims), Math.max(n - ddof, 0));
});
export { variance as var };

export const std = defop((x: ArrayLike, axis?: Axis, keepdims = false, ddof = 0): NDArray => sqrt(variance(x, axis, keepdims, ddof)));

function argReduce(prim: 'argmax' | 'argmin') {
  return defop((x: ArrayLike, axis?: number, keepdims = false): NDArray => {
    let a = asArray(x);
    if (a.dtype === 'bool') a = astypeRaw(a, 'int32');
    if (axis === undefined || axis === null) {
      const flat = bind1('reshape', [a], { shape: [a.size] });
      const r = bind1(prim, [flat], { axis: 0 });
      return keepdims ? bind1('reshape', [r], { shape: a.shape.map(() => 1) }) : r;
    }
    const ax = normalizeAxis(prim, axis, a.ndim);
    return withKeepdims(bind1(prim, [a], { axis: ax }), a, [ax], keepdims);
  });
}
export const argmax = argReduce('argmax');
export const argmin = argReduce('argmin');

// As counts (a sum has an identity), so that all() of nothing is true and any() of nothing false.
export const all = defop((x: ArrayLike, axis?: Axis, keepdims = false): NDArray =>
  equal(sum(logicalNot(astypeRaw(asArray(x), 'bool')), axis, keepdims), 0),
);
export const any = defop((x: ArrayLike, axis?: Axis, keepdims = false): NDArray =>
  greater(sum(astypeRaw(asArray(x), 'bool'), axis, keepdims), 0),
);

/**
 * log(sum(exp(x))) computed stably: the maximum is subtracted first (and held constant, which does
 * not change the value or the gradient). Infinite maxima are replaced by 0 to avoid inf - inf.
 * Its full-size kernels are TF.js logSumExp's four (max, subtract, exp, sum); the guard's isfinite
 * and select act on the reduced array only (bench/select_ops.ts, [256, 1000] along the last axis,
 * eager: ~1.5× TF.js's speed on wasm, equal on cpu), so no kernel is worth removing.
 */
export const logsumexp = defop((x: ArrayLike, axis?: Axis, keepdims = false): NDArray => {
  let a = asArray(x);
  if (a.dtype !== 'float32') a = astypeRaw(a, 'float32');
  const axes = normalizeAxes('logsumexp', axis, a.ndim);
  // An empty sum of exponentials is 0, and its log −∞ (as JAX).
  if (axes.some((i) => a.shape[i] === 0)) return full(a.shape.flatMap((d, i) => (!axes.includes(i) ? [d] : keepdims ? [1] : [])), -Infinity, 'float32');
  const m = bind1('stop_gradient', [max(a, axes, true)], {});
  const safeM = where(isfinite(m), m, 0);
  const s = log(sum(exp(subtract(a, safeM)), axes, true));
  const out = add(s, safeM);
  return keepdims ? out : bind1('reshape', [out], { shape: a.shape.filter((_, i) => !axes.includes(i)) });
});

/** Cumulative sum along `axis` (the flattened array when omitted); `reverse` sums from the end. */
export const cumsum = defop((x: ArrayLike, axis?: number, reverse = false): NDArray => {
  let a = asArray(x);
  if (a.dtype === 'bool') a = astypeRaw(a, 'int32');
  if (axis === undefined) {
    a = bind1('reshape', [a], { shape: [a.size] });
    axis = 0;
  }
  return bind1('cumsum', [a], { axis: normalizeAxis('cumsum', axis, a.ndim), reverse });
});

/**
 * Cumulative product along `axis` (the flattened array when omitted), as NumPy's. It is a
 * Hillis–Steele scan of multiplications (⌈log₂ n⌉ steps, each multiplying by the array shifted by
 * 1, 2, 4, … with ones shifted in), so its derivative is the derivative of products: exact where x
 * holds zeros, where the shortcut cumprod(x)/x divides by zero. JAX's cumprod differentiates its
 * associative scan the same way.
 */
export const cumprod = defop((x: ArrayLike, axis?: number): NDArray => {
  let a = asArray(x);
  if (a.dtype === 'bool') a = astypeRaw(a, 'int32');
  if (axis === undefined) {
    a = bind1('reshape', [a], { shape: [a.size] });
    axis = 0;
  }
  const ax = normalizeAxis('cumprod', axis, a.ndim);
  const n = a.shape[ax]!;
  const zeros = a.shape.map(() => 0), ones = a.shape.map(() => 1);
  let y = a;
  for (let shift = 1; shift < n; shift *= 2) {
    // y[i] ← y[i] · y[i − shift], with 1 for i < shift.
    const limit = [...a.shape];
    limit[ax] = n - shift;
    const lo = [...zeros];
    lo[ax] = shift;
    const shifted = bind1('pad', [bind1('slice', [y], { start: zeros, limit, strides: ones })], { lo, hi: zeros, interior: zeros, value: 1 });
    y = bind1('mul', [y, shifted], {});
  }
  return y;
});

/**
 * Product along axes, as a tree of pairwise multiplications (log2(n) steps). Unlike exp(sum(log)),
 * this is exact for zeros and negatives, and so are its derivatives.
 */
export const prod = defop((x: ArrayLike, axis?: Axis, keepdims = false): NDArray => {
  let a = asArray(x);
  if (a.dtype === 'bool') a = astypeRaw(a, 'int32');
  const axes = normalizeAxes('prod', axis, a.ndim);
  const kept = a.shape.map((_, i) => i).filter((i) => !axes.includes(i));
  const keptShape = kept.map((i) => a.shape[i]!);
  const n = axes.reduce((acc, i) => acc * a.shape[i]!, 1);
  let y = bind1('reshape', [bind1('transpose', [a], { perm: [...kept, ...axes] })], { shape: [...keptShape, n] });
  const last = keptShape.length;
  let len = n;
  if (len === 0) y = bind1('pad', [y], { lo: [...keptShape.map(() => 0), 1], hi: keptShape.map(() => 0).concat(0), interior: [...keptShape.map(() => 0), 0], value: 1 });
  len = Math.max(len, 1);
  while (len > 1) {
    if (len % 2 === 1) {
      y = bind1('pad', [y], { lo: [...keptShape.map(() => 0), 0], hi: [...keptShape.map(() => 0), 1], interior: [...keptShape.map(() => 0), 0], value: 1 });
      len += 1;
    }
    const half = len / 2;
    const start = [...keptShape.map(() => 0), 0];
    const lo = bind1('slice', [y], { start, limit: [...keptShape, half], strides: [...keptShape.map(() => 1), 1] });
    const hi = bind1('slice', [y], { start: [...keptShape.map(() => 0), half], limit: [...keptShape, len], strides: [...keptShape.map(() => 1), 1] });
    y = bind1('mul', [lo, hi], {});
    len = half;
  }
  const out = bind1('reshape', [y], { shape: keptShape });
  void last;
  return withKeepdims(out, a, axes, keepdims);
});

/** The operand with its NaNs replaced by `fill` (ints and bools have none and pass through). */
function fillNan(a: NDArray, fill: number): NDArray {
  return a.dtype === 'float32' ? where(isnan(a), fill, a) : a;
}

/** sum treating NaNs as 0 (jnp.nansum): all-NaN or empty slices sum to 0; the gradient is 0 at the NaNs. */
export const nansum = defop((x: ArrayLike, axis?: Axis, keepdims = false): NDArray => sum(fillNan(asArray(x), 0), axis, keepdims));

/** mean over the entries that are not NaN (jnp.nanmean): float32; NaN where a slice has none (0/0, as NumPy and JAX). */
export const nanmean = defop((x: ArrayLike, axis?: Axis, keepdims = false): NDArray => {
  let a = asArray(x);
  if (a.dtype !== 'float32') a = astypeRaw(a, 'float32');
  const nan = isnan(a); // once, for both the sum and the count
  return divide(sum(where(nan, 0, a), axis, keepdims), sum(logicalNot(nan), axis, keepdims));
});

function nanExtreme(op: 'nanmax' | 'nanmin', reduce: typeof max, fill: number) {
  return defop((x: ArrayLike, axis?: Axis, keepdims = false): NDArray => {
    const a = asArray(x);
    checkNonEmpty(op, a, normalizeAxes(op, axis, a.ndim));
    if (a.dtype !== 'float32') return reduce(a, axis, keepdims);
    // A slice of NaNs only has no non-NaN extreme: NaN there (NumPy warns, JAX returns it silently).
    const nan = isnan(a);
    return where(all(nan, axis, keepdims), NaN, reduce(where(nan, fill, a), axis, keepdims));
  });
}
/** max ignoring NaNs (jnp.nanmax): NaN only where a slice is all NaN; an empty axis is an error, as max. */
export const nanmax = nanExtreme('nanmax', max, -Infinity);
/** min ignoring NaNs (jnp.nanmin): NaN only where a slice is all NaN; an empty axis is an error, as min. */
export const nanmin = nanExtreme('nanmin', min, Infinity);

/** Whether every pair is close (jnp.allclose): all(isclose(a, b, rtol, atol, equalNan)), a 0-d bool array. */
export const allclose = defop((a: ArrayLike, b: ArrayLike, rtol = 1e-5, atol = 1e-8, equalNan = false): NDArray => all(isclose(a, b, rtol, atol, equalNan)));

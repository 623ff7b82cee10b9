// Neural-network functions (jax.nn): activations, softmax family, one-hot, convolution and pooling.
// Written so that their derivatives are finite everywhere the function is (no NaN from the branch
// `where` does not take).
import type { ArrayLike, NDArray } from '../array.js';
import { bind1 } from '../core.js';
import { ShapeError, fmtShape } from '../errors.js';
import { normalizeAxis, staticInts } from '../shape.js';
import { asArray, defop } from './convert.js';
import { abs, add, equal, exp, expm1, greater, greaterEqual, isnan, lessEqual, logicalAnd, log1p, maximum, minimum, multiply, ndtr, negative, sigmoid, subtract, tanh, where, divide, clip } from './elementwise.js';
import { astypeRaw, elementwiseOperands } from './operands.js';
import { logsumexp, max, mean, sum, variance } from './reductions.js';
import { reshape } from './shape_ops.js';
import { fmtStatic } from './static_index.js';
import { arange } from './convert.js';
import { dtypeBounds } from './static_index.js';

/**
 * max(x, 0), one primitive: NaN propagates (as in JAX and PyTorch), −0 gives +0, and the derivative
 * is JAX's select(x > 0, g, 0): 0 at 0 and at NaN.
 */
export const relu = defop((x: ArrayLike): NDArray => {
  const a = asArray(x);
  if (a.dtype !== 'float32' && a.dtype !== 'int32') return where(lessEqual(a, 0), 0, a);
  return bind1('relu', [a], {});
});
/**
 * min(max(x, 0), 6), with JAX's derivative select((x > 0) & (x < 6), g, 0): 1 strictly inside
 * (0, 6), 0 at both kinks (not clip's ½ at ties) and at NaN (relu's derivative, then 0 from 6 on).
 */
export const relu6 = defop((x: ArrayLike): NDArray => {
  const h = relu(x);
  return where(greaterEqual(h, 6), 6, h);
});
/** x for x ≥ 0, slope·x below (as JAX: derivative 1 at 0). */
export const leakyRelu = defop((x: ArrayLike, negativeSlope = 0.01): NDArray => {
  const a = asArray(x);
  return where(greaterEqual(a, 0), a, multiply(a, negativeSlope));
});
export const elu = defop((x: ArrayLike, alpha = 1): NDArray => {
  const a = asArray(x);
  const pos = greater(a, 0);
  // The negative branch sees x only where x <= 0 (so exp cannot overflow), and x itself there,
  // so every derivative at 0 is the analytic one (alpha for the first).
  return where(pos, a, multiply(expm1(where(pos, 0, a)), alpha));
});
export const selu = defop((x: ArrayLike): NDArray => multiply(elu(x, 1.6732632423543772), 1.0507009873554805));
/**
 * log(1 + e^x), computed without overflow: x + log1p(e^-x) for x > 0, log1p(e^x) otherwise. Each
 * branch is analytic and sees only inputs where it is taken, so derivatives of every order are
 * exact (softplus''(0) = 1/4) and never NaN.
 */
export const softplus = defop((x: ArrayLike): NDArray => {
  // max(x, 0) + log1p(exp(−|x|)), with −|x| written as a select so that the derivative at 0 is ½
  // (abs' derivative there is 1, as in JAX) and one exp and one log1p serve both signs.
  const a = asArray(x);
  const pos = greater(a, 0);
  return add(where(pos, a, 0), log1p(exp(where(pos, negative(a), a))));
});
/**
 * log(exp(x) + exp(y)) without overflow (NumPy's and jnp's `logaddexp`): m + softplus(d) with m the
 * larger operand and d = min − max ≤ 0, both written as selects on x > y so that at x = y each
 * derivative is ½. Equal infinities (where d is NaN) give x + y, as JAX does, with finite derivatives.
 */
export const logaddexp = defop((x: ArrayLike, y: ArrayLike): NDArray => {
  const [a, b] = elementwiseOperands([x, y], 'float', 'logaddexp');
  const xFirst = greater(a!, b!);
  const d = where(xFirst, subtract(b!, a!), subtract(a!, b!));
  const same = logicalAnd(isnan(d), equal(a!, b!)); // equal infinities (a NaN operand stays NaN, its derivatives too)
  return where(same, add(a!, b!), add(where(xFirst, a!, b!), softplus(where(same, 0, d))));
});
export const logSigmoid = defop((x: ArrayLike): NDArray => negative(softplus(negative(asArray(x)))));
export const silu = defop((x: ArrayLike): NDArray => {
  const a = asArray(x);
  return multiply(a, sigmoid(a));
});
export const swish = silu;
/**
 * GELU; the tanh approximation by default, as in JAX. The exact form x·Φ(x) takes Φ from `ndtr`
 * (float64, precise in the lower tail), so it keeps its relative precision down to where it leaves
 * float32 (x ≈ −13.4): through float32 erf, 1 + erf(x/√2) is 0 below x ≈ −5.6 (4 % off at −5). JAX writes
 * x·erfc(−x/√2)/2, which is as good in float64; in float32 the rounding of x/√2 alone costs a
 * relative x²·2⁻²⁴ (1e-5 at −13), where ndtr sees x itself.
 */
export const gelu = defop((x: ArrayLike, approximate = true): NDArray => {
  const a = asArray(x);
  if (approximate) {
    const inner = multiply(add(a, multiply(multiply(multiply(a, a), a), 0.044715)), Math.sqrt(2 / Math.PI));
    return multiply(multiply(a, 0.5), add(tanh(inner), 1));
  }
  return multiply(a, ndtr(a));
});

/** exp(x − logsumexp(x)) along `axis`, as one primitive: one fused kernel (XNNPACK's on wasm), its derivative y ⊙ (t − Σ y ⊙ t). */
export const softmax = defop((x: ArrayLike, axis: number | readonly number[] | null = -1): NDArray => {
  let a = asArray(x);
  if (a.dtype !== 'float32') a = astypeRaw(a, 'float32');
  if (typeof axis !== 'number') {
    // Over several axes (or all, null): exp(x − logsumexp(x)), as logSoftmax does.
    return exp(subtract(a, logsumexp(a, axis, true)));
  }
  if (a.ndim === 0) throw new ShapeError(`softmax: expected an array of at least 1 dimension, got a scalar`);
  return bind1('softmax', [a], { axis: normalizeAxis('softmax', axis, a.ndim) });
});
export const logSoftmax = defop((x: ArrayLike, axis = -1): NDArray => {
  const a = asArray(x);
  return subtract(a, logsumexp(a, axis, true));
});

/**
 * One-hot float32 encoding of labels along a new last axis: 1 where the label equals the class
 * index (as JAX: a label that is no class index, such as 0.7 or −1, gives a row of zeros).
 */
export const oneHot = defop((labels: ArrayLike, numClasses: number): NDArray => {
  if (!Number.isInteger(numClasses) || numClasses < 0) throw new ShapeError(`oneHot: expected a non-negative integer number of classes, got ${numClasses}`);
  const given = asArray(labels);
  const l = given.dtype === 'float32' ? given : astypeRaw(given, 'int32');
  const classes = reshape(arange(0, numClasses, 1, l.dtype), [...l.shape.map(() => 1), numClasses]);
  return astypeRaw(equal(reshape(l, [...l.shape, 1]), classes), 'float32');
});

/** Normalises over `axis` to zero mean and unit variance (no learned scale). */
export const standardize = defop((x: ArrayLike, axis: number | number[] = -1, eps = 1e-5): NDArray => {
  const a = asArray(x);
  const mu = mean(a, axis, true);
  const v = variance(a, axis, true);
  return divide(subtract(a, mu), bind1('sqrt', [add(v, eps)], {}));
});

export type Padding = 'SAME' | 'VALID' | readonly [readonly [number, number], readonly [number, number]];

function convPadding(padding: Padding, input: number[], kernel: number[], strides: number[], dilations: number[]): [[number, number], [number, number]] {
  if (padding === 'VALID') return [[0, 0], [0, 0]];
  if (padding === 'SAME') {
    return [0, 1].map((i) => {
      const out = Math.ceil(input[i]! / strides[i]!);
      const k = (kernel[i]! - 1) * dilations[i]! + 1;
      const total = Math.max((out - 1) * strides[i]! + k - input[i]!, 0);
      return [Math.floor(total / 2), total - Math.floor(total / 2)];
    }) as [[number, number], [number, number]];
  }
  return [[padding[0][0], padding[0][1]], [padding[1][0], padding[1][1]]];
}

/**
 * 2-D convolution, NHWC input and HWIO filter (TF's layout). `strides` and `dilations` are a number
 * or a pair; `padding` is 'SAME', 'VALID' or explicit [[top, bottom], [left, right]].
 */
export const conv2d = defop((x: ArrayLike, filter: ArrayLike, options: { strides?: number | [number, number]; padding?: Padding; dilations?: number | [number, number] } = {}): NDArray => {
  let a = asArray(x), w = asArray(filter);
  if (a.dtype !== 'float32') a = astypeRaw(a, 'float32');
  if (w.dtype !== 'float32') w = astypeRaw(w, 'float32');
  const pair = (v: number | [number, number] | undefined): [number, number] => (v === undefined ? [1, 1] : typeof v === 'number' ? [v, v] : v);
  const strides = pair(staticInts('conv2d', 'strides', options.strides)), dilations = pair(staticInts('conv2d', 'dilations', options.dilations));
  if ([...strides, ...dilations].some((v) => !Number.isInteger(v) || v < 1)) {
    throw new ShapeError(`conv2d: strides and dilations must be positive integers, got strides ${JSON.stringify(options.strides)} and dilations ${JSON.stringify(options.dilations)}`);
  }
  if (a.ndim !== 4 || w.ndim !== 4) throw new ShapeError(`conv2d: expected input [N,H,W,C] and filter [kh,kw,C,O], got ${fmtShape(a.shape)} and ${fmtShape(w.shape)}`);
  const padding = convPadding(options.padding ?? 'SAME', a.shape.slice(1, 3), w.shape.slice(0, 2), strides, dilations);
  return bind1('conv2d', [a, w], { strides, padding, dilations });
});

/** Options of maxPool2d and avgPool2d (Flax's `strides` and `padding`; the window is the second argument). */
export interface PoolOptions {
  /**
   * Step between windows, a number or [sh, sw]; default the window shape (non-overlapping windows,
   * as gradus's two-argument call always did). Flax's default is 1: `flax.linen.max_pool(x, (3, 3))`
   * is `maxPool2d(x, 3, { strides: 1 })`.
   */
  strides?: number | readonly [number, number];
  /** 'VALID' (default, as Flax: windows that do not fit are dropped), 'SAME' (ceil(size/stride) outputs), or [[top, bottom], [left, right]]. */
  padding?: Padding;
}

/** A window or stride argument as a pair of positive integers, or an error naming the op and the argument. */
function positivePair(op: string, what: string, given: unknown): [number, number] {
  const v = staticInts(op, what, given);
  const pair = typeof v === 'number' ? [v, v] : v;
  if (!Array.isArray(pair) || pair.length !== 2 || pair.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new ShapeError(`${op}: ${what} must be a positive integer or a pair [h, w] of them, got ${fmtStatic(given)}`);
  }
  return [pair[0] as number, pair[1] as number];
}

/** Padding pairs [[top, bottom], [left, right]] for a pool, checked to be non-negative integers. */
function poolPadding(op: string, padding: unknown, spatial: number[], window: number[], strides: number[]): [[number, number], [number, number]] {
  if (padding === 'SAME' || padding === 'VALID') return convPadding(padding, spatial, window, strides, [1, 1]);
  const p = staticInts(op, 'padding', padding);
  const ok = Array.isArray(p) && p.length === 2 && p.every((q: unknown) => Array.isArray(q) && q.length === 2 && q.every((w) => Number.isInteger(w) && w >= 0));
  if (!ok) throw new ShapeError(`${op}: padding must be 'SAME', 'VALID' or [[top, bottom], [left, right]] of non-negative integers, got ${fmtStatic(padding)}`);
  return convPadding(p as unknown as Padding, spatial, window, strides, [1, 1]);
}

/**
 * Pooling over windows of `windowShape` (a number or [kh, kw]) of an NHWC array, with Flax's
 * `strides` (default the window) and `padding` (default 'VALID', which drops windows that do not
 * fit). Non-overlapping unpadded windows that tile the input are one reshape and one reduction;
 * otherwise each of the kh·kw window offsets is a strided slice of the padded input, and max pooling
 * reduces their stack (kh·kw times the output in memory) with `max`, average pooling adds them.
 * A window larger than the padded input fits nowhere: that output axis is empty (size 0), as with
 * lax.reduce_window and Flax, rather than an error.
 */
function pool(kind: 'max' | 'avg'): (x: ArrayLike, windowShape: number | readonly [number, number], options?: PoolOptions) => NDArray {
  const op = `${kind}Pool2d`;
  return defop((x: ArrayLike, windowShape: number | readonly [number, number], options: PoolOptions = {}, ...rest: unknown[]): NDArray => {
    if (rest.length > 0 || typeof options !== 'object' || options === null || Array.isArray(options)) {
      throw new ShapeError(`${op}: takes (x, windowShape, {strides, padding}); got ${[options, ...rest].map(fmtStatic).join(', ')} after the window shape (strides and padding go in the options object, as { strides: 1, padding: 'SAME' })`);
    }
    const unknownKey = Object.keys(options).find((k) => k !== 'strides' && k !== 'padding');
    if (unknownKey !== undefined) throw new ShapeError(`${op}: unknown option ${JSON.stringify(unknownKey)}; expected strides and padding`);
    const window = positivePair(op, 'windowShape', windowShape);
    const strides = options.strides === undefined ? window : positivePair(op, 'strides', options.strides);
    let a = asArray(x);
    if (a.ndim !== 4) throw new ShapeError(`${op}: expected an NHWC array [N,H,W,C], got shape ${fmtShape(a.shape)}`);
    if (kind === 'avg' && a.dtype !== 'float32') a = astypeRaw(a, 'float32');
    const [n, h, w, c] = a.shape as [number, number, number, number];
    const padding = poolPadding(op, options.padding ?? 'VALID', [h, w], window, strides);
    const padded = [h + padding[0][0] + padding[0][1], w + padding[1][0] + padding[1][1]];
    // lax.reduce_window's size, max(0, ⌊(padded − window) / stride⌋ + 1): a window larger than the padded input gives an empty axis.
    const out = [0, 1].map((i) => Math.max(0, Math.floor((padded[i]! - window[i]!) / strides[i]!) + 1)) as [number, number];
    const unpadded = padding.every((p) => p[0] === 0 && p[1] === 0);
    if (out[0] === 0 || out[1] === 0) {
      // No window: an empty corner of the padded input (out ≤ padded on each axis), so the result
      // keeps its dtype and the gradient of x is zeros through the slice.
      const xp = unpadded ? a : bind1('pad', [a], { lo: [0, padding[0][0], padding[1][0], 0], hi: [0, padding[0][1], padding[1][1], 0], interior: [0, 0, 0, 0], value: 0 });
      return bind1('slice', [xp], { start: [0, 0, 0, 0], limit: [n, out[0], out[1], c], strides: [1, 1, 1, 1] });
    }
    if (unpadded && strides[0] === window[0] && strides[1] === window[1]) {
      // Non-overlapping windows: crop what does not fit, then one reduction over the window axes.
      const cropped = out[0] * window[0] === h && out[1] * window[1] === w ? a : bind1('slice', [a], { start: [0, 0, 0, 0], limit: [n, out[0] * window[0], out[1] * window[1], c], strides: [1, 1, 1, 1] });
      const r = reshape(cropped, [n, out[0], window[0], out[1], window[1], c]);
      return kind === 'max' ? max(r, [2, 4]) : mean(r, [2, 4]);
    }
    // Padding takes the identity of the reduction: −inf (the lowest int, false) for max; 0 for avg,
    // whose divisor stays kh·kw (Flax's count_include_pad=True: padded zeros count as entries).
    const fill = kind === 'avg' ? 0 : dtypeBounds(a.dtype).lowest;
    const xp = unpadded ? a : bind1('pad', [a], { lo: [0, padding[0][0], padding[1][0], 0], hi: [0, padding[0][1], padding[1][1], 0], interior: [0, 0, 0, 0], value: fill });
    const offsets: NDArray[] = [];
    for (let i = 0; i < window[0]; i++) {
      for (let j = 0; j < window[1]; j++) {
        offsets.push(bind1('slice', [xp], { start: [0, i, j, 0], limit: [n, i + (out[0] - 1) * strides[0] + 1, j + (out[1] - 1) * strides[1] + 1, c], strides: [1, strides[0], strides[1], 1] }));
      }
    }
    if (kind === 'avg') return divide(offsets.reduce((acc, o) => add(acc, o)), window[0] * window[1]);
    // One max over the stacked offsets, so that tied entries of a window share its tangent equally (as np.max does).
    const stacked = offsets.length === 1 ? offsets[0]! : bind1('concatenate', offsets.map((o) => reshape(o, [n, out[0], out[1], 1, c])), { axis: 3 });
    return offsets.length === 1 ? stacked : max(stacked, 3);
  }) as (x: ArrayLike, windowShape: number | readonly [number, number], options?: PoolOptions) => NDArray;
}
/**
 * Max pooling of an NHWC array (flax.linen.max_pool, but strides default to the window, not 1):
 * `maxPool2d(x, 2)` takes non-overlapping 2×2 windows; `maxPool2d(x, [3, 3], { strides: 2,
 * padding: 'SAME' })` overlapping padded ones (padding never wins). The derivative goes to each window's maximum; entries tied for a window's maximum
 * share its cotangent equally (np.max's rule; XLA's select_and_scatter gives it all to one of them).
 */
export const maxPool2d = pool('max');
/**
 * Average pooling of an NHWC array (flax.linen.avg_pool with count_include_pad=True; strides default
 * to the window, where Flax's default is 1): every window is divided by kh·kw, so near a 'SAME' or
 * explicit padded border the padded zeros count as entries.
 */
export const avgPool2d = pool('avg');


// JAX-style explicit PRNG keys. A key is an int32 array [2] (a batch of keys: [..., 2]); the same
// key always gives the same numbers; `split` and `foldIn` derive independent keys. Keys are
// ordinary arrays, so `vmap` over `split(key, n)` samples independently per example.
import { ConcreteArray, NDArray, type ArrayLike } from '../array.js';
import { bind1 } from '../core.js';
import { DTypeError, ShapeError, ValueError } from '../errors.js';
import * as tf from '@tensorflow/tfjs-core';
import { asArray, defop } from '../np/convert.js';
import { add, astypeRaw, floor, less, log, minimum, multiply, negative, remainder, subtract } from '../np/elementwise.js';
import { argmax } from '../np/reductions.js';
import { reshape, take } from '../np/shape_ops.js';
import { keyFromSeed } from './threefry.js';
import { broadcastShapes, checkShape, shapesEqual } from '../shape.js';

export type Key = NDArray;

/** A new key from an integer seed (like `jax.random.key` / `PRNGKey`). */
export function key(seed: number): Key {
  const words = keyFromSeed(seed);
  return new ConcreteArray(tf.tensor(new Int32Array(words.buffer, words.byteOffset, 2), [2], 'int32'));
}
export const PRNGKey = key;

function checkKey(op: string, k: Key): NDArray {
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
    if (!Number.isInteger(data) || data < -(2 ** 31) || data >= 2 ** 32) throw new ShapeError(`random.foldIn: expected an integer in [-2³¹, 2³²), got ${data}`);
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
  if (!(maxval > minval)) throw new ShapeError(`random.randint: expected maxval > minval, got [${minval}, ${maxval})`);
  const [lo, hi] = [Math.floor(minval), Math.floor(maxval)];
  const range = hi - lo;
  if (lo < -(2 ** 31) || hi > 2 ** 31 || range > 2 ** 31 - 1) {
    throw new ShapeError(`random.randint: the range [${minval}, ${maxval}) must lie in int32 and span at most 2³¹ − 1 values`);
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
  if (!Number.isInteger(n) || n < 0) throw new ShapeError(`random.permutation: expected a non-negative integer, got ${n}`);
  const perm = bind1('random_bits', [checkKey('permutation', k)], { shape: [n], distribution: 'permutation' });
  return typeof x === 'number' ? perm : take(x, perm, 0);
});

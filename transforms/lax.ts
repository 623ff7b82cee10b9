// Direct primitive wrappers for writing rules (JVP, transpose, batching). Unlike `np`, they do
// no dtype promotion and no rank alignment: rule authors know the shapes they hold.
import * as tf from '@tensorflow/tfjs-core';
import { ConcreteArray, type NDArray } from '../src/array.js';
import type { ShapedArray } from '../src/aval.js';
import { bind1 } from '../src/core.js';
import type { DType } from '../src/dtype.js';
import { shapesEqual } from '../src/shape.js';

/** A constant of `value` with `x`'s rank (all dimensions 1) and dtype, ready to broadcast against it. */
export function constLike(x: { aval: ShapedArray } | ShapedArray, value: number, dtype?: DType): NDArray {
  const aval = 'aval' in x ? x.aval : x;
  return new ConcreteArray(tf.fill(aval.shape.map(() => 1), value, dtype ?? aval.dtype));
}

export function zeros(aval: ShapedArray): NDArray {
  return new ConcreteArray(tf.zeros(aval.shape as number[], aval.dtype));
}

export function onesLike(aval: ShapedArray): NDArray {
  return new ConcreteArray(tf.ones(aval.shape as number[], aval.dtype));
}

export const add = (a: NDArray, b: NDArray): NDArray => bind1('add', [a, b], {});
export const sub = (a: NDArray, b: NDArray): NDArray => bind1('sub', [a, b], {});
export const mul = (a: NDArray, b: NDArray): NDArray => bind1('mul', [a, b], {});
export const div = (a: NDArray, b: NDArray): NDArray => bind1('div', [a, b], {});
export const neg = (a: NDArray): NDArray => bind1('neg', [a], {});
export const select = (p: NDArray, a: NDArray, b: NDArray): NDArray => bind1('select', [p, a, b], {});
export const convert = (a: NDArray, dtype: DType): NDArray => (a.dtype === dtype ? a : bind1('convert_element_type', [a], { dtype }));
export const reshape = (a: NDArray, shape: readonly number[]): NDArray => (shapesEqual(a.shape, shape) ? a : bind1('reshape', [a], { shape: [...shape] }));
export const transpose = (a: NDArray, perm: readonly number[]): NDArray => (perm.every((p, i) => p === i) ? a : bind1('transpose', [a], { perm: [...perm] }));
export const reduceSum = (a: NDArray, axes: readonly number[]): NDArray => (axes.length === 0 ? a : bind1('reduce_sum', [a], { axes: [...axes] }));
export const scale = (a: NDArray, c: number): NDArray => mul(a, constLike(a, c));
export const addScalar = (a: NDArray, c: number): NDArray => add(a, constLike(a, c));

/** Broadcasts `x` (same rank, size-1 dimensions) to `shape`; a no-op when already there. */
export function broadcastToShape(x: NDArray, shape: readonly number[]): NDArray {
  if (shapesEqual(x.shape, shape)) return x;
  if (x.ndim !== shape.length) {
    const offset = shape.length - x.ndim;
    return bind1('broadcast_in_dim', [x], { shape: [...shape], broadcastDimensions: x.shape.map((_, i) => i + offset) });
  }
  return bind1('broadcast_in_dim', [x], { shape: [...shape], broadcastDimensions: x.shape.map((_, i) => i) });
}

/**
 * Sums `ct` down to `shape` (same rank): the transpose of size-1 broadcasting. Used wherever a
 * cotangent flows back into an operand that was broadcast.
 */
export function unbroadcast(ct: NDArray, shape: readonly number[]): NDArray {
  if (shapesEqual(ct.shape, shape)) return ct;
  const lead = ct.ndim - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < ct.ndim; i++) {
    if (i < lead || (shape[i - lead] === 1 && ct.shape[i] !== 1)) axes.push(i);
  }
  return reshape(reduceSum(ct, axes), shape);
}

/** Zero-safe batched matrix product a @ b over the last two axes, leading axes as batch. */
export function batchMatmul(a: NDArray, b: NDArray): NDArray {
  const n = a.ndim;
  const batch = Array.from({ length: n - 2 }, (_, i) => i);
  return bind1('dot_general', [a, b], { contract: [[n - 1], [n - 2]], batch: [batch, batch] });
}

/** Swaps the last two axes. */
export function matrixTranspose(a: NDArray): NDArray {
  const n = a.ndim;
  const perm = Array.from({ length: n }, (_, i) => i);
  perm[n - 1] = n - 2;
  perm[n - 2] = n - 1;
  return transpose(a, perm);
}

/** Identity matrices shaped like the last two axes of `a`, broadcast over its leading axes. */
export function eyeLike(a: ShapedArray): NDArray {
  const n = a.shape[a.ndim - 1]!;
  const eye = tf.tidy(() => tf.reshape(tf.eye(n), [...a.shape.slice(0, -2).map(() => 1), n, n]));
  return new ConcreteArray(eye);
}

/**
 * A constant [1, …, 1, n, n] of rank `ndim` holding `below` under the diagonal, `diagonal` on it and
 * `above` over it, to broadcast against stacks of matrices: triangle masks, and Cholesky's Φ (the
 * lower triangle with the diagonal halved).
 */
export function triangleConst(n: number, ndim: number, below: number, diagonal: number, above: number): NDArray {
  const values = Array.from({ length: n * n }, (_, k) => {
    const i = Math.floor(k / n), j = k % n;
    return i > j ? below : i === j ? diagonal : above;
  });
  return new ConcreteArray(tf.tensor(values, [...Array.from({ length: ndim - 2 }, () => 1), n, n], 'float32'));
}

/**
 * out[..., j, ...] = x[..., idx[..., j, ...], ...] along `axis`, for `idx` (int32) of x's shape
 * or shorter along `axis` (topK's positions): one gather from the flattened x, whose transpose is
 * one scatter_add. Each flat position gets x's offset of its other coordinates, plus idx times the
 * axis stride.
 */
export function takeAlongAxis(x: NDArray, idx: NDArray, axis: number): NDArray {
  const size = idx.size;
  if (size === 0) {
    // Nothing to gather (and x may be empty too): the empty result as a slice of x, so it stays linear in x.
    return idx.shape[axis] === x.shape[axis] ? x : bind1('slice', [x], { start: x.shape.map(() => 0), limit: idx.shape, strides: x.shape.map(() => 1) });
  }
  const n = x.shape[axis]!, m = idx.shape[axis]!;
  const stride = x.shape.slice(axis + 1).reduce((p, d) => p * d, 1);
  const offsets = new Int32Array(size);
  for (let f = 0; f < size; f++) offsets[f] = Math.floor(f / (m * stride)) * n * stride + (f % stride);
  const flatIdx = add(mul(idx, constLike(idx, stride)), new ConcreteArray(tf.tensor(offsets, idx.shape, 'int32')));
  return bind1('gather', [reshape(x, [x.size]), flatIdx], { axis: 0 });
}

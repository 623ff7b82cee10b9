// Batching rules for the first-order primitives: given operands with a batch dimension each
// (null = not batched), apply the primitive to the whole batch at once and report where the
// batch dimension of each output is. No rule loops over examples.
import * as tf from '@tensorflow/tfjs-core';
import { ConcreteArray, type NDArray } from '../src/array.js';
import { bind, bind1 } from '../src/core.js';
import type { BinaryPrimitive, ComparisonPrimitive, ParamsOf, Primitive, UnaryPrimitive } from '../src/primitives.js';
import { moveAxisPerm } from '../src/shape.js';
import { add, mul, reshape, transpose } from './lax.js';
import { UNARY_PRIMITIVES, BINARY_PRIMITIVES, COMPARISON_PRIMITIVES } from '../src/primitives.js';

export type BatchDim = number | null;
export type BatchRule<P extends Primitive> = (vals: NDArray[], dims: BatchDim[], params: ParamsOf<P>, axisSize: number) => [NDArray[], BatchDim[]];

/** Moves the batch dimension of `x` to position `to` (a no-op if already there). */
export function moveBatchAxis(x: NDArray, from: number, to: number): NDArray {
  if (from === to) return x;
  return transpose(x, moveAxisPerm(x.ndim, from, to));
}

/** `x` with its batch dimension at 0; an unbatched `x` is broadcast to `size` copies. */
export function batchedAtFront(x: NDArray, d: BatchDim, size: number): NDArray {
  if (d !== null) return moveBatchAxis(x, d, 0);
  return bind1('broadcast_in_dim', [x], { shape: [size, ...x.shape], broadcastDimensions: x.shape.map((_, i) => i + 1) });
}

/** Maps an axis of the unbatched operand to its position when the batch dimension sits at `bdim`. */
const shiftAxis = (axis: number, bdim: number): number => (axis < bdim ? axis : axis + 1);

/**
 * Elementwise primitives: batched operands get their batch dimension at 0; unbatched ones get a
 * size-1 axis there, which the kernels broadcast (nothing is materialised).
 */
function elementwise<P extends Primitive>(prim: P): BatchRule<P> {
  return (vals, dims, params) => {
    const first = dims.find((d) => d !== null)!;
    if (dims.every((d) => d === first)) return sameDim(prim, vals, params, first);
    const xs = vals.map((v, i) => (dims[i] === null ? reshape(v, [1, ...v.shape]) : moveBatchAxis(v, dims[i]!, 0)));
    const outs = bind(prim, xs, params);
    return [outs, outs.map(() => 0)];
  };
}

function sameDim<P extends Primitive>(prim: P, vals: NDArray[], params: ParamsOf<P>, d: number): [NDArray[], BatchDim[]] {
  const outs = bind(prim, vals, params);
  return [outs, outs.map(() => d)];
}

/** Primitives with one operand whose parameters name axes: re-index around the batch dimension. */
function reduceRule<P extends 'reduce_sum' | 'reduce_max' | 'reduce_min'>(prim: P): BatchRule<P> {
  return ([x], [d], params) => {
    const axes = params.axes.map((a) => shiftAxis(a, d!));
    const out = bind1(prim, [x!], { axes } as ParamsOf<P>);
    return [[out], [d! - params.axes.filter((a) => a < d!).length]];
  };
}

function argRule<P extends 'argmax' | 'argmin'>(prim: P): BatchRule<P> {
  return ([x], [d], { axis }) => {
    const out = bind1(prim, [x!], { axis: shiftAxis(axis, d!) } as ParamsOf<P>);
    return [[out], [axis < d! ? d! - 1 : d!]];
  };
}

function randomKeyRule<P extends 'random_bits' | 'random_split'>(prim: P): BatchRule<P> {
  return ([key], [d], params) => [[bind1(prim, [moveBatchAxis(key!, d!, 0)], params)], [0]];
}

type FirstOrder = Exclude<Primitive, 'jit_call' | 'remat' | 'custom_jvp_call' | 'custom_vjp_call' | 'custom_lin' | 'scan' | 'while' | 'cond'>;

const elementwiseRules = Object.fromEntries(
  [...UNARY_PRIMITIVES, ...BINARY_PRIMITIVES, ...COMPARISON_PRIMITIVES, 'select', 'convert_element_type', 'stop_gradient', 'checkpoint_name'].map((p) => [p, elementwise(p as Primitive)]),
) as { [P in UnaryPrimitive | BinaryPrimitive | ComparisonPrimitive | 'select' | 'convert_element_type' | 'stop_gradient' | 'checkpoint_name']: BatchRule<P> };

function iota(n: number, shape: number[]): NDArray {
  return new ConcreteArray(tf.tidy(() => tf.reshape(tf.range(0, n, 1, 'int32'), shape)));
}

export const firstOrderBatchRules: { [P in FirstOrder]: BatchRule<P> } = {
  ...elementwiseRules,
  reduce_sum: reduceRule('reduce_sum'),
  reduce_max: reduceRule('reduce_max'),
  reduce_min: reduceRule('reduce_min'),
  argmax: argRule('argmax'),
  polygamma: elementwise('polygamma'),
  clamp: elementwise('clamp'),
  softmax: ([x], [d], { axis }) => [[bind1('softmax', [x!], { axis: shiftAxis(axis, d!) })], [d!]],
  argmin: argRule('argmin'),
  sort: ([x], [d], params) => [bind('sort', [x!], { ...params, axis: shiftAxis(params.axis, d!) }), [d, d]],
  cumsum: ([x], [d], { axis, reverse }) => [[bind1('cumsum', [x!], { axis: shiftAxis(axis, d!), reverse })], [d]],
  rev: ([x], [d], { axes }) => [[bind1('rev', [x!], { axes: axes.map((a) => shiftAxis(a, d!)) })], [d]],
  broadcast_in_dim: ([x], [d], { shape, broadcastDimensions }, size) => {
    const xb = moveBatchAxis(x!, d!, 0);
    return [[bind1('broadcast_in_dim', [xb], { shape: [size, ...shape], broadcastDimensions: [0, ...broadcastDimensions.map((b) => b + 1)] })], [0]];
  },
  reshape: ([x], [d], { shape }, size) => [[reshape(moveBatchAxis(x!, d!, 0), [size, ...shape])], [0]],
  transpose: ([x], [d], { perm }) => [[bind1('transpose', [moveBatchAxis(x!, d!, 0)], { perm: [0, ...perm.map((p) => p + 1)] })], [0]],
  slice: ([x], [d], { start, limit, strides }) => {
    const n = x!.shape[d!]!;
    const ins = <T,>(arr: T[], v: T) => [...arr.slice(0, d!), v, ...arr.slice(d!)];
    return [[bind1('slice', [x!], { start: ins(start, 0), limit: ins(limit, n), strides: ins(strides, 1) })], [d]];
  },
  pad: ([x], [d], { lo, hi, interior, value }) => {
    const ins = (arr: number[]) => [...arr.slice(0, d!), 0, ...arr.slice(d!)];
    return [[bind1('pad', [x!], { lo: ins(lo), hi: ins(hi), interior: ins(interior), value })], [d]];
  },
  concatenate: (xs, dims, { axis }, size) => [[bind1('concatenate', xs.map((x, i) => batchedAtFront(x, dims[i]!, size)), { axis: axis + 1 })], [0]],
  gather: ([x, idx], [dx, di], { axis }, size) => {
    if (di === null) return [[bind1('gather', [x!, idx!], { axis: shiftAxis(axis, dx!) })], [axis < dx! ? dx! - 1 + idx!.ndim : dx!]];
    const ib = moveBatchAxis(idx!, di, 0);
    if (dx === null) return [[bind1('gather', [x!, ib], { axis })], [axis]];
    // Both batched: fold the batch into the gathered axis and offset the indices per example.
    const xb = moveBatchAxis(x!, dx, 0); // [B, pre, N, post]
    const n = xb.shape[axis + 1]!;
    const x2 = moveBatchAxis(xb, axis + 1, 1); // [B, N, pre, post]
    const x3 = reshape(x2, [size * n, ...x2.shape.slice(2)]);
    const offsets = mul(iota(size, [size, ...ib.shape.slice(1).map(() => 1)]), new ConcreteArray(tf.fill(ib.shape.map(() => 1), n, 'int32')));
    const g = bind1('gather', [x3, add(ib, offsets)], { axis: 0 }); // [B, idx..., pre, post]
    const k = ib.ndim - 1, p = axis;
    const rest = g.ndim - 1 - k - p;
    const perm = [0, ...range(p).map((i) => 1 + k + i), ...range(k).map((i) => 1 + i), ...range(rest).map((i) => 1 + k + p + i)];
    return [[transpose(g, perm)], [0]];
  },
  scatter_add: ([idx, upd], [di, du], { axis, axisSize }, size) => {
    if (di === null) return [[bind1('scatter_add', [idx!, moveBatchAxis(upd!, du!, 0)], { axis: axis + 1, axisSize })], [0]];
    const ib = moveBatchAxis(idx!, di, 0); // [B, k...]
    const ub = batchedAtFront(upd!, du, size); // [B, pre, k, post]
    const k = ib.ndim - 1;
    const p = axis;
    const post = ub.ndim - 1 - p - k;
    // [B, pre, idx, post] -> [B, idx, pre, post]; scatter into B*axisSize rows, then unfold.
    const perm = [0, ...range(k).map((i) => 1 + p + i), ...range(p).map((i) => 1 + i), ...range(post).map((i) => 1 + p + k + i)];
    const u2 = transpose(ub, perm);
    const offsets = mul(iota(size, [size, ...ib.shape.slice(1).map(() => 1)]), new ConcreteArray(tf.fill(ib.shape.map(() => 1), axisSize, 'int32')));
    const s = bind1('scatter_add', [add(ib, offsets), u2], { axis: 0, axisSize: size * axisSize }); // [B*axisSize, pre, post]
    const s2 = reshape(s, [size, axisSize, ...s.shape.slice(1)]); // [B, axisSize, pre, post]
    return [[moveBatchAxis(s2, 1, 1 + p)], [0]];
  },
  dot_general: ([a, b], [da, db], { contract: [ca, cb], batch: [ba, bb] }) => {
    if (da !== null && db !== null) {
      const a0 = moveBatchAxis(a!, da, 0), b0 = moveBatchAxis(b!, db, 0);
      const out = bind1('dot_general', [a0, b0], {
        contract: [ca.map((c) => c + 1), cb.map((c) => c + 1)],
        batch: [[0, ...ba.map((c) => c + 1)], [0, ...bb.map((c) => c + 1)]],
      });
      return [[out], [0]];
    }
    if (da !== null) {
      // The batch dimension rides along as a free dimension of the left operand.
      const caS = ca.map((c) => shiftAxis(c, da)), baS = ba.map((c) => shiftAxis(c, da));
      const out = bind1('dot_general', [a!, b!], { contract: [caS, cb], batch: [baS, bb] });
      const freeBefore = range(a!.ndim).filter((i) => i < da && !caS.includes(i) && !baS.includes(i)).length;
      return [[out], [ba.length + freeBefore]];
    }
    const cbS = cb.map((c) => shiftAxis(c, db!)), bbS = bb.map((c) => shiftAxis(c, db!));
    const out = bind1('dot_general', [a!, b!], { contract: [ca, cbS], batch: [ba, bbS] });
    const freeA = a!.ndim - ca.length - ba.length;
    const freeBefore = range(b!.ndim).filter((i) => i < db! && !cbS.includes(i) && !bbS.includes(i)).length;
    return [[out], [ba.length + freeA + freeBefore]];
  },
  conv2d: ([x, w], [dx, dw], params, size) => {
    if (dw === null) {
      // Fold the batch into the images.
      const xb = moveBatchAxis(x!, dx!, 0);
      const out = bind1('conv2d', [reshape(xb, [size * xb.shape[1]!, ...xb.shape.slice(2)]), w!], params);
      return [[reshape(out, [size, xb.shape[1]!, ...out.shape.slice(1)])], [0]];
    }
    const wb = moveBatchAxis(w!, dw, 0); // [B, kh, kw, C, O]
    const [, kh, kw, c, o] = wb.shape as [number, number, number, number, number];
    if (dx === null) {
      // Fold the batch into the output channels.
      const w2 = reshape(transpose(wb, [1, 2, 3, 0, 4]), [kh, kw, c, size * o]);
      const out = bind1('conv2d', [x!, w2], params); // [N, Ho, Wo, B*O]
      return [[reshape(out, [...out.shape.slice(0, 3), size, o])], [3]];
    }
    // Both batched: one convolution with a block-diagonal filter over (B*C) -> (B*O) channels.
    const xb = moveBatchAxis(x!, dx, 0); // [B, N, H, W, C]
    const x2 = reshape(transpose(xb, [1, 2, 3, 0, 4]), [xb.shape[1]!, xb.shape[2]!, xb.shape[3]!, size * c]);
    const wt = reshape(transpose(wb, [1, 2, 0, 3, 4]), [kh, kw, size, c, 1, o]);
    const eye = new ConcreteArray(tf.tidy(() => tf.reshape(tf.eye(size), [1, 1, size, 1, size, 1])));
    const blocks = reshape(mul(wt, eye), [kh, kw, size * c, size * o]);
    const out = bind1('conv2d', [x2, blocks], params); // [N, Ho, Wo, B*O]
    return [[reshape(out, [...out.shape.slice(0, 3), size, o])], [3]];
  },
  matrix_inverse: ([a], [d]) => [[bind1('matrix_inverse', [moveBatchAxis(a!, d!, 0)], {})], [0]],
  det: ([a], [d]) => [[bind1('det', [moveBatchAxis(a!, d!, 0)], {})], [0]],
  adjugate: ([a], [d]) => [[bind1('adjugate', [moveBatchAxis(a!, d!, 0)], {})], [0]],
  adjugate_tangent: ([a, t], [da, dt], _p, size) => [[bind1('adjugate_tangent', [batchedAtFront(a!, da!, size), batchedAtFront(t!, dt!, size)], {})], [0]],
  adjugate_second_tangent: ([a, t, s], [da, dt, ds], _p, size) => [[bind1('adjugate_second_tangent', [batchedAtFront(a!, da!, size), batchedAtFront(t!, dt!, size), batchedAtFront(s!, ds!, size)], {})], [0]],
  slogdet: ([a], [d]) => {
    const outs = bind('slogdet', [moveBatchAxis(a!, d!, 0)], {});
    return [outs, [0, 0]];
  },
  linear_solve: ([a, b], [da, db], _p, size) => [[bind1('linear_solve', [batchedAtFront(a!, da!, size), batchedAtFront(b!, db!, size)], {})], [0]],
  cholesky: ([a], [d]) => [[bind1('cholesky', [moveBatchAxis(a!, d!, 0)], {})], [0]],
  triangular_solve: ([a, b], [da, db], params, size) => {
    if (da === null) {
      // One matrix for the whole batch: the examples' right-hand sides become more columns of one
      // solve ([..., n, k, B] -> [..., n, k·B]), and the matrix is not copied B times.
      const moved = moveBatchAxis(b!, db!, b!.ndim - 1);
      const cols = reshape(moved, [...moved.shape.slice(0, -2), moved.shape[moved.ndim - 2]! * size]);
      const x = bind1('triangular_solve', [a!, cols], params);
      return [[reshape(x, moved.shape)], [moved.ndim - 1]];
    }
    return [[bind1('triangular_solve', [moveBatchAxis(a!, da, 0), batchedAtFront(b!, db!, size)], params)], [0]];
  },
  // The decompositions act on the last two axes: the batch joins the stack at 0.
  eigh: ([a], [d], params) => [bind('eigh', [moveBatchAxis(a!, d!, 0)], params), params.computeVectors ? [0, 0] : [0]],
  svd: ([a], [d], params) => {
    const outs = bind('svd', [moveBatchAxis(a!, d!, 0)], params);
    return [outs, outs.map(() => 0)];
  },
  random_bits: randomKeyRule('random_bits'),
  random_split: randomKeyRule('random_split'),
  random_fold_in: ([key, data], [dk, dd], _p, size) => [[bind1('random_fold_in', [batchedAtFront(key!, dk!, size), batchedAtFront(data!, dd!, size)], {})], [0]],
  // ---- QR: the batch is one more axis of the stack.
  qr: ([a], [d], params) => [bind('qr', [moveBatchAxis(a!, d!, 0)], params), [0, 0]],
};

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

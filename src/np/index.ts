// The `np` namespace: NumPy-style functions over gradus arrays. Every function goes through
// primitives, so every transformation (grad, vmap, jit, ...) sees through it.
import { ConcreteArray, arrayMethods, type ArrayLike, type NDArray } from '../array.js';
import type { DType } from '../dtype.js';
import '../executor.js';
import * as convert from './convert.js';
import { disposedOperand } from '../eval.js';
import * as elementwise from './elementwise.js';
import * as linalgOps from './linalg.js';
import * as nn from './nn.js';
import * as reductions from './reductions.js';
import * as shapeOps from './shape_ops.js';
import * as indexUpdate from './index_update.js';
import * as sorting from './sorting.js';
import * as special from './special.js';

// convert.ts's helpers for the other np files (weakConstant, nameOps, astypeHook) stay
// out of the namespace: only its constructors and defop (for users' own ops) are np's.
export { defop, copy, array, full, zeros, ones, zerosLike, onesLike, fullLike, arange, linspace, eye } from './convert.js';
export * from './elementwise.js';
export * from './reductions.js';
export * from './shape_ops.js';
export * from './linalg.js';
export type { CondOrder, EighOptions, MatrixRankOptions, PinvOptions, SvdFunction, SvdOptions } from './decompositions.js';
export type { LstsqOptions } from './lstsq.js';
export * from './nn.js';
export * from './sorting.js';
export * from './special.js';
export { at, segmentSum, type IndexUpdate, type UpdateIndex } from './index_update.js';

/**
 * Converts numbers, nested arrays, TF.js tensors and gradus arrays to a gradus array; an array is
 * handed back as it is (jnp.asarray without a copy), but a freed one is refused with the
 * DisposedError naming asArray, as every op refuses a freed argument (defop). Ops call convert's
 * asArray on their operands, so a freed operand there is reported by the op using it.
 */
export function asArray(x: ArrayLike, dtype?: DType): NDArray {
  if (x instanceof ConcreteArray && x.isDisposed) throw disposedOperand('asArray', 0, x);
  return convert.asArray(x, dtype);
}

Object.assign(arrayMethods, {
  add: elementwise.add,
  sub: elementwise.subtract,
  mul: elementwise.multiply,
  div: elementwise.divide,
  pow: elementwise.power,
  neg: elementwise.negative,
  matmul: linalgOps.matmul,
  sum: reductions.sum,
  mean: reductions.mean,
  max: reductions.max,
  min: reductions.min,
  reshape: shapeOps.reshape,
  transpose: shapeOps.transpose,
  astype: elementwise.astype,
  exp: elementwise.exp,
  log: elementwise.log,
  sqrt: elementwise.sqrt,
  square: elementwise.square,
  abs: elementwise.abs,
  tanh: elementwise.tanh,
  equal: elementwise.equal,
  greater: elementwise.greater,
  less: elementwise.less,
  greaterEqual: elementwise.greaterEqual,
  lessEqual: elementwise.lessEqual,
  squeeze: shapeOps.squeeze,
  expandDims: shapeOps.expandDims,
  flatten: shapeOps.ravel,
  take: shapeOps.take,
  index: shapeOps.index,
  update: (x: import('../array.js').NDArray, spec: readonly indexUpdate.UpdateIndex[]) => indexUpdate.at(x, ...spec),
});

// Errors name an op as its caller spells it: np.linalg's as linalg.<name> (first, so that those
// exported at the top level too keep that name), then every other op after its export.
convert.nameOps(linalgOps.linalg, 'linalg.');
// An alias is the same function as the op (np.div is np.divide), so it has one name, and the first
// key met would win (div, mul, pow, flatten; the order of a module's keys differs between loaders):
// errors use NumPy's name (SciPy's gammaln, JAX's silu) instead.
convert.nameOps({
  divide: elementwise.divide, multiply: elementwise.multiply, power: elementwise.power, subtract: elementwise.subtract, negative: elementwise.negative,
  remainder: elementwise.remainder, ravel: shapeOps.ravel, var: reductions.variance, gammaln: special.gammaln, silu: nn.silu,
});
for (const ops of [convert, elementwise, reductions, shapeOps, linalgOps, nn, sorting, special, indexUpdate]) convert.nameOps(ops);

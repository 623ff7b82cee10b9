// stopGradient and the idioms built on it (algorithms.md §2.2, §7g).
import type { ArrayLike, NDArray } from '../src/array.js';
import { bind1 } from '../src/core.js';
import { isDifferentiable, promoteTypes } from '../src/dtype.js';
import { asArray } from '../src/np/convert.js';
import { add, astype, multiply, subtract } from '../src/np/elementwise.js';
import * as tree from '../src/tree.js';
import { customJvp } from './custom.js';
import { broadcastShapes } from '../src/shape.js';
import { broadcastTo } from '../src/np/shape_ops.js';

/**
 * The identity whose derivative is zero, at every order and under every transformation. Works
 * on a single array or on any pytree of arrays (e.g. a whole parameter tree).
 */
export function stopGradient<T>(x: T): T {
  return tree.map((leaf: unknown) => {
    const a = asArray(leaf as ArrayLike);
    return isDifferentiable(a.dtype) ? bind1('stop_gradient', [a], {}) : a;
  }, x) as T;
}

/**
 * Straight-through estimator: the value of `f(x)`, the derivative of the identity (what
 * x + sg(f(x) − x) computes, as in VQ-VAE, broadcasting included). Written as a custom JVP rule
 * rather than that sum, so the value is f(x) exactly, also where x is ±∞ (where the sum gives NaN).
 */
export function straightThrough(x: ArrayLike, f: (x: NDArray) => NDArray): NDArray {
  const a = asArray(x);
  // f(x) in the dtype and shape the sum would have.
  const value = (v: NDArray): NDArray => {
    const y = f(v);
    const dtype = promoteTypes(v.dtype, y.dtype);
    const shape = broadcastShapes('straightThrough', v.shape, y.shape);
    return broadcastTo(y.dtype === dtype ? y : astype(y, dtype), shape);
  };
  if (!isDifferentiable(a.dtype)) return value(a);
  return customJvp(value, ([v], [t]) => {
    const y = value(v);
    return [y, broadcastTo(t, y.shape)];
  })(a);
}

/**
 * Gradient reversal: value x, derivative −λ (algorithms.md §2.2, "gradient sign trick": what
 * −λx + sg((1+λ)x) computes, without its NaN at ±∞). With it a single loss trains both sides of a
 * zero-sum game.
 */
export function gradientReversal(x: ArrayLike, lambda = 1): NDArray {
  const a = asArray(x);
  if (!isDifferentiable(a.dtype)) return a;
  return customJvp((v: NDArray) => v, ([v], [t]) => [v, multiply(t, -lambda)])(a);
}

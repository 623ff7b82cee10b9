// stopGradient and the idioms built on it (algorithms.md §2.2, §7g).
import type { ArrayLike, NDArray } from '../src/array.js';
import { bind1 } from '../src/core.js';
import { isDifferentiable } from '../src/dtype.js';
import { asArray } from '../src/np/convert.js';
import { add, multiply, subtract } from '../src/np/elementwise.js';
import * as tree from '../src/tree.js';

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
 * Straight-through estimator: the value of `f(x)`, the derivative of the identity
 * (x + sg(f(x) − x), as in VQ-VAE).
 */
export function straightThrough(x: ArrayLike, f: (x: NDArray) => NDArray): NDArray {
  const a = asArray(x);
  return add(a, stopGradient(subtract(f(a), a)));
}

/**
 * Gradient reversal: value x, derivative −λ (−λx + sg((1+λ)x)). With it a single loss trains
 * both sides of a zero-sum game (algorithms.md §2.2, "gradient sign trick").
 */
export function gradientReversal(x: ArrayLike, lambda = 1): NDArray {
  const a = asArray(x);
  return add(multiply(a, -lambda), stopGradient(multiply(a, 1 + lambda)));
}

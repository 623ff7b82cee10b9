// stopGradient and the idioms built on it (algorithms.md §2.2, §7g).
import type { ArrayLike, NDArray } from '../src/array.js';
import { bind1 } from '../src/core.js';
import { isDifferentiable } from '../src/dtype.js';
import { TransformError } from '../src/errors.js';
import { asArray, defop } from '../src/np/convert.js';
import { isfinite, multiply, subtract, where } from '../src/np/elementwise.js';
import * as tree from '../src/tree.js';

/**
 * The identity whose derivative is zero, at every order and under every transformation. Works
 * on a single array or on any pytree of arrays (e.g. a whole parameter tree).
 */
export const stopGradient = defop(function stopGradient<T>(x: T): T {
  return tree.map((leaf: unknown) => {
    const a = asArray(leaf as ArrayLike);
    return isDifferentiable(a.dtype) ? bind1('stop_gradient', [a], {}) : a;
  }, x) as T;
});

/**
 * Straight-through estimator: the value of `f(x)`, the derivative of the identity at every order
 * (what x + sg(f(x) − x) computes, as in VQ-VAE). Written as sg(f(x)) − (sg(x) − x), whose value
 * is f(x) exactly (the sum rounds); where x is ±∞ or NaN (x − x is NaN there) it is sg(f(x)), with
 * derivative 0.
 * `f` runs once, on the values it is given (it may read them: `dataSync` works outside `jit`).
 */
export const straightThrough = defop(function straightThrough(x: ArrayLike, f: (x: NDArray) => NDArray): NDArray {
  if (typeof f !== 'function') throw new TransformError(`straightThrough: expected a function f (the forward value is f(x)), got ${typeof f}`);
  const a = asArray(x);
  const fx = stopGradient(f(a));
  if (!isDifferentiable(a.dtype)) return fx;
  return where(isfinite(a), subtract(fx, subtract(stopGradient(a), a)), fx);
});

/**
 * Gradient reversal: value x, derivative −λ at every order (algorithms.md §2.2, "gradient sign
 * trick": what −λx + sg((1+λ)x) computes). Written as sg(x) − λ·(x − sg(x)), whose value is x
 * exactly (the sum rounds for most λ, and is NaN at ±∞; there this is sg(x), with derivative 0).
 * With it a single loss trains both sides of a zero-sum game.
 */
export const gradientReversal = defop(function gradientReversal(x: ArrayLike, lambda = 1): NDArray {
  // (A JS-number λ is checked; an array or traced λ is the caller's.)
  if (typeof lambda === 'number' && !Number.isFinite(lambda)) throw new TransformError(`gradientReversal: lambda must be a finite number, got ${lambda}`);
  const a = asArray(x);
  if (!isDifferentiable(a.dtype)) return a;
  const s = stopGradient(a);
  return where(isfinite(a), subtract(s, multiply(subtract(a, s), lambda)), s);
});

// jax.scipy.special functions: lgamma and its derivatives digamma and trigamma (float64 kernels in
// src/special.ts, rounded once).
import type { ArrayLike, NDArray } from '../array.js';
import { bind1 } from '../core.js';
import { ValueError } from '../errors.js';
import { defop } from './convert.js';
import { elementwiseOperands } from './elementwise.js';

/** ln|Γ(x)| (jax.scipy.special.gammaln, jax.lax.lgamma): +inf at 0, the negative integers and ±inf. Its derivative is digamma. */
export const gammaln = defop((x: ArrayLike): NDArray => bind1('lgamma', elementwiseOperands([x], 'float', 'gammaln'), {}));
export const lgamma = gammaln;

/** ψ(x) = d/dx ln Γ(x) (jax.scipy.special.digamma): NaN at 0 and the negative integers. Its derivative is polygamma(1, x). */
export const digamma = defop((x: ArrayLike): NDArray => bind1('digamma', elementwiseOperands([x], 'float', 'digamma'), {}));

/**
 * ψ⁽ⁿ⁾(x), the n-th derivative of digamma (jax.scipy.special.polygamma), for n = 0 (digamma) and
 * n = 1 (trigamma, +inf at 0 and the negative integers). polygamma(1, x) has no derivative here:
 * ψ₂ has no kernel, and differentiating it throws rather than give a wrong zero.
 */
export const polygamma = defop((n: number, x: ArrayLike): NDArray => {
  if (n === 0) return digamma(x);
  if (n === 1) return bind1('trigamma', elementwiseOperands([x], 'float', 'polygamma'), {});
  throw new ValueError(`polygamma: order n must be 0 or 1 (digamma or trigamma), got ${String(n)}`);
});

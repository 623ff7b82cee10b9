// jax.scipy.special functions: lgamma and its derivatives digamma and polygamma (trigamma is
// polygamma(1, ·); float64 kernels in src/special.ts, rounded once), and xlogy/xlog1py, which are 0
// where x = 0 with JAX's custom JVP.
import type { ArrayLike, NDArray } from '../array.js';
import { bind1 } from '../core.js';
import { ValueError } from '../errors.js';
import { broadcastShapes } from '../shape.js';
import { customJvp } from '../../transforms/custom.js';
import { asArray, defop, weakConstant } from './convert.js';
import { add, divide, equal, log, log1p, multiply, where } from './elementwise.js';
import { atRank, elementwiseOperands } from './operands.js';

/** ln|Γ(x)| (jax.scipy.special.gammaln, jax.lax.lgamma): +inf at 0, the negative integers and ±inf. Its derivative is digamma. */
export const gammaln = defop((x: ArrayLike): NDArray => bind1('lgamma', elementwiseOperands([x], 'float', 'gammaln'), {}));
export const lgamma = gammaln;

/** ψ(x) = d/dx ln Γ(x) (jax.scipy.special.digamma): NaN at 0 and the negative integers. Its derivative is polygamma(1, x). */
export const digamma = defop((x: ArrayLike): NDArray => bind1('digamma', elementwiseOperands([x], 'float', 'digamma'), {}));

/**
 * ψ⁽ⁿ⁾(x), the n-th derivative of digamma (jax.scipy.special.polygamma): n an integer order, a JS
 * integer or an int32 array (JAX takes integer dtypes only), broadcast against x; traced n works
 * under jit and vmap. Digamma for n = 0, trigamma for n = 1; float64 kernels (src/special.ts: the
 * recurrence up, then the asymptotic series, and the reflection below 0), rounded once. As JAX (XLA):
 * NaN where n < 0, (−1)ⁿ⁺¹·inf at 0 and the negative integers for n ≥ 1. Its derivative in x is
 * polygamma(n + 1, x) at every order; n, an integer, has none.
 * @example polygamma(2, 1) // −2ζ(3) ≈ −2.4041138
 */
export const polygamma = defop((n: ArrayLike, x: ArrayLike): NDArray => {
  if (typeof n === 'number') {
    if (!Number.isInteger(n) || Math.abs(n) > 2 ** 31 - 1) {
      throw new ValueError(`polygamma: the order n must be an integer (a JS integer or an int32 array, as JAX takes integer dtypes only), got ${n}`);
    }
    // A scalar order 0 is digamma's own primitive (JAX's polygamma selects digamma there too).
    if (n === 0) return digamma(x);
  }
  const [arg] = elementwiseOperands([x], 'float', 'polygamma') as [NDArray];
  let order: NDArray;
  if (typeof n === 'number') {
    order = weakConstant(n, 'int32', arg.ndim);
  } else {
    order = asArray(n);
    if (order.dtype !== 'int32') {
      throw new ValueError(`polygamma: the order n must have an integer dtype (an int32 array or a JS integer, as JAX requires), got ${order.aval.str()}`);
    }
  }
  broadcastShapes('polygamma', order.shape, arg.shape);
  const ndim = Math.max(order.ndim, arg.ndim);
  return bind1('polygamma', [atRank(order, ndim), atRank(arg, ndim)], {});
});

type Binary = (x: NDArray, y: NDArray) => NDArray;
let xlogyCore: Binary | null = null;
let xlog1pyCore: Binary | null = null;

/**
 * x·g(y), 0 where x = 0 (even where g(y) is ±inf or NaN), with JAX's custom JVP
 * x_dot·g(y) + y_dot·x·g′(y): written out, not derived through the select, so d/dx at x = 0 is
 * g(y) and not 0. Made on first use (customJvp traces).
 */
function zeroAtZeroX(g: (y: NDArray) => NDArray, dg: (x: NDArray, y: NDArray) => NDArray): Binary {
  const f = (x: NDArray, y: NDArray): NDArray => where(equal(x, 0), 0, multiply(x, g(y)));
  const core: Binary = customJvp(f, ([x, y]: [NDArray, NDArray], [tx, ty]: [NDArray, NDArray]): [NDArray, NDArray] => {
    return [core(x, y), add(multiply(tx, g(y)), multiply(ty, dg(x, y)))];
  });
  return core;
}

/** x·log(y), 0 where x = 0 (jax.scipy.special.xlogy); float32, broadcasting. Derivatives as JAX: log(y) in x, x/y in y. */
export const xlogy = defop((x: ArrayLike, y: ArrayLike): NDArray => {
  xlogyCore ??= zeroAtZeroX(log, (x, y) => divide(x, y));
  const [a, b] = elementwiseOperands([x, y], 'float', 'xlogy');
  return xlogyCore(a!, b!);
});

/** x·log1p(y), 0 where x = 0 (jax.scipy.special.xlog1py); float32, broadcasting. Derivatives as JAX: log1p(y) in x, x/(1 + y) in y. */
export const xlog1py = defop((x: ArrayLike, y: ArrayLike): NDArray => {
  xlog1pyCore ??= zeroAtZeroX(log1p, (x, y) => divide(x, add(y, 1)));
  const [a, b] = elementwiseOperands([x, y], 'float', 'xlog1py');
  return xlog1pyCore(a!, b!);
});



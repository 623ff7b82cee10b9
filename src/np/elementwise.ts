// Elementwise math with NumPy semantics: dtype promotion (bool < int32 < float32, JS scalars are
// "weak" and adopt the array's dtype), rank alignment (both in operands.ts), and size-1
// broadcasting (done by the kernels).
import { ConcreteArray, NDArray, type ArrayLike } from '../array.js';
import { bind1 } from '../core.js';
import { checkDtype, type DType } from '../dtype.js';
import { broadcastShapes } from '../shape.js';
import { DTypeError, ValueError } from '../errors.js';
import type { BinaryPrimitive, ComparisonPrimitive, UnaryPrimitive } from '../primitives.js';
import { asArray, defop, full } from './convert.js';
import { astypeRaw, atRank, broadcastingOperands, elementwiseOperands, isWeak, type DtypeMode } from './operands.js';

/** `x.astype(dtype)`: converts (floats to ints truncate toward zero; nonzero to bool is true). */
export const astype = defop((x: ArrayLike, dtype: DType): NDArray => astypeRaw(asArray(x), checkDtype(dtype, 'astype')));

function unary(prim: UnaryPrimitive, name: string, mode: DtypeMode = 'float') {
  return defop((x: ArrayLike): NDArray => bind1(prim, elementwiseOperands([x], mode, name), {}));
}

/** NumPy's bool arithmetic: + and max are logical or, * and min logical and, - is an error. */
const boolBinary: Partial<Record<BinaryPrimitive, 'and' | 'or' | 'int'>> = { add: 'or', max: 'or', mul: 'and', min: 'and', rem: 'int' };

function binary(prim: BinaryPrimitive, name: string, mode: DtypeMode = 'keep') {
  return defop((x: ArrayLike, y: ArrayLike): NDArray => {
    const ops = broadcastingOperands([x, y], mode, name);
    if (ops[0]!.dtype === 'bool') {
      const how = boolBinary[prim];
      if (how === undefined) throw new DTypeError(`${name}: not supported for bool arrays (NumPy refuses it too); convert with .astype('int32') first`);
      if (how === 'int') return bind1(prim, ops.map((o) => astypeRaw(o, 'int32')), {});
      return bind1(how, ops, {});
    }
    return bind1(prim, ops, {});
  });
}

function comparison(prim: ComparisonPrimitive, name: string) {
  return defop((x: ArrayLike, y: ArrayLike): NDArray => bind1(prim, broadcastingOperands([x, y], 'keep', name), {}));
}

export const negative = unary('neg', 'negative', 'keep');
export const sin = unary('sin', 'sin');
export const cos = unary('cos', 'cos');
export const tan = unary('tan', 'tan');
export const arcsin = unary('asin', 'arcsin');
export const arccos = unary('acos', 'arccos');
export const arctan = unary('atan', 'arctan');
export const sinh = unary('sinh', 'sinh');
export const cosh = unary('cosh', 'cosh');
export const arcsinh = unary('asinh', 'arcsinh');
export const exp = unary('exp', 'exp');
export const log = unary('log', 'log');
export const log1p = unary('log1p', 'log1p');
export const expm1 = unary('expm1', 'expm1');
export const tanh = unary('tanh', 'tanh');
export const sqrt = unary('sqrt', 'sqrt');
export const rsqrt = unary('rsqrt', 'rsqrt');
/** The error function (jax.scipy.special.erf, jax.lax.erf), in float64 then rounded: full relative precision near 0 (TF.js's erf(1e-30) is 1e-9). */
export const erf = unary('erf', 'erf');
/** 1 − erf(x) (jax.scipy.special.erfc, jax.lax.erfc), in float64 then rounded: precise in the upper tail (erfc(9) ≈ 4.1e-37, where 1 − erf(9) is 0). */
export const erfc = unary('erfc', 'erfc');
/** Φ(x), the standard normal CDF (jax.scipy.special.ndtr), in float64 then rounded: precise in the lower tail. */
export const ndtr = unary('ndtr', 'ndtr');
/** Φ⁻¹(p), the standard normal quantile (jax.scipy.special.ndtri): ±inf at 1 and 0, NaN outside [0, 1]. */
export const ndtri = unary('ndtri', 'ndtri');
export const abs = unary('abs', 'abs', 'keep');
export const sign = unary('sign', 'sign', 'keep');
export const floor = unary('floor', 'floor');
export const ceil = unary('ceil', 'ceil');
/** Rounds half to even, like NumPy. */
const roundKernel = unary('round', 'round');
/**
 * Rounds half to even (NumPy) to `decimals` places, NumPy's and JAX's `round(a, decimals)`: x·10^d
 * rounded, then divided by 10^d, in float32 (for d < 0: x / 10^−d rounded, times 10^−d, as NumPy).
 * Integers are already round and keep their dtype (NumPy); negative decimals of integers are
 * refused, as JAX does. (`decimals` was ignored: `np.round(x, 2)` rounded to integers, no error.)
 */
export const round = defop((x: ArrayLike, decimals = 0): NDArray => {
  if (typeof decimals !== 'number' || !Number.isInteger(decimals)) {
    throw new ValueError(`round: decimals must be a JS integer (the number of decimal places), got ${typeof decimals === 'number' ? decimals : typeof decimals}`);
  }
  const a = asArray(x);
  if (a.dtype === 'int32') {
    if (decimals < 0) throw new ValueError(`round: decimals ${decimals} < 0 is not supported for integer arrays (${a.aval.str()}; JAX raises too); convert to float32 first`);
    return a;
  }
  if (decimals === 0) return roundKernel(a);
  // Negative decimals divide by an exact 10^|d| (NumPy's order; JAX multiplies by a float32 10^d,
  // which is inexact, so its round(5567.67, -3) is 5999.9995 where NumPy's is 6000).
  if (decimals < 0) return multiply(roundKernel(divide(a, 10 ** -decimals)), 10 ** -decimals);
  return divide(roundKernel(multiply(a, 10 ** decimals)), 10 ** decimals);
});
/** The logistic sigmoid 1 / (1 + e^-x). */
export const sigmoid = unary('logistic', 'sigmoid');

export const add = binary('add', 'add');
export const subtract = binary('sub', 'subtract');
export const multiply = binary('mul', 'multiply');
/** True division: integer operands give float32, as in NumPy. */
export const divide = binary('div', 'divide', 'float');
const floatPower = binary('pow', 'power', 'float');
/**
 * x ** y; integer operands give an integer result, exact as NumPy's (int32 products wrap around).
 * Integers to negative integer powers are an error (NumPy's ValueError) wherever the exponent's
 * values are known when the op is built: a JS number or a concrete array, eagerly and under jit
 * alike (JAX refuses a static negative exponent under jit too: lax.integer_pow). A traced exponent
 * (a jit or vmap argument) cannot be checked: its negative entries give the integer part of the real
 * power, 1 for a base of 1, ±1 for −1 and 0 otherwise (JAX leaves them undefined).
 */
export const power = defop((x: ArrayLike, y: ArrayLike): NDArray => {
  const exponent = isWeak(y) ? y : asArray(y);
  const [a, b] = broadcastingOperands([x, exponent], 'keep', 'power');
  if (a!.dtype !== 'int32') return floatPower(a!, b!);
  // Under jit the operand b is traced (staged by its rank alignment or conversion) even where the
  // exponent given is concrete: its values are read from that, then.
  const concrete = b instanceof ConcreteArray ? b : exponent instanceof ConcreteArray ? exponent : undefined;
  let known: Int32Array | Uint8Array | undefined, top = 0;
  if (concrete !== undefined) {
    known = concrete.dataSync() as Int32Array | Uint8Array;
    // (A loop, not a spread: an exponent array may be long.)
    for (const e of known) {
      if (e < 0) throw new ValueError(`power: integers to negative integer powers are not allowed (exponents ${concrete.aval.str()}); use float32 operands`);
      if (e > top) top = e;
    }
  }
  return intPower(a!, b!, known === undefined ? undefined : top);
});

/**
 * Integer powers by binary exponentiation from the top bit down (square, then multiply where the
 * bit is set, found by comparing with 2^i and subtracting: int32 ops only, no division): float32
 * powers are off by units above 2²⁴ (3¹⁶ came out 43046720). `top`: the largest exponent, where the
 * exponents are known (none is negative then, and only its bits are looped over).
 */
function intPower(a: NDArray, b: NDArray, top: number | undefined): NDArray {
  const known = top !== undefined;
  const bits = known ? Math.max(1, 32 - Math.clz32(top)) : 31;
  let e = maximum(b, 0);
  let acc: NDArray = full(broadcastShapes('power', a.shape, b.shape), 1, 'int32');
  for (let i = bits - 1; i >= 0; i--) {
    if (i < bits - 1) acc = multiply(acc, acc);
    const set = greaterEqual(e, 2 ** i);
    acc = where(set, multiply(acc, a), acc);
    if (i > 0) e = where(set, subtract(e, 2 ** i), e);
  }
  if (known) return acc;
  // Negative exponents (traced): 1^-n = 1, (−1)^-n = ±1, anything else truncates to 0.
  const inverse = where(equal(a, 1), 1, where(equal(a, -1), where(equal(remainder(b, 2), 0), 1, -1), 0));
  return where(less(b, 0), astypeRaw(inverse, 'int32'), acc);
}

export const maximum = binary('max', 'maximum');
export const minimum = binary('min', 'minimum');
export const arctan2 = binary('atan2', 'arctan2', 'float');
/** Remainder with the sign of the divisor (NumPy's `%` / `np.remainder`, including ±inf and huge divisors: see the rem kernel). */
export const remainder = binary('rem', 'remainder');
export const mod = remainder;

export const equal = comparison('eq', 'equal');
export const notEqual = comparison('ne', 'notEqual');
export const less = comparison('lt', 'less');
export const lessEqual = comparison('le', 'lessEqual');
export const greater = comparison('gt', 'greater');
export const greaterEqual = comparison('ge', 'greaterEqual');

export const logicalAnd = defop((x: ArrayLike, y: ArrayLike) => bind1('and', broadcastingOperands([x, y], 'bool', 'logicalAnd'), {}));
export const logicalOr = defop((x: ArrayLike, y: ArrayLike) => bind1('or', broadcastingOperands([x, y], 'bool', 'logicalOr'), {}));
export const logicalNot = defop((x: ArrayLike) => bind1('not', elementwiseOperands([x], 'bool'), {}));
export const logicalXor = defop((x: ArrayLike, y: ArrayLike) => bind1('ne', broadcastingOperands([x, y], 'bool', 'logicalXor'), {}));

export const isfinite = defop((x: ArrayLike): NDArray => {
  const a = asArray(x);
  if (a.dtype !== 'float32') return bind1('eq', elementwiseOperands([a, a]), {});
  return bind1('is_finite', [a], {});
});
export const isnan = defop((x: ArrayLike): NDArray => {
  const [a] = elementwiseOperands([x]);
  return bind1('ne', [a!, a!], {});
});
export const isinf = defop((x: ArrayLike): NDArray => logicalAnd(logicalNot(isfinite(x)), logicalNot(isnan(x))));

/** Elementwise choice: `cond ? x : y`, broadcasting all three. */
export const where = defop((cond: ArrayLike, x: ArrayLike, y: ArrayLike): NDArray => {
  // (NumPy's one-argument where(cond) is nonzero(cond), of a data-dependent shape; here both values are needed.)
  if (x === undefined || y === undefined) throw new ValueError(`where: expected (condition, x, y), got ${x === undefined ? 'no x or y' : 'no y'}; NumPy's where(condition) alone (the indices of the true entries) has a data-dependent shape and is not supported`);
  const [a, b] = elementwiseOperands([x, y], 'keep', 'where');
  let c = asArray(cond);
  broadcastShapes('where', c.shape, a!.shape, b!.shape);
  if (c.dtype !== 'bool') c = astypeRaw(c, 'bool');
  const ndim = Math.max(c.ndim, a!.ndim);
  return bind1('select', [atRank(c, ndim), atRank(a!, ndim), atRank(b!, ndim)], {});
});

export const square = defop((x: ArrayLike): NDArray => {
  const [a] = elementwiseOperands([x]);
  if (a!.dtype === 'bool') return a!; // NumPy: a bool squared is itself (x and x)
  return bind1('mul', [a!, a!], {});
});
export const reciprocal = defop((x: ArrayLike): NDArray => divide(1, x));
export const log2 = defop((x: ArrayLike): NDArray => multiply(log(x), 1 / Math.LN2));
export const log10 = defop((x: ArrayLike): NDArray => multiply(log(x), 1 / Math.LN10));
/** 2^x, in float64 then rounded: exact at integers (2^k for k in [−149, 127]), as NumPy and JAX (exp(x·ln 2) was off by up to 34 ulp there, and 63 elsewhere). */
export const exp2 = unary('exp2', 'exp2');
export const arctanh = defop((x: ArrayLike): NDArray => multiply(subtract(log1p(x), log1p(negative(astype(x, 'float32')))), 0.5));
/**
 * arccosh(x) = ln(x + √(x² − 1)), written as log1p(t + √t·√(x + 1)) with t = x − 1 (exact near 1,
 * where x² − 1 cancels), and as ln x + ln 2 above 2⁶⁰, where x² would overflow float32 and
 * √(x² − 1) = x to float32 precision. The large branch's input is replaced in the small one (and
 * vice versa) so neither produces an infinity whose zero-weighted gradient would be NaN.
 */
export const arccosh = defop((x: ArrayLike): NDArray => {
  const a = astype(x, 'float32');
  const big = greater(a, 2 ** 60);
  const small = where(big, 2, a);
  const t = subtract(small, 1);
  // √t·√(x + 1), not √(t·(x + 1)): at x = 1 the derivative is +∞ either way, but the product's
  // reverse pass would multiply that ∞ by t = 0 (NaN).
  return where(big, add(log(where(big, a, 2)), Math.LN2), log1p(add(t, multiply(sqrt(t), sqrt(add(small, 1))))));
});
/**
 * ⌊x / y⌋ as NumPy computes it, consistent with `remainder`: x = y·floorDivide(x, y) + remainder(x, y).
 * For floats that is NumPy's divmod, (x − remainder(x, y))/y rounded to the nearest integer, not
 * floor(x/y) (floorDivide(1, 0.1) is 9: 0.1 is slightly above a tenth); x/y where y = 0, and 0 or
 * −1 for a finite x over an infinite y. For integers (and bools) it is exact over int32 (x/y in
 * float32 is off by units above 2²⁴), and 0 where y = 0, as NumPy. Its derivative is 0 everywhere.
 */
export const floorDivide = defop((x: ArrayLike, y: ArrayLike): NDArray => {
  let [a, b] = elementwiseOperands([x, y], 'keep', 'floorDivide');
  if (a!.dtype === 'bool') [a, b] = [astypeRaw(a!, 'int32'), astypeRaw(b!, 'int32')];
  if (a!.dtype === 'int32') return intFloorDivide(a!, b!);
  // (Through stopGradient: x/0 is ±inf or NaN, and its derivative would leak through the select.)
  return where(equal(b!, 0), bind1('stop_gradient', [divide(a!, b!)], {}), floatFloorDivide(a!, b!));
});

/** NumPy's float floor division: the exact multiple x − remainder(x, y) divided by y, snapped to an integer. */
function floatFloorDivide(a: NDArray, b: NDArray): NDArray {
  const div = divide(subtract(a, remainder(a, b)), b);
  const fl = floor(div);
  const q = where(greater(subtract(div, fl), 0.5), add(fl, 1), fl);
  // A finite x over ±inf: 0 where the signs agree (or x = 0), −1 where they differ (NumPy).
  return where(logicalAnd(isinf(b), isfinite(a)), where(less(multiply(a, b), 0), -1, 0), q);
}

/**
 * Exact int32 floor division: a float estimate q₀; the int32 residual r = a − q₀·d (exact: int32
 * arithmetic wraps, so r is right even where q₀ did not fit); a float correction q₁ = q₀ + ⌊r/d⌋,
 * exact while r is small; then, as r and d may both be large (|d| > 2²⁴), a last ±1 from exact
 * int32 comparisons of the new residual with 0 and d.
 */
function intFloorDivide(a: NDArray, b: NDArray): NDArray {
  const zero = equal(b, 0);
  const d = where(zero, 1, b);
  const fd = astypeRaw(d, 'float32');
  const q0 = astypeRaw(floor(divide(astypeRaw(a, 'float32'), fd)), 'int32');
  const r0 = subtract(a, multiply(q0, d));
  const q1 = add(q0, astypeRaw(floor(divide(astypeRaw(r0, 'float32'), fd)), 'int32'));
  const r1 = subtract(a, multiply(q1, d));
  // Floor division leaves 0 ≤ r < d for d > 0 and d < r ≤ 0 for d < 0.
  const positive = greater(d, 0);
  const tooHigh = where(positive, less(r1, 0), greater(r1, 0));
  const tooLow = where(positive, greaterEqual(r1, d), lessEqual(r1, d));
  const q = where(tooHigh, subtract(q1, 1), where(tooLow, add(q1, 1), q1));
  return where(zero, 0, q);
}
/**
 * Clips values to [lo, hi]: min(max(x, lo), hi), as NumPy and JAX compute it (NaN propagates,
 * lo > hi gives hi; all three broadcast). With both bounds one `clamp` (one kernel, eagerly and
 * under jit) whose derivative is max-then-min's (½ at each tie); with one (the other null) that
 * bound's maximum or minimum alone, as jnp.clip, which a clamp with an infinite other bound would
 * not be exactly: its min(y, +∞) changes the bits of a NaN on wasm, and its derivative at x = −∞
 * would be a tie.
 */
export const clip = defop((x: ArrayLike, lo: ArrayLike | null, hi: ArrayLike | null): NDArray => {
  const hasLo = lo !== null && lo !== undefined, hasHi = hi !== null && hi !== undefined;
  if (!hasLo || !hasHi) return hasLo ? maximum(x, lo) : hasHi ? minimum(x, hi) : asArray(x);
  const [a, l, h] = elementwiseOperands([x, lo, hi], 'keep', 'clip');
  // (NumPy's bool max and min are or and and; clamp takes numbers only.)
  if (a!.dtype === 'bool') return minimum(maximum(a!, l!), h!);
  return bind1('clamp', [l!, a!, h!], {});
});
export const sub = subtract;
export const mul = multiply;
export const div = divide;
export const neg = negative;
export const pow = power;

/**
 * |a − b| ≤ atol + rtol·|b| elementwise (jnp.isclose; asymmetric in b, as NumPy), in float32 (ints
 * and bools are converted, as JAX). Infinities are close only to the same infinity; NaN is close to
 * nothing, unless `equalNan` and both are NaN. The result is bool, so it has no derivative.
 */
export const isclose = defop((a: ArrayLike, b: ArrayLike, rtol = 1e-5, atol = 1e-8, equalNan = false): NDArray => {
  const [x, y] = elementwiseOperands([a, b], 'float', 'isclose');
  const within = lessEqual(abs(subtract(x!, y!)), add(atol, multiply(rtol, abs(y!))));
  const anyInf = logicalOr(isinf(x!), isinf(y!));
  // inf − inf is NaN (not within), so equal infinities are let through by name.
  let out = logicalOr(logicalAnd(within, logicalNot(anyInf)), logicalAnd(anyInf, equal(x!, y!)));
  if (equalNan) out = logicalOr(out, logicalAnd(isnan(x!), isnan(y!)));
  return out;
});

// Elementwise math with NumPy semantics: dtype promotion (bool < int32 < float32, JS scalars are
// "weak" and adopt the array's dtype), rank alignment, and size-1 broadcasting (done by the kernels).
import { NDArray, type ArrayLike } from '../array.js';
import { bind1 } from '../core.js';
import { dtypeOfScalar, promoteTypes, weakScalarDtype, type DType } from '../dtype.js';
import { broadcastShapes } from '../shape.js';
import { DTypeError } from '../errors.js';
import type { BinaryPrimitive, ComparisonPrimitive, UnaryPrimitive } from '../primitives.js';
import { asArray, astypeHook, defop } from './convert.js';

export function astypeRaw(x: NDArray, dtype: DType): NDArray {
  return x.dtype === dtype ? x : bind1('convert_element_type', [x], { dtype });
}
astypeHook.fn = astypeRaw;

/** `x.astype(dtype)`: converts (floats to ints truncate toward zero; nonzero to bool is true). */
export const astype = defop((x: ArrayLike, dtype: DType): NDArray => astypeRaw(asArray(x), dtype));

function isWeak(x: ArrayLike): x is number | boolean {
  return typeof x === 'number' || typeof x === 'boolean';
}

/** Puts `x` at rank `ndim` by adding leading size-1 dimensions (free: a reshape). */
export function atRank(x: NDArray, ndim: number): NDArray {
  if (x.ndim === ndim) return x;
  return bind1('reshape', [x], { shape: [...new Array<number>(ndim - x.ndim).fill(1), ...x.shape] });
}

type DtypeMode = 'keep' | 'float' | 'bool';

/** Converts operands to arrays of one dtype and one rank (checking they broadcast, for `op`'s errors). */
export function elementwiseOperands(xs: ArrayLike[], mode: DtypeMode = 'keep', op = 'elementwise op'): NDArray[] {
  const strong = xs.filter((x) => !isWeak(x)).map((x) => asArray(x));
  if (strong.length > 1) broadcastShapes(op, ...strong.map((a) => a.shape));
  let dtype: DType | undefined = strong.length ? strong.map((a) => a.dtype).reduce(promoteTypes) : undefined;
  for (const x of xs) {
    if (isWeak(x)) dtype = dtype === undefined ? dtypeOfScalar(x) : weakScalarDtype(x, dtype);
  }
  let d = dtype!;
  if (mode === 'float' && d !== 'float32') d = 'float32';
  if (mode === 'bool') d = 'bool';
  let si = 0;
  const arrays = xs.map((x) => (isWeak(x) ? asArray(x, d) : astypeRaw(strong[si++]!, d)));
  const ndim = Math.max(...arrays.map((a) => a.ndim));
  return arrays.map((a) => atRank(a, ndim));
}

function unary(prim: UnaryPrimitive, name: string, mode: DtypeMode = 'float') {
  return defop((x: ArrayLike): NDArray => bind1(prim, elementwiseOperands([x], mode, name), {}));
}

/** NumPy's bool arithmetic: + and max are logical or, * and min logical and, - is an error. */
const boolBinary: Partial<Record<BinaryPrimitive, 'and' | 'or' | 'int'>> = { add: 'or', max: 'or', mul: 'and', min: 'and', rem: 'int' };

function binary(prim: BinaryPrimitive, name: string, mode: DtypeMode = 'keep') {
  return defop((x: ArrayLike, y: ArrayLike): NDArray => {
    const ops = elementwiseOperands([x, y], mode, name);
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
  return defop((x: ArrayLike, y: ArrayLike): NDArray => bind1(prim, elementwiseOperands([x, y], 'keep', name), {}));
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
export const erf = unary('erf', 'erf');
export const abs = unary('abs', 'abs', 'keep');
export const sign = unary('sign', 'sign', 'keep');
export const floor = unary('floor', 'floor');
export const ceil = unary('ceil', 'ceil');
/** Rounds half to even, like NumPy. */
export const round = unary('round', 'round');
/** The logistic sigmoid 1 / (1 + e^-x). */
export const sigmoid = unary('logistic', 'sigmoid');

export const add = binary('add', 'add');
export const subtract = binary('sub', 'subtract');
export const multiply = binary('mul', 'multiply');
/** True division: integer operands give float32, as in NumPy. */
export const divide = binary('div', 'divide', 'float');
const floatPower = binary('pow', 'power', 'float');
/** x ** y; integer operands give an integer result (computed in float32: exact below 2^24). */
export const power = defop((x: ArrayLike, y: ArrayLike): NDArray => {
  const [a, b] = elementwiseOperands([x, y], 'keep', 'power');
  const p = floatPower(a!, b!);
  return a!.dtype === 'int32' ? astypeRaw(round(p), 'int32') : p;
});
export const maximum = binary('max', 'maximum');
export const minimum = binary('min', 'minimum');
export const arctan2 = binary('atan2', 'arctan2', 'float');
/** Remainder with the sign of the divisor (NumPy's `%` / `np.remainder`). */
export const remainder = binary('rem', 'remainder');
export const mod = remainder;

export const equal = comparison('eq', 'equal');
export const notEqual = comparison('ne', 'notEqual');
export const less = comparison('lt', 'less');
export const lessEqual = comparison('le', 'lessEqual');
export const greater = comparison('gt', 'greater');
export const greaterEqual = comparison('ge', 'greaterEqual');

export const logicalAnd = defop((x: ArrayLike, y: ArrayLike) => bind1('and', elementwiseOperands([x, y], 'bool'), {}));
export const logicalOr = defop((x: ArrayLike, y: ArrayLike) => bind1('or', elementwiseOperands([x, y], 'bool'), {}));
export const logicalNot = defop((x: ArrayLike) => bind1('not', elementwiseOperands([x], 'bool'), {}));
export const logicalXor = defop((x: ArrayLike, y: ArrayLike) => bind1('ne', elementwiseOperands([x, y], 'bool'), {}));

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
  const [a, b] = elementwiseOperands([x, y], 'keep', 'where');
  let c = asArray(cond);
  broadcastShapes('where', c.shape, a!.shape, b!.shape);
  if (c.dtype !== 'bool') c = astypeRaw(c, 'bool');
  const ndim = Math.max(c.ndim, a!.ndim);
  return bind1('select', [atRank(c, ndim), atRank(a!, ndim), atRank(b!, ndim)], {});
});

export const square = defop((x: ArrayLike): NDArray => {
  const [a] = elementwiseOperands([x]);
  return bind1('mul', [a!, a!], {});
});
export const reciprocal = defop((x: ArrayLike): NDArray => divide(1, x));
export const log2 = defop((x: ArrayLike): NDArray => multiply(log(x), 1 / Math.LN2));
export const log10 = defop((x: ArrayLike): NDArray => multiply(log(x), 1 / Math.LN10));
export const exp2 = defop((x: ArrayLike): NDArray => exp(multiply(asArray(x).dtype === 'float32' ? x : astype(x, 'float32'), Math.LN2)));
export const arctanh = defop((x: ArrayLike): NDArray => multiply(subtract(log1p(x), log1p(negative(astype(x, 'float32')))), 0.5));
export const arccosh = defop((x: ArrayLike): NDArray => {
  const a = astype(x, 'float32');
  return log(add(a, sqrt(subtract(multiply(a, a), 1))));
});
export const floorDivide = defop((x: ArrayLike, y: ArrayLike): NDArray => {
  const [a, b] = elementwiseOperands([x, y]);
  const q = floor(divide(a!, b!));
  return a!.dtype === 'int32' ? astypeRaw(q, 'int32') : q;
});
/** Clips values to [lo, hi] (either bound may be omitted with null). */
export const clip = defop((x: ArrayLike, lo: ArrayLike | null, hi: ArrayLike | null): NDArray => {
  let y = asArray(x);
  if (lo !== null && lo !== undefined) y = maximum(y, lo);
  if (hi !== null && hi !== undefined) y = minimum(y, hi);
  return y;
});
export const sub = subtract;
export const mul = multiply;
export const div = divide;
export const neg = negative;
export const pow = power;

// Operands of elementwise ops: NumPy's dtype promotion (bool < int32 < float32; JS scalars are
// "weak" and adopt the array's dtype) and rank alignment, shared by every np file that builds an
// elementwise primitive. Internal to np: the namespace re-exports elementwise.ts's ops, not these.
import { NDArray, type ArrayLike } from '../array.js';
import { bind1, evaluatesEagerly } from '../core.js';
import { dtypeOfScalar, promoteTypes, weakScalarDtype, type DType } from '../dtype.js';
import { broadcastShapes, shapesEqual } from '../shape.js';
import { asArray, astypeHook, weakConstant } from './convert.js';

export function astypeRaw(x: NDArray, dtype: DType): NDArray {
  return x.dtype === dtype ? x : bind1('convert_element_type', [x], { dtype });
}
astypeHook.fn = astypeRaw;

export function isWeak(x: ArrayLike): x is number | boolean {
  return typeof x === 'number' || typeof x === 'boolean';
}

/** Puts `x` at rank `ndim` by adding leading size-1 dimensions (free: a reshape). */
export function atRank(x: NDArray, ndim: number): NDArray {
  if (x.ndim === ndim) return x;
  return bind1('reshape', [x], { shape: [...new Array<number>(ndim - x.ndim).fill(1), ...x.shape] });
}

export type DtypeMode = 'keep' | 'float' | 'bool';

/** Converts operands to arrays of one dtype and one rank (checking they broadcast, for `op`'s errors). */
export function elementwiseOperands(xs: ArrayLike[], mode: DtypeMode = 'keep', op = 'elementwise op'): NDArray[] {
  return operands(xs, mode, op, false);
}

/**
 * elementwiseOperands for a primitive whose kernel broadcasts two operands of unequal ranks itself
 * (binary arithmetic and comparisons: eval.ts's BROADCASTING): when the op runs at once (eagerly, no
 * tracer and no trace), operands keep their ranks and JS numbers are 0-d, as the jit executor's
 * rank-promotion rewrite hands them to the same kernels (executor_fusion.ts): a rank-aligning
 * reshape per use is a kernel call and a tensor (an eager adam step made 600 of them for 300
 * leaves), and TF.js's cpu kernels broadcast a (1, …, 1) operand element by element but a 0-d one
 * fast. Transformations' rules need equal ranks, so under a trace the ranks are aligned as before.
 */
export function broadcastingOperands(xs: ArrayLike[], mode: DtypeMode, op: string): NDArray[] {
  return operands(xs, mode, op, true);
}

function operands(xs: ArrayLike[], mode: DtypeMode, op: string, keepRanksEagerly: boolean): NDArray[] {
  if (alreadyOperands(xs, mode)) return xs as NDArray[];
  if (keepRanksEagerly && xs.length === 2) {
    const pair = eagerPairAsItIs(xs, mode, op);
    if (pair !== null) return pair;
  }
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
  if (keepRanksEagerly && evaluatesEagerly(strong)) return xs.map((x) => (isWeak(x) ? weakConstant(x, d, 0) : astypeRaw(strong[si++]!, d)));
  // JS numbers are made at the operands' rank directly (one constant, not a scalar and a reshape).
  const ndim = strong.reduce((n, a) => Math.max(n, a.ndim), 0);
  return xs.map((x) => (isWeak(x) ? weakConstant(x, d, ndim) : atRank(astypeRaw(strong[si++]!, d), ndim)));
}

/**
 * The general path's result, without its passes and arrays, for the two usual eager pairs that it
 * hands back unchanged: two arrays of one dtype fit for `mode` whose shapes broadcast (a bias row,
 * a 0-d scale), and an array with a JS number that takes the array's dtype (x * 0.9, 1 - x).
 * Null otherwise (a trace, a conversion to make), and the general path answers.
 */
function eagerPairAsItIs(xs: ArrayLike[], mode: DtypeMode, op: string): NDArray[] | null {
  const x = xs[0]!, y = xs[1]!;
  const a = x instanceof NDArray ? x : y instanceof NDArray ? y : null;
  if (a === null || !fitsMode(a.aval.dtype, mode)) return null;
  const other = a === x ? y : x;
  if (other instanceof NDArray) {
    if (other.aval.dtype !== a.aval.dtype || !evaluatesEagerly(xs as NDArray[])) return null;
    // (The general path's check: its errors name the op and the shapes — of operands that do not
    // broadcast, or of a result past int32's element count, which only differing shapes can make.)
    const sx = (x as NDArray).aval.shape, sy = (y as NDArray).aval.shape;
    if (!shapesEqual(sx, sy)) broadcastShapes(op, sx, sy);
    return xs as NDArray[];
  }
  if (!isWeak(other) || weakScalarDtype(other, a.aval.dtype) !== a.aval.dtype || !evaluatesEagerly([a])) return null;
  const w = weakConstant(other, a.aval.dtype, 0);
  return a === x ? [a, w] : [w, a];
}

/** Whether operands of dtype `d` need no conversion for `mode`. */
function fitsMode(d: DType, mode: DtypeMode): boolean {
  return mode === 'keep' || (mode === 'float' ? d === 'float32' : d === 'bool');
}

/**
 * Whether `xs` are arrays of one dtype (fit for `mode`) and one shape: then they are their own
 * operands (no promotion, no rank change, and equal shapes broadcast), the usual case in models.
 */
function alreadyOperands(xs: ArrayLike[], mode: DtypeMode): boolean {
  const first = xs[0];
  if (!(first instanceof NDArray)) return false;
  const { dtype, shape } = first.aval;
  if ((mode === 'float' && dtype !== 'float32') || (mode === 'bool' && dtype !== 'bool')) return false;
  for (let i = 1; i < xs.length; i++) {
    const x = xs[i];
    if (!(x instanceof NDArray) || x.aval.dtype !== dtype || !shapesEqual(x.aval.shape, shape)) return false;
  }
  return true;
}

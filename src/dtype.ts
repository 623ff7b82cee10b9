// The three dtypes TF.js executes (float32, int32, bool) and NumPy-style promotion between them.
import { DTypeError } from './errors.js';

export type DType = 'float32' | 'int32' | 'bool';

export const DTYPES: readonly DType[] = ['bool', 'int32', 'float32'];

const rank: Record<DType, number> = { bool: 0, int32: 1, float32: 2 };

/** The dtype both operands are converted to, as NumPy does for bool < int32 < float32. */
export function promoteTypes(a: DType, b: DType): DType {
  return rank[a] >= rank[b] ? a : b;
}

export function isFloat(d: DType): boolean {
  return d === 'float32';
}

/** True when values of this dtype carry tangents and cotangents (only floats do). */
export function isDifferentiable(d: DType): boolean {
  return d === 'float32';
}

/** The dtype a JS scalar takes on its own: booleans are bool, integral numbers int32, others float32. */
export function dtypeOfScalar(x: number | boolean): DType {
  if (typeof x === 'boolean') return 'bool';
  return Number.isInteger(x) && x >= -2147483648 && x <= 2147483647 ? 'int32' : 'float32';
}

/**
 * The dtype of a JS scalar combined with an array of dtype `arrayDtype` — JAX's "weak type" rule:
 * a Python scalar adopts the array's dtype unless it needs a wider kind (2.5 with an int32 array is
 * float32; 2 with a float32 array stays float32; 2 with int32 stays int32).
 */
export function weakScalarDtype(x: number | boolean, arrayDtype: DType): DType {
  // JS cannot tell 2 from 2.0, so an integral number counts as an int here: int32 * 2.0 stays int32.
  return promoteTypes(arrayDtype, dtypeOfScalar(x));
}

export function checkDtype(d: string, op: string): DType {
  if (d === 'float32' || d === 'int32' || d === 'bool') return d;
  throw new DTypeError(`${op}: unsupported dtype '${d}'; expected one of float32, int32, bool`);
}

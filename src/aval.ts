// The abstract value of an array: what every interpreter knows without looking at the data.
import type { DType } from './dtype.js';
import { sizeOf, type Shape } from './shape.js';

export class ShapedArray {
  readonly shape: readonly number[];
  constructor(shape: Shape, readonly dtype: DType) {
    // A frozen shape (another aval's) cannot change, so it is shared rather than copied.
    this.shape = Object.isFrozen(shape) ? shape : Object.freeze([...shape]);
  }
  get ndim(): number {
    return this.shape.length;
  }
  get size(): number {
    return sizeOf(this.shape);
  }
  /** Short form used in printed programs and error messages, e.g. `f32[3,4]`. */
  str(): string {
    const d = this.dtype === 'float32' ? 'f32' : this.dtype === 'int32' ? 'i32' : 'bool';
    return `${d}[${this.shape.join(',')}]`;
  }
  equals(other: ShapedArray): boolean {
    return this.dtype === other.dtype && this.shape.length === other.shape.length && this.shape.every((d, i) => d === other.shape[i]);
  }
  toString(): string {
    return this.str();
  }
}

// Single values at rank n (a JS number made a constant, a 0-d operand aligned to another's rank)
// are the usual (1, …, 1) avals: one is kept per dtype and rank rather than made per op.
const singleValueAvals: Record<DType, ShapedArray[]> = { float32: [], int32: [], bool: [] };

/** The aval of `dtype` with `ndim` axes of size 1 (shared: avals are immutable). */
export function singleValueAval(dtype: DType, ndim: number): ShapedArray {
  const kept = singleValueAvals[dtype];
  return (kept[ndim] ??= new ShapedArray(new Array<number>(ndim).fill(1), dtype));
}

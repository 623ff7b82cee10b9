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

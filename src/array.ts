// The gradus array. `NDArray` is what user code sees: a concrete array (`ConcreteArray`, holding a
// TF.js tensor) or a tracer standing in for one inside a transformation. Methods delegate to the
// `np` namespace, which fills `arrayMethods` when it loads (this avoids an import cycle).
import * as tf from '@tensorflow/tfjs-core';
import { ShapedArray } from './aval.js';
import { checkDtype, type DType } from './dtype.js';
import { ConcretizationError, DisposedError } from './errors.js';
import type { IndexUpdate, UpdateIndex } from './np/index_update.js';

/** Anything the `np` functions accept as an array. */
export type ArrayLike = NDArray | tf.Tensor | number | boolean | NestedNumbers | NestedArrays | Float32Array | Int32Array | Uint8Array | Float64Array;
export type NestedNumbers = readonly (number | boolean | NestedNumbers)[];
/** Lists holding arrays (and numbers): stacked along a new first axis, as jnp.array(list). */
export type NestedArrays = readonly (NDArray | tf.Tensor | number | boolean | NestedArrays)[];
export type Axis = number | readonly number[] | undefined | null;

/** The operations behind the array methods; installed by `src/np/index.ts`. */
export interface ArrayMethods {
  add(x: ArrayLike, y: ArrayLike): NDArray;
  sub(x: ArrayLike, y: ArrayLike): NDArray;
  mul(x: ArrayLike, y: ArrayLike): NDArray;
  div(x: ArrayLike, y: ArrayLike): NDArray;
  pow(x: ArrayLike, y: ArrayLike): NDArray;
  neg(x: ArrayLike): NDArray;
  matmul(x: ArrayLike, y: ArrayLike): NDArray;
  sum(x: ArrayLike, axis?: Axis, keepdims?: boolean): NDArray;
  mean(x: ArrayLike, axis?: Axis, keepdims?: boolean): NDArray;
  max(x: ArrayLike, axis?: Axis, keepdims?: boolean): NDArray;
  min(x: ArrayLike, axis?: Axis, keepdims?: boolean): NDArray;
  reshape(x: ArrayLike, shape: readonly number[]): NDArray;
  transpose(x: ArrayLike, perm?: readonly number[]): NDArray;
  astype(x: ArrayLike, dtype: DType): NDArray;
  exp(x: ArrayLike): NDArray;
  log(x: ArrayLike): NDArray;
  sqrt(x: ArrayLike): NDArray;
  square(x: ArrayLike): NDArray;
  abs(x: ArrayLike): NDArray;
  tanh(x: ArrayLike): NDArray;
  equal(x: ArrayLike, y: ArrayLike): NDArray;
  greater(x: ArrayLike, y: ArrayLike): NDArray;
  less(x: ArrayLike, y: ArrayLike): NDArray;
  greaterEqual(x: ArrayLike, y: ArrayLike): NDArray;
  lessEqual(x: ArrayLike, y: ArrayLike): NDArray;
  squeeze(x: ArrayLike, axis?: Axis): NDArray;
  expandDims(x: ArrayLike, axis: number): NDArray;
  flatten(x: ArrayLike): NDArray;
  take(x: ArrayLike, indices: ArrayLike, axis?: number): NDArray;
  index(x: NDArray, spec: readonly IndexSpec[]): NDArray;
  update(x: NDArray, spec: readonly UpdateIndex[]): IndexUpdate;
}

/** One entry of `x.at(...)`: an integer picks and drops an axis, a [start, stop, step?] slices it, null keeps it. */
export type IndexSpec = number | null | readonly [number | null, number | null, number?];

export const arrayMethods = {} as ArrayMethods;

export abstract class NDArray {
  abstract get aval(): ShapedArray;

  get shape(): number[] {
    return [...this.aval.shape];
  }
  get dtype(): DType {
    return this.aval.dtype;
  }
  get ndim(): number {
    return this.aval.shape.length;
  }
  get size(): number {
    return this.aval.size;
  }

  /**
   * The concrete value behind this array, if one exists at this point of the program (it does
   * for eager arrays and for `grad`/`jvp` tracers over them; it does not under `jit` or `vmap`).
   */
  abstract concreteValue(): ConcreteArray | null;

  /** Which transformation made this array abstract (for error messages); null for concrete values. */
  abstractIn(): string | null {
    return null;
  }

  protected requireConcrete(what: string): ConcreteArray {
    const c = this.concreteValue();
    if (c === null) {
      const where = this.abstractIn() ?? 'a transformation that traces (jit, vmap, makeJaxpr, checkpoint)';
      throw new ConcretizationError(
        `${what} needs a concrete value, but this array is abstract (${this.aval.str()}) inside ${where}: ` +
          `JS control flow cannot depend on it there. Use np.where, or pass the value as a static argument.`,
      );
    }
    return c;
  }

  /** A TF.js tensor with this array's value, owned by the caller (dispose it when done). */
  toTensor(): tf.Tensor {
    return tf.clone(this.requireConcrete('toTensor()').tensor);
  }
  /** The values as nested JS arrays (numbers or booleans). */
  toArray(): unknown {
    const c = this.requireConcrete('toArray()');
    // (TF.js's arraySync gives [] for every empty shape; NumPy nests up to the first zero axis.)
    if (this.size === 0) return emptyNested(this.shape);
    const v = c.tensor.arraySync();
    return this.dtype === 'bool' ? mapNested(v, (n) => n !== 0) : v;
  }
  /** NumPy's and JAX's name for `toArray()`: the values as nested JS arrays. */
  tolist(): unknown {
    return this.toArray();
  }
  /** The flat values as a typed array (a copy: writing into it changes no array). */
  dataSync(): Float32Array | Int32Array | Uint8Array {
    const t = this.requireConcrete('dataSync()').tensor;
    const values = t.dataSync() as Float32Array | Int32Array | Uint8Array;
    return readIsACopy(t) ? values : values.slice();
  }
  /**
   * The single value of a size-1 array, as a JS number (booleans as true/false). Typed
   * `number | boolean` because an array's dtype is known only at run time; `Number(x)` is a number
   * (a bool array's as 0/1), `x.bool()` a boolean.
   */
  item(): number | boolean {
    if (this.size !== 1) throw new ConcretizationError(`item(): expected an array of size 1 but the shape is [${this.shape.join(',')}]`);
    const v = this.requireConcrete('item() (also behind Number(x), x > 0 and bool())').tensor.dataSync()[0]!;
    return this.dtype === 'bool' ? v !== 0 : v;
  }
  /** JS truthiness of a size-1 array, for control flow on concrete values. */
  bool(): boolean {
    return Boolean(this.item());
  }
  valueOf(): number {
    return Number(this.item());
  }
  toString(): string {
    const c = this.concreteValue();
    if (c === null) return `Traced<${this.aval.str()}>`;
    return `Array(${JSON.stringify(this.toArray())}, ${this.dtype})`;
  }

  add(y: ArrayLike): NDArray { return arrayMethods.add(this, y); }
  sub(y: ArrayLike): NDArray { return arrayMethods.sub(this, y); }
  mul(y: ArrayLike): NDArray { return arrayMethods.mul(this, y); }
  div(y: ArrayLike): NDArray { return arrayMethods.div(this, y); }
  pow(y: ArrayLike): NDArray { return arrayMethods.pow(this, y); }
  neg(): NDArray { return arrayMethods.neg(this); }
  matmul(y: ArrayLike): NDArray { return arrayMethods.matmul(this, y); }
  sum(axis?: Axis, keepdims = false): NDArray { return arrayMethods.sum(this, axis, keepdims); }
  mean(axis?: Axis, keepdims = false): NDArray { return arrayMethods.mean(this, axis, keepdims); }
  max(axis?: Axis, keepdims = false): NDArray { return arrayMethods.max(this, axis, keepdims); }
  min(axis?: Axis, keepdims = false): NDArray { return arrayMethods.min(this, axis, keepdims); }
  reshape(...shape: number[] | [readonly number[]]): NDArray {
    const s = Array.isArray(shape[0]) ? (shape[0] as readonly number[]) : (shape as number[]);
    return arrayMethods.reshape(this, s);
  }
  transpose(perm?: readonly number[]): NDArray { return arrayMethods.transpose(this, perm); }
  get T(): NDArray { return arrayMethods.transpose(this); }
  astype(dtype: DType): NDArray { return arrayMethods.astype(this, checkDtype(dtype, 'astype')); }
  exp(): NDArray { return arrayMethods.exp(this); }
  log(): NDArray { return arrayMethods.log(this); }
  sqrt(): NDArray { return arrayMethods.sqrt(this); }
  square(): NDArray { return arrayMethods.square(this); }
  abs(): NDArray { return arrayMethods.abs(this); }
  tanh(): NDArray { return arrayMethods.tanh(this); }
  equal(y: ArrayLike): NDArray { return arrayMethods.equal(this, y); }
  greater(y: ArrayLike): NDArray { return arrayMethods.greater(this, y); }
  less(y: ArrayLike): NDArray { return arrayMethods.less(this, y); }
  greaterEqual(y: ArrayLike): NDArray { return arrayMethods.greaterEqual(this, y); }
  lessEqual(y: ArrayLike): NDArray { return arrayMethods.lessEqual(this, y); }
  squeeze(axis?: Axis): NDArray { return arrayMethods.squeeze(this, axis); }
  expandDims(axis: number): NDArray { return arrayMethods.expandDims(this, axis); }
  flatten(): NDArray { return arrayMethods.flatten(this); }
  take(indices: ArrayLike, axis?: number): NDArray { return arrayMethods.take(this, indices, axis); }
  /** NumPy-style indexing: `x.at(0)`, `x.at(null, [1, 3])`, `x.at([null, null, -1])` (reverse). */
  at(...spec: IndexSpec[]): NDArray { return arrayMethods.index(this, spec); }
  /** Functional index updates, JAX's `x.at[...]`: `x.update(0, null).set(v)` is `np.at(x, 0, null).set(v)`. */
  update(...index: UpdateIndex[]): IndexUpdate { return arrayMethods.update(this, index); }

  /**
   * Iterates over the leading axis, yielding `x.at(i)` (as iterating a NumPy or JAX array), so
   * `for (const row of x)` and `const [k1, k2] = random.split(key)` work, on tracers too (their
   * shapes are known). Rows are made one at a time as they are asked for, and each owns its own
   * tensor (a copy, not a view): `const [a, b] = x` makes two rows however long x is, and
   * disposing x later leaves them intact. A 0-d array is a TypeError, as in NumPy.
   */
  [Symbol.iterator](): Iterator<NDArray> {
    if (this.ndim === 0) throw new TypeError(`iteration over a 0-d array (${this.aval.str()}); it has no axis to iterate over`);
    const rows = this.shape[0]!;
    let i = 0;
    return {
      next: (): IteratorResult<NDArray> => (i < rows ? { value: this.at(i++), done: false } : { value: undefined, done: true }),
    };
  }
}

/** An array with a value: a TF.js tensor that this object owns. */
export class ConcreteArray extends NDArray {
  private readonly _aval: ShapedArray;
  /** `aval`, when given, must describe the tensor (the eval interpreter passes the one it checked). */
  constructor(
    private readonly _tensor: tf.Tensor,
    aval?: ShapedArray,
  ) {
    super();
    this._aval = aval ?? new ShapedArray(_tensor.shape, checkDtype(_tensor.dtype, 'array'));
  }
  get aval(): ShapedArray {
    return this._aval;
  }
  /** The underlying tensor (shared, not a copy); throws if gradus already freed it. */
  get tensor(): tf.Tensor {
    if (this._tensor.isDisposed) {
      throw new DisposedError(
        `an array ${this._aval.str()} was used after it was freed. gradus frees the intermediates of a ` +
          `transformation when it returns; keep values by returning them from the transformed function.`,
      );
    }
    return this._tensor;
  }
  get isDisposed(): boolean {
    return this._tensor.isDisposed;
  }
  concreteValue(): ConcreteArray {
    return this;
  }
  /** Frees the tensor now (safe to call twice). */
  dispose(): void {
    this._tensor.dispose();
  }
}

function mapNested(v: unknown, f: (n: number) => unknown): unknown {
  return Array.isArray(v) ? v.map((x) => mapNested(x, f)) : f(v as number);
}

/** NumPy's tolist() of an empty array: lists nested along the axes before the first zero one. */
function emptyNested(shape: readonly number[]): unknown[] {
  const [n = 0, ...rest] = shape;
  return Array.from({ length: n }, () => emptyNested(rest));
}

/**
 * Whether TF.js's dataSync() of `t` is a new array: on wasm it is (read out of the module's memory);
 * TF.js's cpu backend returns the float32 or int32 typed array it stores, which `t`, and every array
 * sharing its buffer (a reshape, a jit output that is its input), read, so a write into it would change them.
 */
function readIsACopy(t: tf.Tensor): boolean {
  const info = (tf.engine().state.tensorInfo as WeakMap<object, { backend: tf.KernelBackend }>).get(t.dataId);
  return info !== undefined && info.backend === tf.findBackend('wasm');
}

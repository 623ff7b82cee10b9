// Turning user inputs into gradus arrays, and array creation. Creation makes concrete arrays
// directly (constants); under `jit` they become constants of the traced program.
import * as tf from '@tensorflow/tfjs-core';
import { shareTensor } from '../kernels.js';
import { ConcreteArray, NDArray, type ArrayLike, type NestedNumbers } from '../array.js';
import { singleValueAval } from '../aval.js';
import { Tracer, bind1, currentTraceStack } from '../core.js';
import { checkDtype, dtypeOfScalar, promoteTypes, weakScalarDtype, type DType } from '../dtype.js';
import { DTypeError, DisposedError, ShapeError, fmtShape } from '../errors.js';
import { disposedOperand } from '../eval.js';
import { checkArraySize, checkShape } from '../shape.js';
import { scopeDepth, scopedTopLevel } from '../scope.js';
import { leaves } from '../tree.js';

/**
 * Wraps a public op so that, at the top level of user code, its intermediates (and the constants
 * made from JS numbers) are freed when it returns. Inside transformations their scopes do this.
 * `name` is what errors call the op (by default the function's own name; np/index.ts names the
 * namespace's ops after their exports).
 */
// `F extends Function` (not a signature) so that parameters with defaults keep their own types.
// eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
export function defop<F extends Function>(fn: F, name: string = opNames.get(fn) ?? fn.name): F {
  const f = fn as unknown as (...args: unknown[]) => unknown;
  const wrapped = (...args: unknown[]): unknown => {
    // A freed argument is refused by the op the user called, before any op inside it (a primitive
    // such as div, reduce_sum or pad, which would name itself and count the operands its way), and
    // under jit before it becomes a constant of the trace. (Arrays given directly or in a list, as
    // concatenate's; deeper ones are found by the ops inside. A loop of instanceof tests: this runs
    // for every eager op.)
    for (let i = 0; i < args.length; i++) {
      const a = args[i];
      if (a instanceof ConcreteArray ? a.isDisposed : Array.isArray(a) && a.some(isFreed)) refuseFreedArgument(wrapped, args);
    }
    if (!(scopeDepth() === 0 && currentTraceStack().length === 1)) return liveResult(wrapped, args, f(...args));
    // At the top level results belong to the caller: a result that existed before the call (an
    // argument, also inside lists and plain objects: a no-op reshape, concatenate of one array,
    // split into one piece, a parameter tree returned with some leaves unchanged) gets its own
    // handle, so disposing it cannot free the argument.
    return scopedTopLevel(() => liveResult(wrapped, args, f(...args)));
  };
  opNames.set(wrapped, name);
  return wrapped as unknown as F;
}

// What errors call each op defop wrapped ('' until named).
// eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
const opNames = new WeakMap<Function, string>();

const isFreed = (a: unknown): boolean => a instanceof ConcreteArray && a.isDisposed;

/** Throws the DisposedError for the first freed array among `op`'s arguments' leaves, numbered as eval.ts numbers a primitive's operands. */
// eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
function refuseFreedArgument(op: Function, args: unknown[]): never {
  const all = leaves(args);
  const i = all.findIndex(isFreed);
  throw disposedOperand(opName(op), i, all[i] as ConcreteArray);
}

/** What errors call an op defop wrapped: its name, or for an anonymous function passed to np.defop, that. */
// eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
function opName(op: Function): string {
  return opNames.get(op) || 'an anonymous np.defop function';
}

/** Names the ops among `ops` that have no name yet after their keys (`prefix` first): np's ops are arrow functions, named by their exports. */
export function nameOps(ops: object, prefix = ''): void {
  for (const [key, op] of Object.entries(ops)) if (typeof op === 'function' && opNames.get(op) === '') opNames.set(op, prefix + key);
}

/**
 * `out` itself, refused if it holds a freed array. An op that hands an operand back without a
 * kernel (a reshape to its own shape, a one-array concatenate, a bool squared) would hand back a
 * freed one too, and it would fail later, far away, in the tensor getter, whose error knows neither
 * the op nor who freed it: the one check for all of them, so that they refuse it as the ops that
 * run a kernel do (eval.ts). (Inside the top-level scope, so that nothing made for the result is
 * left behind when it throws.) One test for the usual result, a live concrete array.
 */
// eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
function liveResult(op: Function, args: unknown[], out: unknown): unknown {
  if (out instanceof ConcreteArray ? out.isDisposed : holdsFreedArray(out)) throw freedResult(op, args, out);
  return out;
}

/** Whether a result that is not one concrete array (a list, a tree) holds a freed one. */
function holdsFreedArray(out: unknown): boolean {
  if (typeof out !== 'object' || out === null || out instanceof NDArray) return false;
  return (leaves(out) as unknown[]).some((l) => l instanceof ConcreteArray && l.isDisposed);
}

/** The error for a freed array in `op`'s result: its operand (by position among the arguments' leaves, as eval.ts numbers a primitive's), or, if it is none of them, the result. */
// eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
function freedResult(op: Function, args: unknown[], out: unknown): DisposedError {
  const name = opName(op);
  const freed = out instanceof ConcreteArray ? out : (leaves(out).find((l) => l instanceof ConcreteArray && l.isDisposed) as ConcreteArray);
  const operand = leaves(args).indexOf(freed);
  if (operand >= 0) return disposedOperand(name, operand, freed);
  return new DisposedError(`${name}: its result holds an array (${freed.aval.str()}) that was freed before the op returned it; keep values by returning them from the scope or transformed function that made them`);
}

function inferShapeAndDtype(x: NestedNumbers): { shape: number[]; dtype: DType; flat: (number | boolean)[] } {
  const shape: number[] = [];
  let level: unknown = x;
  while (Array.isArray(level)) {
    shape.push(level.length);
    level = level[0];
  }
  const flat: (number | boolean)[] = [];
  let dtype: DType = 'bool';
  let sawAny = false;
  const walk = (v: unknown, depth: number, path: string): void => {
    if (depth === shape.length) {
      if (typeof v === 'number') dtype = promoteTypes(dtype, dtypeOfScalar(v));
      else if (typeof v !== 'boolean') throw new DTypeError(`array: element ${path} is ${typeof v === 'object' ? JSON.stringify(v) : typeof v}; expected a number or boolean`);
      sawAny = true;
      flat.push(v);
      return;
    }
    if (!Array.isArray(v) || v.length !== shape[depth]) {
      throw new ShapeError(`array: ragged nested array: element ${path} has ${Array.isArray(v) ? `length ${v.length}` : 'no length'} but expected length ${shape[depth]} (shape [${shape.join(',')}])`);
    }
    v.forEach((e, i) => walk(e, depth + 1, `${path}[${i}]`));
  };
  walk(x, 0, '');
  if (!sawAny) dtype = 'float32';
  return { shape, dtype, flat };
}

/**
 * NaN and ±inf have no int32 value (TF.js would store 0), and a number whose integer part is
 * outside [−2³¹, 2³¹ − 1] would silently wrap around (2³¹ became −2³¹): errors, as NumPy and JAX
 * raise (OverflowError there). Fractions truncate toward zero, as NumPy's casts do.
 */
function refuseNonFiniteInts(op: string, values: readonly number[] | Float32Array | Float64Array): void {
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!Number.isFinite(v)) throw new DTypeError(`${op}: cannot convert ${v} to int32 (NumPy refuses it too); use float32`);
    if (v <= -2147483649 || v >= 2147483648) throw new DTypeError(`${op}: ${v} is out of int32's range [-2147483648, 2147483647] (it would wrap around; NumPy and JAX raise OverflowError); use float32`);
  }
}

/** A JS value as a bool element, as NumPy converts it: 1 unless it is 0, -0 or false (NaN is true; TF.js would round 0.3 to false). */
function truth(v: unknown): 0 | 1 {
  return v === 0 || v === false ? 0 : 1;
}

function describe(x: unknown): string {
  if (x === null) return 'null';
  if (typeof x === 'object') return (x as object).constructor?.name ?? 'object';
  return typeof x;
}

/** Converts numbers, nested arrays, TF.js tensors and gradus arrays to a gradus array. */
export function asArray(x: ArrayLike, dtype?: DType): NDArray {
  // weakConstant's makeTensor checks no dtype (tf.tensor did): an unknown one would make a tensor
  // TF.js then refuses half-way ('Unknown dtype', a tensor left counted on cpu).
  if (dtype !== undefined) checkDtype(dtype, 'asArray');
  let out: NDArray;
  if (x instanceof NDArray) out = x;
  // (Converted at once when the dtype differs: a shared handle made first would be left over at the top level.)
  else if (x instanceof tf.Tensor) {
    // A disposed tf.Tensor failed inside TF.js ("Cannot read properties of undefined (reading 'backend')").
    if (x.isDisposed) throw new DisposedError(`asArray: a tf.Tensor (${x.dtype}[${x.shape.join(',')}]) was passed after it was disposed; pass a live tensor (or a gradus array, which gradus frees for you)`);
    out = dtype !== undefined && x.dtype !== dtype ? new ConcreteArray(x) : new ConcreteArray(shareTensor(x));
  }
  else if (typeof x === 'number' || typeof x === 'boolean') return weakConstant(x, dtype ?? dtypeOfScalar(x), 0);
  else if (x instanceof Float32Array || x instanceof Int32Array || x instanceof Uint8Array || x instanceof Float64Array || x instanceof Int8Array || x instanceof Int16Array || x instanceof Uint16Array || x instanceof Uint32Array) {
    // A typed array is a 1-D array; float64 values are rounded to float32 (TF.js has no float64).
    const d = dtype ?? (x instanceof Float32Array || x instanceof Float64Array ? 'float32' : x instanceof Uint8Array && dtype === 'bool' ? 'bool' : 'int32');
    if (d === 'int32' && (x instanceof Float32Array || x instanceof Float64Array)) refuseNonFiniteInts('array', x);
    const data = d === 'float32' ? Float32Array.from(x as Iterable<number>) : d === 'bool' ? Uint8Array.from(x as Iterable<number>, truth) : Int32Array.from(x as Iterable<number>);
    out = new ConcreteArray(tf.tensor(data, [x.length], d));
    return out;
  } else if (Array.isArray(x) && x.length > 0 && x.some(holdsArray)) {
    return stackList(x, dtype);
  } else if (Array.isArray(x)) {
    const { shape, dtype: inferred, flat } = inferShapeAndDtype(x);
    const d = dtype ?? inferred;
    const values = d === 'bool' ? flat.map(truth) : flat.map(Number);
    if (d === 'int32') refuseNonFiniteInts('array', values);
    out = new ConcreteArray(tf.tensor(values, shape, d));
    return out;
  } else {
    throw new DTypeError(`array: cannot convert a ${describe(x)} to an array; expected a number, boolean, nested array, tf.Tensor or gradus array`);
  }
  if (dtype !== undefined && out.dtype !== dtype) return astypeHook.fn(out, dtype);
  return out;
}

/**
 * A list holding arrays, stacked along a new first axis (asArray's branch for them). A defop: at
 * the top level of user code the rows and conversions it makes besides the result are freed
 * (asArray itself runs unscoped there, as ops call it on every operand).
 */
const stackList = defop((x: readonly unknown[], dtype: DType | undefined): NDArray => {
  // A list of arrays (or nested lists of them) stacks along a new first axis, as jnp.array(list):
  // `np.array([...x])` rebuilds x from its rows. Dtypes promote, JS numbers among them are weak.
  const parts = x.map((v) => asArray(v as ArrayLike));
  const strong = x.flatMap((v, i) => (typeof v === 'number' || typeof v === 'boolean' ? [] : [parts[i]!.dtype]));
  let common = strong.reduce(promoteTypes);
  for (const v of x) if (typeof v === 'number' || typeof v === 'boolean') common = weakScalarDtype(v, common);
  if (dtype !== undefined) common = dtype;
  const shape = parts[0]!.shape;
  parts.forEach((p, i) => {
    if (p.shape.join() !== shape.join()) throw new ShapeError(`array: element [${i}] has shape ${fmtShape(p.shape)} but element [0] has ${fmtShape(shape)}; a list of arrays must hold arrays of one shape`);
  });
  const rows = parts.map((p) => bind1('reshape', [p.dtype === common ? p : astypeHook.fn(p, common)], { shape: [1, ...shape] }));
  return rows.length === 1 ? rows[0]! : bind1('concatenate', rows, { axis: 0 });
});

/** A JS number or boolean as an array of `dtype` with `ndim` axes of size 1 (one tensor, where asArray and a reshape would make two). */
export function weakConstant(x: number | boolean, dtype: DType, ndim: number): NDArray {
  if (dtype === 'int32' && typeof x === 'number') refuseNonFiniteInts('array', [x]);
  // A typed array of the dtype goes straight to the engine (as TF.js's own ops turn a JS number
  // into a tensor), skipping tf.tensor's inference and checks; a bool is NumPy's truth value.
  const value = dtype === 'float32' ? Float32Array.of(x as number) : dtype === 'int32' ? Int32Array.of(x as number) : Uint8Array.of(truth(x));
  // (The shared (1, …, 1) aval describes it: no aval of its own is made per constant.)
  return new ConcreteArray(tf.engine().makeTensor(value, new Array<number>(ndim).fill(1), dtype), singleValueAval(dtype, ndim));
}

/** Whether a nested list holds a gradus array or tf.Tensor somewhere (then it stacks them). */
function holdsArray(v: unknown): boolean {
  return v instanceof NDArray || v instanceof tf.Tensor || (Array.isArray(v) && v.some(holdsArray));
}

/** Set by elementwise.ts (casting needs bind); avoids an import cycle. */
export const astypeHook: { fn: (x: NDArray, dtype: DType) => NDArray } = {
  fn: () => {
    throw new Error('astype not loaded');
  },
};

/** A copy of an array (a new handle that the caller owns; the data is shared until either is freed). */
export const copy = defop((x: ArrayLike): NDArray => {
  const a = asArray(x);
  return a instanceof ConcreteArray ? new ConcreteArray(shareTensor(a.tensor)) : bind1('reshape', [a], { shape: a.shape });
});

/** `np.array(x, dtype?)`: a new array from numbers, nested arrays, typed arrays or tensors. */
export const array = defop((x: ArrayLike, dtype?: DType): NDArray => {
  const d = dtype === undefined ? undefined : checkDtype(dtype, 'array');
  if (x instanceof Tracer) return d ? astypeHook.fn(x, d) : x;
  return asArray(x, d);
});

export function full(shape: readonly number[] | number, value: number | boolean | NDArray, dtype?: DType): NDArray {
  const s = checkShape('full', shape);
  if (value instanceof NDArray) return fullOfArray(s, value, dtype === undefined ? undefined : checkDtype(dtype, 'full'));
  if (typeof value !== 'number' && typeof value !== 'boolean') throw new DTypeError(`full: expected a number, boolean or array fill value, got ${typeof value}`);
  const d = dtype === undefined ? dtypeOfScalar(value) : checkDtype(dtype, 'full');
  if (d === 'int32' && typeof value === 'number') refuseNonFiniteInts('full', [value]);
  return new ConcreteArray(tf.fill(s, value as number, d));
}
export function zeros(shape: readonly number[] | number, dtype: DType = 'float32'): NDArray {
  return full(shape, 0, dtype);
}
export function ones(shape: readonly number[] | number, dtype: DType = 'float32'): NDArray {
  return full(shape, 1, dtype);
}
// An array fill value broadcasts to the shape (NumPy's array_like fill value). A defop: at the top
// level the converted fill value is freed.
const fullOfArray = defop((s: number[], value: NDArray, dtype: DType | undefined): NDArray => {
  const v = dtype === undefined ? value : astypeHook.fn(value, dtype);
  return bind1('broadcast_in_dim', [v], { shape: s, broadcastDimensions: v.shape.map((_, i) => i + s.length - v.ndim) });
});
export function zerosLike(x: ArrayLike, dtype?: DType): NDArray {
  return x instanceof NDArray ? zeros(x.shape, dtype ?? x.dtype) : fullLikeOfValues(x, 0, dtype);
}
export function onesLike(x: ArrayLike, dtype?: DType): NDArray {
  return x instanceof NDArray ? ones(x.shape, dtype ?? x.dtype) : fullLikeOfValues(x, 1, dtype);
}
export function fullLike(x: ArrayLike, value: number | boolean, dtype?: DType): NDArray {
  return x instanceof NDArray ? full(x.shape, value, dtype ?? x.dtype) : fullLikeOfValues(x, value, dtype);
}
// x (a list, tensor, number) becomes an array only for its shape and dtype. A defop: at the top
// level that array is freed.
const fullLikeOfValues = defop((x: ArrayLike, value: number | boolean, dtype: DType | undefined): NDArray => {
  const a = asArray(x);
  return full(a.shape, value, dtype ?? a.dtype);
});

/** `arange(stop)`, `arange(start, stop, step?)` like NumPy (int32 when all arguments are integers). */
export function arange(start: number, stop?: number, step = 1, dtype?: DType): NDArray {
  if (stop === undefined) { stop = start; start = 0; }
  if (step === 0) throw new ShapeError('arange: step must not be 0');
  if (![start, stop, step].every(Number.isFinite)) throw new ShapeError(`arange: expected finite start, stop and step, got (${start}, ${stop}, ${step})`);
  if (dtype !== undefined) checkDtype(dtype, 'arange');
  const n = Math.max(0, Math.ceil((stop - start) / step));
  checkArraySize('arange', [n]);
  const d = dtype ?? ([start, stop, step].every(Number.isInteger) ? 'int32' : 'float32');
  return new ConcreteArray(tf.tensor(typedValues(n, d, (i) => start + i * step), [n], d));
}

export function linspace(start: number, stop: number, num = 50, endpoint = true): NDArray {
  if (!Number.isInteger(num) || num < 0) throw new ShapeError(`linspace: num must be a non-negative integer, got ${num}`);
  checkArraySize('linspace', [num]);
  const div = endpoint ? num - 1 : num;
  const step = div > 0 ? (stop - start) / div : 0;
  const values = typedValues(num, 'float32', (i) => start + i * step);
  // The last point is exactly `stop` (as NumPy), unless it is also the first (num = 1: [start]).
  if (endpoint && num > 1) values[num - 1] = stop;
  return new ConcreteArray(tf.tensor(values, [num], 'float32'));
}

/**
 * `valueAt(0..n-1)` (computed in float64) stored as `dtype` stores it: float32 rounded once, int32
 * truncated as Int32Array does, bool as TF.js converts numbers (Math.round(v) !== 0), so results
 * are bit-identical to `tf.tensor` of a JS list. A typed array of n elements, not a JS list: arange
 * and linspace built one (and TF.js flattened it into another) before the typed array, about 600 MB
 * and 2 s for 10⁷ elements, and ran out of memory well below 2³¹ − 1.
 */
function typedValues(n: number, dtype: DType, valueAt: (i: number) => number): Float32Array | Int32Array | Uint8Array {
  if (dtype === 'bool') {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = Math.round(valueAt(i)) !== 0 ? 1 : 0;
    return out;
  }
  const out = dtype === 'int32' ? new Int32Array(n) : new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = valueAt(i);
  return out;
}

/** Identity matrix (n×m, ones on diagonal k). */
export function eye(n: number, m = n, k = 0, dtype: DType = 'float32'): NDArray {
  checkShape('eye', [n, m]);
  if (!Number.isInteger(k)) throw new ShapeError(`eye: the diagonal offset k must be an integer, got ${k}`);
  checkDtype(dtype, 'eye');
  // (A zeroed typed array of the dtype, not a JS list of n·m numbers: np.eye(40000) is under the
  // element limit, and a JS list of that size runs out of memory.)
  const values = dtype === 'int32' ? new Int32Array(n * m) : dtype === 'bool' ? new Uint8Array(n * m) : new Float32Array(n * m);
  // Only the rows the diagonal crosses (i + k in [0, m)): np.eye(2**40, 0) is an empty array, and a
  // loop over all n rows took hours.
  for (let i = Math.max(0, -k), end = Math.min(n, m - k); i < end; i++) values[i * m + i + k] = 1;
  return new ConcreteArray(tf.tensor(values, [n, m], dtype));
}

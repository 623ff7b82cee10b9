// Shape arithmetic shared by the shape rules and the `np` namespace: broadcasting, axis
// normalisation, sizes. Every failure names the operation and the shapes involved.
import { ShapeError, fmtShape } from './errors.js';

export type Shape = readonly number[];

export function sizeOf(shape: Shape): number {
  // (An index loop: a for-of here allocated an iterator per call in eager profiles.)
  let n = 1;
  for (let i = 0; i < shape.length; i++) n *= shape[i]!;
  return n;
}

export function shapesEqual(a: Shape, b: Shape): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** NumPy broadcasting of any number of shapes (right-aligned, size-1 dimensions stretch). */
export function broadcastShapes(op: string, ...shapes: Shape[]): number[] {
  const ndim = Math.max(0, ...shapes.map((s) => s.length));
  const out: number[] = new Array(ndim).fill(1);
  for (const s of shapes) {
    const offset = ndim - s.length;
    for (let i = 0; i < s.length; i++) {
      const d = s[i]!;
      const cur = out[offset + i]!;
      if (cur === 1) out[offset + i] = d;
      else if (d !== 1 && d !== cur) {
        throw new ShapeError(
          `${op}: shapes ${shapes.map(fmtShape).join(' and ')} cannot be broadcast together ` +
            `(dimension ${offset + i - ndim} is ${cur} in one and ${d} in another; expected equal sizes or 1)`,
        );
      }
    }
  }
  // Shapes that fit alone can broadcast past int32 ([1e5, 1] + [1, 1e5]); wasm then fails with
  // "memory access out of bounds" and is left broken for every later op.
  checkArraySize(op, out);
  return out;
}

/** The error for an axis that is not an integer in [-ndim, ndim - 1]. */
function axisOutOfRange(op: string, axis: unknown, ndim: number): ShapeError {
  // (A string axis such as '0' printed as 0: "out of range" though 0 was in the range.)
  const got = typeof axis === 'number' ? String(axis) : typeof axis === 'string' ? `'${axis}' (a string)` : `a ${typeof axis}`;
  return new ShapeError(`${op}: axis ${got} is out of range for an array of rank ${ndim}; expected an integer in [${-ndim}, ${ndim - 1}]`);
}

/** Turns a possibly negative axis into 0..ndim-1, or throws naming the op and the shape. */
export function normalizeAxis(op: string, axis: number, ndim: number): number {
  if (!Number.isInteger(axis) || axis < -ndim || axis >= Math.max(ndim, 1) || (ndim === 0 && axis !== 0 && axis !== -1)) {
    throw axisOutOfRange(op, axis, ndim);
  }
  return axis < 0 ? axis + ndim : axis;
}

/**
 * Normalises `axis` (undefined = all axes, a number, or a list) to sorted unique non-negative
 * axes. Duplicates are an error, as in NumPy.
 */
export function normalizeAxes(op: string, axis: number | readonly number[] | undefined | null, ndim: number): number[] {
  if (axis === undefined || axis === null) return Array.from({ length: ndim }, (_, i) => i);
  // (Only a list is spread: a string axis '01' would spread into '0', '1'.)
  const list: unknown[] = typeof axis === 'number' || typeof axis === 'string' ? [axis] : [...axis];
  const out = list.map((a) => {
    if (typeof a !== 'number' || !Number.isInteger(a) || a < -ndim || a >= ndim) throw axisOutOfRange(op, a, ndim);
    return a < 0 ? a + ndim : a;
  });
  if (new Set(out).size !== out.length) throw new ShapeError(`${op}: repeated axis in ${JSON.stringify(list)}`);
  return out.sort((a, b) => a - b);
}

/** The permutation that moves axis `from` to position `to`, keeping the others in order. */
export function moveAxisPerm(ndim: number, from: number, to: number): number[] {
  const perm = Array.from({ length: ndim }, (_, i) => i).filter((i) => i !== from);
  perm.splice(to, 0, from);
  return perm;
}

export function invertPerm(perm: readonly number[]): number[] {
  const inv = new Array<number>(perm.length);
  perm.forEach((p, i) => (inv[p] = i));
  return inv;
}

export function isIdentityPerm(perm: readonly number[]): boolean {
  for (let i = 0; i < perm.length; i++) if (perm[i] !== i) return false;
  return true;
}

/**
 * A static integer argument (axes, repetitions, pad widths, strides) as JS values: a concrete int
 * array becomes its nested lists of numbers, as NumPy takes one; other values pass unchanged. A
 * traced or non-integer array is an error naming `op` and `what` (printed as JSON, an array would
 * have shown its internals, and spread into rows it would have been reported as nonsense).
 */
export function staticInts<T>(op: string, what: string, value: T): T {
  if (Array.isArray(value) || typeof value !== 'object' || value === null || !('aval' in value)) return value;
  const arr = value as unknown as { aval: { str(): string; dtype: string }; concreteValue(): unknown; toArray(): unknown };
  const concrete = arr.concreteValue() !== null;
  if (!concrete || arr.aval.dtype !== 'int32') {
    throw new ShapeError(`${op}: ${what} must be JS integers or a concrete int32 array, got ${concrete ? '' : 'a traced '}${arr.aval.str()} (static: under jit, pass it as a static argument)`);
  }
  return arr.toArray() as T;
}

/**
 * A shape argument as a list of JS numbers: a number, a list, or (as NumPy takes) a concrete int
 * array of rank 0 or 1 (see staticInts).
 */
export function shapeEntries(op: string, shape: readonly number[] | number): number[] {
  const s: unknown = staticInts(op, 'a shape', shape);
  if (typeof s === 'number') return [s];
  if (Array.isArray(s) && s.some(Array.isArray)) throw new ShapeError(`${op}: a shape is a list of sizes, got a nested list ${JSON.stringify(s)}`);
  return [...(s as number[])];
}

/**
 * The most elements an array may have: TF.js sizes and offsets are int32, and no backend holds more
 * (wasm's whole memory is 4 GiB). A larger shape is almost always data passed where a shape belongs.
 */
export const MAX_ARRAY_SIZE = 2 ** 31 - 1;

/** A count of elements as error messages print it (exact, rounded, or past any float). */
function elementCount(size: number): string {
  return Number.isSafeInteger(size) ? String(size) : Number.isFinite(size) ? `about ${size.toPrecision(3)}` : 'more than 1e308';
}

/** An error naming `op` when `size` elements (of `shape`, for the message) exceed MAX_ARRAY_SIZE. */
export function checkArraySize(op: string, shape: Shape, size = sizeOf(shape)): void {
  if (size > MAX_ARRAY_SIZE) {
    const count = elementCount(size);
    throw new ShapeError(`${op}: shape ${fmtShape(shape)} has ${count} elements; expected at most 2³¹ − 1 = ${MAX_ARRAY_SIZE} (TF.js indexes arrays with int32)`);
  }
}

/**
 * A shape argument as a new list, or an error naming `op` unless every entry is a non-negative
 * integer and the size fits an array (else TF.js fails later with a RangeError naming no op).
 * Beside a 0 the size is 0 and the other sizes may pass 2³¹ − 1, as NumPy allows (np.zeros((2**40,
 * 0)) is an empty array; no kernel runs on an empty result), but their product must stay an exact
 * JS integer (at most 2⁵³ − 1): [1e300, 1e300, 0] has size Infinity × 0 = NaN, which passed a size
 * test, and made an empty array whose dimensions no later op could index. (NumPy's own bound,
 * "array is too big", is 2⁶³ − 1 bytes: 2⁶¹ elements of 4 bytes.)
 */
export function checkShape(op: string, shape: readonly number[] | number): number[] {
  const s = shapeEntries(op, shape);
  if (s.some((d) => !Number.isInteger(d) || d < 0)) throw new ShapeError(`${op}: invalid shape ${fmtShape(s)}; expected non-negative integers`);
  let nonZeroSize = 1;
  for (const d of s) if (d !== 0) nonZeroSize *= d;
  if (nonZeroSize === sizeOf(s)) checkArraySize(op, s, nonZeroSize);
  else if (nonZeroSize > Number.MAX_SAFE_INTEGER) {
    throw new ShapeError(`${op}: shape ${fmtShape(s)} would have, without its 0s, ${elementCount(nonZeroSize)} elements; expected a product of its non-zero sizes of at most 2⁵³ − 1 = ${Number.MAX_SAFE_INTEGER}`);
  }
  return s;
}

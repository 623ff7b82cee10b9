// Helpers shared by the indexing ops (shape_ops' `index`, index_update's `np.at`) and the min/max
// reductions that need a fill (np.at min/max, max pooling). Internal: not re-exported by `np`.
import { NDArray } from '../array.js';
import type { DType } from '../dtype.js';
import { ShapeError } from '../errors.js';

/** One static index entry resolved against an axis: all of it, one position, or a slice [b, e) by step (Python semantics). */
export type StaticIndex = { kind: 'all' } | { kind: 'int'; i: number } | { kind: 'slice'; b: number; e: number; step: number };

/** A static argument as error messages print it: numbers and lists as written, an array by its type. */
export function fmtStatic(x: unknown): string {
  if (x instanceof NDArray) return `an array ${x.aval.str()}`;
  if (Array.isArray(x)) return `[${x.map(fmtStatic).join(',')}]`;
  if (typeof x === 'bigint') return `${x}n`;
  return JSON.stringify(x) ?? String(x);
}

/**
 * Resolves entry `s` of an index for axis `ax` of size n: null/undefined keeps the axis, an integer
 * picks one position (negatives count from the end; out of bounds is an error), and
 * [start, stop, step?] is a Python slice clamped to the axis (b is the first position, e the
 * exclusive end, −1 for a negative step that runs to the start). `arrays` says whether the op also
 * takes an int32 array here (np.at does, `index` does not): the messages list what is accepted.
 */
export function staticIndex(op: string, s: unknown, ax: number, n: number, arrays: boolean): StaticIndex {
  if (s === null || s === undefined) return { kind: 'all' };
  if (typeof s === 'number') {
    if (!Number.isInteger(s)) throw new ShapeError(`${op}: index ${s} for axis ${ax} is not an integer; expected an integer, null${arrays ? ', a [start, stop, step] slice or an int32 array' : ' or a [start, stop, step] slice'}`);
    const i = s < 0 ? s + n : s;
    if (i < 0 || i >= n) throw new ShapeError(`${op}: index ${s} is out of bounds for axis ${ax} with size ${n}${arrays ? ` (static indices must be in [${-n}, ${n - 1}])` : ''}`);
    return { kind: 'int', i };
  }
  const isBound = (v: unknown) => v === null || v === undefined || Number.isInteger(v);
  if (!Array.isArray(s) || s.length < 1 || s.length > 3 || !isBound(s[0]) || !isBound(s[1]) || !isBound(s[2])) {
    const forms = arrays ? 'an integer, null, a [start, stop, step] slice of integers or nulls, or an int32 array' : 'an integer, null or a [start, stop, step] slice of integers or nulls';
    throw new ShapeError(`${op}: the index for axis ${ax} is ${fmtStatic(s)}; expected ${forms}${!arrays && s instanceof NDArray ? ' (to index by an array, use np.take)' : ''}`);
  }
  const [start, stop, given] = s as (number | null | undefined)[];
  const step = given ?? 1;
  if (step === 0) throw new ShapeError(`${op}: slice step must be a non-zero integer, got ${step}`);
  const clampTo = (v: number | null | undefined, dflt: number, lo: number, hi: number) => (v === null || v === undefined ? dflt : Math.min(Math.max(v < 0 ? v + n : v, lo), hi));
  return step > 0
    ? { kind: 'slice', b: clampTo(start, 0, 0, n), e: clampTo(stop, n, 0, n), step }
    : { kind: 'slice', b: clampTo(start, n - 1, -1, n - 1), e: clampTo(stop, -1, -1, n - 1), step };
}

/** The positions a slice entry selects, in order. */
export function slicePositions(s: { b: number; e: number; step: number }): number[] {
  const out: number[] = [];
  for (let i = s.b; s.step > 0 ? i < s.e : i > s.e; i += s.step) out.push(i);
  return out;
}

/**
 * The lowest and highest values of a dtype: the identities of max and min, used to fill what a
 * max/min must ignore (a float Infinity would promote int32 to float32, and would read as true in bool).
 */
export function dtypeBounds(dtype: DType): { lowest: number; highest: number } {
  if (dtype === 'int32') return { lowest: -2147483648, highest: 2147483647 };
  if (dtype === 'bool') return { lowest: 0, highest: 1 };
  return { lowest: -Infinity, highest: Infinity };
}

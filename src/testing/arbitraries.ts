// fast-check arbitraries for gradus: shapes, arrays, broadcast-compatible shape tuples and pytrees.
//
// Arrays are generated as plain JS descriptions (`ArrayData`: shape, dtype, values) and turned into
// gradus arrays inside the property with `.toNDArray()` / `toArrays(tree)`. fast-check creates
// (and shrinks through) many more values than a property ever runs on, so generating tensors
// directly would allocate memory nobody frees; descriptions cost nothing and print readably.
import fc from 'fast-check';
import * as tf from '@tensorflow/tfjs-core';
import { ConcreteArray, NDArray, tree } from '../index.js';
import type { DType } from '../index.js';

export type Shape = readonly number[];

function sizeOf(shape: Shape): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** A generated array: shape, dtype and row-major values (float32 values are already rounded to float32). */
export class ArrayData {
  constructor(
    readonly shape: Shape,
    readonly dtype: DType,
    readonly data: readonly number[],
  ) {
    if (data.length !== sizeOf(shape)) throw new Error(`ArrayData: ${data.length} values for shape [${shape.join(',')}]`);
  }
  get size(): number {
    return this.data.length;
  }
  get ndim(): number {
    return this.shape.length;
  }
  /** A new gradus array with these values (owned by the caller). */
  toNDArray(): NDArray {
    const values = this.dtype === 'float32' ? Float32Array.from(this.data) : this.dtype === 'int32' ? Int32Array.from(this.data) : Uint8Array.from(this.data);
    return new ConcreteArray(tf.tensor(values, [...this.shape], this.dtype));
  }
  /** The values as nested JS arrays (booleans for bool), e.g. to pass to `np.array`. */
  toNested(): unknown {
    const vals = this.dtype === 'bool' ? this.data.map((v) => v !== 0) : [...this.data];
    if (this.shape.length === 0) return vals[0];
    const build = (dim: number, offset: number): unknown[] => {
      const n = this.shape[dim]!;
      const stride = sizeOf(this.shape.slice(dim + 1));
      return Array.from({ length: n }, (_, i) => (dim === this.shape.length - 1 ? vals[offset + i] : build(dim + 1, offset + i * stride)));
    };
    return build(0, 0);
  }
  toString(): string {
    const d = this.dtype === 'float32' ? 'f32' : this.dtype === 'int32' ? 'i32' : 'bool';
    return `ArrayData(${d}[${this.shape.join(',')}], ${JSON.stringify(this.toNested())})`;
  }
  [fc.toStringMethod](): string {
    return this.toString();
  }
}

/** Replaces every ArrayData leaf of a tree by a new gradus array (free them with `dispose`). */
export function toArrays<T>(t: T): unknown {
  return tree.map((leaf: unknown) => (leaf instanceof ArrayData ? leaf.toNDArray() : leaf), t as unknown);
}

export interface ShapeConstraints {
  minRank?: number;
  maxRank?: number;
  /** Smallest dimension; default 1 (use 0 for empty arrays). */
  minDim?: number;
  maxDim?: number;
}

/** Shapes of rank minRank..maxRank (default 0..3) with dimensions minDim..maxDim (default 1..4). */
export function arbShape({ minRank = 0, maxRank = 3, minDim = 1, maxDim = 4 }: ShapeConstraints = {}): fc.Arbitrary<number[]> {
  return fc.array(fc.integer({ min: minDim, max: maxDim }), { minLength: minRank, maxLength: maxRank });
}

export interface ArrayConstraints {
  /** Value range (inclusive); default [-2, 2] for float32, [-10, 10] for int32. */
  min?: number;
  max?: number;
  dtype?: DType;
  /**
   * Float values lie on a grid of this spacing (default 2^-10), so they are exact in float32 and
   * sums and products of a few of them are too; shrinking moves them toward 0.
   */
  resolution?: number;
  /** Keep float values at least this far from 0 (for division, log, ...). */
  minAbs?: number;
}

/** A value generator for one element. */
export function arbScalar({ min, max, dtype = 'float32', resolution = 2 ** -10, minAbs = 0 }: ArrayConstraints = {}): fc.Arbitrary<number> {
  if (dtype === 'bool') return fc.boolean().map((b) => (b ? 1 : 0));
  if (dtype === 'int32') {
    const lo = Math.ceil(min ?? -10), hi = Math.floor(max ?? 10);
    if (!(hi >= lo)) throw new Error(`arbScalar: no integer in [${min ?? -10}, ${max ?? 10}]`);
    // Unreachable minAbs would make the filter below reject every value forever.
    if (minAbs > 0 && Math.max(Math.abs(lo), Math.abs(hi)) < minAbs) throw new Error(`arbScalar: no integer in [${lo}, ${hi}] has |x| >= ${minAbs}`);
    const base = fc.integer({ min: lo, max: hi });
    return minAbs > 0 ? base.filter((v) => Math.abs(v) >= minAbs) : base;
  }
  const lo = min ?? -2, hi = max ?? 2;
  if (!(hi >= lo)) throw new Error(`arbScalar: empty range [${lo}, ${hi}]`);
  if (!(resolution > 0)) throw new Error(`arbScalar: resolution must be > 0, got ${resolution}`);
  if (minAbs > 0 && lo > -minAbs && hi < minAbs) throw new Error(`arbScalar: no value in [${lo}, ${hi}] has |x| >= ${minAbs}`);
  // Grid points k·resolution in [lo, hi]; the bounds are inclusive, so lo/resolution = 2.9999999 is 3.
  const snap = (q: number) => (Math.abs(q - Math.round(q)) < 1e-9 * Math.max(1, Math.abs(q)) ? Math.round(q) : q);
  const kLo = Math.ceil(snap(lo / resolution)), kHi = Math.floor(snap(hi / resolution));
  if (kLo > kHi) throw new Error(`arbScalar: no multiple of the resolution ${resolution} lies in [${lo}, ${hi}]`);
  const base = fc.integer({ min: kLo, max: kHi }).map((k) => Math.fround(k * resolution));
  if (minAbs <= 0) return base;
  // Fold the forbidden band outward rather than filtering (filtering a narrow range can starve).
  return base.map((v) => {
    if (Math.abs(v) >= minAbs) return v;
    const out = v < 0 || hi < minAbs ? -minAbs - Math.abs(v) : minAbs + Math.abs(v);
    return Math.fround(Math.min(Math.max(out, lo), hi));
  }).filter((v) => Math.abs(v) >= minAbs);
}

/** Arrays of a fixed shape, or of shapes drawn from a shape arbitrary. */
export function arbArray(shape: Shape | fc.Arbitrary<Shape>, constraints: ArrayConstraints = {}): fc.Arbitrary<ArrayData> {
  const dtype = constraints.dtype ?? 'float32';
  const elem = arbScalar(constraints);
  const ofShape = (s: Shape) => fc.array(elem, { minLength: sizeOf(s), maxLength: sizeOf(s) }).map((vals) => new ArrayData([...s], dtype, vals));
  return shape instanceof fc.Arbitrary ? shape.chain(ofShape) : ofShape(shape);
}

export interface BroadcastConstraints {
  /** How many shapes (default 2). */
  count?: number;
  maxRank?: number;
  maxDim?: number;
  /** Allow 0-sized dimensions (operands then have 0 or 1 there); default true. */
  allowEmpty?: boolean;
}

/**
 * Tuples of shapes that broadcast together under NumPy rules: each drops some leading dimensions of a
 * common shape and replaces some others by 1 (size-1 and, unless disabled, 0-sized dimensions included).
 */
export function arbBroadcastShapes({ count = 2, maxRank = 3, maxDim = 4, allowEmpty = true }: BroadcastConstraints = {}): fc.Arbitrary<number[][]> {
  const dim = allowEmpty ? fc.oneof({ weight: 1, arbitrary: fc.constant(0) }, { weight: 6, arbitrary: fc.integer({ min: 1, max: maxDim }) }) : fc.integer({ min: 1, max: maxDim });
  return fc.array(dim, { maxLength: maxRank }).chain((full) => {
    const operand = fc.tuple(fc.integer({ min: 0, max: full.length }), fc.array(fc.boolean(), { minLength: full.length, maxLength: full.length })).map(([drop, ones]) =>
      full.map((d, i) => (ones[i] ? 1 : d)).slice(drop),
    );
    return fc.array(operand, { minLength: count, maxLength: count });
  });
}

/** Pairs of shapes that do not broadcast: some aligned dimension differs and neither is 1. */
export function arbIncompatibleShapes({ maxRank = 3, maxDim = 5 }: { maxRank?: number; maxDim?: number } = {}): fc.Arbitrary<[number[], number[]]> {
  return fc
    .tuple(
      arbBroadcastShapes({ count: 2, maxRank: Math.max(1, maxRank), maxDim, allowEmpty: false }),
      fc.integer({ min: 2, max: maxDim }),
      fc.integer({ min: 2, max: maxDim }),
      fc.nat(),
    )
    .filter(([, a, b]) => a !== b)
    .map(([[s1, s2], a, b, pick]) => {
      const x = [...s1!], y = [...s2!];
      // Make both operands reach the conflicting axis (counted from the end).
      const rank = Math.max(x.length, y.length, 1);
      while (x.length < rank) x.unshift(1);
      while (y.length < rank) y.unshift(1);
      const ax = pick % rank;
      x[ax] = a;
      y[ax] = b;
      return [x, y];
    });
}

export interface TreeConstraints {
  /** Maximum nesting depth (default 3). */
  maxDepth?: number;
  /** Maximum children of an array or object node (default 3). */
  maxChildren?: number;
  /** Also generate `null` nodes (empty subtrees; default false). */
  withNull?: boolean;
}

/**
 * Pytrees (nested plain objects and arrays) whose leaves come from `leaf`, e.g.
 * `arbTree(arbArray(arbShape()))`; turn ArrayData leaves into arrays with `toArrays`.
 */
export function arbTree<T>(leaf: fc.Arbitrary<T>, { maxDepth = 3, maxChildren = 3, withNull = false }: TreeConstraints = {}): fc.Arbitrary<unknown> {
  const key = fc.constantFrom('a', 'b', 'w', 'bias', 'layers', 'kernel', 'scale', 'z');
  const { node } = fc.letrec<{ node: unknown }>((tie) => {
    const choices: fc.Arbitrary<unknown>[] = [
      leaf,
      fc.array(tie('node'), { maxLength: maxChildren }),
      fc.dictionary(key, tie('node'), { maxKeys: maxChildren, noNullPrototype: true }),
    ];
    if (withNull) choices.push(fc.constant(null));
    return { node: fc.oneof({ maxDepth, depthSize: 'small', withCrossShrink: true }, ...choices) };
  });
  return node;
}

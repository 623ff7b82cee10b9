// Functional index updates (JAX's `x.at[idx].set/add/multiply/min/max/get`) and dynamic slices
// (lax.dynamic_slice / dynamic_update_slice). Everything is built from existing primitives on the
// flattened array — gather reads, scatter_add writes, select masks — so grad, vmap and jit see
// through it with no new rule rows (traced positions: index_update_traced.ts).
import { ConcreteArray, NDArray, type ArrayLike, type IndexSpec } from '../array.js';
import { bind1 } from '../core.js';
import { DTypeError, ShapeError, fmtShape } from '../errors.js';
import { broadcastShapes, normalizeAxis } from '../shape.js';
import { asArray, defop } from './convert.js';
import { add, clip, greater, logicalAnd, multiply, negative, subtract, where, less, astype } from './elementwise.js';
import { broadcastTo, concatenate, reshape } from './shape_ops.js';
import { dtypeBounds, slicePositions, staticIndex } from './static_index.js';
import { constBool, constInt, extremumTraced, gather, laterExtremum, multiplyTraced, scatter, setTraced, staticRuns } from './index_update_traced.js';

/** One entry of `np.at(x, ...)`: an IndexSpec, or an int32 array indexing one axis (JAX's integer-array indexing). */
export type UpdateIndex = IndexSpec | NDArray;

/**
 * The flat positions in x of the indexed region, in region order. `flat` is a JS array when every
 * index is known now (static ints, slices, concrete int arrays), an int32 NDArray when an index
 * array is traced. `valid` marks region entries whose (array) index was in bounds: out-of-bounds
 * array indices are clamped for reads and dropped for updates, as JAX's defaults.
 */
interface Region {
  shape: number[];
  flat: Int32Array | NDArray;
  valid: Uint8Array | NDArray | null;
}

/** The flat stride of axis `ax` in a row-major array of `shape`. */
const strideOf = (shape: readonly number[], ax: number): number => shape.slice(ax + 1).reduce((p, d) => p * d, 1);

/** Resolves `spec` against x's shape into per-axis static coordinates and at most one array index. */
function parseRegion(op: string, x: NDArray, spec: readonly UpdateIndex[]): Region {
  if (spec.length > x.ndim) throw new ShapeError(`${op}: ${spec.length} indices for an array of rank ${x.ndim} (shape ${fmtShape(x.shape)})`);
  const staticCoords: (number[] | null)[] = []; // per axis: coordinates, or null for the array axis
  const keep: boolean[] = []; // per axis: whether it contributes a region axis
  let arrayAxis = -1;
  let arrayIdx: NDArray | null = null;
  x.shape.forEach((n, ax) => {
    const s = ax < spec.length ? spec[ax] : null;
    if (s instanceof NDArray) {
      if (s.dtype !== 'int32') throw new DTypeError(`${op}: the index array for axis ${ax} has dtype ${s.dtype}; expected int32`);
      if (arrayIdx !== null) throw new ShapeError(`${op}: index arrays on axes ${arrayAxis} and ${ax}; only one axis may be indexed by an array`);
      arrayAxis = ax; arrayIdx = s; staticCoords.push(null); keep.push(false);
      return;
    }
    // Integers, slices and null read as in x.at(...) (shared parsing, Python slice semantics).
    const e = staticIndex(op, s, ax, n, true);
    if (e.kind === 'int') { staticCoords.push([e.i]); keep.push(false); return; }
    staticCoords.push(e.kind === 'all' ? slicePositions({ b: 0, e: n, step: 1 }) : slicePositions(e));
    keep.push(true);
  });
  // Region shape: kept static axes in order, with the index array's shape where its axis was —
  // or first, when an integer index and the array are separated by a slice/null (NumPy's rule for
  // non-adjacent advanced indices, which JAX follows: x[0, :, i] has shape [len(i), n1]).
  const idx = arrayIdx as NDArray | null;
  const advanced = x.shape.map((_, ax) => ax).filter((ax) => ax === arrayAxis || (ax < spec.length && typeof spec[ax] === 'number'));
  const front = idx !== null && advanced[advanced.length - 1]! - advanced[0]! + 1 !== advanced.length;
  const shape: number[] = front ? [...idx.shape] : [];
  let arrayPos = front ? 0 : -1;
  x.shape.forEach((_, ax) => {
    if (ax === arrayAxis) { if (!front) { arrayPos = shape.length; shape.push(...idx!.shape); } }
    else if (keep[ax]) shape.push(staticCoords[ax]!.length);
  });
  const size = shape.reduce((p, d) => p * d, 1);
  // Static part of the flat offset, for every region position (the array axis contributes 0 here).
  const base = new Int32Array(size);
  const regionAxesOf: number[] = []; // x axis -> region axis (or -1)
  { let r = front ? idx!.ndim : 0; x.shape.forEach((_, ax) => { if (ax === arrayAxis) { if (!front) r += idx!.ndim; regionAxesOf.push(-1); } else if (keep[ax]) regionAxesOf.push(r++); else regionAxesOf.push(-1); }); }
  const regionStrides = shape.map((_, i) => strideOf(shape, i));
  for (let f = 0; f < size; f++) {
    let off = 0;
    x.shape.forEach((_, ax) => {
      if (ax === arrayAxis) return;
      const c = staticCoords[ax]!;
      const r = regionAxesOf[ax]!;
      const k = r < 0 ? 0 : Math.floor(f / regionStrides[r]!) % shape[r]!;
      off += c[k]! * strideOf(x.shape, ax);
    });
    base[f] = off;
  }
  if (idx === null) return { shape, flat: base, valid: null };
  const n = x.shape[arrayAxis]!;
  const axStride = strideOf(x.shape, arrayAxis);
  if (idx instanceof ConcreteArray) {
    // Known now: resolve in JS (negative counts from the end; out of bounds clamped, marked invalid).
    const vals = idx.dataSync();
    const flat = new Int32Array(size), valid = new Uint8Array(size);
    const inner = shape.slice(arrayPos + idx.ndim).reduce((p, d) => p * d, 1);
    for (let f = 0; f < size; f++) {
      const raw = vals[Math.floor(f / inner) % Math.max(idx.size, 1)]!;
      const i = raw < 0 ? raw + n : raw;
      valid[f] = i >= 0 && i < n ? 1 : 0;
      flat[f] = base[f]! + Math.min(Math.max(i, 0), n - 1) * axStride;
    }
    return { shape, flat, valid };
  }
  // Traced: the same arithmetic on arrays, broadcast into the region's shape.
  const norm = where(less(idx, 0), add(idx, n), idx);
  const validIdx = logicalAnd(greater(norm, -1), less(norm, n));
  const clamped = multiply(clip(norm, 0, n - 1), axStride);
  const dims = (a: NDArray) => reshape(a, [...shape.slice(0, arrayPos).map(() => 1), ...idx.shape, ...shape.slice(arrayPos + idx.ndim).map(() => 1)]);
  const flat = add(broadcastTo(dims(clamped), shape), constInt(base, shape));
  return { shape, flat: reshape(flat, [size]), valid: reshape(broadcastTo(dims(validIdx), shape), [size]) };
}

/** The update value broadcast to the region and flattened to [M], in x's dtype; names both shapes when it does not fit. */
function flatValue(op: string, x: NDArray, region: Region, v: ArrayLike): NDArray {
  let a = asArray(v);
  if (a.dtype !== x.dtype) a = astype(a, x.dtype);
  let fits = a.ndim <= region.shape.length;
  if (fits) {
    try { fits = broadcastShapes(op, a.shape, region.shape).every((d, i) => d === region.shape[i]); } catch { fits = false; }
  }
  if (!fits) throw new ShapeError(`${op}: the value of shape ${fmtShape(a.shape)} does not broadcast to the indexed region of shape ${fmtShape(region.shape)} (x has shape ${fmtShape(x.shape)})`);
  return reshape(broadcastTo(a, region.shape), [region.shape.reduce((p, d) => p * d, 1)]);
}

type Combine = 'set' | 'multiply' | 'min' | 'max';

/**
 * Static positions: split the (valid) updates into rounds in which every target occurs once
 * (round r holds each target's r-th occurrence); more than one round means a repeated target.
 * `set` keeps only the last occurrence of each target: the last write wins.
 */
function staticRounds(flat: Int32Array, valid: Uint8Array | null, lastOnly: boolean): { targets: number[]; sources: number[] }[] {
  const seen = new Map<number, number>();
  const rounds: { targets: number[]; sources: number[] }[] = [];
  if (lastOnly) {
    const last = new Map<number, number>();
    flat.forEach((t, k) => { if (valid === null || valid[k]) last.set(t, k); });
    return last.size ? [{ targets: [...last.keys()], sources: [...last.values()] }] : [];
  }
  flat.forEach((t, k) => {
    if (valid !== null && !valid[k]) return;
    const r = seen.get(t) ?? 0;
    seen.set(t, r + 1);
    (rounds[r] ??= { targets: [], sources: [] }).targets.push(t);
    rounds[r]!.sources.push(k);
  });
  return rounds;
}

/** Applies a set/multiply/min/max update to the flattened x; see `np.at` for the semantics. */
function combineUpdate(kind: Combine, xf: NDArray, region: Region, vf: NDArray): NDArray {
  const S = xf.size, M = vf.size;
  if (M === 0) return xf;
  if (region.flat instanceof Int32Array) {
    const extremum = kind === 'min' || kind === 'max';
    const rounds = staticRounds(region.flat, region.valid as Uint8Array | null, kind === 'set');
    // Values alone (no tracer: nothing differentiates or batches them) with no repeated target: one
    // round, whose values are the sorted path's. A derivative of min/max takes the sorted path for
    // its rule (np.min's, at ties and NaN), as do repeats (one round per repeat cost O(repeats ·
    // x.size): 4096 writes to one entry ran 20,000 kernels, seconds; the product grouped otherwise
    // than under jit; a minimum per round split a tie 1/2, 1/4, … by write order).
    const valuesOnly = xf instanceof ConcreteArray && vf instanceof ConcreteArray;
    if (kind !== 'set' && (rounds.length > 1 || (extremum && !valuesOnly))) {
      const valid = region.valid === null ? new Uint8Array(M).fill(1) : (region.valid as Uint8Array);
      const [flat, ok, known] = [constInt(region.flat, [M]), constBool(valid, [M]), staticRuns(region.flat, valid, S)];
      return kind === 'multiply' ? multiplyTraced(xf, flat, ok, vf, known) : extremumTraced(kind, xf, flat, ok, vf, known);
    }
    const round = rounds[0];
    if (round === undefined) return xf;
    const { targets, sources } = round;
    if (kind === 'set') {
      // Gather each target's winning update: set writes v itself (a scatter-add onto zeros made −0 +0).
      const mask = new Uint8Array(S);
      for (const t of targets) mask[t] = 1;
      const source = new Int32Array(S);
      targets.forEach((t, j) => { source[t] = sources[j]!; });
      return where(constBool(mask, [S]), gather(vf, constInt(source, [S])), xf);
    }
    if (xf.dtype === 'bool') { xf = astype(xf, 'int32'); vf = astype(vf, 'int32'); }
    const combine = (w: NDArray) => (kind === 'multiply' ? multiply(xf, w) : laterExtremum(kind, xf, w));
    // Values alone (read here) with no −0 among them: the writes scattered onto zeros are exact,
    // and select into the targets (the fast path for small eager updates to a large x).
    if (valuesOnly && !(vf.dtype === 'float32' && (vf as ConcreteArray).dataSync().some((w) => w === 0 && 1 / w < 0))) {
      const mask = new Uint8Array(S);
      for (const t of targets) mask[t] = 1;
      const inOrder = sources.length === M && sources.every((k, i) => k === i);
      return where(constBool(mask, [S]), combine(scatter(constInt(targets, [targets.length]), inOrder ? vf : gather(vf, constInt(sources, [sources.length])), S)), xf);
    }
    // Otherwise each entry gathers its write from [e, v], e the op's identity (at 0, where an int32
    // scatter of each write's position + 1 leaves the entries not written): x · 1 and NumPy's
    // min(x, +inf) are x, bit for bit, and a −0 write is read as it is (the scatter made it +0, and
    // gave an untouched entry's zero cotangent times an inf of x, NaN, to a write).
    const { lowest, highest } = dtypeBounds(vf.dtype);
    const pos = scatter(constInt(targets, [targets.length]), constInt(sources.map((k) => k + 1), [sources.length]), S);
    return combine(gather(concatenate([asArray([kind === 'multiply' ? 1 : kind === 'min' ? highest : lowest], vf.dtype), vf]), pos));
  }
  const flat = region.flat, valid = region.valid as NDArray;
  if (kind === 'set') return setTraced(xf, flat, valid, vf);
  // Traced positions: duplicates are unknown until run time, so each update sorts the positions
  // (see index_update_traced.ts): O((M + S) log M) where a one-hot of writes × targets took O(M·S).
  return kind === 'multiply' ? multiplyTraced(xf, flat, valid, vf) : extremumTraced(kind, xf, flat, valid, vf);
}

/** The updates a functional index `np.at(x, ...index)` offers; each returns a new array and leaves x unchanged. */
export interface IndexUpdate {
  /** x[index] (array indices out of bounds are clamped, as JAX's reads). */
  get(): NDArray;
  /** A copy of x with x[index] = v (v broadcasts to the region; with repeated indices the last write wins). */
  set(v: ArrayLike): NDArray;
  /** A copy of x with v added at x[index]; repeated indices accumulate. */
  add(v: ArrayLike): NDArray;
  /** A copy of x with x[index] multiplied by v; repeated indices multiply x by the product of their writes (taken pairwise in a tree, so rounding, overflow and underflow may differ from NumPy's one write at a time: x = 0 with writes 1e30, 1e30 gives NaN, not 0). */
  multiply(v: ArrayLike): NDArray;
  /** A copy of x with x[index] = min(x[index], v); repeated indices take the minimum of all. */
  min(v: ArrayLike): NDArray;
  /** A copy of x with x[index] = max(x[index], v); repeated indices take the maximum of all. */
  max(v: ArrayLike): NDArray;
}

/**
 * Functional index updates, JAX's `x.at[index]`: entries as `x.at(...)` (an integer picks an axis,
 * `[start, stop, step?]` slices, `null` keeps an axis; static integers out of bounds are errors)
 * plus at most one int32 array (concrete or traced) indexing one axis, whose shape replaces that
 * axis in the region (or leads it, when a slice or null separates the array from an integer index:
 * NumPy's rule for non-adjacent advanced indices, as in JAX). Array indices count negatives from the end; out-of-bounds array indices are
 * clamped by `get` and dropped by the updates (JAX's default modes). `set` with repeated indices
 * keeps the last write (JAX leaves it unspecified).
 * @example np.at(np.zeros([3]), 1).set(5) // [0, 5, 0]
 */
export function at(x: ArrayLike, ...index: UpdateIndex[]): IndexUpdate {
  // x converts inside the op, so a JS-array x makes no array that outlives the call.
  const run = (kind: string, body: (xf: NDArray, region: Region, xa: NDArray) => NDArray) =>
    defop((xl: ArrayLike) => {
      const xa = asArray(xl);
      const region = parseRegion(`at(...).${kind}`, xa, index);
      const out = reshape(body(reshape(xa, [xa.size]), region, xa), kind === 'get' ? region.shape : xa.shape);
      // Updates keep x's dtype, as JAX's: arithmetic on bool x (add is or, multiply/min are and, max is or) computes in int32.
      return out.dtype === xa.dtype ? out : astype(out, xa.dtype);
    })(x);
  const update = (kind: Combine) => (v: ArrayLike) => run(kind, (xf, region, xa) => combineUpdate(kind, xf, region, flatValue(`at(...).${kind}`, xa, region, v)));
  return {
    get: () => run('get', (xf, region) => gather(xf, region.flat instanceof Int32Array ? constInt(region.flat, [region.flat.length]) : region.flat)),
    add: (v: ArrayLike) => run('add', (xf, region, xa) => {
      let vf = flatValue('at(...).add', xa, region, v);
      const idx = region.flat instanceof Int32Array ? constInt(region.flat, [region.flat.length]) : region.flat;
      if (region.valid !== null) vf = where(region.valid instanceof Uint8Array ? constBool(region.valid, [region.valid.length]) : region.valid, vf, 0);
      // Floats subtract the scattered negated writes: the entries not written get x − (+0), which
      // is x for every x, where x + (+0) made a −0 +0. (Left: a +0 sum of writes onto a −0 gives
      // −0 − (+0) = −0 where NumPy's −0 + 0 is +0.)
      if (xf.dtype === 'float32') return subtract(xf, scatter(idx, negative(vf), xf.size));
      return add(xf, scatter(idx, vf, xf.size));
    }),
    set: update('set'),
    multiply: update('multiply'),
    min: update('min'),
    max: update('max'),
  };
}

/**
 * The flat offset (an int32 scalar) of a window of `sizes` at `starts` in `shape`: as JAX does
 * (allow_negative_indices=True, its default), a negative start counts from the end (s + n), then
 * each start is clamped into [0, n - size].
 */
function windowOffset(op: string, shape: readonly number[], starts: readonly ArrayLike[], sizes: readonly number[]): NDArray {
  if (starts.length !== shape.length) throw new ShapeError(`${op}: got ${starts.length} start indices for an array of shape ${fmtShape(shape)}; expected ${shape.length}`);
  // JS-integer starts fold into one constant; only array starts become ops.
  let known = 0;
  let off: NDArray | null = null;
  starts.forEach((s, d) => {
    const n = shape[d]!;
    if (typeof s === 'number' && Number.isInteger(s)) { known += clampStart(s, n, sizes[d]!) * strideOf(shape, d); return; }
    const a = asArray(s);
    if (a.ndim !== 0 || a.dtype !== 'int32') throw new DTypeError(`${op}: start index ${d} must be an int32 scalar (or a JS integer), got ${a.dtype} of shape ${fmtShape(a.shape)}`);
    const term = multiply(clip(where(less(a, 0), add(a, n), a), 0, n - sizes[d]!), strideOf(shape, d));
    off = off === null ? term : add(off, term);
  });
  return off === null ? asArray(known, 'int32') : known === 0 ? off : add(off, known);
}

/** The flat positions (relative to the window's corner) of every element of a window of `sizes` in `shape`, in window order. */
function windowPositionsOf(shape: readonly number[], sizes: readonly number[]): Int32Array {
  const size = sizes.reduce((p, d) => p * d, 1);
  const pos = new Int32Array(size);
  for (let f = 0; f < size; f++) {
    let off = 0;
    sizes.forEach((_, d) => { off += (Math.floor(f / strideOf(sizes, d)) % sizes[d]!) * strideOf(shape, d); });
    pos[f] = off;
  }
  return pos;
}
const windowPositions = (shape: readonly number[], sizes: readonly number[]): NDArray => constInt(windowPositionsOf(shape, sizes), [sizes.reduce((p, d) => p * d, 1)]);

/** Throws unless `sizes` gives one size per axis of `shape`, each within its axis. */
function checkSizes(op: string, shape: readonly number[], sizes: readonly number[], what: string): void {
  if (sizes.length !== shape.length || sizes.some((s, d) => !Number.isInteger(s) || s < 0 || s > shape[d]!)) {
    throw new ShapeError(`${op}: ${what} ${fmtShape(sizes)} does not fit in the operand of shape ${fmtShape(shape)}; expected one size per axis, each in [0, the axis size]`);
  }
}

/**
 * lax.dynamic_slice: the window of `sliceSizes` whose corner is `startIndices` (JS integers or
 * int32 scalars, traced allowed); a negative start counts from the end (JAX's default
 * allow_negative_indices), then each start is clamped into [0, n - size] so the window stays in
 * bounds. Differentiable in x (not the indices); vmap batches the starts too.
 * @example dynamicSlice(np.arange(5), [np.array(3, 'int32')], [3]) // [2, 3, 4]: start 3 clamps to 2
 * @example dynamicSlice(np.arange(5), [-1], [2]) // [3, 4]: start -1 is 4, which clamps to 3
 */
export const dynamicSlice = defop((x: ArrayLike, startIndices: readonly ArrayLike[], sliceSizes: readonly number[]): NDArray => {
  const a = asArray(x);
  checkSizes('dynamicSlice', a.shape, sliceSizes, 'slice sizes');
  const flat = add(windowPositions(a.shape, sliceSizes), windowOffset('dynamicSlice', a.shape, startIndices, sliceSizes));
  return reshape(gather(reshape(a, [a.size]), flat), sliceSizes);
});

/**
 * lax.dynamic_update_slice: a copy of x with `update` written at `startIndices` (negative starts
 * count from the end), each start clamped into [0, n - size] so the update fits. Differentiable in x and update (not the indices).
 * With traced starts (under jit or vmap) a −0 in a float update is written as +0 (XLA keeps it).
 * @example dynamicUpdateSlice(np.zeros([4]), np.ones([2]), [3]) // [0, 0, 1, 1]
 */
export const dynamicUpdateSlice = defop((x: ArrayLike, update: ArrayLike, startIndices: readonly ArrayLike[]): NDArray => {
  const a = asArray(x);
  let u = asArray(update);
  if (u.dtype !== a.dtype) throw new DTypeError(`dynamicUpdateSlice: the update has dtype ${u.dtype} but the operand has ${a.dtype}; expected the same dtype`);
  if (u.ndim !== a.ndim) throw new ShapeError(`dynamicUpdateSlice: the update of shape ${fmtShape(u.shape)} has a different rank than the operand of shape ${fmtShape(a.shape)}`);
  checkSizes('dynamicUpdateSlice', a.shape, u.shape, 'the update of shape');
  // The update is written as it is (scattering it onto zeros made a −0 +0). Starts known now (JS
  // integers, concrete arrays) pad the update into place and select it in: two passes over x, where
  // the scatters took four.
  const known = knownStarts(a.shape, startIndices, u.shape);
  if (known !== null) {
    const mask = new Uint8Array(a.size);
    const pos = windowPositionsOf(a.shape, u.shape);
    const off = known.reduce((p, s, d) => p + s * strideOf(a.shape, d), 0);
    for (const q of pos) mask[q + off] = 1;
    const padded = bind1('pad', [u], { lo: known, hi: a.shape.map((n, d) => n - known[d]! - u.shape[d]!), interior: a.shape.map(() => 0), value: 0 });
    return where(constBool(mask, a.shape), padded, a);
  }
  const flat = add(windowPositions(a.shape, u.shape), windowOffset('dynamicUpdateSlice', a.shape, startIndices, u.shape));
  u = reshape(u, [u.size]);
  const hit = greater(scatter(flat, asArray(new Array(u.size).fill(1), 'float32'), a.size), 0);
  // Traced starts scatter the update onto zeros and select it in, which writes a −0 in the update
  // as +0 (0 + −0 = +0). Exact ways cost a full pass over x more (gathering the update at an int32
  // scatter of positions: 1.5 -> 7.5 ms for 10^3 into 10^6 under jit), and traced starts are the
  // loop case (foriLoop bodies writing a slice per step), so the sign of a zero is given up there.
  return reshape(where(hit, scatter(flat, u, a.size), reshape(a, [a.size])), a.shape);
});

/** A window start as lax.dynamic_slice takes it: negative counts from the end, clamped so the window fits. */
const clampStart = (s: number, n: number, size: number): number => Math.min(Math.max(s < 0 ? s + n : s, 0), n - size);

/**
 * The clamped starts of a window of `sizes` when every start is known now (a JS integer or a
 * concrete int32 scalar), as windowOffset clamps them; null when one is traced. Bad starts are left
 * to windowOffset's checks.
 */
function knownStarts(shape: readonly number[], starts: readonly ArrayLike[], sizes: readonly number[]): number[] | null {
  if (starts.length !== shape.length) return null;
  const out: number[] = [];
  for (let d = 0; d < shape.length; d++) {
    const s = starts[d];
    let v: number;
    if (typeof s === 'number' && Number.isInteger(s)) v = s;
    else if (s instanceof ConcreteArray && s.ndim === 0 && s.dtype === 'int32') v = Number(s.dataSync()[0]);
    else return null;
    out.push(clampStart(v, shape[d]!, sizes[d]!));
  }
  return out;
}

/** lax.dynamic_slice_in_dim: `sliceSize` entries of axis `axis` from `startIndex` (clamped), all of every other axis. */
export const dynamicSliceInDim = defop((x: ArrayLike, startIndex: ArrayLike, sliceSize: number, axis = 0): NDArray => {
  const a = asArray(x);
  const ax = normalizeAxis('dynamicSliceInDim', axis, a.ndim);
  return dynamicSlice(a, a.shape.map((_, d) => (d === ax ? startIndex : 0)), a.shape.map((n, d) => (d === ax ? sliceSize : n)));
});

/** lax.dynamic_index_in_dim: entry `index` (clamped) of axis `axis`, kept as a size-1 axis unless keepdims is false (JAX's default keeps it). */
export const dynamicIndexInDim = defop((x: ArrayLike, index: ArrayLike, axis = 0, keepdims = true): NDArray => {
  const a = asArray(x);
  const ax = normalizeAxis('dynamicIndexInDim', axis, a.ndim);
  const s = dynamicSliceInDim(a, index, 1, ax);
  return keepdims ? s : reshape(s, a.shape.filter((_, d) => d !== ax));
});

/** lax.dynamic_update_slice_in_dim: `update` written along axis `axis` at `startIndex` (clamped). */
export const dynamicUpdateSliceInDim = defop((x: ArrayLike, update: ArrayLike, startIndex: ArrayLike, axis = 0): NDArray => {
  const a = asArray(x);
  const ax = normalizeAxis('dynamicUpdateSliceInDim', axis, a.ndim);
  return dynamicUpdateSlice(a, update, a.shape.map((_, d) => (d === ax ? startIndex : 0)));
});

/**
 * jax.ops.segment_sum: out[s] = Σ data[i] over the i with segmentIds[i] = s, for s < numSegments
 * (a JS integer, the output's leading size). Ids outside [0, numSegments) are dropped, as JAX does.
 * Without numSegments it is max(segmentIds) + 1 (JAX's default), which needs the ids' values: under
 * jit or vmap over the ids, pass numSegments. Keeps data's dtype, as JAX: bool data sums as an or
 * (scatter-add on bool is logical or), so each segment says whether any of its entries is true.
 * Differentiable in data (the cotangent is gathered back by segment); ids may be traced.
 * @example segmentSum([1, 2, 3], np.array([0, 2, 0], 'int32'), 3) // [4, 0, 2]
 * @example segmentSum(np.arange(5), np.array([0, 0, 1, 1, 2], 'int32')) // [1, 5, 4]: 3 segments
 */
export const segmentSum = defop((data: ArrayLike, segmentIds: ArrayLike, numSegments?: number): NDArray => {
  const d = asArray(data), ids = asArray(segmentIds);
  if (ids.dtype !== 'int32') throw new DTypeError(`segmentSum: segment ids have dtype ${ids.dtype}; expected int32`);
  if (d.ndim < 1 || ids.ndim !== 1 || ids.shape[0] !== d.shape[0]) {
    throw new ShapeError(`segmentSum: segment ids of shape ${fmtShape(ids.shape)} must be 1-D with one id per row of data (shape ${fmtShape(d.shape)})`);
  }
  if (numSegments === undefined) numSegments = inferNumSegments(ids);
  if (!Number.isInteger(numSegments) || numSegments < 0) throw new ShapeError(`segmentSum: numSegments must be a non-negative integer, got ${numSegments}`);
  if (numSegments === 0) return reshape(asArray(new Array(0).fill(0), d.dtype), [0, ...d.shape.slice(1)]);
  // Bools count in int32, then any count above 0 is true (JAX's or); other dtypes sum in their own.
  const summand = d.dtype === 'bool' ? astype(d, 'int32') : d;
  const valid = reshape(logicalAnd(greater(ids, -1), less(ids, numSegments)), [ids.size, ...d.shape.slice(1).map(() => 1)]);
  const out = bind1('scatter_add', [clip(ids, 0, numSegments - 1), where(valid, summand, 0)], { axis: 0, axisSize: numSegments });
  return d.dtype === 'bool' ? greater(out, 0) : out;
});

/** JAX's default num_segments, max(ids) + 1, from ids known now; traced ids (jit, vmap) have no value to take it from. */
function inferNumSegments(ids: NDArray): number {
  const known = ids.concreteValue();
  if (known === null) {
    throw new ShapeError(`segmentSum: the segment ids ${ids.aval.str()} are abstract inside ${ids.abstractIn() ?? 'a transformation'}, so the number of segments (max(ids) + 1) is unknown; pass numSegments (the output's leading size), as JAX needs a static num_segments under jit and vmap`);
  }
  const vals = known.dataSync();
  if (vals.length === 0) throw new ShapeError('segmentSum: no segment ids to take numSegments from (max(ids) + 1); pass numSegments');
  let k = -Infinity;
  for (let i = 0; i < vals.length; i++) k = Math.max(k, Number(vals[i]));
  k += 1;
  if (k < 0) throw new ShapeError(`segmentSum: numSegments = max(ids) + 1 = ${k} is negative; pass numSegments`);
  return k;
}

// Shape manipulation: reshape, transpose, broadcasting, joining and splitting, slicing and
// indexing, gathering. All are views of the same primitives (reshape, transpose, broadcast_in_dim,
// slice, pad, concatenate, rev, gather), so every transformation handles them.
import { NDArray, type ArrayLike, type Axis, type IndexSpec } from '../array.js';
import { bind1 } from '../core.js';
import { promoteTypes } from '../dtype.js';
import { DTypeError, ShapeError, fmtShape } from '../errors.js';
import { broadcastShapes, checkArraySize, checkShape, shapeEntries, staticInts, moveAxisPerm, normalizeAxes, normalizeAxis, shapesEqual } from '../shape.js';
import { arange, asArray, defop } from './convert.js';
import { fmtStatic, staticIndex } from './static_index.js';
import { add, clip, multiply, subtract, where, less } from './elementwise.js';
import { astypeRaw } from './operands.js';

function resolveShape(op: string, size: number, shape: readonly number[]): number[] {
  const s = shapeEntries(op, shape);
  if (s.some((d) => !Number.isInteger(d) || d < -1)) throw new ShapeError(`${op}: invalid shape ${fmtShape(s)}; expected integers ≥ 0, and at most one -1`);
  const unknown = s.indexOf(-1);
  if (unknown >= 0) {
    if (s.indexOf(-1, unknown + 1) >= 0) throw new ShapeError(`${op}: only one dimension may be -1, got ${fmtShape(shape)}`);
    const known = s.reduce((a, d, i) => (i === unknown ? a : a * d), 1);
    if (known === 0 || size % known !== 0) throw new ShapeError(`${op}: cannot infer the -1 in ${fmtShape(shape)} for ${size} elements`);
    s[unknown] = size / known;
  }
  return s;
}

export const reshape = defop((x: ArrayLike, shape: readonly number[]): NDArray => {
  const a = asArray(x);
  const s = resolveShape('reshape', a.size, shape);
  if (shapesEqual(s, a.shape)) return a;
  return bind1('reshape', [a], { shape: s });
});

export const ravel = defop((x: ArrayLike): NDArray => reshape(x, [-1]));
export const flatten = ravel;

/** Permutes axes; reverses them when `perm` is omitted (so `x.T` is the matrix transpose). */
export const transpose = defop((x: ArrayLike, perm?: readonly number[]): NDArray => {
  const a = asArray(x);
  const p = perm ? perm.map((ax) => normalizeAxis('transpose', ax, a.ndim)) : a.shape.map((_, i) => a.ndim - 1 - i);
  if (p.every((v, i) => v === i) && p.length === a.ndim) return a;
  return bind1('transpose', [a], { perm: p });
});

/** Moves axes to new positions, the others keeping their order; `source` and `destination` are axes or equally long lists of axes (NumPy). */
export const moveaxis = defop((x: ArrayLike, source: number | readonly number[], destination: number | readonly number[]): NDArray => {
  const a = asArray(x);
  source = staticInts('moveaxis', 'source axes', source);
  destination = staticInts('moveaxis', 'destination axes', destination);
  if (typeof source === 'number' && typeof destination === 'number') {
    return transpose(a, moveAxisPerm(a.ndim, normalizeAxis('moveaxis', source, a.ndim), normalizeAxis('moveaxis', destination, a.ndim)));
  }
  const src = (typeof source === 'number' ? [source] : [...source]).map((d) => normalizeAxis('moveaxis', d, a.ndim));
  const dst = (typeof destination === 'number' ? [destination] : [...destination]).map((d) => normalizeAxis('moveaxis', d, a.ndim));
  if (src.length !== dst.length) throw new ShapeError(`moveaxis: source ${JSON.stringify(source)} and destination ${JSON.stringify(destination)} must name as many axes`);
  for (const [what, axes] of [['source', src], ['destination', dst]] as const) {
    if (new Set(axes).size !== axes.length) throw new ShapeError(`moveaxis: repeated axis in ${what} ${JSON.stringify(what === 'source' ? source : destination)} (axes of an array of rank ${a.ndim})`);
  }
  // NumPy's construction: the unmoved axes in order, then each moved axis inserted at its destination, by increasing destination.
  const perm = a.shape.map((_, i) => i).filter((i) => !src.includes(i));
  dst.map((d, i) => [d, src[i]!] as const).sort((p, q) => p[0] - q[0]).forEach(([d, s]) => perm.splice(d, 0, s));
  return transpose(a, perm);
});

export const swapaxes = defop((x: ArrayLike, axis1: number, axis2: number): NDArray => {
  const a = asArray(x);
  const perm = a.shape.map((_, i) => i);
  const i = normalizeAxis('swapaxes', axis1, a.ndim), j = normalizeAxis('swapaxes', axis2, a.ndim);
  [perm[i], perm[j]] = [perm[j]!, perm[i]!];
  return transpose(a, perm);
});

export const expandDims = defop((x: ArrayLike, axis: number | readonly number[]): NDArray => {
  const a = asArray(x);
  const axes = normalizeAxes('expandDims', axis, a.ndim + (typeof axis === 'number' ? 1 : axis.length));
  const shape = [...a.shape];
  for (const ax of axes) shape.splice(ax, 0, 1);
  return bind1('reshape', [a], { shape });
});

export const squeeze = defop((x: ArrayLike, axis?: Axis): NDArray => {
  const a = asArray(x);
  const axes = axis === undefined || axis === null ? a.shape.map((d, i) => (d === 1 ? i : -1)).filter((i) => i >= 0) : normalizeAxes('squeeze', axis, a.ndim);
  for (const ax of axes) {
    if (a.shape[ax] !== 1) throw new ShapeError(`squeeze: axis ${ax} of shape ${fmtShape(a.shape)} has size ${a.shape[ax]}; expected 1`);
  }
  if (axes.length === 0) return a;
  return bind1('reshape', [a], { shape: a.shape.filter((_, i) => !axes.includes(i)) });
});

/** Broadcasts to `shape` with NumPy rules (leading axes added, size-1 axes stretched). */
export const broadcastTo = defop((x: ArrayLike, shape: readonly number[]): NDArray => {
  const a = asArray(x);
  const target = checkShape('broadcastTo', shape);
  const out = broadcastShapes('broadcastTo', a.shape, target);
  if (!shapesEqual(out, target)) throw new ShapeError(`broadcastTo: cannot broadcast ${fmtShape(a.shape)} to ${fmtShape(target)}`);
  if (shapesEqual(a.shape, target)) return a;
  const offset = target.length - a.ndim;
  return bind1('broadcast_in_dim', [a], { shape: target, broadcastDimensions: a.shape.map((_, i) => i + offset) });
});

export const broadcastArrays = defop((...xs: ArrayLike[]): NDArray[] => {
  const arrays = xs.map((x) => asArray(x));
  const shape = broadcastShapes('broadcastArrays', ...arrays.map((a) => a.shape));
  return arrays.map((a) => broadcastTo(a, shape));
});

function promoteAll(op: string, xs: readonly ArrayLike[]): NDArray[] {
  if (xs.length === 0) throw new ShapeError(`${op}: expected at least one array`);
  const arrays = xs.map((x) => asArray(x));
  const d = arrays.map((a) => a.dtype).reduce(promoteTypes);
  return arrays.map((a) => astypeRaw(a, d));
}

/** Joins arrays along an existing `axis`; `axis` null joins them flattened (NumPy's axis=None). */
export const concatenate = defop((xs: readonly ArrayLike[], axis: number | null = 0): NDArray => {
  if (axis === null) return concatenate(promoteAll('concatenate', xs).map((a) => ravel(a)), 0);
  const arrays = promoteAll('concatenate', xs);
  const ax = normalizeAxis('concatenate', axis, arrays[0]!.ndim);
  const first = arrays[0]!;
  for (const a of arrays) {
    if (a.ndim !== first.ndim || a.shape.some((d, i) => i !== ax && d !== first.shape[i])) {
      throw new ShapeError(`concatenate: shapes ${arrays.map((b) => fmtShape(b.shape)).join(', ')} must agree except on axis ${axis}`);
    }
  }
  if (arrays.length === 1) return first;
  return bind1('concatenate', arrays, { axis: ax });
});

export const stack = defop((xs: readonly ArrayLike[], axis = 0): NDArray => {
  const arrays = promoteAll('stack', xs);
  const first = arrays[0]!;
  for (const a of arrays) {
    if (!shapesEqual(a.shape, first.shape)) throw new ShapeError(`stack: all arrays need the same shape, got ${arrays.map((b) => fmtShape(b.shape)).join(', ')}`);
  }
  const ax = normalizeAxis('stack', axis, first.ndim + 1);
  const shape = [...first.shape];
  shape.splice(ax, 0, 1);
  return concatenate(arrays.map((a) => bind1('reshape', [a], { shape })), ax);
});

/** Splits into `sections` equal parts, or at the given indices, along `axis`. */
export const split = defop((x: ArrayLike, sectionsOrIndices: number | readonly number[], axis = 0): NDArray[] => {
  const a = asArray(x);
  const ax = normalizeAxis('split', axis, a.ndim);
  const n = a.shape[ax]!;
  let bounds: number[];
  if (typeof sectionsOrIndices === 'number') {
    if (!Number.isInteger(sectionsOrIndices) || sectionsOrIndices < 1) throw new ShapeError(`split: expected a positive integer number of sections, got ${sectionsOrIndices}`);
    if (n % sectionsOrIndices !== 0) throw new ShapeError(`split: axis ${axis} of size ${n} cannot be split into ${sectionsOrIndices} equal sections`);
    const step = n / sectionsOrIndices;
    bounds = Array.from({ length: sectionsOrIndices + 1 }, (_, i) => i * step);
  } else {
    const bad = sectionsOrIndices.find((i) => !Number.isInteger(i));
    if (bad !== undefined) throw new ShapeError(`split: expected integer split indices, got ${bad} in [${sectionsOrIndices.join(', ')}]`);
    bounds = [0, ...sectionsOrIndices.map((i) => Math.min(Math.max(i < 0 ? i + n : i, 0), n)), n];
  }
  const out: NDArray[] = [];
  for (let i = 0; i + 1 < bounds.length; i++) {
    const start = a.shape.map(() => 0), limit = [...a.shape];
    start[ax] = bounds[i]!;
    limit[ax] = Math.max(bounds[i + 1]!, bounds[i]!);
    out.push(sliceRaw('split', a, start, limit));
  }
  return out;
});

function sliceRaw(op: string, a: NDArray, start: number[], limit: number[], strides?: number[]): NDArray {
  const s = strides ?? a.shape.map(() => 1);
  if (start.every((v) => v === 0) && limit.every((v, i) => v === a.shape[i]) && s.every((v) => v === 1)) return a;
  return bind1('slice', [a], { start, limit, strides: s });
}

/** `slice(x, start, limit, strides?)`: the box start <= i < limit (like `lax.slice`). */
export const slice = defop((x: ArrayLike, start: readonly number[], limit: readonly number[], strides?: readonly number[]): NDArray => {
  const a = asArray(x);
  return bind1('slice', [a], { start: [...start], limit: [...limit], strides: strides ? [...strides] : a.shape.map(() => 1) });
});

/** Pads with a constant: `padWidth` is [before, after] per axis (or one pair/number for all axes). */
export const pad = defop((x: ArrayLike, padWidth: number | readonly [number] | readonly [number, number] | readonly (readonly [number, number])[], value = 0): NDArray => {
  const a = asArray(x);
  padWidth = staticInts('pad', 'pad widths', padWidth);
  let pairs: (readonly [number, number])[];
  if (typeof padWidth === 'number') pairs = a.shape.map(() => [padWidth, padWidth] as const);
  else if (padWidth.length === 1 && typeof padWidth[0] === 'number') {
    const n = padWidth[0];
    pairs = a.shape.map(() => [n, n] as const); // [n]: n on both sides of every axis
  }
  else if (typeof padWidth[0] === 'number') pairs = a.shape.map(() => padWidth as readonly [number, number]);
  else pairs = [...(padWidth as readonly (readonly [number, number])[])];
  if (pairs.length === 1 && a.ndim > 1) pairs = a.shape.map(() => pairs[0]!); // [[before, after]] for every axis, as NumPy
  if (pairs.length !== a.ndim || pairs.some((p) => p.length !== 2 || p.some((w) => !Number.isInteger(w) || w < 0))) {
    throw new ShapeError(`pad: expected one [before, after] pair of non-negative integers per axis of ${fmtShape(a.shape)}, got ${JSON.stringify(padWidth)}`);
  }
  // (Past 2³¹ − 1 elements wasm's pad returned an array of that shape over wrapped-around memory.)
  checkArraySize('pad', a.shape.map((d, i) => d + pairs[i]![0] + pairs[i]![1]));
  return bind1('pad', [a], { lo: pairs.map((p) => p[0]), hi: pairs.map((p) => p[1]), interior: a.shape.map(() => 0), value });
});

export const flip = defop((x: ArrayLike, axis?: Axis): NDArray => {
  const a = asArray(x);
  return bind1('rev', [a], { axes: normalizeAxes('flip', axis, a.ndim) });
});

/** Entries lo ≤ i < hi along `axis` (all of the other axes). */
function sliceAxis(a: NDArray, axis: number, lo: number, hi: number): NDArray {
  return slice(a, a.shape.map((_, i) => (i === axis ? lo : 0)), a.shape.map((d, i) => (i === axis ? hi : d)));
}

/**
 * Shifts entries along `axis` by `shift` places, wrapping around (NumPy's `roll`; the flattened
 * array when `axis` is omitted, by the sum of a list of shifts, as NumPy). `shift` and `axis` may
 * be equally long lists, or one of them a single entry that pairs with each of the other. Shifts are JS
 * integers, or an int32 array (a scalar, or one per axis) that may be traced under jit or vmap:
 * then each axis is one gather at positions (i − shift) mod n, differentiable in x (JAX slices the
 * doubled array dynamically; here one gather, whose index list is n long).
 * Axes are always static.
 */
export const roll = defop((x: ArrayLike, shift: number | readonly number[] | NDArray, axis?: number | readonly number[]): NDArray => {
  let a = asArray(x);
  if (axis instanceof NDArray) throw new ShapeError(`roll: axes are JS integers or lists of them (they pick the axes to shift), got axis ${fmtStatic(axis)}`);
  if (shift instanceof NDArray && shift.concreteValue() !== null && shift.dtype === 'int32') shift = staticInts('roll', 'shifts', shift as unknown) as number | number[];
  // Without axes, every shift applies to the flattened array (NumPy and JAX broadcast a list of
  // shifts against the one axis 0: np.roll(x, [1, 2]) rolls the flat array by 3).
  if (axis === undefined) return reshape(roll(ravel(a), shift, 0), a.shape);
  const axes = typeof axis === 'number' ? [axis] : [...axis];
  if (shift instanceof NDArray) return rollTraced(a, shift, axes.map((ax) => normalizeAxis('roll', ax, a.ndim)));
  const shifts = typeof shift === 'number' ? [shift] : [...shift];
  if (shifts.some((k) => !Number.isInteger(k))) throw new ShapeError(`roll: shifts must be JS integers, got ${fmtStatic(shift)}`);
  if (shifts.length !== axes.length && shifts.length !== 1 && axes.length !== 1) throw new ShapeError(`roll: ${shifts.length} shifts for ${axes.length} axes; expected as many, or one of either`);
  // Broadcast as NumPy does: one shift (or one axis) pairs with every entry of the other list, none included.
  const count = shifts.length === 1 ? axes.length : shifts.length;
  const pairs = Array.from({ length: count }, (_, i) => [shifts[shifts.length === 1 ? 0 : i]!, normalizeAxis('roll', axes[axes.length === 1 ? 0 : i]!, a.ndim)] as const);
  for (const [k, ax] of pairs) {
    const n = a.shape[ax]!;
    const s = n === 0 ? 0 : ((k % n) + n) % n;
    if (s === 0) continue;
    a = concatenate([sliceAxis(a, ax, n - s, n), sliceAxis(a, ax, 0, n - s)], ax);
  }
  return a;
});

/** roll by an int32 array of shifts (a scalar, or one per axis; traced under jit or vmap): one gather per axis at (i − shift) mod n. */
function rollTraced(a: NDArray, shift: NDArray, axes: number[]): NDArray {
  if (shift.dtype !== 'int32') throw new DTypeError(`roll: an array of shifts must be int32, got ${shift.aval.str()}`);
  if (shift.ndim > 1 || (shift.ndim === 1 && shift.shape[0] !== 1 && axes.length !== 1 && shift.shape[0] !== axes.length)) {
    throw new ShapeError(`roll: shifts ${shift.aval.str()} for ${axes.length} axes [${axes.join(', ')}]; expected a scalar, or one shift per axis`);
  }
  const count = shift.ndim === 0 ? axes.length : Math.max(shift.shape[0]!, axes.length);
  for (let i = 0; i < count; i++) {
    const ax = axes[axes.length === 1 ? 0 : i]!;
    const n = a.shape[ax]!;
    if (n === 0) continue;
    const k = shift.ndim === 0 ? shift : reshape(sliceAxis(shift, 0, shift.shape[0] === 1 ? 0 : i, shift.shape[0] === 1 ? 1 : i + 1), []);
    // Output i takes input (i − k) mod n; the remainder has the divisor's sign, so it is in [0, n).
    const positions = bind1('rem', [subtract(arange(0, n, 1, 'int32'), broadcastTo(k, [n])), broadcastTo(asArray(n, 'int32'), [n])], {});
    a = bind1('gather', [a, positions], { axis: ax });
  }
  return a;
}

/** The n-th discrete difference along `axis`, x[i+1] − x[i] applied n times (NumPy's `diff`; for bools x[i+1] ≠ x[i]). */
export const diff = defop((x: ArrayLike, n = 1, axis = -1): NDArray => {
  let a = asArray(x);
  if (!Number.isInteger(n) || n < 0) throw new ShapeError(`diff: the order n must be a non-negative integer, got ${n}`);
  const ax = normalizeAxis('diff', axis, a.ndim);
  for (let k = 0; k < n; k++) {
    const len = a.shape[ax]!;
    if (len === 0) break;
    const [next, prev] = [sliceAxis(a, ax, 1, len), sliceAxis(a, ax, 0, len - 1)];
    a = a.dtype === 'bool' ? bind1('ne', [next, prev], {}) : subtract(next, prev);
  }
  return a;
});

/** Repeats the whole array `reps` times along each axis. */
export const tile = defop((x: ArrayLike, reps: number | readonly number[]): NDArray => {
  let a = asArray(x);
  reps = staticInts('tile', 'repetitions', reps);
  const r = typeof reps === 'number' ? [reps] : [...reps];
  if (r.some((k) => !Number.isInteger(k) || k < 0)) throw new ShapeError(`tile: expected non-negative integer repetitions, got ${JSON.stringify(reps)}`);
  const ndim = Math.max(a.ndim, r.length);
  while (r.length < ndim) r.unshift(1);
  if (a.ndim < ndim) a = bind1('reshape', [a], { shape: [...new Array<number>(ndim - a.ndim).fill(1), ...a.shape] });
  // [d0, d1] -> broadcast to [r0, d0, r1, d1] -> reshape [r0*d0, r1*d1]
  checkArraySize('tile', a.shape.map((d, i) => d * r[i]!));
  const big = a.shape.flatMap((d, i) => [r[i]!, d]);
  const b = bind1('broadcast_in_dim', [a], { shape: big, broadcastDimensions: a.shape.map((_, i) => 2 * i + 1) });
  return bind1('reshape', [b], { shape: a.shape.map((d, i) => d * r[i]!) });
});

/** Options of np.repeat (jnp.repeat's keyword). */
export interface RepeatOptions {
  /**
   * The output length along the axis, fixed in advance (what lets `repeats` be traced): extra entries
   * repeat the last element, a shortfall drops the tail (JAX). An empty axis has no last element and
   * stays empty whatever the length, as jnp.repeat returns the empty array.
   */
  totalRepeatLength?: number;
}

/**
 * Repeats each element along `axis` (the flattened array when omitted or null), NumPy's `repeat`:
 * `repeats` is one count for every element, or one per element along the axis (a list or int32
 * array; a single-entry list counts for all). A traced `repeats` (under jit or vmap) needs
 * `totalRepeatLength`, which fixes the output's length, as in JAX.
 * @example repeat([1, 2, 3], [2, 0, 1]) // [1, 1, 3]
 */
export const repeat = defop((x: ArrayLike, repeats: number | readonly number[] | ArrayLike, axis?: number | null, options: RepeatOptions = {}): NDArray => {
  let a = asArray(x);
  if (axis === undefined || axis === null) { a = ravel(a); axis = 0; }
  const ax = normalizeAxis('repeat', axis, a.ndim);
  const n = a.shape[ax]!;
  const total = options.totalRepeatLength;
  if (total !== undefined && (!Number.isInteger(total) || total < 0)) throw new ShapeError(`repeat: totalRepeatLength must be a non-negative integer, got ${fmtStatic(total)}`);
  if (repeats instanceof NDArray && repeats.concreteValue() === null) {
    if (total === undefined) throw new ShapeError(`repeat: repeats is a traced array ${repeats.aval.str()}, so the output length is unknown; pass { totalRepeatLength } (jnp.repeat's total_repeat_length) to fix it, or concrete repeats`);
    return repeatTraced(a, repeats, ax, total);
  }
  const r = staticInts('repeat', 'repeats', repeats as number | readonly number[]);
  const counts = typeof r === 'number' ? [r] : Array.isArray(r) ? [...(r as unknown[])] : [r];
  if (counts.some((k) => typeof k !== 'number' || !Number.isInteger(k) || k < 0)) throw new ShapeError(`repeat: expected a non-negative integer number of repeats, or a list of them, got ${fmtStatic(repeats)}`);
  if (counts.length !== 1 && counts.length !== n) throw new ShapeError(`repeat: ${counts.length} repeats for axis ${ax} of ${fmtShape(a.shape)}, which has ${n} entries; expected one count, or one per entry`);
  if (counts.length === 1 && total === undefined) {
    // One count for all: broadcast along a new axis after `ax` and merge the two.
    const k = counts[0] as number;
    const big = [...a.shape];
    big.splice(ax + 1, 0, k);
    const b = bind1('broadcast_in_dim', [a], { shape: big, broadcastDimensions: a.shape.map((_, i) => (i <= ax ? i : i + 1)) });
    const out = [...a.shape];
    out[ax] = n * k;
    return bind1('reshape', [b], { shape: out });
  }
  const positions: number[] = [];
  const countOf = (i: number): number => counts[counts.length === 1 ? 0 : i] as number;
  for (let i = 0; i < n; i++) for (let k = 0; k < countOf(i); k++) positions.push(i);
  if (total !== undefined) {
    // An empty axis has no last element to pad with: jnp.repeat returns the (empty) array as it is.
    if (n === 0) return sliceAxis(a, ax, 0, 0);
    while (positions.length < total) positions.push(n - 1);
    positions.length = total;
  }
  return bind1('gather', [a, asArray(positions, 'int32')], { axis: ax });
});

/**
 * repeat with traced counts, JAX's construction: mark each element's first output position (the
 * exclusive running sum of the counts, clipped to `total`, so that zero counts share a mark and
 * positions past `total` fall in a dropped slot), and the running sum of the marks, less one, is
 * the element each output position takes (the last one past the counts' sum).
 */
function repeatTraced(a: NDArray, repeats: NDArray, axis: number, total: number): NDArray {
  const n = a.shape[axis]!;
  if (repeats.ndim > 1 || (repeats.ndim === 1 && repeats.shape[0] !== 1 && repeats.shape[0] !== n)) {
    throw new ShapeError(`repeat: repeats ${repeats.aval.str()} for axis ${axis} of ${fmtShape(a.shape)}; expected a scalar, one count, or one per entry (${n})`);
  }
  if (repeats.dtype !== 'int32') throw new DTypeError(`repeat: repeats must be int32 counts, got ${repeats.aval.str()}`);
  // total 0, or an empty axis (nothing to pad with): an empty axis, as jnp.repeat (which returns the empty array itself).
  if (total === 0 || n === 0) return sliceAxis(a, axis, 0, 0);
  const counts = repeats.ndim === 1 && repeats.shape[0] === n ? repeats : broadcastTo(reshape(repeats, []), [n]);
  const starts = subtract(bind1('cumsum', [counts], { axis: 0, reverse: false }), counts);
  const marks = bind1('scatter_add', [clip(starts, 0, total), bind1('broadcast_in_dim', [asArray(1, 'int32')], { shape: [n], broadcastDimensions: [] })], { axis: 0, axisSize: total + 1 });
  const owner = subtract(bind1('cumsum', [sliceAxis(marks, 0, 0, total)], { axis: 0, reverse: false }), 1);
  return bind1('gather', [a, clip(owner, 0, n - 1)], { axis });
}

/** Normalises integer indices for an axis of size n: negatives count from the end, out-of-range clip. */
function normalizeIndices(op: string, idx: NDArray, n: number): NDArray {
  // NumPy refuses float indices (truncating 1.7 to 1 would hide a bug in the caller).
  if (idx.dtype === 'float32') throw new DTypeError(`${op}: indices must be integers, got ${idx.aval.str()}; convert them with np.astype(indices, 'int32') if truncation is meant`);
  // (NumPy refuses bools too: read as 0/1 they would pick entries 0 and 1, not act as a mask.)
  if (idx.dtype === 'bool') throw new DTypeError(`${op}: indices must be integers, got ${idx.aval.str()}; a boolean mask selects with np.where (or by its integer positions)`);
  let i = idx.dtype === 'int32' ? idx : astypeRaw(idx, 'int32');
  i = where(less(i, 0), add(i, n), i);
  return clip(i, 0, Math.max(n - 1, 0));
}

/**
 * Picks entries along `axis` (the flattened array when omitted); negative indices count from the
 * end, and out-of-range indices are clipped to the axis (JAX's `mode='clip'`; NumPy would raise).
 */
export const take = defop((x: ArrayLike, indices: ArrayLike, axis?: number): NDArray => {
  let a = asArray(x);
  if (axis === undefined) { a = ravel(a); axis = 0; }
  const ax = normalizeAxis('take', axis, a.ndim);
  const ia = asArray(indices);
  if (a.shape[ax] === 0 && ia.size > 0) throw new ShapeError(`take: cannot take ${ia.size} entries from axis ${ax} of ${fmtShape(a.shape)}, which is empty`);
  const idx = normalizeIndices('take', ia, a.shape[ax]!);
  return bind1('gather', [a, idx], { axis: ax });
});

/** `takeAlongAxis(x, idx, axis)`: out[..., j, ...] = x[..., idx[..., j, ...], ...] (NumPy semantics). */
export const takeAlongAxis = defop((x: ArrayLike, indices: ArrayLike, axis: number): NDArray => {
  const a = asArray(x);
  const ax = normalizeAxis('takeAlongAxis', axis, a.ndim);
  let idx = asArray(indices);
  if (idx.ndim !== a.ndim) throw new ShapeError(`takeAlongAxis: indices ${fmtShape(idx.shape)} must have the rank of the array ${fmtShape(a.shape)}`);
  idx = normalizeIndices('takeAlongAxis', idx, a.shape[ax]!);
  const outShape = broadcastShapes('takeAlongAxis', a.shape.map((d, i) => (i === ax ? 1 : d)), idx.shape.map((d, i) => (i === ax ? 1 : d)));
  outShape[ax] = idx.shape[ax]!;
  idx = broadcastTo(idx, outShape);
  // Flat index = sum_i coord_i * stride_i, with the coordinate on `axis` taken from idx.
  const strides = a.shape.map((_, i) => a.shape.slice(i + 1).reduce((p, d) => p * d, 1));
  let flat: NDArray = multiply(idx, strides[ax]!);
  for (let i = 0; i < a.ndim; i++) {
    if (i === ax) continue;
    const coord = bind1('broadcast_in_dim', [asArray(Array.from({ length: outShape[i]! }, (_, k) => k * strides[i]!), 'int32')], { shape: outShape, broadcastDimensions: [i] });
    flat = add(flat, coord);
  }
  return bind1('gather', [ravel(a), flat], { axis: 0 });
});

/** NumPy basic indexing behind `x.at(...)`: integers drop an axis, [start, stop, step] slices (Python semantics, negative steps reverse). */
export function index(x: NDArray, spec: readonly IndexSpec[]): NDArray {
  if (spec.length > x.ndim) throw new ShapeError(`index: ${spec.length} indices for an array of rank ${x.ndim} (shape ${fmtShape(x.shape)})`);
  const start: number[] = [], limit: number[] = [], strides: number[] = [];
  const revAxes: number[] = [];
  const drop: number[] = [];
  x.shape.forEach((n, ax) => {
    const e = staticIndex('index', ax < spec.length ? spec[ax] : null, ax, n, false);
    if (e.kind === 'all') { start.push(0); limit.push(n); strides.push(1); return; }
    if (e.kind === 'int') { start.push(e.i); limit.push(e.i + 1); strides.push(1); drop.push(ax); return; }
    if (e.step > 0) { start.push(e.b); limit.push(Math.max(e.b, e.e)); strides.push(e.step); return; }
    // Reverse the axis, then slice forward: position p maps to n - 1 - p.
    revAxes.push(ax);
    const rb = n - 1 - e.b, re = n - 1 - e.e;
    start.push(rb); limit.push(Math.max(rb, re)); strides.push(-e.step);
  });
  // x is passed through defop (not closed over) so that a result that is x itself gets copied.
  return defop((x: NDArray) => {
    let y = revAxes.length ? bind1('rev', [x], { axes: revAxes }) : x;
    y = sliceRaw('index', y, start, limit, strides);
    return drop.length ? bind1('reshape', [y], { shape: y.shape.filter((_, i) => !drop.includes(i)) }) : y;
  }, 'index')(x);
}

/**
 * Coordinate arrays from 1-D coordinate vectors (jnp.meshgrid): with k inputs of lengths n₁…nₖ,
 * output i holds xs[i] along axis i of shape [n₁, …, nₖ] for indexing 'ij' (matrix indexing), and
 * with the first two axes swapped, [n₂, n₁, n₃, …], for 'xy' (Cartesian, the default), so that
 * meshgrid([x, y]) gives arrays indexed [y, x]. Each output keeps its input's dtype.
 * @example meshgrid([[1, 2, 3], [4, 5]]) // [[[1,2,3],[1,2,3]], [[4,4,4],[5,5,5]]]
 */
export const meshgrid = defop((xs: readonly ArrayLike[], indexing: 'xy' | 'ij' = 'xy'): NDArray[] => {
  if (indexing !== 'xy' && indexing !== 'ij') throw new ShapeError(`meshgrid: indexing must be 'xy' or 'ij', got ${JSON.stringify(indexing)}`);
  const arrays = xs.map((x) => asArray(x));
  arrays.forEach((a, i) => {
    if (a.ndim !== 1) throw new ShapeError(`meshgrid: expected 1-D coordinate arrays (as jnp.meshgrid) but argument ${i} has shape ${fmtShape(a.shape)}`);
  });
  const shape = arrays.map((a) => a.shape[0]!);
  // Axis of each input in the output: 'xy' swaps the first two.
  const axisOf = (i: number): number => (indexing === 'xy' && arrays.length >= 2 && i < 2 ? 1 - i : i);
  if (indexing === 'xy' && arrays.length >= 2) [shape[0], shape[1]] = [shape[1]!, shape[0]!];
  return arrays.map((a, i) => bind1('broadcast_in_dim', [a], { shape: [...shape], broadcastDimensions: [axisOf(i)] }));
});

// Sorting and what is built on it: sort, argsort and topK are the one `sort` primitive (stable,
// NaN last, as NumPy and JAX; its derivative gathers the tangent by the permutation, JAX's rule);
// quantile and median interpolate between sorted values, so they are differentiable through it.
import type { ArrayLike, Axis, NDArray } from '../array.js';
import { bind, bind1 } from '../core.js';
import { DTypeError, ShapeError, ValueError, fmtShape } from '../errors.js';
import { normalizeAxes, normalizeAxis } from '../shape.js';
import { asArray, defop, full } from './convert.js';
import { add, clip, floor, isfinite, isnan, less, lessEqual, logicalAnd, logicalNot, logicalOr, minimum, multiply, subtract, where, greaterEqual, equal } from './elementwise.js';
import { astypeRaw, elementwiseOperands } from './operands.js';
import { any, sum } from './reductions.js';
import { reshape, transpose } from './shape_ops.js';

/**
 * The operand of a sort and the axis it sorts: `axis` null flattens (NumPy's axis=None); a 0-d
 * array has no axis to sort (NumPy's AxisError). Bools sort as int32 (false before true).
 */
function sortOperand(op: string, x: ArrayLike, axis: number | null): { a: NDArray; axis: number; wasBool: boolean } {
  let a = asArray(x);
  const wasBool = a.dtype === 'bool';
  if (wasBool) a = astypeRaw(a, 'int32');
  if (axis === null) return { a: reshape(a, [a.size]), axis: 0, wasBool };
  if (a.ndim === 0) throw new ShapeError(`${op}: cannot sort a 0-d array along axis ${axis}; expected an array of rank ≥ 1, or axis null to sort it flattened`);
  return { a, axis: normalizeAxis(op, axis, a.ndim), wasBool };
}

/**
 * The values sorted in ascending order along `axis` (default the last; null sorts the flattened
 * array). Stable; NaNs go last; −0 and +0 are equal. The derivative gathers the tangent by the
 * sorting permutation (JAX's rule), so at ties each output takes the tangent of the input the
 * stable order put there.
 */
export const sort = defop((x: ArrayLike, axis: number | null = -1): NDArray => {
  const { a, axis: ax, wasBool } = sortOperand('sort', x, axis);
  const [values] = bind('sort', [a], { axis: ax, descending: false });
  return wasBool ? astypeRaw(values!, 'bool') : values!;
});

/**
 * The int32 positions that sort `x` along `axis` (default the last; null: positions in the
 * flattened array): takeAlongAxis(x, argsort(x, axis), axis) equals sort(x, axis). Stable, so
 * equal values keep their order (NumPy's kind='stable', JAX's default); NaNs go last.
 */
export const argsort = defop((x: ArrayLike, axis: number | null = -1): NDArray => {
  const { a, axis: ax } = sortOperand('argsort', x, axis);
  return bind('sort', [a], { axis: ax, descending: false })[1]!;
});

/**
 * The k largest entries along the last axis, largest first, and their int32 positions
 * (jax.lax.top_k). Equal values come in input order (XLA's rule) and NaN counts as the largest,
 * as in JAX on CPU. −0 and +0 are equal (input order), as in sort; XLA's CPU top_k orders by the
 * bits instead (−NaN < −inf < −0 < +0 < +inf < +NaN), so there +0 comes before an earlier −0, and a
 * NaN with its sign bit set (−NaN, e.g. from negating NaN) comes last where here every NaN comes
 * first. Its derivative gathers the tangent by the positions, as sort's. For k ≤ n/16
 * the rows are not sorted: the k are selected in one pass over each row (O(n) on average, whatever
 * the row's order, plus k log k to order them), with the same result.
 */
export const topK = defop((x: ArrayLike, k: number): [NDArray, NDArray] => {
  let a = asArray(x);
  const wasBool = a.dtype === 'bool';
  if (wasBool) a = astypeRaw(a, 'int32');
  if (a.ndim === 0) throw new ShapeError(`topK: expected an array of rank ≥ 1 (it selects along the last axis) but got shape ${fmtShape(a.shape)}`);
  const n = a.shape[a.ndim - 1]!;
  if (!Number.isInteger(k) || k < 0 || k > n) throw new ValueError(`topK: k must be an integer in [0, ${n}] for shape ${fmtShape(a.shape)} (the last axis has ${n} entries), got ${k}`);
  // The sort primitive with k: for k well below n its kernel selects the k without sorting the row.
  const [values, indices] = bind('sort', [a], { axis: a.ndim - 1, descending: true, k });
  return [wasBool ? astypeRaw(values!, 'bool') : values!, indices!];
});

/** q as a float32 array, checked to lie in [0, 1] where its value is known (a traced q cannot be checked: JAX does not either). */
function quantileLevels(op: string, q: ArrayLike): NDArray {
  let qa = asArray(q);
  if (qa.dtype === 'bool') throw new DTypeError(`${op}: expected numeric quantile levels q but got ${qa.aval.str()}`);
  if (qa.dtype !== 'float32') qa = astypeRaw(qa, 'float32');
  const known = qa.concreteValue();
  if (known !== null) {
    const bad = Array.from(known.dataSync()).find((v) => !(v >= 0 && v <= 1));
    if (bad !== undefined) throw new ValueError(`${op}: quantile levels q must lie in [0, 1], got ${bad}`);
  }
  return qa;
}

/**
 * The q-th quantiles of `x` over `axis` (all axes when omitted; a list of axes is reduced together)
 * with NumPy's default method, 'linear': position q·(n − 1) in the sorted values, interpolated
 * between its two neighbours. The result has q's shape followed by the reduced shape, as NumPy's.
 * A NaN in a slice makes its quantiles NaN (NumPy and JAX). An empty slice gives NaN, for every q
 * and with q's and the kept axes' shape, as np.median does (with a RuntimeWarning) and
 * np.nanquantile; np.quantile raises IndexError there, and JAX's jnp.quantile and jnp.median raise
 * a TypeError from their gather (its index clamps to n − 1 = −1 and gathers a slice of size 1 from
 * the empty axis), so NaN is the one value that NumPy gives. Differentiable in x (through sort)
 * and in q.
 */
export const quantile = defop((x: ArrayLike, q: ArrayLike, axis?: Axis, keepdims = false): NDArray => {
  let a = asArray(x);
  if (a.dtype !== 'float32') a = astypeRaw(a, 'float32');
  const qa = quantileLevels('quantile', q);
  const axes = normalizeAxes('quantile', axis, a.ndim);
  const kept = a.shape.map((_, i) => i).filter((i) => !axes.includes(i));
  const keptShape = kept.map((i) => a.shape[i]!);
  const n = axes.reduce((p, i) => p * a.shape[i]!, 1);
  const reducedShape = keepdims ? a.shape.map((d, i) => (axes.includes(i) ? 1 : d)) : keptShape;
  if (n === 0) return full([...qa.shape, ...reducedShape], NaN, 'float32');
  // The reduced axes together as one last axis: [...kept, n].
  const rows = reshape(transpose(a, [...kept, ...axes]), [...keptShape, n]);
  const sorted = bind('sort', [rows], { axis: keptShape.length, descending: false })[0]!;
  // NumPy's linear method: position p = q(n − 1), lo = ⌊p⌋, hi = min(lo + 1, n − 1), t = p − lo.
  const position = multiply(qa, n - 1);
  const loF = floor(position);
  const t = subtract(position, loF);
  // (Clipped for a traced q, which could not be checked to lie in [0, 1].)
  const lo = clip(astypeRaw(loF, 'int32'), 0, n - 1);
  const hi = clip(add(lo, 1), 0, n - 1);
  const below = bind1('gather', [sorted, lo], { axis: keptShape.length }); // [...kept, ...q]
  const above = bind1('gather', [sorted, hi], { axis: keptShape.length });
  // NumPy's _lerp: from below for t < 1/2, from above otherwise (the nearer end is exact at t = 0
  // and t = 1); at t = 0 the value below itself, so that an infinite value is not turned into
  // inf − inf = NaN by a zero weight. There the gap still multiplies t (as 0 when it is not
  // finite): the value is the same, and q's derivative is the slope towards the next value (JAX's
  // quantile gives 0 there, wherever q·(n − 1) is whole, e.g. every median of odd length).
  // (Each branch sees a finite gap where it is not taken, so a zero cotangent stays 0, not 0·inf.)
  const gap = subtract(above, below);
  const atPoint = equal(t, 0);
  const gapBetween = where(atPoint, 0, gap);
  const lerp = where(greaterEqual(t, 0.5), subtract(above, multiply(gapBetween, subtract(1, t))), add(below, multiply(gapBetween, t)));
  let out = where(atPoint, add(below, multiply(where(isfinite(gap), gap, 0), t)), lerp);
  const nanRow = reshape(any(isnan(rows), keptShape.length), [...keptShape, ...qa.shape.map(() => 1)]);
  out = where(nanRow, NaN, out);
  // q's axes first, then the kept axes (NumPy's layout).
  const k = keptShape.length;
  out = transpose(out, [...qa.shape.map((_, i) => k + i), ...keptShape.map((_, i) => i)]);
  return reshape(out, [...qa.shape, ...reducedShape]);
});

/** The median over `axis` (all axes when omitted): quantile(x, 0.5, axis, keepdims). A NaN in a slice gives NaN. */
export const median = defop((x: ArrayLike, axis?: Axis, keepdims = false): NDArray => quantile(x, 0.5, axis, keepdims));

/** How searchsorted finds the positions (jnp.searchsorted's `method`). */
export type SearchsortedMethod = 'scan' | 'compare_all' | 'sort';

/**
 * Where the values `v` would go in the sorted 1-D array `a` to keep it sorted (jnp.searchsorted):
 * for side 'left' the first such position (the count of entries < v), for 'right' the last (the
 * count of entries ≤ v). int32, with v's shape. NaN sorts last, as in sort: a NaN in v goes after
 * every number ('left': before a's NaNs); −0 equals +0. `a` is not checked to be sorted (NumPy and
 * JAX do not either). The result is an integer, so its gradient is zero. `method`, as JAX's:
 * - 'scan' (default): binary search, ⌈log₂(len(a) + 1)⌉ steps of one gather each; memory O(|v| + |a|).
 * - 'compare_all': every v against every entry; |v|·|a| comparisons in memory, few kernels (small inputs).
 * - 'sort': a stable sort of a and v together, each v's rank there less its rank among v; memory O(|v| + |a|).
 * @example searchsorted([1, 2, 2, 3], [2, 5], 'right') // [3, 4]
 */
export const searchsorted = defop((a: ArrayLike, v: ArrayLike, side: 'left' | 'right' = 'left', method: SearchsortedMethod = 'scan'): NDArray => {
  if (side !== 'left' && side !== 'right') throw new ValueError(`searchsorted: side must be 'left' or 'right', got ${JSON.stringify(side)}`);
  if (method !== 'scan' && method !== 'compare_all' && method !== 'sort') throw new ValueError(`searchsorted: method must be 'scan', 'compare_all' or 'sort', got ${JSON.stringify(method)}`);
  const sortedIn = asArray(a);
  if (sortedIn.ndim !== 1) throw new ShapeError(`searchsorted: expected a 1-D sorted array a but got shape ${fmtShape(sortedIn.shape)}`);
  const weak = typeof v === 'number' || typeof v === 'boolean';
  const vShape = weak ? [] : asArray(v).shape;
  // v against a's dtype (a JS number stays weakly typed, adopting a's dtype); bools compare as int32.
  // (v as a column [|v|, 1], so that its length need not broadcast against a's; both flat again after.)
  let [entries, values] = elementwiseOperands([sortedIn, weak ? v : reshape(v, [-1, 1])], 'keep', 'searchsorted') as [NDArray, NDArray];
  if (entries.dtype === 'bool') [entries, values] = [astypeRaw(entries, 'int32'), astypeRaw(values, 'int32')];
  [entries, values] = [reshape(entries, [-1]), reshape(values, [-1])];
  const n = entries.shape[0]!;
  let flat: NDArray;
  if (n === 0) flat = full([values.shape[0]!], 0, 'int32');
  else if (method === 'compare_all') flat = sum(before(entries, reshape(values, [values.shape[0]!, 1]), side), 1);
  // (Past 2²⁴ entries the scan's float32 bounds would round: sort instead, also O(|v| + |a|) in memory.)
  else if (method === 'scan' && n < 2 ** 24) flat = binarySearch(entries, values, side);
  else flat = rankSearch(entries, values, side);
  return reshape(flat, vShape);
});

/**
 * Whether entry e goes before value x for `side` in sort's total order (NaN last, equal to itself):
 * 'left' e < x, 'right' e ≤ x. Broadcasting.
 */
function before(e: NDArray, x: NDArray, side: 'left' | 'right'): NDArray {
  if (side === 'left') {
    // entry < value, with NaN the largest: every number is below a NaN value.
    const lt = less(e, x);
    return e.dtype === 'float32' ? logicalOr(lt, logicalAnd(logicalNot(isnan(e)), isnan(x))) : lt;
  }
  const le = lessEqual(e, x);
  return e.dtype === 'float32' ? logicalOr(le, isnan(x)) : le;
}

/**
 * searchsorted by binary search over the answers 0…n: [lo, hi] holds the answer, each step tests
 * a[mid] at mid = ⌊(lo + hi)/2⌋ < hi and keeps one half (at most ⌈c/2⌉ of c candidates), so
 * ⌈log₂(n + 1)⌉ steps leave one. Each step is one gather of |v| entries. The bounds are float32
 * (exact below 2²⁴, which the caller ensures): TF.js's int32 add and floor division on cpu cost
 * 30–200 times a float32 one.
 */
function binarySearch(entries: NDArray, values: NDArray, side: 'left' | 'right'): NDArray {
  const n = entries.shape[0]!;
  let lo = full(values.shape, 0, 'float32');
  let hi = full(values.shape, n, 'float32');
  for (let step = 0; step < Math.ceil(Math.log2(n + 1)); step++) {
    const active = less(lo, hi);
    const mid = floor(multiply(add(lo, hi), 0.5));
    // (Where lo = hi the search is over, and mid may be n: clipped, and its test ignored.)
    const goRight = before(bind1('gather', [entries, astypeRaw(minimum(mid, n - 1), 'int32')], { axis: 0 }), values, side);
    lo = where(logicalAnd(active, goRight), add(mid, 1), lo);
    hi = where(logicalAnd(active, logicalNot(goRight)), mid, hi);
  }
  return astypeRaw(lo, 'int32');
}

/**
 * searchsorted by a stable sort of a and v together (JAX's method='sort'): for 'left' v comes first,
 * so a value sorts before the entries equal to it, for 'right' after them; a value's rank there less
 * its rank among the values is the count of entries before it.
 */
function rankSearch(entries: NDArray, values: NDArray, side: 'left' | 'right'): NDArray {
  const m = values.shape[0]!, n = entries.shape[0]!;
  const joined = bind1('concatenate', side === 'left' ? [values, entries] : [entries, values], { axis: 0 });
  const rankInJoined = ranks(joined);
  const start = side === 'left' ? 0 : n;
  const valueRanks = bind1('slice', [rankInJoined], { start: [start], limit: [start + m], strides: [1] });
  return subtract(valueRanks, ranks(values));
}

/** The position of each entry of a 1-D array in its stable sort (NaN last): the inverse of argsort, by one scatter. */
function ranks(x: NDArray): NDArray {
  const k = x.shape[0]!;
  const permutation = bind('sort', [x], { axis: 0, descending: false })[1]!;
  return bind1('scatter_add', [permutation, asArray(Array.from({ length: k }, (_, i) => i), 'int32')], { axis: 0, axisSize: k });
}

// np.at(x, i).set/multiply/min/max when the positions i are traced (jit, vmap, grad with traced
// indices): duplicates are unknown until run time. Each update sorts the write positions once
// (stable, so each target's writes stay in update order) and works on the runs of equal targets:
// O((M + S) log M) time and memory for M writes into S entries, where comparing every write with
// every target (a one-hot [M, S] matrix) took O(M·S).
import * as tf from '@tensorflow/tfjs-core';
import { ConcreteArray, type NDArray } from '../array.js';
import { bind1 } from '../core.js';
import { customJvp } from '../../transforms/custom.js';
import { arange, asArray } from './convert.js';
import { add, astype, divide, equal, greater, greaterEqual, isnan, less, lessEqual, logicalAnd, logicalOr, multiply, notEqual, subtract, where } from './elementwise.js';
import { argsort } from './sorting.js';
import { concatenate, reshape, slice } from './shape_ops.js';
import { dtypeBounds } from './static_index.js';

/** A constant int32 array of `shape` holding `data`. */
export function constInt(data: Int32Array | readonly number[], shape: readonly number[]): NDArray {
  return new ConcreteArray(tf.tensor(Int32Array.from(data), [...shape], 'int32'));
}

/** A constant bool array of `shape` holding `data` (nonzero = true). */
export function constBool(data: Uint8Array, shape: readonly number[]): NDArray {
  return new ConcreteArray(tf.tensor(data, [...shape], 'bool'));
}

/** xf[idx] on a flat array (one gather, whose transpose is one scatter_add). */
export const gather = (xf: NDArray, idx: NDArray): NDArray => bind1('gather', [xf, idx], { axis: 0 });
/** A flat array of `size` zeros with `upd` added at `idx` (repeats accumulate). */
export const scatter = (idx: NDArray, upd: NDArray, size: number): NDArray => bind1('scatter_add', [idx, upd], { axis: 0, axisSize: size });

/**
 * The writes sorted by target: `key` is each write's target, S for a dropped (out-of-bounds)
 * write (`valid` null: none is), so dropped writes form the last run (sorted last, and never a
 * target's winner). `perm` is the stable order, `sk` the sorted keys, and `end` marks each run's
 * final write, dropped writes' run excepted. (The one sort behind `runs` and `setTraced`.)
 */
function sortedRuns(flat: NDArray, valid: NDArray | null, S: number): { perm: NDArray; sk: NDArray; end: NDArray } {
  const M = flat.size;
  const key = valid === null ? flat : where(valid, flat, S);
  const perm = argsort(key);
  const sk = gather(key, perm);
  // A run ends where the next sorted key differs (keys are in [0, S], so −1 closes the last run).
  const last = notEqual(sk, concatenate([slice(sk, [1], [M]), constInt([-1], [1])]));
  return { perm, sk, end: valid === null ? last : logicalAnd(last, less(sk, S)) };
}

/** `sortedRuns` with, per target, the sorted position + 1 of its run's final write in `winner` (0: untouched). */
function runs(flat: NDArray, valid: NDArray, S: number): Runs {
  const M = flat.size;
  const { perm, sk, end } = sortedRuns(flat, valid, S);
  // The other writes add 0 to target 0 (exact on int32), which spares slicing a size-S + 1 scatter.
  const winner = scatter(where(end, sk, 0), where(end, arange(1, M + 1, 1, 'int32'), 0), S);
  return { perm, sk, winner, longest: M, hit: null };
}

/**
 * `runs` and the hit mask of positions known now (concrete indices repeating a target), computed
 * in JS as constants: no sort or scatter ops, and the scan takes only the rounds its longest run
 * needs (log₂ of the most writes to one target, where traced positions must allow M).
 */
export interface Runs { perm: NDArray; sk: NDArray; winner: NDArray; longest: number; hit: NDArray | null }
export function staticRuns(flat: Int32Array, valid: Uint8Array | null, S: number): Runs {
  const M = flat.length;
  const key = Int32Array.from(flat, (t, k) => (valid === null || valid[k] ? t : S));
  const perm = Array.from({ length: M }, (_, k) => k).sort((a, b) => key[a]! - key[b]! || a - b);
  const sk = Int32Array.from(perm, (k) => key[k]!);
  const winner = new Int32Array(S), hit = new Uint8Array(S);
  let longest = 1;
  for (let j = 0, start = 0; j < M; j++) {
    if (j + 1 < M && sk[j + 1] === sk[j]) continue;
    if (sk[j]! < S) { winner[sk[j]!] = j + 1; hit[sk[j]!] = 1; longest = Math.max(longest, j - start + 1); }
    start = j + 1;
  }
  return { perm: constInt(perm, [M]), sk: constInt(sk, [M]), winner: constInt(winner, [S]), longest, hit: constBool(hit, [S]) };
}

/**
 * An inclusive scan of `sv` within runs of equal sorted keys `sk` (Hillis–Steele: log₂M rounds of
 * whole-array ops): entry i ends as combine over its run's entries up to i, in order, so a run's
 * last entry holds the run's total. `combine(earlier, later)` must be associative.
 */
function segmentedScan(sk: NDArray, sv: NDArray, longest: number, combine: (earlier: NDArray, later: NDArray) => NDArray, identity?: NDArray): NDArray {
  const M = sk.size;
  let y = sv;
  // After the round of step d each entry covers the 2d entries up to it; `longest` bounds a run.
  for (let d = 1; d < Math.min(M, longest); d *= 2) {
    // Entry i combines with entry i − d when both are in one run (keys are ≥ 0, so the −1 fill never matches).
    const same = equal(sk, concatenate([constInt(new Int32Array(d).fill(-1), [d]), slice(sk, [0], [M - d])]));
    const prev = concatenate([slice(y, [0], [d]), slice(y, [0], [M - d])]); // the first d are masked by `same`
    // With an identity, entries outside the run combine with it instead of being selected away:
    // the unselected branch of a select still passes cotangent × operand (0 · NaN) back to the
    // other run's entry, so a NaN write poisoned the gradient of its neighbour in the sorted order.
    y = identity === undefined ? where(same, combine(prev, y), y) : combine(where(same, prev, identity), y);
  }
  return y;
}

/**
 * Per target, its run's total (the scan `y` at the run's last write), `fill` ([1]) where untouched:
 * one gather from [fill, ...y] at `winner` (0 reads the fill), as on wasm each broadcasting int32
 * op over the S targets (winner − 1, its clamp, the select) took TF.js's slow generic path.
 */
const runTotals = (y: NDArray, winner: NDArray, fill: NDArray): NDArray => gather(concatenate([fill, y]), winner);

/**
 * The combine of the writes to one target in NumPy's ufunc.at order (np.minimum(a, b) returns b at
 * a tie): a NaN wins (it propagates), otherwise the later of equal values, so of −0 and +0 the one
 * written last. Associative (it picks the last write attaining the extremum), as the scan needs.
 */
const extremumCombine = (kind: 'min' | 'max', float: boolean) => (a: NDArray, b: NDArray): NDArray => {
  const better = kind === 'min' ? lessEqual(b, a) : greaterEqual(b, a);
  return where(float ? logicalOr(isnan(b), better) : better, b, a);
};

/**
 * NumPy's minimum/maximum(x, m): x where it is NaN or strictly beyond m, else m (so m at a tie: the
 * write, which ufunc.at applies after x). With m the dtype's identity where nothing was written,
 * that is x there too (x equal to the identity gives the identity's bits, its own).
 */
export const laterExtremum = (kind: 'min' | 'max', x: NDArray, m: NDArray): NDArray => {
  const beyond = kind === 'min' ? less(x, m) : greater(x, m);
  return where(x.dtype === 'float32' ? logicalOr(isnan(x), beyond) : beyond, x, m);
};

/** Per target, the min/max of the valid writes to it ([S]; the dtype's identity where none). */
function segmentExtremumValue(kind: 'min' | 'max', vf: NDArray, flat: NDArray, valid: NDArray, S: number, known?: Runs): NDArray {
  const { perm, sk, winner, longest } = known ?? runs(flat, valid, S);
  const y = segmentedScan(sk, gather(vf, perm), longest, extremumCombine(kind, vf.dtype === 'float32'));
  const { lowest, highest } = dtypeBounds(vf.dtype);
  return runTotals(y, winner, asArray([kind === 'min' ? highest : lowest], vf.dtype));
}

type SegmentExtremum = (vf: NDArray, flat: NDArray, valid: NDArray) => NDArray;

/**
 * segmentExtremumValue with np.min/np.max's derivative: a target's tangent is the average of the
 * tangents of the writes that attain its extremum, written out since the scan's selects would give
 * it all to one of them; 0 where the extremum is NaN (no write equals it), as JAX's scatter rule.
 * Linear in the tangent with masks from comparisons, so second derivatives are 0, as np.min's.
 */
function segmentExtremum(kind: 'min' | 'max', S: number, known?: Runs): SegmentExtremum {
  const f = (vf: NDArray, flat: NDArray, valid: NDArray): NDArray => segmentExtremumValue(kind, vf, flat, valid, S, known);
  const made: SegmentExtremum = customJvp(f, ([vf, flat, valid]: [NDArray, NDArray, NDArray], [tv]: [NDArray, NDArray, NDArray]): [NDArray, NDArray] => {
    const m = made(vf, flat, valid);
    const key = where(valid, flat, S);
    const attains = astype(logicalAnd(valid, equal(vf, gather(m, flat))), 'float32');
    const count = (u: NDArray) => slice(scatter(key, u, S + 1), [0], [S]);
    // Untouched and NaN targets have no attaining write: 0 / 1 (where 0/0 made a NaN result's writes NaN).
    const n = count(attains);
    return [m, divide(count(multiply(tv, attains)), where(greater(n, 0), n, 1))];
  });
  return made;
}

/** The tangent weight of a in extremum(a, b): 1 where a is strictly beyond b, 1/2 at a tie, 0 else (NaN: 0), as np.minimum's. */
const weightOf = (kind: 'min' | 'max', a: NDArray, b: NDArray): NDArray =>
  add(astype(kind === 'min' ? less(a, b) : greater(a, b), 'float32'), multiply(astype(equal(a, b), 'float32'), 0.5));

type WithX = (xf: NDArray, m: NDArray, flat: NDArray, valid: NDArray) => NDArray;

/**
 * laterExtremum(x, m) (NumPy's order, for the sign of a zero at a tie) with np.minimum's derivative
 * (x and m share a tie half and half; a NaN result passes 0 to both) where a write landed, x's
 * tangent where none did (x equal to the identity would otherwise share with it).
 */
function withX(kind: 'min' | 'max', S: number, known?: Runs): WithX {
  const f = (xf: NDArray, m: NDArray): NDArray => laterExtremum(kind, xf, m);
  return customJvp(f as WithX, ([xf, m, flat, valid]: NDArray[], [tx, tm]: NDArray[]): [NDArray, NDArray] => {
    const hit = known?.hit ?? hitMask(flat!, valid!, S);
    return [f(xf!, m!), where(hit, add(multiply(tx!, weightOf(kind, xf!, m!)), multiply(tm!, weightOf(kind, m!, xf!))), tx!)];
  });
}

/** Whether each of the S targets has a valid write (counted in float32: on wasm an int32 compare with a scalar broadcast slowly). */
const hitMask = (flat: NDArray, valid: NDArray, S: number): NDArray => greater(scatter(flat, astype(valid, 'float32'), S), 0); // (a dropped write adds +0 at its clamped position)

/**
 * min/max with traced positions: per target, the extremum of its writes (sorted runs, segmented
 * scan; the last written of equal values), then x's entry against it in NumPy's order, so values
 * are np.minimum.at's bit for bit (a −0/+0 tie keeps the zero written last) and derivatives those of
 * np.minimum(x, np.min(writes)) (x and the writes share a tie half and half; tied writes share their
 * half equally) but 0 at a NaN result, as JAX's scatter rule. Ints and bools (computed as int32)
 * carry no derivative.
 */
export function extremumTraced(kind: 'min' | 'max', xf: NDArray, flat: NDArray, valid: NDArray, vf: NDArray, known?: Runs): NDArray {
  const S = xf.size;
  if (xf.dtype === 'bool') { xf = astype(xf, 'int32'); vf = astype(vf, 'int32'); }
  if (xf.dtype !== 'float32') return laterExtremum(kind, xf, segmentExtremumValue(kind, vf, flat, valid, S, known));
  return withX(kind, S, known)(xf, segmentExtremum(kind, S, known)(vf, flat, valid), flat, valid);
}

/**
 * multiply with traced positions: per target, the product of its writes in update order (sorted
 * runs, segmented scan of multiplications), then x times it. Built from multiplications and
 * selects only, so every derivative is the exact product rule (correct at zeros, any order).
 * Rounding may differ from a product taken in another grouping.
 */
export function multiplyTraced(xf: NDArray, flat: NDArray, valid: NDArray, vf: NDArray, known?: Runs): NDArray {
  const S = xf.size;
  if (xf.dtype === 'bool') { xf = astype(xf, 'int32'); vf = astype(vf, 'int32'); }
  const { perm, sk, winner, longest } = known ?? runs(flat, valid, S);
  // Dropped writes become 1 (selected away, so they get no gradient): their run is never read,
  // but its zero cotangent times a NaN among them was NaN, which the scan passed to the others.
  const one = asArray(1, vf.dtype);
  const y = segmentedScan(sk, gather(where(valid, vf, one), perm), longest, (a, b) => multiply(a, b), one);
  // x · 1 where untouched (x itself, and its tangent through the same product rule as x · P).
  return multiply(xf, runTotals(y, winner, reshape(one, [1])));
}

/**
 * set with traced positions: the last valid write to each target wins, as in the static case. A
 * stable sort of the targets groups each target's writes in update order, so the winner is the
 * last of its run; one scatter writes, at each winner's target t, the offset from t to the
 * winner's value in [x, v] (S + its position − t; the others, and dropped writes, add 0 to entry 0), and one gather from [x, v] at t + offset reads x's own entry or the
 * winning value, written as it is (scattering the values onto zeros made −0 +0). O(M + S) memory;
 * the gradient: each winner gets its target's cotangent, every other write none. (Selecting
 * between x and a gather of v at winner − 1 cost three broadcasting int32 ops over the S targets,
 * which on wasm take TF.js's slow generic path: 4× the time at S = 10⁶.)
 */
export function setTraced(xf: NDArray, flat: NDArray, valid: NDArray | null, vf: NDArray): NDArray {
  const S = xf.size;
  const { perm, sk, end } = sortedRuns(flat, valid, S);
  const offset = scatter(where(end, sk, 0), where(end, subtract(add(perm, S), sk), 0), S); // (the others add 0 at 0)
  return gather(concatenate([xf, vf]), add(offset, arange(0, S, 1, 'int32')));
}

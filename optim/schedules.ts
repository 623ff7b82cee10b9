// Schedules: functions of the step count (the number of updates done so far: 0, 1, 2, ...) giving
// a hyperparameter's value, usually the learning rate. They are built from np operations, so they
// take a JS number or a 0-d array (the count in an optimizer state) and return a 0-d array.
// Names and semantics follow Optax; `piecewiseLinear` follows bert4keras.
import type { NDArray } from '../src/array.js';
import * as np from '../src/np/index.js';
import type { Schedule } from './base.js';
import { checkInteger } from './checks.js';
import { OptimError, asFloat } from './tree_utils.js';

function checkNumber(op: string, name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new OptimError(`schedules.${op}: ${name} must be a finite number, got ${String(v)}`);
  return v;
}

/** The same value at every step. */
export function constant(value: number): Schedule {
  checkNumber('constant', 'value', value);
  return (count) => np.add(np.multiply(asFloat(count), 0), value);
}

/**
 * (init − end)·(1 − t/T)^power + end with t = clip(count − transitionBegin, 0, T); `init` before
 * `transitionBegin`, `end` after T more steps.
 */
export function polynomial(options: { initValue: number; endValue: number; power: number; transitionSteps: number; transitionBegin?: number }): Schedule {
  const { initValue, endValue, power, transitionSteps, transitionBegin = 0 } = options;
  checkNumber('polynomial', 'initValue', initValue);
  checkNumber('polynomial', 'endValue', endValue);
  checkNumber('polynomial', 'power', power);
  checkInteger('schedules.polynomial', 'transitionBegin', transitionBegin, 0);
  checkInteger('schedules.polynomial', 'transitionSteps', transitionSteps, 0);
  if (transitionSteps === 0) return constant(initValue);
  return (count) => {
    const t = np.clip(np.subtract(asFloat(count), transitionBegin), 0, transitionSteps);
    const frac = np.subtract(1, np.divide(t, transitionSteps));
    return np.add(np.multiply(np.power(frac, power), initValue - endValue), endValue);
  };
}

/**
 * Linear interpolation from initValue to endValue over transitionSteps steps, starting at
 * transitionBegin. @example linear({ initValue: 0, endValue: 1e-3, transitionSteps: 1000 }) (warm-up)
 */
export function linear(options: { initValue: number; endValue: number; transitionSteps: number; transitionBegin?: number }): Schedule {
  return polynomial({ ...options, power: 1 });
}

/**
 * Cosine decay: init·((1 − α)·(½(1 + cos(π·min(t, T)/T)))^exponent + α) (Loshchilov & Hutter).
 * @example cosine({ initValue: 1e-3, decaySteps: 10_000 })
 */
export function cosine(options: { initValue: number; decaySteps: number; alpha?: number; exponent?: number }): Schedule {
  const { initValue, decaySteps, alpha = 0, exponent = 1 } = options;
  checkNumber('cosine', 'initValue', initValue);
  checkNumber('cosine', 'alpha', alpha);
  checkNumber('cosine', 'exponent', exponent);
  checkInteger('schedules.cosine', 'decaySteps', decaySteps, 1);
  return (count) => {
    const t = np.minimum(asFloat(count), decaySteps);
    const c = np.multiply(np.add(np.cos(np.multiply(t, Math.PI / decaySteps)), 1), 0.5);
    return np.multiply(np.add(np.multiply(np.power(c, exponent), 1 - alpha), alpha), initValue);
  };
}

/** Alias of `cosine` (Optax's name). */
export const cosineDecay = cosine;

/**
 * init·rate^(t/transitionSteps) with t = count − transitionBegin (init until then), continuous, or
 * with `staircase` rate^floor(t/transitionSteps); clipped at `endValue` if given (as Optax).
 */
export function exponentialDecay(options: { initValue: number; decayRate: number; transitionSteps: number; transitionBegin?: number; staircase?: boolean; endValue?: number }): Schedule {
  const { initValue, decayRate, transitionSteps, transitionBegin = 0, staircase = false, endValue } = options;
  checkNumber('exponentialDecay', 'initValue', initValue);
  checkNumber('exponentialDecay', 'decayRate', decayRate);
  // (Optax turns a zero rate into a constant schedule with a warning; a negative one gives NaN.)
  if (!(decayRate > 0)) throw new OptimError(`schedules.exponentialDecay: decayRate must be > 0, got ${decayRate}`);
  checkInteger('schedules.exponentialDecay', 'transitionSteps', transitionSteps, 1);
  checkInteger('schedules.exponentialDecay', 'transitionBegin', transitionBegin, 0);
  return (count) => {
    const t = np.subtract(asFloat(count), transitionBegin);
    let p = np.divide(np.maximum(t, 0), transitionSteps);
    if (staircase) p = np.floor(p);
    let v = np.multiply(np.power(decayRate, p), initValue);
    if (endValue !== undefined) v = decayRate < 1 ? np.maximum(v, endValue) : np.minimum(v, endValue);
    return v;
  };
}

/**
 * Linear warm-up from initValue to peakValue over warmupSteps, then cosine decay to endValue at
 * step decaySteps (which counts the warm-up); endValue afterwards. As in Optax, a peakValue of 0
 * makes the decay phase 0 (Optax's decay is relative to the peak: alpha = endValue/peakValue).
 * @example warmupCosineDecay({ initValue: 0, peakValue: 1e-3, warmupSteps: 100, decaySteps: 1000 })
 */
export function warmupCosineDecay(options: { initValue: number; peakValue: number; warmupSteps: number; decaySteps: number; endValue?: number; exponent?: number }): Schedule {
  const { initValue, peakValue, warmupSteps, decaySteps, endValue = 0, exponent = 1 } = options;
  checkNumber('warmupCosineDecay', 'initValue', initValue);
  checkNumber('warmupCosineDecay', 'peakValue', peakValue);
  checkNumber('warmupCosineDecay', 'endValue', endValue);
  checkInteger('schedules.warmupCosineDecay', 'warmupSteps', warmupSteps, 0);
  checkInteger('schedules.warmupCosineDecay', 'decaySteps', decaySteps, warmupSteps + 1);
  const decayLen = decaySteps - warmupSteps;
  return (count) => {
    const t = asFloat(count);
    // (The warm-up count is clipped to [0, warmupSteps], as Optax's linear schedule does: a negative count gives initValue.)
    const warm = warmupSteps === 0 ? np.add(np.multiply(t, 0), peakValue) : np.add(np.multiply(np.clip(t, 0, warmupSteps), (peakValue - initValue) / warmupSteps), initValue);
    const d = np.clip(np.subtract(t, warmupSteps), 0, decayLen);
    const c = np.multiply(np.add(np.cos(np.multiply(d, Math.PI / decayLen)), 1), 0.5);
    const end = peakValue === 0 ? 0 : endValue;
    const decayed = np.add(np.multiply(np.power(c, exponent), peakValue - end), end);
    return np.where(np.less(t, warmupSteps), warm, decayed);
  };
}

function sortedPoints(op: string, points: Readonly<Record<number, number>> | ReadonlyArray<readonly [number, number]>): [number, number][] {
  const entries: [number, number][] = Array.isArray(points)
    ? (points as ReadonlyArray<readonly [number, number]>).map(([s, v]) => [s, v])
    : Object.entries(points).map(([s, v]) => [Number(s), v as number]);
  for (const [s, v] of entries) {
    if (!Number.isInteger(s) || s < 0) throw new OptimError(`schedules.${op}: steps must be integers ≥ 0, got ${s}`);
    checkNumber(op, `the value at step ${s}`, v);
  }
  entries.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < entries.length; i++) {
    if (entries[i]![0] === entries[i - 1]![0]) throw new OptimError(`schedules.${op}: step ${entries[i]![0]} is given twice`);
  }
  return entries;
}

/**
 * initValue times the product of the scales of every boundary reached (count ≥ boundary), as in
 * Optax (its indicator max(0, sign(boundary − count)) is 0 at the boundary). @example piecewiseConstant({ initValue: 0.1, boundariesAndScales: { 1000: 0.1, 2000: 0.1 } })
 */
export function piecewiseConstant(options: { initValue: number; boundariesAndScales?: Readonly<Record<number, number>> }): Schedule {
  const { initValue, boundariesAndScales = {} } = options;
  checkNumber('piecewiseConstant', 'initValue', initValue);
  const pts = sortedPoints('piecewiseConstant', boundariesAndScales);
  const negative = pts.find(([, scale]) => scale < 0);
  if (negative !== undefined) throw new OptimError(`schedules.piecewiseConstant: scales must be ≥ 0 (as Optax), got ${negative[1]} at step ${negative[0]}`);
  return (count) => {
    const t = asFloat(count);
    let v: NDArray = np.add(np.multiply(t, 0), initValue);
    let acc = initValue;
    for (const [b, s] of pts) {
      acc *= s;
      v = np.where(np.greaterEqual(t, b), acc, v);
    }
    return v;
  };
}

/**
 * Piecewise-linear interpolation through (step, value) points, constant after the last one
 * (bert4keras's `piecewise_linear`). With `fromZero` (default) the curve starts at (0, 0) unless a
 * point at step 0 is given. @example piecewiseLinear({ 1000: 1, 2000: 0.1 }) (warm-up, then decay)
 */
export function piecewiseLinear(points: Readonly<Record<number, number>> | ReadonlyArray<readonly [number, number]>, options: { fromZero?: boolean } = {}): Schedule {
  const pts = sortedPoints('piecewiseLinear', points);
  if (pts.length === 0) throw new OptimError('schedules.piecewiseLinear: needs at least one (step, value) point');
  if ((options.fromZero ?? true) && pts[0]![0] !== 0) pts.unshift([0, 0]);
  return (count) => {
    const t = asFloat(count);
    let v: NDArray = np.add(np.multiply(t, 0), pts[0]![1]);
    for (let i = 0; i + 1 < pts.length; i++) {
      const [s0, v0] = pts[i]!;
      const [s1, v1] = pts[i + 1]!;
      const seg = np.add(np.multiply(np.subtract(t, s0), (v1 - v0) / (s1 - s0)), v0);
      v = np.where(np.greaterEqual(t, s0), seg, v);
    }
    const [sl, vl] = pts[pts.length - 1]!;
    return np.where(np.greaterEqual(t, sl), vl, v);
  };
}

/**
 * Runs `schedules[i]` from `boundaries[i−1]` on, with the count restarted at each boundary.
 * @example join([linear({ initValue: 0, endValue: 1, transitionSteps: 10 }), constant(1)], [10])
 */
export function join(schedules: readonly Schedule[], boundaries: readonly number[]): Schedule {
  if (boundaries.length !== schedules.length - 1) throw new OptimError(`schedules.join: ${schedules.length} schedules need ${schedules.length - 1} boundaries, got ${boundaries.length}`);
  boundaries.forEach((b, i) => checkInteger('schedules.join', `boundaries[${i}]`, b, 0));
  boundaries.forEach((b, i) => {
    if (i > 0 && b < boundaries[i - 1]!) throw new OptimError(`schedules.join: boundaries must be in increasing order (a later schedule would never run), got ${JSON.stringify(boundaries)}`);
  });
  return (count) => {
    const t = asFloat(count);
    let v = np.asArray(schedules[0]!(t));
    boundaries.forEach((b, i) => {
      v = np.where(np.greaterEqual(t, b), np.asArray(schedules[i + 1]!(np.subtract(t, b))), v);
    });
    return v;
  };
}

/**
 * Linear warm-up from initValue to peakValue over warmupSteps, then `exponentialDecay` from
 * peakValue (its count restarting at warmupSteps), as Optax's warmup_exponential_decay_schedule.
 * @example warmupExponentialDecay({ initValue: 0, peakValue: 1e-3, warmupSteps: 100, transitionSteps: 1000, decayRate: 0.5 })
 */
export function warmupExponentialDecay(options: {
  initValue: number;
  peakValue: number;
  warmupSteps: number;
  transitionSteps: number;
  decayRate: number;
  transitionBegin?: number;
  staircase?: boolean;
  endValue?: number;
}): Schedule {
  const { initValue, peakValue, warmupSteps, transitionSteps, decayRate, transitionBegin = 0, staircase = false, endValue } = options;
  checkNumber('warmupExponentialDecay', 'initValue', initValue);
  checkNumber('warmupExponentialDecay', 'peakValue', peakValue);
  checkInteger('schedules.warmupExponentialDecay', 'warmupSteps', warmupSteps, 0);
  return join(
    [linear({ initValue, endValue: peakValue, transitionSteps: warmupSteps }), exponentialDecay({ initValue: peakValue, decayRate, transitionSteps, transitionBegin, staircase, endValue })],
    [warmupSteps],
  );
}

/** Optax's name for `warmupExponentialDecay`. */
export const warmupExponentialDecaySchedule = warmupExponentialDecay;

/** The options of one `warmupCosineDecay` cycle. */
export type WarmupCosineDecayOptions = Parameters<typeof warmupCosineDecay>[0];

/**
 * SGDR (Loshchilov & Hutter 2017): warm restarts, one `warmupCosineDecay` per entry of `cycles`,
 * each starting when the previous one's decaySteps are done (Optax's sgdr_schedule); the last one
 * holds its end value afterwards.
 * @example sgdr([{ initValue: 0, peakValue: 0.1, warmupSteps: 10, decaySteps: 100 }, { initValue: 0, peakValue: 0.05, warmupSteps: 10, decaySteps: 200 }])
 */
export function sgdr(cycles: readonly WarmupCosineDecayOptions[]): Schedule {
  if (!Array.isArray(cycles) || cycles.length === 0) throw new OptimError(`schedules.sgdr: expected a non-empty list of warmupCosineDecay options, got ${Array.isArray(cycles) ? '[]' : typeof cycles}`);
  const boundaries: number[] = [];
  let step = 0;
  for (const c of cycles) boundaries.push((step += c.decaySteps));
  return join(
    cycles.map((c) => warmupCosineDecay(c)),
    boundaries.slice(0, -1),
  );
}

/** Optax's name for `sgdr`. */
export const sgdrSchedule = sgdr;

/**
 * Optax's piecewise_interpolate_schedule: values init·Π(scales so far) at the sorted boundaries,
 * interpolated between them (linearly, or by a half cosine) from step 0, the last value held after
 * (0 before step 0, as Optax).
 */
function piecewiseInterpolate(op: string, kind: 'linear' | 'cosine', initValue: number, boundariesAndScales: ReadonlyMap<number, number>): Schedule {
  const pts = [...boundariesAndScales.entries()].sort((a, b) => a[0] - b[0]);
  const bounds = [0, ...pts.map(([b]) => b)];
  const values = [initValue];
  for (const [b, s] of pts) {
    if (!(s >= 0)) throw new OptimError(`schedules.${op}: scales must be ≥ 0 (as Optax), got ${s} at step ${b}`);
    values.push(values[values.length - 1]! * s);
  }
  return (count) => {
    const t = asFloat(count);
    let v: NDArray = np.where(np.greaterEqual(t, bounds[bounds.length - 1]!), values[values.length - 1]!, 0);
    // From the last piece back, so each step gets the piece whose [start, end) holds it.
    for (let i = pts.length - 1; i >= 0; i--) {
      const [b0, b1, v0, v1] = [bounds[i]!, bounds[i + 1]!, values[i]!, values[i + 1]!];
      // A zero-length piece (int(pctStart·T) = 0, e.g. T = 3) holds no step; Optax's 0/0 there makes
      // every step NaN (0·NaN in its indicator dot product), which is not worth reproducing.
      const pct = np.divide(np.subtract(t, b0), Math.max(b1 - b0, 1));
      const piece = kind === 'linear' ? np.add(np.multiply(pct, v1 - v0), v0) : np.add(np.multiply(np.add(np.cos(np.multiply(pct, Math.PI)), 1), (v0 - v1) / 2), v1);
      v = np.where(np.logicalAnd(np.greaterEqual(t, b0), np.less(t, b1)), piece, v);
    }
    return v;
  };
}

/** Boundaries as Optax builds them, int(pct·T), a later one replacing an equal earlier one (a Python dict's keys). */
function onecycleBoundaries(pairs: ReadonlyArray<readonly [number, number]>): Map<number, number> {
  const m = new Map<number, number>();
  for (const [b, s] of pairs) m.set(Math.trunc(b), s);
  return m;
}

function checkOnecycle(op: string, transitionSteps: number, peakValue: number, rest: Record<string, number>): void {
  checkInteger(`schedules.${op}`, 'transitionSteps', transitionSteps, 1);
  checkNumber(op, 'peakValue', peakValue);
  for (const [name, v] of Object.entries(rest)) checkNumber(op, name, v);
  if (!(rest.divFactor! > 0) || !(rest.finalDivFactor! > 0)) throw new OptimError(`schedules.${op}: divFactor and finalDivFactor must be > 0, got ${rest.divFactor} and ${rest.finalDivFactor}`);
}

/**
 * The linear one-cycle schedule (Smith & Topin 2017; Optax's linear_onecycle_schedule): from
 * peakValue/divFactor up to peakValue at pctStart·T, back down at pctFinal·T, then to
 * peakValue/(divFactor·finalDivFactor) at T, held after.
 * @example linearOnecycle({ transitionSteps: 1000, peakValue: 0.1 })
 */
export function linearOnecycle(options: { transitionSteps: number; peakValue: number; pctStart?: number; pctFinal?: number; divFactor?: number; finalDivFactor?: number }): Schedule {
  const { transitionSteps, peakValue, pctStart = 0.3, pctFinal = 0.85, divFactor = 25, finalDivFactor = 1e4 } = options;
  checkOnecycle('linearOnecycle', transitionSteps, peakValue, { pctStart, pctFinal, divFactor, finalDivFactor });
  return piecewiseInterpolate(
    'linearOnecycle',
    'linear',
    peakValue / divFactor,
    onecycleBoundaries([
      [pctStart * transitionSteps, divFactor],
      [pctFinal * transitionSteps, 1 / divFactor],
      [transitionSteps, 1 / finalDivFactor],
    ]),
  );
}

/** Optax's name for `linearOnecycle`. */
export const linearOnecycleSchedule = linearOnecycle;

/**
 * The cosine one-cycle schedule (Optax's cosine_onecycle_schedule): half-cosine from
 * peakValue/divFactor up to peakValue at pctStart·T, then down to peakValue/(divFactor·finalDivFactor) at T.
 * @example cosineOnecycle({ transitionSteps: 1000, peakValue: 0.1 })
 */
export function cosineOnecycle(options: { transitionSteps: number; peakValue: number; pctStart?: number; divFactor?: number; finalDivFactor?: number }): Schedule {
  const { transitionSteps, peakValue, pctStart = 0.3, divFactor = 25, finalDivFactor = 1e4 } = options;
  checkOnecycle('cosineOnecycle', transitionSteps, peakValue, { pctStart, divFactor, finalDivFactor });
  return piecewiseInterpolate(
    'cosineOnecycle',
    'cosine',
    peakValue / divFactor,
    onecycleBoundaries([
      [pctStart * transitionSteps, divFactor],
      [transitionSteps, 1 / (divFactor * finalDivFactor)],
    ]),
  );
}

/** Optax's name for `cosineOnecycle`. */
export const cosineOnecycleSchedule = cosineOnecycle;

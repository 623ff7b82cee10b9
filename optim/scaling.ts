// Scaling transformations: constant and scheduled scales, learning rates, RMS normalisation,
// parameter-scaled and trust-ratio (LAMB) scaling, momentum (`trace`) and decoupled weight decay.
import type { NDArray } from '../src/array.js';
import * as np from '../src/np/index.js';
import * as tree from '../src/tree.js';
import { leafScaling, needsParams, stateless, withStateKind, type EmptyState, type GradientTransformation, type Schedule, type ScalarOrSchedule, type StateKind, type TreeLike } from './base.js';
import { checkDecay, checkFinite, checkLearningRate, checkNonNegative, checkScheduledValue, scheduledValue } from './checks.js';
import { masked, type MaskSpec, type MaskedKind } from './combine.js';
import {
  align,
  expectState,
  increment,
  mapAligned,
  negate,
  oneMinus,
  paramsLike,
  requireParams,
  rms,
  scopedUpdate,
  zeroCount,
  type Scalar,
} from './tree_utils.js';

/**
 * Multiplies every update by `step`.
 * @example scale(-0.1) turns gradients into SGD steps with learning rate 0.1
 */
export function scale(step: Scalar): GradientTransformation<EmptyState> {
  checkFinite('scale', 'step', step);
  return leafScaling(
    () => ({}),
    (updates, state) => [align('scale', updates).leaves.map(() => step), state],
  );
}

/** The state of transformations that count their updates. */
export interface CountState {
  count: NDArray;
}

/** State of `scaleByLearningRate`: a step count when the rate is a schedule. */
export type LearningRateState = EmptyState | CountState;

/** Multiplies the updates by `schedule(count)`, count = number of updates done before this one. */
export function scaleBySchedule(schedule: Schedule): GradientTransformation<CountState> {
  if (typeof schedule !== 'function') throw new TypeError('scaleBySchedule: expected a schedule (a function of the step count)');
  return leafScaling(
    () => ({ count: zeroCount() }),
    (updates, state) => {
      const { count } = expectState('scaleBySchedule', state, ['count']);
      const s = scheduledValue('scaleBySchedule', 'the schedule', schedule, count);
      return [align('scaleBySchedule', updates).leaves.map(() => s), { count: increment(count) }];
    },
  );
}

/**
 * Scales by the learning rate (a number, an array or a schedule), negated by default so that
 * gradients become descent steps.
 * @example chain(scaleByAdam(), scaleByLearningRate(1e-3)) is adam(1e-3)
 */
export function scaleByLearningRate(learningRate: ScalarOrSchedule, options: { flipSign?: boolean } = {}): GradientTransformation<LearningRateState> {
  checkLearningRate('scaleByLearningRate', learningRate);
  const flip = options.flipSign ?? true;
  if (typeof learningRate === 'function') {
    // The rate is checked before it is negated, so a refused value shows as the schedule gave it.
    const scaled: Schedule = (count) => {
      const rate = learningRate(count);
      checkScheduledValue('scaleBySchedule', 'the schedule', rate, count);
      return flip ? negate(rate) : rate;
    };
    // Named as the caller's schedule, which scaleBySchedule's errors name.
    Object.defineProperty(scaled, 'name', { value: learningRate.name });
    return scaleBySchedule(scaled);
  }
  return scale(flip ? negate(learningRate) : learningRate);
}

/** State of `scaleByRms`: the EMA of squared updates. */
export interface ScaleByRmsState<P = unknown> {
  nu: TreeLike<P>;
}

/** The state kind of `scaleByRms`. */
export interface ScaleByRmsKind extends StateKind {
  readonly state: ScaleByRmsState<this['params']>;
}

/**
 * RMSProp's rescaling: ν ← decay·ν + (1−decay)·g², u ← g / sqrt(ν + eps).
 * `initialScale` is ν's starting value (0 in Optax, 1 in TF1's RMSProp).
 */
export function scaleByRms(options: { decay?: Scalar; eps?: Scalar; initialScale?: number } = {}): GradientTransformation<ScaleByRmsKind> {
  const op = 'scaleByRms';
  const { decay = 0.9, eps = 1e-8, initialScale = 0 } = options;
  checkDecay(op, 'decay', decay);
  checkNonNegative(op, 'eps', eps);
  checkNonNegative(op, 'initialScale', initialScale);
  return withStateKind<ScaleByRmsKind>({
    init: (params) => ({ nu: paramsLike('scaleByRms', params, (shape) => np.full(shape, initialScale, 'float32')) }),
    update: (updates, state, _params) =>
      scopedUpdate(() => {
        const s = expectState(op, state, ['nu']);
        const { def, leaves, rest } = align(op, updates, [{ name: 'the state nu', tree: s.nu }]);
        const nu = leaves.map((g, i) => np.add(np.multiply(rest[0]![i] as NDArray, decay), np.multiply(np.square(g), oneMinus(decay))));
        const out = leaves.map((g, i) => np.multiply(g, np.rsqrt(np.add(nu[i]!, eps))));
        return [tree.unflatten(def, out) as typeof updates, { nu: tree.unflatten(def, nu) }];
      }),
  });
}

/** State of `scaleByStddev`: EMAs of the updates and of their squares. */
export interface ScaleByStddevState<P = unknown> {
  mu: TreeLike<P>;
  nu: TreeLike<P>;
}

/** The state kind of `scaleByStddev`. */
export interface ScaleByStddevKind extends StateKind {
  readonly state: ScaleByStddevState<this['params']>;
}

/** Centered RMSProp: u ← g / sqrt(ν − μ² + eps) with μ, ν EMAs of g and g². */
export function scaleByStddev(options: { decay?: Scalar; eps?: Scalar; initialScale?: number } = {}): GradientTransformation<ScaleByStddevKind> {
  const op = 'scaleByStddev';
  const { decay = 0.9, eps = 1e-8, initialScale = 0 } = options;
  checkDecay(op, 'decay', decay);
  checkNonNegative(op, 'eps', eps);
  checkNonNegative(op, 'initialScale', initialScale);
  return withStateKind<ScaleByStddevKind>({
    init: (params) => ({
      mu: paramsLike('scaleByStddev', params, (shape) => np.zeros(shape, 'float32')),
      nu: paramsLike('scaleByStddev', params, (shape) => np.full(shape, initialScale, 'float32')),
    }),
    update: (updates, state, _params) =>
      scopedUpdate(() => {
        const s = expectState(op, state, ['mu', 'nu']);
        const { def, leaves, rest } = align(op, updates, [
          { name: 'the state mu', tree: s.mu },
          { name: 'the state nu', tree: s.nu },
        ]);
        const c = oneMinus(decay);
        const mu = leaves.map((g, i) => np.add(np.multiply(rest[0]![i] as NDArray, decay), np.multiply(g, c)));
        const nu = leaves.map((g, i) => np.add(np.multiply(rest[1]![i] as NDArray, decay), np.multiply(np.square(g), c)));
        const out = leaves.map((g, i) => np.multiply(g, np.rsqrt(np.add(np.subtract(nu[i]!, np.square(mu[i]!)), eps))));
        return [tree.unflatten(def, out) as typeof updates, { mu: tree.unflatten(def, mu), nu: tree.unflatten(def, nu) }];
      }),
  });
}

/**
 * Multiplies each leaf's update by max(RMS(param), minScale): Adafactor's parameter-relative step
 * size α_t = ρ_t·max(ε₂, RMS(X_{t−1})) (algorithms.md §4.2 step 2). Needs the parameters.
 * `minScale` may be a 0-d array, so that `injectHyperparams` can change it between steps.
 */
export function scaleByParamBlockRms(options: { minScale?: Scalar } = {}): GradientTransformation<EmptyState, true> {
  const op = 'scaleByParamBlockRms';
  const minScale = options.minScale ?? 1e-3;
  checkNonNegative(op, 'minScale', minScale);
  return needsParams(
    leafScaling(
      () => ({}),
      (updates, state, params) => {
        const { rest } = align(op, updates, [{ name: 'params', tree: requireParams(op, params) }]);
        return [rest[0]!.map((x) => np.maximum(rms(x as NDArray), minScale)), state];
      },
    ),
  );
}

/**
 * LAMB's layer adaptation: scales each leaf's update by trustCoefficient·‖param‖ / (‖update‖ + eps),
 * or by 1 when either norm is 0. Norms are floored at minNorm. Needs the parameters.
 */
export function scaleByTrustRatio(options: { minNorm?: number; trustCoefficient?: number; eps?: number } = {}): GradientTransformation<EmptyState, true> {
  const op = 'scaleByTrustRatio';
  const { minNorm = 0, trustCoefficient = 1, eps = 0 } = options;
  checkNonNegative(op, 'minNorm', minNorm);
  checkNonNegative(op, 'trustCoefficient', trustCoefficient);
  checkNonNegative(op, 'eps', eps);
  return needsParams(stateless(<P>(updates: P, params?: P) => {
    const p = requireParams(op, params);
    return mapAligned(
      op,
      (u, x: NDArray) => {
        const pn = np.maximum(np.sqrt(np.sum(np.square(x))), minNorm);
        const un = np.maximum(np.sqrt(np.sum(np.square(u))), minNorm);
        const ratio = np.divide(np.multiply(pn, trustCoefficient), np.add(un, eps));
        const zero = np.logicalOr(np.equal(pn, 0), np.equal(un, 0));
        return np.multiply(u, np.where(zero, 1, ratio));
      },
      updates,
      [{ name: 'params', tree: p }],
    ) as P;
  }));
}

/** State of `trace`: the momentum buffer. */
export interface TraceState<P = unknown> {
  trace: TreeLike<P>;
}

/** The state kind of `trace`. */
export interface TraceKind extends StateKind {
  readonly state: TraceState<this['params']>;
}

/**
 * Momentum: t ← g + decay·t; the update is t, or g + decay·t with `nesterov`.
 * @example chain(trace(0.9), scaleByLearningRate(0.1)) is sgd(0.1, { momentum: 0.9 })
 */
export function trace(decay: Scalar, options: { nesterov?: boolean } = {}): GradientTransformation<TraceKind> {
  const op = 'trace';
  checkDecay(op, 'decay', decay);
  const nesterov = options.nesterov ?? false;
  return withStateKind<TraceKind>({
    init: (params) => ({ trace: paramsLike('trace', params, (shape) => np.zeros(shape, 'float32')) }),
    update: (updates, state, _params) =>
      scopedUpdate(() => {
        const s = expectState(op, state, ['trace']);
        const { def, leaves, rest } = align(op, updates, [{ name: 'the state trace', tree: s.trace }]);
        const t = leaves.map((g, i) => np.add(g, np.multiply(rest[0]![i] as NDArray, decay)));
        const out = nesterov ? leaves.map((g, i) => np.add(g, np.multiply(t[i]!, decay))) : t;
        return [tree.unflatten(def, out) as typeof updates, { trace: tree.unflatten(def, t) }];
      }),
  });
}

/** State of `addDecayedWeights`: a step count for a scheduled decay, inside `masked`'s state when a mask is given. */
export type DecayedWeightsKind = LearningRateState | MaskedKind<LearningRateState>;

/**
 * Decoupled weight decay: u ← u + weightDecay·param (before the learning rate, as in AdamW).
 * `mask` (a tree of booleans, a prefix of one, or a function of the parameters) limits it to some
 * leaves, e.g. no decay on biases. Needs the parameters.
 * Also callable with one options object, `addDecayedWeights({ weightDecay, mask })`.
 * @example addDecayedWeights(1e-4, { mask: pathMask(/\.w$/) }) (decay the weights, not the biases)
 */
export function addDecayedWeights(options: { weightDecay?: ScalarOrSchedule; mask?: MaskSpec }): GradientTransformation<DecayedWeightsKind, true>;
export function addDecayedWeights(weightDecay?: ScalarOrSchedule, options?: { mask?: MaskSpec }): GradientTransformation<DecayedWeightsKind, true>;
export function addDecayedWeights(
  first: ScalarOrSchedule | { weightDecay?: ScalarOrSchedule; mask?: MaskSpec } = 0,
  second: { mask?: MaskSpec } = {},
): GradientTransformation<DecayedWeightsKind, true> {
  const op = 'addDecayedWeights';
  const isOptions = typeof first === 'object' && first !== null && Object.getPrototypeOf(first) === Object.prototype;
  const { weightDecay = 0, mask } = isOptions ? (first as { weightDecay?: ScalarOrSchedule; mask?: MaskSpec }) : { weightDecay: first as ScalarOrSchedule, mask: second.mask };
  checkNonNegative(op, 'weightDecay', weightDecay, true);
  const scheduled = typeof weightDecay === 'function';
  const inner: GradientTransformation<EmptyState | CountState> = {
    init: (): EmptyState | CountState => (scheduled ? { count: zeroCount() } : ({} as EmptyState)),
    update: (updates, state, params) =>
      scopedUpdate(() => {
        const p = requireParams(op, params);
        const count = scheduled ? expectState(op, state as CountState, ['count']).count : undefined;
        const wd = scheduled ? scheduledValue(op, 'the weight-decay schedule', weightDecay as Schedule, count!) : (weightDecay as Scalar);
        const out = mapAligned(op, (u, x: NDArray) => np.add(u, np.multiply(x, wd)), updates, [{ name: 'params', tree: p }]);
        return [out as typeof updates, scheduled ? { count: increment(count!) } : state];
      }),
  };
  const decay: GradientTransformation<DecayedWeightsKind> = mask === undefined ? inner : masked(inner, mask);
  return needsParams(decay);
}

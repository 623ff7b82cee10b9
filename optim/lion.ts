// Lion (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms") and Adagrad's
// accumulated squares: Optax's scale_by_lion and scale_by_rss.
import type { NDArray } from '../src/array.js';
import * as np from '../src/np/index.js';
import * as tree from '../src/tree.js';
import { withStateKind, type GradientTransformation, type StateKind, type TreeLike } from './base.js';
import { checkDecay, checkNonNegative } from './checks.js';
import { align, expectState, increment, oneMinus, paramsLike, scopedUpdate, zeroCount, type Scalar } from './tree_utils.js';

/** State of `scaleByLion`: the step count and the momentum (a tree like the parameters). */
export interface ScaleByLionState<P = unknown> {
  count: NDArray;
  mu: TreeLike<P>;
}

/** The state kind of `scaleByLion`. */
export interface ScaleByLionKind extends StateKind {
  readonly state: ScaleByLionState<this['params']>;
}

/**
 * Lion's rescaling: u = sign(β₁m + (1−β₁)g), then m ← β₂m + (1−β₂)g (the update interpolates with
 * β₁, the momentum with β₂). @example chain(scaleByLion(), scaleByLearningRate(1e-4))
 */
export function scaleByLion(options: { b1?: Scalar; b2?: Scalar } = {}): GradientTransformation<ScaleByLionKind> {
  const op = 'scaleByLion';
  const { b1 = 0.9, b2 = 0.99 } = options;
  checkDecay(op, 'b1', b1);
  checkDecay(op, 'b2', b2);
  return withStateKind<ScaleByLionKind>({
    init: (params) => ({ count: zeroCount(), mu: paramsLike(op, params, (shape) => np.zeros(shape, 'float32')) }),
    update: (updates, state, _params) =>
      scopedUpdate(() => {
        const s = expectState(op, state, ['count', 'mu']);
        const { def, leaves, rest } = align(op, updates, [{ name: 'the state mu', tree: s.mu }]);
        const out = leaves.map((g, i) => np.sign(np.add(np.multiply(rest[0]![i] as NDArray, b1), np.multiply(g, oneMinus(b1)))));
        const mu = leaves.map((g, i) => np.add(np.multiply(rest[0]![i] as NDArray, b2), np.multiply(g, oneMinus(b2))));
        return [tree.unflatten(def, out) as typeof updates, { count: increment(s.count), mu: tree.unflatten(def, mu) }];
      }),
  });
}

/** State of `scaleByRss`: the running sums of squared gradients. */
export interface ScaleByRssState<P = unknown> {
  sumOfSquares: TreeLike<P>;
}

/** The state kind of `scaleByRss`. */
export interface ScaleByRssKind extends StateKind {
  readonly state: ScaleByRssState<this['params']>;
}

/**
 * Adagrad's rescaling: s ← s + g², u = g / sqrt(s + eps) (0 where s is 0), s starting at
 * `initialAccumulatorValue` (Optax's defaults 0.1 and 1e-7).
 */
export function scaleByRss(options: { initialAccumulatorValue?: number; eps?: Scalar } = {}): GradientTransformation<ScaleByRssKind> {
  const op = 'scaleByRss';
  const { initialAccumulatorValue = 0.1, eps = 1e-7 } = options;
  checkNonNegative(op, 'initialAccumulatorValue', initialAccumulatorValue);
  checkNonNegative(op, 'eps', eps);
  return withStateKind<ScaleByRssKind>({
    init: (params) => ({ sumOfSquares: paramsLike(op, params, (shape) => np.full(shape, initialAccumulatorValue, 'float32')) }),
    update: (updates, state, _params) =>
      scopedUpdate(() => {
        const s = expectState(op, state, ['sumOfSquares']);
        const { def, leaves, rest } = align(op, updates, [{ name: 'the state sumOfSquares', tree: s.sumOfSquares }]);
        const sum = leaves.map((g, i) => np.add(rest[0]![i] as NDArray, np.square(g)));
        const out = leaves.map((g, i) => np.multiply(g, np.where(np.greater(sum[i]!, 0), np.rsqrt(np.add(sum[i]!, eps)), 0)));
        return [tree.unflatten(def, out) as typeof updates, { sumOfSquares: tree.unflatten(def, sum) }];
      }),
  });
}

// The Adam family: Adam's bias-corrected moments (with optional Nesterov momentum, i.e. NAdam) and
// Adamax's infinity norm. Kingma & Ba 2015; Optax's scale_by_adam / scale_by_adamax.
import type { NDArray } from '../src/array.js';
import * as np from '../src/np/index.js';
import * as tree from '../src/tree.js';
import { withStateKind, type GradientTransformation, type StateKind, type TreeLike } from './base.js';
import { checkDecay, checkNonNegative } from './checks.js';
import { align, asFloat, paramsLike, expectState, increment, oneMinus, oneMinusPow, scopedUpdate, zeroCount, type Scalar } from './tree_utils.js';

/** State of `scaleByAdam`: the step count and the first and second moment EMAs (trees like the parameters). */
export interface ScaleByAdamState<P = unknown> {
  count: NDArray;
  mu: TreeLike<P>;
  nu: TreeLike<P>;
}

/** The state kind of `scaleByAdam` (its state for parameters P is `ScaleByAdamState<P>`). */
export interface ScaleByAdamKind extends StateKind {
  readonly state: ScaleByAdamState<this['params']>;
}

export interface ScaleByAdamOptions {
  /** EMA decay of the first moment (default 0.9). */
  b1?: Scalar;
  /** EMA decay of the second moment (default 0.999). */
  b2?: Scalar;
  /** Added to sqrt(ν̂) (default 1e-8). */
  eps?: Scalar;
  /** Added to ν̂ inside the square root (default 0). */
  epsRoot?: Scalar;
  /** Nesterov momentum (NAdam). */
  nesterov?: boolean;
}

/** 1 / (1 − decay^t) for a float step t, as a 0-d array. */
function biasCorrection(decay: Scalar, t: NDArray): NDArray {
  return np.divide(1, oneMinusPow(decay, t));
}

function zerosTree(op: string, params: unknown): unknown {
  return paramsLike(op, params, (shape) => np.zeros(shape, 'float32'));
}

/**
 * Adam's rescaling: m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g², u = m̂ / (sqrt(v̂ + epsRoot) + eps) with
 * m̂ = m/(1−β₁ᵗ), v̂ = v/(1−β₂ᵗ).
 * @example chain(scaleByAdam({ b1: 0.8 }), scaleByLearningRate(0.1))
 */
export function scaleByAdam(options: ScaleByAdamOptions = {}): GradientTransformation<ScaleByAdamKind> {
  const op = 'scaleByAdam';
  const { b1 = 0.9, b2 = 0.999, eps = 1e-8, epsRoot = 0, nesterov = false } = options;
  checkDecay(op, 'b1', b1);
  checkDecay(op, 'b2', b2);
  checkNonNegative(op, 'eps', eps);
  checkNonNegative(op, 'epsRoot', epsRoot);
  // `factors` (from a fused learning rate, see GradientTransformation.updateScaled) fold into m̂'s scalar.
  const step = <P>(updates: P, state: ScaleByAdamState, factors?: readonly Scalar[]): [P, ScaleByAdamState] =>
    scopedUpdate(() => {
      const s = expectState(op, state, ['count', 'mu', 'nu']);
      const { def, leaves, rest } = align(op, updates, [
        { name: 'the state mu', tree: s.mu },
        { name: 'the state nu', tree: s.nu },
      ]);
      const count = increment(s.count);
      const t = asFloat(count);
      const c1 = oneMinus(b1);
      const c2 = oneMinus(b2);
      const mu = leaves.map((g, i) => np.add(np.multiply(rest[0]![i] as NDArray, b1), np.multiply(g, c1)));
      const nu = leaves.map((g, i) => np.add(np.multiply(rest[1]![i] as NDArray, b2), np.multiply(np.square(g), c2)));
      const bc1 = biasCorrection(b1, t);
      const bc2 = biasCorrection(b2, t);
      // NAdam: m̂ = β₁m/(1−β₁^{t+1}) + (1−β₁)g/(1−β₁ᵗ).
      const bc1Next = nesterov ? biasCorrection(b1, np.add(t, 1)) : bc1;
      const out = leaves.map((g, i) => {
        const f = factors?.[i] ?? 1;
        const mHat = nesterov
          ? np.add(np.multiply(mu[i]!, np.multiply(np.multiply(bc1Next, b1), f)), np.multiply(g, np.multiply(np.multiply(bc1, c1), f)))
          : np.multiply(mu[i]!, f === 1 ? bc1 : np.multiply(bc1, f));
        let vHat = np.multiply(nu[i]!, bc2);
        if (!(typeof epsRoot === 'number' && epsRoot === 0)) vHat = np.add(vHat, epsRoot);
        return np.divide(mHat, np.add(np.sqrt(vHat), eps));
      });
      return [tree.unflatten(def, out) as P, { count, mu: tree.unflatten(def, mu), nu: tree.unflatten(def, nu) }];
    });
  return withStateKind<ScaleByAdamKind>({
    init: (params) => ({ count: zeroCount(), mu: zerosTree(op, params), nu: zerosTree(op, params) }),
    update: (updates, state, _params) => step(updates, state),
    updateScaled: (updates, state, _params, factors) => step(updates, state, factors),
  });
}

/** State of `scaleByAdamax`. */
export interface ScaleByAdamaxState<P = unknown> {
  count: NDArray;
  mu: TreeLike<P>;
  nu: TreeLike<P>;
}

/** The state kind of `scaleByAdamax`. */
export interface ScaleByAdamaxKind extends StateKind {
  readonly state: ScaleByAdamaxState<this['params']>;
}

/**
 * Adamax's rescaling: m ← β₁m + (1−β₁)g, u_∞ ← max(β₂·u_∞, |g| + eps), update = m̂ / u_∞.
 */
export function scaleByAdamax(options: { b1?: Scalar; b2?: Scalar; eps?: Scalar } = {}): GradientTransformation<ScaleByAdamaxKind> {
  const op = 'scaleByAdamax';
  const { b1 = 0.9, b2 = 0.999, eps = 1e-8 } = options;
  checkDecay(op, 'b1', b1);
  checkDecay(op, 'b2', b2);
  checkNonNegative(op, 'eps', eps);
  return withStateKind<ScaleByAdamaxKind>({
    init: (params) => ({ count: zeroCount(), mu: zerosTree(op, params), nu: zerosTree(op, params) }),
    update: (updates, state, _params) =>
      scopedUpdate(() => {
        const s = expectState(op, state, ['count', 'mu', 'nu']);
        const { def, leaves, rest } = align(op, updates, [
          { name: 'the state mu', tree: s.mu },
          { name: 'the state nu', tree: s.nu },
        ]);
        const count = increment(s.count);
        const bc1 = biasCorrection(b1, asFloat(count));
        const mu = leaves.map((g, i) => np.add(np.multiply(rest[0]![i] as NDArray, b1), np.multiply(g, oneMinus(b1))));
        const nu = leaves.map((g, i) => np.maximum(np.multiply(rest[1]![i] as NDArray, b2), np.add(np.abs(g), eps)));
        const out = leaves.map((_g, i) => np.divide(np.multiply(mu[i]!, bc1), nu[i]!));
        return [tree.unflatten(def, out) as typeof updates, { count, mu: tree.unflatten(def, mu), nu: tree.unflatten(def, nu) }];
      }),
  });
}

// Adam's relatives that change the second moment or how it is used: RAdam's rectification,
// AdaBelief's belief in the gradient, Yogi's additive second moment. Optax's scale_by_radam,
// scale_by_belief and scale_by_yogi (same defaults); their state is Adam's (count, mu, nu).
import type { NDArray } from '../src/array.js';
import * as np from '../src/np/index.js';
import * as tree from '../src/tree.js';
import { withStateKind, type GradientTransformation } from './base.js';
import type { ScaleByAdamKind, ScaleByAdamState } from './adam.js';
import { checkDecay, checkNonNegative, checkPositive } from './checks.js';
import { OptimError, align, asFloat, expectState, increment, oneMinus, oneMinusPow, paramsLike, scopedUpdate, zeroCount, type Scalar } from './tree_utils.js';

/** m ← β₁m + (1−β₁)g, leafwise. */
function firstMoment(leaves: readonly NDArray[], mu: readonly NDArray[], b1: Scalar): NDArray[] {
  return leaves.map((g, i) => np.add(np.multiply(mu[i]!, b1), np.multiply(g, oneMinus(b1))));
}

/**
 * m̂ for Adam-style bias correction at step t, as a function of each leaf's (m, g): m/(1−β₁ᵗ), or
 * with `nesterov` (NAdam, as Optax) β₁m/(1−β₁^{t+1}) + (1−β₁)g/(1−β₁ᵗ). The corrections are
 * computed once per step, not once per leaf.
 */
function muHat(b1: Scalar, t: NDArray, nesterov: boolean): (m: NDArray, g: NDArray) => NDArray {
  const bc = oneMinusPow(b1, t);
  if (!nesterov) return (m) => np.divide(m, bc);
  const bcNext = oneMinusPow(b1, np.add(t, 1));
  return (m, g) => np.add(np.multiply(np.divide(m, bcNext), b1), np.multiply(np.divide(g, bc), oneMinus(b1)));
}

function fullTree(op: string, params: unknown, value: number): unknown {
  return paramsLike(op, params, (shape) => np.full(shape, value, 'float32'));
}

/**
 * Adam's state (count, mu, nu; both moments starting at `initialValue`) and the bookkeeping of one
 * step around `step`, which gives the new moments and the updates from the gradients, the old
 * moments and t (the new count, as a float).
 */
function adamShaped(
  op: string,
  initialValue: number,
  step: (leaves: readonly NDArray[], muPrev: readonly NDArray[], nuPrev: readonly NDArray[], t: NDArray) => { mu: NDArray[]; nu: NDArray[]; out: NDArray[] },
): GradientTransformation<ScaleByAdamKind> {
  return withStateKind<ScaleByAdamKind>({
    init: (params) => ({ count: zeroCount(), mu: fullTree(op, params, initialValue), nu: fullTree(op, params, initialValue) }),
    update: (updates, state, _params) =>
      scopedUpdate(() => {
        const s = expectState(op, state as ScaleByAdamState, ['count', 'mu', 'nu']);
        const { def, leaves, rest } = align(op, updates, [
          { name: 'the state mu', tree: s.mu },
          { name: 'the state nu', tree: s.nu },
        ]);
        const count = increment(s.count);
        const { mu, nu, out } = step(leaves, rest[0] as NDArray[], rest[1] as NDArray[], asFloat(count));
        return [tree.unflatten(def, out) as typeof updates, { count, mu: tree.unflatten(def, mu), nu: tree.unflatten(def, nu) }];
      }),
  });
}

/**
 * Rectified Adam (Liu et al. 2020): Adam's step times the rectification
 * r = sqrt((ρ−4)(ρ−2)ρ∞ / ((ρ∞−4)(ρ∞−2)ρ)) while the approximated SMA length ρ = ρ∞ − 2tβ₂ᵗ/(1−β₂ᵗ)
 * (ρ∞ = 2/(1−β₂) − 1) is at least `threshold` (5, Optax's default; the paper uses 4); before
 * that the update is the bias-corrected momentum m̂ alone.
 */
export function scaleByRadam(options: { b1?: Scalar; b2?: number; eps?: Scalar; epsRoot?: Scalar; threshold?: number; nesterov?: boolean } = {}): GradientTransformation<ScaleByAdamKind> {
  const op = 'scaleByRadam';
  const { b1 = 0.9, b2 = 0.999, eps = 1e-8, epsRoot = 0, threshold = 5, nesterov = false } = options;
  checkDecay(op, 'b1', b1);
  if (typeof b2 !== 'number') throw new OptimError(`${op}: b2 must be a number (ρ∞ is fixed when the transformation is built), got ${typeof b2}`);
  checkDecay(op, 'b2', b2);
  checkNonNegative(op, 'eps', eps);
  checkNonNegative(op, 'epsRoot', epsRoot);
  if (typeof threshold !== 'number' || !Number.isFinite(threshold)) throw new OptimError(`${op}: threshold must be a finite number, got ${String(threshold)}`);
  const roInf = 2 / (1 - b2) - 1;
  return adamShaped(op, 0, (leaves, muPrev, nuPrev, t) => {
    const mu = firstMoment(leaves, muPrev, b1);
    const nu = leaves.map((g, i) => np.add(np.multiply(nuPrev[i]!, b2), np.multiply(np.square(g), 1 - b2)));
    // β₂ᵗ/(1−β₂ᵗ) with 1−β₂ᵗ from expm1 (float32's 1 − 0.999ᵗ loses digits at small t).
    const oneMinusB2t = oneMinusPow(b2, t);
    const ro = np.subtract(roInf, np.divide(np.multiply(np.multiply(t, 2), np.subtract(1, oneMinusB2t)), oneMinusB2t));
    const rectified = np.greaterEqual(ro, threshold);
    // Below the threshold r's radicand can be negative: take it at a safe ρ so the unselected
    // branch is not NaN (np.where would pass a NaN's gradient through otherwise).
    const roSafe = np.where(rectified, ro, roInf);
    const r = np.sqrt(np.divide(np.multiply(np.multiply(np.subtract(roSafe, 4), np.subtract(roSafe, 2)), roInf), np.multiply(roSafe, (roInf - 4) * (roInf - 2))));
    const corrected = muHat(b1, t, nesterov);
    const out = leaves.map((g, i) => {
      const m = corrected(mu[i]!, g);
      let vHat = np.divide(nu[i]!, oneMinusB2t);
      if (!(typeof epsRoot === 'number' && epsRoot === 0)) vHat = np.add(vHat, epsRoot);
      return np.where(rectified, np.divide(np.multiply(m, r), np.add(np.sqrt(vHat), eps)), m);
    });
    return { mu, nu, out };
  });
}

/**
 * AdaBelief (Zhuang et al. 2020): Adam with the EMA of the squared prediction error (g − m)² in
 * place of g², as Optax: m ← β₁m + (1−β₁)g, s ← β₂s + (1−β₂)(g − m)² + epsRoot (m the new
 * moment; epsRoot is kept in the state), u = m̂ / (sqrt(ŝ) + eps). Optax's defaults eps = epsRoot = 1e-16.
 */
export function scaleByBelief(options: { b1?: Scalar; b2?: Scalar; eps?: Scalar; epsRoot?: Scalar; nesterov?: boolean } = {}): GradientTransformation<ScaleByAdamKind> {
  const op = 'scaleByBelief';
  const { b1 = 0.9, b2 = 0.999, eps = 1e-16, epsRoot = 1e-16, nesterov = false } = options;
  checkDecay(op, 'b1', b1);
  checkDecay(op, 'b2', b2);
  checkNonNegative(op, 'eps', eps);
  checkNonNegative(op, 'epsRoot', epsRoot);
  return adamShaped(op, 0, (leaves, muPrev, nuPrev, t) => {
    const mu = firstMoment(leaves, muPrev, b1);
    const nu = leaves.map((g, i) =>
      np.add(np.add(np.multiply(nuPrev[i]!, b2), np.multiply(np.square(np.subtract(g, mu[i]!)), oneMinus(b2))), epsRoot),
    );
    const bc2 = oneMinusPow(b2, t);
    const corrected = muHat(b1, t, nesterov);
    const out = leaves.map((g, i) => np.divide(corrected(mu[i]!, g), np.add(np.sqrt(np.divide(nu[i]!, bc2)), eps)));
    return { mu, nu, out };
  });
}

/**
 * Yogi (Zaheer et al. 2018): Adam with an additive second moment
 * v ← v − (1−β₂)·sign(v − g²)·g², so v grows no faster than Adam's but shrinks more slowly; both
 * moments start at `initialAccumulatorValue` (1e-6, as Optax), u = m̂ / (sqrt(v̂ + epsRoot) + eps).
 */
export function scaleByYogi(options: { b1?: Scalar; b2?: Scalar; eps?: Scalar; epsRoot?: Scalar; initialAccumulatorValue?: number } = {}): GradientTransformation<ScaleByAdamKind> {
  const op = 'scaleByYogi';
  const { b1 = 0.9, b2 = 0.999, eps = 1e-3, epsRoot = 0, initialAccumulatorValue = 1e-6 } = options;
  checkDecay(op, 'b1', b1);
  checkDecay(op, 'b2', b2);
  checkNonNegative(op, 'eps', eps);
  checkNonNegative(op, 'epsRoot', epsRoot);
  checkPositive(op, 'initialAccumulatorValue', initialAccumulatorValue);
  return adamShaped(op, initialAccumulatorValue, (leaves, muPrev, nuPrev, t) => {
    const mu = firstMoment(leaves, muPrev, b1);
    const nu = leaves.map((g, i) => {
      const v = nuPrev[i]!;
      const g2 = np.square(g);
      return np.subtract(v, np.multiply(np.multiply(np.sign(np.subtract(v, g2)), g2), oneMinus(b2)));
    });
    const bc1 = oneMinusPow(b1, t);
    const bc2 = oneMinusPow(b2, t);
    const out = leaves.map((_g, i) => {
      let vHat = np.divide(nu[i]!, bc2);
      if (!(typeof epsRoot === 'number' && epsRoot === 0)) vHat = np.add(vHat, epsRoot);
      return np.divide(np.divide(mu[i]!, bc1), np.add(np.sqrt(vHat), eps));
    });
    return { mu, nu, out };
  });
}

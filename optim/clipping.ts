// Clipping: by value, by norm (per leaf or global), by block RMS, adaptive (AGC), and per-example
// global-norm clipping for batched (vmap-ed) gradients. algorithms.md §1.2 (Keras semantics):
// clipnorm g ← g·c / max(N, c), clipvalue g ← clip(g, −c, c). Thresholds may be 0-d arrays, so that
// injectHyperparams can change them between steps.
import type { NDArray } from '../src/array.js';
import * as np from '../src/np/index.js';
import * as tree from '../src/tree.js';
import { needsParams, stateless, type EmptyState, type GradientTransformation } from './base.js';
import { checkNonNegative, checkPositive } from './checks.js';
import { OptimError, align, leafPath, mapAligned, negate, requireParams, rms, sumOfSquares, type Scalar } from './tree_utils.js';

/**
 * Clips every update to [−maxDelta, maxDelta] (Keras `clipvalue`).
 * @example clip(1) maps [-3, 0.5] to [-1, 0.5]
 */
export function clip(maxDelta: Scalar): GradientTransformation<EmptyState> {
  checkNonNegative('clip', 'maxDelta', maxDelta);
  return stateless(<P>(updates: P) => mapAligned('clip', (u) => np.minimum(np.maximum(u, negate(maxDelta)), maxDelta), updates) as P);
}

/**
 * Rescales each leaf to norm ≤ maxNorm: g ← g·c / max(‖g‖, c) (identity when ‖g‖ ≤ c).
 * `ord: 1` clips the L1 norm instead (algorithms.md §1.2).
 */
export function clipByNorm(maxNorm: Scalar, options: { ord?: 1 | 2 } = {}): GradientTransformation<EmptyState> {
  checkPositive('clipByNorm', 'maxNorm', maxNorm);
  const ord = options.ord ?? 2;
  if (ord !== 1 && ord !== 2) throw new OptimError(`clipByNorm: ord must be 1 or 2, got ${String(ord)}`);
  return stateless(<P>(updates: P) =>
    mapAligned(
      'clipByNorm',
      (u) => {
        const n = ord === 2 ? np.sqrt(np.sum(np.square(u))) : np.sum(np.abs(u));
        return np.multiply(u, np.divide(maxNorm, np.maximum(n, maxNorm)));
      },
      updates,
    ) as P,
  );
}

/**
 * Rescales all updates together so their global norm N = sqrt(Σ‖g‖²) is ≤ maxNorm:
 * g ← g·c / max(N, c). Directions are unchanged; the identity when N ≤ c (algorithms.md §1.2).
 * @example chain(clipByGlobalNorm(1), adam(1e-3))
 */
export function clipByGlobalNorm(maxNorm: Scalar): GradientTransformation<EmptyState> {
  checkPositive('clipByGlobalNorm', 'maxNorm', maxNorm);
  return stateless(<P>(updates: P) => {
    const { def, leaves } = align('clipByGlobalNorm', updates);
    const n = np.sqrt(sumOfSquares(leaves));
    const factor = np.divide(maxNorm, np.maximum(n, maxNorm));
    return tree.unflatten(def, leaves.map((u) => np.multiply(u, factor))) as P;
  });
}

/** Rescales each leaf so its RMS is ≤ threshold: u ← u / max(1, RMS(u)/threshold) (Adafactor's update clipping d, §4.2 step 7). */
export function clipByBlockRms(threshold: Scalar): GradientTransformation<EmptyState> {
  checkPositive('clipByBlockRms', 'threshold', threshold);
  return stateless(<P>(updates: P) =>
    mapAligned('clipByBlockRms', (u) => np.divide(u, np.maximum(1, np.divide(rms(u), threshold))), updates) as P,
  );
}

/**
 * The unit-wise norm used by AGC: whole-array norm for scalars and vectors, per output unit (the
 * last axis) for matrices (IO) and 3-d kernels, per output channel for 4-d HWIO conv kernels.
 */
function unitwiseNorm(op: string, x: NDArray, path: () => string): NDArray {
  const squeezedRank = x.shape.filter((d) => d !== 1).length;
  let sq: NDArray;
  if (squeezedRank <= 1) sq = np.sum(np.square(x), undefined, true);
  else if (x.ndim === 2 || x.ndim === 3) sq = np.sum(np.square(x), 0, true);
  else if (x.ndim === 4) sq = np.sum(np.square(x), [0, 1, 2], true);
  else throw new OptimError(`${op}: unit-wise norms are defined for arrays of rank ≤ 4, but the leaf at ${path()} has shape [${x.shape.join(',')}]`);
  return np.sqrt(sq);
}

/**
 * Adaptive gradient clipping (Brock et al. 2021): clips each unit's gradient norm to
 * `clipping · max(‖unit of params‖, eps)`. Needs the parameters.
 */
export function adaptiveGradClip(clipping: Scalar, options: { eps?: number } = {}): GradientTransformation<EmptyState, true> {
  const eps = options.eps ?? 1e-3;
  checkPositive('adaptiveGradClip', 'clipping', clipping);
  checkNonNegative('adaptiveGradClip', 'eps', eps);
  return needsParams(stateless(<P>(updates: P, params?: P) => {
    const op = 'adaptiveGradClip';
    const p = requireParams(op, params);
    const { def, leaves, rest } = align(op, updates, [{ name: 'params', tree: p }]);
    const out = leaves.map((g, i) => {
      const path = () => leafPath(updates, i);
      const pNorm = unitwiseNorm(op, rest[0]![i] as NDArray, path);
      const gNorm = unitwiseNorm(op, g, path);
      const maxNorm = np.multiply(np.maximum(pNorm, eps), clipping);
      const clipped = np.multiply(g, np.divide(maxNorm, np.maximum(gNorm, 1e-6)));
      return np.where(np.less(gNorm, maxNorm), g, clipped);
    });
    return tree.unflatten(def, out) as P;
  }));
}

/**
 * Per-example clipping for batched gradients (every leaf has a leading batch axis, e.g. from
 * `vmap(grad(loss))`): each example's gradient is scaled to global norm ≤ l2NormClip, then the
 * examples are summed (DP-SGD's aggregation). The result has the parameters' shapes.
 */
export function perExampleGlobalNormClip(l2NormClip: Scalar): GradientTransformation<EmptyState> {
  checkPositive('perExampleGlobalNormClip', 'l2NormClip', l2NormClip);
  return stateless(<P>(updates: P) => {
    const op = 'perExampleGlobalNormClip';
    const { def, leaves } = align(op, updates);
    if (leaves.length === 0) return updates;
    const batch = leaves[0]!.shape[0];
    leaves.forEach((g, i) => {
      if (g.ndim === 0 || g.shape[0] !== batch) {
        throw new OptimError(`${op}: every leaf needs the same leading batch axis (${batch ?? 'none'}), but the leaf at ${leafPath(updates, i)} has shape [${g.shape.join(',')}]`);
      }
    });
    // Per-example squared norms, shape [B].
    let sq: NDArray = np.zeros([batch!]);
    for (const g of leaves) {
      const axes = g.shape.map((_, a) => a).slice(1);
      sq = np.add(sq, axes.length ? np.sum(np.square(g), axes) : np.square(g));
    }
    const divisors = np.maximum(np.divide(np.sqrt(sq), l2NormClip), 1);
    const out = leaves.map((g) => {
      const d = np.reshape(divisors, [batch!, ...g.shape.slice(1).map(() => 1)]);
      return np.sum(np.divide(g, d), 0);
    });
    return tree.unflatten(def, out) as P;
  });
}

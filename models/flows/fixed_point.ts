// Inverting y = x + g(x) by fixed-point iteration (algorithms.md §3.3): x₀ = y,
// x_{k+1} = y − g(x_k). When Lip(g) = L < 1 the map is a contraction, so (Banach)
//   ||x* − x_k|| ≤ L^k / (1 − L) · ||x₁ − x₀||.
import { np, type NDArray } from '../../src/index.js';
import { eager } from './layer.js';

export interface FixedPointOptions {
  /** Stop once max over the batch of ||x_k − x_{k−1}|| ≤ tol (default 1e-6; 0 runs maxIter steps). */
  tol?: number;
  /** Iteration cap (default 100, the i-ResNet code's block inverse; it uses 10 when sampling). */
  maxIter?: number;
}

export const DEFAULT_FIXED_POINT: Required<FixedPointOptions> = { tol: 1e-6, maxIter: 100 };

export interface FixedPointResult {
  x: NDArray;
  /** Iterations done (≤ maxIter). */
  iterations: number;
  /** max over the batch of ||x_k − x_{k−1}|| at the last iteration (NaN when values are abstract). */
  residual: number;
  /** Whether the tolerance was met. */
  converged: boolean;
}

/**
 * Solves x + g(x) = y for x, row by row of the batch. The stopping test reads values back, so it
 * runs only where values are concrete (eagerly, under grad/jvp); under jit/vmap exactly `maxIter`
 * iterations run.
 */
export const fixedPointInverse = eager((g: (x: NDArray) => NDArray, y: NDArray, options: FixedPointOptions = {}): FixedPointResult => {
  const tol = options.tol ?? DEFAULT_FIXED_POINT.tol;
  const maxIter = options.maxIter ?? DEFAULT_FIXED_POINT.maxIter;
  if (!(Number.isInteger(maxIter) && maxIter >= 1)) throw new RangeError(`fixedPointInverse: maxIter must be a finite integer ≥ 1, got ${maxIter}`);
  if (!(typeof tol === 'number' && tol >= 0 && Number.isFinite(tol))) throw new RangeError(`fixedPointInverse: tol must be a finite number ≥ 0, got ${tol}`);
  const axes = y.shape.slice(1).map((_, i) => i + 1);
  // No samples (e.g. sample(key, 0)): nothing to iterate; an empty batch is its own fixed point.
  if (y.size === 0) return { x: np.subtract(y, g(y)), iterations: 0, residual: 0, converged: true };
  let x = y;
  let residual = NaN;
  for (let k = 1; k <= maxIter; k++) {
    const next = np.subtract(y, g(x));
    const step = np.max(np.sqrt(np.sum(np.square(np.subtract(next, x)), axes)));
    x = next;
    const concrete = step.concreteValue();
    if (concrete !== null) {
      residual = concrete.dataSync()[0]!;
      if (tol > 0 && residual <= tol) return { x, iterations: k, residual, converged: true };
      // Diverged (g is not a contraction): more iterations cannot help.
      if (!Number.isFinite(residual)) return { x, iterations: k, residual, converged: false };
    }
  }
  return { x, iterations: maxIter, residual, converged: residual <= tol };
});

/** The a-priori error bound after k iterations: L^k/(1 − L)·||x₁ − x₀|| (§3.3). */
export function fixedPointBound(lipschitz: number, iterations: number, firstStep: number): number {
  if (!(lipschitz >= 0 && lipschitz < 1)) return Infinity;
  return (lipschitz ** iterations / (1 - lipschitz)) * firstStep;
}

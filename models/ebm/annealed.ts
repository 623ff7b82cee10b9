// Annealed Langevin dynamics for noise-conditional energies trained by denoising score matching
// (algorithms.md §7h; Song & Ermon's schedule): Langevin at decreasing noise levels, then one
// Tweedie denoising jump.
import { random, scope, type ArrayLike, type NDArray } from '../../src/index.js';
import type { Key } from '../nn.js';
import { denoise } from './losses.js';
import { langevin } from './samplers.js';

/** The largest finite float32, which the per-level steps must not exceed. */
const FLOAT32_MAX = 3.4028234663852886e38;

export interface AnnealedLangevinOptions {
  /** Noise levels, largest first (non-increasing; checked). */
  sigmas: readonly number[];
  /** Langevin steps per level. */
  stepsPerLevel: number;
  /**
   * ε at the smallest level; level i uses εᵢ = ε·σᵢ²/σ_min² (theory form, noise √εᵢ). A level whose εᵢ
   * overflows float32 (e.g. sigmas [1, 1e-30]) is refused with a RangeError naming it.
   */
  stepSize: number;
  /** Finish with x ← x − σ_min²∇E(x, σ_min) (default true). */
  finalDenoise?: boolean;
}

/** Samples from a noise-conditional energy `energyFn(x, sigma)` [N] by annealing over `sigmas`. */
export function annealedLangevin(energyFn: (x: NDArray, sigma: number) => NDArray, x0: ArrayLike, key: Key, options: AnnealedLangevinOptions): NDArray {
  const { sigmas, stepsPerLevel, stepSize } = options;
  if (sigmas.length === 0 || sigmas.some((s) => !(s > 0))) throw new RangeError(`ebm.annealedLangevin: sigmas must be a non-empty list of positive numbers, got [${sigmas.join(', ')}]`);
  // Ascending levels would be read as "the last is the smallest": steps scaled by σᵢ²/σ_last² ≤ 1 and
  // the final jump taken at the largest σ, a wrong sample without an error.
  const rising = sigmas.findIndex((s, i) => i > 0 && s > sigmas[i - 1]!);
  if (rising > 0) throw new RangeError(`ebm.annealedLangevin: sigmas must be ordered largest first (non-increasing), but sigmas[${rising}] = ${sigmas[rising]} > sigmas[${rising - 1}] = ${sigmas[rising - 1]}; got [${sigmas.join(', ')}]`);
  const sMin = sigmas[sigmas.length - 1]!;
  // εᵢ = ε·(σᵢ/σ_min)² is the formula (§7h, Song & Ermon), so it is not rescaled here: a level ratio
  // such as σ_max/σ_min = 1e30 asks for a step of ε·1e60, which float32 (max ≈ 3.4e38) holds as
  // Infinity, and the chain would come back all NaN without an error. Refused instead, naming the level.
  const tooLarge = sigmas.findIndex((s) => !(stepSize * (s / sMin) ** 2 <= FLOAT32_MAX));
  if (tooLarge >= 0) {
    const s = sigmas[tooLarge]!;
    throw new RangeError(`ebm.annealedLangevin: the step at sigmas[${tooLarge}] = ${s}, ε·(σ/σ_min)² = ${stepSize}·(${s}/${sMin})² = ${(stepSize * (s / sMin) ** 2).toExponential(2)}, overflows float32 (max ${FLOAT32_MAX.toExponential(2)}); the levels span a ratio σ_max/σ_min = ${sigmas[0]! / sMin} too wide for stepSize ${stepSize}: narrow the levels or lower stepSize; got sigmas [${sigmas.join(', ')}]`);
  }
  return scope(() => {
    let x = x0 as NDArray;
    sigmas.forEach((s, i) => {
      x = langevin((y) => energyFn(y, s), x, random.foldIn(key, i), { stepSize: stepSize * (s / sMin) ** 2, steps: stepsPerLevel });
    });
    return options.finalDenoise === false ? x : denoise((y) => energyFn(y, sMin), x, sMin);
  });
}

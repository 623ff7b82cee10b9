// Training objectives for energy models: the contrastive-divergence loss of IGEBM (algorithms.md
// §6.1, §6.3) with its softplus and logsumexp variants, and denoising score matching (§7h).
import { np, random, stopGradient, type ArrayLike, type NDArray } from '../../src/index.js';
import type { Key } from '../nn.js';
import type { EnergyFn } from './energy.js';
import { energyGrad } from './samplers.js';

/** IGEBM's `objective`: 'cd' (the default), 'softplus' or 'logsumexp' (§6.3). */
export type ContrastiveObjective = 'cd' | 'softplus' | 'logsumexp';

export interface ContrastiveOptions {
  /** Weight α of the energy regulariser α(mean E(x⁺)² + mean E(x⁻)²) (IGEBM `l2_coeff`: 1). */
  alpha?: number;
  objective?: ContrastiveObjective;
}

export interface ContrastiveTerms {
  /** The total loss (scalar). */
  loss: NDArray;
  /** E(x⁺) [N⁺] and E(sg(x⁻)) [N⁻], for logging. */
  ePos: NDArray;
  eNeg: NDArray;
}

/**
 * The loss from energies already computed (no detaching here: `eNeg` must be the energies of
 * stop-gradient samples). With ē = mean:
 *   cd:        ē(E⁺) − ē(E⁻)                       (positive minus negative phase, §6.1)
 *   softplus:  ē(softplus(E⁺ᵢ − E⁻ᵢ))              (paired, N⁺ = N⁻)
 *   logsumexp: ē(E⁺) − Σᵢ sg(softmax(−E⁻))ᵢ·E⁻ᵢ    (negatives reweighted towards low energy)
 * plus α(ē(E⁺²) + ē(E⁻²)). For 'cd' and α > 0 the loss is ≥ −1/(2α): each term has the form
 * ē(±e + αe²) ≥ min(±e + αe²) = −1/(4α) (§6.6.4).
 */
export const contrastiveObjective = np.defop(function contrastiveObjective(ePos: ArrayLike, eNeg: ArrayLike, options: ContrastiveOptions = {}): NDArray {
  const alpha = options.alpha ?? 1;
  const objective = options.objective ?? 'cd';
  const ep = np.asArray(ePos), en = np.asArray(eNeg);
  if (ep.ndim !== 1 || en.ndim !== 1) throw new RangeError(`ebm.contrastiveObjective: expected energies [N], got [${ep.shape.join(',')}] and [${en.shape.join(',')}]`);
  let ml: NDArray;
  if (objective === 'cd') ml = np.mean(ep).sub(np.mean(en));
  else if (objective === 'softplus') {
    if (ep.shape[0] !== en.shape[0]) throw new RangeError(`ebm.contrastiveObjective: 'softplus' pairs positives with negatives, so N⁺ must equal N⁻ (got ${ep.shape[0]} and ${en.shape[0]})`);
    ml = np.mean(np.softplus(ep.sub(en)));
  } else if (objective === 'logsumexp') {
    const w = stopGradient(np.softmax(en.neg()));
    ml = np.mean(ep).sub(np.sum(w.mul(en)));
  } else throw new RangeError(`ebm.contrastiveObjective: unknown objective '${String(objective)}'; expected 'cd', 'softplus' or 'logsumexp'`);
  return alpha === 0 ? ml : ml.add(np.mean(np.square(ep)).add(np.mean(np.square(en))).mul(alpha));
});

/**
 * The contrastive loss with its energies. Negatives are detached (E(sg(x⁻))), so the gradient in θ
 * is mean ∇θE(x⁺) − mean ∇θE(x⁻) + 2α(mean E⁺∇θE⁺ + mean E⁻∇θE⁻), whatever produced x⁻ (§6.5).
 */
export const contrastiveTerms = np.defop(function contrastiveTerms(energyFn: EnergyFn, xPos: ArrayLike, xNeg: ArrayLike, options: ContrastiveOptions = {}): ContrastiveTerms {
  const ePos = energyFn(np.asArray(xPos));
  const eNeg = energyFn(stopGradient(np.asArray(xNeg)));
  return { loss: contrastiveObjective(ePos, eNeg, options), ePos, eNeg };
});

/**
 * L = mean E(x⁺) − mean E(sg(x⁻)) + α(mean E(x⁺)² + mean E(x⁻)²) (§6.3, IGEBM `objective=cd`, α = 1).
 * @example const loss = (p) => contrastiveLoss((x) => mlpEnergy.apply(p, x), xData, xSamples, { alpha: 0.1 });
 */
export const contrastiveLoss = np.defop(function contrastiveLoss(energyFn: EnergyFn, xPos: ArrayLike, xNeg: ArrayLike, options: ContrastiveOptions = {}): NDArray {
  return contrastiveTerms(energyFn, xPos, xNeg, options).loss;
});

export interface DsmOptions {
  /** Noise level σ of x̃ = x + σε. */
  sigma: number;
  /** 'none' (the default): the formula of §7h; 'sigma2': times σ² (the usual weighting across noise levels). */
  weighting?: 'none' | 'sigma2';
}

/**
 * Denoising score matching for an energy (§7h, Vincent 2011): with x̃ = x + σε,
 *   L = mean_i ‖∇ₓE(x̃ᵢ) − (x̃ᵢ − xᵢ)/σ²‖²,
 * minimised when −∇E is the score of p_σ = p ∗ N(0, σ²I). For data N(μ, τ²I) the minimiser
 * among quadratics is E(x) = ‖x − μ‖²/(2(τ² + σ²)). Differentiating in θ takes ∇θ of ∇ₓE: a
 * second-order derivative, which gradus computes exactly.
 */
export const dsmLoss = np.defop(function dsmLoss(energyFn: EnergyFn, x: ArrayLike, key: Key, options: DsmOptions): NDArray {
  const sigma = options.sigma;
  if (!(sigma > 0)) throw new RangeError(`ebm.dsmLoss: sigma must be positive, got ${sigma}`);
  const a = np.asArray(x);
  const noise = random.normal(key, a.shape);
  const xt = a.add(noise.mul(sigma));
  const residual = energyGrad(energyFn, xt).sub(noise.div(sigma));
  const axes = a.shape.slice(1).map((_, i) => i + 1);
  const loss = np.mean(np.sum(np.square(residual), axes));
  return options.weighting === 'sigma2' ? loss.mul(sigma * sigma) : loss;
});

/** Tweedie's single denoising jump x ← x − σ²∇E(x) = x + σ²·score (§7h): E[x₀ | x̃] when −∇E is the score of p_σ. */
export const denoise = np.defop(function denoise(energyFn: EnergyFn, x: ArrayLike, sigma: number): NDArray {
  const a = np.asArray(x);
  return a.sub(energyGrad(energyFn, a).mul(sigma * sigma));
});

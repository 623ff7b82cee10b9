// Optimizers as chains of the pieces (the learning rate first, options second):
//   sgd = [trace] → lr;  adam = scaleByAdam → lr;  adamw = scaleByAdam → decay → lr;
//   rmsprop = scaleByRms|Stddev → lr → [trace];  adamax = scaleByAdamax → lr;
//   lion = scaleByLion → decay → lr;  adagrad = scaleByRss → lr;
//   lamb = scaleByAdam → decay → trust ratio → lr;
//   radam = scaleByRadam → lr;  adabelief = scaleByBelief → lr;  yogi = scaleByYogi → lr;
//   noisySgd = addNoise → lr;
//   adafactor = factored RMS (with block-RMS clipping) → [momentum] → −lr|relative step → param scale
//               (→ decay → −1 when weight decay is on: the sign then comes last).
import * as np from '../src/np/index.js';
import type { ChainKind, EmptyState, GradientTransformation, ScalarOrSchedule, StateAt, StateKind } from './base.js';
import { chain } from './base.js';
import type { MaskSpec } from './combine.js';
import { scaleByAdam, scaleByAdamax } from './adam.js';
import { scaleByLion, scaleByRss } from './lion.js';
import { scaleByBelief, scaleByRadam, scaleByYogi } from './adam_variants.js';
import { addNoise } from './noise.js';
import { ema, type EmaState } from './ema.js';
import { adafactorRelativeStep, scaleByFactoredRms, type FactoredState } from './factorized.js';
import {
  addDecayedWeights,
  scale,
  scaleByLearningRate,
  scaleByParamBlockRms,
  scaleByRms,
  scaleByStddev,
  scaleByTrustRatio,
  trace,
  type DecayedWeightsKind,
  type LearningRateState,
  type ScaleByRmsKind,
  type ScaleByStddevKind,
  type TraceKind,
} from './scaling.js';
import { checkDecay, checkLearningRate, checkNonNegative, checkPositive } from './checks.js';
import { OptimError, type Scalar } from './tree_utils.js';

/**
 * An optimizer: a gradient transformation whose updates are added to the parameters. `S` is its state
 * kind (the aliases below give precise ones, so `opt.init(params)` is typed after `params`), and
 * `NeedsParams` is `true` for those whose update needs the parameters (adamw, lion, lamb, adafactor
 * with its parameter scale or weight decay); `Optimizer` alone accepts any optimizer.
 */
export type Optimizer<S = unknown, NeedsParams extends boolean = boolean> = GradientTransformation<S, NeedsParams>;

/** The state kind of `sgd`: the learning rate's state, after the momentum buffer when there is one. */
export type SgdKind = ChainKind<[LearningRateState]> | ChainKind<[TraceKind, LearningRateState]>;

/** The state kind of `rmsprop`: the second-moment (and, centered, first-moment) EMAs, the learning rate's state, the momentum buffer when there is one. */
export type RmspropKind = ChainKind<[ScaleByRmsKind | ScaleByStddevKind, LearningRateState]> | ChainKind<[ScaleByRmsKind | ScaleByStddevKind, LearningRateState, TraceKind]>;

/**
 * The state kind of `adafactor`: the factored second moment first, then the states of the pieces in
 * chain order: momentum (when on), the learning rate, the parameter scale (when on), weight decay
 * and the sign (when on). One type for all options (a union of these tuples), so that optimizers
 * made with different options have the same type.
 */
export interface AdafactorKind extends StateKind {
  readonly state: [
    FactoredState<this['params']>,
    ...([] | [EmaState<this['params']>]),
    LearningRateState,
    ...([] | [EmptyState]),
    ...([] | [StateAt<DecayedWeightsKind, this['params']>, EmptyState]),
  ];
}

/**
 * Stochastic gradient descent, with optional (Nesterov) momentum.
 * @example sgd(0.1, { momentum: 0.9, nesterov: true })
 */
export function sgd(learningRate: ScalarOrSchedule): Optimizer<ChainKind<[LearningRateState]>>;
export function sgd(learningRate: ScalarOrSchedule, options: { momentum: Scalar; nesterov?: boolean }): Optimizer<ChainKind<[TraceKind, LearningRateState]>>;
export function sgd(learningRate: ScalarOrSchedule, options?: { momentum?: Scalar; nesterov?: boolean }): Optimizer<SgdKind>;
export function sgd(learningRate: ScalarOrSchedule, options: { momentum?: Scalar; nesterov?: boolean } = {}): Optimizer<SgdKind> {
  checkLearningRate('sgd', learningRate);
  const { momentum, nesterov = false } = options;
  if (momentum === undefined) {
    if (nesterov) throw new OptimError('sgd: nesterov needs a momentum');
    return chain(scaleByLearningRate(learningRate)) as Optimizer<SgdKind>;
  }
  checkDecay('sgd', 'momentum', momentum);
  return chain(trace(momentum, { nesterov }), scaleByLearningRate(learningRate)) as Optimizer<SgdKind>;
}

export interface AdamOptions {
  b1?: Scalar;
  b2?: Scalar;
  eps?: Scalar;
  epsRoot?: Scalar;
  nesterov?: boolean;
}

/**
 * Adam (Kingma & Ba): bias-corrected first and second moments.
 * @example
 * const opt = adam(0.1, { b1: 0.8, b2: 0.9 });
 * let params = { x: np.array([2, 4], 'float32') };
 * let state = opt.init(params);
 * [params, state] = applyGradients(opt, grad((p) => np.sum(np.square(p.x)))(params), state, params);
 * params.x.toArray(); // [1.9, 3.9], then [1.800183, 3.800082] (tested in optim_transforms)
 */
export function adam(learningRate: ScalarOrSchedule, options: AdamOptions = {}) {
  checkLearningRate('adam', learningRate);
  return chain(scaleByAdam(options), scaleByLearningRate(learningRate));
}

/**
 * Adam with decoupled weight decay (Loshchilov & Hutter): u = −lr·(m̂/(√v̂+ε) + wd·θ).
 * @example adamw(1e-3, { weightDecay: 1e-2, mask: pathMask(/\.w$/) })
 */
export function adamw(learningRate: ScalarOrSchedule, options: AdamOptions & { weightDecay?: ScalarOrSchedule; mask?: MaskSpec } = {}) {
  checkLearningRate('adamw', learningRate);
  const { weightDecay = 1e-4, mask, ...adamOptions } = options;
  checkNonNegative('adamw', 'weightDecay', weightDecay, true);
  return chain(scaleByAdam(adamOptions), addDecayedWeights(weightDecay, { mask }), scaleByLearningRate(learningRate));
}

export interface RmspropOptions {
  decay?: Scalar;
  eps?: Scalar;
  initialScale?: number;
  centered?: boolean;
  momentum?: Scalar;
  nesterov?: boolean;
}

/**
 * RMSProp (Hinton), optionally centered and with momentum.
 * @example rmsprop(1e-4, { decay: 0.99 }) (the single-loss GAN setting, algorithms.md §2.3)
 */
export function rmsprop(learningRate: ScalarOrSchedule, options?: RmspropOptions & { momentum?: undefined }): Optimizer<ChainKind<[ScaleByRmsKind | ScaleByStddevKind, LearningRateState]>>;
export function rmsprop(learningRate: ScalarOrSchedule, options: RmspropOptions & { momentum: Scalar }): Optimizer<ChainKind<[ScaleByRmsKind | ScaleByStddevKind, LearningRateState, TraceKind]>>;
export function rmsprop(learningRate: ScalarOrSchedule, options?: RmspropOptions): Optimizer<RmspropKind>;
export function rmsprop(learningRate: ScalarOrSchedule, options: RmspropOptions = {}): Optimizer<RmspropKind> {
  checkLearningRate('rmsprop', learningRate);
  const { decay = 0.9, eps = 1e-8, initialScale = 0, centered = false, momentum, nesterov = false } = options;
  const rescale = centered ? scaleByStddev({ decay, eps, initialScale }) : scaleByRms({ decay, eps, initialScale });
  if (momentum === undefined) {
    if (nesterov) throw new OptimError('rmsprop: nesterov needs a momentum');
    return chain(rescale, scaleByLearningRate(learningRate)) as Optimizer<RmspropKind>;
  }
  checkDecay('rmsprop', 'momentum', momentum);
  return chain(rescale, scaleByLearningRate(learningRate), trace(momentum, { nesterov })) as Optimizer<RmspropKind>;
}

/** Adamax: Adam with the infinity norm in place of the second moment. @example adamax(2e-3) */
export function adamax(learningRate: ScalarOrSchedule, options: { b1?: Scalar; b2?: Scalar; eps?: Scalar } = {}) {
  checkLearningRate('adamax', learningRate);
  return chain(scaleByAdamax(options), scaleByLearningRate(learningRate));
}

/**
 * Lion (Chen et al. 2023): the sign of an interpolation of momentum and gradient, with decoupled
 * weight decay (Optax's defaults: b1 0.9, b2 0.99, weightDecay 1e-3). Its steps all have size lr,
 * so it wants a learning rate 3–10× smaller than AdamW's. @example lion(1e-4, { weightDecay: 1e-2 })
 */
export function lion(learningRate: ScalarOrSchedule, options: { b1?: Scalar; b2?: Scalar; weightDecay?: ScalarOrSchedule; mask?: MaskSpec } = {}) {
  checkLearningRate('lion', learningRate);
  const { b1, b2, weightDecay = 1e-3, mask } = options;
  checkNonNegative('lion', 'weightDecay', weightDecay, true);
  return chain(scaleByLion({ b1, b2 }), addDecayedWeights(weightDecay, { mask }), scaleByLearningRate(learningRate));
}

/** Adagrad (Duchi et al. 2011): steps −lr·g/sqrt(Σg² + eps), the sum starting at initialAccumulatorValue. @example adagrad(0.1) */
export function adagrad(learningRate: ScalarOrSchedule, options: { initialAccumulatorValue?: number; eps?: Scalar } = {}) {
  checkLearningRate('adagrad', learningRate);
  return chain(scaleByRss(options), scaleByLearningRate(learningRate));
}

/**
 * LAMB (You et al.): Adam's direction plus weight decay, rescaled per leaf by the trust ratio
 * ‖θ‖/‖u‖ (bert4keras's layer adaptation). @example lamb(1e-3, { weightDecay: 1e-2 })
 */
export function lamb(learningRate: ScalarOrSchedule, options: AdamOptions & { weightDecay?: ScalarOrSchedule; mask?: MaskSpec } = {}) {
  checkLearningRate('lamb', learningRate);
  const { weightDecay = 0, mask, b1 = 0.9, b2 = 0.999, eps = 1e-6, epsRoot = 0, nesterov = false } = options;
  checkNonNegative('lamb', 'weightDecay', weightDecay, true);
  return chain(
    scaleByAdam({ b1, b2, eps, epsRoot, nesterov }),
    addDecayedWeights(weightDecay, { mask }),
    scaleByTrustRatio(),
    scaleByLearningRate(learningRate),
  );
}

/**
 * RAdam (Liu et al. 2020): Adam with its adaptive step rectified, and plain momentum SGD while the
 * second moment's variance is intractable (ρ < threshold; Optax's defaults). @example radam(1e-3)
 */
export function radam(learningRate: ScalarOrSchedule, options: { b1?: Scalar; b2?: number; eps?: Scalar; epsRoot?: Scalar; threshold?: number; nesterov?: boolean } = {}) {
  checkLearningRate('radam', learningRate);
  return chain(scaleByRadam(options), scaleByLearningRate(learningRate));
}

/**
 * AdaBelief (Zhuang et al. 2020): steps m̂/(sqrt(ŝ) + eps) with ŝ the EMA of (g − m)², large when
 * the gradient is where the momentum predicts it (Optax's defaults eps = epsRoot = 1e-16). @example adabelief(1e-3)
 */
export function adabelief(learningRate: ScalarOrSchedule, options: { b1?: Scalar; b2?: Scalar; eps?: Scalar; epsRoot?: Scalar; nesterov?: boolean } = {}) {
  checkLearningRate('adabelief', learningRate);
  return chain(scaleByBelief(options), scaleByLearningRate(learningRate));
}

/** Yogi (Zaheer et al. 2018): Adam with an additive second-moment update (Optax's defaults: eps 1e-3). @example yogi(1e-2) */
export function yogi(learningRate: ScalarOrSchedule, options: { b1?: Scalar; b2?: Scalar; eps?: Scalar } = {}) {
  checkLearningRate('yogi', learningRate);
  return chain(scaleByYogi(options), scaleByLearningRate(learningRate));
}

/**
 * SGD with annealed Gaussian gradient noise (Neelakantan et al. 2015): variance eta/(1 + t)^gamma at
 * step t (Optax's defaults eta 0.01, gamma 0.55, seed 0). @example noisySgd(0.1, { eta: 0.01, seed: 1 })
 */
export function noisySgd(learningRate: ScalarOrSchedule, options: { eta?: number; gamma?: number; seed?: number } = {}) {
  checkLearningRate('noisySgd', learningRate);
  const { eta = 0.01, gamma = 0.55, seed = 0 } = options;
  return chain(addNoise(eta, gamma, seed), scaleByLearningRate(learningRate));
}

export interface AdafactorOptions {
  /** Factor leaves whose second-largest dimension is at least this (default 128). */
  minDimSizeToFactor?: number;
  /** Decay exponent c in β̂₂,t = 1 − t^−c (default 0.8; a number in (0, 1] or a 0-d array). */
  decayRate?: Scalar;
  /** Steps subtracted from t in the decay (default 0; for fine-tuning: steps before it use the current G² alone). */
  decayOffset?: number;
  /** Scale steps by max(ε₂, RMS(param)) (default true). */
  multiplyByParameterScale?: boolean;
  /** Update clipping threshold d (default 1; null disables); a number or a 0-d array (e.g. injected). */
  clippingThreshold?: Scalar | null;
  /** β₁ of the optional momentum (default none). */
  momentum?: Scalar;
  /** Decoupled weight decay rate, added after the learning rate as in Optax (default none). */
  weightDecayRate?: ScalarOrSchedule;
  weightDecayMask?: MaskSpec;
  /** ε₁ (default 1e-30); a number or a 0-d array (e.g. injected). */
  eps?: Scalar;
  /** ε₂, the floor of the parameter scale (default 1e-3); a number or a 0-d array (e.g. injected). */
  eps2?: Scalar;
  /** Use the factored second moment at all (default true). */
  factored?: boolean;
}

/**
 * Adafactor (Shazeer & Stern 2018; algorithms.md §4.2–4.3). The optional momentum averages the
 * clipped update before the step size is applied (§4.2 step 8, as in bert4keras); Optax and
 * mesh-tf average after the learning rate and parameter scale, which differs when either changes
 * over time. With no learning rate it uses the
 * relative step ρ_t = min(1e-2, 1/√t) (times 0.05 when parameter scaling is off, as mesh-tf and
 * bert4keras do); state is O(m + n) for a factored m×n weight.
 * @example adafactor(1e-3) (Su's advice); adafactor(undefined, { momentum: 0.9 }) (relative step)
 */
export function adafactor(learningRate: ScalarOrSchedule | undefined, options: AdafactorOptions & { multiplyByParameterScale: false; weightDecayRate?: undefined }): Optimizer<AdafactorKind>;
/** With the parameter scale (the default) or weight decay, the update needs the parameters. */
export function adafactor(learningRate?: ScalarOrSchedule, options?: AdafactorOptions): Optimizer<AdafactorKind, true>;
export function adafactor(learningRate?: ScalarOrSchedule, options: AdafactorOptions = {}): Optimizer<AdafactorKind> {
  const op = 'adafactor';
  if (learningRate !== undefined) checkLearningRate(op, learningRate);
  const {
    minDimSizeToFactor = 128,
    decayRate = 0.8,
    decayOffset = 0,
    multiplyByParameterScale = true,
    clippingThreshold = 1,
    momentum,
    weightDecayRate,
    weightDecayMask,
    eps = 1e-30,
    eps2 = 1e-3,
    factored = true,
  } = options;
  if (clippingThreshold !== null) checkPositive(op, 'clippingThreshold', clippingThreshold);
  if (momentum !== undefined) checkDecay(op, 'momentum', momentum);
  if (weightDecayRate !== undefined) checkNonNegative(op, 'weightDecayRate', weightDecayRate, true);
  checkNonNegative(op, 'eps2', eps2);
  const lr: ScalarOrSchedule =
    learningRate ?? (multiplyByParameterScale ? adafactorRelativeStep : (count) => np.multiply(adafactorRelativeStep(count), 0.05));
  // The clipping is fused into the factored step (same result as chaining clipByBlockRms, one
  // pass fewer); the final sign goes into the learning-rate scaling unless weight decay follows.
  const decay = weightDecayRate !== undefined;
  const pieces: GradientTransformation<unknown>[] = [
    scaleByFactoredRms({ factored, decayRate, stepOffset: decayOffset, minDimSizeToFactor, epsilon: eps, clippingThreshold: clippingThreshold ?? undefined }),
  ];
  if (momentum !== undefined) pieces.push(ema(momentum, { debias: false }));
  pieces.push(scaleByLearningRate(lr, { flipSign: !decay }));
  if (multiplyByParameterScale) pieces.push(scaleByParamBlockRms({ minScale: eps2 }));
  if (decay) pieces.push(addDecayedWeights(weightDecayRate, { mask: weightDecayMask }), scale(-1));
  return chain(...pieces) as unknown as Optimizer<AdafactorKind>;
}


// gradus/optim: optimizers as chains of gradient transformations (Optax's design).
//
//   import * as optim from 'gradus/optim';
//   const opt = optim.chain(optim.clipByGlobalNorm(1), optim.adamw(1e-3, { weightDecay: 1e-2 }));
//   let state = opt.init(params);
//   [params, state] = optim.applyGradients(opt, grad(loss)(params), state, params);
import { initBackend } from '../src/backend.js';
import * as schedules from './schedules.js';

await initBackend();

export { schedules };
export {
  applyGradients,
  applyUpdates,
  chain,
  erased,
  identity,
  leafScaling,
  needsParams,
  stateless,
  valueAt,
  withStateKind,
  type ChainKind,
  type EmptyState,
  type GradientTransformation,
  type KindOf,
  type AnyNeedsParams,
  type NeedsParamsOf,
  type ParamsArg,
  type Schedule,
  type ScalarOrSchedule,
  type StateAt,
  type StateKind,
  type StateOf,
  type TreeLike,
} from './base.js';
export { OptimError, freeTree, globalNorm, treeSize, type Scalar } from './tree_utils.js';
export { adaptiveGradClip, clip, clipByBlockRms, clipByGlobalNorm, clipByNorm, perExampleGlobalNormClip } from './clipping.js';
export {
  addDecayedWeights,
  scale,
  scaleByLearningRate,
  scaleByParamBlockRms,
  scaleByRms,
  scaleBySchedule,
  scaleByStddev,
  scaleByTrustRatio,
  trace,
  type CountState,
  type DecayedWeightsKind,
  type LearningRateState,
  type ScaleByRmsKind,
  type ScaleByRmsState,
  type ScaleByStddevKind,
  type ScaleByStddevState,
  type TraceKind,
  type TraceState,
} from './scaling.js';
export {
  scaleByAdam,
  scaleByAdamax,
  type ScaleByAdamKind,
  type ScaleByAdamOptions,
  type ScaleByAdamState,
  type ScaleByAdamaxKind,
  type ScaleByAdamaxState,
} from './adam.js';
export { scaleByBelief, scaleByRadam, scaleByYogi } from './adam_variants.js';
export { addNoise, type AddNoiseState } from './noise.js';
export { applyEvery, type ApplyEveryKind, type ApplyEveryState } from './accumulation.js';
export { zeroNans, type ZeroNansKind, type ZeroNansState } from './constrain.js';
export { scaleByLion, scaleByRss, type ScaleByLionKind, type ScaleByLionState, type ScaleByRssKind, type ScaleByRssState } from './lion.js';
export { adafactorRelativeStep, factoredDims, scaleByFactoredRms, type FactoredKind, type FactoredRmsOptions, type FactoredState } from './factorized.js';
export {
  masked,
  multiTransform,
  pathLabels,
  pathMask,
  setToZero,
  type LabelSpec,
  type Labeller,
  type SpecTree,
  type MaskSpec,
  type MaskedKind,
  type MaskedState,
  type MultiTransformKind,
  type MultiTransformState,
  type PathPattern,
} from './combine.js';
export { ema, incrementalUpdate, paramsEma, type EmaKind, type EmaState, type ParamsEmaKind, type ParamsEmaState } from './ema.js';
export { lookahead, type LookaheadKind, type LookaheadState } from './lookahead.js';
export { multiSteps, type MultiStepsKind, type MultiStepsState } from './multi_steps.js';
export { applyIfFinite, type ApplyIfFiniteKind, type ApplyIfFiniteState } from './apply_if_finite.js';
export { injectHyperparams, type InjectHyperparamsKind, type InjectHyperparamsState } from './inject_hyperparams.js';
export {
  adabelief,
  adafactor,
  adagrad,
  adam,
  adamax,
  adamw,
  lamb,
  lion,
  noisySgd,
  radam,
  rmsprop,
  sgd,
  yogi,
  type AdafactorKind,
  type AdafactorOptions,
  type AdamOptions,
  type Optimizer,
  type RmspropKind,
  type RmspropOptions,
  type SgdKind,
} from './alias.js';

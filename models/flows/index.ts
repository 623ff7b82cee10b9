// gradus/models flows: normalising flows as pure functions over parameter trees — affine coupling
// (RealNVP), actnorm and invertible 1×1 convolutions (Glow; plain, or LU-decomposed with an O(C)
// log-det), and the invertible ResNet block (algorithms.md §3), dense or convolutional, with
// spectral normalisation, a fixed-point inverse and power-series log-dets; for images, the logit
// transform of dequantised pixels, squeeze, and bits per dimension.
//
//   const f = flows.flow([flows.actnorm(), flows.iresnet({ dim: 2 }), flows.affineCoupling({ mask: [1, 0] })], { eventShape: [2] });
//   const { params, state } = f.init(key, xBatch);
//   const lp = f.logProb(params, x, { state, key });          // Hutchinson log-det in the i-ResNet block
//   const xs = f.sample(params, key, 500, { state });
export { type Layer, type LayerOptions, type ForwardResult, type InverseResult, type NoState, positionsPerExample, sumEvent } from './layer.js';
export { affineCoupling, masks, type AffineCouplingConfig, type AffineCouplingParams } from './coupling.js';
export { actnorm, type ActnormConfig, type ActnormParams } from './actnorm.js';
export { conv1x1, type Conv1x1Params } from './conv1x1.js';
export { conv1x1LU, conv1x1LUWeight, type Conv1x1LUParams, type Conv1x1LUState } from './conv1x1_lu.js';
export { squeeze } from './squeeze.js';
export { logit, bitsPerDim, type LogitConfig } from './logit.js';
export { iresnet, activations, type IResNetBlock, type IResNetConfig, type IResNetParams, type IResNetState, type LipschitzActivation, type ResidualBlockOptions } from './iresnet.js';
export { iresnetConv, type IResNetConvBlock, type IResNetConvConfig, type IResNetConvParams, type IResNetConvState } from './iresnet_conv.js';
export { fixedPointInverse, fixedPointBound, type FixedPointOptions, type FixedPointResult } from './fixed_point.js';
export {
  batchJacobian, exactLogdet, exactResidualLogdet, powerSeriesLogdet, hutchinsonResidualLogdet, rouletteResidualLogdet, residualLogdet, probes, truncationBound,
  type Probe, type ResidualLogdetOptions,
} from './logdet.js';
export { symmetricEigenvalues, singularValues, spectralNormExact } from './spectral.js';
export { flow, standardNormalLogProb, type Flow, type FlowInverseResult, type FlowOptions, type FlowSampleResult } from './flow.js';

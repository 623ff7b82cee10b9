// What the dense and the convolutional i-ResNet blocks (iresnet.ts, iresnet_conv.ts) share: the
// options that do not depend on their layers and their defaults, the 1-Lipschitz activations, the
// spectral-norm state's check, normalising each layer with its power-iteration state, and forward /
// inverse of F(x) = x + g(x) (log-det estimators and the fixed-point inverse work on any event shape).
// The blocks differ only in their layers (dense or convolution), the trees' shapes and the input.
import { ValueError, np, type NDArray } from '../../src/index.js';
import type { Activation } from '../nn.js';
import { DEFAULT_FIXED_POINT, fixedPointInverse, type FixedPointOptions } from './fixed_point.js';
import { eager, type Layer, type LayerOptions } from './layer.js';
import { DEFAULT_LOGDET, residualLogdet, type ResidualLogdetOptions } from './logdet.js';

/** 1-Lipschitz activations (|φ'| ≤ 1); 'lipswish' is x·sigmoid(βx)/1.1 with β = 1 (Chen et al. 2019). */
export type LipschitzActivation = 'elu' | 'tanh' | 'softplus' | 'relu' | 'lipswish';

export const activations: Record<LipschitzActivation, Activation> = {
  elu: (x) => np.elu(x),
  tanh: (x) => np.tanh(x),
  softplus: (x) => np.softplus(x),
  relu: (x) => np.relu(x),
  lipswish: (x) => np.divide(np.silu(x), 1.1),
};

/** Options of an i-ResNet block that do not depend on its layers (dense or convolutional). */
export interface ResidualBlockOptions {
  /** Spectral-norm target c < 1 per weight (default 0.9). */
  coeff?: number;
  /** Power iterations per call (default 5; 1 is common when training, with the state carried). */
  powerIterations?: number;
  /** 'soft' (default, reference code): W / max(1, σ̂/c); 'hard' (Su's description): c·W/σ̂. */
  mode?: 'soft' | 'hard';
  /** Activation (default 'elu'), or a function the caller guarantees 1-Lipschitz. */
  activation?: LipschitzActivation | Activation;
  /** Log-det estimator (default Hutchinson, 5 terms, 1 Gaussian probe). */
  logdet?: ResidualLogdetOptions;
  /** Fixed-point inverse settings (default tol 1e-6, 100 iterations). */
  inverse?: FixedPointOptions;
  /** Gain on the initial weights (default 1: Glorot uniform). */
  initScale?: number;
}

/** ResidualBlockOptions with the defaults filled in and the activation resolved to a function. */
export interface ResolvedBlockOptions {
  coeff: number;
  powerIterations: number;
  mode: 'soft' | 'hard';
  activation: Activation;
  logdet: Required<ResidualLogdetOptions>;
  inverse: Required<FixedPointOptions>;
  initScale: number;
}

/**
 * The options with their defaults (§3.5: c = 0.9, 5 power iterations, ELU), refusing an unknown
 * activation and a coeff outside (0, 1); `coeffWhy` ends the coeff message (e.g. a section).
 */
export function resolveBlockOptions(name: string, config: ResidualBlockOptions, coeffWhy = ''): ResolvedBlockOptions {
  const act = config.activation ?? 'elu';
  if (typeof act === 'string' && !(act in activations)) throw new ValueError(`${name}: unknown activation '${act}'; expected one of ${Object.keys(activations).join(', ')}`);
  const coeff = config.coeff ?? 0.9;
  if (!(coeff > 0 && coeff < 1)) throw new ValueError(`${name}: coeff must be in (0, 1) for the block to be invertible${coeffWhy}, got ${coeff}`);
  return {
    coeff,
    powerIterations: config.powerIterations ?? 5,
    mode: config.mode ?? 'soft',
    activation: typeof act === 'function' ? act : activations[act],
    logdet: { ...DEFAULT_LOGDET, ...config.logdet },
    inverse: { ...DEFAULT_FIXED_POINT, ...config.inverse },
    initScale: config.initScale ?? 1,
  };
}

/**
 * Refuses a missing state, or one without one power-iteration state per layer (`count`), naming
 * the block's method (`name.op`), what each entry is (`what`) and how to pass it (`hint`).
 */
export function checkSpectralState<S extends { sn: unknown[] }>(name: string, op: string, state: S | undefined, count: number, what: string, hint = ''): S {
  if (!state || !Array.isArray(state.sn) || state.sn.length !== count) {
    throw new ValueError(`${name}.${op}: needs the block's spectral-norm state ({ sn: [${count} ${what}] } from init)${hint}`);
  }
  return state;
}

/** One layer's spectral normalisation: the normalised weight, the refined state and σ̂. */
export type NormalizeWeight<U> = (w: NDArray, state: U, powerIterations: number) => { w: NDArray; state: U; sigma: NDArray };

/**
 * Each layer { w, b } with w spectrally normalised with its state: the normalised layers, the
 * refined states and the estimates σ̂ (before normalising). Leaves may be nested JS arrays (the
 * blocks' shape checks accept them).
 */
export function normalizeLayers<U>(layers: readonly { w: unknown; b: unknown }[], sn: readonly U[], powerIterations: number, normalizeWeight: NormalizeWeight<U>): { layers: { w: NDArray; b: NDArray }[]; state: { sn: U[] }; sigmas: NDArray[] } {
  const out = layers.map((layer, i) => {
    const r = normalizeWeight(np.asArray(layer.w as NDArray), sn[i]!, powerIterations);
    return { layer: { w: r.w, b: np.asArray(layer.b as NDArray) }, sn: r.state, sigma: r.sigma };
  });
  return { layers: out.map((o) => o.layer), state: { sn: out.map((o) => o.sn) }, sigmas: out.map((o) => o.sigma) };
}

/** The log-det differentiates the block at x: an int x has no derivative, and would give 0 silently. */
function expectFloat(op: string, x: NDArray): void {
  if (x.dtype !== 'float32') throw new TypeError(`residual block ${op}: expected float32 inputs (dequantize or convert with .astype('float32')), got ${x.aval.str()}`);
}

/**
 * `forward` and `inverse` of a residual block F(x) = x + g(x), for the dense and the convolutional
 * block alike. `prepare` checks the input and returns g's normalised layers and the refined state.
 * forward: y = x + g(x), ln det(I + J_g) by the configured (or overriding) estimator.
 * inverse: x = F⁻¹(y) by fixed-point iteration; log|det ∂x/∂y| = −ln det(I + J_g(x)).
 */
export function residualBlockMethods<P, S, L>(
  prepare: (params: P, x: NDArray, options: LayerOptions<S>, op: string) => { layers: L; state: S },
  residual: (layers: L, x: NDArray) => NDArray,
  defaults: { logdet: ResidualLogdetOptions; inverse: FixedPointOptions },
): Pick<Layer<P, S>, 'forward' | 'inverse'> {
  return {
    forward: eager((params: P, x: NDArray, options: LayerOptions<S> = {}) => {
      expectFloat('forward', x);
      const { layers, state } = prepare(params, x, options, 'forward');
      const { gx, logdet } = residualLogdet((v: NDArray) => residual(layers, v), x, { ...defaults.logdet, ...options.logdet }, options.key);
      return { y: np.add(x, gx), logdet, state };
    }),
    inverse: eager((params: P, y: NDArray, options: LayerOptions<S> = {}) => {
      expectFloat('inverse', y);
      const { layers } = prepare(params, y, options, 'inverse');
      const g = (v: NDArray): NDArray => residual(layers, v);
      const fp = fixedPointInverse(g, y, { ...defaults.inverse, ...options.inverse });
      const { logdet } = residualLogdet(g, fp.x, { ...defaults.logdet, ...options.logdet }, options.key);
      return { x: fp.x, logdet: np.negative(logdet), iterations: fp.iterations, residual: fp.residual, converged: fp.converged };
    }),
  };
}

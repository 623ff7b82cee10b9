// Energy networks (algorithms.md §6.1): an energy is a function E_θ(x) of a batch x [N, ...] to one
// number per example [N]; the model density is q_θ(x) = e^{−E_θ(x)}/Z_θ. Low energy = likely.
import { np, random, type ArrayLike, type NDArray } from '../../src/index.js';
import type { Initializer } from '../init.js';
import { checkSpectralState, mlp, spectralNorm, type Activation, type DenseParams, type Key, type SpectralNormOptions, type SpectralNormState } from '../nn.js';
import { freesIntermediates } from '../eager.js';
import { mlpLayers } from '../mlp_layers.js';
import { Shapes, checkDenseStack } from '../shapes.js';

/** A batched energy: x [N, ...] ↦ E(x) [N]. Samplers and losses take one of these. */
export type EnergyFn = (x: NDArray) => NDArray;

export interface MlpEnergyParams {
  /** Dense layers; the last one maps to a single output (the energy). */
  layers: DenseParams[];
}

export interface MlpEnergyOptions {
  /** Activation between layers; smooth ones (silu, the default; elu, softplus) give smooth ∇ₓE for Langevin. */
  activation?: Activation;
}

/**
 * An MLP energy for vector data: x [N, d] → E(x) [N]. Inputs of higher rank are flattened per
 * example. `hidden` lists the hidden widths, e.g. `mlpEnergy.init(key, 2, [128, 128])`; weights
 * are Glorot-uniform unless `wInit` says otherwise.
 */
export const mlpEnergy = freesIntermediates({
  init(key: Key, inDim: number, hidden: readonly number[], options: { wInit?: Initializer } = {}): MlpEnergyParams {
    return { layers: mlp.init(key, [inDim, ...hidden, 1], options) };
  },
  apply(params: MlpEnergyParams, x: ArrayLike, options: MlpEnergyOptions = {}): NDArray {
    const a = np.asArray(x);
    const s = new Shapes('mlpEnergy.apply').bind('out', 1, 'the one energy per example');
    if (typeof params !== 'object' || params === null) s.fail(`params is ${String(params)}; expected { layers }`);
    const inDim = s.size(checkDenseStack(s, 'params.layers', params.layers).input);
    // Examples are flattened, so what must agree is the number of features per example.
    const features = a.shape.slice(1).reduce((p, d) => p * d, 1);
    if (a.ndim < 1 || (inDim !== undefined && features !== inDim)) s.fail(`x has shape [${a.shape.join(',')}]; expected a batch [N, ...] of ${inDim} features per example (in = ${inDim} from params.layers[0].w)`);
    const flat = a.ndim === 2 ? a : a.reshape(a.shape[0]!, -1);
    return mlpLayers(params.layers, flat, { activation: options.activation ?? np.silu }).reshape(-1);
  },
});

/** One power-iteration state per dense layer of an energy network. */
export type SpectralStates = SpectralNormState[];

/** Power-iteration states for spectral normalisation of every layer of `params`. */
export const spectralNormInit = np.defop(function spectralNormInit(key: Key, params: { layers: readonly DenseParams[] }): SpectralStates {
  const keys = random.split(key, Math.max(1, params.layers.length));
  return params.layers.map((l, i) => spectralNorm.init(keys.at(i), l.w));
});

/**
 * Spectrally normalised copies of the layers (IGEBM puts spectral norm on all weights, §6.3), and
 * the refined power-iteration states. Differentiable in the weights (σ̂ = uᵀWv with u, v held
 * constant). The default is SN-GAN's hard rule W/σ̂ (coefficient 1), so every layer is
 * 1-Lipschitz; pass `{ mode: 'soft', coeff }` for i-ResNet's W / max(1, σ̂/c).
 */
export const spectralNormalize = np.defop(function spectralNormalize<P extends { layers: readonly DenseParams[] }>(
  params: P,
  states: SpectralStates,
  options: SpectralNormOptions = {},
): { params: P; states: SpectralStates } {
  const opts: SpectralNormOptions = { mode: 'hard', coeff: 1, ...options };
  const list = new Shapes('ebm.spectralNormalize').list('states', states, params.layers.length, 'power-iteration states (one per layer of params.layers)');
  params.layers.forEach((l, i) => checkSpectralState(new Shapes('ebm.spectralNormalize'), `params.layers[${i}].w`, l?.w, `states[${i}].u`, (list[i] as SpectralNormState | undefined)?.u));
  const next: SpectralStates = [];
  const layers = params.layers.map((l, i) => {
    const r = spectralNorm.apply(l.w, states[i]!, opts);
    next.push(r.state);
    return { ...l, w: r.w };
  });
  return { params: { ...params, layers }, states: next };
});

// Composition of layers into a normalising flow with a standard-normal base:
//   z = f_L ∘ … ∘ f_1 (x),   log p(x) = log N(z; 0, I) + Σ_l log|det ∂f_l/∂h_{l−1}|   (§3.4, "full model"),
// sampling by x = f⁻¹(z), z ~ N(0, I). Parameters and states are lists with one entry per layer.
import { ShapeError, TreeError, np, random, type NDArray } from '../../src/index.js';
import type { FixedPointOptions } from './fixed_point.js';
import { eager, sumEvent, type Key, type Layer } from './layer.js';
import type { ResidualLogdetOptions } from './logdet.js';

export interface FlowOptions {
  /** Per-layer states from `init` (needed when the flow has i-ResNet blocks). */
  state?: readonly unknown[];
  /** Randomness for stochastic log-dets; layer i gets foldIn(key, i). */
  key?: Key;
  /** Log-det estimator for every i-ResNet block (e.g. `{ method: 'exact' }` for evaluation). */
  logdet?: ResidualLogdetOptions;
  /** Fixed-point settings for every i-ResNet inverse. */
  inverse?: FixedPointOptions;
  /** Power iterations for every i-ResNet block. */
  powerIterations?: number;
}

export interface Flow {
  readonly layers: readonly Layer[];
  /** Shape of one example (e.g. [2]). */
  readonly eventShape: readonly number[];
  /** Shape of one example's latent z = f(x): the event shape, unless a layer (squeeze) reshapes it. */
  readonly latentShape: readonly number[];
  /** Initialises layer by layer, pushing the batch x through (data-dependent init, e.g. actnorm). */
  init(key: Key, x: NDArray): { params: unknown[]; state: unknown[] };
  /** z = f(x), Σ log-dets per example [N], and the refined states. */
  forward(params: readonly unknown[], x: NDArray, options?: FlowOptions): { z: NDArray; logdet: NDArray; state: unknown[] };
  /** x = f⁻¹(z), log|det ∂x/∂z| per example, and the fixed-point iterations each layer used. */
  inverse(params: readonly unknown[], z: NDArray, options?: FlowOptions): { x: NDArray; logdet: NDArray; iterations: number[]; residuals: number[] };
  /** log p(x) per example [N]. */
  logProb(params: readonly unknown[], x: NDArray, options?: FlowOptions): NDArray;
  /** log p(x) and the refined states (training loops carry the spectral-norm state this way). */
  logProbAndState(params: readonly unknown[], x: NDArray, options?: FlowOptions): { logProb: NDArray; state: unknown[] };
  /** n samples x = f⁻¹(z), z ~ N(0, I) (log-dets skipped). */
  sample(params: readonly unknown[], key: Key, n: number, options?: FlowOptions): NDArray;
}

/** log N(z; 0, I) per example: −½||z||² − (D/2)·ln 2π. */
export const standardNormalLogProb = eager((z: NDArray): NDArray => {
  const d = z.shape.slice(1).reduce((a, b) => a * b, 1);
  return np.subtract(np.multiply(sumEvent(np.square(z)), -0.5), 0.5 * d * Math.log(2 * Math.PI));
});

/** A flow from layers applied in order in the normalising (data → latent) direction. */
export function flow(layers: readonly Layer[], options: { eventShape: readonly number[] }): Flow {
  const eventShape = [...options.eventShape];
  const latentShape = layers.reduce<number[]>((shape, layer) => layer.eventShapeAfter?.(shape) ?? shape, eventShape);
  const layerOptions = (o: FlowOptions, i: number) => ({
    state: o.state?.[i],
    key: o.key === undefined ? undefined : random.foldIn(o.key, i),
    logdet: o.logdet,
    inverse: o.inverse,
    powerIterations: o.powerIterations,
  });
  const checkParams = (params: readonly unknown[], op: string): void => {
    if (!Array.isArray(params) || params.length !== layers.length) {
      throw new TreeError(`flow.${op}: expected one parameter tree per layer (${layers.length}), got ${Array.isArray(params) ? params.length : typeof params}`);
    }
  };

  // A layer's ShapeError names the layer's own paths (params.layers[0].w); in a flow they sit
  // under params[i] and state[i], which the message then says.
  const inLayer = <T>(op: string, i: number, run: () => T): T => {
    try {
      return run();
    } catch (e) {
      if (e instanceof ShapeError) throw new ShapeError(`flow.${op}: layer ${i} (${layers[i]!.kind}; its trees are params[${i}] and state[${i}]): ${e.message}`);
      throw e;
    }
  };

  const forward = eager((params: readonly unknown[], x: NDArray, o: FlowOptions = {}) => {
    checkParams(params, 'forward');
    let h = x;
    let logdet: NDArray = np.zeros([x.shape[0]!]);
    const state: unknown[] = [];
    layers.forEach((layer, i) => {
      const r = inLayer('forward', i, () => layer.forward(params[i], h, layerOptions(o, i)));
      h = r.y;
      logdet = np.add(logdet, r.logdet);
      state.push(r.state);
    });
    return { z: h, logdet, state };
  });

  const inverse = eager((params: readonly unknown[], z: NDArray, o: FlowOptions = {}) => {
    checkParams(params, 'inverse');
    let h = z;
    let logdet: NDArray = np.zeros([z.shape[0]!]);
    const iterations: number[] = new Array(layers.length).fill(0);
    const residuals: number[] = new Array(layers.length).fill(0);
    for (let i = layers.length - 1; i >= 0; i--) {
      const r = inLayer('inverse', i, () => layers[i]!.inverse(params[i], h, layerOptions(o, i)));
      h = r.x;
      logdet = np.add(logdet, r.logdet);
      iterations[i] = r.iterations;
      residuals[i] = r.residual;
    }
    return { x: h, logdet, iterations, residuals };
  });

  const logProbAndState = eager((params: readonly unknown[], x: NDArray, o: FlowOptions = {}) => {
    const { z, logdet, state } = forward(params, x, o);
    return { logProb: np.add(standardNormalLogProb(z), logdet), state };
  });

  return {
    layers,
    eventShape,
    latentShape,
    init: eager((key: Key, x: NDArray) => {
      const keys = random.split(key, Math.max(1, layers.length));
      const params: unknown[] = [];
      const state: unknown[] = [];
      let h = x;
      layers.forEach((layer, i) => {
        const r = layer.init(keys.at(i), h);
        params.push(r.params);
        state.push(r.state);
        if (i < layers.length - 1) h = layer.forward(r.params, h, { state: r.state, logdet: { method: 'none' } }).y;
      });
      return { params, state };
    }),
    forward,
    inverse,
    logProb: eager((params: readonly unknown[], x: NDArray, o: FlowOptions = {}) => logProbAndState(params, x, o).logProb),
    logProbAndState,
    sample: eager((params: readonly unknown[], key: Key, n: number, o: FlowOptions = {}) => {
      const z = random.normal(random.foldIn(key, 0), [n, ...latentShape]);
      return inverse(params, z, { ...o, key: random.foldIn(key, 1), logdet: { method: 'none' } }).x;
    }),
  };
}

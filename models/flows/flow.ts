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

/** What `Flow.inverse` returns: x = f⁻¹(z), its log-det, and how each layer's inverse went. */
export interface FlowInverseResult {
  /** x = f⁻¹(z). */
  x: NDArray;
  /** log|det ∂x/∂z| per example [N] (zeros when the log-det method is 'none'). */
  logdet: NDArray;
  /** Fixed-point iterations each layer used (0 for closed-form inverses), in layer order. */
  iterations: number[];
  /** Each layer's last fixed-point residual (0 for closed-form inverses), in layer order. */
  residuals: number[];
  /** Whether each layer's inverse converged, in layer order (closed-form inverses count as converged). */
  convergedByLayer: boolean[];
  /**
   * Every layer converged: x is f⁻¹(z) to each fixed point's tolerance. False if any i-ResNet block's
   * iteration did not meet it. Under jit or vmap the stopping test cannot read values: every block runs
   * `maxIter` iterations, its residual is NaN and it reports not converged (unknown, even when the
   * iteration did converge); jit also hands these fields back as arrays (a bool array is truthy whatever
   * it holds: read it with `.item()`). Run the inverse eagerly to learn whether it converged.
   */
  converged: boolean;
}

/** What `Flow.sampleWithInfo` returns: the samples and their inverse's convergence report. */
export type FlowSampleResult = Omit<FlowInverseResult, 'logdet'>;

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
  /** x = f⁻¹(z), log|det ∂x/∂z| per example, the fixed-point iterations each layer used, and whether all converged. */
  inverse(params: readonly unknown[], z: NDArray, options?: FlowOptions): FlowInverseResult;
  /** log p(x) per example [N]. */
  logProb(params: readonly unknown[], x: NDArray, options?: FlowOptions): NDArray;
  /** log p(x) and the refined states (training loops carry the spectral-norm state this way). */
  logProbAndState(params: readonly unknown[], x: NDArray, options?: FlowOptions): { logProb: NDArray; state: unknown[] };
  /** n samples x = f⁻¹(z), z ~ N(0, I) (log-dets skipped). `sampleWithInfo` also says whether the inverses converged. */
  sample(params: readonly unknown[], key: Key, n: number, options?: FlowOptions): NDArray;
  /** The same samples as `sample` (same key), with `converged` (all layers) and the per-layer iterations and residuals. */
  sampleWithInfo(params: readonly unknown[], key: Key, n: number, options?: FlowOptions): FlowSampleResult;
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
    const convergedByLayer: boolean[] = new Array(layers.length).fill(true);
    for (let i = layers.length - 1; i >= 0; i--) {
      const r = inLayer('inverse', i, () => layers[i]!.inverse(params[i], h, layerOptions(o, i)));
      h = r.x;
      logdet = np.add(logdet, r.logdet);
      iterations[i] = r.iterations;
      residuals[i] = r.residual;
      // Closed-form inverses leave `converged` absent: exact, so converged.
      convergedByLayer[i] = r.converged !== false;
    }
    return { x: h, logdet, iterations, residuals, convergedByLayer, converged: convergedByLayer.every(Boolean) } satisfies FlowInverseResult;
  });

  const logProbAndState = eager((params: readonly unknown[], x: NDArray, o: FlowOptions = {}) => {
    const { z, logdet, state } = forward(params, x, o);
    return { logProb: np.add(standardNormalLogProb(z), logdet), state };
  });

  const sampleInverse = (params: readonly unknown[], key: Key, n: number, o: FlowOptions): FlowInverseResult => {
    const z = random.normal(random.foldIn(key, 0), [n, ...latentShape]);
    return inverse(params, z, { ...o, key: random.foldIn(key, 1), logdet: { method: 'none' } });
  };

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
    sample: eager((params: readonly unknown[], key: Key, n: number, o: FlowOptions = {}) => sampleInverse(params, key, n, o).x),
    sampleWithInfo: eager((params: readonly unknown[], key: Key, n: number, o: FlowOptions = {}): FlowSampleResult => {
      const { x, iterations, residuals, convergedByLayer, converged } = sampleInverse(params, key, n, o);
      return { x, iterations, residuals, convergedByLayer, converged };
    }),
  };
}

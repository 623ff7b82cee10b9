// Actnorm (Glow, Kingma & Dhariwal 2018): a per-feature affine map on the last axis,
//   y = (x + b)⊙exp(logs),   log|det ∂y/∂x| = P·Σ logs   (P = positions per example, 1 for [N, D]),
// with data-dependent initialisation: on the first batch the output has zero mean and unit variance
// per feature (b = −mean, logs = −log(std + eps)). The log-scale parametrisation keeps the scale positive.
// With `perPosition`, b and logs have one entry per position and channel (the event's shape), and
// the log-det is Σ logs: a per-pixel affine map, which lets an image flow fit each pixel's own
// location and scale (an MNIST border pixel is nearly always 0) from its first step.
import { ShapeError, np, type NDArray } from '../../src/index.js';
import { eager, perExample, positionsPerExample, type Key, type Layer, type NoState } from './layer.js';

export interface ActnormParams {
  bias: NDArray;
  logScale: NDArray;
}

export interface ActnormConfig {
  /** Added to the standard deviation at initialisation (default 1e-6). */
  eps?: number;
  /** One scale and bias per position and channel instead of per channel (default false). */
  perPosition?: boolean;
}

/** Actnorm on the last axis; `init(key, x)` sets the parameters from the batch x. */
export function actnorm(config: ActnormConfig = {}): Layer<ActnormParams, NoState> {
  const eps = config.eps ?? 1e-6;
  const perPosition = config.perPosition ?? false;
  const logdetOf = (params: ActnormParams, x: NDArray): NDArray =>
    perExample(perPosition ? np.sum(params.logScale) : np.multiply(np.sum(params.logScale), positionsPerExample(x)), x.shape[0]!);
  // The parameters' shape must be the end of the input's: [C], or the event shape per position.
  const check = (params: ActnormParams, x: NDArray, op: string): void => {
    const p = params.logScale.shape, b = params.bias.shape;
    const fits = (shape: readonly number[]) => shape.length < x.ndim && x.shape.slice(x.ndim - shape.length).join() === shape.join();
    if (b.join() !== p.join()) {
      // The one of the two that fits the inputs is taken as right, and the other named.
      if (fits(b) && !fits(p)) throw new ShapeError(`actnorm.${op}: params.logScale has shape ${JSON.stringify(p)}; expected params.bias's ${JSON.stringify(b)} (which fits inputs ${JSON.stringify(x.shape)})`);
      throw new ShapeError(`actnorm.${op}: params.bias has shape ${JSON.stringify(b)}; expected params.logScale's ${JSON.stringify(p)}`);
    }
    if (!fits(p)) {
      throw new ShapeError(`actnorm.${op}: parameters ${JSON.stringify(p)} do not fit inputs ${JSON.stringify(x.shape)}; expected a batch [N, ..., ${p.join(', ')}]`);
    }
  };
  return {
    kind: 'actnorm',
    init: eager((_key: Key, x: NDArray) => {
      if (x.ndim < 2) throw new ShapeError(`actnorm.init: expected a batch [N, ...], got shape [${x.shape.join(',')}]`);
      const axes = perPosition ? [0] : x.shape.slice(0, -1).map((_, i) => i);
      const mean = np.mean(x, axes);
      const std = np.std(x, axes);
      return { params: { bias: np.negative(mean), logScale: np.negative(np.log(np.add(std, eps))) }, state: {} as NoState };
    }),
    forward: eager((params: ActnormParams, x: NDArray) => {
      check(params, x, 'forward');
      return { y: np.multiply(np.add(x, params.bias), np.exp(params.logScale)), logdet: logdetOf(params, x), state: {} as NoState };
    }),
    inverse: eager((params: ActnormParams, y: NDArray) => {
      check(params, y, 'inverse');
      return { x: np.subtract(np.multiply(y, np.exp(np.negative(params.logScale))), params.bias), logdet: np.negative(logdetOf(params, y)), iterations: 0, residual: 0 };
    }),
  };
}

// The logit transform (RealNVP §4.1, and the i-ResNet's density models): data in (0, 1), such as
// dequantised pixels (k + u)/256, mapped to the real line so that a Gaussian base can fit it,
//   y = logit(s),   s = α + (1 − 2α)·x,
//   log|det ∂y/∂x| = Σ_i [ln(1 − 2α) − ln s_i − ln(1 − s_i)].
// α > 0 keeps s away from 0 and 1, where the logit and its log-det blow up (pixels of exactly 0 or
// 1 would otherwise map to ∓∞). The map is a bijection from the interval where s ∈ (0, 1), which
// holds [0, 1]; inputs beyond it give NaN rather than being clipped, which would make the density
// wrong without saying so.
import { ShapeError, ValueError, np, type NDArray } from '../../src/index.js';
import { eager, sumEvent, type Layer, type NoState } from './layer.js';

export interface LogitConfig {
  /** The margin α in s = α + (1 − 2α)·x (default 0.05, RealNVP's), in [0, 0.5). */
  alpha?: number;
}

/** The logit transform of data in [0, 1] (see the file comment). */
export function logit(config: LogitConfig = {}): Layer<NoState, NoState> {
  const alpha = config.alpha ?? 0.05;
  if (!(alpha >= 0 && alpha < 0.5)) throw new ValueError(`logit: alpha must be in [0, 0.5), got ${alpha}`);
  const scale = 1 - 2 * alpha;
  // Σ ln|ds/dx · dy/ds| over the event, at s.
  const logdetAt = (s: NDArray): NDArray => sumEvent(np.subtract(Math.log(scale), np.add(np.log(s), np.log1p(np.negative(s)))));
  const checkBatch = (x: NDArray, op: string): void => {
    if (x.ndim < 1) throw new ShapeError(`logit.${op}: expected a batch [N, ...], got a scalar`);
  };
  return {
    kind: 'logit',
    init: eager((_key: NDArray, x: NDArray) => {
      checkBatch(x, 'init');
      return { params: {} as NoState, state: {} as NoState };
    }),
    forward: eager((_params: NoState, x: NDArray) => {
      checkBatch(x, 'forward');
      const s = np.add(alpha, np.multiply(x, scale));
      return { y: np.subtract(np.log(s), np.log1p(np.negative(s))), logdet: logdetAt(s), state: {} as NoState };
    }),
    inverse: eager((_params: NoState, y: NDArray) => {
      checkBatch(y, 'inverse');
      const s = np.sigmoid(y);
      return { x: np.divide(np.subtract(s, alpha), scale), logdet: np.negative(logdetAt(s)), iterations: 0, residual: 0 };
    }),
  };
}

/**
 * Bits per dimension of discrete data from the log-density of its dequantised version: for pixels
 * k ∈ {0, …, levels − 1} dequantised as x = (k + u)/levels, u ~ U[0, 1)^D, the discrete
 * log-likelihood is at least E_u[log p(x)] − D·ln(levels), so
 *   bits/dim = −(log p(x) − D·ln levels)/(D·ln 2)
 * is an upper bound on the model's discrete code length per dimension (the number every flow paper
 * reports). `logProb` is per example [N] or already averaged; D is the number of dimensions of one example.
 */
export function bitsPerDim(logProb: number, dims: number, levels = 256): number {
  if (!(Number.isInteger(dims) && dims > 0)) throw new ValueError(`bitsPerDim: dims must be a positive integer, got ${dims}`);
  if (!(Number.isInteger(levels) && levels > 1)) throw new ValueError(`bitsPerDim: levels must be an integer above 1, got ${levels}`);
  return -(logProb - dims * Math.log(levels)) / (dims * Math.LN2);
}

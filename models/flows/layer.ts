// The interface every flow layer implements, and the helpers they share. A layer is a bijection
// between batches of events, written as pure functions over a parameter tree and an explicit
// state tree (the i-ResNet block keeps its spectral-norm power-iteration vectors there, and the
// LU-decomposed 1×1 convolution its fixed permutation and signs).
//
// Direction: `forward` is the normalising direction, data x → latent z, and reports
// log|det ∂z/∂x| per example; `inverse` is the generative direction z → x and reports
// log|det ∂x/∂z| (= −forward log-det at x). A flow's density is then
// log p(x) = log N(f(x); 0, I) + Σ_layers log|det J_layer| (algorithms.md §3.4, "full model").
import { np, type NDArray } from '../../src/index.js';
import type { ResidualLogdetOptions } from './logdet.js';
import type { FixedPointOptions } from './fixed_point.js';

export type Key = NDArray;

/** Layers that keep no state use this (an empty tree). */
export type NoState = Record<string, never>;

/** Options every layer accepts; each layer reads the ones it needs and ignores the rest. */
export interface LayerOptions<S = unknown> {
  /** The layer's state (from `init`); required by stateful layers (i-ResNet). */
  state?: S;
  /** Randomness for stochastic log-det estimators (Hutchinson probes). */
  key?: Key;
  /** i-ResNet: overrides the block's log-det estimator (e.g. `{ method: 'exact' }` at test time). */
  logdet?: ResidualLogdetOptions;
  /** i-ResNet: overrides the block's fixed-point settings for `inverse`. */
  inverse?: FixedPointOptions;
  /** i-ResNet: power iterations per call, overriding the block's setting. */
  powerIterations?: number;
}

export interface ForwardResult<S = unknown> {
  /** The transformed batch z = f(x). */
  y: NDArray;
  /** log|det ∂y/∂x| per example, shape [N]. */
  logdet: NDArray;
  /** The refined state (power-iteration vectors); `{}` for stateless layers. */
  state: S;
}

export interface InverseResult {
  /** x = f⁻¹(y). */
  x: NDArray;
  /** log|det ∂x/∂y| per example, shape [N] (zeros when the log-det method is 'none'). */
  logdet: NDArray;
  /** Fixed-point iterations used (iterative inverses only; 0 for closed-form inverses). */
  iterations: number;
  /** max over the batch of ||x_k − x_{k−1}|| at the last iteration (0 for closed-form inverses). */
  residual: number;
  /** Iterative inverses: whether the fixed-point tolerance was met (false also when it diverged). Absent for closed forms. */
  converged?: boolean;
}

/** A bijective layer: `init(key, x)` (x: a batch, for data-dependent initialisation), `forward`, `inverse`. */
export interface Layer<P = any, S = any> {
  /** What the layer is, for messages ('affineCoupling', 'actnorm', 'conv1x1', 'iresnet'). */
  readonly kind: string;
  init(key: Key, x: NDArray): { params: P; state: S };
  forward(params: P, x: NDArray, options?: LayerOptions<S>): ForwardResult<S>;
  inverse(params: P, y: NDArray, options?: LayerOptions<S>): InverseResult;
  /** The shape of one output example given one input example's; layers that keep the shape (all but `squeeze`) leave it out. */
  eventShapeAfter?(shape: readonly number[]): number[];
}

/** Number of positions that share the last (feature/channel) axis: 1 for [N, D], H·W for [N, H, W, C]. */
export function positionsPerExample(x: NDArray): number {
  return x.shape.slice(1, -1).reduce((a, b) => a * b, 1);
}

/** Sums everything but the batch axis: [N, ...] → [N]. */
export function sumEvent(x: NDArray): NDArray {
  return x.ndim <= 1 ? x : np.sum(x, x.shape.slice(1).map((_, i) => i + 1));
}

/** A per-example log-det [N] from one shared by every example (a scalar). */
export function perExample(logdet: NDArray, batch: number): NDArray {
  return np.broadcastTo(logdet, [batch]);
}

/**
 * Wraps a public function so that, called from top-level user code, its intermediates are freed
 * when it returns (the result is kept); inside scopes and transformations it runs as is.
 */
export const eager = np.defop;

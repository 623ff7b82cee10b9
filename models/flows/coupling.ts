// Affine coupling (RealNVP, Dinh et al. 2017) with a binary mask m over the last axis:
//   y = m⊙x + (1−m)⊙(x⊙exp(s) + t),   (s, t) = NN(m⊙x),
// so the Jacobian is triangular (after permuting) with diagonal exp(s) on the unmasked part:
//   log|det ∂y/∂x| = Σ (1−m)⊙s,
// and the inverse is closed-form: x = m⊙y + (1−m)⊙(y − t)⊙exp(−s), with (s, t) = NN(m⊙y) since m⊙y = m⊙x.
import { ShapeError, ValueError, np, random, type NDArray } from '../../src/index.js';
import { dense, mlp, type Activation, type DenseParams } from '../nn.js';
import * as init from '../init.js';
import { mlpLayers } from '../mlp_layers.js';
import { Shapes, checkDenseStack } from '../shapes.js';
import { eager, sumEvent, type Key, type Layer, type NoState } from './layer.js';

export interface AffineCouplingConfig {
  /** 1 = passed through unchanged (conditions the rest), 0 = transformed; length = last axis. */
  mask: readonly number[];
  /** Hidden sizes of the conditioner MLP (default [64, 64]). */
  hidden?: readonly number[];
  /** Conditioner activation (default relu). */
  activation?: Activation;
}

export interface AffineCouplingParams {
  /** Conditioner m⊙x → [s_raw, t]; its last layer starts at zero so the layer starts as the identity. */
  net: DenseParams[];
  /** Per-feature bound on the log-scale: s = scale⊙tanh(s_raw) (RealNVP's stabilisation). */
  scale: NDArray;
}

/** Masks over a feature axis of size `dim`. */
export const masks = {
  /** 1,0,1,0,… (parity 0) or 0,1,0,1,… (parity 1). */
  alternating(dim: number, parity: 0 | 1 = 0): number[] {
    return Array.from({ length: dim }, (_, i) => ((i + parity) % 2 === 0 ? 1 : 0));
  },
  /** The first half 1 (first = true) or the second half 1. */
  half(dim: number, first = true): number[] {
    const h = Math.floor(dim / 2);
    return Array.from({ length: dim }, (_, i) => ((i < h) === first ? 1 : 0));
  },
  /** The complement 1 − m. */
  flip(mask: readonly number[]): number[] {
    return mask.map((v) => 1 - v);
  },
};

function checkMask(mask: readonly number[]): void {
  // (A missing mask, or an NDArray, read `.some` of something else: a TypeError that named neither the layer nor the mask.)
  if (!Array.isArray(mask)) throw new ValueError(`affineCoupling: config.mask must be a JS array with one 0/1 entry per feature (e.g. flows.masks.alternating(dim)), got ${mask === null || typeof mask !== 'object' ? String(mask) : mask.constructor?.name ?? typeof mask}`);
  if (mask.some((v) => v !== 0 && v !== 1)) throw new ValueError(`affineCoupling: mask must contain only 0 and 1, got [${mask.join(',')}]`);
  if (!mask.includes(0) || !mask.includes(1)) throw new ValueError(`affineCoupling: mask [${mask.join(',')}] must contain both 0 (transformed) and 1 (conditioning) entries`);
}

/** An affine coupling layer over the last axis (see the file comment for the formulas). */
export function affineCoupling(config: AffineCouplingConfig): Layer<AffineCouplingParams, NoState> & {
  /** The masked log-scale and shift (s, t) computed from m⊙x. */
  shiftAndLogScale(params: AffineCouplingParams, x: NDArray): { s: NDArray; t: NDArray };
} {
  // (config?: a JS caller's affineCoupling() gets the mask error too, not 'reading mask' of undefined.)
  checkMask(config?.mask);
  const dim = config.mask.length;
  const hidden = config.hidden ?? [64, 64];
  const m = (): NDArray => np.array([...config.mask], 'float32');

  const shiftAndLogScale = eager((params: AffineCouplingParams, x: NDArray): { s: NDArray; t: NDArray } => {
    if (x.shape[x.ndim - 1] !== dim) throw new ShapeError(`affineCoupling: the mask has ${dim} entries but the input's last axis is ${x.shape[x.ndim - 1]} (shape [${x.shape.join(',')}])`);
    // The conditioner maps the dim features to [s_raw, t] (2·dim); checked before its matmuls.
    const s = new Shapes('affineCoupling').bind('dim', dim, 'the mask').bind('2dim', 2 * dim, 'the mask (s and t for each feature)');
    if (typeof params !== 'object' || params === null) s.fail(`params is ${String(params)}; expected { net, scale }`);
    checkDenseStack(s, 'params.net', params.net, { input: 'dim', output: '2dim' });
    s.check('params.scale', params.scale, ['dim']);
    const mask = m();
    const out = mlpLayers(params.net, np.multiply(x, mask), { activation: config.activation ?? np.relu });
    const [raw, shift] = np.split(out, 2, -1) as [NDArray, NDArray];
    const free = np.subtract(1, mask);
    return { s: np.multiply(np.multiply(np.tanh(raw), params.scale), free), t: np.multiply(shift, free) };
  });

  return {
    kind: 'affineCoupling',
    shiftAndLogScale,
    init: eager((key: Key, x: NDArray) => {
      void x;
      const keys = random.split(key, hidden.length + 1);
      const sizes = [dim, ...hidden];
      const net = sizes.slice(1).map((out, i) => dense.init(keys.at(i), sizes[i]!, out, { wInit: init.glorotUniform }));
      net.push(dense.init(keys.at(hidden.length), sizes[sizes.length - 1]!, 2 * dim, { wInit: init.zeros }));
      return { params: { net, scale: np.ones([dim]) }, state: {} as NoState };
    }),
    forward: eager((params: AffineCouplingParams, x: NDArray) => {
      const { s, t } = shiftAndLogScale(params, x);
      return { y: np.add(np.multiply(x, np.exp(s)), t), logdet: sumEvent(s), state: {} as NoState };
    }),
    inverse: eager((params: AffineCouplingParams, y: NDArray) => {
      const { s, t } = shiftAndLogScale(params, y);
      return { x: np.multiply(np.subtract(y, t), np.exp(np.negative(s))), logdet: np.negative(sumEvent(s)), iterations: 0, residual: 0 };
    }),
  };
}

// Neural-network building blocks as (init, apply) pairs of pure functions over parameter trees:
// `init(key, ...) -> params` (`layerNorm.init(dim)` needs no key: it starts at scale 1, bias 0),
// `apply(params, x) -> y`. No hidden state: spectral normalisation's
// power-iteration vector is an explicit state the caller threads through.
import { ShapeError, np, random, stopGradient, type ArrayLike, type NDArray } from '../src/index.js';
import * as init from './init.js';
import { freesIntermediates } from './eager.js';
import { Shapes, checkDense, checkDenseStack, kindOf } from './shapes.js';
import { mlpLayers, type Activation, type DenseParams } from './mlp_layers.js';

export { init as initializers };
export type Key = NDArray;
export type { Activation, DenseParams };

/** A fully connected layer y = x·w + b (w: [in, out]). */
export const dense = freesIntermediates({
  init(key: Key, inDim: number, outDim: number, options: { wInit?: init.Initializer; bInit?: init.Initializer } = {}): DenseParams {
    const keys = random.split(key);
    const [kw, kb] = [keys.at(0), keys.at(1)];
    return { w: (options.wInit ?? init.glorotUniform)(kw, [inDim, outDim]), b: (options.bInit ?? init.zeros)(kb, [outDim]) };
  },
  apply(p: DenseParams, x: ArrayLike): NDArray {
    const a = np.asArray(x);
    const s = new Shapes('dense.apply');
    checkDense(s, 'params', p, 'in', 'out');
    s.check('x', a, ['...', 'in']);
    return np.add(np.matmul(a, p.w), p.b);
  },
});

/** A stack of dense layers with an activation between them (none after the last unless given). */
export const mlp = freesIntermediates({
  init(key: Key, sizes: readonly number[], options: { wInit?: init.Initializer } = {}): DenseParams[] {
    const keys = random.split(key, Math.max(1, sizes.length - 1));
    return sizes.slice(1).map((out, i) => dense.init(keys.at(i), sizes[i]!, out, options));
  },
  apply(params: readonly DenseParams[], x: ArrayLike, options: { activation?: Activation; finalActivation?: Activation } = {}): NDArray {
    const h = np.asArray(x);
    const s = new Shapes('mlp.apply');
    s.check('x', h, ['...', checkDenseStack(s, 'params', params).input]);
    return mlpLayers(params, h, options);
  },
});


export interface Conv2dParams {
  w: NDArray;
  b: NDArray;
}

/** A 2-D convolution layer, NHWC input, HWIO kernel. */
export const conv2d = freesIntermediates({
  init(key: Key, kh: number, kw: number, cin: number, cout: number, options: { wInit?: init.Initializer } = {}): Conv2dParams {
    return { w: (options.wInit ?? init.heNormal)(key, [kh, kw, cin, cout]), b: np.zeros([cout]) };
  },
  apply(p: Conv2dParams, x: ArrayLike, options: { strides?: number | [number, number]; padding?: np.Padding } = {}): NDArray {
    const a = np.asArray(x);
    checkConv2d(new Shapes('conv2d.apply'), 'params', p, 'x', a);
    return np.add(np.conv2d(a, p.w, options), p.b);
  },
});

/**
 * Checks a conv layer { w: [kh, kw, cin, cout], b: [cout] } at `path` and its NHWC input `x`
 * (where given). Name the channel sizes apart to check several layers in one call.
 */
export function checkConv2d(s: Shapes, path: string, p: unknown, inputPath: string | null, x?: NDArray, cin = 'cin', cout = 'cout'): void {
  if (typeof p !== 'object' || p === null) s.fail(`${path} is ${p === undefined ? 'missing' : kindOf(p)}; expected a conv layer { w, b }`);
  const l = p as { w?: unknown; b?: unknown };
  s.check(`${path}.w`, l.w, [null, null, cin, cout]);
  s.check(`${path}.b`, l.b, [cout]);
  if (inputPath !== null && x !== undefined) s.check(inputPath, x, [null, null, null, cin]);
}

/** Nearest-neighbour upsampling of NHWC images by an integer factor. */
export const upsample2d = np.defop(function upsample2d(x: ArrayLike, factor: number): NDArray {
  new Shapes('upsample2d').check('x', np.asArray(x), [null, null, null, null]);
  return np.repeat(np.repeat(x, factor, 1), factor, 2);
});

export interface LayerNormParams {
  scale: NDArray;
  bias: NDArray;
}

/** Layer normalisation over the last axis, with learned scale and bias. */
export const layerNorm = freesIntermediates({
  init(dim: number): LayerNormParams {
    return { scale: np.ones([dim]), bias: np.zeros([dim]) };
  },
  apply(p: LayerNormParams, x: ArrayLike, eps = 1e-5): NDArray {
    const s = new Shapes('layerNorm.apply');
    const a = np.asArray(x);
    // Where scale and bias disagree, the one that x's features agree with is taken as right.
    s.agree('dim', [['params.scale', p?.scale, 0], ['params.bias', p?.bias, 0], ['x', a, -1]]);
    s.check('params.scale', p?.scale, ['dim']);
    s.check('params.bias', p?.bias, ['dim']);
    s.check('x', a, ['...', 'dim']);
    return np.add(np.multiply(np.standardize(a, -1, eps), p.scale), p.bias);
  },
});

export interface SpectralNormState {
  /** The left singular vector estimate (length = rows of the kernel viewed as a matrix). */
  u: NDArray;
}

export interface SpectralNormOptions {
  /** Target bound c on the spectral norm (algorithms.md §3.2: 0.9 in the i-ResNet code). */
  coeff?: number;
  /** Power iterations per call (5 in the i-ResNet code, 1 is common during training). */
  powerIterations?: number;
  /** 'soft': W / max(1, σ/c), only shrinks (i-ResNet code); 'hard': c·W/σ (Su's description). */
  mode?: 'soft' | 'hard';
}

/** The number of power iterations, checked: a NaN one would silently run none. */
function checkIterations(op: string, n: number): number {
  if (!(Number.isInteger(n) && n >= 1)) throw new RangeError(`${op}: powerIterations must be an integer ≥ 1, got ${n}`);
  return n;
}

/** The power-iteration vector of a weight viewed as a matrix [rows, cols] must be [rows]. */
export function checkSpectralState(s: Shapes, wPath: string, w: unknown, uPath: string, u: unknown): void {
  const shape = s.check(wPath, w, ['...', null]);
  s.bind('rows', shape.slice(0, -1).reduce((a, b) => a * b, 1), `${wPath} ${JSON.stringify(shape)} viewed as [rows, ${shape[shape.length - 1]}]`);
  s.check(uPath, u, ['rows']);
}

/** A kernel viewed as the matrix [prod(shape[:-1]), shape[-1]]. */
function asMatrix(w: NDArray): NDArray {
  return w.reshape(-1, w.shape[w.ndim - 1]!);
}

/**
 * What a weight is divided by given its estimated norm σ̂: max(1, σ̂/c) ('soft'), or σ̂/c ('hard').
 * σ̂ = 0 only for W = 0, which both modes leave as it is (hard mode would divide 0 by 0).
 */
function normalizationFactor(sigma: NDArray, options: SpectralNormOptions, op: string): NDArray {
  const c = options.coeff ?? 0.9;
  if (!(typeof c === 'number' && c > 0 && Number.isFinite(c))) throw new RangeError(`${op}: coeff must be a finite number > 0, got ${c}`);
  if (options.mode !== undefined && options.mode !== 'soft' && options.mode !== 'hard') throw new RangeError(`${op}: mode must be 'soft' or 'hard', got ${JSON.stringify(options.mode)}`);
  return options.mode === 'hard' ? np.where(np.greater(sigma, 0), sigma.div(c), 1) : np.maximum(1, sigma.div(c));
}

/**
 * Spectral normalisation with an explicit power-iteration state (algorithms.md §3.2). The
 * singular vectors are held constant (stop-gradient) while σ̂ = uᵀWv is differentiated, as in
 * SN-GAN and the i-ResNet code. Conv kernels are normalised as their reshaped matrix.
 */
export const spectralNorm = freesIntermediates({
  init(key: Key, w: NDArray): SpectralNormState {
    const rows = asMatrix(w).shape[0]!;
    const u = random.normal(key, [rows]);
    return { u: u.div(np.linalg.norm(u)) };
  },
  /** σ̂ and the refined state, without normalising (at least one power iteration runs). */
  estimate(w: NDArray, state: SpectralNormState, powerIterations = 1): { sigma: NDArray; state: SpectralNormState } {
    checkSpectralState(new Shapes('spectralNorm.estimate'), 'w', w, 'state.u', state?.u);
    const m = asMatrix(w);
    const msg = stopGradient(m);
    let u = stopGradient(state.u);
    let v = u;
    for (let i = 0; i < checkIterations('spectralNorm.estimate', powerIterations); i++) {
      v = np.matmul(u, msg);
      v = v.div(np.linalg.norm(v).add(1e-12));
      // Where W·v vanishes (W = 0) the estimate keeps its previous u: a zero u would make every
      // later σ̂ zero, whatever W becomes.
      const next = np.matmul(msg, v);
      const n = np.linalg.norm(next);
      u = np.where(np.greater(n, 0), next.div(n.add(1e-12)), u);
    }
    const sigma = np.sum(np.matmul(u, m).mul(v));
    return { sigma, state: { u: stopGradient(u) } };
  },
  apply(w: NDArray, state: SpectralNormState, options: SpectralNormOptions = {}): { w: NDArray; state: SpectralNormState; sigma: NDArray } {
    const { sigma, state: next } = spectralNorm.estimate(w, state, options.powerIterations ?? 1);
    return { w: w.div(normalizationFactor(sigma, options, 'spectralNorm.apply')), state: next, sigma };
  },
});

export interface ConvSpectralNormState {
  /** The left singular vector estimate of the convolution operator: one output image [1, H, W, C_out]. */
  u: NDArray;
}

/** The adjoint of a stride-1 'same' convolution with an odd kernel: the kernel rotated 180° with its channels swapped. */
function adjointKernel(k: NDArray): NDArray {
  return np.transpose(np.flip(k, [0, 1]), [0, 1, 3, 2]);
}

function checkOddKernel(op: string, k: NDArray): void {
  if (k.ndim !== 4 || k.shape[0]! % 2 === 0 || k.shape[1]! % 2 === 0) {
    throw new ShapeError(`${op}: expected a conv kernel [kh, kw, C_in, C_out] with odd kh and kw (a stride-1 'same' convolution, whose adjoint is a convolution), got [${k.shape.join(',')}]`);
  }
}

/**
 * Spectral normalisation of a convolution as the linear operator it is on images of one size (the
 * i-ResNet code's spectral_norm_conv), not of its reshaped kernel matrix, whose norm can be far
 * from the operator's (either way). Stride 1, 'same' padding, odd kernel sizes: then the adjoint
 * is the convolution with the rotated, channel-swapped kernel. u, v are held constant
 * (stop-gradient) while σ̂ = ⟨u, conv(v)⟩ is differentiated, as in `spectralNorm`.
 */
export const convSpectralNorm = freesIntermediates({
  /** A random unit output image for inputs of spatial size [h, w]. */
  init(key: Key, kernel: NDArray, h: number, w: number): ConvSpectralNormState {
    checkOddKernel('convSpectralNorm.init', kernel);
    const u = random.normal(key, [1, h, w, kernel.shape[3]!]);
    return { u: u.div(np.linalg.norm(u.reshape(-1))) };
  },
  /** σ̂ and the refined state, without normalising (at least one power iteration runs). */
  estimate(kernel: NDArray, state: ConvSpectralNormState, powerIterations = 1): { sigma: NDArray; state: ConvSpectralNormState } {
    checkOddKernel('convSpectralNorm.estimate', kernel);
    new Shapes('convSpectralNorm.estimate').bind('cout', kernel.shape[3]!, `kernel ${JSON.stringify(kernel.shape)}`).check('state.u', state?.u, [1, null, null, 'cout']);
    const k = stopGradient(kernel), kt = adjointKernel(k);
    const unit = (x: NDArray) => x.div(np.linalg.norm(x.reshape(-1)).add(1e-12));
    let u = stopGradient(state.u);
    let v = u;
    for (let i = 0; i < checkIterations('convSpectralNorm.estimate', powerIterations); i++) {
      v = unit(np.conv2d(u, kt, { padding: 'SAME' }));
      // As in `spectralNorm`: where the operator maps v to 0, u keeps its previous value.
      const next = np.conv2d(v, k, { padding: 'SAME' });
      const n = np.linalg.norm(next.reshape(-1));
      u = np.where(np.greater(n, 0), next.div(n.add(1e-12)), u);
    }
    const sigma = np.sum(np.multiply(u, np.conv2d(stopGradient(v), kernel, { padding: 'SAME' })));
    return { sigma, state: { u: stopGradient(u) } };
  },
  apply(kernel: NDArray, state: ConvSpectralNormState, options: SpectralNormOptions = {}): { w: NDArray; state: ConvSpectralNormState; sigma: NDArray } {
    const { sigma, state: next } = convSpectralNorm.estimate(kernel, state, options.powerIterations ?? 1);
    return { w: kernel.div(normalizationFactor(sigma, options, 'convSpectralNorm.apply')), state: next, sigma };
  },
});

// The invertible ResNet block on images (Behrmann et al. 2019, the CIFAR/MNIST models of the
// reference code): F(x) = x + g(x) on [N, H, W, C], with g a stack of stride-1 'same' convolutions
// (3×3, 1×1, 3×3 by default, as in the paper) and 1-Lipschitz activations. Each convolution is
// spectrally normalised as the operator it is on H×W images (convSpectralNorm: power iteration
// with the convolution and its adjoint), not as its reshaped kernel, so Lip(g) ≤ Π_i ||Ŵ_i||₂ < 1
// holds for the images the block was initialised on. The inverse (fixed point) and the log-det
// estimators are the dense block's (fixed_point.ts, logdet.ts), which work on any event shape.
import { ShapeError, ValueError, jacfwd, np, random, scope, type NDArray } from '../../src/index.js';
import { conv2d, convSpectralNorm, type Conv2dParams, type ConvSpectralNormState } from '../nn.js';
import * as init from '../init.js';
import { eager, type Key, type Layer, type LayerOptions } from './layer.js';
import { checkSpectralState, normalizeLayers, residualBlockMethods, resolveBlockOptions, type ResidualBlockOptions } from './residual_block.js';
import { spectralNormExact } from './spectral.js';
import { Shapes } from '../shapes.js';

export interface IResNetConvConfig extends ResidualBlockOptions {
  /** Channels of the images (the last axis of [N, H, W, C]). */
  channels: number;
  /** Channels of g's hidden feature maps (default [32, 32]). */
  hidden?: readonly number[];
  /**
   * Odd kernel sizes, one per convolution (default 3, 1, …, 1, 3: [3, 1, 3] for two hidden maps):
   * k for a square k×k kernel, or [kh, kw] for a rectangular one (each odd, so that a stride-1
   * 'same' convolution's adjoint is the convolution with the rotated kernel).
   */
  kernelSizes?: readonly (number | readonly [number, number])[];
}

export interface IResNetConvParams {
  /** The raw (unnormalised) convolutions of g. */
  layers: Conv2dParams[];
}

export interface IResNetConvState {
  /** One power-iteration state per convolution, for images of the size the block was initialised on. */
  sn: ConvSpectralNormState[];
}

export interface IResNetConvBlock extends Layer<IResNetConvParams, IResNetConvState> {
  /** The spectrally normalised convolutions, the refined state and the estimates σ̂ (before normalising). */
  normalize(params: IResNetConvParams, state: IResNetConvState, powerIterations?: number): { layers: Conv2dParams[]; state: IResNetConvState; sigmas: NDArray[] };
  /** g(x) for given (already normalised) convolutions. */
  residual(layers: readonly Conv2dParams[], x: NDArray): NDArray;
  /**
   * An upper bound on Lip(g) on the state's image size: Π_i ||Ŵ_i||₂ with each convolution's
   * exact operator norm (its matrix, formed by jacfwd, and a float64 SVD on the host; small images).
   */
  lipschitzBound(params: IResNetConvParams, state: IResNetConvState, powerIterations?: number): number;
}

/** An invertible residual block y = x + g(x) on NHWC images (see the file comment). */
export function iresnetConv(config: IResNetConvConfig): IResNetConvBlock {
  const { activation, coeff, powerIterations, mode, logdet: logdetDefaults, inverse: inverseDefaults, initScale } = resolveBlockOptions('iresnetConv', config);
  const hidden = config.hidden ?? [32, 32];
  const channels = [config.channels, ...hidden, config.channels];
  const given = config.kernelSizes ?? channels.slice(1).map((_, i) => (i === 0 || i === hidden.length ? 3 : 1));
  // Each kernel as [kh, kw]: a number k is the square k×k.
  const kernelSizes = given.map((k): readonly [number, number] => (typeof k === 'number' ? [k, k] : Array.isArray(k) && k.length === 2 ? [k[0], k[1]] : [NaN, NaN]));
  const oddSize = (k: number) => Number.isInteger(k) && k >= 1 && k % 2 === 1;
  if (kernelSizes.length !== channels.length - 1 || kernelSizes.some(([kh, kw]) => !oddSize(kh) || !oddSize(kw))) {
    throw new ValueError(`iresnetConv: expected ${channels.length - 1} odd kernel sizes (one per convolution: k or [kh, kw]), got ${JSON.stringify(given)}`);
  }

  const checkInput = (x: NDArray, op: string): void => {
    if (x.ndim !== 4 || x.shape[3] !== config.channels) throw new ShapeError(`iresnetConv.${op}: expected images [N, H, W, ${config.channels}], got shape [${x.shape.join(',')}]`);
  };
  const needState = (state: IResNetConvState | undefined, x: NDArray, op: string): IResNetConvState => {
    const st = checkSpectralState('iresnetConv', op, state, channels.length - 1, 'power-iteration images', '; pass it as options.state');
    const [h, w] = [st.sn[0]!.u.shape[1], st.sn[0]!.u.shape[2]];
    if (x.shape[1] !== h || x.shape[2] !== w) {
      throw new ShapeError(`iresnetConv.${op}: the block was initialised on ${h}×${w} images (its spectral norms hold for that size), got ${x.shape[1]}×${x.shape[2]}`);
    }
    return st;
  };

  /**
   * The trees' shapes against the config: kernel i is [kh_i, kw_i, c_i, c_{i+1}], its bias
   * [c_{i+1}], its power-iteration image [1, H, W, c_{i+1}] (one size for all). Checked before any
   * convolution, so a tree of another block is named by path, not by conv2d.
   */
  const checkTrees = (params: IResNetConvParams, state: IResNetConvState, op: string): void => {
    const s = new Shapes(`iresnetConv.${op}`);
    channels.forEach((c, i) => s.bind(`c${i}`, c, 'the block config'));
    if (typeof params !== 'object' || params === null) s.fail(`params is ${String(params)}; expected { layers }`);
    const layers = s.list<Conv2dParams>('params.layers', params.layers, kernelSizes.length, 'convolutions');
    layers.forEach((l, i) => {
      if (typeof l !== 'object' || l === null) s.fail(`params.layers[${i}] is ${String(l)}; expected a convolution { w, b }`);
      s.check(`params.layers[${i}].w`, l.w, [kernelSizes[i]![0], kernelSizes[i]![1], `c${i}`, `c${i + 1}`]);
      s.check(`params.layers[${i}].b`, l.b, [`c${i + 1}`]);
      s.check(`state.sn[${i}].u`, state.sn[i]?.u, [1, 'H', 'W', `c${i + 1}`]);
    });
  };

  // normalize with the checks, its errors named by the method called (normalize or lipschitzBound).
  const normalizeAs = (op: string) => eager((params: IResNetConvParams, state: IResNetConvState, iterations = powerIterations) => {
    checkTrees(params, checkSpectralState('iresnetConv', op, state, channels.length - 1, 'power-iteration images'), op);
    return normalize(params, state, iterations);
  });
  const normalizeChecked = normalizeAs('normalize');
  const normalizeForBound = normalizeAs('lipschitzBound');

  const normalize = eager((params: IResNetConvParams, state: IResNetConvState, iterations = powerIterations) =>
    normalizeLayers(params.layers, state.sn, iterations, (w, sn, its) => convSpectralNorm.apply(w, sn, { coeff, powerIterations: its, mode })));

  const residual = eager((layers: readonly Conv2dParams[], x: NDArray): NDArray => {
    let h = x;
    layers.forEach((layer, i) => {
      // (conv2d.apply's body without its checks: checkTrees checked the layers once, and the
      // fixed-point inverse and the log-det series call this many times a pass.)
      h = np.add(np.conv2d(h, layer.w, { padding: 'SAME' }), layer.b);
      if (i < layers.length - 1) h = activation(h);
    });
    return h;
  });

  /** The exact operator norm of a stride-1 'same' convolution (no bias) on [h, w] images. */
  const operatorNorm = (kernel: NDArray, h: number, w: number): number => scope(() => {
    const cin = kernel.shape[2]!;
    const apply = (v: NDArray) => np.conv2d(v.reshape(1, h, w, cin), kernel, { padding: 'SAME' }).reshape(-1);
    return spectralNormExact(jacfwd(apply)(np.zeros([h * w * cin])));
  });

  return {
    kind: 'iresnetConv',
    normalize: normalizeChecked,
    residual,
    init: eager((key: Key, x: NDArray) => {
      checkInput(x, 'init');
      const [h, w] = [x.shape[1]!, x.shape[2]!];
      const keys = random.split(key, 2 * kernelSizes.length);
      const layers = kernelSizes.map(([kh, kw], i) => {
        const p = conv2d.init(keys.at(i), kh, kw, channels[i]!, channels[i + 1]!, { wInit: init.glorotUniform });
        return initScale === 1 ? p : { w: np.multiply(p.w, initScale), b: p.b };
      });
      // Start the power iteration near convergence, so the first normalisation is already accurate.
      const sn = layers.map((l, i) => convSpectralNorm.estimate(l.w, convSpectralNorm.init(keys.at(kernelSizes.length + i), l.w, h, w), 50).state);
      return { params: { layers }, state: { sn } };
    }),
    ...residualBlockMethods(
      (params: IResNetConvParams, x: NDArray, options: LayerOptions<IResNetConvState>, op: string) => {
        checkInput(x, op);
        const state = needState(options.state, x, op);
        checkTrees(params, state, op);
        return normalize(params, state, options.powerIterations ?? powerIterations);
      },
      residual,
      { logdet: logdetDefaults, inverse: inverseDefaults },
    ),
    lipschitzBound: (params, state, iterations = powerIterations) => scope(() => {
      // Checked (by normalizeForBound) before the image size is read off the state.
      const { layers } = normalizeForBound(params, state, iterations);
      const [h, w] = [state.sn[0]!.u.shape[1]!, state.sn[0]!.u.shape[2]!];
      return layers.reduce((acc, l) => acc * operatorNorm(l.w, h, w), 1);
    }),
  };
}

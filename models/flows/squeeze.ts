// Squeeze (RealNVP, Glow): trades space for channels, [N, H, W, C] → [N, H/f, W/f, f·f·C], by
// moving each f×f block of pixels into the channels. It is a permutation of the entries, so its
// log-det is 0; it lets per-position layers (actnorm, 1×1 convolutions, convolutional i-ResNet
// blocks) mix neighbouring pixels and see more channels than a grey image's one. The channel
// order follows Glow's squeeze2d: the output channel c·f² + i·f + j holds channel c of the block's
// pixel (i, j).
import { ShapeError, ValueError, np, type NDArray } from '../../src/index.js';
import { eager, type Layer, type NoState } from './layer.js';

/** A squeeze by `factor` (default 2) on NHWC images; H and W must be multiples of the factor. */
export function squeeze(factor = 2): Layer<NoState, NoState> {
  if (!Number.isInteger(factor) || factor < 1) throw new ValueError(`squeeze: the factor must be a positive integer, got ${factor}`);
  const f = factor;
  const checkImages = (x: NDArray, op: string): [number, number, number, number] => {
    if (x.ndim !== 4) throw new ShapeError(`squeeze.${op}: expected images [N, H, W, C], got shape [${x.shape.join(',')}]`);
    return x.shape as [number, number, number, number];
  };
  const zeros = (n: number) => np.zeros([n]);
  return {
    kind: 'squeeze',
    init: eager((_key: NDArray, x: NDArray) => {
      checkImages(x, 'init');
      return { params: {} as NoState, state: {} as NoState };
    }),
    forward: eager((_params: NoState, x: NDArray) => {
      const [n, h, w, c] = checkImages(x, 'forward');
      if (h % f !== 0 || w % f !== 0) throw new ShapeError(`squeeze.forward: image size ${h}×${w} is not a multiple of the factor ${f}`);
      const blocks = np.reshape(x, [n, h / f, f, w / f, f, c]);
      const y = np.reshape(np.transpose(blocks, [0, 1, 3, 5, 2, 4]), [n, h / f, w / f, c * f * f]);
      return { y, logdet: zeros(n), state: {} as NoState };
    }),
    inverse: eager((_params: NoState, y: NDArray) => {
      const [n, h, w, cf] = checkImages(y, 'inverse');
      if (cf % (f * f) !== 0) throw new ShapeError(`squeeze.inverse: ${cf} channels are not a multiple of factor² = ${f * f}`);
      const c = cf / (f * f);
      const blocks = np.reshape(y, [n, h, w, c, f, f]);
      const x = np.reshape(np.transpose(blocks, [0, 1, 4, 2, 5, 3]), [n, h * f, w * f, c]);
      return { x, logdet: zeros(n), iterations: 0, residual: 0 };
    }),
    eventShapeAfter: (shape) => {
      if (shape.length !== 3 || shape[0]! % f !== 0 || shape[1]! % f !== 0) throw new ShapeError(`squeeze: expected an image event shape [H, W, C] with H and W multiples of ${f}, got [${shape.join(',')}]`);
      return [shape[0]! / f, shape[1]! / f, shape[2]! * f * f];
    },
  };
}

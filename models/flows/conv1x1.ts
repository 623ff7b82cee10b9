// Invertible 1×1 convolution (Glow): a learned invertible C×C matrix W applied at every position,
// y = x·W on the last axis. For 2-D data [N, D] it is a learned invertible linear map.
//   log|det ∂y/∂x| = P·ln|det W|   (P = positions per example: H·W for [N, H, W, C], 1 for [N, D]),
// computed with slogdet; the inverse is x = y·W⁻¹. W starts as a random rotation (orthogonal,
// ln|det W| = 0), as in Glow.
import { ShapeError, np, type NDArray } from '../../src/index.js';
import { Shapes } from '../shapes.js';
import * as init from '../init.js';
import { eager, perExample, positionsPerExample, type Key, type Layer, type NoState } from './layer.js';

export interface Conv1x1Params {
  /** [C, C], applied as y = x·w. */
  w: NDArray;
}

/** An invertible 1×1 convolution over `channels` features (the last axis). */
export function conv1x1(channels: number): Layer<Conv1x1Params, NoState> {
  const checkParams = (params: Conv1x1Params, op: string): void => {
    new Shapes(`conv1x1.${op}`).bind('C', channels, 'the layer (conv1x1(channels))').check('params.w', params?.w, ['C', 'C']);
  };
  const check = (x: NDArray): void => {
    if (x.shape[x.ndim - 1] !== channels) throw new ShapeError(`conv1x1: expected ${channels} channels on the last axis, got shape [${x.shape.join(',')}]`);
  };
  const logdetOf = (w: NDArray, x: NDArray): NDArray => {
    const [, logabsdet] = np.linalg.slogdet(w);
    return perExample(np.multiply(logabsdet, positionsPerExample(x)), x.shape[0]!);
  };
  return {
    kind: 'conv1x1',
    init: eager((key: Key, x: NDArray) => {
      check(x);
      return { params: { w: init.orthogonal()(key, [channels, channels]) }, state: {} as NoState };
    }),
    forward: eager((params: Conv1x1Params, x: NDArray) => {
      check(x);
      checkParams(params, 'forward');
      return { y: np.matmul(x, params.w), logdet: logdetOf(params.w, x), state: {} as NoState };
    }),
    inverse: eager((params: Conv1x1Params, y: NDArray) => {
      check(y);
      checkParams(params, 'inverse');
      return { x: np.matmul(y, np.linalg.inv(params.w)), logdet: np.negative(logdetOf(params.w, y)), iterations: 0, residual: 0 };
    }),
  };
}

// Invertible 1×1 convolution with an LU-decomposed weight (Glow's `LU_decomposed` option):
//   W = P · L · (U + diag(sign · exp(logScale)))
// with P a fixed permutation, L unit lower-triangular, U strictly upper-triangular, and the signs
// of the diagonal fixed. Then log|det W| = Σ logScale: O(C) instead of slogdet's O(C³), and W can
// never become singular. P and the signs are constants, so they live in the layer's state (no
// optimizer, weight decay included, can move them); lower, upper and logScale are the parameters.
// W starts as a random rotation decomposed by LU with partial pivoting, so at initialisation the
// layer is the plain conv1x1's. As there, y = x·W on the last axis, at every position.
import { ConcretizationError, LinAlgError, ShapeError, ValueError, np, type NDArray } from '../../src/index.js';
import { Shapes } from '../shapes.js';
import * as init from '../init.js';
import { eager, perExample, positionsPerExample, type Key, type Layer } from './layer.js';

export interface Conv1x1LUParams {
  /** [C, C]; only the strictly lower triangle is used (L's unit diagonal is implied). */
  lower: NDArray;
  /** [C, C]; only the strictly upper triangle is used. */
  upper: NDArray;
  /** Shape `[C]`: log|diag| of the upper factor. */
  logScale: NDArray;
}

export interface Conv1x1LUState {
  /** [C, C], the fixed permutation matrix P. */
  permutation: NDArray;
  /** [C], the fixed signs (±1) of the upper factor's diagonal. */
  sign: NDArray;
}

/** LU with partial pivoting of a C×C matrix (row-major values): A = P·L·U. */
function luDecompose(a: Float64Array, n: number): { p: Float64Array; l: Float64Array; u: Float64Array } {
  const u = Float64Array.from(a);
  const l = new Float64Array(n * n);
  const rows = Array.from({ length: n }, (_, i) => i); // rows[i]: the original row now at i
  for (let k = 0; k < n; k++) {
    let pivot = k;
    for (let i = k + 1; i < n; i++) if (Math.abs(u[i * n + k]!) > Math.abs(u[pivot * n + k]!)) pivot = i;
    if (u[pivot * n + k] === 0) throw new LinAlgError(`conv1x1 (LU): the initial weight is singular (column ${k})`);
    if (pivot !== k) {
      for (let j = 0; j < n; j++) {
        [u[k * n + j], u[pivot * n + j]] = [u[pivot * n + j]!, u[k * n + j]!];
        [l[k * n + j], l[pivot * n + j]] = [l[pivot * n + j]!, l[k * n + j]!];
      }
      [rows[k], rows[pivot]] = [rows[pivot]!, rows[k]!];
    }
    for (let i = k + 1; i < n; i++) {
      const f = u[i * n + k]! / u[k * n + k]!;
      l[i * n + k] = f;
      for (let j = k; j < n; j++) u[i * n + j]! -= f * u[k * n + j]!;
    }
  }
  for (let i = 0; i < n; i++) l[i * n + i] = 1;
  // P·(LU) = A: row i of LU is original row rows[i], so P[rows[i]][i] = 1.
  const p = new Float64Array(n * n);
  rows.forEach((r, i) => (p[r * n + i] = 1));
  return { p, l, u };
}

/** W = P · L · (U + diag(sign · exp(logScale))) from the parameters and the fixed state. */
export const conv1x1LUWeight = eager((params: Conv1x1LUParams, state: Conv1x1LUState): NDArray => {
  const c = params.logScale.shape[0]!;
  const l = np.add(np.tril(params.lower, -1), np.eye(c));
  const u = np.add(np.triu(params.upper, 1), np.diag(np.multiply(state.sign, np.exp(params.logScale))));
  return np.matmul(state.permutation, np.matmul(l, u));
});

/** An invertible 1×1 convolution over `channels` features, its weight kept as an LU decomposition. */
export function conv1x1LU(channels: number): Layer<Conv1x1LUParams, Conv1x1LUState> {
  const check = (x: NDArray): void => {
    if (x.shape[x.ndim - 1] !== channels) throw new ShapeError(`conv1x1LU: expected ${channels} channels on the last axis, got shape [${x.shape.join(',')}]`);
  };
  const stateOf = (state: Conv1x1LUState | undefined, params: Conv1x1LUParams, op: string): Conv1x1LUState => {
    if (state === undefined) throw new ValueError('conv1x1LU: pass the state from init ({ state }): it holds the fixed permutation and signs');
    // Every factor is C×C (or C): checked before the matmuls that would otherwise report it.
    const s = new Shapes(`conv1x1LU.${op}`).bind('C', channels, 'the layer (conv1x1LU(channels))');
    s.check('params.lower', params?.lower, ['C', 'C']);
    s.check('params.upper', params?.upper, ['C', 'C']);
    s.check('params.logScale', params?.logScale, ['C']);
    s.check('state.permutation', state.permutation, ['C', 'C']);
    s.check('state.sign', state.sign, ['C']);
    return state;
  };
  const logdetOf = (params: Conv1x1LUParams, x: NDArray): NDArray => perExample(np.multiply(np.sum(params.logScale), positionsPerExample(x)), x.shape[0]!);
  return {
    kind: 'conv1x1LU',
    init: eager((key: Key, x: NDArray) => {
      check(x);
      const w = init.orthogonal()(key, [channels, channels]).concreteValue();
      // Said here rather than as dataSync's generic "JS control flow" message: the pivoting is a host loop.
      if (w === null) throw new ConcretizationError('conv1x1LU.init: the initial rotation is LU-decomposed on the host, so init needs a concrete key and cannot run under jit or vmap; call init eagerly (once per key for an ensemble) and transform forward / inverse');
      const { p, l, u } = luDecompose(Float64Array.from(w.dataSync() as Float32Array), channels);
      const diag = Array.from({ length: channels }, (_, i) => u[i * channels + i]!);
      const matrix = (v: Float64Array) => np.array(Float32Array.from(v)).reshape(channels, channels);
      return {
        params: { lower: matrix(l), upper: matrix(u), logScale: np.array(Float32Array.from(diag.map((d) => Math.log(Math.abs(d))))) },
        state: { permutation: matrix(p), sign: np.array(Float32Array.from(diag.map((d) => Math.sign(d)))) },
      };
    }),
    forward: eager((params: Conv1x1LUParams, x: NDArray, options = {}) => {
      check(x);
      const state = stateOf(options.state, params, 'forward');
      return { y: np.matmul(x, conv1x1LUWeight(params, state)), logdet: logdetOf(params, x), state };
    }),
    inverse: eager((params: Conv1x1LUParams, y: NDArray, options = {}) => {
      check(y);
      const w = conv1x1LUWeight(params, stateOf(options.state, params, 'inverse'));
      return { x: np.matmul(y, np.linalg.inv(w)), logdet: np.negative(logdetOf(params, y)), iterations: 0, residual: 0 };
    }),
  };
}

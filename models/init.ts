// Initialisers (algorithms.md §7c): variance-scaling families (LeCun, Glorot/Xavier, He) and
// orthogonal. Each is `(key, shape) -> array`; fans follow TF/JAX conventions: a dense kernel is
// [in, out], a conv kernel [kh, kw, cin, cout] (receptive field kh·kw multiplies both fans).
import * as tf from '@tensorflow/tfjs-core';
import { ConcreteArray, np, random, ShapeError, type NDArray } from '../src/index.js';

export type Key = NDArray;
export type Initializer = (key: Key, shape: readonly number[]) => NDArray;

/** [fanIn, fanOut] of a kernel shape. */
export function fans(shape: readonly number[]): [number, number] {
  if (shape.length === 0) return [1, 1];
  if (shape.length === 1) return [shape[0]!, shape[0]!];
  const receptive = shape.slice(0, -2).reduce((a, b) => a * b, 1);
  return [shape[shape.length - 2]! * receptive, shape[shape.length - 1]! * receptive];
}

type Mode = 'fanIn' | 'fanOut' | 'fanAvg';

/** Samples with variance `scale / n`, n the fan given by `mode` (normal or uniform). */
export function varianceScaling(scale: number, mode: Mode, distribution: 'normal' | 'uniform'): Initializer {
  return np.defop((key: Key, shape: readonly number[]) => {
    const [fin, fout] = fans(shape);
    const n = mode === 'fanIn' ? fin : mode === 'fanOut' ? fout : (fin + fout) / 2;
    const variance = scale / Math.max(1, n);
    if (distribution === 'normal') return random.normal(key, shape).mul(Math.sqrt(variance));
    const limit = Math.sqrt(3 * variance);
    return random.uniform(key, shape, -limit, limit);
  });
}

/** N(0, 1/fan_in). */
export const lecunNormal = varianceScaling(1, 'fanIn', 'normal');
export const lecunUniform = varianceScaling(1, 'fanIn', 'uniform');
/** N(0, 2/(fan_in + fan_out)) — Xavier. */
export const glorotNormal = varianceScaling(1, 'fanAvg', 'normal');
/** U(±√(6/(fan_in + fan_out))) — Xavier uniform, the default for dense layers. */
export const glorotUniform = varianceScaling(1, 'fanAvg', 'uniform');
/** N(0, 2/fan_in) — for ReLU networks. */
export const heNormal = varianceScaling(2, 'fanIn', 'normal');
export const heUniform = varianceScaling(2, 'fanIn', 'uniform');

export const zeros: Initializer = (_key, shape) => np.zeros([...shape]);
export const ones: Initializer = (_key, shape) => np.ones([...shape]);
export function normal(std = 1): Initializer {
  return np.defop((key: Key, shape: readonly number[]) => random.normal(key, shape).mul(std));
}

/**
 * Orthogonal matrices: the Q of a QR decomposition of a Gaussian matrix, sign-fixed so that
 * diag(R) > 0 (uniform over the orthogonal group). Shape [..., n] is treated as a
 * (prod(shape[:-1]) × n) matrix, as in JAX; rows or columns are orthonormal, whichever fit.
 */
export function orthogonal(gain = 1): Initializer {
  return np.defop((key: Key, shape: readonly number[]) => {
    if (shape.length < 2) throw new ShapeError(`orthogonal: expected a shape of rank >= 2, got [${shape.join(',')}]`);
    const cols = shape[shape.length - 1]!;
    const rows = shape.slice(0, -1).reduce((a, b) => a * b, 1);
    const tall = rows >= cols;
    const [m, n] = tall ? [rows, cols] : [cols, rows];
    const g = Float64Array.from(random.normal(key, [m, n]).dataSync());
    const q = householderQ(g, m, n);
    const out = new Float32Array(rows * cols);
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
      const v = q[i * n + j]! * gain;
      if (tall) out[i * cols + j] = v;
      else out[j * cols + i] = v;
    }
    return new ConcreteArray(tf.tensor(out, [...shape], 'float32'));
  });
}

/** Thin Q (m×n, m ≥ n, row-major) of a Householder QR, columns signed so that diag(R) > 0. */
function householderQ(a: Float64Array, m: number, n: number): Float64Array {
  const r = Float64Array.from(a);
  const vs: Float64Array[] = [];
  const signs: number[] = [];
  for (let k = 0; k < n; k++) {
    let norm = 0;
    for (let i = k; i < m; i++) norm += r[i * n + k]! ** 2;
    norm = Math.sqrt(norm);
    const x0 = r[k * n + k]!;
    const alpha = x0 >= 0 ? -norm : norm;
    const v = new Float64Array(m);
    for (let i = k; i < m; i++) v[i] = r[i * n + k]!;
    v[k]! -= alpha;
    let vn = 0;
    for (let i = k; i < m; i++) vn += v[i]! ** 2;
    vn = Math.sqrt(vn);
    if (vn > 0) for (let i = k; i < m; i++) v[i]! /= vn;
    for (let j = k; j < n; j++) {
      let d = 0;
      for (let i = k; i < m; i++) d += v[i]! * r[i * n + j]!;
      for (let i = k; i < m; i++) r[i * n + j]! -= 2 * v[i]! * d;
    }
    vs.push(v);
    signs.push(r[k * n + k]! >= 0 ? 1 : -1);
  }
  // Q = H_0 H_1 ... H_{n-1} applied to the first n columns of the identity.
  const q = new Float64Array(m * n);
  for (let j = 0; j < n; j++) q[j * n + j] = 1;
  for (let k = n - 1; k >= 0; k--) {
    const v = vs[k]!;
    for (let j = 0; j < n; j++) {
      let d = 0;
      for (let i = k; i < m; i++) d += v[i]! * q[i * n + j]!;
      for (let i = k; i < m; i++) q[i * n + j]! -= 2 * v[i]! * d;
    }
  }
  for (let j = 0; j < n; j++) if (signs[j]! < 0) for (let i = 0; i < m; i++) q[i * n + j] = -q[i * n + j]!;
  return q;
}

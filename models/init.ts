// Initialisers (algorithms.md §7c): variance-scaling families (LeCun, Glorot/Xavier, He) and
// orthogonal. Each is `(key, shape) -> array`; fans follow TF/JAX conventions: a dense kernel is
// [in, out], a conv kernel [kh, kw, cin, cout] (receptive field kh·kw multiplies both fans).
import { np, random, ShapeError, type NDArray } from '../src/index.js';

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

/**
 * Shapes checked before sampling: random.normal/uniform would otherwise report the bad shape under
 * their own name, leaving the caller to guess which initialiser (of which layer) was handed it.
 */
function checkShape(name: string, shape: readonly number[]): void {
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw new ShapeError(`${name}: invalid shape ${Array.isArray(shape) ? `[${shape.join(',')}]` : JSON.stringify(shape)}; expected non-negative integers`);
  }
}

/**
 * Samples with variance `scale / n`, n the fan given by `mode` (normal or uniform). `name` is what
 * errors call the initialiser (the named families pass theirs, e.g. 'glorotUniform').
 */
export function varianceScaling(scale: number, mode: Mode, distribution: 'normal' | 'uniform', name = `varianceScaling(${scale}, '${mode}', '${distribution}')`): Initializer {
  return np.defop((key: Key, shape: readonly number[]) => {
    checkShape(name, shape);
    const [fin, fout] = fans(shape);
    const n = mode === 'fanIn' ? fin : mode === 'fanOut' ? fout : (fin + fout) / 2;
    const variance = scale / Math.max(1, n);
    if (distribution === 'normal') return random.normal(key, shape).mul(Math.sqrt(variance));
    const limit = Math.sqrt(3 * variance);
    return random.uniform(key, shape, -limit, limit);
  });
}

/** N(0, 1/fan_in). */
export const lecunNormal = varianceScaling(1, 'fanIn', 'normal', 'lecunNormal');
export const lecunUniform = varianceScaling(1, 'fanIn', 'uniform', 'lecunUniform');
/** N(0, 2/(fan_in + fan_out)) — Xavier. */
export const glorotNormal = varianceScaling(1, 'fanAvg', 'normal', 'glorotNormal');
/** U(±√(6/(fan_in + fan_out))) — Xavier uniform, the default for dense layers. */
export const glorotUniform = varianceScaling(1, 'fanAvg', 'uniform', 'glorotUniform');
/** N(0, 2/fan_in) — for ReLU networks. */
export const heNormal = varianceScaling(2, 'fanIn', 'normal', 'heNormal');
export const heUniform = varianceScaling(2, 'fanIn', 'uniform', 'heUniform');

export const zeros: Initializer = (_key, shape) => np.zeros([...shape]);
export const ones: Initializer = (_key, shape) => np.ones([...shape]);
export function normal(std = 1): Initializer {
  return np.defop((key: Key, shape: readonly number[]) => {
    checkShape(`normal(${std})`, shape);
    return random.normal(key, shape).mul(std);
  });
}

/**
 * Orthogonal matrices: the Q of a QR decomposition of a Gaussian matrix, sign-fixed so that
 * diag(R) > 0 (uniform over the orthogonal group). Shape [..., n] is treated as a
 * (prod(shape[:-1]) × n) matrix, as in JAX; rows or columns are orthonormal, whichever fit.
 * Built on np.linalg.qr (not a host loop), so it runs under jit and vmap like the other
 * initialisers: an ensemble's parameters come from `vmap(init)` over a batch of keys.
 */
export function orthogonal(gain = 1): Initializer {
  return np.defop((key: Key, shape: readonly number[]) => {
    if (shape.length < 2) throw new ShapeError(`orthogonal: expected a shape of rank >= 2, got [${shape.join(',')}]`);
    // Checked here: random.normal below sees the matrix shape (transposed for wide shapes), and its
    // error would name that instead of the shape asked for.
    checkShape('orthogonal', shape);
    const cols = shape[shape.length - 1]!;
    const rows = shape.slice(0, -1).reduce((a, b) => a * b, 1);
    const tall = rows >= cols;
    // Q of the tall m×n Gaussian (m ≥ n) has orthonormal columns; a wide shape takes its transpose.
    const [q, r] = np.linalg.qr(random.normal(key, tall ? [rows, cols] : [cols, rows]));
    // LAPACK's signs leave diag(R) of either sign; flipping Q's columns to make it positive gives
    // the unique factor, which is what makes Q Haar-distributed (sign 0 counts as +).
    const signs = np.where(np.less(np.diagonal(r), 0), -gain, gain);
    const qs = np.multiply(q, signs);
    return np.reshape(tall ? qs : np.transpose(qs), [...shape]);
  });
}

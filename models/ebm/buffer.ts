// Replay buffer for persistent short-run chains (algorithms.md §6.2, IGEBM): chains start from
// stored samples with probability 1 − p_reinit and from fresh noise otherwise; final samples are
// pushed back, overwriting the oldest (a ring). Functional: every operation returns a new buffer
// and leaves its input alone (free the old one with `dispose(old, { keep: new })`).
import { np, random, scope, type ArrayLike, type NDArray } from '../../src/index.js';
import type { Key } from '../nn.js';

export interface ReplayBuffer {
  /** Storage [capacity, ...sampleShape]; slots [0, size) hold samples. */
  readonly data: NDArray;
  /** Number of filled slots (≤ capacity). */
  readonly size: number;
  /** The slot the next pushed sample goes to. */
  readonly ptr: number;
  readonly capacity: number;
}

export interface BufferSampleOptions {
  /** Probability that a chain starts from fresh noise instead of the buffer (IGEBM: 0.05). */
  reinitProb?: number;
  /** Fresh starting points: `init(key, [n, ...sampleShape])` (e.g. uniform noise on the data range). */
  init: (key: Key, shape: number[]) => NDArray;
  /** Below this many stored samples every chain starts from noise (IGEBM: the batch size; default n). */
  minSize?: number;
}

export interface BufferSample {
  /** Starting points [n, ...sampleShape]. */
  x: NDArray;
  /** bool [n]: true where the start came from the buffer. */
  fromBuffer: NDArray;
}

/** An empty buffer holding up to `capacity` samples of shape `sampleShape`. */
export function init(capacity: number, sampleShape: readonly number[]): ReplayBuffer {
  if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`ebm.replayBuffer.init: capacity must be a positive integer, got ${capacity}`);
  return { data: np.zeros([capacity, ...sampleShape]), size: 0, ptr: 0, capacity };
}

/**
 * Stores `xs` [B, ...sampleShape] in ring order: xs[i] goes to slot (ptr + i) mod capacity, so the
 * buffer always holds the most recent min(capacity, pushed) samples; with B > capacity only the
 * last `capacity` of xs survive.
 */
export const push = np.defop(function push(buffer: ReplayBuffer, xs: ArrayLike): ReplayBuffer {
  const x = np.asArray(xs);
  const { capacity: cap, ptr } = buffer;
  const sampleShape = buffer.data.shape.slice(1);
  if (x.ndim !== sampleShape.length + 1 || x.shape.slice(1).join() !== sampleShape.join()) {
    throw new RangeError(`ebm.replayBuffer.push: expected samples [B, ${sampleShape.join(', ')}], got [${x.shape.join(', ')}]`);
  }
  const b = x.shape[0]!;
  if (b === 0) return { ...buffer, data: np.add(buffer.data, 0) };
  // Slot j keeps its value unless some i < B has (ptr + i) mod cap = j; then it takes the last such i.
  const idx = new Int32Array(cap);
  for (let j = 0; j < cap; j++) {
    const i0 = (((j - ptr) % cap) + cap) % cap;
    idx[j] = i0 < b ? cap + i0 + cap * Math.floor((b - 1 - i0) / cap) : j;
  }
  const data = np.take(np.concatenate([buffer.data, x.astype(buffer.data.dtype)], 0), np.array(Array.from(idx), 'int32'), 0);
  return { data, size: Math.min(cap, buffer.size + b), ptr: (ptr + b) % cap, capacity: cap };
});

/**
 * `n` chain starts: uniformly (with replacement) from the stored samples with probability
 * 1 − reinitProb each, otherwise `init` noise; all noise while the buffer holds fewer than `minSize`.
 */
export function sample(buffer: ReplayBuffer, key: Key, n: number, options: BufferSampleOptions): BufferSample {
  const p = options.reinitProb ?? 0.05;
  if (!(p >= 0 && p <= 1)) throw new RangeError(`ebm.replayBuffer.sample: reinitProb must be in [0, 1], got ${p}`);
  const sampleShape = buffer.data.shape.slice(1);
  return scope(() => {
    const [kIdx, kMask, kInit] = [0, 1, 2].map((i) => random.foldIn(key, i));
    const fresh = options.init(kInit!, [n, ...sampleShape]);
    if (buffer.size === 0 || buffer.size < (options.minSize ?? n)) {
      return { x: fresh, fromBuffer: np.zeros([n], 'bool') };
    }
    const idx = random.randint(kIdx!, [n], 0, buffer.size);
    const fromBuffer = random.bernoulli(kMask!, 1 - p, [n]);
    const stored = np.take(buffer.data, idx, 0);
    const mask = fromBuffer.reshape(n, ...sampleShape.map(() => 1));
    return { x: np.where(mask, stored, fresh), fromBuffer };
  });
}

/** The stored samples [size, ...sampleShape] (a copy). */
export function contents(buffer: ReplayBuffer): NDArray {
  return np.slice(buffer.data, [0, ...buffer.data.shape.slice(1).map(() => 0)], [buffer.size, ...buffer.data.shape.slice(1)]);
}

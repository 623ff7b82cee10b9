// The wasm gather kernel (src/wasm_kernels.ts), which the gather primitive runs on float32/int32
// on wasm (np.at's traced updates end with one over all of x): bits copied (−0, NaN, int32 above
// 2²⁴), out-of-range indices clamped into the axis, shapes as tf.gather's, against a JS reference.
import * as tf from '@tensorflow/tfjs-core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { dispose, np, scope } from '../src/index.js';
import { wasmGather } from '../src/wasm_kernels.js';
import { FC_SEED, forEachBackend, kernelCounts, numTensors, onEachBackend } from './helpers.js';

/** A list of numbers with −0 shown as such (NaN as NaN). */
const show = (xs: ArrayLike<number>): string => Array.from(xs, (v) => (Object.is(v, -0) ? '-0' : String(v))).join(',');
const f32 = (xs: readonly number[]) => np.array(xs, 'float32');

describe('the wasm gather kernel (the gather primitive on float32/int32): bits copied, indices clamped into the axis', () => {
  it('random shapes, axes and index shapes against a JS reference, −0 and NaN included; bool falls back to TF.js', () => {
    if (tf.getBackend() !== 'wasm') return;
    const before = numTensors();
    fc.assert(fc.property(
      fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 3 }), fc.nat(), fc.array(fc.integer({ min: -3, max: 6 }), { minLength: 0, maxLength: 7 }), fc.boolean(), fc.boolean(),
      (shape, axisSeed, idx, asInt, idx2d) => scope(() => {
        const axis = axisSeed % shape.length, n = shape[axis]!, size = shape.reduce((p, d) => p * d, 1);
        const pool = [-0, 0, NaN, 1.5, -Infinity, 3, -7];
        const data = Array.from({ length: size }, (_, k) => (asInt ? (k * 7919) % 1000 - 500 : pool[k % pool.length]!));
        const xt = tf.tensor(data, shape, asInt ? 'int32' : 'float32');
        const ishape = idx2d && idx.length % 2 === 0 && idx.length > 0 ? [2, idx.length / 2] : [idx.length];
        const it = tf.tensor(idx, ishape, 'int32');
        const got = wasmGather(xt, it, axis)!;
        const pre = shape.slice(0, axis).reduce((p, d) => p * d, 1), post = shape.slice(axis + 1).reduce((p, d) => p * d, 1);
        const want: number[] = [];
        for (let p = 0; p < pre; p++) for (const raw of idx) { const k = Math.min(Math.max(raw, 0), n - 1); for (let q = 0; q < post; q++) want.push(data[(p * n + k) * post + q]!); }
        expect(got.shape).toEqual([...shape.slice(0, axis), ...ishape, ...shape.slice(axis + 1)]);
        expect(got.dtype).toBe(asInt ? 'int32' : 'float32');
        expect(show(got.dataSync()), `shape ${shape} axis ${axis} idx ${idx}`).toBe(show(want));
        tf.dispose([xt, it, got]);
      })), { seed: FC_SEED, numRuns: 150 });
    const b = tf.tensor([1, 0, 1], [3], 'bool'), i = tf.tensor([2, 0], [2], 'int32');
    expect(wasmGather(b, i, 0)).toBeNull();
    tf.dispose([b, i]);
    expect(numTensors()).toBe(before);
  });

  it('np.take runs it on wasm (TF.js\'s GatherV2 on cpu): float32 bits (−0, NaN) and int32 above 2²⁴ exact', async () => {
    await onEachBackend(() => {
      expect(show(np.take(f32([-0, NaN, 2]), np.array([1, 0, 0, 2], 'int32')).dataSync())).toBe('NaN,-0,-0,2');
      expect(Array.from(np.take(np.array([2 ** 30 + 1, -(2 ** 31), 7], 'int32'), np.array([0, 1], 'int32')).dataSync())).toEqual([2 ** 30 + 1, -(2 ** 31)]);
    });
    // The values alone would pass through TF.js's GatherV2 too: on wasm the gradus kernel must be
    // the one that ran (once per take), on cpu TF.js's (the wasm kernels are not there).
    await forEachBackend(async (backend) => {
      const x = f32([-0, NaN, 2]), xi = np.array([2 ** 30 + 1, -(2 ** 31), 7], 'int32'), idx = np.array([1, 0, 0, 2], 'int32');
      const before = numTensors();
      for (const [dtype, a] of [['float32', x], ['int32', xi]] as const) {
        const counts = await kernelCounts(() => np.take(a, idx));
        expect(counts.get(`Gather_${dtype}`) ?? 0, `${backend} ${dtype}: the gradus gather kernel`).toBe(backend === 'wasm' ? 1 : 0);
        expect(counts.get('GatherV2') ?? 0, `${backend} ${dtype}: TF.js's gather`).toBe(backend === 'wasm' ? 0 : 1);
      }
      expect(numTensors()).toBe(before);
      dispose([x, xi, idx]);
    });
  });
});

// A scan reads slice i of each scanned input per step. On wasm it is one copy in the backend's
// memory (wasmReadSlice) instead of Slice + Reshape kernels in a tidy scope (~2.5x faster on a
// 2,000-step scan of two inputs); on cpu a copy of its part of the input's typed array (~4x faster a
// slice): the slices must be the exact bits of xs (−0, NaN payloads, int32 extremes, bools), forward
// and reverse, 0-d and empty slices, eager and jit, and no tensor left. On cpu it is a copy, not a
// view (subarray): a slice passed through to the final carry would otherwise keep the whole input's
// buffer alive after the input is freed (unseen by tf.memory()) and share its values.
import { describe, expect, it } from 'vitest';
import { ConcreteArray, dispose, getBackend, jit, lax, np, setBackend, type NDArray } from '../src/index.js';
import { kernelCounts, numTensors, onEachBackend } from './helpers.js';

const PAYLOAD_NAN = new Float32Array(new Uint32Array([0x7fc12345]).buffer)[0]!;
const FLOATS = [0, -0, 1.5, -2, PAYLOAD_NAN, Infinity, -Infinity, 1e-40];
const INTS = [0, -1, 2 ** 31 - 1, -(2 ** 31), 7];

/** Raw words of an array's values (float32 as IEEE words, so −0 and NaN payloads count). */
const words = (x: NDArray): number[] => {
  const d = x.dataSync();
  return Array.from(d instanceof Float32Array ? new Uint32Array(d.buffer, d.byteOffset, d.length) : d);
};

/** ys = xs by a scan that reads each slice and writes it out (plus a carry counting steps). */
const zero = np.array(0, 'int32');
const echo = (xs: NDArray, reverse: boolean) => lax.scan((c: NDArray, x: NDArray) => [np.add(c, 1), x] as [NDArray, NDArray], zero, xs, { reverse });

describe('scan slices its inputs exactly', () => {
  it('float32, int32 and bool inputs of shapes [T], [T, 3, 2] and [T, 0], forward and reverse, eager and jit, no leaks', () =>
    onEachBackend((backend) => {
      const cases: [string, number[], number[]][] = [
        ['float32', FLOATS, [8]], ['float32', [...FLOATS, ...FLOATS, ...FLOATS].slice(0, 24), [4, 3, 2]],
        ['int32', INTS, [5]], ['int32', [...INTS, ...INTS, ...INTS, ...INTS, ...INTS].slice(0, 24), [4, 3, 2]],
        ['bool', [1, 0, 0, 1, 1, 0], [6]], ['float32', [], [3, 0]],
      ];
      for (const [dtype, values, shape] of cases) {
        const xs = np.reshape(np.array(values, dtype as 'float32'), shape);
        for (const reverse of [false, true]) {
          const before = numTensors();
          const jitted = jit((x: NDArray) => echo(x, reverse));
          for (const [how, run] of [['eager', () => echo(xs, reverse)], ['jit', () => jitted(xs)]] as const) {
            const [count, ys] = run();
            const label = `${backend} ${how} ${dtype}[${shape}] reverse=${reverse}`;
            expect(count.item(), label).toBe(shape[0]);
            expect([ys.dtype, ys.shape], label).toEqual([xs.dtype, xs.shape]);
            expect(words(ys), label).toEqual(words(xs));
            dispose([count, ys]);
          }
          jitted.clearCache();
          expect(numTensors(), `${backend} ${dtype}[${shape}] leaked`).toBe(before);
        }
        dispose(xs);
      }
    }));

  it('on wasm and cpu a jitted scan runs no Slice kernel per step', async () => {
    const start = getBackend();
    try {
      for (const backend of ['wasm', 'cpu'] as const) {
        await setBackend(backend);
        const xs = np.reshape(np.arange(64 * 4).astype('float32'), [64, 4]);
        const jitted = jit((x: NDArray) => echo(x, false));
        dispose(jitted(xs));
        const counts = await kernelCounts(() => jitted(xs));
        expect(counts.get('Slice') ?? 0, `${backend}: ${[...counts].join(' ')}`).toBe(0);
        jitted.clearCache();
        dispose(xs);
      }
    } finally {
      await setBackend(start);
    }
  });

  it("a scan's outputs own their values: a carry that is a slice holds neither a part of the input's buffer nor its values (eager, jit, unroll, reverse, nested)", () =>
    onEachBackend((backend) => {
      // The backend's own storage of an output (cpu: the typed array it holds; wasm: a copy).
      const storage = (x: NDArray) => (x as ConcreteArray).tensor.dataSync();
      for (const dtype of ['float32', 'int32', 'bool'] as const) {
        for (const [unroll, reverse] of [[1, false], [3, true], [2, false]] as const) {
          // xs: [T = 5, S = 2, 3]; the outer carry is the last slice read, the inner scan's carry the last row of it.
          const passThrough = (xs: NDArray) => lax.scan((c: [NDArray, NDArray], x: NDArray) => {
            const [row] = lax.scan((r: NDArray, xx: NDArray) => [xx, np.zeros([])] as [NDArray, NDArray], c[1], x, { unroll, reverse });
            return [[x, row], np.zeros([])] as [[NDArray, NDArray], NDArray];
          }, [np.zeros([2, 3], dtype), np.zeros([3], dtype)] as [NDArray, NDArray], xs, { unroll, reverse })[0];
          const jitted = jit(passThrough);
          for (const [how, run] of [['eager', passThrough], ['jit', jitted]] as const) {
            const xs = np.reshape(np.array(Array.from({ length: 30 }, (_, i) => (dtype === 'bool' ? i % 3 === 0 : i + 1)), dtype), [5, 2, 3]);
            const want = words(xs);
            const out = run(xs);
            const label = `${backend} ${how} ${dtype} unroll ${unroll} reverse ${reverse}`;
            for (const leaf of out) {
              const d = storage(leaf);
              expect(d.buffer.byteLength, `${label}: a ${leaf.shape} output's buffer`).toBe(d.byteLength);
              d[0] = dtype === 'bool' ? 1 - d[0]! : -7;
            }
            expect(words(xs), `${label}: xs after writing into the outputs' storage`).toEqual(want);
            dispose([xs, out]);
          }
          jitted.clearCache();
        }
      }
    }));
});

// Sizes past int32 never reach a kernel: a result with more than 2³¹ − 1 elements is refused by
// name (the primitive or np op, and the shape) however it arises — np's own checks, a batch axis
// vmap adds below them, a scan's stacked outputs, under jit — and the backend still works after.
// (wasm failed inside such a kernel with "memory access out of bounds" and every later op of the
// process failed too.) Shapes whose sizes are not numbers an array can have ([1e300, 1e300, 0])
// are refused, empty ones NumPy allows ([2⁴⁰, 0]) are not; arange and linspace build long results without a JS list per
// element, bit-identical to what they built before.
import * as tf from '@tensorflow/tfjs-core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GradusError, dispose, grad, jit, np, scan, scope, vmap, type DType, type NDArray } from '../src/index.js';
import { FC_SEED, noLeak, numTensors, refuses } from './helpers.js';

const MAX = 2 ** 31 - 1;

describe('a result past 2³¹ − 1 elements made below np\'s checks is refused by its primitive', () => {
  // Per-example shapes np accepts ([m, n] with m·n ≤ 2³¹ − 1) that a batch of b makes too large.
  const perExample = fc
    .tuple(fc.integer({ min: 2, max: 5 }), fc.integer({ min: 20_000, max: 46_340 }), fc.integer({ min: 20_000, max: 46_340 }))
    .filter(([b, m, n]) => m * n <= MAX && b * m * n > MAX);

  it('vmap, jit of vmap, vmap of jit and vmap of grad name broadcast_in_dim and the batched shape', () => {
    const makers: ((m: number, n: number) => (x: NDArray) => NDArray)[] = [
      (m, n) => vmap((x: NDArray) => np.broadcastTo(x, [m, n])),
      (m, n) => jit(vmap((x: NDArray) => np.broadcastTo(x, [m, n]))),
      (m, n) => vmap(jit((x: NDArray) => np.broadcastTo(x, [m, n]))),
      // The per-example gradient is a scalar; the forward pass inside it is [b, m, n].
      (m, n) => vmap(grad((x: NDArray) => np.sum(np.broadcastTo(x, [m, n])))),
    ];
    fc.assert(
      fc.property(perExample, fc.integer({ min: 0, max: makers.length - 1 }), ([b, m, n], k) => {
        const f = makers[k]!(m, n);
        refuses(() => f(np.ones(k === 3 ? [b] : [b, 1])), GradusError, new RegExp(`^broadcast_in_dim: shape \\[${b},${m},${n}\\] has ${b * m * n} elements; expected at most 2³¹ − 1`));
      }),
      { seed: FC_SEED, numRuns: 12 },
    );
  });

  it('scan\'s stacked outputs, eagerly and under jit, name scan', () => {
    // Each step's y ([m, n]) fits; the L of them stacked do not.
    const stacked = (m: number, n: number, length: number) => () =>
      scan((c: NDArray, _x: null) => [c, np.broadcastTo(c, [m, n])] as const, np.zeros([]), null, { length });
    fc.assert(
      fc.property(perExample, fc.boolean(), ([b, m, n], underJit) => {
        const run = stacked(m, n, b);
        refuses(underJit ? () => jit(run)() : run, GradusError, new RegExp(`^scan: shape \\[${b},${m},${n}\\] has ${b * m * n} elements; expected at most 2³¹ − 1`));
      }),
      { seed: FC_SEED, numRuns: 6 },
    );
    // Below the bound the same programs run.
    noLeak(() => expect(jit(stacked(2, 3, 4))()[1].shape).toEqual([4, 2, 3]));
  });
});

describe('a shape whose sizes no array can have is refused; an empty one NumPy allows is not', () => {
  const SAFE = Number.MAX_SAFE_INTEGER;
  it('non-zero sizes beside a 0 must have an exact product (at most 2⁵³ − 1), not one under 2³¹ − 1', () => {
    // [1e300, 1e300, 0] had size Infinity × 0 = NaN, passed the size check, and made an empty
    // array with dimensions no later op could index.
    refuses(() => np.zeros([1e300, 1e300, 0]), GradusError, /^full: shape \[1e\+300,1e\+300,0\] would have, without its 0s, more than 1e308 elements; expected a product of its non-zero sizes of at most 2⁵³ − 1/);
    refuses(() => np.ones([2 ** 27, 2 ** 27, 0]), GradusError, /^full: shape \[134217728,134217728,0\] would have, without its 0s, about 1.80e\+16 elements/);
    // NumPy allows these (python3: np.zeros((2**40, 0)).shape == (1099511627776, 0); its bound is
    // 2⁶³ − 1 bytes), and so did gradus before the size checks.
    noLeak(() => expect(np.zeros([2 ** 31, 0]).shape).toEqual([2 ** 31, 0]));
    noLeak(() => expect(np.eye(0, 2 ** 40).shape).toEqual([0, 2 ** 40]));
    noLeak(() => expect(np.eye(2 ** 40, 0, -3, 'int32').shape).toEqual([2 ** 40, 0]));
    noLeak(() => expect(np.eye(2 ** 40, 0, 2 ** 45).shape).toEqual([2 ** 40, 0]));
    noLeak(() => expect(np.tril(np.zeros([2 ** 40, 0])).shape).toEqual([2 ** 40, 0]));
    noLeak(() => expect(np.triu(np.zeros([3, 0, 2 ** 40]), 1).shape).toEqual([3, 0, 2 ** 40]));
    noLeak(() => expect(np.broadcastTo(np.ones([1]), [0, 2 ** 31]).shape).toEqual([0, 2 ** 31]));
    // Ops on it: empty results work, a result of 2⁴⁰ elements is still refused by name.
    noLeak(() => expect(np.sum(np.zeros([2 ** 40, 0]), 0).shape).toEqual([0]));
    noLeak(() => expect(jit((x: NDArray) => np.multiply(np.sum(x, 0), 2))(np.zeros([2 ** 40, 0])).shape).toEqual([0]));
    noLeak(() => expect(grad((x: NDArray) => np.sum(np.broadcastTo(x, [0, 2 ** 31])))(np.ones([1])).shape).toEqual([1]));
    refuses(() => np.sum(np.zeros([2 ** 40, 0]), 1), GradusError, /^[a-z_]+: shape \[1099511627776\] has 1099511627776 elements; expected at most 2³¹ − 1/);
    const shapes = fc
      .array(fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 2 ** 40 })), { minLength: 2, maxLength: 4 })
      .filter((s) => s.includes(0));
    fc.assert(
      fc.property(shapes, (shape) => {
        const nonZero = shape.filter((d) => d !== 0).reduce((a, d) => a * d, 1);
        if (nonZero > SAFE) refuses(() => np.zeros(shape), GradusError, new RegExp(`^full: shape \\[${shape.join(',').replace(/\+/g, '\\+')}\\] would have, without its 0s,`));
        else noLeak(() => expect(np.zeros(shape).shape).toEqual(shape));
      }),
      { seed: FC_SEED, numRuns: 60 },
    );
    noLeak(() => expect(np.zeros([MAX, 0]).shape).toEqual([MAX, 0]));
    // Without a 0 the bound stays 2³¹ − 1.
    refuses(() => np.zeros([2 ** 31]), GradusError, /^full: shape \[2147483648\] has 2147483648 elements; expected at most 2³¹ − 1/);
  });
});

describe('arange, linspace and eye build long results without a JS list per element', () => {
  // What they built before (a JS list, which TF.js flattened into another, then a typed array):
  // the reference their values must match bit for bit.
  const listArange = (start: number, step: number, n: number, dtype: DType) => tf.tensor(Array.from({ length: n }, (_, i) => start + i * step), [n], dtype);
  const listLinspace = (start: number, stop: number, num: number, endpoint: boolean) => {
    const div = endpoint ? num - 1 : num, step = div > 0 ? (stop - start) / div : 0;
    return tf.tensor(Array.from({ length: num }, (_, i) => (endpoint && i === num - 1 && i > 0 ? stop : start + i * step)), [num], 'float32');
  };
  const bitsEqual = (got: NDArray, want: tf.Tensor) => {
    const g = got.dataSync(), w = want.dataSync();
    const ok = got.dtype === want.dtype && g.length === w.length && Array.from(g).every((v, i) => Object.is(v, w[i]));
    want.dispose();
    return ok;
  };

  it('their values are bit-identical to the list-built ones (float32, int32 and bool arange; linspace)', () => {
    const finite = fc.double({ min: -1e6, max: 1e6, noNaN: true });
    noLeak(() => fc.assert(
      fc.property(finite, fc.double({ min: 1e-3, max: 1e3, noNaN: true }), fc.boolean(), fc.integer({ min: 0, max: 300 }), fc.constantFrom<DType | undefined>(undefined, 'float32', 'int32', 'bool'), (start, step, down, n, dtype) => {
        const s = down ? -step : step, stop = start + (n - 0.5) * s;
        scope(() => {
          const got = np.arange(start, stop, s, dtype);
          expect(bitsEqual(got, listArange(start, s, got.shape[0]!, dtype ?? 'float32'))).toBe(true);
          const ints = np.arange(Math.round(start), Math.round(start) + n);
          expect(bitsEqual(ints, listArange(Math.round(start), 1, n, 'int32'))).toBe(true);
        });
      }),
      { seed: FC_SEED, numRuns: 100 },
    ));
    noLeak(() => fc.assert(
      fc.property(finite, finite, fc.integer({ min: 0, max: 300 }), fc.boolean(), (start, stop, num, endpoint) => {
        scope(() => {
          expect(bitsEqual(np.linspace(start, stop, num, endpoint), listLinspace(start, stop, num, endpoint))).toBe(true);
        });
      }),
      { seed: FC_SEED, numRuns: 100 },
    ));
  });

  it('eye is the identity shifted by k, in every dtype', () => {
    noLeak(() => fc.assert(
      fc.property(fc.integer({ min: 0, max: 6 }), fc.integer({ min: 0, max: 6 }), fc.integer({ min: -7, max: 7 }), fc.constantFrom<DType>('float32', 'int32', 'bool'), (n, m, k, dtype) => {
        scope(() => {
          const e = np.eye(n, m, k, dtype);
          expect([e.shape, e.dtype]).toEqual([[n, m], dtype]);
          const one = dtype === 'bool' ? true : 1, zero = dtype === 'bool' ? false : 0;
          expect(e.toArray()).toEqual(Array.from({ length: n }, (_, i) => Array.from({ length: m }, (_, j) => (j === i + k ? one : zero))));
        });
      }),
      { seed: FC_SEED, numRuns: 100 },
    ));
  });

  it('4·10⁶ elements take no JS heap for their values (a JS list of them took 32 MB, twice)', () => {
    // The heap's growth over a call, the most of 3 calls: a garbage collection during a call can
    // hide what it allocated (a negative growth), not add to it, so the list-built versions (about
    // 150 MB a call) showed far more than the bound in one of the 3, and the typed ones never do.
    for (const make of [() => np.arange(0, 4e6), () => np.arange(0, 1e6, 0.25), () => np.linspace(0, 1, 4e6), () => np.eye(2000)]) {
      let most = -Infinity;
      for (let r = 0; r < 3; r++) {
        const heapBefore = process.memoryUsage().heapUsed;
        const a = make();
        most = Math.max(most, process.memoryUsage().heapUsed - heapBefore);
        expect(a.size).toBe(4e6);
        dispose(a);
      }
      expect(most, `the JS heap grew by ${(most / 1e6).toFixed(1)} MB`).toBeLessThan(32e6);
    }
  });
});

// Gaps a JAX/Flax user hits in np and nn: pooling with strides and padding (flax.linen.max_pool /
// avg_pool), against float64 reference loops written here: values, derivatives (reference
// cotangent loops and finite differences), vmap against a loop, jit against eager. Every check runs
// on wasm and cpu and leaves no tensors behind.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { grad, jit, np, vmap, type NDArray } from '../src/index.js';
import { checkGrads } from '../src/testing/index.js';
import { FC_SEED, expectClose, onEachBackend, values, ulp32 } from './helpers.js';

type Pair = [number, number];
type PadSpec = 'SAME' | 'VALID' | [Pair, Pair];

describe('np.maxPool2d and np.avgPool2d with strides and padding (Flax semantics)', () => {
  /** Flax's (lax.padtype_to_pads) padding pairs per spatial axis. */
  function padsOf(padding: PadSpec, hw: Pair, window: Pair, strides: Pair): [Pair, Pair] {
    if (padding === 'VALID') return [[0, 0], [0, 0]];
    if (padding !== 'SAME') return padding;
    return [0, 1].map((i) => {
      const total = Math.max((Math.ceil(hw[i]! / strides[i]!) - 1) * strides[i]! + window[i]! - hw[i]!, 0);
      return [Math.floor(total / 2), total - Math.floor(total / 2)];
    }) as [Pair, Pair];
  }

  /**
   * The windows of a pool, by loops: for each output position, the input positions (flat NHWC
   * indices, or −1 for a padded entry) of its window.
   */
  function windows(shape: number[], window: Pair, strides: Pair, padding: PadSpec): { out: number[]; cells: number[][] } {
    const [n, h, w, c] = shape as [number, number, number, number];
    const [[pt, pb], [pl, pr]] = padsOf(padding, [h, w], window, strides);
    const oh = Math.floor((h + pt + pb - window[0]) / strides[0]) + 1, ow = Math.floor((w + pl + pr - window[1]) / strides[1]) + 1;
    const cells: number[][] = [];
    for (let b = 0; b < n; b++) for (let i = 0; i < oh; i++) for (let j = 0; j < ow; j++) for (let k = 0; k < c; k++) {
      const cell: number[] = [];
      for (let di = 0; di < window[0]; di++) for (let dj = 0; dj < window[1]; dj++) {
        const r = i * strides[0] + di - pt, q = j * strides[1] + dj - pl;
        cell.push(r < 0 || r >= h || q < 0 || q >= w ? -1 : ((b * h + r) * w + q) * c + k);
      }
      cells.push(cell);
    }
    return { out: [n, oh, ow, c], cells };
  }

  /** Pooled values in float64: the max over the window's real entries (padding never wins), or the window's sum over kh·kw (padded zeros counted, Flax's count_include_pad). */
  function poolRef(kind: 'max' | 'avg', x: number[], cells: number[][], window: Pair): number[] {
    return cells.map((cell) => {
      const real = cell.filter((p) => p >= 0).map((p) => x[p]!);
      return kind === 'max' ? Math.max(...real) : real.reduce((s, v) => s + v, 0) / (window[0] * window[1]);
    });
  }

  /** The cotangent of x for output cotangent `ct`, in float64: max sends each window's cotangent to its maxima, shared equally among ties; avg spreads it as 1/(kh·kw) to every real entry. */
  function poolVjpRef(kind: 'max' | 'avg', x: number[], cells: number[][], window: Pair, ct: number[]): number[] {
    const g = x.map(() => 0);
    cells.forEach((cell, o) => {
      const real = cell.filter((p) => p >= 0);
      if (kind === 'avg') { for (const p of real) g[p]! += ct[o]! / (window[0] * window[1]); return; }
      const m = Math.max(...real.map((p) => x[p]!));
      const winners = real.filter((p) => x[p] === m);
      for (const p of winners) g[p]! += ct[o]! / winners.length;
    });
    return g;
  }

  const pair = fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }));
  /** An NHWC shape, a window that fits, strides and a padding (VALID, SAME or explicit pairs below the window). */
  const config = fc
    .record({ n: fc.integer({ min: 1, max: 2 }), h: fc.integer({ min: 3, max: 6 }), w: fc.integer({ min: 3, max: 6 }), c: fc.integer({ min: 1, max: 2 }), window: pair, strides: pair, kind: fc.constantFrom('VALID', 'SAME', 'explicit') })
    .chain((r) => fc.tuple(fc.constant(r), fc.tuple(fc.integer({ min: 0, max: r.window[0] - 1 }), fc.integer({ min: 0, max: r.window[0] - 1 }), fc.integer({ min: 0, max: r.window[1] - 1 }), fc.integer({ min: 0, max: r.window[1] - 1 }))))
    .map(([r, [a, b, c, d]]) => ({ shape: [r.n, r.h, r.w, r.c], window: r.window as Pair, strides: r.strides as Pair, padding: (r.kind === 'explicit' ? [[a, b], [c, d]] : r.kind) as PadSpec }));
  /** Entries on a coarse grid (k/2 for |k| ≤ 4), so windows often hold tied maxima. */
  const gridValues = (size: number) => fc.array(fc.integer({ min: -4, max: 4 }).map((k) => k / 2), { minLength: size, maxLength: size });
  const withValues = config.chain((cfg) => fc.tuple(fc.constant(cfg), gridValues(cfg.shape.reduce((p, d) => p * d, 1)), fc.array(fc.integer({ min: -3, max: 3 }), { minLength: 200, maxLength: 200 })));

  it('pools every window of the (padded) input as the reference loop does, for max and avg, any window, strides and padding', () =>
    onEachBackend(() => {
      fc.assert(
        fc.property(withValues, ([{ shape, window, strides, padding }, xs]) => {
          const x = np.reshape(np.array(xs, 'float32'), shape);
          const { out, cells } = windows(shape, window, strides, padding);
          for (const kind of ['max', 'avg'] as const) {
            const f = kind === 'max' ? np.maxPool2d : np.avgPool2d;
            const got = f(x, window, { strides, padding });
            expect(got.shape).toEqual(out);
            expectClose(got, { shape: out, data: Float64Array.from(poolRef(kind, xs, cells, window)) }, { rtol: 1e-6, atol: 1e-6, label: `${kind} ${JSON.stringify({ shape, window, strides, padding })}` });
          }
          // An int32 input max-pools to int32 (padding takes the lowest int, and never wins).
          const xi = np.reshape(np.array(xs.map((v) => 2 * v), 'int32'), shape);
          const gi = np.maxPool2d(xi, window, { strides, padding });
          expect(gi.dtype).toBe('int32');
          expect(values(gi)).toEqual(poolRef('max', xs.map((v) => 2 * v), cells, window));
        }),
        { seed: FC_SEED, numRuns: 40 },
      );
    }));

  it("their gradients are the reference cotangent loops: max's goes to each window's maxima (tied entries share it equally, as np.max's), avg's spreads 1/(kh·kw)", () =>
    onEachBackend(() => {
      fc.assert(
        fc.property(withValues, ([{ shape, window, strides, padding }, xs, cts]) => {
          const x = np.reshape(np.array(xs, 'float32'), shape);
          const { out, cells } = windows(shape, window, strides, padding);
          const ct = cts.slice(0, cells.length);
          const ctArray = np.reshape(np.array(ct, 'float32'), out);
          for (const kind of ['max', 'avg'] as const) {
            const f = kind === 'max' ? np.maxPool2d : np.avgPool2d;
            const g = grad((y: NDArray) => np.sum(np.multiply(f(y, window, { strides, padding }), ctArray)))(x);
            expectClose(g, { shape, data: Float64Array.from(poolVjpRef(kind, xs, cells, window, ct)) }, { rtol: 1e-6, atol: 1e-6, label: `d${kind} ${JSON.stringify({ shape, window, strides, padding })}` });
          }
        }),
        { seed: FC_SEED, numRuns: 40 },
      );
    }));

  it('match finite differences to second order (distinct entries, so max is differentiable), forward and reverse', () =>
    onEachBackend(() => {
      // Distinct entries spaced far beyond the finite-difference step: the maxima do not move.
      const x = np.reshape(np.array(Array.from({ length: 2 * 5 * 5 * 2 }, (_, i) => ((i * 37) % 100) / 10 - 5), 'float32'), [2, 5, 5, 2]);
      for (const options of [{ strides: 2, padding: 'SAME' as const }, { strides: [1, 2] as [number, number], padding: [[1, 0], [1, 1]] as [Pair, Pair] }, {}]) {
        checkGrads((y: NDArray) => np.maxPool2d(y, [3, 2], options), [x], { order: 2, eps: 1e-3 });
        checkGrads((y: NDArray) => np.square(np.avgPool2d(y, [3, 2], options)), [x], { order: 2 });
      }
    }));

  it('vmap equals stacking over the batch, and jit equals eager', () =>
    onEachBackend(() => {
      const xs = np.reshape(np.array(Array.from({ length: 3 * 1 * 5 * 4 * 2 }, (_, i) => Math.sin(i * 1.7) * 3), 'float32'), [3, 1, 5, 4, 2]);
      const opts = { strides: [2, 1] as Pair, padding: 'SAME' as const };
      const f = (y: NDArray) => np.add(np.maxPool2d(y, 3, opts), np.avgPool2d(y, 3, opts));
      const loop = np.stack([0, 1, 2].map((i) => f(np.index(xs, [i]))));
      expectClose(vmap(f)(xs), loop, { rtol: 1e-6, atol: 1e-6, label: 'vmap' });
      // The batch on another axis: vmap over axis 3 (W) moves it out of the pooled axes.
      const moved = np.moveaxis(xs, 0, 3);
      expectClose(vmap(f, { inAxes: 3 })(moved), loop, { rtol: 1e-6, atol: 1e-6, label: 'vmap over axis 3' });
      const gradLoop = np.stack([0, 1, 2].map((i) => grad((y: NDArray) => np.sum(np.square(f(y))))(np.index(xs, [i]))));
      expectClose(vmap(grad((y: NDArray) => np.sum(np.square(f(y)))))(xs), gradLoop, { rtol: 1e-5, atol: 1e-5, label: 'vmap(grad)' });
      const x = np.index(xs, [1]);
      const jf = jit(f);
      expectClose(jf(x), f(x), { rtol: 1e-6, atol: 1e-6, label: 'jit' });
      const jg = jit(grad((y: NDArray) => np.sum(np.square(f(y)))));
      expectClose(jg(x), grad((y: NDArray) => np.sum(np.square(f(y))))(x), { rtol: 1e-6, atol: 1e-6, label: 'jit(grad)' });
      jf.clearCache();
      jg.clearCache();
    }));

  it('the two-argument call pools non-overlapping size×size windows as before (a reshape and one reduction), and VALID drops what does not fit', () =>
    onEachBackend(() => {
      const x = np.reshape(np.array(Array.from({ length: 2 * 4 * 6 * 3 }, (_, i) => Math.cos(i)), 'float32'), [2, 4, 6, 3]);
      const r = np.reshape(x, [2, 2, 2, 3, 2, 3]);
      expect(values(np.maxPool2d(x, 2))).toEqual(values(np.max(r, [2, 4])));
      expect(values(np.avgPool2d(x, 2))).toEqual(values(np.mean(r, [2, 4])));
      expect(values(np.maxPool2d(x, 2, {}))).toEqual(values(np.maxPool2d(x, [2, 2], { strides: 2, padding: 'VALID' })));
      // 4×6 with a 3×4 window: one window each way (Flax's VALID), over the top-left 3×4 block.
      const cropped = np.slice(x, [0, 0, 0, 0], [2, 3, 4, 3]);
      expect(values(np.maxPool2d(x, [3, 4]))).toEqual(values(np.max(cropped, [1, 2], true)));
    }));

  it('refuse bad windows, strides, paddings, options and inputs, naming the op and what was expected', () =>
    onEachBackend(() => {
      const x = np.ones([1, 4, 4, 1]);
      const call = (f: unknown, ...args: unknown[]) => () => (f as (...a: unknown[]) => unknown)(x, ...args);
      expect(call(np.maxPool2d, 0)).toThrow(/^maxPool2d: windowShape must be a positive integer or a pair \[h, w\] of them, got 0$/);
      expect(call(np.avgPool2d, [2, 2, 2])).toThrow(/^avgPool2d: windowShape must be .*got \[2,2,2\]$/);
      expect(call(np.maxPool2d, np.array(2, 'float32'))).toThrow(/^maxPool2d: windowShape must be JS integers or a concrete int32 array, got f32\[\]/);
      expect(call(np.maxPool2d, 2, { strides: 0 })).toThrow(/^maxPool2d: strides must be a positive integer or a pair/);
      expect(call(np.maxPool2d, 2, { padding: 'FULL' })).toThrow(/^maxPool2d: padding must be 'SAME', 'VALID' or \[\[top, bottom\], \[left, right\]\] of non-negative integers, got "FULL"$/);
      expect(call(np.avgPool2d, 2, { padding: [[1, -1], [0, 0]] })).toThrow(/^avgPool2d: padding must be .*got \[\[1,-1\],\[0,0\]\]$/);
      expect(call(np.maxPool2d, 2, { stride: 1 })).toThrow(/^maxPool2d: unknown option "stride"; expected strides and padding$/);
      expect(call(np.maxPool2d, 2, 1)).toThrow(/^maxPool2d: takes \(x, windowShape, \{strides, padding\}\); got 1 after the window shape/);
      expect(call(np.avgPool2d, 2, {}, 'SAME')).toThrow(/^avgPool2d: takes \(x, windowShape, \{strides, padding\}\); got \{\}, "SAME"/);
      // A window larger than the input is no error: an empty axis, as lax.reduce_window (np_index_extras.test.ts).
      expect(np.maxPool2d(x, 5).shape).toEqual([1, 0, 0, 1]);
      expect(() => np.maxPool2d(np.ones([4, 4, 1]), 2)).toThrow(/^maxPool2d: expected an NHWC array \[N,H,W,C\], got shape \[4,4,1\]$/);
    }));
});

describe('np.repeat with per-element counts, and np.concatenate with axis null', () => {
  /** NumPy's repeat along `axis` by loops over a row-major array: output index j on the axis takes the element whose count range holds j. */
  function repeatRef(data: number[], shape: number[], counts: number[], axis: number, total?: number): { shape: number[]; data: number[] } {
    const n = shape[axis]!;
    const owner: number[] = [];
    for (let i = 0; i < n; i++) for (let k = 0; k < counts[counts.length === 1 ? 0 : i]!; k++) owner.push(i);
    if (total !== undefined) { while (owner.length < total) owner.push(n - 1); owner.length = total; }
    const outer = shape.slice(0, axis).reduce((p, d) => p * d, 1), inner = shape.slice(axis + 1).reduce((p, d) => p * d, 1);
    const out: number[] = [];
    for (let o = 0; o < outer; o++) for (const i of owner) for (let q = 0; q < inner; q++) out.push(data[(o * n + i) * inner + q]!);
    return { shape: shape.map((d, i) => (i === axis ? owner.length : d)), data: out };
  }

  const problem = fc
    .record({ shape: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 3 }), axisSeed: fc.nat(), seed: fc.nat() })
    .chain(({ shape, axisSeed }) => {
      const axis = axisSeed % shape.length;
      return fc.record({
        shape: fc.constant(shape),
        axis: fc.constant(axis),
        counts: fc.oneof(fc.array(fc.integer({ min: 0, max: 3 }), { minLength: shape[axis]!, maxLength: shape[axis]! }), fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 1 })),
        total: fc.option(fc.integer({ min: 0, max: 9 }), { nil: undefined }),
      });
    });
  const data = (shape: number[]) => Array.from({ length: shape.reduce((p, d) => p * d, 1) }, (_, i) => Math.round(Math.sin(i + 1) * 100) / 8);

  it('repeats each element its own number of times, as NumPy (counts as a list or an int32 array), and totalRepeatLength pads with the last element or drops the tail, as JAX', () =>
    onEachBackend(() => {
      fc.assert(
        fc.property(problem, ({ shape, axis, counts, total }) => {
          const xs = data(shape);
          const x = np.reshape(np.array(xs, 'float32'), shape);
          const want = repeatRef(xs, shape, counts, axis);
          for (const given of [counts, np.array(counts, 'int32')]) {
            const got = np.repeat(x, given, axis);
            expect(got.shape).toEqual(want.shape);
            expect(values(got)).toEqual(want.data);
          }
          // axis null (or omitted) repeats the flattened array: as many counts as entries, or one.
          const flatCounts = counts.length === 1 ? counts : xs.map((_, i) => (i * 7) % 3);
          expect(values(np.repeat(x, flatCounts, null))).toEqual(repeatRef(xs, [xs.length], flatCounts, 0).data);
          if (total !== undefined && shape[axis]! > 0) {
            const wantTotal = repeatRef(xs, shape, counts, axis, total);
            const got = np.repeat(x, counts, axis, { totalRepeatLength: total });
            expect(got.shape).toEqual(wantTotal.shape);
            expect(values(got)).toEqual(wantTotal.data);
            // Traced counts (under jit) give the same, through JAX's marks-and-running-sum construction.
            const jr = jit((y: NDArray, r: NDArray) => np.repeat(y, r, axis, { totalRepeatLength: total }));
            expect(values(jr(x, np.array(counts, 'int32')))).toEqual(wantTotal.data);
            jr.clearCache();
          }
        }),
        { seed: FC_SEED, numRuns: 40 },
      );
      expect(values(np.repeat([1, 2, 3], [2, 0, 1]))).toEqual([1, 1, 3]);
      expect(values(np.repeat(np.array([[1, 2], [3, 4]], 'int32'), np.array([1, 2], 'int32'), 0))).toEqual([1, 2, 3, 4, 3, 4]);
    }));

  it("the gradient sums the cotangents of each element's copies (a reference loop), to second order; vmap over x and over traced counts equals the loop", () =>
    onEachBackend(() => {
      const x = np.array([[0.5, -1.2, 2], [1.5, 0.3, -0.7]], 'float32');
      const counts = [3, 0, 2];
      const w = np.array(Array.from({ length: 2 * 5 }, (_, i) => i - 4), 'float32');
      const f = (y: NDArray) => np.sum(np.multiply(np.reshape(np.repeat(y, counts, 1), [-1]), w));
      // Row r: copies of x[r, 0] at output columns 0–2, of x[r, 2] at 3–4; w is row-major [2, 5].
      const wv = values(w);
      const want = [0, 1].flatMap((r) => [wv[5 * r]! + wv[5 * r + 1]! + wv[5 * r + 2]!, 0, wv[5 * r + 3]! + wv[5 * r + 4]!]);
      expect(values(grad(f)(x))).toEqual(want);
      checkGrads((y: NDArray) => np.square(np.repeat(y, counts, 1)), [x], { order: 2 });
      checkGrads((y: NDArray) => np.sin(np.repeat(y, np.array([2, 1, 0], 'int32'), 1, { totalRepeatLength: 4 })), [x], { order: 2 });
      const g = (y: NDArray) => np.repeat(y, counts, 0);
      expect(values(vmap(g)(x))).toEqual([...values(g(np.index(x, [0]))), ...values(g(np.index(x, [1])))]);
      const perRow = np.array([[1, 2, 0], [0, 0, 3]], 'int32');
      const h = (y: NDArray, r: NDArray) => np.repeat(y, r, 0, { totalRepeatLength: 4 });
      const loop = [0, 1].flatMap((i) => values(np.repeat(np.index(x, [i]), Array.from(values(np.index(perRow, [i]))), 0, { totalRepeatLength: 4 })));
      expect(values(vmap(h)(x, perRow))).toEqual(loop);
      // Row 0 counts [1, 2, 0] fill the fourth slot with the last element; row 1 takes only its last.
      expect(loop).toEqual([0.5, -1.2, -1.2, 2, -0.7, -0.7, -0.7, -0.7].map(Math.fround));
    }));

  it('refuses traced counts without totalRepeatLength (naming it), negative or fractional counts, and a count list of the wrong length', () =>
    onEachBackend(() => {
      const x = np.arange(6);
      expect(() => jit((r: NDArray) => np.repeat(x, r))(np.array([1, 1, 1, 1, 1, 1], 'int32'))).toThrow(/^repeat: repeats is a traced array i32\[6\], so the output length is unknown; pass \{ totalRepeatLength \}/);
      expect(() => np.repeat(x, [1, -1, 1, 1, 1, 1])).toThrow(/^repeat: expected a non-negative integer number of repeats, or a list of them, got \[1,-1,1,1,1,1\]$/);
      expect(() => np.repeat(x, 1.5)).toThrow(/^repeat: expected a non-negative integer number of repeats/);
      expect(() => np.repeat(x, [1, 2], 0)).toThrow(/^repeat: 2 repeats for axis 0 of \[6\], which has 6 entries; expected one count, or one per entry$/);
      expect(() => np.repeat(x, 2, 0, { totalRepeatLength: -1 })).toThrow(/^repeat: totalRepeatLength must be a non-negative integer, got -1$/);
      // An empty axis is no error: it stays empty, as jnp.repeat (np_index_extras.test.ts).
      expect(np.repeat(np.zeros([0]), [], 0, { totalRepeatLength: 2 }).shape).toEqual([0]);
    }));

  it('concatenate with axis null joins the flattened arrays (any shapes, promoted dtype), and its gradient splits back', () =>
    onEachBackend(() => {
      const a = np.array([[1, 2], [3, 4]], 'int32'), b = np.array([5.5], 'float32'), c = np.array(7, 'float32');
      const got = np.concatenate([a, b, c], null);
      expect(got.dtype).toBe('float32');
      expect(got.shape).toEqual([6]);
      expect(values(got)).toEqual([1, 2, 3, 4, 5.5, 7]);
      const x = np.array([[1, 2, 3]], 'float32'), y = np.array([[4], [5]], 'float32');
      const [gx, gy] = grad((p: NDArray, q: NDArray) => np.sum(np.multiply(np.concatenate([p, q], null), np.arange(1, 6))), { argnums: [0, 1] })(x, y) as [NDArray, NDArray];
      expect(gx.shape).toEqual([1, 3]);
      expect(values(gx)).toEqual([1, 2, 3]);
      expect(values(gy)).toEqual([4, 5]);
    }));
});

describe('np.roll with array shifts (traced under jit and vmap)', () => {
  /** out[..., i, ...] = x[..., (i − shift) mod n, ...] on each axis, by index arithmetic on a row-major array. */
  function rollRef(data: number[], shape: number[], shifts: number[], axes: number[]): number[] {
    const mod = (i: number, n: number) => ((i % n) + n) % n;
    const strides = shape.map((_, i) => shape.slice(i + 1).reduce((p, d) => p * d, 1));
    return data.map((_, flat) => {
      const idx = shape.map((d, i) => Math.floor(flat / strides[i]!) % d);
      axes.forEach((ax, j) => { idx[ax] = mod(idx[ax]! - shifts[j]!, shape[ax]!); });
      return data[idx.reduce((p, v, i) => p + v * strides[i]!, 0)]!;
    });
  }
  const problem = fc
    .array(fc.integer({ min: 0, max: 4 }), { minLength: 1, maxLength: 3 })
    .chain((shape) => fc.record({ shape: fc.constant(shape), axes: fc.shuffledSubarray(shape.map((_, i) => i), { minLength: 1 }), seed: fc.array(fc.integer({ min: -9, max: 9 }), { minLength: 3, maxLength: 3 }) }));

  it('a traced shift (jit) rolls as the static one and as the reference, per axis or one shift for all, and over the flattened array', () =>
    onEachBackend(() => {
      fc.assert(
        fc.property(problem, ({ shape, axes, seed }) => {
          const xs = Array.from({ length: shape.reduce((p, d) => p * d, 1) }, (_, i) => i * 1.5 - 3);
          const x = np.reshape(np.array(xs, 'float32'), shape);
          const shifts = axes.map((_, i) => seed[i]!);
          const want = rollRef(xs, shape, shifts, axes);
          const jr = jit((y: NDArray, k: NDArray) => np.roll(y, k, axes));
          expect(values(jr(x, np.array(shifts, 'int32')))).toEqual(want);
          expect(values(np.roll(x, np.array(shifts, 'int32'), axes))).toEqual(want); // a concrete array shift
          expect(values(np.roll(x, shifts, axes))).toEqual(want);
          // One scalar shift for every axis.
          expect(values(jr(x, np.array(seed[0]!, 'int32')))).toEqual(rollRef(xs, shape, axes.map(() => seed[0]!), axes));
          const jf = jit((y: NDArray, k: NDArray) => np.roll(y, k));
          expect(values(jf(x, np.array(seed[1]!, 'int32')))).toEqual(rollRef(xs, [xs.length], [seed[1]!], [0]));
          jr.clearCache();
          jf.clearCache();
        }),
        { seed: FC_SEED, numRuns: 40 },
      );
    }));

  it('the gradient in x rolls the cotangent back (the shift gets none), to second order; vmap over x and shifts equals the loop', () =>
    onEachBackend(() => {
      const x = np.array([[0.5, -1.2, 2, 0.1], [1.5, 0.3, -0.7, 0.9], [-2, 1, 0.25, 3]], 'float32');
      const w = np.sin(np.arange(12, undefined, undefined, 'float32'));
      const k = np.array([2, -1], 'int32');
      const f = (y: NDArray, s: NDArray) => np.sum(np.multiply(np.reshape(np.roll(y, s, [0, 1]), [-1]), w));
      // ∂/∂x of ⟨w, roll(x, k)⟩ is roll(w, −k).
      const want = rollRef(values(w), [3, 4], [-2, 1], [0, 1]);
      const jg = jit(grad(f));
      expectClose(jg(x, k), { shape: [3, 4], data: Float64Array.from(want) }, { rtol: 1e-6, atol: 1e-6, label: 'jit(grad)' });
      jg.clearCache();
      // The shift is an int32 count: it has no derivative, and grad refuses to differentiate it.
      expect(() => grad(f, { argnums: [0, 1] })(x, k)).toThrow(/^grad: argument 1 at \(root\) is i32\[2\]; grad differentiates float32 inputs only/);
      checkGrads((y: NDArray) => np.square(np.roll(y, np.array([1, 3], 'int32'), [1, 0])), [x], { order: 2 });
      const jr = jit((z: NDArray, s: NDArray) => np.sin(np.roll(z, s, 1)));
      checkGrads((y: NDArray) => jr(y, np.array(-3, 'int32')), [x], { order: 2 });
      jr.clearCache();
      const ks = np.array([3, -1, 0], 'int32');
      const byRow = (row: NDArray, s: NDArray) => np.roll(row, s, 0);
      const loop = [0, 1, 2].flatMap((i) => rollRef(values(np.index(x, [i])), [4], [values(ks)[i]!], [0]));
      expect(values(vmap(byRow)(x, ks))).toEqual(loop);
      expect(values(vmap((s: NDArray) => np.roll(np.index(x, [0]), s, 0))(ks))).toEqual([0, 1, 2].flatMap((i) => rollRef(values(np.index(x, [0])), [4], [values(ks)[i]!], [0])));
      const gradLoop = [0, 1, 2].flatMap((i) => values(grad((r: NDArray) => np.sum(np.multiply(byRow(r, np.index(ks, [i])), np.arange(4))))(np.index(x, [i]))));
      expect(values(vmap(grad((r: NDArray, s: NDArray) => np.sum(np.multiply(byRow(r, s), np.arange(4)))))(x, ks))).toEqual(gradLoop);
    }));

  it('without axes a list of shifts rolls the flattened array by their sum, as np.roll and jnp.roll (static, concrete and traced)', () =>
    onEachBackend(() => {
      const xs = Array.from({ length: 12 }, (_, i) => i * 0.5 - 2);
      const x = np.reshape(np.array(xs, 'float32'), [3, 4]);
      const jf = jit((y: NDArray, k: NDArray) => np.roll(y, k));
      for (const shifts of [[1, 2], [-5, 0, 9], [13]]) {
        const want = rollRef(xs, [12], [shifts.reduce((p, k) => p + k, 0)], [0]);
        expect(values(np.roll(x, shifts)), `roll(x, ${JSON.stringify(shifts)})`).toEqual(want);
        expect(values(np.roll(x, np.array(shifts, 'int32'))), 'a concrete array').toEqual(want);
        expect(values(jf(x, np.array(shifts, 'int32'))), 'traced').toEqual(want);
      }
      expect(np.roll(x, [1, 2]).shape).toEqual([3, 4]);
      jf.clearCache();
    }));

  it('refuses float shifts and shift arrays that do not match the axes', () =>
    onEachBackend(() => {
      const x = np.ones([2, 3]);
      const cases: [(k: NDArray) => NDArray, NDArray, RegExp][] = [
        [(k) => np.roll(x, k, 0), np.array(1.5, 'float32'), /^roll: an array of shifts must be int32, got f32\[\]$/],
        [(k) => np.roll(x, k, [0, 1]), np.array([1, 2, 3], 'int32'), /^roll: shifts i32\[3\] for 2 axes \[0, 1\]; expected a scalar, or one shift per axis$/],
      ];
      for (const [f, k, message] of cases) {
        const jf = jit(f);
        expect(() => jf(k)).toThrow(message);
        jf.clearCache();
      }
    }));
});

describe('np.polygamma of every order n ≥ 2', () => {
  /** ulp of float32 at |x| (subnormal spacing below the normal range). */
  const factorial = (n: number): number => (n <= 1 ? 1 : n * factorial(n - 1));
  /**
   * (−1)ⁿ⁺¹ n! ζ(n + 1, q), with the Hurwitz zeta summed directly up to q + N ≥ 40 and the rest by
   * Euler–Maclaurin (three Bernoulli terms): an oracle independent of the kernel's recurrence and
   * asymptotic series in x. Also returns n!·Σ|terms|, the scale of its rounding where terms cancel.
   */
  function polygammaOracle(n: number, q: number): { value: number; scale: number } {
    const s = n + 1;
    let sum = 0, abs = 0;
    let a = q;
    for (; a < 40; a += 1) { const t = a ** -s; sum += t; abs += Math.abs(t); }
    const tail = a ** (1 - s) / (s - 1) + a ** -s / 2 + (s / 12) * a ** (-s - 1) - ((s * (s + 1) * (s + 2)) / 720) * a ** (-s - 3) + ((s * (s + 1) * (s + 2) * (s + 3) * (s + 4)) / 30240) * a ** (-s - 5);
    const sign = n % 2 === 1 ? 1 : -1;
    return { value: sign * factorial(n) * (sum + tail), scale: factorial(n) * (abs + tail) };
  }
  /** ζ(s) for integer s ≥ 3: the oracle at q = 1. */
  const zeta = (s: number): number => polygammaOracle(s - 1, 1).value / ((s % 2 === 0 ? 1 : -1) * factorial(s - 1));

  const f32 = (lo: number, hi: number) => fc.float({ min: Math.fround(lo), max: Math.fround(hi), noNaN: true });
  const offPole = (lo: number, hi: number) => f32(lo, hi).filter((x) => x > 0 || Math.abs(x - Math.round(x)) > 1e-3);

  it('agrees with a Hurwitz-zeta oracle at random points (negative non-integers included), within a float32 spacing', () =>
    onEachBackend(() => {
      fc.assert(
        fc.property(fc.integer({ min: 2, max: 9 }), fc.array(fc.oneof(offPole(-30, 50), f32(1e-3, 1e4)), { minLength: 1, maxLength: 30 }), (n, xs) => {
          const got = values(np.polygamma(n, np.array(Float32Array.from(xs))));
          got.forEach((g, i) => {
            const { value, scale } = polygammaOracle(n, Math.fround(xs[i]!));
            if (!Number.isFinite(Math.fround(value))) return void expect(g, `polygamma(${n}, ${xs[i]})`).toBe(Math.fround(value));
            expect(Math.abs(g - value), `polygamma(${n}, ${xs[i]}): got ${g}, want ${value}`).toBeLessThanOrEqual(ulp32(value) + 1e-13 * scale);
          });
        }),
        { seed: FC_SEED, numRuns: 40 },
      );
    }));

  it('ψ⁽ⁿ⁾(1) = (−1)ⁿ⁺¹ n! ζ(n + 1), ψ⁽ⁿ⁾(x + 1) − ψ⁽ⁿ⁾(x) = (−1)ⁿ n!/xⁿ⁺¹; poles, infinities and NaN as JAX', () =>
    onEachBackend(() => {
      for (let n = 2; n <= 12; n++) {
        const got = values(np.polygamma(n, np.array([1], 'float32')))[0]!;
        const want = (n % 2 === 1 ? 1 : -1) * factorial(n) * zeta(n + 1);
        expect(Math.abs(got - want), `polygamma(${n}, 1)`).toBeLessThanOrEqual(ulp32(want));
      }
      // ζ(3) and ζ(5) to check the oracle itself: Apéry's constant, and ζ(5).
      expect(zeta(3)).toBeCloseTo(1.2020569031595942, 13);
      expect(zeta(5)).toBeCloseTo(1.0369277551433699, 13);
      fc.assert(
        fc.property(fc.integer({ min: 2, max: 6 }), fc.integer({ min: 8, max: 1200 }).map((k) => k / 64), (n, x) => {
          const [a, b] = values(np.polygamma(n, np.array([x, x + 1], 'float32')));
          const want = ((n % 2 === 0 ? 1 : -1) * factorial(n)) / x ** (n + 1);
          expect(Math.abs(b! - a! - want), `ψ${n}(${x} + 1) − ψ${n}(${x})`).toBeLessThanOrEqual(ulp32(a!) + ulp32(b!));
        }),
        { seed: FC_SEED, numRuns: 60 },
      );
      // Far below 0 (the reflection to 1 − x).
      for (const [n, x] of [[2, -70000.75], [2, -5000.25], [3, -5000.25], [4, -123456.3]] as const) {
        const got = values(np.polygamma(n, np.array([x], 'float32')))[0]!;
        const want = polygammaOracle(n, Math.fround(x)).value;
        expect(Math.abs(got - want), `polygamma(${n}, ${x}): got ${got}, want ${want}`).toBeLessThanOrEqual(ulp32(want));
      }
      expect(values(np.polygamma(2, np.array([0, -3, Infinity, -Infinity, NaN], 'float32')))).toEqual([-Infinity, -Infinity, 0, NaN, NaN]);
      expect(values(np.polygamma(3, np.array([0, -3, Infinity], 'float32')))).toEqual([Infinity, Infinity, 0]);
      expect(() => np.polygamma(1.5, 1)).toThrow(/^polygamma: the order n must be an integer .*, got 1.5$/);
    }));

  it('below 0 it keeps float32 accuracy where the poles on either side cancel (even n at half-integers) and far from 0: 60-digit mpmath values, and ψ⁽ⁿ⁾(½ − y) = ψ⁽ⁿ⁾(½ + y) for even n at half-integers', () =>
    onEachBackend(() => {
      // mpmath (dps 120): the recurrence ψ⁽ⁿ⁾(x) = ψ⁽ⁿ⁾(x + 1) + (−1)ⁿ⁺¹ n!/xⁿ⁺¹ summed exactly up from x.
      const mp: [number, number, number][] = [
        [2, -1000000.5, -9.99998000002749997e-13], [4, -5000.5, -9.5923235188482844262e-15], [10, -100.5, -3.2836299536311148562e-15],
        [20, -1.5, -10709198259.124132459], [6, -0.5, -43.457923803023286231], [3, -2.5, 194.74787621918762242],
        [2, -70000.75, -124.02510672140335505], [12, -7.5, -0.00052695956903748331041], [25, -3.5, 2.0818793705474855281e33],
      ];
      for (const [n, x, want] of mp) {
        const got = values(np.polygamma(n, np.array([x], 'float32')))[0]!;
        expect(Math.abs(got - want), `polygamma(${n}, ${x}): got ${got}, want ${want}`).toBeLessThanOrEqual(ulp32(want));
      }
      // For even n, πⁿ⁺¹ cot⁽ⁿ⁾(πx) is 0 at half-integers: the reflection leaves ψ⁽ⁿ⁾(x) = ψ⁽ⁿ⁾(1 − x), against the oracle at 1 − x > 0.
      fc.assert(
        fc.property(fc.constantFrom(2, 4, 6, 8, 10, 14, 20), fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 5_000_000 })), (n, m) => {
          const x = -m - 0.5;
          const got = values(np.polygamma(n, np.array([x], 'float32')))[0]!;
          const want = polygammaOracle(n, 1 - x).value;
          expect(Math.abs(got - want), `polygamma(${n}, ${x}): got ${got}, want ${want}`).toBeLessThanOrEqual(ulp32(want));
        }),
        { seed: FC_SEED, numRuns: 60 },
      );
    }));

  it('large orders (an int32 array n may hold any): within a float32 spacing of mpmath where n!/xⁿ⁺¹ passes through underflow on its way, and quickly at any n', () =>
    onEachBackend(() => {
      // mpmath (dps 600, for the cancellation below 0): ψ⁽ⁿ⁾(x) = (−1)ⁿ⁺¹ n! ζ(n + 1, x).
      const mp: [number, number, number][] = [
        [2718, 1000, -0.10556279850755946432], [2700, 1000, -1.7063902996662898806e-9], [2000, 760, -1.1094582078987471005e-29],
        [1000, 380, -1.8782161549403203004e-15], [101, 37.25, 0.56202538182336852192], [150, 55.5, -0.25066153158458749394],
        [333, 120.75, 49.269969282400429361], [120, -43.5, -0.25382433324906039863], [200, -72.5, -0.63521981366598620077],
        [140, -50.5, -0.62267270133570476032], [101, -0.5, Infinity], [141, -50.5, Infinity],
        [1000000, 367879.4375, -0.0073682835094935516663], [999999, 367879.4375, 0.0027106405133840691006],
        [2147483647, 790015104, 3.6855647023703226325e-28], [2147483647, 1, Infinity], [2147483646, 1, -Infinity], [2147483647, 1e10, 0],
      ];
      const start = performance.now();
      const got = values(np.polygamma(np.array(mp.map(([n]) => n), 'int32'), np.array(mp.map(([, x]) => x), 'float32')));
      // The recurrence up to x ≥ n + 10 took n + 10 − x steps of n products each: minutes (or years, at n = 2³¹ − 1).
      expect(performance.now() - start).toBeLessThan(1000);
      mp.forEach(([n, x, want], i) => {
        if (!Number.isFinite(want) || want === 0) return void expect(got[i], `polygamma(${n}, ${x})`).toBe(want);
        // At n = 2³¹ − 1 the float64 kernel's own rounding (up to n·ε relative: 8e-8 here) nears a float32 spacing.
        expect(Math.abs(got[i]! - want), `polygamma(${n}, ${x}): got ${got[i]}, want ${want}`).toBeLessThanOrEqual((n > 1e6 ? 4 : 1) * ulp32(want));
      });
      // A slow order in time alone (n = 30000 took 1.6 s at x = 1, as each of n + 10 − x steps took n products).
      const t0 = performance.now();
      expect(values(np.polygamma(np.array([30000, 30001, 29999], 'int32'), np.array([1, 1, 0.5], 'float32')))).toEqual([-Infinity, Infinity, Infinity]);
      expect(performance.now() - t0).toBeLessThan(200);
    }));

  it('its derivative is polygamma(n + 1) (grad, jvp, and finite differences of polygamma(n) to second order); gammaln differentiates any number of times', () =>
    onEachBackend(() => {
      const x = np.array([-2.5, -0.3, 0.4, 1.7, 6], 'float32');
      for (const n of [1, 2, 3]) {
        const g = grad((a: NDArray) => np.sum(np.polygamma(n, a)))(x);
        expect(values(g)).toEqual(values(np.polygamma(n + 1, x)));
        checkGrads((a: NDArray) => np.polygamma(n, a), [np.array([0.6, 1.3, 2.2, 4.5], 'float32')], { order: 2, eps: 1e-3, rtol: 5e-3 });
      }
      let f = (a: NDArray) => np.gammaln(a);
      for (let k = 0; k < 5; k++) { const prev = f; f = (a: NDArray) => grad((b: NDArray) => np.sum(prev(b)))(a); }
      // d⁵/dx⁵ ln Γ = ψ⁽⁴⁾.
      expect(values(f(x))).toEqual(values(np.polygamma(4, x)));
    }));

  it('vmap is the loop over the batch, and jit equals eager', () =>
    onEachBackend(() => {
      const x = np.reshape(np.linspace(-3.3, 9, 12), [3, 4]);
      const f = (a: NDArray) => np.add(np.polygamma(2, a), np.polygamma(5, a));
      const loop = [0, 1, 2].map((i) => values(f(np.index(x, [i]))));
      expect(values(vmap(f)(x))).toEqual(loop.flat());
      const jf = jit(f);
      expect(values(jf(x))).toEqual(values(f(x)));
      jf.clearCache();
    }));
});

describe("np.searchsorted's methods ('scan', 'compare_all', 'sort')", () => {
  /** NumPy's searchsorted by counting, in sort's total order (NaN last and equal to itself; −0 = +0). */
  function searchsortedRef(a: number[], v: number, side: 'left' | 'right'): number {
    const lt = (p: number, q: number) => (Number.isNaN(q) ? !Number.isNaN(p) : p < q);
    return a.filter((e) => (side === 'left' ? lt(e, v) : !lt(v, e))).length;
  }
  const value = fc.oneof(fc.integer({ min: -6, max: 6 }).map((i) => i / 2), fc.constantFrom(NaN, Infinity, -Infinity, -0, 0));
  const sortedArray = fc.array(value, { maxLength: 40 }).map((xs) => [...xs].sort((p, q) => (Number.isNaN(p) ? 1 : Number.isNaN(q) ? -1 : p - q)));
  const methods = ['scan', 'compare_all', 'sort'] as const;

  it('every method agrees with counting on random sorted arrays of any length (ties, NaN, ±inf, −0), both sides, float32 and int32', () =>
    onEachBackend(() => {
      fc.assert(
        fc.property(sortedArray, fc.array(value, { minLength: 1, maxLength: 12 }), fc.constantFrom('left' as const, 'right' as const), (a, vs, side) => {
          const want = vs.map((v) => searchsortedRef(a, v, side));
          const ai = a.filter((e) => Number.isFinite(e)).map((e) => Math.round(e));
          const vi = vs.map((e) => (Number.isFinite(e) ? Math.round(e) : 3));
          for (const method of methods) {
            const got = np.searchsorted(np.array(a, 'float32'), np.array(vs, 'float32'), side, method);
            expect(got.dtype).toBe('int32');
            expect(values(got), `${method} ${side}`).toEqual(want);
            expect(values(np.searchsorted(np.array(ai, 'int32'), np.array(vi, 'int32'), side, method)), `${method} ${side} int32`).toEqual(vi.map((v) => searchsortedRef(ai, v, side)));
          }
        }),
        { seed: FC_SEED, numRuns: 60 },
      );
    }));

  it('binary search takes ⌈log₂(n + 1)⌉ steps: exact at every length around powers of two, for every value position', () =>
    onEachBackend(() => {
      for (const n of [1, 2, 3, 4, 7, 8, 9, 15, 16, 17, 31, 32, 33]) {
        const a = Array.from({ length: n }, (_, i) => i);
        const vs = Array.from({ length: 2 * n + 3 }, (_, i) => i / 2 - 1); // below, on and between every entry, above
        for (const side of ['left', 'right'] as const) {
          expect(values(np.searchsorted(np.array(a, 'float32'), np.array(vs, 'float32'), side, 'scan')), `n = ${n} ${side}`).toEqual(vs.map((v) => searchsortedRef(a, v, side)));
        }
      }
    }));

  it("keeps v's shape (scalars included), and vmap over a or v and jit equal the loop and eager for every method", () =>
    onEachBackend(() => {
      const a = np.array([0, 1, 1, 2, 3, 5, 8], 'float32');
      const vs = np.array([[0.5, 1], [8, -1], [NaN, 1.5]], 'float32');
      for (const method of methods) {
        const got = np.searchsorted(a, vs, 'right', method);
        expect(got.shape).toEqual([3, 2]);
        expect(values(got)).toEqual([1, 3, 7, 0, 7, 3]);
        const scalar = np.searchsorted(a, 1, 'left', method);
        expect(scalar.shape).toEqual([]);
        expect(values(scalar)).toEqual([1]);
        const overV = (x: NDArray) => np.searchsorted(a, x, 'left', method);
        expect(values(vmap(overV)(vs))).toEqual(values(overV(vs)));
        const tables = np.array([[0, 1, 2], [5, 6, 7], [-1, 5.5, 5.5]], 'float32');
        const overA = (s: NDArray) => np.searchsorted(s, np.array([5.5, 1], 'float32'), 'right', method);
        expect(values(vmap(overA)(tables))).toEqual([3, 2, 1, 0, 3, 1]);
        const js = jit((s: NDArray, x: NDArray) => np.searchsorted(s, x, 'left', method));
        expect(values(js(a, vs))).toEqual(values(np.searchsorted(a, vs, 'left', 'compare_all')));
        js.clearCache();
      }
      expect(values(np.searchsorted(np.zeros([0]), np.array([1, 2], 'float32')))).toEqual([0, 0]);
      expect(() => np.searchsorted(a, 1, 'left', 'binary' as 'scan')).toThrow(/^searchsorted: method must be 'scan', 'compare_all' or 'sort', got "binary"$/);
    }));
});

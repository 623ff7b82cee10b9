// The convolutional i-ResNet block with rectangular kernels ([kh, kw] with kh ≠ kw): the kernels it
// builds have the asked shapes; with the spectral norms converged, Lip(g) ≤ c^L by the exact
// operator norms (jacfwd of each convolution and a float64 SVD); the fixed-point inverse recovers
// the input; the exact log-det equals ln|det| of x + g(x) formed independently, and the inverse's
// log-det is its negative; hard mode puts each convolution's exact norm at c.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { flows } from '../models/index.js';
import { jacfwd, jit, np, random, scope, type NDArray } from '../src/index.js';
import { assertNoLeak, noLeak } from './helpers.js';

const maxAbsDiff = (a: NDArray, b: NDArray): number => np.max(np.abs(np.subtract(a, b))).item() as number;

/** A stride-1 'same' convolution's exact operator norm on [h, w] images (its matrix by jacfwd, float64 SVD). */
const exactOperatorNorm = (kernel: NDArray, h: number, w: number): number => scope(() => {
  const cin = kernel.shape[2]!;
  const apply = (v: NDArray) => np.conv2d(v.reshape(1, h, w, cin), kernel, { padding: 'SAME' }).reshape(-1);
  return flows.spectralNormExact(jacfwd(apply)(np.zeros([h * w * cin])));
});

const oddSize = fc.constantFrom(1, 3, 5);
const rectKernel = fc.tuple(oddSize, oddSize).filter(([kh, kw]) => kh !== kw);

describe('convolutional i-ResNet block with rectangular kernels', () => {
  it('builds [kh, kw] kernels; is invertible with Lip(g) ≤ c²; its exact log-det is ln|det| of x + g(x); the inverse log-det is the negative', () => {
    const arbCase = fc.record({
      c: fc.integer({ min: 1, max: 2 }), h: fc.integer({ min: 2, max: 4 }), w: fc.integer({ min: 2, max: 4 }),
      k1: rectKernel, k2: fc.tuple(oddSize, oddSize), seed: fc.integer({ min: 0, max: 1 << 20 }),
    });
    assertNoLeak(fc.property(arbCase, ({ c, h, w, k1, k2, seed }) => {
      scope(() => {
        const key = random.key(seed);
        const block = flows.iresnetConv({ channels: c, hidden: [3], kernelSizes: [k1, k2], initScale: 3 });
        const x = random.normal(key, [2, h, w, c]);
        const { params, state } = block.init(random.foldIn(key, 1), x);
        expect(params.layers.map((l) => l.w.shape)).toEqual([[k1[0], k1[1], c, 3], [k2[0], k2[1], 3, c]]);
        // The normalised kernels' exact norms, formed here independently of lipschitzBound.
        const { layers } = block.normalize(params, state, 300);
        const bound = layers.reduce((acc, l) => acc * exactOperatorNorm(l.w, h, w), 1);
        expect(bound).toBeLessThan(0.9 * 0.9 * 1.001);
        expect(Math.abs(block.lipschitzBound(params, state, 300) - bound)).toBeLessThan(1e-6);
        const fwd = block.forward(params, x, { state, logdet: { method: 'exact' } });
        const inv = block.inverse(params, fwd.y, { state, logdet: { method: 'exact' } });
        expect(inv.converged).toBe(true);
        expect(maxAbsDiff(inv.x, x)).toBeLessThan(1e-5 * (1 + (np.max(np.abs(x)).item() as number)));
        const used = block.normalize(params, state).layers;
        // x + g(x) written out here with np.conv2d, not through the block's residual.
        const f = (v: NDArray) => np.add(v, np.conv2d(np.elu(np.conv2d(v, used[0]!.w, { padding: 'SAME' }).add(used[0]!.b)), used[1]!.w, { padding: 'SAME' }).add(used[1]!.b));
        const exact = flows.exactLogdet(f, x);
        expect(maxAbsDiff(fwd.y, f(x))).toBeLessThan(1e-5);
        expect(maxAbsDiff(fwd.logdet, exact)).toBeLessThan(1e-4);
        expect(maxAbsDiff(inv.logdet, np.negative(fwd.logdet))).toBeLessThan(1e-4);
        return null;
      });
    }), 10);
  });

  it("hard mode puts each rectangular convolution's exact operator norm at c; it runs under jit; even sizes are refused", () => {
    noLeak(() => {
      const key = random.key(3);
      const block = flows.iresnetConv({ channels: 2, hidden: [3, 2], kernelSizes: [[1, 3], [5, 1], [3, 5]], mode: 'hard', coeff: 0.8 });
      const x = random.normal(key, [2, 4, 5, 2]);
      const { params, state } = block.init(random.foldIn(key, 1), x);
      const { layers } = block.normalize(params, state, 300);
      for (const l of layers) expect(Math.abs(exactOperatorNorm(l.w, 4, 5) - 0.8)).toBeLessThan(1e-3);
      const eager = block.forward(params, x, { state, logdet: { method: 'exact' } });
      const jitted = jit((p: typeof params, s: typeof state, v: NDArray) => block.forward(p, v, { state: s, logdet: { method: 'exact' } }).logdet);
      expect(maxAbsDiff(jitted(params, state, x), eager.logdet)).toBeLessThan(1e-4);
      jitted.clearCache();
      expect(() => flows.iresnetConv({ channels: 2, hidden: [3], kernelSizes: [[3, 2], 3] })).toThrow(/odd kernel sizes.*\[\[3,2\],3\]/);
      expect(() => flows.iresnetConv({ channels: 2, hidden: [3], kernelSizes: [[3, 3, 3] as unknown as [number, number], 3] })).toThrow(/odd kernel sizes/);
    });
  });
});

// vqvae.emaUpdate refuses concrete codebook indices outside [0, K) with an error naming the
// function, the index and the range, as crf refuses bad tags: np.oneHot gives such an index an
// all-zero row, so the vector was dropped from the update without a word. Traced indices (under
// jit or vmap) cannot be read; there an out-of-range index is dropped, as jax.nn.one_hot does.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as vq from '../models/vqvae.js';
import { jit, np, random, vmap, type NDArray } from '../src/index.js';
import { assertNoLeak, expectClose, noLeak } from './helpers.js';

describe('vqvae.emaUpdate with codebook indices out of range', () => {
  it('refuses a concrete index < 0 or ≥ K, naming it and the codebook size', () => {
    const caseArb = fc.record({ K: fc.integer({ min: 1, max: 5 }), N: fc.integer({ min: 1, max: 6 }), at: fc.nat(5), bad: fc.oneof(fc.integer({ min: -3, max: -1 }), fc.integer({ min: 0, max: 3 })), seed: fc.nat(1000) });
    assertNoLeak(caseArb, ({ K, N, at, bad, seed }) => {
      const value = bad < 0 ? bad : K + bad;
      const z = random.normal(random.key(seed), [N, 2]), state = vq.emaInit(random.normal(random.key(seed + 1), [K, 2]));
      const idx = np.array(Array.from({ length: N }, (_, i) => (i === at % N ? value : i % K)), 'int32');
      expect(() => vq.emaUpdate(state, z, idx)).toThrow(RangeError);
      expect(() => vq.emaUpdate(state, z, idx)).toThrow(new RegExp(`^vqvae\\.emaUpdate: index ${value} is out of range for ${K} codebook entries; expected integers in \\[0, ${K - 1}\\]`));
    }, 20);
  });

  it('accepts the indices 0 and K − 1, and a batch of indices [B, N] for z [B, N, d]', () => {
    noLeak(() => {
      const z = random.normal(random.key(1), [2, 3, 2]), state = vq.emaInit(random.normal(random.key(2), [4, 2]));
      const idx = [[0, 3, 1], [2, 2, 3]];
      const a = vq.emaUpdate(state, z, np.array(idx, 'int32')).codebook;
      expect(a.shape).toEqual([4, 2]);
    });
  });

  it('traced indices are not read: under jit and vmap an out-of-range one is dropped (its one-hot row is 0), as in JAX', () => {
    noLeak(() => {
      const z = random.normal(random.key(1), [3, 2]), state = vq.emaInit(random.normal(random.key(2), [2, 2]));
      const f = jit((i: NDArray) => vq.emaUpdate(state, z, i, 0.5).codebook);
      // Index 5 is out of range for K = 2: the third vector takes no part, as if it were absent.
      const want = vq.emaUpdate(state, z.at([0, 2]), np.array([0, 1], 'int32'), 0.5).codebook;
      expectClose(f(np.array([0, 1, 5], 'int32')), want, { rtol: 1e-5, atol: 1e-6, label: 'jit' });
      const batched = vmap((i: NDArray) => vq.emaUpdate(state, z, i, 0.5).codebook)(np.array([[0, 1, 5]], 'int32'));
      expectClose(batched.at(0), want, { rtol: 1e-5, atol: 1e-6, label: 'vmap' });
      f.clearCache();
    });
  });
});

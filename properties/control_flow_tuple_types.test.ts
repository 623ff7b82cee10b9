// Tuple carries type-check without casts, as a JAX user writes them (found dogfooding: in strict
// TypeScript, `scan((c: [NDArray, NDArray], x) => [[h, s], y], [h0, s0], xs)` did not compile —
// the init list was inferred as NDArray[], so the body's annotated tuple did not match, and the
// carry the body returned was an NDArray[]; the same for foriLoop and whileLoop). The type
// assertions are checked by tsc over properties/ (`npm run typecheck`); the run-time bodies check
// the values sit where the types say.
import { describe, expect, expectTypeOf, it } from 'vitest';
import { foriLoop, np, scan, scope, whileLoop, type NDArray } from '../src/index.js';

describe('control flow with tuple carries, without casts', () => {
  it('scan: an annotated tuple carry, an unannotated one, a tuple with a number leaf', () => {
    scope(() => {
      const xs = np.array([[1, 2], [3, 4], [5, 6]], 'float32');
      const [carry, ys] = scan((c: [NDArray, NDArray], x: NDArray) => [[c[0].add(x), c[1].mul(2)], np.sum(x)], [np.zeros([2]), np.ones([2])], xs);
      expectTypeOf(carry).toEqualTypeOf<[NDArray, NDArray]>();
      expectTypeOf(ys).toEqualTypeOf<NDArray>();
      expect(carry[0].toArray()).toEqual([9, 12]);
      expect(carry[1].toArray()).toEqual([8, 8]);
      expect(ys.toArray()).toEqual([3, 7, 11]);

      const [c2, y2] = scan((c, x: NDArray) => [[c[0].add(x), c[1]], c[0]], [np.zeros([2]), np.ones([2])], xs);
      expectTypeOf(c2).toEqualTypeOf<[NDArray, NDArray]>();
      expectTypeOf(y2).toEqualTypeOf<NDArray>();
      expect(y2.shape).toEqual([3, 2]);

      // A JS-number leaf comes back as an array (ArraysOf), in the body too.
      const [c3] = scan((c, x: NDArray) => [[c[0].add(np.sum(x)), c[1].add(1)], null], [np.zeros([]), 0], xs);
      expectTypeOf(c3).toEqualTypeOf<[NDArray, NDArray]>();
      expect(c3[1].item()).toBe(3);

      // Dict carries and bare-array carries are unchanged.
      const [c4] = scan((c, x: NDArray) => [{ h: c.h.add(x), n: c.n.add(1) }, null], { h: np.zeros([2]), n: 0 }, xs);
      expectTypeOf(c4).toEqualTypeOf<{ h: NDArray; n: NDArray }>();
      const [c5] = scan((c, x: NDArray) => [c.add(np.sum(x)), null], 0, xs);
      expectTypeOf(c5).toEqualTypeOf<NDArray>();
      expect(c5.item()).toBe(21);
    });
  });

  it('foriLoop and whileLoop: tuple carries', () => {
    scope(() => {
      const fl = foriLoop(0, 3, (i, c: [NDArray, NDArray]) => [c[0].add(i), c[1].mul(2)], [np.zeros([2]), np.ones([2])]);
      expectTypeOf(fl).toEqualTypeOf<[NDArray, NDArray]>();
      expect(fl[0].toArray()).toEqual([3, 3]);
      expect(fl[1].toArray()).toEqual([8, 8]);
      const fl2 = foriLoop(0, 3, (i, c) => [c[0].add(i), c[1]], [np.zeros([]), 1]);
      expectTypeOf(fl2).toEqualTypeOf<[NDArray, NDArray]>();

      const wl = whileLoop((c: [NDArray, NDArray]) => np.less(c[0], 3), (c: [NDArray, NDArray]) => [c[0].add(1), c[1].mul(2)], [np.array(0), np.ones([2])]);
      expectTypeOf(wl).toEqualTypeOf<[NDArray, NDArray]>();
      expect(wl[1].toArray()).toEqual([8, 8]);
      const wl2 = whileLoop((c) => np.less(c[0], 3), (c) => [c[0].add(1), c[1].mul(2)], [0, np.ones([2])]);
      expectTypeOf(wl2).toEqualTypeOf<[NDArray, NDArray]>();
      expect(wl2[0].item()).toBe(3);
    });
  });
});

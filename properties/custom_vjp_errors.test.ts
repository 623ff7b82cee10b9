// customVjp's bwd errors name the argument and the path of the offending cotangent leaf inside it,
// and say what to return for an integer argument (found dogfooding: the message named only a flat
// "leaf k" and expected an i32[] cotangent, though an integer argument takes null).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ShapeError, TransformError, customVjp, grad, jit, np, vmap, type Cotangent, type NDArray } from '../src/index.js';
import { noLeak } from './helpers.js';

type P = { w: NDArray; b: [NDArray, NDArray] };

describe('customVjp bwd cotangent errors', () => {
  it('a wrongly shaped cotangent leaf is named by argument and path', () => {
    noLeak(() => {
      const f = customVjp(
        (p: P, s: NDArray) => np.sum(p.w).add(np.sum(p.b[1])).mul(s),
        (p: P, s: NDArray) => [np.sum(p.w).add(np.sum(p.b[1])).mul(s), [p, s]] as [NDArray, [P, NDArray]],
        ([p, s], g) => [{ w: p.w.mul(g).mul(s), b: [p.b[0].mul(0), np.ones([5])] as [NDArray, NDArray] }, g],
      );
      const p: P = { w: np.ones([2]), b: [np.ones([3]), np.ones([4])] };
      expect(() => grad((q: P) => f(q, np.array(2, 'float32')))(p)).toThrowError(ShapeError);
      expect(() => grad((q: P) => f(q, np.array(2, 'float32')))(p)).toThrowError(/^customVjp\(\w+\): bwd's cotangent for argument 0 has shape f32\[5\]; expected f32\[4\] \(the leaf at \.b\[1\] of argument 0\)$/);
    });
  });

  it('a cotangent given for an integer argument says to return null for it, and null works', () => {
    noLeak(() => {
      const x = np.array([0.3, -0.7, 1.1], 'float32');
      const bad = customVjp((a: NDArray, n: NDArray) => a.mul(n), (a: NDArray, n: NDArray) => [a.mul(n), n] as [NDArray, NDArray], (n: NDArray, g: NDArray) => [g.mul(n), g]);
      expect(() => grad((a: NDArray) => np.sum(bad(a, np.array(2, 'int32'))))(x)).toThrowError(/argument 1 has shape f32\[3\]; expected i32\[\].*integer or bool argument has no cotangent: return null/);
      const good = customVjp((a: NDArray, n: NDArray) => a.mul(n), (a: NDArray, n: NDArray) => [a.mul(n), n] as [NDArray, NDArray], (n: NDArray, g: NDArray) => [g.mul(n), null]);
      expect(Array.from(grad((a: NDArray) => np.sum(good(a, np.array(2, 'int32'))))(x).dataSync())).toEqual([2, 2, 2]);
    });
  });

  it('null for any subtree of an argument is a zero cotangent there (JAX reads None so); structures that differ otherwise are still refused', () => {
    // bwd's cotangent for q = { w, b: [b0, b1] }: each of w, b, b0, b1 is given, or null (b null covers
    // b0 and b1); for the second argument { n } (an int32 leaf), { n: null }. The gradient must be the
    // full one with zeros where null.
    type Q = { w: NDArray; b: [NDArray, NDArray] };
    const scales = { w: 2, b0: 3, b1: 5 };
    const choices = fc.record({ w: fc.boolean(), b: fc.constantFrom('given', 'null', 'undefined'), b0: fc.boolean(), b1: fc.boolean() });
    fc.assert(
      fc.property(choices, fc.constantFrom('eager', 'jit', 'vmap'), (c, mode) => {
        noLeak(() => {
          const f = customVjp(
            (q: Q, _i: { n: NDArray }) => np.sum(q.w).add(np.sum(q.b[0])).add(np.sum(q.b[1])),
            (q: Q, _i: { n: NDArray }) => [np.sum(q.w).add(np.sum(q.b[0])).add(np.sum(q.b[1])), q] as [NDArray, Q],
            (q: Q, g: NDArray) => {
              const part = (keep: boolean, x: NDArray, k: number) => (keep ? np.multiply(np.onesLike(x), np.multiply(g, k)) : null);
              // (undefined is taken as null at run time; the type says null.)
              const b: Cotangent<Q['b']> = c.b === 'null' ? null : c.b === 'undefined' ? (undefined as unknown as null) : [part(c.b0, q.b[0], scales.b0), part(c.b1, q.b[1], scales.b1)];
              return [{ w: part(c.w, q.w, scales.w), b }, { n: null }];
            },
          );
          const q = (x: NDArray): Q => ({ w: np.multiply(np.ones([2]), x), b: [np.multiply(np.ones([3]), x), np.multiply(np.ones([1, 2]), x)] });
          const gradAt = (x: NDArray) => {
            const gq = grad((p: Q) => f(p, { n: np.array(4, 'int32') }))(q(x));
            return [gq.w, gq.b[0], gq.b[1]].map((a) => np.reshape(a, [-1]));
          };
          const x = np.array(1.5, 'float32');
          const jitted = jit(gradAt);
          const got = mode === 'eager' ? gradAt(x) : mode === 'jit' ? jitted(x) : vmap(gradAt)(np.stack([x, x])); // (two equal rows per leaf)
          const bGiven = c.b === 'given';
          const want = [c.w ? scales.w : 0, bGiven && c.b0 ? scales.b0 : 0, bGiven && c.b1 ? scales.b1 : 0];
          got.forEach((a, k) => expect(Array.from(a.dataSync()), `${mode} ${JSON.stringify(c)} leaf ${k}`).toEqual(new Array(a.size).fill(want[k])));
          jitted.clearCache();
        });
      }),
      { seed: 42, numRuns: 30 },
    );
    noLeak(() => {
      const p = { w: np.ones([2]), b: [np.ones([3]), np.ones([4])] as [NDArray, NDArray] };
      const withCotangent = (ct: unknown) =>
        customVjp((q: typeof p) => np.sum(q.w), (q: typeof p) => [np.sum(q.w), null] as [NDArray, null], () => [ct as never]);
      // A leaf where the argument has a subtree, a subtree where it has a leaf, a missing key: refused, naming both structures.
      for (const ct of [{ w: np.ones([2]), b: np.ones([3]) }, { w: [np.ones([2])], b: null }, { b: null }]) {
        const g = () => grad(withCotangent(ct))(p);
        expect(g, JSON.stringify(Object.keys(ct))).toThrowError(TransformError);
        expect(g).toThrowError(/bwd's cotangent 0 has structure .*, expected \{b: \[\*, \*\], w: \*\} \(like argument 0; null stands for a zero subtree\)/);
      }
      // The shape errors under a given subtree still name the path.
      expect(() => grad(withCotangent({ w: null, b: [null, np.ones([5])] }))(p)).toThrowError(/bwd's cotangent for argument 0 has shape f32\[5\]; expected f32\[4\] \(the leaf at \.b\[1\] of argument 0\)$/);
    });
  });
});

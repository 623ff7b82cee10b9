// customVjp's bwd errors name the argument and the path of the offending cotangent leaf inside it,
// and say what to return for an integer argument (found dogfooding: the message named only a flat
// "leaf k" and expected an i32[] cotangent, though an integer argument takes null).
import { describe, expect, it } from 'vitest';
import { ShapeError, customVjp, grad, np, type NDArray } from '../src/index.js';
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
});

// Errors about one leaf of a pytree say where the leaf sits (found dogfooding: jvp, linearize, the
// vjp pullback, customJvp's rule and customVjp's fwd named a flat leaf number, "tangent 1", which
// in { w, b: [_, _] } is .b[0] — nobody can guess that). Each message keeps its leaf number and
// adds the leaf's path in the tree it was given.
import { describe, expect, it } from 'vitest';
import { customJvp, customVjp, grad, jvp, linearize, np, vjp, vmap, type NDArray } from '../src/index.js';
import { noLeak } from './helpers.js';

type P = { w: NDArray; b: [NDArray, NDArray] };
const good = (): P => ({ w: np.ones([2]), b: [np.ones([3]), np.ones([4])] });
const bad = (): P => ({ w: np.ones([2]), b: [np.ones([3]), np.ones([5])] });
const badInt = (): P => ({ w: np.ones([2]), b: [np.ones([3]), np.ones([4], 'int32')] });

describe('errors name the path of the offending leaf', () => {
  it('jvp: tangent shape and dtype', () => {
    noLeak(() => {
      expect(() => jvp((q: P) => np.sum(q.w), [good()], [bad()])).toThrow(/jvp: tangent 1 is f32\[5\] but its primal is f32\[4\].*the leaf at \[0\]\.b\[1\] of the tangents/);
      expect(() => jvp((a: NDArray, q: P) => np.sum(q.w), [np.ones([2]), good()], [np.ones([2]), badInt()])).toThrow(/jvp: tangent 2 is i32\[4\].*the leaf at \[1\]\.b\[1\] of the tangents/);
    });
  });

  it('linearize: tangent shape', () => {
    noLeak(() => {
      const [, lin] = linearize((q: P) => q, good());
      expect(() => lin(bad())).toThrow(/linearize: tangent 1 is f32\[5\].*the leaf at \[0\]\.b\[1\] of the tangents/);
      lin.dispose();
    });
  });

  it('vjp pullback: cotangent shape', () => {
    noLeak(() => {
      const [, pb] = vjp((q: P) => q, good());
      expect(() => pb(bad())).toThrow(/vjp pullback: cotangent 1 has shape f32\[5\] but the output is f32\[4\].*the leaf at \.b\[1\] of the cotangent/);
      pb.dispose();
    });
  });

  it("customJvp: the rule's primal and tangent outputs", () => {
    noLeak(() => {
      expect(() => jvp(customJvp((q: P) => q, ([q], [_t]) => [q, bad()]), [good()], [good()])).toThrow(/tangent output 1 has shape and dtype f32\[5\]; expected f32\[4\].*the leaf at \.b\[1\] of the rule's tangent output/);
      expect(() => jvp(customJvp((q: P) => q, ([_q], [t]) => [bad(), t]), [good()], [good()])).toThrow(/primal output 1 is f32\[5\]; expected f32\[4\].*the leaf at \.b\[1\] of the rule's primal output/);
    });
  });

  it("customVjp: fwd's output", () => {
    noLeak(() => {
      const f = customVjp((r: P) => r, (_r: P) => [bad(), null] as [P, null], (_n: null, g: P) => [g]);
      expect(() => grad((q: P) => np.sum(f(q).w))(good())).toThrow(/fwd's output 1 is f32\[5\] but f's is f32\[4\].*the leaf at \.b\[1\] of fwd's output/);
    });
  });
});

describe('vmap output errors name the path of the offending output leaf', () => {
  it('a batched output whose outAxes entry is null, and an outAxes entry out of range', () => {
    noLeak(() => {
      const x = np.ones([2, 3]);
      const f = (a: NDArray) => ({ w: np.sum(a), b: [a, a.mul(2)] as [NDArray, NDArray] });
      expect(() => vmap(f, { outAxes: { w: 0, b: [0, null] } })(x)).toThrow(/vmap: output 1 .*the leaf at \.b\[1\] of the output.*outAxes entry is null/);
      expect(() => vmap(f, { outAxes: { w: 0, b: [0, 3] } })(x)).toThrow(/vmap: outAxes 3 is out of range .*for output 1 \(the leaf at \.b\[1\] of the output\)/);
    });
  });
});

// Nested jit functions share the constants their traces made: clearing one function's cache must
// not break another cached program that replays the same constants (found dogfooding: after
// `inner.clearCache()`, a cached `outer = jit(x => ... inner(x) ...)` threw a DisposedError about
// "an array the function closed over", though the user closed over nothing). Each constant is
// freed when the last cache holding it is cleared: any order of calls and clears computes what
// eager code computes, and clearing every cache leaves no tensor behind.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { dispose, grad, jit, np, scope, vmap, type NDArray } from '../src/index.js';
import { FC_SEED, expectClose, numTensors } from './helpers.js';

// Each body makes a constant while it is traced (np.array inside f), which its jit cache owns.
const innerF = (a: NDArray) => np.sin(a).mul(np.array([1, 2, 3], 'float32'));
const middleF = (inner: (a: NDArray) => NDArray) => (a: NDArray) => inner(a).add(np.array([0.5, -1, 2], 'float32'));
const outerF = (inner: (a: NDArray) => NDArray, middle: (a: NDArray) => NDArray) => (a: NDArray) => np.sum(middle(a).mul(inner(a)));

/** The three functions eagerly, and the three jitted with each calling the jitted ones below it. */
function chain() {
  const inner = jit(innerF);
  const middle = jit(middleF(inner));
  const outer = jit(outerF(inner, middle));
  const eager = [innerF, middleF(innerF), outerF(innerF, middleF(innerF))];
  return { jitted: [inner, middle, outer], eager };
}

describe('jit caches of nested functions', () => {
  it('an outer jit keeps working after the inner function clears its cache, traced before or after the inner one', () => {
    const before = numTensors();
    const x = np.array([0.3, -0.7, 1.1], 'float32');
    for (const innerFirst of [false, true]) {
      const { jitted: [inner, middle, outer], eager } = chain();
      const want = scope(() => eager[2]!(x).dataSync()[0]!);
      if (innerFirst) scope(() => void inner!(x)); // the inner constants then exist before outer is traced
      scope(() => expectClose(outer!(x), want, { rtol: 1e-6, label: 'outer before clearing inner' }));
      inner!.clearCache();
      scope(() => expectClose(outer!(x), want, { rtol: 1e-6, label: 'outer after inner.clearCache()' }));
      scope(() => expectClose(grad(outer!)(x), grad(eager[2]!)(x), { rtol: 1e-5, label: 'grad(outer) after inner.clearCache()' }));
      scope(() => expectClose(vmap(outer!)(np.stack([x, x.mul(2)])), vmap(eager[2]!)(np.stack([x, x.mul(2)])), { rtol: 1e-5, label: 'vmap(outer)' }));
      // The inner function retraces on its next call and still agrees.
      scope(() => expectClose(inner!(x), eager[0]!(x), { rtol: 1e-6, label: 'inner after its clearCache()' }));
      outer!.clearCache();
      inner!.clearCache();
      scope(() => expectClose(inner!(x), eager[0]!(x), { rtol: 1e-6, label: 'inner after outer.clearCache()' }));
      inner!.clearCache();
      middle!.clearCache();
    }
    dispose(x);
    expect(numTensors()).toBe(before);
  });

  it('any sequence of calls and clearCache() over three nested jits agrees with eager code, and clearing all frees every constant', () => {
    const action = fc.record({ clear: fc.boolean(), which: fc.integer({ min: 0, max: 2 }) });
    fc.assert(
      fc.property(fc.array(action, { minLength: 1, maxLength: 12 }), (actions) => {
        const before = numTensors();
        const { jitted, eager } = chain();
        const x = np.array([0.3, -0.7, 1.1], 'float32');
        try {
          for (const { clear, which } of actions) {
            if (clear) jitted[which]!.clearCache();
            else scope(() => expectClose(jitted[which]!(x), eager[which]!(x), { rtol: 1e-6, label: `function ${which} after ${JSON.stringify(actions)}` }));
          }
        } finally {
          for (const j of jitted) j.clearCache();
          dispose(x);
        }
        expect(numTensors(), `tensors left after clearing every cache (${JSON.stringify(actions)})`).toBe(before);
      }),
      { seed: FC_SEED, numRuns: 40 },
    );
  });
});

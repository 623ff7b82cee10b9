// np.nanmean / np.nanmax / np.nanmin compute the NaN mask once: the traced program holds one isnan
// (`ne x x`) per call, whatever the axis, keepdims or input dtype. (Their values, gradients and
// batching are checked against NumPy's semantics in np_extras.test.ts.)
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { makeJaxpr, np, type NDArray } from '../src/index.js';
import { FC_SEED, noLeak } from './helpers.js';

type Eqn = { prim: string; inputs: unknown[] };

/** isnan is `ne x x`: equations comparing an operand with itself. */
const isnanCount = (eqns: readonly Eqn[]) => eqns.filter((e) => e.prim === 'ne' && e.inputs.length === 2 && e.inputs[0] === e.inputs[1]).length;

describe('nanmean, nanmax, nanmin', () => {
  it('trace one isnan per call (it was two: one for the fill, one for the count or the all-NaN test)', () =>
    noLeak(() => {
      fc.assert(
        fc.property(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.constantFrom(0, 1, -1, undefined), fc.boolean(), (r, c, axis, keepdims) => {
          const x = np.reshape(np.array(Array.from({ length: r * c }, (_, i) => (i % 3 === 1 ? NaN : i)), 'float32'), [r, c]);
          for (const [name, f] of [['nanmean', np.nanmean], ['nanmax', np.nanmax], ['nanmin', np.nanmin]] as const) {
            const prog = makeJaxpr((a: NDArray) => f(a, axis, keepdims))(x);
            expect(isnanCount(prog.jaxpr.eqns as unknown as Eqn[]), `${name} axis ${axis}:\n${prog}`).toBe(1);
          }
        }),
        { seed: FC_SEED, numRuns: 12 },
      );
      // An int32 input: nanmean casts and masks once; nanmax/nanmin have nothing to mask.
      const ints = np.array([[1, 2], [3, 5]], 'int32');
      expect(isnanCount(makeJaxpr((a: NDArray) => np.nanmean(a, 0))(ints).jaxpr.eqns as unknown as Eqn[])).toBe(1);
      expect(isnanCount(makeJaxpr((a: NDArray) => np.nanmax(a, 0))(ints).jaxpr.eqns as unknown as Eqn[])).toBe(0);
    }));
});

// gradus/testing's own checks: checkGrads must reject derivatives that are slightly wrong (mutants
// built with customJvp/customVjp: off by 1 %, sign-flipped, wrong only in one output leaf, only at
// second order), refuse settings under which it could not tell (a tiny eps, NaN tolerances), say so
// where finite differences leave f's domain, and still accept correct derivatives; the arbitraries
// refuse ranges they cannot sample instead of hanging.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { customJvp, customVjp, np, stopGradient, type NDArray } from '../src/index.js';
import { GradCheckError, arbScalar, checkGrads, numericalJvp } from '../src/testing/index.js';
import { FC_SEED, inScope } from './helpers.js';

/** sin with its JVP scaled by k (k = 1 is correct). */
const sinJvp = (k: number) => customJvp((x: NDArray) => np.sin(x), ([x]: NDArray[], [t]: NDArray[]) => [np.sin(x!), np.multiply(np.multiply(t!, np.cos(x!)), k)] as [NDArray, NDArray]);
/** sin with its VJP scaled by k. */
const sinVjp = (k: number) => customVjp((x: NDArray) => np.sin(x), (x: NDArray) => [np.sin(x), x] as [NDArray, NDArray], (x: NDArray, ct: NDArray) => [np.multiply(np.multiply(ct, np.cos(x)), k)]);
const points = (n: number) => np.sin(np.multiply(np.arange(0, n, 1, 'float32'), 0.37)); // values in [-1, 1]

describe('checkGrads rejects wrong derivatives', () => {
  it('a 1 % error in reverse mode, however many elements (the tolerance is relative to the inner product, not to Σ|terms|)', () => {
    inScope(() => {
      for (const n of [1, 10, 100, 1000]) {
        const x = points(n);
        expect(() => checkGrads((v: NDArray) => np.sum(sinVjp(1.01)(v)), [x], { modes: ['rev'] }), `sum, n = ${n}`).toThrow(GradCheckError);
        expect(() => checkGrads(sinVjp(1.01), [x], { modes: ['rev'] }), `elementwise, n = ${n}`).toThrow(/reverse mode at output out disagrees/);
        expect(() => checkGrads(sinJvp(1.01), [x], { modes: ['fwd'] }), `jvp, n = ${n}`).toThrow(GradCheckError);
        checkGrads(sinVjp(1), [x], { modes: ['rev'] });
        checkGrads(sinJvp(1), [x]);
      }
    });
  });

  it('an error in a small output leaf next to a large one, in both modes', () => {
    inScope(() => {
      const x = points(4);
      // Outputs of very different sizes: each leaf is compared at its own scale.
      const twoScales = (k: number) => (v: NDArray) => [np.multiply(np.sin(v), 100), np.multiply(sinJvp(k)(v), 0.01)];
      const twoScalesRev = (k: number) => (v: NDArray) => [np.multiply(np.sin(v), 100), np.multiply(sinVjp(k)(v), 0.01)];
      expect(() => checkGrads(twoScales(-1), [x], { modes: ['fwd'] })).toThrow(/at out\[1\]/);
      expect(() => checkGrads(twoScales(2), [x], { modes: ['fwd'] })).toThrow(/at out\[1\]/);
      expect(() => checkGrads(twoScalesRev(-1), [x], { modes: ['rev'] })).toThrow(/reverse mode at output out\[1\]/);
      checkGrads(twoScales(1), [x]);
      // A large constant beside the loss does not widen the loss's tolerance.
      const withCount = (k: number) => (v: NDArray) => ({ loss: np.sum(sinVjp(k)(v)), count: np.full([], 1e5, 'float32') });
      expect(() => checkGrads(withCount(-1), [x], { modes: ['rev'] })).toThrow(/output out\.loss/);
      checkGrads(withCount(1), [x], { modes: ['rev'] });
    });
  });

  it('a wrong second derivative, through jvp and through vjp', () => {
    inScope(() => {
      const x = points(30);
      // d/dx of the JVP rule cos(x)·t: the rule's own derivative is what order 2 checks.
      const wrongSecond = customJvp((v: NDArray) => np.sin(v), ([v]: NDArray[], [t]: NDArray[]) => [np.sin(v!), np.multiply(t!, np.add(np.cos(v!), np.multiply(np.subtract(v!, stopGradient(v!)), 0.05)))] as [NDArray, NDArray]);
      checkGrads(wrongSecond, [x], { order: 1 }); // right at first order (the extra term is 0 there)
      expect(() => checkGrads(wrongSecond, [x], { order: 2, modes: ['fwd'] })).toThrow(/order 2/);
      expect(() => checkGrads(wrongSecond, [x], { order: 2, modes: ['rev'] })).toThrow(/order 2/);
    });
  });
});

describe('checkGrads accepts correct derivatives', () => {
  it('of losses that are small differences of large intermediates (a confident cross-entropy, a naive variance), over many seeds', () => {
    inScope(() => {
      const target = np.array([1, 0, 0, 0, 0], 'float32');
      const crossEntropy = (z: NDArray) => np.subtract(np.logsumexp(z), np.sum(np.multiply(z, target)));
      const naiveVariance = (x: NDArray) => np.subtract(np.mean(np.square(x)), np.square(np.mean(x)));
      const logits = np.add(np.multiply(points(5), 0.5), np.multiply(target, 6));
      const offset = np.add(points(50), 3);
      for (let seed = 0; seed < 15; seed++) {
        checkGrads(crossEntropy, [logits], { order: 2, seed });
        checkGrads(naiveVariance, [offset], { order: 1, seed });
      }
    });
  });
});

describe('checkGrads refuses to pass what it cannot check', () => {
  it('a step so small that float32 rounding swamps the difference, and invalid tolerances', () => {
    inScope(() => {
      const x = points(3);
      for (const eps of [1e-5, 1e-6, 1e-30]) expect(() => checkGrads(sinJvp(-1), [x], { eps })).toThrow(/eps .* is too small for float32 finite differences/);
      for (const options of [{ eps: 0 }, { eps: NaN }, { rtol: NaN }, { atol: NaN }, { atol: -1 }]) expect(() => checkGrads(sinJvp(1), [x], options), JSON.stringify(options)).toThrow(GradCheckError);
      expect(() => checkGrads(sinJvp(1), [x], { fdOrder: 3 as 2 })).toThrow(/fdOrder must be 2 or 4/);
      expect(() => checkGrads(sinJvp(1), [x], { seed: 0.5 })).toThrow(/seed must be an integer/);
      // JAX's float64 default step is still usable (with a noise allowance of a few percent of f).
      checkGrads(sinJvp(1), [x], { eps: 1e-4 });
      expect(() => checkGrads(sinJvp(-1), [x], { eps: 1e-4 })).toThrow(GradCheckError);
    });
  });

  it('finite differences that leave f\'s domain are a failure that says so, wherever the element is', () => {
    inScope(() => {
      const logJvp = (k: number) => customJvp((v: NDArray) => np.log(v), ([v]: NDArray[], [t]: NDArray[]) => [np.log(v!), np.multiply(np.divide(t!, v!), k)] as [NDArray, NDArray]);
      for (const values of [[0.001, 1, 2, 3], [1, 2, 3, 0.001]]) {
        const x = np.array(values, 'float32');
        for (const k of [1, 5]) expect(() => checkGrads(logJvp(k), [x], { modes: ['fwd'] }), `${values} ×${k}`).toThrow(/cannot be checked .* leaves f's domain/);
      }
      expect(() => numericalJvp(np.sin, [np.zeros([3])], [np.zeros([2])])).toThrow(/numericalJvp: the tangent at .* has shape \[2\]/);
    });
  });

  it('an argument leaf that is not an array names its class with the right article ("an Int32Array", not "a Int32Array")', () => {
    expect(() => checkGrads(np.sum, [new Int32Array(2) as never])).toThrow(/^checkGrads: the argument leaf at args\[0\] is an Int32Array; expected/);
    expect(() => checkGrads(np.sum, [new Float32Array(2) as never])).toThrow(/^checkGrads: the argument leaf at args\[0\] is a Float32Array; expected/);
    expect(() => checkGrads(np.sum, ['x' as never])).toThrow(/^checkGrads: the argument leaf at args\[0\] is a string; expected/);
  });
});

describe('arbitraries refuse ranges they cannot sample', () => {
  it('int32 with an unreachable minAbs, a range without a grid point; bounds are inclusive on the grid', () => {
    expect(() => arbScalar({ dtype: 'int32', min: -2, max: 2, minAbs: 5 })).toThrow(/no integer in \[-2, 2\] has \|x\| >= 5/);
    expect(() => arbScalar({ min: 0.3, max: 0.3, resolution: 0.25 })).toThrow(/no multiple of the resolution 0.25 lies in \[0.3, 0.3\]/);
    const seen = new Set<number>();
    fc.assert(fc.property(arbScalar({ min: -0.3, max: 0.3, resolution: 0.1 }), (v) => void seen.add(Math.round(v * 10))), { seed: FC_SEED, numRuns: 300 });
    expect([...seen].sort((a, b) => a - b)).toEqual([-3, -2, -1, 0, 1, 2, 3]);
  });
});

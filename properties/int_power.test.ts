// Integer powers (np.power on int32) with negative exponents. NumPy refuses them ("Integers to
// negative integer powers are not allowed"); JAX refuses a static negative exponent under jit too
// (lax.integer_pow's dtype rule: "Integers cannot be raised to negative powers") and leaves a traced
// one undefined. gradus refuses every exponent whose values are known when the op is built, eagerly
// and under jit alike (a JS number, or an array closed over, of any rank), and gives a traced one the
// integer part of the real power: 1 for 1, ±1 for −1, 0 otherwise. Non-negative powers are exact
// (int32 wraps), under jit as eagerly.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ValueError, dispose, jit, np, vmap, type NDArray } from '../src/index.js';
import { FC_SEED, numTensors } from './helpers.js';

/** The int32 power by exact integer arithmetic, wrapping; for negative exponents the integer part of the real power. */
function reference(x: number, e: number): number {
  if (e < 0) return x === 1 ? 1 : x === -1 ? (e % 2 === 0 ? 1 : -1) : 0;
  return Number(BigInt.asIntN(32, BigInt(x) ** BigInt(e)));
}

describe('np.power on int32 with negative exponents', () => {
  it('a known negative exponent is a ValueError naming power eagerly and under jit: a JS number, a same-rank and a lower-rank array closed over', () => {
    const x = np.array([[2, 3], [-1, 1]], 'int32');
    const sameRank = np.array([[1, -2]], 'int32'), lowerRank = np.array([1, -2], 'int32'), scalar = np.array(-1, 'int32');
    const exponents: [string, number | NDArray][] = [['a JS number', -1], ['a same-rank array', sameRank], ['a lower-rank array', lowerRank], ['a 0-d array', scalar]];
    for (const [what, e] of exponents) {
      const before = numTensors();
      const message = /^power: integers to negative integer powers are not allowed/;
      expect(() => np.power(x, e), `eager, ${what}`).toThrow(ValueError);
      expect(() => np.power(x, e), `eager, ${what}`).toThrow(message);
      const f = jit((y: NDArray) => np.power(y, e));
      expect(() => f(x), `jit, ${what}`).toThrow(ValueError);
      expect(() => f(x), `jit, ${what}`).toThrow(message);
      expect(numTensors(), what).toBe(before);
    }
    dispose([x, sameRank, lowerRank, scalar]);
  });

  it('a traced exponent gives the integer part of the real power (negative) or the exact wrapped power, under jit and vmap, as eagerly where eager allows it', () => {
    const arbCase = fc.array(fc.tuple(fc.integer({ min: -4, max: 4 }), fc.integer({ min: -5, max: 40 })), { minLength: 1, maxLength: 12 });
    const f = jit((a: NDArray, b: NDArray) => np.power(a, b));
    const g = vmap((a: NDArray, b: NDArray) => np.power(a, b));
    fc.assert(fc.property(arbCase, (pairs) => {
      const before = numTensors();
      const a = np.array(pairs.map(([x]) => x), 'int32'), b = np.array(pairs.map(([, e]) => e), 'int32');
      const want = pairs.map(([x, e]) => reference(x, e));
      for (const [how, got] of [['jit', f(a, b)], ['vmap', g(a, b)]] as const) {
        expect([got.dtype, Array.from(got.dataSync())], `${how} ${JSON.stringify(pairs)}`).toEqual(['int32', want]);
        dispose(got);
      }
      if (pairs.every(([, e]) => e >= 0)) {
        const eager = np.power(a, b);
        expect(Array.from(eager.dataSync())).toEqual(want);
        dispose(eager);
      }
      dispose([a, b]);
      f.clearCache(); // (a compiled program keeps its constants)
      expect(numTensors()).toBe(before);
    }), { seed: FC_SEED, numRuns: 40 });
  });
});

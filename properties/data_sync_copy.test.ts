// NDArray.dataSync() returns a copy of the values, as documented: writing into it changes no array.
// TF.js's cpu backend returns the typed array it stores (float32, int32), which the array and every
// array sharing its buffer read: the array itself, a reshape, a same-dtype astype, a jit output that
// is its input, a scan's carry passed through. On wasm and cpu, float32, int32 and bool.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { dispose, jit, lax, np, type NDArray } from '../src/index.js';
import { FC_SEED, onEachBackend } from './helpers.js';

const VALUES = fc.array(fc.integer({ min: -1000, max: 1000 }), { minLength: 6, maxLength: 6 });

describe('dataSync', () => {
  it('is a copy: writing into it leaves the array and the arrays sharing its values unchanged', () =>
    onEachBackend((backend) => {
      const identity = jit((x: NDArray) => x);
      const samples = fc.sample(fc.tuple(VALUES, fc.constantFrom('float32' as const, 'int32' as const, 'bool' as const)), { seed: FC_SEED, numRuns: 6 });
      for (const [values, dtype] of samples) {
        const a = np.reshape(np.array(values.map((v) => (dtype === 'bool' ? Number(v > 0) : v / (dtype === 'float32' ? 8 : 1))), dtype), [3, 2]);
        const want = Array.from(a.dataSync());
        const [carry] = lax.scan((_c: NDArray, x: NDArray) => [x, np.zeros([])] as [NDArray, NDArray], np.zeros([3, 2], dtype), np.stack([a]));
        const sharing: [string, NDArray][] = [['the array', a], ['reshape', np.reshape(a, [6])], ['astype', a.astype(dtype)], ['jit identity', identity(a)], ['scan carry', carry]];
        for (const [what, x] of sharing) {
          const d = x.dataSync();
          expect(Array.from(d), `${backend} ${dtype} ${what}`).toEqual(want);
          d.fill(dtype === 'bool' ? 1 - d[0]! : 77);
          for (const [other, y] of sharing) expect(Array.from(y.dataSync()), `${backend} ${dtype}: ${other} after writing into dataSync() of ${what}`).toEqual(want);
        }
        dispose(sharing.map(([, x]) => x));
      }
      identity.clearCache();
    }));
});

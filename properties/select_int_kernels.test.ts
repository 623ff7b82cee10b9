// np.where on int32 and bool operands runs TF.js's Select kernel once, on operands of one shape:
// tf.where, called before, broadcast each of its three operands to the common shape first, and
// broadcastTo copies an operand that already has it (an Identity kernel each: three copies per
// select, ~7 % of the kernels of the masked CRF's jitted gradient). Values (broadcasting conditions
// and operands included) equal the elementwise choice computed in JS, on wasm and cpu, eager and
// under jit, and no Identity kernel runs.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { dispose, getBackend, jit, np, setBackend, type NDArray } from '../src/index.js';
import { FC_SEED, kernelCounts } from './helpers.js';

const INT32 = fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });

describe('int32 and bool select', () => {
  it('equals the elementwise choice, broadcasting included, and copies no operand (no Identity kernel), on wasm and cpu', async () => {
    const start = getBackend();
    try {
      for (const backend of ['wasm', 'cpu'] as const) {
        await setBackend(backend);
        const cases = await fc.sample(
          fc.record({
            rows: fc.integer({ min: 1, max: 4 }), cols: fc.integer({ min: 1, max: 5 }), rowCondition: fc.boolean(), dtype: fc.constantFrom('int32' as const, 'bool' as const),
            seed: fc.array(INT32, { minLength: 60, maxLength: 60 }),
          }),
          { seed: FC_SEED, numRuns: 12 },
        );
        for (const { rows, cols, rowCondition, dtype, seed } of cases) {
          const n = rows * cols;
          const condShape = rowCondition ? [rows, 1] : [rows, cols];
          const condValues = seed.slice(0, condShape[0]! * condShape[1]!).map((v) => v % 2 === 0);
          const aValues = seed.slice(20, 20 + n), bValues = seed.slice(40, 40 + n);
          const cast = (v: number) => (dtype === 'bool' ? Number(v % 3 === 0) : v);
          const c = np.reshape(np.array(condValues.map(Number), 'bool'), condShape);
          const a = np.reshape(np.array(aValues.map(cast), dtype), [rows, cols]), b = np.reshape(np.array(bValues.map(cast), dtype), [rows, cols]);
          const want = Array.from({ length: n }, (_, i) => (condValues[rowCondition ? Math.floor(i / cols) : i] ? cast(aValues[i]!) : cast(bValues[i]!)));
          const label = `${backend} ${dtype} cond ${condShape} operands [${rows},${cols}]`;
          const jitted = jit((c: NDArray, a: NDArray, b: NDArray) => np.where(c, a, b));
          for (const [how, f] of [['eager', () => np.where(c, a, b)], ['jit', () => jitted(c, a, b)]] as const) {
            const out = f();
            expect([out.dtype, out.shape], `${label} ${how}`).toEqual([dtype, [rows, cols]]);
            expect(Array.from(out.dataSync()), `${label} ${how}`).toEqual(want);
            dispose(out);
            const counts = await kernelCounts(f);
            expect(counts.get('Identity') ?? 0, `${label} ${how}: ${[...counts].join(' ')}`).toBe(0);
          }
          jitted.clearCache();
          dispose([c, a, b]);
        }
      }
    } finally {
      await setBackend(start);
    }
  });
});

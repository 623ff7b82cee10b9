// The compiled executor's rank-promotion rewrite (executor_fusion.ts: skipRankPromotions) hands a
// broadcasting kernel its operand before np's reshape added leading 1s, and a (1, …, 1) literal as
// a scalar: it relies on every such kernel broadcasting operands of unequal ranks to the values and
// shape it gives the promoted ones. Checked here for every primitive the rewrite applies to (the
// nine binary ones, the comparisons, and/or), float32, int32 and bool operands, ranks 1–8 (wasm's
// XNNPACK stops at 6 and gradus goes around it there), operand ranks from 0 to the result's, with
// 0, −0, NaN and ±∞ among the values, and a JS number as either operand: jit equals eager bitwise
// in values, dtype and shape, and leaves no tensor behind, on wasm and cpu.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { dispose, jit, np, scope, type NDArray } from '../src/index.js';
import { FC_SEED, forEachBackend, numTensors, sameBits } from './helpers.js';
import { arbBroadcastCase, broadcastOperands } from './broadcast_cases.js';

const arbCase = arbBroadcastCase(1, ['none', 'none', 'first', 'second']);

describe('rank-promotion rewrite: every broadcasting primitive on operands of unequal ranks', () => {
  it('jit equals eager bitwise (values, dtype, shape) and leaves no tensor, ranks 1–8, on wasm and cpu', async () => forEachBackend((backend) => {
    fc.assert(fc.property(arbCase, (c) => {
      const { op, number } = c;
      const { dt, shapes, a, b, jsValue } = broadcastOperands(c);
      const program = (x: NDArray, y: NDArray): NDArray => {
        const f = np[op] as (u: NDArray | number | boolean, v: NDArray | number | boolean) => NDArray;
        if (number === 'first') return f(jsValue, y);
        if (number === 'second') return f(x, jsValue);
        return f(x, y);
      };
      const before = numTensors();
      const want = scope(() => program(a, b));
      const jitted = jit(program);
      for (let run = 0; run < 2; run++) {
        const got = jitted(a, b);
        const describe = `${backend} ${op} ${dt} [${shapes[0]}] [${shapes[1]}] ${number}: got ${got.dtype}[${got.shape}] ${Array.from(got.dataSync())}, eager ${want.dtype}[${want.shape}] ${Array.from(want.dataSync())}`;
        expect(sameBits(got, want), describe).toBe(true);
        dispose(got);
      }
      jitted.clearCache();
      dispose(want);
      expect(numTensors()).toBe(before);
      dispose([a, b]);
    }), { seed: FC_SEED, numRuns: 300 });
  }));
});

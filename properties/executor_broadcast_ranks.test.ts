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

type Op = 'add' | 'subtract' | 'multiply' | 'divide' | 'power' | 'maximum' | 'minimum' | 'arctan2' | 'remainder'
  | 'equal' | 'notEqual' | 'less' | 'lessEqual' | 'greater' | 'greaterEqual' | 'logicalAnd' | 'logicalOr';
const OPS: readonly Op[] = ['add', 'subtract', 'multiply', 'divide', 'power', 'maximum', 'minimum', 'arctan2', 'remainder',
  'equal', 'notEqual', 'less', 'lessEqual', 'greater', 'greaterEqual', 'logicalAnd', 'logicalOr'];
const VALUES = { float32: [0, -0, 1, -1.5, 2, 0.5, NaN, Infinity, -Infinity, 3, -7], int32: [0, 1, -1, 2, -3, 5, 7, -8], bool: [0, 1] };
type DT = keyof typeof VALUES;

const arbCase = fc.record({
  op: fc.constantFrom(...OPS),
  dtype: fc.constantFrom<DT>('float32', 'int32', 'bool'),
  out: fc.array(fc.constantFrom(1, 2, 3), { minLength: 1, maxLength: 8 }),
  // Each operand: how many trailing axes of the result it has (0 = a scalar), and which of them are
  // 1 (often all: a single value of a higher rank than the other operand is a case of its own).
  ranks: fc.tuple(fc.nat(8), fc.nat(8)),
  ones: fc.tuple(...[0, 1].map(() => fc.oneof(fc.constant(new Array<boolean>(8).fill(true)), fc.array(fc.boolean(), { minLength: 8, maxLength: 8 })))),
  picks: fc.array(fc.nat(100), { minLength: 64, maxLength: 64 }),
  number: fc.constantFrom<'none' | 'first' | 'second'>('none', 'none', 'first', 'second'),
});

describe('rank-promotion rewrite: every broadcasting primitive on operands of unequal ranks', () => {
  it('jit equals eager bitwise (values, dtype, shape) and leaves no tensor, ranks 1–8, on wasm and cpu', async () => forEachBackend((backend) => {
    fc.assert(fc.property(arbCase, ({ op, dtype, out, ranks, ones, picks, number }) => {
      // Integer powers to negative exponents throw (as NumPy's do): float32 there; bool arithmetic
      // is refused (as NumPy refuses subtract): int32 there.
      const arithmetic = OPS.indexOf(op) < OPS.indexOf('equal');
      const dt: DT = op === 'power' && dtype !== 'float32' ? 'float32' : arithmetic && dtype === 'bool' ? 'int32' : dtype;
      const shapes = ranks.map((r, k) => {
        const rank = Math.min(r, out.length);
        return out.slice(out.length - rank).map((d, i) => (ones[k]![i] ? 1 : d));
      });
      let p = 0;
      const make = (shape: number[]) => {
        const size = shape.reduce((a, b) => a * b, 1);
        const pool = VALUES[dt];
        return np.reshape(np.array(Array.from({ length: size }, () => pool[picks[p++ % picks.length]! % pool.length]!), dt), shape);
      };
      const [a, b] = [make(shapes[0]!), make(shapes[1]!)];
      const js = VALUES[dt][picks[63]! % VALUES[dt].length]!;
      const jsValue = dt === 'bool' ? js !== 0 : js;
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

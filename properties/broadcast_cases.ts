// Random cases for the broadcasting binary ops on operands of unequal ranks, shared by the eager
// short cut's test (eager_broadcast_ranks) and the jit rank-promotion rewrite's (executor_broadcast_ranks):
// an op, a dtype, a result shape of rank ≤ 8, each operand's rank and axes of 1, the values (0, −0,
// NaN with a payload, ±∞, a subnormal, int32 extremes) and where a JS number stands in for an operand.
import fc from 'fast-check';
import { np, type NDArray } from '../src/index.js';

export type BroadcastOp = 'add' | 'subtract' | 'multiply' | 'divide' | 'power' | 'maximum' | 'minimum' | 'arctan2' | 'remainder'
  | 'equal' | 'notEqual' | 'less' | 'lessEqual' | 'greater' | 'greaterEqual' | 'logicalAnd' | 'logicalOr' | 'logicalXor';
export const BROADCAST_OPS: readonly BroadcastOp[] = ['add', 'subtract', 'multiply', 'divide', 'power', 'maximum', 'minimum', 'arctan2', 'remainder',
  'equal', 'notEqual', 'less', 'lessEqual', 'greater', 'greaterEqual', 'logicalAnd', 'logicalOr', 'logicalXor'];
// (A quiet NaN with a payload: max/min and the float kernels must carry the same bits either way.)
const PAYLOAD_NAN = new Float32Array(new Uint32Array([0x7fc12345]).buffer)[0]!;
const VALUES = { float32: [0, -0, 1, -1.5, 2, 0.5, NaN, PAYLOAD_NAN, Infinity, -Infinity, 3, -7, 1e-40], int32: [0, 1, -1, 2, -3, 5, 7, -8, 2 ** 31 - 1], bool: [0, 1] };
export type BroadcastDtype = keyof typeof VALUES;
/** Where a JS number replaces an operand: nowhere, first, second, or second as 2.5 (a float against ints: promotion). */
export type NumberAt = 'none' | 'first' | 'second' | 'fraction';

/** Cases with result ranks from `minRank` to 8 and JS numbers placed as `numbers` (repeats weight them). */
export function arbBroadcastCase(minRank: number, numbers: readonly NumberAt[]) {
  return fc.record({
    op: fc.constantFrom(...BROADCAST_OPS),
    dtype: fc.constantFrom<BroadcastDtype>('float32', 'int32', 'bool'),
    out: fc.array(fc.constantFrom(1, 2, 3), { minLength: minRank, maxLength: 8 }),
    // Each operand: how many trailing axes of the result it has (0: 0-d), and which of them are 1
    // (often all: a single value of a higher rank than the other operand is a case of its own).
    ranks: fc.tuple(fc.nat(8), fc.nat(8)),
    ones: fc.tuple(...[0, 1].map(() => fc.oneof(fc.constant(new Array<boolean>(8).fill(true)), fc.array(fc.boolean(), { minLength: 8, maxLength: 8 })))),
    picks: fc.array(fc.nat(100), { minLength: 64, maxLength: 64 }),
    number: fc.constantFrom(...numbers),
  });
}
export type BroadcastCase = ReturnType<typeof arbBroadcastCase> extends fc.Arbitrary<infer C> ? C : never;

/**
 * A case's operands: the dtype used (integer powers to negative exponents throw, as NumPy's do:
 * float32 there; bool arithmetic is refused, as NumPy refuses subtract: int32 there), both operand
 * arrays, and the JS number (a bool for bool operands).
 */
export function broadcastOperands({ op, dtype, out, ranks, ones, picks, number }: BroadcastCase): { dt: BroadcastDtype; shapes: number[][]; a: NDArray; b: NDArray; jsValue: number | boolean } {
  const arithmetic = BROADCAST_OPS.indexOf(op) < BROADCAST_OPS.indexOf('equal');
  const dt: BroadcastDtype = op === 'power' && dtype !== 'float32' ? 'float32' : arithmetic && dtype === 'bool' ? 'int32' : dtype;
  const shapes = ranks.map((r, k) => {
    const rank = Math.min(r, out.length);
    return out.slice(out.length - rank).map((d, i) => (ones[k]![i] ? 1 : d));
  });
  let p = 0;
  const make = (shape: number[]) => {
    const size = shape.reduce((x, y) => x * y, 1);
    const pool = VALUES[dt];
    return np.reshape(np.array(Array.from({ length: size }, () => pool[picks[p++ % picks.length]! % pool.length]!), dt), shape);
  };
  const js = number === 'fraction' && dt !== 'bool' ? 2.5 : VALUES[dt][picks[63]! % VALUES[dt].length]!;
  return { dt, shapes, a: make(shapes[0]!), b: make(shapes[1]!), jsValue: dt === 'bool' ? js !== 0 : js };
}

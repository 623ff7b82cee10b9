// The shape rules and shape helpers that every eager op runs (eval.ts checks each kernel against its
// rule) were rewritten as plain loops with short cuts for the usual cases (eager per-op overhead):
// an elementwise operand that already has the result's shape gives its aval back, dot_general's rule
// builds its result without spreads, checkAxes finds repeats without a Set, and the np layer tests
// a pair's broadcast without building the broadcast shape. Each is checked here against a plain
// reference written from the definition (NumPy broadcasting, dot_general's output order), errors
// included, on random shapes.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ShapedArray } from '../src/aval.js';
import { abstractEval } from '../src/eval.js';
import { broadcastShapes, isIdentityPerm, sizeOf } from '../src/shape.js';
import { FC_SEED } from './helpers.js';

/** NumPy's broadcast of two shapes, or null where they do not broadcast (right-aligned; sizes equal or one of them 1). */
function numpyBroadcast(a: readonly number[], b: readonly number[]): number[] | null {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let k = n; k >= 1; k--) {
    const x = a.length >= k ? a[a.length - k]! : 1, y = b.length >= k ? b[b.length - k]! : 1;
    if (x !== y && x !== 1 && y !== 1) return null;
    out.push(x === 1 ? y : x);
  }
  return out;
}

/** What running `f` gives: its value, or its error's class and message. */
function outcome<T>(f: () => T): T | { error: string } {
  try {
    return f();
  } catch (e) {
    return { error: `${(e as Error).constructor.name}: ${(e as Error).message}` };
  }
}

const arbDim = fc.constantFrom<number>(0, 1, 1, 2, 3);
const arbShape = fc.array(arbDim, { maxLength: 4 });
/** Two shapes of one rank, mostly broadcasting (dims copied or set to 1), sometimes not. */
const arbSameRankPair = arbShape.chain((s) =>
  fc.tuple(fc.constant(s), fc.array(fc.constantFrom('copy', 'one', 'other'), { minLength: s.length, maxLength: s.length })).map(([a, how]) => [a, a.map((d, i) => (how[i] === 'copy' ? d : how[i] === 'one' ? 1 : d + 2))] as const),
);

describe('elementwise shape rules (the eager checks of every binary op and comparison)', () => {
  it("give NumPy's broadcast shape, the operand's own aval where it has that shape, and the broadcast error otherwise", () => {
    fc.assert(fc.property(arbSameRankPair, fc.boolean(), fc.constantFrom('add', 'mul', 'max', 'lt', 'eq'), ([s, t], swap, prim) => {
      const [a, b] = (swap ? [t, s] : [s, t]).map((x) => new ShapedArray(x, 'float32')) as [ShapedArray, ShapedArray];
      const want = numpyBroadcast(a.shape, b.shape);
      const got = outcome(() => abstractEval(prim as 'add', [a, b], {} as never)[0]!);
      const label = `${prim} ${a.str()} ${b.str()}`;
      if (want === null) {
        expect(got, label).toEqual(outcome(() => broadcastShapes(prim, a.shape, b.shape)));
        expect((got as { error: string }).error, label).toMatch(new RegExp(`^ShapeError: ${prim}: shapes \\[${a.shape.join(',')}\\] and \\[${b.shape.join(',')}\\] cannot be broadcast together`));
        return;
      }
      const aval = got as ShapedArray;
      expect([...aval.shape], label).toEqual(want);
      expect(aval.dtype, label).toBe(prim === 'lt' || prim === 'eq' ? 'bool' : 'float32');
      // Arithmetic hands back an operand's aval when that operand has the result's shape.
      if (prim !== 'lt' && prim !== 'eq') {
        const own = [a, b].find((x) => x.shape.length === want.length && x.shape.every((d, i) => d === want[i]));
        if (own !== undefined) expect(aval === a || aval === b, label).toBe(true);
      }
      expect(Object.isFrozen(aval.shape), label).toBe(true);
    }), { seed: FC_SEED, numRuns: 500 });
  });

  it('sizeOf and isIdentityPerm agree with their definitions', () => {
    fc.assert(fc.property(arbShape, fc.array(fc.nat(5), { maxLength: 5 }), (a, perm) => {
      expect(sizeOf(a)).toBe(a.reduce((x, y) => x * y, 1));
      expect(isIdentityPerm(perm)).toBe(perm.every((p, i) => p === i));
    }), { seed: FC_SEED, numRuns: 300 });
  });
});

describe("dot_general's shape rule", () => {
  /** dot_general's result by its definition: batch sizes, then a's free axes, then b's, in order; or null for operands it refuses. */
  function reference(a: readonly number[], b: readonly number[], [ca, cb]: number[][], [ba, bb]: number[][]): number[] | null {
    const ok = (axes: number[], n: number) => axes.every((x) => Number.isInteger(x) && x >= 0 && x < n) && new Set(axes).size === axes.length;
    if (!ok([...ca!, ...ba!], a.length) || !ok([...cb!, ...bb!], b.length)) return null;
    if (ca!.length !== cb!.length || ba!.length !== bb!.length) return null;
    if (ca!.some((x, i) => a[x] !== b[cb![i]!]) || ba!.some((x, i) => a[x] !== b[bb![i]!])) return null;
    const free = (s: readonly number[], c: number[], bt: number[]) => s.filter((_, i) => !c.includes(i) && !bt.includes(i));
    return [...ba!.map((x) => a[x]!), ...free(a, ca!, ba!), ...free(b, cb!, bb!)];
  }
  const arbAxes = fc.array(fc.integer({ min: -1, max: 4 }), { maxLength: 3 });

  it('gives the definition\'s shape for valid axis lists and a ShapeError naming dot_general otherwise (repeated and out-of-range axes, size mismatches)', () => {
    fc.assert(fc.property(fc.array(fc.constantFrom(1, 2, 3), { minLength: 1, maxLength: 4 }), fc.array(fc.constantFrom(1, 2, 3), { minLength: 1, maxLength: 4 }), arbAxes, arbAxes, arbAxes, arbAxes, (a, b, ca, cb, ba, bb) => {
      const want = reference(a, b, [ca, cb], [ba, bb]);
      const got = outcome(() => abstractEval('dot_general', [new ShapedArray(a, 'float32'), new ShapedArray(b, 'float32')], { contract: [ca, cb], batch: [ba, bb] })[0]!);
      const label = `[${a}]·[${b}] contract ${JSON.stringify([ca, cb])} batch ${JSON.stringify([ba, bb])}`;
      if (want === null) expect((got as { error?: string }).error, label).toMatch(/^ShapeError: dot_general: /);
      else expect([...(got as ShapedArray).shape], label).toEqual(want);
    }), { seed: FC_SEED, numRuns: 1500 });
  });

  it('names a repeated axis as checkAxes did', () => {
    const a = new ShapedArray([2, 2], 'float32');
    expect(() => abstractEval('dot_general', [a, a], { contract: [[1, 1], [0, 0]], batch: [[], []] })).toThrow('dot_general: repeated axes [1,1]');
    expect(() => abstractEval('reduce_sum', [a], { axes: [0, 1, 0] })).toThrow('reduce_sum: repeated axes [0,1,0]');
  });
});

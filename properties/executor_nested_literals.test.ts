// Literals of programs nested in a loop body (a cond branch, a nested jit, a checkpoint (remat)
// body, a loop inside the loop) are made once per loop, as the body's own are: counted by the
// tensor ids a call takes, the per-iteration count of a body whose nested program multiplies by
// JS numbers equals that of the same body on array operands (before, each nested program made its
// literals anew every iteration, and a remat body one per use). Values stay bitwise those of the
// array version; nothing outlives the call, also when a kernel throws half-way.
import { describe, expect, it } from 'vitest';
import { checkpoint, dispose, jit, lax, np, scope, type NDArray } from '../src/index.js';
import { numTensors, sameBits, tensorsMade, withFailingMul } from './helpers.js';

/** Tensors a loop of `length` iterations makes per iteration (the loop's fixed costs cancel). */
const perIteration = (loop: (length: number) => unknown) => {
  dispose(loop(6)); // (a jit first called inside the loop traces then)
  return (tensorsMade(() => loop(12)) - tensorsMade(() => loop(6))) / 6;
};

const x = np.array([0.5, -1, 2], 'float32');
const half = np.array([0.5, 0.5, 0.5], 'float32'), quarter = np.array([0.25, 0.25, 0.25], 'float32'), three = np.array([3, 3, 3], 'float32');
const one = np.array(1, 'int32');

/** The nested program's arithmetic, on JS numbers or on the arrays holding the same values (0.5 is read twice). */
type Consts = { h: number | NDArray; q: number | NDArray; t: number | NDArray };
const numbers: Consts = { h: 0.5, q: 0.25, t: 3 };
const arrays: Consts = { h: half, q: quarter, t: three };
const chain = (k: Consts) => (v: NDArray) => np.add(np.multiply(np.multiply(np.multiply(v, k.h), k.t), k.h), k.q);

/** Ways to nest the chain in a program. */
const wrappers: Record<string, (k: Consts) => (v: NDArray) => NDArray> = {
  // The predicate reads only the loop's own values, so both branches run over the iterations.
  cond: (k) => (v) => lax.cond(np.greater(np.sum(v), 0), chain(k), (a: NDArray) => np.subtract(chain(k)(a), k.q), v),
  jit: (k) => jit(chain(k)),
  remat: (k) => checkpoint(chain(k)),
  condInJit: (k) => jit((v: NDArray) => lax.cond(np.less(np.sum(v), 0), chain(k), (a: NDArray) => np.negative(chain(k)(a)), v)),
  rematInCond: (k) => (v) => lax.cond(np.greater(np.sum(v), 0), checkpoint(chain(k)), (a: NDArray) => a, v),
  innerScan: (k) => (v) => lax.scan((c: NDArray) => [chain(k)(c), null] as const, v, null, { length: 2 })[0],
};

/** Loops whose body runs a nested program; `length` iterations. */
const loops: Record<string, (inner: (v: NDArray) => NDArray) => (length: number) => NDArray> = {
  scan: (inner) => (length) => lax.scan((c: NDArray) => [np.negative(inner(c)), null] as const, x, null, { length })[0],
  while: (inner) => (length) => {
    type C = { i: NDArray; v: NDArray };
    return lax.whileLoop((c: C) => np.less(c.i, np.array(length, 'int32')), (c: C): C => ({ i: np.add(c.i, one), v: np.negative(inner(c.v)) }), { i: np.array(0, 'int32'), v: x }).v;
  },
};

describe('literals of programs nested in a loop body are made once per loop', () => {
  for (const [wName, wrap] of Object.entries(wrappers)) {
    for (const [lName, loop] of Object.entries(loops)) {
      it(`${wName} in a ${lName} body, eagerly and under jit: per-iteration tensors equal the array version's, values bitwise, no tensor left`, () => {
        const onNumbers = loop(wrap(numbers)), onArrays = loop(wrap(arrays));
        expect(perIteration(onNumbers), 'eager').toBe(perIteration(onArrays));
        expect(sameBits(scope(() => onNumbers(5)), scope(() => onArrays(5)))).toBe(true);
        // Under jit (one trace per length): the loop is a step of a compiled program.
        const jitted = { n: new Map<number, () => NDArray>(), a: new Map<number, () => NDArray>() };
        const viaJit = (which: 'n' | 'a', f: (length: number) => NDArray) => (length: number) => {
          let g = jitted[which].get(length);
          if (g === undefined) jitted[which].set(length, (g = jit(() => f(length))));
          return g();
        };
        const jn = viaJit('n', onNumbers), ja = viaJit('a', onArrays);
        dispose([jn(6), jn(12), ja(6), ja(12)]); // traces
        expect(perIteration(jn), 'under jit').toBe(perIteration(ja));
        const before = numTensors();
        const [a, b] = [jn(5), ja(5)];
        expect(sameBits(a, b)).toBe(true);
        dispose([a, b]);
        expect(numTensors()).toBe(before);
        for (const m of Object.values(jitted)) for (const g of m.values()) (g as ReturnType<typeof jit>).clearCache();
      });
    }
  }

  it('a checkpoint body run by a jit program makes each distinct literal once per run, not once per use', () => {
    const longChain = (k: Consts) => (v: NDArray) => {
      for (let i = 0; i < 6; i++) v = chain(k)(v);
      return v;
    };
    const fn = jit((v: NDArray) => checkpoint(longChain(numbers))(v));
    const fa = jit((v: NDArray) => checkpoint(longChain(arrays))(v));
    dispose([fn(x), fa(x)]);
    // Three distinct literals (0.5, 3, 0.25), read 24 times in all.
    expect(tensorsMade(() => fn(x)) - tensorsMade(() => fa(x))).toBe(3);
    expect(sameBits(scope(() => fn(x)), scope(() => fa(x)))).toBe(true);
    fn.clearCache();
    fa.clearCache();
  });
});

describe('a kernel that throws in a nested program in a loop body', () => {
  it('leaves no tensor behind (the loop\'s literals and those made for nested programs are freed)', () => {
    withFailingMul((fault) => {
      for (const [wName, wrap] of Object.entries(wrappers)) {
        for (const [lName, loop] of Object.entries(loops)) {
          const f = loop(wrap(numbers));
          const jf = jit(() => f(4));
          dispose(jf()); // traces
          // Three multiplies per chain run; which runs depends on the branches taken, so count them.
          fault.calls = 0;
          fault.throwAt = 0;
          dispose(jf());
          const total = fault.calls;
          expect(total, `${wName} in ${lName}`).toBeGreaterThanOrEqual(6);
          for (const throwAt of [1, 2, 4, 7, 9, total].filter((k) => k <= total)) {
            fault.throwAt = throwAt;
            for (const [how, run] of [['eager', () => scope(() => f(4))], ['jit', jf]] as const) {
              fault.calls = 0;
              const before = numTensors();
              expect(() => run(), `${wName} in ${lName}, ${how}, multiply ${throwAt}`).toThrow('injected');
              expect(numTensors(), `${wName} in ${lName}, ${how}, multiply ${throwAt}`).toBe(before);
            }
          }
          jf.clearCache();
        }
      }
    });
  });
});

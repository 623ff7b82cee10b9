// Dead-code elimination of whileLoop (JAX's while DCE rule): a carry no used output needs, that the
// condition does not read and that no kept carry's body reads, is gone from the compiled program
// with its computations and consts; the condition's carries always stay (they decide the trip
// count). Checked on random carry dependencies against the closure computed here, values against
// a JS while loop, peak memory with a big dead carry, and nested loops (jit in jit, a while in a
// scan and in a while, the tangent carries of jvp when only the primal is used); no leaks.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { NDArray, dispose, jit, jvp, makeJaxpr, np, scan, whileLoop } from '../src/index.js';
import { Rng } from '../src/testing/index.js';
import { evalJaxpr, type JaxprEqn } from '../src/jaxpr.js';
import { dceJaxpr, deadCodeElimination } from '../src/dce.js';
import { FC_SEED, extraPeakBytes, inScope, scoped } from './helpers.js';
import { expectNoLeak, expectTreeClose, randomArray } from './loop_oracle.js';

/** The while equations of a program's top level. */
const whiles = (eqns: readonly JaxprEqn[]) => eqns.filter((e) => e.prim === 'while') as JaxprEqn<'while'>[];

describe('whileLoop: dead code', () => {
  // Carry 0 is an int counter (the trip count); carries 1..nK read random subsets of the float
  // carries and each its own closed-over array (a body const); the condition reads the counter
  // and a random subset of the float carries through closed-over limits (cond consts) it never
  // reaches, so the trip count is n whatever is kept.
  interface DepCase {
    carryDeps: boolean[][];
    condReads: boolean[];
    used: boolean[];
    n: number;
    seed: number;
  }
  const arbDepCase: fc.Arbitrary<DepCase> = fc.integer({ min: 1, max: 4 }).chain((nK) =>
    fc.record({
      carryDeps: fc.array(fc.array(fc.boolean(), { minLength: nK, maxLength: nK }), { minLength: nK, maxLength: nK }),
      condReads: fc.array(fc.boolean(), { minLength: nK, maxLength: nK }),
      used: fc.array(fc.boolean(), { minLength: nK + 1, maxLength: nK + 1 }).filter((u) => u.some(Boolean)),
      n: fc.integer({ min: 0, max: 4 }),
      seed: fc.integer(),
    }),
  );
  /** The float carries kept: used, read by the condition, or read by a kept carry's body (transitively). */
  const keptFloats = (c: DepCase): boolean[] => {
    const kept = c.carryDeps.map((_, k) => c.used[k + 1]! || c.condReads[k]!);
    for (let grew = true; grew; ) {
      grew = false;
      c.carryDeps.forEach((d, k) => kept[k] && d.forEach((r, j) => r && !kept[j] && (grew = kept[j] = true)));
    }
    return kept;
  };
  const loopOf = (c: DepCase, weights: NDArray[], limits: NDArray[]) => {
    const condFun = ([i, ...xs]: NDArray[]) =>
      xs.reduce<NDArray>((acc, x, k) => (c.condReads[k] ? np.logicalAnd(acc, np.all(np.less(np.abs(x), limits[k]!))) : acc), np.less(i!, c.n));
    const bodyFun = ([i, ...xs]: NDArray[]): NDArray[] => [
      np.add(i!, np.array(1, 'int32')),
      ...c.carryDeps.map((d, k) => np.tanh(xs.reduce<NDArray>((acc, x, j) => (d[j] ? np.add(acc, np.mul(0.7, x)) : acc), np.mul(weights[k]!, xs[k]!)))),
    ];
    return { condFun, bodyFun };
  };

  it('jit keeps the used carries, the ones the condition reads and the ones they read across iterations, with only their consts; values are unchanged', () => {
    fc.assert(
      fc.property(arbDepCase, (c) =>
        inScope(() => {
          const rng = new Rng(c.seed);
          const nK = c.carryDeps.length;
          const weights = c.carryDeps.map(() => randomArray(rng, [2], 0.5, 1.5));
          const limits = c.carryDeps.map(() => np.full([2], 1e6));
          const { condFun, bodyFun } = loopOf(c, weights, limits);
          const init = [np.array(0, 'int32'), ...c.carryDeps.map(() => randomArray(rng, [2]))];
          const usedOf = (outs: NDArray[]) => outs.filter((_, i) => c.used[i]);
          const f = (init: NDArray[]) => usedOf(whileLoop(condFun, bodyFun, init));
          // The oracle: JS control flow, the condition read back each time.
          let carry = init;
          while (condFun(carry).item()) carry = bodyFun(carry);
          const want = usedOf(carry);

          const program = makeJaxpr(f)(init).jaxpr;
          const [before] = whiles(program.eqns);
          expect(before!.outBinders).toHaveLength(nK + 1);
          const [eqn] = whiles(deadCodeElimination(program).eqns);
          const kept = keptFloats(c);
          const numKept = kept.filter(Boolean).length;
          expect(eqn!.outBinders).toHaveLength(1 + numKept); // the counter always stays: the condition reads it
          expect(eqn!.params.body.inBinders).toHaveLength(eqn!.params.numBodyConsts + 1 + numKept);
          expect(eqn!.params.cond.inBinders).toHaveLength(eqn!.params.numCondConsts + 1 + numKept);
          // Each kept float carry reads its own weight; the condition its own limits.
          expect(eqn!.params.numBodyConsts).toBe(numKept);
          expect(eqn!.params.numCondConsts).toBe(c.condReads.filter(Boolean).length);
          expect(eqn!.inputs).toHaveLength(eqn!.params.numCondConsts + eqn!.params.numBodyConsts + 1 + numKept);
          // A dropped carry's body computation is gone: one tanh per kept float carry.
          expect(eqn!.params.body.eqns.filter((e) => e.prim === 'tanh')).toHaveLength(numKept);
          expectTreeClose(jit(f)(init), want, { label: 'jit' });
          expectTreeClose(f(init), want, { label: 'eager' });
        }),
      ),
      { seed: FC_SEED, numRuns: 40 },
    );
  });

  it('deadCodeElimination(program, usedOuts) keeps the binders and computes the used outputs; dceJaxpr drops the binders nothing reads; a second pass returns the very program (compiled-program caches hit)', () => {
    fc.assert(
      fc.property(arbDepCase, (c) =>
        inScope(() => {
          const rng = new Rng(c.seed);
          const weights = c.carryDeps.map(() => randomArray(rng, [2], 0.5, 1.5));
          const limits = c.carryDeps.map(() => np.full([2], 1e6));
          const { condFun, bodyFun } = loopOf(c, weights, limits);
          const init = [np.array(0, 'int32'), ...c.carryDeps.map(() => randomArray(rng, [2]))];
          const all = (init: NDArray[]) => whileLoop(condFun, bodyFun, init);
          const closed = makeJaxpr(all)(init);
          const program = closed.jaxpr;
          const args = [...closed.consts, ...init];
          const want = all(init).filter((_, i) => c.used[i]);
          const kept = deadCodeElimination(program, c.used);
          expect(kept.inBinders).toBe(program.inBinders);
          expect(kept.outs).toEqual(program.outs.filter((_, i) => c.used[i]));
          expectTreeClose(evalJaxpr(kept, args), want, { label: 'deadCodeElimination' });
          expect(deadCodeElimination(kept)).toBe(kept);
          expect(deadCodeElimination(kept, kept.outs.map(() => true))).toBe(kept);
          const { jaxpr: restricted, usedInputs } = dceJaxpr(program, c.used);
          expect(restricted.eqns).toEqual(kept.eqns);
          const read = new Set(kept.eqns.flatMap((e) => e.inputs));
          expect(usedInputs).toEqual(program.inBinders.map((v) => read.has(v) || kept.outs.includes(v)));
          expectTreeClose(evalJaxpr(restricted, args.filter((_, i) => usedInputs[i])), want, { label: 'dceJaxpr' });
          expect(dceJaxpr(restricted, restricted.outs.map(() => true)).jaxpr).toBe(restricted);
        }),
      ),
      { seed: FC_SEED, numRuns: 30 },
    );
  });

  // A loop with a small carry h and a big one M (an [N, N] running sum of outer products) whose
  // final value nobody reads.
  const N = 256, D = 8, steps = 6;
  const bigBytes = N * N * 4;
  const withBigCarry = (h0: NDArray) => {
    const u = np.reshape(np.mul(np.arange(N), 1e-3), [N]);
    const [, h] = whileLoop(
      ([i]: NDArray[]) => np.less(i!, steps),
      ([i, h, M]: NDArray[]) => [np.add(i!, np.array(1, 'int32')), np.tanh(np.add(np.mul(0.9, h!), 0.1)), np.add(np.mul(0.5, M!), np.outer(u, np.add(u, np.sum(h!))))],
      [np.array(0, 'int32'), h0, np.outer(u, u)],
    );
    return h!;
  };

  it('a big carry nobody reads is neither initialised nor computed under jit: peak memory is a step of the small carry', async () => {
    const h0 = np.full([D], 0.2);
    const big = `f32[${N},${N}]`;
    const program = makeJaxpr(withBigCarry)(h0).jaxpr;
    expect(program.toString()).toContain(big);
    expect(deadCodeElimination(program).toString()).not.toContain(big);
    const jitted = jit(withBigCarry);
    dispose(jitted(h0));
    const eagerPeak = await extraPeakBytes(() => scoped(() => withBigCarry(h0)));
    const jitPeak = await extraPeakBytes(() => jitted(h0));
    // Eager runs the loop as written (the big carry, twice, and an outer product); jit drops it.
    expect(eagerPeak).toBeGreaterThan(2 * bigBytes);
    expect(jitPeak).toBeLessThan(0.05 * bigBytes);
    inScope(() => expectTreeClose(jitted(h0), scoped(() => withBigCarry(h0)), { label: 'jit' }));
    expectNoLeak('jit', () => jitted(h0));
    jitted.clearCache();
    dispose(h0);
  });

  it('also nested: jit in jit, a while in a scan body and in a while body, and the tangent carries of jvp when only the primal is used', () => {
    const h0 = np.full([D], 0.2);
    const big = `f32[${N},${N}]`;
    const xs = np.reshape(np.mul(np.arange(3 * D), 1e-2), [3, D]);
    const cases: Record<string, (h: NDArray) => NDArray> = {
      'jit in jit': (h) => jit((g: NDArray) => jit(withBigCarry)(g))(h),
      'while in scan': (h) => scan((c: NDArray, x: NDArray) => [withBigCarry(np.add(c, x)), np.sum(c)] as const, h, xs)[0],
      'while in while': (h) =>
        whileLoop(
          ([i]: NDArray[]) => np.less(i!, 2),
          ([i, g]: NDArray[]) => [np.add(i!, np.array(1, 'int32')), withBigCarry(g!)],
          [np.array(0, 'int32'), h],
        )[1]!,
    };
    for (const [label, f] of Object.entries(cases)) {
      const program = makeJaxpr(f)(h0).jaxpr;
      expect(program.toString(), label).toContain(big);
      expect(deadCodeElimination(program).toString(), label).not.toContain(big);
      const jitted = jit(f);
      inScope(() => expectTreeClose(jitted(h0), scoped(() => f(h0)), { label }));
      expectNoLeak(label, () => jitted(h0));
      jitted.clearCache();
    }
    // jvp doubles the carries with tangents; a caller that reads only the primal keeps only primal carries.
    const smooth = (x: NDArray) =>
      whileLoop(
        ([i]: NDArray[]) => np.less(i!, 3),
        ([i, x]: NDArray[]) => [np.add(i!, np.array(1, 'int32')), np.sin(np.mul(1.3, x!))],
        [np.array(0, 'int32'), x],
      )[1]!;
    const primalOnly = (x: NDArray) => jvp(smooth, [x], [np.onesLike(x)])[0];
    const program = makeJaxpr(primalOnly)(h0).jaxpr;
    const [full] = whiles(program.eqns);
    const [kept] = whiles(deadCodeElimination(program).eqns);
    expect(kept!.outBinders.length).toBeLessThan(full!.outBinders.length);
    expect(kept!.outBinders.map((v) => v.aval.str())).toEqual(['i32[]', `f32[${D}]`]);
    expect(kept!.params.body.eqns.some((e) => e.prim === 'cos'), 'the tangent cos(1.3x) is gone').toBe(false);
    inScope(() => expectTreeClose(jit(primalOnly)(h0), smooth(h0), { label: 'jit(jvp primal)' }));
    dispose([h0, xs]);
  });
});

// whileLoop, cond and switchCase (JAX's lax.while_loop, lax.cond, lax.switch): values against the
// same functions run under JS control flow (a JS while loop reading the condition, a JS ternary or
// index); jvp against finite differences (checkGrads); grad of cond/switch against finite
// differences and against the chosen branch differentiated alone; vmap against a loop over
// examples with batched and unbatched predicates and operands; jit against eager; one while / cond
// equation in makeJaxpr; errors (mismatched branch outputs, bad predicates, reverse-mode while);
// no leaks.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { DTypeError, NDArray, ShapeError, TransformError, cond, dispose, grad, jit, jvp, lax, linearize, makeJaxpr, np, scan, switchCase, vmap, whileLoop } from '../src/index.js';
import { Rng, checkGrads } from '../src/testing/index.js';
import { FC_SEED, expectClose, inScope, scoped } from './helpers.js';
import { expectNoLeak, expectTreeClose, longestScopeAtClose, loopVmap, randomArray } from './loop_oracle.js';

/** whileLoop by JS control flow: the same condFun and bodyFun, the condition read back each time (the oracle). */
function jsWhile<T>(condFun: (c: T) => NDArray, bodyFun: (c: T) => T, init: T): T {
  let carry = init;
  while (condFun(carry).item()) carry = bodyFun(carry);
  return carry;
}

type Carry = { i: NDArray; x: NDArray };
/** A loop whose trip count depends on the data: x ← a·x + b (elementwise), i ← i + 1, while i < n and Σ|x| < limit. */
function growth(a: NDArray, b: NDArray, n: number, limit: number) {
  const condFun = (c: Carry) => np.logicalAnd(np.less(c.i, n), np.less(np.sum(np.abs(c.x)), limit));
  const bodyFun = (c: Carry): Carry => ({ i: np.add(c.i, np.array(1, 'int32')), x: np.add(np.mul(a, c.x), b) });
  return { condFun, bodyFun };
}

/** A loop with a counter-only trip count (so it is smooth in x, for finite differences): n steps of x ← sin(w·x) + x/2. */
const smoothLoop = (n: number) => (w: NDArray, x0: NDArray) =>
  whileLoop(
    ([i]: [NDArray, NDArray]) => np.less(i, n),
    ([i, x]: [NDArray, NDArray]) => [np.add(i, np.array(1, 'int32')), np.add(np.sin(np.mul(w, x)), np.mul(x, 0.5))] as [NDArray, NDArray],
    [np.array(0, 'int32'), x0] as [NDArray, NDArray],
  )[1];
const smoothUnrolled = (n: number) => (w: NDArray, x0: NDArray) => {
  let x = x0;
  for (let k = 0; k < n; k++) x = np.add(np.sin(np.mul(w, x)), np.mul(x, 0.5));
  return x;
};

describe('whileLoop: values', () => {
  it('equals the JS while loop (a data-dependent trip count, pytree carry, int counter); jit equals eager', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 8 }), fc.double({ min: 0.5, max: 40, noNaN: true }), fc.integer({ min: 1, max: 3 }), fc.integer(), (n, limit, size, seed) =>
        inScope(() => {
          const rng = new Rng(seed);
          const a = randomArray(rng, [size], 0.5, 2), b = randomArray(rng, [size]);
          const init = { i: np.array(0, 'int32'), x: randomArray(rng, [size]) };
          const { condFun, bodyFun } = growth(a, b, n, limit);
          const want = jsWhile(condFun, bodyFun, init);
          const got = whileLoop(condFun, bodyFun, init);
          expect(got.i.dtype).toBe('int32');
          expectTreeClose(got, want);
          expectTreeClose(jit((c: Carry) => whileLoop(condFun, bodyFun, c))(init), want, { label: 'jit' });
        }),
      ),
      { seed: FC_SEED, numRuns: 30 },
    );
  });

  it('a false condition returns init; a JS-number init leaf takes the body dtype; lax.whileLoop is the same function', () =>
    inScope(() => {
      const x = np.array([1, 2], 'float32');
      expectClose(whileLoop(() => np.array(false), (c: NDArray) => np.mul(c, 2), x), [1, 2]);
      const total = whileLoop((c: NDArray) => np.less(c, 10), (c: NDArray) => np.add(c, 2.5), 0);
      expect(total.dtype).toBe('float32');
      expectClose(total, 10);
      expect(lax.whileLoop).toBe(whileLoop);
    }));
});

describe('whileLoop: derivatives', () => {
  it('jvp (orders 1 and 2) agrees with finite differences and with the unrolled loop', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4 }), fc.integer(), (n, seed) =>
        inScope(() => {
          const rng = new Rng(seed);
          const args = [randomArray(rng, [], -1, 1), randomArray(rng, [2])] as const;
          checkGrads(smoothLoop(n), [...args], { order: 2, modes: ['fwd'], seed });
          const dir = [np.array(0.7, 'float32'), np.array([0.3, -1], 'float32')];
          expectTreeClose(jvp(smoothLoop(n), [...args], dir), jvp(smoothUnrolled(n), [...args], dir));
        }),
      ),
      { seed: FC_SEED, numRuns: 8 },
    );
  });

  it('a carry with a zero initial tangent that the body makes nonzero (the JVP fixpoint); jit(jvp) equals jvp', () =>
    inScope(() => {
      // acc starts constant but accumulates w·i: its tangent along w is Σi = 0+1+2+3 = 6.
      const f = (w: NDArray) => whileLoop(([i]: [NDArray, NDArray]) => np.less(i, 4), ([i, acc]: [NDArray, NDArray]) => [np.add(i, 1), np.add(acc, np.mul(w, np.astype(i, 'float32')))] as [NDArray, NDArray], [np.array(0, 'int32'), np.zeros([])] as [NDArray, NDArray])[1];
      const w = np.array(3, 'float32'), t = np.array(1, 'float32');
      expectClose(jvp(f, [w], [t])[1], 6);
      expectTreeClose(jit((a: NDArray) => jvp(f, [a], [t]))(w), jvp(f, [w], [t]));
    }));

  it('linearize (a JVP partially evaluated: known carries stay known, eager and in a jit program) equals jvp', () =>
    inScope(() => {
      // Carries: a counter and z (known: they do not depend on x) and y (unknown: it does).
      const loop = (x: NDArray) =>
        whileLoop(
          ([i]: [NDArray, NDArray, NDArray]) => np.less(i, 3),
          ([i, y, z]: [NDArray, NDArray, NDArray]) => [np.add(i, 1), np.sin(np.mul(z, y)), np.add(z, 0.25)] as [NDArray, NDArray, NDArray],
          [np.array(0, 'int32'), x, np.array(0.5, 'float32')] as [NDArray, NDArray, NDArray],
        );
      const x = np.array([0.3, -0.8], 'float32'), t = np.array([1, 0.5], 'float32');
      const [, want] = jvp(loop, [x], [t]);
      for (const f of [loop, jit(loop)]) {
        const [out, lin] = linearize(f, x);
        expectTreeClose(out, loop(x), { label: 'primal' });
        expectTreeClose(lin(t)[1], want[1], { label: 'tangent' });
      }
    }));

  it('reverse mode is refused with JAX\'s message (grad, jit(grad), grad(jit)); a loop that does not depend on the input is fine', () =>
    inScope(() => {
      const f = (x: NDArray) => smoothLoop(3)(np.array(0.5, 'float32'), x);
      const x = np.array([0.1, 0.2], 'float32');
      const message = /Reverse-mode differentiation does not work for lax\.while_loop .*Try using lax\.scan, or lax\.fori_loop with constant trip count/;
      expect(() => grad((y: NDArray) => np.sum(f(y)))(x)).toThrow(TransformError);
      expect(() => grad((y: NDArray) => np.sum(f(y)))(x)).toThrow(message);
      expect(() => jit(grad((y: NDArray) => np.sum(f(y))))(x)).toThrow(message);
      expect(() => grad((y: NDArray) => np.sum(jit(f)(y)))(x)).toThrow(message);
      // The loop's carry is not differentiated: the gradient flows around it.
      const g = (y: NDArray) => np.sum(np.mul(y, f(np.array([0.3, 0.4], 'float32'))));
      expectTreeClose(grad(g)(x), f(np.array([0.3, 0.4], 'float32')));
    }));
});

describe('whileLoop: vmap', () => {
  it('equals a loop over examples: unbatched predicate (batched carry or closed-over value) and batched predicate (per-example trip counts)', () => {
    const axes = fc.constantFrom(0, null);
    fc.assert(
      fc.property(axes, axes, axes, fc.integer({ min: 0, max: 6 }), fc.integer(), (aa, ax, alimit, n, seed) =>
        inScope(() => {
          const rng = new Rng(seed);
          const B = 3, size = 2;
          const a = randomArray(rng, aa === null ? [size] : [B, size], 0.5, 2);
          const x0 = randomArray(rng, ax === null ? [size] : [B, size]);
          const limit = alimit === null ? np.array(6, 'float32') : np.array([1, 6, 30], 'float32');
          const run = (a: NDArray, x: NDArray, lim: NDArray) => {
            // The predicate reads x and lim: batched when either is.
            const condFun = (c: Carry) => np.logicalAnd(np.less(c.i, n), np.less(np.sum(np.abs(c.x)), lim));
            return whileLoop(condFun, (c: Carry) => ({ i: np.add(c.i, np.array(1, 'int32')), x: np.add(np.mul(a, c.x), 0.5) }), { i: np.array(0, 'int32'), x });
          };
          const inAxes = [aa, ax, alimit] as const;
          const got = vmap(run, { inAxes, axisSize: B })(a, x0, limit);
          expectTreeClose(got, loopVmap(run, [a, x0, limit], [...inAxes], 0, B));
          // An unbatched predicate (a counter only): a while over the batched body.
          const counted = (a: NDArray, x: NDArray) => whileLoop(([i]: [NDArray, NDArray]) => np.less(i, n), ([i, y]: [NDArray, NDArray]) => [np.add(i, 1), np.tanh(np.mul(a, y))] as [NDArray, NDArray], [np.array(0, 'int32'), x] as [NDArray, NDArray]);
          expectTreeClose(vmap(counted, { inAxes: [aa, ax], axisSize: B })(a, x0), loopVmap(counted, [a, x0], [aa, ax], 0, B), { label: 'unbatched predicate' });
        }),
      ),
      { seed: FC_SEED, numRuns: 16 },
    );
  });

  it('vmap of jvp and jit of vmap with a batched predicate equal the per-example loop', () =>
    inScope(() => {
      const f = (x: NDArray) => whileLoop((c: NDArray) => np.less(np.abs(c), 5), (c: NDArray) => np.add(np.mul(c, 1.7), np.sin(x)), x);
      const xs = np.array([0.3, 1.2, -2, 4], 'float32');
      const dfdx = (x: NDArray) => jvp(f, [x], [np.ones([])])[1];
      expectTreeClose(vmap(dfdx)(xs), loopVmap(dfdx, [xs], [0], 0, 4), { label: 'vmap(jvp)' });
      expectTreeClose(jit(vmap(f))(xs), loopVmap(f, [xs], [0], 0, 4), { label: 'jit(vmap)' });
    }));
});

describe('whileLoop: programs and errors', () => {
  it('the traced program has one while equation, for vmap and jvp too', () =>
    inScope(() => {
      const x = np.array([0.1, 0.2], 'float32');
      const f = (y: NDArray) => smoothLoop(50)(np.array(0.5, 'float32'), y);
      for (const program of [makeJaxpr(f)(x), makeJaxpr((y: NDArray) => jvp(f, [y], [y]))(x), makeJaxpr(vmap(f))(np.stack([x, x], 0))]) {
        expect(program.jaxpr.eqns.filter((e) => e.prim === 'while')).toHaveLength(1);
        expect(program.jaxpr.eqns.length).toBeLessThan(6);
      }
    }));

  it('names a condition that is not a bool scalar and a body that changes the carry', () =>
    inScope(() => {
      const x = np.zeros([2]);
      expect(() => whileLoop((c: NDArray) => np.sum(c), (c: NDArray) => c, x)).toThrow(DTypeError);
      expect(() => whileLoop((c: NDArray) => np.sum(c), (c: NDArray) => c, x)).toThrow(/condFun must return a boolean scalar .* got f32\[\]/);
      expect(() => whileLoop((c: NDArray) => np.less(c, 1), (c: NDArray) => c, x)).toThrow(/condFun must return a boolean scalar .* got bool\[2\]/);
      expect(() => whileLoop(() => np.array(false), (c: { h: NDArray }) => ({ h: np.sum(c.h) }), { h: x })).toThrow(ShapeError);
      expect(() => whileLoop(() => np.array(false), (c: { h: NDArray }) => ({ h: np.sum(c.h) }), { h: x })).toThrow(/carry at \.h is f32\[2\] in init but bodyFun returns f32\[\]/);
      expect(() => whileLoop(() => np.array(false), (c: NDArray) => [c, c] as never, x)).toThrow(/bodyFun returned a carry of structure/);
      expect(() => whileLoop(() => np.array(false), (c: NDArray) => np.astype(c, 'int32'), x)).toThrow(DTypeError);
    }));
});

// --- cond and switchCase ---------------------------------------------------------------------

const branchA = (x: NDArray, p: { w: NDArray }) => ({ y: np.sin(np.mul(x, p.w)), s: np.sum(x) });
const branchB = (x: NDArray, p: { w: NDArray }) => ({ y: np.mul(np.exp(np.mul(x, 0.3)), p.w), s: np.prod(x) });
const branchC = (x: NDArray, p: { w: NDArray }) => ({ y: np.tanh(np.add(x, p.w)), s: np.max(x) });
const allBranches = [branchA, branchB, branchC];

describe('cond and switchCase: values', () => {
  it('cond equals the JS ternary (bool and numeric predicates, pytree operands and outputs); jit equals eager', () => {
    fc.assert(
      fc.property(fc.oneof(fc.boolean(), fc.constantFrom(0, 1, -2.5)), fc.integer(), (pred, seed) =>
        inScope(() => {
          const rng = new Rng(seed);
          const x = randomArray(rng, [3]), p = { w: randomArray(rng, [3]) };
          const predArray = typeof pred === 'boolean' ? np.array(pred) : np.array(pred, 'float32');
          const want = pred ? branchA(x, p) : branchB(x, p);
          expectTreeClose(cond(predArray, branchA, branchB, x, p), want);
          expectTreeClose(cond(pred, branchA, branchB, x, p), want, { label: 'JS predicate' });
          expectTreeClose(jit((q: NDArray, y: NDArray) => cond(q, branchA, branchB, y, p))(predArray, x), want, { label: 'jit' });
        }),
      ),
      { seed: FC_SEED, numRuns: 20 },
    );
  });

  it('switchCase equals indexing the branches, clamping out-of-range indices (as lax.switch); lax.switch is switchCase', () => {
    fc.assert(
      fc.property(fc.integer({ min: -3, max: 5 }), fc.integer(), (index, seed) =>
        inScope(() => {
          const rng = new Rng(seed);
          const x = randomArray(rng, [2]), p = { w: randomArray(rng, [2]) };
          const want = allBranches[Math.min(Math.max(index, 0), 2)]!(x, p);
          expectTreeClose(switchCase(np.array(index, 'int32'), allBranches, x, p), want);
          expectTreeClose(lax.switch(index, allBranches, x, p), want, { label: 'lax.switch, JS index' });
          expectTreeClose(jit((i: NDArray, y: NDArray) => switchCase(i, allBranches, y, p))(np.array(index, 'int32'), x), want, { label: 'jit' });
        }),
      ),
      { seed: FC_SEED, numRuns: 20 },
    );
  });
});

describe('switchCase at its edges', () => {
  it('JS-number indices beyond int32 are clamped, not wrapped into another branch; one branch still returns new arrays', () => {
    inScope(() => {
      const x = np.array([0.5, 1.5], 'float32');
      const branches = [0, 1, 2].map((k) => (a: NDArray) => np.multiply(a, k));
      for (const [index, want] of [[2 ** 31, 2], [2 ** 32, 2], [2 ** 32 + 1, 2], [2 ** 40, 2], [-(2 ** 31) - 1, 0]] as const) {
        expect(switchCase(index, branches, x).toArray(), `index ${index}`).toEqual([0.5 * want, 1.5 * want]);
      }
      const same = switchCase(0, [(a: NDArray) => a], x);
      expect(same === x).toBe(false);
      dispose(same);
      expect(x.toArray()).toEqual([0.5, 1.5]); // the operand survives
    });
  });
});

describe('cond and switchCase: derivatives', () => {
  it('jvp and vjp agree with finite differences for every branch (switch to order 2, cond and jit(cond) to order 1)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 }), fc.integer(), (index, seed) =>
        inScope(() => {
          const rng = new Rng(seed);
          const x = randomArray(rng, [3], 0.2, 1), w = randomArray(rng, [3]);
          const f = (y: NDArray, v: NDArray) => {
            const out = switchCase(np.array(index, 'int32'), allBranches, y, { w: v });
            return np.add(np.sum(out.y), out.s);
          };
          checkGrads(f, [x, w], { order: 2, seed });
          const g = (y: NDArray) => cond(np.array(index === 1), branchA, branchB, y, { w }).y;
          checkGrads(g, [x], { order: 1, seed });
          checkGrads(jit(g), [x], { order: 1, seed });
        }),
      ),
      { seed: FC_SEED, numRuns: 5 },
    );
  });

  it('grad takes the chosen branch only: a NaN derivative in the other branch does not leak in (eager, jit(grad), grad(jit))', () =>
    inScope(() => {
      // sqrt's derivative at −1 is NaN; a select-based formulation would give 0·NaN = NaN.
      const f = (x: NDArray) => cond(np.greater(x, 0), (y: NDArray) => np.sqrt(y), (y: NDArray) => np.mul(y, 3), x);
      const x = np.array(-1, 'float32');
      expectClose(grad(f)(x), 3);
      expectClose(jit(grad(f))(x), 3);
      expectClose(grad(jit(f))(x), 3);
      expectClose(grad(f)(np.array(4, 'float32')), 0.25);
      // Second order through the transposed cond.
      expectClose(grad(grad(f))(np.array(4, 'float32')), -1 / 32, { rtol: 1e-4 });
    }));

  it("a cond in a scan body: grad (through the scan's partial evaluation of the cond) equals the unrolled JS branches", () =>
    inScope(() => {
      const xs = [1, -1, 2, -0.5];
      const step = (v: NDArray) => (c: NDArray, xi: NDArray) => [cond(np.greater(xi, 0), (a: NDArray) => np.sin(np.mul(a, v)), (a: NDArray) => np.mul(a, v), c), c] as const;
      const viaScan = (v: NDArray) => np.sum(scan(step(v), np.array(0.5, 'float32'), np.array(xs, 'float32'))[1]);
      const unrolled = (v: NDArray) => {
        let c = np.array(0.5, 'float32'), total = np.array(0, 'float32');
        for (const xi of xs) {
          total = np.add(total, c);
          c = xi > 0 ? np.sin(np.mul(c, v)) : np.mul(c, v);
        }
        return total;
      };
      const v = np.array(0.7, 'float32');
      expectTreeClose(grad(viaScan)(v), grad(unrolled)(v));
      expectTreeClose(jit(grad(viaScan))(v), grad(unrolled)(v), { label: 'jit(grad)' });
    }));

  it('vmap of grad and grad of vmap with a batched predicate equal the per-example loop', () =>
    inScope(() => {
      const f = (x: NDArray) => cond(np.greater(x, 0), (y: NDArray) => np.sin(y), (y: NDArray) => np.mul(y, y), x);
      const xs = np.array([-1.5, 0.5, 2, -0.25], 'float32');
      expectTreeClose(vmap(grad(f))(xs), loopVmap(grad(f), [xs], [0], 0, 4), { label: 'vmap(grad)' });
      const total = (v: NDArray) => np.sum(vmap(f)(v));
      expectTreeClose(grad(total)(xs), loopVmap(grad(f), [xs], [0], 0, 4), { label: 'grad(vmap)' });
      expectTreeClose(jit(grad(total))(xs), loopVmap(grad(f), [xs], [0], 0, 4), { label: 'jit(grad(vmap))' });
    }));
});

describe('cond and switchCase: vmap', () => {
  it('equals a loop over examples for a batched or unbatched index and batched or unbatched operands', () => {
    const axes = fc.constantFrom(0, null);
    fc.assert(
      fc.property(axes, axes, axes, fc.integer(), (ai, ax, aw, seed) =>
        inScope(() => {
          const rng = new Rng(seed);
          const B = 4;
          const index = ai === null ? np.array(1, 'int32') : np.array([2, -1, 0, 7], 'int32');
          const x = randomArray(rng, ax === null ? [3] : [B, 3], 0.2, 1);
          const w = randomArray(rng, aw === null ? [3] : [B, 3]);
          const run = (i: NDArray, y: NDArray, v: NDArray) => switchCase(i, allBranches, y, { w: v });
          const inAxes = [ai, ax, aw] as const;
          const got = vmap(run, { inAxes, axisSize: B })(index, x, w);
          const allUnbatched = ax === null && aw === null && ai === null;
          const want = loopVmap(run, [index, x, w], [...inAxes], allUnbatched ? null : 0, B);
          expectTreeClose(got, want);
          // cond with a batched predicate on the same operands.
          const preds = ai === null ? np.array(true) : np.array([true, false, false, true]);
          const c = (q: NDArray, y: NDArray, v: NDArray) => cond(q, branchA, branchC, y, { w: v });
          expectTreeClose(vmap(c, { inAxes, axisSize: B })(preds, x, w), loopVmap(c, [preds, x, w], [...inAxes], allUnbatched ? null : 0, B), { label: 'cond' });
        }),
      ),
      { seed: FC_SEED, numRuns: 12 },
    );
  });
});

describe('cond and switchCase: programs and errors', () => {
  it('one cond equation in the traced program; the gradient is a known cond and a transposed cond', () =>
    inScope(() => {
      const f = (q: NDArray, x: NDArray) => np.sum(cond(q, branchA, branchB, x, { w: np.ones([2]) }).y);
      const args = [np.array(true), np.array([0.1, 0.2], 'float32')] as const;
      expect(makeJaxpr(f)(...args).jaxpr.eqns.filter((e) => e.prim === 'cond')).toHaveLength(1);
      expect(makeJaxpr(grad(f, { argnums: 1 }))(...args).jaxpr.eqns.filter((e) => e.prim === 'cond')).toHaveLength(2);
    }));

  it('names the leaf where branches differ, and refuses non-scalar predicates and non-integer indices', () =>
    inScope(() => {
      const x = np.zeros([2]);
      expect(() => cond(true, (y: NDArray) => ({ a: y }), (y: NDArray) => ({ a: np.sum(y) }), x)).toThrow(ShapeError);
      expect(() => cond(true, (y: NDArray) => ({ a: y }), (y: NDArray) => ({ a: np.sum(y) }), x)).toThrow(/output at \.a is f32\[\] in falseFun but f32\[2\] in trueFun/);
      expect(() => cond(true, (y: NDArray) => y, (y: NDArray) => np.astype(y, 'int32'), x)).toThrow(DTypeError);
      expect(() => cond(true, ((y: NDArray) => [y, y]) as never, (y: NDArray) => y, x)).toThrow(/trueFun returns a tree of structure .* but falseFun returns/);
      expect(() => cond(np.array([true, false]), (y: NDArray) => y, (y: NDArray) => y, x)).toThrow(/cond: the predicate must be a scalar, got bool\[2\]/);
      expect(() => switchCase(np.array(1.5, 'float32'), [(y: NDArray) => y, (y: NDArray) => y], x)).toThrow(/switchCase: the index must be an integer scalar, got f32\[\]/);
      expect(() => switchCase(1.5, [(y: NDArray) => y, (y: NDArray) => y], x)).toThrow(DTypeError);
      expect(() => switchCase(0, [], x)).toThrow(/non-empty list/);
      expect(() => switchCase(0, [(y: NDArray) => y, (y: NDArray) => np.stack([y, y], 0)] as never, x)).toThrow(/output at \(root\) is f32\[2\] in branch 0 but f32\[2,2\] in branch 1/);
    }));
});

describe('cond and whileLoop: memory', () => {
  it('eager, jit, jvp, vmap (batched predicates), grad of cond and switch leave no tensors behind', () => {
    const x = np.array([0.3, -0.4], 'float32');
    const loop = (y: NDArray) => whileLoop((c: NDArray) => np.less(np.sum(np.abs(c)), 5), (c: NDArray) => np.add(np.mul(c, 1.5), 0.1), y);
    const jitted = jit(loop);
    const f = (y: NDArray) => np.sum(cond(np.greater(np.sum(y), 0), branchA, branchB, y, { w: np.ones([2]) }).y);
    expectNoLeak('whileLoop', () => loop(x));
    expectNoLeak('whileLoop, zero iterations', () => whileLoop(() => np.array(false), (c: NDArray) => c, x));
    expectNoLeak('jit(whileLoop)', () => jitted(x));
    expectNoLeak('jvp(whileLoop)', () => jvp(loop, [x], [x]));
    const batch = np.stack([x, np.mul(x, 4)], 0);
    expectNoLeak('vmap(whileLoop), batched predicate', () => vmap(loop)(batch));
    expectNoLeak('cond', () => scoped(() => f(x)));
    expectNoLeak('grad(cond)', () => grad(f)(x));
    expectNoLeak('vmap(grad(cond))', () => vmap(grad(f))(batch));
    expectNoLeak('switchCase', () => switchCase(2, allBranches, x, { w: x }));
    jitted.clearCache();
  });

  it('a long loop keeps no per-iteration objects in the enclosing TF.js scope (host memory constant in the trip count)', () => {
    let out: NDArray | undefined;
    const longest = longestScopeAtClose(() => (out = whileLoop((c: NDArray) => np.less(c, 20000), (c: NDArray) => np.add(c, 1), np.array(0, 'float32'))));
    expect(out!.item()).toBe(20000);
    dispose(out);
    // (every iteration frees its predicate and the carry it replaces: 40000 dead objects unless dropped)
    expect(longest).toBeLessThan(3000);
  });
});

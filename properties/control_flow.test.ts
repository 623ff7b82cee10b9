// Structured control flow (scan, foriLoop): values against the same step function run in a JS
// loop (slice, call, stack: no scan involved) for random carry/xs/ys pytrees, reverse, xs null and
// length 0; derivatives (jvp, grad, grad of grad) against finite differences (checkGrads) and
// against the unrolled loop; vmap against a loop over examples for every batched/unbatched mix;
// nesting and checkpoint; jit against eager, with one scan equation in the traced program whatever the length; dead-code
// elimination keeping exactly the used ys and the carries they read (a closure over random carry
// dependencies), and loop-invariant residuals computed once, not stacked (programs and peak
// memory); errors for a carry that changes structure, shape or dtype and for xs of different lengths; no leaks.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as tf from '@tensorflow/tfjs-core';
import { DTypeError, NDArray, ShapeError, TransformError, checkpoint, cond, dispose, foriLoop, grad, jit, jvp, makeJaxpr, np, scan, tree, valueAndGrad, vmap } from '../src/index.js';
import { Rng, checkGrads } from '../src/testing/index.js';
import { Jaxpr, type ClosedJaxpr, type JaxprEqn } from '../src/jaxpr.js';
import { deadCodeElimination } from '../src/dce.js';
import { FC_SEED, expectClose, extraPeakBytes, inScope, scoped } from './helpers.js';
import { expectNoLeak, expectTreeClose, longestScopeAtClose, loopVmap, randomArray } from './loop_oracle.js';

type Tree = unknown;

/** scan by a JS loop: slice every xs leaf at i, call f, stack each ys leaf (the oracle). */
function loopScan(f: (c: any, x: any) => readonly [any, any], init: Tree, xs: Tree, length: number, reverse = false): [any, any] {
  let carry = init;
  const ys: unknown[] = new Array(length);
  for (let s = 0; s < length; s++) {
    const i = reverse ? length - 1 - s : s;
    const x = tree.map((l: NDArray) => np.take(l, np.array(i, 'int32'), 0), xs as never);
    const [c, y] = f(carry, x);
    carry = c;
    ys[i] = y;
  }
  if (length === 0) return [carry, null];
  const [first, def] = tree.flatten(ys[0]);
  const perStep = ys.map((y) => tree.leaves(y) as NDArray[]);
  return [carry, tree.unflatten(def, first.map((_, k) => np.stack(perStep.map((l) => l[k]!), 0)))];
}

/** A random pytree shape: a leaf, a list or an object of leaves (each leaf a shape of rank ≤ 2). */
type Shape = number[];
type TreeShape = Shape | { list: TreeShape[] } | { obj: Record<string, TreeShape> };
const arbLeafShape: fc.Arbitrary<Shape> = fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 2 });
const arbTreeShape: fc.Arbitrary<TreeShape> = fc.oneof(
  arbLeafShape,
  fc.array(arbLeafShape, { minLength: 1, maxLength: 2 }).map((l) => ({ list: l as TreeShape[] })),
  fc.record({ a: arbLeafShape, b: arbLeafShape }).map((o) => ({ obj: o as Record<string, TreeShape> })),
);
function build(s: TreeShape, leaf: (shape: Shape) => NDArray): Tree {
  if (Array.isArray(s)) return leaf(s);
  if ('list' in s) return s.list.map((c) => build(c, leaf));
  return Object.fromEntries(Object.entries(s.obj).map(([k, c]) => [k, build(c, leaf)]));
}

/**
 * A step function over any carry and xs trees: a scalar s mixes every x leaf and every carry leaf;
 * each carry leaf becomes tanh(0.8·c + w·s); ys are a tree {s, first: the first carry leaf · s}.
 */
function mixingStep(w: number) {
  return (carry: any, x: any): [any, any] => {
    const total = (t: Tree) => (tree.leaves(t) as NDArray[]).reduce<NDArray>((acc, l) => np.add(acc, np.mean(l)), np.array(0, 'float32'));
    const s = np.add(np.sin(total(x)), np.mul(0.3, total(carry)));
    const newCarry = tree.map((c: NDArray) => np.tanh(np.add(np.mul(0.8, c), np.mul(w, s))), carry as never);
    const first = (tree.leaves(carry) as NDArray[])[0]!;
    return [newCarry, { s, first: np.mul(first, s) }];
  };
}

interface ScanCase {
  carry: TreeShape;
  xs: TreeShape | null;
  length: number;
  reverse: boolean;
  w: number;
  seed: number;
}
const arbScanCase: fc.Arbitrary<ScanCase> = fc.record({
  carry: arbTreeShape,
  xs: fc.option(arbTreeShape, { nil: null }),
  length: fc.integer({ min: 0, max: 5 }),
  reverse: fc.boolean(),
  w: fc.double({ min: -1, max: 1, noNaN: true }),
  seed: fc.integer(),
});

function caseArgs(c: ScanCase) {
  const rng = new Rng(c.seed);
  const init = build(c.carry, (s) => randomArray(rng, s));
  const xs = c.xs === null ? null : build(c.xs, (s) => randomArray(rng, [c.length, ...s]));
  return { init, xs, f: mixingStep(c.w) };
}

describe('scan: values', () => {
  it('equals the JS loop for random carry / xs / ys trees, reverse, xs null and length 0', () => {
    fc.assert(
      fc.property(arbScanCase, (c) =>
        inScope(() => {
          const { init, xs, f } = caseArgs(c);
          const [carry, ys] = scan(f, init, xs, { length: c.length, reverse: c.reverse });
          const [wantCarry, wantYs] = loopScan(f, init, xs, c.length, c.reverse);
          expectTreeClose(carry, wantCarry, { label: 'carry' });
          if (c.length > 0) expectTreeClose(ys, wantYs, { label: 'ys' });
          else {
            expect(ys.s.shape).toEqual([0]);
            expect(ys.first.shape).toEqual([0, ...(tree.leaves(init) as NDArray[])[0]!.shape]);
          }
        }),
      ),
      { seed: FC_SEED, numRuns: 40 },
    );
  });

  it('ys may be null and carries of int dtype stay int (a counter)', () =>
    inScope(() => {
      const xs = np.array([[1, 2], [3, 4], [5, 6]], 'float32');
      const [[n, acc], ys] = scan(([n, acc]: [NDArray, NDArray], x: NDArray) => [[np.add(n, np.array(1, 'int32')), np.add(acc, np.mul(x, n))], null] as const, [np.array(0, 'int32'), np.zeros([2])], xs);
      expect(ys).toBeNull();
      expect(n.dtype).toBe('int32');
      expectClose(n, 3);
      expectClose(acc, [0 * 1 + 1 * 3 + 2 * 5, 0 * 2 + 1 * 4 + 2 * 6]);
    }));

  it('a carry given as a JS number takes the dtype f returns (JAX promotes weakly typed inits)', () =>
    inScope(() => {
      const [total, ys] = scan((c: NDArray, x: NDArray) => [np.add(c, x), c] as const, 0, np.array([0.5, 1.5, 2], 'float32'));
      expect(total.dtype).toBe('float32');
      expectClose(total, 4);
      expectClose(ys, [0, 0.5, 2]);
    }));
});

describe('foriLoop', () => {
  it('equals the loop for i = lower … upper − 1, i an int32 scalar; empty ranges return init', () => {
    fc.assert(
      fc.property(fc.integer({ min: -3, max: 3 }), fc.integer({ min: -3, max: 6 }), fc.double({ min: -1, max: 1, noNaN: true }), (lower, upper, x0) =>
        inScope(() => {
          const body = (i: NDArray, x: NDArray) => {
            expect(i.dtype).toBe('int32');
            expect(i.shape).toEqual([]);
            return np.add(np.mul(np.cos(x), 0.9), np.astype(i, 'float32'));
          };
          const got = foriLoop(lower, upper, body, np.array(x0, 'float32'));
          let want = Math.fround(x0);
          for (let i = lower; i < upper; i++) want = 0.9 * Math.cos(want) + i;
          expectClose(got, want, { rtol: 1e-5, atol: 1e-5 });
        }),
      ),
      { seed: FC_SEED, numRuns: 30 },
    );
  });

  it('refuses bounds that are not JS integers', () =>
    inScope(() => {
      expect(() => foriLoop(0, 2.5, (_i, x: NDArray) => x, np.zeros([]))).toThrow(/foriLoop: upper must be a JS integer/);
    }));
});

/** An RNN-like loss: params {w, u} closed over as consts and passed, init h and xs differentiated together. */
function rnnLoss(reverse: boolean) {
  return (p: { w: NDArray; u: NDArray }, h0: NDArray, xs: NDArray) => {
    const step = (h: NDArray, x: NDArray) => {
      const h2 = np.tanh(np.add(np.matmul(p.w, h), np.mul(p.u, x)));
      return [h2, np.sum(np.mul(h2, h2))] as const;
    };
    const [h, ys] = scan(step, h0, xs, { reverse });
    return np.add(np.sum(np.sin(h)), np.sum(ys));
  };
}
function rnnLossUnrolled(reverse: boolean) {
  return (p: { w: NDArray; u: NDArray }, h0: NDArray, xs: NDArray) => {
    let h = h0;
    let total = np.array(0, 'float32');
    const n = xs.shape[0]!;
    for (let s = 0; s < n; s++) {
      const i = reverse ? n - 1 - s : s;
      h = np.tanh(np.add(np.matmul(p.w, h), np.mul(p.u, np.take(xs, np.array(i, 'int32'), 0))));
      total = np.add(total, np.sum(np.mul(h, h)));
    }
    return np.add(np.sum(np.sin(h)), total);
  };
}
function rnnArgs(seed: number, n: number, length: number) {
  const rng = new Rng(seed);
  return [{ w: randomArray(rng, [n, n], -0.6, 0.6), u: randomArray(rng, [n]) }, randomArray(rng, [n]), randomArray(rng, [length, n])] as const;
}

describe('scan: derivatives', () => {
  it('jvp and vjp, first and second order, agree with finite differences (checkGrads)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 0, max: 4 }), fc.boolean(), fc.integer(), (n, length, reverse, seed) =>
        inScope(() => checkGrads(rnnLoss(reverse), [...rnnArgs(seed, n, length)], { order: 2, seed })),
      ),
      { seed: FC_SEED, numRuns: 8 },
    );
  });

  it('grad and grad of grad equal those of the unrolled loop', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 4 }), fc.boolean(), fc.integer(), (n, length, reverse, seed) =>
        inScope(() => {
          const args = rnnArgs(seed, n, length);
          expectTreeClose(grad(rnnLoss(reverse), { argnums: [0, 1, 2] })(...args), grad(rnnLossUnrolled(reverse), { argnums: [0, 1, 2] })(...args), { label: 'grad' });
          // d/dh0 of the sum of the gradient wrt h0: second derivatives through the transposed scan.
          const second = (f: typeof rnnLoss) => grad((h0: NDArray) => np.sum(grad(f(reverse), { argnums: 1 })(args[0], h0, args[2])))(args[1]);
          expectTreeClose(second(rnnLoss), second(rnnLossUnrolled as typeof rnnLoss), { label: 'grad of grad', rtol: 1e-3 });
        }),
      ),
      { seed: FC_SEED, numRuns: 10 },
    );
  });

  it('a carry with a zero initial tangent that the body makes nonzero (the JVP fixpoint)', () =>
    inScope(() => {
      // acc starts as a constant but accumulates w·x: its tangent along w is Σx.
      const f = (w: NDArray) => scan((acc: NDArray, x: NDArray) => [np.add(acc, np.mul(w, x)), null] as const, np.zeros([]), np.array([1, 2, 4], 'float32'))[0];
      expectClose(jvp(f, [np.array(3, 'float32')], [np.array(1, 'float32')])[1], 7);
      expectClose(grad(f)(np.array(3, 'float32')), 7);
      checkGrads((w: NDArray) => np.sin(f(w)), [np.array(0.3, 'float32')], { order: 2 });
    }));

  it('a scan nested in a scan, a checkpointed body, a checkpointed scan and jit compose with derivatives (checkGrads, order 2)', () =>
    inScope(() => {
      const xs = np.array([[0.1, 0.2], [0.3, -0.4], [0.5, 0.6]], 'float32');
      const nested = (w: NDArray) => {
        const [c, ys] = scan((c: NDArray, row: NDArray) => {
          const [inner] = scan((d: NDArray, x: NDArray) => [np.sin(np.add(np.mul(d, w), x)), null] as const, c, row);
          return [inner, np.mul(inner, inner)] as const;
        }, np.array(0.2, 'float32'), xs);
        return np.add(c, np.sum(ys));
      };
      const ckBody = (w: NDArray) => {
        const [c, ys] = scan(checkpoint((c: NDArray, x: NDArray) => [np.tanh(np.add(np.mul(c, w), x)), np.sin(c)] as const), np.array(0.1, 'float32'), np.array([1, 2, 3], 'float32'));
        return np.add(c, np.sum(ys));
      };
      for (const f of [nested, ckBody, checkpoint(ckBody), jit(nested)]) checkGrads(f, [np.array(0.7, 'float32')], { order: 2 });
    }));

  it('foriLoop is differentiable in both modes', () =>
    inScope(() => {
      const f = (x: NDArray) => foriLoop(1, 4, (i, c: NDArray) => np.sin(np.mul(c, np.astype(i, 'float32'))), x);
      checkGrads(f, [np.array(0.4, 'float32')], { order: 2 });
    }));
});

describe('scan: residuals', () => {
  // An RNN cell closing over a weight matrix W, plain, checkpointed or jitted: the forward scan of
  // the gradient must keep W and xs as they are (JAX forwards them), not stack a copy per step.
  const L = 7, D = 3;
  const cell = (W: NDArray) => (h: NDArray, x: NDArray) => [np.tanh(np.add(np.matmul(h, W), x)), null] as const;
  type Wrap = 'plain' | 'checkpoint' | 'jit';
  const wrapped = (wrap: Wrap, W: NDArray) => (wrap === 'plain' ? cell(W) : wrap === 'checkpoint' ? checkpoint(cell(W)) : jit(cell(W)));
  const lossWith = (wrap: Wrap, h0: NDArray, xs: NDArray) => (W: NDArray) => np.sum(scan(wrapped(wrap, W), h0, xs)[0]);
  /** The shapes of every scan output of a program (stacked residuals included). */
  const scanOutputs = (program: ClosedJaxpr) =>
    program.jaxpr.eqns.filter((e) => e.prim === 'scan').flatMap((e) => e.outBinders.map((v) => v.aval.shape.join(',')));

  it('a checkpointed or jitted body stacks no copy of the weights it closes over, and its gradients equal the plain scan\'s', () =>
    inScope(() => {
      const rng = new Rng(FC_SEED);
      const W = randomArray(rng, [D, D]), h0 = randomArray(rng, [D]), xs = randomArray(rng, [L, D]);
      const want = grad(lossWith('plain', h0, xs))(W);
      for (const wrap of ['checkpoint', 'jit'] as const) {
        const shapes = scanOutputs(makeJaxpr(grad(lossWith(wrap, h0, xs)))(W));
        expect(shapes, wrap).not.toContain([L, D, D].join(','));
        expectTreeClose(grad(lossWith(wrap, h0, xs))(W), want, { label: `grad(${wrap})` });
        // and the forwarding composes: grad of grad and vmap of grad.
        const second = (w: Wrap) => grad((V: NDArray) => np.sum(np.sin(grad(lossWith(w, h0, xs))(V))))(W);
        expectTreeClose(second(wrap), second('plain'), { label: `grad of grad(${wrap})`, rtol: 1e-3 });
        const Ws = np.stack([W, np.mul(W, -0.5)], 0);
        expectTreeClose(vmap(grad(lossWith(wrap, h0, xs)))(Ws), vmap(grad(lossWith('plain', h0, xs)))(Ws), { label: `vmap of grad(${wrap})` });
      }
    }));
});

describe('scan: dead code', () => {
  // A scan with carries that read random subsets of the carries, and ys that do too; a function
  // returning only some of its outputs. jit's dead-code elimination must keep exactly the used
  // outputs and the carries they read across iterations (a closure over the dependencies).
  interface DepCase {
    carryDeps: boolean[][];
    yDeps: boolean[][];
    used: boolean[];
    length: number;
    seed: number;
  }
  const arbDepCase: fc.Arbitrary<DepCase> = fc
    .record({ nK: fc.integer({ min: 1, max: 4 }), nY: fc.integer({ min: 0, max: 2 }) })
    .chain(({ nK, nY }) =>
      fc.record({
        carryDeps: fc.array(fc.array(fc.boolean(), { minLength: nK, maxLength: nK }), { minLength: nK, maxLength: nK }),
        yDeps: fc.array(fc.array(fc.boolean(), { minLength: nK, maxLength: nK }), { minLength: nY, maxLength: nY }),
        used: fc.array(fc.boolean(), { minLength: nK + nY, maxLength: nK + nY }).filter((u) => u.some(Boolean)),
        length: fc.integer({ min: 0, max: 4 }),
        seed: fc.integer(),
      }),
    );
  const depStep = (c: DepCase) => (carry: NDArray[], x: NDArray): [NDArray[], NDArray[]] => {
    const read = (deps: boolean[]) => carry.reduce<NDArray>((acc, cj, j) => (deps[j] ? np.add(acc, np.mul(0.7, cj)) : acc), np.mul(0.5, x));
    return [c.carryDeps.map((d) => np.tanh(read(d))), c.yDeps.map((d) => np.sin(read(d)))];
  };
  /** The carries kept: those used, those a used y reads, and every carry they read (transitively). */
  const keptCarries = (c: DepCase): number => {
    const nK = c.carryDeps.length;
    const kept = c.used.slice(0, nK);
    c.yDeps.forEach((d, m) => c.used[nK + m] && d.forEach((r, j) => r && (kept[j] = true)));
    for (let grew = true; grew; ) {
      grew = false;
      c.carryDeps.forEach((d, k) => kept[k] && d.forEach((r, j) => r && !kept[j] && (grew = kept[j] = true)));
    }
    return kept.filter(Boolean).length;
  };

  it('jit keeps only the used carries and ys and the carries they read across steps; values and gradients are unchanged', () => {
    fc.assert(
      fc.property(arbDepCase, (c) =>
        inScope(() => {
          const rng = new Rng(c.seed);
          const nK = c.carryDeps.length;
          const init = c.carryDeps.map(() => randomArray(rng, [2]));
          const xs = randomArray(rng, [c.length, 2]);
          const usedOf = ([carry, ys]: [NDArray[], NDArray[]]) => [...carry, ...ys].filter((_, i) => c.used[i]);
          const f = (init: NDArray[]) => usedOf(scan(depStep(c), init, xs, { length: c.length }) as [NDArray[], NDArray[]]);
          const oracle = (init: NDArray[]) => usedOf(c.length === 0 ? [init, c.yDeps.map(() => np.zeros([0, 2]))] : loopScan(depStep(c), init, xs, c.length));
          const program = makeJaxpr(f)(init).jaxpr;
          const pruned = deadCodeElimination(program).eqns.filter((e) => e.prim === 'scan') as JaxprEqn<'scan'>[];
          expect(pruned).toHaveLength(1);
          expect(pruned[0]!.params.numCarry).toBe(keptCarries(c));
          expect(pruned[0]!.outBinders.length - pruned[0]!.params.numCarry).toBe(c.used.slice(nK).filter(Boolean).length);
          expectTreeClose(jit(f)(init), oracle(init), { label: 'jit' });
          const loss = (g: (i: NDArray[]) => NDArray[]) => (i: NDArray[]) => g(i).reduce<NDArray>((acc, o) => np.add(acc, np.sum(np.sin(o))), np.array(0, 'float32'));
          const want = grad(loss(oracle))(init);
          expectTreeClose(grad(loss(f))(init), want, { label: 'grad' });
          expectTreeClose(jit(grad(loss(f)))(init), want, { label: 'jit(grad)' });
        }),
      ),
      { seed: FC_SEED, numRuns: 40 },
    );
  });

  // A body that makes a big y per step (an outer product, L·D²) beside a small carry.
  const L = 50, D = 64;
  const ysBytes = L * D * D * 4;
  const bigYs = (h: NDArray, x: NDArray) => [np.tanh(np.add(np.mul(0.5, h), x)), np.outer(h, x)] as const;
  const bigXs = () => np.reshape(np.mul(np.arange(L * D), 1e-3), [L, D]);
  const shapesIn = (eqns: readonly JaxprEqn[]) => eqns.flatMap((e) => [...e.inputs, ...e.outBinders].map((v) => v.aval.shape.join(',')));

  it('ys nobody reads are not computed or stacked under jit, nor transposed by grad: peak memory is a step, not the ys', async () => {
    const xs = bigXs();
    const f = (h0: NDArray) => np.sum(scan(bigYs, h0, xs)[0]);
    const h0 = np.full([D], 0.1);
    // The gradient's program, dead code dropped, has no [L, D, D] value: no stacked ys in the
    // forward scan, no stacked zero cotangents for them in the reverse one.
    const gradProgram = makeJaxpr(grad(f))(h0).jaxpr;
    expect(shapesIn(gradProgram.eqns)).toContain([L, D, D].join(','));
    expect(shapesIn(deadCodeElimination(gradProgram).eqns)).not.toContain([L, D, D].join(','));
    const jitted = jit(f), jittedGrad = jit(grad(f));
    for (const [label, run] of [['jit', jitted], ['jit(grad)', jittedGrad]] as const) {
      dispose(run(h0));
      expect(await extraPeakBytes(() => run(h0)), label).toBeLessThan(0.1 * ysBytes);
    }
    inScope(() => {
      expectTreeClose(jitted(h0), scoped(() => f(h0)), { label: 'jit' });
      expectTreeClose(jittedGrad(h0), grad(f)(h0), { label: 'jit(grad)' });
      expectTreeClose(grad(f)(h0), grad((h: NDArray) => np.sum(loopScan(bigYs, h, xs, L)[0]))(h0), { label: 'grad' });
    });
    expectNoLeak('jit', () => jitted(h0));
    expectNoLeak('jit(grad)', () => jittedGrad(h0));
    expectNoLeak('grad', () => grad(f)(h0));
    jitted.clearCache();
    jittedGrad.clearCache();
    dispose([xs, h0]);
  });

  it('also inside nested jit, checkpoint and cond programs whose ys output nobody reads', async () => {
    const xs = bigXs();
    const h0 = np.full([D], 0.1);
    const inner = (h: NDArray) => scan(bigYs, h, xs);
    const other = (h: NDArray) => scan((c: NDArray, x: NDArray) => [np.sin(np.add(c, x)), np.outer(x, c)] as const, h, xs);
    const wrappers = {
      jit: (h: NDArray) => jit(inner)(h)[0],
      checkpoint: (h: NDArray) => checkpoint(inner)(h)[0],
      cond: (h: NDArray) => cond(np.greater(np.sum(h), 0), inner, other, h)[0],
    };
    for (const [label, f] of Object.entries(wrappers)) {
      const program = makeJaxpr(f)(h0).jaxpr;
      const big = `f32[${L},${D},${D}]`;
      expect(program.toString(), label).toContain(big);
      expect(new Jaxpr(program.inBinders, deadCodeElimination(program).eqns, program.outs).toString(), label).not.toContain(big);
      const jitted = jit(f);
      dispose(jitted(h0));
      expect(await extraPeakBytes(() => jitted(h0)), label).toBeLessThan(0.1 * ysBytes);
      inScope(() => {
        expectTreeClose(jitted(h0), scoped(() => f(h0)), { label });
        expectTreeClose(jit(grad((h: NDArray) => np.sum(f(h))))(h0), grad((h: NDArray) => np.sum(f(h)))(h0), { label: `jit(grad(${label}))` });
      });
      expectNoLeak(label, () => jitted(h0));
      jitted.clearCache();
    }
    dispose([xs, h0]);
  });
});

describe('scan: loop-invariant residuals', () => {
  // A body computing values from its consts alone (np.transpose(W), a mask of W's signs, exp(b/2))
  // beside values from the carry and xs. The gradient's forward scan must compute the const-only
  // residuals once, before the loop, and pass them to the linear scan as consts (JAX hoists them),
  // not save them per step as f32[length, D, D] residuals.
  const invariantLoss = (reverse: boolean) => (p: { W: NDArray; b: NDArray }, h0: NDArray, xs: NDArray) => {
    const step = (h: NDArray, x: NDArray) => {
      const mask = np.astype(np.greater(p.W, 0), 'float32');
      const s = np.exp(np.mul(p.b, 0.5));
      const h2 = np.tanh(np.add(np.mul(np.matmul(h, np.transpose(np.mul(p.W, mask))), s), x));
      return [h2, np.sum(np.mul(h2, s))] as const;
    };
    const [h, ys] = scan(step, h0, xs, { reverse });
    return np.add(np.sum(np.sin(h)), np.sum(ys));
  };
  const invariantLossUnrolled = (reverse: boolean) => (p: { W: NDArray; b: NDArray }, h0: NDArray, xs: NDArray) => {
    let h = h0, total = np.array(0, 'float32');
    const n = xs.shape[0]!;
    const Wt = np.transpose(np.mul(p.W, np.astype(np.greater(p.W, 0), 'float32')));
    const s = np.exp(np.mul(p.b, 0.5));
    for (let k = 0; k < n; k++) {
      const i = reverse ? n - 1 - k : k;
      h = np.tanh(np.add(np.mul(np.matmul(h, Wt), s), np.take(xs, np.array(i, 'int32'), 0)));
      total = np.add(total, np.sum(np.mul(h, s)));
    }
    return np.add(np.sum(np.sin(h)), total);
  };
  const invariantArgs = (seed: number, D: number, L: number) => {
    const rng = new Rng(seed);
    return [{ W: randomArray(rng, [D, D], -0.6, 0.6), b: randomArray(rng, [D], -0.5, 0.5) }, randomArray(rng, [D]), randomArray(rng, [L, D])] as const;
  };
  /** The shapes of the scans' outputs (stacked residuals included) in a program, dead code dropped as jit drops it. */
  const scanOutputShapes = (program: ClosedJaxpr) =>
    deadCodeElimination(program.jaxpr).eqns.filter((e) => e.prim === 'scan').flatMap((e) => e.outBinders.map((v) => v.aval.shape.join(',')));

  it('are computed once and not stacked; grad, grad of grad, jit(grad), grad(jit), vmap(grad) and checkpoint equal the unrolled loop', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 3 }), fc.integer({ min: 1, max: 4 }), fc.boolean(), fc.integer(), (D, L, reverse, seed) =>
        inScope(() => {
          const args = invariantArgs(seed, D, L);
          const f = invariantLoss(reverse), unrolled = invariantLossUnrolled(reverse);
          const g = grad(f, { argnums: [0, 1, 2] });
          const gradProgram = makeJaxpr(g)(...args);
          expect(scanOutputShapes(gradProgram)).not.toContain([L, D, D].join(','));
          // the linear (reverse) scan reads the hoisted [D, D] value as a const
          const reverseScan = gradProgram.jaxpr.eqns.filter((e) => e.prim === 'scan').at(-1) as JaxprEqn<'scan'>;
          expect(reverseScan.inputs.slice(0, reverseScan.params.numConsts).map((a) => a.aval.shape.join(','))).toContain([D, D].join(','));
          const want = grad(unrolled, { argnums: [0, 1, 2] })(...args);
          expectTreeClose(g(...args), want, { label: 'grad' });
          expectTreeClose(jit(g)(...args), want, { label: 'jit(grad)' });
          // and when the scan is inside a jitted function (partial evaluation of its program)
          const gradOfJit = grad(jit(f), { argnums: [0, 1, 2] });
          const program = makeJaxpr(gradOfJit)(...args).jaxpr;
          expect(new Jaxpr(program.inBinders, deadCodeElimination(program).eqns, program.outs).toString()).not.toContain(`f32[${L},${D},${D}]`);
          expectTreeClose(gradOfJit(...args), want, { label: 'grad(jit)' });
          expectTreeClose(grad(checkpoint(f), { argnums: [0, 1, 2] })(...args), want, { label: 'grad(checkpoint)' });
          const second = (loss: typeof f) => grad((W: NDArray) => np.sum(np.sin(grad(loss, { argnums: 1 })({ ...args[0], W }, args[1], args[2]))))(args[0].W);
          expectTreeClose(second(f), second(unrolled), { label: 'grad of grad', rtol: 1e-3 });
          const bs = np.stack([args[0].b, np.mul(args[0].b, -0.5)], 0);
          const perB = (loss: typeof f) => (b: NDArray) => grad(loss)({ ...args[0], b }, args[1], args[2]);
          expectTreeClose(vmap(perB(f))(bs), loopVmap(perB(unrolled), [bs], [0], 0, 2), { label: 'vmap(grad)' });
        }),
      ),
      { seed: FC_SEED, numRuns: 8 },
    );
  });

  it('agree with finite differences (checkGrads, order 2)', () =>
    fc.assert(
      fc.property(fc.boolean(), fc.integer(), (reverse, seed) => inScope(() => checkGrads(invariantLoss(reverse), [...invariantArgs(seed, 2, 3)], { order: 2, seed }))),
      { seed: FC_SEED, numRuns: 2 },
    ));

  it('the backward pass of W·hᵀ over many steps holds one Wᵀ, not one per step (peak memory), and leaves no tensors behind', async () => {
    const D = 96, L = 100;
    const stackedBytes = L * D * D * 4;
    const [p, h0, xs] = invariantArgs(FC_SEED, D, L);
    const loss = (W: NDArray) => np.sum(scan((h: NDArray, x: NDArray) => [np.tanh(np.add(np.matmul(h, np.transpose(W)), x)), null] as const, h0, xs)[0]);
    const g = grad(loss);
    const jitted = jit(g);
    for (const [label, run] of [['grad', g], ['jit(grad)', jitted]] as const) {
      dispose(run(p.W));
      expect(await extraPeakBytes(() => run(p.W)), label).toBeLessThan(0.2 * stackedBytes);
    }
    inScope(() => expectTreeClose(g(p.W), jitted(p.W), { label: 'jit(grad)' }));
    expectNoLeak('grad', () => g(p.W));
    expectNoLeak('jit(grad)', () => jitted(p.W));
    const args = invariantArgs(1, 3, 4);
    expectNoLeak('grad of grad', () => grad((W: NDArray) => np.sum(grad(invariantLoss(false), { argnums: 1 })({ ...args[0], W }, args[1], args[2])))(args[0].W));
    const bs = np.stack([args[0].b, args[0].b], 0);
    expectNoLeak('vmap(grad)', () => vmap((b: NDArray) => grad(invariantLoss(true))({ ...args[0], b }, args[1], args[2]))(bs));
    jitted.clearCache();
    dispose([p, h0, xs, args, bs]);
  });

  it('a scan that never runs computes nothing before the loop either: a body that would fail on its consts is not run at length 0', () =>
    inScope(() => {
      // cholesky of a matrix that is not positive definite is a LinAlgError; a hoisted copy would raise it at length 0.
      const notPd = np.array([[1, 2], [2, 1]], 'float32');
      const loss = (A: NDArray, h0: NDArray, xs: NDArray) =>
        np.sum(scan((h: NDArray, x: NDArray) => [np.add(np.matmul(h, np.linalg.cholesky(A)), x), null] as const, h0, xs)[0]);
      const h0 = np.array([[0.5, -1]]);
      for (const [label, run] of [['grad', grad(loss, { argnums: [0, 1] })], ['jit(grad)', jit(grad(loss, { argnums: [0, 1] }))]] as const) {
        const [gA, gh] = run(notPd, h0, np.zeros([0, 1, 2]));
        expectClose(gA, np.zeros([2, 2]), { label: `${label}: A` });
        expectClose(gh, np.ones([1, 2]), { label: `${label}: h0` });
      }
    }));
});

describe('scan: vmap', () => {
  const step = (w: NDArray) => (c: { h: NDArray; n: NDArray }, x: NDArray) => {
    const h = np.tanh(np.add(np.mul(c.h, w), x));
    return [{ h, n: np.add(c.n, np.array(1, 'int32')) }, np.sum(h)] as const;
  };
  const run = (w: NDArray, h0: NDArray, xs: NDArray) => scan(step(w), { h: h0, n: np.array(0, 'int32') }, xs);
  it('equals a loop over examples with the carry, the xs, a closed-over value, all or none batched', () => {
    const axes = fc.constantFrom(0, null);
    fc.assert(
      fc.property(axes, axes, axes, fc.integer({ min: 1, max: 3 }), fc.integer(), (aw, ah, ax, length, seed) =>
        inScope(() => {
          const rng = new Rng(seed);
          const B = 3, n = 2;
          const w = randomArray(rng, aw === null ? [n] : [B, n]);
          const h0 = randomArray(rng, ah === null ? [n] : [B, n]);
          const xs = ax === null ? randomArray(rng, [length, n]) : randomArray(rng, [length, B, n]);
          // xs batched along axis 1 (the scanned axis is 0), as vmap(…, {inAxes: 1}) gives it.
          const inAxes = [aw, ah, ax === null ? null : 1] as const;
          const got = vmap(run, { inAxes, axisSize: B })(w, h0, xs);
          const want = loopVmap(run, [w, h0, xs], [...inAxes], 0, B);
          expectTreeClose(got, want);
        }),
      ),
      { seed: FC_SEED, numRuns: 16 },
    );
  });

  it('vmap of grad and grad of vmap through scan equal the per-example loop', () =>
    inScope(() => {
      const [p, h0, xs] = rnnArgs(7, 2, 3);
      const batch = np.stack([h0, np.mul(h0, -0.5), np.add(h0, 0.25)], 0);
      const g = (h: NDArray) => grad(rnnLoss(false), { argnums: 1 })(p, h, xs);
      expectTreeClose(vmap(g)(batch), loopVmap(g, [batch], [0], 0, 3), { label: 'vmap(grad)' });
      const total = (w: NDArray) => np.sum(vmap((h: NDArray) => rnnLoss(false)({ ...p, w }, h, xs))(batch));
      const totalLoop = (w: NDArray) => [0, 1, 2].map((i) => rnnLossUnrolled(false)({ ...p, w }, np.take(batch, np.array(i, 'int32'), 0), xs)).reduce((a, b) => np.add(a, b));
      expectTreeClose(grad(total)(p.w), grad(totalLoop)(p.w), { label: 'grad(vmap)' });
    }));
});

describe('scan: jit', () => {
  it('jit(scan), jit(grad(scan)) and grad(jit(scan)) equal eager', () =>
    inScope(() => {
      const args = rnnArgs(3, 3, 5);
      const f = rnnLoss(false);
      expectTreeClose(jit(f)(...args), f(...args), { label: 'jit' });
      const g = grad(f, { argnums: [0, 1, 2] });
      expectTreeClose(jit(g)(...args), g(...args), { label: 'jit(grad)' });
      expectTreeClose(grad(jit(f), { argnums: [0, 1, 2] })(...args), g(...args), { label: 'grad(jit)' });
      expectTreeClose(jit((w: NDArray) => valueAndGrad((q: NDArray) => f({ ...args[0], w: q }, args[1], args[2]))(w))(args[0].w), valueAndGrad((q: NDArray) => f({ ...args[0], w: q }, args[1], args[2]))(args[0].w), { label: 'jit(valueAndGrad)' });
    }));

  it('the traced program has one scan equation whatever the length', () =>
    inScope(() => {
      for (const length of [1, 10, 400]) {
        const [p, h0, xs] = rnnArgs(1, 2, length);
        const program = makeJaxpr(rnnLoss(false))(p, h0, xs);
        expect(program.jaxpr.eqns.filter((e) => e.prim === 'scan')).toHaveLength(1);
        expect(program.jaxpr.eqns.length).toBeLessThan(10);
        // and so is the gradient's: a forward scan and the transposed (reverse) one.
        const gradProgram = makeJaxpr(grad(rnnLoss(false)))(p, h0, xs);
        expect(gradProgram.jaxpr.eqns.filter((e) => e.prim === 'scan').length).toBeLessThanOrEqual(2);
        expect(gradProgram.jaxpr.eqns.length).toBeLessThan(40);
      }
    }));
});

describe('scan: errors', () => {
  const xs = () => np.ones([3, 2]);
  it('names the carry leaf whose structure, shape or dtype changes, and xs of different lengths', () =>
    inScope(() => {
      expect(() => scan(((c: NDArray, x: NDArray) => [[c, c], x]) as never, np.zeros([2]), xs())).toThrow(TransformError);
      expect(() => scan(((c: NDArray, x: NDArray) => [[c, c], x]) as never, np.zeros([2]), xs())).toThrow(/carry of structure .* but init has structure/);
      expect(() => scan((c: { h: NDArray }, x: NDArray) => [{ h: np.sum(np.add(c.h, x)) }, x] as const, { h: np.zeros([2]) }, xs())).toThrow(ShapeError);
      expect(() => scan((c: { h: NDArray }, x: NDArray) => [{ h: np.sum(np.add(c.h, x)) }, x] as const, { h: np.zeros([2]) }, xs())).toThrow(/carry at \.h is f32\[2\] in init but f returns f32\[\]/);
      expect(() => scan((c: NDArray, x: NDArray) => [np.add(c, x), x] as const, np.zeros([2], 'int32'), xs())).toThrow(DTypeError);
      expect(() => scan((c: NDArray, x: NDArray) => [np.add(c, x), x] as const, np.zeros([2], 'int32'), xs())).toThrow(/keep its dtype/);
      // a JS-number init whose shape f changes is a shape error, not the dtype it was not promoted to
      expect(() => scan((c: NDArray) => [np.add(c, np.array([1, 2], 'float32')), null] as const, 0 as unknown as NDArray, xs())).toThrow(/carry at \(root\) is i32\[\] in init but f returns f32\[2\]; the carry must keep its shape/);
      expect(() => scan((c: NDArray) => [c, null] as const, np.zeros([]), { a: np.ones([3]), b: np.ones([4, 2]) })).toThrow(/different leading sizes \(3: \.a \[3\]; 4: \.b \[4,2\]\)/);
      expect(() => scan((c: NDArray) => [c, null] as const, np.zeros([]), np.ones([3]), { length: 4 })).toThrow(/length 4 differs from the xs' leading size 3/);
      expect(() => scan((c: NDArray) => [c, null] as const, np.zeros([]), null)).toThrow(/pass \{length\}/);
      expect(() => scan((c: NDArray) => c as never, np.zeros([]), null, { length: 2 })).toThrow(/f must return \[carry, y\]/);
    }));
});

describe('scan: memory', () => {
  it('holds the stacked ys once: the peak is the ys plus a step, not twice the ys; ys of every dtype are written in order', async () => {
    const L = 40, D = 64;
    const xs = np.reshape(np.mul(np.arange(L * D), 1e-3), [L, D]);
    const body = (h: NDArray, x: NDArray) => [np.add(h, x), { outer: np.outer(h, x), n: np.astype(np.sum(x), 'int32'), pos: np.greater(np.sum(h), 0) }] as const;
    const ysBytes = L * D * D * 4;
    const eager = () => scan(body, np.zeros([D]), xs);
    const jitted = jit(eager);
    for (const [label, run] of [['eager', eager], ['jit', jitted]] as const) {
      dispose(run());
      expect(await extraPeakBytes(() => run()), label).toBeLessThan(1.25 * ysBytes);
    }
    inScope(() => {
      const small = np.reshape(np.mul(np.arange(15), -0.1), [5, 3]);
      for (const reverse of [false, true]) expectTreeClose(scan(body, np.ones([3]), small, { reverse }), loopScan(body, np.ones([3]), small, 5, reverse), { label: `reverse ${reverse}` });
    });
    jitted.clearCache();
  });

  it('a long carry-only scan keeps no per-step objects in the enclosing TF.js scope (host memory constant in the length)', () => {
    let count: NDArray | undefined;
    const longest = longestScopeAtClose(() => ([count] = scan((c: NDArray) => [np.add(c, 1), null] as const, np.array(0, 'float32'), null, { length: 20000 })));
    expect(count!.item()).toBe(20000);
    dispose(count);
    // (every step frees the carry it replaces: 20000 dead objects unless dropped)
    expect(longest).toBeLessThan(3000);
  });

  it('eager, grad, grad of grad, vmap and jit leave no tensors behind', () => {
    const args = rnnArgs(5, 2, 4);
    const f = rnnLoss(false);
    const jitted = jit(f);
    // (Eager np calls outside a transformation belong to the caller, so the loss runs in a scope;
    // the scan's per-step slices, carries and ys are what this checks.)
    expectNoLeak('scan', () => scoped(() => f(...args)));
    expectNoLeak('scan alone', () => scan((h: NDArray, x: NDArray) => [np.tanh(np.add(h, x)), np.sin(h)] as const, args[1], args[2]));
    expectNoLeak('grad', () => grad(f, { argnums: [0, 1, 2] })(...args));
    expectNoLeak('grad of grad', () => grad((h: NDArray) => np.sum(grad(f, { argnums: 1 })(args[0], h, args[2])))(args[1]));
    const batch = np.stack([args[1], args[1]], 0);
    expectNoLeak('vmap', () => vmap((h: NDArray) => f(args[0], h, args[2]))(batch));
    expectNoLeak('jit', () => jitted(...args));
    expectNoLeak('foriLoop', () => foriLoop(0, 3, (_i, c: NDArray) => np.sin(c), args[1]));
    const empty = np.zeros([0, 2]);
    expectNoLeak('length 0', () => scan((h: NDArray, x: NDArray) => [h, x] as const, args[1], empty));
    jitted.clearCache();
  });
});

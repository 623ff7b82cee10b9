// vmap properties (issue 4): vmap(f) equals stacking f over the batch for random compositions and
// random inAxes/outAxes (numbers, negative numbers, null, pytree prefixes); nested vmap equals a
// double loop; vmap composes with grad, jvp and jit at any depth; every batching rule (gather,
// scatter, dot_general, conv2d, concatenate, pad, slice, cumsum, reductions, linalg, random) agrees
// with a loop for each operand batched or not; per-example gradients average to the batched
// gradient; errors name the arguments, sizes and axes; nothing leaks.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { NDArray, ShapeError, TransformError, dispose, grad, jit, jvp, makeJaxpr, np, random, scope, tree, vmap, type VmapOptions } from '../src/index.js';
import { Rng } from '../src/testing/index.js';
import { arbExpr, arbInputShapes, evalExpr, showExpr, type Expr } from './compositions.js';
import { FC_SEED, expectClose, inScope, values } from './helpers.js';
import { expectNoLeak, expectTreeClose, insertAxis, leafAxes, leaked, loopVmap, moderate, normAxis, pickAxis, randomArray, type Axes } from './loop_oracle.js';

type Fn = (...args: any[]) => any;

/** vmap(f) and the loop agree on `args` (the batch size read from the first mapped leaf). */
function checkVmap(f: Fn, args: unknown[], inAxes: Axes, outAxes: Axes = 0, opts: { rtol?: number; atol?: number; label?: string; axisSize?: number } = {}): void {
  const size = opts.axisSize ?? batchSize(args, inAxes);
  const want = loopVmap(f, args, inAxes, outAxes, size);
  // (Axes trees of any shape: the generated cases are checked at run time, not by the types.)
  const got = vmap(f, { inAxes, outAxes, axisSize: opts.axisSize } as VmapOptions)(...args);
  expectTreeClose(got, want, { rtol: opts.rtol ?? 1e-4, atol: opts.atol ?? 1e-5, label: opts.label ?? 'vmap vs loop' });
}

/** Σ sin over the float leaves of f's output: a scalar whose gradient exercises every transpose rule f uses. */
const scalarize = (f: Fn): Fn => (...a: unknown[]) =>
  (tree.leaves(f(...a)) as NDArray[]).filter((l) => l.dtype === 'float32').reduce((acc: NDArray, l) => np.add(acc, np.sum(np.sin(l))), np.array(0, 'float32'));

/** checkVmap for f, then for the per-example gradients vmap(grad(Σ sin f)) with respect to every float argument. */
function checkVmapGrad(f: Fn, args: unknown[], inAxes: Axes, outAxes: Axes = 0, opts: { rtol?: number; atol?: number; label?: string; axisSize?: number } = {}): void {
  checkVmap(f, args, inAxes, outAxes, opts);
  const floatArgs = args.flatMap((a, i) => ((tree.leaves(a) as NDArray[]).every((l) => l instanceof NDArray && l.dtype === 'float32') ? [i] : []));
  if (floatArgs.length === 0) return;
  const g = grad(scalarize(f), { argnums: floatArgs });
  checkVmap(g, args, inAxes, 0, { ...opts, rtol: 5 * (opts.rtol ?? 1e-4), atol: 5 * (opts.atol ?? 1e-5), label: `vmap(grad) of ${opts.label ?? 'f'}` });
}

function batchSize(args: unknown[], inAxes: Axes): number {
  const leaves = tree.leaves(args) as NDArray[];
  const axes = leafAxes(inAxes, args);
  const k = axes.findIndex((a) => a !== null);
  if (k < 0) throw new Error('batchSize: nothing is mapped');
  return leaves[k]!.shape[normAxis(axes[k]!, leaves[k]!.ndim)]!;
}

/** A raw axis draw: null one time in four, else an index (possibly negative) valid for insertion. */
const arbAxisDraw = fc.record({ raw: fc.nat(11), neg: fc.boolean(), none: fc.nat(3).map((n) => n === 0) });
type AxisDraw = { raw: number; neg: boolean; none: boolean };
const axisFor = (d: AxisDraw, ndim: number): number | null => (d.none ? null : pickAxis(d.raw, d.neg, ndim));
const mappedAxisFor = (d: AxisDraw, ndim: number): number => pickAxis(d.raw, d.neg, ndim);

/** An array of per-example shape `shape` batched (size b) at `axis`. */
const batched = (rng: Rng, shape: number[], axis: number | null, b: number, lo?: number, hi?: number) => randomArray(rng, insertAxis(shape, axis, b), lo, hi);

// ---------------------------------------------------------------------------------------------
// Random compositions

interface CompCase {
  k: number;
  e1: Expr;
  e2: Expr;
  shapes: number[][];
  b: number;
  axes: AxisDraw[];
  layout: 'flat' | 'number' | 'tree' | 'prefix';
  outForm: 'number' | 'tree' | 'prefix';
  outDraws: [AxisDraw, AxisDraw];
  seed: number;
}

const arbCompCase: fc.Arbitrary<CompCase> = fc.integer({ min: 1, max: 3 }).chain((k) =>
  fc.record({
    k: fc.constant(k),
    e1: arbExpr(k, 3),
    e2: arbExpr(k, 2),
    shapes: arbInputShapes(k),
    b: fc.integer({ min: 1, max: 3 }),
    axes: fc.array(arbAxisDraw, { minLength: k, maxLength: k }),
    layout: fc.constantFrom('flat' as const, 'number' as const, 'tree' as const, 'prefix' as const),
    outForm: fc.constantFrom('number' as const, 'tree' as const, 'prefix' as const),
    outDraws: fc.tuple(arbAxisDraw, arbAxisDraw),
    seed: fc.integer(),
  }),
);

/** The case's function, arguments and inAxes: f(x0, {w: [x1, x2]}) for the tree layouts, f(x0, x1, x2) otherwise. */
function buildComp(c: CompCase) {
  const rng = new Rng(c.seed);
  const ranks = c.shapes.map((s) => s.length);
  const minRest = Math.min(...ranks.slice(1), 99);
  let leafAxes: (number | null)[];
  let inAxes: Axes;
  if (c.layout === 'number') {
    const a = mappedAxisFor(c.axes[0]!, Math.min(...ranks));
    leafAxes = ranks.map(() => a);
    inAxes = a;
  } else if (c.layout === 'prefix') {
    const a0 = axisFor(c.axes[0]!, ranks[0]!);
    const rest = c.k > 1 ? axisFor(c.axes[1]!, minRest) : null;
    leafAxes = [a0, ...ranks.slice(1).map(() => rest)];
    inAxes = [a0, { w: rest }];
  } else {
    leafAxes = c.axes.map((d, i) => axisFor(d, ranks[i]!));
    inAxes = c.layout === 'flat' ? leafAxes : [leafAxes[0]!, { w: leafAxes.slice(1) }];
  }
  const xs = c.shapes.map((s, i) => batched(rng, s, leafAxes[i]!, c.b));
  const body = (ys: NDArray[]) => ({ y: evalExpr(c.e1, ys), z: [evalExpr(c.e2, ys)] });
  const nested = c.layout === 'tree' || c.layout === 'prefix';
  const f: Fn = nested ? (x0: NDArray, rest: { w: NDArray[] }) => body([x0, ...rest.w]) : (...ys: NDArray[]) => body(ys);
  const args: unknown[] = nested ? [xs[0]!, { w: xs.slice(1) }] : xs;
  const anyMapped = leafAxes.some((a) => a !== null);
  return { f, args, inAxes, leafAxes, axisSize: anyMapped ? undefined : c.b, body, xs };
}

function outAxesFor(c: CompCase, out: { y: NDArray; z: NDArray[] }): Axes {
  const r1 = out.y.ndim, r2 = out.z[0]!.ndim;
  const [d1, d2] = c.outDraws;
  if (c.outForm === 'number') return mappedAxisFor(d1, Math.min(r1, r2));
  if (c.outForm === 'tree') return { y: mappedAxisFor(d1, r1), z: [mappedAxisFor(d2, r2)] };
  return { y: mappedAxisFor(d1, r1), z: mappedAxisFor(d2, r2) };
}

const showComp = (c: CompCase) => `y = ${showExpr(c.e1)}, z = ${showExpr(c.e2)}`;

describe('vmap(f) equals stacking f over the batch', () => {
  it('for random compositions, random inAxes/outAxes (negative, null, pytree prefixes) and batch sizes 1–3', () => {
    fc.assert(
      fc.property(arbCompCase, (c) =>
        inScope(() => {
          const { f, args, inAxes, axisSize } = buildComp(c);
          const size = c.b;
          const probe = loopVmap(f, args, inAxes, 0, size);
          fc.pre(moderate(probe));
          const example = { y: np.take(probe.y, np.array(0, 'int32'), 0), z: [np.take(probe.z[0], np.array(0, 'int32'), 0)] };
          const outAxes = outAxesFor(c, example);
          const want = loopVmap(f, args, inAxes, outAxes, size);
          const got = vmap(f, { inAxes, outAxes, axisSize })(...args);
          expectTreeClose(got, want, { rtol: 2e-4, atol: 2e-5, label: `${showComp(c)} inAxes ${JSON.stringify(inAxes)} outAxes ${JSON.stringify(outAxes)}` });
        }),
      ),
      { seed: FC_SEED, numRuns: 120 },
    );
  });

  it('nested vmap equals a double loop (random axes at both levels, unmapped levels via axisSize)', () => {
    const arb = fc.integer({ min: 1, max: 3 }).chain((k) =>
      fc.record({
        e: arbExpr(k, 3),
        shapes: arbInputShapes(k, { maxRank: 2 }),
        b1: fc.integer({ min: 1, max: 3 }),
        b2: fc.integer({ min: 1, max: 3 }),
        inner: fc.array(arbAxisDraw, { minLength: k, maxLength: k }),
        outer: fc.array(arbAxisDraw, { minLength: k, maxLength: k }),
        outInner: arbAxisDraw,
        outOuter: arbAxisDraw,
        seed: fc.integer(),
      }),
    );
    fc.assert(
      fc.property(arb, (c) =>
        inScope(() => {
          const rng = new Rng(c.seed);
          const innerAxes = c.shapes.map((s, i) => axisFor(c.inner[i]!, s.length));
          const outerAxes = c.shapes.map((s, i) => axisFor(c.outer[i]!, s.length + (innerAxes[i] === null ? 0 : 1)));
          const xs = c.shapes.map((s, i) => randomArray(rng, insertAxis(insertAxis(s, innerAxes[i]!, c.b2), outerAxes[i]!, c.b1)));
          const f = (...ys: NDArray[]) => evalExpr(c.e, ys);
          const probe = f(...c.shapes.map((s) => np.zeros(s)));
          const outIn = mappedAxisFor(c.outInner, probe.ndim);
          const outOut = mappedAxisFor(c.outOuter, probe.ndim + 1);
          const want = loopVmap((...a: NDArray[]) => loopVmap(f, a, innerAxes, outIn, c.b2), xs, outerAxes, outOut, c.b1);
          fc.pre(moderate(want));
          const got = vmap(vmap(f, { inAxes: innerAxes, outAxes: outIn, axisSize: c.b2 }), { inAxes: outerAxes, outAxes: outOut, axisSize: c.b1 })(...xs);
          expectTreeClose(got, want, { rtol: 2e-4, atol: 2e-5, label: `${showExpr(c.e)} inner ${JSON.stringify(innerAxes)} outer ${JSON.stringify(outerAxes)}` });
        }),
      ),
      { seed: FC_SEED, numRuns: 60 },
    );
  });

  it('no rule loops over examples: the traced program of vmap(f) has the same equations for batch sizes 1 and 4', () => {
    fc.assert(
      fc.property(arbCompCase, (c) =>
        inScope(() => {
          const small = buildComp({ ...c, b: 1 });
          const large = buildComp({ ...c, b: 4 });
          const prims = (p: { jaxpr: { eqns: { prim: string }[] } }) => p.jaxpr.eqns.map((e) => e.prim).join(' ');
          const ps = makeJaxpr(vmap(small.f, { inAxes: small.inAxes, axisSize: small.axisSize }))(...small.args);
          const pl = makeJaxpr(vmap(large.f, { inAxes: large.inAxes, axisSize: large.axisSize }))(...large.args);
          expect(prims(pl), showComp(c)).toBe(prims(ps));
        }),
      ),
      { seed: FC_SEED, numRuns: 40 },
    );
  });

  it('closures over unbatched arrays, outputs that ignore the batch, and outAxes null for them', () => {
    inScope(() => {
      const W = np.array([[1, 2], [3, -1], [0.5, 0.25]], 'float32');
      const xs = np.array([[1, 0, -1], [2, 1, 0]], 'float32');
      const f = (x: NDArray) => ({ mapped: np.matmul(x, W), constant: np.sum(W) });
      const out = vmap(f, { outAxes: { mapped: 0, constant: null } })(xs);
      expectClose(out.mapped, np.matmul(xs, W));
      expectClose(out.constant, 5.75);
      // With outAxes 0 an unbatched output is broadcast along the batch.
      expectClose(vmap(f)(xs).constant, [5.75, 5.75]);
      // No mapped argument at all: axisSize says how many copies.
      expectClose(vmap(() => np.sum(W), { axisSize: 3 })(), [5.75, 5.75, 5.75]);
      expectClose(vmap((x: NDArray) => np.multiply(x, 2), { inAxes: [null], axisSize: 2, outAxes: 1 })(np.array([1, 2], 'float32')), [[2, 2], [4, 4]]);
    });
  });

  // Core bug: `inAxes: null` is read as "not given" (options.inAxes ?? 0), so every argument is
  // mapped over axis 0 instead of none; `inAxes: [null]` works.
  it('inAxes: null maps no argument (like a list of nulls)', () => {
    inScope(() => {
      const x = np.array([1, 2], 'float32');
      const got = vmap((a: NDArray) => np.multiply(a, 2), { inAxes: null, axisSize: 3 })(x);
      expectClose(got, [[2, 4], [2, 4], [2, 4]]);
    });
  });

  it('integer, boolean and int-valued outputs batch like floats', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }), fc.integer(), arbAxisDraw, (b, n, seed, d) =>
        inScope(() => {
          const rng = new Rng(seed);
          const axis = mappedAxisFor(d, 1);
          const x = batched(rng, [n], axis, b);
          const f = (v: NDArray) => ({ arg: np.argmax(v), pos: np.greater(v, 0), ints: np.astype(np.multiply(v, 4), 'int32'), any: np.any(np.less(v, -1)) });
          checkVmap(f, [x], axis, 0, { label: 'int/bool outputs' });
        }),
      ),
      { seed: FC_SEED, numRuns: 20 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Composition with grad, jvp and jit

interface ScalarCase {
  e: Expr;
  shapes: number[][];
  b: number;
  axes: AxisDraw[];
  seed: number;
}
const arbScalarCase = (maxDepth: number, maxRank = 3): fc.Arbitrary<ScalarCase> =>
  fc.integer({ min: 1, max: 3 }).chain((k) =>
    fc.record({ e: arbExpr(k, maxDepth), shapes: arbInputShapes(k, { maxRank }), b: fc.integer({ min: 1, max: 3 }), axes: fc.array(arbAxisDraw, { minLength: k, maxLength: k }), seed: fc.integer() }),
  );

function buildScalar(c: ScalarCase) {
  const rng = new Rng(c.seed);
  let axes = c.shapes.map((s, i) => axisFor(c.axes[i]!, s.length));
  if (axes.every((a) => a === null)) axes = [mappedAxisFor(c.axes[0]!, c.shapes[0]!.length), ...axes.slice(1)];
  const xs = c.shapes.map((s, i) => batched(rng, s, axes[i]!, c.b));
  const f = (...ys: NDArray[]) => evalExpr(c.e, ys);
  const s = (...ys: NDArray[]) => np.sum(f(...ys));
  const all = c.shapes.map((_, i) => i);
  return { xs, axes, f, s, all, rng };
}

/** Runs `body` when f is finite and moderate on every example (else skips the case). */
function withScalarCase(c: ScalarCase, body: (b: ReturnType<typeof buildScalar>) => void): void {
  inScope(() => {
    const built = buildScalar(c);
    fc.pre(moderate(loopVmap(built.f, built.xs, built.axes, 0, c.b)));
    body(built);
  });
}

describe('vmap composes with grad, jvp and jit and agrees with loops', () => {
  it('vmap(grad(f)) (per-example gradients of every argument)', () => {
    fc.assert(
      fc.property(arbScalarCase(3), (c) =>
        withScalarCase(c, ({ xs, axes, s, all }) => {
          const g = grad(s, { argnums: all });
          checkVmap(g, xs, axes, 0, { rtol: 5e-4, atol: 5e-5, label: `vmap(grad) of ${showExpr(c.e)}` });
        }),
      ),
      { seed: FC_SEED, numRuns: 60 },
    );
  });

  it('grad(sum ∘ vmap(f)): mapped arguments get the stacked per-example gradients, unmapped ones their sum', () => {
    fc.assert(
      fc.property(arbScalarCase(3), (c) =>
        withScalarCase(c, ({ xs, axes, f, s, all }) => {
          const got = grad((...ys: NDArray[]) => np.sum(vmap(f, { inAxes: axes })(...ys)), { argnums: all })(...xs) as NDArray[];
          const perExample = loopVmap(grad(s, { argnums: all }), xs, axes, 0, c.b) as NDArray[];
          const want = perExample.map((g, i) => (axes[i] === null ? np.sum(g, 0) : np.moveaxis(g, 0, normAxis(axes[i]!, xs[i]!.ndim))));
          expectTreeClose(got, want, { rtol: 5e-4, atol: 5e-5, label: `grad(vmap) of ${showExpr(c.e)}` });
        }),
      ),
      { seed: FC_SEED, numRuns: 60 },
    );
  });

  it('grad of a weighted sum of vmap(f) with random outAxes equals the gradient through the loop', () => {
    fc.assert(
      fc.property(arbScalarCase(3), arbAxisDraw, (c, od) =>
        withScalarCase(c, ({ xs, axes, f, all, rng }) => {
          const example = loopVmap(f, xs, axes, 0, c.b) as NDArray;
          const outAxis = mappedAxisFor(od, example.ndim - 1);
          const W = randomArray(rng, loopVmap(f, xs, axes, outAxis, c.b).shape, -1, 1);
          const viaVmap = (...ys: NDArray[]) => np.sum(np.multiply(vmap(f, { inAxes: axes, outAxes: outAxis })(...ys), W));
          const viaLoop = (...ys: NDArray[]) => np.sum(np.multiply(loopVmap(f, ys, axes, outAxis, c.b) as NDArray, W));
          expectTreeClose(grad(viaVmap, { argnums: all })(...xs), grad(viaLoop, { argnums: all })(...xs), { rtol: 5e-4, atol: 5e-5, label: `grad(Σ W·vmap(f, outAxes ${outAxis})) of ${showExpr(c.e)}` });
        }),
      ),
      { seed: FC_SEED, numRuns: 40 },
    );
  });

  it('vmap(vmap(grad(f))) equals a double loop of grad', () => {
    const arb = fc.integer({ min: 1, max: 2 }).chain((k) =>
      fc.record({ e: arbExpr(k, 3), shapes: arbInputShapes(k, { maxRank: 2 }), b1: fc.integer({ min: 1, max: 3 }), b2: fc.integer({ min: 1, max: 2 }), inner: fc.array(arbAxisDraw, { minLength: k, maxLength: k }), outer: fc.array(arbAxisDraw, { minLength: k, maxLength: k }), seed: fc.integer() }),
    );
    fc.assert(
      fc.property(arb, (c) =>
        inScope(() => {
          const rng = new Rng(c.seed);
          const inner = c.shapes.map((s, i) => axisFor(c.inner[i]!, s.length));
          const outer = c.shapes.map((s, i) => axisFor(c.outer[i]!, s.length + (inner[i] === null ? 0 : 1)));
          const xs = c.shapes.map((s, i) => randomArray(rng, insertAxis(insertAxis(s, inner[i]!, c.b2), outer[i]!, c.b1)));
          const all = c.shapes.map((_, i) => i);
          const g = grad((...ys: NDArray[]) => np.sum(evalExpr(c.e, ys)), { argnums: all });
          const want = loopVmap((...a: NDArray[]) => loopVmap(g, a, inner, 0, c.b2), xs, outer, 0, c.b1);
          fc.pre(moderate(want));
          const got = vmap(vmap(g, { inAxes: inner, axisSize: c.b2 }), { inAxes: outer, axisSize: c.b1 })(...xs);
          expectTreeClose(got, want, { rtol: 5e-4, atol: 5e-5, label: `vmap(vmap(grad)) of ${showExpr(c.e)}` });
        }),
      ),
      { seed: FC_SEED, numRuns: 30 },
    );
  });

  it('jvp(vmap(f)) equals a loop of jvp (tangents batched like the primals)', () => {
    fc.assert(
      fc.property(arbScalarCase(3), (c) =>
        withScalarCase(c, ({ xs, axes, f, rng }) => {
          const ts = xs.map((x) => randomArray(rng, x.shape, -1, 1));
          const [out, tangent] = jvp(vmap(f, { inAxes: axes }), xs, ts);
          const k = xs.length;
          const want = loopVmap((...a: NDArray[]) => jvp(f, a.slice(0, k), a.slice(k)), [...xs, ...ts], [...axes, ...axes], 0, c.b);
          expectTreeClose([out, tangent], want, { rtol: 5e-4, atol: 5e-5, label: `jvp(vmap) of ${showExpr(c.e)}` });
        }),
      ),
      { seed: FC_SEED, numRuns: 50 },
    );
  });

  it('vmap(jit(f)), jit(vmap(f)) and jit(vmap(grad(f))) equal loops', () => {
    fc.assert(
      fc.property(arbScalarCase(3), (c) =>
        withScalarCase(c, ({ xs, axes, f, s, all }) => {
          const label = showExpr(c.e);
          checkVmap(jit(f), xs, axes, 0, { rtol: 2e-4, atol: 2e-5, label: `vmap(jit) of ${label}` });
          const want = loopVmap(f, xs, axes, 0, c.b);
          expectTreeClose(jit(vmap(f, { inAxes: axes }))(...xs), want, { rtol: 2e-4, atol: 2e-5, label: `jit(vmap) of ${label}` });
          const g = grad(s, { argnums: all });
          expectTreeClose(jit(vmap(g, { inAxes: axes }))(...xs), loopVmap(g, xs, axes, 0, c.b), { rtol: 5e-4, atol: 5e-5, label: `jit(vmap(grad)) of ${label}` });
        }),
      ),
      { seed: FC_SEED, numRuns: 40 },
    );
  });

  it('one jitted f under vmap with other batch sizes and batched arguments, called again and again, equals loops (the batched programs are reused per signature)', () => {
    const f = jit((a: NDArray, b: NDArray) => np.add(np.multiply(np.sin(a), b), np.sum(np.square(b))));
    fc.assert(fc.property(fc.array(fc.tuple(fc.integer({ min: 1, max: 4 }), fc.constantFrom<[number | null, number | null]>([0, 0], [0, null], [null, 0], [1, 0])), { minLength: 2, maxLength: 6 }), fc.integer(), (calls, seed) => {
      inScope(() => {
        const rng = new Rng(seed);
        for (const [size, [da, db]] of [...calls, ...calls]) {
          const a = randomArray(rng, da === null ? [3] : da === 0 ? [size, 3] : [3, size], -1, 1);
          const b = randomArray(rng, db === null ? [3] : [size, 3], -1, 1);
          expectTreeClose(vmap(f, { inAxes: [da, db] })(a, b), loopVmap(f, [a, b], [da, db], 0, size), { rtol: 1e-5, atol: 1e-6, label: `size ${size}, inAxes [${da}, ${db}]` });
        }
      });
    }), { seed: FC_SEED, numRuns: 15 });
    f.clearCache();
  });
});

// ---------------------------------------------------------------------------------------------
// Per-example gradients

describe('per-example gradients', () => {
  const mlp = (p: Params, x: NDArray) => np.add(np.matmul(np.tanh(np.add(np.matmul(x, p.W1), p.b1)), p.W2), p.b2);
  type Params = { W1: NDArray; b1: NDArray; W2: NDArray; b2: NDArray };
  const lossOne = (p: Params, x: NDArray, y: NDArray) => np.sum(np.square(np.subtract(mlp(p, x), y)));
  const arbDims = fc.record({ n: fc.integer({ min: 1, max: 6 }), d: fc.integer({ min: 1, max: 4 }), h: fc.integer({ min: 1, max: 5 }), k: fc.integer({ min: 1, max: 3 }), seed: fc.integer() });
  const make = ({ n, d, h, k, seed }: { n: number; d: number; h: number; k: number; seed: number }) => {
    const rng = new Rng(seed);
    const params: Params = { W1: randomArray(rng, [d, h], -1, 1), b1: randomArray(rng, [h], -0.5, 0.5), W2: randomArray(rng, [h, k], -1, 1), b2: randomArray(rng, [k], -0.5, 0.5) };
    return { params, X: randomArray(rng, [n, d]), Y: randomArray(rng, [n, k]) };
  };

  it('vmap(grad(loss)) of an MLP averages to the gradient of the mean loss, and equals a loop of grad', () => {
    fc.assert(
      fc.property(arbDims, (dims) =>
        inScope(() => {
          const { params, X, Y } = make(dims);
          const perExample = vmap(grad(lossOne), { inAxes: [null, 0, 0] })(params, X, Y) as Params;
          for (const leaf of Object.values(perExample)) expect(leaf.shape[0]).toBe(dims.n);
          const batchLoss = (p: Params) => np.mean(np.sum(np.square(np.subtract(mlp(p, X), Y)), -1));
          const averaged = tree.map((g: NDArray) => np.mean(g, 0), perExample);
          expectTreeClose(averaged, grad(batchLoss)(params), { rtol: 2e-4, atol: 2e-5, label: 'mean of per-example gradients' });
          expectTreeClose(perExample, loopVmap(grad(lossOne), [params, X, Y], [null, 0, 0], 0, dims.n), { rtol: 2e-4, atol: 2e-5, label: 'per-example gradients' });
        }),
      ),
      { seed: FC_SEED, numRuns: 30 },
    );
  });

  it('per-example gradient clipping (DP-SGD): clipped per-example norms are at most C', () => {
    inScope(() => {
      const { params, X, Y } = make({ n: 5, d: 3, h: 4, k: 2, seed: 3 });
      const C = 0.5;
      const clipped = vmap((x: NDArray, y: NDArray) => {
        const g = grad(lossOne)(params, x, y);
        const norm = np.sqrt(tree.leaves(g).reduce((acc: NDArray, l) => np.add(acc, np.sum(np.square(l as NDArray))), np.array(0, 'float32')));
        const factor = np.minimum(1, np.divide(C, np.add(norm, 1e-12)));
        return tree.map((l: NDArray) => np.multiply(l, factor), g);
      })(X, Y) as Params;
      const norms = np.sqrt(Object.values(clipped).reduce((acc: NDArray, l) => np.add(acc, np.sum(np.square(l), l.shape.slice(1).map((_, i) => i + 1))), np.zeros([5])));
      for (const v of norms.dataSync()) expect(v).toBeLessThanOrEqual(C * (1 + 1e-5));
    });
  });

  it('the program of vmap(grad) of a matmul loss has a fixed number of products and no intermediate larger than its per-example gradients', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 6 }), fc.integer({ min: 2, max: 5 }), fc.integer({ min: 2, max: 5 }), (n, d, h) =>
        inScope(() => {
          const W = np.ones([d, h]), X = np.ones([n, d]);
          const loss = (w: NDArray, x: NDArray) => np.sum(np.tanh(np.matmul(x, w)));
          const prog = makeJaxpr(vmap(grad(loss), { inAxes: [null, 0] }))(W, X);
          const dots = prog.jaxpr.eqns.filter((e) => e.prim === 'dot_general').length;
          expect(dots, String(prog)).toBe(2);
          const largest = n * d * h;
          for (const e of prog.jaxpr.eqns) for (const v of e.outBinders) expect(v.aval.size, `${v.aval.str()} in\n${prog}`).toBeLessThanOrEqual(largest);
        }),
      ),
      { seed: FC_SEED, numRuns: 10 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Batching rules, one primitive family at a time, with each operand batched or not

type Mode = 'first' | 'second' | 'both';
const arbMode = fc.constantFrom<Mode>('first', 'second', 'both');
const axesForMode = (mode: Mode, a: number, b: number): [number | null, number | null] => [mode === 'second' ? null : a, mode === 'first' ? null : b];

describe('batching rules agree with a loop', () => {
  it('gather (take) with batched operand, batched indices or both, negative indices included', () => {
    const arb = fc.record({ xshape: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 3 }), ishape: fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 2 }), axisRaw: fc.nat(5), b: fc.integer({ min: 1, max: 3 }), mode: arbMode, dx: arbAxisDraw, di: arbAxisDraw, seed: fc.integer() });
    fc.assert(
      fc.property(arb, (c) =>
        inScope(() => {
          const rng = new Rng(c.seed);
          const axis = c.axisRaw % c.xshape.length;
          const n = c.xshape[axis]!;
          const [ax, ai] = axesForMode(c.mode, mappedAxisFor(c.dx, c.xshape.length), mappedAxisFor(c.di, c.ishape.length));
          const x = batched(rng, c.xshape, ax, c.b);
          const ishape = insertAxis(c.ishape, ai, c.b);
          const idx = np.reshape(np.array(Array.from({ length: ishape.reduce((p, q) => p * q, 1) }, () => Math.floor(rng.uniform() * 2 * n) - n), 'int32'), ishape);
          checkVmap((a: NDArray, i: NDArray) => np.take(a, i, axis), [x, idx], [ax, ai], 0, { label: `take axis ${axis} inAxes [${ax}, ${ai}]` });
        }),
      ),
      { seed: FC_SEED, numRuns: 60 },
    );
  });

  it('takeAlongAxis with both operands batched', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 3 }), fc.integer(), fc.boolean(), (b, n, m, seed, last) =>
        inScope(() => {
          const rng = new Rng(seed);
          const x = randomArray(rng, [b, n, 3]);
          // Along axis 0 the indices pick rows (< n); along the last axis they pick columns (< 3).
          const ishape = last ? [b, n, m] : [b, m, 3];
          const bound = last ? 3 : n;
          const idx = np.reshape(np.array(Array.from({ length: ishape.reduce((p, q) => p * q, 1) }, () => Math.floor(rng.uniform() * bound)), 'int32'), ishape);
          checkVmap((a: NDArray, i: NDArray) => np.takeAlongAxis(a, i, last ? -1 : 0), [x, idx], [0, 0], 0, { label: `takeAlongAxis ${last ? 'last axis' : 'axis 0'}` });
        }),
      ),
      { seed: FC_SEED, numRuns: 20 },
    );
  });

  it('scatter-add (the gradient of take) with batched operand, batched indices or both, repeated indices included', () => {
    const arb = fc.record({ xshape: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 3 }), ishape: fc.array(fc.integer({ min: 1, max: 4 }), { maxLength: 2 }), axisRaw: fc.nat(5), b: fc.integer({ min: 1, max: 3 }), mode: arbMode, dx: arbAxisDraw, di: arbAxisDraw, seed: fc.integer() });
    fc.assert(
      fc.property(arb, (c) =>
        inScope(() => {
          const rng = new Rng(c.seed);
          const axis = c.axisRaw % c.xshape.length;
          const n = c.xshape[axis]!;
          const [ax, ai] = axesForMode(c.mode, mappedAxisFor(c.dx, c.xshape.length), mappedAxisFor(c.di, c.ishape.length));
          const x = batched(rng, c.xshape, ax, c.b);
          const ishape = insertAxis(c.ishape, ai, c.b);
          const idx = np.reshape(np.array(Array.from({ length: ishape.reduce((p, q) => p * q, 1) }, () => Math.floor(rng.uniform() * n)), 'int32'), ishape);
          const g = (a: NDArray, i: NDArray) => grad((y: NDArray) => np.sum(np.sin(np.take(y, i, axis))))(a);
          checkVmap(g, [x, idx], [ax, ai], 0, { label: `grad of take axis ${axis} inAxes [${ax}, ${ai}]` });
        }),
      ),
      { seed: FC_SEED, numRuns: 60 },
    );
  });

  const SPECS: [string, string, string][] = [
    ['ij', 'jk', 'ik'], ['i', 'i', ''], ['ij', 'j', 'i'], ['bij', 'bjk', 'bik'], ['bij', 'jk', 'bik'], ['ijk', 'kj', 'i'], ['ij', 'kj', 'ik'], ['bi', 'bi', 'b'], ['i', 'j', 'ij'], ['abc', 'cb', 'ab'],
  ];
  it('dot_general (einsum, matmul, tensordot) with either side batched or both', () => {
    const arb = fc.record({ spec: fc.constantFrom(...SPECS), dims: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 11, maxLength: 11 }), b: fc.integer({ min: 1, max: 3 }), mode: arbMode, da: arbAxisDraw, db: arbAxisDraw, seed: fc.integer() });
    fc.assert(
      fc.property(arb, (c) =>
        inScope(() => {
          const rng = new Rng(c.seed);
          const [sa, sb, so] = c.spec;
          const dim = (ch: string) => c.dims['abcdefghijk'.indexOf(ch)]!;
          const shapeA = [...sa].map(dim), shapeB = [...sb].map(dim);
          const [aa, ab] = axesForMode(c.mode, mappedAxisFor(c.da, shapeA.length), mappedAxisFor(c.db, shapeB.length));
          const A = batched(rng, shapeA, aa, c.b), B = batched(rng, shapeB, ab, c.b);
          const spec = `${sa},${sb}->${so}`;
          checkVmapGrad((a: NDArray, b: NDArray) => np.einsum(spec, a, b), [A, B], [aa, ab], 0, { label: `einsum ${spec} inAxes [${aa}, ${ab}]` });
          if (shapeA.length >= 1 && shapeB.length >= 1 && shapeA[shapeA.length - 1] === shapeB[Math.max(0, shapeB.length - 2)]) {
            checkVmapGrad((a: NDArray, b: NDArray) => np.matmul(a, b), [A, B], [aa, ab], 0, { label: `matmul ${shapeA} × ${shapeB} inAxes [${aa}, ${ab}]` });
          }
        }),
      ),
      { seed: FC_SEED, numRuns: 80 },
    );
  });

  it('matmul with broadcast batch dimensions and dot of vectors', () => {
    inScope(() => {
      const rng = new Rng(5);
      checkVmapGrad((a: NDArray, b: NDArray) => np.matmul(a, b), [randomArray(rng, [3, 2, 1, 4, 3]), randomArray(rng, [5, 3, 2])], [1, null], -1, { label: 'broadcast matmul' });
      checkVmapGrad((a: NDArray, b: NDArray) => np.dot(a, b), [randomArray(rng, [4, 3]), randomArray(rng, [3, 4])], [0, 1], 0, { label: 'dot' });
      checkVmapGrad((a: NDArray, b: NDArray) => np.tensordot(a, b, [[0, 1], [1, 0]]), [randomArray(rng, [2, 3, 4]), randomArray(rng, [4, 3, 2])], [0, 2], 0, { label: 'tensordot' });
      checkVmapGrad((a: NDArray, b: NDArray) => np.outer(a, b), [randomArray(rng, [2, 3]), randomArray(rng, [4, 2])], [0, 1], 1, { label: 'outer' });
    });
  });

  it('conv2d with batched input, batched filter or both (padding, strides, dilations)', () => {
    const arb = fc.record({
      n: fc.integer({ min: 1, max: 2 }), h: fc.integer({ min: 3, max: 5 }), w: fc.integer({ min: 3, max: 5 }), c: fc.integer({ min: 1, max: 2 }), o: fc.integer({ min: 1, max: 3 }),
      kh: fc.integer({ min: 1, max: 3 }), kw: fc.integer({ min: 1, max: 3 }), padding: fc.constantFrom('SAME' as const, 'VALID' as const),
      stride: fc.constantFrom(1, 2), dilation: fc.constantFrom(1, 2), b: fc.integer({ min: 1, max: 3 }), mode: arbMode, dx: arbAxisDraw, dw: arbAxisDraw, seed: fc.integer(),
    });
    fc.assert(
      fc.property(arb, (c) =>
        inScope(() => {
          const rng = new Rng(c.seed);
          const opts = c.stride > 1 ? { padding: c.padding, strides: c.stride } : { padding: c.padding, dilations: c.dilation };
          const dil = c.stride > 1 ? 1 : c.dilation;
          // VALID needs the dilated filter to fit in the image.
          fc.pre(c.padding === 'SAME' || ((c.kh - 1) * dil + 1 <= c.h && (c.kw - 1) * dil + 1 <= c.w));
          const [ax, aw] = axesForMode(c.mode, mappedAxisFor(c.dx, 4), mappedAxisFor(c.dw, 4));
          const x = batched(rng, [c.n, c.h, c.w, c.c], ax, c.b), w = batched(rng, [c.kh, c.kw, c.c, c.o], aw, c.b);
          checkVmapGrad((a: NDArray, k: NDArray) => np.conv2d(a, k, opts), [x, w], [ax, aw], 0, { rtol: 2e-4, atol: 2e-5, label: `conv2d ${JSON.stringify(opts)} inAxes [${ax}, ${aw}]` });
        }),
      ),
      { seed: FC_SEED, numRuns: 40 },
    );
  });

  it('concatenate, stack and split with some operands batched', () => {
    const arb = fc.record({ shape: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 3 }), extra: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 3, maxLength: 3 }), axisRaw: fc.nat(5), negAxis: fc.boolean(), b: fc.integer({ min: 1, max: 3 }), draws: fc.array(arbAxisDraw, { minLength: 3, maxLength: 3 }), seed: fc.integer() });
    fc.assert(
      fc.property(arb, (c) =>
        inScope(() => {
          const rng = new Rng(c.seed);
          const r = c.shape.length;
          const axis = c.axisRaw % r;
          const shapes = c.extra.map((e) => c.shape.map((d, i) => (i === axis ? e : d)));
          let axes = shapes.map((s, i) => axisFor(c.draws[i]!, s.length));
          if (axes.every((a) => a === null)) axes = [0, null, null];
          const xs = shapes.map((s, i) => batched(rng, s, axes[i]!, c.b));
          const ax = c.negAxis ? axis - r : axis;
          checkVmapGrad((...ys: NDArray[]) => np.concatenate(ys, ax), xs, axes, 0, { label: `concatenate axis ${ax} inAxes ${JSON.stringify(axes)}` });
          const same = xs.map((_, i) => batched(rng, c.shape, axes[i]!, c.b));
          checkVmapGrad((...ys: NDArray[]) => np.stack(ys, c.negAxis ? -1 : axis), same, axes, 0, { label: 'stack' });
          checkVmap((y: NDArray) => np.split(np.concatenate([y, y], ax), 2, ax), [xs[0]!], [axes[0] ?? null], 0, { axisSize: c.b, label: 'split' });
        }),
      ),
      { seed: FC_SEED, numRuns: 40 },
    );
  });

  it('pad, slice (with strides), indexing with negative steps, flip and cumsum along any axis', () => {
    const arb = fc.record({ shape: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 3 }), widths: fc.array(fc.tuple(fc.nat(2), fc.nat(2)), { minLength: 3, maxLength: 3 }), value: fc.constantFrom(0, 1.5, -2), starts: fc.array(fc.nat(3), { minLength: 3, maxLength: 3 }), steps: fc.array(fc.integer({ min: 1, max: 2 }), { minLength: 3, maxLength: 3 }), axisRaw: fc.nat(5), reverse: fc.boolean(), b: fc.integer({ min: 1, max: 3 }), d: arbAxisDraw, seed: fc.integer() });
    fc.assert(
      fc.property(arb, (c) =>
        inScope(() => {
          const rng = new Rng(c.seed);
          const r = c.shape.length;
          const ax = mappedAxisFor(c.d, r);
          const x = batched(rng, c.shape, ax, c.b);
          const widths = c.shape.map((_, i) => c.widths[i]! as [number, number]);
          checkVmapGrad((y: NDArray) => np.pad(y, widths, c.value), [x], ax, 0, { label: `pad ${JSON.stringify(widths)}` });
          const start = c.shape.map((n, i) => Math.min(c.starts[i]!, n - 1));
          const limit = c.shape.map((n) => n);
          const strides = c.shape.map((_, i) => c.steps[i]!);
          checkVmapGrad((y: NDArray) => np.slice(y, start, limit, strides), [x], ax, 0, { label: `slice ${start}:${limit}:${strides}` });
          checkVmapGrad((y: NDArray) => y.at(...c.shape.map((_, i) => (i === 0 ? ([null, null, -c.steps[0]!] as const) : null))), [x], ax, 0, { label: 'x.at with a negative step' });
          const axis = c.axisRaw % r;
          checkVmapGrad((y: NDArray) => np.flip(y, axis), [x], ax, -1, { label: `flip axis ${axis}` });
          checkVmapGrad((y: NDArray) => np.cumsum(y, c.reverse ? axis - r : axis, c.reverse), [x], ax, 0, { label: `cumsum axis ${axis} reverse ${c.reverse}` });
          checkVmapGrad((y: NDArray) => np.transpose(y), [x], ax, 0, { label: 'transpose' });
          checkVmapGrad((y: NDArray) => np.reshape(y, [-1]), [x], ax, 0, { label: 'reshape' });
          checkVmapGrad((y: NDArray) => np.broadcastTo(y, [2, ...c.shape]), [x], ax, 1, { label: 'broadcastTo' });
        }),
      ),
      { seed: FC_SEED, numRuns: 40 },
    );
  });

  it('reductions (sum, mean, max, min, prod, logsumexp, var, argmax, argmin, any, all) over axis lists, with keepdims', () => {
    const arb = fc.record({ shape: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 3 }), pick: fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }), neg: fc.boolean(), keepdims: fc.boolean(), b: fc.integer({ min: 1, max: 3 }), d: arbAxisDraw, seed: fc.integer() });
    fc.assert(
      fc.property(arb, (c) =>
        inScope(() => {
          const rng = new Rng(c.seed);
          const r = c.shape.length;
          const ax = mappedAxisFor(c.d, r);
          const x = batched(rng, c.shape, ax, c.b);
          const axes = c.shape.map((_, i) => i).filter((i) => c.pick[i]).map((i) => (c.neg ? i - r : i));
          const one = axes[0] ?? (c.neg ? -1 : 0);
          const kd = c.keepdims;
          const f = (y: NDArray) => ({
            sum: np.sum(y, axes, kd), mean: np.mean(y, axes, kd), max: np.max(y, axes, kd), min: np.min(y, axes, kd), prod: np.prod(y, axes, kd),
            lse: np.logsumexp(y, axes, kd), var: np.var(y, axes, kd), all: np.sum(y), argmax: np.argmax(y, one, kd), argmin: np.argmin(y, one), any: np.any(np.greater(y, 0.5), axes), allp: np.all(np.greater(y, -1), axes, kd),
          });
          checkVmapGrad(f, [x], ax, 0, { label: `reductions over ${JSON.stringify(axes)} keepdims ${kd}` });
        }),
      ),
      { seed: FC_SEED, numRuns: 40 },
    );
  });

  it('elementwise ops with operands batched at different axes, where, comparisons, casts and stopGradient', () => {
    inScope(() => {
      const rng = new Rng(11);
      // Per-example operands [3,4], [4] (broadcast) and [3,4], batched (size 2) at different axes.
      const x = randomArray(rng, [2, 3, 4]), y = randomArray(rng, [4]), y2 = randomArray(rng, [4, 2]), z = randomArray(rng, [3, 4, 2]);
      const f = (a: NDArray, b: NDArray, c: NDArray) => ({
        arith: np.add(np.multiply(a, b), np.divide(c, 2)),
        where: np.where(np.greater(a, b), np.sin(c), np.cos(a)),
        pow: np.power(np.abs(a), b),
        cast: np.astype(np.greater(c, 0), 'float32'),
        minmax: np.maximum(a, np.minimum(b, c)),
        clip: np.clip(a, -0.5, 0.5),
        rem: np.remainder(a, 0.7),
        atan2: np.arctan2(a, np.add(np.square(b), 0.5)),
      });
      checkVmapGrad(f, [x, y, z], [0, null, 2], 0, { label: 'elementwise with mixed batch axes' });
      checkVmapGrad(f, [x, y2, z], [0, 1, -1], -1, { label: 'elementwise, all batched at different axes' });
    });
  });

  it('linear algebra: inv, solve (either side batched), slogdet and det', () => {
    const arb = fc.record({ n: fc.integer({ min: 1, max: 4 }), m: fc.integer({ min: 1, max: 3 }), vec: fc.boolean(), b: fc.integer({ min: 1, max: 3 }), mode: arbMode, da: arbAxisDraw, db: arbAxisDraw, seed: fc.integer() });
    fc.assert(
      fc.property(arb, (c) =>
        inScope(() => {
          const rng = new Rng(c.seed);
          const [aa, ab] = axesForMode(c.mode, mappedAxisFor(c.da, 2), mappedAxisFor(c.db, c.vec ? 1 : 2));
          // Well conditioned: 2I plus noise; every other matrix has two rows swapped (negative determinants).
          const matrix = (i: number) => {
            const m = np.add(np.multiply(np.eye(c.n), 2), randomArray(rng, [c.n, c.n], -0.6, 0.6));
            return c.n > 1 && i % 2 === 1 ? np.flip(m, 0) : m;
          };
          const As = aa === null ? matrix(1) : np.stack(Array.from({ length: c.b }, (_, i) => matrix(i)), aa);
          const B = batched(rng, c.vec ? [c.n] : [c.n, c.m], ab, c.b);
          checkVmapGrad((a: NDArray) => np.linalg.inv(a), [As], [aa], 0, { axisSize: c.b, rtol: 1e-3, atol: 1e-4, label: 'inv' });
          checkVmapGrad((a: NDArray, b: NDArray) => np.linalg.solve(a, b), [As, B], [aa, ab], 0, { rtol: 1e-3, atol: 1e-4, label: `solve inAxes [${aa}, ${ab}]` });
          checkVmapGrad((a: NDArray) => np.linalg.slogdet(a), [As], [aa], 0, { axisSize: c.b, rtol: 1e-3, atol: 1e-4, label: 'slogdet' });
          checkVmapGrad((a: NDArray) => np.linalg.det(a), [As], [aa], 0, { axisSize: c.b, rtol: 1e-3, atol: 1e-4, label: 'det' });
        }),
      ),
      { seed: FC_SEED, numRuns: 30 },
    );
  });

  it('nn building blocks: softmax, logSoftmax, activations, oneHot', () => {
    inScope(() => {
      const rng = new Rng(13);
      const x = randomArray(rng, [3, 2, 4, 4, 2]);
      checkVmapGrad((y: NDArray) => [np.softmax(y, 1), np.logSoftmax(y), np.gelu(y), np.relu(y), np.elu(y)], [x], 2, 0, { label: 'activations' });
      const labels = np.array([[0, 2], [1, 1], [2, 0]], 'int32');
      checkVmap((l: NDArray) => np.oneHot(l, 3), [labels], 1, 0, { label: 'oneHot' });
    });
  });

  // Core bug (wasm backend): binary elementwise kernels on arrays of rank 7 or more return
  // uninitialised memory (XNNPACK handles at most 6 dimensions; TF.js only logs "XNN status ... not
  // successful"). vmap adds a dimension, so any 6-D computation — pooling reshapes to 6-D — breaks
  // under vmap, and so does grad of it. Eager repro: np.add(np.ones([2,2,1,1,1,1,1]), same) ≠ 2.
  it('6-D computations under vmap (7-D batched arrays): pooling and its gradient', () => {
    inScope(() => {
      const rng = new Rng(13);
      const x = randomArray(rng, [3, 2, 4, 4, 2]);
      checkVmapGrad((y: NDArray) => [np.maxPool2d(y, 2), np.avgPool2d(y, 2)], [x], 0, 0, { label: 'pooling' });
    });
  });

  it('rank-7 elementwise arithmetic with broadcasting (eager, and as vmap of rank 6)', () => {
    inScope(() => {
      const shape = [2, 1, 2, 1, 2, 1, 2];
      const a = np.reshape(np.arange(16).astype('float32'), shape);
      const want = Array.from({ length: 16 }, (_, i) => i);
      expectClose(np.add(a, np.zerosLike(a)), np.reshape(np.array(want, 'float32'), shape), { label: 'add, same shapes' });
      expectClose(np.maximum(a, 7), np.reshape(np.array(want.map((v) => Math.max(v, 7)), 'float32'), shape), { label: 'maximum with a scalar' });
      expectClose(np.pad(a, 1).sum(), 120, { label: 'pad' });
      expectClose(vmap((y: NDArray) => np.divide(y, np.add(y, 1)))(a), np.reshape(np.array(want.map((v) => v / (v + 1)), 'float32'), shape), { label: 'vmap of a rank-6 divide' });
    });
  });
});

// ---------------------------------------------------------------------------------------------
// Randomness

describe('vmap over random keys', () => {
  it('vmap over random.split(key, n) samples independently and equals per-key samples', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 30 }), fc.integer({ min: 2, max: 5 }), fc.constantFrom(0, 1), (seed, n, keyAxis) =>
        inScope(() => {
          const keys0 = random.split(random.key(seed), n);
          const keys = keyAxis === 0 ? keys0 : np.transpose(keys0);
          const logits = np.array([[0.1, 2, -1], [0.5, 0.5, 0.5]], 'float32');
          const f = (k: NDArray) => {
            const ks = random.split(k, 3);
            return {
              normal: random.normal(ks.at(0), [4]),
              uniform: random.uniform(ks.at(1), [2, 3], -1, 2),
              bernoulli: random.bernoulli(ks.at(2), 0.3, [5]),
              categorical: random.categorical(random.foldIn(k, 7), logits),
              permutation: random.permutation(random.foldIn(k, 8), 6),
              randint: random.randint(random.foldIn(k, 9), [3], 0, 10),
              gumbel: random.gumbel(random.foldIn(k, 10), [2]),
              split: random.split(k, 2),
            };
          };
          checkVmap(f, [keys], keyAxis, 0, { rtol: 1e-6, atol: 1e-7, label: 'random samples under vmap' });
          const normals = vmap((k: NDArray) => random.normal(k, [8]), { inAxes: keyAxis })(keys).dataSync();
          // Independent streams: no two examples share their draws.
          const rows = Array.from({ length: n }, (_, i) => Array.from(normals.slice(i * 8, (i + 1) * 8)).join());
          expect(new Set(rows).size).toBe(n);
        }),
      ),
      { seed: FC_SEED, numRuns: 15 },
    );
  });

  it('foldIn with batched data and with batched keys; a shared key gives identical samples', () => {
    inScope(() => {
      const key = random.key(3);
      const steps = np.arange(4).astype('int32');
      checkVmap((d: NDArray) => random.normal(random.foldIn(key, d), [3]), [steps], 0, 0, { rtol: 1e-6, atol: 1e-7, label: 'foldIn batched data' });
      const keys = random.split(key, 4);
      checkVmap((k: NDArray, d: NDArray) => random.uniform(random.foldIn(k, d), [2]), [keys, steps], [0, 0], 0, { rtol: 1e-6, atol: 1e-7, label: 'foldIn both batched' });
      const same = vmap((x: NDArray) => np.add(random.normal(key, [3]), np.multiply(x, 0)))(np.zeros([2, 3])).toArray() as number[][];
      expect(same[0]).toEqual(same[1]);
    });
  });

  it('reparameterised sampling: vmap(grad) through random.normal with per-example keys', () => {
    inScope(() => {
      const keys = random.split(random.key(5), 3);
      const mu = np.array([0.5, -0.25], 'float32');
      const loss = (m: NDArray, k: NDArray) => np.sum(np.square(np.add(m, random.normal(k, [2]))));
      checkVmap((k: NDArray) => grad(loss)(mu, k), [keys], 0, 0, { label: 'per-key gradients' });
    });
  });
});

// ---------------------------------------------------------------------------------------------
// Errors

describe('clear errors', () => {
  it('mismatched batch sizes name the arguments and their sizes', () => {
    inScope(() => {
      const f = (a: NDArray, b: NDArray) => np.add(a, b);
      let msg = '';
      try {
        vmap(f)(np.ones([2, 3]), np.ones([3, 3]));
      } catch (e) {
        expect(e).toBeInstanceOf(ShapeError);
        msg = (e as Error).message;
      }
      expect(msg).toMatch(/vmap/);
      expect(msg).toMatch(/size 2/);
      expect(msg).toMatch(/size 3/);
      expect(msg).toMatch(/\[0\]/);
      expect(msg).toMatch(/\[1\]/);
      // Pytree arguments are named by their paths.
      expect(() => vmap((p: { w: NDArray; b: NDArray }) => np.sum(p.w))({ w: np.ones([4, 2]), b: np.ones([5]) })).toThrow(/size 4.*\.w|\.w.*size 4/s);
      expect(() => vmap((p: { w: NDArray; b: NDArray }) => np.sum(p.w))({ w: np.ones([4, 2]), b: np.ones([5]) })).toThrow(/size 5.*\.b|\.b.*size 5/s);
      // inAxes select which dimension is compared.
      expect(() => vmap(f, { inAxes: [1, 0] })(np.ones([2, 3]), np.ones([2, 3]))).toThrow(/size 3.*size 2|size 2.*size 3/s);
      // axisSize that disagrees with the mapped arguments.
      expect(() => vmap((a: NDArray) => a, { axisSize: 4 })(np.ones([3]))).toThrow(/axisSize 4.*3/);
    });
  });

  it('an in axis out of range names the axis, the argument and its shape', () => {
    inScope(() => {
      expect(() => vmap((a: NDArray) => a, { inAxes: 2 })(np.ones([2, 3]))).toThrow(ShapeError);
      expect(() => vmap((a: NDArray) => a, { inAxes: 2 })(np.ones([2, 3]))).toThrow(/inAxes 2.*out of range.*\[2,3\]/);
      expect(() => vmap((a: NDArray) => a, { inAxes: -3 })(np.ones([2, 3]))).toThrow(/inAxes -3.*out of range/);
      expect(() => vmap((a: NDArray, b: NDArray) => np.add(a, b), { inAxes: [0, 1] })(np.ones([2]), np.ones([2]))).toThrow(/inAxes 1.*\[1\].*\[2\]/);
      expect(() => vmap((a: NDArray) => a)(np.array(1.5, 'float32'))).toThrow(/out of range.*\[\]/);
    });
  });

  it('an axisSize that is not a non-negative integer is refused before anything runs (a negative one corrupted the wasm heap)', () => {
    for (const bad of [-2, 2.5, NaN, Infinity, '3']) {
      expect(() => vmap((a: NDArray) => np.sum(a), { inAxes: null, axisSize: bad as number })).toThrow(/vmap: axisSize must be a non-negative integer/);
    }
    inScope(() => {
      expect(vmap((a: NDArray) => np.sum(a), { inAxes: null, axisSize: 3 })(np.ones([2])).shape).toEqual([3]);
      expect(values(np.add(np.ones([2]), 1))).toEqual([2, 2]);
    });
  });

  it('an outAxes tree that does not match the output, or an out axis out of range, is explained', () => {
    inScope(() => {
      const f = (a: NDArray) => ({ x: a, y: np.sin(a) });
      // The types reject these axes trees too; computed ones and JS callers meet the runtime errors.
      // @ts-expect-error: no output z
      expect(() => vmap(f, { outAxes: { x: 0, z: 1 } })(np.ones([2, 3]))).toThrow(TransformError);
      // @ts-expect-error: no output z
      expect(() => vmap(f, { outAxes: { x: 0, z: 1 } })(np.ones([2, 3]))).toThrow(/outAxes.*does not match.*output/);
      // Which tree has which structure is said in words (not tree's bare "expected ... but got ...").
      expect(() => vmap((a: NDArray, b: NDArray) => np.add(a, b), { inAxes: [0] })(np.ones([2]), np.ones([2]))).toThrow(/vmap: inAxes \[0\] does not match the structure of the arguments: structure mismatch at the root: inAxes has \[\*\] but the arguments have \[\*, \*\]/);
      // @ts-expect-error: the output is an object, not a list
      expect(() => vmap(f, { outAxes: [0, 1] })(np.ones([2, 3]))).toThrow(/outAxes/);
      expect(() => vmap((a: NDArray) => a, { outAxes: 2 })(np.ones([2, 3]))).toThrow(/outAxes 2.*out of range/);
      expect(() => vmap((a: NDArray) => a, { outAxes: -3 })(np.ones([2, 3]))).toThrow(/outAxes -3.*out of range/);
      expect(() => vmap((a: NDArray) => a, { outAxes: null })(np.ones([2, 3]))).toThrow(/outAxes.*null/);
      expect(() => vmap(f, { inAxes: ['zero'] as never })(np.ones([2, 3]))).toThrow(/inAxes/);
    });
  });

  // Core bug (minor): a non-integer out axis is not rejected (inAxes 0.5 is).
  it('a non-integer out axis is rejected', () => {
    inScope(() => {
      expect(() => vmap((a: NDArray) => a, { outAxes: 0.5 })(np.ones([2, 3]))).toThrow(/outAxes/);
    });
  });

  it('no mapped argument and no axisSize asks for axisSize', () => {
    inScope(() => {
      expect(() => vmap((a: NDArray) => np.sin(a), { inAxes: null })(np.ones([2]))).toThrow(/no argument is mapped.*axisSize/);
      expect(() => vmap(() => np.ones([2]))()).toThrow(/axisSize/);
    });
  });

  it('control flow on a batched value is a ConcretizationError', () => {
    inScope(() => {
      expect(() => vmap((a: NDArray) => (Number(np.sum(a).item()) > 0 ? a : np.negative(a)))(np.ones([2, 3]))).toThrow(/concrete/);
    });
  });
});

// ---------------------------------------------------------------------------------------------
// Memory

describe('no leaked tensors', () => {
  it('vmap, vmap(grad), grad(vmap), jit(vmap) and nested vmap of random compositions', () => {
    fc.assert(
      fc.property(arbScalarCase(3), (c) => {
        const built = inScope2(() => buildScalar(c));
        const { xs, axes, f, s, all } = built;
        // One jitted function, called twice: only its first call may cache constants.
        const jitted = jit(vmap(f, { inAxes: axes }));
        try {
          const counts = {
            vmap: leaked(() => vmap(f, { inAxes: axes })(...xs)),
            vmapGrad: leaked(() => vmap(grad(s, { argnums: all }), { inAxes: axes })(...xs)),
            gradVmap: leaked(() => grad((...ys: NDArray[]) => np.sum(vmap(f, { inAxes: axes })(...ys)), { argnums: all })(...xs)),
            jitVmap: leaked(() => jitted(...xs)),
            nested: leaked(() => vmap(vmap(f, { inAxes: axes }), { inAxes: xs.map(() => null), axisSize: 2 })(...xs)),
          };
          if (Object.values(counts).some((n) => n !== 0)) throw new Error(`${showExpr(c.e)} leaked tensors: ${JSON.stringify(counts)}`);
        } finally {
          jitted.clearCache();
          built.dispose();
        }
      }),
      { seed: FC_SEED, numRuns: 25 },
    );
  });

  it('batching rules with constants (gather, conv2d, random, linalg) and thrown errors', () => {
    const x = np.ones([2, 3, 4]);
    const idx = np.array([[0, 2], [1, 1]], 'int32');
    const keys = random.split(random.key(0), 2);
    const img = np.ones([2, 1, 4, 4, 2]), w = np.ones([2, 3, 3, 2, 1]);
    const A = np.add(np.multiply(np.eye(3), 2), np.ones([2, 3, 3]));
    expectNoLeak('gather both batched', () => vmap((a: NDArray, i: NDArray) => np.take(a, i, 1))(x, idx));
    expectNoLeak('scatter via grad', () => vmap((a: NDArray, i: NDArray) => grad((y: NDArray) => np.sum(np.take(y, i, 1)))(a))(x, idx));
    expectNoLeak('conv2d both batched', () => vmap((a: NDArray, k: NDArray) => np.conv2d(a, k))(img, w));
    expectNoLeak('random', () => vmap((k: NDArray) => [random.normal(k, [3]), random.permutation(k, 4)])(keys));
    expectNoLeak('linalg', () => vmap((a: NDArray) => [np.linalg.inv(a), np.linalg.slogdet(a)])(A));
    expectNoLeak('mismatched sizes', () => vmap((a: NDArray, b: NDArray) => np.add(a, b))(x, idx));
    expectNoLeak('error inside f', () => vmap((a: NDArray) => np.matmul(a, np.ones([5, 5])))(x));
    expectNoLeak('bad outAxes', () => vmap((a: NDArray) => np.sin(a), { outAxes: 5 })(x));
    dispose([x, idx, keys, img, w, A]);
  });
});

/** Runs `fn` in a scope that keeps its result alive; the result gets a dispose() that frees its arrays. */
function inScope2<T extends object>(fn: () => T): T & { dispose(): void } {
  const result = scope(fn);
  return Object.assign(result, { dispose: () => dispose(result) });
}

describe('shape errors under vmap', () => {
  it("are reported with one example's shapes, as a loop would report them", () => {
    const [x, w] = [np.zeros([2, 2, 7, 6, 3]), np.zeros([2, 3, 3, 2, 4])];
    expect(() => vmap((a: NDArray, b: NDArray) => np.conv2d(a, b))(x, w)).toThrow(/conv2d: .*matching C, got f32\[2,7,6,3\] and f32\[3,3,2,4\]/);
    dispose([x, w]);
  });
});


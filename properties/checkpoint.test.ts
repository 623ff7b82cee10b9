// checkpoint (recompute) properties (issue 5, algorithms.md §5): values and gradients (orders 1
// and 2) equal the un-checkpointed function for random compositions, policies and nestings; the
// backward pass really recomputes (kernel executions counted with tf.profile, equations counted in
// the traced program); each policy saves what it says; per-block checkpoints lower the peak memory
// of a deep chain and checkpointing the whole model saves nothing (§5.1); checkpointSequential
// uses round(√n) segments (§5.2); randomness replays identically; vmap and jit compose; no leaks.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as tf from '@tensorflow/tfjs-core';
import {
  ConcreteArray, NDArray, ShapeError, checkpoint, customVjp, checkpointName, checkpointSequential, dispose, dotsSaveable, everythingSaveable, grad, jit, jvp, makeJaxpr,
  nothingSaveable, np, random, recompute, saveOnlyTheseNames, sqrtSegmentLength, valueAndGrad, vjp, vmap, type CheckpointPolicy,
} from '../src/index.js';
import { Rng, checkGrads } from '../src/testing/index.js';
import { arbExpr, arbInputShapes, evalExpr, showExpr, type Expr } from './compositions.js';
import { FC_SEED, expectClose, inScope, kernelCounts, numTensors } from './helpers.js';
import { expectNoLeak, expectTreeClose, loopVmap, moderate, randomArray } from './loop_oracle.js';

const POLICIES: CheckpointPolicy[] = [nothingSaveable, everythingSaveable, dotsSaveable, saveOnlyTheseNames('h')];

interface CkCase {
  e1: Expr;
  e2: Expr;
  shapes: number[][];
  policy: CheckpointPolicy;
  nesting: 'whole' | 'inner' | 'nested';
  seed: number;
}
const arbCkCase: fc.Arbitrary<CkCase> = fc.integer({ min: 1, max: 3 }).chain((k) =>
  fc.record({ e1: arbExpr(k, 3), e2: arbExpr(k, 2), shapes: arbInputShapes(k, { maxRank: 2 }), policy: fc.constantFrom(...POLICIES), nesting: fc.constantFrom('whole' as const, 'inner' as const, 'nested' as const), seed: fc.integer() }),
);

/** The plain function and its checkpointed counterpart: e2 applied to [e1(xs) (named 'h'), ...rest]. */
function ckFns(c: CkCase) {
  const ck = <F extends (...a: any[]) => any>(f: F) => checkpoint(f, { policy: c.policy });
  const inner = (...xs: NDArray[]) => checkpointName(evalExpr(c.e1, xs), 'h');
  const outer = (h: NDArray, xs: NDArray[]) => evalExpr(c.e2, [h, ...xs.slice(1)]);
  const plain = (...xs: NDArray[]) => outer(inner(...xs), xs);
  let checked: (...xs: NDArray[]) => NDArray;
  if (c.nesting === 'whole') checked = ck(plain);
  else if (c.nesting === 'inner') checked = (...xs) => outer(ck(inner)(...xs), xs);
  else checked = ck((...xs: NDArray[]) => outer(ck(inner)(...xs), xs));
  return { plain, checked };
}

const label = (c: CkCase) => `${c.nesting} checkpoint (${c.policy.name}) of e2 = ${showExpr(c.e2)} over h = ${showExpr(c.e1)}`;

describe('checkpoint(f) computes what f computes', () => {
  it('values, gradients and second derivatives equal the un-checkpointed function (random compositions, policies, nestings)', () => {
    fc.assert(
      fc.property(arbCkCase, (c) =>
        inScope(() => {
          const rng = new Rng(c.seed);
          const xs = c.shapes.map((s) => randomArray(rng, s));
          const { plain, checked } = ckFns(c);
          const want = plain(...xs);
          fc.pre(moderate(want));
          expectTreeClose(checked(...xs), want, { rtol: 0, atol: 0, label: `value: ${label(c)}` });
          const all = xs.map((_, i) => i);
          const s = (f: (...a: NDArray[]) => NDArray) => (...a: NDArray[]) => np.sum(f(...a));
          expectTreeClose(grad(s(checked), { argnums: all })(...xs), grad(s(plain), { argnums: all })(...xs), { rtol: 1e-5, atol: 1e-6, label: `grad: ${label(c)}` });
          const gg = (f: (...a: NDArray[]) => NDArray) => grad((y: NDArray) => np.sum(np.multiply(grad(s(f))(y, ...xs.slice(1)), np.cos(y))))(xs[0]!);
          expectTreeClose(gg(checked), gg(plain), { rtol: 1e-4, atol: 1e-5, label: `grad∘grad: ${label(c)}` });
          const t = randomArray(rng, xs[0]!.shape, -1, 1);
          const tangents = [t, ...xs.slice(1).map((x) => np.zerosLike(x))];
          expectTreeClose(jvp(checked, xs, tangents), jvp(plain, xs, tangents), { rtol: 1e-5, atol: 1e-6, label: `jvp: ${label(c)}` });
        }),
      ),
      { seed: FC_SEED, numRuns: 60 },
    );
  });

  it('checkGrads passes on checkpointed functions at order 2, with pytrees, closures over parameters and integer outputs', () => {
    inScope(() => {
      const rng = new Rng(1);
      const W = randomArray(rng, [3, 3], -1, 1);
      const block = checkpoint((p: { x: NDArray; b: NDArray }) => ({ y: np.tanh(np.add(np.matmul(p.x, W), p.b)), arg: np.argmax(p.x, -1) }));
      const f = (p: { x: NDArray; b: NDArray }) => block(p).y;
      checkGrads(f, [{ x: randomArray(rng, [2, 3]), b: randomArray(rng, [3]) }], { order: 2 });
      // The closed-over W is differentiated through the recomputation.
      const x = randomArray(rng, [2, 3]), b = randomArray(rng, [3]);
      const lossW = (w: NDArray) => np.sum(checkpoint((v: NDArray) => np.square(np.tanh(np.matmul(v, w))))(x));
      expectClose(grad(lossW)(W), grad((w: NDArray) => np.sum(np.square(np.tanh(np.matmul(x, w)))))(W), { rtol: 1e-6, atol: 1e-7, label: 'gradient of a closed-over parameter' });
      // Integer outputs pass through unchanged.
      expectClose(block({ x, b }).arg, np.argmax(x, -1), { rtol: 0, atol: 0 });
      expect(recompute).toBe(checkpoint);
    });
  });
});

// ---------------------------------------------------------------------------------------------
// Recomputation


const primCount = (prog: { jaxpr: { eqns: { prim: string }[] } }, prim: string) => prog.jaxpr.eqns.filter((e) => e.prim === prim).length;

describe('the backward pass recomputes', () => {
  it('f runs once per forward pass and twice per gradient evaluation (kernel executions), its JS body once per call', async () => {
    const x = np.array([0.3, -0.8, 1.1], 'float32');
    let calls = 0;
    const f = (v: NDArray) => {
      calls++;
      return np.sum(np.exp(np.sin(np.sin(v))));
    };
    const ck = checkpoint(f);
    const forwardPlain = await kernelCounts(() => f(x));
    const forwardCk = await kernelCounts(() => ck(x));
    const gradPlain = await kernelCounts(() => grad(f)(x));
    const gradCk = await kernelCounts(() => grad(ck)(x));
    expect(forwardPlain.get('Sin')).toBe(2);
    expect(forwardCk.get('Sin')).toBe(2);
    expect(gradPlain.get('Sin')).toBe(2);
    expect(gradCk.get('Sin')).toBe(4);
    // exp runs on TF.js's Exp, or on gradus's own kernel on wasm (counted as Exp).
    const exps = (m: Map<string, number>) => m.get('Exp') ?? 0;
    expect(exps(gradPlain)).toBeGreaterThan(0);
    expect(exps(gradCk)).toBe(2 * exps(gradPlain));
    // The recomputation replays the traced program: the JS function itself runs once per call.
    calls = 0;
    dispose(grad(ck)(x));
    expect(calls).toBe(1);
    dispose(x);
  });

  // Under grad, the forward pass of a checkpointed function computes only what it keeps: the
  // known half of its JVP program is pruned (as JAX's remat computes only the primal), so
  // derivative coefficients such as cos(x) for sin(x) are computed once, in the backward pass.
  it('the checkpointed forward pass computes no derivative coefficients it then throws away', async () => {
    const x = np.array([0.3, -0.8, 1.1], 'float32');
    const f = (v: NDArray) => np.sum(np.exp(np.sin(np.sin(v))));
    const plain = await kernelCounts(() => grad(f)(x));
    const ck = await kernelCounts(() => grad(checkpoint(f))(x));
    // Recomputation repeats the primal ops (Sin, Exp); each derivative coefficient (Cos) is needed once.
    expect(ck.get('Cos'), JSON.stringify(Object.fromEntries(ck))).toBe(plain.get('Cos'));
    dispose(x);
  });

  it('the traced program of grad(checkpoint(f)) repeats f\'s forward equations (random compositions)', () => {
    fc.assert(
      fc.property(arbCkCase, (c) =>
        inScope(() => {
          const rng = new Rng(c.seed);
          const xs = c.shapes.map((s) => randomArray(rng, s));
          const f = (...a: NDArray[]) => np.sum(np.sin(evalExpr(c.e1, a)));
          const all = { argnums: xs.map((_, i) => i) };
          const plain = makeJaxpr(grad(f, all))(...xs);
          const none = makeJaxpr(grad(checkpoint(f), all))(...xs);
          const every = makeJaxpr(grad(checkpoint(f, { policy: everythingSaveable }), all))(...xs);
          // The cotangent of sin needs cos of its input: with nothing saved, sin's input is recomputed,
          // so every forward op on the path is evaluated again; with everything saved, nothing is.
          const prims = new Set(plain.jaxpr.eqns.map((e) => e.prim));
          for (const p of prims) {
            expect(primCount(every, p), `${p} under everythingSaveable\n${every}`).toBe(primCount(plain, p));
            expect(primCount(none, p), `${p} under nothingSaveable\n${none}`).toBeGreaterThanOrEqual(primCount(plain, p));
          }
          // Only what the backward pass needs is recomputed: never fewer equations than plain grad
          // (strictly more once a forward op feeds a derivative coefficient; see the tests above).
          expect(none.jaxpr.eqns.length, `${showExpr(c.e1)}\n${none}`).toBeGreaterThanOrEqual(plain.jaxpr.eqns.length);
        }),
      ),
      { seed: FC_SEED, numRuns: 30 },
    );
  });

  describe('policies decide what is saved', () => {
    // Two matmuls, elementwise work around them, and one named value.
    const W = np.array([[0.5, -0.2, 0.1], [0.3, 0.4, -0.6], [0.2, 0.1, 0.3]], 'float32');
    const x = np.array([[1, -0.5, 0.25], [0.5, 2, -1]], 'float32');
    const f = (v: NDArray) => {
      const a = checkpointName(np.sin(np.matmul(v, W)), 'a');
      return np.sum(np.exp(np.tanh(np.matmul(a, W))));
    };
    const extra = (policy: CheckpointPolicy | null, prim: string) => {
      const base = makeJaxpr(grad(f))(x);
      const prog = makeJaxpr(grad(policy === null ? f : checkpoint(f, { policy })))(x);
      return primCount(prog, prim) - primCount(base, prim);
    };

    it('nothingSaveable recomputes every forward equation the backward pass needs', () => {
      expect(extra(nothingSaveable, 'dot_general')).toBe(2);
      expect(extra(nothingSaveable, 'sin')).toBe(1);
      expect(extra(nothingSaveable, 'tanh')).toBe(1);
      expect(extra(nothingSaveable, 'checkpoint_name')).toBe(1);
    });
    it('everythingSaveable recomputes nothing', () => {
      for (const p of ['dot_general', 'sin', 'cos', 'tanh', 'exp', 'checkpoint_name']) expect(extra(everythingSaveable, p), p).toBe(0);
    });
    it('dotsSaveable keeps the matmul results and recomputes the elementwise work', () => {
      expect(extra(dotsSaveable, 'dot_general')).toBe(0);
      expect(extra(dotsSaveable, 'tanh')).toBe(1);
      // cos(v W) is computed once, in the backward pass, from the saved v W (the forward pass of
      // a checkpoint computes no derivative coefficients), so there is nothing extra.
      expect(extra(dotsSaveable, 'cos')).toBe(0);
      expect(extra(dotsSaveable, 'sin')).toBe(0); // sin(v W) only feeds the saved second product
    });
    it('saveOnlyTheseNames keeps exactly the named values', () => {
      const p = saveOnlyTheseNames('a');
      expect(extra(p, 'sin')).toBe(0);
      expect(extra(p, 'checkpoint_name')).toBe(0);
      // The second matmul consumes the saved 'a' and is recomputed; the first is needed for cos(v W).
      expect(extra(p, 'dot_general')).toBe(2);
      expect(extra(p, 'tanh')).toBe(1);
      // A name that does not occur saves nothing.
      expect(extra(saveOnlyTheseNames('other'), 'sin')).toBe(1);
    });
    it('at run time too: matmul kernel executions per policy', async () => {
      // TF.js's matmul, or gradus's GEMM kernels where they run (wasm).
      const mm = async (fn: () => unknown) => {
        const counts = await kernelCounts(fn);
        return ['BatchMatMul', 'MatMul', 'MatMulNT', 'MatMulBias'].reduce((n, k) => n + (counts.get(k) ?? 0), 0);
      };
      const plain = await mm(() => grad(f)(x));
      expect(await mm(() => grad(checkpoint(f))(x))).toBe(plain + 2);
      expect(await mm(() => grad(checkpoint(f, { policy: everythingSaveable }))(x))).toBe(plain);
      expect(await mm(() => grad(checkpoint(f, { policy: dotsSaveable }))(x))).toBe(plain);
      expect(await mm(() => grad(checkpoint(f, { policy: saveOnlyTheseNames('a') }))(x))).toBe(plain + 2);
    });
    it('every policy gives the same gradient', () => {
      inScope(() => {
        const want = grad(f)(x);
        for (const policy of [...POLICIES, saveOnlyTheseNames('a')]) expectClose(grad(checkpoint(f, { policy }))(x), want, { rtol: 1e-6, atol: 1e-7, label: policy.name });
      });
    });
  });
});

// ---------------------------------------------------------------------------------------------
// Memory (§5.1, §5.5 item 3)

describe('peak memory of a deep chain', () => {
  const L = 24, B = 32, Wd = 48;
  const block = (h: NDArray, w: NDArray) => {
    const a = np.tanh(np.matmul(h, w));
    return np.add(np.multiply(np.sin(a), a), h);
  };
  const lossOf = (chain: (ws: NDArray[], x: NDArray) => NDArray) => (ws: NDArray[], x: NDArray) => np.mean(np.square(chain(ws, x)));
  const plainChain = (ws: NDArray[], x: NDArray) => ws.reduce((h, w) => block(h, w), x);
  const ckBlock = checkpoint(block);
  const perBlock = (ws: NDArray[], x: NDArray) => ws.reduce((h, w) => ckBlock(h, w), x);
  const whole = checkpoint(plainChain);
  const sqrtChain = (ws: NDArray[], x: NDArray) => checkpointSequential(ws.map((w) => (h: NDArray) => block(h, w)))(x);

  /** Peak bytes above what was allocated before, over one whole gradient call (and the Sin kernels it ran). */
  async function profileOf(g: (ws: NDArray[], x: NDArray) => unknown, ws: NDArray[], x: NDArray): Promise<{ peak: number; sins: number }> {
    dispose(g(ws, x)); // warm-up (and jit's trace)
    const before = tf.memory().numBytes;
    const info = await tf.profile(() => {
      dispose(g(ws, x));
      return null as unknown as tf.Tensor;
    });
    return { peak: info.peakBytes - before, sins: info.kernels.filter((k) => k.name === 'Sin' || k.name === 'GradusSin').length };
  }
  const peakOf = async (f: (ws: NDArray[], x: NDArray) => NDArray, ws: NDArray[], x: NDArray) => (await profileOf(grad(f), ws, x)).peak;

  it('per-block checkpoints and √n segments lower it; checkpointing the whole model at once saves nothing', async () => {
    const keys = random.split(random.key(0), L + 1);
    const ws = Array.from({ length: L }, (_, i) => np.multiply(random.normal(keys.at(i), [Wd, Wd]), 1 / Math.sqrt(Wd)));
    const x = random.normal(keys.at(L), [B, Wd]);
    const peaks = {
      plain: await peakOf(lossOf(plainChain), ws, x),
      perBlock: await peakOf(lossOf(perBlock), ws, x),
      whole: await peakOf(lossOf(whole), ws, x),
      sqrt: await peakOf(lossOf(sqrtChain), ws, x),
    };
    // The gradients themselves (L weight matrices) are part of every peak.
    const gradBytes = L * Wd * Wd * 4;
    const act = (p: number) => (p - gradBytes) / (B * Wd * 4);
    const msg = `activations at peak (in [B, W] arrays): ${JSON.stringify(Object.fromEntries(Object.entries(peaks).map(([k, v]) => [k, act(v).toFixed(1)])))}`;
    expect(act(peaks.perBlock), msg).toBeLessThan(0.5 * act(peaks.plain));
    expect(act(peaks.sqrt), msg).toBeLessThan(0.75 * act(peaks.plain));
    // Whole-model checkpointing recomputes the whole forward pass at once, so the backward pass
    // again holds every block's residuals (at least two [B, W] arrays per block): far more than
    // per-block checkpoints. (It can still undercut plain grad, whose forward pass also keeps values
    // the user's code holds until grad returns; gradus frees a recomputation's garbage eagerly.)
    expect(act(peaks.whole), msg).toBeGreaterThan(2 * L);
    expect(act(peaks.whole), msg).toBeGreaterThan(4 * act(peaks.perBlock));
    // Same gradients whichever way.
    inScope(() => {
      const want = grad(lossOf(plainChain))(ws, x);
      for (const chain of [perBlock, whole, sqrtChain]) expectTreeClose(grad(lossOf(chain))(ws, x), want, { rtol: 1e-4, atol: 1e-6, label: 'chain gradient' });
    });
    dispose([keys, ws, x]);
  });

  it('under jit too: per-block checkpoints still recompute every block and lower the peak', async () => {
    const keys = random.split(random.key(1), L + 1);
    const ws = Array.from({ length: L }, (_, i) => np.multiply(random.normal(keys.at(i), [Wd, Wd]), 1 / Math.sqrt(Wd)));
    const x = random.normal(keys.at(L), [B, Wd]);
    const jp = jit(grad(lossOf(plainChain))), jc = jit(grad(lossOf(perBlock)));
    const plain = await profileOf(jp, ws, x);
    const ck = await profileOf(jc, ws, x);
    expect(plain.sins).toBe(L);
    expect(ck.sins).toBe(2 * L);
    const gradBytes = L * Wd * Wd * 4;
    expect(ck.peak - gradBytes, `jit plain ${plain.peak - gradBytes} bytes, jit per-block ${ck.peak - gradBytes} bytes`).toBeLessThan(0.5 * (plain.peak - gradBytes));
    inScope(() => expectTreeClose(jc(ws, x), jp(ws, x), { rtol: 1e-4, atol: 1e-6, label: 'jit gradients' }));
    jp.clearCache();
    jc.clearCache();
    dispose([keys, ws, x]);
  });
});

// ---------------------------------------------------------------------------------------------
// √n segments (§5.2)

describe('checkpointSequential', () => {
  it('sqrtSegmentLength(n) = round(√n) minimises n/k + k over integer k', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 100000 }), (n) => {
        const k = sqrtSegmentLength(n);
        expect(k).toBe(Math.round(Math.sqrt(n)));
        const cost = (j: number) => n / j + j;
        for (const j of [k - 1, k + 1, Math.floor(Math.sqrt(n)), Math.ceil(Math.sqrt(n))]) if (j >= 1) expect(cost(k)).toBeLessThanOrEqual(cost(j) + 1e-9);
      }),
      { seed: FC_SEED, numRuns: 200 },
    );
  });

  it('uses ⌈n / round(√n)⌉ checkpointed segments and matches the plain chain in value and gradient', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20 }), fc.option(fc.integer({ min: 1, max: 6 }), { nil: undefined }), fc.integer(), (n, segmentLength, seed) =>
        inScope(() => {
          const rng = new Rng(seed);
          const ws = Array.from({ length: n }, () => randomArray(rng, [3, 3], -0.8, 0.8));
          const x = randomArray(rng, [2, 3]);
          const layers = (v: NDArray[]) => v.map((w) => (h: NDArray) => np.tanh(np.matmul(h, w)));
          const seq = (v: NDArray[], h: NDArray) => checkpointSequential(layers(v), { segmentLength })(h);
          const plain = (v: NDArray[], h: NDArray) => layers(v).reduce((acc, layer) => layer(acc), h);
          const k = segmentLength ?? Math.round(Math.sqrt(n));
          expect(primCount(makeJaxpr(seq)(ws, x), 'remat')).toBe(Math.ceil(n / k));
          expectClose(seq(ws, x), plain(ws, x), { rtol: 0, atol: 0, label: 'value' });
          const loss = (f: typeof seq) => (v: NDArray[], h: NDArray) => np.sum(np.square(f(v, h)));
          expectTreeClose(valueAndGrad(loss(seq), { argnums: [0, 1] })(ws, x), valueAndGrad(loss(plain), { argnums: [0, 1] })(ws, x), { rtol: 1e-5, atol: 1e-6, label: 'gradients' });
        }),
      ),
      { seed: FC_SEED, numRuns: 25 },
    );
  });

  it('rejects a segment length that is not a positive integer', () => {
    const id = (h: NDArray) => h;
    expect(() => checkpointSequential([id, id], { segmentLength: 0 })).toThrow(ShapeError);
    expect(() => checkpointSequential([id, id], { segmentLength: 1.5 })).toThrow(/segmentLength/);
  });
});

// ---------------------------------------------------------------------------------------------
// Randomness, vmap, jit

describe('checkpoint composes', () => {
  it('randomness inside replays identically (explicit keys, as arguments or closed over)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 30 }), fc.integer({ min: 1, max: 6 }), (seed, n) =>
        inScope(() => {
          const x = randomArray(new Rng(seed), [n]);
          const key = random.key(seed);
          const dropout = (v: NDArray, k: NDArray) => {
            const keep = random.bernoulli(k, 0.6, v.shape);
            const noise = random.normal(random.foldIn(k, 1), v.shape);
            return np.sum(np.sin(np.add(np.where(keep, np.divide(v, 0.6), 0), np.multiply(noise, 0.1))));
          };
          const want = grad(dropout)(x, key);
          expectClose(grad(checkpoint(dropout))(x, key), want, { rtol: 1e-6, atol: 1e-7, label: 'key as an argument' });
          expectClose(grad(checkpoint((v: NDArray) => dropout(v, key)))(x), want, { rtol: 1e-6, atol: 1e-7, label: 'key closed over' });
          expectClose(grad(checkpoint((v: NDArray) => dropout(v, random.foldIn(key, 0))))(x), grad((v: NDArray) => dropout(v, random.foldIn(key, 0)))(x), { rtol: 1e-6, atol: 1e-7, label: 'key derived inside' });
        }),
      ),
      { seed: FC_SEED, numRuns: 15 },
    );
  });

  it('vmap(checkpoint(f)) = checkpoint(vmap(f)) = vmap(f), in value and gradient', () => {
    fc.assert(
      fc.property(arbCkCase, fc.integer({ min: 1, max: 3 }), (c, b) =>
        inScope(() => {
          const rng = new Rng(c.seed);
          const xs = c.shapes.map((s) => randomArray(rng, [b, ...s]));
          const { plain } = ckFns(c);
          const want = loopVmap(plain, xs, 0, 0, b);
          fc.pre(moderate(want));
          const ck = (f: (...a: NDArray[]) => NDArray) => checkpoint(f, { policy: c.policy });
          const variants: [string, (...a: NDArray[]) => NDArray][] = [
            ['vmap(checkpoint(f))', vmap(ck(plain))],
            ['checkpoint(vmap(f))', ck(vmap(plain))],
            ['vmap(f) with inner checkpoints', vmap(ckFns(c).checked)],
          ];
          const all = xs.map((_, i) => i);
          const gWant = grad((...a: NDArray[]) => np.sum(vmap(plain)(...a)), { argnums: all })(...xs);
          for (const [name, f] of variants) {
            expectTreeClose(f(...xs), want, { rtol: 1e-5, atol: 1e-6, label: `${name}: ${label(c)}` });
            expectTreeClose(grad((...a: NDArray[]) => np.sum(f(...a)), { argnums: all })(...xs), gWant, { rtol: 1e-4, atol: 1e-5, label: `grad of ${name}: ${label(c)}` });
          }
        }),
      ),
      { seed: FC_SEED, numRuns: 30 },
    );
  });

  it('with jit: jit(grad(checkpoint(f))), grad(jit(checkpoint(f))), grad(checkpoint(jit(f))) equal grad(f)', () => {
    fc.assert(
      fc.property(arbCkCase, (c) =>
        inScope(() => {
          const rng = new Rng(c.seed);
          const xs = c.shapes.map((s) => randomArray(rng, s));
          const { plain, checked } = ckFns(c);
          fc.pre(moderate(plain(...xs)));
          const s = (f: (...a: NDArray[]) => NDArray) => (...a: NDArray[]) => np.sum(f(...a));
          const all = xs.map((_, i) => i);
          const want = grad(s(plain), { argnums: all })(...xs);
          const tol = { rtol: 1e-4, atol: 1e-5 };
          expectTreeClose(jit(grad(s(checked), { argnums: all }))(...xs), want, { ...tol, label: `jit(grad(checkpoint)): ${label(c)}` });
          expectTreeClose(grad(s(jit(checked)), { argnums: all })(...xs), want, { ...tol, label: `grad(jit(checkpoint)): ${label(c)}` });
          expectTreeClose(grad(s(checkpoint(jit(plain), { policy: c.policy })), { argnums: all })(...xs), want, { ...tol, label: `grad(checkpoint(jit)): ${label(c)}` });
        }),
      ),
      { seed: FC_SEED, numRuns: 25 },
    );
  });

});

describe('no leaked tensors', () => {
  it('grad, grad∘grad, vmap, jit of checkpointed functions with every policy, and failing calls', () => {
    const rng = new Rng(3);
    const W = randomArray(rng, [3, 3]);
    const x = randomArray(rng, [2, 3]);
    const xs = randomArray(rng, [4, 2, 3]);
    const f = (v: NDArray) => np.sum(np.exp(np.tanh(np.matmul(checkpointName(np.sin(v), 'a'), W))));
    for (const policy of [...POLICIES, saveOnlyTheseNames('a')]) {
      const ck = checkpoint(f, { policy });
      const jg = jit(grad(ck));
      expectNoLeak(`grad (${policy.name})`, () => grad(ck)(x));
      expectNoLeak(`grad∘grad (${policy.name})`, () => grad((v: NDArray) => np.sum(grad(ck)(v)))(x));
      expectNoLeak(`vmap(grad) (${policy.name})`, () => vmap(grad(ck))(xs));
      expectNoLeak(`jit(grad) (${policy.name})`, () => jg(x));
      jg.clearCache();
    }
    expectNoLeak('checkpointSequential', () => grad((v: NDArray) => np.sum(checkpointSequential([np.sin, np.tanh, np.exp, np.cos])(v)))(x));
    expectNoLeak('error inside', () => grad(checkpoint((v: NDArray) => np.sum(np.matmul(v, np.ones([5, 5])))))(x));
    const before = numTensors();
    for (let i = 0; i < 5; i++) dispose(grad(checkpoint(f))(x));
    expect(numTensors()).toBe(before);
    dispose([W, x, xs]);
  });
});

// ---------------------------------------------------------------------------------------------
// Core bug (kept last): inside jit, a checkpointed (or customJvp/customVjp) function whose program
// returns one of its inputs hands that input's tensor back as a "new" output; jit's executor then
// frees it at its last use, disposing the caller's argument. It happens whenever grad of nested
// checkpoints is jitted (the inner program passes an input through as a saved residual).

describe('jit never frees its caller\'s arguments', () => {
  const cases: [string, (x: NDArray) => unknown][] = [
    ['jit(a => sin(checkpoint(b => b)(a)))', (x) => jit((a: NDArray) => np.sin(checkpoint((b: NDArray) => b)(a)))(x)],
    ['jit(grad(Σ checkpoint(checkpoint(sin))))', (x) => jit(grad((a: NDArray) => np.sum(checkpoint(checkpoint(np.sin))(a))))(x)],
    ['jit(a => sin(customVjp(b => b)(a)))', (x) => jit((a: NDArray) => np.sin(customVjp((b: NDArray) => b, (b: NDArray) => [b, null], (_r: null, c: NDArray) => [c])(a)))(x)],
  ];
  for (const [name, call] of cases) {
    it(name, () => {
      const x = np.array([0.5, -1, 2], 'float32');
      try {
        dispose(call(x));
        expect((x as ConcreteArray).isDisposed, 'the argument was freed').toBe(false);
      } finally {
        dispose(x);
      }
    });
  }
});

// A jit nested in a checkpoint: the known part of the checkpoint can hand the jit cache's own
// constant back unchanged as a residual; the reverse pass frees its residuals, so it must get a
// handle of its own, or the cache's constant dies and the next call of the jitted function fails.
describe('a reverse pass never frees a jit cache\'s constants', () => {
  const scaled = () => jit((b: NDArray) => np.multiply(b, np.array([1, 2, 3], 'float32')));
  const cases: [string, (j: (b: NDArray) => NDArray, x: NDArray) => void][] = [
    ['grad(checkpoint(jit(f)))', (j, x) => dispose(grad((a: NDArray) => np.sum(checkpoint((b: NDArray) => j(b))(a)))(x))],
    ['vjp(checkpoint(jit(f))) with the pullback disposed', (j, x) => {
      const [out, pullback] = vjp((a: NDArray) => np.sum(checkpoint((b: NDArray) => j(b))(a)), x);
      const one = np.array(1, 'float32');
      dispose([pullback(one), one]);
      pullback.dispose();
      dispose(out);
    }],
  ];
  for (const [name, first] of cases) {
    it(name, () => {
      const x = np.array([1, 1, 1], 'float32');
      const j = scaled();
      const before = numTensors();
      first(j, x); // traces j, inside the checkpoint
      const again = j(x);
      expect(Array.from(again.dataSync())).toEqual([1, 2, 3]);
      dispose(again);
      j.clearCache(); // frees the cache's constant
      expect(numTensors()).toBe(before);
      dispose(x);
    });
  }
});

describe('a policy that is not one is refused at once', () => {
  it('a function (JAX style), a string or a number as the policy is an error when checkpoint is made, not a TypeError under grad', () => {
    for (const policy of [() => true, 'dots', 42]) {
      expect(() => checkpoint((a: NDArray) => np.sin(a), { policy: policy as never })).toThrow(/checkpoint: policy must be one of the checkpoint policies/);
    }
    expect(() => checkpoint((a: NDArray) => np.sin(a), { policy: dotsSaveable })).not.toThrow();
  });
});

describe('names for checkpoint policies', () => {
  it('a non-string name, or names given to saveOnlyTheseNames as one list, are refused (they matched nothing, silently)', () => {
    expect(() => checkpointName(np.ones([2]), 3 as never)).toThrow(/checkpointName: the name must be a string/);
    expect(() => saveOnlyTheseNames(['h', 'z'] as never)).toThrow(/saveOnlyTheseNames: names are separate string arguments/);
    expect(saveOnlyTheseNames('h', 'z').name).toBe('saveOnlyTheseNames(h, z)');
  });
});

// Types follow the trees: what a JAX/Optax user relies on, stated as type assertions. They are
// checked by `npm run typecheck` (tsc over properties/, part of CI): a wrong type is a compile error,
// and each `@ts-expect-error` line is a program that must not compile. The run-time `it` bodies only
// check that the values sit where the types say they do.
import { describe, expect, expectTypeOf, it } from 'vitest';
import { checkpoint, cond, customJvp, customVjp, foriLoop, grad, hessian, jacfwd, jacrev, jit, jvp, linearize, np, scan, scope, tree, valueAndGrad, vjp, vmap, whileLoop, type NDArray } from '../src/index.js';
import * as optim from '../optim/index.js';

type Params = { w: NDArray; b: NDArray };
type Nested = { layers: [{ w: NDArray }, { w: NDArray; b: NDArray }]; head: { out: NDArray } };

const loss = (p: Params, x: NDArray) => np.sum(np.add(np.matmul(x, p.w), p.b));
const nestedLoss = (p: Nested) => np.sum(np.add(np.sum(p.layers[0].w), np.sum(p.head.out)));

/** Holds compile-time-only statements (never run): `@ts-expect-error` lines and the like. */
function typeOnly(_body: () => void): void {}

function makeParams(): Params {
  return { w: np.ones([2, 2]), b: np.zeros([2]) };
}

describe('grad and valueAndGrad are typed like the differentiated arguments', () => {
  it('grad(f)(params) has the type of params; argnums tuples give tuples; hasAux gives [grads, aux]', () => {
    scope(() => {
      const p = makeParams();
      const x = np.ones([3, 2]);
      const g = grad(loss)(p, x);
      expectTypeOf(g).toEqualTypeOf<Params>();
      expect(g.w.shape).toEqual([2, 2]);

      const nested: Nested = { layers: [{ w: np.ones([2]) }, { w: np.ones([2]), b: np.ones([1]) }], head: { out: np.ones([3]) } };
      const gn = grad(nestedLoss)(nested);
      expectTypeOf(gn).toEqualTypeOf<Nested>();
      expectTypeOf(gn.layers).toEqualTypeOf<[{ w: NDArray }, { w: NDArray; b: NDArray }]>();
      // @ts-expect-error: the first layer has no b
      void gn.layers[0].b;
      // @ts-expect-error: a pair of layers has no third
      void gn.layers[2];

      expectTypeOf(grad(loss, { argnums: 1 })(p, x)).toEqualTypeOf<NDArray>();
      const [gp, gx] = grad(loss, { argnums: [0, 1] })(p, x);
      expectTypeOf(grad(loss, { argnums: [0, 1] })(p, x)).toEqualTypeOf<[Params, NDArray]>();
      expectTypeOf(grad(loss, { argnums: [1, 0] })(p, x)).toEqualTypeOf<[NDArray, Params]>();
      expect(gp.b.shape).toEqual([2]);
      expect(gx.shape).toEqual([3, 2]);

      const lossAux = (q: Params) => [np.sum(q.w), { norm: np.sum(q.b) }] as [NDArray, { norm: NDArray }];
      expectTypeOf(grad(lossAux, { hasAux: true })(p)).toEqualTypeOf<[Params, { norm: NDArray }]>();
      expectTypeOf(valueAndGrad(loss)(p, x)).toEqualTypeOf<[NDArray, Params]>();
      expectTypeOf(valueAndGrad(lossAux, { hasAux: true })(p)).toEqualTypeOf<[[NDArray, { norm: NDArray }], Params]>();
      expectTypeOf(valueAndGrad(loss, { argnums: [0, 1] })(p, x)).toEqualTypeOf<[NDArray, [Params, NDArray]]>();
    });
    typeOnly(() => {
      // @ts-expect-error: grad(f) takes f's arguments
      grad(loss)(makeParams());
      // @ts-expect-error: the gradient has the parameters' fields, and no others
      void grad(loss)(makeParams(), np.ones([3, 2])).bias;
    });
  });
});

describe('number leaves come back as arrays', () => {
  it('grad of a number leaf is an array (a float32 scalar), as are number outputs of jit, vmap, vjp and jvp', () => {
    scope(() => {
      type WithScale = { w: NDArray; n: number };
      const f = (p: WithScale) => np.sum(np.multiply(p.w, p.n));
      const g = grad(f)({ w: np.ones([2]), n: 3 });
      expectTypeOf(g).toEqualTypeOf<{ w: NDArray; n: NDArray }>();
      expect(g.n.shape).toEqual([]);
      expect(g.n.item()).toBe(2);
      expectTypeOf(grad((x: number) => np.sin(x))(1)).toEqualTypeOf<NDArray>();
      expectTypeOf(grad((xs: number[]) => np.sum(np.array(xs)))([1, 2])).toEqualTypeOf<NDArray[]>();
      const gt = grad((p: { w: Float32Array }) => np.sum(p.w))({ w: new Float32Array([1, 2]) });
      expectTypeOf(gt).toEqualTypeOf<{ w: NDArray }>();
      expect(gt.w.shape).toEqual([2]);
      expectTypeOf(valueAndGrad(f)({ w: np.ones([2]), n: 3 })).toEqualTypeOf<[NDArray, { w: NDArray; n: NDArray }]>();

      const withCount = (x: NDArray) => ({ y: np.sin(x), count: 2, done: true });
      const j = jit(withCount)(np.ones([2]));
      expectTypeOf(j).toEqualTypeOf<{ y: NDArray; count: NDArray; done: NDArray }>();
      expect(j.count.item()).toBe(2);
      const v = vmap(withCount)(np.ones([3, 2]));
      expectTypeOf(v).toEqualTypeOf<{ y: NDArray; count: NDArray; done: NDArray }>();
      expect(v.count.shape).toEqual([3]);
      const [out, pullback] = vjp((x: NDArray, k: number) => ({ y: np.multiply(x, k), k }), np.ones([2]), 3);
      expectTypeOf(out).toEqualTypeOf<{ y: NDArray; k: NDArray }>();
      expect(out.k.item()).toBe(3);
      // The cotangent may be given like f's output (numbers) or like vjp's (arrays).
      expectTypeOf(pullback).parameters.toEqualTypeOf<[{ y: NDArray; k: number } | { y: NDArray; k: NDArray }]>();
      const cts = pullback({ y: np.ones([2]), k: np.array(1, 'float32') });
      expectTypeOf(cts).toEqualTypeOf<[NDArray, NDArray]>();
      expect(cts[1].shape).toEqual([]); // (zero: a JS integer is an integer primal, as in JAX)
      const [po, to] = jvp(withCount, [np.ones([2])], [np.ones([2])]);
      expectTypeOf(po).toEqualTypeOf<{ y: NDArray; count: NDArray; done: NDArray }>();
      expectTypeOf(to).toEqualTypeOf<{ y: NDArray; count: NDArray; done: NDArray }>();
      const [lo, fLin] = linearize(withCount, np.ones([2]));
      expectTypeOf(lo).toEqualTypeOf<{ y: NDArray; count: NDArray; done: NDArray }>();
      expectTypeOf(fLin(np.ones([2]))).toEqualTypeOf<{ y: NDArray; count: NDArray; done: NDArray }>();
    });
    typeOnly(() => {
      const g = grad((p: { w: NDArray; n: number }) => np.sum(p.w))({ w: np.ones([2]), n: 3 });
      // @ts-expect-error: the gradient of a number is an array, not a number
      g.n.toFixed(2);
    });
  });
});

describe('vmap, jit and vjp keep the function\'s types', () => {
  it('vmap(f) and jit(f) take and return what f does; vjp gives [out, pullback: out → args]', () => {
    scope(() => {
      const f = (p: Params, x: NDArray) => ({ y: np.add(np.matmul(x, p.w), p.b), s: np.sum(x) });
      const p = makeParams();
      const x = np.ones([3, 2]);
      const vf = vmap(f, { inAxes: [null, 0] });
      expectTypeOf(vf).parameters.toEqualTypeOf<[Params, NDArray]>();
      expectTypeOf(vf(p, x)).toEqualTypeOf<{ y: NDArray; s: NDArray }>();
      const jf = jit(f);
      expectTypeOf(jf).parameters.toEqualTypeOf<[Params, NDArray]>();
      expectTypeOf(jf(p, x)).toEqualTypeOf<{ y: NDArray; s: NDArray }>();
      expectTypeOf(jit(loss)(p, x)).toEqualTypeOf<NDArray>();

      const [out, pullback] = vjp(f, p, x);
      expectTypeOf(out).toEqualTypeOf<{ y: NDArray; s: NDArray }>();
      expectTypeOf(pullback).parameters.toEqualTypeOf<[{ y: NDArray; s: NDArray }]>();
      const [cp, cx] = pullback({ y: np.onesLike(out.y), s: np.array(1, 'float32') });
      expectTypeOf(pullback({ y: np.onesLike(out.y), s: np.array(1, 'float32') })).toEqualTypeOf<[Params, NDArray]>();
      expect(cp.w.shape).toEqual([2, 2]);
      expect(cx.shape).toEqual([3, 2]);
      pullback.dispose();
    });
    typeOnly(() => {
      const f = (p: Params) => ({ y: p.w });
      // @ts-expect-error: vmap(f) takes f's arguments
      vmap(f)(np.ones([2]));
      // @ts-expect-error: jit(f) takes f's arguments
      jit(f)(np.ones([2]));
      const [, pullback] = vjp(f, makeParams());
      // @ts-expect-error: the cotangent has the output's structure
      pullback({ z: np.ones([2]) });
      // @ts-expect-error: the pullback returns one tree per argument (here one)
      void pullback({ y: np.ones([2]) })[1];
    });
  });
});

describe('tree.map keeps the structure', () => {
  it('tree.map(fn, t) has t\'s containers with fn\'s results as leaves; the other trees are leaf-typed', () => {
    scope(() => {
      const p = makeParams();
      expectTypeOf(tree.map((a: NDArray) => np.multiply(a, 2), p)).toEqualTypeOf<Params>();
      expectTypeOf(tree.map((a: NDArray) => a.shape, p)).toEqualTypeOf<{ w: number[]; b: number[] }>();
      const nested = { layers: [{ w: np.ones([2]) }], t: [np.ones([1]), np.ones([2])] as [NDArray, NDArray] };
      expectTypeOf(tree.map((a) => a.size, nested)).toEqualTypeOf<{ layers: { w: number }[]; t: [number, number] }>();
      const sum = tree.map((a, b) => np.add(a, b), p, makeParams());
      expectTypeOf(sum).toEqualTypeOf<Params>();
      expect(sum.w.shape).toEqual([2, 2]);
    });
  });
});

describe('tree.withOptions({ isLeaf }).map is typed like tree.map', () => {
  it("with the leaf type f declares (isLeaf may stop at any subtree); unknown when f leaves it undeclared", () => {
    type Vec = number[];
    const isVec = (x: unknown): boolean => Array.isArray(x) && x.every((v) => typeof v === 'number');
    const t = { p: [1, 2] as Vec, q: [[3], null] as (Vec | null)[] };
    const { map, mapWithPath } = tree.withOptions({ isLeaf: isVec });
    const lengths = map((v: Vec) => v.length, t);
    expectTypeOf(lengths).toEqualTypeOf<{ p: number; q: (number | null)[] }>();
    expect(lengths).toEqual({ p: 2, q: [1, null] });
    const paths = mapWithPath((path, _v: Vec) => tree.keystr(path), t);
    expectTypeOf(paths).toEqualTypeOf<{ p: string; q: (string | null)[] }>();
    expect(paths).toEqual({ p: '.p', q: ['.q[0]', null] });
    expectTypeOf(map((v: Vec, w: unknown) => [v, w], t, { p: 'any', q: [0, null] })).toEqualTypeOf<{ p: unknown[]; q: (unknown[] | null)[] }>();
    expectTypeOf(map((v) => v, t)).toEqualTypeOf<unknown>();
  });
});

describe('generic code keeps the plain types', () => {
  it('a training step generic in the parameters type-checks: grad of a P is a P there', () => {
    function step<P>(loss: (p: P) => NDArray, params: P, opt: optim.Optimizer): P {
      const g: P = grad(loss)(params);
      const [u] = opt.update(g, opt.init(params), params);
      const [[, gv]] = [valueAndGrad(loss)(params)];
      const [out, pullback] = vjp(loss, params);
      const [back]: [P] = pullback(out);
      const jitted: P = jit((p: P) => p)(params);
      const mapped: P = vmap((p: P) => p)(params);
      const pairs = tree.map((a, b) => [a, b], params, g);
      void [gv, back, jitted, mapped, pairs];
      return optim.applyUpdates(params, u);
    }
    scope(() => {
      const p = makeParams();
      const next = step((q: Params) => np.sum(q.w), p, optim.sgd(0.1));
      expectTypeOf(next).toEqualTypeOf<Params>();
      expect(next.w.shape).toEqual([2, 2]);
    });
  });
});

describe("tree.map's other trees have the first tree's structure", () => {
  it('a second tree with other keys, fewer entries or another arity is a compile error', () => {
    scope(() => {
      const p = makeParams();
      // Leaves of the other trees may have other types.
      const scaled = tree.map((a, s) => np.multiply(a, s), p, { w: 2, b: 3 });
      expectTypeOf(scaled).toEqualTypeOf<Params>();
      expectTypeOf(tree.map((a, b, c) => [a, b, c] as const, [1, 2] as [number, number], ['x', 'y'] as [string, string], [true, false] as [boolean, boolean])).toEqualTypeOf<
        [readonly [number, string, boolean], readonly [number, string, boolean]]
      >();
      expect(tree.map((a, s) => np.multiply(a, s), p, { w: 2, b: 3 }).b.shape).toEqual([2]);
      // A tree that extends the first below its leaves (JAX's prefix rule): f gets the subtrees, typed.
      const nested = tree.map((a, sub) => np.multiply(a, sub.k[1]!), p, { w: { k: [1, 2] }, b: { k: [3, 4] } });
      expectTypeOf(nested).toEqualTypeOf<Params>();
      expect(Array.from(nested.w.dataSync())).toEqual([2, 2, 2, 2]);
      expectTypeOf(tree.map((x: number, s) => s, { a: 1, b: [2] }, { a: 'x', b: [[true]] })).toEqualTypeOf<{ a: string | boolean[]; b: (string | boolean[])[] }>();
      expectTypeOf(tree.broadcast({ enc: false, dec: true }, { enc: { w: p.w }, dec: [p.b] })).toEqualTypeOf<{ enc: { w: boolean }; dec: boolean[] }>();
    });
    typeOnly(() => {
      const p = makeParams();
      // @ts-expect-error: the second tree has no b
      tree.map((a, b) => np.add(a, b), p, { w: np.ones([2]) });
      // @ts-expect-error: the second tree has other keys
      tree.map((a, b) => np.add(a, b), p, { v: np.ones([2]), c: np.ones([2]) });
      // @ts-expect-error: a pair where the first tree has a triple
      tree.map((a: number, b: number) => a + b, [1, 2, 3] as [number, number, number], [1, 2] as [number, number]);
      // @ts-expect-error: likewise for mapWithPath
      tree.mapWithPath((_path, a, b) => np.add(a, b), p, { w: np.ones([2]) });
    });
  });
});

describe('optimizer states and updates follow the parameter tree', () => {
  type Net = { layers: [{ w: NDArray; b: NDArray }, { w: NDArray }]; scale: NDArray };
  const makeNet = (): Net => ({ layers: [{ w: np.ones([2, 2]), b: np.zeros([2]) }, { w: np.ones([2]) }], scale: np.ones([]) });
  type Nullable = { layers: [{ w: NDArray | null; b: NDArray | null }, { w: NDArray | null }]; scale: NDArray | null };

  it('init(params) gives a state typed after params, update(grads, state, params) gives [updates like params, the same state type]', () => {
    scope(() => {
      const params = makeNet();
      const grads = grad((p: Net) => np.sum(p.layers[1].w))(params);
      expectTypeOf(grads).toEqualTypeOf<Net>();

      const adam = optim.adam(1e-3);
      const s = adam.init(params);
      expectTypeOf(s).toEqualTypeOf<[optim.ScaleByAdamState<Net>, optim.LearningRateState]>();
      const [u, s2] = adam.update(grads, s, params);
      expectTypeOf(u).toEqualTypeOf<Net>();
      expectTypeOf(s2).toEqualTypeOf<typeof s>();
      expectTypeOf(optim.applyUpdates(params, u)).toEqualTypeOf<Net>();

      const adamw = optim.adamw(1e-3, { weightDecay: 1e-2 });
      const sw = adamw.init(params);
      expectTypeOf(sw[0].mu).toEqualTypeOf<Net>();
      expectTypeOf(adamw.update(grads, sw, params)[0]).toEqualTypeOf<Net>();

      const sgd = optim.sgd(0.1, { momentum: 0.9 });
      const ss = sgd.init(params);
      expectTypeOf(ss[0].trace).toEqualTypeOf<Net>();
      expectTypeOf(sgd.update(grads, ss, params)).toEqualTypeOf<[Net, [optim.TraceState<Net>, optim.LearningRateState]]>();

      const chained = optim.chain(optim.clipByGlobalNorm(1), optim.adam(1e-3));
      const sc = chained.init(params);
      expectTypeOf(sc[1][0].nu).toEqualTypeOf<Net>();
      expectTypeOf(chained.update(grads, sc, params)[0]).toEqualTypeOf<Net>();

      const groups = optim.multiTransform({ body: optim.adam(1e-3), head: optim.sgd(0.1) }, optim.pathLabels([[/layers\[1\]/, 'head']], 'body'));
      const sg = groups.init(params);
      expectTypeOf(sg.inner.body[0].mu).toEqualTypeOf<Nullable>();
      expectTypeOf(groups.update(grads, sg, params)[0]).toEqualTypeOf<Net>();

      const [p2, s3] = optim.applyGradients(chained, grads, sc, params);
      expectTypeOf(p2).toEqualTypeOf<Net>();
      expectTypeOf(s3).toEqualTypeOf<typeof sc>();
      expect(p2.layers[0].w.shape).toEqual([2, 2]);
    });
  });

  it("radam, adabelief and yogi keep Adam's state typed after params; applyEvery and zeroNans too; noisySgd's key and count do not depend on it", () => {
    scope(() => {
      const params = makeNet();
      expectTypeOf(optim.radam(1e-3).init(params)).toEqualTypeOf<[optim.ScaleByAdamState<Net>, optim.LearningRateState]>();
      expectTypeOf(optim.adabelief(1e-3).init(params)).toEqualTypeOf<[optim.ScaleByAdamState<Net>, optim.LearningRateState]>();
      expectTypeOf(optim.yogi(1e-3).init(params)).toEqualTypeOf<[optim.ScaleByAdamState<Net>, optim.LearningRateState]>();
      expectTypeOf(optim.noisySgd(1e-3).init(params)).toEqualTypeOf<[optim.AddNoiseState, optim.LearningRateState]>();
      const every = optim.chain(optim.zeroNans(), optim.applyEvery(2), optim.sgd(0.1));
      const s = every.init(params);
      expectTypeOf(s[0]).toEqualTypeOf<optim.ZeroNansState<Net>>();
      expectTypeOf(s[0].foundNan).toEqualTypeOf<Net>();
      expectTypeOf(s[1].gradAcc).toEqualTypeOf<Net>();
      expectTypeOf(every.update(params, s, params)).toEqualTypeOf<[Net, typeof s]>();
      expect(tree.structure(s[1].gradAcc).equals(tree.structure(params))).toBe(true);
    });
  });

  it("adafactor's state: the factored moments typed after params, then the optional pieces' states", () => {
    scope(() => {
      const params = makeNet();
      const opt = optim.adafactor(1e-3, { momentum: 0.9 });
      const s = opt.init(params);
      expectTypeOf(s[0].vRow).toEqualTypeOf<Nullable>();
      expectTypeOf(s[0].v).toEqualTypeOf<Nullable>();
      expectTypeOf(opt.update(params, s, params)[0]).toEqualTypeOf<Net>();
      // One type for all options: the tuples the options can give, each piece's state typed after params.
      type Decay = optim.StateAt<optim.DecayedWeightsKind, Net>;
      expectTypeOf(s).toEqualTypeOf<
        | [optim.FactoredState<Net>, optim.LearningRateState]
        | [optim.FactoredState<Net>, optim.LearningRateState, optim.EmptyState]
        | [optim.FactoredState<Net>, optim.LearningRateState, Decay, optim.EmptyState]
        | [optim.FactoredState<Net>, optim.LearningRateState, optim.EmptyState, Decay, optim.EmptyState]
        | [optim.FactoredState<Net>, optim.EmaState<Net>, optim.LearningRateState]
        | [optim.FactoredState<Net>, optim.EmaState<Net>, optim.LearningRateState, optim.EmptyState]
        | [optim.FactoredState<Net>, optim.EmaState<Net>, optim.LearningRateState, Decay, optim.EmptyState]
        | [optim.FactoredState<Net>, optim.EmaState<Net>, optim.LearningRateState, optim.EmptyState, Decay, optim.EmptyState]
      >();
      expectTypeOf(s[1]).toEqualTypeOf<optim.EmaState<Net> | optim.LearningRateState>();
      expect(s.length).toBe(4); // factored RMS, momentum, learning rate, parameter scale
      const momentum = s[1];
      if ('ema' in momentum) {
        expectTypeOf(momentum.ema).toEqualTypeOf<Net>();
        expect(tree.structure(momentum.ema).equals(tree.structure(params))).toBe(true);
      } else throw new Error('expected the momentum state at index 1');
      // Optimizers made with different options have one type (so one chosen at run time can be used directly).
      const chosen = params.scale.size > 0 ? optim.adafactor(1e-3) : optim.adafactor(undefined, { weightDecayRate: 1e-2, momentum: 0.9 });
      expectTypeOf(chosen).toEqualTypeOf<typeof opt>();
      expectTypeOf(chosen.update(params, chosen.init(params), params)[0]).toEqualTypeOf<Net>();
    });
  });

  it('the other trees must fit the parameters', () => {
    typeOnly(() => {
      const params = makeNet();
      const opt = optim.adam(1e-3);
      const s = opt.init(params);
      // @ts-expect-error: gradients of another tree
      opt.update({ w: np.ones([2]) }, s, params);
      // @ts-expect-error: a state for other parameters
      opt.update(params, optim.adam(1e-3).init({ w: np.ones([2]) }), params);
      // @ts-expect-error: applyUpdates needs updates like the parameters
      optim.applyUpdates(params, { scale: np.ones([]) });
      const ada = optim.adafactor(1e-3).init(params);
      // @ts-expect-error: index 1 may be the learning rate's state, which has no momentum buffer
      void ada[1].ema;
      // @ts-expect-error: adafactor's state has at most six entries
      void ada[6];
      // @ts-expect-error: the momentum buffer is typed after the parameters
      const wrong: optim.StateOf<optim.Optimizer<optim.AdafactorKind>, Net> = [ada[0], { count: np.zeros([]), ema: { w: np.ones([2]) } }, {}];
      void wrong;
      // @ts-expect-error: a label no transformation has
      optim.multiTransform({ body: optim.adam(1e-3) }, { layers: 'body', scale: 'head' });
    });
  });
});

describe('update without params is a compile error where the transformation needs them', () => {
  it('adamw, lion, lamb, adafactor, weight decay, trust ratio, parameter scale, lookahead and paramsEma need params, also inside chain, masked, multiTransform, injectHyperparams, multiSteps and applyIfFinite', () => {
    scope(() => {
      const p = makeParams();
      const w = optim.adamw(1e-3);
      expectTypeOf<optim.NeedsParamsOf<typeof w>>().toEqualTypeOf<true>();
      const [u, s] = w.update(p, w.init(p), p);
      expectTypeOf(u).toEqualTypeOf<Params>();
      expect(u.w.shape).toEqual([2, 2]);
      // Transformations that do not read the parameters keep them optional.
      const a = optim.adam(1e-3);
      expectTypeOf<optim.NeedsParamsOf<typeof a>>().toEqualTypeOf<boolean>();
      a.update(p, a.init(p));
      const noScale = optim.adafactor(1e-3, { multiplyByParameterScale: false });
      expectTypeOf<optim.NeedsParamsOf<typeof noScale>>().toEqualTypeOf<boolean>();
      noScale.update(p, noScale.init(p));
      const chained = optim.chain(optim.scaleByAdam(), optim.scaleByLearningRate(1e-3));
      chained.update(p, chained.init(p));
      const groups = optim.multiTransform({ body: optim.adam(1e-3), head: optim.sgd(0.1) }, { w: 'body', b: 'head' });
      groups.update(p, groups.init(p));
      // A transformation that needs params is still an Optimizer (generic code passes params or is checked at run time).
      const any: optim.Optimizer = w;
      void [s, any];
    });
    typeOnly(() => {
      const p = makeParams();
      const needing = {
        adamw: optim.adamw(1e-3),
        lion: optim.lion(1e-4),
        lamb: optim.lamb(1e-3),
        adafactor: optim.adafactor(1e-3),
        adafactorDecay: optim.adafactor(1e-3, { multiplyByParameterScale: false, weightDecayRate: 1e-4 }),
        addDecayedWeights: optim.addDecayedWeights(1e-4, { mask: { w: true, b: false } }),
        scaleByTrustRatio: optim.scaleByTrustRatio(),
        scaleByParamBlockRms: optim.scaleByParamBlockRms(),
        adaptiveGradClip: optim.adaptiveGradClip(0.01),
        lookahead: optim.lookahead(optim.adam(1e-3)),
        paramsEma: optim.paramsEma(optim.sgd(0.1)),
        chain: optim.chain(optim.scaleByAdam(), optim.addDecayedWeights(1e-4), optim.scaleByLearningRate(1e-3)),
        masked: optim.masked(optim.addDecayedWeights(1e-4), { w: true, b: false }),
        multiTransform: optim.multiTransform({ body: optim.adam(1e-3), head: optim.adamw(1e-3) }, { w: 'body', b: 'head' }),
        injectHyperparams: optim.injectHyperparams((h) => optim.adamw(h.learningRate), { learningRate: 1e-3 }),
        multiSteps: optim.multiSteps(optim.lamb(1e-3), 4),
        applyIfFinite: optim.applyIfFinite(optim.chain(optim.adam(1e-3), optim.lookahead(optim.sgd(0.1)))),
      };
      expectTypeOf<{ [K in keyof typeof needing]: optim.NeedsParamsOf<(typeof needing)[K]> }>().toEqualTypeOf<{ [K in keyof typeof needing]: true }>();
      // @ts-expect-error: adamw's weight decay reads the parameters
      needing.adamw.update(p, needing.adamw.init(p));
      // @ts-expect-error: so does a chain with addDecayedWeights in it
      needing.chain.update(p, needing.chain.init(p));
      // @ts-expect-error: and a multiTransform with adamw for one group
      needing.multiTransform.update(p, needing.multiTransform.init(p));
      // @ts-expect-error: lookahead's slow weights are parameters
      needing.lookahead.update(p, needing.lookahead.init(p));
      needing.adamw.update(p, needing.adamw.init(p), p);
    });
  });
});

describe('jvp and linearize take numbers for arrays, and nothing else', () => {
  it('primals and tangents may be numbers, lists or lists built at run time; strings and other trees are compile errors', () => {
    scope(() => {
      const sin = (a: NDArray) => np.sin(a);
      const [y, t] = jvp(sin, [1], [1]);
      expectTypeOf(t).toEqualTypeOf<NDArray>();
      expect(y.item()).toBeCloseTo(Math.sin(1), 6);
      const add = (p: { w: NDArray }, b: NDArray) => np.add(p.w, b);
      const primals: NDArray[] = [np.ones([2])];
      expect(jvp(add, [{ w: new Float32Array([1, 2]) }, 3], [{ w: np.ones([2]) }, 0])[1].shape).toEqual([2]);
      expect(jvp(sin, primals, primals)[1].shape).toEqual([2]);
      const [, fLin] = linearize(sin, 0.5);
      expect(fLin(np.array(1, 'float32')).item()).toBeCloseTo(Math.cos(0.5), 6);
    });
    typeOnly(() => {
      const sin = (a: NDArray) => np.sin(a);
      const add = (p: { w: NDArray }, b: NDArray) => np.add(p.w, b);
      // @ts-expect-error: a string is no primal
      jvp(sin, ['1'], [1]);
      // @ts-expect-error: a tree with other keys
      jvp(add, [{ v: np.ones([2]) }, 3], [{ v: np.ones([2]) }, 0]);
      // @ts-expect-error: a tree where an array belongs
      linearize(sin, { w: np.ones([2]) });
      // @ts-expect-error: a list is a container in a tree, not an array
      jvp(add, [{ w: [1, 2] }, 3], [{ w: [1, 1] }, 0]);
    });
  });
});

describe('control flow, checkpoint and custom rules return number leaves as arrays too', () => {
  it('scan, foriLoop, whileLoop, cond, checkpoint, customJvp and customVjp', () => {
    scope(() => {
      const [carry, ys] = scan((c: NDArray, x: NDArray): [NDArray, { y: NDArray; k: number }] => [np.add(c, x), { y: x, k: 1 }], np.zeros([]), np.ones([3]));
      expectTypeOf(carry).toEqualTypeOf<NDArray>();
      expectTypeOf(ys).toEqualTypeOf<{ y: NDArray; k: NDArray }>();
      expect(ys.k.shape).toEqual([3]);
      const fori = foriLoop(0, 3, (_i, c) => c, { a: np.ones([]), k: 1 });
      expectTypeOf(fori).toEqualTypeOf<{ a: NDArray; k: NDArray }>();
      expect(fori.k.shape).toEqual([]);
      const loop = whileLoop((c) => np.less(c.a, 0), (c) => c, { a: np.ones([]), k: 1 });
      expectTypeOf(loop).toEqualTypeOf<{ a: NDArray; k: NDArray }>();
      expect(loop.k.shape).toEqual([]);
      const branch = cond(true, () => ({ y: np.ones([2]), k: 1 }), () => ({ y: np.zeros([2]), k: 2 }));
      expectTypeOf(branch).toEqualTypeOf<{ y: NDArray; k: NDArray }>();
      expect(branch.k.item()).toBe(1);

      const withCount = (x: NDArray) => ({ y: np.sin(x), k: 2 });
      const saved = checkpoint(withCount)(np.ones([2]));
      expectTypeOf(saved).toEqualTypeOf<{ y: NDArray; k: NDArray }>();
      expect(saved.k.shape).toEqual([]);
      const ruled = customJvp(withCount, ([x], [t]) => [withCount(x), { y: np.multiply(np.cos(x), t), k: 0 }])(np.ones([2]));
      expectTypeOf(ruled).toEqualTypeOf<{ y: NDArray; k: NDArray }>();
      expect(ruled.k.shape).toEqual([]);
      const reversed = customVjp(withCount, (x: NDArray) => [withCount(x), x] as [{ y: NDArray; k: number }, NDArray], (x, ct) => [np.multiply(np.cos(x), ct.y)])(np.ones([2]));
      expectTypeOf(reversed).toEqualTypeOf<{ y: NDArray; k: NDArray }>();
      expect(reversed.k.shape).toEqual([]);
      // Without number outputs, f keeps its own type.
      const sin = (x: NDArray) => np.sin(x);
      expectTypeOf(checkpoint(sin)).toEqualTypeOf<typeof sin>();
    });
  });
});

describe('Jacobians: number outputs and aux values come back as arrays', () => {
  it('jacfwd of an output with a number leaf, and jacrev and hessian with a number in aux', () => {
    scope(() => {
      const f = (x: NDArray) => ({ y: np.sin(x), k: 2 });
      const j = jacfwd(f)(np.ones([2]));
      expectTypeOf(j).toEqualTypeOf<{ y: NDArray; k: NDArray }>();
      expect(j.k.shape).toEqual([2]);
      const withAux = (x: NDArray) => [np.sum(np.sin(x)), { steps: 2 }] as [NDArray, { steps: number }];
      const [jr, aux] = jacrev(withAux, { hasAux: true })(np.ones([2]));
      expectTypeOf(jr).toEqualTypeOf<NDArray>();
      expectTypeOf(aux).toEqualTypeOf<{ steps: NDArray }>();
      expect(aux.steps.shape).toEqual([]);
      const [h, hAux] = hessian(withAux, { hasAux: true })(np.ones([2]));
      expectTypeOf(h).toEqualTypeOf<NDArray>();
      expectTypeOf(hAux).toEqualTypeOf<{ steps: NDArray }>();
      expect(h.shape).toEqual([2, 2]);
    });
  });
});

describe('loops: the carry is an array inside the body, and a number init is fine', () => {
  it('foriLoop, whileLoop and scan take JS-number inits as JAX does, and type the carry the body sees as arrays', () => {
    scope(() => {
      const total = foriLoop(0, 4, (i, acc) => np.add(acc, i), 0);
      expectTypeOf(total).toEqualTypeOf<NDArray>();
      expect(total.item()).toBe(6);
      const counted = foriLoop(0, 3, (_i, c) => {
        expectTypeOf(c).toEqualTypeOf<{ s: NDArray; n: NDArray }>();
        return { s: np.add(c.s, 1), n: c.n };
      }, { s: np.zeros([]), n: 1 });
      expectTypeOf(counted).toEqualTypeOf<{ s: NDArray; n: NDArray }>();
      expect(counted.s.item()).toBe(3);
      const w = whileLoop((x) => np.less(x, 10), (x) => np.add(x, 3), 0);
      expectTypeOf(w).toEqualTypeOf<NDArray>();
      expect(w.item()).toBe(12);
      const [c, ys] = scan((carry, x: NDArray) => [np.add(carry, x), carry] as [NDArray, NDArray], 0, np.ones([3], 'int32'));
      expectTypeOf(c).toEqualTypeOf<NDArray>();
      expectTypeOf(ys).toEqualTypeOf<NDArray>();
      expect(c.item()).toBe(3);
    });
    typeOnly(() => {
      // @ts-expect-error: inside the body the number carry is an array, so JS arithmetic on it does not type-check
      foriLoop(0, 3, (_i, c) => ({ n: c.n + 1 }), { n: 1 });
    });
  });
});

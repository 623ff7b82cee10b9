// Types over nested parameter trees (objects, lists, tuples) as a new user writes them, beside
// types.test.ts: every transformation's result is typed like the tree it differentiates, maps or
// carries, argnums (negative ones too) pick the argument's type, optimizers and their wrappers keep
// the tree's type in their states and updates, and misuse is a compile error (`@ts-expect-error`
// lines are programs that must not compile). Checked by `npm run typecheck` (tsc over properties/);
// the run-time bodies check that the values sit where the types say.
import { describe, expect, expectTypeOf, it } from 'vitest';
import { checkpoint, cond, foriLoop, grad, hessian, jacfwd, jacrev, jit, jvp, linearize, np, scan, scope, switchCase, valueAndGrad, vjp, vmap, whileLoop, type NDArray } from '../src/index.js';
import * as optim from '../optim/index.js';

type Layer = { w: NDArray; b: NDArray };
/** A model tree with every container kind: a list of layers, a tuple, a nested object. */
type Net = { layers: Layer[]; head: [NDArray, { scale: NDArray }] };

const makeNet = (): Net => ({
  layers: [{ w: np.ones([3, 2]), b: np.zeros([2]) }, { w: np.ones([2, 2]), b: np.zeros([2]) }],
  head: [np.ones([2]), { scale: np.array(2, 'float32') }],
});
const netLoss = (p: Net, x: NDArray, k: number) => {
  const h = p.layers.reduce((a, l) => np.tanh(np.add(np.matmul(a, l.w), l.b)), x);
  return np.multiply(np.sum(np.multiply(h, p.head[0])), np.multiply(p.head[1].scale, k));
};

/** Holds compile-time-only statements (never run): `@ts-expect-error` lines and the like. */
function typeOnly(_body: () => void): void {}

describe('gradients of nested trees are typed like the tree', () => {
  it('grad, valueAndGrad, jacfwd, jacrev and hessian over lists, tuples and objects; argnums single, lists and negative', () => {
    scope(() => {
      const net = makeNet();
      const x = np.ones([4, 3]);
      const g = grad(netLoss)(net, x, 2);
      expectTypeOf(g).toEqualTypeOf<Net>();
      expectTypeOf(g.head).toEqualTypeOf<[NDArray, { scale: NDArray }]>();
      expect(g.layers.map((l) => l.w.shape)).toEqual([[3, 2], [2, 2]]);
      expect(g.head[1].scale.shape).toEqual([]);

      // A negative argnums counts from the end, in the type as at run time (it was the union of
      // every argument's type: Net | NDArray).
      const gk = grad(netLoss, { argnums: -1 })(net, x, 2);
      expectTypeOf(gk).toEqualTypeOf<NDArray>();
      expect(gk.shape).toEqual([]);
      const [gx, gnet] = grad(netLoss, { argnums: [-2, 0] })(net, x, 2);
      expectTypeOf(grad(netLoss, { argnums: [-2, 0] })).returns.toEqualTypeOf<[NDArray, Net]>();
      expect(gx.shape).toEqual([4, 3]);
      expect(gnet.layers.length).toBe(2);
      expectTypeOf(grad(netLoss, { argnums: -3 })).returns.toEqualTypeOf<Net>();
      expectTypeOf(grad(netLoss, { argnums: [0, 2] })).returns.toEqualTypeOf<[Net, NDArray]>();

      const withAux = (p: Net, xb: NDArray) => [netLoss(p, xb, 1), { hidden: [p.head[0]] as [NDArray], steps: 1 }] as [NDArray, { hidden: [NDArray]; steps: number }];
      const [[v, aux], [gp, gxb]] = valueAndGrad(withAux, { argnums: [0, 1], hasAux: true })(net, x);
      expectTypeOf(v).toEqualTypeOf<NDArray>();
      expectTypeOf(aux).toEqualTypeOf<{ hidden: [NDArray]; steps: NDArray }>();
      expectTypeOf(gp).toEqualTypeOf<Net>();
      expectTypeOf(gxb).toEqualTypeOf<NDArray>();
      expect(aux.steps.item()).toBe(1);

      const layer = net.layers[0]!;
      const jf = jacfwd((l: Layer) => ({ out: np.sum(l.w, 0), n: l.b }))(layer);
      expectTypeOf(jf).toEqualTypeOf<{ out: Layer; n: Layer }>();
      expect(jf.out.w.shape).toEqual([2, 3, 2]);
      expectTypeOf(jacrev((l: Layer, a: NDArray) => np.sum(np.matmul(a, l.w)), { argnums: [1, 0] })(layer, x)).toEqualTypeOf<[NDArray, Layer]>();
      const h = hessian((l: Layer) => np.sum(np.square(l.b)))(layer);
      expectTypeOf(h).toEqualTypeOf<{ w: Layer; b: Layer }>();
      expect(h.b.b.shape).toEqual([2, 2]);
    });
    typeOnly(() => {
      const net = makeNet();
      // @ts-expect-error: the gradient of a list of layers has no field w (it is a list)
      void grad(netLoss)(net, np.ones([4, 3]), 2).layers.w;
      // @ts-expect-error: the head is a pair
      void grad(netLoss)(net, np.ones([4, 3]), 2).head[2];
      // @ts-expect-error: grad(f) takes f's arguments, all of them
      grad(netLoss)(net, np.ones([4, 3]));
      // @ts-expect-error: a gradient is an array even where the argument was a number
      grad(netLoss, { argnums: -1 })(net, np.ones([4, 3]), 2).toFixed(2);
    });
  });

  it('vjp and jvp and linearize over nested trees: outputs, tangents and cotangents typed like the trees', () => {
    scope(() => {
      const net = makeNet();
      const f = (p: Net) => ({ y: p.head[0], z: [p.layers[0]!.b] as [NDArray] });
      const [out, pullback] = vjp(f, net);
      expectTypeOf(out).toEqualTypeOf<{ y: NDArray; z: [NDArray] }>();
      const [ct] = pullback({ y: np.ones([2]), z: [np.ones([2])] });
      expectTypeOf(ct).toEqualTypeOf<Net>();
      expect(ct.layers[0]!.b.toArray()).toEqual([1, 1]);
      expect(ct.layers[1]!.w.toArray()).toEqual([[0, 0], [0, 0]]);
      pullback.dispose();

      const [primalOut, tangentOut] = jvp((p: Net) => p.head, [net], [makeNet()]);
      expectTypeOf(primalOut).toEqualTypeOf<[NDArray, { scale: NDArray }]>();
      expectTypeOf(tangentOut).toEqualTypeOf<[NDArray, { scale: NDArray }]>();
      expect(tangentOut[1].scale.item()).toBe(2);

      const [lo, fLin] = linearize((p: Net) => p.head[1], net);
      expectTypeOf(lo).toEqualTypeOf<{ scale: NDArray }>();
      expectTypeOf(fLin(makeNet())).toEqualTypeOf<{ scale: NDArray }>();
    });
    typeOnly(() => {
      const net = makeNet();
      const [, pullback] = vjp((p: Net) => ({ y: p.head[0] }), net);
      // @ts-expect-error: the cotangent has the output's tree
      pullback([np.ones([2])]);
      // @ts-expect-error: tangents have the primals' tree
      jvp((p: Net) => p.head, [net], [{ layers: net.layers }]);
    });
  });
});

describe('vmap, jit and checkpoint keep the signature of f over trees', () => {
  it('parameters as declared (a static argument too), results with number leaves as arrays; jit functions have clearCache', () => {
    scope(() => {
      const net = makeNet();
      const perExample = vmap(grad(netLoss), { inAxes: [null, 0, null] });
      expectTypeOf(perExample).parameters.toEqualTypeOf<[Net, NDArray, number]>();
      const pe = perExample(net, np.ones([5, 1, 3]), 2);
      expectTypeOf(pe).toEqualTypeOf<Net>();
      expect(pe.layers[0]!.w.shape).toEqual([5, 3, 2]);
      expect(pe.head[1].scale.shape).toEqual([5]);

      const step = jit((p: Net, mode: 'train' | 'eval') => ({ loss: netLoss(p, np.ones([1, 3]), mode === 'train' ? 1 : 0), count: 1 }), { staticArgnums: [1] });
      expectTypeOf(step).parameters.toEqualTypeOf<[Net, 'train' | 'eval']>();
      expectTypeOf(step(net, 'train')).toEqualTypeOf<{ loss: NDArray; count: NDArray }>();
      expect(step(net, 'eval').loss.item()).toBe(0);
      expectTypeOf(step.clearCache).toEqualTypeOf<() => void>();
      step.clearCache();

      expectTypeOf(checkpoint(netLoss)).parameters.toEqualTypeOf<[Net, NDArray, number]>();
      expectTypeOf(checkpoint(netLoss)(net, np.ones([1, 3]), 1)).toEqualTypeOf<NDArray>();
    });
    typeOnly(() => {
      const net = makeNet();
      // @ts-expect-error: jit(f) takes f's arguments (the static one is a 'train' | 'eval')
      jit((p: Net, mode: 'train' | 'eval') => p.head[0], { staticArgnums: [1] })(net, 'test');
      // @ts-expect-error: vmap(f) takes f's arguments
      vmap(grad(netLoss), { inAxes: [null, 0, null] })(net.layers, np.ones([5, 1, 3]), 2);
    });
  });
});

describe('optimizers over a nested tree: states, updates and applyUpdates typed by it', () => {
  it('a chain with weight decay, lookahead, multiSteps and applyGradients', () => {
    scope(() => {
      const net = makeNet();
      const grads = grad(netLoss)(net, np.ones([1, 3]), 1);
      const opt = optim.chain(optim.clipByGlobalNorm(1), optim.adamw(1e-3));
      const s = opt.init(net);
      expectTypeOf(s[1][0].mu).toEqualTypeOf<Net>();
      const [u, s2] = opt.update(grads, s, net);
      expectTypeOf(u).toEqualTypeOf<Net>();
      expectTypeOf(s2).toEqualTypeOf<typeof s>();
      const next = optim.applyUpdates(net, u);
      expectTypeOf(next).toEqualTypeOf<Net>();
      expect(next.head[1].scale.shape).toEqual([]);

      const slow = optim.lookahead(optim.adam(1e-3));
      const ls = slow.init(net);
      expectTypeOf(ls.slow).toEqualTypeOf<Net>();
      expectTypeOf(ls.inner[0].nu).toEqualTypeOf<Net>();
      const acc = optim.multiSteps(optim.sgd(0.1, { momentum: 0.9 }), 2);
      const ms = acc.init(net);
      expectTypeOf(ms.acc).toEqualTypeOf<Net>();
      expectTypeOf(acc.update(grads, ms)[0]).toEqualTypeOf<Net>();
      expect(ms.acc.layers[1]!.w.shape).toEqual([2, 2]);
      // (Last: applyGradients frees the parameters and state it replaces.)
      const [p2, s3] = optim.applyGradients(opt, grads, s, net);
      expectTypeOf(p2).toEqualTypeOf<Net>();
      expectTypeOf(s3).toEqualTypeOf<typeof s>();
    });
    typeOnly(() => {
      const net = makeNet();
      const opt = optim.chain(optim.clipByGlobalNorm(1), optim.adamw(1e-3));
      const s = opt.init(net);
      // @ts-expect-error: updates of part of the tree
      opt.update({ layers: net.layers }, s, net);
      // @ts-expect-error: params of another tree
      opt.update(net, s, { layers: net.layers });
      // @ts-expect-error: adamw reads the params
      opt.update(net, s);
      // @ts-expect-error: one layer's updates for the whole net
      optim.applyUpdates(net, net.layers[0]!);
      // @ts-expect-error: a lookahead state is not adam's
      optim.adam(1e-3).update(net, optim.lookahead(optim.adam(1e-3)).init(net), net);
      // @ts-expect-error: a state made for one layer is not the net's
      opt.update(net, opt.init(net.layers[0]!), net);
    });
  });
});

describe('loops and branches over tree carries', () => {
  it('scan over a tree of xs with a tuple carry, foriLoop, whileLoop, cond and switchCase', () => {
    scope(() => {
      const xs = { a: np.ones([3, 2]), pair: [np.ones([3]), np.zeros([3])] as [NDArray, NDArray] };
      const [carry, ys] = scan(
        (c: [NDArray, { n: NDArray }], x: { a: NDArray; pair: [NDArray, NDArray] }) => [[np.add(c[0], x.a), { n: np.add(c[1].n, 1) }], x.pair],
        [np.zeros([2]), { n: np.zeros([]) }],
        xs,
      );
      expectTypeOf(carry).toEqualTypeOf<[NDArray, { n: NDArray }]>();
      expectTypeOf(ys).toEqualTypeOf<[NDArray, NDArray]>();
      expect(carry[1].n.item()).toBe(3);
      expect(ys[0].shape).toEqual([3]);

      const fl = foriLoop(0, 3, (i, c: { layers: Layer[] }) => ({ layers: c.layers.map((l) => ({ w: np.add(l.w, i), b: l.b })) }), { layers: makeNet().layers });
      expectTypeOf(fl).toEqualTypeOf<{ layers: Layer[] }>();
      expect(fl.layers[0]!.w.toArray()).toEqual([[4, 4], [4, 4], [4, 4]]);
      const wl = whileLoop((c) => np.less(c.t, 3), (c) => ({ t: np.add(c.t, 1), acc: [np.multiply(c.acc[0], 2)] as [NDArray] }), { t: 0, acc: [np.ones([2])] as [NDArray] });
      expectTypeOf(wl).toEqualTypeOf<{ t: NDArray; acc: [NDArray] }>();
      expect(wl.acc[0].toArray()).toEqual([8, 8]);

      const branch = cond(np.array(true), (l: Layer) => ({ out: l.w, n: 1 }), (l: Layer) => ({ out: np.negative(l.w), n: 2 }), makeNet().layers[1]!);
      expectTypeOf(branch).toEqualTypeOf<{ out: NDArray; n: NDArray }>();
      expect(branch.n.item()).toBe(1);
      // switchCase's number leaves come back as arrays, as cond's do (it was typed [NDArray, number]).
      const sw = switchCase(1, [() => [np.zeros([2]), 0] as [NDArray, number], () => [np.ones([2]), 1] as [NDArray, number]]);
      expectTypeOf(sw).toEqualTypeOf<[NDArray, NDArray]>();
      expect(sw[0].toArray()).toEqual([1, 1]);
      expect(sw[1].shape).toEqual([]);
      // The operands are typed by the branches: unannotated branches see the operands' types, and a
      // JS number may stand for an array operand.
      const scaled = cond(true, (l, s) => np.multiply(l.w, s), (l) => l.w, makeNet().layers[0]!, 3);
      expectTypeOf(scaled).toEqualTypeOf<NDArray>();
      expect(scaled.shape).toEqual([3, 2]);
      expectTypeOf(cond(false, (a: NDArray) => a, (a: NDArray) => np.negative(a), 2)).toEqualTypeOf<NDArray>();
      const picked = switchCase(0, [(l: Layer) => l.b, (l: Layer) => np.negative(l.b)], makeNet().layers[1]!);
      expectTypeOf(picked).toEqualTypeOf<NDArray>();
      expect(picked.toArray()).toEqual([0, 0]);
    });
    typeOnly(() => {
      const x = np.ones([2]);
      // @ts-expect-error: xs of another tree than the body takes
      scan((c: NDArray, xs: { a: NDArray }) => [c, xs.a] as [NDArray, NDArray], x, { b: x });
      // @ts-expect-error: the body returns a carry of another tree
      scan((c: { h: NDArray }, xs: NDArray) => [{ g: xs }, xs], { h: x }, x);
      // @ts-expect-error: foriLoop's body returns another tree
      foriLoop(0, 3, (_i, c: { h: NDArray }) => ({ g: c.h }), { h: x });
      // @ts-expect-error: whileLoop's functions take the carry's tree
      whileLoop((c: { a: NDArray }) => np.less(np.sum(c.a), 1), (c: { a: NDArray }) => c, { b: x });
      // @ts-expect-error: cond's branches return different trees
      cond(true, () => x, () => ({ a: x }));
      const layer = makeNet().layers[0]!;
      // @ts-expect-error: an operand the branches do not take (an array for a layer)
      cond(true, (l: Layer) => l.w, (l: Layer) => l.b, x);
      // @ts-expect-error: fewer operands than the branches take
      cond(true, (a: NDArray, b: NDArray) => np.add(a, b), (a: NDArray, _b: NDArray) => a, x);
      // @ts-expect-error: branches that take different operands
      cond(true, (a: NDArray) => a, (l: Layer) => l.w, x);
      // @ts-expect-error: switchCase's operands are typed by its branches too
      switchCase(0, [(l: Layer) => l.w, (l: Layer) => l.b], x);
      void layer;
    });
  });
});

describe('cond and switchCase take the operands users pass, typed as the branches receive them', () => {
  // 92348ca inferred the operands' types from the branches' parameters too, which refused code that
  // runs: a branch ignoring its operand beside one taking it (`() => zeros`, `(a) => sin(a)`), a
  // number leaf in a tree operand for an array field, an NDArray[] spread into branches of two
  // parameters, an explicit `cond<NDArray>(...)`, and typed a JS number operand `number` in an
  // unannotated branch that receives an array. (More operands than the branches take is no longer
  // a type error: a branch may ignore operands, and at run time the extra ones are unused.)
  it('operands decide the types: ignored operands, number leaves in trees, spreads, explicit R, generic helpers', () => {
    scope(() => {
      const x = np.array([1, -2, 3], 'float32');
      const ignoring = cond(false, () => np.zeros([3]), (a) => np.negative(a), x);
      expectTypeOf(ignoring).toEqualTypeOf<NDArray>();
      expect(ignoring.toArray()).toEqual([-1, 2, -3]);
      expect(cond(true, (a) => np.negative(a), () => np.zeros([3]), x).toArray()).toEqual([-1, 2, -3]);
      // A JS number operand reaches an unannotated branch as an array (it had the type number).
      const seen = cond(true, (n) => n.ndim, (n) => n.size, 3);
      expect(seen.item()).toBe(0);
      cond(true, (n) => { expectTypeOf(n).toEqualTypeOf<NDArray>(); return n; }, (n) => n, 3);
      // A number leaf inside a tree operand, for a branch that declares an array there.
      const state = cond(true, (s: { step: NDArray; x: NDArray }) => np.multiply(s.x, s.step), (s) => s.x, { step: 2, x });
      expect(state.toArray()).toEqual([2, -4, 6]);
      cond(true, (s) => { expectTypeOf(s).toEqualTypeOf<{ step: NDArray; x: NDArray }>(); return s.x; }, (s) => s.x, { step: 2, x });
      // An NDArray[] spread into branches of fixed parameters; an explicit output type.
      const list: NDArray[] = [x, np.ones([3])];
      expect(cond(true, (a: NDArray, b: NDArray) => np.add(a, b), (a: NDArray, _b: NDArray) => a, ...list).toArray()).toEqual([2, -1, 4]);
      expect(cond<NDArray>(false, (a: NDArray) => a, (a: NDArray) => np.abs(a), x).toArray()).toEqual([1, 2, 3]);
      expect(switchCase<NDArray>(0, [(a: NDArray) => a, (a: NDArray) => np.abs(a)], x).toArray()).toEqual([1, -2, 3]);
      // switchCase: branches of different arity, unannotated branches, a number operand.
      const sw = switchCase(1, [() => x, (a: NDArray, k) => np.multiply(a, k)], x, 2);
      expect(sw.toArray()).toEqual([2, -4, 6]);
      // Generic helpers pass their operands through as they are typed.
      const pick = <T,>(q: boolean, f: (t: T) => NDArray, g: (t: T) => NDArray, t: T): NDArray => cond(q, f, g, t);
      expect(pick(false, (l: Layer) => l.b, (l: Layer) => np.add(l.b, 1), makeNet().layers[1]!).toArray()).toEqual([1, 1]);
      // A branch may still declare an operand as passed (a number for a 3), as before 92348ca.
      expect(cond(true, (n: number) => np.multiply(x, n), (_n: number) => x, 3).toArray()).toEqual([3, -6, 9]);
    });
    typeOnly(() => {
      const x = np.ones([2]);
      // @ts-expect-error: a tree operand without the field the branches take
      cond(true, (s: { step: NDArray; x: NDArray }) => s.x, (s: { step: NDArray; x: NDArray }) => s.x, { x });
      // @ts-expect-error: a string where the branches take an array
      cond(true, (a: NDArray) => a, (a: NDArray) => a, 'x');
      // @ts-expect-error: switchCase's branches of two parameters given one operand
      switchCase(0, [(a: NDArray, b: NDArray) => np.add(a, b), (a: NDArray) => a], x);
    });
  });
});

describe('reading values back', () => {
  it('item() is number | boolean (the dtype is known only at run time); Number(x) is a number, bool() a boolean', () => {
    scope(() => {
      const f = np.array(1.5, 'float32');
      const b = np.array(true);
      expectTypeOf(f.item()).toEqualTypeOf<number | boolean>();
      expectTypeOf(Number(f)).toEqualTypeOf<number>();
      expectTypeOf(b.bool()).toEqualTypeOf<boolean>();
      expect(Number(f) * 2).toBe(3);
      expect(b.item()).toBe(true);
      expect(Number(b)).toBe(1);
    });
    typeOnly(() => {
      // @ts-expect-error: item() may be a boolean (a bool array's), so arithmetic needs Number(x)
      void (np.ones([]).item() * 2);
    });
  });
});

// stopGradient properties (issue 5, algorithms.md §2.2, §2.5 item 6, §7g): a stopped value behaves
// exactly like a constant at every derivative order and under every transformation (grad,
// grad∘grad, jvp, vmap, jit), over whole pytrees; straightThrough has the value of f and the
// derivative of the identity; gradientReversal has the value of x and the VJP −λ·ct.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { NDArray, dispose, grad, gradientReversal, jit, jvp, np, stopGradient, straightThrough, tree, vjp, vmap } from '../src/index.js';
import { Rng, arbArray } from '../src/testing/index.js';
import { arbExpr, arbInputShapes, evalExpr, showExpr, type Expr } from './compositions.js';
import { FC_SEED, expectClose, inScope, values } from './helpers.js';
import { expectNoLeak, expectTreeClose, loopVmap, moderate, randomArray } from './loop_oracle.js';

const arbPair = fc.record({ e1: arbExpr(1, 3), e2: arbExpr(1, 3), shape: arbInputShapes(1, { maxRank: 2 }).map((s) => s[0]!), seed: fc.integer() });

/** x ↦ Σ e1(x)·sg(e2(x)) and the same with e2(x) replaced by its value, a true constant. */
function pairFns(e1: Expr, e2: Expr, c: NDArray) {
  const withSg = (x: NDArray) => np.sum(np.multiply(evalExpr(e1, [x]), stopGradient(evalExpr(e2, [x]))));
  const withConst = (x: NDArray) => np.sum(np.multiply(evalExpr(e1, [x]), c));
  return { withSg, withConst };
}

describe('a stopped value is a constant at every order and under every transformation', () => {
  it('grad, grad∘grad, jvp, vmap(grad) and jit(grad) of Σ e1(x)·sg(e2(x)) equal those with e2(x) frozen, for random compositions', () => {
    fc.assert(
      fc.property(arbPair, ({ e1, e2, shape, seed }) =>
        inScope(() => {
          const rng = new Rng(seed);
          const x = randomArray(rng, shape);
          const c = evalExpr(e2, [x]);
          fc.pre(moderate([c, evalExpr(e1, [x])]));
          const { withSg, withConst } = pairFns(e1, e2, c);
          const label = `e1 = ${showExpr(e1)}, e2 = ${showExpr(e2)}`;
          const tol = { rtol: 1e-5, atol: 1e-6 };
          expectTreeClose(withSg(x), withConst(x), { ...tol, label: `value: ${label}` });
          expectTreeClose(grad(withSg)(x), grad(withConst)(x), { ...tol, label: `grad: ${label}` });
          // At second order the stop holds for the outer grad too: d/dy [e1'(y)·sg(e2(y))] = e1''(y)·e2(y).
          const gg = (h: (x: NDArray) => NDArray) => grad((y: NDArray) => np.sum(np.multiply(grad(h)(y), np.sin(y))))(x);
          expectTreeClose(gg(withSg), gg(withConst), { rtol: 1e-4, atol: 1e-5, label: `grad∘grad: ${label}` });
          const t = randomArray(rng, shape, -1, 1);
          expectTreeClose(jvp(withSg, [x], [t]), jvp(withConst, [x], [t]), { ...tol, label: `jvp: ${label}` });
          expectTreeClose(jit(grad(withSg))(x), grad(withConst)(x), { rtol: 1e-4, atol: 1e-5, label: `jit(grad): ${label}` });
        }),
      ),
      { seed: FC_SEED, numRuns: 60 },
    );
  });

  it('grad∘grad of x·sg(x) is 0 and grad of it is x (the stop holds at both levels)', () => {
    fc.assert(
      fc.property(arbArray(fc.constantFrom([3], [2, 2], [])), (xd) =>
        inScope(() => {
          const x = xd.toNDArray();
          const f = (y: NDArray) => np.sum(np.multiply(y, stopGradient(y)));
          expectClose(grad(f)(x), x, { rtol: 0, atol: 0, label: 'grad of x·sg(x)' });
          expectClose(grad((y: NDArray) => np.sum(grad(f)(y)))(x), np.zerosLike(x), { rtol: 0, atol: 0, label: 'grad∘grad of x·sg(x)' });
          const [, t] = jvp((y: NDArray) => grad(f)(y), [x], [np.onesLike(x)]);
          expectClose(t, np.zerosLike(x), { rtol: 0, atol: 0, label: 'jvp of grad of x·sg(x)' });
          // sg applied inside an inner grad to a value of the outer one: h(x) = x in value, h'(x) = 0.
          const h = (y: NDArray) => grad((z: NDArray) => np.sum(np.multiply(z, stopGradient(y))))(y);
          expectClose(h(x), x, { rtol: 0, atol: 0, label: 'inner grad value' });
          expectClose(grad((y: NDArray) => np.sum(h(y)))(x), np.zerosLike(x), { rtol: 0, atol: 0, label: 'outer grad through an inner stop' });
          // Without the stop the outer derivative is 1.
          const h2 = (y: NDArray) => grad((z: NDArray) => np.sum(np.multiply(z, y)))(y);
          expectClose(grad((y: NDArray) => np.sum(h2(y)))(x), np.onesLike(x), { rtol: 0, atol: 0, label: 'outer grad without the stop' });
        }),
      ),
      { seed: FC_SEED, numRuns: 15 },
    );
  });

  it('vmap: the value passes through unchanged; vmap(grad) sees a constant per example', () => {
    fc.assert(
      fc.property(arbPair, fc.integer({ min: 1, max: 3 }), ({ e1, e2, shape, seed }, b) =>
        inScope(() => {
          const rng = new Rng(seed);
          const xs = randomArray(rng, [b, ...shape]);
          fc.pre(moderate(loopVmap((x: NDArray) => [evalExpr(e1, [x]), evalExpr(e2, [x])], [xs], 0, 0, b)));
          expectClose(vmap((x: NDArray) => stopGradient(evalExpr(e2, [x])))(xs), vmap((x: NDArray) => evalExpr(e2, [x]))(xs), { rtol: 0, atol: 0, label: 'vmap(sg) value' });
          const f = (x: NDArray) => np.sum(np.multiply(evalExpr(e1, [x]), stopGradient(evalExpr(e2, [x]))));
          const want = loopVmap((x: NDArray) => grad(pairFns(e1, e2, evalExpr(e2, [x])).withConst)(x), [xs], 0, 0, b);
          expectTreeClose(vmap(grad(f))(xs), want, { rtol: 1e-4, atol: 1e-5, label: `vmap(grad): ${showExpr(e1)} · sg(${showExpr(e2)})` });
        }),
      ),
      { seed: FC_SEED, numRuns: 30 },
    );
  });
});

describe('stopGradient over pytrees', () => {
  it('returns the same tree with the same values; its leaves get exactly zero gradient; integer leaves pass through', () => {
    inScope(() => {
      const p = { w: np.array([[1, -2], [0.5, 3]], 'float32'), layers: [np.array([0.25, -0.75], 'float32'), { b: np.array(1.5, 'float32') }] };
      const withInt = { ...p, idx: np.array([1, 0], 'int32') };
      const sp = stopGradient(withInt);
      expect(tree.structure(sp).equals(tree.structure(withInt))).toBe(true);
      expectTreeClose(sp, withInt, { rtol: 0, atol: 0, label: 'stopGradient(tree) values' });
      expect(sp.idx.dtype).toBe('int32');
      // Freeze the layers subtree: its gradient is exactly zero; w's is untouched.
      const loss = (q: typeof p) => {
        const frozen = stopGradient(q.layers);
        const v = frozen[0] as NDArray, inner = frozen[1] as { b: NDArray };
        return np.sum(np.tanh(np.add(np.matmul(q.w, v), np.multiply(inner.b, np.take(v, withInt.idx)))));
      };
      const g = grad(loss)(p);
      expectClose(g.layers[0] as NDArray, [0, 0], { rtol: 0, atol: 0, label: 'frozen leaf' });
      expectClose((g.layers[1] as { b: NDArray }).b, 0, { rtol: 0, atol: 0, label: 'frozen scalar' });
      const unfrozen = grad((w: NDArray) => loss({ ...p, w }))(p.w);
      expectClose(g.w, unfrozen, { rtol: 0, atol: 0, label: 'gradient of the free leaf' });
      expect(values(g.w).some((v) => v !== 0)).toBe(true);
    });
  });

  it('the parameter-level single-loss GAN form L_D(θ, sg φ) + λ·L_G(sg θ, φ) splits the gradient (∇θ L_D, λ∇φ L_G)', () => {
    fc.assert(
      fc.property(fc.integer(), fc.constantFrom(0.5, 1, 2), (seed, lambda) =>
        inScope(() => {
          const rng = new Rng(seed);
          const theta = { w: randomArray(rng, [3]), b: randomArray(rng, []) };
          const phi = { a: randomArray(rng, [2, 3]) };
          const z = randomArray(rng, [4, 2]), real = randomArray(rng, [4, 3]);
          const D = (t: typeof theta, x: NDArray) => np.add(np.matmul(np.tanh(x), t.w), t.b);
          const G = (f: typeof phi) => np.matmul(z, f.a);
          const lossD = (t: typeof theta, f: typeof phi) => np.add(np.mean(np.relu(np.add(1, D(t, real)))), np.mean(np.relu(np.subtract(1, D(t, G(f))))));
          const lossG = (t: typeof theta, f: typeof phi) => np.mean(D(t, G(f)));
          const L = (t: typeof theta, f: typeof phi) => np.add(lossD(t, stopGradient(f)), np.multiply(lossG(stopGradient(t), f), lambda));
          const [gt, gf] = grad(L, { argnums: [0, 1] })(theta, phi);
          expectTreeClose(gt, grad(lossD)(theta, phi), { rtol: 1e-5, atol: 1e-6, label: '∇θ' });
          expectTreeClose(gf, tree.map((g: NDArray) => np.multiply(g, lambda), grad(lossG, { argnums: 1 })(theta, phi)), { rtol: 1e-5, atol: 1e-6, label: '∇φ' });
        }),
      ),
      { seed: FC_SEED, numRuns: 15 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// The idioms

/** |got − want| within a few float32 ulps of the operands' magnitude (x + (f(x) − x) rounds). */
function expectUlpClose(got: NDArray, want: NDArray, scale: NDArray, label: string): void {
  const g = values(got), w = values(want), s = values(scale);
  g.forEach((v, i) => {
    const tol = 4 * 2 ** -23 * Math.max(Math.abs(w[i]!), Math.abs(s[i]!), 1e-30);
    if (!(Math.abs(v - w[i]!) <= tol)) throw new Error(`${label}: element ${i} is ${v}, expected ${w[i]} (tolerance ${tol})`);
  });
}

const QUANTIZERS: [string, (x: NDArray) => NDArray][] = [
  ['round', np.round],
  ['sign', np.sign],
  ['quantize to thirds', (x) => np.divide(np.round(np.multiply(x, 3)), 3)],
  ['binarize', (x) => np.astype(np.greater(x, 0), 'float32')],
];

describe('straightThrough(x, f): the value of x + sg(f(x) − x) and its derivatives', () => {
  it('is exact where the sum form is not: ±∞ and NaN inputs (and gradientReversal too)', () => {
    inScope(() => {
      const x = np.array(Float32Array.from([Infinity, -Infinity, NaN, 2.5, -0]));
      expect(Array.from(straightThrough(x, np.round).dataSync())).toEqual([Infinity, -Infinity, NaN, 2, -0]);
      expect(Array.from(gradientReversal(x, 0.3).dataSync())).toEqual([Infinity, -Infinity, NaN, 2.5, -0]);
      // Where x is not finite the value is f(x) (x) held constant: derivative 0 there (the sum forms give NaN).
      expect(Array.from(grad((y: NDArray) => np.sum(straightThrough(y, np.round)))(x).dataSync(), (v) => v + 0)).toEqual([0, 0, 0, 1, 1]);
      expect(Array.from(grad((y: NDArray) => np.sum(gradientReversal(y, 2)))(x).dataSync(), (v) => v + 0)).toEqual([0, 0, 0, -2, -2]);
      // f may change the shape (the sum form broadcasts): still value f(x), derivative of x + sg(…).
      const y = np.array([1.5, -2.5], 'float32');
      // Derivatives of every order are those of the sum forms: d²/da² ½·st(a)² = 1, ½·gr(a)² = λ².
      const a = np.array([0.7, -1.2], 'float32');
      expectClose(grad((v: NDArray) => np.sum(grad((w: NDArray) => np.sum(np.multiply(np.square(straightThrough(w, np.round)), 0.5)))(v)))(a), [1, 1], { rtol: 0, atol: 0 });
      expectClose(grad((v: NDArray) => np.sum(grad((w: NDArray) => np.sum(np.multiply(np.square(gradientReversal(w, 2)), 0.5)))(v)))(a), [4, 4], { rtol: 0, atol: 0 });
      // f runs once on the values it is given, so it may read them (outside jit).
      const readsData = (v: NDArray) => np.array(Float32Array.from(v.dataSync() as Float32Array, Math.round));
      expectClose(straightThrough(a, readsData), [1, -1], { rtol: 0, atol: 0 });
      expectClose(grad((v: NDArray) => np.sum(straightThrough(v, readsData)))(a), [1, 1], { rtol: 0, atol: 0 });
      const lift = (v: NDArray) => np.stack([np.round(v), np.negative(v)]);
      expectClose(straightThrough(y, lift), [[2, -2], [-1.5, 2.5]], { rtol: 0, atol: 0 });
      expectClose(grad((v: NDArray) => np.sum(straightThrough(v, lift)))(y), grad((v: NDArray) => np.sum(np.add(v, stopGradient(np.subtract(lift(v), v)))))(y), { rtol: 0, atol: 0 });
    });
  });

  it('has the value of f(x), the VJP of the identity and the JVP of the identity', () => {
    fc.assert(
      fc.property(arbArray(fc.constantFrom([5], [2, 3], [])), fc.constantFrom(...QUANTIZERS), fc.integer(), (xd, [name, q], seed) =>
        inScope(() => {
          const x = xd.toNDArray();
          const rng = new Rng(seed);
          const ct = randomArray(rng, x.shape, -2, 2);
          const [out, pullback] = vjp((y: NDArray) => straightThrough(y, q), x);
          expectClose(out, q(x), { rtol: 0, atol: 0, label: `${name}: value is f(x) exactly` });
          expectClose(pullback(ct)[0]!, ct, { rtol: 0, atol: 0, label: `${name}: VJP is the identity` });
          pullback.dispose();
          expectClose(jvp((y: NDArray) => straightThrough(y, q), [x], [ct])[1], ct, { rtol: 0, atol: 0, label: `${name}: JVP is the identity` });
          // Second derivative of a straight-through estimator is 0.
          expectClose(grad((y: NDArray) => np.sum(grad((z: NDArray) => np.sum(np.multiply(straightThrough(z, q), ct)))(y)))(x), np.zerosLike(x), { rtol: 0, atol: 0, label: `${name}: second derivative` });
          // Under vmap and jit the same identities hold.
          expectClose(vmap((y: NDArray) => straightThrough(y, q))(np.stack([x, np.negative(x)])), np.stack([q(x), q(np.negative(x))]), { rtol: 1e-6, atol: 1e-6, label: `${name}: vmap value` });
          expectClose(jit(grad((y: NDArray) => np.sum(np.multiply(straightThrough(y, q), ct))))(x), ct, { rtol: 0, atol: 0, label: `${name}: jit(grad)` });
        }),
      ),
      { seed: FC_SEED, numRuns: 30 },
    );
  });

  it('a VQ-style codebook lookup: the decoder input equals the nearest code, the encoder gets the decoder gradient', () => {
    inScope(() => {
      const codebook = np.array([[0, 0], [1, 1], [-1, 2]], 'float32');
      const z = np.array([[0.9, 1.2], [-0.8, 1.7], [0.1, -0.2]], 'float32');
      const quantize = (e: NDArray) => {
        const d = np.sum(np.square(np.subtract(np.expandDims(e, 1), codebook)), -1);
        return np.take(codebook, np.argmin(d, 1), 0);
      };
      const zq = straightThrough(z, quantize);
      expectClose(zq, [[1, 1], [-1, 2], [0, 0]], { rtol: 0, atol: 1e-7 });
      const W = np.array([[0.5, -1], [2, 0.25]], 'float32');
      const dec = (e: NDArray) => np.sum(np.square(np.matmul(e, W)));
      expectClose(grad((e: NDArray) => dec(straightThrough(e, quantize)))(z), grad(dec)(zq), { rtol: 1e-6, atol: 1e-6, label: 'encoder gradient = decoder gradient at z_q' });
    });
  });
});

describe('gradientReversal(x, λ): value x, derivative −λ (as −λx + sg((1+λ)x))', () => {
  it('has the value x and the VJP −λ·ct (and JVP −λ·t), for any λ, under vmap and jit too', () => {
    fc.assert(
      fc.property(arbArray(fc.constantFrom([4], [2, 3], [])), fc.constantFrom(0, 0.5, 1, 2, 0.3, 1.7), fc.integer(), (xd, lambda, seed) =>
        inScope(() => {
          const x = xd.toNDArray();
          const rng = new Rng(seed);
          const ct = randomArray(rng, x.shape, -2, 2);
          const [out, pullback] = vjp((y: NDArray) => gradientReversal(y, lambda), x);
          expectClose(out, x, { rtol: 0, atol: 0, label: `value (λ = ${lambda}) is x exactly` });
          const negLambdaCt = np.multiply(ct, -lambda);
          expectClose(pullback(ct)[0]!, negLambdaCt, { rtol: 0, atol: 0, label: `VJP (λ = ${lambda})` });
          pullback.dispose();
          expectClose(jvp((y: NDArray) => gradientReversal(y, lambda), [x], [ct])[1], negLambdaCt, { rtol: 0, atol: 0, label: `JVP (λ = ${lambda})` });
          expectClose(jit(grad((y: NDArray) => np.sum(np.multiply(gradientReversal(y, lambda), ct))))(x), negLambdaCt, { rtol: 0, atol: 0, label: `jit(grad) (λ = ${lambda})` });
          const xs = np.stack([x, np.multiply(x, 2)]);
          expectClose(vmap(grad((y: NDArray) => np.sum(np.multiply(gradientReversal(y, lambda), ct))))(xs), np.stack([negLambdaCt, negLambdaCt]), { rtol: 0, atol: 0, label: `vmap(grad) (λ = ${lambda})` });
        }),
      ),
      { seed: FC_SEED, numRuns: 30 },
    );
  });

  it('the default λ is 1, and the reversed gradient trains a zero-sum game from one loss', () => {
    inScope(() => {
      const x = np.array([0.5, -2], 'float32');
      expectClose(grad((y: NDArray) => np.sum(gradientReversal(y)))(x), [-1, -1], { rtol: 0, atol: 0 });
      // L_D(θ, gr(G(φ))): θ descends L_D, φ gets the gradient of −λ·L_D (ascends it).
      const theta = np.array([0.3, -0.4], 'float32'), phi = np.array([1.2, 0.7], 'float32');
      const LD = (t: NDArray, g: NDArray) => np.sum(np.tanh(np.multiply(t, g)));
      const [gt, gp] = grad((t: NDArray, p: NDArray) => LD(t, gradientReversal(np.sin(p), 0.5)), { argnums: [0, 1] })(theta, phi);
      expectClose(gt!, grad(LD)(theta, np.sin(phi)), { rtol: 1e-6, atol: 1e-7, label: '∇θ' });
      expectClose(gp!, np.multiply(grad((p: NDArray) => LD(theta, np.sin(p)))(phi), -0.5), { rtol: 1e-6, atol: 1e-7, label: '∇φ = −λ ∇φ L_D' });
    });
  });
});

describe('no leaked tensors', () => {
  it('stopGradient, straightThrough and gradientReversal under grad, grad∘grad, jvp, vmap and jit', () => {
    const x = np.array([0.3, -1.2, 0.7], 'float32');
    const p = { a: x, b: [np.array([1, 2], 'float32')] };
    const f = (y: NDArray) => np.sum(np.multiply(np.sin(y), stopGradient(np.exp(y))));
    const jf = jit(grad(f));
    const xx = np.stack([x, x]);
    expectNoLeak('grad', () => grad(f)(x));
    expectNoLeak('grad∘grad', () => grad((y: NDArray) => np.sum(grad(f)(y)))(x));
    expectNoLeak('jvp', () => jvp(f, [x], [x]));
    expectNoLeak('vmap(grad)', () => vmap(grad(f))(xx));
    expectNoLeak('jit(grad)', () => jf(x));
    expectNoLeak('pytree', () => grad((q: typeof p) => np.sum(np.multiply(q.a, stopGradient(q).a)))(p));
    expectNoLeak('straightThrough', () => grad((y: NDArray) => np.sum(straightThrough(y, np.round)))(x));
    expectNoLeak('gradientReversal', () => grad((y: NDArray) => np.sum(gradientReversal(y, 0.3)))(x));
    jf.clearCache();
    dispose([x, p, xx]);
  });

  it('called at the top level, outside any transformation, on arrays, numbers and trees', () => {
    const x = np.array([0.3, -1.2, 0.7], 'float32');
    expectNoLeak('stopGradient(number)', () => stopGradient(2.5));
    expectNoLeak('stopGradient(tree of numbers)', () => stopGradient({ a: 1.5, b: [2, x] }));
    expectNoLeak('straightThrough(array)', () => straightThrough(x, np.round));
    expectNoLeak('straightThrough(number)', () => straightThrough(2.5, np.round));
    expectNoLeak('gradientReversal(array)', () => gradientReversal(x, 0.5));
    expectNoLeak('gradientReversal(number)', () => gradientReversal(2.5));
    // Results are the caller's: disposing them leaves the argument alive.
    dispose([stopGradient(x), gradientReversal(np.array([1, 2], 'int32'))]);
    expect(values(x)).toEqual([0.3, -1.2, 0.7].map(Math.fround));
    dispose(x);
  });
});

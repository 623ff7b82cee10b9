// Wrappers and the contract of every transformation: lookahead, EMA against their closed forms,
// accumulation, skipping non-finite steps, injected hyperparameters; errors that name what was
// wrong; memory (an update leaves nothing behind but what it returns) and types.
import * as tf from '@tensorflow/tfjs-core';
import fc from 'fast-check';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { NDArray, grad, jit, np, scope, tree, vmap } from '../src/index.js';
import { Rng } from '../src/testing/index.js';
import { expectTreeClose, randomArray } from './loop_oracle.js';
import * as optim from '../optim/index.js';
import { expectAllClose, expectUpdatesLeakNothing } from './optim_helpers.js';

const SEED = 42;


const floats = (n: number, min = -2, max = 2) => fc.array(fc.double({ min, max, noNaN: true }), { minLength: n, maxLength: n });
const f32 = (values: number[], shape?: number[]) => np.reshape(np.array(values, 'float32'), shape ?? [values.length]);
const vals = (x: NDArray) => Array.from(x.dataSync());
const fr = (xs: number[]) => xs.map(Math.fround);

/** Feeds `grads` (plain number lists) through a transformation on a one-leaf tree; returns the updates. */
function updatesOf(t: optim.GradientTransformation<unknown>, grads: number[][], params?: number[][]): number[][] {
  return scope(() => {
    const p0 = { x: f32(params?.[0] ?? grads[0]!.map(() => 0)) };
    let state = t.init(p0);
    return grads.map((g, i) => {
      const p = params ? { x: f32(params[i]!) } : p0;
      const [u, s] = t.update({ x: f32(g) }, state, p);
      state = s;
      return vals(u.x);
    });
  });
}

describe('wrappers against closed forms', () => {
  it('lookahead(sgd) on ½x²: after n synchronisations x = x₀·(1 − α + α(1 − lr)^k)ⁿ, and in between the fast weights follow SGD', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }), fc.double({ min: 0.1, max: 1, noNaN: true }), fc.double({ min: 0.01, max: 0.5, noNaN: true }), floats(3, -2, 2), (k, alpha, lr, x0) => {
        scope(() => {
          const opt = optim.lookahead(optim.sgd(lr), { syncPeriod: k, slowStepSize: alpha });
          let p = { x: f32(x0) };
          let state = opt.init(p);
          const factor = 1 - alpha + alpha * (1 - lr) ** k;
          for (let step = 1; step <= 3 * k; step++) {
            const [u, s] = opt.update(p, state, p); // the gradient of ½x² is x
            p = optim.applyUpdates(p, u);
            state = s;
            const syncs = Math.floor(step / k);
            const inner = step % k;
            const want = fr(x0).map((x) => x * factor ** syncs * (1 - lr) ** inner);
            expectAllClose(vals(p.x), want, 1e-4, 1e-6, `step ${step}`);
          }
          return null;
        });
      }),
      { seed: SEED, numRuns: 30 },
    );
  });

  it('lookahead with an injected slowStepSize α (it took numbers only): the closed form, with α changed in the state after the first synchronisation, and α traced under jit and vmap', () => {
    /** k·syncs steps of lookahead(sgd(lr)) on ½x² from x0 with α injected as `alpha`; `after` replaces it after the first sync. */
    const run = (alpha: NDArray | number, x0: NDArray, lr: number, k: number, syncs: number, after?: number) => {
      const opt = optim.injectHyperparams((h) => optim.lookahead(optim.sgd(lr), { syncPeriod: k, slowStepSize: h.alpha }), { alpha });
      let p = { x: x0 };
      let state = opt.init(p);
      for (let step = 1; step <= k * syncs; step++) {
        if (step === k + 1 && after !== undefined) state.hyperparams.alpha = after;
        const [u, s] = opt.update(p, state, p);
        [p, state] = [optim.applyUpdates(p, u), s];
      }
      return p.x;
    };
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 }), fc.double({ min: 0.1, max: 1, noNaN: true }), fc.double({ min: 0.1, max: 1, noNaN: true }), floats(3, -2, 2), (k, a1, a2, x0) => {
        scope(() => {
          const lr = 0.3;
          const factor = (a: number) => 1 - a + a * (1 - lr) ** k;
          const want = fr(x0).map((x) => x * factor(a1) * factor(a2) ** 2);
          expectAllClose(vals(run(a1, f32(x0), lr, k, 3, a2)), want, 1e-4, 1e-6, `k ${k}, α ${a1} then ${a2}`);
          const traced = jit((a: NDArray, x: NDArray) => run(a, x, lr, k, 2));
          expectAllClose(vals(traced(np.array(a1, 'float32'), f32(x0))), fr(x0).map((x) => x * factor(a1) ** 2), 1e-4, 1e-6, `jit, k ${k}, α ${a1}`);
          traced.clearCache();
          const batched = vmap((a: NDArray) => run(a, f32(x0), lr, k, 2))(np.array([a1, a2], 'float32'));
          expectAllClose(vals(batched), [a1, a2].flatMap((a) => fr(x0).map((x) => x * factor(a) ** 2)), 1e-4, 1e-6, `vmap, k ${k}, α ${a1}, ${a2}`);
          return null;
        });
      }),
      { seed: SEED, numRuns: 8 },
    );
  });

  it('multiSteps(adam, k) emits zeros for k − 1 mini-steps, then adam on the mean gradient', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 }), fc.array(floats(3, -3, 3), { minLength: 8, maxLength: 8 }), (k, gs) => {
        const acc = updatesOf(optim.multiSteps(optim.adam(0.1), k), gs);
        const means: number[][] = [];
        for (let i = 0; i + k <= gs.length; i += k) means.push(gs[0]!.map((_, j) => gs.slice(i, i + k).reduce((a, g) => a + Math.fround(g[j]!), 0) / k));
        const big = updatesOf(optim.adam(0.1), means);
        acc.forEach((u, i) => {
          if ((i + 1) % k !== 0) expect(u.every((x) => x === 0)).toBe(true);
          else expectAllClose(u, big[(i + 1) / k - 1]!, 1e-4, 1e-7, `inner step ${(i + 1) / k}`);
        });
      }),
      { seed: SEED, numRuns: 25 },
    );
  });

  it('ema of updates: e_t = decay·e + (1 − decay)·u, divided by 1 − decayᵗ when debiased', () => {
    fc.assert(
      fc.property(fc.array(floats(2), { minLength: 4, maxLength: 4 }), fc.double({ min: 0, max: 0.99, noNaN: true }), (gs, d) => {
        for (const debias of [true, false]) {
          const got = updatesOf(optim.ema(d, { debias }), gs);
          let e = [0, 0];
          gs.forEach((g, k) => {
            e = e.map((x, i) => d * x + (1 - d) * Math.fround(g[i]!));
            expectAllClose(got[k]!, debias ? e.map((x) => x / (1 - d ** (k + 1))) : e, 1e-5, 1e-7, `step ${k + 1}`);
          });
        }
      }),
      { seed: SEED, numRuns: 25 },
    );
  });

  it('paramsEma keeps ema ← d·ema + (1 − d)·new params, starting at the initial parameters; incrementalUpdate mixes two trees', () => {
    scope(() => {
      const opt = optim.paramsEma(optim.sgd(0.5), 0.8);
      let p = { x: f32([1, 2]) };
      let state = opt.init(p);
      let ema = [1, 2];
      for (let i = 0; i < 4; i++) {
        const [u, s] = opt.update({ x: f32([1, -1]) }, state, p);
        p = optim.applyUpdates(p, u);
        state = s;
        ema = ema.map((e, j) => 0.8 * e + 0.2 * vals(p.x)[j]!);
        expectAllClose(vals((state.ema as { x: NDArray }).x), ema, 1e-6, 1e-7, `step ${i + 1}`);
      }
      const mixed = optim.incrementalUpdate({ a: f32([10]) }, { a: f32([0]) }, 0.25);
      expect(vals(mixed.a)).toEqual([2.5]);
      return null;
    });
  });

  it('applyIfFinite skips steps with NaN/Inf gradients (zero update, inner state kept), counts them, and gives up after maxConsecutiveErrors', () => {
    scope(() => {
      const opt = optim.applyIfFinite(optim.adam(0.1), 2);
      const params = { x: f32([1, 2]) };
      let state = opt.init(params);
      const step = (g: number[]) => {
        const [u, s] = opt.update({ x: f32(g) }, state, params);
        state = s;
        return vals(u.x);
      };
      const innerCount = () => Number(((state.inner as unknown[])[0] as optim.ScaleByAdamState).count.item());
      expect(step([1, 1])).toEqual([-0.1, -0.1].map((v) => expect.closeTo(v, 6)));
      expect(step([NaN, 1])).toEqual([0, 0]);
      expect(step([1, Infinity])).toEqual([0, 0]);
      expect(innerCount()).toBe(1);
      expect([state.notfiniteCount.item(), state.totalNotfinite.item(), state.lastFinite.item()]).toEqual([2, 2, false]);
      // A third bad step in a row exceeds maxConsecutiveErrors = 2: applied (and the NaN shows).
      expect(step([NaN, 1]).some(Number.isNaN)).toBe(true);
      expect(innerCount()).toBe(2);
      const opt2 = optim.applyIfFinite(optim.sgd(1));
      let s2 = opt2.init(params);
      [, s2] = opt2.update({ x: f32([NaN, 0]) }, s2, params);
      const [u2, s3] = opt2.update({ x: f32([1, 1]) }, s2, params);
      expect(vals(u2.x)).toEqual([-1, -1]);
      expect([s3.notfiniteCount.item(), s3.totalNotfinite.item(), s3.lastFinite.item()]).toEqual([0, 1, true]);
      return null;
    });
  });

  it("applyIfFinite's counters saturate at 2³¹ − 1 like Optax's safe_increment (they wrapped to −2³¹, and a wrapped consecutive count skipped the steps it had given up skipping)", () => {
    const INT32_MAX = 2 ** 31 - 1;
    fc.assert(
      fc.property(fc.integer({ min: INT32_MAX - 3, max: INT32_MAX }), fc.integer({ min: 1, max: 5 }), (start, bad) => {
        scope(() => {
          const opt = optim.applyIfFinite(optim.sgd(1), 2);
          const params = { x: f32([1, 2]) };
          let state = opt.init(params);
          optim.freeTree([state.notfiniteCount, state.totalNotfinite]);
          [state.notfiniteCount, state.totalNotfinite] = [np.array(start, 'int32'), np.array(start, 'int32')];
          for (let i = 1; i <= bad; i++) {
            const [u, s] = opt.update({ x: f32([NaN, 3]) }, state, params);
            state = s;
            const want = Math.min(start + i, INT32_MAX);
            expect([state.notfiniteCount.item(), state.totalNotfinite.item()], `bad step ${i} from ${start}`).toEqual([want, want]);
            expect(vals(u.x)[1], `bad step ${i} from ${start}: applied (past maxConsecutiveErrors)`).toBe(-3);
          }
          const [u, s] = opt.update({ x: f32([1, 1]) }, state, params);
          expect(vals(u.x)).toEqual([-1, -1]);
          expect([s.notfiniteCount.item(), s.totalNotfinite.item()]).toEqual([0, Math.min(start + bad, INT32_MAX)]);
          return null;
        });
      }),
      { seed: SEED, numRuns: 20 },
    );
  });

  it('injectHyperparams: the same steps as the plain optimizer, hyperparameters readable and changeable in the state, schedules re-evaluated', () => {
    scope(() => {
      const gs = [[1, -2], [0.5, 0.5], [-1, 3]];
      const plain = updatesOf(optim.adam(0.01, { b1: 0.8 }), gs);
      const injected = updatesOf(optim.injectHyperparams((h) => optim.adam(h.lr, { b1: h.b1 }), { lr: 0.01, b1: 0.8 }), gs);
      injected.forEach((u, k) => expectAllClose(u, plain[k]!, 1e-5, 1e-9, `step ${k + 1}`));

      const opt = optim.injectHyperparams((h) => optim.sgd(h.lr), { lr: 0.5 });
      const params = { x: f32([0]) };
      let state = opt.init(params);
      let [u, s] = opt.update({ x: f32([1]) }, state, params);
      expect(vals(u.x)).toEqual([-0.5]);
      state = { ...s, hyperparams: { ...s.hyperparams, lr: 0.1 } };
      [u, s] = opt.update({ x: f32([1]) }, state, params);
      expect(vals(u.x)).toEqual([Math.fround(-0.1)]);

      const sched = optim.injectHyperparams((h) => optim.sgd(h.lr), { lr: optim.schedules.linear({ initValue: 1, endValue: 0, transitionSteps: 2 }) });
      let ss = sched.init(params);
      const lrs: number[] = [];
      for (let i = 0; i < 3; i++) {
        [, ss] = sched.update({ x: f32([1]) }, ss, params);
        lrs.push(Number((ss.hyperparams.lr as NDArray).item()));
      }
      expect(lrs).toEqual([1, 0.5, 0]);
      expect(() => optim.injectHyperparams((h) => optim.adam(h.lr), { lr: -1 })).toThrow(/adam: learningRate must be a finite number ≥ 0, got -1/);
      return null;
    });
  });
});

describe('errors name what was wrong', () => {
  it('invalid hyperparameters', () => {
    expect(() => optim.adam(-1e-3)).toThrow(/adam: learningRate must be a finite number ≥ 0, got -0.001/);
    expect(() => optim.sgd(NaN)).toThrow(/sgd: learningRate must be a finite number ≥ 0, got NaN/);
    expect(() => optim.adam(1e-3, { b1: 1 })).toThrow(/scaleByAdam: b1 must be in \[0, 1\), got 1/);
    expect(() => optim.adam(1e-3, { b2: -0.1 })).toThrow(/scaleByAdam: b2 must be in \[0, 1\), got -0.1/);
    expect(() => optim.sgd(0.1, { momentum: 1.5 })).toThrow(/sgd: momentum must be in \[0, 1\), got 1.5/);
    expect(() => optim.rmsprop(0.1, { decay: 1 })).toThrow(/scaleByRms: decay must be in \[0, 1\), got 1/);
    expect(() => optim.adamw(0.1, { weightDecay: -1 })).toThrow(/adamw: weightDecay must be a finite number ≥ 0, got -1/);
    expect(() => optim.lamb(-1)).toThrow(/lamb: learningRate/);
    expect(() => optim.adamax(0.1, { eps: -1 })).toThrow(/scaleByAdamax: eps must be a finite number ≥ 0, got -1/);
    expect(() => optim.clipByGlobalNorm(0)).toThrow(/clipByGlobalNorm: maxNorm must be a finite number > 0, got 0/);
    expect(() => optim.ema(1)).toThrow(/ema: decay must be in \[0, 1\), got 1/);
    expect(() => optim.lookahead(optim.sgd(1), { syncPeriod: 0 })).toThrow(/lookahead: syncPeriod must be an integer ≥ 1, got 0/);
    expect(() => optim.lookahead(optim.sgd(1), { slowStepSize: 2 })).toThrow(/lookahead: slowStepSize must be in \(0, 1\], got 2/);
    expect(() => optim.multiSteps(optim.sgd(1), 1.5)).toThrow(/multiSteps: everyKSteps must be an integer ≥ 1, got 1.5/);
    expect(() => optim.scale(Infinity)).toThrow(/scale: step must be finite, got Infinity/);
    expect(() => optim.sgd('0.1' as unknown as number)).toThrow(/sgd: learningRate must be a number, an array or a schedule, got string/);
  });

  it('mismatched trees: the updates against the state, the parameters, or each other, naming the path', () => {
    scope(() => {
      const params = { a: np.zeros([2]), b: { c: np.zeros([3]) } };
      const opt = optim.adam(0.1);
      const state = opt.init(params);
      expect(() => opt.update({ a: np.zeros([2]), b: { d: np.zeros([3]) } } as never, state, params)).toThrow(/scaleByAdam: the state mu and the updates differ in structure: structure mismatch at \.b/);
      expect(() => opt.update({ a: np.zeros([2]), b: { c: np.zeros([4]) } }, state, params)).toThrow(/scaleByAdam: the state mu has shape \[3\] at \.b\.c but the updates there have shape \[4\]/);
      const w = optim.adamw(0.1);
      const ws = w.init(params);
      expect(() => w.update(params, ws, { a: np.zeros([2]), b: { c: np.zeros([2]) } })).toThrow(/addDecayedWeights: params have shape \[2\] at \.b\.c but the updates there have shape \[3\]/);
      // @ts-expect-error: adamw needs the parameters (a compile error; untyped callers get the run-time one)
      expect(() => w.update(params, ws)).toThrow(/addDecayedWeights: needs the parameters/);
      expect(() => optim.applyUpdates(params, { a: np.zeros([2]) } as never)).toThrow(/applyUpdates: the updates and the parameters differ in structure: structure mismatch at the root: the parameters have \{a: \*, b: \{c: \*\}\} but the updates have \{a: \*\}/);
      // Gradients of a subset of the parameters: the message says which tree has which structure.
      expect(() => opt.update({ a: np.zeros([2]) } as never, state, params)).toThrow(/the updates have \{a: \*\} but the state .* has \{a: \*, b: \{c: \*\}\}/);
      expect(() => opt.update(params, [(state as unknown[])[0]] as never, params)).toThrow(/chain: expected a state with one entry per transformation \(2\)/);
      expect(() => optim.scaleByAdam().update(params, {} as never, params)).toThrow(/scaleByAdam: the state is missing count, mu, nu/);
      return null;
    });
  });
});

describe('memory and types', () => {
  const makers: [string, () => optim.Optimizer][] = [
    ['sgd', () => optim.sgd(0.1, { momentum: 0.9 })],
    ['adam', () => optim.adam(optim.schedules.cosine({ initValue: 0.1, decaySteps: 10 }))],
    ['adamw', () => optim.adamw(0.1)],
    ['rmsprop', () => optim.rmsprop(0.1, { centered: true })],
    ['adamax', () => optim.adamax(0.1)],
    ['lion', () => optim.lion(0.01, { weightDecay: 0.1 })],
    ['adagrad', () => optim.adagrad(0.1)],
    ['lamb', () => optim.lamb(0.1, { weightDecay: 0.01 })],
    ['adafactor', () => optim.adafactor(undefined, { minDimSizeToFactor: 2, momentum: 0.9, weightDecayRate: 1e-3 })],
    ['lookahead', () => optim.lookahead(optim.adam(0.1))],
    ['multiSteps', () => optim.multiSteps(optim.adam(0.1), 2)],
    ['applyIfFinite', () => optim.applyIfFinite(optim.adam(0.1))],
    ['injectHyperparams', () => optim.injectHyperparams((h) => optim.adam(h.lr), { lr: optim.schedules.constant(0.1) })],
    ['paramsEma', () => optim.paramsEma(optim.sgd(0.1))],
    ['clipping chain', () => optim.chain(optim.clipByGlobalNorm(1), optim.adaptiveGradClip(0.1), optim.clip(1), optim.clipByBlockRms(1), optim.sgd(0.1))],
  ];
  for (const [name, make] of makers) {
    it(`${name}: a top-level update leaves nothing behind but the arrays it returns`, () => expectUpdatesLeakNothing(make, 3));
  }

  it('an optimizer step is differentiable in its learning rate (meta-gradients through grad)', () => {
    fc.assert(
      fc.property(floats(3, -2, 2), floats(3, 0.1, 2), fc.double({ min: 0.01, max: 0.5, noNaN: true }), (x, g, lr) => {
        scope(() => {
          const params = { x: f32(x) };
          const grads = { x: f32(g) };
          const after = (make: (lr: NDArray) => optim.Optimizer) => (rate: NDArray) => {
            const opt = make(rate);
            const [u] = opt.update(grads, opt.init(params), params);
            return np.sum(np.square(optim.applyUpdates(params, u).x));
          };
          // SGD: x − lr·g, so d/dlr Σ(x − lr·g)² = −2 Σ g(x − lr·g). Adam's first step is −lr·sign(g).
          const dSgd = Number(grad(after((r) => optim.sgd(r)))(np.array(lr, 'float32')).item());
          const dAdam = Number(grad(after((r) => optim.adam(r)))(np.array(lr, 'float32')).item());
          const X = fr(x);
          const G = fr(g);
          expect(dSgd).toBeCloseTo(-2 * X.reduce((a, xi, i) => a + G[i]! * (xi - lr * G[i]!), 0), 3);
          expect(dAdam).toBeCloseTo(-2 * X.reduce((a, xi) => a + (xi - lr), 0), 3);
          return null;
        });
      }),
      { seed: SEED, numRuns: 15 },
    );
  });

  it('updates have the type of the parameters', () => {
    const opt = optim.adam(1e-3);
    const params = { w: np.zeros([2]), layers: [{ b: np.zeros([1]) }] };
    const state = opt.init(params);
    const [u] = opt.update(params, state, params);
    expectTypeOf(u).toEqualTypeOf<typeof params>();
    expectTypeOf(optim.applyUpdates(params, u)).toEqualTypeOf<typeof params>();
    expect(tree.structure(u).equals(tree.structure(params))).toBe(true);
    optim.freeTree([params, state, u]);
  });

  // The type assertions are checked by `npm run typecheck` (part of CI); the run-time ones check that
  // the arrays sit where the types say they do.
  it('optimizer states have types that follow the parameter tree', () => {
    type Params = { w: NDArray; layers: { b: NDArray }[] };
    type Nullable = { w: NDArray | null; layers: { b: NDArray | null }[] };
    scope(() => {
      const params: Params = { w: np.zeros([2]), layers: [{ b: np.zeros([1]) }] };
      const same = (t: unknown) => expect(tree.structure(t).equals(tree.structure(params))).toBe(true);

      const adam = optim.chain(optim.clipByGlobalNorm(1), optim.adam(1e-3));
      const a = adam.init(params);
      expectTypeOf(a[1][0].mu).toEqualTypeOf<Params>();
      expectTypeOf(a[1][0].count).toEqualTypeOf<NDArray>();
      expectTypeOf(a).toEqualTypeOf<optim.StateOf<typeof adam, Params>>();
      // @ts-expect-error: the moments have the parameters' fields, and no others
      void a[1][0].mu.bias;
      same(a[1][0].mu);
      const [p2, a2] = optim.applyGradients(adam, params, a, params);
      expectTypeOf(p2).toEqualTypeOf<Params>();
      expectTypeOf(a2).toEqualTypeOf<typeof a>();
      same(a2[1][0].nu);

      // With momentum given, the overload knows the state has the momentum buffer.
      const sgd = optim.sgd(0.1, { momentum: 0.9 }).init(params);
      expectTypeOf(sgd).toEqualTypeOf<[optim.TraceState<Params>, optim.LearningRateState]>();
      same(sgd[0].trace);
      expectTypeOf(optim.sgd(0.1).init(params)).toEqualTypeOf<[optim.LearningRateState]>();
      const rms = optim.rmsprop(0.1, { momentum: 0.9 }).init(params);
      same(rms[2].trace);
      same(rms[0].nu);

      // The untyped state types accept typed states; an optimizer chosen at run time works with applyGradients.
      const untyped: optim.ScaleByAdamState = optim.scaleByAdam().init(params);
      const alsoUntyped: optim.StateOf<typeof adam> = a;
      expect(untyped.count.shape).toEqual([]);
      expect(alsoUntyped.length).toBe(2);
      const chosen = params.layers.length > 0 ? optim.adam(1e-3) : optim.sgd(0.1, { momentum: 0.9 });
      const chosenState = chosen.init(params);
      const [p3, s3] = optim.applyGradients(chosen, params, chosenState, params);
      expectTypeOf(p3).toEqualTypeOf<Params>();
      same(p3);
      void s3;
      // @ts-expect-error: the gradients must have the parameters' type
      expect(() => optim.applyGradients(adam, params.w, a, params)).toThrow();

      const ada = optim.adafactor(1e-3).init(params);
      expectTypeOf(ada[0].vRow).toEqualTypeOf<Nullable>();
      expect(tree.structure(ada[0].v).equals(tree.structure(params))).toBe(true);

      const wrapped = optim.applyIfFinite(optim.lookahead(optim.multiSteps(optim.paramsEma(optim.sgd(0.1)), 2)));
      const w = wrapped.init(params);
      expectTypeOf(w.inner.slow).toEqualTypeOf<Params>();
      expectTypeOf(w.inner.inner.acc).toEqualTypeOf<Params>();
      expectTypeOf(w.inner.inner.inner.ema).toEqualTypeOf<Params>();
      same(w.inner.slow);
      same(w.inner.inner.acc);
      same(w.inner.inner.inner.ema);

      const groups = optim.multiTransform({ slow: optim.adam(1e-4), frozen: optim.setToZero() }, { w: 'slow', layers: 'frozen' });
      const g = groups.init(params);
      expectTypeOf(g.inner.slow[0].mu).toEqualTypeOf<Nullable>();
      expectTypeOf(g.inner.frozen).toEqualTypeOf<optim.EmptyState>();
      expect(g.inner.slow[0].mu.w).not.toBeNull();
      expect(g.inner.slow[0].mu.layers[0]!.b).toBeNull(); // the other group's leaves are empty nodes

      const injected = optim.injectHyperparams((h) => optim.adam(h.learningRate), { learningRate: 1e-3 }).init(params);
      expectTypeOf(injected.inner[0].mu).toEqualTypeOf<Params>();
      expectTypeOf(injected.hyperparams.learningRate).toEqualTypeOf<optim.Scalar>();
      same(injected.inner[0].mu);
      return null;
    });
  });
});

/** The distinct TF.js tensors held by the arrays of some trees. */

describe('leaves that are not arrays', () => {
  it('a JS number as a parameter or update is an error naming its path, not a TF.js failure', () => {
    expect(() => optim.adam(0.1).init({ a: 1.0 })).toThrow(/scaleByAdam: the parameter at \.a is the number 1; expected an array/);
    expect(() => optim.adafactor().init({ w: { b: 3 } })).toThrow(/scaleByFactoredRms: the parameter at \.w\.b is the number 3/);
    scope(() => {
      const opt = optim.sgd(0.1);
      const params = { a: np.ones([2]) };
      expect(() => opt.update({ a: 5 } as never, opt.init(params), params)).toThrow(/the update at \.a is the number 5; expected an array/);
      return null;
    });
  });
});

describe('multiSteps under jit', () => {
  it('a jitted training step with multiSteps gives the eager trajectory (updates and state), and the state moves between jit and eager', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 }), fc.boolean(), fc.integer(), (k, useMean, seed) => {
        scope(() => {
          const rng = new Rng(seed);
          const gs = Array.from({ length: 7 }, () => ({ w: randomArray(rng, [3], -1, 1), b: randomArray(rng, [], -1, 1) }));
          const params = { w: np.ones([3]), b: np.zeros([]) };
          type P = typeof params;
          const opt = optim.multiSteps(optim.chain(optim.clipByGlobalNorm(0.8), optim.adam(0.1)), k, { useMean });
          const step = jit((g: P, s: optim.StateOf<typeof opt, P>, p: P) => opt.update(g, s, p));
          let eager = opt.init(params), jitted = opt.init(params);
          gs.forEach((g, i) => {
            const [ue, se] = opt.update(g, eager, params);
            // Alternate: most steps jitted, every third one eager on the state jit returned.
            const [uj, sj] = i % 3 === 2 ? opt.update(g, jitted, params) : step(g, jitted, params);
            expectTreeClose(uj, ue, { rtol: 1e-6, atol: 1e-7, label: `step ${i}, k = ${k}: updates` });
            expectTreeClose(sj.acc, se.acc, { rtol: 1e-6, atol: 1e-7, label: `step ${i}: accumulator` });
            expect(sj.miniStep instanceof NDArray ? sj.miniStep.item() : sj.miniStep, `step ${i}: miniStep`).toBe(se.miniStep);
            [eager, jitted] = [se, sj];
          });
          expect(step.cacheSize).toBeLessThanOrEqual(2); // one trace for the numbers of init, one for arrays
          step.clearCache();
        });
      }),
      { seed: SEED, numRuns: 12 },
    );
  });
});

describe('injected clipping thresholds', () => {
  it('clipping transformations take 0-d arrays, so injectHyperparams can change the threshold between steps', () => {
    scope(() => {
      const opt = optim.injectHyperparams((h) => optim.chain(optim.clipByGlobalNorm(h.clip), optim.clip(h.clip), optim.sgd(1)), { clip: 1 });
      const params = { w: np.zeros([2]) };
      const g = { w: np.array([3, 4], 'float32') }; // global norm 5
      let state = opt.init(params);
      const [u1, s1] = opt.update(g, state, params);
      expect(Array.from(u1.w.dataSync())).toEqual([-0.6, -0.8].map((v) => expect.closeTo(v, 6)));
      state = s1;
      state.hyperparams.clip = 0.5;
      const [u2] = opt.update(g, state, params);
      expect(Array.from(u2.w.dataSync())).toEqual([-0.3, -0.4].map((v) => expect.closeTo(v, 6)));
      return null;
    });
  });
});

describe('applyGradients inside transformations, and who owns what', () => {
  it('a jitted applyGradients step with a frozen group, or with init inside the trace, equals the eager step and leaks nothing', () => {
    // setToZero's zero updates and an init's zeros do not depend on the traced inputs: they are
    // constants of the program, and applyGradients must not free them while tracing.
    fc.assert(fc.property(fc.integer(), (seed) => {
      const before = tf.memory().numTensors;
      scope(() => {
        const rng = new Rng(seed);
        const params = { w: randomArray(rng, [3], -1, 1), b: randomArray(rng, [2], -1, 1) };
        type P = typeof params;
        const grads = { w: randomArray(rng, [3], -1, 1), b: randomArray(rng, [2], -1, 1) };
        // applyGradients frees the parameters it replaces: each call gets its own copy.
        const copy = (p: P): P => tree.map((x: NDArray) => np.copy(x), p);
        const frozen = optim.multiTransform({ train: optim.adam(0.1), freeze: optim.setToZero() }, { w: 'train', b: 'freeze' });
        const step = jit((g: P, s: optim.StateOf<typeof frozen, P>, p: P) => optim.applyGradients(frozen, g, s, p));
        const [pj, sj] = step(grads, frozen.init(params), copy(params));
        const [pe, se] = optim.applyGradients(frozen, grads, frozen.init(params), copy(params));
        expectTreeClose(pj, pe, { rtol: 1e-6, atol: 1e-7, label: 'frozen group: params' });
        expectTreeClose(sj, se, { rtol: 1e-6, atol: 1e-7, label: 'frozen group: state' });
        expect(vals(pj.b)).toEqual(vals(params.b));
        const adam = optim.adam(0.1);
        const fresh = jit((p: P, g: P) => optim.applyGradients(adam, g, adam.init(p), p)[0]);
        const want = optim.applyGradients(adam, grads, adam.init(params), copy(params))[0];
        expectTreeClose(fresh(copy(params), grads), want, { rtol: 1e-6, atol: 1e-7, label: 'init inside jit' });
        // A second call replays the cached program: its constants must still be alive.
        expectTreeClose(fresh(copy(params), grads), want, { rtol: 1e-6, atol: 1e-7, label: 'init inside jit, cached' });
        step.clearCache();
        fresh.clearCache();
        return null;
      });
      expect(tf.memory().numTensors).toBe(before);
    }), { seed: SEED, numRuns: 5 });
  });

  it('injectHyperparams copies a hyperparameter given as an array: freeing the state frees neither it nor later inits', () => {
    scope(() => {
      const lr = np.array(0.1, 'float32');
      const opt = optim.injectHyperparams((h) => optim.sgd(h.lr), { lr });
      const params = { w: np.ones([2]) };
      const state = opt.init(params);
      expect(state.hyperparams.lr).not.toBe(lr);
      optim.freeTree(state);
      expect(lr.item()).toBeCloseTo(0.1, 7);
      const [u] = opt.update({ w: np.ones([2]) }, opt.init(params), params);
      expect(vals(u.w)).toEqual([-0.1, -0.1].map(Math.fround));
      return null;
    });
  });

  it('step counters saturate at 2³¹ − 1 instead of wrapping to −2³¹ (which zeroed every Adam update)', () => {
    scope(() => {
      const opt = optim.adam(0.1);
      const params = { w: np.ones([1]) };
      const s0 = opt.init(params);
      const atMax = [{ ...s0[0], count: np.array(2 ** 31 - 1, 'int32') }, ...s0.slice(1)] as typeof s0;
      const [u, s1] = opt.update({ w: np.ones([1]) }, atMax, params);
      expect(s1[0].count.item()).toBe(2 ** 31 - 1);
      expect(Math.abs(vals(u.w)[0]!)).toBeGreaterThan(0.01);
      return null;
    });
  });
});

describe('labels and masks are typed', () => {
  it('a label without a transformation, a labeller whose labels are not all groups, and a mask of non-booleans are compile errors', () => {
    const params = { enc: { w: np.zeros([1]) }, dec: { w: np.zeros([1]) } };
    const groups = { slow: optim.sgd(0.01), fast: optim.sgd(0.1) };
    // Accepted: label trees and prefixes, labellers whose labels (and default) are groups, masks of booleans.
    optim.multiTransform(groups, { enc: 'slow', dec: { w: 'fast' } });
    optim.multiTransform(groups, optim.pathLabels([[/enc/, 'slow']], 'fast'));
    optim.masked(optim.sgd(0.1), { enc: true, dec: false });
    optim.masked(optim.sgd(0.1), optim.pathMask(/enc/));
    // @ts-expect-error: 'slwo' is not a group
    expect(() => optim.multiTransform(groups, { enc: 'slwo', dec: 'fast' }).init(params)).toThrow(/label 'slwo'/);
    // @ts-expect-error: the default label 'default' is not a group
    expect(() => optim.multiTransform(groups, optim.pathLabels([[/enc/, 'slow'], [/dec/, 'fast']])).init({ ...params, extra: np.zeros([1]) })).toThrow(/label 'default'/);
    // @ts-expect-error: a mask holds booleans
    expect(() => optim.masked(optim.sgd(0.1), { enc: 1, dec: 0 }).init(params)).toThrow(/mask must hold booleans/);
  });
});

describe('applyGradients under vmap frees nothing of the caller', () => {
  it("vmapped over an ensemble, the caller's parameters and gradients stay alive (dispose passes over tracers)", () => {
    scope(() => {
      const opt = optim.sgd(0.1);
      const params = { w: np.ones([4, 3]) }, grads = { w: np.ones([4, 3]) };
      const state = vmap((p: typeof params) => opt.init(p))(params);
      const [next] = vmap((g: typeof params, s: typeof state, p: typeof params) => optim.applyGradients(opt, g, s, p))(grads, state, params);
      expect(vals(next.w)).toEqual(new Array(12).fill(Math.fround(0.9)));
      expect(vals(params.w)).toEqual(new Array(12).fill(1));
      expect(vals(grads.w)).toEqual(new Array(12).fill(1));
      return null;
    });
  });
});

describe('single-valued hyperparameters and weights', () => {
  it('injectHyperparams names a hyperparameter given as an array of several values; gradientReversal and r1Penalty refuse non-finite weights', async () => {
    const { gan } = await import('../models/index.js');
    const { gradientReversal } = await import('../src/index.js');
    scope(() => {
      expect(() => optim.injectHyperparams((h) => optim.sgd(h.lr), { lr: np.array([0.1, 0.2, 0.3], 'float32') })).toThrow(/hyperparameter 'lr' must be a single value \(a 0-d array\), got shape \[3\]/);
      // Optax's curried call, inject_hyperparams(adam)(learning_rate=…), is one call here: a missing object is named.
      expect(() => (optim.injectHyperparams as (f: unknown, h?: unknown) => unknown)((h: { lr: number }) => optim.sgd(h.lr))).toThrow(/injectHyperparams: expected \(factory, hyperparams\) with hyperparams an object .* got undefined as hyperparams/);
      expect(() => gradientReversal(np.ones([2]), NaN)).toThrow(/gradientReversal: lambda must be a finite number/);
      expect(() => gan.r1Penalty(gan.mlpDiscriminator.apply, NaN)).toThrow(/r1Penalty: gamma must be a finite number ≥ 0/);
      return null;
    });
  });
});

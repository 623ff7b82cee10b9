// Findings from using the optimizers the way an Optax user would (nested trees, wrappers, jit,
// fine-tuning options, injected hyperparameters): each test pins a behaviour that was wrong, or
// unchecked, and is checked against Optax's semantics or a float64 reference.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConcretizationError, jit, np, scope, type NDArray } from '../src/index.js';
import * as optim from '../optim/index.js';
import { expectAllClose } from './optim_helpers.js';

const SEED = 42;

const floats = (n: number, min = -2, max = 2) => fc.array(fc.double({ min, max, noNaN: true }), { minLength: n, maxLength: n });
const f32 = (values: number[], shape: number[]) => np.reshape(np.array(values, 'float32'), shape);
const vals = (x: NDArray) => Array.from(x.dataSync());

/** A parameter tree with a factored matrix (minDimSizeToFactor 2), a vector and a scalar. */
const SHAPES = { w: [3, 4], b: [4], s: [] as number[] };
type Tree = { w: NDArray; b: NDArray; s: NDArray };
const sizeOf = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
const treeOf = (flat: number[]): Tree => {
  let at = 0;
  const take = (shape: number[]) => f32(flat.slice(at, (at += sizeOf(shape))), shape);
  return { w: take(SHAPES.w), b: take(SHAPES.b), s: take(SHAPES.s) };
};
const flatOf = (t: Tree) => [...vals(t.w), ...vals(t.b), ...vals(t.s)];
const NFLAT = sizeOf(SHAPES.w) + sizeOf(SHAPES.b) + 1;
/** Gradients away from 0, so G² is not swamped by ε₁. */
const gradFlat = floats(NFLAT, -3, 3).map((v) => v.map((x) => (Math.abs(x) < 1e-2 ? 1e-2 : x)));

/** The updates of `opt` (no parameter scale: updates depend on the gradients only) for a gradient sequence, from `state` (init by default). */
function updatesOf(opt: optim.Optimizer, gs: number[][], prepare?: (state: unknown) => unknown): number[][] {
  return scope(() => {
    const params = treeOf(new Array(NFLAT).fill(1));
    let state = opt.init(params);
    if (prepare) state = prepare(state);
    return gs.map((g) => {
      const [u, s] = opt.update(treeOf(g), state, params);
      state = s;
      return flatOf(u as Tree);
    });
  });
}

describe('adafactor decayOffset (fine-tuning)', () => {
  const make = (decayOffset: number) => optim.adafactor(0.1, { decayOffset, minDimSizeToFactor: 2, multiplyByParameterScale: false });

  it('a state whose count has reached the offset k steps like a fresh state without offset (Optax: β̂₂ = 1 − (count − k + 1)^−0.8)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20 }), fc.array(gradFlat, { minLength: 4, maxLength: 4 }), (k, gs) => {
        const restored = updatesOf(make(k), gs, (state) => {
          const s = state as [{ count: NDArray }];
          optim.freeTree(s[0].count);
          s[0].count = np.array(k, 'int32');
          return s;
        });
        const fresh = updatesOf(make(0), gs);
        restored.forEach((u, i) => expectAllClose(u, fresh[i]!, 1e-6, 1e-7, `step ${i + 1} after the offset`));
      }),
      { seed: SEED, numRuns: 15 },
    );
  });

  it('a fresh state with an offset k takes finite steps: β̂₂ = 0 (G² alone) until the offset, then the schedule starts (it was NaN forever)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3 }), fc.array(gradFlat, { minLength: 6, maxLength: 6 }), (k, gs) => {
        const withOffset = updatesOf(make(k), gs);
        for (const u of withOffset) expect(u.every(Number.isFinite), 'finite updates').toBe(true);
        // Steps 1 … k + 1 use the current G² only: each equals a fresh optimizer's first step on that gradient.
        for (let i = 0; i <= k; i++) expectAllClose(withOffset[i]!, updatesOf(make(0), [gs[i]!])[0]!, 1e-6, 1e-7, `step ${i + 1} (before the offset)`);
        // From step k + 1 on, it is the offset-free optimizer started at step k + 1.
        const restarted = updatesOf(make(0), gs.slice(k));
        restarted.forEach((u, i) => expectAllClose(withOffset[k + i]!, u, 1e-6, 1e-7, `step ${k + i + 1}`));
      }),
      { seed: SEED, numRuns: 10 },
    );
  });
});

describe('injected adafactor hyperparameters', () => {
  it("the clipping threshold can be injected and changed mid-run (as Optax's inject_hyperparams(adafactor)); the factored state does not depend on it", () => {
    fc.assert(
      fc.property(fc.array(gradFlat, { minLength: 4, maxLength: 4 }), fc.double({ min: 0.01, max: 0.5, noNaN: true }), (gs, d) => {
        const opts = { minDimSizeToFactor: 2, multiplyByParameterScale: false } as const;
        const injected = optim.injectHyperparams((h) => optim.adafactor(h.lr, { ...opts, clippingThreshold: h.d }), { lr: 0.1, d: 1 });
        let step = 0;
        const got = updatesOf(injected, gs.slice(0, 2));
        // Change d in the state after two steps: the next steps are clipped at the new threshold.
        const after = scope(() => {
          const params = treeOf(new Array(NFLAT).fill(1));
          let state = injected.init(params);
          return gs.map((g) => {
            if (step++ === 2) state.hyperparams.d = d;
            const [u, s] = injected.update(treeOf(g), state, params);
            state = s;
            return flatOf(u);
          });
        });
        const before = updatesOf(optim.adafactor(0.1, { ...opts, clippingThreshold: 1 }), gs);
        const clipped = updatesOf(optim.adafactor(0.1, { ...opts, clippingThreshold: d }), gs);
        [0, 1].forEach((i) => expectAllClose(got[i]!, before[i]!, 1e-6, 1e-8, `step ${i + 1}, d = 1`));
        [0, 1].forEach((i) => expectAllClose(after[i]!, before[i]!, 1e-6, 1e-8, `step ${i + 1}, d = 1`));
        [2, 3].forEach((i) => expectAllClose(after[i]!, clipped[i]!, 1e-5, 1e-8, `step ${i + 1}, d = ${d}`));
      }),
      { seed: SEED, numRuns: 10 },
    );
  });
  it('the decay exponent c can be injected too (a 0-d array), giving the same steps as the number', () => {
    fc.assert(
      fc.property(fc.array(gradFlat, { minLength: 3, maxLength: 3 }), fc.double({ min: 0.3, max: 1, noNaN: true }), (gs, c) => {
        const opts = { minDimSizeToFactor: 2, multiplyByParameterScale: false } as const;
        const injected = updatesOf(optim.injectHyperparams((h) => optim.adafactor(0.1, { ...opts, decayRate: h.c }), { c }), gs);
        const plain = updatesOf(optim.adafactor(0.1, { ...opts, decayRate: Math.fround(c) }), gs);
        injected.forEach((u, i) => expectAllClose(u, plain[i]!, 1e-5, 1e-8, `step ${i + 1}, c = ${c}`));
      }),
      { seed: SEED, numRuns: 8 },
    );
    expect(() => optim.adafactor(0.1, { decayRate: 1.5 })).toThrow(/scaleByFactoredRms: decayRate must be in \(0, 1\], got 1\.5/);
  });
  it('ε₁ and ε₂ can be injected too (they took numbers only): the same steps as the numbers, ε₂ changeable mid-run, and under jit', () => {
    // The parameters are ones (RMS 1), so ε₂ > 1 sets the parameter scale; ε₁ ≥ 0.05 is not swamped by G².
    fc.assert(
      fc.property(fc.array(gradFlat, { minLength: 4, maxLength: 4 }), fc.double({ min: 0.05, max: 2, noNaN: true }), fc.double({ min: 1.5, max: 4, noNaN: true }), (gs, eps, eps2) => {
        const opts = { minDimSizeToFactor: 2 } as const;
        const injected = optim.injectHyperparams((h) => optim.adafactor(0.1, { ...opts, eps: h.eps, eps2: h.eps2 }), { eps, eps2: 1 });
        const got = updatesOf(injected, gs);
        // From the third step on, ε₂ (a stateless scale) is the new value.
        const after = scope(() => {
          const params = treeOf(new Array(NFLAT).fill(1));
          let state = injected.init(params);
          return gs.map((g, step) => {
            if (step === 2) state.hyperparams.eps2 = eps2;
            const [u, s] = injected.update(treeOf(g), state, params);
            state = s;
            return flatOf(u);
          });
        });
        const plain = (e2: number) => updatesOf(optim.adafactor(0.1, { ...opts, eps: Math.fround(eps), eps2: e2 }), gs);
        const [withOne, withNew] = [plain(1), plain(Math.fround(eps2))];
        got.forEach((u, i) => expectAllClose(u, withOne[i]!, 1e-5, 1e-8, `step ${i + 1}, ε₁ = ${eps}`));
        [0, 1].forEach((i) => expectAllClose(after[i]!, withOne[i]!, 1e-5, 1e-8, `step ${i + 1}, ε₂ = 1`));
        [2, 3].forEach((i) => expectAllClose(after[i]!, withNew[i]!, 1e-5, 1e-8, `step ${i + 1}, ε₂ = ${eps2}`));
      }),
      { seed: SEED, numRuns: 8 },
    );
    scope(() => {
      // Built inside jit from traced values (as Optax allows): the eager steps.
      const gs = [[...Array(NFLAT).keys()].map((i) => (i % 5) - 2.5)];
      const stepWith = (eps: NDArray | number, eps2: NDArray | number) => {
        const opt = optim.injectHyperparams((h) => optim.adafactor(0.1, { minDimSizeToFactor: 2, eps: h.eps, eps2: h.eps2 }), { eps, eps2 });
        const params = treeOf(new Array(NFLAT).fill(1));
        const [u] = opt.update(treeOf(gs[0]!), opt.init(params), params);
        return u.w;
      };
      const f = jit((eps: NDArray, eps2: NDArray) => stepWith(eps, eps2));
      const jitted = vals(f(np.array(0.5, 'float32'), np.array(2, 'float32')));
      f.clearCache();
      expectAllClose(jitted, vals(stepWith(0.5, 2)), 1e-5, 1e-8, 'jit, ε₁ = 0.5, ε₂ = 2');
      expect(() => optim.adafactor(0.1, { eps2: -1 })).toThrow(/adafactor: eps2 must be a finite number ≥ 0, got -1/);
      expect(() => optim.adafactor(0.1, { eps: np.array([1, 2], 'float32') })).toThrow(/scaleByFactoredRms: epsilon must be a single value \(a 0-d array\)/);
    });
  });
});

describe('wrappers refuse what is not a transformation, naming themselves', () => {
  // Typed code gets a compile error; the REPL and JavaScript callers got "inner.init is not a
  // function" from init() (or a failed iteration from applyGradients), naming no optimizer.
  const notTransformations: [string, unknown, RegExp][] = [
    ['an uncalled factory', optim.adam, /is a function \(adam\).*call it first, e\.g\. adam\(\.\.\.\)/],
    ['a plain object', { init: () => ({}) }, /is an object with keys init, not a gradient transformation/],
    ['undefined', undefined, /is undefined, not a gradient transformation/],
  ];
  const makers: [string, (t: never) => unknown][] = [
    ['lookahead', (t) => optim.lookahead(t)],
    ['multiSteps', (t) => optim.multiSteps(t, 2)],
    ['applyIfFinite', (t) => optim.applyIfFinite(t)],
    ['masked', (t) => optim.masked(t, true)],
    ['paramsEma', (t) => optim.paramsEma(t)],
    ['injectHyperparams', (t) => optim.injectHyperparams(() => t, { lr: 1 })],
    ['chain', (t) => optim.chain(t)],
    ['multiTransform', (t) => optim.multiTransform({ a: t }, 'a')],
  ];
  for (const [name, make] of makers) {
    it(`${name}`, () => {
      for (const [what, t, message] of notTransformations) {
        let error: unknown;
        try {
          make(t as never);
        } catch (e) {
          error = e;
        }
        expect(error, `${name} given ${what}`).toBeInstanceOf(optim.OptimError);
        expect((error as Error).message, `${name} given ${what}`).toMatch(new RegExp(`^${name}: `));
        expect((error as Error).message, `${name} given ${what}`).toMatch(message);
      }
    });
  }

  it('applyGradients names a non-optimizer too', () => {
    scope(() => {
      const p = { w: np.ones([2]) };
      expect(() => optim.applyGradients(optim.sgd as never, p, [] as never, p)).toThrow(/^applyGradients: the optimizer is a function \(sgd\).*call it first/);
    });
  });

  it('a leaf that is neither an array nor a number is described by its class with its article ("a Float32Array", "an Int32Array"; not "a object", "a Int32Array")', () => {
    expect(() => optim.adam(0.1).init({ w: new Float32Array(2) } as never)).toThrow(/scaleByAdam: the parameter at \.w is a Float32Array; expected an array/);
    expect(() => optim.adam(0.1).init({ w: new Int32Array(2) } as never)).toThrow(/scaleByAdam: the parameter at \.w is an Int32Array; expected an array/);
    expect(() => optim.adam(0.1).init({ w: new Uint8Array(2) } as never)).toThrow(/scaleByAdam: the parameter at \.w is a Uint8Array; expected an array/);
    expect(() => optim.adam(0.1).init({ w: new ArrayBuffer(2) } as never)).toThrow(/scaleByAdam: the parameter at \.w is an ArrayBuffer; expected an array/);
  });
});

describe('a schedule written with JS math (Math.cos(count)) under jit', () => {
  // It works eagerly (the count is concrete) and failed under jit with item()'s ConcretizationError,
  // which names neither the optimizer nor the schedule, nor says what to write instead.
  const jsMath = function cosineLr(count: NDArray | number) {
    return 0.1 * Math.cos(Number(count) / 4);
  };
  const npMath = (count: NDArray | number) => np.multiply(0.1, np.cos(np.divide(np.astype(count, 'float32'), 4)));
  const makers: [string, RegExp, (s: optim.Schedule) => optim.Optimizer][] = [
    ['sgd', /^scaleBySchedule: the schedule \(cosineLr\)/, (s) => optim.sgd(s)],
    ['adam', /^scaleBySchedule: the schedule \(cosineLr\)/, (s) => optim.adam(s)],
    ['injectHyperparams', /^injectHyperparams: the schedule of 'lr' \(cosineLr\)/, (s) => optim.injectHyperparams((h) => optim.sgd(h.lr), { lr: s })],
    ['addDecayedWeights', /^addDecayedWeights: the weight-decay schedule \(cosineLr\)/, (s) => optim.chain(optim.addDecayedWeights(s), optim.sgd(0.1))],
    ['scaleByFactoredRms', /^scaleByFactoredRms: decaySchedule \(cosineLr\)/, (s) => optim.scaleByFactoredRms({ decaySchedule: s })],
  ];
  it('is a ConcretizationError naming the optimizer and the schedule and saying to use np functions; written with np functions it runs and matches eager', () => {
    fc.assert(
      fc.property(fc.constantFrom(...makers), fc.integer({ min: 0, max: 6 }), ([name, names, make], steps) => {
        scope(() => {
          const p = { w: np.ones([3, 2]) };
          const run = (s: optim.Schedule, jitted: boolean) => {
            const opt = make(s);
            let state = opt.init(p);
            const step = (g: { w: NDArray }, st: unknown) => opt.update(g, st as never, p);
            const f = jitted ? jit(step) : step;
            let u: { w: NDArray } = p;
            for (let i = 0; i <= steps; i++) [u, state] = f({ w: np.full([3, 2], 0.5 + i) }, state) as [{ w: NDArray }, never];
            return vals(u.w);
          };
          expect(() => run(jsMath, true), name).toThrow(ConcretizationError);
          expect(() => run(jsMath, true), name).toThrow(names);
          expect(() => run(jsMath, true), name).toThrow(/reads the step count as a JS number .* under jit or vmap the count is traced; write the schedule with np functions \(np\.cos\(count\)/);
          expectAllClose(run(npMath, true), run(jsMath, false), 1e-5, 1e-7, `${name}, ${steps + 1} steps`);
          return null;
        });
      }),
      { seed: SEED, numRuns: 15 },
    );
  });
});

describe('jit and eager agree for every optimizer and wrapper', () => {
  // A nested tree as users write them: a matrix, a vector, a scalar, an empty object and an empty list.
  type Nested = { enc: { w: NDArray; b: NDArray }; gain: NDArray; none: Record<string, never>; list: NDArray[] };
  const paramsOf = (xs: number[]): Nested => ({ enc: { w: f32(xs.slice(0, 6), [2, 3]), b: f32(xs.slice(6, 9), [3]) }, gain: f32(xs.slice(9, 10), []), none: {}, list: [] });
  const flat = (p: Nested) => [...vals(p.enc.w), ...vals(p.enc.b), ...vals(p.gain)];
  const S = optim.schedules;
  const makers: Record<string, () => optim.Optimizer> = {
    'adamw + clip + mask': () => optim.chain(optim.clipByGlobalNorm(0.5), optim.adamw(S.warmupCosineDecay({ initValue: 0, peakValue: 0.1, warmupSteps: 2, decaySteps: 8 }), { weightDecay: 0.1, mask: optim.pathMask(/\.w$/) })),
    'adafactor (factored, relative step, momentum, decay)': () => optim.adafactor(undefined, { minDimSizeToFactor: 2, momentum: 0.9, weightDecayRate: 1e-2 }),
    'multiTransform + AGC + frozen': () => optim.multiTransform({ agc: optim.chain(optim.adaptiveGradClip(0.05), optim.sgd(0.1, { momentum: 0.9, nesterov: true })), frozen: optim.setToZero() }, optim.pathLabels([[/gain/, 'frozen']], 'agc')),
    'injectHyperparams(lamb) with a schedule': () => optim.injectHyperparams((h) => optim.lamb(h.lr, { weightDecay: h.wd }), { lr: S.piecewiseConstant({ initValue: 0.1, boundariesAndScales: { 3: 0.1 } }), wd: 0.01 }),
    'multiSteps(lookahead(radam))': () => optim.multiSteps(optim.lookahead(optim.radam(0.1), { syncPeriod: 2 }), 2),
    'applyIfFinite(paramsEma(rmsprop))': () => optim.applyIfFinite(optim.paramsEma(optim.rmsprop(0.01, { centered: true, momentum: 0.5 }), 0.9), 1),
    'chain(zeroNans, clipByNorm, yogi)': () => optim.chain(optim.zeroNans(), optim.clipByNorm(1, { ord: 1 }), optim.yogi(0.1)),
    'noisySgd + applyEvery': () => optim.chain(optim.applyEvery(2), optim.noisySgd(0.1, { seed: 3 })),
  };
  for (const [name, make] of Object.entries(makers)) {
    it(name, () => {
      fc.assert(
        fc.property(floats(10, -2, 2), fc.array(floats(10, -3, 3), { minLength: 5, maxLength: 5 }), fc.nat(4), (x0, gs, nanAt) => {
          const opt = make();
          const trajectory = (jitted: boolean) =>
            scope(() => {
              let p = paramsOf(x0);
              let s = opt.init(p);
              const step = (pp: Nested, ss: unknown, g: Nested) => optim.applyGradients(opt, g, ss as never, pp);
              const jstep = jit(step);
              const f = jitted ? jstep : step;
              const out = gs.map((g, i) => {
                // One step's gradient has a NaN (skipped by applyIfFinite, zeroed by zeroNans, NaN elsewhere: the same both ways).
                const gi = i === nanAt ? [NaN, ...g.slice(1)] : g;
                [p, s] = f(p, s, paramsOf(gi)) as [Nested, unknown];
                return flat(p);
              });
              jstep.clearCache(); // (it owns the constants it traced)
              return out;
            });
          const eager = trajectory(false);
          const jitted = trajectory(true);
          eager.forEach((e, i) => {
            const j = jitted[i]!;
            e.forEach((x, k) => {
              if (Number.isNaN(x) || Number.isNaN(j[k]!)) expect(Number.isNaN(j[k]!), `step ${i + 1}, element ${k}: NaN in one mode only`).toBe(Number.isNaN(x));
            });
            const finite = e.map((x, k) => (Number.isNaN(x) ? 0 : x - j[k]!));
            expectAllClose(finite, finite.map(() => 0), 0, 1e-5, `step ${i + 1}: eager − jit`);
          });
        }),
        { seed: SEED, numRuns: 4 },
      );
    });
  }
});

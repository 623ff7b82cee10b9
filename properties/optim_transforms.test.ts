// The transformations one by one: the Adam family, SGD and RMSProp against float64 references and a
// hand-checked trajectory, schedules against their closed forms, chain's fusion of scalings, and the
// clipping and scaling variants. (Wrappers, errors, memory and types: optim_wrappers.test.ts.)
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { grad, np, scope, type NDArray } from '../src/index.js';
import * as optim from '../optim/index.js';
import { expectAllClose } from './optim_helpers.js';

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

describe('the Adam family', () => {
  it('adam(0.1, { b1: 0.8, b2: 0.9 }) on Σx² from [2, 4] takes the hand-checked steps [1.9, 3.9], then [1.800183, 3.800082]', () => {
    // Step 1: m̂ = g, v̂ = g², so every coordinate moves by −lr. Step 2 at g = [3.8, 7.8]:
    // m = [1.4, 2.84], v = [2.884, 11.844], m̂ = m/0.36, v̂ = v/0.19, x −= 0.1·m̂/√v̂ (float64: 1.8001829558,
    // 3.8000820674). The issue's [1.8000001, 3.8002] cannot come out of Adam with these settings.
    scope(() => {
      const opt = optim.adam(0.1, { b1: 0.8, b2: 0.9 });
      const loss = (p: { x: NDArray }) => np.sum(np.square(p.x));
      let params = { x: np.array([2, 4], 'float32') };
      let state = opt.init(params);
      const seen: number[][] = [];
      for (let i = 0; i < 2; i++) {
        const [u, s] = opt.update(grad(loss)(params), state, params);
        params = optim.applyUpdates(params, u);
        state = s;
        seen.push(vals(params.x));
      }
      expectAllClose(seen[0]!, [1.9, 3.9], 1e-7, 0, 'step 1');
      expectAllClose(seen[1]!, [1.8001829558, 3.8000820674], 1e-7, 0, 'step 2');
      return null;
    });
  });

  /** Optax's Adam in float64. */
  function adamRef(gs: number[][], { lr, b1, b2, eps, epsRoot, nesterov }: { lr: number; b1: number; b2: number; eps: number; epsRoot: number; nesterov: boolean }) {
    const n = gs[0]!.length;
    let m = new Array<number>(n).fill(0);
    let v = new Array<number>(n).fill(0);
    return gs.map((g, k) => {
      const t = k + 1;
      m = m.map((x, i) => b1 * x + (1 - b1) * Math.fround(g[i]!));
      v = v.map((x, i) => b2 * x + (1 - b2) * Math.fround(g[i]!) ** 2);
      return g.map((gi, i) => {
        const mHat = nesterov ? (b1 * m[i]!) / (1 - b1 ** (t + 1)) + ((1 - b1) * Math.fround(gi)) / (1 - b1 ** t) : m[i]! / (1 - b1 ** t);
        return (-lr * mHat) / (Math.sqrt(v[i]! / (1 - b2 ** t) + epsRoot) + eps);
      });
    });
  }

  it('adam matches a float64 reference (with and without Nesterov momentum and epsRoot)', () => {
    fc.assert(
      fc.property(
        fc.array(floats(4, -3, 3), { minLength: 5, maxLength: 5 }),
        fc.record({
          lr: fc.double({ min: 1e-4, max: 1, noNaN: true }),
          b1: fc.double({ min: 0, max: 0.99, noNaN: true }),
          b2: fc.double({ min: 0.5, max: 0.999, noNaN: true }),
          eps: fc.constantFrom(1e-8, 1e-3, 0.1),
          epsRoot: fc.constantFrom(0, 1e-4),
          nesterov: fc.boolean(),
        }),
        (gs, h) => {
          const got = updatesOf(optim.adam(h.lr, h), gs);
          adamRef(gs, h).forEach((want, k) => expectAllClose(got[k]!, want, 1e-4, 1e-6 * h.lr, `step ${k + 1}`));
        },
      ),
      { seed: SEED, numRuns: 40 },
    );
  });

  it('adamax, rmsprop (plain, centered, with momentum) and sgd (momentum, Nesterov) match float64 references', () => {
    fc.assert(
      fc.property(fc.array(floats(3, -3, 3), { minLength: 4, maxLength: 4 }), fc.double({ min: 0.5, max: 0.99, noNaN: true }), (gs, d) => {
        const G = gs.map(fr);
        const lr = 0.1;
        // adamax: m ← b1 m + (1−b1)g, u ← max(b2 u, |g| + eps), step −lr·m̂/u.
        {
          let m = [0, 0, 0];
          let u = [0, 0, 0];
          const want = G.map((g, k) => {
            m = m.map((x, i) => 0.9 * x + 0.1 * g[i]!);
            u = u.map((x, i) => Math.max(d * x, Math.abs(g[i]!) + 1e-8));
            return m.map((x, i) => (-lr * x) / (1 - 0.9 ** (k + 1)) / u[i]!);
          });
          const got = updatesOf(optim.adamax(lr, { b2: d }), gs);
          want.forEach((w, k) => expectAllClose(got[k]!, w, 1e-4, 1e-7, `adamax step ${k + 1}`));
        }
        // rmsprop: ν ← dν + (1−d)g², step −lr·g/√(ν + eps); centered subtracts μ²; momentum traces the steps.
        for (const centered of [false, true]) {
          for (const momentum of [undefined, 0.5]) {
            let nu = [0, 0, 0];
            let mu = [0, 0, 0];
            let tr = [0, 0, 0];
            const want = G.map((g) => {
              nu = nu.map((x, i) => d * x + (1 - d) * g[i]! ** 2);
              mu = mu.map((x, i) => d * x + (1 - d) * g[i]!);
              const step = g.map((gi, i) => (-lr * gi) / Math.sqrt(nu[i]! - (centered ? mu[i]! ** 2 : 0) + 1e-8));
              if (momentum === undefined) return step;
              tr = step.map((s, i) => s + momentum * tr[i]!);
              return tr;
            });
            const got = updatesOf(optim.rmsprop(lr, { decay: d, centered, momentum }), gs);
            want.forEach((w, k) => expectAllClose(got[k]!, w, 2e-4, 1e-6, `rmsprop (centered ${centered}, momentum ${momentum}) step ${k + 1}`));
          }
        }
        // sgd with momentum: t ← g + d·t; step −lr·t (Nesterov: −lr·(g + d·t)).
        for (const nesterov of [false, true]) {
          let t = [0, 0, 0];
          const want = G.map((g) => {
            t = g.map((gi, i) => gi + d * t[i]!);
            return g.map((gi, i) => -lr * (nesterov ? gi + d * t[i]! : t[i]!));
          });
          const got = updatesOf(optim.sgd(lr, { momentum: d, nesterov }), gs);
          want.forEach((w, k) => expectAllClose(got[k]!, w, 1e-5, 1e-7, `sgd (nesterov ${nesterov}) step ${k + 1}`));
        }
      }),
      { seed: SEED, numRuns: 25 },
    );
  });

  it('lion and adagrad match float64 references (Optax scale_by_lion with decoupled decay, scale_by_rss)', () => {
    fc.assert(
      fc.property(
        fc.array(floats(3, -3, 3), { minLength: 5, maxLength: 5 }),
        fc.array(floats(3, -2, 2), { minLength: 5, maxLength: 5 }),
        fc.double({ min: 0, max: 0.99, noNaN: true }),
        fc.double({ min: 0, max: 0.999, noNaN: true }),
        (gs, ps, b1, b2) => {
          const G = gs.map(fr), P = ps.map(fr);
          const lr = 0.01, wd = 0.1;
          // lion: u = −lr·(sign(b1 m + (1−b1) g) + wd·θ), then m ← b2 m + (1−b2) g.
          let m = [0, 0, 0];
          const interp: number[][] = [];
          const want = G.map((g, k) => {
            const c = g.map((gi, i) => b1 * m[i]! + (1 - b1) * gi);
            interp.push(c);
            m = m.map((x, i) => b2 * x + (1 - b2) * g[i]!);
            return c.map((ci, i) => -lr * (Math.sign(ci) + wd * P[k]![i]!));
          });
          const got = updatesOf(optim.lion(lr, { b1, b2, weightDecay: wd }), gs, ps);
          // (Where the interpolation is within rounding of 0, float32 may take the other sign.)
          want.forEach((w, k) => expectAllClose(got[k]!.filter((_, i) => Math.abs(interp[k]![i]!) > 1e-5), w.filter((_, i) => Math.abs(interp[k]![i]!) > 1e-5), 1e-5, 1e-8, `lion step ${k + 1}`));
          // adagrad: s ← s + g² (from 0.1), u = −lr·g/√(s + 1e-7).
          let acc = [0.1, 0.1, 0.1];
          const wantAda = G.map((g) => {
            acc = acc.map((x, i) => x + g[i]! ** 2);
            return g.map((gi, i) => (-lr * gi) / Math.sqrt(acc[i]! + 1e-7));
          });
          const gotAda = updatesOf(optim.adagrad(lr), gs);
          wantAda.forEach((w, k) => expectAllClose(gotAda[k]!, w, 1e-5, 1e-9, `adagrad step ${k + 1}`));
        },
      ),
      { seed: SEED, numRuns: 25 },
    );
    // A zero accumulator (no initial value, zero gradient) gives a zero step, not 0/0.
    expectAllClose(updatesOf(optim.adagrad(0.1, { initialAccumulatorValue: 0, eps: 0 }), [[0, 1]])[0]!, [0, -0.1], 1e-7, 0, 'adagrad from a zero accumulator');
  });

  it('adamw decays the weights decoupled from the gradient scaling: u = −lr·(adam direction + wd·θ), masked leaves not decayed', () => {
    scope(() => {
      const params = { w: f32([1, -2, 3]), b: f32([5]) };
      const grads = { w: f32([0.1, 0.2, -0.3]), b: f32([1]) };
      const wd = 0.1;
      const opt = optim.adamw(0.01, { weightDecay: wd, mask: { w: true, b: false } });
      const plain = optim.adam(0.01);
      const [u] = opt.update(grads, opt.init(params), params);
      const [v] = plain.update(grads, plain.init(params), params);
      expectAllClose(vals(u.w), vals(v.w).map((x, i) => x - 0.01 * wd * [1, -2, 3][i]!), 1e-5, 1e-8, 'decayed w');
      expect(vals(u.b)).toEqual(vals(v.b));
      // The options-object form of addDecayedWeights.
      const d = optim.addDecayedWeights({ weightDecay: 0.5, mask: optim.pathMask('.w') });
      const [w] = d.update(grads, d.init(params), params);
      expect(vals(w.w)).toEqual([0.6, -0.8, 1.2].map(Math.fround));
      expect(vals(w.b)).toEqual([1]);
      return null;
    });
  });

  it('lamb scales each leaf by the trust ratio ‖θ‖/‖u‖ (1 when either is 0)', () => {
    // Entries below 1e-3 in size become 0 (no float32 denormals: their squares underflow).
    const arb = floats(4, -3, 3).map((v) => v.map((x) => (Math.abs(x) < 1e-3 ? 0 : x)));
    fc.assert(
      fc.property(arb, arb, (p, g) => {
        scope(() => {
          const params = { x: f32(p), z: np.zeros([2]) };
          const grads = { x: f32(g), z: f32([1, -1]) };
          const opt = optim.lamb(0.01);
          const [u] = opt.update(grads, opt.init(params), params);
          const adamDir = fr(g).map((x) => x / (Math.abs(x) + 1e-6)); // first Adam step: m̂/(√v̂ + ε)
          const pn = Math.hypot(...fr(p));
          const un = Math.hypot(...adamDir);
          const ratio = pn === 0 || un === 0 ? 1 : pn / un;
          expectAllClose(vals(u.x), adamDir.map((x) => -0.01 * ratio * x), 1e-4, 1e-9, 'x');
          expectAllClose(vals(u.z), [-0.01, 0.01].map((x) => x / (1 + 1e-6)), 1e-5, 0, 'z (zero parameter norm: ratio 1)');
          return null;
        });
      }),
      { seed: SEED, numRuns: 30 },
    );
  });
});

describe('schedules against their closed forms', () => {
  const at = (s: optim.Schedule, t: number) => scope(() => Number(np.asArray(s(t)).item()));
  const atCount = (s: optim.Schedule, t: number) => scope(() => Number(np.asArray(s(np.array(t, 'int32'))).item()));
  const counts = fc.integer({ min: 0, max: 3000 });

  it('constant, linear, polynomial, cosine, exponentialDecay, warmupCosineDecay', () => {
    fc.assert(
      fc.property(
        counts,
        fc.double({ min: -1, max: 1, noNaN: true }),
        fc.double({ min: -1, max: 1, noNaN: true }),
        fc.integer({ min: 1, max: 1000 }),
        fc.integer({ min: 0, max: 500 }),
        fc.double({ min: 0, max: 0.5, noNaN: true }),
        (t, v0, v1, T, begin, alpha) => {
          const close = (s: optim.Schedule, want: number, what: string) => {
            const got = at(s, t);
            if (!(Math.abs(got - want) <= 1e-5 + 1e-5 * Math.abs(want))) throw new Error(`${what} at ${t}: ${got} vs ${want}`);
            expect(atCount(s, t)).toBeCloseTo(got, 6);
          };
          close(optim.schedules.constant(v0), v0, 'constant');
          const frac = Math.min(Math.max(t - begin, 0), T) / T;
          close(optim.schedules.linear({ initValue: v0, endValue: v1, transitionSteps: T, transitionBegin: begin }), v0 + (v1 - v0) * frac, 'linear');
          close(optim.schedules.polynomial({ initValue: v0, endValue: v1, power: 2, transitionSteps: T, transitionBegin: begin }), (v0 - v1) * (1 - frac) ** 2 + v1, 'polynomial');
          const cos = 0.5 * (1 + Math.cos((Math.PI * Math.min(t, T)) / T));
          close(optim.schedules.cosine({ initValue: v0, decaySteps: T, alpha }), v0 * ((1 - alpha) * cos + alpha), 'cosine');
          close(optim.schedules.cosine({ initValue: v0, decaySteps: T, exponent: 2 }), v0 * cos ** 2, 'cosine exponent 2');
          close(optim.schedules.exponentialDecay({ initValue: v0, decayRate: 0.5, transitionSteps: T }), v0 * 0.5 ** (t / T), 'exponentialDecay');
          close(optim.schedules.exponentialDecay({ initValue: v0, decayRate: 0.5, transitionSteps: T, staircase: true }), v0 * 0.5 ** Math.floor(t / T), 'staircase');
          close(optim.schedules.exponentialDecay({ initValue: v0, decayRate: 0.5, transitionSteps: T, transitionBegin: begin }), v0 * 0.5 ** (Math.max(t - begin, 0) / T), 'exponentialDecay with transitionBegin');
          const W = begin;
          const D = W + T;
          const peak = Math.abs(v1) + 0.1;
          const end = peak * alpha;
          const wcd = t < W ? v0 + ((peak - v0) * t) / W : end + (peak - end) * 0.5 * (1 + Math.cos((Math.PI * Math.min(t - W, D - W)) / (D - W)));
          close(optim.schedules.warmupCosineDecay({ initValue: v0, peakValue: peak, warmupSteps: W, decaySteps: D, endValue: end }), wcd, 'warmupCosineDecay');
        },
      ),
      { seed: SEED, numRuns: 60 },
    );
  });

  it('piecewiseConstant multiplies the scales of the boundaries reached (count ≥ boundary, as Optax); piecewiseLinear interpolates (bert4keras)', () => {
    fc.assert(
      fc.property(counts, fc.uniqueArray(fc.integer({ min: 1, max: 2500 }), { minLength: 1, maxLength: 4 }), fc.array(fc.double({ min: 0, max: 2, noNaN: true }), { minLength: 4, maxLength: 4 }), (t, steps, values) => {
        const sorted = [...steps].sort((a, b) => a - b);
        const scales: Record<number, number> = {};
        sorted.forEach((b, i) => (scales[b] = values[i]!));
        let want = 0.5;
        for (const b of sorted) if (t >= b) want *= scales[b]!;
        expect(at(optim.schedules.piecewiseConstant({ initValue: 0.5, boundariesAndScales: scales }), t)).toBeCloseTo(want, 5);
        // Through (0, 0) and the points, constant after the last.
        const pts: [number, number][] = [[0, 0], ...sorted.map((s, i): [number, number] => [s, values[i]!])];
        let lin = pts[pts.length - 1]![1];
        for (let i = 0; i + 1 < pts.length; i++) {
          const [s0, a0] = pts[i]!;
          const [s1, a1] = pts[i + 1]!;
          if (t >= s0 && t < s1) lin = a0 + ((a1 - a0) * (t - s0)) / (s1 - s0);
        }
        expect(at(optim.schedules.piecewiseLinear(Object.fromEntries(sorted.map((s, i) => [s, values[i]!]))), t)).toBeCloseTo(lin, 5);
      }),
      { seed: SEED, numRuns: 60 },
    );
    // At the boundaries themselves (Optax's schedule_test values): the scale applies from count = boundary on.
    const pc = optim.schedules.piecewiseConstant({ initValue: 1, boundariesAndScales: { 3: 0.5, 6: 0.1 } });
    expect([0, 1, 2, 3, 4, 5, 6, 7].map((t) => at(pc, t))).toEqual([1, 1, 1, 0.5, 0.5, 0.5, 0.05, 0.05].map((v) => expect.closeTo(v, 6)));
    // The bert4keras example: warm up to 1 over 1000 steps, decay to 0.1 by 2000, then stay.
    const s = optim.schedules.piecewiseLinear({ 1000: 1, 2000: 0.1 });
    expect([0, 500, 1000, 1500, 2000, 5000].map((t) => at(s, t))).toEqual([0, 0.5, 1, 0.55, 0.1, 0.1].map((v) => expect.closeTo(v, 6)));
    const j = optim.schedules.join([optim.schedules.linear({ initValue: 0, endValue: 1, transitionSteps: 10 }), optim.schedules.constant(2)], [10]);
    expect([0, 5, 9, 10, 50].map((t) => at(j, t))).toEqual([0, 0.5, 0.9, 2, 2].map((v) => expect.closeTo(v, 6)));
  });

  it('Optax\'s degenerate cases: warmupCosineDecay with peakValue 0 decays to 0; a zero decay rate and negative piecewise scales are refused', () => {
    const w = optim.schedules.warmupCosineDecay({ initValue: 0, peakValue: 0, warmupSteps: 10, decaySteps: 30, endValue: 0.2 });
    expect([5, 15, 25, 40].map((t) => at(w, t))).toEqual([0, 0, 0, 0]);
    expect(() => optim.schedules.exponentialDecay({ initValue: 1, decayRate: 0, transitionSteps: 10 })).toThrow(/schedules.exponentialDecay: decayRate must be > 0, got 0/);
    expect(() => optim.schedules.piecewiseConstant({ initValue: 1, boundariesAndScales: { 5: -0.5 } })).toThrow(/piecewiseConstant: scales must be ≥ 0 \(as Optax\), got -0.5 at step 5/);
  });

  it('an optimizer evaluates its schedule at 0, 1, 2, ... (the number of updates done before each)', () => {
    const lr = optim.schedules.linear({ initValue: 1, endValue: 0, transitionSteps: 4 });
    const got = updatesOf(optim.sgd(lr), [[1], [1], [1], [1], [1], [1]]);
    expect(got.map((u) => u[0])).toEqual([-1, -0.75, -0.5, -0.25, 0, 0].map((v) => expect.closeTo(v, 6)));
  });

  it('invalid schedule arguments are errors naming them', () => {
    expect(() => optim.schedules.cosine({ initValue: 1, decaySteps: 0 })).toThrow(/schedules.cosine: decaySteps must be an integer ≥ 1, got 0/);
    expect(() => optim.schedules.linear({ initValue: NaN, endValue: 0, transitionSteps: 3 })).toThrow(/schedules.polynomial: initValue must be a finite number/);
    expect(() => optim.schedules.piecewiseLinear([[3, 1], [3, 2]])).toThrow(/step 3 is given twice/);
    expect(() => optim.schedules.warmupCosineDecay({ initValue: 0, peakValue: 1, warmupSteps: 10, decaySteps: 5 })).toThrow(/decaySteps must be an integer ≥ 11/);
  });
});

describe('chain fuses leaf scalings', () => {
  it('runs of scales, learning rates and parameter scales give the same updates fused as applied one by one', () => {
    const unfused = (t: optim.GradientTransformation<unknown>): optim.GradientTransformation<unknown> => ({ init: t.init, update: t.update });
    const lr = optim.schedules.linear({ initValue: 0.1, endValue: 0.01, transitionSteps: 3 });
    const recipes: [string, () => optim.GradientTransformation<unknown>[]][] = [
      ['adam → lr → scale → param scale', () => [optim.scaleByAdam(), optim.scaleByLearningRate(lr), optim.scale(-2), optim.scaleByParamBlockRms()]],
      ['nadam → lr', () => [optim.scaleByAdam({ nesterov: true, b1: 0.8 }), optim.scaleByLearningRate(0.05)]],
      [
        'factored RMS with clipping → lr → param scale → sign',
        () => [optim.scaleByFactoredRms({ minDimSizeToFactor: 2, clippingThreshold: 0.5 }), optim.scaleByLearningRate(lr, { flipSign: false }), optim.scaleByParamBlockRms(), optim.scale(-1)],
      ],
      ['factored RMS → lr', () => [optim.scaleByFactoredRms({ minDimSizeToFactor: 2 }), optim.scaleByLearningRate(0.1)]],
      ['trace → scale → scale → clip → lr', () => [optim.trace(0.9), optim.scale(0.5), optim.scale(3), optim.clipByGlobalNorm(1), optim.scaleByLearningRate(0.1)]],
    ];
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10_000 }), (seed) => {
        scope(() => {
          let x = seed;
          const rand = () => ((x = (x * 16807) % 2147483647) / 2147483647) * 4 - 2;
          const make = (shape: number[]) => f32(Array.from({ length: shape.reduce((a, b) => a * b, 1) }, rand), shape);
          const params = { w: make([5, 6]), b: make([6]), k: make([2, 5, 6]) };
          for (const [name, recipe] of recipes) {
            const fused = optim.chain(...recipe());
            const plain = optim.chain(...recipe().map(unfused));
            let [s1, s2] = [fused.init(params), plain.init(params)];
            for (let step = 0; step < 3; step++) {
              const grads = { w: make([5, 6]), b: make([6]), k: make([2, 5, 6]) };
              const [u1, n1] = fused.update(grads, s1, params);
              const [u2, n2] = plain.update(grads, s2, params);
              [s1, s2] = [n1, n2];
              for (const k of ['w', 'b', 'k'] as const) expectAllClose(vals(u1[k]), vals(u2[k]), 2e-5, 1e-7, `${name}, step ${step + 1}, ${k}`);
            }
          }
          return null;
        });
      }),
      { seed: SEED, numRuns: 10 },
    );
  });
});

describe('clipping and scaling variants', () => {
  it('adaptiveGradClip clips unit-wise: ‖g_unit‖ ≤ clipping·max(‖θ_unit‖, eps)', () => {
    fc.assert(
      fc.property(floats(6, -3, 3), floats(6, -3, 3), fc.double({ min: 0.01, max: 1, noNaN: true }), (p, g, c) => {
        scope(() => {
          const t = optim.adaptiveGradClip(c);
          const params = { w: f32(p, [3, 2]) };
          const [u] = t.update({ w: f32(g, [3, 2]) }, t.init(params), params);
          const out = vals(u.w);
          for (let col = 0; col < 2; col++) {
            const idx = [0, 1, 2].map((r) => r * 2 + col);
            const pn = Math.hypot(...idx.map((i) => Math.fround(p[i]!)));
            const gn = Math.hypot(...idx.map((i) => Math.fround(g[i]!)));
            const maxNorm = Math.max(pn, 1e-3) * c;
            const want = idx.map((i) => (gn < maxNorm ? Math.fround(g[i]!) : (Math.fround(g[i]!) * maxNorm) / Math.max(gn, 1e-6)));
            expectAllClose(idx.map((i) => out[i]!), want, 1e-5, 1e-8, `unit ${col}`);
          }
          return null;
        });
      }),
      { seed: SEED, numRuns: 40 },
    );
  });

  it('perExampleGlobalNormClip equals the sum over examples of each example clipped to global norm ≤ c', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 }), fc.double({ min: 0.1, max: 3, noNaN: true }), fc.integer({ min: 0, max: 10_000 }), (B, c, seed) => {
        scope(() => {
          let x = seed;
          const rand = () => ((x = (x * 16807) % 2147483647) / 2147483647) * 4 - 2;
          const w = Array.from({ length: B * 6 }, rand);
          const b = Array.from({ length: B * 3 }, rand);
          const [u] = optim.perExampleGlobalNormClip(c).update({ w: f32(w, [B, 2, 3]), b: f32(b, [B, 3]) }, {});
          const wantW = new Array<number>(6).fill(0);
          const wantB = new Array<number>(3).fill(0);
          for (let e = 0; e < B; e++) {
            const we = w.slice(e * 6, e * 6 + 6).map(Math.fround);
            const be = b.slice(e * 3, e * 3 + 3).map(Math.fround);
            const n = Math.hypot(...we, ...be);
            const k = 1 / Math.max(n / c, 1);
            we.forEach((v, i) => (wantW[i]! += v * k));
            be.forEach((v, i) => (wantB[i]! += v * k));
          }
          expect(u.w.shape).toEqual([2, 3]);
          expectAllClose(vals(u.w), wantW, 1e-5, 1e-6, 'w');
          expectAllClose(vals(u.b), wantB, 1e-5, 1e-6, 'b');
          return null;
        });
      }),
      { seed: SEED, numRuns: 30 },
    );
  });

  it('scaleByParamBlockRms multiplies by max(RMS(θ), minScale); addDecayedWeights adds wd·θ (a schedule works too)', () => {
    scope(() => {
      const t = optim.scaleByParamBlockRms({ minScale: 1e-3 });
      const params = { a: f32([3, 4]), z: f32([0, 0]) };
      const [u] = t.update({ a: f32([1, 1]), z: f32([1, 1]) }, {}, params);
      expectAllClose(vals(u.a), [Math.sqrt(12.5), Math.sqrt(12.5)], 1e-6, 0, 'a');
      expectAllClose(vals(u.z), [1e-3, 1e-3], 1e-6, 0, 'z');
      const d = optim.addDecayedWeights(optim.schedules.linear({ initValue: 1, endValue: 0, transitionSteps: 1 }));
      let s = d.init(params);
      let v: typeof params;
      [v, s] = d.update({ a: f32([1, 1]), z: f32([1, 1]) }, s, params);
      expect(vals(v.a)).toEqual([4, 5]);
      [v, s] = d.update({ a: f32([1, 1]), z: f32([1, 1]) }, s, params);
      expect(vals(v.a)).toEqual([1, 1]);
      return null;
    });
  });
});

describe('schedules.join', () => {
  it('refuses boundaries out of order (the schedule between them would never run)', () => {
    const c = optim.schedules.constant;
    expect(() => optim.schedules.join([c(1), c(2), c(3)], [6, 5])).toThrow(/boundaries must be in increasing order/);
    expect(() => optim.schedules.join([c(1), c(2), c(3)], [5, 6])).not.toThrow();
  });
});

describe('warm-up at negative counts', () => {
  it('warmupCosineDecay clips the warm-up count at 0 (a count of −5 gave a negative learning rate)', () => {
    const s = optim.schedules.warmupCosineDecay({ initValue: 0.1, peakValue: 1, warmupSteps: 5, decaySteps: 10 });
    expect(np.asArray(s(-5)).item()).toBeCloseTo(0.1, 6);
    expect(np.asArray(s(0)).item()).toBeCloseTo(0.1, 6);
    expect(np.asArray(s(5)).item()).toBeCloseTo(1, 6);
  });
});

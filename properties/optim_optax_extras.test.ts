// Optax's RAdam, AdaBelief, Yogi, noisy SGD, zeroNans, applyEvery and the warm-up/restart/one-cycle
// schedules: each against a float64 transcription of Optax's formula over several steps on random
// trees, jit against eager, and no arrays left behind by an update. (Their state types: types.test.ts.)
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NDArray, jit, np, random, scope, tree } from '../src/index.js';
import { Rng } from '../src/testing/index.js';
import { expectTreeClose, randomArray } from './loop_oracle.js';
import * as optim from '../optim/index.js';
import { expectAllClose, expectUpdatesLeakNothing } from './optim_helpers.js';

const SEED = 42;
const SHAPES = { w: [2, 3], b: [3] } as const;
type P = { w: NDArray; b: NDArray };


const vals = (x: NDArray) => Array.from(x.dataSync());
/** Random gradient trees {w: [2, 3], b: [3]} (values on a 1/1024 grid, so float32 holds them exactly). */
function gradTrees(rng: Rng, n: number): P[] {
  return Array.from({ length: n }, () => ({ w: randomArray(rng, SHAPES.w, -2, 2), b: randomArray(rng, SHAPES.b, -2, 2) }));
}

/** Runs `opt` eagerly over `grads`; returns the flattened updates per step. */
function run(opt: optim.GradientTransformation<unknown>, grads: P[], params: P): number[][] {
  let state = opt.init(params);
  return grads.map((g) => {
    const [u, s] = opt.update(g, state, params);
    state = s;
    return (tree.leaves(u) as NDArray[]).flatMap(vals);
  });
}

/** A float64 elementwise reference: `step(g, t)` maps one step's flattened gradient to the update (t = 1, 2, ...). */
function reference(grads: P[], make: () => (g: number[], t: number) => number[]): number[][] {
  const step = make();
  return grads.map((g, i) => step((tree.leaves(g) as NDArray[]).flatMap(vals), i + 1));
}

// Optax's moment updates and bias correction, in float64.
const ema = (m: number[], g: number[], b: number) => m.map((x, i) => b * x + (1 - b) * g[i]!);
const nesterovHat = (m: number[], g: number[], b1: number, t: number, nesterov: boolean) =>
  m.map((x, i) => (nesterov ? (b1 * x) / (1 - b1 ** (t + 1)) + ((1 - b1) * g[i]!) / (1 - b1 ** t) : x / (1 - b1 ** t)));

describe('RAdam, AdaBelief and Yogi against float64 transcriptions of Optax', () => {
  it('radam: Adam rectified by r(ρ) once ρ ≥ threshold, bias-corrected momentum before (Optax scale_by_radam)', () => {
    fc.assert(
      fc.property(fc.integer(), fc.constantFrom(0.9, 0.99, 0.999), fc.constantFrom(5, 4, 6.5), fc.boolean(), (seed, b2, threshold, nesterov) => {
        scope(() => {
          const [lr, b1, eps] = [0.1, 0.8, 1e-8];
          const grads = gradTrees(new Rng(seed), 9);
          const params = { w: np.zeros([2, 3]), b: np.zeros([3]) };
          const got = run(optim.radam(lr, { b1, b2, threshold, nesterov }), grads, params);
          const want = reference(grads, () => {
            let m = Array(9).fill(0), v = Array(9).fill(0);
            const roInf = 2 / (1 - b2) - 1;
            return (g, t) => {
              m = ema(m, g, b1);
              v = v.map((x, i) => b2 * x + (1 - b2) * g[i]! ** 2);
              const ro = roInf - (2 * t * b2 ** t) / (1 - b2 ** t);
              const mh = nesterovHat(m, g, b1, t, nesterov);
              if (ro < threshold) return mh.map((x) => -lr * x);
              const r = Math.sqrt(((ro - 4) * (ro - 2) * roInf) / ((roInf - 4) * (roInf - 2) * ro));
              return mh.map((x, i) => (-lr * r * x) / (Math.sqrt(v[i]! / (1 - b2 ** t)) + eps));
            };
          });
          got.forEach((u, i) => expectAllClose(u, want[i]!, 2e-4, 1e-6, `radam b2 ${b2} step ${i + 1}`));
          return null;
        });
      }),
      { seed: SEED, numRuns: 12 },
    );
  });

  it('adabelief: s ← β₂s + (1−β₂)(g − m)² + epsRoot with the new m, u = m̂/(sqrt(ŝ) + eps) (Optax scale_by_belief)', () => {
    fc.assert(
      fc.property(fc.integer(), fc.constantFrom(1e-16, 1e-8), fc.boolean(), (seed, eps, nesterov) => {
        scope(() => {
          const [lr, b1, b2, epsRoot] = [0.1, 0.9, 0.999, 1e-16];
          const grads = gradTrees(new Rng(seed), 6);
          const params = { w: np.zeros([2, 3]), b: np.zeros([3]) };
          const got = run(optim.adabelief(lr, { eps, nesterov }), grads, params);
          const want = reference(grads, () => {
            let m = Array(9).fill(0), s = Array(9).fill(0);
            return (g, t) => {
              m = ema(m, g, b1);
              s = s.map((x, i) => b2 * x + (1 - b2) * (g[i]! - m[i]!) ** 2 + epsRoot);
              const mh = nesterovHat(m, g, b1, t, nesterov);
              return mh.map((x, i) => (-lr * x) / (Math.sqrt(s[i]! / (1 - b2 ** t)) + eps));
            };
          });
          got.forEach((u, i) => expectAllClose(u, want[i]!, 1e-3, 1e-6, `adabelief step ${i + 1}`));
          return null;
        });
      }),
      { seed: SEED, numRuns: 12 },
    );
  });

  it('yogi: v ← v − (1−β₂)·sign(v − g²)·g², both moments from 1e-6, eps 1e-3 (Optax scale_by_yogi)', () => {
    fc.assert(
      fc.property(fc.integer(), fc.constantFrom(0.9, 0.999), (seed, b2) => {
        scope(() => {
          const [lr, b1, eps, init] = [0.05, 0.9, 1e-3, 1e-6];
          const grads = gradTrees(new Rng(seed), 6);
          const params = { w: np.zeros([2, 3]), b: np.zeros([3]) };
          const got = run(optim.yogi(lr, { b2 }), grads, params);
          const want = reference(grads, () => {
            let m = Array(9).fill(init), v = Array(9).fill(init);
            return (g, t) => {
              m = ema(m, g, b1);
              v = v.map((x, i) => x - (1 - b2) * Math.sign(x - g[i]! ** 2) * g[i]! ** 2);
              return m.map((x, i) => (-lr * (x / (1 - b1 ** t))) / (Math.sqrt(v[i]! / (1 - b2 ** t)) + eps));
            };
          });
          got.forEach((u, i) => expectAllClose(u, want[i]!, 2e-4, 1e-6, `yogi b2 ${b2} step ${i + 1}`));
          return null;
        });
      }),
      { seed: SEED, numRuns: 12 },
    );
  });

  it('radam leaves the update at m̂ exactly while ρ < threshold (ρ₁ = 1 for any β₂), and is not NaN there', () => {
    scope(() => {
      const opt = optim.scaleByRadam({ b1: 0.5 });
      const params = { x: np.zeros([2]) };
      const [u] = opt.update({ x: np.array([3, -1], 'float32') }, opt.init(params), params);
      expect(vals(u.x)).toEqual([3, -1]);
      return null;
    });
  });
});

describe('noisySgd and addNoise', () => {
  it('noisySgd steps −lr·(g + sqrt(eta/(1+count)^gamma)·z), z drawn from the key split each step as Optax (one per leaf, in flatten order)', () => {
    fc.assert(
      fc.property(fc.integer(), fc.integer({ min: 0, max: 1000 }), fc.double({ min: 0.001, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true }), (seed, noiseSeed, eta, gamma) => {
        scope(() => {
          const lr = 0.1;
          const grads = gradTrees(new Rng(seed), 4);
          const params = { w: np.zeros([2, 3]), b: np.zeros([3]) };
          const got = run(optim.noisySgd(lr, { eta, gamma, seed: noiseSeed }), grads, params);
          let key = random.key(noiseSeed);
          grads.forEach((g, i) => {
            const keys = random.split(key, 3);
            const [b, w] = [random.normal(keys.at(1), [3]), random.normal(keys.at(2), [2, 3])]; // flatten order: b, w
            key = keys.at(0);
            const sd = Math.sqrt(eta / (i + 1) ** gamma);
            const z = [...vals(b), ...vals(w)];
            const gs = [...vals(g.b), ...vals(g.w)];
            expectAllClose(got[i]!, gs.map((x, j) => -lr * (x + sd * z[j]!)), 1e-5, 1e-6, `noisySgd step ${i + 1}`);
          });
          return null;
        });
      }),
      { seed: SEED, numRuns: 10 },
    );
  });

  it('the noise has the annealed standard deviation, is reproducible from the seed and differs between seeds', () => {
    scope(() => {
      const t = optim.addNoise(0.5, 1, 3);
      const params = { x: np.zeros([20000]) };
      let state = t.init(params);
      for (let step = 0; step < 3; step++) {
        const [u, s] = t.update({ x: np.zeros([20000]) }, state, params);
        const v = vals(u.x);
        const sd = Math.sqrt(v.reduce((a, x) => a + x * x, 0) / v.length);
        expect(sd / Math.sqrt(0.5 / (step + 1))).toBeCloseTo(1, 1);
        state = s;
      }
      const once = (seed: number) => vals(optim.addNoise(0.5, 1, seed).update({ x: np.zeros([4]) }, optim.addNoise(0.5, 1, seed).init({ x: np.zeros([4]) }))[0].x);
      expect(once(7)).toEqual(once(7));
      expect(once(7)).not.toEqual(once(8));
      return null;
    });
  });
});

describe('zeroNans and applyEvery', () => {
  it('zeroNans replaces NaNs by 0 (±Inf kept) and foundNan says per leaf whether there was one', () => {
    fc.assert(
      fc.property(fc.integer(), fc.array(fc.integer({ min: 0, max: 8 }), { maxLength: 4 }), fc.boolean(), (seed, nanAt, inf) => {
        scope(() => {
          const rng = new Rng(seed);
          const flat = Array.from({ length: 9 }, () => rng.uniform() - 0.5);
          for (const j of nanAt) flat[j] = NaN;
          if (inf) flat[0] = Number.isNaN(flat[0]!) ? NaN : Infinity;
          const g = { b: np.array(flat.slice(0, 3), 'float32'), w: np.reshape(np.array(flat.slice(3), 'float32'), [2, 3]) };
          const t = optim.zeroNans();
          const [u, s] = t.update(g, t.init(g), g);
          const want = flat.map((x) => (Number.isNaN(x) ? 0 : Math.fround(x)));
          expect([...vals(u.b), ...vals(u.w)]).toEqual(want);
          expect(s.foundNan.b.dtype).toBe('bool');
          expect([s.foundNan.b.item(), s.foundNan.w.item()]).toEqual([nanAt.some((j) => j < 3), nanAt.some((j) => j >= 3)]);
          return null;
        });
      }),
      { seed: SEED, numRuns: 20 },
    );
  });

  it('applyEvery(k) emits the sum of the last k updates on every k-th step and zeros between (Optax apply_every)', () => {
    fc.assert(
      fc.property(fc.integer(), fc.integer({ min: 1, max: 4 }), (seed, k) => {
        scope(() => {
          const grads = gradTrees(new Rng(seed), 9);
          const params = { w: np.zeros([2, 3]), b: np.zeros([3]) };
          const got = run(optim.chain(optim.applyEvery(k), optim.sgd(0.5)), grads, params);
          let acc = Array(9).fill(0);
          const want = reference(grads, () => (g, t) => {
            acc = (t - 1) % k === 0 ? g : acc.map((x, i) => x + g[i]!);
            return t % k === 0 ? acc.map((x) => -0.5 * x) : acc.map(() => 0);
          });
          got.forEach((u, i) => expectAllClose(u, want[i]!, 1e-6, 1e-6, `applyEvery(${k}) step ${i + 1}`));
          return null;
        });
      }),
      { seed: SEED, numRuns: 12 },
    );
  });
});

const makers: [string, () => optim.GradientTransformation<unknown>][] = [
  ['radam', () => optim.radam(0.1, { b2: 0.9 })],
  ['adabelief', () => optim.adabelief(0.1, { nesterov: true })],
  ['yogi', () => optim.yogi(0.1)],
  ['noisySgd', () => optim.noisySgd(0.1, { eta: 0.3, seed: 5 })],
  ['zeroNans', () => optim.chain(optim.zeroNans(), optim.sgd(0.1))],
  ['applyEvery', () => optim.chain(optim.applyEvery(3), optim.adam(0.1))],
];


describe('jit, memory and types', () => {
  for (const [name, make] of makers) {
    it(`${name}: a jitted update gives the eager updates and state over 7 steps`, () => {
      fc.assert(
        fc.property(fc.integer(), (seed) => {
          scope(() => {
            const opt = make();
            const rng = new Rng(seed);
            const grads = gradTrees(rng, 7);
            if (name === 'zeroNans') grads[2]!.w = np.where(np.greater(grads[2]!.w, 0), NaN, grads[2]!.w);
            const params = { w: randomArray(rng, [2, 3]), b: randomArray(rng, [3]) };
            const step = jit((g: P, s: unknown, p: P) => opt.update(g, s, p));
            let eager = opt.init(params), jitted = opt.init(params);
            grads.forEach((g, i) => {
              const [ue, se] = opt.update(g, eager, params);
              const [uj, sj] = step(g, jitted, params);
              expectTreeClose(uj, ue, { rtol: 1e-5, atol: 1e-6, label: `${name} step ${i}: updates` });
              expectTreeClose(sj, se, { rtol: 1e-5, atol: 1e-6, label: `${name} step ${i}: state` });
              [eager, jitted] = [se, sj];
            });
            step.clearCache();
            return null;
          });
        }),
        { seed: SEED, numRuns: 3 },
      );
    });

    it(`${name}: a top-level update leaves nothing behind but the arrays it returns`, () => expectUpdatesLeakNothing(make, 4));
  }

  it('invalid arguments are errors naming the op and what was expected', () => {
    expect(() => optim.radam(0.1, { b2: 1 })).toThrow(/scaleByRadam: b2 must be in \[0, 1\)/);
    expect(() => optim.yogi(0.1, {}).init({ x: 1 } as never)).toThrow(/scaleByYogi: the parameter at \.x is the number 1/);
    expect(() => optim.applyEvery(0)).toThrow(/applyEvery: k must be an integer ≥ 1, got 0/);
    expect(() => optim.noisySgd(0.1, { eta: -1 })).toThrow(/addNoise: eta must be a finite number ≥ 0, got -1/);
    expect(() => optim.schedules.linearOnecycle({ transitionSteps: 0, peakValue: 1 })).toThrow(/schedules\.linearOnecycle: transitionSteps must be an integer ≥ 1, got 0/);
    expect(() => optim.schedules.sgdr([])).toThrow(/schedules\.sgdr: expected a non-empty list/);
  });
});

describe('warm-up, restart and one-cycle schedules against Optax\'s formulas', () => {
  const at = (s: optim.Schedule, t: number) => scope(() => Number(np.asArray(s(t)).item()));

  it('warmupExponentialDecay: linear warm-up to the peak, then peak·rate^((t − warmup − begin)/T) (staircase, end value)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 1, max: 15 }), fc.integer({ min: 0, max: 10 }), fc.boolean(), fc.double({ min: 0.2, max: 1.5, noNaN: true }), (warmupSteps, transitionSteps, transitionBegin, staircase, decayRate) => {
        const [initValue, peakValue, endValue] = [0.01, 1, decayRate < 1 ? 0.3 : 2];
        const s = optim.schedules.warmupExponentialDecay({ initValue, peakValue, warmupSteps, transitionSteps, decayRate, transitionBegin, staircase, endValue });
        for (let t = 0; t < 60; t += 3) {
          let want: number;
          if (t < warmupSteps) want = initValue + ((peakValue - initValue) * t) / warmupSteps;
          else {
            let p = Math.max(t - warmupSteps - transitionBegin, 0) / transitionSteps;
            if (staircase) p = Math.floor(p);
            want = peakValue * decayRate ** p;
            want = decayRate < 1 ? Math.max(want, endValue) : Math.min(want, endValue);
          }
          expectAllClose([at(s, t)], [want], 1e-5, 1e-7, `warmupExponentialDecay at ${t}`);
        }
      }),
      { seed: SEED, numRuns: 30 },
    );
  });

  it('sgdr: warmupCosineDecay cycles, each restarting its count where the previous decaySteps end', () => {
    const cycles = [
      { initValue: 0, peakValue: 1, warmupSteps: 5, decaySteps: 20 },
      { initValue: 0.1, peakValue: 0.5, warmupSteps: 0, decaySteps: 10, endValue: 0.05 },
      { initValue: 0, peakValue: 0.2, warmupSteps: 3, decaySteps: 12, exponent: 2 },
    ];
    const s = optim.schedules.sgdrSchedule(cycles);
    const wcd = (c: (typeof cycles)[number] & { endValue?: number; exponent?: number }, t: number) => {
      const { initValue, peakValue, warmupSteps, decaySteps, endValue = 0, exponent = 1 } = c;
      if (t < warmupSteps) return initValue + ((peakValue - initValue) * t) / warmupSteps;
      const d = Math.min(t - warmupSteps, decaySteps - warmupSteps);
      return (peakValue - endValue) * (0.5 * (1 + Math.cos((Math.PI * d) / (decaySteps - warmupSteps)))) ** exponent + endValue;
    };
    for (let t = 0; t < 50; t++) {
      const want = t < 20 ? wcd(cycles[0]!, t) : t < 30 ? wcd(cycles[1]!, t - 20) : wcd(cycles[2]!, t - 30);
      expectAllClose([at(s, t)], [want], 1e-5, 1e-7, `sgdr at ${t}`);
    }
  });

  it('linearOnecycle and cosineOnecycle: peak/div up to peak at int(pctStart·T), down (to peak/div at int(pctFinal·T)) and to peak/(div·finalDiv) at T', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 200 }), fc.double({ min: 0.05, max: 0.5, noNaN: true }), fc.double({ min: 0.55, max: 0.95, noNaN: true }), fc.double({ min: 2, max: 30, noNaN: true }), (T, pctStart, pctFinal, div) => {
        const [peak, finalDiv] = [0.4, 100];
        const v0 = peak / div;
        const [a, b] = [Math.trunc(pctStart * T), Math.trunc(pctFinal * T)];
        const lin = optim.schedules.linearOnecycleSchedule({ transitionSteps: T, peakValue: peak, pctStart, pctFinal, divFactor: div, finalDivFactor: finalDiv });
        const cos = optim.schedules.cosineOnecycleSchedule({ transitionSteps: T, peakValue: peak, pctStart, divFactor: div, finalDivFactor: finalDiv });
        // Optax's points: boundaries int(pct·T) with scales (a Python dict: a repeated boundary keeps
        // the later scale), values the running products from peak/div at step 0; pieces [lo, hi)
        // interpolate between them (empty ones never apply), the last value holds from T on.
        const points = (pairs: [number, number][]) => {
          const m = new Map<number, number>();
          for (const [k, sc] of pairs) m.set(k, sc);
          const sorted = [...m.entries()].sort((x, y) => x[0] - y[0]);
          const vs = [v0];
          for (const [, sc] of sorted) vs.push(vs[vs.length - 1]! * sc);
          return { ks: [0, ...sorted.map(([k]) => k)], vs };
        };
        const valueAt = ({ ks, vs }: { ks: number[]; vs: number[] }, t: number, cosine: boolean): number => {
          if (t >= ks[ks.length - 1]!) return vs[vs.length - 1]!;
          for (let i = 0; i + 1 < ks.length; i++) {
            const [lo, hi, x, y] = [ks[i]!, ks[i + 1]!, vs[i]!, vs[i + 1]!];
            if (t < lo || t >= hi) continue;
            const p = (t - lo) / Math.max(hi - lo, 1);
            return cosine ? y + ((x - y) / 2) * (Math.cos(Math.PI * p) + 1) : x + (y - x) * p;
          }
          return 0;
        };
        const linPts = points([[a, div], [b, 1 / div], [T, 1 / finalDiv]]);
        const cosPts = points([[a, div], [T, 1 / (div * finalDiv)]]);
        for (const t of [0, 1, a - 1, a, a + 1, b - 1, b, b + 1, T - 1, T, T + 5, Math.trunc(T / 2)]) {
          if (t < 0) continue;
          expectAllClose([at(lin, t)], [valueAt(linPts, t, false)], 1e-5, 1e-8, `linearOnecycle T ${T} at ${t}`);
          expectAllClose([at(cos, t)], [valueAt(cosPts, t, true)], 1e-5, 1e-8, `cosineOnecycle T ${T} at ${t}`);
        }
      }),
      { seed: SEED, numRuns: 40 },
    );
  });

  it('linearOnecycle with Optax\'s defaults: 0.004 at 0, the peak 0.1 at step 30, 0.004 at 85, 0.004/1e4 = 4e-7 from 100 on', () => {
    const s = optim.schedules.linearOnecycle({ transitionSteps: 100, peakValue: 0.1 });
    expectAllClose([0, 15, 30, 85, 100, 150].map((t) => at(s, t)), [0.004, 0.052, 0.1, 0.004, 4e-7, 4e-7], 1e-5, 1e-12, 'linearOnecycle(100, 0.1)');
  });
});

// The single-value rule for array hyperparameters (optim/checks.ts): an array of several values ([2])
// broadcast silently over the last axis of every leaf (a per-column rate for a [2, 2] weight), and one
// that holds one value but is not 0-d ([1], [1, 1]) was accepted (in review), then broadcast like any
// array, so the updates (and momentum, clipped or Adafactor states) of lower-rank leaves changed shape.
import { describe, expect, it } from 'vitest';
import { jit, np, scope, vmap, type NDArray } from '../src/index.js';
import * as optim from '../optim/index.js';

const params = () => ({ w: np.ones([2, 3]), b: np.ones([3]), s: np.array(1, 'float32') });
const shapesOf = (t: Record<string, NDArray>) => Object.fromEntries(Object.entries(t).map(([k, v]) => [k, v.shape]));

describe('array hyperparameters of several values, or holding one value but not 0-d', () => {
  const one = () => np.array([0.1], 'float32');
  const oneByOne = () => np.array([[0.1]], 'float32');
  const vector = () => np.array([0.1, 1], 'float32');

  it('are refused when the transformation is built (a [1] rate gave a [1] update for a scalar parameter, a [1, 1] one a [1, 3] update for a [3] vector)', () => {
    scope(() => {
      for (const v of [one(), oneByOne(), vector()]) {
        const shape = `\\[${v.shape.join(', ')}\\]`;
        expect(() => optim.sgd(v)).toThrow(new RegExp(`^sgd: learningRate must be a single value \\(a 0-d array\\), got shape ${shape}`));
        expect(() => optim.adam(v)).toThrow(new RegExp(`^adam: learningRate must be a single value \\(a 0-d array\\), got shape ${shape}`));
        expect(() => optim.sgd(0.1, { momentum: v })).toThrow(/^sgd: momentum must be a single value/);
        expect(() => optim.clipByGlobalNorm(v)).toThrow(/^clipByGlobalNorm: maxNorm must be a single value/);
        expect(() => optim.adamw(0.1, { weightDecay: v })).toThrow(/^adamw: weightDecay must be a single value/);
        expect(() => optim.adafactor(0.1, { clippingThreshold: v })).toThrow(/^adafactor: clippingThreshold must be a single value/);
        expect(() => optim.adafactor(0.1, { decayRate: v })).toThrow(/^scaleByFactoredRms: decayRate must be a single value/);
        expect(() => optim.injectHyperparams((h) => optim.sgd(h.lr), { lr: v })).toThrow(/^injectHyperparams: hyperparameter 'lr' must be a single value \(a 0-d array\)/);
      }
    });
  });

  it('are refused when a schedule gives one or it is put into injectHyperparams state', () => {
    scope(() => {
      const p = params();
      for (const v of [one, () => np.array([0.1, 1], 'float32')]) {
        const scheduled = optim.adam(() => v());
        expect(() => scheduled.update(params(), scheduled.init(p), p)).toThrow(/^scaleBySchedule: the value the schedule gave must be a single value \(a 0-d array\), got shape \[(1|2)\]/);
      }
      const injected = optim.injectHyperparams((h) => optim.sgd(h.lr), { lr: 0.1 });
      const state = injected.init(p);
      state.hyperparams.lr = one();
      expect(() => injected.update(params(), state, p)).toThrow(/^injectHyperparams: state\.hyperparams\.lr must be a single value \(a 0-d array\), got shape \[1\]/);
    });
  });

  it('0-d arrays keep every leaf its shape', () => {
    scope(() => {
      const p = params();
      const z = np.array(0.1, 'float32');
      for (const opt of [optim.sgd(z, { momentum: np.array(0.9, 'float32') }), optim.adam(z), optim.adafactor(z, { minDimSizeToFactor: 2, decayRate: np.array(0.8, 'float32'), clippingThreshold: np.array(1, 'float32') }), optim.chain(optim.clipByGlobalNorm(np.array(1, 'float32')), optim.sgd(() => z))]) {
        const [u] = opt.update(params(), opt.init(p) as never, p) as [Record<string, NDArray>, unknown];
        expect(shapesOf(u)).toEqual({ w: [2, 3], b: [3], s: [] });
      }
    });
  });
});

describe('injectHyperparams built with a schedule of several values', () => {
  it('names itself and the hyperparameter (it was a ConcretizationError from item())', () => {
    expect(() => optim.injectHyperparams((h) => optim.sgd(h.lr), { lr: () => np.array([0.1, 0.2], 'float32') })).toThrow(
      /^injectHyperparams: the value the schedule of 'lr' gave must be a single value \(a 0-d array\), got shape \[2\]/,
    );
  });
});

describe('injectHyperparams built inside jit or vmap (as Optax allows: the value is stored in the state)', () => {
  // Its construction read each value with item() to validate it, which a traced value cannot give:
  // a ConcretizationError under jit and vmap, while the same code ran eagerly.
  const w = () => np.array([1, 2, 3], 'float32');
  const stepWith = (lr: NDArray, p: NDArray, scheduled: boolean) => {
    const opt = optim.injectHyperparams((h) => optim.sgd(h.lr, { momentum: 0.9 }), { lr: scheduled ? (c: NDArray | number) => np.multiply(lr, np.add(c, 1)) : lr });
    let state = opt.init({ p });
    let u: { p: NDArray } = { p };
    for (let i = 0; i < 2; i++) [u, state] = opt.update({ p }, state, { p });
    return u.p;
  };
  it('jit gives the eager updates, for an array and for a schedule closing over a traced value', () => {
    scope(() => {
      for (const scheduled of [false, true]) {
        const eager = Array.from(stepWith(np.array(0.1, 'float32'), w(), scheduled).dataSync());
        const f = jit((lr: NDArray, p: NDArray) => stepWith(lr, p, scheduled));
        const jitted = Array.from(f(np.array(0.1, 'float32'), w()).dataSync());
        f.clearCache();
        jitted.forEach((x, i) => expect(x, `scheduled ${scheduled}, element ${i}`).toBeCloseTo(eager[i]!, 6));
      }
    });
  });
  it('vmap over the learning rate gives each rate\'s eager updates', () => {
    scope(() => {
      const got = vmap((lr: NDArray) => stepWith(lr, w(), false))(np.array([0.1, 0.2], 'float32'));
      expect(got.shape).toEqual([2, 3]);
      const want = [0.1, 0.2].flatMap((lr) => Array.from(stepWith(np.array(lr, 'float32'), w(), false).dataSync()));
      Array.from(got.dataSync()).forEach((x, i) => expect(x, `element ${i}`).toBeCloseTo(want[i]!, 6));
    });
  });
});

describe("scaleByFactoredRms's decaySchedule", () => {
  // Its value was not checked like other schedules': a [2] β̂₂ gave a scalar leaf a [2] update and
  // second moment on the first step, and the next step failed on the state's shape.
  it('must give a single value (a 0-d array), checked at the step that uses it', () => {
    scope(() => {
      const p = { w: np.ones([3, 2]), s: np.array(1, 'float32') };
      for (const v of [np.array([0.9, 0.5], 'float32'), np.array([0.9], 'float32')]) {
        const opt = optim.scaleByFactoredRms({ decaySchedule: () => v });
        expect(() => opt.update(p, opt.init(p), p)).toThrow(new RegExp(`^scaleByFactoredRms: the value decaySchedule gave must be a single value \\(a 0-d array\\), got shape \\[${v.shape.join(', ')}\\]`));
      }
      const ok = optim.scaleByFactoredRms({ decaySchedule: () => np.array(0.9, 'float32') });
      const [u] = ok.update(p, ok.init(p), p);
      expect([u.w.shape, u.s.shape]).toEqual([[3, 2], []]);
    });
  });
});

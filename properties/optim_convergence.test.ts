// Every optimizer alias minimises a quadratic over a parameter tree and Rosenbrock's function from
// the standard start (−1.2, 1), and a training loop of 1000 steps leaves the number of live tensors
// unchanged (gradus frees every intermediate; `applyGradients` frees what it replaces).
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { grad, np, scope, type NDArray } from '../src/index.js';
import * as optim from '../optim/index.js';

type Quad = { w: NDArray; b: NDArray };

// f(θ) = Σ a ⊙ (θ − c)² over two leaves, curvatures 2a ∈ [1, 4], minimum 0 at θ = c.
const A = { w: np.array([[0.5, 1, 1.5, 2], [2, 1, 0.7, 0.6], [1, 1.3, 0.9, 1]], 'float32'), b: np.array([0.5, 2, 1, 1.2], 'float32') };
const C = { w: np.array([[1, -2, 0.5, 3], [0, 1, 1, -1], [2, 2, -0.3, 0.1]], 'float32'), b: np.array([1, -1, 0.5, 2], 'float32') };
const quadratic = (p: Quad): NDArray =>
  np.add(np.sum(np.multiply(A.w, np.square(np.subtract(p.w, C.w)))), np.sum(np.multiply(A.b, np.square(np.subtract(p.b, C.b)))));

const quadraticGrad = (p: Quad): Quad => ({
  w: np.multiply(np.multiply(A.w, 2), np.subtract(p.w, C.w)),
  b: np.multiply(np.multiply(A.b, 2), np.subtract(p.b, C.b)),
});

// Rosenbrock: (1 − x)² + 100 (y − x²)², minimum 0 at (1, 1).
const rosenbrock = (p: { xy: NDArray }): NDArray => {
  const x = p.xy.at(0);
  const y = p.xy.at(1);
  return np.add(np.square(np.subtract(1, x)), np.multiply(100, np.square(np.subtract(y, np.square(x)))));
};
// Its gradient by hand (read back: two numbers), which keeps these long runs fast; the first steps
// are checked against grad(rosenbrock).
const rosenbrockGrad = (p: { xy: NDArray }): { xy: NDArray } => {
  const [x, y] = Array.from(p.xy.dataSync()) as [number, number];
  return { xy: np.array([-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)], 'float32') };
};

/** A loss value as a JS number (the evaluation's arrays are freed). */
const valueOf = <P>(loss: (p: P) => NDArray, p: P): number => scope(() => Number(loss(p)));

/** Runs `steps` training steps; returns the final parameters and how many tensors the loop left behind. */
function train<P>(opt: optim.Optimizer, g: (p: P) => P, params: P, steps: number): { params: P; leaked: number } {
  let state = opt.init(params);
  const before = tf.memory().numTensors;
  let p = params;
  for (let i = 0; i < steps; i++) {
    const grads = scope(() => g(p));
    [p, state] = optim.applyGradients(opt, grads, state, p);
    optim.freeTree(grads, [p, state]);
  }
  const leaked = tf.memory().numTensors - before;
  optim.freeTree(state, p);
  return { params: p, leaked };
}

const cosine = (initValue: number, decaySteps: number) => optim.schedules.cosine({ initValue, decaySteps });

interface Case {
  name: string;
  /** Optimizer for the quadratic (1000 steps, from θ = 1). */
  quadratic: () => optim.Optimizer;
  /** Optimizer for Rosenbrock and its step budget. */
  rosenbrock?: (steps: number) => optim.Optimizer;
  rosenbrockSteps?: number;
}

// Learning rates picked once per optimizer; schedules decay to 0 so the last iterates settle.
const CASES: Case[] = [
  { name: 'sgd', quadratic: () => optim.sgd(0.1), rosenbrock: () => optim.sgd(2e-3, { momentum: 0.9 }), rosenbrockSteps: 1000 },
  {
    name: 'sgd (nesterov)',
    quadratic: () => optim.sgd(0.05, { momentum: 0.9, nesterov: true }),
    rosenbrock: () => optim.sgd(1e-3, { momentum: 0.9, nesterov: true }),
    rosenbrockSteps: 1500,
  },
  { name: 'adam', quadratic: () => optim.adam(cosine(0.1, 1000)), rosenbrock: (n) => optim.adam(cosine(0.1, n), { b2: 0.99 }), rosenbrockSteps: 1000 },
  {
    name: 'adamw',
    quadratic: () => optim.adamw(cosine(0.1, 1000), { weightDecay: 1e-5 }),
    rosenbrock: (n) => optim.adamw(cosine(0.1, n), { b2: 0.99, weightDecay: 1e-5 }),
    rosenbrockSteps: 1000,
  },
  { name: 'rmsprop', quadratic: () => optim.rmsprop(cosine(0.03, 1000)), rosenbrock: () => optim.rmsprop(1e-3, { momentum: 0.9 }), rosenbrockSteps: 1000 },
  {
    name: 'rmsprop (centered)',
    quadratic: () => optim.rmsprop(cosine(0.03, 1000), { centered: true, momentum: 0.5 }),
    rosenbrock: () => optim.rmsprop(1e-3, { centered: true, momentum: 0.9 }),
    rosenbrockSteps: 1000,
  },
  { name: 'adamax', quadratic: () => optim.adamax(cosine(0.1, 1000)), rosenbrock: (n) => optim.adamax(cosine(0.1, n), { b2: 0.99 }), rosenbrockSteps: 1000 },
  { name: 'lamb', quadratic: () => optim.lamb(cosine(0.05, 1000)), rosenbrock: (n) => optim.lamb(cosine(0.03, n), { b1: 0.95, b2: 0.99 }), rosenbrockSteps: 1500 },
  {
    name: 'adafactor',
    quadratic: () => optim.adafactor(cosine(0.1, 1000)),
    rosenbrock: (n) => optim.adafactor(cosine(0.1, n), { momentum: 0.9 }),
    rosenbrockSteps: 1500,
  },
  // The relative step ρ_t = min(1e-2, 1/√t)·RMS(θ) is meant for large models; on Rosenbrock it
  // crawls (steps of 1% of |θ| until t = 10⁴), so it gets the quadratic only.
  { name: 'adafactor (relative step)', quadratic: () => optim.adafactor(undefined) },
];

describe('every optimizer converges and leaks nothing', () => {
  it('the hand-written gradients agree with grad()', () => {
    scope(() => {
      const q: Quad = { w: np.reshape(np.linspace(-1, 2, 12), [3, 4]), b: np.array([0.3, -0.7, 2, 1], 'float32') };
      const close = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).forEach((v, i) => expect(v).toBeCloseTo(b[i]!, 3));
      const [g1, g2] = [grad(quadratic)(q), quadraticGrad(q)];
      close(g1.w.dataSync(), g2.w.dataSync());
      close(g1.b.dataSync(), g2.b.dataSync());
      for (const xy of [[-1.2, 1], [0.5, -0.3], [1, 1]]) {
        const r = { xy: np.array(xy, 'float32') };
        close(grad(rosenbrock)(r).xy.dataSync(), rosenbrockGrad(r).xy.dataSync());
      }
      return null;
    });
  });

  for (const c of CASES) {
    it(`${c.name} minimises a quadratic over a tree in 1000 steps, leaving no tensor behind`, () => {
      const start = tf.memory().numTensors;
      const params: Quad = { w: np.ones([3, 4]), b: np.ones([4]) };
      const f0 = valueOf(quadratic, params);
      const { params: p, leaked } = train(c.quadratic(), quadraticGrad, params, 1000);
      expect(leaked).toBe(0);
      expect(valueOf(quadratic, p) / f0).toBeLessThan(1e-6);
      optim.freeTree(p);
      expect(tf.memory().numTensors).toBe(start);
    });

    if (c.rosenbrock === undefined) continue;
    const makeRosenbrock = c.rosenbrock;
    const steps = c.rosenbrockSteps ?? 1000;
    it(`${c.name} reaches Rosenbrock's minimum (1, 1) from (−1.2, 1) in ${steps} steps`, () => {
      const { params: p, leaked } = train(makeRosenbrock(steps), rosenbrockGrad, { xy: np.array([-1.2, 1], 'float32') }, steps);
      expect(leaked).toBe(0);
      const [x, y] = Array.from(p.xy.dataSync());
      expect(Math.hypot(x! - 1, y! - 1)).toBeLessThan(1e-2);
      optim.freeTree(p);
    });
  }

  // The wrappers keep their own state (slow weights, accumulators, counters, averages): 200 steps each.
  const wrappers: [string, () => optim.Optimizer][] = [
    ['lookahead(adam)', () => optim.lookahead(optim.adam(0.05), { syncPeriod: 5, slowStepSize: 0.5 })],
    ['multiSteps(sgd)', () => optim.multiSteps(optim.sgd(0.1), 3)],
    ['applyIfFinite(rmsprop)', () => optim.applyIfFinite(optim.rmsprop(0.01))],
    ['paramsEma(adamax)', () => optim.paramsEma(optim.adamax(0.05), 0.9)],
    ['injectHyperparams(adamw)', () => optim.injectHyperparams((h) => optim.adamw(h.lr, { weightDecay: h.wd }), { lr: cosine(0.1, 200), wd: 1e-4 })],
    [
      'multiTransform + masked + clipping chain',
      () =>
        optim.chain(
          optim.clipByGlobalNorm(10),
          optim.masked(optim.clipByNorm(5), { w: true, b: false }),
          optim.multiTransform({ fast: optim.adam(0.05), slow: optim.chain(optim.adam(0.05), optim.scale(0.5)) }, { w: 'fast', b: 'slow' }),
        ),
    ],
  ];
  for (const [name, make] of wrappers) {
    it(`${name} trains 200 steps without leaking and lowers the loss`, () => {
      const params: Quad = { w: np.ones([3, 4]), b: np.ones([4]) };
      const f0 = valueOf(quadratic, params);
      const { params: p, leaked } = train(make(), quadraticGrad, params, 200);
      expect(leaked).toBe(0);
      expect(valueOf(quadratic, p)).toBeLessThan(0.05 * f0);
      optim.freeTree(p);
    });
  }
});

// Single-loss GAN properties (algorithms.md §2.5): one loss built with stop-gradient carries the D
// loss's value and D gradient, λ times the G loss's gradient for G, and one SGD step on it is the
// simultaneous two-net step; the parameter-level form and (for zero-sum losses) gradient reversal
// give the same gradients; the losses' two sign conventions agree; training does not leak tensors.
import * as tf from '@tensorflow/tfjs-core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as gan from '../models/gan.js';
import type { DenseParams } from '../models/nn.js';
import * as optim from '../optim/index.js';
import { dispose, grad, gradientReversal, jit, np, random, scope, stopGradient, tree, valueAndGrad, vjp, type NDArray } from '../src/index.js';

const FC = { seed: 42 } as const;

type Params = gan.GanParams<DenseParams[], DenseParams[]>;
type Spec = gan.GanSpec<DenseParams[], DenseParams[]>;

const LOSSES: Record<string, () => gan.GanLoss> = {
  'hinge su': () => gan.hinge('su'),
  'hinge common': () => gan.hinge('common'),
  'non-saturating su': () => gan.nonSaturating('su'),
  'non-saturating common': () => gan.nonSaturating('common'),
  'wasserstein su': () => gan.wasserstein('su'),
};

/** A small GAN case: nets, data and noise drawn from one seed, a loss and λ. */
interface Case {
  seed: number;
  lossName: string;
  lambda: number;
  /** γ of an R1 penalty in L_D (0: none). */
  r1: number;
}

const arbCase: fc.Arbitrary<Case> = fc.record({
  seed: fc.integer({ min: 0, max: 2 ** 30 }),
  lossName: fc.constantFrom(...Object.keys(LOSSES)),
  lambda: fc.oneof(fc.constant(1), fc.double({ min: 0.05, max: 4, noNaN: true })),
  r1: fc.constantFrom(0, 0, 0.5),
});

const Z = 3, BATCH = 6;

/** Builds the case's parameters and batch (call inside a scope). */
function build(c: Case): { spec: Spec; params: Params; real: NDArray; z: NDArray } {
  const k = (i: number) => random.foldIn(random.key(c.seed), i);
  const spec: Spec = { generator: gan.mlpGenerator.apply, discriminator: gan.mlpDiscriminator.apply, loss: LOSSES[c.lossName]!(), lambda: c.lambda };
  if (c.r1 > 0) spec.dRegularizer = gan.r1Penalty(gan.mlpDiscriminator.apply, c.r1);
  const params = {
    d: gan.mlpDiscriminator.init(k(0), 2, { hidden: 8 }),
    g: gan.mlpGenerator.init(k(1), Z, 2, { hidden: 8, layers: 1 }),
  };
  return { spec, params, real: random.normal(k(2), [BATCH, 2]).mul(2), z: random.normal(k(3), [BATCH, Z]) };
}

function flat(t: unknown): number[][] {
  return tree.leaves(t).map((x) => Array.from((x as NDArray).dataSync()));
}

/** max |a − b| ≤ tol · max(1, max |b|) over every leaf, trees of the same structure. */
function expectTreeClose(a: unknown, b: unknown, tol: number, label: string): void {
  const [fa, fb] = [flat(a), flat(b)];
  expect(fa.length, `${label}: leaf count`).toBe(fb.length);
  let scale = 1, worst = 0;
  fb.forEach((leaf) => leaf.forEach((v) => (scale = Math.max(scale, Math.abs(v)))));
  fa.forEach((leaf, i) => leaf.forEach((v, j) => (worst = Math.max(worst, Math.abs(v - fb[i]![j]!)))));
  if (!(worst <= tol * scale)) throw new Error(`${label}: max abs difference ${worst} exceeds ${tol} × ${scale}`);
}

function expectAllZero(t: unknown, label: string): void {
  flat(t).forEach((leaf) => leaf.forEach((v) => expect(v, label).toBe(0)));
}

function scaleTree<T>(t: T, s: number): T {
  return tree.map((x: NDArray) => x.mul(s), t as never) as T;
}

describe('single-loss GAN (algorithms.md §2.5)', () => {
  it('the single loss has the value of the D loss alone (the G part is exactly 0)', () => {
    fc.assert(
      fc.property(arbCase, (c) =>
        scope(() => {
          const { spec, params, real, z } = build(c);
          const single = gan.singleLossGan(spec)(params, real, z).item();
          const dLoss = gan.discriminatorLoss(spec)(params, real, z).item();
          expect(single).toBe(dLoss);
        }),
      ),
      { ...FC, numRuns: 30 },
    );
  });

  it("D's gradient of the single loss is the D loss's gradient", () => {
    fc.assert(
      fc.property(arbCase, (c) =>
        scope(() => {
          const { spec, params, real, z } = build(c);
          const g = grad(gan.singleLossGan(spec))(params, real, z);
          const want = grad(gan.discriminatorLoss(spec))(params, real, z);
          expectTreeClose(g.d, want.d, 1e-6, 'grad θ');
        }),
      ),
      { ...FC, numRuns: 30 },
    );
  });

  it("G's gradient is λ × the G loss's gradient, and the D-loss terms give G exactly zero", () => {
    fc.assert(
      fc.property(arbCase, (c) =>
        scope(() => {
          const { spec, params, real, z } = build(c);
          const g = grad(gan.singleLossGan(spec))(params, real, z);
          const want = scaleTree(grad(gan.generatorLoss(spec))(params, z).g, c.lambda);
          expectTreeClose(g.g, want, 1e-6, 'grad φ');
          // The first two terms of §2.2 alone: L_D(θ; sg(G_φ(z))).
          const L = spec.loss!;
          const firstTwo = (p: Params) => L.discriminator(spec.discriminator(p.d, real), spec.discriminator(p.d, stopGradient(spec.generator(p.g, z))));
          expectAllZero(grad(firstTwo)(params).g, 'grad φ of the D-loss terms');
        }),
      ),
      { ...FC, numRuns: 30 },
    );
  });

  it('one SGD step on the single loss is the simultaneous step D ← D − α∇L_D, G ← G − λα∇L_G', () => {
    fc.assert(
      fc.property(arbCase, fc.double({ min: 1e-3, max: 0.5, noNaN: true }), (c, alpha) =>
        scope(() => {
          const { spec, params, real, z } = build(c);
          const opt = optim.sgd(alpha);
          const [updates] = opt.update(grad(gan.singleLossGan(spec))(params, real, z), opt.init(params), params);
          const next = optim.applyUpdates(params, updates);
          const gd = grad(gan.discriminatorLoss(spec))(params, real, z).d;
          const gg = grad(gan.generatorLoss(spec))(params, z).g;
          const sub = (p: unknown, g: unknown, s: number) => tree.map((x: NDArray, y: NDArray) => x.sub(y.mul(s)), p as never, g as never);
          expectTreeClose(next.d, sub(params.d, gd, alpha), 1e-6, 'D after one step');
          expectTreeClose(next.g, sub(params.g, gg, alpha * c.lambda), 1e-6, 'G after one step');
        }),
      ),
      { ...FC, numRuns: 20 },
    );
  });

  it('the parameter-level form L_D(θ, sg φ) + λ L_G(sg θ, φ) has the same gradients as the output-level form', () => {
    fc.assert(
      fc.property(arbCase, (c) =>
        scope(() => {
          const { spec, params, real, z } = build(c);
          const a = grad(gan.singleLossGan(spec, { form: 'output' }))(params, real, z);
          const b = grad(gan.singleLossGan(spec, { form: 'params' }))(params, real, z);
          expectTreeClose(a, b, 1e-6, 'gradients');
          // Its value is L_D + λ L_G.
          const v = gan.singleLossGan(spec, { form: 'params' })(params, real, z).item() as number;
          const want = (gan.discriminatorLoss(spec)(params, real, z).item() as number) + c.lambda * (gan.generatorLoss(spec)(params, z).item() as number);
          expect(v).toBeCloseTo(want, 5);
        }),
      ),
      { ...FC, numRuns: 30 },
    );
  });

  it('for a zero-sum loss, gradient reversal on G(z) gives the same gradients as the other forms', () => {
    fc.assert(
      fc.property(arbCase, (c0) =>
        scope(() => {
          const c = { ...c0, lossName: 'wasserstein su' };
          const { spec, params, real, z } = build(c);
          const a = grad(gan.singleLossGan(spec, { form: 'output' }))(params, real, z);
          const b = grad(gan.singleLossGan(spec, { form: 'reversal' }))(params, real, z);
          expectTreeClose(b, a, 1e-5, 'gradients');
        }),
      ),
      { ...FC, numRuns: 20 },
    );
    scope(() => {
      const { spec } = build({ seed: 0, lossName: 'hinge su', lambda: 1, r1: 0 });
      expect(() => gan.singleLossGan(spec, { form: 'reversal' })).toThrow(/zero-sum/);
    });
  });

  it('the single loss and its gradient are the same under jit', () => {
    scope(() => {
      const { spec, params, real, z } = build({ seed: 7, lossName: 'hinge su', lambda: 0.5, r1: 0.5 });
      const f = valueAndGrad(gan.singleLossGan(spec));
      const jf = jit(f);
      const [v1, g1] = f(params, real, z);
      const [v2, g2] = jf(params, real, z);
      expect(v2.item()).toBeCloseTo(v1.item() as number, 6);
      expectTreeClose(g2, g1, 1e-6, 'jit gradients');
      jf.clearCache();
    });
  });
});

describe('gradient reversal gr_λ(x) = −λx + sg((1+λ)x)', () => {
  const arbInput = fc.record({
    xs: fc.array(fc.double({ min: -100, max: 100, noNaN: true }), { minLength: 1, maxLength: 12 }),
    cts: fc.array(fc.double({ min: -100, max: 100, noNaN: true }), { minLength: 12, maxLength: 12 }),
    lambda: fc.oneof(fc.constant(1), fc.double({ min: 0, max: 10, noNaN: true })),
  });

  it('has the value x', () => {
    fc.assert(
      fc.property(arbInput, ({ xs, lambda }) =>
        scope(() => {
          const x = np.array(xs);
          const got = Array.from(gradientReversal(x, lambda).dataSync());
          const want = Array.from(x.dataSync());
          // (1+λ)x − λx is x up to two float32 roundings; exactly x for λ = 1.
          got.forEach((v, i) => expect(Math.abs(v - want[i]!)).toBeLessThanOrEqual(lambda === 1 ? 0 : 4e-7 * (1 + lambda) * Math.abs(want[i]!)));
        }),
      ),
      { ...FC, numRuns: 100 },
    );
  });

  it('has the VJP ct ↦ −λ·ct', () => {
    fc.assert(
      fc.property(arbInput, ({ xs, cts, lambda }) =>
        scope(() => {
          const x = np.array(xs);
          const ct = np.array(cts.slice(0, xs.length));
          const [, pull] = vjp((a: NDArray) => gradientReversal(a, lambda), x);
          const [got] = pull(ct);
          const want = Array.from(ct.dataSync()).map((v) => Math.fround(-lambda * v));
          Array.from(got.dataSync()).forEach((v, i) => expect(Math.abs(v - want[i]!)).toBeLessThanOrEqual(1e-6 * Math.abs(want[i]!)));
        }),
      ),
      { ...FC, numRuns: 100 },
    );
  });
});

describe('R1 penalty', () => {
  it('is (γ/2)·||w||² for a linear discriminator D(x) = x·w + b', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 30 }), fc.double({ min: 0.01, max: 10, noNaN: true }), (seed, gamma) =>
        scope(() => {
          const d = gan.mlpDiscriminator.init(random.key(seed), 3, { layers: 0 });
          const x = random.normal(random.foldIn(random.key(seed), 1), [5, 3]);
          const got = gan.r1Penalty(gan.mlpDiscriminator.apply, gamma)(d, x).item() as number;
          const w = Array.from(d[0]!.w.dataSync());
          expect(got).toBeCloseTo((gamma / 2) * w.reduce((a, v) => a + v * v, 0), 4);
        }),
      ),
      { ...FC, numRuns: 20 },
    );
  });
});

describe('GAN losses', () => {
  const arbScores = fc.record({
    real: fc.array(fc.double({ min: -5, max: 5, noNaN: true }), { minLength: 1, maxLength: 8 }),
    fake: fc.array(fc.double({ min: -5, max: 5, noNaN: true }), { minLength: 1, maxLength: 8 }),
  });

  it("Su's convention on D equals the common convention on −D", () => {
    fc.assert(
      fc.property(arbScores, fc.constantFrom(gan.hinge, gan.nonSaturating, gan.wasserstein), ({ real, fake }, make) =>
        scope(() => {
          const [su, common] = [make('su'), make('common')];
          const [r, f] = [np.array(real), np.array(fake)];
          const [nr, nf] = [r.neg(), f.neg()];
          expect(su.discriminator(r, f).item()).toBeCloseTo(common.discriminator(nr, nf).item() as number, 5);
          expect(su.generator(f).item()).toBeCloseTo(common.generator(nf).item() as number, 5);
        }),
      ),
      { ...FC, numRuns: 100 },
    );
  });

  it('match their closed forms on a small example', () => {
    scope(() => {
      // Su's hinge: real scored low, fake high; margins beyond ±1 cost nothing.
      expect(gan.hinge('su').discriminator([-1, -2], [1, 3]).item()).toBe(0);
      expect(gan.hinge('su').discriminator([0], [0]).item()).toBe(2);
      expect(gan.hinge('common').generator([2, 4]).item()).toBe(-3);
      expect(gan.nonSaturating('common').generator([0]).item()).toBeCloseTo(Math.LN2, 6);
      expect(gan.nonSaturating('common').discriminator([0], [0]).item()).toBeCloseTo(2 * Math.LN2, 6);
    });
  });
});

describe('TTUR: one optimizer with a learning rate per net', () => {
  it('ttur with SGD(α_D), SGD(α_G) steps D by α_D ∇L_D and G by λ α_G ∇L_G', () => {
    fc.assert(
      fc.property(arbCase, fc.double({ min: 1e-3, max: 0.5, noNaN: true }), fc.double({ min: 1e-3, max: 0.5, noNaN: true }), (c, aD, aG) =>
        scope(() => {
          const { spec, params, real, z } = build(c);
          const opt = gan.ttur({ discriminator: optim.sgd(aD), generator: optim.sgd(aG) });
          const [updates] = opt.update(grad(gan.singleLossGan(spec))(params, real, z), opt.init(params), params);
          expectTreeClose(updates.d, scaleTree(grad(gan.discriminatorLoss(spec))(params, real, z).d, -aD), 1e-6, 'D updates');
          expectTreeClose(updates.g, scaleTree(grad(gan.generatorLoss(spec))(params, z).g, -aG * c.lambda), 1e-6, 'G updates');
        }),
      ),
      { ...FC, numRuns: 15 },
    );
  });

  it('labels every leaf under d and g, and rejects other trees with a message naming the path', () => {
    scope(() => {
      const { params } = build({ seed: 1, lossName: 'hinge su', lambda: 1, r1: 0 });
      const labels = tree.leaves(gan.ganLabels(params));
      expect(labels.filter((l) => l === 'discriminator').length).toBe(tree.leaves(params.d).length);
      expect(labels.filter((l) => l === 'generator').length).toBe(tree.leaves(params.g).length);
      const opt = gan.ttur({ discriminator: 1e-3, generator: 1e-3 });
      expect(() => opt.init({ ...params, extra: np.zeros([2]) })).toThrow(/\.extra/);
    });
  });
});

describe('nets and training', () => {
  it('conv nets map noise to 28×28 images and images to one score each; the single-loss D gradient still equals the D-loss gradient', () => {
    scope(() => {
      const k = (i: number) => random.foldIn(random.key(3), i);
      const params = { d: gan.convDiscriminator.init(k(0), { channels: 2 }), g: gan.convGenerator.init(k(1), 4, { channels: 2 }) };
      const spec = { generator: gan.convGenerator.apply, discriminator: gan.convDiscriminator.apply };
      const z = random.normal(k(2), [2, 4]);
      const fake = gan.convGenerator.apply(params.g, z);
      expect(fake.shape).toEqual([2, 28, 28, 1]);
      expect(gan.convDiscriminator.apply(params.d, fake).shape).toEqual([2]);
      const real = random.uniform(k(3), [2, 28, 28, 1]);
      const g = grad(gan.singleLossGan(spec))(params, real, z);
      expectTreeClose(g.d, grad(gan.discriminatorLoss(spec))(params, real, z).d, 1e-6, 'conv grad θ');
      expectTreeClose(g.g, grad(gan.generatorLoss(spec))(params, z).g, 1e-6, 'conv grad φ');
    });
  });

  it('training steps (eager and jit) leave no tensors behind', () => {
    const run = (useJit: boolean) => {
      const before = tf.memory().numTensors;
      let { spec, params, real, z } = scope(() => build({ seed: 5, lossName: 'hinge su', lambda: 1, r1: 0.5 }));
      const opt = gan.ttur({ discriminator: 1e-3, generator: 5e-4 }, (lr) => optim.adam(lr, { b1: 0.5 }));
      let state = opt.init(params);
      const loss = gan.singleLossGan(spec);
      const body = (p: Params, s: typeof state, r: NDArray, zz: NDArray) => {
        const [value, grads] = valueAndGrad(loss)(p, r, zz);
        const [updates, s2] = opt.update(grads, s, p);
        return { params: optim.applyUpdates(p, updates), state: s2, value };
      };
      const step = useJit ? jit(body) : body;
      let last = NaN;
      for (let i = 0; i < 4; i++) {
        const out = scope(() => step(params, state, real, z));
        dispose([params, state], { keep: out });
        ({ params, state } = out);
        last = out.value.item() as number;
        dispose(out.value);
      }
      expect(Number.isFinite(last)).toBe(true);
      dispose([params, state, real, z]);
      if (useJit) (step as unknown as { clearCache(): void }).clearCache();
      expect(tf.memory().numTensors).toBe(before);
    };
    run(false);
    run(true);
  });
});

// Energy-based models (algorithms.md §6.6, §7h): the samplers' stationary laws on Gaussian energies,
// the contrastive loss's gradient and lower bound, the replay buffer's ring invariants, denoising
// score matching in closed form, and memory. Statistical checks use many independent chains and
// tolerances of a few standard errors, tight enough to catch a wrong step factor.
import * as tf from '@tensorflow/tfjs-core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as ebm from '../models/ebm.js';
import { spectralNorm } from '../models/nn.js';
import * as optim from '../optim/index.js';
import { dispose, grad, jit, np, random, scope, stopGradient, tree, vmap, type NDArray } from '../src/index.js';

const FC = { seed: 42 };
const D = 4; // dimensions of the Gaussian targets
const CHAINS = 8192;

/** U(x) = ‖x − μ‖²/(2s²) per example. */
function gaussianEnergy(mu: number[], s: number): ebm.EnergyFn {
  return (x) => np.sum(np.square(x.sub(np.array(mu))), 1).div(2 * s * s);
}

/** Per-dimension sample means [D] and the pooled per-dimension variance of samples [N, D]. */
function moments(x: NDArray): { mean: number[]; variance: number } {
  return scope(() => ({
    mean: Array.from(np.mean(x, 0).dataSync()),
    variance: np.mean(np.variance(x, 0, false, 1)).item() as number,
  }));
}

/**
 * Whether samples [N, D] have mean μ and variance v within z standard errors: SE(mean) = √(v/N),
 * SE(pooled variance) = v·√(2/(N·D)) for Gaussian samples.
 */
function momentsMatch(m: { mean: number[]; variance: number }, mu: number[], v: number, n: number, z = 5): boolean {
  const seMean = Math.sqrt(v / n);
  const seVar = v * Math.sqrt(2 / (n * mu.length));
  return m.mean.every((a, i) => Math.abs(a - mu[i]!) < z * seMean) && Math.abs(m.variance - v) < z * seVar;
}

const gaussianCase = fc.record({
  mu: fc.array(fc.double({ min: -2, max: 2, noNaN: true }), { minLength: D, maxLength: D }),
  s: fc.double({ min: 0.5, max: 2, noNaN: true }),
  /** r = ε/s²: the AR(1) coefficient is a = 1 − r/2. */
  r: fc.double({ min: 0.3, max: 1, noNaN: true }),
  seed: fc.integer({ min: 0, max: 1_000_000 }),
});

describe('ULA (theory form) on a Gaussian energy', () => {
  it('has stationary mean μ and the discretisation-biased variance s²/(1 − ε/(4s²)) (§6.6.1)', () => {
    fc.assert(
      fc.property(gaussianCase, ({ mu, s, r, seed }) => {
        const eps = r * s * s;
        const vTheory = (s * s) / (1 - eps / (4 * s * s));
        const [m, wrong] = scope(() => {
          const key = random.key(seed);
          const x0 = np.zeros([CHAINS, D]);
          const opts = { stepSize: eps, steps: 60 }; // a^60 ≤ 0.85^60 ≈ 6e-5: the start is forgotten
          const x = ebm.langevin(gaussianEnergy(mu, s), x0, key, opts);
          // A sampler with the drift ε∇U instead of (ε/2)∇U (the same as running on 2U).
          const bad = ebm.langevin((y) => gaussianEnergy(mu, s)(y).mul(2), x0, key, opts);
          return [moments(x), moments(bad)];
        });
        expect(momentsMatch(m, mu, vTheory, CHAINS), `mean ${m.mean} var ${m.variance} vs μ ${mu} v ${vTheory}`).toBe(true);
        // The bias is visible: the unbiased s² is rejected, and so is a wrong step factor.
        expect(momentsMatch(m, mu, s * s, CHAINS)).toBe(false);
        expect(momentsMatch(wrong, mu, vTheory, CHAINS)).toBe(false);
      }),
      { ...FC, numRuns: 3 },
    );
  });

  it('one theory step is x − (ε/2)∇U(x) + √ε·ξ with ξ = normal(key)', () => {
    scope(() => {
      const mu = [0.5, -1, 2, 0];
      const s = 0.8, eps = 0.1;
      const key = random.key(3);
      const x = random.normal(random.key(4), [5, D]);
      const got = ebm.langevinStep(gaussianEnergy(mu, s), x, key, { stepSize: eps, steps: 1 });
      const gradU = x.sub(np.array(mu)).div(s * s);
      const want = x.sub(gradU.mul(eps / 2)).add(random.normal(key, [5, D]).mul(Math.sqrt(eps)));
      expect(np.max(np.abs(got.sub(want))).item()).toBeLessThan(1e-5);
    });
  });
});

describe('ULA (IGEBM form)', () => {
  it('adds noise σξ first, then steps −η·clip(∇E) at the noisy point, then clips the values', () => {
    scope(() => {
      const c = np.array([3, -0.002, 0.5]);
      const linear: ebm.EnergyFn = (x) => np.sum(x.mul(c), 1); // ∇E = c everywhere
      const key = random.key(7);
      const x = random.uniform(random.key(8), [6, 3], 0.2, 0.8);
      const opts: ebm.LangevinOptions = { stepSize: 10, steps: 1, noiseScale: 0.005, gradClip: 0.01 };
      expect(ebm.langevinForm(opts)).toBe('igebm');
      const got = ebm.langevinStep(linear, x, key, opts);
      const want = x.add(random.normal(key, [6, 3]).mul(0.005)).sub(np.array([0.01, -0.002, 0.01]).mul(10));
      expect(np.max(np.abs(got.sub(want))).item()).toBeLessThan(1e-5);
      const clipped = ebm.langevin(linear, x, key, { ...opts, steps: 5, clipRange: [0, 1] });
      expect(np.min(clipped).item()).toBeGreaterThanOrEqual(0);
      expect(np.max(clipped).item()).toBeLessThanOrEqual(1);
    });
  });

  it('the IGEBM form defaults to the gradient clip ±0.01 and the sample range [0, 1] (§6.4); null turns either off; the theory form clips nothing unless asked', () => {
    const before = tf.memory().numTensors;
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: -5, max: 5, noNaN: true }), { minLength: 3, maxLength: 3 }),
        fc.double({ min: 0.5, max: 20, noNaN: true }),
        fc.constantFrom<'noiseScale' | 'form'>('noiseScale', 'form'),
        fc.nat(1000),
        (cs, eta, select, seed) => {
          scope(() => {
            const c = np.array(cs);
            const linear: ebm.EnergyFn = (x) => np.sum(x.mul(c), 1); // ∇E = c everywhere
            const key = random.key(seed);
            const x = random.uniform(random.key(seed + 1), [5, 3], 0, 1);
            // IGEBM selected either way: by giving the noise, or by naming the form (σ then defaults to 0.005).
            const opts: ebm.LangevinOptions = select === 'noiseScale' ? { stepSize: eta, steps: 1, noiseScale: 0.005 } : { stepSize: eta, steps: 1, form: 'igebm' };
            const noisy = x.add(random.normal(key, [5, 3]).mul(0.005));
            const want = np.clip(noisy.sub(np.clip(c, -0.01, 0.01).mul(eta)), 0, 1);
            expect(np.max(np.abs(ebm.langevinStep(linear, x, key, opts).sub(want))).item()).toBeLessThan(1e-5);
            const unclipped = noisy.sub(c.mul(eta));
            const off = ebm.langevinStep(linear, x, key, { ...opts, gradClip: null, clipRange: null });
            expect(np.max(np.abs(off.sub(unclipped))).item()).toBeLessThan(1e-4 * eta);
            // A chain stays in [0, 1] whatever the gradient.
            const chain = ebm.langevin(linear, x, key, { ...opts, steps: 4 });
            expect(np.min(chain).item()).toBeGreaterThanOrEqual(0);
            expect(np.max(chain).item()).toBeLessThanOrEqual(1);
            // Theory form: x − (ε/2)c + √ε ξ, no clip of either kind.
            const theory = ebm.langevinStep(linear, x, key, { stepSize: eta, steps: 1 });
            const wantTheory = x.sub(c.mul(eta / 2)).add(random.normal(key, [5, 3]).mul(Math.sqrt(eta)));
            expect(np.max(np.abs(theory.sub(wantTheory))).item()).toBeLessThan(1e-4 * eta);
            return null;
          });
        },
      ),
      { ...FC, numRuns: 10 },
    );
    expect(ebm.IGEBM_DEFAULTS).toEqual({ noiseScale: 0.005, gradClip: 0.01, clipRange: [0, 1] });
    expect(tf.memory().numTensors).toBe(before);
  });

  it("'norm' clipping bounds each example's gradient norm and leaves small gradients alone", () => {
    scope(() => {
      const w = np.array([[3, 4], [0.03, 0.04]]);
      const e: ebm.EnergyFn = (x) => np.sum(x.mul(w), 1);
      const x = np.zeros([2, 2]);
      const step = ebm.langevinStep(e, x, random.key(0), { stepSize: 1, steps: 1, noiseScale: 0, gradClip: 1, gradClipMode: 'norm', clipRange: null });
      expect(np.max(np.abs(step.sub(np.array([[-0.6, -0.8], [-0.03, -0.04]])))).item()).toBeLessThan(1e-6);
    });
  });

  it('is deterministic in the key, and different keys give different chains', () => {
    scope(() => {
      const e = gaussianEnergy([0, 0, 0, 0], 1);
      const x0 = np.zeros([16, D]);
      const opts = { stepSize: 0.1, steps: 10 };
      const a = ebm.langevin(e, x0, random.key(1), opts);
      const b = ebm.langevin(e, x0, random.key(1), opts);
      const c = ebm.langevin(e, x0, random.key(2), opts);
      expect(np.max(np.abs(a.sub(b))).item()).toBe(0);
      expect(np.max(np.abs(a.sub(c))).item()).toBeGreaterThan(0.1);
      // jit traces the K steps into one program with the same numbers.
      const jitted = jit((x: NDArray, k: NDArray) => ebm.langevin(e, x, k, opts));
      expect(np.max(np.abs(jitted(x0, random.key(1)).sub(a))).item()).toBeLessThan(1e-5);
      jitted.clearCache();
    });
  });
});

describe('MALA', () => {
  it('has stationary variance exactly s², where ULA at the same ε is biased (§6.6.2)', () => {
    fc.assert(
      fc.property(gaussianCase, ({ mu, s, r, seed }) => {
        const eps = (0.6 + 0.6 * r) * s * s; // r' = ε/s² in [0.78, 1.2]: ULA's bias would be 24–43 %
        const { m, rate } = scope(() => {
          const out = ebm.mala(gaussianEnergy(mu, s), np.zeros([CHAINS, D]), random.key(seed), { stepSize: eps, steps: 120 });
          return { m: moments(out.x), rate: out.acceptRate.item() as number };
        });
        expect(rate).toBeGreaterThan(0.4);
        expect(rate).toBeLessThan(0.99);
        expect(momentsMatch(m, mu, s * s, CHAINS), `mean ${m.mean} var ${m.variance} vs μ ${mu} s² ${s * s} (acceptance ${rate})`).toBe(true);
        expect(momentsMatch(m, mu, (s * s) / (1 - eps / (4 * s * s)), CHAINS)).toBe(false);
      }),
      { ...FC, numRuns: 3 },
    );
  });

  it('accepts almost every proposal at a tiny step and rejects NaN energies', () => {
    scope(() => {
      const small = ebm.mala(gaussianEnergy([0, 0, 0, 0], 1), random.normal(random.key(1), [512, D]), random.key(2), { stepSize: 1e-4, steps: 10 });
      expect(small.acceptRate.item()).toBeGreaterThan(0.99);
      // NaN energy away from the start: every proposal is rejected, the chain stays put.
      const nanAway: ebm.EnergyFn = (x) => np.where(np.greater(np.sum(np.abs(x), 1), 0.5), NaN, np.sum(np.square(x), 1));
      const x0 = np.zeros([64, D]);
      const stuck = ebm.mala(nanAway, x0, random.key(3), { stepSize: 4, steps: 5 });
      expect(stuck.acceptRate.item()).toBe(0);
      expect(np.max(np.abs(stuck.x)).item()).toBe(0);
    });
  });
});

// ---- the contrastive loss --------------------------------------------------------------------

type Params = ebm.MlpEnergyParams;
const energyOf = (p: Params) => (x: NDArray) => ebm.mlpEnergy.apply(p, x);

/** ∇θE(xᵢ) for every example (a tree whose leaves have a leading batch axis). */
function perExampleGrads(p: Params, x: NDArray): Params {
  return vmap((xi: NDArray) => grad((q: Params) => ebm.mlpEnergy.apply(q, xi.reshape(1, -1)).reshape([]))(p), { inAxes: [0] })(x) as Params;
}

/** Σᵢ wᵢ·gᵢ over the batch axis of a per-example gradient tree. */
function weighted(g: Params, w: NDArray): Params {
  return tree.map((leaf: NDArray) => np.tensordot(w, leaf, [[0], [0]]), g) as Params;
}

function maxRelDiff(a: Params, b: Params): number {
  const la = tree.leaves(a) as NDArray[], lb = tree.leaves(b) as NDArray[];
  const scale = Math.max(...lb.map((l) => np.max(np.abs(l)).item() as number), 1e-6);
  return Math.max(...la.map((l, i) => np.max(np.abs(l.sub(lb[i]!))).item() as number)) / scale;
}

const lossCase = fc.record({
  seed: fc.integer({ min: 0, max: 1_000_000 }),
  nPos: fc.integer({ min: 1, max: 9 }),
  nNeg: fc.integer({ min: 1, max: 9 }),
  alpha: fc.oneof(fc.constant(0), fc.double({ min: 0.01, max: 3, noNaN: true })),
});

describe('contrastive loss', () => {
  it('∇θL = mean ∇θE(x⁺) − mean ∇θE(x⁻) + 2α(mean E⁺∇θE⁺ + mean E⁻∇θE⁻) (§6.6.3)', () => {
    fc.assert(
      fc.property(lossCase, ({ seed, nPos, nNeg, alpha }) => {
        scope(() => {
          const ks = random.split(random.key(seed), 3);
          const p = ebm.mlpEnergy.init(ks.at(0), 3, [8, 8]);
          const xPos = random.normal(ks.at(1), [nPos, 3]);
          const xNeg = random.normal(ks.at(2), [nNeg, 3]).mul(2);
          const got = grad((q: Params) => ebm.contrastiveLoss(energyOf(q), xPos, xNeg, { alpha }))(p);
          const ePos = energyOf(p)(xPos), eNeg = energyOf(p)(xNeg);
          const wPos = ePos.mul(2 * alpha).add(1).div(nPos);
          const wNeg = eNeg.mul(2 * alpha).sub(1).div(nNeg);
          const want = tree.map((a: NDArray, b: NDArray) => a.add(b), weighted(perExampleGrads(p, xPos), wPos), weighted(perExampleGrads(p, xNeg), wNeg)) as Params;
          expect(maxRelDiff(got, want)).toBeLessThan(1e-4);
        });
      }),
      { ...FC, numRuns: 15 },
    );
  });

  it("'logsumexp' weights the negative phase by sg(softmax(−E⁻)); 'softplus' pairs the phases", () => {
    fc.assert(
      fc.property(lossCase, ({ seed, nPos, alpha }) => {
        scope(() => {
          const ks = random.split(random.key(seed), 3);
          const p = ebm.mlpEnergy.init(ks.at(0), 3, [8]);
          const xPos = random.normal(ks.at(1), [nPos, 3]);
          const xNeg = random.normal(ks.at(2), [nPos, 3]).mul(2);
          const ePos = energyOf(p)(xPos), eNeg = energyOf(p)(xNeg);
          const gPos = perExampleGrads(p, xPos), gNeg = perExampleGrads(p, xNeg);
          const sum = (a: Params, b: Params) => tree.map((u: NDArray, v: NDArray) => u.add(v), a, b) as Params;
          const reg = sum(weighted(gPos, ePos.mul(2 * alpha / nPos)), weighted(gNeg, eNeg.mul(2 * alpha / nPos)));
          const lse = grad((q: Params) => ebm.contrastiveLoss(energyOf(q), xPos, xNeg, { alpha, objective: 'logsumexp' }))(p);
          const lseWant = sum(sum(weighted(gPos, np.full([nPos], 1 / nPos)), weighted(gNeg, np.softmax(eNeg.neg()).neg())), reg);
          expect(maxRelDiff(lse, lseWant)).toBeLessThan(1e-4);
          const sp = grad((q: Params) => ebm.contrastiveLoss(energyOf(q), xPos, xNeg, { alpha, objective: 'softplus' }))(p);
          const sig = np.sigmoid(ePos.sub(eNeg)).div(nPos);
          const spWant = sum(sum(weighted(gPos, sig), weighted(gNeg, sig.neg())), reg);
          expect(maxRelDiff(sp, spWant)).toBeLessThan(1e-4);
        });
      }),
      { ...FC, numRuns: 8 },
    );
  });

  it('ignores the chain: zero gradient w.r.t. the chain start, and ∇θ equals the loss at the detached samples', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1_000_000 }), fc.double({ min: 0, max: 1, noNaN: true }), (seed, alpha) => {
        scope(() => {
          const ks = random.split(random.key(seed), 4);
          const p = ebm.mlpEnergy.init(ks.at(0), 2, [8]);
          const xPos = random.normal(ks.at(1), [6, 2]);
          const x0 = random.normal(ks.at(2), [5, 2]);
          const opts = { stepSize: 0.05, steps: 3 };
          const full = (q: Params, start: NDArray) => ebm.contrastiveLoss(energyOf(q), xPos, ebm.langevin(energyOf(q), start, ks.at(3), opts), { alpha });
          const [gTheta, gStart] = grad(full, { argnums: [0, 1] })(p, x0) as unknown as [Params, NDArray];
          expect(np.max(np.abs(gStart)).item()).toBe(0);
          const xNeg = ebm.langevin(energyOf(p), x0, ks.at(3), opts);
          const detached = grad((q: Params) => ebm.contrastiveLoss(energyOf(q), xPos, xNeg, { alpha }))(p);
          expect(maxRelDiff(gTheta, detached)).toBeLessThan(1e-5);
        });
      }),
      { ...FC, numRuns: 6 },
    );
  });

  it("is bounded below by −1/(2α) for α > 0 ('cd'), with equality at E⁺ = −1/(2α), E⁻ = 1/(2α) (§6.6.4)", () => {
    const energies = fc.array(fc.double({ min: -50, max: 50, noNaN: true }), { minLength: 1, maxLength: 12 });
    fc.assert(
      fc.property(energies, energies, fc.double({ min: 1e-2, max: 10, noNaN: true }), (ep, en, alpha) => {
        const [cd, sp, atMin] = scope(() => [
          ebm.contrastiveObjective(np.array(ep), np.array(en), { alpha }).item() as number,
          ebm.contrastiveObjective(np.array(ep), np.array(ep), { alpha, objective: 'softplus' }).item() as number,
          ebm.contrastiveObjective(np.full([ep.length], -1 / (2 * alpha)), np.full([en.length], 1 / (2 * alpha)), { alpha }).item() as number,
        ]);
        const bound = -1 / (2 * alpha);
        const tol = 1e-5 * (1 + Math.abs(bound) + alpha * 2500);
        expect(cd).toBeGreaterThanOrEqual(bound - tol);
        expect(sp).toBeGreaterThanOrEqual(bound - tol);
        expect(Math.abs(atMin - bound)).toBeLessThan(1e-5 * (1 + Math.abs(bound)));
      }),
      { ...FC, numRuns: 200 },
    );
  });
});

// ---- replay buffer ---------------------------------------------------------------------------

describe('replay buffer', () => {
  it('overwrites in ring order, never exceeds its capacity, and leaves the old buffer unchanged', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 12 }), fc.array(fc.integer({ min: 0, max: 30 }), { minLength: 1, maxLength: 6 }), (cap, batches) => {
        let buf = ebm.replayBuffer.init(cap, [2]);
        let pushed = 0;
        for (const b of batches) {
          // Sample i (counted over all pushes) is [i, −i].
          const ids = Array.from({ length: b }, (_, k) => pushed + k);
          const xs = np.array(b === 0 ? [] : ids.map((i) => [i, 0 - i])).reshape(b, 2);
          const before = Array.from(buf.data.dataSync());
          const next = ebm.replayBuffer.push(buf, xs);
          expect(Array.from(buf.data.dataSync())).toEqual(before);
          dispose([buf, xs]);
          buf = next;
          pushed += b;
          expect(buf.data.shape).toEqual([cap, 2]);
          expect(buf.size).toBe(Math.min(cap, pushed));
          expect(buf.ptr).toBe(pushed % cap);
          // Slot j holds the latest sample i ≡ j (mod cap).
          const data = buf.data.dataSync();
          for (let j = 0; j < buf.size; j++) {
            const latest = j + cap * Math.floor((pushed - 1 - j) / cap);
            expect([data[2 * j], data[2 * j + 1]]).toEqual([latest, 0 - latest]);
          }
        }
        const stored = ebm.replayBuffer.contents(buf);
        expect(stored.shape).toEqual([Math.min(cap, pushed), 2]);
        dispose([buf, stored]);
      }),
      { ...FC, numRuns: 60 },
    );
  });

  it('re-initialises a fraction ≈ p of the chains and draws the rest from the stored samples', () => {
    fc.assert(
      fc.property(fc.constantFrom(0, 0.05, 0.3, 1), fc.integer({ min: 0, max: 1000 }), (p, seed) => {
        scope(() => {
          const cap = 500, n = 8000;
          const buf = ebm.replayBuffer.push(ebm.replayBuffer.init(cap, [1]), np.arange(1, cap + 1).astype('float32').reshape(cap, 1));
          const { x, fromBuffer } = ebm.replayBuffer.sample(buf, random.key(seed), n, { reinitProb: p, minSize: 1, init: (_k, shape) => np.full(shape, -1) });
          const xs = x.dataSync(), mask = fromBuffer.dataSync();
          let fresh = 0, sum = 0, wrong = 0;
          for (let i = 0; i < n; i++) {
            if (mask[i]) {
              if (!(Number.isInteger(xs[i]) && xs[i]! >= 1 && xs[i]! <= cap)) wrong++;
              sum += xs[i]!;
            } else {
              if (xs[i] !== -1) wrong++;
              fresh++;
            }
          }
          expect(wrong).toBe(0);
          expect(Math.abs(fresh / n - p)).toBeLessThanOrEqual(5 * Math.sqrt((p * (1 - p)) / n));
          // Uniform over the stored samples: the mean index is (cap + 1)/2 within 5 standard errors.
          const kept = n - fresh;
          if (kept > 0) expect(Math.abs(sum / kept - (cap + 1) / 2)).toBeLessThan(5 * Math.sqrt((cap * cap - 1) / 12 / kept));
        });
      }),
      { ...FC, numRuns: 8 },
    );
  });

  it('falls back to noise while it holds fewer samples than the batch (§6.5)', () => {
    scope(() => {
      const buf = ebm.replayBuffer.push(ebm.replayBuffer.init(100, [1]), np.ones([10, 1]));
      const s = ebm.replayBuffer.sample(buf, random.key(0), 32, { reinitProb: 0, init: (_k, shape) => np.full(shape, -1) });
      expect(np.all(np.equal(s.x, -1)).item()).toBe(true);
      expect(np.any(s.fromBuffer).item()).toBe(false);
      const ok = ebm.replayBuffer.sample(buf, random.key(0), 8, { reinitProb: 0, init: (_k, shape) => np.full(shape, -1) });
      expect(np.all(np.equal(ok.x, 1)).item()).toBe(true);
    });
  });
});

// ---- denoising score matching (§7h) ----------------------------------------------------------

describe('denoising score matching', () => {
  it('matches the closed form for quadratic energies on Gaussian data; minimised at v = τ² + σ², and its ∇ (2nd order) too', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0.5, max: 1.5, noNaN: true }), fc.double({ min: 0.2, max: 1, noNaN: true }),
        fc.double({ min: 0.5, max: 2, noNaN: true }), fc.integer({ min: 0, max: 1000 }),
        (tau, sigma, vScale, seed) => {
          scope(() => {
            const d = 2, n = 100_000;
            const mu = [0.5, -1];
            const ks = random.split(random.key(seed), 2);
            const data = random.normal(ks.at(0), [n, d]).mul(tau).add(np.array(mu));
            const quad = (m: NDArray, v: NDArray): ebm.EnergyFn => (x) => np.sum(np.square(x.sub(m)), 1).div(v.mul(2));
            const vStar = tau * tau + sigma * sigma;
            const m = np.array([0.6, -1.1]);
            const dm2 = 0.1 * 0.1 * 2;
            const closed = (v: number) => d * (vStar / (v * v) - 2 / v + 1 / (sigma * sigma)) + dm2 / (v * v);
            const v = vScale * vStar;
            const got = ebm.dsmLoss(quad(m, np.array(v)), data, ks.at(1), { sigma }).item() as number;
            expect(Math.abs(got - closed(v))).toBeLessThan(0.03 * d / (sigma * sigma));
            // d/dv of the loss: through ∇ₓE, a derivative of a derivative.
            // With common random numbers the estimate is lowest near v*.
            const at = (vv: number) => ebm.dsmLoss(quad(np.array(mu), np.array(vv)), data, ks.at(1), { sigma }).item() as number;
            expect(at(vStar)).toBeLessThan(Math.min(at(0.7 * vStar), at(1.4 * vStar)));
            const dv = grad((vv: NDArray) => ebm.dsmLoss(quad(m, vv), data, ks.at(1), { sigma }))(np.array(v)).item() as number;
            const dvClosed = d * (-2 * vStar / v ** 3 + 2 / (v * v)) - (2 * dm2) / v ** 3;
            expect(Math.abs(dv - dvClosed)).toBeLessThan(0.05 * d / (sigma * sigma * v));
          });
        },
      ),
      { ...FC, numRuns: 5 },
    );
  });

  it('annealed Langevin with the p_σ energies, then the Tweedie jump, has the variance ULA and the jump predict', () => {
    const tau = 0.7, mu = [1, -1, 0.5, 0];
    const sigmas = [0.3, 0.2, 0.1];
    const sMin = 0.1, v = tau * tau + sMin * sMin;
    const eps = 0.3 * v; // a = 1 − ε/(2v) = 0.85 at the last level
    const m = scope(() => {
      const e = (x: NDArray, s: number) => np.sum(np.square(x.sub(np.array(mu))), 1).div(2 * (tau * tau + s * s));
      return moments(ebm.annealedLangevin(e, np.zeros([CHAINS, D]), random.key(5), { sigmas, stepsPerLevel: 60, stepSize: eps }));
    });
    const vUla = v / (1 - eps / (4 * v));
    expect(momentsMatch(m, mu, vUla * (tau * tau / v) ** 2, CHAINS), `var ${m.variance}`).toBe(true);
  });

  it('annealed Langevin refuses noise levels that are not largest first (they would be run as if the last were the smallest), naming the rising pair', () => {
    const e = (x: NDArray, s: number) => np.sum(np.square(x), 1).div(2 * (1 + s * s));
    const [x0, key] = [np.zeros([4, 2]), random.key(0)];
    const before = tf.memory().numTensors;
    const run = (sigmas: number[]) => ebm.annealedLangevin(e, x0, key, { sigmas, stepsPerLevel: 2, stepSize: 0.01 });
    expect(() => run([0.1, 0.5, 1])).toThrow(/ebm\.annealedLangevin: sigmas must be ordered largest first .*sigmas\[1\] = 0\.5 > sigmas\[0\] = 0\.1/);
    expect(() => run([1, 0.5, 0.7])).toThrow(/sigmas\[2\] = 0\.7 > sigmas\[1\] = 0\.5/);
    expect(tf.memory().numTensors).toBe(before);
    // Equal levels are allowed (non-increasing).
    const x = run([0.5, 0.5, 0.1]);
    expect(x.shape).toEqual([4, 2]);
    dispose([x, x0, key]);
  });

  it('annealed Langevin refuses levels whose step ε·(σᵢ/σ_min)² overflows float32 (it returned NaN silently), naming the level; steps just inside the range run', () => {
    const e = (x: NDArray, s: number) => np.sum(np.square(x), 1).div(2 * (1 + s * s));
    const [x0, key] = [np.zeros([4, 2]), random.key(0)];
    const before = tf.memory().numTensors;
    const run = (sigmas: number[], stepSize = 0.01) => ebm.annealedLangevin(e, x0, key, { sigmas, stepsPerLevel: 2, stepSize });
    expect(() => run([1, 1e-30])).toThrow(/^ebm\.annealedLangevin: the step at sigmas\[0\] = 1, ε·\(σ\/σ_min\)² = 0\.01·\(1\/1e-30\)² = 1\.00e\+58, overflows float32 .*got sigmas \[1, 1e-30\]$/);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 36 }), fc.integer({ min: 39, max: 300 }), (inside, outside) => {
        // ε = 1, σ_min = 1: the step at σ is σ², refused exactly when σ² > 3.4e38 (the largest level is named) …
        expect(() => run([10 ** (outside / 2), 10, 1], 1)).toThrow(/the step at sigmas\[0\] = .* overflows float32/);
        // … and run, finite, when σ² ≤ 1e36.
        const x = run([10 ** (inside / 2), 1], 1);
        expect(x.shape).toEqual([4, 2]);
        expect(Array.from(x.dataSync()).every(Number.isFinite)).toBe(true);
        dispose(x);
      }),
      { ...FC, numRuns: 10 },
    );
    expect(tf.memory().numTensors).toBe(before);
    dispose([x0, key]);
  });

  it("Tweedie's jump with the p_σ energy is the posterior mean (τ²x̃ + σ²μ)/(τ² + σ²)", () => {
    scope(() => {
      const tau = 0.7, sigma = 0.4, mu = [1, -2];
      const vStar = tau * tau + sigma * sigma;
      const x = random.normal(random.key(0), [16, 2]).mul(2);
      const got = ebm.denoise((y) => np.sum(np.square(y.sub(np.array(mu))), 1).div(2 * vStar), x, sigma);
      const want = x.mul(tau * tau).add(np.array(mu).mul(sigma * sigma)).div(vStar);
      expect(np.max(np.abs(got.sub(want))).item()).toBeLessThan(1e-5);
    });
  });
});

// ---- energy networks -------------------------------------------------------------------------

describe('energy networks', () => {
  it('mlpEnergy maps [N, d] to [N]; spectralNormalize makes every layer 1-Lipschitz (hard rule)', () => {
    scope(() => {
      const p = ebm.mlpEnergy.init(random.key(0), 3, [16, 8]);
      expect(ebm.mlpEnergy.apply(p, random.normal(random.key(1), [5, 3])).shape).toEqual([5]);
      let states = ebm.spectralNormInit(random.key(2), p);
      let normalized = p;
      for (let i = 0; i < 30; i++) ({ params: normalized, states } = ebm.spectralNormalize(p, states));
      for (const layer of normalized.layers) {
        // σ of the normalised kernel by a long power iteration from a fresh start.
        const { sigma } = spectralNorm.estimate(layer.w, spectralNorm.init(random.key(3), layer.w), 200);
        expect(Math.abs((sigma.item() as number) - 1)).toBeLessThan(1e-3);
      }
    });
  });
});

// ---- memory ----------------------------------------------------------------------------------

describe('memory', () => {
  it('samplers, buffer, losses and training steps (eager and jit) free everything they do not return', () => {
    const e = gaussianEnergy([0, 1, 0, -1], 1);
    const x0 = np.zeros([64, D]);
    const key = random.key(0);
    const before = tf.memory().numTensors;
    const x1 = ebm.langevin(e, x0, key, { stepSize: 0.1, steps: 10 });
    const x2 = ebm.langevin(e, x0, key, { stepSize: 10, steps: 10, noiseScale: 0.005, gradClip: 0.01, clipRange: [0, 1] });
    const m = ebm.mala(e, x0, key, { stepSize: 0.5, steps: 10 });
    const a = ebm.annealedLangevin((y, s) => e(y).div(1 + s * s), x0, key, { sigmas: [1, 0.5, 0.1], stepsPerLevel: 3, stepSize: 0.01 });
    expect(tf.memory().numTensors - before).toBe(5); // x1, x2, m.x, m.acceptRate, a
    dispose([x1, x2, m, a]);
    expect(tf.memory().numTensors).toBe(before);
    // The building blocks, called from a user's own loop, with arrays or JS numbers.
    const one = (v: unknown) => { dispose(v); expect(tf.memory().numTensors).toBe(before); };
    one(ebm.langevinStep(e, x0, key, { stepSize: 0.1, steps: 1 }));
    one(ebm.langevinStep(e, x0, key, { stepSize: 10, steps: 1, noiseScale: 0.005, gradClip: 0.01, clipRange: [0, 1] }));
    one(ebm.energyGrad(e, [[0, 1], [1, 0]].map((r) => [...r, ...new Array(D - 2).fill(0)])));
    const empty = ebm.replayBuffer.init(4, [D]);
    const afterCreate = tf.memory().numTensors;
    const pushed = ebm.replayBuffer.push(empty, [new Array(D).fill(1)]);
    expect(tf.memory().numTensors - afterCreate).toBe(1);
    dispose([empty, pushed]);
    expect(tf.memory().numTensors).toBe(before);

    // A few training steps of the example's loop shape: buffer → Langevin → loss → Adam → push.
    const init = ebm.mlpEnergy.init(random.key(1), 2, [16]);
    const opt = optim.adam(1e-3, { b1: 0 });
    let state = { params: init, optState: opt.init(init) as unknown, buffer: ebm.replayBuffer.init(64, [2]) };
    const mid = tf.memory().numTensors;
    const step = (params: Params, optState: unknown, xPos: NDArray, xInit: NDArray, k: NDArray) => {
      const xNeg = stopGradient(ebm.langevin(energyOf(params), xInit, k, { stepSize: 0.01, steps: 3 }));
      const g = grad((q: Params) => ebm.contrastiveLoss(energyOf(q), xPos, xNeg, { alpha: 0.1 }))(params);
      const [updates, next] = opt.update(g, optState as never, params);
      return { params: optim.applyUpdates(params, updates), optState: next, xNeg };
    };
    const jitted = jit(step);
    for (const f of [step, jitted]) {
      let ref = mid;
      for (let t = 0; t < 4; t++) {
        const prev = state;
        const next = scope(() => {
          const k = random.foldIn(key, t);
          const xPos = random.normal(random.foldIn(k, 1), [16, 2]);
          const start = ebm.replayBuffer.sample(prev.buffer, random.foldIn(k, 2), 16, { init: (kk, shape) => random.uniform(kk, shape, -2, 2) });
          const out = f(prev.params, prev.optState, xPos, start.x, random.foldIn(k, 3));
          return { params: out.params, optState: out.optState, buffer: ebm.replayBuffer.push(prev.buffer, out.xNeg) };
        });
        dispose(prev, { keep: next });
        state = next;
        // jit's first call traces: the program's constants live in its cache until clearCache().
        if (t === 0 && f === jitted) ref = tf.memory().numTensors;
        expect(tf.memory().numTensors).toBe(ref);
      }
    }
    jitted.clearCache();
    expect(tf.memory().numTensors).toBe(mid);
    dispose([state, x0, key]);
  });
});

describe('integer samples', () => {
  it('samplers and energy gradients take integer-valued samples (as float32) instead of failing inside grad', () => {
    scope(() => {
      const energy = (x: NDArray) => np.sum(np.square(x), -1);
      expect(ebm.energyGrad(energy, np.array([[1, 2]])).toArray()).toEqual([[2, 4]]);
      const x = ebm.langevin(energy, np.array([[1, 2]]), random.key(0), { stepSize: 0.01, steps: 3 });
      expect(x.dtype).toBe('float32');
      return null;
    });
  });
});

describe('MALA needs per-example energies', () => {
  it('a summed (scalar) or [N, 1] energy is refused by name (a scalar one gave a meaningless acceptance rate)', () => {
    scope(() => {
      const x0 = np.zeros([4, 2]);
      for (const energy of [(v: NDArray) => np.sum(np.square(v)), (v: NDArray) => np.sum(np.square(v), -1, true)]) {
        expect(() => ebm.mala(energy, x0, random.key(0), { stepSize: 0.1, steps: 2 })).toThrow(/ebm\.mala: the energy function must return one energy per example, shape \[4\]/);
      }
      return null;
    });
  });
});

describe('Langevin options: what a sampler would misread, and what it must accept', () => {
  it('a typo in form or gradClipMode, a NaN or negative noise, a non-positive clip and a reversed clipRange are refused', () => {
    scope(() => {
      const energy = (v: NDArray) => np.sum(np.square(v), -1);
      const x = np.zeros([2, 2]);
      const bad: [Record<string, unknown>, RegExp][] = [
        [{ form: 'IGEBM' }, /form must be one of 'theory', 'igebm'/],
        [{ gradClip: 1, gradClipMode: 'Norm' }, /gradClipMode must be one of 'value', 'norm'/],
        [{ noiseScale: NaN }, /noiseScale must be a finite number ≥ 0/],
        [{ gradClip: 0 }, /gradClip must be a finite number > 0/],
        [{ clipRange: [1, 0] }, /clipRange must be \[lo, hi\] with lo ≤ hi/],
        // NaN bounds made every sample NaN without an error (revebm).
        [{ clipRange: [NaN, 1] }, /clipRange must be \[lo, hi\] with lo ≤ hi/],
        [{ form: 'igebm', clipRange: [0, NaN] }, /clipRange must be \[lo, hi\] with lo ≤ hi/],
      ];
      for (const [extra, message] of bad) expect(() => ebm.langevinStep(energy, x, random.key(0), { stepSize: 0.1, steps: 1, ...extra } as never)).toThrow(message);
      expect(ebm.langevinStep(energy, x, random.key(0), { stepSize: 0.1, steps: 1, form: 'igebm', gradClip: 1, gradClipMode: 'norm', clipRange: [-1, 1] }).shape).toEqual([2, 2]);
      // A one-sided range is a range.
      expect(np.max(ebm.langevinStep(energy, np.full([2, 2], 5), random.key(0), { stepSize: 0.1, steps: 1, clipRange: [-Infinity, 1] })).item()).toBe(1);
      expect(() => ebm.langevin(energy, x, random.key(0), { stepSize: 0.1, steps: 2, clipRange: [NaN, NaN] })).toThrow(/ebm\.langevin: clipRange must be/);
      return null;
    });
  });

  it('noiseScale given as an array, or traced under jit, vmap or grad, is used as before (only JS numbers are checked)', () => {
    scope(() => {
      const energy = (v: NDArray) => np.sum(np.square(v), -1);
      const x = np.ones([2, 2]);
      const step = (s: NDArray) => ebm.langevinStep(energy, x, random.key(0), { stepSize: 0.01, steps: 1, form: 'igebm', noiseScale: s as unknown as number });
      const eager = step(np.array(0.1, 'float32'));
      expect(Array.from(jit(step)(np.array(0.1, 'float32')).dataSync())).toEqual(Array.from(eager.dataSync()));
      expect(vmap(step)(np.array([0.1, 0.2], 'float32')).shape).toEqual([2, 2, 2]);
      expect(Number.isFinite(grad((s: NDArray) => np.sum(step(s)))(np.array(0.1, 'float32')).item())).toBe(true);
      // gradClip likewise, in both modes: the same numbers as the JS number (f7bddb8 refused these with a TypeError; revebm).
      const e3 = (v: NDArray) => np.sum(v.mul(np.array([5, -5, 0.001])), -1);
      const x3 = random.uniform(random.key(3), [4, 3], 0, 1);
      for (const gradClipMode of ['value', 'norm'] as const) {
        const clipped = (c: NDArray | number) => ebm.langevinStep(e3, x3, random.key(5), { stepSize: 10, steps: 1, form: 'igebm', gradClip: c as number, gradClipMode });
        const want = Array.from(clipped(0.02).dataSync());
        for (const got of [clipped(np.array(0.02, 'float32')), jit(clipped)(np.array(0.02, 'float32')), vmap(clipped)(np.array([0.02, 0.02], 'float32')).at(1)]) {
          const g = Array.from(got.dataSync());
          expect(Math.max(...g.map((v, i) => Math.abs(v - want[i]!)))).toBeLessThan(1e-6);
        }
        expect(Number.isFinite(grad((c: NDArray) => np.sum(clipped(c)))(np.array(0.02, 'float32')).item())).toBe(true);
      }
      expect(() => ebm.langevinStep(e3, x3, random.key(5), { stepSize: 1, steps: 1, gradClip: '0.01' as never })).toThrow(/gradClip must be a number or null \(no clip\), got string "0.01"/);
      return null;
    });
  });
});

// Normalising flows (models/flows; algorithms.md §3.8): the invertible ResNet block's Lipschitz
// bound, fixed-point inverse, power-series and Hutchinson log-dets against exact ones; exact
// inverses and log-dets of coupling, actnorm and 1×1-convolution layers; composed flows; gradients
// of logProb against finite differences (through the Hutchinson u-chain too). Every property runs in
// a gradus scope and checks that it leaks nothing.
import * as tf from '@tensorflow/tfjs-core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { flows } from '../models/index.js';
import { convSpectralNorm, type DenseParams } from '../models/nn.js';
import { dispose, grad, jacfwd, jit, np, random, scope, tree, vmap, type NDArray } from '../src/index.js';
import { checkGrads } from '../src/testing/index.js';
import { assertNoLeak, noLeak } from './helpers.js';

const SEED = 42;

const values = (x: NDArray): number[] => Array.from(x.dataSync());
const maxAbsDiff = (a: NDArray, b: NDArray): number => np.max(np.abs(np.subtract(a, b))).item() as number;
/** Row norms of a [N, D] array. */
const rowNorms = (x: NDArray): number[] => values(np.sqrt(np.sum(np.square(x), -1)));

/** Adds N(0, std²) noise to every leaf of a parameter tree, so zero-initialised layers are not the identity. */
function perturb<T>(params: T, key: NDArray, std: number): T {
  const leaves = tree.leaves(params) as NDArray[];
  const keys = random.split(key, Math.max(1, leaves.length));
  let i = 0;
  return tree.map((leaf: NDArray) => np.add(leaf, np.multiply(random.normal(keys.at(i++), leaf.shape), std)), params) as T;
}

interface BlockCase {
  dim: number;
  hidden: number[];
  coeff: number;
  activation: flows.LipschitzActivation;
  seed: number;
  scale: number;
}
const blockArb: fc.Arbitrary<BlockCase> = fc.record({
  dim: fc.integer({ min: 1, max: 4 }),
  hidden: fc.array(fc.integer({ min: 2, max: 12 }), { minLength: 1, maxLength: 2 }),
  coeff: fc.double({ min: 0.3, max: 0.95, noNaN: true }),
  activation: fc.constantFrom<flows.LipschitzActivation>('elu', 'tanh', 'softplus', 'lipswish'),
  seed: fc.integer({ min: 0, max: 1 << 20 }),
  // Initial weight gain: > 1 makes spectral normalisation active, < 1 leaves some layers alone.
  scale: fc.double({ min: 0.3, max: 4, noNaN: true }),
});

/** A random i-ResNet block with its params, state, exact Lipschitz bound, a batch and g. */
function makeBlock(c: BlockCase, batch = 6, spread = 1.5) {
  const block = flows.iresnet({ dim: c.dim, hidden: c.hidden, coeff: c.coeff, activation: c.activation, initScale: c.scale, powerIterations: 10 });
  const key = random.key(c.seed);
  const x = np.multiply(random.normal(random.foldIn(key, 1), [batch, c.dim]), spread);
  const { params, state } = block.init(random.foldIn(key, 2), x);
  // Random biases too (init makes them zero).
  const p = { layers: params.layers.map((l: DenseParams, i: number) => ({ w: l.w, b: np.multiply(random.normal(random.foldIn(key, 10 + i), l.b.shape), 0.5) })) };
  const { layers } = block.normalize(p, state);
  const g = (v: NDArray): NDArray => block.residual(layers, v);
  const lip = block.lipschitzBound(p, state);
  return { block, key, x, params: p, state, layers, g, lip };
}

// ---- §3.8.2: Lipschitz bound --------------------------------------------------------------------

describe('the i-ResNet residual g is a contraction (§3.2, §3.8.2)', () => {
  it('the certified bound Π||Ŵ_i||₂ (float64) is ≤ c^layers·(1 + tol), and ||g(x₁) − g(x₂)|| ≤ Lip·||x₁ − x₂|| on random pairs', () => {
    assertNoLeak(fc.property(blockArb, (c) => {
      scope(() => {
        const { key, x, g, lip } = makeBlock(c, 16, 2);
        expect(lip).toBeLessThanOrEqual(c.coeff ** (c.hidden.length + 1) * (1 + 1e-4));
        // Pairs: random far-apart points and near neighbours.
        const x2 = np.add(x, np.multiply(random.normal(random.foldIn(key, 3), x.shape), np.array([[3], [1], [0.1], [1e-2], [1], [2], [0.5], [3], [1], [1], [0.3], [1], [2], [1], [0.05], [1]], 'float32')));
        const dg = rowNorms(np.subtract(g(x), g(x2)));
        const dx = rowNorms(np.subtract(x, x2));
        dg.forEach((d, i) => expect(d).toBeLessThanOrEqual(lip * dx[i]! * (1 + 1e-4) + 1e-6));
        return null;
      });
    }), 25);
  });
});

// ---- §3.8.3: fixed-point inverse ------------------------------------------------------------------

describe('the fixed-point inverse (§3.3, §3.8.3)', () => {
  it('after k iterations the error obeys ||x* − x_k|| ≤ L^k/(1 − L)·||x₁ − x₀||, and F(F⁻¹(y)) = y at convergence', () => {
    assertNoLeak(fc.property(blockArb, fc.integer({ min: 1, max: 12 }), (c, k) => {
      scope(() => {
        const { x, g, lip } = makeBlock(c);
        const y = np.add(x, g(x)); // so x is the exact preimage
        const xk = flows.fixedPointInverse(g, y, { tol: 0, maxIter: k });
        expect(xk.iterations).toBe(k);
        const err = rowNorms(np.subtract(xk.x, x));
        const first = rowNorms(g(y)); // x₁ − x₀ = (y − g(y)) − y
        err.forEach((e, i) => expect(e).toBeLessThanOrEqual(flows.fixedPointBound(lip, k, first[i]!) * (1 + 1e-4) + 2e-6 * (1 + rowNorms(x)[i]!)));
        const done = flows.fixedPointInverse(g, y, { tol: 1e-6, maxIter: 500 });
        expect(maxAbsDiff(np.add(done.x, g(done.x)), y)).toBeLessThan(1e-5 * (1 + (np.max(np.abs(y)).item() as number)));
        return null;
      });
    }), 25);
  });

  it('stops at the tolerance within the a-priori iteration count 1 + ⌈ln(tol/max||g(y)||)/ln L⌉ and reports it', () => {
    assertNoLeak(fc.property(blockArb.filter((c) => c.coeff <= 0.9), (c) => {
      scope(() => {
        const { x, g, lip, block, params, state } = makeBlock(c);
        const y = np.add(x, g(x));
        const tol = 1e-4;
        const maxFirst = Math.max(...rowNorms(g(y)));
        const bound = maxFirst <= tol ? 1 : 1 + Math.ceil(Math.log(tol / maxFirst) / Math.log(lip));
        const r = block.inverse(params, y, { state, inverse: { tol, maxIter: 1000 }, logdet: { method: 'none' } });
        expect(r.residual).toBeLessThanOrEqual(tol);
        expect(r.iterations).toBeGreaterThanOrEqual(1);
        expect(r.iterations).toBeLessThanOrEqual(bound);
        expect(maxAbsDiff(r.x, x)).toBeLessThanOrEqual(tol * lip / (1 - lip) + 1e-5);
        return null;
      });
    }), 20);
  });
});

// ---- §3.8.4–6: log-determinants -----------------------------------------------------------------

describe('log det(I + J_g) by the power series (§3.4, §3.8.4–6)', () => {
  it('det(I + J_g) > 0 for all sampled x, even far from the data and with c near 1', () => {
    assertNoLeak(fc.property(blockArb, fc.double({ min: 0.9, max: 0.999, noNaN: true }), (c, coeff) => {
      scope(() => {
        const { g } = makeBlock({ ...c, coeff }, 24, 6);
        const x = np.multiply(random.normal(random.key(c.seed + 7), [24, c.dim]), 6);
        const J = flows.batchJacobian(g, x);
        const [sign] = np.linalg.slogdet(np.add(np.eye(c.dim), J));
        values(sign).forEach((s) => expect(s).toBe(1));
        return null;
      });
    }), 20);
  });

  it('the series with exact traces is within the weak bound d·(−ln(1−L) − Σ_{k≤n} L^k/k) of the exact log-det', () => {
    assertNoLeak(fc.property(blockArb, fc.integer({ min: 1, max: 10 }), (c, n) => {
      scope(() => {
        const { block, x, params, state, lip } = makeBlock(c);
        const exact = block.forward(params, x, { state, logdet: { method: 'exact' } }).logdet;
        const series = block.forward(params, x, { state, logdet: { method: 'series', terms: n } }).logdet;
        const bound = flows.truncationBound(c.dim, lip, n);
        values(np.abs(np.subtract(series, exact))).forEach((e) => expect(e).toBeLessThanOrEqual(bound + 2e-5));
        return null;
      });
    }), 25);
  });

  it('the Hutchinson average over many probes converges to the exact truncated series (unbiased for fixed n)', () => {
    const M = 3000;
    assertNoLeak(fc.property(blockArb.filter((c) => c.dim >= 2), fc.integer({ min: 1, max: 6 }), fc.constantFrom<flows.Probe>('gaussian', 'rademacher'), (c, n, probe) => {
      scope(() => {
        const { x, g } = makeBlock(c, 2);
        const series = values(flows.powerSeriesLogdet(flows.batchJacobian(g, x), n));
        // M independent one-probe estimates per example: tile the batch.
        const tiled = np.tile(x, [M, 1]);
        const est = values(flows.hutchinsonResidualLogdet(g, tiled, random.key(c.seed + 1), { terms: n, samples: 1, probe }).logdet);
        for (let i = 0; i < 2; i++) {
          const xs = est.filter((_, j) => j % 2 === i);
          const mean = xs.reduce((a, b) => a + b, 0) / M;
          const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (M - 1));
          expect(Math.abs(mean - series[i]!)).toBeLessThanOrEqual(5 * sd / Math.sqrt(M) + 1e-4);
        }
        return null;
      });
    }), 12);
  });

  it('k probes average k one-probe estimates: samples = k equals the mean over k keys', () => {
    noLeak(() => {
      const { x, g } = makeBlock({ dim: 3, hidden: [8], coeff: 0.8, activation: 'elu', seed: 5, scale: 2 }, 4);
      const u = flows.probes(random.key(9), x.shape, 4, 'gaussian');
      // Direct evaluation of the estimator from its definition with explicit Jacobians.
      const J = flows.batchJacobian(g, x);
      let direct = np.zeros([4]);
      for (let s = 0; s < 4; s++) {
        let v = u.at(s);
        for (let j = 1; j <= 3; j++) {
          v = np.einsum('nd,nde->ne', v, J);
          direct = np.add(direct, np.multiply(np.sum(np.multiply(v, u.at(s)), -1), (j % 2 ? 1 : -1) / j / 4));
        }
      }
      const est = flows.hutchinsonResidualLogdet(g, x, random.key(9), { terms: 3, samples: 4, probe: 'gaussian' }).logdet;
      expect(maxAbsDiff(est, direct)).toBeLessThan(1e-5);
    });
  });

  it('1-D analytic check: g(x) = a·tanh(x) gives ln(1 + a·sech²x); Rademacher probes are exact in 1-D', () => {
    assertNoLeak(fc.property(fc.double({ min: -0.95, max: 0.95, noNaN: true }), fc.array(fc.double({ min: -4, max: 4, noNaN: true }), { minLength: 1, maxLength: 8 }), fc.integer({ min: 1, max: 30 }),
      (a, xs, n) => {
        scope(() => {
          const x = np.array(xs.map((v) => [v]), 'float32');
          const g = (v: NDArray): NDArray => np.multiply(np.tanh(v), a);
          const want = xs.map((v) => Math.log1p(a / Math.cosh(v) ** 2));
          values(flows.exactResidualLogdet(g, x)).forEach((v, i) => expect(Math.abs(v - want[i]!)).toBeLessThan(1e-5 * (1 + Math.abs(want[i]!))));
          // In 1-D uᵀJ^k u = u²J^k = J^k for u = ±1: the Hutchinson estimate is the truncated series itself.
          const hut = values(flows.hutchinsonResidualLogdet(g, x, random.key(n), { terms: n, probe: 'rademacher' }).logdet);
          const series = xs.map((v) => {
            const j = a / Math.cosh(v) ** 2;
            let s = 0;
            for (let k = 1; k <= n; k++) s += ((k % 2 ? 1 : -1) * j ** k) / k;
            return s;
          });
          hut.forEach((v, i) => expect(Math.abs(v - series[i]!)).toBeLessThan(2e-6 * (1 + n)));
          // ... within the truncation bound of the exact value, and biased (§7i): for a < 0 every term
          // is negative, so each partial sum lies above ln(1 + J).
          series.forEach((s, i) => {
            expect(Math.abs(s - want[i]!)).toBeLessThanOrEqual(flows.truncationBound(1, Math.abs(a), n) + 1e-9);
            if (a < 0) expect(s).toBeGreaterThanOrEqual(want[i]! - 1e-12);
          });
          return null;
        });
      }), 50);
  });

  it('1-D i-ResNet block with weights w₁, w₂ (|w| ≤ c, so normalisation leaves them) has ln det = ln(1 + w₁w₂·sech²(w₁x))', () => {
    assertNoLeak(fc.property(fc.double({ min: -0.85, max: 0.85, noNaN: true }), fc.double({ min: -0.85, max: 0.85, noNaN: true }), (w1, w2) => {
      scope(() => {
        const block = flows.iresnet({ dim: 1, hidden: [1], activation: 'tanh', coeff: 0.9 });
        const x = np.array([[-2], [-0.5], [0], [0.7], [3]], 'float32');
        const { state } = block.init(random.key(0), x);
        const params = { layers: [{ w: np.array([[w1]], 'float32'), b: np.zeros([1]) }, { w: np.array([[w2]], 'float32'), b: np.zeros([1]) }] };
        const got = values(block.forward(params, x, { state, logdet: { method: 'exact' } }).logdet);
        [-2, -0.5, 0, 0.7, 3].forEach((v, i) => {
          const f32 = Math.fround(w1);
          expect(Math.abs(got[i]! - Math.log1p((f32 * Math.fround(w2)) / Math.cosh(f32 * v) ** 2))).toBeLessThan(2e-6);
        });
        return null;
      });
    }), 30);
  });
});

// ---- closed-form layers -----------------------------------------------------------------------

type LayerName = 'coupling' | 'actnorm' | 'conv1x1' | 'conv1x1LU';
const maskArb = fc.integer({ min: 2, max: 5 }).chain((d) => fc.array(fc.constantFrom(0, 1), { minLength: d, maxLength: d }).filter((m) => m.includes(0) && m.includes(1)));

function closedFormLayer(name: LayerName, mask: number[]): flows.Layer {
  if (name === 'coupling') return flows.affineCoupling({ mask, hidden: [8, 8], activation: np.tanh });
  if (name === 'actnorm') return flows.actnorm();
  if (name === 'conv1x1LU') return flows.conv1x1LU(mask.length);
  return flows.conv1x1(mask.length);
}

describe('coupling, actnorm and invertible 1×1 convolution layers', () => {
  it('invert exactly, and their log-det equals the exact one (jacfwd + slogdet); the inverse log-det is its negative', () => {
    assertNoLeak(fc.property(fc.constantFrom<LayerName>('coupling', 'actnorm', 'conv1x1', 'conv1x1LU'), maskArb, fc.integer({ min: 0, max: 1 << 20 }), (name, mask, seed) => {
      scope(() => {
        const d = mask.length;
        const layer = closedFormLayer(name, mask);
        const key = random.key(seed);
        const x = np.add(np.multiply(random.normal(random.foldIn(key, 1), [5, d]), 2), 0.5);
        const initial = layer.init(random.foldIn(key, 2), x);
        const params = perturb(initial.params, random.foldIn(key, 3), 0.4);
        const state = initial.state; // (only conv1x1LU has state here: its fixed permutation and signs)
        const fwd = layer.forward(params, x, { state });
        const inv = layer.inverse(params, fwd.y, { state });
        expect(maxAbsDiff(inv.x, x)).toBeLessThan(1e-4 * (1 + (np.max(np.abs(x)).item() as number)));
        const exact = flows.exactLogdet((v: NDArray) => layer.forward(params, v, { state }).y, x);
        expect(maxAbsDiff(fwd.logdet, exact)).toBeLessThan(2e-4 * (1 + (np.max(np.abs(exact)).item() as number)));
        expect(maxAbsDiff(inv.logdet, np.negative(fwd.logdet))).toBeLessThan(1e-4 * (1 + (np.max(np.abs(exact)).item() as number)));
        if (name === 'coupling') {
          // The conditioning half passes through unchanged.
          const keep = np.array(mask, 'float32');
          expect(maxAbsDiff(np.multiply(fwd.y, keep), np.multiply(x, keep))).toBe(0);
        }
        return null;
      });
    }), 45);
  });

  it('on images [N, H, W, C] actnorm, conv1x1 and conv1x1LU act per position: log-det = H·W × the per-position one', () => {
    noLeak(() => {
      const key = random.key(11);
      const x = random.normal(key, [3, 2, 2, 3]);
      for (const layer of [flows.actnorm(), flows.conv1x1(3), flows.conv1x1LU(3)] as flows.Layer[]) {
        const initial = layer.init(random.foldIn(key, 1), x);
        const params = perturb(initial.params, random.foldIn(key, 2), 0.3);
        const state = initial.state;
        const fwd = layer.forward(params, x, { state });
        const exact = flows.exactLogdet((v: NDArray) => layer.forward(params, v, { state }).y, x);
        expect(maxAbsDiff(fwd.logdet, exact)).toBeLessThan(2e-4);
        expect(maxAbsDiff(layer.inverse(params, fwd.y, { state }).x, x)).toBeLessThan(1e-4);
      }
    });
  });

  it('conv1x1LU starts as conv1x1 (the same rotation, decomposed: W = P·L·U exactly, log-det 0), keeps P and the signs out of the parameters, and its log-likelihood has the finite-difference gradient', () => {
    assertNoLeak(fc.property(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 0, max: 1 << 20 }), (c, seed) => {
      scope(() => {
        const key = random.key(seed);
        const x = random.normal(random.foldIn(key, 1), [4, c]);
        const lu = flows.conv1x1LU(c).init(random.foldIn(key, 2), x);
        const plain = flows.conv1x1(c).init(random.foldIn(key, 2), x);
        const w = flows.conv1x1LUWeight(lu.params, lu.state);
        expect(maxAbsDiff(w, plain.params.w)).toBeLessThan(1e-5);
        expect(Math.abs(np.sum(lu.params.logScale).item() as number)).toBeLessThan(1e-5);
        // P is a permutation matrix and the signs are ±1, both outside the parameter tree.
        const p = lu.state.permutation;
        expect(maxAbsDiff(np.matmul(p, np.transpose(p)), np.eye(c))).toBe(0);
        expect(values(np.abs(lu.state.sign))).toEqual(new Array(c).fill(1));
        expect(Object.keys(lu.params).sort()).toEqual(['logScale', 'lower', 'upper']);
        return null;
      });
    }), 20);
    noLeak(() => {
      const c = 3;
      const key = random.key(5);
      const layer = flows.conv1x1LU(c);
      const x = random.normal(key, [4, c]);
      const { params, state } = layer.init(random.foldIn(key, 1), x);
      const moved = perturb(params, random.foldIn(key, 2), 0.3);
      const logLik = (p: flows.Conv1x1LUParams) => {
        const { y, logdet } = layer.forward(p, x, { state });
        return np.mean(np.add(flows.standardNormalLogProb(y), logdet));
      };
      checkGrads(logLik, [moved], { order: 1, modes: ['rev'] });
      expect(() => layer.forward(moved, x)).toThrow(/pass the state from init/);
      // The LU of the initial rotation runs on the host: under jit or vmap init says so, by name.
      expect(() => jit((k: NDArray) => layer.init(k, x))(key)).toThrow(/conv1x1LU\.init: .*cannot run under jit or vmap/);
      expect(() => vmap((k: NDArray) => layer.init(k, x))(random.split(key, 2))).toThrow(/conv1x1LU\.init: .*cannot run under jit or vmap/);
    });
    // Called from top-level code (outside any scope), the weight's construction leaves only the weight behind.
    const [key, x] = [random.key(2), np.zeros([1, 3])];
    const { params, state } = flows.conv1x1LU(3).init(key, x);
    const before = tf.memory().numTensors;
    dispose(flows.conv1x1LUWeight(params, state));
    expect(tf.memory().numTensors).toBe(before);
    dispose([key, x, params, state]);
  });

  it('actnorm initialises from data: its output on the init batch has zero mean and unit variance per feature', () => {
    assertNoLeak(fc.property(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 0, max: 1 << 20 }), (d, seed) => {
      scope(() => {
        const key = random.key(seed);
        const x = np.add(np.multiply(random.normal(key, [64, d]), random.uniform(random.foldIn(key, 1), [d], 0.1, 5)), random.normal(random.foldIn(key, 2), [d]));
        const layer = flows.actnorm();
        const y = layer.forward(layer.init(key, x).params, x).y;
        values(np.mean(y, 0)).forEach((m) => expect(Math.abs(m)).toBeLessThan(1e-5));
        values(np.std(y, 0)).forEach((s) => expect(Math.abs(s - 1)).toBeLessThan(1e-4));
        return null;
      });
    }), 20);
  });

  it('actnorm per position: one scale and bias per pixel and channel, zero mean and unit variance per pixel on the init batch, log-det Σ logs', () => {
    assertNoLeak(fc.property(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 0, max: 1 << 20 }), (c, seed) => {
      scope(() => {
        const key = random.key(seed);
        // Every pixel has its own location and scale.
        const x = np.add(np.multiply(random.normal(key, [64, 2, 3, c]), random.uniform(random.foldIn(key, 1), [2, 3, c], 0.1, 5)), random.normal(random.foldIn(key, 2), [2, 3, c]));
        const layer = flows.actnorm({ perPosition: true });
        const { params } = layer.init(key, x);
        expect(params.logScale.shape).toEqual([2, 3, c]);
        const y = layer.forward(params, x).y;
        values(np.mean(y, 0)).forEach((m) => expect(Math.abs(m)).toBeLessThan(1e-5));
        values(np.std(y, 0)).forEach((sd) => expect(Math.abs(sd - 1)).toBeLessThan(1e-4));
        const p = perturb(params, random.foldIn(key, 3), 0.3);
        const few = x.at([0, 3]);
        const exact = flows.exactLogdet((v: NDArray) => layer.forward(p, v).y, few);
        expect(maxAbsDiff(layer.forward(p, few).logdet, exact)).toBeLessThan(2e-4 * (1 + (np.max(np.abs(exact)).item() as number)));
        expect(maxAbsDiff(layer.inverse(p, layer.forward(p, few).y).x, few)).toBeLessThan(1e-4 * (1 + (np.max(np.abs(few)).item() as number)));
        return null;
      });
    }), 10);
  });

  it('rejects bad masks and shapes with messages that name the layer', () => {
    expect(() => flows.affineCoupling({ mask: [1, 1] })).toThrow(/affineCoupling: mask/);
    expect(() => flows.affineCoupling({ mask: [1, 2] })).toThrow(/only 0 and 1/);
    expect(() => flows.affineCoupling({} as never)).toThrow(/affineCoupling: config\.mask must be a JS array .*got undefined/);
    expect(() => (flows.affineCoupling as (config?: unknown) => unknown)()).toThrow(/affineCoupling: config\.mask must be a JS array .*got undefined/);
    expect(() => flows.affineCoupling({ mask: np.array([1, 0]) } as never)).toThrow(/affineCoupling: config\.mask must be a JS array .*got ConcreteArray/);
    expect(() => flows.iresnet({ dim: 2, coeff: 1 })).toThrow(/coeff must be in \(0, 1\)/);
    noLeak(() => {
      const block = flows.iresnet({ dim: 2 });
      const x = np.zeros([3, 2]);
      const { params } = block.init(random.key(0), x);
      expect(() => block.forward(params, x, { logdet: { method: 'exact' } })).toThrow(/spectral-norm state/);
      expect(() => block.forward(params, x, { state: block.init(random.key(0), x).state })).toThrow(/needs a key/);
      expect(() => block.forward(params, np.zeros([3, 3]), {})).toThrow(/expected 2 features/);
    });
  });
});

// ---- composed flows -------------------------------------------------------------------------------

function mixedFlow(dim: number) {
  return flows.flow([
    flows.actnorm(),
    flows.affineCoupling({ mask: flows.masks.alternating(dim, 0), hidden: [8], activation: np.tanh }),
    flows.conv1x1(dim),
    flows.iresnet({ dim, hidden: [8], coeff: 0.7, activation: 'elu', logdet: { terms: 4 } }),
    flows.affineCoupling({ mask: flows.masks.alternating(dim, 1), hidden: [8], activation: np.tanh }),
  ], { eventShape: [dim] });
}

describe('composed flows', () => {
  it('inverse(forward(x)) = x; the summed log-det equals the exact one of the whole map; sampling inverts the latent', () => {
    assertNoLeak(fc.property(fc.integer({ min: 2, max: 4 }), fc.integer({ min: 0, max: 1 << 20 }), (dim, seed) => {
      scope(() => {
        const f = mixedFlow(dim);
        const key = random.key(seed);
        const x = np.multiply(random.normal(random.foldIn(key, 1), [6, dim]), 1.5);
        const init = f.init(random.foldIn(key, 2), x);
        const params = perturb(init.params, random.foldIn(key, 3), 0.3);
        const { state } = init;
        const exactOpts = { state, logdet: { method: 'exact' as const } };
        const fwd = f.forward(params, x, exactOpts);
        const exact = flows.exactLogdet((v: NDArray) => f.forward(params, v, { state, logdet: { method: 'none' } }).z, x);
        expect(maxAbsDiff(fwd.logdet, exact)).toBeLessThan(3e-4 * (1 + (np.max(np.abs(exact)).item() as number)));
        const inv = f.inverse(params, fwd.z, exactOpts);
        expect(maxAbsDiff(inv.x, x)).toBeLessThan(1e-4 * (1 + (np.max(np.abs(x)).item() as number)));
        expect(maxAbsDiff(inv.logdet, np.negative(fwd.logdet))).toBeLessThan(3e-4 * (1 + (np.max(np.abs(exact)).item() as number)));
        expect(inv.iterations[3]).toBeGreaterThan(0);
        expect(inv.iterations.filter((_, i) => i !== 3)).toEqual([0, 0, 0, 0]);
        // logProb = log N(z) + log-det.
        const lp = f.logProb(params, x, exactOpts);
        expect(maxAbsDiff(lp, np.add(flows.standardNormalLogProb(fwd.z), fwd.logdet))).toBeLessThan(1e-5 * (1 + (np.max(np.abs(lp)).item() as number)));
        // Samples are f⁻¹ of the latent the sampler draws.
        const s = f.sample(params, random.foldIn(key, 4), 7, { state });
        expect(s.shape).toEqual([7, dim]);
        expect(f.sample(params, key, 0, { state }).shape).toEqual([0, dim]); // no samples: no fixed-point iteration over nothing
        const z = random.normal(random.foldIn(random.foldIn(key, 4), 0), [7, dim]);
        expect(maxAbsDiff(f.forward(params, s, { state, logdet: { method: 'none' } }).z, z)).toBeLessThan(1e-4 * (1 + (np.max(np.abs(z)).item() as number)));
        return null;
      });
    }), 8);
  });

  it('flows compose with jit and vmap: jit(logProb) equals the eager value, vmap over single examples equals the batch', () => {
    noLeak(() => {
      const f = mixedFlow(3);
      const key = random.key(17);
      const x = random.normal(key, [5, 3]);
      const init = f.init(random.foldIn(key, 1), x);
      const params = perturb(init.params, random.foldIn(key, 2), 0.3);
      const { state } = init;
      const probeKey = random.foldIn(key, 3);
      const eager = f.logProb(params, x, { state, key: probeKey });
      const jitted = jit((p: unknown[], s: unknown[], v: NDArray, k: NDArray) => f.logProb(p, v, { state: s, key: k }));
      expect(maxAbsDiff(jitted(params, state, x, probeKey), eager)).toBeLessThan(1e-5 * (1 + (np.max(np.abs(eager)).item() as number)));
      jitted.clearCache();
      const exact = f.logProb(params, x, { state, logdet: { method: 'exact' } });
      const perExample = vmap((xi: NDArray) => f.logProb(params, np.reshape(xi, [1, 3]), { state, logdet: { method: 'exact' } }))(x);
      expect(maxAbsDiff(np.reshape(perExample, [5]), exact)).toBeLessThan(1e-5 * (1 + (np.max(np.abs(exact)).item() as number)));
    });
  });

  it('a 2-D flow density integrates to 1 (Riemann sum on a wide grid)', () => {
    noLeak(() => {
      const f = flows.flow([
        flows.actnorm(),
        flows.affineCoupling({ mask: [1, 0], hidden: [16], activation: np.tanh }),
        flows.iresnet({ dim: 2, hidden: [16], coeff: 0.8 }),
        flows.affineCoupling({ mask: [0, 1], hidden: [16], activation: np.tanh }),
      ], { eventShape: [2] });
      const key = random.key(3);
      const x = np.multiply(random.normal(key, [64, 2]), 0.7);
      const init = f.init(random.foldIn(key, 1), x);
      const params = perturb(init.params, random.foldIn(key, 2), 0.3);
      const res = 120, lo = -7, hi = 7, h = (hi - lo) / res;
      const pts: number[][] = [];
      for (let i = 0; i < res; i++) for (let j = 0; j < res; j++) pts.push([lo + (i + 0.5) * h, lo + (j + 0.5) * h]);
      const lp = f.logProb(params, np.array(pts, 'float32'), { state: init.state, logdet: { method: 'exact' } });
      const mass = values(np.exp(lp)).reduce((a, b) => a + b, 0) * h * h;
      expect(Math.abs(mass - 1)).toBeLessThan(1e-2);
    });
  });
});

// ---- image layers -------------------------------------------------------------------------------

describe('image layers: logit transform, squeeze, bits per dimension', () => {
  it('squeeze moves pixel (i·f + a, j·f + b) of channel c to channel c·f² + a·f + b at (i, j); inverse undoes it; log-det 0', () => {
    assertNoLeak(fc.property(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), (f, n, hb, wb, c) => {
      scope(() => {
        const layer = flows.squeeze(f);
        const [h, w] = [hb * f, wb * f];
        const x = np.reshape(np.arange(0, n * h * w * c, 1, 'float32'), [n, h, w, c]);
        const { y, logdet } = layer.forward({}, x);
        expect(y.shape).toEqual([n, hb, wb, c * f * f]);
        expect(layer.eventShapeAfter!([h, w, c])).toEqual([hb, wb, c * f * f]);
        const ys = values(y);
        for (let b = 0; b < n; b++) for (let i = 0; i < hb; i++) for (let j = 0; j < wb; j++) for (let ch = 0; ch < c; ch++) for (let a = 0; a < f; a++) for (let d = 0; d < f; d++) {
          const source = ((b * h + i * f + a) * w + j * f + d) * c + ch; // x holds its own flat index
          expect(ys[((b * hb + i) * wb + j) * c * f * f + ch * f * f + a * f + d]).toBe(source);
        }
        expect(values(logdet)).toEqual(new Array(n).fill(0));
        const inv = layer.inverse({}, y);
        expect(values(inv.x)).toEqual(values(x));
        expect(inv.x.shape).toEqual(x.shape);
        return null;
      });
    }), 20);
    const layer = flows.squeeze(2);
    expect(() => layer.forward({}, np.zeros([1, 3, 4, 1]))).toThrow(/squeeze.forward: image size 3×4 is not a multiple of the factor 2/);
    expect(() => layer.inverse({}, np.zeros([1, 2, 2, 3]))).toThrow(/squeeze.inverse: 3 channels are not a multiple of factor² = 4/);
    expect(() => layer.forward({}, np.zeros([4, 4]))).toThrow(/squeeze.forward: expected images \[N, H, W, C\], got shape \[4,4\]/);
    expect(() => flows.squeeze(1.5)).toThrow(/squeeze: the factor must be a positive integer/);
  });

  it('logit: the log-det is ln|det| of the Jacobian, the inverse undoes it, and α = 0 maps 0 and 1 to ∓∞', () => {
    assertNoLeak(fc.property(fc.double({ min: 0, max: 0.2, noNaN: true }), fc.integer({ min: 0, max: 1 << 20 }), (alpha, seed) => {
      scope(() => {
        const layer = flows.logit({ alpha });
        const x = random.uniform(random.key(seed), [3, 2, 2, 1], 0.01, 0.99);
        const { y, logdet } = layer.forward({}, x);
        const exact = flows.exactLogdet((v: NDArray) => layer.forward({}, v).y, x);
        expect(maxAbsDiff(logdet, exact)).toBeLessThan(1e-3 * (1 + (np.max(np.abs(exact)).item() as number)));
        const inv = layer.inverse({}, y);
        expect(maxAbsDiff(inv.x, x)).toBeLessThan(1e-5);
        expect(maxAbsDiff(inv.logdet, np.negative(logdet))).toBeLessThan(1e-4 * (1 + (np.max(np.abs(logdet)).item() as number)));
        return null;
      });
    }), 15);
    noLeak(() => {
      expect(values(flows.logit({ alpha: 0 }).forward({}, np.array([[0, 1]], 'float32')).y)).toEqual([-Infinity, Infinity]);
      // With a margin, the ends of [0, 1] stay finite: logit(α) and logit(1 − α).
      const ends = values(flows.logit({ alpha: 0.05 }).forward({}, np.array([[0, 1]], 'float32')).y);
      expect(ends[0]).toBeCloseTo(Math.log(0.05 / 0.95), 5);
      expect(ends[1]).toBeCloseTo(Math.log(0.95 / 0.05), 5);
    });
    expect(() => flows.logit({ alpha: 0.5 })).toThrow(/logit: alpha must be in \[0, 0.5\), got 0.5/);
  });

  it('an image flow (logit, squeeze, actnorm, conv i-ResNet, 1×1 conv) samples images of the data shape from latents of the squeezed shape, and inverts', () => {
    noLeak(() => {
      const f = flows.flow([flows.logit(), flows.squeeze(), flows.actnorm(), flows.iresnetConv({ channels: 4, hidden: [4], kernelSizes: [3, 3] }), flows.conv1x1LU(4)], { eventShape: [4, 4, 1] });
      expect(f.latentShape).toEqual([2, 2, 4]);
      const key = random.key(5);
      const x = random.uniform(key, [6, 4, 4, 1], 0.05, 0.95);
      const { params, state } = f.init(random.foldIn(key, 1), x);
      const exactOpts = { state, logdet: { method: 'exact' as const } };
      const fwd = f.forward(params, x, exactOpts);
      expect(fwd.z.shape).toEqual([6, 2, 2, 4]);
      const exact = flows.exactLogdet((v: NDArray) => f.forward(params, v, { state, logdet: { method: 'none' } }).z, x);
      expect(maxAbsDiff(fwd.logdet, exact)).toBeLessThan(1e-3 * (1 + (np.max(np.abs(exact)).item() as number)));
      expect(maxAbsDiff(f.inverse(params, fwd.z, exactOpts).x, x)).toBeLessThan(1e-4);
      expect(f.sample(params, random.foldIn(key, 2), 3, { state }).shape).toEqual([3, 4, 4, 1]);
    });
  });

  it('bits per dimension: a uniform density on [0, 1]^D costs log₂(levels) bits; each nat of log-density per dimension saves 1/ln 2 bits', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 4096 }), fc.integer({ min: 2, max: 1024 }), fc.double({ min: -5, max: 5, noNaN: true }), (dims, levels, natsPerDim) => {
      expect(flows.bitsPerDim(0, dims, levels)).toBeCloseTo(Math.log2(levels), 9);
      expect(flows.bitsPerDim(natsPerDim * dims, dims, levels)).toBeCloseTo(Math.log2(levels) - natsPerDim / Math.LN2, 9);
    }), { seed: SEED, numRuns: 50 });
    expect(() => flows.bitsPerDim(0, 0)).toThrow(/bitsPerDim: dims must be a positive integer/);
    expect(() => flows.bitsPerDim(0, 3, 1)).toThrow(/bitsPerDim: levels must be an integer above 1/);
  });
});

// ---- gradients ---------------------------------------------------------------------------------

describe('gradients of logProb match finite differences', () => {
  it('for a coupling flow (first and second order)', () => {
    noLeak(() => {
      const f = flows.flow([flows.actnorm(), flows.affineCoupling({ mask: [1, 0, 1], hidden: [6], activation: np.tanh }), flows.conv1x1(3), flows.affineCoupling({ mask: [0, 1, 0], hidden: [6], activation: np.tanh })], { eventShape: [3] });
      const key = random.key(21);
      const x = random.normal(key, [5, 3]);
      const params = perturb(f.init(random.foldIn(key, 1), x).params, random.foldIn(key, 2), 0.3);
      checkGrads((p: unknown[]) => np.mean(f.logProb(p, x)), [params], { order: 1, seed: 1 });
      checkGrads((p: unknown[], v: NDArray) => np.mean(f.logProb(p, v)), [params, x], { order: 2, modes: ['rev'], seed: 2 });
    });
  });

  it('for an i-ResNet flow with the exact log-det, and with the Hutchinson estimate (gradient through the vjp u-chain)', () => {
    noLeak(() => {
      const f = flows.flow([
        flows.actnorm(),
        flows.iresnet({ dim: 2, hidden: [6], coeff: 0.9, activation: 'elu', initScale: 2 }),
        flows.iresnet({ dim: 2, hidden: [6], coeff: 0.9, activation: 'tanh', initScale: 0.5, logdet: { probe: 'rademacher' } }),
      ], { eventShape: [2] });
      const key = random.key(31);
      const x = np.multiply(random.normal(key, [6, 2]), 0.8);
      const { params, state } = f.init(random.foldIn(key, 1), x);
      // Converged power iterations: then σ̂ = uᵀWv is stationary in (u, v) and the stop-gradient
      // on them does not bias the finite differences.
      const opts = { state, powerIterations: 60 };
      checkGrads((p: unknown[]) => np.mean(f.logProb(p, x, { ...opts, logdet: { method: 'exact' } })), [params], { order: 1, seed: 3 });
      checkGrads((p: unknown[]) => np.mean(f.logProb(p, x, { ...opts, key: random.key(5), logdet: { method: 'hutchinson', terms: 4, samples: 2 } })), [params], { order: 1, seed: 4 });
    });
  });
});

describe('spectral normalisation at a zero weight', () => {
  // A zero W used to collapse the power-iteration vector to 0 for good (σ̂ = 0 forever after, and
  // NaN in hard mode).
  it('keeps its vector through W = 0 and estimates the next weight correctly; hard mode leaves W = 0 finite', async () => {
    const { nn } = await import('../models/index.js');
    scope(() => {
      const key = random.key(0);
      const zero = np.zeros([3, 2]);
      const first = nn.spectralNorm.apply(zero, nn.spectralNorm.init(key, zero), { powerIterations: 5 });
      expect(Number(first.sigma.item())).toBe(0);
      expect(Array.from(nn.spectralNorm.apply(zero, first.state, { mode: 'hard' }).w.dataSync())).toEqual([0, 0, 0, 0, 0, 0]);
      const w = np.multiply(random.normal(random.key(1), [3, 2]), 5);
      const exact = np.linalg.norm(w, 'fro'); // an upper bound; the estimate must be far from 0
      const next = nn.spectralNorm.apply(w, first.state, { powerIterations: 20, coeff: 0.9 });
      expect(Number(next.sigma.item())).toBeGreaterThan(0.5 * Number(exact.item()) / Math.SQRT2);
      const normed = Number(np.linalg.norm(next.w, 'fro').item());
      expect(normed).toBeLessThanOrEqual(0.9 * Math.SQRT2 + 1e-5); // σ(W/σ̂·c) ≈ c, so ‖·‖_F ≤ c·√rank
      return null;
    });
  });
});

describe('convolutional i-ResNet block', () => {
  /** A stride-1 'same' convolution's matrix on [h, w] images, and its exact spectral norm (float64 SVD). */
  const exactOperatorNorm = (kernel: NDArray, h: number, w: number): number => scope(() => {
    const apply = (v: NDArray) => np.conv2d(v.reshape(1, h, w, kernel.shape[2]!), kernel, { padding: 'SAME' }).reshape(-1);
    return flows.spectralNormExact(jacfwd(apply)(np.zeros([h * w * kernel.shape[2]!])));
  });

  it("convSpectralNorm's σ̂ converges to the convolution's exact operator norm (1×1, 3×3, 5×5 kernels, any image size)", () => {
    const arbCase = fc.record({ k: fc.constantFrom(1, 3, 5), cin: fc.integer({ min: 1, max: 3 }), cout: fc.integer({ min: 1, max: 3 }), h: fc.integer({ min: 1, max: 5 }), w: fc.integer({ min: 1, max: 5 }), seed: fc.integer({ min: 0, max: 1 << 20 }) });
    assertNoLeak(fc.property(arbCase, ({ k, cin, cout, h, w, seed }) => {
      scope(() => {
        const key = random.key(seed);
        const kernel = random.normal(key, [k, k, cin, cout]);
        const exact = exactOperatorNorm(kernel, h, w);
        const state = convSpectralNorm.init(random.foldIn(key, 1), kernel, h, w);
        const late = convSpectralNorm.estimate(kernel, state, 300).sigma.item() as number;
        // (σ̂ = ⟨u, Kv⟩ of unit vectors never exceeds the norm; reaching it needs the true adjoint)
        expect(Math.abs(late - exact)).toBeLessThan(1e-2 * exact);
        return null;
      });
    }), 25);
  });

  it('convSpectralNorm: σ̂ is differentiated with u and v held constant; soft mode only shrinks, hard mode scales the operator norm to c', () => {
    noLeak(() => {
      const key = random.key(8);
      const [h, w] = [3, 4];
      const kernel = np.multiply(random.normal(key, [3, 3, 2, 2]), 0.05); // σ < c: the modes differ
      const state = convSpectralNorm.init(random.foldIn(key, 1), kernel, h, w);
      // One iteration, far from converged, where differentiating v would change the gradient (u's
      // path contributes nothing: u = unit(Kv) maximises ⟨u, Kv⟩). The same u, v computed outside:
      // v = unit(Kᵀu₀), u = unit(Kv), Kᵀ the rotated, channel-swapped kernel.
      const unit = (x: NDArray) => np.divide(x, np.linalg.norm(x.reshape(-1)));
      const adjoint = np.transpose(np.flip(kernel, [0, 1]), [0, 1, 3, 2]);
      const v = unit(np.conv2d(state.u, adjoint, { padding: 'SAME' }));
      const u = unit(np.conv2d(v, kernel, { padding: 'SAME' }));
      const want = grad((k: NDArray) => np.sum(np.multiply(u, np.conv2d(v, k, { padding: 'SAME' }))))(kernel);
      const got = grad((k: NDArray) => convSpectralNorm.estimate(k, state, 1).sigma)(kernel);
      expect(maxAbsDiff(got, want)).toBeLessThan(1e-5);
      const full = grad((k: NDArray) => { // the same σ̂ with u and v differentiated too
        const vv = unit(np.conv2d(state.u, np.transpose(np.flip(k, [0, 1]), [0, 1, 3, 2]), { padding: 'SAME' }));
        return np.sum(np.multiply(unit(np.conv2d(vv, k, { padding: 'SAME' })), np.conv2d(vv, k, { padding: 'SAME' })));
      })(kernel);
      expect(maxAbsDiff(full, want)).toBeGreaterThan(1e-3); // (so the check above can tell them apart)
      const exact = exactOperatorNorm(kernel, h, w);
      const soft = convSpectralNorm.apply(kernel, state, { coeff: 0.9, powerIterations: 300 });
      const hard = convSpectralNorm.apply(kernel, state, { coeff: 0.9, powerIterations: 300, mode: 'hard' });
      expect(exact).toBeLessThan(0.9);
      expect(maxAbsDiff(soft.w, kernel)).toBe(0);
      expect(Math.abs(exactOperatorNorm(hard.w, h, w) - 0.9)).toBeLessThan(1e-3);
    });
  });

  it('is invertible with Lip(g) ≤ c² for two normalised convolutions on its image size; its exact log-det is ln|det| of x + g(x); inverse log-det is the negative', () => {
    assertNoLeak(fc.property(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 2, max: 4 }), fc.integer({ min: 0, max: 1 << 20 }), (c, size, seed) => {
      scope(() => {
        const key = random.key(seed);
        const block = flows.iresnetConv({ channels: c, hidden: [3], kernelSizes: [3, 3], initScale: 3 });
        const x = random.normal(key, [2, size, size, c]);
        const { params, state } = block.init(random.foldIn(key, 1), x);
        // (σ̂ from power iteration is a lower bound: the guarantee is as good as its convergence)
        expect(block.lipschitzBound(params, state, 200)).toBeLessThan(0.9 * 0.9 * 1.001);
        const fwd = block.forward(params, x, { state, logdet: { method: 'exact' } });
        const inv = block.inverse(params, fwd.y, { state, logdet: { method: 'exact' } });
        expect(maxAbsDiff(inv.x, x)).toBeLessThan(1e-5 * (1 + (np.max(np.abs(x)).item() as number)));
        const { layers } = block.normalize(params, state);
        const exact = flows.exactLogdet((v: NDArray) => np.add(v, block.residual(layers, v)), x);
        expect(maxAbsDiff(fwd.logdet, exact)).toBeLessThan(1e-4);
        expect(maxAbsDiff(inv.logdet, np.negative(fwd.logdet))).toBeLessThan(1e-4);
        return null;
      });
    }), 12);
  });

  it('in a flow on images with actnorm and conv1x1LU: log-likelihood gradients match finite differences; it refuses other image sizes and even kernels', () => {
    noLeak(() => {
      const key = random.key(13);
      const f = flows.flow([flows.actnorm(), flows.iresnetConv({ channels: 2, hidden: [3], initScale: 2 }), flows.conv1x1LU(2)], { eventShape: [3, 3, 2] });
      const x = random.normal(key, [3, 3, 3, 2]);
      const { params, state } = f.init(random.foldIn(key, 1), x);
      // Converged power iterations: σ̂ is then stationary in (u, v), so holding them constant does
      // not bias the finite differences.
      const opts = { state, powerIterations: 60, logdet: { method: 'exact' as const } };
      checkGrads((p: unknown[]) => np.mean(f.logProb(p, x, opts)), [params], { order: 1, modes: ['rev'], seed: 6 });
      const block = flows.iresnetConv({ channels: 2, hidden: [3] });
      const blockInit = block.init(key, x);
      expect(() => block.forward(blockInit.params, random.normal(key, [1, 4, 3, 2]), { state: blockInit.state })).toThrow(/initialised on 3×3 images/);
      expect(() => flows.iresnetConv({ channels: 2, kernelSizes: [2, 1, 3] })).toThrow(/odd kernel sizes/);
    });
  });
});

describe('Russian-roulette log-det (Residual Flows)', () => {
  it('is unbiased where the truncated series is not, refuses jit, and runs in an i-ResNet block under grad', () => {
    noLeak(() => {
      // g(x) = x·A, so ln det(I + J_g) = ln det(I + A) = ln 1.5 + ln 1.4 exactly.
      const a = np.array([[0.5, 0.2], [0, 0.4]], 'float32');
      const g = (v: NDArray) => np.matmul(v, a);
      const x = np.zeros([20, 2]);
      const exact = Math.log(1.5) + Math.log(1.4);
      const roulette: number[] = [], truncated: number[] = [];
      for (let i = 0; i < 300; i++) {
        const key = random.key(1000 + i);
        roulette.push(np.mean(flows.rouletteResidualLogdet(g, x, key, { probe: 'rademacher' }).logdet).item() as number);
        truncated.push(np.mean(flows.hutchinsonResidualLogdet(g, x, key, { terms: 2, probe: 'rademacher' }).logdet).item() as number);
      }
      const meanAndError = (v: number[]) => {
        const m = v.reduce((s, z) => s + z, 0) / v.length;
        return [m, Math.sqrt(v.reduce((s, z) => s + (z - m) ** 2, 0) / (v.length - 1) / v.length)] as const;
      };
      const [rm, rse] = meanAndError(roulette), [tm, tse] = meanAndError(truncated);
      expect(Math.abs(rm - exact), `roulette mean ${rm} ± ${rse}, exact ${exact}`).toBeLessThan(4 * rse);
      expect(Math.abs(tm - exact), `truncated mean ${tm} ± ${tse}, exact ${exact}`).toBeGreaterThan(10 * tse);
      // Its number of terms is drawn on the host, so it cannot run with a traced key.
      const traced = jit((v: NDArray, key: NDArray) => flows.residualLogdet(g, v, { method: 'roulette' }, key).logdet);
      expect(() => traced(x, random.key(1))).toThrow(/concrete array/);
      expect(() => flows.residualLogdet(g, x, { method: 'roulette' })).toThrow(/needs a key/);
      // In an i-ResNet block, as the training estimate: finite values and gradients.
      const block = flows.iresnet({ dim: 2, hidden: [8] });
      const xs = random.normal(random.key(2), [16, 2]);
      const { params, state } = block.init(random.key(3), xs);
      const loss = (p: flows.IResNetParams) => np.mean(block.forward(p, xs, { state, key: random.key(4), logdet: { method: 'roulette' } }).logdet);
      const dLoss = grad(loss)(params);
      for (const leaf of tree.leaves(dLoss) as NDArray[]) expect(np.all(np.isfinite(leaf)).item()).toBe(true);
    });
  });
});


describe('options and inputs that cannot work are refused, not run', () => {
  it('the fixed-point inverse needs 1 ≤ maxIter < ∞ and a finite tol ≥ 0, stops when it diverges and says it did not converge', () => {
    scope(() => {
      const y = np.ones([2, 3]);
      const contraction = (v: NDArray) => np.multiply(np.tanh(v), 0.5);
      for (const maxIter of [Infinity, -5, 0, 2.5, NaN]) expect(() => flows.fixedPointInverse(contraction, y, { maxIter })).toThrow(/maxIter must be a finite integer ≥ 1/);
      for (const tol of [-1, NaN, Infinity]) expect(() => flows.fixedPointInverse(contraction, y, { tol })).toThrow(/tol must be a finite number ≥ 0/);
      // x ↦ y − 30x diverges: it stops at the first non-finite step instead of running all 10,000.
      const diverging = flows.fixedPointInverse((v: NDArray) => np.multiply(v, 30), y, { maxIter: 10000, tol: 0 });
      expect(diverging.converged).toBe(false);
      expect(diverging.iterations).toBeLessThan(100);
      const block = flows.iresnet({ dim: 3, hidden: [4], activation: (v: NDArray) => np.multiply(v, 30) });
      const { params, state } = block.init(random.key(0), y);
      const inv = block.inverse(params, y, { state, inverse: { maxIter: 50 }, logdet: { method: 'none' } });
      expect(inv.converged).toBe(false);
      expect(flows.iresnet({ dim: 3, hidden: [4] }).inverse(params, y, { state, logdet: { method: 'none' } }).converged).toBe(true);
      return null;
    });
  });

  it("a flow's inverse and sampleWithInfo report converged = every layer's fixed point converged (closed forms count as converged), per layer too", () => {
    const before = tf.memory().numTensors;
    scope(() => {
      const y = random.normal(random.key(1), [4, 3]);
      // An i-ResNet block whose residual branch is far from a contraction: its fixed point diverges.
      const diverging = flows.iresnet({ dim: 3, hidden: [4], activation: (v: NDArray) => np.multiply(v, 30) });
      const contracting = flows.iresnet({ dim: 3, hidden: [4] });
      const inv = { inverse: { maxIter: 50 }, logdet: { method: 'none' as const } };
      for (const [layers, want] of [
        [[flows.actnorm(), contracting, flows.conv1x1(3)], [true, true, true]],
        [[flows.actnorm(), diverging, flows.conv1x1(3)], [true, false, true]],
        // (The inverse runs last layer first: a diverged block's output would make the blocks after it fail too.)
        [[diverging, flows.affineCoupling({ mask: [1, 0, 1], hidden: [4] }), contracting], [false, true, true]],
        [[flows.actnorm(), flows.conv1x1(3)], [true, true]],
      ] as const) {
        const f = flows.flow(layers, { eventShape: [3] });
        const { params, state } = f.init(random.key(0), y);
        const r = f.inverse(params, y, { state, ...inv });
        expect(r.convergedByLayer).toEqual(want);
        expect(r.converged).toBe(want.every(Boolean));
        const s = f.sampleWithInfo(params, random.key(2), 5, { state, ...inv });
        expect(s.convergedByLayer).toEqual(want);
        expect(s.converged).toBe(want.every(Boolean));
        expect(s.iterations.length).toBe(layers.length);
        expect(Array.from(s.x.dataSync())).toEqual(Array.from(f.sample(params, random.key(2), 5, { state, ...inv }).dataSync()));
      }
      return null;
    });
    expect(tf.memory().numTensors).toBe(before);
  });

  it('residual blocks refuse int inputs (their log-det differentiates at x, and came out 0)', () => {
    scope(() => {
      const block = flows.iresnet({ dim: 3, hidden: [4] });
      const { params, state } = block.init(random.key(0), np.ones([1, 3]));
      expect(() => block.forward(params, np.array([[1, 2, 3]], 'int32'), { state, key: random.key(1) })).toThrow(/expected float32 inputs.*i32\[1,3\]/);
      expect(() => block.inverse(params, np.array([[1, 2, 3]], 'int32'), { state })).toThrow(/expected float32 inputs/);
      return null;
    });
  });

  it('spectral normalisation refuses powerIterations that are not integers ≥ 1, coeff ≤ 0 and unknown modes', async () => {
    const { spectralNorm } = await import('../models/nn.js');
    scope(() => {
      const w = np.array([[3, 0], [0, 1]], 'float32');
      const s = spectralNorm.init(random.key(0), w);
      for (const n of [NaN, 0, 1.5]) expect(() => spectralNorm.apply(w, s, { powerIterations: n })).toThrow(/powerIterations must be an integer ≥ 1/);
      for (const coeff of [0, -1, NaN]) expect(() => spectralNorm.apply(w, s, { coeff })).toThrow(/coeff must be a finite number > 0/);
      expect(() => spectralNorm.apply(w, s, { mode: 'Hard' as 'hard' })).toThrow(/mode must be 'soft' or 'hard'/);
      return null;
    });
  });
});

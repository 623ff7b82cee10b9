// Adafactor (algorithms.md §4.5): the second-moment estimate (running mean / EMA, factored row and
// column statistics, rank-1 exactness, sums vs means), update clipping, loss-scale invariance, state
// size, the relative step size, and the edge cases of §4.4.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { np, scope, tree, type NDArray } from '../src/index.js';
import * as optim from '../optim/index.js';
import { expectAllClose } from './optim_helpers.js';

const SEED = 42;


const floats = (n: number, min = -2, max = 2) => fc.array(fc.double({ min, max, noNaN: true }), { minLength: n, maxLength: n });
const f32 = (values: number[], shape: number[]) => np.reshape(np.array(values, 'float32'), shape);
const EPS1 = 1e-30;

/** A sequence of `steps` gradients of shape `shape`, values away from 0 (so G² is not swamped by ε₁). */
const gradSeq = (shape: number[], steps: number) => {
  const n = shape.reduce((a, b) => a * b, 1);
  return fc.array(floats(n, -3, 3).map((v) => v.map((x) => (Math.abs(x) < 1e-3 ? 1e-3 : x))), { minLength: steps, maxLength: steps });
};

/** V̂ from a factored state leaf: vr·vc / mean(vr over the second-largest axis), in float64. */
function vhatFromFactors(vr: NDArray, vc: NDArray, m: number, n: number, rowsAreAxis0: boolean): number[][] {
  const r = Array.from(vr.dataSync());
  const c = Array.from(vc.dataSync());
  const meanR = r.reduce((a, b) => a + b, 0) / r.length;
  const out: number[][] = [];
  for (let i = 0; i < m; i++) {
    out.push([]);
    for (let j = 0; j < n; j++) out[i]!.push(rowsAreAxis0 ? (r[i]! * c[j]!) / meanR : (r[j]! * c[i]!) / meanR);
  }
  return out;
}

describe('the second-moment estimate', () => {
  it('unfactored with decay exponent c = 1, V̂_t is the running mean (1/t)Σ(G_i² + ε₁)', () => {
    fc.assert(
      fc.property(gradSeq([5], 6), (gs) => {
        scope(() => {
          const t = optim.scaleByFactoredRms({ decayRate: 1, factored: false });
          const params = { x: np.zeros([5]) };
          let state = t.init(params);
          const sum = new Array<number>(5).fill(0);
          gs.forEach((g, k) => {
            const [u, s] = t.update({ x: f32(g, [5]) }, state, params);
            state = s;
            g.forEach((x, i) => (sum[i]! += Math.fround(x) ** 2 + EPS1));
            const mean = sum.map((v) => v / (k + 1));
            expectAllClose(Array.from((state.v as { x: NDArray }).x.dataSync()), mean, 1e-5, 0, `V̂ at t=${k + 1}`);
            expectAllClose(Array.from(u.x.dataSync()), g.map((x, i) => x / Math.sqrt(mean[i]!)), 1e-5, 1e-7, `U at t=${k + 1}`);
          });
          return null;
        });
      }),
      { seed: SEED, numRuns: 30 },
    );
  });

  it('with a constant β₂ it is an RMSProp-style EMA (the same updates as scaleByRms)', () => {
    fc.assert(
      fc.property(gradSeq([2, 3], 5), fc.double({ min: 0.5, max: 0.99, noNaN: true }), (gs, b2) => {
        scope(() => {
          const fac = optim.scaleByFactoredRms({ factored: false, decaySchedule: () => b2 });
          const rms = optim.scaleByRms({ decay: b2, eps: 0 });
          const params = { x: np.zeros([2, 3]) };
          let [s1, s2] = [fac.init(params), rms.init(params)];
          let ema = new Array<number>(6).fill(0);
          for (const g of gs) {
            const grads = { x: f32(g, [2, 3]) };
            const [u1, n1] = fac.update(grads, s1, params);
            const [u2, n2] = rms.update(grads, s2, params);
            [s1, s2] = [n1, n2];
            ema = ema.map((v, i) => b2 * v + (1 - b2) * (Math.fround(g[i]!) ** 2 + EPS1));
            expectAllClose(Array.from((s1.v as { x: NDArray }).x.dataSync()), ema, 1e-5, 0, 'EMA');
            expectAllClose(Array.from(u1.x.dataSync()), Array.from(u2.x.dataSync()), 1e-5, 1e-7, 'updates');
          }
          return null;
        });
      }),
      { seed: SEED, numRuns: 20 },
    );
  });

  const shapes = fc.constantFrom<[number, number]>([4, 6], [7, 3], [5, 5], [2, 9]);
  it('the factored estimate reproduces the row and column sums: Σ_j V̂_ij = n·vr_i, Σ_i V̂_ij = m·vc_j, and vr, vc are EMAs of the row/column means of G² + ε₁', () => {
    fc.assert(
      fc.property(
        shapes.chain((s) => gradSeq(s, 4).map((gs) => [s, gs] as const)),
        ([[m, n], gs]) => {
          scope(() => {
            const t = optim.scaleByFactoredRms({ minDimSizeToFactor: 2 });
            const params = { w: np.zeros([m, n]) };
            let state = t.init(params);
            // The largest axis d₁ is reduced into vr; ties count the later axis as larger.
            const rowsAreAxis0 = n >= m;
            const nr = rowsAreAxis0 ? m : n;
            const nc = rowsAreAxis0 ? n : m;
            let r = new Array<number>(nr).fill(0);
            let c = new Array<number>(nc).fill(0);
            gs.forEach((g, k) => {
              const [, s] = t.update({ w: f32(g, [m, n]) }, state, params);
              state = s;
              const beta = 1 - (k + 1) ** -0.8;
              const g2 = (i: number, j: number) => Math.fround(g[i * n + j]!) ** 2 + EPS1;
              const rowMean = Array.from({ length: nr }, (_, a) => {
                let acc = 0;
                for (let b = 0; b < nc; b++) acc += rowsAreAxis0 ? g2(a, b) : g2(b, a);
                return acc / nc;
              });
              const colMean = Array.from({ length: nc }, (_, b) => {
                let acc = 0;
                for (let a = 0; a < nr; a++) acc += rowsAreAxis0 ? g2(a, b) : g2(b, a);
                return acc / nr;
              });
              r = r.map((v, i) => beta * v + (1 - beta) * rowMean[i]!);
              c = c.map((v, i) => beta * v + (1 - beta) * colMean[i]!);
              const vr = (state.vRow as { w: NDArray }).w;
              const vc = (state.vCol as { w: NDArray }).w;
              expect(vr.shape).toEqual(rowsAreAxis0 ? [m, 1] : [1, n]);
              expect(vc.shape).toEqual(rowsAreAxis0 ? [1, n] : [m, 1]);
              expectAllClose(Array.from(vr.dataSync()), r, 1e-5, 0, 'vr');
              expectAllClose(Array.from(vc.dataSync()), c, 1e-5, 0, 'vc');
              const V = vhatFromFactors(vr, vc, nr, nc, true);
              const rowSums = V.map((row) => row.reduce((a, b) => a + b, 0));
              const colSums = V[0]!.map((_, j) => V.reduce((a, row) => a + row[j]!, 0));
              expectAllClose(rowSums, r.map((v) => v * nc), 1e-5, 0, 'row sums');
              expectAllClose(colSums, c.map((v) => v * nr), 1e-5, 0, 'column sums');
            });
            return null;
          });
        },
      ),
      { seed: SEED, numRuns: 25 },
    );
  });

  it('sum-based and mean-based factorisations agree: the update equals G / sqrt(R·C / ΣR) computed with sums', () => {
    fc.assert(
      fc.property(
        shapes.chain((s) => floats(s[0] * s[1], -3, 3).map((g) => [s, g] as const)),
        ([[m, n], g]) => {
          scope(() => {
            const t = optim.scaleByFactoredRms({ minDimSizeToFactor: 2 });
            const params = { w: np.zeros([m, n]) };
            const [u] = t.update({ w: f32(g, [m, n]) }, t.init(params), params); // t = 1: V̂ from this G alone
            const c2 = (i: number, j: number) => Math.fround(g[i * n + j]!) ** 2 + EPS1;
            const R = Array.from({ length: m }, (_, i) => Array.from({ length: n }, (_, j) => c2(i, j)).reduce((a, b) => a + b, 0));
            const C = Array.from({ length: n }, (_, j) => Array.from({ length: m }, (_, i) => c2(i, j)).reduce((a, b) => a + b, 0));
            const total = R.reduce((a, b) => a + b, 0);
            const want = g.map((x, k) => Math.fround(x) / Math.sqrt((R[Math.floor(k / n)]! * C[k % n]!) / total));
            expectAllClose(Array.from(u.w.dataSync()), want, 2e-5, 1e-6, 'update');
            return null;
          });
        },
      ),
      { seed: SEED, numRuns: 40 },
    );
  });

  it('is exact for rank-1 inputs: if G² + ε₁ = abᵀ at every step then V̂_t = abᵀ and the update is sign(G)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<[number, number]>([3, 4], [6, 2], [5, 5]),
        floats(6, 0.2, 3),
        floats(6, 0.2, 3),
        fc.array(fc.constantFrom(-1, 1), { minLength: 30, maxLength: 30 }),
        ([m, n], av, bv, signs) => {
          scope(() => {
            const a = av.slice(0, m);
            const b = bv.slice(0, n);
            const G = a.flatMap((ai, i) => b.map((bj, j) => signs[(i * n + j) % signs.length]! * Math.sqrt(ai * bj)));
            const t = optim.scaleByFactoredRms({ minDimSizeToFactor: 2 });
            const params = { w: np.zeros([m, n]) };
            let state = t.init(params);
            for (let step = 1; step <= 5; step++) {
              const [u, s] = t.update({ w: f32(G, [m, n]) }, state, params);
              state = s;
              const vr = (state.vRow as { w: NDArray }).w;
              const vc = (state.vCol as { w: NDArray }).w;
              const V = vhatFromFactors(vr, vc, m, n, n >= m).flat();
              const ab = a.flatMap((ai) => b.map((bj) => Math.fround(Math.sqrt(ai * bj)) ** 2));
              expectAllClose(V, ab, 1e-5, 0, `V̂ at t=${step}`);
              expectAllClose(Array.from(u.w.dataSync()), G.map(Math.sign), 1e-5, 0, `U at t=${step}`);
            }
            return null;
          });
        },
      ),
      { seed: SEED, numRuns: 20 },
    );
  });

  it('factors the two largest axes of higher-rank leaves and keeps the others (a 3×3×256×512 kernel keeps vr 3×3×256×1, vc 3×3×1×512)', () => {
    scope(() => {
      const t = optim.scaleByFactoredRms();
      const params = { conv: np.zeros([3, 3, 256, 512]), bias: np.zeros([512]), small: np.zeros([100, 300]) };
      const s = t.init(params) as optim.FactoredState;
      const vr = s.vRow as Record<string, NDArray | null>;
      const vc = s.vCol as Record<string, NDArray | null>;
      const v = s.v as Record<string, NDArray | null>;
      expect(vr.conv!.shape).toEqual([3, 3, 256, 1]);
      expect(vc.conv!.shape).toEqual([3, 3, 1, 512]);
      expect(v.conv).toBeNull();
      expect(vr.bias).toBeNull(); // vectors are never factored
      expect(v.bias!.shape).toEqual([512]);
      expect(vr.small).toBeNull(); // second-largest dimension 100 < 128
      expect(v.small!.shape).toEqual([100, 300]);
      return null;
    });
    // A 3-d leaf through update: the batch axis is kept, row/col sums hold per batch entry.
    scope(() => {
      const t = optim.scaleByFactoredRms({ minDimSizeToFactor: 3 });
      const g = np.reshape(np.add(np.arange(2 * 4 * 5), 1), [2, 4, 5]);
      const params = { k: np.zeros([2, 4, 5]) };
      const [u, s] = t.update({ k: np.astype(g, 'float32') }, t.init(params), params);
      expect(u.k.shape).toEqual([2, 4, 5]);
      expect((s.vRow as { k: NDArray }).k.shape).toEqual([2, 4, 1]);
      expect((s.vCol as { k: NDArray }).k.shape).toEqual([2, 1, 5]);
      return null;
    });
  });
});

describe('update clipping (§4.2 step 7)', () => {
  it('RMS(Û) ≤ d always, and clipping is the identity when RMS(U) ≤ d — fused or as clipByBlockRms', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<[number, number]>([4, 6], [6, 4], [3, 3]),
        fc.double({ min: 0.05, max: 2, noNaN: true }),
        fc.boolean(),
        fc.integer({ min: 0, max: 1000 }),
        ([m, n], d, factored, seed) => {
          scope(() => {
            const params = { w: np.zeros([m, n]), b: np.zeros([n]), k: np.zeros([2, m, n]) };
            const opts = { minDimSizeToFactor: 2, factored };
            const fused = optim.scaleByFactoredRms({ ...opts, clippingThreshold: d });
            const chained = optim.chain(optim.scaleByFactoredRms(opts), optim.clipByBlockRms(d));
            const plain = optim.scaleByFactoredRms(opts);
            let [s1, s2, s3] = [fused.init(params), chained.init(params), plain.init(params)];
            let x = seed;
            const rand = () => ((x = (x * 1103515245 + 12345) % 2147483648) / 2147483648) * 4 - 2;
            for (let step = 0; step < 4; step++) {
              const grads = { w: f32(Array.from({ length: m * n }, rand), [m, n]), b: f32(Array.from({ length: n }, rand), [n]), k: f32(Array.from({ length: 2 * m * n }, rand), [2, m, n]) };
              const [u1, n1] = fused.update(grads, s1, params);
              const [u2, n2] = chained.update(grads, s2, params);
              const [u3, n3] = plain.update(grads, s3, params);
              [s1, s2, s3] = [n1, n2, n3];
              for (const k of ['w', 'b', 'k'] as const) {
                const a = Array.from(u1[k].dataSync());
                const raw = Array.from(u3[k].dataSync());
                const rmsOut = Math.sqrt(a.reduce((acc, v) => acc + v * v, 0) / a.length);
                const rmsIn = Math.sqrt(raw.reduce((acc, v) => acc + v * v, 0) / raw.length);
                expect(rmsOut).toBeLessThanOrEqual(d * (1 + 1e-5));
                expectAllClose(a, Array.from(u2[k].dataSync()), 1e-5, 1e-7, 'fused vs clipByBlockRms');
                if (rmsIn <= d * (1 - 1e-5)) expectAllClose(a, raw, 1e-6, 0, 'identity when RMS(U) ≤ d');
                else expect(rmsOut).toBeCloseTo(d, 4);
              }
            }
            return null;
          });
        },
      ),
      { seed: SEED, numRuns: 30 },
    );
  });
});

describe('the adafactor optimizer', () => {
  it('is invariant to the scale of the loss: gradients k·G give the same updates (up to ε₁)', () => {
    fc.assert(
      fc.property(fc.double({ min: 1e-2, max: 1e2, noNaN: true }), fc.boolean(), fc.integer({ min: 0, max: 1000 }), (k, relative, seed) => {
        scope(() => {
          const make = () => (relative ? optim.adafactor(undefined, { minDimSizeToFactor: 4, momentum: 0.9 }) : optim.adafactor(1e-2, { minDimSizeToFactor: 4 }));
          const params = { w: np.multiply(np.ones([5, 6]), 0.3), b: np.multiply(np.ones([6]), -0.2) };
          const [o1, o2] = [make(), make()];
          let [s1, s2] = [o1.init(params), o2.init(params)];
          let x = seed;
          const rand = () => ((x = (x * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
          for (let step = 0; step < 4; step++) {
            const gw = Array.from({ length: 30 }, rand);
            const gb = Array.from({ length: 6 }, rand);
            const [u1, n1] = o1.update({ w: f32(gw, [5, 6]), b: f32(gb, [6]) }, s1, params);
            const [u2, n2] = o2.update({ w: f32(gw.map((v) => v * k), [5, 6]), b: f32(gb.map((v) => v * k), [6]) }, s2, params);
            [s1, s2] = [n1, n2];
            expectAllClose(Array.from(u2.w.dataSync()), Array.from(u1.w.dataSync()), 1e-4, 1e-9, 'w');
            expectAllClose(Array.from(u2.b.dataSync()), Array.from(u1.b.dataSync()), 1e-4, 1e-9, 'b');
          }
          return null;
        });
      }),
      { seed: SEED, numRuns: 20 },
    );
  });

  it('keeps O(m + n) state for a factored m×n weight: m + n floats (plus the step count), mn when not factored, + mn with momentum', () => {
    scope(() => {
      const count = (opt: optim.Optimizer, params: unknown) => optim.treeSize(opt.init(params)) - tree.leaves(opt.init(params)).filter((x) => (x as NDArray).size === 1 && (x as NDArray).dtype === 'int32').length;
      expect(count(optim.adafactor(1e-3), { w: np.zeros([200, 300]) })).toBe(500);
      expect(count(optim.adafactor(1e-3), { w: np.zeros([300, 200]) })).toBe(500);
      expect(count(optim.adafactor(1e-3), { w: np.zeros([100, 300]) })).toBe(30_000);
      expect(count(optim.adafactor(1e-3), { b: np.zeros([300]) })).toBe(300);
      expect(count(optim.adafactor(1e-3, { momentum: 0.9 }), { w: np.zeros([200, 300]) })).toBe(500 + 60_000);
      expect(count(optim.adafactor(1e-3, { factored: false }), { w: np.zeros([200, 300]) })).toBe(60_000);
      // The step counters: one int32 scalar for the factored statistics (the learning rate is constant).
      expect(optim.treeSize(optim.adafactor(1e-3).init({ w: np.zeros([1024, 1024]) }))).toBe(2049);
      return null;
    });
  });

  it('takes relative steps α_t = min(1e-2, 1/√t)·max(1e-3, RMS(X)) without a learning rate (t = 1, 100, 10⁴)', () => {
    for (const t of [1, 100, 10_000]) {
      for (const xScale of [0.5, 2e-4]) {
        scope(() => {
          const opt = optim.adafactor(undefined);
          const xv = [1, -2, 3, -1, 0.5].map((v) => v * xScale);
          const gv = [0.3, -0.1, 2, -4, 0.01];
          const params = { x: f32(xv, [5]) };
          // Start from a state at step t−1 whose second moment already equals G² + ε₁, so that
          // V̂_t = G² + ε₁ whatever β̂₂,t is and the update direction is sign(G) exactly.
          const fresh = opt.init(params);
          const state = tree.mapWithPath((path, leaf) => {
            const key = path[path.length - 1];
            if (key === 'count') return np.array(t - 1, 'int32');
            if (tree.keystr(path).includes('.v.')) return np.add(np.square(f32(gv, [5])), 1e-30);
            return leaf;
          }, fresh) as typeof fresh;
          const [u] = opt.update({ x: f32(gv, [5]) }, state, params);
          const rmsX = Math.sqrt(xv.reduce((a, v) => a + Math.fround(v) ** 2, 0) / 5);
          const alpha = Math.min(1e-2, 1 / Math.sqrt(t)) * Math.max(1e-3, rmsX);
          expectAllClose(Array.from(u.x.dataSync()), gv.map((g) => -alpha * Math.sign(g)), 1e-5, 0, `t=${t}, RMS(X)=${rmsX}`);
          return null;
        });
      }
    }
  });

  it('at t = 1 takes U₁ ≈ sign(G); a zero gradient gives a zero update (no NaN); a zero parameter still moves (ε₂ floor)', () => {
    scope(() => {
      const opt = optim.adafactor(undefined, { minDimSizeToFactor: 2 });
      const params = { w: np.zeros([3, 4]), b: np.array([1, 2, 3], 'float32') };
      const g = { w: f32([1, -2, 3, -4, 5, -6, 7, -8, 9, -10, 11, -12], [3, 4]), b: np.zeros([3]) };
      const [u] = opt.update(g, opt.init(params), params);
      const w = Array.from(u.w.dataSync());
      expect(w.every((v) => Number.isFinite(v) && v !== 0)).toBe(true);
      // Zero parameter: step ρ₁·ε₂ = 1e-2 · 1e-3 in the direction −sign(G) (up to the factored estimate).
      expect(w.map(Math.sign)).toEqual([1, -2, 3, -4, 5, -6, 7, -8, 9, -10, 11, -12].map((v) => -Math.sign(v)));
      expect(Math.max(...w.map(Math.abs))).toBeLessThan(1e-4);
      expect(Array.from(u.b.dataSync()).every((x) => x === 0)).toBe(true);
      // Unfactored at t = 1: U = G / sqrt(G² + ε₁) = sign(G) (RMS 1 ≤ d, so no clipping).
      const plain = optim.scaleByFactoredRms();
      const [v] = plain.update({ x: f32([0.5, -3, 1e-3], [3]) }, plain.init({ x: np.zeros([3]) }));
      expectAllClose(Array.from(v.x.dataSync()), [1, -1, 1], 1e-6, 0, 'U₁');
      return null;
    });
  });

  it('rejects invalid hyperparameters, naming them', () => {
    expect(() => optim.adafactor(-1)).toThrow(/adafactor: learningRate must be a finite number ≥ 0, got -1/);
    expect(() => optim.adafactor(1e-3, { momentum: 1 })).toThrow(/adafactor: momentum must be in \[0, 1\), got 1/);
    expect(() => optim.adafactor(1e-3, { decayRate: 1.5 })).toThrow(/decayRate must be in \(0, 1\]/);
    expect(() => optim.adafactor(1e-3, { clippingThreshold: 0 })).toThrow(/clippingThreshold must be a finite number > 0/);
    expect(() => optim.adafactor(1e-3, { minDimSizeToFactor: 0 })).toThrow(/minDimSizeToFactor must be an integer ≥ 1/);
  });

  it('refuses row/column statistics made for parameters of another shape, naming the path (they would broadcast silently)', () => {
    scope(() => {
      const t = optim.scaleByFactoredRms({ minDimSizeToFactor: 4 });
      const cases: [number[], number[], RegExp][] = [
        [[1, 6, 5], [2, 6, 5], /scaleByFactoredRms: the state vRow has shape \[1,1,5\] at \.w but the updates there have shape \[2,6,5\], which needs \[2,1,5\]/],
        [[2, 6, 5], [1, 6, 5], /the state vRow has shape \[2,1,5\] at \.w/],
        [[6, 5], [6, 7], /the state vRow has shape \[1,5\] at \.w but the updates there have shape \[6,7\], which needs \[6,1\]/],
        [[6, 5], [7, 5], /the state vCol has shape \[6,1\] at \.w but the updates there have shape \[7,5\], which needs \[7,1\]/],
      ];
      for (const [made, used, message] of cases) {
        const state = t.init({ w: np.zeros(made) });
        expect(() => t.update({ w: np.ones(used) }, state), `${made} → ${used}`).toThrow(message);
      }
      return null;
    });
  });
});

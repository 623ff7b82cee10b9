// VQ-VAE's quantiser and straight-through estimator (algorithms.md §7g): exact forward values,
// identity VJPs, where each loss term sends its gradient, and the stop-gradient identities.
import * as tf from '@tensorflow/tfjs-core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { dispose, grad, jit, np, random, scope, stopGradient, straightThrough, tree, vjp, vmap, type NDArray } from '../src/index.js';
import { checkGrads } from '../src/testing/index.js';
import * as vq from '../models/vqvae.js';

const FC = { seed: 42, numRuns: 25 };

const f32 = (x: unknown) => np.array(x as number[], 'float32');
const vals = (x: NDArray) => Array.from(x.dataSync());
const run = <T>(fn: () => T): T => scope(fn);

function close(got: ArrayLike<number>, want: ArrayLike<number>, rtol = 1e-5, atol = 1e-5, label = 'values'): void {
  expect(got.length, `${label}: length`).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!, w = want[i]!;
    if (!(Math.abs(g - w) <= atol + rtol * Math.abs(w))) throw new Error(`${label}[${i}]: got ${g}, want ${w}`);
  }
}

const grid = (scale: number) => fc.integer({ min: -64 * scale, max: 64 * scale }).map((v) => v / 64);
const matrix = (rows: number, cols: number, scale = 2) => fc.array(fc.array(grid(scale), { minLength: cols, maxLength: cols }), { minLength: rows, maxLength: rows });

/** z [N, d] and a codebook [K, d]. */
const problemArb = fc.tuple(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 3 })).chain(([N, K, d]) =>
  fc.record({ z: matrix(N, d), e: matrix(K, d) }));

const sq = (a: readonly number[], b: readonly number[]) => a.reduce((s, v, i) => s + (v - b[i]!) ** 2, 0);

describe('vector quantisation (§7g)', () => {
  it('picks the nearest codebook entry (float64 reference), and the straight-through value equals it exactly', () => {
    fc.assert(fc.property(problemArb, ({ z, e }) => {
      const { idx, zq, st } = run(() => {
        const r = vq.vectorQuantize(f32(z), f32(e));
        return { idx: Array.from(r.indices.dataSync()), zq: vals(r.zq), st: vals(r.zqSt) };
      });
      z.forEach((row, n) => {
        const d = e.map((code) => sq(row, code));
        const best = Math.min(...d);
        expect(d[idx[n]!]! - best).toBeLessThan(1e-4 * Math.max(1, best)); // nearest up to float32 ties
        expect(zq.slice(n * row.length, (n + 1) * row.length)).toEqual(Array.from(Float32Array.from(e[idx[n]!]!)));
      });
      expect(st).toEqual(zq); // bit for bit
    }), FC);
  });

  it('ties go to the lowest index, and a grid m×m×d quantises every vector separately', () => {
    run(() => {
      const e = f32([[1, 0], [0, 1], [1, 0]]);
      expect(Array.from(vq.quantize(f32([[0.9, 0.1], [0.5, 0.5]]), e).indices.dataSync())).toEqual([0, 0]);
      const zgrid = random.normal(random.key(0), [3, 3, 2]);
      const cb = random.normal(random.key(1), [5, 2]);
      const r = vq.quantize(zgrid, cb);
      expect(r.indices.shape).toEqual([3, 3]);
      expect(r.zq.shape).toEqual([3, 3, 2]);
      expect(vals(r.indices)).toEqual(vals(vq.quantize(np.reshape(zgrid, [9, 2]), cb).indices));
      expect(vals(vmap((row: NDArray) => vq.quantize(row, cb).indices)(zgrid))).toEqual(vals(r.indices));
      expect(vals(jit((zz: NDArray, c: NDArray) => vq.vectorQuantize(zz, c).zqSt)(zgrid, cb))).toEqual(vals(r.zq));
      return null;
    });
  });

  it('the VJP of z ↦ z + sg(z_q − z) is the identity, and no gradient reaches the codebook through it', () => {
    fc.assert(fc.property(problemArb, ({ z, e }) => {
      run(() => {
        const [out, pullback] = vjp((zz: NDArray, cb: NDArray) => vq.vectorQuantize(zz, cb).zqSt, f32(z), f32(e));
        const ct = np.reshape(np.arange(out.size).astype('float32').mul(0.37).sub(1), out.shape);
        const [gz, ge] = pullback(ct) as unknown as [NDArray, NDArray];
        expect(vals(gz)).toEqual(vals(ct));
        expect(vals(ge).every((v) => v === 0)).toBe(true);
        return null;
      });
    }), FC);
  });

  it('the codebook gets gradient only from the β-term, the encoder only from reconstruction and the γ-term', () => {
    fc.assert(fc.property(problemArb, fc.constantFrom(0.5, 1, 2), ({ z, e }, beta) => {
      run(() => {
        const gamma = 0.3;
        const target = f32(z.map((r) => r.map((v) => v * 0.5 + 0.25)));
        const total = (zz: NDArray, cb: NDArray) => {
          const r = vq.vectorQuantize(zz, cb, { beta, gamma });
          return np.sum(np.square(r.zqSt.sub(target))).add(r.loss); // a "decoder" that is the identity
        };
        const [gz, ge] = grad(total, { argnums: [0, 1] })(f32(z), f32(e)) as unknown as [NDArray, NDArray]; // grad's type is the first argument's, even with argnums
        const [cz, ce] = grad((zz: NDArray, cb: NDArray) => vq.codebookLoss(zz, vq.quantize(zz, cb).zq), { argnums: [0, 1] })(f32(z), f32(e)) as unknown as [NDArray, NDArray];
        const [mz, me] = grad((zz: NDArray, cb: NDArray) => vq.commitmentLoss(zz, vq.quantize(zz, cb).zq), { argnums: [0, 1] })(f32(z), f32(e)) as unknown as [NDArray, NDArray];
        expect(vals(cz).every((v) => v === 0)).toBe(true); // codebook term: no encoder gradient
        expect(vals(me).every((v) => v === 0)).toBe(true); // commitment term: no codebook gradient
        close(vals(ge), vals(ce.mul(beta)), 1e-5, 1e-6, 'codebook');
        const zq = vq.quantize(f32(z), f32(e)).zq;
        close(vals(gz), vals(zq.sub(target).mul(2).add(mz.mul(gamma))), 1e-5, 1e-6, 'encoder');
        // the commitment term pulls z towards its code: ∂/∂z = 2(z − z_q)/size
        close(vals(mz), vals(f32(z).sub(zq).mul(2 / zq.size)), 1e-5, 1e-6, 'commitment');
        return null;
      });
    }), FC);
  });

  it("Su's and the paper's weights agree: defaults β = 1, γ = 0.25·β", () => {
    run(() => {
      const z = f32([[0.2, 1.0], [-1, 0.5]]), e = f32([[0, 1], [-1, 0]]);
      const r = vq.vectorQuantize(z, e), r2 = vq.vectorQuantize(z, e, { beta: 2 });
      expect(r.loss.item()).toBeCloseTo((r.codebookLoss.item() as number) + 0.25 * (r.commitmentLoss.item() as number), 6);
      expect(r2.loss.item()).toBeCloseTo(2 * (r.codebookLoss.item() as number) + 0.5 * (r.commitmentLoss.item() as number), 6);
      return null;
    });
  });
});

describe('stop-gradient identities (§7g)', () => {
  it('||sg(a) − b||² + ||a − sg(b)||² has the gradient of ||a − b||² and twice its value', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 6 }).chain((n) => fc.tuple(matrix(1, n, 3), matrix(1, n, 3))), ([a, b]) => {
      run(() => {
        const split = (x: NDArray, y: NDArray) => np.sum(np.square(stopGradient(x).sub(y))).add(np.sum(np.square(x.sub(stopGradient(y)))));
        const plain = (x: NDArray, y: NDArray) => np.sum(np.square(x.sub(y)));
        const A = f32(a[0]), B = f32(b[0]);
        close([split(A, B).item() as number], [2 * (plain(A, B).item() as number)], 1e-6, 1e-6, 'value');
        const [sa, sb] = grad(split, { argnums: [0, 1] })(A, B) as unknown as [NDArray, NDArray];
        const [pa, pb] = grad(plain, { argnums: [0, 1] })(A, B) as unknown as [NDArray, NDArray];
        close([...vals(sa), ...vals(sb)], [...vals(pa), ...vals(pb)], 1e-6, 1e-6, 'gradient');
        return null;
      });
    }), FC);
  });

  it('x + sg(f(x) − x) has the value f(x) and derivative 1 (e.g. ReLU with gradient 1)', () => {
    fc.assert(fc.property(matrix(1, 5, 3), ([x]) => {
      run(() => {
        const X = f32(x);
        const value = straightThrough(X, np.relu);
        close(vals(value), x.map((v) => Math.max(v, 0)), 0, 1e-6, 'value');
        expect(vals(grad((v: NDArray) => np.sum(straightThrough(v, np.relu)))(X))).toEqual(x.map(() => 1));
        expect(vals(vq.straightThrough(X, np.relu(X)))).toEqual(vals(np.relu(X))); // the exact form
        return null;
      });
    }), FC);
  });
});

describe('EMA codebook and the tiny VQ-VAE', () => {
  it('an EMA step with decay 0 is a k-means step; with decay < 1 a dead code keeps its vector', () => {
    run(() => {
      const e = f32([[0, 0], [10, 10], [-50, 50]]);
      const z = f32([[1, 0], [0, 1], [9, 10], [11, 12]]);
      const { indices } = vq.quantize(z, e);
      const kmeans = vq.emaUpdate(vq.emaInit(e), z, indices, 0, 0).codebook;
      close(vals(kmeans.at(0)), [0.5, 0.5], 1e-6, 1e-6, 'cluster 0');
      close(vals(kmeans.at(1)), [10, 11], 1e-6, 1e-6, 'cluster 1');
      const slow = vq.emaUpdate(vq.emaInit(e), z, indices, 0.9).codebook;
      close(vals(slow.at(2)), [-50, 50], 1e-3, 1e-3, 'dead code');
      return null;
    });
  });

  it('an EMA state of nested JS arrays (which its shape check accepts) gives the values of the arrays', () => {
    // (It passed the check, then failed inside: "Cannot read properties of undefined (reading '0')"
    // for counts, "state.sums.mul is not a function" for sums.)
    run(() => {
      const e = f32([[0, 0], [10, 10], [-50, 50]]);
      const z = f32([[1, 0], [0, 1], [9, 10], [11, 12]]);
      const { indices } = vq.quantize(z, e);
      const st = vq.emaInit(e);
      const want = vq.emaUpdate(st, z, indices, 0.9);
      for (const js of [{ counts: st.counts.toArray(), sums: st.sums }, { counts: st.counts, sums: st.sums.toArray() }]) {
        const got = vq.emaUpdate(js as unknown as vq.EmaCodebookState, z, indices, 0.9);
        expect(vals(got.codebook)).toEqual(vals(want.codebook));
        expect(vals(got.state.counts)).toEqual(vals(want.state.counts));
        expect(vals(got.state.sums)).toEqual(vals(want.state.sums));
      }
      return null;
    });
  });

  it('trains end to end: the decoder gradient matches finite differences and the encoder gets the straight-through gradient', () => {
    run(() => {
      const params = vq.init(random.key(3), { inputDim: 4, latentDim: 2, codebookSize: 6, hidden: 8 });
      const x = random.normal(random.key(4), [5, 4]);
      const g = grad((p: vq.VqVaeParams) => vq.loss(p, x))(params);
      expect(tree.leaves(g).every((l) => vals(l as NDArray).every(Number.isFinite))).toBe(true);
      expect(vals(g.encoder[0]!.w).some((v) => v !== 0)).toBe(true);
      // the decoder's output layer (the hidden ReLU has kinks that finite differences cannot see through)
      checkGrads((last: vq.VqVaeParams['decoder'][number]) => vq.loss({ ...params, decoder: [params.decoder[0]!, last] }, x), [params.decoder[1]!], { order: 2 });
      // a few SGD steps lower the loss
      let p = params;
      const before = vq.loss(p, x).item() as number;
      for (let i = 0; i < 30; i++) {
        const gi = grad((pp: vq.VqVaeParams) => vq.loss(pp, x))(p);
        p = tree.map((a: NDArray, b: NDArray) => a.sub(b.mul(0.05)), p, gi) as vq.VqVaeParams;
      }
      expect(vq.loss(p, x).item()).toBeLessThan(before);
      return null;
    });
  });

  it('top-level calls free their intermediates', () => {
    const z = f32([[0.2, 1.0], [-1, 0.5], [0.3, 0.3]]), e = f32([[0, 1], [-1, 0]]), idx = np.array([0, 1, 0], 'int32');
    const params = vq.init(random.key(0), { inputDim: 2, latentDim: 2, codebookSize: 2, hidden: 4 });
    const state = vq.emaInit(e), e0 = e.at(0);
    const inputs = [z, e, idx, params, state, e0];
    const before = tf.memory().numTensors;
    const outs: unknown[] = [
      vq.squaredDistances(z, e), vq.quantize(z, e), vq.vectorQuantize(z, e), vq.straightThrough(z, e0),
      vq.codebookLoss(z, z), vq.commitmentLoss(z, z), vq.emaUpdate(state, z, idx), vq.forward(params, z), vq.loss(params, z),
      grad((p: vq.VqVaeParams) => vq.loss(p, z))(params),
    ];
    expect(tf.memory().numTensors - before).toBeLessThanOrEqual(tree.leaves(outs).length);
    dispose(outs, { keep: inputs });
    expect(tf.memory().numTensors).toBe(before);
    dispose(inputs);
  });
});

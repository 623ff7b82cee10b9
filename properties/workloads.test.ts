// Research workloads end to end, each against an independent reference: Gaussian-process regression
// (the marginal likelihood and its hyperparameter gradient against a float64 closed form) and a
// causal self-attention block (causality, jit against eager, finite differences, a short AdamW
// training loop without leaks). Written while dogfooding; each runs in a few seconds.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { jit, np, random, scope, tree, valueAndGrad, dispose, type NDArray } from '../src/index.js';
import * as optim from '../optim/index.js';
import { checkGrads } from '../src/testing/index.js';
import { FC_SEED, numTensors } from './helpers.js';

// ---------------------------------------------------------------------------------------------
// Gaussian-process regression

const GP_X = [-2.6, -1.9, -1.1, -0.4, 0.3, 0.9, 1.6, 2.2, 2.8];
const GP_Y = GP_X.map((x, i) => Math.sin(x) + 0.05 * Math.cos(7 * i));
const N = GP_X.length;

/** log p(y | θ) and its gradient in θ = (log ℓ, log σ_f, log σ_n) in float64: ½ tr((ααᵀ − K⁻¹) ∂K/∂θ). */
function gpReference([logl, logs, logn]: number[]): { mll: number; grad: number[] } {
  const l2 = Math.exp(2 * logl), sf2 = Math.exp(2 * logs), sn2 = Math.exp(2 * logn);
  const K = GP_X.map((a) => GP_X.map((b) => sf2 * Math.exp((-0.5 * (a - b) ** 2) / l2)));
  const Ky = K.map((r, i) => r.map((v, j) => v + (i === j ? sn2 : 0)));
  // Gauss–Jordan inverse and log-determinant (Ky is symmetric positive definite).
  const M = Ky.map((r, i) => [...r, ...r.map((_, j) => (i === j ? 1 : 0))]);
  let logdet = 0;
  for (let c = 0; c < N; c++) {
    const d = M[c]![c]!;
    logdet += Math.log(d);
    for (let k = 0; k < 2 * N; k++) M[c]![k]! /= d;
    for (let r = 0; r < N; r++) {
      if (r === c) continue;
      const f = M[r]![c]!;
      for (let k = 0; k < 2 * N; k++) M[r]![k]! -= f * M[c]![k]!;
    }
  }
  const Ki = M.map((r) => r.slice(N));
  const alpha = Ki.map((r) => r.reduce((s, v, j) => s + v * GP_Y[j]!, 0));
  const mll = -0.5 * GP_Y.reduce((s, y, i) => s + y * alpha[i]!, 0) - 0.5 * logdet - 0.5 * N * Math.log(2 * Math.PI);
  const traceWith = (dK: (i: number, j: number) => number) => {
    let t = 0;
    for (let i = 0; i < N; i++) for (let j = 0; j < N; j++) t += (alpha[i]! * alpha[j]! - Ki[i]![j]!) * dK(j, i);
    return 0.5 * t;
  };
  return {
    mll,
    grad: [traceWith((i, j) => (K[i]![j]! * (GP_X[i]! - GP_X[j]!) ** 2) / l2), traceWith((i, j) => 2 * K[i]![j]!), traceWith((i, j) => (i === j ? 2 * sn2 : 0))],
  };
}

/** The marginal likelihood through cholesky and solveTriangular. */
function gpMll(theta: NDArray): NDArray {
  const x = np.array(GP_X, 'float32'), y = np.array(GP_Y, 'float32');
  const d2 = np.square(np.subtract(x.reshape([N, 1]), x.reshape([1, N])));
  const K = np.exp(np.add(np.multiply(np.divide(d2, np.exp(theta.at(0).mul(2))), -0.5), theta.at(1).mul(2)));
  const L = np.linalg.cholesky(np.add(K, np.multiply(np.eye(N), np.exp(theta.at(2).mul(2)))));
  const z = np.linalg.solveTriangular(L, y, { lower: true });
  return np.sum(np.square(z)).mul(-0.5).sub(np.sum(np.log(np.linalg.diagonal(L)))).sub(0.5 * N * Math.log(2 * Math.PI));
}

describe('Gaussian-process regression', () => {
  it('the marginal likelihood and its gradient in the log hyperparameters match float64, eagerly and under jit', () => {
    const jitted = jit(valueAndGrad(gpMll));
    const start = numTensors();
    fc.assert(
      fc.property(fc.tuple(fc.double({ min: -1, max: 0.7, noNaN: true }), fc.double({ min: -0.5, max: 0.5, noNaN: true }), fc.double({ min: -3, max: -1, noNaN: true })), (th) => {
        scope(() => {
          const theta = th.map(Math.fround);
          const want = gpReference(theta);
          const t = np.array(theta, 'float32');
          for (const [how, [v, g]] of [['eager', valueAndGrad(gpMll)(t)], ['jit', jitted(t)]] as const) {
            expect(Math.abs(Number(v.item()) - want.mll), `${how} mll at ${theta}`).toBeLessThan(2e-4 * Math.max(1, Math.abs(want.mll)));
            const scale = Math.max(1, ...want.grad.map(Math.abs));
            Array.from(g.dataSync()).forEach((gi, i) => expect(Math.abs(gi - want.grad[i]!), `${how} ∂mll/∂θ${i} at ${theta}`).toBeLessThan(1e-4 * scale));
          }
          return null;
        });
      }),
      { seed: FC_SEED, numRuns: 12 },
    );
    jitted.clearCache();
    expect(numTensors()).toBe(start);
  });
});

// ---------------------------------------------------------------------------------------------
// A causal self-attention block

const T = 5, D = 8, H = 2, V = 7;
type Block = Record<'emb' | 'wq' | 'wk' | 'wv' | 'wo' | 'w1' | 'w2' | 'out' | 'g' | 'b', NDArray>;

function initBlock(key: NDArray): Block {
  const [k0, k1, k2, k3, k4, k5, k6, k7] = random.split(key, 8);
  const n = (k: NDArray, s: number[], sc: number) => random.normal(k, s).mul(sc);
  return {
    emb: n(k0!, [V, D], 0.5), wq: n(k1!, [D, D], 0.3), wk: n(k2!, [D, D], 0.3), wv: n(k3!, [D, D], 0.3), wo: n(k4!, [D, D], 0.3),
    w1: n(k5!, [D, 2 * D], 0.3), w2: n(k6!, [2 * D, D], 0.3), out: n(k7!, [D, V], 0.3), g: np.ones([D]), b: np.zeros([D]),
  };
}

function logits(p: Block, tokens: NDArray): NDArray {
  const x = np.take(p.emb, tokens, 0); // [B, T, D]
  const h = np.add(np.multiply(np.standardize(x, -1), p.g), p.b);
  const heads = (w: NDArray) => np.matmul(h, w).reshape([...x.shape.slice(0, -1), H, D / H]); // [B, T, H, Dh]
  const scores = np.einsum('...qhd,...khd->...hqk', heads(p.wq), heads(p.wk)).div(Math.sqrt(D / H));
  const att = np.softmax(np.where(np.tril(np.ones([T, T], 'bool')), scores, -1e9), -1);
  const o = np.einsum('...hqk,...khd->...qhd', att, heads(p.wv)).reshape(x.shape);
  const y = np.add(x, np.matmul(o, p.wo));
  return np.matmul(np.add(y, np.matmul(np.gelu(np.matmul(y, p.w1)), p.w2)), p.out);
}

function nll(p: Block, tokens: NDArray, targets: NDArray): NDArray {
  return np.mean(np.takeAlongAxis(np.logSoftmax(logits(p, tokens), -1), np.expandDims(targets, -1), -1)).neg();
}

describe('a causal self-attention block', () => {
  it('is causal, jit(valueAndGrad) equals eager, gradients pass checkGrads, and AdamW training neither leaks nor diverges', () => {
    scope(() => {
      const params = initBlock(random.key(0));
      const tokens = random.randint(random.key(1), [3, T], 0, V);
      const targets = random.randint(random.key(2), [3, T], 0, V);
      // Causality: changing the last token leaves the logits at earlier positions unchanged.
      const changed = np.concatenate([tokens.at(null, [0, T - 1]), np.remainder(tokens.at(null, [T - 1, T]).add(3), V)], 1);
      const before = logits(params, tokens), after = logits(params, changed);
      expect(np.max(np.abs(before.at(null, [0, T - 1]).sub(after.at(null, [0, T - 1])))).item()).toBe(0);
      expect(np.max(np.abs(before.at(null, T - 1).sub(after.at(null, T - 1)))).item()).toBeGreaterThan(1e-3);
      // jit equals eager, bitwise.
      const [l0, g0] = valueAndGrad(nll)(params, tokens, targets);
      const [l1, g1] = jit(valueAndGrad(nll))(params, tokens, targets);
      expect(l1.item()).toBe(l0.item());
      tree.map((a: NDArray, b: NDArray) => expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync())), g0, g1);
      checkGrads((p: Block) => nll(p, tokens, targets), [params], { order: 1 });
      return null;
    });
    // Training: AdamW with warm-up and cosine decay behind global-norm clipping, one jitted step.
    const params = initBlock(random.key(0));
    const tokens = random.randint(random.key(1), [3, T], 0, V);
    const targets = random.randint(random.key(2), [3, T], 0, V);
    const schedule = optim.schedules.warmupCosineDecay({ initValue: 0, peakValue: 3e-2, warmupSteps: 5, decaySteps: 40 });
    const opt = optim.chain(optim.clipByGlobalNorm(1), optim.adamw(schedule, { weightDecay: 1e-2 }));
    const step = jit((p: Block, s: unknown) => {
      const [loss, g] = valueAndGrad(nll)(p, tokens, targets);
      const [u, s2] = opt.update(g, s as never, p);
      return [loss, optim.applyUpdates(p, u), s2] as const;
    });
    let p = params, s: unknown = opt.init(params);
    const losses: number[] = [];
    let live = 0;
    for (let i = 0; i < 40; i++) {
      const [loss, p2, s2] = step(p, s);
      losses.push(Number(loss.item()));
      dispose([p, s, loss], { keep: [p2, s2] });
      p = p2;
      s = s2;
      if (i === 1) live = numTensors();
      if (i > 1) expect(numTensors(), `live tensors after step ${i + 1}`).toBe(live);
    }
    expect(losses[39]!).toBeLessThan(0.5 * losses[0]!);
    step.clearCache();
    dispose([p, s, tokens, targets]);
  });
});

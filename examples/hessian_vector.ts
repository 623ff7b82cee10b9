// Hessian-vector products without the Hessian: hvp(v) = jvp(grad(f), [w], [v])[1] — forward mode
// over reverse mode — costs a small multiple of one gradient, while the explicit Hessian
// (`hessian(f)`, n gradients' worth) is n×n. Shown on a small tanh MLP regression whose parameters
// are one flat vector: the two agree, the cost ratio to `grad`, and the top Hessian eigenvalue by
// power iteration on hvp (checked with the explicit Hessian). Then Newton-CG on L2-regularised
// logistic regression: each Newton step solves H·p = −g by conjugate gradients using only hvp, and
// reaches the optimum in a handful of steps where gradient descent with the same number of
// gradient-sized evaluations is still far away.
//
//   npx tsx examples/hessian_vector.ts          # full run (~12 s)
//   npx tsx examples/hessian_vector.ts --fast
import * as tf from '@tensorflow/tfjs-core';
import { pathToFileURL } from 'node:url';
import { dispose, grad, hessian, jit, jvp, np, random, scope, type NDArray } from '../src/index.js';
import { block, heading, num, say, show, table } from './report.js';

export interface HessianOptions {
  fast?: boolean;
  quiet?: boolean;
  seed?: number;
}

export interface HessianResult {
  /** max |H·v − hvp(v)| / max |H·v| over a few random v. */
  hvpRelativeError: number;
  /** Cost of one hvp / one grad (both jit-compiled, median of runs). */
  hvpOverGrad: number;
  /** Top eigenvalue (largest |λ|) by power iteration on hvp, and the residual ‖Hv − λv‖ / |λ| with the explicit H. */
  topEigenvalue: number;
  eigenResidual: number;
  /** Logistic regression loss after each Newton-CG step, the optimum's gradient norm, and gradient descent's loss with the same budget. */
  newtonLosses: number[];
  newtonGradNorm: number;
  gdLoss: number;
  seconds: number;
}

/** A tanh MLP 4 → h → h → 1 whose parameters are the flat vector w (so the Hessian is one matrix). */
function mlpOnFlat(h: number): { size: number; apply: (w: NDArray, x: NDArray) => NDArray } {
  const shapes: [number, number][] = [[4, h], [1, h], [h, h], [1, h], [h, 1], [1, 1]];
  const size = shapes.reduce((a, [r, c]) => a + r * c, 0);
  return {
    size,
    apply: (w, x) => {
      let at = 0;
      const take = ([r, c]: [number, number]) => w.at([at, (at += r * c)]).reshape(r, c);
      const [w1, b1, w2, b2, w3, b3] = shapes.map(take) as [NDArray, NDArray, NDArray, NDArray, NDArray, NDArray];
      const a = np.tanh(np.matmul(x, w1).add(b1));
      const b = np.tanh(np.matmul(a, w2).add(b2));
      return np.matmul(b, w3).add(b3).reshape(-1);
    },
  };
}

/** Median milliseconds of `f` over `reps` runs (after one warm-up), its results freed. */
function time(f: () => unknown, reps: number): number {
  dispose(f());
  const ts: number[] = [];
  for (let r = 0; r < reps; r++) {
    const s = performance.now();
    const out = f();
    // Reading one number waits for the kernels (wasm is synchronous anyway).
    dispose(out);
    ts.push(performance.now() - s);
  }
  return ts.sort((a, b) => a - b)[Math.floor(ts.length / 2)]!;
}

export async function runHessianVector(options: HessianOptions = {}): Promise<HessianResult> {
  const { fast = false, quiet = false, seed = 0 } = options;
  const log = quiet ? () => {} : (s: string) => console.log(s);
  const t0 = performance.now();
  const tensorsBefore = tf.memory().numTensors;
  const key = random.key(seed);

  // ---- 1. hvp against the explicit Hessian ------------------------------------------------------
  const net = mlpOnFlat(fast ? 6 : 16);
  const n = net.size;
  const x = scope(() => random.normal(random.foldIn(key, 1), [fast ? 256 : 4096, 4]));
  const y = scope(() => np.sin(np.sum(x, 1)));
  const f = (w: NDArray) => np.mean(np.square(net.apply(w, x).sub(y)));
  const w = scope(() => random.normal(random.foldIn(key, 2), [n]).mul(0.5));
  const hvp = (v: NDArray) => jvp(grad(f), [w], [v])[1];
  if (!quiet) {
    heading('Hessian-vector products: jvp(grad(f))');
    say(`f(w) is the mean squared error of a tanh MLP whose ${n} parameters are one flat vector w.
      hvp(v) = jvp(grad(f), [w], [v])[1] differentiates the gradient in direction v (forward over
      reverse); hessian(f)(w) builds the whole ${n}×${n} matrix.`);
  }
  const H = hessian(f)(w);
  let hvpRelativeError = 0;
  scope(() => {
    for (let i = 0; i < 3; i++) {
      const v = random.normal(random.foldIn(key, 10 + i), [n]);
      const exact = np.matmul(H, v), fast_ = hvp(v);
      hvpRelativeError = Math.max(hvpRelativeError, (np.max(np.abs(exact.sub(fast_))).item() as number) / (np.max(np.abs(exact)).item() as number));
    }
  });
  const gradJ = jit(grad(f)), hvpJ = jit((w_: NDArray, v: NDArray) => jvp(grad(f), [w_], [v])[1]), hessJ = jit(hessian(f));
  const v0 = scope(() => random.normal(random.foldIn(key, 20), [n]));
  const reps = fast ? 3 : 15;
  const ms = { grad: time(() => gradJ(w), reps), hvp: time(() => hvpJ(w, v0), reps), hessian: time(() => hessJ(w), fast ? 1 : 3) };
  if (!quiet) {
    show('max |H·v − hvp(v)| / max |H·v|  (3 random v)', num(hvpRelativeError));
    block(table([
      ['jit-compiled', 'time', '× grad'],
      ['grad(f)(w)', `${ms.grad.toFixed(2)} ms`, '1'],
      ['jvp(grad(f), [w], [v])', `${ms.hvp.toFixed(2)} ms`, num(ms.hvp / ms.grad, 2)],
      [`hessian(f)(w)  (${n}×${n})`, `${ms.hessian.toFixed(2)} ms`, num(ms.hessian / ms.grad, 1)],
    ]));
  }

  // Top eigenvalue (largest |λ|) by power iteration using only hvp.
  let v = scope(() => {
    const r = random.normal(random.foldIn(key, 30), [n]);
    return r.div(np.linalg.norm(r));
  });
  let lambda = 0;
  const iterations = fast ? 20 : 100;
  for (let i = 0; i < iterations; i++) {
    const prev = v;
    const [next, l] = scope(() => {
      const hv = hvpJ(w, prev);
      return [hv.div(np.linalg.norm(hv)), np.dot(prev, hv).item() as number] as const;
    });
    dispose(prev);
    v = next;
    lambda = l;
  }
  const eigenResidual = scope(() => (np.linalg.norm(np.matmul(H, v).sub(v.mul(lambda))).item() as number) / Math.abs(lambda));
  if (!quiet) {
    say(`Power iteration on hvp (${iterations} iterations, never forming H) finds the eigenvalue of
      largest magnitude — the curvature that limits a stable learning rate (lr < 2/λ for gradient descent).`);
    show('λ_max by power iteration on hvp', num(lambda, 4));
    show('‖H·v − λ·v‖ / |λ| with the explicit Hessian', num(eigenResidual));
  }
  dispose([H, v, v0, x, y, w]);
  gradJ.clearCache();
  hvpJ.clearCache();
  hessJ.clearCache();

  // ---- 2. Newton-CG on logistic regression ------------------------------------------------------
  const d = fast ? 10 : 50, m = fast ? 200 : 1000, l2 = 1e-2;
  const data = scope(() => {
    const A = random.normal(random.foldIn(key, 40), [m, d]);
    const wTrue = random.normal(random.foldIn(key, 41), [d]);
    const noise = random.normal(random.foldIn(key, 42), [m]).mul(2);
    // Columns of different scales make the problem ill-conditioned, which is where Newton shines.
    const scales = np.exp(np.linspace(-2, 1, d));
    const X = A.mul(scales);
    const t = np.greater(np.matmul(X, wTrue).add(noise), 0).astype('float32');
    return { X, t };
  });
  const nll = (u: NDArray) => {
    const z = np.matmul(data.X, u);
    // mean log(1 + e^z) − t·z, plus the L2 term: convex, with a positive definite Hessian.
    return np.mean(np.softplus(z).sub(data.t.mul(z))).add(np.sum(np.square(u)).mul(l2 / 2));
  };
  const g = jit(grad(nll));
  const hv = jit((u: NDArray, p: NDArray) => jvp(grad(nll), [u], [p])[1]);
  const lossJ = jit(nll);
  /** Solves H·p = −g by conjugate gradients with `iters` hvps; returns p. */
  const cg = (u: NDArray, gu: NDArray, iters: number): NDArray => scope(() => {
    let p = np.zerosLike(gu), r = gu.neg(), dir = r;
    let rr = np.dot(r, r);
    for (let k = 0; k < iters; k++) {
      const Hd = hv(u, dir);
      const alpha = rr.div(np.dot(dir, Hd));
      p = p.add(dir.mul(alpha));
      r = r.sub(Hd.mul(alpha));
      const rr2 = np.dot(r, r);
      if ((rr2.item() as number) < 1e-12) break;
      dir = r.add(dir.mul(rr2.div(rr)));
      rr = rr2;
    }
    return p;
  });
  const newtonSteps = fast ? 3 : 6, cgIters = 10;
  let u = np.zeros([d]);
  const newtonLosses: number[] = [scope(() => lossJ(u).item() as number)];
  for (let s = 0; s < newtonSteps; s++) {
    const prev = u;
    u = scope(() => prev.add(cg(prev, g(prev), cgIters)));
    dispose(prev);
    newtonLosses.push(scope(() => lossJ(u).item() as number));
  }
  const newtonGradNorm = scope(() => np.linalg.norm(g(u)).item() as number);
  // Gradient descent with the same budget of gradient-sized evaluations (one gradient + cgIters hvps per Newton step).
  const budget = newtonSteps * (1 + cgIters);
  const lipschitz = scope(() => (np.max(np.sum(np.square(data.X), 1)).item() as number) / 4 + l2);
  let ugd = np.zeros([d]);
  for (let s = 0; s < budget; s++) {
    const prev = ugd;
    ugd = scope(() => prev.sub(g(prev).mul(1 / lipschitz)));
    dispose(prev);
  }
  const gdLoss = scope(() => lossJ(ugd).item() as number);
  if (!quiet) {
    heading('Newton-CG with hvp');
    say(`Logistic regression (${m} points, ${d} features of very different scales, L2 ${l2}). Each Newton step
      solves H·p = −∇f by ${cgIters} conjugate-gradient iterations, each one hvp: the Hessian is never formed.`);
    block(table([
      ['Newton step', 'loss'],
      ...newtonLosses.map((l, i) => [String(i), l.toFixed(6)]),
    ]));
    say(`‖∇f‖ after ${newtonSteps} Newton steps: ${num(newtonGradNorm)}. Gradient descent (step 1/L) with the same
      ${budget} gradient-sized evaluations reaches loss ${gdLoss.toFixed(6)}.`);
  }
  dispose([u, ugd, data, key]);
  g.clearCache();
  hv.clearCache();
  lossJ.clearCache();
  const result: HessianResult = {
    hvpRelativeError, hvpOverGrad: ms.hvp / ms.grad, topEigenvalue: lambda, eigenResidual,
    newtonLosses, newtonGradNorm, gdLoss, seconds: (performance.now() - t0) / 1000,
  };
  log(`hessian_vector: hvp matches H·v to ${num(hvpRelativeError)}, costs ${num(result.hvpOverGrad, 2)}× a gradient; λ_max ${num(lambda, 4)}; Newton-CG loss ${newtonLosses[newtonLosses.length - 1]!.toFixed(6)} vs gradient descent ${gdLoss.toFixed(6)}; ${result.seconds.toFixed(1)} s`);
  const leaked = tf.memory().numTensors - tensorsBefore;
  if (leaked !== 0) log(`warning: ${leaked} tensors left alive`);
  return result;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await runHessianVector({ fast: process.argv.includes('--fast') });
}

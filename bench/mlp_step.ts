// One SGD step of an MLP 784-512-512-10 on a batch of 128 (issues 3 and 5), everyone on the same
// weights and data: gradus `grad` (eager) and `jit(step)`, TF.js `tf.valueAndGrads`, the TF.js
// kernel floor (the step's eight matrix products as bare kernels) and the same on gradus's own
// kernels, jax-js `jit(grad)`, PyTorch.
// Run alone with `npx tsx bench/mlp_step.ts`.
import '@tensorflow/tfjs'; // registers TF.js's gradient functions (tf.valueAndGrads needs them)
import * as os from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import { grad, jit, np, scope, dispose, tree, valueAndGrad, type NDArray } from '../src/index.js';
import { mlp } from '../models/nn.js';
import { kernels } from '../src/kernels.js';
import { makeMlpData, removePythonData, toGradus, toTf, writeForPython, type MlpData } from './data.js';
import { compare, isMain, measured, ratio, readBackSmallest, runAlone, type BenchResult, type Contender, type Ratio, type Timing } from './harness.js';
import { jaxGlobalNorm, jaxMlpLoss, jaxScalar, loadJax, toJax, type JaxArray, type JaxLayer } from './jaxjs.js';
import { runTorch, type TorchResult } from './torch.js';

export const SIZES = [784, 512, 512, 10];
export const BATCH = 128;
const LR = 0.01;

type Params = { w: NDArray; b: NDArray }[];

/** Mean softmax cross-entropy of the relu MLP (models/nn's mlp). */
export function mlpLoss(params: Params, x: NDArray, y: NDArray): NDArray {
  const logits = mlp.apply(params, x);
  return np.negative(np.mean(np.sum(np.multiply(np.logSoftmax(logits), y), -1)));
}

function sgdStep(params: Params, x: NDArray, y: NDArray): Params {
  const g = grad(mlpLoss)(params, x, y);
  return tree.map((p: NDArray, d: NDArray) => np.subtract(p, np.multiply(d, LR)), params, g) as Params;
}

function globalNorm(leaves: readonly { dataSync(): unknown }[]): number {
  let s = 0;
  for (const l of leaves) for (const v of l.dataSync() as Float32Array) s += v * v;
  return Math.sqrt(s);
}

function tfLoss(ws: tf.Tensor[], x: tf.Tensor, y: tf.Tensor): tf.Scalar {
  let h = x;
  for (let i = 0; i < ws.length; i += 2) {
    h = tf.add(tf.matMul(h, ws[i]!), ws[i + 1]!);
    if (i + 2 < ws.length) h = tf.relu(h);
  }
  return tf.neg(tf.mean(tf.sum(tf.mul(tf.logSoftmax(h), y), -1))) as tf.Scalar;
}

/**
 * A·B-style product of `op(a)·op(b)` with explicit transposes, choosing between computing it
 * directly or as (op(b)ᵀ·op(a)ᵀ)ᵀ by how many elements each has to transpose — the layout gradus's
 * wasm lowering of dot_general uses (src/kernels.ts), because transposed matMul flags are slow there.
 */
export function floorProduct(a: tf.Tensor2D, b: tf.Tensor2D, transA: boolean, transB: boolean): tf.Tensor2D {
  const [M, K] = transA ? [a.shape[1], a.shape[0]] : a.shape;
  const N = transB ? b.shape[0] : b.shape[1];
  const direct = (transA ? M * K : 0) + (transB ? K * N : 0);
  const swapped = (transB ? 0 : K * N) + (transA ? 0 : M * K) + M * N;
  if (direct <= swapped) return tf.matMul(transA ? tf.transpose(a) : a, transB ? tf.transpose(b) : b);
  return tf.transpose(tf.matMul(transB ? b : tf.transpose(b), transA ? a : tf.transpose(a))) as tf.Tensor2D;
}

/**
 * The step's matrix products back to back as bare TF.js kernels: the forward products, then per
 * layer dW = hᵀ·g and (except the first) dh = g·Wᵀ. With `explicitTransposes` the transposed
 * operands are laid out as gradus does on wasm; without, operands are pre-transposed (a lower
 * bound that no autodiff system reaches).
 */
function kernelFloor(t: { params: { w: tf.Tensor2D }[]; x: tf.Tensor2D }, explicitTransposes: boolean): { run: () => tf.Tensor[]; dispose: () => void } {
  const ws = t.params.map((p) => p.w);
  const hs: tf.Tensor2D[] = [t.x];
  const gs: tf.Tensor2D[] = []; // cotangents of each layer's output, [B, out]
  tf.tidy(() => {
    for (const w of ws) hs.push(tf.keep(tf.matMul(hs[hs.length - 1]!, w)));
    for (const w of ws) gs.push(tf.keep(tf.randomNormal([t.x.shape[0], w.shape[1]]) as tf.Tensor2D));
  });
  // Pre-transposed operands for the lower bound.
  const hT = hs.map((h) => tf.transpose(h)), wT = ws.map((w) => tf.transpose(w));
  const run = () => tf.tidy(() => {
    const out: tf.Tensor[] = [];
    let h: tf.Tensor2D = t.x;
    for (const w of ws) out.push((h = tf.matMul(h, w)));
    for (let i = ws.length - 1; i >= 0; i--) {
      if (explicitTransposes) {
        out.push(floorProduct(hs[i]!, gs[i]!, true, false));
        if (i > 0) out.push(floorProduct(gs[i]!, ws[i]!, false, true));
      } else {
        out.push(tf.matMul(hT[i]!, gs[i]!));
        if (i > 0) out.push(tf.matMul(gs[i]!, wT[i]!));
      }
    }
    return out;
  });
  return { run, dispose: () => tf.dispose([...hs.slice(1), ...gs, ...hT, ...wT]) };
}

/**
 * The same eight products on gradus's own kernels, as its jit runs them: dot_general with the
 * operands in their stored layouts (on wasm, gradus's GEMM and transpose). The overhead of jit over
 * its own kernels is the step divided by this.
 */
function gradusKernelFloor(t: { params: { w: tf.Tensor2D }[]; x: tf.Tensor2D }): { run: () => tf.Tensor[]; dispose: () => void } {
  const ws = t.params.map((p) => p.w);
  const hs: tf.Tensor[] = [t.x];
  const gs: tf.Tensor[] = [];
  tf.tidy(() => {
    for (const w of ws) hs.push(tf.keep(tf.matMul(hs[hs.length - 1]!, w)));
    for (const w of ws) gs.push(tf.keep(tf.randomNormal([t.x.shape[0], w.shape[1]])));
  });
  const dot = (a: tf.Tensor, b: tf.Tensor, contract: [number, number]) => kernels.dot_general([a, b], { contract: [[contract[0]], [contract[1]]], batch: [[], []] })[0]!;
  const run = () => tf.tidy(() => {
    const out: tf.Tensor[] = [];
    let h: tf.Tensor = t.x;
    for (const w of ws) out.push((h = dot(h, w, [1, 0])));
    for (let i = ws.length - 1; i >= 0; i--) {
      out.push(dot(hs[i]!, gs[i]!, [0, 0])); // dW = hᵀ·g
      if (i > 0) out.push(dot(gs[i]!, ws[i]!, [1, 1])); // dh = g·Wᵀ
    }
    return out;
  });
  return { run, dispose: () => tf.dispose([...hs.slice(1), ...gs]) };
}

/**
 * The whole SGD step written by hand in TF.js kernels (no autodiff): forward, softmax
 * cross-entropy gradient, backward with the floor's product layout, update. What the kernels cost
 * with every elementwise op included; the gap to gradus jit is gradus's own overhead.
 */
function handWrittenStep(ws: tf.Tensor[], x: tf.Tensor2D, y: tf.Tensor2D): tf.Tensor[] {
  return tf.tidy(() => {
    const n = ws.length / 2;
    const hs: tf.Tensor2D[] = [x], zs: tf.Tensor2D[] = [];
    for (let i = 0; i < n; i++) {
      const z = tf.add(tf.matMul(hs[i]!, ws[2 * i] as tf.Tensor2D), ws[2 * i + 1]!) as tf.Tensor2D;
      zs.push(z);
      if (i < n - 1) hs.push(tf.relu(z) as tf.Tensor2D);
    }
    let g = tf.div(tf.sub(tf.softmax(zs[n - 1]!), y), x.shape[0]) as tf.Tensor2D;
    const out: tf.Tensor[] = new Array(ws.length);
    for (let i = n - 1; i >= 0; i--) {
      out[2 * i] = tf.sub(ws[2 * i]!, tf.mul(floorProduct(hs[i]!, g, true, false), LR));
      out[2 * i + 1] = tf.sub(ws[2 * i + 1]!, tf.mul(tf.sum(g, 0), LR));
      if (i > 0) g = tf.mul(floorProduct(g, ws[2 * i] as tf.Tensor2D, false, true), tf.step(zs[i - 1]!)) as tf.Tensor2D;
    }
    return out;
  });
}

const GRADUS_FLOOR = "gradus's kernel floor (the 8 products as bare dot_general kernels)";

/** Contenders that train: each step starts from the parameters the previous step returned. */
const TRAINING_LOOP = {
  gradus: 'gradus jit(step), training loop (new weights every step)',
  tfjs: 'TF.js hand-written step, training loop',
  jax: 'jax-js jit(grad) step, training loop',
} as const;

export interface MlpStepOptions {
  /** PyTorch results (from runTorch), a reason it is unavailable, or undefined to run it here. */
  torch?: TorchResult | string;
  /** The same at all cores (reported for information). */
  torchAllCores?: TorchResult | string;
  rounds?: number;
  perRound?: number;
}

/** The benchmark: median ms per step for each contender, ratios against the goals. */
export async function benchMlpStep(options: MlpStepOptions = {}): Promise<BenchResult> {
  const data: MlpData = makeMlpData(SIZES, BATCH, 0);
  const manifest = options.torch === undefined ? writeForPython(data, 'mlp_step') : '';
  const torch = options.torch ?? runTorch({ mlp: manifest, threads: 1 });
  const torchAll = options.torchAllCores ?? (options.torch === undefined && typeof torch !== 'string' ? runTorch({ mlp: manifest, threads: os.cpus().length }) : undefined);
  removePythonData(manifest);
  return measured('mlp_step', `one SGD step, MLP ${SIZES.join('-')}, batch ${BATCH}`, async () => {
    const notes: string[] = [];
    const check: Record<string, { loss: number; gradNorm: number }> = {};
    const before = tf.memory().numTensors;

    // gradus
    const g = toGradus(data);
    const jitStep = jit(sgdStep);
    {
      const [l, gr] = valueAndGrad(mlpLoss)(g.params, g.x, g.y);
      check.gradus = { loss: l.item() as number, gradNorm: globalNorm(tree.leaves(gr) as NDArray[]) };
      dispose([l, gr]);
    }
    const gradusSync = (r: Params) => readBackSmallest(tree.leaves(r) as NDArray[]);
    const contenders: Contender<any>[] = [
      { name: 'gradus grad (eager)', run: () => scope(() => sgdStep(g.params, g.x, g.y)), sync: gradusSync, free: dispose },
      { name: 'gradus jit(step)', run: () => jitStep(g.params, g.x, g.y), sync: gradusSync, free: dispose },
    ];
    // A training loop: every step starts from the previous step's parameters. TF.js's wasm matmul
    // caches each right operand's packed copy by buffer, so repeated steps on the same weights (as
    // above) skip re-packing them; here every forward product re-packs fresh weights.
    let loopParams: Params = g.params;
    contenders.push({
      name: TRAINING_LOOP.gradus,
      run: () => {
        const next = jitStep(loopParams, g.x, g.y);
        if (loopParams !== g.params) dispose(loopParams);
        return (loopParams = next);
      },
      sync: gradusSync,
      cleanup: () => { if (loopParams !== g.params) dispose(loopParams); },
    });

    // TF.js, its gradient tape
    const t = toTf(data);
    const flat = t.params.flatMap((p) => [p.w, p.b] as tf.Tensor[]);
    const tfValueAndGrads = tf.valueAndGrads((...ws: tf.Tensor[]) => tfLoss(ws, t.x, t.y));
    {
      const { value, grads } = tfValueAndGrads(flat);
      check.tfjs = { loss: value.dataSync()[0]!, gradNorm: globalNorm(grads) };
      tf.dispose([value, ...grads]);
    }
    {
      // The hand-written step and gradus's step produce the same new parameters.
      const ours = jitStep(g.params, g.x, g.y);
      const theirs = handWrittenStep(flat, t.x, t.y);
      let err = 0;
      ours.forEach((l, i) => {
        for (const [a, b] of [[l.w, theirs[2 * i]!], [l.b, theirs[2 * i + 1]!]] as const) {
          const u = a.dataSync() as Float32Array, v = b.dataSync() as Float32Array;
          for (let k = 0; k < u.length; k++) err = Math.max(err, Math.abs(u[k]! - v[k]!));
        }
      });
      notes.push(`check: the hand-written TF.js step gives gradus's new parameters to ${err.toExponential(1)} (max abs)`);
      dispose(ours);
      tf.dispose(theirs);
    }
    const tfSync = (r: tf.Tensor[]) => readBackSmallest(r);
    contenders.push({
      name: 'TF.js valueAndGrads',
      run: () => tf.tidy(() => {
        const { grads } = tfValueAndGrads(flat);
        return flat.map((p, i) => tf.sub(p, tf.mul(grads[i]!, LR)));
      }),
      sync: tfSync,
      free: tf.dispose,
    });
    const floor = kernelFloor(t, true);
    const floorPre = kernelFloor(t, false);
    const ownFloor = gradusKernelFloor(t);
    contenders.push({ name: 'TF.js hand-written step (all kernels, no autodiff)', run: () => handWrittenStep(flat, t.x, t.y), sync: tfSync, free: tf.dispose });
    let tfLoopParams: tf.Tensor[] = flat;
    contenders.push({
      name: TRAINING_LOOP.tfjs,
      run: () => {
        const next = handWrittenStep(tfLoopParams, t.x, t.y);
        if (tfLoopParams !== flat) tf.dispose(tfLoopParams);
        return (tfLoopParams = next);
      },
      sync: tfSync,
      cleanup: () => { if (tfLoopParams !== flat) tf.dispose(tfLoopParams); },
    });
    contenders.push({ name: 'TF.js kernel floor (8 matMuls + transposes)', run: floor.run, sync: tfSync, free: tf.dispose });
    contenders.push({ name: 'TF.js 8 bare matMuls (pre-transposed)', run: floorPre.run, sync: tfSync, free: tf.dispose });
    contenders.push({ name: GRADUS_FLOOR, run: ownFloor.run, sync: tfSync, free: tf.dispose });

    // jax-js
    const jax = await loadJax();
    let jaxCleanup = () => {};
    if (typeof jax === 'string') notes.push(jax);
    else {
      const j = toJax(jax, data);
      const loss = (p: JaxLayer[], x: JaxArray, y: JaxArray) => jaxMlpLoss(jax, p, x, y);
      // grad consumes its arguments, so the parameters are passed twice: one reference each.
      const step = (p: JaxLayer[], x: JaxArray, y: JaxArray): JaxLayer[] => {
        const gr = jax.grad(loss)(jax.tree.ref(p), x, y);
        return p.map((l, i) => ({ w: l.w.sub(gr[i]!.w.mul(LR)), b: l.b.sub(gr[i]!.b.mul(LR)) }));
      };
      const jaxJitStep = jax.jit(step);
      {
        const [l, gr] = jax.valueAndGrad(loss)(jax.tree.ref(j.params), j.x.ref, j.y.ref);
        check['jax-js'] = { loss: await jaxScalar(l), gradNorm: await jaxGlobalNorm(jax, gr) };
      }
      const jaxSync = async (r: unknown) => { await jax.blockUntilReady(r as never); };
      const jaxFree = (r: unknown) => jax.tree.dispose(r as never);
      contenders.push({
        name: 'jax-js jit(grad) step',
        run: () => jaxJitStep(jax.tree.ref(j.params), j.x.ref, j.y.ref),
        sync: jaxSync,
        free: jaxFree,
      });
      let jaxLoopParams: JaxLayer[] | null = null;
      contenders.push({
        name: TRAINING_LOOP.jax,
        // jit consumes its arguments: the previous step's parameters are handed over (and freed).
        run: () => (jaxLoopParams = jaxJitStep(jaxLoopParams ?? jax.tree.ref(j.params), j.x.ref, j.y.ref)),
        sync: jaxSync,
        cleanup: () => { if (jaxLoopParams) jax.tree.dispose(jaxLoopParams as never); },
      });
      contenders.push({
        name: 'jax-js grad step (eager)',
        run: () => step(jax.tree.ref(j.params), j.x.ref, j.y.ref),
        sync: jaxSync,
        free: jaxFree,
      });
      jaxCleanup = () => { jaxJitStep.dispose(); jax.tree.dispose([j.params, j.x, j.y]); };
    }

    const timings: Record<string, Timing | null> = await compare(contenders, { warmup: 3, rounds: options.rounds ?? 5, perRound: options.perRound ?? 4 });
    jaxCleanup();
    jitStep.clearCache();
    dispose([g.params, g.x, g.y]);
    tf.dispose([...flat, t.x, t.y]);
    floor.dispose();
    floorPre.dispose();
    ownFloor.dispose();
    const leaked = tf.memory().numTensors - before;
    if (leaked !== 0) notes.push(`TF.js tensor count changed by ${leaked} over the benchmark (a leak somewhere)`);

    // PyTorch
    if (typeof torch === 'string') notes.push(torch);
    else if (torch.mlpStep) {
      timings[`PyTorch ${torch.torch} autograd (${torch.threads} thread)`] = { ...torch.mlpStep.step, meanMs: NaN };
      check.pytorch = { loss: torch.mlpStep.loss, gradNorm: torch.mlpStep.gradNorm };
    }
    if (torchAll && typeof torchAll !== 'string' && torchAll.mlpStep && torchAll.threads !== 1) {
      timings[`PyTorch ${torchAll.torch} autograd (${torchAll.threads} threads)`] = { ...torchAll.mlpStep.step, meanMs: NaN };
    }

    const ms = (k: string) => timings[k]?.medianMs ?? NaN;
    const gradMs = ms('gradus grad (eager)'), jitMs = ms('gradus jit(step)'), tfMs = ms('TF.js valueAndGrads');
    const floorMs = ms('TF.js kernel floor (8 matMuls + transposes)');
    const ratios: Ratio[] = [
      ratio('gradus grad / TF.js valueAndGrads (issue 3)', gradMs / tfMs, { atMost: 0.5 }),
      ratio('gradus grad / TF.js valueAndGrads (design)', gradMs / tfMs, { atMost: 0.35 }),
      ratio('gradus jit(step) absolute', jitMs, { atMost: 33 }, 'ms'),
      ratio('gradus jit / TF.js valueAndGrads', jitMs / tfMs),
      ratio('gradus jit / kernel floor', jitMs / floorMs, { atMost: 1.25 }),
      ratio("gradus jit / the same products on gradus's kernels", jitMs / ms(GRADUS_FLOOR)),
      ratio('gradus jit / hand-written TF.js step', jitMs / ms('TF.js hand-written step (all kernels, no autodiff)')),
    ];
    const jaxMs = ms('jax-js jit(grad) step');
    if (Number.isFinite(jaxMs)) ratios.push(ratio('gradus jit / jax-js jit(grad)', jitMs / jaxMs, { atMost: 0.8 }));
    ratios.push(ratio('training loop: gradus jit / hand-written TF.js', ms(TRAINING_LOOP.gradus) / ms(TRAINING_LOOP.tfjs)));
    if (Number.isFinite(ms(TRAINING_LOOP.jax))) ratios.push(ratio('training loop: gradus jit / jax-js jit(grad)', ms(TRAINING_LOOP.gradus) / ms(TRAINING_LOOP.jax)));
    const torchKey = Object.keys(timings).find((k) => k.startsWith('PyTorch') && k.endsWith('(1 thread)'));
    if (torchKey && timings[torchKey]) ratios.push(ratio('gradus jit / PyTorch (1 thread)', jitMs / ms(torchKey)));

    // Everyone computes the same loss and gradient (float32 tolerance).
    const ref = check.gradus!;
    for (const [k, v] of Object.entries(check)) {
      const rel = Math.max(Math.abs(v.loss - ref.loss) / Math.abs(ref.loss), Math.abs(v.gradNorm - ref.gradNorm) / ref.gradNorm);
      if (rel > 1e-3) notes.push(`cross-check: ${k} disagrees with gradus (loss ${v.loss} vs ${ref.loss}, grad norm ${v.gradNorm} vs ${ref.gradNorm})`);
    }
    notes.push(`same loss and gradient norm across ${Object.keys(check).join(', ')} (checked to 1e-3 relative): loss ${ref.loss.toFixed(5)}, |grad| ${ref.gradNorm.toFixed(5)}`);
    return { timings, ratios, notes, extra: { check, pytorch: typeof torch === 'string' ? torch : { version: torch.torch, threads: torch.threads } } };
  });
}

if (isMain(import.meta.url)) await runAlone(() => benchMlpStep());

// Eager per-op overhead on tiny arrays: µs per call of gradus np ops (a JS number and a 0-d array
// operand among them) against the bare TF.js op on the same backend, and an eager adam step (optim.adam's update and applyUpdates, no jit) over L
// leaves of shape [4,4] against the same arithmetic written in bare TF.js. Contenders run in
// interleaved rounds (medians), so load that comes and goes on a shared machine hits them alike.
// Also an eager MLP forward (`nn.mlp.apply`, 64-128-128-10 with relu, batch 16: a model call at the
// top level, as in a REPL) against the same layers as tf.matMul, tf.add and tf.relu in a tidy.
// `--base DIR` adds another checkout of gradus (e.g. the main branch) as a contender in the same
// process, for before/after figures that share the machine's state: both copies use one TF.js.
// Usage: npx tsx bench/eager_ops.ts [--clock cpu|wall] [--backend cpu|wasm] [--n 2000] [--leaves 300] [--rounds 9] [--base DIR]
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import * as gradus from '../src/index.js';
import * as optimHere from '../optim/index.js';
import * as modelsHere from '../models/index.js';
import { median } from './harness.js';

const args = process.argv.slice(2);
const opt = (name: string, fallback: number) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) || fallback : fallback);
const bi = args.indexOf('--backend');
const N = opt('--n', 2000), L = opt('--leaves', 300), rounds = opt('--rounds', 9);
// CPU time of this process (user + system) by default: on a shared, loaded machine wall time also
// counts the time spent waiting for a core. `--clock wall` times wall-clock instead.
const wall = args.includes('--clock') && args[args.indexOf('--clock') + 1] === 'wall';
const now = (): number => (wall ? performance.now() : ((u) => (u.user + u.system) / 1000)(process.cpuUsage()));
const baseDir = args.includes('--base') ? path.resolve(args[args.indexOf('--base') + 1]!) : undefined;

type Gradus = typeof gradus;
type Optim = typeof optimHere;
type Models = typeof modelsHere;
type Op = () => { dispose(): void };
interface Contender { name: string; ops: Op[]; adam: () => number; newParams: () => Float32Array[]; mlp: Op; mlpOut: () => Float32Array }

const av = Array.from({ length: 64 }, (_, i) => Math.sin(i)), bv = Array.from({ length: 64 }, (_, i) => Math.cos(i));
const opNames = ['add', 'multiply', 'exp', 'where', 'sum', 'mul 0.9', 'mul s', 'matmul'];
// The MLP's layer sizes, batch and seeded-by-formula weights (the same numbers for every contender).
const mlpSizes = [64, 128, 128, 10], mlpBatch = 16;
const mlpX = Array.from({ length: mlpBatch * mlpSizes[0]! }, (_, i) => Math.sin(0.37 * i));
const mlpLayers = mlpSizes.slice(1).map((out, l) => {
  const inp = mlpSizes[l]!;
  return { w: Array.from({ length: inp * out }, (_, i) => Math.cos(1.3 * i + l) / Math.sqrt(inp)), b: Array.from({ length: out }, (_, i) => 0.01 * Math.sin(i + l)), inp, out };
});
const leafValues = Array.from({ length: L }, (_, i) => [Array.from({ length: 16 }, (_, k) => Math.sin(i + k)), Array.from({ length: 16 }, (_, k) => Math.cos(i * k))] as const);

/** The ops and the eager adam step of one copy of gradus. */
function gradusContender(name: string, g: Gradus, optim: Optim, models: Models): Contender {
  const { np } = g;
  const a = np.array(av).reshape([8, 8]), b = np.array(bv).reshape([8, 8]), c = np.greater(a, b), s = np.sum(b);
  const ops: Op[] = [
    () => np.add(a, b) as gradus.ConcreteArray, () => np.multiply(a, b) as gradus.ConcreteArray, () => np.exp(a) as gradus.ConcreteArray,
    () => np.where(c, a, b) as gradus.ConcreteArray, () => np.sum(a) as gradus.ConcreteArray, () => np.multiply(a, 0.9) as gradus.ConcreteArray,
    () => np.multiply(a, s) as gradus.ConcreteArray, () => np.matmul(a, b) as gradus.ConcreteArray,
  ];
  const params: Record<string, gradus.NDArray> = {}, grads: Record<string, gradus.NDArray> = {};
  leafValues.forEach(([p, q], i) => {
    params[`p${i}`] = np.array(p, 'float32').reshape([4, 4]);
    grads[`p${i}`] = np.array(q, 'float32').reshape([4, 4]);
  });
  const tx = optim.adam(1e-3);
  const state = tx.init(params);
  const adam = (): number => {
    const t0 = now();
    const [updates, next] = tx.update(grads, state, params);
    const p = optim.applyUpdates(params, updates);
    const ms = now() - t0;
    g.dispose([updates, next, p]);
    return ms;
  };
  const newParams = (): Float32Array[] => {
    const [updates, next] = tx.update(grads, state, params);
    const p = optim.applyUpdates(params, updates);
    const out = Object.keys(params).map((k) => p[k]!.dataSync() as Float32Array);
    g.dispose([updates, next, p]);
    return out;
  };
  const mx = np.array(mlpX, 'float32').reshape([mlpBatch, mlpSizes[0]!]);
  const mlpParams = mlpLayers.map(({ w, b, inp, out }) => ({ w: np.array(w, 'float32').reshape([inp, out]), b: np.array(b, 'float32') }));
  const mlp: Op = () => models.nn.mlp.apply(mlpParams, mx) as gradus.ConcreteArray;
  const mlpOut = (): Float32Array => {
    const y = models.nn.mlp.apply(mlpParams, mx);
    const v = y.dataSync() as Float32Array;
    g.dispose(y);
    return v;
  };
  return { name, ops, adam, newParams, mlp, mlpOut };
}

function tfjsContender(): Contender {
  const ta = tf.tensor2d(av, [8, 8]), tb = tf.tensor2d(bv, [8, 8]), tc = tf.greater(ta, tb), ts = tf.sum(tb);
  const ops: Op[] = [() => tf.add(ta, tb), () => tf.mul(ta, tb), () => tf.exp(ta), () => tf.where(tc, ta, tb), () => tf.sum(ta), () => tf.mul(ta, 0.9), () => tf.mul(ta, ts), () => tf.matMul(ta, tb)];
  const tp = leafValues.map(([p]) => tf.tensor2d(p, [4, 4])), tg = leafValues.map(([, q]) => tf.tensor2d(q, [4, 4]));
  const tm = leafValues.map(() => tf.zeros([4, 4])), tv = leafValues.map(() => tf.zeros([4, 4]));
  const step = (): tf.Tensor[] =>
    tf.tidy(() => {
      const b1 = 0.9, b2 = 0.999, count = tf.scalar(1);
      const bc1 = tf.div(1, tf.sub(1, tf.pow(b1, count))), bc2 = tf.div(1, tf.sub(1, tf.pow(b2, count)));
      const res: tf.Tensor[] = [count];
      for (let i = 0; i < L; i++) {
        const m = tf.add(tf.mul(tm[i]!, b1), tf.mul(tg[i]!, 1 - b1));
        const v = tf.add(tf.mul(tv[i]!, b2), tf.mul(tf.square(tg[i]!), 1 - b2));
        const u = tf.mul(tf.div(tf.mul(m, bc1), tf.add(tf.sqrt(tf.mul(v, bc2)), 1e-8)), -1e-3);
        res.push(m, v, tf.add(tp[i]!, u));
      }
      return res;
    });
  const adam = (): number => {
    const t0 = now();
    const out = step();
    const ms = now() - t0;
    tf.dispose(out);
    return ms;
  };
  const newParams = (): Float32Array[] => {
    const out = step();
    const ps = leafValues.map((_, i) => out[3 + 3 * i]!.dataSync() as Float32Array);
    tf.dispose(out);
    return ps;
  };
  const mx = tf.tensor2d(mlpX, [mlpBatch, mlpSizes[0]!]);
  const mlpParams = mlpLayers.map(({ w, b, inp, out }) => ({ w: tf.tensor2d(w, [inp, out]), b: tf.tensor1d(b) }));
  const mlp: Op = () =>
    tf.tidy(() => {
      let h: tf.Tensor = mx;
      mlpParams.forEach(({ w, b }, i) => {
        h = tf.add(tf.matMul(h as tf.Tensor2D, w), b);
        if (i < mlpParams.length - 1) h = tf.relu(h);
      });
      return h;
    });
  const mlpOut = (): Float32Array => {
    const y = mlp() as tf.Tensor;
    const v = y.dataSync() as Float32Array;
    y.dispose();
    return v;
  };
  return { name: 'tfjs', ops, adam, newParams, mlp, mlpOut };
}

// The other checkout is imported first: its backend module picks the default backend again, so
// `--backend` is applied after it (and before any contender makes arrays).
const base = baseDir === undefined ? undefined : {
  g: (await import(pathToFileURL(path.join(baseDir, 'src/index.ts')).href)) as Gradus,
  o: (await import(pathToFileURL(path.join(baseDir, 'optim/index.ts')).href)) as Optim,
  m: (await import(pathToFileURL(path.join(baseDir, 'models/index.ts')).href)) as Models,
};
if (bi >= 0) await gradus.setBackend(args[bi + 1] as 'cpu' | 'wasm');
const contenders: Contender[] = [gradusContender('gradus', gradus, optimHere, modelsHere)];
if (base !== undefined) contenders.push(gradusContender('base', base.g, base.o, base.m));
contenders.push(tfjsContender());

// The contenders' adam steps must compute the same new parameters before they are timed.
{
  const want = contenders[contenders.length - 1]!.newParams();
  for (const c of contenders.slice(0, -1)) {
    let worst = 0;
    c.newParams().forEach((p, i) => p.forEach((v, k) => (worst = Math.max(worst, Math.abs(v - want[i]![k]!)))));
    console.log(`check: ${c.name}'s adam step against the TF.js one: max |Δ new params| = ${worst.toExponential(2)}`);
    if (!(worst < 1e-6)) throw new Error(`${c.name}'s adam step differs from the TF.js reference by ${worst}`);
  }
  // The MLP forwards too (gradus's wasm GEMM and TF.js's XNNPACK matmul sum in different orders).
  const wantY = contenders[contenders.length - 1]!.mlpOut();
  for (const c of contenders.slice(0, -1)) {
    let worst = 0;
    c.mlpOut().forEach((v, k) => (worst = Math.max(worst, Math.abs(v - wantY[k]!))));
    console.log(`check: ${c.name}'s MLP forward against the TF.js one: max |Δ y| = ${worst.toExponential(2)}`);
    if (!(worst < 1e-4)) throw new Error(`${c.name}'s MLP forward differs from the TF.js reference by ${worst}`);
  }
}

/** µs per call of `op` over N calls, disposing each result. */
function perCall(op: Op): number {
  const t0 = now();
  for (let i = 0; i < N; i++) op().dispose();
  return ((now() - t0) * 1000) / N;
}

const samples = contenders.map(() => ({ ops: opNames.map(() => [] as number[]), adam: [] as number[], mlp: [] as number[] }));
const mlpN = Math.max(1, Math.round(N / 10));
// Each round visits the contenders in a new (seeded) order: allocation is deterministic, so with a
// fixed order a garbage collection lands on the same contender's op every round (one copy of
// gradus measured 4x slower than the other at exp on the same code, whichever ran after the other).
let seed = 12345;
const shuffled = (): number[] => {
  const order = contenders.map((_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    const j = seed % (i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
};
for (let r = -1; r < rounds; r++) {
  opNames.forEach((_, i) => shuffled().forEach((ci) => {
    const us = perCall(contenders[ci]!.ops[i]!);
    if (r >= 0) samples[ci]!.ops[i]!.push(us);
  }));
  shuffled().forEach((ci) => {
    const t0 = now();
    for (let i = 0; i < mlpN; i++) contenders[ci]!.mlp().dispose();
    if (r >= 0) samples[ci]!.mlp.push(((now() - t0) * 1000) / mlpN);
  });
  for (let k = 0; k < 3; k++) shuffled().forEach((ci) => {
    const ms = contenders[ci]!.adam();
    if (r >= 0) samples[ci]!.adam.push(ms);
  });
}
const tfi = contenders.length - 1;
const cols = contenders.map((c) => c.name);
// Ratios three ways: of the medians, of the fastest rounds, and the median over rounds of each
// round's own ratio (contenders of one round ran back to back, so load that comes and goes over
// seconds cancels there: on a loaded machine that is the steadiest of the three).
console.log(`backend ${gradus.getBackend()}; ${wall ? 'wall' : 'CPU'} µs per op on [8,8] (medians of ${rounds} interleaved rounds of ${N}; ratios of medians, of fastest rounds, and median per-round ratio)${baseDir ? `; base = ${baseDir}` : ''}`);
console.log(['op'.padEnd(9), ...cols.map((c) => c.padStart(8)), ...cols.slice(0, -1).map((c) => `${c}/tfjs`.padStart(12)), ...cols.slice(0, -1).map((c) => `min ${c}/tfjs`.padStart(16)), ...cols.slice(0, -1).map((c) => `paired ${c}/tfjs`.padStart(19))].join('  '));
const row = (name: string, xs: number[][]) => {
  const med = xs.map(median), fastest = xs.map((v) => Math.min(...v));
  const ratios = (ys: number[]) => ys.slice(0, -1).map((y) => y / ys[tfi]!);
  const paired = xs.slice(0, -1).map((v) => median(v.map((y, r) => y / xs[tfi]![r]!)));
  console.log([name.padEnd(9), ...med.map((x) => x.toFixed(2).padStart(8)), ...ratios(med).map((r) => r.toFixed(2).padStart(12)), ...ratios(fastest).map((r) => r.toFixed(2).padStart(16)), ...paired.map((r) => r.toFixed(2).padStart(19))].join('  '));
};
opNames.forEach((name, i) => row(name, samples.map((s) => s.ops[i]!)));
console.log(`eager adam step, ${L} leaves [4,4] (update + applyUpdates), ms:`);
row('adam', samples.map((s) => s.adam));
console.log(`eager MLP forward (nn.mlp.apply, ${mlpSizes.join('-')}, relu, batch ${mlpBatch}), µs per call (medians of ${rounds} rounds of ${mlpN}):`);
row('mlp', samples.map((s) => s.mlp));
console.log(`tensors alive: ${tf.memory().numTensors}`);

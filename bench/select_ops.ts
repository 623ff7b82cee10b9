// Three eager ops against their TF.js counterparts (or against the old construction), on the
// active backend, interleaved, medians: np.topK on [64, 100000] with k = 10 (TF.js's tf.topk beside
// it, which is wrong for NaN but the floor to aim at), random.choice with p (with and without
// replacement) on n = 100000, and np.logsumexp on [256, 1000] along the last axis (tf.logSumExp
// beside it). Run alone: npx tsx bench/select_ops.ts [--backend cpu|wasm] [--only topk,choice,lse]
import * as tf from '@tensorflow/tfjs-core';
import { np, random, setBackend, getBackend, type ConcreteArray, type NDArray } from '../src/index.js';
import { compare } from './harness.js';

const args = process.argv.slice(2);
const bi = args.indexOf('--backend');
if (bi >= 0) await setBackend(args[bi + 1] as 'cpu' | 'wasm');
const oi = args.indexOf('--only');
const only = new Set((oi >= 0 ? args[oi + 1]! : 'topk,choice,lse').split(','));

const free = (r: NDArray | tf.Tensor | readonly (NDArray | tf.Tensor)[]) => {
  for (const t of Array.isArray(r) ? r : [r]) (t as ConcreteArray | tf.Tensor).dispose();
};
const read = (r: NDArray | tf.Tensor | readonly (NDArray | tf.Tensor)[]) => {
  (Array.isArray(r) ? r[0] : r).dataSync();
};
const fmt = (t: Record<string, { medianMs: number; minMs: number }>) =>
  Object.entries(t).map(([n, v]) => `  ${n.padEnd(34)} median ${v.medianMs.toFixed(2).padStart(8)} ms   min ${v.minMs.toFixed(2).padStart(8)} ms`).join('\n');

console.log(`backend ${getBackend()}`);

if (only.has('topk')) {
  const shape = [64, 100000];
  const x = random.normal(random.key(0), shape) as ConcreteArray;
  const tx = tf.randomNormal(shape, 0, 1, 'float32', 1);
  const sorted = np.sort(x) as ConcreteArray; // ascending rows: every entry displaces the current k-th largest
  const t = await compare([
    { name: 'np.topK k=10 (normal)', run: () => np.topK(x, 10), sync: read, free },
    { name: 'np.topK k=10 (ascending rows)', run: () => np.topK(sorted, 10), sync: read, free },
    { name: 'np.topK k=1000 (normal)', run: () => np.topK(x, 1000), sync: read, free },
    { name: 'np.sort (whole rows)', run: () => np.sort(x), sync: read, free },
    { name: 'tf.topk k=10', run: () => { const r = tf.topk(tx, 10); return [r.values, r.indices]; }, sync: read, free },
  ], { warmup: 2, rounds: 5, perRound: 2 });
  console.log(`topK on [${shape.join(', ')}]:\n${fmt(t)}`);
  free([x, tx, sorted]);
}

if (only.has('choice')) {
  const n = 100000;
  const p = random.uniform(random.key(1), [n]) as ConcreteArray;
  const k = random.key(2);
  const t = await compare([
    { name: 'choice replace, p, 1000 draws', run: () => random.choice(k, n, { shape: [1000], p }), sync: read, free },
    { name: 'choice no replace, p, 1000 draws', run: () => random.choice(k, n, { shape: [1000], p, replace: false }), sync: read, free },
  ], { warmup: 2, rounds: 5, perRound: 2 });
  console.log(`random.choice from n = ${n}:\n${fmt(t)}`);
  free(p);
}

if (only.has('lse')) {
  const shape = [256, 1000];
  const x = random.normal(random.key(3), shape) as ConcreteArray;
  const tx = tf.randomNormal(shape, 0, 1, 'float32', 3);
  const t = await compare([
    { name: 'np.logsumexp axis -1', run: () => np.logsumexp(x, -1), sync: read, free },
    { name: 'tf.logSumExp axis -1', run: () => tf.logSumExp(tx, -1), sync: read, free },
  ], { warmup: 5, rounds: 9, perRound: 10 });
  console.log(`logsumexp on [${shape.join(', ')}]:\n${fmt(t)}`);
  free([x, tx]);
}

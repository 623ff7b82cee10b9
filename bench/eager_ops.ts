// Eager per-op overhead on tiny arrays: µs per call of gradus np ops against the bare TF.js op on
// the same backend, in interleaved rounds (medians). Usage: npx tsx bench/eager_ops.ts [--backend cpu|wasm]
import * as tf from '@tensorflow/tfjs-core';
import { np, setBackend, getBackend, type ConcreteArray, type NDArray } from '../src/index.js';
import { median } from './harness.js';

const args = process.argv.slice(2);
const bi = args.indexOf('--backend');
if (bi >= 0) await setBackend(args[bi + 1] as 'cpu' | 'wasm');
const N = Number(args[args.indexOf('--n') + 1] ?? 2000) || 2000;

const a = np.array(Array.from({ length: 64 }, (_, i) => Math.sin(i))).reshape([8, 8]);
const b = np.array(Array.from({ length: 64 }, (_, i) => Math.cos(i))).reshape([8, 8]);
const ta = tf.tensor2d(Array.from({ length: 64 }, (_, i) => Math.sin(i)), [8, 8]);
const tb = tf.tensor2d(Array.from({ length: 64 }, (_, i) => Math.cos(i)), [8, 8]);

/** µs per call of `op` over N calls, disposing each result. */
function perCall(op: () => NDArray | tf.Tensor): number {
  const t0 = performance.now();
  for (let i = 0; i < N; i++) (op() as ConcreteArray | tf.Tensor).dispose();
  return ((performance.now() - t0) * 1000) / N;
}

const cases: [string, () => NDArray, () => tf.Tensor][] = [
  ['add', () => np.add(a, b), () => tf.add(ta, tb)],
  ['multiply', () => np.multiply(a, b), () => tf.mul(ta, tb)],
  ['sum', () => np.sum(a), () => tf.sum(ta)],
  ['mul 0.9', () => np.multiply(a, 0.9), () => tf.mul(ta, 0.9)],
  ['matmul', () => np.matmul(a, b), () => tf.matMul(ta, tb)],
];
const rounds = 9;
const samples = cases.map(() => ({ g: [] as number[], t: [] as number[] }));
for (let r = -1; r < rounds; r++) {
  cases.forEach(([, g, t], i) => {
    const sg = perCall(g), st = perCall(t);
    if (r >= 0) { samples[i]!.g.push(sg); samples[i]!.t.push(st); }
  });
}
console.log(`backend ${getBackend()}; µs per op on [8,8] (medians of ${rounds} rounds of ${N})`);
console.log(['op'.padEnd(9), 'gradus'.padStart(8), 'tfjs'.padStart(8), 'ratio'.padStart(6)].join('  '));
cases.forEach(([name], i) => {
  const g = median(samples[i]!.g), t = median(samples[i]!.t);
  console.log([name.padEnd(9), g.toFixed(2).padStart(8), t.toFixed(2).padStart(8), (g / t).toFixed(2).padStart(6)].join('  '));
});
console.log(`tensors alive: ${tf.memory().numTensors}`);

// Eager np.relu and np.clip on [256, 1024] float32 against the bare TF.js kernels (Relu,
// ClipByValue) on the same backend, in interleaved rounds (medians, ms per call).
// Usage: npx tsx bench/relu_clip.ts [--backend cpu|wasm] [--n 50]
import * as tf from '@tensorflow/tfjs-core';
import { np, setBackend, getBackend, dispose, type ConcreteArray, type NDArray } from '../src/index.js';
import { median } from './harness.js';

const args = process.argv.slice(2);
const bi = args.indexOf('--backend');
if (bi >= 0) await setBackend(args[bi + 1] as 'cpu' | 'wasm');
const ni = args.indexOf('--n');
const N = ni >= 0 ? Number(args[ni + 1]) : 50;

const shape: [number, number] = [256, 1024];
const values = Float32Array.from({ length: shape[0] * shape[1] }, (_, i) => 3 * Math.sin(i * 0.37));
const t = tf.tensor2d(values, shape);
const a = np.array(t);

/** ms per call of `op` over N calls, disposing each result. */
function perCall(op: () => NDArray | tf.Tensor): number {
  const t0 = performance.now();
  for (let i = 0; i < N; i++) (op() as ConcreteArray | tf.Tensor).dispose();
  return (performance.now() - t0) / N;
}

const cases: [string, () => NDArray, () => tf.Tensor][] = [
  ['relu', () => np.relu(a), () => tf.relu(t)],
  ['clip(-1,1)', () => np.clip(a, -1, 1), () => tf.clipByValue(t, -1, 1)],
  ['clip(0,null)', () => np.clip(a, 0, null), () => tf.relu(t)],
  ['clip(null,1)', () => np.clip(a, null, 1), () => tf.minimum(t, 1)],
];
const rounds = 9;
const samples = cases.map(() => ({ g: [] as number[], t: [] as number[] }));
for (let r = -1; r < rounds; r++) {
  cases.forEach(([, g, tt], i) => {
    const sg = perCall(g), st = perCall(tt);
    if (r >= 0) { samples[i]!.g.push(sg); samples[i]!.t.push(st); }
  });
}
console.log(`backend ${getBackend()}; ms per eager op on [${shape.join(',')}] (medians of ${rounds} rounds of ${N})`);
console.log(['op'.padEnd(13), 'gradus'.padStart(8), 'tfjs'.padStart(8), 'ratio'.padStart(6)].join('  '));
cases.forEach(([name], i) => {
  const g = median(samples[i]!.g), tm = median(samples[i]!.t);
  console.log([name.padEnd(13), g.toFixed(3).padStart(8), tm.toFixed(3).padStart(8), (g / tm).toFixed(2).padStart(6)].join('  '));
});
dispose(a); t.dispose();
console.log(`tensors alive: ${tf.memory().numTensors}`);

// The sort kernel's choice (src/sort_kernels.ts): gradus's JS sort (packed float64 keys, native
// numeric sort) against TF.js's TopK with k = n, the other candidate, on the active backend.
// Run alone: npx tsx bench/sort.ts. Prints median times over 7 runs after a warm-up.
import * as tf from '@tensorflow/tfjs-core';
import { getBackend } from '../src/index.js';
import { sortRows } from '../src/sort_kernels.js';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

function time(f: () => void, runs = 7): number {
  f();
  const ts: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    f();
    ts.push(performance.now() - t0);
  }
  return median(ts);
}

console.log(`backend ${getBackend()}`);
for (const [rows, n] of [[1, 1 << 20], [1024, 1024], [1 << 17, 8]] as const) {
  const x = tf.randomNormal([rows, n], 0, 1, 'float32', 1);
  const jsSort = time(() => {
    const data = x.dataSync() as Float32Array;
    const { values, indices } = sortRows(data, rows, n, 1, false);
    tf.tensor(values, [rows, n]).dispose();
    tf.tensor(indices, [rows, n], 'int32').dispose();
  });
  const topk = time(() => {
    const { values, indices } = tf.topk(tf.neg(x), n);
    values.dataSync();
    tf.dispose([values, indices]);
  });
  console.log(`[${rows}, ${n}] float32: gradus JS sort ${jsSort.toFixed(1)} ms, TF.js TopK(k = n) ${topk.toFixed(1)} ms`);
  x.dispose();
}

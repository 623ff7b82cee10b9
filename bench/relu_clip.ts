// np.relu and np.clip on [256, 1024] float32, eagerly and under jit, against the bare TF.js
// kernels (Relu, ClipByValue, Minimum) on the same backend, in interleaved rounds (medians and the
// fastest round, ms per call). With --baseline DIR, another gradus checkout (DIR/src/index.ts, e.g.
// a `git worktree` of main; it shares this one's TF.js) runs the same calls in the same rounds:
// a before/after comparison that the load of a shared machine disturbs equally. With --kernels,
// the TF.js kernels each gradus call runs (tf.profile).
// Usage: npx tsx bench/relu_clip.ts [--backend cpu|wasm] [--n 50] [--baseline DIR] [--kernels]
import * as tf from '@tensorflow/tfjs-core';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as gradus from '../src/index.js';
import { median } from './harness.js';

type Gradus = typeof gradus;
const args = process.argv.slice(2);
const arg = (name: string) => (args.indexOf(name) >= 0 ? args[args.indexOf(name) + 1] : undefined);
const baselineDir = arg('--baseline');
const baseline = baselineDir === undefined ? null : ((await import(pathToFileURL(resolve(baselineDir, 'src/index.ts')).href)) as Gradus);
const backendName = arg('--backend');
if (backendName !== undefined) for (const g of [gradus, baseline]) await g?.setBackend(backendName as 'cpu' | 'wasm');
const N = Number(arg('--n') ?? 50);

const shape: [number, number] = [256, 1024];
const values = Float32Array.from({ length: shape[0] * shape[1] }, (_, i) => 3 * Math.sin(i * 0.37));
const t = tf.tensor2d(values, shape);

/** The gradus calls, on `g`'s own arrays and jitted functions; `done` frees them. */
function gradusCases(g: Gradus): { calls: (() => gradus.NDArray)[]; done: () => void } {
  const { np, jit } = g;
  const a = np.array(t), lo = np.full(shape, -1, 'float32'), hi = np.full(shape, 1, 'float32');
  const jclip = jit((x: gradus.NDArray) => np.clip(x, -1, 1));
  const jclipArrays = jit((x: gradus.NDArray, l: gradus.NDArray, h: gradus.NDArray) => np.clip(x, l, h));
  const jclipLo = jit((x: gradus.NDArray) => np.clip(x, 0, null));
  return {
    calls: [
      () => np.relu(a), () => np.clip(a, -1, 1), () => np.clip(a, lo, hi), () => np.clip(a, 0, null), () => np.clip(a, null, 1),
      () => jclip(a), () => jclipArrays(a, lo, hi), () => jclipLo(a),
    ],
    done: () => {
      for (const j of [jclip, jclipArrays, jclipLo]) j.clearCache();
      g.dispose([a, lo, hi]);
    },
  };
}
const names = ['relu', 'clip(-1,1)', 'clip(lo,hi)', 'clip(0,null)', 'clip(null,1)', 'jit clip(-1,1)', 'jit clip(lo,hi)', 'jit clip(0,null)'];
const tfjs: (() => tf.Tensor)[] = [
  () => tf.relu(t), () => tf.clipByValue(t, -1, 1), () => tf.clipByValue(t, -1, 1), () => tf.relu(t), () => tf.minimum(t, 1),
  () => tf.clipByValue(t, -1, 1), () => tf.clipByValue(t, -1, 1), () => tf.relu(t),
];
const ours = gradusCases(gradus);
const theirs = baseline === null ? null : gradusCases(baseline);

/** ms per call of `op` over N calls, disposing each result. */
function perCall(op: () => { dispose(): void }): number {
  const t0 = performance.now();
  for (let i = 0; i < N; i++) op().dispose();
  return (performance.now() - t0) / N;
}

const rounds = 9;
const samples = names.map(() => ({ g: [] as number[], t: [] as number[], b: [] as number[] }));
for (let r = -1; r < rounds; r++) {
  names.forEach((_, i) => {
    const sg = perCall(ours.calls[i]! as () => gradus.ConcreteArray), st = perCall(tfjs[i]!);
    const sb = theirs === null ? NaN : perCall(theirs.calls[i]! as () => gradus.ConcreteArray);
    if (r >= 0) { samples[i]!.g.push(sg); samples[i]!.t.push(st); samples[i]!.b.push(sb); }
  });
}
const fmt = (v: number, w: number) => (Number.isNaN(v) ? '' : v.toFixed(3)).padStart(w);
console.log(`backend ${gradus.getBackend()}; ms per call on [${shape.join(',')}] (medians of ${rounds} rounds of ${N}; min: the fastest round, the least disturbed on a shared machine)`);
console.log(['op'.padEnd(16), 'gradus'.padStart(8), 'tfjs'.padStart(8), 'ratio'.padStart(6), 'min gradus'.padStart(10), 'min tfjs'.padStart(9), ...(theirs ? ['baseline'.padStart(9), 'min base'.padStart(9)] : [])].join('  '));
names.forEach((name, i) => {
  const { g, t: tm, b } = samples[i]!;
  console.log([
    name.padEnd(16), fmt(median(g), 8), fmt(median(tm), 8), (median(g) / median(tm)).toFixed(2).padStart(6), fmt(Math.min(...g), 10), fmt(Math.min(...tm), 9),
    ...(theirs ? [fmt(median(b), 9), fmt(Math.min(...b), 9)] : []),
  ].join('  '));
});
if (args.includes('--kernels')) {
  for (const [which, cases] of [['gradus', ours], ['baseline', theirs]] as const) {
    if (cases === null) continue;
    for (const [i, call] of cases.calls.entries()) {
      const info = await tf.profile(() => call() as unknown as tf.Tensor);
      console.log(`${which.padEnd(8)}  ${names[i]!.padEnd(16)}  kernels: ${info.kernels.map((k) => k.name).join(', ')}`);
      (info.result as unknown as { dispose(): void }).dispose();
    }
  }
}
ours.done();
theirs?.done();
t.dispose();
console.log(`tensors alive: ${tf.memory().numTensors}`);

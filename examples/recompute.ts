// Recompute (`checkpoint`, alias `recompute`) on a deep MLP: how much memory the backward pass
// saves and what it costs in time. A plain gradient keeps every layer's activation alive until the
// backward pass reaches it; `checkpoint(layer)` keeps only each layer's input and recomputes its
// inside; `checkpointSequential(layers)` splits the stack into √n segments and keeps only segment
// boundaries (Chen et al. 2016); a checkpoint around the whole model keeps only its input but must
// rebuild every activation at once when differentiated. Policies choose what a checkpoint may keep: `dotsSaveable` keeps matrix products and
// recomputes only the cheap elementwise ops. Peak memory is TF.js's high-water mark during the
// `grad` call (`tf.profile(...).peakBytes`) minus the bytes alive before it; it includes the
// returned gradient (as large as the weights), which no checkpointing can save, so the table also
// shows the part above it. All variants compute the same gradient (checked).
//
//   npx tsx examples/recompute.ts          # 32 layers, width 256, batch 512 (~20 s)
//   npx tsx examples/recompute.ts --fast   # 8 layers
import * as tf from '@tensorflow/tfjs-core';
import { pathToFileURL } from 'node:url';
import { checkpoint, checkpointSequential, dispose, dotsSaveable, grad, jit, np, random, scope, sqrtSegmentLength, type NDArray } from '../src/index.js';
import { block, heading, num, say, table } from './report.js';

type Layer = { w: NDArray; b: NDArray };
const layer = (p: Layer, h: NDArray): NDArray => np.tanh(np.matmul(h, p.w).add(p.b));

export interface RecomputeOptions {
  fast?: boolean;
  quiet?: boolean;
  layers?: number;
  width?: number;
  batch?: number;
}

export interface RecomputeRow {
  name: string;
  /** Peak bytes above what was alive before the call, and the part above the returned gradient. */
  peakBytes: number;
  activationBytes: number;
  ms: number;
  /** max |gradient − plain gradient| over the first layer's weight. */
  maxDifference: number;
}

export interface RecomputeResult {
  rows: RecomputeRow[];
  seconds: number;
}

export async function runRecompute(options: RecomputeOptions = {}): Promise<RecomputeResult> {
  const { fast = false, quiet = false } = options;
  const layers = options.layers ?? (fast ? 8 : 32), width = options.width ?? 256, batch = options.batch ?? (fast ? 128 : 512);
  const log = quiet ? () => {} : (s: string) => console.log(s);
  const t0 = performance.now();
  const tensorsBefore = tf.memory().numTensors;
  const key = random.key(0);
  const params: Layer[] = scope(() => Array.from({ length: layers }, (_, i) => ({
    w: random.normal(random.foldIn(key, i), [width, width]).mul(1 / Math.sqrt(width)),
    b: np.zeros([width]),
  })));
  const x = scope(() => random.normal(random.foldIn(key, 1000), [batch, width]));
  const seg = sqrtSegmentLength(layers);
  const variants: [string, (ps: Layer[], x: NDArray) => NDArray][] = [
    ['plain', (ps, x) => np.mean(ps.reduce((h, p) => layer(p, h), x))],
    ['checkpoint(layer) per layer', (ps, x) => np.mean(ps.reduce((h, p) => checkpoint(layer)(p, h), x))],
    ['per layer, policy dotsSaveable', (ps, x) => np.mean(ps.reduce((h, p) => checkpoint(layer, { policy: dotsSaveable })(p, h), x))],
    [`checkpointSequential (√n: ${seg} layers per segment)`, (ps, x) => np.mean(checkpointSequential(ps.map((p) => (h: NDArray) => layer(p, h)))(x))],
    ['checkpoint around the whole model', checkpoint((ps: Layer[], x: NDArray) => np.mean(ps.reduce((h, p) => layer(p, h), x)))],
  ];
  if (!quiet) {
    heading(`checkpoint on a ${layers}-layer tanh MLP (width ${width}, batch ${batch})`);
    say(`One layer's activation is ${(batch * width * 4 / 1e6).toFixed(2)} MB; the weights (and so the returned
      gradient) are ${(layers * (width * width + width) * 4 / 1e6).toFixed(1)} MB. Each variant's gradient is computed once to warm up,
      once under tf.profile for the peak memory, then timed.`);
  }
  const gradBytes = layers * (width * width + width) * 4;
  const rows: RecomputeRow[] = [];
  let reference: Float32Array | null = null;
  for (const [name, f] of variants) {
    const g = grad(f);
    dispose(g(params, x));
    const base = tf.memory().numBytes;
    let first: Float32Array | null = null;
    const prof = await tf.profile(() => {
      const out = g(params, x);
      first = out[0]!.w.dataSync() as Float32Array;
      dispose(out);
      return tf.scalar(0);
    });
    tf.dispose(prof.result as tf.Tensor);
    reference ??= first!;
    let maxDifference = 0;
    for (let i = 0; i < reference.length; i++) maxDifference = Math.max(maxDifference, Math.abs(reference[i]! - first![i]!));
    const reps = fast ? 2 : 5;
    const times: number[] = [];
    for (let r = 0; r < reps; r++) {
      const s = performance.now();
      dispose(g(params, x));
      times.push(performance.now() - s);
    }
    const ms = times.sort((a, b) => a - b)[Math.floor(reps / 2)]!;
    const peakBytes = prof.peakBytes - base;
    rows.push({ name, peakBytes, activationBytes: peakBytes - gradBytes, ms, maxDifference });
  }
  // jit keeps the saving: the compiled program frees values at their last use, and recomputes inside checkpoints.
  const plain = rows[0]!;
  if (!quiet) {
    block(table([
      ['gradient', 'peak', 'above gradient', '× plain', 'time', '× plain'],
      ...rows.map((r) => [r.name, `${(r.peakBytes / 1e6).toFixed(1)} MB`, `${(r.activationBytes / 1e6).toFixed(1)} MB`, num(r.activationBytes / plain.activationBytes, 2), `${r.ms.toFixed(0)} ms`, num(r.ms / plain.ms, 2)]),
    ]));
    const worst = Math.max(...rows.map((r) => r.maxDifference));
    say(`All five gradients agree (max abs difference on the first layer ${num(worst)}). Per-layer checkpoints
      keep one activation per layer boundary; √n segments keep the segment boundaries, plus one segment's
      activations while it is differentiated; a checkpoint around the whole model keeps only its input but
      rebuilds every activation at once in the backward pass, so it saves least. Each costs about one
      extra forward pass (the dotsSaveable policy keeps the matrix products and recomputes only tanh).`);
  }
  // Under jit too.
  const jitted = jit(grad(variants[1]![1]));
  dispose(jitted(params, x));
  const base = tf.memory().numBytes;
  const prof = await tf.profile(() => {
    dispose(jitted(params, x));
    return tf.scalar(0);
  });
  tf.dispose(prof.result as tf.Tensor);
  jitted.clearCache();
  if (!quiet) say(`Under jit, the per-layer variant peaks at ${((prof.peakBytes - base) / 1e6).toFixed(1)} MB (plain, eager: ${(plain.peakBytes / 1e6).toFixed(1)} MB).`);
  dispose([params, x, key]);
  const result = { rows, seconds: (performance.now() - t0) / 1000 };
  const best = rows.slice(1).reduce((a, r) => (r.activationBytes < a.activationBytes ? r : a));
  log(`recompute: "${best.name}" needs ${num(best.activationBytes / plain.activationBytes, 2)}× plain's memory above the gradient at ${num(best.ms / plain.ms, 2)}× its time; ${result.seconds.toFixed(1)} s`);
  const leaked = tf.memory().numTensors - tensorsBefore;
  if (leaked !== 0) log(`warning: ${leaked} tensors left alive`);
  return result;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await runRecompute({ fast: process.argv.includes('--fast') });
}

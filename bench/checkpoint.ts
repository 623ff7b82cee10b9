// Recompute (`checkpoint`) on a 32-layer tanh MLP, width 512, batch 256 (issue 5): peak memory
// above the weights and time of the full gradient for plain backprop, per-layer checkpoints,
// √n-segment `checkpointSequential`, and one checkpoint around the whole model (which saves
// nothing: algorithms.md §5.1). Peak memory is TF.js's high-water mark over the `grad` call
// (`tf.profile(...).peakBytes`) minus the bytes held before it.
// Run alone with `npx tsx bench/checkpoint.ts`.
import * as tf from '@tensorflow/tfjs-core';
import { checkpoint, checkpointSequential, ConcreteArray, dispose, grad, jit, np, sqrtSegmentLength, type NDArray } from '../src/index.js';
import { gaussian } from './data.js';
import { compare, isMain, measured, ratio, readBackSmallest, runAlone, type BenchResult, type Contender, type Ratio } from './harness.js';

export const LAYERS = 32, WIDTH = 512, BATCH = 256;
const MB = 1e6;

type Layer = { w: NDArray; b: NDArray };
const layer = (p: Layer, h: NDArray): NDArray => np.tanh(np.add(np.matmul(h, p.w), p.b));

const variants: Record<string, (ps: Layer[], x: NDArray) => NDArray> = {
  plain: (ps, x) => np.mean(ps.reduce((h, p) => layer(p, h), x)),
  'per-layer checkpoint': (ps, x) => np.mean(ps.reduce((h, p) => checkpoint(layer)(p, h), x)),
  [`√n segments (checkpointSequential, ${sqrtSegmentLength(LAYERS)} layers each)`]: (ps, x) => np.mean(checkpointSequential(ps.map((p) => (h: NDArray) => layer(p, h)))(x)),
  'whole-model checkpoint': checkpoint((ps: Layer[], x: NDArray) => np.mean(ps.reduce((h, p) => layer(p, h), x))),
};

function fromHost(values: Float32Array, shape: number[]): NDArray {
  return new ConcreteArray(tf.tensor(values, shape));
}

export async function benchCheckpoint(options: { rounds?: number } = {}): Promise<BenchResult> {
  return measured('checkpoint', `grad of a ${LAYERS}-layer tanh MLP, width ${WIDTH}, batch ${BATCH}: peak memory and time`, async () => {
    const notes: string[] = [];
    const params: Layer[] = Array.from({ length: LAYERS }, (_, i) => ({
      w: fromHost(gaussian(100 + i, WIDTH * WIDTH, 1 / Math.sqrt(WIDTH)), [WIDTH, WIDTH]),
      b: fromHost(new Float32Array(WIDTH), [WIDTH]),
    }));
    const x = fromHost(gaussian(99, BATCH * WIDTH), [BATCH, WIDTH]);
    const weightBytes = LAYERS * (WIDTH * WIDTH + WIDTH) * 4;
    const gradBytes = weightBytes; // the gradient returned has the parameters' size
    const activationBytes = BATCH * WIDTH * 4; // one layer's output

    // Peak memory, measured once per variant (deterministic), after one warm-up call.
    const memory: Record<string, { peakMB: number; activationPartMB: number }> = {};
    const names0 = Object.keys(variants);
    let reference: Float32Array | null = null;
    for (const [name, f] of Object.entries(variants)) {
      dispose(grad(f)(params, x)); // warm-up (also the timing's warm-up)
      const base = tf.memory().numBytes;
      const got: { g0?: Float32Array } = {};
      const prof = await tf.profile(() => {
        const g = grad(f)(params, x) as Layer[];
        got.g0 = g[0]!.w.dataSync() as Float32Array;
        dispose(g);
        return tf.scalar(0);
      });
      const g0 = got.g0!;
      const peak = prof.peakBytes - base;
      memory[name] = { peakMB: peak / MB, activationPartMB: (peak - gradBytes) / MB };
      // Same gradient whichever way it is computed (checked on the first layer's weight).
      if (reference === null) reference = g0;
      else {
        let m = 0;
        for (let i = 0; i < reference.length; i++) m = Math.max(m, Math.abs(reference[i]! - g0[i]!));
        if (m > 1e-5) notes.push(`${name}: gradient differs from plain by ${m.toExponential(2)} (max abs, first layer)`);
      }
    }

    // The same peaks under jit(grad): jit frees each forward intermediate at its last use (eager
    // code cannot know when a user drops an array, so eager grad keeps them until the forward pass
    // ends), and
    // the backward pass frees each residual as the gradient grows. What is left is about
    // max(activations, gradient): here the two are the same size, so checkpoints save no total peak.
    const jitPeakMB: Record<string, number> = {};
    for (const name of [names0[0]!, names0[2]!]) {
      const g = jit(grad(variants[name]!));
      dispose(g(params, x)); // trace and warm up
      const base = tf.memory().numBytes;
      const prof = await tf.profile(() => {
        dispose(g(params, x));
        return tf.scalar(0);
      });
      jitPeakMB[name] = (prof.peakBytes - base) / MB;
    }

    const sync = (g: Layer[]) => readBackSmallest([g[0]!.b]);
    const contenders: Contender<Layer[]>[] = Object.entries(variants).map(([name, f]) => ({ name, run: () => grad(f)(params, x) as Layer[], sync, free: dispose }));
    // Nine rounds: a step takes ~0.6–0.9 s, and a median of five was seen to move by ±0.1× between runs.
    const timings = await compare(contenders, { warmup: 0, rounds: options.rounds ?? 9, perRound: 1 });
    dispose([params, x]);

    const names = Object.keys(variants);
    const [plain, perLayer, sqrtN, whole] = names.map((n) => memory[n]!) as [typeof memory[string], typeof memory[string], typeof memory[string], typeof memory[string]];
    const t = (n: string) => timings[n]!.medianMs;
    const ratios: Ratio[] = [
      ratio('plain: peak above weights', plain.peakMB, undefined, 'MB'),
      ratio('plain: activation part (peak − gradient)', plain.activationPartMB, undefined, 'MB'),
      ratio('√n segments / plain, peak memory', sqrtN.peakMB / plain.peakMB, { atMost: 0.35 }),
      ratio('√n segments / plain, time', t(names[2]!) / t(names[0]!), { atMost: 1.4 }),
      ratio('per-layer / plain, peak memory', perLayer.peakMB / plain.peakMB, { atMost: 0.35 }),
      ratio('per-layer / plain, time', t(names[1]!) / t(names[0]!), { atMost: 1.4 }),
      // The same goal read as excluding the returned gradient (which is 0.47× of plain's peak by itself).
      ratio('√n segments / plain, activation part (peak − gradient)', sqrtN.activationPartMB / plain.activationPartMB, { atMost: 0.35 }),
      ratio('per-layer / plain, activation part (peak − gradient)', perLayer.activationPartMB / plain.activationPartMB, { atMost: 0.35 }),
      ratio('whole-model / plain, peak memory', whole.peakMB / plain.peakMB),
      ratio('whole-model / plain, time', t(names[3]!) / t(names[0]!)),
    ];
    notes.push(
      `peak memory is measured above the weights and input (${(weightBytes / MB).toFixed(1)} MB); it includes the returned gradient itself ` +
      `(${(gradBytes / MB).toFixed(1)} MB, which no checkpointing can save), so the "activation part" (peak − gradient bytes) is reported too; ` +
      `one layer's activation is ${(activationBytes / MB).toFixed(2)} MB. The gradient alone is ${(gradBytes / plain.peakMB / MB).toFixed(2)}× plain's peak, ` +
      `so "peak ≤ 0.35× plain" cannot be met by any checkpointing when the returned gradient is counted`,
    );
    for (const n of names) notes.push(`${n}: peak ${memory[n]!.peakMB.toFixed(1)} MB (activation part ${memory[n]!.activationPartMB.toFixed(1)} MB), ${t(n).toFixed(0)} ms`);
    for (const [n, mb] of Object.entries(jitPeakMB)) notes.push(`jit(grad), ${n}: peak ${mb.toFixed(1)} MB (eager ${memory[n]!.peakMB.toFixed(1)} MB)`);
    return { timings, ratios, notes, extra: { memoryMB: memory, weightMB: weightBytes / MB, gradientMB: gradBytes / MB, layerActivationMB: activationBytes / MB, jitPeakMB } };
  });
}

if (isMain(import.meta.url)) await runAlone(() => benchCheckpoint());

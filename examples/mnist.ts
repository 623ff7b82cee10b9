// MNIST digits, two ways. (1) An MLP classifier 784-256-128-10 trained with Adam on the digits the
// `mnist` package ships (7 000 training / 1 000 test images, a deterministic split): reports the
// test accuracy and writes out/mnist_errors.png (the test digits it gets wrong). (2) The
// single-loss GAN of algorithms.md §2 generating digits: one loss, one gradient, one Adam step
// per batch trains both nets (stop-gradient on G's output), with per-net optimizers through
// `gan.ttur` (multiTransform). The loss is the non-saturating one plus the R1 penalty
// (γ/2)·E‖∇ₓD(x)‖² on real digits — a gradient inside the loss's gradient, all in one `jit`-compiled
// step; without it D wins within a few hundred steps and G collapses. Both nets are MLPs
// (G 64-256-512-784 with a sigmoid, D 784-256-256-1): models.gan's conv nets for 28×28 images
// cost ~3.5× more per step on the wasm CPU backend. Writes out/mnist_gan.png (64 samples from
// fixed noise) and out/mnist_gan_progress.png (8 samples at 10 %, 25 %, 50 % and 100 % of training).
//
//   npx tsx examples/mnist.ts              # full run (~1.5 minutes on 2 cores)
//   npx tsx examples/mnist.ts --fast       # a few seconds: a subset and a few steps
import * as tf from '@tensorflow/tfjs-core';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as models from '../models/index.js';
import type { DenseParams } from '../models/nn.js';
import * as optim from '../optim/index.js';
import { dispose, jit, np, random, scope, valueAndGrad, type NDArray } from '../src/index.js';
import { fromHost, loadMnist, PIXELS, type DigitSet } from './mnist_data.js';
import { imageGrid } from './plot.js';
import { progressBar } from './progress.js';
import { heading, say } from './report.js';

const { gan, nn, losses } = models;

export interface MnistOptions {
  fast?: boolean;
  outDir?: string;
  quiet?: boolean;
  seed?: number;
  /** Classifier steps (default 800, fast 60) and GAN steps (default 1500, fast 30). */
  classifierSteps?: number;
  ganSteps?: number;
}

export interface MnistResult {
  testAccuracy: number;
  /** The GAN's final D loss, and how far its samples' mean image is from the data's (RMS over pixels). */
  ganLoss: number;
  meanImageRms: number;
  seconds: { classifier: number; gan: number };
  pictures: string[];
}

/** Part 1: the classifier. */
function classify(train: DigitSet, test: DigitSet, o: { steps: number; seed: number; outDir: string; log: (s: string) => void }): { accuracy: number; picture: string; seconds: number } {
  const t0 = performance.now();
  const batch = 128;
  const key = random.key(o.seed);
  const X = fromHost(train.images, [train.n, PIXELS]), Y = fromHost(train.labels, [train.n]);
  let params = scope(() => nn.mlp.init(random.foldIn(key, 0), [PIXELS, 256, 128, 10], { wInit: nn.initializers.heNormal }));
  const opt = optim.adam(optim.schedules.cosine({ initValue: 2e-3, decaySteps: o.steps, alpha: 0.05 }));
  let state: unknown = opt.init(params);
  const loss = (p: DenseParams[], x: NDArray, y: NDArray) => np.mean(losses.softmaxCrossEntropyWithIntegerLabels(nn.mlp.apply(p, x), y));
  const step = jit((p: DenseParams[], s: unknown, k: NDArray) => {
    const idx = random.randint(k, [batch], 0, train.n);
    const [value, grads] = valueAndGrad(loss)(p, np.take(X, idx, 0), np.take(Y, idx, 0));
    const [updates, s2] = opt.update(grads, s as never, p);
    return { params: optim.applyUpdates(p, updates), state: s2 as unknown, value };
  }, { name: 'classifierStep' });
  const bar = progressBar('classifier', o.steps);
  let recent = 0;
  for (let i = 0; i < o.steps; i++) {
    const out = scope(() => step(params, state, random.foldIn(key, 1000 + i)));
    dispose([params, state], { keep: out });
    ({ params, state } = out);
    const v = out.value.item() as number;
    recent = i === 0 ? v : 0.95 * recent + 0.05 * v;
    dispose(out.value);
    bar.update(i + 1, `loss ${recent.toFixed(3)}`);
  }
  bar.stop(`loss ${recent.toFixed(3)}`);
  step.clearCache();
  const predicted = scope(() => np.argmax(nn.mlp.apply(params, fromHost(test.images, [test.n, PIXELS])), -1).dataSync());
  let correct = 0;
  const wrong: number[] = [];
  for (let i = 0; i < test.n; i++) {
    if (predicted[i] === test.labels[i]) correct++;
    else wrong.push(i);
  }
  const shown = wrong.slice(0, 32);
  const pixels = new Float32Array(shown.length * PIXELS);
  shown.forEach((i, k) => pixels.set(test.images.subarray(i * PIXELS, (i + 1) * PIXELS), k * PIXELS));
  const picture = imageGrid(join(o.outDir, 'mnist_errors.png'), pixels, Math.max(1, shown.length), 28, 28, 8, 2);
  o.log(`  test accuracy ${(100 * correct / test.n).toFixed(1)} % (${test.n - correct} of ${test.n} wrong; the first ${shown.length}, with the guess → label: ${shown.slice(0, 8).map((i) => `${predicted[i]}→${test.labels[i]}`).join(' ')} …)`);
  dispose([params, state, X, Y, key]);
  return { accuracy: correct / test.n, picture, seconds: (performance.now() - t0) / 1000 };
}

type Nets = { d: DenseParams[]; g: DenseParams[] };

/** Part 2: the single-loss GAN on digits. */
function generate(train: DigitSet, o: { steps: number; seed: number; outDir: string; log: (s: string) => void }): { loss: number; meanImageRms: number; pictures: string[]; seconds: number } {
  const t0 = performance.now();
  const batch = 64, zDim = 64, hidden = 256;
  const key = random.key(o.seed + 1);
  const X = fromHost(train.images, [train.n, 28, 28, 1]);
  // The nets see images [n, 28, 28, 1] and work on flat vectors; G ends in a sigmoid (pixels in (0, 1)).
  const discriminator = (d: DenseParams[], x: NDArray) => gan.mlpDiscriminator.apply(d, x.reshape(x.shape[0]!, PIXELS));
  const spec: models.gan.GanSpec<DenseParams[], DenseParams[]> = {
    generator: (g, z) => np.sigmoid(nn.mlp.apply(g, z, { activation: (h) => np.leakyRelu(h, 0.2) })).reshape(z.shape[0]!, 28, 28, 1),
    discriminator,
    loss: gan.nonSaturating(),
    dRegularizer: gan.r1Penalty(discriminator, 10),
  };
  const loss = gan.singleLossGan(spec);
  // Adam with β₁ = 0.5 (DCGAN's setting) for each net.
  const opt = gan.ttur({ discriminator: optim.adam(5e-4, { b1: 0.5 }), generator: optim.adam(5e-4, { b1: 0.5 }) });
  let params: Nets = scope(() => ({
    d: gan.mlpDiscriminator.init(random.foldIn(key, 1), PIXELS, { hidden }),
    g: nn.mlp.init(random.foldIn(key, 2), [zDim, hidden, 2 * hidden, PIXELS]),
  }));
  let state: unknown = opt.init(params);
  const step = jit((p: Nets, s: unknown, k: NDArray) => {
    const ks = random.split(k);
    const real = np.take(X, random.randint(ks.at(0), [batch], 0, train.n), 0);
    const [value, grads] = valueAndGrad(loss)(p, real, random.normal(ks.at(1), [batch, zDim]));
    const [updates, s2] = opt.update(grads, s as never, p);
    return { params: optim.applyUpdates(p, updates), state: s2 as unknown, value };
  }, { name: 'ganStep' });
  const fixedZ = scope(() => random.normal(random.foldIn(key, 3), [64, zDim]));
  const sample = (p: Nets, n: number) => scope(() => spec.generator(p.g, fixedZ.at([0, n])).dataSync() as Float32Array);
  const snapshots: Float32Array[] = [];
  const snapshotAt = new Set([0.1, 0.25, 0.5, 1].map((f) => Math.max(1, Math.round(f * o.steps))));
  const bar = progressBar('GAN', o.steps);
  let last = 0;
  for (let i = 0; i < o.steps; i++) {
    const out = scope(() => step(params, state, random.foldIn(key, 1000 + i)));
    dispose([params, state], { keep: out });
    ({ params, state } = out);
    if (i % 25 === 0 || i === o.steps - 1) last = out.value.item() as number;
    dispose(out.value);
    bar.update(i + 1, `D loss ${last.toFixed(3)}`);
    if (snapshotAt.has(i + 1)) snapshots.push(sample(params, 8));
  }
  bar.stop(`D loss ${last.toFixed(3)}`);
  step.clearCache();
  const samples = sample(params, 64);
  // Mean image of the samples against the data's: a cheap check that G covers the digit area.
  const dataMean = new Float64Array(PIXELS), fakeMean = new Float64Array(PIXELS);
  for (let i = 0; i < train.n; i++) for (let p = 0; p < PIXELS; p++) dataMean[p]! += train.images[i * PIXELS + p]! / train.n;
  for (let i = 0; i < 64; i++) for (let p = 0; p < PIXELS; p++) fakeMean[p]! += samples[i * PIXELS + p]! / 64;
  let se = 0;
  for (let p = 0; p < PIXELS; p++) se += (dataMean[p]! - fakeMean[p]!) ** 2;
  const meanImageRms = Math.sqrt(se / PIXELS);
  const grid = imageGrid(join(o.outDir, 'mnist_gan.png'), samples, 64, 28, 28, 8, 2);
  const progress = new Float32Array(snapshots.length * 8 * PIXELS);
  snapshots.forEach((s, k) => progress.set(s, k * 8 * PIXELS));
  const progressPicture = imageGrid(join(o.outDir, 'mnist_gan_progress.png'), progress, snapshots.length * 8, 28, 28, 8, 2);
  o.log(`  D loss ${last.toFixed(3)} (log 4 ≈ 1.386 when D cannot tell), RMS distance of the mean image to the data's ${meanImageRms.toFixed(3)}`);
  dispose([params, state, X, key, fixedZ]);
  return { loss: last, meanImageRms, pictures: [grid, progressPicture], seconds: (performance.now() - t0) / 1000 };
}

/** Trains the classifier and the GAN; returns the accuracy and the pictures' paths. */
export async function runMnist(options: MnistOptions = {}): Promise<MnistResult> {
  const { fast = false, outDir = 'out', quiet = false, seed = 0 } = options;
  const classifierSteps = options.classifierSteps ?? (fast ? 60 : 800);
  const ganSteps = options.ganSteps ?? (fast ? 30 : 1500);
  const log = quiet ? () => {} : (s: string) => console.log(s);
  const tensorsBefore = tf.memory().numTensors;
  const { train, test } = loadMnist(fast ? { trainPerDigit: 200, testPerDigit: 50 } : {});
  if (!quiet) {
    heading('MNIST: an MLP classifier');
    say(`${train.n} training and ${test.n} test digits (28×28) from the mnist package; MLP 784-256-128-10, ReLU, Adam with a cosine schedule, batch 128, ${classifierSteps} steps.`);
  }
  const c = classify(train, test, { steps: classifierSteps, seed, outDir, log });
  if (!quiet) {
    heading('MNIST: digits from the single-loss GAN');
    say(`One loss L_D(θ; sg G(z)) + R1(θ) + [L_G(θ, G(z)) − L_G(θ, sg G(z))] (non-saturating), one gradient, one Adam step for both nets; MLP nets, z of dimension 64, batch 64, ${ganSteps} steps.`);
  }
  const g = generate(train, { steps: ganSteps, seed, outDir, log });
  const pictures = [c.picture, ...g.pictures];
  log(`mnist: test accuracy ${(100 * c.accuracy).toFixed(1)} % (${c.seconds.toFixed(1)} s); GAN ${ganSteps} steps (${g.seconds.toFixed(1)} s); pictures ${pictures.join(', ')}`);
  const leaked = tf.memory().numTensors - tensorsBefore;
  if (leaked !== 0) log(`warning: ${leaked} tensors left alive`);
  return { testAccuracy: c.accuracy, ganLoss: g.loss, meanImageRms: g.meanImageRms, seconds: { classifier: c.seconds, gan: g.seconds }, pictures };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const env = (k: string) => (process.env[k] === undefined ? undefined : Number(process.env[k]));
  await runMnist({
    fast: process.argv.includes('--fast') || process.env.FAST === '1',
    ganSteps: env('GAN_STEPS'),
    classifierSteps: env('STEPS'),
    outDir: process.env.OUTDIR,
  });
}

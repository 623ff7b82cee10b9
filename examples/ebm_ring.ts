// An energy-based model (algorithms.md §6, IGEBM recipe) on the 8-Gaussians ring: eight modes of
// std 0.15 on a circle of radius 2. The energy is an MLP 2-128-128-1 (SiLU, He-normal weights:
// with Glorot's smaller ones the net learns the eight-fold angular structure several times more
// slowly). Negatives come from short-run Langevin chains (theory form, K = 20 steps of
// x ← x − (ε/2)∇E + √ε·ξ) started from a replay buffer (re-initialised from uniform noise with
// probability 5 %); the loss is the contrastive one with the α(E⁺² + E⁻²) regulariser, negatives
// detached; Adam with IGEBM's β₁ = 0. Buffer sampling happens eagerly; the chain, the loss
// gradient and the Adam update are one `jit`-compiled program.
//
// Writes out/ebm_ring.png: left, the learned log density −E (from 12 nats below its maximum to
// the maximum) with model samples in red; right, data (grey) against model samples (red). Reports
// how close the samples' mean and covariance are to the data's, the energy barrier between
// neighbouring modes, and the GAN-style mode coverage: a sample is "high quality" within 3 std of
// a mode centre; a mode is covered when it has ≥ 20 such samples per 2500. Model samples are
// long-run chains (ULA, 300 steps) started from uniform noise, so they measure the energy itself,
// not only the persistent buffer.
//
//   npx tsx examples/ebm_ring.ts            # full run (1500 steps, about a minute on 2 cores)
import * as tf from '@tensorflow/tfjs-core';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as ebm from '../models/ebm.js';
import * as initializers from '../models/init.js';
import * as optim from '../optim/index.js';
import { dispose, jit, np, random, scope, stopGradient, valueAndGrad, type NDArray } from '../src/index.js';
import { Canvas, colormap, gridPoints, type Bounds, type RGB } from './plot.js';

const MODES = 8;
const RADIUS = 2;
const STD = 0.15;
const BOUNDS: Bounds = { xmin: -3, xmax: 3, ymin: -3, ymax: 3 };

/** The 8 mode centres, [8, 2]. */
function centres(): number[][] {
  return Array.from({ length: MODES }, (_, k) => [RADIUS * Math.cos((2 * Math.PI * k) / MODES), RADIUS * Math.sin((2 * Math.PI * k) / MODES)]);
}

/** n samples of the ring: a uniformly chosen centre plus N(0, STD²) noise. */
function sampleRing(key: NDArray, n: number): NDArray {
  const ks = random.split(key);
  const which = np.oneHot(random.randint(ks.at(0), [n], 0, MODES), MODES);
  return np.matmul(which, centres()).add(random.normal(ks.at(1), [n, 2]).mul(STD));
}

/** Uniform noise on the plotting box: where fresh chains start. */
function uniformInit(key: NDArray, shape: number[]): NDArray {
  return random.uniform(key, shape, BOUNDS.xmin, BOUNDS.xmax);
}

/** Mode coverage of flat [x0, y0, ...] samples (the header's definition). */
export function modeCoverage(points: ArrayLike<number>, minPerMode = 20): { modesCovered: number; highQualityFraction: number; perMode: number[] } {
  const cs = centres();
  const perMode = new Array<number>(MODES).fill(0);
  const n = points.length / 2;
  let good = 0;
  for (let i = 0; i < n; i++) {
    const x = points[2 * i]!, y = points[2 * i + 1]!;
    let best = 0, bestD = Infinity;
    cs.forEach(([cx, cy], k) => {
      const d = Math.hypot(x - cx!, y - cy!);
      if (d < bestD) [best, bestD] = [k, d];
    });
    if (bestD <= 3 * STD) {
      good++;
      perMode[best]!++;
    }
  }
  const threshold = (minPerMode * n) / 2500;
  return { modesCovered: perMode.filter((c) => c >= threshold).length, highQualityFraction: good / n, perMode };
}

/** Mean [2] and covariance [2, 2] of flat 2-D points. */
function moments(points: ArrayLike<number>): { mean: number[]; cov: number[][] } {
  const n = points.length / 2;
  const m = [0, 0];
  for (let i = 0; i < n; i++) for (let d = 0; d < 2; d++) m[d]! += points[2 * i + d]! / n;
  const c = [[0, 0], [0, 0]];
  for (let i = 0; i < n; i++) for (let a = 0; a < 2; a++) for (let b = 0; b < 2; b++) c[a]![b]! += ((points[2 * i + a]! - m[a]!) * (points[2 * i + b]! - m[b]!)) / (n - 1);
  return { mean: m, cov: c };
}

export interface EbmRingOptions {
  /** Training steps (default 1500; the tour's short run uses ~300). */
  steps?: number;
  seed?: number;
  outDir?: string;
  quiet?: boolean;
  /** Negatives per step and data batch size (default 128). */
  batch?: number;
  /** Langevin steps per training step K (default 20). */
  langevinSteps?: number;
  /** Langevin ε (default 0.005). */
  stepSize?: number;
  /** Weight α of the energy regulariser (default 0.1). */
  alpha?: number;
  /** Adam's initial learning rate (default 1e-2), cosine-decayed to 5 % of it over the run. */
  lr?: number;
  /** Adam's β₁ (default 0, as in IGEBM §6.3). */
  b1?: number;
  /** Weight initialiser of the energy MLP (default: He normal). */
  init?: 'glorot' | 'he';
  /** Samples drawn for evaluation (default 2500). */
  evalSamples?: number;
}

export interface EbmRingResult {
  /** ‖mean(samples) − mean(data)‖ (data: 10 000 fresh ring samples; the ring's radius is 2). */
  meanError: number;
  /** ‖cov(samples) − cov(data)‖_F / ‖cov(data)‖_F. */
  covError: number;
  /** Modes (of 8) covered by the model's samples. */
  modesCovered: number;
  /** Mean energy halfway between neighbouring modes minus mean energy at the modes (data: (0.77/0.15)²/2 ≈ 13). */
  barrier: number;
  /** Fraction of samples within 3 std of a mode centre. */
  highQualityFraction: number;
  /** Samples per mode (high-quality ones only). */
  perMode: number[];
  /** Mean and covariance of the samples and of the data, for the report. */
  sampleMean: number[];
  sampleCov: number[][];
  dataMean: number[];
  dataCov: number[][];
  /** The contrastive loss over the last 50 steps (mean). */
  finalLoss: number;
  seconds: number;
  picture: string;
}

interface TrainState {
  params: ebm.MlpEnergyParams;
  optState: unknown;
  buffer: ebm.ReplayBuffer;
}

export async function runEbmRing(options: EbmRingOptions = {}): Promise<EbmRingResult> {
  const {
    steps = 1500, seed = 0, outDir = 'out', quiet = false, batch = 128, langevinSteps = 20,
    stepSize = 0.005, alpha = 0.01, lr = 1e-2, b1 = 0, init = 'he', evalSamples = 2500,
  } = options;
  const log = quiet ? () => {} : (s: string) => console.log(s);
  const t0 = performance.now();
  const tensorsBefore = tf.memory().numTensors;
  const root = random.key(seed);

  const energy = (p: ebm.MlpEnergyParams, x: NDArray) => ebm.mlpEnergy.apply(p, x);
  const sampler: ebm.LangevinOptions = { stepSize, steps: langevinSteps };
  // IGEBM's Adam: β₁ = 0, β₂ = 0.999 (§6.3); the learning rate decays so that the modes sharpen.
  const opt = optim.adam(optim.schedules.cosine({ initValue: lr, decaySteps: steps, alpha: 0.05 }), { b1, b2: 0.999 });

  // One training step: K Langevin steps from the buffer starts (gradient w.r.t. x), then the
  // contrastive loss's gradient w.r.t. θ at the detached negatives, then Adam.
  const trainStep = jit((params: ebm.MlpEnergyParams, optState: unknown, xPos: NDArray, xInit: NDArray, key: NDArray) => {
    const xNeg = stopGradient(ebm.langevin((x) => energy(params, x), xInit, key, sampler));
    const [loss, grads] = valueAndGrad((p: ebm.MlpEnergyParams) => ebm.contrastiveLoss((x) => energy(p, x), xPos, xNeg, { alpha }))(params);
    const [updates, newOptState] = opt.update(grads, optState as never, params);
    return { params: optim.applyUpdates(params, updates), optState: newOptState, xNeg, loss };
  }, { name: 'ebmTrainStep' });

  let state: TrainState = scope(() => {
    const params = ebm.mlpEnergy.init(random.foldIn(root, 1), 2, [128, 128], { wInit: init === 'he' ? initializers.heNormal : initializers.glorotUniform });
    return { params, optState: opt.init(params), buffer: ebm.replayBuffer.init(10_000, [2]) };
  });
  const losses: number[] = [];
  for (let t = 0; t < steps; t++) {
    const prev = state;
    const [next, loss] = scope(() => {
      const k = random.foldIn(root, 1000 + t);
      const ks = random.split(k, 3);
      const xPos = sampleRing(ks.at(0), batch);
      const start = ebm.replayBuffer.sample(prev.buffer, ks.at(1), batch, { init: uniformInit, reinitProb: 0.05 });
      const out = trainStep(prev.params, prev.optState, xPos, start.x, ks.at(2));
      const buffer = ebm.replayBuffer.push(prev.buffer, out.xNeg);
      return [{ params: out.params, optState: out.optState, buffer }, out.loss.item() as number] as const;
    });
    dispose(prev, { keep: next });
    state = next;
    losses.push(loss);
    if (!Number.isFinite(loss)) throw new Error(`ebm_ring: the loss diverged at step ${t} (${loss})`);
    if ((t + 1) % Math.max(1, Math.floor(steps / 10)) === 0) {
      const recent = losses.slice(-50);
      log(`step ${String(t + 1).padStart(5)}  loss ${(recent.reduce((a, b) => a + b, 0) / recent.length).toFixed(4)}  (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    }
  }
  trainStep.clearCache();

  // Evaluation: long-run chains from uniform noise, and the data's moments from 10 000 samples.
  const evalOpts: ebm.LangevinOptions = { stepSize, steps: 300 };
  const { samples, data, logDensity, barrier } = scope(() => {
    const keys = random.split(random.foldIn(root, 2), 3);
    const x = ebm.langevin((y) => energy(state.params, y), uniformInit(keys.at(0), [evalSamples, 2]), keys.at(1), evalOpts);
    const grid = np.array(Array.from(gridPoints(BOUNDS, 120))).reshape(-1, 2);
    const e = energy(state.params, grid);
    const logDensity = np.min(e).sub(e); // log e^{−E} up to the (unknown) log Z, 0 at the mode
    // Energy barrier: E halfway between neighbouring modes (on the circle) minus E at the modes.
    const half = Array.from({ length: MODES }, (_, k) => [RADIUS * Math.cos((2 * Math.PI * (k + 0.5)) / MODES), RADIUS * Math.sin((2 * Math.PI * (k + 0.5)) / MODES)]);
    const barrier = np.mean(energy(state.params, np.array(half))).sub(np.mean(energy(state.params, np.array(centres())))).item() as number;
    return { samples: x.dataSync(), data: sampleRing(keys.at(2), 10_000).dataSync(), logDensity: logDensity.dataSync(), barrier };
  });
  const s = moments(samples), d = moments(data);
  const meanError = Math.hypot(s.mean[0]! - d.mean[0]!, s.mean[1]! - d.mean[1]!);
  const frob = (m: number[][]) => Math.sqrt(m.flat().reduce((a, v) => a + v * v, 0));
  const covError = frob(s.cov.map((r, i) => r.map((v, j) => v - d.cov[i]![j]!))) / frob(d.cov);
  const cover = modeCoverage(samples);
  const picture = drawPicture(join(outDir, 'ebm_ring.png'), logDensity, 120, samples, data.subarray(0, 2 * evalSamples));

  dispose([state, root]);
  const leaked = tf.memory().numTensors - tensorsBefore;
  if (leaked !== 0) log(`warning: ${leaked} tensors leaked`);
  const recent = losses.slice(-50);
  const result: EbmRingResult = {
    meanError, covError, barrier, modesCovered: cover.modesCovered, highQualityFraction: cover.highQualityFraction, perMode: cover.perMode,
    sampleMean: s.mean, sampleCov: s.cov, dataMean: d.mean, dataCov: d.cov,
    finalLoss: recent.reduce((a, b) => a + b, 0) / Math.max(1, recent.length),
    seconds: (performance.now() - t0) / 1000, picture,
  };
  const fmt = (m: number[][]) => `[[${m[0]!.map((v) => v.toFixed(3)).join(', ')}], [${m[1]!.map((v) => v.toFixed(3)).join(', ')}]]`;
  log(`samples: mean [${s.mean.map((v) => v.toFixed(3)).join(', ')}], cov ${fmt(s.cov)}`);
  log(`data:    mean [${d.mean.map((v) => v.toFixed(3)).join(', ')}], cov ${fmt(d.cov)}`);
  log(`mean error ${meanError.toFixed(3)}, relative covariance error ${covError.toFixed(3)}`);
  log(`energy barrier between modes ${barrier.toFixed(2)}`);
  log(`modes covered ${cover.modesCovered}/8 (per mode ${cover.perMode.join(' ')}), high-quality samples ${(100 * cover.highQualityFraction).toFixed(1)} %`);
  log(`wrote ${picture} in ${result.seconds.toFixed(1)} s`);
  return result;
}

/** Two panels: log-density heat map with samples (left), data vs samples (right). */
function drawPicture(path: string, logDensity: ArrayLike<number>, res: number, samples: ArrayLike<number>, data: ArrayLike<number>): string {
  const size = 400, gap = 10;
  const c = new Canvas(2 * size + gap, size);
  const toPx = (x: number, y: number, ox: number): [number, number] => [
    ox + ((x - BOUNDS.xmin) / (BOUNDS.xmax - BOUNDS.xmin)) * (size - 1),
    (1 - (y - BOUNDS.ymin) / (BOUNDS.ymax - BOUNDS.ymin)) * (size - 1),
  ];
  // Log density on a window of 12 nats below the maximum, so every mode shows, not only the deepest.
  for (let py = 0; py < size; py++) for (let px = 0; px < size; px++) {
    const r = Math.min(res - 1, Math.floor((py / size) * res)), q = Math.min(res - 1, Math.floor((px / size) * res));
    c.set(px, py, colormap(1 + logDensity[r * res + q]! / 12), 1);
  }
  const red: RGB = [230, 40, 40], grey: RGB = [120, 120, 120];
  for (let i = 0; i + 1 < samples.length; i += 2) c.dot(...toPx(samples[i]!, samples[i + 1]!, 0), red, 1.2, 0.5);
  for (let i = 0; i + 1 < data.length; i += 2) c.dot(...toPx(data[i]!, data[i + 1]!, size + gap), grey, 1.5, 0.5);
  for (let i = 0; i + 1 < samples.length; i += 2) c.dot(...toPx(samples[i]!, samples[i + 1]!, size + gap), red, 1.5, 0.5);
  return c.save(path);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await runEbmRing();
}

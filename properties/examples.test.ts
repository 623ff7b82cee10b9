// The tour and the examples run (in their fast modes): each finishes, prints its summary, writes
// valid PNG pictures where it makes any, and reports numbers that say the demo shows what it claims
// (per-example gradients equal the loop, hvp equals H·v, checkpoints save memory, Adafactor's state
// is small, ...). The tour runs as `npm start` does, in a child process.
import * as tf from '@tensorflow/tfjs-core';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { runAdafactorVsAdam } from '../examples/adafactor_vs_adam.js';
import { runFinetune } from '../examples/finetune_layer_lr.js';
import { runFlowsMnist } from '../examples/flows_mnist.js';
import { runHessianVector } from '../examples/hessian_vector.js';
import { runMnist } from '../examples/mnist.js';
import { runDpsgd } from '../examples/per_example_dpsgd.js';
import { runRecompute } from '../examples/recompute.js';

const out = mkdtempSync(join(tmpdir(), 'gradus-examples-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

/** Parses a PNG file and returns its size; throws if it is not a valid PNG. */
function pngSize(path: string): { width: number; height: number } {
  const png = PNG.sync.read(readFileSync(path));
  return { width: png.width, height: png.height };
}

function expectValidPng(path: string): void {
  expect(statSync(path).size, path).toBeGreaterThan(100);
  const { width, height } = pngSize(path);
  expect(width, path).toBeGreaterThan(0);
  expect(height, path).toBeGreaterThan(0);
}

// In-process examples print through console.log; collect it to check their summaries.
let printed: string[] = [];
beforeEach(() => {
  printed = [];
  vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => void printed.push(args.map(String).join(' ')));
});
afterEach(() => vi.restoreAllMocks());
const summary = (prefix: string) => printed.find((l) => l.startsWith(prefix));

describe('the tour (npm start, TOUR_FAST=1)', () => {
  it('finishes, prints every section and the summary table, and writes the three pictures', () => {
    const dir = join(out, 'tour');
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'examples/tour.ts', '--fast', '--out', dir], {
      encoding: 'utf8',
      env: { ...process.env, TOUR_FAST: '1', NO_COLOR: '1' },
      timeout: 280_000,
    });
    const text = `${r.stdout}\n${r.stderr}`;
    expect(r.status, text.slice(-3000)).toBe(0);
    for (const section of ['1. Parameter trees', '4. grad, vmap, jvp, jacfwd, hessian', '5. makeJaxpr', '6. stopGradient', '7. checkpoint', '8. Optimizers', '9. Adafactor', '10. A GAN', '11. Normalising flows', '12. An energy-based model', 'Summary']) {
      expect(r.stdout, section).toContain(section);
    }
    expect(r.stdout).toMatch(/tour finished in [\d.]+ s; 0 tensors alive at the end/);
    const pictures = [...r.stdout.matchAll(/^ {4}(\S+\.png)$/gm)].map((m) => m[1]!);
    expect(pictures.map((p) => p.split('/').pop()).sort()).toEqual(['ebm_ring.png', 'flows_two_moons.png', 'gan_ring.png']);
    for (const p of pictures) expectValidPng(p);
    expect(r.stdout).not.toMatch(/skipped/);
  }, 300_000);
});

describe('examples (fast mode)', () => {
  it('per_example_dpsgd: vmap(grad) equals the loop of grad, is faster, and DP-SGD trains', async () => {
    const r = await runDpsgd({ fast: true });
    expect(summary('per_example_dpsgd:')).toBeDefined();
    expect(r.maxDifference).toBeLessThan(1e-5);
    expect(r.ms.vmap).toBeLessThan(r.ms.loop);
    expect(r.accuracy.nonPrivate).toBeGreaterThan(0.5);
    expect(r.accuracy.private).toBeGreaterThan(0.2); // 10 classes: chance is 0.1
    expect(r.clippedFraction.first).toBeGreaterThan(0);
  });

  it('hessian_vector: hvp equals H·v, power iteration finds an eigenpair, Newton-CG beats gradient descent', async () => {
    const r = await runHessianVector({ fast: true });
    expect(summary('hessian_vector:')).toBeDefined();
    expect(r.hvpRelativeError).toBeLessThan(1e-4);
    expect(r.eigenResidual).toBeLessThan(1e-2);
    expect(r.newtonLosses[r.newtonLosses.length - 1]!).toBeLessThan(r.gdLoss);
    for (let i = 1; i < r.newtonLosses.length; i++) expect(r.newtonLosses[i]!).toBeLessThanOrEqual(r.newtonLosses[i - 1]! + 1e-6);
  });

  it('recompute: every variant gives the same gradient; per-layer and √n checkpoints lower the peak', async () => {
    const r = await runRecompute({ fast: true });
    expect(summary('recompute:')).toBeDefined();
    const [plain, perLayer, , sqrtN] = r.rows;
    for (const row of r.rows) expect(row.maxDifference, row.name).toBeLessThan(1e-5);
    expect(perLayer!.activationBytes).toBeLessThan(0.6 * plain!.activationBytes);
    expect(sqrtN!.activationBytes).toBeLessThan(plain!.activationBytes);
  });

  it('finetune_layer_lr: pre-training works and per-layer rates forget less than one rate for all', async () => {
    const r = await runFinetune({ fast: true });
    expect(summary('finetune_layer_lr:')).toBeDefined();
    expect(r.pretrainAccuracy).toBeGreaterThan(0.8);
    const byName = Object.fromEntries(r.strategies.map((s) => [s.name.split(/[:,(]/)[0]!.trim(), s]));
    expect(byName['per-layer']!.oldTask).toBeGreaterThanOrEqual(byName['full fine-tune']!.oldTask);
    // The linear probe's shared layers never move: the old task is exactly as before.
    expect(byName['linear probe']!.oldTask).toBe(r.pretrainAccuracy);
  });

  it("adafactor_vs_adam: Adafactor's state is O(m + n) and it trains", async () => {
    const r = await runAdafactorVsAdam({ fast: true });
    expect(summary('adafactor_vs_adam:')).toBeDefined();
    const square = r.memory.find((m) => m.shape.join() === '1024,1024')!;
    expect(square.adam).toBe(2 * 1024 * 1024 + 1);
    expect(square.adafactor).toBeLessThanOrEqual(2100);
    const [adam, ...adafactors] = r.runs;
    for (const a of adafactors) expect(a!.stateFloats).toBeLessThan(0.01 * adam!.stateFloats);
    for (const run of r.runs) expect(run.losses[run.losses.length - 1]!, run.name).toBeLessThan(run.losses[0]! + 1e-6);
  });

  it('flows_mnist: the conv i-ResNet flow learns digits (below 8 bits/dim and falling), its log-det estimate agrees with the exact one, and it draws samples', async () => {
    const dir = join(out, 'flows_mnist');
    const before = tf.memory().numTensors;
    const r = await runFlowsMnist({ fast: true, outDir: dir });
    expect(tf.memory().numTensors).toBe(before);
    expect(summary('flows_mnist:')).toMatch(/test [\d.]+ bits\/dim/);
    expect(r.bitsPerDim.iresnet).toBeLessThan(r.bitsPerDim.uniform);
    expect(r.trainBitsPerDim.last).toBeLessThan(r.trainBitsPerDim.first);
    expect(Math.abs(r.logdetCheck.estimated - r.logdetCheck.exact)).toBeLessThan(0.05);
    expect(r.bitsPerDim.independentPixels).toBeGreaterThan(4);
    expect(r.bitsPerDim.independentPixels).toBeLessThan(6);
    expect(r.pictures.map((p) => p.split('/').pop())).toEqual(['flows_mnist.png']);
    expectValidPng(r.pictures[0]!);
  });

  it('mnist: the classifier learns and the GAN writes its pictures', async () => {
    const dir = join(out, 'mnist');
    const r = await runMnist({ fast: true, outDir: dir });
    expect(summary('mnist:')).toMatch(/test accuracy [\d.]+ %/);
    expect(r.testAccuracy).toBeGreaterThan(0.7);
    expect(r.pictures.map((p) => p.split('/').pop())).toEqual(['mnist_errors.png', 'mnist_gan.png', 'mnist_gan_progress.png']);
    for (const p of r.pictures) expectValidPng(p);
    expect(pngSize(r.pictures[1]!)).toEqual({ width: 8 * 58 + 2, height: 8 * 58 + 2 });
  });
});

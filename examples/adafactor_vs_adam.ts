// Adafactor against Adam: optimizer-state memory and convergence. Adam keeps two moments per
// parameter (2 floats each). Adafactor (Shazeer & Stern 2018; algorithms.md §4) keeps, for an m×n
// matrix, only running means of the squared gradient's rows and columns (m + n floats) and
// rebuilds the second moment as their outer product, with no first moment by default; vectors
// and small matrices keep a full second moment. The first table counts state floats for typical
// shapes (`optim.treeSize(opt.init(params))`). Then both train the same MLP (784-512-256-10) on MNIST
// from the same start: Adam(1e-3), Adafactor with a fixed rate 1e-3, and Adafactor's relative step
// size (no learning rate, ρ_t = min(1e-2, 1/√t) scaled by each parameter's RMS); loss over
// training, test accuracy, state size and time per step.
//
//   npx tsx examples/adafactor_vs_adam.ts          # full run (~1 minute)
//   npx tsx examples/adafactor_vs_adam.ts --fast
import * as tf from '@tensorflow/tfjs-core';
import { pathToFileURL } from 'node:url';
import * as models from '../models/index.js';
import type { DenseParams } from '../models/nn.js';
import * as optim from '../optim/index.js';
import { dispose, jit, np, random, scope, valueAndGrad, type NDArray } from '../src/index.js';
import { fromHost, loadMnist, PIXELS } from './mnist_data.js';
import { progressBar } from './progress.js';
import { block, heading, num, say, table } from './report.js';

const { nn, losses } = models;

export interface AdafactorOptions {
  fast?: boolean;
  quiet?: boolean;
  seed?: number;
}

export interface OptimizerRun {
  name: string;
  stateFloats: number;
  /** Mean training loss over each fifth of the run. */
  losses: number[];
  testAccuracy: number;
  msPerStep: number;
}

export interface AdafactorResult {
  /** State floats per shape: [shape, adam, adafactor]. */
  memory: { shape: number[]; adam: number; adafactor: number }[];
  runs: OptimizerRun[];
  seconds: number;
}

const fmtInt = (n: number) => n.toLocaleString('en-US');

export async function runAdafactorVsAdam(options: AdafactorOptions = {}): Promise<AdafactorResult> {
  const { fast = false, quiet = false, seed = 0 } = options;
  const log = quiet ? () => {} : (s: string) => console.log(s);
  const t0 = performance.now();
  const tensorsBefore = tf.memory().numTensors;

  // ---- 1. state sizes ----------------------------------------------------------------------------
  const shapes = fast ? [[1024, 1024], [1024]] : [[1024, 1024], [4096, 1024], [3, 3, 256, 512], [512, 64], [1024]];
  const memory = shapes.map((shape) => {
    const params = { w: np.zeros(shape) };
    const count = (o: optim.GradientTransformation<unknown>) => {
      const s = o.init(params);
      const n = optim.treeSize(s);
      dispose(s);
      return n;
    };
    const row = { shape, adam: count(optim.adam(1e-3)), adafactor: count(optim.adafactor(1e-3)) };
    dispose(params);
    return row;
  });
  if (!quiet) {
    heading('Optimizer state: Adam vs Adafactor');
    say(`State floats from optim.treeSize(opt.init({ w })). Adafactor factors leaves whose two largest
      dimensions are both ≥ 128 (minDimSizeToFactor); others keep a full second moment.`);
    block(table([
      ['parameter shape', 'parameters', 'adam', 'adafactor', 'ratio'],
      ...memory.map((m) => [`[${m.shape.join(', ')}]`, fmtInt(m.shape.reduce((a, b) => a * b, 1)), fmtInt(m.adam), fmtInt(m.adafactor), num(m.adafactor / m.adam, 4)]),
    ]));
  }

  // ---- 2. convergence ----------------------------------------------------------------------------
  const steps = fast ? 20 : 400, batch = 128;
  const { train, test } = loadMnist(fast ? { trainPerDigit: 100, testPerDigit: 30, seed } : { seed });
  const X = fromHost(train.images, [train.n, PIXELS]), Y = fromHost(train.labels, [train.n]);
  const Xt = fromHost(test.images, [test.n, PIXELS]);
  const key = random.key(seed);
  const sizes = [PIXELS, 512, 256, 10];
  const loss = (p: DenseParams[], x: NDArray, y: NDArray) => np.mean(losses.softmaxCrossEntropyWithIntegerLabels(nn.mlp.apply(p, x), y));
  const contenders: [string, optim.GradientTransformation<unknown>][] = [
    ['adam(1e-3)', optim.adam(1e-3)],
    ['adafactor(1e-3)', optim.adafactor(1e-3)],
    ['adafactor(1e-3, { multiplyByParameterScale: false })', optim.adafactor(1e-3, { multiplyByParameterScale: false })],
    ['adafactor() (relative step)', optim.adafactor()],
  ];
  if (!quiet) {
    heading(`Training an MLP ${sizes.join('-')} on MNIST (${steps} steps, batch ${batch})`);
    say(`Same initial parameters and the same minibatches for every optimizer. The table shows the mean
      training loss over each fifth of the run (@step), the test accuracy and the time per step. With a
      fixed rate, Adafactor scales each step by the parameter's RMS (multiplyByParameterScale, default
      true), so 1e-3 means much smaller steps than Adam's 1e-3.`);
  }
  const runs: OptimizerRun[] = [];
  for (const [name, opt] of contenders) {
    let params = scope(() => nn.mlp.init(random.foldIn(key, 0), sizes, { wInit: nn.initializers.heNormal }));
    let state: unknown = opt.init(params);
    const stateFloats = optim.treeSize(state);
    const step = jit((p: DenseParams[], s: unknown, k: NDArray) => {
      const idx = random.randint(k, [batch], 0, train.n);
      const [value, g] = valueAndGrad(loss)(p, np.take(X, idx, 0), np.take(Y, idx, 0));
      const [u, s2] = opt.update(g, s as never, p);
      return { params: optim.applyUpdates(p, u), state: s2 as unknown, value };
    }, { name: 'step' });
    const chunk = Math.max(1, Math.floor(steps / 5));
    const curve: number[] = [];
    let acc = 0;
    const bar = progressBar(name.replace(/\(.*$/, '').slice(0, 14), steps);
    const start = performance.now();
    for (let i = 0; i < steps; i++) {
      const out = scope(() => step(params, state, random.foldIn(key, 1000 + i)));
      dispose([params, state], { keep: out });
      ({ params, state } = out);
      acc += out.value.item() as number;
      dispose(out.value);
      if ((i + 1) % chunk === 0) {
        curve.push(acc / chunk);
        acc = 0;
      }
      bar.update(i + 1, curve.length ? `loss ${curve[curve.length - 1]!.toFixed(3)}` : '');
    }
    const msPerStep = (performance.now() - start) / steps;
    bar.stop(`loss ${curve[curve.length - 1]?.toFixed(3) ?? '?'}`);
    step.clearCache();
    const testAccuracy = scope(() => {
      const pred = np.argmax(nn.mlp.apply(params, Xt), -1).dataSync();
      let c = 0;
      for (let i = 0; i < test.n; i++) if (pred[i] === test.labels[i]) c++;
      return c / test.n;
    });
    runs.push({ name, stateFloats, losses: curve, testAccuracy, msPerStep });
    dispose([params, state]);
  }
  dispose([X, Y, Xt, key]);
  if (!quiet) {
    const fifths = runs[0]!.losses.map((_, i) => `@${Math.round(((i + 1) * steps) / runs[0]!.losses.length)}`);
    block(table([
      ['optimizer', 'state floats', ...fifths, 'test acc.', 'ms/step'],
      ...runs.map((r) => [r.name, fmtInt(r.stateFloats), ...r.losses.map((l) => l.toFixed(3)), `${(100 * r.testAccuracy).toFixed(1)} %`, r.msPerStep.toFixed(1)]),
    ]));
    say(`The MLP has ${fmtInt(sizes.slice(1).reduce((a, n, i) => a + n * (sizes[i]! + 1), 0))} parameters; Adafactor's state is
      ${num(runs[1]!.stateFloats / runs[0]!.stateFloats, 3)}× Adam's (the bias vectors and the 256×10 output layer are not factored).`);
  }
  const seconds = (performance.now() - t0) / 1000;
  log(`adafactor_vs_adam: state ${fmtInt(runs[1]!.stateFloats)} vs ${fmtInt(runs[0]!.stateFloats)} floats; test accuracy ${runs.map((r) => `${r.name.split(' (')[0]} ${(100 * r.testAccuracy).toFixed(1)} %`).join(', ')}; ${seconds.toFixed(1)} s`);
  const leaked = tf.memory().numTensors - tensorsBefore;
  if (leaked !== 0) log(`warning: ${leaked} tensors left alive`);
  return { memory, runs, seconds };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await runAdafactorVsAdam({ fast: process.argv.includes('--fast') });
}

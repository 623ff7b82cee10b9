// Fine-tuning with per-layer learning rates. An MLP (embed 784→128, hidden 128→64, head 64→5) is
// pre-trained on MNIST digits 0–4, then adapted to digits 5–9 from only 20 examples per class.
// `optim.pathLabels` names parameter groups by path pattern and `optim.multiTransform` gives each
// group its own optimizer: the embedding at 0.1× the learning rate, the hidden layer frozen with
// `optim.setToZero()`, the new head at the full rate. Compared with training from scratch, full
// fine-tuning at one rate, and a linear probe (only the head trains). Reports accuracy on the new
// task and how much of the old task survives (the old head on the fine-tuned layers): the trade-off
// per-layer rates control — how far the shared layers may move for the new task.
//
//   npx tsx examples/finetune_layer_lr.ts          # full run (~20 s)
//   npx tsx examples/finetune_layer_lr.ts --fast
import * as tf from '@tensorflow/tfjs-core';
import { pathToFileURL } from 'node:url';
import * as models from '../models/index.js';
import type { DenseParams } from '../models/nn.js';
import * as optim from '../optim/index.js';
import { dispose, jit, np, random, scope, tree, valueAndGrad, type NDArray } from '../src/index.js';
import { fromHost, loadMnist, PIXELS, type DigitSet } from './mnist_data.js';
import { progressBar } from './progress.js';
import { block, heading, say, show, table } from './report.js';

const { nn, losses } = models;

export interface Net {
  embed: DenseParams;
  hidden: DenseParams;
  head: DenseParams;
}

const features = (p: Net, x: NDArray) => np.relu(nn.dense.apply(p.hidden, np.relu(nn.dense.apply(p.embed, x))));
const logits = (p: Net, x: NDArray) => nn.dense.apply(p.head, features(p, x));
const loss = (p: Net, x: NDArray, y: NDArray) => np.mean(losses.softmaxCrossEntropyWithIntegerLabels(logits(p, x), y));

function initNet(root: NDArray, stream: number): Net {
  return scope(() => {
    const key = random.foldIn(root, stream);
    return {
      embed: nn.dense.init(random.foldIn(key, 0), PIXELS, 128, { wInit: nn.initializers.heNormal }),
      hidden: nn.dense.init(random.foldIn(key, 1), 128, 64, { wInit: nn.initializers.heNormal }),
      head: nn.dense.init(random.foldIn(key, 2), 64, 5),
    };
  });
}

/** Trains `params` with `opt` on `data` (minibatches drawn with replacement); returns the new parameters (and frees the old). */
function train<S>(title: string, params: Net, opt: optim.GradientTransformation<S>, data: DigitSet, steps: number, root: NDArray, stream: number, batch: number): Net {
  type State = optim.StateOf<typeof opt, Net>; // follows Net: e.g. adam's moments are shaped like the network
  const key = scope(() => random.foldIn(root, stream));
  const X = fromHost(data.images, [data.n, PIXELS]), Y = fromHost(data.labels, [data.n]);
  const step = jit((p: Net, s: State, k: NDArray) => {
    const idx = random.randint(k, [batch], 0, data.n);
    const [value, g] = valueAndGrad(loss)(p, np.take(X, idx, 0), np.take(Y, idx, 0));
    const [u, s2] = opt.update(g, s, p);
    return { params: optim.applyUpdates(p, u), state: s2, value };
  }, { name: 'finetuneStep' });
  let state: State = opt.init(params);
  const bar = progressBar(title, steps);
  let last = 0;
  for (let i = 0; i < steps; i++) {
    const out = scope(() => step(params, state, random.foldIn(key, i)));
    dispose([params, state], { keep: out });
    ({ params, state } = out);
    if (i % 10 === 0 || i === steps - 1) last = out.value.item() as number;
    dispose(out.value);
    bar.update(i + 1, `loss ${last.toFixed(3)}`);
  }
  bar.stop(`loss ${last.toFixed(3)}`);
  step.clearCache();
  dispose([state, X, Y, key]);
  return params;
}

function accuracy(p: Net, data: DigitSet): number {
  return scope(() => {
    const pred = np.argmax(logits(p, fromHost(data.images, [data.n, PIXELS])), -1).dataSync();
    let c = 0;
    for (let i = 0; i < data.n; i++) if (pred[i] === data.labels[i]) c++;
    return c / data.n;
  });
}

export interface FinetuneOptions {
  fast?: boolean;
  quiet?: boolean;
  seed?: number;
}

export interface FinetuneResult {
  pretrainAccuracy: number;
  /** Per strategy: accuracy on the new task (digits 5–9) and on the old one with the old head (digits 0–4). */
  strategies: { name: string; newTask: number; oldTask: number }[];
  seconds: number;
}

export async function runFinetune(options: FinetuneOptions = {}): Promise<FinetuneResult> {
  const { fast = false, quiet = false, seed = 0 } = options;
  const log = quiet ? () => {} : (s: string) => console.log(s);
  const t0 = performance.now();
  const tensorsBefore = tf.memory().numTensors;
  const key = random.key(seed);
  const lr = 3e-3;
  const old = loadMnist({ classes: [0, 1, 2, 3, 4], trainPerDigit: fast ? 100 : 600, testPerDigit: fast ? 40 : 100, seed });
  const fresh = loadMnist({ classes: [5, 6, 7, 8, 9], trainPerDigit: 20, testPerDigit: fast ? 40 : 100, seed: seed + 1 });
  const pretrainSteps = fast ? 40 : 400, finetuneSteps = fast ? 20 : 300;

  if (!quiet) {
    heading('Pre-training on digits 0–4');
    say(`embed 784→128, hidden 128→64, head 64→5 (ReLU), Adam ${lr}, ${old.train.n} images, ${pretrainSteps} steps.`);
  }
  const pretrained = train('pre-training', initNet(key, 1), optim.adam(lr), old.train, pretrainSteps, key, 2, 128);
  const pretrainAccuracy = accuracy(pretrained, old.test);
  log(`  accuracy on digits 0–4: ${(100 * pretrainAccuracy).toFixed(1)} %`);

  const labels = optim.pathLabels([[/^\.embed\./, 'slow'], [/^\.hidden\./, 'frozen']], 'fast');
  if (!quiet) {
    heading('Fine-tuning on digits 5–9 (20 examples per class)');
    say(`A new head, then one of four optimizers. The per-layer one labels leaves by path and gives each
      label its own transformation:`);
    show(`optim.multiTransform({ fast: optim.adam(${lr}), slow: optim.adam(${lr / 10}), frozen: optim.setToZero() },
      optim.pathLabels([[/^\\.embed\\./, 'slow'], [/^\\.hidden\\./, 'frozen']], 'fast'))`,
    tree.flattenWithPath(labels(pretrained))[0].map(([p, l]) => `${tree.keystr(p).padEnd(10)} → ${l}`).join('\n'));
  }
  // Each strategy trains with its own (typed) optimizer state.
  const finetune = <S>(opt: optim.GradientTransformation<S>) => (title: string, start: Net) => train(title, start, opt, fresh.train, finetuneSteps, key, 4, 50);
  const strategies: [string, () => Net, (title: string, start: Net) => Net][] = [
    ['from scratch', () => initNet(key, 3), finetune(optim.adam(lr))],
    ['full fine-tune, one rate', () => withNewHead(pretrained, key), finetune(optim.adam(lr))],
    ['per-layer: embed 0.1×, hidden frozen', () => withNewHead(pretrained, key), finetune(optim.multiTransform({ fast: optim.adam(lr), slow: optim.adam(lr / 10), frozen: optim.setToZero() }, labels))],
    ['linear probe (head only)', () => withNewHead(pretrained, key), finetune(optim.multiTransform({ fast: optim.adam(lr), frozen: optim.setToZero() }, optim.pathLabels([[/^\.head\./, 'fast']], 'frozen')))],
  ];
  const results: FinetuneResult['strategies'] = [];
  for (const [name, start, run] of strategies) {
    const tuned = run(name.split(/[:,(]/)[0]!.trim().slice(0, 14), start());
    // Forgetting: the old head on the new features, tested on the old digits.
    const oldView = { ...tuned, head: pretrained.head };
    results.push({ name, newTask: accuracy(tuned, fresh.test), oldTask: accuracy(oldView, old.test) });
    dispose(tuned);
  }
  if (!quiet) {
    block(table([
      ['strategy', 'digits 5–9 (new)', 'digits 0–4 (old head)'],
      ...results.map((r) => [r.name, `${(100 * r.newTask).toFixed(1)} %`, r.name === 'from scratch' ? '—' : `${(100 * r.oldTask).toFixed(1)} %`]),
    ]));
    const [scratch, full, perLayer, probe] = results as [typeof results[0], typeof results[0], typeof results[0], typeof results[0]];
    const pct = (x: number) => `${(100 * x).toFixed(1)} %`;
    say(`Fine-tuning everything at one rate moves the shared layers and costs the old task
      ${(100 * (pretrainAccuracy - full.oldTask)).toFixed(1)} points (${pct(pretrainAccuracy)} → ${pct(full.oldTask)}); the per-layer rates keep ${pct(perLayer.oldTask)}
      while reaching ${pct(perLayer.newTask)} on the new digits (from scratch ${pct(scratch.newTask)}, linear probe ${pct(probe.newTask)}).`);
  }
  dispose([pretrained, key]);
  const seconds = (performance.now() - t0) / 1000;
  const perLayer = results[2]!;
  log(`finetune_layer_lr: per-layer rates reach ${(100 * perLayer.newTask).toFixed(1)} % on the new digits (from scratch ${(100 * results[0]!.newTask).toFixed(1)} %), keeping ${(100 * perLayer.oldTask).toFixed(1)} % on the old ones; ${seconds.toFixed(1)} s`);
  const leaked = tf.memory().numTensors - tensorsBefore;
  if (leaked !== 0) log(`warning: ${leaked} tensors left alive`);
  return { pretrainAccuracy, strategies: results, seconds };
}

/**
 * A copy of the pre-trained body with a freshly initialised head. A copy, because training loops
 * free the parameters they replace (and the pre-trained ones are reused by every strategy).
 */
function withNewHead(p: Net, key: NDArray): Net {
  return scope(() => ({
    embed: tree.map((x: NDArray) => np.multiply(x, 1), p.embed),
    hidden: tree.map((x: NDArray) => np.multiply(x, 1), p.hidden),
    head: nn.dense.init(random.foldIn(key, 9), 64, 5),
  }));
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await runFinetune({ fast: process.argv.includes('--fast') });
}

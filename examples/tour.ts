// The gradus tour (`npm start`): a guided run through the library in about 1.5 minutes on 2 cores.
// Trees, random keys and ops; grad / vmap / jvp / jacfwd / hessian and the programs they trace;
// stopGradient and checkpoint (with the memory it saves); an optimizer chain with per-layer learning
// rates and a frozen layer, and Adafactor's state against Adam's; then short trainings of the
// single-loss GAN, the normalising flows and the energy model, each with a progress bar, writing
// PNG pictures to out/. Ends with a summary table.
//
//   npm start                      # the full tour (< 3 minutes on 2 cores)
//   TOUR_FAST=1 npm start          # a much shorter run (tiny trainings; used by the tests)
//   npx tsx examples/tour.ts --fast --out /tmp/pictures
import * as tf from '@tensorflow/tfjs-core';
import { pathToFileURL } from 'node:url';
import * as models from '../models/index.js';
import * as optim from '../optim/index.js';
import {
  checkpoint, checkpointSequential, dispose, getBackend, grad, hessian, jacfwd, jit, jvp, makeJaxpr, np, random, scope,
  sqrtSegmentLength, stopGradient, straightThrough, tree, valueAndGrad, vmap, type NDArray,
} from '../src/index.js';
import { progressBar } from './progress.js';
import { block, bold, fmt, heading, num, say, show, since, table } from './report.js';
import { runTrainings, type TrainingRow } from './tour_trainings.js';

export interface TourOptions {
  /** Much shorter trainings and smaller demos (the tests' mode). */
  fast?: boolean;
  /** Where pictures go (default out/). */
  outDir?: string;
}

export interface TourResult {
  seconds: number;
  pictures: string[];
  rows: TrainingRow[];
}

type Dense = { w: NDArray; b: NDArray };

/** Part 1: trees, keys and ops — the data gradus works on. */
function treesKeysOps(): void {
  heading('1. Parameter trees');
  say(`Models are plain trees of arrays: nested objects and lists. Every transformation and optimizer
    walks them the same way — objects in sorted key order, as in JAX — so gradients come back with the
    parameters' structure.`);
  const key = random.key(0);
  const params = scope(() => ({
    embedding: random.normal(random.foldIn(key, 0), [100, 16]).mul(0.1),
    encoder: models.nn.mlp.init(random.foldIn(key, 1), [16, 32, 32]),
    head: models.nn.dense.init(random.foldIn(key, 2), 32, 4),
  }));
  const [leaves, def] = tree.flatten(params);
  show('tree.flatten(params)', `${leaves.length} leaves, structure ${def.toString().slice(0, 96)}${def.toString().length > 96 ? '…' : ''}`);
  const [withPaths] = tree.flattenWithPath(params);
  show('tree.flattenWithPath(params).map(([p]) => tree.keystr(p))', withPaths.map(([p]) => tree.keystr(p)).join('  '));
  show('tree.summary(params)', tree.summary(params));
  const halved = tree.map((x: NDArray) => x.mul(0.5), params);
  show('tree.map((x) => x.mul(0.5), params).head.b.shape', `[${halved.head.b.shape.join(', ')}]`);
  dispose([params, halved, key]);

  heading('2. Random keys');
  say(`Randomness is explicit: a key is a value, split it to get independent streams. The same key gives
    the same numbers on every run and on every backend; keys are ordinary arrays, so vmap can map over them.`);
  scope(() => {
    const k = random.key(42);
    const ks = random.split(k, 2);
    show('random.normal(random.key(42), [4])', fmt(random.normal(k, [4])));
    show('random.normal(random.key(42), [4])  // again: the same numbers', fmt(random.normal(k, [4])));
    show('random.normal(random.split(key)[1], [4])', fmt(random.normal(ks.at(1), [4])));
    show('random.permutation(random.foldIn(key, 7), 8)', fmt(random.permutation(random.foldIn(k, 7), 8), 0));
  });

  heading('3. Arrays and ops');
  say(`np.* follows NumPy: broadcasting, reductions with axis/keepdims, matmul, einsum, nn functions.
    Inputs may be numbers, nested lists, TF.js tensors or gradus arrays.`);
  scope(() => {
    const a = np.array([[1], [2], [3]]);
    const b = np.arange(4);
    show('np.add([[1],[2],[3]], np.arange(4))  // [3,1] + [4] → [3,4]', fmt(np.add(a, b), 0));
    show("np.einsum('ij,j->i', x, b)", fmt(np.einsum('ij,j->i', np.add(a, b), b), 0));
    show('np.sum(x, 1, true)', fmt(np.sum(np.add(a, b), 1, true), 0));
    show('np.softmax([1, 2, 3])', fmt(np.softmax(np.array([1, 2, 3]))));
  });
}

/** Part 2: the transformations, what they compute and the programs they trace. */
function transformations(): number {
  heading('4. grad, vmap, jvp, jacfwd, hessian');
  say(`f(x) = Σ sin(x)·exp(x). grad(f) is its gradient (cos x + sin x)·eˣ; grad of grad works at any
    depth — TF.js's own nested tf.grad gets this second derivative silently wrong; gradus's matches
    the closed form 2·cos(x)·eˣ.`);
  const f = (x: NDArray) => np.sum(np.sin(x).mul(np.exp(x)));
  let maxError = 0;
  const err = (a: NDArray, b: NDArray) => (maxError = Math.max(maxError, np.max(np.abs(a.sub(b))).item() as number));
  scope(() => {
    const x = np.array([0, 0.5, 1]);
    const g = grad(f)(x);
    const closed = np.cos(x).add(np.sin(x)).mul(np.exp(x));
    show('grad(f)(x)', `${fmt(g, 4)}   closed form ${fmt(closed, 4)}`);
    const g2 = grad((y: NDArray) => np.sum(grad(f)(y)))(x);
    const closed2 = np.cos(x).mul(np.exp(x)).mul(2);
    show('grad((y) => np.sum(grad(f)(y)))(x)', `${fmt(g2, 4)}   closed form ${fmt(closed2, 4)}`);
    const h = hessian(f)(x);
    show('hessian(f)(x)  // diagonal for an elementwise f', fmt(h, 3));
    err(g, closed);
    err(g2, closed2);
    err(h, np.diag(closed2));
    const [y, t] = jvp(f, [x], [np.ones([3])]);
    show('jvp(f, [x], [ones])  // value and directional derivative, forward mode', `[${num(y.item() as number, 4)}, ${num(t.item() as number, 4)}]`);
    const polar = (p: NDArray) => np.stack([p.at(0).mul(np.cos(p.at(1))), p.at(0).mul(np.sin(p.at(1)))]);
    show('jacfwd(polar)([2, π/4])  // [[cos θ, −r sin θ], [sin θ, r cos θ]]', fmt(jacfwd(polar)(np.array([2, Math.PI / 4]))));
  });
  say(`vmap maps a function over a batch axis without a loop. vmap(grad(loss)) gives per-example
    gradients: here a linear model's gradient for each of 4 examples, in one batched program.`);
  scope(() => {
    const loss = (w: NDArray, x: NDArray, y: NDArray) => np.square(np.dot(x, w).sub(y));
    const w = np.array([1, -1], 'float32');
    const xs = np.array([[1, 0], [0, 1], [1, 1], [2, 1]], 'float32');
    const ys = np.array([0, 0, 1, 1], 'float32');
    const per = vmap(grad(loss), { inAxes: [null, 0, 0] })(w, xs, ys);
    show('vmap(grad(loss), { inAxes: [null, 0, 0] })(w, xs, ys)  // [4, 2]', fmt(per));
    const loop = np.stack([0, 1, 2, 3].map((i) => grad(loss)(w, xs.at(i), ys.at(i))));
    show('the same, one example at a time', fmt(loop));
    err(per, loop);
  });

  heading('5. makeJaxpr: the programs transformations build');
  say(`Every transformation traces your function into a small program (a "jaxpr"); jit compiles it,
    makeJaxpr prints it. Here is the gradient of tanh(x·w) summed — a forward pass and its transpose.`);
  scope(() => {
    const loss = (w: NDArray, x: NDArray) => np.sum(np.tanh(np.matmul(x, w)));
    show('makeJaxpr(grad(loss))(w, x).toString()', makeJaxpr(grad(loss))(np.ones([3, 2]), np.ones([4, 3])).toString());
  });

  heading('6. stopGradient');
  say(`stopGradient(x) is x going forward and a constant going backward. The derivative of
    x·stopGradient(x) is x, not 2x; straightThrough(x, round) rounds forward and passes gradients
    through unchanged (the VQ-VAE trick); the single-loss GAN below uses it to train two nets with one loss.`);
  scope(() => {
    const x = np.array([1, 2, 3], 'float32');
    show('grad((x) => np.sum(x.mul(stopGradient(x))))([1, 2, 3])', fmt(grad((y: NDArray) => np.sum(y.mul(stopGradient(y))))(x), 1));
    show('grad((x) => np.sum(x.mul(x)))([1, 2, 3])', fmt(grad((y: NDArray) => np.sum(y.mul(y)))(x), 1));
    const q = np.array([0.2, 1.7, 2.5]);
    show('grad((x) => np.sum(straightThrough(x, np.round)))([0.2, 1.7, 2.5])', fmt(grad((y: NDArray) => np.sum(straightThrough(y, np.round)))(q), 1));
  });
  return maxError;
}

/** Part 3: checkpoint (recompute) on a deep MLP: peak memory and time of the gradient. */
async function recompute(fast: boolean): Promise<string> {
  heading('7. checkpoint: trade compute for memory');
  const layers = fast ? 8 : 24, width = 256, batch = 256;
  say(`A plain backward pass keeps every layer's activation until it is used. checkpoint(f) keeps only
    f's inputs and recomputes the inside during the backward pass. On a tanh MLP of ${layers} layers (width
    ${width}, batch ${batch}) we measure the gradient's peak memory above the weights (tf.profile) and its time.`);
  const key = random.key(3);
  const ps: Dense[] = scope(() => Array.from({ length: layers }, (_, i) => ({ w: random.normal(random.foldIn(key, i), [width, width]).mul(1 / Math.sqrt(width)), b: np.zeros([width]) })));
  const x = scope(() => random.normal(random.foldIn(key, 999), [batch, width]));
  const layer = (p: Dense, h: NDArray) => np.tanh(np.matmul(h, p.w).add(p.b));
  const seg = sqrtSegmentLength(layers);
  const variants: [string, (ps: Dense[], x: NDArray) => NDArray][] = [
    ['plain', (ps, x) => np.mean(ps.reduce((h, p) => layer(p, h), x))],
    ['checkpoint per layer', (ps, x) => np.mean(ps.reduce((h, p) => checkpoint(layer)(p, h), x))],
    [`√n segments (${seg} layers each)`, (ps, x) => np.mean(checkpointSequential(ps.map((p) => (h: NDArray) => layer(p, h)))(x))],
  ];
  const gradBytes = layers * (width * width + width) * 4;
  const rows: string[][] = [['gradient of', 'peak memory', 'activations part', 'time']];
  let plainPeak = 0, bestRatio = 1;
  for (const [name, fn] of variants) {
    const g = grad(fn);
    dispose(g(ps, x)); // warm-up
    const base = tf.memory().numBytes;
    const prof = await tf.profile(() => {
      dispose(g(ps, x));
      return tf.scalar(0);
    });
    tf.dispose(prof.result as tf.Tensor);
    const peak = prof.peakBytes - base;
    const t0 = performance.now();
    const reps = fast ? 1 : 3;
    for (let r = 0; r < reps; r++) dispose(g(ps, x));
    const ms = (performance.now() - t0) / reps;
    if (name === 'plain') plainPeak = peak;
    else bestRatio = Math.min(bestRatio, (peak - gradBytes) / (plainPeak - gradBytes));
    rows.push([name, `${(peak / 1e6).toFixed(1)} MB`, `${((peak - gradBytes) / 1e6).toFixed(1)} MB`, `${ms.toFixed(0)} ms`]);
  }
  dispose([ps, x, key]);
  block(table(rows));
  say(`"activations part" is the peak minus the returned gradient (${(gradBytes / 1e6).toFixed(1)} MB, which no
    checkpointing can save). The saving grows with depth; the price is one extra forward pass.`);
  return `activation memory ×${num(bestRatio, 2)} of plain`;
}

/** Part 4: an optimizer chain with per-layer learning rates and a frozen layer; Adafactor's state. */
function optimizers(fast: boolean): string[] {
  heading('8. Optimizers: a chain with per-layer learning rates');
  say(`Optimizers are chains of small gradient transformations (Optax's design). multiTransform gives
    each group of leaves its own optimizer; pathLabels names the groups by path pattern. Here: the
    embedding learns at 0.1× the rate, the first encoder layer is frozen (setToZero), the rest uses
    Adam, after clipping the global gradient norm to 1.`);
  const key = random.key(5);
  const vocab = 64, dim = 16, classes = 4, seqLen = 6, batch = 64;
  let params = scope(() => ({
    embedding: random.normal(random.foldIn(key, 0), [vocab, dim]).mul(0.5),
    encoder: models.nn.mlp.init(random.foldIn(key, 1), [dim, 32, 32]),
    head: models.nn.dense.init(random.foldIn(key, 2), 32, classes),
  }));
  type Params = typeof params;
  const labels = optim.pathLabels([[/^\.embedding/, 'embedding'], [/^\.encoder\[0\]/, 'frozen']], 'default');
  const opt = optim.chain(
    optim.clipByGlobalNorm(1),
    optim.multiTransform({ default: optim.adam(1e-2), embedding: optim.adam(1e-3), frozen: optim.setToZero() }, labels),
  );
  show("pathLabels([[/^\\.embedding/, 'embedding'], [/^\\.encoder\\[0\\]/, 'frozen']])(params)",
    tree.flattenWithPath(labels(params))[0].map(([p, l]) => `${tree.keystr(p)} → ${l}`).join('\n'));
  // A toy task: the class of a bag of tokens is the most frequent value of (token id mod 4).
  const data = (k: NDArray) => {
    const tokens = random.randint(k, [batch, seqLen], 0, vocab);
    const counts = np.sum(np.oneHot(np.remainder(tokens, classes), classes), 1);
    return { tokens, y: np.argmax(counts.sub(np.arange(classes).mul(0.01)), -1) };
  };
  const loss = (p: Params, tokens: NDArray, y: NDArray) => {
    const h = np.mean(np.take(p.embedding, tokens, 0), 1);
    const logits = models.nn.dense.apply(p.head, np.relu(models.nn.mlp.apply(p.encoder, h)));
    return np.mean(models.losses.softmaxCrossEntropyWithIntegerLabels(logits, y));
  };
  const step = jit((p: Params, s: unknown, k: NDArray) => {
    const { tokens, y } = data(k);
    const [value, g] = valueAndGrad(loss)(p, tokens, y);
    const [updates, s2] = opt.update(g, s as never, p);
    return { params: optim.applyUpdates(p, updates), state: s2 as unknown, value };
  });
  const before = scope(() => tree.map((x: NDArray) => x.mul(1), params));
  let state: unknown = opt.init(params);
  const steps = fast ? 20 : 300;
  const bar = progressBar('optimizer', steps);
  let first = 0, last = 0;
  for (let i = 0; i < steps; i++) {
    const out = scope(() => step(params, state, random.foldIn(key, 100 + i)));
    dispose([params, state], { keep: out });
    ({ params, state } = out);
    last = out.value.item() as number;
    if (i === 0) first = last;
    dispose(out.value);
    bar.update(i + 1, `loss ${num(last)}`);
  }
  bar.stop(`loss ${num(last)}`);
  step.clearCache();
  const moved = (a: NDArray, b: NDArray) => scope(() => (np.max(np.abs(a.sub(b))).item() as number));
  block(table([
    ['group', 'max |Δ param|'],
    ['embedding (0.1× lr)', num(moved(params.embedding, before.embedding), 4)],
    ['encoder[0] (frozen)', num(Math.max(moved(params.encoder[0]!.w, before.encoder[0]!.w), moved(params.encoder[0]!.b, before.encoder[0]!.b)), 4)],
    ['encoder[1] (Adam 1e-2)', num(moved(params.encoder[1]!.w, before.encoder[1]!.w), 4)],
    ['head (Adam 1e-2)', num(moved(params.head.w, before.head.w), 4)],
  ]));
  say(`Loss ${num(first)} → ${num(last)} in ${steps} steps (chance is ln 4 = 1.386); the frozen layer did not move.`);
  dispose([params, state, before, key]);

  heading('9. Adafactor: optimizer state in O(m + n)');
  say(`Adam keeps two floats per parameter. Adafactor factors the second moment of an m×n matrix into
    a row and a column vector (Shazeer & Stern 2018), so a 1024×1024 weight needs ~2k floats instead of 2M.`);
  const rows: string[][] = [['optimizer', 'state floats', 'per parameter']];
  const big = { w: np.zeros([1024, 1024]), b: np.zeros([1024]) };
  const n = optim.treeSize(big);
  const sizes: Record<string, number> = {};
  for (const [name, o] of [['adam(1e-3)', optim.adam(1e-3)], ['adafactor(1e-3)', optim.adafactor(1e-3)], ['sgd(1e-2, { momentum: 0.9 })', optim.sgd(1e-2, { momentum: 0.9 })]] as const) {
    const s = o.init(big);
    sizes[name] = optim.treeSize(s);
    rows.push([name, sizes[name]!.toLocaleString('en-US'), num(sizes[name]! / n, 4)]);
    dispose(s);
  }
  dispose(big);
  block(table(rows));
  say(`(Parameters: ${n.toLocaleString('en-US')}; the bias vector is not factored. examples/adafactor_vs_adam.ts also compares convergence.)`);
  return [`loss ${num(first)} → ${num(last)}, frozen layer unchanged`, `${sizes['adafactor(1e-3)']!.toLocaleString('en-US')} vs ${sizes['adam(1e-3)']!.toLocaleString('en-US')} floats`];
}

/** Runs the whole tour. */
export async function runTour(options: TourOptions = {}): Promise<TourResult> {
  const fast = options.fast ?? false;
  const outDir = options.outDir ?? 'out';
  const t0 = performance.now();
  console.log(bold(`gradus tour${fast ? ' (fast mode)' : ''} — backend ${getBackend()}, ${tf.memory().numTensors} tensors alive at start`));
  say(`JAX-style function transformations for TypeScript on TensorFlow.js kernels. Each section shows
    the code and what it printed. (TOUR_FAST=1 for a shorter run.)`);
  const rows: TrainingRow[] = [];
  let t = performance.now();
  treesKeysOps();
  const maxError = transformations();
  rows.push({ part: 'trees, keys, ops, transformations', result: `max error vs closed forms ${num(maxError)}`, seconds: (performance.now() - t) / 1000 });
  t = performance.now();
  const memory = await recompute(fast);
  rows.push({ part: 'checkpoint (recompute)', result: memory, seconds: (performance.now() - t) / 1000 });
  t = performance.now();
  const [chainResult, adafactorResult] = optimizers(fast);
  rows.push({ part: 'per-layer learning rates', result: chainResult!, seconds: (performance.now() - t) / 1000 });
  rows.push({ part: 'Adafactor vs Adam state (1024×1024)', result: adafactorResult!, seconds: 0 });

  const trained = await runTrainings({ fast, outDir });
  rows.push(...trained);

  heading('Summary');
  block(table([['part', 'result', 'time'], ...rows.map((r) => [r.part, r.result, r.seconds > 0 ? `${r.seconds.toFixed(1)} s` : '—'])]));
  const pictures = trained.flatMap((r) => r.pictures ?? []);
  if (pictures.length) {
    console.log(`\n  ${bold('Pictures')}:`);
    for (const p of pictures) console.log(`    ${p}`);
  }
  const leaked = tf.memory().numTensors;
  console.log(`\n  tour finished in ${since(t0)}; ${leaked} tensors alive at the end. Next: examples/*.ts (README), npm run repl, npm run docs.`);
  return { seconds: (performance.now() - t0) / 1000, pictures, rows };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const argv = process.argv.slice(2);
  const outAt = argv.indexOf('--out');
  await runTour({
    fast: process.env.TOUR_FAST === '1' || argv.includes('--fast'),
    outDir: outAt >= 0 ? argv[outAt + 1] : process.env.TOUR_OUT,
  });
}

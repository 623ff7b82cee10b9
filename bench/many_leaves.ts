// Scaling with the number of parameter leaves: grad (eager and jit) and one adam update over a tree
// of L tiny leaves, and over a 24-layer transformer-like tree (~300 leaves). Reports ms per call and
// µs per leaf (medians of interleaved runs); flat µs/leaf means linear scaling.
// Usage: npx tsx bench/many_leaves.ts [--backend cpu|wasm] [--sizes 10,100,1000,3000]
import * as tf from '@tensorflow/tfjs-core';
import { np, grad, jit, scope, setBackend, getBackend, type NDArray } from '../src/index.js';
import * as optim from '../optim/index.js';
import { median } from './harness.js';

type Params = Record<string, NDArray>;

/** Times `fn` (returns ms), freeing its result outside the timed region. */
function time(fn: () => unknown): number {
  const t0 = performance.now();
  const r = fn();
  const ms = performance.now() - t0;
  tf.dispose(collect(r));
  return ms;
}

/** Every tf.Tensor inside a gradus result tree. */
function collect(x: unknown, out: tf.Tensor[] = []): tf.Tensor[] {
  if (x === null || typeof x !== 'object') return out;
  if ('tensor' in x && (x as { tensor: unknown }).tensor instanceof tf.Tensor) out.push((x as { tensor: tf.Tensor }).tensor);
  else if (Array.isArray(x)) for (const v of x) collect(v, out);
  else for (const v of Object.values(x)) collect(v, out);
  return out;
}

/** L leaves named p00000..., each a [4] vector. */
function tinyTree(L: number): Params {
  const p: Params = {};
  for (let i = 0; i < L; i++) p[`p${String(i).padStart(5, '0')}`] = np.array([0.1 * i, 1, -1, 0.5]);
  return p;
}

const sumSquares = (p: Params): NDArray => {
  let s: NDArray | undefined;
  for (const k in p) {
    const v = np.sum(np.multiply(p[k]!, p[k]!));
    s = s === undefined ? v : np.add(s, v);
  }
  return s!;
};

/** A 24-layer transformer-like parameter tree: 12 leaves a layer (plus embeddings), width 16. */
function transformerTree(layers = 24, d = 16): Record<string, unknown> {
  const r = (shape: number[], s: number) => np.multiply(np.array(Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => Math.sin(i + s))).reshape(shape), 0.1);
  const blocks = [];
  for (let l = 0; l < layers; l++) {
    blocks.push({
      attn: { wq: r([d, d], l), wk: r([d, d], l + 1), wv: r([d, d], l + 2), wo: r([d, d], l + 3), bq: r([d], l), bo: r([d], l + 4) },
      ln1: { g: np.ones([d]), b: np.zeros([d]) },
      mlp: { w1: r([d, 2 * d], l + 5), b1: r([2 * d], l), w2: r([2 * d, d], l + 6), b2: r([d], l) },
      ln2: { g: np.ones([d]), b: np.zeros([d]) },
    });
  }
  return { embed: r([32, d], 7), blocks, head: r([d, 8], 9) };
}

function layerNorm(x: NDArray, g: NDArray, b: NDArray): NDArray {
  const mu = np.mean(x, -1, true);
  const xc = np.subtract(x, mu);
  const v = np.mean(np.multiply(xc, xc), -1, true);
  return np.add(np.multiply(np.divide(xc, np.sqrt(np.add(v, 1e-5))), g), b);
}

/** Loss of the transformer-like model on a fixed [8, 16] input (attention over 8 positions). */
function transformerLoss(p: any): NDArray {
  let x: NDArray = np.sin(np.reshape(np.arange(8 * 16), [8, 16]));
  for (const blk of p.blocks) {
    const a = blk.attn;
    const h = layerNorm(x, blk.ln1.g, blk.ln1.b);
    const q = np.add(np.matmul(h, a.wq), a.bq);
    const k = np.matmul(h, a.wk);
    const v = np.matmul(h, a.wv);
    const att = np.softmax(np.multiply(np.matmul(q, np.transpose(k)), 0.25), -1);
    x = np.add(x, np.add(np.matmul(np.matmul(att, v), a.wo), a.bo));
    const h2 = layerNorm(x, blk.ln2.g, blk.ln2.b);
    const m = np.add(np.matmul(np.tanh(np.add(np.matmul(h2, blk.mlp.w1), blk.mlp.b1)), blk.mlp.w2), blk.mlp.b2);
    x = np.add(x, m);
  }
  return np.mean(np.square(np.matmul(x, p.head)));
}

interface Row { model: string; leaves: number; what: string; ms: number; usPerLeaf: number }

/**
 * Interleaves the contenders `rounds` times after `warmup` untimed runs of each (small trees need
 * many: a few calls leave V8's code unoptimized and the time per leaf looks 2-5x worse) and returns
 * the median ms of each.
 */
function measure(cases: [string, () => unknown][], rounds: number, warmup: number): number[] {
  for (let w = 0; w < warmup; w++) for (const [, f] of cases) time(f);
  const samples: number[][] = cases.map(() => []);
  for (let r = 0; r < rounds; r++) cases.forEach(([, f], i) => samples[i]!.push(time(f)));
  return samples.map(median);
}

function benchModel(model: string, params: Record<string, unknown>, loss: (p: any) => NDArray, rounds: number): Row[] {
  const L = collect(params).length;
  const g = grad(loss);
  const jg = jit(g);
  const opt = optim.adam(1e-3);
  const state = opt.init(params);
  const grads = g(params);
  const ms = measure(
    [
      ['grad eager', () => g(params)],
      ['jit(grad)', () => jg(params)],
      ['adam update', () => opt.update(grads, state, params)],
    ],
    rounds,
    Math.max(1, Math.ceil(2000 / L)),
  );
  tf.dispose([...collect(grads), ...collect(state)]);
  jg.clearCache();
  return ['grad eager', 'jit(grad)', 'adam update'].map((what, i) => ({ model, leaves: L, what, ms: ms[i]!, usPerLeaf: (ms[i]! * 1000) / L }));
}

const args = process.argv.slice(2);
const flag = (name: string): string | undefined => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : undefined; };
const backend = flag('--backend');
if (backend !== undefined) await setBackend(backend as 'cpu' | 'wasm');
const sizes = (flag('--sizes') ?? '10,100,1000,3000').split(',').map(Number);
const rows: Row[] = [];
for (const L of sizes) {
  const p = tinyTree(L);
  rows.push(...benchModel('sum of squares', p, sumSquares, L >= 1000 ? 5 : 15));
  tf.dispose(collect(p));
}
if (!args.includes('--no-transformer')) {
  const p = scope(() => transformerTree()); // (frees the arrays the initializer made on the way)
  rows.push(...benchModel('transformer 24 layers', p, transformerLoss, 7));
  tf.dispose(collect(p));
}
console.log(`backend ${getBackend()}; medians; µs/leaf flat across L means linear scaling`);
console.log(['model'.padEnd(22), 'leaves'.padStart(6), 'what'.padEnd(12), 'ms'.padStart(10), 'µs/leaf'.padStart(9)].join('  '));
for (const r of rows) console.log([r.model.padEnd(22), String(r.leaves).padStart(6), r.what.padEnd(12), r.ms.toFixed(2).padStart(10), r.usPerLeaf.toFixed(1).padStart(9)].join('  '));
console.log(`tensors alive at exit: ${tf.memory().numTensors}`);

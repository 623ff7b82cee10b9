// TF.js-facing wrappers around the threefry kernels: keys travel as int32 tensors [..., 2] holding
// the raw uint32 words (as JAX's raw keys do); every leading dimension is a batch of keys.
import * as tf from '@tensorflow/tfjs-core';
import type { ParamsOf } from '../primitives.js';
import * as threefry from './threefry.js';
import { wasmThreefry } from '../wasm_kernels.js';

function keyWords(key: tf.Tensor): Uint32Array {
  const data = key.dataSync() as Int32Array;
  return new Uint32Array(data.buffer, data.byteOffset, data.length);
}

function asInt32(words: Uint32Array): Int32Array {
  return new Int32Array(words.buffer, words.byteOffset, words.length);
}

export function randomKernel(key: tf.Tensor, { shape, distribution }: ParamsOf<'random_bits'>): tf.Tensor {
  const batchShape = key.shape.slice(0, -1);
  const count = shape.reduce((a, b) => a * b, 1);
  const outShape = [...batchShape, ...shape];
  if (distribution === 'bits' || distribution === 'uniform') {
    // On wasm, gradus's SIMD threefry reads the keys in place: no read-back, ~10× the JS speed.
    const drawn = wasmThreefry(key, count, distribution === 'uniform', outShape);
    if (drawn !== null) return drawn;
  }
  if (distribution === 'normal') {
    // The bits come from the SIMD kernel (half the time of a normal draw in JS); erfinv stays in
    // float64 JS, so the values are the JS reference's bit for bit.
    const bits = wasmThreefry(key, count, false, outShape);
    if (bits !== null) {
      const words = bits.dataSync() as Int32Array;
      bits.dispose();
      return tf.tensor(threefry.bitsToNormal(new Uint32Array(words.buffer, words.byteOffset, words.length)), outShape, 'float32');
    }
  }
  const keys = keyWords(key);
  switch (distribution) {
    case 'bits':
      return tf.tensor(asInt32(threefry.randomBits(keys, count)), outShape, 'int32');
    case 'uniform':
      return tf.tensor(threefry.uniform(keys, count), outShape, 'float32');
    case 'normal':
      return tf.tensor(threefry.normal(keys, count), outShape, 'float32');
    case 'permutation':
      return tf.tensor(threefry.permutation(keys, count), outShape, 'int32');
  }
}

export function splitKernel(key: tf.Tensor, num: number): tf.Tensor {
  return tf.tensor(asInt32(threefry.split(keyWords(key), num)), [...key.shape.slice(0, -1), num, 2], 'int32');
}

export function foldInKernel(key: tf.Tensor, data: tf.Tensor): tf.Tensor {
  const keys = keyWords(key);
  const values = data.dataSync() as Int32Array;
  const out = new Uint32Array(keys.length);
  for (let i = 0; i < values.length; i++) {
    out.set(threefry.foldIn(keys.subarray(2 * i, 2 * i + 2), values[i]! >>> 0), 2 * i);
  }
  return tf.tensor(asInt32(out), key.shape, 'int32');
}

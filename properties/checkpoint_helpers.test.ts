// The byte counts the checkpoint and partial-evaluation tests compare come from heldBytes, which
// runs vjp and frees the result. It freed [out, pullback] with dispose(tree), which passes over
// functions: every call left the pullback's residuals alive (cos(v) here, 24 bytes and one tensor)
// until the test file ended. Checked by the tensor and byte counts around a call.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { checkpoint, jit, np, scan, type NDArray } from '../src/index.js';
import { heldBytes } from './checkpoint_helpers.js';

const x = np.array([[1, -0.5, 0.25], [0.5, 2, -1]], 'float32');
const FS: [string, (v: NDArray) => NDArray][] = [
  ['sin', (v) => np.sum(np.sin(v))],
  ['jit', jit((v: NDArray) => np.sum(np.sin(np.multiply(v, v))))],
  ['checkpoint in a scan', (v) => np.sum(scan((c: NDArray, y: NDArray) => { const n = checkpoint((a: NDArray) => np.sin(a))(np.multiply(c, y)); return [n, n]; }, v, np.stack([x, x]))[0])],
];

describe('heldBytes', () => {
  it('frees what it measured: the tensors and bytes alive are those before the call', () => {
    for (const [name, f] of FS) {
      heldBytes(f, x); // (a jit's first call caches its program's constants)
      const before = tf.memory();
      const held = heldBytes(f, x);
      expect(held, name).toBeGreaterThan(0);
      expect(tf.memory().numTensors - before.numTensors, name).toBe(0);
      expect(tf.memory().numBytes - before.numBytes, name).toBe(0);
    }
  });
});

// An output of jit(g) (or checkpoint(g)) whose tangent is zero keeps a symbolic zero under JVP, as
// JAX's pjit does: before, the JVP rule wrote out zeros, which a linearization saved as residuals
// (one f32[64, 3] zero per such output here) and the backward pass carried. Checked by the bytes and
// tensors a pullback holds against the same function with g inlined, and by gradients (orders 1
// and 2, under vmap and jit) against it.
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { NDArray, checkpoint, dispose, grad, jit, jvp, np, vjp, vmap } from '../src/index.js';
import { checkGrads } from '../src/testing/index.js';
import { inScope } from './helpers.js';
import { expectNoLeak, expectTreeClose } from './loop_oracle.js';

const W = np.array([[0.5, -0.2, 0.1], [0.3, 0.4, -0.6], [0.2, 0.1, 0.3]], 'float32');
const x = np.add(np.ones([64, 3]), np.reshape(np.arange(192), [64, 3]).astype('float32').mul(0.01));
// Three outputs: one differentiable, one from a constant and a non-differentiated input (zero
// tangent), one integer.
// (broadcastTo, not ones·s: a constant made inside a jit is held by its program.)
const g = (v: NDArray, w: NDArray) => [np.sin(np.matmul(v, w)), np.broadcastTo(np.sum(w), [64, 3]), np.argmax(v, -1)];
const use = (h: (v: NDArray, w: NDArray) => NDArray[]) => (v: NDArray) => {
  const [a, b, i] = h(v, W);
  return np.sum(np.multiply(np.multiply(a!, b!), np.reshape(np.add(i!.astype('float32'), 1), [-1, 1])));
};
const held = (f: (v: NDArray) => NDArray): [number, number] => {
  const before = tf.memory();
  const [out, pullback] = vjp(f, x);
  const after = tf.memory();
  // (dispose(tree) passes over the pullback, a function: it frees its residuals itself.)
  pullback.dispose();
  dispose(out);
  return [after.numBytes - before.numBytes, after.numTensors - before.numTensors];
};

describe('zero tangents of jit and checkpoint outputs stay symbolic', () => {
  it('the pullback holds no more with the zero-tangent output computed inside the jit than outside it (it held a written-out zero)', () => {
    const outside = (h: (v: NDArray, w: NDArray) => NDArray[]) => (v: NDArray, w: NDArray) => {
      const [a, i] = h(v, w);
      return [a!, np.broadcastTo(np.sum(w), [64, 3]), i!];
    };
    const g2 = (v: NDArray, w: NDArray) => [np.sin(np.matmul(v, w)), np.argmax(v, -1)];
    const want = held(use(outside(jit(g2))));
    expect(held(use(jit(g)))).toEqual(want);
    // A jit in a jit: the inner one's zero is not written out either.
    expect(held(use(jit((v: NDArray, w: NDArray) => jit(g)(v, w))))).toEqual(held(use(jit((v: NDArray, w: NDArray) => outside(jit(g2))(v, w)))));
  });

  it('jvp returns a zero tangent for such an output, and values and gradients equal the inlined function (orders 1 and 2, vmap, jit); no leaks', () => {
    inScope(() => {
      const [, t] = jvp((v: NDArray) => jit(g)(v, W)[1]!, [x], [np.onesLike(x)]);
      expectTreeClose(t, np.zeros([64, 3]), { label: 'tangent' });
      // (Entries of a row far apart, so finite differences do not move the argmax.)
      const small = np.array([[0.1, 0.9, -0.5], [1.2, -0.3, 0.4], [-0.8, 0.2, 1.1], [0.6, 1.5, -1]], 'float32');
      const g4 = (v: NDArray, w: NDArray) => [np.sin(np.matmul(v, w)), np.broadcastTo(np.sum(w), [4, 3]), np.argmax(v, -1)];
      const plain = use4(g4);
      for (const f of [use4(jit(g4)), use4(checkpoint(g4)), use4(jit((v: NDArray, w: NDArray) => checkpoint(g4)(v, w)))]) {
        expectTreeClose(grad(f)(small), grad(plain)(small), { rtol: 1e-5, atol: 1e-6 });
        expectTreeClose(jit(grad(f))(small), grad(plain)(small), { rtol: 1e-5, atol: 1e-6 });
        const xs = np.stack([small, np.negative(small)]);
        expectTreeClose(vmap(grad(f))(xs), vmap(grad(plain))(xs), { rtol: 1e-5, atol: 1e-6 });
        checkGrads(f, [small], { order: 2 });
        expectNoLeak('grad', () => grad(f)(small));
      }
    });
  });
});

function use4(h: (v: NDArray, w: NDArray) => NDArray[]) {
  return (v: NDArray) => {
    const [a, b, i] = h(v, W);
    return np.sum(np.multiply(np.multiply(np.square(a!), b!), np.reshape(np.add(i!.astype('float32'), 1), [-1, 1])));
  };
}

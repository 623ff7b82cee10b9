// Shared by the optimizer suites: elementwise closeness with a named failure, and the check that
// an optimizer's top-level update leaves no tensors behind but the ones it returns.
import { expect } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { ConcreteArray, np, tree } from '../src/index.js';
import * as optim from '../optim/index.js';

/** |actual − expected| ≤ atol + rtol·|expected| elementwise, naming `what` and the first element that is not. */
export function expectAllClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol: number, atol: number, what: string): void {
  expect(actual.length, what).toBe(expected.length);
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (!(Math.abs(a - e) <= atol + rtol * Math.abs(e))) throw new Error(`${what}: element ${i} is ${a}, expected ${e} (rtol ${rtol}, atol ${atol})`);
  }
}

/** The distinct live tensors behind the arrays of `trees`. */
export function liveTensors(trees: unknown): tf.Tensor[] {
  const out = new Set<tf.Tensor>();
  for (const x of tree.leaves(trees)) if (x instanceof ConcreteArray && !x.isDisposed) out.add(x.tensor);
  return [...out];
}

/**
 * Runs `steps` top-level updates of a fresh optimizer on a small tree: each adds exactly the new
 * tensors it returns, and once everything is freed the tensor count is back where it started
 * (construction and init leave nothing either).
 */
export function expectUpdatesLeakNothing(make: () => optim.Optimizer, steps: number): void {
  const start = tf.memory().numTensors;
  const params = { w: np.ones([3, 4]), b: np.ones([4]) };
  const grads = { w: np.full([3, 4], 0.5), b: np.ones([4]) };
  const opt = make();
  let state = opt.init(params);
  for (let i = 0; i < steps; i++) {
    const before = new Set(liveTensors([params, grads, state]));
    const n0 = tf.memory().numTensors;
    const [u, s] = opt.update(grads, state, params);
    const fresh = liveTensors([u, s]).filter((t) => !before.has(t));
    expect(tf.memory().numTensors - n0).toBe(fresh.length);
    optim.freeTree([u, state], [s, params, grads]);
    state = s;
  }
  optim.freeTree([params, grads, state]);
  expect(tf.memory().numTensors).toBe(start);
}

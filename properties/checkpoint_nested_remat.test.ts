// A checkpoint nested in a checkpoint honours its own policy on its body (as JAX's nested remat):
// what the inner policy saves is saved, and the inner block's outputs are rebuilt from those saved
// values rather than by re-running the inner block whole. Checked by counting equations of the
// traced programs against the inner checkpoint alone, by the bytes a pullback holds, and by values
// and gradients (orders 1 and 2, under vmap and jit) against the un-checkpointed function.
import { describe, expect, it } from 'vitest';
import {
  NDArray, checkpoint, checkpointName, dotsSaveable, everythingSaveable, grad, jit, makeJaxpr, nothingSaveable, np, saveOnlyTheseNames, vmap, type CheckpointPolicy,
} from '../src/index.js';
import { checkGrads } from '../src/testing/index.js';
import { inScope } from './helpers.js';
import { expectNoLeak, expectTreeClose } from './loop_oracle.js';
import { deepCount, heldBytes } from './checkpoint_helpers.js';

const POLICIES: CheckpointPolicy[] = [nothingSaveable, everythingSaveable, dotsSaveable, saveOnlyTheseNames('a')];

describe('a checkpoint in a checkpoint', () => {
  const W = np.array([[0.5, -0.2, 0.1], [0.3, 0.4, -0.6], [0.2, 0.1, 0.3]], 'float32');
  const x = np.array([[1, -0.5, 0.25], [0.5, 2, -1]], 'float32');
  // sin and tanh appear only in the inner block.
  const inner = (v: NDArray) => np.matmul(np.tanh(checkpointName(np.sin(np.matmul(v, W)), 'a')), W);
  const outer = (ip: CheckpointPolicy) => (v: NDArray) => np.sum(np.exp(np.cos(checkpoint(inner, { policy: ip })(np.multiply(v, 2)))));
  const plain = (v: NDArray) => np.sum(np.exp(np.cos(inner(np.multiply(v, 2)))));
  const count = (f: (v: NDArray) => NDArray, prim: string) => deepCount(makeJaxpr(grad(f))(x).jaxpr, prim);

  it('the inner policy decides what of the inner block is recomputed, whatever the outer policy', () => {
    for (const ip of POLICIES) {
      for (const op of POLICIES) {
        const nested = checkpoint(outer(ip), { policy: op });
        // (Before, sin was recomputed once more under an outer policy other than everythingSaveable:
        // the inner block's known part was one equation, recomputed whole.)
        for (const prim of ['sin', 'tanh', 'checkpoint_name']) expect(count(nested, prim), `inner ${ip.name}, outer ${op.name}: ${prim}`).toBe(count(outer(ip), prim));
      }
    }
    expect(count(checkpoint(outer(saveOnlyTheseNames('a')), { policy: nothingSaveable }), 'sin')).toBe(count(plain, 'sin'));
  });

  it('the forward pass holds what the inner policy saves: one [2, 3] name', () => {
    const held = (ip: CheckpointPolicy) => heldBytes(checkpoint(outer(ip), { policy: nothingSaveable }), x);
    expect(held(saveOnlyTheseNames('a')) - held(saveOnlyTheseNames('nobody'))).toBe(2 * 3 * 4);
  });

  it('gradients equal the un-checkpointed function for every pair of policies, at orders 1 and 2, under vmap and jit; no leaks', () => {
    inScope(() => {
      const xs = np.stack([x, np.multiply(x, 0.5), np.negative(x)]);
      const want = grad(plain)(x);
      const gg = (f: (v: NDArray) => NDArray) => grad((v: NDArray) => np.sum(np.multiply(grad(f)(v), np.cos(v))))(x);
      const want2 = gg(plain);
      const wantV = vmap(grad(plain))(xs);
      for (const ip of POLICIES) {
        for (const op of POLICIES) {
          const ck = checkpoint(outer(ip), { policy: op });
          const tol = { rtol: 1e-5, atol: 1e-6, label: `inner ${ip.name}, outer ${op.name}` };
          expectTreeClose(ck(x), plain(x), tol);
          expectTreeClose(grad(ck)(x), want, tol);
          expectTreeClose(gg(ck), want2, { ...tol, rtol: 1e-4 });
          expectTreeClose(vmap(grad(ck))(xs), wantV, tol);
          expectTreeClose(jit(grad(ck))(x), want, tol);
          expectNoLeak(`grad (${tol.label})`, () => grad(ck)(x));
        }
      }
      // Three deep, with a jit in between.
      const three = checkpoint((v: NDArray) => np.sum(jit(checkpoint(outer(dotsSaveable), { policy: saveOnlyTheseNames('a') }))(v)), { policy: nothingSaveable });
      checkGrads(three, [x], { order: 2 });
      expectTreeClose(grad(three)(x), want, { rtol: 1e-5, atol: 1e-6, label: 'three deep' });
    });
  });
});

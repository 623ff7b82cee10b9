// A checkpoint nested in a checkpoint: its body is split by the ENCLOSING policy, as in JAX (the
// remat rule of partial_eval_jaxpr_custom passes the outer `saveable` into nested remats), so the
// outer checkpoint decides what its whole body keeps; the inner policy applies where the inner
// checkpoint is differentiated on its own. Before, the nested block's known part was one equation,
// recomputed whole. Checked by counting equations of the traced programs (every inner policy gives
// the counts of the inner policy set to the outer one), by the bytes a pullback holds, and by values
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

  it('the outer policy decides what of the inner block is recomputed, whatever the inner policy (JAX)', () => {
    // Under an outer everythingSaveable too: nothing of the inner block is recomputed, whatever its
    // own policy. (Before, "inside a checkpoint" was told by the policy not being everythingSaveable,
    // so under that outer policy the inner one was kept, and the inner block recomputed.)
    for (const op of POLICIES) {
      for (const ip of POLICIES) {
        const nested = checkpoint(outer(ip), { policy: op });
        const sameAsOuter = checkpoint(outer(op), { policy: op });
        for (const prim of ['sin', 'tanh', 'checkpoint_name', 'dot_general']) expect(count(nested, prim), `inner ${ip.name}, outer ${op.name}: ${prim}`).toBe(count(sameAsOuter, prim));
      }
    }
    // An outer policy that saves the name keeps sin from being recomputed, even where the inner saves nothing.
    expect(count(checkpoint(outer(nothingSaveable), { policy: saveOnlyTheseNames('a') }), 'sin')).toBe(count(plain, 'sin'));
    // (Before, with the known part one equation, sin ran once more than in the plain function.)
    expect(count(checkpoint(outer(saveOnlyTheseNames('a')), { policy: nothingSaveable }), 'sin')).toBe(count(plain, 'sin') + 1);
  });

  it('the forward pass holds what the outer policy saves: one [2, 3] name under the outer saveOnlyTheseNames(a), nothing under an outer nothingSaveable, everything under an outer everythingSaveable', () => {
    const held = (ip: CheckpointPolicy, op: CheckpointPolicy) => heldBytes(checkpoint(outer(ip), { policy: op }), x);
    expect(held(nothingSaveable, saveOnlyTheseNames('a')) - held(nothingSaveable, saveOnlyTheseNames('nobody'))).toBe(2 * 3 * 4);
    expect(held(saveOnlyTheseNames('a'), nothingSaveable)).toBe(held(nothingSaveable, nothingSaveable));
    // An outer everythingSaveable keeps what the inner block computes, whatever the inner policy.
    for (const ip of POLICIES) expect(held(ip, everythingSaveable), `inner ${ip.name}`).toBe(held(everythingSaveable, everythingSaveable));
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

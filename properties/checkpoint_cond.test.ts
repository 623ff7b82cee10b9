// Checkpoint policies reach inside the branches of a cond (its index known when differentiating):
// under checkpoint(f, {policy}) a cond in f saves what the policy saves in the branch taken, and the
// backward pass recomputes only the rest. Checked by counting equations of the traced programs
// against the same cond with the policy applied to each branch instead, and by the bytes a
// pullback holds; values and gradients (orders 1 and 2, under vmap and jit) equal the
// un-checkpointed function; no leaks.
import { describe, expect, it } from 'vitest';
import {
  NDArray, checkpoint, checkpointName, cond, dotsSaveable, everythingSaveable, grad, jit, makeJaxpr, nothingSaveable, np, saveOnlyTheseNames, scan, switchCase, vmap, type CheckpointPolicy,
} from '../src/index.js';
import { checkGrads } from '../src/testing/index.js';
import { inScope } from './helpers.js';
import { expectNoLeak, expectTreeClose } from './loop_oracle.js';
import { deepCount, heldBytes } from './checkpoint_helpers.js';

const POLICIES: CheckpointPolicy[] = [nothingSaveable, everythingSaveable, dotsSaveable, saveOnlyTheseNames('a')];
const PRIMS = ['dot_general', 'sin', 'cos', 'tanh', 'exp', 'checkpoint_name'];

describe('policies apply inside cond branches', () => {
  const W = np.array([[0.5, -0.2, 0.1], [0.3, 0.4, -0.6], [0.2, 0.1, 0.3]], 'float32');
  const x = np.array([[1, -0.5, 0.25], [0.5, 2, -1]], 'float32');
  const A = (v: NDArray) => np.matmul(np.tanh(checkpointName(np.sin(np.matmul(v, W)), 'a')), W);
  const B = (v: NDArray) => np.multiply(np.cos(np.matmul(checkpointName(np.multiply(v, 0.5), 'a'), W)), 2);
  const withBranches = (a: (v: NDArray) => NDArray, b: (v: NDArray) => NDArray) => (p: number) => (v: NDArray) =>
    // (The index is traced from v, so the cond is an equation: a JS predicate picks a branch at trace time.)
    // The derivative of the sum reads no output of the cond, so the checkpoint around it rebuilds no output either.
    np.sum(np.multiply(cond(np.greater(np.add(np.multiply(np.sum(v), 0), p), 0), a, b, np.multiply(v, 2)) as NDArray, 3));
  const plain = withBranches(A, B);
  const perBranch = (policy: CheckpointPolicy) => withBranches(checkpoint(A, { policy }), checkpoint(B, { policy }));
  const count = (f: (v: NDArray) => NDArray, prim: string) => deepCount(makeJaxpr(grad(f))(x).jaxpr, prim);

  it('saveOnlyTheseNames saves the name of the branch taken: nothing before it is recomputed', () => {
    for (const p of [1, 0]) {
      const ck = checkpoint(plain(p), { policy: saveOnlyTheseNames('a') });
      // (Before: the known cond was recomputed whole, sin included.)
      expect(count(ck, 'sin'), `p = ${p}`).toBe(count(plain(p), 'sin'));
    }
  });

  it('every policy recomputes as much around the cond as applied to each branch', () => {
    for (const policy of POLICIES) {
      for (const p of [1, 0]) {
        for (const prim of PRIMS) expect(count(checkpoint(plain(p), { policy }), prim), `${policy.name}, p = ${p}: ${prim}`).toBe(count(perBranch(policy)(p), prim));
      }
    }
  });

  it('the forward pass holds the name of the branch taken, in a slot the branches share (as in JAX)', () => {
    const held = (policy: CheckpointPolicy, p: number) => heldBytes(checkpoint(plain(p), { policy }), x);
    for (const p of [1, 0]) {
      // Both branches' names are [2, 3] float32: one slot, filled by the branch taken
      // (_merge_branch_residuals). Before, a slot per branch, the other written with zeros: 48 bytes.
      expect(held(saveOnlyTheseNames('a'), p), `p = ${p}`).toBe(2 * 3 * 4);
      // A policy that saves nothing holds nothing: the branches' operand 2v is the enclosing
      // program's to save or recompute (here recomputed from v). Before, every branch returned it
      // as a residual of its own, so the forward pass held two [2, 3] copies (48 bytes) of it.
      expect(held(saveOnlyTheseNames('nobody'), p), `p = ${p}`).toBe(0);
      expect(held(nothingSaveable, p), `p = ${p}`).toBe(0);
    }
  });

  it('gradients equal the un-checkpointed function for every policy and branch, at orders 1 and 2, under vmap and jit; no leaks', () => {
    inScope(() => {
      const xs = np.stack([x, np.multiply(x, 0.5), np.negative(x)]);
      for (const p of [1, 0]) {
        const f = plain(p);
        const gg = (g: (v: NDArray) => NDArray) => grad((v: NDArray) => np.sum(np.multiply(grad(g)(v), np.cos(v))))(x);
        for (const policy of [...POLICIES, saveOnlyTheseNames('nobody')]) {
          const ck = checkpoint(f, { policy });
          const tol = { rtol: 1e-5, atol: 1e-6, label: `${policy.name}, p = ${p}` };
          expectTreeClose(ck(x), f(x), tol);
          expectTreeClose(grad(ck)(x), grad(f)(x), tol);
          expectTreeClose(gg(ck), gg(f), { ...tol, rtol: 1e-4 });
          expectTreeClose(vmap(grad(ck))(xs), vmap(grad(f))(xs), tol);
          expectTreeClose(jit(grad(ck))(x), grad(f)(x), tol);
          checkGrads(ck, [x], { order: 2 });
          expectNoLeak(`grad (${tol.label})`, () => grad(ck)(x));
        }
      }
    });
  });

  it('a switch of three branches in a scan body: a policy saving nothing holds nothing per step; gradients equal the plain function', () => {
    inScope(() => {
      // The index is a carried int32 counter; the branches read the float carry and the step's x.
      const C = (v: NDArray, y: NDArray) => np.multiply(checkpointName(np.cos(v), 'a'), y);
      const f = (h: NDArray) => {
        const [[c], ys] = scan((carry: [NDArray, NDArray], y: NDArray) => {
          const [c, k] = carry;
          const n = switchCase(k, [(v: NDArray) => A(np.add(v, y)), (v: NDArray) => B(v), (v: NDArray) => C(v, y)], np.sin(c));
          return [[n, np.remainder(np.add(k, 1), 3)], n];
        }, [h, np.array(0, 'int32')], np.stack([x, np.negative(x), x, np.multiply(x, 0.5)]));
        return np.add(np.sum(c), np.sum(np.sin(ys)));
      };
      // Before, each branch's operands (sin of the carry, the step's x) were residuals of their own,
      // stacked per step: 768 bytes held under nothingSaveable, where saving nothing holds nothing.
      expect(heldBytes(checkpoint(f, { policy: nothingSaveable }), x)).toBe(0);
      expect(heldBytes(checkpoint(f, { policy: saveOnlyTheseNames('nobody') }), x)).toBe(0);
      // saveOnlyTheseNames('a'): the three branches' names share one [2, 3] slot, stacked per step.
      // (Before, a slot per branch: three times as much.)
      expect(heldBytes(checkpoint(f, { policy: saveOnlyTheseNames('a') }), x)).toBe(4 * 2 * 3 * 4);
      for (const policy of POLICIES) {
        const ck = checkpoint(f, { policy });
        const tol = { rtol: 1e-5, atol: 1e-6, label: policy.name };
        expectTreeClose(grad(ck)(x), grad(f)(x), tol);
        expectTreeClose(jit(grad(ck))(x), grad(f)(x), tol);
        checkGrads(ck, [x], { order: 2 });
        expectNoLeak(`grad (${policy.name})`, () => grad(ck)(x));
      }
    });
  });

  it('an index computed inside the checkpoint (known, from the primal input), and a cond in a scan-free jit', () => {
    inScope(() => {
      const f = (v: NDArray) => np.sum(cond(np.greater(np.sum(v), 0), A, B, jit(np.sin)(v)) as NDArray);
      for (const policy of POLICIES) {
        const ck = checkpoint(f, { policy });
        expectTreeClose(grad(ck)(x), grad(f)(x), { rtol: 1e-5, atol: 1e-6, label: policy.name });
        expectTreeClose(grad(ck)(np.negative(x)), grad(f)(np.negative(x)), { rtol: 1e-5, atol: 1e-6, label: policy.name });
        checkGrads(ck, [x], { order: 2 });
      }
    });
  });
});

// A scan or cond inside a checkpoint whose operands are all known (it reads no differentiated
// input) is split by the policy too, as JAX's _scan_partial_eval_custom rule is applied to every
// scan equation of a checkpointed body: what the policy saves inside it is saved per step, the
// rest recomputed by the backward pass. Before, such a loop was one known equation, recomputed
// whole whenever the backward pass needed an output of it. Checked by counting equations of the
// traced programs, by the bytes a pullback holds, and by values and gradients (orders 1 and 2,
// under vmap and jit) against the un-checkpointed function; no leaks.
import { describe, expect, it } from 'vitest';
import {
  checkpoint, checkpointName, cond, dotsSaveable, everythingSaveable, grad, jit, makeJaxpr, nothingSaveable, np, saveOnlyTheseNames, scan, switchCase, vmap, type CheckpointPolicy, type NDArray,
} from '../src/index.js';
import { checkGrads } from '../src/testing/index.js';
import { inScope } from './helpers.js';
import { expectNoLeak, expectTreeClose } from './loop_oracle.js';
import { deepCount, heldBytes } from './checkpoint_helpers.js';

const POLICIES: CheckpointPolicy[] = [nothingSaveable, everythingSaveable, dotsSaveable, saveOnlyTheseNames('a'), { name: 'saveAll', saveable: () => true }];
const W = np.array([[0.5, -0.2, 0.1], [0.3, 0.4, -0.6], [0.2, 0.1, 0.3]], 'float32');
const x = np.array([[1, -0.5, 0.25], [0.5, 2, -1]], 'float32');
const XS = np.stack([x, np.negative(x), np.multiply(x, 0.5)]);
// The scan reads only x and XS (closed over): all its operands are known when f is differentiated.
// Its carry and outputs are read by the derivative of sin(v) * (...).
const f = (v: NDArray) => {
  const [c, ys] = scan((c: NDArray, y: NDArray) => {
    const n = np.tanh(checkpointName(np.sin(np.matmul(np.add(c, y), W)), 'a'));
    return [n, n];
  }, x, XS);
  return np.sum(np.multiply(np.sin(v), np.add(c, np.sum(ys as NDArray, 0))));
};
// The same with a cond of known index (from x) in place of the scan.
const g = (v: NDArray) => {
  const k = cond(np.greater(np.sum(x), 0), (u: NDArray) => np.tanh(checkpointName(np.sin(np.matmul(u, W)), 'a')), (u: NDArray) => np.cos(u), x) as NDArray;
  return np.sum(np.multiply(np.sin(v), k));
};
const count = (h: (v: NDArray) => NDArray, prim: string) => deepCount(makeJaxpr(grad(h))(x).jaxpr, prim);

describe('a loop with only known operands inside a checkpoint', () => {
  it('saveOnlyTheseNames saves the name per step: the scan\'s sin and product are not recomputed, only tanh', () => {
    const ck = checkpoint(f, { policy: saveOnlyTheseNames('a') });
    // (Before: the whole scan ran again, one more sin and one more dot_general than f.)
    expect(count(ck, 'sin')).toBe(count(f, 'sin'));
    expect(count(ck, 'dot_general')).toBe(count(f, 'dot_general'));
    expect(count(ck, 'tanh')).toBe(count(f, 'tanh') + 1);
    // Three steps' [2, 3] names.
    expect(heldBytes(ck, x)).toBe(3 * 2 * 3 * 4);
    // dotsSaveable saves the product per step; nothingSaveable holds nothing and recomputes the scan.
    expect(count(checkpoint(f, { policy: dotsSaveable }), 'dot_general')).toBe(count(f, 'dot_general'));
    expect(heldBytes(checkpoint(f, { policy: dotsSaveable }), x)).toBe(3 * 2 * 3 * 4);
    expect(heldBytes(checkpoint(f, { policy: nothingSaveable }), x)).toBe(0);
    expect(count(checkpoint(f, { policy: nothingSaveable }), 'sin')).toBe(count(f, 'sin') + 1);
  });

  it('a cond of known operands: the name of the branch taken is saved, sin is not recomputed', () => {
    const ck = checkpoint(g, { policy: saveOnlyTheseNames('a') });
    expect(count(ck, 'sin')).toBe(count(g, 'sin'));
    expect(heldBytes(ck, x)).toBe(2 * 3 * 4);
    expect(heldBytes(checkpoint(g, { policy: nothingSaveable }), x)).toBe(0);
  });

  it('everythingSaveable holds what the un-checkpointed function holds: a known output is saved as it is, not rebuilt from the index', () => {
    // A switch of three branches whose index is traced from v, over a known operand (a row of XS).
    const switchOf = (first: (u: NDArray) => NDArray) => (v: NDArray) => {
      const k = switchCase(np.astype(np.greater(np.sum(v), 0), 'int32'), [first, (u: NDArray) => np.cos(u), (u: NDArray) => u], np.index(XS, [1])) as NDArray;
      return np.sum(np.sin(np.matmul(np.multiply(v, k), W)));
    };
    const s = switchOf((u) => np.sin(np.matmul(u, W)));
    // With a checkpoint in a branch the switch is still split by the policy (the enclosing policy
    // decides for the nested checkpoint): its known output is saved because the policy saves the
    // switch's outputs.
    const sNested = switchOf(checkpoint((u: NDArray) => np.sin(np.matmul(u, W))));
    // (Before 82c555e: the backward pass re-ran the cond from its index and a saved copy of its
    // output, 76 bytes against 48 for s, as sNested does if the copy is read; 3357451, which split
    // nothing under everythingSaveable, held 48.)
    for (const [h, v] of [[s, x], [sNested, x], [g, x], [f, x]] as const) {
      for (const policy of [everythingSaveable, { name: 'saveAll', saveable: () => true }]) {
        expect(heldBytes(checkpoint(h, { policy }), v)).toBe(heldBytes(h, v));
      }
    }
  });

  it('a policy that saves the scan\'s or cond\'s outputs but nothing inside saves those outputs as they are', () => {
    const onlyControlFlow: CheckpointPolicy = { name: 'onlyControlFlow', saveable: (prim) => prim === 'scan' || prim === 'cond' };
    // The derivative of sin(v) * (...) reads the scan's carry and its three steps' ys, and the cond's
    // output: [2, 3] each. (Recomputing them from the operands, as for a policy that refuses the
    // equation, would hold nothing.)
    expect(heldBytes(checkpoint(f, { policy: onlyControlFlow }), x)).toBe(4 * 2 * 3 * 4);
    expect(heldBytes(checkpoint(g, { policy: onlyControlFlow }), x)).toBe(2 * 3 * 4);
  });

  it('values and gradients equal the un-checkpointed function for every policy, at orders 1 and 2, under vmap and jit; no leaks', () => {
    inScope(() => {
      const samples = [x, np.multiply(x, 0.5), np.negative(x)];
      for (const h of [f, g]) {
        const want = grad(h)(x);
        const wantV = np.stack(samples.map((v) => grad(h)(v)));
        for (const policy of POLICIES) {
          const ck = checkpoint(h, { policy });
          const tol = { rtol: 1e-5, atol: 1e-6, label: `${h === f ? 'scan' : 'cond'}, ${policy.name}` };
          expectTreeClose(ck(x), h(x), tol);
          expectTreeClose(grad(ck)(x), want, tol);
          expectTreeClose(jit(grad(ck))(x), want, tol);
          expectTreeClose(vmap(grad(ck))(np.stack(samples)), wantV, tol);
          checkGrads(ck, [x], { order: 2 });
          expectNoLeak(`grad (${tol.label})`, () => grad(ck)(x));
        }
      }
    });
  });
});

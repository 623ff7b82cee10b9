// The residuals of a cond differentiated with a known index (plain vjp, no checkpoint): only one
// branch runs, so residuals of the same type (dtype and shape) in different branches share a slot
// (JAX's _merge_branch_residuals), and a residual that is a known operand of the cond is read by
// the unknown cond directly rather than returned by every branch (in a scan, stacked per step).
// Checked by the bytes a pullback holds: a cond of two branches whose residuals share types holds
// as much as the heavier branch paired with itself; with types of their own, the sum. Values and
// gradients (orders 1 and 2, under vmap and jit) equal those of the branch taken; no leaks.
import { describe, expect, it } from 'vitest';
import { checkpoint, cond, dotsSaveable, grad, jit, nothingSaveable, np, scan, switchCase, vmap, type NDArray } from '../src/index.js';
import { broadcastTo } from '../src/np/shape_ops.js';
import { checkGrads } from '../src/testing/index.js';
import { inScope } from './helpers.js';
import { expectNoLeak, expectTreeClose } from './loop_oracle.js';
import { heldBytes } from './checkpoint_helpers.js';

type Branch = (v: NDArray) => NDArray;
const W = np.array([[0.5, -0.2, 0.1], [0.3, 0.4, -0.6], [0.2, 0.1, 0.3]], 'float32');
const x = np.array([[1, -0.5, 0.25], [0.5, 2, -1]], 'float32');
// A and B keep [2, 3] float32 residuals only (A more of them); C keeps one [2, 1] (the cosine of a row sum).
const A: Branch = (v) => np.matmul(np.tanh(np.sin(np.matmul(v, W))), W);
const B: Branch = (v) => np.multiply(np.cos(np.matmul(np.multiply(v, 0.5), W)), 2);
const C: Branch = (v) => broadcastTo(np.sin(np.sum(v, 1, true)), [2, 3]);
// The index is traced from v (a JS predicate would pick a branch at trace time); positive for x.
const viaCond = (a: Branch, b: Branch) => (v: NDArray) => np.sum(cond(np.greater(np.sum(v), 0), a, b, np.multiply(v, 2)) as NDArray);
// The cond in a scan body: its residuals are stacked per step.
const inScan = (a: Branch, b: Branch) => (h: NDArray) => {
  const [c, ys] = scan((c: NDArray, y: NDArray) => {
    const n = cond(np.greater(np.sum(y), 0), a, b, np.add(np.sin(c), y)) as NDArray;
    return [n, n];
  }, h, np.stack([x, np.negative(x), x, np.multiply(x, 0.5)]));
  return np.add(np.sum(c), np.sum(np.sin(ys as NDArray)));
};

describe('cond residuals under plain differentiation', () => {
  for (const [where, f] of [['a cond', viaCond], ['a cond in a scan', inScan]] as const) {
    it(`${where}: branches share slots of equal type; a known operand is not copied per branch`, () => {
      const held = (a: Branch, b: Branch) => heldBytes(f(a, b), x);
      // A needs more [2, 3] slots than B: both together hold what A paired with itself holds.
      // (Before: 152 bytes against 176 for a cond, 784 against 880 in a scan; each branch had its
      // own slots, and the operand and W were returned by each as residuals.)
      expect(held(A, B)).toBe(held(A, A));
      expect(held(B, A)).toBe(held(A, A));
      expect(held(B, B)).toBeLessThan(held(A, A));
      // C's residual has a type of its own: a slot of its own, next to A's.
      // C's residual has a type of its own: one [2, 1] float32 slot more than A's (per step in the scan).
      expect(held(A, C) - held(A, A)).toBe(where === 'a cond' ? 2 * 4 : 4 * 2 * 4);
      expect(held(C, A)).toBe(held(A, C));
    });
  }

  it('values and gradients equal the branch taken, at orders 1 and 2, under vmap and jit; no leaks', () => {
    inScope(() => {
      const samples = [x, np.multiply(x, 0.5), np.negative(x)];
      const xs = np.stack(samples);
      for (const [a, b, label] of [[A, B, 'A|B'], [B, A, 'B|A'], [A, C, 'A|C'], [C, B, 'C|B']] as const) {
        for (const make of [viaCond, inScan]) {
          const f = make(a, b);
          // The same function with the cond replaced by a JS choice per sample (its own reference).
          const tol = { rtol: 1e-5, atol: 1e-6, label: `${label} (${make === viaCond ? 'cond' : 'scan'})` };
          const ref = make === viaCond ? (v: NDArray) => np.sum(((np.sum(v).item() as number) > 0 ? a : b)(np.multiply(v, 2))) : null;
          if (ref !== null) {
            expectTreeClose(f(x), ref(x), tol);
            expectTreeClose(grad(f)(x), grad(ref)(x), tol);
            expectTreeClose(grad(f)(np.negative(x)), grad(ref)(np.negative(x)), tol);
          }
          checkGrads(f, [x], { order: 2 });
          expectTreeClose(vmap(grad(f))(xs), np.stack(samples.map((v) => grad(f)(v))), tol);
          expectTreeClose(jit(grad(f))(x), grad(f)(x), tol);
          expectNoLeak(`grad (${tol.label})`, () => grad(f)(x));
        }
      }
    });
  });

  it('a switch of three branches, and under checkpoint policies (the recompute cond forwards saved values), still agrees', () => {
    inScope(() => {
      // The index k is traced from v (argmax of zeros is 0), so the switch is an equation.
      for (const k of [0, 1, 2]) {
        const f = (v: NDArray) => np.sum(switchCase(np.add(np.argmax(np.multiply(np.sum(v, 0), 0)), k), [A, B, C], np.multiply(v, 2)) as NDArray);
        const v = x;
        expectTreeClose(grad(f)(v), grad((u: NDArray) => np.sum([A, B, C][k]!(np.multiply(u, 2))))(v), { rtol: 1e-5, atol: 1e-6, label: `branch ${k}` });
        checkGrads(f, [v], { order: 2 });
        for (const policy of [nothingSaveable, dotsSaveable]) expectTreeClose(grad(checkpoint(f, { policy }))(v), grad(f)(v), { rtol: 1e-5, atol: 1e-6, label: policy.name });
        expectNoLeak('grad of a switch', () => grad(f)(x));
      }
    });
  });
});

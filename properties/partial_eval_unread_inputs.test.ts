// An input the unknown part of a split program does not read holds nothing in the pullback. A
// jit or checkpoint nested in a scan body or a cond branch that ignores one of its inputs (here
// k = tanh(0.3 v), closed over), or a branch that reads an operand only through a comparison, left
// that input's tangent an operand of the unknown scan or cond: the eager pullback kept what
// computed it (the coefficient 1 - tanh² and the scalar 0.3, 28 bytes), though no cotangent
// reaches it. partialEvalJaxpr now reports which inputs its unknown program reads
// (readByUnknown) and the call, scan and cond splits leave the others out. Checked by the bytes
// held against the same function without the nested call (or with the input's gradient stopped),
// and by values and gradients (orders 1 and 2, eager, jit and vmap, also under an enclosing
// checkpoint); no leaks.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { checkpoint, cond, dispose, everythingSaveable, grad, jit, nothingSaveable, np, scan, stopGradient, switchCase, vmap, type CheckpointPolicy, type NDArray } from '../src/index.js';
import { checkGrads } from '../src/testing/index.js';
import { FC_SEED, inScope } from './helpers.js';
import { heldBytes } from './checkpoint_helpers.js';
import { expectNoLeak, expectTreeClose } from './loop_oracle.js';

type G = (a: NDArray, ignored: NDArray) => NDArray;
type F = (v: NDArray) => NDArray;
const x = np.array([[1, -0.5, 0.25], [0.5, 2, -1]], 'float32');
const xs = np.stack([x, np.multiply(x, -0.75)]);
const XS = np.stack([x, np.negative(x), np.multiply(x, 0.5)]);
const tanhOf = (v: NDArray): NDArray => np.tanh(np.multiply(v, 0.3));

// Where the nested function h runs: each hands it k, which h ignores.
const CONTEXTS: [string, (h: G) => F][] = [
  ['scan body', (h) => (v) => {
    const k = tanhOf(v);
    const [c, ys] = scan((c: NDArray, y: NDArray) => { const n = h(np.multiply(c, y), k); return [np.cos(n), n]; }, np.sin(v), XS);
    return np.sum(np.add(c, np.sum(ys as NDArray, 0)));
  }],
  // The carry-in is what h ignores: the unknown body's carry binder is read by nothing.
  ['scan body, carry ignored', (h) => (v) => {
    const k = tanhOf(v);
    const [c, ys] = scan((c: NDArray, y: NDArray) => { const n = h(np.multiply(y, k), c); return [n, np.sin(n)]; }, np.sin(v), XS);
    return np.sum(np.add(c, np.sum(ys as NDArray, 0)));
  }],
  ['cond branch', (h) => (v) => {
    const k = tanhOf(v);
    return np.sum(np.cos(cond(np.greater(np.sum(x), 0), (u: NDArray) => h(np.sin(u), k), (u: NDArray) => np.cos(u), v) as NDArray));
  }],
  ['switch, k an operand', (h) => (v) => {
    const branches = [(u: NDArray, k: NDArray) => h(np.sin(u), k), (u: NDArray) => np.cos(u), (u: NDArray, k: NDArray) => h(u, k)];
    return np.sum(np.cos(switchCase(np.argmax(np.sum(x, 0)), branches, v, tanhOf(v)) as NDArray));
  }],
];
const g: G = (a) => np.sin(a);
const WRAPPERS: [string, (h: G) => G][] = [
  ['jit', (h) => jit(h)],
  ['checkpoint', (h) => checkpoint(h)],
  ['checkpoint(everythingSaveable)', (h) => checkpoint(h, { policy: everythingSaveable })],
  ['checkpoint(nothingSaveable)', (h) => checkpoint(h, { policy: nothingSaveable })],
  ['jit(checkpoint)', (h) => jit(checkpoint(h))],
];

// No nested call: the body or branch reads k only through a comparison, so its tangent is unread
// by the unknown scan or cond. The reference stops k's gradient outright.
const COMPARED: [string, (k: (v: NDArray) => NDArray) => F][] = [
  ['scan', (kOf) => (v) => {
    const k = kOf(v);
    const [c, ys] = scan((c: NDArray, y: NDArray) => { const n = np.where(np.greater(k, 0), np.sin(np.multiply(c, y)), np.cos(c)); return [n, np.sin(n)]; }, np.sin(v), XS);
    return np.sum(np.add(c, np.sum(ys as NDArray, 0)));
  }],
  ['switch', (kOf) => (v) => {
    const branches = [(u: NDArray, k: NDArray) => np.where(np.greater(k, 0), np.sin(u), u), (u: NDArray) => np.cos(u)];
    return np.sum(np.cos(switchCase(np.argmax(np.sum(x, 0)), branches, v, kOf(v)) as NDArray));
  }],
];
const stopped = (v: NDArray): NDArray => stopGradient(tanhOf(v));

describe('an input the unknown part of a split does not read holds nothing', () => {
  it('a jit or checkpoint in a scan body or cond branch holds what the inlined function holds', () => {
    for (const [name, ctx] of CONTEXTS) {
      const plain = heldBytes(ctx(g), x);
      // (Before: 28 bytes more, the [2, 3] coefficient of tanh and the scalar 0.3.)
      for (const [w, wrap] of WRAPPERS) expect(heldBytes(ctx(wrap(g)), x), `${name}, ${w}`).toBe(plain);
    }
  });

  it('an operand read only through a comparison holds what it holds with its gradient stopped', () => {
    for (const [name, f] of COMPARED) expect(heldBytes(f(tanhOf), x), name).toBe(heldBytes(f(stopped), x));
  });

  it('for random inputs, the same bytes as the inlined function (fast-check, seeded)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: CONTEXTS.length - 1 }), fc.integer({ min: 0, max: WRAPPERS.length - 1 }), fc.float({ min: -2, max: 2, noNaN: true }), (c, w, s) => {
        const v = np.multiply(x, s);
        const ctx = CONTEXTS[c]![1];
        const same = heldBytes(ctx(WRAPPERS[w]![1](g)), v) === heldBytes(ctx(g), v);
        dispose(v);
        return same;
      }),
      { seed: FC_SEED, numRuns: 12 },
    );
  });

  it('values and gradients equal the inlined function at orders 1 and 2, eager, jit and vmap, under an enclosing checkpoint too; no leaks', () => {
    const gg = (h: F) => grad((v: NDArray) => np.sum(np.multiply(grad(h)(v), np.cos(v))));
    const outer = (f: F, policy: CheckpointPolicy): F => checkpoint(f, { policy });
    inScope(() => {
      for (const [c, [name, ctx]] of CONTEXTS.entries()) {
        const ref = ctx(g);
        const want = { value: ref(x), grad: grad(ref)(x), grad2: gg(ref)(x), vmapped: vmap(grad(ref))(xs) };
        for (const [j, [w, wrap]] of WRAPPERS.entries()) {
          const label = `${name}, ${w}`;
          const tol = { rtol: 1e-5, atol: 1e-6, label };
          const inner = ctx(wrap(g));
          expectTreeClose(inner(x), want.value, tol);
          expectTreeClose(grad(inner)(x), want.grad, tol);
          expectTreeClose(jit(grad(inner))(x), want.grad, tol);
          expectTreeClose(vmap(grad(inner))(xs), want.vmapped, tol);
          expectTreeClose(gg(inner)(x), want.grad2, { ...tol, rtol: 1e-4 });
          expectTreeClose(jit(gg(inner))(x), want.grad2, { ...tol, rtol: 1e-4 });
          // An enclosing checkpoint splits the scan or cond by its policy (the policy splits).
          for (const policy of [everythingSaveable, nothingSaveable]) {
            const t = { ...tol, label: `${policy.name} around ${label}` };
            expectTreeClose(grad(outer(inner, policy))(x), want.grad, t);
            expectTreeClose(jit(gg(outer(inner, policy)))(x), want.grad2, { ...t, rtol: 1e-4 });
          }
          // Against finite differences too, for one wrapper per context (it takes ~2 s each).
          if (j === c % WRAPPERS.length) checkGrads(inner, [x], { order: 2 });
          expectNoLeak(`grad (${label})`, () => grad(inner)(x));
        }
      }
      for (const [name, f] of COMPARED) {
        const tol = { rtol: 1e-5, atol: 1e-6, label: name };
        expectTreeClose(grad(f(tanhOf))(x), grad(f(stopped))(x), tol);
        expectTreeClose(jit(grad(f(tanhOf)))(x), grad(f(stopped))(x), tol);
        expectTreeClose(vmap(grad(f(tanhOf)))(xs), vmap(grad(f(stopped)))(xs), tol);
        checkGrads(f(tanhOf), [x], { order: 1 });
        expectNoLeak(`grad (${name})`, () => grad(f(tanhOf))(x));
      }
    });
  });
});

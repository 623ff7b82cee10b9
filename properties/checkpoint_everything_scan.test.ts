// checkpoint(g, {policy: everythingSaveable}) is documented as holding what g without the
// checkpoint holds. A scan inside g whose carry enters known (its primal) and is read by the
// derivative (c * n) was split by the policy: the recompute scan carried the known carry again from
// its initial value, reading the saved stack of carry-outs, so the pullback held the initial carry
// on top of the stack (24 bytes more than the plain function here; found by comparing heldBytes
// against 3357451, which saved the stack of carry-ins as the plain split does). When the policy
// saves every equation of the body, nothing would be recomputed: the scan is split as without a
// checkpoint. Checked by the bytes held and the scans of the traced gradient (the same as without
// the checkpoint), and by values and gradients (orders 1 and 2, eager and jit); no leaks.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { checkpoint, cond, dispose, everythingSaveable, grad, jit, makeJaxpr, nothingSaveable, np, scan, switchCase, type CheckpointPolicy, type NDArray } from '../src/index.js';
import { checkGrads } from '../src/testing/index.js';
import { FC_SEED, inScope } from './helpers.js';
import { expectNoLeak, expectTreeClose } from './loop_oracle.js';
import { deepCount, heldBytes } from './checkpoint_helpers.js';

type G = (v: NDArray, k: NDArray) => NDArray;
const W = np.array([[0.5, -0.2, 0.1], [0.3, 0.4, -0.6], [0.2, 0.1, 0.3]], 'float32');
const x = np.array([[1, -0.5, 0.25], [0.5, 2, -1]], 'float32');
const XS = np.stack([x, np.negative(x), np.multiply(x, 0.5)]);
const A = (u: NDArray): NDArray => np.matmul(np.tanh(np.sin(np.matmul(u, W))), W);
const R = (u: NDArray): NDArray => np.where(np.greater(np.sum(u, 0), 0.3), np.sin(u), np.cos(u));
// Each body reads the carry-in c in a product with a value computed from the const k, so the
// derivative needs c per step; k (and the carry) are unknown, XS known.
const BODIES: [string, (c: NDArray, y: NDArray, k: NDArray) => [NDArray, NDArray]][] = [
  ['product', (c, y, k) => { const n = np.multiply(y, k); return [np.multiply(c, n), n]; }],
  ['sin', (c, y, k) => { const n = np.sin(np.add(y, k)); return [np.multiply(c, n), np.cos(n)]; }],
  ['cond', (c, y, k) => { const n = cond(np.greater(np.sum(y), 0), A, R, np.add(y, k)) as NDArray; return [np.multiply(c, n), n]; }],
  ['switch', (c, y, k) => { const n = switchCase(np.argmax(np.sum(y, 0)), [A, R, np.sin], np.add(y, k)) as NDArray; return [np.multiply(c, n), n]; }],
];
const viaScan = (body: (c: NDArray, y: NDArray, k: NDArray) => [NDArray, NDArray]): G => (v, k) => {
  const [c, ys] = scan((c: NDArray, y: NDArray) => body(c, y, k), v, XS);
  return np.add(c, np.sum(ys as NDArray, 0));
};
// Plain operations around g: its two inputs are computed from v (unknown), and differ.
const around = (g: G) => (v: NDArray) => np.sum(np.exp(np.cos(g(np.sin(v), np.tanh(np.multiply(v, 0.3))))));
const ck = (g: G, policy: CheckpointPolicy = everythingSaveable): G => checkpoint(g, { policy });

describe('a scan in an everythingSaveable checkpoint holds what it holds without the checkpoint', () => {
  it('bytes held by the pullback and scans of the traced gradient equal those of the plain function', () => {
    for (const [name, body] of BODIES) {
      const g = viaScan(body);
      // (Before: 24 bytes more for each body, the recompute scan's initial carry, and one more scan.)
      expect(heldBytes(around(ck(g)), x), name).toBe(heldBytes(around(g), x));
      expect(deepCount(makeJaxpr(grad(around(ck(g))))(x).jaxpr, 'scan'), name).toBe(deepCount(makeJaxpr(grad(around(g)))(x).jaxpr, 'scan'));
      // A policy that saves everything without being everythingSaveable itself is the same.
      expect(heldBytes(around(ck(g, { name: 'saveAll', saveable: () => true })), x), name).toBe(heldBytes(around(g), x));
    }
  });

  it('for random inputs, never more bytes than without the checkpoint (fast-check, seeded)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: BODIES.length - 1 }), fc.float({ min: -2, max: 2, noNaN: true }), fc.float({ min: -2, max: 2, noNaN: true }), (b, s, t) => {
        const v = np.add(np.multiply(x, s), t);
        const g = viaScan(BODIES[b]![1]);
        const plain = heldBytes(around(g), v);
        const held = heldBytes(around(ck(g)), v);
        dispose(v);
        return held <= plain;
      }),
      { seed: FC_SEED, numRuns: 20 },
    );
  });

  it('values and gradients equal the plain function at orders 1 and 2, eager and jit; no leaks', () => {
    inScope(() => {
      for (const [name, body] of BODIES) {
        const g = viaScan(body);
        const f = around(ck(g));
        const tol = { rtol: 1e-5, atol: 1e-6, label: name };
        expectTreeClose(f(x), around(g)(x), tol);
        expectTreeClose(grad(f)(x), grad(around(g))(x), tol);
        expectTreeClose(jit(grad(f))(x), grad(around(g))(x), tol);
        const gg = (h: (v: NDArray) => NDArray) => grad((v: NDArray) => np.sum(np.multiply(grad(h)(v), np.cos(v))));
        expectTreeClose(gg(f)(x), gg(around(g))(x), { ...tol, rtol: 1e-4 });
        expectTreeClose(jit(gg(f))(x), gg(around(g))(x), { ...tol, rtol: 1e-4 });
        checkGrads(f, [x], { order: 2 });
        expectNoLeak(`grad (${name})`, () => grad(f)(x));
      }
    });
  });
});

// An input the checkpointed function does not read: the unknown part of the checkpoint was
// recorded over every unknown input, so the pullback kept the derivative coefficients of what
// computed that input (1 - tanh² here), though no cotangent reaches it (3357451 did the same).
describe('an input a checkpoint does not read holds nothing', () => {
  const unused = (g: G) => (v: NDArray) => np.sum(np.cos(g(np.sin(v), np.tanh(np.multiply(v, 0.3)))));
  const READS_V: [string, G][] = [
    ['sin', (v) => np.sin(v)],
    ['scan', viaScan((c, y) => [np.multiply(c, np.sin(y)), y])],
  ];
  it('bytes held equal those of the plain function, for every policy and under jit', () => {
    for (const [name, g] of READS_V) {
      const plain = heldBytes(unused(g), x);
      // (Before: 28 bytes more, the [2, 3] coefficient of tanh and the scalar 0.3.)
      expect(heldBytes(unused(ck(g)), x), name).toBe(plain);
      expect(heldBytes(unused(jit(g)), x), `jit ${name}`).toBe(plain);
      expect(heldBytes(unused(ck(g, nothingSaveable)), x), `nothingSaveable ${name}`).toBeLessThanOrEqual(heldBytes(unused((v, k) => checkpoint((u: NDArray) => g(u, k), { policy: nothingSaveable })(v)), x));
    }
  });

  it('values and gradients equal the plain function at orders 1 and 2; no leaks', () => {
    inScope(() => {
      for (const [name, g] of READS_V) {
        for (const h of [ck(g), ck(g, nothingSaveable), jit(g)]) {
          const f = unused(h);
          const tol = { rtol: 1e-5, atol: 1e-6, label: name };
          expectTreeClose(f(x), unused(g)(x), tol);
          expectTreeClose(grad(f)(x), grad(unused(g))(x), tol);
          expectTreeClose(jit(grad(f))(x), grad(unused(g))(x), tol);
          checkGrads(f, [x], { order: 2 });
          expectNoLeak(`grad (${name})`, () => grad(f)(x));
        }
      }
    });
  });
});

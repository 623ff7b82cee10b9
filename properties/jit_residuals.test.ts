// jit(f)'s pullback holds what f's holds. A residual of jit(f) that is one of its inputs (an
// argument or a closed-over array) was returned by the jitted known part, whose outputs are new
// tensors (an input returned is cloned), so the pullback held a copy of every input it saves; it is
// now taken from the input itself, as the un-jitted f does. Checked by the bytes held, and by values
// and gradients (orders 1 and 2, under vmap and jit) against f; no leaks.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as tf from '@tensorflow/tfjs-core';
import { checkpoint, DisposedError, dispose, grad, jit, np, switchCase, vjp, vmap, type NDArray } from '../src/index.js';
import { checkGrads } from '../src/testing/index.js';
import { FC_SEED, inScope } from './helpers.js';
import { heldBytes } from './checkpoint_helpers.js';
import { expectNoLeak, expectTreeClose } from './loop_oracle.js';

const x = np.array([[1, -0.5, 0.25], [0.5, 2, -1]], 'float32');
const w = np.array([[0.5, -0.2, 0.1], [0.3, 0.4, -0.6]], 'float32');
const xs = np.stack([x, np.multiply(x, -0.75)]);
const sinAt = checkpoint((u: NDArray) => np.sin(u));
const FS: [string, (v: NDArray) => NDArray][] = [
  // v itself is a residual (d(v·v) = 2 v dv).
  ['argument', (v) => np.sum(np.sin(np.multiply(v, v)))],
  // The closed-over w is a residual (d(sin v · w) = cos v · w dv).
  ['closed over', (v) => np.sum(np.multiply(np.sin(v), w))],
  // A branch recomputing sin from its operand v: v is a residual of the cond.
  ['checkpoint in a switch branch', (v) => np.sum(np.cos(switchCase(np.argmax(np.sum(x, 0)), [(u: NDArray) => sinAt(np.sin(u)), (u: NDArray) => np.cos(u), sinAt], v) as NDArray))],
];

describe('jit(f) holds what f holds', () => {
  it('an input saved as a residual is held once, not copied', () => {
    // (Before: 24 bytes more each, a copy of v or w.)
    for (const [name, f] of FS) expect(heldBytes(jit(f), x), name).toBe(heldBytes(f, x));
  });

  it('for random inputs too (fast-check, seeded)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: FS.length - 1 }), fc.float({ min: -2, max: 2, noNaN: true }), (i, s) => {
        const v = np.multiply(x, s);
        const f = FS[i]![1];
        const same = heldBytes(jit(f), v) === heldBytes(f, v);
        dispose(v);
        return same;
      }),
      { seed: FC_SEED, numRuns: 10 },
    );
  });

  it('values and gradients equal f at orders 1 and 2, under vmap and jit; no leaks', () => {
    const gg = (h: (v: NDArray) => NDArray) => grad((v: NDArray) => np.sum(np.multiply(grad(h)(v), np.cos(v))));
    inScope(() => {
      for (const [name, f] of FS) {
        const tol = { rtol: 1e-5, atol: 1e-6, label: name };
        const jf = jit(f);
        expectTreeClose(jf(x), f(x), tol);
        expectTreeClose(grad(jf)(x), grad(f)(x), tol);
        expectTreeClose(jit(grad(jf))(x), grad(f)(x), tol);
        expectTreeClose(vmap(grad(jf))(xs), vmap(grad(f))(xs), tol);
        expectTreeClose(gg(jf)(x), gg(f)(x), { ...tol, rtol: 1e-4 });
        checkGrads(jf, [x], { order: 2 });
        expectNoLeak(`grad (${name})`, () => grad(jf)(x));
      }
    });
  });
});

// Since a residual that is an input is that input (not a copy), jit(f)'s pullback reads the
// caller's argument as f's and checkpoint(f)'s do: freeing it before the pullback is called is a
// DisposedError for all three (before, jit(f) alone went on, on its copy), as the README says.
describe('the pullback reads the argument it saves', () => {
  it('freeing the argument first is a DisposedError for f, jit(f) and checkpoint(f) alike; freeing it after is fine; no leaks', () => {
    const f = FS[0]![1];
    const want = np.multiply(np.multiply(x, 2), np.cos(np.multiply(x, x))); // d sum(sin(v²)) = 2v cos(v²)
    for (const [name, g] of [['f', f], ['jit(f)', jit(f)], ['checkpoint(f)', checkpoint(f)]] as const) {
      for (const freeFirst of [true, false]) {
        const before = tf.memory().numTensors;
        const v = np.multiply(x, 1);
        const [out, pullback] = vjp(g, v);
        const one = np.onesLike(out);
        if (freeFirst) {
          dispose(v);
          expect(() => pullback(one), name).toThrow(DisposedError);
        } else {
          const [ct] = pullback(one);
          expectTreeClose(ct!, want, { rtol: 1e-5, atol: 1e-6, label: name });
          dispose([ct, v]);
        }
        pullback.dispose();
        dispose([out, one]);
        expect(tf.memory().numTensors - before, `${name}, argument freed ${freeFirst ? 'first' : 'after'}`).toBe(0);
      }
    }
    dispose(want);
  });
});

// A per-step value that is both an output of a scan (ys) and a residual of its linear part is
// stacked once: the linear scan reads the known scan's ys instead of a second stack of the same
// values. Checked by the bytes a pullback holds (plain vjp, and under save-everything policies,
// everythingSaveable and a custom one), by hand count, and by values and gradients (orders 1 and
// 2, under vmap and jit) against the same loop unrolled in JS; no leaks.
import { describe, expect, it } from 'vitest';
import { checkpoint, everythingSaveable, grad, jit, nothingSaveable, dotsSaveable, np, scan, vmap, type CheckpointPolicy, type NDArray } from '../src/index.js';
import { checkGrads } from '../src/testing/index.js';
import { inScope } from './helpers.js';
import { expectNoLeak, expectTreeClose } from './loop_oracle.js';
import { heldBytes } from './checkpoint_helpers.js';

const W = np.array([[0.5, -0.2, 0.1], [0.3, 0.4, -0.6], [0.2, 0.1, 0.3]], 'float32');
const x = np.array([[1, -0.5, 0.25], [0.5, 2, -1]], 'float32');
const xsList = [x, np.negative(x), np.multiply(x, 0.5)];
const XS = np.stack(xsList);
// n = sin((c + y) W) is the step's output and a residual of the next carry n * n; the caller's
// ys * ys keeps ys as a residual too.
const step = (c: NDArray, y: NDArray): [NDArray, NDArray] => {
  const n = np.sin(np.matmul(np.add(c, y), W));
  return [np.multiply(n, n), n];
};
const looped = (h: NDArray) => {
  const [c, ys] = scan(step, h, XS);
  return np.add(np.sum(np.sin(c)), np.sum(np.multiply(ys as NDArray, ys as NDArray)));
};
const unrolled = (h: NDArray) => {
  let c = h;
  const ys: NDArray[] = [];
  for (const y of xsList) {
    const [cn, n] = step(c, y);
    c = cn;
    ys.push(n);
  }
  const s = np.stack(ys);
  return np.add(np.sum(np.sin(c)), np.sum(np.multiply(s, s)));
};
const saveAll: CheckpointPolicy = { name: 'saveAll', saveable: () => true };

describe('a scan output that is also a residual', () => {
  it('is stacked once: the pullback holds ys, the stacked cosines and the final carry\'s cosine', () => {
    // ys [3, 2, 3] (read by ys * ys and by the linear scan for n * n), cos((c + y) W) per step
    // [3, 2, 3], cos(c) [2, 3]. Before, n was stacked again as a residual: 240 bytes.
    const want = (18 + 18 + 6) * 4;
    expect(heldBytes(looped, x)).toBe(want);
    expect(heldBytes(checkpoint(looped, { policy: everythingSaveable }), x)).toBe(want);
    expect(heldBytes(checkpoint(looped, { policy: saveAll }), x)).toBe(want);
    expect(heldBytes(checkpoint(looped, { policy: nothingSaveable }), x)).toBe(0);
  });

  it('values and gradients equal the unrolled loop, at orders 1 and 2, under vmap and jit, for every policy; no leaks', () => {
    inScope(() => {
      const samples = [x, np.multiply(x, 0.5), np.negative(x)];
      const want = grad(unrolled)(x);
      for (const f of [looped, ...[everythingSaveable, saveAll, nothingSaveable, dotsSaveable].map((policy) => checkpoint(looped, { policy }))]) {
        expectTreeClose(f(x), unrolled(x), { rtol: 1e-5, atol: 1e-6 });
        expectTreeClose(grad(f)(x), want, { rtol: 1e-5, atol: 1e-6 });
        expectTreeClose(jit(grad(f))(x), want, { rtol: 1e-5, atol: 1e-6 });
        expectTreeClose(vmap(grad(f))(np.stack(samples)), np.stack(samples.map((v) => grad(unrolled)(v))), { rtol: 1e-5, atol: 1e-6 });
        checkGrads(f, [x], { order: 2 });
        expectNoLeak('grad', () => grad(f)(x));
      }
    });
  });
});

// The carry-in c returned as ys, while the derivative of c * v needs c per step: the residual is
// that ys (the carry binder itself), stacked once. The caller's cs * sin(v) keeps cs as a residual
// too. Forward and reverse scans (the ys of step t is the carry-in of step t either way).
const carryOut = (reverse: boolean) => (v: NDArray) => {
  const [, ys] = scan((c: NDArray, y: NDArray) => [np.sin(np.add(c, y)), [c, np.multiply(c, v)]], x, XS, { reverse });
  const [cs, cv] = ys as [NDArray, NDArray];
  return np.sum(np.add(np.multiply(cs, np.sin(v)), cv));
};
const carryOutUnrolled = (reverse: boolean) => (v: NDArray) => {
  let c = x;
  const cs: NDArray[] = [], cv: NDArray[] = [];
  for (const y of reverse ? [...xsList].reverse() : xsList) {
    cs.push(c);
    cv.push(np.multiply(c, v));
    c = np.sin(np.add(c, y));
  }
  if (reverse) { cs.reverse(); cv.reverse(); }
  return np.sum(np.add(np.multiply(np.stack(cs), np.sin(v)), np.stack(cv)));
};

describe('a carry-in returned as a scan output and read by the derivative', () => {
  it('is stacked once: the pullback holds the carries cs and cos(v)', () => {
    // cs [3, 2, 3] (read by cs * sin(v) and by the linear scan for c * v), cos(v) [2, 3]. Before,
    // c was stacked again as a residual: 168 bytes.
    const want = (18 + 6) * 4;
    for (const reverse of [false, true]) {
      expect(heldBytes(carryOut(reverse), x), `reverse ${reverse}`).toBe(want);
      expect(heldBytes(checkpoint(carryOut(reverse), { policy: everythingSaveable }), x)).toBe(want);
      expect(heldBytes(checkpoint(carryOut(reverse), { policy: saveAll }), x)).toBe(want);
      expect(heldBytes(jit(carryOut(reverse)), x)).toBe(want);
    }
  });

  it('values and gradients equal the unrolled loop, at orders 1 and 2, under vmap and jit, for every policy; no leaks', () => {
    inScope(() => {
      const samples = [x, np.multiply(x, 0.5), np.negative(x)];
      for (const reverse of [false, true]) {
        const ref = carryOutUnrolled(reverse);
        const want = grad(ref)(x);
        for (const f of [carryOut(reverse), ...[everythingSaveable, nothingSaveable, dotsSaveable].map((policy) => checkpoint(carryOut(reverse), { policy }))]) {
          const tol = { rtol: 1e-5, atol: 1e-6, label: `reverse ${reverse}` };
          expectTreeClose(f(x), ref(x), tol);
          expectTreeClose(grad(f)(x), want, tol);
          expectTreeClose(jit(grad(f))(x), want, tol);
          expectTreeClose(vmap(grad(f))(np.stack(samples)), np.stack(samples.map((v) => grad(ref)(v))), tol);
          expectNoLeak('grad', () => grad(f)(x));
        }
        checkGrads(carryOut(reverse), [x], { order: 2 });
      }
    });
  });
});

// Checkpoint policies reach inside scan bodies (JAX applies the remat policy in scan's partial
// evaluation): under checkpoint(f, {policy}) a scan in f saves, stacked, the per-step values the
// policy saves, and the backward pass recomputes only the rest (a second scan that carries the
// known carries again). Checked by counting equations of the traced programs (nested programs
// included) against the same scan with the policy applied to its body instead, by kernel
// executions at run time and by the bytes a pullback holds; values and gradients (orders 1 and 2,
// under vmap and jit) equal the un-checkpointed function; no leaks.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  NDArray, checkpoint, checkpointName, dotsSaveable, everythingSaveable, grad, jit, makeJaxpr, nothingSaveable, np, saveOnlyTheseNames, scan, vmap, whileLoop, type CheckpointPolicy,
} from '../src/index.js';
import { Rng, checkGrads } from '../src/testing/index.js';
import { FC_SEED, inScope, kernelCounts } from './helpers.js';
import { expectNoLeak, expectTreeClose, randomArray } from './loop_oracle.js';
import { deepCount, heldBytes } from './checkpoint_helpers.js';

const POLICIES: CheckpointPolicy[] = [nothingSaveable, everythingSaveable, dotsSaveable, saveOnlyTheseNames('a')];
const PRIMS = ['dot_general', 'sin', 'cos', 'tanh', 'checkpoint_name'];
const L = 5, D = 3;

describe('policies apply inside a scan body', () => {
  const W = np.array([[0.5, -0.2, 0.1], [0.3, 0.4, -0.6], [0.2, 0.1, 0.3]], 'float32');
  const xs = np.array([[1, -0.5, 0.25], [0.5, 2, -1], [0.1, 0.2, 0.3], [1, 1, 1], [-0.3, 0.7, 0.2]], 'float32');
  // An RNN cell: sin of a product, named, then tanh. cos(h W) (sin's derivative) needs the product again.
  const cell = (h: NDArray, x: NDArray): [NDArray, NDArray] => {
    const hn = np.tanh(np.add(checkpointName(np.sin(np.matmul(h, W)), 'a'), x));
    return [hn, hn];
  };
  const readout = (h: NDArray, ys: NDArray) => np.sum(np.exp(np.multiply(np.add(np.sum(ys), np.sum(h)), 0.1)));
  const rnn = (h0: NDArray) => readout(...scan(cell, h0, xs));
  // The policy applied to the body instead (each step checkpointed).
  const perStep = (policy: CheckpointPolicy) => (h0: NDArray) => readout(...scan(checkpoint(cell, { policy }), h0, xs));
  const h0 = np.array([0.1, 0.2, 0.3], 'float32');
  const count = (f: (h: NDArray) => NDArray, prim: string) => deepCount(makeJaxpr(grad(f))(h0).jaxpr, prim);
  const extra = (policy: CheckpointPolicy, prim: string) => count(checkpoint(rnn, { policy }), prim) - count(rnn, prim);

  it('saveOnlyTheseNames saves the name per step: nothing before it is recomputed', () => {
    const p = saveOnlyTheseNames('a');
    // (Before: the whole scan was recomputed, sin and the product included.)
    expect(extra(p, 'sin')).toBe(0);
    expect(extra(p, 'checkpoint_name')).toBe(0);
    // The product is recomputed for cos(h W); tanh rebuilds the carry from the saved names.
    expect(extra(p, 'dot_general')).toBe(1);
    expect(extra(p, 'tanh')).toBe(1);
  });

  it('dotsSaveable saves the product per step', () => {
    expect(extra(dotsSaveable, 'dot_general')).toBe(0);
    expect(extra(dotsSaveable, 'sin')).toBe(1);
    expect(extra(everythingSaveable, 'sin')).toBe(0);
  });

  it('every policy recomputes as much around the scan as applied to its body', () => {
    for (const policy of POLICIES) {
      for (const prim of PRIMS) expect(count(checkpoint(rnn, { policy }), prim), `${policy.name}: ${prim}`).toBe(count(perStep(policy), prim));
    }
  });

  it('at run time: Sin and MatMul kernel executions per policy', async () => {
    const runs = async (f: (h: NDArray) => NDArray) => {
      const m = await kernelCounts(() => grad(f)(h0));
      return { sin: m.get('Sin') ?? 0, mm: ['BatchMatMul', 'MatMul', 'MatMulNT', 'MatMulBias'].reduce((n, k) => n + (m.get(k) ?? 0), 0) };
    };
    const plain = await runs(rnn);
    expect((await runs(checkpoint(rnn, { policy: saveOnlyTheseNames('a') }))).sin).toBe(plain.sin);
    expect((await runs(checkpoint(rnn, { policy: dotsSaveable }))).mm).toBe(plain.mm);
    expect((await runs(checkpoint(rnn, { policy: nothingSaveable }))).sin).toBe(2 * plain.sin);
  });

  it('the forward pass holds the saved values, one [D] slice per step, and no carry', () => {
    const nothing = heldBytes(checkpoint(rnn, { policy: nothingSaveable }), h0);
    for (const policy of [saveOnlyTheseNames('a'), dotsSaveable]) {
      expect(heldBytes(checkpoint(rnn, { policy }), h0) - nothing, policy.name).toBe(L * D * 4);
    }
    expect(heldBytes(checkpoint(rnn, { policy: saveOnlyTheseNames('nobody') }), h0)).toBe(nothing);
  });

  it('gradients equal the un-checkpointed function for every policy, at orders 1 and 2, under vmap and jit; no leaks', () => {
    inScope(() => {
      const hs = np.stack([h0, np.multiply(h0, -2), np.add(h0, 0.5)]);
      const want = grad(rnn)(h0);
      const gg = (f: (h: NDArray) => NDArray) => grad((h: NDArray) => np.sum(np.multiply(grad(f)(h), np.cos(h))))(h0);
      const want2 = gg(rnn);
      const wantV = vmap(grad(rnn))(hs);
      for (const policy of [...POLICIES, saveOnlyTheseNames('nobody')]) {
        const ck = checkpoint(rnn, { policy });
        const tol = { rtol: 1e-5, atol: 1e-6, label: policy.name };
        expectTreeClose(ck(h0), rnn(h0), tol);
        expectTreeClose(grad(ck)(h0), want, tol);
        expectTreeClose(gg(ck), want2, { ...tol, rtol: 1e-4 });
        expectTreeClose(vmap(grad(ck))(hs), wantV, tol);
        expectTreeClose(jit(grad(ck))(h0), want, tol);
        expectTreeClose(grad(jit(ck))(h0), want, tol);
        expectNoLeak(`grad (${policy.name})`, () => grad(ck)(h0));
        expectNoLeak(`grad∘grad (${policy.name})`, () => gg(ck));
      }
    });
  });
});

describe('a layer stack written as a scan over stacked weights', () => {
  // x -> tanh(name(x W_l + b_l)) for L layers; the weights are xs, so their gradients are stacked ys of the transposed scan.
  const rng = new Rng(7);
  const Ws = randomArray(rng, [L, D, D], -0.8, 0.8), bs = randomArray(rng, [L, D], -0.5, 0.5);
  const x0 = randomArray(rng, [2, D]);
  const stack = (ws: NDArray, b: NDArray, x: NDArray) => {
    const [h] = scan((h: NDArray, wb: [NDArray, NDArray]) => [np.tanh(checkpointName(np.add(np.matmul(h, wb[0]), wb[1]), 'z')), null] as const, x, [ws, b]);
    return np.sum(np.square(h));
  };
  const all = { argnums: [0, 1, 2] };

  it('saveOnlyTheseNames(z) recomputes only tanh (no product), and holds one pre-activation per layer', () => {
    const ck = checkpoint(stack, { policy: saveOnlyTheseNames('z') });
    const c = (f: typeof stack, prim: string) => deepCount(makeJaxpr(grad(f, all))(Ws, bs, x0).jaxpr, prim);
    expect(c(ck, 'dot_general')).toBe(c(stack, 'dot_general'));
    expect(c(ck, 'tanh')).toBe(c(stack, 'tanh') + 1);
    const nothing = heldBytes(checkpoint(stack, { policy: nothingSaveable }), Ws, bs, x0);
    expect(heldBytes(ck, Ws, bs, x0) - nothing).toBe(L * 2 * D * 4);
  });

  it('gradients equal the plain stack for every policy, at order 2 (checkGrads), under vmap and jit', () => {
    inScope(() => {
      const want = grad(stack, all)(Ws, bs, x0);
      const x0s = np.stack([x0, np.negative(x0)]);
      const wantV = vmap(grad(stack, all), { inAxes: [null, null, 0] })(Ws, bs, x0s);
      for (const policy of [...POLICIES, saveOnlyTheseNames('z')]) {
        const ck = checkpoint(stack, { policy });
        const tol = { rtol: 1e-5, atol: 1e-6, label: policy.name };
        expectTreeClose(grad(ck, all)(Ws, bs, x0), want, tol);
        expectTreeClose(jit(grad(ck, all))(Ws, bs, x0), want, tol);
        expectTreeClose(vmap(grad(ck, all), { inAxes: [null, null, 0] })(Ws, bs, x0s), wantV, tol);
        checkGrads(ck, [Ws, bs, x0], { order: 2 });
        expectNoLeak(`grad (${policy.name})`, () => grad(ck, all)(Ws, bs, x0));
      }
    });
  });
});

describe('random scan bodies', () => {
  // A body mixing products, names and elementwise work; a carry the body sets from known values
  // only, an unused carry, a reverse scan and a scan in a jit in the checkpoint are drawn too.
  interface Case { ops: number[]; policy: number; reverse: boolean; jitted: boolean; seed: number }
  const arbCase: fc.Arbitrary<Case> = fc.record({
    ops: fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 1, maxLength: 5 }),
    policy: fc.integer({ min: 0, max: 4 }),
    reverse: fc.boolean(),
    jitted: fc.boolean(),
    seed: fc.integer(),
  });
  const policies = [...POLICIES, saveOnlyTheseNames('a', 'b')];
  const step = (op: number, h: NDArray, x: NDArray, w: NDArray): NDArray => {
    switch (op) {
      case 0: return np.matmul(h, w);
      case 1: return checkpointName(np.sin(h), 'a');
      case 2: return np.tanh(np.add(h, x));
      case 3: return checkpointName(np.multiply(h, x), 'b');
      case 4: return np.cos(np.matmul(np.exp(np.multiply(h, 0.3)), w));
      default: return np.add(h, checkpointName(np.multiply(x, x), 'a'));
    }
  };

  it('checkpoint(f) equals f in value, gradient, grad∘grad, vmap(grad) and jit(grad) for every policy', () => {
    fc.assert(
      fc.property(arbCase, (c) =>
        inScope(() => {
          const rng = new Rng(c.seed);
          const W = randomArray(rng, [D, D], -0.7, 0.7), xs = randomArray(rng, [4, D]), h0 = randomArray(rng, [D]);
          const f = (h: NDArray, w: NDArray) => {
            const run = (hh: NDArray, ww: NDArray) => scan((carry: [NDArray, NDArray, NDArray], x: NDArray) => {
              const [a, , k] = carry;
              const next = c.ops.reduce((v, op) => step(op, v, x, ww), a);
              // k: set from known values only; the middle carry is never read.
              return [[next, np.sin(x), np.add(k, np.cos(x))], np.multiply(next, k)] as [[NDArray, NDArray, NDArray], NDArray];
            }, [hh, np.zeros([D]), np.ones([D])], xs, { reverse: c.reverse });
            const [[hn, , k], ys] = (c.jitted ? jit(run) : run)(h, w);
            return np.add(np.sum(np.sin(ys)), np.sum(np.multiply(hn, k)));
          };
          const policy = policies[c.policy]!;
          const ck = checkpoint(f, { policy });
          const label = `${policy.name}: ops ${c.ops.join(',')}${c.reverse ? ', reverse' : ''}${c.jitted ? ', jitted' : ''}`;
          const all = { argnums: [0, 1] };
          const tol = { rtol: 1e-4, atol: 1e-5 };
          expectTreeClose(ck(h0, W), f(h0, W), { ...tol, label: `value: ${label}` });
          const want = grad(f, all)(h0, W);
          expectTreeClose(grad(ck, all)(h0, W), want, { ...tol, label: `grad: ${label}` });
          expectTreeClose(jit(grad(ck, all))(h0, W), want, { ...tol, label: `jit(grad): ${label}` });
          const gg = (g: typeof f) => grad((h: NDArray) => np.sum(np.multiply(grad(g)(h, W), np.cos(h))))(h0);
          expectTreeClose(gg(ck), gg(f), { rtol: 1e-3, atol: 1e-4, label: `grad∘grad: ${label}` });
          const hs = np.stack([h0, np.multiply(h0, 0.5)]);
          expectTreeClose(vmap(grad(ck), { inAxes: [0, null] })(hs, W), vmap(grad(f), { inAxes: [0, null] })(hs, W), { ...tol, label: `vmap(grad): ${label}` });
          // The pullback holds no more than with the whole scan recomputed plus what the policy saves: never more than everythingSaveable.
          expect(heldBytes(ck, h0, W), `residual bytes: ${label}`).toBeLessThanOrEqual(heldBytes(checkpoint(f, { policy: everythingSaveable }), h0, W));
        }),
      ),
      { seed: FC_SEED, numRuns: 30 },
    );
  });
});

describe('a scan nested in a scan', () => {
  it('the policy reaches the inner body: a name inside it is not recomputed; gradients equal the plain function at orders 1 and 2', () => {
    inScope(() => {
      const rng = new Rng(3);
      const W = randomArray(rng, [D, D], -0.7, 0.7), xs = randomArray(rng, [3, 2, D]), h0 = randomArray(rng, [D]);
      const inner = (h: NDArray, x: NDArray): [NDArray, NDArray] => {
        const hn = np.tanh(np.add(checkpointName(np.sin(np.matmul(h, W)), 'a'), x));
        return [hn, np.cos(hn)];
      };
      const f = (h: NDArray) => {
        const [hn, ys] = scan((c: NDArray, x: NDArray) => scan(inner, c, x), h, xs);
        return np.sum(np.multiply(np.square(ys), np.sum(hn)));
      };
      const count = (g: typeof f, prim: string) => deepCount(makeJaxpr(grad(g))(h0).jaxpr, prim);
      expect(count(checkpoint(f, { policy: saveOnlyTheseNames('a') }), 'sin')).toBe(count(f, 'sin'));
      expect(count(checkpoint(f, { policy: nothingSaveable }), 'sin')).toBe(count(f, 'sin') + 1);
      for (const policy of [...POLICIES, saveOnlyTheseNames('a')]) {
        const ck = checkpoint(f, { policy });
        const tol = { rtol: 1e-5, atol: 1e-6, label: policy.name };
        expectTreeClose(grad(ck)(h0), grad(f)(h0), tol);
        checkGrads(ck, [h0], { order: 2 });
        expectTreeClose(jit(grad(ck))(h0), grad(f)(h0), tol);
        expectNoLeak(`grad (${policy.name})`, () => grad(ck)(h0));
      }
    });
  });
});

describe('a while loop in a checkpointed function', () => {
  // As in JAX, a while loop keeps no per-iteration values (its trip count is known only by running
  // it, and reverse mode cannot go through it): under any policy a loop the backward pass needs
  // a value of is recomputed whole, names inside it included. Differentiating through the loop's
  // carry fails, naming scan as the alternative.
  const W = np.array([[0.5, -0.2, 0.1], [0.3, 0.4, -0.6], [0.2, 0.1, 0.3]], 'float32');
  const x = np.array([[1, -0.5, 0.25], [0.5, 2, -1]], 'float32');
  // A scale found by a loop over a non-differentiated value (stopped at the first power of 2 above 5·|W|).
  const scale = () => whileLoop((s: NDArray) => np.less(s, np.multiply(np.sum(np.abs(checkpointName(np.sin(W), 'a'))), 5)), (s: NDArray) => np.multiply(s, 2), np.array(1, 'float32'));
  const f = (v: NDArray) => np.sum(np.tanh(np.multiply(np.matmul(v, W), scale())));

  it('is recomputed whole under every policy; gradients equal the plain function', () => {
    inScope(() => {
      for (const policy of [...POLICIES, saveOnlyTheseNames('a')]) {
        const ck = checkpoint(f, { policy });
        expectTreeClose(grad(ck)(x), grad(f)(x), { rtol: 1e-5, atol: 1e-6, label: policy.name });
        expectTreeClose(jit(grad(ck))(x), grad(f)(x), { rtol: 1e-5, atol: 1e-6, label: policy.name });
        const whiles = deepCount(makeJaxpr(grad(ck))(x).jaxpr, 'while');
        expect(whiles, policy.name).toBe(policy === everythingSaveable ? 1 : 2);
      }
    });
  });

  it('differentiating through the carry fails with an error naming scan', () => {
    const g = checkpoint((v: NDArray) => np.sum(whileLoop((c: [NDArray, NDArray]) => np.less(c[1], 3), (c: [NDArray, NDArray]) => [np.sin(c[0]), np.add(c[1], 1)] as [NDArray, NDArray], [v, np.array(0, 'float32')])[0]), { policy: saveOnlyTheseNames('a') });
    expect(() => grad(g)(x)).toThrow(/scan/);
  });
});

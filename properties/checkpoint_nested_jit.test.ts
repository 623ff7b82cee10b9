// Checkpoint policies see inside nested jit calls (JAX's remat recurses into pjit equations): a
// value a policy saves is saved even when it is computed inside jit(g) within the checkpointed
// function, and the backward pass recomputes exactly what it would with g inlined. Checked by
// counting equations in the traced programs (nested programs included) and kernel executions at
// run time, against the same function with g inlined; values and gradients (orders 1 and 2, under
// vmap and jit) equal the un-checkpointed function; no leaks.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  NDArray, checkpoint, checkpointName, dispose, dotsSaveable, everythingSaveable, grad, jit, makeJaxpr, nothingSaveable, np, saveOnlyTheseNames, vmap, type CheckpointPolicy,
} from '../src/index.js';
import { Rng, checkGrads } from '../src/testing/index.js';
import { arbExpr, arbInputShapes, evalExpr, showExpr, type Expr } from './compositions.js';
import { FC_SEED, inScope, kernelCounts } from './helpers.js';
import { deepCount, heldBytes } from './checkpoint_helpers.js';
import { expectNoLeak, expectTreeClose, loopVmap, moderate, randomArray } from './loop_oracle.js';

const matmuls = (m: Map<string, number>) => ['BatchMatMul', 'MatMul', 'MatMulNT', 'MatMulBias'].reduce((n, k) => n + (m.get(k) ?? 0), 0);

const POLICIES: CheckpointPolicy[] = [nothingSaveable, everythingSaveable, dotsSaveable, saveOnlyTheseNames('a')];
const PRIMS = ['dot_general', 'sin', 'cos', 'tanh', 'exp', 'checkpoint_name'];

describe('policies apply inside a nested jit', () => {
  const W = np.array([[0.5, -0.2, 0.1], [0.3, 0.4, -0.6], [0.2, 0.1, 0.3]], 'float32');
  const x = np.array([[1, -0.5, 0.25], [0.5, 2, -1]], 'float32');
  const g = (v: NDArray) => np.matmul(checkpointName(np.sin(np.matmul(v, W)), 'a'), W);
  const jg = jit(g), jjg = jit((v: NDArray) => np.cos(jit(g)(v)));
  // The same function three ways: g inlined, g jitted, and a jit inside a jit.
  const inlined = (v: NDArray) => np.sum(np.exp(np.tanh(g(v))));
  const nested = (v: NDArray) => np.sum(np.exp(np.tanh(jg(v))));
  const inlined2 = (v: NDArray) => np.sum(np.exp(np.tanh(np.cos(g(v)))));
  const nested2 = (v: NDArray) => np.sum(np.exp(np.tanh(jjg(v))));
  const extra = (f: (v: NDArray) => NDArray, policy: CheckpointPolicy, prim: string) =>
    deepCount(makeJaxpr(grad(checkpoint(f, { policy })))(x).jaxpr, prim) - deepCount(makeJaxpr(grad(f))(x).jaxpr, prim);

  it('saveOnlyTheseNames saves a name tagged inside jit(g): nothing before it is recomputed', () => {
    const p = saveOnlyTheseNames('a');
    // (Before: the whole jit was recomputed, sin and the first matmul included.)
    expect(extra(nested, p, 'sin')).toBe(0);
    expect(extra(nested, p, 'checkpoint_name')).toBe(0);
    // The first matmul is recomputed for cos(v W), the second because it is not named.
    expect(extra(nested, p, 'dot_general')).toBe(2);
    expect(extra(nested, p, 'tanh')).toBe(1);
  });

  it('dotsSaveable saves the products computed inside jit(g)', () => {
    expect(extra(nested, dotsSaveable, 'dot_general')).toBe(0);
    expect(extra(nested, dotsSaveable, 'sin')).toBe(0);
    expect(extra(nested, dotsSaveable, 'tanh')).toBe(1);
  });

  it('every policy recomputes as much with g jitted (once or twice nested) as with g inlined', () => {
    for (const policy of POLICIES) {
      for (const prim of PRIMS) {
        expect(extra(nested, policy, prim), `${policy.name}: ${prim}`).toBe(extra(inlined, policy, prim));
        expect(extra(nested2, policy, prim), `${policy.name}, jit in jit: ${prim}`).toBe(extra(inlined2, policy, prim));
      }
    }
  });

  it('at second order too (grad of grad): the checkpointed program computes as much with g jitted as inlined', () => {
    // Absolute counts: without a checkpoint, grad∘grad through a jit already differs from the
    // inlined function (the jit's linearization recomputes its known part), so extras would not compare.
    const gg = (f: (v: NDArray) => NDArray) => (v: NDArray) => np.sum(np.multiply(grad(f)(v), np.cos(v)));
    const count2 = (f: (v: NDArray) => NDArray, policy: CheckpointPolicy, prim: string) => deepCount(makeJaxpr(grad(gg(checkpoint(f, { policy }))))(x).jaxpr, prim);
    for (const policy of POLICIES) {
      for (const prim of PRIMS) expect(count2(nested, policy, prim), `${policy.name}: ${prim}`).toBe(count2(inlined, policy, prim));
    }
    // (Before, dotsSaveable and saveOnlyTheseNames recomputed sin inside the jit: 4 against 3.)
    expect(count2(nested, saveOnlyTheseNames('a'), 'sin')).toBe(deepCount(makeJaxpr(grad(gg(inlined)))(x).jaxpr, 'sin'));
  });

  it('at run time: matmul kernel executions per policy match the inlined function', async () => {
    for (const policy of POLICIES) {
      const a = matmuls(await kernelCounts(() => grad(checkpoint(nested, { policy }))(x)));
      const b = matmuls(await kernelCounts(() => grad(checkpoint(inlined, { policy }))(x)));
      expect(a, policy.name).toBe(b);
    }
    const plain = matmuls(await kernelCounts(() => grad(inlined)(x)));
    expect(matmuls(await kernelCounts(() => grad(checkpoint(nested, { policy: dotsSaveable }))(x)))).toBe(plain);
  });

  it('an output of jit(g) that the backward pass does not read is not recomputed', async () => {
    // sum(jit(h)(v)) with h = sin(v W): the derivative of sum needs no sin, so the recompute
    // equation must not rebuild it (it rebuilt every known output of the call: one more sin, run
    // eagerly, than with h inlined, under every policy but everythingSaveable).
    const h = (v: NDArray) => np.sin(np.matmul(v, W));
    const jh = jit(h);
    const plainOut = (v: NDArray) => np.sum(h(v));
    const jittedOut = (v: NDArray) => np.sum(jh(v));
    const sins = (m: Map<string, number>) => m.get('Sin') ?? 0;
    for (const policy of POLICIES) {
      for (const prim of ['sin', 'cos', 'dot_general']) expect(extra(jittedOut, policy, prim), `${policy.name}: ${prim}`).toBe(extra(plainOut, policy, prim));
      const a = sins(await kernelCounts(() => grad(checkpoint(jittedOut, { policy }))(x)));
      expect(a, policy.name).toBe(sins(await kernelCounts(() => grad(checkpoint(plainOut, { policy }))(x))));
    }
  });

  it('the forward pass saves no more with the blocks of a chain jitted than inlined', () => {
    // Bytes the pullback of vjp holds (the residuals), for a chain of blocks each naming its
    // output. The last block's output is not read by the backward pass (sum's derivative does not
    // need it), so inlined it is not saved; jitted, it was (the nested split made every known
    // output of the call recomputable, and kept whatever that needed), so were values saved only
    // to rebuild an output nobody reads.
    const Ws = [W, np.multiply(W, 0.5), np.negative(W)];
    const block = (h: NDArray, w: NDArray) => checkpointName(np.sin(np.tanh(np.exp(np.multiply(np.cos(np.matmul(h, w)), 0.5)))), 'h');
    const jblock = jit(block);
    const chain = (b: (h: NDArray, w: NDArray) => NDArray) => (v: NDArray) => np.sum(Ws.reduce((h, w) => b(h, w), v));
    const held = (f: (v: NDArray) => NDArray): number => heldBytes(f, x);
    for (const policy of [saveOnlyTheseNames('h'), dotsSaveable, nothingSaveable]) {
      const inl = held(checkpoint(chain(block), { policy }));
      expect(held(checkpoint(chain(jblock), { policy })), policy.name).toBe(inl);
      expect(held(checkpoint(jit(chain(jblock)), { policy })), `${policy.name}, the chain jitted too`).toBe(inl);
    }
    // (saveOnlyTheseNames saves the first two blocks' outputs, [2, 3] float32 each.)
    expect(held(checkpoint(chain(jblock), { policy: saveOnlyTheseNames('h') }))).toBe(2 * 2 * 3 * 4);
    dispose(Ws.slice(1));
  });

  it('gradients equal the un-checkpointed function for every policy, at orders 1 and 2, under vmap and jit; no leaks', () => {
    inScope(() => {
      const xs = np.stack([x, np.multiply(x, 0.5), np.negative(x)]);
      const want = grad(inlined)(x);
      const want2 = grad((v: NDArray) => np.sum(grad(inlined)(v)))(x);
      const wantV = vmap(grad(inlined))(xs);
      for (const policy of POLICIES) {
        for (const f of [nested, nested2]) {
          const ck = checkpoint(f, { policy });
          const ref = f === nested ? { want, want2, wantV } : { want: grad(inlined2)(x), want2: grad((v: NDArray) => np.sum(grad(inlined2)(v)))(x), wantV: vmap(grad(inlined2))(xs) };
          const tol = { rtol: 1e-5, atol: 1e-6, label: policy.name };
          expectTreeClose(grad(ck)(x), ref.want, tol);
          expectTreeClose(grad((v: NDArray) => np.sum(grad(ck)(v)))(x), ref.want2, { ...tol, rtol: 1e-4 });
          expectTreeClose(vmap(grad(ck))(xs), ref.wantV, tol);
          expectTreeClose(jit(grad(ck))(x), ref.want, tol);
          expectNoLeak(`grad (${policy.name})`, () => grad(ck)(x));
          expectNoLeak(`grad∘grad (${policy.name})`, () => grad((v: NDArray) => np.sum(grad(ck)(v)))(x));
        }
      }
    });
  });
});

describe('nested jit outputs of every kind', () => {
  it('integer outputs, an input passed through, a closed-over input, constant outputs: checkGrads at order 2, vmap and jit agree', () => {
    inScope(() => {
      const W = np.array([[0.5, -0.2, 0.1], [0.3, 0.4, -0.6], [0.2, 0.1, 0.3]], 'float32');
      const x = np.array([[1, -0.5, 0.25], [0.5, 2, -1]], 'float32');
      const g = jit((v: NDArray, c: NDArray) => ({ y: checkpointName(np.sin(np.matmul(v, W)), 'a'), i: np.argmax(v, -1), same: v, k: np.multiply(c, 2), ones: np.ones([3]) }));
      const f = (v: NDArray) => {
        const o = g(v, W);
        return np.add(np.sum(np.multiply(np.tanh(o.y), o.same)), np.sum(np.multiply(np.matmul(o.same, o.k), np.add(o.ones, o.i.astype('float32').reshape([2, 1])))));
      };
      const xs = np.stack([x, np.negative(x)]);
      for (const policy of POLICIES) {
        const ck = checkpoint(f, { policy });
        checkGrads(ck, [x], { order: 2 });
        const tol = { rtol: 1e-5, atol: 1e-6, label: policy.name };
        expectTreeClose(grad(ck)(x), grad(f)(x), tol);
        expectTreeClose(vmap(grad(ck))(xs), vmap(grad(f))(xs), tol);
        expectTreeClose(jit(grad(ck))(x), grad(f)(x), tol);
      }
    });
  });
});

interface Case { e1: Expr; e2: Expr; shapes: number[][]; policy: CheckpointPolicy; seed: number }
const arbCase: fc.Arbitrary<Case> = fc.integer({ min: 1, max: 3 }).chain((k) =>
  fc.record({ e1: arbExpr(k, 3), e2: arbExpr(k, 2), shapes: arbInputShapes(k, { maxRank: 2 }), policy: fc.constantFrom(...POLICIES, saveOnlyTheseNames('h')), seed: fc.integer() }),
);

describe('random compositions with a jitted, named inner function', () => {
  it('checkpoint(e2 ∘ jit(name(e1))) equals e2 ∘ e1 in value, gradient, grad∘grad, and under vmap and jit', () => {
    fc.assert(
      fc.property(arbCase, (c) =>
        inScope(() => {
          const rng = new Rng(c.seed);
          const xs = c.shapes.map((s) => randomArray(rng, s));
          // A second named output the backward pass does not read (sum's derivative needs no value).
          const inner = (...a: NDArray[]) => {
            const y = evalExpr(c.e1, a);
            return [checkpointName(y, 'h'), checkpointName(np.sin(y), 'h')];
          };
          const body = (h: (...a: NDArray[]) => NDArray[]) => (...a: NDArray[]) => {
            const [y, unread] = h(...a);
            return np.add(np.sum(np.sin(evalExpr(c.e2, [y!, ...a.slice(1)]))), np.sum(unread!));
          };
          const plain = body(inner);
          const ck = checkpoint(body(jit(inner)), { policy: c.policy });
          fc.pre(moderate(plain(...xs)));
          const label = `${c.policy.name}: e2 = ${showExpr(c.e2)} over h = ${showExpr(c.e1)}`;
          const all = { argnums: xs.map((_, i) => i) };
          const tol = { rtol: 1e-4, atol: 1e-5 };
          expectTreeClose(ck(...xs), plain(...xs), { ...tol, label: `value: ${label}` });
          const want = grad(plain, all)(...xs);
          expectTreeClose(grad(ck, all)(...xs), want, { ...tol, label: `grad: ${label}` });
          expectTreeClose(jit(grad(ck, all))(...xs), want, { ...tol, label: `jit(grad): ${label}` });
          const gg = (f: (...a: NDArray[]) => NDArray) => grad((y: NDArray) => np.sum(np.multiply(grad(f)(y, ...xs.slice(1)), np.cos(y))))(xs[0]!);
          expectTreeClose(gg(ck), gg(plain), { rtol: 1e-3, atol: 1e-4, label: `grad∘grad: ${label}` });
          const b = 2;
          const bs = c.shapes.map((s) => randomArray(rng, [b, ...s]));
          const gv = (f: (...a: NDArray[]) => NDArray) => (...a: NDArray[]) => grad(f)(...a);
          expectTreeClose(vmap(gv(ck))(...bs), loopVmap(gv(plain), bs, 0, 0, b), { ...tol, label: `vmap(grad): ${label}` });
          // The forward pass saves no more than with the inner function inlined (it saved the unread output).
          const held = (f: (...a: NDArray[]) => NDArray): number => heldBytes(f, ...xs);
          expect(held(ck), `residual bytes: ${label}`).toBeLessThanOrEqual(held(checkpoint(plain, { policy: c.policy })));
        }),
      ),
      { seed: FC_SEED, numRuns: 40 },
    );
  });
});

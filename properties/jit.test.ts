// jit properties (issue 5): jit(f) equals f for random compositions (values and gradients); it
// traces once per signature (tree structure, shapes, dtypes, static arguments) and retraces for a
// new one; staticArgnums and clearCache; composition with grad, vmap, jvp, checkpoint and itself;
// control flow on traced values is a ConcretizationError; dead code is dropped (never executed);
// outputs are fresh arrays; tensor counts stay flat across many calls.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as tf from '@tensorflow/tfjs-core';
import { ConcreteArray, ConcretizationError, DisposedError, NDArray, TransformError, checkpoint, customJvp, customVjp, dispose, grad, jit, jvp, makeJaxpr, np, scope, setBackend, valueAndGrad, tree, vmap } from '../src/index.js';
import { Rng } from '../src/testing/index.js';
import { arbExpr, arbInputShapes, evalExpr, showExpr } from './compositions.js';
import { FC_SEED, expectClose, inScope, numTensors, values } from './helpers.js';
import { expectNoLeak, expectTreeClose, loopVmap, moderate, randomArray } from './loop_oracle.js';

const arbCase = fc.integer({ min: 1, max: 3 }).chain((k) => fc.record({ e1: arbExpr(k, 4), e2: arbExpr(k, 2), shapes: arbInputShapes(k), seed: fc.integer() }));

describe('jit(f) computes what f computes', () => {
  it('values, gradients (grad(jit), jit(grad)), jvp and second derivatives for random compositions with pytree outputs', () => {
    fc.assert(
      fc.property(arbCase, (c) =>
        inScope(() => {
          const rng = new Rng(c.seed);
          const xs = c.shapes.map((s) => randomArray(rng, s));
          const f = (...a: NDArray[]) => ({ y: evalExpr(c.e1, a), z: [evalExpr(c.e2, a), np.argmax(np.ravel(evalExpr(c.e2, a)))] });
          const want = f(...xs);
          fc.pre(moderate(want));
          const label = `y = ${showExpr(c.e1)}, z = ${showExpr(c.e2)}`;
          const jf = jit(f);
          expectTreeClose(jf(...xs), want, { rtol: 1e-5, atol: 1e-6, label: `jit value: ${label}` });
          const all = xs.map((_, i) => i);
          const s = (...a: NDArray[]) => np.sum(np.tanh(f(...a).y));
          const g = grad(s, { argnums: all })(...xs);
          const tol = { rtol: 1e-4, atol: 1e-5 };
          expectTreeClose(jit(grad(s, { argnums: all }))(...xs), g, { ...tol, label: `jit(grad): ${label}` });
          expectTreeClose(grad((...a: NDArray[]) => np.sum(np.tanh(jf(...a).y)), { argnums: all })(...xs), g, { ...tol, label: `grad(jit): ${label}` });
          const gg = (h: (...a: NDArray[]) => NDArray) => grad((y: NDArray) => np.sum(np.multiply(grad(h)(y, ...xs.slice(1)), np.sin(y))))(xs[0]!);
          expectTreeClose(gg(jit(s)), gg(s), { ...tol, label: `grad∘grad(jit): ${label}` });
          const ts = xs.map((x) => randomArray(rng, x.shape, -1, 1));
          expectTreeClose(jvp((...a: NDArray[]) => jf(...a).y, xs, ts), jvp((...a: NDArray[]) => f(...a).y, xs, ts), { ...tol, label: `jvp(jit): ${label}` });
          expectTreeClose(jit(jit(f))(...xs), want, { rtol: 1e-5, atol: 1e-6, label: `jit(jit): ${label}` });
        }),
      ),
      { seed: FC_SEED, numRuns: 60 },
    );
  });

  it('valueAndGrad of an MLP loss under jit matches eager, for pytree parameters', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 5 }), fc.integer(), (n, d, h, seed) =>
        inScope(() => {
          const rng = new Rng(seed);
          const p = { W1: randomArray(rng, [d, h], -1, 1), b1: randomArray(rng, [h]), W2: randomArray(rng, [h, 1], -1, 1) };
          const X = randomArray(rng, [n, d]), Y = randomArray(rng, [n, 1]);
          const loss = (q: typeof p, x: NDArray, y: NDArray) => np.mean(np.square(np.subtract(np.matmul(np.tanh(np.add(np.matmul(x, q.W1), q.b1)), q.W2), y)));
          expectTreeClose(jit(valueAndGrad(loss))(p, X, Y), valueAndGrad(loss)(p, X, Y), { rtol: 1e-5, atol: 1e-6, label: 'jit(valueAndGrad)' });
        }),
      ),
      { seed: FC_SEED, numRuns: 20 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Tracing and the cache

describe('tracing and caching', () => {
  it('traces once per signature and retraces for new shapes, dtypes, tree structures and static arguments', () => {
    inScope(() => {
      let traces = 0;
      const f = jit((x: NDArray, opts: { scale: NDArray }, mode: string) => {
        traces++;
        const y = np.multiply(np.astype(x, 'float32'), opts.scale);
        return mode === 'sin' ? np.sin(y) : np.cos(y);
      }, { staticArgnums: [2] });
      const s = { scale: np.array(2, 'float32') };
      f(np.ones([3]), s, 'sin');
      f(np.zeros([3]), { scale: np.array(5, 'float32') }, 'sin');
      f(np.array([1, 2, 3], 'float32'), s, 'sin');
      expect(traces, 'same signature, new values').toBe(1);
      expectClose(f(np.array([1, 2, 3], 'float32'), { scale: np.array(0.5, 'float32') }, 'sin'), [0.5, 1, 1.5].map(Math.sin), { rtol: 1e-6 });
      f(np.ones([4]), s, 'sin');
      expect(traces, 'new shape').toBe(2);
      f(np.array([1, 2, 3], 'int32'), s, 'sin');
      expect(traces, 'new dtype').toBe(3);
      expectClose(f(np.array([1, 2, 3], 'float32'), s, 'cos'), [2, 4, 6].map(Math.cos), { rtol: 1e-6 });
      expect(traces, 'new static argument').toBe(4);
      f(np.array([1, 2, 3], 'float32'), s, 'cos');
      expect(traces).toBe(4);
      expect(f.cacheSize).toBe(4);
      // A different tree structure for the same leaves is a new signature.
      const g = jit((t: unknown) => {
        traces++;
        return np.sum(np.stack((Array.isArray(t) ? t : Object.values(t as object)) as NDArray[]));
      });
      traces = 0;
      g([np.ones([2]), np.ones([2])]);
      g({ a: np.ones([2]), b: np.ones([2]) });
      g([np.zeros([2]), np.ones([2])]);
      expect(traces, 'list vs object').toBe(2);
      f.clearCache();
      expect(f.cacheSize).toBe(0);
      traces = 0;
      f(np.ones([3]), s, 'sin');
      expect(traces, 'after clearCache').toBe(1);
    });
  });

  it('random sequences of calls trace exactly once per distinct signature', () => {
    const arbCall = fc.record({ n: fc.integer({ min: 1, max: 3 }), dtype: fc.constantFrom('float32' as const, 'int32' as const), k: fc.constantFrom(1, 2), wrap: fc.boolean() });
    fc.assert(
      fc.property(fc.array(arbCall, { minLength: 1, maxLength: 12 }), (calls) =>
        inScope(() => {
          let traces = 0;
          const f = jit((x: unknown, k: number) => {
            traces++;
            const a = Array.isArray(x) ? (x[0] as NDArray) : (x as NDArray);
            return np.multiply(np.astype(a, 'float32'), k);
          }, { staticArgnums: [1] });
          const seen = new Set<string>();
          for (const c of calls) {
            const x = np.astype(np.arange(c.n), c.dtype);
            const out = f(c.wrap ? [x] : x, c.k);
            expectClose(out, Array.from({ length: c.n }, (_, i) => i * c.k));
            seen.add(JSON.stringify(c));
          }
          expect(traces).toBe(seen.size);
          expect(f.cacheSize).toBe(seen.size);
          f.clearCache();
        }),
      ),
      { seed: FC_SEED, numRuns: 30 },
    );
  });

  it('staticArgnums: values used as shapes and in JS control flow, negative positions, non-array objects; out of range is an error', () => {
    inScope(() => {
      const f = jit((x: NDArray, n: number) => np.add(x, np.ones([n])), { staticArgnums: [-1] });
      expectClose(f(np.ones([3]), 3), [2, 2, 2]);
      const cfg = { act: 'tanh' as const, depth: 2 };
      let traces = 0;
      const g = jit((x: NDArray, c: typeof cfg) => {
        traces++;
        let h = x;
        for (let i = 0; i < c.depth; i++) h = c.act === 'tanh' ? np.tanh(h) : np.sin(h);
        return h;
      }, { staticArgnums: [1] });
      expectClose(g(np.array([0.5], 'float32'), cfg), [Math.tanh(Math.tanh(0.5))], { rtol: 1e-6 });
      g(np.array([0.7], 'float32'), cfg);
      expect(traces, 'the same static object is one signature').toBe(1);
      // Plain data is keyed by value: an equal object rebuilt per call hits the cache; a mutated one retraces.
      g(np.array([0.7], 'float32'), { act: 'tanh', depth: 2 });
      expect(traces, 'an equal static object is the same signature').toBe(1);
      const mutable = { act: 'tanh' as const, depth: 1 };
      expectClose(g(np.array([0.5], 'float32'), mutable), [Math.tanh(0.5)], { rtol: 1e-6 });
      mutable.depth = 3;
      expectClose(g(np.array([0.5], 'float32'), mutable), [Math.tanh(Math.tanh(Math.tanh(0.5)))], { rtol: 1e-6 });
      expect(g.cacheSize).toBe(3);
      const reshape = jit((x: NDArray, shape: number[]) => np.reshape(x, shape), { staticArgnums: 1 });
      const shape = [3, 1];
      expect(reshape(np.ones([3]), shape).shape).toEqual([3, 1]);
      shape.reverse();
      expect(reshape(np.ones([3]), shape).shape).toEqual([1, 3]);
      // Objects whose value a key cannot read (a symbol-keyed property) are keyed by identity.
      const k = Symbol('k');
      const bySymbol = jit((x: NDArray, c: { [k]?: number }) => np.multiply(x, c[k] ?? 0), { staticArgnums: 1 });
      expect(values(bySymbol(np.ones([1]), { [k]: 2 }))).toEqual([2]);
      expect(values(bySymbol(np.ones([1]), { [k]: 3 }))).toEqual([3]);
      // A large static list is keyed by value too: a mutation retraces, an equal rebuild does not.
      const firstOf = jit((x: NDArray, table: number[]) => np.add(x, table[0]!), { staticArgnums: 1 });
      const table = Array.from({ length: 20000 }, (_, i) => i);
      expect(firstOf(np.ones([1]), table).item()).toBe(1);
      table[0] = 100;
      expect(firstOf(np.ones([1]), table).item()).toBe(101);
      firstOf(np.ones([1]), [...table]);
      expect(firstOf.cacheSize).toBe(2);
      expect(() => jit((x: NDArray) => x, { staticArgnums: [1.5] })(np.ones([2]))).toThrow(/staticArgnums must be an integer or a list of integers/);
      expect(() => jit((x: NDArray) => x, { staticArgnums: [3] })(np.ones([2]))).toThrow(/staticArgnums.*3.*out of range/);
      expect(() => jit((x: NDArray) => x, { staticArgnums: [3] })(np.ones([2]))).toThrow(TransformError);
    });
  });

  it('a disposed closed-over constant is reported, and clearCache lets the function retrace', () => {
    const W = np.array([1, 2], 'float32');
    const f = jit((x: NDArray) => np.multiply(x, W));
    const x = np.array([3, 4], 'float32');
    dispose(f(x));
    dispose(W);
    expect(() => f(x)).toThrow(DisposedError);
    expect(() => f(x)).toThrow(/clearCache/);
    f.clearCache();
    dispose(x);
  });

  it('empty arrays: jit makes empty results without kernels, as eager does (kernels gave wrong shapes or crashed)', () => {
    inScope(() => {
      const x = np.zeros([0, 3, 4]);
      const fs: [string, (a: NDArray) => NDArray][] = [
        ['take', (a) => np.take(a, np.array([0, 2], 'int32'), 1)],
        ['takeAlongAxis', (a) => np.takeAlongAxis(a, np.zeros([0, 3, 1], 'int32'), 2)],
        ['cumsum', (a) => np.cumsum(a, 1)],
        ['argmin', (a) => np.argmin(a, 2)],
        ['logsumexp', (a) => np.logsumexp(a, 1)],
      ];
      for (const [name, f] of fs) {
        const want = f(x);
        expect(jit(f)(x).shape, name).toEqual(want.shape);
        expect(jit(vmap(f))(np.zeros([2, 0, 3, 4])).shape, `jit(vmap(${name}))`).toEqual([2, ...want.shape]);
      }
    });
  });

  it('clearing an outer jit\'s cache leaves a nested jit\'s constants to the nested jit', () => {
    const inner = jit((v: NDArray) => np.multiply(v, np.array([1, 2, 3], 'float32')));
    const outer = jit((v: NDArray) => np.add(inner(v), 1));
    const x = np.array([1, 1, 1], 'float32');
    const before = numTensors();
    dispose(outer(x)); // traces both; the constant belongs to inner's cache
    outer.clearCache();
    const again = inner(x);
    expect(values(again)).toEqual([1, 2, 3]);
    dispose(again);
    inner.clearCache();
    expect(numTensors()).toBe(before);
    dispose(x);
  });
});

// ---------------------------------------------------------------------------------------------
// Composition

describe('jit composes', () => {
  it('grad(jit), jit(grad), vmap(jit), jit(vmap(grad)), jit(checkpoint) agree with eager and loops', () => {
    const arb = fc.integer({ min: 1, max: 2 }).chain((k) => fc.record({ e: arbExpr(k, 3), shapes: arbInputShapes(k, { maxRank: 2 }), b: fc.integer({ min: 1, max: 3 }), seed: fc.integer() }));
    fc.assert(
      fc.property(arb, (c) =>
        inScope(() => {
          const rng = new Rng(c.seed);
          const xs = c.shapes.map((s) => randomArray(rng, [c.b, ...s]));
          const f = (...a: NDArray[]) => evalExpr(c.e, a);
          const s = (...a: NDArray[]) => np.sum(f(...a));
          const all = xs.map((_, i) => i);
          const label = showExpr(c.e);
          const loopGrad = loopVmap(grad(s, { argnums: all }), xs, 0, 0, c.b);
          fc.pre(moderate([loopVmap(f, xs, 0, 0, c.b), loopGrad]));
          const tol = { rtol: 2e-4, atol: 2e-5 };
          expectTreeClose(vmap(jit(f))(...xs), loopVmap(f, xs, 0, 0, c.b), { ...tol, label: `vmap(jit): ${label}` });
          expectTreeClose(jit(vmap(grad(s, { argnums: all })))(...xs), loopGrad, { ...tol, label: `jit(vmap(grad)): ${label}` });
          expectTreeClose(vmap(jit(grad(s, { argnums: all })))(...xs), loopGrad, { ...tol, label: `vmap(jit(grad)): ${label}` });
          expectTreeClose(vmap(grad(jit(s), { argnums: all }))(...xs), loopGrad, { ...tol, label: `vmap(grad(jit)): ${label}` });
          expectTreeClose(jit(vmap(checkpoint(f)))(...xs), loopVmap(f, xs, 0, 0, c.b), { ...tol, label: `jit(vmap(checkpoint)): ${label}` });
        }),
      ),
      { seed: FC_SEED, numRuns: 40 },
    );
  });

  it('jit inside a differentiated function closes over tracers (retraced per call, not cached wrongly)', () => {
    inScope(() => {
      const x = np.array([0.3, -0.7], 'float32');
      // The inner jit closes over y, a tracer of the outer grad: the result must still be differentiated.
      const f = (y: NDArray) => np.sum(jit((z: NDArray) => np.multiply(np.sin(z), y))(y));
      expectClose(grad(f)(x), [0.3, -0.7].map((v) => Math.cos(v) * v + Math.sin(v)), { rtol: 1e-6, atol: 1e-7 });
      expectClose(grad(f)(np.array([1, 2], 'float32')), [1, 2].map((v) => Math.cos(v) * v + Math.sin(v)), { rtol: 1e-6, atol: 1e-7 });
    });
  });
});

// ---------------------------------------------------------------------------------------------
// Control flow, dead code, outputs, memory

describe('tracing semantics', () => {
  it('control flow on a traced value is a ConcretizationError that suggests np.where or a static argument', () => {
    inScope(() => {
      const x = np.array([1, -2, 3], 'float32');
      const branches: [string, (a: NDArray) => NDArray][] = [
        ['item()', (a) => (Number(np.sum(a).item()) > 0 ? a : np.negative(a))],
        ['Number()', (a) => (Number(np.sum(a)) > 0 ? a : np.negative(a))],
        ['bool()', (a) => (np.greater(np.sum(a), 0).bool() ? a : np.negative(a))],
        ['toArray()', (a) => ((a.toArray() as number[])[0]! > 0 ? a : np.negative(a))],
        ['tolist()', (a) => ((a.tolist() as number[])[0]! > 0 ? a : np.negative(a))],
      ];
      for (const [name, f] of branches) {
        expect(() => jit(f)(x), name).toThrow(ConcretizationError);
        expect(() => jit(f)(x), name).toThrow(/np\.where|static/);
        // The same function runs eagerly and under grad (concrete values).
        expect(() => f(x), name).not.toThrow();
      }
      // tolist() is NumPy's name for toArray(): nested JS values, booleans as booleans.
      expect(np.array([[1, 0], [0, 2]], 'bool').tolist()).toEqual([[true, false], [false, true]]);
      expect(np.array([[1.5], [-2]]).tolist()).toEqual([[1.5], [-2]]);
      // Empty arrays keep their nesting up to the first zero axis, as NumPy's tolist().
      expect(np.zeros([2, 0]).toArray()).toEqual([[], []]);
      expect(np.zeros([2, 3, 0], 'bool').toArray()).toEqual([[[], [], []], [[], [], []]]);
      expect(np.zeros([0, 3]).toArray()).toEqual([]);
      expect(np.zeros([2, 0, 3]).toArray()).toEqual([[], []]);
      // The fix: np.where (or a static argument).
      expectClose(jit((a: NDArray) => np.where(np.greater(np.sum(a), 0), a, np.negative(a)))(x), [1, -2, 3]);
    });
  });

  it('dead code is dropped: an unused expensive product is never executed and does not change results', async () => {
    const big = np.ones([96, 96]);
    const x = np.array([0.5, 1.5], 'float32');
    const f = (a: NDArray) => {
      np.matmul(big, np.matmul(big, big)); // traced, unused
      const unused = np.exp(np.multiply(a, 100)); // would overflow if it mattered
      void unused;
      return np.sin(a);
    };
    const jf = jit(f);
    dispose(jf(x));
    const info = await tf.profile(() => jf(x) as unknown as tf.Tensor);
    const names = info.kernels.map((k) => k.name);
    // (TF.js's kernels or gradus's own on wasm: GradusMatMul, GradusExp.)
    expect(names.filter((n) => /matmul/i.test(n))).toEqual([]);
    expect(names.filter((n) => /exp/i.test(n))).toEqual([]);
    expect(names.filter((n) => /^(Gradus)?Sin$/.test(n))).toHaveLength(1);
    inScope(() => expectClose(jf(x), [Math.sin(0.5), Math.sin(1.5)], { rtol: 1e-6 }));
    // The traced program still shows the dead equations (makeJaxpr is not optimised).
    expect(String(makeJaxpr(f)(x))).toMatch(/dot_general/);
    jf.clearCache();
    dispose([big, x, info.result as unknown as NDArray]);
  });

  it('np.relu runs as one kernel under jit (also its forward pass inside grad), and agrees with eager: NaN propagates (with either sign bit), the derivative at 0 and at NaN is 0', async () => {
    // The last value is a NaN with the sign bit set: what wasm's own arithmetic makes (log(−1), 0/0),
    // and what TF.js's wasm Relu turned into 0.
    const signedNaN = new Float32Array(new Uint32Array([0xffc00000]).buffer)[0]!;
    const x = np.array(Float32Array.from([NaN, -1, -0, 0, 2, Infinity, -Infinity, signedNaN]));
    const f = (a: NDArray) => np.multiply(np.relu(a), 3);
    // The gradient of sum(relu(2a)²) needs relu's value, so its forward pass is compiled too.
    const loss = (a: NDArray) => np.sum(np.square(np.relu(np.multiply(a, 2))));
    const jf = jit(f), jg = jit(grad(loss));
    dispose([jf(x), jg(x)]);
    for (const run of [() => jf(x), () => jg(x)]) {
      const info = await tf.profile(() => run() as unknown as tf.Tensor);
      expect(info.kernels.map((k) => k.name)).toContain('Gradusmax');
      dispose(info.result as unknown as NDArray);
    }
    // The literals (0 and 3, which np reshapes to the operand's rank) are folded at compile time.
    const only = await tf.profile(() => jf(x) as unknown as tf.Tensor);
    expect(only.kernels.map((k) => k.name)).toEqual(['Gradusmax', 'Multiply']);
    dispose(only.result as unknown as NDArray);
    inScope(() => {
      expect(values(jf(x))).toEqual(values(f(x)));
      expect(values(f(x))).toEqual([NaN, 0, 0, 0, 6, Infinity, 0, NaN]);
      // d/da sum(relu(2a)²) = 8a where a > 0, 0 at and below 0, and 0 at NaN as in JAX: relu's
      // derivative select(x > 0, g, 0) drops the NaN cotangent 2·relu(2a).
      expect(values(jg(x))).toEqual([0, 0, 0, 0, 16, Infinity, 0, 0]);
      expect(values(grad(loss)(x))).toEqual([0, 0, 0, 0, 16, Infinity, 0, 0]);
      // A NaN made inside the program (log of a negative number) stays NaN through relu.
      const reluLog = jit((a: NDArray) => np.relu(np.log(a)));
      expect(values(reluLog(np.array([-1, 4], 'float32')))[0]).toBeNaN();
      reluLog.clearCache();
    });
    jf.clearCache();
    jg.clearCache();
    // On cpu too (TF.js's Relu is used on wasm and cpu only; elsewhere the select runs).
    await setBackend('cpu');
    try {
      const onCpu = jit(f);
      inScope(() => {
        const xc = np.array(Float32Array.from([NaN, -1, -0, 0, 2, Infinity, -Infinity, signedNaN]));
        expect(values(onCpu(xc)).map((v) => v + 0)).toEqual([NaN, 0, 0, 0, 6, Infinity, 0, NaN]);
        expect(values(onCpu(xc)).map((v) => Object.is(v, -0))).toEqual(values(f(xc)).map((v) => Object.is(v, -0)));
      });
      onCpu.clearCache();
    } finally {
      await setBackend('wasm');
    }
    // A relu-like select of −0 where x <= 0 keeps its −0 under jit, as eagerly.
    const negZero = jit((a: NDArray) => np.where(np.lessEqual(a, 0), -0, a));
    inScope(() => expect(values(negZero(x)).map((v) => Object.is(v, -0))).toEqual(values(np.where(np.lessEqual(x, 0), -0, x)).map((v) => Object.is(v, -0))));
    negZero.clearCache();
    dispose(x);
  });

  it('dense layers (x·W + b, then relu) run as one fused kernel under jit, values and gradients equal to eager bitwise (exact zeros and NaN among the pre-activations), on wasm and cpu', async () => {
    // Small integers make many pre-activations exactly 0 (relu's kink, where the mask matters);
    // a NaN in x makes a NaN row. xᵀ·W (x stored (K, M)) is the other layout the kernel takes.
    const ints = (n: number) => fc.array(fc.oneof({ weight: 30, arbitrary: fc.integer({ min: -2, max: 2 }) }, { weight: 1, arbitrary: fc.constant(NaN) }), { minLength: n, maxLength: n });
    // K = 0 and 1 are not fused (dot_general's empty sum and outer product) and must agree all the
    // same; a bias of −0 shows whether a zero's sign survives.
    const arbCase = fc.record({ M: fc.integer({ min: 1, max: 9 }), K: fc.oneof(fc.integer({ min: 0, max: 1 }), fc.integer({ min: 2, max: 9 })), N: fc.integer({ min: 1, max: 11 }), transposed: fc.boolean(), returnsSum: fc.boolean() })
      .chain((d) => fc.tuple(fc.constant(d), ints(d.M * d.K), fc.array(fc.integer({ min: -2, max: 2 }), { minLength: d.K * d.N, maxLength: d.K * d.N }), fc.array(fc.oneof(fc.integer({ min: -2, max: 2 }), fc.constant(-0)), { minLength: d.N, maxLength: d.N })));
    const check = async (kernel: string) => {
      const before = numTensors();
      await fc.assert(fc.asyncProperty(arbCase, async ([{ M, K, N, transposed, returnsSum }, xv, wv, bv]) => {
        const [x, w, b] = scope(() => [
          np.array(Float32Array.from(xv)).reshape(...(transposed ? [K, M] : [M, K])), np.array(Float32Array.from(wv)).reshape(K, N), np.array(Float32Array.from(bv)),
        ]);
        const layer = (xs: NDArray, ws: NDArray, bs: NDArray) => {
          const z = np.add(transposed ? np.tensordot(xs, ws, [[0], [0]]) : np.matmul(xs, ws), bs);
          return { z, h: np.relu(z) };
        };
        // Returning z as well keeps it from being fused into the relu (only the product and bias are).
        const loss = (ws: NDArray, bs: NDArray, xs: NDArray) => {
          const { z, h } = layer(xs, ws, bs);
          const l = np.sum(np.multiply(np.square(h), np.arange(N).astype('float32')));
          return returnsSum ? np.add(l, np.sum(z)) : l;
        };
        const forward = (ws: NDArray, bs: NDArray, xs: NDArray) => (returnsSum ? Object.values(layer(xs, ws, bs)) : layer(xs, ws, bs).h);
        const step = (ws: NDArray, bs: NDArray, xs: NDArray) => [forward(ws, bs, xs), grad(loss, { argnums: [0, 1, 2] })(ws, bs, xs)];
        const jitted = jit(step);
        const info = await tf.profile(() => jitted(w, b, x) as unknown as tf.Tensor);
        const names = info.kernels.map((k) => k.name);
        if (K >= 2) {
          expect(names, names.join(' ')).toContain(kernel);
          if (!returnsSum) expect(names.filter((n) => n === 'Relu'), names.join(' ')).toEqual([]);
        }
        const got = (info.result as unknown as unknown[]).flat(2) as NDArray[];
        const want = scope(() => step(w, b, x).flat(2) as NDArray[]);
        got.forEach((g, i) => expect(values(g), `output ${i}`).toEqual(values(want[i]!)));
        dispose([got, want, x, w, b]);
        jitted.clearCache();
      }), { seed: FC_SEED, numRuns: 40 });
      expect(numTensors()).toBe(before);
    };
    await check('GradusMatMulBias');
    await setBackend('cpu');
    try {
      await check('_FusedMatMul');
    } finally {
      await setBackend('wasm');
    }
  });

  it('an SGD update p − lr·g (and p + s·g, s·g + p) runs as one pass and equals eager bitwise; s·g used elsewhere is not fused', async () => {
    const rng = new Rng(7);
    const p = randomArray(rng, [37, 5]), q = randomArray(rng, [37, 5]);
    const loss = (w: NDArray) => np.sum(np.square(np.tanh(np.multiply(w, q))));
    const updates: [string, (w: NDArray) => NDArray | NDArray[], boolean][] = [
      ['p − lr·g', (w) => np.subtract(w, np.multiply(grad(loss)(w), 0.01)), true],
      ['p + s·g', (w) => np.add(w, np.multiply(-0.3, grad(loss)(w))), true],
      ['s·g + p', (w) => np.add(np.multiply(grad(loss)(w), 1e-3), w), true],
      ['s·g also returned', (w) => { const sg = np.multiply(grad(loss)(w), 0.01); return [np.subtract(w, sg), sg]; }, false],
    ];
    for (const [label, f, fused] of updates) {
      const jf = jit(f);
      dispose(jf(p));
      const info = await tf.profile(() => jf(p) as unknown as tf.Tensor);
      expect(info.kernels.some((k) => k.name === 'GradusAxpy'), label).toBe(fused);
      const got = [info.result as unknown as NDArray | NDArray[]].flat();
      const want = [f(p)].flat();
      got.forEach((g, i) => expect(values(g), label).toEqual(values(want[i]!)));
      dispose([got, want]);
      jf.clearCache();
    }
    dispose([p, q]);
  });

  it('outputs are fresh arrays: returning an input, or one value twice, never aliases the caller\'s arrays', () => {
    const x = np.array([1, 2], 'float32');
    const f = jit((a: NDArray) => ({ same: a, twice: [np.sin(a), np.sin(a)], lit: np.array(3, 'float32') }));
    const out = f(x) as { same: ConcreteArray; twice: ConcreteArray[]; lit: ConcreteArray };
    expect(out.same === x).toBe(false); // (not .not.toBe: a failing toBe deep-compares, and NDArrays iterate into 0-d rows)
    out.same.dispose();
    expect((x as ConcreteArray).isDisposed).toBe(false);
    const g = jit((a: NDArray) => {
      const s = np.sin(a);
      return [s, s];
    });
    const [s1, s2] = g(x) as ConcreteArray[];
    s1!.dispose();
    expect(s2!.isDisposed).toBe(false);
    expectClose(s2!, [Math.sin(1), Math.sin(2)], { rtol: 1e-6 });
    expectClose(out.lit, 3);
    dispose([out, s2, x]);
    f.clearCache();
    g.clearCache();
  });

  it('no leaks: the tensor count is stable after the first call, over many calls, for plain, grad, vmap and failing calls', () => {
    const rng = new Rng(9);
    const W = randomArray(rng, [4, 4]), x = randomArray(rng, [3, 4]), xs = randomArray(rng, [2, 3, 4]);
    const f = (a: NDArray) => np.sum(np.tanh(np.matmul(np.sin(a), W)));
    const jitted = [jit(f), jit(grad(f)), jit(vmap(grad(f))), jit(grad(checkpoint(f))), jit((a: NDArray) => np.multiply(np.array([1, 2, 3, 4], 'float32'), a))];
    const args = [x, x, xs, x, x];
    jitted.forEach((j, i) => {
      dispose(j(args[i]!));
      const before = numTensors();
      for (let k = 0; k < 20; k++) dispose(j(args[i]!));
      expect(numTensors() - before, `jitted function ${i}`).toBe(0);
    });
    expectNoLeak('grad of jit', () => grad(jitted[0]!)(x));
    const bad = jit((a: NDArray) => np.matmul(a, np.ones([7, 7])));
    expectNoLeak('shape error while tracing', () => bad(x));
    expectNoLeak('ConcretizationError', () => jit((a: NDArray) => (np.sum(a).item() ? a : a))(x));
    for (const j of [...jitted, bad]) j.clearCache();
    // clearCache frees what the traces owned (constants made while tracing).
    dispose([W, x, xs]);
  });

  it('clearCache frees the constants made while tracing', () => {
    const x = np.array([1, 2, 3], 'float32');
    const before = numTensors();
    const f = jit((a: NDArray) => np.multiply(a, np.array([4, 5, 6], 'float32')));
    dispose(f(x));
    expect(numTensors()).toBeGreaterThan(before);
    f.clearCache();
    expect(numTensors()).toBe(before);
    dispose(x);
  });
});

describe('JS values among the arguments', () => {
  // An array in place of a boolean would always be truthy, so `flag ? a : b` would silently take
  // the first branch: booleans and strings are static under jit, and unmapped non-arrays reach
  // vmap's function unchanged.
  it('booleans and strings (also inside option objects) are static under jit; numbers are traced', () => {
    inScope(() => {
      const x = np.array([0.3, 0.7], 'float32');
      const f = jit((a: NDArray, o: { useExp: boolean; mode: string }) => (o.useExp ? np.exp(a) : o.mode === 'neg' ? np.negative(a) : a));
      expect(values(f(x, { useExp: false, mode: 'neg' }))).toEqual(values(np.negative(x)));
      expect(values(f(x, { useExp: true, mode: 'neg' }))).toEqual(values(np.exp(x)));
      expect(values(f(x, { useExp: false, mode: 'id' }))).toEqual(values(x));
      expect(f.cacheSize).toBe(3);
      const g = jit((a: NDArray, s: number) => np.multiply(a, s));
      g(x, 2);
      g(x, 3);
      expect(g.cacheSize).toBe(1);
    });
  });

  it('checkpoint, customJvp and customVjp keep boolean and string flags as JS values (also in residuals)', () => {
    inScope(() => {
      const x = np.array([1, 2, 3], 'float32');
      const body = (a: NDArray, training: boolean) => (training ? np.multiply(a, 2) : np.multiply(a, 3));
      const viaCheckpoint = checkpoint(body);
      const viaJvp = customJvp(body, ([a, t]: [NDArray, boolean], [ta]: [NDArray, boolean]) => [body(a, t), np.multiply(ta, t ? 2 : 3)]);
      const viaVjp = customVjp(body, (a: NDArray, t: boolean) => [body(a, t), t] as [NDArray, boolean], (t: boolean, ct: NDArray) => [np.multiply(ct, t ? 2 : 3), null]);
      for (const [name, f] of [['checkpoint', viaCheckpoint], ['customJvp', viaJvp], ['customVjp', viaVjp]] as const) {
        for (const flag of [false, true]) {
          const k = flag ? 2 : 3;
          expect(values(f(x, flag)), `${name}(x, ${flag})`).toEqual([k, 2 * k, 3 * k]);
          expect(values(grad((a: NDArray) => np.sum(f(a, flag)))(x)), `grad ${name}(x, ${flag})`).toEqual([k, k, k]);
        }
      }
      expect(values(checkpoint((a: NDArray, o: { mode: string }) => (o.mode === 'eval' ? a : np.negative(a)))(x, { mode: 'eval' }))).toEqual([1, 2, 3]);
    });
  });

  it('static numbers are keyed exactly (NaN, ±Infinity, −0 and null are different keys)', () => {
    inScope(() => {
      const x = np.array([1, 2, 3], 'float32');
      const h = jit((a: NDArray, s: number | null) => np.multiply(a, s === null ? 7 : s > 0 ? 1 : -1), { staticArgnums: [1] });
      expect(values(h(x, Infinity))).toEqual([1, 2, 3]);
      expect(values(h(x, -Infinity))).toEqual([-1, -2, -3]);
      expect(values(h(x, null))).toEqual([7, 14, 21]);
      h(x, NaN);
      expect(h.cacheSize).toBe(4);
    });
  });

  it('a jit that closes over a traced value (so is not cached) frees the constants of its trace', () => {
    inScope(() => {
      const x = np.array([1, 2, 3], 'float32');
      const W = np.ones([3, 3]);
      const loss = (w: NDArray) => np.sum(jit((y: NDArray) => np.add(np.matmul(w, y), np.ones([3])))(x));
      dispose(grad(loss)(W));
      const before = numTensors();
      for (let i = 0; i < 5; i++) dispose(grad(loss)(W));
      expect(numTensors()).toBe(before);
    });
  });

  it('vmap hands unmapped non-array arguments to f as they are', () => {
    inScope(() => {
      const x = np.array([0.3, 0.7], 'float32');
      const f = (a: NDArray, flag: boolean, n: number) => {
        expect(typeof flag).toBe('boolean');
        expect(typeof n).toBe('number');
        return flag ? np.multiply(a, n) : a;
      };
      expect(values(vmap(f, { inAxes: [0, null, null] })(x, true, 3))).toEqual(values(np.multiply(x, 3)));
      expect(values(vmap(f, { inAxes: [0, null, null] })(x, false, 3))).toEqual(values(x));
      const g = jit((a: NDArray, n: number) => np.multiply(a, n), { staticArgnums: [1] });
      const vg = vmap(g, { inAxes: [0, null] });
      for (let i = 0; i < 3; i++) vg(x, 3);
      expect(g.cacheSize).toBe(1);
    });
  });
});

describe('the compiled-program cache tells apart what the function can see', () => {
  it('registered nodes with other aux data or another class, plain and prototype-less objects, and symbols with one description each get their own trace', () => {
    class Scaled { constructor(readonly x: NDArray, readonly scale: number) {} }
    tree.register(Scaled, { flatten: (s: Scaled) => [[s.x], s.scale] as const, unflatten: (scale: number, [x]: unknown[]) => new Scaled(x as NDArray, scale) });
    // Another class of the same name, flattening the same way.
    const Other = (() => { class Scaled { constructor(readonly x: NDArray, readonly scale: number) {} } return Scaled; })();
    tree.register(Other, { flatten: (s: InstanceType<typeof Other>) => [[s.x], s.scale] as const, unflatten: (scale: number, [x]: unknown[]) => new Other(x as NDArray, scale) });
    fc.assert(fc.property(fc.integer({ min: -5, max: 5 }), fc.integer({ min: -5, max: 5 }).filter((v) => v !== 0), (a, d) => {
      inScope(() => {
        const x = np.array([1, 2, 3], 'float32');
        const scaleBy = jit((s: Scaled) => np.multiply(s.x, s.scale));
        for (const scale of [a, a + d, a]) expect(values(scaleBy(new Scaled(x, scale)))).toEqual(values(np.multiply(x, scale)));
        expect(scaleBy.cacheSize).toBe(2);
        // The output is rebuilt with the aux data of the call's own trace.
        const passThrough = jit((s: Scaled | InstanceType<typeof Other>) => (s instanceof Scaled ? new Scaled(np.add(s.x, 0), s.scale) : new Other(np.add(s.x, 1), s.scale)));
        // (Through `unknown`: types cannot tell a registered class's aux data, here the number `scale`, from its children, which come back as arrays.)
        expect((passThrough(new Scaled(x, a)) as unknown as Scaled).scale).toBe(a);
        expect((passThrough(new Scaled(x, a + d)) as unknown as Scaled).scale).toBe(a + d);
        const other = passThrough(new Other(x, a));
        expect(other).toBeInstanceOf(Other);
        expect(values(other.x)).toEqual([2, 3, 4]);
        scaleBy.clearCache();
        passThrough.clearCache();
      });
    }), { seed: FC_SEED, numRuns: 10 });
    inScope(() => {
      const x = np.array([1, 2], 'float32');
      const bare = Object.assign(Object.create(null) as { a: NDArray }, { a: x });
      // A function whose output's prototype follows its input's.
      const keep = jit((o: { a: NDArray }) => Object.assign(Object.getPrototypeOf(o) === null ? Object.create(null) : {}, { a: np.add(o.a, 1) }) as { a: NDArray });
      expect(Object.getPrototypeOf(keep({ a: x }))).toBe(Object.prototype);
      expect(Object.getPrototypeOf(keep(bare))).toBe(null);
      expect(keep.cacheSize).toBe(2);
      keep.clearCache();
      const A = Symbol('op'), B = Symbol('op');
      const apply = jit((v: NDArray, op: symbol) => (op === A ? np.add(v, 10) : np.multiply(v, 10)), { staticArgnums: [1] });
      expect(values(apply(x, A))).toEqual([11, 12]);
      expect(values(apply(x, B))).toEqual([10, 20]);
      expect(values(apply(x, A))).toEqual([11, 12]);
      apply.clearCache();
    });
  });

  it('typed arrays are arguments like any ArrayLike, under jit, grad and vmap', () => {
    inScope(() => {
      const sq = jit((v: NDArray) => np.sum(np.square(v)));
      expect(values(sq(new Float32Array([1, 2]) as unknown as NDArray))).toEqual([5]);
      expect(values(grad((v: NDArray) => np.sum(np.square(v)))(new Float32Array([1, 2]) as unknown as NDArray))).toEqual([2, 4]);
      expect(values(vmap((v: NDArray) => np.multiply(v, 2))(new Int32Array([1, 2]) as unknown as NDArray))).toEqual([2, 4]);
      sq.clearCache();
    });
  });
});

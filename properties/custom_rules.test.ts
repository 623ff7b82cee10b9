// customJvp / customVjp properties (issue 5): JAX semantics (fwd returns [out, residuals], bwd
// returns one cotangent per argument, null = zero; pytrees in, out and as residuals); the custom
// rules are what differentiation uses (clipped-gradient identity, stable log1pexp, deliberately
// scaled rules); rules built from the true derivative reproduce grad/jvp for random compositions;
// composition with vmap, jit, checkpoint and higher-order grad (grad of grad through customVjp
// differentiates bwd); forward mode of a customVjp function is a clear error; wrong rule outputs
// are clear errors; no leaks.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { GradusError, NDArray, TransformError, checkpoint, customJvp, customVjp, dispose, grad, hessian, jacfwd, jacrev, jit, jvp, np, vjp, vmap } from '../src/index.js';
import { Rng, checkGrads } from '../src/testing/index.js';
import { arbExpr, arbInputShapes, evalExpr, showExpr } from './compositions.js';
import { FC_SEED, expectClose, inScope } from './helpers.js';
import { expectNoLeak, expectTreeClose, loopVmap, moderate, randomArray } from './loop_oracle.js';

const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));

/** Gradient clipping as an identity with a custom VJP (the cotangent is clipped to [-1, 1]). */
const clipGradient = customVjp(
  (x: NDArray) => x,
  (x: NDArray) => [x, null] as [NDArray, null],
  (_res: null, ct: NDArray) => [np.clip(ct, -1, 1)],
);

/** log(1 + eˣ) with the stable derivative σ(x) (JAX's custom_jvp example). */
const log1pexp = customJvp(
  (x: NDArray) => np.log(np.add(1, np.exp(x))),
  ([x]: [NDArray], [t]: [NDArray]) => [np.log(np.add(1, np.exp(x))), np.multiply(t, np.sigmoid(x))] as [NDArray, NDArray],
);

/** x³ with a backward rule 3x²·ct, scaled by `k` (k ≠ 1 makes the rule deliberately "wrong", so its use is visible). */
const cube = (k = 1) =>
  customVjp(
    (x: NDArray) => np.power(x, 3),
    (x: NDArray) => [np.power(x, 3), x] as [NDArray, NDArray],
    (x: NDArray, ct: NDArray) => [np.multiply(ct, np.multiply(np.square(x), 3 * k))],
  );

describe('the custom rules are what differentiation uses', () => {
  it('clipGradient: identity value, gradient clip(ct) (under grad, jit, vmap and checkpoint)', () => {
    fc.assert(
      fc.property(fc.integer(), fc.integer({ min: 1, max: 5 }), (seed, n) =>
        inScope(() => {
          const rng = new Rng(seed);
          const x = randomArray(rng, [n]), w = randomArray(rng, [n], -4, 4);
          const loss = (y: NDArray) => np.sum(np.multiply(clipGradient(y), w));
          const want = np.clip(w, -1, 1);
          expectClose(clipGradient(x), x, { rtol: 0, atol: 0, label: 'value' });
          expectClose(grad(loss)(x), want, { rtol: 0, atol: 0, label: 'grad' });
          expectClose(jit(grad(loss))(x), want, { rtol: 0, atol: 0, label: 'jit(grad)' });
          expectClose(grad(jit(loss))(x), want, { rtol: 0, atol: 0, label: 'grad(jit)' });
          expectClose(grad(checkpoint(loss))(x), want, { rtol: 0, atol: 0, label: 'grad(checkpoint)' });
          expectClose(vmap(grad(loss))(np.stack([x, np.negative(x)])), np.stack([want, want]), { rtol: 0, atol: 0, label: 'vmap(grad)' });
        }),
      ),
      { seed: FC_SEED, numRuns: 15 },
    );
  });

  it('log1pexp: finite gradient σ(x) where the naive formula gives NaN; second derivative σ(1−σ) through the rule', () => {
    inScope(() => {
      const pts = [100, 30, 0, -5, -100];
      const x = np.array(pts, 'float32');
      const g = grad((y: NDArray) => np.sum(log1pexp(y)))(x);
      expectClose(g, pts.map(sigmoid), { rtol: 1e-6, atol: 1e-7, label: 'custom gradient' });
      const naive = grad((y: NDArray) => np.sum(np.log(np.add(1, np.exp(y)))))(x);
      expect(Number.isNaN(naive.dataSync()[0]), 'the naive gradient at 100 (the reason for the rule)').toBe(true);
      const [, t] = jvp(log1pexp, [x], [np.onesLike(x)]);
      expectClose(t, pts.map(sigmoid), { rtol: 1e-6, atol: 1e-7, label: 'jvp' });
      expectClose(vmap(grad(log1pexp))(x), pts.map(sigmoid), { rtol: 1e-6, atol: 1e-7, label: 'vmap(grad)' });
      const small = np.array([0.5, -1, 2], 'float32');
      const d2 = [0.5, -1, 2].map((v) => sigmoid(v) * (1 - sigmoid(v)));
      expectClose(grad((y: NDArray) => np.sum(grad((z: NDArray) => np.sum(log1pexp(z)))(y)))(small), d2, { rtol: 1e-5, atol: 1e-6, label: 'grad∘grad' });
      expectClose(hessian((y: NDArray) => np.sum(log1pexp(y)))(small), np.multiply(np.eye(3), np.array(d2, 'float32')), { rtol: 1e-5, atol: 1e-6, label: 'hessian' });
      checkGrads(log1pexp, [small], { order: 2 });
    });
  });

  it('a deliberately scaled rule shows up at every order: grad∘grad through customVjp differentiates bwd', () => {
    fc.assert(
      fc.property(fc.integer(), fc.constantFrom(1, 2, -0.5), (seed, k) =>
        inScope(() => {
          const x = randomArray(new Rng(seed), [3]);
          const f = cube(k);
          const g = (y: NDArray) => grad((z: NDArray) => np.sum(f(z)))(y);
          expectClose(f(x), np.power(x, 3), { rtol: 0, atol: 0, label: 'value' });
          expectClose(g(x), np.multiply(np.square(x), 3 * k), { rtol: 1e-6, atol: 1e-7, label: 'grad uses bwd' });
          // d/dx Σ 3k·x² = 6k·x: the outer grad differentiates the backward rule, not x³.
          expectClose(grad((y: NDArray) => np.sum(g(y)))(x), np.multiply(x, 6 * k), { rtol: 1e-6, atol: 1e-6, label: 'grad∘grad' });
          expectClose(jacrev(g)(x), np.multiply(np.eye(3), np.multiply(x, 6 * k)), { rtol: 1e-6, atol: 1e-6, label: 'jacrev∘grad' });
          expectClose(vmap(g)(np.stack([x, np.multiply(x, 2)])), np.stack([np.multiply(np.square(x), 3 * k), np.multiply(np.square(x), 12 * k)]), { rtol: 1e-6, atol: 1e-6, label: 'vmap(grad)' });
        }),
      ),
      { seed: FC_SEED, numRuns: 12 },
    );
  });

  it('a customJvp rule is transposed for reverse mode and differentiated at second order', () => {
    inScope(() => {
      // f(x) = sin(x) with the rule t·x² (deliberately not cos): every derivative follows the rule.
      const f = customJvp((x: NDArray) => np.sin(x), ([x]: [NDArray], [t]: [NDArray]) => [np.sin(x), np.multiply(t, np.square(x))] as [NDArray, NDArray]);
      const x = np.array([0.5, -1, 2], 'float32');
      expectClose(grad((y: NDArray) => np.sum(f(y)))(x), [0.25, 1, 4], { rtol: 0, atol: 0, label: 'grad' });
      expectClose(jvp(f, [x], [np.array([1, 2, 3], 'float32')])[1], [0.25, 2, 12], { rtol: 0, atol: 0, label: 'jvp' });
      expectClose(grad((y: NDArray) => np.sum(grad((z: NDArray) => np.sum(f(z)))(y)))(x), [1, -2, 4], { rtol: 1e-6, atol: 1e-7, label: 'grad∘grad' });
      expectClose(jacfwd(f)(x), np.multiply(np.eye(3), np.array([0.25, 1, 4], 'float32')), { rtol: 0, atol: 0, label: 'jacfwd' });
      expectClose(jacrev(f)(x), np.multiply(np.eye(3), np.array([0.25, 1, 4], 'float32')), { rtol: 0, atol: 0, label: 'jacrev' });
    });
  });
});

// ---------------------------------------------------------------------------------------------
// Semantics

describe('JAX semantics', () => {
  it('pytree arguments, outputs and residuals; null cotangents are zeros of the argument\'s shape', () => {
    inScope(() => {
      type P = { a: NDArray; b: NDArray };
      const f = (p: P, y: NDArray) => ({ u: np.multiply(p.a, y), v: np.sum(np.square(p.b)) });
      const fv = customVjp(
        f,
        (p: P, y: NDArray) => [f(p, y), { a: p.a, y, b2: np.multiply(p.b, 2) }] as [ReturnType<typeof f>, { a: NDArray; y: NDArray; b2: NDArray }],
        (r, ct) => [{ a: np.multiply(ct.u, r.y), b: np.multiply(r.b2, ct.v) }, null],
      );
      const p = { a: np.array([1, 2, 3], 'float32'), b: np.array([[0.5, -1]], 'float32') };
      const y = np.array([0.25, -0.5, 4], 'float32');
      const loss = (q: P, z: NDArray) => {
        const o = fv(q, z);
        return np.add(np.sum(np.sin(o.u)), o.v);
      };
      const [gp, gy] = grad(loss, { argnums: [0, 1] })(p, y) as [P, NDArray];
      const truth = grad((q: P) => np.add(np.sum(np.sin(f(q, y).u)), f(q, y).v))(p);
      expectTreeClose(gp, truth, { rtol: 1e-6, atol: 1e-7, label: 'cotangent of the pytree argument' });
      expectClose(gy, [0, 0, 0], { rtol: 0, atol: 0, label: 'null cotangent' });
      expect(gy.shape).toEqual([3]);
      // The value is f's.
      expectTreeClose(fv(p, y), f(p, y), { rtol: 0, atol: 0, label: 'value' });
      // vjp gives the pullback of the rule.
      const [, pullback] = vjp(fv, p, y);
      const [cp] = pullback({ u: np.ones([3]), v: np.array(2, 'float32') });
      expectTreeClose(cp, { a: y, b: np.multiply(p.b, 4) }, { rtol: 0, atol: 0, label: 'vjp pullback' });
      pullback.dispose();
    });
  });

  it('rules built from the true derivative reproduce grad, grad∘grad and jvp for random compositions, also under vmap and jit', () => {
    const arb = fc.integer({ min: 1, max: 2 }).chain((k) => fc.record({ e: arbExpr(k, 3), shapes: arbInputShapes(k, { maxRank: 2 }), b: fc.integer({ min: 1, max: 3 }), seed: fc.integer() }));
    fc.assert(
      fc.property(arb, (c) =>
        inScope(() => {
          const rng = new Rng(c.seed);
          const xs = c.shapes.map((s) => randomArray(rng, s));
          const f = (...a: NDArray[]) => evalExpr(c.e, a);
          fc.pre(moderate(f(...xs)));
          const fVjp = customVjp(
            f,
            (...a: NDArray[]) => [f(...a), a] as [NDArray, NDArray[]],
            (a: NDArray[], ct: NDArray) => {
              const [, pullback] = vjp(f, ...a);
              return pullback(ct);
            },
          );
          const fJvp = customJvp(f, (ps: NDArray[], ts: NDArray[]) => jvp(f, ps, ts));
          const all = xs.map((_, i) => i);
          const s = (g: (...a: NDArray[]) => NDArray) => (...a: NDArray[]) => np.sum(np.sin(g(...a)));
          const label = showExpr(c.e);
          const want = grad(s(f), { argnums: all })(...xs);
          const tol = { rtol: 1e-4, atol: 1e-5 };
          expectTreeClose(grad(s(fVjp), { argnums: all })(...xs), want, { ...tol, label: `customVjp grad: ${label}` });
          expectTreeClose(grad(s(fJvp), { argnums: all })(...xs), want, { ...tol, label: `customJvp grad: ${label}` });
          const gg = (g: (...a: NDArray[]) => NDArray) => grad((y: NDArray) => np.sum(np.multiply(grad(s(g))(y, ...xs.slice(1)), np.cos(y))))(xs[0]!);
          expectTreeClose(gg(fVjp), gg(f), { ...tol, label: `customVjp grad∘grad: ${label}` });
          expectTreeClose(gg(fJvp), gg(f), { ...tol, label: `customJvp grad∘grad: ${label}` });
          const ts = xs.map((x) => randomArray(rng, x.shape, -1, 1));
          expectTreeClose(jvp(fJvp, xs, ts), jvp(f, xs, ts), { ...tol, label: `customJvp jvp: ${label}` });
          expectTreeClose(jit(grad(s(fVjp), { argnums: all }))(...xs), want, { ...tol, label: `jit(grad) of customVjp: ${label}` });
          // vmap: the first argument batched, the others shared.
          const xb = randomArray(rng, [c.b, ...xs[0]!.shape]);
          const axes = [0, ...xs.slice(1).map(() => null)];
          const args = [xb, ...xs.slice(1)];
          for (const [name, g] of [['customVjp', fVjp], ['customJvp', fJvp]] as const) {
            const gl = grad(s(g), { argnums: all });
            const loop = loopVmap(grad(s(f), { argnums: all }), args, axes, 0, c.b);
            fc.pre(moderate(loop));
            expectTreeClose(vmap(g, { inAxes: axes })(...args), loopVmap(f, args, axes, 0, c.b), { ...tol, label: `vmap(${name}): ${label}` });
            expectTreeClose(vmap(gl, { inAxes: axes })(...args), loop, { ...tol, label: `vmap(grad(${name})): ${label}` });
          }
        }),
      ),
      { seed: FC_SEED, numRuns: 40 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Errors

describe('clear errors', () => {
  const x = () => np.array([0.5, -1, 2], 'float32');

  it("fwd's output must be f's output (shape and dtype); jvp wants lists of primals and tangents", () => {
    inScope(() => {
      const wrongShape = customVjp(
        (a: NDArray) => np.sin(a),
        (a: NDArray) => [np.sum(np.sin(a)), a] as [NDArray, NDArray],
        (a: NDArray, ct: NDArray) => [np.multiply(ct, np.cos(a))],
      );
      expect(() => grad((a: NDArray) => np.sum(wrongShape(a)))(x())).toThrow(/fwd's output 0 is f32\[\] but f's is f32\[3\]/);
      expect(() => jvp(np.sin, x() as never, x() as never)).toThrow(/jvp: primals and tangents must be lists/);
    });
  });

  it('jvp and jacfwd of a customVjp function say forward mode is not available; derivatives of its gradient work', () => {
    inScope(() => {
      const f = cube(2);
      for (const call of [() => jvp(f, [x()], [x()]), () => jacfwd(f)(x())]) {
        expect(call).toThrow(GradusError);
        expect(call).toThrow(/customVjp.*forward-mode/);
      }
      // Reverse over reverse, and forward over reverse (hessian), differentiate bwd: 6k·x on the diagonal.
      const want = np.multiply(np.eye(3), np.multiply(x(), 12));
      const s = (a: NDArray) => np.sum(f(a));
      expectClose(jacrev(grad(s))(x()), want, { rtol: 1e-6, atol: 1e-6, label: 'jacrev(grad)' });
      expectClose(hessian(s)(x()), want, { rtol: 1e-6, atol: 1e-6, label: 'hessian' });
      expectClose(jvp(grad(s), [x()], [np.ones([3])])[1], np.multiply(x(), 12), { rtol: 1e-6, atol: 1e-6, label: 'jvp(grad)' });
    });
  });

  it('bwd with the wrong number of cotangents, the wrong structure, or fwd not returning a pair', () => {
    inScope(() => {
      // (A bwd returning a list is typed as a list of cotangents: its length is checked at run time.)
      const two = customVjp((a: NDArray, b: NDArray) => np.multiply(a, b), (a: NDArray, b: NDArray) => [np.multiply(a, b), [a, b]] as [NDArray, NDArray[]], (_r, ct: NDArray) => [ct]);
      expect(() => grad((a: NDArray) => np.sum(two(a, a)))(x())).toThrow(TransformError);
      expect(() => grad((a: NDArray) => np.sum(two(a, a)))(x())).toThrow(/bwd.*one cotangent per argument \(2\).*1/);
      // @ts-expect-error: a list where an array belongs
      const nested = customVjp((a: NDArray) => np.sin(a), (a: NDArray) => [np.sin(a), a] as [NDArray, NDArray], (_r, ct: NDArray) => [[ct]]);
      expect(() => grad((a: NDArray) => np.sum(nested(a)))(x())).toThrow(/bwd.*cotangent 0.*structure/);
      const notArray = customVjp((a: NDArray) => np.sin(a), (a: NDArray) => [np.sin(a), a] as [NDArray, NDArray], (_r, ct: NDArray) => ct as never);
      expect(() => grad((a: NDArray) => np.sum(notArray(a)))(x())).toThrow(/bwd must return an array/);
      const badFwd = customVjp((a: NDArray) => np.sin(a), ((a: NDArray) => np.sin(a)) as unknown as (a: NDArray) => [NDArray, null], (_r, ct: NDArray) => [ct]);
      expect(() => grad((a: NDArray) => np.sum(badFwd(a)))(x())).toThrow(/fwd must return \[output, residuals\]/);
      const wrongOut = customVjp((a: NDArray) => np.sin(a), (a: NDArray) => [[np.sin(a)], a] as unknown as [NDArray, NDArray], (_r, ct: NDArray) => [ct]);
      expect(() => grad((a: NDArray) => np.sum(wrongOut(a)))(x())).toThrow(/fwd's output has structure/);
      const badRule = customJvp((a: NDArray) => np.sin(a), ([a]: [NDArray], [t]: [NDArray]) => [np.sin(a), [t]] as unknown as [NDArray, NDArray]);
      expect(() => jvp(badRule, [x()], [x()])).toThrow(/customJvp.*tangent output has structure/);
    });
  });

  it('differentiating a value the custom function closes over asks for it as an argument', () => {
    inScope(() => {
      const make = (w: NDArray) => customVjp((a: NDArray) => np.multiply(a, w), (a: NDArray) => [np.multiply(a, w), a] as [NDArray, NDArray], (_r, ct: NDArray) => [ct]);
      expect(() => grad((w: NDArray) => np.sum(make(w)(x())))(x())).toThrow(/closes over a value that is being differentiated/);
      const makeJ = (w: NDArray) => customJvp((a: NDArray) => np.multiply(a, w), ([a]: [NDArray], [t]: [NDArray]) => [np.multiply(a, w), np.multiply(t, w)] as [NDArray, NDArray]);
      expect(() => grad((w: NDArray) => np.sum(makeJ(w)(x())))(x())).toThrow(/closes over a value that is being differentiated/);
      // Closing over a constant is fine.
      const w = np.array([2, 3, 4], 'float32');
      expectClose(grad((a: NDArray) => np.sum(make(w)(a)))(x()), [1, 1, 1]);
    });
  });

  // Core bug: the outputs of user rules are not checked against the shapes they stand for. A bwd
  // returning a cotangent of the wrong shape makes grad return that shape; a customJvp rule with a
  // tangent of the wrong shape passes through jvp, and reverse mode then returns zeros.
  it('rule outputs of the wrong shape are errors, not wrong-shaped or zero gradients', () => {
    inScope(() => {
      const badBwd = customVjp((a: NDArray) => np.sin(a), (a: NDArray) => [np.sin(a), a] as [NDArray, NDArray], () => [np.ones([5])]);
      expect(() => grad((a: NDArray) => np.sum(badBwd(a)))(x())).toThrow(/bwd.*shape|shape.*bwd/);
      const badRule = customJvp((a: NDArray) => np.sin(a), ([a]: [NDArray]) => [np.sin(a), np.ones([5])] as [NDArray, NDArray]);
      expect(() => jvp(badRule, [x()], [x()])).toThrow(/shape/);
      expect(() => grad((a: NDArray) => np.sum(badRule(a)))(x())).toThrow(/shape/);
    });
  });
});

describe('no leaked tensors', () => {
  it('customVjp and customJvp under grad, grad∘grad, vmap, jit and checkpoint, and failing rules', () => {
    const x = np.array([0.5, -1, 2], 'float32');
    const xs = np.stack([x, x]);
    const f = cube();
    const s = (a: NDArray) => np.sum(f(a));
    const l = (a: NDArray) => np.sum(log1pexp(a));
    const jg = jit(grad(s));
    expectNoLeak('grad customVjp', () => grad(s)(x));
    expectNoLeak('grad∘grad customVjp', () => grad((a: NDArray) => np.sum(grad(s)(a)))(x));
    expectNoLeak('vmap(grad) customVjp', () => vmap(grad(s))(xs));
    expectNoLeak('jit(grad) customVjp', () => jg(x));
    expectNoLeak('grad(checkpoint) customVjp', () => grad(checkpoint(s))(x));
    expectNoLeak('grad customJvp', () => grad(l)(x));
    expectNoLeak('jvp customJvp', () => jvp(log1pexp, [x], [x]));
    expectNoLeak('hessian customJvp', () => hessian(l)(x));
    expectNoLeak('jvp of customVjp (error)', () => jvp(f, [x], [x]));
    expectNoLeak('bwd error', () => grad((a: NDArray) => np.sum(customVjp((b: NDArray) => np.sin(b), (b: NDArray) => [np.sin(b), b] as [NDArray, NDArray], () => [])(a)))(x));
    jg.clearCache();
    dispose([x, xs]);
  });
});

describe('rules giving the wrong dtype', () => {
  it('an int or bool cotangent from bwd, or an int tangent from a JVP rule, for a float value is an error (it came back as an int "gradient")', () => {
    inScope(() => {
      const a = np.array([0.5, 1, 2], 'float32');
      for (const dtype of ['int32', 'bool'] as const) {
        const badBwd = customVjp((v: NDArray) => np.sin(v), (v: NDArray) => [np.sin(v), v] as [NDArray, NDArray], (_r, ct: NDArray) => [np.astype(np.ones(ct.shape), dtype)]);
        expect(() => grad((v: NDArray) => np.sum(badBwd(v)))(a)).toThrow(/bwd's cotangent for argument 0.*expected f32\[3\]/);
      }
      const badRule = customJvp((v: NDArray) => np.sin(v), ([v]: [NDArray], [t]: [NDArray]) => [np.sin(v), np.astype(t, 'int32')]);
      expect(() => jvp(badRule, [a], [a])).toThrow(/tangent output 0 has shape and dtype i32\[3\]; expected f32\[3\]/);
      const notPair = customJvp((v: NDArray) => np.sin(v), (([v]: [NDArray]) => np.sin(v)) as never);
      expect(() => jvp(notPair, [a], [a])).toThrow(/rule must return \[primal output, tangent output\]/);
    });
  });
});

describe("a JVP rule's primal output must be f's", () => {
  it('in dtype (an int primal made jacfwd all zeros), structure and number of leaves, whichever transformation runs the rule', () => {
    inScope(() => {
      const a = np.array([0.5, 1], 'float32');
      const intPrimal = customJvp((v: NDArray) => np.sin(v), ([v]: [NDArray], [t]: [NDArray]) => [np.astype(np.sin(v), 'int32'), np.multiply(t, np.cos(v))]);
      expect(() => jvp(intPrimal, [a], [a])).toThrow(/primal output 0 is i32\[2\]; expected f32\[2\]/);
      expect(() => jacfwd(intPrimal)(a)).toThrow(/primal output 0 is i32\[2\]/);
      const nested = customJvp((v: NDArray) => np.sin(v), ([v]: [NDArray], [t]: [NDArray]) => [[np.sin(v)], np.multiply(t, np.cos(v))] as never);
      expect(() => jvp(nested, [a], [a])).toThrow(/primal output has structure \[\*\], expected \*/);
      const pair = customJvp((v: NDArray) => [np.sin(v), np.cos(v)], ([v]: [NDArray], [t]: [NDArray]) => [[np.sin(v)], [t, t]] as never);
      expect(() => jvp(pair, [a], [a])).toThrow(/primal output has structure \[\*\], expected \[\*, \*\]/);
      // A JS number is weakly typed, as in the tangent output.
      const constant = customJvp((v: NDArray) => np.multiply(np.sum(v), 0), ([v]: [NDArray], [t]: [NDArray]) => [0 as unknown as NDArray, np.multiply(np.sum(t), 0)]);
      expect(jvp(constant, [a], [a])[0].dtype).toBe('float32');
    });
  });
});

describe('vjp pullbacks check the cotangent against the output', () => {
  it('a cotangent of another tree structure (a list for an object, other keys) or a bool cotangent is an error (leaves were matched by order)', () => {
    inScope(() => {
      const x = np.array([1, 0], 'float32');
      const [, pb] = vjp((a: NDArray) => ({ u: np.multiply(a, 2), v: np.multiply(a, 3) }), x);
      const ones = np.ones([2]);
      expect(pb({ u: ones, v: np.zerosLike(ones) })[0]!.toArray()).toEqual([2, 2]);
      expect(() => pb([np.zerosLike(ones), ones] as never)).toThrow(/vjp pullback: the cotangent has structure \[\*, \*\] but f's output has \{u: \*, v: \*\}/);
      expect(() => pb({ a: ones, b: ones } as never)).toThrow(/the cotangent has structure/);
      const [, pb1] = vjp((a: NDArray) => np.multiply(a, 2), x);
      expect(() => pb1(np.array([true, false]))).toThrow(/cotangent 0 is bool\[2\].*expected a float32 cotangent/);
      expect(pb1(np.array([1, 1]))[0]!.toArray()).toEqual([2, 2]); // int literals are still accepted
    });
  });
});

describe('JS numbers in rules are weakly typed', () => {
  it('a bwd returning 1 or a JVP rule returning 0 for a float value gives float32 (as before the dtype checks)', () => {
    inScope(() => {
      const a = np.array(2, 'float32');
      const c = customVjp((v: NDArray) => np.multiply(v, 1), (v: NDArray) => [np.multiply(v, 1), null] as [NDArray, null], () => [1 as unknown as NDArray]);
      const g = grad((v: NDArray) => c(v))(a);
      expect(g.dtype).toBe('float32');
      expect(g.item()).toBe(1);
      const d = customJvp((v: NDArray) => np.multiply(v, 2), ([v]: [NDArray]) => [np.multiply(v, 2), 0 as unknown as NDArray]);
      const [, t] = jvp(d, [a], [a]);
      expect(t.dtype).toBe('float32');
      expect(t.item()).toBe(0);
    });
  });
});

describe('custom rules that close over a value traced by an enclosing vmap or jit', () => {
  it('are named at the rule, with the fix (pass the value as an argument), instead of an escaped tracer later; the explicit form works', () => {
    inScope(() => {
      const x = np.array([0.3, -0.7, 1.2], 'float32');
      const want = Array.from(np.multiply(np.cos(x), np.cos(x)).dataSync());
      const closingJvp = (s: NDArray) => customJvp((b: NDArray) => np.multiply(np.sin(b), s), ([b]: [NDArray], [tb]: [NDArray]) => [np.multiply(np.sin(b), s), np.multiply(np.multiply(tb, np.cos(b)), s)]);
      const closingVjp = (s: NDArray) => customVjp((b: NDArray) => np.multiply(np.sin(b), s), (b: NDArray) => [np.multiply(np.sin(b), s), b] as [NDArray, NDArray], (b: NDArray, ct: NDArray) => [np.multiply(np.multiply(ct, np.cos(b)), s)]);
      const around = { vmap, jit } as const;
      for (const [name, wrap] of Object.entries(around)) {
        for (const [kind, mk] of [['customJvp', closingJvp], ['customVjp', closingVjp]] as const) {
          const loss = (a: NDArray, c: NDArray) => np.sum((wrap as typeof vmap)((r: NDArray, q: NDArray) => mk(np.cos(q))(r))(a, c));
          expect(() => grad(loss)(x, x), `${kind} in ${name}`).toThrow(new RegExp(`${kind}\\(.*\\): (the JVP rule|fwd) closes over a value traced by an enclosing transformation.*explicit argument`));
        }
        const explicit = customJvp((b: NDArray, s: NDArray) => np.multiply(np.sin(b), s), ([b, s]: [NDArray, NDArray], [tb, ts]: [NDArray, NDArray]) => [np.multiply(np.sin(b), s), np.add(np.multiply(np.multiply(tb, np.cos(b)), s), np.multiply(np.sin(b), ts))]);
        const g = grad((a: NDArray, c: NDArray) => np.sum((wrap as typeof vmap)((r: NDArray, q: NDArray) => explicit(r, np.cos(q)))(a, c)))(x, x);
        expectClose(g, want, { rtol: 1e-5, atol: 1e-6 });
      }
    });
  });
});

// np.clip as one `clamp` primitive (lax.clamp's operands lo, x, hi): its values, NaN bit patterns
// and zero signs are those of max then min (np.maximum then np.minimum: the composition np.clip
// used to be) on each backend, eagerly and under jit; int32 too; its derivative is the
// composition's (½ at each tie, in every operand, NaN and ±0 included) and the closed form's; vmap
// batches it; and it runs as one kernel on wasm and cpu, eagerly and under jit.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { DTypeError, ShapeError, dispose, getBackend, grad, jit, jvp, makeJaxpr, np, setBackend, vmap, type NDArray } from '../src/index.js';
import { bind1 } from '../src/core.js';
import { FC_SEED, clipReference, inScope, kernelCounts, noLeak, onEachBackend, sameNumber, values } from './helpers.js';

const f32 = (bits: number): number => new Float32Array(new Uint32Array([bits]).buffer)[0]!;
/** NaNs of several bit patterns: quiet of either sign, with a payload, signalling. */
const NANS = [0x7fc00000, 0xffc00000, 0x7fc00001, 0xff800001].map(f32);
const SPECIALS = [...NANS, -0, 0, Infinity, -Infinity, -2, 2, 0.5, -0.5, 1, -1, 1e-45, -1e-45, 3.4e38, -3.4e38];

/** The raw bits of a float32 array's elements (NaN payloads and zero signs included). */
function bitsOf(x: NDArray): number[] {
  const d = x.dataSync() as Float32Array;
  return Array.from(new Uint32Array(d.buffer, d.byteOffset, d.length));
}
/** A float32 array holding exactly these bit patterns. */
const exact = (vs: readonly number[]): NDArray => np.array(Float32Array.from(vs));
const hex = (b: number) => `0x${b.toString(16).padStart(8, '0')}`;
const reference = clipReference;
const same = sameNumber;

/** A bound: absent, a JS number (weak scalar), or an array the shape of x. */
type Bound = { kind: 'none' } | { kind: 'scalar'; v: number } | { kind: 'array'; vs: number[] };
const arbValue = fc.oneof(fc.float({ noDefaultInfinity: false, noNaN: false }), fc.constantFrom(...SPECIALS));
/** Values from a small set, so that x, lo and hi tie often (as ±0 and NaN too). */
const arbTie = fc.constantFrom(-1, -0, 0, 1, 2, NaN, Infinity, -Infinity);
function arbBound(n: number, value: fc.Arbitrary<number>): fc.Arbitrary<Bound> {
  return fc.oneof(
    fc.constant({ kind: 'none' } as Bound),
    fc.constantFrom(...SPECIALS, 0.1, -1e-50, 1e-50).map((v) => ({ kind: 'scalar', v }) as Bound),
    fc.array(value, { minLength: n, maxLength: n }).map((vs) => ({ kind: 'array', vs }) as Bound),
  );
}
const arbCase = (value: fc.Arbitrary<number>) =>
  fc.integer({ min: 1, max: 37 }).chain((n) => fc.record({ xs: fc.array(value, { minLength: n, maxLength: n }), lo: arbBound(n, value), hi: arbBound(n, value) }));
const boundArg = (b: Bound): NDArray | number | null => (b.kind === 'none' ? null : b.kind === 'scalar' ? b.v : exact(b.vs));
const boundAt = (b: Bound, i: number): number | null => (b.kind === 'none' ? null : b.kind === 'scalar' ? b.v : b.vs[i]!);
const show = (b: Bound) => (b.kind === 'array' ? `[${b.vs.join(', ')}]` : b.kind === 'scalar' ? String(b.v) : 'null');

/** The old np.clip: np.maximum then np.minimum. */
function composition(x: NDArray | number, lo: NDArray | number | null, hi: NDArray | number | null): NDArray {
  let y = typeof x === 'number' ? np.array(x, 'float32') : x;
  if (lo !== null) y = np.maximum(y, lo);
  if (hi !== null) y = np.minimum(y, hi);
  return y;
}

describe('clamp: values and NaN bits as max then min', () => {
  it('random x and bounds (absent, scalars, arrays; NaNs of several patterns, ±0, ±inf, reversed): eager and jit clip give the composition\'s bits', async () => {
    // JS's canonical NaN as float32 (what Math.max gives for any NaN): cpu's Maximum/Minimum write it.
    const canonical = new Uint32Array(Float32Array.of(Math.max(NaN, 0)).buffer)[0]!;
    await onEachBackend((backend) => {
      // One jitted program per pair of present bounds (absent ones are closed over as null).
      const jits = [null, 'lo', 'hi', 'both'].map((which) =>
        jit((x: NDArray, a: NDArray, b: NDArray) => np.clip(x, which === 'lo' || which === 'both' ? a : null, which === 'hi' ? a : which === 'both' ? b : null)));
      fc.assert(
        fc.property(arbCase(arbValue), ({ xs, lo, hi }) => {
          inScope(() => {
            const x = exact(xs);
            const [l, h] = [boundArg(lo), boundArg(hi)];
            const label = `${backend}: clip([${xs.join(', ')}], ${show(lo)}, ${show(hi)})`;
            const got = bitsOf(np.clip(x, l, h));
            expect(got, `${label}: against max then min`).toEqual(bitsOf(composition(x, l, h)));
            const asArray = (b: NDArray | number) => (typeof b === 'number' ? np.array(b, 'float32') : b);
            const present = [l, h].filter((b): b is NDArray | number => b !== null).map(asArray);
            const which = l !== null && h !== null ? 3 : l !== null ? 1 : h !== null ? 2 : 0;
            const jitted = jits[which]!(x, present[0] ?? x, present[1] ?? x);
            expect(bitsOf(jitted), `${label} under jit`).toEqual(got);
            const gv = values(np.clip(x, l, h));
            xs.forEach((v, i) => expect(same(gv[i]!, reference(v, boundAt(lo, i), boundAt(hi, i))), `${label} at ${i}`).toBe(true));
            if (backend === 'cpu' && (l !== null || h !== null)) got.forEach((b, i) => { if (Number.isNaN(gv[i])) expect(hex(b), `${label}: cpu NaN at ${i}`).toBe(hex(canonical)); });
          });
        }),
        { seed: FC_SEED, numRuns: 80 },
      );
      for (const j of jits) j.clearCache();
    });
  });

  it('NaN patterns one by one, against scalar and array bounds: the bits max then min give (wasm: the input\'s; cpu: canonical)', async () => {
    await onEachBackend((backend) => {
      const x = exact([...NANS, ...NANS]);
      for (const [lo, hi] of [[-1, 1], [0, null], [null, 0], [NaN, 1], [2, -2]] as const) {
        const want = bitsOf(composition(x, lo, hi));
        expect(bitsOf(np.clip(x, lo, hi)).map(hex), `${backend}: clip(NaNs, ${lo}, ${hi})`).toEqual(want.map(hex));
        const arr = (v: number | null) => (v === null ? null : np.full([8], v));
        expect(bitsOf(np.clip(x, arr(lo), arr(hi))).map(hex), `${backend}: array bounds ${lo}, ${hi}`).toEqual(bitsOf(composition(x, arr(lo), arr(hi))).map(hex));
      }
    });
  });

  it('NumPy\'s and JAX\'s min(max(x, lo), hi): lo > hi gives hi, ±0 as max then min order them, a NaN bound gives NaN', async () => {
    await onEachBackend((backend) => {
      const x = np.array([-5, 0, 2, 5], 'float32');
      expect(values(np.clip(x, 3, 1)), backend).toEqual([1, 1, 1, 1]); // np.clip(x, 3, 1) in NumPy
      const z = exact([-0, 0]);
      const negZero = (a: NDArray) => values(a).map((v) => Object.is(v, -0));
      expect(negZero(np.clip(z, 0, 1)), `${backend}: max(∓0, +0) = +0`).toEqual([false, false]);
      expect(negZero(np.clip(z, -1, -0)), `${backend}: min(∓0, −0) = −0`).toEqual([true, true]);
      // max(−0, −0) = −0 then min(−0, +0) = −0; max(+0, −0) = +0 then min(+0, +0) = +0 (NumPy's clip keeps x at these ties).
      expect(negZero(np.clip(z, -0, 0)), `${backend}: max then min`).toEqual([true, false]);
      expect(negZero(np.clip(z, 0, -0)), `${backend}: lo > hi in sign only gives hi`).toEqual([true, true]);
      expect(values(np.clip(x, NaN, 1)).every(Number.isNaN), backend).toBe(true);
      expect(values(np.clip(x, -1, NaN)).every(Number.isNaN), backend).toBe(true);
    });
  });

  it('broadcasting: a row of bounds against a matrix, x a scalar against array bounds (the output is the broadcast shape)', async () => {
    await onEachBackend((backend) => {
      const x = np.reshape(np.linspace(-3, 3, 12), [3, 4]);
      const lo = np.array([[-2, -1, 0, 1]], 'float32'), hi = np.array([[2], [0.5], [1]], 'float32');
      const got = np.clip(x, lo, hi);
      expect(got.shape).toEqual([3, 4]);
      expect(bitsOf(got), backend).toEqual(bitsOf(composition(x, lo, hi)));
      const s = np.clip(0.25, np.array([0, 0.5], 'float32'), 1);
      expect([s.shape, values(s)], backend).toEqual([[2], [0.25, 0.5]]);
      expect(bitsOf(jit((a: NDArray, l: NDArray, h: NDArray) => np.clip(a, l, h))(x, lo, hi)), `${backend} jit`).toEqual(bitsOf(got));
    });
  });

  it('a NaN bound that broadcasts past rank 6 (XNNPACK\'s limit) gives NaN with one bound or two, as at lower ranks (NumPy\'s clip, maximum and minimum)', async () => {
    await onEachBackend((backend) => {
      for (const rank of [6, 7, 8]) {
        const ones = (n: number) => new Array<number>(n).fill(1);
        const x = np.reshape(np.array([0.5, 3], 'float32'), [...ones(rank - 1), 2]);
        const nan = np.full([2, ...ones(rank - 2), 2], NaN);
        const label = `${backend}, rank ${rank}`;
        for (const [name, got] of [
          ['clip(x, nan, null)', np.clip(x, nan, null)], ['clip(x, null, nan)', np.clip(x, null, nan)], ['clip(x, nan, 1)', np.clip(x, nan, 1)], ['clip(x, 0, nan)', np.clip(x, 0, nan)],
          ['maximum(x, nan)', np.maximum(x, nan)], ['minimum(x, nan)', np.minimum(x, nan)], ['maximum(nan, x)', np.maximum(nan, x)], ['minimum(nan, x)', np.minimum(nan, x)],
          ['jit clip(x, nan, null)', jit((a: NDArray, l: NDArray) => np.clip(a, l, null))(x, nan)],
        ] as const) {
          expect(got.shape, `${label}: ${name}`).toEqual([2, ...ones(rank - 2), 2]);
          expect(values(got).map(Number.isNaN), `${label}: ${name}`).toEqual([true, true, true, true]);
        }
      }
    });
  });

  it('empty arrays, and max/min with the single value first (the one-pass kernels take either order), float32 and int32', async () => {
    await onEachBackend((backend) => {
      for (const dtype of ['float32', 'int32'] as const) {
        const e = np.zeros([0, 3], dtype);
        expect([np.clip(e, -1, 1).shape, np.clip(e, 0, null).shape, np.clip(e, np.zeros([1, 3], dtype), 1).shape], `${backend} ${dtype}`).toEqual([[0, 3], [0, 3], [0, 3]]);
        const x = np.astype(np.array([-3, -1, 0, 2, 5, 7, 9, -8, 4]), dtype);
        const xs = values(x);
        expect(values(np.maximum(1, x)), `${backend} ${dtype}`).toEqual(xs.map((v) => Math.max(1, v)));
        expect(values(np.minimum(1, x)), `${backend} ${dtype}`).toEqual(xs.map((v) => Math.min(1, v)));
        expect(values(np.maximum(x, 1)), `${backend} ${dtype}`).toEqual(xs.map((v) => Math.max(v, 1)));
        expect(values(np.minimum(x, np.array([[1]], dtype))).length, `${backend} ${dtype}: a [1, 1] value`).toBe(9);
      }
    });
  });

  it('int32: values, dtype and reversed bounds as max then min, eagerly and under jit', async () => {
    const arbInt = fc.oneof(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), fc.integer({ min: -5, max: 5 }), fc.constantFrom(-(2 ** 31), 2 ** 31 - 1));
    await onEachBackend((backend) => {
      const jclip = jit((x: NDArray, lo: NDArray, hi: NDArray) => np.clip(x, lo, hi));
      fc.assert(
        fc.property(fc.integer({ min: 1, max: 23 }).chain((n) => fc.tuple(...[0, 1, 2].map(() => fc.array(arbInt, { minLength: n, maxLength: n })))), fc.integer({ min: -5, max: 5 }), fc.integer({ min: -5, max: 5 }), ([xs, los, his], a, b) => {
          inScope(() => {
            const x = np.array(Int32Array.from(xs)), lo = np.array(Int32Array.from(los)), hi = np.array(Int32Array.from(his));
            const got = np.clip(x, lo, hi);
            expect(got.dtype).toBe('int32');
            expect(values(got), backend).toEqual(xs.map((v, i) => Math.min(Math.max(v, los[i]!), his[i]!)));
            expect(values(jclip(x, lo, hi)), `${backend} jit`).toEqual(values(got));
            expect(values(np.clip(x, a, b)), `${backend} scalars ${a}, ${b}`).toEqual(xs.map((v) => Math.min(Math.max(v, a), b)));
            expect(values(np.clip(x, a, null)), `${backend} lo only`).toEqual(xs.map((v) => Math.max(v, a)));
            expect(values(np.clip(x, null, b)), `${backend} hi only`).toEqual(xs.map((v) => Math.min(v, b)));
          });
        }),
        { seed: FC_SEED, numRuns: 40 },
      );
      jclip.clearCache();
    });
  });
});

/** Tangent bits equal, NaN of any pattern counting as equal (the rules' arithmetic makes NaN). */
function expectSameTangent(got: NDArray, want: NDArray, label: string): void {
  const g = values(got), w = values(want);
  expect(g.length, label).toBe(w.length);
  g.forEach((v, i) => expect(same(v, w[i]!), `${label} at ${i}: ${v} against ${w[i]}`).toBe(true));
}

/**
 * The closed form of max-then-min's derivative: weights of (x, lo, hi) at one element. Each of
 * max and min weighs an operand as JAX's _balanced_eq: 1 where it equals the result, halved where
 * the other operand equals it too, so ½ at ties and 0 for both where a NaN makes the result NaN.
 */
function closedForm(x: number, lo: number, hi: number): [number, number, number] {
  const balanced = (a: number, z: number, b: number) => (a === z ? 1 : 0) / (b === z ? 2 : 1);
  const y1 = Math.max(x, lo), y = Math.min(y1, hi);
  const w2 = balanced(y1, y, hi);
  return [balanced(x, y1, lo) * w2, balanced(lo, y1, x) * w2, balanced(hi, y, y1)];
}

describe('clamp: derivatives as max then min', () => {
  it('a NaN anywhere gives every operand a zero derivative (JAX\'s max and min: _balanced_eq), for clip, maximum and minimum, eagerly and under jit', async () => {
    await onEachBackend((backend) => {
      const argnums = { argnums: [0, 1, 2] };
      const clip3 = (x: NDArray, lo: NDArray, hi: NDArray) => np.sum(np.clip(x, lo, hi));
      const comp3 = (x: NDArray, lo: NDArray, hi: NDArray) => np.sum(composition(x, lo, hi));
      // A NaN in x, in lo, in hi, in two of them; and finite rows for contrast (inside, at lo, at a tie of all three).
      const x = exact([NaN, 0, 0, NaN, 0.5, -1, 1]), lo = exact([-1, NaN, -1, NaN, -1, -1, 1]), hi = exact([1, 1, NaN, 1, 1, 1, 1]);
      const want = [[0, 0, 0, 0, 1, 0.5, 0.25], [0, 0, 0, 0, 0, 0.5, 0.25], [0, 0, 0, 0, 0, 0, 0.5]];
      for (const [name, f] of [['clip', clip3], ['max then min', comp3], ['jit clip', jit(clip3)]] as const) {
        const g = grad(f, argnums)(x, lo, hi) as NDArray[];
        g.forEach((gk, k) => expect(values(gk), `${backend}: grad of ${name} in operand ${k}`).toEqual(want[k]));
      }
      const gmax = grad((a: NDArray, b: NDArray) => np.sum(np.maximum(a, b)), { argnums: [0, 1] })(exact([NaN, 1, NaN, 2]), exact([1, NaN, NaN, 2])) as NDArray[];
      const gmin = grad((a: NDArray, b: NDArray) => np.sum(np.minimum(a, b)), { argnums: [0, 1] })(exact([NaN, 1, NaN, 2]), exact([1, NaN, NaN, 2])) as NDArray[];
      expect(gmax.map(values), `${backend}: maximum`).toEqual([[0, 0, 0, 0.5], [0, 0, 0, 0.5]]);
      expect(gmin.map(values), `${backend}: minimum`).toEqual([[0, 0, 0, 0.5], [0, 0, 0, 0.5]]);
    });
  });

  const arbDiff = fc.integer({ min: 1, max: 19 }).chain((n) => {
    const arr = (v: fc.Arbitrary<number>) => fc.array(v, { minLength: n, maxLength: n });
    const mixed = fc.oneof(arbTie, fc.float({ min: -3, max: 3, noNaN: true }));
    return fc.record({ xs: arr(mixed), los: arr(mixed), his: arr(mixed), ts: fc.tuple(arr(fc.float({ min: -4, max: 4, noNaN: true })), arr(fc.float({ min: -4, max: 4, noNaN: true })), arr(fc.float({ min: -4, max: 4, noNaN: true }))) });
  });

  it('jvp in x, lo and hi (array-valued) at ties, NaN and ±0 equals the composition\'s, and grad the closed form (½ at each tie)', async () => {
    await onEachBackend((backend) => {
      const clip3 = (x: NDArray, lo: NDArray, hi: NDArray) => np.clip(x, lo, hi);
      const comp3 = (x: NDArray, lo: NDArray, hi: NDArray) => np.minimum(np.maximum(x, lo), hi);
      const jgrad = jit(grad((x: NDArray, lo: NDArray, hi: NDArray) => np.sum(np.clip(x, lo, hi)), { argnums: [0, 1, 2] }));
      fc.assert(
        fc.property(arbDiff, ({ xs, los, his, ts }) => {
          inScope(() => {
            const [x, lo, hi] = [xs, los, his].map(exact) as [NDArray, NDArray, NDArray];
            const [tx, tlo, thi] = ts.map(exact) as [NDArray, NDArray, NDArray];
            const label = `${backend}: x [${xs}], lo [${los}], hi [${his}]`;
            const [, t] = jvp(clip3, [x, lo, hi], [tx, tlo, thi]);
            const [, tWant] = jvp(comp3, [x, lo, hi], [tx, tlo, thi]);
            expectSameTangent(t, tWant, `${label}: jvp`);
            // Tangents in one operand at a time (the others' symbolic zeros take other branches of the rule).
            for (let k = 0; k < 3; k++) {
              const only = (i: number) => (i === k ? [tx, tlo, thi][i]! : np.zerosLike(x));
              const f = (v: NDArray) => clip3(...([x, lo, hi].map((o, i) => (i === k ? v : o)) as [NDArray, NDArray, NDArray]));
              const g = (v: NDArray) => comp3(...([x, lo, hi].map((o, i) => (i === k ? v : o)) as [NDArray, NDArray, NDArray]));
              expectSameTangent(jvp(f, [[x, lo, hi][k]!], [only(k)])[1], jvp(g, [[x, lo, hi][k]!], [only(k)])[1], `${label}: jvp in operand ${k}`);
            }
            const grads = grad((a: NDArray, l: NDArray, h: NDArray) => np.sum(clip3(a, l, h)), { argnums: [0, 1, 2] })(x, lo, hi) as NDArray[];
            const jitted = jgrad(x, lo, hi) as NDArray[];
            const want = xs.map((v, i) => closedForm(Math.fround(v), Math.fround(los[i]!), Math.fround(his[i]!)));
            for (let k = 0; k < 3; k++) {
              expect(values(grads[k]!), `${label}: grad ${k}`).toEqual(want.map((w) => w[k]));
              expect(values(jitted[k]!), `${label}: jit(grad) ${k}`).toEqual(want.map((w) => w[k]));
            }
          });
        }),
        { seed: FC_SEED, numRuns: 60 },
      );
      jgrad.clearCache();
    });
  });

  it('scalar bounds: grad in x is 1 inside, ½ at either bound, 0 outside and at NaN; the second derivative is 0', async () => {
    await onEachBackend((backend) => {
      const x = exact([-2, -1, -0, 0, 0.5, 1, 2, NaN]);
      const g = grad((a: NDArray) => np.sum(np.clip(a, -1, 1)));
      expect(values(g(x)), backend).toEqual([0, 0.5, 1, 1, 1, 0.5, 0, 0]);
      expect(values(g(x)), `${backend}: as the composition`).toEqual(values(grad((a: NDArray) => np.sum(composition(a, -1, 1)))(x)));
      expect(values(grad((a: NDArray) => np.sum(g(a)))(x)), backend).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
      // A one-sided clip's absent bound changes no finite derivative.
      expect(values(grad((a: NDArray) => np.sum(np.clip(a, null, 1)))(x)), backend).toEqual([1, 1, 1, 1, 1, 0.5, 0, 0]);
      expect(values(grad((a: NDArray) => np.sum(np.clip(a, 0, null)))(x)), backend).toEqual([0, 0, 0.5, 0.5, 1, 1, 1, 0]);
    });
  });
});

describe('clamp: vmap, programs, kernels, errors', () => {
  it('vmap over x, over the bounds, or all three equals clip of each example', async () => {
    await onEachBackend((backend) => {
      const xs = np.reshape(np.linspace(-3, 3, 15), [3, 5]);
      const los = np.array([[-1], [0], [1]], 'float32').add(np.zeros([3, 5])), his = np.full([3, 5], 1.5);
      const row = (a: NDArray, i: number) => np.take(a, i, 0);
      const f = (x: NDArray, lo: NDArray, hi: NDArray) => np.clip(x, lo, hi);
      for (const inAxes of [[0, 0, 0], [0, null, null], [null, 0, null], [null, null, 0], [1, 1, 1]] as const) {
        const args = [xs, los, his].map((a, i) => (inAxes[i] === null ? row(a, 0) : inAxes[i] === 1 ? np.transpose(a) : a)) as [NDArray, NDArray, NDArray];
        const got = vmap(f, { inAxes: [...inAxes] })(...args);
        const want = np.stack([0, 1, 2].map((i) => f(...(args.map((a, k) => (inAxes[k] === null ? a : inAxes[k] === 1 ? np.take(a, i, 1) : row(a, i))) as [NDArray, NDArray, NDArray]))));
        expect(bitsOf(got), `${backend}: inAxes ${JSON.stringify(inAxes)}`).toEqual(bitsOf(want));
      }
      const batchedGrad = vmap(grad((x: NDArray) => np.sum(np.clip(x, -1, 1))))(np.array([[-1, 0], [1, 2]], 'float32'));
      expect(values(batchedGrad), backend).toEqual([0.5, 1, 0.5, 0]);
    });
  });

  it('transformations see one clamp (not max and min), with operands lo, x, hi', () => {
    noLeak(() => {
      const x = np.ones([2, 3]);
      const prims = (prog: { jaxpr: { eqns: { prim: string }[] } }) => prog.jaxpr.eqns.map((e) => e.prim);
      expect(prims(makeJaxpr((a: NDArray) => np.clip(a, -1, 1))(x))).toEqual(['clamp']);
      expect(prims(makeJaxpr((a: NDArray, l: NDArray) => np.clip(a, l, 2))(x, np.zeros([1, 3])))).toEqual(['clamp']);
      // One bound is that bound's max or min (jnp.clip's), not a clamp with an infinite other bound.
      expect(prims(makeJaxpr((a: NDArray) => np.clip(a, null, 1))(x))).toEqual(['min']);
      expect(prims(makeJaxpr((a: NDArray) => np.clip(a, 0, null))(x))).toEqual(['max']);
      // vmap: the unbatched bounds get a leading size-1 axis (reshapes), and one clamp.
      const vm = prims(makeJaxpr(vmap((a: NDArray, l: NDArray) => np.clip(a, l, 1), { inAxes: [0, null] }))(x, np.zeros([3])));
      expect(vm.filter((p) => p !== 'reshape')).toEqual(['clamp']);
    });
  });

  it('one kernel eagerly and under jit on wasm and cpu: clamp for two bounds (scalars or same-shape arrays), max or min for one; float32 and int32', async () => {
    const start = getBackend();
    try {
      for (const backend of ['wasm', 'cpu'] as const) {
        await setBackend(backend);
        for (const dtype of ['float32', 'int32'] as const) {
          const x = np.astype(np.reshape(np.linspace(-40, 40, 256 * 8), [256, 8]), dtype);
          const lo = np.full([256, 8], -3, dtype), hi = np.full([256, 8], 5, dtype);
          const jclip = jit((a: NDArray, l: NDArray, h: NDArray) => np.clip(a, l, h));
          const jscalar = jit((a: NDArray) => np.clip(a, -1, 1));
          dispose([jclip(x, lo, hi), jscalar(x)]); // compiled first (a first call traces and makes constants)
          // (gradus's kernels count under their names less "Gradus": wasm's max kernel is "max", cpu's loop "Maximum"; wasm's int32
          // max against one value is a clamp with int32's extreme as the other bound.)
          const [max, min] = backend === 'cpu' ? ['Maximum', 'Minimum'] : dtype === 'int32' ? ['Clamp_int32', 'Clamp_int32'] : ['max', 'min'];
          const clamp = backend === 'wasm' ? `Clamp_${dtype}` : 'Clamp';
          const cases: [string, () => NDArray, string][] = [
            ['scalars', () => np.clip(x, -1, 1), clamp], ['lo only', () => np.clip(x, 0, null), max], ['hi only', () => np.clip(x, null, 1), min],
            ['arrays', () => np.clip(x, lo, hi), clamp], ['jit arrays', () => jclip(x, lo, hi), clamp], ['jit scalars', () => jscalar(x), clamp],
          ];
          for (const [name, run, kernel] of cases) {
            const counts = await kernelCounts(run);
            expect([...counts], `${backend} ${dtype} ${name}`).toEqual([[kernel, 1]]);
          }
          jclip.clearCache();
          jscalar.clearCache();
          dispose([x, lo, hi]);
        }
      }
    } finally {
      await setBackend(start);
    }
  });

  it('refuses bool, mixed dtypes, a wrong operand count and shapes that do not broadcast, naming clamp', () => {
    noLeak(() => {
      const f = np.ones([2, 3]), i = np.ones([2, 3], 'int32'), b = np.greater(f, 0);
      expect(() => bind1('clamp', [b, b, b], {})).toThrow(DTypeError);
      expect(() => bind1('clamp', [b, b, b], {})).toThrow(/clamp: expected float32 or int32 operands \[lo, x, hi\] but got bool\[2,3\]/);
      expect(() => bind1('clamp', [f, i, f], {})).toThrow(/clamp: operands must share a dtype/);
      expect(() => bind1('clamp', [f, f], {})).toThrow(/clamp: expected 3 operand/);
      expect(() => bind1('clamp', [np.ones([2, 2]), f, f], {})).toThrow(ShapeError);
      expect(() => np.clip(f, np.ones([4]), 1)).toThrow(/clip/);
    });
  });
});

// JAX's scan `unroll`: unroll = k runs k steps of the body per iteration of the loop (true: all of
// them), the length mod k steps left over one at a time. It may change how the loop runs, never
// what it computes: every result (forward and reverse, lengths not divisible by k and 0, k beyond
// the length) has the bits of unroll = 1, eager and under jit, grad, jvp, vmap and checkpoint (with
// and without a policy), on wasm and cpu, and no tensor is left behind. The body is chosen so that
// written out k times the executor's rewrites reach across steps (see `run`), which they never do
// at unroll = 1. Every scan the transformations make keeps the unroll, and the loop really runs
// floor(L/k) blocks of k steps.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  NDArray, TransformError, checkpoint, dispose, dotsSaveable, grad, jit, jvp, makeJaxpr, np, random, scan, scope, vmap, type Jaxpr,
} from '../src/index.js';
import { CompiledProgram, programCompiler, type Executable } from '../src/executor.js';
import { FC_SEED, forEachBackend, numTensors, sameBits } from './helpers.js';

type Unroll = number | boolean;
type Carry = [NDArray, NDArray, NDArray, NDArray];
interface Xs { a: NDArray; b: NDArray }

/** The carries' other starting values (made once, so that an eager run makes no array it does not return). */
const S0 = np.full([2, 4], 0.75), C0 = np.full([2, 4], -0.5), N0 = np.array(0, 'int32');

/**
 * A scan of `length` steps over xs {a: f32[L, 2, 4], b: i32[L]}; returns the final carry and the ys.
 * Written out k times, the executor fuses across steps: a step's s = (t·a)·W with the next step's
 * s + bias into a dense layer, and a step's c = 0.5·t with the next step's h + c into an axpy.
 */
const run = (w: NDArray, bias: NDArray, h0: NDArray, xs: Xs, opts: { reverse: boolean; unroll: Unroll }) =>
  scan(([h, s, c, n]: Carry, x: Xs) => {
    const t = np.tanh(np.add(s, bias));
    const h2 = np.add(h, c);
    const n2 = np.add(n, x.b);
    return [[h2, np.matmul(np.multiply(t, x.a), w), np.multiply(t, 0.5), n2], [np.multiply(h2, x.a), n2]] as [Carry, [NDArray, NDArray]];
  }, [h0, S0, C0, N0] as Carry, xs, opts);

/** One number from the results: what grad and jvp differentiate. */
const loss = (w: NDArray, bias: NDArray, h0: NDArray, a: NDArray, b: NDArray, opts: { reverse: boolean; unroll: Unroll }) => {
  const [[h, s], [ys]] = run(w, bias, h0, { a, b }, opts);
  return np.add(np.sum(np.multiply(h, h)), np.add(np.sum(s), np.sum(np.sin(ys))));
};

function inputs(seed: number, length: number) {
  return scope(() => {
    const k = random.split(random.key(seed), 5);
    return {
      w: random.normal(k.at(0), [4, 4]).mul(0.5), bias: random.normal(k.at(1), [4]), h0: random.normal(k.at(2), [2, 4]),
      a: random.normal(k.at(3), [length, 2, 4]), b: random.randint(k.at(4), [length], -3, 4),
      // jvp's tangents and vmap's batch of xs
      dh: random.normal(k.at(0), [2, 4]), da: random.normal(k.at(1), [length, 2, 4]), batch: random.normal(k.at(2), [3, length, 2, 4]),
    };
  });
}

const leaves = (v: unknown): NDArray[] => (v instanceof NDArray ? [v] : Array.isArray(v) ? v.flatMap(leaves) : v && typeof v === 'object' ? Object.values(v).flatMap(leaves) : []);

/** Every leaf of `got` has the dtype, shape and bits of the same leaf of `want`. */
function expectSameBits(got: unknown, want: unknown, label: string): void {
  const g = leaves(got), w = leaves(want);
  expect(g.length, label).toBe(w.length);
  g.forEach((x, i) => expect(sameBits(x, w[i]!), `${label}: leaf ${i} ${x.aval.str()} differs from unroll = 1\n${x.dataSync()}\n${w[i]!.dataSync()}`).toBe(true));
}

const UNROLLS = fc.oneof(fc.integer({ min: 1, max: 6 }), fc.boolean(), fc.constant(12));

describe('scan unroll', () => {
  it('gives the bits of unroll = 1: eager, jit, grad, jit(grad), jvp, vmap, checkpoint; forward and reverse; any length; wasm and cpu; no leaks', () =>
    forEachBackend((backend) =>
      fc.assert(
        fc.property(fc.integer({ min: 0, max: 9 }), UNROLLS, fc.boolean(), fc.integer({ min: 0, max: 1000 }), (length, unroll, reverse, seed) => {
          const { w, bias, h0, a, b, dh, da, batch } = inputs(seed, length);
          const before = numTensors();
          const label = `${backend} length ${length} unroll ${unroll} reverse ${reverse}`;
          const variants = (o: { reverse: boolean; unroll: Unroll }) => {
            const f = (w: NDArray, bias: NDArray, h0: NDArray, a: NDArray) => loss(w, bias, h0, a, b, o);
            const g = grad(f, { argnums: [0, 1, 2, 3] });
            const jitted = jit((w: NDArray, bias: NDArray, h0: NDArray, a: NDArray) => run(w, bias, h0, { a, b }, o));
            const jittedGrad = jit(g);
            const out = {
              eager: run(w, bias, h0, { a, b }, o),
              jit: jitted(w, bias, h0, a),
              grad: g(w, bias, h0, a),
              jitGrad: jittedGrad(w, bias, h0, a),
              jvp: jvp((h0: NDArray, a: NDArray) => loss(w, bias, h0, a, b, o), [h0, a], [dh, da]),
              vmap: vmap((a: NDArray) => run(w, bias, h0, { a, b }, o))(batch),
              checkpoint: grad(checkpoint(f), { argnums: [0, 3] })(w, bias, h0, a),
              policy: grad(checkpoint(f, { policy: dotsSaveable }), { argnums: [0, 3] })(w, bias, h0, a),
            };
            jitted.clearCache();
            jittedGrad.clearCache();
            return out;
          };
          const want = variants({ reverse, unroll: 1 });
          const got = variants({ reverse, unroll });
          for (const key of Object.keys(want) as (keyof typeof want)[]) expectSameBits(got[key], want[key], `${label} ${key}`);
          dispose([...leaves(want), ...leaves(got)]);
          expect(numTensors(), `${label}: tensors left`).toBe(before);
          dispose([w, bias, h0, a, b, dh, da, batch]);
        }),
        { seed: FC_SEED, numRuns: backend === 'wasm' ? 10 : 5 },
      ),
    ));

  it('is kept by every scan that jit, grad, checkpoint and vmap make (true as the length)', () => {
    const ins = inputs(1, 7);
    const { w, bias, h0, a, b } = ins;
    const scanUnrolls = (jaxpr: Jaxpr): number[] =>
      jaxpr.eqns.flatMap((e) => {
        const p = e.params as { unroll?: number; jaxpr?: Jaxpr };
        return [...(e.prim === 'scan' ? [p.unroll!] : []), ...(p.jaxpr !== undefined ? scanUnrolls(p.jaxpr) : [])];
      });
    for (const [unroll, want] of [[3, 3], [true, 7], [false, 1]] as const) {
      const o = { reverse: false, unroll };
      const f = (w: NDArray, a: NDArray) => loss(w, bias, h0, a, b, o);
      const programs = [
        makeJaxpr(jit(grad(f, { argnums: [0, 1] })))(w, a).jaxpr,
        makeJaxpr(grad(checkpoint(f, { policy: dotsSaveable }), { argnums: [0, 1] }))(w, a).jaxpr,
        makeJaxpr(vmap(grad(f)))(np.stack([w, w]), np.stack([a, a])).jaxpr,
      ];
      for (const program of programs) {
        const found = scanUnrolls(program);
        expect(found.length, String(program)).toBeGreaterThanOrEqual(2); // the forward scan and its transpose
        expect(found, `unroll ${unroll}`).toEqual(found.map(() => want));
      }
    }
    dispose(leaves(ins));
  });

  it('runs the body written out k times once per k steps, and the body alone for the length mod k steps left', () => {
    // Count the runs of each compiled program by its number of inputs: the body's consts, 3 carries
    // and 2 slices; a block of k steps the same consts and carries and 2k slices.
    // The live tensors at each run are recorded too: the loop holds one carry and the slices of the
    // run, so their number may not grow from one iteration to the next.
    const runs = new Map<number, number>();
    const live = new Map<number, number[]>();
    const compile = programCompiler.compile;
    programCompiler.compile = (jaxpr: Jaxpr): Executable => {
      const inner = new CompiledProgram(jaxpr);
      const arity = jaxpr.inBinders.length;
      return {
        run: (args, loop) => {
          runs.set(arity, (runs.get(arity) ?? 0) + 1);
          live.set(arity, [...(live.get(arity) ?? []), numTensors()]);
          return inner.run(args, loop);
        },
      };
    };
    try {
      for (const [length, unroll, reverse] of [[7, 3, false], [7, 3, true], [13, 3, false], [8, 4, false], [2, 5, false], [5, true, true], [0, 3, false]] as const) {
        runs.clear();
        const ins = inputs(2, length);
        const { w, bias, h0, a, b } = ins;
        const o = { reverse, unroll };
        const jitted = jit((w: NDArray, a: NDArray) => run(w, bias, h0, { a, b }, o));
        const scanEqn = makeJaxpr(jitted)(w, a).jaxpr.eqns.find((e) => e.prim === 'jit_call')!;
        const jitBody = (scanEqn.params as { jaxpr: Jaxpr }).jaxpr;
        const scanArity = jitBody.inBinders.length; // (the jit's program, run once)
        const bodyArity = (jitBody.eqns.find((e) => e.prim === 'scan')!.params as { jaxpr: Jaxpr }).jaxpr.inBinders.length;
        const want = run(w, bias, h0, { a, b }, { reverse, unroll: 1 });
        const body = runs.get(bodyArity) ?? 0;
        runs.clear();
        live.clear();
        const got = jitted(w, a);
        const k = Math.min(unroll === true ? length : unroll, length);
        const blocks = k > 1 ? Math.floor(length / k) : 0;
        const label = `length ${length} unroll ${unroll} reverse ${reverse}`;
        expect(body, label).toBe(length);
        if (k > 1) expect(runs.get(bodyArity + 2 * (k - 1)) ?? 0, `${label}: blocks`).toBe(blocks);
        expect(runs.get(bodyArity) ?? 0, `${label}: single steps`).toBe(k > 1 ? length % k : length);
        for (const [arity, counts] of live) if (arity !== scanArity) expect(new Set(counts.slice(1)).size, `${label}: live tensors at the runs of a ${arity}-input program after its first (which makes the loop's literals): ${counts}`).toBeLessThanOrEqual(1);
        expectSameBits(got, want, label);
        jitted.clearCache();
        dispose([...leaves(ins), ...leaves(want), ...leaves(got)]);
      }
    } finally {
      programCompiler.compile = compile;
    }
  });

  it('refuses an unroll that is not a positive integer or a boolean, naming it', () => {
    const xs = np.arange(4).astype('float32');
    for (const bad of [0, -2, 1.5, NaN, Infinity, '2', null]) {
      expect(() => scan((c: NDArray, x: NDArray) => [np.add(c, x), x] as [NDArray, NDArray], np.array(0, 'float32'), xs, { unroll: bad as never }), String(bad)).toThrow(TransformError);
      expect(() => scan((c: NDArray, x: NDArray) => [np.add(c, x), x] as [NDArray, NDArray], np.array(0, 'float32'), xs, { unroll: bad as never }), String(bad)).toThrow(/scan: unroll must be a positive integer or a boolean, got/);
    }
    dispose(xs);
  });
});

// onLstm.apply's time loop is lax.scan (models/on_lstm.ts): the traced program is one scan equation
// whatever T is. Checked here: the program's size does not grow with T, and the scan version gives
// the values and gradients of the JS-loop version it replaced (properties/on_lstm_js_loop.ts, the
// oracle) on random inputs (masks, initial states, batch axes of 1 that broadcast, chunking, both
// master-input gates, T = 0 and T = 1), eagerly, under jit, jit(grad) and per example under vmap.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as onLstm from '../models/on_lstm.js';
import { grad, jit, makeJaxpr, np, random, vmap, type ArrayLike, type NDArray } from '../src/index.js';
import * as oracle from './on_lstm_js_loop.js';
import { assertNoLeak, expectClose, noLeak } from './helpers.js';

type Apply = typeof onLstm.apply;
type Config = Parameters<Apply>[2];
const normal = (i: number, shape: number[]) => random.normal(random.key(i), shape);
const impls: [string, Apply][] = [['scan', onLstm.apply], ['JS loop', oracle.apply]];

/** Number of equations at the top level of the program `f` traces to. */
const size = (f: (p: onLstm.OnLstmParams, x: NDArray) => unknown, p: onLstm.OnLstmParams, x: NDArray) => makeJaxpr(f)(p, x).jaxpr.eqns.length;

describe('onLstm.apply is one scan', () => {
  it('the traced program has the same size for T = 3 and T = 40 (plain, masked, with an initial state, its gradient)', () => {
    noLeak(() => {
      const p = onLstm.init(random.key(0), 3, 4, { chunkSize: 2 });
      const h0 = normal(1, [2, 4]);
      const mask = (x: NDArray) => np.greater(np.sum(x, -1), 0);
      const fns: [string, (pp: onLstm.OnLstmParams, x: NDArray) => unknown][] = [
        ['plain', (pp, x) => onLstm.apply(pp, x, { chunkSize: 2 })],
        ['masked', (pp, x) => onLstm.apply(pp, x, { chunkSize: 2, mask: mask(x), masterInput: 'paper' })],
        ['initial state', (pp, x) => onLstm.apply(pp, x, { chunkSize: 2, initialState: { h: h0, c: h0 } })],
        ['grad', grad((pp: onLstm.OnLstmParams, x: NDArray) => np.sum(onLstm.apply(pp, x, { chunkSize: 2, mask: mask(x) }).h), { argnums: [0, 1] })],
      ];
      for (const [name, f] of fns) {
        const short = size(f, p, normal(2, [2, 3, 3])), long = size(f, p, normal(3, [2, 40, 3]));
        expect(long, `${name}: ${short} equations at T = 3, ${long} at T = 40`).toBe(short);
        expect(short, name).toBeLessThan(80);
      }
    });
  });
});

const caseArb = fc.record({
  batch: fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 2 }),
  // Which batch axes are 1 in xs, h0, c0 and the mask (they broadcast to the full batch).
  ones: fc.array(fc.boolean(), { minLength: 8, maxLength: 8 }),
  T: fc.integer({ min: 0, max: 5 }),
  inDim: fc.integer({ min: 1, max: 3 }),
  chunks: fc.integer({ min: 1, max: 3 }),
  chunkSize: fc.integer({ min: 1, max: 2 }),
  masterInput: fc.constantFrom('symmetric' as const, 'paper' as const),
  state: fc.constantFrom('none', 'given', 'h shorter'),
  mask: fc.constantFrom('none', 'bool', 'float', 'fewer axes'),
  seed: fc.nat(10_000),
});
type Case = typeof caseArb extends fc.Arbitrary<infer C> ? C : never;

/** The inputs of one case: parameters, xs and the config (shared by both implementations). */
function inputs({ batch, ones, T, inDim, chunks, chunkSize, masterInput, state, mask, seed }: Case) {
  const n = chunks * chunkSize;
  const keys = random.split(random.key(seed), 6);
  const shrink = (k: number) => batch.map((d, j) => (ones[2 * k + j] ? 1 : d));
  const p = onLstm.init(keys.at(0), inDim, n, { chunkSize });
  // Non-zero biases, so that every gate's part of b matters.
  const params = { ...p, b: random.normal(keys.at(1), p.b.shape).mul(0.5) };
  const xs = random.normal(keys.at(2), [...shrink(0), T, inDim]);
  const h0 = random.normal(keys.at(3), [...(state === 'h shorter' ? shrink(1).slice(1) : shrink(1)), n]);
  const c0 = random.normal(keys.at(4), [...shrink(2), n]);
  const m = np.less(random.uniform(keys.at(5), [...(mask === 'fewer axes' ? shrink(3).slice(1) : shrink(3)), T]), 0.6);
  const config: Config = {
    chunkSize,
    masterInput,
    ...(state === 'none' ? {} : { initialState: { h: h0, c: c0 } }),
    ...(mask === 'none' ? {} : { mask: mask === 'float' ? m.astype('float32') : m }),
  };
  return { params, xs, h0, c0, config };
}

const parts = (o: onLstm.SequenceOutput): [string, NDArray][] => [['h', o.h], ['fTilde', o.fTilde], ['levels', o.levels], ['state.h', o.state.h], ['state.c', o.state.c]];

function same(label: string, got: NDArray, want: NDArray, tol = 1e-5) {
  expect(got.shape, label).toEqual(want.shape);
  expect(got.dtype, label).toBe(want.dtype);
  expectClose(got, want, { rtol: tol, atol: tol, label });
}

describe('an initial state of nested JS integers', () => {
  it('starts the (float32) carry as the loop did', () => {
    noLeak(() => {
      const p = onLstm.init(random.key(4), 2, 2);
      const xs = normal(5, [3, 2]), initialState = { h: [1, -2], c: [0, 3] } as unknown as onLstm.OnLstmState;
      const [a, b] = impls.map(([, apply]) => apply(p, xs, { initialState })) as [onLstm.SequenceOutput, onLstm.SequenceOutput];
      const w = parts(b);
      for (const [i, [name, v]] of parts(a).entries()) same(name, v, w[i]![1]);
    });
  });

  it('gives a float32 state at T = 0 too (the dtype does not depend on the length)', () => {
    noLeak(() => {
      const p = onLstm.init(random.key(4), 2, 2);
      const initialState = { h: [1, -2], c: [0, 3] } as unknown as onLstm.OnLstmState;
      const empty = onLstm.apply(p, np.zeros([0, 2]), { initialState }).state;
      const one = onLstm.apply(p, normal(5, [1, 2]), { initialState }).state;
      expect([empty.h.dtype, empty.c.dtype]).toEqual([one.h.dtype, one.c.dtype]);
      expect(empty.h.toArray()).toEqual([1, -2]);
    });
  });
});

describe('the scan version gives the JS-loop version\'s values and gradients', () => {
  it('outputs, final state and gradients for params, xs and the initial state, eagerly', () => {
    assertNoLeak(caseArb, (c) => {
      const { params, xs, h0, c0, config } = inputs(c);
      const [got, want] = impls.map(([, apply]) => apply(params, xs, config)) as [onLstm.SequenceOutput, onLstm.SequenceOutput];
      const w = parts(want);
      for (const [i, [name, a]] of parts(got).entries()) same(name, a, w[i]![1]);
      // A loss that reads every output, weighted so that no gradient is a plain sum.
      const loss = (apply: Apply) => (p: onLstm.OnLstmParams, x: NDArray, h: NDArray, cc: NDArray) => {
        const o = apply(p, x, { ...config, ...(config?.initialState ? { initialState: { h, c: cc } } : {}) });
        return np.sum(np.tanh(o.h).mul(1.5)).add(np.sum(o.levels.mul(0.3))).add(np.sum(o.state.c.mul(o.state.h)));
      };
      const d = (apply: Apply) => grad(loss(apply), { argnums: [0, 1, 2, 3] })(params, xs, h0, c0) as unknown as [onLstm.OnLstmParams, NDArray, NDArray, NDArray];
      const [a, b] = [d(onLstm.apply), d(oracle.apply)];
      for (const k of ['wx', 'wh', 'b'] as const) same(`d/d${k}`, a[0][k], b[0][k], 1e-4);
      same('d/dxs', a[1], b[1], 1e-4);
      same('d/dh0', a[2], b[2], 1e-4);
      same('d/dc0', a[3], b[3], 1e-4);
    }, 30);
  });

  it('under jit, jit(grad) and per example under vmap', () => {
    assertNoLeak(caseArb.filter(({ batch }) => batch.length > 0), (c) => {
      const { params, xs, h0, c0, config } = inputs(c);
      const B = c.batch[0]!;
      // Full-batch inputs for vmap over axis 0 (every leaf given its batch axis).
      const full = [...c.batch];
      const wide = (v: ArrayLike, last: number[]) => np.broadcastTo(v, [...full, ...last]);
      const n = params.wh.shape[0]!;
      const x = wide(xs, xs.shape.slice(-2)), h = wide(h0, [n]), cc = wide(c0, [n]);
      const m = config?.mask === undefined ? np.ones([...full, c.T], 'bool') : wide(config.mask, [c.T]);
      const run = (apply: Apply) => (p: onLstm.OnLstmParams, xx: NDArray, hh: NDArray, ccc: NDArray, mm: NDArray) =>
        apply(p, xx, { chunkSize: c.chunkSize, masterInput: c.masterInput, initialState: { h: hh, c: ccc }, mask: mm });
      const want = run(oracle.apply)(params, x, h, cc, m);
      const jf = jit(run(onLstm.apply));
      const w = parts(want);
      for (const [i, [name, a]] of parts(jf(params, x, h, cc, m)).entries()) same(`jit ${name}`, a, w[i]![1]);
      const vf = vmap(run(onLstm.apply), { inAxes: [null, 0, 0, 0, 0] });
      for (const [i, [name, a]] of parts(vf(params, x, h, cc, m)).entries()) same(`vmap ${name}`, a, w[i]![1]);
      expect(B).toBe(x.shape[0]);
      // Only xs batched: the carry starts unbatched (zeros, or a state shared by the batch) and the
      // scan's batching rule must widen it after the first step.
      const shared = { h: h.at(0), c: cc.at(0) };
      const vx = vmap((xx: NDArray) => onLstm.apply(params, xx, { chunkSize: c.chunkSize, masterInput: c.masterInput, initialState: shared }))(x);
      const wx = oracle.apply(params, x, { chunkSize: c.chunkSize, masterInput: c.masterInput, initialState: shared });
      const wxp = parts(wx);
      for (const [i, [name, a]] of parts(vx).entries()) same(`vmap over xs only ${name}`, a, wxp[i]![1]);
      const loss = (apply: Apply) => (p: onLstm.OnLstmParams, hh: NDArray) => np.sum(run(apply)(p, x, hh, cc, m).h.mul(np.arange(c.T).add(1).reshape([c.T, 1])));
      const jd = jit(grad(loss(onLstm.apply), { argnums: [0, 1] }));
      const [a, b] = [jd(params, h), grad(loss(oracle.apply), { argnums: [0, 1] })(params, h)] as unknown as [onLstm.OnLstmParams, NDArray][];
      for (const k of ['wx', 'wh', 'b'] as const) same(`jit(grad) d/d${k}`, a![0][k], b![0][k], 1e-4);
      same('jit(grad) d/dh0', a![1], b![1], 1e-4);
      for (const j of [jf, jd]) j.clearCache();
    }, 15);
  });
});

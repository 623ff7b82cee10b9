// The CRF's time loops are lax.scan (models/crf.ts): the traced program is one scan equation per
// recursion whatever T is, as a JAX CRF written with lax.scan. Checked here: the program's size
// does not grow with T, and the scan version gives the values and gradients of the JS-loop version
// it replaced (properties/crf_js_loop.ts, the oracle) on random batches, masks (broadcast ones
// included), tags with axes of 1 and T = 0, eagerly, under jit and per example under vmap.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as crf from '../models/crf.js';
import { grad, jit, makeJaxpr, np, random, vmap, type NDArray } from '../src/index.js';
import * as oracle from './crf_js_loop.js';
import { assertNoLeak, expectClose, noLeak } from './helpers.js';

type Crf = typeof crf;
const normal = (i: number, shape: number[]) => random.normal(random.key(i), shape);

/** Number of equations at the top level of the program `f` traces to. */
const size = (f: (e: NDArray, g: NDArray) => unknown, e: NDArray, g: NDArray) => makeJaxpr(f)(e, g).jaxpr.eqns.length;

describe('crf recursions are one scan each', () => {
  it('the traced program of every function has the same size for T = 3 and T = 40', () => {
    noLeak(() => {
      const k = 3, g = normal(0, [k, k]);
      const fns: [string, (e: NDArray, g: NDArray) => unknown][] = [
        ['logPartition', (e, gg) => crf.logPartition(e, gg)],
        ['logPartition masked', (e, gg) => crf.logPartition(e, gg, { mask: np.greater(np.sum(e, -1), 0) })],
        ['score', (e, gg) => crf.score(e, np.zeros(e.shape.slice(0, -1), 'int32'), gg)],
        ['nll masked', (e, gg) => crf.nll(e, np.ones(e.shape.slice(0, -1), 'int32'), gg, { mask: np.greater(np.sum(e, -1), 0) })],
        ['memmNll', (e, gg) => crf.memmNll(e, np.ones(e.shape.slice(0, -1), 'int32'), gg)],
        ['biMemmNll masked', (e, gg) => crf.biMemmNll(e, np.ones(e.shape.slice(0, -1), 'int32'), gg, { mask: np.greater(np.sum(e, -1), 0) })],
        ['viterbi', (e, gg) => crf.viterbi(e, gg)],
        ['viterbi masked', (e, gg) => crf.viterbi(e, gg, { mask: np.greater(np.sum(e, -1), 0) })],
        ['marginals', (e, gg) => crf.marginals(e, gg)],
        ['grad nll', grad((e: NDArray, gg: NDArray) => np.sum(crf.nll(e, np.zeros(e.shape.slice(0, -1), 'int32'), gg)), { argnums: [0, 1] })],
      ];
      for (const [name, f] of fns) {
        const short = size(f, normal(1, [2, 3, k]), g), long = size(f, normal(2, [2, 40, k]), g);
        expect(long, `${name}: ${short} equations at T = 3, ${long} at T = 40`).toBe(short);
        expect(short, name).toBeLessThan(120);
      }
    });
  });
});

const caseArb = fc.record({
  batch: fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 2 }),
  T: fc.integer({ min: 0, max: 6 }),
  k: fc.integer({ min: 1, max: 4 }),
  seed: fc.nat(10_000),
  mask: fc.constantFrom('none', 'full', 'broadcast', 'float'),
  tagOnes: fc.boolean(),
  p: fc.constantFrom(0.2, 0.6, 0.9),
});

describe('the scan version gives the JS-loop version\'s values and gradients', () => {
  it('score, logPartition, nll, loss, memmNll, biMemmNll, marginals and viterbi, with and without masks', () => {
    assertNoLeak(caseArb, ({ batch, T, k, seed, mask, tagOnes, p }) => {
      const keys = random.split(random.key(seed), 5);
      const e = random.normal(keys.at(0), [...batch, T, k]).mul(2), g = random.normal(keys.at(1), [k, k]);
      // Tags with axes of 1 broadcast over the batch (crf's documented [1, T] for [B, T, K]).
      const y = random.randint(keys.at(2), [...(tagOnes ? batch.map(() => 1) : batch), T], 0, k);
      const lead = mask === 'broadcast' ? batch.slice(1).map((d, i) => (i === 0 ? 1 : d)) : batch;
      const m = np.less(random.uniform(keys.at(3), [...lead, T]), p);
      const options = mask === 'none' ? {} : { mask: mask === 'float' ? m.astype('float32') : m };
      const both = (label: string, f: (c: Crf) => NDArray, tol = 1e-5) => {
        const got = f(crf), want = f(oracle as unknown as Crf);
        expect(got.shape, label).toEqual(want.shape);
        expect(got.dtype, label).toBe(want.dtype);
        expectClose(got, want, { rtol: tol, atol: tol, label });
      };
      both('score', (c) => c.score(e, y, g, options));
      both('logPartition', (c) => c.logPartition(e, g, options));
      both('nll', (c) => c.nll(e, y, g, options));
      both('loss', (c) => c.loss({ transitions: g }, e, y, options));
      both('memmNll', (c) => c.memmNll(e, y, g, options));
      both('biMemmNll', (c) => c.biMemmNll(e, y, g, { ...options, reverseTransitions: np.transpose(g).mul(0.5) }));
      both('marginals', (c) => c.marginals(e, g, options), 1e-4);
      both('viterbi.score', (c) => c.viterbi(e, g, options).score);
      // Paths agree wherever a sequence has a real step (a fully masked one is decoded differently
      // now: crf_viterbi_masked.test.ts).
      const real = mask === 'none' ? np.ones(batch, 'bool') : np.broadcastTo(np.any(np.broadcastTo(m, [...batch, T]), -1), batch);
      both('viterbi.path', (c) => np.where(np.expandDims(real, -1), c.viterbi(e, g, options).path, -1));
      for (const [name, fn] of [['nll', 'nll'], ['memmNll', 'memmNll'], ['biMemmNll', 'biMemmNll']] as const) {
        const d = (c: Crf) => grad((ee: NDArray, gg: NDArray) => np.sum(c[fn](ee, y, gg, options)), { argnums: [0, 1] })(e, g) as unknown as NDArray[];
        const [a, b] = [d(crf), d(oracle as unknown as Crf)];
        expectClose(a[0]!, b[0]!, { rtol: 1e-4, atol: 1e-5, label: `d${name}/de` });
        expectClose(a[1]!, b[1]!, { rtol: 1e-4, atol: 1e-5, label: `d${name}/dg` });
      }
    }, 25);
  });

  it('under jit, jit(grad) and per example under vmap', () => {
    assertNoLeak(caseArb.filter(({ batch }) => batch.length > 0), ({ batch, T, k, seed, p }) => {
      const keys = random.split(random.key(seed), 4);
      const e = random.normal(keys.at(0), [...batch, T, k]), g = random.normal(keys.at(1), [k, k]);
      const y = random.randint(keys.at(2), [...batch, T], 0, k);
      const m = np.less(random.uniform(keys.at(3), [...batch, T]), p);
      const f = (c: Crf) => (ee: NDArray, gg: NDArray, yy: NDArray, mm: NDArray) => c.nll(ee, yy, gg, { mask: mm });
      const want = f(oracle as unknown as Crf)(e, g, y, m);
      // (jit holds what the functions close over as constants: its caches are cleared below.)
      const jn = jit(f(crf)), jd = jit(grad((gg: NDArray) => np.sum(f(crf)(e, gg, y, m)))), jv = jit(vmap((ee: NDArray, mm: NDArray) => crf.viterbi(ee, g, { mask: mm }).score));
      expectClose(jn(e, g, y, m), want, { rtol: 1e-5, atol: 1e-5, label: 'jit nll' });
      expectClose(vmap(f(crf), { inAxes: [0, null, 0, 0] })(e, g, y, m), want, { rtol: 1e-5, atol: 1e-5, label: 'vmap nll' });
      expectClose(jd(g), grad((gg: NDArray) => np.sum(f(oracle as unknown as Crf)(e, gg, y, m)))(g), { rtol: 1e-4, atol: 1e-5, label: 'jit(grad) nll' });
      expectClose(jv(e, m), oracle.viterbi(e, g, { mask: m }).score, { rtol: 1e-5, atol: 1e-5, label: 'jit(vmap) viterbi' });
      for (const j of [jn, jd, jv]) j.clearCache();
    }, 15);
  });
});

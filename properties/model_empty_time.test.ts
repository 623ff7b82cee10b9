// Sequence models over an empty sequence (T = 0 time steps). What a JAX user expects from a scan
// over no steps: the CRF's log-partition is the log of the one (empty) path's e^0, so log Z = 0,
// the empty tag sequence scores 0, nll = memmNll = biMemmNll = 0 and Viterbi returns [..., 0] tags
// with score 0; ON-LSTM returns an empty [..., 0, n] output and the initial state unchanged. Both
// used to fail inside np ops (an undefined step, or stack of no arrays). The references are
// independent: the CRF's T = 0 values equal those of a sequence whose steps are all masked (the
// documented "no real step" case), and ON-LSTM's T = 0 shapes are its T = 1 shapes with 0 steps.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as crf from '../models/crf.js';
import * as onLstm from '../models/on_lstm.js';
import { ShapeError, grad, jit, np, random, vmap, type NDArray } from '../src/index.js';
import { assertNoLeak, noLeak } from './helpers.js';

const vals = (x: NDArray) => Array.from(x.dataSync());
const normal = (i: number, shape: number[]) => random.normal(random.key(i), shape);
const batchArb = fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 2 });

describe('crf with T = 0', () => {
  it('log Z, score, nll, loss, memmNll and biMemmNll are 0 of the batch shape, as for a fully masked sequence', () => {
    assertNoLeak(fc.record({ batch: batchArb, k: fc.integer({ min: 1, max: 4 }), seed: fc.nat(1000), masked: fc.boolean() }), ({ batch, k, seed, masked }) => {
      const e = normal(seed, [...batch, 0, k]), g = normal(seed + 1, [k, k]), y = np.zeros([...batch, 0], 'int32');
      const options = masked ? { mask: np.zeros([...batch, 0], 'bool') } : {};
      // The reference: the same batch with T = 2 steps, all masked out (no real step).
      const e2 = normal(seed + 2, [...batch, 2, k]), y2 = np.zeros([...batch, 2], 'int32'), off = { mask: np.zeros([...batch, 2], 'bool') };
      const got = [crf.logPartition(e, g, options), crf.score(e, y, g, options), crf.nll(e, y, g, options), crf.loss({ transitions: g }, e, y, options),
        crf.memmNll(e, y, g, options), crf.biMemmNll(e, y, g, options), crf.viterbi(e, g, options).score];
      const want = [crf.logPartition(e2, g, off), crf.score(e2, y2, g, off), crf.nll(e2, y2, g, off), crf.loss({ transitions: g }, e2, y2, off),
        crf.memmNll(e2, y2, g, off), crf.biMemmNll(e2, y2, g, off), crf.viterbi(e2, g, off).score];
      got.forEach((a, i) => {
        expect(a.shape, `result ${i}`).toEqual(batch);
        expect(a.dtype, `result ${i}`).toBe('float32');
        expect(vals(a), `result ${i}`).toEqual(vals(want[i]!));
        expect(vals(a).every((v) => Object.is(v, 0)), `result ${i} is +0`).toBe(true);
      });
    }, 15);
  });

  it('viterbi decodes to int32 tags [..., 0]; marginals are [..., 0, k]', () => {
    assertNoLeak(fc.record({ batch: batchArb, k: fc.integer({ min: 1, max: 4 }) }), ({ batch, k }) => {
      const e = np.zeros([...batch, 0, k]), g = normal(1, [k, k]);
      const { path } = crf.viterbi(e, g);
      expect(path.shape).toEqual([...batch, 0]);
      expect(path.dtype).toBe('int32');
      expect(crf.marginals(e, g).shape).toEqual([...batch, 0, k]);
    }, 10);
  });

  it('gradients are zeros (nothing depends on the transitions with no step), eagerly, under jit and per example under vmap', () => {
    noLeak(() => {
      const e = normal(1, [3, 0, 2]), g = normal(2, [2, 2]), y = np.zeros([3, 0], 'int32');
      const f = (gg: NDArray, ee: NDArray) => np.sum(crf.nll(ee, y, gg));
      // (jit caches hold the closed-over arrays as constants: cleared at the end.)
      const jg = jit(grad(f, { argnums: [0, 1] })), jn = jit((ee: NDArray) => crf.nll(ee, y, g));
      for (const [how, df] of [['grad', grad(f, { argnums: [0, 1] })], ['jit(grad)', jg]] as const) {
        const [dg, de] = df(g, e) as unknown as [NDArray, NDArray];
        expect(dg.shape, how).toEqual([2, 2]);
        expect(vals(dg), how).toEqual([0, 0, 0, 0]);
        expect(de.shape, how).toEqual([3, 0, 2]);
      }
      const perExample = vmap(grad((gg: NDArray, ee: NDArray, yy: NDArray) => crf.biMemmNll(ee, yy, gg)), { inAxes: [null, 0, 0] })(g, e, y);
      expect(perExample.shape).toEqual([3, 2, 2]);
      expect(vals(perExample).every((v) => v === 0)).toBe(true);
      const batched = vmap((ee: NDArray) => crf.viterbi(ee, g).path)(e);
      expect(batched.shape).toEqual([3, 0]);
      expect(vals(jn(e))).toEqual([0, 0, 0]);
      jg.clearCache();
      jn.clearCache();
    });
  });

  it('the shapes are still checked: transitions of another size, tags of another length', () => {
    noLeak(() => {
      const e = np.zeros([2, 0, 3]);
      expect(() => crf.nll(e, np.zeros([2, 0], 'int32'), np.zeros([2, 2]))).toThrow(ShapeError);
      expect(() => crf.nll(e, np.zeros([2, 1], 'int32'), np.zeros([3, 3]))).toThrow(/crf\.nll: tags has shape \[2,1\]; expected \[2, T=0\]/);
    });
  });
});

describe('onLstm.apply with T = 0', () => {
  const params = () => onLstm.init(random.key(3), 3, 4, { chunkSize: 2 });

  it('returns empty [..., 0, n] outputs and a state shaped as the T = 1 ones (the initial state broadcast to that batch)', () => {
    // Batch shapes for xs, the mask and the initial state that broadcast together (axes of 1 included).
    const caseArb = fc.record({ batch: batchArb, ones: fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }), state: fc.boolean(), mask: fc.boolean(), seed: fc.nat(1000) });
    assertNoLeak(caseArb, ({ batch, ones, state, mask, seed }) => {
      const p = params();
      const shrink = (i: number) => batch.map((d, j) => (ones[(i + j) % 3] ? 1 : d));
      const init = state ? { h: normal(seed, [...shrink(1), 4]), c: normal(seed + 1, [...shrink(2), 4]) } : undefined;
      const at = (T: number) => onLstm.apply(p, normal(seed + 2, [...shrink(0), T, 3]), { chunkSize: 2, initialState: init, mask: mask ? np.ones([...batch, T]) : undefined });
      const empty = at(0), one = at(1);
      const zeroSteps = (s: readonly number[]) => [...s.slice(0, -2), 0, s[s.length - 1]!];
      expect(empty.h.shape).toEqual(zeroSteps(one.h.shape));
      expect(empty.fTilde.shape).toEqual(zeroSteps(one.fTilde.shape));
      expect(empty.levels.shape).toEqual([...one.levels.shape.slice(0, -1), 0]);
      // The state of the batch the steps would have had, as at T = 1: a given initial state
      // broadcast to it (it used to come back as given, e.g. [n] for xs [2, 0, in] while T = 1
      // gave [2, n]), else zeros.
      expect(empty.state.h.shape).toEqual(one.state.h.shape);
      expect(empty.state.c.shape).toEqual(one.state.c.shape);
      if (init) {
        expect(vals(empty.state.h)).toEqual(vals(np.broadcastTo(init.h, one.state.h.shape)));
        expect(vals(empty.state.c)).toEqual(vals(np.broadcastTo(init.c, one.state.c.shape)));
      } else {
        // The zero state of the batch the steps would have had (xs's and the mask's broadcast), as at T = 1.
        expect(empty.state.h.shape).toEqual(one.state.h.shape);
        expect(empty.state.c.shape).toEqual(one.state.c.shape);
        expect(vals(empty.state.h).every((v) => v === 0) && vals(empty.state.c).every((v) => v === 0)).toBe(true);
      }
    }, 15);
  });

  it('gradients flow to the initial state (identity) and are zero for the parameters, eagerly, under jit and vmap', () => {
    noLeak(() => {
      const p = params(), xs = np.zeros([2, 0, 3]);
      const h0 = normal(1, [2, 4]), c0 = normal(2, [2, 4]);
      const f = (pp: onLstm.OnLstmParams, h: NDArray) => np.sum(onLstm.apply(pp, xs, { chunkSize: 2, initialState: { h, c: c0 } }).state.h.mul(3));
      const jg = jit(grad(f, { argnums: [0, 1] }));
      for (const [how, df] of [['grad', grad(f, { argnums: [0, 1] })], ['jit(grad)', jg]] as const) {
        const [dp, dh] = df(p, h0) as unknown as [onLstm.OnLstmParams, NDArray];
        expect(vals(dh), how).toEqual(Array(8).fill(3));
        expect(vals(dp.wx).every((v) => v === 0) && vals(dp.wh).every((v) => v === 0) && vals(dp.b).every((v) => v === 0), how).toBe(true);
      }
      const out = vmap((x: NDArray, h: NDArray) => onLstm.apply(p, x, { chunkSize: 2, initialState: { h, c: h } }))(xs, h0);
      expect(out.h.shape).toEqual([2, 0, 4]);
      expect(vals(out.state.c)).toEqual(vals(h0));
      jg.clearCache();
    });
  });

  it('the parameters and config are still checked with no step to run', () => {
    noLeak(() => {
      const p = params();
      expect(() => onLstm.apply(p, np.zeros([2, 0, 3]), { chunkSize: 1 })).toThrow(/onLstm\.apply: the parameters were made for 2 chunks \(chunkSize 2\) but config\.chunkSize 1 gives 4/);
      expect(() => onLstm.apply(p, np.zeros([2, 0, 5]), { chunkSize: 2 })).toThrow(/onLstm\.apply: xs has shape \[2,0,5\]; expected \[\.\.\., T, in=3\]/);
    });
  });
});

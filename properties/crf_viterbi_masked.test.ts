// Viterbi with masks (models/crf.ts): a masked step repeats the tag of the real step before it
// (leading masked steps the first real step's), and a sequence whose steps are all masked has no
// path to decode: it is all tag 0 with score 0 (TF-addons' crf_decode pads with tag 0; pytorch-crf
// refuses a masked first step). It used to repeat argmax of the first, masked, step's emissions,
// a tag read from padding. A fully masked sequence leaves the others in its batch unchanged.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as crf from '../models/crf.js';
import { jit, np, random, vmap, type NDArray } from '../src/index.js';
import { assertNoLeak } from './helpers.js';

const vals = (x: NDArray) => Array.from(x.dataSync());

describe('crf.viterbi of a sequence with no real step', () => {
  it('is all tag 0 with score 0, whatever the emissions (eagerly, under jit and vmap), and leaves the rest of the batch as decoded alone', () => {
    const caseArb = fc.record({ B: fc.integer({ min: 2, max: 4 }), T: fc.integer({ min: 1, max: 5 }), k: fc.integer({ min: 2, max: 4 }), seed: fc.nat(10_000), dead: fc.nat(3) });
    assertNoLeak(caseArb, ({ B, T, k, seed, dead }) => {
      const keys = random.split(random.key(seed), 3);
      // Emissions whose best tag at every step is k − 1, so that a tag read from them is never 0.
      const e = random.normal(keys.at(0), [B, T, k]).add(np.multiply(np.equal(np.arange(k), k - 1), 10));
      const g = random.normal(keys.at(1), [k, k]);
      const row = dead % B;
      // Every other sequence has at least its first step real; sequence `row` has none.
      const base = np.less(random.uniform(keys.at(2), [B, T]), 0.7);
      const firstReal = np.equal(np.arange(T), 0);
      const mask = np.where(np.expandDims(np.equal(np.arange(B), row), -1), false, np.logicalOr(base, firstReal));
      const j = jit((ee: NDArray, mm: NDArray) => crf.viterbi(ee, g, { mask: mm }));
      for (const [how, v] of [['eager', crf.viterbi(e, g, { mask })], ['jit', j(e, mask)], ['vmap', vmap((ee: NDArray, mm: NDArray) => crf.viterbi(ee, g, { mask: mm }))(e, mask)]] as const) {
        expect(vals(v.path.at(row)), `${how}: path`).toEqual(new Array<number>(T).fill(0));
        expect(v.score.at(row).item(), `${how}: score`).toBe(0);
        for (let b = 0; b < B; b++) {
          if (b === row) continue;
          const alone = crf.viterbi(e.at(b), g, { mask: mask.at(b) });
          expect(vals(v.path.at(b)), `${how}: path of sequence ${b}`).toEqual(vals(alone.path));
          expect(v.score.at(b).item(), `${how}: score of sequence ${b}`).toBeCloseTo(alone.score.item() as number, 4);
        }
      }
      j.clearCache();
    }, 15);
  });

  it('a single fully masked sequence [T, k] and a mask of 0s as floats decode to zeros too', () => {
    assertNoLeak(fc.record({ T: fc.integer({ min: 1, max: 5 }), k: fc.integer({ min: 2, max: 4 }), seed: fc.nat(1000) }), ({ T, k, seed }) => {
      const e = random.normal(random.key(seed), [T, k]).add(np.multiply(np.equal(np.arange(k), 1), 10)), g = random.normal(random.key(seed + 1), [k, k]);
      for (const mask of [np.zeros([T], 'bool'), np.zeros([T])]) {
        const v = crf.viterbi(e, g, { mask });
        expect(v.path.dtype).toBe('int32');
        expect(vals(v.path)).toEqual(new Array<number>(T).fill(0));
        expect(v.score.item()).toBe(0);
      }
    }, 10);
  });
});

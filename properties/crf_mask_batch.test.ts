// A CRF mask's batch axes broadcast to the emissions' (fewer axes, or axes of 1) but may not add
// axes (model_shapes.test.ts has the refusals: the results are one per sequence of the emissions,
// as models/crf.ts documents). A broadcast mask gives what the mask broadcast out by hand gives.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as crf from '../models/crf.js';
import { np, random, vmap, type NDArray } from '../src/index.js';
import { assertNoLeak } from './helpers.js';

const vals = (x: NDArray) => Array.from(x.dataSync());

describe('crf masks with fewer batch axes or axes of 1', () => {
  it('give the values of the mask broadcast to the emissions, for every function taking one', () => {
    const caseArb = fc.record({
      batch: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 2 }),
      T: fc.integer({ min: 1, max: 4 }), k: fc.integer({ min: 1, max: 3 }), seed: fc.nat(1000),
      drop: fc.nat(2), ones: fc.array(fc.boolean(), { minLength: 2, maxLength: 2 }),
    });
    assertNoLeak(caseArb, ({ batch, T, k, seed, drop, ones }) => {
      const keys = random.split(random.key(seed), 4);
      const e = random.normal(keys.at(0), [...batch, T, k]), g = random.normal(keys.at(1), [k, k]);
      const y = random.randint(keys.at(2), [...batch, T], 0, k);
      // The mask's batch: the emissions' with `drop` leading axes removed and some axes set to 1.
      const lead = batch.slice(Math.min(drop, batch.length)).map((d, i) => (ones[i] ? 1 : d));
      const small = np.greater(random.uniform(keys.at(3), [...lead, T]), 0.4);
      const full = np.broadcastTo(small, [...batch, T]);
      const both = (f: (m: NDArray) => NDArray) => [vals(f(small)), vals(f(full))];
      const cases: [string, (m: NDArray) => NDArray][] = [
        ['score', (m) => crf.score(e, y, g, { mask: m })],
        ['logPartition', (m) => crf.logPartition(e, g, { mask: m })],
        ['nll', (m) => crf.nll(e, y, g, { mask: m })],
        ['memmNll', (m) => crf.memmNll(e, y, g, { mask: m })],
        ['biMemmNll', (m) => crf.biMemmNll(e, y, g, { mask: m })],
        ['viterbi.score', (m) => crf.viterbi(e, g, { mask: m }).score],
        ['viterbi.path', (m) => crf.viterbi(e, g, { mask: m }).path],
        ['marginals', (m) => crf.marginals(e, g, { mask: m })],
        // Under vmap over the emissions' first axis, the unbatched mask broadcasts per example.
        ['vmap nll', (m) => (m === small && lead.length < batch.length ? vmap((ee: NDArray, yy: NDArray) => crf.nll(ee, yy, g, { mask: m }))(e, y) : crf.nll(e, y, g, { mask: m }))],
      ];
      for (const [name, f] of cases) {
        const [got, want] = both(f);
        expect(got, name).toEqual(want);
      }
    }, 15);
  });
});

// A CRF mask skips its masked steps entirely (models/crf.ts): what the emissions hold there is
// padding, and must not reach any result. Padding of −inf or NaN (what a masked softmax or an
// uninitialised buffer leaves) gave the right values but NaN gradients and NaN marginals: a leading
// masked step started α (and δ, and the MEMM logits) from its emissions, and the unselected branch
// of a where still multiplied its zero cotangent by the NaN/inf derivatives of logsumexp. Found
// by feeding −inf padding to the scan version and the JS-loop oracle (both gave NaN). Now masked
// emissions are replaced by 0 before the recursions, so every result equals the one with
// finite padding, and the padding gets a zero gradient.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as crf from '../models/crf.js';
import { grad, jit, np, random, type NDArray } from '../src/index.js';
import { assertNoLeak } from './helpers.js';

const vals = (x: NDArray) => Array.from(x.dataSync());

describe('crf with −inf or NaN emissions at masked steps', () => {
  it('values, gradients and marginals equal those with zero padding (finite), eagerly and under jit', () => {
    const caseArb = fc.record({
      B: fc.integer({ min: 1, max: 3 }), T: fc.integer({ min: 1, max: 5 }), k: fc.integer({ min: 1, max: 3 }),
      seed: fc.nat(10_000), fill: fc.constantFrom(-Infinity, Infinity, NaN), p: fc.constantFrom(0.3, 0.7),
    });
    assertNoLeak(caseArb, ({ B, T, k, seed, fill, p }) => {
      const keys = random.split(random.key(seed), 4);
      const e = random.normal(keys.at(0), [B, T, k]), g = random.normal(keys.at(1), [k, k]);
      const y = random.randint(keys.at(2), [B, T], 0, k);
      // The first sequence's first step is masked (a leading pad), whatever the draw.
      const m = np.logicalAnd(np.less(random.uniform(keys.at(3), [B, T]), p), np.logicalNot(np.logicalAnd(np.equal(np.arange(B).reshape([B, 1]), 0), np.equal(np.arange(T), 0))));
      const padded = np.where(np.expandDims(m, -1), e, fill), zeroed = np.where(np.expandDims(m, -1), e, 0);
      const fns: [string, (ee: NDArray, gg: NDArray) => NDArray][] = [
        ['nll', (ee, gg) => crf.nll(ee, y, gg, { mask: m })],
        ['memmNll', (ee, gg) => crf.memmNll(ee, y, gg, { mask: m })],
        ['biMemmNll', (ee, gg) => crf.biMemmNll(ee, y, gg, { mask: m })],
        ['viterbi.score', (ee, gg) => crf.viterbi(ee, gg, { mask: m }).score],
      ];
      for (const [name, f] of fns) {
        expect(vals(f(padded, g)), name).toEqual(vals(f(zeroed, g)));
        const d = grad((ee: NDArray, gg: NDArray) => np.sum(f(ee, gg)), { argnums: [0, 1] });
        const [a, b] = [d(padded, g), d(zeroed, g)] as unknown as NDArray[][];
        expect(vals(a[0]!), `d${name}/de`).toEqual(vals(b[0]!));
        expect(vals(a[1]!), `d${name}/dg`).toEqual(vals(b[1]!));
        expect(vals(a[0]!).every(Number.isFinite) && vals(a[1]!).every(Number.isFinite), `d${name} finite`).toBe(true);
      }
      const jm = jit((ee: NDArray, gg: NDArray) => crf.marginals(ee, gg, { mask: m }));
      for (const [how, mg] of [['eager', crf.marginals(padded, g, { mask: m })], ['jit', jm(padded, g)]] as const) {
        expect(vals(mg), `marginals ${how}`).toEqual(vals(crf.marginals(zeroed, g, { mask: m })));
        expect(vals(mg).every(Number.isFinite), `marginals ${how} finite`).toBe(true);
      }
      expect(vals(crf.viterbi(padded, g, { mask: m }).path)).toEqual(vals(crf.viterbi(zeroed, g, { mask: m }).path));
      jm.clearCache();
    }, 12);
  });
});

// Linear-chain CRF, MEMM and Bi-MEMM (algorithms.md §7e), checked against brute-force enumeration
// of all k^T tag paths on small sizes.
import * as tf from '@tensorflow/tfjs-core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { dispose, grad, jit, np, scope, tree, vmap, type NDArray } from '../src/index.js';
import { checkGrads } from '../src/testing/index.js';
import * as crf from '../models/crf.js';
import * as losses from '../models/losses.js';

const FC = { seed: 42, numRuns: 20 };

const f32 = (x: unknown) => np.array(x as number[], 'float32');
const vals = (x: NDArray) => Array.from(x.dataSync());
const run = <T>(fn: () => T): T => scope(fn);

function close(got: ArrayLike<number>, want: ArrayLike<number>, rtol = 1e-5, atol = 1e-5, label = 'values'): void {
  expect(got.length, `${label}: length`).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!, w = want[i]!;
    if (!(Math.abs(g - w) <= atol + rtol * Math.abs(w))) throw new Error(`${label}[${i}]: got ${g}, want ${w}`);
  }
}

const lse64 = (xs: readonly number[]) => {
  const m = Math.max(...xs);
  return m + Math.log(xs.reduce((a, x) => a + Math.exp(x - m), 0));
};

/** All k^T tag paths. */
function allPaths(T: number, k: number): number[][] {
  const out: number[][] = [];
  const rec = (p: number[]) => {
    if (p.length === T) { out.push([...p]); return; }
    for (let j = 0; j < k; j++) rec([...p, j]);
  };
  rec([]);
  return out;
}

/** f(y; x) in float64 over the real steps (transitions link consecutive real steps). */
function score64(h: number[][], g: number[][], y: number[], mask?: boolean[]): number {
  let s = 0, prev = -1;
  y.forEach((tag, t) => {
    if (mask && !mask[t]) return;
    s += h[t]![tag]!;
    if (prev >= 0) s += g[prev]![tag]!;
    prev = tag;
  });
  return s;
}

const grid = (scale: number) => fc.integer({ min: -64 * scale, max: 64 * scale }).map((v) => v / 64);
const matrix = (rows: number, cols: number, scale = 2) => fc.array(fc.array(grid(scale), { minLength: cols, maxLength: cols }), { minLength: rows, maxLength: rows });

/** A small problem: T steps, k tags, emissions, transitions and one tag path. */
const problemArb = fc.tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 2, max: 3 })).chain(([T, k]) =>
  fc.record({
    T: fc.constant(T),
    k: fc.constant(k),
    h: matrix(T, k),
    g: matrix(k, k),
    y: fc.array(fc.nat(k - 1), { minLength: T, maxLength: T }),
  }),
);

describe('linear-chain CRF (§7e)', () => {
  it('log Z equals the brute-force logsumexp of f(y; x) over all k^T paths', () => {
    fc.assert(fc.property(problemArb, ({ T, k, h, g }) => {
      const got = run(() => crf.logPartition(f32(h), f32(g)).item() as number);
      close([got], [lse64(allPaths(T, k).map((y) => score64(h, g, y)))], 1e-5, 1e-5);
    }), FC);
  });

  it('the score is f(y; x) = Σ h_t(y_t) + Σ g(y_t, y_{t+1}), and the loss is log Z − f ≥ 0', () => {
    fc.assert(fc.property(problemArb, ({ h, g, y }) => {
      const [s, l] = run(() => [crf.score(f32(h), np.array(y, 'int32'), f32(g)).item() as number, crf.nll(f32(h), np.array(y, 'int32'), f32(g)).item() as number]);
      close([s], [score64(h, g, y)], 1e-5, 1e-5);
      expect(l).toBeGreaterThanOrEqual(-1e-5);
    }), FC);
  });

  it('is a normalised distribution: Σ over all paths of exp(−loss) = 1 (vmap over the paths)', () => {
    fc.assert(fc.property(problemArb, ({ T, k, h, g }) => {
      const total = run(() => {
        const l = vmap((y: NDArray) => crf.nll(f32(h), y, f32(g)))(np.array(allPaths(T, k), 'int32'));
        return vals(l).reduce((a, v) => a + Math.exp(-v), 0);
      });
      expect(Math.abs(total - 1)).toBeLessThan(1e-4);
    }), FC);
  });

  it('Viterbi finds the maximum over the enumeration, and its path attains that score', () => {
    fc.assert(fc.property(problemArb, ({ T, k, h, g }) => {
      const best = Math.max(...allPaths(T, k).map((y) => score64(h, g, y)));
      const { path, score } = run(() => {
        const v = crf.viterbi(f32(h), f32(g));
        return { path: Array.from(v.path.dataSync()), score: v.score.item() as number };
      });
      close([score], [best], 1e-5, 1e-5, 'score');
      close([score64(h, g, path)], [best], 1e-5, 1e-5, 'path score');
    }), FC);
  });

  it('with g = 0, CRF = MEMM = Bi-MEMM = per-frame softmax cross-entropy', () => {
    fc.assert(fc.property(problemArb, ({ k, h, y }) => {
      const [c, m, b, ce] = run(() => {
        const e = f32(h), t = np.array(y, 'int32'), z = np.zeros([k, k]);
        return [crf.nll(e, t, z), crf.memmNll(e, t, z), crf.biMemmNll(e, t, z), np.sum(losses.softmaxCrossEntropyWithIntegerLabels(e, t))].map((a) => a.item() as number);
      });
      close([c, m, b], [ce, ce, ce], 1e-5, 1e-5);
    }), FC);
  });

  it('masked steps leave the loss unchanged, wherever they sit (padding or holes)', () => {
    const maskedArb = problemArb.chain((p) => fc.record({
      p: fc.constant(p),
      pad: fc.array(fc.tuple(fc.nat(p.T), fc.array(grid(3), { minLength: p.k, maxLength: p.k }), fc.nat(p.k - 1)), { minLength: 1, maxLength: 3 }),
    }));
    fc.assert(fc.property(maskedArb, ({ p, pad }) => {
      // Insert junk steps (random emissions and tags) at random positions, masked out.
      const h = p.h.map((r) => [...r]), y = [...p.y], mask = p.y.map(() => true);
      for (const [at, row, tag] of pad) {
        const i = Math.min(at, h.length);
        h.splice(i, 0, row); y.splice(i, 0, tag); mask.splice(i, 0, false);
      }
      const [plain, masked, mPlain, mMasked, bPlain, bMasked, vPlain, vMasked] = run(() => {
        const m = np.array(mask);
        const a = [crf.nll(f32(p.h), np.array(p.y, 'int32'), f32(p.g)), crf.nll(f32(h), np.array(y, 'int32'), f32(p.g), { mask: m }),
          crf.memmNll(f32(p.h), np.array(p.y, 'int32'), f32(p.g)), crf.memmNll(f32(h), np.array(y, 'int32'), f32(p.g), { mask: m }),
          crf.biMemmNll(f32(p.h), np.array(p.y, 'int32'), f32(p.g)), crf.biMemmNll(f32(h), np.array(y, 'int32'), f32(p.g), { mask: m.astype('float32') }),
          crf.viterbi(f32(p.h), f32(p.g)).score, crf.viterbi(f32(h), f32(p.g), { mask: m }).score];
        return a.map((v) => v.item() as number);
      });
      close([masked, mMasked, bMasked, vMasked], [plain, mPlain, bPlain, vPlain], 1e-5, 1e-5);
    }), FC);
  });

  it('the Viterbi path with a mask is the best path of the real steps, and masked steps repeat the tag before them', () => {
    const maskArb = problemArb.chain((p) => fc.record({ p: fc.constant(p), mask: fc.array(fc.boolean(), { minLength: p.T + 2, maxLength: p.T + 2 }), junk: matrix(p.T + 2, p.k, 3) }));
    fc.assert(fc.property(maskArb, ({ p, mask, junk }) => {
      if (!mask.some(Boolean)) return;
      const realSteps = mask.map((m, t) => (m ? t : -1)).filter((t) => t >= 0);
      const hReal = realSteps.map((t) => (t < p.T ? p.h[t]! : junk[t]!));
      const hAll = mask.map((_, t) => (t < p.T ? p.h[t]! : junk[t]!));
      const path = run(() => Array.from(crf.viterbi(f32(hAll), f32(p.g), { mask: np.array(mask) }).path.dataSync()));
      const best = Math.max(...allPaths(hReal.length, p.k).map((y) => score64(hReal, p.g, y)));
      close([score64(hAll, p.g, path, mask)], [best], 1e-5, 1e-5, 'path score');
      const first = realSteps[0]!;
      path.forEach((tag, t) => {
        if (mask[t]) return;
        expect(tag).toBe(t < first ? path[first] : path[t - 1]);
      });
    }), FC);
  });

  it('a sequence with no real step has score 0, log Z 0 and loss 0', () => {
    run(() => {
      const h = f32([[1, 2], [3, 4]]), g = f32([[0.5, 1], [2, 3]]), m = np.array([false, false]);
      expect(crf.logPartition(h, g, { mask: m }).item()).toBe(0);
      expect(crf.nll(h, np.array([0, 1]), g, { mask: m }).item()).toBe(0);
      expect(crf.memmNll(h, np.array([0, 1]), g, { mask: m }).item()).toBe(0);
      expect(crf.viterbi(h, g, { mask: m }).score.item()).toBe(0);
      return null;
    });
  });

  it('marginals (∂ log Z/∂h) equal the enumerated p(y_t = j | x) and sum to 1 per step', () => {
    fc.assert(fc.property(problemArb, ({ T, k, h, g }) => {
      const got = run(() => vals(crf.marginals(f32(h), f32(g))));
      const paths = allPaths(T, k), s = paths.map((y) => score64(h, g, y)), z = lse64(s);
      const want = new Array<number>(T * k).fill(0);
      paths.forEach((y, n) => y.forEach((tag, t) => { want[t * k + tag] += Math.exp(s[n]! - z); }));
      close(got, want, 1e-4, 1e-5);
    }), { ...FC, numRuns: 10 });
  });

  it('the loss gradient (emissions and transitions) matches finite differences, and batches under vmap and jit', () => {
    run(() => {
      const h = f32([[[0.3, -0.5, 1.0], [0.2, 0.1, -0.4], [1.2, -0.3, 0.0], [0.5, 0.5, -1.0]], [[-0.2, 0.4, 0.1], [0.0, 1.1, -0.6], [0.7, -0.8, 0.3], [0.1, 0.2, 0.3]]]);
      const g = f32([[0.1, -0.2, 0.3], [0.4, 0.0, -0.1], [-0.3, 0.2, 0.1]]);
      const y = np.array([[0, 2, 1, 1], [1, 1, 0, 2]], 'int32');
      const mask = np.array([[1, 1, 1, 1], [1, 1, 1, 0]]);
      checkGrads((e: NDArray, t: NDArray) => crf.nll(e, y, t, { mask }), [h, g]);
      checkGrads((e: NDArray, t: NDArray) => crf.biMemmNll(e, y, t, { mask }), [h, g]);
      const batched = vals(crf.nll(h, y, g, { mask }));
      close(vals(vmap((e: NDArray, t: NDArray, m: NDArray) => crf.nll(e, t, g, { mask: m }))(h, y, mask)), batched, 1e-6, 1e-6, 'vmap');
      close(vals(jit((e: NDArray, t: NDArray, gg: NDArray) => crf.nll(e, t, gg, { mask }))(h, y, g)), batched, 1e-6, 1e-6, 'jit');
      const gv = grad((gg: NDArray) => np.sum(crf.nll(h, y, gg, { mask })))(g);
      close(vals(jit(grad((gg: NDArray) => np.sum(crf.nll(h, y, gg, { mask }))))(g)), vals(gv), 1e-5, 1e-6, 'jit(grad)');
      const perExample = vmap(grad((gg: NDArray, e: NDArray, t: NDArray, m: NDArray) => crf.nll(e, t, gg, { mask: m })), { inAxes: [null, 0, 0, 0] })(g, h, y, mask);
      close(vals(np.sum(perExample, 0)), vals(gv), 1e-5, 1e-6, 'vmap(grad)');
      const v = crf.viterbi(h, g, { mask });
      close(vals(vmap((e: NDArray, m: NDArray) => crf.viterbi(e, g, { mask: m }).score)(h, mask)), vals(v.score), 1e-6, 1e-6, 'vmap viterbi');
      return null;
    });
  });
});

describe('MEMM and Bi-MEMM (§7e)', () => {
  it('MEMM is locally normalised: Σ over all paths of exp(−loss) = 1, in each direction', () => {
    fc.assert(fc.property(problemArb, ({ T, k, h, g }) => {
      const [fwd, bwd] = run(() => {
        const P = np.array(allPaths(T, k), 'int32');
        const l = vmap((y: NDArray) => crf.memmNll(f32(h), y, f32(g)))(P);
        // the right-to-left model alone: Bi-MEMM's second half
        const r = vmap((y: NDArray) => crf.memmNll(np.flip(f32(h), 0), np.flip(y, 0), np.transpose(f32(g))))(P);
        return [vals(l).reduce((a, v) => a + Math.exp(-v), 0), vals(r).reduce((a, v) => a + Math.exp(-v), 0)];
      });
      expect(Math.abs(fwd - 1)).toBeLessThan(1e-4);
      expect(Math.abs(bwd - 1)).toBeLessThan(1e-4);
    }), FC);
  });

  it('MEMM is −Σ_t log softmax(g[y_{t−1}] + h_t)[y_t] (float64), and Bi-MEMM averages both directions', () => {
    fc.assert(fc.property(problemArb, ({ h, g, y }) => {
      const memm64 = (hh: number[][], gg: (i: number, j: number) => number, yy: number[]) => yy.reduce((acc, tag, t) => {
        const logits = hh[t]!.map((v, j) => v + (t > 0 ? gg(yy[t - 1]!, j) : 0));
        return acc + lse64(logits) - logits[tag]!;
      }, 0);
      const fwd = memm64(h, (i, j) => g[i]![j]!, y);
      const bwd = memm64([...h].reverse(), (i, j) => g[j]![i]!, [...y].reverse());
      const [m, b] = run(() => [crf.memmNll(f32(h), np.array(y, 'int32'), f32(g)).item() as number, crf.biMemmNll(f32(h), np.array(y, 'int32'), f32(g)).item() as number]);
      close([m, b], [fwd, (fwd + bwd) / 2], 1e-5, 1e-5);
      // separate right-to-left transitions
      const g2 = g.map((r) => r.map((v) => v * 0.5 + 0.1));
      const bwd2 = memm64([...h].reverse(), (i, j) => g2[i]![j]!, [...y].reverse());
      const b2 = run(() => crf.biMemmNll(f32(h), np.array(y, 'int32'), f32(g), { reverseTransitions: f32(g2) }).item() as number);
      close([b2], [(fwd + bwd2) / 2], 1e-5, 1e-5, 'reverseTransitions');
    }), FC);
  });
});

describe('memory', () => {
  it('top-level CRF calls free their intermediates', () => {
    const h = f32([[0.3, -0.5], [0.2, 0.1], [1.2, -0.3]]), g = f32([[0.1, -0.2], [0.4, 0.0]]);
    const y = np.array([0, 1, 1], 'int32'), mask = np.array([1, 1, 0]), params = crf.init(2);
    const inputs = [h, g, y, mask, params];
    const before = tf.memory().numTensors;
    const outs: unknown[] = [
      crf.score(h, y, g, { mask }), crf.logPartition(h, g, { mask }), crf.nll(h, y, g), crf.loss(params, h, y),
      crf.marginals(h, g, { mask }), crf.viterbi(h, g, { mask }), crf.memmNll(h, y, g, { mask }), crf.biMemmNll(h, y, g, { mask }),
      grad((gg: NDArray) => crf.nll(h, y, gg, { mask }))(g),
    ];
    expect(tf.memory().numTensors - before).toBeLessThanOrEqual(tree.leaves(outs).length);
    dispose(outs, { keep: inputs });
    expect(tf.memory().numTensors).toBe(before);
    dispose(inputs);
  });
});

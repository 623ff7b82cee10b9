// ON-LSTM (algorithms.md §7d): cumax, the piecewise reading of the soft cell update, the level
// identity, the reduction to an LSTM, and the sequence runner under grad / vmap / jit.
import * as tf from '@tensorflow/tfjs-core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ShapeError, dispose, grad, jit, np, random, scope, tree, vmap, type NDArray } from '../src/index.js';
import { checkGrads } from '../src/testing/index.js';
import * as onLstm from '../models/on_lstm.js';

const FC = { seed: 42, numRuns: 25 };

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

const grid = (scale: number) => fc.integer({ min: -64 * scale, max: 64 * scale }).map((v) => v / 64);
const vec = (n: number, scale = 4) => fc.array(grid(scale), { minLength: n, maxLength: n });
const unit = (n: number) => fc.array(fc.integer({ min: 0, max: 64 }).map((v) => v / 64), { minLength: n, maxLength: n });

/** Logits whose softmax is exactly onehot(at) in float32 (e^{−1e4} underflows to 0). */
const oneHotLogits = (n: number, at: number) => Array.from({ length: n }, (_, i) => (i === at ? 1e4 : 0));

describe('cumax (§7d)', () => {
  it('is non-decreasing with entries in (0, 1] and last entry 1; reverseCumax is its mirror image', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 9 }).chain((n) => vec(n, 6)), (x) => {
      const [c, r, mirrored] = run(() => [vals(onLstm.cumax(f32(x))), vals(onLstm.reverseCumax(f32(x))), vals(np.flip(onLstm.cumax(np.flip(f32(x)))))]);
      for (let i = 0; i < c.length; i++) {
        expect(c[i]).toBeGreaterThan(0);
        expect(c[i]).toBeLessThanOrEqual(1 + 1e-6);
        if (i > 0) expect(c[i]! - c[i - 1]!).toBeGreaterThanOrEqual(-1e-7);
      }
      expect(Math.abs(c[c.length - 1]! - 1)).toBeLessThan(1e-6);
      close(r, mirrored, 1e-6, 1e-7, 'mirror');
    }), FC);
  });

  it('works along any axis and under vmap', () => {
    run(() => {
      const x = f32([[0.1, 2, -1], [3, 0, 0.5]]);
      close(vals(onLstm.cumax(x, 0)), vals(np.transpose(onLstm.cumax(np.transpose(x)))), 1e-6, 1e-7, 'axis 0');
      close(vals(vmap((r: NDArray) => onLstm.cumax(r))(x)), vals(onLstm.cumax(x)), 1e-6, 1e-7, 'vmap');
      return null;
    });
  });
});

describe('the ON-LSTM cell update (§7d)', () => {
  const p = 5;
  const caseArb = fc.record({ df: fc.integer({ min: 1, max: p }), di: fc.integer({ min: 1, max: p }), f: unit(p), i: unit(p), cPrev: vec(p), cHat: vec(p, 1) });

  /** The piecewise update for one-hot master softmaxes, 1-based split points d_f and d_i. */
  function piecewise(df: number, di: number, f: number[], i: number[], cPrev: number[], cHat: number[]): number[] {
    return cPrev.map((c, k0) => {
      const k = k0 + 1;
      if (df <= di) return k < df ? cHat[k0]! : k <= di ? f[k0]! * c + i[k0]! * cHat[k0]! : c;
      return k <= di ? cHat[k0]! : k < df ? 0 : c;
    });
  }

  it('with one-hot master softmaxes equals the piecewise update (d_f ≤ d_i and d_f > d_i, zero gap included)', () => {
    fc.assert(fc.property(caseArb, ({ df, di, f, i, cPrev, cHat }) => {
      const got = run(() => {
        const { fTilde, iTilde } = onLstm.masterGates(f32(oneHotLogits(p, df - 1)), f32(oneHotLogits(p, di - 1)));
        return vals(onLstm.cellUpdate({ fTilde, iTilde, f: f32(f), i: f32(i), cPrev: f32(cPrev), cHat: f32(cHat) }));
      });
      close(got, piecewise(df, di, f, i, cPrev, cHat), 1e-6, 1e-6);
    }), FC);
  });

  it("the paper's master input 1 − cumax at index d is Su's symmetric ←cumsum at index d − 1", () => {
    fc.assert(fc.property(fc.integer({ min: 2, max: p }), (d) => {
      const [paper, su] = run(() => [
        vals(onLstm.masterGates(f32(oneHotLogits(p, 0)), f32(oneHotLogits(p, d - 1)), 'paper').iTilde),
        vals(onLstm.masterGates(f32(oneHotLogits(p, 0)), f32(oneHotLogits(p, d - 2)), 'symmetric').iTilde),
      ]);
      expect(paper).toEqual(su);
    }), FC);
  });

  it('the full cell with chunks of q follows the piecewise update chunk by chunk', () => {
    const q = 3, n = p * q, input = 2;
    fc.assert(fc.property(caseArb, fc.integer({ min: 0, max: 1000 }), ({ df, di }, seed) => {
      const [got, want] = run(() => {
        const params = onLstm.init(random.key(seed), input, n, { chunkSize: q });
        // master columns: no input or recurrent weight, biases forcing onehot(d_f − 1) and onehot(d_i − 1)
        const cols = np.arange(4 * n + 2 * p);
        const master = np.less(cols, 2 * p);
        const b = np.concatenate([f32(oneHotLogits(p, df - 1)), f32(oneHotLogits(p, di - 1)), random.normal(random.key(seed + 1), [4 * n]).mul(0.5)]);
        const pr = { wx: np.where(master, 0, params.wx), wh: np.where(master, 0, params.wh), b };
        const state = { h: random.normal(random.key(seed + 2), [n]), c: random.normal(random.key(seed + 3), [n]) };
        const x = random.normal(random.key(seed + 4), [input]);
        const out = onLstm.cell(pr, state, x, { chunkSize: q });
        const z = vals(np.matmul(x, pr.wx).add(np.matmul(state.h, pr.wh)).add(pr.b));
        const sig = (v: number) => 1 / (1 + Math.exp(-v));
        const gate = (g: number, k: number) => z[2 * p + g * n + k]!;
        const cp = vals(state.c);
        const want = cp.map((c, k) => {
          const chunk = Math.floor(k / q) + 1; // cells of a chunk share its split decision
          const [f, i, ch] = [sig(gate(0, k)), sig(gate(1, k)), Math.tanh(gate(3, k))];
          if (df <= di) return chunk < df ? ch : chunk <= di ? f * c + i * ch : c;
          return chunk <= di ? ch : chunk < df ? 0 : c;
        });
        expect(vals(out.fTilde)).toEqual(Array.from({ length: p }, (_, k) => (k + 1 >= df ? 1 : 0)));
        return [vals(out.state.c), want];
      });
      close(got, want, 1e-5, 1e-5);
    }), { ...FC, numRuns: 15 });
  });

  it('with f̃ = ĩ = 1 everywhere the ON-LSTM cell is an LSTM cell', () => {
    const n = 4, pp = 2, q = 2, input = 3;
    fc.assert(fc.property(fc.integer({ min: 0, max: 1000 }), (seed) => {
      const [got, want] = run(() => {
        const params = onLstm.init(random.key(seed), input, n, { chunkSize: q });
        // f̃ = cumax(onehot(0)) = 1 and ĩ = ←cumsum(onehot(last)) = 1
        const bias = np.concatenate([f32(oneHotLogits(pp, 0)), f32(oneHotLogits(pp, pp - 1)), random.normal(random.key(seed + 1), [4 * n])]);
        const master = np.less(np.arange(4 * n + 2 * pp), 2 * pp);
        const pr = { wx: np.where(master, 0, params.wx), wh: np.where(master, 0, params.wh), b: bias };
        const state = { h: random.normal(random.key(seed + 2), [n]), c: random.normal(random.key(seed + 3), [n]) };
        const x = random.normal(random.key(seed + 4), [input]);
        const out = onLstm.cell(pr, state, x, { chunkSize: q });
        // the reference LSTM on the same pre-activations
        const z = np.matmul(x, pr.wx).add(np.matmul(state.h, pr.wh)).add(pr.b);
        const [f, i, o, ch] = [0, 1, 2, 3].map((g) => np.slice(z, [2 * pp + g * n], [2 * pp + (g + 1) * n])) as [NDArray, NDArray, NDArray, NDArray];
        const c = np.sigmoid(f).mul(state.c).add(np.sigmoid(i).mul(np.tanh(ch)));
        const h = np.sigmoid(o).mul(np.tanh(c));
        return [[...vals(out.state.c), ...vals(out.state.h)], [...vals(c), ...vals(h)]];
      });
      close(got, want, 1e-6, 1e-6);
    }), { ...FC, numRuns: 10 });
  });
});

describe('levels and parsing (§7d)', () => {
  it('the level identity Σ_k k·p_f(k) = p·(1 − mean f̃) + 1 holds, with levels in [1, p]', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 8 }).chain((n) => vec(n, 5)), (z) => {
      const [lvl, probs] = run(() => [onLstm.levels(onLstm.cumax(f32(z))).item() as number, vals(np.softmax(f32(z)))]);
      const want = probs.reduce((a, pk, k) => a + (k + 1) * pk, 0);
      close([lvl], [want], 1e-5, 1e-5);
      expect(lvl).toBeGreaterThanOrEqual(1 - 1e-5);
      expect(lvl).toBeLessThanOrEqual(z.length + 1e-5);
    }), FC);
  });

  it('buildTree splits greedily at the largest level (first on ties) and keeps the token order', () => {
    expect(onLstm.buildTree([3, 1, 2, 5, 1], ['a', 'b', 'c', 'd', 'e'])).toEqual([['a', ['b', 'c']], ['d', 'e']]);
    expect(onLstm.buildTree([9, 1, 1], ['x', 'y', 'z'])).toEqual(['x', ['y', 'z']]);
    expect(onLstm.buildTree([1, 1, 1], ['x', 'y', 'z'])).toEqual(['x', ['y', 'z']]);
    expect(onLstm.buildTree([2], ['only'])).toEqual('only');
    fc.assert(fc.property(fc.array(fc.nat(5), { minLength: 1, maxLength: 10 }), (levels) => {
      const tokens = levels.map((_, i) => i);
      const t = onLstm.buildTree(levels, tokens);
      const leaves = (x: unknown): unknown[] => (Array.isArray(x) ? x.flatMap(leaves) : [x]);
      expect(leaves(t)).toEqual(tokens);
    }), FC);
  });
});

describe('the sequence runner', () => {
  /** NumPy's broadcast of batch shapes (right-aligned; sizes equal or 1). */
  const broadcast = (shapes: number[][]): number[] => {
    const rank = Math.max(...shapes.map((s) => s.length));
    return Array.from({ length: rank }, (_, i) => Math.max(...shapes.map((s) => s[s.length - rank + i] ?? 1)));
  };
  const T = 4, input = 3, n = 6, q = 2, batch = 2;

  it('equals a loop of cells; masked steps keep the state; batches under vmap; grad matches finite differences', () => {
    run(() => {
      const params = onLstm.init(random.key(1), input, n, { chunkSize: q });
      const xs = random.normal(random.key(2), [batch, T, input]);
      const mask = np.array([[1, 1, 1, 1], [1, 0, 1, 0]]);
      const out = onLstm.apply(params, xs, { chunkSize: q, mask });
      expect(out.h.shape).toEqual([batch, T, n]);
      expect(out.fTilde.shape).toEqual([batch, T, n / q]);
      expect(out.levels.shape).toEqual([batch, T]);
      // example 1 by hand: steps 0 and 2 only
      let state = onLstm.initialState(n);
      const hs: NDArray[] = [];
      for (let t = 0; t < T; t++) {
        if (t === 0 || t === 2) state = onLstm.cell(params, state, xs.at(1, t), { chunkSize: q }).state;
        hs.push(state.h);
      }
      close(vals(out.h.at(1)), vals(np.stack(hs)), 1e-5, 1e-6, 'loop');
      close(vals(out.state.c.at(1)), vals(state.c), 1e-5, 1e-6, 'final state');
      const mapped = vmap((x: NDArray, m: NDArray) => onLstm.apply(params, x, { chunkSize: q, mask: m }).h)(xs, mask);
      close(vals(mapped), vals(out.h), 1e-5, 1e-6, 'vmap');
      const jitted = jit((p: onLstm.OnLstmParams, x: NDArray) => onLstm.apply(p, x, { chunkSize: q, masterInput: 'paper' }).levels)(params, xs);
      close(vals(jitted), vals(onLstm.apply(params, xs, { chunkSize: q, masterInput: 'paper' }).levels), 1e-5, 1e-6, 'jit');
      const small = onLstm.init(random.key(3), 2, 4, { chunkSize: 2 });
      const x2 = random.normal(random.key(4), [3, 2]);
      checkGrads((p: onLstm.OnLstmParams, x: NDArray) => np.sum(onLstm.apply(p, x, { chunkSize: 2 }).h.mul(f32([[1, -1, 0.5, 2]]))), [small, x2]);
      checkGrads((p: onLstm.OnLstmParams) => onLstm.apply(p, x2, { chunkSize: 2, masterInput: 'paper' }).levels, [small]);
      const g = grad((p: onLstm.OnLstmParams) => np.sum(onLstm.apply(p, xs, { chunkSize: q }).h))(params);
      expect(tree.leaves(g).every((leaf) => vals(leaf as NDArray).every(Number.isFinite))).toBe(true);
      return null;
    });
  });

  it('a mask or initial state with batch axes xs lacks gives the outputs of the inputs broadcast by hand (any T, 0 included)', () => {
    // Each step's gates see the state of the step before, whose batch is everything broadcast
    // together: the outputs are of that batch at every step (stacking steps of the xs-and-h batch
    // with steps of the full batch failed from T = 2: "stack: all arrays need the same shape").
    run(() => {
      const params = onLstm.init(random.key(1), input, n, { chunkSize: q });
      const cases: { xs: number[]; h?: number[]; c?: number[]; mask?: number[] }[] = [
        { xs: [1], h: [1], c: [2] }, // c wider than xs and h
        { xs: [], mask: [2] }, // a mask wider than xs
        { xs: [1], h: [2], c: [1], mask: [3, 1] }, // every input adding axes
        { xs: [2], h: [], c: [3, 1] },
      ];
      for (const [i, { xs: xb, h, c, mask }] of cases.entries()) {
        const full = broadcast([xb, h ?? [], c ?? [], mask ?? []]);
        for (const steps of [0, 1, 2, 3]) {
          const xs = random.normal(random.key(10 + i), [...xb, steps, input]);
          const init = h && c ? { h: random.normal(random.key(20 + i), [...h, n]), c: random.normal(random.key(30 + i), [...c, n]) } : undefined;
          const m = mask ? np.greater(random.uniform(random.key(40 + i), [...mask, steps]), 0.3) : undefined;
          const got = onLstm.apply(params, xs, { chunkSize: q, initialState: init, mask: m });
          const wide = (a: NDArray, tail: number[]) => np.broadcastTo(a, [...full, ...tail]);
          const want = onLstm.apply(params, wide(xs, [steps, input]), {
            chunkSize: q, initialState: init && { h: wide(init.h, [n]), c: wide(init.c, [n]) }, mask: m && wide(m, [steps]),
          });
          const label = `case ${i}, T = ${steps}`;
          for (const k of ['h', 'fTilde', 'levels'] as const) {
            expect(got[k].shape, `${label}: ${k}`).toEqual(want[k].shape);
            close(vals(got[k]), vals(want[k]), 1e-5, 1e-6, `${label}: ${k}`);
          }
          if (steps === 0) continue; // (the state as given: model_empty_time.test.ts)
          expect(got.state.h.shape, `${label}: state`).toEqual([...full, n]);
          close(vals(got.state.c), vals(want.state.c), 1e-5, 1e-6, `${label}: state.c`);
        }
      }
      // The gradient reaches the narrower initial state through the broadcast (summed over the batch it was widened to).
      const x2 = random.normal(random.key(50), [2, input]), m2 = np.array([[1, 0], [1, 1]]);
      checkGrads((h: NDArray, c: NDArray) => np.sum(onLstm.apply(params, x2, { chunkSize: q, initialState: { h, c }, mask: m2 }).h.mul(f32([[[1], [-2]], [[0.5], [3]]]))),
        [random.normal(random.key(51), [n]), random.normal(random.key(52), [2, n])]);
      return null;
    });
  });

  it('top-level calls free their intermediates', () => {
    const key = random.key(5);
    const beforeInit = tf.memory().numTensors;
    dispose(onLstm.init(key, input, n, { chunkSize: q })); // its split keys too
    expect(tf.memory().numTensors).toBe(beforeInit);
    dispose(key);
    const params = onLstm.init(random.key(5), input, n, { chunkSize: q });
    const xs = random.normal(random.key(6), [T, input]);
    const state = onLstm.initialState(n), x0 = xs.at(0), f = onLstm.cumax(np.ones([3]));
    const inputs = [params, xs, state, x0, f];
    const before = tf.memory().numTensors;
    const outs: unknown[] = [
      onLstm.apply(params, xs, { chunkSize: q }),
      onLstm.cell(params, state, x0, { chunkSize: q }),
      onLstm.cumax(xs), onLstm.reverseCumax(xs), onLstm.levels(f),
      grad((p: onLstm.OnLstmParams) => np.sum(onLstm.apply(p, xs, { chunkSize: q }).h))(params),
    ];
    expect(tf.memory().numTensors - before).toBeLessThanOrEqual(tree.leaves(outs).length);
    dispose(outs, { keep: inputs });
    expect(tf.memory().numTensors).toBe(before);
    dispose(inputs);
  });
});

describe('parameters and config must agree', () => {
  it('a chunkSize other than the one used at init is an error saying which one the parameters need', () => {
    scope(() => {
      const p = onLstm.init(random.key(0), 3, 4, { chunkSize: 2 });
      expect(() => onLstm.cell(p, onLstm.initialState(4), np.ones([3]))).toThrow(/made for 2 chunks \(chunkSize 2\) but config.chunkSize 1/);
      expect(onLstm.cell(p, onLstm.initialState(4), np.ones([3]), { chunkSize: 2 }).state.h.shape).toEqual([4]);
      return null;
    });
  });

  it('a width 4n + 2p that no chunk count p (a divisor of n) gives is named as the parameters\' shape, not as a chunkSize to pass', () => {
    // (It said "made for 1.5 chunks (chunkSize 2.6666666666666665)", "0 chunks (chunkSize Infinity)"
    // or "5 chunks (chunkSize 0.8)": a config that does not exist.)
    scope(() => {
      for (const [width, q] of [[19, 1], [16, 1], [26, 2], [22, 1]] as const) {
        const p = { wx: np.zeros([3, width]), wh: np.zeros([4, width]), b: np.zeros([width]) };
        for (const run of [() => onLstm.apply(p, np.zeros([2, 3]), { chunkSize: q }), () => onLstm.cell(p, onLstm.initialState(4), np.ones([3]), { chunkSize: q })]) {
          expect(run, `width ${width}`).toThrow(ShapeError);
          expect(run, `width ${width}`).toThrow(new RegExp(`^onLstm\\.(apply|cell): params\\.wh has shape \\[4,${width}\\]; expected a width 4n \\+ 2p for n = 4 hidden cells in p chunks \\(18 for p = 1, 20 for p = 2, 24 for p = 4\\); config\\.chunkSize ${q} gives ${4 / q}, a width ${16 + 8 / q}$`));
        }
      }
      // Widths that some chunk count gives still say which chunkSize the parameters were made with.
      const p24 = { wx: np.zeros([3, 24]), wh: np.zeros([4, 24]), b: np.zeros([24]) };
      expect(() => onLstm.apply(p24, np.zeros([2, 3]), { chunkSize: 2 })).toThrow(/^onLstm\.apply: the parameters were made for 4 chunks \(chunkSize 1\) but config\.chunkSize 2 gives 2; pass the config used with init$/);
      return null;
    });
  });

  it('parameters of nested JS arrays (which the shape check accepts, as for the state) give the values of the arrays', () => {
    // (They passed the check, then failed: "undefined is not iterable" reading params.wh.shape.)
    scope(() => {
      const p = onLstm.init(random.key(0), 3, 4, { chunkSize: 2 });
      const js = { wx: p.wx.toArray(), wh: p.wh.toArray(), b: p.b.toArray() } as unknown as onLstm.OnLstmParams;
      const xs = random.normal(random.key(1), [2, 5, 3]);
      expect(vals(onLstm.apply(js, xs, { chunkSize: 2 }).h)).toEqual(vals(onLstm.apply(p, xs, { chunkSize: 2 }).h));
      expect(vals(onLstm.cell(js, onLstm.initialState(4), xs.at(0, 0), { chunkSize: 2 }).state.c)).toEqual(vals(onLstm.cell(p, onLstm.initialState(4), xs.at(0, 0), { chunkSize: 2 }).state.c));
      return null;
    });
  });
});

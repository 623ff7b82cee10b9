// Model functions check their shapes once, up front, and run unchecked bodies inside (as crf's
// nll and loss do): vqvae.forward re-checked through mlp.apply, vectorQuantize, quantize and
// squaredDistances, and biMemmNll through memmNll twice, so errors from inside named the inner
// function (a bad tag in biMemmNll said crf.memmNll). Every check goes through Shapes.checkShape,
// so a spy on it shows which checkers (named by function) ran on which paths. The values are
// compared with the public functions composed by hand, and the messages with what they were.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { crf, nn, onLstm, vqvae } from '../models/index.js';
import { Shapes } from '../models/shapes.js';
import { ShapeError, jit, np, random, type NDArray } from '../src/index.js';
import { noLeak } from './helpers.js';

const key = (i: number) => random.key(i);
const normal = (i: number, shape: number[]) => random.normal(key(i), shape);
const maxDiff = (a: NDArray, b: NDArray) => np.max(np.abs(np.subtract(a, b))).item() as number;

/** The checkers (their function names, in order of first use) and the paths checked while `fn` runs. */
function checksDuring(fn: () => unknown): { ops: string[]; paths: string[] } {
  const spy = vi.spyOn(Shapes.prototype, 'checkShape');
  try {
    fn();
    return { ops: [...new Set(spy.mock.contexts.map((s) => (s as Shapes).op))], paths: spy.mock.calls.map((c) => c[0]) };
  } finally {
    spy.mockRestore();
  }
}

const count = (paths: readonly string[], path: string) => paths.filter((p) => p === path).length;

afterEach(() => vi.restoreAllMocks());

describe('vqvae checks once', () => {
  const params = () => vqvae.init(key(1), { inputDim: 6, latentDim: 3, codebookSize: 5, hidden: 4 });

  it('forward runs only its own checker, each leaf checked once, eagerly and under jit; the values are the public functions composed', () => {
    noLeak(() => {
      const p = params(), x = normal(2, [8, 6]);
      const { ops, paths } = checksDuring(() => vqvae.forward(p, x));
      expect(ops).toEqual(['vqvae.forward']);
      for (const path of ['x', 'params.codebook', 'params.encoder[0].w', 'params.decoder[1].b']) expect(count(paths, path), path).toBe(1);
      const f = jit((v: NDArray) => vqvae.forward(p, v).total);
      expect(checksDuring(() => f(x)).ops).toEqual(['vqvae.forward']);
      // The reference: mlp.apply, vectorQuantize and the reconstruction error, each called publicly.
      const out = vqvae.forward(p, x, { beta: 0.5 });
      const q = vqvae.vectorQuantize(nn.mlp.apply(p.encoder, x), p.codebook, { beta: 0.5 });
      const rec = nn.mlp.apply(p.decoder, q.zqSt);
      expect(maxDiff(out.reconstruction, rec)).toBe(0);
      expect(maxDiff(out.indices, q.indices)).toBe(0);
      expect(maxDiff(out.total, np.mean(np.square(np.subtract(x, rec))).add(q.loss))).toBe(0);
      expect(maxDiff(f(x), vqvae.forward(p, x).total)).toBeLessThan(1e-6);
      f.clearCache();
    });
  });

  it('vectorQuantize and quantize check the codebook and z once, under their own names', () => {
    noLeak(() => {
      const z = normal(1, [7, 3]), e = normal(2, [5, 3]);
      for (const [name, call] of [['vqvae.vectorQuantize', () => vqvae.vectorQuantize(z, e)], ['vqvae.quantize', () => vqvae.quantize(z, e)], ['vqvae.squaredDistances', () => vqvae.squaredDistances(z, e)]] as const) {
        const { ops, paths } = checksDuring(call);
        expect(ops, name).toEqual([name]);
        expect([count(paths, 'codebook'), count(paths, 'z')], name).toEqual([1, 1]);
      }
      // The messages are unchanged (the shared test table has the others).
      expect(() => vqvae.vectorQuantize(normal(1, [7, 4]), e)).toThrow(/^vqvae\.vectorQuantize: z has shape \[7,4\]; expected \[\.\.\., d=3\] \(d = 3 from codebook\)$/);
      expect(() => vqvae.squaredDistances(z, normal(2, [5]))).toThrow(/^vqvae\.squaredDistances: codebook has shape \[5\]; expected \[K, d\]$/);
    });
  });

  it('emaUpdate checks the indices with the shared checker: one index per vector of z, rank included', () => {
    noLeak(() => {
      const st = vqvae.emaInit(normal(1, [5, 3]));
      const z = normal(2, [4, 2, 3]);
      expect(checksDuring(() => vqvae.emaUpdate(st, z, np.zeros([4, 2], 'int32'))).paths).toContain('indices');
      for (const bad of [[4, 2, 1], [8], [2, 4]]) {
        let error: unknown;
        try { vqvae.emaUpdate(st, z, np.zeros(bad, 'int32')); } catch (e) { error = e; }
        expect(error).toBeInstanceOf(ShapeError);
        expect((error as Error).message).toBe(`vqvae.emaUpdate: indices has shape [${bad.join(',')}]; expected [4, 2] (one codebook index per vector of z [4,2,3])`);
      }
    });
  });
});

describe('crf.biMemmNll checks once', () => {
  it('runs only its own checker, the emissions checked once (with or without reverse transitions)', () => {
    noLeak(() => {
      const e = normal(1, [2, 5, 3]), g = normal(2, [3, 3]), y = np.array([[0, 1, 2, 1, 0], [2, 2, 1, 0, 1]], 'int32');
      const cases: { reverseTransitions?: NDArray; mask?: NDArray }[] = [{}, { reverseTransitions: normal(3, [3, 3]) }, { mask: np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]) }];
      for (const options of cases) {
        const { ops, paths } = checksDuring(() => crf.biMemmNll(e, y, g, options));
        expect(ops).toEqual(['crf.biMemmNll']);
        expect(count(paths, 'emissions')).toBe(1);
        // The value is the average of the two public MEMM losses.
        const rev = (a: NDArray, axis: number) => np.flip(a, axis);
        const m = options.mask;
        const back = crf.memmNll(rev(e, -2), rev(y, -1), options.reverseTransitions ?? np.transpose(g), { mask: m === undefined ? undefined : rev(m, -1) });
        expect(maxDiff(crf.biMemmNll(e, y, g, options), crf.memmNll(e, y, g, { mask: m }).add(back).mul(0.5))).toBe(0);
      }
    });
  });

  it('errors from the tags name crf.biMemmNll (they named crf.memmNll), and the shape messages are kept', () => {
    noLeak(() => {
      const e = normal(1, [2, 5, 3]), g = np.zeros([3, 3]);
      expect(() => crf.biMemmNll(e, np.full([2, 5], 3, 'int32'), g)).toThrow(/^crf\.biMemmNll: /);
      expect(() => crf.biMemmNll(e, np.full([2, 5], 1.5), g)).toThrow(/^crf\.biMemmNll: tags must be integers/);
      expect(() => crf.biMemmNll(e, np.zeros([2, 5], 'int32'), g, { reverseTransitions: np.zeros([2, 2]) }))
        .toThrow(/^crf\.biMemmNll: options\.reverseTransitions has shape \[2,2\]; expected \[K=3, K=3\] \(K = 3 from emissions\)$/);
      expect(() => crf.biMemmNll(e, np.zeros([2, 4], 'int32'), g)).toThrow(/^crf\.biMemmNll: tags has shape \[2,4\]; expected \[2, T=5\] \(T = 5 from emissions\)$/);
    });
  });
});

describe('onLstm checks once', () => {
  it('apply runs only its own checker, xs checked once however many steps', () => {
    noLeak(() => {
      const p = onLstm.init(key(1), 3, 4, { chunkSize: 2 });
      const { ops, paths } = checksDuring(() => onLstm.apply(p, normal(2, [2, 6, 3]), { chunkSize: 2, initialState: onLstm.initialState(4, [1]) }));
      expect(ops).toEqual(['onLstm.apply']);
      expect(count(paths, 'xs')).toBe(1);
      expect(count(paths, 'config.initialState.h')).toBe(1);
      // A state whose c widens the batch is named by c (checkState's broadcast batch, now from broadcastable).
      expect(() => onLstm.apply(p, normal(2, [2, 6, 3]), { chunkSize: 2, initialState: { h: np.zeros([4]), c: np.zeros([3, 4]) } }))
        .toThrow(/^onLstm\.apply: the batch axes of config\.initialState\.c \[3\] and xs \[2\] do not broadcast together/);
    });
  });
});

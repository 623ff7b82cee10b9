// Wrong shapes reaching model functions (models/) are ShapeErrors that name the function, the
// parameter path or argument, the shape got and the shape expected, checked before any np op sees
// them (an np error such as "matmul: [2,5] and [3,8]" named neither the model nor the parameter).
// Each table row feeds one wrong shape, eagerly and under jit, vmap and grad (where shapes are
// static); the right shapes still give the values of the model written out with np ops.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { crf, ebm, flows, gan, nn, onLstm, vqvae } from '../models/index.js';
import { Shapes } from '../models/shapes.js';
import { ShapeError, ValueError, grad, jit, np, random, tree, vmap, type NDArray } from '../src/index.js';
import { assertNoLeak, noLeak } from './helpers.js';

const key = (i: number) => random.key(i);
const normal = (i: number, shape: number[]) => random.normal(key(i), shape);

/** Replaces the leaf at `path` (e.g. ['layers', 1, 'w']) of a parameter tree by a new array. */
function withLeaf<T>(params: T, path: readonly (string | number)[], leaf: unknown): T {
  if (path.length === 0) return leaf as T;
  const [head, ...rest] = path;
  const copy: Record<string | number, unknown> = Array.isArray(params) ? [...params] as never : { ...(params as object) };
  copy[head!] = withLeaf((params as Record<string | number, unknown>)[head!], rest, leaf);
  return copy as T;
}

interface Row {
  /** What is wrong, for the test name. */
  name: string;
  /**
   * Builds the case (in the test's scope): `call` runs the model with the wrong shape on `args`,
   * which jit, vmap and grad pass as traced arguments (parameter trees may be closed over).
   */
  setup: () => { call: (...args: NDArray[]) => unknown; args: NDArray[] };
  /** The message must match every one of these (function, path, shapes). */
  says: RegExp[];
  /** Whether the call may be differentiated with respect to its first argument (a float array). */
  differentiable?: boolean;
}

function expectShapeError(run: () => unknown, says: readonly RegExp[], how: string): void {
  let error: unknown;
  try {
    run();
  } catch (e) {
    error = e;
  }
  expect(error, `${how}: no error`).toBeInstanceOf(ShapeError);
  for (const re of says) expect((error as Error).message, how).toMatch(re);
}

/** Checks the row eagerly, under jit, under vmap (a batch of 2 of every argument) and under grad. */
function checkRow(row: Row): void {
  noLeak(() => {
    const { call, args } = row.setup();
    expectShapeError(() => call(...args), row.says, 'eager');
    const jitted = jit((...a: NDArray[]) => call(...a) as never);
    expectShapeError(() => jitted(...args), row.says, 'jit');
    jitted.clearCache();
    const batched = args.map((a) => np.stack([a, a]));
    expectShapeError(() => vmap((...a: NDArray[]) => call(...a) as never)(...batched), row.says, 'vmap');
    if (row.differentiable !== false && args[0]!.dtype === 'float32') {
      const sum = (out: unknown): NDArray => (tree.leaves(out) as NDArray[]).filter((l) => l.dtype === 'float32').reduce((acc: NDArray, l) => acc.add(np.sum(l)), np.zeros([]));
      expectShapeError(() => grad((a0: NDArray, ...rest: NDArray[]) => sum(call(a0, ...rest)))(args[0]!, ...args.slice(1)), row.says, 'grad');
    }
  });
}

describe('Shapes (the shared checker)', () => {
  it('binds names on first sight, names the mismatched size and where it came from, and leaves nothing bound by a failed check', () => {
    const s = new Shapes('f');
    s.checkShape('a', [2, 3], ['n', 'm']);
    expect(() => s.checkShape('b', [4, 3], ['...', 'm', 'n'])).toThrow(/f: b has shape \[4,3\]; expected \[\.\.\., m=3, n=2\] \(m = 3 from a; n = 2 from a\)/);
    expect(() => s.checkShape('c', [5, 7], ['k', 'n'])).toThrow(/c has shape \[5,7\]; expected \[k, n=2\] \(n = 2 from a\)/);
    expect(s.size('k')).toBeUndefined();
    expect(() => s.checkShape('d', [1], ['x', 'y'])).toThrow(/d has shape \[1\]; expected \[x, y\]$/);
    expect(() => s.checkShape('e', [3, 4], ['z', 'z'])).toThrow(/e has shape \[3,4\]; expected \[z=3, z=3\] \(z = 3 from its axis 0\)/);
    expect(() => s.array('params.w', undefined)).toThrow(/f: params\.w is missing/);
    expect(s.checkShape('e', [9, 2, 3], ['...', 'n', 'm'])).toEqual([9, 2, 3]);
    // Nested JS arrays are values, read as np.asArray reads them.
    expect(s.check('f', [[1, 2, 3], [4, 5, 6]], ['n', 'm'])).toEqual([2, 3]);
    expect(() => s.check('g', [1, 2, 3], ['n'])).toThrow(/g has shape \[3\]; expected \[n=2\]/);
  });

  it('says null for a null leaf or layer (typeof gave "object")', () => {
    const s = new Shapes('f');
    expect(() => s.array('params.w', null)).toThrow(/^f: params\.w is not an array \(got null\); expected an array$/);
    expect(() => s.list('params', null)).toThrow(/^f: params is not a list \(got null\); expected a list$/);
    noLeak(() => {
      expect(() => nn.mlp.apply([nn.dense.init(key(0), 3, 2), null as never], normal(1, [4, 3]))).toThrow(/^mlp\.apply: params\[1\] is null; expected a dense layer \{ w, b \}$/);
      expect(() => nn.conv2d.apply(null as never, normal(1, [1, 3, 3, 2]))).toThrow(/^conv2d\.apply: params is null; expected a conv layer \{ w, b \}$/);
    });
  });

  it('accepts exactly the shapes that fit a random pattern (ranks drawn apart, a leading ... sometimes)', () => {
    const arb = fc.record({
      shape: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 0, maxLength: 5 }),
      dims: fc.array(fc.constantFrom('a', 'b', 'c', null, 2), { minLength: 0, maxLength: 4 }),
      rest: fc.boolean(),
    });
    fc.assert(fc.property(arb, ({ shape, dims, rest }) => {
      const pattern = (rest ? ['...', ...dims] : dims) as Parameters<Shapes['checkShape']>[2];
      // Independent reference: the dims match the shape's last axes (all of them without ...), every
      // number equals its axis, every name has one size.
      const offset = shape.length - dims.length;
      const seen = new Map<string, number>();
      const fits = (rest ? offset >= 0 : offset === 0) && dims.every((d, i) => {
        const got = shape[offset + i]!;
        if (d === null) return true;
        if (typeof d === 'number') return got === d;
        if (!seen.has(d)) seen.set(d, got);
        return seen.get(d) === got;
      });
      const s = new Shapes('f');
      if (fits) expect(s.checkShape('x', shape, pattern)).toEqual(shape);
      else expect(() => s.checkShape('x', shape, pattern)).toThrow(ShapeError);
    }), { seed: 42, numRuns: 200 });
  });
});

// ---- nn -----------------------------------------------------------------------------------------

const mlpParams = () => nn.mlp.init(key(1), [3, 8, 5, 2]);
const nnRows: Row[] = [
  {
    name: 'dense: x with the wrong feature count',
    setup: () => ({ call: (x) => nn.dense.apply(nn.dense.init(key(1), 3, 4), x), args: [normal(2, [2, 5])] }),
    says: [/^dense\.apply: x has shape \[2,5\]; expected \[\.\.\., in=3\] \(in = 3 from params\.w\)$/],
  },
  {
    name: 'dense: a bias of the wrong length',
    setup: () => { const p = withLeaf(nn.dense.init(key(1), 3, 4), ['b'], np.zeros([3])); return { call: (x) => nn.dense.apply(p, x), args: [normal(2, [2, 3])] }; },
    says: [/dense\.apply: params\.b has shape \[3\]; expected \[out=4\] \(out = 4 from params\.w\)/],
  },
  {
    name: 'mlp: a middle layer of the wrong input size',
    setup: () => { const p = withLeaf(mlpParams(), [1, 'w'], np.zeros([7, 5])); return { call: (x) => nn.mlp.apply(p, x), args: [normal(2, [4, 3])] }; },
    says: [/^mlp\.apply: params\[1\]\.w has shape \[7,5\]; expected \[h1=8, h2\] \(h1 = 8 from params\[0\]\.w\)$/],
  },
  {
    name: 'mlp: x with the wrong feature count',
    setup: () => { const p = mlpParams(); return { call: (x) => nn.mlp.apply(p, x), args: [normal(2, [4, 6])] }; },
    says: [/mlp\.apply: x has shape \[4,6\]; expected \[\.\.\., in=3\] \(in = 3 from params\[0\]\.w\)/],
  },
  {
    name: 'mlp: a missing weight',
    setup: () => { const p = withLeaf(mlpParams(), [2, 'w'], undefined); return { call: (x) => nn.mlp.apply(p, x), args: [normal(2, [4, 3])] }; },
    says: [/mlp\.apply: params\[2\]\.w is missing/],
  },
  {
    name: 'conv2d: images with the wrong channel count',
    setup: () => { const p = nn.conv2d.init(key(1), 3, 3, 2, 4); return { call: (x) => nn.conv2d.apply(p, x, { padding: 'SAME' }), args: [normal(2, [1, 5, 5, 3])] }; },
    says: [/^conv2d\.apply: x has shape \[1,5,5,3\]; expected \[_, _, _, cin=2\] \(cin = 2 from params\.w\)$/],
  },
  {
    name: 'conv2d: a bias of the wrong length',
    setup: () => { const p = withLeaf(nn.conv2d.init(key(1), 3, 3, 2, 4), ['b'], np.zeros([2])); return { call: (x) => nn.conv2d.apply(p, x), args: [normal(2, [1, 5, 5, 2])] }; },
    says: [/conv2d\.apply: params\.b has shape \[2\]; expected \[cout=4\]/],
  },
  {
    name: 'layerNorm: x with the wrong feature count',
    setup: () => { const p = nn.layerNorm.init(4); return { call: (x) => nn.layerNorm.apply(p, x), args: [normal(2, [3, 5])] }; },
    says: [/^layerNorm\.apply: x has shape \[3,5\]; expected \[\.\.\., dim=4\] \(dim = 4 from params\.scale\)$/],
  },
  {
    name: 'layerNorm: a scale of another size than the bias and x (was blamed on the bias)',
    setup: () => { const p = { scale: np.ones([3]), bias: np.zeros([4]) }; return { call: (x) => nn.layerNorm.apply(p, x), args: [normal(2, [3, 4])] }; },
    says: [/^layerNorm\.apply: params\.scale has shape \[3\]; expected \[dim=4\] \(dim = 4 from params\.bias and x\)$/],
  },
  {
    name: 'spectralNorm: a state made for another weight',
    setup: () => { const st = nn.spectralNorm.init(key(1), np.zeros([3, 4])); return { call: (w) => nn.spectralNorm.apply(w, st).w, args: [normal(2, [5, 4])] }; },
    says: [/spectralNorm\.estimate: state\.u has shape \[3\]; expected \[rows=5\] \(rows = 5 from w \[5,4\] viewed as \[rows, 4\]\)/],
  },
  {
    name: 'convSpectralNorm: a state made for another kernel',
    setup: () => { const st = nn.convSpectralNorm.init(key(1), np.zeros([3, 3, 2, 4]), 5, 5); return { call: (k) => nn.convSpectralNorm.apply(k, st).w, args: [normal(2, [3, 3, 2, 3])] }; },
    says: [/convSpectralNorm\.estimate: state\.u has shape \[1,5,5,4\]; expected \[1, _, _, cout=3\]/],
  },
];

describe('nn layers name the layer, the path and the shapes', () => {
  for (const row of nnRows) it(row.name, () => checkRow(row));

  it('the right shapes give the layers written out with np ops', () => {
    noLeak(() => {
      const p = mlpParams(), x = normal(2, [4, 3]);
      let h = x;
      p.forEach((l, i) => { h = np.add(np.matmul(h, l.w), l.b); if (i < p.length - 1) h = np.relu(h); });
      expect(np.max(np.abs(np.subtract(nn.mlp.apply(p, x), h))).item()).toBe(0);
      const c = nn.conv2d.init(key(3), 3, 1, 2, 4), img = normal(4, [2, 5, 6, 2]);
      expect(np.max(np.abs(np.subtract(nn.conv2d.apply(c, img, { padding: 'SAME' }), np.add(np.conv2d(img, c.w, { padding: 'SAME' }), c.b)))).item()).toBe(0);
    });
  });
});

// ---- crf ----------------------------------------------------------------------------------------

const tagsOf = (shape: number[]) => np.zeros(shape, 'int32');
const crfRows: Row[] = [
  {
    name: 'crf.score: tags of another batch (was a takeAlongAxis error)',
    setup: () => ({ call: (e, y, g) => crf.score(e, y, g), args: [normal(1, [2, 5, 3]), tagsOf([4, 5]), np.zeros([3, 3])] }),
    says: [/^crf\.score: tags has shape \[4,5\]; expected \[2, T=5\] \(T = 5 from emissions\)$/],
  },
  {
    name: 'crf.nll: transitions for another number of tags',
    setup: () => ({ call: (e, y, g) => crf.nll(e, y, g), args: [normal(1, [2, 5, 3]), tagsOf([2, 5]), np.zeros([4, 4])] }),
    says: [/^crf\.nll: transitions has shape \[4,4\]; expected \[K=3, K=3\] \(K = 3 from emissions\)$/],
  },
  {
    name: 'crf.loss: a parameter tree with non-square transitions',
    setup: () => { const p = { transitions: np.zeros([3, 4]) }; return { call: (e, y) => crf.loss(p, e, y), args: [normal(1, [2, 5, 3]), tagsOf([2, 5])] }; },
    says: [/^crf\.loss: params\.transitions has shape \[3,4\]; expected \[K=3, K=3\] \(K = 3 from emissions\)$/],
  },
  {
    name: 'crf.logPartition: a mask of another batch (was a broadcasting error)',
    setup: () => ({ call: (e, m) => crf.logPartition(e, np.zeros([3, 3]), { mask: m }), args: [normal(1, [2, 5, 3]), np.ones([3, 5])] }),
    says: [/crf\.logPartition: mask has shape \[3,5\]; expected \[2, T\] \(or axes of 1 that broadcast to it\) for emissions \[2,5,3\]/],
  },
  {
    // Refused rather than broadcast: the docs promise results [...] of the emissions' batch (one per
    // sequence), and tags may not add axes either; vmap over the mask's extra axes instead.
    name: 'crf.nll: a mask with more batch axes than the emissions (it would enlarge the batch of the results)',
    setup: () => ({ call: (e, m) => crf.nll(e, tagsOf([2, 5]), np.zeros([3, 3]), { mask: m }), args: [normal(1, [2, 5, 3]), np.ones([4, 2, 5])] }),
    says: [/^crf\.nll: mask has shape \[4,2,5\], 2 batch axes for emissions \[2,5,3\] with 1; expected at most 1 \(\[2, T\] or axes of 1 that broadcast to it\): a mask may not add batch axes, as the results are the emissions' batch \[2\] \(vmap over the mask's extra axes instead\)$/],
  },
  {
    name: 'crf.viterbi: a mask with a leading axis of 1 that the emissions lack',
    setup: () => ({ call: (e, m) => crf.viterbi(e, np.zeros([3, 3]), { mask: m }).score, args: [normal(1, [5, 3]), np.ones([1, 5])] }),
    says: [/^crf\.viterbi: mask has shape \[1,5\], 1 batch axis for emissions \[5,3\] with 0; expected at most 0 \(\[T\]\): a mask may not add batch axes, as the results are the emissions' batch \[\] \(vmap over the mask's extra axes instead\)$/],
  },
  {
    name: 'crf.viterbi: a mask of another length',
    setup: () => ({ call: (e, m) => crf.viterbi(e, np.zeros([3, 3]), { mask: m }).score, args: [normal(1, [2, 5, 3]), np.ones([2, 4])] }),
    says: [/crf\.viterbi: mask has shape \[2,4\]; expected \[\.\.\., T=5\] \(T = 5 from emissions\)/],
  },
  {
    name: 'crf.biMemmNll: reverse transitions for another number of tags',
    setup: () => ({ call: (e, y) => crf.biMemmNll(e, y, np.zeros([3, 3]), { reverseTransitions: np.zeros([2, 2]) }), args: [normal(1, [2, 5, 3]), tagsOf([2, 5])] }),
    says: [/crf\.biMemmNll: options\.reverseTransitions has shape \[2,2\]; expected \[K=3, K=3\] \(K = 3 from emissions\)/],
  },
];

describe('crf names the function, the argument and the shapes', () => {
  for (const row of crfRows) it(row.name, () => checkRow(row));

  it('right shapes still work: a mask of ones broadcast over the batch gives the unmasked log Z; tags [1, T] broadcast like [B, T]', () => {
    noLeak(() => {
      const e = normal(1, [2, 5, 3]), g = normal(2, [3, 3]);
      const full = crf.logPartition(e, g), masked = crf.logPartition(e, g, { mask: np.ones([1, 5]) });
      expect(np.max(np.abs(np.subtract(full, masked))).item()).toBe(0);
      // Tags [1, T] broadcast over the batch as the mask does (they did before the checks).
      const y = np.array([[0, 2, 1, 1, 0]], 'int32'), both = np.concatenate([y, y], 0);
      for (const f of [crf.nll, crf.score, crf.memmNll, crf.biMemmNll]) expect(np.max(np.abs(np.subtract(f(e, y, g), f(e, both, g)))).item()).toBe(0);
      expectShapeError(() => crf.nll(e, y.reshape(-1), g), [/^crf\.nll: tags has shape \[5\]; expected \[2, T=5\] \(T = 5 from emissions\)$/], 'eager');
    });
  });
});

// ---- onLstm and vqvae ---------------------------------------------------------------------------

const lstmParams = () => onLstm.init(key(1), 3, 4, { chunkSize: 2 });
const lstmRows: Row[] = [
  {
    name: 'onLstm.cell: inputs of the wrong size',
    setup: () => { const p = lstmParams(); return { call: (x) => onLstm.cell(p, onLstm.initialState(4, [2]), x, { chunkSize: 2 }).state.h, args: [normal(2, [2, 5])] }; },
    says: [/^onLstm\.cell: x has shape \[2,5\]; expected \[\.\.\., in=3\] \(in = 3 from params\.wx\)$/],
  },
  {
    name: 'onLstm.cell: a state of another hidden size',
    setup: () => { const p = lstmParams(); return { call: (h, c) => onLstm.cell(p, { h, c }, np.zeros([2, 3]), { chunkSize: 2 }).state.h, args: [np.zeros([2, 6]), np.zeros([2, 6])] }; },
    says: [/onLstm\.cell: state\.h has shape \[2,6\]; expected \[\.\.\., n=4\] \(n = 4 from params\.wh\)/],
  },
  {
    name: 'onLstm.cell: inputs and state of batches that do not broadcast (was a matmul-add error)',
    setup: () => { const p = lstmParams(); return { call: (x) => onLstm.cell(p, onLstm.initialState(4, [3]), x, { chunkSize: 2 }).state.h, args: [normal(2, [2, 3])] }; },
    says: [/onLstm\.cell: the batch axes of x \[2\] and state\.h \[3\] do not broadcast together/],
  },
  {
    name: 'onLstm.apply: a recurrent weight of the wrong width',
    setup: () => { const p = withLeaf(lstmParams(), ['wh'], np.zeros([4, 19])); return { call: (x) => onLstm.apply(p, x, { chunkSize: 2 }).h, args: [normal(2, [2, 5, 3])] }; },
    // wx and b agree on 20: the message names wh, the odd one out (it named wx, bound from wh).
    says: [/^onLstm\.apply: params\.wh has shape \[4,19\]; expected \[n, width=20\] \(width = 20 from params\.wx and params\.b\)$/],
  },
  {
    name: 'onLstm.apply: a mask of another length',
    setup: () => { const p = lstmParams(); return { call: (x) => onLstm.apply(p, x, { chunkSize: 2, mask: np.ones([2, 4]) }).h, args: [normal(2, [2, 5, 3])] }; },
    says: [/onLstm\.apply: mask has shape \[2,4\]; expected \[\.\.\., T=5\] \(T = 5 from xs\)/],
  },
];

const vqParams = () => vqvae.init(key(1), { inputDim: 6, latentDim: 3, codebookSize: 5, hidden: 4 });
const vqRows: Row[] = [
  {
    name: 'vqvae.quantize: vectors of another size than the codebook (was a matmul error)',
    setup: () => ({ call: (z, e) => vqvae.quantize(z, e).zq, args: [normal(1, [7, 4]), normal(2, [5, 3])] }),
    says: [/^vqvae\.quantize: z has shape \[7,4\]; expected \[\.\.\., d=3\] \(d = 3 from codebook\)$/],
  },
  {
    name: 'vqvae.forward: a codebook of another latent size than the encoder',
    setup: () => { const p = withLeaf(vqParams(), ['codebook'], np.zeros([5, 2])); return { call: (x) => vqvae.forward(p, x).total, args: [normal(2, [8, 6])] }; },
    says: [/^vqvae\.forward: params\.codebook has shape \[5,2\]; expected \[K, d=3\] \(d = 3 from params\.encoder\[1\]\.w\)$/],
  },
  {
    name: 'vqvae.forward: an encoder whose last layer gives another latent size than the codebook and decoder take (was blamed on the codebook)',
    setup: () => { const p = withLeaf(withLeaf(vqParams(), ['encoder', 1, 'w'], np.zeros([4, 2])), ['encoder', 1, 'b'], np.zeros([2])); return { call: (x) => vqvae.forward(p, x).total, args: [normal(2, [8, 6])] }; },
    says: [/^vqvae\.forward: params\.encoder\[1\]\.w has shape \[4,2\]; expected \[e1=4, d=3\] \(d = 3 from params\.codebook and params\.decoder\[0\]\.w; e1 = 4 from params\.encoder\[0\]\.w\)$/],
  },
  {
    name: 'vqvae.forward: an encoder for inputs of another size than x and the decoder (was blamed on the decoder)',
    setup: () => { const p = withLeaf(vqParams(), ['encoder', 0, 'w'], np.zeros([5, 4])); return { call: (x) => vqvae.forward(p, x).total, args: [normal(2, [8, 6])] }; },
    says: [/^vqvae\.forward: params\.encoder\[0\]\.w has shape \[5,4\]; expected \[in=6, e1\] \(in = 6 from params\.decoder\[1\]\.w and x\)$/],
  },
  {
    name: 'vqvae.forward: a decoder that does not map back to the input size (was a broadcast in the loss)',
    setup: () => { const p = withLeaf(withLeaf(vqParams(), ['decoder', 1, 'w'], np.zeros([4, 5])), ['decoder', 1, 'b'], np.zeros([5])); return { call: (x) => vqvae.forward(p, x).total, args: [normal(2, [8, 6])] }; },
    says: [/vqvae\.forward: params\.decoder\[1\]\.w has shape \[4,5\]; expected \[h1=4, in=6\] \(in = 6 from params\.encoder\[0\]\.w; h1 = 4 from params\.decoder\[0\]\.w\)/],
  },
  {
    // An empty MLP is the identity: x is quantised as it is. vectorQuantize named this before the
    // checks were done once in forward; then it reached distancesOf's matmul.
    name: 'vqvae.forward: an encoder with no layers (the identity) and a codebook of another size than x (was a matmul error)',
    setup: () => {
      const p = { encoder: [], codebook: normal(3, [5, 2]), decoder: [{ w: np.zeros([2, 6]), b: np.zeros([6]) }] };
      return { call: (x) => vqvae.forward(p, x).total, args: [normal(2, [8, 6])] };
    },
    says: [/^vqvae\.forward: x has shape \[8,6\]; expected \[\.\.\., d=2\] \(d = 2 from params\.codebook\) \(params\.encoder has no layers: x is quantised as it is\)$/],
  },
  {
    // The codebook's vectors are the reconstruction: of size 1 they broadcast against x in the loss.
    name: 'vqvae.forward: a decoder with no layers (the identity) and codebook vectors of size 1 for x of size 6 (was broadcast silently in the loss)',
    setup: () => {
      const p = { encoder: [{ w: np.zeros([6, 1]), b: np.zeros([1]) }], codebook: normal(3, [5, 1]), decoder: [] };
      return { call: (x) => vqvae.forward(p, x).total, args: [normal(2, [8, 6])] };
    },
    says: [/^vqvae\.forward: x has shape \[8,6\]; expected \[\.\.\., d=1\] \(d = 1 from params\.encoder\[0\]\.w\) \(params\.decoder has no layers: the quantised vectors are the reconstruction\)$/],
  },
  {
    name: 'vqvae.emaUpdate: indices of another batch',
    setup: () => { const st = vqvae.emaInit(normal(1, [5, 3])); return { call: (z, i) => vqvae.emaUpdate(st, z, i).codebook, args: [normal(2, [8, 3]), np.zeros([7], 'int32')] }; },
    says: [/^vqvae\.emaUpdate: indices has shape \[7\]; expected \[8\] \(one codebook index per vector of z \[8,3\]\)$/],
  },
];

describe('onLstm and vqvae name the function, the path and the shapes', () => {
  for (const row of [...lstmRows, ...vqRows]) it(row.name, () => checkRow(row));

  it('right shapes still work: a state [n] broadcasts over a batch of inputs; vqvae.forward runs', () => {
    noLeak(() => {
      const p = lstmParams();
      const x = normal(2, [2, 3]);
      const one = onLstm.cell(p, onLstm.initialState(4), x, { chunkSize: 2 }).state.h;
      const batched = onLstm.cell(p, onLstm.initialState(4, [2]), x, { chunkSize: 2 }).state.h;
      expect(np.max(np.abs(np.subtract(one, batched))).item()).toBe(0);
      expect(vqvae.forward(vqParams(), normal(3, [8, 6])).reconstruction.shape).toEqual([8, 6]);
      // Encoder and decoder with no layers (identities) where the sizes agree.
      const ident = vqvae.forward({ encoder: [], codebook: normal(4, [5, 6]), decoder: [] }, normal(3, [8, 6]));
      expect(ident.reconstruction.shape).toEqual([8, 6]);
    });
  });

  it('right shapes still work: a state of nested JS arrays, and a c [n] shared by a batch of h (was a TypeError on h.shape / refused)', () => {
    noLeak(() => {
      const p = lstmParams();
      const x = normal(2, [2, 3]);
      const zeros = [0, 0, 0, 0];
      const ref = onLstm.cell(p, onLstm.initialState(4), x, { chunkSize: 2 }).state.h;
      const fromJs = onLstm.cell(p, { h: zeros, c: zeros } as never, x, { chunkSize: 2 }).state.h;
      expect(np.max(np.abs(np.subtract(ref, fromJs))).item()).toBe(0);
      const seq = normal(3, [2, 5, 3]);
      const refSeq = onLstm.apply(p, seq, { chunkSize: 2 }).h;
      const jsSeq = onLstm.apply(p, seq, { chunkSize: 2, initialState: { h: [zeros, zeros], c: [zeros, zeros] } as never }).h;
      expect(np.max(np.abs(np.subtract(refSeq, jsSeq))).item()).toBe(0);
      const shared = onLstm.apply(p, seq, { chunkSize: 2, initialState: { h: np.zeros([2, 4]), c: np.zeros([4]) } }).h;
      expect(np.max(np.abs(np.subtract(refSeq, shared))).item()).toBe(0);
      expectShapeError(() => onLstm.cell(p, { h: np.zeros([2, 4]), c: np.zeros([3, 4]) }, x, { chunkSize: 2 }), [/^onLstm\.cell: the batch axes of state\.h \[2\] and state\.c \[3\] do not broadcast together/], 'eager');
      expectShapeError(() => onLstm.cell(p, { h: np.zeros([4]), c: np.zeros([3, 4]) }, x, { chunkSize: 2 }), [/^onLstm\.cell: the batch axes of x \[2\] and state\.c \[3\] do not broadcast together/], 'eager');
    });
  });
});

// ---- gan and ebm --------------------------------------------------------------------------------

const ganRows: Row[] = [
  {
    name: 'mlpGenerator: noise of the wrong size',
    setup: () => { const p = gan.mlpGenerator.init(key(1), 2, 2, { hidden: 8 }); return { call: (z) => gan.mlpGenerator.apply(p, z), args: [normal(2, [4, 3])] }; },
    says: [/^mlpGenerator\.apply: z has shape \[4,3\]; expected \[\.\.\., in=2\] \(in = 2 from params\[0\]\.w\)$/],
  },
  {
    name: 'mlpDiscriminator: a last layer with two outputs (was a reshape error)',
    setup: () => { const p = gan.mlpGenerator.init(key(1), 2, 2, { hidden: 8 }); return { call: (x) => gan.mlpDiscriminator.apply(p, x), args: [normal(2, [4, 2])] }; },
    says: [/^mlpDiscriminator\.apply: params\[2\]\.w has shape \[8,2\]; expected \[h2=8, out=1\] \(out = 1 from the one score per example; h2 = 8 from params\[1\]\.w\)$/],
  },
  {
    name: 'convGenerator: an fc layer that does not fill the 7×7 map (was a reshape error)',
    setup: () => { const p = withLeaf(withLeaf(gan.convGenerator.init(key(1), 4, { channels: 2 }), ['fc', 'w'], np.zeros([4, 100])), ['fc', 'b'], np.zeros([100])); return { call: (z) => gan.convGenerator.apply(p, z), args: [normal(2, [3, 4])] }; },
    says: [/^convGenerator\.apply: params\.fc\.w has shape \[4,100\]; expected \[z, f=196\] \(f = 196 from 7·7·c2 \(c2 = 4 from params\.conv1\.w: fc fills a 7×7 map\)\)$/],
  },
  {
    name: 'convDiscriminator: images of another size than its fc layer takes',
    setup: () => { const p = gan.convDiscriminator.init(key(1), { channels: 2 }); return { call: (x) => gan.convDiscriminator.apply(p, x), args: [normal(2, [3, 14, 14, 1])] }; },
    says: [/convDiscriminator\.apply: params\.fc\.w has shape \[196,1\]; expected \[f=64, out=1\] \(f = 64 from 4·4·c2 \(the 14×14 images after two stride-2 convolutions/],
  },
];

const ebmRows: Row[] = [
  {
    name: 'mlpEnergy: examples with the wrong number of features',
    setup: () => { const p = ebm.mlpEnergy.init(key(1), 4, [8]); return { call: (x) => ebm.mlpEnergy.apply(p, x), args: [normal(2, [5, 3, 2])] }; },
    says: [/^mlpEnergy\.apply: x has shape \[5,3,2\]; expected a batch \[N, \.\.\.\] of 4 features per example \(in = 4 from params\.layers\[0\]\.w\)$/],
  },
  {
    name: 'mlpEnergy: a last layer with two outputs (energies would be [2N])',
    setup: () => { const p = { layers: nn.mlp.init(key(1), [4, 8, 2]) }; return { call: (x) => ebm.mlpEnergy.apply(p, x), args: [normal(2, [5, 4])] }; },
    says: [/mlpEnergy\.apply: params\.layers\[1\]\.w has shape \[8,2\]; expected \[h1=8, out=1\]/],
  },
  {
    name: 'spectralNormalize: states for another network',
    setup: () => { const p = ebm.mlpEnergy.init(key(1), 4, [8]); const st = ebm.spectralNormInit(key(2), ebm.mlpEnergy.init(key(3), 4, [6])); return { call: (x) => ebm.mlpEnergy.apply(ebm.spectralNormalize(p, st).params, x), args: [normal(2, [5, 4])] }; },
    says: [/^ebm\.spectralNormalize: states\[1\]\.u has shape \[6\]; expected \[rows=8\] \(rows = 8 from params\.layers\[1\]\.w \[8,1\] viewed as \[rows, 1\]\)$/],
  },
];

describe('gan nets and ebm energies name the function, the path and the shapes', () => {
  for (const row of [...ganRows, ...ebmRows]) it(row.name, () => checkRow(row));

  it('right shapes still work: the nets give their documented output shapes', () => {
    noLeak(() => {
      expect(gan.convGenerator.apply(gan.convGenerator.init(key(1), 4, { channels: 2 }), normal(2, [3, 4])).shape).toEqual([3, 28, 28, 1]);
      expect(gan.convDiscriminator.apply(gan.convDiscriminator.init(key(1), { channels: 2 }), normal(2, [3, 28, 28, 1])).shape).toEqual([3]);
      const p = ebm.mlpEnergy.init(key(1), 4, [8]);
      expect(ebm.mlpEnergy.apply(ebm.spectralNormalize(p, ebm.spectralNormInit(key(2), p)).params, normal(2, [5, 2, 2])).shape).toEqual([5]);
    });
  });

  it('right shapes still work: mlpDiscriminator scores one example [in] (as vmap over examples shows it) and refuses more than [N, in]', () => {
    noLeak(() => {
      const d = gan.mlpDiscriminator.init(key(1), 3, { hidden: 8 });
      const x = normal(2, [4, 3]);
      const batch = gan.mlpDiscriminator.apply(d, x);
      expect(gan.mlpDiscriminator.apply(d, x.at(1)).shape).toEqual([1]);
      const perExample = vmap((v: NDArray) => gan.mlpDiscriminator.apply(d, v))(x);
      expect(perExample.shape).toEqual([4, 1]);
      expect(np.max(np.abs(np.subtract(perExample.reshape(-1), batch))).item()).toBeLessThan(1e-6);
      expectShapeError(() => gan.mlpDiscriminator.apply(d, normal(3, [2, 4, 3])), [/^mlpDiscriminator\.apply: x has shape \[2,4,3\]; expected a batch \[N, in\] or one example \[in\]$/], 'eager');
      expectShapeError(() => gan.mlpDiscriminator.apply(d, normal(3, [4, 2])), [/^mlpDiscriminator\.apply: x has shape \[4,2\]; expected \[\.\.\., in=3\] \(in = 3 from params\[0\]\.w\)$/], 'eager');
    });
  });
});

// ---- flows --------------------------------------------------------------------------------------

/** A layer's init on `x`, its params with one leaf replaced, and a call of forward on the traced x. */
function flowRow(name: string, layer: flows.Layer, x: () => NDArray, path: (string | number)[], leaf: () => NDArray, says: RegExp[], stateLeaf = false): Row {
  return {
    name,
    setup: () => {
      const input = x();
      const { params, state } = layer.init(key(5), input);
      const p = stateLeaf ? params : withLeaf(params, path, leaf());
      const st = stateLeaf ? withLeaf(state, path, leaf()) : state;
      return { call: (v) => layer.forward(p, v, { state: st, logdet: { method: 'exact' } }).y, args: [input] };
    },
    says,
  };
}

const flowRows: Row[] = [
  flowRow('iresnet: a hidden layer of another width', flows.iresnet({ dim: 2, hidden: [4, 4] }), () => normal(1, [3, 2]), ['layers', 1, 'w'], () => np.zeros([4, 5]),
    // The hidden sizes are bound from the block config (iresnet_dense_shapes.test.ts), so the
    // replaced w is named against them (it was against its neighbours, and once blamed the b).
    [/^iresnet\.forward: params\.layers\[1\]\.w has shape \[4,5\]; expected \[h1=4, h2=4\] \(h2 = 4 from the block config; h1 = 4 from the block config\)$/]),
  flowRow('iresnet: a spectral-norm state of another size', flows.iresnet({ dim: 2, hidden: [4] }), () => normal(1, [3, 2]), ['sn', 1, 'u'], () => np.zeros([3]),
    [/^iresnet\.forward: state\.sn\[1\]\.u has shape \[3\]; expected \[h1=4\] \(h1 = 4 from the block config\)$/], true),
  flowRow('iresnetConv: a kernel with another channel count', flows.iresnetConv({ channels: 2, hidden: [3], kernelSizes: [3, [1, 3]] }), () => normal(1, [2, 4, 4, 2]), ['layers', 1, 'w'], () => np.zeros([1, 3, 4, 2]),
    [/^iresnetConv\.forward: params\.layers\[1\]\.w has shape \[1,3,4,2\]; expected \[1, 3, c1=3, c2=2\] \(c1 = 3 from the block config; c2 = 2 from the block config\)$/]),
  flowRow('iresnetConv: a kernel of another size than the config', flows.iresnetConv({ channels: 2, hidden: [3], kernelSizes: [3, [1, 3]] }), () => normal(1, [2, 4, 4, 2]), ['layers', 0, 'w'], () => np.zeros([1, 1, 2, 3]),
    [/iresnetConv\.forward: params\.layers\[0\]\.w has shape \[1,1,2,3\]; expected \[3, 3, c0=2, c1=3\]/]),
  flowRow('iresnetConv: power-iteration images of two sizes', flows.iresnetConv({ channels: 2, hidden: [3] }), () => normal(1, [2, 4, 4, 2]), ['sn', 1, 'u'], () => np.zeros([1, 4, 5, 2]),
    [/iresnetConv\.forward: state\.sn\[1\]\.u has shape \[1,4,5,2\]; expected \[1, H=4, W=4, c2=2\] \(W = 4 from state\.sn\[0\]\.u/], true),
  flowRow('affineCoupling: a conditioner whose last layer does not give s and t', flows.affineCoupling({ mask: [1, 0, 1], hidden: [4] }), () => normal(1, [3, 3]), ['net', 1, 'w'], () => np.zeros([4, 3]),
    [/^affineCoupling: params\.net\[1\]\.w has shape \[4,3\]; expected \[h1=4, 2dim=6\] \(2dim = 6 from the mask \(s and t for each feature\); h1 = 4 from params\.net\[0\]\.w\)$/]),
  flowRow('actnorm: a bias of another shape than the log-scale', flows.actnorm(), () => normal(1, [4, 3]), ['bias'], () => np.zeros([2]),
    [/actnorm\.forward: params\.bias has shape \[2\]; expected params\.logScale's \[3\]/]),
  flowRow('actnorm: a log-scale of another shape than the bias and the inputs (was blamed on the bias)', flows.actnorm(), () => normal(1, [4, 3]), ['logScale'], () => np.zeros([2]),
    [/^actnorm\.forward: params\.logScale has shape \[2\]; expected params\.bias's \[3\] \(which fits inputs \[4,3\]\)$/]),
  flowRow('conv1x1: a weight of another size', flows.conv1x1(3), () => normal(1, [4, 3]), ['w'], () => np.eye(2),
    [/^conv1x1\.forward: params\.w has shape \[2,2\]; expected \[C=3, C=3\] \(C = 3 from the layer \(conv1x1\(channels\)\)\)$/]),
  flowRow('conv1x1LU: a permutation of another size', flows.conv1x1LU(3), () => normal(1, [4, 3]), ['permutation'], () => np.eye(4),
    [/conv1x1LU\.forward: state\.permutation has shape \[4,4\]; expected \[C=3, C=3\]/], true),
  {
    name: 'flow: a layer\'s error says which layer and where its trees sit',
    setup: () => {
      const f = flows.flow([flows.actnorm(), flows.iresnet({ dim: 2, hidden: [4] })], { eventShape: [2] });
      const x = normal(1, [3, 2]);
      const { params, state } = f.init(key(5), x);
      const p = withLeaf(params, [1, 'layers', 0, 'b'], np.zeros([5]));
      return { call: (v) => f.logProb(p, v, { state, logdet: { method: 'exact' } }), args: [x] };
    },
    says: [/^flow\.forward: layer 1 \(iresnet; its trees are params\[1\] and state\[1\]\): iresnet\.forward: params\.layers\[0\]\.b has shape \[5\]; expected \[h1=4\]/],
  },
];

describe('flow layers name the layer, the path and the shapes', () => {
  for (const row of flowRows) it(row.name, () => checkRow(row));

  it('right shapes still work: a rectangular-kernel block round-trips through its inverse after the checks', () => {
    noLeak(() => {
      const block = flows.iresnetConv({ channels: 2, hidden: [3], kernelSizes: [[3, 1], [1, 3]] });
      const x = normal(1, [2, 4, 5, 2]);
      const { params, state } = block.init(key(2), x);
      const y = block.forward(params, x, { state, logdet: { method: 'none' } }).y;
      expect(np.max(np.abs(np.subtract(block.inverse(params, y, { state, logdet: { method: 'none' } }).x, x))).item()).toBeLessThan(1e-4);
    });
  });

  it('lipschitzBound names itself (it said normalize, and iresnetConv read a missing state with a TypeError)', () => {
    noLeak(() => {
      const conv = flows.iresnetConv({ channels: 2, hidden: [3], kernelSizes: [[3, 1], [1, 3]] });
      const img = normal(1, [2, 4, 5, 2]);
      const c = conv.init(key(2), img);
      const badConv = withLeaf(c.params, ['layers', 1, 'w'], np.zeros([3, 3, 3, 2]));
      expectShapeError(() => conv.lipschitzBound(badConv, c.state), [/^iresnetConv\.lipschitzBound: params\.layers\[1\]\.w has shape \[3,3,3,2\]; expected \[1, 3, c1=3, c2=2\]/], 'eager');
      expect(() => conv.lipschitzBound(c.params, { sn: [] })).toThrow(/^iresnetConv\.lipschitzBound: needs the block's spectral-norm state/);
      expectShapeError(() => conv.normalize(badConv, c.state), [/^iresnetConv\.normalize: params\.layers\[1\]\.w/], 'eager');
      const dense = flows.iresnet({ dim: 2, hidden: [4] });
      const d = dense.init(key(3), normal(4, [3, 2]));
      const badDense = withLeaf(d.params, ['layers', 1, 'w'], np.zeros([4, 3]));
      expectShapeError(() => dense.lipschitzBound(badDense, d.state), [/^iresnet\.lipschitzBound: params\.layers\[1\]\.w has shape \[4,3\]; expected \[h1=4, dim=2\]/], 'eager');
      expect(() => dense.lipschitzBound(d.params, { sn: [] })).toThrow(/^iresnet\.lipschitzBound: needs the block's spectral-norm state/);
      expect(conv.lipschitzBound(c.params, c.state)).toBeLessThan(0.9 * 0.9 * 1.01);
      expect(dense.lipschitzBound(d.params, d.state)).toBeLessThan(0.9 * 0.9 * 1.01);
    });
  });
});

describe('image helpers', () => {
  it('upsample2d and squeeze refuse what is not an image batch with ShapeErrors naming them', () => {
    noLeak(() => {
      expectShapeError(() => nn.upsample2d(normal(1, [4, 4, 2]), 2), [/^upsample2d: x has shape \[4,4,2\]; expected \[_, _, _, _\]$/], 'eager');
      expect(nn.upsample2d(normal(1, [1, 2, 3, 2]), 2).shape).toEqual([1, 4, 6, 2]);
      const sq = flows.squeeze();
      expectShapeError(() => sq.forward({}, normal(1, [2, 3, 4, 1])), [/squeeze\.forward: image size 3×4 is not a multiple of the factor 2/], 'eager');
      expectShapeError(() => sq.forward({}, normal(1, [2, 4, 1])), [/squeeze\.forward: expected images \[N, H, W, C\], got shape \[2,4,1\]/], 'eager');
    });
  });
});

describe('flow configuration errors are gradus error classes (ValueError for values), not plain Errors', () => {
  it('squeeze, logit, bitsPerDim, affineCoupling and iresnet refuse bad settings with ValueError naming the setting', () => {
    const cases: [string, () => unknown, RegExp][] = [
      ['squeeze factor 0', () => flows.squeeze(0), /squeeze: the factor must be a positive integer, got 0/],
      ['logit alpha 0.7', () => flows.logit({ alpha: 0.7 }), /logit: alpha must be in \[0, 0\.5\), got 0\.7/],
      ['bitsPerDim dims 0', () => flows.bitsPerDim(-1, 0), /bitsPerDim: dims must be a positive integer, got 0/],
      ['affineCoupling mask [2, 0]', () => flows.affineCoupling({ mask: [2, 0] }), /affineCoupling: mask must contain only 0 and 1/],
      ['iresnet coeff 1.5', () => flows.iresnet({ dim: 2, hidden: [4], coeff: 1.5 }), /iresnet: coeff must be in \(0, 1\)/],
    ];
    for (const [name, make, says] of cases) {
      expect(make, name).toThrow(ValueError);
      expect(make, name).toThrow(says);
    }
  });
});

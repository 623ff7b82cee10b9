// Scaling: the work of grad, valueAndGrad, vjp, jit(grad) and an optimizer step grows linearly with
// the number of parameter leaves, and the eager fast paths (no per-op tidy, operands passed through
// as they are, short sums in one kernel) keep every result, error and leak guarantee. Work is counted
// (equations traced, tensors created, arrays visited by bookkeeping), never timed.
import { afterEach, describe, expect, it, vi } from 'vitest';
import fc from 'fast-check';
import * as tf from '@tensorflow/tfjs-core';
import { ConcreteArray, ShapeError, grad, jit, makeJaxpr, np, scope, valueAndGrad, vjp, type NDArray } from '../src/index.js';
import * as optim from '../optim/index.js';
import { upcomingTensorId } from '../src/core.js';
import { kernels } from '../src/kernels.js';
import { FC_SEED, expectClose, numTensors, values } from './helpers.js';

type Params = Record<string, NDArray>;

/** L leaves, each a [4] vector with distinct values. */
function manyLeaves(L: number): Params {
  const p: Params = {};
  for (let i = 0; i < L; i++) p[`w${String(i).padStart(4, '0')}`] = np.array([0.01 * i, 1, -0.5, 0.25 * (i % 7)]);
  return p;
}

function free(t: unknown): void {
  const out = new Set<tf.Tensor>();
  const walk = (x: unknown): void => {
    if (x instanceof ConcreteArray) out.add(x.tensor);
    else if (Array.isArray(x)) x.forEach(walk);
    else if (x !== null && typeof x === 'object') Object.values(x).forEach(walk);
  };
  walk(t);
  tf.dispose([...out]);
}

/** Σ_leaves Σ w², summed leaf by leaf (a chain as long as the tree). */
const sumOfSquares = (p: Params): NDArray => {
  let s: NDArray | undefined;
  for (const k of Object.keys(p)) {
    const v = np.sum(np.multiply(p[k]!, p[k]!));
    s = s === undefined ? v : np.add(s, v);
  }
  return s!;
};

/**
 * How much `work(L)` costs at L, 2L, 4L and 8L leaves; linear growth doubles the increments,
 * quadratic growth quadruples them. Returns the ratio of the last increment to the one before.
 */
function growth(count: (L: number) => number, L = 6): number {
  const c = [L, 2 * L, 4 * L, 8 * L].map(count);
  return (c[3]! - c[2]!) / (c[2]! - c[1]!);
}

/** Tensors created while `fn` runs (TF.js numbers tensors in creation order). */
function tensorsCreated(fn: () => unknown): number {
  const first = upcomingTensorId();
  free(fn());
  return upcomingTensorId() - first;
}

/** Reads of ConcreteArray.isDisposed while `fn` runs: every bookkeeping walk over arrays (scopes, residual holders, result checks) makes them. */
function arraysVisited(fn: () => unknown): number {
  const spy = vi.spyOn(ConcreteArray.prototype, 'isDisposed', 'get');
  try {
    free(fn());
    return spy.mock.calls.length;
  } finally {
    spy.mockRestore();
  }
}

/** Runs `work` on a fresh tree of L leaves and measures it with `measure`, freeing the tree. */
function perTree(L: number, measure: (f: () => unknown) => number, work: (p: Params) => unknown): number {
  const p = manyLeaves(L);
  try {
    work(p); // warm-up: lazily made constants are not part of the count
    free(work(p) as never);
    return measure(() => work(p));
  } finally {
    free(p);
  }
}

describe('reverse mode scales linearly in the number of leaves', () => {
  afterEach(() => vi.restoreAllMocks());

  it('grad of a sum over L leaves traces a program whose size is affine in L', () => {
    const eqns = (L: number) => {
      const p = manyLeaves(L);
      try {
        return makeJaxpr(grad(sumOfSquares))(p).jaxpr.eqns.length;
      } finally {
        free(p);
      }
    };
    const c = [4, 8, 16, 32].map(eqns);
    // Exactly affine: every leaf adds the same equations.
    expect(c[2]! - c[1]!).toBe(2 * (c[1]! - c[0]!));
    expect(c[3]! - c[2]!).toBe(2 * (c[2]! - c[1]!));
  });

  it('eager grad, valueAndGrad and vjp create a number of tensors affine in L', () => {
    const works: [string, (p: Params) => unknown][] = [
      ['grad', (p) => grad(sumOfSquares)(p)],
      ['valueAndGrad', (p) => valueAndGrad(sumOfSquares)(p)],
      [
        'vjp',
        (p) => {
          const [y, pull] = vjp(sumOfSquares, p);
          const [g] = pull(np.array(1));
          pull.dispose();
          return [y, g];
        },
      ],
    ];
    for (const [name, work] of works) {
      const c = [6, 12, 24].map((L) => perTree(L, tensorsCreated, work));
      expect(c[2]! - c[1]!, name).toBe(2 * (c[1]! - c[0]!));
    }
  });

  it('bookkeeping (scopes, residual holders, fresh results) visits arrays linearly in L: grad, vjp, jit(grad), adam', () => {
    const adam = optim.adam(1e-2);
    const works: [string, (p: Params) => unknown][] = [
      ['grad', (p) => grad(sumOfSquares)(p)],
      [
        'vjp',
        (p) => {
          const [y, pull] = vjp(sumOfSquares, p);
          const [g] = pull(np.array(1));
          pull.dispose();
          return [y, g];
        },
      ],
      [
        'jit(grad)',
        (p) => {
          const f = jit(grad(sumOfSquares));
          const g1 = f(p);
          free(g1);
          const g2 = f(p); // the cached call: signature check and execution
          f.clearCache();
          return g2;
        },
      ],
      [
        'adam update',
        (p) => {
          const state = adam.init(p);
          const [u, s] = adam.update(p, state, p);
          free(state);
          free(s);
          return u;
        },
      ],
    ];
    for (const [name, work] of works) {
      const ratio = growth((L) => perTree(L, arraysVisited, work));
      // 2 when linear, 4 when quadratic; the slack covers the constant overheads at small L.
      expect(ratio, `${name}: visits grew by ${ratio.toFixed(2)}× per doubling of the increment`).toBeLessThan(2.5);
      expect(ratio, name).toBeGreaterThan(1.5);
    }
  });

  it('the gradient over many leaves is 2w at every leaf, and nothing leaks', () => {
    const p = manyLeaves(200);
    const before = numTensors();
    const g = grad(sumOfSquares)(p);
    for (const k of Object.keys(p)) expectClose(g[k]!, values(p[k]!).map((w) => 2 * w), { rtol: 1e-6, label: k });
    free(g);
    expect(numTensors()).toBe(before);
    free(p);
  });
});

describe('grad names a non-float leaf by its path (found by a second walk only on that error)', () => {
  it('argument and path of the int leaf among many float leaves', () => {
    const params: Record<string, NDArray | Record<string, NDArray>> = { ...manyLeaves(5), z: { n: np.array([1, 2], 'int32') } };
    const loss = (_: number, p: typeof params) => np.sum(p['w0000'] as NDArray);
    expect(() => grad(loss, { argnums: 1 })(0, params)).toThrow(/grad: argument 1 at \.z\.n is i32\[2\]; grad differentiates float32 inputs only/);
    free(params);
  });
});

describe('eager fast paths keep results, errors and memory', () => {
  // (One primitive each: a composite np op inside a scope keeps its intermediates until the scope closes.)
  it('a kernel made of several TF.js ops leaves only its result alive, inside an open scope too', () => {
    const x = np.reshape(np.sin(np.arange(600)), [3, 200]);
    const a = np.reshape(np.cos(np.arange(64)), [8, 8]);
    const ops: [string, () => NDArray][] = [
      ['sum over a leading axis', () => np.sum(x, 0)],
      ['sum over a long row', () => np.sum(x, 1)],
      ['matmul', () => np.matmul(a, a)],
      ['cumsum', () => np.cumsum(x, 1)],
    ];
    for (const [name, op] of ops) {
      op(); // warm-up
      scope(() => {
        const before = numTensors();
        op();
        // The scope is still open: only the result may have been added.
        expect(numTensors() - before, name).toBe(1);
      });
    }
    free([x, a]);
  });

  it('a kernel that throws after making a temporary frees it, inside an open scope too', () => {
    const a = np.array([1.5, 2.5]);
    const original = kernels.add;
    kernels.add = ([x]) => {
      tf.mul(x!, 2); // a temporary, then a failure
      throw new Error('kernel failed');
    };
    try {
      scope(() => {
        const before = numTensors();
        expect(() => np.add(a, a)).toThrow('kernel failed');
        expect(numTensors()).toBe(before);
      });
    } finally {
      kernels.add = original;
    }
    expect(values(np.add(a, a))).toEqual([3, 5]);
    free(a);
  });

  it('a result that is an argument comes back as its own handle', () => {
    const x = np.array([[1, 2], [3, 4]]);
    const y = np.reshape(x, [2, 2]);
    const [z] = np.split(x, 1);
    (y as ConcreteArray).dispose();
    (z as ConcreteArray).dispose();
    expect(values(x)).toEqual([1, 2, 3, 4]);
    free(x);
  });

  it('operands of one shape and dtype pass through; others are still checked and promoted', () => {
    const a = np.array([[1, 2, 3], [4, 5, 6]], 'float32');
    const b = np.array([[1, 2], [3, 4], [5, 6]], 'float32');
    expect(() => np.add(a, b)).toThrow(ShapeError);
    expect(() => np.add(a, b)).toThrow(/add: shapes \[2,3\] and \[3,2\] cannot be broadcast together/);
    const i = np.array([[1, 2, 3], [4, 5, 6]], 'int32');
    expect(np.add(i, i).dtype).toBe('int32');
    expect(np.add(i, a).dtype).toBe('float32');
    expect(np.divide(i, i).dtype).toBe('float32');
    expect(values(np.divide(i, i))).toEqual([1, 1, 1, 1, 1, 1]);
    expect(np.sin(i).dtype).toBe('float32');
    free([a, b, i]);
  });

  it('sums over short trailing rows equal a float64 sum (NaN and ±inf included)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 3 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 0, max: 1000 }),
        fc.constantFrom(0, 1, 2, 3),
        (shape, trailing, seed, special) => {
          const k = Math.min(trailing, shape.length);
          const axes = shape.map((_, i) => i).slice(shape.length - k);
          const size = shape.reduce((m, d) => m * d, 1);
          const data = Array.from({ length: size }, (_, i) => Math.fround(Math.sin(seed + 1.7 * i) * 10));
          if (special === 1) data[seed % size] = NaN;
          if (special === 2) data[seed % size] = Infinity;
          if (special === 3) data[(seed + 1) % size] = -Infinity;
          const rows = axes.reduce((m, a) => m * shape[a]!, 1);
          const want = Array.from({ length: size / rows }, (_, r) => data.slice(r * rows, (r + 1) * rows).reduce((s, v) => s + v, 0));
          scope(() => {
            const got = np.sum(np.reshape(np.array(data), shape), axes);
            expect(got.shape).toEqual(shape.slice(0, shape.length - k));
            values(got).forEach((g, r) => {
              const w = want[r]!;
              if (Number.isNaN(w)) expect(g).toBeNaN();
              else if (!Number.isFinite(w)) expect(g).toBe(w);
              else expect(Math.abs(g - w)).toBeLessThanOrEqual(1e-5 * Math.max(1, ...data.slice(r * rows, (r + 1) * rows).map(Math.abs)) * rows);
            });
          });
        },
      ),
      { seed: FC_SEED, numRuns: 60 },
    );
  });
});

describe('JS numbers become bool as NumPy converts them: true when nonzero, NaN included', () => {
  it('a weak number with bool arrays, and np.array(x, "bool"), agree with x !== 0 at every rank', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.constantFrom(NaN, -0, 0, 0.3, -0.7, 0.5, 1.5, Infinity, -Infinity, 1e-30, 2 ** 31), fc.double()),
        fc.integer({ min: 0, max: 3 }),
        (x, rank) => {
          const want = x !== 0 ? 1 : 0;
          scope(() => {
            const shape = new Array<number>(rank).fill(1);
            const t = np.reshape(np.array(true), shape);
            const f = np.reshape(np.array(false), shape);
            expect(values(np.logicalAnd(t, x)), `logicalAnd(true[${shape}], ${x})`).toEqual([want]);
            expect(values(np.logicalOr(f, x)), `logicalOr(false[${shape}], ${x})`).toEqual([want]);
            expect(values(np.logicalXor(f, x)), `logicalXor(false[${shape}], ${x})`).toEqual([want]);
          });
          scope(() => {
            expect(values(np.array(x, 'bool')), `array(${x}, bool)`).toEqual([want]);
            expect(values(np.array([x, 0], 'bool')), `array([${x}, 0], bool)`).toEqual([want, 0]);
            expect(values(np.array(Float64Array.of(x), 'bool')), `array(Float64Array [${x}], bool)`).toEqual([want]);
            // astype (a kernel) is the conversion the constants must agree with.
            if (Math.abs(x) < 3e38 || !Number.isFinite(x)) expect(values(np.astype(np.array([x], 'float32'), 'bool')), `astype(${x})`).toEqual([Math.fround(x) !== 0 ? 1 : 0]);
          });
        },
      ),
      { seed: FC_SEED, numRuns: 200 },
    );
  });
});

describe('JS booleans are weak operands like JS numbers', () => {
  it('true and false with int32 and float32 arrays count as 1 and 0 at every rank (they were refused as "non-finite ints" with int32)', () => {
    for (const rank of [0, 1, 2]) {
      for (const dtype of ['int32', 'float32'] as const) {
        scope(() => {
          const x = np.reshape(np.array([5], dtype), new Array<number>(rank).fill(1));
          for (const [b, n] of [[true, 1], [false, 0]] as const) {
            const sum = np.add(x, b);
            expect(sum.dtype, `add(${dtype} rank ${rank}, ${b})`).toBe(dtype);
            expect(values(sum)).toEqual([5 + n]);
            expect(values(np.multiply(b, x))).toEqual([5 * n]);
            expect(values(np.array(b, dtype))).toEqual([n]);
          }
        });
      }
    }
  });
});

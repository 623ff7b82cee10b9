// Scaling: the work of grad, valueAndGrad, vjp, jit(grad) and an optimizer step grows linearly with
// the number of parameter leaves, and the eager fast paths (no per-op tidy, operands passed through
// as they are, short sums in one kernel) keep every result, error and leak guarantee. Work is counted
// (equations traced, tensors created, arrays visited by bookkeeping), never timed.
import { afterEach, describe, expect, it, vi } from 'vitest';
import fc from 'fast-check';
import * as tf from '@tensorflow/tfjs-core';
import { ConcreteArray, ShapeError, UnexpectedTracerError, customVjp, grad, jit, makeJaxpr, np, scope, valueAndGrad, vjp, vmap, type DType, type NDArray } from '../src/index.js';
import * as optim from '../optim/index.js';
import { upcomingTensorId } from '../src/core.js';
import { kernels } from '../src/kernels.js';
import { FC_SEED, expectClose, forEachBackend, numTensors, values } from './helpers.js';

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

  /** One vjp of the loss and its pullback at 1, the pullback then freed. */
  const vjpOnce = (p: Params) => {
    const [y, pull] = vjp(sumOfSquares, p);
    const [g] = pull(np.array(1));
    pull.dispose();
    return [y, g];
  };

  it('eager grad, valueAndGrad and vjp create a number of tensors affine in L', () => {
    const works: [string, (p: Params) => unknown][] = [
      ['grad', (p) => grad(sumOfSquares)(p)],
      ['valueAndGrad', (p) => valueAndGrad(sumOfSquares)(p)],
      ['vjp', vjpOnce],
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
      ['vjp', vjpOnce],
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

// An independent reference for the eager elementwise path: NumPy/JAX promotion (bool < int32 <
// float32; JS numbers and booleans are weak), broadcasting, and each dtype's arithmetic in JS.
type Operand = { kind: 'array'; dtype: DType; shape: number[]; data: number[] } | { kind: 'weak'; value: number | boolean };
const dtypeRank: Record<DType, number> = { bool: 0, int32: 1, float32: 2 };
const widerDtype = (a: DType, b: DType): DType => (dtypeRank[a] >= dtypeRank[b] ? a : b);
/** The dtype a JS number or boolean needs on its own (NumPy's weak scalar kinds). */
const weakKind = (x: number | boolean): DType => (typeof x === 'boolean' ? 'bool' : Number.isInteger(x) && x >= -(2 ** 31) && x < 2 ** 31 ? 'int32' : 'float32');
/** A JS value stored as dtype `d`. */
const storeAs = (v: number | boolean, d: DType): number => (d === 'float32' ? Math.fround(Number(v)) : d === 'int32' ? Number(v) | 0 : v === 0 || v === false ? 0 : 1);
const ELEMENTWISE = {
  add: { f: np.add, ref: (a: number, b: number, d: DType) => (d === 'bool' ? a | b : d === 'int32' ? (a + b) | 0 : Math.fround(a + b)) },
  multiply: { f: np.multiply, ref: (a: number, b: number, d: DType) => (d === 'bool' ? a & b : d === 'int32' ? Math.imul(a, b) : Math.fround(a * b)) },
  maximum: { f: np.maximum, ref: (a: number, b: number) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.max(a, b)) },
} as const;
const WEAK_VALUES = [0, -0, 1, -1, 2.5, 0.1, NaN, Infinity, -Infinity, 2147483647, -2147483648, 2147483648, 1e10, true, false];
/** Deterministic test data of dtype `d` (float32 data includes -0). */
const fillData = (d: DType, n: number, seed: number): number[] =>
  Array.from({ length: n }, (_, i) => {
    const s = Math.sin(seed + 3.1 * i) * 7;
    return d === 'float32' ? Math.fround(i % 5 === 4 ? -0 : s) : d === 'int32' ? Math.round(s) | 0 : s > 0 ? 1 : 0;
  });

describe('eager elementwise ops equal a JS reference on both backends', () => {
  it('add, multiply, maximum over broadcast shapes, bool/int32/float32 mixes and weak numbers (±0, NaN, ±inf, int32 limits): dtype, values, -0 and no leaks, in and out of scopes', async () => {
    await forEachBackend((backend) => {
      fc.assert(
        fc.property(
          fc.record({
            shapeA: fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 3 }),
            ones: fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }),
            lead: fc.integer({ min: 0, max: 2 }),
            dtA: fc.constantFrom<DType>('float32', 'int32', 'bool'),
            dtB: fc.constantFrom<DType>('float32', 'int32', 'bool'),
            weakB: fc.option(fc.constantFrom(...WEAK_VALUES), { nil: undefined }),
            swap: fc.boolean(),
            op: fc.constantFrom('add', 'multiply', 'maximum'),
            seed: fc.integer({ min: 0, max: 1000 }),
            inScope: fc.boolean(),
          }),
          (c) => {
            const shapeB = c.shapeA.slice(c.lead).map((d, i) => (c.ones[i] ? 1 : d));
            const size = (s: number[]) => s.reduce((m, d) => m * d, 1);
            const a: Operand = { kind: 'array', dtype: c.dtA, shape: c.shapeA, data: fillData(c.dtA, size(c.shapeA), c.seed) };
            const b: Operand = c.weakB !== undefined ? { kind: 'weak', value: c.weakB } : { kind: 'array', dtype: c.dtB, shape: shapeB, data: fillData(c.dtB, size(shapeB), c.seed + 1) };
            const ops = c.swap ? [b, a] : [a, b];
            const d = widerDtype(a.dtype, b.kind === 'array' ? b.dtype : weakKind(b.value));
            const out = c.shapeA;
            // Element `flat` of the broadcast result read from operand o, stored as o's dtype, then as d.
            const read = (o: Operand, flat: number): number => {
              if (o.kind === 'weak') return storeAs(o.value, d);
              let k = 0;
              const coord = (axis: number) => Math.floor(flat / size(out.slice(axis + 1))) % out[axis]!;
              o.shape.forEach((s, j) => (k = k * s + (s === 1 ? 0 : coord(j + out.length - o.shape.length))));
              return storeAs(storeAs(o.data[k]!, o.dtype), d);
            };
            const want = Array.from({ length: size(out) }, (_, i) => ELEMENTWISE[c.op].ref(read(ops[0]!, i), read(ops[1]!, i), d));
            const label = `${backend} ${c.op}(${ops.map((o) => (o.kind === 'weak' ? String(o.value) : `${o.dtype}[${o.shape}]`)).join(', ')})`;
            const before = numTensors();
            const run = () => {
              const xs = ops.map((o) => (o.kind === 'weak' ? o.value : scope(() => np.reshape(np.array(o.data, o.dtype), o.shape))));
              const r = ELEMENTWISE[c.op].f(xs[0] as NDArray, xs[1] as NDArray);
              const got = { dtype: r.dtype, shape: r.shape, vals: values(r) };
              free([r, ...xs]);
              return got;
            };
            const got = c.inScope ? scope(run) : run();
            expect(numTensors(), `${label} leaked`).toBe(before);
            expect(got.dtype, label).toBe(d);
            expect(got.shape, label).toEqual(out);
            // Object.is: NaN equals NaN and -0 differs from 0 (maximum's choice between ±0 is free).
            got.vals.forEach((g, i) => expect(Object.is(g, want[i]) || (c.op === 'maximum' && g === want[i]), `${label} [${i}]: ${g} where ${want[i]} was expected`).toBe(true));
          },
        ),
        { seed: FC_SEED, numRuns: 200 },
      );
    });
  });
});

describe('dot_general without its no-op reshapes equals a JS reference on both backends', () => {
  it('matmul and einsum (batched, contracting 0 to 65, transposed operands, merged free axes, int32), eager and under jit, leaving no tensor behind', async () => {
    await forEachBackend((backend) => {
      fc.assert(
        fc.property(
          fc.integer({ min: 0, max: 3 }),
          fc.constantFrom(0, 1, 2, 3, 65),
          fc.integer({ min: 0, max: 3 }),
          fc.constantFrom(0, 1, 2),
          fc.constantFrom<DType>('float32', 'int32'),
          fc.constantFrom('matmul', 'einsum a·bᵀ', 'einsum aᵀ·b', 'einsum pmk·kn'),
          fc.boolean(),
          fc.integer({ min: 0, max: 99 }),
          (M, K, N, batch, dtype, form, useJit, seed) => {
            const lead = batch ? [batch] : [];
            const nb = Math.max(batch, 1);
            const a = Array.from({ length: nb * M * K }, (_, i) => Math.round(Math.sin(seed + i) * 5));
            const b = Array.from({ length: nb * K * N }, (_, i) => Math.round(Math.cos(seed + 2 * i) * 5));
            // a is (batch, M, K) and b (batch, K, N), row-major; small integers make every product exact.
            const want: number[] = [];
            for (let p = 0; p < nb; p++)
              for (let m = 0; m < M; m++)
                for (let n = 0; n < N; n++) {
                  let s = 0;
                  // ('einsum pmk·kn' takes b's first matrix for every p: a's free axes p and m merge.)
                  const q = form === 'einsum pmk·kn' ? 0 : p;
                  for (let k = 0; k < K; k++) s += a[p * M * K + m * K + k]! * b[q * K * N + k * N + n]!;
                  want.push(s + 0);
                }
            const before = numTensors();
            const A = scope(() => np.reshape(np.array(a, dtype), [...lead, M, K]));
            const B = scope(() => np.reshape(np.array(b, dtype), [...lead, K, N]));
            const bt = lead.length ? '...' : '';
            const f =
              form === 'matmul'
                ? (x: NDArray, y: NDArray) => np.matmul(x, y)
                : form === 'einsum a·bᵀ'
                  ? (x: NDArray, y: NDArray) => np.einsum(`${bt}mk,${bt}nk->${bt}mn`, x, np.swapaxes(y, -1, -2))
                  : form === 'einsum aᵀ·b'
                    ? (x: NDArray, y: NDArray) => np.einsum(`${bt}km,${bt}kn->${bt}mn`, np.swapaxes(x, -1, -2), y)
                    : (x: NDArray, y: NDArray) => np.einsum(`${bt}mk,kn->${bt}mn`, x, batch ? np.reshape(np.split(y, batch, 0)[0]!, [K, N]) : y);
            const r = useJit ? jit(f)(A, B) : scope(() => f(A, B));
            const label = `${backend} ${form} ${dtype} [${lead}] ${M}×${K}×${N}${useJit ? ' jit' : ''}`;
            expect(r.shape, label).toEqual([...lead, M, N]);
            expect(r.dtype, label).toBe(dtype);
            expect(values(r).map((v) => v + 0), label).toEqual(want);
            free([A, B, r]);
            expect(numTensors(), `${label} leaked`).toBe(before);
          },
        ),
        { seed: FC_SEED, numRuns: 150 },
      );
    });
  });
});

describe('the shared eager trace under nested transformations and re-entrant rules', () => {
  let failInBwd = false;
  const triple = jit((c: NDArray) => np.multiply(np.reshape(c, c.shape), 3));
  // x² whose backward rule re-enters the library while another op is being differentiated: a
  // jitted call, a nested scope, weak numbers and a same-shape reshape of its result.
  const square = customVjp(
    (x: NDArray) => np.multiply(x, x),
    (x: NDArray) => [np.multiply(x, x), x] as [NDArray, NDArray],
    (x: NDArray, ct: NDArray) => {
      if (failInBwd) throw new Error('bwd failed on purpose');
      const two = scope(() => np.divide(triple(np.ones(x.shape)), 1.5));
      return [np.reshape(np.multiply(np.multiply(two, x), ct), x.shape)];
    },
  );
  const loss = (w: NDArray) => np.sum(np.sin(square(w)));

  it('vmap(grad) eagerly, in jit and in jit in a scope equals 2t·cos(t²) on both backends; a rule that throws leaves nothing behind and later calls still work; escaped tracers are still caught', async () => {
    await forEachBackend((backend) => {
      const xs = np.array([[0.5, -1.25], [2, 0.75], [-0.3, 1.1]], 'float32');
      const h = jit((x: NDArray) => vmap(grad(loss))(x));
      let before = numTensors();
      for (let rep = 0; rep < 3; rep++) {
        if (rep === 1) before = numTensors(); // the first round fills jit caches (np.ones is a constant of h's program)
        for (const mode of ['eager', 'jit', 'scope'] as const) {
          const r = mode === 'eager' ? vmap(grad(loss))(xs) : mode === 'jit' ? h(xs) : scope(() => h(xs));
          values(r).forEach((g, i) => {
            const t = values(xs)[i]!;
            expect(Math.abs(g - 2 * t * Math.cos(t * t)), `${backend} ${mode} [${i}]`).toBeLessThan(1e-5);
          });
          free(r);
          failInBwd = true;
          try {
            expect(() => (mode === 'eager' ? vmap(grad(loss))(xs) : jit((x: NDArray) => vmap(grad(loss))(x))(xs))).toThrow(/bwd failed on purpose/);
          } finally {
            failInBwd = false;
          }
        }
      }
      expect(numTensors(), `${backend} leaked`).toBe(before);
      let escaped: NDArray | undefined;
      free(grad((w: NDArray) => np.sum((escaped = np.multiply(w, 2))))(xs));
      expect(() => np.add(escaped!, 1)).toThrow(UnexpectedTracerError);
      expect(() => jit((x: NDArray) => np.add(x, escaped!))(xs)).toThrow(UnexpectedTracerError);
      expect(numTensors(), `${backend} leaked`).toBe(before);
      free(xs);
    });
  });
});

describe('eager ops inside a long-lived scope leave only their results on its list, as a tidy per op did', () => {
  it('the open scope grows by one entry per single-result op, however many temporaries the kernel makes (a wasm sum of long rows makes several), so a long eager loop holds no dead tensors of its kernels', async () => {
    await forEachBackend((backend) => {
      const x = np.ones([4, 300]);
      scope(() => {
        const track = (tf.engine().state as unknown as { activeScope: { track: tf.Tensor[] } }).activeScope.track;
        const before = track.length;
        const outs: NDArray[] = [];
        for (let i = 0; i < 10; i++) outs.push(np.sum(x, 1), np.matmul(x, np.transpose(x)));
        // np.transpose is one op with one result too: 3 results per round.
        expect(track.length - before, backend).toBe(30);
        expect(values(outs[0]!)).toEqual([300, 300, 300, 300]);
        expect(values(outs[1]!)[0]).toBe(300);
        return 0;
      });
      free(x);
    });
  });
});

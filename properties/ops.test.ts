// Op properties (issue 2): every np op agrees with a float64 reference written in plain JS
// (src/testing/reference.ts) on random shapes — broadcasting with size-1 and empty dimensions,
// NumPy dtype promotion, reductions over any axes, shape manipulation, indexing, products and
// linear algebra — and incompatible shapes give errors that name the op and the shapes.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as tf from '@tensorflow/tfjs-core';
import { LinAlgError, NDArray, dispose, getBackend, grad, jit, np, setBackend } from '../src/index.js';
import type { DType } from '../src/index.js';
import { ArrayData, arbArray, arbBroadcastShapes, arbIncompatibleShapes, arbShape, reference as R } from '../src/testing/index.js';
import { FC_SEED, clipReference, expectClose, expectCloseInf, inScope, onEachBackend, sameNumber, values } from './helpers.js';

const F32 = { rtol: 2e-6, atol: 1e-6 };

/** Arrays for a tuple of shapes. */
function arraysFor(shapes: readonly (readonly number[])[], c: Parameters<typeof arbArray>[1] = {}): fc.Arbitrary<ArrayData[]> {
  return fc.tuple(...shapes.map((s) => arbArray(s, c)));
}

// ---------------------------------------------------------------------------------------------
// Elementwise

const BINARY: [string, (x: NDArray, y: NDArray) => NDArray, (a: number, b: number) => number, { min?: number; max?: number; minAbs?: number }?, { min?: number; max?: number; minAbs?: number }?][] = [
  ['add', np.add, (a, b) => a + b],
  ['subtract', np.subtract, (a, b) => a - b],
  ['multiply', np.multiply, (a, b) => a * b],
  ['divide', np.divide, (a, b) => a / b, {}, { minAbs: 0.25 }],
  ['maximum', np.maximum, Math.max],
  ['minimum', np.minimum, Math.min],
  ['power', np.power, (a, b) => a ** b, { min: 0.125, max: 3 }, { min: -2, max: 2 }],
  ['arctan2', np.arctan2, Math.atan2, {}, { minAbs: 0.125 }],
  ['remainder', np.remainder, (a, b) => a - Math.floor(a / b) * b, {}, { minAbs: 0.5 }],
  ['logaddexp', np.logaddexp, (a, b) => Math.max(a, b) + Math.log1p(Math.exp(-Math.abs(a - b)))],
];

describe('elementwise binary ops broadcast like NumPy (size-1 and empty dimensions included)', () => {
  for (const [name, op, ref, cx = {}, cy = {}] of BINARY) {
    it(name, () => {
      const arb = arbBroadcastShapes({ count: 2, maxRank: 4, maxDim: 4 }).chain(([s1, s2]) => fc.tuple(arbArray(s1!, cx), arbArray(s2!, cy)));
      fc.assert(
        fc.property(arb, ([xd, yd]) =>
          inScope(() => {
            const out = op(xd.toNDArray(), yd.toNDArray());
            const want = R.zipWith(ref, R.fromData(xd), R.fromData(yd));
            expect(out.shape).toEqual(want.shape);
            expect(out.dtype).toBe('float32');
            expectClose(out, want, { rtol: name === 'power' ? 1e-5 : 2e-6, atol: name === 'remainder' ? 1e-5 : 1e-6, label: `${name}(${xd}, ${yd})` });
          }),
        ),
        { seed: FC_SEED, numRuns: 60 },
      );
    });
  }

  it('where broadcasts condition and both branches together', () => {
    const arb = arbBroadcastShapes({ count: 3, maxRank: 3, maxDim: 3 }).chain(([c, a, b]) => fc.tuple(arbArray(c!, { dtype: 'bool' }), arbArray(a!), arbArray(b!)));
    fc.assert(
      fc.property(arb, ([cd, ad, bd]) =>
        inScope(() => {
          const out = np.where(cd.toNDArray(), ad.toNDArray(), bd.toNDArray());
          expectClose(out, R.where(R.fromData(cd), R.fromData(ad), R.fromData(bd)), { rtol: 0, atol: 0 });
        }),
      ),
      { seed: FC_SEED, numRuns: 60 },
    );
  });

  it('comparisons give bool arrays of the broadcast shape', () => {
    const arb = arbBroadcastShapes({ count: 2, maxRank: 3, maxDim: 3 }).chain(([a, b]) => fc.tuple(arbArray(a!, { min: -2, max: 2, resolution: 0.5 }), arbArray(b!, { min: -2, max: 2, resolution: 0.5 })));
    const ops: [(x: NDArray, y: NDArray) => NDArray, (a: number, b: number) => boolean][] = [
      [np.equal, (a, b) => a === b], [np.notEqual, (a, b) => a !== b], [np.less, (a, b) => a < b],
      [np.lessEqual, (a, b) => a <= b], [np.greater, (a, b) => a > b], [np.greaterEqual, (a, b) => a >= b],
    ];
    fc.assert(
      fc.property(arb, fc.nat(ops.length - 1), ([ad, bd], k) =>
        inScope(() => {
          const [op, ref] = ops[k]!;
          const out = op(ad.toNDArray(), bd.toNDArray());
          expect(out.dtype).toBe('bool');
          expectClose(out, R.zipWith((a, b) => (ref(a, b) ? 1 : 0), R.fromData(ad), R.fromData(bd)), { rtol: 0, atol: 0 });
        }),
      ),
      { seed: FC_SEED, numRuns: 60 },
    );
  });
});

const UNARY: [string, (x: NDArray) => NDArray, (a: number) => number, { min?: number; max?: number }?][] = [
  ['sin', np.sin, Math.sin], ['cos', np.cos, Math.cos], ['tan', np.tan, Math.tan, { min: -1.2, max: 1.2 }],
  ['arcsin', np.arcsin, Math.asin, { min: -0.99, max: 0.99 }], ['arccos', np.arccos, Math.acos, { min: -0.99, max: 0.99 }],
  ['arctan', np.arctan, Math.atan], ['sinh', np.sinh, Math.sinh], ['cosh', np.cosh, Math.cosh], ['arcsinh', np.arcsinh, Math.asinh],
  ['tanh', np.tanh, Math.tanh], ['exp', np.exp, Math.exp], ['expm1', np.expm1, Math.expm1],
  ['log', np.log, Math.log, { min: 0.01, max: 8 }], ['log1p', np.log1p, Math.log1p, { min: -0.9, max: 8 }],
  ['sqrt', np.sqrt, Math.sqrt, { min: 0, max: 8 }], ['rsqrt', np.rsqrt, (a) => 1 / Math.sqrt(a), { min: 0.05, max: 8 }],
  ['sigmoid', np.sigmoid, (a) => 1 / (1 + Math.exp(-a)), { min: -8, max: 8 }], ['abs', np.abs, Math.abs], ['negative', np.negative, (a) => -a],
  ['sign', np.sign, Math.sign], ['floor', np.floor, Math.floor], ['ceil', np.ceil, Math.ceil], ['square', np.square, (a) => a * a],
  ['round (half to even)', np.round, (a) => (Math.abs(a % 1) === 0.5 ? 2 * Math.round(a / 2) : Math.round(a)), { min: -4, max: 4 }],
  ['reciprocal', np.reciprocal, (a) => 1 / a, { min: 0.1, max: 4 }],
];

describe('elementwise unary ops match Math.*', () => {
  for (const [name, op, ref, c = {}] of UNARY) {
    it(name, () => {
      fc.assert(
        fc.property(arbArray(arbShape({ minRank: 0, maxRank: 3, minDim: 0, maxDim: 4 }), { min: -3, max: 3, resolution: 2 ** -6, ...c }), (xd) =>
          inScope(() => {
            const out = op(xd.toNDArray());
            expectClose(out, R.map(R.fromData(xd), ref), { rtol: 1e-5, atol: 1e-6, label: `${name}(${xd})` });
          }),
        ),
        { seed: FC_SEED, numRuns: 25 },
      );
    });
  }
});

// ---------------------------------------------------------------------------------------------
// Dtypes

describe('NumPy dtype promotion (bool < int32 < float32; JS scalars are weak)', () => {
  const mk = (d: DType): NDArray => (d === 'bool' ? np.array([true, false]) : np.array([1, 2], d));
  const promote = (a: DType, b: DType): DType => (['bool', 'int32', 'float32'].indexOf(a) >= ['bool', 'int32', 'float32'].indexOf(b) ? a : b);

  it('binary arithmetic of two arrays promotes to the wider dtype (pairs with a non-bool operand)', () => {
    inScope(() => {
      for (const a of ['bool', 'int32', 'float32'] as const) {
        for (const b of ['bool', 'int32', 'float32'] as const) {
          if (a === 'bool' && b === 'bool') continue;
          for (const [name, op] of [['add', np.add], ['multiply', np.multiply], ['subtract', np.subtract], ['maximum', np.maximum]] as const) {
            expect(op(mk(a), mk(b)).dtype, `${name}(${a}, ${b})`).toBe(promote(a, b));
          }
          expect(np.divide(mk(a), mk(b)).dtype, `divide(${a}, ${b})`).toBe('float32');
          expect(np.less(mk(a), mk(b)).dtype, `less(${a}, ${b})`).toBe('bool');
          expect(np.concatenate([mk(a), mk(b)]).dtype, `concatenate(${a}, ${b})`).toBe(promote(a, b));
          expect(np.where(np.array([true, false]), mk(a), mk(b)).dtype, `where(_, ${a}, ${b})`).toBe(promote(a, b));
        }
      }
    });
  });

  it('JS numbers are weak: they take the array dtype unless they need a wider kind', () => {
    inScope(() => {
      const i = np.array([1, 2]), f = np.array([1, 2], 'float32'), b = np.array([true, false]);
      expect(np.add(i, 2).dtype).toBe('int32');
      expect(np.add(i, 2.5).dtype).toBe('float32');
      expect(np.multiply(f, 2).dtype).toBe('float32');
      expect(np.add(b, 1).dtype).toBe('int32');
      expect(np.add(b, 1.5).dtype).toBe('float32');
      expectClose(np.add(i, 2.5), [3.5, 4.5]);
      expect(np.array(3).dtype).toBe('int32');
      expect(np.array(3.5).dtype).toBe('float32');
      expect(np.array([true]).dtype).toBe('bool');
    });
  });

  it('reductions and products choose NumPy result dtypes', () => {
    inScope(() => {
      const i = np.array([[1, 2], [3, 4]]), b = np.array([true, false, true]);
      expect(np.sum(b).dtype).toBe('int32');
      expectClose(np.sum(b), 2);
      expect(np.cumsum(b).dtype).toBe('int32');
      expect(np.mean(i).dtype).toBe('float32');
      expectClose(np.mean(i), 2.5);
      expect(np.max(i).dtype).toBe('int32');
      expect(np.argmax(np.array([0.5, 3.5])).dtype).toBe('int32');
      expect(np.matmul(i, i).dtype).toBe('int32');
      expectClose(np.matmul(i, i), [[7, 10], [15, 22]]);
      expect(np.matmul(i, np.array([[1], [0.5]])).dtype).toBe('float32');
      expect(np.any(b).dtype).toBe('bool');
    });
  });

  // NumPy and JAX: bool + bool and maximum(bool, bool) are bool (logical or), int ** int stays int.
  it('bool arithmetic and integer powers keep NumPy result dtypes', () => {
    inScope(() => {
      const b = np.array([true, false]);
      const failures: string[] = [];
      const check = (what: string, f: () => NDArray, dtype: DType, want: unknown) => {
        try {
          const out = f();
          if (out.dtype !== dtype || JSON.stringify(out.toArray()) !== JSON.stringify(want)) failures.push(`${what}: got ${out.aval.str()} ${JSON.stringify(out.toArray())}`);
        } catch (e) {
          failures.push(`${what}: threw ${(e as Error).message}`);
        }
      };
      check('add(bool, bool)', () => np.add(b, np.array([false, false])), 'bool', [true, false]);
      check('multiply(bool, bool)', () => np.multiply(b, np.array([true, true])), 'bool', [true, false]);
      check('maximum(bool, bool)', () => np.maximum(b, np.array([false, true])), 'bool', [true, true]);
      check('power(int32, int32)', () => np.power(np.array([2, 3]), np.array([3, 2])), 'int32', [8, 9]);
      expect(failures).toEqual([]);
    });
  });
});

// ---------------------------------------------------------------------------------------------
// Reductions

/** An axis argument for rank r: undefined (all), a possibly negative number, or a list. */
function arbAxis(rank: number): fc.Arbitrary<number | number[] | undefined> {
  if (rank === 0) return fc.constant(undefined);
  const one = fc.integer({ min: -rank, max: rank - 1 });
  return fc.oneof(
    fc.constant(undefined),
    one,
    fc.uniqueArray(one, { minLength: 1, maxLength: rank, selector: (a) => (a < 0 ? a + rank : a) }),
  );
}

const REDUCTIONS: [string, (x: NDArray, axis: number | number[] | undefined, keepdims: boolean) => NDArray, (x: R.Ref, axis: number | number[] | undefined, keepdims: boolean) => R.Ref][] = [
  ['sum', np.sum, R.sum],
  ['mean', np.mean, R.mean],
  ['max', np.max, R.max],
  ['min', np.min, R.min],
  ['prod', np.prod, R.prod],
  ['logsumexp', np.logsumexp, R.logsumexp],
  ['var', (x, a, k) => np.var(x, a, k), (x, a, k) => R.reduce(x, a, k, (v) => { const m = v.reduce((p, q) => p + q, 0) / v.length; return v.reduce((p, q) => p + (q - m) ** 2, 0) / v.length; })],
  ['std (ddof 1)', (x, a, k) => np.std(x, a, k, 1), (x, a, k) => R.reduce(x, a, k, (v) => { const m = v.reduce((p, q) => p + q, 0) / v.length; return Math.sqrt(v.reduce((p, q) => p + (q - m) ** 2, 0) / (v.length - 1)); })],
];

describe('reductions over any axes (undefined, negative, lists) with keepdims', () => {
  for (const [name, op, ref] of REDUCTIONS) {
    it(name, () => {
      const minDim = name.startsWith('std') ? 2 : 1;
      const arb = arbShape({ minRank: 0, maxRank: 4, minDim, maxDim: 3 }).chain((s) => fc.tuple(arbArray(s, { min: -2, max: 2 }), arbAxis(s.length), fc.boolean()));
      fc.assert(
        fc.property(arb, ([xd, axis, keepdims]) =>
          inScope(() => {
            const out = op(xd.toNDArray(), axis, keepdims);
            const want = ref(R.fromData(xd), axis, keepdims);
            expect(out.shape, `${name}(${xd}, axis ${JSON.stringify(axis)}, keepdims ${keepdims})`).toEqual(want.shape);
            expectCloseInf(out, want, { rtol: 2e-6 * 16, label: `${name} axis ${JSON.stringify(axis)}` });
          }),
        ),
        { seed: FC_SEED, numRuns: 50 },
      );
    });
  }

  it('argmax and argmin pick the first extremum along an axis', () => {
    const arb = arbShape({ minRank: 1, maxRank: 3, maxDim: 4 }).chain((s) => fc.tuple(arbArray(s, { min: -3, max: 3, resolution: 1 }), fc.integer({ min: -s.length, max: s.length - 1 })));
    fc.assert(
      fc.property(arb, ([xd, axis]) =>
        inScope(() => {
          const x = R.fromData(xd);
          expectClose(np.argmax(xd.toNDArray(), axis), R.argmax(x, axis), { rtol: 0, atol: 0, label: 'argmax' });
          expectClose(np.argmin(xd.toNDArray(), axis), R.argmax(R.map(x, (v) => -v), axis), { rtol: 0, atol: 0, label: 'argmin' });
        }),
      ),
      { seed: FC_SEED, numRuns: 40 },
    );
  });

  it('cumsum along any axis, forward and reverse', () => {
    const arb = arbShape({ minRank: 1, maxRank: 3, minDim: 0, maxDim: 4 }).chain((s) => fc.tuple(arbArray(s), fc.integer({ min: -s.length, max: s.length - 1 }), fc.boolean()));
    fc.assert(
      fc.property(arb, ([xd, axis, reverse]) =>
        inScope(() => expectClose(np.cumsum(xd.toNDArray(), axis, reverse), R.cumsum(R.fromData(xd), axis, reverse), { rtol: 1e-6, atol: 1e-6 })),
      ),
      { seed: FC_SEED, numRuns: 40 },
    );
  });

  it('long float cumsums run in two stages: 10⁵ cumulative sums are within 2e-5 of float64 along any axis, reversed too, with NaN and ±inf propagating as in one pass', () => {
    // TF.js adds one value at a time: the last of 10⁶ cumulative sums of 0.1 came out 1 % off.
    const arb = fc.tuple(fc.constantFrom([100003], [2, 50001], [50001, 2]), fc.boolean(), fc.integer({ min: 0, max: 1000 }));
    fc.assert(
      fc.property(arb, ([shape, reverse, seed]) =>
        inScope(() => {
          // The long axis is the one of size > 2; its neighbour (if any) is a second, independent row.
          const axis = shape.length === 1 || shape[0] === 2 ? shape.length - 1 : 0;
          const n = shape[axis]!, rows = shape.length === 1 ? 1 : 2;
          // One value repeated: rounding then errs the same way step after step, as in the 10⁶ × 0.1 case.
          const data = new Float32Array(n * rows).fill(0.1 * (1 + seed / 1000));
          const got = values(np.cumsum(np.array(data).reshape(shape), axis, reverse));
          // float64 reference, element (row r, position i) at flat index i·rows + r (axis 0) or r·n + i.
          const flat = (r: number, i: number) => (axis === 0 && rows > 1 ? i * rows + r : r * n + i);
          let worst = 0;
          for (let r = 0; r < rows; r++) {
            let acc = 0;
            for (let k = 0; k < n; k++) {
              const i = reverse ? n - 1 - k : k;
              acc += data[flat(r, i)]!;
              worst = Math.max(worst, Math.abs(got[flat(r, i)]! - acc) / acc);
            }
          }
          expect(worst, `cumsum of ${shape} along ${axis}${reverse ? ', reversed' : ''}: worst relative error`).toBeLessThan(2e-5);
        }),
      ),
      { seed: FC_SEED, numRuns: 6 },
    );
    inScope(() => {
      const n = 10000;
      const at = (i: number, v: number) => np.where(np.equal(np.arange(n), i), v, 1);
      expect(values(np.cumsum(at(5000, NaN))).map((v, i) => (i < 5000 ? v === i + 1 : Number.isNaN(v))).every(Boolean)).toBe(true);
      const infs = np.where(np.equal(np.arange(n), 7000), -Infinity, at(3000, Infinity));
      expect(values(np.cumsum(infs)).map((v, i) => (i < 3000 ? v === i + 1 : i < 7000 ? v === Infinity : Number.isNaN(v))).every(Boolean)).toBe(true);
      expect(values(np.cumsum(at(9000, -Infinity), 0, true)).map((v, i) => (i <= 9000 ? v === -Infinity : v === n - i)).every(Boolean)).toBe(true);
    });
  });

  it('long float cumsums keep the sign of zero as one pass does: a prefix of −0s sums to −0 (NumPy), in every block, reversed too', () => {
    // TF.js's exclusive cumsum of the block totals starts from +0, and +0 + (−0) = +0: the two-stage
    // sums turned the leading −0s of a long axis into +0 (1/x then +inf where NumPy gives −inf).
    const arb = fc.tuple(fc.integer({ min: 4097, max: 6000 }), fc.integer({ min: 0, max: 300 }), fc.boolean(), fc.constantFrom(0, -0, 1));
    fc.assert(
      fc.property(arb, ([n, zeros, reverse, rest]) =>
        inScope(() => {
          // `zeros` −0s at the start (the end when reversed), then `rest` (±0 or 1).
          const data = Array.from({ length: n }, (_, k) => ((reverse ? n - 1 - k : k) < zeros ? -0 : rest));
          const got = values(np.cumsum(np.array(data, 'float32'), 0, reverse));
          let acc = 0;
          for (let k = 0; k < n; k++) {
            const i = reverse ? n - 1 - k : k;
            acc = k === 0 ? data[i]! : acc + data[i]!;
            if (!Object.is(got[i], acc)) expect(got[i], `cumsum of ${zeros} −0s then ${Object.is(rest, -0) ? '-0' : rest}s (n = ${n}${reverse ? ', reversed' : ''}) at ${i}`).toBe(acc);
          }
        }),
      ),
      { seed: FC_SEED, numRuns: 12 },
    );
  });

  it('logsumexp is stable for large inputs', () => {
    inScope(() => {
      expectClose(np.logsumexp(np.array([1000, 1000], 'float32')), 1000 + Math.log(2), { rtol: 1e-6 });
      expectClose(np.logsumexp(np.array([-1000, -1000], 'float32')), -1000 + Math.log(2), { rtol: 1e-6 });
    });
  });

  // wasm's Sum accumulates one value at a time and its pooling kernel overruns with >16k channels;
  // sums are split in stages and pooled in channel blocks (src/kernels.ts sumKernel).
  it('long sums stay accurate, and sums over long or wide axes in any position match the reference', () => {
    inScope(() => {
      for (const n of [1e4, 1e6, 3e6 + 7]) {
        const got = Number(np.sum(np.full([n], 0.1)).item());
        expect(Math.abs(got - 0.1 * n) / (0.1 * n), `sum of ${n} × 0.1`).toBeLessThan(1e-4); // one float32 pass: 1e-2 at 1e6
      }
      expect(Number(np.mean(np.full([10000], 0.1)).item())).toBeCloseTo(0.1, 6);
    });
    const cases: [number[], number[]][] = [
      [[64, 20480], [0]], // 20,480 channels: pooled in blocks of 5 × 4,096
      [[9, 16411], [0]], // a prime number of channels above the cap
      [[8209, 3], [0]], // a long leading axis (two stages, padded)
      [[3, 5001, 7], [1]],
      [[7, 9000], [1]],
      [[4, 6, 5], [0, 2]], // not contiguous
      [[2, 3, 4, 5], [1, 2]],
    ];
    for (const [shape, axes] of cases) {
      fc.assert(
        fc.property(arbArray(shape, { min: -1, max: 1 }), (xd) =>
          inScope(() => expectClose(np.sum(xd.toNDArray(), axes), R.sum(R.fromData(xd), axes), { rtol: 1e-5, atol: 1e-4, label: `sum over ${axes} of [${shape}]` })),
        ),
        { seed: FC_SEED, numRuns: 1 },
      );
    }
  });

  // Reductions over a 0-sized axis give the identity of the operation, as in NumPy.
  it('sum and prod over empty axes give 0 and 1', () => {
    const arb = arbShape({ minRank: 1, maxRank: 3, minDim: 0, maxDim: 3 })
      .filter((s) => s.includes(0))
      .chain((s) => fc.tuple(arbArray(s), fc.constantFrom(...s.map((d, i) => i).filter((i) => s[i] === 0))));
    fc.assert(
      fc.property(arb, ([xd, axis]) =>
        inScope(() => {
          expectClose(np.sum(xd.toNDArray(), axis), R.sum(R.fromData(xd), axis), { rtol: 0, atol: 0, label: `sum(${xd}, ${axis})` });
          expectClose(np.prod(xd.toNDArray(), axis), R.prod(R.fromData(xd), axis), { rtol: 0, atol: 0, label: `prod(${xd}, ${axis})` });
        }),
      ),
      { seed: FC_SEED, numRuns: 30 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Shape manipulation

describe('shape manipulation matches the reference', () => {
  it('reshape (with -1) keeps row-major order', () => {
    const arb = arbShape({ minRank: 0, maxRank: 4, minDim: 1, maxDim: 3 }).chain((s) => {
      const n = s.reduce((a, b) => a * b, 1);
      const divisors = Array.from({ length: n }, (_, i) => i + 1).filter((d) => n % d === 0);
      return fc.tuple(arbArray(s), fc.constantFrom(...divisors), fc.boolean());
    });
    fc.assert(
      fc.property(arb, ([xd, d, infer]) =>
        inScope(() => {
          const n = xd.size;
          const target = [d, infer ? -1 : n / d];
          const out = np.reshape(xd.toNDArray(), target);
          expectClose(out, R.reshape(R.fromData(xd), [d, n / d]), { rtol: 0, atol: 0 });
        }),
      ),
      { seed: FC_SEED, numRuns: 40 },
    );
  });

  it('transpose by any permutation (and the default reversal), moveaxis, swapaxes', () => {
    const arb = arbShape({ minRank: 1, maxRank: 4, minDim: 1, maxDim: 3 }).chain((s) =>
      fc.tuple(arbArray(s), fc.shuffledSubarray(s.map((_, i) => i), { minLength: s.length, maxLength: s.length }), fc.nat(s.length - 1), fc.nat(s.length - 1)),
    );
    fc.assert(
      fc.property(arb, ([xd, perm, a, b]) =>
        inScope(() => {
          const x = R.fromData(xd);
          expectClose(np.transpose(xd.toNDArray(), perm), R.transpose(x, perm), { rtol: 0, atol: 0, label: `transpose ${perm}` });
          expectClose(np.transpose(xd.toNDArray()), R.transpose(x), { rtol: 0, atol: 0, label: 'transpose' });
          const swap = x.shape.map((_, i) => (i === a ? b : i === b ? a : i));
          expectClose(np.swapaxes(xd.toNDArray(), a, b), R.transpose(x, swap), { rtol: 0, atol: 0, label: 'swapaxes' });
          const move = x.shape.map((_, i) => i).filter((i) => i !== a);
          move.splice(b, 0, a);
          expectClose(np.moveaxis(xd.toNDArray(), a, b), R.transpose(x, move), { rtol: 0, atol: 0, label: 'moveaxis' });
        }),
      ),
      { seed: FC_SEED, numRuns: 40 },
    );
  });

  it('moveaxis moves lists of axes (NumPy): axis source[i] lands at destination[i], the others keep their order', () => {
    const arb = arbShape({ minRank: 1, maxRank: 4, minDim: 1, maxDim: 3 }).chain((s) =>
      fc.integer({ min: 0, max: s.length }).chain((k) =>
        fc.tuple(
          arbArray(s),
          fc.shuffledSubarray(s.map((_, i) => i), { minLength: k, maxLength: k }),
          fc.shuffledSubarray(s.map((_, i) => i), { minLength: k, maxLength: k }),
          fc.boolean(),
        ),
      ),
    );
    fc.assert(
      fc.property(arb, ([xd, src, dst, negative]) =>
        inScope(() => {
          const n = xd.shape.length;
          // Reference: fill the destinations first, then the free slots with the unmoved axes in order.
          const perm: (number | undefined)[] = new Array(n).fill(undefined);
          dst.forEach((d, i) => (perm[d] = src[i]));
          const rest = xd.shape.map((_, i) => i).filter((i) => !src.includes(i));
          for (let j = 0; j < n; j++) if (perm[j] === undefined) perm[j] = rest.shift();
          const asGiven = (axes: number[]) => (negative ? axes.map((d) => d - n) : axes);
          expectClose(np.moveaxis(xd.toNDArray(), asGiven(src), asGiven(dst)), R.transpose(R.fromData(xd), perm as number[]), { rtol: 0, atol: 0, label: `moveaxis ${src} -> ${dst}` });
        }),
      ),
      { seed: FC_SEED, numRuns: 40 },
    );
    inScope(() => {
      expect(() => np.moveaxis(np.ones([2, 3]), [0, 1], [1])).toThrow(/moveaxis: source \[0,1\] and destination \[1\] must name as many axes/);
      expect(() => np.moveaxis(np.ones([2, 3]), [0, -2], [0, 1])).toThrow(/moveaxis: repeated axis in source \[0,-2\]/);
      expect(() => np.moveaxis(np.ones([2, 3]), [0, 2], [0, 1])).toThrow(/moveaxis: axis 2 is out of range/);
    });
  });

  it('broadcastTo, expandDims and squeeze', () => {
    const arb = arbBroadcastShapes({ count: 1, maxRank: 3, maxDim: 3 }).chain(([s]) => {
      const target = fc.constant(s!).chain((src) => fc.array(fc.integer({ min: 0, max: 3 }), { minLength: src.length, maxLength: src.length }).map((ext) => src.map((d, i) => (d === 1 ? ext[i]! : d))));
      return fc.tuple(arbArray(s!), fc.array(fc.integer({ min: 1, max: 2 }), { maxLength: 2 }), target);
    });
    fc.assert(
      fc.property(arb, ([xd, lead, target]) =>
        inScope(() => {
          const full = [...lead, ...target];
          expectClose(np.broadcastTo(xd.toNDArray(), full), R.broadcastTo(R.fromData(xd), full), { rtol: 0, atol: 0, label: `broadcastTo ${full}` });
          const e = np.expandDims(xd.toNDArray(), -1);
          expect(e.shape).toEqual([...xd.shape, 1]);
          expect(np.squeeze(e, -1).shape).toEqual([...xd.shape]);
          expect(np.squeeze(xd.toNDArray()).shape).toEqual(xd.shape.filter((d) => d !== 1));
        }),
      ),
      { seed: FC_SEED, numRuns: 40 },
    );
  });

  it('concatenate and stack along any axis (0-sized pieces included)', () => {
    const arb = arbShape({ minRank: 1, maxRank: 3, minDim: 1, maxDim: 3 }).chain((s) =>
      fc.integer({ min: -s.length, max: s.length - 1 }).chain((axis) =>
        fc.tuple(
          fc.constant(axis),
          fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 4 }).chain((sizes) =>
            fc.tuple(...sizes.map((k) => arbArray(s.map((d, i) => (i === (axis < 0 ? axis + s.length : axis) ? k : d))))),
          ),
          fc.array(arbArray(s), { minLength: 1, maxLength: 3 }),
          fc.integer({ min: -s.length - 1, max: s.length }),
        ),
      ),
    );
    fc.assert(
      fc.property(arb, ([axis, parts, same, stackAxis]) =>
        inScope(() => {
          expectClose(np.concatenate(parts.map((p) => p.toNDArray()), axis), R.concatenate(parts.map(R.fromData), axis), { rtol: 0, atol: 0, label: 'concatenate' });
          expectClose(np.stack(same.map((p) => p.toNDArray()), stackAxis), R.stack(same.map(R.fromData), stackAxis), { rtol: 0, atol: 0, label: 'stack' });
        }),
      ),
      { seed: FC_SEED, numRuns: 50 },
    );
  });

  it('split into equal sections and at indices undoes concatenate', () => {
    const arb = arbShape({ minRank: 1, maxRank: 3, minDim: 1, maxDim: 4 }).chain((s) =>
      fc.tuple(arbArray(s), fc.nat(s.length - 1), fc.uniqueArray(fc.integer({ min: 0, max: 4 }), { maxLength: 3 }).map((a) => a.sort((x, y) => x - y))),
    );
    fc.assert(
      fc.property(arb, ([xd, axis, cuts]) =>
        inScope(() => {
          const x = xd.toNDArray();
          const n = xd.shape[axis]!;
          const pieces = np.split(x, cuts, axis);
          const bounds = [0, ...cuts.map((c) => Math.min(c, n)), n];
          expect(pieces.length).toBe(cuts.length + 1);
          pieces.forEach((p, i) => {
            const start = xd.shape.map(() => 0), limit = [...xd.shape];
            start[axis] = bounds[i]!;
            limit[axis] = Math.max(bounds[i]!, bounds[i + 1]!);
            expectClose(p, R.slice(R.fromData(xd), start, limit), { rtol: 0, atol: 0, label: `split piece ${i}` });
          });
          expectClose(np.concatenate(pieces, axis), R.fromData(xd), { rtol: 0, atol: 0, label: 'concatenate(split(x))' });
          const eq = np.split(x, n, axis);
          expect(eq.length).toBe(n);
        }),
      ),
      { seed: FC_SEED, numRuns: 40 },
    );
  });

  it('slice with start, limit and strides (float32)', () => {
    const arb = arbShape({ minRank: 1, maxRank: 3, minDim: 1, maxDim: 5 }).chain((s) =>
      fc.tuple(
        arbArray(s),
        fc.tuple(...s.map((d) => fc.tuple(fc.integer({ min: 0, max: d }), fc.integer({ min: 0, max: d }), fc.integer({ min: 1, max: 3 })).map(([a, b, st]) => [Math.min(a, b), Math.max(a, b), st] as const))),
      ),
    );
    fc.assert(
      fc.property(arb, ([xd, box]) =>
        inScope(() => {
          const start = box.map((b) => b[0]), limit = box.map((b) => b[1]), strides = box.map((b) => b[2]);
          expectClose(np.slice(xd.toNDArray(), start, limit, strides), R.slice(R.fromData(xd), start, limit, strides), { rtol: 0, atol: 0 });
        }),
      ),
      { seed: FC_SEED, numRuns: 50 },
    );
  });

  it('pad with constant widths and value', () => {
    const arb = arbShape({ minRank: 1, maxRank: 3, minDim: 0, maxDim: 3 }).chain((s) =>
      fc.tuple(arbArray(s), fc.tuple(...s.map(() => fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 2 })))), fc.integer({ min: -3, max: 3 })),
    );
    fc.assert(
      fc.property(arb, ([xd, widths, value]) =>
        inScope(() => expectClose(np.pad(xd.toNDArray(), widths, value), R.pad(R.fromData(xd), widths, value), { rtol: 0, atol: 0 })),
      ),
      { seed: FC_SEED, numRuns: 40 },
    );
  });

  it('take along an axis with negative indices', () => {
    const arb = arbShape({ minRank: 1, maxRank: 3, minDim: 1, maxDim: 4 }).chain((s) =>
      fc.nat(s.length - 1).chain((axis) =>
        fc.tuple(arbArray(s), fc.constant(axis), arbArray(arbShape({ minRank: 0, maxRank: 2, minDim: 0, maxDim: 3 }), { dtype: 'int32', min: -s[axis]!, max: s[axis]! - 1 })),
      ),
    );
    fc.assert(
      fc.property(arb, ([xd, axis, idx]) =>
        inScope(() => expectClose(np.take(xd.toNDArray(), idx.toNDArray(), axis), R.take(R.fromData(xd), R.fromData(idx), axis), { rtol: 0, atol: 0 })),
      ),
      { seed: FC_SEED, numRuns: 50 },
    );
  });

  it('roll: out[..., i, ...] = x[..., (i − shift) mod n, ...] along each axis given, or over the flattened array', () => {
    const arb = arbShape({ minRank: 1, maxRank: 3, minDim: 0, maxDim: 4 }).chain((s) =>
      fc.tuple(arbArray(s), fc.subarray(s.map((_, i) => i), { minLength: 1 }), fc.array(fc.integer({ min: -9, max: 9 }), { minLength: s.length, maxLength: s.length }), fc.integer({ min: -9, max: 9 })),
    );
    fc.assert(
      fc.property(arb, ([xd, axes, shifts, flatShift]) =>
        inScope(() => {
          const x = R.fromData(xd);
          const k = axes.map((ax) => shifts[ax]!);
          const mod = (i: number, n: number) => ((i % n) + n) % n;
          const want = R.ref(xd.shape, (idx) => x.data[R.ravelIndex(idx.map((i, ax) => (axes.includes(ax) ? mod(i - shifts[ax]!, xd.shape[ax]!) : i)), xd.shape)]!);
          expectClose(np.roll(xd.toNDArray(), k, axes), want, { rtol: 0, atol: 0, label: `roll by ${k} along ${axes}` });
          const n = x.data.length;
          expectClose(np.roll(xd.toNDArray(), flatShift), R.ref(xd.shape, (_, f) => x.data[mod(f - flatShift, n)]!), { rtol: 0, atol: 0, label: `roll by ${flatShift} (flattened)` });
        }),
      ),
      { seed: FC_SEED, numRuns: 40 },
    );
  });

  it('roll broadcasts shifts against axes as NumPy does: one shift for any number of axes (none included), one axis for any number of shifts; an axis named twice moves by the sum', () => {
    // [k] with axes [] and [] with axis 0 broadcast to no pairs: x unchanged (it was slice(NaN) or 'axis undefined').
    const arb = arbShape({ minRank: 1, maxRank: 3, minDim: 0, maxDim: 4 }).chain((s) =>
      fc.tuple(
        arbArray(s),
        fc.array(fc.nat(s.length - 1), { minLength: 0, maxLength: 3 }),
        fc.array(fc.integer({ min: -9, max: 9 }), { minLength: 0, maxLength: 3 }),
        fc.boolean(),
      ),
    );
    fc.assert(
      fc.property(arb, ([xd, axesOrShifts, values, oneShift]) =>
        inScope(() => {
          // Either one shift for several axes, or several shifts for one axis (either list may be empty).
          const shifts = oneShift ? values.slice(0, 1) : values;
          const axes = oneShift ? axesOrShifts : axesOrShifts.slice(0, 1);
          if (shifts.length !== 1 && axes.length !== 1) return;
          const total = xd.shape.map(() => 0);
          for (let i = 0; i < Math.max(shifts.length, axes.length) * Math.min(shifts.length, axes.length); i++) total[axes[axes.length === 1 ? 0 : i]!]! += shifts[shifts.length === 1 ? 0 : i]!;
          const x = R.fromData(xd);
          const mod = (i: number, n: number) => ((i % n) + n) % n;
          const want = R.ref(xd.shape, (idx) => x.data[R.ravelIndex(idx.map((i, ax) => mod(i - total[ax]!, xd.shape[ax]!)), xd.shape)]!);
          expectClose(np.roll(xd.toNDArray(), shifts, axes), want, { rtol: 0, atol: 0, label: `roll by ${JSON.stringify(shifts)} along ${JSON.stringify(axes)}` });
        }),
      ),
      { seed: FC_SEED, numRuns: 60 },
    );
  });

  it('diff of order n is Σₖ (−1)ⁿ⁻ᵏ C(n, k) x[i + k] along the axis (bools: x[i+1] ≠ x[i])', () => {
    const arb = arbShape({ minRank: 1, maxRank: 3, minDim: 0, maxDim: 5 }).chain((s) => fc.tuple(arbArray(s, { min: -4, max: 4 }), fc.integer({ min: 0, max: 3 }), fc.nat(s.length - 1)));
    fc.assert(
      fc.property(arb, ([xd, n, ax]) =>
        inScope(() => {
          const x = R.fromData(xd);
          const shape = xd.shape.map((d, i) => (i === ax ? Math.max(d - n, 0) : d));
          const binom = (m: number, k: number): number => (k === 0 || k === m ? 1 : binom(m - 1, k - 1) + binom(m - 1, k));
          const want = R.ref(shape, (idx) => {
            let acc = 0;
            for (let k = 0; k <= n; k++) acc += (-1) ** (n - k) * binom(n, k) * x.data[R.ravelIndex(idx.map((i, a) => (a === ax ? i + k : i)), xd.shape)]!;
            return acc;
          });
          expectClose(np.diff(xd.toNDArray(), n, ax), want, { rtol: 1e-5, atol: 1e-5, label: `diff order ${n} along ${ax} of ${xd.shape}` });
        }),
      ),
      { seed: FC_SEED, numRuns: 40 },
    );
    inScope(() => {
      const d = np.diff(np.array([true, true, false, true]));
      expect([d.dtype, values(d)]).toEqual(['bool', [0, 1, 1]]);
      expect(() => np.diff(np.ones([3]), -1)).toThrow(/diff: the order n must be a non-negative integer, got -1/);
      expect(() => np.roll(np.ones([3]), 1.5, 0)).toThrow(/roll: shifts must be JS integers, got 1.5/);
      expect(() => np.roll(np.ones([3, 3]), [1, 2, 3], [0, 1])).toThrow(/roll: 3 shifts for 2 axes/);
    });
  });

  it('flip along any axes', () => {
    const arb = arbShape({ minRank: 1, maxRank: 3, minDim: 0, maxDim: 3 }).chain((s) => fc.tuple(arbArray(s), fc.subarray(s.map((_, i) => i))));
    fc.assert(
      fc.property(arb, ([xd, axes]) => inScope(() => expectClose(np.flip(xd.toNDArray(), axes), R.flip(R.fromData(xd), axes), { rtol: 0, atol: 0 }))),
      { seed: FC_SEED, numRuns: 30 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Indexing: x.at(...) against Python's slicing rules

type Spec = number | null | readonly [number | null, number | null, number];

function arbIndexSpec(shape: readonly number[]): fc.Arbitrary<Spec[]> {
  const perAxis = (n: number): fc.Arbitrary<Spec> => {
    const bound = fc.option(fc.integer({ min: -n - 2, max: n + 2 }), { nil: null });
    const options: fc.Arbitrary<Spec>[] = [fc.constant(null), fc.tuple(bound, bound, fc.integer({ min: -3, max: 3 }).filter((s) => s !== 0))];
    if (n > 0) options.push(fc.integer({ min: -n, max: n - 1 }));
    return fc.oneof(...options);
  };
  return fc.tuple(...shape.map(perAxis)).chain((specs) => fc.nat(specs.length).map((k) => specs.slice(0, k)));
}

describe('x.at(...) follows NumPy basic indexing', () => {
  for (const dtype of ['float32', 'int32'] as const) {
    it(`on ${dtype} arrays (integers, slices with negative and out-of-range bounds, negative steps)`, () => {
      const arb = arbShape({ minRank: 1, maxRank: 3, minDim: 0, maxDim: 5 }).chain((s) => fc.tuple(arbArray(s, { dtype }), arbIndexSpec(s)));
      fc.assert(
        fc.property(arb, ([xd, spec]) =>
          inScope(() => {
            const out = xd.toNDArray().at(...spec);
            const want = R.index(R.fromData(xd), spec);
            expect(out.dtype, `x.at(${JSON.stringify(spec)}) on ${xd}`).toBe(dtype);
            expectClose(out, want, { rtol: 0, atol: 0, label: `x.at(${JSON.stringify(spec)}) on ${xd}` });
          }),
        ),
        { seed: FC_SEED, numRuns: 80 },
      );
    });
  }

  it('an out-of-bounds integer index names the axis and its size', () => {
    inScope(() => {
      expect(() => np.zeros([2, 3]).at(0, 3)).toThrow(/index 3 is out of bounds for axis 1 with size 3/);
      expect(() => np.zeros([2]).at(0, 0)).toThrow(/2 indices for an array of rank 1/);
    });
  });
});

// ---------------------------------------------------------------------------------------------
// Products

describe('matmul, dot and einsum', () => {
  it('matmul broadcasts batch dimensions and promotes 1-D operands', () => {
    const arb = fc
      .record({
        batch: arbBroadcastShapes({ count: 2, maxRank: 2, maxDim: 3 }),
        n: fc.integer({ min: 1, max: 4 }), k: fc.integer({ min: 1, max: 4 }), m: fc.integer({ min: 1, max: 4 }),
        vecA: fc.boolean(), vecB: fc.boolean(),
      })
      .chain(({ batch: [ba, bb], n, k, m, vecA, vecB }) => {
        const sa = vecA ? [k] : [...ba!, n, k];
        const sb = vecB ? [k] : [...bb!, k, m];
        return fc.tuple(arbArray(sa), arbArray(sb));
      });
    fc.assert(
      fc.property(arb, ([ad, bd]) =>
        inScope(() => {
          const out = np.matmul(ad.toNDArray(), bd.toNDArray());
          const want = R.matmul(R.fromData(ad), R.fromData(bd));
          expect(out.shape, `matmul(${ad.shape}, ${bd.shape})`).toEqual(want.shape);
          expectClose(out, want, { rtol: 1e-5, atol: 1e-5, label: `matmul(${ad}, ${bd})` });
        }),
      ),
      { seed: FC_SEED, numRuns: 80 },
    );
  });

  const SPECS: [string, (d: number[]) => number[][]][] = [
    ['ij,jk->ik', ([a, b, c]) => [[a!, b!], [b!, c!]]],
    ['bij,bjk->bik', ([a, b, c, d]) => [[d!, a!, b!], [d!, b!, c!]]],
    ['ij,kj->ik', ([a, b, c]) => [[a!, b!], [c!, b!]]],
    ['ii->i', ([a]) => [[a!, a!]]],
    ['ii', ([a]) => [[a!, a!]]],
    ['ij->', ([a, b]) => [[a!, b!]]],
    ['ij->ji', ([a, b]) => [[a!, b!]]],
    ['i,j->ij', ([a, b]) => [[a!], [b!]]],
    ['i,i->', ([a]) => [[a!], [a!]]],
    ['ijk->kji', ([a, b, c]) => [[a!, b!, c!]]],
    ['bij,jk->bik', ([a, b, c, d]) => [[d!, a!, b!], [b!, c!]]],
    ['ij,jk,kl->il', ([a, b, c, d]) => [[a!, b!], [b!, c!], [c!, d!]]],
    ['bi,bi->b', ([a, b]) => [[a!, b!], [a!, b!]]],
    ['ij,j->i', ([a, b]) => [[a!, b!], [b!]]],
  ];
  it('einsum agrees with brute-force summation', () => {
    const arb = fc
      .tuple(fc.nat(SPECS.length - 1), fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 4, maxLength: 4 }))
      .chain(([k, dims]) => fc.tuple(fc.constant(SPECS[k]![0]), fc.tuple(...SPECS[k]![1](dims).map((s) => arbArray(s)))));
    fc.assert(
      fc.property(arb, ([spec, ops]) =>
        inScope(() => expectClose(np.einsum(spec, ...ops.map((o) => o.toNDArray())), R.einsum(spec, ...ops.map(R.fromData)), { rtol: 1e-5, atol: 1e-5, label: spec })),
      ),
      { seed: FC_SEED, numRuns: 60 },
    );
  });

  it('einsum broadcasts a size-1 index against a size-0 one (to 0, as matmul does)', () => {
    inScope(() => {
      expect(np.einsum('bij,bjk->bik', np.ones([1, 2, 3]), np.ones([0, 3, 4])).shape).toEqual([0, 2, 4]);
      expect(np.einsum('bij,bjk->bik', np.ones([0, 2, 3]), np.ones([1, 3, 4])).shape).toEqual([0, 2, 4]);
    });
  });

  it("einsum's '...' stands for broadcast batch axes, as NumPy's (matmul, diagonals, implicit output)", () => {
    const arb = fc
      .record({ batch: arbBroadcastShapes({ count: 2, maxRank: 3, maxDim: 3 }), n: fc.integer({ min: 1, max: 3 }), k: fc.integer({ min: 1, max: 3 }), m: fc.integer({ min: 1, max: 3 }) })
      .chain(({ batch: [ba, bb], n, k, m }) => fc.tuple(arbArray([...ba!, n, k]), arbArray([...bb!, k, m]), arbArray([...ba!, k, k])));
    fc.assert(
      fc.property(arb, ([ad, bd, sd]) =>
        inScope(() => {
          const [a, b, sq] = [ad.toNDArray(), bd.toNDArray(), sd.toNDArray()];
          const prod = R.matmul(R.fromData(ad), R.fromData(bd));
          expectClose(np.einsum('...ij,...jk->...ik', a, b), prod, { rtol: 1e-5, atol: 1e-5, label: `'...ij,...jk->...ik' on ${ad.shape}, ${bd.shape}` });
          expectClose(np.einsum('...ij,...jk', a, b), prod, { rtol: 1e-5, atol: 1e-5, label: `'...ij,...jk' (implicit) on ${ad.shape}, ${bd.shape}` });
          expectClose(np.einsum('...ii->...i', sq), np.linalg.diagonal(sq), { rtol: 0, atol: 0, label: `'...ii->...i' on ${sd.shape}` });
          expectClose(np.einsum('...ij->', a), np.sum(a), { rtol: 1e-5, atol: 1e-5, label: `'...ij->' on ${ad.shape}` });
        }),
      ),
      { seed: FC_SEED, numRuns: 40 },
    );
    expect(() => np.einsum('..i,ij', np.ones([2]), np.ones([2, 2]))).toThrow(/einsum: '\.\.i,ij': '\.\.i' is not a valid subscript/);
    expect(() => np.einsum('...ijk,j', np.ones([2, 2]), np.ones([2]))).toThrow(/operand 0 has rank 2 but '\.\.\.ijk' names 3 axes/);
    // '...' axes that do not broadcast are named as such, not by the letter standing in for them ('A', which the spec never wrote).
    inScope(() => {
      expect(() => np.einsum('...i,...i->...', np.ones([3, 2]), np.ones([2, 2]))).toThrow(/^einsum: '\.\.\.i,\.\.\.i->\.\.\.': the axes '\.\.\.' stands for do not broadcast: sizes 3 and 2 \(operand 1 has shape \[2,2\]\)$/);
      expect(() => np.einsum('ij,jk', np.ones([2, 3]), np.ones([2, 2]))).toThrow(/^einsum: index 'j' has sizes 3 and 2$/);
    });
  });

  it('dot, inner, outer and tensordot', () => {
    const arb = fc.tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 })).chain(([a, b, c]) =>
      fc.tuple(arbArray([a, b]), arbArray([b, c]), arbArray([b]), arbArray([b])),
    );
    fc.assert(
      fc.property(arb, ([md, nd, ud, vd]) =>
        inScope(() => {
          const [M, N, u, v] = [md, nd, ud, vd].map(R.fromData) as [R.Ref, R.Ref, R.Ref, R.Ref];
          expectClose(np.dot(md.toNDArray(), nd.toNDArray()), R.matmul(M, N), { rtol: 1e-5, atol: 1e-5, label: 'dot(matrix, matrix)' });
          expectClose(np.dot(ud.toNDArray(), vd.toNDArray()), R.einsum('i,i->', u, v), { rtol: 1e-5, atol: 1e-5, label: 'dot(vector, vector)' });
          expectClose(np.dot(md.toNDArray(), ud.toNDArray()), R.matmul(M, u), { rtol: 1e-5, atol: 1e-5, label: 'dot(matrix, vector)' });
          expectClose(np.outer(ud.toNDArray(), vd.toNDArray()), R.einsum('i,j->ij', u, v), { rtol: 1e-6, atol: 1e-6, label: 'outer' });
          expectClose(np.inner(md.toNDArray(), np.transpose(nd.toNDArray())), R.matmul(M, N), { rtol: 1e-5, atol: 1e-5, label: 'inner' });
          expectClose(np.tensordot(md.toNDArray(), nd.toNDArray(), 1), R.matmul(M, N), { rtol: 1e-5, atol: 1e-5, label: 'tensordot' });
        }),
      ),
      { seed: FC_SEED, numRuns: 30 },
    );
  });

  // Core bug (TF.js wasm caches the packed right operand of a matmul by buffer, ignoring its
  // shape): the same array reshaped two ways and used as the right operand gives a wrong product.
  it('a buffer used as the right operand of two matmuls with different shapes gives both products right', () => {
    inScope(() => {
      const w = np.array([1, 2, 3, 4, 5, 6], 'float32');
      expectClose(np.matmul(np.ones([1, 2]), np.reshape(w, [2, 3])), [[5, 7, 9]], { label: 'w as [2,3]' });
      expectClose(np.matmul(np.ones([1, 3]), np.reshape(w, [3, 2])), [[9, 12]], { label: 'w as [3,2]' });
    });
  });
});

// ---------------------------------------------------------------------------------------------
// Linear algebra

/** Well-conditioned square matrices: c·I plus a bounded random part (c > sum of |entries| per row). */
function arbWellConditioned(maxN = 4, batch = false): fc.Arbitrary<ArrayData> {
  return fc.tuple(fc.integer({ min: 1, max: maxN }), batch ? fc.array(fc.integer({ min: 1, max: 2 }), { maxLength: 2 }) : fc.constant([] as number[])).chain(([n, b]) =>
    arbArray([...b, n, n], { min: -1, max: 1 }).map((a) => new ArrayData(a.shape, 'float32', a.data.map((v, i) => (Math.floor(i / n) % n === i % n ? Math.fround(v + n + 1) : v)))),
  );
}

describe('linear algebra', () => {
  it('inv(A)·A = I and solve(A, b) solves A x = b (batched)', () => {
    fc.assert(
      fc.property(
        arbWellConditioned(4, true).chain((a) => fc.tuple(fc.constant(a), arbArray([...a.shape.slice(0, -1)]), arbArray([...a.shape.slice(0, -1), 2]))),
        ([ad, bd, Bd]) =>
          inScope(() => {
            const A = ad.toNDArray();
            const n = ad.shape[ad.shape.length - 1]!;
            const eye = R.broadcastTo(R.eye(n), ad.shape);
            expectClose(np.matmul(np.linalg.inv(A), A), eye, { rtol: 0, atol: 1e-5, label: 'inv(A)·A' });
            expectClose(np.linalg.inv(A), R.inv(R.fromData(ad)), { rtol: 1e-4, atol: 1e-6, label: 'inv(A)' });
            // A stack of vectors goes in as [..., n, 1] (NumPy 2: only a 1-D b is a vector).
            const x = np.squeeze(np.linalg.solve(A, np.expandDims(bd.toNDArray(), -1)), -1);
            expect(x.shape).toEqual(bd.shape);
            expectClose(np.squeeze(np.matmul(A, np.expandDims(x, -1)), -1), R.fromData(bd), { rtol: 1e-5, atol: 1e-5, label: 'A·solve(A, b)' });
            expectClose(np.matmul(A, np.linalg.solve(A, Bd.toNDArray())), R.fromData(Bd), { rtol: 1e-5, atol: 1e-5, label: 'A·solve(A, B)' });
            // A 1-D b is one vector for every matrix of the stack.
            const v = np.ones([n]);
            expectClose(np.squeeze(np.matmul(A, np.expandDims(np.linalg.solve(A, v), -1)), -1), R.ref(bd.shape, () => 1), { rtol: 1e-5, atol: 1e-5, label: 'A·solve(A, 1-D b)' });
          }),
      ),
      { seed: FC_SEED, numRuns: 40 },
    );
  });

  it('slogdet and det agree with an LU determinant in float64', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }).chain((n) => arbArray([n, n], { min: -2, max: 2 })),
        (ad) =>
          inScope(() => {
            const d = R.det(R.fromData(ad)).data[0]!;
            fc.pre(Math.abs(d) > 1e-3);
            const [sign, logabs] = np.linalg.slogdet(ad.toNDArray());
            expectClose(sign, Math.sign(d), { rtol: 0, atol: 0, label: 'sign' });
            expectClose(logabs, Math.log(Math.abs(d)), { rtol: 1e-4, atol: 1e-4, label: 'log|det|' });
            expectClose(np.linalg.det(ad.toNDArray()), d, { rtol: 1e-4, atol: 1e-4, label: 'det' });
          }),
      ),
      { seed: FC_SEED, numRuns: 40 },
    );
  });

  it('expm: det(expm A) = exp(tr A), expm(A)·expm(−A) = I, expm(diag d) = diag(exp d)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }).chain((n) => fc.tuple(arbArray([n, n], { min: -1, max: 1 }), arbArray([n], { min: -2, max: 2 }))),
        ([ad, dd]) =>
          inScope(() => {
            const A = ad.toNDArray();
            const n = ad.shape[0]!;
            const E = np.linalg.expm(A);
            const tr = Array.from({ length: n }, (_, i) => ad.data[i * n + i]!).reduce((a, b) => a + b, 0);
            expectClose(R.det(R.fromArray(E)), Math.exp(tr), { rtol: 1e-4, atol: 0, label: 'det(expm A)' });
            expectClose(np.matmul(E, np.linalg.expm(np.negative(A))), R.eye(n), { rtol: 0, atol: 1e-4, label: 'expm(A)·expm(−A)' });
            expectClose(np.linalg.expm(np.linalg.diag(dd.toNDArray())), R.ref([n, n], ([i, j]) => (i === j ? Math.exp(dd.data[i!]!) : 0)), { rtol: 1e-5, atol: 1e-6, label: 'expm(diag d)' });
          }),
      ),
      { seed: FC_SEED, numRuns: 30 },
    );
  });

  it('trace, diag, diagonal and norm', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }).chain((n) => fc.tuple(arbArray([n, n]), arbArray([n]))),
        ([ad, vd]) =>
          inScope(() => {
            const n = vd.size;
            const diagVals = Array.from({ length: n }, (_, i) => ad.data[i * n + i]!);
            expectClose(np.linalg.trace(ad.toNDArray()), diagVals.reduce((a, b) => a + b, 0), { rtol: 1e-6, atol: 1e-6, label: 'trace' });
            expectClose(np.linalg.diag(ad.toNDArray()), diagVals, { rtol: 0, atol: 0, label: 'diag(matrix)' });
            expectClose(np.linalg.diag(vd.toNDArray()), R.ref([n, n], ([i, j]) => (i === j ? vd.data[i!]! : 0)), { rtol: 0, atol: 0, label: 'diag(vector)' });
            expectClose(np.linalg.norm(vd.toNDArray()), Math.hypot(...vd.data), { rtol: 1e-6, atol: 1e-6, label: 'norm' });
            expectClose(np.linalg.norm(vd.toNDArray(), 1), vd.data.reduce((a, b) => a + Math.abs(b), 0), { rtol: 1e-6, atol: 1e-6, label: 'norm 1' });
            expectClose(np.linalg.norm(vd.toNDArray(), Infinity), Math.max(...vd.data.map(Math.abs)), { rtol: 0, atol: 0, label: 'norm inf' });
          }),
      ),
      { seed: FC_SEED, numRuns: 30 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Errors

const fmt = (s: readonly number[]) => `[${s.join(',')}]`;

describe('incompatible shapes give errors naming the op and the shapes', () => {
  const elementwise: [string, (a: NDArray, b: NDArray) => NDArray][] = [
    ['add', np.add], ['subtract', np.subtract], ['multiply', np.multiply], ['divide', np.divide], ['maximum', np.maximum],
  ];
  it('elementwise ops, same rank', () => {
    fc.assert(
      fc.property(arbIncompatibleShapes(), fc.nat(elementwise.length - 1), ([a, b], k) =>
        inScope(() => {
          fc.pre(a.length === b.length);
          const [name, op] = elementwise[k]!;
          const prim = { add: 'add', subtract: 'sub', multiply: 'mul', divide: 'div', maximum: 'max' }[name]!;
          expect(() => op(np.zeros(a), np.zeros(b))).toThrow(new RegExp(`(${name}|${prim}).*${escape(fmt(a))}.*${escape(fmt(b))}.*broadcast`));
        }),
      ),
      { seed: FC_SEED, numRuns: 30 },
    );
  });

  it("operands of different ranks and batched matmul: the message shows the caller's op and shapes", () => {
    inScope(() => {
      const failures: string[] = [];
      const check = (what: string, f: () => unknown, pattern: RegExp) => {
        try {
          f();
          failures.push(`${what}: did not throw`);
        } catch (e) {
          if (!pattern.test((e as Error).message)) failures.push(`${what}: ${(e as Error).message}`);
        }
      };
      check('add([3], [2,4])', () => np.add(np.zeros([3]), np.zeros([2, 4])), /add.*\[3\].*\[2,4\]/);
      check('where([3], [2,4], 1)', () => np.where(np.zeros([3], 'bool'), np.zeros([2, 4]), 1), /where.*\[3\].*\[2,4\]/);
      check('matmul([2,3,4], [3,4,5])', () => np.matmul(np.zeros([2, 3, 4]), np.zeros([3, 4, 5])), /matmul.*\[2,3,4\].*\[3,4,5\]/);
      expect(failures).toEqual([]);
    });
  });

  it('matmul, concatenate, stack, reshape, broadcastTo, einsum', () => {
    inScope(() => {
      expect(() => np.matmul(np.zeros([2, 3]), np.zeros([4, 5]))).toThrow(/matmul.*\[2,3\].*\[4,5\]/);
      expect(() => np.concatenate([np.zeros([2, 3]), np.zeros([2, 4])], 0)).toThrow(/concatenate.*\[2,3\].*\[2,4\]/);
      expect(() => np.stack([np.zeros([2, 3]), np.zeros([3, 2])])).toThrow(/stack.*\[2,3\].*\[3,2\]/);
      expect(() => np.reshape(np.zeros([2, 3]), [4, 2])).toThrow(/reshape.*\[2,3\].*\[4,2\]/);
      expect(() => np.broadcastTo(np.zeros([2, 3]), [3, 3])).toThrow(/broadcastTo.*\[2,3\].*\[3,3\]/);
      expect(() => np.einsum('ij,jk->ik', np.zeros([2, 3]), np.zeros([4, 2]))).toThrow(/einsum.*'j'.*3.*4/);
      expect(() => np.linalg.inv(np.zeros([2, 3]))).toThrow(/inv.*square.*\[2,3\]/);
      expect(() => np.sum(np.zeros([2, 3]), 2)).toThrow(/sum.*axis 2.*rank 2/);
    });
  });
});

function escape(s: string): string {
  return s.replace(/[[\]]/g, '\\$&');
}

// ---------------------------------------------------------------------------------------------
// The generators themselves (gradus/testing)

describe('gradus/testing arbitraries', () => {
  it('arbBroadcastShapes always broadcast and arbIncompatibleShapes never do', () => {
    fc.assert(
      fc.property(arbBroadcastShapes({ count: 3 }), arbIncompatibleShapes(), (ok, [a, b]) => {
        expect(R.broadcastShapes(...ok)).not.toBeNull();
        expect(R.broadcastShapes(a, b)).toBeNull();
      }),
      { seed: FC_SEED, numRuns: 200 },
    );
  });

  it('arbBroadcastShapes produces size-1 and empty dimensions', () => {
    const samples = fc.sample(arbBroadcastShapes(), { seed: FC_SEED, numRuns: 300 }).flat();
    expect(samples.some((s) => s.includes(0))).toBe(true);
    expect(samples.some((s) => s.includes(1))).toBe(true);
    expect(samples.some((s) => s.length === 0)).toBe(true);
  });

  it('arbArray respects shape, dtype, range, resolution and minAbs', () => {
    fc.assert(
      fc.property(arbArray(arbShape({ maxRank: 3, minDim: 0 }), { min: -1, max: 3, minAbs: 0.5 }), arbArray([2, 3], { dtype: 'int32', min: -4, max: 4 }), arbArray([4], { dtype: 'bool' }), (f, i, b) => {
        expect(f.data.length).toBe(f.shape.reduce((p, q) => p * q, 1));
        for (const v of f.data) {
          expect(v).toBeGreaterThanOrEqual(-1);
          expect(v).toBeLessThanOrEqual(3);
          expect(Math.abs(v)).toBeGreaterThanOrEqual(0.5);
          expect(Number.isInteger(v * 1024)).toBe(true);
        }
        expect(i.data.every((v) => Number.isInteger(v) && v >= -4 && v <= 4)).toBe(true);
        expect(b.data.every((v) => v === 0 || v === 1)).toBe(true);
        inScope(() => {
          for (const d of [f, i, b]) {
            const x = d.toNDArray();
            expect(x.shape).toEqual([...d.shape]);
            expect(x.dtype).toBe(d.dtype);
            // Nested lists cannot spell a 0-sized dimension followed by others.
            if (d.size > 0) expect(np.array(d.toNested() as number[], d.dtype).shape).toEqual([...d.shape]);
          }
        });
      }),
      { seed: FC_SEED, numRuns: 50 },
    );
  });

  it('the reference agrees with itself: einsum vs matmul, concatenate vs split, index vs slice', () => {
    fc.assert(
      fc.property(fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })).chain(([n, k, m]) => fc.tuple(arbArray([n, k]), arbArray([k, m]))), ([a, b]) => {
        const [A, B] = [R.fromData(a), R.fromData(b)];
        expect(R.mismatch(R.einsum('ij,jk->ik', A, B), R.matmul(A, B), { rtol: 1e-12, atol: 1e-12 })).toBeNull();
        expect(R.mismatch(R.index(A, [[null, null, 1]]), A, { rtol: 0, atol: 0 })).toBeNull();
        expect(R.mismatch(R.transpose(R.transpose(A)), A, { rtol: 0, atol: 0 })).toBeNull();
        expect(R.pySliceIndices(5, null, null, -2)).toEqual([4, 2, 0]);
        expect(R.pySliceIndices(5, -100, 100, 1)).toEqual([0, 1, 2, 3, 4]);
      }),
      { seed: FC_SEED, numRuns: 30 },
    );
  });
});

describe('numerically and semantically delicate cases', () => {
  it('sin and cos are within 1 ulp of Math.sin/Math.cos at every magnitude, and sin is odd (wasm Sin was off by 1.7e-7 below 0)', () => {
    const ulp = (v: number) => Math.max(2 ** -149, 2 ** (Math.floor(Math.log2(Math.abs(Math.fround(v)) || 2 ** -149)) - 23));
    fc.assert(fc.property(fc.array(fc.float({ min: -1e4, max: 1e4, noNaN: true }), { minLength: 1, maxLength: 40 }), (raw) => {
      const xs = [...raw, -1e-8, -1e-30, 4.71238899230957, Math.fround(Math.PI / 2)];
      inScope(() => {
        const x = np.array(xs, 'float32');
        const [s, c, sNeg] = [np.sin(x), np.cos(x), np.sin(np.negative(x))].map(values);
        xs.forEach((v, i) => {
          const f = Math.fround(v);
          expect(Math.abs(s![i]! - Math.sin(f)), `sin(${f})`).toBeLessThanOrEqual(ulp(Math.sin(f)));
          expect(Math.abs(c![i]! - Math.cos(f)), `cos(${f})`).toBeLessThanOrEqual(ulp(Math.cos(f)));
          expect(sNeg![i], `sin(−${f})`).toBe(-s![i]!);
        });
      });
    }), { seed: FC_SEED, numRuns: 30 });
  });

  it('log1p keeps full precision near 0 (and softplus, logSigmoid with it)', () => {
    inScope(() => {
      const xs = [1e-10, -1e-7, 1e-5, 0.5, -0.5, 10, 3e38];
      const got = values(np.log1p(np.array(xs, 'float32')));
      xs.forEach((x, i) => {
        const want = Math.log1p(Math.fround(x));
        expect(Math.abs(got[i]! - want), `log1p(${x})`).toBeLessThanOrEqual(2e-7 * Math.abs(want));
      });
      expect(values(np.log1p(np.array([-1, -2], 'float32')))).toEqual([-Infinity, NaN]);
      const sp = Number(np.softplus(np.array(-20, 'float32')).item());
      expect(Math.abs(sp - Math.log1p(Math.exp(-20))) / Math.log1p(Math.exp(-20))).toBeLessThan(1e-5);
    });
  });

  it('singular matrices are a LinAlgError for inv and solve (NumPy), not silent infinities; float indices are refused', () => {
    inScope(() => {
      const singular = np.array([[1, 2], [2, 4]], 'float32');
      expect(() => np.linalg.inv(singular)).toThrow(LinAlgError);
      expect(() => np.linalg.solve(singular, np.array([1, 1], 'float32'))).toThrow(/linalg\.solve.*: matrix \(2×2\) is singular/);
      expect(() => np.linalg.inv(np.stack([np.eye(2), singular]))).toThrow(/matrix 1 of the stack of 2/);
      expect(() => np.take(np.arange(5), np.array([1.7, 0.2], 'float32'))).toThrow(/take: indices must be integers/);
      expect(values(np.take(np.arange(5), np.array([1, -1], 'int32')))).toEqual([1, 4]);
    });
  });

  it('integer remainder by zero is 0 (as NumPy), not a wasm trap; the sign follows the divisor', () => {
    inScope(() => {
      expect(np.remainder(np.array([5, -5, 7], 'int32'), np.array([0, 3, 0], 'int32')).toArray()).toEqual([0, 1, 0]);
      expect(np.remainder(np.array([[5], [6]], 'int32'), np.array([0, -4], 'int32')).toArray()).toEqual([[0, -3], [0, -2]]);
    });
  });

  it('all of nothing is true and any of nothing false; both reduce over axes', () => {
    inScope(() => {
      expect(np.all(np.zeros([0])).item()).toBe(true);
      expect(np.any(np.zeros([0])).item()).toBe(false);
      expect(np.all(np.array([[1, 1], [0, 1]]), 0).toArray()).toEqual([false, true]);
      expect(np.any(np.array([[0, 0], [0, 3]]), 1, true).toArray()).toEqual([[false], [true]]);
      expect(np.any(np.zeros([2, 0]), 1).toArray()).toEqual([false, false]);
    });
  });

  it('norm: ord −∞ for vectors, ±1 and ±∞ for matrices, and the row axis is the first axis given', () => {
    inScope(() => {
      expect(Number(np.linalg.norm(np.array([3, -4], 'float32'), -Infinity).item())).toBe(3);
      const m = np.array([[1, -2], [3, 4]], 'float32');
      // column sums |.|: 4, 6; row sums: 3, 7 (NumPy's values).
      expect([1, -1, Infinity, -Infinity].map((o) => Number(np.linalg.norm(m, o).item()))).toEqual([6, 4, 7, 3]);
      expect([1, -1, Infinity, -Infinity].map((o) => Number(np.linalg.norm(m, o, [1, 0]).item()))).toEqual([7, 3, 6, 4]);
    });
  });

  it('an op whose result would be one of its inputs returns a new handle (disposing it keeps the input)', () => {
    const x = np.array([1, 2, 3], 'float32');
    const makers: [string, () => unknown][] = [
      ['concatenate([x])', () => np.concatenate([x])],
      ['split(x, 1)', () => np.split(x, 1)],
      ['split(x, [])', () => np.split(x, [])],
      ['broadcastArrays(x, x)', () => np.broadcastArrays(x, x)],
      ['x.at(null)', () => x.at(null)],
    ];
    for (const [name, make] of makers) {
      dispose(make());
      expect(values(x), name).toEqual([1, 2, 3]);
    }
    dispose(x);
  });
});

// NumPy's answers at the edges (values from NumPy 2.4 and JAX's definitions), and the errors that
// name the op and what it expected instead of a raw TF.js message or a silently wrong result.
describe('edge cases as NumPy and JAX define them', () => {
  it('a list of arrays stacks (np.array([...x]) rebuilds x, as jnp.array(list)), with promotion and weak JS numbers; shapes may be concrete int arrays (NumPy)', () => {
    inScope(() => {
      const x = np.array([[1, 2], [3, 4]], 'float32');
      const rebuilt = np.array([...x]);
      expect([rebuilt.dtype, rebuilt.toArray()]).toEqual(['float32', [[1, 2], [3, 4]]]);
      expect(np.array([np.array([1, 2]), [3.5, 4]]).toArray()).toEqual([[1, 2], [3.5, 4]]);
      expect(np.array([np.array(1), 2.5]).toArray()).toEqual([1, 2.5]); // a weak float makes int32 float32
      expect(np.array([np.array(1), 2]).dtype).toBe('int32');
      expect(grad((a: NDArray) => np.sum(np.multiply(np.array([...a].reverse()), x)))(x).toArray()).toEqual([[3, 4], [1, 2]]);
      expect(() => np.array([np.array([1, 2]), np.array([1, 2, 3])])).toThrow(/array: element \[1\] has shape \[3\] but element \[0\] has \[2\]/);
      expect(np.reshape(np.arange(6), np.array([2, 3]) as never).shape).toEqual([2, 3]);
      expect(np.zeros(np.array([2, 3]) as never).shape).toEqual([2, 3]);
      expect(() => np.reshape(np.arange(6), np.array([2, 3], 'float32') as never)).toThrow(/^reshape: a shape must be JS integers or a concrete int32 array, got f32\[2\]/);
      expect(() => np.reshape(np.arange(6), np.array([[2, 3]]) as never)).toThrow(/^reshape: a shape is a list of sizes, got a nested list \[\[2,3\]\]/);
    });
  });

  it('linspace with one point, var with ddof ≥ n, argmax/argmin with NaN, arccosh of huge values, logsumexp and diag of empty arrays', () => {
    inScope(() => {
      expect(values(np.linspace(0, 1, 1))).toEqual([0]);
      expect(np.var(np.array([1, 2, 3], 'float32'), null, false, 4).item()).toBe(Infinity);
      expect(np.std(np.array([1, 2, 3], 'float32'), null, false, 3).item()).toBe(Infinity);
      expect(np.argmax(np.array([1, NaN, 3, NaN], 'float32')).item()).toBe(1);
      expect(np.argmin(np.array([1, 0, NaN], 'float32')).item()).toBe(2);
      expect(values(np.argmax(np.array([[1, 5, NaN], [4, 2, 3]], 'float32'), 1))).toEqual([2, 0]);
      expect(values(np.argmax(np.array([[1, 5, NaN], [4, 2, 3]], 'float32'), 0))).toEqual([1, 0, 0]);
      // float32 references: arccosh(1e20) = ln(2e20), arccosh(3e38) = ln(6e38).
      const big = values(np.arccosh(np.array([1e20, 3e38, 1, 2], 'float32')));
      [Math.log(2e20), Math.log(6e38), 0, Math.acosh(2)].forEach((want, i) => expect(big[i]).toBeCloseTo(want, 4));
      expect(np.logsumexp(np.zeros([0])).item()).toBe(-Infinity);
      expect(np.logsumexp(np.zeros([2, 0]), 1, true).shape).toEqual([2, 1]);
      expect(values(np.diag(np.zeros([0]), 1))).toEqual([0]);
      expect(values(np.inner(2, np.array([1, 2, 3], 'float32')))).toEqual([2, 4, 6]);
      expect(values(np.square(np.array([true, false])))).toEqual([1, 0]);
      expect(values(np.oneHot(np.array([0.7, 1, -1], 'float32'), 3))).toEqual([0, 0, 0, 0, 1, 0, 0, 0, 0]);
      expect(np.pad(np.ones([1, 2]), [[1, 2]]).shape).toEqual([4, 5]);
    });
  });

  it('floorDivide agrees with remainder (x = y·q + r), exactly over all of int32; integer powers are exact and wrap', () => {
    inScope(() => {
      const a = [2147483647, -2147483648, 16777217, 7, -7, 7, -7, 5];
      const b = [7, 7, 3, 2, 2, -2, -2, 0];
      // Python's // on the same integers (and 0 for a zero divisor, as NumPy).
      const want = a.map((x, i) => (b[i] === 0 ? 0 : Math.floor(x / b[i]!) + 0));
      expect(values(np.floorDivide(np.array(a, 'int32'), np.array(b, 'int32')))).toEqual(want);
      // NumPy: 1 // 0.1 is 9 (0.1 is slightly above a tenth, and 1 % 0.1 ≈ 0.0999…); x // 0 is ±inf or NaN.
      expect(values(np.floorDivide(np.array([1, -1, 7.5, 1, -1, 0], 'float32'), np.array([0.1, 0.1, 2, 0, 0, 0], 'float32')))).toEqual([9, -10, 3, Infinity, -Infinity, NaN]);
      fc.assert(fc.property(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), fc.integer({ min: -1000, max: 1000 }).filter((d) => d !== 0), (x, y) => {
        const q = np.floorDivide(np.array([x], 'int32'), np.array([y], 'int32')).item() as number;
        expect(q).toBe(Math.floor(x / y) + 0); // (+ 0: int32 has no −0)
      }), { seed: FC_SEED, numRuns: 200 });
      expect(values(np.power(np.array([3, 7, 2, -3, 0, 46341], 'int32'), np.array([16, 9, 31, 3, 0, 2], 'int32')))).toEqual([43046721, 40353607, -(2 ** 31), -27, 1, -2147479015]);
      expect(() => np.power(np.array([2, 3], 'int32'), np.array([-1, 2], 'int32'))).toThrow(/power: integers to negative integer powers are not allowed/);
    });
  });

  it('floorDivide stays exact for divisors above 2²⁴, handles ±inf and bools as NumPy, and has derivative 0 even where y = 0', () => {
    inScope(() => {
      // Pairs where a float estimate and a float correction both fail (|y| > 2²⁴).
      const a = [-2, 1, -2147483648, 2147483647, -2147483648, 123456789];
      const b = [57693952, -59750320, 2147483647, -2147483648, 2147483647, -33554433];
      const floorDiv = (x: number, y: number) => Number(BigInt.asIntN(32, BigInt(x) / BigInt(y) - (BigInt(x) % BigInt(y) !== 0n && (x < 0) !== (y < 0) ? 1n : 0n)));
      expect(values(np.floorDivide(np.array(a, 'int32'), np.array(b, 'int32')))).toEqual(a.map((x, i) => floorDiv(x, b[i]!)));
      // The whole int32 range infers int32 (−2³¹ included).
      expect(np.array([2147483647, -2147483648]).dtype).toBe('int32');
      fc.assert(fc.property(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }).filter((d) => d !== 0), (x, y) => {
        expect(np.floorDivide(np.array([x], 'int32'), np.array([y], 'int32')).item()).toBe(floorDiv(x, y));
      }), { seed: FC_SEED, numRuns: 300 });
      // NumPy: -5 // inf = -1, 5 // inf = 0, -5 % inf = inf, 5 % inf = 5.
      const inf = np.array([Infinity, Infinity, -Infinity, Infinity], 'float32');
      expect(values(np.floorDivide(np.array([-5, 5, -5, 0], 'float32'), inf))).toEqual([-1, 0, 0, 0]);
      expect(values(np.remainder(np.array([-5, 5, -5, 0], 'float32'), inf))).toEqual([Infinity, 5, -5, 0]);
      // A huge finite divisor: fmod(x, y) + y rounds to y (NumPy), where TF.js's formula gave 0.
      expect(values(np.remainder(np.array([-1, 1, -1], 'float32'), np.array([1e30, 1e30, -1e30], 'float32')))).toEqual([Math.fround(1e30), 1, -1]);
      expect(values(np.floorDivide(np.array([-1], 'float32'), np.array([1e30], 'float32')))).toEqual([-1]);
      const bools = np.floorDivide(np.array([true, true]), np.array([true, false]));
      expect([bools.dtype, values(bools)]).toEqual(['int32', [1, 0]]);
      expect(values(grad((x: NDArray) => np.sum(np.floorDivide(x, np.array([0, 2, 0], 'float32'))))(np.array([1, 3, 0], 'float32')))).toEqual([0, 0, 0]);
      expect(values(grad((x: NDArray) => np.sum(np.arccosh(x)))(np.array([1, 2], 'float32')))[0]).toBe(Infinity);
      // Integer powers of a large exponent array (its values are read on the host: no spread into one call).
      expect(values(np.power(np.full([150000], 3, 'int32'), np.full([150000], 2, 'int32'))).every((v) => v === 9)).toBe(true);
    });
  });

  it('where with bool branches is right (TF.js\'s wasm Select reads bools as 4-byte values and writes past its output)', () => {
    inScope(() => {
      for (const n of [1, 5, 11, 15, 100, 1001, 4099]) {
        const i = np.arange(0, n, 1, 'int32');
        const c = np.greater(i, n / 2), x = np.less(i, n / 3), y = np.greater(i, n / 4);
        const got = values(np.where(c, x, y));
        const want = Array.from({ length: n }, (_, k) => (k > n / 2 ? (k < n / 3 ? 1 : 0) : k > n / 4 ? 1 : 0));
        expect(got, `n = ${n}`).toEqual(want);
      }
      expect(values(np.where(np.array([true, false]), true, np.array([false, true])))).toEqual([1, 1]);
    });
  });

  it('full takes an array fill value (broadcast), pad a one-element width list', () => {
    inScope(() => {
      expect(values(np.full([2], np.array(3)))).toEqual([3, 3]);
      expect(values(np.full([2, 2], np.array([1, 2], 'float32')))).toEqual([1, 2, 1, 2]);
      expect(np.pad(np.ones([2, 3]), [1]).shape).toEqual([4, 5]);
      expect(() => np.array(new Float32Array([1, Infinity]), 'int32')).toThrow(/array: cannot convert Infinity to int32/);
      const r = np.round(np.array([1, -2], 'int32'));
      expect([r.dtype, values(r)]).toEqual(['int32', [1, -2]]);
      expect(values(np.round(np.array([0.5, 1.5, -2.5], 'float32')))).toEqual([0, 2, -2]);
      expect(() => np.linalg.norm(np.ones([2, 3]), 'fro', 1)).toThrow(/linalg.norm: ord 'fro' is a matrix norm and needs two axes, got 1/);
    });
  });

  it('shape-like arguments are checked by the op that takes them', () => {
    inScope(() => {
      const x = np.ones([2, 3]);
      const cases: [() => unknown, RegExp][] = [
        [() => np.arange(0, Infinity), /arange: expected finite start, stop and step/],
        [() => np.eye(2.5), /eye: invalid shape/],
        [() => np.zeros([2], 'float64' as DType), /full: unsupported dtype 'float64'/],
        [() => np.astype(x, 'float64' as DType), /astype: unsupported dtype 'float64'/],
        [() => np.full([2], NaN, 'int32'), /full: cannot convert NaN to int32/],
        [() => np.array([1, NaN], 'int32'), /array: cannot convert NaN to int32/],
        // Out of int32's range: it wrapped silently (2³¹ became −2³¹); NumPy and JAX raise OverflowError.
        [() => np.array(2 ** 31, 'int32'), /array: 2147483648 is out of int32's range \[-2147483648, 2147483647\] \(it would wrap around/],
        [() => np.array([1, -(2 ** 31) - 1], 'int32'), /array: -2147483649 is out of int32's range/],
        [() => np.array(Float64Array.of(3e9), 'int32'), /array: 3000000000 is out of int32's range/],
        [() => np.full([2], 3e9, 'int32'), /full: 3000000000 is out of int32's range/],
        [() => np.add(np.ones([2, 2], 'int32'), np.array(2 ** 31, 'int32')), /array: 2147483648 is out of int32's range/],
        [() => np.broadcastTo(x, [-1, 3]), /broadcastTo: invalid shape \[-1,3\]; expected non-negative integers/],
        [() => np.tile(x, -1), /tile: expected non-negative integer repetitions/],
        [() => np.repeat(x, 1.5), /repeat: expected a non-negative integer number of repeats/],
        [() => np.split(np.arange(6), -2), /split: expected a positive integer number of sections/],
        [() => np.split(np.arange(3), 1.5), /split: expected a positive integer number of sections/],
        [() => np.pad(x, 1.5), /pad: expected one \[before, after\] pair of non-negative integers per axis/],
        [() => np.take(np.zeros([0]), np.array([0])), /take: cannot take 1 entries from axis 0 of \[0\], which is empty/],
        [() => np.take(np.arange(3), np.array([true, false, true])), /take: indices must be integers, got bool\[3\]; a boolean mask selects with np.where/],
        [() => np.conv2d(np.ones([1, 3, 3, 1]), np.ones([2, 2, 1, 1]), { strides: 0 }), /conv2d: strides and dilations must be positive integers/],
        [() => np.oneHot(np.array([0]), -1), /oneHot: expected a non-negative integer number of classes/],
        [() => np.einsum('ij->ii', x), /einsum: 'ij->ii': output index 'i' appears more than once/],
        [() => np.tril(np.ones([3])), /tril: expected matrices/],
        [() => np.tensordot(x, x, 3), /tensordot: cannot contract 3 axes/],
        [() => np.max(np.zeros([0])), /max: cannot reduce over the empty axis 0/],
        // Pooling takes strides and padding in an options object (Flax's names); a bare third argument is refused, not ignored.
        [() => (np.avgPool2d as (...a: unknown[]) => unknown)(np.ones([1, 4, 4, 1]), 2, 1), /avgPool2d: takes \(x, windowShape, \{strides, padding\}\); got 1 after the window shape/],
        [() => np.avgPool2d(np.ones([1, 4, 4, 1]), [2, 2, 2] as unknown as number), /avgPool2d: windowShape must be a positive integer or a pair \[h, w\] of them, got \[2,2,2\]/],
        // Arrays and bigints in static arguments are named by type: JSON.stringify printed an array's
        // internals ({"_tensor":...}) and threw a TypeError on a bigint.
        [() => np.maxPool2d(np.ones([1, 4, 4, 1]), np.array(2, 'float32') as unknown as number), /^maxPool2d: windowShape must be JS integers or a concrete int32 array, got f32\[\]/],
        [() => (np.maxPool2d as (...a: unknown[]) => unknown)(np.ones([1, 4, 4, 1]), 2, 2n), /maxPool2d: takes \(x, windowShape, \{strides, padding\}\); got 2n after/],
        // jnp.roll takes an int32 array shift (see np_gaps.test.ts); a float one or an array axis is refused by name.
        [() => np.roll(np.ones([3]), np.array(1, 'float32')), /^roll: an array of shifts must be int32, got f32\[\]/],
        [() => np.roll(np.ones([3]), 1, np.array(0, 'int32') as unknown as number), /^roll: axes are JS integers or lists of them .*got axis an array i32\[\]/],
      ];
      for (const [call, message] of cases) expect(call).toThrow(message);
      // int32's own limits, and fractions within them (truncated toward zero, as NumPy casts), still convert.
      expect(np.array([-(2 ** 31), 2 ** 31 - 1, 2147483647.5, -2147483648.5], 'int32').toArray()).toEqual([-2147483648, 2147483647, 2147483647, -2147483648]);
    });
  });

  it('static integer arguments may be concrete int arrays, as NumPy takes them (tile, pad, moveaxis, tensordot, conv2d); traced or float ones are refused by name', () => {
    inScope(() => {
      const x = np.reshape(np.arange(12, undefined, undefined, 'float32'), [2, 3, 2]);
      const i32 = (v: unknown) => np.array(v as number[], 'int32') as unknown as never;
      const same = (got: NDArray, want: NDArray) => {
        expect(got.shape).toEqual(want.shape);
        expect(values(got)).toEqual(values(want));
      };
      same(np.tile(x, i32([2, 1, 1])), np.tile(x, [2, 1, 1]));
      same(np.pad(x, i32([[1, 0], [0, 2], [1, 1]])), np.pad(x, [[1, 0], [0, 2], [1, 1]]));
      same(np.moveaxis(x, i32([0, 2]), i32([2, 0])), np.moveaxis(x, [0, 2], [2, 0]));
      same(np.tensordot(x, x, i32([[0, 1], [0, 1]])), np.tensordot(x, x, [[0, 1], [0, 1]]));
      const img = np.ones([1, 4, 4, 1]), w = np.ones([2, 2, 1, 1]);
      same(np.conv2d(img, w, { strides: i32(2) }), np.conv2d(img, w, { strides: 2 }));
      // Printed as JSON these showed the array's internals ({"_tensor":...}); under jit the value is unknown.
      expect(() => np.tile(x, np.array([2, 1, 1], 'float32') as unknown as number[])).toThrow(/^tile: repetitions must be JS integers or a concrete int32 array, got f32\[3\]/);
      expect(() => jit((r: NDArray) => np.tile(x, r as unknown as number[]))(np.array([2, 1, 1], 'int32'))).toThrow(/^tile: repetitions must be JS integers or a concrete int32 array, got a traced i32\[3\].*pass it as a static argument/);
      expect(() => np.pad(x, np.array(1.5) as unknown as number)).toThrow(/^pad: pad widths must be JS integers .*got f32\[\]/);
      expect(() => np.index(x, [np.array(1, 'int32') as unknown as number])).toThrow(/^index: the index for axis 0 is an array i32\[\]; .*use np.take/);
    });
  });

  it('solve reads only a 1-D b as a vector (NumPy 2): a 2-D b with a stack of matrices is one matrix right-hand side for each', () => {
    inScope(() => {
      const A = np.stack([np.eye(2), np.multiply(np.eye(2), 2)]); // [2, 2, 2]
      const b = np.array([[1, 2], [3, 4]], 'float32'); // one [2, 2] matrix, broadcast over the stack
      const x = np.linalg.solve(A, b);
      expect(x.shape).toEqual([2, 2, 2]);
      expect(values(x)).toEqual([1, 2, 3, 4, 0.5, 1, 1.5, 2]);
    });
  });
});

describe('linear algebra helpers follow NumPy 2 on stacks, bools and empty matrices', () => {
  it('np.trace and np.diagonal work on axes 0 and 1; np.linalg.trace and np.linalg.diagonal on the last two', () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 2, maxLength: 4 }), fc.integer({ min: -2, max: 2 }), (shape, offset) => {
      inScope(() => {
        const size = shape.reduce((p, d) => p * d, 1);
        const a = np.reshape(np.arange(size), shape);
        const flat = Array.from({ length: size }, (_, i) => i);
        const strides = shape.map((_, i) => shape.slice(i + 1).reduce((p, d) => p * d, 1));
        // Reference: walk every index, keep those on the offset diagonal of the plane (i1, i2).
        const reference = (i1: number, i2: number) => {
          const rest = shape.map((_, i) => i).filter((i) => i !== i1 && i !== i2);
          const sums = new Map<string, number>();
          flat.forEach((v) => {
            const idx = shape.map((_, i) => Math.floor(v / strides[i]!) % shape[i]!);
            if (idx[i2]! - idx[i1]! !== offset) return;
            const key = rest.map((i) => idx[i]).join(',');
            sums.set(key, (sums.get(key) ?? 0) + v);
          });
          const keys = rest.reduce<number[][]>((acc, i) => acc.flatMap((k) => Array.from({ length: shape[i]! }, (_, j) => [...k, j])), [[]]);
          return keys.map((k) => sums.get(k.join(',')) ?? 0);
        };
        expect(values(np.trace(a, offset))).toEqual(reference(0, 1));
        expect(values(np.linalg.trace(a, offset))).toEqual(reference(shape.length - 2, shape.length - 1));
        expect(np.diagonal(a).shape.slice(0, -1)).toEqual(shape.slice(2));
        expect(np.linalg.diagonal(a).shape.slice(0, -1)).toEqual(shape.slice(0, -2));
        expect(values(np.sum(np.linalg.diagonal(a, offset), -1))).toEqual(values(np.linalg.trace(a, offset)));
      });
    }), { seed: FC_SEED, numRuns: 40 });
    expect(() => np.trace(np.ones([3]))).toThrow(/trace: expected an array of at least 2 dimensions/);
  });

  it('products of bools are bools (an OR of ANDs), and tril/triu keep the dtype', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }), fc.integer(), (n, k, m, seed) => {
      inScope(() => {
        const bits = (len: number, s: number) => Array.from({ length: len }, (_, i) => ((s >>> (i % 31)) ^ (i * 2654435761)) % 3 === 0);
        const aBits = bits(n * k, seed), bBits = bits(k * m, seed * 7 + 1);
        const A = np.reshape(np.array(aBits), [n, k]), B = np.reshape(np.array(bBits), [k, m]);
        const want = Array.from({ length: n * m }, (_, ij) => {
          const i = Math.floor(ij / m), j = ij % m;
          return Array.from({ length: k }, (_, l) => aBits[i * k + l]! && bBits[l * m + j]!).some(Boolean);
        });
        for (const [name, got] of [['matmul', np.matmul(A, B)], ['dot', np.dot(A, B)], ['einsum', np.einsum('ij,jk->ik', A, B)], ['tensordot', np.tensordot(A, B, [1, 0])], ['inner', np.inner(A, np.transpose(B))]] as const) {
          expect(got.dtype, name).toBe('bool');
          expect(values(got), name).toEqual(want.map(Number));
        }
        expect(np.matmul(A, np.astype(B, 'int32')).dtype).toBe('int32');
        for (const tri of [np.tril, np.triu]) {
          const t = tri(A, 0);
          expect(t.dtype).toBe('bool');
          expect(values(np.astype(t, 'int32'))).toEqual(values(tri(np.astype(A, 'int32'), 0)));
        }
      });
    }), { seed: FC_SEED, numRuns: 20 });
  });

  it('tensordot takes single axes as numbers (axes = [1, 0]) and names unpaired axes', () => {
    inScope(() => {
      const a = np.reshape(np.arange(6), [2, 3]), b = np.reshape(np.arange(12), [3, 4]);
      expect(values(np.tensordot(a, b, [1, 0]))).toEqual(values(np.matmul(a, b)));
      expect(() => np.tensordot(a, b, [1, 1])).toThrow(/tensordot: axes \[1\] of \[2,3\] and \[1\] of \[3,4\] do not pair up/);
    });
  });

  it('expm of empty matrices is empty, and of a stack of 200,000 matrices does not overflow the call stack', () => {
    inScope(() => {
      for (const shape of [[0, 0], [2, 0, 0], [0, 2, 2]]) expect(np.linalg.expm(np.zeros(shape)).shape).toEqual(shape);
      const many = np.linalg.expm(np.multiply(np.ones([200000, 1, 1]), np.reshape(np.linspace(-1, 1, 200000), [-1, 1, 1])));
      expect(values(np.reshape(many, [-1])).slice(0, 1)[0]).toBeCloseTo(Math.exp(-1), 5);
    });
  });
});

describe('pad with a NaN fill value', () => {
  it('fills with NaN and leaves later pads alone (TF.js wasm PadV2 filled NaN with 0, or NaN into every later pad)', () => {
    inScope(() => {
      const a = np.array([1, 2], 'float32');
      for (let i = 0; i < 2; i++) {
        expect(values(np.pad(a, [[1, 1]], NaN))).toEqual([NaN, 1, 2, NaN]);
        expect(values(np.pad(a, [[0, 1]], 7))).toEqual([1, 2, 7]);
        expect(values(np.pad(np.reshape(a, [1, 2]), [[1, 0], [0, 1]], NaN))).toEqual([NaN, NaN, NaN, 1, 2, NaN]);
      }
    });
  });
});

describe('softmax over several axes', () => {
  it('axis null (all) or a list of axes is exp(x − logsumexp(x)) over them, summing to 1 there', () => {
    inScope(() => {
      const x = np.reshape(np.linspace(-2, 3, 24), [2, 3, 4]);
      expect(values(np.sum(np.softmax(x, null)))[0]).toBeCloseTo(1, 5);
      values(np.sum(np.softmax(x, [1, 2]), [1, 2])).forEach((s) => expect(s).toBeCloseTo(1, 5));
      expectClose(np.softmax(x, [2]), np.softmax(x, -1), { rtol: 1e-6, atol: 1e-7 });
    });
  });
});

describe('np.clip and np.relu eagerly: the values of min(max(x, lo), hi), bit for bit in the sign of zero, on wasm and cpu', () => {
  // A NaN with the sign bit set (what wasm arithmetic makes): TF.js's wasm Relu turns it into 0 and
  // its ClipByValue turns every NaN into lo, so those kernels must not be used there.
  const signedNaN = new Float32Array(new Uint32Array([0xffc00000]).buffer)[0]!;
  const specials = [NaN, signedNaN, -0, 0, Infinity, -Infinity, -2, 2, 0.5, -0.5, 1, -1, 1e-45, -1e-45, 3.4e38, -3.4e38];
  // Bounds as max/min see them (rounded to float32, so 1e-50 is a +0): zeros of both signs, equal,
  // reversed and NaN bounds are where a single clamp kernel can differ from max-then-min.
  const bounds = [null, 0, -0, 1, -1, 0.5, Infinity, -Infinity, NaN, 1e-50, -1e-50, 0.1];
  const reference = clipReference;
  const same = sameNumber;
  const show = (v: number | null) => (v === null ? 'null' : Object.is(v, -0) ? '-0' : String(v));

  it('every pair of bounds (±0, equal, reversed, NaN, ±inf, absent, rounding to 0) on NaN of either sign, ±0, ±inf and finite values', async () => {
    await onEachBackend((backend) => {
      const x = np.array(Float32Array.from(specials));
      for (const lo of bounds) {
        for (const hi of bounds) {
          const got = values(np.clip(x, lo, hi));
          specials.forEach((v, i) => {
            const want = reference(v, lo, hi);
            expect(same(got[i]!, want), `${backend}: clip(${show(v)}, ${show(lo)}, ${show(hi)}) = ${show(got[i]!)}, want ${show(want)}`).toBe(true);
          });
        }
      }
      const r = values(np.relu(x));
      specials.forEach((v, i) => expect(same(r[i]!, reference(v, 0, null)), `${backend}: relu(${show(v)}) = ${show(r[i]!)}`).toBe(true));
    });
  });

  it('random arrays (with specials mixed in) and bounds agree with the reference and with jit (which runs max and min), and clip keeps its derivative', async () => {
    const arb = fc.record({
      xs: fc.array(fc.oneof(fc.float({ noDefaultInfinity: false, noNaN: false }), fc.constantFrom(...specials)), { minLength: 1, maxLength: 70 }),
      lo: fc.constantFrom(...bounds),
      hi: fc.constantFrom(...bounds),
    });
    await onEachBackend((backend) => {
      const jclip = jit((a: NDArray, l: NDArray, h: NDArray) => np.minimum(np.maximum(a, l), h));
      fc.assert(
        fc.property(arb, ({ xs, lo, hi }) => {
          inScope(() => {
            const x = np.array(Float32Array.from(xs));
            const got = values(np.clip(x, lo, hi));
            xs.forEach((v, i) => expect(same(got[i]!, reference(v, lo, hi)), `${backend}: clip(${show(v)}, ${show(lo)}, ${show(hi)})`).toBe(true));
            if (lo !== null && hi !== null) {
              const viaJit = values(jclip(x, np.array(lo, 'float32'), np.array(hi, 'float32')));
              got.forEach((g, i) => expect(same(g, viaJit[i]!), `${backend}: eager against jit at ${show(xs[i]!)}`).toBe(true));
            }
          });
        }),
        { seed: FC_SEED, numRuns: 60 },
      );
      jclip.clearCache();
      // The derivative is max's and min's (½ at each tie), not JAX's clamp's (properties/clip.test.ts checks it in full).
      const g = values(grad((a: NDArray) => np.sum(np.clip(a, -1, 1)))(np.array([-2, -1, 0, 1, 2], 'float32')));
      expect(g, backend).toEqual([0, 0.5, 1, 0.5, 0]);
    });
  });

  it('on cpu an eager clip with number bounds runs one kernel (gradus\'s clamp loop, or its max/min loop for one bound), not Maximum then Minimum', async () => {
    const start = getBackend();
    await setBackend('cpu');
    try {
      const x = np.array(Float32Array.from(specials));
      for (const [lo, hi, kernelsWanted] of [
        [-1, 1, ['GradusClamp']],
        [null, 1, ['GradusMinimum']],
        [-1, null, ['GradusMaximum']],
        [0, null, ['GradusMaximum']],
        [0, 1, ['GradusClamp']],
      ] as const) {
        const info = await tf.profile(() => np.clip(x, lo, hi) as unknown as tf.Tensor);
        expect(info.kernels.map((k) => k.name), `clip(x, ${lo}, ${hi})`).toEqual(kernelsWanted);
        dispose(info.result as unknown as NDArray);
      }
      dispose(x);
    } finally {
      await setBackend(start);
    }
  });
});

// gradus's own wasm SIMD kernels (src/wasm_kernels.ts): the committed binary is what the text
// assembles to; each kernel (comparisons, maximum/minimum, select, fill, axpy, tanh, exp, threefry, GEMM, transpose) agrees with IEEE float32 semantics computed in JS (NaN, ±∞, ±0
// included) for every length modulo the 4-lane width and with a single value on either side; they
// leak nothing; and np's comparisons, select and maximum/minimum go through them on wasm.
import * as tf from '@tensorflow/tfjs-core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { assembleKernels } from '../scripts/build_wasm_kernels.js';
import { dispose, np } from '../src/index.js';
import { kernels, transposeTensor } from '../src/kernels.js';
import { gemmBlocking, wasmAxpy, wasmBinary, wasmFill, wasmMatMul, wasmExp, wasmSelect, wasmTanh, wasmThreefry } from '../src/wasm_kernels.js';
import { KERNELS_WASM_BASE64 } from '../src/wasm_kernels_binary.js';
import * as threefry from '../src/random/threefry.js';
import { randomKernel } from '../src/random/kernels.js';
import { COMPARISONS, EXTREMA, type WasmComparison } from '../src/wasm_kernels_wat.js';
import { FC_SEED } from './helpers.js';

const SPECIALS = [NaN, Infinity, -Infinity, 0, -0, 1, -1, 3.5e38, -1e-40];
const arbValue = fc.oneof(fc.constantFrom(...SPECIALS), fc.float({ noNaN: false }), fc.integer({ min: -3, max: 3 }));
const arbValues = (n: number) => fc.array(arbValue, { minLength: n, maxLength: n }).map((v) => Float32Array.from(v));

const REFERENCE: Record<WasmComparison, (a: number, b: number) => boolean> = {
  eq: (a, b) => a === b, ne: (a, b) => a !== b, lt: (a, b) => a < b, le: (a, b) => a <= b, gt: (a, b) => a > b, ge: (a, b) => a >= b,
};
const EXTREMUM_REFERENCE = { max: Math.max, min: Math.min };

/** Operands: both of one shape, or one of them a single value (of rank 0 or the same rank). */
const arbCase = fc.record({
  n: fc.oneof(fc.integer({ min: 1, max: 13 }), fc.integer({ min: 14, max: 300 })),
  single: fc.constantFrom('none', 'a', 'b', 'a-rank0', 'b-rank0'),
  seed: fc.integer({ min: 0, max: 1e6 }),
}).chain(({ n, single }) => fc.record({
  n: fc.constant(n), single: fc.constant(single),
  a: arbValues(single.startsWith('a') ? 1 : n), b: arbValues(single.startsWith('b') ? 1 : n), c: fc.array(fc.boolean(), { minLength: n, maxLength: n }),
}));

function operand(values: Float32Array, n: number, single: string, which: 'a' | 'b'): tf.Tensor {
  if (!single.startsWith(which)) return tf.tensor(values, [n, 1]);
  return single.endsWith('rank0') ? tf.scalar(values[0]!) : tf.tensor(values, [1, 1]);
}

const at = (v: Float32Array, i: number) => v[v.length === 1 ? 0 : i]!;
const same = (x: number, y: number) => Object.is(x, y);

describe('wasm SIMD kernels', () => {
  it('the committed binary is what src/wasm_kernels_wat.ts assembles to (run `npm run build:wasm` after editing it)', async () => {
    const bytes = await assembleKernels();
    expect(Buffer.from(KERNELS_WASM_BASE64, 'base64').equals(Buffer.from(bytes))).toBe(true);
  });

  it('comparisons, maximum/minimum and select agree with IEEE float32 semantics, every length and broadcast', () => {
    expect(tf.getBackend()).toBe('wasm');
    const before = tf.memory().numTensors;
    fc.assert(fc.property(arbCase, ({ n, single, a, b, c }) => {
      const ta = operand(a, n, single, 'a'), tb = operand(b, n, single, 'b'), tc = tf.tensor(c, [n, 1], 'bool');
      try {
        for (const op of COMPARISONS) {
          const out = wasmBinary(op, ta, tb)!;
          expect(out.dtype).toBe('bool');
          expect(out.shape).toEqual([n, 1]);
          const got = out.dataSync();
          out.dispose();
          for (let i = 0; i < n; i++) expect(got[i], `${op}(${at(a, i)}, ${at(b, i)}) at ${i} of ${n}`).toBe(REFERENCE[op](at(a, i), at(b, i)) ? 1 : 0);
        }
        for (const op of EXTREMA) {
          const out = wasmBinary(op, ta, tb)!;
          const got = out.dataSync();
          out.dispose();
          for (let i = 0; i < n; i++) {
            const want = Math.fround(EXTREMUM_REFERENCE[op](at(a, i), at(b, i)));
            expect(same(got[i]!, want), `${op}(${at(a, i)}, ${at(b, i)}) = ${got[i]} at ${i} of ${n}, want ${want}`).toBe(true);
          }
        }
        const sel = wasmSelect(tc, ta, tb)!;
        const got = sel.dataSync();
        sel.dispose();
        for (let i = 0; i < n; i++) expect(same(got[i]!, c[i] ? at(a, i) : at(b, i)), `select at ${i} of ${n}`).toBe(true);
      } finally {
        tf.dispose([ta, tb, tc]);
      }
    }), { seed: FC_SEED, numRuns: 150 });
    expect(tf.memory().numTensors).toBe(before);
  });

  it('axpy a + s·b rounds exactly as a multiply then an add in float32, every length', () => {
    const before = tf.memory().numTensors;
    fc.assert(fc.property(fc.integer({ min: 1, max: 70 }).chain((n) => fc.tuple(arbValues(n), arbValues(n), arbValue)), ([a, b, s]) => {
      const ta = tf.tensor(a), tb = tf.tensor(b);
      const out = wasmAxpy(ta, tb, s)!;
      const got = out.dataSync();
      tf.dispose([ta, tb, out]);
      const sf = Math.fround(s);
      for (let i = 0; i < a.length; i++) {
        const want = Math.fround(a[i]! + Math.fround(sf * b[i]!));
        expect(same(got[i]!, want), `${a[i]} + ${sf}·${b[i]} = ${got[i]}, want ${want}`).toBe(true);
      }
    }), { seed: FC_SEED, numRuns: 100 });
    expect(tf.memory().numTensors).toBe(before);
  });

  it('tanh is within 4 ulp of the correctly rounded tanh, exactly odd, bounded by 1, exact near 0, ±1 at ±∞, NaN for NaN', () => {
    const before = tf.memory().numTensors;
    const wide = fc.oneof(arbValue, fc.float({ min: -12, max: 12, noNaN: true }), fc.float({ min: Math.fround(-0.01), max: Math.fround(0.01), noNaN: true }));
    fc.assert(fc.property(fc.integer({ min: 1, max: 40 }).chain((n) => fc.array(wide, { minLength: n, maxLength: n })), (values) => {
      const xs = Float32Array.from(values);
      const x = tf.tensor(xs), negX = tf.neg(x);
      const [t, tn] = [wasmTanh(x)!, wasmTanh(negX)!];
      const got = t.dataSync() as Float32Array, gotNeg = tn.dataSync() as Float32Array;
      tf.dispose([x, negX, t, tn]);
      xs.forEach((v, i) => {
        const want = Math.fround(Math.tanh(v)), g = got[i]!;
        if (Number.isNaN(v)) return expect(g).toBeNaN();
        const ulps = Math.abs(g - want) / (Math.max(Math.abs(want), 2 ** -126) * 2 ** -23);
        expect(ulps, `tanh(${v}) = ${g}, want ${want}`).toBeLessThanOrEqual(4);
        expect(Math.abs(g)).toBeLessThanOrEqual(1);
        expect(Object.is(gotNeg[i]!, -g), `tanh(−${v}) = ${gotNeg[i]} is not −tanh(${v}) = ${-g}`).toBe(true);
        if (Math.abs(v) < 4e-4) expect(Object.is(g, v), `tanh(${v}) = ${g} near 0`).toBe(true);
      });
    }), { seed: FC_SEED, numRuns: 300 });
    expect(tf.memory().numTensors).toBe(before);
  });

  it('exp is within 1 ulp of the correctly rounded exp (subnormal results within 1 subnormal step), 1 at ±0, +∞ past overflow, 0 at −∞, NaN for NaN', () => {
    const before = tf.memory().numTensors;
    const wide = fc.oneof(arbValue, fc.float({ min: -110, max: 90, noNaN: true }), fc.float({ min: Math.fround(-1e-3), max: Math.fround(1e-3), noNaN: true }));
    fc.assert(fc.property(fc.integer({ min: 1, max: 40 }).chain((n) => fc.array(wide, { minLength: n, maxLength: n })), (values) => {
      const xs = Float32Array.from(values);
      const x = tf.tensor(xs);
      const e = wasmExp(x)!;
      const got = e.dataSync() as Float32Array;
      tf.dispose([x, e]);
      xs.forEach((v, i) => {
        const want = Math.fround(Math.exp(v)), g = got[i]!;
        if (Number.isNaN(v)) return expect(g).toBeNaN();
        if (!Number.isFinite(want) || want === 0) return expect(g, `exp(${v})`).toBe(want);
        const ulps = Math.abs(g - want) / (Math.max(want, 2 ** -126) * 2 ** -23);
        expect(ulps, `exp(${v}) = ${g}, want ${want}`).toBeLessThanOrEqual(1);
      });
    }), { seed: FC_SEED, numRuns: 300 });
    const special = tf.tensor([0, -0, Infinity, -Infinity, NaN, 88.72283935546875, 88.7228470, -104, -200]);
    const out = wasmExp(special)!;
    expect(Array.from(out.dataSync())).toEqual([1, 1, Infinity, 0, NaN, Math.fround(Math.exp(88.72283935546875)), Infinity, Math.fround(Math.exp(-104)), 0]);
    tf.dispose([special, out]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('threefry bits and uniform floats equal the JS reference bit for bit, for batches of keys and every count modulo 4', () => {
    const before = tf.memory().numTensors;
    fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 2 ** 32 - 1 }), { minLength: 2, maxLength: 10 }).filter((w) => w.length % 2 === 0), fc.integer({ min: 1, max: 70 }), (words, count) => {
      const keys = Uint32Array.from(words);
      const kt = tf.tensor(new Int32Array(keys.buffer), [keys.length / 2, 2], 'int32');
      const bits = wasmThreefry(kt, count, false)!, u = wasmThreefry(kt, count, true)!;
      expect(Array.from(bits.dataSync())).toEqual(Array.from(new Int32Array(threefry.randomBits(keys, count).buffer)));
      expect(Array.from(u.dataSync())).toEqual(Array.from(threefry.uniform(keys, count)));
      tf.dispose([kt, bits, u]);
    }), { seed: FC_SEED, numRuns: 100 });
    expect(tf.memory().numTensors).toBe(before);
  });

  it('normal draws (bits from the SIMD kernel, erfinv in JS) equal the JS reference bit for bit', () => {
    const before = tf.memory().numTensors;
    fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 2 ** 32 - 1 }), { minLength: 2, maxLength: 6 }).filter((w) => w.length % 2 === 0), fc.integer({ min: 1, max: 40 }), (words, count) => {
      const keys = Uint32Array.from(words);
      const kt = tf.tensor(new Int32Array(keys.buffer), [keys.length / 2, 2], 'int32');
      const z = randomKernel(kt, { shape: [count], distribution: 'normal' });
      expect(z.shape).toEqual([keys.length / 2, count]);
      expect(Array.from(z.dataSync())).toEqual(Array.from(threefry.normal(keys, count)));
      tf.dispose([kt, z]);
    }), { seed: FC_SEED, numRuns: 60 });
    expect(tf.memory().numTensors).toBe(before);
  });

  it('fill writes every element, tails included', () => {
    for (const n of [0, 1, 3, 4, 5, 17, 1000]) {
      const t = wasmFill([n], -2.5)!;
      expect(Array.from(t.dataSync())).toEqual(new Array(n).fill(-2.5));
      t.dispose();
    }
  });

  it('is not used where it does not apply: int32, other broadcasts (TF.js handles those)', () => {
    const i = tf.tensor([1, 2, 3], [3], 'int32'), f = tf.tensor([[1, 2, 3]]), g = tf.tensor([[1], [2]]);
    expect(wasmBinary('gt', i, i)).toBeNull();
    expect(wasmBinary('gt', f, g)).toBeNull(); // [1,3] against [2,1]: a real broadcast
    expect(wasmSelect(tf.tensor([true], [1], 'bool'), f, f)).toBeNull(); // the condition must have the output's shape
    tf.dispose([i, f, g]);
  });

  it("np's comparisons, where, maximum/minimum and tanh run on them (no TF.js kernel for those) and stay correct", async () => {
    const x = np.array(Float32Array.from([NaN, -1, 0, 2, Infinity]));
    const cases: [string, () => ReturnType<typeof np.greater>, number[]][] = [
      ['greater', () => np.greater(x, 0), [0, 0, 0, 1, 1]],
      ['notEqual', () => np.notEqual(x, x), [1, 0, 0, 0, 0]],
      ['where', () => np.where(np.greater(x, 0), x, -7), [-7, -7, -7, 2, Infinity]],
      ['maximum', () => np.maximum(x, 0), [NaN, 0, 0, 2, Infinity]],
      ['minimum', () => np.minimum(0, x), [NaN, -1, 0, 0, 0]],
      ['tanh', () => np.tanh(x), [NaN, Math.fround(Math.tanh(-1)), 0, Math.fround(Math.tanh(2)), 1]],
    ];
    for (const [name, f, want] of cases) {
      const info = await tf.profile(() => f() as unknown as tf.Tensor);
      const kernels = info.kernels.map((k) => k.name);
      expect(kernels.filter((k) => ['Greater', 'NotEqual', 'Select', 'Maximum', 'Minimum', 'Tanh'].includes(k)), `${name}: ${kernels}`).toEqual([]);
      expect(kernels.some((k) => k.startsWith('Gradus')), `${name}: ${kernels}`).toBe(true);
      const got = Array.from((info.result as unknown as tf.Tensor).dataSync());
      got.forEach((g, i) => expect(Math.abs(g - want[i]!) <= 2e-7 || Object.is(g, want[i]), `${name}[${i}] = ${g}, want ${want[i]}`).toBe(true));
      (info.result as unknown as tf.Tensor).dispose();
    }
  });

  // Small integers keep every product and sum exact in float32, so the GEMM's blocking and order of
  // summation cannot hide behind a tolerance: any misplaced element or dropped k shows.
  const arbInts = (n: number) => fc.array(fc.integer({ min: -3, max: 3 }), { minLength: n, maxLength: n });
  const arbDim = fc.oneof(fc.integer({ min: 1, max: 13 }), fc.integer({ min: 14, max: 40 }));
  const arbProduct = fc.record({
    batch: fc.option(fc.integer({ min: 1, max: 3 }), { nil: null }),
    M: arbDim, N: arbDim,
    // past 256, k runs in two blocks (C accumulates across them)
    K: fc.oneof({ weight: 4, arbitrary: arbDim }, { weight: 1, arbitrary: fc.integer({ min: 250, max: 520 }) }),
    transA: fc.boolean(), transB: fc.boolean(),
    batchLast: fc.boolean(), seed: fc.integer(),
  });
  /** A reference (batch, M, N) product in float64 of index functions a(b, i, k) and b(b, k, j). */
  function referenceProduct(Bn: number, M: number, K: number, N: number, a: (b: number, i: number, k: number) => number, b: (b: number, k: number, j: number) => number): number[] {
    const out: number[] = [];
    for (let q = 0; q < Bn; q++) for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += a(q, i, k) * b(q, k, j);
      out.push(s);
    }
    return out;
  }

  // Non-finite values give the same result in any order of summation (NaN, or ±∞ alone).
  const arbIntsOrSpecial = (n: number) => fc.array(fc.oneof({ weight: 40, arbitrary: fc.integer({ min: -3, max: 3 }) }, { weight: 1, arbitrary: fc.constantFrom(NaN, Infinity, -Infinity) }), { minLength: n, maxLength: n });

  it('GEMM: op(A)·op(B) (+ bias, relu) is exact on small integers for every tile edge, k block, layout and batch', () => {
    const before = tf.memory().numTensors;
    const arbCase = arbProduct.chain((d) => fc.tuple(
      fc.constant(d), arbIntsOrSpecial((d.batch ?? 1) * d.M * d.K), arbInts((d.batch ?? 1) * d.K * d.N),
      fc.option(arbIntsOrSpecial(d.N), { nil: undefined }), fc.boolean(),
    ));
    // The production blocking, and one so small that these matrices cross k blocks, row blocks and
    // column blocks (16 columns: room for a k block of 2 panels).
    const blockings = [{ ...gemmBlocking }, { kc: 3, mc: 5, packBytes: 3 * 32 * 2 }];
    fc.assert(fc.property(arbCase, fc.constantFrom(...blockings), ([d, av, bv, epilogueBias, epilogueRelu], blocking) => {
      const { batch, M, K, N, transA } = d;
      // B stored (N, K): the row-by-row kernel, which takes an untransposed A and no epilogue
      const transB = d.transB && !transA;
      const [biasValues, relu] = transB ? [undefined, false] : [epilogueBias, epilogueRelu];
      const lead = batch === null ? [] : [batch];
      const a = tf.tensor(av, [...lead, ...(transA ? [K, M] : [M, K])]), b = tf.tensor(bv, [...lead, ...(transB ? [N, K] : [K, N])]);
      const bias = biasValues && tf.tensor(biasValues);
      const saved = { ...gemmBlocking };
      Object.assign(gemmBlocking, blocking);
      let out: tf.Tensor;
      try {
        out = wasmMatMul(a, b, { batch, M, K, N, transA, transB }, { bias, relu })!;
      } finally {
        Object.assign(gemmBlocking, saved);
      }
      expect(out.shape).toEqual([...lead, M, N]);
      const got = Array.from(out.dataSync());
      tf.dispose([a, b, out, ...(bias ? [bias] : [])]);
      const product = referenceProduct(batch ?? 1, M, K, N, (q, i, k) => av[q * M * K + (transA ? k * M + i : i * K + k)]!, (q, k, j) => bv[q * K * N + (transB ? j * K + k : k * N + j)]!);
      const want = product.map((v, flat) => {
        const z = v + (biasValues ? biasValues[flat % N]! : 0);
        return relu ? (Number.isNaN(z) ? NaN : Math.max(z, 0)) : z;
      });
      got.forEach((g, i) => expect(Object.is(g + 0, want[i]! + 0), `element ${i}: ${g}, want ${want[i]} (relu ${relu}, bias ${biasValues !== undefined})`).toBe(true));
    }), { seed: FC_SEED, numRuns: 250 });
    expect(tf.memory().numTensors).toBe(before);
  });

  it('GEMM with the production blocking past one column block (N > 2048): exact, bias offset per block', () => {
    const before = tf.memory().numTensors;
    const [M, K, N] = [9, 3, 2100];
    const av = Array.from({ length: M * K }, (_, i) => ((i * 7) % 5) - 2), bv = Array.from({ length: K * N }, (_, i) => ((i * 3) % 7) - 3);
    const biasValues = Array.from({ length: N }, (_, j) => (j % 11) - 5);
    const a = tf.tensor(av, [M, K]), b = tf.tensor(bv, [K, N]), bias = tf.tensor(biasValues);
    const out = wasmMatMul(a, b, { batch: null, M, K, N, transA: false }, { bias, relu: true })!;
    const got = out.dataSync();
    tf.dispose([a, b, bias, out]);
    const want = referenceProduct(1, M, K, N, (_, i, k) => av[i * K + k]!, (_, k, j) => bv[k * N + j]!).map((v, flat) => Math.max(v + biasValues[flat % N]!, 0));
    want.forEach((w, i) => expect(got[i], `element ${i} (row ${Math.floor(i / N)}, column ${i % N})`).toBe(w));
    expect(tf.memory().numTensors).toBe(before);
  });

  it('dot_general on wasm: every operand layout (transposed, batched first or last) gives the exact product', () => {
    const before = tf.memory().numTensors;
    fc.assert(fc.property(arbProduct.chain((d) => fc.tuple(fc.constant(d), arbInts((d.batch ?? 1) * d.M * d.K), arbInts((d.batch ?? 1) * d.K * d.N))), ([d, av, bv]) => {
      const { batch, M, K, N, transA, transB, batchLast } = d;
      // logical A(q, i, k), B(q, k, j), stored in the chosen layouts
      const aAxes = transA ? ['k', 'i'] : ['i', 'k'], bAxes = transB ? ['j', 'k'] : ['k', 'j'];
      if (batch !== null) (batchLast ? aAxes.push('q') : aAxes.unshift('q')), bAxes.unshift('q');
      const size: Record<string, number> = { q: batch ?? 1, i: M, k: K, j: N };
      const fill = (axes: string[], values: number[]) => {
        // values are logical (q, i, k) or (q, k, j) row-major; store them in `axes` order
        const logical = axes.includes('i') ? ['q', 'i', 'k'] : ['q', 'k', 'j'];
        const strides: Record<string, number> = {};
        let st = 1;
        for (const ax of [...logical].reverse()) { strides[ax] = st; st *= size[ax]!; }
        const shape = axes.map((ax) => size[ax]!);
        const stored = new Array<number>(values.length);
        let n = 0;
        const walk = (depth: number, offset: number): void => {
          if (depth === axes.length) { stored[n++] = values[offset]!; return; }
          for (let t = 0; t < shape[depth]!; t++) walk(depth + 1, offset + t * strides[axes[depth]!]!);
        };
        walk(0, 0);
        return tf.tensor(stored, shape);
      };
      const a = fill(aAxes, av), b = fill(bAxes, bv);
      const params = { contract: [[aAxes.indexOf('k')], [bAxes.indexOf('k')]], batch: batch === null ? [[], []] : [[aAxes.indexOf('q')], [bAxes.indexOf('q')]] } as never;
      const out = tf.tidy(() => kernels.dot_general([a, b], params)[0]!);
      expect(out.shape).toEqual([...(batch === null ? [] : [batch]), M, N]);
      const got = Array.from(out.dataSync());
      tf.dispose([a, b, out]);
      // (+ 0: with K = 1 the product is an outer product, where 0·(−1) stays −0)
      expect(got.map((v) => v + 0)).toEqual(referenceProduct(batch ?? 1, M, K, N, (q, i, k) => av[(q * M + i) * K + k]!, (q, k, j) => bv[(q * K + k) * N + j]!));
    }), { seed: FC_SEED, numRuns: 120 });
    expect(tf.memory().numTensors).toBe(before);
  });

  it('transpose: every permutation of float32 and int32 arrays moves each element to its place', () => {
    const before = tf.memory().numTensors;
    const arbCase = fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 4 }).chain((shape) => fc.record({
      shape: fc.constant(shape),
      perm: fc.shuffledSubarray(shape.map((_, i) => i), { minLength: shape.length, maxLength: shape.length }),
      dtype: fc.constantFrom('float32' as const, 'int32' as const),
    }));
    fc.assert(fc.property(arbCase, ({ shape, perm, dtype }) => {
      const n = shape.reduce((p, q) => p * q, 1);
      const x = tf.tensor(Array.from({ length: n }, (_, i) => i - 5), shape, dtype);
      const y = tf.tidy(() => transposeTensor(x, perm));
      expect(y.dtype).toBe(dtype);
      expect(y.shape).toEqual(perm.map((p) => shape[p]));
      const got = y.dataSync();
      // y[idx] = x[idx permuted back]
      const stridesX = shape.map((_, i) => shape.slice(i + 1).reduce((p, q) => p * q, 1));
      const outShape = perm.map((p) => shape[p]!);
      for (let flat = 0; flat < n; flat++) {
        let rem = flat, src = 0;
        for (let ax = outShape.length - 1; ax >= 0; ax--) {
          const idx = rem % outShape[ax]!;
          rem = Math.floor(rem / outShape[ax]!);
          src += idx * stridesX[perm[ax]!]!;
        }
        expect(got[flat], `element ${flat} of ${JSON.stringify(shape)} permuted by ${perm}`).toBe(src - 5);
      }
      tf.dispose(y === x ? [x] : [x, y]);
    }), { seed: FC_SEED, numRuns: 200 });
    expect(tf.memory().numTensors).toBe(before);
  });

  it("np's products and transposes run on gradus's GEMM and transpose (no TF.js BatchMatMul or Transpose)", async () => {
    const a = np.array([[1, 2, 3], [4, 5, 6]], 'float32'), b = np.array([[1, 0], [0, 1], [1, 1]], 'float32');
    const cases: [string, () => unknown, number[]][] = [
      ['matmul', () => np.matmul(a, b), [4, 5, 10, 11]],
      ['transposed lhs (tensordot over axis 0)', () => np.tensordot(a, a, [[0], [0]]), [17, 22, 27, 22, 29, 36, 27, 36, 45]],
      ['transposed rhs', () => np.tensordot(a, a, [[1], [1]]), [14, 32, 32, 77]],
      ['transpose', () => np.transpose(b), [1, 0, 1, 0, 1, 1]],
    ];
    for (const [name, f, want] of cases) {
      const info = await tf.profile(() => f() as tf.Tensor);
      const names = info.kernels.map((k) => k.name);
      expect(names.filter((k) => k === 'BatchMatMul' || k === 'Transpose'), `${name}: ${names}`).toEqual([]);
      expect(names.some((k) => k === 'GradusMatMul' || k.startsWith('GradusTranspose')), `${name}: ${names}`).toBe(true);
      const result = info.result as unknown as { dataSync(): ArrayLike<number>; dispose(): void };
      expect(Array.from(result.dataSync()), name).toEqual(want);
      result.dispose();
    }
    dispose([a, b]);
  });
});

describe('sums over leading and middle axes (gradus\'s row-sum kernel)', () => {
  it('equal a float64 sum, with NaN and ±inf as IEEE sums give them, for narrow and wide rows, short and two-stage lengths', () => {
    const special = [NaN, Infinity, -Infinity, -0];
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 3 }), fc.constantFrom(1, 2, 3, 7, 64, 300, 5000, 8192), fc.constantFrom(2, 3, 4, 5, 8, 17, 64), fc.integer({ min: 0, max: 1 << 20 }), fc.boolean(),
      (pre, r, post, seed, withSpecial) => {
        let state = seed;
        const rand = () => ((state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
        const data = Float32Array.from({ length: pre * r * post }, rand);
        if (withSpecial) for (let k = 0; k < 3; k++) data[Math.floor(((rand() + 1) / 2) * data.length)] = special[(seed + k) % special.length]!;
        const got = np.sum(np.array(tf.tensor(data, [pre, r, post])), 1);
        const values = Array.from(got.dataSync());
        dispose(got);
        for (let p = 0; p < pre; p++) for (let c = 0; c < post; c++) {
          let want = 0, abs = 0;
          for (let i = 0; i < r; i++) { const v = data[(p * r + i) * post + c]!; want += v; abs += Math.abs(v); }
          const v = values[p * post + c]!;
          if (Number.isNaN(want)) expect(v, `[${p}, ${c}] of [${pre}, ${r}, ${post}]`).toBeNaN();
          else if (!Number.isFinite(want)) expect(v).toBe(want);
          else expect(Math.abs(v - want), `[${p}, ${c}] of [${pre}, ${r}, ${post}]`).toBeLessThanOrEqual(1e-6 * abs + 1e-6);
        }
      },
    ), { seed: FC_SEED, numRuns: 60 });
  });
});

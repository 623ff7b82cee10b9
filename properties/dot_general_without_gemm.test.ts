// dot_general on the wasm backend where gradus's own GEMM cannot run (a runtime without WebAssembly
// SIMD, or TF.js's threaded build with its shared memory): kernels.ts then lays the operands out for
// TF.js's matmul (tfMatMulOnWasm), as A·B or as (Bᵀ·Aᵀ)ᵀ, whichever moves fewer elements. Nothing
// else in the suite reaches that path (this machine has SIMD), so here gradus's kernel module is made
// uncompilable before its first use, as on such a runtime, and every layout (batch axes anywhere,
// one or two contracted axes, operands stored transposed) is checked against dot_general's
// definition on small integers, where float32 sums are exact.
import * as tf from '@tensorflow/tfjs-core';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { getBackend } from '../src/index.js';
import { kernels } from '../src/kernels.js';
import { wasmKernelsAvailable } from '../src/wasm_kernels.js';
import { FC_SEED } from './helpers.js';

// gradus compiles its kernel module on first use and keeps the answer (wasm_kernels.ts kernelModule):
// a constructor that throws now is what a runtime without SIMD gives it.
const realModule = WebAssembly.Module;
(WebAssembly as { Module: unknown }).Module = function noSimd(): never {
  throw new WebAssembly.CompileError('SIMD unsupported (simulated by dot_general_without_gemm.test.ts)');
};
const gemmUnavailable = getBackend() === 'wasm' && !wasmKernelsAvailable();
(WebAssembly as { Module: unknown }).Module = realModule;
afterAll(() => {
  (WebAssembly as { Module: unknown }).Module = realModule;
});

/** A dot_general case: each operand's axes as labels (b: batch, c: contracted, f: free), sizes per label, and the dtype. */
interface Case { aAxes: string[]; bAxes: string[]; size: Record<string, number>; dtype: 'float32' | 'int32' }

const arbCase: fc.Arbitrary<Case> = fc
  .record({
    batch: fc.integer({ min: 0, max: 2 }), contract: fc.integer({ min: 1, max: 2 }), freeA: fc.integer({ min: 0, max: 2 }), freeB: fc.integer({ min: 0, max: 2 }),
    sizes: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 8, maxLength: 8 }), dtype: fc.constantFrom<'float32' | 'int32'>('float32', 'float32', 'int32'),
  })
  .chain(({ batch, contract, freeA, freeB, sizes, dtype }) => {
    const labels = (p: string, n: number) => Array.from({ length: n }, (_, i) => `${p}${i}`);
    const b = labels('b', batch), c = labels('c', contract), fa = labels('x', freeA), fb = labels('y', freeB);
    const size: Record<string, number> = {};
    [...b, ...c, ...fa, ...fb].forEach((l, i) => (size[l] = sizes[i]!));
    // Any storage order of each operand's axes: batch axes first or last, contracted axes before or after the free ones.
    return fc.tuple(fc.shuffledSubarray([...b, ...c, ...fa], { minLength: batch + contract + freeA }), fc.shuffledSubarray([...b, ...c, ...fb], { minLength: batch + contract + freeB }))
      .map(([aAxes, bAxes]) => ({ aAxes, bAxes, size, dtype }));
  });

/** dot_general by its definition: out[batch…, freeA…, freeB…] = Σ over the contracted labels of a·b. */
function reference({ aAxes, bAxes, size }: Case, av: number[], bv: number[]): { shape: number[]; values: number[] } {
  const batch = aAxes.filter((l) => l.startsWith('b')).sort(), contract = aAxes.filter((l) => l.startsWith('c')).sort();
  const outAxes = [...batch, ...aAxes.filter((l) => l.startsWith('x')), ...bAxes.filter((l) => l.startsWith('y'))];
  const flat = (axes: string[], at: Record<string, number>) => axes.reduce((n, l) => n * size[l]! + at[l]!, 0);
  const each = (axes: string[], f: (at: Record<string, number>) => void, at: Record<string, number> = {}, d = 0): void => {
    if (d === axes.length) return f(at);
    for (let i = 0; i < size[axes[d]!]!; i++) each(axes, f, { ...at, [axes[d]!]: i }, d + 1);
  };
  const values: number[] = [];
  each(outAxes, (at) => {
    let sum = 0;
    each(contract, (k) => (sum += av[flat(aAxes, { ...at, ...k })]! * bv[flat(bAxes, { ...at, ...k })]!));
    values.push(sum);
  });
  return { shape: outAxes.map((l) => size[l]!), values };
}

describe('dot_general on wasm without gradus\'s GEMM (TF.js\'s matmul, direct or transposed back)', () => {
  it('runs without the kernel module here (otherwise this file tests nothing)', () => {
    expect(gemmUnavailable).toBe(true);
  });

  it('gives the exact product for every operand layout, batch and contracted axes anywhere, float32 and int32', () => {
    const before = tf.memory().numTensors;
    fc.assert(fc.property(arbCase, fc.infiniteStream(fc.integer({ min: -4, max: 4 })), (d, ints) => {
      const count = (axes: string[]) => axes.reduce((n, l) => n * d.size[l]!, 1);
      const av = Array.from({ length: count(d.aAxes) }, () => ints.next().value as number);
      const bv = Array.from({ length: count(d.bAxes) }, () => ints.next().value as number);
      const a = tf.tensor(av, d.aAxes.map((l) => d.size[l]!), d.dtype), b = tf.tensor(bv, d.bAxes.map((l) => d.size[l]!), d.dtype);
      const batch = d.aAxes.filter((l) => l.startsWith('b')).sort(), contract = d.aAxes.filter((l) => l.startsWith('c')).sort();
      const params = {
        contract: [contract.map((l) => d.aAxes.indexOf(l)), contract.map((l) => d.bAxes.indexOf(l))],
        batch: [batch.map((l) => d.aAxes.indexOf(l)), batch.map((l) => d.bAxes.indexOf(l))],
      } as never;
      const out = tf.tidy(() => kernels.dot_general([a, b], params)[0]!);
      const want = reference(d, av, bv);
      const label = `a ${d.aAxes} b ${d.bAxes} sizes ${JSON.stringify(d.size)} ${d.dtype}`;
      expect(out.shape, label).toEqual(want.shape);
      expect(out.dtype, label).toBe(d.dtype);
      // (+ 0: an outer product's 0·(−1) stays −0; the reference's sums start at +0)
      expect(Array.from(out.dataSync(), (v) => v + 0), label).toEqual(want.values);
      tf.dispose([a, b, out]);
    }), { seed: FC_SEED, numRuns: 200 });
    expect(tf.memory().numTensors).toBe(before);
  });
});

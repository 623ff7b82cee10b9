// Small helpers shared by the property suites: comparing gradus arrays with float64 references,
// running a property body in a memory scope, and counting live tensors.
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'vitest';
import fc from 'fast-check';
import { dispose, getBackend, jit, np, NDArray, scope, setBackend } from '../src/index.js';
import { upcomingTensorId } from '../src/core.js';
import { kernels } from '../src/kernels.js';
import { reference as R } from '../src/testing/index.js';

/** Every property runs with this seed (fc.assert(prop, { seed: FC_SEED, numRuns })). */
export const FC_SEED = 42;

export type Expected = R.Ref | number | readonly unknown[];

function toRef(x: Expected | NDArray): R.Ref {
  if (x instanceof NDArray) return R.fromArray(x);
  if (typeof x === 'number') return R.scalar(x);
  if (Array.isArray(x)) {
    const shape: number[] = [];
    let level: unknown = x;
    while (Array.isArray(level)) {
      shape.push(level.length);
      level = level[0];
    }
    return R.ref(shape, (x as unknown[]).flat(Infinity) as number[]);
  }
  return x as R.Ref;
}

/** Throws (with `label`) unless `got` matches `want` elementwise within rtol/atol, shapes included. */
export function expectClose(got: NDArray | R.Ref, want: Expected | NDArray, opts: R.CloseOptions & { label?: string } = {}): void {
  const g = got instanceof NDArray ? R.fromArray(got) : got;
  const msg = R.mismatch(g, toRef(want), opts);
  if (msg !== null) throw new Error(`${opts.label ?? 'values'}: ${msg}`);
}

/** Like expectClose with a tolerance relative to the largest |want| (for sums of many terms). */
export function expectCloseInf(got: NDArray | R.Ref, want: Expected | NDArray, { rtol = 1e-4, label = 'values' } = {}): void {
  const w = toRef(want);
  const scale = Math.max(1e-30, ...Array.from(w.data, Math.abs));
  expectClose(got, w, { rtol: 0, atol: rtol * scale, label });
}

/** Runs `fn` in a gradus scope: every array it makes is freed when it returns or throws. */
export function scoped<T>(fn: () => T): T {
  return scope(fn);
}

export function numTensors(): number {
  return tf.memory().numTensors;
}

/** Flat float64 values. */
export function values(x: NDArray): number[] {
  return Array.from(x.dataSync());
}

/** ⟨a, b⟩ and Σ|a_i b_i| over matching lists of flat arrays. */
export function innerProduct(a: readonly ArrayLike<number>[], b: readonly ArrayLike<number>[]): { value: number; abs: number } {
  let value = 0, abs = 0;
  a.forEach((x, i) => {
    const y = b[i]!;
    for (let j = 0; j < x.length; j++) {
      value += x[j]! * y[j]!;
      abs += Math.abs(x[j]! * y[j]!);
    }
  });
  return { value, abs };
}

/** Runs a property body in a gradus scope (every array it makes is freed), returning nothing. */
export function inScope(fn: () => unknown): void {
  scope(() => {
    fn();
    return null;
  });
}

/**
 * fc.assert with FC_SEED, each case in a scope, failing if the property leaves tensors behind
 * (counted after `cleanup`, e.g. clearing a jit cache whose constants are the test's own).
 */
export function assertNoLeak<T>(arb: fc.Arbitrary<T>, body: (v: T) => void, numRuns: number, cleanup?: () => void): void;
/**
 * The same for a property built with fc.property (several arbitraries, a boolean predicate): its
 * cases are not wrapped in a scope, so the predicate frees what it makes (e.g. with `scope`).
 */
export function assertNoLeak(property: fc.IProperty<unknown> | fc.IPropertyWithHooks<unknown>, numRuns: number): void;
export function assertNoLeak<T>(
  what: fc.Arbitrary<T> | fc.IProperty<unknown> | fc.IPropertyWithHooks<unknown>,
  bodyOrRuns: ((v: T) => void) | number,
  runs?: number,
  cleanup: () => void = () => {},
): void {
  const before = numTensors();
  try {
    if (typeof bodyOrRuns === 'number') fc.assert(what as fc.IProperty<unknown>, { seed: FC_SEED, numRuns: bodyOrRuns });
    else fc.assert(fc.property(what as fc.Arbitrary<T>, (v) => inScope(() => bodyOrRuns(v))), { seed: FC_SEED, numRuns: runs });
  } finally {
    cleanup();
  }
  if (numTensors() !== before) throw new Error(`the property left ${numTensors() - before} tensors behind`);
}

/** The TF.js memory high-water mark of one call of `run` (its result freed), above the bytes held before it. */
export async function extraPeakBytes(run: () => unknown): Promise<number> {
  const before = tf.memory().numBytes;
  const { peakBytes } = await tf.profile(() => {
    dispose(run() as never);
    return undefined as never;
  });
  return peakBytes - before;
}

/** Runs `body` in a scope and fails if it leaves tensors behind. */
export function noLeak(body: () => void): void {
  const before = numTensors();
  inScope(body);
  if (numTensors() !== before) throw new Error(`left ${numTensors() - before} tensors behind`);
}

/** sup |F_N − F|, the Kolmogorov–Smirnov statistic of the samples against the CDF F. */
export function ksStatistic(xs: readonly number[], cdf: (x: number) => number): number {
  const sorted = [...xs].sort((a, b) => a - b);
  let d = 0;
  sorted.forEach((x, i) => {
    const f = cdf(x);
    d = Math.max(d, Math.abs(f - i / sorted.length), Math.abs(f - (i + 1) / sorted.length));
  });
  return d;
}

/** float32's spacing at |x| (subnormal spacing below the normal range). */
export const ulp32 = (x: number): number => 2 ** (Math.max(Math.floor(Math.log2(Math.abs(x))), -126) - 23);

/** Runs `body` on the wasm and then the cpu backend (no tensors may outlive it on either), then restores the starting one. */
export async function onEachBackend(body: (backend: string) => void): Promise<void> {
  await forEachBackend((backend) => {
    const before = numTensors();
    inScope(() => body(backend));
    if (numTensors() !== before) throw new Error(`tensors left on ${backend}: ${numTensors() - before}`);
  });
}

/** Runs `body` on wasm, then on cpu, outside any scope (awaiting it when it is async), and restores the backend it started on. */
export async function forEachBackend(body: (backend: string) => void | Promise<void>): Promise<void> {
  const start = getBackend();
  try {
    for (const backend of ['wasm', 'cpu'] as const) {
      await setBackend(backend);
      await body(backend);
    }
  } finally {
    await setBackend(start);
  }
}

/** How many times each TF.js kernel runs during `fn` (a synchronous gradus call whose result is freed). */
export async function kernelCounts(fn: () => unknown): Promise<Map<string, number>> {
  const info = await tf.profile(() => {
    dispose(fn());
    return null as unknown as tf.Tensor;
  });
  const counts = new Map<string, number>();
  // gradus's own wasm kernels (GradusSin, GradusExp, ...) count as the TF.js kernel they replace.
  for (const k of info.kernels) {
    const name = k.name.replace(/^Gradus/, '');
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  return counts;
}

/** Same dtype, shape and bits (−0 and NaN payloads as themselves). */
export function sameBits(got: NDArray, want: NDArray): boolean {
  const g = got.dataSync(), w = want.dataSync();
  return got.dtype === want.dtype && got.shape.join(',') === want.shape.join(',') && g.length === w.length && Array.from(g).every((v, i) => Object.is(v, w[i]));
}

/** Tensor ids one call of `fn` takes (tensors made, freed or not); its result is disposed. */
export function tensorsMade(fn: () => unknown): number {
  const before = upcomingTensorId();
  const result = fn();
  const made = upcomingTensorId() - before;
  dispose(result);
  return made;
}

/** np.clip's values as max then min with IEEE semantics (Math's: NaN propagates, max(−0, +0) = +0, min(−0, +0) = −0) on float32 values; null: no bound. */
export function clipReference(v: number, lo: number | null, hi: number | null): number {
  let y = Math.fround(v);
  if (lo !== null) y = Math.max(y, Math.fround(lo));
  if (hi !== null) y = Math.min(y, Math.fround(hi));
  return y;
}

/** The same number, −0 apart from +0, any NaN equal to any NaN (bits aside). */
export function sameNumber(got: number, want: number): boolean {
  return Number.isNaN(want) ? Number.isNaN(got) : Object.is(got, want);
}

/**
 * Runs `body` with the mul kernel counting its calls in `fault.calls` and throwing
 * Error('injected') at call number `fault.throwAt` (0: never); the body sets both between runs.
 * The kernel is restored afterwards, also when the body throws.
 */
export function withFailingMul(body: (fault: { calls: number; throwAt: number }) => void): void {
  const original = kernels.mul;
  const fault = { calls: 0, throwAt: 0 };
  kernels.mul = (inputs, params) => {
    if (++fault.calls === fault.throwAt) throw new Error('injected');
    return original(inputs, params);
  };
  try {
    body(fault);
  } finally {
    kernels.mul = original;
  }
}

/**
 * Runs `call`, expects it to throw `Err` with a message matching `message`, to leave no tensors
 * behind, and the backend to work after it (an eager op and a jit program still run: a kernel asked
 * for too large a result once left wasm broken for every later op).
 */
export function refuses(call: () => unknown, Err: new (...a: never[]) => Error, message: RegExp): void {
  const before = numTensors();
  let thrown: unknown;
  try {
    scope(() => void call());
  } catch (e) {
    thrown = e;
  }
  expect(thrown, `expected ${message} to be thrown`).toBeInstanceOf(Err);
  expect((thrown as Error).message).toMatch(message);
  expect(numTensors() - before).toBe(0);
  noLeak(() => {
    expect(np.add(np.ones([3]), 1).toArray()).toEqual([2, 2, 2]);
    expect(jit((a: NDArray) => np.multiply(a, 2))(np.ones([2])).toArray()).toEqual([2, 2]);
  });
}

// gradus's own kernels for TF.js's wasm backend: comparisons, select, maximum/minimum, clamp, fill, axpy,
// tanh, exp, threefry, matrix products (GEMM) and transposes on float32, four lanes at a time (the module's text
// and why: src/wasm_kernels_wat.ts), and a gather and sin/cos as JS loops over the backend's memory. They run on
// the backend's own memory and are registered as TF.js kernels, so tidy, memory accounting and
// profiling see them like any other. Each entry point returns null where it does not apply (another
// backend, another dtype, a broadcast other than a single value, no SIMD) and the caller falls back
// to TF.js's kernel.
import * as tf from '@tensorflow/tfjs-core';
import { GradusError } from './errors.js';
import { shapesEqual, sizeOf } from './shape.js';
import { KERNELS_WASM_BASE64 } from './wasm_kernels_binary.js';
import { CLAMP_DTYPES, COMPARISONS, EXTREMA, type WasmComparison, type WasmExtremum } from './wasm_kernels_wat.js';

type BinaryFn = (a: number, b: number, out: number, n: number, aOne: number, bOne: number) => void;
type ClampFn = (lo: number, x: number, hi: number, out: number, n: number, loOne: number, hiOne: number) => void;
interface KernelExports {
  select_f32(c: number, a: number, b: number, out: number, n: number, aOne: number, bOne: number): void;
  fill_f32(out: number, n: number, value: number): void;
  axpy_f32(a: number, b: number, out: number, n: number, s: number): void;
  tanh_f32(x: number, out: number, n: number): void;
  exp_f32(x: number, out: number, n: number): void;
  threefry_bits(keys: number, nkeys: number, count: number, out: number, uniform: number): void;
  matmul_f32(a: number, b: number, c: number, batch: number, M: number, K: number, N: number, transA: number, kc: number, mc: number, pack: number, packBytes: number, bias: number, relu: number): void;
  matmul_nt_f32(a: number, b: number, c: number, batch: number, M: number, K: number, N: number): void;
  transpose_f32(x: number, out: number, rows: number, cols: number): void;
  sum_middle_f32(x: number, out: number, P: number, R: number, C: number): void;
  [name: string]: unknown;
}

/** The parts of TF.js's wasm backend these kernels use. */
interface WasmBackendLike {
  wasm: { asm?: { memory?: unknown }; _malloc(bytes: number): number };
  dataIdMap: { get(id: object): { memoryOffset: number } | undefined };
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
}

/** The scratch allocated for B's packed panels: a k block of 256 rows by 2048 columns. */
const GEMM_PACK_BYTES = 256 * 2048 * 4;

let compiled: WebAssembly.Module | null | undefined;
/** The module instantiated on one backend memory, with the GEMM's packing scratch allocated in it. */
interface KernelInstance {
  exports: KernelExports;
  /** Byte offset of GEMM_PACK_BYTES of scratch for B's packed panels (allocated once, kept). */
  pack: number;
}
const instances = new WeakMap<WebAssembly.Memory, KernelInstance>();

/**
 * GEMM blocking: k in blocks of `kc` (a packed 256 × 8 panel of B is 8 KiB, in L1), rows in blocks
 * of `mc` (C's block stays in L2 while the column panels sweep it), columns in blocks whose k block
 * of 8-column panels fits `packBytes` of scratch (2048 columns here), packed once per k block.
 * Chosen by timing 128×784·784×512, 128×512·512×512, their transposed-A counterparts and
 * 2048·256·2048; blocks of 128–512 and 32–128 were within 5 %. Tests shrink them to reach every
 * blocking path with small matrices.
 */
export const gemmBlocking = { kc: 256, mc: 64, packBytes: GEMM_PACK_BYTES };

function kernelModule(): WebAssembly.Module | null {
  if (compiled === undefined) {
    try {
      const bytes = Uint8Array.from(atob(KERNELS_WASM_BASE64), (ch) => ch.charCodeAt(0));
      compiled = new WebAssembly.Module(bytes);
    } catch {
      compiled = null; // no WebAssembly SIMD here: TF.js's kernels are used instead
    }
  }
  return compiled;
}

function instanceFor(backend: WasmBackendLike): KernelInstance {
  const memory = backend.wasm.asm?.memory as WebAssembly.Memory;
  let k = instances.get(memory);
  if (k === undefined) {
    const exports = new WebAssembly.Instance(kernelModule()!, { env: { memory } }).exports as unknown as KernelExports;
    k = { exports, pack: backend.wasm._malloc(GEMM_PACK_BYTES) >>> 0 };
    instances.set(memory, k);
  }
  return k;
}

/** True when the active backend is TF.js's wasm and our module can run on its memory. */
export function wasmKernelsAvailable(): boolean {
  if (tf.getBackend() !== 'wasm') return false;
  const backend = tf.backend() as unknown as Partial<WasmBackendLike>;
  // Once the instance's memory exists the answer is a property of the instance (its memory, its
  // build), asked once per kernel call: it is kept for the instance last asked about.
  if (backend === availabilityCheckedFor) return availableThere;
  const memory = backend.wasm?.asm?.memory;
  // The module imports an unshared memory; TF.js's threaded build shares its memory (and does not export it).
  const shared = typeof SharedArrayBuffer !== 'undefined' && memory instanceof WebAssembly.Memory && memory.buffer instanceof SharedArrayBuffer;
  const available = memory instanceof WebAssembly.Memory && !shared && backend.dataIdMap !== undefined && kernelModule() !== null;
  if (memory instanceof WebAssembly.Memory) {
    availabilityCheckedFor = backend;
    availableThere = available;
  }
  return available;
}
let availabilityCheckedFor: object | undefined;
let availableThere = false;

const offsetOf = (backend: WasmBackendLike, t: tf.TensorInfo): number => backend.dataIdMap.get(t.dataId)!.memoryOffset;

const KERNEL_PREFIX = 'Gradus';

/**
 * Registers `Gradus<name>` for the wasm backend: it makes a float32 or bool output of `attrs.shape`
 * (default: the first named input's shape) and, unless it is empty, calls `compute` with the module's
 * exports, the inputs' and output's offsets, and the element count.
 */
function register(name: string, dtype: tf.DataType, inputNames: readonly string[], compute: (k: KernelExports, inputs: number[], out: number, n: number, args: { inputs: tf.TensorInfo[]; attrs: Record<string, unknown>; pack: number; heap: ArrayBuffer }) => void): void {
  const kernelName = KERNEL_PREFIX + name;
  if (tf.getKernel(kernelName, 'wasm') !== undefined) return;
  const kernelFunc = ({ inputs, backend, attrs }: { inputs: tf.NamedTensorInfoMap; backend: WasmBackendLike; attrs: Record<string, unknown> }): tf.TensorInfo => {
    const ins = inputNames.map((i) => inputs[i]!);
    const shape = (attrs.shape as number[] | undefined) ?? [...ins[0]!.shape];
    const out = backend.makeOutput(shape, dtype);
    const n = sizeOf(shape);
    if (n > 0) {
      const { exports, pack } = instanceFor(backend);
      compute(exports, ins.map((t) => offsetOf(backend, t)), offsetOf(backend, out), n, { inputs: ins, attrs, pack, heap: (backend.wasm.asm!.memory as WebAssembly.Memory).buffer });
    }
    return out;
  };
  tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc: kernelFunc as unknown as tf.KernelFunc });
}

/** Dtypes wasmUninitialized makes (the wasm backend stores them unpacked: 4 bytes, or 1 for bool). */
const STACKABLE_DTYPES = ['float32', 'int32', 'bool'] as const;
type StackableDtype = (typeof STACKABLE_DTYPES)[number];

/** 1 where `t` is a single value broadcast over n > 1 elements (the kernels' aOne/bOne flags). */
const single = (t: tf.TensorInfo, n: number): number => (sizeOf(t.shape) === 1 && n > 1 ? 1 : 0);

export type WasmBinaryOp = WasmComparison | WasmExtremum;
for (const [ops, dtype, exportOf] of [[COMPARISONS, 'bool', (op: string) => `cmp_${op}_f32`], [EXTREMA, 'float32', (op: string) => `${op}_f32`]] as const) {
  for (const op of ops) {
    register(op, dtype, ['a', 'b'], (k, [a, b], out, n, { inputs }) => (k[exportOf(op)] as BinaryFn)(a!, b!, out, n, single(inputs[0]!, n), single(inputs[1]!, n)));
  }
}
// min(max(x, lo), hi) on float32 or int32, lo and hi each full-size or a single value.
for (const t of CLAMP_DTYPES) {
  const dtype = t === 'f32' ? 'float32' : 'int32';
  register(`Clamp_${dtype}`, dtype, ['lo', 'x', 'hi'], (k, [lo, x, hi], out, n, { inputs }) =>
    (k[`clamp_${t}`] as ClampFn)(lo!, x!, hi!, out, n, single(inputs[0]!, n), single(inputs[2]!, n)));
}
register('Select', 'float32', ['c', 'a', 'b'], (k, [c, a, b], out, n, { inputs }) => k.select_f32(c!, a!, b!, out, n, single(inputs[1]!, n), single(inputs[2]!, n)));
register('Fill', 'float32', [], (k, _, out, n, { attrs }) => k.fill_f32(out, n, attrs.value as number));
register('Axpy', 'float32', ['a', 'b'], (k, [a, b], out, n, { attrs }) => k.axpy_f32(a!, b!, out, n, attrs.scale as number));
register('Tanh', 'float32', ['x'], (k, [x], out, n) => k.tanh_f32(x!, out, n));
register('Exp', 'float32', ['x'], (k, [x], out, n) => k.exp_f32(x!, out, n));
// sin and cos with JS's Math (float64, then rounded), reading and writing the backend's memory in
// place: TF.js's wasm Sin is off by ~1.7e-7 for every negative input (sin(−1e-8) = +1.7e-7, so sin
// was not odd) and Cos as much near its zeros; this loop is faster than those kernels too.
for (const [name, f] of [['Sin', Math.sin], ['Cos', Math.cos]] as const) {
  register(name, 'float32', ['x'], (_k, [x], out, n, { heap }) => {
    const src = new Float32Array(heap, x!, n), dst = new Float32Array(heap, out, n);
    for (let i = 0; i < n; i++) dst[i] = f(src[i]!);
  });
}
// `count` threefry words (or uniform floats) per key of a [..., 2] int32 key array.
for (const [name, dtype, uniform] of [['ThreefryBits', 'int32', 0], ['ThreefryUniform', 'float32', 1]] as const) {
  register(name, dtype, ['key'], (k, [key], out, n, { attrs }) => {
    const count = attrs.count as number;
    k.threefry_bits(key!, n / count, count, out, uniform);
  });
}
// out[b] = op(a[b])·b[b] for each of `batch` products: a stored (M, K), or (K, M) when transA; b (K, N);
// MatMulBias adds a bias of N values to every row, and both apply relu when attrs.relu.
type MatMulAttrs = { batch: number; M: number; K: number; N: number; transA: boolean; relu: boolean };
const matmul = (k: KernelExports, a: number, b: number, bias: number, out: number, attrs: MatMulAttrs, pack: number) => {
  const { kc, mc } = gemmBlocking;
  if (!(Number.isInteger(kc) && Number.isInteger(mc) && kc >= 1 && mc >= 1)) throw new GradusError(`gemmBlocking: kc and mc must be positive integers, got kc ${kc}, mc ${mc}`);
  const packBytes = Math.min(gemmBlocking.packBytes, GEMM_PACK_BYTES);
  // (packing needs room for at least one panel of a k block)
  k.matmul_f32(a, b, out, attrs.batch, attrs.M, attrs.K, attrs.N, attrs.transA ? 1 : 0, kc, mc, packBytes >= kc * 32 ? pack : 0, packBytes, bias, attrs.relu ? 1 : 0);
};
register('MatMul', 'float32', ['a', 'b'], (k, [a, b], out, _n, { attrs, pack }) => matmul(k, a!, b!, 0, out, attrs as MatMulAttrs, pack));
register('MatMulBias', 'float32', ['a', 'b', 'bias'], (k, [a, b, bias], out, _n, { attrs, pack }) => matmul(k, a!, b!, bias!, out, attrs as MatMulAttrs, pack));
// out[b] = a[b]·b[b]ᵀ with a (M, K) and b (N, K).
register('MatMulNT', 'float32', ['a', 'b'], (k, [a, b], out, _n, { attrs }) => {
  const { batch, M, K, N } = attrs as MatMulAttrs;
  k.matmul_nt_f32(a!, b!, out, batch, M, K, N);
});
// Σ over the middle axis of [P, R, C] float32, as [P, C].
register('SumMiddle', 'float32', ['x'], (k, [x], out, _n, { attrs }) => {
  const { P, R, C } = attrs as { P: number; R: number; C: number };
  k.sum_middle_f32(x!, out, P, R, C);
});
// The last two axes of each of `batch` (rows, cols) matrices swapped; 32-bit elements of any dtype.
for (const dtype of ['float32', 'int32'] as const) {
  register(`Transpose_${dtype}`, dtype, ['x'], (k, [x], out, _n, { attrs }) => {
    const { batch, rows, cols } = attrs as { batch: number; rows: number; cols: number };
    for (let i = 0; i < batch; i++) k.transpose_f32(x! + 4 * i * rows * cols, out + 4 * i * rows * cols, rows, cols);
  });
}

// x gathered along an axis at clamped int32 indices, for 4-byte dtypes: a JS loop over the backend's
// memory that copies bits (−0 and NaN payloads kept). TF.js's wasm gather takes a generic strided
// path, 70–80 ms for 10⁶ one-element rows (np.at's traced updates end with one); this, ~2 ms. A
// loop here, not in the module: it does no arithmetic for SIMD to speed up.
/** dst[p, j, :] = src[p, clamp(at[j]), :] for p < pre: one element at a time when post is 1 (its own loop, kept monomorphic for V8). */
function gatherRows(src: Int32Array, at: Int32Array, dst: Int32Array, pre: number, n: number, post: number): void {
  const m = at.length, last = n - 1;
  if (post === 1) {
    for (let p = 0, o = 0; p < pre; p++) {
      const base = p * n;
      for (let j = 0; j < m; j++, o++) {
        const i = at[j]! | 0;
        dst[o] = src[base + (i < 0 ? 0 : i > last ? last : i)]!;
      }
    }
    return;
  }
  for (let p = 0, o = 0; p < pre; p++) {
    for (let j = 0; j < m; j++, o += post) {
      const i = at[j]!, k = p * n + (i < 0 ? 0 : i > last ? last : i);
      dst.set(src.subarray(k * post, (k + 1) * post), o);
    }
  }
}
for (const dtype of ['float32', 'int32'] as const) {
  register(`Gather_${dtype}`, dtype, ['x', 'idx'], (_k, [x, idx], out, size, { attrs, heap }) => {
    const { pre, n, post, m } = attrs as { pre: number; n: number; post: number; m: number };
    gatherRows(new Int32Array(heap, x!, pre * n * post), new Int32Array(heap, idx!, m), new Int32Array(heap, out, size), pre, n, post);
  });
}

// An array whose elements the caller writes before anyone reads it (wasmWriteSlice): no pass over it.
for (const dtype of STACKABLE_DTYPES) register(`Uninitialized_${dtype}`, dtype, [], () => {});

const run = (name: string, inputs: tf.NamedTensorMap, attrs: Record<string, unknown> = {}): tf.Tensor =>
  tf.engine().runKernel(KERNEL_PREFIX + name, inputs, attrs as never) as tf.Tensor;

/** `t` is a single value that broadcasts to `shape` (its rank is not higher), or has exactly `shape`. */
const fits = (t: tf.Tensor, shape: readonly number[]): boolean => (t.size === 1 ? t.rank <= shape.length : shapesEqual(t.shape, shape));

/**
 * a OP b (comparisons give bool; maximum/minimum propagate NaN) for float32 operands of one shape,
 * either of which may be a single value, or null.
 */
export function wasmBinary(op: WasmBinaryOp, a: tf.Tensor, b: tf.Tensor): tf.Tensor | null {
  if (a.dtype !== 'float32' || b.dtype !== 'float32' || !wasmKernelsAvailable()) return null;
  const shape = a.size === 1 && b.rank > a.rank ? b.shape : b.size === 1 ? a.shape : b.shape;
  return fits(a, shape) && fits(b, shape) ? run(op, { a, b }, { shape: [...shape] }) : null;
}

/**
 * min(max(x, lo), hi) in one pass for float32 or int32 operands of one dtype: x of the output's
 * shape, lo and hi each of that shape or a single value; or null.
 */
export function wasmClamp(lo: tf.Tensor, x: tf.Tensor, hi: tf.Tensor): tf.Tensor | null {
  if ((x.dtype !== 'float32' && x.dtype !== 'int32') || lo.dtype !== x.dtype || hi.dtype !== x.dtype || !wasmKernelsAvailable()) return null;
  return fits(lo, x.shape) && fits(hi, x.shape) ? run(`Clamp_${x.dtype}`, { lo, x, hi }, { shape: [...x.shape] }) : null;
}

/** c ? a : b for a bool condition of the output's shape and float32 a, b (or single values), or null. */
export function wasmSelect(c: tf.Tensor, a: tf.Tensor, b: tf.Tensor): tf.Tensor | null {
  if (c.dtype !== 'bool' || a.dtype !== 'float32' || b.dtype !== 'float32' || !wasmKernelsAvailable()) return null;
  return fits(a, c.shape) && fits(b, c.shape) ? run('Select', { c, a, b }, { shape: [...c.shape] }) : null;
}

/** A float32 array of `shape` filled with `value`, or null. */
export function wasmFill(shape: readonly number[], value: number): tf.Tensor | null {
  return wasmKernelsAvailable() ? run('Fill', {}, { shape: [...shape], value }) : null;
}

/** a + s·b for float32 a, b of one shape, in one pass, or null. */
export function wasmAxpy(a: tf.Tensor, b: tf.Tensor, s: number): tf.Tensor | null {
  if (a.dtype !== 'float32' || b.dtype !== 'float32' || !shapesEqual(a.shape, b.shape) || !wasmKernelsAvailable()) return null;
  return run('Axpy', { a, b }, { scale: s });
}

/** tanh of a float32 array (within 4 ulp; exact near 0, ±1 beyond 9), or null. */
export function wasmTanh(x: tf.Tensor): tf.Tensor | null {
  return x.dtype === 'float32' && wasmKernelsAvailable() ? run('Tanh', { x }) : null;
}

/** sin or cos of a float32 array, within 1 ulp (Math's), or null. */
export function wasmTrig(which: 'Sin' | 'Cos', x: tf.Tensor): tf.Tensor | null {
  return x.dtype === 'float32' && wasmKernelsAvailable() ? run(which, { x }) : null;
}

/** exp of a float32 array (within 2 ulp; subnormal results included, +∞ past 88.72), or null. */
export function wasmExp(x: tf.Tensor): tf.Tensor | null {
  return x.dtype === 'float32' && wasmKernelsAvailable() ? run('Exp', { x }) : null;
}

/**
 * Threefry-2x32 draws from a [..., 2] int32 array of keys, `count` per key, as random bits
 * (int32) or uniform floats in [0, 1): bit for bit src/random/threefry.ts, or null.
 */
export function wasmThreefry(key: tf.Tensor, count: number, uniform: boolean, shape: readonly number[] = [...key.shape.slice(0, -1), count]): tf.Tensor | null {
  if (key.dtype !== 'int32' || key.shape[key.rank - 1] !== 2 || count === 0 || !wasmKernelsAvailable()) return null;
  if (sizeOf(shape) !== sizeOf(key.shape.slice(0, -1)) * count) throw new GradusError(`wasmThreefry: shape ${JSON.stringify(shape)} does not hold ${count} draws for each key of ${JSON.stringify(key.shape)}`);
  return run(uniform ? 'ThreefryUniform' : 'ThreefryBits', { key }, { shape: [...shape], count });
}

/** What the GEMM does to its result before storing it: a bias of N float32 values added to every row, then relu. */
export interface MatMulEpilogue {
  bias?: tf.Tensor;
  relu?: boolean;
}

/** The product's sizes and operand layouts: a is (M, K), or (K, M) when transA; b is (K, N), or (N, K) when transB (not both). */
export interface MatMulDims {
  batch: number | null;
  M: number;
  K: number;
  N: number;
  transA: boolean;
  transB?: boolean;
}

/**
 * op(a)·op(b) for float32 operands laid out as `dims` says, with a leading batch axis unless
 * `batch` is null, as (batch, M, N), with the epilogue applied (not with transB); or null (also for
 * K = 0). Runs
 * gradus's GEMM: operands read in place, no packing of b into a cache.
 */
export function wasmMatMul(a: tf.Tensor, b: tf.Tensor, dims: MatMulDims, epilogue: MatMulEpilogue = {}): tf.Tensor | null {
  const { bias, relu = false } = epilogue;
  if (a.dtype !== 'float32' || b.dtype !== 'float32' || (bias !== undefined && bias.dtype !== 'float32') || !wasmKernelsAvailable()) return null;
  const { batch, M, K, N, transA, transB = false } = dims;
  if (K === 0) return null; // (the tiles run their k loop at least once; an empty sum is the caller's zeros)
  const valid = isMatrixStack(a.shape, batch, transA ? K : M, transA ? M : K) && isMatrixStack(b.shape, batch, transB ? N : K, transB ? K : N) &&
    (bias === undefined || bias.size === N) && !(transB && (transA || bias !== undefined || relu));
  if (!valid) {
    throw new GradusError(`wasmMatMul: operands ${JSON.stringify(a.shape)} and ${JSON.stringify(b.shape)}${bias ? ` with bias ${JSON.stringify(bias.shape)}` : ''} do not match ${JSON.stringify(dims)}${relu ? ' with relu' : ''} (transposed b takes no transposed a and no epilogue)`);
  }
  const attrs = { shape: batch === null ? [M, N] : [batch, M, N], batch: batch ?? 1, M, K, N, transA, relu };
  if (transB) return run('MatMulNT', { a, b }, attrs);
  return bias === undefined ? run('MatMul', { a, b }, attrs) : run('MatMulBias', { a, b, bias }, attrs);
}

/** Whether `shape` is (rows, cols), or (batch, rows, cols) where `batch` is not null. */
function isMatrixStack(shape: readonly number[], batch: number | null, rows: number, cols: number): boolean {
  return batch === null
    ? shape.length === 2 && shape[0] === rows && shape[1] === cols
    : shape.length === 3 && shape[0] === batch && shape[1] === rows && shape[2] === cols;
}

/** Σ over the middle axis of a float32 [P, R, C] array (R ≥ 1), as [P, C], or null. */
export function wasmSumMiddle(x: tf.Tensor): tf.Tensor | null {
  if (x.dtype !== 'float32' || x.rank !== 3 || x.shape[1] === 0 || !wasmKernelsAvailable()) return null;
  const [P, R, C] = x.shape as [number, number, number];
  return run('SumMiddle', { x }, { shape: [P, C], P, R, C });
}

/** x with its last two axes swapped (a float32 or int32 array of rank ≥ 2), or null. */
export function wasmTransposeLastTwo(x: tf.Tensor): tf.Tensor | null {
  if ((x.dtype !== 'float32' && x.dtype !== 'int32') || x.rank < 2 || !wasmKernelsAvailable()) return null;
  const rows = x.shape[x.rank - 2]!, cols = x.shape[x.rank - 1]!;
  const batch = sizeOf(x.shape.slice(0, -2));
  return run(`Transpose_${x.dtype}`, { x }, { shape: [...x.shape.slice(0, -2), cols, rows], batch, rows, cols });
}

/**
 * x gathered along `axis` at int32 `idx` (out-of-range indices clamped into the axis, as callers
 * already clamp them) for float32 or int32 x with a non-empty axis, as tf.gather shapes it; or null.
 */
export function wasmGather(x: tf.Tensor, idx: tf.Tensor, axis: number): tf.Tensor | null {
  if ((x.dtype !== 'float32' && x.dtype !== 'int32') || idx.dtype !== 'int32' || !(x.shape[axis]! > 0) || !wasmKernelsAvailable()) return null;
  const pre = sizeOf(x.shape.slice(0, axis)), post = sizeOf(x.shape.slice(axis + 1));
  return run(`Gather_${x.dtype}`, { x, idx }, { shape: [...x.shape.slice(0, axis), ...idx.shape, ...x.shape.slice(axis + 1)], pre, n: x.shape[axis]!, post, m: idx.size });
}

/**
 * A new array of `shape` whose elements are not set, for the caller to fill with wasmWriteSlice
 * before it is read (scan writes each step's y into its stacked output), or null.
 */
export function wasmUninitialized(shape: readonly number[], dtype: tf.DataType): tf.Tensor | null {
  if (!(STACKABLE_DTYPES as readonly string[]).includes(dtype) || !wasmKernelsAvailable()) return null;
  return run(`Uninitialized_${dtype as StackableDtype}`, {}, { shape: [...shape] });
}

/**
 * Slice `index` (along axis 0) of `src`, without that axis, as a new tensor copied in the backend's
 * memory (no Slice and Reshape kernels, no tidy scope: a scan reads one per scanned input per step);
 * null where wasmUninitialized cannot make the result (another backend, another dtype).
 */
export function wasmReadSlice(src: tf.Tensor, index: number): tf.Tensor | null {
  if (!(index >= 0 && index < src.shape[0]!)) throw new GradusError(`wasmReadSlice: index ${index} is outside axis 0 of ${src.dtype}${JSON.stringify(src.shape)}`);
  const dst = wasmUninitialized(src.shape.slice(1), src.dtype);
  if (dst === null) return null;
  const bytes = dst.size * tf.util.bytesPerElement(dst.dtype);
  copyInHeap(src, index * bytes, dst, 0, bytes);
  return dst;
}

/** Copies `bytes` bytes from `src` at byte `srcAt` to `dst` at byte `dstAt`, in the wasm backend's memory. */
function copyInHeap(src: tf.Tensor, srcAt: number, dst: tf.Tensor, dstAt: number, bytes: number): void {
  if (bytes === 0) return;
  const backend = tf.backend() as unknown as WasmBackendLike;
  const from = offsetOf(backend, src) + srcAt, to = offsetOf(backend, dst) + dstAt;
  // (the heap's buffer is fetched now: it is replaced whenever the memory grows, as making dst may have)
  new Uint8Array((backend.wasm.asm!.memory as WebAssembly.Memory).buffer).copyWithin(to, from, from + bytes);
}

/**
 * Copies `src` over slice `index` (along axis 0) of `dst`, in the backend's memory. This writes
 * into an existing tensor, which TF.js arrays never see happen: `dst` must come from
 * wasmUninitialized and be held by no one but the caller until it is filled.
 */
export function wasmWriteSlice(dst: tf.Tensor, index: number, src: tf.Tensor): void {
  if (src.dtype !== dst.dtype || !shapesEqual(dst.shape.slice(1), src.shape) || !(index >= 0 && index < dst.shape[0]!)) {
    throw new GradusError(`wasmWriteSlice: a ${src.dtype}${JSON.stringify(src.shape)} slice does not fit at index ${index} of ${dst.dtype}${JSON.stringify(dst.shape)}`);
  }
  const bytes = src.size * tf.util.bytesPerElement(src.dtype);
  copyInHeap(src, 0, dst, index * bytes, bytes);
}

// gradus's own kernels for TF.js's wasm backend: comparisons, select, maximum/minimum, fill, axpy and tanh on
// float32, four lanes at a time (the module's text and why: src/wasm_kernels_wat.ts). They run on
// the backend's own memory and are registered as TF.js kernels, so tidy, memory accounting and
// profiling see them like any other. Each entry point returns null where it does not apply (another
// backend, another dtype, a broadcast other than a single value, no SIMD) and the caller falls back
// to TF.js's kernel.
import * as tf from '@tensorflow/tfjs-core';
import { KERNELS_WASM_BASE64 } from './wasm_kernels_binary.js';
import { COMPARISONS, EXTREMA, type WasmComparison, type WasmExtremum } from './wasm_kernels_wat.js';

type BinaryFn = (a: number, b: number, out: number, n: number, aOne: number, bOne: number) => void;
interface KernelExports {
  select_f32(c: number, a: number, b: number, out: number, n: number, aOne: number, bOne: number): void;
  fill_f32(out: number, n: number, value: number): void;
  axpy_f32(a: number, b: number, out: number, n: number, s: number): void;
  tanh_f32(x: number, out: number, n: number): void;
  [name: string]: unknown;
}

/** The parts of TF.js's wasm backend these kernels use. */
interface WasmBackendLike {
  wasm: { asm?: { memory?: unknown } };
  dataIdMap: { get(id: object): { memoryOffset: number } | undefined };
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
}

let compiled: WebAssembly.Module | null | undefined;
const instances = new WeakMap<WebAssembly.Memory, KernelExports>();

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

function kernelsFor(backend: WasmBackendLike): KernelExports {
  const memory = backend.wasm.asm?.memory as WebAssembly.Memory;
  let k = instances.get(memory);
  if (k === undefined) {
    k = new WebAssembly.Instance(kernelModule()!, { env: { memory } }).exports as unknown as KernelExports;
    instances.set(memory, k);
  }
  return k;
}

/** True when the active backend is TF.js's wasm and our module can run on its memory. */
function available(): boolean {
  if (tf.getBackend() !== 'wasm') return false;
  const backend = tf.backend() as unknown as Partial<WasmBackendLike>;
  const memory = backend.wasm?.asm?.memory;
  // The module imports an unshared memory; TF.js's threaded build shares its memory (and does not export it).
  const shared = typeof SharedArrayBuffer !== 'undefined' && memory instanceof WebAssembly.Memory && memory.buffer instanceof SharedArrayBuffer;
  return memory instanceof WebAssembly.Memory && !shared && backend.dataIdMap !== undefined && kernelModule() !== null;
}

const offsetOf = (backend: WasmBackendLike, t: tf.TensorInfo): number => backend.dataIdMap.get(t.dataId)!.memoryOffset;
const size = (shape: readonly number[]): number => shape.reduce((p, d) => p * d, 1);

const KERNEL_PREFIX = 'Gradus';
const registered = new Set<string>();

function register(name: string, kernelFunc: (args: { inputs: tf.NamedTensorInfoMap; backend: WasmBackendLike; attrs: Record<string, unknown> }) => tf.TensorInfo): void {
  const kernelName = KERNEL_PREFIX + name;
  if (registered.has(kernelName)) return;
  registered.add(kernelName);
  if (tf.getKernel(kernelName, 'wasm') === undefined) {
    tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc: kernelFunc as unknown as tf.KernelFunc });
  }
}

/** Output shape for two operands where each is the full shape or a single value; null otherwise. */
function pairShape(a: tf.Tensor, b: tf.Tensor): number[] | null {
  if (a.size === 1 && b.size === 1) return a.rank >= b.rank ? [...a.shape] : [...b.shape];
  if (b.size === 1 && b.rank <= a.rank) return [...a.shape];
  if (a.size === 1 && a.rank <= b.rank) return [...b.shape];
  return a.rank === b.rank && a.shape.every((d, i) => d === b.shape[i]) ? [...a.shape] : null;
}

function binary(name: string, outDtype: tf.DataType): void {
  register(name, ({ inputs, backend, attrs }) => {
    const { a, b } = inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    const shape = attrs.shape as number[];
    const out = backend.makeOutput(shape, outDtype);
    const n = size(shape);
    if (n > 0) {
      const fn = kernelsFor(backend)[`${name === 'max' || name === 'min' ? name : `cmp_${name}`}_f32`] as BinaryFn;
      fn(offsetOf(backend, a), offsetOf(backend, b), offsetOf(backend, out), n, size(a.shape) === 1 && n > 1 ? 1 : 0, size(b.shape) === 1 && n > 1 ? 1 : 0);
    }
    return out;
  });
}

for (const op of COMPARISONS) binary(op, 'bool');
for (const op of EXTREMA) binary(op, 'float32');

register('Select', ({ inputs, backend, attrs }) => {
  const { c, a, b } = inputs as { c: tf.TensorInfo; a: tf.TensorInfo; b: tf.TensorInfo };
  const shape = attrs.shape as number[];
  const out = backend.makeOutput(shape, 'float32');
  const n = size(shape);
  if (n > 0) {
    kernelsFor(backend).select_f32(offsetOf(backend, c), offsetOf(backend, a), offsetOf(backend, b), offsetOf(backend, out), n,
      size(a.shape) === 1 && n > 1 ? 1 : 0, size(b.shape) === 1 && n > 1 ? 1 : 0);
  }
  return out;
});

register('Fill', ({ backend, attrs }) => {
  const shape = attrs.shape as number[];
  const out = backend.makeOutput(shape, 'float32');
  const n = size(shape);
  if (n > 0) kernelsFor(backend).fill_f32(offsetOf(backend, out), n, attrs.value as number);
  return out;
});

register('Axpy', ({ inputs, backend, attrs }) => {
  const { a, b } = inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const out = backend.makeOutput([...a.shape], 'float32');
  const n = size(a.shape);
  if (n > 0) kernelsFor(backend).axpy_f32(offsetOf(backend, a), offsetOf(backend, b), offsetOf(backend, out), n, attrs.scale as number);
  return out;
});

register('Tanh', ({ inputs, backend }) => {
  const { x } = inputs as { x: tf.TensorInfo };
  const out = backend.makeOutput([...x.shape], 'float32');
  const n = size(x.shape);
  if (n > 0) kernelsFor(backend).tanh_f32(offsetOf(backend, x), offsetOf(backend, out), n);
  return out;
});

const run = (name: string, inputs: tf.NamedTensorMap, attrs: Record<string, unknown>): tf.Tensor =>
  tf.engine().runKernel(KERNEL_PREFIX + name, inputs, attrs as never) as tf.Tensor;

/** a OP b for float32 operands of one shape (either may be a single value), or null. */
export function wasmCompare(op: WasmComparison, a: tf.Tensor, b: tf.Tensor): tf.Tensor | null {
  if (a.dtype !== 'float32' || b.dtype !== 'float32' || !available()) return null;
  const shape = pairShape(a, b);
  return shape === null ? null : run(op, { a, b }, { shape });
}

/** NaN-propagating maximum/minimum of float32 operands of one shape (or a single value), or null. */
export function wasmExtremum(op: WasmExtremum, a: tf.Tensor, b: tf.Tensor): tf.Tensor | null {
  if (a.dtype !== 'float32' || b.dtype !== 'float32' || !available()) return null;
  const shape = pairShape(a, b);
  return shape === null ? null : run(op, { a, b }, { shape });
}

/** c ? a : b for a bool condition of the output's shape and float32 a, b (or single values), or null. */
export function wasmSelect(c: tf.Tensor, a: tf.Tensor, b: tf.Tensor): tf.Tensor | null {
  if (c.dtype !== 'bool' || a.dtype !== 'float32' || b.dtype !== 'float32' || !available()) return null;
  const ab = pairShape(a, b);
  if (ab === null) return null;
  const fits = (t: tf.Tensor) => t.size === 1 ? t.rank <= c.rank : t.rank === c.rank && t.shape.every((d, i) => d === c.shape[i]);
  if (!fits(a) || !fits(b)) return null;
  return run('Select', { c, a, b }, { shape: [...c.shape] });
}

/** A float32 array of `shape` filled with `value`, or null. */
export function wasmFill(shape: readonly number[], value: number): tf.Tensor | null {
  if (!available()) return null;
  return run('Fill', {}, { shape: [...shape], value });
}

/** a + s·b for float32 a, b of one shape, in one pass, or null. */
export function wasmAxpy(a: tf.Tensor, b: tf.Tensor, s: number): tf.Tensor | null {
  if (a.dtype !== 'float32' || b.dtype !== 'float32' || a.rank !== b.rank || !a.shape.every((d, i) => d === b.shape[i]) || !available()) return null;
  return run('Axpy', { a, b }, { scale: s });
}

/** tanh of a float32 array (within 3 ulp; exact at 0, ±1 beyond 9), or null. */
export function wasmTanh(x: tf.Tensor): tf.Tensor | null {
  if (x.dtype !== 'float32' || !available()) return null;
  return run('Tanh', { x }, {});
}

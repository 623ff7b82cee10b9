// Concrete implementations: each primitive as TF.js kernels. This is the only place gradus calls
// TF.js math. Lowering is backend-aware: on wasm, `dot_general` runs on gradus's own GEMM, which
// reads transposed operands in place (TF.js's transposed matmul runs ~13-25x slower than its plain
// one there, and packs every new right operand), and transposes run on gradus's SIMD transpose.
import * as tf from '@tensorflow/tfjs-core';
import { GradusError } from './errors.js';
import { adjugateStack, adjugateTangentStack, choleskyStack, detStack, inverseStack, slogdetStack, solveStack, triangularSolveStack } from './linalg_kernels.js';
import { adjugateSecondTangentStack } from './adjugate_second_tangent.js';
import { qrStack } from './linalg_kernels.js';
import type { BinaryPrimitive, ComparisonPrimitive, ParamsOf, Primitive, UnaryPrimitive } from './primitives.js';
import { eigvalshStack } from './eigvalsh_kernel.js';
import { eighStack, svdStack } from './spectral_kernels.js';
import { randomKernel, splitKernel, foldInKernel } from './random/kernels.js';
import { isIdentityPerm, shapesEqual } from './shape.js';
import { sortRows } from './sort_kernels.js';
import { digamma, erf, erfc, exp2, lgamma, ndtr, ndtri, polygamma } from './special.js';
import { wasmBinary, wasmClamp, wasmExp, wasmFill, wasmGather, wasmKernelsAvailable, wasmMatMul, wasmSelect, wasmSumMiddle, wasmTanh, wasmTransposeLastTwo, wasmTrig, type WasmBinaryOp } from './wasm_kernels.js';

export type Kernel<P extends Primitive> = (inputs: tf.Tensor[], params: ParamsOf<P>) => tf.Tensor[];

const unaryKernels: Record<UnaryPrimitive, (x: tf.Tensor) => tf.Tensor> = {
  neg: tf.neg, sin: (x) => wasmTrig('Sin', x) ?? tf.sin(x), cos: (x) => wasmTrig('Cos', x) ?? tf.cos(x), tan: tf.tan, asin: tf.asin, acos: tf.acos, atan: tf.atan,
  sinh: tf.sinh, cosh: tf.cosh, asinh: tf.asinh, exp: (x) => wasmExp(x) ?? tf.exp(x), log: tf.log, log1p: accurateLog1p, expm1: tf.expm1,
  tanh: (x) => wasmTanh(x) ?? tf.tanh(x), logistic: tf.sigmoid, sqrt: tf.sqrt, rsqrt: tf.rsqrt, erf: float64Unary(erf), erfc: float64Unary(erfc), ndtr: float64Unary(ndtr), ndtri: float64Unary(ndtri),
  exp2: float64Unary(exp2), lgamma: float64Unary(lgamma), digamma: float64Unary(digamma), relu: reluKernel, abs: tf.abs,
  sign: exactSign, floor: tf.floor, ceil: tf.ceil, round: roundHalfEven,
};

/**
 * A float32 elementwise function computed in float64 JS and rounded once (TF.js has no Φ, Φ⁻¹ or
 * erfc, and building them from float32 erf loses the tails: 1/2·(1 + erf(−6/√2)) is 0 in float32;
 * its erf has an absolute error near 1e-9, so no relative precision near 0; and its exp(x·ln 2) is
 * off by up to 34 ulp where 2^x is an exact power of two, 63 elsewhere).
 */
function float64Unary(f: (v: number) => number): (x: tf.Tensor) => tf.Tensor {
  return (x) => {
    const data = x.dataSync() as Float32Array;
    const out = new Float32Array(data.length);
    for (let i = 0; i < data.length; i++) out[i] = f(data[i]!);
    return tf.tensor(out, x.shape, 'float32');
  };
}

/** ψ⁽ⁿ⁾(x) in float64, rounded once: n int32 and x float32 broadcast against each other (one order: a unary map). */
function polygammaKernel(n: tf.Tensor, x: tf.Tensor): tf.Tensor {
  const shape = tf.broadcast_util.assertAndGetBroadcastShape(n.shape, x.shape);
  return tf.tidy(() => {
    const xs = broadcastTensor(x, shape);
    if (n.size === 1) {
      const order = (n.dataSync() as Int32Array)[0]!;
      return float64Unary((v) => polygamma(order, v))(xs);
    }
    const orders = broadcastTensor(n, shape).dataSync() as Int32Array;
    const data = xs.dataSync() as Float32Array;
    const out = new Float32Array(data.length);
    for (let i = 0; i < data.length; i++) out[i] = polygamma(orders[i]!, data[i]!);
    return tf.tensor(out, shape, 'float32');
  });
}

/**
 * relu, with the values of where(x <= 0, 0, x): +0 for −0 and NaN for every NaN. On wasm that is
 * gradus's max(x, +0) (TF.js's wasm Relu turns NaNs with the sign bit set, which is every NaN that
 * wasm arithmetic makes, into 0); on cpu TF.js's Relu, which keeps them (checked by the jit tests);
 * elsewhere (webgl's Relu keeps −0) and for ints the select itself.
 */
function reluKernel(x: tf.Tensor): tf.Tensor {
  const backend = tf.getBackend();
  const zero = tf.scalar(0, x.dtype);
  try {
    const own = backend === 'wasm' ? wasmBinary('max', x, zero) : null;
    if (own) return own;
    if (backend === 'cpu' && x.dtype === 'float32') return tf.relu(x);
    return tf.tidy(() => kernels.select([comparisonKernels.le(x, zero), zero, x], {} as never)[0]!);
  } finally {
    zero.dispose();
  }
}

/**
 * clamp (np.clip): min(max(x, lo), hi) in one kernel, with max-then-min's values bit for bit on
 * each backend: NaN in any operand propagates (with the NaN bits max then min give there),
 * max(−0, +0) = +0 and min(−0, +0) = −0, lo > hi gives hi. On wasm gradus's SIMD kernel (the max
 * and min kernels' instructions in one pass; TF.js's ClipByValue, XNNPACK's clamp, returns lo for
 * NaN); on cpu a loop of Math.max then Math.min, which is what cpu's Maximum and Minimum compute
 * (their NaN is JS's canonical one, where cpu's ClipByValue passes x's NaN bits through and gives
 * x's −0 where lo is +0); elsewhere max then min. Operands share a dtype (float32 or int32) and a
 * rank; size-1 dimensions broadcast (x is broadcast to the output first, lo and hi only when they
 * are not single values).
 */
function clampKernel(lo: tf.Tensor, x: tf.Tensor, hi: tf.Tensor): tf.Tensor {
  const shape = [lo.shape, x.shape, hi.shape].reduce((a, b) => tf.broadcast_util.assertAndGetBroadcastShape(a, b));
  const backend = tf.getBackend();
  if ((backend === 'wasm' && wasmKernelsAvailable()) || backend === 'cpu') {
    const fit = (t: tf.Tensor) => (t.size === 1 ? t : broadcastTensor(t, shape));
    const [l, v, h] = [fit(lo), broadcastTensor(x, shape), fit(hi)];
    const own = backend === 'wasm' ? wasmClamp(l, v, h) : (tf.engine().runKernel('GradusClamp', { lo: l, x: v, hi: h }, { shape } as never) as tf.Tensor);
    if (own) return own;
  }
  return binaryKernels.min(binaryKernels.max(x, lo), hi);
}

/** The parts of TF.js's cpu backend gradus's cpu loops use. */
interface CpuBackendLike {
  readSync(dataId: object): ArrayLike<number>;
  makeTensorInfo(shape: number[], dtype: tf.DataType, values: Float32Array | Int32Array): tf.TensorInfo;
}

/**
 * Registers `Gradus<name>` on cpu: a float32 or int32 loop over operands that are each full-size
 * (the output's shape, `attrs.shape`) or a single value; `body` gets their values, the step of
 * each (0 for a single value) and the output.
 */
function registerCpuLoop(name: string, inputNames: readonly string[], body: (vals: ArrayLike<number>[], steps: number[], out: Float32Array | Int32Array) => void): void {
  if (tf.getKernel(`Gradus${name}`, 'cpu') !== undefined) return;
  const kernelFunc = ({ inputs, backend, attrs }: { inputs: tf.NamedTensorInfoMap; backend: CpuBackendLike; attrs: { shape: number[] } }): tf.TensorInfo => {
    const ins = inputNames.map((i) => inputs[i]!);
    const n = prod(attrs.shape);
    const out = ins[0]!.dtype === 'int32' ? new Int32Array(n) : new Float32Array(n);
    const vals = ins.map((t) => backend.readSync(t.dataId));
    body(vals, vals.map((v) => (v.length === 1 ? 0 : 1)), out);
    return backend.makeTensorInfo([...attrs.shape], ins[0]!.dtype, out);
  };
  tf.registerKernel({ kernelName: `Gradus${name}`, backendName: 'cpu', kernelFunc: kernelFunc as unknown as tf.KernelFunc });
}
// Math.max then Math.min: what cpu's Maximum and Minimum compute (JS's NaN, IEEE zeros).
registerCpuLoop('Clamp', ['lo', 'x', 'hi'], ([los, xs, his], [sl, , sh], out) => {
  const n = out.length;
  if (sl === 0 && sh === 0) {
    const a = los![0]!, b = his![0]!;
    for (let i = 0; i < n; i++) out[i] = Math.min(Math.max(xs![i]!, a), b);
  } else {
    for (let i = 0; i < n; i++) out[i] = Math.min(Math.max(xs![i]!, los![i * sl!]!), his![i * sh!]!);
  }
});
// (One loop per op and operand order, so that each is monomorphic: Math.max(x, b) as cpu's Maximum.)
registerCpuLoop('Maximum', ['a', 'b'], ([as, bs], [sa], out) => {
  const n = out.length;
  if (sa === 0) { const a = as![0]!; for (let i = 0; i < n; i++) out[i] = Math.max(a, bs![i]!); }
  else { const b = bs![0]!; for (let i = 0; i < n; i++) out[i] = Math.max(as![i]!, b); }
});
registerCpuLoop('Minimum', ['a', 'b'], ([as, bs], [sa], out) => {
  const n = out.length;
  if (sa === 0) { const a = as![0]!; for (let i = 0; i < n; i++) out[i] = Math.min(a, bs![i]!); }
  else { const b = bs![0]!; for (let i = 0; i < n; i++) out[i] = Math.min(as![i]!, b); }
});

/** One of `xs` full-size and the others single values: the cpu loops' case. */
function fullOrSingle(xs: tf.Tensor[], shape: number[]): boolean {
  return xs.every((x) => x.size === 1 || shapesEqual(x.shape, shape)) && (xs[0]!.dtype === 'float32' || xs[0]!.dtype === 'int32') && xs.every((x) => x.dtype === xs[0]!.dtype);
}

/**
 * maximum/minimum of an array and a single value (np.clip with one bound) as one pass: on cpu a
 * loop (cpu's Maximum/Minimum take their per-element broadcasting path there, ~4× slower on
 * [256, 1024]) computing what they compute (Math.max/min, JS's NaN); for int32 on wasm the clamp
 * kernel with int32's extreme as the other bound (TF.js's int Maximum tiles the value first).
 * Elsewhere `rest` (float32 on wasm: gradus's max/min kernels).
 */
function againstSingle(name: 'Maximum' | 'Minimum', rest: (a: tf.Tensor, b: tf.Tensor) => tf.Tensor) {
  return (a: tf.Tensor, b: tf.Tensor): tf.Tensor => {
    const backend = tf.getBackend();
    if ((backend === 'cpu' || (backend === 'wasm' && a.dtype === 'int32')) && (a.size === 1) !== (b.size === 1)) {
      const shape = tf.broadcast_util.assertAndGetBroadcastShape(a.shape, b.shape);
      if (fullOrSingle([a, b], shape)) {
        if (backend === 'cpu') return tf.engine().runKernel(`Gradus${name}`, { a, b }, { shape } as never) as tf.Tensor;
        const [one, full] = a.size === 1 ? [a, b] : [b, a];
        const other = tf.scalar(name === 'Maximum' ? 2 ** 31 - 1 : -(2 ** 31), 'int32');
        const own = name === 'Maximum' ? wasmClamp(one, full, other) : wasmClamp(other, full, one);
        if (own) return own;
      }
    }
    return rest(a, b);
  };
}

/**
 * Remainder with the divisor's sign (NumPy's `%`; a and b already share one shape). An integer
 * remainder by zero traps in wasm (an uncaught RuntimeError); NumPy gives 0 there, so zero divisors
 * are replaced by 1 and the result by 0. For floats NumPy gives fmod(a, b) + b where the signs
 * differ; TF.js computes fmod(fmod(a, b) + b, b), which is 0 where |a| < |b| and a + b rounds to b
 * (−1 % 1e30 is 1e30, not 0), and NaN for a finite a over ±inf (a, or b where the signs differ).
 */
function floorMod(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  if (a.dtype === 'float32') {
    return tf.tidy(() => {
      const r = tf.mod(a, b);
      const signsDiffer = tf.less(tf.mul(a, b), tf.scalar(0));
      const roundedAway = tf.logicalAnd(tf.logicalAnd(signsDiffer, tf.less(tf.abs(a), tf.abs(b))), tf.equal(r, tf.scalar(0)));
      const byInfinity = tf.logicalAnd(tf.isInf(b), tf.isFinite(a));
      return tf.where(byInfinity, tf.where(signsDiffer, b, a), tf.where(roundedAway, tf.add(a, b), r));
    });
  }
  return tf.tidy(() => {
    const zero = tf.scalar(0, b.dtype);
    const isZero = tf.equal(b, zero);
    const r = tf.mod(a, tf.where(isZero, tf.onesLike(b), b));
    return tf.where(tf.broadcastTo(isZero, r.shape), tf.zerosLike(r), r);
  });
}

/**
 * An elementwise computation written with TF.js's binary ops, run on x flattened to 1-D: wasm's
 * XNNPACK binary kernels fail above rank 6 and leave their output unwritten (garbage, silently).
 */
function elementwiseFlat(x: tf.Tensor, f: (flat: tf.Tensor) => tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.reshape(f(tf.reshape(x, [x.size])), x.shape));
}

/**
 * log1p. TF.js's wasm Log1p computes log(1 + x) in float32, so log1p(1e-10) is 0 (and softplus(−20),
 * logSigmoid(20) and arctanh(1e-8) with it). On wasm, for |x| < 1, Goldberg's correction
 * log(u)·x/(u − 1) with u = 1 + x cancels the rounding of u (x itself where u rounds to 1); other
 * backends use their own Log1p.
 */
function accurateLog1p(x: tf.Tensor): tf.Tensor {
  if (tf.getBackend() !== 'wasm' || x.dtype !== 'float32') return tf.log1p(x);
  return elementwiseFlat(x, (x) => {
    const one = tf.scalar(1);
    const u = tf.add(x, one);
    const logU = tf.log(u); // (once: wasm's Log calls libm per element)
    const corrected = tf.div(tf.mul(logU, x), tf.sub(u, one));
    // The comparison and select kernels run on gradus's wasm kernels (TF.js's generic ones cost as much as the logs).
    const small = comparisonKernels.lt(tf.abs(x), one); // elsewhere log(u) is accurate, and x·log(u) could overflow
    const exact = comparisonKernels.eq(u, one);
    const select = (c: tf.Tensor, a: tf.Tensor, b: tf.Tensor) => kernels.select([c, a, b], {} as never)[0]!;
    return select(small, select(exact, x, corrected), logU);
  });
}

/**
 * sign via comparisons. TF.js's wasm Sign kernel returns 0 for |x| below ~1e-7 (cpu gives ±1),
 * which silently zeroes gradients of abs (and softplus) near 0. NaN stays NaN, as in NumPy.
 */
function exactSign(x: tf.Tensor): tf.Tensor {
  return elementwiseFlat(x, (x) => {
    const zero = tf.scalar(0, x.dtype);
    const s = tf.sub(tf.cast(tf.greater(x, zero), x.dtype), tf.cast(tf.less(x, zero), x.dtype));
    return x.dtype === 'float32' ? tf.where(tf.isNaN(x), x, s) : s;
  });
}

/**
 * Rounds half to even with NumPy's sign on a zero result (−0 for x in [−0.5, 0)): TF.js's cpu Round
 * takes floor + 1 at a tie below an odd floor, so round(−0.5) was +0 there, and np.round(−0.05, 1)
 * +0 where NumPy (and the wasm backend) give −0. x·0 has x's sign, and r is 0 only for |x| ≤ 0.5.
 */
function roundHalfEven(x: tf.Tensor): tf.Tensor {
  if (x.dtype !== 'float32' || tf.getBackend() !== 'cpu') return tf.round(x);
  return tf.tidy(() => {
    const r = tf.round(x);
    return tf.where(tf.equal(r, tf.scalar(0)), tf.mul(x, tf.scalar(0)), r);
  });
}

/**
 * a·b, wrapping as int32 (NumPy's and XLA's int32 multiply): TF.js's cpu Multiply takes the product
 * in float64 and stores it, so past 2⁵³ the low bits are lost before the wrap ((2³¹−1)² gave 0, not
 * 1). On cpu an int32 product is a Math.imul loop over the broadcast operands; elsewhere tf.mul (wasm
 * wraps exactly).
 */
function exactMul(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  if (a.dtype !== 'int32' || tf.getBackend() !== 'cpu') return tf.mul(a, b);
  const shape = tf.broadcast_util.assertAndGetBroadcastShape(a.shape, b.shape);
  const [x, y] = [a, b].map((t) => {
    if (shapesEqual(t.shape, shape)) return t.dataSync() as Int32Array;
    const full = broadcastTensor(t, shape);
    const values = full.dataSync() as Int32Array;
    full.dispose();
    return values;
  });
  const out = new Int32Array(x!.length);
  for (let i = 0; i < out.length; i++) out[i] = Math.imul(x![i]!, y![i]!);
  return tf.tensor(out, shape, 'int32');
}

const binaryKernels: Record<BinaryPrimitive, (a: tf.Tensor, b: tf.Tensor) => tf.Tensor> = {
  add: withBroadcastPair(tf.add, true), sub: withBroadcastPair(tf.sub, true), mul: withBroadcastPair(exactMul, true), div: withBroadcastPair(tf.div, true),
  pow: withBroadcastPair(tf.pow), max: againstSingle('Maximum', preferWasm('max', tf.maximum)), min: againstSingle('Minimum', preferWasm('min', tf.minimum)),
  atan2: withBroadcastPair(tf.atan2), rem: withBroadcastPair(floorMod),
};

const comparisonKernels: Record<ComparisonPrimitive, (...xs: tf.Tensor[]) => tf.Tensor> = {
  eq: preferWasm('eq', tf.equal), ne: preferWasm('ne', tf.notEqual), lt: preferWasm('lt', tf.less), le: preferWasm('le', tf.lessEqual),
  gt: preferWasm('gt', tf.greater), ge: preferWasm('ge', tf.greaterEqual),
  and: withBroadcast(tf.logicalAnd), or: withBroadcast(tf.logicalOr),
  not: tf.logicalNot, is_finite: tf.isFinite,
};

/** True where TF.js's transposed matmul path is fast; wasm's is not (see design: known traps). */
function transposedMatmulIsFast(): boolean {
  return tf.getBackend() !== 'wasm';
}

/**
 * c ? a : b for bool a and b, through int32: TF.js's wasm Select reads and writes bool operands as
 * if they were 4-byte values (wrong results, and writes past the output: memory corruption).
 */
function selectBool(c: tf.Tensor, a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.cast(withBroadcast(selectOfOneShape)(c, tf.cast(a, 'int32'), tf.cast(b, 'int32')), 'bool'));
}

/**
 * c ? a : b by TF.js's Select kernel, for operands withBroadcast has given one shape: tf.where
 * would broadcast each of the three to the common shape first, and broadcastTo copies an operand
 * that already has it (an Identity kernel: three copies per int32 select, 3 of the ~25 kernels of a
 * masked CRF step).
 */
function selectOfOneShape(c: tf.Tensor, a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  return tf.engine().runKernel('Select', { condition: c, t: a, e: b }) as tf.Tensor;
}

/**
 * argmax/argmin as NumPy defines them: the first NaN wins (as max and min return NaN there). TF.js's
 * kernels skip NaN, so where a float row holds one, the index of its first NaN replaces theirs.
 */
function argExtremum(x: tf.Tensor, axis: number, kernel: (x: tf.Tensor, axis: number) => tf.Tensor): tf.Tensor {
  if (x.dtype !== 'float32' || x.size === 0) return kernel(x, axis);
  return tf.tidy(() => {
    const index = kernel(x, axis);
    const nan = tf.isNaN(x);
    const firstNaN = tf.argMax(tf.cast(nan, 'int32'), axis); // the first maximum of the 0/1 mask
    return tf.where(tf.any(nan, axis), firstNaN, index);
  });
}

/**
 * A new handle on the same data (no copy): TF.js reference-counts buffers, so disposing either
 * handle leaves the other valid. wasm's Identity (tf.clone) copies the whole buffer; Reshape doesn't.
 */
export function shareTensor(x: tf.Tensor): tf.Tensor {
  return tf.reshape(x, x.shape);
}

/** x viewed as `shape`, or x itself when it has that shape already (a reshape is a kernel call, ~2 µs). Only for operands read by a kernel or for tensors the caller made. */
function reshapeIfNeeded(x: tf.Tensor, shape: number[]): tf.Tensor {
  return shapesEqual(x.shape, shape) ? x : tf.reshape(x, shape);
}

/**
 * Broadcasts a tensor to `shape` (ranks may differ; size-1 and missing leading dimensions
 * stretch). On wasm, BroadcastTo/Tile/Gather and every broadcasting binary kernel except float
 * add/sub/mul/div take a generic path ~20x slower than a same-shape op (measured: 8 ms vs 0.3 ms
 * for 128x512), so there we broadcast by adding −0s (the exact additive identity), which takes the fast path.
 */
export function broadcastTensor(t: tf.Tensor, shape: readonly number[]): tf.Tensor {
  if (shapesEqual(t.shape, shape)) return t;
  const target = [...shape];
  if (tf.getBackend() !== 'wasm') return tf.broadcastTo(t, target);
  const r = t.rank < target.length ? tf.reshape(t, [...new Array<number>(target.length - t.rank).fill(1), ...t.shape]) : t;
  if (target.length > MAX_WASM_RANK) return broadcastAxisByAxis(r, target);
  if (t.dtype === 'float32') return tf.add(r, addIdentity(target));
  if (t.dtype === 'bool') return tf.cast(tf.add(tf.cast(r, 'float32'), addIdentity(target)), 'bool');
  // int32: TF.js's BroadcastTo copies exactly (its generic path is slow, but it stays on the device:
  // a loop on the host read the array back, a sync per int broadcast, under jit too).
  return tf.broadcastTo(r, target);
}

/**
 * XNNPACK, behind wasm's elementwise kernels, handles at most 6 dimensions; beyond that they
 * return uninitialised memory (measured: add of two [2,2,1,1,1,1,1] arrays). Higher ranks are
 * common under vmap, so they go through 3-D views (broadcasting) and 1-D views (elementwise).
 */
const MAX_WASM_RANK = 6;

function wasmRankTooHigh(rank: number): boolean {
  return rank > MAX_WASM_RANK && tf.getBackend() === 'wasm';
}

/** Broadcasts one axis at a time through a [pre, axis, post] view (any rank, any dtype). */
function broadcastAxisByAxis(t: tf.Tensor, target: number[]): tf.Tensor {
  let y = t;
  for (let ax = 0; ax < target.length; ax++) {
    if (y.shape[ax] === target[ax]) continue;
    const pre = prod(y.shape.slice(0, ax)), post = prod(y.shape.slice(ax + 1));
    const view = tf.reshape(y, [pre, 1, post]);
    const n = target[ax]!;
    const wide = y.dtype === 'float32'
      ? tf.add(view, addIdentity([pre, n, post]))
      : tf.cast(tf.add(tf.cast(view, 'float32'), addIdentity([pre, n, post])), y.dtype);
    // int32 through float32 is exact only below 2^24; use an exact gather for ints.
    const exact = y.dtype === 'int32' ? tf.gather(view, tf.zeros([n], 'int32'), 1) : wide;
    y = tf.reshape(exact, [...y.shape.slice(0, ax), n, ...y.shape.slice(ax + 1)]);
  }
  return y;
}

/** Broadcasts all operands to their common shape first, unless the kernel broadcasts fast itself. */
function withBroadcast(f: (...xs: tf.Tensor[]) => tf.Tensor, fastNative = false) {
  return (...xs: tf.Tensor[]): tf.Tensor => {
    // Two operands of one shape, the usual case, broadcast to that shape: f as it is (what the
    // general path below does for them, without its broadcast shape and passes over the operands).
    if (xs.length === 2 && shapesEqual(xs[0]!.shape, xs[1]!.shape) && !wasmRankTooHigh(xs[0]!.rank)) return f(xs[0]!, xs[1]!);
    const shape = xs.map((x) => x.shape).reduce((a, b) => tf.broadcast_util.assertAndGetBroadcastShape(a, b));
    if (wasmRankTooHigh(shape.length)) {
      const size = prod(shape);
      return tf.reshape(f(...xs.map((x) => tf.reshape(broadcastTensor(x, shape), [size]))), shape);
    }
    if (xs.every((x) => shapesEqual(x.shape, shape))) return f(...xs);
    // (int32 add/sub/mul broadcast natively too: exactly, and without materialising the broadcast.)
    if (fastNative && (xs.every((x) => x.dtype === 'float32') || (f !== tf.div && xs.every((x) => x.dtype === 'int32')))) return f(...xs);
    return f(...xs.map((x) => broadcastTensor(x, shape)));
  };
}

/**
 * withBroadcast for a binary kernel, `f` called with two operands (no operand lists: binary
 * arithmetic runs this for every eager op). The same steps as withBroadcast's.
 */
function withBroadcastPair(f: (a: tf.Tensor, b: tf.Tensor) => tf.Tensor, fastNative = false) {
  return (a: tf.Tensor, b: tf.Tensor): tf.Tensor => {
    const same = shapesEqual(a.shape, b.shape);
    const shape = same ? a.shape : tf.broadcast_util.assertAndGetBroadcastShape(a.shape, b.shape);
    if (wasmRankTooHigh(shape.length)) {
      const size = prod(shape);
      return tf.reshape(f(tf.reshape(broadcastTensor(a, shape), [size]), tf.reshape(broadcastTensor(b, shape), [size])), shape);
    }
    if (same || (shapesEqual(a.shape, shape) && shapesEqual(b.shape, shape))) return f(a, b);
    // (int32 add/sub/mul broadcast natively too: exactly, and without materialising the broadcast.)
    if (fastNative && ((a.dtype === 'float32' && b.dtype === 'float32') || (f !== tf.div && a.dtype === 'int32' && b.dtype === 'int32'))) return f(a, b);
    return f(broadcastTensor(a, shape), broadcastTensor(b, shape));
  };
}

/**
 * gradus's own wasm kernel (src/wasm_kernels.ts) where it applies: float32 operands of one shape,
 * or a single value against an array. Elsewhere TF.js's kernel, broadcast as `withBroadcast` does.
 */
function preferWasm(op: WasmBinaryOp, theirs: (a: tf.Tensor, b: tf.Tensor) => tf.Tensor) {
  const general = withBroadcast(theirs as (...xs: tf.Tensor[]) => tf.Tensor);
  return (a: tf.Tensor, b: tf.Tensor): tf.Tensor => wasmBinary(op, a, b) ?? broadcastThenWasm(op, a, b) ?? general(a, b);
}

/**
 * Float operands that broadcast (x[256, 1024] against a row, say): broadcast them, then gradus's
 * kernel. TF.js's own maximum/comparison kernels are 8–10× slower than a broadcast and ours. Past
 * XNNPACK's 6 dimensions too (broadcastTensor goes axis by axis there, and the kernel is flat):
 * TF.js's flat Maximum/Minimum, withBroadcast's fallback, drop a NaN in their second operand.
 */
function broadcastThenWasm(op: WasmBinaryOp, a: tf.Tensor, b: tf.Tensor): tf.Tensor | null {
  if (a.dtype !== 'float32' || b.dtype !== 'float32' || !wasmKernelsAvailable()) return null;
  const shape = tf.broadcast_util.assertAndGetBroadcastShape(a.shape, b.shape);
  return wasmBinary(op, broadcastTensor(a, shape), broadcastTensor(b, shape));
}

/** float32 zeros (TF.js's wasm Fill is ~10x slower than gradus's). */
/** −0s, the exact identity of float addition: x + (−0) is x for every x, −0 and NaN included (x + 0 turns −0 into +0). */
function addIdentity(shape: number[]): tf.Tensor {
  return wasmFill(shape, -0) ?? tf.fill(shape, -0);
}

function prod(xs: readonly number[]): number {
  return xs.reduce((a, b) => a * b, 1);
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

/**
 * How dot_general lays out its operands as (batched) matrices: B batch entries of M×K times K×N,
 * and the axis orders that put each operand as (batch, M, K) or (batch, K, M), (batch, K, N) or
 * (batch, N, K).
 */
interface MatMulLayout { B: number; M: number; K: number; N: number; batched: boolean; aMK: number[]; aKM: number[]; bKN: number[]; bNK: number[] }

/**
 * dot_general as one (batched) matmul. Operands are laid out as lhs (batch, M, K) and rhs
 * (batch, K, N). Where TF.js's transpose flags are fast they absorb any transposition. On wasm
 * gradus's own GEMM runs it (see gemmProduct); where that cannot run, TF.js's matmul, whose
 * transposed flags are ~13-25x slower there, gets explicit transposes, choosing between
 * out = A·B and out = (Bᵀ·Aᵀ)ᵀ by the elements each has to transpose. (Plain loops and
 * module-level helpers: this runs for every eager matmul, and the closures and spread arrays it
 * had cost about a tenth of a small product's time.)
 */
function dotGeneral(a: tf.Tensor, b: tf.Tensor, { contract: [ca, cb], batch: [ba, bb] }: ParamsOf<'dot_general'>): tf.Tensor {
  const isInt = a.dtype === 'int32';
  if (isInt) { a = tf.cast(a, 'float32'); b = tf.cast(b, 'float32'); }
  const freeA = freeAxes(a.rank, ca, ba), freeB = freeAxes(b.rank, cb, bb);
  const B = sizeAlong(a.shape, ba), M = sizeAlong(a.shape, freeA), K = sizeAlong(a.shape, ca), N = sizeAlong(b.shape, freeB);
  const outShape: number[] = [];
  for (const i of ba) outShape.push(a.shape[i]!);
  for (const i of freeA) outShape.push(a.shape[i]!);
  for (const i of freeB) outShape.push(b.shape[i]!);
  const batched = !(B === 1 && ba.length === 0);
  if (K === 0 || M * N * B === 0) {
    const z = tf.zeros(outShape);
    return isInt ? tf.cast(z, 'int32') : z;
  }
  const aMK = ba.concat(freeA, ca);
  const bKN = bb.concat(cb, freeB);
  if (K === 1 && !isInt) {
    // Outer products (per-example weight gradients under vmap are these): wasm's matmul with an
    // inner size of 1 is ~10x slower than the equivalent broadcasting multiply.
    const a3 = tf.reshape(transposeTensor(a, aMK), [B, M, 1]);
    const b3 = tf.reshape(transposeTensor(b, bKN), [B, 1, N]);
    return tf.reshape(tf.mul(a3, b3), outShape);
  }
  const d: MatMulLayout = { B, M, K, N, batched, aMK, aKM: ba.concat(ca, freeA), bKN, bNK: bb.concat(freeB, cb) };
  let out: tf.Tensor;
  if (transposedMatmulIsFast()) {
    const transA = !isIdentityPerm(aMK) && isIdentityPerm(d.aKM);
    const transB = !isIdentityPerm(bKN) && isIdentityPerm(d.bNK);
    out = tfMatMul(transposeTensor(a, transA ? d.aKM : aMK), transposeTensor(b, transB ? d.bNK : bKN), d, M, K, N, transA, transB);
  } else {
    out = gemmProduct(a, b, d) ?? tfMatMulOnWasm(a, b, d);
  }
  out = reshapeIfNeeded(out, outShape); // (out is the product's own tensor, never an operand)
  return isInt ? tf.cast(out, 'int32') : out;
}

/** The axes of a rank-`rank` operand that are neither contracted nor batch axes, in order. */
function freeAxes(rank: number, contract: readonly number[], batch: readonly number[]): number[] {
  const free: number[] = [];
  for (let i = 0; i < rank; i++) if (!contract.includes(i) && !batch.includes(i)) free.push(i);
  return free;
}

/** The product of `shape`'s sizes along `axes`. */
function sizeAlong(shape: readonly number[], axes: readonly number[]): number {
  let n = 1;
  for (const i of axes) n *= shape[i]!;
  return n;
}

/** TF.js's matmul of x (rows × inner, or inner × rows with tx) and y (inner × cols, or cols × inner with ty), batched as `d` says. */
function tfMatMul(x: tf.Tensor, y: tf.Tensor, d: MatMulLayout, rows: number, inner: number, cols: number, tx: boolean, ty: boolean): tf.Tensor {
  const { B, batched } = d;
  const yShape = batched ? (ty ? [B, cols, inner] : [B, inner, cols]) : ty ? [cols, inner] : [inner, cols];
  const y2 = rhsBuffer(reshapeIfNeeded(y, yShape), ty);
  return batched
    ? tf.matMul(reshapeIfNeeded(x, tx ? [B, inner, rows] : [B, rows, inner]) as tf.Tensor3D, y2 as tf.Tensor3D, tx, ty)
    : tf.matMul(reshapeIfNeeded(x, tx ? [inner, rows] : [rows, inner]) as tf.Tensor2D, y2 as tf.Tensor2D, tx, ty);
}

/** How many elements laying an operand out by `perm` moves: none for the identity, else all `n`. */
function moveCost(perm: number[], n: number): number {
  return isIdentityPerm(perm) ? 0 : n;
}

/** TF.js's matmul on wasm (where gradus's GEMM does not run: shared memory, no SIMD). */
function tfMatMulOnWasm(a: tf.Tensor, b: tf.Tensor, d: MatMulLayout): tf.Tensor {
  const { B, M, K, N, batched } = d;
  const direct = moveCost(d.aMK, B * M * K) + moveCost(d.bKN, B * K * N);
  const swapped = moveCost(d.bNK, B * K * N) + moveCost(d.aKM, B * M * K) + (batched ? B * M * N : M * N);
  if (direct <= swapped) return tfMatMul(transposeTensor(a, d.aMK), transposeTensor(b, d.bKN), d, M, K, N, false, false);
  // outᵀ = Bᵀ·Aᵀ with Bᵀ as (N, K) and Aᵀ as (K, M), then transpose the (small) result back.
  const t = tfMatMul(transposeTensor(b, d.bNK), transposeTensor(a, d.aKM), d, N, K, M, false, false);
  return tf.transpose(t, batched ? [0, 2, 1] : [1, 0]);
}

/** x laid out by `perm` and viewed as (batch,) rows × cols. */
function matrixView(x: tf.Tensor, perm: number[], d: MatMulLayout, rows: number, cols: number): tf.Tensor {
  return reshapeIfNeeded(transposeTensor(x, perm), d.batched ? [d.B, rows, cols] : [rows, cols]);
}

/**
 * dot_general on gradus's wasm GEMM (src/wasm_kernels.ts), or null where it does not run. The GEMM
 * reads A as stored (M, K) or (K, M) and B as (K, N), and A (M, K) with B (N, K) as row-by-row dot
 * products. With both transposed (A (K, M), B (N, K)), B is either transposed, or the product
 * computed as outᵀ = B·Aᵀ and transposed back: whichever moves fewer elements. Transposes of other
 * layouts run first.
 */
function gemmProduct(a: tf.Tensor, b: tf.Tensor, d: MatMulLayout): tf.Tensor | null {
  if (a.dtype !== 'float32' || b.dtype !== 'float32' || !wasmKernelsAvailable()) return null;
  const { B, M, K, N, batched } = d;
  const batch = batched ? B : null;
  const aStoredKM = !isIdentityPerm(d.aMK) && isIdentityPerm(d.aKM);
  // (Each output of the row-by-row kernel ends with a sum across lanes: below K = 64 transposing B,
  // K·N moves, costs less; measured 0.12 against 0.05 ms for 128×10·(512×10)ᵀ.)
  if (!aStoredKM && !isIdentityPerm(d.bKN) && isIdentityPerm(d.bNK) && K >= 64) {
    return wasmMatMul(matrixView(a, d.aMK, d, M, K), matrixView(b, d.bNK, d, N, K), { batch, M, K, N, transA: false, transB: true })!;
  }
  const direct = moveCost(d.bKN, B * K * N);
  const swapped = moveCost(d.bNK, B * K * N) + (aStoredKM ? 0 : B * M * K) + B * M * N;
  if (direct <= swapped) {
    const lhs = aStoredKM ? matrixView(a, d.aKM, d, K, M) : matrixView(a, d.aMK, d, M, K);
    return wasmMatMul(lhs, matrixView(b, d.bKN, d, K, N), { batch, M, K, N, transA: aStoredKM })!;
  }
  // outᵀ (N, M) = B (N, K) · Aᵀ (K, M)
  const t = wasmMatMul(matrixView(b, d.bNK, d, N, K), matrixView(a, d.aKM, d, K, M), { batch, M: N, K, N: M, transA: false })!;
  return transposeTensor(t, batched ? [0, 2, 1] : [1, 0]);
}

/**
 * x with its axes permuted. A permutation that keeps some leading axes and swaps the two blocks
 * after them (a matrix transpose, batched or of merged axes) runs on gradus's wasm kernel where it
 * applies; TF.js's Transpose is a generic element-by-element loop there, ~5× slower.
 */
export function transposeTensor(x: tf.Tensor, perm: number[]): tf.Tensor {
  if (isIdentityPerm(perm)) return x;
  const lead = perm.findIndex((p, i) => p !== i);
  const rest = perm.slice(lead);
  const split = rest[0]!; // the swapped blocks are [lead, split) and [split, rank)
  const isBlockSwap = rest.every((p, i) => p === (i < perm.length - split ? split + i : lead + i - (perm.length - split)));
  if (isBlockSwap && (x.dtype === 'float32' || x.dtype === 'int32') && wasmKernelsAvailable()) {
    const size = (from: number, to: number) => prod(x.shape.slice(from, to));
    const swapped = wasmTransposeLastTwo(tf.reshape(x, [size(0, lead), size(lead, split), size(split, x.rank)]));
    if (swapped !== null) return tf.reshape(swapped, perm.map((p) => x.shape[p]!));
  }
  return tf.transpose(x, perm);
}

// TF.js's wasm matmul caches the packed right operand by its data buffer, ignoring the shape.
// A buffer shared through reshape and used again under another shape would read stale packed
// data (wrong products, or out-of-bounds crashes). Remember each buffer's matmul shape and copy
// the operand when the same buffer shows up with a different one.
const rhsShapes = new WeakMap<object, string>();
function rhsBuffer(y: tf.Tensor, transposed: boolean): tf.Tensor {
  if (tf.getBackend() !== 'wasm') return y;
  const key = `${y.shape.join(',')}${transposed ? 'T' : ''}`;
  const seen = rhsShapes.get(y.dataId);
  if (seen === undefined) {
    rhsShapes.set(y.dataId, key);
    return y;
  }
  if (seen === key) return y;
  const copy = tf.clone(y);
  rhsShapes.set(copy.dataId, key);
  return copy;
}

/** XLA-style pad: negative lo/hi crop, `interior` inserts that many values between elements. */
function pad(x: tf.Tensor, { lo, hi, interior, value }: ParamsOf<'pad'>): tf.Tensor {
  let y = x;
  for (let ax = 0; ax < y.rank; ax++) {
    const k = interior[ax]!;
    const n = y.shape[ax]!;
    if (k === 0 || n <= 1) continue;
    // [.., n, ..] -> [.., n, 1+k, ..] with the original in slot 0, then flatten and drop the tail.
    const expanded = tf.expandDims(y, ax + 1);
    const fillShape = [...y.shape];
    fillShape.splice(ax + 1, 0, k);
    const fill = tf.fill(fillShape, value, y.dtype);
    const merged = tf.concat([expanded, fill], ax + 1);
    const flatShape = [...y.shape];
    flatShape[ax] = n * (1 + k);
    const flat = tf.reshape(merged, flatShape);
    const begin = y.shape.map(() => 0);
    const size = [...flatShape];
    size[ax] = n + (n - 1) * k;
    y = tf.slice(flat, begin, size);
  }
  const pads = lo.map((l, i) => [Math.max(l, 0), Math.max(hi[i]!, 0)] as [number, number]);
  if (pads.some(([a, b]) => a > 0 || b > 0)) {
    if (Number.isNaN(value) && y.dtype === 'float32') {
      // TF.js wasm's PadV2 mishandles a NaN fill value (it fills with 0, or keeps NaN for every later
      // pad of the process): pad with 0 and a mask of ones, then put NaN where the mask is 0.
      const src = y;
      y = tf.tidy(() => {
        const padded = tf.pad(src, pads, 0);
        const inside = tf.notEqual(tf.pad(tf.onesLike(src), pads, 0), 0);
        return tf.where(inside, padded, tf.fill(padded.shape, NaN, 'float32'));
      });
    } else y = tf.pad(y, pads, value);
  }
  if (lo.some((l) => l < 0) || hi.some((h) => h < 0)) {
    const begin = lo.map((l) => Math.max(-l, 0));
    const size = y.shape.map((d, i) => d - begin[i]! - Math.max(-hi[i]!, 0));
    y = tf.slice(y, begin, size);
  }
  return y === x ? shareTensor(x) : y;
}

function scatterAdd(idx: tf.Tensor, upd: tf.Tensor, { axis, axisSize }: ParamsOf<'scatter_add'>): tf.Tensor {
  const k = idx.rank;
  const pre = upd.shape.slice(0, axis);
  const post = upd.shape.slice(axis + k);
  // Move the index dimensions to the front: [idx..., pre..., post...] -> [K, rest].
  const perm = [...range(k).map((i) => axis + i), ...range(axis), ...range(post.length).map((i) => axis + k + i)];
  const moved = transposeTensor(upd, perm);
  const K = prod(idx.shape);
  const rest = [...pre, ...post];
  const flatUpd = tf.reshape(moved, [K, ...rest]);
  const flatIdx = tf.reshape(idx, [K, 1]);
  const out = tf.scatterND(flatIdx, flatUpd, [axisSize, ...rest]);
  // [axisSize, pre..., post...] -> [pre..., axisSize, post...]
  const back = [...range(pre.length).map((i) => i + 1), 0, ...range(post.length).map((i) => pre.length + 1 + i)];
  return transposeTensor(out, back);
}

/** Pads one axis at a time through [pre, axis, post] views (for ranks wasm cannot handle). */
function padAxisByAxis(x: tf.Tensor, { lo, hi, interior, value }: ParamsOf<'pad'>): tf.Tensor {
  let y = x;
  for (let ax = 0; ax < x.rank; ax++) {
    if (lo[ax] === 0 && hi[ax] === 0 && interior[ax] === 0) continue;
    const pre = prod(y.shape.slice(0, ax)), post = prod(y.shape.slice(ax + 1));
    const padded = pad(tf.reshape(y, [pre, y.shape[ax]!, post]), { lo: [0, lo[ax]!, 0], hi: [0, hi[ax]!, 0], interior: [0, interior[ax]!, 0], value });
    y = tf.reshape(padded, [...y.shape.slice(0, ax), padded.shape[1]!, ...y.shape.slice(ax + 1)]);
  }
  return y === x ? shareTensor(x) : y;
}

/** Every stride-th element from `start`, via a contiguous slice, padding, a reshape and a slice per axis. */
function stridedSliceByReshape(x: tf.Tensor, start: number[], outShape: number[], strides: number[]): tf.Tensor {
  let y = tf.slice(x, start, x.shape.map((d, i) => Math.min(d - start[i]!, outShape[i]! * strides[i]!)));
  for (let ax = 0; ax < y.rank; ax++) {
    const s = strides[ax]!;
    if (s === 1) continue;
    const n = outShape[ax]!;
    const have = y.shape[ax]!;
    if (have < n * s) {
      const pads = y.shape.map((_, i) => [0, i === ax ? n * s - have : 0] as [number, number]);
      y = tf.pad(y, pads);
    }
    const split = [...y.shape.slice(0, ax), n, s, ...y.shape.slice(ax + 1)];
    const r = tf.reshape(y, split);
    const begin = split.map(() => 0);
    const size = [...split];
    size[ax + 1] = 1;
    y = tf.reshape(tf.slice(r, begin, size), [...y.shape.slice(0, ax), n, ...y.shape.slice(ax + 1)]);
  }
  return y;
}

/**
 * Sums over axes. On wasm two things go wrong with TF.js's Sum: it accumulates float32 values one
 * by one (the sum of 1e6 × 0.1 is off by 1 %), and over a leading or middle axis it transposes the
 * whole array first (1024² over axis 0: ~10–30 ms). So on wasm a float32 sum is brought to the form
 * [pre, R, post] (reduced axes moved together if they are not), a long R is split in two stages of
 * about √R (the error then grows like √R instead of R), and each stage runs on a fast kernel:
 * post > 1 by gradus's row-sum kernel (rows of `post` contiguous values added in place, streaming;
 * it propagates NaN, where XNNPACK's average pooling, the fallback, clamps NaN to −inf);
 * post = 1 as X·1.
 */
function sumKernel(x: tf.Tensor, axes: number[]): tf.Tensor {
  if (tf.getBackend() !== 'wasm' || x.dtype !== 'float32') return tf.sum(x, axes);
  const outShape = x.shape.filter((_, i) => !axes.includes(i));
  if (x.size === 0) return tf.zeros(outShape, x.dtype);
  const sorted = [...axes].sort((a, b) => a - b);
  const contiguous = sorted.every((a, i) => i === 0 || a === sorted[i - 1]! + 1);
  // Not contiguous: move the reduced axes last (one transpose, as Sum would do itself).
  const y = contiguous ? x : transposeTensor(x, [...x.shape.map((_, i) => i).filter((i) => !axes.includes(i)), ...sorted]);
  const first = contiguous ? sorted[0]! : outShape.length;
  const reduced = prod(sorted.map((a) => x.shape[a]!));
  const pre = prod(y.shape.slice(0, first));
  const post = x.size / (pre * reduced);
  // Short trailing rows: TF.js's Sum is what sumMiddle would run, without the reshapes around it.
  if (contiguous && post === 1 && reduced <= SHORT_ROW) return tf.sum(x, sorted);
  return tf.reshape(sumMiddle(tf.reshape(y, [pre, reduced, post]) as tf.Tensor3D), outShape);
}

/**
 * Cumulative sums along `axis`. TF.js adds float32 values one at a time (relative error up to n·ε:
 * the last of 10⁶ cumulative sums of 0.1 was 1 % off, where np.sum was right), so a long float axis
 * is cut into m blocks of b ≈ √n values: cumulative sums within the blocks plus the exclusive
 * cumulative sum of the block totals, an error of (b + m)·ε. NaN and ±inf propagate as in one pass.
 */
function cumsumKernel(x: tf.Tensor, axis: number, reverse: boolean): tf.Tensor {
  const n = x.shape[axis]!;
  if (x.dtype !== 'float32' || n <= SINGLE_STAGE_SUM) return tf.cumsum(x, axis, false, reverse);
  // As [rows, n] (rank 3 at most below, within every backend's limits), the axis last.
  const perm = [...x.shape.map((_, i) => i).filter((i) => i !== axis), axis];
  const moved = axis === x.rank - 1 ? x : transposeTensor(x, perm);
  const rows = x.size / n;
  let y = tf.reshape(moved, [rows, n]);
  if (reverse) y = tf.reverse(y, 1);
  const b = Math.ceil(Math.sqrt(n)), m = Math.ceil(n / b);
  if (m * b > n) y = tf.concat([y, tf.zeros([rows, m * b - n])], 1);
  const within = tf.cumsum(tf.reshape(y, [rows, m, b]), 2);
  // The exclusive cumulative sums of the block totals, −0 before the first block (x + −0 = x for every
  // x, −0 included): TF.js's exclusive cumsum starts from +0, which turned a prefix of −0s into +0.
  const totals = tf.cumsum(tf.slice(within, [0, 0, b - 1], [rows, m, 1]), 1);
  const offsets = tf.concat([tf.fill([rows, 1, 1], -0), tf.slice(totals, [0, 0, 0], [rows, m - 1, 1])], 1);
  let out = tf.reshape(tf.add(within, offsets), [rows, m * b]);
  if (m * b > n) out = tf.slice(out, [0, 0], [rows, n]);
  if (reverse) out = tf.reverse(out, 1);
  out = tf.reshape(out, moved.shape);
  return axis === x.rank - 1 ? out : transposeTensor(out, perm.map((_, i) => perm.indexOf(i)));
}

/** A factor of n in [√n/8, √n], the largest, or null. */
function factorNearSqrt(n: number): number | null {
  const root = Math.floor(Math.sqrt(n));
  for (let d = root; d >= Math.max(2, Math.ceil(root / 8)); d--) if (n % d === 0) return d;
  return null;
}

/** A divisor k of r with k·post ≥ 64 (rows of at least 16 vectors), the smallest, or 1. */
function groupOfRows(r: number, post: number): number {
  for (let k = Math.ceil(64 / post); k <= Math.min(r >> 1, 1024); k++) if (r % k === 0) return k;
  return 1;
}

/** Rows of at most this many values are summed by TF.js's Sum (one kernel). */
const SHORT_ROW = 64;

/** Above this length a sum runs in two stages. */
const SINGLE_STAGE_SUM = 4096;

/** Σ over the middle axis of [pre, R, post], as [pre, post]. */
function sumMiddle(x: tf.Tensor3D): tf.Tensor2D {
  const [pre, r, post] = x.shape;
  if (r > SINGLE_STAGE_SUM) {
    // R = r1·r2 with r2 a factor of R near √R; without one, a flat array is zero-padded up to
    // r1·r2 (padding is fast only in 1-D: a [64, 100352, 1] pad takes ~85 ms), others sum in one stage.
    const r2 = factorNearSqrt(r) ?? (pre === 1 && post === 1 ? Math.ceil(Math.sqrt(r)) : 0);
    if (r2 > 0) {
      const r1 = Math.ceil(r / r2);
      const padded = r1 * r2 === r ? x : (tf.reshape(tf.pad(tf.reshape(x, [r]), [[0, r1 * r2 - r]]), [1, r1 * r2, 1]) as tf.Tensor3D);
      const inner = sumMiddle(tf.reshape(padded, [pre * r1, r2, post]) as tf.Tensor3D);
      return sumMiddle(tf.reshape(inner, [pre, r1, post]) as tf.Tensor3D);
    }
  }
  if (post > 1 && wasmKernelsAvailable()) {
    // gradus's kernel: each row added in place, one pass, NaN and ±inf propagating as in any sum
    // (TF.js's wasm average pooling, the fallback below, clamps NaN to −inf). Rows narrower than a
    // few vectors run element by element, so k of them are first summed as one row of k·post
    // values ([pre, R/k, k·post]), then the k partial rows ([pre, k, post]).
    const k = post < 16 && pre * r * post >= 16384 ? groupOfRows(r, post) : 1; // (small sums: one call beats two)
    if (k > 1) {
      const partial = wasmSumMiddle(tf.reshape(x, [pre, r / k, k * post]));
      if (partial !== null) return wasmSumMiddle(tf.reshape(partial, [pre, k, post])) as tf.Tensor2D;
    } else {
      const total = wasmSumMiddle(x);
      if (total !== null) return total as tf.Tensor2D;
    }
  }
  const channels = post > 1 ? poolChannels(post) : 0;
  if (channels > 0) {
    // Mean over R by pooling, then × R.
    const image = tf.reshape(x, [pre, r, post / channels, channels]) as tf.Tensor4D;
    return tf.reshape(tf.mul(tf.avgPool(image, [r, 1], [r, 1], 'valid'), tf.scalar(r)), [pre, post]);
  }
  if (post > 1) return tf.sum(x, 1);
  // Short rows: TF.js's Sum, one kernel (the product below allocates and packs a ones vector on
  // every call: ~20 µs for a sum of 10 values, against ~3), as accurate over so few values.
  if (r <= SHORT_ROW) return tf.sum(tf.reshape(x, [pre, r]), 1) as tf.Tensor2D;
  // [pre, R] · 1
  return tf.matMul(tf.reshape(x, [pre, r]) as tf.Tensor2D, rhsBuffer(tf.ones([r, 1]), false) as tf.Tensor2D) as tf.Tensor2D;
}

/**
 * TF.js wasm's average pooling writes past a buffer with more than ~16k channels (measured: 12,288
 * works, 16,383 crashes the module), so pooled reductions use at most 8,192 channels.
 */
const MAX_POOL_CHANNELS = 8192;

/** The channel count for pooling over `post` contiguous values: `post`, or its largest divisor ≤ the cap (0 if that is tiny). */
function poolChannels(post: number): number {
  if (post <= MAX_POOL_CHANNELS) return post;
  for (let d = MAX_POOL_CHANNELS; d >= 64; d--) if (post % d === 0) return d;
  return 0;
}

function matrixStack(t: tf.Tensor): { batch: number; n: number } {
  const n = t.shape[t.rank - 1]!;
  return { batch: prod(t.shape.slice(0, -2)), n };
}

/** A float select whose condition or operands broadcast (a causal mask over a batch of scores): broadcast, then gradus's select. */
function broadcastThenSelect(c: tf.Tensor, a: tf.Tensor, b: tf.Tensor): tf.Tensor | null {
  if (c.dtype !== 'bool' || a.dtype !== 'float32' || b.dtype !== 'float32' || !wasmKernelsAvailable()) return null;
  const shape = [c.shape, a.shape, b.shape].reduce((x, y) => tf.broadcast_util.assertAndGetBroadcastShape(x, y));
  if (wasmRankTooHigh(shape.length)) return null;
  const fit = (t: tf.Tensor) => (t.size === 1 ? t : broadcastTensor(t, shape));
  return wasmSelect(broadcastTensor(c, shape), fit(a), fit(b));
}

function higherOrderNotEvaluable(prim: string): never {
  throw new GradusError(`${prim}: internal error: this primitive is evaluated by replaying its program, not by a kernel`);
}

type Kernels = { [P in Primitive]: Kernel<P> };

export const kernels: Kernels = {
  // (Operands by index, not destructured: destructuring an array runs its iterator, per eager op.)
  ...(Object.fromEntries(Object.entries(unaryKernels).map(([p, f]) => [p, (xs: tf.Tensor[]) => [f(xs[0]!)]])) as unknown as Pick<Kernels, UnaryPrimitive>),
  ...(Object.fromEntries(Object.entries(binaryKernels).map(([p, f]) => [p, (xs: tf.Tensor[]) => [f(xs[0]!, xs[1]!)]])) as unknown as Pick<Kernels, BinaryPrimitive>),
  ...(Object.fromEntries(Object.entries(comparisonKernels).map(([p, f]) => [p, (xs: tf.Tensor[]) => [f(...xs)]])) as unknown as Pick<Kernels, ComparisonPrimitive>),
  clamp: ([lo, x, hi]) => [clampKernel(lo!, x!, hi!)],
  select: ([p, a, b]) => [wasmSelect(p!, a!, b!) ?? broadcastThenSelect(p!, a!, b!) ?? (a!.dtype === 'bool' ? selectBool(p!, a!, b!) : withBroadcast(selectOfOneShape)(p!, a!, b!))],
  convert_element_type: ([x], { dtype }) => {
    if (x!.dtype === dtype) return [shareTensor(x!)];
    // NumPy truncates toward zero when casting floats to ints; TF.js does too, but bool needs != 0.
    if (dtype === 'bool') return [tf.notEqual(x!, tf.scalar(0, x!.dtype))];
    return [tf.cast(x!, dtype)];
  },
  // wasm sums over an empty axis return uninitialised memory: the sum of nothing is 0.
  reduce_sum: ([x], { axes }) => [
    axes.length === 0 ? shareTensor(x!) : axes.some((a) => x!.shape[a] === 0) ? tf.zeros(x!.shape.filter((_, i) => !axes.includes(i)), x!.dtype) : sumKernel(x!, axes),
  ],
  reduce_max: ([x], { axes }) => [axes.length ? tf.max(x!, axes) : shareTensor(x!)],
  reduce_min: ([x], { axes }) => [axes.length ? tf.min(x!, axes) : shareTensor(x!)],
  argmax: ([x], { axis }) => [argExtremum(x!, axis, tf.argMax)],
  // TF.js's Softmax (XNNPACK's on wasm: one pass, its own exp) over the last axis; another axis is moved there and back.
  polygamma: ([n, x]) => [polygammaKernel(n!, x!)],
  softmax: ([x], { axis }) => {
    if (x!.size === 0) return [shareTensor(x!)];
    const last = x!.rank - 1;
    if (axis === last) return [tf.softmax(x!)];
    const perm = x!.shape.map((_, i) => (i === axis ? last : i === last ? axis : i));
    return [tf.transpose(tf.softmax(tf.transpose(x!, perm)), perm)];
  },
  argmin: ([x], { axis }) => [argExtremum(x!, axis, tf.argMin)],
  broadcast_in_dim: ([x], { shape, broadcastDimensions }) => {
    const expanded = shape.map(() => 1);
    broadcastDimensions.forEach((d, i) => (expanded[d] = x!.shape[i]!));
    return [broadcastTensor(tf.reshape(x!, expanded), shape)];
  },
  reshape: ([x], { shape }) => [tf.reshape(x!, shape)],
  transpose: ([x], { perm }) => [isIdentityPerm(perm) ? shareTensor(x!) : transposeTensor(x!, perm)],
  // (Bools through int32: TF.js's wasm Reverse treats them as 4-byte values, like its Select.)
  rev: ([x], { axes }) => [!axes.length ? shareTensor(x!) : x!.dtype === 'bool' ? tf.cast(tf.reverse(tf.cast(x!, 'int32'), axes), 'bool') : tf.reverse(x!, axes)],
  slice: ([x], { start, limit, strides }) => {
    const size = limit.map((l, i) => l - start[i]!);
    const outShape = size.map((n, i) => Math.ceil(n / strides[i]!));
    if (outShape.some((d) => d === 0)) return [tf.zeros(outShape, x!.dtype)];
    if (strides.every((s) => s === 1)) return [tf.slice(x!, start, size)];
    // wasm's StridedSlice mislabels int32/bool results as float32: use slices and reshapes instead.
    if (x!.dtype !== 'float32' && tf.getBackend() === 'wasm') return [stridedSliceByReshape(x!, start, outShape, strides)];
    return [tf.stridedSlice(x!, start, limit, strides)];
  },
  pad: ([x], params) => {
    if (x!.size > 0 && wasmRankTooHigh(x!.rank)) return [padAxisByAxis(x!, params)];
    if (x!.size > 0) return [pad(x!, params)];
    const shape = x!.shape.map((d, i) => params.lo[i]! + params.hi[i]! + d);
    return [tf.fill(shape, params.value, x!.dtype)];
  },
  concatenate: (xs, { axis }) => {
    const parts = xs.filter((x) => x.size > 0);
    return [parts.length === 1 ? shareTensor(parts[0]!) : tf.concat(parts, axis)];
  },
  gather: ([x, idx], { axis }) => [wasmGather(x!, idx!, axis) ?? tf.gather(x!, idx!, axis)],
  scatter_add: ([idx, upd], params) => {
    if (upd!.size > 0) return [scatterAdd(idx!, upd!, params)];
    const { axis, axisSize } = params;
    return [tf.zeros([...upd!.shape.slice(0, axis), axisSize, ...upd!.shape.slice(axis + idx!.rank)], upd!.dtype)];
  },
  sort: ([x], { axis, descending, k }) => {
    const shape = x!.shape, n = shape[axis]!;
    const { values, indices } = sortRows(x!.dataSync() as Float32Array | Int32Array, prod(shape.slice(0, axis)), n, prod(shape.slice(axis + 1)), descending, k ?? n);
    const outShape = shape.map((d, i) => (i === axis ? k ?? n : d));
    return [tf.tensor(values, outShape, x!.dtype), tf.tensor(indices, outShape, 'int32')];
  },
  cumsum: ([x], { axis, reverse }) => [cumsumKernel(x!, axis, reverse)],
  dot_general: (xs, params) => [dotGeneral(xs[0]!, xs[1]!, params)],
  conv2d: ([x, w], { strides, padding, dilations }) => {
    const pad: tf.backend_util.ExplicitPadding = [[0, 0], padding[0], padding[1], [0, 0]];
    if (w!.shape[2] === 0) {
      // No input channels: every output is an empty sum (wasm's XNNPACK refuses and leaves garbage).
      const info = tf.backend_util.computeConv2DInfo(x!.shape as [number, number, number, number], w!.shape as [number, number, number, number], strides, dilations, pad, undefined, false, 'channelsLast');
      return [tf.zeros(info.outShape, 'float32')];
    }
    return [tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, strides, pad, 'NHWC', dilations)];
  },
  stop_gradient: ([x]) => [shareTensor(x!)],
  matrix_inverse: ([a]) => {
    const { batch, n } = matrixStack(a!);
    return [tf.tensor(inverseStack(a!.dataSync(), batch, n), a!.shape, 'float32')];
  },
  det: ([a]) => {
    const { batch, n } = matrixStack(a!);
    return [tf.tensor(detStack(a!.dataSync(), batch, n), a!.shape.slice(0, -2), 'float32')];
  },
  adjugate: ([a]) => {
    const { batch, n } = matrixStack(a!);
    return [tf.tensor(adjugateStack(a!.dataSync(), batch, n), a!.shape, 'float32')];
  },
  adjugate_tangent: ([a, t]) => {
    const { batch, n } = matrixStack(a!);
    return [tf.tensor(adjugateTangentStack(a!.dataSync(), t!.dataSync(), batch, n), a!.shape, 'float32')];
  },
  adjugate_second_tangent: ([a, t, s]) => {
    const { batch, n } = matrixStack(a!);
    return [tf.tensor(adjugateSecondTangentStack(a!.dataSync(), t!.dataSync(), s!.dataSync(), batch, n), a!.shape, 'float32')];
  },
  slogdet: ([a]) => {
    const { batch, n } = matrixStack(a!);
    const [s, l] = slogdetStack(a!.dataSync(), batch, n);
    const shape = a!.shape.slice(0, -2);
    return [tf.tensor(s, shape, 'float32'), tf.tensor(l, shape, 'float32')];
  },
  linear_solve: ([a, b]) => {
    const { batch, n } = matrixStack(a!);
    const k = b!.shape[b!.rank - 1]!;
    // linear_solve also runs inside expm (its Padé quotient) and slogdet's derivative (A⁻¹·dA): say so.
    const op = 'linear solve (linalg.solve, expm, or the derivative of slogdet, which needs A⁻¹)';
    return [tf.tensor(solveStack(a!.dataSync(), b!.dataSync(), batch, n, k, op), b!.shape, 'float32')];
  },
  cholesky: ([a]) => {
    const { batch, n } = matrixStack(a!);
    return [tf.tensor(choleskyStack(a!.dataSync(), batch, n), a!.shape, 'float32')];
  },
  triangular_solve: ([a, b], params) => {
    const { batch, n } = matrixStack(a!);
    const k = b!.shape[b!.rank - 1]!;
    return [tf.tensor(triangularSolveStack(a!.dataSync(), b!.dataSync(), batch, n, k, params), b!.shape, 'float32')];
  },
  eigh: ([a], params) => {
    const { batch, n } = matrixStack(a!);
    if (!params.computeVectors) return [tf.tensor(eigvalshStack(a!.dataSync(), batch, n, params.lower), a!.shape.slice(0, -1), 'float32')];
    const [w, v] = eighStack(a!.dataSync(), batch, n, params);
    return [tf.tensor(w, a!.shape.slice(0, -1), 'float32'), tf.tensor(v, a!.shape, 'float32')];
  },
  svd: ([a], params) => {
    const { batch, n } = matrixStack(a!);
    const lead = a!.shape.slice(0, -2), m = a!.shape[a!.rank - 2]!, k = Math.min(m, n);
    const [s, u, vh] = svdStack(a!.dataSync(), batch, m, n, params);
    const out = [tf.tensor(s!, [...lead, k], 'float32')];
    if (params.computeUv) {
      out.push(tf.tensor(u!, [...lead, m, params.fullMatrices ? m : k], 'float32'), tf.tensor(vh!, [...lead, params.fullMatrices ? n : k, n], 'float32'));
    }
    return out;
  },
  random_bits: ([key], params) => [randomKernel(key!, params)],
  random_split: ([key], { num }) => [splitKernel(key!, num)],
  random_fold_in: ([key, data]) => [foldInKernel(key!, data!)],
  checkpoint_name: ([x]) => [shareTensor(x!)],
  jit_call: () => higherOrderNotEvaluable('jit_call'),
  remat: () => higherOrderNotEvaluable('remat'),
  custom_jvp_call: () => higherOrderNotEvaluable('custom_jvp_call'),
  custom_vjp_call: () => higherOrderNotEvaluable('custom_vjp_call'),
  scan: () => higherOrderNotEvaluable('scan'),
  while: () => higherOrderNotEvaluable('while'),
  cond: () => higherOrderNotEvaluable('cond'),
  custom_lin: () => {
    throw new GradusError(
      'customVjp: forward-mode differentiation (jvp, jacfwd) of a customVjp function is not supported, ' +
        'because only its backward rule is known. Use customJvp, or reverse mode (grad, vjp, jacrev).',
    );
  },
  // ---- QR
  qr: ([a], { fullMatrices }) => {
    const lead = a!.shape.slice(0, -2);
    const m = a!.shape[a!.rank - 2]!, n = a!.shape[a!.rank - 1]!;
    const k = fullMatrices ? m : Math.min(m, n);
    const [q, r] = qrStack(a!.dataSync(), prod(lead), m, n, fullMatrices);
    return [tf.tensor(q, [...lead, m, k], 'float32'), tf.tensor(r, [...lead, k, n], 'float32')];
  },
};

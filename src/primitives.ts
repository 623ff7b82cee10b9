// The primitive operations of gradus: names and parameter types. Every interpreter keys its rules
// by these names (impl and shape rules in src/, JVP, batching and transpose rules in transforms/),
// and each rule table is typed over `Primitive` so that a primitive without a rule does not compile.
import type { DType } from './dtype.js';
import type { Jaxpr } from './jaxpr.js';
import type { CheckpointPolicy } from './checkpoint_policy.js';

/** Elementwise unary primitives on floats (and `neg`/`abs`/`sign` on int32 too). */
export const UNARY_PRIMITIVES = [
  'neg', 'sin', 'cos', 'tan', 'asin', 'acos', 'atan', 'sinh', 'cosh', 'asinh', 'exp', 'log', 'log1p',
  'expm1', 'tanh', 'logistic', 'sqrt', 'rsqrt', 'erf', 'erfc', 'ndtr', 'ndtri', 'exp2', 'lgamma', 'digamma', 'relu', 'abs', 'sign', 'floor', 'ceil', 'round',
] as const;
export type UnaryPrimitive = (typeof UNARY_PRIMITIVES)[number];

/** Elementwise binary arithmetic; operands share dtype and rank, size-1 dimensions broadcast. */
export const BINARY_PRIMITIVES = ['add', 'sub', 'mul', 'div', 'pow', 'max', 'min', 'atan2', 'rem'] as const;
export type BinaryPrimitive = (typeof BINARY_PRIMITIVES)[number];

/** Elementwise comparisons and logic; the output is bool and carries no derivative. */
export const COMPARISON_PRIMITIVES = ['eq', 'ne', 'lt', 'le', 'gt', 'ge', 'and', 'or', 'not', 'is_finite'] as const;

/** The primitives whose kernels broadcast operands of unequal ranks themselves (eager short cut, jit rank-promotion rewrite). */
export const BROADCASTING_PRIMITIVES: ReadonlySet<string> = new Set<string>([...BINARY_PRIMITIVES, ...COMPARISON_PRIMITIVES]);
export type ComparisonPrimitive = (typeof COMPARISON_PRIMITIVES)[number];

export interface NoParams {}

/** Parameters of each primitive. Adding a primitive means adding one row here and one per rule table. */
export interface PrimitiveParams
  extends Record<UnaryPrimitive, NoParams>,
    Record<BinaryPrimitive, NoParams>,
    Record<ComparisonPrimitive, NoParams> {
  select: NoParams;
  /**
   * min(max(x, lo), hi) (JAX's clamp_p; np.clip): operands [lo, x, hi] of one dtype (float32 or
   * int32) and one rank, size-1 dimensions broadcasting (lo and hi are most often single values).
   * Its values are max-then-min's, bit for bit: NaN propagates, ±0 as max then min order them, and
   * lo > hi gives hi; so is its derivative (½ at each tie, where JAX's clamp gives all or nothing).
   */
  clamp: NoParams;
  convert_element_type: { dtype: DType };
  reduce_sum: { axes: number[] };
  reduce_max: { axes: number[] };
  reduce_min: { axes: number[] };
  argmax: { axis: number };
  softmax: { axis: number };
  /**
   * ψ⁽ⁿ⁾(x), JAX's polygamma_p: operands [n, x], an int32 order and float32 x of one rank (size-1
   * dimensions broadcast); NaN where n < 0. Trigamma is its n = 1, digamma's derivative.
   */
  polygamma: NoParams;
  argmin: { axis: number };
  broadcast_in_dim: { shape: number[]; broadcastDimensions: number[] };
  reshape: { shape: number[] };
  transpose: { perm: number[] };
  rev: { axes: number[] };
  slice: { start: number[]; limit: number[]; strides: number[] };
  pad: { lo: number[]; hi: number[]; interior: number[]; value: number };
  concatenate: { axis: number };
  gather: { axis: number };
  scatter_add: { axis: number; axisSize: number };
  cumsum: { axis: number; reverse: boolean };
  /**
   * Stable sort along `axis`; outputs the sorted values and the permutation (int32 positions along
   * `axis`). With `k`, only the first k of each along `axis` (top_k: the kernel selects them
   * without sorting the rest).
   */
  sort: { axis: number; descending: boolean; k?: number };
  dot_general: { contract: [number[], number[]]; batch: [number[], number[]] };
  conv2d: { strides: [number, number]; padding: [[number, number], [number, number]]; dilations: [number, number] };
  stop_gradient: NoParams;
  matrix_inverse: NoParams;
  slogdet: NoParams;
  det: NoParams;
  adjugate: NoParams;
  /** d adj(A)[T] for operands [A, T]: the adjugate's derivative (det's second), linear in T. */
  adjugate_tangent: NoParams;
  /** d²adj(A)[T, S] for operands [A, T, S]: det's third derivative, bilinear in T and S (A invertible). */
  adjugate_second_tangent: NoParams;
  linear_solve: NoParams;
  cholesky: NoParams;
  /** Solves op(T) x = b, T the lower or upper triangle of the matrix, op(T) = Tᵀ with transposeA, ones on T's diagonal with unitDiagonal. */
  /** singularHint: the caller's words on a zero diagonal, appended to the LinAlgError (qr's derivative says what it needs). */
  triangular_solve: { lower: boolean; transposeA: boolean; unitDiagonal: boolean; singularHint?: string };
  /** Eigenvalues (ascending) and, with computeVectors, eigenvectors (columns) of symmetric matrices, read from the lower (or upper) triangle only; outputs [w, v] (or [w]). */
  eigh: { lower: boolean; computeVectors: boolean };
  /** Singular values (descending) and, with computeUv, the singular vectors; outputs [s, u, vh] (or [s]), as JAX's svd_p. */
  svd: { fullMatrices: boolean; computeUv: boolean };
  random_bits: { shape: number[]; distribution: 'bits' | 'uniform' | 'normal' | 'permutation' };
  random_split: { num: number };
  random_fold_in: NoParams;
  checkpoint_name: { name: string };
  // Higher-order primitives carry a traced program. Its first `numConsts` inputs are the constants
  // the traced function closed over; they are passed as ordinary operands so that outer
  // transformations see them.
  jit_call: { jaxpr: Jaxpr; numConsts: number; name: string };
  remat: { jaxpr: Jaxpr; numConsts: number; policy: CheckpointPolicy; name: string };
  custom_jvp_call: { jaxpr: Jaxpr; numConsts: number; jvp: CustomJvpRule; name: string };
  custom_vjp_call: { jaxpr: Jaxpr; numConsts: number; fwd: CustomFwd; bwd: CustomBwd; name: string };
  custom_lin: { bwd: CustomBwd; numResiduals: number; outAvals: import('./aval.js').ShapedArray[]; name: string };
  /**
   * A loop (JAX's scan_p): operands [...consts, ...carry, ...xs]; the body `jaxpr` maps
   * [...consts, ...carry, ...one slice of each xs along axis 0] to [...new carry, ...ys], run
   * `length` times (last slice first when `reverse`); the outputs are [...final carry, ...ys
   * stacked along a new axis 0].
   */
  /** `unroll`: steps of the body per iteration of the loop that runs it (≥ 1; only the executor reads it: scan_unroll.ts). */
  scan: { jaxpr: Jaxpr; numConsts: number; numCarry: number; length: number; reverse: boolean; unroll: number; name: string };
  /**
   * A loop with a data-dependent trip count (JAX's while_p): operands [...cond consts, ...body
   * consts, ...carry]; `cond` maps [...cond consts, ...carry] to a bool scalar, `body` maps
   * [...body consts, ...carry] to the new carry; the output is the carry once `cond` is false.
   */
  while: { cond: Jaxpr; body: Jaxpr; numCondConsts: number; numBodyConsts: number; name: string };
  /**
   * Runs one of several programs (JAX's cond_p, which also serves lax.switch): operands
   * [index (int32 scalar), ...operands]; every branch maps the operands to outputs of the same
   * avals, and the output is branch `index`'s (clamped to the branches, as lax.switch clamps).
   */
  cond: { branches: Jaxpr[]; name: string };
  // ---- QR (np.linalg.qr)
  /** Householder QR of a stack [..., m, n]: outputs Q [..., m, k] and R [..., k, n], k = m with fullMatrices, else min(m, n). */
  qr: { fullMatrices: boolean };
}

export type Primitive = keyof PrimitiveParams;
export type ParamsOf<P extends Primitive> = PrimitiveParams[P];

import type { NDArray } from './array.js';
/** A user JVP rule on flat lists: (primals, tangents) -> [primalOuts, tangentOuts]. */
export type CustomJvpRule = (primals: NDArray[], tangents: NDArray[]) => [NDArray[], NDArray[]];
/** A user forward rule on flat lists: primals -> [outs, residuals]. */
export type CustomFwd = (primals: NDArray[]) => [NDArray[], NDArray[]];
/** A user backward rule on flat lists: (residuals, output cotangents) -> input cotangents (null = zero). */
export type CustomBwd = (residuals: NDArray[], cotangents: NDArray[]) => (NDArray | null)[];

/** Higher-order primitives that carry a program (evaluated by replaying it, not by a kernel). */
export const PROGRAM_PRIMITIVES: ReadonlySet<Primitive> = new Set<Primitive>(['jit_call', 'remat', 'custom_jvp_call', 'custom_vjp_call', 'scan', 'while', 'cond']);

/** Primitives that are linear in some of their operands and therefore need a transpose rule. */
export const LINEAR_PRIMITIVES = [
  'neg', 'add', 'sub', 'mul', 'div', 'select', 'convert_element_type', 'reduce_sum', 'broadcast_in_dim', 'reshape',
  'transpose', 'rev', 'slice', 'pad', 'concatenate', 'gather', 'scatter_add', 'cumsum', 'dot_general', 'conv2d',
  'linear_solve', 'triangular_solve', 'adjugate_tangent', 'adjugate_second_tangent', 'checkpoint_name', 'jit_call', 'remat', 'custom_lin', 'scan', 'while', 'cond',
] as const satisfies readonly Primitive[];
export type LinearPrimitive = (typeof LINEAR_PRIMITIVES)[number];

// The compiled executor's rewrites of a program (see executor.ts): arithmetic on literals alone
// done once at compile time, rank promotions that broadcasting kernels do themselves skipped,
// a ± s·b (SGD updates) and dense layers (product + bias + relu) fused into single kernels, and
// those kernels.
import * as tf from '@tensorflow/tfjs-core';
import { ShapedArray } from './aval.js';
import { Lit, Var, type Atom, type JaxprEqn } from './jaxpr.js';
import { kernels } from './kernels.js';
import { wasmAxpy, wasmMatMul } from './wasm_kernels.js';
import { BROADCASTING_PRIMITIVES, type ParamsOf, type Primitive } from './primitives.js';
import { shapesEqual } from './shape.js';

/** Kernels the compiler substitutes for patterns of primitives. */
export type FusedKernel = 'axpy' | 'dense';

/** A dense layer's fused kernel: op(x)·W + bias, then relu if asked. */
interface DenseParams {
  /** x is stored (K, M) (the product is xᵀ·W). */
  transA: boolean;
  relu: boolean;
}

/** An equation of the compiled program: a primitive's, or a fused kernel's. */
export interface ProgramEqn {
  readonly prim: Primitive | FusedKernel;
  readonly params: unknown;
  readonly inputs: readonly Atom[];
  readonly outBinders: readonly Var[];
}

/** Drops equations (fused kernels included) whose results are never used, after a rewrite made them dead. */
function liveEquations<E extends ProgramEqn>(eqns: readonly E[], outs: readonly Atom[]): E[] {
  const live = new Set<Var>(outs.filter((o): o is Var => o instanceof Var));
  const kept: E[] = [];
  for (let i = eqns.length - 1; i >= 0; i--) {
    const eqn = eqns[i]!;
    if (eqn.outBinders.some((v) => live.has(v))) {
      kept.push(eqn);
      for (const a of eqn.inputs) if (a instanceof Var) live.add(a);
    }
  }
  return kept.reverse();
}

/** A float32 zero literal (either sign). */
function isZeroLit(a: Atom): a is Lit {
  return a instanceof Lit && a.aval.dtype === 'float32' && a.value === 0;
}

// Computations on literals alone that the compiler does once, in JS, instead of as kernels on every
// run: np writes every scalar constant as a literal reshaped to the operand's rank, and the
// backward pass of a mean starts from neg(1) / n. Float32 arithmetic is rounded as float32 does
// (double rounding of one +, -, × or ÷ from double to float32 is exact).
const FOLDABLE: Partial<Record<Primitive, (xs: number[]) => number>> = {
  reshape: ([x]) => x!, broadcast_in_dim: ([x]) => x!, neg: ([x]) => -x!,
  add: ([a, b]) => a! + b!, sub: ([a, b]) => a! - b!, mul: ([a, b]) => a! * b!, div: ([a, b]) => a! / b!,
};
const SHAPE_ONLY = new Set<Primitive>(['reshape', 'broadcast_in_dim']);

/** Replaces equations on literals alone (with a size-1 result) by literals; returns the rest and the outputs. */
function foldLiterals(eqns: readonly JaxprEqn[], outs: readonly Atom[]): { eqns: ProgramEqn[]; outs: Atom[] } {
  const folded = new Map<Var, Lit>();
  const sub = (a: Atom): Atom => (a instanceof Var ? folded.get(a) ?? a : a);
  const kept: ProgramEqn[] = [];
  for (const eqn of eqns) {
    const inputs = eqn.inputs.map(sub);
    const out = eqn.outBinders[0]!;
    const fold = FOLDABLE[eqn.prim];
    const foldable = fold !== undefined && eqn.outBinders.length === 1 && out.aval.size === 1 && inputs.every((a) => a instanceof Lit) &&
      (SHAPE_ONLY.has(eqn.prim) || (out.aval.dtype === 'float32' && inputs.every((a) => a.aval.dtype === 'float32')));
    if (foldable) {
      const values = inputs.map((a) => Number((a as Lit).value));
      const value = SHAPE_ONLY.has(eqn.prim) ? (inputs[0] as Lit).value : Math.fround(fold(values));
      folded.set(out, new Lit(value, out.aval));
    } else {
      kept.push(inputs.every((a, i) => a === eqn.inputs[i]) ? eqn : { ...eqn, inputs });
    }
  }
  return { eqns: kept, outs: outs.map(sub) };
}

/**
 * Recognises a ± s·b (and s·b + a), with s a literal and s·b used nowhere else, as one pass over
 * a and b (an SGD update p − lr·g is this): returns [a, b, ±s]. The result is bitwise the same,
 * because a − s·b and a + (−s)·b round alike.
 */
function axpyOperands(eqn: ProgramEqn, producer: Map<Var, ProgramEqn>, uses: Map<Var, number>): [Var, Var, number] | null {
  if (eqn.prim !== 'add' && eqn.prim !== 'sub') return null;
  const out = eqn.outBinders[0]!;
  const scaled = (t: Atom): [Var, number] | null => {
    const m = t instanceof Var && uses.get(t) === 1 ? producer.get(t) : undefined;
    if (m === undefined || m.prim !== 'mul') return null;
    const [x, y] = m.inputs as [Atom, Atom];
    if (x instanceof Var && y instanceof Lit) return [x, Number(y.value)];
    if (y instanceof Var && x instanceof Lit) return [y, Number(x.value)];
    return null;
  };
  const [l, r] = eqn.inputs as [Atom, Atom];
  const same = (v: Var) => v.aval.dtype === 'float32' && shapesEqual(v.aval.shape, out.aval.shape);
  const right = scaled(r);
  if (l instanceof Var && right !== null && same(l) && same(right[0])) return [l, right[0], eqn.prim === 'sub' ? -right[1] : right[1]];
  const left = eqn.prim === 'add' ? scaled(l) : null;
  if (r instanceof Var && left !== null && same(r) && same(left[0])) return [r, left[0], left[1]];
  return null;
}

/** Who uses each value (a program output counts as a use), and which equation produces it. */
function dataflow(eqns: readonly ProgramEqn[], outs: readonly Atom[]) {
  const uses = new Map<Var, number>();
  const users = new Map<Var, ProgramEqn[]>();
  const producer = new Map<Var, ProgramEqn>();
  for (const e of eqns) {
    for (const v of e.outBinders) producer.set(v, e);
    for (const a of e.inputs) {
      if (!(a instanceof Var)) continue;
      uses.set(a, (uses.get(a) ?? 0) + 1);
      const list = users.get(a);
      if (list) list.push(e);
      else users.set(a, [e]);
    }
  }
  const returned = new Set(outs.filter((o): o is Var => o instanceof Var));
  for (const o of outs) if (o instanceof Var) uses.set(o, (uses.get(o) ?? 0) + 1);
  return { uses, users, producer, returned };
}

/**
 * Recognises a dense layer, add(dot_general(x, W), c) with x·W or xᵀ·W of 2-D float32 operands, the
 * product used nowhere else and c a row of biases ((1, N) or (N)): returns x, W, c and the layout.
 */
function denseOperands(eqn: ProgramEqn, producer: Map<Var, ProgramEqn>, uses: Map<Var, number>): { x: Var; w: Var; bias: Var; transA: boolean } | null {
  if (eqn.prim !== 'add') return null;
  const out = eqn.outBinders[0]!;
  if (out.aval.dtype !== 'float32' || out.aval.shape.length !== 2) return null;
  const N = out.aval.shape[1]!;
  for (const [d, c] of [eqn.inputs, [...eqn.inputs].reverse()] as [Atom, Atom][]) {
    if (!(d instanceof Var) || !(c instanceof Var) || uses.get(d) !== 1) continue;
    const dot = producer.get(d);
    if (dot === undefined || dot.prim !== 'dot_general') continue;
    const { contract: [[ca], [cb]], batch: [ba] } = dot.params as ParamsOf<'dot_general'>;
    const [x, w] = dot.inputs as [Atom, Atom];
    const matrix = (v: Atom): v is Var => v instanceof Var && v.aval.dtype === 'float32' && v.aval.shape.length === 2;
    const isBiasRow = c.aval.dtype === 'float32' && (shapesEqual(c.aval.shape, [1, N]) || shapesEqual(c.aval.shape, [N]));
    // (K ≥ 2: dot_general computes K = 0 as zeros and K = 1 as an outer product, whose zeros keep
    // their sign, while the GEMM's sums start at +0; unfused, jit and eager run the same kernel.)
    const K = x.aval.shape[ca!] ?? 0;
    if (matrix(x) && matrix(w) && ba!.length === 0 && cb === 0 && (ca === 0 || ca === 1) && K >= 2 && shapesEqual(d.aval.shape, out.aval.shape) && isBiasRow) {
      return { x, w, bias: c, transA: ca === 0 };
    }
  }
  return null;
}

/**
 * Fuses dense layers into one kernel (product, bias and, when the sum only feeds a relu and
 * comparisons of it with 0 — gt(z, 0) is relu's derivative mask — the relu). Those comparisons then
 * read h = relu(z) instead of z: h > 0 exactly where z > 0 and h <= 0 exactly where z <= 0 (h is +0
 * there, and NaN where z is), so the mask is unchanged.
 */
function fuseDense(eqns: readonly ProgramEqn[], outs: readonly Atom[]): ProgramEqn[] {
  const { uses, users, producer, returned } = dataflow(eqns, outs);
  const replaced = new Map<ProgramEqn, ProgramEqn | null>();
  for (const eqn of eqns) {
    const dense = denseOperands(eqn, producer, uses);
    if (dense === null) continue;
    const z = eqn.outBinders[0]!;
    const zUsers = users.get(z) ?? [];
    const relus = zUsers.filter((u) => u.prim === 'relu');
    const masks = zUsers.filter((u) => u.prim !== 'relu');
    const onlyMasks = masks.every((u) => (u.prim === 'le' || u.prim === 'gt') && u.inputs[0] === z && isZeroLit(u.inputs[1]!));
    const inputs = [dense.x, dense.w, dense.bias];
    if (relus.length === 1 && onlyMasks && !returned.has(z)) {
      const h = relus[0]!.outBinders[0]!;
      replaced.set(eqn, { prim: 'dense', params: { transA: dense.transA, relu: true } satisfies DenseParams, inputs, outBinders: [h] });
      replaced.set(relus[0]!, null);
      for (const m of masks) replaced.set(m, { ...m, inputs: [h, m.inputs[1]!] });
    } else {
      replaced.set(eqn, { prim: 'dense', params: { transA: dense.transA, relu: false } satisfies DenseParams, inputs, outBinders: [z] });
    }
  }
  const rewritten = eqns.flatMap((e) => {
    const r = replaced.get(e);
    return r === undefined ? [e] : r === null ? [] : [r];
  });
  return liveEquations(rewritten, outs);
}

/** Rewrites the program with fused kernels where their patterns occur, then drops what became dead. */
function fuse(eqns: readonly ProgramEqn[], outs: readonly Atom[]): ProgramEqn[] {
  const { uses, producer } = dataflow(eqns, outs);
  const rewritten = eqns.map((eqn): ProgramEqn => {
    const axpy = axpyOperands(eqn, producer, uses);
    if (axpy) return { prim: 'axpy', params: { scale: axpy[2] }, inputs: [axpy[0], axpy[1]], outBinders: eqn.outBinders };
    return eqn;
  });
  return liveEquations(rewritten, outs);
}

/** Elementwise primitives whose kernels broadcast two operands as NumPy does (kernels.ts: withBroadcast, preferWasm); not and is_finite take one. */

/**
 * Lets a broadcasting elementwise kernel read x where it read reshape(x) that only prepends 1s (np
 * promotes an operand's rank so: x·s with a scalar array s was reshape(s) then mul, a kernel and a
 * tensor per use on every run; the kernel broadcasts x itself, to the same values and shape). Such
 * reshapes left unread are dropped. Likewise a literal of shape (1, …, 1) is read as a scalar: TF.js's
 * cpu kernels broadcast a rank-0 operand fast and a (1)-shaped one element by element (x·0.5 on
 * [64] took 3× as long).
 */
function skipRankPromotions(eqns: readonly ProgramEqn[], outs: readonly Atom[]): ProgramEqn[] {
  const scalarLit = (l: Lit) => (l.aval.ndim > 0 && l.aval.size === 1 ? new Lit(l.value, new ShapedArray([], l.aval.dtype)) : l);
  const promotedFrom = new Map<Var, Var>();
  const rewritten = eqns.map((eqn): ProgramEqn => {
    const [src] = eqn.inputs;
    if (eqn.prim === 'reshape' && src instanceof Var) {
      const from = src.aval.shape, to = eqn.outBinders[0]!.aval.shape, lead = to.length - from.length;
      if (lead >= 0 && to.every((d, i) => (i < lead ? d === 1 : d === from[i - lead]))) promotedFrom.set(eqn.outBinders[0]!, src);
      return eqn;
    }
    if (!BROADCASTING_PRIMITIVES.has(eqn.prim as Primitive) || eqn.inputs.length !== 2) return eqn;
    const inputs = eqn.inputs.map((a) => (a instanceof Var ? promotedFrom.get(a) ?? a : scalarLit(a)));
    if (inputs.every((a, i) => a === eqn.inputs[i])) return eqn;
    // Dropping leading 1s changes no trailing dimension of the broadcast, so it keeps the output's
    // shape exactly when an operand keeps the output's rank (else a leading 1 came only from them).
    return Math.max(inputs[0]!.aval.ndim, inputs[1]!.aval.ndim) === eqn.outBinders[0]!.aval.ndim ? { ...eqn, inputs } : eqn;
  });
  return liveEquations(rewritten, outs);
}

/** The program with literal arithmetic folded and fused kernels where their patterns occur; returns its equations and outputs. */
export function optimize(eqns: readonly JaxprEqn[], outs: readonly Atom[]): { eqns: ProgramEqn[]; outs: Atom[] } {
  const folded = foldLiterals(eqns, outs);
  const direct = skipRankPromotions(folded.eqns, folded.outs);
  return { eqns: fuseDense(fuse(direct, folded.outs), folded.outs), outs: folded.outs };
}

/**
 * op(x)·W + bias (then relu): on wasm, gradus's GEMM with the bias and relu in its epilogue; on cpu,
 * TF.js's fused matmul (its product, add and Relu kernels in one call). Both give the values of the
 * separate kernels bitwise (the sum is rounded before the bias is added). Elsewhere the separate kernels run.
 */
function dense(x: tf.Tensor, w: tf.Tensor, bias: tf.Tensor, { transA, relu: withRelu }: DenseParams): tf.Tensor {
  const [M, K] = transA ? [x.shape[1]!, x.shape[0]!] : [x.shape[0]!, x.shape[1]!];
  const N = w.shape[1]!;
  const row = tf.reshape(bias, [N]);
  const fused = wasmMatMul(x, w, { batch: null, M, K, N, transA }, { bias: row, relu: withRelu });
  if (fused !== null) return fused;
  if (tf.getBackend() === 'cpu') {
    return tf.fused.matMul({ a: x as tf.Tensor2D, b: w as tf.Tensor2D, transposeA: transA, bias: row, activation: withRelu ? 'relu' : 'linear' });
  }
  const z = tf.add(kernels.dot_general([x, w], { contract: [[transA ? 0 : 1], [0]], batch: [[], []] })[0]!, bias);
  return withRelu ? kernels.relu([z], {})[0]! : z;
}

/** a + s·b in one pass where gradus's wasm kernel applies, else as TF.js's multiply and add. */
function axpy(a: tf.Tensor, b: tf.Tensor, s: number): tf.Tensor {
  return wasmAxpy(a, b, s) ?? tf.add(a, tf.mul(b, tf.scalar(s)));
}

/** The fused kernels, keyed like `kernels` (which holds the primitives'). */
export const fusedKernels: Record<FusedKernel, (inputs: tf.Tensor[], params: unknown) => tf.Tensor> = {
  axpy: ([a, b], params) => axpy(a!, b!, (params as { scale: number }).scale),
  dense: ([x, w, bias], params) => dense(x!, w!, bias!, params as DenseParams),
};
export const isFused = (prim: Primitive | FusedKernel): prim is FusedKernel => Object.hasOwn(fusedKernels, prim);

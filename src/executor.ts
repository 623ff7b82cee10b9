// Runs the programs carried by higher-order primitives when they reach the eval interpreter.
// `remat` and the custom-rule primitives replay their program through `bind`; `scan` loops over
// its body compiled as below (see runScan); `jit_call` runs a
// compiled plan: dead code dropped (dce.ts: unused scan ys and carries too), arithmetic on literals
// done once at compile time, a ± s·b (SGD updates) and dense layers (product + bias + relu) fused
// into single kernels,
// kernels called directly on tensors, each intermediate freed right after its last use; each
// distinct literal made once per run (once per loop for a scan or while body) and freed likewise.
import * as tf from '@tensorflow/tfjs-core';
import { shareTensor } from './kernels.js';
import { ConcreteArray, type NDArray } from './array.js';
import type { ShapedArray } from './aval.js';
import { evalJaxprHook } from './eval_hooks.js';
import { Lit, Var, evalJaxpr, type Atom, type Jaxpr, type JaxprEqn } from './jaxpr.js';
import { kernels } from './kernels.js';
import { wasmAxpy, wasmMatMul, wasmUninitialized, wasmWriteSlice } from './wasm_kernels.js';
import { PROGRAM_PRIMITIVES, type ParamsOf, type Primitive } from './primitives.js';
import { shapeRules } from './shape_rules.js';
import { shapesEqual } from './shape.js';
import { forgetFreedTensorsPerStep, freshResults, runFreeingTemporaries, scoped } from './scope.js';
import { deadCodeElimination } from './dce.js';
import { GradusError } from './errors.js';

/** A compiled program: `run` takes concrete arrays and returns new ones owned by the caller. */
export interface Executable {
  run(args: ConcreteArray[]): NDArray[];
  /**
   * For a loop that runs the program many times in a row: a `run` that shares what one run can
   * share with the next (the literals' tensors) until `release`, which the loop calls when it ends.
   */
  repeated?(): RepeatedRuns;
}

export interface RepeatedRuns {
  run(args: ConcreteArray[]): NDArray[];
  release(): void;
}

/** The program's repeated runs where it has them, else plain runs. */
function repeatedRuns(exe: Executable): RepeatedRuns {
  return exe.repeated?.() ?? { run: (args) => exe.run(args), release: () => {} };
}

/** A program output: a slot's tensor, or a literal (made anew for the caller on each run). */
type Output = { slot: number } | { lit: Lit };

/** Kernels the compiler substitutes for patterns of primitives. */
type FusedKernel = 'axpy' | 'dense';

/** A dense layer's fused kernel: op(x)·W + bias, then relu if asked. */
interface DenseParams {
  /** x is stored (K, M) (the product is xᵀ·W). */
  transA: boolean;
  relu: boolean;
}

interface Step {
  /** A primitive, or a fused kernel the compiler recognised. */
  prim: Primitive | FusedKernel;
  params: unknown;
  /** The slots it reads (arguments, literals, intermediates). */
  inputs: number[];
  outSlots: number[];
  /** Slots whose last use is this step (freed right after it). */
  free: number[];
  /** When every output is empty: their avals, made as zeros without a kernel (as eval does; wasm kernels misbehave on empty operands). */
  emptyOuts?: ShapedArray[];
  /** Literal slots first read by this step: made before it runs (unless the caller supplied them). */
  makeLits: number[];
}

/** An equation of the compiled program: a primitive's, or a fused kernel's. */
interface ProgramEqn {
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

/**
 * Literals with one key make the same tensor (dtype, shape and value). A float32 value is keyed by
 * the bits its tensor holds: −0 apart from +0, and each NaN by its sign and payload (a NaN read
 * from an array keeps them, and eagerly a select passes them on), so no literal takes another's.
 */
function literalKey(l: Lit): string {
  const v = l.value;
  const shape = `${l.aval.dtype}|${l.aval.shape.join(',')}|`;
  if (l.aval.dtype === 'float32' && typeof v === 'number') {
    float32Scratch[0] = v;
    return shape + float32Bits[0]!;
  }
  return shape + (typeof v === 'number' && Object.is(v, -0) ? '-0' : String(v));
}
const float32Scratch = new Float32Array(1);
const float32Bits = new Uint32Array(float32Scratch.buffer);

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

export class CompiledProgram implements Executable {
  private readonly steps: Step[] = [];
  private readonly numInputs: number;
  private readonly numSlots: number;
  private readonly outputs: Output[];
  /** The distinct literals kernels read; literal k lives in slot numInputs + k. */
  private readonly literals: Lit[] = [];
  /** One past the last literal slot. */
  private readonly litEnd: number;

  constructor(readonly jaxpr: Jaxpr) {
    const slotOf = new Map<Var, number>();
    let next = 0;
    for (const v of jaxpr.inBinders) slotOf.set(v, next++);
    this.numInputs = next;
    const live = deadCodeElimination(jaxpr);
    const { eqns: constant, outs } = foldLiterals(live.eqns, live.outs);
    const eqns = fuseDense(fuse(constant, outs), outs);
    // Each distinct literal a step reads gets a slot of its own, made once per run at its first
    // use and freed after its last, as intermediates are (a chain of 1,000 ops by a JS number made
    // 1,000 tensors a run; a literal handed to a loop in a loop body was freed only when the
    // enclosing scope closed, one tensor per outer iteration). Nested programs do not free their
    // inputs. Returned literals are made apart: the caller gets a tensor of its own.
    const litSlot = new Map<string, number>();
    const slotOfLit = new Map<Lit, number>();
    for (const eqn of eqns) {
      for (const a of eqn.inputs) {
        if (!(a instanceof Lit)) continue;
        const key = literalKey(a);
        let slot = litSlot.get(key);
        if (slot === undefined) {
          litSlot.set(key, (slot = next++));
          this.literals.push(a);
        }
        slotOfLit.set(a, slot);
      }
    }
    this.litEnd = next;
    for (const eqn of eqns) {
      const inputs = eqn.inputs.map((a) => (a instanceof Lit ? slotOfLit.get(a)! : slotOf.get(a)!));
      const outSlots = eqn.outBinders.map((v) => {
        slotOf.set(v, next);
        return next++;
      });
      const avals = eqn.outBinders.map((v) => v.aval);
      const emptyOuts = avals.length > 0 && avals.every((a) => a.size === 0) && !PROGRAM_PRIMITIVES.has(eqn.prim as Primitive) ? avals : undefined;
      this.steps.push({ prim: eqn.prim, params: eqn.params, inputs, outSlots, free: [], emptyOuts, makeLits: [] });
    }
    this.numSlots = next;
    this.outputs = outs.map((a): Output => (a instanceof Lit ? { lit: a } : { slot: slotOf.get(a)! }));
    // Last use of every intermediate slot (inputs belong to the caller; outputs are returned).
    const protectedSlots = new Set<number>(this.outputs.flatMap((o) => ('slot' in o ? [o.slot] : [])));
    const lastUse = new Map<number, number>();
    this.steps.forEach((s, i) => {
      for (const slot of s.inputs) {
        if (this.isLiteralSlot(slot) && !lastUse.has(slot)) s.makeLits.push(slot);
        lastUse.set(slot, i);
      }
      for (const o of s.outSlots) if (!lastUse.has(o)) lastUse.set(o, i);
    });
    for (const [slot, i] of lastUse) {
      if (slot >= this.numInputs && !protectedSlots.has(slot)) this.steps[i]!.free.push(slot);
    }
  }

  private isLiteralSlot(slot: number): boolean {
    return slot >= this.numInputs && slot < this.litEnd;
  }

  /**
   * Runs sharing one set of literal tensors, made now and freed by `release` (a scan or while loop
   * calls it around its iterations): the tensors live exactly as long as the loop's call, so a
   * count of tensors before and after the loop is unchanged.
   */
  repeated(): RepeatedRuns {
    let literals: tf.Tensor[] | null = this.literals.map((l) => l.materialize().tensor);
    return {
      run: (args) => {
        if (literals === null) throw new GradusError('internal: a compiled program\'s repeated run after its release');
        return this.run(args, literals);
      },
      release: () => {
        for (const t of literals ?? []) t.dispose();
        literals = null;
      },
    };
  }

  /** Runs the program; `literals`, when given, hold the literal slots' tensors (the caller's: neither made nor freed here). */
  run(args: ConcreteArray[], literals?: readonly tf.Tensor[]): NDArray[] {
    const slots = new Array<tf.Tensor | undefined>(this.numSlots);
    args.forEach((a, i) => (slots[i] = a.tensor));
    literals?.forEach((t, k) => (slots[this.numInputs + k] = t));
    // Slots below this one are not the run's to free.
    const firstOwned = literals === undefined ? this.numInputs : this.litEnd;
    try {
      for (const step of this.steps) {
        if (literals === undefined) for (const s of step.makeLits) slots[s] = this.literals[s - this.numInputs]!.materialize().tensor;
        const ins = step.inputs.map((s) => slots[s]!);
        let outs: tf.Tensor[];
        if (step.emptyOuts) {
          outs = step.emptyOuts.map((a) => tf.zeros(a.shape as number[], a.dtype));
        } else if (!isFused(step.prim) && PROGRAM_PRIMITIVES.has(step.prim)) {
          const wrapped = ins.map((t) => new ConcreteArray(t));
          outs = evalJaxprHook.run(step.prim, wrapped, step.params as ParamsOf<'jit_call'>).map((o) => (o as ConcreteArray).tensor);
        } else {
          outs = runFreeingTemporaries(() => {
            return isFused(step.prim) ? [fusedKernels[step.prim](ins, step.params)] : kernels[step.prim](ins, step.params as never);
          });
        }
        step.outSlots.forEach((s, k) => (slots[s] = outs[k]));
        for (const s of step.free) {
          if (s < firstOwned) continue;
          slots[s]!.dispose();
          slots[s] = undefined;
        }
      }
    } catch (e) {
      for (let s = firstOwned; s < slots.length; s++) slots[s]?.dispose();
      throw e;
    }
    // Each output is a new tensor owned by the caller (clone inputs and repeated outputs).
    const seen = new Set<number>();
    return this.outputs.map((o) => {
      if ('lit' in o) return o.lit.materialize();
      const t = slots[o.slot]!;
      const fresh = o.slot < this.numInputs || seen.has(o.slot);
      seen.add(o.slot);
      return new ConcreteArray(fresh ? shareTensor(t) : t);
    });
  }
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
const fusedKernels: Record<FusedKernel, (inputs: tf.Tensor[], params: unknown) => tf.Tensor> = {
  axpy: ([a, b], params) => axpy(a!, b!, (params as { scale: number }).scale),
  dense: ([x, w, bias], params) => dense(x!, w!, bias!, params as DenseParams),
};
const isFused = (prim: Primitive | FusedKernel): prim is FusedKernel => Object.hasOwn(fusedKernels, prim);

/** How `jit_call` programs are compiled (replaceable, e.g. by a fusing compiler). */
export const programCompiler: { compile: (jaxpr: Jaxpr) => Executable } = {
  compile: (jaxpr) => new CompiledProgram(jaxpr),
};

const compiled = new WeakMap<Jaxpr, Executable>();

function compiledProgram(jaxpr: Jaxpr): Executable {
  let exe = compiled.get(jaxpr);
  if (exe === undefined) {
    exe = programCompiler.compile(jaxpr);
    compiled.set(jaxpr, exe);
  }
  return exe;
}

evalJaxprHook.run = (prim, args, params) => {
  if (prim === 'scan') return runScan(args, params as ParamsOf<'scan'>);
  if (prim === 'while') return runWhile(args, params as ParamsOf<'while'>);
  if (prim === 'cond') return runCond(args, params as ParamsOf<'cond'>);
  const { jaxpr } = params as ParamsOf<'jit_call'>;
  if (prim === 'jit_call') return compiledProgram(jaxpr).run(args);
  // A primitive's outputs are new arrays: a program returning one of its inputs (or a value twice) gets its own handle.
  return freshResults(scoped(() => evalJaxpr(jaxpr, args)), args);
};

/** Slice `i` of `x` along axis 0, without that axis. */
function sliceAt(x: tf.Tensor, i: number): tf.Tensor {
  const rest = x.shape.slice(1);
  if (rest.some((d) => d === 0)) return tf.zeros(rest, x.dtype);
  return tf.tidy(() => tf.reshape(tf.slice(x, [i, ...rest.map(() => 0)], [1, ...rest]), rest));
}

/**
 * A scan at the eval level: the body runs as a compiled program `length` times. Each step's
 * slices of xs and the carry it replaces are freed at once, so the loop holds one carry, the
 * operands and the ys made so far (written into their stacked outputs on wasm, stacked at the end
 * elsewhere); the body's own intermediates are freed by the compiled program as it goes.
 */
function runScan(args: ConcreteArray[], params: ParamsOf<'scan'>): NDArray[] {
  // (The freed carries and slices are also dropped from the enclosing TF.js scope's list as the
  // loop goes, so host memory does not grow with the length of a carry-only loop.)
  const { jaxpr, numConsts, numCarry, length, reverse } = params;
  const program = compiledProgram(jaxpr);
  const consts = args.slice(0, numConsts);
  const xs = args.slice(numConsts + numCarry).map((a) => a.tensor);
  const yAvals = jaxpr.outAvals.slice(numCarry);
  let carry = args.slice(numConsts, numConsts + numCarry).map((a) => a.tensor);
  let ownsCarry = false;
  // Each y goes straight into its stacked output where the backend lets us write one (wasm), so
  // the loop never holds the ys twice; elsewhere the ys are kept and stacked at the end.
  const stackedYs = yAvals.map((a) => (length === 0 ? null : wasmUninitialized([length, ...a.shape], a.dtype)));
  const ys: tf.Tensor[][] = yAvals.map(() => new Array<tf.Tensor>(length));
  const forgetFreed = forgetFreedTensorsPerStep();
  const body = repeatedRuns(program);
  try {
    for (let step = 0; step < length; step++) {
      forgetFreed();
      const i = reverse ? length - 1 - step : step;
      const slices = xs.map((x) => sliceAt(x, i));
      let outs: tf.Tensor[];
      try {
        outs = body.run([...consts, ...carry.map((t) => new ConcreteArray(t)), ...slices.map((t) => new ConcreteArray(t))]).map((o) => (o as ConcreteArray).tensor);
      } finally {
        for (const t of slices) t.dispose();
      }
      if (ownsCarry) for (const t of carry) t.dispose();
      carry = outs.slice(0, numCarry);
      ownsCarry = true;
      outs.slice(numCarry).forEach((y, k) => {
        const into = stackedYs[k];
        if (into === null || into === undefined) {
          ys[k]![i] = y;
          return;
        }
        try {
          wasmWriteSlice(into, i, y);
        } finally {
          y.dispose();
        }
      });
    }
  } catch (e) {
    if (ownsCarry) for (const t of carry) t.dispose();
    for (const list of ys) for (const t of list) t?.dispose();
    for (const t of stackedYs) t?.dispose();
    throw e;
  } finally {
    body.release();
  }
  const stacked = ys.map((list, k) => {
    if (stackedYs[k] !== null && stackedYs[k] !== undefined) return stackedYs[k]!;
    if (length === 0) return tf.zeros([0, ...yAvals[k]!.shape], yAvals[k]!.dtype);
    const out = tf.stack(list);
    for (const t of list) t.dispose();
    return out;
  });
  // The outputs are new tensors: a carry that never ran (length 0) is a copy of the operand.
  const finalCarry = ownsCarry ? carry : carry.map((t) => shareTensor(t));
  return [...finalCarry, ...stacked].map((t) => new ConcreteArray(t));
}

/**
 * A while loop at the eval level: the condition and the body run as compiled programs; the
 * condition's boolean is read back each iteration (one scalar), and each carry is freed as soon
 * as the body has replaced it, so the loop holds one carry whatever its trip count.
 */
function runWhile(args: ConcreteArray[], params: ParamsOf<'while'>): NDArray[] {
  const { cond, body, numCondConsts: nC, numBodyConsts: nB } = params;
  const [condCompiled, bodyCompiled] = [compiledProgram(cond), compiledProgram(body)];
  const condConsts = args.slice(0, nC);
  const bodyConsts = args.slice(nC, nC + nB);
  let carry = args.slice(nC + nB);
  let ownsCarry = false;
  const forgetFreed = forgetFreedTensorsPerStep();
  const condProgram = repeatedRuns(condCompiled);
  const bodyProgram = repeatedRuns(bodyCompiled);
  try {
    for (;;) {
      forgetFreed();
      const [pred] = condProgram.run([...condConsts, ...carry]) as ConcreteArray[];
      const keepGoing = pred!.tensor.dataSync()[0] !== 0;
      pred!.dispose();
      if (!keepGoing) break;
      const next = bodyProgram.run([...bodyConsts, ...carry]) as ConcreteArray[];
      if (ownsCarry) for (const c of carry) c.dispose();
      carry = next;
      ownsCarry = true;
    }
  } catch (e) {
    if (ownsCarry) for (const c of carry) c.dispose();
    throw e;
  } finally {
    condProgram.release();
    bodyProgram.release();
  }
  // The outputs are new tensors: a loop that never ran returns copies of its operands.
  return ownsCarry ? carry : carry.map((c) => new ConcreteArray(shareTensor(c.tensor)));
}

/**
 * A cond at the eval level: reads the index (one scalar) and runs only that branch, compiled.
 * The index is clamped to the branches (lax.switch clamps; cond's index is 0 or 1 already).
 */
function runCond(args: ConcreteArray[], params: ParamsOf<'cond'>): NDArray[] {
  const { branches } = params;
  const raw = args[0]!.tensor.dataSync()[0]!;
  const index = Math.min(Math.max(Math.trunc(raw), 0), branches.length - 1);
  return compiledProgram(branches[index]!).run(args.slice(1));
}

void shapeRules;

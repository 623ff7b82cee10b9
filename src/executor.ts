// Runs the programs carried by higher-order primitives when they reach the eval interpreter:
// `jit_call`, `remat` and the custom-rule primitives run their program compiled as below; `scan`,
// `while` and `cond` run their bodies and branches compiled (executor_loops.ts). A compiled plan:
// dead code dropped (dce.ts: unused scan ys and carries too), arithmetic on literals done once at
// compile time and a ± s·b (SGD updates) and dense layers fused into single kernels
// (executor_fusion.ts), kernels called directly on tensors, each intermediate freed right after its
// last use; each distinct literal made once per run and freed likewise, except in a loop: there the
// literals of the body and of every program nested in it (cond branches, nested jit, remat bodies,
// inner loops) are made at their first use and kept until the loop ends.
import * as tf from '@tensorflow/tfjs-core';
import { shareTensor } from './kernels.js';
import { ConcreteArray, type NDArray } from './array.js';
import type { ShapedArray } from './aval.js';
import { evalJaxprHook } from './eval_hooks.js';
import { Lit, Var, type Atom, type Jaxpr } from './jaxpr.js';
import { kernels } from './kernels.js';
import { PROGRAM_PRIMITIVES, type ParamsOf, type Primitive } from './primitives.js';
import { runFreeingTemporaries } from './scope.js';
import { deadCodeElimination } from './dce.js';
import { GradusError } from './errors.js';
import { fusedKernels, isFused, optimize, type FusedKernel } from './executor_fusion.js';
import { runCond, runScan, runWhile, type RunOnTensors } from './executor_loops.js';

/** A compiled program: `run` takes concrete arrays and returns new ones owned by the caller. */
export interface Executable {
  /**
   * `loop`, when given, holds the literal tensors of the loop the run is part of: the program takes
   * its literals (and its nested programs theirs) from it instead of making them for this run.
   */
  run(args: ConcreteArray[], loop?: LoopLiterals): NDArray[];
}

/**
 * The literal tensors of the programs one loop call runs (its body, and the programs nested in it):
 * each program's are made at its first run in the loop and all are freed by `release`, which the
 * loop calls when it ends (normally or by an error), so a count of tensors before and after the
 * loop is unchanged and no iteration makes a literal.
 */
export class LoopLiterals {
  private tensors: Map<object, readonly tf.Tensor[]> | null = new Map();

  /** The tensors of `literals` for `owner` (a program), made on its first call. */
  of(owner: object, literals: readonly Lit[]): readonly tf.Tensor[] {
    if (this.tensors === null) throw new GradusError('internal: a loop\'s literals read after the loop released them');
    let made = this.tensors.get(owner);
    if (made === undefined) {
      const list: tf.Tensor[] = [];
      try {
        for (const l of literals) list.push(l.materialize().tensor);
      } catch (e) {
        for (const t of list) t.dispose();
        throw e;
      }
      this.tensors.set(owner, (made = list));
    }
    return made;
  }

  release(): void {
    for (const list of this.tensors?.values() ?? []) for (const t of list) t.dispose();
    this.tensors = null;
  }
}

/** A program output: a slot's tensor, or a literal (made anew for the caller on each run). */
type Output = { slot: number } | { lit: Lit };

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
  /** Runs the step on its inputs' tensors: chosen once, when the program is compiled. */
  exec: (ins: tf.Tensor[], loop: LoopLiterals | undefined) => tf.Tensor[];
}

/** How a step runs: zeros for empty results, a nested program, a fused kernel or a primitive's kernel. */
function stepExec(prim: Primitive | FusedKernel, params: unknown, emptyOuts: ShapedArray[] | undefined): Step['exec'] {
  if (emptyOuts) return () => emptyOuts.map((a) => tf.zeros(a.shape as number[], a.dtype));
  if (isFused(prim)) {
    const fused = fusedKernels[prim];
    return (ins) => runFreeingTemporaries(() => [fused(ins, params)]);
  }
  if (prim === 'jit_call' || prim === 'remat' || prim === 'custom_jvp_call' || prim === 'custom_vjp_call') {
    // (Nested in a loop body this runs once per step: on bare tensors, as the loop runs its body.)
    const program = (params as ParamsOf<'jit_call'>).jaxpr;
    return (ins, loop) => programOnTensors(compiledProgram(program), loop)(ins);
  }
  if (PROGRAM_PRIMITIVES.has(prim)) {
    return (ins, loop) => runProgramPrimitive(prim, ins.map((t) => new ConcreteArray(t)), params, loop).map((o) => (o as ConcreteArray).tensor);
  }
  // (The kernel is looked up on each run: tests swap kernels in to count or fail their calls.)
  return (ins) => runFreeingTemporaries(() => kernels[prim](ins, params as never));
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

export class CompiledProgram implements Executable {
  private readonly steps: Step[] = [];
  private readonly numInputs: number;
  private readonly numSlots: number;
  private readonly outputs: Output[];
  /** The distinct literals kernels read; literal k lives in slot numInputs + k. */
  private readonly literals: Lit[] = [];
  /** One past the last literal slot. */
  private readonly litEnd: number;
  /** Outputs returned as a new handle on their slot's tensor: an input's, or a slot an earlier output returned already. */
  private readonly sharedOutput: boolean[];

  constructor(readonly jaxpr: Jaxpr) {
    const slotOf = new Map<Var, number>();
    let next = 0;
    for (const v of jaxpr.inBinders) slotOf.set(v, next++);
    this.numInputs = next;
    const live = deadCodeElimination(jaxpr);
    const { eqns, outs } = optimize(live.eqns, live.outs);
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
      this.steps.push({ prim: eqn.prim, params: eqn.params, inputs, outSlots, free: [], emptyOuts, makeLits: [], exec: stepExec(eqn.prim, eqn.params, emptyOuts) });
    }
    this.numSlots = next;
    this.outputs = outs.map((a): Output => (a instanceof Lit ? { lit: a } : { slot: slotOf.get(a)! }));
    const returned = new Set<number>();
    this.sharedOutput = this.outputs.map((o) => {
      if ('lit' in o) return false;
      const shared = o.slot < this.numInputs || returned.has(o.slot);
      returned.add(o.slot);
      return shared;
    });
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

  /** Runs the program; with `loop`, its literals are the loop's (neither made nor freed here). */
  run(args: ConcreteArray[], loop?: LoopLiterals): NDArray[] {
    const ins = new Array<tf.Tensor>(args.length);
    for (let i = 0; i < args.length; i++) ins[i] = args[i]!.tensor;
    const outs = this.runTensors(ins, loop);
    return outs.map((t) => new ConcreteArray(t));
  }

  /**
   * `run` on bare tensors: what a loop calls once per step, so that no step wraps its carries and
   * slices in arrays (and builds their avals) only to unwrap them again. Each result is a new
   * tensor owned by the caller.
   */
  runTensors(args: readonly tf.Tensor[], loop?: LoopLiterals): tf.Tensor[] {
    // (Indexed loops, and no allocation per step but the inputs' list: this runs once per equation,
    // and on small arrays its overhead is a good part of the kernel's.)
    const slots = new Array<tf.Tensor | undefined>(this.numSlots);
    for (let i = 0; i < args.length; i++) slots[i] = args[i]!;
    const shared = loop?.of(this, this.literals);
    if (shared !== undefined) for (let k = 0; k < shared.length; k++) slots[this.numInputs + k] = shared[k];
    // Slots below this one are not the run's to free.
    const firstOwned = shared === undefined ? this.numInputs : this.litEnd;
    const steps = this.steps;
    try {
      for (let n = 0; n < steps.length; n++) {
        const step = steps[n]!;
        if (shared === undefined) for (const s of step.makeLits) slots[s] = this.literals[s - this.numInputs]!.materialize().tensor;
        const inputs = step.inputs;
        const ins = new Array<tf.Tensor>(inputs.length);
        for (let j = 0; j < inputs.length; j++) ins[j] = slots[inputs[j]!]!;
        const outs = step.exec(ins, loop);
        const outSlots = step.outSlots;
        for (let k = 0; k < outSlots.length; k++) slots[outSlots[k]!] = outs[k];
        const free = step.free;
        for (let j = 0; j < free.length; j++) {
          const s = free[j]!;
          if (s < firstOwned) continue;
          slots[s]!.dispose();
          slots[s] = undefined;
        }
      }
    } catch (e) {
      for (let s = firstOwned; s < slots.length; s++) slots[s]?.dispose();
      throw e;
    }
    // Each output is a new tensor owned by the caller (inputs and repeated outputs are shared
    // handles: which ones is known at compile time).
    const outputs = this.outputs;
    const results = new Array<tf.Tensor>(outputs.length);
    for (let k = 0; k < outputs.length; k++) {
      const o = outputs[k]!;
      if ('lit' in o) results[k] = o.lit.materialize().tensor;
      else results[k] = this.sharedOutput[k] ? shareTensor(slots[o.slot]!) : slots[o.slot]!;
    }
    return results;
  }
}

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

/**
 * Runs a program primitive, inside the run of a loop's body when `loop` is given: its programs then
 * take their literals from the loop. A loop outside any other makes its own for the call.
 */
function runProgramPrimitive(prim: Primitive, args: ConcreteArray[], params: unknown, loop: LoopLiterals | undefined): NDArray[] {
  if (prim === 'cond') return runCond(args, params as ParamsOf<'cond'>, (branch, xs) => compiledProgram(branch).run(xs, loop));
  if (prim === 'scan' || prim === 'while') {
    const shared = loop ?? new LoopLiterals();
    const runner = (jaxpr: Jaxpr) => {
      const program = compiledProgram(jaxpr);
      return (xs: ConcreteArray[]) => program.run(xs, shared);
    };
    try {
      if (prim === 'scan') return runScan(args, params as ParamsOf<'scan'>, (jaxpr) => programOnTensors(compiledProgram(jaxpr), shared));
      const { cond, body } = params as ParamsOf<'while'>;
      return runWhile(args, params as ParamsOf<'while'>, runner(cond), runner(body));
    } finally {
      if (loop === undefined) shared.release();
    }
  }
  // jit_call, remat, custom_jvp_call and custom_vjp_call: the program on its arguments (consts first).
  // (Their rules only matter to transformations; at the eval level each is its program.)
  return compiledProgram((params as ParamsOf<'jit_call'>).jaxpr).run(args, loop);
}

/** A program as a function of bare tensors (compiled ones run on them directly; others through arrays). */
function programOnTensors(program: Executable, loop: LoopLiterals | undefined): RunOnTensors {
  if (program instanceof CompiledProgram) return (xs) => program.runTensors(xs, loop);
  return (xs) => program.run(xs.map((t) => new ConcreteArray(t)), loop).map((o) => (o as ConcreteArray).tensor);
}

evalJaxprHook.run = (prim, args, params) => runProgramPrimitive(prim as Primitive, args, params, undefined);

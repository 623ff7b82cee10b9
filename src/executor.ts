// Runs the programs carried by higher-order primitives when they reach the eval interpreter.
// `remat` and the custom-rule primitives replay their program through `bind`; `jit_call` runs a
// compiled plan: dead code dropped, kernels called directly on tensors, each intermediate freed
// right after its last use.
import * as tf from '@tensorflow/tfjs-core';
import { shareTensor } from './kernels.js';
import { ConcreteArray, type NDArray } from './array.js';
import { evalJaxprHook } from './eval_hooks.js';
import { Lit, Var, evalJaxpr, type Atom, type Jaxpr, type JaxprEqn } from './jaxpr.js';
import { kernels } from './kernels.js';
import { PROGRAM_PRIMITIVES, type ParamsOf, type Primitive } from './primitives.js';
import { shapeRules } from './shape_rules.js';
import { scoped } from './scope.js';

/** A compiled program: `run` takes concrete arrays and returns new ones owned by the caller. */
export interface Executable {
  run(args: ConcreteArray[]): NDArray[];
}

type Input = { slot: number } | { lit: Lit };

interface Step {
  /** A primitive, or a fused kernel the compiler recognised. */
  prim: Primitive | 'relu';
  params: unknown;
  inputs: Input[];
  outSlots: number[];
  /** Slots whose last use is this step (freed right after it). */
  free: number[];
}

/** Drops equations whose results are never used (every primitive is pure). */
export function deadCodeElimination(jaxpr: Jaxpr): JaxprEqn[] {
  const live = new Set<Var>(jaxpr.outs.filter((o): o is Var => o instanceof Var));
  const kept: JaxprEqn[] = [];
  for (let i = jaxpr.eqns.length - 1; i >= 0; i--) {
    const eqn = jaxpr.eqns[i]!;
    if (eqn.outBinders.some((v) => live.has(v))) {
      kept.push(eqn);
      for (const a of eqn.inputs) if (a instanceof Var) live.add(a);
    }
  }
  return kept.reverse();
}

function isZeroLit(a: Atom): boolean {
  return a instanceof Lit && a.value === 0 && a.aval.dtype === 'float32';
}

/** A float32 zero: the literal itself, or the literal reshaped or broadcast (as np's lowering writes it). */
function isZeroConstant(a: Atom, producer: Map<Var, JaxprEqn>): boolean {
  if (isZeroLit(a)) return true;
  const eqn = a instanceof Var ? producer.get(a) : undefined;
  return eqn !== undefined && (eqn.prim === 'reshape' || eqn.prim === 'broadcast_in_dim') && isZeroLit(eqn.inputs[0]!);
}

// TF.js's fused matmul-with-bias is not used: on wasm it measured slower than a matmul followed by
// a broadcasting add (5.3 ms vs 4.3 ms for 128×784·784×512); only Relu fusion pays off there.

/**
 * Recognises np.relu's lowering, select(le(x, 0), 0, x), and returns x: the compiled program runs
 * it as one Relu kernel (TF.js's Relu also propagates NaN). The comparison stays in the program if
 * anything else (the backward mask) uses it.
 */
function reluOperand(eqn: JaxprEqn, producer: Map<Var, JaxprEqn>): Atom | null {
  if (eqn.prim !== 'select') return null;
  const [p, zero, x] = eqn.inputs as [Atom, Atom, Atom];
  if (!(p instanceof Var) || !(x instanceof Var) || !isZeroConstant(zero, producer)) return null;
  const cmp = producer.get(p);
  if (cmp === undefined || cmp.prim !== 'le' || cmp.inputs[0] !== x || !isZeroConstant(cmp.inputs[1]!, producer)) return null;
  return x.aval.dtype === 'float32' && x.aval.shape.join() === eqn.outBinders[0]!.aval.shape.join() ? x : null;
}

export class CompiledProgram implements Executable {
  private readonly steps: Step[] = [];
  private readonly numInputs: number;
  private readonly numSlots: number;
  private readonly outputs: Input[];

  constructor(readonly jaxpr: Jaxpr) {
    const slotOf = new Map<Var, number>();
    let next = 0;
    for (const v of jaxpr.inBinders) slotOf.set(v, next++);
    this.numInputs = next;
    const eqns = deadCodeElimination(jaxpr);
    const atom = (a: Atom): Input => (a instanceof Lit ? { lit: a } : { slot: slotOf.get(a)! });
    const producer = new Map<Var, JaxprEqn>();
    for (const eqn of eqns) {
      const relu = reluOperand(eqn, producer);
      const inputs = relu ? [atom(relu)] : eqn.inputs.map(atom);
      const outSlots = eqn.outBinders.map((v) => {
        slotOf.set(v, next);
        producer.set(v, eqn);
        return next++;
      });
      this.steps.push({ prim: relu ? 'relu' : eqn.prim, params: eqn.params, inputs, outSlots, free: [] });
    }
    this.numSlots = next;
    this.outputs = jaxpr.outs.map(atom);
    // Last use of every intermediate slot (inputs belong to the caller; outputs are returned).
    const protectedSlots = new Set<number>(this.outputs.flatMap((o) => ('slot' in o ? [o.slot] : [])));
    const lastUse = new Map<number, number>();
    this.steps.forEach((s, i) => {
      for (const inp of s.inputs) if ('slot' in inp) lastUse.set(inp.slot, i);
      for (const o of s.outSlots) if (!lastUse.has(o)) lastUse.set(o, i);
    });
    for (const [slot, i] of lastUse) {
      if (slot >= this.numInputs && !protectedSlots.has(slot)) this.steps[i]!.free.push(slot);
    }
  }

  run(args: ConcreteArray[]): NDArray[] {
    const slots = new Array<tf.Tensor | undefined>(this.numSlots);
    args.forEach((a, i) => (slots[i] = a.tensor));
    try {
      for (const step of this.steps) {
        const ins = step.inputs.map((inp) => ('slot' in inp ? slots[inp.slot]! : null));
        let outs: tf.Tensor[];
        if (step.prim !== 'relu' && PROGRAM_PRIMITIVES.has(step.prim)) {
          const wrapped = step.inputs.map((inp, k) => ('slot' in inp ? new ConcreteArray(ins[k]!) : inp.lit.materialize()));
          outs = evalJaxprHook.run(step.prim, wrapped, step.params as ParamsOf<'jit_call'>).map((o) => (o as ConcreteArray).tensor);
        } else {
          outs = tf.tidy(() => {
            const tensors = step.inputs.map((inp, k) => ('slot' in inp ? ins[k]! : inp.lit.materialize().tensor));
            return step.prim === 'relu' ? [tf.relu(tensors[0]!)] : kernels[step.prim](tensors, step.params as never);
          });
        }
        step.outSlots.forEach((s, k) => (slots[s] = outs[k]));
        for (const s of step.free) {
          slots[s]!.dispose();
          slots[s] = undefined;
        }
      }
    } catch (e) {
      for (let s = this.numInputs; s < slots.length; s++) slots[s]?.dispose();
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

/** How `jit_call` programs are compiled (replaceable, e.g. by a fusing compiler). */
export const programCompiler: { compile: (jaxpr: Jaxpr) => Executable } = {
  compile: (jaxpr) => new CompiledProgram(jaxpr),
};

const compiled = new WeakMap<Jaxpr, Executable>();

evalJaxprHook.run = (prim, args, params) => {
  if (prim === 'jit_call') {
    let exe = compiled.get(params.jaxpr);
    if (exe === undefined) {
      exe = programCompiler.compile(params.jaxpr);
      compiled.set(params.jaxpr, exe);
    }
    return exe.run(args);
  }
  return freshOutputs(scoped(() => evalJaxpr(params.jaxpr, args)), args);
};

/**
 * A primitive's outputs are new arrays: a program that returns one of its inputs (or the same
 * value twice) gets a copy, so freeing an output never frees an argument.
 */
function freshOutputs(outs: NDArray[], args: ConcreteArray[]): NDArray[] {
  const taken = new Set<tf.Tensor>(args.map((a) => a.tensor));
  return outs.map((o) => {
    if (!(o instanceof ConcreteArray)) return o;
    if (taken.has(o.tensor)) return new ConcreteArray(shareTensor(o.tensor));
    taken.add(o.tensor);
    return o;
  });
}

void shapeRules;

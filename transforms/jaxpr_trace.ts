// The tracing interpreter: runs a function on abstract values and records every primitive into a
// program (a Jaxpr). Constants it meets (closed-over arrays, values made inside) become the
// program's leading inputs; size-1 concrete constants are written inline as literals.
import type * as tf from '@tensorflow/tfjs-core';
import { ConcreteArray, type NDArray } from '../src/array.js';
import type { ShapedArray } from '../src/aval.js';
import { MainTrace, Trace, Tracer, abstractEvalPrimitive, fullRaise, withDynamicTrace, withNewMain } from '../src/core.js';
import { Jaxpr, Lit, Var, type Atom, type JaxprEqn } from '../src/jaxpr.js';
import type { ParamsOf, Primitive } from '../src/primitives.js';
import { collectTensors } from '../src/scope.js';

export class JaxprTracer extends Tracer {
  constructor(
    readonly trace: JaxprTrace,
    readonly aval: ShapedArray,
    readonly variable: Var,
  ) {
    super();
  }
  override abstractIn(): string {
    return 'a traced program (jit, makeJaxpr, checkpoint or a custom rule)';
  }
  concreteValue(): null {
    return null;
  }
  collectTensors(): void {
    // Abstract: holds no data. Constants are held by the builder.
  }
}

/** Accumulates equations and constants while a function is traced. */
export class JaxprBuilder {
  readonly eqns: JaxprEqn[] = [];
  readonly constTracers = new Map<NDArray, JaxprTracer>();
  private readonly constOrder: NDArray[] = [];
  addConst(val: NDArray, tracer: JaxprTracer): void {
    this.constTracers.set(val, tracer);
    this.constOrder.push(val);
  }
  collectTensors(out: Set<tf.Tensor>): void {
    for (const c of this.constOrder) collectTensors(c, out);
  }
  size(): number {
    return this.constOrder.length;
  }
  collectTensorsSince(mark: number, out: Set<tf.Tensor>): void {
    for (let i = mark; i < this.constOrder.length; i++) collectTensors(this.constOrder[i], out);
  }
}

export class JaxprTrace extends Trace {
  get builder(): JaxprBuilder {
    return this.main.globalData as JaxprBuilder;
  }
  newArg(aval: ShapedArray): JaxprTracer {
    return new JaxprTracer(this, aval, new Var(aval));
  }
  lift(val: NDArray): NDArray {
    let t = this.builder.constTracers.get(val);
    if (t === undefined) {
      t = new JaxprTracer(this, val.aval, new Var(val.aval));
      this.builder.addConst(val, t);
    }
    return t;
  }
  processPrimitive<P extends Primitive>(prim: P, args: NDArray[], params: ParamsOf<P>): NDArray[] {
    const tracers = args as JaxprTracer[];
    const avalsOut = abstractEvalPrimitive(prim, tracers.map((t) => t.aval), params);
    const outs = avalsOut.map((a) => new JaxprTracer(this, a, new Var(a)));
    this.builder.eqns.push({ prim, inputs: tracers.map((t) => t.variable), params, outBinders: outs.map((t) => t.variable) });
    return outs;
  }
}

export interface TracedProgram {
  jaxpr: Jaxpr;
  /** Values for the program's leading `consts.length` inputs. */
  consts: NDArray[];
}

/**
 * Traces `f` on abstract inputs of the given avals into a program whose inputs are
 * [...consts, ...args]. Operations on constants are recorded too (omnistaging), so the program is
 * the whole computation.
 */
export function traceToJaxpr(f: (args: NDArray[]) => NDArray[], avalsIn: readonly ShapedArray[]): TracedProgram {
  const builder = new JaxprBuilder();
  return withNewMain(JaxprTrace, builder, (main: MainTrace) => {
    main.held.push(builder);
    return withDynamicTrace(main, () => {
      const trace = new JaxprTrace(main);
      const tracersIn = avalsIn.map((a) => trace.newArg(a));
      const outs = f(tracersIn);
      const tracersOut = outs.map((o) => fullRaise(trace, o) as JaxprTracer);
      return buildProgram(builder, tracersIn, tracersOut);
    });
  });
}

function buildProgram(builder: JaxprBuilder, tracersIn: JaxprTracer[], tracersOut: JaxprTracer[]): TracedProgram {
  // Concrete size-1 constants become literals; everything else stays a constant input.
  const literals = new Map<Var, Lit>();
  const consts: NDArray[] = [];
  const constVars: Var[] = [];
  for (const [val, tracer] of builder.constTracers) {
    if (val instanceof ConcreteArray && val.size === 1) literals.set(tracer.variable, new Lit(val.item(), val.aval));
    else {
      consts.push(val);
      constVars.push(tracer.variable);
    }
  }
  const sub = (a: Atom): Atom => (a instanceof Var ? (literals.get(a) ?? a) : a);
  const eqns = builder.eqns.map((e) => ({ ...e, inputs: e.inputs.map(sub) }));
  const outs = tracersOut.map((t) => sub(t.variable));
  return { jaxpr: new Jaxpr([...constVars, ...tracersIn.map((t) => t.variable)], eqns, outs), consts };
}

/**
 * Programs traced separately, each taking [...its own consts, ...inputs], rewritten to take the
 * same inputs [...every program's consts, ...inputs] (each ignores the others' consts), as a
 * primitive that chooses among them (cond) needs: JAX's _initial_style_jaxprs_with_common_consts.
 */
export function withCommonConsts(programs: readonly TracedProgram[]): { jaxprs: Jaxpr[]; consts: NDArray[] } {
  const consts = programs.flatMap((p) => p.consts);
  const jaxprs = programs.map((p, j) => {
    const n = p.consts.length;
    const unused = (q: TracedProgram): Var[] => q.consts.map((c) => new Var(c.aval));
    const binders = [
      ...programs.slice(0, j).flatMap(unused),
      ...p.jaxpr.inBinders.slice(0, n),
      ...programs.slice(j + 1).flatMap(unused),
      ...p.jaxpr.inBinders.slice(n),
    ];
    return new Jaxpr(binders, p.jaxpr.eqns, p.jaxpr.outs);
  });
  return { jaxprs, consts };
}

/**
 * JAX's fixpoint for the branches of a cond, whose outputs must agree: `transform(forced)` rewrites
 * every branch with the outputs in `forced` made nonzero/batched/unknown, and each rewrite reports
 * which outputs it made so (`flagsOf`); repeat with their union until every branch agrees. `allowed`
 * vetoes outputs that can never carry the flag (e.g. int outputs have no tangent).
 */
export function branchFixpoint<T>(numOuts: number, transform: (forced: boolean[]) => T[], flagsOf: (t: T) => boolean[], allowed: (i: number) => boolean = () => true): [T[], boolean[]] {
  let forced = Array.from({ length: numOuts }, () => false);
  for (;;) {
    const results = transform(forced);
    const union = forced.map((f, i) => (f || results.some((r) => flagsOf(r)[i])) && allowed(i));
    const settled = results.every((r) => flagsOf(r).every((f, i) => f === union[i]));
    forced = union;
    if (settled) return [results, forced];
  }
}

// Partial evaluation: run a function on partly-known inputs, computing what depends only on known
// values now and recording the rest as a program. Linearize = JVP + partial evaluation with the
// primals known and the tangents unknown; the recorded program is then linear in the tangents.
// This file holds the tracer-level machinery and the rules of the primitives that carry programs;
// splitting a program (partial_eval_jaxpr.ts) and the control-flow splits
// (partial_eval_control_flow.ts) work on programs only.
import type * as tf from '@tensorflow/tfjs-core';
import type { NDArray } from '../src/array.js';
import type { ShapedArray } from '../src/aval.js';
import { Trace, Tracer, abstractEvalPrimitive, bind, fullLower, fullRaise, withNewMain, type MainTrace } from '../src/core.js';
import { TransformError } from '../src/errors.js';
import { Jaxpr, Var, evalJaxpr, type JaxprEqn } from '../src/jaxpr.js';
import type { ParamsOf, Primitive } from '../src/primitives.js';
import { collectTensors, scoped } from '../src/scope.js';
import { partialEvalJaxpr } from './partial_eval_jaxpr.js';
import { condUnknownInputs, hoistParams, knownScanOperands, scanOperand, splitCond, splitScan, splitWhile } from './partial_eval_control_flow.js';

/** Known (a value) or unknown (only an aval). */
export class PartialVal {
  private constructor(
    readonly aval: ShapedArray,
    readonly known: NDArray | null,
  ) {}
  static known(val: NDArray): PartialVal {
    return new PartialVal(val.aval, val);
  }
  static unknown(aval: ShapedArray): PartialVal {
    return new PartialVal(aval, null);
  }
  get isKnown(): boolean {
    return this.known !== null;
  }
}

interface EqnRecipe {
  prim: Primitive;
  tracersIn: PartialEvalTracer[];
  params: unknown;
  tracersOut: PartialEvalTracer[];
}

type Recipe = { kind: 'arg' } | { kind: 'const'; value: NDArray } | { kind: 'eqn'; eqn: EqnRecipe };

export class PartialEvalTracer extends Tracer {
  constructor(
    readonly trace: PartialEvalTrace,
    readonly pval: PartialVal,
    public recipe: Recipe | null,
  ) {
    super();
  }
  get aval(): ShapedArray {
    return this.pval.aval;
  }
  override fullLower(): NDArray {
    return this.pval.known !== null ? fullLower(this.pval.known) : this;
  }
  override abstractIn(): string | null {
    return this.pval.known !== null ? this.pval.known.abstractIn() : 'the linear part of a linearization (it has no value yet)';
  }
  concreteValue() {
    return this.pval.known !== null ? this.pval.known.concreteValue() : null;
  }
  collectTensors(out: Set<tf.Tensor>): void {
    if (this.pval.known !== null) collectTensors(this.pval.known, out);
  }
}

/** Residuals captured into the program being built; kept alive while the trace runs. */
class ResidualHolder {
  readonly values: NDArray[] = [];
  collectTensors(out: Set<tf.Tensor>): void {
    for (const v of this.values) collectTensors(v, out);
  }
  size(): number {
    return this.values.length;
  }
  collectTensorsSince(mark: number, out: Set<tf.Tensor>): void {
    for (let i = mark; i < this.values.length; i++) collectTensors(this.values[i], out);
  }
}

export class PartialEvalTrace extends Trace {
  get residuals(): ResidualHolder {
    return this.main.globalData as ResidualHolder;
  }
  newArg(pval: PartialVal): PartialEvalTracer {
    return new PartialEvalTracer(this, pval, pval.isKnown ? null : { kind: 'arg' });
  }
  lift(val: NDArray): NDArray {
    return new PartialEvalTracer(this, PartialVal.known(val), null);
  }
  /** Makes a known tracer unknown: its value becomes a constant (a residual) of the recorded program. */
  instantiateConst(t: PartialEvalTracer): PartialEvalTracer {
    if (!t.pval.isKnown) return t;
    const value = t.pval.known!;
    this.residuals.values.push(value);
    return new PartialEvalTracer(this, PartialVal.unknown(value.aval), { kind: 'const', value });
  }
  /** Records an equation whose outputs are unknown. */
  recordEqn(prim: Primitive, tracersIn: PartialEvalTracer[], params: unknown, avalsOut: ShapedArray[]): PartialEvalTracer[] {
    const ins = tracersIn.map((t) => this.instantiateConst(t));
    const outs = avalsOut.map((a) => new PartialEvalTracer(this, PartialVal.unknown(a), null));
    const eqn: EqnRecipe = { prim, tracersIn: ins, params, tracersOut: outs };
    for (const o of outs) o.recipe = { kind: 'eqn', eqn };
    return outs;
  }
  processPrimitive<P extends Primitive>(prim: P, args: NDArray[], params: ParamsOf<P>): NDArray[] {
    const tracers = args as PartialEvalTracer[];
    if (tracers.every((t) => t.pval.isKnown)) return bind(prim, tracers.map((t) => t.pval.known!), params);
    if (prim === 'jit_call' || prim === 'remat') return partialEvalProgram(this, prim, tracers, params as ParamsOf<'jit_call'>);
    if (prim === 'scan') return partialEvalScan(this, tracers, params as ParamsOf<'scan'>);
    if (prim === 'while') return partialEvalWhile(this, tracers, params as ParamsOf<'while'>);
    if (prim === 'cond' && tracers[0]!.pval.isKnown) return partialEvalCond(this, tracers, params as ParamsOf<'cond'>);
    const avalsOut = abstractEvalPrimitive(prim, tracers.map((t) => t.aval), params);
    return this.recordEqn(prim, tracers, params, avalsOut);
  }
}

export interface PartialEvalResult {
  /** Program over [...residual consts, ...unknown inputs] computing the unknown outputs. */
  jaxpr: Jaxpr;
  consts: NDArray[];
  /** Per output: its value if known, else null. */
  knownOuts: (NDArray | null)[];
}

/**
 * Runs `f` with inputs described by `pvals`; known work happens now, unknown work is recorded.
 * Outputs listed in `instantiate` are always made unknown (returned by the program).
 */
export function partialEvalFlat(f: (xs: NDArray[]) => NDArray[], pvals: PartialVal[], instantiate: (i: number, numOuts: number) => boolean = () => false): PartialEvalResult {
  const holder = new ResidualHolder();
  return withNewMain(PartialEvalTrace, holder, (main: MainTrace) => {
    main.held.push(holder);
    const trace = new PartialEvalTrace(main);
    const tracersIn = pvals.map((p) => trace.newArg(p));
    const raw = f(tracersIn);
    const outs = raw.map((o, i) => {
      const t = fullRaise(trace, o) as PartialEvalTracer;
      return instantiate(i, raw.length) ? trace.instantiateConst(t) : t;
    });
    const unknownIn = tracersIn.filter((t) => !t.pval.isKnown);
    const unknownOut = outs.filter((t) => !t.pval.isKnown);
    const { jaxpr, consts } = tracersToJaxpr(unknownIn, unknownOut);
    return { jaxpr, consts, knownOuts: outs.map((t) => t.pval.known) };
  });
}

/** Builds the program that recomputes `outs` from `ins` by walking recipes back from the outputs. */
function tracersToJaxpr(ins: PartialEvalTracer[], outs: PartialEvalTracer[]): { jaxpr: Jaxpr; consts: NDArray[] } {
  const vars = new Map<PartialEvalTracer, Var>();
  const varOf = (t: PartialEvalTracer): Var => {
    let v = vars.get(t);
    if (v === undefined) {
      v = new Var(t.aval);
      vars.set(t, v);
    }
    return v;
  };
  const inVars = ins.map(varOf);
  const constVars: Var[] = [];
  const consts: NDArray[] = [];
  // Iterative post-order DFS over equation recipes (deep programs would overflow recursion).
  const eqnOrder: EqnRecipe[] = [];
  const visited = new Set<EqnRecipe>();
  const seenTracer = new Set<PartialEvalTracer>();
  const stack: [PartialEvalTracer, boolean][] = outs.map((t) => [t, false] as [PartialEvalTracer, boolean]).reverse();
  while (stack.length) {
    const [t, expanded] = stack.pop()!;
    const r = t.recipe;
    if (r === null) throw new TransformError('partial evaluation: internal error: an unknown value has no recipe');
    if (r.kind === 'arg') {
      if (!vars.has(t)) throw new TransformError('a traced value from an enclosing transformation leaked into this one (an input was used that is not an argument)');
      continue;
    }
    if (r.kind === 'const') {
      if (!seenTracer.has(t)) {
        seenTracer.add(t);
        constVars.push(varOf(t));
        consts.push(r.value);
      }
      continue;
    }
    if (expanded) {
      if (!visited.has(r.eqn)) {
        visited.add(r.eqn);
        eqnOrder.push(r.eqn);
      }
      continue;
    }
    if (visited.has(r.eqn)) continue;
    stack.push([t, true]);
    for (let i = r.eqn.tracersIn.length - 1; i >= 0; i--) {
      const u = r.eqn.tracersIn[i]!;
      const ur = u.recipe;
      if (ur !== null && ur.kind === 'eqn' && visited.has(ur.eqn)) continue;
      stack.push([u, false]);
    }
  }
  const eqns: JaxprEqn[] = eqnOrder.map((e) => ({
    prim: e.prim,
    inputs: e.tracersIn.map(varOf),
    params: e.params as ParamsOf<Primitive>,
    outBinders: e.tracersOut.map(varOf),
  }));
  return { jaxpr: new Jaxpr([...constVars, ...inVars], eqns, outs.map(varOf)), consts };
}

// ---------------------------------------------------------------------------------------------
// The rules of the primitives that carry programs: the known part runs now, the unknown part is
// recorded as one equation over the residuals.

/**
 * The partial-evaluation rule of jit_call and remat: run the known part now (for remat, keeping
 * only what the policy saves) and record the unknown part as one equation over the residuals.
 */
function partialEvalProgram(trace: PartialEvalTrace, prim: 'jit_call' | 'remat', tracers: PartialEvalTracer[], params: ParamsOf<'jit_call'>): NDArray[] {
  const inUnknowns = tracers.map((t) => !t.pval.isKnown);
  const policy = prim === 'remat' ? (params as unknown as ParamsOf<'remat'>).policy : null;
  const split = partialEvalJaxpr(params.jaxpr, inUnknowns, policy);
  const knownTracers = tracers.filter((t) => t.pval.isKnown);
  const knownIns = knownTracers.map((t) => t.pval.known!);
  const numKnownOuts = split.outUnknowns.filter((u) => !u).length;
  // A residual that is a known input itself is taken from that input, not returned by the known
  // part: a jit_call's outputs are new tensors (an input it returns is cloned), so the pullback
  // held a copy of each input it saves (jit(f) held 48 bytes against 24 for f(v) = sum(sin(v * v))).
  const residualAtoms = split.known.outs.slice(numKnownOuts);
  const inputOf = residualAtoms.map((a) => (a instanceof Var ? split.known.inBinders.indexOf(a) : -1));
  const known = inputOf.every((j) => j < 0) ? split.known : new Jaxpr(split.known.inBinders, split.known.eqns, [...split.known.outs.slice(0, numKnownOuts), ...residualAtoms.filter((_, r) => inputOf[r]! < 0)]);
  // The known part of a checkpointed function runs in its own scope: its intermediates die here.
  const knownResults =
    prim === 'remat'
      ? scoped(() => evalJaxpr(known, knownIns))
      : bind('jit_call', knownIns, { ...params, jaxpr: known, numConsts: 0 });
  let computed = numKnownOuts;
  const residuals = inputOf.map((j) => (j >= 0 ? knownTracers[j]! : (trace.lift(knownResults[computed++]!) as PartialEvalTracer)));
  // The unknown part reads only the unknown inputs it uses (readByUnknown): one it does not read
  // would keep, in the pullback, what computed that input's tangent (its derivative coefficients),
  // though no cotangent reaches it.
  const unknownIns = tracers.filter((_, i) => split.readByUnknown[i]);
  const unknownOuts = trace.recordEqn(prim, [...residuals, ...unknownIns], { ...params, jaxpr: split.unknown, numConsts: 0 }, split.unknown.outAvals);
  let k = 0, u = 0;
  return split.outUnknowns.map((unk) => (unk ? unknownOuts[u++]! : trace.lift(knownResults[k++]!)));
}

/** The partial-evaluation rule of scan: run the known scan now, record the unknown one over its residuals. */
function partialEvalScan(trace: PartialEvalTrace, tracers: PartialEvalTracer[], params: ParamsOf<'scan'>): NDArray[] {
  const split = splitScan(params, tracers.map((t) => !t.pval.isKnown));
  const knownConsts = tracers.slice(0, params.numConsts).filter((t) => t.pval.isKnown).map((t) => t.pval.known!);
  const hoisted = split.hoist === null ? [] : bind('jit_call', knownConsts, hoistParams(split, params.name));
  const knownIns = split.known === null ? [] : knownScanOperands(split, tracers.map((t) => t.pval.known!), hoisted);
  const knownResults = split.known === null ? [] : bind('scan', knownIns, split.known);
  const numKnownOuts = split.outUnknowns.filter((u) => !u).length;
  const residuals = knownResults.slice(numKnownOuts).map((r) => trace.lift(r) as PartialEvalTracer);
  const hoistedTracers = hoisted.map((h) => trace.lift(h) as PartialEvalTracer);
  const knownOuts = knownResults.slice(0, numKnownOuts).map((r) => trace.lift(r) as PartialEvalTracer);
  const ins = split.unknownOperands.map((o) => scanOperand(o, tracers, hoistedTracers, residuals, knownOuts));
  const avalsOut = abstractEvalPrimitive('scan', ins.map((t) => t.aval), split.unknown);
  const unknownOuts = trace.recordEqn('scan', ins, split.unknown, avalsOut);
  let k = 0, u = 0;
  return split.outUnknowns.map((unk) => (unk ? unknownOuts[u++]! : knownOuts[k++]!));
}

/** The partial-evaluation rule of while: run the known loop now, record the whole loop for the unknown carries. */
function partialEvalWhile(trace: PartialEvalTrace, tracers: PartialEvalTracer[], params: ParamsOf<'while'>): NDArray[] {
  const split = splitWhile(params, tracers.map((t) => !t.pval.isKnown));
  const knownResults = split.known === null ? [] : bind('while', tracers.filter((_, i) => split.knownOperands[i]).map((t) => t.pval.known!), split.known);
  const unknownOuts = trace.recordEqn('while', tracers, params, abstractEvalPrimitive('while', tracers.map((t) => t.aval), params));
  let k = 0;
  return split.carryUnknowns.map((u, i) => (u ? unknownOuts[i]! : trace.lift(knownResults[k++]!)));
}

/** The partial-evaluation rule of cond (known index): run the known cond now, record the unknown one over its residuals. */
function partialEvalCond(trace: PartialEvalTrace, tracers: PartialEvalTracer[], params: ParamsOf<'cond'>): NDArray[] {
  const [index, ...ops] = tracers;
  const opUnknowns = ops.map((t) => !t.pval.isKnown);
  const split = splitCond(params, opUnknowns);
  const knownOps = ops.filter((t) => t.pval.isKnown).map((t) => t.pval.known!);
  const knownResults = split.known === null ? [] : bind('cond', [index!.pval.known!, ...knownOps], split.known);
  const numKnownOuts = split.outUnknowns.filter((u) => !u).length;
  const residuals = knownResults.slice(numKnownOuts).map((r) => trace.lift(r) as PartialEvalTracer);
  const ins = condUnknownInputs(split, index!, residuals, ops);
  const unknownOuts = trace.recordEqn('cond', ins, split.unknown, abstractEvalPrimitive('cond', ins.map((t) => t.aval), split.unknown));
  let k = 0, u = 0;
  return split.outUnknowns.map((unk) => (unk ? unknownOuts[u++]! : trace.lift(knownResults[k++]!)));
}

// Partial evaluation: run a function on partly-known inputs, computing what depends only on known
// values now and recording the rest as a program. Linearize = JVP + partial evaluation with the
// primals known and the tangents unknown; the recorded program is then linear in the tangents.
import type * as tf from '@tensorflow/tfjs-core';
import type { NDArray } from '../src/array.js';
import { ShapedArray as ShapedArrayClass, type ShapedArray } from '../src/aval.js';
import { Trace, Tracer, abstractEvalPrimitive, bind, fullLower, fullRaise, withNewMain, type MainTrace } from '../src/core.js';
import { TransformError } from '../src/errors.js';
import { Jaxpr, Lit, Var, evalJaxpr, type Atom, type JaxprEqn } from '../src/jaxpr.js';
import type { ParamsOf, Primitive } from '../src/primitives.js';
import { everythingSaveable, type CheckpointPolicy } from '../src/checkpoint_policy.js';
import { collectTensors, scoped } from '../src/scope.js';
import { dceJaxpr, deadCodeElimination } from '../src/dce.js';
import { branchFixpoint } from './jaxpr_trace.js';
import { hoistLoopInvariant } from './loop_invariant.js';

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
// Partial evaluation of programs (for jit_call and remat with some inputs unknown)

export interface SplitProgram {
  /** Known inputs -> [...known outputs, ...residuals]. */
  known: Jaxpr;
  /** [...residuals, ...unknown inputs] -> unknown outputs. */
  unknown: Jaxpr;
  outUnknowns: boolean[];
  numResiduals: number;
}

/**
 * Splits a program by which inputs are unknown. Known equations go to the known program; the
 * unknown program needs some known values (residuals). `policy` decides which known results may
 * be saved as residuals: the others are recomputed inside the unknown program (rematerialisation).
 * Inputs are always saveable.
 */
export function partialEvalJaxpr(jaxpr: Jaxpr, inUnknowns: boolean[], policy: CheckpointPolicy = everythingSaveable, instantiate: boolean[] = []): SplitProgram {
  const unknownVars = new Set<Var>();
  jaxpr.inBinders.forEach((v, i) => inUnknowns[i] && unknownVars.add(v));
  const isUnknown = (a: Atom): boolean => a instanceof Var && unknownVars.has(a);
  const producer = new Map<Var, JaxprEqn>();
  const knownEqns: JaxprEqn[] = [];
  const unknownEqns: JaxprEqn[] = [];
  // A higher-order equation split in two: its known part (absent when nothing is known) runs now,
  // its unknown part is recorded.
  const addSplit = (k: JaxprEqn | JaxprEqn[] | null, u: JaxprEqn): void => {
    for (const e of k === null ? [] : Array.isArray(k) ? k : [k]) {
      knownEqns.push(e);
      e.outBinders.forEach((v) => producer.set(v, e));
    }
    unknownEqns.push(u);
    u.outBinders.forEach((v) => unknownVars.add(v));
  };
  for (const eqn of jaxpr.eqns) {
    if (eqn.inputs.some(isUnknown)) {
      if (eqn.prim === 'scan' && eqn.inputs.some((a) => !isUnknown(a))) {
        // A scan splits into a known scan (producing stacked residuals) and an unknown one.
        addSplit(...splitScanEqn(eqn as JaxprEqn<'scan'>, eqn.inputs.map(isUnknown)));
        continue;
      }
      const isWhile = eqn.prim === 'while' && eqn.inputs.some((a) => !isUnknown(a));
      const isCond = eqn.prim === 'cond' && !isUnknown(eqn.inputs[0]!);
      if (isWhile || isCond) {
        // A while keeps its known carries known; a cond with a known index splits into a known
        // cond (computing residuals) and an unknown one.
        addSplit(...(isWhile ? splitWhileEqn(eqn as JaxprEqn<'while'>, eqn.inputs.map(isUnknown)) : splitCondEqn(eqn as JaxprEqn<'cond'>, eqn.inputs.map(isUnknown))));
        continue;
      }
      if ((eqn.prim === 'jit_call' || eqn.prim === 'remat') && eqn.inputs.some((a) => !isUnknown(a))) {
        // Split nested programs too, so their known outputs stay known.
        addSplit(...splitNestedEqn(eqn as JaxprEqn<'jit_call'>, eqn.inputs.map(isUnknown)));
        continue;
      }
      unknownEqns.push(eqn);
      eqn.outBinders.forEach((v) => unknownVars.add(v));
    } else {
      knownEqns.push(eqn);
      eqn.outBinders.forEach((v) => producer.set(v, eqn));
    }
  }
  // Known values the unknown side needs: save them, or recompute their producers.
  const inputSet = new Set(jaxpr.inBinders);
  const residuals: Var[] = [];
  const residualSet = new Set<Var>();
  const recompute = new Set<JaxprEqn>();
  const pending: Var[] = [];
  const need = (a: Atom): void => {
    if (a instanceof Var && !unknownVars.has(a)) pending.push(a);
  };
  // Outputs to instantiate are returned by the unknown program even when known (as residuals).
  const outUnknowns = jaxpr.outs.map((o, i) => isUnknown(o) || (instantiate[i] ?? false));
  // Unknown equations no unknown output needs (a scan's unused ys among them) save no residuals.
  const liveUnknown = deadCodeElimination(new Jaxpr([], unknownEqns, jaxpr.outs), outUnknowns).eqns;
  liveUnknown.forEach((e) => e.inputs.forEach(need));
  jaxpr.outs.forEach((o, i) => outUnknowns[i] && need(o));
  // A known value that a nested program only passes through (a checkpointed or jitted body
  // returning its input W as a residual) is that input: save or recompute the input instead, so
  // a scan sees its own const or xs binder and does not stack a copy per step.
  const forwardedTo = new Map<Var, Var>();
  while (pending.length) {
    const v = pending.pop()!;
    if (residualSet.has(v) || forwardedTo.has(v)) continue;
    const eqn = producer.get(v);
    const source = eqn === undefined ? undefined : passedThroughInput(eqn, v);
    if (source !== undefined) {
      forwardedTo.set(v, source);
      pending.push(source);
      continue;
    }
    const saveable = inputSet.has(v) || (eqn !== undefined && policy.saveable(eqn.prim, eqn.params as Record<string, unknown>));
    if (saveable || eqn === undefined) {
      residualSet.add(v);
      residuals.push(v);
    } else if (!recompute.has(eqn)) {
      recompute.add(eqn);
      eqn.inputs.forEach(need);
    }
  }
  const knownOuts = jaxpr.outs.filter((_, i) => !outUnknowns[i]);
  // Known equations whose results are neither known outputs nor residuals (e.g. derivative
  // coefficients a checkpoint will recompute anyway) are dropped.
  const known = deadCodeElimination(new Jaxpr(jaxpr.inBinders.filter((_, i) => !inUnknowns[i]), knownEqns, [...knownOuts, ...residuals]));
  // Residuals enter the unknown program under fresh variables (a variable is bound once per program).
  const rename = new Map<Var, Var>(residuals.map((v) => [v, new Var(v.aval)]));
  const sourceOf = (v: Var): Var => {
    let s = v;
    for (let next = forwardedTo.get(s); next !== undefined; next = forwardedTo.get(s)) s = next;
    return s;
  };
  const sub = (a: Atom): Atom => (a instanceof Var ? (rename.get(sourceOf(a)) ?? sourceOf(a)) : a);
  const ordered = jaxpr.eqns.length ? [...knownEqns.filter((e) => recompute.has(e)), ...liveUnknown] : [];
  const sortedUnknown = inDependencyOrder(ordered);
  const unknown = new Jaxpr(
    [...residuals.map((v) => rename.get(v)!), ...jaxpr.inBinders.filter((_, i) => inUnknowns[i])],
    sortedUnknown.map((e) => ({ ...e, inputs: e.inputs.map(sub) })),
    jaxpr.outs.filter((_, i) => outUnknowns[i]).map(sub),
  );
  // Recomputed equations bind the same variables as in the known program; they live in a different program, so that is fine.
  return { known, unknown, outUnknowns, numResiduals: residuals.length };
}

/** The input of `eqn` that its output `v` is, when `eqn` is a jit_call or remat returning that input unchanged. */
function passedThroughInput(eqn: JaxprEqn, v: Var): Var | undefined {
  if (eqn.prim !== 'jit_call' && eqn.prim !== 'remat') return undefined;
  const inner = (eqn.params as ParamsOf<'jit_call'>).jaxpr;
  const out = inner.outs[eqn.outBinders.indexOf(v)];
  const j = out instanceof Var ? inner.inBinders.indexOf(out) : -1;
  const input = j >= 0 ? eqn.inputs[j] : undefined;
  return input instanceof Var ? input : undefined;
}

/**
 * Recomputed and unknown equations in an order that respects data dependencies. Recomputed (known)
 * equations read only known values and unknown ones come after them, each list in program order:
 * their concatenation is already such an order. This checks it in one pass (a stable re-sort with
 * findIndex and splice was quadratic in the program's length: 28 s at 192k equations).
 */
function inDependencyOrder(subset: JaxprEqn[]): JaxprEqn[] {
  const producedHere = new Set<Var>(subset.flatMap((e) => e.outBinders));
  const defined = new Set<Var>();
  for (const e of subset) {
    if (!e.inputs.every((a) => !(a instanceof Var) || !producedHere.has(a) || defined.has(a))) throw new TransformError('partial evaluation: internal error: an equation reads a value produced after it');
    e.outBinders.forEach((v) => defined.add(v));
  }
  return subset;
}

function splitNestedEqn(eqn: JaxprEqn<'jit_call'>, inUnknowns: boolean[]): [JaxprEqn, JaxprEqn] {
  const policy = eqn.prim === ('remat' as Primitive) ? (eqn.params as unknown as ParamsOf<'remat'>).policy : everythingSaveable;
  const split = partialEvalJaxpr(eqn.params.jaxpr, inUnknowns, policy);
  const knownOutVars = eqn.outBinders.filter((_, i) => !split.outUnknowns[i]);
  const resVars = split.known.outs.slice(knownOutVars.length).map((a) => new Var(a.aval));
  const known: JaxprEqn = {
    prim: eqn.prim,
    inputs: eqn.inputs.filter((_, i) => !inUnknowns[i]),
    params: { ...eqn.params, jaxpr: split.known, numConsts: 0 },
    outBinders: [...knownOutVars, ...resVars],
  };
  const unknown: JaxprEqn = {
    prim: eqn.prim,
    inputs: [...resVars, ...eqn.inputs.filter((_, i) => inUnknowns[i])],
    params: { ...eqn.params, jaxpr: split.unknown, numConsts: 0 },
    outBinders: eqn.outBinders.filter((_, i) => split.outUnknowns[i]),
  };
  return [known, unknown];
}

/**
 * The partial-evaluation rule of jit_call and remat: run the known part now (for remat, keeping
 * only what the policy saves) and record the unknown part as one equation over the residuals.
 */
function partialEvalProgram(trace: PartialEvalTrace, prim: 'jit_call' | 'remat', tracers: PartialEvalTracer[], params: ParamsOf<'jit_call'>): NDArray[] {
  const inUnknowns = tracers.map((t) => !t.pval.isKnown);
  const policy = prim === 'remat' ? (params as unknown as ParamsOf<'remat'>).policy : everythingSaveable;
  const split = partialEvalJaxpr(params.jaxpr, inUnknowns, policy);
  const knownIns = tracers.filter((t) => t.pval.isKnown).map((t) => t.pval.known!);
  // The known part of a checkpointed function runs in its own scope: its intermediates die here.
  const knownResults =
    prim === 'remat'
      ? scoped(() => evalJaxpr(split.known, knownIns))
      : bind('jit_call', knownIns, { ...params, jaxpr: split.known, numConsts: 0 });
  const numKnownOuts = split.outUnknowns.filter((u) => !u).length;
  const residuals = knownResults.slice(numKnownOuts).map((r) => trace.lift(r) as PartialEvalTracer);
  const unknownIns = tracers.filter((t) => !t.pval.isKnown);
  const unknownOuts = trace.recordEqn(prim, [...residuals, ...unknownIns], { ...params, jaxpr: split.unknown, numConsts: 0 }, split.unknown.outAvals);
  let k = 0, u = 0;
  return split.outUnknowns.map((unk) => (unk ? unknownOuts[u++]! : trace.lift(knownResults[k++]!)));
}

// ---------------------------------------------------------------------------------------------
// Partial evaluation of scans (JAX's _scan_partial_eval)

/**
 * Where an operand of the unknown scan comes from: an operand of the original scan, a residual
 * output of the known scan, or a loop-invariant value computed once before the loop.
 */
type ScanOperand = { operand: number } | { residual: number } | { hoisted: number };

interface ScanSplit {
  /** Per operand, after the fixpoint (a known carry the body makes unknown is unknown). */
  inUnknowns: boolean[];
  /** Per output ([...carry, ...ys]). */
  outUnknowns: boolean[];
  /** Over the known consts: the loop-invariant values (null: none). */
  hoist: Jaxpr | null;
  /** Which hoisted values the known scan takes as consts, after the known consts. */
  hoistedToKnown: number[];
  /** Runs on [...known consts, ...hoistedToKnown, ...known carry, ...known xs]; returns [...known carry, ...known ys, ...stacked residuals]. */
  known: ParamsOf<'scan'> | null;
  numResiduals: number;
  unknown: ParamsOf<'scan'>;
  unknownOperands: ScanOperand[];
}

/**
 * Splits a scan by which operands are unknown into a known scan, run now, and an unknown scan
 * that reads the known one's per-step residuals as extra xs: the forward pass keeps what the
 * backward pass needs, one slice per step, instead of unrolling the loop. Which carries are
 * unknown is a fixpoint (a carry the body computes from unknown values is unknown). Residuals that
 * are known consts or known xs themselves are passed through rather than stacked again, and those
 * computed from the known consts alone are computed once before the loop (loop_invariant.ts) and
 * passed to the unknown scan as consts.
 */
function splitScan(params: ParamsOf<'scan'>, operandUnknowns: boolean[]): ScanSplit {
  const { jaxpr, numConsts: nC, numCarry: nK, length, reverse, name } = params;
  let inUnknowns = operandUnknowns;
  let split: SplitProgram;
  for (;;) {
    split = partialEvalJaxpr(jaxpr, inUnknowns, everythingSaveable, jaxpr.outs.map((_, i) => i < nK && inUnknowns[nC + i]!));
    const carryUnknown = split.outUnknowns.slice(0, nK);
    if (carryUnknown.every((u, k) => !u || inUnknowns[nC + k])) break;
    inUnknowns = inUnknowns.map((u, i) => u || (i >= nC && i < nC + nK && carryUnknown[i - nC]!));
  }
  const { unknown, outUnknowns, numResiduals } = split;
  const knownOperandIdx = inUnknowns.flatMap((u, i) => (u ? [] : [i]));
  const numKnownOuts = outUnknowns.filter((u) => !u).length;
  const nKnownConsts = knownOperandIdx.filter((i) => i < nC).length;
  const nKnownCarry = knownOperandIdx.filter((i) => i >= nC && i < nC + nK).length;
  // A scan that never runs hoists nothing: its body's const-only part would run where the loop would not (and could raise).
  const hoisted = length === 0 ? null : hoistLoopInvariant(split.known, nKnownConsts, (i) => i >= numKnownOuts);
  // The known body over [...known consts, ...hoisted values, ...known carry, ...known xs].
  const known = hoisted?.loop ?? split.known;
  const hoistedVars = hoisted?.hoisted ?? [];
  const residualVars = known.outs.slice(numKnownOuts) as Var[];
  // A residual that is a known const or xs binder of the body is that operand itself; a hoisted one is computed once.
  const sourceOf = new Map<Var, ScanOperand>(split.known.inBinders.map((v, j) => [v, { operand: knownOperandIdx[j]! }]));
  hoistedVars.forEach((v, j) => sourceOf.set(v, { hoisted: j }));
  const passed = residualVars.map((v) => sourceOf.get(v));
  const isInvariant = (s: ScanOperand | undefined): boolean => s !== undefined && ('hoisted' in s || ('operand' in s && s.operand < nC));
  const isPassed = (s: ScanOperand | undefined): boolean => isInvariant(s) || (s !== undefined && 'operand' in s && s.operand >= nC + nK);
  const stackedIdx = range(numResiduals).filter((r) => !isPassed(passed[r]));
  // The known loop returns its known outputs and the stacked residuals (residuals passed on are not
  // its outputs any more), and takes the hoisted values it still reads, besides all its own operands.
  const stacked = new Set(stackedIdx.map((r) => numKnownOuts + r));
  const isHoisted = (i: number): boolean => i >= nKnownConsts && i < nKnownConsts + hoistedVars.length;
  const { jaxpr: knownBody, usedInputs: knownReads } = dceJaxpr(known, known.outs.map((_, i) => i < numKnownOuts || stacked.has(i)), known.inBinders.map((_, i) => !isHoisted(i)));
  const hoistedToKnown = range(hoistedVars.length).filter((j) => knownReads[nKnownConsts + j]);
  // The unknown body's binders are [...residuals, ...unknown operands]; reorder to consts | carry | xs.
  const resBinders = unknown.inBinders.slice(0, numResiduals);
  const ukBinders = unknown.inBinders.slice(numResiduals);
  const unknownIdx = inUnknowns.flatMap((u, i) => (u ? [i] : []));
  const constRes = range(numResiduals).filter((r) => isInvariant(passed[r]));
  const xsRes = range(numResiduals).filter((r) => !isInvariant(passed[r]));
  const ukConsts = unknownIdx.filter((i) => i < nC), ukCarry = unknownIdx.filter((i) => i >= nC && i < nC + nK), ukXs = unknownIdx.filter((i) => i >= nC + nK);
  const binderOf = (i: number): Var => ukBinders[unknownIdx.indexOf(i)]!;
  const unknownBody = new Jaxpr(
    [...constRes.map((r) => resBinders[r]!), ...ukConsts.map(binderOf), ...ukCarry.map(binderOf), ...xsRes.map((r) => resBinders[r]!), ...ukXs.map(binderOf)],
    unknown.eqns,
    unknown.outs,
  );
  const fromResidual = (r: number): ScanOperand => (isPassed(passed[r]) ? passed[r]! : { residual: stackedIdx.indexOf(r) });
  const unknownOperands: ScanOperand[] = [
    ...constRes.map(fromResidual),
    ...ukConsts.map((i) => ({ operand: i })),
    ...ukCarry.map((i) => ({ operand: i })),
    ...xsRes.map(fromResidual),
    ...ukXs.map((i) => ({ operand: i })),
  ];
  const knownNeeded = numKnownOuts > 0 || stackedIdx.length > 0;
  return {
    inUnknowns,
    outUnknowns,
    hoist: hoisted === null ? null : hoisted.hoist,
    hoistedToKnown,
    known: knownNeeded ? { jaxpr: knownBody, numConsts: nKnownConsts + hoistedToKnown.length, numCarry: nKnownCarry, length, reverse, name } : null,
    numResiduals: stackedIdx.length,
    unknown: { jaxpr: unknownBody, numConsts: constRes.length + ukConsts.length, numCarry: ukCarry.length, length, reverse, name },
    unknownOperands,
  };
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/** The operands of the known scan: the known consts, the hoisted values it reads, the known carry and xs. */
function knownScanOperands<T>(split: ScanSplit, operands: T[], hoisted: T[]): T[] {
  const known = operands.filter((_, i) => !split.inUnknowns[i]);
  const nKnownConsts = split.known!.numConsts - split.hoistedToKnown.length;
  return [...known.slice(0, nKnownConsts), ...split.hoistedToKnown.map((j) => hoisted[j]!), ...known.slice(nKnownConsts)];
}

/**
 * The hoisted computation as one equation's params: a jit_call over the known consts. Its program
 * is new on every eager grad call (scan traces its body anew each call), so it is compiled each
 * time; it is not cached because that costs about 0.04 ms of a 20–100 ms eager grad (D = 96,
 * L = 100 scan), and a sound key would have to be structural (program text and avals), not identity.
 */
const hoistParams = (split: ScanSplit, name: string): ParamsOf<'jit_call'> => ({ jaxpr: split.hoist!, numConsts: 0, name: `hoist(${name})` });

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
  const ins = split.unknownOperands.map((o) => ('operand' in o ? tracers[o.operand]! : 'hoisted' in o ? hoistedTracers[o.hoisted]! : residuals[o.residual]!));
  const avalsOut = abstractEvalPrimitive('scan', ins.map((t) => t.aval), split.unknown);
  const unknownOuts = trace.recordEqn('scan', ins, split.unknown, avalsOut);
  let k = 0, u = 0;
  return split.outUnknowns.map((unk) => (unk ? unknownOuts[u++]! : trace.lift(knownResults[k++]!)));
}

/** Splits a scan equation of a program being partially evaluated into its known equations (the hoisted part, the known scan) and the unknown scan. */
function splitScanEqn(eqn: JaxprEqn<'scan'>, inUnknowns: boolean[]): [JaxprEqn[], JaxprEqn] {
  const split = splitScan(eqn.params, inUnknowns);
  const knownConsts = eqn.inputs.slice(0, eqn.params.numConsts).filter((_, i) => !split.inUnknowns[i]);
  const hoistVars = split.hoist === null ? [] : split.hoist.outs.map((a) => new Var(a.aval));
  const hoistEqn: JaxprEqn[] = split.hoist === null ? [] : [{ prim: 'jit_call', inputs: knownConsts, params: hoistParams(split, eqn.params.name), outBinders: hoistVars }];
  const knownOutVars = eqn.outBinders.filter((_, i) => !split.outUnknowns[i]);
  const knownIns = split.known === null ? [] : knownScanOperands<Atom>(split, eqn.inputs, hoistVars);
  const knownOutAvals = split.known === null ? [] : abstractEvalPrimitive('scan', knownIns.map((a) => a.aval), split.known);
  const resVars = knownOutAvals.slice(knownOutVars.length).map((a) => new Var(a));
  const known: JaxprEqn[] = split.known === null ? [] : [{ prim: 'scan', inputs: knownIns, params: split.known, outBinders: [...knownOutVars, ...resVars] }];
  const unknown: JaxprEqn = {
    prim: 'scan',
    inputs: split.unknownOperands.map((o) => ('operand' in o ? eqn.inputs[o.operand]! : 'hoisted' in o ? hoistVars[o.hoisted]! : resVars[o.residual]!)),
    params: split.unknown,
    outBinders: eqn.outBinders.filter((_, i) => split.outUnknowns[i]),
  };
  return [[...hoistEqn, ...known], unknown];
}

// ---------------------------------------------------------------------------------------------
// Partial evaluation of while loops (JAX's _while_partial_eval)

interface WhileSplit {
  /** Per carry: unknown after the fixpoint. */
  carryUnknowns: boolean[];
  /** A loop over the known operands computing the known carries (null: none is known). */
  known: ParamsOf<'while'> | null;
  /** Per operand of the original loop: whether the known loop takes it. */
  knownOperands: boolean[];
}

/**
 * Splits a while loop by which operands are unknown. A carry is unknown if it starts unknown or
 * the body computes it from unknown values (a fixpoint); if the condition reads an unknown value,
 * nothing is known. The known carries are computed by a loop over the known part of the body
 * now; the unknown ones by the whole loop, recorded with the known operands as residuals (JAX
 * does the same: a while loop stores no per-iteration residuals, so the unknown side recomputes
 * the known carries, and it cannot be transposed).
 */
function splitWhile(params: ParamsOf<'while'>, operandUnknowns: boolean[]): WhileSplit {
  const { cond, body, numCondConsts: nC, numBodyConsts: nB, name } = params;
  const condConstUk = operandUnknowns.slice(0, nC), bodyConstUk = operandUnknowns.slice(nC, nC + nB);
  let carryUk = operandUnknowns.slice(nC + nB);
  for (;;) {
    const grown = partialEvalJaxpr(body, [...bodyConstUk, ...carryUk]).outUnknowns.map((u, k) => u || carryUk[k]!);
    if (grown.every((u, k) => u === carryUk[k])) break;
    carryUk = grown;
  }
  const nothingKnown = { carryUnknowns: carryUk.map(() => true), known: null, knownOperands: operandUnknowns.map(() => false) };
  if (partialEvalJaxpr(cond, [...condConstUk, ...carryUk]).outUnknowns[0]) return nothingKnown;
  if (carryUk.every(Boolean)) return nothingKnown;
  // The known outputs depend on known inputs only: the live part of each program reads no unknown
  // binder, so it keeps exactly the known ones.
  const restrict = (program: Jaxpr, keepOuts: boolean[], inUnknowns: boolean[]): Jaxpr => {
    const { jaxpr, usedInputs } = dceJaxpr(program, keepOuts, inUnknowns.map((u) => !u));
    if (usedInputs.some((u, i) => u && inUnknowns[i])) throw new TransformError('partial evaluation: internal error: the known part of a while loop reads an unknown value');
    return jaxpr;
  };
  const known: ParamsOf<'while'> = {
    cond: restrict(cond, [true], [...condConstUk, ...carryUk]),
    body: restrict(body, carryUk.map((u) => !u), [...bodyConstUk, ...carryUk]),
    numCondConsts: condConstUk.filter((u) => !u).length,
    numBodyConsts: bodyConstUk.filter((u) => !u).length,
    name,
  };
  return { carryUnknowns: carryUk, known, knownOperands: [...condConstUk, ...bodyConstUk, ...carryUk].map((u) => !u) };
}

/** The partial-evaluation rule of while: run the known loop now, record the whole loop for the unknown carries. */
function partialEvalWhile(trace: PartialEvalTrace, tracers: PartialEvalTracer[], params: ParamsOf<'while'>): NDArray[] {
  const split = splitWhile(params, tracers.map((t) => !t.pval.isKnown));
  const knownResults = split.known === null ? [] : bind('while', tracers.filter((_, i) => split.knownOperands[i]).map((t) => t.pval.known!), split.known);
  const unknownOuts = trace.recordEqn('while', tracers, params, abstractEvalPrimitive('while', tracers.map((t) => t.aval), params));
  let k = 0;
  return split.carryUnknowns.map((u, i) => (u ? unknownOuts[i]! : trace.lift(knownResults[k++]!)));
}

/** Splits a while equation of a program being partially evaluated (null: no known part). */
function splitWhileEqn(eqn: JaxprEqn<'while'>, inUnknowns: boolean[]): [JaxprEqn | null, JaxprEqn] {
  const split = splitWhile(eqn.params, inUnknowns);
  const known: JaxprEqn | null =
    split.known === null
      ? null
      : { prim: 'while', inputs: eqn.inputs.filter((_, i) => split.knownOperands[i]), params: split.known, outBinders: eqn.outBinders.filter((_, k) => !split.carryUnknowns[k]) };
  // The unknown loop binds fresh (unused) variables for the carries the known loop provides.
  const unknown: JaxprEqn = { ...eqn, outBinders: eqn.outBinders.map((v, k) => (split.carryUnknowns[k] ? v : new Var(v.aval))) };
  return [known, unknown];
}

// ---------------------------------------------------------------------------------------------
// Partial evaluation of conds with a known index (JAX's _cond_partial_eval)

interface CondSplit {
  /** Per output of the cond. */
  outUnknowns: boolean[];
  /** Over [index, ...known operands]: [...known outputs, ...every branch's residuals]; null if it computes nothing. */
  known: ParamsOf<'cond'> | null;
  /** Over [index, ...residuals, ...unknown operands]: the unknown outputs. */
  unknown: ParamsOf<'cond'>;
  numResiduals: number;
}

/** A zero of `aval` written into `eqns` (a literal, broadcast if not a scalar). */
function zeroAtom(aval: ShapedArray, eqns: JaxprEqn[]): Atom {
  const zero = new Lit(aval.dtype === 'bool' ? false : 0, new ShapedArrayClass([], aval.dtype));
  if (aval.ndim === 0) return zero;
  const v = new Var(aval);
  eqns.push({ prim: 'broadcast_in_dim', inputs: [zero], params: { shape: [...aval.shape], broadcastDimensions: [] }, outBinders: [v] });
  return v;
}

/**
 * Splits a cond whose index is known. Every branch is split by the same unknown operands, an
 * output being unknown if it is in any branch. The branches need different residuals, so, as in
 * JAX, the known cond returns the residuals of all branches, each branch computing its own and
 * writing zeros for the others', and each unknown branch reads only its own. The unknown cond is
 * linear in the unknown operands (for a linearization), and transposes as a cond (transpose.ts).
 */
function splitCond(params: ParamsOf<'cond'>, opUnknowns: boolean[]): CondSplit {
  const { branches, name } = params;
  const [splits, outUk] = branchFixpoint(branches[0]!.outs.length, (forced) => branches.map((b) => partialEvalJaxpr(b, opUnknowns, everythingSaveable, forced)), (s) => s.outUnknowns);
  const numKnownOuts = outUk.filter((u) => !u).length;
  const residualAtoms = splits.map((s) => s.known.outs.slice(numKnownOuts));
  const numResiduals = residualAtoms.reduce((n, r) => n + r.length, 0);
  const knownBranches = splits.map((s, j) => {
    const eqns = [...s.known.eqns];
    const residuals = residualAtoms.flatMap((atoms, i) => (i === j ? atoms : atoms.map((a) => zeroAtom(a.aval, eqns))));
    return new Jaxpr(s.known.inBinders, eqns, [...s.known.outs.slice(0, numKnownOuts), ...residuals]);
  });
  const unknownBranches = splits.map((s, j) => {
    const own = s.unknown.inBinders.slice(0, s.numResiduals);
    const residualBinders = residualAtoms.flatMap((atoms, i) => (i === j ? own : atoms.map((a) => new Var(a.aval))));
    return new Jaxpr([...residualBinders, ...s.unknown.inBinders.slice(s.numResiduals)], s.unknown.eqns, s.unknown.outs);
  });
  return {
    outUnknowns: outUk,
    known: numKnownOuts > 0 || numResiduals > 0 ? { branches: knownBranches, name } : null,
    unknown: { branches: unknownBranches, name },
    numResiduals,
  };
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
  const ins = [index!, ...residuals, ...ops.filter((t) => !t.pval.isKnown)];
  const unknownOuts = trace.recordEqn('cond', ins, split.unknown, abstractEvalPrimitive('cond', ins.map((t) => t.aval), split.unknown));
  let k = 0, u = 0;
  return split.outUnknowns.map((unk) => (unk ? unknownOuts[u++]! : trace.lift(knownResults[k++]!)));
}

/** Splits a cond equation (known index) of a program being partially evaluated. */
function splitCondEqn(eqn: JaxprEqn<'cond'>, inUnknowns: boolean[]): [JaxprEqn | null, JaxprEqn] {
  const [index, ...ops] = eqn.inputs;
  const split = splitCond(eqn.params, inUnknowns.slice(1));
  const knownIns = [index!, ...ops.filter((_, i) => !inUnknowns[i + 1])];
  const knownOutVars = eqn.outBinders.filter((_, i) => !split.outUnknowns[i]);
  const resVars = split.known === null ? [] : split.known.branches[0]!.outs.slice(knownOutVars.length).map((a) => new Var(a.aval));
  const known: JaxprEqn | null = split.known === null ? null : { prim: 'cond', inputs: knownIns, params: split.known, outBinders: [...knownOutVars, ...resVars] };
  const unknown: JaxprEqn = {
    prim: 'cond',
    inputs: [index!, ...resVars, ...ops.filter((_, i) => inUnknowns[i + 1])],
    params: split.unknown,
    outBinders: eqn.outBinders.filter((_, i) => split.outUnknowns[i]),
  };
  return [known, unknown];
}

void Lit;

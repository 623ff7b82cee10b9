// Partial evaluation of programs (JAX's partial_eval_jaxpr_nounits): a program split by which of
// its inputs are unknown into a known program, run now, and an unknown one over the residuals.
// Used for the bodies of jit_call, remat, scan, while and cond; the splits of control-flow
// equations live in partial_eval_control_flow.ts and reach this file through `splitEqnRules`.
import { Jaxpr, Var, type Atom, type JaxprEqn } from '../src/jaxpr.js';
import { TransformError } from '../src/errors.js';
import type { ParamsOf, Primitive } from '../src/primitives.js';
import { everythingSaveable, type CheckpointPolicy } from '../src/checkpoint_policy.js';
import { deadCodeElimination } from '../src/dce.js';

/**
 * How partialEvalJaxpr splits a control-flow equation with known inputs: its known equations (none,
 * one or several) and its unknown one (JAX's partial_eval_jaxpr_custom_rules). Filled by
 * partial_eval_control_flow.ts, whose splits call partialEvalJaxpr on the bodies: a table, so the
 * two files do not import each other.
 */
export type SplitEqnRule<P extends Primitive> = (eqn: JaxprEqn<P>, inUnknowns: boolean[]) => [JaxprEqn | JaxprEqn[] | null, JaxprEqn];
export const splitEqnRules: { scan?: SplitEqnRule<'scan'>; while?: SplitEqnRule<'while'>; cond?: SplitEqnRule<'cond'> } = {};

function splitEqn<P extends 'scan' | 'while' | 'cond'>(eqn: JaxprEqn<P>, inUnknowns: boolean[]): [JaxprEqn | JaxprEqn[] | null, JaxprEqn] {
  const rule = splitEqnRules[eqn.prim] as SplitEqnRule<P> | undefined;
  if (rule === undefined) throw new TransformError(`partial evaluation: internal error: no split rule for ${eqn.prim} (partial_eval_control_flow.ts was not loaded)`);
  return rule(eqn, inUnknowns);
}

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
        addSplit(...splitEqn(eqn as JaxprEqn<'scan'>, eqn.inputs.map(isUnknown)));
        continue;
      }
      const isWhile = eqn.prim === 'while' && eqn.inputs.some((a) => !isUnknown(a));
      const isCond = eqn.prim === 'cond' && !isUnknown(eqn.inputs[0]!);
      if (isWhile || isCond) {
        // A while keeps its known carries known; a cond with a known index splits into a known
        // cond (computing residuals) and an unknown one.
        addSplit(...(isWhile ? splitEqn(eqn as JaxprEqn<'while'>, eqn.inputs.map(isUnknown)) : splitEqn(eqn as JaxprEqn<'cond'>, eqn.inputs.map(isUnknown))));
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

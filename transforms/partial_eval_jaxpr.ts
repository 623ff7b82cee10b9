// Partial evaluation of programs (JAX's partial_eval_jaxpr_nounits): a program split by which of
// its inputs are unknown into a known program, run now, and an unknown one over the residuals.
// Used for the bodies of jit_call, remat, scan, while and cond; the splits of control-flow
// equations live in partial_eval_control_flow.ts and reach this file through `splitRules`.
import { Jaxpr, Var, type Atom, type JaxprEqn } from '../src/jaxpr.js';
import { TransformError } from '../src/errors.js';
import type { ParamsOf, Primitive } from '../src/primitives.js';
import type { CheckpointPolicy } from '../src/checkpoint_policy.js';
import { dceJaxpr, deadCodeElimination } from '../src/dce.js';

/**
 * How partialEvalJaxpr splits an equation that carries programs and has known inputs (JAX's
 * partial_eval_jaxpr_custom_rules), keyed by primitive. `splits` says whether the equation splits
 * for these unknown inputs (else it is unknown whole); `plain` splits it outside any checkpoint: its
 * known equations (none, one or several) and its unknown one; `underPolicy` (where it has one)
 * splits it inside a checkpoint, by the enclosing policy, into forward, recompute and linear parts;
 * `splitsKnown`: under a policy it splits even with every input known (what the policy saves
 * inside a nested call is saved). The control-flow rules are registered by
 * partial_eval_control_flow.ts, whose splits call partialEvalJaxpr on the bodies: a table, so the
 * two files do not import each other.
 */
export interface SplitRule<P extends Primitive> {
  splits(inUnknowns: boolean[]): boolean;
  plain(eqn: JaxprEqn<P>, inUnknowns: boolean[]): [JaxprEqn | JaxprEqn[] | null, JaxprEqn | null];
  underPolicy?(eqn: JaxprEqn<P>, inUnknowns: boolean[], policy: CheckpointPolicy): PolicySplit;
  splitsKnown?: boolean;
}
export const splitRules: { [P in Primitive]?: SplitRule<P> } = {};
/** Some input known and some unknown: a split leaves something to compute now. */
export const someKnown = (inUnknowns: boolean[]): boolean => inUnknowns.some((u) => !u) && inUnknowns.some(Boolean);

export interface SplitProgram {
  /** Known inputs -> [...known outputs, ...residuals]. */
  known: Jaxpr;
  /** [...residuals, ...the inputs it reads (see readByUnknown)] -> unknown outputs. */
  unknown: Jaxpr;
  /**
   * Per input of the program: whether the unknown program reads it as an input of its own (an
   * unknown or carried input it uses). One it does not read is not among its binders: the
   * equation a caller builds from it leaves that input out, else the pullback would keep what
   * computed it (its tangent's coefficients) though no cotangent reaches it (JAX's dce_jaxpr
   * reports used_inputs the same way).
   */
  readByUnknown: boolean[];
  outUnknowns: boolean[];
  numResiduals: number;
  /** Per output: whether it depends on an unknown input (outUnknowns also counts instantiated ones). */
  outDependsOnUnknown: boolean[];
}

/**
 * Splits a program by which inputs are unknown. Known equations go to the known program; the
 * unknown program needs some known values (residuals). `policy` is the enclosing checkpoint's
 * (null: not inside one, plain linearisation, everything saveable): it decides which known results
 * may be saved as residuals, the others being recomputed inside the unknown program
 * (rematerialisation), and it splits nested calls, scans and conds too (splitRules).
 * Inputs are always saveable, except those marked `carried`: the unknown program then reads them
 * as its own inputs ([...residuals, ...the inputs unknown or carried that it reads], in order:
 * readByUnknown).
 */
export function partialEvalJaxpr(jaxpr: Jaxpr, inUnknowns: boolean[], policy: CheckpointPolicy | null = null, instantiate: boolean[] = [], knownOutsToo = false, carried: boolean[] = []): SplitProgram {
  // Known inputs the unknown program takes as inputs of its own, after the unknown ones, instead of
  // saving them as residuals: a scan split under a policy carries its known carry there, since a
  // value it would save per step is what the policy decides, not the loop structure.
  const carriedSet = new Set<Var>(jaxpr.inBinders.filter((_, i) => carried[i] && !inUnknowns[i]));
  const unknownVars = new Set<Var>();
  jaxpr.inBinders.forEach((v, i) => inUnknowns[i] && unknownVars.add(v));
  const isUnknown = (a: Atom): boolean => a instanceof Var && unknownVars.has(a);
  const producer = new Map<Var, JaxprEqn>();
  const knownEqns: JaxprEqn[] = [];
  const unknownEqns: JaxprEqn[] = [];
  // A higher-order equation split in two: its known part (absent when nothing is known) runs now,
  // its unknown part is recorded.
  const addSplit = (k: JaxprEqn | JaxprEqn[] | null, u: JaxprEqn | null): void => {
    for (const e of k === null ? [] : Array.isArray(k) ? k : [k]) {
      knownEqns.push(e);
      e.outBinders.forEach((v) => producer.set(v, e));
    }
    if (u === null) return;
    unknownEqns.push(u);
    u.outBinders.forEach((v) => unknownVars.add(v));
  };
  // Under a checkpoint policy, a nested call, scan or cond is split by the same policy (JAX's
  // partial_eval_jaxpr_custom rules pass the enclosing `saveable` down; for a nested checkpoint
  // too, so the outer policy decides what its whole body keeps): see splitUnderPolicy.
  const savedInside = new Set<Var>();
  const recomputedInside = new Set<Var>();
  const copies = new Map<Var, Var>();
  // A known output the unknown side needs is read from its recomputed copy, unless the policy
  // saves the equation's outputs (outputsSaved): then it is saved as it is, as without the
  // checkpoint (the copy made the backward pass rerun the equation from its index and saved
  // values, holding more).
  const addPolicySplit = (s: PolicySplit, outputsSaved: boolean): void => {
    s.saved.forEach((v) => savedInside.add(v));
    s.recompute.forEach((e) => e.outBinders.forEach((v) => recomputedInside.add(v)));
    s.copies.forEach((c, v) => (outputsSaved ? savedInside.add(v) : copies.set(v, c)));
    addSplit([...s.known, ...s.recompute], s.linear);
  };
  for (const eqn of jaxpr.eqns) {
    const inUk = eqn.inputs.map(isUnknown);
    const anyUnknown = inUk.some(Boolean);
    const rule = splitRules[eqn.prim] as SplitRule<Primitive> | undefined;
    // What the policy saves of this equation as a whole, decided here once, of the equation as
    // written: its outputs, and whether also every equation inside it (then nothing would be
    // recomputed, and it splits as outside a checkpoint: see savesEveryEquationInside).
    const outputsSaved = rule !== undefined && policy !== null && policy.saveable(eqn.prim, eqn.params as Record<string, unknown>);
    const byPolicy = policy !== null && outputsSaved && savesEveryEquationInside(eqn, policy) ? null : policy;
    if (rule !== undefined && (anyUnknown ? rule.splits(inUk) : byPolicy !== null && rule.splitsKnown === true)) {
      if (byPolicy !== null && rule.underPolicy !== undefined) addPolicySplit(rule.underPolicy(eqn, inUk, byPolicy), outputsSaved);
      else addSplit(...rule.plain(eqn, inUk));
    } else if (anyUnknown) {
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
  // Unknown equations no unknown output needs (a scan's unused ys among them) save no residuals:
  // the dead-code elimination of the unknown program below drops them, and `kept` the residuals
  // only they read. (A first pass over the unknown equations alone only repeated that one.)
  unknownEqns.forEach((e) => e.inputs.forEach(need));
  jaxpr.outs.forEach((o, i) => outUnknowns[i] && need(o));
  // A known value that a nested program only passes through (a checkpointed or jitted body
  // returning its input W as a residual) is that input: save or recompute the input instead, so
  // a scan sees its own const or xs binder and does not stack a copy per step.
  const forwardedTo = new Map<Var, Var>();
  while (pending.length) {
    const v = pending.pop()!;
    if (residualSet.has(v) || forwardedTo.has(v) || carriedSet.has(v)) continue;
    const eqn = producer.get(v);
    const source = eqn === undefined ? undefined : passedThroughInput(eqn, v);
    if (source !== undefined) {
      forwardedTo.set(v, source);
      pending.push(source);
      continue;
    }
    const copy = copies.get(v);
    if (copy !== undefined) {
      // A known output of a policy-split call, scan or cond whose outputs the policy does not save
      // (addPolicySplit): the unknown side reads its recomputed copy.
      forwardedTo.set(v, copy);
      pending.push(copy);
      continue;
    }
    const saveable = inputSet.has(v) || savedInside.has(v) || (eqn !== undefined && !recomputedInside.has(v) && (policy === null || policy.saveable(eqn.prim, eqn.params as Record<string, unknown>)));
    if (saveable || eqn === undefined) {
      residualSet.add(v);
      residuals.push(v);
    } else if (!recompute.has(eqn)) {
      recompute.add(eqn);
      eqn.inputs.forEach(need);
    }
  }
  const knownOuts = jaxpr.outs.filter((o, i) => (knownOutsToo ? !isUnknown(o) : !outUnknowns[i]));
  // Residuals enter the unknown program under fresh variables (a variable is bound once per program).
  const rename = new Map<Var, Var>(residuals.map((v) => [v, new Var(v.aval)]));
  const sourceOf = (v: Var): Var => {
    let s = v;
    for (let next = forwardedTo.get(s); next !== undefined; next = forwardedTo.get(s)) s = next;
    return s;
  };
  const sub = (a: Atom): Atom => (a instanceof Var ? (rename.get(sourceOf(a)) ?? sourceOf(a)) : a);
  const ordered = jaxpr.eqns.length ? [...knownEqns.filter((e) => recompute.has(e)), ...unknownEqns] : [];
  const sortedUnknown = inDependencyOrder(ordered);
  // Pruned: a recomputed equation may compute more than the unknown side reads (a policy-split
  // jit_call's recompute equation rebuilds every known output of the call; a recomputed multi-output
  // equation computes all its outputs), and its body only needs to compute what is read. A residual
  // only such a part read is then not saved at all (JAX prunes the known outputs the same way after
  // dce_jaxpr of the staged program): a nested call saved what rebuilding its last block's output
  // needed, though the backward pass never read that output.
  // The unknown and carried inputs it does not read are dropped likewise (readByUnknown).
  const isUnknownInput = (v: Var, i: number): boolean => inUnknowns[i]! || carriedSet.has(v);
  const unknownInBinders = jaxpr.inBinders.filter(isUnknownInput);
  const pruned = dceJaxpr(
    new Jaxpr(
      [...residuals.map((v) => rename.get(v)!), ...unknownInBinders],
      sortedUnknown.map((e) => ({ ...e, inputs: e.inputs.map(sub) })),
      jaxpr.outs.filter((_, i) => outUnknowns[i]).map(sub),
    ),
    jaxpr.outs.filter((_, i) => outUnknowns[i]).map(() => true),
  );
  const kept = residuals.filter((_, r) => pruned.usedInputs[r]);
  const unknownReads = pruned.usedInputs.slice(residuals.length);
  let u = 0;
  const readByUnknown = jaxpr.inBinders.map((v, i) => isUnknownInput(v, i) && unknownReads[u++]!);
  // Known equations whose results are neither known outputs nor residuals (e.g. derivative
  // coefficients a checkpoint will recompute anyway) are dropped.
  const known = deadCodeElimination(new Jaxpr(jaxpr.inBinders.filter((_, i) => !inUnknowns[i]), knownEqns, [...knownOuts, ...kept]));
  // Recomputed equations bind the same variables as in the known program; they live in a different program, so that is fine.
  return { known, unknown: pruned.jaxpr, readByUnknown, outUnknowns, numResiduals: kept.length, outDependsOnUnknown: jaxpr.outs.map(isUnknown) };
}

/**
 * Whether `policy` saves every equation of the programs `eqn` carries, at any depth, and neither
 * it nor any of them is a checkpoint (a nested checkpoint is split by the enclosing policy, which
 * a split outside any checkpoint would not do). Such an equation, its outputs saved too, is split
 * as outside a checkpoint: a scan split under the policy recomputed nothing, yet its recompute scan
 * carried the known carries again from their initial values, which the pullback then held on top
 * of the saved stacks; the split without a checkpoint holds no more, as everythingSaveable promises
 * (for bodies without nested checkpoints: those are saved whole, see everythingSaveable).
 */
function savesEveryEquationInside(eqn: JaxprEqn, policy: CheckpointPolicy): boolean {
  if (eqn.prim === 'remat') return false;
  for (const p of Object.values((eqn.params ?? {}) as Record<string, unknown>)) {
    const programs = p instanceof Jaxpr ? [p] : Array.isArray(p) ? p.filter((b): b is Jaxpr => b instanceof Jaxpr) : [];
    if (programs.some((j) => !j.eqns.every((e) => policy.saveable(e.prim, e.params as Record<string, unknown>) && savesEveryEquationInside(e, policy)))) return false;
  }
  return true;
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

/** Splits a jit_call or remat outside any checkpoint: a remat by its own policy, a jit_call by none. */
function splitNestedEqn(eqn: JaxprEqn<'jit_call'> | JaxprEqn<'remat'>, inUnknowns: boolean[]): [JaxprEqn, JaxprEqn] {
  const policy = eqn.prim === 'remat' ? eqn.params.policy : null;
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
    inputs: [...resVars, ...eqn.inputs.filter((_, i) => split.readByUnknown[i])],
    params: { ...eqn.params, jaxpr: split.unknown, numConsts: 0 },
    outBinders: eqn.outBinders.filter((_, i) => split.outUnknowns[i]),
  };
  return [known, unknown];
}

export interface PolicySplit {
  /** Run in the forward pass: known inputs -> [...known outputs, ...what the policy saves]. */
  known: JaxprEqn[];
  /** Run in the backward pass, from the saved values: the known outputs again (copies) and what the linear part needs. */
  recompute: JaxprEqn[];
  /** The part that reads unknown inputs (null: none). */
  linear: JaxprEqn | null;
  /** Outputs of `known` the policy chose inside (always saved by the enclosing split). */
  saved: Var[];
  /** Known output of the original equation -> its copy computed by `recompute`. */
  copies: Map<Var, Var>;
}

/**
 * Splits a jit_call inside a checkpointed program by the checkpoint's policy, as JAX's remat
 * recurses into nested pjit equations. Three equations: the known one saves what the policy
 * allows inside; a recompute one rebuilds from those saved values every known output and every
 * known intermediate the unknown part needs; the linear one reads only those and the unknown
 * inputs. The recompute equation reads no unknown value, so a backward pass evaluates it forward
 * and transposes only the linear one (one equation computing both primal copies and tangents
 * could not be transposed). Without this split the whole nested call was recomputed whenever the
 * enclosing program needed any of its outputs, so names and dots inside it were never saved.
 */
function splitUnderPolicy(eqn: JaxprEqn<'jit_call'> | JaxprEqn<'remat'>, inUnknowns: boolean[], policy: CheckpointPolicy): PolicySplit {
  // A remat's three parts stay remats (with its policy), so a later differentiation honours it too.
  const prim = eqn.prim;
  const inner = eqn.params.jaxpr;
  // Unknown side returns every output: the known ones from saved values or recomputed.
  const split = partialEvalJaxpr(inner, inUnknowns, policy, inner.outs.map(() => true), true);
  const dep = split.outDependsOnUnknown;
  const knownOutVars = eqn.outBinders.filter((_, i) => !dep[i]);
  const saved = split.known.outs.slice(knownOutVars.length).map((a) => new Var(a.aval));
  const known: JaxprEqn = { prim, inputs: eqn.inputs.filter((_, i) => !inUnknowns[i]), params: { ...eqn.params, jaxpr: split.known, numConsts: 0 }, outBinders: [...knownOutVars, ...saved] };
  // The unknown side split again, by what reads the unknown inputs (everything it may keep is
  // only held during the backward pass). It binds [...saved, ...the unknown inputs it reads].
  const unknownIns = eqn.inputs.filter((_, i) => split.readByUnknown[i]);
  const again = partialEvalJaxpr(split.unknown, [...saved.map(() => false), ...unknownIns.map(() => true)]);
  if (again.outUnknowns.some((u, i) => u !== dep[i])) throw new TransformError('partial evaluation: internal error: a nested call\'s known outputs changed when its unknown side was split');
  const copies = new Map<Var, Var>();
  const copyVars = knownOutVars.map((v) => {
    const c = new Var(v.aval);
    copies.set(v, c);
    return c;
  });
  const needed = again.known.outs.slice(copyVars.length).map((a) => new Var(a.aval));
  const recompute: JaxprEqn = { prim, inputs: saved, params: { ...eqn.params, jaxpr: again.known, numConsts: 0 }, outBinders: [...copyVars, ...needed] };
  const linearOuts = eqn.outBinders.filter((_, i) => dep[i]);
  const linear: JaxprEqn | null = linearOuts.length === 0 ? null : {
    prim,
    inputs: [...needed, ...unknownIns.filter((_, i) => again.readByUnknown[saved.length + i])],
    params: { ...eqn.params, jaxpr: again.unknown, numConsts: 0 },
    outBinders: linearOuts,
  };
  return { known: [known], recompute: [recompute], linear, saved, copies };
}

// A nested call splits with some input known; inside a checkpoint also with all known (what the
// policy saves inside it is saved, the rest recomputed).
const nestedCallRule = { splits: someKnown, plain: splitNestedEqn, underPolicy: splitUnderPolicy, splitsKnown: true };
splitRules.jit_call = nestedCallRule;
splitRules.remat = nestedCallRule;

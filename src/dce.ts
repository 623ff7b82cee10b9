// Dead-code elimination of programs (JAX's pe.dce_jaxpr): an equation none of whose results is used
// is dropped (every primitive is pure), and an equation that carries a program keeps only the part
// of it that computes what is used, through a rule per primitive (JAX's dce_rules). Without the
// rule a scan whose ys nobody reads still computes and stacks them every step: `jit` runs this
// pass when it compiles, and partial evaluation on the programs it splits.
import { Jaxpr, Var, type Atom, type JaxprEqn } from './jaxpr.js';
import type { ParamsOf, Primitive } from './primitives.js';

/**
 * A rule: the equation that computes the used outputs of `eqn` (its outputs are `eqn`'s used ones,
 * in order, plus any the rule must keep), and which of `eqn`'s inputs that equation reads.
 * Only called when some output is used.
 */
type DceRule<P extends Primitive> = (eqn: JaxprEqn<P>, usedOuts: boolean[]) => { eqn: JaxprEqn; usedInputs: boolean[] };

/**
 * `jaxpr` computing only the outputs marked in `usedOuts` (by default all of them): equations whose
 * results are never used are dropped, and the unused parts of those that carry programs. Its input
 * binders stay, so it runs on the same inputs (dceJaxpr also drops the binders it no longer reads).
 * Returns `jaxpr` itself when nothing changes, so the compiled-program caches keyed by programs still hit.
 */
export function deadCodeElimination(jaxpr: Jaxpr, usedOuts?: readonly boolean[]): Jaxpr {
  const outs = usedOuts === undefined ? jaxpr.outs : jaxpr.outs.filter((_, i) => usedOuts[i]);
  const eqns = liveEquations(jaxpr.eqns, outs);
  const unchanged = outs.length === jaxpr.outs.length && eqns.length === jaxpr.eqns.length && eqns.every((e, i) => e === jaxpr.eqns[i]);
  return unchanged ? jaxpr : new Jaxpr(jaxpr.inBinders, eqns, outs);
}

/**
 * `jaxpr` restricted to the outputs marked in `usedOuts`: its equations pruned, and its input binders
 * restricted to those it still reads (or that `instantiate` keeps). Returns `jaxpr` itself when
 * nothing changes, so the compiled-program caches keyed by programs still hit.
 */
export function dceJaxpr(jaxpr: Jaxpr, usedOuts: readonly boolean[], instantiate: readonly boolean[] = []): { jaxpr: Jaxpr; usedInputs: boolean[] } {
  const pruned = deadCodeElimination(jaxpr, usedOuts);
  const read = new Set<Var>();
  for (const e of pruned.eqns) for (const a of e.inputs) if (a instanceof Var) read.add(a);
  for (const o of pruned.outs) if (o instanceof Var) read.add(o);
  const usedInputs = jaxpr.inBinders.map((v, i) => read.has(v) || (instantiate[i] ?? false));
  if (usedInputs.every(Boolean)) return { jaxpr: pruned, usedInputs };
  return { jaxpr: new Jaxpr(jaxpr.inBinders.filter((_, i) => usedInputs[i]), pruned.eqns, pruned.outs), usedInputs };
}

/** The equations that `outs` need, in order, each rewritten by its rule to compute only what is used. */
function liveEquations(eqns: readonly JaxprEqn[], outs: readonly Atom[]): JaxprEqn[] {
  const live = new Set<Var>(outs.filter((o): o is Var => o instanceof Var));
  const kept: JaxprEqn[] = [];
  for (let i = eqns.length - 1; i >= 0; i--) {
    const eqn = eqns[i]!;
    const usedOuts = eqn.outBinders.map((v) => live.has(v));
    if (!usedOuts.some(Boolean)) continue;
    const rule = dceRules[eqn.prim] as DceRule<Primitive> | undefined;
    const { eqn: pruned, usedInputs } = rule === undefined ? { eqn, usedInputs: eqn.inputs.map(() => true) } : rule(eqn, usedOuts);
    kept.push(pruned);
    eqn.inputs.forEach((a, j) => usedInputs[j] && a instanceof Var && live.add(a));
  }
  return kept.reverse();
}

const falses = (n: number): boolean[] => new Array<boolean>(n).fill(false);
const count = (bs: readonly boolean[]): number => bs.filter(Boolean).length;

/**
 * The carry fixpoint of a loop body, shared by the scan and while rules: the body's binders are
 * [...consts, ...carry, ...rest] and its outputs [...carry, ...restOuts]. Starting from
 * `usedCarry`, every carry that a kept output reads across iterations is kept too, until the kept
 * carries read no other (a carry kept for its dependants may itself read another). A kept carry
 * keeps its binder, since the body's carry in and out must correspond. Returns the pruned body,
 * which of the body's binders it keeps, and the kept carries.
 */
function dceLoopBody(body: Jaxpr, numConsts: number, usedCarry: readonly boolean[], usedRestOuts: readonly boolean[]): { body: Jaxpr; usedInputs: boolean[]; usedCarry: boolean[] } {
  const nK = usedCarry.length;
  const nRest = body.inBinders.length - numConsts - nK;
  let kept = [...usedCarry];
  for (;;) {
    const pruned = dceJaxpr(body, [...kept, ...usedRestOuts], [...falses(numConsts), ...kept, ...falses(nRest)]);
    const carryIn = pruned.usedInputs.slice(numConsts, numConsts + nK);
    if (carryIn.every((u, k) => u === kept[k])) return { body: pruned.jaxpr, usedInputs: pruned.usedInputs, usedCarry: kept };
    kept = kept.map((u, k) => u || carryIn[k]!);
  }
}

/**
 * Which carries and ys of a scan to keep, given the used outputs (JAX's _scan_dce_rule): the used
 * ys and carries, and every carry a kept output reads across iterations (dceLoopBody). Returns the
 * restricted body and which operands ([...consts, ...carry, ...xs]) and outputs ([...carry, ...ys]) it keeps.
 */
export function dceScanParams(params: ParamsOf<'scan'>, usedOuts: boolean[]): { params: ParamsOf<'scan'>; usedInputs: boolean[]; keptOuts: boolean[] } {
  const { jaxpr, numConsts: nC, numCarry: nK } = params;
  const usedYs = usedOuts.slice(nK);
  const { body, usedInputs, usedCarry } = dceLoopBody(jaxpr, nC, usedOuts.slice(0, nK), usedYs);
  const keptOuts = [...usedCarry, ...usedYs];
  if (body === jaxpr) return { params, usedInputs, keptOuts };
  return { params: { ...params, jaxpr: body, numConsts: count(usedInputs.slice(0, nC)), numCarry: count(usedCarry) }, usedInputs, keptOuts };
}

const scanDce: DceRule<'scan'> = (eqn, usedOuts) => {
  const { params, usedInputs, keptOuts } = dceScanParams(eqn.params, usedOuts);
  if (params === eqn.params) return { eqn, usedInputs };
  return {
    eqn: { prim: 'scan', inputs: eqn.inputs.filter((_, i) => usedInputs[i]), params, outBinders: eqn.outBinders.filter((_, i) => keptOuts[i]) },
    usedInputs,
  };
};

/**
 * jit_call and remat: the nested program computes only the used outputs, and reads only the
 * inputs those need (its leading consts stay leading).
 */
function programDce<P extends 'jit_call' | 'remat'>(): DceRule<P> {
  return (eqn, usedOuts) => {
    const { jaxpr, numConsts } = eqn.params as ParamsOf<'jit_call'>;
    const body = dceJaxpr(jaxpr, usedOuts);
    if (body.jaxpr === jaxpr) return { eqn, usedInputs: body.usedInputs };
    const params = { ...eqn.params, jaxpr: body.jaxpr, numConsts: count(body.usedInputs.slice(0, numConsts)) };
    return { eqn: { prim: eqn.prim, inputs: eqn.inputs.filter((_, i) => body.usedInputs[i]), params, outBinders: eqn.outBinders.filter((_, i) => usedOuts[i]) } as JaxprEqn, usedInputs: body.usedInputs };
  };
}

/**
 * cond: every branch computes only the used outputs; an operand stays if any branch reads it
 * (the index always stays).
 */
const condDce: DceRule<'cond'> = (eqn, usedOuts) => {
  const { branches } = eqn.params;
  const firstPass = branches.map((b) => dceJaxpr(b, usedOuts));
  const opsUsed = branches[0]!.inBinders.map((_, j) => firstPass.some((p) => p.usedInputs[j]!));
  const pruned = branches.map((b) => dceJaxpr(b, usedOuts, opsUsed));
  if (pruned.every((p, j) => p.jaxpr === branches[j])) return { eqn, usedInputs: eqn.inputs.map(() => true) };
  return {
    eqn: { prim: 'cond', inputs: [eqn.inputs[0]!, ...eqn.inputs.slice(1).filter((_, j) => opsUsed[j])], params: { ...eqn.params, branches: pruned.map((p) => p.jaxpr) }, outBinders: eqn.outBinders.filter((_, i) => usedOuts[i]) },
    usedInputs: [true, ...opsUsed],
  };
};

/**
 * while (JAX's _while_loop_dce_rule): a carry stays when it is used, when the condition reads it,
 * or when the body computation of a kept carry reads it (dceLoopBody, as for scan). The condition
 * decides the trip count, so every carry it reads is kept even if no output uses it. The body and
 * the condition keep a binder for every kept carry and only the consts they still read.
 */
const whileDce: DceRule<'while'> = (eqn, usedOuts) => {
  const { cond, body, numCondConsts: nCC, numBodyConsts: nBC } = eqn.params;
  const condReads = dceJaxpr(cond, [true]).usedInputs.slice(nCC);
  const loop = dceLoopBody(body, nBC, usedOuts.map((u, k) => u || condReads[k]!), []);
  const prunedCond = dceJaxpr(cond, [true], [...falses(nCC), ...loop.usedCarry]);
  const usedInputs = [...prunedCond.usedInputs.slice(0, nCC), ...loop.usedInputs.slice(0, nBC), ...loop.usedCarry];
  if (loop.body === body && prunedCond.jaxpr === cond) return { eqn, usedInputs };
  const params = { ...eqn.params, cond: prunedCond.jaxpr, body: loop.body, numCondConsts: count(prunedCond.usedInputs.slice(0, nCC)), numBodyConsts: count(loop.usedInputs.slice(0, nBC)) };
  return { eqn: { prim: 'while', inputs: eqn.inputs.filter((_, i) => usedInputs[i]), params, outBinders: eqn.outBinders.filter((_, k) => loop.usedCarry[k]) }, usedInputs };
};

/**
 * The primitives whose equations DCE can shrink; any other keeps all its inputs while an output is
 * used. custom_jvp_call, custom_vjp_call and custom_lin have no rule on purpose: their user rules
 * (jvp, fwd, bwd) take every primal and return every output as flat lists, so neither an input nor
 * an output can be dropped while the equation stays (JAX's custom_jvp_call rule likewise keeps all
 * inputs when any output is used), and an equation none of whose outputs is used is dropped whole
 * without a rule.
 */
const dceRules: { [P in Primitive]?: DceRule<P> } = {
  scan: scanDce,
  jit_call: programDce<'jit_call'>(),
  remat: programDce<'remat'>(),
  cond: condDce,
  while: whileDce,
  // svd with U and Vh unused: the values-only kernel (no rotations accumulated in V, no U formed).
  // eigh with its vectors unused: the values-only kernel (tridiagonal QL, ~20× faster at n = 256;
  // the same eigenvalues, eigh takes its values from it). A derivative of the values reads the
  // vectors (dw = diag(Vᵀ·dA·V)), so where one is taken the vectors stay used and stay computed.
  eigh: (eqn, usedOuts) => (eqn.params.computeVectors && !usedOuts[1]
    ? { eqn: { ...eqn, params: { lower: eqn.params.lower, computeVectors: false }, outBinders: eqn.outBinders.slice(0, 1) }, usedInputs: [true] }
    : { eqn, usedInputs: [true] }),
  svd: (eqn, usedOuts) => (eqn.params.computeUv && !usedOuts[1] && !usedOuts[2]
    ? { eqn: { ...eqn, params: { fullMatrices: false, computeUv: false }, outBinders: eqn.outBinders.slice(0, 1) }, usedInputs: [true] }
    : { eqn, usedInputs: [true] }),
};

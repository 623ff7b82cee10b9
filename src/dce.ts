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

/** Drops equations whose results are never used, and the unused parts of those that carry programs. */
export function deadCodeElimination(jaxpr: Jaxpr): JaxprEqn[] {
  return liveEquations(jaxpr.eqns, jaxpr.outs);
}

/**
 * `jaxpr` restricted to the outputs marked in `usedOuts`: its equations pruned, and its input binders
 * restricted to those it still reads (or that `instantiate` keeps). Returns `jaxpr` itself when
 * nothing changes, so the compiled-program caches keyed by programs still hit.
 */
export function dceJaxpr(jaxpr: Jaxpr, usedOuts: boolean[], instantiate: boolean[] = []): { jaxpr: Jaxpr; usedInputs: boolean[] } {
  const outs = jaxpr.outs.filter((_, i) => usedOuts[i]);
  const eqns = liveEquations(jaxpr.eqns, outs);
  const read = new Set<Var>();
  for (const e of eqns) for (const a of e.inputs) if (a instanceof Var) read.add(a);
  for (const o of outs) if (o instanceof Var) read.add(o);
  const usedInputs = jaxpr.inBinders.map((v, i) => read.has(v) || (instantiate[i] ?? false));
  const unchanged = usedInputs.every(Boolean) && outs.length === jaxpr.outs.length && eqns.length === jaxpr.eqns.length && eqns.every((e, i) => e === jaxpr.eqns[i]);
  if (unchanged) return { jaxpr, usedInputs };
  return { jaxpr: new Jaxpr(jaxpr.inBinders.filter((_, i) => usedInputs[i]), eqns, outs), usedInputs };
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

/**
 * Which carries and ys of a scan to keep, given the used outputs (JAX's _scan_dce_rule): the used
 * ys and carries, and every carry a kept output reads across iterations — a fixpoint, since a
 * carry kept for its dependants may itself read another carry. Returns the restricted body and
 * which operands ([...consts, ...carry, ...xs]) and outputs ([...carry, ...ys]) it keeps.
 */
export function dceScanParams(params: ParamsOf<'scan'>, usedOuts: boolean[]): { params: ParamsOf<'scan'>; usedInputs: boolean[]; keptOuts: boolean[] } {
  const { jaxpr, numConsts: nC, numCarry: nK } = params;
  const nX = jaxpr.inBinders.length - nC - nK;
  const usedYs = usedOuts.slice(nK);
  let usedCarry = usedOuts.slice(0, nK);
  for (;;) {
    // A kept carry keeps its input binder too: the body's carry in and out must correspond.
    const body = dceJaxpr(jaxpr, [...usedCarry, ...usedYs], [...new Array<boolean>(nC).fill(false), ...usedCarry, ...new Array<boolean>(nX).fill(false)]);
    const carryIn = body.usedInputs.slice(nC, nC + nK);
    if (carryIn.every((u, k) => u === usedCarry[k])) {
      const numConsts = body.usedInputs.slice(0, nC).filter(Boolean).length;
      const numCarry = usedCarry.filter(Boolean).length;
      const same = body.jaxpr === jaxpr;
      return { params: same ? params : { ...params, jaxpr: body.jaxpr, numConsts, numCarry }, usedInputs: body.usedInputs, keptOuts: [...usedCarry, ...usedYs] };
    }
    usedCarry = usedCarry.map((u, k) => u || carryIn[k]!);
  }
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
    const params = { ...eqn.params, jaxpr: body.jaxpr, numConsts: body.usedInputs.slice(0, numConsts).filter(Boolean).length };
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
 * or when the body computation of a kept carry reads it — a fixpoint, as for scan. The condition
 * decides the trip count, so every carry it reads is kept even if no output uses it. The body and
 * the condition keep a binder for every kept carry (carry in and out must correspond) and only
 * the consts they still read.
 */
const whileDce: DceRule<'while'> = (eqn, usedOuts) => {
  const { cond, body, numCondConsts: nCC, numBodyConsts: nBC } = eqn.params;
  const noConsts = (n: number) => new Array<boolean>(n).fill(false);
  const condReads = dceJaxpr(cond, [true]).usedInputs.slice(nCC);
  let usedCarry = usedOuts.map((u, k) => u || condReads[k]!);
  for (;;) {
    const prunedBody = dceJaxpr(body, usedCarry, [...noConsts(nBC), ...usedCarry]);
    const carryIn = prunedBody.usedInputs.slice(nBC);
    if (!carryIn.every((u, k) => u === usedCarry[k])) {
      usedCarry = usedCarry.map((u, k) => u || carryIn[k]!);
      continue;
    }
    const prunedCond = dceJaxpr(cond, [true], [...noConsts(nCC), ...usedCarry]);
    const usedInputs = [...prunedCond.usedInputs.slice(0, nCC), ...prunedBody.usedInputs.slice(0, nBC), ...usedCarry];
    if (prunedBody.jaxpr === body && prunedCond.jaxpr === cond) return { eqn, usedInputs };
    const params = {
      ...eqn.params,
      cond: prunedCond.jaxpr,
      body: prunedBody.jaxpr,
      numCondConsts: prunedCond.usedInputs.slice(0, nCC).filter(Boolean).length,
      numBodyConsts: prunedBody.usedInputs.slice(0, nBC).filter(Boolean).length,
    };
    return { eqn: { prim: 'while', inputs: eqn.inputs.filter((_, i) => usedInputs[i]), params, outBinders: eqn.outBinders.filter((_, k) => usedCarry[k]) }, usedInputs };
  }
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
  // (eigh has no values-only variant to rewrite to: its params are only { lower }.)
  svd: (eqn, usedOuts) => (eqn.params.computeUv && !usedOuts[1] && !usedOuts[2]
    ? { eqn: { ...eqn, params: { fullMatrices: false, computeUv: false }, outBinders: eqn.outBinders.slice(0, 1) }, usedInputs: [true] }
    : { eqn, usedInputs: [true] }),
};

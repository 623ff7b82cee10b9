// Partial evaluation of control flow (JAX's _scan_partial_eval, _while_partial_eval and
// _cond_partial_eval): how a scan, a while loop or a cond with some known operands splits into
// known work, run now, and an unknown equation over its residuals. Each split partially evaluates
// the bodies with partialEvalJaxpr; the equation-level splits are registered in its rule table,
// and the tracer-level rules (partial_eval.ts) run the splits made here.
import { ShapedArray as ShapedArrayClass, type ShapedArray } from '../src/aval.js';
import { abstractEvalPrimitive } from '../src/core.js';
import { TransformError } from '../src/errors.js';
import { Jaxpr, Lit, Var, type Atom, type JaxprEqn } from '../src/jaxpr.js';
import type { ParamsOf } from '../src/primitives.js';
import type { CheckpointPolicy } from '../src/checkpoint_policy.js';
import { dceJaxpr } from '../src/dce.js';
import { shapesEqual } from '../src/shape.js';
import { branchFixpoint } from './jaxpr_trace.js';
import { hoistLoopInvariant } from './loop_invariant.js';
import { partialEvalJaxpr, someKnown, splitRules, type PolicySplit, type SplitProgram } from './partial_eval_jaxpr.js';

// ---------------------------------------------------------------------------------------------
// Partial evaluation of scans (JAX's _scan_partial_eval)

/**
 * Where an operand of the unknown scan comes from: an operand of the original scan, a residual
 * output of the known scan, a loop-invariant value computed once before the loop, or a known
 * output (ys) of the known scan that is also a residual (stacked once).
 */
export type ScanOperand = { operand: number } | { residual: number } | { hoisted: number } | { knownOut: number };

/** The value an unknown scan's operand comes from, among the scan's operands, the hoisted values, the stacked residuals and the known outputs. */
export function scanOperand<T>(o: ScanOperand, operands: readonly T[], hoisted: readonly T[], residuals: readonly T[], knownOuts: readonly T[]): T {
  return 'operand' in o ? operands[o.operand]! : 'hoisted' in o ? hoisted[o.hoisted]! : 'residual' in o ? residuals[o.residual]! : knownOuts[o.knownOut]!;
}

export interface ScanSplit {
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
export function splitScan(params: ParamsOf<'scan'>, operandUnknowns: boolean[], policy: CheckpointPolicy | null = null): ScanSplit {
  const { jaxpr, numConsts: nC, numCarry: nK, length, reverse, unroll, name } = params;
  // Under a checkpoint policy (splitScanUnderPolicy) the body is split by the policy, the unknown
  // scan carries the known carries too and returns every output: it recomputes what is not saved.
  const underPolicy = policy !== null;
  const isCarry = (i: number): boolean => i >= nC && i < nC + nK;
  let inUnknowns = operandUnknowns;
  let split: SplitProgram;
  for (;;) {
    split = underPolicy
      ? partialEvalJaxpr(jaxpr, inUnknowns, policy, jaxpr.outs.map(() => true), true, inUnknowns.map((u, i) => !u && isCarry(i)))
      : partialEvalJaxpr(jaxpr, inUnknowns, null, jaxpr.outs.map((_, i) => i < nK && inUnknowns[nC + i]!));
    const carryUnknown = (underPolicy ? split.outDependsOnUnknown : split.outUnknowns).slice(0, nK);
    if (carryUnknown.every((u, k) => !u || inUnknowns[nC + k])) break;
    inUnknowns = inUnknowns.map((u, i) => u || (isCarry(i) && carryUnknown[i - nC]!));
  }
  const { unknown, numResiduals } = split;
  // An output is unknown when it depends on an unknown value or is a carry that enters unknown.
  const outUnknowns = underPolicy ? split.outDependsOnUnknown.map((d, i) => d || (i < nK && inUnknowns[nC + i]!)) : split.outUnknowns;
  const knownOperandIdx = inUnknowns.flatMap((u, i) => (u ? [] : [i]));
  // The known program's leading outputs: the known outputs, and under a policy also a carry that
  // enters unknown but leaves known (the known scan does not return it).
  const knownOutMask = underPolicy ? split.outDependsOnUnknown.map((d) => !d) : outUnknowns.map((u) => !u);
  const knownProgramOutKept = knownOutMask.flatMap((k, i) => (k ? [!outUnknowns[i]] : []));
  const numKnownProgramOuts = knownProgramOutKept.length;
  const numKnownOuts = outUnknowns.filter((u) => !u).length;
  const nKnownConsts = knownOperandIdx.filter((i) => i < nC).length;
  const nKnownCarry = knownOperandIdx.filter((i) => i >= nC && i < nC + nK).length;
  // A scan that never runs hoists nothing: its body's const-only part would run where the loop would not (and could raise).
  const hoisted = length === 0 ? null : hoistLoopInvariant(split.known, nKnownConsts, (i) => i >= numKnownProgramOuts);
  // The known body over [...known consts, ...hoisted values, ...known carry, ...known xs].
  const known = hoisted?.loop ?? split.known;
  const hoistedVars = hoisted?.hoisted ?? [];
  const residualVars = known.outs.slice(numKnownProgramOuts) as Var[];
  // A residual that is a known const or xs binder of the body is that operand itself; a hoisted one is computed once.
  const sourceOf = new Map<Var, ScanOperand>(split.known.inBinders.map((v, j) => [v, { operand: knownOperandIdx[j]! }]));
  hoistedVars.forEach((v, j) => sourceOf.set(v, { hoisted: j }));
  // A residual that is a known ys output of the body is that output, which the known scan stacks
  // anyway; so is a carry-in binder returned as ys (its value per step is that ys, which would
  // otherwise be stacked a second time as a residual; consts and xs are passed as they are).
  const knownOutIdx = knownOutMask.flatMap((k, i) => (k ? [i] : []));
  const stackedPerStep = (a: Var): boolean => { const s = sourceOf.get(a); return s === undefined || ('operand' in s && isCarry(s.operand)); };
  known.outs.slice(0, numKnownProgramOuts).forEach((a, i) => {
    if (knownProgramOutKept[i] && knownOutIdx[i]! >= nK && a instanceof Var && stackedPerStep(a)) sourceOf.set(a, { knownOut: knownProgramOutKept.slice(0, i).filter(Boolean).length });
  });
  const passed = residualVars.map((v) => sourceOf.get(v));
  const isInvariant = (s: ScanOperand | undefined): boolean => s !== undefined && ('hoisted' in s || ('operand' in s && s.operand < nC));
  const isPassed = (s: ScanOperand | undefined): boolean => isInvariant(s) || (s !== undefined && (('operand' in s && s.operand >= nC + nK) || 'knownOut' in s));
  const stackedIdx = range(numResiduals).filter((r) => !isPassed(passed[r]));
  // The known loop returns its known outputs and the stacked residuals (residuals passed on are not
  // its outputs any more), and takes the hoisted values it still reads, besides all its own operands.
  const stacked = new Set(stackedIdx.map((r) => numKnownProgramOuts + r));
  const isHoisted = (i: number): boolean => i >= nKnownConsts && i < nKnownConsts + hoistedVars.length;
  const { jaxpr: knownBody, usedInputs: knownReads } = dceJaxpr(known, known.outs.map((_, i) => (i < numKnownProgramOuts ? knownProgramOutKept[i]! : stacked.has(i))), known.inBinders.map((_, i) => !isHoisted(i)));
  const hoistedToKnown = range(hoistedVars.length).filter((j) => knownReads[nKnownConsts + j]);
  // The unknown body's binders are [...residuals, ...operands it reads]; reorder to consts | carry | xs.
  // A const or xs it does not read is not an operand of the unknown scan (what computed its tangent
  // would be kept for nothing); a carry stays, as its binder pairs with its output.
  const resBinders = unknown.inBinders.slice(0, numResiduals);
  const readIdx = range(jaxpr.inBinders.length).filter((i) => split.readByUnknown[i]);
  const unknownIdx = inUnknowns.flatMap((u, i) => (u || (underPolicy && isCarry(i)) ? [i] : []));
  const constRes = range(numResiduals).filter((r) => isInvariant(passed[r]));
  const xsRes = range(numResiduals).filter((r) => !isInvariant(passed[r]));
  const ukConsts = readIdx.filter((i) => i < nC), ukCarry = unknownIdx.filter(isCarry), ukXs = readIdx.filter((i) => i >= nC + nK);
  const binderOf = (i: number): Var => (split.readByUnknown[i] ? unknown.inBinders[numResiduals + readIdx.indexOf(i)]! : new Var(jaxpr.inBinders[i]!.aval));
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
    known: knownNeeded ? { jaxpr: knownBody, numConsts: nKnownConsts + hoistedToKnown.length, numCarry: nKnownCarry, length, reverse, unroll, name } : null,
    numResiduals: stackedIdx.length,
    unknown: { jaxpr: unknownBody, numConsts: constRes.length + ukConsts.length, numCarry: ukCarry.length, length, reverse, unroll, name },
    unknownOperands,
  };
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/** The operands of the known scan: the known consts, the hoisted values it reads, the known carry and xs. */
export function knownScanOperands<T>(split: ScanSplit, operands: T[], hoisted: T[]): T[] {
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
export const hoistParams = (split: ScanSplit, name: string): ParamsOf<'jit_call'> => ({ jaxpr: split.hoist!, numConsts: 0, name: `hoist(${name})` });

/**
 * The equations of a split scan, over the original scan's `operands`: the known ones (the hoisted
 * part as a jit_call over the known consts, then the known scan binding `knownOuts` and fresh
 * residual variables; either absent when not needed) and the unknown scan binding `unknownOuts`
 * (null: none). Shared by the plain split and the two splits under a policy.
 */
function scanEqns(split: ScanSplit, operands: Atom[], numConsts: number, name: string, knownOuts: Var[], unknownOuts: Var[]): { known: JaxprEqn[]; residuals: Var[]; unknownIns: Atom[]; unknown: JaxprEqn | null } {
  const hoisted = split.hoist === null ? [] : split.hoist.outs.map((a) => new Var(a.aval));
  const known: JaxprEqn[] = split.hoist === null ? [] : [{ prim: 'jit_call', inputs: operands.slice(0, numConsts).filter((_, i) => !split.inUnknowns[i]), params: hoistParams(split, name), outBinders: hoisted }];
  const residuals: Var[] = [];
  if (split.known !== null) {
    const ins = knownScanOperands<Atom>(split, operands, hoisted);
    residuals.push(...abstractEvalPrimitive('scan', ins.map((a) => a.aval), split.known).slice(knownOuts.length).map((a) => new Var(a)));
    known.push({ prim: 'scan', inputs: ins, params: split.known, outBinders: [...knownOuts, ...residuals] });
  }
  const unknownIns = split.unknownOperands.map((o) => scanOperand<Atom>(o, operands, hoisted, residuals, knownOuts));
  const unknown: JaxprEqn | null = unknownOuts.length === 0 ? null : { prim: 'scan', inputs: unknownIns, params: split.unknown, outBinders: unknownOuts };
  return { known, residuals, unknownIns, unknown };
}

/** Splits a scan equation of a program being partially evaluated into its known equations (the hoisted part, the known scan) and the unknown scan. */
function splitScanEqn(eqn: JaxprEqn<'scan'>, inUnknowns: boolean[]): [JaxprEqn[], JaxprEqn | null] {
  const split = splitScan(eqn.params, inUnknowns);
  const { known, unknown } = scanEqns(split, eqn.inputs, eqn.params.numConsts, eqn.params.name, eqn.outBinders.filter((_, i) => !split.outUnknowns[i]), eqn.outBinders.filter((_, i) => split.outUnknowns[i]));
  return [known, unknown];
}

/**
 * Splits a scan of a checkpointed program by the checkpoint's policy (JAX applies the remat policy
 * inside scan bodies, _scan_partial_eval_custom). Three parts, as for a nested jit_call
 * (partial_eval_jaxpr.ts, splitUnderPolicy):
 * - the forward scan computes the known outputs and returns, stacked, the per-step values the
 *   policy saves (a const-only one is hoisted, computed once);
 * - the recompute scan, run in the backward pass, starts again from the known carries' initial
 *   values and the saved stacks, recomputing everything else per step; it returns copies of the
 *   known outputs and, stacked, what the linear scan needs;
 * - the linear scan reads those and the unknown operands.
 * The known carries are carried by the recompute scan rather than saved once per step: what is
 * kept per step is what the policy says, not the loop's structure. (Before, a scan was recomputed
 * whole whenever the backward pass needed anything from it, so a name or a dot inside its body was
 * never saved.) The recompute scan reads no unknown value, so a backward pass evaluates it forward
 * and transposes only the linear scan, whose carries are all linear.
 */
function splitScanUnderPolicy(eqn: JaxprEqn<'scan'>, inUnknowns: boolean[], policy: CheckpointPolicy): PolicySplit {
  const { params } = eqn;
  const s1 = splitScan(params, inUnknowns, policy);
  const knownOutVars = eqn.outBinders.filter((_, i) => !s1.outUnknowns[i]);
  // s1's unknown scan (not an equation here) recomputes and differentiates in one loop (it returns
  // every output): it is split again, by what reads an unknown operand.
  const { known, residuals: saved, unknownIns: uIns } = scanEqns(s1, eqn.inputs, params.numConsts, params.name, knownOutVars, []);
  const s2 = splitScan(s1.unknown, s1.unknownOperands.map((o) => 'operand' in o && s1.inUnknowns[o.operand]!));
  if (s2.outUnknowns.some((u, i) => u !== s1.outUnknowns[i])) throw new TransformError(`partial evaluation: internal error: scan(${params.name})'s known outputs changed when its recomputation was split off`);
  const copyVars = knownOutVars.map((v) => new Var(v.aval));
  const { known: recompute, unknown: linear } = scanEqns(s2, uIns, s1.unknown.numConsts, params.name, copyVars, eqn.outBinders.filter((_, i) => s1.outUnknowns[i]));
  // A known ys that is also a saved stack (splitScan stacks it once) is saved as it is: the
  // recompute scan reads it, so the enclosing program must not replace it with its own copy.
  const savedOuts = new Set(s1.unknownOperands.flatMap((o) => ('knownOut' in o ? [knownOutVars[o.knownOut]!] : [])));
  const copies = new Map<Var, Var>(knownOutVars.flatMap((v, k) => (savedOuts.has(v) ? [] : [[v, copyVars[k]!] as [Var, Var]])));
  return { known, recompute, linear, saved: [...saved, ...savedOuts], copies };
}

// ---------------------------------------------------------------------------------------------
// Partial evaluation of while loops (JAX's _while_partial_eval)

export interface WhileSplit {
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
export function splitWhile(params: ParamsOf<'while'>, operandUnknowns: boolean[]): WhileSplit {
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

export interface CondSplit {
  /** Per output of the cond. */
  outUnknowns: boolean[];
  /** Over [index, ...known operands]: [...known outputs, ...every branch's residuals]; null if it computes nothing. */
  known: ParamsOf<'cond'> | null;
  /** Over [index, ...residuals, ...forwarded operands, ...unknownOperands]: the unknown outputs. */
  unknown: ParamsOf<'cond'>;
  numResiduals: number;
  /** Known operands (indices among the cond's operands) some branch needs as they are: read by the unknown cond directly, not returned per branch. */
  forwarded: number[];
  /**
   * The operands (indices) the unknown cond reads after those: the unknown ones (under a policy,
   * any) that some unknown branch reads. One no branch reads is left out, else the pullback would
   * keep what computed it though no cotangent reaches it.
   */
  unknownOperands: number[];
}

/** The unknown cond's inputs, in the order CondSplit.unknown reads them, for atoms or tracers alike. */
export function condUnknownInputs<T>(split: CondSplit, index: T, residuals: readonly T[], operands: readonly T[]): T[] {
  return [index, ...residuals, ...split.forwarded.map((i) => operands[i]!), ...split.unknownOperands.map((i) => operands[i]!)];
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
 * Residual slots shared by the branches of a cond (JAX's _merge_branch_residuals): only one branch
 * runs, so residuals of equal type (dtype and shape) in different branches share a slot; per type
 * there are as many slots as the branch with the most residuals of it needs. Per branch: the slot of
 * each of its residuals.
 */
function mergeBranchResiduals(branchAvals: ShapedArray[][]): { slots: ShapedArray[]; slotOf: number[][] } {
  const slots: ShapedArray[] = [];
  const slotOf = branchAvals.map((avals) => {
    const used = new Set<number>();
    return avals.map((aval) => {
      let k = slots.findIndex((s, j) => !used.has(j) && s.dtype === aval.dtype && shapesEqual(s.shape, aval.shape));
      if (k < 0) k = slots.push(aval) - 1;
      used.add(k);
      return k;
    });
  });
  return { slots, slotOf };
}

/**
 * Splits a cond whose index is known. Every branch is split by the same unknown operands, an
 * output being unknown if it is in any branch. The branches need different residuals, so, as in
 * JAX, the known cond returns residuals for all branches in slots shared by type (the branch taken
 * fills its own, zeros the rest: mergeBranchResiduals), and each unknown branch reads only its own.
 * A residual that is a known operand itself is not returned (a copy per branch, stacked per step in
 * a scan): the unknown cond reads the operand. The unknown cond is linear in the unknown operands
 * (for a linearization), and transposes as a cond (transpose.ts).
 */
export function splitCond(params: ParamsOf<'cond'>, opUnknowns: boolean[], policy: CheckpointPolicy | null = null): CondSplit {
  const { branches, name } = params;
  const numOuts = branches[0]!.outs.length;
  // Under a checkpoint policy (splitCondUnderPolicy) each branch is split by the policy and its
  // unknown part returns every output: it recomputes what is not saved. It reads every operand, the
  // known ones included (as the scan split carries its known carries), so a known operand is not a
  // residual of each branch (a copy per branch, saved whatever the policy). An output is known if it
  // is known in every branch; a branch's known program also returns those known in it alone.
  const underPolicy = policy !== null;
  const [splits, outUk] = underPolicy
    ? ((ss: SplitProgram[]) => [ss, range(numOuts).map((i) => ss.some((sp) => sp.outDependsOnUnknown[i]))] as const)(branches.map((b) => partialEvalJaxpr(b, opUnknowns, policy, b.outs.map(() => true), true, opUnknowns.map((u) => !u))))
    : branchFixpoint(numOuts, (forced) => branches.map((b) => partialEvalJaxpr(b, opUnknowns, null, forced)), (sp) => sp.outUnknowns);
  const numKnownOuts = outUk.filter((u) => !u).length;
  // Per branch: its known program's known outputs, each the original output it is.
  const knownOutsOf = (sp: SplitProgram): number[] => range(numOuts).filter((i) => (underPolicy ? !sp.outDependsOnUnknown[i] : !outUk[i]));
  const residualAtoms = splits.map((sp) => sp.known.outs.slice(knownOutsOf(sp).length));
  // Per branch and residual: the known operand it is (-1: computed by the branch).
  const knownOpIdx = range(opUnknowns.length).filter((i) => !opUnknowns[i]);
  const operandOf = splits.map((sp, j) => residualAtoms[j]!.map((a) => (a instanceof Var ? (knownOpIdx[sp.known.inBinders.indexOf(a)] ?? -1) : -1)));
  const forwarded = [...new Set(operandOf.flat().filter((i) => i >= 0))].sort((a, b) => a - b);
  const computed = residualAtoms.map((atoms, j) => atoms.flatMap((a, r) => (operandOf[j]![r]! < 0 ? [r] : [])));
  const { slots, slotOf } = mergeBranchResiduals(computed.map((rs, j) => rs.map((r) => residualAtoms[j]![r]!.aval)));
  const knownBranches = splits.map((sp, j) => {
    const eqns = [...sp.known.eqns];
    const own = knownOutsOf(sp);
    const knownOuts = range(numOuts).filter((i) => !outUk[i]).map((i) => sp.known.outs[own.indexOf(i)]!);
    const residuals = slots.map((aval, k) => {
      const c = slotOf[j]!.indexOf(k);
      return c >= 0 ? residualAtoms[j]![computed[j]![c]!]! : zeroAtom(aval, eqns);
    });
    return new Jaxpr(sp.known.inBinders, eqns, [...knownOuts, ...residuals]);
  });
  const unknownOperands = range(opUnknowns.length).filter((i) => splits.some((sp) => sp.readByUnknown[i]));
  const unknownBranches = splits.map((s, j) => {
    const resBinders = s.unknown.inBinders.slice(0, s.numResiduals);
    const readIdx = range(opUnknowns.length).filter((i) => s.readByUnknown[i]);
    const operandBinders = unknownOperands.map((i) => (s.readByUnknown[i] ? s.unknown.inBinders[s.numResiduals + readIdx.indexOf(i)]! : new Var(branches[j]!.inBinders[i]!.aval)));
    const slotBinders = slots.map((aval, k) => {
      const c = slotOf[j]!.indexOf(k);
      return c >= 0 ? resBinders[computed[j]![c]!]! : new Var(aval);
    });
    const fwdBinders = forwarded.map((i) => {
      const r = operandOf[j]!.indexOf(i);
      return r >= 0 ? resBinders[r]! : new Var(branches[j]!.inBinders[i]!.aval);
    });
    return new Jaxpr([...slotBinders, ...fwdBinders, ...operandBinders], s.unknown.eqns, s.unknown.outs);
  });
  return {
    outUnknowns: outUk,
    known: numKnownOuts > 0 || slots.length > 0 ? { branches: knownBranches, name } : null,
    unknown: { branches: unknownBranches, name },
    numResiduals: slots.length,
    forwarded,
    unknownOperands,
  };
}

/**
 * Splits a cond (known index) of a checkpointed program by the checkpoint's policy, as
 * splitScanUnderPolicy does a scan: the forward cond computes the known outputs and what the
 * policy saves in the branch taken (zeros for the others'), a recompute cond run in the backward
 * pass rebuilds from those what the linear cond needs and copies of the known outputs. Before, the
 * known cond was recomputed whole whenever the backward pass needed anything from it.
 */
function splitCondUnderPolicy(eqn: JaxprEqn<'cond'>, inUnknowns: boolean[], policy: CheckpointPolicy): PolicySplit {
  const [index, ...ops] = eqn.inputs;
  const opUnknowns = inUnknowns.slice(1);
  const s1 = splitCond(eqn.params, opUnknowns, policy);
  // (Under a policy the branches read the known operands as their own inputs, never as residuals.)
  if (s1.forwarded.length > 0) throw new TransformError(`partial evaluation: internal error: cond(${eqn.params.name}) forwarded known operands under a policy`);
  const knownOutVars = eqn.outBinders.filter((_, i) => !s1.outUnknowns[i]);
  const { known, residuals: saved } = condEqns(s1, index!, ops, opUnknowns, knownOutVars, []);
  // s1's unknown cond (not an equation here) recomputes and differentiates in one cond (it returns
  // every output): it is split again, by what reads an unknown operand. Its branches read [...saved,
  // ...every operand some branch reads]: a known operand is an operand of the recompute cond, read
  // from the enclosing program (which saves or recomputes it by its policy), not a copy the forward
  // cond returns and the backward pass holds.
  const s1Ops = s1.unknownOperands;
  const s2Unknowns = [...saved.map(() => false), ...s1Ops.map((i) => opUnknowns[i]!)];
  const s2 = splitCond(s1.unknown, s2Unknowns);
  if (s2.outUnknowns.some((u, i) => u !== s1.outUnknowns[i])) throw new TransformError(`partial evaluation: internal error: cond(${eqn.params.name})'s known outputs changed when its recomputation was split off`);
  const copies = new Map<Var, Var>(knownOutVars.map((v) => [v, new Var(v.aval)]));
  const { known: recompute, unknown: linear } = condEqns(s2, index!, [...saved, ...s1Ops.map((i) => ops[i]!)], s2Unknowns, [...copies.values()], eqn.outBinders.filter((_, i) => s1.outUnknowns[i]));
  return { known, recompute, linear, saved, copies };
}

/**
 * The equations of a split cond over the index and the original cond's `operands`: the known cond
 * binding `knownOuts` and fresh residual variables (none when it computes nothing) and the unknown
 * cond binding `unknownOuts` (null: none). Shared by the plain split and the two under a policy.
 */
function condEqns(split: CondSplit, index: Atom, operands: Atom[], opUnknowns: boolean[], knownOuts: Var[], unknownOuts: Var[]): { known: JaxprEqn[]; residuals: Var[]; unknown: JaxprEqn | null } {
  const residuals = split.known === null ? [] : split.known.branches[0]!.outs.slice(knownOuts.length).map((a) => new Var(a.aval));
  const known: JaxprEqn[] = split.known === null ? [] : [{ prim: 'cond', inputs: [index, ...operands.filter((_, i) => !opUnknowns[i])], params: split.known, outBinders: [...knownOuts, ...residuals] }];
  const unknown: JaxprEqn | null = unknownOuts.length === 0 ? null : {
    prim: 'cond',
    inputs: condUnknownInputs<Atom>(split, index, residuals, operands),
    params: split.unknown,
    outBinders: unknownOuts,
  };
  return { known, residuals, unknown };
}

/** Splits a cond equation (known index) of a program being partially evaluated. */
function splitCondEqn(eqn: JaxprEqn<'cond'>, inUnknowns: boolean[]): [JaxprEqn[], JaxprEqn | null] {
  const [index, ...ops] = eqn.inputs;
  const split = splitCond(eqn.params, inUnknowns.slice(1));
  const { known, unknown } = condEqns(split, index!, ops, inUnknowns.slice(1), eqn.outBinders.filter((_, i) => !split.outUnknowns[i]), eqn.outBinders.filter((_, i) => split.outUnknowns[i]));
  return [known, unknown];
}

// partialEvalJaxpr reaches these through its table (partial_eval.ts imports this file, so they are
// registered before any program is split). A while loop has no split under a policy: it stores no
// per-iteration residuals, its known carries are recomputed (splitWhile). Under a policy a scan or
// cond splits with every operand known too (JAX applies _scan_partial_eval_custom to every scan of a
// checkpointed body): what the policy saves inside it is saved, instead of the whole loop recomputed.
// A scan (or any equation) whose every equation the policy saves is split as outside a checkpoint
// (partialEvalJaxpr): the policy split would recompute nothing, yet hold the known carries' initial
// values besides.
splitRules.scan = { splits: someKnown, plain: splitScanEqn, underPolicy: splitScanUnderPolicy, splitsKnown: true };
// A cond splits when its index is known (an unknown index makes the whole cond unknown).
splitRules.cond = { splits: (inUnknowns) => !inUnknowns[0] && inUnknowns.some(Boolean), plain: splitCondEqn, underPolicy: splitCondUnderPolicy, splitsKnown: true };
splitRules.while = { splits: someKnown, plain: splitWhileEqn };

// Transposition of linear programs (the backward pass). Equations that touch no linear input are
// evaluated forward first (for remat, that is the recomputation); the linear ones are then
// transposed in reverse order, accumulating cotangents per variable.
import * as tf from '@tensorflow/tfjs-core';
import { ConcreteArray, type NDArray } from '../src/array.js';
import { ShapedArray } from '../src/aval.js';
import { traceToJaxpr, withCommonConsts } from './jaxpr_trace.js';
import { bind, currentTraceStack } from '../src/core.js';
import { TransformError, UnexpectedTracerError } from '../src/errors.js';
import { Lit, Var, type Atom, type Jaxpr, type JaxprEqn } from '../src/jaxpr.js';
import { LINEAR_PRIMITIVES, type LinearPrimitive, type ParamsOf, type Primitive } from '../src/primitives.js';
import { createdByCall, scoped } from '../src/scope.js';
import { nextTensorId } from './api_util.js';
import { add, zeros } from './lax.js';
import { dceScanParams } from '../src/dce.js';
import { UndefPrimal, firstOrderTransposeRules, isUndef, type Cotangent, type Operand, type TransposeRule } from './transpose_rules.js';

export { UndefPrimal };

const linear = new Set<Primitive>(LINEAR_PRIMITIVES);

/**
 * Cotangents of a program's linear inputs (those passed as UndefPrimal), given its other inputs
 * and the cotangents of its outputs (null = zero). Returns one entry per input (null for
 * non-linear inputs and for zero cotangents).
 *
 * At the eval level it frees cotangents as soon as they are consumed, so the backward pass holds
 * only the cotangents in flight (plus the residuals).
 */
export interface BackwardOptions {
  /**
   * Residuals (tensors among `args`) that this pass may free after their last use. `grad` passes
   * the residuals its forward pass created, since its pullback runs exactly once.
   */
  consumable?: (t: tf.Tensor) => boolean;
}

export function backwardPass(jaxpr: Jaxpr, args: Operand[], cts: Cotangent[], options: BackwardOptions = {}): Cotangent[] {
  // Eager freeing is safe only when no outer transformation is running: an outer one may have
  // captured a cotangent we create here as a residual of its own program.
  const eagerFree = currentTraceStack().length === 1;
  const firstNewId = eagerFree ? nextTensorId() : Infinity;
  const primalEnv = new Map<Var, Operand>();
  const read = (a: Atom): Operand => (a instanceof Lit ? a.materialize() : primalEnv.get(a)!);
  jaxpr.inBinders.forEach((v, i) => primalEnv.set(v, args[i]!));
  // Forward: evaluate what does not depend on the linear inputs. Which equations are linear is
  // known statically, so at the eval level a forward value that no linear equation or output
  // needs is freed right after its last forward use (this bounds a checkpoint's recomputation).
  const linearVars = new Set<Var>(jaxpr.inBinders.filter((_, i) => isUndef(args[i]!)));
  const isLinearEqn = (e: JaxprEqn): boolean => e.inputs.some((a) => a instanceof Var && linearVars.has(a));
  const forwardUses = new Map<Var, number>();
  const neededLater = new Set<Var>(jaxpr.outs.filter((o): o is Var => o instanceof Var));
  for (const eqn of jaxpr.eqns) {
    if (isLinearEqn(eqn)) {
      eqn.outBinders.forEach((v) => linearVars.add(v));
      for (const a of eqn.inputs) if (a instanceof Var) neededLater.add(a);
    } else {
      for (const a of eqn.inputs) if (a instanceof Var) forwardUses.set(a, (forwardUses.get(a) ?? 0) + 1);
    }
  }
  const linearEqns: JaxprEqn[] = [];
  for (const eqn of jaxpr.eqns) {
    const ins = eqn.inputs.map(read);
    if (ins.some(isUndef)) {
      if (!linear.has(eqn.prim)) {
        throw new TransformError(`transpose: ${eqn.prim} is applied to a value that depends on the differentiated inputs but is not linear (internal error)`);
      }
      linearEqns.push(eqn);
      eqn.outBinders.forEach((v) => primalEnv.set(v, new UndefPrimal(v.aval)));
    } else {
      const outs = bind(eqn.prim, ins as NDArray[], eqn.params);
      eqn.outBinders.forEach((v, i) => primalEnv.set(v, outs[i]!));
      if (!eagerFree) continue;
      for (const a of eqn.inputs) {
        if (!(a instanceof Var)) continue;
        const left = (forwardUses.get(a) ?? 1) - 1;
        forwardUses.set(a, left);
        const v = primalEnv.get(a);
        if (left === 0 && !neededLater.has(a) && v instanceof ConcreteArray && createdByCall(v.tensor, firstNewId)) {
          v.dispose();
          primalEnv.delete(a);
        }
      }
    }
  }
  // Backward: transpose the linear equations.
  const ctEnv = new Map<Var, NDArray>();
  const refs = new Map<NDArray, number>();
  const hold = (x: NDArray): void => void refs.set(x, (refs.get(x) ?? 0) + 1);
  const release = (x: NDArray): void => {
    const n = (refs.get(x) ?? 1) - 1;
    if (n > 0) {
      refs.set(x, n);
      return;
    }
    refs.delete(x);
    // Free cotangents this pass created once nothing refers to them (eval level only).
    if (x instanceof ConcreteArray && !x.isDisposed && createdByCall(x.tensor, firstNewId) && !primalValues.has(x)) x.dispose();
  };
  const primalValues = new Set<NDArray>();
  for (const v of primalEnv.values()) if (!isUndef(v)) primalValues.add(v);
  const accumulate = (v: Atom, ct: NDArray): void => {
    if (!(v instanceof Var) || !isUndef(primalEnv.get(v)!)) return;
    const prev = ctEnv.get(v);
    if (prev === undefined) {
      ctEnv.set(v, ct);
      hold(ct);
    } else {
      const sum = add(prev, ct);
      ctEnv.set(v, sum);
      hold(sum);
      release(prev);
    }
  };
  jaxpr.outs.forEach((o, i) => {
    const ct = cts[i];
    if (ct !== null && ct !== undefined) accumulate(o, ct);
  });
  const inputCts = new Set<NDArray>(cts.filter((c): c is NDArray => c !== null && c !== undefined));
  for (const c of inputCts) primalValues.add(c);
  // Remaining uses of each consumable residual tensor by the linear equations (freed at zero).
  // Values this pass computed in its forward phase are its own; so are residuals the caller
  // marks consumable. Both are freed as soon as no remaining linear equation reads them.
  const residualUses = new Map<tf.Tensor, number>();
  if (eagerFree) {
    const consumable = (t: tf.Tensor): boolean => createdByCall(t, firstNewId) || (options.consumable?.(t) ?? false);
    const owned = new Set<tf.Tensor>();
    for (const v of primalEnv.values()) if (v instanceof ConcreteArray && !v.isDisposed && consumable(v.tensor)) owned.add(v.tensor);
    for (const o of jaxpr.outs) {
      const v = o instanceof Var ? primalEnv.get(o) : undefined;
      if (v instanceof ConcreteArray) owned.delete(v.tensor);
    }
    for (const c of inputCts) if (c instanceof ConcreteArray) owned.delete(c.tensor);
    for (const eqn of linearEqns) {
      for (const a of eqn.inputs) {
        const v = a instanceof Var ? primalEnv.get(a) : undefined;
        if (v instanceof ConcreteArray && owned.has(v.tensor)) residualUses.set(v.tensor, (residualUses.get(v.tensor) ?? 0) + 1);
      }
    }
    // Forward-phase results no linear equation needs are garbage already.
    for (const t of owned) if (!residualUses.has(t) && createdByCall(t, firstNewId)) t.dispose();
  }
  const consumeResiduals = (eqn: JaxprEqn): void => {
    for (const a of eqn.inputs) {
      const v = a instanceof Var ? primalEnv.get(a) : undefined;
      if (!(v instanceof ConcreteArray)) continue;
      const n = residualUses.get(v.tensor);
      if (n === undefined) continue;
      if (n <= 1) {
        residualUses.delete(v.tensor);
        v.dispose();
      } else residualUses.set(v.tensor, n - 1);
    }
  };
  for (let k = linearEqns.length - 1; k >= 0; k--) {
    const eqn = linearEqns[k]!;
    const ctsOut = eqn.outBinders.map((v) => ctEnv.get(v) ?? null);
    eqn.outBinders.forEach((v) => ctEnv.delete(v));
    if (ctsOut.every((c) => c === null)) {
      consumeResiduals(eqn);
      continue;
    }
    const ins = eqn.inputs.map(read);
    const rule = transposeRules[eqn.prim as LinearPrimitive] as TransposeRule<LinearPrimitive>;
    const ctsIn = scoped(() => rule(ctsOut, ins, eqn.params as ParamsOf<LinearPrimitive>));
    ctsIn.forEach((ct, i) => {
      if (ct !== null && ct !== undefined) accumulate(eqn.inputs[i]!, ct);
    });
    ctsOut.forEach((c) => c !== null && release(c));
    consumeResiduals(eqn);
  }
  return jaxpr.inBinders.map((v) => (isUndef(primalEnv.get(v)!) ? (ctEnv.get(v) ?? null) : null));
}

/** Transposing a program primitive: run the backward pass over its program (recomputing, for remat). */
function programTranspose(prim: 'jit_call' | 'remat'): TransposeRule<'jit_call' | 'remat'> {
  return (cts, args, params) => {
    void prim;
    return scoped(() => backwardPass(params.jaxpr, args, cts));
  };
}

/**
 * Transposing a linear scan (JAX's _scan_transpose) gives a scan running the other way. Operands
 * not being transposed are residuals: consts (loop-invariant) and xs (per step). Every carry is
 * linear (one made of a known value, as a zero tangent instantiated by the JVP rule is, gets its
 * cotangent dropped: a linear map's cotangents do not depend on its inputs' values). The reverse
 * scan carries the cotangents of the carries and the running sum of the linear consts'
 * cotangents; it takes the ys' cotangents as xs and returns the linear xs' cotangents as ys.
 */
const scanTranspose: TransposeRule<'scan'> = (cts, args, params) => {
  // Outputs with no cotangent (ys nobody reads after the loop, say) are dropped first, with the
  // carries only they need: their transposes would otherwise run every step on stacked zeros.
  const pruned = dceScanParams(params, cts.map((c) => c !== null));
  if (pruned.params !== params) {
    const keptCts = cts.filter((_, i) => pruned.keptOuts[i]);
    if (keptCts.every((c) => c === null)) return args.map(() => null);
    const ctKept = scanTranspose(keptCts, args.filter((_, i) => pruned.usedInputs[i]), pruned.params);
    let k = 0;
    return args.map((_, i) => (pruned.usedInputs[i] ? ctKept[k++]! : null));
  }
  const { jaxpr, numConsts: nC, numCarry: nK, length, reverse, unroll, name } = params;
  const nIn = args.length;
  const inAvals = jaxpr.inAvals, outAvals = jaxpr.outAvals;
  const constLinear = args.slice(0, nC).map(isUndef);
  const xsLinear = args.slice(nC + nK).map(isUndef);
  const resConsts = args.slice(0, nC).filter((a): a is NDArray => !isUndef(a));
  const resXs = args.slice(nC + nK).filter((a): a is NDArray => !isUndef(a));
  const linConstAvals = inAvals.slice(0, nC).filter((_, i) => constLinear[i]);
  const carryAvals = inAvals.slice(nC, nC + nK);
  const ctCarry = cts.slice(0, nK).map((c, k) => c ?? zeros(carryAvals[k]!));
  const ctYs = cts.slice(nK).map((c, k) => c ?? zeros(new ShapedArray([length, ...outAvals[nK + k]!.shape], outAvals[nK + k]!.dtype)));
  const bodyAvals = [
    ...resConsts.map((r) => r.aval),
    ...linConstAvals,
    ...carryAvals,
    ...inAvals.slice(nC + nK).filter((_, i) => !xsLinear[i]),
    ...outAvals.slice(nK),
  ];
  const nRC = resConsts.length, nLC = linConstAvals.length, nRX = resXs.length;
  const { jaxpr: body, consts } = traceToJaxpr((ins) => {
    const rc = ins.slice(0, nRC), acc = ins.slice(nRC, nRC + nLC), ctC = ins.slice(nRC + nLC, nRC + nLC + nK);
    const rx = ins.slice(nRC + nLC + nK, nRC + nLC + nK + nRX), ctY = ins.slice(nRC + nLC + nK + nRX);
    let r = 0, x = 0;
    const bodyArgs: Operand[] = inAvals.map((aval, i) => {
      if (i < nC) return constLinear[i] ? new UndefPrimal(aval) : rc[r++]!;
      if (i < nC + nK) return new UndefPrimal(aval);
      return xsLinear[i - nC - nK] ? new UndefPrimal(aval) : rx[x++]!;
    });
    const ctIn = backwardPass(jaxpr, bodyArgs, [...ctC, ...ctY]);
    const orZero = (i: number): NDArray => ctIn[i] ?? zeros(inAvals[i]!);
    let l = 0;
    const newAcc = range(nC).flatMap((i) => (constLinear[i] ? [ctIn[i] ? add(acc[l++]!, ctIn[i]!) : acc[l++]!] : []));
    return [...newAcc, ...range(nK).map((k) => orZero(nC + k)), ...range(nIn - nC - nK).flatMap((j) => (xsLinear[j] ? [orZero(nC + nK + j)] : []))];
  }, bodyAvals);
  const outs = bind('scan', [...consts, ...resConsts, ...linConstAvals.map(zeros), ...ctCarry, ...resXs, ...ctYs], {
    jaxpr: body,
    numConsts: consts.length + nRC,
    numCarry: nLC + nK,
    length,
    reverse: !reverse,
    unroll,
    name: `transpose(${name})`,
  });
  const ctConsts = outs.slice(0, nLC), ctInit = outs.slice(nLC, nLC + nK), ctXs = outs.slice(nLC + nK);
  let l = 0, x = 0;
  return args.map((a, i) => {
    if (i < nC) return constLinear[i] ? ctConsts[l++]! : null;
    if (i < nC + nK) return isUndef(a) ? ctInit[i - nC]! : null;
    return xsLinear[i - nC - nK] ? ctXs[x++]! : null;
  });
};

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/**
 * A while loop cannot be transposed: its trip count is known only by running it forward, and the
 * backward pass would need every iteration's residuals. JAX raises the same error (its
 * _while_transpose_error); a loop with a trip count fixed at trace time is a scan.
 */
const whileTranspose: TransposeRule<'while'> = (_cts, _args, params) => {
  throw new TransformError(
    `whileLoop(${params.name}): Reverse-mode differentiation does not work for lax.while_loop (gradus's whileLoop) or lax.fori_loop with dynamic start/stop values. ` +
      'Try using lax.scan, or lax.fori_loop with constant trip count (gradus\'s scan, or foriLoop with JS-integer bounds, which is a scan). Forward mode (jvp, jacfwd) works.',
  );
};

/**
 * Transposing a linear cond (JAX's _cond_transpose): a cond over the transposed branches, so only
 * the chosen branch's transpose runs. The index and the operands that are not transposed
 * (residuals) are passed as they are; every branch returns a cotangent (zeros where it has none)
 * for each linear operand.
 */
const condTranspose: TransposeRule<'cond'> = (cts, args, params) => {
  const { branches, name } = params;
  const [index, ...ops] = args;
  if (isUndef(index!)) throw new TransformError(`cond(${name}): the index is not linear (internal error: it was transposed)`);
  const linear = ops.map(isUndef);
  const residuals = ops.filter((a): a is NDArray => !isUndef(a));
  const outAvals = branches[0]!.outAvals;
  const ctsFull = cts.map((c, i) => c ?? zeros(outAvals[i]!));
  const programs = branches.map((branch) =>
    traceToJaxpr((ins) => {
      const res = ins.slice(0, residuals.length), ct = ins.slice(residuals.length);
      let r = 0;
      const branchArgs: Operand[] = branch.inAvals.map((aval, i) => (linear[i] ? new UndefPrimal(aval) : res[r++]!));
      const ctIn = backwardPass(branch, branchArgs, ct);
      return branch.inAvals.flatMap((aval, i) => (linear[i] ? [ctIn[i] ?? zeros(aval)] : []));
    }, [...residuals.map((r) => r.aval), ...outAvals]),
  );
  const { jaxprs, consts } = withCommonConsts(programs);
  const outs = bind('cond', [index as NDArray, ...consts, ...residuals, ...ctsFull], { branches: jaxprs, name: `transpose(${name})` });
  let k = 0;
  return args.map((a, i) => (i > 0 && isUndef(a) ? outs[k++]! : null));
};

const customLinTranspose: TransposeRule<'custom_lin'> = (cts, args, params) => {
  const residuals = args.slice(0, params.numResiduals) as NDArray[];
  const full = cts.map((c, i) => c ?? zeros(params.outAvals[i]!));
  let result: (NDArray | null)[];
  try {
    result = params.bwd(residuals, full);
  } catch (e) {
    // (As for fwd and JVP rules: a closed-over tracer of a finished transformation, named at the rule.)
    if (e instanceof UnexpectedTracerError) {
      throw new TransformError(`customVjp(${params.name}): bwd closes over a value traced by an enclosing transformation (a vmap or jit around the call that made it). Pass that value to the function as an explicit argument and return it as a residual`);
    }
    throw e;
  }
  const nIn = args.length - params.numResiduals;
  if (!Array.isArray(result) || result.length !== nIn) {
    throw new TransformError(`customVjp(${params.name}): bwd returned ${Array.isArray(result) ? result.length : typeof result} cotangent(s); expected one per primal argument (${nIn})`);
  }
  return [...residuals.map(() => null), ...result];
};

export const transposeRules: { [P in LinearPrimitive]: TransposeRule<P> } = {
  ...firstOrderTransposeRules,
  jit_call: programTranspose('jit_call') as TransposeRule<'jit_call'>,
  remat: programTranspose('remat') as TransposeRule<'remat'>,
  custom_lin: customLinTranspose,
  scan: scanTranspose,
  while: whileTranspose,
  cond: condTranspose,
};

void bind;

export { nextTensorId };

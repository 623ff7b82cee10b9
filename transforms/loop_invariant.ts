// Loop-invariant code of a scan body (JAX's "loop-invariant residuals" in _scan_partial_eval): the
// part of the known body of a split scan that depends only on its consts is computed once before
// the loop. A residual it makes (np.transpose(W), W·2, a mask built from consts) then becomes a
// const of the linear scan, one copy, where it would otherwise be saved once per step, an
// f32[length, ...] residual; and the known loop reads the hoisted values instead of recomputing them.
import { Jaxpr, Var, type JaxprEqn } from '../src/jaxpr.js';
import { deadCodeElimination } from '../src/dce.js';

export interface HoistedBody {
  /** Over the body's consts: the hoisted values, in the order of `loop`'s new binders. */
  hoist: Jaxpr;
  /** The body with the hoisted values as binders after its consts: [...consts, ...hoisted, ...carry, ...xs]; same outputs. */
  loop: Jaxpr;
  /** The hoisted values (binders of `loop`, outputs of `hoist`). */
  hoisted: Var[];
}

/**
 * Splits `body` (binders [...consts, ...carry, ...xs], the first `numConsts` being consts) into the
 * computations that read only consts and the loop. An equation moves out when every input is a
 * const or a moved value and at least one is (arithmetic on literals alone stays in the loop,
 * where the compiler folds it, unless it is itself a residual: `isResidual` says which outputs
 * are). Returns null when nothing the loop or the outputs read moves.
 */
export function hoistLoopInvariant(body: Jaxpr, numConsts: number, isResidual: (out: number) => boolean): HoistedBody | null {
  const consts = body.inBinders.slice(0, numConsts);
  const fromConsts = new Set<Var>(consts);
  const invariant = new Set<Var>(consts);
  const residuals = new Set<Var>(body.outs.filter((o, i): o is Var => o instanceof Var && isResidual(i)));
  const invariantEqns: JaxprEqn[] = [];
  const moved = new Set<JaxprEqn>();
  for (const eqn of body.eqns) {
    const vars = eqn.inputs.filter((a): a is Var => a instanceof Var);
    if (!vars.every((v) => invariant.has(v))) continue;
    invariantEqns.push(eqn);
    eqn.outBinders.forEach((v) => invariant.add(v));
    if (vars.some((v) => fromConsts.has(v))) {
      moved.add(eqn);
      eqn.outBinders.forEach((v) => fromConsts.add(v));
    } else if (eqn.outBinders.some((v) => residuals.has(v))) {
      moved.add(eqn);
    }
  }
  if (moved.size === 0) return null;
  const loopEqns = body.eqns.filter((e) => !moved.has(e));
  const movedOut = new Set<Var>([...moved].flatMap((e) => e.outBinders));
  const needed = new Set<Var>();
  for (const e of loopEqns) for (const a of e.inputs) if (a instanceof Var && movedOut.has(a)) needed.add(a);
  for (const o of body.outs) if (o instanceof Var && movedOut.has(o)) needed.add(o);
  if (needed.size === 0) return null;
  const hoisted = [...movedOut].filter((v) => needed.has(v));
  return {
    hoist: deadCodeElimination(new Jaxpr(consts, invariantEqns, hoisted)),
    // The hoisted values are bound by `hoist`'s equations and by `loop`'s binders: two programs, so each binds them once.
    loop: new Jaxpr([...consts, ...hoisted, ...body.inBinders.slice(numConsts)], loopEqns, body.outs),
    hoisted,
  };
}

// Forward-mode differentiation: the JVP interpreter. A JVPTracer carries a primal and a tangent
// (null = a known zero, so untouched inputs cost nothing); each primitive's rule computes both.
import type * as tf from '@tensorflow/tfjs-core';
import type { ConcreteArray, NDArray } from '../src/array.js';
import type { ShapedArray } from '../src/aval.js';
import { Trace, Tracer, bind, fullLower, fullRaise, reachableLevel, withNewMain } from '../src/core.js';
import { isDifferentiable } from '../src/dtype.js';
import { DTypeError, ShapeError, TransformError, UnexpectedTracerError } from '../src/errors.js';
import { Jaxpr, Var, evalJaxpr, type Atom } from '../src/jaxpr.js';
import type { ParamsOf, Primitive } from '../src/primitives.js';
import { collectTensors, scoped } from '../src/scope.js';
import * as tree from '../src/tree.js';
import { asArray } from '../src/np/convert.js';
import { flattenArrays, leafArray, leafWhere, weaklyTyped, freshResults, refuseFreedLeaves, nextTensorId, unflatten, type ArrayLikes, type ArraysOf, type Known } from './api_util.js';
import { branchFixpoint, traceToJaxpr, withCommonConsts, type TracedProgram } from './jaxpr_trace.js';
import { firstOrderJvpRules, instantiate, type JvpRule, type Tangent } from './jvp_rules.js';
import { zeros } from './lax.js';

export class JVPTracer extends Tracer {
  constructor(
    readonly trace: JVPTrace,
    readonly primal: NDArray,
    readonly tangent: Tangent,
  ) {
    super();
  }
  get aval(): ShapedArray {
    return this.primal.aval;
  }
  override fullLower(): NDArray {
    return this.tangent === null ? fullLower(this.primal) : this;
  }
  override abstractIn(): string | null {
    return this.primal.abstractIn();
  }
  concreteValue() {
    const c = this.primal.concreteValue();
    // User code now holds the value as a plain array (it may close a customVjp bwd over it).
    const forward = this.trace.main.globalData;
    if (c !== null && forward instanceof ForwardValues) forward.exposed.push(c);
    return c;
  }
  protected override requireConcrete(what: string): ConcreteArray {
    // item(), toArray(), dataSync() and toTensor() copy the values out: nothing is exposed.
    return this.primal.concreteValue() ?? super.requireConcrete(what);
  }
  collectTensors(out: Set<tf.Tensor>): void {
    collectTensors(this.primal, out);
    collectTensors(this.tangent, out);
  }
}

/**
 * The forward values a linearization computes, for grad to free those the backward pass does not
 * read before it starts. `computed`: the primal values that user code sees only behind tracers.
 * `exposed`: those it holds as plain arrays, which must live until grad returns (a customVjp bwd
 * may close over them): an output without a tangent (a comparison, an integer op, stopGradient)
 * leaves the trace as its concrete value, and concreteValue() hands a tracer's value out.
 */
export class ForwardValues {
  readonly computed: NDArray[] = [];
  readonly exposed: NDArray[] = [];
}

export class JVPTrace extends Trace {
  lift(val: NDArray): NDArray {
    return new JVPTracer(this, val, null);
  }
  processPrimitive<P extends Primitive>(prim: P, args: NDArray[], params: ParamsOf<P>): NDArray[] {
    const tracers = args as JVPTracer[];
    const primals = tracers.map((t) => t.primal);
    const tangents = tracers.map((t) => t.tangent);
    const forward = this.main.globalData as ForwardValues | null;
    if (tangents.every((t) => t === null)) {
      const outs = bind(prim, primals, params);
      forward?.exposed.push(...outs); // no tracers: user code gets these arrays as they are
      return outs;
    }
    const rule = jvpRules[prim] as JvpRule<P>;
    // A scope per rule frees the rule's temporaries (e.g. y² in tanh's 1 − y²) right away.
    const [primalsOut, tangentsOut] = scoped(() => rule(primals, tangents, params));
    return primalsOut.map((p, i) => {
      const t = isDifferentiable(p.dtype) ? (tangentsOut[i] ?? null) : null;
      // A tracer without a tangent lowers to its primal: user code gets that array itself.
      (t === null ? forward?.exposed : forward?.computed)?.push(p);
      return new JVPTracer(this, p, t);
    });
  }
}

/**
 * Runs `f` on JVP tracers over flat lists; returns primal and tangent outputs (tangents instantiated).
 * With `forward`, the primal values the trace computes are listed there (see ForwardValues), so
 * linearize's caller knows which forward values only the trace refers to.
 */
export function jvpFlat(f: (xs: NDArray[]) => NDArray[], primals: NDArray[], tangents: Tangent[], forward?: ForwardValues): [NDArray[], NDArray[]] {
  return withNewMain(JVPTrace, forward ?? null, (main) => {
    const trace = new JVPTrace(main);
    const tracersIn = primals.map((p, i) => new JVPTracer(trace, p, tangents[i] ?? null));
    const outs = f(tracersIn).map((o) => fullRaise(trace, o) as JVPTracer);
    return [outs.map((o) => o.primal), outs.map((o) => instantiate(o.tangent, o.primal))];
  });
}

/**
 * `jvp(f, primals, tangents)` -> `[f(...primals), J·tangents]`: the directional derivative of f
 * along `tangents`, in one forward pass. `primals` and `tangents` are argument lists of the same
 * tree structure.
 */
export function jvp<Args extends unknown[], Out = NDArray>(f: ((...args: Args) => Out) & Known<Out>, primals: Readonly<Args>, tangents: Readonly<Args>): [ArraysOf<Out>, ArraysOf<Out>];
/** In generic code (an output type with type parameters): the results typed as f's output. */
export function jvp<Args extends unknown[], Out = NDArray>(f: (...args: Args) => Out, primals: Readonly<Args>, tangents: Readonly<Args>): [Out, Out];
/** Primals and tangents not typed as f's parameters: numbers for arrays, lists built at run time (whose entries are like some argument). */
export function jvp<Args extends unknown[], Out = NDArray>(f: (...args: Args) => Out, primals: readonly ArrayLikes<Args[number]>[], tangents: readonly ArrayLikes<Args[number]>[]): [ArraysOf<Out>, ArraysOf<Out>];
export function jvp<Args extends unknown[], Out = NDArray>(f: (...args: Args) => Out, primals: Readonly<Args>, tangents: Readonly<Args>): [ArraysOf<Out>, ArraysOf<Out>] {
  if (!Array.isArray(primals) || !Array.isArray(tangents)) {
    throw new TransformError(`jvp: primals and tangents must be lists with one entry per argument, e.g. jvp(f, [x], [t]); got ${Array.isArray(primals) ? 'a list' : 'a non-list'} of primals and ${Array.isArray(tangents) ? 'a list' : 'a non-list'} of tangents`);
  }
  const firstNew = nextTensorId();
  return scoped(() => {
    const [ts, tdef] = flattenArrays('jvp', [...tangents], 'tangent');
    const rawTangents = tree.leaves([...tangents]);
    const [ps, pdef] = flattenNumberPrimals([...primals], rawTangents, ts);
    refuseFreedLeaves('jvp', [...primals], ps, 'primal');
    refuseFreedLeaves('jvp', [...tangents], ts, 'tangent');
    if (!pdef.equals(tdef)) throw new TransformError(`jvp: primals have structure ${pdef} but tangents have ${tdef}; expected the same tree structure`);
    ps.forEach((p, i) => {
      const t = (ts[i] = weaklyTyped(rawTangents[i], ts[i]!, p.dtype)); // 2 is a float32 tangent of a float32 primal
      if (p.shape.join() !== t.shape.join()) {
        throw new ShapeError(`jvp: tangent ${i} is ${t.aval.str()} but its primal is ${p.aval.str()}; expected the same shape and dtype${leafWhere([...tangents], i, 'the tangents')}`);
      }
      checkTangentDtype('jvp', i, p, t, rawTangents[i], () => leafWhere([...tangents], i, 'the tangents'));
    });
    let outDef: ReturnType<typeof flattenArrays>[1] | undefined;
    const [po, to] = jvpFlat(
      (xs) => {
        const out = f(...unflatten<Args>(pdef, xs));
        const [leaves, def] = flattenArrays('jvp', out, 'output');
        refuseFreedLeaves('jvp', out, leaves, 'output');
        outDef = def;
        return leaves;
      },
      ps,
      ts.map((t, i) => (isDifferentiable(ps[i]!.dtype) ? t : null)),
    );
    return freshResults([unflatten<ArraysOf<Out>>(outDef!, po), unflatten<ArraysOf<Out>>(outDef!, to)] as [ArraysOf<Out>, ArraysOf<Out>], [primals, tangents], firstNew, 'jvp');
  });
}

/**
 * The primals as arrays. JS has one number type, so a JS-number primal takes its dtype from its
 * tangent: float32 when that is a nonzero number or a float array (jvp(np.sin, [1], [1]) is cos 1,
 * where an int32 primal would drop the tangent), else as inferred (an integral number is int32, held
 * constant: jvp(pow, [x, 3], [t, 0]) is 3x²t, and an index stays an index).
 */
function flattenNumberPrimals(primals: unknown[], rawTangents: unknown[], tangents: NDArray[]): [NDArray[], ReturnType<typeof flattenArrays>[1]] {
  const [withPaths, def] = tree.flattenWithPath(primals);
  const arrays = withPaths.map(([path, leaf], i) => {
    if (typeof leaf !== 'number') return leafArray('jvp', path, leaf, 'primal');
    const raw = rawTangents[i], t = tangents[i];
    const floatTangent = typeof raw === 'number' ? raw !== 0 : t !== undefined && isDifferentiable(t.dtype);
    return asArray(leaf, floatTangent ? 'float32' : undefined);
  });
  return [arrays, def];
}

/**
 * A float primal needs a tangent of its dtype. An int or bool primal has no derivative: its tangent
 * must be integral (JAX's float0), i.e. an int/bool array (ignored) or the JS number 0 — a float
 * tangent, or a nonzero number, would be dropped silently.
 */
export function checkTangentDtype(op: string, i: number, primal: NDArray, tangent: NDArray, raw: unknown, where: () => string = () => ''): void {
  if (isDifferentiable(primal.dtype)) {
    if (tangent.dtype !== primal.dtype) throw new DTypeError(`${op}: tangent ${i} is ${tangent.aval.str()} but its primal is ${primal.aval.str()}; expected the same dtype${where()}`);
  } else if (isDifferentiable(tangent.dtype) || (typeof raw === 'number' && raw !== 0)) {
    throw new DTypeError(
      `${op}: primal ${i} is ${primal.aval.str()}, which has no derivative, but its tangent is ${typeof raw === 'number' ? `the number ${raw}` : tangent.aval.str()}; ` +
        `give a float32 primal (np.array(v, 'float32')) to differentiate along it, or a zero integer tangent to hold it constant${where()}`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Programs under JVP: the rule for higher-order primitives differentiates their program.

/**
 * The JVP of jit_call and remat. An output whose tangent is zero (one computed from constants or
 * non-differentiated inputs, an integer one) keeps a symbolic zero, as JAX's pjit JVP does: the
 * program does not return a written-out zero, which a linearization would otherwise save as a
 * residual and the backward pass carry through.
 */
function programJvp(prim: 'jit_call' | 'remat'): JvpRule<'jit_call' | 'remat'> {
  return (primals, tangents, params) => {
    const nonzeros = tangents.map((t) => t !== null);
    const n = params.jaxpr.outs.length;
    const { jaxpr, consts, outNonzeros } = jvpJaxprKeepingZeros(params.jaxpr, nonzeros, new Array<boolean>(n).fill(false));
    const outs = bind(prim, [...consts, ...primals, ...tangents.filter((t): t is NDArray => t !== null)], {
      ...params,
      jaxpr,
      numConsts: consts.length,
    } as ParamsOf<'jit_call'>);
    let k = n;
    return [outs.slice(0, n), outNonzeros.map((nz) => (nz ? outs[k++]! : null))];
  };
}

/**
 * The JVP of a program that keeps symbolic zeros: inputs [...primals, ...tangents of the inputs
 * marked in `nonzeros`], outputs [...primal outputs, ...tangents of the outputs that have one],
 * where an output has one if the trace gives it a nonzero tangent or `instantiateOuts` asks for it
 * (then zeros are written out). `outNonzeros` says which outputs have one.
 */
export function jvpJaxprKeepingZeros(jaxpr: Jaxpr, nonzeros: boolean[], instantiateOuts: boolean[]): TracedProgram & { outNonzeros: boolean[] } {
  const inAvals = jaxpr.inAvals;
  let outNonzeros: boolean[] = [];
  const program = traceToJaxpr((args) => {
    const primals = args.slice(0, inAvals.length);
    const tangentList = args.slice(inAvals.length);
    let k = 0;
    const tangents = nonzeros.map((nz) => (nz ? tangentList[k++]! : null));
    return withNewMain(JVPTrace, null, (main) => {
      const trace = new JVPTrace(main);
      const tracersIn = primals.map((p, i) => new JVPTracer(trace, p, tangents[i] ?? null));
      const outs = evalJaxpr(jaxpr, tracersIn).map((o) => fullRaise(trace, o) as JVPTracer);
      outNonzeros = outs.map((o, i) => o.tangent !== null || (instantiateOuts[i]! && isDifferentiable(o.primal.dtype)));
      const tangentsOut = outs.flatMap((o, i) => (outNonzeros[i] ? [instantiate(o.tangent, o.primal)] : []));
      return [...outs.map((o) => o.primal), ...tangentsOut];
    });
  }, [...inAvals, ...inAvals.filter((_, i) => nonzeros[i])]);
  return { ...program, outNonzeros };
}

/**
 * The JVP of a scan (JAX's _scan_jvp): a scan over the body's JVP, carrying the tangents of the
 * carries that can be nonzero. A carry whose initial tangent is zero may get a nonzero one from
 * the body (c ← c + x·w with w differentiated), so which carries have tangents is a fixpoint:
 * start from the initial tangents, add every carry the body makes nonzero, repeat.
 */
const scanJvp: JvpRule<'scan'> = (primals, tangents, params) => {
  const { jaxpr, numConsts: nC, numCarry: nK } = params;
  const nz = tangents.map((t) => t !== null);
  const constNz = nz.slice(0, nC), xsNz = nz.slice(nC + nK);
  let carryNz = nz.slice(nC, nC + nK);
  let body: ReturnType<typeof jvpJaxprKeepingZeros>;
  for (;;) {
    const instantiateOuts = jaxpr.outs.map((_, i) => i < nK && carryNz[i]!);
    body = jvpJaxprKeepingZeros(jaxpr, [...constNz, ...carryNz, ...xsNz], instantiateOuts);
    const grown = body.outNonzeros.slice(0, nK).map((z, i) => z || carryNz[i]!);
    if (grown.every((z, i) => z === carryNz[i])) break;
    carryNz = grown;
  }
  const inNz = [...constNz, ...carryNz, ...xsNz];
  // The JVP program takes [...program consts, ...primals, ...tangents] and returns [...primals,
  // ...tangents]; reorder its binders into a scan body's [consts | carry | xs] and [carry | ys].
  const { jaxpr: jvpBody, consts, outNonzeros } = body;
  const nIn = jaxpr.inBinders.length, nOut = jaxpr.outs.length, nP = consts.length;
  const primalVars = jvpBody.inBinders.slice(nP, nP + nIn);
  const tangentVars = new Map<number, Var>();
  let k = nP + nIn;
  inNz.forEach((z, i) => z && tangentVars.set(i, jvpBody.inBinders[k++]!));
  const group = (lo: number, hi: number): Var[] => [...primalVars.slice(lo, hi), ...range(lo, hi).flatMap((i) => (inNz[i] ? [tangentVars.get(i)!] : []))];
  const tangentOuts = new Map<number, Atom>();
  let m = nOut;
  outNonzeros.forEach((z, i) => z && tangentOuts.set(i, jvpBody.outs[m++]!));
  const outGroup = (lo: number, hi: number): Atom[] => [...jvpBody.outs.slice(lo, hi), ...range(lo, hi).flatMap((i) => (outNonzeros[i] ? [tangentOuts.get(i)!] : []))];
  const scanBody = new Jaxpr(
    [...jvpBody.inBinders.slice(0, nP), ...group(0, nC), ...group(nC, nC + nK), ...group(nC + nK, nIn)],
    jvpBody.eqns,
    [...outGroup(0, nK), ...outGroup(nK, nOut)],
  );
  const operands = (lo: number, hi: number): NDArray[] => [
    ...primals.slice(lo, hi),
    ...range(lo, hi).flatMap((i) => (inNz[i] ? [instantiate(tangents[i] ?? null, primals[i]!)] : [])),
  ];
  const numCarryTangents = carryNz.filter(Boolean).length;
  const outs = bind('scan', [...consts, ...operands(0, nC), ...operands(nC, nC + nK), ...operands(nC + nK, nIn)], {
    ...params,
    jaxpr: scanBody,
    numConsts: nP + nC + constNz.filter(Boolean).length,
    numCarry: nK + numCarryTangents,
  });
  const carryOut = outs.slice(0, nK), carryTangents = outs.slice(nK, nK + numCarryTangents);
  const ysOut = outs.slice(nK + numCarryTangents, nK + numCarryTangents + nOut - nK), ysTangents = outs.slice(nK + numCarryTangents + nOut - nK);
  let a = 0, b = 0;
  const tangentsOut = [...carryNz.map((z) => (z ? carryTangents[a++]! : null)), ...outNonzeros.slice(nK).map((z) => (z ? ysTangents[b++]! : null))];
  return [[...carryOut, ...ysOut], tangentsOut];
};

const range = (lo: number, hi: number): number[] => Array.from({ length: hi - lo }, (_, i) => lo + i);

/**
 * The JVP of a while loop (JAX's _while_loop_jvp): a while over the body's JVP, carrying the
 * tangents of the carries that can be nonzero (a fixpoint, as for scan: a carry with a zero
 * initial tangent that the body mixes with a differentiated one gets a tangent). The condition
 * sees the primal carry only: it takes the tangents as inputs it ignores.
 */
const whileJvp: JvpRule<'while'> = (primals, tangents, params) => {
  const { cond, body, numCondConsts: nC, numBodyConsts: nB } = params;
  const nK = primals.length - nC - nB;
  const nz = tangents.map((t, i) => t !== null && isDifferentiable(primals[i]!.dtype));
  const bodyConstNz = nz.slice(nC, nC + nB);
  let carryNz = nz.slice(nC + nB);
  if (!bodyConstNz.some(Boolean) && !carryNz.some(Boolean)) return [bind('while', primals, params), range(0, nK).map(() => null)];
  let jvpBody: ReturnType<typeof jvpJaxprKeepingZeros>;
  for (;;) {
    jvpBody = jvpJaxprKeepingZeros(body, [...bodyConstNz, ...carryNz], carryNz);
    const grown = jvpBody.outNonzeros.map((z, i) => z || carryNz[i]!);
    if (grown.every((z, i) => z === carryNz[i])) break;
    carryNz = grown;
  }
  // The JVP program's binders are [P | body consts | carry | their tangents | the carry's
  // tangents] (P: the program's own consts); the loop's body wants [P, consts, const tangents |
  // carry, carry tangents]. Its outputs, [carry | carry tangents], are already in order.
  const { jaxpr: jvpJaxpr, consts } = jvpBody;
  const nP = consts.length, nBT = bodyConstNz.filter(Boolean).length;
  const b = jvpJaxpr.inBinders;
  const bodyJaxpr = new Jaxpr(
    [...b.slice(0, nP + nB), ...b.slice(nP + nB + nK, nP + nB + nK + nBT), ...b.slice(nP + nB, nP + nB + nK), ...b.slice(nP + nB + nK + nBT)],
    jvpJaxpr.eqns,
    jvpJaxpr.outs,
  );
  const tangentAvals = primals.slice(nC + nB).filter((_, k) => carryNz[k]).map((p) => p.aval);
  const condJaxpr = new Jaxpr([...cond.inBinders, ...tangentAvals.map((a) => new Var(a))], cond.eqns, cond.outs);
  const tangentsOf = (lo: number, hi: number, which: boolean[]): NDArray[] => range(lo, hi).flatMap((i) => (which[i - lo] ? [instantiate(tangents[i] ?? null, primals[i]!)] : []));
  const outs = bind('while', [
    ...primals.slice(0, nC),
    ...consts, ...primals.slice(nC, nC + nB), ...tangentsOf(nC, nC + nB, bodyConstNz),
    ...primals.slice(nC + nB), ...tangentsOf(nC + nB, nC + nB + nK, carryNz),
  ], { ...params, cond: condJaxpr, body: bodyJaxpr, numBodyConsts: nP + nB + nBT });
  let t = nK;
  return [outs.slice(0, nK), carryNz.map((z) => (z ? outs[t++]! : null))];
};

/**
 * The JVP of a cond (JAX's _cond_jvp): a cond over the branches' JVPs. An output has a tangent
 * if it has one in any branch; the other branches write zeros for it, so every branch returns the
 * same outputs. The index has no tangent.
 */
const condJvp: JvpRule<'cond'> = (primals, tangents, params) => {
  const { branches } = params;
  const [index, ...ops] = primals;
  const nz = tangents.slice(1).map((t, i) => t !== null && isDifferentiable(ops[i]!.dtype));
  const outAvals = branches[0]!.outAvals;
  if (!nz.some(Boolean)) return [bind('cond', primals, params), outAvals.map(() => null)];
  const [programs, outNz] = branchFixpoint(outAvals.length, (forced) => branches.map((b) => jvpJaxprKeepingZeros(b, nz, forced)), (p) => p.outNonzeros, (i) => isDifferentiable(outAvals[i]!.dtype));
  const { jaxprs, consts } = withCommonConsts(programs);
  const opTangents = ops.flatMap((p, i) => (nz[i] ? [instantiate(tangents[i + 1] ?? null, p)] : []));
  const outs = bind('cond', [index!, ...consts, ...ops, ...opTangents], { ...params, branches: jaxprs });
  const n = outAvals.length;
  let t = n;
  return [outs.slice(0, n), outNz.map((z) => (z ? outs[t++]! : null))];
};

/**
 * The explicit arguments of a custom-rule call (its leading operands are closed-over constants,
 * which the user's rule cannot see, so they must not carry tangents).
 */
function explicitArgs(kind: string, name: string, numConsts: number, primals: NDArray[], tangents: Tangent[], ruleName: string): NDArray[] {
  if (tangents.slice(0, numConsts).some((t) => t !== null)) {
    throw new TransformError(
      `${kind}(${name}): the function closes over a value that is being differentiated. ` +
        `Pass that value as an explicit argument so ${ruleName} can see it.`,
    );
  }
  return primals.slice(numConsts);
}

/**
 * A rule that closes over a value traced by an enclosing transformation (a vmap or jit around the
 * call that made the custom function) returns that transformation's tracers here, where it has no
 * business, or meets them after that transformation returned: either way the error names the rule
 * instead of surfacing later (or deep inside it) as an escaped tracer.
 */
function closureError(kind: string, name: string, ruleName: string): TransformError {
  return new TransformError(
    `${kind}(${name}): ${ruleName} closes over a value traced by an enclosing transformation (a vmap or jit around the call that made it). ` +
      `Pass that value to the function as an explicit argument, so the rule receives it.`,
  );
}

function runRule<T extends NDArray[][]>(kind: string, name: string, ruleName: string, inputs: readonly NDArray[], rule: () => T): T {
  let result: T;
  try {
    result = rule();
  } catch (e) {
    throw e instanceof UnexpectedTracerError ? closureError(kind, name, ruleName) : e;
  }
  const level = reachableLevel(inputs);
  if (result.some((list) => list.some((o) => o instanceof Tracer && o.trace.main.level > level))) throw closureError(kind, name, ruleName);
  return result;
}

const customJvpRule: JvpRule<'custom_jvp_call'> = (primals, tangents, params) => {
  const nc = params.numConsts;
  const args = explicitArgs('customJvp', params.name, nc, primals, tangents, 'the custom rule');
  const ts = tangents.slice(nc).map((t, i) => instantiate(t, args[i]!));
  const [po, to] = runRule('customJvp', params.name, 'the JVP rule', [...args, ...ts], () => params.jvp(args, ts));
  const want = params.jaxpr.outAvals;
  [po, to].forEach((list, k) =>
    list.forEach((x, i) => {
      if (x.shape.join() !== want[i]!.shape.join()) {
        throw new ShapeError(`customJvp(${params.name}): the rule's ${k === 0 ? 'primal' : 'tangent'} output ${i} has shape ${x.aval.str()}; expected ${want[i]!.str()} (like f's output)`);
      }
    }),
  );
  return [po, to];
};

const customVjpRule: JvpRule<'custom_vjp_call'> = (primals, tangents, params) => {
  const nc = params.numConsts;
  const args = explicitArgs('customVjp', params.name, nc, primals, tangents, 'the backward rule');
  const [outs, residuals] = runRule('customVjp', params.name, 'fwd', args, () => params.fwd(args));
  const ts = tangents.slice(nc).map((t, i) => instantiate(t, args[i]!));
  const tangentOuts = bind('custom_lin', [...residuals, ...ts], {
    bwd: params.bwd,
    numResiduals: residuals.length,
    outAvals: outs.map((o) => o.aval),
    name: params.name,
  });
  return [outs, tangentOuts];
};

const customLinRule: JvpRule<'custom_lin'> = (_p, _t, params) => {
  throw new TransformError(
    `customVjp(${params.name}): forward-mode differentiation (jvp, jacfwd, hessian) of a customVjp function is not supported, ` +
      'because only its backward rule is known (JAX refuses it too). Use customJvp, or reverse mode over reverse mode: grad of grad, or jacrev(jacrev(f)) for a Hessian.',
  );
};

export const jvpRules: { [P in Primitive]: JvpRule<P> } = {
  ...firstOrderJvpRules,
  jit_call: programJvp('jit_call') as JvpRule<'jit_call'>,
  remat: programJvp('remat') as JvpRule<'remat'>,
  custom_jvp_call: customJvpRule,
  custom_vjp_call: customVjpRule,
  custom_lin: customLinRule,
  scan: scanJvp,
  while: whileJvp,
  cond: condJvp,
};

void zeros;

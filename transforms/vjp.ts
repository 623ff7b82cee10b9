// Reverse mode: linearize (JVP + partial evaluation), vjp (linearize + transposition), grad.
import type * as tf from '@tensorflow/tfjs-core';
import type { NDArray } from '../src/array.js';
import { isDifferentiable } from '../src/dtype.js';
import { currentTraceStack } from '../src/core.js';
import { DTypeError, ShapeError, TransformError } from '../src/errors.js';
import { evalJaxpr, type Jaxpr } from '../src/jaxpr.js';
import { collectTensors, createdByCall, scoped } from '../src/scope.js';
import { astype } from '../src/np/elementwise.js';
import * as tree from '../src/tree.js';
import { checkOptions, callDifferentiated, flattenArrays, flattenDifferentiated, freshResults, refuseFreedLeaves, leafWhere, normalizeArgnums, unflatten, weaklyTyped, type ArrayLikes, type ArraysOf, type Known, type TreeDef } from './api_util.js';
import { ForwardValues, checkTangentDtype, jvpFlat } from './jvp.js';
import { zeros, onesLike } from './lax.js';
import { PartialVal, partialEvalFlat } from './partial_eval.js';
import { UndefPrimal, backwardPass, nextTensorId, type BackwardOptions } from './transpose.js';

/** The linearization of a flat function at `primals`: outputs and a linear program for the tangents. */
export interface Linearized {
  primalsOut: NDArray[];
  /** Program over [...consts, ...tangents of the differentiable inputs] giving the output tangents. */
  jaxpr: Jaxpr;
  consts: NDArray[];
  /** Which inputs have tangent inputs in the program (float inputs do; int/bool inputs do not). */
  differentiable: boolean[];
}

/** `forward`, when given, lists the forward values linearization computed (jvpFlat). */
export function linearizeFlat(f: (xs: NDArray[]) => NDArray[], primals: NDArray[], forward?: ForwardValues): Linearized {
  const differentiable = primals.map((p) => isDifferentiable(p.dtype));
  const diffPrimals = primals.filter((_, i) => differentiable[i]);
  const pvals = [...primals.map((p) => PartialVal.known(p)), ...diffPrimals.map((p) => PartialVal.unknown(p.aval))];
  const n = primals.length;
  const { jaxpr, consts, knownOuts } = partialEvalFlat(
    (xs) => {
      let k = n;
      const tangents = differentiable.map((d) => (d ? xs[k++]! : null));
      const [po, to] = jvpFlat(f, xs.slice(0, n), tangents, forward);
      return [...po, ...to];
    },
    pvals,
    (i, total) => i >= total / 2,
  );
  const numOuts = knownOuts.length / 2;
  const primalsOut = knownOuts.slice(0, numOuts);
  if (primalsOut.some((p) => p === null)) throw new TransformError('linearize: internal error: a primal output depends on tangents');
  return { primalsOut: primalsOut as NDArray[], jaxpr, consts, differentiable };
}

/** Frees the arrays among `values` created after `firstNewId` (closed-over arrays belong to the caller), sparing `keep`. */
function disposeMadeSince(values: NDArray[], keep: unknown, firstNewId: number): void {
  const spared = new Set<tf.Tensor>();
  collectTensors(keep, spared);
  const made = new Set<tf.Tensor>();
  collectTensors(values, made);
  for (const t of made) if (!spared.has(t) && createdByCall(t, firstNewId)) t.dispose();
}

/** A pullback: maps output cotangents to input cotangents. Holds the residuals until disposed. */
export interface Pullback<In, Out> {
  (cotangent: Out): In;
  /** Frees the residuals now (otherwise they live as long as the enclosing gradus scope). */
  dispose(): void;
}

function pullbackFlat(lin: Linearized, inAvals: NDArray[], options: BackwardOptions = {}): (cts: (NDArray | null)[]) => NDArray[] {
  return (cts) => {
    const undefs = inAvals.filter((_, i) => lin.differentiable[i]).map((p) => new UndefPrimal(p.aval));
    const ctsIn = backwardPass(lin.jaxpr, [...lin.consts, ...undefs], cts, options).slice(lin.consts.length);
    let k = 0;
    return inAvals.map((p, i) => (lin.differentiable[i] ? (ctsIn[k++] ?? zeros(p.aval)) : zeros(p.aval)));
  };
}

/** Checks a cotangent against the output it belongs to. */
function checkCotangents(op: string, outs: NDArray[], cts: NDArray[], ctTree: unknown): NDArray[] {
  if (cts.length !== outs.length) throw new TransformError(`${op}: expected ${outs.length} cotangent leaves (one per output leaf) but got ${cts.length}`);
  return cts.map((c, i) => {
    const o = outs[i]!;
    if (c.shape.join() !== o.shape.join()) throw new ShapeError(`${op}: cotangent ${i} has shape ${c.aval.str()} but the output is ${o.aval.str()}; expected the same shape${leafWhere(ctTree, i, 'the cotangent')}`);
    // Cotangents of float outputs are float; accept integer literals such as np.array(1), not bools.
    if (isDifferentiable(o.dtype) && c.dtype === 'bool') throw new DTypeError(`${op}: cotangent ${i} is ${c.aval.str()} but the output is ${o.aval.str()}; expected a float32 cotangent${leafWhere(ctTree, i, 'the cotangent')}`);
    return isDifferentiable(o.dtype) && c.dtype !== o.dtype ? astype(c, o.dtype) : c;
  });
}

/**
 * `vjp(f, ...primals)` -> `[f(...primals), pullback]` where `pullback(ct)` returns the cotangents of
 * all arguments (a list with one tree per argument). Number leaves come back as arrays (`ArraysOf`);
 * the cotangent may be given either way.
 */
export function vjp<Out = NDArray, Args extends unknown[] = unknown[]>(f: ((...args: Args) => Out) & Known<[Args, Out]>, ...primals: Args): [ArraysOf<Out>, Pullback<ArraysOf<Args>, Out | ArraysOf<Out>>];
/** In generic code (types with type parameters): the results typed as f's arguments and output. */
export function vjp<Out = NDArray, Args extends unknown[] = unknown[]>(f: (...args: Args) => Out, ...primals: Args): [Out, Pullback<Args, Out>];
export function vjp<Out = NDArray, Args extends unknown[] = unknown[]>(f: (...args: Args) => Out, ...primals: Args): [ArraysOf<Out>, Pullback<ArraysOf<Args>, Out | ArraysOf<Out>>] {
  let outDef: TreeDef | undefined;
  let argDef: TreeDef | undefined;
  let argLeaves: NDArray[] = [];
  const firstNewId = nextTensorId();
  const [out, lin] = scoped(
    () => {
      const [leaves, def] = flattenArrays('vjp', [...primals], 'argument');
      refuseFreedLeaves('vjp', [...primals], leaves, 'argument');
      argDef = def;
      argLeaves = leaves;
      const l = linearizeFlat((xs) => {
        const out = f(...unflatten<Args>(def, xs));
        const [outLeaves, od] = flattenArrays('vjp', out, 'output');
        refuseFreedLeaves('vjp', out, outLeaves, 'output');
        outDef = od;
        return outLeaves;
      }, leaves);
      // Outputs are also residuals of the pullback: hand out separate handles, so disposing one keeps the pullback working.
      return [freshResults(unflatten<ArraysOf<Out>>(outDef!, l.primalsOut), [primals, l.consts], firstNewId, 'vjp'), l] as const;
    },
    ([o, l]) => [o, l.consts, argLeaves],
  );
  const pull = pullbackFlat(lin, argLeaves);
  let disposed = false;
  const pullback = ((ct: Out | ArraysOf<Out>) => {
    if (disposed) throw new TransformError('vjp: this pullback was disposed');
    const firstNew = nextTensorId();
    return scoped(() => {
      const [raw, ctDef] = flattenArrays('vjp pullback', ct, 'cotangent');
      refuseFreedLeaves('vjp pullback', ct, raw, 'cotangent');
      // Leaves are matched to outputs in order: a list for an object, or other keys, would mix them up.
      if (!ctDef.equals(outDef!)) throw new TransformError(`vjp pullback: the cotangent has structure ${ctDef} but f's output has ${outDef}; expected the same tree structure`);
      const cts = checkCotangents('vjp pullback', lin.primalsOut, raw, ct);
      return freshResults(unflatten<ArraysOf<Args>>(argDef!, pull(cts)), [ct, argLeaves, lin.consts], firstNew, 'vjp pullback');
    });
  }) as Pullback<ArraysOf<Args>, Out | ArraysOf<Out>>;
  pullback.dispose = () => {
    disposed = true;
    // The arrays made for JS-number arguments are the pullback's too (the caller never saw them):
    // sparing every argument leaf left one array per number argument alive after dispose.
    disposeMadeSince([...lin.consts, ...argLeaves], [out, primals], firstNewId);
  };
  return [out, pullback];
}

export interface GradOptions {
  /** Which positional argument(s) to differentiate (default 0). A list gives a list of gradients. */
  argnums?: number | readonly number[];
  /** The function returns `[value, aux]`; aux is returned alongside, not differentiated. */
  hasAux?: boolean;
}

const GRAD_OPTIONS = ['argnums', 'hasAux'] as const satisfies readonly (keyof GradOptions)[];

type AnyFn = (...args: never[]) => unknown;
/**
 * The gradient's type: the differentiated argument's type, or a tuple of them for a list of argnums,
 * with number leaves as arrays, as they come back (see `ArraysOf`).
 */
export type GradOf<F extends AnyFn, A> = A extends number
  ? ArraysOf<ArgAt<Parameters<F>, A>>
  : A extends readonly number[]
    ? { -readonly [K in keyof A]: A[K] extends number ? ArraysOf<ArgAt<Parameters<F>, A[K]>> : never }
    : ArraysOf<Parameters<F>[0]>;
/** GradOf for generic code (argument types with type parameters): the arguments' own types. */
export type ArgsGradOf<F extends AnyFn, A> = A extends number
  ? ArgAt<Parameters<F>, A>
  : A extends readonly number[]
    ? { -readonly [K in keyof A]: A[K] extends number ? ArgAt<Parameters<F>, A[K]> : never }
    : Parameters<F>[0];
/**
 * The argument at position `A` of the argument list `P`, a negative `A` counting from the end as
 * argnums does at run time (`argnums: -1` is the last argument; `P[-1]` would be the union of all).
 */
type ArgAt<P extends readonly unknown[], A extends number> = `${A}` extends `-${infer D extends number}` ? ArgFromEnd<P, D> : P[A];
/** The `D`-th argument from the end (1 is the last); any argument's type where the list's length is not known. */
type ArgFromEnd<P extends readonly unknown[], D extends number, Seen extends unknown[] = []> = P extends readonly [...infer Rest, infer Last]
  ? [...Seen, Last]['length'] extends D
    ? Last
    : ArgFromEnd<Rest, D, [...Seen, Last]>
  : P[number];
export type ArgnumsOf<O> = O extends { argnums: infer A } ? A : 0;
/** What a `hasAux` function returns beside its value: the second element of its `[value, aux]`. */
export type AuxOf<F extends AnyFn> = ReturnType<F> extends readonly [unknown, infer A] ? A : ReturnType<F> extends readonly (infer E)[] ? E : unknown;
/** A function fit for `hasAux`: it returns `[value, aux]` (a tuple, or a list when not declared as one). */
type WithAux = (...args: never[]) => readonly unknown[];

function valueAndGradImpl(op: string, f: AnyFn, options: GradOptions, args: unknown[], keepValue: boolean): [unknown, unknown, unknown] {
  return scoped(() => {
    const { list, single } = normalizeArgnums(op, options.argnums ?? 0, args.length);
    const [leaves, def] = flattenDifferentiated(op, list.map((i) => args[i]), 'argument');
    refuseFreedLeaves(op, list.map((i) => args[i]), leaves, 'argument', list);
    leaves.forEach((x, i) => {
      if (!isDifferentiable(x.dtype)) {
        // Paths only for the message: the tree is walked again only on this error.
        const path = tree.flattenWithPath(list.map((i) => args[i]))[0][i]![0];
        throw new DTypeError(`${op}: argument ${list[path[0] as number]} at ${tree.keystr(path.slice(1)) || '(root)'} is ${x.aval.str()}; ${op} differentiates float32 inputs only (convert with .astype('float32'), or leave it out of argnums)`);
      }
    });
    // Aux values leave the linearised function as extra (non-differentiated) outputs, so they come
    // back as plain values rather than tracers of a finished transformation.
    let auxDef: TreeDef | undefined;
    const firstNew = nextTensorId();
    // Eagerly, forward values that are neither residuals nor results (a matmul's output that only
    // its tanh read) are freed before the backward pass, instead of living beside the growing
    // gradient until grad returns. Only values computed from the traced arguments are freed: a
    // constant the function made (and a customVjp bwd closed over) is freed with grad's scope, and
    // so is a forward value user code got as a plain array (ForwardValues.exposed).
    // Under an outer transformation the values may be what it recorded; its own scope frees them.
    const forward = currentTraceStack().length === 1 ? new ForwardValues() : undefined;
    const lin = linearizeFlat((xs) => {
      const r = callDifferentiated(op, f, args, list, def, xs, options.hasAux ?? false);
      const { outLeaves, auxLeaves } = r;
      auxDef = r.auxDef;
      if (outLeaves.length !== 1 || outLeaves[0]!.size !== 1 || outLeaves[0]!.ndim !== 0 || !isDifferentiable(outLeaves[0]!.dtype)) {
        const got = outLeaves.length === 1 ? outLeaves[0]!.aval.str() : `${outLeaves.length} arrays`;
        // Several outputs led by a scalar are most likely [loss, aux] without hasAux.
        const auxHint = !options.hasAux && outLeaves.length > 1 && outLeaves[0]!.ndim === 0 ? `; if it returns [value, aux], pass { hasAux: true }` : '';
        throw new TransformError(`${op}: the function must return a scalar float32 (shape []), but it returned ${got}. Reduce it (e.g. np.sum or np.mean) or use vjp/jacrev for non-scalar outputs${auxHint}`);
      }
      return [...outLeaves, ...auxLeaves];
    }, leaves, forward);
    if (forward !== undefined) disposeMadeSince(forward.computed, [lin.consts, lin.primalsOut, forward.exposed], firstNew);
    const value = lin.primalsOut[0]!;
    const aux = options.hasAux ? unflatten(auxDef!, lin.primalsOut.slice(1)) : undefined;
    const one = onesLike(value.aval);
    // The pullback runs once: residuals the forward pass made can be freed at their last use,
    // except those that are also results (the value, or anything in aux) and those user code holds
    // as plain arrays (a mask that is a residual may also be read by a customVjp bwd's closure).
    const survivors = new Set<tf.Tensor>();
    collectTensors([value, aux, forward?.exposed], survivors);
    const grads = pullbackFlat(lin, leaves, { consumable: (t) => createdByCall(t, firstNew) && !survivors.has(t) })([one, ...lin.primalsOut.slice(1).map(() => null)]);
    const gradTree = unflatten<unknown[]>(def, grads);
    return freshResults([value, single ? gradTree[0] : gradTree, aux] as [unknown, unknown, unknown], args, firstNew, op);
  }, ([v, g, aux]) => [keepValue ? v : null, g, aux]);
}

/**
 * `grad(f)` is a function returning the gradient of the scalar `f` with respect to its first
 * argument (or `argnums`), as a tree of the same structure as that argument.
 */
export function grad<F extends WithAux, const O extends GradOptions & { hasAux: true }>(f: F & Known<[Parameters<F>, AuxOf<F>]>, options: O): (...args: Parameters<F>) => [GradOf<F, ArgnumsOf<O>>, ArraysOf<AuxOf<F>>];
export function grad<F extends AnyFn, const O extends GradOptions & { hasAux?: false } = {}>(f: F & Known<Parameters<F>>, options?: O): (...args: Parameters<F>) => GradOf<F, ArgnumsOf<O>>;
/** In generic code (argument types with type parameters): the gradient typed as the argument. */
export function grad<F extends WithAux, const O extends GradOptions & { hasAux: true }>(f: F, options: O): (...args: Parameters<F>) => [ArgsGradOf<F, ArgnumsOf<O>>, AuxOf<F>];
export function grad<F extends AnyFn, const O extends GradOptions & { hasAux?: false } = {}>(f: F, options?: O): (...args: Parameters<F>) => ArgsGradOf<F, ArgnumsOf<O>>;
/** With `hasAux` known only at run time: the gradient, or `[gradient, aux]`. */
export function grad<F extends AnyFn>(f: F, options: GradOptions): (...args: Parameters<F>) => unknown;
export function grad(f: AnyFn, options: GradOptions = {}) {
  checkOptions('grad', options, GRAD_OPTIONS);
  return (...args: unknown[]) => {
    const [, g, aux] = valueAndGradImpl('grad', f, options, args, false);
    return options.hasAux ? [g, aux] : g;
  };
}

/** Like `grad`, but returns `[value, gradient]` (with hasAux: `[[value, aux], gradient]`). */
export function valueAndGrad<F extends WithAux, const O extends GradOptions & { hasAux: true }>(f: F & Known<[Parameters<F>, AuxOf<F>]>, options: O): (...args: Parameters<F>) => [[NDArray, ArraysOf<AuxOf<F>>], GradOf<F, ArgnumsOf<O>>];
export function valueAndGrad<F extends AnyFn, const O extends GradOptions & { hasAux?: false } = {}>(f: F & Known<Parameters<F>>, options?: O): (...args: Parameters<F>) => [NDArray, GradOf<F, ArgnumsOf<O>>];
/** In generic code (argument types with type parameters): the gradient typed as the argument. */
export function valueAndGrad<F extends WithAux, const O extends GradOptions & { hasAux: true }>(f: F, options: O): (...args: Parameters<F>) => [[NDArray, AuxOf<F>], ArgsGradOf<F, ArgnumsOf<O>>];
export function valueAndGrad<F extends AnyFn, const O extends GradOptions & { hasAux?: false } = {}>(f: F, options?: O): (...args: Parameters<F>) => [NDArray, ArgsGradOf<F, ArgnumsOf<O>>];
/** With `hasAux` known only at run time. */
export function valueAndGrad<F extends AnyFn>(f: F, options: GradOptions): (...args: Parameters<F>) => [unknown, unknown];
export function valueAndGrad(f: AnyFn, options: GradOptions = {}) {
  checkOptions('valueAndGrad', options, GRAD_OPTIONS);
  return (...args: unknown[]) => {
    const [v, g, aux] = valueAndGradImpl('valueAndGrad', f, options, args, true);
    return options.hasAux ? [[v, aux], g] : [v, g];
  };
}

/** The linear map returned by `linearize`. */
export interface LinearMap<Out, Args extends unknown[] = unknown[]> {
  /** The JVP along `tangents` (one per argument, of the primals' structure). */
  (...tangents: Args): Out;
  /** Frees the stored residuals now (otherwise they live as long as the enclosing gradus scope). */
  dispose(): void;
}

/**
 * `linearize(f, ...primals)` -> `[f(...primals), fLin]` where `fLin(...tangents)` is the JVP at
 * `primals`, evaluated from a stored linear program (cheap to call many times).
 */
export function linearize<Args extends unknown[], Out = NDArray>(f: ((...args: Args) => Out) & Known<Out>, ...primals: Args): [ArraysOf<Out>, LinearMap<ArraysOf<Out>, Args>];
/** In generic code (an output type with type parameters): the results typed as f's output. */
export function linearize<Args extends unknown[], Out = NDArray>(f: (...args: Args) => Out, ...primals: Args): [Out, LinearMap<Out, Args>];
/** Primals not typed as f's parameters: numbers for arrays, a list built at run time (whose entries are like some argument). */
export function linearize<Args extends unknown[], Out = NDArray>(f: (...args: Args) => Out, ...primals: ArrayLikes<Args[number]>[]): [ArraysOf<Out>, LinearMap<ArraysOf<Out>>];
export function linearize<Args extends unknown[], Out = NDArray>(f: (...args: Args) => Out, ...primals: Args): [ArraysOf<Out>, LinearMap<ArraysOf<Out>, Args>] {
  let outDef: TreeDef | undefined;
  let argDef: TreeDef | undefined;
  let argLeaves: NDArray[] = [];
  const firstNewId = nextTensorId();
  const [out, lin] = scoped(
    () => {
      const [leaves, def] = flattenArrays('linearize', primals, 'argument');
      refuseFreedLeaves('linearize', primals, leaves, 'argument');
      argDef = def;
      argLeaves = leaves;
      const l = linearizeFlat((xs) => {
        const out = f(...unflatten<Args>(def, xs));
        const [outLeaves, od] = flattenArrays('linearize', out, 'output');
        refuseFreedLeaves('linearize', out, outLeaves, 'output');
        outDef = od;
        return outLeaves;
      }, leaves);
      return [freshResults(unflatten<ArraysOf<Out>>(outDef!, l.primalsOut), [primals, l.consts], firstNewId, 'linearize'), l] as const;
    },
    ([o, l]) => [o, l.consts],
  );
  let disposed = false;
  const fLin = ((...tangents: unknown[]): ArraysOf<Out> => {
    const firstNew = nextTensorId();
    return scoped(() => {
      if (disposed) throw new TransformError('linearize: this linear map was disposed');
      const [ts, tdef] = flattenArrays('linearize', tangents, 'tangent');
      refuseFreedLeaves('linearize', tangents, ts, 'tangent');
      if (!tdef.equals(argDef!)) throw new TransformError(`linearize: tangents have structure ${tdef} but the primals have ${argDef}`);
      const raw = tree.leaves(tangents);
      ts.forEach((t, i) => {
        const want = argLeaves[i]!.aval;
        t = ts[i] = weaklyTyped(raw[i], t, want.dtype); // 3 is a float32 tangent for a float32 primal
        if (t.shape.join() !== want.shape.join()) {
          throw new TransformError(`linearize: tangent ${i} is ${t.aval.str()} but its primal is ${want.str()}; expected the same shape and dtype${leafWhere(tangents, i, 'the tangents')}`);
        }
        checkTangentDtype('linearize', i, argLeaves[i]!, t, raw[i], () => leafWhere(tangents, i, 'the tangents'));
      });
      const outs = evalJaxpr(lin.jaxpr, [...lin.consts, ...ts.filter((_, i) => lin.differentiable[i])]);
      return freshResults(unflatten<ArraysOf<Out>>(outDef!, outs), [tangents, lin.consts], firstNew, 'linearize');
    });
  }) as unknown as LinearMap<ArraysOf<Out>, Args>;
  fLin.dispose = () => {
    disposed = true;
    disposeMadeSince(lin.consts, [out, argLeaves], firstNewId);
  };
  return [out, fLin];
}

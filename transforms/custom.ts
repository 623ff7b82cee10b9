// User-defined derivative rules with JAX's semantics: customJvp(f, jvpRule) and
// customVjp(f, fwd, bwd). The function is traced to a program and bound as one primitive, whose
// JVP / batching / transpose rules call the user's rules.
import { NDArray } from '../src/array.js';
import { bind } from '../src/core.js';
import { ShapeError, TransformError, TreeError } from '../src/errors.js';
import type { CustomBwd, CustomFwd, CustomJvpRule } from '../src/primitives.js';
import { scoped } from '../src/scope.js';
import * as tree from '../src/tree.js';
import { flattenArrays, flattenWithStaticLeaves, leafArray, leafWhere, unflatten, weaklyTyped, type Known, type TreeDef, type WithArrayOutputs } from './api_util.js';
import { traceToJaxpr } from './jaxpr_trace.js';
import { zeros } from './lax.js';

type AnyFn = (...args: never[]) => unknown;

function traceFlat(f: AnyFn, leaves: NDArray[], rebuild: (xs: readonly unknown[]) => unknown) {
  let outDef: TreeDef | undefined;
  const program = traceToJaxpr((xs) => {
    const [outs, def] = flattenArrays('custom rule', f(...(rebuild(xs) as never[])), 'output');
    outDef = def;
    return outs;
  }, leaves.map((l) => l.aval));
  return { ...program, outDef: outDef! };
}

/**
 * `customJvp(f, rule)`: `f` with a user-supplied forward derivative. `rule(primals, tangents)`
 * receives the argument lists and returns `[f(...primals), tangentOut]` (trees like f's output).
 * Reverse mode works too: the rule is linear in the tangents, so it is transposed.
 */
export function customJvp<F extends AnyFn>(f: F & Known<ReturnType<F>>, rule: (primals: Parameters<F>, tangents: Parameters<F>) => [ReturnType<F>, ReturnType<F>]): WithArrayOutputs<F>;
/** In generic code (an output type with type parameters): f's own type. */
export function customJvp<F extends AnyFn>(f: F, rule: (primals: Parameters<F>, tangents: Parameters<F>) => [ReturnType<F>, ReturnType<F>]): F;
export function customJvp<F extends AnyFn>(f: F, rule: (primals: Parameters<F>, tangents: Parameters<F>) => [ReturnType<F>, ReturnType<F>]): F {
  const name = f.name || 'customJvp';
  // A scope, as under jit: arrays made from JS numbers among the arguments are freed after the call.
  return ((...args: Parameters<F>) => scoped(() => {
    // Booleans and strings (flags) stay JS values, as under jit; the rule sees them in both lists.
    const { arrays: leaves, rebuild } = flattenWithStaticLeaves(`customJvp(${name})`, args);
    const { jaxpr, consts, outDef } = traceFlat(f, leaves, rebuild);
    const jvp: CustomJvpRule = (ps, ts) => {
      const result: unknown = rule(rebuild(ps) as Parameters<F>, rebuild(ts) as Parameters<F>);
      if (!Array.isArray(result) || result.length !== 2) throw new TransformError(`customJvp(${name}): the rule must return [primal output, tangent output]`);
      const [po, to] = result as [unknown, unknown];
      const [pl, pdef] = flattenArrays(`customJvp(${name}) rule`, po, 'primal output');
      const [tl, tdef] = flattenArrays(`customJvp(${name}) rule`, to, 'tangent output');
      // The primal output stands for f's: a different structure, dtype or shape would change the
      // result with the transformation around f (an int primal made jacfwd all zeros).
      if (!pdef.equals(outDef)) throw new TransformError(`customJvp(${name}): the rule's primal output has structure ${pdef}, expected ${outDef} (like f's output)`);
      const rawPrimals = tree.leaves(po);
      pl.forEach((p, k) => {
        const want = jaxpr.outAvals[k]!;
        p = pl[k] = weaklyTyped(rawPrimals[k], p, want.dtype);
        if (p.dtype !== want.dtype || p.shape.join() !== want.shape.join()) {
          throw new TransformError(`customJvp(${name}): the rule's primal output ${k} is ${p.aval.str()}; expected ${want.str()} (f's output)${leafWhere(po, k, "the rule's primal output")}`);
        }
      });
      if (!tdef.equals(outDef)) throw new TransformError(`customJvp(${name}): the rule's tangent output has structure ${tdef}, expected ${outDef} (like f's output)`);
      const rawTangents = tree.leaves(to);
      tl.forEach((t, k) => {
        const want = pl[k]!.aval;
        t = tl[k] = weaklyTyped(rawTangents[k], t, want.dtype); // 0 is a float32 tangent for a float32 output
        // (A float tangent of an int output is wrong too, but int outputs carry no derivative: only float outputs are checked.)
        if (want.dtype === 'float32' && (t.dtype !== 'float32' || t.shape.join() !== want.shape.join())) {
          throw new TransformError(`customJvp(${name}): the rule's tangent output ${k} has shape and dtype ${t.aval.str()}; expected ${want.str()} (like the primal output)${leafWhere(to, k, "the rule's tangent output")}`);
        }
      });
      return [pl, tl];
    };
    const outs = bind('custom_jvp_call', [...consts, ...leaves], { jaxpr, numConsts: consts.length, jvp, name });
    return unflatten(outDef, outs);
  })) as F;
}

/**
 * A cotangent for a value of type T: T itself, with null (a zero cotangent, as JAX's None) in place
 * of the whole value or of any subtree of it.
 */
export type Cotangent<T> =
  | T
  | null
  | (T extends NDArray | string | number | boolean | bigint | symbol | AnyFn | null | undefined ? never : T extends object ? { [K in keyof T]: Cotangent<T[K]> } : never);

/** One cotangent per argument, of the argument's type, with null for a zero cotangent (of the argument or of any subtree). */
export type CotangentsOf<Args extends readonly unknown[]> = { -readonly [K in keyof Args]: Cotangent<Args[K]> };

/**
 * `customVjp(f, fwd, bwd)`: `f` with a user-supplied reverse derivative. `fwd(...args)` returns
 * `[f(...args), residuals]` (residuals: any pytree of arrays); `bwd(residuals, cotangent)` returns
 * one cotangent per argument (an array of trees; null for a zero cotangent, of a whole argument or
 * of any subtree of one, as JAX's None).
 */
export function customVjp<F extends AnyFn, R>(
  f: F & Known<ReturnType<F>>,
  fwd: (...args: Parameters<F>) => [ReturnType<F>, R],
  bwd: (residuals: R, cotangent: ReturnType<F>) => CotangentsOf<Parameters<F>> | Cotangent<Parameters<F>[number]>[],
): WithArrayOutputs<F>;
/** In generic code (an output type with type parameters): f's own type. */
export function customVjp<F extends AnyFn, R>(
  f: F,
  fwd: (...args: Parameters<F>) => [ReturnType<F>, R],
  bwd: (residuals: R, cotangent: ReturnType<F>) => CotangentsOf<Parameters<F>> | Cotangent<Parameters<F>[number]>[],
): F;
export function customVjp<F extends AnyFn, R>(
  f: F,
  fwd: (...args: Parameters<F>) => [ReturnType<F>, R],
  bwd: (residuals: R, cotangent: ReturnType<F>) => CotangentsOf<Parameters<F>> | Cotangent<Parameters<F>[number]>[],
): F {
  const name = f.name || 'customVjp';
  return ((...args: Parameters<F>) => scoped(() => {
    const { arrays: leaves, rebuild } = flattenWithStaticLeaves(`customVjp(${name})`, args);
    const { jaxpr, consts, outDef } = traceFlat(f, leaves, rebuild);
    let rebuildResiduals: ((xs: readonly unknown[]) => unknown) | undefined;
    const fwdFlat: CustomFwd = (ps) => {
      const result = fwd(...(rebuild(ps) as Parameters<F>));
      if (!Array.isArray(result) || result.length !== 2) throw new TransformError(`customVjp(${name}): fwd must return [output, residuals]`);
      const [ol, odef] = flattenArrays(`customVjp(${name}) fwd`, result[0], 'output');
      if (!odef.equals(outDef)) throw new TransformError(`customVjp(${name}): fwd's output has structure ${odef}, expected ${outDef} (like f's output)`);
      ol.forEach((o, k) => {
        const want = jaxpr.outs[k]!.aval;
        if (o.shape.join() !== want.shape.join() || o.dtype !== want.dtype) {
          throw new ShapeError(`customVjp(${name}): fwd's output ${k} is ${o.aval.str()} but f's is ${want.str()}; expected fwd to return f's output first${leafWhere(result[0], k, "fwd's output")}`);
        }
      });
      // Residuals may hold flags too (booleans, strings): bwd gets them back as they were.
      const r = flattenWithStaticLeaves(`customVjp(${name}) fwd`, result[1], 'residual');
      rebuildResiduals = r.rebuild;
      return [ol, r.arrays];
    };
    const argTrees = rebuild(leaves) as unknown[];
    const bwdFlat: CustomBwd = (res, cts) => {
      const out = bwd(rebuildResiduals!(res) as R, unflatten<ReturnType<F>>(outDef, cts));
      if (!Array.isArray(out) || out.length !== args.length) {
        throw new TransformError(`customVjp(${name}): bwd must return an array with one cotangent per argument (${args.length}), got ${Array.isArray(out) ? out.length : typeof out}`);
      }
      return out.flatMap((ct, i) => {
        const [argLeaves] = tree.flatten(argTrees[i]);
        // Static leaves (booleans, strings) have no cotangent: whatever bwd puts there is ignored.
        const isArray = argLeaves.map((l) => l instanceof NDArray);
        if (ct === null || ct === undefined) return argLeaves.flatMap((l, k) => (isArray[k] ? [zeros((l as NDArray).aval)] : []));
        const filled = zeroNullSubtrees(name, i, ct, argTrees[i]);
        const [withPaths, cdef] = tree.flattenWithPath(filled);
        if (!cdef.equals(tree.structure(argTrees[i]))) throw structureMismatch(name, i, ct, argTrees[i]);
        return withPaths.flatMap(([path, leaf], k) => {
          if (!isArray[k]) return [];
          let c = leafArray(`customVjp(${name}) bwd`, path, leaf, 'cotangent');
          const want = (argLeaves[k] as NDArray).aval;
          c = weaklyTyped(leaf, c, want.dtype);
          // Named by the leaf's path inside the argument (a flat leaf number means nothing to the user).
          const where = () => leafWhere(filled, k, `argument ${i}`);
          const intHint = want.dtype === 'float32' ? '' : ' (an integer or bool argument has no cotangent: return null for the whole argument, or zeros of its shape)';
          if (c.shape.join() !== want.shape.join()) throw new ShapeError(`customVjp(${name}): bwd's cotangent for argument ${i} has shape ${c.aval.str()}; expected ${want.str()}${where()}${intHint}`);
          if (want.dtype === 'float32' && c.dtype !== 'float32') throw new TransformError(`customVjp(${name}): bwd's cotangent for argument ${i} is ${c.aval.str()}; expected ${want.str()}${where()} (gradients of float arguments are float32)`);
          return [c];
        });
      });
    };
    const outs = bind('custom_vjp_call', [...consts, ...leaves], { jaxpr, numConsts: consts.length, fwd: fwdFlat, bwd: bwdFlat, name });
    return unflatten(outDef, outs);
  })) as F;
}

const nullIsLeaf = tree.withOptions({ isLeaf: (x) => x === null || x === undefined });

/**
 * bwd's cotangent for argument `i` with each null (or undefined) subtree replaced by zeros shaped
 * like the argument there (JAX reads None as a zero subtree). Static leaves under a null stay as the
 * argument has them: they get no cotangent anyway.
 */
function zeroNullSubtrees(name: string, i: number, ct: unknown, arg: unknown): unknown {
  try {
    return nullIsLeaf.map((c: unknown, below: unknown) => (c === null || c === undefined ? tree.map((l: unknown) => (l instanceof NDArray ? zeros(l.aval) : l), below) : c), ct, arg);
  } catch (e) {
    // A container of bwd's where the argument has a leaf, or containers that differ.
    if (e instanceof TreeError) throw structureMismatch(name, i, ct, arg);
    throw e;
  }
}

function structureMismatch(name: string, i: number, ct: unknown, arg: unknown): TransformError {
  return new TransformError(`customVjp(${name}): bwd's cotangent ${i} has structure ${tree.structure(ct)}, expected ${tree.structure(arg)} (like argument ${i}; null stands for a zero subtree)`);
}

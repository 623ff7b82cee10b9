// Jacobians and Hessians: jacfwd = vmap of jvp over the input basis, jacrev = vmap of the
// pullback over the output basis, hessian = jacfwd(jacrev). Any pytree of any-rank arrays in and out.
import type { ArrayLike, NDArray } from '../src/array.js';
import type { TreeMap } from '../src/tree.js';
import { isDifferentiable } from '../src/dtype.js';
import { DTypeError, TransformError } from '../src/errors.js';
import { eye } from '../src/np/convert.js';
import { scoped } from '../src/scope.js';
import { checkOptions, callDifferentiated, flattenArrays, flattenDifferentiated, freshResults, refuseFreedLeaves, nextTensorId, normalizeArgnums, unflatten, type ArraysOf, type TreeDef } from './api_util.js';
import { jvpFlat } from './jvp.js';
import { reshape, transpose } from './lax.js';
import { linearizeFlat, type ArgnumsOf, type AuxOf, type GradOf } from './vjp.js';
import { backwardPass, UndefPrimal } from './transpose.js';
import { vmapFlat } from './vmap.js';
import { bind1 } from '../src/core.js';

export interface JacobianOptions {
  argnums?: number | readonly number[];
  hasAux?: boolean;
}

const JACOBIAN_OPTIONS = ['argnums', 'hasAux'] as const satisfies readonly (keyof JacobianOptions)[];

type AnyFn = (...args: never[]) => unknown;

interface Prepared {
  leaves: NDArray[];
  def: TreeDef;
  single: boolean;
  /** f on flat inputs: [...output leaves, ...aux leaves]. */
  call: (xs: NDArray[]) => NDArray[];
  outDef: () => TreeDef;
  numOut: () => number;
  /** Rebuilds aux from its leaves. */
  aux: (leaves: NDArray[]) => unknown;
}

function prepare(op: string, f: AnyFn, options: JacobianOptions, args: unknown[]): Prepared {
  const { list, single } = normalizeArgnums(op, options.argnums ?? 0, args.length);
  const [leaves, def] = flattenDifferentiated(op, list.map((i) => args[i]), 'argument');
  refuseFreedLeaves(op, list.map((i) => args[i]), leaves, 'argument', list);
  leaves.forEach((x) => {
    if (!isDifferentiable(x.dtype)) throw new DTypeError(`${op}: differentiated inputs must be float32, got ${x.aval.str()}`);
  });
  let outDef: TreeDef | undefined;
  let auxDef: TreeDef | undefined;
  let numOut = 0;
  const call = (xs: NDArray[]): NDArray[] => {
    const r = callDifferentiated(op, f, args, list, def, xs, options.hasAux ?? false);
    outDef = r.outDef;
    auxDef = r.auxDef;
    numOut = r.outLeaves.length;
    return [...r.outLeaves, ...r.auxLeaves];
  };
  return { leaves, def, single, call, outDef: () => outDef!, numOut: () => numOut, aux: (ls) => (auxDef ? unflatten(auxDef, ls) : undefined) };
}

const sizeOf = (x: { shape: number[] }): number => x.shape.reduce((a, b) => a * b, 1);

/** Splits a flat [N] basis vector batch into per-leaf tangents shaped like the inputs. */
function splitBasis(basis: NDArray, like: NDArray[]): NDArray[] {
  let offset = 0;
  return like.map((x) => {
    const n = sizeOf(x);
    const part = bind1('slice', [basis], { start: [offset], limit: [offset + n], strides: [1] });
    offset += n;
    return reshape(part, x.shape);
  });
}

/** Output tree of input trees: jac[out][in] with shape out.shape + in.shape. */
function assemble(p: Prepared, blocks: NDArray[][]): unknown {
  const perOut = blocks.map((row) => {
    const inTree = unflatten<unknown[]>(p.def, row);
    return p.single ? inTree[0] : inTree;
  });
  return unflatten(p.outDef(), perOut);
}

/** f's output with `hasAux` (`[out, aux]`) or without. */
type OutputOf<F extends AnyFn, O> = ArraysOf<O extends { hasAux: true } ? (ReturnType<F> extends readonly [infer Y, unknown] ? Y : never) : ReturnType<F>>;
/**
 * A Jacobian's type: f's output tree with each array replaced by the differentiated argument's
 * tree (a tuple of them for a list of argnums), as in JAX; with `hasAux`, `[jacobian, aux]`.
 */
export type JacobianOf<F extends AnyFn, O> = O extends { hasAux: true }
  ? [TreeMap<OutputOf<F, O>, NDArray, ArgTree<F, O>>, ArraysOf<AuxOf<F>>]
  : TreeMap<OutputOf<F, O>, NDArray, ArgTree<F, O>>;
/** The differentiated argument's tree; an argument typed as any array-like (np's functions take `ArrayLike`) is an array. */
type ArgTree<F extends AnyFn, O> = [ArrayLike] extends [GradOf<F, ArgnumsOf<O>>] ? NDArray : GradOf<F, ArgnumsOf<O>>;
/** A Hessian's type: the Jacobian of the Jacobian, so for a scalar f the argument's tree of argument trees. */
type SecondOrder<F extends AnyFn, O> = TreeMap<OutputOf<F, O>, NDArray, TreeMap<ArgTree<F, O>, NDArray, ArgTree<F, O>>>;
export type HessianOf<F extends AnyFn, O> = O extends { hasAux: true } ? [SecondOrder<F, O>, ArraysOf<AuxOf<F>>] : SecondOrder<F, O>;

/** Jacobian by forward mode: one JVP per input dimension, all at once under vmap. */
export function jacfwd<F extends AnyFn, const O extends JacobianOptions = {}>(f: F, options?: O): (...args: Parameters<F>) => JacobianOf<F, O>;
export function jacfwd(f: AnyFn, options: JacobianOptions = {}): (...args: unknown[]) => unknown {
  checkOptions('jacfwd', options, JACOBIAN_OPTIONS);
  return (...args: unknown[]) => {
    const firstNew = nextTensorId();
    return scoped(() => {
      const p = prepare('jacfwd', f, options, args);
      const n = p.leaves.reduce((a, x) => a + sizeOf(x), 0);
      const basis = eye(n);
      let outShapes: number[][] = [];
      let numOut = 0;
      const results = vmapFlat(
        ([e]) => {
          const [po, to] = jvpFlat(p.call, p.leaves, splitBasis(e!, p.leaves));
          numOut = p.numOut();
          outShapes = po.slice(0, numOut).map((o) => o.shape);
          // Aux comes back as primal values (the same in every row of the batch).
          return [...to.slice(0, numOut), ...po.slice(numOut)];
        },
        [basis],
        [0],
        n,
        (i) => (i < numOut ? -1 : 0),
      ); // each output: [...outShape, n]
      const cols = results.slice(0, numOut);
      // Aux is read off the first row; with no input dimensions there is no row, so f runs once more.
      const auxLeaves = n === 0
        ? p.call(p.leaves).slice(numOut)
        : results.slice(numOut).map((a) => reshape(bind1('slice', [a], { start: a.shape.map(() => 0), limit: [1, ...a.shape.slice(1)], strides: a.shape.map(() => 1) }), a.shape.slice(1)));
      const blocks = cols.map((c, k) => {
        let offset = 0;
        return p.leaves.map((x) => {
          const m = sizeOf(x);
          const s = outShapes[k]!;
          const part = bind1('slice', [c], { start: [...s.map(() => 0), offset], limit: [...s, offset + m], strides: [...s.map(() => 1), 1] });
          offset += m;
          return reshape(part, [...s, ...x.shape]);
        });
      });
      const jac = assemble(p, blocks);
      return freshResults(options.hasAux ? [jac, p.aux(auxLeaves)] : jac, args, firstNew, 'jacfwd');
    });
  };
}

/** Jacobian by reverse mode: one VJP per output dimension, all at once under vmap. */
export function jacrev<F extends AnyFn, const O extends JacobianOptions = {}>(f: F, options?: O): (...args: Parameters<F>) => JacobianOf<F, O>;
export function jacrev(f: AnyFn, options: JacobianOptions = {}): (...args: unknown[]) => unknown {
  checkOptions('jacrev', options, JACOBIAN_OPTIONS);
  return (...args: unknown[]) => {
    const firstNew = nextTensorId();
    return scoped(() => {
      const p = prepare('jacrev', f, options, args);
      const lin = linearizeFlat(p.call, p.leaves);
      const outs = lin.primalsOut.slice(0, p.numOut());
      const auxLeaves = lin.primalsOut.slice(p.numOut());
      const nonFloat = outs.find((o) => !isDifferentiable(o.dtype));
      // As JAX: an integer or boolean output has no cotangent to pull back (its rows would be zeros).
      if (nonFloat !== undefined) throw new TransformError(`jacrev: the function returns ${nonFloat.aval.str()}; expected float32 outputs (use jacfwd, or return the integer value as aux)`);
      const m = outs.reduce((a, o) => a + sizeOf(o), 0);
      const basis = eye(m);
      const rows = vmapFlat(
        ([e]) => {
          const cts = [...splitBasis(e!, outs), ...auxLeaves.map(() => null)];
          const undefs = p.leaves.map((x) => new UndefPrimal(x.aval));
          const r = backwardPass(lin.jaxpr, [...lin.consts, ...undefs], cts).slice(lin.consts.length);
          return r.map((c, i) => c ?? bind1('broadcast_in_dim', [zerosScalar()], { shape: p.leaves[i]!.shape, broadcastDimensions: [] }));
        },
        [basis],
        [0],
        m,
        () => 0,
      ); // per input leaf: [m, ...inShape]
      let offset = 0;
      const blocks = outs.map((o) => {
        const k = sizeOf(o);
        const row = rows.map((r, i) => {
          const part = bind1('slice', [r], { start: [offset, ...r.shape.slice(1).map(() => 0)], limit: [offset + k, ...r.shape.slice(1)], strides: r.shape.map(() => 1) });
          return reshape(part, [...o.shape, ...p.leaves[i]!.shape]);
        });
        offset += k;
        return row;
      });
      const jac = assemble(p, blocks);
      return freshResults(options.hasAux ? [jac, p.aux(auxLeaves)] : jac, args, firstNew, 'jacrev');
    });
  };
}

/** The Hessian: forward-over-reverse, jacfwd(jacrev(f)). */
export function hessian<F extends AnyFn, const O extends JacobianOptions = {}>(f: F, options?: O): (...args: Parameters<F>) => HessianOf<F, O>;
export function hessian(f: AnyFn, options: JacobianOptions = {}): (...args: never[]) => unknown {
  checkOptions('hessian', options, JACOBIAN_OPTIONS);
  return jacfwd(jacrev(f, options), options);
}

import { asArray } from '../src/np/convert.js';
function zerosScalar(): NDArray {
  return asArray(0, 'float32');
}
void transpose;

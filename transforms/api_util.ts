// Shared plumbing for the public transformation APIs: flattening argument pytrees to arrays,
// selecting `argnums`, checking outputs.
import * as tf from '@tensorflow/tfjs-core';
import { NDArray, type ArrayLike } from '../src/array.js';
import { TransformError } from '../src/errors.js';
import { asArray } from '../src/np/convert.js';
import * as tree from '../src/tree.js';
import { refuseFreedLeaves } from '../src/scope.js';
import { upcomingTensorId } from '../src/core.js';
import type { DType } from '../src/dtype.js';
import { convert } from './lax.js';
import { checkOptions as checkOptionNames } from '../src/options.js';

/** Refuses unknown option names (see src/options.ts), as a TransformError. */
export function checkOptions(op: string, options: unknown, known: readonly string[]): void {
  checkOptionNames(op, options, known, TransformError);
}

export type TreeDef = tree.TreeDef;

type TypedArray = Int8Array | Uint8Array | Uint8ClampedArray | Int16Array | Uint16Array | Int32Array | Uint32Array | Float32Array | Float64Array;
/** Leaves that the transformations turn into arrays (`leafArray`): JS numbers and booleans, typed arrays, tf.Tensors. */
type ArrayLikeLeaf = number | boolean | TypedArray | tf.Tensor;
type AnyFunction = (...args: never[]) => unknown;

/**
 * A tree of type T as the transformations hand it back: each array-like leaf (a JS number or
 * boolean, a typed array, a tf.Tensor) is an NDArray, as at run time (`flattenArrays`), and the
 * containers stay. The gradient of `{ w: NDArray; n: number }` is `{ w: NDArray; n: NDArray }`; a
 * tree with no such leaves is T itself (so named types and class types stay as they are); a
 * parameter typed `ArrayLike` (np's functions) is an array. (Types cannot tell a registered class's
 * aux data from its children, so a number field of such a class is an array here too.)
 */
export type ArraysOf<T> = unknown extends T
  ? T
  : [ArrayLike] extends [T]
    ? NDArray
    : [Extract<tree.LeafOf<T>, ArrayLikeLeaf>] extends [never]
      ? T
      : ArraysIn<T>;
type ArraysIn<T> = T extends NDArray
  ? T
  : T extends ArrayLikeLeaf
    ? NDArray
    : T extends null | undefined | string | symbol | AnyFunction
      ? T
      : T extends object
        ? { [K in keyof T]: ArraysIn<T[K]> }
        : T;
/**
 * What the transformations accept for arguments of type T: where T has an array or a number, also a
 * leaf that converts to an array (a number, a boolean, a typed array, a tf.Tensor), as in
 * `jvp(f, [1], [1])`. (Not a nested list: in a tree, a list is a container.)
 */
export type ArrayLikes<T> = T extends NDArray | ArrayLikeLeaf
  ? T | ArrayLikeLeaf
  : T extends null | undefined | string | symbol | AnyFunction
    ? T
    : T extends object
      ? { [K in keyof T]: ArrayLikes<T[K]> }
      : T;
/**
 * `f` as returned by a transformation that rebuilds its outputs (checkpoint, customJvp, customVjp):
 * F itself, unless its output has number or boolean leaves, which come back as arrays (`ArraysOf`).
 */
export type WithArrayOutputs<F extends AnyFunction> = [Extract<tree.LeafOf<ReturnType<F>>, ArrayLikeLeaf>] extends [never]
  ? F
  : (...args: Parameters<F>) => ArraysOf<ReturnType<F>>;
declare const unmatched: unique symbol;
/**
 * `unknown` where T's type is known, and a type that nothing matches while T involves a type
 * parameter (TypeScript leaves conditional types on those unresolved). The transformations' first
 * overloads put it on `f`, so code with known types gets `ArraysOf` results, and generic code
 * (`function train<P>(loss: (p: P) => NDArray, params: P)`) the plain types it can relate to P.
 */
export type Known<T> = [tree.LeafOf<T>] extends [never] ? unknown : [tree.LeafOf<T>] extends [{ readonly [unmatched]: never }] ? never : unknown;

/** One pytree leaf as an array (numbers, booleans, nested lists, typed arrays, tf.Tensors), or an error naming its path. */
export function leafArray(op: string, path: tree.Path, leaf: unknown, what: string): NDArray {
  if (leaf instanceof NDArray) return leaf;
  const typedArray = ArrayBuffer.isView(leaf) && !(leaf instanceof DataView);
  if (typeof leaf === 'number' || typeof leaf === 'boolean' || Array.isArray(leaf) || typedArray || isTensor(leaf)) return asArray(leaf as ArrayLike);
  const kind = leaf === null ? 'null' : typeof leaf === 'object' ? `${(leaf as object).constructor?.name ?? 'prototype-less'} object (not a registered tree node)` : typeof leaf;
  throw new TransformError(
    `${op}: the ${what} leaf at ${tree.keystr(path) || '(root)'} is ${/^[aeiou]/i.test(kind) ? 'an' : 'a'} ${kind}; expected an array, a number, a typed array or a tf.Tensor`,
  );
}

/**
 * ` (the leaf at [0].b[1] of the tangents)`: where flat leaf `i` of `value` sits, for errors that
 * number leaves (leaf numbers follow the sorted keys, so users cannot tell which one is meant).
 */
export function leafWhere(value: unknown, i: number, what: string): string {
  const entry = tree.flattenWithPath(value)[0][i];
  return entry === undefined ? '' : ` (the leaf at ${tree.keystr(entry[0]) || '(root)'} of ${what})`;
}

/** Flattens a pytree whose leaves are array-likes into arrays, naming the path of any bad leaf. */
export function flattenArrays(op: string, value: unknown, what = 'argument'): [NDArray[], TreeDef] {
  const [withPaths, def] = tree.flattenWithPath(value);
  return [withPaths.map(([path, leaf]) => leafArray(op, path, leaf, what)), def];
}

/**
 * flattenArrays for the arguments grad, valueAndGrad and the Jacobians differentiate (their argnums):
 * JS numbers there are float32 (JS cannot write 1.0, and only floats have derivatives: grad(np.sin)(1)
 * is cos 1); arrays keep their dtype, so int arrays are still refused. (vjp, jvp and linearize take
 * every argument, indices and exponents too, so they do not use this: see jvp's flattenNumberPrimals.)
 */
export function flattenDifferentiated(op: string, value: unknown, what = 'argument'): [NDArray[], TreeDef] {
  const [withPaths, def] = tree.flattenWithPath(value);
  return [withPaths.map(([path, leaf]) => (typeof leaf === 'number' ? asArray(leaf, 'float32') : leafArray(op, path, leaf, what))), def];
}

/**
 * Flattens a pytree for `jit`: booleans and strings are static (JS control flow reads them, and an
 * array in their place would always be truthy), so they stay as they are, in `key`; every other
 * leaf becomes an array. `rebuild` puts arrays back among the static leaves.
 */
export function flattenWithStaticLeaves(op: string, value: unknown, what = 'argument'): { arrays: NDArray[]; def: TreeDef; key: string; rebuild: (xs: readonly unknown[]) => unknown } {
  const [withPaths, def] = tree.flattenWithPath(value);
  const isStatic = withPaths.map(([, leaf]) => typeof leaf === 'boolean' || typeof leaf === 'string');
  const arrays = withPaths.flatMap(([path, leaf], i) => (isStatic[i] ? [] : [leafArray(op, path, leaf, what)]));
  const key = withPaths.map(([, leaf], i) => (isStatic[i] ? JSON.stringify(leaf) : '')).join(',');
  const rebuild = (xs: readonly unknown[]): unknown => {
    let k = 0;
    return tree.unflatten(def, withPaths.map(([, leaf], i) => (isStatic[i] ? leaf : xs[k++])));
  };
  return { arrays, def, key, rebuild };
}

export function isTensor(x: unknown): x is tf.Tensor {
  return typeof x === 'object' && x !== null && 'dataId' in x && 'shape' in x;
}

export function unflatten<T = unknown>(def: TreeDef, leaves: readonly unknown[]): T {
  return tree.unflatten(def, leaves) as T;
}

/** Normalises `argnums` (a number or a list, negative allowed) against the number of arguments. */
export function normalizeArgnums(op: string, argnums: number | readonly number[], nargs: number): { list: number[]; single: boolean } {
  const single = typeof argnums === 'number';
  const list = (single ? [argnums] : [...argnums]).map((a) => {
    if (!Number.isInteger(a)) throw new TransformError(`${op}: argnums must be integers (argument positions), got ${typeof a === 'string' ? JSON.stringify(a) : String(a)}`);
    if (a < -nargs || a >= nargs) {
      throw new TransformError(`${op}: argnums ${JSON.stringify(argnums)} is out of range for a function called with ${nargs} argument(s)`);
    }
    return a < 0 ? a + nargs : a;
  });
  if (new Set(list).size !== list.length) throw new TransformError(`${op}: repeated argnums ${JSON.stringify(argnums)}`);
  return { list, single };
}

export function describeAval(x: NDArray): string {
  return x.aval.str();
}

/**
 * A leaf given as a JS value (a number, a list) is weakly typed, as everywhere in np: it takes the
 * dtype of what it stands beside (1 is a float32 cotangent for a float32 argument). Arrays keep theirs.
 */
export function weaklyTyped(raw: unknown, array: NDArray, dtype: DType): NDArray {
  return raw instanceof NDArray || isTensor(raw) || array.dtype === dtype ? array : convert(array, dtype);
}

/** The id the next TF.js tensor will get (tensors are numbered in creation order). */
export const nextTensorId = upcomingTensorId;

// Results owned by the caller (one helper with scope and the top-level np ops).
export { freshResults, refuseFreedLeaves } from '../src/scope.js';

export interface SplitOutputs {
  outLeaves: NDArray[];
  outDef: TreeDef;
  auxLeaves: NDArray[];
  auxDef: TreeDef | undefined;
}

/**
 * Calls `f` with the differentiated arguments (positions `argnums`, as the flat leaves `xs` of
 * tree `def`) substituted into `args`, and splits the result into output and aux leaves.
 */
export function callDifferentiated(op: string, f: (...a: any[]) => unknown, args: readonly unknown[], argnums: readonly number[], def: TreeDef, xs: NDArray[], hasAux: boolean): SplitOutputs {
  const diff = unflatten<unknown[]>(def, xs);
  const callArgs = [...args];
  argnums.forEach((a, k) => (callArgs[a] = diff[k]));
  let out = f(...callArgs);
  let auxLeaves: NDArray[] = [];
  let auxDef: TreeDef | undefined;
  if (hasAux) {
    if (!Array.isArray(out) || out.length !== 2) {
      throw new TransformError(`${op} with hasAux: the function must return [value, aux], got ${Array.isArray(out) ? `an array of length ${out.length}` : typeof out}`);
    }
    [auxLeaves, auxDef] = flattenArrays(op, out[1], 'aux output');
    // Refused here, with its path in aux: found later, in the result, its path would be one in the
    // transformation's internal [value, grad, aux] ("[2].keep"), and jacfwd's would be an internal
    // primitive's operand (broadcast_in_dim) when it batches the aux.
    refuseFreedLeaves(op, out[1], auxLeaves, 'aux output');
    out = out[0];
  }
  const [outLeaves, outDef] = flattenArrays(op, out, 'output');
  refuseFreedLeaves(op, out, outLeaves, 'output');
  return { outLeaves, outDef, auxLeaves, auxDef };
}

// Tree plumbing shared by the gradient transformations: aligning the updates with the state and
// parameter trees (with errors that name the transformation, the tree and the path), leafwise
// arithmetic, scoping update bodies so their intermediates are freed, and freeing replaced trees.
import * as tf from '@tensorflow/tfjs-core';
import { ConcreteArray, NDArray } from '../src/array.js';
import { GradusError, fmtShape, withArticle } from '../src/errors.js';
import * as np from '../src/np/index.js';
import { dispose, scoped } from '../src/scope.js';
import * as tree from '../src/tree.js';
import type { TreeDef } from '../src/tree.js';

/** Errors raised by `optim`: bad hyperparameters, mismatched trees, missing parameters. */
export class OptimError extends GradusError {}

/** A tree leaf as the optimizers see it: an array (a JS number is an error naming its path: parameters must be arrays). */
export type Leaf = NDArray;

/** Checks that every leaf of `t` is an array, naming the first that is not. */
export function expectArrayLeaves(op: string, t: unknown, what = 'parameter'): NDArray[] {
  const [pairs] = tree.flattenWithPath(t);
  return pairs.map(([path, leaf]) => {
    if (leaf instanceof NDArray) return leaf;
    const got = typeof leaf === 'number' ? `the number ${leaf}` : leaf === undefined ? 'undefined' : typeof leaf === 'object' && leaf !== null ? describe(leaf) : `a ${typeof leaf}`;
    throw new OptimError(`${op}: the ${what} at ${path.length ? tree.keystr(path) : '(root)'} is ${got}; expected an array (e.g. np.array(${typeof leaf === 'number' ? leaf : 'value'}, 'float32'))`);
  });
}

/** A tree like `params` (whose leaves must be arrays) with `make(shape)` at every leaf. */
export function paramsLike(op: string, params: unknown, make: (shape: number[]) => NDArray): unknown {
  expectArrayLeaves(op, params);
  return tree.map((p: NDArray) => make(p.shape), params as never);
}

/** A hyperparameter: a JS number, or an array (e.g. injected by `injectHyperparams`). */
export type Scalar = number | NDArray;

/**
 * Runs an `init`/`update` body in a gradus scope: everything it creates is freed except the arrays
 * in its result. Keeps by tree leaves, so arrays inside registered custom nodes survive too.
 */
export function scopedUpdate<T>(fn: () => T): T {
  return scoped(fn, (r) => tree.leaves(r));
}

function shapeOf(x: unknown): number[] {
  return x instanceof NDArray ? x.shape : [];
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** The keystr path of leaf `i` of `t` (only computed for error messages). */
export function leafPath(t: unknown, i: number): string {
  const [pairs] = tree.flattenWithPath(t);
  const p = pairs[i]?.[0] ?? [];
  return p.length === 0 ? '(root)' : tree.keystr(p);
}

const verb = (name: string) => (name.endsWith('s') ? 'have' : 'has');

/** One tree to walk along the updates: its name for errors, whether its leaves may be null, whether shapes must match. */
export interface Along {
  readonly name: string;
  readonly tree: unknown;
  readonly nullable?: boolean;
  readonly shapes?: boolean;
}

/**
 * Flattens `main` (the updates) and the other trees along its structure. Every other tree must have
 * the same structure (leaves at the same paths, `null` nodes where `main` has them) and, unless told
 * otherwise, leaves of the same shapes. Errors name `op`, the tree and the first offending path.
 */
export function align(op: string, main: unknown, others: readonly Along[] = [], mainName = 'the updates'): { def: TreeDef; leaves: Leaf[]; rest: unknown[][] } {
  const [leaves, def] = tree.flatten(main);
  if (leaves.some((l) => !(l instanceof NDArray))) expectArrayLeaves(op, main, mainName === 'the updates' ? 'update' : 'parameter');
  const rest = others.map((o) => {
    let flat: unknown[];
    try {
      flat = tree.flattenUpTo(def, o.tree);
    } catch (e) {
      // Name the two trees in tree's "expected X but got Y" (X is the main tree's node, Y the other's).
      const msg = (e as Error).message
        .replace(/^tree\.\w+: /, '')
        .replace(/: expected (.*) but got (.*)$/s, (_, want: string, got: string) => `: ${mainName} ${verb(mainName)} ${want} but ${o.name} ${verb(o.name)} ${got}`);
      throw new OptimError(`${op}: ${o.name} and ${mainName} differ in structure: ${msg}`);
    }
    for (let i = 0; i < flat.length; i++) {
      const x = flat[i];
      if (x === null && o.nullable) continue;
      if (!(x instanceof NDArray) && typeof x !== 'number') {
        const got = x === null || x === undefined ? String(x) : tree.structure(x).toString();
        throw new OptimError(`${op}: ${o.name} and ${mainName} differ in structure: at ${leafPath(main, i)} expected an array but got ${got.slice(0, 120)}`);
      }
      if (o.shapes !== false && !sameShape(shapeOf(x), shapeOf(leaves[i]))) {
        throw new OptimError(
          `${op}: ${o.name} ${verb(o.name)} shape ${fmtShape(shapeOf(x))} at ${leafPath(main, i)} but ${mainName} there ${verb(mainName)} shape ${fmtShape(shapeOf(leaves[i]))}`,
        );
      }
    }
    return flat;
  });
  return { def, leaves: leaves as Leaf[], rest };
}

/**
 * `tree.map` over the updates and trees aligned with them (see `align`): `f(u, ...others)` per leaf.
 * `null` nodes (masked-out leaves) are kept as they are.
 */
export function mapAligned<R = NDArray>(op: string, f: (u: Leaf, ...others: never[]) => R, main: unknown, others: readonly Along[] = []): unknown {
  const { def, leaves, rest } = align(op, main, others);
  const out = leaves.map((u, i) => (f as (...xs: unknown[]) => R)(u, ...rest.map((r) => r[i])));
  return tree.unflatten(def, out);
}

/** The parameters, or an error saying that this transformation needs them. */
export function requireParams<P>(op: string, params: P | undefined): P {
  if (params === undefined || params === null) {
    throw new OptimError(`${op}: needs the parameters: call update(updates, state, params)`);
  }
  return params;
}

/** Checks that a state object has the fields a transformation stores (a state from another optimizer, or none, fails here). */
export function expectState<S>(op: string, state: S, keys: readonly string[]): S {
  if (typeof state !== 'object' || state === null || Array.isArray(state)) {
    throw new OptimError(`${op}: expected the state made by this transformation's init() (an object with ${keys.join(', ')}), got ${describe(state)}`);
  }
  const missing = keys.filter((k) => !(k in (state as object)));
  if (missing.length > 0) {
    throw new OptimError(
      `${op}: the state is missing ${missing.join(', ')} (it has ${Object.keys(state as object).join(', ') || 'no fields'}); pass the state made by this transformation's init()`,
    );
  }
  return state;
}

export function describe(x: unknown): string {
  if (x === null || x === undefined) return String(x);
  if (Array.isArray(x)) return `an array of length ${x.length}`;
  if (x instanceof NDArray) return `an array ${fmtShape(x.shape)}`;
  if (typeof x === 'function') return `a function${x.name ? ` (${x.name})` : ''}`;
  if (typeof x === 'object') {
    // A class instance (a typed array, a Map, a model) by its class; plain objects by their keys.
    const cls = (Object.getPrototypeOf(x) as { constructor?: { name?: string } } | null)?.constructor?.name;
    if (cls !== undefined && cls !== '' && cls !== 'Object') return withArticle(cls);
    return `an object with keys ${Object.keys(x).join(', ') || '(none)'}`;
  }
  return typeof x;
}

/**
 * Checks that `t` is a gradient transformation (an object with init and update), so that a wrapper
 * given something else fails when it is built, naming itself, rather than with a TypeError at init.
 * An uncalled factory (`lookahead(adam)`) is the usual slip; the message says so.
 */
export function expectTransformation(op: string, what: string, t: unknown): void {
  const o = t as { init?: unknown; update?: unknown } | null | undefined;
  if (typeof o?.init === 'function' && typeof o?.update === 'function') return;
  const hint = typeof t === 'function' ? `; an optimizer factory? call it first, e.g. ${t.name || 'adam'}(...)` : '';
  throw new OptimError(`${op}: ${what} is ${describe(t)}${hint}, not a gradient transformation (an object with init and update)`);
}

/** Zeros shaped like every leaf of `t` (null nodes stay null). */
export function zerosLikeTree<T>(t: T): T {
  return tree.map((x: NDArray) => np.zerosLike(x, 'float32'), t as never) as T;
}

/** A copy of every leaf (so a state never shares arrays with the parameters the caller may free). */
export function copyTree<T>(t: T): T {
  return tree.map((x: NDArray) => np.add(x, 0), t as never) as T;
}

/** Σ of squares of all leaves, as a 0-d array. */
export function sumOfSquares(leaves: readonly NDArray[]): NDArray {
  let total: NDArray = np.zeros([]);
  for (const x of leaves) total = np.add(total, np.sum(np.square(x)));
  return total;
}

/** The global L2 norm of a tree: sqrt of the sum of squares of all its leaves. */
export function globalNorm(t: unknown): NDArray {
  return scopedUpdate(() => np.sqrt(sumOfSquares(tree.leaves(t) as NDArray[])));
}

/**
 * mean(x²) as a 0-d array. Large matrices go through a matrix–vector product, which TF.js's wasm
 * backend vectorises (its sum kernel does not).
 */
export function meanSquare(x: NDArray): NDArray {
  if (x.ndim === 2 && x.size >= 1 << 16) {
    const n = x.shape[1]!;
    return np.divide(np.sum(np.matmul(np.square(x), np.ones([n, 1]))), x.size);
  }
  return np.mean(np.square(x));
}

/** RMS of one array, sqrt(mean(x²)), as a 0-d array. */
export function rms(x: NDArray): NDArray {
  return np.sqrt(meanSquare(x));
}

/** `1 - b` for a hyperparameter (kept a JS number when it is one). */
export function oneMinus(b: Scalar): Scalar {
  return typeof b === 'number' ? 1 - b : np.subtract(1, b);
}

/** `-x` for a hyperparameter. */
export function negate(x: Scalar): Scalar {
  return typeof x === 'number' ? -x : np.negative(x);
}

/**
 * 1 − bᵗ for a decay b and a float step t. For a number b this is −expm1(t·ln b) with ln b taken
 * in double precision: float32's 1 − b^t loses most digits when b is near 1 (b = 0.999 gives a
 * 1e-5 relative error in Adam's first steps).
 */
export function oneMinusPow(b: Scalar, t: NDArray): NDArray {
  if (typeof b !== 'number') return np.subtract(1, np.power(b, t));
  if (b === 0) return np.onesLike(t);
  return np.negative(np.expm1(np.multiply(t, Math.log(b))));
}

/** A 0-d int32 counter at 0. */
export function zeroCount(): NDArray {
  return np.zeros([], 'int32');
}

const INT32_MAX = 2 ** 31 - 1;

/**
 * counter + 1, saturating at 2³¹ − 1 (Optax's `safe_increment`): a wrapped counter would turn
 * negative, and Adam's bias correction at t = −2³¹ silently makes every update zero.
 */
export function increment(count: NDArray): NDArray {
  return np.where(np.less(count, INT32_MAX), np.add(count, 1), count);
}

/** The counter as float32 (for powers and schedules). */
export function asFloat(count: NDArray | number): NDArray {
  return np.astype(count, 'float32');
}

/** Number of elements held by the arrays of a tree (e.g. an optimizer state's size in floats). */
export function treeSize(t: unknown): number {
  return tree.leaves(t).reduce((acc: number, x) => acc + (x instanceof NDArray ? x.size : 0), 0);
}

/**
 * Frees every array in `victims` that is not also in `keep` (by identity). Walks registered tree
 * nodes too. Use it to drop replaced parameters and states: old and new trees may share leaves.
 * (It is gradus's `dispose`, which also spares constants of a program being traced.)
 */
export function freeTree(victims: unknown, keep: unknown = undefined): void {
  dispose(victims, { keep });
}

// Pytrees, as in JAX: nested containers whose leaves the transformations act on.
//
// Nodes are plain objects (prototype Object.prototype or null; flattened in sorted key order, as JAX
// sorts dict keys), exact JS arrays (index order), `null`/`undefined` (empty nodes: no leaves, but they
// keep their place) and instances of classes registered with `register`. Everything else is a leaf:
// numbers, booleans, strings, functions, and instances of unregistered classes (gradus arrays, tf
// tensors, typed arrays, Array subclasses). Symbol keys and non-index properties of arrays are ignored.
//
// Paths are arrays of keys: a string names an object property (or a custom node's attribute), a number
// an array index (or a custom node's child). `keystr` writes them as `.layers[0]['weird key']`:
// identifiers after a dot, indices as bare integers, any other string as a single-quoted JS string.
// `parseKeystr` reads that back, so `'0'` (a key) and `0` (an index) stay distinct.
//
// Options (`isLeaf`, JAX's is_leaf) are a trailing argument of the non-variadic functions. `map` and
// `mapWithPath` take any number of trees, so their options live on `withOptions({ isLeaf })`, which
// returns the same operations bound to those options: `withOptions({ isLeaf }).map(f, a, b)`.
import { Immer, freeze } from 'immer';
import type { NDArray } from './array.js';
import { TreeError, ValueError } from './errors.js';

export type PathKey = string | number;
export type Path = readonly PathKey[];

export interface FlattenOptions {
  /** Called on every subtree first; `true` makes it a leaf (stops recursion), e.g. `x => x === null`. */
  readonly isLeaf?: (x: unknown) => boolean;
}

/** How a registered class flattens: `keys` names the children for paths (default: their indices). */
export interface NodeSpec<T, Aux = unknown> {
  flatten(x: T): readonly [children: readonly unknown[], aux: Aux];
  unflatten(aux: Aux, children: unknown[]): T;
  keys?(x: T, aux: Aux): Path;
}

// ---------------------------------------------------------------------------------------------
// Type-level helpers. The runtime cannot be mirrored exactly (a type cannot tell a class instance
// from a plain object), so types listed in `LeafTypes` are leaves: gradus's arrays, and whatever a
// user adds by declaration merging.

/** Types that the type-level helpers treat as leaves; extend by declaration merging. */
export interface LeafTypes {
  ndarray: NDArray;
}
type KnownLeaf = LeafTypes[keyof LeafTypes];
type Primitive = string | number | boolean | bigint | symbol;
type AnyFunction = (...args: never[]) => unknown;

/** The union of leaf types of a tree type (searched 10 levels deep, so recursive types work). */
export type LeafOf<T> = LeafOfAt<T, []>;
type LeafOfAt<T, D extends unknown[]> = D['length'] extends 10
  ? never
  : T extends null | undefined
    ? never
    : T extends KnownLeaf | Primitive | AnyFunction
      ? T
      : T extends readonly (infer E)[]
        ? LeafOfAt<E, [...D, 0]>
        : T extends object
          ? { [K in keyof T]-?: LeafOfAt<T[K], [...D, 0]> }[keyof T]
          : T;

/**
 * The union of the subtrees of R found at the leaf positions of T (R's structure has T's as a
 * prefix): what `map` passes for a tree after the first. Where R has T's structure, R's leaf types.
 */
export type SubtreeAt<T, R> = SubtreeAtDepth<T, R, []>;
type SubtreeAtDepth<T, R, D extends unknown[]> = D['length'] extends 10
  ? unknown
  : T extends null | undefined
    ? never
    : T extends KnownLeaf | Primitive | AnyFunction
      ? R
      : T extends readonly (infer E)[]
        ? R extends readonly (infer F)[]
          ? SubtreeAtDepth<E, F, [...D, 0]>
          : unknown
        : T extends object
          ? { [K in keyof T]-?: K extends keyof R ? SubtreeAtDepth<T[K], R[K], [...D, 0]> : unknown }[keyof T]
          : R;

type SubtreeTuple<T, Rest extends unknown[]> = { [K in keyof Rest]: SubtreeAt<T, Rest[K]> };

/** The type of `map(f, tree)` where `f: (leaf: L) => R`: same containers, leaves replaced by R. */
export type TreeMap<T, L, R> = T extends null | undefined
  ? T
  : [unknown] extends [L]
    ? StructMap<T, L, R>
    : T extends L
      ? R
      : StructMap<T, L, R>;
type StructMap<T, L, R> = T extends KnownLeaf | Primitive | AnyFunction
  ? R
  : T extends object
    ? { [K in keyof T]: TreeMap<T[K], L, R> }
    : R;

/**
 * A tree with T's containers and anything (a leaf or a whole subtree) at T's leaves: what `map`
 * requires of the trees after the first, JAX's "T is a prefix of it". (Not distributive over T, so
 * that in generic code a tree of type T itself is one.)
 */
export type StructureOf<T> = [T] extends [null | undefined]
  ? T
  : [T] extends [KnownLeaf | Primitive | AnyFunction]
    ? unknown
    : [T] extends [object]
      ? { readonly [K in keyof T]: StructureOf<T[K]> }
      : unknown;

/** A tree of the same shape as T whose leaves may also be null (the halves of `partition`). */
export type NullableLeaves<T> = T extends null | undefined
  ? T
  : T extends KnownLeaf | Primitive | AnyFunction
    ? T | null
    : T extends object
      ? { [K in keyof T]: NullableLeaves<T[K]> }
      : T | null;

/** The inverse of NullableLeaves: leaf types without null (a node that is only ever null stays). */
export type NonNullLeaves<T> = [T] extends [null] ? null : StripNull<Exclude<T, null>>;
type StripNull<T> = T extends undefined | KnownLeaf | Primitive | AnyFunction
  ? T
  : T extends object
    ? { [K in keyof T]: NonNullLeaves<T[K]> }
    : T;

/** The type found at a literal path in T (`unknown` where it cannot be known). */
export type ValueAt<T, P> = P extends readonly []
  ? T
  : P extends readonly [infer K, ...infer Rest]
    ? T extends readonly unknown[]
      ? K extends number
        ? ValueAt<T[K], Rest>
        : unknown
      : K extends keyof T
        ? ValueAt<T[K], Rest>
        : unknown
    : unknown;

// ---------------------------------------------------------------------------------------------
// Structure

/** One node of a TreeDef (read-only; for code that walks structures, e.g. prefix matching). */
export type TreeNode =
  | { readonly kind: 'leaf' }
  | { readonly kind: 'none'; readonly value: null | undefined }
  | { readonly kind: 'array'; readonly children: readonly TreeNode[]; readonly numLeaves: number }
  | {
      readonly kind: 'object';
      readonly keys: readonly string[];
      readonly children: readonly TreeNode[];
      readonly nullProto: boolean;
      readonly numLeaves: number;
    }
  | {
      readonly kind: 'custom';
      readonly cls: Function;
      readonly spec: NodeSpec<unknown>;
      readonly aux: unknown;
      readonly children: readonly TreeNode[];
      readonly numLeaves: number;
    };

const LEAF: TreeNode = { kind: 'leaf' };
const NULL: TreeNode = { kind: 'none', value: null };
const UNDEFINED: TreeNode = { kind: 'none', value: undefined };

const nodeLeaves = (n: TreeNode): number => (n.kind === 'leaf' ? 1 : n.kind === 'none' ? 0 : n.numLeaves);

/** The structure of a tree: its containers with the leaves taken out. */
export class TreeDef {
  readonly numLeaves: number;
  /** @internal use `structure`/`flatten` to make one. */
  constructor(readonly root: TreeNode) {
    this.numLeaves = nodeLeaves(root);
  }
  /** E.g. `{a: *, b: [*, null], c: Point(*, *)}`. */
  toString(): string {
    return nodeToString(this.root);
  }
  equals(other: TreeDef): boolean {
    return nodeEqual(this.root, other.root, false);
  }
}

const registry = new Map<object, { cls: Function; spec: NodeSpec<unknown> }>();

/** Make instances of `cls` (exactly that class, not subclasses) tree nodes. */
export function register<T extends object, Aux>(cls: abstract new (...args: never[]) => T, spec: NodeSpec<T, Aux>): void {
  const proto: unknown = typeof cls === 'function' ? (cls as { prototype?: unknown }).prototype : undefined;
  if (typeof proto !== 'object' || proto === null) {
    throw new TreeError(`tree.register: expected a class (a constructor with a prototype) but got ${describeValue(cls)}`);
  }
  if ((cls as Function) === Object || (cls as Function) === Array) {
    throw new TreeError(`tree.register: ${cls.name} is a built-in tree node (arrays and plain objects already are) and cannot be registered`);
  }
  if (typeof spec?.flatten !== 'function' || typeof spec?.unflatten !== 'function') {
    throw new TreeError(`tree.register: the spec for ${cls.name} needs flatten and unflatten functions, got flatten: ${typeof spec?.flatten}, unflatten: ${typeof spec?.unflatten}`);
  }
  if (registry.has(proto)) throw new TreeError(`tree.register: ${cls.name || 'this class'} is already registered as a tree node; a class is registered once`);
  registry.set(proto, { cls, spec: spec as NodeSpec<unknown> });
}

function customOf(x: object): { cls: Function; spec: NodeSpec<unknown> } | undefined {
  return registry.size === 0 ? undefined : registry.get(Object.getPrototypeOf(x) as object);
}

/** The path keys of a custom node's children; `at` is the node's path (for errors). */
function customKeys(spec: NodeSpec<unknown>, x: unknown, aux: unknown, n: number, op: string, at: Path): Path {
  if (spec.keys === undefined) return Array.from({ length: n }, (_, i) => i);
  const keys = spec.keys(x, aux);
  if (keys.length !== n) {
    throw new TreeError(`${op}: keys() of the registered ${describeValue(x)} at ${where(at)} gave ${keys.length} keys for its ${n} children; it must give one key per child that flatten returns`);
  }
  return keys;
}

/**
 * Plain objects, including those made in another JavaScript realm (a `vm` context, such as the
 * REPL's, or an iframe): their prototype is that realm's Object.prototype, whose own prototype is null.
 */
function isPlainObject(x: object): boolean {
  const proto = Object.getPrototypeOf(x) as object | null;
  if (proto === Object.prototype || proto === null) return true;
  return Object.getPrototypeOf(proto) === null && Object.prototype.toString.call(x) === '[object Object]' && typeof (proto as { hasOwnProperty?: unknown }).hasOwnProperty === 'function';
}

const isNodeArray = (x: unknown): x is readonly unknown[] => {
  if (!Array.isArray(x)) return false;
  const proto = Object.getPrototypeOf(x) as object;
  // Arrays from another realm have that realm's Array.prototype (not a subclass).
  return proto === Array.prototype || Object.getPrototypeOf(Object.getPrototypeOf(proto) as object) === null;
};

interface Walk {
  readonly isLeaf: ((x: unknown) => boolean) | undefined;
  readonly leaves: unknown[];
  readonly paths: Path[] | undefined; // collected only by the *WithPath functions
  readonly stack: PathKey[];
  /** The containers being walked (the current one and its ancestors): meeting one again is a cycle. */
  readonly open: Set<object>;
}

function build(x: unknown, w: Walk, op: string): TreeNode {
  if (w.isLeaf !== undefined && w.isLeaf(x)) return leafAt(x, w);
  if (x === null) return NULL;
  if (x === undefined) return UNDEFINED;
  if (typeof x !== 'object') return leafAt(x, w);
  // Leaves first, so that only containers enter the cycle check (flatten runs on every jit call).
  const custom = isNodeArray(x) || isPlainObject(x) ? null : customOf(x);
  if (custom === undefined) return leafAt(x, w);
  if (w.open.has(x)) throw new TreeCycle(`${op}: the tree contains a cycle (a container holds itself${w.paths === undefined ? '' : ` at ${where(w.stack)}`}); trees must be acyclic`);
  w.open.add(x);
  try {
    return buildContainer(x, custom, w, op);
  } finally {
    w.open.delete(x);
  }
}

/** An array or plain object (`custom` null), or a registered class. */
function buildContainer(x: object, custom: ReturnType<typeof customOf> | null, w: Walk, op: string): TreeNode {
  const start = w.leaves.length;
  if (isNodeArray(x)) {
    const children = new Array<TreeNode>(x.length);
    for (let i = 0; i < x.length; i++) children[i] = child(x[i], i, w, op);
    return { kind: 'array', children, numLeaves: w.leaves.length - start };
  }
  if (isPlainObject(x)) {
    const keys = Object.keys(x).sort();
    const obj = x as Record<string, unknown>;
    const children = new Array<TreeNode>(keys.length);
    for (let i = 0; i < keys.length; i++) children[i] = child(obj[keys[i]], keys[i], w, op);
    const nullProto = Object.getPrototypeOf(x) === null;
    return { kind: 'object', keys, children, nullProto, numLeaves: w.leaves.length - start };
  }
  const [kids, aux] = custom!.spec.flatten(x);
  const keys = w.paths === undefined ? undefined : customKeys(custom!.spec, x, aux, kids.length, op, w.stack);
  const children = new Array<TreeNode>(kids.length);
  for (let i = 0; i < kids.length; i++) children[i] = child(kids[i], keys === undefined ? i : keys[i], w, op);
  return { kind: 'custom', cls: custom!.cls, spec: custom!.spec, aux, children, numLeaves: w.leaves.length - start };
}

function child(x: unknown, key: PathKey, w: Walk, op: string): TreeNode {
  if (w.paths === undefined) return build(x, w, op);
  w.stack.push(key);
  const n = build(x, w, op);
  w.stack.pop();
  return n;
}

function leafAt(x: unknown, w: Walk): TreeNode {
  w.leaves.push(x);
  if (w.paths !== undefined) w.paths.push(w.stack.slice());
  return LEAF;
}

/**
 * A cycle found while walking a tree (a TreeError; `walk` reports it with its path). Named
 * TreeError, the class users can import and catch: the printed name is otherwise this private one.
 */
class TreeCycle extends TreeError {
  override name = 'TreeError';
}

function walk(tree: unknown, opts: FlattenOptions | undefined, withPaths: boolean, op: string) {
  const w: Walk = { isLeaf: opts?.isLeaf, leaves: [], paths: withPaths ? [] : undefined, stack: [], open: new Set() };
  try {
    const def = new TreeDef(build(tree, w, op));
    return { leaves: w.leaves, paths: w.paths ?? [], def };
  } catch (e) {
    // Paths are tracked only when asked for (flatten runs on every jit call); walk again to name where the cycle closes.
    if (e instanceof TreeCycle && !withPaths) walk(tree, opts, true, op);
    throw e;
  }
}

/** The leaves of `tree` (in sorted-key / index order) and its structure. */
export function flatten<T>(tree: T): [LeafOf<T>[], TreeDef];
export function flatten(tree: unknown, opts?: FlattenOptions): [unknown[], TreeDef];
export function flatten(tree: unknown, opts?: FlattenOptions): [unknown[], TreeDef] {
  const { leaves, def } = walk(tree, opts, false, 'tree.flatten');
  return [leaves, def];
}

/** The leaves of `tree`, in flatten order. */
export function leaves<T>(tree: T): LeafOf<T>[];
export function leaves(tree: unknown, opts?: FlattenOptions): unknown[];
export function leaves(tree: unknown, opts?: FlattenOptions): unknown[] {
  return walk(tree, opts, false, 'tree.leaves').leaves;
}

/** The structure of `tree` alone. */
export function structure(tree: unknown, opts?: FlattenOptions): TreeDef {
  return walk(tree, opts, false, 'tree.structure').def;
}

/** Each leaf with its path, e.g. `[[['layers', 0, 'w'], w0], ...]`, and the structure. */
export function flattenWithPath<T>(tree: T): [[Path, LeafOf<T>][], TreeDef];
export function flattenWithPath(tree: unknown, opts?: FlattenOptions): [[Path, unknown][], TreeDef];
export function flattenWithPath(tree: unknown, opts?: FlattenOptions): [[Path, unknown][], TreeDef] {
  const { leaves, paths, def } = walk(tree, opts, true, 'tree.flattenWithPath');
  return [leaves.map((leaf, i) => [paths[i], leaf] as [Path, unknown]), def];
}

/** Rebuild a tree of structure `treedef` from `leaves` (new containers; leaves are not copied). */
export function unflatten(treedef: TreeDef, leaves: readonly unknown[]): unknown {
  if (leaves.length !== treedef.numLeaves) {
    throw new TreeError(
      `tree.unflatten: structure ${truncate(treedef.toString())} expects ${treedef.numLeaves} leaves but ${leaves.length} were given`,
    );
  }
  return rebuild(treedef.root, leaves, { i: 0 });
}

function rebuild(n: TreeNode, leaves: readonly unknown[], at: { i: number }): unknown {
  switch (n.kind) {
    case 'leaf':
      return leaves[at.i++];
    case 'none':
      return n.value;
    case 'array':
      return n.children.map((c) => rebuild(c, leaves, at));
    case 'object': {
      const obj: Record<string, unknown> = n.nullProto ? Object.create(null) : {};
      for (let k = 0; k < n.keys.length; k++) setOwn(obj, n.keys[k], rebuild(n.children[k], leaves, at));
      return obj;
    }
    case 'custom':
      return n.spec.unflatten(
        n.aux,
        n.children.map((c) => rebuild(c, leaves, at)),
      );
  }
}

// `obj['__proto__'] = v` would set the prototype instead of making a key.
function setOwn(obj: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(obj, key, { value, writable: true, enumerable: true, configurable: true });
  else obj[key] = value;
}

/** Whether two structures are the same (plain objects with and without prototype count as equal). */
export function treedefEqual(a: TreeDef, b: TreeDef): boolean {
  return nodeEqual(a.root, b.root, false);
}

/**
 * Whether two structures would unflatten to the same kind of objects: `treedefEqual`, and plain
 * objects agree on having a prototype. A cache of traced programs keys on this (the output is
 * rebuilt from the structure the program was traced with).
 */
export function treedefIdentical(a: TreeDef, b: TreeDef): boolean {
  return nodeEqual(a.root, b.root, true);
}

function nodeEqual(a: TreeNode, b: TreeNode, prototypes: boolean): boolean {
  if (a === b) return true;
  const children = (x: readonly TreeNode[], y: readonly TreeNode[]) => x.length === y.length && x.every((c, i) => nodeEqual(c, y[i]!, prototypes));
  switch (a.kind) {
    case 'leaf':
      return b.kind === 'leaf';
    case 'none':
      return b.kind === 'none' && a.value === b.value;
    case 'array':
      return b.kind === 'array' && children(a.children, b.children);
    case 'object':
      return b.kind === 'object' && arraysEqual(a.keys, b.keys) && (!prototypes || a.nullProto === b.nullProto) && children(a.children, b.children);
    case 'custom':
      return b.kind === 'custom' && a.cls === b.cls && auxEqual(a.aux, b.aux) && children(a.children, b.children);
  }
}

const arraysEqual = (a: readonly unknown[], b: readonly unknown[]): boolean =>
  a.length === b.length && a.every((x, i) => x === b[i]);

// Aux data is compared by value when it is plain data (JAX compares it with ==).
function auxEqual(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((x, i) => auxEqual(x, b[i]));
  if (!isPlainObject(a) || !isPlainObject(b)) return false;
  const ka = Object.keys(a).sort();
  const kb = Object.keys(b).sort();
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  return arraysEqual(ka, kb) && ka.every((k) => auxEqual(ra[k], rb[k]));
}

function nodeToString(n: TreeNode): string {
  switch (n.kind) {
    case 'leaf':
      return '*';
    case 'none':
      return String(n.value);
    case 'array':
      return `[${n.children.map(nodeToString).join(', ')}]`;
    case 'object':
      return `{${n.keys.map((k, i) => `${IDENT.test(k) ? k : quote(k)}: ${nodeToString(n.children[i])}`).join(', ')}}`;
    case 'custom':
      return `${n.cls.name || 'CustomNode'}(${n.children.map(nodeToString).join(', ')})`;
  }
}

// ---------------------------------------------------------------------------------------------
// Walking a second tree along a known structure

/**
 * The pieces of `tree` at the leaf positions of `treedef`; `treedef` must be a prefix of `tree`'s
 * structure (JAX's `flatten_up_to`, e.g. for per-argument options given as a tree prefix).
 */
export function flattenUpTo(treedef: TreeDef, tree: unknown, opts?: FlattenOptions): unknown[] {
  const out: unknown[] = [];
  along(treedef.root, tree, { op: 'tree.flattenUpTo', isLeaf: opts?.isLeaf, strict: false, out, stack: [] });
  return out;
}

/**
 * A tree of `full`'s structure whose every leaf is the leaf of `prefix` above it (JAX's
 * `jax.tree.broadcast`): `broadcast({ a: 1, b: 2 }, { a: [x, y], b: z })` is `{ a: [1, 1], b: 2 }`.
 * `isLeaf` applies to both trees: below a prefix leaf, `full`'s pieces are cut where it says too
 * (JAX applies it to the prefix only: with `isLeaf: x => x === null`, `broadcast(0, { a: null })`
 * is `{ a: 0 }` here, `{ a: None }` in JAX).
 */
export function broadcast<P, F extends StructureOf<P>>(prefix: P, full: F, opts?: FlattenOptions): TreeMap<F, unknown, LeafOf<P>> {
  const op = 'tree.broadcast';
  const isLeaf = opts?.isLeaf;
  // Two nested maps, so each tree is walked once: the outer one cuts `full` at the prefix's leaves
  // (isLeaf asked of the prefix only, as in every map), the inner one copies each prefix leaf over
  // the piece of `full` below it, whose leaves isLeaf may stop at. The containers above the cut are
  // the prefix's, which match `full`'s (a plain object's prototype, Object's or null, aside).
  const copy = (leaf: unknown, piece: unknown): unknown => mapImpl(op, () => leaf, piece, [], isLeaf, false);
  return mapImpl(op, copy as (...xs: unknown[]) => unknown, prefix, [full], isLeaf, false) as TreeMap<F, unknown, LeafOf<P>>;
}

interface Along {
  readonly op: string;
  readonly isLeaf: ((x: unknown) => boolean) | undefined;
  readonly strict: boolean; // leaf positions must hold leaves (same structure) rather than any subtree
  readonly out: unknown[];
  readonly stack: PathKey[];
  /** For `map`: which tree argument (1-based) is being cut, named in errors. */
  readonly argument?: number;
}

function along(n: TreeNode, x: unknown, a: Along): void {
  if (n.kind === 'leaf') {
    if (a.strict && structure(x, { isLeaf: a.isLeaf }).root.kind !== 'leaf') mismatch(n, x, a);
    a.out.push(x);
    return;
  }
  if (a.isLeaf !== undefined && a.isLeaf(x)) return mismatch(n, x, a);
  switch (n.kind) {
    case 'none':
      if (x !== n.value) mismatch(n, x, a);
      return;
    case 'array': {
      if (!isNodeArray(x) || x.length !== n.children.length) return mismatch(n, x, a);
      for (let i = 0; i < x.length; i++) alongChild(n.children[i], x[i], i, a);
      return;
    }
    case 'object': {
      if (typeof x !== 'object' || x === null || isNodeArray(x) || !isPlainObject(x)) return mismatch(n, x, a);
      const obj = x as Record<string, unknown>;
      if (Object.keys(obj).length !== n.keys.length || !n.keys.every((k) => Object.hasOwn(obj, k))) return mismatch(n, x, a);
      for (let i = 0; i < n.keys.length; i++) alongChild(n.children[i], obj[n.keys[i]], n.keys[i], a);
      return;
    }
    case 'custom': {
      const custom = typeof x === 'object' && x !== null ? customOf(x) : undefined;
      if (custom === undefined || custom.cls !== n.cls) return mismatch(n, x, a);
      const [kids, aux] = custom.spec.flatten(x);
      if (kids.length !== n.children.length || !auxEqual(aux, n.aux)) return mismatch(n, x, a);
      const keys = customKeys(custom.spec, x, aux, kids.length, a.op, a.stack);
      for (let i = 0; i < kids.length; i++) alongChild(n.children[i], kids[i], keys[i], a);
      return;
    }
  }
}

function alongChild(n: TreeNode, x: unknown, key: PathKey, a: Along): void {
  a.stack.push(key);
  along(n, x, a);
  a.stack.pop();
}

function mismatch(expected: TreeNode, x: unknown, a: Along): never {
  const got = structure(x, { isLeaf: a.isLeaf }).toString();
  const which =
    a.argument === undefined
      ? ''
      : ` (tree argument ${a.argument} must have the first tree's structure, or extend it below its leaves)`;
  throw new TreeError(
    `${a.op}: structure mismatch at ${where(a.stack)}: expected ${truncate(nodeToString(expected))} but got ${truncate(got)}${which}`,
  );
}

// ---------------------------------------------------------------------------------------------
// Mapping

/**
 * Apply `f` to the leaves of `tree` and, from each tree in `rest`, the subtree at that leaf's place,
 * keeping `tree`'s containers: `map((w, g) => w.sub(g.mul(0.1)), params, grads)`. As in JAX, each
 * tree in `rest` has `tree`'s structure or extends it below its leaves (`tree` is a prefix of it):
 * `map((s, sub) => [s, sub], { a: 1 }, { a: [2, 3] })` is `{ a: [1, [2, 3]] }`.
 */
export function map<T, R, Rest extends unknown[] = [], L = LeafOf<T>, RL extends unknown[] = SubtreeTuple<T, Rest>>(
  f: (leaf: L, ...rest: RL) => R,
  tree: T,
  ...rest: Rest & { readonly [K in keyof Rest]: StructureOf<T> }
): TreeMap<T, L, R> {
  return mapImpl('tree.map', f as (...xs: unknown[]) => unknown, tree, rest, undefined, false) as TreeMap<T, L, R>;
}

/** Like `map`, and `f` gets each leaf's path first: `mapWithPath((p, x) => keystr(p), tree)`. */
export function mapWithPath<T, R, Rest extends unknown[] = [], L = LeafOf<T>, RL extends unknown[] = SubtreeTuple<T, Rest>>(
  f: (path: Path, leaf: L, ...rest: RL) => R,
  tree: T,
  ...rest: Rest & { readonly [K in keyof Rest]: StructureOf<T> }
): TreeMap<T, L, R> {
  return mapImpl('tree.mapWithPath', f as (...xs: unknown[]) => unknown, tree, rest, undefined, true) as TreeMap<T, L, R>;
}

function mapImpl(
  op: string,
  f: (...xs: unknown[]) => unknown,
  tree: unknown,
  rest: readonly unknown[],
  isLeaf: ((x: unknown) => boolean) | undefined,
  withPath: boolean,
): unknown {
  const { leaves, paths, def } = walk(tree, { isLeaf }, withPath, op);
  // JAX's prefix rule: each other tree is cut at this tree's leaves (flatten_up_to), and f gets the
  // pieces. isLeaf is asked of this tree only: where it has a container the others must have one
  // too, even a subtree that isLeaf would stop at (JAX's tree_map does not call is_leaf on them).
  const others = rest.map((r, k) => {
    const out: unknown[] = [];
    along(def.root, r, { op, isLeaf: undefined, strict: false, out, stack: [], argument: k + 2 });
    return out;
  });
  const out = new Array<unknown>(leaves.length);
  for (let i = 0; i < leaves.length; i++) {
    const args = others.map((o) => o[i]);
    out[i] = withPath ? f(paths[i], leaves[i], ...args) : f(leaves[i], ...args);
  }
  return rebuild(def.root, out, { i: 0 });
}

// ---------------------------------------------------------------------------------------------
// Equinox-style filtering

/**
 * Split `tree` into the leaves that satisfy `predicate` and the rest; each half keeps the structure
 * with `null` where the other half's leaves are. `combine(...partition(t, p))` rebuilds `t`.
 */
export function partition<T, L = LeafOf<T>>(
  tree: T,
  predicate: (leaf: L, path: Path) => boolean,
  opts?: FlattenOptions,
): [NullableLeaves<T>, NullableLeaves<T>] {
  const { leaves, paths, def } = walk(tree, opts, true, 'tree.partition');
  const yes = new Array<unknown>(leaves.length);
  const no = new Array<unknown>(leaves.length);
  for (let i = 0; i < leaves.length; i++) {
    const picked = predicate(leaves[i] as L, paths[i]);
    yes[i] = picked ? leaves[i] : null;
    no[i] = picked ? null : leaves[i];
  }
  return [rebuild(def.root, yes, { i: 0 }), rebuild(def.root, no, { i: 0 })] as [NullableLeaves<T>, NullableLeaves<T>];
}

/** Merge trees of the same structure, taking at each leaf the first value that is not null. */
export function combine<T>(first: T, ...rest: T[]): NonNullLeaves<T> {
  const trees: unknown[] = [first, ...rest];
  const isLeaf = (x: unknown) => x === null;
  const { leaves, def } = walk(trees[0], { isLeaf }, false, 'tree.combine');
  const out = leaves.slice();
  for (const t of trees.slice(1)) {
    const other: unknown[] = [];
    along(def.root, t, { op: 'tree.combine', isLeaf, strict: true, out: other, stack: [] });
    for (let i = 0; i < out.length; i++) if (out[i] === null) out[i] = other[i];
  }
  return rebuild(def.root, out, { i: 0 }) as NonNullLeaves<T>;
}

/**
 * The type of `withOptions({ isLeaf }).map(f, tree)` with `f: (leaf: L) => R`: `tree.map`'s type,
 * with the subtrees of type L as the leaves (isLeaf may stop at any subtree, so f's declared
 * parameter is what says which are leaves); unknown when f leaves L undeclared.
 */
export type TreeMapWithLeaf<T, L, R> = [unknown] extends [L] ? unknown : TreeMap<T, L, R>;

/** `map`, `mapWithPath` and friends with options fixed, e.g. `withOptions({ isLeaf }).map(f, a, b)`. */
export function withOptions(opts: FlattenOptions) {
  const isLeaf = opts.isLeaf;
  // The other trees are not constrained to the first one's structure type (as tree.map's are): a
  // subtree isLeaf stops at may be anything in them, which only the run-time check can judge.
  return {
    map<T, R, L = unknown, RL extends unknown[] = unknown[]>(f: (leaf: L, ...rest: RL) => R, tree: T, ...rest: unknown[]): TreeMapWithLeaf<T, L, R> {
      return mapImpl('tree.map', f as (...xs: unknown[]) => unknown, tree, rest, isLeaf, false) as TreeMapWithLeaf<T, L, R>;
    },
    mapWithPath<T, R, L = unknown, RL extends unknown[] = unknown[]>(
      f: (path: Path, leaf: L, ...rest: RL) => R,
      tree: T,
      ...rest: unknown[]
    ): TreeMapWithLeaf<T, L, R> {
      return mapImpl('tree.mapWithPath', f as (...xs: unknown[]) => unknown, tree, rest, isLeaf, true) as TreeMapWithLeaf<T, L, R>;
    },
    flatten: (tree: unknown) => flatten(tree, opts),
    leaves: (tree: unknown) => leaves(tree, opts),
    structure: (tree: unknown) => structure(tree, opts),
    flattenWithPath: (tree: unknown) => flattenWithPath(tree, opts),
    partition: (tree: unknown, predicate: (leaf: unknown, path: Path) => boolean) =>
      partition<unknown>(tree, predicate, opts),
    broadcast: (prefix: unknown, full: unknown): unknown => broadcast(prefix, full, opts),
  };
}

// ---------------------------------------------------------------------------------------------
// Paths

const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** `['layers', 0, 'w', 'a b']` → `.layers[0].w['a b']` (the empty path is `''`). */
export function keystr(path: Path): string {
  let s = '';
  for (let i = 0; i < path.length; i++) {
    const k = path[i]!;
    if (typeof k === 'number') {
      if (!Number.isSafeInteger(k) || k < 0) throw new ValueError(`tree.keystr: the path key ${k} at position ${i} of the path is not a non-negative integer (array indices are 0, 1, ...)`);
      s += `[${k}]`;
    } else s += IDENT.test(k) ? `.${k}` : `[${quote(k)}]`;
  }
  return s;
}

function quote(k: string): string {
  let s = "'";
  for (let i = 0; i < k.length; i++) {
    const c = k.charCodeAt(i);
    if (c === 0x5c) s += '\\\\';
    else if (c === 0x27) s += "\\'";
    else if (c === 0x0a) s += '\\n';
    else if (c === 0x09) s += '\\t';
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < k.length && isLowSurrogate(k.charCodeAt(i + 1))) s += k[i] + k[++i];
    else if (c < 0x20 || (c >= 0x7f && c <= 0x9f) || (c >= 0xd800 && c <= 0xdfff)) s += `\\u${c.toString(16).padStart(4, '0')}`;
    else s += k[i];
  }
  return s + "'";
}

const isLowSurrogate = (c: number) => c >= 0xdc00 && c <= 0xdfff;

/** The inverse of `keystr`: `.layers[0]['a b']` → `['layers', 0, 'a b']`. */
export function parseKeystr(s: string): PathKey[] {
  const path: PathKey[] = [];
  let i = 0;
  function fail(what: string): never {
    throw new ValueError(`tree.parseKeystr: ${what} at position ${i} in ${JSON.stringify(s)} (a path is written as keystr writes it, e.g. .layers[0]['a b'])`);
  }
  while (i < s.length) {
    if (s[i] === '.') {
      const m = /^[A-Za-z_$][A-Za-z0-9_$]*/.exec(s.slice(i + 1));
      if (m === null) fail('expected an identifier after "."');
      path.push(m[0]);
      i += 1 + m[0].length;
    } else if (s[i] === '[') {
      i++;
      if (s[i] === "'" || s[i] === '"') {
        const q = s[i++];
        let key = '';
        while (s[i] !== q) {
          if (i >= s.length) fail('unterminated string');
          if (s[i] !== '\\') key += s[i++];
          else {
            const e = s[i + 1];
            if (e === 'n') key += '\n';
            else if (e === 't') key += '\t';
            else if (e === 'u' && /^[0-9a-fA-F]{4}$/.test(s.slice(i + 2, i + 6))) {
              key += String.fromCharCode(parseInt(s.slice(i + 2, i + 6), 16));
              i += 4;
            } else if (e === '\\' || e === "'" || e === '"') key += e;
            else fail('unknown escape');
            i += 2;
          }
        }
        i++;
        path.push(key);
      } else {
        const m = /^(0|[1-9][0-9]*)/.exec(s.slice(i));
        if (m === null) fail('expected an index or a quoted key after "["');
        path.push(Number(m[0]));
        i += m[0].length;
      }
      if (s[i] !== ']') fail('expected "]"');
      i++;
    } else fail(`unexpected ${JSON.stringify(s[i])}`);
  }
  return path;
}

const where = (path: Path): string => (path.length === 0 ? 'the root' : keystr(path));
const toPath = (p: Path | string): Path => (typeof p === 'string' ? parseKeystr(p) : p);

// ---------------------------------------------------------------------------------------------
// Immutable updates. Immer drafts only plain objects and arrays, so class-instance leaves (arrays,
// tensors) and registered nodes are never drafted or frozen; registered nodes on a path are rebuilt
// with their own flatten/unflatten. A private Immer keeps autoFreeze on whatever the global setting.

const immer = new Immer({ autoFreeze: true });

/** The subtree at `path` (a key array or a keystr string). */
export function getIn<T, const P extends Path | string>(tree: T, path: P): ValueAt<T, P> {
  const p = toPath(path);
  let node: unknown = tree;
  for (let i = 0; i < p.length; i++) node = step(node, p, i, 'tree.getIn', false).value;
  return node as ValueAt<T, P>;
}

/**
 * A frozen copy of `tree` with `value` at `path`; untouched subtrees are shared, not copied. A
 * missing key at the end of the path is added. With a literal key array, `value` is type-checked.
 */
export function setIn<T, const P extends Path | string>(tree: T, path: P, value: ValueAt<T, P>): T {
  return freeze(updateAt(tree, toPath(path), 0, () => value, 'tree.setIn'), true) as T;
}

/** A frozen copy of `tree` with the subtree at `path` replaced by `fn(subtree)`. */
export function updateIn<T, const P extends Path | string>(tree: T, path: P, fn: (x: ValueAt<T, P>) => ValueAt<T, P>): T {
  return freeze(updateAt(tree, toPath(path), 0, fn as (x: unknown) => unknown, 'tree.updateIn'), true) as T;
}

interface Step {
  readonly value: unknown;
  readonly missing: boolean; // a plain object without this key (setIn may add it)
  readonly custom?: { spec: NodeSpec<unknown>; kids: readonly unknown[]; aux: unknown; index: number };
}

// `mayAdd`: a missing object key is allowed at the end of the path (setIn adds it).
function step(node: unknown, path: Path, i: number, op: string, mayAdd: boolean): Step {
  const key = path[i];
  const at = () => `${where(path.slice(0, i))}`;
  if (isNodeArray(node)) {
    if (typeof key !== 'number') throw new TreeError(`${op}: key ${quote(String(key))} used on an array at ${at()}; an array takes an integer index`);
    if (!Number.isInteger(key)) throw new TreeError(`${op}: index ${key} is not an integer (array at ${at()})`);
    if (!(key >= 0 && key < node.length)) throw new TreeError(`${op}: index ${key} out of range for an array of length ${node.length} at ${at()}`);
    return { value: node[key], missing: false };
  }
  if (typeof node === 'object' && node !== null && isPlainObject(node)) {
    if (typeof key !== 'string') throw new TreeError(`${op}: index ${key} used on an object at ${at()}; an object takes a string key`);
    const has = Object.hasOwn(node, key);
    if (!has && !(mayAdd && i === path.length - 1)) {
      throw new TreeError(`${op}: no key ${quote(key)} at ${at()} (keys: ${Object.keys(node).sort().join(', ')})`);
    }
    return { value: has ? (node as Record<string, unknown>)[key] : undefined, missing: !has };
  }
  const custom = typeof node === 'object' && node !== null ? customOf(node) : undefined;
  if (custom !== undefined) {
    const [kids, aux] = custom.spec.flatten(node);
    const keys = customKeys(custom.spec, node, aux, kids.length, op, path.slice(0, i));
    const index = keys.indexOf(key);
    if (index < 0) throw new TreeError(`${op}: ${custom.cls.name} at ${at()} has no child ${keystr([key])} (children: ${keys.map((k) => keystr([k])).join(', ')})`);
    return { value: kids[index], missing: false, custom: { spec: custom.spec, kids, aux, index } };
  }
  throw new TreeError(`${op}: cannot look up ${keystr([key])} in ${describeValue(node)} at ${at()}; only arrays, plain objects and registered classes have children`);
}

function updateAt(node: unknown, path: Path, i: number, fn: (x: unknown) => unknown, op: string): unknown {
  if (i === path.length) return fn(node);
  const s = step(node, path, i, op, true);
  const next = updateAt(s.value, path, i + 1, fn, op);
  if (Object.is(next, s.value) && !s.missing) return immer.produce(node, () => {}); // unchanged, but frozen
  if (s.custom !== undefined) {
    const kids = s.custom.kids.slice();
    kids[s.custom.index] = next;
    return s.custom.spec.unflatten(s.custom.aux, kids);
  }
  const key = path[i];
  if (key === '__proto__') {
    // Immer assigns through the draft, which would set the prototype; copy by hand instead.
    const copy = Object.create(Object.getPrototypeOf(node) as object | null, Object.getOwnPropertyDescriptors(node));
    setOwn(copy as Record<string, unknown>, key, next);
    return freeze(copy, true);
  }
  return immer.produce(node, (draft: Record<PathKey, unknown>) => {
    draft[key] = next;
  });
}

// ---------------------------------------------------------------------------------------------
// Summary

export interface LeafInfo {
  readonly shape: string;
  readonly size: number;
}

/**
 * A table of every leaf's path, shape and element count, with the total: `tree.summary(params)`.
 * Leaves with a numeric `shape` show it (with `dtype` if any), numbers are `scalar` (1 element);
 * `describeLeaf` may describe other leaves (return undefined to use the default).
 */
export function summary(tree: unknown, describeLeaf?: (leaf: unknown, path: Path) => LeafInfo | undefined): string {
  const [pairs] = flattenWithPath(tree);
  const rows = pairs.map(([path, leaf]) => {
    const info = describeLeaf?.(leaf, path) ?? defaultInfo(leaf);
    return [path.length === 0 ? '(root)' : keystr(path), info.shape, info.size] as const;
  });
  const total = rows.reduce((acc, r) => acc + r[2], 0);
  const table: [string, string, string][] = [
    ['path', 'shape', 'size'],
    ...rows.map(([p, sh, n]): [string, string, string] => [p, sh, groupDigits(n)]),
    [`total (${rows.length} ${rows.length === 1 ? 'leaf' : 'leaves'})`, '', groupDigits(total)],
  ];
  const w0 = Math.max(...table.map((r) => r[0].length));
  const w1 = Math.max(...table.map((r) => r[1].length));
  const w2 = Math.max(...table.map((r) => r[2].length));
  return table.map((r) => `${r[0].padEnd(w0)}  ${r[1].padEnd(w1)}  ${r[2].padStart(w2)}`.trimEnd()).join('\n');
}

function defaultInfo(leaf: unknown): LeafInfo {
  const shape = typeof leaf === 'object' && leaf !== null ? (leaf as { shape?: unknown }).shape : undefined;
  if (Array.isArray(shape) && shape.every((d) => typeof d === 'number')) {
    const dtype = (leaf as { dtype?: unknown }).dtype;
    const dims = `[${shape.join(', ')}]`;
    return { shape: typeof dtype === 'string' ? `${dtype}${dims}` : dims, size: shape.reduce((a: number, d: number) => a * d, 1) };
  }
  if (typeof leaf === 'number' || typeof leaf === 'boolean' || typeof leaf === 'bigint') return { shape: 'scalar', size: 1 };
  return { shape: describeValue(leaf), size: 0 };
}

const groupDigits = (n: number): string => String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');

function describeValue(x: unknown): string {
  if (typeof x === 'function') return x.name ? `function ${x.name}` : 'a function';
  if (typeof x === 'object' && x !== null) return (Object.getPrototypeOf(x) as { constructor?: { name?: string } } | null)?.constructor?.name || 'object';
  return typeof x === 'string' ? 'string' : String(x);
}

const truncate = (s: string, max = 200): string => (s.length <= max ? s : `${s.slice(0, max - 1)}…`);

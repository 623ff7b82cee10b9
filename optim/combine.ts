// Per-parameter manipulation (algorithms.md §1): different transformations for different groups
// of leaves (`multiTransform`, e.g. per-layer learning rates), a transformation on some leaves only
// (`masked`), labels from path patterns (`pathLabels`), and freezing (`setToZero`).
//
// A group's transformation sees the updates and parameters with every leaf outside the group
// replaced by `null` (an empty tree node), so it never touches — or even sees — the other leaves;
// those come back as the very same arrays.
import type { NDArray } from '../src/array.js';
import * as np from '../src/np/index.js';
import * as tree from '../src/tree.js';
import type { NullableLeaves, Path } from '../src/tree.js';
import { innerTransformation, stateless, type AnyNeedsParams, type EmptyState, type GradientTransformation, type KindOf, type StateAt, type StateKind } from './base.js';
import { OptimError, describe, expectState, expectTransformation, leafPath, scopedUpdate } from './tree_utils.js';

/** A tree (lists, plain objects) whose leaves are `L`; `null` marks an empty node. */
export type SpecTree<L> = L | null | readonly SpecTree<L>[] | { readonly [key: string]: SpecTree<L> };

/**
 * A tree of booleans (or a prefix of the parameter tree, e.g. `{ encoder: true, decoder: false }`), or
 * a function making one (called with the parameters by `init` and with the updates at each step).
 */
export type MaskSpec = SpecTree<boolean> | ((params: never) => SpecTree<boolean>);

/**
 * A tree of group labels (or a prefix of the parameter tree), or a function making one like a
 * `MaskSpec` (see `pathLabels`). `K` is the union of labels there are transformations for: a label
 * outside it is a compile error.
 */
export type LabelSpec<K extends string = string> = SpecTree<K> | Labeller<K> | UntypedLabeller;

/** A labeller whose labels are known to the types (what `pathLabels` returns). */
export type Labeller<K extends string> = ((params: unknown) => SpecTree<K>) & { readonly labels: readonly K[] };
/** Any other function making a label tree: its labels (strings) are checked when it runs. */
type UntypedLabeller = ((params: never) => SpecTree<string>) & { readonly labels?: undefined };

/**
 * The value of `spec` (a prefix of `full`'s structure) at every leaf of `full`, in flatten order.
 * A leaf of the prefix applies to every leaf below it.
 */
function perLeaf(op: string, what: string, spec: unknown, full: unknown): unknown[] {
  const resolved = typeof spec === 'function' ? (spec as (p: unknown) => unknown)(full) : spec;
  const [specLeaves, specDef] = tree.flatten(resolved);
  let subtrees: unknown[];
  try {
    subtrees = tree.flattenUpTo(specDef, full);
  } catch (e) {
    const msg = (e as Error).message.replace(/^tree\.\w+: /, '');
    throw new OptimError(`${op}: the ${what} tree does not fit the parameter tree (it must have the same structure, or a prefix of it): ${msg}`);
  }
  const out: unknown[] = [];
  subtrees.forEach((sub, i) => {
    const n = tree.leaves(sub).length;
    for (let k = 0; k < n; k++) out.push(specLeaves[i]);
  });
  return out;
}

/** `t` with the leaves where `keep[i]` is false replaced by null. */
function maskTree<T>(t: T, keep: readonly boolean[]): T {
  const [leaves, def] = tree.flatten(t);
  return tree.unflatten(
    def,
    leaves.map((x, i) => (keep[i] ? x : null)),
  ) as T;
}

function booleans(op: string, values: unknown[], full: unknown): boolean[] {
  return values.map((v, i) => {
    if (typeof v !== 'boolean') throw new OptimError(`${op}: the mask must hold booleans, but at ${leafPath(full, i)} it holds ${describe(v)}`);
    return v;
  });
}

/** State of `masked`: the inner transformation's state. */
export interface MaskedState<Inner = unknown> {
  inner: Inner;
}

/** The state kind of `masked(inner)`: the inner state for the parameters with the unmasked leaves null. */
export interface MaskedKind<S> extends StateKind {
  readonly state: MaskedState<StateAt<S, NullableLeaves<this['params']>>>;
}

/**
 * Applies `inner` only to the leaves where `mask` is true; the other updates pass through unchanged.
 * @example masked(addDecayedWeights(1e-4), { w: true, b: false })
 */
export function masked<S, N extends boolean = boolean>(typedInner: GradientTransformation<S, N>, mask: MaskSpec): GradientTransformation<MaskedKind<S>, N> {
  const op = 'masked';
  const inner = innerTransformation(op, typedInner);
  const t: GradientTransformation<MaskedState> = {
    init: (params) => scopedUpdate(() => ({ inner: inner.init(maskTree(params, booleans(op, perLeaf(op, 'mask', mask, params), params))) })),
    update: (updates, state, params) =>
      scopedUpdate(() => {
        const s = expectState(op, state, ['inner']);
        const keep = booleans(op, perLeaf(op, 'mask', mask, updates), updates);
        const [u, innerState] = inner.update(maskTree(updates, keep), s.inner, params === undefined ? undefined : maskTree(params, keep));
        const [leaves, def] = tree.flatten(updates);
        const got = tree.flattenUpTo(def, u);
        return [tree.unflatten(def, leaves.map((x, i) => (keep[i] ? got[i] : x))) as typeof updates, { inner: innerState }];
      }),
  };
  return t as unknown as GradientTransformation<MaskedKind<S>, N>;
}

/** State of `multiTransform`: one inner state per group label. */
export interface MultiTransformState<Inner = Record<string, unknown>> {
  inner: Inner;
}

/** The state kind of `multiTransform`: each group's state, for the parameters with the other groups' leaves null. */
export interface MultiTransformKind<Groups> extends StateKind {
  readonly state: MultiTransformState<{ -readonly [K in keyof Groups]: StateAt<Groups[K], NullableLeaves<this['params']>> }>;
}

function labelsOf(op: string, transforms: Record<string, unknown>, spec: unknown, full: unknown): string[] {
  const names = Object.keys(transforms);
  return perLeaf(op, 'labels', spec, full).map((l, i) => {
    if (typeof l !== 'string') throw new OptimError(`${op}: labels must be strings, but the label at ${leafPath(full, i)} is ${describe(l)}`);
    if (!Object.hasOwn(transforms, l)) {
      throw new OptimError(`${op}: the leaf at ${leafPath(full, i)} has label '${l}' but there is no transformation with that label (labels: ${names.join(', ')})`);
    }
    return l;
  });
}

/**
 * Applies a different transformation to each group of leaves; `labels` gives each leaf its group
 * (a tree of strings, a prefix of one, or a function such as `pathLabels(...)`).
 * @example multiTransform({ slow: adam(1e-4), fast: adam(1e-3), frozen: setToZero() }, { emb: 'slow', head: 'fast', stats: 'frozen' })
 */
export function multiTransform<T extends Record<string, GradientTransformation<unknown>>>(
  typedTransforms: T,
  labels: LabelSpec<keyof T & string>,
): GradientTransformation<MultiTransformKind<{ [K in keyof T]: KindOf<T[K]> }>, AnyNeedsParams<T>> {
  const op = 'multiTransform';
  const transforms = typedTransforms as Record<string, GradientTransformation<unknown>>;
  for (const [k, t] of Object.entries(transforms)) expectTransformation(op, `transforms['${k}']`, t);
  const names = Object.keys(transforms);
  const t: GradientTransformation<MultiTransformState> = {
    init: (params) =>
      scopedUpdate(() => {
        const ls = labelsOf(op, transforms, labels, params);
        const inner: Record<string, unknown> = {};
        for (const k of names) inner[k] = transforms[k]!.init(maskTree(params, ls.map((l) => l === k)));
        return { inner };
      }),
    update: (updates, state, params) =>
      scopedUpdate(() => {
        const s = expectState(op, state, ['inner']);
        const ls = labelsOf(op, transforms, labels, updates);
        const [leaves, def] = tree.flatten(updates);
        const out: unknown[] = leaves.slice();
        const inner: Record<string, unknown> = {};
        for (const k of names) {
          if (!Object.hasOwn(s.inner, k)) throw new OptimError(`${op}: the state has no entry for label '${k}'; pass the state made by this transformation's init()`);
          const keep = ls.map((l) => l === k);
          const [u, st] = transforms[k]!.update(maskTree(updates, keep), s.inner[k], params === undefined ? undefined : maskTree(params, keep));
          const got = tree.flattenUpTo(def, u);
          keep.forEach((kp, i) => {
            if (kp) out[i] = got[i];
          });
          inner[k] = st;
        }
        return [tree.unflatten(def, out) as typeof updates, { inner }];
      }),
  };
  return t as unknown as GradientTransformation<MultiTransformKind<{ [K in keyof T]: KindOf<T[K]> }>, AnyNeedsParams<T>>;
}

/** What a path rule matches: a RegExp or a substring of the keystr path (`.layers[0].w`), or a predicate. */
export type PathPattern = RegExp | string | ((path: string, rawPath: Path) => boolean);

function matches(pattern: PathPattern, path: Path): boolean {
  const s = tree.keystr(path);
  if (typeof pattern === 'string') return s.includes(pattern);
  if (pattern instanceof RegExp) {
    pattern.lastIndex = 0;
    return pattern.test(s);
  }
  return pattern(s, path);
}

/**
 * Labels leaves by their path: the first matching rule's label, else `defaultLabel`.
 * Paths are matched as `tree.keystr` strings, e.g. `.encoder.embedding.w`.
 * @example multiTransform({ slow: chain(adam(1e-3), scale(0.1)), default: adam(1e-3) }, pathLabels([[/embedding/, 'slow']]))
 */
export function pathLabels<const L extends string, const D extends string = 'default'>(rules: ReadonlyArray<readonly [PathPattern, L]>, defaultLabel: D = 'default' as D): Labeller<NoInfer<L | D>> {
  rules.forEach((r, i) => {
    if (!Array.isArray(r) || r.length !== 2 || typeof r[1] !== 'string') throw new OptimError(`pathLabels: rule ${i} must be a [pattern, label] pair with a string label`);
  });
  const labeller = (params: unknown) => tree.mapWithPath((path: Path) => rules.find(([p]) => matches(p, path))?.[1] ?? defaultLabel, params as never) as SpecTree<L | D>;
  return Object.assign(labeller, { labels: [...rules.map(([, l]) => l), defaultLabel] as const });
}

/** A mask (for `masked` or `addDecayedWeights`) that is true on leaves whose path matches any of the patterns. */
export function pathMask(...patterns: PathPattern[]): (params: unknown) => SpecTree<boolean> {
  return (params) => tree.mapWithPath((path: Path) => patterns.some((p) => matches(p, path)), params as never) as SpecTree<boolean>;
}

/**
 * Replaces every update by zeros: the leaves it is applied to are frozen.
 * @example multiTransform({ train: adam(1e-3), frozen: setToZero() }, pathLabels([[/backbone/, 'frozen']], 'train'))
 */
export function setToZero(): GradientTransformation<EmptyState> {
  return stateless(<P>(updates: P) => tree.map((u: NDArray) => np.zerosLike(u), updates as never) as P);
}

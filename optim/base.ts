// The core of optim (Optax's design): a gradient transformation is a pair of pure functions,
// `init(params) -> state` and `update(updates, state, params?) -> [updates, state]`. All state lives
// in the returned tree. Optimizers are `chain`s of small transformations; `applyUpdates` adds the
// final updates to the parameters.
//
// Memory: what `update` returns belongs to the caller; its intermediates are freed. The new state may
// share arrays with the old one and the updates may share arrays with the gradients or the new state,
// so free replaced trees with `dispose(old, { keep: new })` — or let `applyGradients` do it.
import type { NDArray } from '../src/array.js';
import * as np from '../src/np/index.js';
import * as tree from '../src/tree.js';
import { OptimError, align, describe, expectTransformation, freeTree, scopedUpdate, type Scalar } from './tree_utils.js';

declare const stateKindBrand: unique symbol;

/**
 * A state type that depends on the parameter tree's type: a type-level function P ↦ state, written
 * as an interface whose `state` reads `this['params']` (the "this-type" encoding of higher-kinded
 * types). Transformations whose state holds trees shaped like the parameters (Adam's moments,
 * momentum, slow weights, ...) are typed by such a kind, so `opt.init(params)` has a state type that
 * follows `params`' type; states that do not depend on the parameters are plain types.
 * @example
 * interface TraceKind extends StateKind { readonly state: TraceState<this['params']> }
 */
export interface StateKind {
  readonly [stateKindBrand]: true;
  readonly params: unknown;
  readonly state: unknown;
}

/** The state a transformation typed by `S` (a `StateKind` or a plain state type) keeps for parameters of type `P`. */
export type StateAt<S, P> = S extends StateKind ? (S & { readonly params: P })['state'] : S;

/**
 * A tree shaped like the parameter tree type `P` with leaves of type `L`. With array leaves it is
 * `P` itself (moments, momentum, averaged or slow parameters are typed like the parameters, and
 * a state for `P` is assignable to the untyped state, e.g. `ScaleByAdamState`); other leaf types
 * map `P`'s leaves (`unknown` when `P` is).
 */
export type TreeLike<P, L = NDArray> = [L] extends [NDArray] ? P : unknown extends P ? unknown : tree.TreeMap<P, unknown, L>;

/**
 * The `params` argument of `update`: required when the transformation needs the parameters
 * (`NeedsParams` is `true`), optional otherwise (`boolean`: not known to need them).
 */
export type ParamsArg<NeedsParams extends boolean, P> = [NeedsParams] extends [true] ? [params: P] : [params?: P];

/**
 * A gradient transformation: `init` makes the state for a parameter tree, `update` maps updates
 * (gradients at the start of a chain) to new updates and a new state. Both are pure; the updates
 * returned have the type of the updates given (the parameter tree type `P`), and the state has the
 * type `StateAt<S, P>`, which follows `P` where `S` is a `StateKind`. `NeedsParams` is `true` for
 * transformations whose update reads the parameters (weight decay, trust ratio, parameter scale,
 * lookahead, ...), so that `update(updates, state)` without them does not compile; `chain` and the
 * wrappers carry it. The default `boolean` means "not known to need them" (params optional, and
 * checked at run time), which every transformation is assignable to.
 */
export interface GradientTransformation<S = unknown, NeedsParams extends boolean = boolean> {
  /** Type-level only (never set): the state kind, so `StateOf` and `chain` can read it. */
  readonly stateKind?: S;
  /** Type-level only (never set): whether `update` needs the parameters. */
  readonly needsParams?: NeedsParams;
  /** The initial state for parameters `params`. */
  init<P>(params: P): StateAt<S, P>;
  /** Transforms `updates`; `params` is needed by some transformations (weight decay, trust ratio, ...), and required by their type. */
  update<P>(updates: P, state: NoInfer<StateAt<S, P>>, ...params: ParamsArg<NeedsParams, P>): [P, StateAt<S, P>];
  /**
   * Fusion hook (optional), for transformations that multiply each leaf by a factor that does not
   * depend on the updates' values (scales, learning rates, parameter scales): the factors, one per
   * leaf in flatten order, and the new state. `chain` multiplies runs of such factors together and
   * applies them in one pass, or hands them to the transformation before (see `updateScaled`).
   */
  leafFactors?<P>(updates: P, state: NoInfer<StateAt<S, P>>, params?: P): [Scalar[], StateAt<S, P>];
  /**
   * Fusion hook (optional): `update` followed by multiplying leaf i by `factors[i]`, without the
   * extra pass over the updates (e.g. folded into Adam's bias correction or Adafactor's factors).
   */
  updateScaled?<P>(updates: P, state: NoInfer<StateAt<S, P>>, params: P | undefined, factors: readonly Scalar[]): [P, StateAt<S, P>];
}

/** The state kind (or plain state type) of a transformation. */
export type KindOf<T> = T extends GradientTransformation<infer S, boolean> ? S : never;

/** Whether transformation `T` needs the parameters in `update` (`true`), or is not known to (`boolean`). */
export type NeedsParamsOf<T> = T extends GradientTransformation<any, infer N> ? ([N] extends [true] ? true : boolean) : boolean;

/** `true` when any of the transformations `Ts` (a tuple or a record's values) needs the parameters, else `boolean`. */
export type AnyNeedsParams<Ts> = true extends (Ts extends readonly unknown[] ? NeedsOne<Ts[number]> : { [K in keyof Ts]: NeedsOne<Ts[K]> }[keyof Ts]) ? true : boolean;
/** `true` for a transformation that needs the parameters, `false` otherwise (a union distributes). */
type NeedsOne<T> = T extends unknown ? ([NeedsParamsOf<T>] extends [true] ? true : false) : never;

/** `t` typed as needing the parameters: its update reads them (and checks at run time that they are given). */
export function needsParams<S>(t: GradientTransformation<S>): GradientTransformation<S, true> {
  return t as GradientTransformation<S, true>;
}

/** The state type of transformation `T` for parameters of type `P` (untyped trees when `P` is not given). */
export type StateOf<T, P = unknown> = StateAt<KindOf<T>, P>;

/** `t` seen with untyped (`unknown`) state, as wrappers hold their inner transformations. */
export function erased<S>(t: GradientTransformation<S>): GradientTransformation<unknown> {
  return t as GradientTransformation<unknown>;
}

/**
 * A wrapper's inner transformation, checked when the wrapper is built (`op`'s error names it when it
 * is not one, e.g. an uncalled factory) and seen with untyped state, as the wrapper holds it.
 */
export function innerTransformation<S>(op: string, t: GradientTransformation<S>): GradientTransformation<unknown> {
  expectTransformation(op, 'the inner transformation', t);
  return erased(t);
}

/**
 * Types a transformation implemented over untyped trees (its state as seen at `P = unknown`) by the
 * state kind `K` that users see. Implementations check the state's structure at run time.
 */
export function withStateKind<K extends StateKind>(t: GradientTransformation<StateAt<K, unknown>>): GradientTransformation<K> {
  return t as unknown as GradientTransformation<K>;
}

/** The state of transformations that keep none. */
export type EmptyState = Record<string, never>;

/** A schedule maps the number of updates done so far (0, 1, 2, ...) to a value, e.g. a learning rate. */
export type Schedule = (count: NDArray | number) => Scalar;

/** A hyperparameter that may change over time: a number, an array or a schedule. */
export type ScalarOrSchedule = Scalar | Schedule;

/** The value of a number-or-schedule at `count`. */
export function valueAt(v: ScalarOrSchedule, count: NDArray | number): Scalar {
  return typeof v === 'function' ? v(count) : v;
}

/** a·b for hyperparameters (a JS number when both are). */
export function mulScalar(a: Scalar, b: Scalar): Scalar {
  return typeof a === 'number' && typeof b === 'number' ? a * b : np.multiply(a, b);
}

/** Multiplies leaf i of `updates` by `factors[i]` (skipping factors that are exactly 1). */
export function applyFactors<P>(updates: P, factors: readonly Scalar[]): P {
  const [leaves, def] = tree.flatten(updates);
  return tree.unflatten(
    def,
    leaves.map((u, i) => (factors[i] === 1 ? u : np.multiply(u as NDArray, factors[i]!))),
  ) as P;
}

/**
 * Makes a transformation that multiplies each leaf by a factor independent of the updates' values,
 * from the function giving the factors; `chain` fuses runs of these (see `leafFactors`).
 */
export function leafScaling<S>(init: <P>(params: P) => S, factors: <P>(updates: P, state: S, params?: P) => [Scalar[], S]): GradientTransformation<S> {
  const scaling = {
    init,
    update: <P>(updates: P, state: S, params?: P): [P, S] =>
      scopedUpdate(() => {
        const [f, s] = factors(updates, state, params);
        return [applyFactors(updates, f), s];
      }),
    leafFactors: factors,
  };
  // S is a plain state type here (not a StateKind), so StateAt<S, P> is S; TypeScript cannot see that for a generic S.
  return scaling as unknown as GradientTransformation<S>;
}

/** Makes a stateless transformation from a leafwise-or-treewise function of the updates. */
export function stateless(fn: <P>(updates: P, params?: P) => P): GradientTransformation<EmptyState> {
  return {
    init: () => ({}),
    update: (updates, state, params) => [scopedUpdate(() => fn(updates, params)), state],
  };
}

/** The transformation that leaves updates unchanged. */
export function identity(): GradientTransformation<EmptyState> {
  return { init: () => ({}), update: (updates, state) => [updates, state] };
}

/** The state kind of `chain(...)`: the tuple of its parts' states, each for the same parameters. */
export interface ChainKind<Parts extends readonly unknown[]> extends StateKind {
  readonly state: { -readonly [I in keyof Parts]: StateAt<Parts[I], this['params']> };
}

/**
 * Applies transformations in order; the state is the list of their states.
 * @example const opt = chain(clipByGlobalNorm(1), scaleByAdam(), scaleByLearningRate(1e-3));
 */
export function chain<T extends readonly GradientTransformation<unknown>[]>(...transforms: T): GradientTransformation<ChainKind<{ -readonly [I in keyof T]: KindOf<T[I]> }>, AnyNeedsParams<T>> {
  type S = unknown[];
  const ts = transforms as unknown as readonly GradientTransformation<unknown>[];
  ts.forEach((t, i) => expectTransformation('chain', `argument ${i}`, t));
  const chained: GradientTransformation<S> = {
    init: (params) => scopedUpdate(() => ts.map((t) => t.init(params))),
    update: (updates, state, params) => {
      const states = state as unknown as unknown[];
      if (!Array.isArray(states) || states.length !== ts.length) {
        throw new OptimError(`chain: expected a state with one entry per transformation (${ts.length}), got ${describe(state)}; pass the state made by this chain's init()`);
      }
      return scopedUpdate(() => {
        // Runs of leaf scalings are fused: multiplied together and applied in one pass, or handed to
        // the transformation before them when it can apply them for free (`updateScaled`).
        let u = updates;
        const next: unknown[] = new Array(ts.length);
        const factorsOf = (from: number, to: number, at: typeof updates): Scalar[] | null => {
          let f: Scalar[] | null = null;
          for (let k = from; k < to; k++) {
            const [fk, sk] = ts[k]!.leafFactors!(at, states[k], params);
            next[k] = sk;
            f = f === null ? fk : f.map((x, i) => mulScalar(x, fk[i]!));
          }
          return f;
        };
        let i = 0;
        while (i < ts.length) {
          const t = ts[i]!;
          let end = i + 1;
          while (end < ts.length && ts[end]!.leafFactors !== undefined) end++;
          if (t.updateScaled !== undefined && end > i + 1) {
            const f = factorsOf(i + 1, end, u)!;
            [u, next[i]] = t.updateScaled(u, states[i], params, f);
            i = end;
          } else if (t.leafFactors !== undefined) {
            u = applyFactors(u, factorsOf(i, end, u)!);
            i = end;
          } else {
            [u, next[i]] = t.update(u, states[i], params);
            i++;
          }
        }
        return [u, next];
      });
    },
  };
  return chained as unknown as GradientTransformation<ChainKind<{ -readonly [I in keyof T]: KindOf<T[I]> }>, AnyNeedsParams<T>>;
}

/**
 * `params + updates`, leaf by leaf (the trees must match; errors name the first differing path).
 * @example params = applyUpdates(params, updates);
 */
export function applyUpdates<P>(params: P, updates: P): P {
  return scopedUpdate(() => {
    const { def, leaves, rest } = align('applyUpdates', params, [{ name: 'the updates', tree: updates }], 'the parameters');
    const out = leaves.map((p, i) => {
      const u = rest[0]![i] as NDArray;
      const s = np.add(p, u);
      return s.dtype === p.dtype ? s : np.astype(s, p.dtype);
    });
    return tree.unflatten(def, out) as P;
  });
}

/**
 * One optimizer step with the memory handled: computes the updates, applies them and frees the
 * replaced parameters, the replaced state and the updates (never the gradients, which the caller
 * owns). Returns `[newParams, newState]`.
 * @example [params, state] = applyGradients(opt, grad(loss)(params), state, params);
 */
export function applyGradients<O extends GradientTransformation<any>, P>(optimizer: O, grads: NoInfer<P>, state: NoInfer<StateOf<O, P>>, params: P): [P, StateOf<O, P>] {
  // Generic over the optimizer (not its kind) so that one chosen at run time (a union) works too.
  expectTransformation('applyGradients', 'the optimizer', optimizer);
  const [updates, newState] = (optimizer as GradientTransformation<unknown>).update(grads, state, params) as [P, StateOf<O, P>];
  const newParams = applyUpdates(params, updates);
  freeTree([updates, state, params], [newParams, newState, grads]);
  return [newParams, newState];
}

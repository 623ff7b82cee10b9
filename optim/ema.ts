// Exponential moving averages: of the updates (`ema`, Adafactor's optional momentum) and of the
// parameters (`paramsEma`, bert4keras's ExponentialMovingAverage / Polyak averaging for evaluation).
import type { NDArray } from '../src/array.js';
import * as np from '../src/np/index.js';
import * as tree from '../src/tree.js';
import { innerTransformation, withStateKind, type GradientTransformation, type StateAt, type StateKind, type TreeLike } from './base.js';
import { checkDecay } from './checks.js';
import { align, asFloat, copyTree, paramsLike, expectState, increment, oneMinus, oneMinusPow, requireParams, scopedUpdate, zeroCount, type Scalar } from './tree_utils.js';

/** State of `ema`. */
export interface EmaState<P = unknown> {
  count: NDArray;
  ema: TreeLike<P>;
}

/** The state kind of `ema`. */
export interface EmaKind extends StateKind {
  readonly state: EmaState<this['params']>;
}

/**
 * Replaces the updates by their EMA: e ← decay·e + (1−decay)·u, divided by (1 − decayᵗ) when
 * `debias` (default true). With debias off this is Adafactor's momentum M_t (§4.2 step 8).
 */
export function ema(decay: Scalar, options: { debias?: boolean } = {}): GradientTransformation<EmaKind> {
  const op = 'ema';
  checkDecay(op, 'decay', decay);
  const debias = options.debias ?? true;
  return withStateKind<EmaKind>({
    init: (params) => ({ count: zeroCount(), ema: paramsLike('ema', params, (shape) => np.zeros(shape)) }),
    update: (updates, state, _params) =>
      scopedUpdate(() => {
        const s = expectState(op, state, ['count', 'ema']);
        const { def, leaves, rest } = align(op, updates, [{ name: 'the state ema', tree: s.ema }]);
        const count = increment(s.count);
        const e = leaves.map((u, i) => np.add(np.multiply(rest[0]![i] as NDArray, decay), np.multiply(u, oneMinus(decay))));
        const correction = debias ? oneMinusPow(decay, asFloat(count)) : undefined;
        const out = correction ? e.map((x) => np.divide(x, correction)) : e;
        return [tree.unflatten(def, out) as typeof updates, { count, ema: tree.unflatten(def, e) }];
      }),
  });
}

/** `(1 − stepSize)·old + stepSize·new`, leaf by leaf (Polyak averaging, target-network updates). */
export function incrementalUpdate<P>(newTree: P, oldTree: P, stepSize: Scalar): P {
  return scopedUpdate(() => {
    const { def, leaves, rest } = align('incrementalUpdate', newTree, [{ name: 'the old tree', tree: oldTree }]);
    return tree.unflatten(
      def,
      leaves.map((n, i) => np.add(np.multiply(rest[0]![i] as NDArray, oneMinus(stepSize)), np.multiply(n, stepSize))),
    ) as P;
  });
}

/** State of `paramsEma`: the inner optimizer's state and the averaged parameters. */
export interface ParamsEmaState<P = unknown, Inner = unknown> {
  inner: Inner;
  /** The EMA of the parameters after each step; read it for evaluation. */
  ema: TreeLike<P>;
}

/** The state kind of `paramsEma(inner)`. */
export interface ParamsEmaKind<S> extends StateKind {
  readonly state: ParamsEmaState<this['params'], StateAt<S, this['params']>>;
}

/**
 * Keeps an EMA of the parameters next to `inner`: after each step, ema ← decay·ema + (1−decay)·(params
 * + updates). The updates are `inner`'s, unchanged. The average starts at the initial parameters.
 * Needs the parameters.
 * @example const opt = paramsEma(adam(1e-3), 0.999); ... evaluate(state.ema)
 */
export function paramsEma<S>(typedInner: GradientTransformation<S>, decay: Scalar = 0.999): GradientTransformation<ParamsEmaKind<S>, true> {
  const op = 'paramsEma';
  checkDecay(op, 'decay', decay);
  const inner = innerTransformation(op, typedInner);
  const t: GradientTransformation<ParamsEmaState> = {
    init: (params) => scopedUpdate(() => ({ inner: inner.init(params), ema: copyTree(params) })),
    update: (updates, state, params) =>
      scopedUpdate(() => {
        const s = expectState(op, state, ['inner', 'ema']);
        const p = requireParams(op, params);
        const [u, innerState] = inner.update(updates, s.inner, p);
        const { def, leaves, rest } = align(op, u, [
          { name: 'params', tree: p },
          { name: 'the state ema', tree: s.ema },
        ]);
        const avg = leaves.map((du, i) => {
          const next = np.add(rest[0]![i] as NDArray, du);
          return np.add(np.multiply(rest[1]![i] as NDArray, decay), np.multiply(next, oneMinus(decay)));
        });
        return [u, { inner: innerState, ema: tree.unflatten(def, avg) }];
      }),
  };
  return t as unknown as GradientTransformation<ParamsEmaKind<S>, true>;
}

// Lookahead (Zhang et al. 2019; bert4keras's `extend_with_lookahead`): the inner ("fast") optimizer
// takes k steps; then the slow weights move a fraction α of the way to the fast ones and the fast
// weights restart from there: slow ← slow + α(fast − slow), fast ← slow.
import type { NDArray } from '../src/array.js';
import * as np from '../src/np/index.js';
import * as tree from '../src/tree.js';
import { innerTransformation, type GradientTransformation, type StateAt, type StateKind, type TreeLike } from './base.js';
import { checkInteger, checkUnitRate } from './checks.js';
import { align, copyTree, expectState, requireParams, scopedUpdate, zeroCount, type Scalar } from './tree_utils.js';

/** State of `lookahead`. */
export interface LookaheadState<P = unknown, Inner = unknown> {
  /** Fast steps since the last synchronisation (0 … syncPeriod − 1). */
  phase: NDArray;
  /** The slow weights (a copy of the parameters at the last synchronisation). */
  slow: TreeLike<P>;
  inner: Inner;
}

/** The state kind of `lookahead(inner)`. */
export interface LookaheadKind<S> extends StateKind {
  readonly state: LookaheadState<this['params'], StateAt<S, this['params']>>;
}

/**
 * Wraps a fast optimizer in Lookahead: every `syncPeriod` steps the parameters jump to
 * slow + slowStepSize·(fast − slow), which becomes the new slow point. Needs the parameters.
 * `slowStepSize` may be a 0-d array, so that `injectHyperparams` can change it between steps (as
 * Optax's `inject_hyperparams(lookahead)` allows); an array's value is trusted, a number must be in (0, 1].
 * @example lookahead(adam(1e-3), { syncPeriod: 5, slowStepSize: 0.5 })
 */
export function lookahead<S>(typedInner: GradientTransformation<S>, options: { syncPeriod?: number; slowStepSize?: Scalar } = {}): GradientTransformation<LookaheadKind<S>, true> {
  const op = 'lookahead';
  const { syncPeriod = 5, slowStepSize = 0.5 } = options;
  checkInteger(op, 'syncPeriod', syncPeriod, 1);
  checkUnitRate(op, 'slowStepSize', slowStepSize);
  const inner = innerTransformation(op, typedInner);
  const t: GradientTransformation<LookaheadState> = {
    init: (params) => scopedUpdate(() => ({ phase: zeroCount(), slow: copyTree(params), inner: inner.init(params) })),
    update: (updates, state, params) =>
      scopedUpdate(() => {
        const s = expectState(op, state, ['phase', 'slow', 'inner']);
        const p = requireParams(op, params);
        const [fastU, innerState] = inner.update(updates, s.inner, p);
        const next = np.add(s.phase, 1);
        const sync = np.equal(next, syncPeriod);
        const { def, leaves, rest } = align(op, fastU, [
          { name: 'params', tree: p },
          { name: 'the state slow', tree: s.slow },
        ]);
        const slow: NDArray[] = [];
        const out = leaves.map((u, i) => {
          const [x, sl] = [rest[0]![i] as NDArray, rest[1]![i] as NDArray];
          const fast = np.add(x, u);
          const synced = np.add(sl, np.multiply(np.subtract(fast, sl), slowStepSize));
          slow.push(np.where(sync, synced, sl));
          return np.where(sync, np.subtract(synced, x), u);
        });
        return [tree.unflatten(def, out) as typeof updates, { phase: np.where(sync, 0, next), slow: tree.unflatten(def, slow), inner: innerState }];
      }),
  };
  return t as unknown as GradientTransformation<LookaheadKind<S>, true>;
}

// Skipping bad steps: when any gradient is NaN or ±Inf the update is zero and the inner state is
// kept, and the skipped steps are counted (useful with loss scaling and unstable models).
import { NDArray } from '../src/array.js';
import * as np from '../src/np/index.js';
import * as tree from '../src/tree.js';
import { innerTransformation, type GradientTransformation, type StateAt, type StateKind } from './base.js';
import { checkInteger } from './checks.js';
import { OptimError, expectState, increment, scopedUpdate, zeroCount } from './tree_utils.js';

/** State of `applyIfFinite`. */
export interface ApplyIfFiniteState<Inner = unknown> {
  /** Consecutive steps with non-finite gradients so far (0 after a good step; saturates at 2³¹ − 1). */
  notfiniteCount: NDArray;
  /** Whether the last step's gradients were all finite. */
  lastFinite: NDArray;
  /** Steps with non-finite gradients in total (saturates at 2³¹ − 1). */
  totalNotfinite: NDArray;
  inner: Inner;
}

/** The state kind of `applyIfFinite(inner)`. */
export interface ApplyIfFiniteKind<S> extends StateKind {
  readonly state: ApplyIfFiniteState<StateAt<S, this['params']>>;
}

/**
 * Applies `inner` only when every gradient is finite; otherwise returns zero updates and keeps the
 * inner state. After more than `maxConsecutiveErrors` bad steps in a row the update is applied anyway
 * (so a run that has really diverged shows it).
 */
export function applyIfFinite<S, N extends boolean = boolean>(typedInner: GradientTransformation<S, N>, maxConsecutiveErrors = 5): GradientTransformation<ApplyIfFiniteKind<S>, N> {
  const op = 'applyIfFinite';
  checkInteger(op, 'maxConsecutiveErrors', maxConsecutiveErrors, 0);
  const inner = innerTransformation(op, typedInner);
  const t: GradientTransformation<ApplyIfFiniteState> = {
    init: (params) =>
      scopedUpdate(() => ({ notfiniteCount: zeroCount(), lastFinite: np.array(true), totalNotfinite: zeroCount(), inner: inner.init(params) })),
    update: (updates, state, params) =>
      scopedUpdate(() => {
        const s = expectState(op, state, ['notfiniteCount', 'lastFinite', 'totalNotfinite', 'inner']);
        let ok: NDArray = np.array(true);
        for (const g of tree.leaves(updates) as NDArray[]) ok = np.logicalAnd(ok, np.all(np.isfinite(g)));
        const [u, innerNew] = inner.update(updates, s.inner, params);
        // Both counters saturate at 2³¹ − 1 (Optax's safe_increment): a wrapped consecutive count turns
        // negative, and the run that had given up skipping would silently skip again.
        const notfiniteCount = np.where(ok, 0, increment(s.notfiniteCount));
        const apply = np.logicalOr(ok, np.greater(notfiniteCount, maxConsecutiveErrors));
        const out = tree.map((x: NDArray) => np.where(apply, x, 0), u as never) as typeof updates;
        return [
          out,
          {
            notfiniteCount,
            lastFinite: ok,
            totalNotfinite: np.where(ok, s.totalNotfinite, increment(s.totalNotfinite)),
            inner: select(apply, innerNew, s.inner),
          },
        ];
      }),
  };
  return t as unknown as GradientTransformation<ApplyIfFiniteKind<S>, N>;
}

/** `cond ? a : b` over two states of the same structure (arrays by np.where; other leaves must agree or force a read of cond). */
function select(cond: NDArray, a: unknown, b: unknown): unknown {
  const [la, def] = tree.flatten(a);
  let lb: unknown[];
  try {
    lb = tree.flattenUpTo(def, b);
  } catch (e) {
    throw new OptimError(`applyIfFinite: the inner transformation changed the structure of its state: ${(e as Error).message}`);
  }
  let chosen: boolean | undefined;
  const out = la.map((x, i) => {
    const y = lb[i];
    if (x instanceof NDArray && y instanceof NDArray) return np.where(cond, x, y);
    if (Object.is(x, y)) return x;
    chosen ??= Boolean(cond.item());
    return chosen ? x : y;
  });
  return tree.unflatten(def, out);
}

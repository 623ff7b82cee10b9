// Optax's apply_every: sum k steps' updates and emit the sum on every k-th step (zeros between).
// Unlike multiSteps, the transformations chained before it still update their state every step.
import type { NDArray } from '../src/array.js';
import * as np from '../src/np/index.js';
import * as tree from '../src/tree.js';
import { withStateKind, type GradientTransformation, type StateKind, type TreeLike } from './base.js';
import { checkInteger } from './checks.js';
import { align, expectState, paramsLike, scopedUpdate, zeroCount } from './tree_utils.js';

/** State of `applyEvery`: steps since the last emission (0 … k − 1) and the running sum. */
export interface ApplyEveryState<P = unknown> {
  count: NDArray;
  gradAcc: TreeLike<P>;
}

/** The state kind of `applyEvery`. */
export interface ApplyEveryKind extends StateKind {
  readonly state: ApplyEveryState<this['params']>;
}

/**
 * Accumulates updates and emits their sum every `k` steps (Optax's apply_every; zeros in between).
 * Branch-free (the count is an array), so eager and jitted steps run the same program.
 * @example chain(applyEvery(4), sgd(0.1)) steps on the sum of 4 gradients, every 4th step
 */
export function applyEvery(k = 1): GradientTransformation<ApplyEveryKind> {
  const op = 'applyEvery';
  checkInteger(op, 'k', k, 1);
  return withStateKind<ApplyEveryKind>({
    init: (params) => ({ count: zeroCount(), gradAcc: paramsLike(op, params, (shape) => np.zeros(shape, 'float32')) }),
    update: (updates, state, _params) =>
      scopedUpdate(() => {
        const s = expectState(op, state as ApplyEveryState, ['count', 'gradAcc']);
        const { def, leaves, rest } = align(op, updates, [{ name: 'the state gradAcc', tree: s.gradAcc }]);
        // A count from before (or a user's) may be ≥ k: Optax reduces it mod k first.
        const c = np.remainder(s.count, k);
        const restart = np.equal(c, 0);
        const emit = np.equal(c, k - 1);
        const acc = leaves.map((g, i) => np.add(np.where(restart, 0, rest[0]![i] as NDArray), g));
        const out = acc.map((a) => np.where(emit, a, 0));
        return [tree.unflatten(def, out) as typeof updates, { count: np.remainder(np.add(c, 1), k), gradAcc: tree.unflatten(def, acc) }];
      }),
  });
}

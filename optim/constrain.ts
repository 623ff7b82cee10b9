// Optax's zero_nans: NaN gradients become 0, and the state records which leaves had any.
import type { NDArray } from '../src/array.js';
import * as np from '../src/np/index.js';
import * as tree from '../src/tree.js';
import { withStateKind, type GradientTransformation, type StateKind, type TreeLike } from './base.js';
import { align, expectState, paramsLike, scopedUpdate } from './tree_utils.js';

/** State of `zeroNans`: per leaf, a 0-d boolean array, true when the last update had a NaN there. */
export interface ZeroNansState<P = unknown> {
  foundNan: TreeLike<P>;
}

/** The state kind of `zeroNans`. */
export interface ZeroNansKind extends StateKind {
  readonly state: ZeroNansState<this['params']>;
}

/**
 * Replaces NaNs in the updates by 0 (±Inf is kept, as in Optax); `foundNan` says which leaves had
 * any in the last update. @example chain(zeroNans(), adam(1e-3))
 */
export function zeroNans(): GradientTransformation<ZeroNansKind> {
  const op = 'zeroNans';
  return withStateKind<ZeroNansKind>({
    init: (params) => ({ foundNan: paramsLike(op, params, () => np.array(false)) }),
    update: (updates, state, _params) =>
      scopedUpdate(() => {
        expectState(op, state as ZeroNansState, ['foundNan']);
        const { def, leaves } = align(op, updates);
        const nan = leaves.map((g) => np.isnan(g));
        const out = leaves.map((g, i) => np.where(nan[i]!, 0, g));
        return [tree.unflatten(def, out) as typeof updates, { foundNan: tree.unflatten(def, nan.map((m: NDArray) => np.any(m))) }];
      }),
  });
}

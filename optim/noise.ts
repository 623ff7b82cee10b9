// Gradient noise (Neelakantan et al. 2015; Optax's add_noise): g + N(0, η/(1+t)^γ) with
// explicit randomness. The key lives in the state and is split every step, so a run is
// reproducible from its seed and jit sees no hidden state.
import type { NDArray } from '../src/array.js';
import * as np from '../src/np/index.js';
import * as random from '../src/random/index.js';
import * as tree from '../src/tree.js';
import type { GradientTransformation } from './base.js';
import { checkInteger, checkNonNegative } from './checks.js';
import { align, asFloat, expectState, increment, scopedUpdate, zeroCount } from './tree_utils.js';

/** State of `addNoise`: the step count and the key the next step's noise is drawn from. */
export interface AddNoiseState {
  count: NDArray;
  rngKey: NDArray;
}

/**
 * Adds Gaussian noise of variance eta/(1 + count)^gamma to every update, count being the number of
 * updates done before this one (Optax's annealing). Each step splits the key into one key for the
 * next step and one per leaf (in flatten order), as Optax does.
 * @example chain(addNoise(0.01, 0.55, 0), scaleByLearningRate(0.1)) is noisySgd(0.1)
 */
export function addNoise(eta: number, gamma: number, seed: number): GradientTransformation<AddNoiseState> {
  const op = 'addNoise';
  checkNonNegative(op, 'eta', eta);
  checkNonNegative(op, 'gamma', gamma);
  checkInteger(op, 'seed', seed, -(2 ** 31));
  return {
    init: () => ({ count: zeroCount(), rngKey: random.key(seed) }),
    update: (updates, state, _params) =>
      scopedUpdate(() => {
        const s = expectState(op, state as AddNoiseState, ['count', 'rngKey']);
        const { def, leaves } = align(op, updates);
        const count = increment(s.count);
        const std = np.sqrt(np.divide(eta, np.power(asFloat(count), gamma)));
        const keys = random.split(s.rngKey, leaves.length + 1);
        const out = leaves.map((g, i) => np.add(g, np.multiply(random.normal(keys.at(i + 1), g.shape), std)));
        return [tree.unflatten(def, out) as typeof updates, { count, rngKey: keys.at(0) }];
      }),
  } as GradientTransformation<AddNoiseState>;
}

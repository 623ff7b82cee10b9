// Gradient accumulation (bert4keras's `extend_with_gradient_accumulation`, Optax's MultiSteps):
// sum the gradients of k mini-steps and let the inner optimizer take one step with their mean.
import { NDArray } from '../src/array.js';
import * as np from '../src/np/index.js';
import * as tree from '../src/tree.js';
import { erased, type GradientTransformation, type StateAt, type StateKind, type TreeLike } from './base.js';
import { checkInteger } from './checks.js';
import { OptimError, align, expectState, paramsLike, scopedUpdate, zerosLikeTree } from './tree_utils.js';

/** State of `multiSteps`. */
export interface MultiStepsState<P = unknown, Inner = unknown> {
  /** Mini-steps accumulated since the last inner step (0 … k − 1); a JS number, so no device read is needed to branch. */
  miniStep: number;
  /** Inner steps taken so far. */
  gradientStep: number;
  /** Sum of the gradients of the current mini-steps. */
  acc: TreeLike<P>;
  inner: Inner;
}

/** The state kind of `multiSteps(inner)`. */
export interface MultiStepsKind<S> extends StateKind {
  readonly state: MultiStepsState<this['params'], StateAt<S, this['params']>>;
}

/**
 * Accumulates `everyKSteps` updates and then applies `inner` to their mean (their sum with
 * `useMean: false`); between inner steps the updates are zeros and the inner state is untouched.
 * The counters are JS numbers and the branch is JS (no inner work between steps), so `update`
 * runs outside `jit`: jit the gradient computation and pass its result here.
 * @example multiSteps(adam(1e-3), 4) behaves like adam on a 4× larger batch
 */
export function multiSteps<S>(typedInner: GradientTransformation<S>, everyKSteps: number, options: { useMean?: boolean } = {}): GradientTransformation<MultiStepsKind<S>> {
  const op = 'multiSteps';
  checkInteger(op, 'everyKSteps', everyKSteps, 1);
  const useMean = options.useMean ?? true;
  const inner = erased(typedInner);
  const t: GradientTransformation<MultiStepsState> = {
    init: (params) =>
      scopedUpdate(() => ({ miniStep: 0, gradientStep: 0, acc: paramsLike('multiSteps', params, (shape) => np.zeros(shape)), inner: inner.init(params) })),
    update: (updates, state, params) =>
      scopedUpdate(() => {
        const s = expectState(op, state, ['miniStep', 'gradientStep', 'acc', 'inner']);
        const counter: unknown = s.miniStep;
        if (typeof counter !== 'number') {
          // Under jit the counter arrives as an array: the JS branch below cannot read it there.
          throw new OptimError(
            `${op}: the state's miniStep is ${counter instanceof NDArray ? `an array (${counter.aval.str()})` : typeof counter}; expected a JS number. ` +
              'multiSteps skips the inner update between accumulation steps with a JS branch, so call its update outside jit (jit the gradient computation instead)',
          );
        }
        const { def, leaves, rest } = align(op, updates, [{ name: 'the state acc', tree: s.acc }]);
        const acc = leaves.map((g, i) => np.add(rest[0]![i] as NDArray, g));
        if (s.miniStep + 1 < everyKSteps) {
          return [zerosLikeTree(updates), { miniStep: s.miniStep + 1, gradientStep: s.gradientStep, acc: tree.unflatten(def, acc), inner: s.inner }];
        }
        const mean = tree.unflatten(def, useMean ? acc.map((a) => np.divide(a, everyKSteps)) : acc) as typeof updates;
        const [u, innerState] = inner.update(mean, s.inner, params);
        return [u, { miniStep: 0, gradientStep: s.gradientStep + 1, acc: zerosLikeTree(s.acc), inner: innerState }];
      }),
  };
  return t as unknown as GradientTransformation<MultiStepsKind<S>>;
}

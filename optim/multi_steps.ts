// Gradient accumulation (bert4keras's `extend_with_gradient_accumulation`, Optax's MultiSteps):
// sum the gradients of k mini-steps and let the inner optimizer take one step with their mean.
import { NDArray } from '../src/array.js';
import * as np from '../src/np/index.js';
import * as tree from '../src/tree.js';
import { innerTransformation, type GradientTransformation, type StateAt, type StateKind, type TreeLike } from './base.js';
import { checkInteger } from './checks.js';
import { OptimError, align, expectState, paramsLike, scopedUpdate, zerosLikeTree } from './tree_utils.js';

/** State of `multiSteps`. */
export interface MultiStepsState<P = unknown, Inner = unknown> {
  /**
   * Mini-steps accumulated since the last inner step (0 … k − 1). A JS number from `init`, so that
   * eager updates branch in JS (no inner work between inner steps); under `jit` it is an array
   * (jit turns numbers among the arguments into arrays), and the update selects instead.
   */
  miniStep: number | NDArray;
  /** Inner steps taken so far (a JS number, or an array once the state has been through `jit`). */
  gradientStep: number | NDArray;
  /** Sum of the gradients of the current mini-steps. */
  acc: TreeLike<P>;
  inner: Inner;
}

/** The state kind of `multiSteps(inner)`. */
export interface MultiStepsKind<S> extends StateKind {
  readonly state: MultiStepsState<this['params'], StateAt<S, this['params']>>;
}

/** Leafwise `emit ? a : b` over two trees of one structure (arrays or JS numbers). */
function selectTrees(emit: NDArray, a: unknown, b: unknown): unknown {
  return tree.map((x: unknown, y: unknown) => (x === y ? x : np.where(emit, x as NDArray, y as NDArray)), a, b);
}

/**
 * Accumulates `everyKSteps` updates and then applies `inner` to their mean (their sum with
 * `useMean: false`); between inner steps the updates are zeros and the inner state is untouched.
 * Eagerly (counters are JS numbers) the branch is JS and the inner update runs only every k-th
 * step. Under `jit` the counters are arrays: as in Optax, the inner update is computed every step
 * and its result selected on the k-th, so one compiled step serves every mini-step.
 * @example multiSteps(adam(1e-3), 4) behaves like adam on a 4× larger batch
 */
export function multiSteps<S, N extends boolean = boolean>(typedInner: GradientTransformation<S, N>, everyKSteps: number, options: { useMean?: boolean } = {}): GradientTransformation<MultiStepsKind<S>, N> {
  const op = 'multiSteps';
  checkInteger(op, 'everyKSteps', everyKSteps, 1);
  const useMean = options.useMean ?? true;
  const inner = innerTransformation(op, typedInner);
  const t: GradientTransformation<MultiStepsState> = {
    init: (params) =>
      scopedUpdate(() => ({ miniStep: 0, gradientStep: 0, acc: paramsLike('multiSteps', params, (shape) => np.zeros(shape)), inner: inner.init(params) })),
    update: (updates, state, params) =>
      scopedUpdate(() => {
        const s = expectState(op, state, ['miniStep', 'gradientStep', 'acc', 'inner']);
        const counter: unknown = s.miniStep;
        if (typeof counter !== 'number' && !(counter instanceof NDArray)) {
          throw new OptimError(`${op}: the state's miniStep is ${typeof counter}; expected a JS number or an array`);
        }
        const { def, leaves, rest } = align(op, updates, [{ name: 'the state acc', tree: s.acc }]);
        const acc = leaves.map((g, i) => np.add(rest[0]![i] as NDArray, g));
        const mean = () => tree.unflatten(def, useMean ? acc.map((a) => np.divide(a, everyKSteps)) : acc) as typeof updates;
        if (typeof counter === 'number') {
          if (counter + 1 < everyKSteps) {
            return [zerosLikeTree(updates), { miniStep: counter + 1, gradientStep: s.gradientStep, acc: tree.unflatten(def, acc), inner: s.inner }];
          }
          const [u, innerState] = inner.update(mean(), s.inner, params);
          const gradientStep = typeof s.gradientStep === 'number' ? s.gradientStep + 1 : np.add(s.gradientStep, 1);
          return [u, { miniStep: 0, gradientStep, acc: zerosLikeTree(s.acc), inner: innerState }];
        }
        // Array counter (under jit, or a state that has been through jit): compute both branches, select.
        const emit = np.greaterEqual(np.add(counter, 1), everyKSteps);
        const [u, innerState] = inner.update(mean(), s.inner, params);
        return [
          tree.map((x: NDArray) => np.where(emit, x, 0), u) as typeof u,
          {
            miniStep: np.where(emit, 0, np.add(counter, 1)),
            gradientStep: np.add(s.gradientStep, np.where(emit, 1, 0)),
            acc: tree.unflatten(def, acc.map((a) => np.where(emit, 0, a))),
            inner: selectTrees(emit, innerState, s.inner),
          },
        ];
      }),
  };
  return t as unknown as GradientTransformation<MultiStepsKind<S>, N>;
}

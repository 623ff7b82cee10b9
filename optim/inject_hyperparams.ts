// Hyperparameters in the state (Optax's inject_hyperparams): the values live in
// `state.hyperparams` as 0-d arrays, so they can be read (e.g. logged) and changed between steps;
// the ones given as schedules are re-evaluated at every step from the state's count.
import { ConcreteArray, NDArray } from '../src/array.js';
import * as np from '../src/np/index.js';
import { checkSingleValue, scheduledValue } from './checks.js';
import { erased, valueAt, type GradientTransformation, type Schedule, type ScalarOrSchedule, type StateAt, type StateKind } from './base.js';
import { OptimError, describe, expectState, expectTransformation, increment, scopedUpdate, zeroCount, type Scalar } from './tree_utils.js';

/** State of `injectHyperparams`: the step count, the current hyperparameter values and the inner state. */
export interface InjectHyperparamsState<K extends string = string, Inner = unknown> {
  count: NDArray;
  /**
   * Current values; replace one (with a number or a 0-d array) to change it from the next step on.
   * The array it held is then no longer part of the state: `dispose` it first, or it stays alive.
   */
  hyperparams: Record<K, Scalar>;
  inner: Inner;
}

/** The state kind of `injectHyperparams`: the inner state is that of the transformations the factory makes. */
export interface InjectHyperparamsKind<K extends string, S> extends StateKind {
  readonly state: InjectHyperparamsState<K, StateAt<S, this['params']>>;
}

function asScalarArray(v: Scalar): NDArray {
  return v instanceof NDArray ? (v.dtype === 'float32' ? v : np.astype(v, 'float32')) : np.array(v, 'float32');
}

/** A 0-d float32 array the state owns: never the caller's own array (freeing the state must not free it). */
function ownedScalarArray(v: Scalar): NDArray {
  return v instanceof NDArray && v.dtype === 'float32' ? np.copy(v) : asScalarArray(v);
}

/**
 * Builds the optimizer from hyperparameters kept in its state. Numbers and arrays are stored as
 * given (and may be changed in the state between steps); schedules are evaluated at every step.
 * The factory receives 0-d arrays at init and update, and plain numbers once, at construction, to
 * validate them (hence its `Scalar` argument type: compute with np functions, which take both); a
 * value traced there (built inside jit or vmap) is passed as the array itself.
 * @example
 * const opt = injectHyperparams((h) => adam(h.learningRate, { b1: h.b1 }), { learningRate: 1e-3, b1: 0.9 });
 * let state = opt.init(params);
 * state.hyperparams.learningRate = 1e-4; // later steps use the new rate
 */
export function injectHyperparams<K extends string, S, N extends boolean = boolean>(
  typedFactory: (hyperparams: Record<K, Scalar>) => GradientTransformation<S, N>,
  hyperparams: Record<K, ScalarOrSchedule>,
): GradientTransformation<InjectHyperparamsKind<K, S>, N> {
  const factory = (h: Record<K, Scalar>) => erased(typedFactory(h));
  const op = 'injectHyperparams';
  if (typeof typedFactory !== 'function') throw new OptimError(`${op}: expected a factory function (hyperparams) => transformation, got ${describe(typedFactory)}`);
  if (typeof hyperparams !== 'object' || hyperparams === null || Array.isArray(hyperparams) || hyperparams instanceof NDArray) {
    // (Optax's form is curried, inject_hyperparams(adam)(learning_rate=…); here both go in one call.)
    throw new OptimError(`${op}: expected (factory, hyperparams) with hyperparams an object of numbers, arrays or schedules, e.g. injectHyperparams((h) => adam(h.lr), { lr: 1e-3 }); got ${describe(hyperparams)} as hyperparams`);
  }
  const keys = Object.keys(hyperparams) as K[];
  for (const k of keys) {
    const v: unknown = hyperparams[k];
    if (typeof v !== 'number' && typeof v !== 'function' && !(v instanceof NDArray)) {
      throw new OptimError(`${op}: hyperparameter '${k}' must be a number, an array or a schedule, got ${describe(v)}`);
    }
    checkSingleValue(op, `hyperparameter '${k}'`, v);
  }
  // Validate numeric values through the factory's own checks (e.g. a negative learning rate): those
  // check plain numbers only (an array may be traced), so this call passes numbers (schedules at step 0).
  // A traced value (built inside jit or vmap, as Optax allows) cannot be read: it is passed as the
  // array it is, which those checks trust.
  const initial = {} as Record<K, Scalar>;
  for (const k of keys) {
    initial[k] = scopedUpdate(() => {
      const given = hyperparams[k];
      const v = typeof given === 'function' ? scheduledValue(op, `the schedule of '${k}'`, given as Schedule, 0) : valueAt(given, 0);
      return v instanceof NDArray && !(v instanceof ConcreteArray) ? v : Number(np.asArray(v).item());
    });
  }
  expectTransformation(op, 'what the factory returns', factory(initial));

  const current = (state: InjectHyperparamsState<K>, count: NDArray): Record<K, NDArray> => {
    const hp = {} as Record<K, NDArray>;
    for (const k of keys) {
      const given = hyperparams[k];
      if (typeof given === 'function') {
        hp[k] = asScalarArray(scheduledValue(op, `the schedule of '${k}'`, given as Schedule, count));
      } else {
        if (!Object.hasOwn(state.hyperparams, k)) throw new OptimError(`${op}: the state has no hyperparameter '${k}'`);
        const v: unknown = state.hyperparams[k];
        if (typeof v !== 'number' && !(v instanceof NDArray)) throw new OptimError(`${op}: state.hyperparams.${k} must be a number or a 0-d array, got ${describe(v)}`);
        checkSingleValue(op, `state.hyperparams.${k}`, v);
        hp[k] = asScalarArray(v);
      }
    }
    return hp;
  };

  const t: GradientTransformation<InjectHyperparamsState<K>> = {
    init: (params) =>
      scopedUpdate(() => {
        const count = zeroCount();
        const hp = {} as Record<K, NDArray>;
        for (const k of keys) hp[k] = ownedScalarArray(valueAt(hyperparams[k], count));
        return { count, hyperparams: hp, inner: factory(hp).init(params) };
      }),
    update: (updates, state, params) =>
      scopedUpdate(() => {
        const s = expectState(op, state, ['count', 'hyperparams', 'inner']);
        const hp = current(s, s.count);
        const [u, inner] = factory(hp).update(updates, s.inner, params);
        return [u, { count: increment(s.count), hyperparams: hp, inner }];
      }),
  };
  return t as unknown as GradientTransformation<InjectHyperparamsKind<K, S>, N>;
}

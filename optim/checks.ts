// Hyperparameter validation. Numbers are checked when a transformation is built; arrays (injected
// hyperparameters) are not read back, so their values are trusted, but they must be 0-d: a [2]
// learning rate would broadcast silently over the last axis of every leaf, and even a [1] or [1, 1]
// one turns a scalar leaf's update into a [1] or [1, 1] one (and a [3] leaf's into [1, 3]).
import * as tf from '@tensorflow/tfjs-core';
import { NDArray } from '../src/array.js';
import { ConcretizationError } from '../src/errors.js';
import { OptimError } from './tree_utils.js';

function fail(op: string, name: string, want: string, got: unknown): never {
  throw new OptimError(`${op}: ${name} must be ${want}, got ${typeof got === 'number' ? String(got) : typeof got}`);
}

/**
 * An array hyperparameter holds a single value as a 0-d array (its shape is known under jit too). A
 * [1] array is refused as well: it broadcasts, so leaves of lower rank would change shape.
 */
export function checkSingleValue(op: string, name: string, v: unknown): void {
  if (v instanceof NDArray && v.ndim !== 0) {
    const hint = v.size === 1 ? ' (reshape it: np.reshape(x, []))' : '';
    throw new OptimError(`${op}: ${name} must be a single value (a 0-d array), got shape [${v.shape.join(', ')}]${hint}`);
  }
}

/**
 * A schedule's value at `count`, refused unless a single value (`what`: the schedule's name in the
 * message). A schedule written with JS math (`Math.cos(count)`, `count < k`) reads the count as a
 * number, which works eagerly; under jit or vmap the count is traced and item()'s ConcretizationError
 * named neither the optimizer nor the schedule: it is rethrown saying which schedule and what to write.
 */
export function scheduledValue<C, V>(op: string, what: string, schedule: (count: C) => V, count: C): V {
  let v: V;
  try {
    v = schedule(count);
  } catch (e) {
    if (!(e instanceof ConcretizationError)) throw e;
    const name = schedule.name ? ` (${schedule.name})` : '';
    throw new ConcretizationError(
      `${op}: ${what}${name} reads the step count as a JS number (JS math such as Math.cos(count), Number(count) or count < k), but under jit or vmap the count is traced; ` +
        `write the schedule with np functions (np.cos(count), np.where(np.less(count, k), a, b)), which take numbers and arrays alike, as optim.schedules' do. (${e.message})`,
    );
  }
  checkScheduledValue(op, what, v, count);
  return v;
}

/**
 * Refuses a schedule's value `v` at `count` unless a single value. A JS number must be finite: a NaN
 * or infinite rate would turn every parameter into NaN at this step with no error. (An array value
 * is not read back, as for injected hyperparameters; a tf.Tensor is taken as an array, as before.)
 */
export function checkScheduledValue(op: string, what: string, v: unknown, count: unknown): void {
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new OptimError(`${op}: the value ${what} gave at step ${stepOf(count)} must be a finite number, got ${v}`);
  } else if (!(v instanceof NDArray) && !(v instanceof tf.Tensor)) {
    throw new OptimError(`${op}: the value ${what} gave at step ${stepOf(count)} must be a number or a 0-d array, got ${v === null ? 'null' : typeof v}`);
  }
  checkSingleValue(op, `the value ${what} gave`, v);
}

/** The step a schedule was asked about, for messages (a traced count under jit has no value to show). */
function stepOf(count: unknown): string {
  if (typeof count === 'number') return String(count);
  const c = count instanceof NDArray ? count.concreteValue() : null;
  return c !== null && c.size === 1 ? String(c.item()) : '(traced)';
}

function checkType(op: string, name: string, v: unknown, allowFunction: boolean): v is number {
  if (typeof v === 'number') return true;
  if (v instanceof NDArray) {
    checkSingleValue(op, name, v);
    return false;
  }
  if (allowFunction && typeof v === 'function') return false;
  return fail(op, name, allowFunction ? 'a number, an array or a schedule' : 'a number or an array', v);
}

/** A finite number ≥ 0 (learning rates, weight decay, epsilons, clipping bounds). */
export function checkNonNegative(op: string, name: string, v: unknown, allowFunction = false): void {
  if (checkType(op, name, v, allowFunction) && !(Number.isFinite(v) && v >= 0)) fail(op, name, 'a finite number ≥ 0', v);
}

/** A finite number > 0. */
export function checkPositive(op: string, name: string, v: unknown): void {
  if (checkType(op, name, v, false) && !(Number.isFinite(v) && v > 0)) fail(op, name, 'a finite number > 0', v);
}

/** A decay rate in [0, 1) (β₁, β₂, momentum, EMA decays). */
export function checkDecay(op: string, name: string, v: unknown): void {
  if (checkType(op, name, v, false) && !(v >= 0 && v < 1)) fail(op, name, 'in [0, 1)', v);
}

/** A rate in (0, 1] (Adafactor's decay rate). */
export function checkUnitRate(op: string, name: string, v: unknown): void {
  if (checkType(op, name, v, false) && !(v > 0 && v <= 1)) fail(op, name, 'in (0, 1]', v);
}

/** Any finite number (scales may be negative). */
export function checkFinite(op: string, name: string, v: unknown): void {
  if (checkType(op, name, v, false) && !Number.isFinite(v)) fail(op, name, 'finite', v);
}

/** An integer ≥ min. */
export function checkInteger(op: string, name: string, v: unknown, min: number): void {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) fail(op, name, `an integer ≥ ${min}`, v);
}

/** A learning rate: a number ≥ 0, an array or a schedule. */
export function checkLearningRate(op: string, lr: unknown): void {
  checkNonNegative(op, 'learningRate', lr, true);
}

// Hyperparameter validation. Numbers are checked when a transformation is built; arrays (injected
// hyperparameters) are not read back, so they are trusted.
import { NDArray } from '../src/array.js';
import { OptimError } from './tree_utils.js';

function fail(op: string, name: string, want: string, got: unknown): never {
  throw new OptimError(`${op}: ${name} must be ${want}, got ${typeof got === 'number' ? String(got) : typeof got}`);
}

function checkType(op: string, name: string, v: unknown, allowFunction: boolean): v is number {
  if (typeof v === 'number') return true;
  if (v instanceof NDArray || (allowFunction && typeof v === 'function')) return false;
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

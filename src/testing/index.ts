// gradus/testing: tools for testing code written with gradus (and gradus itself).
//
// - `checkGrads(f, args, { order, modes })`: forward and reverse mode against central finite
//   differences in random directions, at any order (JAX's `check_grads`).
// - fast-check arbitraries: `arbShape`, `arbArray`, `arbBroadcastShapes`, `arbIncompatibleShapes`,
//   `arbTree`, generating plain descriptions (`ArrayData`) that become arrays inside a property.
// - `reference`: a small float64 NumPy in plain JS to compare ops against.
//
// This entry uses `fast-check`, which is installed with gradus.
export { checkGrads, checkJvp, checkVjp, numericalJvp, GradCheckError, type CheckGradsOptions, type GradMode } from './check_grads.js';
export {
  ArrayData,
  arbArray,
  arbBroadcastShapes,
  arbIncompatibleShapes,
  arbScalar,
  arbShape,
  arbTree,
  toArrays,
  type ArrayConstraints,
  type BroadcastConstraints,
  type ShapeConstraints,
  type TreeConstraints,
} from './arbitraries.js';
export * as reference from './reference.js';
export { Rng } from './rng.js';

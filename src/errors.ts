// Errors gradus raises. Each names the operation, what it got and what it expected, so a user at
// a REPL can fix the call without reading gradus's source.

/** Base class of every error gradus raises on purpose. */
export class GradusError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** Shapes that do not fit the operation (broadcasting, matmul dimensions, axes out of range). */
export class ShapeError extends GradusError {}

/** Dtypes the operation does not accept (e.g. `grad` of an int32 input, `sin` of a bool array). */
export class DTypeError extends GradusError {}

/**
 * A traced (abstract) value was used where a concrete one is needed: JS control flow on an array
 * inside `jit` or `vmap`, `.item()` under tracing, a shape that depends on data.
 */
export class ConcretizationError extends GradusError {}

/** A transformation was used the wrong way (non-scalar output for `grad`, bad `argnums`, ...). */
export class TransformError extends GradusError {}

/** A value traced by a transformation that has already returned was used outside it (JAX's UnexpectedTracerError). */
export class UnexpectedTracerError extends TransformError {}

/** An array was used after gradus freed it (it was an intermediate of a finished transformation). */
export class DisposedError extends GradusError {}

/** An argument of the right type and shape whose value the operation cannot take (NaN bounds, a probability above 1), as NumPy's ValueError. */
export class ValueError extends GradusError {}

/** A linear-algebra operation that has no result for its input (a singular matrix for inv or solve), as NumPy's LinAlgError. */
export class LinAlgError extends GradusError {}

/**
 * A tree that does not have the structure the operation needs: trees that must match differ (the
 * message names the first differing path), a path that is not in the tree, a cycle, leaves that do
 * not fit a structure, or a class registered as a tree node the wrong way.
 */
export class TreeError extends GradusError {}

/**
 * `noun` with its indefinite article, for messages that name a value's class: "an Int32Array",
 * "a Float32Array", "a Uint8Array" (a leading U reads "you"; names are class names, not words in general).
 */
export function withArticle(noun: string): string {
  return `${/^[aeio]/i.test(noun) ? 'an' : 'a'} ${noun}`;
}

/** Formats a shape the way error messages print it: `[2,3]`. */
export function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

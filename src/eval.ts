// The eval interpreter's per-primitive step: check shapes and dtypes, run the kernel freeing its
// temporaries at once (as a TF.js tidy would), wrap the results as concrete arrays.
import * as tf from '@tensorflow/tfjs-core';
import { ConcreteArray, type NDArray } from './array.js';
import { ShapedArray, singleValueAval } from './aval.js';
import { evalJaxprHook } from './eval_hooks.js';
import { kernels } from './kernels.js';
import { DisposedError, GradusError } from './errors.js';
import { BROADCASTING_PRIMITIVES, PROGRAM_PRIMITIVES, type ParamsOf, type Primitive } from './primitives.js';
import { shapeRules } from './shape_rules.js';
import { MAX_ARRAY_SIZE, checkArraySize, shapesEqual } from './shape.js';
import { runFreeingTemporaries } from './scope.js';

/**
 * The avals of `prim`'s outputs, or a ShapeError naming the primitive when one has more elements
 * than any array may hold. Every interpreter passes here before an output exists (eager ops below,
 * the tracers of jit, vmap, grad and partial evaluation), so no kernel or executor is asked for a
 * result past int32: wasm fails inside with "memory access out of bounds" and is left broken for
 * every later op of the process. (np checks its own results, but a transformation adds dimensions
 * below np: vmap's batch axis, scan's stacked outputs.)
 */
export function abstractEval<P extends Primitive>(prim: P, avals: ShapedArray[], params: ParamsOf<P>): ShapedArray[] {
  const outs = shapeRules[prim](avals, params);
  for (let i = 0; i < outs.length; i++) checkOutputSize(prim, outs[i]!, outs[i]!.size);
  return outs;
}

/** The error for an output aval of `prim` with `size` elements past MAX_ARRAY_SIZE (or NaN). */
function checkOutputSize(prim: Primitive, aval: ShapedArray, size: number): void {
  // (`!(size <= MAX)` also refuses a NaN size, which no shape should reach.)
  if (!(size <= MAX_ARRAY_SIZE)) checkArraySize(prim, aval.shape, Number.isNaN(size) ? Infinity : size);
}

export function evalPrimitive<P extends Primitive>(prim: P, args: ConcreteArray[], params: ParamsOf<P>): NDArray[] {
  // One pass over the operands for both their avals and their tensors (plain loops: this runs for
  // every eager op, and the maps and closures it replaced were a visible share of a small op's cost).
  const n = args.length;
  const avals = new Array<ShapedArray>(n);
  for (let i = 0; i < n; i++) avals[i] = args[i]!.aval;
  // Eagerly np hands broadcasting kernels operands of unequal ranks (elementwise.ts); the shape
  // rule, which transformations need strict, checks them as np's rank alignment would have made them.
  const expected = shapeRules[prim](n === 2 && avals[0]!.ndim !== avals[1]!.ndim && BROADCASTING_PRIMITIVES.has(prim) ? rankAligned(avals) : avals, params);
  if (PROGRAM_PRIMITIVES.has(prim)) {
    // Their executor reads every operand's tensor, whose getter's error names neither the call nor
    // the operand: a freed argument of jit(f), checkpoint(f), a custom rule's function or a scan,
    // whileLoop or cond is refused here as a kernel's operand is, the program's name beside its
    // primitive. (Once per call of a program, not per op inside it.)
    for (let i = 0; i < n; i++) if (args[i]!.isDisposed) throw disposedOperand(programCall(prim, (params as ParamsOf<'jit_call'>).name), i, args[i]!);
    // (A scan's stacked outputs are allocated by its executor, beyond any check inside its body.)
    for (let i = 0; i < expected.length; i++) checkOutputSize(prim, expected[i]!, expected[i]!.size);
    return evalJaxprHook.run(prim, args, params as ParamsOf<'jit_call'>);
  }
  const inputs = new Array<tf.Tensor>(n);
  for (let i = 0; i < n; i++) {
    const a = args[i]!;
    // (The tensor getter's own error knows neither the op nor who freed the array.)
    if (a.isDisposed) throw disposedOperand(prim, i, a);
    inputs[i] = a.tensor;
  }
  // Empty results need no kernel (and wasm kernels crash on some empty operands); results past
  // int32 are refused (abstractEval's check, done here in the same pass over the sizes).
  if (allEmptyOrRefused(prim, expected)) return expected.map((e) => new ConcreteArray(tf.zeros(e.shape as number[], e.dtype)));
  const outs = runFreeingTemporaries(() => kernels[prim](inputs, params));
  const results = new Array<NDArray>(outs.length);
  for (let i = 0; i < outs.length; i++) {
    const t = outs[i]!, want = expected[i];
    // A kernel that disagrees with the shape rule is a backend bug; fail loudly rather than corrupt.
    if (want === undefined || t.dtype !== want.dtype || !shapesEqual(t.shape, want.shape)) {
      const got = `${t.dtype}[${t.shape.join(',')}]`;
      for (const o of outs) o.dispose();
      throw new GradusError(`${prim}: the ${tf.getBackend()} kernel returned ${got} where ${want?.str() ?? 'no output'} was expected (a backend bug; please report it)`);
    }
    // The output matches the shape rule (checked above), so its aval serves as the output's.
    results[i] = new ConcreteArray(t, want);
  }
  return results;
}

/**
 * Whether every one of `avals` has no elements, after refusing any with too many (one size per
 * output, one loop: this runs for every eager op).
 */
function allEmptyOrRefused(prim: Primitive, avals: readonly ShapedArray[]): boolean {
  let empty = true;
  for (let i = 0; i < avals.length; i++) {
    const size = avals[i]!.size;
    checkOutputSize(prim, avals[i]!, size);
    if (size !== 0) empty = false;
  }
  return empty;
}

/** The two avals at the higher rank, leading 1s prepended to the other (what np's rank alignment makes of it). */
function rankAligned(avals: ShapedArray[]): ShapedArray[] {
  // (By index: destructuring the list would run its iterator, per eager op.)
  const a = avals[0]!, b = avals[1]!;
  return a.ndim < b.ndim ? [promoted(a, b.ndim), b] : [a, promoted(b, a.ndim)];
}

// The usual lower-rank operand is 0-d (a JS number or a scalar such as adam's bias correction):
// its (1, …, 1) avals are shared (singleValueAval) rather than made per op.
function promoted(a: ShapedArray, ndim: number): ShapedArray {
  if (a.ndim > 0) return new ShapedArray([...new Array<number>(ndim - a.ndim).fill(1), ...a.shape], a.dtype);
  return singleValueAval(a.dtype, ndim);
}

/** The error for a freed operand `i` of `op` (a primitive, or an np op that hands an operand back without one). */
export function disposedOperand(op: string, i: number, a: ConcreteArray): DisposedError {
  return new DisposedError(
    `${op}: operand ${i} (${a.aval.str()}) was used after it was freed: disposed by the caller (.dispose(), dispose(tree)) ` +
      `or freed by gradus when the scope or transformation that made it returned (keep values by returning them from the scope or transformed function)`,
  );
}

/** A program primitive as errors name it: with its program's name (the function's, or the one given), unless that is the primitive's own. */
function programCall(prim: Primitive, name: string | undefined): string {
  return name && name !== prim ? `${prim} (${name})` : prim;
}

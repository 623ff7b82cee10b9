// The interpreter stack (the design of JAX's Autodidax). Every operation goes through `bind`, which
// finds the innermost transformation whose tracers appear among the arguments and lets its trace
// process the primitive. Level 0 is the eval interpreter, which runs TF.js kernels.
import * as tf from '@tensorflow/tfjs-core';
import { ConcreteArray, NDArray } from './array.js';
import type { ShapedArray } from './aval.js';
import { TransformError, UnexpectedTracerError } from './errors.js';
import { PROGRAM_PRIMITIVES, type ParamsOf, type Primitive } from './primitives.js';
import { abstractEval, evalPrimitive } from './eval.js';

/** A value standing in for an array inside a transformation. Each trace type subclasses it. */
export abstract class Tracer extends NDArray {
  abstract readonly trace: Trace;
  /** The simplest equivalent value: a tracer that carries no information of its own lowers to its contents. */
  fullLower(): NDArray {
    return this;
  }
  /** Adds the TF.js tensors this tracer keeps alive (used by memory scopes to decide what survives). */
  abstract collectTensors(out: Set<tf.Tensor>): void;
}

/**
 * Something a trace may hold outside its tracers (constants recorded into a program). Holders
 * that only grow can report their size and collect just the entries added since a mark, which
 * keeps scopes cheap when a long trace holds many constants.
 */
export interface HoldsTensors {
  collectTensors(out: Set<tf.Tensor>): void;
  size?(): number;
  collectTensorsSince?(mark: number, out: Set<tf.Tensor>): void;
}

export type TraceConstructor = new (main: MainTrace) => Trace;

/** One active transformation: its level on the stack, its trace class and its shared state. */
/** The id the next tensor will get (TF.js's engine counter, read without making a tensor). */
export function upcomingTensorId(): number {
  const counter = (tf.engine().constructor as { nextTensorId?: unknown }).nextTensorId;
  if (typeof counter === 'number') return counter;
  const probe = tf.scalar(0);
  const id = probe.id;
  probe.dispose();
  return id;
}

export class MainTrace {
  /** Tensors with ids from here on were made while this transformation ran. */
  readonly firstTensorId: number = upcomingTensorId();
  constructor(
    readonly level: number,
    readonly traceType: TraceConstructor,
    readonly globalData: unknown,
  ) {}
  /** Values this transformation holds while it runs (not only through its tracers). */
  readonly held: HoldsTensors[] = [];
}

/** An interpreter: how one transformation lifts values and processes primitives. */
export abstract class Trace {
  constructor(readonly main: MainTrace) {}
  /** Wraps a value from a lower level (a concrete array or an outer tracer) as this trace's tracer. */
  abstract lift(val: NDArray): NDArray;
  /** Applies `prim` to operands that all belong to this trace (or are lifted into it). */
  abstract processPrimitive<P extends Primitive>(prim: P, args: NDArray[], params: ParamsOf<P>): NDArray[];
}

/** The eval interpreter: runs the primitive's TF.js kernel on concrete arrays. */
export class EvalTrace extends Trace {
  lift(val: NDArray): NDArray {
    return val;
  }
  processPrimitive<P extends Primitive>(prim: P, args: NDArray[], params: ParamsOf<P>): NDArray[] {
    return evalPrimitive(prim, args as ConcreteArray[], params);
  }
}

const traceStack: MainTrace[] = [new MainTrace(0, EvalTrace, null)];
let dynamicTrace: MainTrace | null = null;

/**
 * The highest transformation level among `values` (0 for plain arrays), or the dynamic trace's if
 * that is higher: what a computation on `values` alone can produce. A custom rule's results above
 * it came from a value the rule closed over.
 */
export function reachableLevel(values: readonly NDArray[]): number {
  let level = dynamicTrace?.level ?? 0;
  for (const v of values) if (v instanceof Tracer && v.trace.main.level > level) level = v.trace.main.level;
  return level;
}

export function currentTraceStack(): readonly MainTrace[] {
  return traceStack;
}

/** Runs `fn` with a new transformation of type `traceType` pushed on the stack. */
export function withNewMain<T>(traceType: TraceConstructor, globalData: unknown, fn: (main: MainTrace) => T): T {
  const main = new MainTrace(traceStack.length, traceType, globalData);
  traceStack.push(main);
  try {
    return fn(main);
  } finally {
    traceStack.pop();
  }
}

/**
 * Runs `fn` with `main` as the dynamic trace: operations on constants (no tracers among their
 * arguments) are then recorded by `main` instead of evaluated (JAX's omnistaging, used by jit).
 */
export function withDynamicTrace<T>(main: MainTrace, fn: () => T): T {
  const prev = dynamicTrace;
  dynamicTrace = main;
  try {
    return fn();
  } finally {
    dynamicTrace = prev;
  }
}

function findTopMain(prim: Primitive, args: readonly NDArray[]): MainTrace {
  let top = traceStack[0]!;
  for (const a of args) {
    if (!(a instanceof Tracer)) continue;
    const main = a.trace.main;
    // A tracer whose transformation has returned would otherwise run that dead interpreter (a
    // jvp tracer even computes, leaking its tensors), or be blamed on the order of live ones.
    if (traceStack[main.level] !== main) throw escapedTracer(a, prim);
    if (main.level > top.level) top = main;
  }
  if (dynamicTrace !== null && dynamicTrace.level > top.level) top = dynamicTrace;
  return top;
}

// The eval interpreter holds no state of its own, so one instance serves every eager bind.
const evalTrace = new EvalTrace(traceStack[0]!);

function traceOf(main: MainTrace): Trace {
  return main === traceStack[0] ? evalTrace : new main.traceType(main);
}

/** Brings `val` into `trace`: lifts lower-level values, rejects tracers that escaped their transformation. */
export function fullRaise(trace: Trace, val: NDArray): NDArray {
  if (!(val instanceof Tracer)) return trace.lift(val);
  const level = val.trace.main.level;
  if (val.trace.main === trace.main) return val;
  if (level < trace.main.level) return trace.lift(val);
  if (traceStack[level] !== val.trace.main) throw escapedTracer(val);
  throw new TransformError(`a tracer from an outer transformation (level ${level}) was mixed with one from level ${trace.main.level} in the wrong order`);
}

function escapedTracer(val: Tracer, prim?: Primitive): TransformError {
  return new UnexpectedTracerError(
    `${prim === undefined ? '' : `${prim}: `}a value traced by a transformation that has already returned (${val.aval.str()}) was used outside it ` +
      `(JAX's UnexpectedTracerError). Return values from the transformed function instead of storing them in outer variables; ` +
      `a pullback or linear function made inside a transformation must be called inside it too.`,
  );
}

export function fullLower(val: NDArray): NDArray {
  return val instanceof Tracer ? val.fullLower() : val;
}

/**
 * Whether `bind` would evaluate a primitive on `args` at once, in the eval interpreter (no dynamic
 * trace, no tracer among them): its eager fast path. The np layer then skips work only a trace
 * needs (rank alignment of broadcasting operands: see elementwise.ts).
 */
export function evaluatesEagerly(args: readonly NDArray[]): boolean {
  if (dynamicTrace !== null) return false;
  for (let i = 0; i < args.length; i++) if (args[i] instanceof Tracer) return false;
  return true;
}

/** Applies a primitive: the one entry point every operation goes through. */
export function bind<P extends Primitive>(prim: P, args: NDArray[], params: ParamsOf<P>): NDArray[] {
  // Eager fast path: with no tracer among the arguments and no dynamic trace, findTopMain picks
  // the eval interpreter, whose lift is the identity and whose kernel results are concrete (their
  // fullLower is themselves), so the lookup, the raise and the lower passes would only allocate.
  // Program primitives replay programs and may return anything: they take the general path.
  if (!PROGRAM_PRIMITIVES.has(prim) && evaluatesEagerly(args)) return evalPrimitive(prim, args as ConcreteArray[], params);
  const main = findTopMain(prim, args);
  const trace = traceOf(main);
  const raised = args.map((a) => fullRaise(trace, a));
  const outs = trace.processPrimitive(prim, raised, params);
  return outs.map(fullLower);
}

/** `bind` for primitives with exactly one output. */
export function bind1<P extends Primitive>(prim: P, args: NDArray[], params: ParamsOf<P>): NDArray {
  return bind(prim, args, params)[0]!;
}

/** Shape and dtype of a primitive's outputs, without running it. */
export function abstractEvalPrimitive<P extends Primitive>(prim: P, avals: ShapedArray[], params: ParamsOf<P>): ShapedArray[] {
  return abstractEval(prim, avals, params);
}

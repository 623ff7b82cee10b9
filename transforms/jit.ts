// jit: trace a function once per input signature (tree structure, shapes, dtypes, static
// arguments), cache the program, and replay it with the compiled executor. Composes with every
// transformation: jit is a primitive (jit_call) whose rules transform its program.
import * as tf from '@tensorflow/tfjs-core';
import { ConcreteArray, type NDArray } from '../src/array.js';
import { Tracer, bind, upcomingTensorId } from '../src/core.js';
import { DisposedError, TransformError } from '../src/errors.js';
import { ClosedJaxpr } from '../src/jaxpr.js';
import { createdByCall, freshResults, pin, scoped } from '../src/scope.js';
import { checkOptions, flattenArrays, flattenWithStaticLeaves, unflatten, type ArraysOf, type Known, type TreeDef } from './api_util.js';
import { traceToJaxpr, type TracedProgram } from './jaxpr_trace.js';
import { nextTensorId } from './transpose.js';
import { treedefIdentical } from '../src/tree.js';

export interface JitOptions {
  /**
   * Positions of arguments that are not arrays (or that select code paths): part of the cache key,
   * by value for numbers, strings, lists and plain objects, by identity for functions and instances.
   */
  staticArgnums?: number | readonly number[];
  /** Name shown in printed programs. */
  name?: string;
}

type AnyFn = (...args: never[]) => unknown;

interface CacheEntry extends TracedProgram {
  /** The structure of the arguments it was traced for (aux data and classes included). */
  argDef: TreeDef;
  outDef: TreeDef;
  /** Constants made while tracing, kept alive by this cache entry. */
  owned: tf.Tensor[];
}

/**
 * How many cache entries (of any jit function) hold each traced constant. A program traced inside
 * another jit's trace replays the inner function's constants too (`outer = jit(x => inner(x))`), so
 * both caches hold them: each `clearCache()` releases its share, and the last one frees the tensor.
 * (Freeing on the inner clear left the outer's cached program replaying disposed arrays.)
 */
const cacheHolders = new Map<tf.Tensor, number>();

function hold(t: tf.Tensor): tf.Tensor {
  cacheHolders.set(t, (cacheHolders.get(t) ?? 0) + 1);
  return t;
}

function release(t: tf.Tensor): void {
  const n = (cacheHolders.get(t) ?? 1) - 1;
  if (n > 0) {
    cacheHolders.set(t, n);
    return;
  }
  cacheHolders.delete(t);
  t.dispose();
}

const objectIds = new WeakMap<object, number>();
// Symbols are keyed by identity too (two with one description are different); kept for the process.
const symbolIds = new Map<symbol, number>();
let nextObjectId = 0;

/**
 * The cache key of a static argument. Lists and plain objects are keyed by value (a config object
 * mutated between calls, or rebuilt equal on every call, must not replay a stale trace or grow the
 * cache); functions, class instances and symbols by identity, and so are objects whose value the
 * key could not capture (symbol-keyed or hidden properties) or that are too large to key by value.
 */
function staticKey(v: unknown): string {
  try {
    return valueKey(v, new Set(), new Map());
  } catch (e) {
    if (e instanceof KeyTooLarge) return identityKey(v as object);
    throw e;
  }
}

class KeyTooLarge {}

/**
 * Longest key kept by value (about 10⁵ numbers); past it, identity. A sub-object shared by several
 * parents is keyed once (memoised), but its key is written out at each appearance, so a deeply
 * shared structure ([d, d] nested 22 times) would otherwise build a key of 2²² parts.
 */
const MAX_VALUE_KEY_LENGTH = 1_000_000;

function identityKey(v: object): string {
  let id = objectIds.get(v);
  if (id === undefined) {
    id = nextObjectId++;
    objectIds.set(v, id);
  }
  return `#${id}`;
}

/** Whether every own property of a plain object or list is an enumerable string key (what the value key reads). */
function keyedByValue(v: object): boolean {
  if (Object.getOwnPropertySymbols(v).length > 0) return false;
  const names = Object.getOwnPropertyNames(v);
  return Array.isArray(v) ? names.length === v.length + 1 /* + length */ && Object.keys(v).length === v.length : names.length === Object.keys(v).length;
}

function valueKey(v: unknown, ancestors: Set<object>, memo: Map<object, string>): string {
  // Typed and exact: JSON.stringify writes NaN, ±Infinity and null all as "null".
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (typeof v === 'number') return `n:${Object.is(v, -0) ? '-0' : String(v)}`;
  if (typeof v === 'string') return `s:${JSON.stringify(v)}`;
  if (typeof v === 'boolean') return `b:${v}`;
  const plain = typeof v === 'object' && (Array.isArray(v) || Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null) && keyedByValue(v);
  if (plain && !ancestors.has(v)) {
    const known = memo.get(v);
    if (known !== undefined) return known;
    ancestors.add(v);
    const key = Array.isArray(v)
      ? `[${v.map((x) => valueKey(x, ancestors, memo)).join(',')}]`
      : `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${valueKey((v as Record<string, unknown>)[k], ancestors, memo)}`).join(',')}}`;
    ancestors.delete(v);
    if (key.length > MAX_VALUE_KEY_LENGTH) throw new KeyTooLarge(); // the whole argument is then keyed by identity
    memo.set(v, key);
    return key;
  }
  if (typeof v === 'object' || typeof v === 'function') return identityKey(v as object);
  if (typeof v === 'symbol') {
    let id = symbolIds.get(v);
    if (id === undefined) {
      id = nextObjectId++;
      symbolIds.set(v, id);
    }
    return `@${id}`;
  }
  return String(v);
}

function splitArgs(op: string, args: unknown[], given: number | readonly number[]) {
  const staticArgnums: readonly unknown[] = typeof given === 'number' ? [given] : Array.isArray(given) ? given : [given];
  for (const i of staticArgnums) {
    if (typeof i !== 'number' || !Number.isInteger(i)) throw new TransformError(`${op}: staticArgnums must be an integer or a list of integers, got ${JSON.stringify(given)}`);
  }
  const statics = new Set((staticArgnums as number[]).map((i) => (i < 0 ? i + args.length : i)));
  for (const i of statics) {
    if (i < 0 || i >= args.length) throw new TransformError(`${op}: staticArgnums entry ${i} is out of range for ${args.length} argument(s)`);
  }
  const dynamic = args.map((a, i) => (statics.has(i) ? null : a));
  const key = args.map((a, i) => (statics.has(i) ? staticKey(a) : '')).join('|');
  return { statics, dynamic, key };
}

function traceCall(op: string, f: AnyFn, args: unknown[], statics: Set<number>, leaves: NDArray[], rebuild: (xs: readonly unknown[]) => unknown): { program: TracedProgram; outDef: TreeDef } {
  let outDef: TreeDef | undefined;
  const program = traceToJaxpr((xs) => {
    const dyn = rebuild(xs) as unknown[];
    const callArgs = args.map((a, i) => (statics.has(i) ? a : dyn[i]));
    const [outs, def] = flattenArrays(op, f(...(callArgs as never[])), 'output');
    outDef = def;
    return outs;
  }, leaves.map((l) => l.aval));
  return { program, outDef: outDef! };
}

/** A jitted f: f's result `R` has its number and boolean leaves as arrays (see `ArraysOf`). */
export interface Jitted<F extends AnyFn, R = ArraysOf<ReturnType<F>>> {
  (...args: Parameters<F>): R;
  /** Forgets traced programs and frees the constants they own. */
  clearCache(): void;
  /** Number of distinct signatures traced so far. */
  readonly cacheSize: number;
}

/**
 * `jit(f)`: the same function, traced once per input signature and replayed as a compiled program
 * (dead code dropped, intermediates freed at their last use). Python-style control flow on array
 * values is not allowed inside (values are abstract while tracing); use `np.where`, or mark the
 * argument as static. Booleans and strings anywhere in the arguments (flags, option objects) are
 * static by themselves: each value gets its own trace, so `flag ? a : b` branches as in eager code.
 * Numbers are traced like arrays, as in JAX.
 */
export function jit<F extends AnyFn>(f: F & Known<ReturnType<F>>, options?: JitOptions): Jitted<F>;
/** In generic code (a result type with type parameters): the result typed as f's. */
export function jit<F extends AnyFn>(f: F, options?: JitOptions): Jitted<F, ReturnType<F>>;
export function jit<F extends AnyFn>(f: F, options: JitOptions = {}): Jitted<F> {
  checkOptions('jit', options, ['staticArgnums', 'name'] satisfies (keyof JitOptions)[]);
  const name = options.name ?? (f.name || 'jit');
  // Keyed by a signature string; the string shows a registered node's class by name only and not
  // its aux data, so each key holds the entries whose argument structures are identical in full.
  const cache = new Map<string, CacheEntry[]>();
  const jitted = ((...args: Parameters<F>) =>
    scoped(() => {
      const { statics, dynamic, key } = splitArgs('jit', args, options.staticArgnums ?? []);
      const { arrays: leaves, def: argDef, key: leafKey, rebuild } = flattenWithStaticLeaves('jit', dynamic);
      const sig = `${argDef}|${leaves.map((l) => l.aval.str()).join(',')}|${key}|${leafKey}`;
      let entry = cache.get(sig)?.find((e) => treedefIdentical(e.argDef, argDef));
      if (entry !== undefined && entry.consts.some((c) => c instanceof ConcreteArray && c.isDisposed)) {
        throw new DisposedError(`jit(${name}): an array the function closed over when it was traced has since been disposed; call clearCache() to retrace, or pass the array as an argument`);
      }
      if (entry === undefined) {
        const firstNew = nextTensorId();
        const { program, outDef } = traceCall('jit', f, args, statics, leaves, rebuild);
        const cacheable = !program.consts.some((c) => c instanceof Tracer);
        // Constants created during tracing belong to a cached entry: keep them past this scope. An
        // entry that closes over a tracer is used once and not cached; its scope frees them.
        // Constants another jit's cache holds (a nested jit's, traced before or during this trace)
        // are held by this entry as well, so clearing either cache leaves the other working.
        const owned = cacheable
          ? program.consts.flatMap((c) => {
              if (!(c instanceof ConcreteArray)) return [];
              if (createdByCall(c.tensor, firstNew)) return [hold(pin(tf.keep(c.tensor)))];
              return cacheHolders.has(c.tensor) ? [hold(c.tensor)] : [];
            })
          : [];
        entry = { ...program, argDef, outDef, owned };
        if (cacheable) cache.set(sig, [...(cache.get(sig) ?? []), entry]);
      }
      const outs = bind('jit_call', [...entry.consts, ...leaves], { jaxpr: entry.jaxpr, numConsts: entry.consts.length, name });
      return unflatten<ArraysOf<ReturnType<F>>>(entry.outDef, outs);
    })) as Jitted<F>;
  jitted.clearCache = () => {
    for (const entries of cache.values()) for (const e of entries) for (const t of e.owned) release(t);
    cache.clear();
  };
  Object.defineProperty(jitted, 'cacheSize', { get: () => [...cache.values()].reduce((n, entries) => n + entries.length, 0) });
  return jitted;
}

/**
 * `makeJaxpr(f)(...args)`: the program `f` traces to on arguments like these, printable with
 * `toString()` (JAX's jaxpr notation). Useful at a REPL to see what a transformation produces.
 * Its constants are its own (an array `f` closes over gets a handle of its own, as results do):
 * `dispose(closed)` frees them and never the caller's arrays.
 */
export function makeJaxpr<F extends AnyFn>(f: F, options: { staticArgnums?: number | readonly number[] } = {}): (...args: Parameters<F>) => ClosedJaxpr {
  return (...args: Parameters<F>) => {
    const firstNewId = upcomingTensorId();
    return scoped(() => {
      const { statics, dynamic } = splitArgs('makeJaxpr', args, options.staticArgnums ?? []);
      const { arrays: leaves, rebuild } = flattenWithStaticLeaves('makeJaxpr', dynamic);
      const { program } = traceCall('makeJaxpr', f, args, statics, leaves, rebuild);
      // As in JAX, the program is shown as traced (jit drops dead equations when it compiles).
      return new ClosedJaxpr(program.jaxpr, freshResults(program.consts, undefined, firstNewId));
    });
  };
}

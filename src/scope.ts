// Memory discipline. TF.js frees memory only on `dispose`, and user functions must never have to
// call it, so gradus frees for them: a scope records every tensor created while it is open and,
// when it closes, disposes all of them except those reachable from the scope's result and those
// held by transformations still running (constants recorded into programs being traced).
import * as tf from '@tensorflow/tfjs-core';
import { ConcreteArray, NDArray } from './array.js';
import { shareTensor } from './kernels.js';
import { Tracer, currentTraceStack, upcomingTensorId, type HoldsTensors } from './core.js';
import * as tree from './tree.js';
import { DisposedError, GradusError } from './errors.js';

let depth = 0;

// Transformations treat the tensors created during their call (id ≥ the call's first new id) as
// theirs to free: residuals, cotangents, recomputed values. A jit cache entry breaks that rule: the
// constants it traced during the call live on in the cache. They are pinned here, so no pass frees
// them and no caller gets them as results it may dispose.
const pinned = new WeakSet<tf.Tensor>();

/** Marks a tensor as owned by a long-lived holder (a jit cache entry); returns it. */
export function pin(t: tf.Tensor): tf.Tensor {
  pinned.add(t);
  return t;
}

/** Whether `t` was created during a call that began at tensor id `firstNewId`, and belongs to it (is not pinned). */
export function createdByCall(t: tf.Tensor, firstNewId: number): boolean {
  return t.id >= firstNewId && !pinned.has(t);
}

/** How many gradus scopes are open (0 at the top level of user code). */
export function scopeDepth(): number {
  return depth;
}

/** Something that can report the tensors it keeps alive (programs, pullbacks, residual holders). */
export interface TensorHolder {
  collectTensors(out: Set<tf.Tensor>): void;
}

function isHolder(x: object): x is TensorHolder {
  return typeof (x as Partial<TensorHolder>).collectTensors === 'function';
}

/**
 * A value that is no tree node but owns arrays, which are the caller's with it (a ClosedJaxpr and its
 * constants): a scope returning it keeps them alive, and `dispose` of it frees them.
 */
export interface OwnsArrays {
  ownedArrays(): readonly NDArray[];
}

function ownsArrays(x: object): x is OwnsArrays {
  return typeof (x as Partial<OwnsArrays>).ownedArrays === 'function';
}

/**
 * Adds every tensor reachable from `value` (arrays, tracers, tensors, holders, owners of arrays, nested containers).
 * With `throughTracers` false, tracers and holders are passed over: what a transformation holds
 * behind a tracer (a vmapped argument's stacked array, say) is not the caller's to free.
 */
export function collectTensors(value: unknown, out: Set<tf.Tensor>, throughTracers = true): void {
  if (value === null || value === undefined || typeof value !== 'object') return;
  if (value instanceof tf.Tensor) {
    if (!value.isDisposed) out.add(value);
  } else if (value instanceof ConcreteArray) {
    if (!value.isDisposed) out.add(value.tensor);
  } else if (ownsArrays(value)) {
    for (const v of value.ownedArrays()) collectTensors(v, out, throughTracers);
  } else if (value instanceof Tracer || isHolder(value)) {
    if (throughTracers) value.collectTensors(out);
  } else if (Array.isArray(value)) {
    for (const v of value) collectTensors(v, out, throughTracers);
  } else if (Object.getPrototypeOf(value) === Object.prototype || Object.getPrototypeOf(value) === null) {
    for (const v of Object.values(value)) collectTensors(v, out, throughTracers);
  } else if (ArrayBuffer.isView(value)) {
    return;
  } else {
    // Instances of classes registered as pytree nodes hold arrays too.
    const leaves = tree.leaves(value);
    if (!(leaves.length === 1 && leaves[0] === value)) for (const v of leaves) collectTensors(v, out, throughTracers);
  }
}

type Marks = Map<HoldsTensors, number>;

function markHeld(): Marks | undefined {
  let marks: Marks | undefined;
  for (const main of currentTraceStack()) for (const h of main.held) if (h.size) (marks ??= new Map()).set(h, h.size());
  return marks;
}

/** Tensors held by running transformations; for growing holders, only what was added since `marks`. */
function collectHeld(out: Set<tf.Tensor>, marks?: Marks): void {
  for (const main of currentTraceStack()) {
    for (const h of main.held) {
      const m = marks?.get(h);
      if (m !== undefined && h.collectTensorsSince) h.collectTensorsSince(m, out);
      else h.collectTensors(out);
    }
  }
}

/**
 * Runs `fn` in a scope: tensors it creates are freed when it returns, except those reachable from
 * `keep(result)` (by default the result itself). On an exception everything it created is freed.
 */
export function scoped<T>(fn: () => T, keep: (result: T) => unknown = (r) => r): T {
  const engine = tf.engine();
  const marks = markHeld();
  engine.startScope('gradus');
  depth++;
  let result: T;
  try {
    result = fn();
  } catch (e) {
    const held = new Set<tf.Tensor>();
    collectHeld(held, marks);
    depth--;
    engine.endScope([...held]);
    throw e;
  }
  const kept = new Set<tf.Tensor>();
  try {
    collectTensors(keep(result), kept);
    collectHeld(kept, marks);
  } finally {
    depth--;
    engine.endScope([...kept]);
  }
  return result;
}

/** The parts of TF.js's engine that closing a scope by hand touches (TF.js 4's scope bookkeeping). */
interface EngineInternals {
  state: { activeScope: { track: tf.Tensor[]; id: number } | null; scopeStack: { track: tf.Tensor[]; id: number }[] };
  startScope(name: string): void;
  endScope(result: tf.TensorContainer): void;
  track(t: tf.Tensor): void;
}

/**
 * A public op called at the top level of user code (no gradus scope open, no transformation
 * running): `fn` runs in a scope that frees its intermediates, and the result belongs to the
 * caller (`freshResults` from the call's first tensor id): what `freshResults(scoped(fn), undefined,
 * firstNewId)` does. The usual result, one array, takes a short path (no keep set, no container
 * walk, no id set): this runs once per eager op, so its bookkeeping is per-op overhead.
 */
export function scopedTopLevel<T>(fn: () => T): T {
  const firstNewId = upcomingTensorId();
  const base = currentTraceStack()[0]!;
  if (base.held.length > 0) return freshResults(scoped(fn), undefined, firstNewId);
  const engine = tf.engine() as unknown as EngineInternals;
  engine.startScope('gradus');
  const opened = engine.state.activeScope!;
  depth++;
  let result: T;
  try {
    result = fn();
  } catch (e) {
    depth--;
    engine.endScope([]);
    throw e;
  }
  depth--;
  if (!(result instanceof ConcreteArray)) {
    const kept = new Set<tf.Tensor>();
    try {
      collectTensors(result, kept);
    } finally {
      engine.endScope([...kept]);
    }
    return freshResults(result, undefined, firstNewId);
  }
  if (result.isDisposed) {
    engine.endScope([]);
    return result;
  }
  const t = result.tensor;
  const state = engine.state;
  if (state.activeScope === opened) {
    // What endScope(t) does, without its container walk and id set: free what the op made
    // besides t (a constant from a JS number, a reshape), pop the scope, list t in the parent's.
    const track = opened.track;
    for (let i = 0; i < track.length; i++) if (track[i] !== t && !track[i]!.kept) track[i]!.dispose();
    state.scopeStack.pop();
    state.activeScope = state.scopeStack.length === 0 ? null : state.scopeStack[state.scopeStack.length - 1]!;
    if (!t.kept && t.scopeId === opened.id) engine.track(t);
  } else {
    engine.endScope(t);
  }
  return (createdByCall(t, firstNewId) ? result : share(result)) as T;
}

/**
 * Runs `fn` at the top level of user code the way transformations run theirs: intermediates are
 * freed, the result is kept. Inside a transformation it runs `fn` in a nested scope with the same
 * rule (the transformation's own scope frees the rest). Use it around eager helper code and training steps.
 */
export function scope<T>(fn: () => T): T {
  const eager = currentTraceStack().length === 1;
  const firstNewId = eager ? upcomingTensorId() : 0;
  return scoped(() => {
    const result = fn();
    // The scope closes when fn returns, before an async fn's work is done: what it resolves to would be freed.
    if (typeof (result as { then?: unknown } | null)?.then === 'function') {
      throw new GradusError('scope: the function returned a Promise (an async function?); scope frees what the function made when it returns, before the promise settles. Await outside the scope and pass a synchronous function');
    }
    // Eager results belong to the caller, as those of top-level ops and jit do: an array from before
    // the scope (a no-op reshape or astype of an argument, the argument itself) gets its own handle,
    // so disposing the result cannot free the original, nor disposing the original the result.
    return eager ? freshResults(result, undefined, firstNewId, 'scope') : result;
  });
}

/**
 * Results are new arrays owned by the caller. Each live concrete array in `result` (inside lists,
 * plain objects and registered tree nodes) that the caller would not own outright is replaced by a
 * new handle on the same data (a zero-copy reshape): one whose tensor is among `inputs` (a function
 * returning its argument, or a value the transformation still holds), one made before tensor id
 * `firstNewId` or pinned by a jit cache (an argument, a closed-over array, a cached constant), and
 * one repeating an earlier leaf. So disposing a result never frees an argument, a closed-over or
 * cached array, or another result. Containers with nothing replaced are returned as they are.
 * (The one helper for scope, top-level np ops and the transformations' public entry points.)
 *
 * With `op` (a transformation's or scope's name), a freed array in `result` is a DisposedError
 * naming `op` and the leaf's path: the function returned an array it had disposed (or one an inner
 * scope freed), and handing it back would only move the failure to the caller's next use of it,
 * which knows neither. (JAX raises on a deleted array too.) It is found by the walk that copies the
 * results, so it costs nothing more; callers run this inside `scoped`, whose exception path frees
 * what the call made (the shares made before the freed leaf was reached too). Without `op` (np's
 * ops, whose defop names them itself) a freed leaf is passed through.
 */
export function freshResults<T>(result: T, inputs?: unknown, firstNewId = -Infinity, op?: string): T {
  // Most results are one array made by the call: answer without building any set.
  if (result instanceof ConcreteArray && inputs === undefined) {
    if (result.isDisposed) {
      if (op !== undefined) throw freedResult(op, result, result);
      return result;
    }
    return (createdByCall(result.tensor, firstNewId) ? result : share(result)) as T;
  }
  const taken = new Set<tf.Tensor>();
  if (inputs !== undefined) collectTensors(inputs, taken, false);
  return ownLeaves(result, taken, firstNewId, op === undefined ? undefined : { op, root: result });
}

/** The DisposedError for a freed array `freed` in the result `root` of `op`, with its path. */
function freedResult(op: string, root: unknown, freed: ConcreteArray): DisposedError {
  const entry = tree.flattenWithPath(root)[0].find(([, leaf]) => leaf === freed);
  const at = entry === undefined || entry[0].length === 0 ? '(root)' : tree.keystr(entry[0]);
  return new DisposedError(
    `${op}: the result leaf at ${at} (${freed.aval.str()}) was freed before ${op} returned it: ` +
      `disposed inside the function (.dispose(), dispose(tree)) or freed by a scope or transformation ` +
      `inside it when that returned; return live arrays (dispose them after the call instead)`,
  );
}

const share = (a: ConcreteArray): ConcreteArray => new ConcreteArray(shareTensor(a.tensor), a.aval);

/** Where freshResults refuses a freed leaf: the op to name and the whole result (for the leaf's path). */
interface RefuseFreed {
  op: string;
  root: unknown;
}

function ownLeaves<T>(r: T, taken: Set<tf.Tensor>, firstNewId: number, refuse: RefuseFreed | undefined): T {
  if (r === null || typeof r !== 'object') return r;
  if (r instanceof ConcreteArray) {
    if (r.isDisposed) {
      if (refuse !== undefined) throw freedResult(refuse.op, refuse.root, r);
      return r;
    }
    if (taken.has(r.tensor) || !createdByCall(r.tensor, firstNewId)) return share(r) as T;
    taken.add(r.tensor);
    return r;
  }
  if (r instanceof NDArray || ArrayBuffer.isView(r)) return r;
  if (Array.isArray(r)) {
    const out = r.map((v: unknown) => ownLeaves(v, taken, firstNewId, refuse));
    return (out.every((v, i) => v === r[i]) ? r : out) as T;
  }
  const proto = Object.getPrototypeOf(r) as object | null;
  if (proto === Object.prototype || proto === null) {
    const entries = Object.entries(r).map(([k, v]) => [k, ownLeaves(v, taken, firstNewId, refuse)] as const);
    return (entries.every(([k, v]) => v === (r as Record<string, unknown>)[k]) ? r : Object.fromEntries(entries)) as T;
  }
  // Another object: a registered tree node (rebuilt only if one of its leaves is replaced) or a leaf.
  const [leaves, def] = tree.flatten(r);
  if (leaves.length === 1 && leaves[0] === r) return r;
  const out = leaves.map((v) => ownLeaves(v, taken, firstNewId, refuse));
  return (out.every((v, i) => v === leaves[i]) ? r : tree.unflatten(def, out)) as T;
}

/**
 * A DisposedError if a leaf of a transformation's arguments (`leaves`, flattened from `value` in
 * tree order) is a freed array: refused on entry, naming `op`, the leaf's path in `value` and what
 * it is (`what`: 'argument', 'primal', 'tangent', 'operand'), as jit refuses a freed argument.
 * Otherwise it would be traced and handed back (vmap(a => a)(freed)), failing at the caller's next
 * use, far away. One test per leaf; the path is looked up only for the error. With `argnums`,
 * `value` lists the arguments at those positions, and paths start with the argument's position.
 */
export function refuseFreedLeaves(op: string, value: unknown, leaves: readonly unknown[], what: string, argnums?: readonly number[]): void {
  for (let i = 0; i < leaves.length; i++) {
    const a = leaves[i];
    if (!(a instanceof ConcreteArray) || !a.isDisposed) continue;
    let path = tree.flattenWithPath(value)[0][i]?.[0] ?? [];
    if (argnums !== undefined && path.length > 0) path = [argnums[path[0] as number]!, ...path.slice(1)];
    throw new DisposedError(
      `${op}: the ${what} leaf at ${path.length === 0 ? '(root)' : tree.keystr(path)} (${a.aval.str()}) was used after it was freed: ` +
        `disposed by the caller (.dispose(), dispose(tree)) or freed by gradus when the scope or transformation that made it returned ` +
        `(keep values by returning them from the scope or transformed function)`,
    );
  }
}

/**
 * Frees every array in a tree now, except those also reachable from `keep` (e.g. the new state).
 * Tracers are passed over (inside a transformation, what they stand for is not the caller's). And
 * inside a transformation's trace, arrays made during it that do not depend on the traced inputs
 * (zeros made by an optimizer's init, a frozen layer's zero update) are constants of the program
 * being built: those are spared, and the transformation frees them when it is done with them.
 * (An array made before the transformation began is freed as asked, constant or not.)
 */
export function dispose(tree: unknown, options: { keep?: unknown } = {}): void {
  const victims = new Set<tf.Tensor>();
  collectTensors(tree, victims, false);
  if (options.keep !== undefined) {
    const keep = new Set<tf.Tensor>();
    collectTensors(options.keep, keep);
    for (const t of keep) victims.delete(t);
  }
  const stack = currentTraceStack();
  if (victims.size > 0 && stack.length > 1) {
    const held = new Set<tf.Tensor>();
    collectHeld(held);
    const start = stack[1]!.firstTensorId;
    for (const t of held) if (t.id >= start) victims.delete(t);
  }
  for (const t of victims) if (!pinned.has(t)) t.dispose();
}

/**
 * A TF.js scope lists every tensor made while it is open, freed or not, until it closes, so a loop
 * that frees as it goes (scan, whileLoop) would hold one dead tensor object per step until then
 * (a carry-only scan of 10⁶ steps: ~375 MB of host memory). The returned function, called once
 * per step, drops the freed ones from the innermost scope's list when the list has doubled since
 * its last pass: constant time per step on average, and a list bounded by twice what is alive.
 * (Dropping a freed tensor changes nothing else: closing the scope would only dispose it again.)
 */
export function forgetFreedTensorsPerStep(): () => void {
  const engine = tf.engine();
  let threshold = 1024;
  return () => {
    const track = engine.state.activeScope?.track;
    if (track === undefined || track.length < threshold) return;
    let alive = 0;
    for (const t of track) if (!t.isDisposed) track[alive++] = t;
    track.length = alive;
    threshold = 2 * alive + 1024;
  };
}

/**
 * Runs a kernel and frees the tensors it made besides its outputs, as `tf.tidy` does. Inside an
 * open TF.js scope (every gradus scope is one) the kernel's tensors are the tail of that scope's
 * track list, so they are found there without opening a scope of its own: a tidy per primitive
 * (a scope object, two container walks) was a fifth of the eager cost of a small op. Kernels
 * never compact the list (only program primitives' loops do, and they do not come here); this
 * function compacts only the kernel's own tail. Used by the eval interpreter and by jit's executor
 * for every kernel step.
 */
export function runFreeingTemporaries(kernel: () => tf.Tensor[]): tf.Tensor[] {
  const track = (tf.engine().state as { activeScope?: { track: tf.Tensor[] } | null }).activeScope?.track;
  if (track === undefined) return tf.tidy(kernel);
  const start = track.length;
  let outs: tf.Tensor[];
  try {
    outs = kernel();
  } catch (e) {
    for (let i = start; i < track.length; i++) if (!track[i]!.kept) track[i]!.dispose();
    track.length = start;
    throw e;
  }
  // Only the outputs stay on the list, as a tidy would leave them: the freed temporaries would
  // otherwise stay listed until the scope closes (a long eager loop in one scope held 2-3x more).
  let kept = start;
  for (let i = start; i < track.length; i++) {
    const t = track[i]!;
    if (outs.includes(t)) track[kept++] = t;
    else if (!t.kept && !t.isDisposed) t.dispose();
  }
  track.length = kept;
  return outs;
}

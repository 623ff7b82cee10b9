// Rematerialisation (algorithms.md §5): checkpoint(f) keeps only f's inputs (and what the policy
// saves) for the backward pass, which re-runs f. Wrap each block of a deep network — wrapping the
// whole model saves nothing, since recomputing it materialises every activation again.
import type { ArrayLike, NDArray } from '../src/array.js';
import { bind, bind1 } from '../src/core.js';
import { nothingSaveable, type CheckpointPolicy } from '../src/checkpoint_policy.js';
import { ShapeError, TransformError } from '../src/errors.js';
import { asArray } from '../src/np/convert.js';
import { checkOptions, flattenArrays, flattenWithStaticLeaves, unflatten, type Known, type WithArrayOutputs } from './api_util.js';
import { scoped } from '../src/scope.js';
import { traceToJaxpr } from './jaxpr_trace.js';

export { nothingSaveable, everythingSaveable, dotsSaveable, saveOnlyTheseNames, type CheckpointPolicy } from '../src/checkpoint_policy.js';

export interface CheckpointOptions {
  /**
   * What the forward pass may keep (default: nothing but the inputs). Inside another checkpoint the
   * enclosing policy decides for the whole body, nested checkpoints included (as in JAX); this one
   * applies where this checkpoint is differentiated outside any other.
   */
  policy?: CheckpointPolicy;
  /** Printed in programs. */
  name?: string;
}

type AnyFn = (...args: never[]) => unknown;

/** `checkpoint(f, {policy})`: f, recomputed during the backward pass instead of storing its intermediates. */
export function checkpoint<F extends AnyFn>(f: F & Known<ReturnType<F>>, options?: CheckpointOptions): WithArrayOutputs<F>;
/** In generic code (an output type with type parameters): f's own type. */
export function checkpoint<F extends AnyFn>(f: F, options?: CheckpointOptions): F;
export function checkpoint<F extends AnyFn>(f: F, options: CheckpointOptions = {}): F {
  checkOptions('checkpoint', options, ['policy', 'name'] satisfies (keyof CheckpointOptions)[]);
  const policy = options.policy ?? nothingSaveable;
  // (A policy is only consulted by a reverse pass: a wrong one would run the forward pass and fail later, under grad.)
  if (typeof policy !== 'object' || policy === null || typeof (policy as Partial<CheckpointPolicy>).saveable !== 'function') {
    throw new TransformError(`checkpoint: policy must be one of the checkpoint policies (nothingSaveable, everythingSaveable, dotsSaveable, saveOnlyTheseNames(...)), got ${typeof policy === 'function' ? 'a function' : JSON.stringify(policy)}`);
  }
  const name = options.name ?? (f.name || 'checkpoint');
  // A scope, as under jit: arrays made from JS numbers among the arguments are freed after the call.
  return ((...args: Parameters<F>) => scoped(() => {
    // Booleans and strings (flags such as `training`) stay JS values, as under jit.
    const { arrays: leaves, rebuild } = flattenWithStaticLeaves('checkpoint', args);
    let outDef: ReturnType<typeof flattenArrays>[1] | undefined;
    const { jaxpr, consts } = traceToJaxpr((xs) => {
      const [outs, def] = flattenArrays('checkpoint', f(...(rebuild(xs) as never[])), 'output');
      outDef = def;
      return outs;
    }, leaves.map((l) => l.aval));
    const outs = bind('remat', [...consts, ...leaves], { jaxpr, numConsts: consts.length, policy, name });
    return unflatten(outDef!, outs);
  })) as F;
}

/** Alias of `checkpoint` (the name used in the source post, kexue.fm/archives/7367). */
export const recompute = checkpoint;

/** Tags a value so that `saveOnlyTheseNames(name)` keeps it during a checkpointed forward pass. */
export function checkpointName(x: ArrayLike, name: string): NDArray {
  if (typeof name !== 'string') throw new TransformError(`checkpointName: the name must be a string (saveOnlyTheseNames matches it), got ${typeof name}`);
  return bind1('checkpoint_name', [asArray(x)], { name });
}

/** The segment length that minimises n/k + k for a chain of n layers (Chen et al. 2016): round(√n). */
export function sqrtSegmentLength(n: number): number {
  return Math.max(1, Math.round(Math.sqrt(n)));
}

/**
 * Chains `layers` (x -> x functions), checkpointing segments of `segmentLength` layers (default
 * round(√n)), so a backward pass keeps only segment boundaries plus one segment's activations.
 */
export function checkpointSequential<T>(layers: readonly ((x: T) => T)[], options: CheckpointOptions & { segmentLength?: number } = {}): (x: T) => T {
  checkOptions('checkpointSequential', options, ['policy', 'name', 'segmentLength']);
  const { segmentLength, ...checkpointOptions } = options;
  layers.forEach((layer, i) => {
    if (typeof layer !== 'function') throw new TransformError(`checkpointSequential: layer ${i} is ${layer === null ? 'null' : typeof layer}, expected a function x => y`);
  });
  const k = segmentLength ?? sqrtSegmentLength(layers.length);
  if (!Number.isInteger(k) || k < 1) throw new ShapeError(`checkpointSequential: segmentLength must be a positive integer, got ${k}`);
  const segments: ((x: T) => T)[] = [];
  for (let i = 0; i < layers.length; i += k) {
    const seg = layers.slice(i, i + k);
    segments.push(checkpoint((x: T) => seg.reduce((h, layer) => layer(h), x), { ...checkpointOptions, name: options.name ?? `segment${i / k}` }));
  }
  return (x: T) => segments.reduce((h, s) => s(h), x);
}

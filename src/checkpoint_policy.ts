// Checkpoint (rematerialisation) policies: which intermediate values of a checkpointed function the
// forward pass may keep for the backward pass. Everything a policy refuses is recomputed.
import type { Primitive } from './primitives.js';

/** Decides, for one equation of the checkpointed program, whether its outputs may be saved. */
export interface CheckpointPolicy {
  readonly name: string;
  saveable(prim: Primitive, params: Record<string, unknown>): boolean;
}

/** Save nothing but the inputs: the backward pass recomputes the whole function (the default). */
export const nothingSaveable: CheckpointPolicy = { name: 'nothingSaveable', saveable: () => false };

/**
 * Save everything: equivalent to no checkpoint at all (useful to switch checkpointing off). As in
 * JAX, the enclosing policy decides for checkpoints nested inside, so those save everything too —
 * which is more than the inner checkpoint alone keeps: around a function holding checkpoints, the
 * pullback can hold more than without the outer one (a nested `checkpoint(r => sin(r·r))` held 72
 * bytes against 48). Equivalent to no checkpoint when the body holds none.
 */
export const everythingSaveable: CheckpointPolicy = { name: 'everythingSaveable', saveable: () => true };

/** Save the results of matrix products and convolutions, recompute the cheap elementwise work. */
export const dotsSaveable: CheckpointPolicy = {
  name: 'dotsSaveable',
  saveable: (prim) => prim === 'dot_general' || prim === 'conv2d',
};

/** Save only values tagged with `checkpointName(x, name)` for one of `names`. */
export function saveOnlyTheseNames(...names: string[]): CheckpointPolicy {
  names.forEach((n, i) => {
    if (typeof n !== 'string') throw new TypeError(`saveOnlyTheseNames: names are separate string arguments, e.g. saveOnlyTheseNames('h', 'z'); argument ${i} is ${Array.isArray(n) ? 'a list' : typeof n}`);
  });
  const wanted = new Set(names);
  return {
    name: `saveOnlyTheseNames(${names.join(', ')})`,
    saveable: (prim, params) => prim === 'checkpoint_name' && wanted.has(params.name as string),
  };
}

// Oracles for the transformation suites (vmap, jacobian, checkpoint, custom rules, jit): vmap
// written as a loop (slice each mapped argument, call f per example, stack the results), pytree
// comparison, seeded random arrays and a leak counter. Deliberately naive: nothing here uses vmap.
import { expect } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { NDArray, dispose, np, tree } from '../src/index.js';
import { Rng } from '../src/testing/index.js';
import { expectClose, numTensors } from './helpers.js';

/** JAX's in_axes / out_axes: a number (negative allowed), null, or a pytree prefix of the values. */
export type Axes = number | null | readonly Axes[] | { readonly [k: string]: Axes };

/** The axis of every leaf of `value`, broadcasting each entry of the prefix tree `axes` over its subtree. */
export function leafAxes(axes: Axes, value: unknown): (number | null)[] {
  if (axes === null || typeof axes === 'number') return tree.leaves(value).map(() => axes);
  if (Array.isArray(axes)) {
    if (!Array.isArray(value) || value.length !== axes.length) throw new Error(`oracle: axes ${JSON.stringify(axes)} do not match a value with ${Array.isArray(value) ? value.length : 'no'} entries`);
    return axes.flatMap((a, i) => leafAxes(a as Axes, value[i]));
  }
  // Plain objects flatten in sorted key order (as in gradus and JAX).
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj).sort();
  const ax = axes as Record<string, Axes>;
  if (keys.join() !== Object.keys(ax).sort().join()) throw new Error(`oracle: axes keys ${Object.keys(ax)} do not match ${keys}`);
  return keys.flatMap((k) => leafAxes(ax[k]!, obj[k]));
}

/** Maps `fn(leaf, axis)` over the leaves of `value` with the axes of the prefix tree `axes`. */
export function mapWithAxes(value: unknown, axes: Axes, fn: (leaf: NDArray, axis: number | null) => unknown): unknown {
  const [leaves, def] = tree.flatten(value);
  const ax = leafAxes(axes, value);
  return tree.unflatten(def, leaves.map((l, i) => fn(l as NDArray, ax[i]!)));
}

export const normAxis = (a: number, ndim: number): number => (a < 0 ? a + ndim : a);

/** Example `i` of `x` along `axis` (x itself when axis is null). */
export function exampleOf(x: NDArray, axis: number | null, i: number): NDArray {
  if (axis === null) return x;
  return np.take(x, np.array(i, 'int32'), normAxis(axis, x.ndim));
}

/** vmap by a loop: f on each example, results stacked at `outAxes` (a null out axis takes example 0's value). */
export function loopVmap(f: (...args: any[]) => unknown, args: readonly unknown[], inAxes: Axes, outAxes: Axes, size: number): any {
  const outs: unknown[] = [];
  for (let i = 0; i < size; i++) {
    const perExample = mapWithAxes([...args], inAxes, (leaf, a) => exampleOf(leaf, a, i)) as unknown[];
    outs.push(f(...perExample));
  }
  const [first, def] = tree.flatten(outs[0]);
  const ax = leafAxes(outAxes, outs[0]);
  const perLeaf = outs.map((o) => tree.leaves(o) as NDArray[]);
  return tree.unflatten(
    def,
    first.map((leaf, k) => (ax[k] === null ? leaf : np.stack(perLeaf.map((l) => l[k]!), ax[k]!))),
  );
}

/** `shape` with a batch dimension of `size` inserted at `axis` (normalised against the new rank). */
export function insertAxis(shape: readonly number[], axis: number | null, size: number): number[] {
  if (axis === null) return [...shape];
  const s = [...shape];
  s.splice(normAxis(axis, shape.length + 1), 0, size);
  return s;
}

/** A random axis for an array of rank `ndim` (valid for insertion: -(ndim+1)..ndim) from raw draws. */
export function pickAxis(raw: number, negative: boolean, ndim: number): number {
  const a = raw % (ndim + 1);
  return negative ? a - (ndim + 1) : a;
}

/** A float32 array of `shape` with values uniform in [lo, hi) from `rng`, on a 2^-10 grid. */
export function randomArray(rng: Rng, shape: readonly number[], lo = -1.5, hi = 1.5): NDArray {
  const n = shape.reduce((a, b) => a * b, 1);
  const vals = Array.from({ length: n }, () => Math.round((lo + (hi - lo) * rng.uniform()) * 1024) / 1024);
  return np.reshape(np.array(vals, 'float32'), [...shape]);
}

/** Throws unless `got` and `want` have the same tree structure and leafwise close values (shapes and dtypes too). */
export function expectTreeClose(got: unknown, want: unknown, { rtol = 1e-4, atol = 1e-5, label = 'values' } = {}): void {
  const [g, gdef] = tree.flatten(got);
  const [w, wdef] = tree.flatten(want);
  if (!gdef.equals(wdef)) throw new Error(`${label}: tree structure ${gdef} but expected ${wdef}`);
  g.forEach((leaf, i) => {
    const a = leaf as NDArray, b = w[i] as NDArray;
    if (a.dtype !== b.dtype) throw new Error(`${label} leaf ${i}: dtype ${a.dtype} but expected ${b.dtype}`);
    const scale = Math.max(1, ...Array.from(b.dataSync(), (v) => (Number.isFinite(v) ? Math.abs(v) : 0)));
    expectClose(a, b, { rtol, atol: atol * scale, label: `${label} leaf ${i}` });
  });
}

/** True when every value of every leaf is finite and below `limit` in magnitude. */
export function moderate(value: unknown, limit = 1e3): boolean {
  return (tree.leaves(value) as NDArray[]).every((l) => Array.from(l.dataSync()).every((v) => Number.isFinite(v) && Math.abs(v) < limit));
}

/** Tensors left behind by a second run of `fn` (the first warms caches), after disposing its result. */
export function leaked(fn: () => unknown): number {
  const run = () => {
    let result: unknown;
    try {
      result = fn();
    } catch {
      result = undefined;
    }
    dispose(result);
  };
  run();
  const before = numTensors();
  run();
  return numTensors() - before;
}

export function expectNoLeak(label: string, fn: () => unknown): void {
  expect(leaked(fn), `${label} leaked tensors`).toBe(0);
}

/**
 * The longest list of tensors a TF.js scope holds when it closes during `fn` (disposed ones
 * included): a loop that left one object per step there would grow it with the trip count.
 */
export function longestScopeAtClose(fn: () => unknown): number {
  const engine = tf.engine();
  const endScope = engine.endScope;
  let longest = 0;
  engine.endScope = function (this: typeof engine, result?: tf.TensorContainer) {
    longest = Math.max(longest, this.state.activeScope.track.length);
    return endScope.call(this, result);
  };
  try {
    fn();
  } finally {
    engine.endScope = endScope;
  }
  return longest;
}

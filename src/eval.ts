// The eval interpreter's per-primitive step: check shapes and dtypes, run the kernel freeing its
// temporaries at once (as a TF.js tidy would), wrap the results as concrete arrays.
import * as tf from '@tensorflow/tfjs-core';
import { ConcreteArray, type NDArray } from './array.js';
import type { ShapedArray } from './aval.js';
import { evalJaxprHook } from './eval_hooks.js';
import { kernels } from './kernels.js';
import { GradusError } from './errors.js';
import { PROGRAM_PRIMITIVES, type ParamsOf, type Primitive } from './primitives.js';
import { shapeRules } from './shape_rules.js';

export function abstractEval<P extends Primitive>(prim: P, avals: ShapedArray[], params: ParamsOf<P>): ShapedArray[] {
  return shapeRules[prim](avals, params);
}

export function evalPrimitive<P extends Primitive>(prim: P, args: ConcreteArray[], params: ParamsOf<P>): NDArray[] {
  const expected = abstractEval(prim, args.map((a) => a.aval), params);
  if (PROGRAM_PRIMITIVES.has(prim)) return evalJaxprHook.run(prim, args, params as ParamsOf<'jit_call'>);
  const inputs = args.map((a) => a.tensor);
  // Empty results need no kernel (and wasm kernels crash on some empty operands).
  if (expected.every((e) => e.size === 0)) return expected.map((e) => new ConcreteArray(tf.zeros(e.shape as number[], e.dtype)));
  const outs = runFreeingTemporaries(() => kernels[prim](inputs, params));
  // A kernel that disagrees with the shape rule is a backend bug; fail loudly rather than corrupt.
  outs.forEach((t, i) => {
    const want = expected[i]!;
    if (t.dtype !== want.dtype || t.shape.length !== want.ndim || t.shape.some((d, k) => d !== want.shape[k])) {
      const got = `${t.dtype}[${t.shape.join(',')}]`;
      outs.forEach((o) => o.dispose());
      throw new GradusError(`${prim}: the ${tf.getBackend()} kernel returned ${got} where ${want.str()} was expected (a backend bug; please report it)`);
    }
  });
  // The outputs match the shape rule (checked above), so its avals serve as theirs.
  return outs.map((t, i) => new ConcreteArray(t, expected[i]));
}

/**
 * Runs a kernel and frees the tensors it made besides its outputs, as `tf.tidy` does. Inside an
 * open TF.js scope (every gradus scope is one) the kernel's tensors are the tail of that scope's
 * track list, so they are found there without opening a scope of its own: a tidy per primitive
 * (a scope object, two container walks) was a fifth of the eager cost of a small op. Kernels
 * never compact the list (only program primitives' loops do, and they do not come here).
 */
function runFreeingTemporaries(kernel: () => tf.Tensor[]): tf.Tensor[] {
  const track = (tf.engine().state as { activeScope?: { track: tf.Tensor[] } | null }).activeScope?.track;
  if (track === undefined) return tf.tidy(kernel);
  const start = track.length;
  let outs: tf.Tensor[];
  try {
    outs = kernel();
  } catch (e) {
    for (let i = start; i < track.length; i++) if (!track[i]!.kept) track[i]!.dispose();
    throw e;
  }
  for (let i = start; i < track.length; i++) {
    const t = track[i]!;
    if (!t.kept && !t.isDisposed && !outs.includes(t)) t.dispose();
  }
  return outs;
}

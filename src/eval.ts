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
import { runFreeingTemporaries } from './scope.js';

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

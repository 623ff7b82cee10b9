// The eval interpreter's per-primitive step: check shapes and dtypes, run the kernel inside a
// TF.js tidy (so kernel temporaries are freed at once), wrap the results as concrete arrays.
import * as tf from '@tensorflow/tfjs-core';
import { ConcreteArray, type NDArray } from './array.js';
import type { ShapedArray } from './aval.js';
import { evalJaxprHook } from './eval_hooks.js';
import { kernels } from './kernels.js';
import type { ParamsOf, Primitive } from './primitives.js';
import { shapeRules } from './shape_rules.js';

export function abstractEval<P extends Primitive>(prim: P, avals: ShapedArray[], params: ParamsOf<P>): ShapedArray[] {
  return shapeRules[prim](avals, params);
}

const programPrimitives = new Set<Primitive>(['jit_call', 'remat', 'custom_jvp_call', 'custom_vjp_call']);

export function evalPrimitive<P extends Primitive>(prim: P, args: ConcreteArray[], params: ParamsOf<P>): NDArray[] {
  abstractEval(prim, args.map((a) => a.aval), params);
  if (programPrimitives.has(prim)) return evalJaxprHook.run(prim, args, params as ParamsOf<'jit_call'>);
  const inputs = args.map((a) => a.tensor);
  const outs = tf.tidy(() => kernels[prim](inputs, params));
  return outs.map((t) => new ConcreteArray(t));
}

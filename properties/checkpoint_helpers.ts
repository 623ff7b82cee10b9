// Shared by the checkpoint tests: counting equations of traced programs and the bytes a pullback holds.
import * as tf from '@tensorflow/tfjs-core';
import { dispose, vjp, type NDArray } from '../src/index.js';

/** Equations of `prim` in a program, those of nested programs (jit_call, remat, loops, conds) included. */
export function deepCount(jaxpr: { eqns: readonly { prim: string; params: unknown }[] }, prim: string): number {
  let n = 0;
  for (const e of jaxpr.eqns) {
    if (e.prim === prim) n++;
    const p = (e.params ?? {}) as Record<string, unknown>;
    for (const k of ['jaxpr', 'body', 'cond']) {
      const sub = p[k] as { eqns?: unknown } | undefined;
      if (sub !== undefined && Array.isArray(sub.eqns)) n += deepCount(sub as never, prim);
    }
    if (Array.isArray(p.branches)) for (const b of p.branches) n += deepCount(b as never, prim);
  }
  return n;
}

/** Bytes the pullback of vjp(f) holds besides its output (the residuals). */
export function heldBytes(f: (...a: NDArray[]) => NDArray, ...args: NDArray[]): number {
  const before = tf.memory().numBytes;
  const [out, pullback] = vjp(f, ...args);
  const bytes = tf.memory().numBytes - before - out.size * 4;
  // dispose(tree) passes over functions, so dispose([out, pullback]) freed out only and left the
  // residuals alive for the rest of the file: the pullback frees them itself.
  pullback.dispose();
  dispose(out);
  return bytes;
}

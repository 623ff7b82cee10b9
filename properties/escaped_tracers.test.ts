// Tracers that escape their transformation (stored in an outer variable, or closed over by a
// pullback or linear function called after the transformation returned) are refused at their first
// use, as JAX's UnexpectedTracerError: running the dead interpreter instead gave tracers where
// arrays were expected, leaked tensors that dispose() passes over, or blamed the order of live ones.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { NDArray, UnexpectedTracerError, dispose, grad, jit, jvp, linearize, np, vjp, vmap } from '../src/index.js';

const ESCAPED = /already returned .*used outside it/;

describe('escaped tracers', () => {
  const x = np.array([1.5, 2], 'float32');
  const leakFrom = {
    jit: () => { let t!: NDArray; dispose(jit((a: NDArray) => { t = a; return np.sin(a); })(x)); return t; },
    vmap: () => { let t!: NDArray; dispose(vmap((a: NDArray) => { t = a; return np.sin(a); })(np.stack([x, x]))); return t; },
    jvp: () => { let t!: NDArray; dispose(jvp((a: NDArray) => { t = a; return np.sin(a); }, [x], [x])); return t; },
    grad: () => { let t!: NDArray; dispose(grad((a: NDArray) => { t = a; return np.sum(np.sin(a)); })(x)); return t; },
  };

  for (const [name, leak] of Object.entries(leakFrom)) {
    it(`one from ${name}, used in eager code, is an error naming the op, and nothing leaks`, () => {
      const t = leak();
      const before = tf.memory().numTensors;
      expect(() => np.multiply(t, x)).toThrow(/mul: .*already returned \(f32\[2\]\).*UnexpectedTracerError/);
      expect(() => np.sum(t)).toThrow(ESCAPED);
      expect(() => np.sum(t)).toThrow(UnexpectedTracerError);
      expect(tf.memory().numTensors).toBe(before);
    });

    it(`one from ${name}, closed over inside a later transformation, is named as escaped`, () => {
      const t = leak();
      expect(() => jit((y: NDArray) => np.add(t, y))(x)).toThrow(ESCAPED);
      expect(() => vmap(jit((y: NDArray) => np.add(y, t)))(np.stack([x, x]))).toThrow(ESCAPED);
      expect(() => grad((y: NDArray) => np.sum(np.multiply(t, y)))(x)).toThrow(ESCAPED);
    });
  }

  it('pullbacks and linear functions made inside a transformation refuse to run after it returned', () => {
    let pb!: (ct: NDArray) => NDArray[];
    let lin!: (...t: NDArray[]) => NDArray;
    const out = jit((a: NDArray) => {
      pb = vjp((b: NDArray) => np.multiply(b, a), a)[1];
      lin = linearize((b: NDArray) => np.multiply(b, a), a)[1];
      return a;
    })(x);
    dispose(out);
    expect(() => pb(x)).toThrow(ESCAPED);
    expect(() => lin(x)).toThrow(ESCAPED);
  });

  it('live tracers still mix as before (a nested transformation closing over an outer one)', () => {
    const g = grad((a: NDArray) => np.sum(vmap((r: NDArray) => np.multiply(r, a))(np.stack([a, a]))))(x);
    expect(Array.from(g.toArray() as number[]).map((v) => Math.round(v * 1e5) / 1e5)).toEqual([6, 8]);
  });
});

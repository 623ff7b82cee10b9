// eigh's QL iteration has a limit (60 iterations per eigenvalue) that no matrix met in testing
// reaches; where it would be reached, eigh is a LinAlgError naming the matrix (LAPACK's syev
// reports info > 0 and NumPy raises LinAlgError; cholesky's kernel treats a matrix it cannot
// factor the same way), not the NaNs it used to return silently. The limit is lowered with
// qlIterations.limitedTo to reach that path: at 0 every matrix that needs an iteration fails and a
// diagonal one (already converged) does not.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { LinAlgError, grad, jit, np, scope, vmap, type NDArray } from '../src/index.js';
import { qlIterations } from '../src/eigvalsh_kernel.js';
import { eighStack } from '../src/spectral_kernels.js';

describe('eigh: a QL iteration that does not converge', () => {
  it('is a LinAlgError naming the matrix, for eigh, eigvalsh, hermitian svd, eager, jit, vmap and grad; a converged matrix still passes; the limit is restored', () => {
    const before = tf.memory().numTensors;
    scope(() => {
      const a = np.array([[2, 1, 0], [1, 3, 1], [0, 1, 4]], 'float32');
      const diag = np.array([[3, 0, 0], [0, 1, 0], [0, 0, 2]], 'float32');
      const stack = np.stack([diag, a, diag]);
      qlIterations.limitedTo(0, () => {
        expect(() => np.linalg.eigh(a)).toThrow(LinAlgError);
        expect(() => np.linalg.eigh(a)).toThrow(/^linalg\.eigh: the QL iteration did not converge for matrix \(3×3\) in 0 iterations on one eigenvalue/);
        expect(() => np.linalg.eigh(stack)).toThrow(/^linalg\.eigh: the QL iteration did not converge for matrix 1 of the stack of 3 \(3×3\)/);
        expect(() => np.linalg.eigvalsh(stack)).toThrow(/^linalg\.eigvalsh: the QL iteration did not converge for matrix 1 of the stack of 3 \(3×3\)/);
        expect(() => np.linalg.svd(a, { hermitian: true })).toThrow(LinAlgError);
        expect(() => jit((m: NDArray) => np.linalg.eigh(m)[1])(stack)).toThrow(LinAlgError);
        expect(() => vmap((m: NDArray) => np.linalg.eigvalsh(m))(stack)).toThrow(LinAlgError);
        expect(() => grad((m: NDArray) => np.sum(np.linalg.eigvalsh(m)))(a)).toThrow(LinAlgError);
        // No QL iteration is needed for a diagonal matrix: it decomposes even at limit 0.
        const [w, v] = np.linalg.eigh(diag);
        expect(w.toArray()).toEqual([1, 2, 3]);
        expect(v.toArray()).toEqual([[0, 0, 1], [1, 0, 0], [0, 1, 0]]);
        return null;
      });
      // Back at the default limit the same matrices decompose, and an error inside the override
      // still restores it.
      expect(() => qlIterations.limitedTo(0, () => np.linalg.eigh(a))).toThrow(LinAlgError);
      const [w] = np.linalg.eigh(stack);
      expect(w.shape).toEqual([3, 3]);
      const w1 = np.linalg.eigvalsh(a).toArray() as number[];
      // The tridiagonal [[2, 1, 0], [1, 3, 1], [0, 1, 4]]'s eigenvalues: 3 − √3, 3, 3 + √3.
      [3 - Math.sqrt(3), 3, 3 + Math.sqrt(3)].forEach((x, i) => expect(Math.abs(w1[i]! - x)).toBeLessThan(1e-5));
      return null;
    });
    expect(tf.memory().numTensors).toBe(before);
  });

  it('a limit just below what a matrix needs fails and one at it passes (the count is per eigenvalue)', () => {
    const a = Float32Array.from([4, 1, 2, 1, 3, 0.5, 2, 0.5, 1]);
    // The smallest limit that passes, found by lowering it: every smaller one must throw.
    let needed = 0;
    while (needed <= 60) {
      try {
        qlIterations.limitedTo(needed, () => eighStack(a, 1, 3, { lower: true, computeVectors: true }));
        break;
      } catch (e) {
        expect(e).toBeInstanceOf(LinAlgError);
        needed++;
      }
    }
    expect(needed).toBeGreaterThan(0);
    expect(needed).toBeLessThanOrEqual(10); // QL converges in a handful of iterations per eigenvalue
    expect(() => qlIterations.limitedTo(needed - 1, () => eighStack(a, 1, 3, { lower: true, computeVectors: true }))).toThrow(LinAlgError);
    const [w] = qlIterations.limitedTo(needed, () => eighStack(a, 1, 3, { lower: true, computeVectors: true }));
    const [w60] = eighStack(a, 1, 3, { lower: true, computeVectors: true });
    expect(Array.from(w)).toEqual(Array.from(w60));
  });
});

// A sum of −0s is +0, as NumPy's (np.sum(np.float32([-0.0])) and np.sum(np.full((1, 2), -0.0,
// np.float32), axis=0) are +0: the reduction starts from its identity, and 0 + (−0) = +0) and as
// TF.js's Sum on cpu. On wasm, sums over a leading or middle axis (gradus's row-sum kernel) started
// each output row as a copy of the first input row and so gave −0: np.sum(−0s [1, 2], 0) was −0 on
// wasm and +0 on cpu, and because the kernel depends on where the reduced axis lies, vmap(jit(f))
// (which moves the batch axis first) and vmap(f) differed in the sign of such a zero.
// (A cumulative sum keeps −0, as NumPy's does: see ops.test.ts.)
import { describe, expect, it } from 'vitest';
import { dispose, jit, np, scope, vmap, type NDArray } from '../src/index.js';
import { forEachBackend, numTensors } from './helpers.js';

const signs = (a: NDArray) => Array.from(a.dataSync()).map((v) => (Object.is(v, -0) ? '-0' : String(v)));

describe('sums of −0s are +0 (NumPy), on every backend and axis', () => {
  it('np.sum over leading, middle, trailing and all axes, short and long, eager and under jit', async () => forEachBackend((backend) => {
    const before = numTensors();
    const cases: [number[], number | number[] | null][] = [
      [[1, 2], 0], [[3, 2], 0], [[1, 2, 1], 0], [[2, 3, 4], 1], [[3, 1, 2], 1], [[2, 3], 1], [[1, 1], 0], [[5], 0], [[4, 3], null],
      [[100, 8], 0], [[70], 0], [[5000, 2], 0], [[2, 5000], 1], [[2, 3, 4], [0, 2]], [[20000, 1], 0],
    ];
    for (const [shape, axis] of cases) {
      scope(() => {
        const x = np.full(shape, -0, 'float32');
        const sum = (v: NDArray) => (axis === null ? np.sum(v) : np.sum(v, axis));
        for (const [how, got] of [['eager', sum(x)], ['jit', jit(sum)(x)]] as const) {
          expect(signs(got).every((s) => s === '0'), `${backend} ${how}: sum of −0s [${shape}] over ${JSON.stringify(axis)}: ${signs(got).slice(0, 4)}`).toBe(true);
        }
      });
    }
    expect(numTensors()).toBe(before);
  }));

  it('a column of −0s among nonzero columns sums to +0; columns holding other values are unchanged', async () => forEachBackend((backend) => {
    scope(() => {
      const x = np.array([[-0, 1.5, -0, -2, NaN], [-0, -0, 0, -0, 1]], 'float32');
      expect(signs(np.sum(x, 0)), backend).toEqual(['0', '1.5', '0', '-2', 'NaN']);
    });
  }));

  it('vmap(jit(f)) equals vmap(f) where the batch axis is not leading (the sum then runs over another axis)', async () => forEachBackend((backend) => {
    scope(() => {
      const xs = np.full([1, 2, 3], -0, 'float32');
      const f = (v: NDArray) => np.sum(v, 0);
      const eager = vmap(f, { inAxes: 1 })(xs), jitted = vmap(jit(f), { inAxes: 1 })(xs);
      expect(signs(jitted), backend).toEqual(signs(eager));
      expect(signs(eager).every((s) => s === '0'), backend).toBe(true);
      dispose([eager, jitted]);
    });
  }));
});

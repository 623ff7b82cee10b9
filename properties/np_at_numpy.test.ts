// np.at's updates and lax.dynamicUpdateSlice against NumPy's ufunc.at order and JAX's derivative
// rules where they had drifted: signed zeros (a −0/+0 tie in min/max keeps the last written, as
// np.minimum.at; a −0 written by a differentiated product or by dynamicUpdateSlice stays −0), the
// derivative of a NaN min/max result (0 for x and the writes, JAX's scatter rule).
import { describe, expect, it } from 'vitest';
import { grad, jit, jvp, lax, np, vmap, type NDArray } from '../src/index.js';
import { onEachBackend } from './helpers.js';

/** A list of numbers with −0 shown as such (NaN as NaN). */
const show = (xs: ArrayLike<number>): string => Array.from(xs, (v) => (Object.is(v, -0) ? '-0' : String(v))).join(',');
const f32 = (xs: readonly number[]) => np.array(xs, 'float32');

describe('np.at(x, i).min/max: a −0/+0 tie keeps the value written last, as np.minimum.at / np.maximum.at', () => {
  // From NumPy 2.4 (np.minimum.at(x, idx, v) on float32): np.minimum(a, b) returns b at a tie.
  const x = [0, -0, 0, -0], idx = [0, 1, 2, 2, 3, 3], v = [-0, 0, -0, 0, 0, -0];
  const want = { min: '-0,0,0,-0', max: '-0,0,0,-0' };
  it('concrete, static-int, traced and differentiated (jvp primal) updates all give NumPy\'s signs', () =>
    onEachBackend(() => {
      for (const kind of ['min', 'max'] as const) {
        const i = np.array(idx, 'int32');
        const traced = jit((a: NDArray, c: NDArray, b: NDArray) => np.at(a, c)[kind](b));
        const runs: [string, NDArray][] = [
          ['concrete', np.at(f32(x), i)[kind](f32(v))],
          ['traced', traced(f32(x), i, f32(v))],
          ['jvp primal', jvp((a: NDArray, b: NDArray) => np.at(a, i)[kind](b), [f32(x), f32(v)], [f32([1, 1, 1, 1]), f32(v.map(() => 1))])[0]],
        ];
        for (const [how, got] of runs) expect(show(got.dataSync()), `${kind} ${how}`).toBe(want[kind]);
        // One write per target (the single-round path): x = +0 with −0 written, x = −0 with +0 written.
        for (const [xs, w, out] of [[[0], [-0], '-0'], [[-0], [0], '0']] as const) {
          expect(show(np.at(f32([...xs]), 0)[kind](f32([...w]).reshape([])).dataSync()), `${kind} static x=${show(xs)} v=${show(w)}`).toBe(out);
          expect(show(traced(f32([...xs]), np.array([0], 'int32'), f32([...w])).dataSync()), `${kind} traced x=${show(xs)} v=${show(w)}`).toBe(out);
        }
        traced.clearCache();
      }
    }));
});

describe('the derivative of a NaN min/max result is 0 (JAX\'s scatter rule), for x and for every write', () => {
  it('x = [1, 2], writes NaN, 0.5 to entry 0 and 3 to entry 1: ∂x = [0, 1], ∂v = [0, 0, 0] (min) — concrete, traced, jvp', () =>
    onEachBackend(() => {
      const x = f32([1, 2]), v = f32([NaN, 0.5, 3]), idx = [0, 0, 1];
      for (const kind of ['min', 'max'] as const) {
        const i = np.array(idx, 'int32');
        const g = (c: NDArray) => (a: NDArray, b: NDArray) => grad((p: NDArray, q: NDArray) => np.sum(np.at(p, c)[kind](q)), { argnums: [0, 1] })(a, b);
        const traced = jit((a: NDArray, c: NDArray, b: NDArray) => g(c)(a, b));
        // Target 1: min(2, 3) keeps x, max(2, 3) takes the write.
        const wantX = kind === 'min' ? '0,1' : '0,0', wantV = kind === 'min' ? '0,0,0' : '0,0,1';
        for (const [how, [gx, gv]] of [['concrete', g(i)(x, v)], ['traced', traced(x, i, v)]] as const) {
          expect(show(gx!.dataSync()), `${kind} ${how} ∂x`).toBe(wantX);
          expect(show(gv!.dataSync()), `${kind} ${how} ∂v`).toBe(wantV);
        }
        const t = jvp((b: NDArray) => np.at(x, i)[kind](b), [v], [f32([1, 1, 1])])[1];
        expect(show(t.dataSync()), `${kind} jvp in v`).toBe(kind === 'min' ? '0,0' : '0,1');
        traced.clearCache();
      }
    }));
});

describe('a differentiated np.at(x, i).multiply(v) keeps the sign of a −0 write (NumPy: 2 · −0 = −0)', () => {
  it('one write per target: the primal of jvp and grad\'s forward value give −0, the derivatives the product rule', () =>
    onEachBackend(() => {
      const x = f32([2, -3, 5]), v = f32([-0, -0]), i = np.array([0, 1], 'int32');
      const [out, t] = jvp((a: NDArray, b: NDArray) => np.at(a, i).multiply(b), [x, v], [f32([1, 1, 1]), f32([1, 1])]);
      expect(show(out.dataSync())).toBe('-0,0,5');
      expect(show(t.dataSync())).toBe('2,-3,1'); // 1·(−0) + 2·1, 1·(−0) − 3·1, untouched: 1
      const [gx, gv] = grad((a: NDArray, b: NDArray) => np.sum(np.at(a, i).multiply(b)), { argnums: [0, 1] })(x, v);
      expect(show(gx.dataSync())).toBe('-0,-0,1');
      expect(show(gv.dataSync())).toBe('2,-3');
    }));
});

describe('lax.dynamicUpdateSlice writes the update as it is when its starts are known: −0 stays −0', () => {
  it('JS and concrete starts keep −0; traced starts (jit, vmap) write it as +0, documented', () =>
    onEachBackend(() => {
      const x = f32([1, 2, 3, 4]), u = f32([-0, 0]);
      expect(show(lax.dynamicUpdateSlice(x, u, [1]).dataSync())).toBe('1,-0,0,4');
      expect(show(lax.dynamicUpdateSlice(x, u, [np.array(1, 'int32')]).dataSync())).toBe('1,-0,0,4');
      expect(show(lax.dynamicUpdateSlice(f32([-0, -0, -0]), f32([0]), [2]).dataSync())).toBe('-0,-0,0');
      // Traced starts: the values are right, a −0 in the update lands as +0 (the loop case keeps its
      // one scatter; see dynamicUpdateSlice). The −0s of x around the window are kept.
      const j = jit((a: NDArray, b: NDArray, s: NDArray) => lax.dynamicUpdateSlice(a, b, [s]));
      expect(show(j(x, u, np.array(3, 'int32')).dataSync())).toBe('1,2,0,0'); // start 3 clamps to 2
      expect(show(j(f32([-0, -0, -0, -0]), f32([0, 5]), np.array(1, 'int32')).dataSync())).toBe('-0,0,5,-0');
      const vm = vmap((a: NDArray, s: NDArray) => lax.dynamicUpdateSlice(a, u, [s]))(np.stack([x, x]), np.array([0, -1], 'int32'));
      expect(show(vm.dataSync())).toBe('0,0,3,4,1,2,0,0');
      j.clearCache();
    }));
});

// Ops that can hand an operand back without running a kernel (a reshape to its own shape, np.array of
// an array, an identity transpose, astype to its own dtype, ...) must refuse a freed operand as the
// ops that run a kernel do (eval.ts): a DisposedError naming the op, the operand's type and both ways
// an array gets freed (np.asArray too: like jnp.asarray it hands an array back). They handed the
// freed array back, and the error surfaced later, far away, as the tensor getter's, which knows
// neither the op nor who freed it.
import { describe, expect, it } from 'vitest';
import { DisposedError, dispose, jit, lax, np, scope, type ConcreteArray, type NDArray } from '../src/index.js';
import { numTensors } from './helpers.js';

const identityCalls: [string, (x: NDArray) => unknown][] = [
  ['reshape', (x) => np.reshape(x, x.shape)], ['reshape', (x) => x.reshape([2, 3])], ['array', (x) => np.array(x)], ['array', (x) => np.array(x, 'float32')],
  ['transpose', (x) => np.transpose(x, [0, 1])], ['squeeze', (x) => np.squeeze(x)], ['broadcastTo', (x) => np.broadcastTo(x, [2, 3])],
  ['split', (x) => np.split(x, 1)], ['index', (x) => x.at(null, null)], ['roll', (x) => np.roll(x, 0, 0)], ['roll', (x) => np.roll(x, 1)], ['diff', (x) => np.diff(x, 0)], ['astype', (x) => np.astype(x, 'float32')],
  ['round', (x) => np.round(x)], ['clip', (x) => np.clip(x, null, null)], ['copy', (x) => np.copy(x)],
  // (np.asArray handed the freed array back at the top level and in a scope: found in the small-fixes pass.)
  ['asArray', (x) => np.asArray(x)], ['asArray', (x) => np.asArray(x, 'float32')],
];

describe('a freed array handed to an op that needs no kernel for it', () => {
  it('is a DisposedError naming the op, at the top level, in a scope and under jit (closed over), leaving nothing behind', () => {
    const f = np.reshape(np.arange(6).astype('float32'), [2, 3]) as ConcreteArray;
    const i = np.reshape(np.arange(6), [2, 3]) as ConcreteArray;
    f.dispose();
    i.dispose();
    for (const [op, call] of identityCalls) {
      // (round and an int astype hand back ints; the float ones floats)
      const x = op === 'round' ? i : f;
      for (const [where, run] of [
        ['top level', () => call(x)], ['in a scope', () => scope(() => call(x))], ['under jit', () => jit(() => call(x))()],
      ] as const) {
        const label = `${op} ${where}`;
        const before = numTensors();
        expect(run, label).toThrow(DisposedError);
        expect(run, label).toThrow(new RegExp(`^${op}: operand 0 \\((f32|i32)\\[2,3\\]\\) was used after it was freed`));
        expect(run, label).toThrow(/disposed by the caller .* or freed by gradus when the scope or transformation that made it returned/);
        expect(numTensors(), label).toBe(before);
      }
    }
  });

  // Found in review: three more ops hand an operand back without a kernel and still returned the
  // freed array (eagerly; under jit the trace's output check gave a vaguer error that blames gradus):
  // a one-array concatenate, a bool squared (x and x is x) and a first matrix power (and the 0th,
  // which reads only the shape, accepted a freed array too).
  it('is a DisposedError for a one-array concatenate, a bool square and matrixPower 1 and 0 too', () => {
    const f = np.reshape(np.arange(4).astype('float32'), [2, 2]) as ConcreteArray;
    const b = np.greater(f, 1) as ConcreteArray;
    f.dispose();
    b.dispose();
    const calls: [string, string, () => unknown][] = [
      ['concatenate', 'f32', () => np.concatenate([f])], ['concatenate', 'bool', () => np.concatenate([b], 1)], ['square', 'bool', () => np.square(b)],
      ['linalg.matrixPower', 'f32', () => np.linalg.matrixPower(f, 1)], ['linalg.matrixPower', 'f32', () => np.linalg.matrixPower(f, 0)],
    ];
    for (const [op, dt, call] of calls) {
      for (const [where, run] of [['top level', call], ['in a scope', () => scope(call)], ['under jit', () => jit(call)()]] as const) {
        const label = `${op} ${where}`;
        const before = numTensors();
        expect(run, label).toThrow(new RegExp(`^${op.replace('.', '\\.')}: operand 0 \\(${dt}\\[2,2\\]\\) was used after it was freed`));
        expect(numTensors(), label).toBe(before);
      }
    }
  });

  // Found in review: an int32 power reads a concrete exponent's values (to refuse negative ones) before
  // any kernel runs, so a freed exponent failed in the tensor getter, whose error blames gradus's
  // freeing of a transformation's intermediates and names no op.
  it('is the DisposedError naming power for a freed int32 exponent, eagerly and under jit', () => {
    const x = np.array([1, 2, 3], 'int32');
    const e = np.array([1, 2, 3], 'int32') as ConcreteArray;
    const row = np.array([[2, 0, 1]], 'int32') as ConcreteArray;
    e.dispose();
    row.dispose();
    for (const [label, run] of [
      ['eager', () => np.power(x, e)], ['eager, other rank', () => np.power(x, row)], ['jit', () => jit((y: NDArray) => np.power(y, e))(x)],
      ['jit, other rank', () => jit((y: NDArray) => np.power(y, row))(x)], ['in a scope', () => scope(() => np.power(x, e))],
    ] as const) {
      const before = numTensors();
      expect(run, label).toThrow(DisposedError);
      expect(run, label).toThrow(/^power: operand 1 \(i32\[(3|1,3)\]\) was used after it was freed/);
      expect(numTensors(), label).toBe(before);
    }
    dispose(x);
  });

  // Found in the read-through: dynamicUpdateSlice reads a concrete start's value before any kernel
  // runs (to pad the update into place), so a freed start failed in the tensor getter.
  it('is the DisposedError naming dynamicUpdateSlice for a freed concrete start', () => {
    const x = np.zeros([4]), u = np.ones([2]);
    const start = np.array(1, 'int32') as ConcreteArray;
    start.dispose();
    const before = numTensors();
    expect(() => lax.dynamicUpdateSlice(x, u, [start])).toThrow(/^dynamicUpdateSlice: operand 2 \(i32\[\]\) was used after it was freed/);
    expect(numTensors()).toBe(before);
    dispose([x, u]);
  });
});

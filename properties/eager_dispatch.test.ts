// The eager dispatch path's short cuts. A top-level np op runs in `scopedTopLevel` (a scope closed
// by hand) and binds through core.ts's eager fast path (no trace lookup, raise or lower), straight
// into the eval interpreter. Those short cuts must be invisible: the same dtype (weak JS numbers
// included), shape and bits (−0, NaN) as the general path — the op inside jit, whose tracing
// installs a dynamic trace (traceToJaxpr's withDynamicTrace: omnistaging, so even constant-only ops
// are staged) and sends every bind through the trace stack, and inside a gradus scope — the same errors, and the same ownership: the caller gets one new tensor, intermediates are freed,
// results made inside a user's tf.tidy belong to that tidy, and an error leaves nothing behind.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as tf from '@tensorflow/tfjs-core';
import { ConcreteArray, DTypeError, DisposedError, grad, jit, np, scope, type DType, type NDArray } from '../src/index.js';
import { FC_SEED, forEachBackend, numTensors } from './helpers.js';

type Operand = { kind: 'array'; dtype: DType; shape: number[]; values: number[] } | { kind: 'scalar'; value: number | boolean };

const specials = [0, -0, 1, -1, 2.5, -3, 7, NaN, Infinity, -Infinity, 1e-30, 3e38, 2 ** 31, -(2 ** 31)];
const arbNumber = fc.oneof(fc.constantFrom(...specials), fc.integer({ min: -5, max: 5 }), fc.float({ noDefaultInfinity: true, noNaN: true, min: -10, max: 10 }));

/** A shape and a second one that broadcasts against it (dropped leading axes, size-1 axes). */
const arbShapes = fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 3 }).chain((s) =>
  fc.tuple(fc.constant(s), fc.tuple(fc.integer({ min: 0, max: s.length }), fc.array(fc.boolean(), { minLength: s.length, maxLength: s.length })).map(([drop, ones]) => s.map((d, i) => (ones[i] ? 1 : d)).slice(drop))),
);

function arbArrayOperand(shape: number[]): fc.Arbitrary<Operand> {
  const size = shape.reduce((a, b) => a * b, 1);
  return fc.constantFrom<DType>('float32', 'int32', 'bool').chain((dtype) =>
    fc.array(dtype === 'float32' ? arbNumber : dtype === 'int32' ? fc.integer({ min: -4, max: 4 }) : fc.constantFrom(0, 1), { minLength: size, maxLength: size }).map((values) => ({ kind: 'array' as const, dtype, shape, values })),
  );
}
const arbScalar: fc.Arbitrary<Operand> = fc.oneof(arbNumber, fc.boolean()).map((value) => ({ kind: 'scalar' as const, value }));

/** Two operands that broadcast (or, now and then, a shape pair that does not: an error on every path). */
const arbOperands = fc.tuple(arbShapes, fc.boolean(), fc.integer({ min: 0, max: 9 })).chain(([[s, t], swap, k]) => {
  const [a, b] = swap ? [t, s] : [s, t];
  const bad = k === 0 && a.length > 0 ? [...a.slice(0, -1), a[a.length - 1]! + 1] : b;
  return fc.tuple(arbArrayOperand(a), k === 1 ? arbScalar : arbArrayOperand(bad));
});

const binaryOps: Record<string, (x: NDArray | number | boolean, y: NDArray | number | boolean) => NDArray> = {
  add: np.add, subtract: np.subtract, multiply: np.multiply, divide: np.divide, power: np.power, maximum: np.maximum, minimum: np.minimum,
  greater: np.greater, equal: np.equal, where: (x, y) => np.where(np.greater(x, 0), x, y), matmul: np.matmul,
};
const unaryOps: Record<string, (x: NDArray) => NDArray> = {
  exp: np.exp, log: np.log, sqrt: np.sqrt, negative: np.negative, abs: np.abs, square: np.square, sum: (x) => np.sum(x), sumLast: (x) => np.sum(x, -1),
  mean: (x) => np.mean(x), reshapeSame: (x) => np.reshape(x, x.shape), astypeSame: (x) => np.astype(x, x.dtype), astypeInt: (x) => np.astype(x, 'int32'),
};

function make(o: Operand): NDArray | number | boolean {
  return o.kind === 'scalar' ? o.value : scope(() => np.reshape(np.array(o.values, o.dtype), o.shape));
}

type Outcome = { dtype: DType; shape: number[]; bits: number[] } | { error: string };

/** What running `f` gives: dtype, shape and values (compared with Object.is, so −0 and NaN count), or the error's class and message. */
function outcome(f: () => NDArray): Outcome {
  let r: NDArray;
  try {
    r = f();
  } catch (e) {
    return { error: `${(e as Error).constructor.name}: ${(e as Error).message}` };
  }
  const out = { dtype: r.dtype, shape: r.shape, bits: Array.from(r.dataSync(), (v) => (Object.is(v, -0) ? -0 : v)) };
  (r as ConcreteArray).dispose();
  return out;
}

function sameOutcome(got: Outcome, want: Outcome, label: string): void {
  if ('error' in want || 'error' in got) {
    expect(got, label).toEqual(want);
    return;
  }
  expect([got.dtype, got.shape], label).toEqual([want.dtype, want.shape]);
  got.bits.forEach((v, i) => expect(Object.is(v, want.bits[i]), `${label}: element ${i} is ${v}, expected ${want.bits[i]}`).toBe(true));
}

describe('eager fast paths agree with the general path', () => {
  it('binary ops on random dtypes, shapes (broadcasting or not) and JS numbers: top level, in a scope and under jit give the same dtype, shape, bits and errors', () => {
    fc.assert(
      fc.property(arbOperands, fc.constantFrom(...Object.keys(binaryOps)), ([p, q], name) => {
        const op = binaryOps[name]!;
        const x = make(p), y = make(q);
        try {
          check(op, name, x, y);
        } finally {
          for (const a of [x, y]) if (a instanceof ConcreteArray) a.dispose();
        }
      }),
      { seed: FC_SEED, numRuns: 150 },
    );
    function check(op: (x: NDArray | number | boolean, y: NDArray | number | boolean) => NDArray, name: string, x: NDArray | number | boolean, y: NDArray | number | boolean): void {
        const top = outcome(() => op(x, y));
        const inScope = outcome(() => scope(() => op(x, y)));
        sameOutcome(inScope, top, `${name} in a scope`);
        // int32 power checks its exponents' values eagerly (a negative one is a ValueError); jit cannot.
        if (name === 'power') return;
        // Under jit every bind takes the general path (the dynamic trace is installed while tracing,
        // so the fast path's dynamicTrace === null test fails), then the executor runs the program.
        const jitted = outcome(() => (typeof y === 'object' ? jit((a: NDArray, b: NDArray) => op(a, b))(x as NDArray, y) : jit((a: NDArray) => op(a, y))(x as NDArray)));
        // jit's errors come from tracing: same class, and the message names the same problem.
        if ('error' in top) expect('error' in jitted ? jitted.error.split(':')[0] : jitted, `${name} under jit`).toBe(top.error.split(':')[0]);
        else sameOutcome(jitted, top, `${name} under jit`);
    }
  });

  it("operands of one dtype whose shapes do not broadcast: np's ShapeError naming the op and the shapes as given, eagerly as under jit, nothing left behind", () => {
    // Eagerly such a pair skips the general path's conversions (elementwise.ts: eagerPairAsItIs),
    // not its check: the shape rule would also refuse it, but naming the primitive (mul, not
    // multiply) and the rank-aligned shapes.
    for (const dtype of ['float32', 'int32'] as const) {
      const x = np.ones([3], dtype), y = np.ones([2, 4], dtype);
      for (const [name, op] of [['multiply', np.multiply], ['subtract', np.subtract], ['maximum', np.maximum], ['greater', np.greater]] as const) {
        for (const [a, b, sa, sb] of [[x, y, '[3]', '[2,4]'], [y, x, '[2,4]', '[3]']] as const) {
          const want = `${name}: shapes ${sa} and ${sb} cannot be broadcast together`;
          const before = numTensors();
          expect(() => op(a, b), `${name} ${dtype}`).toThrow(want);
          expect(() => scope(() => op(a, b)), `${name} ${dtype} in a scope`).toThrow(want);
          expect(() => jit((u: NDArray, v: NDArray) => op(u, v))(a, b), `${name} ${dtype} under jit`).toThrow(want);
          expect(numTensors(), `${name} ${dtype}`).toBe(before);
        }
      }
      (x as ConcreteArray).dispose();
      (y as ConcreteArray).dispose();
    }
  });

  it('unary ops and ops that may return their argument: same outcome at top level, in a scope and under jit', () => {
    fc.assert(
      fc.property(arbShapes.chain(([s]) => arbArrayOperand(s)), fc.constantFrom(...Object.keys(unaryOps)), (p, name) => {
        const op = unaryOps[name]!;
        const x = make(p) as NDArray;
        const top = outcome(() => op(x));
        sameOutcome(outcome(() => scope(() => op(x))), top, `${name} in a scope`);
        const jitted = outcome(() => jit(op)(x));
        if ('error' in top) expect('error' in jitted ? jitted.error.split(':')[0] : jitted, `${name} under jit`).toBe(top.error.split(':')[0]);
        else sameOutcome(jitted, top, `${name} under jit`);
        (x as ConcreteArray).dispose();
      }),
      { seed: FC_SEED, numRuns: 120 },
    );
  });
});

describe('top-level ops own exactly their result', () => {
  const a = np.array([[0.5, -1, 2], [1.5, -0, NaN]], 'float32');
  const b = np.array([1, 2, 3], 'int32');
  const aT = np.transpose(a), ones4 = np.ones([4]), t = np.array([true]), f = np.array([false]);
  const calls: [string, () => NDArray][] = [
    ['add', () => np.add(a, a)],
    ['multiply by a JS number (a constant freed)', () => np.multiply(a, 0.9)],
    ['add a broadcast int32 row (a convert and a reshape freed)', () => np.add(a, b)],
    ['where with a non-bool condition', () => np.where(a, a, 0)],
    ['sum with keepdims', () => np.sum(a, 1, true)],
    ['matmul', () => np.matmul(a, aT)],
  ];

  it('each call adds one tensor, and disposing the result takes it away', () => {
    for (const [label, call] of calls) {
      (call() as ConcreteArray).dispose(); // warm-up: lazily made constants
      const before = numTensors();
      const r = call() as ConcreteArray;
      expect(numTensors() - before, label).toBe(1);
      r.dispose();
      expect(numTensors(), label).toBe(before);
    }
  });

  it('ops that return their argument hand back a new handle: disposing either leaves the other intact', () => {
    for (const f of [(x: NDArray) => np.reshape(x, x.shape), (x: NDArray) => np.astype(x, 'float32'), (x: NDArray) => np.array(x)]) {
      const x = np.array([1, -0, 3], 'float32') as ConcreteArray;
      const r = f(x) as ConcreteArray;
      expect(r).not.toBe(x);
      expect(r.tensor).not.toBe(x.tensor);
      r.dispose();
      expect(Array.from(x.dataSync())).toEqual([1, -0, 3]);
      const r2 = f(x) as ConcreteArray;
      x.dispose();
      expect(Array.from(r2.dataSync())).toEqual([1, -0, 3]);
      r2.dispose();
    }
  });

  it("inside a user's tf.tidy, results belong to the tidy: freed at its end unless returned", () => {
    for (const [label, call] of calls) {
      call();
      const before = numTensors();
      tf.tidy(() => {
        call();
        call();
      });
      expect(numTensors(), `${label}: results left after the tidy`).toBe(before);
      const kept = tf.tidy(() => (call() as ConcreteArray).tensor);
      expect(numTensors(), `${label}: the returned result`).toBe(before + 1);
      expect(kept.isDisposed).toBe(false);
      kept.dispose();
    }
  });

  it('an op that fails half-way leaves nothing behind, at the top level and inside a tidy', () => {
    // (matmul(b, a) converts b to float32 and makes it a row before the inner sizes, 3 and 2, disagree.)
    const bad = [() => np.add(a, ones4), () => np.matmul(a, a), () => np.subtract(t, f), () => np.matmul(b, a)];
    for (const f of bad) {
      try {
        f();
      } catch {
        // the warm-up's error
      }
      const before = numTensors();
      expect(f).toThrow();
      expect(() => tf.tidy(() => void f())).toThrow();
      expect(numTensors()).toBe(before);
    }
  });
});

describe('JS numbers made into constants', () => {
  // weakConstant hands its typed array to the engine's makeTensor, which (unlike tf.tensor) checks
  // no dtype: np.asArray(2.5, 'float64') made a float64 tensor that TF.js's bookkeeping (cpu) or
  // backend (wasm) then refused with a bare "Unknown dtype float64", and on cpu the half-made
  // tensor stayed counted for good. The dtype is checked first, as np.array does.
  it('np.asArray of a JS number with an unsupported dtype is a DTypeError naming the op, and leaves nothing behind on either backend', async () => {
    await forEachBackend((backend) => {
      for (const x of [2.5, 3, true]) {
        for (const dtype of ['float64', 'float16', 'complex64', 'uint8', 'string']) {
          const before = numTensors();
          expect(() => np.asArray(x, dtype as DType), `${backend}: asArray(${x}, ${dtype})`).toThrow(DTypeError);
          expect(() => np.asArray(x, dtype as DType)).toThrow(/asArray: unsupported dtype/);
          expect(numTensors(), `${backend}: tensors left by asArray(${x}, ${dtype})`).toBe(before);
        }
      }
      // The other inputs asArray takes refuse it the same way (they reached tf.tensor's own error).
      for (const x of [[1, 2], Float32Array.of(1), Int32Array.of(1)]) expect(() => np.asArray(x, 'float64' as DType)).toThrow(/asArray: unsupported dtype 'float64'/);
      const before = numTensors();
      (np.asArray(2.5, 'int32') as ConcreteArray).dispose(); // the supported ones still work
      expect(numTensors()).toBe(before);
    });
  });
});

describe('a freed array as an operand', () => {
  // The eval interpreter read the operand's tensor, whose getter knows neither the op nor whether
  // gradus or the caller freed it: 'an array f32[2] was used after it was freed. gradus frees the
  // intermediates of a transformation when it returns...', for an array the caller disposed at the
  // top level. The error names the primitive and the operand, and both ways an array gets freed.
  it('is a DisposedError naming the primitive and the operand, at top level, in a scope and inside grad', () => {
    const x = np.array([1, 2], 'float32') as ConcreteArray;
    const y = np.array([3, 4], 'float32');
    x.dispose();
    const cases: [string, () => unknown, RegExp][] = [
      ['add', () => np.add(x, 1), /^add: operand 0 \(f32\[2\]\) was used after it was freed/],
      ['add, second operand', () => np.add(y, x), /^add: operand 1 \(f32\[2\]\) was used after it was freed/],
      ['exp', () => np.exp(x), /^exp: operand 0 /],
      // (These said mul, the primitive: np.multiply names itself, and so does its alias np.mul.)
      ['in a scope', () => scope(() => np.multiply(y, x)), /^multiply: operand 1 /],
      ['closed over in grad', () => grad((a: NDArray) => np.sum(np.multiply(a, x)))(y), /^multiply: operand 1 /],
      ['alias', () => np.mul(y, x), /^multiply: operand 1 /],
    ];
    for (const [label, call, message] of cases) {
      const before = numTensors();
      expect(call, label).toThrow(DisposedError);
      expect(call, label).toThrow(message);
      expect(call, label).toThrow(/disposed by the caller .* or freed by gradus when the scope or transformation that made it returned/);
      expect(numTensors(), label).toBe(before);
    }
    (y as ConcreteArray).dispose();
  });
});

describe('np.asArray at the top level', () => {
  // asArray is no defop (ops call it on every operand), so at the top level of user code nothing
  // freed what its list-of-arrays branch made besides the result: np.asArray([a, b]) left one
  // reshaped row per element (and an astype per element of another dtype) behind for good, and
  // np.asArray(tensor, dtype) the handle it shared before converting.
  // zerosLike/onesLike/fullLike made an array of a list or tensor argument for its shape and kept
  // it, and full with an array fill value of another dtype kept the converted fill value.
  it('zerosLike, onesLike and fullLike of a list or tf.Tensor, and full with an array fill value of another dtype, add exactly their result', () => {
    const a = np.array([1, 2], 'float32'), t = tf.tensor([[1, 2]], [1, 2], 'int32');
    const calls: [string, () => NDArray, unknown][] = [
      ['zerosLike(list)', () => np.zerosLike([1, 2, 3]), [0, 0, 0]],
      ['onesLike(nested list)', () => np.onesLike([[1.5, 2]]), [[1, 1]]],
      ['fullLike(list)', () => np.fullLike([1, 2], 3), [3, 3]],
      ['fullLike(tf.Tensor)', () => np.fullLike(t, 7), [[7, 7]]],
      ['zerosLike(tf.Tensor, bool)', () => np.zerosLike(t, 'bool'), [[false, false]]],
      ['full([2, 2], a, int32)', () => np.full([2, 2], a, 'int32'), [[1, 2], [1, 2]]],
    ];
    for (const [label, call, want] of calls) {
      const before = numTensors();
      const r = call() as ConcreteArray;
      expect(numTensors() - before, label).toBe(1);
      expect(r.toArray(), label).toEqual(want);
      r.dispose();
      expect(numTensors(), label).toBe(before);
    }
    expect(t.isDisposed || (a as ConcreteArray).isDisposed).toBe(false);
    t.dispose();
    (a as ConcreteArray).dispose();
  });

  it('a list of arrays (or a tf.Tensor converted to another dtype) adds exactly its result, and disposing that leaves nothing', () => {
    const a = np.array([1, 2], 'float32'), i = np.array([3, 4], 'int32'), t = tf.tensor([5.5, 6]);
    const lists: [string, () => NDArray][] = [
      ['[a, a]', () => np.asArray([a, a])],
      ['[a, i] (i converted)', () => np.asArray([a, i])],
      ['[[a, i], [i, a]]', () => np.asArray([[a, i], [i, a]])],
      ['[a] as int32', () => np.asArray([a], 'int32')],
      ['[a]', () => np.asArray([a])],
      ['[[1, 2], a]', () => np.asArray([[1, 2], a])],
      ['a tf.Tensor as int32', () => np.asArray(t, 'int32')],
    ];
    for (const [label, call] of lists) {
      const before = numTensors();
      const r = call() as ConcreteArray;
      expect(numTensors() - before, label).toBe(1);
      r.dispose();
      expect(numTensors(), label).toBe(before);
      expect((a as ConcreteArray).isDisposed || (i as ConcreteArray).isDisposed, label).toBe(false);
    }
    expect(np.asArray([a, i]).toArray()).toEqual([[1, 2], [3, 4]]);
    expect(np.asArray(t, 'int32').toArray()).toEqual([5, 6]);
    expect(t.isDisposed).toBe(false);
    t.dispose();
    (a as ConcreteArray).dispose();
    (i as ConcreteArray).dispose();
  });
});

// Bad input a user types at the REPL is refused by the op they called, with the shapes, paths or
// step involved and what was expected — not a RangeError from TF.js, a silent NaN, or a message
// about something else — and the refused call leaves nothing behind: no tensors, and the state or
// jit cache it was handed still works for the next valid call. (Found by fuzzing the public API:
// each case below failed one of these before its fix.)
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GradusError, foriLoop, getBackend, grad, jit, np, random, scope, setBackend, vmap, type NDArray } from '../src/index.js';
import * as optim from '../optim/index.js';
import { FC_SEED, noLeak, numTensors, refuses } from './helpers.js';

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('a shape too large for any array is refused by the op that was given it', () => {
  // Dimensions whose product passes 2³¹ − 1: data passed where a shape belongs, or a size computed
  // wrongly. TF.js threw "RangeError: Invalid typed array length" (zeros, ones, full, random.*) or
  // "Invalid array length" (arange, linspace), naming neither the op nor the shape.
  const hugeShape = fc
    .array(fc.integer({ min: 1, max: 1 << 20 }), { minLength: 2, maxLength: 4 })
    .filter((s) => s.reduce((a, d) => a * d, 1) > 2 ** 31 - 1);

  it('zeros, ones, full, broadcastTo, eye and the random samplers name the op and the shape', () => {
    const makers: [string, (s: number[]) => unknown][] = [
      ['full', (s) => np.zeros(s)],
      ['full', (s) => np.ones(s, 'int32')],
      ['full', (s) => np.full(s, true)],
      ['broadcastTo', (s) => np.broadcastTo(np.ones([1]), s)],
      ['random.normal', (s) => random.normal(random.key(0), s)],
      ['random.uniform', (s) => random.uniform(random.key(0), s)],
      ['random.bernoulli', (s) => random.bernoulli(random.key(0), 0.5, s)],
    ];
    fc.assert(
      fc.property(hugeShape, fc.integer({ min: 0, max: makers.length - 1 }), (shape, k) => {
        const [op, make] = makers[k]!;
        refuses(() => make(shape), GradusError, new RegExp(`^${escapeRegExp(op)}: shape \\[${shape.join(',')}\\] has (\\d+|about \\d\\.\\d\\de\\+\\d+) elements; expected at most 2³¹ − 1`));
      }),
      { seed: FC_SEED, numRuns: 40 },
    );
    refuses(() => np.eye(50_000), GradusError, /^eye: shape \[50000,50000\] has 2500000000 elements/);
  });

  it('arange and linspace refuse a length past 2³¹ − 1 before building it', () => {
    refuses(() => np.arange(0, 1e10), GradusError, /^arange: shape \[10000000000\] has 10000000000 elements/);
    refuses(() => np.arange(0, 1, 1e-12), GradusError, /^arange: shape \[1000000000000\]/);
    refuses(() => np.linspace(0, 1, 2 ** 31), GradusError, /^linspace: shape \[2147483648\]/);
    // The largest shapes allowed still pass the check (empty ones, and sizes up to the bound).
    noLeak(() => {
      expect(np.zeros([2 ** 31 - 1, 0]).shape).toEqual([2147483647, 0]);
      expect(np.arange(0, 3).shape).toEqual([3]);
    });
  });
});

describe('a result too large for any array is refused before its kernel runs', () => {
  // Operands that fit, and a result that does not: [1e5, 1] + [1, 1e5], a pad or tile past 2³¹ − 1.
  // The binary ops and tile failed inside wasm with "memory access out of bounds", after which
  // every later op failed too (the backend was broken); pad returned an array of shape
  // [10000000002] over wrapped-around memory, with no error.
  it('binary ops, where, outer, pad and tile name the op and the shape; later ops still work', () => {
    const ops: [string, (a: NDArray, b: NDArray) => unknown][] = [
      ['add', (a, b) => np.add(a, b)],
      ['multiply', (a, b) => np.multiply(a, b)],
      ['maximum', (a, b) => np.maximum(a, b)],
      ['where', (a, b) => np.where(np.greater(a, 0), a, b)],
      ['multiply', (a, b) => np.outer(np.ravel(a), np.ravel(b))],
    ];
    noLeak(() => fc.assert(
      fc.property(fc.integer({ min: 46_341, max: 120_000 }), fc.integer({ min: 46_341, max: 120_000 }), fc.integer({ min: 0, max: ops.length - 1 }), (m, n, k) => {
        const [op, call] = ops[k]!;
        scope(() => {
          const a = np.ones([m, 1]), b = np.ones([1, n]);
          refuses(() => call(a, b), GradusError, new RegExp(`^${op}: shape \\[${m},${n}\\] has ${m * n} elements; expected at most 2³¹ − 1`));
        });
      }),
      { seed: FC_SEED, numRuns: 10 },
    ));
    refuses(() => np.pad(np.ones([2]), [[1e10, 0]]), GradusError, /^pad: shape \[10000000002\] has 10000000002 elements/);
    refuses(() => np.pad(np.ones([2, 2]), 2 ** 30), GradusError, /^pad: shape \[2147483650,2147483650\] has about 4\.61e\+18 elements/);
    refuses(() => np.tile(np.ones([100_000]), [100_000]), GradusError, /^tile: shape \[10000000000\] has 10000000000 elements/);
    refuses(() => np.tile(np.ones([3]), [50_000, 50_000]), GradusError, /^tile: shape \[50000,150000\] has 7500000000 elements/);
    noLeak(() => {
      expect(np.add(np.ones([3]), 1).toArray()).toEqual([2, 2, 2]);
      expect(np.pad(np.ones([2]), [[1, 0]]).toArray()).toEqual([0, 1, 1]);
      expect(np.tile(np.array([1, 2]), [2]).toArray()).toEqual([1, 2, 1, 2]);
      expect(jit((a: NDArray, b: NDArray) => np.add(a, b))(np.ones([2, 1]), np.ones([1, 3])).shape).toEqual([2, 3]);
    });
  });
});

describe('vmap: an inAxes entry that is not an integer is named as such', () => {
  it('a fractional axis is "not an integer" (it was called out of range); an integer out of range gives the valid range; the next valid call works', () => {
    fc.assert(
      fc.property(fc.double({ min: -3, max: 3, noNaN: true }).filter((a) => !Number.isInteger(a)), (a) => {
        refuses(() => vmap((x: NDArray) => np.sin(x), { inAxes: a })(np.ones([2, 3])), GradusError,
          new RegExp(`^vmap: inAxes ${escapeRegExp(String(a))} for argument \\[0\\] is not an integer; expected an axis of its shape \\[2,3\\] or null`));
      }),
      { seed: FC_SEED, numRuns: 20 },
    );
    refuses(() => vmap((x: NDArray) => x, { inAxes: 2 })(np.ones([2, 3])), GradusError, /^vmap: inAxes 2 is out of range for argument \[0\] of shape \[2,3\]; expected an integer in \[-2, 1\] or null/);
    const f = vmap((p: { w: NDArray }, x: NDArray) => np.multiply(p.w, x), { inAxes: [{ w: 1.5 }, 0] });
    refuses(() => f({ w: np.ones([3, 2]) }, np.ones([2])), GradusError, /^vmap: inAxes 1.5 for argument \[0\]\.w is not an integer/);
    noLeak(() => expect(vmap((x: NDArray) => np.sum(x), { inAxes: 1 })(np.ones([2, 3])).shape).toEqual([3]));
  });
});

describe('foriLoop: an array bound is named as an array', () => {
  it('eagerly and under jit the message gives its type and points to whileLoop (it said "got object"); the jit function still works after', () => {
    refuses(() => foriLoop(0, np.array(3) as unknown as number, (_i, c: NDArray) => c, np.zeros([])), GradusError,
      /^foriLoop: upper must be a JS integer .*for a bound known only at run time use whileLoop\), got an array i32\[\]$/);
    const loop = jit((n: NDArray | number, x: NDArray) => foriLoop(0, n as number, (_i, c: NDArray) => np.add(c, 1), x));
    refuses(() => loop(np.array(3), np.zeros([])), GradusError, /^foriLoop: upper must be a JS integer .* got an array i32\[\]$/);
    refuses(() => foriLoop(np.array(0.5, 'float32') as unknown as number, 2, (_i, c: NDArray) => c, np.zeros([])), GradusError, /^foriLoop: lower must be .* got an array f32\[\]$/);
    noLeak(() => expect(jit((x: NDArray) => foriLoop(0, 3, (_i, c: NDArray) => np.add(c, 1), x))(np.zeros([])).item()).toBe(3));
  });
});

describe('a schedule that gives a non-finite or non-numeric value is refused at that step', () => {
  // A NaN or infinite learning rate (or weight decay, or decay rate) from a schedule turned every
  // parameter into NaN with no error; undefined or a string was a DTypeError from np.array that
  // named neither the optimizer nor the schedule. The state handed to the refused update still works.
  type P = { w: NDArray; b: NDArray };
  const params = (): P => ({ w: np.ones([2, 2]), b: np.zeros([2]) });
  const grads = (): P => ({ w: np.ones([2, 2]), b: np.ones([2]) });
  const badValues: [string, unknown][] = [['NaN', NaN], ['Infinity', Infinity], ['-Infinity', -Infinity], ['undefined', undefined], ['null', null], ['string', '1e-3'], ['object', {}]];
  // Each maker builds an optimizer whose schedule gives `value(count)`; `op` and `what` name it in the
  // message, and the step shown is the schedule's argument (Adafactor's decay schedule gets t = count + 1).
  const makers: { name: string; op: string; what: string; shift: number; make: (value: (count: number) => unknown) => optim.Optimizer }[] = [
    { name: 'sgd', shift: 0, op: 'scaleBySchedule', what: 'the schedule', make: (v) => optim.sgd((c) => v(Number(c)) as number, { momentum: 0.9 }) },
    { name: 'adam', shift: 0, op: 'scaleBySchedule', what: 'the schedule', make: (v) => optim.adam((c) => v(Number(c)) as number) },
    { name: 'adamw weight decay', shift: 0, op: 'addDecayedWeights', what: 'the weight-decay schedule', make: (v) => optim.adamw(1e-3, { weightDecay: (c) => v(Number(c)) as number }) },
    { name: 'scaleBySchedule', shift: 0, op: 'scaleBySchedule', what: 'the schedule', make: (v) => optim.scaleBySchedule((c) => v(Number(c)) as number) },
    { name: 'injectHyperparams', shift: 0, op: 'injectHyperparams', what: "the schedule of 'lr'", make: (v) => optim.injectHyperparams((h) => optim.sgd(h.lr), { lr: (c: NDArray | number) => (Number(c) === 0 ? 0.1 : v(Number(c))) as number }) },
    { name: 'adafactor decaySchedule', shift: 1, op: 'scaleByFactoredRms', what: 'decaySchedule', make: (v) => optim.chain(optim.scaleByFactoredRms({ decaySchedule: (t) => v(Number(t) - 1) as number }), optim.scale(-1e-3)) },
  ];

  it('every optimizer path names the transformation, the schedule, the step and the value; nothing leaks; the last good state still steps', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: makers.length - 1 }), fc.integer({ min: 0, max: badValues.length - 1 }), fc.integer({ min: 1, max: 3 }), (m, b, badStep) => {
        const { op, what, make, shift } = makers[m]!;
        const [label, bad] = badValues[b]!;
        const opt = make((c) => (c >= badStep ? bad : 0.1));
        const healthy = make(() => 0.1);
        const before = numTensors();
        scope(() => {
          const p = params();
          // badStep good updates first (the schedule is fine until then), then the refused one.
          let state = opt.init(p);
          for (let k = 0; k < badStep; k++) state = opt.update(grads(), state, p)[1];
          const want = typeof bad === 'number' ? `must be a finite number, got ${label}` : `must be a number or a 0-d array, got ${label === 'string' ? 'string' : label}`;
          refuses(() => opt.update(grads(), state, p), GradusError, new RegExp(`^${escapeRegExp(op)}: the value ${escapeRegExp(what)} gave at step ${badStep + shift} ${escapeRegExp(want)}`));
          // The state is not consumed or corrupted by the refused call: an optimizer of the same
          // structure with a good schedule takes it and steps on with finite updates.
          const [u] = healthy.update(grads(), state, p) as [P, unknown];
          for (const leaf of [u.w, u.b]) expect(Array.from(leaf.dataSync()).every(Number.isFinite)).toBe(true);
        });
        expect(numTensors()).toBe(before);
      }),
      { seed: FC_SEED, numRuns: 40 },
    );
  });

  it('a finite schedule value, and an array one (not read back), are still taken', () => {
    noLeak(() => {
      const p = params();
      const opt = optim.sgd((c) => (Number(c) < 1 ? 0.5 : -0.25));
      const [u0, s1] = opt.update(grads(), opt.init(p), p);
      expect(Array.from(u0.w.dataSync())).toEqual([-0.5, -0.5, -0.5, -0.5]);
      expect(Array.from(opt.update(grads(), s1, p)[0].b.dataSync())).toEqual([0.25, 0.25]);
      const arr = optim.sgd(() => np.array(0.5, 'float32'));
      expect(Array.from(arr.update(grads(), arr.init(p), p)[0].b.dataSync())).toEqual([-0.5, -0.5]);
      // A tf.Tensor stands for an array here too, as it did before the check.
      const rate = tf.scalar(0.25);
      const tensorRate = optim.scaleBySchedule(() => rate as unknown as number);
      expect(Array.from(tensorRate.update(grads(), tensorRate.init(p), p)[0].b.dataSync())).toEqual([0.25, 0.25]);
      rate.dispose();
    });
  });
});

describe('np.round takes decimals, as NumPy and JAX do', () => {
  // np.round(x, 2) ignored the 2 and rounded to integers, with no error. NumPy's float32 values
  // (fixtures/round_refs.json, made by fixtures/make_round_refs.py) for decimals −3…4, bit for bit.
  const refs = JSON.parse(readFileSync(new URL('./fixtures/round_refs.json', import.meta.url), 'utf8')) as { x: number[]; cases: { decimals: number; out: number[] }[] };

  it('equals NumPy bit for bit eagerly and under jit; integers keep their values; the derivative is zero', () => {
    noLeak(() => {
      const x = np.array(refs.x, 'float32');
      const jitted = jit((a: NDArray, d: number) => np.round(a, d), { staticArgnums: [1] });
      for (const { decimals, out } of refs.cases) {
        const want = Array.from(Float32Array.from(out));
        for (const [label, got] of [['eager', np.round(x, decimals)], ['jit', jitted(x, decimals)]] as const) {
          const values = Array.from(got.dataSync());
          values.forEach((v, i) => expect(Object.is(v, want[i]), `${label} round(${refs.x[i]}, ${decimals}) = ${v}, NumPy ${want[i]}`).toBe(true));
        }
      }
      jitted.clearCache();
      const ints = np.array([15, -25, 7]);
      expect(np.round(ints, 2).dtype).toBe('int32');
      expect(np.round(ints, 2).toArray()).toEqual([15, -25, 7]);
      expect(grad((a: NDArray) => np.sum(np.round(a, 2)))(x).toArray()).toEqual(refs.x.map(() => 0));
    });
  });

  it('equals NumPy at the edges: NaN, ±inf, ±0, float32 extremes, ties, decimals whose 10^d overflows; eagerly, under jit and vmap', () => {
    // fixtures/round_edge_refs.json (make_round_edge_refs.py): NumPy float32, |decimals| up to 45,
    // where 10^d is inf in float32 and NumPy's result is NaN; round(3.4e38, 1) overflows to inf.
    const edge = JSON.parse(readFileSync(new URL('./fixtures/round_edge_refs.json', import.meta.url), 'utf8')) as { x: string[]; cases: { decimals: number; out: string[] }[] };
    const parse = (v: string) => (v === 'nan' ? NaN : v === 'inf' ? Infinity : v === '-inf' ? -Infinity : Number(v));
    noLeak(() => {
      const x = np.array(Float32Array.from(edge.x.map(parse)), 'float32');
      const jitted = jit((a: NDArray, d: number) => np.round(a, d), { staticArgnums: [1] });
      for (const { decimals, out } of edge.cases) {
        const want = Array.from(Float32Array.from(out.map(parse)));
        const batched = vmap((a: NDArray) => np.round(a, decimals))(np.reshape(x, [-1, 1]));
        for (const [label, got] of [['eager', np.round(x, decimals)], ['jit', jitted(x, decimals)], ['vmap', batched]] as const) {
          const values = Array.from(got.dataSync());
          values.forEach((v, i) => expect(Object.is(v, want[i]), `${label} round(${edge.x[i]}, ${decimals}) = ${v}, NumPy ${want[i]}`).toBe(true));
        }
      }
      jitted.clearCache();
    });
  });

  it("keeps NumPy's −0 on the cpu backend too (TF.js's cpu Round gave +0 at a tie below zero: round(−0.5))", async () => {
    // NumPy float32: round(x) and round(x, 1) of x below (−0.05 · 10 is a tie at −0.5).
    const x = [-0.5, -0.05, -0.4, -1.5, 0.5, -2.5, -0];
    const want0 = [-0, -0, -0, -2, 0, -2, -0];
    const want1 = Array.from(Float32Array.from([-0.5, -0, -0.4, -1.5, 0.5, -2.5, -0]));
    const start = getBackend();
    await setBackend('cpu');
    try {
      noLeak(() => {
        const a = np.array(x, 'float32');
        const jitted = jit((v: NDArray) => np.round(v, 1));
        for (const [label, got, want] of [['round(x)', np.round(a), want0], ['round(x, 1)', np.round(a, 1), want1], ['jit round(x, 1)', jitted(a), want1]] as const) {
          Array.from(got.dataSync()).forEach((v, i) => expect(Object.is(v, want[i]), `cpu ${label} at ${x[i]}: ${Object.is(v, -0) ? '-0' : v}, NumPy ${Object.is(want[i], -0) ? '-0' : want[i]}`).toBe(true));
        }
        jitted.clearCache();
      });
    } finally {
      await setBackend(start);
    }
  });

  it('decimals that are not integers, and negative decimals of integers (JAX raises), are refused by round', () => {
    refuses(() => np.round(np.ones([2]), 1.5), GradusError, /^round: decimals must be a JS integer \(the number of decimal places\), got 1.5/);
    refuses(() => np.round(np.ones([2]), '2' as unknown as number), GradusError, /^round: decimals must be a JS integer .* got string/);
    refuses(() => np.round(np.array([15]), -1), GradusError, /^round: decimals -1 < 0 is not supported for integer arrays \(i32\[1\]; JAX raises too\)/);
  });
});

describe('other arguments a NumPy user passes', () => {
  it("where(condition) alone is named as unsupported (it was array's 'cannot convert a undefined'); a string axis is named a string", () => {
    refuses(() => (np.where as (...a: unknown[]) => unknown)(np.array([true, false])), GradusError, /^where: expected \(condition, x, y\), got no x or y; NumPy's where\(condition\) alone/);
    refuses(() => (np.where as (...a: unknown[]) => unknown)(np.array([true, false]), 1), GradusError, /^where: expected \(condition, x, y\), got no y/);
    // '0' printed as 0: "axis 0 is out of range … expected an integer in [-2, 1]".
    refuses(() => np.sum(np.ones([2, 3]), '0' as unknown as number), GradusError, /^sum: axis '0' \(a string\) is out of range for an array of rank 2/);
    refuses(() => np.cumsum(np.ones([2, 3]), '1' as unknown as number), GradusError, /^cumsum: axis '1' \(a string\) is out of range/);
    refuses(() => np.mean(np.ones([2, 3]), ['01'] as unknown as number[]), GradusError, /^mean: axis '01' \(a string\) is out of range/);
  });
});

describe('a disposed tf.Tensor passed in is a DisposedError', () => {
  it('np ops, np.array of a list holding one, grad, vmap and jit name it, instead of a TypeError from TF.js', () => {
    const t = tf.ones([3]);
    t.dispose();
    const freed = t as unknown as NDArray;
    const message = /^asArray: a tf\.Tensor \(float32\[3\]\) was passed after it was disposed/;
    for (const call of [
      () => np.add(freed, 1),
      () => np.array([freed, freed]),
      () => grad((x: NDArray) => np.sum(x))(freed),
      () => vmap((x: NDArray) => np.sin(x))(freed),
      () => jit((x: NDArray) => np.sin(x))(freed),
    ]) refuses(call, GradusError, message);
    noLeak(() => expect(np.add(tf.ones([3]), 1).toArray()).toEqual([2, 2, 2]));
  });
});

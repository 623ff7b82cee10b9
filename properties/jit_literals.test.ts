// Literals (JS numbers written into programs) in the compiled executor (src/executor.ts): each
// distinct literal a program's kernels read is made once per run (a scan's or while loop's body:
// once per loop call), counted by the tensor ids a call uses; values stay bitwise those of eager
// code (literals told apart by dtype, shape, −0 and NaN); a returned literal is a handle of the
// caller's own; and literal tensors never outlive the call that made them, so counting tensors
// around a jit call needs no clearCache for them (unlike constants closed over while tracing,
// which the jit cache owns) — also when a kernel throws half-way.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ConcreteArray, type NDArray, checkpoint, dispose, jit, lax, np, scope } from '../src/index.js';
import { kernels } from '../src/kernels.js';
import { FC_SEED, numTensors, sameBits, tensorsMade, withFailingMul } from './helpers.js';

describe('literals under jit', () => {
  it('a literal read by many kernels is made once per run: a chain of n ops by two JS numbers makes n + 2 tensors, two more than the same chain on array operands', () => {
    const x = np.array([0.5, -1, 2], 'float32');
    const m = np.array([0.5, 0.5, 0.5], 'float32'), a = np.array([0.25, 0.25, 0.25], 'float32');
    for (const n of [2, 10, 40]) {
      const onNumbers = jit((v: NDArray) => {
        for (let i = 0; i < n / 2; i++) v = np.add(np.multiply(v, 0.5), 0.25);
        return v;
      });
      const onArrays = jit((v: NDArray, mm: NDArray, aa: NDArray) => {
        for (let i = 0; i < n / 2; i++) v = np.add(np.multiply(v, mm), aa);
        return v;
      });
      dispose([onNumbers(x), onArrays(x, m, a)]); // traces
      const withNumbers = tensorsMade(() => onNumbers(x));
      expect(withNumbers - tensorsMade(() => onArrays(x, m, a)), `n = ${n}`).toBe(2);
      expect(sameBits(scope(() => onNumbers(x)), scope(() => onArrays(x, m, a)))).toBe(true);
      onNumbers.clearCache();
      onArrays.clearCache();
    }
    dispose([x, m, a]);
  });

  it('random chains on float32, int32 and bool values with literals from a small pool (0 and −0, NaN, ±∞, one value in several dtypes) equal eager bitwise, and leave no tensor behind without clearCache', () => {
    const floatLits = [0, -0, 1, 2, 0.5, -1.5, NaN, Infinity, -Infinity];
    const intLits = [0, 1, 2, -1, 3];
    const floatOps = ['add', 'subtract', 'multiply', 'divide', 'maximum', 'minimum'] as const;
    const arbStep = fc.oneof(
      fc.record({ kind: fc.constant('float' as const), op: fc.constantFrom(...floatOps), lit: fc.constantFrom(...floatLits), litFirst: fc.boolean() }),
      fc.record({ kind: fc.constant('int' as const), op: fc.constantFrom('add', 'multiply', 'subtract'), lit: fc.constantFrom(...intLits), litFirst: fc.boolean() }),
      fc.record({ kind: fc.constant('select' as const), op: fc.constantFrom('less', 'greater', 'equal'), lit: fc.constantFrom(...floatLits), litFirst: fc.boolean() }),
    );
    const x = np.array([0.5, -1, 2, 0, -0, 3], 'float32');
    const k = np.array([1, -2, 0, 5, 7, -3], 'int32');
    fc.assert(fc.property(fc.array(arbStep, { minLength: 1, maxLength: 12 }), (steps) => {
      // Every step's value is an output, so a literal taken for another (0 for −0, 2 for int 2)
      // shows even where later steps would absorb it (NaN, ∞, 0).
      const program = (xv: NDArray, kv: NDArray): NDArray[] => {
        let f = xv, i = kv;
        const outs: NDArray[] = [];
        for (const s of steps) {
          if (s.kind === 'float') outs.push(f = np[s.op](s.litFirst ? s.lit : f, s.litFirst ? f : s.lit) as NDArray);
          else if (s.kind === 'int') outs.push(i = np[s.op](s.litFirst ? np.array(s.lit, 'int32') : i, s.litFirst ? i : np.array(s.lit, 'int32')) as NDArray);
          // A comparison with a literal (bool), then a literal picked where it holds.
          else outs.push(f = np.where(np[s.op](f, s.lit), s.litFirst ? s.lit : 2, f));
          // Each step also on the input, which no earlier literal has absorbed.
          if (s.kind !== 'int') outs.push(np.multiply(np.add(xv, s.lit), s.lit));
        }
        return outs;
      };
      const before = numTensors();
      const jitted = jit(program);
      const want = scope(() => program(x, k));
      for (let run = 0; run < 2; run++) {
        const got = jitted(x, k);
        got.forEach((g, j) => expect(sameBits(g, want[j]!), `run ${run}, output ${j}: ${Array.from(g.dataSync())} vs ${Array.from(want[j]!.dataSync())}`).toBe(true));
        dispose(got);
      }
      dispose(want);
      // Nothing outlives the calls, clearCache or not: literals are not kept with the program.
      expect(numTensors()).toBe(before);
      jitted.clearCache();
    }), { seed: FC_SEED, numRuns: 60 });
    dispose([x, k]);
  });

  it('NaN literals of another sign or payload are other literals: each keeps its bits, as eagerly (they shared the first one\'s tensor)', () => {
    // Size-1 arrays closed over become literals; a NaN's sign and payload survive into them.
    const nanBits = [0x7fc00000, 0xffc00000, 0x7fc00001, 0xffc00123];
    const nans = nanBits.map((b) => np.array(new Float32Array(new Uint32Array([b]).buffer)));
    const x = np.array([1, -1], 'float32');
    const bits = (a: NDArray) => Array.from(new Uint32Array(Float32Array.from(a.dataSync()).buffer));
    for (const order of [nans, [...nans].reverse()]) {
      const g = (v: NDArray) => order.map((n) => np.where(np.greater(v, 0), n, v));
      const want = scope(() => g(x));
      const jitted = jit(g);
      const got = jitted(x);
      got.forEach((a, i) => expect(bits(a)[0]!.toString(16), `output ${i}`).toBe(bits(want[i]!)[0]!.toString(16)));
      dispose([got, want]);
      jitted.clearCache();
    }
    dispose([...nans, x]);
  });

  it('a returned literal is a new handle on every call, apart from the tensor the kernels read for the same value', () => {
    const x = np.array([1, 2], 'float32');
    const before = numTensors();
    const f = jit((v: NDArray) => ({ doubled: np.multiply(v, 2), two: np.add(np.array(1, 'float32'), 1) }));
    const first = f(x) as { doubled: ConcreteArray; two: ConcreteArray };
    const second = f(x) as { doubled: ConcreteArray; two: ConcreteArray };
    expect(first.two.tensor === second.two.tensor).toBe(false);
    first.two.dispose();
    expect(Array.from(second.two.dataSync())).toEqual([2]);
    expect(Array.from(second.doubled.dataSync())).toEqual([2, 4]);
    dispose([first, second]);
    expect(numTensors()).toBe(before);
    f.clearCache();
    dispose(x);
  });
});

describe('literals in loop bodies', () => {
  const x = np.array([0.5, -1, 2], 'float32');
  const half = np.array([0.5, 0.5, 0.5], 'float32'), quarter = np.array([0.25, 0.25, 0.25], 'float32');

  /** Tensors a loop of `length` iterations makes per iteration (the loop's fixed costs cancel). */
  const perIteration = (loop: (length: number) => unknown) => (tensorsMade(() => loop(20)) - tensorsMade(() => loop(10))) / 10;

  it('a scan body\'s literals are made once per scan, not per iteration, eager and under jit, with values equal to the body on array operands', () => {
    const onNumbers = (length: number) => lax.scan((c: NDArray) => [np.add(np.multiply(c, 0.5), 0.25), null] as const, x, null, { length })[0];
    const onArrays = (length: number) => lax.scan((c: NDArray) => [np.add(np.multiply(c, half), quarter), null] as const, x, null, { length })[0];
    expect(perIteration(onNumbers)).toBe(perIteration(onArrays));
    expect(sameBits(scope(() => onNumbers(7)), scope(() => onArrays(7)))).toBe(true);
    const jitted = jit((v: NDArray, xs: NDArray) => lax.scan((c: NDArray, xi: NDArray) => [np.add(np.multiply(c, 0.5), xi), np.multiply(c, -0)] as const, v, xs)[1]);
    const xs = np.ones([5, 3]);
    const before = numTensors();
    const ys = jitted(x, xs);
    expect(Array.from(ys.dataSync()).slice(0, 3).map((v) => Object.is(v, -0) || Object.is(v, 0) ? Math.sign(1 / v) : v)).toEqual([-1, 1, -1]);
    dispose(ys);
    expect(numTensors()).toBe(before);
    jitted.clearCache();
    dispose(xs);
  });

  it('a while loop\'s condition and body literals are made once per loop, and values equal the loop on array operands', () => {
    type C = { i: NDArray; v: NDArray };
    const loop = (consts: { h: number | NDArray; q: number | NDArray }) => (length: number) =>
      lax.whileLoop((c: C) => np.less(c.i, length), (c: C): C => ({ i: np.add(c.i, 1), v: np.add(np.multiply(c.v, consts.h), consts.q) }), { i: np.array(0, 'int32'), v: x }).v;
    const ones = np.array(1, 'int32');
    const onArrays = (length: number) => lax.whileLoop((c: C) => np.less(c.i, np.array(length, 'int32')), (c: C): C => ({ i: np.add(c.i, ones), v: np.add(np.multiply(c.v, half), quarter) }), { i: np.array(0, 'int32'), v: x }).v;
    expect(perIteration(loop({ h: 0.5, q: 0.25 }))).toBe(perIteration(onArrays));
    expect(sameBits(scope(() => loop({ h: 0.5, q: 0.25 })(6)), scope(() => onArrays(6)))).toBe(true);
    dispose(ones);
  });
});

/** Runs `fn` with the mul kernel recording the live tensor count at each call; returns the counts. */
function liveAtEachMul(fn: () => unknown): number[] {
  const original = kernels.mul;
  const counts: number[] = [];
  kernels.mul = (inputs, params) => {
    counts.push(numTensors());
    return original(inputs, params);
  };
  try {
    dispose(fn());
  } finally {
    kernels.mul = original;
  }
  return counts;
}

// The scope around a call frees whatever the call made, so what is left after a call cannot tell
// when literals are freed; the live count while the kernels run can.
describe('literal tensors are freed as soon as they are done with, not when the call ends', () => {
  const x = np.array([0.5, -1, 2], 'float32');

  it('in a jit program, each literal after its last use: over a chain of distinct literals the live count stays flat', () => {
    const f = jit((v: NDArray) => {
      for (let i = 0; i < 20; i++) v = np.multiply(v, 1 + i / 64);
      return v;
    });
    dispose(f(x));
    // (The first multiply reads the argument; each later one, the previous product.)
    const counts = liveAtEachMul(() => f(x));
    expect(counts.length).toBe(20);
    expect(new Set(counts.slice(1)).size, counts.join(' ')).toBe(1);
    f.clearCache();
  });

  it('in a loop body, when the loop ends: a scan or while loop nested in a scan body keeps the live count flat over the outer iterations', () => {
    // Only the inner body multiplies (twice an inner iteration, by three literals in all).
    const step = (d: NDArray) => np.add(np.multiply(np.multiply(d, 0.5), 3), 0.25);
    const inners = {
      scan: (c: NDArray) => lax.scan((d: NDArray) => [step(d), null] as const, c, null, { length: 2 })[0],
      while: (c: NDArray) => lax.whileLoop((s: { i: NDArray; d: NDArray }) => np.less(s.i, 2), (s: { i: NDArray; d: NDArray }) => ({ i: np.add(s.i, 1), d: step(s.d) }), { i: np.array(0, 'int32'), d: c }).d,
    };
    for (const inner of Object.values(inners)) for (const jitted of [false, true]) {
      const plain = (v: NDArray) => lax.scan((c: NDArray) => [np.add(inner(c), 1), null] as const, v, null, { length: 12 })[0];
      const j = jitted ? jit(plain) : null;
      const f = j ?? plain;
      dispose(f(x));
      const counts = liveAtEachMul(() => f(x));
      expect(counts.length).toBe(48);
      // The first multiply of each outer iteration after the first (whose carry is the argument).
      expect(new Set(counts.filter((_, i) => i % 4 === 0 && i > 0)).size, counts.join(' ')).toBe(1);
      j?.clearCache();
    }
  });
});

describe('a kernel that throws half-way', () => {
  it('frees the literals made so far, in a jit program and in a scan body (whose literals live for the loop)', () => {
    const x = np.array([0.5, -1, 2], 'float32');
    withFailingMul((fault) => {
      const chain = (v: NDArray) => {
        for (let i = 0; i < 4; i++) v = np.add(np.multiply(v, 0.5 + i), 0.25 * i + 1);
        return v;
      };
      const jitted = jit(chain);
      const scanned = (v: NDArray) => lax.scan((c: NDArray) => [chain(c), null] as const, v, null, { length: 5 })[0];
      dispose([jitted(x), scanned(x)]); // traces
      // The jit program multiplies 4 times; the scan, 4 times an iteration.
      for (const [name, f, at] of [['jit', jitted, [1, 2, 3, 4]], ['scan', scanned, [1, 3, 4, 5, 11, 20]]] as const) {
        for (const throwAt of at) {
          fault.throwAt = throwAt;
          fault.calls = 0;
          const before = numTensors();
          expect(() => f(x), `${name}, kernel ${throwAt}`).toThrow('injected');
          expect(numTensors(), `${name}, kernel ${throwAt}`).toBe(before);
        }
      }
      jitted.clearCache();
    });
    dispose(x);
  });
});

// A program primitive handed a literal's tensor may return it as it is (an identity remat, a cond
// branch or nested jit returning its operand, a while loop of zero trips): its result must be a
// handle of its own, so freeing the literal after its last use (or when a loop's body releases
// its literals) leaves the result readable.
describe('a literal that a nested program returns as it is', () => {
  it('stays readable after the literal is freed, at the top of a jit program and in a scan body, call after call', () => {
    const x = np.array([0.5, -1, 2], 'float32');
    const passThrough: Record<string, (lit: NDArray) => NDArray> = {
      remat: (lit) => checkpoint((a: NDArray) => a)(lit),
      cond: (lit) => lax.cond(true, (a: NDArray) => a, (a: NDArray) => np.negative(a), lit),
      jit: (lit) => jit((a: NDArray) => a)(lit),
      whileZeroTrips: (lit) => lax.whileLoop((v: NDArray) => np.less(v, -1e9), (v: NDArray) => np.add(v, 1), lit),
    };
    for (const [name, pass] of Object.entries(passThrough)) {
      // The literal 0.75 is read by a multiply after the nested program, so it is freed after that multiply.
      const top = jit((v: NDArray) => np.add(np.multiply(v, 0.75), pass(np.array(0.75, 'float32'))));
      const inScan = jit((v: NDArray) => lax.scan((c: NDArray) => [np.add(np.multiply(c, 0.75), pass(np.array(0.75, 'float32'))), null] as const, v, null, { length: 3 })[0]);
      const want = { top: [1.125, 0, 2.25], inScan: [((0.5 * 0.75 + 0.75) * 0.75 + 0.75) * 0.75 + 0.75, ((-1 * 0.75 + 0.75) * 0.75 + 0.75) * 0.75 + 0.75, ((2 * 0.75 + 0.75) * 0.75 + 0.75) * 0.75 + 0.75] };
      dispose([top(x), inScan(x)]);
      const before = numTensors();
      for (let run = 0; run < 20; run++) {
        const [a, b] = [top(x), inScan(x)];
        expect(Array.from(a.dataSync()), `${name}, top`).toEqual(want.top.map(Math.fround));
        expect(Array.from(b.dataSync()), `${name}, in a scan body`).toEqual(want.inScan.map(Math.fround));
        dispose([a, b]);
      }
      expect(numTensors(), name).toBe(before);
      top.clearCache();
      inScan.clearCache();
    }
    dispose(x);
  });
});

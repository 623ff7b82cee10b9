// The compiled executor lets broadcasting elementwise kernels read an operand as it is where the
// program reshaped it only to prepend 1s (np's rank promotion: x·s with a scalar array s) and reads
// (1, …, 1)-shaped literals as scalars. Checked by kernel counts (no Reshape left in a chain on
// scalar arrays; one per use before), tensor counts, and random programs mixing promoted, other
// reshaped and literal operands of several ranks and dtypes, whose values and shapes equal eager
// bitwise; no tensor left behind.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { dispose, jit, makeJaxpr, np, scope, type NDArray } from '../src/index.js';
import { upcomingTensorId } from '../src/core.js';
import { FC_SEED, forEachBackend, kernelCounts, numTensors, sameBits } from './helpers.js';

describe('rank promotions under jit', () => {
  const x = np.array([0.5, -1, 2, 0.25], 'float32');
  const m = np.array(0.75, 'float32'), a = np.array(-0.125, 'float32');
  const chain = (n: number) => (v: NDArray, mm: NDArray, aa: NDArray) => {
    for (let i = 0; i < n; i++) v = np.add(np.multiply(v, mm), aa);
    return v;
  };

  it('a chain on scalar array operands runs one kernel per op and no Reshape (the traced program reshapes the scalars at every use)', async () => {
    const n = 20;
    const traced = makeJaxpr(chain(n))(x, m, a).jaxpr;
    expect(traced.eqns.filter((e) => e.prim === 'reshape').length).toBe(2 * n);
    const f = jit(chain(n));
    dispose(f(x, m, a));
    const counts = await kernelCounts(() => f(x, m, a));
    expect(counts.get('Reshape') ?? 0).toBe(0);
    expect(counts.get('Multiply')).toBe(n);
    expect(counts.get('Add')).toBe(n);
    // One tensor per op (each result), and the returned handle.
    const before = upcomingTensorId();
    const out = f(x, m, a);
    expect(upcomingTensorId() - before).toBeLessThanOrEqual(2 * n + 1);
    expect(sameBits(out, scope(() => chain(n)(x, m, a)))).toBe(true);
    dispose(out);
    f.clearCache();
  });

  it('a promoted operand that is also returned or read by a non-broadcasting op is still made for those', () => {
    const g = jit((v: NDArray, s: NDArray) => {
      const r = np.reshape(s, [1]);
      return [np.multiply(v, r), r, np.concatenate([r, r])];
    });
    const before = numTensors();
    const got = g(x, m), want = scope(() => [np.multiply(x, np.reshape(m, [1])), np.reshape(m, [1]), np.concatenate([np.reshape(m, [1]), np.reshape(m, [1])])]);
    got.forEach((o, i) => expect(sameBits(o, want[i]!), `output ${i}`).toBe(true));
    dispose([got, want]);
    expect(numTensors()).toBe(before);
    g.clearCache();
  });

  it('a reshape that is not a promotion stays, also where its operand would broadcast to the same shape ([3, 1] read as [1, 3] against [3, 3])', () => {
    const v = np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9]], 'float32'), c = np.array([[10], [20], [30]], 'float32');
    const f = (vv: NDArray, cc: NDArray) => np.add(vv, np.reshape(cc, [1, 3]));
    const j = jit(f);
    const got = j(v, c);
    expect(Array.from(got.dataSync())).toEqual([11, 22, 33, 14, 25, 36, 17, 28, 39]);
    dispose([got, v, c]);
    j.clearCache();
  });
});

describe('random programs of broadcasting ops on promoted, reshaped and literal operands', () => {
  // The running value is [2, 3]; operands: arguments of ranks 0–2, the scalar or row promoted by an
  // explicit reshape (leading 1s: skippable), a column made by a reshape that is not a promotion
  // ([2] → [2, 1]: must stay), a scalar promoted past the running value's rank (its reshape gives
  // the result its rank: must stay while the value has rank < 3), and JS numbers (literals, (1, 1)-shaped after np's promotion).
  type Operand = 'scalar' | 'row' | 'full' | 'promotedScalar' | 'promotedRow' | 'promotedPastRank' | 'column' | 'number';
  const ops = ['add', 'subtract', 'multiply', 'divide', 'maximum', 'minimum', 'power', 'less', 'greaterEqual'] as const;
  const arbStep = fc.record({
    op: fc.constantFrom(...ops),
    operand: fc.constantFrom<Operand>('scalar', 'row', 'full', 'promotedScalar', 'promotedRow', 'promotedPastRank', 'column', 'number'),
    num: fc.constantFrom(0, -0, 1, 2, 0.5, -1.5, NaN, Infinity),
    first: fc.boolean(),
    int: fc.boolean(),
  });
  // (On both backends: TF.js's cpu kernels broadcast a rank-0 operand by another path than a (1)-shaped one.)
  it('equal eager in values, shapes and dtypes, and leave no tensor behind, on wasm and cpu', async () => forEachBackend(() => {
    const args = {
      f: { x: np.array([[0.5, -1, 2], [0, -0, 3]], 'float32'), s: np.array(1.5, 'float32'), r: np.array([2, -0.5, 0], 'float32'), c: np.array([-2, 4], 'float32') },
      i: { x: np.array([[1, -2, 3], [0, 5, -7]], 'int32'), s: np.array(3, 'int32'), r: np.array([2, -1, 0], 'int32'), c: np.array([-2, 4], 'int32') },
    };
    fc.assert(fc.property(fc.array(arbStep, { minLength: 1, maxLength: 8 }), (steps) => {
      const program = (xf: NDArray, sf: NDArray, rf: NDArray, cf: NDArray, xi: NDArray, si: NDArray, ri: NDArray, ci: NDArray): NDArray[] => {
        let f = xf, i = xi;
        const outs: NDArray[] = [];
        for (const st of steps) {
          // int32 steps use the ops int32 allows (add, subtract, multiply, maximum, minimum, comparisons).
          const int = st.int && !['divide', 'power'].includes(st.op);
          const [cur, s, r, c] = int ? [i, si, ri, ci] : [f, sf, rf, cf];
          const operand: NDArray | number = {
            scalar: s, row: r, full: np.negative(cur), promotedScalar: np.reshape(s, [1, 1]), promotedRow: np.reshape(r, [1, 3]),
            promotedPastRank: np.reshape(s, [1, 1, 1]),
            column: np.reshape(c, [2, 1]), number: int ? (Number.isFinite(st.num) ? Math.trunc(st.num) : 2) : st.num,
          }[st.operand];
          const operandArr = typeof operand === 'number' ? np.array(operand, int ? 'int32' : 'float32') : operand;
          const [p, q] = st.first ? [operandArr, cur] : [cur, operandArr];
          // JS numbers go in as they are (literals); the typed array only fixes int32's dtype.
          const [pp, qq] = typeof operand === 'number' && !int ? (st.first ? [operand, cur] : [cur, operand]) : [p, q];
          const out = np[st.op](pp as NDArray, qq as NDArray);
          const value = out.dtype === 'bool' ? np.where(out, cur, np.negative(cur)) : out;
          if (int) i = value;
          else f = value;
          outs.push(out);
        }
        return outs;
      };
      const all = [args.f.x, args.f.s, args.f.r, args.f.c, args.i.x, args.i.s, args.i.r, args.i.c] as const;
      const before = numTensors();
      const jitted = jit(program);
      const want = scope(() => program(...all));
      for (let run = 0; run < 2; run++) {
        const got = jitted(...all);
        got.forEach((g, k) => expect(sameBits(g, want[k]!), `run ${run}, output ${k}: ${g.dtype}[${g.shape}] ${Array.from(g.dataSync())} vs ${want[k]!.dtype}[${want[k]!.shape}] ${Array.from(want[k]!.dataSync())}`).toBe(true));
        dispose(got);
      }
      dispose(want);
      jitted.clearCache();
      expect(numTensors()).toBe(before);
    }), { seed: FC_SEED, numRuns: 40 });
    dispose(args);
  }));
});

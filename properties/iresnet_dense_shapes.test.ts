// The dense i-ResNet block checks its parameter tree against its config as fully as iresnetConv
// does: every weight [d_i, d_{i+1}] and bias [d_{i+1}] with d = dim → ...hidden → dim named and
// bound from the block config. It used to bind only dim, so the tree of a block with other hidden
// sizes (a consistent chain) ran silently as another architecture, and a wrong leaf was named
// against sizes read off its neighbours rather than the config.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { flows } from '../models/index.js';
import { ShapeError, jit, np, random, vmap, type NDArray } from '../src/index.js';
import { assertNoLeak, noLeak } from './helpers.js';

const key = (i: number) => random.key(i);

function shapeError(run: () => unknown): string {
  try {
    run();
  } catch (e) {
    expect(e).toBeInstanceOf(ShapeError);
    return (e as Error).message;
  }
  throw new Error('no error');
}

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('iresnet checks its params against the config', () => {
  it('the tree of a block with other hidden sizes is refused by every method, naming the first layer and the config', () => {
    noLeak(() => {
      const block = flows.iresnet({ dim: 2, hidden: [4, 4] }), other = flows.iresnet({ dim: 2, hidden: [3, 3] });
      const x = random.normal(key(1), [5, 2]);
      const { params, state } = other.init(key(2), x);
      const mine = block.init(key(3), x).state;
      const says = /^iresnet\.(\w+): params\.layers\[0\]\.w has shape \[2,3\]; expected \[dim=2, h1=4\] \(h1 = 4 from the block config; dim = 2 from the block config\)$/;
      for (const [op, run] of [
        ['forward', () => block.forward(params, x, { state: mine, logdet: { method: 'none' } })],
        ['inverse', () => block.inverse(params, x, { state: mine, logdet: { method: 'none' } })],
        ['normalize', () => block.normalize(params, mine)],
        ['lipschitzBound', () => block.lipschitzBound(params, mine)],
      ] as const) {
        const message = shapeError(run);
        expect(message, op).toMatch(says);
        expect(message.startsWith(`iresnet.${op}:`), op).toBe(true);
      }
      // Its own state with the other block's tree: the state is not what is wrong, the params are.
      expect(shapeError(() => block.forward(params, x, { state, logdet: { method: 'none' } }))).toMatch(says);
    });
  });

  it('any one leaf of another size is named by path against the sizes from the config, eagerly, under jit and vmap', () => {
    const caseArb = fc.record({
      dim: fc.integer({ min: 1, max: 3 }),
      hidden: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 3 }),
      pick: fc.nat(20), leaf: fc.constantFrom('w' as const, 'b' as const), axis: fc.nat(1), grow: fc.integer({ min: 1, max: 2 }),
    });
    assertNoLeak(caseArb, ({ dim, hidden, pick, leaf, axis, grow }) => {
      const block = flows.iresnet({ dim, hidden });
      const x = random.normal(key(1), [3, dim]);
      const { params, state } = block.init(key(2), x);
      const sizes = [dim, ...hidden, dim];
      const i = pick % params.layers.length;
      const good = params.layers[i]![leaf];
      const shape = [...good.shape];
      const at = leaf === 'b' ? 0 : axis;
      shape[at] = shape[at]! + grow;
      const layers = params.layers.map((l, j) => (j === i ? { ...l, [leaf]: np.zeros(shape) } : l));
      const bad = { layers };
      // The names of the sizes: dim at both ends, h1… in between, each bound from the config.
      const name = (j: number) => (j === 0 || j === sizes.length - 1 ? 'dim' : `h${j}`);
      const names = leaf === 'w' ? [name(i), name(i + 1)] : [name(i + 1)];
      const shown = names.map((n, k) => `${n}=${leaf === 'w' ? sizes[i + k] : sizes[i + 1]}`);
      const culprit = names[at]!;
      const re = new RegExp(`^iresnet\\.forward: params\\.layers\\[${i}\\]\\.${leaf} has shape \\[${shape.join(',')}\\]; expected \\[${shown.join(', ')}\\] \\(${esc(culprit)} = \\d+ from the block config`);
      const call = (v: NDArray) => block.forward(bad, v, { state, logdet: { method: 'none' } }).y;
      expect(shapeError(() => call(x))).toMatch(re);
      const jitted = jit(call);
      expect(shapeError(() => jitted(x))).toMatch(re);
      jitted.clearCache();
      expect(shapeError(() => vmap(call)(np.stack([x, x])))).toMatch(re);
      // The untouched tree passes.
      expect(block.forward(params, x, { state, logdet: { method: 'none' } }).y.shape).toEqual([3, dim]);
    }, 20);
  });

  it('a spectral-norm state of another size is named against the config', () => {
    noLeak(() => {
      const block = flows.iresnet({ dim: 2, hidden: [4] });
      const x = random.normal(key(1), [3, 2]);
      const { params, state } = block.init(key(2), x);
      const st = { sn: [state.sn[0]!, { u: np.zeros([3]) }] };
      expect(shapeError(() => block.forward(params, x, { state: st, logdet: { method: 'none' } })))
        .toMatch(/^iresnet\.forward: state\.sn\[1\]\.u has shape \[3\]; expected \[h1=4\] \(h1 = 4 from the block config\)$/);
    });
  });

  it('params of nested JS arrays (which the check accepts) give the values of the arrays, for every method', () => {
    // (They passed the check, then failed in spectralNorm: "Cannot read properties of undefined (reading 'NaN')".)
    noLeak(() => {
      const block = flows.iresnet({ dim: 2, hidden: [3] });
      const x = random.normal(key(1), [4, 2]);
      const { params, state } = block.init(key(2), x);
      const js = { layers: params.layers.map((l) => ({ w: l.w.toArray(), b: l.b.toArray() })) } as unknown as typeof params;
      const opts = { state, logdet: { method: 'none' as const } };
      const vals = (a: NDArray) => Array.from(a.dataSync());
      expect(vals(block.forward(js, x, opts).y)).toEqual(vals(block.forward(params, x, opts).y));
      expect(vals(block.inverse(js, x, opts).x)).toEqual(vals(block.inverse(params, x, opts).x));
      expect(vals(block.normalize(js, state).layers[1]!.w)).toEqual(vals(block.normalize(params, state).layers[1]!.w));
      expect(block.lipschitzBound(js, state)).toBe(block.lipschitzBound(params, state));
    });
  });
});

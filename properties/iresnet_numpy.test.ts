// The dense i-ResNet block (algorithms.md §3) against float64 NumPy references
// (fixtures/iresnet_refs.json, made by fixtures/make_iresnet_refs.py): spectral norms against
// numpy.linalg.svd's largest singular value (from the exact singular vector, and by power iteration
// from init's random state), the soft-normalised weights, y = x + g(x), ln det(I + J_g) against
// numpy.linalg.slogdet of the hand-built Jacobian, the 5- and 20-term power series against NumPy's
// truncations of the same series (at c = 0.99 the 5-term series is 1e-2 off the exact value, so this
// checks the truncation itself), the certified Lipschitz bound, and the fixed-point inverse.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as flows from '../models/flows/index.js';
import { np, random, scope, type NDArray } from '../src/index.js';

interface Ref {
  dim: number;
  hidden: number[];
  coeff: number;
  activation: 'elu' | 'tanh';
  layers: { w: number[][]; b: number[] }[];
  u: number[][];
  sigma: number[];
  normalized: number[][][];
  lipschitz: number;
  x: number[][];
  y: number[][];
  exact: number[];
  series5: number[];
  series20: number[];
  bound5: number;
  bound20: number;
}

const refs = JSON.parse(readFileSync(new URL('./fixtures/iresnet_refs.json', import.meta.url), 'utf8')) as Ref[];

const values = (a: NDArray): number[] => Array.from(a.dataSync());
/** |got − want| ≤ atol + rtol·|want| entrywise. */
function close(got: number[], want: number[], atol: number, rtol: number, what: string): void {
  expect(got.length, what).toBe(want.length);
  got.forEach((g, i) => expect(Math.abs(g - want[i]!), `${what}[${i}]: ${g} vs ${want[i]}`).toBeLessThanOrEqual(atol + rtol * Math.abs(want[i]!)));
}

function setup(ref: Ref) {
  const block = flows.iresnet({ dim: ref.dim, hidden: ref.hidden, coeff: ref.coeff, activation: ref.activation });
  const params: flows.IResNetParams = { layers: ref.layers.map((l) => ({ w: np.array(l.w), b: np.array(l.b) })) };
  const state: flows.IResNetState = { sn: ref.u.map((u) => ({ u: np.array(u) })) };
  return { block, params, state, x: np.array(ref.x) };
}

describe.each(refs.map((r) => [`c = ${r.coeff}, ${r.activation}, ${r.dim} → ${r.hidden.join(' → ')} → ${r.dim}`, r] as const))('i-ResNet block against NumPy (%s)', (_name, ref) => {
  it('σ̂ equals the largest singular value (from the exact vector, and by power iteration from a random state); Ŵ = W / max(1, σ/c); the certified bound is Π σ(Ŵ)', () => {
    scope(() => {
      const { block, params, state, x } = setup(ref);
      const exact = block.normalize(params, state);
      close(exact.sigmas.map((s) => s.item() as number), ref.sigma, 0, 1e-5, 'σ from the singular vector');
      exact.layers.forEach((l, i) => close(values(l.w), ref.normalized[i]!.flat(), 1e-6, 1e-5, `Ŵ${i}`));
      const fromInit = block.normalize(params, block.init(random.key(7), x).state, 100);
      close(fromInit.sigmas.map((s) => s.item() as number), ref.sigma, 0, 1e-4, 'σ by power iteration');
      expect(Math.abs(block.lipschitzBound(params, state) - ref.lipschitz)).toBeLessThanOrEqual(1e-5 * ref.lipschitz);
      expect(ref.lipschitz).toBeLessThanOrEqual(ref.coeff ** ref.layers.length * (1 + 1e-9));
    });
  });

  it('y = x + g(x) and ln det(I + J_g) match NumPy; the n-term series matches NumPy\'s n-term truncation (not the exact value) and lies within the weak bound', () => {
    scope(() => {
      const { block, params, state, x } = setup(ref);
      const exact = block.forward(params, x, { state, logdet: { method: 'exact' } });
      close(values(exact.y), ref.y.flat(), 2e-6, 2e-6, 'y');
      close(values(exact.logdet), ref.exact, 2e-6, 1e-5, 'exact log-det');
      for (const [terms, want, bound] of [[5, ref.series5, ref.bound5], [20, ref.series20, ref.bound20]] as const) {
        const series = values(block.forward(params, x, { state, logdet: { method: 'series', terms } }).logdet);
        close(series, [...want], 2e-6, 1e-5, `${terms}-term series`);
        series.forEach((s, i) => expect(Math.abs(s - ref.exact[i]!)).toBeLessThanOrEqual(bound + 1e-5));
      }
      // Near the bound the truncation error is far above float32 noise: the match above is to the truncated sum.
      if (ref.coeff === 0.99) expect(Math.max(...ref.series5.map((s, i) => Math.abs(s - ref.exact[i]!)))).toBeGreaterThan(5e-3);
    });
  });

  it('the fixed-point inverse recovers NumPy\'s x from NumPy\'s y, and its log-det is minus the exact one', () => {
    scope(() => {
      const { block, params, state } = setup(ref);
      const inv = block.inverse(params, np.array(ref.y), { state, logdet: { method: 'exact' }, inverse: { tol: 1e-6, maxIter: 3000 } });
      expect(inv.converged).toBe(true);
      // A posteriori (Banach): ||x* − x_k|| ≤ L/(1 − L)·||x_k − x_{k−1}||, plus float32 rounding of y.
      const L = ref.lipschitz;
      close(values(inv.x), ref.x.flat(), 1e-5 + (L / (1 - L)) * inv.residual, 1e-5, 'x');
      close(values(inv.logdet), ref.exact.map((v) => -v), 2e-6, 1e-5, 'inverse log-det');
    });
  });
});

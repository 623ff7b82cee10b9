// np.gammaln (jax.scipy.special.gammaln / jax.lax.lgamma), np.digamma and np.polygamma(1, ·): float64
// kernels rounded once to float32. References are float64 JS oracles written here, independent of
// src/special.ts (which uses Lanczos' sum): Stirling's series after shifting x up to 30, and the
// asymptotic series of ψ and ψ₁ after the same shift. Every check runs on wasm and cpu, leak-free.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { grad, jit, jvp, np, TransformError, vmap, type NDArray } from '../src/index.js';
import { checkGrads } from '../src/testing/index.js';
import { FC_SEED, ulp32, onEachBackend, values } from './helpers.js';



const SHIFT = 30;
/** |sin(πx)|, from x reduced to [−1/2, 1/2] (π·x itself would lose the fraction that decides it). */
const absSinPi = (x: number): number => Math.abs(Math.sin(Math.PI * (x - Math.round(x))));

function lgammaOracle(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (!Number.isFinite(x) || (x <= 0 && x === Math.floor(x))) return Infinity;
  if (x < 0.5) return Math.log(Math.PI / absSinPi(x)) - lgammaOracle(1 - x);
  let logs = 0;
  while (x < SHIFT) logs += Math.log(x++);
  const r = 1 / (x * x);
  // Stirling: (x − 1/2)ln x − x + ln √(2π) + 1/(12x) − 1/(360x³) + 1/(1260x⁵) − 1/(1680x⁷).
  const series = (1 / x) * (1 / 12 - r * (1 / 360 - r * (1 / 1260 - r / 1680)));
  return (x - 0.5) * Math.log(x) - x + 0.5 * Math.log(2 * Math.PI) + series - logs;
}

function digammaOracle(x: number): number {
  if (x <= 0 && x === Math.floor(x)) return NaN;
  if (x < 0.5) return digammaOracle(1 - x) - Math.PI / Math.tan(Math.PI * (x - Math.round(x)));
  let acc = 0;
  while (x < SHIFT) acc -= 1 / x++;
  const r = 1 / (x * x);
  return acc + Math.log(x) - 1 / (2 * x) - r * (1 / 12 - r * (1 / 120 - r * (1 / 252 - r / 240)));
}

function trigammaOracle(x: number): number {
  if (x <= 0 && x === Math.floor(x)) return Infinity;
  if (x < 0.5) return Math.PI ** 2 / absSinPi(x) ** 2 - trigammaOracle(1 - x);
  let acc = 0;
  for (; x < SHIFT; x++) acc += 1 / (x * x);
  const r = 1 / (x * x);
  return acc + 1 / x + r / 2 + (r / x) * (1 / 6 - r * (1 / 30 - r * (1 / 42 - r / 30)));
}

/** Within one float32 spacing of the float64 oracle, plus 1e-12 absolute where the value crosses 0 (the oracles' own error). */
function expectNear(got: number[], want: number[], label: (i: number) => string): void {
  got.forEach((g, i) => {
    const w = want[i]!;
    // (Beyond float32's range, e.g. ψ of a subnormal, the float32 result is the infinity.)
    if (Number.isNaN(w) || !Number.isFinite(Math.fround(w))) return void expect(g, label(i)).toBe(Math.fround(w));
    expect(Math.abs(g - w), `${label(i)}: got ${g}, want ${w}`).toBeLessThanOrEqual(ulp32(w) + 1e-12);
  });
}

const f32 = (lo: number, hi: number) => fc.float({ min: Math.fround(lo), max: Math.fround(hi), noNaN: true });
/** Away from the poles at 0 and the negative integers (where the float32 input decides a huge value). */
const offPole = (lo: number, hi: number) => f32(lo, hi).filter((x) => x > 0 || Math.abs(x - Math.round(x)) > 1e-3);

describe('np.gammaln / np.lgamma (ln|Γ(x)|)', () => {
  it('agrees with a Stirling-series oracle at random points, within one float32 spacing', () =>
    onEachBackend(() => {
      fc.assert(
        fc.property(fc.array(offPole(-30, 1e6), { minLength: 1, maxLength: 40 }), fc.array(f32(0.9, 2.1), { maxLength: 10 }), (xs, nearZeros) => {
          const all = [...xs, ...nearZeros];
          expectNear(values(np.gammaln(np.array(Float32Array.from(all)))), all.map(lgammaOracle), (i) => `gammaln(${all[i]})`);
        }),
        { seed: FC_SEED, numRuns: 40 },
      );
    }));

  it('takes exact values, poles, infinities and NaN as JAX, gives float32 for ints, and lgamma is gammaln', () =>
    onEachBackend(() => {
      let fact = 1;
      const ns = [1, 2, 3, 4, 5, 10, 20, 30];
      const want = ns.map((n) => { fact = 1; for (let k = 2; k < n; k++) fact *= k; return Math.fround(Math.log(fact)); });
      expect(values(np.gammaln(np.array(ns, 'int32')))).toEqual(want);
      expect(np.gammaln(np.array([1, 2], 'int32')).dtype).toBe('float32');
      expect(values(np.gammaln(np.array([0.5, -0.5], 'float32')))).toEqual([Math.log(Math.sqrt(Math.PI)), Math.log(2 * Math.sqrt(Math.PI))].map(Math.fround));
      expect(values(np.gammaln(np.array([0, -0, -1, -7, Infinity, -Infinity, NaN], 'float32')))).toEqual([Infinity, Infinity, Infinity, Infinity, Infinity, Infinity, NaN]);
      // Tiny x: ln Γ(x) ≈ −ln x.
      expect(values(np.gammaln(np.array([1e-30], 'float32')))[0]).toBeCloseTo(-Math.log(Math.fround(1e-30)), 4);
      expect(np.lgamma).toBe(np.gammaln);
    }));

  it('its derivative is digamma, its second trigamma and its third polygamma(2, ·) (grad, jvp, vmap, jit); finite differences agree to second order', () =>
    onEachBackend(() => {
      const xs = [-2.5, -0.3, 0.2, 1, 1.4616, 3.7, 25];
      const x = np.array(xs, 'float32');
      const x32 = xs.map(Math.fround);
      const jitted = jit(vmap(grad((a: NDArray) => np.gammaln(a))));
      const [, tangent] = jvp(np.gammaln, [x], [np.onesLike(x)]);
      for (const [name, got] of [['grad', grad((a: NDArray) => np.sum(np.gammaln(a)))(x)], ['jvp', tangent], ['jit(vmap(grad))', jitted(x)]] as const) {
        expectNear(values(got), x32.map(digammaOracle), (i) => `${name} gammaln'(${xs[i]})`);
      }
      jitted.clearCache();
      const second = vmap(grad(grad((a: NDArray) => np.gammaln(a))))(x);
      expectNear(values(second), x32.map(trigammaOracle), (i) => `gammaln''(${xs[i]})`);
      checkGrads((a: NDArray) => np.gammaln(a), [np.array([-1.5, 0.3, 0.9, 2.2, 6.1], 'float32')], { order: 2 });
      // ψ₂(2) = ψ₂(1) + 2 = 2 − 2ζ(3) (np_gaps.test.ts checks polygamma of every order).
      const third = grad(grad(grad((a: NDArray) => np.gammaln(a))));
      expect(values(third(np.array(2, 'float32')))[0]).toBeCloseTo(2 - 2 * 1.2020569031595942, 6);
    }));
});

describe('np.digamma and np.polygamma', () => {
  it('digamma and polygamma(1, ·) agree with asymptotic-series oracles at random points, within one float32 spacing', () =>
    onEachBackend(() => {
      fc.assert(
        fc.property(fc.array(offPole(-20, 1e5), { minLength: 1, maxLength: 40 }), (xs) => {
          const x = np.array(Float32Array.from(xs));
          expectNear(values(np.digamma(x)), xs.map(digammaOracle), (i) => `digamma(${xs[i]})`);
          expectNear(values(np.polygamma(0, x)), xs.map(digammaOracle), (i) => `polygamma(0, ${xs[i]})`);
          expectNear(values(np.polygamma(1, x)), xs.map(trigammaOracle), (i) => `polygamma(1, ${xs[i]})`);
        }),
        { seed: FC_SEED, numRuns: 40 },
      );
    }));

  it('takes exact values and poles: ψ(1) = −γ, ψ(1/2) = −γ − 2 ln 2, ψ₁(1) = π²/6, ψ₁(1/2) = π²/2; ψ is NaN and ψ₁ +inf at 0 and the negative integers', () =>
    onEachBackend(() => {
      const gamma = 0.5772156649015329;
      expect(values(np.digamma(np.array([1, 0.5, 0, -3, Infinity, NaN], 'float32')))).toEqual([-gamma, -gamma - 2 * Math.LN2, NaN, NaN, Infinity, NaN].map(Math.fround));
      expect(values(np.polygamma(1, np.array([1, 0.5, 0, -3, Infinity], 'float32')))).toEqual([Math.PI ** 2 / 6, Math.PI ** 2 / 2, Infinity, Infinity, 0].map(Math.fround));
      expect(() => np.polygamma(-1, np.array([1], 'float32'))).toThrow(/^polygamma: order n must be a non-negative integer, got -1$/);
      // As jnp.polygamma, the order may be a concrete int array (it was printed as the array's internals and refused).
      expect(values(np.polygamma(np.array(1, 'int32') as unknown as number, np.array([1], 'float32')))).toEqual([Math.fround(Math.PI ** 2 / 6)]);
      expect(() => np.polygamma(np.array([0, 1], 'int32') as unknown as number, np.array([1], 'float32'))).toThrow(/^polygamma: order n must be a non-negative integer, got \[0,1\]$/);
    }));

  it("digamma's derivative is trigamma (matches finite differences)", () =>
    onEachBackend(() => {
      checkGrads((a: NDArray) => np.digamma(a), [np.array([-1.5, 0.3, 0.9, 2.2, 6.1], 'float32')], { order: 1 });
      const x = np.array([0.7, 3], 'float32');
      expectNear(values(grad((a: NDArray) => np.sum(np.digamma(a)))(x)), [0.7, 3].map(Math.fround).map(trigammaOracle), (i) => `digamma'(${i})`);
    }));

  it('vmap is the loop over the batch, and jit equals eager', () =>
    onEachBackend(() => {
      const x = np.reshape(np.linspace(0.1, 9, 12), [3, 4]);
      for (const f of [np.gammaln, np.digamma, (a: NDArray) => np.polygamma(1, a)]) {
        const loop = [0, 1, 2].map((i) => values(f(np.index(x, [i]))));
        expect(values(vmap(f)(x))).toEqual(loop.flat());
        const jf = jit(f);
        expect(values(jf(x))).toEqual(values(f(x)));
        jf.clearCache();
      }
    }));
});

// np.gammaln (jax.scipy.special.gammaln / jax.lax.lgamma), np.digamma and np.polygamma(1, ·): float64
// kernels rounded once to float32. References: for ln Γ a float64 JS oracle written here (Stirling's
// series after shifting x up to 30; src/special.ts uses Lanczos' sum); for ψ and ψ₁ 50-digit mpmath
// values (fixtures/gamma_refs.json, made by fixtures/make_gamma_refs.py) at negative non-integers,
// next to the poles, at tiny |x| and out to float32's largest x, so that no recurrence, reflection
// or asymptotic series is shared with the kernels. Every check runs on wasm and cpu, leak-free.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { grad, jit, jvp, makeJaxpr, np, ValueError, vmap, type NDArray } from '../src/index.js';
import { checkGrads } from '../src/testing/index.js';
import { FC_SEED, ulp32, onEachBackend, values } from './helpers.js';

interface GammaRefs {
  /** [x, ψ(x)] at float32 x */
  digamma: [number, number][];
  /** [x, ψ₁(x)] at float32 x */
  trigamma: [number, number][];
}
const refs = JSON.parse(readFileSync(new URL('./fixtures/gamma_refs.json', import.meta.url), 'utf8')) as GammaRefs;
const refMaps = { digamma: new Map(refs.digamma), trigamma: new Map(refs.trigamma) };
/** The mpmath value of ψ or ψ₁ at the float32 x (which the fixture must hold). */
function ref(kind: 'digamma' | 'trigamma', x: number): number {
  const v = refMaps[kind].get(Math.fround(x));
  if (v === undefined) throw new Error(`gamma_refs.json has no ${kind} value at ${Math.fround(x)}; add the point to make_gamma_refs.py`);
  return v;
}
const refXs = refs.digamma.map(([x]) => x);

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

/**
 * Within one float32 spacing of the float64 reference, plus `slack` absolute: 1e-12 by default, the
 * ln Γ oracle's own error where the value crosses 0; the mpmath values need none.
 */
function expectNear(got: number[], want: number[], label: (i: number) => string, slack = 1e-12): void {
  got.forEach((g, i) => {
    const w = want[i]!;
    // (Beyond float32's range, e.g. ψ₁ of a subnormal, the float32 result is the infinity.)
    if (Number.isNaN(w) || !Number.isFinite(Math.fround(w))) return void expect(g, label(i)).toBe(Math.fround(w));
    expect(Math.abs(g - w), `${label(i)}: got ${g}, want ${w}`).toBeLessThanOrEqual(ulp32(w) + slack);
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
        expectNear(values(got), x32.map((v) => ref('digamma', v)), (i) => `${name} gammaln'(${xs[i]})`);
      }
      jitted.clearCache();
      const second = vmap(grad(grad((a: NDArray) => np.gammaln(a))))(x);
      expectNear(values(second), x32.map((v) => ref('trigamma', v)), (i) => `gammaln''(${xs[i]})`);
      checkGrads((a: NDArray) => np.gammaln(a), [np.array([-1.5, 0.3, 0.9, 2.2, 6.1], 'float32')], { order: 2 });
      // ψ₂(2) = ψ₂(1) + 2 = 2 − 2ζ(3) (np_gaps.test.ts checks polygamma of every order).
      const third = grad(grad(grad((a: NDArray) => np.gammaln(a))));
      expect(values(third(np.array(2, 'float32')))[0]).toBeCloseTo(2 - 2 * 1.2020569031595942, 6);
    }));
});

describe('np.digamma and np.polygamma', () => {
  it('digamma and polygamma(1, ·) are within one float32 spacing of 50-digit mpmath values: negative non-integers, next to the poles, tiny |x|, large x', () =>
    onEachBackend((backend) => {
      const x = np.array(Float32Array.from(refXs));
      for (const [name, got, kind] of [
        ['digamma', np.digamma(x), 'digamma'],
        ['polygamma(0, ·)', np.polygamma(0, x), 'digamma'],
        ['polygamma(1, ·)', np.polygamma(1, x), 'trigamma'],
      ] as const) {
        expectNear(values(got), refXs.map((v) => ref(kind, v)), (i) => `${backend} ${name} at ${refXs[i]}`, 0);
      }
      // The fixture reaches what it promises: x far below 0, within 2⁻²³ of a pole, tiny |x| (ψ₁ beyond float32 there), huge x.
      expect(Math.min(...refXs)).toBeLessThan(-1e5);
      expect(refXs.some((v) => v < 0 && Math.abs(v - Math.round(v)) < 2 ** -20)).toBe(true);
      expect(refXs.some((v) => v > 0 && v < 1e-40) && refXs.some((v) => v < 0 && v > -1e-40)).toBe(true);
      expect(refXs.some((v) => !Number.isFinite(Math.fround(ref('trigamma', v))))).toBe(true);
      expect(Math.max(...refXs)).toBeGreaterThan(1e38);
    }));

  it('takes exact values and poles: ψ(1) = −γ, ψ(1/2) = −γ − 2 ln 2, ψ₁(1) = π²/6, ψ₁(1/2) = π²/2; ψ is NaN and ψ₁ +inf at 0 and the negative integers', () =>
    onEachBackend(() => {
      const gamma = 0.5772156649015329;
      expect(values(np.digamma(np.array([1, 0.5, 0, -3, Infinity, NaN], 'float32')))).toEqual([-gamma, -gamma - 2 * Math.LN2, NaN, NaN, Infinity, NaN].map(Math.fround));
      expect(values(np.polygamma(1, np.array([1, 0.5, 0, -3, Infinity], 'float32')))).toEqual([Math.PI ** 2 / 6, Math.PI ** 2 / 2, Infinity, Infinity, 0].map(Math.fround));
    }));

  it("digamma's derivative is trigamma (matches finite differences)", () =>
    onEachBackend(() => {
      checkGrads((a: NDArray) => np.digamma(a), [np.array([-1.5, 0.3, 0.9, 2.2, 6.1], 'float32')], { order: 1 });
      const x = np.array([0.7, 3], 'float32');
      expectNear(values(grad((a: NDArray) => np.sum(np.digamma(a)))(x)), [0.7, 3].map((v) => ref('trigamma', v)), (i) => `digamma'(${i})`);
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

describe('np.polygamma with an array order n (jax.scipy.special.polygamma)', () => {
  const order = (lo: number, hi: number) => fc.integer({ min: lo, max: hi });

  it('takes an int32 array n broadcast against x: each element is polygamma of its own order, bit for bit', () =>
    onEachBackend(() => {
      fc.assert(
        fc.property(fc.array(fc.tuple(order(0, 9), offPole(-20, 1e3)), { minLength: 1, maxLength: 30 }), (pairs) => {
          const ns = pairs.map(([n]) => n), xs = pairs.map(([, x]) => x);
          const got = values(np.polygamma(np.array(ns, 'int32'), np.array(Float32Array.from(xs))));
          const want = pairs.map(([n, x]) => values(np.polygamma(n, np.array([x], 'float32')))[0]!);
          expect(got).toEqual(want);
        }),
        { seed: FC_SEED, numRuns: 25 },
      );
      // n [3, 1] against x [4]: a [3, 4] table, row k of order k; a scalar int32 array n as the number.
      const x = np.array([-2.5, 0.3, 1, 7], 'float32');
      const table = np.polygamma(np.array([[0], [1], [2]], 'int32'), x);
      expect(table.shape).toEqual([3, 4]);
      expect(values(table)).toEqual([0, 1, 2].flatMap((k) => values(np.polygamma(k, x))));
      expect(values(np.polygamma(np.array(1, 'int32'), x))).toEqual(values(np.polygamma(1, x)));
      // Nested JS integer lists are int32 arrays (as jnp.array([0, 1])).
      expect(values(np.polygamma([1, 2], 2))).toEqual([1, 2].map((k) => values(np.polygamma(k, np.array([2], 'float32')))[0]!));
    }));

  it('as JAX: a negative order gives NaN (XLA takes only natural orders), a non-integer or non-int dtype order is a ValueError', () =>
    onEachBackend(() => {
      expect(values(np.polygamma(np.array([-1, -3, 1], 'int32'), np.array([2, 0.5, 1], 'float32')))).toEqual([NaN, NaN, Math.fround(Math.PI ** 2 / 6)]);
      expect(values(np.polygamma(-2, np.array([1, -0.5, 0], 'float32')))).toEqual([NaN, NaN, NaN]);
      expect(() => np.polygamma(1.5, np.array([1], 'float32'))).toThrow(ValueError);
      expect(() => np.polygamma(1.5, 1)).toThrow(/^polygamma: the order n must be an integer \(.*\), got 1\.5$/);
      expect(() => np.polygamma(np.array([1, 2], 'float32'), np.array([1], 'float32'))).toThrow(/^polygamma: the order n must have an integer dtype \(.*\), got f32\[2\]$/);
      expect(() => np.polygamma(np.array([true]), 1)).toThrow(/got bool\[1\]$/);
      expect(() => np.polygamma(np.array([1, 2, 3], 'int32'), np.array([1, 2], 'float32'))).toThrow(/polygamma.*\[3\].*\[2\]/);
    }));

  it('its derivative in x is polygamma(n + 1, x), elementwise in n (grad, jvp, second order, finite differences); jit and vmap take n traced', () =>
    onEachBackend(() => {
      const n = np.array([0, 1, 2, 3, 1], 'int32');
      const x = np.array([-2.5, -0.3, 0.4, 1.7, 6], 'float32');
      const next = values(np.polygamma(np.array([1, 2, 3, 4, 2], 'int32'), x));
      expect(values(grad((a: NDArray) => np.sum(np.polygamma(n, a)))(x))).toEqual(next);
      expect(values(jvp((a: NDArray) => np.polygamma(n, a), [x], [np.onesLike(x)])[1])).toEqual(next);
      expect(values(grad((a: NDArray) => np.sum(grad((b: NDArray) => np.sum(np.polygamma(n, b)))(a)))(x))).toEqual(values(np.polygamma(np.array([2, 3, 4, 5, 3], 'int32'), x)));
      checkGrads((a: NDArray) => np.polygamma(n, a), [np.array([0.6, 1.3, 2.2, 4.5, 3.1], 'float32')], { order: 2, eps: 1e-3, rtol: 5e-3 });
      // A broadcast order: the cotangent of x sums over n's axis.
      const ns = np.array([[1], [2]], 'int32'), xs = np.array([0.5, 2], 'float32');
      expect(values(grad((a: NDArray) => np.sum(np.polygamma(ns, a)))(xs))).toEqual(values(np.add(np.polygamma(2, xs), np.polygamma(3, xs))));
      const f = (k: NDArray, a: NDArray) => np.polygamma(k, a);
      const jf = jit(f);
      expect(values(jf(n, x))).toEqual(values(f(n, x)));
      expect(values(jf(np.array([3, 3, 3, 3, 3], 'int32'), x))).toEqual(values(np.polygamma(3, x)));
      jf.clearCache();
      expect(values(vmap(f)(n, x))).toEqual(values(f(n, x)));
      expect(values(vmap(f, { inAxes: [0, null] })(n, x))).toEqual([0, 1, 2, 3, 1].flatMap((k) => values(np.polygamma(k, x))));
      expect(values(vmap(grad((k: NDArray, a: NDArray) => f(k, a), { argnums: 1 }), { inAxes: [0, 0] })(np.array([0, 1, 2], 'int32'), np.array([1, 1, 1], 'float32')))).toEqual(values(np.polygamma(np.array([1, 2, 3], 'int32'), 1)));
    }));

  it('digamma and every order n ≥ 1 share one polygamma primitive: trigamma is polygamma(1, ·), in values and in the programs derivatives trace', () =>
    onEachBackend(() => {
      const x = np.array(Float32Array.from(refXs));
      expect(values(np.polygamma(1, x))).toEqual(values(np.polygamma(np.array(1, 'int32'), x)));
      const program = makeJaxpr(grad((a: NDArray) => np.sum(grad((b: NDArray) => np.sum(np.gammaln(b)))(a))))(np.array([1.5], 'float32')).toString();
      expect(program).toMatch(/polygamma/);
      expect(program).not.toMatch(/trigamma/);
    }));
});

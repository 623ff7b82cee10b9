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
import { polygamma } from '../src/special.js';
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

describe('np.polygamma of moderate orders (2 to 100)', () => {
  // mpmath 1.x, ψ⁽ⁿ⁾(x) = mpmath.polygamma(n, x) at the float32 x, with 60 digits for x > 0 and
  // 100 + (n + 1)·log10(|x| + 2) below 0 (where its own reflection cancels), printed to 20 digits.
  // x: tiny (float32's overflow of n!/xⁿ⁺¹ included), in (0, 1), 1, the kernel's switch to the
  // asymptotic series (2^−10 below it, at it, ½ above it: 8 at n = 2, 30 at n = 50, 52 at n = 100),
  // 2n + 1.7, large, and negative non-integers (half-integers, where for even n the poles cancel).
  const mp: [number, number, number][] = [
      [2, 1.0000000031710769e-30, -1.9999999809735390148e+90], [2, 0.0010000000474974513, -1.9999997174129515292e+9], [2, 0.3700000047683716, -40.530325461605886988], [2, 1, -2.4041138063191885708],
      [2, 2.5, -0.236204051641727403], [2, 7.9990234375, -0.017704159188395587399], [2, 8, -0.017699569195767773909], [2, 8.5, -0.015564511795903923324],
      [2, 5.699999809265137, -0.036647422484272198623], [2, 1000.25, -1.0004999373125092611e-6], [2, 1.0000000200408773e20, -9.9999995991824651948e-41], [2, -0.5, -0.8287966442343199956],
      [2, -1.25, 123.72136678366236037], [2, -7.300000190734863, 68.821027385465728619], [2, -30.600000381469727, -22.277438906807093346], [2, -50.5, -3.8443056696236073347e-4],
      [2, -99.9000015258789, -1998.7513368119035377], [2, -10000.25, 124.02510671120078056], [3, 1.0000000031710769e-30, 5.99999992389415618e+120], [3, 0.0010000000474974513, 5.9999988600677731452e+12],
      [3, 0.3700000047683716, 322.11656178843241316], [3, 1, 6.4939394022668291491], [3, 2.5, 0.22390584881725205126], [3, 8.9990234375, 0.0032355060390767368919],
      [3, 9, 0.003234396045945103868], [3, 9.5, 0.0027267288350372494836], [3, 7.699999809265137, 0.0053075347871969510987], [3, 1000.25, 2.0014997490625557129e-9],
      [3, 1.0000000200408773e20, 1.9999998797547407634e-60], [3, -0.5, 193.40909103400243724], [3, -1.25, 1558.2209125348505998], [3, -7.300000190734863, 769.01487646388431311],
      [3, -30.600000381469727, 283.60301083296971839], [3, -50.5, 194.81816699374488584], [3, -99.9000015258789, 60017.914098060954853], [3, -10000.25, 1558.5454565440369962],
      [5, 1.0000000031710769e-30, 1.1999999771682469264e+182], [5, 0.0010000000474974513, 1.1999996580184074538e+20], [5, 0.3700000047683716, 46789.310579880979108], [5, 1, 122.08116743813389677],
      [5, 2.5, 0.57856917856718348455], [5, 9.9990234375, 3.0610160739115481712e-4], [5, 10, 3.0594516211726820905e-4], [5, 10.5, 2.3704787507685851552e-4],
      [5, 11.699999809265137, 1.3484275355115702766e-4], [5, 1000.25, 2.4029992460628136326e-14], [5, 1.0000000200408773e20, 2.3999997595094863463e-99], [5, -0.5, 15371.113548602435496],
      [5, -1.25, 492230.21062287457971], [5, -7.300000190734863, 165659.54735514237634], [5, -30.600000381469727, 31893.332219484648546], [5, -50.5, 15382.227097135344275],
      [5, -99.9000015258789, 1.2001128482205354349e+8], [5, -10000.25, 492231.26711055587176], [10, 1.0000000031710769e-30, -Infinity], [10, 0.0010000000474974513, -3.6287981040542760486e+39],
      [10, 0.3700000047683716, -2.0395964590455466468e+11], [10, 1, -3.630593311606628713e+6], [10, 2.5, -156.22959659323299476], [10, 11.9990234375, -8.6765600440445650053e-6],
      [10, 12, -8.6692442388418223548e-6], [10, 12.5, -5.679853514567120048e-6], [10, 21.700000762939453, -1.9588329283661286765e-8], [10, 1000.25, -3.6378678045829070821e-25],
      [10, 1.0000000200408773e20, -3.6287992727567231478e-195], [10, -0.5, -42108.858768975491797], [10, -1.25, 1.5220204740174337594e+13], [10, -7.300000190734863, 2.0482705663315724103e+12],
      [10, -30.600000381469727, -8.5518089088771606736e+10], [10, -50.5, -3.0429628212571390821e-12], [10, -99.9000015258789, -3.6294091376951262453e+17], [10, -10000.25, 1.5220204740668341101e+13],
      [17, 1.0000000031710769e-30, Infinity], [17, 0.0010000000474974513, 3.5568712399970388939e+68], [17, 0.3700000047683716, 2.1058982380731720254e+22], [17, 1, 3.5568878585922371598e+14],
      [17, 2.5, 2.450055182189332335e+7], [17, 14.9990234375, 3.5652004377955604389e-7], [17, 15, 3.5611485876958477625e-7], [17, 15.5, 2.008867395882807121e-7],
      [17, 35.70000076293945, 1.0591122991484569949e-13], [17, 1000.25, 2.1011644103474069573e-38], [17, 1.0000000200408773e20, 0], [17, -0.5, 1.8648265054229230658e+20],
      [17, -1.25, 2.4442654003427929478e+25], [17, -7.300000190734863, 9.180811349016201878e+23], [17, -30.600000381469727, 5.1795243547078628393e+21], [17, -50.5, 1.8648265078298896515e+20],
      [17, -99.9000015258789, 3.5578513472866919798e+32], [17, -10000.25, 2.4442654003427929641e+25], [25, 1.0000000031710769e-30, Infinity], [25, 0.0010000000474974513, 1.5511190888026731926e+103],
      [25, 0.3700000047683716, 2.6145726119863010824e+36], [25, 1, 1.5511210274472132899e+25], [25, 2.5, 6.9867384565739779394e+14], [25, 18.9990234375, 1.2034484398811078045e-8],
      [25, 19, 1.2018708581408498852e-8], [25, 19.5, 6.1946335033486486839e-9], [25, 51.70000076293945, 1.1388959458144991827e-19], [25, 1000.25, 6.2432191824701597331e-52],
      [25, 1.0000000200408773e20, 0], [25, -0.5, 2.0818793705470760094e+33], [25, -1.25, 6.9856279771238405923e+40], [25, -7.300000190734863, 6.1021921263731084859e+38],
      [25, -30.600000381469727, 3.4443568371173529823e+35], [25, -50.5, 2.0818793705474855281e+33], [25, -99.9000015258789, 1.5517365050478815819e+51], [25, -10000.25, 6.9856279771238405923e+40],
      [40, 1.0000000031710769e-30, -Infinity], [40, 0.0010000000474974513, -8.1591369433972873471e+170], [40, 0.3700000047683716, -4.1245270095301287094e+65], [40, 1, -8.1591528324826876968e+47],
      [40, 2.5, -3.9455282361094919787e+31], [40, 25.9990234375, -1.0097852636774980675e-10], [40, 26, -1.0082472565405844257e-10], [40, 26.5, -4.654674905716248771e-11],
      [40, 81.69999694824219, -8.3725194433538172211e-31], [40, 1000.25, -2.0601501466709807047e-74], [40, 1.0000000200408773e20, -0], [40, -0.5, -4.9193015712427578828e+40],
      [40, -1.25, 3.9455242101462683427e+72], [40, -7.300000190734863, 2.2369810435945210839e+69], [40, -30.600000381469727, -1.6873391325421569036e+64], [40, -50.5, -9.8957403839524560494e-23],
      [40, -99.9000015258789, -8.1642589189511406255e+88], [40, -10000.25, 3.9455242101462683427e+72], [41, 1.0000000031710769e-30, Infinity], [41, 0.0010000000474974513, 3.3452459879022293974e+175],
      [41, 0.3700000047683716, 4.5704217624699554616e+67], [41, 1, 3.3452526613171413332e+49], [41, 2.5, 6.4706644207331020359e+32], [41, 25.9990234375, 1.5761498040101764222e-10],
      [41, 26, 1.5736894685292414515e-10], [41, 26.5, 7.126673859176238574e-11], [41, 83.69999694824219, 1.5208987525813213055e-31], [41, 1000.25, 8.2426330765279450416e-76],
      [41, 1.0000000200408773e20, 0], [41, -0.5, 2.9425153591727758258e+62], [41, -1.25, 6.4706597046398800822e+74], [41, -7.300000190734863, 3.0572054825269499475e+71],
      [41, -30.600000381469727, 1.7295244340407549547e+66], [41, -50.5, 2.9425153591727758259e+62], [41, -99.9000015258789, 3.347397233998269632e+91], [41, -10000.25, 6.4706597046398800822e+74],
      [50, 1.0000000031710769e-30, -Infinity], [50, 0.0010000000474974513, -3.0414019527616907563e+217], [50, 0.3700000047683716, -3.1973240882675600409e+86], [50, 1, -3.041409320171339155e+64],
      [50, 2.5, -1.542177794502834013e+44], [50, 29.9990234375, -1.7468628034782457034e-11], [50, 30, -1.7439870472613970227e-11], [50, 30.5, -7.5550134524806416043e-12],
      [50, 101.69999694824219, -3.3157839808131043514e-38], [50, 1000.25, -6.1586860007734237733e-88], [50, 1.0000000200408773e20, -0], [50, -0.5, -3.1799527035658682006e+55],
      [50, -1.25, 1.5421777401019709997e+95], [50, -7.300000190734863, 1.4121368943171227824e+91], [50, -30.600000381469727, -5.9984140076207197915e+84], [50, -50.5, -2.4436405941061148676e-23],
      [50, -99.9000015258789, -3.043777078795985958e+115], [50, -10000.25, 1.5421777401019709997e+95], [64, 1.0000000031710769e-30, -Infinity], [64, 0.0010000000474974513, -1.2688654044411580538e+284],
      [64, 0.3700000047683716, -1.4801457046266747849e+117], [64, 1, -1.2688693218588416411e+89], [64, 2.5, -1.7270954251702403137e+63], [64, 35.9990234375, -1.0605514137300191724e-12],
      [64, 36, -1.0586933853601323641e-12], [64, 36.5, -4.340833898200695757e-13], [64, 129.6999969482422, -1.485725038714743871e-48], [64, 1000.25, -2.014239886003648804e-105],
      [64, 1.0000000200408773e20, -0], [64, -0.5, -4.5444890227385688555e+77], [64, -1.25, 1.727095424621970861e+128], [64, -7.300000190734863, 1.2317353142323227935e+123],
      [64, -30.600000381469727, -9.3227573877636192769e+114], [64, -50.5, -9.6440569153483108461e-23], [64, -99.9000015258789, -1.2701284473822206006e+154], [64, -10000.25, 1.727095424621970861e+128],
      [77, 1.0000000031710769e-30, Infinity], [77, 0.0010000000474974513, Infinity], [77, 0.3700000047683716, 6.9531424629575008183e+146], [77, 1, 1.4518309202828586963e+113],
      [77, 2.5, 1.3261582919559475469e+82], [77, 41.9990234375, 4.2211737511524676829e-14], [77, 42, 4.2135591102906640798e-14], [77, 42.5, 1.6809645042821516847e-14],
      [77, 155.6999969482422, 3.7347604108232114604e-58], [77, 1000.25, 1.9216655308210936221e-120], [77, 1.0000000200408773e20, 0], [77, -0.5, 8.7757794262240815074e+136],
      [77, -1.25, 1.326158291950643485e+160], [77, -7.300000190734863, 8.8396818850549964539e+153], [77, -30.600000381469727, 1.5895310784751372924e+144], [77, -50.5, 8.7757794262240815074e+136],
      [77, -99.9000015258789, 1.4535599103572647532e+191], [77, -10000.25, 1.326158291950643485e+160], [99, 1.0000000031710769e-30, Infinity], [99, 0.0010000000474974513, Infinity],
      [99, 0.3700000047683716, 1.4119869677616987998e+199], [99, 1, 9.3326215443944152682e+155], [99, 2.5, 1.4996944612358515637e+116], [99, 50.9990234375, 1.9121647450967199396e-15],
      [99, 51, 1.9085186130568925654e-15], [99, 51.5, 7.2173120847263835936e-16], [99, 199.6999969482422, 2.1888752319015882402e-74], [99, 1000.25, 9.6591602923619996224e-144],
      [99, 1.0000000200408773e20, 0], [99, -0.5, 2.3661006604908971562e+186], [99, -1.25, 1.4996944612358479061e+216], [99, -7.300000190734863, 1.8107169668735295807e+208],
      [99, -30.600000381469727, 5.8082585378773528549e+195], [99, -50.5, 2.3661006604908971562e+186], [99, -99.9000015258789, 9.3468729736915862934e+255], [99, -10000.25, 1.4996944612358479061e+216],
      [100, 1.0000000031710769e-30, -Infinity], [100, 0.0010000000474974513, -Infinity], [100, 0.3700000047683716, -3.816180944769540624e+201], [100, 1, -9.3326215443944152682e+157],
      [100, 2.5, -5.9987778449434020747e+117], [100, 51.9990234375, -5.2908101594127493169e-16], [100, 52, -5.2808166350263751944e-16], [100, 52.5, -2.0152220193271331709e-16],
      [100, 201.6999969482422, -4.0059224046522754484e-75], [100, 1000.25, -9.5648801965841577125e-145], [100, 1.0000000200408773e20, -0], [100, -0.5, -1.530334926217600409e+140],
      [100, -1.25, 5.9987778449433916243e+218], [100, -7.300000190734863, 6.0357193855047259414e+210], [100, -30.600000381469727, -1.4520660192674065094e+198], [100, -50.5, -1.3968128498627795642e-15],
      [100, -99.9000015258789, -9.3470155978309574933e+258], [100, -10000.25, 5.9987778449433916243e+218],
  ];

  it('the float64 kernel is within 1e-13 relative of mpmath (its own error is ~4e-15 there), and overflows and underflows where the value does', () => {
    for (const [n, x, want] of mp) {
      const got = polygamma(n, x);
      if (!Number.isFinite(want)) expect(got, `polygamma(${n}, ${x})`).toBe(want);
      else if (Math.abs(want) < 1e-290) expect(Math.abs(got), `polygamma(${n}, ${x})`).toBeLessThan(1e-280);
      else expect(Math.abs(got - want) / Math.abs(want), `polygamma(${n}, ${x}): got ${got}, want ${want}`).toBeLessThanOrEqual(1e-13);
    }
  });

  it('np.polygamma is within a float32 spacing of mpmath (infinite where float32 overflows), on wasm and cpu, for one order and for an array of orders', () =>
    onEachBackend(() => {
      const check = (got: number[]) =>
        mp.forEach(([n, x, want], i) => {
          const w = Math.fround(want);
          if (!Number.isFinite(w) || w === 0) return void expect(got[i], `polygamma(${n}, ${x})`).toBe(w);
          expect(Math.abs(got[i]! - want), `polygamma(${n}, ${x}): got ${got[i]}, want ${want}`).toBeLessThanOrEqual(ulp32(want));
        });
      check(values(np.polygamma(np.array(mp.map(([n]) => n), 'int32'), np.array(Float32Array.from(mp.map(([, x]) => x))))));
      const byOrder = new Map<number, number[]>();
      for (const [n, x] of mp) byOrder.set(n, [...(byOrder.get(n) ?? []), x]);
      check([...byOrder].flatMap(([n, xs]) => values(np.polygamma(n, np.array(Float32Array.from(xs))))));
    }));
});

// Special functions in their tails: np.erfc (jax.lax.erfc) keeps its relative precision where
// 1 − erf(x) is 0, np.exp2 is exact at integers, and exact gelu keeps its left tail. References are
// 50-digit values from mpmath (fixtures/special_refs.json, made by fixtures/make_special_refs.py)
// and float64 JS oracles written here, independent of src/special.ts; every check runs on wasm and cpu.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { grad, jit, jvp, np, vmap, type NDArray } from '../src/index.js';
import { checkGrads } from '../src/testing/index.js';
import { FC_SEED, ulp32, onEachBackend, values } from './helpers.js';

interface SpecialRefs {
  /** [x, erf(x)] */
  erf: [number, number][];
  /** [x, erfc(x)] */
  erfc: [number, number][];
  /** [x, x·Φ(x), Φ(x) + x·φ(x)] */
  gelu: [number, number, number][];
  /** [x, 2^x] at non-integer x */
  exp2: [number, number][];
}
const refs = JSON.parse(readFileSync(new URL('./fixtures/special_refs.json', import.meta.url), 'utf8')) as SpecialRefs;

const MIN_NORMAL = 2 ** -126;


/** Error of `got` in units of float32's spacing at `want` (0 when both are the same infinity or NaN). */
function ulpError(got: number, want: number): number {
  if (Object.is(got, want) || (Number.isNaN(got) && Number.isNaN(want))) return 0;
  return Math.abs(got - want) / ulp32(want);
}

const f32 = (lo: number, hi: number) => fc.float({ min: Math.fround(lo), max: Math.fround(hi), noNaN: true });

// Oracle erfc in float64: the all-positive series erf(x) = 2/√π·e^{−x²}·Σ (2x²)^n x/(1·3·…·(2n+1))
// below 2.5 (1 − erf there loses at most 12 of 53 bits), Laplace's continued fraction
// erfc(x) = e^{−x²}/√π / (x + (1/2)/(x + 1/(x + (3/2)/(x + …)))) from 2.5 on, 2 − erfc(−x) for x < 0.
function erfcOracle(x: number): number {
  if (x < 0) return 2 - erfcOracle(-x);
  if (x < 2.5) {
    let term = x, sum = x;
    for (let n = 1; Math.abs(term) > 1e-18 * sum; n++) {
      term *= (2 * x * x) / (2 * n + 1);
      sum += term;
    }
    return 1 - (2 / Math.sqrt(Math.PI)) * Math.exp(-x * x) * sum;
  }
  let f = x;
  for (let n = 300; n >= 1; n--) f = x + n / 2 / f;
  return Math.exp(-x * x) / (Math.sqrt(Math.PI) * f);
}

describe('np.erf (jax.scipy.special.erf, jax.lax.erf)', () => {
  it('is within 1 ulp of 50-digit references, with relative precision down to the subnormals (TF.js gave erf(1e-30) = 1e-9)', () =>
    onEachBackend((backend) => {
      const xs = refs.erf.map(([x]) => x);
      const got = values(np.erf(np.array(Float32Array.from(xs))));
      refs.erf.forEach(([x, want], i) => {
        expect(ulpError(got[i]!, want), `${backend}: erf(${x}) = ${got[i]}, want ${want}`).toBeLessThanOrEqual(1);
      });
    }));

  it('is odd bit for bit (−0 included), takes its limits and NaN, and erf(x) + erfc(x) = 1', () =>
    onEachBackend(() => {
      fc.assert(
        fc.property(fc.array(f32(-7, 7), { minLength: 1, maxLength: 40 }), (xs) => {
          const x = np.array(Float32Array.from(xs));
          const pos = values(np.erf(x)), neg = values(np.erf(np.negative(x)));
          pos.forEach((v, i) => expect(Object.is(neg[i], -v), `erf(−${xs[i]}) = ${neg[i]}, erf(${xs[i]}) = ${v}`).toBe(true));
          values(np.add(np.erf(x), np.erfc(x))).forEach((s) => expect(Math.abs(s - 1)).toBeLessThanOrEqual(2 ** -23));
        }),
        { seed: FC_SEED, numRuns: 40 },
      );
      expect(values(np.erf(np.array([-0, 0, Infinity, -Infinity, NaN], 'float32'))).map((v) => (Object.is(v, -0) ? '-0' : v))).toEqual(['-0', 0, 1, -1, NaN]);
    }));
});

describe('np.erfc (jax.scipy.special.erfc, jax.lax.erfc)', () => {
  it('is within 1 ulp of 50-digit references over its float32 range (to 9.2), where 1 − erf(x) is 0 from x ≈ 4', () =>
    onEachBackend((backend) => {
      const xs = refs.erfc.map(([x]) => x);
      const got = values(np.erfc(np.array(Float32Array.from(xs))));
      refs.erfc.forEach(([x, want], i) => {
        // Subnormal results: within one subnormal step.
        expect(ulpError(got[i]!, want), `${backend}: erfc(${x}) = ${got[i]}, want ${want}`).toBeLessThanOrEqual(1);
      });
      // The defect this replaces: through float32 erf the tail is gone (and 1e-3 off already at x = 3).
      expect(values(np.subtract(1, np.erf(np.array([4, 5, 9], 'float32'))))).toEqual([0, 0, 0]);
      expect(got[xs.indexOf(9)]! / 4.1370317465138102e-37).toBeCloseTo(1, 6);
    }));

  it('agrees with a float64 series / continued-fraction oracle at random points, to 1 ulp', () =>
    onEachBackend(() => {
      fc.assert(
        fc.property(fc.array(f32(-8, 10.2), { minLength: 1, maxLength: 40 }), (xs) => {
          const got = values(np.erfc(np.array(Float32Array.from(xs))));
          xs.forEach((x, i) => expect(ulpError(got[i]!, erfcOracle(x)), `erfc(${x}) = ${got[i]}, oracle ${erfcOracle(x)}`).toBeLessThanOrEqual(1));
        }),
        { seed: FC_SEED, numRuns: 60 },
      );
    }));

  it('takes its limits and NaN, gives float32 for ints, and erfc(x) + erfc(−x) = 2', () =>
    onEachBackend(() => {
      expect(values(np.erfc(np.array([0, Infinity, -Infinity, NaN, 30, -30], 'float32')))).toEqual([1, 0, 2, NaN, 0, 2]);
      const ints = np.erfc(np.array([0, 1, -2], 'int32'));
      expect(ints.dtype).toBe('float32');
      expect(values(ints)).toEqual([1, erfcOracle(1), erfcOracle(-2)].map(Math.fround));
      const xs = np.array([0.1, 0.7, 1.3, 2.9], 'float32');
      values(np.add(np.erfc(xs), np.erfc(np.negative(xs)))).forEach((s) => expect(Math.abs(s - 2)).toBeLessThanOrEqual(2 ** -22));
    }));

  it("its derivative is −2/√π·e^(−x²), in forward and reverse mode, through vmap and jit, into the tail", () =>
    onEachBackend(() => {
      fc.assert(
        fc.property(fc.array(f32(-5, 9.2), { minLength: 1, maxLength: 20 }), (xs) => {
          const x = np.array(Float32Array.from(xs));
          const want = xs.map((v) => (-2 / Math.sqrt(Math.PI)) * Math.exp(-v * v));
          const [, tangent] = jvp(np.erfc, [x], [np.onesLike(x)]);
          const gradient = grad((a: NDArray) => np.sum(np.erfc(a)))(x);
          const batched = vmap(grad((a: NDArray) => np.erfc(a)))(x);
          const jitted = jit(grad((a: NDArray) => np.sum(np.erfc(a))));
          const compiled = jitted(x);
          jitted.clearCache();
          for (const [name, got] of [['jvp', tangent], ['grad', gradient], ['vmap(grad)', batched], ['jit(grad)', compiled]] as const) {
            // e^(−x²) in float32 carries x²'s rounding, a relative x²·2⁻²⁴.
            values(got).forEach((g, i) => expect(Math.abs(g - want[i]!), `${name} at ${xs[i]}: ${g}, want ${want[i]}`).toBeLessThanOrEqual((4 + xs[i]! ** 2) * 2 ** -24 * Math.abs(want[i]!) + 1e-45));
          }
        }),
        { seed: FC_SEED, numRuns: 25 },
      );
      // And by finite differences, to second order (where erfc is not yet tiny).
      checkGrads((a: NDArray) => np.erfc(a), [np.array([-1.5, -0.3, 0, 0.4, 1.1, 2.2], 'float32')], { order: 2 });
    }));

  it('vmap(erfc) is erfc of the whole batch', () =>
    onEachBackend(() => {
      const x = np.reshape(np.linspace(-3, 9, 12), [3, 4]);
      expect(values(vmap((a: NDArray) => np.erfc(a))(x))).toEqual(values(np.erfc(x)));
      expect(values(vmap((a: NDArray) => np.erfc(a), { inAxes: 1 })(x))).toEqual(values(np.transpose(np.erfc(x))));
    }));
});

describe('np.exp2', () => {
  it('is exact at integers: exp2(k) === 2^k for k in [−149, 127] (exp(k·ln 2) was off by up to 34 ulp), float32 and int32 inputs', () =>
    onEachBackend((backend) => {
      const ks = Array.from({ length: 277 }, (_, i) => i - 149);
      let p = 1;
      const powers = new Map<number, number>([[0, 1]]);
      for (let k = 1; k <= 149; k++) powers.set(-k, (p /= 2)); // exact in float64
      p = 1;
      for (let k = 1; k <= 127; k++) powers.set(k, (p *= 2));
      for (const dtype of ['float32', 'int32'] as const) {
        const got = values(np.exp2(np.array(ks, dtype)));
        ks.forEach((k, i) => expect(got[i], `${backend} ${dtype}: exp2(${k})`).toBe(powers.get(k)));
      }
      expect(values(np.exp2(np.array([128, -150, Infinity, -Infinity, NaN, 0.5], 'float32')))).toEqual([Infinity, 0, Infinity, 0, NaN, Math.fround(Math.SQRT2)]);
    }));

  it('is within 1/2 ulp (plus double rounding) of 50-digit references at non-integers across the exponent range', () =>
    onEachBackend((backend) => {
      const got = values(np.exp2(np.array(Float32Array.from(refs.exp2.map(([x]) => x)))));
      refs.exp2.forEach(([x, want], i) => expect(ulpError(got[i]!, want), `${backend}: exp2(${x}) = ${got[i]}, want ${want}`).toBeLessThanOrEqual(0.501));
    }));

  it('is within 1 ulp of float64 e^(x·ln 2) at random points', () =>
    onEachBackend(() => {
      fc.assert(
        fc.property(fc.array(f32(-149, 127.9), { minLength: 1, maxLength: 40 }), (xs) => {
          const got = values(np.exp2(np.array(Float32Array.from(xs))));
          // x·ln 2 in float64 is off by at most a relative 2⁻⁵³·|x·ln 2|: 1e-14, far below float32's ulp.
          xs.forEach((x, i) => expect(ulpError(got[i]!, Math.exp(x * Math.LN2)), `exp2(${x})`).toBeLessThanOrEqual(1));
        }),
        { seed: FC_SEED, numRuns: 50 },
      );
    }));

  it('its derivative is 2^x·ln 2 (jvp, grad, jit, vmap), and matches finite differences to second order', () =>
    onEachBackend(() => {
      const xs = [-20.5, -3, -0.25, 0, 1, 7.75, 40];
      const x = np.array(xs, 'float32');
      const want = xs.map((v) => Math.fround(2 ** v) * Math.LN2);
      const [, tangent] = jvp(np.exp2, [x], [np.onesLike(x)]);
      const jitted = jit(vmap(grad((a: NDArray) => np.exp2(a))));
      for (const got of [tangent, grad((a: NDArray) => np.sum(np.exp2(a)))(x), jitted(x)]) {
        values(got).forEach((g, i) => expect(Math.abs(g - want[i]!)).toBeLessThanOrEqual(2 ** -22 * want[i]!));
      }
      jitted.clearCache();
      checkGrads((a: NDArray) => np.exp2(a), [np.array([-2.3, -0.5, 0, 0.7, 3.1], 'float32')], { order: 2 });
    }));
});

describe('np.gelu(x, false), the exact GELU x·Φ(x)', () => {
  it('keeps its left tail: within 2 ulp of 50-digit references down to x ≈ −13.4, where it leaves float32 (through float32 erf it was −0 below −5.6)', () =>
    onEachBackend((backend) => {
      const x = np.array(Float32Array.from(refs.gelu.map(([v]) => v)));
      const got = values(np.gelu(x, false));
      const bad = refs.gelu.filter(([v, want], i) =>
        Math.abs(want) >= MIN_NORMAL
          ? ulpError(got[i]!, want) > 2
          : // Below, Φ(x) is subnormal itself (x < −13.2), with fewer bits than it is scaled by |x| ≤ 14.
            Math.abs(got[i]! - want) > Math.abs(v) * 2 ** -149);
      expect(bad.map(([v, want]) => `${v}: want ${want}, got ${got[refs.gelu.findIndex(([u]) => u === v)]}`), backend).toEqual([]);
      expect(values(np.gelu(np.array([-8, -10, -13], 'float32'), false)).every((g) => g < 0)).toBe(true);
    }));

  it("its derivative Φ(x) + x·φ(x) keeps the tail too (error within x²·2⁻²² of its terms' size: e^(−x²/2) in float32), under grad, jvp, vmap and jit", () =>
    onEachBackend((backend) => {
      const xs = refs.gelu.map(([v]) => v);
      const x = np.array(Float32Array.from(xs));
      const jitted = jit(vmap(grad((a: NDArray) => np.gelu(a, false))));
      const [, tangent] = jvp((a: NDArray) => np.gelu(a, false), [x], [np.onesLike(x)]);
      for (const [name, got] of [['grad', grad((a: NDArray) => np.sum(np.gelu(a, false)))(x)], ['jvp', tangent], ['jit(vmap(grad))', jitted(x)]] as const) {
        const g = values(got);
        refs.gelu.forEach(([v, value, want], i) => {
          if (Math.abs(want) < MIN_NORMAL) return;
          // Relative to |Φ(x)| + |x·φ(x)|: the two cancel where gelu' crosses 0 (x ≈ −0.75).
          const cdf = v === 0 ? 0.5 : value / v;
          const size = Math.abs(cdf) + Math.abs(want - cdf);
          expect(Math.abs(g[i]! - want), `${backend} ${name}: gelu'(${v}) = ${g[i]}, want ${want}`).toBeLessThanOrEqual((4 + v * v) * 2 ** -22 * size);
        });
      }
      jitted.clearCache();
      checkGrads((a: NDArray) => np.gelu(a, false), [np.array([-4.5, -2.2, -0.6, 0, 0.8, 3.3], 'float32')], { order: 2 });
    }));
});

// The Threefry kernels behind gradus's explicit PRNG keys: known answers from Random123 and JAX,
// determinism and batching, and the statistics of every sampler. Statistical bounds sit at about
// 5 standard errors, so they are not flaky yet still catch a wrong scale or a lost mantissa bit.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  bernoulli,
  bitsToNormal,
  bitsToUniform,
  categorical,
  erfinv,
  foldIn,
  keyFromSeed,
  normal,
  permutation,
  randomBits,
  split,
  threefry2x32,
  uniform,
} from '../src/random/threefry';

const FC = { seed: 20250611, numRuns: 60 };
const uint32 = fc.integer({ min: -0x80000000, max: 0x7fffffff }).map((v) => v >>> 0);
const rawKey = fc.tuple(uint32, uint32).map(([a, b]) => Uint32Array.of(a, b));
const rawKeys = fc.array(fc.tuple(uint32, uint32), { maxLength: 5 }).map((ks) => Uint32Array.from(ks.flat()));

// ---- statistics helpers ------------------------------------------------------------------------

function mean(xs: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i];
  return s / xs.length;
}

/** Central moments 2..4 about the sample mean. */
function moments(xs: ArrayLike<number>): { m: number; m2: number; m3: number; m4: number } {
  const m = mean(xs);
  let m2 = 0, m3 = 0, m4 = 0;
  for (let i = 0; i < xs.length; i++) {
    const d = xs[i] - m, d2 = d * d;
    m2 += d2;
    m3 += d2 * d;
    m4 += d2 * d2;
  }
  return { m, m2: m2 / xs.length, m3: m3 / xs.length, m4: m4 / xs.length };
}

function corr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const ma = mean(a), mb = mean(b);
  let sab = 0, saa = 0, sbb = 0;
  for (let i = 0; i < a.length; i++) {
    const da = a[i] - ma, db = b[i] - mb;
    sab += da * db;
    saa += da * da;
    sbb += db * db;
  }
  return sab / Math.sqrt(saa * sbb);
}

/** Pearson's statistic of observed counts against expected counts. */
function chiSquare(observed: ArrayLike<number>, expected: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < observed.length; i++) s += (observed[i] - expected[i]) ** 2 / expected[i];
  return s;
}

/** Upper critical value of chi-square with `dof` degrees at z = 5 (Wilson–Hilferty, p ≈ 3e-7). */
function chiCritical(dof: number, z = 5): number {
  const c = 2 / (9 * dof);
  return dof * (1 - c + z * Math.sqrt(c)) ** 3;
}

// Oracle erf/erfc, independent of the AS241 code under test: the all-positive Taylor series
// erf(x) = 2/√π·e^{-x²}·Σ (2x²)^n x/(1·3·…·(2n+1)) for small x, Laplace's continued fraction
// erfc(x) = e^{-x²}/√π / (x + (1/2)/(x + 1/(x + (3/2)/(x + …)))) for x ≥ 2.
function erfSeries(x: number): number {
  const x2 = x * x;
  let term = x, sum = x;
  for (let n = 1; n < 1000 && Math.abs(term) > 1e-18 * Math.abs(sum); n++) {
    term *= (2 * x2) / (2 * n + 1);
    sum += term;
  }
  return (2 / Math.sqrt(Math.PI)) * Math.exp(-x2) * sum;
}
function erfcLarge(x: number): number {
  let f = x;
  for (let n = 400; n >= 1; n--) f = x + n / 2 / f;
  return Math.exp(-x * x) / (Math.sqrt(Math.PI) * f);
}
function erfc(x: number): number {
  if (x < 0) return 2 - erfc(-x);
  return x < 2 ? 1 - erfSeries(x) : erfcLarge(x);
}
function normalCdf(z: number): number {
  return z >= 0 ? 1 - 0.5 * erfc(z / Math.SQRT2) : 0.5 * erfc(-z / Math.SQRT2);
}

/** Reference Threefry-2x32-20 as Random123 writes it: round loop, rotation table, key injection. */
function threefryRef(k0: number, k1: number, c0: number, c1: number): [number, number] {
  const rot = [[13, 15, 26, 6], [17, 29, 16, 24]];
  const ks = [k0, k1, (k0 ^ k1 ^ 0x1bd11bda) >>> 0];
  let x0 = (c0 + ks[0]) >>> 0, x1 = (c1 + ks[1]) >>> 0;
  for (let s = 0; s < 5; s++) {
    for (const r of rot[s % 2]) {
      x0 = (x0 + x1) >>> 0;
      x1 = (((x1 << r) | (x1 >>> (32 - r))) ^ x0) >>> 0;
    }
    x0 = (x0 + ks[(s + 1) % 3]) >>> 0;
    x1 = (x1 + ks[(s + 2) % 3] + s + 1) >>> 0;
  }
  return [x0, x1];
}

const ulp32 = (x: number): number => 2 ** (Math.floor(Math.log2(Math.abs(x))) - 23);

// ---- known answers -----------------------------------------------------------------------------

describe('threefry2x32 reproduces Random123 and JAX', () => {
  it('matches the Random123 known-answer vectors (those in JAX random_test)', () => {
    const cases: [number, number, number, number, number, number][] = [
      [0, 0, 0, 0, 0x6b200159, 0x99ba4efe],
      [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0x1cb996fc, 0xbb002be7],
      [0x13198a2e, 0x03707344, 0x243f6a88, 0x85a308d3, 0xc4923a9c, 0x483df7a0],
    ];
    for (const [k0, k1, c0, c1, e0, e1] of cases) {
      const [y0, y1] = threefry2x32(k0, k1, Uint32Array.of(c0), Uint32Array.of(c1));
      expect([y0[0], y1[0]]).toEqual([e0, e1]);
    }
  });

  it('the unrolled kernel equals a direct transcription of the Random123 round loop', () => {
    fc.assert(
      fc.property(uint32, uint32, fc.array(fc.tuple(uint32, uint32), { maxLength: 20 }), (k0, k1, cs) => {
        const [y0, y1] = threefry2x32(k0, k1, Uint32Array.from(cs.map((c) => c[0])), Uint32Array.from(cs.map((c) => c[1])));
        cs.forEach(([c0, c1], i) => expect([y0[i], y1[i]]).toEqual(threefryRef(k0, k1, c0, c1)));
      }),
      FC,
    );
  });

  it("JAX's legacy layout (halved iota counters) rebuilt on threefry2x32 gives JAX's published words", () => {
    // jax 0.4.x: split(PRNGKey(0)) = [[4146024105, 967050713], [2718843009, 1272950319]] and
    // bits(key, (3,)) = [4146024105, 1351547692, 2718843009] (counts padded to [0, 1] | [2, 0]).
    const [a0, a1] = threefry2x32(0, 0, Uint32Array.of(0, 1), Uint32Array.of(2, 3));
    expect([...a0, ...a1]).toEqual([4146024105, 967050713, 2718843009, 1272950319]);
    const [b0, b1] = threefry2x32(0, 0, Uint32Array.of(0, 1), Uint32Array.of(2, 0));
    expect([...b0, ...b1].slice(0, 3)).toEqual([4146024105, 1351547692, 2718843009]);
  });

  it('split, foldIn, randomBits and uniform equal JAX partitionable outputs bitwise', () => {
    const key0 = keyFromSeed(0);
    // jax.random.split(jax.random.key(0), 8) with jax_threefry_partitionable (JAX ≥ 0.5 default).
    expect(Array.from(split(key0, 8))).toEqual([
      1797259609, 2579123966, 928981903, 3453687069, 4146024105, 2718843009, 2467461003, 3840466878,
      2285895361, 433833334, 1524306142, 1887795613, 3792494674, 2909014575, 2716826189, 292468403,
    ]);
    // jax.random.fold_in(key(0), 3): the same in both layouts.
    expect(Array.from(foldIn(key0, 3))).toEqual([2467461003, 3840466878]);
    // jax.random.uniform(key(0), (4,)); the docs' uniform(key(0)) = 0.947667 and, after
    // key, subkey = split(key), uniform(subkey) = 0.00729382.
    expect(Array.from(uniform(key0, 4))).toEqual(
      [0.9476670027, 0.9785798788, 0.3322914839, 0.4686684608].map(Math.fround),
    );
    expect(uniform(split(key0, 2).subarray(2, 4), 1)[0]).toBe(Math.fround(0.007293820381164551));
    expect(randomBits(key0, 1)[0]).toBe((0x6b200159 ^ 0x99ba4efe) >>> 0);
  });

  it("bitsToNormal agrees with JAX's published normals to float32 rounding (JAX's erf_inv is float32)", () => {
    // jax 0.4.x (legacy layout): normal(PRNGKey(0), (4,)), normal(PRNGKey(0), (1,)),
    // normal(split(PRNGKey(0))[1], (1,)); their words come from threefry2x32 directly.
    const [a0, a1] = threefry2x32(0, 0, Uint32Array.of(0, 1), Uint32Array.of(2, 3));
    const [b0] = threefry2x32(0, 0, Uint32Array.of(0), Uint32Array.of(0));
    const [c0] = threefry2x32(2718843009, 1272950319, Uint32Array.of(0), Uint32Array.of(0));
    const got = bitsToNormal(Uint32Array.from([...a0, ...a1, b0[0], c0[0]]));
    const want = [1.8160863, -0.75488514, 0.33988908, -0.53483534, -0.20584226, -1.2515389];
    want.forEach((w, i) => expect(Math.abs(got[i] - w)).toBeLessThanOrEqual(3 * ulp32(w)));
  });
});

describe('keyFromSeed follows jax.random.PRNGKey with 64-bit integers', () => {
  it('puts the high and low words of the int64 seed in the key', () => {
    const cases: [number | bigint, [number, number]][] = [
      [0, [0, 0]],
      [42, [0, 42]],
      [0xffffffff, [0, 0xffffffff]],
      [2 ** 32, [1, 0]],
      [2 ** 32 + 5, [1, 5]],
      [2 ** 53 - 1, [0x1fffff, 0xffffffff]],
      [-1, [0xffffffff, 0xffffffff]],
      [-2, [0xffffffff, 0xfffffffe]],
      [-(2 ** 32), [0xffffffff, 0]],
      [-(2 ** 63), [0x80000000, 0]],
      [(1n << 63n) - 1n, [0x7fffffff, 0xffffffff]],
      [123456789012345678n, [28744523, 2788225870]],
    ];
    for (const [seed, words] of cases) expect(Array.from(keyFromSeed(seed))).toEqual(words);
  });

  it('agrees with BigInt two\u2019s complement for every safe integer', () => {
    fc.assert(
      fc.property(fc.maxSafeInteger(), (s) => {
        const u = BigInt.asUintN(64, BigInt(s));
        expect(Array.from(keyFromSeed(s))).toEqual([Number(u >> 32n), Number(u & 0xffffffffn)]);
      }),
      FC,
    );
  });

  it('rejects non-integers and seeds outside int64 with a clear error', () => {
    for (const bad of [1.5, NaN, Infinity, -Infinity, 2 ** 63, '3' as unknown as number]) {
      expect(() => keyFromSeed(bad)).toThrow(/keyFromSeed: seed must/);
    }
    expect(() => keyFromSeed(1n << 63n)).toThrow(/int64/);
    expect(() => keyFromSeed(-(1n << 63n) - 1n)).toThrow(/int64/);
  });
});

// ---- determinism and batching ------------------------------------------------------------------

describe('keys are values: same key, same numbers; batches are stacks', () => {
  const samplers: [string, (keys: Uint32Array) => ArrayLike<number>, number][] = [
    ['randomBits', (k) => randomBits(k, 7), 7],
    ['split', (k) => split(k, 3), 6],
    ['foldIn', (k) => foldIn(k, 99), 2],
    ['uniform', (k) => uniform(k, 7, -2, 3), 7],
    ['normal', (k) => normal(k, 7), 7],
    ['bernoulli', (k) => bernoulli(k, 7, 0.3), 7],
    ['categorical', (k) => categorical(k, Float32Array.of(0, 1, -1, 2), 4, 7), 7],
    ['permutation', (k) => permutation(k, 7), 7],
  ];

  it('every sampler returns identical output for the same keys', () => {
    fc.assert(
      fc.property(rawKeys, (keys) => {
        for (const [, f] of samplers) expect(Array.from(f(keys))).toEqual(Array.from(f(keys.slice())));
      }),
      FC,
    );
  });

  it('a batched call equals the single-key calls stacked (what vmap needs)', () => {
    fc.assert(
      fc.property(rawKeys, (keys) => {
        for (const [, f, per] of samplers) {
          const batched = Array.from(f(keys));
          const stacked: number[] = [];
          for (let k = 0; k < keys.length / 2; k++) stacked.push(...Array.from(f(keys.subarray(2 * k, 2 * k + 2))));
          expect(batched).toEqual(stacked);
          expect(batched.length).toBe((keys.length / 2) * per);
        }
      }),
      FC,
    );
  });

  it('a shorter draw is a prefix of a longer one (partitionable counters)', () => {
    fc.assert(
      fc.property(rawKey, fc.nat(40), fc.nat(40), (key, a, b) => {
        const [lo, hi] = a < b ? [a, b] : [b, a];
        expect(Array.from(randomBits(key, lo))).toEqual(Array.from(randomBits(key, hi).subarray(0, lo)));
        expect(Array.from(split(key, lo))).toEqual(Array.from(split(key, hi).subarray(0, 2 * lo)));
      }),
      FC,
    );
  });

  it('different keys give different streams', () => {
    fc.assert(
      fc.property(rawKey, rawKey, (a, b) => {
        fc.pre(a[0] !== b[0] || a[1] !== b[1]);
        expect(Array.from(randomBits(a, 4))).not.toEqual(Array.from(randomBits(b, 4)));
      }),
      FC,
    );
  });

  it('bad keys, counts and parameters throw errors that name the operation', () => {
    expect(() => split(new Uint32Array(3))).toThrow(/split: keys must be a Uint32Array of 2·n words/);
    expect(() => randomBits([0, 0] as unknown as Uint32Array, 1)).toThrow(/randomBits: keys/);
    expect(() => normal(keyFromSeed(0), -1)).toThrow(/normal: count must be an integer/);
    expect(() => uniform(keyFromSeed(0), 2, 1, 1)).toThrow(/uniform: need finite float32 bounds/);
    expect(() => bernoulli(keyFromSeed(0), 2, 1.5)).toThrow(/bernoulli: p must lie in \[0, 1\]/);
    expect(() => bernoulli(keyFromSeed(0), 2, Float32Array.of(0.1, 0.2, 0.3))).toThrow(/bernoulli: p must hold/);
    expect(() => categorical(keyFromSeed(0), Float32Array.of(0, 1, 2), 2, 1)).toThrow(/categorical: logits/);
    expect(() => categorical(keyFromSeed(0), Float32Array.of(0, NaN), 2, 1)).toThrow(/NaN/);
    expect(() => foldIn(keyFromSeed(0), 0.5)).toThrow(/foldIn: data must be an integer/);
    expect(() => foldIn(split(keyFromSeed(0), 2), [1, 2, 3])).toThrow(/foldIn: got 2 keys and 3 data/);
    expect(() => threefry2x32(0, 0, new Uint32Array(1), new Uint32Array(2))).toThrow(/equal lengths/);
    expect(() => permutation(keyFromSeed(0), 1.5)).toThrow(/permutation: length/);
  });
});

// ---- split and foldIn --------------------------------------------------------------------------

describe('split and foldIn make independent keys', () => {
  it('split children are all distinct and differ from the parent', () => {
    for (const seed of [0, 1, 12345]) {
      const parent = keyFromSeed(seed);
      const kids = split(parent, 20000);
      const seen = new Set<string>([`${parent[0]},${parent[1]}`]);
      for (let j = 0; j < 20000; j++) seen.add(`${kids[2 * j]},${kids[2 * j + 1]}`);
      expect(seen.size).toBe(20001);
    }
  });

  it('streams from sibling keys, and from parent and child, are uncorrelated (|r| < 4/√N)', () => {
    const N = 100_000;
    const parent = keyFromSeed(7);
    const [a, b] = [split(parent, 2).subarray(0, 2), split(parent, 2).subarray(2, 4)];
    const bound = 4 / Math.sqrt(N);
    expect(Math.abs(corr(normal(a, N), normal(b, N)))).toBeLessThan(bound);
    expect(Math.abs(corr(normal(parent, N), normal(a, N)))).toBeLessThan(bound);
    expect(Math.abs(corr(uniform(a, N), uniform(b, N)))).toBeLessThan(bound);
    // A stream against itself is the failure this test guards against.
    expect(corr(normal(a, N), normal(a, N))).toBeCloseTo(1, 12);
    // Many siblings at once: the per-pair correlations behave like N(0, 1/M) draws.
    const M = 4096, K = 64;
    const rows = uniform(split(parent, K), M);
    let worst = 0, sumSq = 0;
    for (let k = 0; k + 1 < K; k++) {
      const r = corr(rows.subarray(k * M, (k + 1) * M), rows.subarray((k + 1) * M, (k + 2) * M));
      worst = Math.max(worst, Math.abs(r));
      sumSq += r * r * M;
    }
    expect(worst).toBeLessThan(4.5 / Math.sqrt(M));
    expect(sumSq).toBeLessThan(chiCritical(K - 1));
  });

  it('foldIn with different data gives different keys; one key broadcasts over data', () => {
    const key = keyFromSeed(3);
    const data = Uint32Array.from({ length: 10000 }, (_, i) => (i * 2654435761) >>> 0);
    const folded = foldIn(key, data);
    const seen = new Set<string>();
    for (let i = 0; i < data.length; i++) seen.add(`${folded[2 * i]},${folded[2 * i + 1]}`);
    expect(seen.size).toBe(data.length);
    for (let i = 0; i < 5; i++) expect(Array.from(foldIn(key, data[i]))).toEqual(Array.from(folded.subarray(2 * i, 2 * i + 2)));
    fc.assert(
      fc.property(rawKey, uint32, uint32, (k, d1, d2) => {
        fc.pre(d1 !== d2);
        expect(Array.from(foldIn(k, d1))).not.toEqual(Array.from(foldIn(k, d2)));
        expect(Array.from(foldIn(k, d1 | 0))).toEqual(Array.from(foldIn(k, d1))); // int32 wraps to uint32
      }),
      FC,
    );
  });

  it('foldIn pairs n keys with n data values elementwise', () => {
    const keys = split(keyFromSeed(5), 3);
    const out = foldIn(keys, [10, 20, 30]);
    for (let k = 0; k < 3; k++) {
      expect(Array.from(out.subarray(2 * k, 2 * k + 2))).toEqual(Array.from(foldIn(keys.subarray(2 * k, 2 * k + 2), 10 * (k + 1))));
    }
  });
});

// ---- raw bits and uniform ----------------------------------------------------------------------

describe('randomBits and uniform', () => {
  it('every bit position of randomBits is 1 half the time', () => {
    const N = 200_000;
    const bits = randomBits(keyFromSeed(11), N);
    const se = Math.sqrt(0.25 / N);
    for (let b = 0; b < 32; b++) {
      let ones = 0;
      for (let i = 0; i < N; i++) ones += (bits[i] >>> b) & 1;
      expect(Math.abs(ones / N - 0.5)).toBeLessThan(5 * se);
    }
  });

  it('uniform has mean 1/2 and variance 1/12', () => {
    const N = 1_000_000;
    const { m, m2 } = moments(uniform(keyFromSeed(1), N));
    expect(Math.abs(m - 0.5)).toBeLessThan(5 * Math.sqrt(1 / 12 / N));
    expect(Math.abs(m2 - 1 / 12)).toBeLessThan(5 * Math.sqrt(1 / 180 / N));
  });

  it('uniform stays in [0, 1) even for the extreme words, and uses all 23 mantissa bits', () => {
    const u = bitsToUniform(Uint32Array.of(0, 0x1ff, 0x200, 0xffffffff, 0x80000000));
    expect(Array.from(u)).toEqual([0, 0, 2 ** -23, 1 - 2 ** -23, 0.5]);
    const draws = uniform(keyFromSeed(2), 1_000_000);
    let lo = Infinity, hi = -Infinity;
    for (const x of draws) {
      lo = Math.min(lo, x);
      hi = Math.max(hi, x);
    }
    expect(lo).toBeGreaterThanOrEqual(0);
    expect(hi).toBeLessThan(1);
    // The low 8 of the 23 mantissa bits are uniform too: a sampler keeping fewer bits fails here.
    const low = new Float64Array(256);
    for (const x of draws) low[Math.round(x * 2 ** 23) & 255]++;
    expect(chiSquare(low, new Float64Array(256).fill(draws.length / 256))).toBeLessThan(chiCritical(255));
  });

  it('uniform on [lo, hi) never returns hi, even when float32 rounding would reach it', () => {
    const top = Uint32Array.of(0xffffffff, 0xfffffe00, 0);
    for (const [lo, hi] of [[1e8, 1e8 + 16], [-1, 1], [0.5, 0.50000006], [-3, -2], [-1e30, 1e30]]) {
      const u = bitsToUniform(top, lo, hi);
      for (const x of u) {
        expect(x).toBeLessThan(Math.fround(hi));
        expect(x).toBeGreaterThanOrEqual(Math.fround(lo));
      }
    }
    const wide = uniform(keyFromSeed(4), 100_000, -3, 5);
    const { m, m2 } = moments(wide);
    expect(Math.abs(m - 1)).toBeLessThan(5 * Math.sqrt(64 / 12 / 1e5));
    expect(Math.abs(m2 - 64 / 12)).toBeLessThan(5 * Math.sqrt((64 * 64) / 180 / 1e5));
  });

  it('a 100-bin histogram of uniform passes a chi-square test', () => {
    const N = 1_000_000, B = 100;
    const counts = new Float64Array(B);
    for (const x of uniform(keyFromSeed(3), N)) counts[Math.floor(x * B)]++;
    expect(chiSquare(counts, new Float64Array(B).fill(N / B))).toBeLessThan(chiCritical(B - 1));
  });
});

// ---- normal and erfinv -------------------------------------------------------------------------

describe('normal and erfinv', () => {
  it('erfinv inverts erf to ~1e-12 relative across (-1, 1), tails included', () => {
    const check = (u: number): void => {
      const z = erfinv(u);
      // Newton step against the oracle; in the tails compare 1 - |u| with erfc to keep precision.
      const resid = Math.abs(z) < 2 ? erfSeries(z) - u : Math.sign(z) * ((1 - Math.abs(u)) - erfc(Math.abs(z)));
      const dz = resid / ((2 / Math.sqrt(Math.PI)) * Math.exp(-z * z));
      expect(Math.abs(dz)).toBeLessThanOrEqual(1e-12 * Math.abs(z) + 1e-300);
    };
    for (let k = 1; k <= 52; k++) {
      check(1 - 2 ** -k);
      check(-(1 - 2 ** -k));
      check(2 ** -k);
    }
    for (const u of [0.85, 0.849999, 0.850001, 1 - 3 * 2 ** -24, -1 + 2 ** -24, 1e-300, -1e-10, 0.5, -0.3]) check(u);
    fc.assert(fc.property(fc.double({ min: -1, max: 1, noNaN: true, maxExcluded: true, minExcluded: true }), (u) => check(u)), {
      ...FC,
      numRuns: 2000,
    });
  });

  it('erfinv is odd, monotone, and ±Infinity / NaN exactly at and beyond ±1', () => {
    expect(erfinv(0)).toBe(0);
    expect(erfinv(1)).toBe(Infinity);
    expect(erfinv(-1)).toBe(-Infinity);
    for (const bad of [1.0000001, -2, NaN]) expect(erfinv(bad)).toBeNaN();
    fc.assert(
      fc.property(fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true }), (a, b) => {
        expect(erfinv(-a)).toBe(-erfinv(a));
        if (a < b) expect(erfinv(a)).toBeLessThanOrEqual(erfinv(b));
      }),
      FC,
    );
  });

  it('normal never produces ±Infinity or NaN, even for the extreme words', () => {
    const extremes = Uint32Array.of(0, 1, 0x1ff, 0x200, 0x7fffffff, 0x80000000, 0xfffffe00, 0xffffffff);
    for (const z of bitsToNormal(extremes)) {
      expect(Number.isFinite(z)).toBe(true);
      expect(Math.abs(z)).toBeLessThan(5.5);
    }
    expect(bitsToNormal(Uint32Array.of(0))[0]).toBeLessThan(-5.3); // the far tail is reachable
    let nonFinite = 0;
    for (const z of normal(keyFromSeed(9), 1_000_000)) if (!Number.isFinite(z)) nonFinite++;
    expect(nonFinite).toBe(0);
  });

  it('normal has mean 0, variance 1, skewness 0 and kurtosis 3', () => {
    const N = 1_000_000;
    const { m, m2, m3, m4 } = moments(normal(keyFromSeed(21), N));
    expect(Math.abs(m)).toBeLessThan(5 * Math.sqrt(1 / N));
    expect(Math.abs(m2 - 1)).toBeLessThan(5 * Math.sqrt(2 / N));
    expect(Math.abs(m3 / m2 ** 1.5)).toBeLessThan(5 * Math.sqrt(6 / N));
    expect(Math.abs(m4 / (m2 * m2) - 3)).toBeLessThan(5 * Math.sqrt(24 / N));
  });

  it('normal matches the standard normal CDF on 100 equiprobable bins, tails included', () => {
    const N = 1_000_000, B = 100;
    const counts = new Float64Array(B);
    for (const z of normal(keyFromSeed(22), N)) counts[Math.min(B - 1, Math.floor(normalCdf(z) * B))]++;
    expect(chiSquare(counts, new Float64Array(B).fill(N / B))).toBeLessThan(chiCritical(B - 1));
    // P(|Z| > 3) = 0.0026998 checks the tail branch of erfinv on its own.
    let tail = 0;
    for (const z of normal(keyFromSeed(23), N)) if (Math.abs(z) > 3) tail++;
    const p = 2 * normalCdf(-3);
    expect(Math.abs(tail / N - p)).toBeLessThan(5 * Math.sqrt((p * (1 - p)) / N));
  });
});

// ---- discrete samplers -------------------------------------------------------------------------

describe('bernoulli, categorical and permutation', () => {
  it('bernoulli is 1 with frequency p', () => {
    const N = 200_000;
    for (const p of [0.01, 0.1, 0.5, 0.9, 0.999]) {
      const ones = mean(bernoulli(keyFromSeed(Math.round(p * 1000)), N, p));
      expect(Math.abs(ones - p)).toBeLessThan(5 * Math.sqrt((p * (1 - p)) / N));
    }
    expect(Array.from(bernoulli(keyFromSeed(1), 1000, 0)).every((b) => b === 0)).toBe(true);
    expect(Array.from(bernoulli(keyFromSeed(1), 1000, 1)).every((b) => b === 1)).toBe(true);
  });

  it('bernoulli takes one p per key or one per draw', () => {
    const keys = split(keyFromSeed(31), 2);
    const N = 100_000;
    const out = bernoulli(keys, N, [0.2, 0.8]);
    expect(Math.abs(mean(out.subarray(0, N)) - 0.2)).toBeLessThan(5 * Math.sqrt(0.16 / N));
    expect(Math.abs(mean(out.subarray(N)) - 0.8)).toBeLessThan(5 * Math.sqrt(0.16 / N));
    const perDraw = Float64Array.from({ length: 2 * 6 }, (_, i) => i % 2); // p alternates 0, 1
    expect(Array.from(bernoulli(keys, 6, perDraw))).toEqual(Array.from(perDraw));
  });

  it('categorical frequencies match softmax(logits); a -Infinity class never appears', () => {
    const logits = Float32Array.of(0, 1, 2, -1, -Infinity, 0.5);
    const C = logits.length, N = 300_000;
    const draws = categorical(keyFromSeed(41), logits, C, N);
    const counts = new Float64Array(C);
    for (const c of draws) counts[c]++;
    expect(counts[4]).toBe(0);
    let z = 0;
    for (const l of logits) z += Math.exp(l);
    const live = [0, 1, 2, 3, 5];
    const chi = chiSquare(live.map((c) => counts[c]), live.map((c) => (N * Math.exp(logits[c])) / z));
    expect(chi).toBeLessThan(chiCritical(live.length - 1));
  });

  it('categorical uses row k of logits for key k, or row k·count + j for draw j', () => {
    const keys = split(keyFromSeed(42), 2);
    const N = 50_000;
    const rows = Float32Array.of(Math.log(0.7), Math.log(0.2), Math.log(0.1), Math.log(0.1), Math.log(0.1), Math.log(0.8));
    const out = categorical(keys, rows, 3, N);
    const freq = (part: Int32Array, c: number): number => part.filter((x) => x === c).length / part.length;
    expect(Math.abs(freq(out.subarray(0, N), 0) - 0.7)).toBeLessThan(5 * Math.sqrt(0.21 / N));
    expect(Math.abs(freq(out.subarray(N), 2) - 0.8)).toBeLessThan(5 * Math.sqrt(0.16 / N));
    // One-hot rows per draw make every draw deterministic, which pins the row indexing exactly.
    const target = [2, 0, 1, 1, 0, 2];
    const oneHot = new Float32Array(6 * 3).fill(-Infinity);
    target.forEach((c, r) => (oneHot[3 * r + c] = 0));
    expect(Array.from(categorical(keys, oneHot, 3, 3))).toEqual(target);
  });

  it('permutation returns a permutation of 0..n-1 for every key', () => {
    fc.assert(
      fc.property(rawKeys, fc.nat(60), (keys, n) => {
        const out = permutation(keys, n);
        expect(out.length).toBe((keys.length / 2) * n);
        for (let k = 0; k < keys.length / 2; k++) {
          const row = Array.from(out.subarray(k * n, (k + 1) * n)).sort((a, b) => a - b);
          expect(row).toEqual(Array.from({ length: n }, (_, i) => i));
        }
      }),
      FC,
    );
  });

  it('over many keys each position holds each value equally often', () => {
    const n = 7, K = 35_000;
    const perms = permutation(split(keyFromSeed(51), K), n);
    for (let pos = 0; pos < n; pos++) {
      const counts = new Float64Array(n);
      for (let k = 0; k < K; k++) counts[perms[k * n + pos]]++;
      expect(chiSquare(counts, new Float64Array(n).fill(K / n))).toBeLessThan(chiCritical(n - 1));
    }
  });

  it('over many keys all 5! orderings are equally likely', () => {
    const n = 5, K = 60_000;
    const perms = permutation(split(keyFromSeed(52), K), n);
    const counts = new Map<string, number>();
    for (let k = 0; k < K; k++) {
      const id = perms.subarray(k * n, (k + 1) * n).join('');
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    const observed = Array.from({ length: 120 }, (_, i) => [...counts.values()][i] ?? 0);
    expect(counts.size).toBe(120);
    expect(chiSquare(observed, new Float64Array(120).fill(K / 120))).toBeLessThan(chiCritical(119));
  });
});
